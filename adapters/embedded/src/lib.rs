//! The embedded default storage, no server needed: the event log in one SQLite file in WAL
//! mode, and attachments' bytes as content-addressed files ([`FileBlobStore`]).
//!
//! [`SqliteEventLog`] implements the engine's [`EventLog`] port and passes its contract
//! suite.
//!
//! - **Writes** go through one writer thread that owns the write connection. It takes
//!   every append waiting in its queue, checks each against the stream's version, and
//!   commits them all in one transaction: one disk flush acknowledges the whole group, so
//!   many appends per second stay durable with `synchronous = FULL`.
//! - **Reads** run on the blocking thread pool over a small pool of read connections;
//!   WAL lets them proceed while the writer commits.
//! - **Following**: after every commit the writer publishes the new head, so in-process
//!   subscribers wake at once; writers in other processes are noticed by polling.
//! - **Damage**: a stored row that cannot be read is reported as [`LogError::Corrupt`]
//!   with its position; other streams stay readable and appends keep working.
//!
//! The file layout is described in the `schema` module; its version is recorded in
//! `PRAGMA user_version` ([`SCHEMA_VERSION`]).

mod blobs;
mod error;
mod options;
mod read;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{Datelike, SecondsFormat};
use switchboard_engine::log::{AppendError, Appended, Commit, EventLog, ExpectedVersion, LogError};
use switchboard_schemas::{RecordedEvent, StreamId, TeamId};
use tokio::sync::{mpsc, oneshot, watch};

pub use blobs::FileBlobStore;
pub use error::EmbeddedError;
pub use options::{SqliteOptions, Synchronous};
pub use schema::SCHEMA_VERSION;

use crate::writer::{EncodedEvent, Request};

/// Appends that may wait for the writer before appending tasks are made to wait.
const QUEUE_CAPACITY: usize = 4_096;
/// The largest commit appended ([`Commit::bytes`]): room for a large FAQ import in one
/// transaction, yet a bound on what one request can make the writer hold.
const MAX_COMMIT_BYTES: usize = 16 * 1024 * 1024;

/// The event log in one SQLite file.
///
/// Dropping it stops the writer thread once the appends already queued are committed, and
/// closes the file; the drop blocks for at most that long.
pub struct SqliteEventLog {
    path: PathBuf,
    readers: Arc<read::Readers>,
    requests: Option<mpsc::Sender<Request>>,
    head: Arc<watch::Sender<u64>>,
    writer: Option<JoinHandle<()>>,
}

impl SqliteEventLog {
    /// Opens the log at `path`, creating the file and its schema if it does not exist, and
    /// starts the writer thread.
    ///
    /// Fails if the file cannot be opened or written, cannot use WAL journaling, is not a
    /// Switchboard event log, or was written by a newer release.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Self, EmbeddedError> {
        let conn = schema::open_writer(path, &options)?;
        let current_head: i64 =
            conn.query_row("SELECT COALESCE(MAX(position), 0) FROM events", [], |row| row.get(0)).map_err(
                |source| EmbeddedError::Setup { path: path.to_owned(), step: "read the head of the log", source },
            )?;
        // A negative position can only come from a damaged row, which reads report.
        let current_head = u64::try_from(current_head).unwrap_or(0);
        let readers = read::Readers::new(path.to_owned(), options.busy_timeout())
            .map_err(|source| EmbeddedError::Setup { path: path.to_owned(), step: "open a read connection", source })?;
        let head = Arc::new(watch::Sender::new(current_head));
        let (requests, queue) = mpsc::channel(QUEUE_CAPACITY);
        let writer = writer::spawn(conn, queue, Arc::clone(&head)).map_err(EmbeddedError::Thread)?;
        Ok(Self {
            path: path.to_owned(),
            readers: Arc::new(readers),
            requests: Some(requests),
            head,
            writer: Some(writer),
        })
    }

    /// The file the log is stored in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a read on the blocking thread pool with a pooled read connection.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, LogError> + Send + 'static,
    ) -> Result<T, LogError> {
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || readers.run(read))
            .await
            .map_err(|e| LogError::Backend(format!("a read of the event log did not complete: {e}")))?
    }
}

impl std::fmt::Debug for SqliteEventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEventLog")
            .field("path", &self.path)
            .field("head", &*self.head.borrow())
            .finish_non_exhaustive()
    }
}

impl Drop for SqliteEventLog {
    fn drop(&mut self) {
        // Closing the queue lets the writer commit what is queued and stop.
        self.requests.take();
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("the event log writer thread ended with a panic");
            }
        }
    }
}

#[async_trait]
impl EventLog for SqliteEventLog {
    async fn store(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        commit: Commit,
    ) -> Result<Appended, AppendError> {
        let events = commit.events().iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        let (reply, answer) = oneshot::channel();
        let request = Request {
            stream: stream.clone(),
            stream_text: stream.to_string(),
            expected,
            commit_id: commit.commit_id().to_string(),
            events,
            reply,
        };
        let requests = self.requests.as_ref().ok_or_else(writer::writer_gone)?;
        requests.send(request).await.map_err(|_| writer::writer_gone())?;
        answer.await.map_err(|_| writer::writer_gone())?
    }

    fn max_commit_bytes(&self) -> usize {
        MAX_COMMIT_BYTES
    }

    async fn read_stream(&self, stream: &StreamId, after_version: u64) -> Result<Vec<RecordedEvent>, LogError> {
        let stream = stream.clone();
        self.read(move |conn| read::read_stream(conn, &stream, after_version)).await
    }

    async fn read_all(&self, after: u64, limit: usize, team: Option<&TeamId>) -> Result<Vec<RecordedEvent>, LogError> {
        let team = team.cloned();
        self.read(move |conn| read::read_all(conn, after, limit, team.as_ref())).await
    }

    async fn head(&self) -> Result<u64, LogError> {
        self.read(read::head).await
    }

    async fn wait_for_append(&self, after: u64, timeout: Duration) {
        let mut head = self.head.subscribe();
        let _ = tokio::time::timeout(timeout, head.wait_for(|position| *position > after)).await;
    }
}

/// Encodes one event for storage. Timestamps are stored as RFC 3339 text with nanoseconds,
/// which round-trips exactly for the years RFC 3339 can express.
fn encode(event: &switchboard_schemas::NewEvent) -> Result<EncodedEvent, AppendError> {
    let year = event.occurred_at.year();
    if !(0..=9999).contains(&year) {
        return Err(AppendError::Log(LogError::Backend(format!(
            "event {} occurred in the year {year}; only the years 0 to 9999 can be stored",
            event.event_id
        ))));
    }
    let payload = serde_json::to_string(&event.payload).map_err(|e| {
        AppendError::Log(LogError::Backend(format!("the payload of event {} cannot be encoded: {e}", event.event_id)))
    })?;
    Ok(EncodedEvent {
        event_id: event.event_id.to_string(),
        event_type: event.event_type,
        schema_version: event.schema_version,
        occurred_at: event.occurred_at.to_rfc3339_opts(SecondsFormat::Nanos, true),
        correlation_id: event.causation.correlation_id.to_string(),
        causation_id: event.causation.causation_id.map(|id| id.to_string()),
        payload,
    })
}
