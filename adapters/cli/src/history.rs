//! Four weeks of the demo team's past, recorded through the engine on a first start, so the
//! console's dashboards, FAQ candidates and weekly report show something to read when first
//! opened.
//!
//! The history is simulated but goes through the same decisions as live traffic. Operators
//! ask questions (FAQ wordings, vague ones, new ones). The keyword matcher ranks them. The
//! conversation state machine answers, offers choices or hands over. Operators give feedback,
//! pick a choice, ask for a person or go silent. On-call engineers reply, pass sessions on
//! and close them. Re-confirmation and stale-close timers fire when due. Every reply is
//! recorded as delivered. Each event carries the time it happened on a clock that walks
//! through the four weeks. When recording ends, nothing is pending: no question is unmatched,
//! no delivery unrecorded and no timer due, so the core has nothing to send when it starts.
//! The random choices come from a fixed seed (the simulator's [`Dice`]), so every first start
//! records the same past.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc, Weekday};
use switchboard_engine::conversation::{Command, DeliveryOutcome, Phase};
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::{Clock, Matcher};
use switchboard_engine::runtime::Runtime;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Channel, FaqAdded};
use switchboard_schemas::{MessageId, StaffId, TeamId, UserId};
use switchboard_search::KeywordMatcher;
use uuid::Uuid;

use crate::demo::DEMO_TEAM;
use crate::simulate::Dice;

/// How far back the history reaches.
pub const DAYS: i64 = 28;

/// Questions no FAQ answers yet: they go to a person and become FAQ candidates.
const NEW_QUESTIONS: [&str; 12] = [
    "导出的参与名单里手机号显示不全怎么办",
    "活动页面在微信里打开是白屏",
    "Can I limit one prize per household address?",
    "抽奖概率可以按用户等级设置吗",
    "The payment callback for the ticket activity failed twice",
    "活动海报上传后变模糊了",
    "报名表单能不能加一个身份证字段",
    "Why does the leaderboard show yesterday's scores?",
    "优惠券核销后库存没有扣减",
    "子账号看不到活动数据",
    "How do I move an activity to another brand account?",
    "活动结束后还能补发奖品吗",
];

/// Questions too vague for one answer: the engine offers choices or hands over.
const VAGUE_QUESTIONS: [&str; 6] = ["活动时间", "奖品", "审核", "activity", "prize stock", "时间设置"];

/// What an engineer writes back.
const STAFF_REPLIES: [&str; 4] = [
    "已经看到了，我这边帮你处理一下。",
    "Fixed on our side, please try again.",
    "这个需要改一下配置，已经帮你改好了。",
    "已记录，明天发版修复，先用临时方案绕过。",
];

/// The simulated time: the clock the history's runtime stamps events with.
struct WalkingClock(AtomicI64);

impl WalkingClock {
    fn set(&self, at: DateTime<Utc>) {
        self.0.store(at.timestamp_millis(), Ordering::SeqCst);
    }

    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for WalkingClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0.load(Ordering::SeqCst)).single().unwrap_or_default()
    }
}

/// What was recorded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// Sessions opened.
    pub sessions: usize,
    /// Events written.
    pub events: usize,
}

