//! The event log port: append with an expected version, read a stream, read and follow the
//! whole log. Every backend (embedded SQLite, NATS JetStream, EventStoreDB) implements
//! [`EventLog`] and passes the same contract suite (`contract` feature).
//!
//! Backends only move [`RecordedEvent`]s; decoding, upcasting, retries and tracing live
//! above them, once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use switchboard_schemas::{NewEvent, RecordedEvent, StreamId, TeamId};

use crate::codec::MAX_EVENTS_PER_COMMIT;
use uuid::Uuid;

/// What the writer believes the stream's version is; checked atomically with the append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the version (used for streams with a single writer, e.g. imports).
    Any,
    /// The stream must be at exactly this version (0: the stream must not exist yet).
    Exact(u64),
}

/// One decision's events, appended atomically. The commit id makes a retried append a no-op.
///
/// Built only through [`Commit::new`], which refuses what no backend can store (no events,
/// more events than a position numbers) and measures the commit once, so backends never
/// repeat those checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    commit_id: Uuid,
    events: Vec<NewEvent>,
    bytes: usize,
}

/// Why events cannot make a commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// A commit without events would change nothing and has no position.
    #[error("a commit must carry at least one event")]
    Empty,
    /// The low bits of a global position number a commit's events.
    #[error("a change of {count} events is more than one commit holds ({max}); split it")]
    TooManyEvents {
        /// The events given.
        count: usize,
        /// The most a commit holds ([`MAX_EVENTS_PER_COMMIT`]).
        max: usize,
    },
}

/// Bytes an event's envelope (ids, times, versions, field names) may take in the codec's
/// form, beyond its type name and payload: at most 262 (a six-digit year, nanoseconds).
const ENVELOPE_BYTES: usize = 320;

/// Bytes a commit's own envelope (its id, a first version of up to 20 digits, field names,
/// brackets) may take: the codec's takes at most 101.
const COMMIT_ENVELOPE_BYTES: usize = 128;

impl Commit {
    /// The events of one decision under the idempotency key `commit_id`.
    pub fn new(commit_id: Uuid, events: Vec<NewEvent>) -> Result<Self, CommitError> {
        if events.is_empty() {
            return Err(CommitError::Empty);
        }
        if events.len() > MAX_EVENTS_PER_COMMIT {
            return Err(CommitError::TooManyEvents { count: events.len(), max: MAX_EVENTS_PER_COMMIT });
        }
        let bytes = COMMIT_ENVELOPE_BYTES
            + events.iter().map(|e| ENVELOPE_BYTES + json_len(&e.event_type) + json_len(&e.payload)).sum::<usize>();
        Ok(Self { commit_id, events, bytes })
    }

    /// The idempotency key of the append.
    pub fn commit_id(&self) -> Uuid {
        self.commit_id
    }

    /// The events, in order; never empty.
    pub fn events(&self) -> &[NewEvent] {
        &self.events
    }

    /// The events, taken out.
    pub fn into_events(self) -> Vec<NewEvent> {
        self.events
    }

