//! `switchboard export training-pairs`: labelled (question, FAQ) pairs with hard negatives
//! from a team's resolved and unresolved sessions, as JSON Lines for offline fine-tuning.

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use futures::TryStreamExt;
use switchboard_engine::log::batches;
use switchboard_projections::training::training_pairs;
use switchboard_schemas::TeamId;

use crate::config::Config;
use crate::store::open_log;

/// `export` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// (query, FAQ, label) pairs: confirmed resolutions (1), the other candidates ranked
    /// for them (0, hard negatives) and answers marked not resolved (0).
    TrainingPairs(TrainingArgs),
}

/// Options of `export training-pairs`.
#[derive(Debug, Args)]
pub struct TrainingArgs {
    /// The team.
    #[arg(long)]
    team: TeamId,
}

/// Events read per round.
const BATCH: usize = 5_000;

/// Runs an `export` subcommand.
pub async fn run(config: Config, command: ExportCommand) -> Result<()> {
    let ExportCommand::TrainingPairs(args) = command;
    let log = open_log(&config).await?;
    let events: Vec<_> = batches(log, 0, Some(args.team), BATCH).try_concat().await.context("reading the event log")?;
    let pairs = training_pairs(&events).context("decoding the team's events")?;
    let mut out = std::io::stdout().lock();
    for pair in &pairs {
        serde_json::to_writer(&mut out, pair)?;
        writeln!(out)?;
    }
    let positives = pairs.iter().filter(|p| p.label == 1).count();
    eprintln!("exported {} pairs ({positives} positive, {} negative)", pairs.len(), pairs.len() - positives);
    Ok(())
}