/// Records the demo team's last [`DAYS`] days, ending before `now`, on `log`. The team and its
/// FAQ must exist; the team's conversations must be empty (a first start).
pub async fn record(log: Arc<dyn EventLog>, now: DateTime<Utc>) -> Result<Recorded> {
    let clock = Arc::new(WalkingClock(AtomicI64::new(now.timestamp_millis())));
    let runtime = Runtime::new(log, clock.clone());
    let team = TeamId::new(DEMO_TEAM)?;
    let matcher = KeywordMatcher::new();
    let catalog = runtime.load_catalog(&team).await.context("reading the demo FAQ")?;
    let mut wordings = Vec::new();
    for (faq_id, entry) in &catalog.entries {
        let added = FaqAdded {
            faq_id: faq_id.clone(),
            question: entry.question.clone(),
            answer: entry.answer.clone(),
            category: entry.category.clone(),
            paraphrases: entry.paraphrases.clone(),
        };
        matcher.apply(&team, &added.into()).await.context("indexing the demo FAQ")?;
        wordings.extend(std::iter::once(entry.question.clone()).chain(entry.paraphrases.iter().cloned()));
    }
    let staff = runtime.load_team(&team).await?.roster;
    let engineers: Vec<StaffId> = staff.categories.values().flatten().chain(&staff.default).cloned().collect();
    let story = Story { runtime: &runtime, clock: &clock, matcher: &matcher, team, wordings, engineers };

    let mut dice = Dice(0x5eed_2026);
    let mut recorded = Recorded::default();
    let today = now.date_naive();
    for days_ago in (1..=DAYS).rev() {
        let day = today - Duration::days(days_ago);
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        let count = if weekend { 2 + dice.below(3) } else { 10 + dice.below(8) };
        // Working hours in China (01:00–11:00 UTC), in order through the day.
        let mut starts: Vec<i64> = (0..count).map(|_| 60 + dice.below(600) as i64).collect();
        starts.sort_unstable();
        for (n, minute) in starts.into_iter().enumerate() {
            let start =
                Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default()) + Duration::minutes(minute);
            // One operator per session of the day: a session runs its course before the next.
            let user = UserId::new(format!("op_{:03}", (days_ago as usize * 37 + n * 11) % 60))?;
            clock.set(start);
            recorded.events += story.session(&user, &mut dice).await.with_context(|| format!("{user} on {day}"))?;
            recorded.sessions += 1;
        }
    }
    Ok(recorded)
}

/// What one session needs.
struct Story<'a> {
    runtime: &'a Runtime,
    clock: &'a WalkingClock,
    matcher: &'a KeywordMatcher,
    team: TeamId,
    wordings: Vec<String>,
    engineers: Vec<StaffId>,
}

