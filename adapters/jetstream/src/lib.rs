//! The event log on NATS JetStream, for Switchboard past one machine.
//!
//! [`JetStreamEventLog`] implements the engine's [`EventLog`] port and passes the same
//! contract suite as the embedded store, against nats-server 2.9 and current releases.
//!
//! # Layout
//!
//! - **One JetStream stream** (default `SWITCHBOARD`, file storage) holds every event, on
//!   subjects `<prefix>.<team>.<kind>.<key>` (default prefix `sb`): the Switchboard stream
//!   id after the prefix. A team's events can be followed on `<prefix>.<team>.>`.
//! - **One commit is one message**, so a commit is stored atomically. The body is JSON
//!   (see the `codec` module): the commit id, the first event's version and the events.
//!   The header `Nats-Msg-Id` carries the commit id.
//!
//! - **Attachments' bytes** live beside the log in the object store bucket
//!   `<stream>_BLOBS` ([`ObjectBlobStore`], [`JetStreamEventLog::blob_store`]).
//!
//! # Positions
//!
//! An event's global position is `stream_sequence << 16 | index_in_commit`: unique,
//! increasing in log order, not gap-free (the contract allows gaps). Hence a commit holds
//! at most 65,535 events (`codec::MAX_EVENTS_PER_COMMIT`), which `Commit::new` checks.
//! `read_all(after)` resumes at the message holding `after` and skips
//! the events of that message already delivered.
//!
//! # Optimistic concurrency
//!
//! A stream's version is the number of its events, which is not a JetStream sequence, so
//! each append first learns the subject's last message: its sequence and the version it
//! ends at. It then publishes with `Nats-Expected-Last-Subject-Sequence` set to that
//! sequence (0 for a new stream), and the server refuses the publish (error 10071, wrong
//! last sequence) if another commit landed in between. The refused writer re-reads the
//! version and gets [`AppendError::Conflict`]. The last message is fetched from the
//! stream leader (`STREAM.MSG.GET`, last by subject), unless this process wrote or read
//! the subject's last commit itself: then the sequence and version it remembers are used
//! without a round trip. A stale memory costs one refused publish and a re-read, never a
//! wrong answer, because the server checks the sequence.
//!
//! When the expected version is wrong (found before publishing, or after the server
//! refused the publish), the commit may still be a retry of one already appended, and
//! then the earlier outcome must win over the conflict. Nothing is published: the log
//! looks for the commit id among the `Nats-Msg-Id` headers of the subject's messages
//! stored within the duplicate window (a headers-only consumer). The server's own
//! deduplication cannot answer this on every version: nats-server 2.9 checks the message
//! id before `Nats-Expected-Last-Subject-Sequence`, but current releases check the
//! expected sequence first and refuse a stale retry as a conflict.
//!
//! `ExpectedVersion::Any` publishes with the sequence it just read as well, and simply
//! reads and publishes again when it is refused (with a short growing pause), so two
//! `Any` writers can never both claim the same version.
//!
//! # Deduplication
//!
//! The server remembers message ids for the stream's duplicate window (default 10
//! minutes, [`JetStreamOptions::duplicate_window`]), across server restarts. A commit
//! retried within the window is acknowledged with the original sequence and marked
//! `duplicate`; the log then reads that message to return the original version and
//! position. **A commit retried after the window has passed is appended again** (if its
//! expected version still matches); callers that retry for longer must keep their own
//! record. A commit refused (conflict, empty) is not remembered.
//!
//! # Following
//!
//! [`EventLog::wait_for_append`] is push-based: the first call starts a background
//! ordered consumer on the whole stream that receives only message headers, and keeps
//! the last stored sequence in a watch channel; waiters wake as soon as a later message
//! is stored, by any process. While that consumer is being (re)created the wait falls
//! back to its timeout, i.e. the engine's poll.
//!
//! # Failures
//!
//! A lost connection, a timeout or a missing JetStream responder is reported as
//! [`LogError::Unavailable`] within [`JetStreamOptions::request_timeout`]; the client
//! reconnects on its own. An append, and the read of a stream a command makes before it
//! decides, ride through that for up to [`JetStreamOptions::failover_deadline`] (15 s): they
//! are tried again — an append re-reading the stream's version, with the same commit id, so
//! an attempt that was stored although its acknowledgement was lost is found by its id and
//! answered as the duplicate it is. A leader election or a move to another server of the
//! cluster therefore delays a command instead of refusing it. Reads of the whole log report
//! `Unavailable` at once; the followers that make them poll again.
//! A message that is not a valid commit is reported as [`LogError::Corrupt`] with the
//! position of its first event.
//!
//! # Durability
//!
//! JetStream acknowledges a message once it is written to the store files of a quorum of
//! replicas; it survives the server process being killed, but it is flushed to disk on the
//! server's `sync_interval` (2 minutes by default), not before the acknowledgement. Use 3
//! replicas, or `sync_interval: always` in the server configuration (2.10+), to survive
//! losing a machine's power.
//!
//! # Clusters
//!
//! `nats_url` may list several servers separated by commas, the members of a cluster; the
//! client connects to one and moves to another when it fails. On a clustered stream
//! (`replicas` = 3) the same headers are checked by the stream leader. The tests run a
//! three-node cluster on loopback (`testing::NatsCluster`) and kill its stream leader, a
//! follower and the server the client is connected to while writers append: nothing is
//! refused, lost or stored twice (`tests/cluster.rs`).

