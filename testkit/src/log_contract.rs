//! The contract every [`EventLog`] backend honours, written once and run against each of
//! them (embedded SQLite today; NATS JetStream and EventStoreDB later).
//!
//! Each `check_*` function takes a fresh, empty log and panics with a message naming the
//! broken promise. [`event_log_contract!`](crate::event_log_contract) turns the whole set
//! into one test per check, so a backend's test file is a few lines:
//!
//! ```ignore
//! async fn fresh_log() -> std::sync::Arc<dyn switchboard_engine::log::EventLog> {
//!     // open a new, empty log (a temporary file, a uniquely named stream, …)
//! }
//!
//! switchboard_engine::event_log_contract!(fresh_log());
//! ```
//!
//! When the log needs something kept alive for as long as the test runs (a temporary
//! directory, a server), the factory returns a [`TestLog`] holding both instead.
//!
//! The crate that expands the macro needs `tokio` with the `macros` and `rt-multi-thread`
//! features (usually as a dev-dependency).
//!
//! The checks only rely on what every backend promises: positions increase (they need not
//! be gap-free), versions are 1-based and gap-free per stream, and events round-trip
//! exactly. Test events are real Switchboard events encoded with [`NewEvent::encode`],
//! plus a synthetic probe that exercises the edges of the envelope.

use std::any::Any;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Channel, FaqAdded, MessageReceived, SessionOpened, TeamCreated};
use switchboard_schemas::{
    ConversationEvent, Event, FaqEvent, FaqId, MessageId, NewEvent, RecordedEvent, StreamId, TeamEvent, TeamId, UserId,
};
use tokio::sync::{mpsc, Barrier};
use uuid::Uuid;

use switchboard_engine::follow::{follow, stop_signal, Failure, FollowOptions, Follower, Stop};
use switchboard_engine::log::{AppendError, Appended, Commit, EventLog, ExpectedVersion};

/// How long one check may run before it is declared hung.
pub const CHECK_DEADLINE: Duration = Duration::from_secs(120);

/// How long a follower may take to deliver an event that exists.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a follower is watched to make sure it delivers nothing more.
const QUIET_PERIOD: Duration = Duration::from_millis(300);

/// A log under test and whatever must live as long as it (a temporary directory, a
/// server). Dropped when its test ends, the log first.
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

impl From<Arc<dyn EventLog>> for TestLog {
    /// A log that needs nothing kept alive beside it.
    fn from(log: Arc<dyn EventLog>) -> Self {
        Self::new(log, ())
    }
}

/// Expands to one `#[tokio::test]` per contract check, each on a fresh log.
///
/// The argument is an expression evaluated once per test that yields a future resolving
/// to a fresh, empty log: either an `Arc<dyn EventLog>` or a
/// [`TestLog`](crate::log_contract::TestLog) — typically the call of an `async fn`. Each test
/// runs on a two-worker multi-threaded runtime and fails if its check does not finish
/// within [`CHECK_DEADLINE`](crate::log_contract::CHECK_DEADLINE).
///
/// ```ignore
/// switchboard_engine::event_log_contract!(fresh_log());
/// ```
#[macro_export]
macro_rules! event_log_contract {
    (@tests $factory:expr; $($test:ident => $check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let test_log: $crate::log_contract::TestLog = ::core::convert::From::from($factory.await);
                $crate::log_contract::within_deadline(
                    ::core::stringify!($test),
                    $crate::log_contract::$check(::std::sync::Arc::clone(&test_log.log)),
                )
                .await;
            }
        )*
    };
    ($factory:expr $(,)?) => {
        $crate::event_log_contract!(@tests $factory;
            append_to_a_new_stream_and_read_it_back => check_append_and_read_back,
            read_stream_after_a_version => check_read_stream_after_version,
            wrong_expected_version_conflicts_and_writes_nothing => check_conflict_on_wrong_version,
            expected_version_any_appends_whatever_the_version => check_expected_any,
            oversized_commit_is_refused_whole => check_oversized_commit_refused,
            retried_commit_is_a_duplicate => check_retried_commit_is_duplicate,
            read_all_follows_global_order => check_read_all_in_global_order,
            head_is_the_last_position => check_head,
            teams_are_isolated => check_teams_are_isolated,
            concurrent_appends_to_one_stream_have_one_winner_per_version =>
                check_concurrent_appends_to_one_stream,
            concurrent_writers_with_retries_leave_no_gaps =>
                check_concurrent_writers_with_retries,
            concurrent_appends_to_many_streams_all_succeed =>
                check_concurrent_appends_to_many_streams,
            mixed_outcomes_under_concurrency_do_not_interfere =>
                check_mixed_outcomes_under_concurrency,
            following_catches_up_then_goes_live => check_following_catches_up_then_goes_live,
            following_one_team => check_following_one_team,
            events_round_trip_exactly => check_events_round_trip_exactly,
        );
    };
}

/// Runs one check, failing it if it does not finish within [`CHECK_DEADLINE`], so a hung
/// backend fails the test instead of blocking the suite.
pub async fn within_deadline(name: &str, check: impl Future<Output = ()>) {
    if tokio::time::timeout(CHECK_DEADLINE, check).await.is_err() {
        panic!("contract check {name} did not finish within {CHECK_DEADLINE:?}: the backend hangs");
    }
}

// ---------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------

