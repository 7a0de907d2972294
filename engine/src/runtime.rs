//! The runtime: load an aggregate, decide, append with the expected version; on a version
//! conflict reload and decide again. States are cached and caught up from the log's tail,
//! so a hot conversation is not replayed from the start on every command.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::{
    AggregateKind, ConversationEvent, DecodeError, Event, FaqEvent, NewEvent, RecordedEvent, StreamId, TeamEvent,
    TeamId, UserId,
};
use tracing::debug;
use uuid::Uuid;

use crate::catalog::{Catalog, CatalogCommand, CatalogRejection};
use crate::conversation::{self, Command, Context, Conversation, Rejection};
use crate::log::{AppendError, Commit, CommitError, EventLog, ExpectedVersion, LogError};
use crate::policy::{PolicyError, TeamPolicy};
use crate::ports::Clock;
use crate::team::{Team, TeamCommand, TeamRejection};

/// How many times a command is decided again after version conflicts before giving up.
/// Within one process commands on a stream are serialised, so conflicts only come from
/// other instances.
const MAX_ATTEMPTS: u32 = 16;
/// Stripes of the per-stream command lock.
const LOCK_STRIPES: usize = 256;
/// States kept in memory per aggregate kind.
const CACHE_CAPACITY: usize = 10_000;

/// Why a command did not take effect. Nothing is written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The conversation refused the command.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The team refused the command.
    #[error(transparent)]
    Team(#[from] TeamRejection),
    /// The catalog refused the command.
    #[error(transparent)]
    Catalog(#[from] CatalogRejection),
    /// The team was never created.
    #[error("team {0} does not exist; onboard it in the configuration first")]
    UnknownTeam(TeamId),
    /// The team's stored settings cannot be used.
    #[error("team {team} has unusable settings: {source}")]
    BadTeamSettings {
        /// The team.
        team: TeamId,
        /// What is wrong.
        #[source]
        source: PolicyError,
    },
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The events decided are more than the log takes in one commit; nothing was written.
    #[error(
        "the change is {bytes} bytes in one commit, more than the event log takes at once ({max} bytes); split it"
    )]
    TooLarge {
        /// The commit's stored size.
        bytes: usize,
        /// The most the log takes.
        max: usize,
    },
    /// The events decided cannot make one commit (more than a commit holds); nothing was
    /// written.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// A stored event could not be read.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The caller decided on a version of the stream that is no longer the latest.
    #[error("{stream} changed since you read it (it is at version {actual}, you read version {expected}); reload it and try again")]
    Stale {
        /// The stream.
        stream: StreamId,
        /// The version the caller read.
        expected: u64,
        /// The version now.
        actual: u64,
    },
    /// Others kept appending to the stream.
    #[error("stream {stream} kept changing; gave up after {attempts} attempts")]
    Contention {
        /// The stream.
        stream: StreamId,
        /// Attempts made.
        attempts: u32,
    },
}

/// Where a command's events landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The stream version after the command.
    pub version: u64,
    /// The global position of the last event written (0 when nothing was written).
    pub position: u64,
    /// How many events were written (0 for an idempotent repeat).
    pub events: usize,
}

/// An aggregate the runtime can load and append to.
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    /// The aggregate's event type.
    type Event: Clone + Into<Event>;
    /// Which streams hold it.
    const KIND: AggregateKind;
    /// Picks this aggregate's event out of any event.
    fn narrow(event: Event) -> Option<Self::Event>;
    /// Folds one event.
    fn fold(&mut self, event: &Self::Event);
    /// The stream version the state reflects.
    fn version(&self) -> u64;
}

impl Aggregate for Conversation {
    type Event = ConversationEvent;
    const KIND: AggregateKind = AggregateKind::Conversation;
    fn narrow(event: Event) -> Option<ConversationEvent> {
        match event {
            Event::Conversation(e) => Some(e),
            _ => None,
        }
    }
    fn fold(&mut self, event: &ConversationEvent) {
        self.apply(event);
    }
    fn version(&self) -> u64 {
        self.version
    }
}

impl Aggregate for Team {
    type Event = TeamEvent;
    const KIND: AggregateKind = AggregateKind::Team;
    fn narrow(event: Event) -> Option<TeamEvent> {
        match event {
            Event::Team(e) => Some(e),
            _ => None,
        }
    }
    fn fold(&mut self, event: &TeamEvent) {
        self.apply(event);
    }
    fn version(&self) -> u64 {
        self.version
    }
}

