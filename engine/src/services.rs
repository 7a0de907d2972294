//! The asynchronous core: one follower reads the log from the start and keeps the pending
//! work — questions waiting for a match, outbound messages waiting for delivery, timers
//! waiting to come due, attachments waiting to be fetched (and group chats, paraphrases to
//! learn) — and workers clear it through the [`Runtime`].
//!
//! Everything pending is derived from the log, so a restart loses nothing: after catching up
//! the follower hands over whatever is still pending (a crash between deciding and sending is
//! redelivered with the same idempotency key) and then follows live.
//!
//! With several engine instances, pending work is kept for every conversation but started
//! only for the parts this instance holds ([`Shards`]); when it gains a part, that part's
//! pending work starts at once, which is how a stopped instance's work is taken over.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::FutureExt;
use switchboard_schemas::attachment::{image_size, ContentHash, MediaType};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{AttachmentReceived, GroupChatRequested, MatchDecision};
use switchboard_schemas::{ConversationEvent, Event, MessageId, RecordedEvent, StreamId, TeamId, UserId};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::blobs::{Blob, BlobStore};
use crate::conversation::{AttachmentOutcome, Command, DeliveryOutcome, Rejection};
use crate::follow::{follow, stop_signal, Failure, FollowOptions, Follower, Stop};
use crate::ports::{
    DeliveryError, FetchError, GroupChatOrder, GroupChats, Matcher, MediaFetcher, NoGroupChats, Notifier, Outbound,
    Ranking, RephraseError, RephraseRequest, Rephrased, Rephraser,
};
use crate::runtime::{CommandError, Runtime};
use crate::shards::{part_of, Shard, Shards};
use crate::timers::TimerQueue;

/// Tunables of the asynchronous core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Candidates asked of the matcher per question.
    pub match_limit: usize,
    /// Delivery attempts before giving up on an outbound message.
    pub max_delivery_attempts: u32,
    /// The first retry delay; doubled per attempt.
    pub retry_base: Duration,
    /// The conversations whose matching, deliveries and timers this instance handles (the
    /// set may change while it runs: gained parts' pending work is taken up at once); none
    /// for an instance that only follows the log (to report health and keep its matcher
    /// current) while others do the work.
    pub shards: Option<Arc<Shards>>,
    /// Attempts to fetch an attachment's bytes from its channel before giving up on it (a
    /// blob store that fails is waited for without counting).
    pub max_fetch_attempts: u32,
    /// The longest pause between two attempts to fetch an attachment (the pause doubles
    /// from `retry_base` up to this).
    pub longest_fetch_retry: Duration,
    /// The largest attachment this instance stores, whatever a team allows.
    pub max_attachment_bytes: u64,
    /// How often attachments past their team's retention are deleted.
    pub retention_sweep_every: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            match_limit: 5,
            max_delivery_attempts: 5,
            retry_base: Duration::from_millis(500),
            shards: Some(Shards::fixed(Shard::ALL)),
            // 0.5 s doubling to 10 min: 300 attempts span about two days, inside the three
            // days WeCom keeps media.
            max_fetch_attempts: 300,
            longest_fetch_retry: Duration::from_secs(600),
            max_attachment_bytes: switchboard_schemas::bounds::MAX_ATTACHMENT_BYTES,
            retention_sweep_every: Duration::from_secs(3600),
        }
    }
}

/// What the core reports to `/healthz` and metrics, including how much work this instance
/// did, so the work of several instances can be added up and compared with the log.
#[derive(Debug, Default)]
pub struct CoreHealth {
    caught_up: AtomicBool,
    position: AtomicU64,
    log_ok: AtomicBool,
    /// Questions this instance matched (results recorded).
    pub matched: AtomicU64,
    /// Outbound messages this instance handed to the notifier.
    pub sends: AtomicU64,
    /// Timers this instance fired.
    pub timers_fired: AtomicU64,
    /// Conversation parts this instance works on now.
    pub parts_held: AtomicU64,
    /// Deliveries this instance attempted that failed (retried or given up).
    pub delivery_failures: AtomicU64,
    /// Work waiting, as of the last batch of the log the core read.
    pub pending: PendingCounts,
    /// Attachments this instance fetched and stored.
    pub attachments_stored: AtomicU64,
    /// Attachments this instance gave up fetching.
    pub attachments_failed: AtomicU64,
    /// Attachments whose bytes this instance deleted under their team's retention.
    pub attachments_removed: AtomicU64,
    /// Confident answers sent in a generative model's words.
    pub rephrased: AtomicU64,
    /// Confident answers sent in the FAQ's own words because the model failed, timed out
    /// or wrote something not grounded in the FAQ.
    pub rephrase_fallbacks: AtomicU64,
    /// Items set aside because working on them panicked, newest last.
    parked: Mutex<VecDeque<ParkedItem>>,
    /// Items ever parked (the list keeps the last [`MAX_PARKED`]).
    pub parked_total: AtomicU64,
    /// Core tasks that ended: the core no longer does that work until restarted.
    stopped: Mutex<Vec<CoreTask>>,
}

/// How much work the core has seen queued and not yet seen done, by kind (every
/// conversation's, also those another instance works on).
#[derive(Debug, Default)]
pub struct PendingCounts {
    /// Questions waiting for a match.
    pub questions: AtomicU64,
    /// Outbound messages waiting for delivery.
    pub deliveries: AtomicU64,
    /// Group chats waiting to be created.
    pub group_chats: AtomicU64,
    /// Timers this instance fires, waiting to come due.
    pub timers: AtomicU64,
    /// Attachments waiting to be fetched.
    pub attachments: AtomicU64,
}