/// Appending to a new stream with `Exact(0)` yields versions `1..=n` with increasing
/// positions; a second commit continues the stream.
pub async fn check_append_and_read_back(log: Arc<dyn EventLog>) {
    let team = team("contract-a");
    let stream = conversation(&team, "alice");
    assert_eq!(head_of(&*log).await, 0, "a fresh log must have head 0");
    assert!(stream_events(&*log, &stream, 0).await.is_empty(), "a stream that was never written must read as empty");

    let first = commit_of(messages(3, "first"));
    let appended = append_ok(&*log, &stream, ExpectedVersion::Exact(0), first.clone()).await;
    assert_eq!(appended.version, 3, "three events on a new stream end at version 3");
    assert!(!appended.duplicate, "a first append is not a duplicate");

    let read = stream_events(&*log, &stream, 0).await;
    assert_eq!(read.len(), 3, "read_stream must return the three appended events");
    for (index, (recorded, new)) in read.iter().zip(first.events()).enumerate() {
        assert_recorded(recorded, new, &stream, index as u64 + 1, first.commit_id(), "first commit");
    }
    assert_increasing(&read, "read_stream");
    assert!(read[0].position >= 1, "positions are 1-based");
    assert_eq!(
        appended.position, read[2].position,
        "Appended.position must be the position of the commit's last event"
    );

    let second = commit_of(messages(2, "second"));
    let appended2 = append_ok(&*log, &stream, ExpectedVersion::Exact(3), second.clone()).await;
    assert_eq!(appended2.version, 5, "a second commit continues the stream's versions");
    assert!(appended2.position > appended.position, "a later commit has a later position");

    let read = stream_events(&*log, &stream, 0).await;
    assert_eq!(read.len(), 5, "both commits must be read back");
    assert_eq!(versions(&read), (1..=5).collect::<Vec<_>>(), "versions must be 1..=5");
    assert_increasing(&read, "read_stream after two commits");
    for (recorded, new) in read[3..].iter().zip(second.events()) {
        assert_recorded(recorded, new, &stream, recorded.version, second.commit_id(), "second commit");
    }
    assert_eq!(appended2.position, read[4].position, "Appended.position of the second commit");
    assert_eq!(head_of(&*log).await, appended2.position, "head must be the last position");
}

/// `read_stream` returns exactly the events after the given version.
pub async fn check_read_stream_after_version(log: Arc<dyn EventLog>) {
    let team = team("contract-a");
    let stream = conversation(&team, "alice");
    append_ok(&*log, &stream, ExpectedVersion::Exact(0), commit_of(messages(2, "a"))).await;
    append_ok(&*log, &stream, ExpectedVersion::Exact(2), commit_of(messages(3, "b"))).await;
    let all = stream_events(&*log, &stream, 0).await;

    for after in 0..=5u64 {
        let read = stream_events(&*log, &stream, after).await;
        assert_eq!(
            versions(&read),
            (after + 1..=5).collect::<Vec<_>>(),
            "read_stream(after_version = {after}) must return exactly the later versions"
        );
        assert_eq!(read[..], all[after as usize..], "read_stream(after_version = {after}) content");
    }
    for after in [6, 100, u64::MAX] {
        assert!(
            stream_events(&*log, &stream, after).await.is_empty(),
            "read_stream after version {after}, past the end, must be empty"
        );
    }
    let other = conversation(&team, "nobody");
    assert!(stream_events(&*log, &other, 0).await.is_empty(), "another stream of the same team must read as empty");
}

/// `Exact(wrong)` is refused with a conflict naming the stream, the expected and the actual
/// version, and writes nothing; the refused commit id stays usable.
pub async fn check_conflict_on_wrong_version(log: Arc<dyn EventLog>) {
    let team = team("contract-a");
    let stream = conversation(&team, "alice");

    let early = commit_of(messages(1, "too early"));
    let outcome = log.append(&stream, ExpectedVersion::Exact(1), early).await;
    assert_conflict(outcome, &stream, 1, 0, "Exact(1) on a new stream");
    assert!(stream_events(&*log, &stream, 0).await.is_empty(), "a refused append writes nothing");
    assert_eq!(head_of(&*log).await, 0, "a refused append does not move the head");

    append_ok(&*log, &stream, ExpectedVersion::Exact(0), commit_of(messages(2, "base"))).await;
    let before = log_events(&*log).await;
    let head_before = head_of(&*log).await;

    let refused = commit_of(messages(1, "stale"));
    for wrong in [0, 1, 3, 17] {
        let outcome = log.append(&stream, ExpectedVersion::Exact(wrong), refused.clone()).await;
        assert_conflict(outcome, &stream, wrong, 2, &format!("Exact({wrong}) on a stream at version 2"));
    }
    assert_eq!(log_events(&*log).await, before, "refused appends must write nothing");
    assert_eq!(head_of(&*log).await, head_before, "refused appends must not move the head");

    let appended = append_ok(&*log, &stream, ExpectedVersion::Exact(2), refused.clone()).await;
    assert!(!appended.duplicate, "a commit id that was only ever refused must not count as appended");
    assert_eq!(appended.version, 3, "the retried commit lands at version 3");
    let read = stream_events(&*log, &stream, 2).await;
    assert_eq!(read.len(), 1, "exactly the retried event is added");
    assert_recorded(&read[0], &refused.events()[0], &stream, 3, refused.commit_id(), "retried commit");
}

/// `ExpectedVersion::Any` appends on new and existing streams and continues the versions.
pub async fn check_expected_any(log: Arc<dyn EventLog>) {
    let team = team("contract-a");
    let stream = conversation(&team, "alice");
    let first = append_ok(&*log, &stream, ExpectedVersion::Any, commit_of(messages(2, "a"))).await;
    assert_eq!(first.version, 2, "Any on a new stream starts at version 1");
    let second = append_ok(&*log, &stream, ExpectedVersion::Any, commit_of(messages(1, "b"))).await;
    assert_eq!(second.version, 3, "Any on an existing stream continues it");
    let third = append_ok(&*log, &stream, ExpectedVersion::Exact(3), commit_of(messages(1, "c"))).await;
    assert_eq!(third.version, 4, "Exact after Any sees the version Any produced");

    let read = stream_events(&*log, &stream, 0).await;
    assert_eq!(versions(&read), vec![1, 2, 3, 4], "versions after Any appends");
    assert_increasing(&read, "read_stream after Any appends");
}

