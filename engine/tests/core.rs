//! The asynchronous core in-process, on the in-memory log under tokio's paused time: a
//! question is answered and delivered, a failing delivery is retried with backoff, an
//! inactivity timer fires when due, an outage of the log is ridden out, and shutdown stops
//! the core cleanly. Each test takes milliseconds of real time, whatever the minutes it
//! covers.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use switchboard_engine::catalog::{CatalogCommand, FaqEntry};
use switchboard_engine::conversation::Command;
use switchboard_engine::hit_test::{HitOutcome, HitTestError, HitTester};
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::{Clock, DeliveryError, MatchError, Matcher, Notifier, Outbound, Ranking};
use switchboard_engine::runtime::Runtime;
use switchboard_engine::services::{Core, CoreConfig, CoreHandle};
use switchboard_engine::team::TeamCommand;
use switchboard_engine::threshold_replay::{past_matches, replay};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{
    AnswerPolicy, Channel, MatchCandidate, MatchDecision, OutboundPurpose, RequiredField, Roster, TeamSettings,
};
use switchboard_schemas::{FaqEvent, FaqId, MessageId, StaffId, StreamId, TeamId, UserId};
use switchboard_testkit::{ManualClock, MemoryEventLog};
use tokio::time::Instant;
use uuid::Uuid;

/// Ranks the one FAQ first with a fixed confidence.
struct FixedMatcher {
    confidence: f32,
}

#[async_trait]
impl Matcher for FixedMatcher {
    async fn rank(&self, _team: &TeamId, _query: &str, _limit: usize) -> Result<Ranking, MatchError> {
        let candidate = MatchCandidate {
            faq_id: FaqId::new("prize-stock").unwrap(),
            question: "奖品库存不足怎么办？".into(),
            answer: "在奖品管理里追加库存。".into(),
            category: None,
            score: self.confidence,
            keyword_score: Some(self.confidence),
            semantic_score: None,
        };
        Ok(Ranking { candidates: vec![candidate], confidence: self.confidence, engine: "fixed".into() })
    }

    async fn apply(&self, _team: &TeamId, _event: &FaqEvent) -> Result<(), MatchError> {
        Ok(())
    }
}

/// Fails the first `failures` attempts (retryably), then delivers; records when each
/// attempt was made.
#[derive(Default)]
struct ScriptedChannel {
    failures: Mutex<u32>,
    attempts: Mutex<Vec<(Outbound, Instant)>>,
}

#[async_trait]
impl Notifier for ScriptedChannel {
    async fn deliver(&self, message: &Outbound) -> Result<(), DeliveryError> {
        self.attempts.lock().unwrap().push((message.clone(), Instant::now()));
        let mut failures = self.failures.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return Err(DeliveryError::Retryable("errcode 45009: api freq out of limit".into()));
        }
        Ok(())
    }
}

struct World {
    log: Arc<MemoryEventLog>,
    runtime: Arc<Runtime>,
    channel: Arc<ScriptedChannel>,
    team: TeamId,
    user: UserId,
}

fn cause() -> Causation {
    Causation::root(Uuid::now_v7())
}

impl World {
    /// A team with one FAQ and one engineer, re-confirming after `reconfirm_after_secs`.
    async fn new(reconfirm_after_secs: u64) -> Self {
        let log = Arc::new(MemoryEventLog::new());
        let clock: Arc<dyn Clock> =
            Arc::new(ManualClock::with_tokio_time(Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()));
        let runtime = Arc::new(Runtime::new(log.clone(), clock));
        let team = TeamId::new("ops").unwrap();
        let settings = TeamSettings { reconfirm_after_secs, ..TeamSettings::default() };
        let roster = Roster { default: vec![StaffId::new("zhao").unwrap()], ..Roster::default() };
        let onboard = TeamCommand::Onboard {
            name: "Ops".into(),
            cloned_from: None,
            settings: Box::new(settings),
            roster,
            on_call: None,
        };
        runtime.team(&team, onboard, cause()).await.unwrap();
        let entry = FaqEntry {
            question: "奖品库存不足怎么办？".into(),
            answer: "在奖品管理里追加库存。".into(),
            category: None,
            paraphrases: vec![],
        };
        let upsert = CatalogCommand::Upsert { faq_id: FaqId::new("prize-stock").unwrap(), entry };
        runtime.catalog(&team, upsert, cause()).await.unwrap();
        let user = UserId::new("zhangsan").unwrap();
        Self { log, runtime, channel: Arc::default(), team, user }
    }