mod blobs;
mod error;
pub mod leases;
mod options;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::{self as js_stream, LastRawMessageErrorKind, StorageType};
use async_trait::async_trait;
use futures::StreamExt;
use switchboard_engine::log::{AppendError, Appended, Commit, EventLog, ExpectedVersion, LogError};
use switchboard_schemas::{RecordedEvent, StreamId, TeamId};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use blobs::ObjectBlobStore;
pub use error::JetStreamError;
pub use options::JetStreamOptions;
use switchboard_engine::codec;
use switchboard_engine::codec::MAX_SEQUENCE;

use crate::error::{log_error, Place};

/// How often an `Any` append reads and publishes again when other writers keep moving
/// the stream, before it gives up.
const ANY_ATTEMPTS: u32 = 64;

/// How many streams' last sequence and version are remembered before the memory is
/// cleared (it is only a shortcut; clearing costs one read per stream).
const LAST_CACHE_CAPACITY: usize = 100_000;

/// Messages requested per pull while reading.
const READ_BATCH: usize = 1_000;

/// The consumer filter that reads the whole log: none. The stream holds nothing but
/// `<prefix>.>` (set again on every connect), and nats-server 2.9 matches a wildcard filter
/// against every subject of a store block for each message it delivers, which slowed a
/// replay of 1,024 conversations to half the rate of an unfiltered read.
const WHOLE_LOG: &str = "";

/// Messages decoded together on a blocking thread while reading.
const DECODE_CHUNK: usize = 256;
/// The first pause before an unavailable append is tried again; it doubles up to…
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// …this.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Bytes of a message's `max_payload` kept for its headers.
const HEADER_ROOM: usize = 4 * 1024;

/// How long a read waits for the next message the server counted as pending before it
/// asks the stream whether such a message exists at all. nats-server 2.9 sometimes counts
/// one message too many for a filtered consumer, so the count alone cannot end a read.
const PENDING_PROBE: Duration = Duration::from_millis(500);

/// Pause before the following consumer is created again after it failed.
const WATCH_RETRY: Duration = Duration::from_millis(500);

/// The event log on a NATS JetStream stream.
///
/// Cheap to share behind an `Arc`; every method may be called concurrently. Dropping it
/// stops the background follower (if one was started) and closes the connection once
/// nothing else uses it.
pub struct JetStreamEventLog {
    url: String,
    options: JetStreamOptions,
    client: async_nats::Client,
    context: async_nats::jetstream::Context,
    stream: js_stream::Stream<()>,
    /// Last known (sequence, version) of subjects this process wrote or read.
    last: Mutex<HashMap<String, (u64, u64)>>,
    /// The last stream sequence the follower has seen stored.
    stored: watch::Sender<u64>,
    follower: Mutex<Option<JoinHandle<()>>>,
}

/// The servers of a `nats_url`: one address, or several separated by commas (the members
/// of a cluster; the client connects to one and moves to another when it fails).
fn server_addresses(url: &str) -> Result<Vec<async_nats::ServerAddr>, JetStreamError> {
    let servers: Vec<async_nats::ServerAddr> = url
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<async_nats::ServerAddr>()
                .map_err(|e| JetStreamError::Config(format!("nats_url: {part:?} is not a NATS server address: {e}")))
        })
        .collect::<Result<_, _>>()?;
    if servers.is_empty() {
        return Err(JetStreamError::Config("nats_url: no server address (nats://host:4222, …)".into()));
    }
    Ok(servers)
}