/// A commit larger than [`EventLog::max_commit_bytes`] is refused with `TooLarge` and
/// writes nothing, not even a part of it; the same events in two commits are stored, and so
/// is a commit of exactly the largest size ([`Commit::bytes`] bounds what the backend
/// stores, so the backend itself never refuses what `append` let through).
pub async fn check_oversized_commit_refused(log: Arc<dyn EventLog>) {
    let team = team("contract-a");
    let stream = conversation(&team, "alice");
    let max = log.max_commit_bytes();
    assert!(max >= 64 * 1024, "a log must take commits of at least 64 KiB, not {max}");
    let text = "x".repeat(16 * 1024);
    let count = max / text.len() + 2;
    let events: Vec<NewEvent> = (0..count).map(|_| message(&text)).collect();
    let outcome = log.append(&stream, ExpectedVersion::Exact(0), commit_of(events.clone())).await;
    match outcome {
        Err(AppendError::TooLarge { bytes, max: reported }) => {
            assert_eq!(reported, max, "TooLarge reports the log's own limit");
            assert!(bytes > max, "{bytes} bytes reported for a commit over {max}");
        }
        other => panic!("a commit of {count} events of 16 KiB must be refused with TooLarge, got {other:?}"),
    }
    assert_eq!(head_of(&*log).await, 0, "a refused commit writes nothing");
    let (first, second) = events.split_at(count / 2);
    append_ok(&*log, &stream, ExpectedVersion::Exact(0), commit_of(first.to_vec())).await;
    let appended =
        append_ok(&*log, &stream, ExpectedVersion::Exact(first.len() as u64), commit_of(second.to_vec())).await;
    assert_eq!(appended.version, count as u64, "halves within the limit are stored");

    let largest = commit_of_exactly(max);
    assert_eq!(largest.bytes(), max, "the largest commit measures the limit");
    let other = conversation(&team, "bob");
    append_ok(&*log, &other, ExpectedVersion::Exact(0), largest).await;
}

/// A commit of messages measuring exactly `bytes` ([`Commit::bytes`]).
fn commit_of_exactly(bytes: usize) -> Commit {
    let measure = |events: Vec<NewEvent>| commit_of(events).bytes();
    let text = "x".repeat(16 * 1024);
    let base = measure(vec![message("")]);
    let per_message = measure(vec![message(""), message(&text)]) - base;
    let full = (bytes - base) / per_message;
    // An "x" more in the first message's text is a byte more in the measure.
    let missing = bytes - base - full * per_message;
    let mut events = vec![message(&"x".repeat(missing))];
    events.extend((0..full).map(|_| message(&text)));
    commit_of(events)
}

/// Retrying a commit id returns the earlier outcome with `duplicate = true`, whatever the
/// expected version of the retry, and writes nothing new.
pub async fn check_retried_commit_is_duplicate(log: Arc<dyn EventLog>) {
    let team = team("contract-a");
    let stream = conversation(&team, "alice");
    let first = commit_of(messages(2, "first"));
    let second = commit_of(messages(1, "second"));
    let a1 = append_ok(&*log, &stream, ExpectedVersion::Exact(0), first.clone()).await;
    let a2 = append_ok(&*log, &stream, ExpectedVersion::Exact(2), second.clone()).await;
    let before = log_events(&*log).await;
    let head_before = head_of(&*log).await;

    let retries = [
        (first.clone(), ExpectedVersion::Exact(0), a1, "the first commit with its stale version"),
        (first.clone(), ExpectedVersion::Any, a1, "the first commit with Any"),
        (first.clone(), ExpectedVersion::Exact(3), a1, "the first commit with the current version"),
        (second.clone(), ExpectedVersion::Exact(2), a2, "the second commit"),
        (second.clone(), ExpectedVersion::Exact(3), a2, "the second commit with the current version"),
    ];
    for (commit, expected, earlier, what) in retries {
        let retried = append_ok(&*log, &stream, expected, commit).await;
        assert_eq!(
            retried,
            Appended { version: earlier.version, position: earlier.position, duplicate: true },
            "retrying {what} must return the earlier outcome marked duplicate"
        );
    }
    assert_eq!(log_events(&*log).await, before, "retried commits must write nothing new");
    assert_eq!(head_of(&*log).await, head_before, "retried commits must not move the head");

    let next = append_ok(&*log, &stream, ExpectedVersion::Exact(3), commit_of(messages(1, "c"))).await;
    assert_eq!(next.version, 4, "the stream continues after retried commits");
}

/// `read_all` returns every stream's events in global order, honouring `after`, `limit`
/// and the team filter.
pub async fn check_read_all_in_global_order(log: Arc<dyn EventLog>) {
    let a = team("contract-a");
    let b = team("contract-b");
    let plan = [
        (conversation(&a, "alice"), 2),
        (conversation(&b, "carol"), 1),
        (StreamId::faq(&a), 1),
        (conversation(&a, "bob"), 3),
        (conversation(&b, "carol"), 2),
        (conversation(&a, "alice"), 1),
        (StreamId::team(&b), 1),
        (conversation(&a, "bob"), 1),
    ];
    let mut expected: Vec<(StreamId, u64, Uuid)> = Vec::new();
    let mut stream_versions: BTreeMap<StreamId, u64> = BTreeMap::new();
    for (index, (stream, count)) in plan.iter().enumerate() {
        let version = stream_versions.entry(stream.clone()).or_insert(0);
        let commit = commit_of(messages(*count, &format!("step {index}")));
        let appended = append_ok(&*log, stream, ExpectedVersion::Exact(*version), commit.clone()).await;
        for (offset, event) in commit.events().iter().enumerate() {
            expected.push((stream.clone(), *version + offset as u64 + 1, event.event_id));
        }
        *version = appended.version;
    }

    let all = all_events(&*log, 0, 1000, None).await;
    let got: Vec<_> = all.iter().map(|e| (e.stream.clone(), e.version, e.event_id)).collect();
    assert_eq!(got, expected, "read_all must return every event, in append order");
    assert_increasing(&all, "read_all");
    for event in &all {
        assert_eq!(&event.team, event.stream.team_id(), "an event's team is its stream's team");
    }
    let last = all.last().map(|e| e.position).expect("events were appended");
    assert_eq!(head_of(&*log).await, last, "head must be the last event's position");

    for k in 0..all.len() {
        let rest = all_events(&*log, all[k].position, 1000, None).await;
        assert_eq!(rest[..], all[k + 1..], "read_all(after = position of event #{k})");
    }
    assert!(all_events(&*log, last, 10, None).await.is_empty(), "read_all after the head is empty");
    assert!(all_events(&*log, 0, 0, None).await.is_empty(), "read_all with limit 0 is empty");
    assert_eq!(all_events(&*log, 0, 3, None).await[..], all[..3], "read_all with limit 3");
    assert_eq!(all_events(&*log, all[2].position, 4, None).await[..], all[3..7], "read_all with after and limit");
    assert_eq!(paged(&*log, 2, None).await, all, "paging through read_all two at a time");

    for team in [&a, &b] {
        let own: Vec<_> = all.iter().filter(|e| &e.team == team).cloned().collect();
        let filtered = all_events(&*log, 0, 1000, Some(team)).await;
        assert_eq!(filtered, own, "read_all filtered to team {team}");
        assert_eq!(paged(&*log, 2, Some(team)).await, own, "paging through team {team}");
        for after in all.iter().map(|e| e.position) {
            let later: Vec<_> = own.iter().filter(|e| e.position > after).cloned().collect();
            let filtered = all_events(&*log, after, 1000, Some(team)).await;
            assert_eq!(filtered, later, "read_all for team {team} after position {after}");
            let limited = all_events(&*log, after, 2, Some(team)).await;
            assert_eq!(
                limited[..],
                later[..later.len().min(2)],
                "read_all for team {team} after position {after} with limit 2"
            );
        }
    }
    let nobody = team("contract-nobody");
    assert!(all_events(&*log, 0, 1000, Some(&nobody)).await.is_empty(), "a team without events reads as empty");
}

