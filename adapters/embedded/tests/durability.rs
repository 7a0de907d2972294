//! What the embedded log promises beyond the contract: the file survives reopening, damage
//! is reported precisely without stopping anything else, and files it cannot own are
//! refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use switchboard_embedded::{EmbeddedError, SqliteEventLog, SqliteOptions, Synchronous, SCHEMA_VERSION};
use switchboard_engine::log::{AppendError, Appended, Commit, EventLog, ExpectedVersion, LogError};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Channel, MessageReceived};
use switchboard_schemas::{ConversationEvent, Event, MessageId, NewEvent, StreamId, TeamId, UserId};
use tempfile::TempDir;
use uuid::Uuid;

fn stream(team: &str, user: &str) -> StreamId {
    StreamId::conversation(&TeamId::new(team).expect("team id"), &UserId::new(user).expect("user id"))
}

fn commit(count: usize) -> Commit {
    let events = (0..count)
        .map(|index| {
            let event = Event::from(ConversationEvent::from(MessageReceived {
                session_id: Uuid::now_v7(),
                message_id: MessageId(Uuid::now_v7().to_string()),
                text: format!("message {index}"),
                channel: Channel::Api,
            }));
            NewEvent::encode(&event, Uuid::now_v7(), Utc::now(), Causation::root(Uuid::now_v7()))
        })
        .collect();
    Commit::new(Uuid::now_v7(), events).expect("a commit of events")
}

struct Fixture {
    _dir: TempDir,
    path: PathBuf,
}

fn fixture() -> Fixture {
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join("events.sqlite");
    Fixture { _dir: dir, path }
}

fn open(path: &Path) -> SqliteEventLog {
    SqliteEventLog::open(path, SqliteOptions::default()).expect("the log opens")
}

async fn append(log: &SqliteEventLog, stream: &StreamId, expected: u64, count: usize) -> Appended {
    log.append(stream, ExpectedVersion::Exact(expected), commit(count)).await.expect("the append succeeds")
}

