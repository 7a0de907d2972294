//! What other programs see on NATS: one message per commit on `<prefix>.<team>.<kind>.<key>`
//! with the commit id as `Nats-Msg-Id` and a JSON body; team subscriptions; damaged
//! messages reported with their position; push-based following.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use switchboard_engine::log::{AppendError, EventLog, ExpectedVersion, LogError};
use switchboard_jetstream::testing::NatsServer;
use switchboard_jetstream::{JetStreamEventLog, JetStreamOptions};

mod common;
use common::{commit, stream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_is_one_message_on_its_streams_subject() {
    let server = NatsServer::start();
    let options = JetStreamOptions { stream: "EVENTS".into(), subject_prefix: "acme".into(), ..Default::default() };
    let log = JetStreamEventLog::connect(&server.url(), options).await.unwrap();
    let alice = stream("ops", "alice");
    assert_eq!(log.subject(&alice), "acme.ops.conversation.alice");
    assert_eq!(log.team_subjects(alice.team_id()), "acme.ops.>");

    let written = commit(2);
    let appended = log.append(&alice, ExpectedVersion::Exact(0), written.clone()).await.unwrap();
    let js_stream = log.jetstream().get_stream("EVENTS").await.unwrap();
    assert_eq!(js_stream.cached_info().state.messages, 1, "a commit is one message");
    assert_eq!(js_stream.cached_info().config.duplicate_window, Duration::from_secs(600));
    let message = js_stream.get_last_raw_message_by_subject("acme.ops.conversation.alice").await.unwrap();
    assert_eq!(appended.position, message.sequence << 16 | 1, "position = sequence << 16 | index");
    let id = message.headers.get(async_nats::header::NATS_MESSAGE_ID).unwrap();
    assert_eq!(id.as_str(), written.commit_id().to_string(), "Nats-Msg-Id is the commit id");
    let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(body["commit_id"], written.commit_id().to_string());
    assert_eq!(body["first_version"], 1);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    for (stored, new) in events.iter().zip(written.events()) {
        assert_eq!(stored["event_id"], new.event_id.to_string());
        assert_eq!(stored["event_type"], new.event_type);
        assert_eq!(stored["schema_version"], new.schema_version);
        assert_eq!(stored["correlation_id"], new.causation.correlation_id.to_string());
        assert_eq!(stored["payload"], new.payload);
        assert!(stored["occurred_at"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_can_be_followed_on_its_own_subjects() {
    let server = NatsServer::start();
    let log = JetStreamEventLog::connect(&server.url(), JetStreamOptions::default()).await.unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut team_a = client.subscribe("sb.team-a.>").await.unwrap();
    client.flush().await.unwrap();

    log.append(&stream("team-b", "bob"), ExpectedVersion::Exact(0), commit(1)).await.unwrap();
    let mine = commit(1);
    log.append(&stream("team-a", "alice"), ExpectedVersion::Exact(0), mine.clone()).await.unwrap();
    let message = tokio::time::timeout(Duration::from_secs(5), team_a.next()).await.unwrap().unwrap();
    assert_eq!(message.subject.as_str(), "sb.team-a.conversation.alice");
    let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(body["commit_id"], mine.commit_id().to_string());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), team_a.next()).await.is_err(),
        "team b's commit is not on team a's subjects"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_message_is_reported_with_its_position_and_spares_other_streams() {
    let server = NatsServer::start();
    let log = JetStreamEventLog::connect(&server.url(), JetStreamOptions::default()).await.unwrap();
    let good = stream("ops", "good");
    log.append(&good, ExpectedVersion::Exact(0), commit(1)).await.unwrap();
    let ack = log.jetstream().publish("sb.ops.conversation.bad", "not a commit".into()).await.unwrap().await.unwrap();

    let bad = stream("ops", "bad");
    match log.read_stream(&bad, 0).await {
        Err(LogError::Corrupt { position, .. }) => assert_eq!(position, ack.sequence << 16),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    match log.read_all(0, 100, None).await {
        Err(LogError::Corrupt { position, .. }) => assert_eq!(position, ack.sequence << 16),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(log.read_stream(&good, 0).await.unwrap().len(), 1, "other streams stay readable");
    let appended = log.append(&good, ExpectedVersion::Exact(1), commit(1)).await.unwrap();
    assert_eq!(appended.version, 2, "appends to other streams keep working");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_an_append_wakes_on_another_process_append() {
    let server = NatsServer::start();
    let reader: Arc<JetStreamEventLog> =
        Arc::new(JetStreamEventLog::connect(&server.url(), JetStreamOptions::default()).await.unwrap());
    let writer = JetStreamEventLog::connect(&server.url(), JetStreamOptions::default()).await.unwrap();
    let alice = stream("ops", "alice");
    writer.append(&alice, ExpectedVersion::Exact(0), commit(1)).await.unwrap();
    let head = reader.head().await.unwrap();

    // The first wait starts the follower; let it settle on the current head.
    reader.wait_for_append(head, Duration::from_millis(300)).await;
    let started = Instant::now();
    let waiting = {
        let reader = Arc::clone(&reader);
        tokio::spawn(async move { reader.wait_for_append(head, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    writer.append(&alice, ExpectedVersion::Exact(1), commit(1)).await.unwrap();
    waiting.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the wait must end when another connection appends, not at its timeout ({:?})",
        started.elapsed()
    );
    let later = reader.read_all(head, 10, None).await.unwrap();
    assert_eq!(later.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wecom_user_ids_with_dots_and_at_signs_keep_their_own_subjects() {
    let server = NatsServer::start();
    let log = JetStreamEventLog::connect(&server.url(), JetStreamOptions::default()).await.unwrap();
    let dotted = stream("ops", "zhang.san@corp");
    let prefix = stream("ops", "zhang");
    assert_eq!(log.subject(&dotted), "sb.ops.conversation.zhang.san@corp");
    log.append(&dotted, ExpectedVersion::Exact(0), commit(1)).await.unwrap();
    log.append(&prefix, ExpectedVersion::Exact(0), commit(2)).await.unwrap();
    // Optimistic concurrency is per subject: the dotted stream's version is its own.
    log.append(&dotted, ExpectedVersion::Exact(1), commit(1)).await.unwrap();
    let conflict = log.append(&prefix, ExpectedVersion::Exact(1), commit(1)).await;
    assert!(matches!(conflict, Err(AppendError::Conflict { .. })), "{conflict:?}");
    let read = log.read_stream(&dotted, 0).await.unwrap();
    assert_eq!(read.len(), 2);
    assert!(read.iter().all(|e| e.stream == dotted), "the key reads back whole");
    let team = log.read_all(0, 100, Some(dotted.team_id())).await.unwrap();
    assert_eq!(team.len(), 4);
}

/// A team's read from any position returns exactly the team's later events and ends at
/// its last message, whatever other teams' messages follow (nats-server 2.9 sometimes
/// counts one message too many as pending for such a read; it must not wait for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_reads_from_any_position_end_at_the_teams_last_message() {
    let server = NatsServer::start();
    let log = JetStreamEventLog::connect(&server.url(), JetStreamOptions::default()).await.unwrap();
    let team = switchboard_schemas::TeamId::new("team-a").unwrap();
    for round in 0..8 {
        log.append(&stream("team-a", &format!("a{round}")), ExpectedVersion::Any, commit(1)).await.unwrap();
        log.append(&stream("team-a", &format!("a{round}")), ExpectedVersion::Any, commit(2)).await.unwrap();
        log.append(&stream("team-b", "bob"), ExpectedVersion::Any, commit(1)).await.unwrap();
    }
    let all = log.read_all(0, 1_000, Some(&team)).await.unwrap();
    assert_eq!(all.len(), 8 * 3);
    assert!(all.iter().all(|e| e.stream.team_id() == &team));
    for (seen, event) in all.iter().enumerate() {
        let rest = log.read_all(event.position, 1_000, Some(&team)).await.unwrap();
        let expected: Vec<u64> = all[seen + 1..].iter().map(|e| e.position).collect();
        assert_eq!(rest.iter().map(|e| e.position).collect::<Vec<_>>(), expected, "read after {}", event.position);
    }
}