/// `head` is 0 on an empty log and the last event's position after every append, and does
/// not move on refused or duplicate appends.
pub async fn check_head(log: Arc<dyn EventLog>) {
    let a = team("contract-a");
    let b = team("contract-b");
    assert_eq!(head_of(&*log).await, 0, "an empty log has head 0");
    let streams = [conversation(&a, "alice"), conversation(&b, "bob"), StreamId::faq(&a)];
    let mut last_commit = None;
    for round in 0..3u64 {
        for stream in &streams {
            let commit = commit_of(messages(2, "head"));
            let appended = append_ok(&*log, stream, ExpectedVersion::Exact(round * 2), commit.clone()).await;
            assert_eq!(head_of(&*log).await, appended.position, "head after an append to {stream}");
            last_commit = Some((stream.clone(), commit, appended));
        }
    }
    let (stream, commit, appended) = last_commit.expect("commits were appended");
    let outcome = log.append(&stream, ExpectedVersion::Exact(0), commit_of(messages(1, "x"))).await;
    assert!(matches!(outcome, Err(AppendError::Conflict { .. })), "expected a conflict, got {outcome:?}");
    assert_eq!(head_of(&*log).await, appended.position, "a conflict does not move the head");
    let retried = append_ok(&*log, &stream, ExpectedVersion::Any, commit).await;
    assert!(retried.duplicate, "the retry must be a duplicate");
    assert_eq!(head_of(&*log).await, appended.position, "a duplicate does not move the head");
    let all = all_events(&*log, 0, 1000, None).await;
    assert_eq!(all.len(), 18, "every appended event is in the log");
    assert_eq!(all.last().map(|e| e.position), Some(appended.position), "head is read_all's last");
}

/// Streams of different teams are independent, even with the same aggregate and key.
pub async fn check_teams_are_isolated(log: Arc<dyn EventLog>) {
    let a = team("contract-a");
    let b = team("contract-b");
    let pairs = [
        (StreamId::faq(&a), StreamId::faq(&b)),
        (StreamId::team(&a), StreamId::team(&b)),
        (conversation(&a, "same-user"), conversation(&b, "same-user")),
    ];
    for (stream_a, stream_b) in &pairs {
        append_ok(&*log, stream_a, ExpectedVersion::Exact(0), commit_of(messages(2, "a"))).await;
        let appended = append_ok(&*log, stream_b, ExpectedVersion::Exact(0), commit_of(messages(1, "b"))).await;
        assert_eq!(appended.version, 1, "{stream_b} must not share versions with {stream_a}");
    }
    for (stream_a, stream_b) in &pairs {
        let read_a = stream_events(&*log, stream_a, 0).await;
        let read_b = stream_events(&*log, stream_b, 0).await;
        assert_eq!(versions(&read_a), vec![1, 2], "{stream_a} holds only its own events");
        assert_eq!(versions(&read_b), vec![1], "{stream_b} holds only its own events");
        assert!(read_a.iter().all(|e| e.team == a && &e.stream == stream_a), "{stream_a} events");
        assert!(read_b.iter().all(|e| e.team == b && &e.stream == stream_b), "{stream_b} events");
        let outcome = log.append(stream_b, ExpectedVersion::Exact(2), commit_of(messages(1, "x"))).await;
        assert_conflict(outcome, stream_b, 2, 1, "Exact(2) on the other team's stream");
    }
    let only_a = all_events(&*log, 0, 1000, Some(&a)).await;
    let only_b = all_events(&*log, 0, 1000, Some(&b)).await;
    assert_eq!(only_a.len(), 6, "team a's events");
    assert_eq!(only_b.len(), 3, "team b's events");
    assert!(only_a.iter().all(|e| e.team == a && e.stream.team_id() == &a), "team a filter leaks");
    assert!(only_b.iter().all(|e| e.team == b && e.stream.team_id() == &b), "team b filter leaks");
}

/// Many tasks appending to one stream with the same `Exact` version: exactly one wins each
/// version, the others see a conflict at the winner's version; no gaps, no duplicates.
pub async fn check_concurrent_appends_to_one_stream(log: Arc<dyn EventLog>) {
    const CONTENDERS: usize = 8;
    const ROUNDS: u64 = 12;
    let team = team("contract-a");
    let stream = conversation(&team, "contended");
    let mut winners: Vec<(Uuid, Appended)> = Vec::new();

    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(CONTENDERS));
        let mut tasks = Vec::new();
        for contender in 0..CONTENDERS {
            let (log, stream, barrier) = (Arc::clone(&log), stream.clone(), Arc::clone(&barrier));
            let commit = commit_of(messages(1, &format!("round {round} contender {contender}")));
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let commit_id = commit.commit_id();
                (commit_id, log.append(&stream, ExpectedVersion::Exact(round), commit).await)
            }));
        }
        let mut round_winners = Vec::new();
        for task in tasks {
            let (commit_id, outcome) = task.await.expect("an appending task panicked");
            match outcome {
                Ok(appended) => {
                    assert_eq!(appended.version, round + 1, "the winner of round {round}");
                    assert!(!appended.duplicate, "a fresh commit is not a duplicate");
                    round_winners.push((commit_id, appended));
                }
                Err(AppendError::Conflict { stream: s, expected, actual }) => {
                    assert_eq!(s, stream, "a conflict names the stream");
                    assert_eq!(expected, round, "a conflict names the expected version");
                    assert_eq!(actual, round + 1, "a loser of round {round} sees the winner's version");
                }
                Err(other) => panic!("round {round}: unexpected append failure: {other}"),
            }
        }
        assert_eq!(round_winners.len(), 1, "exactly one append may win version {}", round + 1);
        winners.extend(round_winners);
    }

    let read = stream_events(&*log, &stream, 0).await;
    assert_eq!(versions(&read), (1..=ROUNDS).collect::<Vec<_>>(), "no gaps, no duplicates");
    assert_increasing(&read, "the contended stream");
    for (event, (commit_id, appended)) in read.iter().zip(&winners) {
        assert_eq!(event.commit_id, *commit_id, "version {} holds its winner's event", event.version);
        assert_eq!(event.position, appended.position, "the winner's position is where it landed");
    }
    assert_eq!(all_events(&*log, 0, 1000, None).await.len(), ROUNDS as usize, "losers wrote nothing");
}

