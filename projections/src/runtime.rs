//! The projection runtime: folds the log into a [`ReadStore`] in batches, committing each
//! batch's rows together with the checkpoint; catches up from the checkpoint, then follows
//! the log live; can be reset and rebuilt from position 0.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use switchboard_engine::conversation::session_of;
use switchboard_engine::follow::{follow, FollowOptions, Follower};
use switchboard_engine::log::{batches, EventLog, LogError};
use switchboard_schemas::event::{FaqCandidateApproved, FaqCandidateRejected};
use switchboard_schemas::{AggregateKind, DecodeError, Event, FaqEvent, RecordedEvent, TeamEvent};
use uuid::Uuid;

use crate::sessions::{RowChange, SessionRow};
use crate::store::{Batch, ReadStore, StoreError, TeamRow};

/// The name of the session-list projection (its checkpoint key); statistics are queries
/// over its rows.
pub const SESSIONS: &str = "sessions";

/// Why a projection stopped. The store holds the last committed batch; running again
/// resumes from its checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A stored event cannot be decoded (upcasting happens in decoding).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The read store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tuning of a projection run.
#[derive(Debug, Clone, Copy)]
pub struct ProjectionOptions {
    /// Events read from the log and committed per transaction.
    pub batch: usize,
    /// Session rows kept in memory between batches; closed ones are dropped first.
    pub cache: usize,
}

impl Default for ProjectionOptions {
    fn default() -> Self {
        Self { batch: 2_000, cache: 50_000 }
    }
}

/// The session-list projection over one log and one store.
pub struct Projection {
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    options: ProjectionOptions,
    fold: SessionFold,
}

impl Projection {
    /// A projection of `log` into `store`.
    pub fn new(log: Arc<dyn EventLog>, store: Arc<dyn ReadStore>, options: ProjectionOptions) -> Self {
        Self { log, store, options, fold: SessionFold::default() }
    }

    /// The store it writes to, for queries.
    pub fn store(&self) -> &Arc<dyn ReadStore> {
        &self.store
    }

    /// Drops the read model and its checkpoint, so the next run rebuilds from 0.
    pub async fn reset(&mut self) -> Result<(), ProjectionError> {
        self.fold = SessionFold::default();
        self.store.reset(SESSIONS).await?;
        Ok(())
    }

    /// Folds everything up to the log's current end; returns the checkpoint reached.
    /// `progress` is called after each batch with (checkpoint, head) for progress bars.
    pub async fn catch_up(&mut self, mut progress: impl FnMut(u64, u64)) -> Result<u64, ProjectionError> {
        let mut position = self.store.checkpoint(SESSIONS).await?;
        let head = self.log.head().await?;
        let mut existing = batches(self.log.clone(), position, None, self.options.batch);
        while let Some(batch) = existing.next().await {
            let batch = batch?;
            let Some(last) = batch.last().map(|e| e.position) else { break };
            self.commit(&batch, last).await?;
            position = last;
            progress(position, head.max(position));
        }
        Ok(position)
    }

    /// Resets, then catches up from 0.
    pub async fn rebuild(&mut self, progress: impl FnMut(u64, u64)) -> Result<u64, ProjectionError> {
        self.reset().await?;
        self.catch_up(progress).await
    }

    /// Follows the log until `shutdown` completes: catches up from the checkpoint, then
    /// follows live, committing events that arrive together together (up to the batch size).
    /// A failure is logged and followed by a resume from the stored checkpoint.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>) {
        let options = FollowOptions::new("the read-model projection").batch(self.options.batch);
        // The projection retries every failure, so following ends only at shutdown.
        let _ = follow(self.log.clone(), self, options, shutdown).await;
    }

    async fn commit(&mut self, events: &[RecordedEvent], checkpoint: u64) -> Result<(), ProjectionError> {
        let outcome = self.fold_and_commit(events, checkpoint).await;
        if outcome.is_err() {
            // The cache may be ahead of the store now: forget it, the store is the truth.
            self.fold = SessionFold::default();
        }
        outcome
    }

    async fn fold_and_commit(&mut self, events: &[RecordedEvent], checkpoint: u64) -> Result<(), ProjectionError> {
        for recorded in events {
            self.fold.apply(self.store.as_ref(), recorded).await?;
        }
        let changes = self.fold.take_changes();
        let teams = std::mem::take(&mut self.fold.teams);
        self.store.commit_batch(SESSIONS, &Batch { sessions: &changes, teams: &teams }, checkpoint).await?;
        self.fold.trim(self.options.cache);
        Ok(())
    }
}