    fn core(&self, config: CoreConfig) -> CoreHandle {
        let matcher = Arc::new(FixedMatcher { confidence: 0.95 });
        Core::new(self.runtime.clone(), matcher, self.channel.clone(), config).spawn()
    }

    async fn ask(&self, id: &str) {
        let command = Command::ReceiveMessage {
            user: self.user.clone(),
            message_id: MessageId(id.into()),
            text: "奖品库存不足了".into(),
            channel: Channel::Api,
        };
        self.runtime.conversation(&self.team, &self.user, command, cause()).await.unwrap();
    }

    /// The types of the conversation's events, in order.
    async fn history(&self) -> Vec<String> {
        let stream = StreamId::conversation(&self.team, &self.user);
        self.log.read_stream(&stream, 0).await.unwrap().into_iter().map(|e| e.event_type).collect()
    }

    /// Waits (in paused time, so instantly in real time) until the conversation has an
    /// event of `event_type`.
    async fn wait_for(&self, event_type: &str, within: Duration) {
        let deadline = Instant::now() + within;
        let step = (within / 1000).max(Duration::from_millis(10));
        while Instant::now() < deadline {
            if self.history().await.iter().any(|t| t == event_type) {
                return;
            }
            tokio::time::sleep(step).await;
        }
        panic!("no {event_type} within {within:?}; the conversation holds {:?}", self.history().await);
    }

    fn attempts(&self) -> Vec<(Outbound, Instant)> {
        self.channel.attempts.lock().unwrap().clone()
    }
}