    /// The measure [`EventLog::max_commit_bytes`] is compared with: at least the length of
    /// the commit's codec body (a JetStream message, an EventStoreDB record), and more than
    /// its events' text in SQLite's rows.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The length of `value` as compact JSON, counted without building the text.
fn json_len(value: &impl serde::Serialize) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a type name or a `Value` to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append (the last event's version).
    pub version: u64,
    /// The global position of the last event.
    pub position: u64,
    /// True when this commit id had already been appended and nothing new was written.
    pub duplicate: bool,
}

/// Why an append was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Someone else appended first: reload, decide again, retry.
    #[error("stream {stream} is at version {actual}, not the expected {expected}")]
    Conflict {
        /// The stream.
        stream: StreamId,
        /// The version the writer expected.
        expected: u64,
        /// The version found.
        actual: u64,
    },
    /// The commit is larger than the backend stores as one (a JetStream message's
    /// `max_payload`, an EventStoreDB append): nothing was written. Split the change.
    #[error("the change is {bytes} bytes in one commit, more than the event log takes at once ({max} bytes)")]
    TooLarge {
        /// The commit's size ([`Commit::bytes`]).
        bytes: usize,
        /// The most the backend takes ([`EventLog::max_commit_bytes`]).
        max: usize,
    },
    /// The backend failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// A backend failure, split where callers branch.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The backend cannot be reached now; retrying later may work.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// A stored row cannot be read as an event. Nothing is changed; the position says
    /// which row to inspect.
    #[error("stored event at position {position} is corrupt: {detail}")]
    Corrupt {
        /// The row's global position.
        position: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// Any other backend error.
    #[error("event log backend error: {0}")]
    Backend(String),
}

/// The event log port.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends a commit to `stream` if its version is `expected`, atomically.
    ///
    /// A commit id appended before returns the earlier outcome with `duplicate = true`. A
    /// commit over [`EventLog::max_commit_bytes`] is refused here, once for every backend,
    /// before the backend sees it; backends implement [`EventLog::store`], not this.
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        commit: Commit,
    ) -> Result<Appended, AppendError> {
        let max = self.max_commit_bytes();
        if commit.bytes() > max {
            return Err(AppendError::TooLarge { bytes: commit.bytes(), max });
        }
        self.store(stream, expected, commit).await
    }

    /// The backend's append: a commit that fits, stored atomically if the stream is at
    /// `expected` (see [`EventLog::append`], the only caller).
    async fn store(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        commit: Commit,
    ) -> Result<Appended, AppendError>;

    /// The largest commit, as measured by [`Commit::bytes`], this log appends; a larger one
    /// is refused with [`AppendError::TooLarge`] and nothing is written, so a change that
    /// must be all or nothing (an FAQ import) is one commit or none.
    fn max_commit_bytes(&self) -> usize;

    /// The events of one stream with version greater than `after_version`, in order.
    async fn read_stream(&self, stream: &StreamId, after_version: u64) -> Result<Vec<RecordedEvent>, LogError>;

    /// Up to `limit` events after global position `after`, in log order, optionally of one team.
    async fn read_all(&self, after: u64, limit: usize, team: Option<&TeamId>) -> Result<Vec<RecordedEvent>, LogError>;

    /// The global position of the last event (0 for an empty log).
    async fn head(&self) -> Result<u64, LogError>;

    /// Returns once an event after `after` may exist, or after `timeout`. Backends with
    /// push notification return early; the default simply sleeps, making following
    /// ([`crate::follow`]) a poll.
    async fn wait_for_append(&self, after: u64, timeout: Duration) {
        let _ = after;
        tokio::time::sleep(timeout).await;
    }
}

/// What the log holds after `after` now (optionally one team's events), in batches of at
/// most `size`, ending at the current end instead of following. For one-off reads of a
/// whole team (exports, replays of decisions, `events tail` without `--follow`); to follow
/// the log, use [`crate::follow`].
pub fn batches(
    log: Arc<dyn EventLog>,
    after: u64,
    team: Option<TeamId>,
    size: usize,
) -> BoxStream<'static, Result<Vec<RecordedEvent>, LogError>> {
    stream::try_unfold((log, after, team), move |(log, after, team)| async move {
        let batch = log.read_all(after, size, team.as_ref()).await?;
        Ok(batch.last().map(|e| e.position).map(|next| (batch, (log, next, team))))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;
    use switchboard_schemas::envelope::Causation;
    use switchboard_schemas::NewEvent;
    use uuid::Uuid;

    use super::{Commit, CommitError, MAX_EVENTS_PER_COMMIT};
    use crate::codec;

    fn event(payload: serde_json::Value, caused: bool) -> NewEvent {
        NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "MessageReceived",
            schema_version: u16::MAX,
            occurred_at: Utc.with_ymd_and_hms(2026, 12, 7, 23, 59, 59).unwrap()
                + chrono::Duration::nanoseconds(123_456_789),
            causation: Causation { correlation_id: Uuid::now_v7(), causation_id: caused.then(Uuid::now_v7) },
            payload,
        }
    }

    #[test]
    fn a_commit_without_events_cannot_be_made() {
        assert_eq!(Commit::new(Uuid::now_v7(), Vec::new()), Err(CommitError::Empty));
    }

    #[test]
    fn a_commit_holds_at_most_what_a_position_numbers() {
        let one = event(serde_json::json!({}), false);
        let most = vec![one.clone(); MAX_EVENTS_PER_COMMIT];
        assert!(Commit::new(Uuid::now_v7(), most.clone()).is_ok());
        let over = [most, vec![one]].concat();
        assert_eq!(
            Commit::new(Uuid::now_v7(), over),
            Err(CommitError::TooManyEvents { count: MAX_EVENTS_PER_COMMIT + 1, max: MAX_EVENTS_PER_COMMIT })
        );
    }

    proptest! {
        /// The measure never falls short of the stored body of a commit at the highest
        /// version, whatever the texts (escapes, non-ASCII) and causations.
        #[test]
        fn the_measure_bounds_the_stored_body(texts in prop::collection::vec(("\\PC{0,40}", any::<bool>()), 1..6)) {
            let events = texts
                .into_iter()
                .map(|(text, caused)| event(serde_json::json!({ "text": text, "quote": "\"\\\n\u{1}" }), caused))
                .collect();
            let commit = Commit::new(Uuid::now_v7(), events).unwrap();
            let body = codec::encode(commit.commit_id(), u64::MAX, commit.events()).unwrap();
            prop_assert!(body.len() <= commit.bytes(), "{} stored, {} measured", body.len(), commit.bytes());
        }
    }
}