impl JetStreamEventLog {
    /// Connects to the NATS server(s) at `url` (e.g. `nats://127.0.0.1:4222`, or several
    /// separated by commas) and creates the stream, or updates it to `options`.
    ///
    /// Fails if the settings are invalid, no server answers within the connect timeout,
    /// JetStream is not enabled, or the stream cannot take these settings.
    pub async fn connect(url: &str, options: JetStreamOptions) -> Result<Self, JetStreamError> {
        options.validate()?;
        let mut connect = async_nats::ConnectOptions::new()
            .name("switchboard")
            .connection_timeout(options.connect_timeout)
            .request_timeout(Some(options.request_timeout));
        if let Some(path) = &options.credentials_file {
            connect = connect
                .credentials_file(path)
                .await
                .map_err(|source| JetStreamError::Credentials { path: path.clone(), source })?;
        }
        let servers = server_addresses(url)?;
        let client = connect
            .connect(servers.as_slice())
            .await
            .map_err(|source| JetStreamError::Connect { url: url.to_owned(), source })?;
        let context =
            async_nats::jetstream::ContextBuilder::new().timeout(options.request_timeout).build(client.clone());

        let all_subjects = format!("{}.>", options.subject_prefix);
        let config = js_stream::Config {
            name: options.stream.clone(),
            description: Some("Switchboard event log: one message per commit".to_owned()),
            subjects: vec![all_subjects],
            storage: StorageType::File,
            num_replicas: options.replicas,
            max_age: options.max_age,
            max_bytes: options.max_bytes.map_or(-1, |bytes| i64::try_from(bytes).unwrap_or(i64::MAX)),
            max_messages: -1,
            max_messages_per_subject: -1,
            duplicate_window: options.duplicate_window,
            ..Default::default()
        };
        if let Err(source) = context.create_or_update_stream(config).await {
            use async_nats::jetstream::context::CreateStreamErrorKind;
            let disabled = match source.kind() {
                CreateStreamErrorKind::JetStreamUnavailable => true,
                CreateStreamErrorKind::JetStream(e) => e.error_code().0 == 10039,
                _ => false,
            };
            if disabled {
                return Err(JetStreamError::JetStreamDisabled { url: url.to_owned(), detail: source.to_string() });
            }
            return Err(JetStreamError::Stream { stream: options.stream.clone(), url: url.to_owned(), source });
        }
        let stream = context
            .get_stream_no_info(&options.stream)
            .await
            .map_err(|e| JetStreamError::Config(format!("stream {:?}: {e}", options.stream)))?;
        Ok(Self {
            url: url.to_owned(),
            options,
            client,
            context,
            stream,
            last: Mutex::new(HashMap::new()),
            stored: watch::Sender::new(0),
            follower: Mutex::new(None),
        })
    }

    /// Runs `attempt` again while it fails with the log unavailable (a stream leader being
    /// elected, the connection moving to another server of the cluster), with a growing
    /// pause, until [`JetStreamOptions::failover_deadline`] has passed; an append retried
    /// this way carries its commit id, so it is never stored twice.
    async fn ride_through<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
        &self,
        stream: &StreamId,
        attempt: impl Fn() -> F,
        unavailable: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        let deadline = tokio::time::Instant::now() + self.options.failover_deadline;
        let mut pause = RETRY_PAUSE;
        loop {
            match attempt().await {
                Err(e) if unavailable(&e) && tokio::time::Instant::now() + pause < deadline => {
                    tracing::debug!(%stream, error = %e, "the log is unavailable; trying again");
                    self.forget(&self.subject(stream));
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
                outcome => return outcome,
            }
        }
    }

