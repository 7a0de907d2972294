//! `switchboard migrate` between real backends: an embedded log copied onto a real
//! nats-server and back, commits split across read batches, every stream compared event by
//! event (versions, ids, commit ids, times, payloads), a rerun that finds everything
//! already there, and a target holding other events refused.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::log::{Commit, EventLog, ExpectedVersion};
use switchboard_jetstream::testing::NatsServer;
use switchboard_jetstream::{JetStreamEventLog, JetStreamOptions};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::{NewEvent, RecordedEvent, StreamId, TeamId, UserId};
use uuid::Uuid;

fn migrate(from: &str, to: &str, batch: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["--data-dir", dir.path().to_str().unwrap(), "migrate", "--from", from, "--to", to, "--batch", batch])
        .env("SWITCHBOARD_STORE__JETSTREAM__REQUEST_TIMEOUT", "5s")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Streams of two teams; commits of one to three events; times with nanoseconds.
async fn fill(log: &dyn EventLog) -> Vec<StreamId> {
    let mut streams = Vec::new();
    for team in ["ops", "games"] {
        let team = TeamId::new(team).unwrap();
        streams.push(StreamId::team(&team));
        for user in 0..6 {
            streams.push(StreamId::conversation(&team, &UserId::new(format!("u{user}")).unwrap()));
        }
    }
    let mut n = 0i64;
    for round in 0..12u64 {
        for (s, stream) in streams.iter().enumerate() {
            let size = 1 + (round as usize + s) % 3;
            let events = (0..size)
                .map(|i| {
                    n += 1;
                    NewEvent {
                        event_id: Uuid::now_v7(),
                        event_type: ["MessageReceived", "FaqMatched", "AnswerQueued"][i],
                        schema_version: 1,
                        occurred_at: Utc.timestamp_opt(1_780_000_000 + n, 123_456_789).unwrap(),
                        causation: Causation { correlation_id: Uuid::now_v7(), causation_id: Some(Uuid::now_v7()) },
                        payload: serde_json::json!({ "n": n, "text": "奖品库存 \u{1F381}" }),
                    }
                })
                .collect();
            log.append(stream, ExpectedVersion::Any, Commit::new(Uuid::now_v7(), events).expect("a commit of events"))
                .await
                .unwrap();
        }
    }
    streams
}

fn without_positions(events: Vec<RecordedEvent>) -> Vec<RecordedEvent> {
    events.into_iter().map(|e| RecordedEvent { position: 0, ..e }).collect()
}

async fn same_streams(a: &dyn EventLog, b: &dyn EventLog, streams: &[StreamId]) -> usize {
    let mut events = 0;
    for stream in streams {
        let (left, right) = (a.read_stream(stream, 0).await.unwrap(), b.read_stream(stream, 0).await.unwrap());
        assert!(!left.is_empty());
        assert_eq!(without_positions(left.clone()), without_positions(right), "{stream}");
        events += left.len();
    }
    events
}

fn embedded(dir: &Path) -> Arc<dyn EventLog> {
    Arc::new(SqliteEventLog::open(&dir.join("events.sqlite"), SqliteOptions::default()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_goes_from_embedded_to_jetstream_and_back_unchanged() {
    let source_dir = tempfile::tempdir().unwrap();
    let source = embedded(source_dir.path());
    let streams = fill(source.as_ref()).await;
    drop(source);
    let nats = NatsServer::start();
    let from = format!("embedded:{}", source_dir.path().display());

    // A batch of 7 events cuts commits of up to three events in the middle.
    let out = migrate(&from, &nats.url(), "7");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("verified: 14 streams"), "{}", text(&out));

    let source = embedded(source_dir.path());
    let jetstream = JetStreamEventLog::connect(&nats.url(), JetStreamOptions::default()).await.unwrap();
    let events = same_streams(source.as_ref(), &jetstream, &streams).await;
    assert_eq!(events, source.read_all(0, 100_000, None).await.unwrap().len());
    let ops = TeamId::new("ops").unwrap();
    let ops_events = jetstream.read_all(0, 100_000, Some(&ops)).await.unwrap();
    assert!(ops_events.iter().all(|e| e.team == ops) && !ops_events.is_empty(), "teams stay apart on the copy");
    let positions: Vec<u64> = jetstream.read_all(0, 100_000, None).await.unwrap().iter().map(|e| e.position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "the copy is in log order");
    drop(source);

    // Run again: everything is already there, nothing is written twice.
    let head = jetstream.head().await.unwrap();
    let again = migrate(&from, &nats.url(), "1000");
    assert!(again.status.success(), "{}", text(&again));
    let commits = text(&again).split("copied ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
    assert!(text(&again).contains(&format!("({commits} were already there)")), "{}", text(&again));
    assert_eq!(jetstream.head().await.unwrap(), head);

    // And back into a new embedded log.
    let back_dir = tempfile::tempdir().unwrap();
    let out = migrate(&nats.url(), &format!("embedded:{}", back_dir.path().display()), "500");
    assert!(out.status.success(), "{}", text(&out));
    let source = embedded(source_dir.path());
    let back = embedded(back_dir.path());
    assert_eq!(same_streams(source.as_ref(), back.as_ref(), &streams).await, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_holding_other_events_is_refused_with_the_stream_named() {
    let source_dir = tempfile::tempdir().unwrap();
    fill(embedded(source_dir.path()).as_ref()).await;
    let target_dir = tempfile::tempdir().unwrap();
    let target = embedded(target_dir.path());
    let stream = StreamId::team(&TeamId::new("ops").unwrap());
    let stray = NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "TeamCreated",
        schema_version: 1,
        occurred_at: Utc::now(),
        causation: Causation::root(Uuid::now_v7()),
        payload: serde_json::json!({ "name": "Other" }),
    };
    target
        .append(&stream, ExpectedVersion::Any, Commit::new(Uuid::now_v7(), vec![stray]).expect("a commit of events"))
        .await
        .unwrap();
    drop(target);
    let out = migrate(
        &format!("embedded:{}", source_dir.path().display()),
        &format!("embedded:{}", target_dir.path().display()),
        "100",
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("ops.team") && text(&out).contains("migrate into an empty log"), "{}", text(&out));
    let out = migrate("ftp://nowhere", "embedded:/tmp", "1");
    assert!(!out.status.success() && text(&out).contains("names no event log"), "{}", text(&out));
}
