//! 100,000 hand-overs nobody acknowledged yet: each holds its escalation step and its response
//! targets as pending timers in the engine's due set, and its conversation state. Measured:
//! the memory a pending hand-over adds (due set and state, allocator overhead included), how
//! many timers it holds, how fast the pure core opens and hands sessions over (two decisions
//! each, their timers queued), and how fast it takes the next escalation step when those
//! timers come due (the first step is taken with the hand-over). Baseline in the same run:
//! the same hand-overs under the old flat roster (no escalation, no targets). Memory is the
//! growth of resident memory, allocator overhead (and anything it keeps) included.
//!
//! Each side runs in a fresh process of this harness, so its memory figure is not blurred
//! by memory an earlier measurement freed.

use std::process::Command as Process;
use std::time::Instant;

use anyhow::{Context as _, Result};
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use switchboard_engine::conversation::{decide, Command, Context, Conversation};
use switchboard_engine::policy::TeamPolicy;
use switchboard_engine::timers::TimerQueue;
use switchboard_oncall::{Schedule, Staffing};
use switchboard_schemas::event::{Channel, Roster, TeamSettings, TimerPurpose};
use switchboard_schemas::oncall::{
    ClockKind, EscalationPolicy, EscalationStep, EscalationTarget, Handoff, Layer, OnCallSettings, ResponseTargets,
    ShiftLength, ShiftUnit, Weekday,
};
use switchboard_schemas::{ConversationEvent, MessageId, StaffId, StreamId, TeamId, UserId};
use uuid::Uuid;

use crate::timers::resident_bytes;

/// Sizes of the escalation benchmark.
#[derive(Debug, Clone, Args)]
pub struct EscalationsArgs {
    /// Hand-overs left unacknowledged.
    #[arg(long, default_value_t = 100_000)]
    pub handovers: usize,
}

impl Default for EscalationsArgs {
    fn default() -> Self {
        Self { handovers: 100_000 }
    }
}

/// Which team set-up a child process measures.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Setup {
    /// Two layers, three escalation steps, three response targets.
    OnCall,
    /// The old flat roster.
    Roster,
}

/// Arguments of one side's process.
#[derive(Debug, Clone, Args)]
pub struct SideArgs {
    #[arg(long, value_enum)]
    setup: Setup,
    #[command(flatten)]
    sizes: EscalationsArgs,
}

/// One side's figures.
#[derive(Serialize, Deserialize)]
struct Measured {
    handovers_per_sec: f64,
    bytes_per_handover: f64,
    timers_per_handover: f64,
    steps_per_sec: f64,
}

/// Runs both sides, each in its own process, and prints their lines.
pub fn run(args: &EscalationsArgs) -> Result<()> {
    println!("== escalations ({} unacknowledged hand-overs, each with its pending timers)", args.handovers);
    let ours = measure_in_child(Setup::OnCall, args)?;
    let baseline = measure_in_child(Setup::Roster, args)?;
    let other = "flat roster, no escalation";
    crate::report("sessions opened and handed over", ours.handovers_per_sec, other, baseline.handovers_per_sec, "/s");
    crate::report("memory per pending hand-over", ours.bytes_per_handover, other, baseline.bytes_per_handover, "bytes");
    println!(
        "   ({:.1} pending timers per hand-over with on call, {:.1} with the roster; {:.0} MB for {} hand-overs)",
        ours.timers_per_handover,
        baseline.timers_per_handover,
        ours.bytes_per_handover * args.handovers as f64 / 1e6,
        args.handovers
    );
    println!("   second escalation steps taken when their timers came due: {:.0}/s", ours.steps_per_sec);
    Ok(())
}

