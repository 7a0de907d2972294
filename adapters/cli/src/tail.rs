//! `switchboard events tail`: print the log, then follow it.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;
use futures::StreamExt;
use switchboard_engine::log::{batches, subscribe};
use switchboard_schemas::{RecordedEvent, TeamId};

use crate::config::Config;
use crate::serve::open_log;

/// Options of `events tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Only this team's events.
    #[arg(long)]
    team: Option<TeamId>,
    /// Start after this global position (0: from the beginning).
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Keep following new events instead of stopping at the end.
    #[arg(long, short)]
    follow: bool,
    /// Print each event as its JSON envelope (one per line) instead of a summary.
    #[arg(long)]
    json: bool,
}

/// Reads per round when printing what is there.
const BATCH: usize = 1_000;

/// Prints events until the end of the log (or forever with `--follow`).
pub async fn run(config: Config, args: TailArgs) -> Result<()> {
    let log = open_log(&config).await?;
    let mut out = std::io::stdout().lock();
    if args.follow {
        let mut events = subscribe(log, args.from, args.team);
        while let Some(event) = events.next().await {
            print(&mut out, &event.context("reading the event log")?, args.json)?;
        }
        return Ok(());
    }
    let mut existing = batches(log, args.from, args.team, BATCH);
    while let Some(batch) = existing.next().await {
        for event in &batch.context("reading the event log")? {
            print(&mut out, event, args.json)?;
        }
    }
    Ok(())
}

fn print(out: &mut impl Write, event: &RecordedEvent, json: bool) -> Result<()> {
    if json {
        serde_json::to_writer(&mut *out, event)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{:>8}  {}  {:<40} v{:<4} {}",
            event.position,
            event.occurred_at.format("%Y-%m-%d %H:%M:%S%.3f"),
            event.stream,
            event.version,
            event.event_type
        )?;
    }
    out.flush()?;
    Ok(())
}