impl Aggregate for Catalog {
    type Event = FaqEvent;
    const KIND: AggregateKind = AggregateKind::Faq;
    fn narrow(event: Event) -> Option<FaqEvent> {
        match event {
            Event::Faq(e) => Some(e),
            _ => None,
        }
    }
    fn fold(&mut self, event: &FaqEvent) {
        self.apply(event);
    }
    fn version(&self) -> u64 {
        self.version
    }
}

/// A bounded map of recent states; evicts an arbitrary entry when full (states are always
/// caught up from the log, so eviction only costs a replay).
struct Cache<K, V> {
    entries: Mutex<HashMap<K, V>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Cache<K, V> {
    fn new() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }

    fn get(&self, key: &K) -> Option<V> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY && !entries.contains_key(&key) {
            if let Some(victim) = entries.keys().next().cloned() {
                entries.remove(&victim);
            }
        }
        entries.insert(key, value);
    }
}

/// Loads, decides and appends; the one way commands reach the log.
pub struct Runtime {
    log: Arc<dyn EventLog>,
    clock: Arc<dyn Clock>,
    conversations: Cache<StreamId, Conversation>,
    teams: Cache<StreamId, Team>,
    catalogs: Cache<StreamId, Catalog>,
    policies: Cache<TeamId, (u64, Arc<TeamPolicy>)>,
    locks: Vec<tokio::sync::Mutex<()>>,
    metrics: RuntimeMetrics,
}

/// Counters of what the runtime did since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct RuntimeMetrics {
    /// Commands that appended events.
    pub committed: AtomicU64,
    /// Commands that changed nothing (idempotent repeats, stale timers or matches).
    pub unchanged: AtomicU64,
    /// Commands refused by a domain rule.
    pub rejected: AtomicU64,
    /// Version conflicts that made a command be decided again.
    pub conflicts: AtomicU64,
    /// Events appended.
    pub events: AtomicU64,
}

/// A stable stripe index for a stream (FNV-1a, so it does not depend on a random seed).
fn stripe(stream: &StreamId) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in stream.to_string().bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash % LOCK_STRIPES as u64) as usize
}

/// Fresh ids for one decision: a UUIDv7 base with a counter in its low bits, so the ids of
/// one commit are unique, sortable and reproducible from the base.
fn id_source(base: Uuid) -> impl FnMut() -> Uuid {
    let mut counter: u128 = 0;
    move || {
        counter += 1;
        Uuid::from_u128(base.as_u128() ^ counter)
    }
}