/// Writes to the file behind the log's back, as a damaged disk or a careless operator would.
fn tamper(path: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).expect("the file opens with plain SQLite");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    let changed = conn.execute(sql, []).expect("the tampering statement runs");
    assert_eq!(changed, 1, "the tampering statement changes one row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_reopening_and_positions_and_versions_continue() {
    let f = fixture();
    let (alice, bob) = (stream("t1", "alice"), stream("t2", "bob"));
    let before = {
        let log = open(&f.path);
        append(&log, &alice, 0, 3).await;
        append(&log, &bob, 0, 2).await;
        log.read_all(0, 100, None).await.expect("read")
    };

    let log = open(&f.path);
    assert_eq!(log.read_all(0, 100, None).await.expect("read"), before, "the reopened log is unchanged");
    assert_eq!(log.head().await.expect("head"), 5);
    let appended = append(&log, &alice, 3, 1).await;
    assert_eq!((appended.version, appended.position), (4, 6), "versions and positions continue");
    let refused = log.append(&bob, ExpectedVersion::Exact(0), commit(1)).await;
    assert!(
        matches!(refused, Err(AppendError::Conflict { expected: 0, actual: 2, .. })),
        "stream versions survive reopening: {refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_are_gap_free_from_one() {
    let f = fixture();
    let log = Arc::new(open(&f.path));
    let mut tasks = Vec::new();
    for writer in 0..16 {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let s = stream("t1", &format!("user{writer}"));
            for version in 0..10 {
                log.append(&s, ExpectedVersion::Exact(version), commit(1)).await.expect("append");
            }
            // A conflict and a duplicate in the same batches must not leave holes.
            let _ = log.append(&s, ExpectedVersion::Exact(0), commit(1)).await;
        }));
    }
    for task in tasks {
        task.await.expect("writer task");
    }
    let positions: Vec<u64> = log.read_all(0, 1000, None).await.expect("read").iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=160).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_commit_is_still_a_duplicate_after_reopening() {
    let f = fixture();
    let s = stream("t1", "alice");
    let retried = commit(2);
    let first = {
        let log = open(&f.path);
        log.append(&s, ExpectedVersion::Exact(0), retried.clone()).await.expect("append")
    };
    let log = open(&f.path);
    let again = log.append(&s, ExpectedVersion::Exact(0), retried).await.expect("a retry is not an error");
    assert_eq!(again, Appended { duplicate: true, ..first });
    assert_eq!(log.read_stream(&s, 0).await.expect("read").len(), 2, "the retry wrote nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_payload_is_reported_with_its_position_and_nothing_else_stops() {
    let f = fixture();
    let (alice, bob) = (stream("t1", "alice"), stream("t1", "bob"));
    {
        let log = open(&f.path);
        append(&log, &alice, 0, 2).await; // positions 1, 2
        append(&log, &bob, 0, 2).await; // positions 3, 4
        append(&log, &alice, 2, 1).await; // position 5
    }
    tamper(&f.path, "UPDATE events SET payload = '{\"text\": ' WHERE position = 2");

    let log = open(&f.path);
    for outcome in [
        log.read_stream(&alice, 0).await,
        log.read_all(0, 100, None).await,
        log.read_all(1, 100, Some(&TeamId::new("t1").expect("team"))).await,
    ] {
        match outcome {
            Err(LogError::Corrupt { position, detail }) => {
                assert_eq!(position, 2, "the damaged row is named");
                assert!(detail.contains("payload"), "the detail says what is wrong: {detail}");
            }
            other => panic!("expected the damaged row to be reported, got {other:?}"),
        }
    }
    assert_eq!(log.read_stream(&alice, 2).await.expect("past the damage").len(), 1);
    assert_eq!(log.read_stream(&bob, 0).await.expect("another stream").len(), 2);
    assert_eq!(log.read_all(2, 100, None).await.expect("after the damage").len(), 3);
    assert_eq!(log.head().await.expect("head"), 5);
    let appended = append(&log, &alice, 3, 1).await;
    assert_eq!((appended.version, appended.position), (4, 6), "appends keep working");
    append(&log, &bob, 2, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_stream_id_is_reported_and_leaves_a_visible_gap() {
    let f = fixture();
    let (alice, bob) = (stream("t1", "alice"), stream("t2", "bob"));
    let log = open(&f.path);
    append(&log, &alice, 0, 3).await; // positions 1..=3
    append(&log, &bob, 0, 1).await; // position 4
                                    // Damage while the log is open: WAL lets another connection write.
    tamper(&f.path, "UPDATE events SET stream = 'not a stream id' WHERE position = 2");

    match log.read_all(0, 100, None).await {
        Err(LogError::Corrupt { position: 2, detail }) => assert!(detail.contains("stream"), "{detail}"),
        other => panic!("expected the damaged row to be reported, got {other:?}"),
    }
    match log.read_stream(&alice, 0).await {
        Err(LogError::Corrupt { position: 3, detail }) => assert!(detail.contains("version 2"), "{detail}"),
        other => panic!("a stream missing a version must be reported, got {other:?}"),
    }
    assert_eq!(log.read_stream(&bob, 0).await.expect("another stream").len(), 1);
    let appended = append(&log, &alice, 3, 1).await;
    assert_eq!(appended.version, 4, "the stream's version is kept apart from its rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_followers_wake_as_soon_as_an_append_commits() {
    let f = fixture();
    let log = Arc::new(open(&f.path));
    let s = stream("t1", "alice");
    let head = log.head().await.expect("head");
    let writer = {
        let (log, s) = (Arc::clone(&log), s.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            log.append(&s, ExpectedVersion::Exact(0), commit(1)).await.expect("append");
        })
    };
    let started = Instant::now();
    log.wait_for_append(head, Duration::from_secs(30)).await;
    assert!(started.elapsed() < Duration::from_secs(5), "waited {:?}", started.elapsed());
    writer.await.expect("writer task");
    assert_eq!(log.read_all(head, 10, None).await.expect("read").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_logs_on_one_file_share_versions_and_positions() {
    let f = fixture();
    let (first, second) = (open(&f.path), open(&f.path));
    let s = stream("t1", "alice");
    append(&first, &s, 0, 2).await;
    let refused = second.append(&s, ExpectedVersion::Exact(0), commit(1)).await;
    assert!(matches!(refused, Err(AppendError::Conflict { actual: 2, .. })), "{refused:?}");
    let appended = append(&second, &s, 2, 1).await;
    assert_eq!((appended.version, appended.position), (3, 3));
    assert_eq!(first.read_stream(&s, 0).await.expect("read").len(), 3, "each sees the other's appends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_is_in_wal_mode_and_records_its_schema_version() {
    let f = fixture();
    let options = SqliteOptions { synchronous: Synchronous::Normal, busy_timeout_ms: 1_000 };
    let log = SqliteEventLog::open(&f.path, options).expect("open");
    append(&log, &stream("t1", "alice"), 0, 1).await;
    let conn = rusqlite::Connection::open(&f.path).expect("plain open");
    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0)).expect("journal mode");
    let version: i32 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).expect("user version");
    assert_eq!(mode, "wal");
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn a_file_from_a_newer_release_is_refused() {
    let f = fixture();
    drop(open(&f.path));
    let conn = rusqlite::Connection::open(&f.path).expect("plain open");
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).expect("bump the version");
    drop(conn);
    match SqliteEventLog::open(&f.path, SqliteOptions::default()) {
        Err(error @ EmbeddedError::NewerSchema { .. }) => {
            assert!(error.to_string().contains("newer release"), "the error says what to do: {error}");
        }
        other => panic!("expected a newer-schema error, got {other:?}"),
    }
}

#[test]
fn another_sqlite_database_is_refused() {
    let f = fixture();
    let conn = rusqlite::Connection::open(&f.path).expect("plain open");
    conn.execute_batch("CREATE TABLE notes (body TEXT)").expect("a foreign table");
    drop(conn);
    let outcome = SqliteEventLog::open(&f.path, SqliteOptions::default());
    assert!(matches!(outcome, Err(EmbeddedError::NotAnEventLog { .. })), "{outcome:?}");
}

#[test]
fn a_missing_directory_is_reported_with_advice() {
    let f = fixture();
    let path = f.path.with_file_name("missing").join("events.sqlite");
    match SqliteEventLog::open(&path, SqliteOptions::default()) {
        Err(error @ EmbeddedError::Open { .. }) => {
            assert!(error.to_string().contains("directory exists"), "{error}");
        }
        other => panic!("expected an open error, got {other:?}"),
    }
}
