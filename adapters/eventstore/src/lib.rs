//! The event log on EventStoreDB / KurrentDB, through its official gRPC client.
//!
//! Layout: each Switchboard stream is an EventStoreDB stream named `<prefix>.<stream>`
//! (default prefix `sb`, so `sb.ops.conversation.zhangsan`), and each commit is one
//! EventStoreDB event of type `SwitchboardCommit` whose id is the commit id and whose body
//! is the commit in the shared stored form ([`switchboard_engine::codec`], the same bytes a
//! JetStream message holds). One record per commit keeps a commit atomic and lets the
//! server's expected-revision check guard the stream: the revision of the stream's last
//! record is what an append expects. An event's global position is
//! `commit_position << 16 | index`, so positions increase in `$all` order.
//!
//! Live following subscribes to `$all` filtered on the prefix, so a waiting reader wakes as
//! soon as any instance appends.
//!
//! This backend's server does not run on the development machine: the crate is built and
//! linted by CI, and the shared contract suite runs against a server when `EVENTSTORE_URL`
//! is set (see docs/operations.md).

use std::time::Duration;

use async_trait::async_trait;
use eventstore::{
    AppendToStreamOptions, Client, ClientSettings, CurrentRevision, EventData, ExpectedRevision, Position,
    ReadAllOptions, ReadStreamOptions, StreamPosition, SubscribeToAllOptions, SubscriptionFilter,
};
use switchboard_engine::codec;
use switchboard_engine::log::{AppendError, Appended, Commit, EventLog, ExpectedVersion, LogError};
use switchboard_schemas::{RecordedEvent, StreamId, TeamId};
use uuid::Uuid;

/// The EventStoreDB event type every commit record has.
pub const COMMIT_TYPE: &str = "SwitchboardCommit";

/// Records looked back through for an earlier copy of a retried commit.
const RETRY_LOOKBACK: usize = 64;
/// The largest commit record appended: EventStoreDB's default `MaxAppendSize` (1 MiB), less
/// room for the record's metadata.
const MAX_APPEND_BYTES: usize = 1024 * 1024 - 4 * 1024;

/// Records of `$all` looked back through for the last Switchboard commit (the rest are
/// system or foreign events).
const HEAD_LOOKBACK: usize = 4_096;

/// Why the log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum EventStoreError {
    /// The connection string cannot be read.
    #[error("EventStoreDB connection string {url:?}: {detail} (expected e.g. esdb://127.0.0.1:2113?tls=false)")]
    BadUrl {
        /// The string given.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The client could not be created.
    #[error("cannot create the EventStoreDB client: {0}")]
    Client(String),
    /// The server did not answer.
    #[error("EventStoreDB at {url} does not answer: {detail}")]
    Unreachable {
        /// Where it was looked for.
        url: String,
        /// What the client said.
        detail: String,
    },
}

/// The event log on an EventStoreDB / KurrentDB server.
pub struct EventStoreLog {
    client: Client,
    prefix: String,
}

fn log_error(e: eventstore::Error) -> LogError {
    use eventstore::Error as E;
    match e {
        E::ConnectionClosed | E::GrpcConnectionError(_) | E::DeadlineExceeded | E::NotLeaderException(_) => {
            LogError::Unavailable(e.to_string())
        }
        other => LogError::Backend(other.to_string()),
    }
}

/// The place of a record in `$all` as the codec's sequence: its commit position.
fn sequence(position: Position) -> u64 {
    position.commit.min(codec::MAX_SEQUENCE)
}