impl Runtime {
    /// A runtime over a log and a clock.
    pub fn new(log: Arc<dyn EventLog>, clock: Arc<dyn Clock>) -> Self {
        Self {
            log,
            clock,
            conversations: Cache::new(),
            teams: Cache::new(),
            catalogs: Cache::new(),
            policies: Cache::new(),
            locks: (0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            metrics: RuntimeMetrics::default(),
        }
    }

    /// What the runtime did since start.
    pub fn metrics(&self) -> &RuntimeMetrics {
        &self.metrics
    }

    /// The log commands are appended to.
    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// The clock decisions are made with.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Runs a command on one operator's conversation.
    pub async fn conversation(
        &self,
        team: &TeamId,
        user: &UserId,
        command: Command,
        causation: Causation,
    ) -> Result<Committed, CommandError> {
        self.conversation_expecting(team, user, command, causation, None).await
    }

    /// Runs a command on one operator's conversation if it is still at the `expected`
    /// version (when given), so a person acting on what they read cannot undo a change
    /// they have not seen ([`CommandError::Stale`] otherwise).
    #[tracing::instrument(skip_all, fields(team = %team, user = %user, command = command_kind(&command)))]
    pub async fn conversation_expecting(
        &self,
        team: &TeamId,
        user: &UserId,
        command: Command,
        causation: Causation,
        expected: Option<u64>,
    ) -> Result<Committed, CommandError> {
        let stream = StreamId::conversation(team, user);
        // A configuration change between loading the policy and appending is harmless: the
        // decision used the policy in force when it was made.
        let policy = self.policy(team).await?;
        self.execute(&self.conversations, &stream, causation, |state: &Conversation, now, ids| {
            still_at(&stream, state, expected)?;
            let mut ctx = Context { now, policy: &policy, ids };
            Ok(conversation::decide(state, user, &command, &mut ctx)?)
        })
        .await
    }

    /// Runs a command on a team.
    pub async fn team(
        &self,
        team: &TeamId,
        command: TeamCommand,
        causation: Causation,
    ) -> Result<Committed, CommandError> {
        self.team_expecting(team, command, causation, None).await
    }

    /// Runs a command on a team if its stream is still at the `expected` version (when
    /// given); see [`Runtime::conversation_expecting`].
    pub async fn team_expecting(
        &self,
        team: &TeamId,
        command: TeamCommand,
        causation: Causation,
        expected: Option<u64>,
    ) -> Result<Committed, CommandError> {
        let stream = StreamId::team(team);
        self.execute(&self.teams, &stream, causation, |state: &Team, _, _| {
            still_at(&stream, state, expected)?;
            Ok(state.decide(&command)?)
        })
        .await
    }

    /// Runs a command on a team's FAQ catalog.
    pub async fn catalog(
        &self,
        team: &TeamId,
        command: CatalogCommand,
        causation: Causation,
    ) -> Result<Committed, CommandError> {
        self.require_team(team).await?;
        let stream = StreamId::faq(team);
        self.execute(&self.catalogs, &stream, causation, |state: &Catalog, _, _| Ok(state.decide(&command)?)).await
    }

    /// The current state of a conversation.
    pub async fn load_conversation(&self, team: &TeamId, user: &UserId) -> Result<Conversation, CommandError> {
        self.load(&self.conversations, &StreamId::conversation(team, user)).await
    }

    /// The current state of a team (name `None` if it does not exist).
    pub async fn load_team(&self, team: &TeamId) -> Result<Team, CommandError> {
        self.load(&self.teams, &StreamId::team(team)).await
    }

    /// The current state of a team's FAQ catalog.
    pub async fn load_catalog(&self, team: &TeamId) -> Result<Catalog, CommandError> {
        self.load(&self.catalogs, &StreamId::faq(team)).await
    }

    /// The stored events of a conversation, for views and audit.
    pub async fn conversation_events(&self, team: &TeamId, user: &UserId) -> Result<Vec<RecordedEvent>, CommandError> {
        self.conversation_events_after(team, user, 0).await
    }

    /// The events of one operator's conversation after stream version `after_version`.
    pub async fn conversation_events_after(
        &self,
        team: &TeamId,
        user: &UserId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, CommandError> {
        Ok(self.log.read_stream(&StreamId::conversation(team, user), after_version).await?)
    }

    /// The global position of the log's last event (how far the read models may trail).
    pub async fn head(&self) -> Result<u64, CommandError> {
        Ok(self.log.head().await?)
    }

    /// The team's compiled policy, recompiled only when its stream moved.
    pub async fn policy(&self, team: &TeamId) -> Result<Arc<TeamPolicy>, CommandError> {
        let state = self.require_team(team).await?;
        if let Some((version, policy)) = self.policies.get(team) {
            if version == state.version {
                return Ok(policy);
            }
        }
        let policy =
            Arc::new(state.policy().map_err(|source| CommandError::BadTeamSettings { team: team.clone(), source })?);
        self.policies.put(team.clone(), (state.version, policy.clone()));
        Ok(policy)
    }

    async fn require_team(&self, team: &TeamId) -> Result<Team, CommandError> {
        let state = self.load_team(team).await?;
        if state.name.is_none() {
            return Err(CommandError::UnknownTeam(team.clone()));
        }
        Ok(state)
    }

    async fn load<A: Aggregate>(&self, cache: &Cache<StreamId, A>, stream: &StreamId) -> Result<A, CommandError> {
        let mut state = cache.get(stream).unwrap_or_default();
        let newer = self.log.read_stream(stream, state.version()).await?;
        if newer.is_empty() {
            return Ok(state);
        }
        for recorded in &newer {
            let event = A::narrow(recorded.decode()?).ok_or_else(|| LogError::Corrupt {
                position: recorded.position,
                detail: format!("{} does not belong in stream {stream}", recorded.event_type),
            })?;
            state.fold(&event);
        }
        cache.put(stream.clone(), state.clone());
        Ok(state)
    }

    async fn execute<A: Aggregate>(
        &self,
        cache: &Cache<StreamId, A>,
        stream: &StreamId,
        causation: Causation,
        mut decide: impl FnMut(&A, DateTime<Utc>, &mut dyn FnMut() -> Uuid) -> Result<Vec<A::Event>, CommandError>,
    ) -> Result<Committed, CommandError> {
        // Commands on one stream take turns in this process: they would only conflict.
        let _turn = self.locks[stripe(stream)].lock().await;
        for attempt in 1..=MAX_ATTEMPTS {
            if attempt > 1 {
                // Another instance is writing the same stream: back off a little, with
                // jitter so the instances do not collide again in step.
                let jitter = u64::from(Uuid::now_v7().as_bytes()[15] % 8);
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt) * 2 + jitter)).await;
            }
            let mut state = self.load(cache, stream).await?;
            let now = self.clock.now();
            let mut ids = id_source(Uuid::now_v7());
            let events = decide(&state, now, &mut ids).inspect_err(|e| {
                if matches!(
                    e,
                    CommandError::Rejected(_)
                        | CommandError::Team(_)
                        | CommandError::Catalog(_)
                        | CommandError::Stale { .. }
                ) {
                    self.metrics.rejected.fetch_add(1, Ordering::Relaxed);
                }
            })?;
            if events.is_empty() {
                self.metrics.unchanged.fetch_add(1, Ordering::Relaxed);
                return Ok(Committed { version: state.version(), position: 0, events: 0 });
            }
            let encoded =
                events.iter().map(|e| NewEvent::encode(&e.clone().into(), Uuid::now_v7(), now, causation)).collect();
            let commit = Commit::new(Uuid::now_v7(), encoded)?;
            match self.log.append(stream, ExpectedVersion::Exact(state.version()), commit).await {
                Ok(appended) => {
                    events.iter().for_each(|e| state.fold(e));
                    if state.version() == appended.version {
                        cache.put(stream.clone(), state);
                    }
                    self.metrics.committed.fetch_add(1, Ordering::Relaxed);
                    self.metrics.events.fetch_add(events.len() as u64, Ordering::Relaxed);
                    debug!(%stream, version = appended.version, events = events.len(), "committed");
                    return Ok(Committed {
                        version: appended.version,
                        position: appended.position,
                        events: events.len(),
                    });
                }
                Err(AppendError::Conflict { expected, actual, .. }) => {
                    self.metrics.conflicts.fetch_add(1, Ordering::Relaxed);
                    debug!(%stream, expected, actual, attempt, "version conflict; deciding again");
                }
                Err(AppendError::Log(e)) => return Err(e.into()),
                Err(AppendError::TooLarge { bytes, max }) => return Err(CommandError::TooLarge { bytes, max }),
            }
        }
        Err(CommandError::Contention { stream: stream.clone(), attempts: MAX_ATTEMPTS })
    }
}

