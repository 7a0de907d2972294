//! The contract every [`EventLog`] backend passes, written once.
//!
//! Each check takes a fresh, empty log and panics with a message naming the broken
//! promise. [`event_log_contract!`](crate::event_log_contract) expands them into one test
//! each for a backend:
//!
//! ```ignore
//! switchboard_engine::event_log_contract!(my_backend());
//! // where `async fn my_backend() -> switchboard_engine::contract::TestLog`
//! ```

use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use futures::StreamExt;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Channel, MessageReceived};
use switchboard_schemas::{ConversationEvent, Event, MessageId, NewEvent, StreamId, TeamId, UserId};
use uuid::Uuid;

use crate::log::{subscribe, AppendError, Commit, EventLog, ExpectedVersion};

/// A log under test and whatever must live as long as it (a temporary directory, a server).
pub struct TestLog {
    /// The log.
    pub log: Arc<dyn EventLog>,
    _guard: Box<dyn Any + Send + Sync>,
}

impl TestLog {
    /// Wraps a log with the guard that keeps its resources alive.
    pub fn new(log: Arc<dyn EventLog>, guard: impl Any + Send + Sync) -> Self {
        Self { log, _guard: Box::new(guard) }
    }
}

fn stream(team: &str, user: &str) -> StreamId {
    StreamId::conversation(&TeamId::new(team).expect("team id"), &UserId::new(user).expect("user id"))
}

fn event(text: &str) -> NewEvent {
    let event = Event::from(ConversationEvent::from(MessageReceived {
        session_id: Uuid::now_v7(),
        message_id: MessageId(Uuid::now_v7().to_string()),
        text: text.to_owned(),
        channel: Channel::Api,
    }));
    let at = Utc.with_ymd_and_hms(2026, 11, 28, 9, 15, 30).single().expect("valid time")
        + chrono::Duration::nanoseconds(123_456_789);
    NewEvent::encode(&event, Uuid::now_v7(), at, Causation { correlation_id: Uuid::now_v7(), causation_id: Some(Uuid::now_v7()) })
}

fn commit(texts: &[&str]) -> Commit {
    Commit { commit_id: Uuid::now_v7(), events: texts.iter().map(|t| event(t)).collect() }
}

/// Appending to a new stream and reading it back gives versions 1..n and increasing positions.
pub async fn append_and_read_back(log: Arc<dyn EventLog>) {
    let s = stream("t1", "alice");
    let appended = log.append(&s, ExpectedVersion::Exact(0), commit(&["a", "b"])).await.expect("first append");
    assert_eq!(appended.version, 2, "the version after two events is 2");
    assert!(!appended.duplicate);
    let next = log.append(&s, ExpectedVersion::Exact(2), commit(&["c"])).await.expect("second append");
    assert_eq!(next.version, 3);
    assert!(next.position > appended.position, "positions increase");
    let events = log.read_stream(&s, 0).await.expect("read");
    assert_eq!(events.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(events.windows(2).all(|w| w[0].position < w[1].position), "positions increase within a stream");
    assert_eq!(events[2].position, next.position, "the append reports the last event's position");
    assert!(events.iter().all(|e| e.stream == s && e.team.as_str() == "t1"));
}

/// Reading a stream after a version returns only the later events; unknown streams are empty.
pub async fn read_stream_after_version(log: Arc<dyn EventLog>) {
    let s = stream("t1", "bob");
    log.append(&s, ExpectedVersion::Exact(0), commit(&["a", "b", "c"])).await.expect("append");
    let tail = log.read_stream(&s, 2).await.expect("read");
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].version, 3);
    assert!(log.read_stream(&s, 3).await.expect("read").is_empty());
    assert!(log.read_stream(&stream("t1", "nobody"), 0).await.expect("read").is_empty());
}