    /// One attempt at reading a stream (see [`EventLog::read_stream`], which retries it).
    async fn try_read_stream(&self, stream: &StreamId, after_version: u64) -> Result<Vec<RecordedEvent>, LogError> {
        let subject = self.subject(stream);
        let last = match self.stream.get_last_raw_message_by_subject(&subject).await {
            Ok(message) => message,
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(&e, &format!("read the last commit on {subject}"))),
        };
        let (version, count) = codec::last_version(last.sequence, &last.payload)?;
        self.remember(&subject, last.sequence, version);
        if after_version >= version {
            return Ok(Vec::new());
        }
        let first_of_last = version + 1 - count as u64;
        if after_version + 1 >= first_of_last {
            let events = codec::decode(&self.options.subject_prefix, &subject, last.sequence, &last.payload)?;
            return Ok(events.into_iter().filter(|e| e.version > after_version).collect());
        }
        self.scan(subject, 1, last.sequence, usize::MAX, |e| e.version > after_version).await
    }

    /// One attempt at an append (see [`EventLog::append`], which retries it).
    async fn try_append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        commit: &Commit,
    ) -> Result<Appended, AppendError> {
        let count = commit.events().len();
        let subject = self.subject(stream);
        let commit_id = commit.commit_id().to_string();
        let mut known = self.remembered(&subject);
        for attempt in 0..ANY_ATTEMPTS {
            // A remembered position is only trusted when it agrees with the caller: the
            // server then checks it. A disagreement is decided on a fresh read, so a
            // conflict never reports a stale version.
            let (last_sequence, actual) = match known.take() {
                Some((sequence, version)) if expected == ExpectedVersion::Exact(version) => (sequence, version),
                Some(last) if expected == ExpectedVersion::Any => last,
                _ => self.read_last(&subject).await?,
            };
            if let ExpectedVersion::Exact(version) = expected {
                if version != actual {
                    return self
                        .conflict_or_duplicate(stream, &subject, &commit_id, version, (last_sequence, actual))
                        .await;
                }
            }
            if last_sequence >= MAX_SEQUENCE {
                return Err(AppendError::Log(LogError::Backend(format!(
                    "stream {} has reached sequence {last_sequence}, past the largest a position can hold",
                    self.options.stream
                ))));
            }
            let body = codec::encode_commit(commit, actual + 1)?;
            match self.publish(&subject, &commit_id, last_sequence, body).await {
                Ok(ack) if ack.duplicate => return Ok(self.earlier_outcome(ack.sequence, &subject).await?),
                Ok(ack) => {
                    let version = actual + count as u64;
                    self.remember(&subject, ack.sequence, version);
                    self.stored.send_if_modified(|last| {
                        let later = ack.sequence > *last;
                        if later {
                            *last = ack.sequence;
                        }
                        later
                    });
                    return Ok(Appended {
                        version,
                        position: codec::position(ack.sequence, count - 1),
                        duplicate: false,
                    });
                }
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                    // Another commit landed since the last message was read.
                    self.forget(&subject);
                    match expected {
                        ExpectedVersion::Exact(version) => {
                            let now = self.read_last(&subject).await?;
                            if now.1 != version {
                                return self.conflict_or_duplicate(stream, &subject, &commit_id, version, now).await;
                            }
                            known = Some(now);
                        }
                        ExpectedVersion::Any => {
                            let pause = u64::from(attempt.min(20)) + (commit.commit_id().as_u128() % 3) as u64;
                            tokio::time::sleep(Duration::from_millis(pause)).await;
                        }
                    }
                }
                Err(e) => {
                    self.forget(&subject);
                    return Err(AppendError::Log(self.fail(&e, &format!("append commit {commit_id} to {subject}"))));
                }
            }
        }
        Err(AppendError::Log(LogError::Backend(format!(
            "append commit {commit_id} to {subject}: other writers kept appending to the stream; gave up after \
             {ANY_ATTEMPTS} attempts"
        ))))
    }

    /// The name of the server the client is connected to now (a cluster member), if any.
    pub fn connected_server(&self) -> Option<String> {
        let name = self.client.server_info().server_name;
        (!name.is_empty()).then_some(name)
    }

    /// The settings the log was opened with.
    pub fn options(&self) -> &JetStreamOptions {
        &self.options
    }

    /// The subject a Switchboard stream is stored on: `<prefix>.<team>.<kind>.<key>`.
    pub fn subject(&self, stream: &StreamId) -> String {
        format!("{}.{stream}", self.options.subject_prefix)
    }

    /// The subject filter that matches every event of one team: `<prefix>.<team>.>`.
    pub fn team_subjects(&self, team: &TeamId) -> String {
        format!("{}.{team}.>", self.options.subject_prefix)
    }

    /// The blob store beside this log: the object store bucket `<stream>_BLOBS` on the same
    /// servers, with as many replicas as the stream.
    pub async fn blob_store(&self) -> Result<ObjectBlobStore, switchboard_engine::blobs::BlobError> {
        ObjectBlobStore::open(&self.context, &format!("{}_BLOBS", self.options.stream), self.options.replicas).await
    }

    /// The underlying JetStream context, for tools that need raw access to the stream
    /// (benchmarks, inspection).
    pub fn jetstream(&self) -> &async_nats::jetstream::Context {
        &self.context
    }

    fn place(&self) -> Place<'_> {
        Place { url: &self.url, state: self.client.connection_state() }
    }

    fn fail(&self, error: &(dyn std::error::Error + 'static), doing: &str) -> LogError {
        log_error(error, doing, &self.place())
    }

    /// Remembers that `subject` ends at `sequence` with `version`, unless a later message
    /// is already known.
    fn remember(&self, subject: &str, sequence: u64, version: u64) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = last.get_mut(subject) {
            if sequence >= entry.0 {
                *entry = (sequence, version);
            }
            return;
        }
        if last.len() >= LAST_CACHE_CAPACITY {
            last.clear();
        }
        last.insert(subject.to_owned(), (sequence, version));
    }

    fn forget(&self, subject: &str) {
        self.last.lock().unwrap_or_else(PoisonError::into_inner).remove(subject);
    }

    fn remembered(&self, subject: &str) -> Option<(u64, u64)> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner).get(subject).copied()
    }

    /// The sequence and version of the last commit on `subject`, read from the stream
    /// leader; `(0, 0)` if the subject has no message.
    async fn read_last(&self, subject: &str) -> Result<(u64, u64), LogError> {
        match self.stream.get_last_raw_message_by_subject(subject).await {
            Ok(message) => {
                let (version, _) = codec::last_version(message.sequence, &message.payload)?;
                self.remember(subject, message.sequence, version);
                Ok((message.sequence, version))
            }
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok((0, 0)),
            Err(e) => Err(self.fail(&e, &format!("read the last commit on {subject}"))),
        }
    }

    async fn publish(
        &self,
        subject: &str,
        commit_id: &str,
        expected_sequence: u64,
        body: Vec<u8>,
    ) -> Result<PublishAck, async_nats::jetstream::context::PublishError> {
        let publish = PublishMessage::build()
            .payload(body.into())
            .message_id(commit_id)
            .expected_last_subject_sequence(expected_sequence);
        self.context.send_publish(subject.to_owned(), publish).await?.await
    }

    /// The outcome of the commit stored at `sequence`, for a duplicate acknowledgement of
    /// a commit appended to `subject`.
    async fn earlier_outcome(&self, sequence: u64, subject: &str) -> Result<Appended, LogError> {
        let message =
            self.stream.get_raw_message(sequence).await.map_err(|e| {
                self.fail(&e, &format!("read the earlier copy (message {sequence}) of a retried commit"))
            })?;
        if message.subject.as_str() != subject {
            return Err(LogError::Backend(format!(
                "the commit id was already used for another stream (message {sequence} on {}); a retried \
                 commit must go to the same stream",
                message.subject
            )));
        }
        let (version, count) = codec::last_version(sequence, &message.payload)?;
        Ok(Appended { version, position: codec::position(sequence, count - 1), duplicate: true })
    }

    /// Reads the messages matching `filter` from stream sequence `start` on, in order, and
    /// returns their events for which `keep` holds, at most `limit` of them. Stops at the
    /// first message at or after `until` (a sequence known to exist), when no matching
    /// message is left, or at the limit.
    async fn scan(
        &self,
        filter: String,
        start: u64,
        until: u64,
        limit: usize,
        keep: impl Fn(&RecordedEvent) -> bool,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let deliver_policy =
            if start <= 1 { DeliverPolicy::All } else { DeliverPolicy::ByStartSequence { start_sequence: start } };
        let what = if filter == WHOLE_LOG { "the log" } else { filter.as_str() };
        let doing = format!("read {what} from message {start}");
        let batch = READ_BATCH.min(limit.saturating_add(1));
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Decoding runs beside receiving: every full chunk of messages is decoded on a
        // blocking thread while the next chunk arrives. Every message holds at least one
        // event, and a limited read's `keep` drops events of its first message only, so
        // `limit + 1` messages hold `limit` kept events whenever the log has them.
        let prefix = Arc::<str>::from(self.options.subject_prefix.as_str());
        let mut decoding = Vec::new();
        let mut chunk = Vec::with_capacity(DECODE_CHUNK);
        let mut received = 0_usize;
        self.consume(filter, deliver_policy, false, batch, until, &doing, |message, sequence| {
            chunk.push((message.subject.clone(), sequence, message.payload.clone()));
            received += 1;
            if chunk.len() == DECODE_CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(DECODE_CHUNK));
                let prefix = Arc::clone(&prefix);
                decoding.push(tokio::task::spawn_blocking(move || decode_chunk(&prefix, full)));
            }
            Ok(received <= limit)
        })
        .await?;
        let mut out = Vec::new();
        for task in decoding {
            let events = task.await.map_err(|e| LogError::Backend(format!("{doing}: decoding failed: {e}")))??;
            out.extend(events.into_iter().filter(&keep));
        }
        out.extend(decode_chunk(&prefix, chunk)?.into_iter().filter(&keep));
        out.truncate(limit);
        Ok(out)
    }

    /// Looks for commit `commit_id` among the messages on `subject` stored within the
    /// duplicate window (plus a minute for clock differences), by their `Nats-Msg-Id`
    /// headers, and returns its outcome marked duplicate.
    ///
    /// Needed because servers since 2.10 check `Nats-Expected-Last-Subject-Sequence`
    /// before deduplicating, so a retry whose expected version is stale is refused as a
    /// conflict by the server instead of acknowledged as a duplicate.
    async fn find_commit(&self, subject: &str, commit_id: &str, until: u64) -> Result<Option<Appended>, LogError> {
        if until == 0 {
            return Ok(None);
        }
        let window = self.options.duplicate_window + Duration::from_secs(60);
        let since = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX) as i128 - window.as_nanos() as i128;
        let deliver_policy = match async_nats::datetime::from_nanos(since.max(0)) {
            Ok(start_time) => DeliverPolicy::ByStartTime { start_time },
            Err(_) => DeliverPolicy::All,
        };
        let doing = format!("look for commit {commit_id} on {subject}");
        let mut found = None;
        self.consume(subject.to_owned(), deliver_policy, true, READ_BATCH, until, &doing, |message, sequence| {
            let id = message.headers.as_ref().and_then(|headers| headers.get(async_nats::header::NATS_MESSAGE_ID));
            if id.is_some_and(|id| id.as_str() == commit_id) {
                found = Some(sequence);
                return Ok(false);
            }
            Ok(true)
        })
        .await?;
        match found {
            Some(sequence) => Ok(Some(self.earlier_outcome(sequence, subject).await?)),
            None => Ok(None),
        }
    }

    /// Runs an ephemeral consumer over the messages matching `filter` from
    /// `deliver_policy` on, handing each to `visit` with its stream sequence until `visit`
    /// returns false, the message at or after `until` was visited, or no matching message
    /// is left. The consumer is deleted afterwards.
    ///
    /// The server's pending count ends a read early when it reaches zero, but is not
    /// trusted to be exact: when a counted message does not arrive within
    /// [`PENDING_PROBE`], the stream is asked for the next matching message up to
    /// `until`, and the read ends if there is none. Only a message that exists and still
    /// does not arrive within the request timeout makes the read fail.
    #[allow(clippy::too_many_arguments)]
    async fn consume(
        &self,
        filter: String,
        deliver_policy: DeliverPolicy,
        headers_only: bool,
        batch: usize,
        until: u64,
        doing: &str,
        mut visit: impl FnMut(&async_nats::Message, u64) -> Result<bool, LogError>,
    ) -> Result<(), LogError> {
        let mut next_sequence = match deliver_policy {
            DeliverPolicy::ByStartSequence { start_sequence } => start_sequence,
            _ => 1,
        };
        let probe_subject =
            if filter == WHOLE_LOG { format!("{}.>", self.options.subject_prefix) } else { filter.clone() };
        let config = pull::Config {
            deliver_policy,
            ack_policy: AckPolicy::None,
            filter_subject: filter,
            headers_only,
            memory_storage: true,
            num_replicas: 1,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        };
        let consumer = self.stream.create_consumer(config).await.map_err(|e| self.fail(&e, doing))?;
        if consumer.cached_info().num_pending == 0 {
            self.drop_consumer(consumer.cached_info().name.clone());
            return Ok(());
        }
        let result = async {
            let mut messages = consumer
                .stream()
                .max_messages_per_batch(batch.max(1))
                .expires(self.options.request_timeout)
                .messages()
                .await
                .map_err(|e| self.fail(&e, doing))?;
            let probe = PENDING_PROBE.min(self.options.request_timeout);
            let mut waited = Duration::ZERO;
            loop {
                let message = match tokio::time::timeout(probe, messages.next()).await {
                    Err(_) => {
                        if !self.matching_message_left(&probe_subject, next_sequence, until, doing).await? {
                            return Ok(());
                        }
                        waited += probe;
                        if waited >= self.options.request_timeout {
                            return Err(LogError::Unavailable(format!(
                                "{doing}: message {next_sequence} or a later one matches but none arrived within \
                                 {:?}; is nats-server running with -js at {}?",
                                self.options.request_timeout, self.url
                            )));
                        }
                        continue;
                    }
                    Ok(None) => return Ok(()),
                    Ok(Some(Err(e))) => return Err(self.fail(&e, doing)),
                    Ok(Some(Ok(message))) => message,
                };
                waited = Duration::ZERO;
                let info = message.info().map_err(|e| LogError::Backend(format!("{doing}: {e}")))?;
                let (sequence, pending) = (info.stream_sequence, info.pending);
                next_sequence = sequence + 1;
                if !visit(&message.message, sequence)? || pending == 0 || sequence >= until {
                    return Ok(());
                }
            }
        }
        .await;
        self.drop_consumer(consumer.cached_info().name.clone());
        result
    }

    /// Whether a message matching `subject` is stored from sequence `from` up to `until`:
    /// the stream's own answer, for when a consumer's pending count and its deliveries
    /// disagree.
    async fn matching_message_left(&self, subject: &str, from: u64, until: u64, doing: &str) -> Result<bool, LogError> {
        if from > until {
            return Ok(false);
        }
        match self.stream.get_first_raw_message_by_subject(subject, from).await {
            Ok(message) => Ok(message.sequence <= until),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(false),
            Err(e) => Err(self.fail(&e, &format!("{doing}: look for message {from} or later on {subject}"))),
        }
    }

    /// The answer to an append whose expected version is not the stream's: the earlier
    /// outcome if the commit was already appended (within the duplicate window), else a
    /// conflict naming the version found.
    async fn conflict_or_duplicate(
        &self,
        stream: &StreamId,
        subject: &str,
        commit_id: &str,
        expected: u64,
        (last_sequence, actual): (u64, u64),
    ) -> Result<Appended, AppendError> {
        match self.find_commit(subject, commit_id, last_sequence).await? {
            Some(earlier) => Ok(earlier),
            None => Err(AppendError::Conflict { stream: stream.clone(), expected, actual }),
        }
    }

    /// Deletes a reading consumer without waiting; if that fails the server removes it
    /// after its inactivity threshold anyway.
    fn drop_consumer(&self, name: String) {
        let stream = self.stream.clone();
        tokio::spawn(async move {
            let _ = stream.delete_consumer(&name).await;
        });
    }

    /// Starts the follower behind [`EventLog::wait_for_append`] if it is not running.
    fn ensure_follower(&self) {
        let mut follower = self.follower.lock().unwrap_or_else(PoisonError::into_inner);
        if follower.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let stream = self.stream.clone();
        let stored = self.stored.clone();
        *follower = Some(tokio::spawn(follow(stream, stored)));
    }
}