/// Writers that reload and retry on conflict all get their events in, without gaps or
/// duplicates.
pub async fn check_concurrent_writers_with_retries(log: Arc<dyn EventLog>) {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 12;
    let team = team("contract-a");
    let stream = conversation(&team, "busy");
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (log, stream, barrier) = (Arc::clone(&log), stream.clone(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut expected = 0;
            let mut done = Vec::new();
            while done.len() < PER_WRITER {
                let commit = commit_of(messages(1, &format!("writer {writer}")));
                match log.append(&stream, ExpectedVersion::Exact(expected), commit.clone()).await {
                    Ok(appended) => {
                        assert!(!appended.duplicate, "a fresh commit is not a duplicate");
                        expected = appended.version;
                        done.push((commit.commit_id(), appended));
                    }
                    Err(AppendError::Conflict { actual, .. }) => {
                        assert!(actual > expected, "a conflict reports a newer version");
                        expected = actual;
                    }
                    Err(other) => panic!("writer {writer}: unexpected append failure: {other}"),
                }
            }
            done
        }));
    }
    let mut appended: BTreeMap<Uuid, Appended> = BTreeMap::new();
    for task in tasks {
        for (commit_id, outcome) in task.await.expect("a writer task panicked") {
            assert!(appended.insert(commit_id, outcome).is_none(), "a commit id was reported twice");
        }
    }

    let total = (WRITERS * PER_WRITER) as u64;
    let read = stream_events(&*log, &stream, 0).await;
    assert_eq!(versions(&read), (1..=total).collect::<Vec<_>>(), "no gaps, no duplicates");
    assert_increasing(&read, "the busy stream");
    let mut seen = HashSet::new();
    for event in &read {
        assert!(seen.insert(event.commit_id), "commit {} appears twice", event.commit_id);
        let outcome = appended.get(&event.commit_id).expect("every stored commit was acknowledged");
        assert_eq!(outcome.version, event.version, "a commit is stored at its acknowledged version");
        assert_eq!(outcome.position, event.position, "a commit is stored at its acknowledged position");
    }
    assert_eq!(seen.len(), appended.len(), "every acknowledged commit is stored");
}

/// Many tasks appending to their own streams at once all succeed, and the log holds every
/// event once, in increasing positions.
pub async fn check_concurrent_appends_to_many_streams(log: Arc<dyn EventLog>) {
    const STREAMS: usize = 24;
    const COMMITS: u64 = 10;
    let teams = [team("contract-a"), team("contract-b"), team("contract-c")];
    let barrier = Arc::new(Barrier::new(STREAMS));
    let mut tasks = Vec::new();
    for index in 0..STREAMS {
        let stream = conversation(&teams[index % teams.len()], &format!("user-{index}"));
        let (log, barrier) = (Arc::clone(&log), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut version = 0;
            let mut acknowledged = Vec::new();
            for round in 0..COMMITS {
                let count = 1 + (round as usize + index) % 2;
                let commit = commit_of(messages(count, &format!("{stream} round {round}")));
                let appended = match log.append(&stream, ExpectedVersion::Exact(version), commit.clone()).await {
                    Ok(appended) => appended,
                    Err(e) => panic!("append {round} to {stream} failed: {e}"),
                };
                assert_eq!(appended.version, version + count as u64, "{stream} round {round}");
                version = appended.version;
                acknowledged.push((commit, appended));
            }
            (stream, acknowledged)
        }));
    }
    let mut expected_total = 0;
    let mut results = Vec::new();
    for task in tasks {
        let (stream, acknowledged) = task.await.expect("an appending task panicked");
        expected_total += acknowledged.iter().map(|(c, _)| c.events().len()).sum::<usize>();
        results.push((stream, acknowledged));
    }

    let all = all_events(&*log, 0, 10_000, None).await;
    assert_eq!(all.len(), expected_total, "read_all holds every appended event once");
    assert_increasing(&all, "read_all after concurrent appends");
    let by_event: BTreeMap<Uuid, &RecordedEvent> = all.iter().map(|e| (e.event_id, e)).collect();
    assert_eq!(by_event.len(), all.len(), "no event is stored twice");
    for (stream, acknowledged) in &results {
        let read = stream_events(&*log, stream, 0).await;
        let last = acknowledged.last().map_or(0, |(_, a)| a.version);
        assert_eq!(versions(&read), (1..=last).collect::<Vec<_>>(), "{stream} has no gaps");
        for (commit, appended) in acknowledged {
            let last_event = commit.events().last().expect("commits are not empty");
            let stored = by_event.get(&last_event.event_id).expect("acknowledged events are stored");
            assert_eq!(stored.position, appended.position, "{stream}: acknowledged position");
            assert_eq!(stored.version, appended.version, "{stream}: acknowledged version");
            assert_eq!(stored.commit_id, commit.commit_id(), "{stream}: commit id");
        }
    }
}

