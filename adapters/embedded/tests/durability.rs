//! What the embedded store keeps across restarts, and how it reports a damaged row.

#![allow(clippy::unwrap_used)]

use chrono::Utc;
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::log::{Commit, EventLog, ExpectedVersion, LogError};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::ReconfirmSent;
use switchboard_schemas::{ConversationEvent, Event, NewEvent, StreamId, TeamId, UserId};
use uuid::Uuid;

fn stream(user: &str) -> StreamId {
    StreamId::conversation(&TeamId::new("ops").unwrap(), &UserId::new(user).unwrap())
}

fn commit() -> Commit {
    let event = Event::from(ConversationEvent::from(ReconfirmSent { session_id: Uuid::now_v7() }));
    Commit {
        commit_id: Uuid::now_v7(),
        events: vec![NewEvent::encode(&event, Uuid::now_v7(), Utc::now(), Causation::root(Uuid::now_v7()))],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_versions_and_idempotency_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let retried = commit();
    {
        let log = SqliteEventLog::open(&path, SqliteOptions::default()).unwrap();
        log.append(&stream("a"), ExpectedVersion::Exact(0), retried.clone()).await.unwrap();
        log.append(&stream("a"), ExpectedVersion::Exact(1), commit()).await.unwrap();
    }
    let log = SqliteEventLog::open(&path, SqliteOptions::default()).unwrap();
    assert_eq!(log.read_stream(&stream("a"), 0).await.unwrap().len(), 2);
    let head = log.head().await.unwrap();
    let appended = log.append(&stream("a"), ExpectedVersion::Exact(2), commit()).await.unwrap();
    assert_eq!(appended.version, 3, "versions continue after a reopen");
    assert!(appended.position > head, "positions continue after a reopen");
    let again = log.append(&stream("a"), ExpectedVersion::Exact(0), retried).await.unwrap();
    assert!(again.duplicate, "a commit retried after a reopen is still recognised");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_row_is_reported_with_its_position_and_nothing_else_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let log = SqliteEventLog::open(&path, SqliteOptions::default()).unwrap();
    let damaged = log.append(&stream("damaged"), ExpectedVersion::Exact(0), commit()).await.unwrap();
    log.append(&stream("healthy"), ExpectedVersion::Exact(0), commit()).await.unwrap();
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute("UPDATE events SET payload = '{not json' WHERE position = ?1", [damaged.position as i64]).unwrap();
    }
    match log.read_stream(&stream("damaged"), 0).await {
        Err(LogError::Corrupt { position, detail }) => {
            assert_eq!(position, damaged.position);
            assert!(detail.contains("payload"), "{detail}");
        }
        other => panic!("expected a corrupt-row error, got {other:?}"),
    }
    assert!(matches!(log.read_all(0, 10, None).await, Err(LogError::Corrupt { .. })));
    assert_eq!(log.read_stream(&stream("healthy"), 0).await.unwrap().len(), 1, "other streams still read");
    let appended = log.append(&stream("healthy"), ExpectedVersion::Exact(1), commit()).await.unwrap();
    assert_eq!(appended.version, 2, "appends still work");
    let raw = rusqlite::Connection::open(&path).unwrap();
    let count: i64 = raw.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 3, "the damaged row is neither skipped nor removed");
}

#[tokio::test]
async fn a_file_from_a_newer_release_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    drop(SqliteEventLog::open(&path, SqliteOptions::default()).unwrap());
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let err = SqliteEventLog::open(&path, SqliteOptions::default()).err().unwrap();
    assert!(err.to_string().contains("Upgrade Switchboard"), "{err}");
}
