//! An event log in memory: what the embedded log promises, without a file, and a switch that
//! makes it unreachable, so tests see how its users ride out an outage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use switchboard_engine::log::{AppendError, Appended, Commit, EventLog, ExpectedVersion, LogError};
use switchboard_schemas::{RecordedEvent, StreamId, TeamId};
use tokio::sync::watch;
use uuid::Uuid;

/// The largest commit it takes ([`Commit::bytes`]).
const MAX_COMMIT_BYTES: usize = 1 << 20;

/// An [`EventLog`] held in memory. It passes the event-log contract suite
/// (`testkit/tests/memory_log.rs`).
#[derive(Debug)]
pub struct MemoryEventLog {
    state: Mutex<State>,
    head: watch::Sender<u64>,
    down: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    events: Vec<RecordedEvent>,
    /// Indices into `events`, per stream, in version order.
    streams: HashMap<StreamId, Vec<usize>>,
    commits: HashMap<Uuid, Appended>,
}

impl Default for MemoryEventLog {
    fn default() -> Self {
        Self { state: Mutex::default(), head: watch::channel(0).0, down: AtomicBool::new(false) }
    }
}

impl MemoryEventLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail with [`LogError::Unavailable`] (`true`) or work again (`false`),
    /// as a log server that went away and came back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn reachable(&self) -> Result<(), LogError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(LogError::Unavailable("the in-memory log is switched off".into()));
        }
        Ok(())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl EventLog for MemoryEventLog {
    async fn store(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        commit: Commit,
    ) -> Result<Appended, AppendError> {
        self.reachable()?;
        let mut state = self.state();
        if let Some(earlier) = state.commits.get(&commit.commit_id()) {
            return Ok(Appended { duplicate: true, ..*earlier });
        }
        let actual = state.streams.get(stream).map_or(0, |indices| indices.len() as u64);
        if let ExpectedVersion::Exact(expected) = expected {
            if expected != actual {
                return Err(AppendError::Conflict { stream: stream.clone(), expected, actual });
            }
        }
        let mut version = actual;
        let mut position = state.events.len() as u64;
        let commit_id = commit.commit_id();
        for event in commit.into_events() {
            version += 1;
            position += 1;
            let index = state.events.len();
            state.events.push(RecordedEvent {
                position,
                stream: stream.clone(),
                version,
                team: stream.team_id().clone(),
                event_id: event.event_id,
                commit_id,
                event_type: event.event_type.to_owned(),
                schema_version: event.schema_version,
                occurred_at: event.occurred_at,
                correlation_id: event.causation.correlation_id,
                causation_id: event.causation.causation_id,
                payload: event.payload,
            });
            state.streams.entry(stream.clone()).or_default().push(index);
        }
        let appended = Appended { version, position, duplicate: false };
        state.commits.insert(commit_id, appended);
        drop(state);
        self.head.send_replace(position);
        Ok(appended)
    }

    fn max_commit_bytes(&self) -> usize {
        MAX_COMMIT_BYTES
    }

    async fn read_stream(&self, stream: &StreamId, after_version: u64) -> Result<Vec<RecordedEvent>, LogError> {
        self.reachable()?;
        let state = self.state();
        let Some(indices) = state.streams.get(stream) else { return Ok(Vec::new()) };
        let skip = usize::try_from(after_version).unwrap_or(usize::MAX);
        Ok(indices.iter().skip(skip).map(|&i| state.events[i].clone()).collect())
    }

    async fn read_all(&self, after: u64, limit: usize, team: Option<&TeamId>) -> Result<Vec<RecordedEvent>, LogError> {
        self.reachable()?;
        let state = self.state();
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(state.events.len());
        Ok(state.events[start..]
            .iter()
            .filter(|e| team.is_none_or(|team| &e.team == team))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn head(&self) -> Result<u64, LogError> {
        self.reachable()?;
        Ok(*self.head.borrow())
    }

    async fn wait_for_append(&self, after: u64, timeout: Duration) {
        let mut head = self.head.subscribe();
        let _ = tokio::time::timeout(timeout, head.wait_for(|&head| head > after)).await;
    }
}