/// Successes, conflicts, duplicates and empty commits submitted at the same moment each
/// get their own answer; none affects another.
pub async fn check_mixed_outcomes_under_concurrency(log: Arc<dyn EventLog>) {
    let team = team("contract-a");
    let existing = conversation(&team, "existing");
    let untouched = conversation(&team, "untouched");
    let base = commit_of(messages(2, "base"));
    let base_outcome = append_ok(&*log, &existing, ExpectedVersion::Exact(0), base.clone()).await;

    #[derive(Debug, Clone, Copy)]
    enum Want {
        Ok(u64),
        Duplicate,
        ConflictWithin(u64, u64),
    }
    let mut requests: Vec<(StreamId, ExpectedVersion, Commit, Want)> = vec![
        (existing.clone(), ExpectedVersion::Exact(0), base.clone(), Want::Duplicate),
        (existing.clone(), ExpectedVersion::Exact(2), commit_of(messages(1, "next")), Want::Ok(3)),
        (existing.clone(), ExpectedVersion::Exact(7), commit_of(messages(1, "bad")), Want::ConflictWithin(2, 3)),
        (untouched.clone(), ExpectedVersion::Exact(5), commit_of(messages(1, "bad")), Want::ConflictWithin(0, 0)),
    ];
    for index in 0..8 {
        let stream = conversation(&team, &format!("fresh-{index}"));
        let count = 1 + index % 3;
        requests.push((stream, ExpectedVersion::Exact(0), commit_of(messages(count, "fresh")), Want::Ok(count as u64)));
    }

    let barrier = Arc::new(Barrier::new(requests.len()));
    let mut tasks = Vec::new();
    for (stream, expected, commit, want) in requests {
        let (log, barrier) = (Arc::clone(&log), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            (stream.clone(), want, log.append(&stream, expected, commit).await)
        }));
    }
    for task in tasks {
        let (stream, want, outcome) = task.await.expect("an appending task panicked");
        match (want, outcome) {
            (Want::Ok(version), Ok(appended)) => {
                assert_eq!(appended.version, version, "{stream}: version of a valid append");
                assert!(!appended.duplicate, "{stream}: a fresh commit is not a duplicate");
            }
            (Want::Duplicate, Ok(appended)) => assert_eq!(
                appended,
                Appended { duplicate: true, ..base_outcome },
                "{stream}: a retried commit returns its earlier outcome"
            ),
            (Want::ConflictWithin(low, high), Err(AppendError::Conflict { actual, .. })) => {
                assert!(
                    (low..=high).contains(&actual),
                    "{stream}: conflict reports version {actual}, expected {low}..={high}"
                )
            }
            (want, outcome) => panic!("{stream}: wanted {want:?}, got {outcome:?}"),
        }
    }

    assert_eq!(versions(&stream_events(&*log, &existing, 0).await), vec![1, 2, 3], "{existing}");
    assert!(stream_events(&*log, &untouched, 0).await.is_empty(), "a conflict wrote to {untouched}");
    let all = all_events(&*log, 0, 1000, None).await;
    let fresh: usize = (0..8).map(|index| 1 + index % 3).sum();
    assert_eq!(all.len(), 3 + fresh, "exactly the valid appends were written");
    assert_increasing(&all, "read_all after mixed appends");
}

/// A follower catches up from a position, then is handed events appended later.
pub async fn check_following_catches_up_then_goes_live(log: Arc<dyn EventLog>) {
    let a = team("contract-a");
    let b = team("contract-b");
    let alice = conversation(&a, "alice");
    let bob = conversation(&b, "bob");
    append_ok(&*log, &alice, ExpectedVersion::Exact(0), commit_of(messages(3, "a1"))).await;
    append_ok(&*log, &bob, ExpectedVersion::Exact(0), commit_of(messages(2, "b1"))).await;
    append_ok(&*log, &alice, ExpectedVersion::Exact(3), commit_of(messages(2, "a2"))).await;
    let existing = all_events(&*log, 0, 1000, None).await;

    let mut from_start = following(Arc::clone(&log), 0, None);
    for expected in &existing {
        let got = next_event(&mut from_start, "catching up from 0").await;
        assert_eq!(&got, expected, "catch-up from 0 delivers the log in order");
    }

    let from = existing[1].position;
    let mut follower = following(Arc::clone(&log), from, None);
    for expected in &existing[2..] {
        let got = next_event(&mut follower, "catching up from a position").await;
        assert_eq!(&got, expected, "catch-up delivers exactly the events after {from}, in order");
    }
    assert_quiet(&mut follower, "after catching up").await;

    let writer = {
        let (log, alice, bob) = (Arc::clone(&log), alice.clone(), bob.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            append_ok(&*log, &bob, ExpectedVersion::Exact(2), commit_of(messages(2, "b2"))).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            append_ok(&*log, &alice, ExpectedVersion::Exact(5), commit_of(messages(1, "a3"))).await;
        })
    };
    let mut live = Vec::new();
    for _ in 0..3 {
        live.push(next_event(&mut follower, "following live appends").await);
    }
    writer.await.expect("the writer task panicked");
    let last_existing = existing.last().map_or(0, |e| e.position);
    let appended_later = all_events(&*log, last_existing, 1000, None).await;
    assert_eq!(live, appended_later, "live delivery must match the log, in order");
    assert_quiet(&mut follower, "after the live appends").await;
    for expected in &appended_later {
        let got = next_event(&mut from_start, "the first follower following live appends").await;
        assert_eq!(&got, expected, "every follower follows the same log");
    }
}

/// A follower of one team is handed only that team's events, catching up and
/// live, even while other teams keep appending.
pub async fn check_following_one_team(log: Arc<dyn EventLog>) {
    let a = team("contract-a");
    let b = team("contract-b");
    let alice = conversation(&a, "alice");
    let bob = conversation(&b, "bob");
    append_ok(&*log, &alice, ExpectedVersion::Exact(0), commit_of(messages(2, "a1"))).await;
    append_ok(&*log, &bob, ExpectedVersion::Exact(0), commit_of(messages(3, "b1"))).await;
    append_ok(&*log, &alice, ExpectedVersion::Exact(2), commit_of(messages(1, "a2"))).await;
    append_ok(&*log, &bob, ExpectedVersion::Exact(3), commit_of(messages(1, "b2"))).await;

    let mut follower = following(Arc::clone(&log), 0, Some(a.clone()));
    let existing = all_events(&*log, 0, 1000, Some(&a)).await;
    for expected in &existing {
        let got = next_event(&mut follower, "catching up team a").await;
        assert_eq!(&got, expected, "a filtered catch-up delivers the team's events in order");
    }
    assert_quiet(&mut follower, "team a, after catching up").await;

    let writer = {
        let (log, alice, bob) = (Arc::clone(&log), alice.clone(), bob.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            append_ok(&*log, &bob, ExpectedVersion::Exact(4), commit_of(messages(2, "b3"))).await;
            append_ok(&*log, &alice, ExpectedVersion::Exact(3), commit_of(messages(1, "a3"))).await;
            append_ok(&*log, &bob, ExpectedVersion::Exact(6), commit_of(messages(1, "b4"))).await;
        })
    };
    let got = next_event(&mut follower, "following team a live").await;
    writer.await.expect("the writer task panicked");
    assert_eq!(got.stream, alice, "a filtered follower delivers only its team's streams");
    assert_eq!(got.version, 4, "the live event is alice's fourth");
    assert_quiet(&mut follower, "team a, while team b appends").await;
}

