//! `switchboard thresholds`: replays a team's past matches (every `FaqMatched` keeps its
//! ranked candidates and confidence) against other answer / clarify thresholds before they
//! go live: how many decisions change, and what the operators' feedback says about the
//! answers that would be given or withheld.

use anyhow::{Context, Result};
use clap::Args;
use switchboard_engine::policy::check_thresholds;
use switchboard_engine::replay::{past_matches, replay, DecisionKind};
use switchboard_schemas::TeamId;

use crate::config::Config;
use crate::store::open_log;

/// Options of `thresholds`.
#[derive(Debug, Args)]
pub struct ThresholdsArgs {
    /// The team whose matches to replay.
    #[arg(long)]
    team: TeamId,
    /// The answer threshold to try (the team's current one when absent).
    #[arg(long)]
    answer_at: Option<f32>,
    /// The clarify threshold to try (the team's current one when absent).
    #[arg(long)]
    clarify_at: Option<f32>,
}

fn kind(decision: DecisionKind) -> &'static str {
    match decision {
        DecisionKind::Answer => "answer",
        DecisionKind::Clarify => "clarify",
        DecisionKind::Transfer => "transfer",
    }
}

/// Replays the matches and prints the comparison.
pub async fn run(config: Config, args: ThresholdsArgs) -> Result<()> {
    let log = open_log(&config).await?;
    let runtime = switchboard_engine::runtime::Runtime::new(
        log.clone(),
        std::sync::Arc::new(switchboard_engine::ports::SystemClock),
    );
    runtime.policy(&args.team).await.with_context(|| format!("team {} is not onboarded", args.team))?;
    let current = runtime.load_team(&args.team).await?.settings.answer_policy;
    let mut trial = current.clone();
    trial.answer_at = args.answer_at.unwrap_or(current.answer_at);
    trial.clarify_at = args.clarify_at.unwrap_or(current.clarify_at);
    check_thresholds(&trial).context("the thresholds to try are not valid")?;
    let matches = past_matches(log, &args.team).await.context("reading the event log")?;
    let replay = replay(&matches, &trial);
    println!(
        "{} past matches of team {}; thresholds answer_at {:.2} → {:.2}, clarify_at {:.2} → {:.2}",
        replay.total, args.team, current.answer_at, trial.answer_at, current.clarify_at, trial.clarify_at
    );
    println!("{:<10} {:<10} {:>8}", "was", "would be", "matches");
    for change in &replay.changes {
        println!("{:<10} {:<10} {:>8}", kind(change.was), kind(change.now), change.count);
    }
    let j = replay.judged;
    println!("answers confirmed resolved: {} still answered, {} no longer answered", j.kept_good, j.lost_good);
    println!("answers marked not resolved: {} still answered, {} no longer answered", j.kept_bad, j.withheld_bad);
    println!("questions answered only under the new thresholds (no feedback to judge them by): {}", j.new_unjudged);
    Ok(())
}
