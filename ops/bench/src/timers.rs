//! Timer firing with a million pending timers: every open conversation holds a re-confirm or
//! close timer, so a busy deployment keeps about one per session. Measured: how late the
//! engine's due set ([`TimerQueue`] with its worker loop, as the core runs it) fires timers
//! that come due while a million others wait, how fast it takes them in, and the heap they
//! hold. Baseline in the same run: one tokio task sleeping per timer (the runtime's own
//! timer wheel), with the same timers. Firing here records the lateness instead of
//! appending `TimerFired`; the append's cost is the append benchmark's.
//!
//! Each side runs in a fresh process of this harness, so its memory figure (resident memory
//! added per pending timer, allocator overhead included) is not blurred by memory an
//! earlier measurement freed.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use switchboard_engine::timers::TimerQueue;
use switchboard_schemas::{StreamId, TeamId, UserId};
use tokio::sync::Notify;
use uuid::Uuid;

/// Sizes of the timer benchmark.
#[derive(Debug, Clone, Args)]
pub struct TimersArgs {
    /// Timers waiting far in the future while the probes fire.
    #[arg(long, default_value_t = 1_000_000)]
    pub pending: usize,
    /// Timers that come due during the run, one per millisecond; their lateness is measured.
    #[arg(long, default_value_t = 2_000)]
    pub probes: usize,
}

impl Default for TimersArgs {
    fn default() -> Self {
        Self { pending: 1_000_000, probes: 2_000 }
    }
}

/// How long after the probes are set up the first one comes due.
const LEAD: Duration = Duration::from_millis(500);

/// Which timer implementation a child process measures.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Side {
    /// The engine's due set.
    DueSet,
    /// One tokio task per timer.
    TaskPerTimer,
}

/// Arguments of one side's process.
#[derive(Debug, Clone, Args)]
pub struct SideArgs {
    #[arg(long, value_enum)]
    side: Side,
    #[command(flatten)]
    sizes: TimersArgs,
}

/// Runs both sides, each in its own process, and prints their lines.
pub fn run(args: &TimersArgs) -> Result<()> {
    println!("== timers ({} pending, {} coming due one per millisecond)", args.pending, args.probes);
    let ours = measure_in_child(Side::DueSet, args)?;
    let baseline = measure_in_child(Side::TaskPerTimer, args)?;
    let other = "one tokio task per timer";
    crate::report("due set: timers taken in", ours.taken_in_per_sec, other, baseline.taken_in_per_sec, "timers/s");
    crate::report("due set: memory per pending timer", ours.bytes_per_timer, other, baseline.bytes_per_timer, "bytes");
    for (name, p) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
        let (ours_us, baseline_us) = (micros(&ours.lateness, p), micros(&baseline.lateness, p));
        crate::report(&format!("due set: firing lateness {name}"), ours_us, other, baseline_us, "µs");
    }
    Ok(())
}

fn measure_in_child(side: Side, args: &TimersArgs) -> Result<Measured> {
    let exe = std::env::current_exe().context("finding the benchmark binary")?;
    let side_name = side.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default();
    let output = Command::new(exe)
        .args(["timers-side", "--side", &side_name])
        .args(["--pending", &args.pending.to_string(), "--probes", &args.probes.to_string()])
        .output()
        .context("starting the timer benchmark's child process")?;
    anyhow::ensure!(
        output.status.success(),
        "the {side_name} side failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).context("reading the child's figures")
}

/// Measures one side in this process and prints its figures as JSON.
pub fn run_side(args: &SideArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let measured = rt.block_on(async {
        let team = TeamId::new("bench")?;
        let streams: Vec<StreamId> = (0..args.sizes.pending + args.sizes.probes)
            .map(|i| Ok(StreamId::conversation(&team, &UserId::new(format!("op{i}"))?)))
            .collect::<Result<_>>()?;
        let (pending, probes) = streams.split_at(args.sizes.pending);
        match args.side {
            Side::DueSet => due_set(pending, probes).await,
            Side::TaskPerTimer => task_per_timer(pending.len(), probes.len()).await,
        }
    })?;
    println!("{}", serde_json::to_string(&measured)?);
    Ok(())
}

/// Resident memory of this process, from `/proc/self/status`.
pub fn resident_bytes() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kib * 1024.0)
}

/// One side's figures.
#[derive(Serialize, Deserialize)]
struct Measured {
    taken_in_per_sec: f64,
    bytes_per_timer: f64,
    /// Sorted.
    lateness: Vec<Duration>,
}

fn micros(sorted: &[Duration], p: f64) -> f64 {
    crate::percentile_ms(sorted, p) * 1000.0
}

fn far_future(i: usize) -> Duration {
    Duration::from_secs(3600) + Duration::from_millis(i as u64)
}