#[async_trait]
impl Follower for Projection {
    type Error = ProjectionError;

    async fn resume_from(&mut self) -> Result<u64, ProjectionError> {
        Ok(self.store.checkpoint(SESSIONS).await?)
    }

    async fn handle(&mut self, events: Vec<RecordedEvent>) -> Result<(), ProjectionError> {
        let Some(last) = events.last().map(|e| e.position) else { return Ok(()) };
        self.commit(&events, last).await
    }
}

/// The in-memory side of the fold: rows of sessions seen recently (as stored after the last
/// commit, plus the current batch), for those changed in the current batch the row as
/// stored before it, and the teams onboarded in the current batch.
#[derive(Default)]
struct SessionFold {
    rows: HashMap<Uuid, SessionRow>,
    before: HashMap<Uuid, Option<SessionRow>>,
    teams: Vec<TeamRow>,
}

impl SessionFold {
    async fn apply(&mut self, store: &dyn ReadStore, recorded: &RecordedEvent) -> Result<(), ProjectionError> {
        let event = match recorded.stream.kind() {
            AggregateKind::Conversation => recorded.decode()?,
            AggregateKind::Team if recorded.event_type == "TeamCreated" => recorded.decode()?,
            AggregateKind::Faq
                if matches!(recorded.event_type.as_str(), "FaqCandidateApproved" | "FaqCandidateRejected") =>
            {
                recorded.decode()?
            }
            _ => return Ok(()),
        };
        let event = match event {
            Event::Conversation(event) => event,
            Event::Team(TeamEvent::TeamCreated(e)) => {
                self.teams.push(TeamRow {
                    team: recorded.team.to_string(),
                    name: e.name,
                    created_at: recorded.occurred_at,
                    cloned_from: e.cloned_from.map(String::from),
                });
                return Ok(());
            }
            Event::Faq(FaqEvent::FaqCandidateApproved(FaqCandidateApproved { candidate_id, .. }))
            | Event::Faq(FaqEvent::FaqCandidateRejected(FaqCandidateRejected { candidate_id })) => {
                // A candidate is a session's question; only the session's own team settles it.
                if let Some(row) = self.row(store, candidate_id).await? {
                    if row.team == recorded.team.as_str() {
                        row.candidate = None;
                    }
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        if let switchboard_schemas::ConversationEvent::SessionOpened(e) = &event {
            let row = SessionRow::opened(recorded.team.as_str(), e.session_id, e.user.as_str(), recorded.occurred_at);
            let previous = self.rows.insert(e.session_id, row);
            self.before.entry(e.session_id).or_insert(previous);
            return Ok(());
        }
        // An event of a session never opened has nothing to attach to.
        if let Some(row) = self.row(store, session_of(&event)).await? {
            row.apply(&event, recorded.occurred_at);
        }
        Ok(())
    }

    /// The row of a session about to change (loaded from the store when not in memory), its
    /// stored form remembered for the rollup; none for a session never opened.
    async fn row(&mut self, store: &dyn ReadStore, id: Uuid) -> Result<Option<&mut SessionRow>, ProjectionError> {
        let row = match self.rows.entry(id) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => match store.load_session(id).await? {
                Some(row) => entry.insert(row),
                None => return Ok(None),
            },
        };
        self.before.entry(id).or_insert_with(|| Some(row.clone()));
        Ok(Some(row))
    }

    fn take_changes(&mut self) -> Vec<RowChange> {
        let mut changes: Vec<RowChange> = self
            .before
            .drain()
            .filter_map(|(id, before)| self.rows.get(&id).map(|after| RowChange { before, after: after.clone() }))
            .collect();
        changes.sort_by_key(|c| c.after.session_id);
        changes
    }

    /// Keeps memory bounded: closed sessions go first, then everything if still too many.
    fn trim(&mut self, capacity: usize) {
        if self.rows.len() <= capacity {
            return;
        }
        self.rows.retain(|_, row| row.closed_at.is_none());
        if self.rows.len() > capacity {
            self.rows.clear();
        }
    }
}