impl Story<'_> {
    /// Runs a command at the current simulated time, records its replies as delivered, and
    /// returns the events written.
    async fn run(&self, user: &UserId, command: Command) -> Result<usize> {
        let mut events =
            self.runtime.conversation(&self.team, user, command, Causation::root(Uuid::now_v7())).await?.events;
        let state = self.runtime.load_conversation(&self.team, user).await?;
        for outbound_id in state.pending_deliveries.keys().copied().collect::<Vec<_>>() {
            self.clock.advance(Duration::seconds(1));
            let delivered = Command::RecordDelivery { outbound_id, outcome: DeliveryOutcome::Delivered };
            events +=
                self.runtime.conversation(&self.team, user, delivered, Causation::root(Uuid::now_v7())).await?.events;
        }
        Ok(events)
    }

    /// The operator says `text`; the matcher's ranking is applied when the session waits for it.
    async fn say(&self, user: &UserId, text: &str) -> Result<usize> {
        let message_id = MessageId(format!("history-{}", Uuid::now_v7()));
        let received =
            Command::ReceiveMessage { user: user.clone(), message_id, text: text.to_owned(), channel: Channel::Wecom };
        let mut events = self.run(user, received).await?;
        let state = self.runtime.load_conversation(&self.team, user).await?;
        if let Some(Phase::Matching { message_id, query }) = state.session.map(|s| s.phase) {
            self.clock.advance(Duration::seconds(2));
            let ranking = self.matcher.rank(&self.team, &query, 5).await?;
            events += self.run(user, Command::ApplyMatch { message_id, ranking, rephrased: None }).await?;
        }
        Ok(events)
    }

    async fn phase(&self, user: &UserId) -> Result<Option<Phase>> {
        Ok(self.runtime.load_conversation(&self.team, user).await?.session.filter(|s| s.is_active()).map(|s| s.phase))
    }

    /// One session, from the first question to its close.
    async fn session(&self, user: &UserId, dice: &mut Dice) -> Result<usize> {
        let question = match dice.below(100) {
            0..=59 => dice.pick(&self.wordings).clone(),
            60..=74 => (*dice.pick(&VAGUE_QUESTIONS)).to_owned(),
            75..=94 => (*dice.pick(&NEW_QUESTIONS)).to_owned(),
            _ => "转人工".to_owned(),
        };
        let mut events = self.say(user, &question).await?;
        // The operator reacts to what the engine did, a few minutes later, until the session closes.
        for _ in 0..6 {
            self.clock.advance(Duration::minutes(1 + dice.below(9) as i64));
            events += match self.phase(user).await? {
                None => break,
                Some(Phase::Answered { .. }) if dice.chance(0.12) => self.go_silent(user).await?,
                Some(Phase::Answered { .. }) => {
                    let resolved = dice.chance(0.85);
                    self.run(user, Command::GiveFeedback { resolved }).await?
                }
                Some(Phase::AwaitingChoice { .. }) if dice.chance(0.75) => self.say(user, "1").await?,
                Some(Phase::AwaitingChoice { .. }) => self.say(user, "转人工").await?,
                Some(Phase::WithHuman | Phase::Waiting) => self.engineer_works(user, dice).await?,
                Some(_) => self.go_silent(user).await?,
            };
        }
        // Whatever is still open goes quiet and is closed by its timers.
        if self.phase(user).await?.is_some() {
            events += self.go_silent(user).await?;
        }
        Ok(events)
    }

    /// The operator says nothing more: the re-confirmation and the stale close fire when due.
    async fn go_silent(&self, user: &UserId) -> Result<usize> {
        let mut events = 0;
        while let Some(session) = self.runtime.load_conversation(&self.team, user).await?.session {
            let Some(timer) = session.pending_timer.filter(|_| session.is_active()) else { break };
            self.clock.set(timer.due_at.max(self.clock.now()));
            events += self.run(user, Command::FireTimer { timer_id: timer.timer_id }).await?;
        }
        Ok(events)
    }

    /// What came due while nobody answered the hand-over fires: escalation steps, missed
    /// response targets.
    async fn fire_due_handover_timers(&self, user: &UserId) -> Result<usize> {
        let mut events = 0;
        loop {
            let now = self.clock.now();
            let session = self.runtime.load_conversation(&self.team, user).await?.session.filter(|s| s.is_active());
            let due = session
                .and_then(|s| s.handover_timers.iter().filter(|t| t.due_at <= now).min_by_key(|t| t.due_at).copied());
            let Some(timer) = due else { return Ok(events) };
            events += self.run(user, Command::FireTimer { timer_id: timer.timer_id }).await?;
        }
    }

    /// The on-call engineer answers; sometimes passes the session on first; then it is closed.
    async fn engineer_works(&self, user: &UserId, dice: &mut Dice) -> Result<usize> {
        let state = self.runtime.load_conversation(&self.team, user).await?;
        let assignee = state.session.and_then(|s| s.assignee).unwrap_or_else(|| dice.pick(&self.engineers).clone());
        let mut events = 0;
        if dice.chance(0.15) {
            let to = dice.pick(&self.engineers).clone();
            if to != assignee {
                events += self.run(user, Command::Transfer { by: assignee.clone(), to: Some(to) }).await?;
            }
        }
        if dice.chance(0.70) {
            // Most engineers press Acknowledge on the card within minutes, then work on it.
            self.clock.advance(Duration::minutes(1 + dice.below(14) as i64));
            events += self.fire_due_handover_timers(user).await?;
            let current = self.runtime.load_conversation(&self.team, user).await?.session.and_then(|s| s.assignee);
            let acknowledge = Command::Acknowledge {
                by: current.unwrap_or_else(|| assignee.clone()),
                session_id: None,
                notice: None,
            };
            if self.phase(user).await?.is_some() {
                events += self.run(user, acknowledge).await?;
            }
        }
        self.clock.advance(Duration::minutes(3 + dice.below(40) as i64));
        events += self.fire_due_handover_timers(user).await?;
        let replier = self.runtime.load_conversation(&self.team, user).await?.session.and_then(|s| s.assignee);
        let staff = replier.unwrap_or(assignee);
        let reply = Command::HumanReply { staff: staff.clone(), text: (*dice.pick(&STAFF_REPLIES)).to_owned() };
        events += self.run(user, reply).await?;
        self.clock.advance(Duration::minutes(2 + dice.below(20) as i64));
        if dice.chance(0.60) {
            events += self.say(user, "好的，谢谢！Thanks, that works.").await?;
            self.clock.advance(Duration::minutes(1 + dice.below(5) as i64));
        }
        if self.phase(user).await?.is_some() {
            events += self.run(user, Command::Close { by: staff }).await?;
        }
        Ok(events)
    }
}
