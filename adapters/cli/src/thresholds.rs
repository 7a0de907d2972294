//! `switchboard thresholds`: replays a team's past matches (every `FaqMatched` keeps its
//! ranked candidates and confidence) against other answer / clarify thresholds before they
//! go live: how many decisions change, and what the operators' feedback says about the
//! answers that would be given or withheld.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use clap::Args;
use futures::StreamExt;
use switchboard_engine::log::batches;
use switchboard_engine::ports::Ranking;
use switchboard_schemas::event::MatchDecision;
use switchboard_schemas::{ConversationEvent, Event, StreamId, TeamId};
use uuid::Uuid;

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

fn kind(decision: &MatchDecision) -> &'static str {
    match decision {
        MatchDecision::Answer { .. } => "answer",
        MatchDecision::Clarify { .. } => "clarify",
        MatchDecision::Transfer => "transfer",
    }
}

/// Events read per round.
const BATCH: usize = 5_000;

/// Replays the matches and prints the comparison.
pub async fn run(config: Config, args: ThresholdsArgs) -> Result<()> {
    let log = open_log(&config).await?;
    let runtime = switchboard_engine::runtime::Runtime::new(
        log.clone(),
        std::sync::Arc::new(switchboard_engine::ports::SystemClock),
    );
    runtime.policy(&args.team).await.with_context(|| format!("team {} is not onboarded", args.team))?;
    let team = runtime.load_team(&args.team).await?;
    let mut settings = team.settings.clone();
    if let Some(answer_at) = args.answer_at {
        settings.answer_policy.answer_at = answer_at;
    }
    if let Some(clarify_at) = args.clarify_at {
        settings.answer_policy.clarify_at = clarify_at;
    }
    let (old_answer, old_clarify) = (team.settings.answer_policy.answer_at, team.settings.answer_policy.clarify_at);
    let (new_answer, new_clarify) = (settings.answer_policy.answer_at, settings.answer_policy.clarify_at);
    let trial = switchboard_engine::policy::TeamPolicy::new(settings, team.roster.clone())
        .context("the thresholds to try are not valid")?;

    // (old decision, new decision) per match; feedback per (stream, session, FAQ).
    let mut changes: BTreeMap<(&'static str, &'static str), usize> = BTreeMap::new();
    let mut answers: Vec<((StreamId, Uuid, String), &'static str, &'static str)> = Vec::new();
    let mut feedback: HashMap<(StreamId, Uuid, String), bool> = HashMap::new();
    let mut existing = batches(log, 0, Some(args.team.clone()), BATCH);
    while let Some(batch) = existing.next().await {
        for recorded in batch.context("reading the event log")? {
            let Ok(Event::Conversation(event)) = recorded.decode() else { continue };
            match event {
                ConversationEvent::FaqMatched(m) => {
                    let ranking =
                        Ranking { candidates: m.candidates.clone(), confidence: m.confidence, engine: m.engine };
                    let new = trial.decide_match(&ranking);
                    let (was, now) = (kind(&m.decision), kind(&new));
                    *changes.entry((was, now)).or_default() += 1;
                    if let Some(top) = m.candidates.first() {
                        answers.push(((recorded.stream.clone(), m.session_id, top.faq_id.to_string()), was, now));
                    }
                }
                ConversationEvent::FeedbackGiven(f) => {
                    feedback.insert((recorded.stream.clone(), f.session_id, f.faq_id.to_string()), f.resolved);
                }
                _ => {}
            }
        }
    }
    let total: usize = changes.values().sum();
    println!("{total} past matches of team {}; thresholds answer_at {old_answer:.2} → {new_answer:.2}, clarify_at {old_clarify:.2} → {new_clarify:.2}", args.team);
    println!("{:<10} {:<10} {:>8}", "was", "would be", "matches");
    for ((was, now), n) in &changes {
        println!("{was:<10} {now:<10} {n:>8}");
    }
    let (mut kept_good, mut lost_good, mut kept_bad, mut withheld_bad, mut new_unknown) = (0, 0, 0, 0, 0);
    for (key, was, now) in &answers {
        let (answered_before, answered_now) = (*was == "answer", *now == "answer");
        match (feedback.get(key), answered_before, answered_now) {
            (Some(true), true, true) => kept_good += 1,
            (Some(true), true, false) => lost_good += 1,
            (Some(false), true, true) => kept_bad += 1,
            (Some(false), true, false) => withheld_bad += 1,
            (_, false, true) => new_unknown += 1,
            _ => {}
        }
    }
    println!("answers confirmed resolved: {kept_good} still answered, {lost_good} no longer answered");
    println!("answers marked not resolved: {kept_bad} still answered, {withheld_bad} no longer answered");
    println!("questions answered only under the new thresholds (no feedback to judge them by): {new_unknown}");
    Ok(())
}