/// A wrong expected version is a typed conflict with both versions, and writes nothing.
pub async fn wrong_expected_version_conflicts_and_writes_nothing(log: Arc<dyn EventLog>) {
    let s = stream("t1", "carol");
    log.append(&s, ExpectedVersion::Exact(0), commit(&["a"])).await.expect("append");
    match log.append(&s, ExpectedVersion::Exact(0), commit(&["b"])).await {
        Err(AppendError::Conflict { expected, actual, stream }) => {
            assert_eq!((expected, actual), (0, 1));
            assert_eq!(stream, s);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    match log.append(&s, ExpectedVersion::Exact(5), commit(&["b"])).await {
        Err(AppendError::Conflict { expected: 5, actual: 1, .. }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(log.read_stream(&s, 0).await.expect("read").len(), 1, "a conflict writes nothing");
    assert_eq!(log.head().await.expect("head"), log.read_stream(&s, 0).await.expect("read")[0].position);
}

/// `Any` appends whatever the version.
pub async fn any_version_appends(log: Arc<dyn EventLog>) {
    let s = stream("t1", "dave");
    log.append(&s, ExpectedVersion::Any, commit(&["a"])).await.expect("append to a new stream");
    let appended = log.append(&s, ExpectedVersion::Any, commit(&["b"])).await.expect("append to an existing stream");
    assert_eq!(appended.version, 2);
}

/// A commit without events is refused.
pub async fn empty_commit_is_refused(log: Arc<dyn EventLog>) {
    let s = stream("t1", "erin");
    let empty = Commit { commit_id: Uuid::now_v7(), events: Vec::new() };
    assert!(matches!(log.append(&s, ExpectedVersion::Any, empty).await, Err(AppendError::EmptyCommit)));
    assert_eq!(log.head().await.expect("head"), 0);
}

/// Retrying a commit id returns the first outcome marked duplicate and writes nothing new,
/// even with an expected version that no longer holds.
pub async fn a_retried_commit_is_a_duplicate(log: Arc<dyn EventLog>) {
    let s = stream("t1", "frank");
    let c = commit(&["a", "b"]);
    let first = log.append(&s, ExpectedVersion::Exact(0), c.clone()).await.expect("append");
    let again = log.append(&s, ExpectedVersion::Exact(0), c).await.expect("retry is not an error");
    assert!(again.duplicate, "the retry is reported as a duplicate");
    assert_eq!((again.version, again.position), (first.version, first.position));
    assert_eq!(log.read_stream(&s, 0).await.expect("read").len(), 2, "the retry wrote nothing");
}

/// The whole log reads in global order, after a position, with a limit and a team filter.
pub async fn read_all_in_order_with_after_limit_and_team(log: Arc<dyn EventLog>) {
    let (a, b, c) = (stream("t1", "u1"), stream("t2", "u1"), stream("t1", "u2"));
    log.append(&a, ExpectedVersion::Exact(0), commit(&["1"])).await.expect("append");
    log.append(&b, ExpectedVersion::Exact(0), commit(&["2", "3"])).await.expect("append");
    log.append(&c, ExpectedVersion::Exact(0), commit(&["4"])).await.expect("append");
    log.append(&a, ExpectedVersion::Exact(1), commit(&["5"])).await.expect("append");
    let all = log.read_all(0, 100, None).await.expect("read all");
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position), "global order");
    let texts: Vec<String> = all.iter().map(|e| e.payload["text"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(texts, ["1", "2", "3", "4", "5"], "append order is kept");
    let after = log.read_all(all[1].position, 2, None).await.expect("read after");
    assert_eq!(after.iter().map(|e| e.position).collect::<Vec<_>>(), [all[2].position, all[3].position]);
    let t1 = log.read_all(0, 100, Some(&TeamId::new("t1").expect("team"))).await.expect("read team");
    assert_eq!(t1.len(), 3);
    assert!(t1.iter().all(|e| e.team.as_str() == "t1"), "the team filter keeps other teams out");
    assert!(log.read_all(all[4].position, 100, None).await.expect("read").is_empty());
}

/// The head is the last position, 0 when empty.
pub async fn head_is_the_last_position(log: Arc<dyn EventLog>) {
    assert_eq!(log.head().await.expect("head"), 0);
    let appended = log.append(&stream("t1", "gina"), ExpectedVersion::Exact(0), commit(&["a", "b"])).await.expect("append");
    assert_eq!(log.head().await.expect("head"), appended.position);
}

/// Many writers racing on one stream with exact versions: one winner per version, no gaps,
/// no duplicates, and every loser gets a conflict.
pub async fn concurrent_writers_on_one_stream_get_one_winner_per_version(log: Arc<dyn EventLog>) {
    let s = stream("t1", "hot");
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let (log, s) = (log.clone(), s.clone());
        tasks.push(tokio::spawn(async move {
            let mut won = 0;
            let mut attempts = 0;
            while won < 5 && attempts < 400 {
                attempts += 1;
                let version = log.read_stream(&s, 0).await.expect("read").len() as u64;
                match log.append(&s, ExpectedVersion::Exact(version), commit(&[&format!("w{writer}")])).await {
                    Ok(_) => won += 1,
                    Err(AppendError::Conflict { .. }) => tokio::task::yield_now().await,
                    Err(e) => panic!("unexpected error under contention: {e}"),
                }
            }
            won
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("writer task");
    }
    let events = log.read_stream(&s, 0).await.expect("read");
    assert_eq!(events.len(), total, "every successful append is stored, nothing else");
    assert_eq!(events.iter().map(|e| e.version).collect::<Vec<_>>(), (1..=total as u64).collect::<Vec<_>>());
    let ids: HashSet<_> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), events.len(), "no event stored twice");
    assert_eq!(total, 40, "every writer eventually won its five appends");
}

/// Concurrent appends to different streams all succeed.
pub async fn concurrent_writers_on_many_streams_all_succeed(log: Arc<dyn EventLog>) {
    let mut tasks = Vec::new();
    for writer in 0..16 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let s = stream("t1", &format!("user{writer}"));
            for version in 0..10 {
                log.append(&s, ExpectedVersion::Exact(version), commit(&["x"])).await.expect("no conflict on own stream");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer task");
    }
    let all = log.read_all(0, 1000, None).await.expect("read all");
    assert_eq!(all.len(), 160);
    let positions: HashSet<_> = all.iter().map(|e| e.position).collect();
    assert_eq!(positions.len(), 160, "positions are unique");
}

async fn next_event(
    events: &mut futures::stream::BoxStream<'static, Result<switchboard_schemas::RecordedEvent, crate::log::LogError>>,
) -> switchboard_schemas::RecordedEvent {
    tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("the subscription delivered within 5 s")
        .expect("the subscription is still open")
        .expect("the subscription read the log")
}

/// A subscription catches up from a position and then receives later appends live.
pub async fn subscribe_catches_up_then_follows_live(log: Arc<dyn EventLog>) {
    let s = stream("t1", "ivan");
    let other = stream("t2", "ivan");
    let first = log.append(&s, ExpectedVersion::Exact(0), commit(&["old1"])).await.expect("append");
    log.append(&s, ExpectedVersion::Exact(1), commit(&["old2"])).await.expect("append");
    let mut events = subscribe(log.clone(), first.position, Some(TeamId::new("t1").expect("team")));
    let caught_up = next_event(&mut events).await;
    assert_eq!(caught_up.payload["text"], "old2", "catch-up starts after the given position");
    let writer = log.clone();
    let (s2, other2) = (s.clone(), other.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer.append(&other2, ExpectedVersion::Exact(0), commit(&["other team"])).await.expect("append");
        writer.append(&s2, ExpectedVersion::Exact(2), commit(&["live"])).await.expect("append");
    });
    let live = next_event(&mut events).await;
    assert_eq!(live.payload["text"], "live", "live events arrive, other teams' do not");
}

/// Every envelope field survives storage exactly.
pub async fn envelopes_round_trip_exactly(log: Arc<dyn EventLog>) {
    let s = stream("t1", "judy");
    let c = commit(&["活动开始时间怎么改？ émoji 🎉"]);
    let sent = c.events[0].clone();
    log.append(&s, ExpectedVersion::Exact(0), c.clone()).await.expect("append");
    let stored = log.read_stream(&s, 0).await.expect("read").remove(0);
    assert_eq!(stored.event_id, sent.event_id);
    assert_eq!(stored.commit_id, c.commit_id);
    assert_eq!(stored.event_type, sent.event_type);
    assert_eq!(stored.schema_version, sent.schema_version);
    assert_eq!(stored.occurred_at, sent.occurred_at, "time keeps its nanoseconds");
    assert_eq!(stored.correlation_id, sent.causation.correlation_id);
    assert_eq!(stored.causation_id, sent.causation.causation_id);
    assert_eq!(stored.payload, sent.payload);
    assert!(stored.decode().is_ok(), "the stored event decodes");
}

/// Expands every contract check into a `#[tokio::test]` for one backend. The argument is an
/// expression evaluating to a future of a fresh [`TestLog`].
#[macro_export]
macro_rules! event_log_contract {
    ($factory:expr) => {
        $crate::event_log_contract!(@checks $factory;
            append_and_read_back,
            read_stream_after_version,
            wrong_expected_version_conflicts_and_writes_nothing,
            any_version_appends,
            empty_commit_is_refused,
            a_retried_commit_is_a_duplicate,
            read_all_in_order_with_after_limit_and_team,
            head_is_the_last_position,
            concurrent_writers_on_one_stream_get_one_winner_per_version,
            concurrent_writers_on_many_streams_all_succeed,
            subscribe_catches_up_then_follows_live,
            envelopes_round_trip_exactly
        );
    };
    (@checks $factory:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let test_log: $crate::contract::TestLog = $factory.await;
                $crate::contract::$check(test_log.log.clone()).await;
            }
        )*
    };
}