impl EventStoreLog {
    /// Connects to `url` (`esdb://host:2113?tls=false`, or `esdb+discover://…` for a
    /// cluster) and checks that the server answers. Streams are named `<prefix>.<stream>`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, EventStoreError> {
        let settings: ClientSettings =
            url.parse().map_err(|e| EventStoreError::BadUrl { url: url.to_owned(), detail: format!("{e}") })?;
        let client = Client::new(settings).map_err(|e| EventStoreError::Client(e.to_string()))?;
        let log = Self { client, prefix: prefix.to_owned() };
        log.head().await.map_err(|e| EventStoreError::Unreachable { url: url.to_owned(), detail: e.to_string() })?;
        Ok(log)
    }

    fn name(&self, stream: &StreamId) -> String {
        format!("{}.{stream}", self.prefix)
    }

    fn decode(&self, record: &eventstore::RecordedEvent) -> Result<Vec<RecordedEvent>, LogError> {
        codec::decode(&self.prefix, &record.stream_id, sequence(record.position), &record.data)
    }

    fn ours(&self, record: &eventstore::RecordedEvent) -> bool {
        record.event_type == COMMIT_TYPE
            && record.stream_id.strip_prefix(&self.prefix).is_some_and(|rest| rest.starts_with('.'))
    }

    /// Up to `count` records of a stream, newest first (none for a stream that does not
    /// exist).
    async fn last_records(&self, name: &str, count: usize) -> Result<Vec<eventstore::RecordedEvent>, LogError> {
        let options = ReadStreamOptions::default().backwards().position(StreamPosition::End).max_count(count);
        let mut read = self.client.read_stream(name, &options).await.map_err(log_error)?;
        let mut records = Vec::new();
        loop {
            match read.next().await {
                Ok(Some(resolved)) => records.extend(resolved.event),
                Ok(None) | Err(eventstore::Error::ResourceNotFound) => return Ok(records),
                Err(e) => return Err(log_error(e)),
            }
        }
    }

    /// The stream's last record: its revision and the stream version after it.
    async fn tail(&self, name: &str) -> Result<Option<(u64, u64)>, LogError> {
        let Some(last) = self.last_records(name, 1).await?.into_iter().next() else { return Ok(None) };
        let (version, _) = codec::last_version(sequence(last.position), &last.data)?;
        Ok(Some((last.revision, version)))
    }

    /// The outcome of an earlier append of `commit_id` to this stream, if it is among its
    /// recent records.
    async fn earlier(&self, name: &str, commit_id: Uuid) -> Result<Option<Appended>, LogError> {
        for record in self.last_records(name, RETRY_LOOKBACK).await? {
            if record.id == commit_id {
                let (version, count) = codec::last_version(sequence(record.position), &record.data)?;
                let position = codec::position(sequence(record.position), count - 1);
                return Ok(Some(Appended { version, position, duplicate: true }));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl EventLog for EventStoreLog {
    async fn store(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        commit: Commit,
    ) -> Result<Appended, AppendError> {
        let name = self.name(stream);
        let tail = self.tail(&name).await?;
        let actual = tail.map_or(0, |(_, version)| version);
        if let ExpectedVersion::Exact(expected) = expected {
            if expected != actual {
                if let Some(earlier) = self.earlier(&name, commit.commit_id()).await? {
                    return Ok(earlier);
                }
                return Err(AppendError::Conflict { stream: stream.clone(), expected, actual });
            }
        } else if let Some(earlier) = self.earlier(&name, commit.commit_id()).await? {
            return Ok(earlier);
        }
        let body = codec::encode_commit(&commit, actual + 1)?;
        let record = EventData::binary(COMMIT_TYPE, body.into()).id(commit.commit_id());
        let revision = tail.map_or(ExpectedRevision::NoStream, |(revision, _)| ExpectedRevision::Exact(revision));
        let options = AppendToStreamOptions::default().expected_revision(revision);
        match self.client.append_to_stream(name.as_str(), &options, record).await {
            Ok(written) => {
                let count = commit.events().len();
                Ok(Appended {
                    version: actual + count as u64,
                    position: codec::position(sequence(written.position), count - 1),
                    duplicate: false,
                })
            }
            Err(eventstore::Error::WrongExpectedVersion { current, .. }) => {
                // Someone appended between our read and our write: a conflict, unless it
                // was this very commit (a retry racing its first attempt).
                if let Some(earlier) = self.earlier(&name, commit.commit_id()).await? {
                    return Ok(earlier);
                }
                let actual = match current {
                    CurrentRevision::NoStream => 0,
                    CurrentRevision::Current(_) => self.tail(&name).await?.map_or(0, |(_, version)| version),
                };
                Err(AppendError::Conflict {
                    stream: stream.clone(),
                    expected: match expected {
                        ExpectedVersion::Exact(v) => v,
                        ExpectedVersion::Any => actual,
                    },
                    actual,
                })
            }
            Err(e) => Err(log_error(e).into()),
        }
    }

    fn max_commit_bytes(&self) -> usize {
        MAX_APPEND_BYTES
    }

    async fn read_stream(&self, stream: &StreamId, after_version: u64) -> Result<Vec<RecordedEvent>, LogError> {
        let options = ReadStreamOptions::default().forwards().position(StreamPosition::Start).max_count(usize::MAX);
        let mut read = self.client.read_stream(self.name(stream).as_str(), &options).await.map_err(log_error)?;
        let mut events = Vec::new();
        loop {
            match read.next().await {
                Ok(Some(resolved)) => {
                    for record in resolved.event.iter().filter(|r| self.ours(r)) {
                        events.extend(self.decode(record)?.into_iter().filter(|e| e.version > after_version));
                    }
                }
                Ok(None) | Err(eventstore::Error::ResourceNotFound) => return Ok(events),
                Err(e) => return Err(log_error(e)),
            }
        }
    }

    async fn read_all(&self, after: u64, limit: usize, team: Option<&TeamId>) -> Result<Vec<RecordedEvent>, LogError> {
        let start = codec::sequence_of(after);
        let from = if after == 0 {
            StreamPosition::Start
        } else {
            StreamPosition::Position(Position { commit: start, prepare: start })
        };
        // The server counts records, not events; a page starts at the previous page's last
        // record again (positions are inclusive), so it holds one more than it advances.
        let page = limit.max(1) + 1;
        let mut events = Vec::new();
        let mut from = from;
        loop {
            let options = ReadAllOptions::default().forwards().position(from).max_count(page);
            let mut read = self.client.read_all(&options).await.map_err(log_error)?;
            let mut seen = 0usize;
            let mut last = None;
            while let Some(resolved) = read.next().await.map_err(log_error)? {
                seen += 1;
                let Some(record) = resolved.event else { continue };
                last = Some(record.position);
                if !self.ours(&record) {
                    continue;
                }
                for event in self.decode(&record)? {
                    if event.position > after && team.is_none_or(|t| event.team == *t) {
                        events.push(event);
                    }
                }
                if events.len() >= limit {
                    events.truncate(limit);
                    return Ok(events);
                }
            }
            // A short read is the end of the log; a full one of foreign records goes on.
            match last {
                Some(position) if seen >= page => from = StreamPosition::Position(position),
                _ => return Ok(events),
            }
        }
    }

    async fn head(&self) -> Result<u64, LogError> {
        let options = ReadAllOptions::default().backwards().position(StreamPosition::End).max_count(HEAD_LOOKBACK);
        let mut read = self.client.read_all(&options).await.map_err(log_error)?;
        while let Some(resolved) = read.next().await.map_err(log_error)? {
            let Some(record) = resolved.event else { continue };
            if self.ours(&record) {
                let (_, count) = codec::last_version(sequence(record.position), &record.data)?;
                return Ok(codec::position(sequence(record.position), count - 1));
            }
        }
        Ok(0)
    }

    async fn wait_for_append(&self, after: u64, timeout: Duration) {
        let start = codec::sequence_of(after);
        let options = SubscribeToAllOptions::default()
            .position(StreamPosition::Position(Position { commit: start, prepare: start }))
            .filter(SubscriptionFilter::on_stream_name().add_prefix(format!("{}.", self.prefix)));
        let mut subscription = self.client.subscribe_to_all(&options).await;
        let _ = tokio::time::timeout(timeout, subscription.next()).await;
    }
}
