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
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// Idempotency key of the append.
    pub commit_id: Uuid,
    /// The events, in order; never empty.
    pub events: Vec<NewEvent>,
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
    /// The commit had no events.
    #[error("a commit must carry at least one event")]
    EmptyCommit,
    /// The commit is larger than the backend stores as one (a JetStream message's
    /// `max_payload`, an EventStoreDB append): nothing was written. Split the change.
    #[error("the change is {bytes} bytes in one commit, more than the event log takes at once ({max} bytes)")]
    TooLarge {
        /// The commit's size as the backend stores it.
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
    /// A commit id appended before returns the earlier outcome with `duplicate = true`.
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        commit: Commit,
    ) -> Result<Appended, AppendError>;

    /// The largest commit, in stored bytes, this log appends; a larger one is refused with
    /// [`AppendError::TooLarge`] and nothing is written, so a change that must be all or
    /// nothing (an FAQ import) is one commit or none.
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