/// Every envelope field round-trips exactly: payload, type, schema version, occurred_at to
/// the nanosecond, correlation and causation ids, event and commit ids; real events decode
/// back to what was encoded.
pub async fn check_events_round_trip_exactly(log: Arc<dyn EventLog>) {
    let team = team("contract-a");
    let user = UserId::new("zhang_san").expect("a valid user id");
    let conversation_stream = StreamId::conversation(&team, &user);
    let faq_stream = StreamId::faq(&team);
    let team_stream = StreamId::team(&team);
    let correlation = Uuid::now_v7();
    let session_id = Uuid::now_v7();

    let opened =
        Event::from(ConversationEvent::from(SessionOpened { session_id, user: user.clone(), channel: Channel::Wecom }));
    let received = Event::from(ConversationEvent::from(MessageReceived {
        session_id,
        message_id: MessageId("wx-1234567890".to_owned()),
        text: "活动 42 的奖励没有到账 👀 — \"quoted\", back\\slash,\nnew line\ttab \u{0} nul".to_owned(),
        channel: Channel::Wecom,
    }));
    let faq = Event::from(FaqEvent::from(FaqAdded {
        faq_id: FaqId::new("reward-missing").expect("a valid FAQ id"),
        question: "奖励没有到账怎么办？".to_owned(),
        answer: "请等待 24 小时；仍未到账请提供活动 ID。".to_owned(),
        category: Some("rewards".to_owned()),
        paraphrases: vec!["reward not received".to_owned(), String::new()],
    }));
    let created = Event::from(TeamEvent::from(TeamCreated { name: "Ops 中国".to_owned(), cloned_from: None }));

    let at = |secs: i64, nanos: u32| -> DateTime<Utc> {
        Utc.timestamp_opt(secs, nanos).single().expect("a valid timestamp")
    };
    let root = Causation::root(correlation);
    let caused = |by: Uuid| Causation { correlation_id: correlation, causation_id: Some(by) };
    let opened_new = NewEvent::encode(&opened, Uuid::now_v7(), at(1_700_000_000, 123_456_789), root);
    let received_new =
        NewEvent::encode(&received, Uuid::now_v7(), at(1_700_000_000, 123_456_790), caused(opened_new.event_id));
    let probe = NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "ContractProbe",
        schema_version: u16::MAX,
        occurred_at: at(1_000_000_000, 1),
        causation: Causation { correlation_id: Uuid::now_v7(), causation_id: Some(Uuid::now_v7()) },
        payload: json!({
            "integers": [0, 1, -1, i64::MIN, i64::MAX, u64::MAX],
            "floats": [0.1, -2.5, 1.5e10, 0.000_125],
            "nested": { "null": null, "true": true, "false": false, "empty": {}, "list": [] },
            "text": "é ü 汉字 🎉 \u{0} \u{1f} \"'\\/",
            "": "empty key",
        }),
    };
    let faq_new = NewEvent::encode(&faq, Uuid::now_v7(), at(1_600_000_000, 0), caused(Uuid::now_v7()));
    let created_new = NewEvent::encode(&created, Uuid::now_v7(), Utc::now(), Causation::root(Uuid::now_v7()));

    let conversation_commit = commit_of(vec![opened_new, received_new, probe]);
    let faq_commit = commit_of(vec![faq_new]);
    let team_commit = commit_of(vec![created_new]);
    append_ok(&*log, &conversation_stream, ExpectedVersion::Exact(0), conversation_commit.clone()).await;
    append_ok(&*log, &faq_stream, ExpectedVersion::Exact(0), faq_commit.clone()).await;
    append_ok(&*log, &team_stream, ExpectedVersion::Any, team_commit.clone()).await;

    let written = [
        (&conversation_stream, &conversation_commit, 0, Some(&opened)),
        (&conversation_stream, &conversation_commit, 1, Some(&received)),
        (&conversation_stream, &conversation_commit, 2, None),
        (&faq_stream, &faq_commit, 0, Some(&faq)),
        (&team_stream, &team_commit, 0, Some(&created)),
    ];
    let all = all_events(&*log, 0, 1000, None).await;
    assert_eq!(all.len(), written.len(), "read_all returns every written event");
    for (recorded, (stream, commit, index, typed)) in all.iter().zip(written) {
        let new = &commit.events()[index];
        let expected = expected_record(recorded.position, stream, index as u64 + 1, commit.commit_id(), new);
        assert_eq!(recorded, &expected, "read_all must return event {} exactly as written", new.event_id);
        if let Some(typed) = typed {
            let decoded = recorded.decode().unwrap_or_else(|e| panic!("a stored real event must decode: {e}"));
            assert_eq!(&decoded, typed, "a stored real event decodes back to what was encoded");
        }
        let from_stream = stream_events(&*log, stream, index as u64).await;
        assert_eq!(from_stream.first(), Some(&expected), "read_stream must return the same event");
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn team(name: &str) -> TeamId {
    TeamId::new(name).unwrap_or_else(|e| panic!("test team id {name:?} is invalid: {e}"))
}

fn conversation(team: &TeamId, user: &str) -> StreamId {
    let user = UserId::new(user).unwrap_or_else(|e| panic!("test user id {user:?} is invalid: {e}"));
    StreamId::conversation(team, &user)
}

/// A real `MessageReceived` event with fresh ids.
fn message(text: &str) -> NewEvent {
    let event = Event::from(ConversationEvent::from(MessageReceived {
        session_id: Uuid::now_v7(),
        message_id: MessageId(Uuid::now_v7().to_string()),
        text: text.to_owned(),
        channel: Channel::Api,
    }));
    NewEvent::encode(&event, Uuid::now_v7(), Utc::now(), Causation::root(Uuid::now_v7()))
}

fn messages(count: usize, label: &str) -> Vec<NewEvent> {
    (0..count).map(|index| message(&format!("{label} #{index}"))).collect()
}

fn commit_of(events: Vec<NewEvent>) -> Commit {
    Commit::new(Uuid::now_v7(), events).expect("a contract commit has events")
}

fn expected_record(position: u64, stream: &StreamId, version: u64, commit_id: Uuid, new: &NewEvent) -> RecordedEvent {
    RecordedEvent {
        position,
        stream: stream.clone(),
        version,
        team: stream.team_id().clone(),
        event_id: new.event_id,
        commit_id,
        event_type: new.event_type.to_owned(),
        schema_version: new.schema_version,
        occurred_at: new.occurred_at,
        correlation_id: new.causation.correlation_id,
        causation_id: new.causation.causation_id,
        payload: new.payload.clone(),
    }
}

fn assert_recorded(
    recorded: &RecordedEvent,
    new: &NewEvent,
    stream: &StreamId,
    version: u64,
    commit_id: Uuid,
    context: &str,
) {
    let expected = expected_record(recorded.position, stream, version, commit_id, new);
    assert_eq!(recorded, &expected, "{context}: the stored event differs from the appended one");
}

fn assert_conflict(
    outcome: Result<Appended, AppendError>,
    stream: &StreamId,
    expected: u64,
    actual: u64,
    context: &str,
) {
    match outcome {
        Err(AppendError::Conflict { stream: s, expected: e, actual: a }) => {
            assert_eq!(&s, stream, "{context}: the conflict must name the stream");
            assert_eq!(e, expected, "{context}: the conflict must name the expected version");
            assert_eq!(a, actual, "{context}: the conflict must name the actual version");
        }
        other => panic!("{context}: expected a conflict at version {actual}, got {other:?}"),
    }
}

fn assert_increasing(events: &[RecordedEvent], context: &str) {
    for pair in events.windows(2) {
        assert!(
            pair[0].position < pair[1].position,
            "{context}: positions must increase, got {} then {}",
            pair[0].position,
            pair[1].position
        );
    }
    if let Some(first) = events.first() {
        assert!(first.position >= 1, "{context}: positions are 1-based");
    }
}

fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.version).collect()
}

