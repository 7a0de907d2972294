//! decide+evolve throughput of the pure conversation core, next to the cost of merely
//! serialising and parsing the same events (the floor any persisted command pays).

use std::time::Instant;

use anyhow::Result;
use chrono::{Duration, TimeZone, Utc};
use clap::Args;
use switchboard_engine::conversation::{decide, Command, Context, Conversation, DeliveryOutcome};
use switchboard_engine::policy::TeamPolicy;
use switchboard_engine::ports::Ranking;
use switchboard_schemas::event::{Channel, MatchCandidate, Roster, TeamSettings};
use switchboard_schemas::{ConversationEvent, FaqId, MessageId, StaffId, UserId};
use uuid::Uuid;

/// Sizes of the engine benchmark.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Sessions to run (each: question, match, feedback, and their delivery outcomes).
    #[arg(long, default_value_t = 50_000)]
    pub sessions: usize,
}

impl Default for EngineArgs {
    fn default() -> Self {
        Self { sessions: 50_000 }
    }
}

/// Runs the benchmark and prints its line.
pub fn run(args: &EngineArgs) -> Result<()> {
    println!("== engine ({} sessions: message, match, resolved feedback, each delivery recorded)", args.sessions);
    let roster = Roster { default: vec![StaffId::new("zhao")?], ..Roster::default() };
    let policy = TeamPolicy::new(TeamSettings::default(), roster)?;
    let user = UserId::new("bench")?;
    let ranking = Ranking {
        candidates: (0..5)
            .map(|i| MatchCandidate {
                faq_id: FaqId::new(format!("faq-{i}")).unwrap_or_else(|_| unreachable!()),
                question: "如何修改活动的开始时间？".into(),
                answer: "在活动管理后台打开该活动 → 基本设置 → 活动时间，修改开始时间后点击保存。".into(),
                category: Some("activity".into()),
                score: 0.9 - i as f32 * 0.1,
                keyword_score: Some(7.0),
                semantic_score: None,
            })
            .collect(),
        confidence: 0.9,
        engine: "bench".into(),
    };
    let mut now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).single().unwrap_or_default();
    let mut counter: u128 = 0;
    let mut all_events: Vec<ConversationEvent> = Vec::new();
    let mut state = Conversation::default();
    let start = Instant::now();
    let mut commands = 0usize;
    for s in 0..args.sessions {
        let message_id = MessageId(format!("m{s}"));
        let script = [
            Command::ReceiveMessage {
                user: user.clone(),
                message_id: message_id.clone(),
                text: "活动开始时间怎么改？".into(),
                channel: Channel::Wecom,
            },
            Command::ApplyMatch { message_id, ranking: ranking.clone(), rephrased: None },
            Command::GiveFeedback { resolved: true },
        ];
        for command in &script {
            let mut ids = || {
                counter += 1;
                Uuid::from_u128(counter)
            };
            let mut ctx = Context { now, policy: &policy, ids: &mut ids };
            let events = decide(&state, &user, command, &mut ctx)?;
            for e in &events {
                state.apply(e);
            }
            all_events.extend(events);
            commands += 1;
        }
        // Record the deliveries, as the core does for every queued message.
        let queued: Vec<Uuid> = state.pending_deliveries.keys().copied().collect();
        for outbound_id in queued {
            let mut ids = || Uuid::nil();
            let mut ctx = Context { now, policy: &policy, ids: &mut ids };
            let command = Command::RecordDelivery { outbound_id, outcome: DeliveryOutcome::Delivered };
            let events = decide(&state, &user, &command, &mut ctx)?;
            for e in &events {
                state.apply(e);
            }
            all_events.extend(events);
            commands += 1;
        }
        now += Duration::seconds(1);
    }
    let decide_rate = commands as f64 / start.elapsed().as_secs_f64();

    // Baseline: serialise and parse the events those commands produced.
    let start = Instant::now();
    let mut bytes = 0usize;
    for e in &all_events {
        let text = serde_json::to_string(e)?;
        bytes += text.len();
        let back: ConversationEvent = serde_json::from_str(&text)?;
        std::hint::black_box(back);
    }
    let per_command = all_events.len() as f64 / commands as f64;
    let serde_rate = all_events.len() as f64 / start.elapsed().as_secs_f64() / per_command;
    crate::report(
        "decide+evolve (commands/s)",
        decide_rate,
        "serde_json round trip of their events",
        serde_rate,
        "ops/s",
    );
    println!("   ({:.1} events per command, {} bytes of JSON in all)", per_command, bytes);
    Ok(())
}