#[tokio::test(start_paused = true)]
async fn a_confident_question_is_answered_and_delivered_once() {
    let world = World::new(1800).await;
    let core = world.core(CoreConfig::default());
    world.ask("m1").await;
    world.wait_for("AnswerDelivered", Duration::from_secs(5)).await;
    let history = world.history().await;
    for expected in ["SessionOpened", "MessageReceived", "MatchRequested", "FaqMatched", "AnswerQueued"] {
        assert!(history.iter().any(|t| t == expected), "{expected} missing from {history:?}");
    }
    let attempts = world.attempts();
    assert_eq!(attempts.len(), 1, "one delivery attempt");
    assert!(matches!(attempts[0].0.purpose, OutboundPurpose::Answer { .. }), "{:?}", attempts[0].0.purpose);
    assert!(attempts[0].0.text.contains("追加库存"), "the FAQ's answer is sent: {}", attempts[0].0.text);
    let health = core.health();
    assert_eq!(health.matched.load(std::sync::atomic::Ordering::Relaxed), 1);
    let pending = &health.pending;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pending.questions.load(std::sync::atomic::Ordering::Relaxed), 0, "the question was matched");
    assert_eq!(pending.deliveries.load(std::sync::atomic::Ordering::Relaxed), 0, "the answer was delivered");
    assert_eq!(pending.timers.load(std::sync::atomic::Ordering::Relaxed), 1, "the re-confirmation waits");
    core.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_delivery_is_retried_with_doubling_delays_until_it_goes_through() {
    let world = World::new(1800).await;
    *world.channel.failures.lock().unwrap() = 2;
    let config = CoreConfig { retry_base: Duration::from_millis(500), ..CoreConfig::default() };
    let core = world.core(config);
    world.ask("m1").await;
    world.wait_for("AnswerDelivered", Duration::from_secs(10)).await;
    let attempts = world.attempts();
    assert_eq!(attempts.len(), 3, "two failures, then the delivery");
    assert!(attempts.iter().all(|(o, _)| o.outbound_id == attempts[0].0.outbound_id), "one idempotency key");
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].1 - w[0].1).collect();
    assert!(gaps[0] >= Duration::from_millis(500), "first retry after the base delay: {gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(1000), "the delay doubles: {gaps:?}");
    let failed = world.history().await.iter().filter(|t| *t == "DeliveryFailed").count();
    assert_eq!(failed, 2, "each failure is recorded");
    assert_eq!(core.health().delivery_failures.load(std::sync::atomic::Ordering::Relaxed), 2, "and counted");
    core.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_operator_is_asked_again_when_the_inactivity_timer_comes_due() {
    let world = World::new(30 * 60).await;
    let core = world.core(CoreConfig::default());
    world.ask("m1").await;
    world.wait_for("AnswerDelivered", Duration::from_secs(5)).await;
    let answered = Instant::now();
    world.wait_for("ReconfirmSent", Duration::from_secs(31 * 60)).await;
    assert!(
        answered.elapsed() >= Duration::from_secs(29 * 60),
        "not before the silence period: {:?}",
        answered.elapsed()
    );
    let history = world.history().await;
    assert_eq!(history.iter().filter(|t| *t == "TimerFired").count(), 1, "the timer fires once: {history:?}");
    world.wait_for("AnswerDelivered", Duration::from_secs(5)).await;
    assert!(
        world.attempts().iter().any(|(o, _)| o.purpose == OutboundPurpose::Reconfirm),
        "the re-confirmation is delivered"
    );
    core.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_core_rides_out_a_log_outage_and_then_answers() {
    let world = World::new(1800).await;
    let core = world.core(CoreConfig::default());
    let health = core.health();
    world.wait_for_caught_up(&health).await;
    world.log.set_down(true);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!health.log_ok(), "the outage is reported");
    world.log.set_down(false);
    world.ask("m1").await;
    world.wait_for("AnswerDelivered", Duration::from_secs(10)).await;
    assert!(health.log_ok(), "recovery is reported");
    assert!(health.stopped_tasks().is_empty(), "no task stopped: {:?}", health.stopped_tasks());
    core.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_the_core_without_reporting_it_degraded() {
    let world = World::new(1800).await;
    let core = world.core(CoreConfig::default());
    let health = core.health();
    world.wait_for_caught_up(&health).await;
    core.shutdown().await;
    assert!(health.stopped_tasks().is_empty(), "a shutdown is not a failure: {:?}", health.stopped_tasks());
    world.ask("m1").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(world.attempts().is_empty(), "a stopped core sends nothing");
}

impl World {
    async fn wait_for_caught_up(&self, health: &switchboard_engine::services::CoreHealth) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !health.caught_up() {
            assert!(Instant::now() < deadline, "the core did not catch up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_hit_test_follows_the_order_a_first_message_takes_and_writes_nothing() {
    let world = World::new(1800).await;
    let field =
        RequiredField {
            key: "activity_id".into(), prompt: "活动 ID 是多少？".into(), pattern: r"活动\s*(\d+)".into()
        };
    let settings = TeamSettings { required_fields: vec![field], max_message_chars: 40, ..TeamSettings::default() };
    world.runtime.team(&world.team, TeamCommand::Configure { settings: Box::new(settings) }, cause()).await.unwrap();
    let head = world.log.head().await.unwrap();
    let tester = |confidence| HitTester::new(world.runtime.clone(), Arc::new(FixedMatcher { confidence }), 5);
    let outcome = |confidence, question: &'static str| {
        let tester = tester(confidence);
        let team = world.team.clone();
        async move { tester.try_question(&team, question).await.map(|t| t.outcome) }
    };
    assert_eq!(outcome(0.95, "转人工").await.unwrap(), HitOutcome::AskedForPerson, "a person first");
    assert_eq!(
        outcome(0.95, "奖品库存不足").await.unwrap(),
        HitOutcome::AsksForFields(vec!["activity_id".into()]),
        "then the fields"
    );
    let prize = || FaqId::new("prize-stock").unwrap();
    assert_eq!(
        outcome(0.95, "活动 42 奖品库存不足").await.unwrap(),
        HitOutcome::Decided(MatchDecision::Answer { faq_id: prize() })
    );
    assert_eq!(
        outcome(0.3, "活动 42 奖品库存不足").await.unwrap(),
        HitOutcome::Decided(MatchDecision::Clarify { choices: vec![prize()] })
    );
    assert_eq!(outcome(0.1, "活动 42 奖品库存不足").await.unwrap(), HitOutcome::Decided(MatchDecision::Transfer));
    assert!(matches!(outcome(0.95, " \n ").await, Err(HitTestError::Empty)));
    // Counted as a conversation counts it: untrimmed.
    let padded = "活动 42 奖品库存不足                                        ";
    assert!(matches!(outcome(0.95, padded).await, Err(HitTestError::TooLong { max: 40, .. })));
    assert_eq!(world.log.head().await.unwrap(), head, "nothing was written");
}

/// Two candidates, `prize-stock` first, at `confidence`.
fn two_candidates(confidence: f32) -> Ranking {
    let candidate = |id: &str| MatchCandidate {
        faq_id: FaqId::new(id).unwrap(),
        question: format!("{id}?"),
        answer: format!("{id}."),
        category: None,
        score: confidence,
        keyword_score: None,
        semantic_score: None,
    };
    Ranking { candidates: vec![candidate("prize-stock"), candidate("page-blank")], confidence, engine: "fixed".into() }
}

#[tokio::test(start_paused = true)]
async fn a_replay_judges_each_match_by_what_the_operator_did_after_it_and_no_other() {
    let world = World::new(1800).await;
    let say = |user: &'static str, id: &'static str, text: &'static str| {
        let runtime = world.runtime.clone();
        let team = world.team.clone();
        async move {
            let user = UserId::new(user).unwrap();
            let command = Command::ReceiveMessage {
                user: user.clone(),
                message_id: MessageId(id.into()),
                text: text.into(),
                channel: Channel::Api,
            };
            runtime.conversation(&team, &user, command, cause()).await.unwrap();
        }
    };
    let matched = |user: &'static str, id: &'static str, confidence: f32| {
        let runtime = world.runtime.clone();
        let team = world.team.clone();
        async move {
            let user = UserId::new(user).unwrap();
            let command = Command::ApplyMatch {
                message_id: MessageId(id.into()),
                ranking: two_candidates(confidence),
                rephrased: None,
            };
            runtime.conversation(&team, &user, command, cause()).await.unwrap();
        }
    };
    // a: offered choices, took the second: the first candidate was wrong.
    say("a", "a1", "奖品库存不足").await;
    matched("a", "a1", 0.3).await;
    say("a", "a2", "2").await;
    // b: offered choices, took the first, and it resolved the question.
    say("b", "b1", "奖品库存不足").await;
    matched("b", "b1", 0.3).await;
    say("b", "b2", "1").await;
    say("b", "b3", "解决了").await;
    // c: answered, and it did not help.
    say("c", "c1", "奖品库存不足").await;
    matched("c", "c1", 0.9).await;
    say("c", "c2", "没解决").await;
    // d: ignored the choices and asked again; the second answer resolved it — the first
    // question is not judged by feedback on the second.
    say("d", "d1", "奖品库存不足").await;
    matched("d", "d1", 0.3).await;
    say("d", "d2", "奖品库存不足了怎么补").await;
    matched("d", "d2", 0.9).await;
    say("d", "d3", "解决了").await;
    let past = past_matches(world.log.clone(), &world.team).await.unwrap();
    let verdicts: Vec<Option<bool>> = past.iter().map(|m| m.verdict).collect();
    assert_eq!(verdicts, [Some(false), Some(true), Some(false), None, Some(true)]);
    assert!(past.iter().all(|m| m.ranking.candidates.iter().all(|c| c.answer.is_empty())), "texts are not kept");
    // Lowering the answer threshold to 0.3 answers a, b and d's first question: one right,
    // one wrong, one unknown.
    let lower = AnswerPolicy { answer_at: 0.3, ..AnswerPolicy::default() };
    let judged = replay(&past, &lower).judged;
    assert_eq!((judged.new_good, judged.new_bad, judged.new_unjudged), (1, 1, 1), "{judged:?}");
    assert_eq!((judged.kept_good, judged.kept_bad), (1, 1));
    let other = TeamId::new("games").unwrap();
    assert!(past_matches(world.log.clone(), &other).await.unwrap().is_empty(), "another team's matches are not read");
}

/// Hands out the same picture for every media id, counting the fetches.
#[derive(Default)]
struct PictureSource {
    fetches: std::sync::atomic::AtomicU32,
}

#[async_trait]
impl switchboard_engine::ports::MediaFetcher for PictureSource {
    async fn fetch(
        &self,
        _team: &TeamId,
        _source: &switchboard_schemas::attachment::AttachmentSource,
        _max_bytes: u64,
    ) -> Result<Vec<u8>, switchboard_engine::ports::FetchError> {
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0".to_vec())
    }
}

#[tokio::test(start_paused = true)]
async fn attachments_are_deleted_after_the_teams_retention_counted_from_the_last_time_they_were_sent() {
    use switchboard_engine::blobs::BlobStore;
    use switchboard_engine::conversation::IncomingAttachment;
    use switchboard_schemas::attachment::{AttachmentKind, AttachmentSource, ContentHash};

    let world = World::new(1800).await;
    let mut settings = TeamSettings { reconfirm_after_secs: 1800, ..TeamSettings::default() };
    settings.attachments.retention_days = Some(1);
    world.runtime.team(&world.team, TeamCommand::Configure { settings: Box::new(settings) }, cause()).await.unwrap();
    let blobs = Arc::new(switchboard_testkit::MemoryBlobStore::new());
    let config = CoreConfig { retention_sweep_every: Duration::from_secs(3600), ..CoreConfig::default() };
    let _core =
        Core::new(world.runtime.clone(), Arc::new(FixedMatcher { confidence: 0.95 }), world.channel.clone(), config)
            .with_attachments(Arc::new(PictureSource::default()), blobs.clone())
            .spawn();
    let send = |id: &'static str| {
        let command = Command::ReceiveAttachment {
            user: world.user.clone(),
            message_id: MessageId(id.into()),
            attachment: IncomingAttachment {
                kind: AttachmentKind::Image,
                name: None,
                source: AttachmentSource::WecomMedia { media_id: format!("media-{id}") },
            },
            text: None,
            channel: Channel::Wecom,
        };
        world.runtime.conversation(&world.team, &world.user, command, cause())
    };
    let count = |kind: &'static str| {
        let history = world.history();
        async move { history.await.iter().filter(|t| *t == kind).count() }
    };
    send("p1").await.unwrap();
    world.wait_for("AttachmentStored", Duration::from_secs(5)).await;
    let hash = ContentHash::of(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0");
    // Twenty hours later the same picture is sent again: its bytes are kept from then on.
    tokio::time::sleep(Duration::from_secs(20 * 3600)).await;
    send("p2").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while count("AttachmentStored").await < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count("AttachmentStored").await, 2);
    // A day after the first sending, but not after the second: kept.
    tokio::time::sleep(Duration::from_secs(8 * 3600)).await;
    assert_eq!(count("AttachmentRemoved").await, 0, "sent again within the day: kept");
    assert!(blobs.get(&world.team, &hash).await.unwrap().is_some());
    // A day after the second sending: deleted, and both attachments say so.
    tokio::time::sleep(Duration::from_secs(18 * 3600)).await;
    world.wait_for("AttachmentRemoved", Duration::from_secs(3600)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while count("AttachmentRemoved").await < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count("AttachmentRemoved").await, 2, "{:?}", world.history().await);
    assert_eq!(blobs.get(&world.team, &hash).await.unwrap(), None, "the bytes are gone");
    // The next sweeps find nothing more to do.
    tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
    assert_eq!(count("AttachmentRemoved").await, 2, "removed once");
}