fn measure_in_child(setup: Setup, args: &EscalationsArgs) -> Result<Measured> {
    let exe = std::env::current_exe().context("finding the benchmark binary")?;
    let name = setup.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default();
    let output = Process::new(exe)
        .args(["escalations-side", "--setup", &name, "--handovers", &args.handovers.to_string()])
        .output()
        .context("starting the escalation benchmark's child process")?;
    anyhow::ensure!(output.status.success(), "the {name} side failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).context("reading the child's figures")
}

fn staff(name: &str) -> Result<StaffId> {
    Ok(StaffId::new(name)?)
}

/// The team's policy: the same settings on both sides, with or without an on-call set-up.
fn policy(setup: Setup) -> Result<TeamPolicy> {
    let people = ["zhao", "qian", "sun", "li", "zhou"].into_iter().map(staff).collect::<Result<Vec<_>>>()?;
    let roster = Roster { default: people.clone(), ..Roster::default() };
    let policy = TeamPolicy::new(TeamSettings::default(), roster)?;
    let Setup::OnCall = setup else { return Ok(policy) };
    let layer = |name: &str, participants: Vec<StaffId>| Layer {
        name: name.into(),
        participants,
        shift: ShiftLength { count: 1, unit: ShiftUnit::Weeks },
        handoff: Handoff { weekday: Some(Weekday::Mon), time: NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default() },
        starts_on: "2026-01-05".parse().unwrap_or_default(),
    };
    let step = |notify: Vec<EscalationTarget>| EscalationStep { notify, wait_minutes: 10 };
    let settings = OnCallSettings {
        default: vec![layer("primary", people[..3].to_vec()), layer("secondary", people[3..].to_vec())],
        escalation: EscalationPolicy {
            steps: vec![
                step(vec![EscalationTarget::Assignee]),
                step(vec![EscalationTarget::Assignee, EscalationTarget::NextLayer]),
                step(vec![EscalationTarget::Leads, EscalationTarget::GroupChat]),
            ],
            clock: ClockKind::Wall,
        },
        targets: ResponseTargets {
            acknowledge_minutes: Some(10),
            first_reply_minutes: Some(30),
            resolution_minutes: Some(240),
            clock: ClockKind::Wall,
        },
        leads: vec![staff("wu")?],
        ..OnCallSettings::default()
    };
    Ok(policy.with_on_call(Schedule::new(settings)?, Staffing::default()))
}

/// Measures one side in this process and prints its figures as JSON.
pub fn run_side(args: &SideArgs) -> Result<()> {
    let policy = policy(args.setup)?;
    let team = TeamId::new("bench")?;
    let users = (0..args.sizes.handovers).map(|i| Ok(UserId::new(format!("op{i}"))?)).collect::<Result<Vec<_>>>()?;
    let streams: Vec<StreamId> = users.iter().map(|u| StreamId::conversation(&team, u)).collect();
    let now = Utc.with_ymd_and_hms(2026, 12, 7, 11, 0, 0).single().context("a valid instant")?;
    let mut counter: u128 = 0;
    let mut ids = move || {
        counter += 1;
        Uuid::from_u128(counter)
    };

    let queue = TimerQueue::default();
    let before = resident_bytes()?;
    let started = Instant::now();
    let mut states = Vec::with_capacity(users.len());
    let mut escalate_at: Vec<Option<(Uuid, DateTime<Utc>)>> = Vec::with_capacity(users.len());
    for (i, (user, stream)) in users.iter().zip(&streams).enumerate() {
        let mut state = Conversation::default();
        let script = [
            Command::ReceiveMessage {
                user: user.clone(),
                message_id: MessageId(format!("m{i}")),
                text: "活动开始时间怎么改？".into(),
                channel: Channel::Wecom,
            },
            Command::RequestHuman,
        ];
        let mut next_step = None;
        for command in &script {
            let mut ctx = Context { now, policy: &policy, ids: &mut ids };
            for event in decide(&state, user, command, &mut ctx)? {
                state.apply(&event);
                match &event {
                    ConversationEvent::TimerScheduled(t) => {
                        queue.insert(t.timer_id, t.due_at, stream.clone(), true);
                        if t.purpose == TimerPurpose::Escalate {
                            next_step = Some((t.timer_id, t.due_at));
                        }
                    }
                    ConversationEvent::TimerCancelled(t) => queue.remove(t.timer_id),
                    _ => {}
                }
            }
        }
        states.push(state);
        escalate_at.push(next_step);
    }
    let handovers_per_sec = users.len() as f64 / started.elapsed().as_secs_f64();
    let bytes_per_handover = (resident_bytes()? - before) / users.len() as f64;
    let timers_per_handover = queue.held() as f64 / users.len() as f64;

    // The second step comes due for every hand-over at once: fire it, as the timer worker does.
    let started = Instant::now();
    let mut steps = 0usize;
    for ((user, state), due) in users.iter().zip(states.iter_mut()).zip(&escalate_at) {
        let Some((timer_id, due_at)) = due else { continue };
        let mut ctx = Context { now: *due_at, policy: &policy, ids: &mut ids };
        let events = decide(state, user, &Command::FireTimer { timer_id: *timer_id }, &mut ctx)?;
        steps += events.iter().filter(|e| matches!(e, ConversationEvent::EscalationStepTaken(_))).count();
        events.iter().for_each(|e| state.apply(e));
    }
    let steps_per_sec = steps as f64 / started.elapsed().as_secs_f64();
    if matches!(args.setup, Setup::OnCall) {
        anyhow::ensure!(steps == users.len(), "{steps} escalation steps taken for {} hand-overs", users.len());
    }
    let measured = Measured { handovers_per_sec, bytes_per_handover, timers_per_handover, steps_per_sec };
    println!("{}", serde_json::to_string(&measured)?);
    Ok(())
}
