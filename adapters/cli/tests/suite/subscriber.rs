//! The example in-house subscriber (ops/subscriber/follow.py) against a real nats-server:
//! it prints exactly one team's events as published envelopes, in order, and a second run
//! with the same durable consumer continues after what the first acknowledged.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use chrono::Utc;
use switchboard_engine::log::{Commit, EventLog, ExpectedVersion};
use switchboard_jetstream::testing::NatsServer;
use switchboard_jetstream::{JetStreamEventLog, JetStreamOptions};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::{NewEvent, PublishedEvent, StreamId, TeamId, UserId};
use uuid::Uuid;

fn follow(url: &str, team: &str) -> Vec<PublishedEvent> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ops/subscriber/follow.py");
    let home = std::env::var("HOME").unwrap();
    let output = Command::new("python3")
        .arg(script)
        .args(["--url", url, "--team", team, "--durable", "crm-sync", "--idle-exit", "2"])
        .env("PYTHONPATH", format!("{home}/.cache/switchboard/python"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the subscriber failed (nats-py missing? run ops/setup.sh): {stderr}");
    String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

async fn converse(log: &dyn EventLog, team: &TeamId, user: &str, commits: usize) {
    let stream = StreamId::conversation(team, &UserId::new(user).unwrap());
    for n in 0..commits {
        let events = (0..=n % 2)
            .map(|i| NewEvent {
                event_id: Uuid::now_v7(),
                event_type: ["MessageReceived", "FaqMatched"][i],
                schema_version: 1,
                occurred_at: Utc::now(),
                causation: Causation::root(Uuid::now_v7()),
                payload: serde_json::json!({ "text": format!("问题 {n}") }),
            })
            .collect();
        log.append(&stream, ExpectedVersion::Any, Commit::new(Uuid::now_v7(), events).expect("a commit of events"))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_subscriber_follows_one_team_from_a_durable_position() {
    let nats = NatsServer::start();
    // The suite runs this beside CPU-heavy tests on two cores: the test's own reads wait
    // longer than the default before calling the server unavailable.
    let options =
        JetStreamOptions { request_timeout: std::time::Duration::from_secs(20), ..JetStreamOptions::default() };
    let log = JetStreamEventLog::connect(&nats.url(), options).await.unwrap();
    let (ops, games) = (TeamId::new("ops").unwrap(), TeamId::new("games").unwrap());
    converse(&log, &ops, "zhangsan", 3).await;
    converse(&log, &games, "lisi", 2).await;
    converse(&log, &ops, "wangwu", 2).await;

    let published = |events: Vec<switchboard_schemas::RecordedEvent>| -> Vec<PublishedEvent> {
        events.iter().map(PublishedEvent::from).collect()
    };
    let first = follow(&nats.url(), "ops");
    let expected = published(log.read_all(0, 1_000, Some(&ops)).await.unwrap());
    assert_eq!(first, expected, "exactly the team's events, as envelopes, in log order");
    assert!(first.iter().all(|e| e.envelope_version == 1 && e.team == ops));

    converse(&log, &ops, "zhangsan", 2).await;
    converse(&log, &games, "lisi", 1).await;
    let second = follow(&nats.url(), "ops");
    let after = expected.last().unwrap().position;
    let expected_new = published(log.read_all(after, 1_000, Some(&ops)).await.unwrap());
    assert!(!expected_new.is_empty());
    assert_eq!(second, expected_new, "the durable consumer continues after what it acknowledged");
}