/// The engine's due set and worker loop.
async fn due_set(pending: &[StreamId], probes: &[StreamId]) -> Result<Measured> {
    let queue = Arc::new(TimerQueue::default());
    let before = resident_bytes()?;
    let started = Instant::now();
    let now = Utc::now();
    for (i, stream) in pending.iter().enumerate() {
        queue.insert(Uuid::now_v7(), now + far_future(i), stream.clone(), true);
    }
    let taken_in_per_sec = pending.len() as f64 / started.elapsed().as_secs_f64();
    let bytes_per_timer = (resident_bytes()? - before) / pending.len() as f64;

    let first_due = Utc::now() + LEAD;
    let mut due_of = HashMap::new();
    for (i, stream) in probes.iter().enumerate() {
        let (timer_id, due) = (Uuid::now_v7(), first_due + Duration::from_millis(i as u64));
        due_of.insert(timer_id, due);
        queue.insert(timer_id, due, stream.clone(), true);
    }
    let fired = Arc::new(Fired::new(due_of));
    queue.start();
    let worker = {
        let (queue, fired) = (queue.clone(), fired.clone());
        tokio::spawn(async move {
            queue
                .run(Utc::now, |timer_id, _| {
                    fired.record(timer_id, Utc::now());
                    async {}
                })
                .await
        })
    };
    fired.wait_all().await?;
    worker.abort();
    anyhow::ensure!(queue.held() == pending.len(), "a pending timer fired early or went missing");
    Ok(Measured { taken_in_per_sec, bytes_per_timer, lateness: fired.lateness() })
}

/// The baseline: a task per timer, each sleeping until its due time.
async fn task_per_timer(pending: usize, probes: usize) -> Result<Measured> {
    let before = resident_bytes()?;
    let started = Instant::now();
    let now = tokio::time::Instant::now();
    let mut sleeping = Vec::with_capacity(pending);
    for i in 0..pending {
        let due = now + far_future(i);
        sleeping.push(tokio::spawn(async move { tokio::time::sleep_until(due).await }));
    }
    let taken_in_per_sec = pending as f64 / started.elapsed().as_secs_f64();
    let bytes_per_timer = (resident_bytes()? - before) / pending as f64;

    let first_due = Utc::now() + LEAD;
    let start = tokio::time::Instant::now() + LEAD;
    let mut due_of = HashMap::new();
    let mut ids = Vec::with_capacity(probes);
    for i in 0..probes {
        let timer_id = Uuid::now_v7();
        due_of.insert(timer_id, first_due + Duration::from_millis(i as u64));
        ids.push(timer_id);
    }
    let fired = Arc::new(Fired::new(due_of));
    for (i, timer_id) in ids.into_iter().enumerate() {
        let fired = fired.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(start + Duration::from_millis(i as u64)).await;
            fired.record(timer_id, Utc::now());
        });
    }
    fired.wait_all().await?;
    let still_sleeping = sleeping.iter().filter(|task| !task.is_finished()).count();
    sleeping.iter().for_each(|task| task.abort());
    anyhow::ensure!(still_sleeping == pending, "a pending timer fired early");
    Ok(Measured { taken_in_per_sec, bytes_per_timer, lateness: fired.lateness() })
}

/// The probes' due times and how late each fired.
struct Fired {
    due_of: HashMap<Uuid, DateTime<Utc>>,
    late: Mutex<Vec<Duration>>,
    all: Notify,
}

impl Fired {
    fn new(due_of: HashMap<Uuid, DateTime<Utc>>) -> Self {
        Self { late: Mutex::new(Vec::with_capacity(due_of.len())), due_of, all: Notify::new() }
    }

    fn record(&self, timer_id: Uuid, at: DateTime<Utc>) {
        let Some(due) = self.due_of.get(&timer_id) else { return };
        let mut late = self.late.lock().unwrap_or_else(|e| e.into_inner());
        // Firing early would be a bug; it shows as zero lateness and fails `wait_all`.
        late.push((at - *due).to_std().unwrap_or(Duration::ZERO));
        if late.len() == self.due_of.len() {
            self.all.notify_one();
        }
    }

    /// Waits until every probe fired, with a generous bound so a lost timer fails the run.
    async fn wait_all(&self) -> Result<()> {
        let bound = LEAD + Duration::from_millis(self.due_of.len() as u64) + Duration::from_secs(30);
        tokio::time::timeout(bound, self.all.notified())
            .await
            .map_err(|_| anyhow::anyhow!("not every timer fired within {bound:?}"))
    }

    fn lateness(&self) -> Vec<Duration> {
        let mut late = self.late.lock().unwrap_or_else(|e| e.into_inner()).clone();
        late.sort_unstable();
        late
    }
}