/// Keeps `stored` at the last sequence stored in the stream, from a headers-only ordered
/// consumer, recreating it whenever it fails (a restarted or unreachable server).
async fn follow(stream: js_stream::Stream<()>, stored: watch::Sender<u64>) {
    loop {
        let seen = *stored.borrow();
        let deliver_policy =
            if seen == 0 { DeliverPolicy::Last } else { DeliverPolicy::ByStartSequence { start_sequence: seen + 1 } };
        let config = pull::OrderedConfig {
            filter_subject: WHOLE_LOG.to_owned(),
            headers_only: true,
            deliver_policy,
            ..Default::default()
        };
        match stream.create_consumer(config).await {
            Ok(consumer) => match consumer.messages().await {
                Ok(mut messages) => {
                    while let Some(item) = messages.next().await {
                        match item {
                            Ok(message) => {
                                if let Ok(info) = message.info() {
                                    let sequence = info.stream_sequence;
                                    stored.send_if_modified(|last| {
                                        let later = sequence > *last;
                                        if later {
                                            *last = sequence;
                                        }
                                        later
                                    });
                                }
                            }
                            Err(e) => {
                                tracing::debug!("the event log follower stopped: {e}");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!("the event log follower cannot read: {e}"),
            },
            Err(e) => tracing::debug!("the event log follower cannot start: {e}"),
        }
        tokio::time::sleep(WATCH_RETRY).await;
    }
}

impl std::fmt::Debug for JetStreamEventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamEventLog")
            .field("url", &self.url)
            .field("stream", &self.options.stream)
            .field("subject_prefix", &self.options.subject_prefix)
            .finish_non_exhaustive()
    }
}

impl Drop for JetStreamEventLog {
    fn drop(&mut self) {
        if let Some(task) = self.follower.lock().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
    }
}

#[async_trait]
impl EventLog for JetStreamEventLog {
    /// Appends, riding through the log being unavailable for up to `failover_deadline` (see
    /// [`ride_through`](JetStreamEventLog::ride_through)).
    async fn store(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        commit: Commit,
    ) -> Result<Appended, AppendError> {
        let unavailable = |e: &AppendError| matches!(e, AppendError::Log(LogError::Unavailable(_)));
        self.ride_through(stream, || self.try_append(stream, expected, &commit), unavailable).await
    }

    fn max_commit_bytes(&self) -> usize {
        // A message's headers (message id, expected sequence) count against max_payload too.
        self.client.server_info().max_payload.saturating_sub(HEADER_ROOM)
    }

    /// Reads, riding through the log being unavailable like an append: a command reads its
    /// stream before it decides, and must not fail where its append would have waited.
    async fn read_stream(&self, stream: &StreamId, after_version: u64) -> Result<Vec<RecordedEvent>, LogError> {
        let unavailable = |e: &LogError| matches!(e, LogError::Unavailable(_));
        self.ride_through(stream, || self.try_read_stream(stream, after_version), unavailable).await
    }

    async fn read_all(&self, after: u64, limit: usize, team: Option<&TeamId>) -> Result<Vec<RecordedEvent>, LogError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let start = codec::sequence_of(after).max(1);
        let info = self.stream.get_info().await.map_err(|e| self.fail(&e, "read the state of the event stream"))?;
        let last = info.state.last_sequence;
        if last < start || info.state.messages == 0 {
            return Ok(Vec::new());
        }
        let filter = team.map_or_else(|| WHOLE_LOG.to_owned(), |team| self.team_subjects(team));
        self.scan(filter, start, last, limit, |e| e.position > after).await
    }

    async fn head(&self) -> Result<u64, LogError> {
        let info = self.stream.get_info().await.map_err(|e| self.fail(&e, "read the state of the event stream"))?;
        let last = info.state.last_sequence;
        if last == 0 || info.state.messages == 0 {
            return Ok(if last == 0 { 0 } else { codec::position(last, 0) });
        }
        match self.stream.get_raw_message(last).await {
            Ok(message) => {
                let (_, count) = codec::last_version(last, &message.payload)?;
                Ok(codec::position(last, count - 1))
            }
            // The last message was deleted by hand: nothing of it is left to read.
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(codec::position(last, 0)),
            Err(e) => Err(self.fail(&e, &format!("read the last message ({last}) of the event stream"))),
        }
    }

    async fn wait_for_append(&self, after: u64, timeout: Duration) {
        self.ensure_follower();
        let mut stored = self.stored.subscribe();
        let message = codec::sequence_of(after);
        let _ = tokio::time::timeout(timeout, stored.wait_for(|sequence| *sequence > message)).await;
    }
}

/// Decodes received messages (subject, stream sequence, body) into their events, in order.
fn decode_chunk(
    prefix: &str,
    messages: Vec<(async_nats::Subject, u64, bytes::Bytes)>,
) -> Result<Vec<RecordedEvent>, LogError> {
    let mut events = Vec::with_capacity(messages.len());
    for (subject, sequence, body) in messages {
        events.extend(codec::decode(prefix, subject.as_str(), sequence, &body)?);
    }
    Ok(events)
}