/// The most parked items kept for inspection; older ones are counted, not kept.
pub const MAX_PARKED: usize = 1_000;

/// The kinds of work the core does for one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    /// Reading one event of the log into the pending work.
    Event,
    /// Matching a question.
    Match,
    /// Delivering an outbound message.
    Delivery,
    /// Creating a group chat.
    GroupChat,
    /// Learning a paraphrase.
    Paraphrase,
    /// Firing a timer.
    Timer,
    /// Fetching and storing an attachment.
    Attachment,
}

/// One item the core set aside because working on it panicked. It is not retried (it
/// would panic again and again); the rest of the core goes on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ParkedItem {
    /// What was being done.
    pub kind: WorkKind,
    /// The conversation or catalog it belongs to.
    pub stream: Option<StreamId>,
    /// The item: a timer, outbound message or session id, a message id, or a log position.
    pub item: String,
    /// The panic's message.
    pub reason: String,
    /// When it was set aside.
    pub at: DateTime<Utc>,
}

/// The long-running tasks of the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoreTask {
    /// Follows the log and starts work.
    Follower,
    /// Fires due timers.
    Timers,
    /// Deletes attachments past their team's retention.
    Retention,
}

impl CoreHealth {
    /// True once the follower has read the log up to where it was at start-up.
    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Relaxed)
    }

    /// The last global position the follower processed.
    pub fn position(&self) -> u64 {
        self.position.load(Ordering::Relaxed)
    }

    /// False while the follower cannot read the log.
    pub fn log_ok(&self) -> bool {
        self.log_ok.load(Ordering::Relaxed)
    }

    /// The items set aside because they panicked, oldest first (at most [`MAX_PARKED`]).
    pub fn parked(&self) -> Vec<ParkedItem> {
        self.parked.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    /// The core tasks that have ended; any at all means the instance is degraded.
    pub fn stopped_tasks(&self) -> Vec<CoreTask> {
        self.stopped.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn park(&self, item: ParkedItem) {
        error!(kind = ?item.kind, stream = ?item.stream.as_ref().map(ToString::to_string), item = %item.item,
            reason = %item.reason, "working on an item panicked; it is parked and the core goes on");
        self.parked_total.fetch_add(1, Ordering::Relaxed);
        let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        if parked.len() == MAX_PARKED {
            parked.pop_front();
        }
        parked.push_back(item);
    }
}

/// Marks a core task as stopped when it ends other than by shutdown (by returning early or
/// by unwinding).
struct TaskGuard {
    task: CoreTask,
    health: Arc<CoreHealth>,
}

impl TaskGuard {
    /// The task ends because the core is shutting down: nothing is degraded.
    fn stopping(self) {
        std::mem::forget(self);
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        error!(task = ?self.task, "a core task stopped; /healthz reports the instance as degraded");
        self.health.stopped.lock().unwrap_or_else(|e| e.into_inner()).push(self.task);
    }
}

/// The message a panic carried.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Which teams' confident answers a generative model rewords, and how long it may take.
#[derive(Debug, Clone)]
pub struct RephraseOptions {
    /// Longer than this and the FAQ's own words are sent.
    pub timeout: Duration,
    /// The teams that use it (none: every team).
    pub teams: Option<BTreeSet<TeamId>>,
}

/// The ports the core drives.
pub struct Core {
    runtime: Arc<Runtime>,
    matcher: Arc<dyn Matcher>,
    notifier: Arc<dyn Notifier>,
    group_chats: Arc<dyn GroupChats>,
    rephraser: Option<(Arc<dyn Rephraser>, RephraseOptions)>,
    attachments: Option<(Arc<dyn MediaFetcher>, Arc<dyn BlobStore>)>,
    /// Attachments whose bytes are kept, by team and blob, for retention (those of the
    /// conversations this instance follows).
    kept: Mutex<KeptByTeam>,
    /// Bounds the attachments fetched at once (each may hold 20 MiB), so a backlog after a
    /// restart or an outage does not take the memory of every file at once.
    fetching: tokio::sync::Semaphore,
    config: CoreConfig,
    health: Arc<CoreHealth>,
    timers: Arc<TimerQueue>,
}

/// Running core tasks; dropping it stops them.
pub struct CoreHandle {
    tasks: JoinSet<()>,
    health: Arc<CoreHealth>,
    stop: Stop,
}

impl CoreHandle {
    /// The core's health.
    pub fn health(&self) -> Arc<CoreHealth> {
        self.health.clone()
    }

    /// Stops the core: the follower finishes the batch it is reading, work in flight is
    /// dropped (it is derived from the log, so the next start takes it up again).
    pub async fn shutdown(mut self) {
        self.stop.stop();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Core {
    /// A core over the runtime and the answering and delivery ports.
    pub fn new(
        runtime: Arc<Runtime>,
        matcher: Arc<dyn Matcher>,
        notifier: Arc<dyn Notifier>,
        config: CoreConfig,
    ) -> Self {
        Self {
            runtime,
            matcher,
            notifier,
            group_chats: Arc::new(NoGroupChats),
            rephraser: None,
            attachments: None,
            kept: Mutex::default(),
            fetching: tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES),
            config,
            health: Arc::new(CoreHealth::default()),
            timers: Arc::new(TimerQueue::default()),
        }
    }

    /// Creates requested group chats through `group_chats` (none can be created without).
    pub fn with_group_chats(mut self, group_chats: Arc<dyn GroupChats>) -> Self {
        self.group_chats = group_chats;
        self
    }

    /// Rewords confident answers with `rephraser` (off without): the FAQ's own words are
    /// sent whenever it fails, is slow or strays from the FAQ.
    pub fn with_rephraser(mut self, rephraser: Arc<dyn Rephraser>, options: RephraseOptions) -> Self {
        self.rephraser = Some((rephraser, options));
        self
    }

    /// Fetches attachments' bytes with `fetcher` into `blobs` (without, they wait in the
    /// log until an instance that has both takes them up).
    pub fn with_attachments(mut self, fetcher: Arc<dyn MediaFetcher>, blobs: Arc<dyn BlobStore>) -> Self {
        self.attachments = Some((fetcher, blobs));
        self
    }

    /// Starts the follower and the timer worker.
    pub fn spawn(self) -> CoreHandle {
        let core = Arc::new(self);
        let health = core.health.clone();
        let (stop, stopped) = stop_signal();
        let mut tasks = JoinSet::new();
        let guard = |task| TaskGuard { task, health: health.clone() };
        let (follower, timers) = (guard(CoreTask::Follower), guard(CoreTask::Timers));
        let log = core.runtime.log().clone();
        let mut work = CoreFollower::new(core.clone());
        let until = stopped.clone().wait();
        tasks.spawn(async move {
            // The core retries every failure of the log, so following ends only at shutdown.
            let _ = follow(log, &mut work, FollowOptions::new("the core"), until).await;
            follower.stopping();
        });
        if core.attachments.is_some() && core.config.shards.is_some() {
            let (core, stopped, retention) = (core.clone(), stopped.clone(), guard(CoreTask::Retention));
            tasks.spawn(async move {
                tokio::select! {
                    () = core.run_retention() => {}
                    () = stopped.wait() => retention.stopping(),
                }
            });
        }
        tasks.spawn(async move {
            tokio::select! {
                () = core.run_timers() => {}
                () = stopped.wait() => timers.stopping(),
            }
        });
        CoreHandle { tasks, health, stop }
    }

    /// Runs one item's work; a panic in it is caught and the item parked, so one bad item
    /// never stops the loop that serves every team.
    async fn supervised(
        &self,
        kind: WorkKind,
        stream: Option<&StreamId>,
        item: impl std::fmt::Display,
        work: impl Future<Output = ()>,
    ) {
        if let Err(payload) = AssertUnwindSafe(work).catch_unwind().await {
            self.health.park(ParkedItem {
                kind,
                stream: stream.cloned(),
                item: item.to_string(),
                reason: panic_message(payload.as_ref()),
                at: self.runtime.now(),
            });
        }
    }

    /// Starts one item's work on its own task, supervised.
    fn start(
        self: &Arc<Self>,
        workers: &mut JoinSet<()>,
        kind: WorkKind,
        stream: &StreamId,
        item: impl std::fmt::Display + Send + 'static,
        work: impl Future<Output = ()> + Send + 'static,
    ) {
        let core = self.clone();
        let stream = stream.clone();
        workers.spawn(async move { core.supervised(kind, Some(&stream), item, work).await });
    }

    /// Whether this instance works on `stream`.
    fn owns(&self, stream: &StreamId) -> bool {
        self.config.shards.as_ref().is_some_and(|shards| shards.owns(stream))
    }

    /// Puts a timer in the due set when this instance fires it, else parks it.
    fn schedule(&self, timer_id: Uuid, due: DateTime<Utc>, stream: StreamId) {
        let owned = self.owns(&stream);
        self.timers.insert(timer_id, due, stream, owned);
    }

    /// Catch-up is complete: everything still pending in the parts held is real work now.
    fn hand_over(self: &Arc<Self>, pending: &mut Pending, workers: &mut JoinSet<()>) {
        info!(
            matches = pending.matches.len(),
            deliveries = pending.deliveries.len(),
            timers = self.timers.held(),
            "caught up with the event log"
        );
        // Every part held now is taken up here; gains before this moment need nothing more.
        if let Some(shards) = &self.config.shards {
            shards.take_gained();
        }
        self.take_up(pending, |stream| self.owns(stream), workers);
        self.timers.start();
        self.health.caught_up.store(true, Ordering::Relaxed);
    }

    /// The parts held changed from `before` to `now`: timers move in or out of the due set,
    /// and once caught up, the pending work of gained parts starts at once (a stopped
    /// instance's questions, deliveries and group chats are taken over). Work already
    /// running in a lost part finishes; its commands carry expected versions, so a part
    /// taken over meanwhile cannot record it twice.
    fn parts_changed(
        self: &Arc<Self>,
        before: &BTreeSet<u32>,
        now: BTreeSet<u32>,
        pending: &mut Pending,
        workers: &mut JoinSet<()>,
    ) -> BTreeSet<u32> {
        let count = self.config.shards.as_ref().map_or(1, |shards| shards.count());
        // Not `now - before`: a part lost and gained again since the last look counts too.
        let gained = self.config.shards.as_ref().map(|shards| shards.take_gained()).unwrap_or_default();
        let lost: Vec<u32> = before.difference(&now).copied().collect();
        info!(held = ?now, gained = ?gained, lost = ?lost, "the conversation parts this instance works on changed");
        self.health.parts_held.store(now.len() as u64, Ordering::Relaxed);
        self.timers.rebalance(|stream| self.owns(stream));
        if self.health.caught_up() {
            self.take_up(pending, |stream| gained.contains(&part_of(stream, count)) && self.owns(stream), workers);
        }
        now
    }

    /// Starts the pending work of the conversations `which` selects.
    fn take_up(self: &Arc<Self>, pending: &mut Pending, which: impl Fn(&StreamId) -> bool, workers: &mut JoinSet<()>) {
        for (stream, (message_id, query)) in pending.matches.iter().filter(|(stream, _)| which(stream)) {
            self.start_answer(workers, stream, message_id.clone(), query.clone());
        }
        for outbound in pending.deliveries.values() {
            if which(&StreamId::conversation(&outbound.team, &outbound.user)) {
                self.start_delivery(workers, outbound.clone());
            }
        }
        for (stream, request) in pending.group_chats.iter().filter(|(stream, _)| which(stream)) {
            self.start_group_chat(workers, stream, request.clone());
        }
        for (stream, received) in pending.attachments.values().filter(|(stream, _)| which(stream)) {
            self.start_fetch(workers, stream, received.clone());
        }
        let sessions: Vec<Uuid> =
            pending.paraphrases.iter().filter(|(_, (stream, _))| which(stream)).map(|(session, _)| *session).collect();
        for session in sessions {
            if let Some((stream, learn)) = pending.paraphrases.remove(&session) {
                self.start_learning(workers, &stream, session, learn);
            }
        }
    }

    fn start_answer(self: &Arc<Self>, workers: &mut JoinSet<()>, stream: &StreamId, id: MessageId, query: String) {
        let work = self.clone().answer(stream.clone(), id.clone(), query);
        self.start(workers, WorkKind::Match, stream, id, work);
    }

    fn start_delivery(self: &Arc<Self>, workers: &mut JoinSet<()>, outbound: Outbound) {
        let stream = StreamId::conversation(&outbound.team, &outbound.user);
        let id = outbound.outbound_id;
        self.start(workers, WorkKind::Delivery, &stream, id, self.clone().deliver(outbound));
    }

    fn start_group_chat(self: &Arc<Self>, workers: &mut JoinSet<()>, stream: &StreamId, request: GroupChatRequested) {
        let id = request.session_id;
        let work = self.clone().create_group_chat(stream.clone(), request);
        self.start(workers, WorkKind::GroupChat, stream, id, work);
    }

    fn start_fetch(self: &Arc<Self>, workers: &mut JoinSet<()>, stream: &StreamId, received: AttachmentReceived) {
        let id = received.attachment_id;
        self.start(workers, WorkKind::Attachment, stream, id, self.clone().fetch_attachment(stream.clone(), received));
    }

    fn start_learning(self: &Arc<Self>, workers: &mut JoinSet<()>, stream: &StreamId, session: Uuid, learn: Learn) {
        self.start(workers, WorkKind::Paraphrase, stream, session, self.clone().learn(session, learn));
    }

    async fn observe(
        self: &Arc<Self>,
        recorded: &RecordedEvent,
        pending: &mut Pending,
        live: bool,
        workers: &mut JoinSet<()>,
    ) {
        let event = match recorded.decode() {
            Ok(event) => event,
            Err(e) => {
                error!(error = %e, "skipping an event the core cannot read");
                return;
            }
        };
        let stream = &recorded.stream;
        // With leased parts, pending work is kept for every conversation (so a part can be
        // taken over at once) and started only for the parts held; fixed parts never move,
        // so other instances' conversations are not followed at all.
        let mine = self.owns(stream);
        let followed = self.config.shards.as_ref().is_some_and(|shards| mine || shards.movable());
        let start = live && mine;
        match event {
            Event::Faq(faq) => {
                if let switchboard_schemas::FaqEvent::FaqParaphraseAdded(learned) = &faq {
                    if let Some(session) = learned.session_id {
                        pending.paraphrases.remove(&session);
                    }
                }
                if let Err(e) = self.matcher.apply(stream.team_id(), &faq).await {
                    error!(error = %e, team = %stream.team_id(), "FAQ index update failed");
                }
            }
            Event::Team(_) => {}
            Event::Conversation(_) if !followed => {}
            Event::Conversation(event) => match event {
                ConversationEvent::MatchRequested(m) => {
                    pending.matches.insert(stream.clone(), (m.message_id.clone(), m.query.clone()));
                    if start {
                        self.start_answer(workers, stream, m.message_id, m.query);
                    }
                }
                ConversationEvent::FaqMatched(m) => {
                    if pending.matches.get(stream).is_some_and(|(id, _)| *id == m.message_id) {
                        pending.matches.remove(stream);
                    }
                    pending.last_query.insert(stream.clone(), (m.session_id, m.query));
                }
                ConversationEvent::FeedbackGiven(f) if f.resolved => {
                    // The learning loop: the operator's wording becomes a paraphrase of the
                    // FAQ that resolved it, so the next operator who puts it that way is
                    // answered directly.
                    let Some((session, query)) = pending.last_query.get(stream).cloned() else { return };
                    if session != f.session_id {
                        return;
                    }
                    let learn = Learn { team: stream.team_id().clone(), faq_id: f.faq_id, text: query };
                    if start {
                        self.start_learning(workers, stream, session, learn.clone());
                    }
                    pending.paraphrases.insert(session, (stream.clone(), learn));
                }
                ConversationEvent::SessionClosed(_) | ConversationEvent::SessionOpened(_) => {
                    pending.matches.remove(stream);
                    pending.group_chats.remove(stream);
                }
                ConversationEvent::GroupChatRequested(request) => {
                    if start {
                        self.start_group_chat(workers, stream, request.clone());
                    }
                    pending.group_chats.insert(stream.clone(), request);
                }
                ConversationEvent::GroupChatCreated(_) => {
                    pending.group_chats.remove(stream);
                }
                ConversationEvent::AttachmentReceived(received) => {
                    if start {
                        self.start_fetch(workers, stream, received.clone());
                    }
                    pending.attachments.insert(received.attachment_id, (stream.clone(), received));
                }
                ConversationEvent::AttachmentStored(stored) => {
                    pending.attachments.remove(&stored.attachment_id);
                    let kept = KeptAttachment {
                        stream: stream.clone(),
                        attachment_id: stored.attachment_id,
                        stored_at: recorded.occurred_at,
                    };
                    let mut teams = self.kept.lock().unwrap_or_else(|e| e.into_inner());
                    teams.entry(stream.team_id().clone()).or_default().entry(stored.hash).or_default().push(kept);
                }
                ConversationEvent::AttachmentFetchFailed(failed) => {
                    pending.attachments.remove(&failed.attachment_id);
                }
                ConversationEvent::AttachmentRemoved(removed) => {
                    let mut teams = self.kept.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(hashes) = teams.get_mut(stream.team_id()) {
                        if let Some(kept) = hashes.get_mut(&removed.hash) {
                            kept.retain(|k| k.attachment_id != removed.attachment_id);
                            if kept.is_empty() {
                                hashes.remove(&removed.hash);
                            }
                        }
                    }
                }
                ConversationEvent::AnswerQueued(q) => {
                    let Some(user) = stream.conversation_user() else { return };
                    let outbound = Outbound {
                        team: stream.team_id().clone(),
                        user,
                        session_id: q.session_id,
                        outbound_id: q.outbound_id,
                        to: q.to,
                        purpose: q.purpose,
                        text: q.text,
                        channel: q.channel,
                    };
                    if start {
                        self.start_delivery(workers, outbound.clone());
                    }
                    pending.deliveries.insert(q.outbound_id, outbound);
                }
                ConversationEvent::AnswerDelivered(d) => {
                    pending.deliveries.remove(&d.outbound_id);
                }
                ConversationEvent::DeliveryFailed(f) if f.gave_up => {
                    pending.deliveries.remove(&f.outbound_id);
                }
                ConversationEvent::TimerScheduled(t) => self.schedule(t.timer_id, t.due_at, stream.clone()),
                ConversationEvent::TimerFired(t) => self.timers.remove(t.timer_id),
                ConversationEvent::TimerCancelled(t) => self.timers.remove(t.timer_id),
                _ => {}
            },
        }
    }

    async fn answer(self: Arc<Self>, stream: StreamId, message_id: MessageId, query: String) {
        let Some(user) = stream.conversation_user() else { return };
        let team = stream.team_id().clone();
        let ranking = loop {
            match self.matcher.rank(&team, &query, self.config.match_limit).await {
                Ok(ranking) => break ranking,
                Err(e) => {
                    warn!(error = %e, %team, "matching failed; retrying");
                    tokio::time::sleep(self.config.retry_base).await;
                }
            }
        };
        let rephrased = self.rephrase(&team, &query, &ranking).await;
        let command = Command::ApplyMatch { message_id, ranking, rephrased };
        if self.submit(&team, &user, command).await {
            self.health.matched.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The top candidate's answer reworded, when a rephraser is configured for the team
    /// and the policy will answer from that candidate; the model is never asked about a
    /// question Switchboard is not confident about.
    async fn rephrase(&self, team: &TeamId, query: &str, ranking: &Ranking) -> Option<Rephrased> {
        let (rephraser, options) = self.rephraser.as_ref()?;
        if options.teams.as_ref().is_some_and(|teams| !teams.contains(team)) {
            return None;
        }
        let policy = self.runtime.policy(team).await.ok()?;
        let MatchDecision::Answer { faq_id } = policy.decide_match(ranking) else {
            return None;
        };
        let faq = ranking.candidates.first().filter(|c| c.faq_id == faq_id)?;
        let request = RephraseRequest { team, question: query, faq };
        let outcome = match tokio::time::timeout(options.timeout, rephraser.rephrase(request)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(RephraseError::Timeout(options.timeout)),
        };
        match outcome {
            Ok(rephrased) if rephrased.faq_id == faq_id => {
                self.health.rephrased.fetch_add(1, Ordering::Relaxed);
                Some(rephrased)
            }
            Ok(_) => {
                warn!(%team, %faq_id, "the rephraser answered for another FAQ; sending the FAQ's own words");
                self.health.rephrase_fallbacks.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => {
                warn!(%team, %faq_id, error = %e, "no rephrased answer; sending the FAQ's own words");
                self.health.rephrase_fallbacks.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Pauses between attempts: from `retry_base`, doubling up to `longest`.
    fn backoff(&self, longest: Duration) -> Backoff {
        Backoff { next: self.config.retry_base, longest }
    }

    async fn deliver(self: Arc<Self>, outbound: Outbound) {
        let mut backoff = self.backoff(Duration::MAX);
        for attempt in 1..=self.config.max_delivery_attempts {
            self.health.sends.fetch_add(1, Ordering::Relaxed);
            let outcome = match self.notifier.deliver(&outbound).await {
                Ok(()) => DeliveryOutcome::Delivered,
                Err(DeliveryError::Retryable(error)) => {
                    DeliveryOutcome::Failed { error, gave_up: attempt == self.config.max_delivery_attempts }
                }
                Err(DeliveryError::Permanent(error)) => DeliveryOutcome::Failed { error, gave_up: true },
            };
            if matches!(outcome, DeliveryOutcome::Failed { .. }) {
                self.health.delivery_failures.fetch_add(1, Ordering::Relaxed);
            }
            let done = !matches!(outcome, DeliveryOutcome::Failed { gave_up: false, .. });
            let command = Command::RecordDelivery { outbound_id: outbound.outbound_id, outcome };
            self.submit(&outbound.team, &outbound.user, command).await;
            if done {
                return;
            }
            backoff.wait().await;
        }
    }

    /// Fetches an attachment's bytes from its channel into the blob store and records the
    /// outcome: stored (with the type read from the bytes), or given up on after
    /// `max_fetch_attempts`, or at once when it can never succeed (an unknown media id, over
    /// the size limit). Fetching again after a crash is harmless: the same bytes are stored
    /// once and the engine records one outcome.
    async fn fetch_attachment(self: Arc<Self>, stream: StreamId, received: AttachmentReceived) {
        let (Some(user), Some((fetcher, blobs))) = (stream.conversation_user(), self.attachments.clone()) else {
            return;
        };
        let team = stream.team_id().clone();
        let team_limit = self.runtime.policy(&team).await.map(|p| p.settings().attachments.max_bytes);
        let max_bytes =
            team_limit.map_or(self.config.max_attachment_bytes, |t| t.min(self.config.max_attachment_bytes));
        let mut backoff = self.backoff(self.config.longest_fetch_retry);
        let mut attempts = 0;
        let outcome = loop {
            let permit = self.fetching.acquire().await;
            attempts += 1;
            let fetched = tokio::time::timeout(ATTEMPT_TIMEOUT, fetcher.fetch(&team, &received.source, max_bytes));
            let failure = match fetched.await {
                Ok(Ok(bytes)) => break self.store(&team, blobs.as_ref(), bytes).await,
                Ok(Err(FetchError::Retryable(e))) => e,
                Ok(Err(e)) => break AttachmentOutcome::Failed { attempts, reason: e.to_string() },
                Err(_) => format!("the channel did not answer within {ATTEMPT_TIMEOUT:?}"),
            };
            if attempts >= self.config.max_fetch_attempts {
                break AttachmentOutcome::Failed { attempts, reason: failure };
            }
            warn!(%team, attachment = %received.attachment_id, attempts, error = %failure, "fetching an attachment failed; retrying");
            drop(permit);
            backoff.wait().await;
        };
        match &outcome {
            AttachmentOutcome::Stored { .. } => self.health.attachments_stored.fetch_add(1, Ordering::Relaxed),
            AttachmentOutcome::Failed { reason, .. } => {
                warn!(%team, attachment = %received.attachment_id, %reason, "gave up fetching an attachment");
                self.health.attachments_failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        self.submit(&team, &user, Command::RecordAttachment { attachment_id: received.attachment_id, outcome }).await;
    }

    /// Stores fetched bytes, retrying the store alone (the channel is not asked again) with
    /// the same backoff and as many attempts; gives up with the store's error.
    async fn store(&self, team: &TeamId, blobs: &dyn BlobStore, bytes: Vec<u8>) -> AttachmentOutcome {
        let media_type = MediaType::sniff(&bytes);
        let image_size = image_size(&bytes);
        let blob = Blob::new(bytes);
        let mut backoff = self.backoff(self.config.longest_fetch_retry);
        for attempt in 1..=self.config.max_fetch_attempts {
            let failure = match tokio::time::timeout(ATTEMPT_TIMEOUT, blobs.put(team, &blob, self.runtime.now())).await
            {
                Ok(Ok(info)) => {
                    return AttachmentOutcome::Stored { hash: info.hash, size: info.size, media_type, image_size };
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("the blob store did not answer within {ATTEMPT_TIMEOUT:?}"),
            };
            if attempt == self.config.max_fetch_attempts {
                return AttachmentOutcome::Failed { attempts: attempt, reason: failure };
            }
            warn!(%team, attempt, error = %failure, "storing an attachment failed; retrying");
            backoff.wait().await;
        }
        AttachmentOutcome::Failed { attempts: 0, reason: "no attempt was allowed (core.max_fetch_attempts = 0)".into() }
    }

    /// Deletes attachments past their team's retention, every `retention_sweep_every`.
    async fn run_retention(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.config.retention_sweep_every).await;
            if self.health.caught_up() {
                self.sweep().await;
            }
        }
    }

    /// Applies each team's retention; a panic in one team's sweep is parked and the others
    /// go on.
    async fn sweep(&self) {
        let Some((_, blobs)) = &self.attachments else { return };
        let teams: KeptByTeam = self.kept.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (team, kept) in teams {
            let item = format!("the retention of team {team}");
            self.supervised(WorkKind::Attachment, None, item, self.sweep_team(blobs.as_ref(), &team, kept)).await;
        }
    }

    /// Deletes every blob of the team last stored before its retention began (also those
    /// no event names), each only if it was not stored again meanwhile; then records the
    /// removal on every attachment of this instance's conversations that was stored before
    /// then and whose bytes are gone, whoever deleted them.
    async fn sweep_team(&self, blobs: &dyn BlobStore, team: &TeamId, kept: HashMap<ContentHash, Vec<KeptAttachment>>) {
        let Ok(policy) = self.runtime.policy(team).await else { return };
        let Some(days) = policy.settings().attachments.retention_days else { return };
        let Some(cutoff) = self.runtime.now().checked_sub_signed(chrono::Duration::days(i64::from(days))) else {
            return;
        };
        let listed = match blobs.list(team).await {
            Ok(listed) => listed,
            Err(e) => {
                warn!(%team, error = %e, "cannot list the team's attachments for retention; trying again later");
                return;
            }
        };
        // What this sweep did not delete remains: a blob another instance deleted before the
        // listing is not in it, one deleted after it is found gone at the next sweep.
        let mut remaining = HashSet::new();
        for info in listed {
            let deleted = info.stored_at < cutoff
                && match blobs.delete_stored_before(team, &info.hash, cutoff).await {
                    Ok(deleted) => deleted,
                    Err(e) => {
                        warn!(%team, error = %e, "cannot delete an attachment past retention; trying again later");
                        false
                    }
                };
            if !deleted {
                remaining.insert(info.hash);
            }
        }
        let gone = kept.into_iter().filter(|(hash, _)| !remaining.contains(hash)).flat_map(|(_, kept)| kept);
        for KeptAttachment { stream, attachment_id, .. } in
            gone.filter(|k| k.stored_at < cutoff && self.owns(&k.stream))
        {
            let Some(user) = stream.conversation_user() else { continue };
            let command = Command::RemoveAttachment { attachment_id, retention_days: days };
            if self.submit(team, &user, command).await {
                self.health.attachments_removed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Adds a confirmed wording to the FAQ's paraphrases (a no-op when already known, or
    /// when the FAQ was removed meanwhile).
    async fn learn(self: Arc<Self>, session: Uuid, learn: Learn) {
        let command = crate::catalog::CatalogCommand::AddParaphrase {
            faq_id: learn.faq_id.clone(),
            text: learn.text,
            session_id: Some(session),
        };
        match self.runtime.catalog(&learn.team, command, Causation::root(session)).await {
            Ok(committed) if committed.events > 0 => {
                info!(team = %learn.team, faq_id = %learn.faq_id, "learned a paraphrase from a resolved session");
            }
            Ok(_) => {}
            Err(e) => warn!(team = %learn.team, faq_id = %learn.faq_id, error = %e, "learning a paraphrase failed"),
        }
    }

    async fn create_group_chat(self: Arc<Self>, stream: StreamId, request: GroupChatRequested) {
        let Some(user) = stream.conversation_user() else { return };
        let team = stream.team_id().clone();
        let summary = match self.runtime.conversation_events(&team, &user).await {
            Ok(events) => summary(&events, request.session_id),
            Err(e) => {
                warn!(error = %e, %team, "cannot read the conversation for the group chat summary");
                String::new()
            }
        };
        let order = GroupChatOrder {
            team: team.clone(),
            session_id: request.session_id,
            chat_id: request.session_id.simple().to_string(),
            name: format!("{team} · {}", request.operator).chars().take(50).collect(),
            operator: request.operator,
            staff: request.staff,
            summary,
        };
        let mut backoff = self.backoff(Duration::MAX);
        for attempt in 1..=self.config.max_delivery_attempts {
            match self.group_chats.create(&order).await {
                Ok(chat_id) => {
                    self.submit(&team, &user, Command::RecordGroupChat { chat_id }).await;
                    return;
                }
                Err(DeliveryError::Retryable(error)) if attempt < self.config.max_delivery_attempts => {
                    warn!(%team, %error, attempt, "creating the group chat failed; retrying");
                    backoff.wait().await;
                }
                Err(e) => {
                    error!(%team, error = %e, "the group chat could not be created");
                    return;
                }
            }
        }
    }

    /// Submits a command from the core, retrying while the log is unavailable; true when it
    /// appended events.
    async fn submit(&self, team: &TeamId, user: &UserId, command: Command) -> bool {
        loop {
            match self.runtime.conversation(team, user, command.clone(), Causation::root(Uuid::now_v7())).await {
                Ok(committed) => return committed.events > 0,
                Err(CommandError::Log(e)) => {
                    warn!(error = %e, %team, "log unavailable while submitting; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    error!(error = %e, %team, "the core's command was refused");
                    return false;
                }
            }
        }
    }

    async fn run_timers(self: Arc<Self>) {
        let core: &Self = &self;
        let fire = move |timer_id, stream: StreamId| async move {
            let work = core.fire(timer_id, stream.clone());
            core.supervised(WorkKind::Timer, Some(&stream), timer_id, work).await;
        };
        self.timers.run(|| self.runtime.now(), fire).await;
    }

    async fn fire(&self, timer_id: Uuid, stream: StreamId) {
        let Some(user) = stream.conversation_user() else { return };
        let team = stream.team_id().clone();
        let command = Command::FireTimer { timer_id };
        match self.runtime.conversation(&team, &user, command, Causation::root(timer_id)).await {
            Ok(committed) => {
                if committed.events > 0 {
                    self.health.timers_fired.fetch_add(1, Ordering::Relaxed);
                }
                self.timers.remove(timer_id);
            }
            Err(CommandError::Rejected(Rejection::TimerNotDue(at))) => self.schedule(timer_id, at, stream),
            Err(e) => {
                warn!(error = %e, %timer_id, "firing a timer failed; retrying in a second");
                let retry = self.runtime.now() + chrono::Duration::seconds(1);
                self.schedule(timer_id, retry, stream);
            }
        }
    }
}

/// The core as a follower of the log: it reads the whole log from the start into the pending
/// work (kept in memory, so it resumes from the last event it read) and starts work for the
/// parts it holds.
struct CoreFollower {
    core: Arc<Core>,
    pending: Pending,
    workers: JoinSet<()>,
    position: u64,
    changes: Option<watch::Receiver<BTreeSet<u32>>>,
    held: BTreeSet<u32>,
    /// The parts held as last reported by [`Follower::interrupted`], not yet attended to.
    now_held: Option<BTreeSet<u32>>,
}

impl CoreFollower {
    /// Publishes how much work is pending, for `/metrics`.
    fn count_pending(&self) {
        let pending = &self.core.health.pending;
        pending.questions.store(self.pending.matches.len() as u64, Ordering::Relaxed);
        pending.deliveries.store(self.pending.deliveries.len() as u64, Ordering::Relaxed);
        pending.group_chats.store(self.pending.group_chats.len() as u64, Ordering::Relaxed);
        pending.timers.store(self.core.timers.held() as u64, Ordering::Relaxed);
        pending.attachments.store(self.pending.attachments.len() as u64, Ordering::Relaxed);
    }

    fn new(core: Arc<Core>) -> Self {
        let changes = core.config.shards.as_ref().map(|shards| shards.changes());
        let held = core.config.shards.as_ref().map(|shards| shards.held()).unwrap_or_default();
        core.health.parts_held.store(held.len() as u64, Ordering::Relaxed);
        Self { core, pending: Pending::default(), workers: JoinSet::new(), position: 0, changes, held, now_held: None }
    }
}

#[async_trait]
impl Follower for CoreFollower {
    type Error = std::convert::Infallible;

    async fn resume_from(&mut self) -> Result<u64, Self::Error> {
        Ok(self.position)
    }

    async fn handle(&mut self, events: Vec<RecordedEvent>) -> Result<(), Self::Error> {
        let core = &self.core;
        core.health.log_ok.store(true, Ordering::Relaxed);
        for recorded in events {
            self.position = recorded.position;
            let live = core.health.caught_up();
            let observe = core.observe(&recorded, &mut self.pending, live, &mut self.workers);
            core.supervised(WorkKind::Event, Some(&recorded.stream), recorded.position, observe).await;
            core.health.position.store(recorded.position, Ordering::Relaxed);
            while self.workers.try_join_next().is_some() {}
        }
        self.count_pending();
        Ok(())
    }

    async fn caught_up(&mut self, _position: u64) {
        self.core.health.log_ok.store(true, Ordering::Relaxed);
        if !self.core.health.caught_up() {
            self.core.hand_over(&mut self.pending, &mut self.workers);
        }
        self.count_pending();
    }

    async fn interrupted(&mut self) {
        self.now_held = Some(parts_changed(&mut self.changes).await);
    }

    async fn attend(&mut self) {
        if let Some(now) = self.now_held.take() {
            self.held = self.core.parts_changed(&self.held, now, &mut self.pending, &mut self.workers);
        }
    }

    fn retries(&self, _error: &Failure<Self::Error>) -> bool {
        self.core.health.log_ok.store(false, Ordering::Relaxed);
        true
    }
}

/// Work the follower has seen queued and not yet seen done.
#[derive(Default)]
struct Pending {
    matches: HashMap<StreamId, (MessageId, String)>,
    deliveries: HashMap<Uuid, Outbound>,
    group_chats: HashMap<StreamId, GroupChatRequested>,
    /// The wording last matched per conversation: (session, query).
    last_query: HashMap<StreamId, (Uuid, String)>,
    /// Confirmed resolutions whose wording is not yet learned, by session.
    paraphrases: HashMap<Uuid, (StreamId, Learn)>,
    /// Attachments whose bytes are not yet fetched, by attachment.
    attachments: HashMap<Uuid, (StreamId, AttachmentReceived)>,
}

/// The attachments whose bytes are kept, by team and blob.
type KeptByTeam = HashMap<TeamId, HashMap<ContentHash, Vec<KeptAttachment>>>;

/// An attachment whose bytes are kept, in the conversation that holds it.
#[derive(Debug, Clone)]
struct KeptAttachment {
    stream: StreamId,
    attachment_id: Uuid,
    /// When its bytes were recorded as stored.
    stored_at: DateTime<Utc>,
}

/// Pauses that double between attempts, up to a longest one.
struct Backoff {
    next: Duration,
    longest: Duration,
}

impl Backoff {
    /// Waits the next pause.
    async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(self.longest);
    }
}

/// Attachments fetched at once, at most.
const MAX_CONCURRENT_FETCHES: usize = 4;

/// The longest one attempt to fetch or store an attachment may take: a hung call must not
/// hold one of the few places for fetching for ever.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);

/// A wording to learn as a paraphrase of the FAQ it was resolved by.
#[derive(Debug, Clone)]
struct Learn {
    team: TeamId,
    faq_id: switchboard_schemas::FaqId,
    text: String,
}

/// Lines of a group chat's opening summary, at most.
const SUMMARY_LINES: usize = 20;
/// Characters per summary line, at most.
const SUMMARY_LINE_CHARS: usize = 200;

/// What was said in a session, for the group chat: the operator's messages and what was
/// sent to them, the last [`SUMMARY_LINES`], each cut to [`SUMMARY_LINE_CHARS`].
pub fn summary(events: &[RecordedEvent], session_id: Uuid) -> String {
    let mut lines: Vec<String> = Vec::new();
    for recorded in events {
        let Ok(Event::Conversation(event)) = recorded.decode() else { continue };
        let line = match event {
            ConversationEvent::MessageReceived(m) if m.session_id == session_id => format!("operator: {}", m.text),
            ConversationEvent::AnswerQueued(q)
                if q.session_id == session_id && matches!(q.to, switchboard_schemas::event::Recipient::Operator(_)) =>
            {
                format!("reply: {}", q.text)
            }
            _ => continue,
        };
        let mut line: String = line.replace('\n', " ").chars().take(SUMMARY_LINE_CHARS).collect();
        if line.chars().count() == SUMMARY_LINE_CHARS {
            line.push('…');
        }
        lines.push(line);
    }
    let skip = lines.len().saturating_sub(SUMMARY_LINES);
    lines.split_off(skip).join("\n")
}

/// Waits until the parts held change and returns them; never, for an instance without parts.
async fn parts_changed(changes: &mut Option<watch::Receiver<BTreeSet<u32>>>) -> BTreeSet<u32> {
    if let Some(receiver) = changes {
        if receiver.changed().await.is_ok() {
            return receiver.borrow_and_update().clone();
        }
    }
    futures::future::pending().await
}
