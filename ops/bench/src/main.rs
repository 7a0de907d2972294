//! Benchmark harness: each hot path is measured next to a baseline taken in the same run,
//! on the same machine, with the same payloads.
//!
//! `cargo run --release -p switchboard-bench -- all` prints every figure in docs/performance.md (the hot paths also in README.md).

mod append;
mod blobs;
mod callbacks;
mod engine;
mod escalations;
mod jetstream;
mod matching;
mod oncall;
mod projection;
mod timers;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Switchboard benchmarks.
#[derive(Debug, Parser)]
#[command(name = "switchboard-bench", about)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Appends/s on the embedded log vs raw SQLite inserts of the same rows.
    Append(append::AppendArgs),
    /// decide+evolve operations/s vs serialising the same events.
    Engine(engine::EngineArgs),
    /// Keyword match latency over 10,000 FAQs vs a brute-force scan.
    Match(matching::MatchArgs),
    /// Projection rebuild events/s on SQLite and PostgreSQL vs the raw read rate; statistics latency.
    Projection(projection::ProjectionArgs),
    /// JetStream log appends, latency and replay vs raw JetStream on a nats-server it starts.
    Jetstream(jetstream::JetstreamArgs),
    /// WeCom callbacks/s and latency end to end vs a minimal poem handler and vs the runtime directly.
    Callbacks(callbacks::CallbacksArgs),
    /// Timer firing lateness and memory with 1,000,000 pending vs one tokio task per timer.
    Timers(timers::TimersArgs),
    /// "Who is on call" for 1,000 teams × 5 categories vs the old flat roster.
    OnCall(oncall::OnCallArgs),
    /// Memory and decide rate of 100,000 unacknowledged hand-overs vs the same under the flat roster.
    Escalations(escalations::EscalationsArgs),
    /// One side of the timer benchmark, in its own process so its memory is its own.
    #[command(hide = true)]
    TimersSide(timers::SideArgs),
    /// One side of the escalation benchmark, in its own process.
    #[command(hide = true)]
    EscalationsSide(escalations::SideArgs),
    /// 1 MB pictures into and out of both blob stores vs raw file and object-store calls.
    Blobs(blobs::BlobsArgs),
    /// Everything, with default sizes.
    All,
}

fn main() -> Result<()> {
    match Cli::parse().bench {
        Bench::Append(args) => append::run(&args),
        Bench::Engine(args) => engine::run(&args),
        Bench::Match(args) => matching::run(&args),
        Bench::Projection(args) => projection::run(&args),
        Bench::Jetstream(args) => jetstream::run(&args),
        Bench::Callbacks(args) => callbacks::run(&args),
        Bench::Timers(args) => timers::run(&args),
        Bench::OnCall(args) => oncall::run(&args),
        Bench::Escalations(args) => escalations::run(&args),
        Bench::Blobs(args) => blobs::run(&args),
        Bench::TimersSide(args) => timers::run_side(&args),
        Bench::EscalationsSide(args) => escalations::run_side(&args),
        Bench::All => {
            append::run(&append::AppendArgs::default())?;
            engine::run(&engine::EngineArgs::default())?;
            matching::run(&matching::MatchArgs::default())?;
            projection::run(&projection::ProjectionArgs::default())?;
            callbacks::run(&callbacks::CallbacksArgs::default())?;
            timers::run(&timers::TimersArgs::default())?;
            oncall::run(&oncall::OnCallArgs::default())?;
            escalations::run(&escalations::EscalationsArgs::default())?;
            match jetstream::unavailable() {
                None => {
                    blobs::run(&blobs::BlobsArgs::default())?;
                    jetstream::run(&jetstream::JetstreamArgs::default())
                }
                Some(why) => {
                    println!("== blobs and jetstream: SKIPPED, they cannot start their own nats-server: {why}");
                    Ok(())
                }
            }
        }
    }
}

/// The `p` quantile (nearest rank) of sorted durations, in milliseconds; 0 without any.
pub fn percentile_ms(sorted: &[std::time::Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
    sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Prints one result line: the figure, its baseline and their ratio.
pub fn report(name: &str, ours: f64, baseline_name: &str, baseline: f64, unit: &str) {
    println!(
        "{name:<44} {ours:>12.0} {unit}   | {baseline_name:<40} {baseline:>12.0} {unit}   | ratio {:.2}",
        ours / baseline
    );
}

/// The payload every log benchmark appends: one operator message of realistic size, so the
/// embedded, JetStream and raw baselines all write the same bytes.
pub fn sample_message(n: usize) -> switchboard_schemas::NewEvent {
    use switchboard_schemas::event::{Channel, MessageReceived};
    use switchboard_schemas::{ConversationEvent, Event, MessageId, NewEvent};
    let event = Event::from(ConversationEvent::from(MessageReceived {
        session_id: uuid::Uuid::now_v7(),
        message_id: MessageId(format!("msg-{n}")),
        text: "活动开始时间怎么修改？我们的活动明天就要上线了，How do I change the start time?".into(),
        channel: Channel::Wecom,
    }));
    let causation = switchboard_schemas::envelope::Causation::root(uuid::Uuid::now_v7());
    NewEvent::encode(&event, uuid::Uuid::now_v7(), chrono::Utc::now(), causation)
}
