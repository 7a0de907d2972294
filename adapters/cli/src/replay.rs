//! `switchboard replay`: drop the read models and rebuild them from the event log.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;
use switchboard_projections::runtime::{Projection, ProjectionOptions, SESSIONS};

use crate::config::Config;
use crate::store::open_log;

/// Options of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The projection to rebuild: `sessions` (the session list, statistics and FAQ
    /// candidates, which are one fold). All of them when absent.
    #[arg(long, value_parser = [SESSIONS])]
    projection: Option<String>,
    /// Events folded and committed per transaction.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
}

/// Rebuilds the read models, printing progress.
pub async fn run(config: Config, args: ReplayArgs) -> Result<()> {
    let log = open_log(&config).await?;
    let store = crate::read_models::open(&config).await?;
    let options = ProjectionOptions { batch: args.batch, ..ProjectionOptions::default() };
    let mut projection = Projection::new(log, store, options);
    let name = args.projection.as_deref().unwrap_or(SESSIONS);
    let started = std::time::Instant::now();
    let mut last_percent = u64::MAX;
    let position = projection
        .rebuild(|position, head| {
            let percent = (position * 100).checked_div(head).unwrap_or(100);
            if percent != last_percent {
                last_percent = percent;
                eprint!("\rreplaying {name}: {percent:>3}% ({position}/{head} events)");
                let _ = std::io::stderr().flush();
            }
        })
        .await
        .context("rebuilding the read models")?;
    eprintln!();
    println!(
        "rebuilt {name} in {} from {position} events in {:.1} s",
        crate::read_models::describe(&config),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
