//! `switchboard thresholds`: replays a team's past matches (every `FaqMatched` keeps its
//! ranked candidates and confidence) against other answer / clarify thresholds before they
//! go live: how many decisions change, and what the operators' feedback says about the
//! answers that would be given or withheld.

use anyhow::{Context, Result};
use clap::Args;
use switchboard_engine::threshold_replay::ThresholdReplayer;
use switchboard_schemas::event::TargetBasis;
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
    /// Derive the answer threshold from this target precision of automatic answers
    /// (0.5–0.99), as the console does, and replay at it (nothing is saved).
    #[arg(long, conflicts_with = "answer_at")]
    target_precision: Option<f32>,
}

/// Replays the matches and prints the comparison.
pub async fn run(config: Config, args: ThresholdsArgs) -> Result<()> {
    let log = open_log(&config).await?;
    let runtime = std::sync::Arc::new(switchboard_engine::runtime::Runtime::new(
        log,
        std::sync::Arc::new(switchboard_engine::ports::SystemClock),
    ));
    runtime.policy(&args.team).await.with_context(|| format!("team {} is not onboarded", args.team))?;
    let replayer = ThresholdReplayer::new(runtime);
    let mut answer_at = args.answer_at;
    if let Some(precision) = args.target_precision {
        let (target, _) =
            replayer.derive(&args.team, precision).await.context("deriving the threshold from the target")?;
        let basis = match target.basis {
            TargetBasis::Outcomes => format!("the team's {} answers with the operators' verdict", target.count),
            TargetBasis::Calibration => {
                format!("the calibrated confidence over the team's {} questions with candidates", target.count)
            }
        };
        println!(
            "target precision {precision:.2} → answer_at {:.2} from {basis}: expected precision {:.3}, answered {:.3}",
            target.answer_at, target.expected_precision, target.coverage
        );
        answer_at = Some(target.answer_at);
    }
    let (replay, current) =
        replayer.replay(&args.team, answer_at, args.clarify_at).await.context("replaying the team's past matches")?;
    let answer_at = answer_at.unwrap_or(current.answer_at);
    let clarify_at = args.clarify_at.unwrap_or(current.clarify_at);
    println!(
        "{} past matches of team {}; thresholds answer_at {:.2} → {answer_at:.2}, clarify_at {:.2} → {clarify_at:.2}",
        replay.total, args.team, current.answer_at, current.clarify_at
    );
    println!("{:<10} {:<10} {:>8}", "was", "would be", "matches");
    for change in &replay.changes {
        println!("{:<10} {:<10} {:>8}", change.was.as_str(), change.now.as_str(), change.count);
    }
    let j = replay.judged;
    println!("answers confirmed resolved: {} still answered, {} no longer answered", j.kept_good, j.lost_good);
    println!("answers marked not resolved: {} still answered, {} no longer answered", j.kept_bad, j.withheld_bad);
    println!(
        "answered only under the new thresholds: {} confirmed, {} wrong, {} with nothing to judge them by",
        j.new_good, j.new_bad, j.new_unjudged
    );
    Ok(())
}
