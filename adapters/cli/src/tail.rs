//! `switchboard events tail`: print the log, then follow it.

use std::io::Write;

use anyhow::{Context, Result};
use async_trait::async_trait;
use clap::Args;
use futures::StreamExt;
use switchboard_engine::follow::{follow, Failure, FollowOptions, Follower};
use switchboard_engine::log::batches;
use switchboard_schemas::{RecordedEvent, TeamId};

use crate::config::Config;
use crate::store::open_log;

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
    if args.follow {
        let mut printer = Printer { out: std::io::stdout(), after: args.from, json: args.json };
        let options = FollowOptions::new("events tail").team(args.team);
        let stopped = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        return follow(log, &mut printer, options, stopped).await.context("following the event log");
    }
    let mut out = std::io::stdout().lock();
    let mut existing = batches(log, args.from, args.team, BATCH);
    while let Some(batch) = existing.next().await {
        for event in &batch.context("reading the event log")? {
            print(&mut out, event, args.json)?;
        }
    }
    Ok(())
}

/// `--follow`: prints what it is given, resuming after the last event printed.
struct Printer<W> {
    out: W,
    after: u64,
    json: bool,
}

#[async_trait]
impl<W: Write + Send> Follower for Printer<W> {
    type Error = std::io::Error;

    async fn resume_from(&mut self) -> Result<u64, std::io::Error> {
        Ok(self.after)
    }

    async fn handle(&mut self, events: Vec<RecordedEvent>) -> Result<(), std::io::Error> {
        for event in &events {
            print(&mut self.out, event, self.json)?;
            self.after = event.position;
        }
        Ok(())
    }

    /// A closed output (the reader of a pipe went away) ends the command; the log's
    /// failures are waited out.
    fn retries(&self, error: &Failure<std::io::Error>) -> bool {
        matches!(error, Failure::Log(_))
    }
}

fn print(out: &mut impl Write, event: &RecordedEvent, json: bool) -> std::io::Result<()> {
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