/// Refuses a decision on a state that moved past the version the caller read.
fn still_at<A: Aggregate>(stream: &StreamId, state: &A, expected: Option<u64>) -> Result<(), CommandError> {
    match expected {
        Some(expected) if expected != state.version() => {
            Err(CommandError::Stale { stream: stream.clone(), expected, actual: state.version() })
        }
        _ => Ok(()),
    }
}

/// A fixed name per command for spans and metrics (never its content).
pub fn command_kind(command: &Command) -> &'static str {
    match command {
        Command::ReceiveMessage { .. } => "receive_message",
        Command::ReceiveAttachment { .. } => "receive_attachment",
        Command::RecordAttachment { .. } => "record_attachment",
        Command::RemoveAttachment { .. } => "remove_attachment",
        Command::ApplyMatch { .. } => "apply_match",
        Command::GiveFeedback { .. } => "give_feedback",
        Command::RequestHuman => "request_human",
        Command::CloseByOperator => "close_by_operator",
        Command::Transfer { .. } => "transfer",
        Command::Acknowledge { .. } => "acknowledge",
        Command::HumanReply { .. } => "human_reply",
        Command::AddRemark { .. } => "add_remark",
        Command::ChangeStatus { .. } => "change_status",
        Command::Close { .. } => "close",
        Command::Reopen { .. } => "reopen",
        Command::RequestGroupChat { .. } => "request_group_chat",
        Command::RecordGroupChat { .. } => "record_group_chat",
        Command::FireTimer { .. } => "fire_timer",
        Command::RecordDelivery { .. } => "record_delivery",
    }
}
