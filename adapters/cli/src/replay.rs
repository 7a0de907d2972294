//! `switchboard replay`: drop the read models and rebuild them from the event log.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use switchboard_projections::runtime::{Projection, ProjectionOptions};
use switchboard_readstore::SqliteReadStore;

use crate::config::Config;
use crate::serve::open_log;

/// Options of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Events folded and committed per transaction.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
}

/// The read-model file beside the event log.
pub fn read_model_path(config: &Config) -> std::path::PathBuf {
    config.data_dir.join("readmodels.sqlite")
}

/// Rebuilds the session list and statistics, printing progress.
pub async fn run(config: Config, args: ReplayArgs) -> Result<()> {
    let log = open_log(&config)?;
    let path = read_model_path(&config);
    let store = Arc::new(SqliteReadStore::open(&path).with_context(|| format!("opening {}", path.display()))?);
    let options = ProjectionOptions { batch: args.batch, ..ProjectionOptions::default() };
    let mut projection = Projection::new(log, store, options);
    let started = std::time::Instant::now();
    let mut last_percent = u64::MAX;
    let position = projection
        .rebuild(|position, head| {
            let percent = (position * 100).checked_div(head).unwrap_or(100);
            if percent != last_percent {
                last_percent = percent;
                eprint!("\rreplaying: {percent:>3}% ({position}/{head} events)");
                let _ = std::io::stderr().flush();
            }
        })
        .await
        .context("rebuilding the read models")?;
    eprintln!();
    println!(
        "rebuilt the read models in {} from {position} events in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