async fn append_ok(log: &dyn EventLog, stream: &StreamId, expected: ExpectedVersion, commit: Commit) -> Appended {
    match log.append(stream, expected, commit).await {
        Ok(appended) => appended,
        Err(e) => panic!("append to {stream} with {expected:?} failed: {e}"),
    }
}

async fn stream_events(log: &dyn EventLog, stream: &StreamId, after: u64) -> Vec<RecordedEvent> {
    match log.read_stream(stream, after).await {
        Ok(events) => events,
        Err(e) => panic!("read_stream({stream}, {after}) failed: {e}"),
    }
}

async fn all_events(log: &dyn EventLog, after: u64, limit: usize, team: Option<&TeamId>) -> Vec<RecordedEvent> {
    match log.read_all(after, limit, team).await {
        Ok(events) => {
            assert!(events.len() <= limit, "read_all returned {} events, over the limit {limit}", events.len());
            events
        }
        Err(e) => panic!("read_all(after {after}, limit {limit}, team {team:?}) failed: {e}"),
    }
}

async fn log_events(log: &dyn EventLog) -> Vec<RecordedEvent> {
    all_events(log, 0, 100_000, None).await
}

async fn paged(log: &dyn EventLog, page: usize, team: Option<&TeamId>) -> Vec<RecordedEvent> {
    let mut out: Vec<RecordedEvent> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.position);
        let batch = all_events(log, after, page, team).await;
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

async fn head_of(log: &dyn EventLog) -> u64 {
    match log.head().await {
        Ok(head) => head,
        Err(e) => panic!("head() failed: {e}"),
    }
}

/// A log followed with [`follow`] into a channel, so the checks read it event by event.
struct Following {
    events: mpsc::UnboundedReceiver<Result<RecordedEvent, String>>,
    _stop: Stop,
}

/// Follows `log` after `after` (optionally one team's events) until the result is dropped.
fn following(log: Arc<dyn EventLog>, after: u64, team: Option<TeamId>) -> Following {
    let (sender, events) = mpsc::unbounded_channel();
    let (stop, stopped) = stop_signal();
    tokio::spawn(async move {
        let mut forward = Forward { sender, after };
        let _ = follow(log, &mut forward, FollowOptions::new("contract check").team(team), stopped.wait()).await;
    });
    Following { events, _stop: stop }
}

/// Sends every event it handles, and the first failure, down a channel.
struct Forward {
    sender: mpsc::UnboundedSender<Result<RecordedEvent, String>>,
    after: u64,
}

#[async_trait::async_trait]
impl Follower for Forward {
    type Error = std::convert::Infallible;

    async fn resume_from(&mut self) -> Result<u64, Self::Error> {
        Ok(self.after)
    }

    async fn handle(&mut self, events: Vec<RecordedEvent>) -> Result<(), Self::Error> {
        for event in events {
            self.after = event.position;
            let _ = self.sender.send(Ok(event));
        }
        Ok(())
    }

    /// A check must see the log fail, not have it waited out.
    fn retries(&self, error: &Failure<Self::Error>) -> bool {
        let _ = self.sender.send(Err(error.to_string()));
        false
    }
}

async fn next_event(subscription: &mut Following, context: &str) -> RecordedEvent {
    match tokio::time::timeout(DELIVERY_TIMEOUT, subscription.events.recv()).await {
        Err(_) => panic!("{context}: no event delivered within {DELIVERY_TIMEOUT:?}"),
        Ok(None) => panic!("{context}: the subscription ended"),
        Ok(Some(Err(e))) => panic!("{context}: the subscription failed: {e}"),
        Ok(Some(Ok(event))) => event,
    }
}

async fn assert_quiet(subscription: &mut Following, context: &str) {
    if let Ok(item) = tokio::time::timeout(QUIET_PERIOD, subscription.events.recv()).await {
        panic!("{context}: the subscription delivered something that was never appended: {item:?}");
    }
}
