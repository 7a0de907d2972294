//! Threshold replay: a team's past matches (every `FaqMatched` keeps its ranked candidates
//! and confidence) decided again at other thresholds before they go live — how many
//! decisions change, what the operators' feedback says about the answers that would be given
//! or withheld, and the precision and coverage of automatic answers at every threshold.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use futures::StreamExt;
use switchboard_schemas::event::{AnswerPolicy, AnswerTarget, MatchDecision, TargetBasis};
use switchboard_schemas::{ConversationEvent, DecodeError, Event, FaqId, StreamId, TeamId};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::log::{batches, EventLog, LogError};
use crate::policy::bounds::{within, MAX_TARGET_PRECISION, MIN_TARGET_PRECISION};
use crate::policy::{check_thresholds, decide_match, PolicyError};
use crate::ports::Ranking;
use crate::runtime::{CommandError, Runtime};

/// Events read per round.
const BATCH: usize = 5_000;
/// Past matches kept (the latest), so a replay's memory is bounded however old the team
/// is; reading still takes time in proportion to the team's history.
pub const MAX_MATCHES: usize = 50_000;
/// The longest question kept per match, in characters (only flips show it).
const MAX_QUERY_CHARS: usize = 200;
/// The events a replay reads; every other event is passed over undecoded.
const READ: [&str; 3] = ["FaqMatched", "ChoiceSelected", "FeedbackGiven"];
/// Questions whose decision would change, shown as examples.
pub const MAX_FLIPS: usize = 20;
/// The answer thresholds of the precision and coverage curve: 0.00, 0.05, … 1.00.
const CURVE_STEPS: u16 = 20;
/// The answer thresholds a target precision may give: 0.00, 0.01, … 1.00.
const TARGET_STEPS: u16 = 100;
/// Answers with the operators' verdict a team needs before its target precision is derived
/// from its own outcomes rather than from the calibration.
pub const MIN_OUTCOMES: usize = 200;
/// Judged answers at or above a threshold needed to trust the precision measured there.
pub const MIN_JUDGED_AT: usize = 50;
/// Recorded questions needed before their confidences lower a threshold below the target.
pub const MIN_QUESTIONS: usize = 50;

/// One past match and what the operator said about its first candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct PastMatch {
    /// The question matched.
    pub query: String,
    /// The candidates and confidence recorded then.
    pub ranking: Ranking,
    /// What was decided then.
    pub decision: MatchDecision,
    /// Whether the first candidate was right, by what the operator did after this match:
    /// feedback on the answer from it (directly, or after choosing it as choice 1), or
    /// `false` when they chose another of the choices; none when they said nothing.
    pub verdict: Option<bool>,
}

/// What kind of decision a match got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecisionKind {
    /// Answered from the first candidate.
    Answer,
    /// Choices offered.
    Clarify,
    /// Handed to a person.
    Transfer,
}

impl DecisionKind {
    /// How the decision is spelled (in the API and the `thresholds` command).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answer => "answer",
            Self::Clarify => "clarify",
            Self::Transfer => "transfer",
        }
    }
}

impl From<&MatchDecision> for DecisionKind {
    fn from(decision: &MatchDecision) -> Self {
        match decision {
            MatchDecision::Answer { .. } => Self::Answer,
            MatchDecision::Clarify { .. } => Self::Clarify,
            MatchDecision::Transfer => Self::Transfer,
        }
    }
}

/// How many matches went from one kind of decision to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The decision then.
    pub was: DecisionKind,
    /// The decision at the new thresholds.
    pub now: DecisionKind,
    /// How many matches.
    pub count: usize,
}

/// What the feedback says about the answers kept, lost and new.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Judged {
    /// Answered then and now, confirmed resolved.
    pub kept_good: usize,
    /// Answered then but not now, although confirmed resolved.
    pub lost_good: usize,
    /// Answered then and now, although marked not resolved.
    pub kept_bad: usize,
    /// Answered then but not now, and marked not resolved.
    pub withheld_bad: usize,
    /// Answered only now, and the first candidate was confirmed (chosen, then resolved).
    pub new_good: usize,
    /// Answered only now, although the first candidate was wrong (another choice taken, or
    /// chosen and not resolved).
    pub new_bad: usize,
    /// Answered only now, with nothing to judge them by.
    pub new_unjudged: usize,
}

/// Precision and coverage of automatic answers at one answer threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// The answer threshold.
    pub answer_at: f32,
    /// Share of the matches that would be answered.
    pub coverage: f32,
    /// Share of the judged answers that were confirmed resolved; none when none is judged.
    pub precision: Option<f32>,
    /// How many of the answers have a verdict.
    pub judged: usize,
}

/// A question whose decision would change.
#[derive(Debug, Clone, PartialEq)]
pub struct Flip {
    /// The question.
    pub query: String,
    /// Its confidence.
    pub confidence: f32,
    /// The first candidate, if any.
    pub faq_id: Option<FaqId>,
    /// The decision then.
    pub was: DecisionKind,
    /// The decision at the new thresholds.
    pub now: DecisionKind,
    /// What the operator said about the first candidate.
    pub verdict: Option<bool>,
}

/// The past matches decided again.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// How many past matches were replayed.
    pub total: usize,
    /// How many of them had a verdict on their first candidate.
    pub with_verdict: usize,
    /// Decisions then → now, largest first.
    pub changes: Vec<Change>,
    /// The feedback on the answers.
    pub judged: Judged,
    /// Precision and coverage at every answer threshold (the clarify threshold does not
    /// change which questions are answered).
    pub curve: Vec<CurvePoint>,
    /// Some questions whose decision would change, the latest first.
    pub flips: Vec<Flip>,
}

/// Why a replay could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The thresholds to try cannot be used.
    #[error(transparent)]
    BadThresholds(#[from] PolicyError),
    /// Another replay is being made on this instance.
    #[error("another threshold replay is running on this instance; try again when it is done")]
    Busy,
    /// The team is unknown or its state cannot be read.
    #[error(transparent)]
    Team(#[from] CommandError),
    /// The log could not be read.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A recorded event could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The team's outcomes show the target precision is not reached at any threshold.
    #[error(transparent)]
    Unreachable(#[from] Unreachable),
}

/// The team's own outcomes reach the target precision at no threshold.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the team's {judged} answers with the operators' verdict reach a precision of {target} at no threshold \
     (at best {best_precision:.3}, at {best_answer_at:.2}, with at least {MIN_JUDGED_AT} of them judged); \
     set a lower target, or an answer threshold by hand"
)]
pub struct Unreachable {
    /// The target precision.
    pub target: f32,
    /// The team's judged answers.
    pub judged: usize,
    /// The best precision measured.
    pub best_precision: f32,
    /// The threshold it was measured at.
    pub best_answer_at: f32,
}

/// Makes threshold replays, one at a time per instance (each reads a team's history).
pub struct ThresholdReplayer {
    runtime: Arc<Runtime>,
    running: Semaphore,
}

impl ThresholdReplayer {
    /// A replayer reading through `runtime`'s log.
    pub fn new(runtime: Arc<Runtime>) -> Self {
        Self { runtime, running: Semaphore::new(1) }
    }

    /// The team's past matches decided again at `answer_at` and `clarify_at` (each the
    /// team's own when none; its other answer settings as they are), and the team's answer
    /// policy now.
    pub async fn replay(
        &self,
        team: &TeamId,
        answer_at: Option<f32>,
        clarify_at: Option<f32>,
    ) -> Result<(Replay, AnswerPolicy), ReplayError> {
        let current = self.runtime.load_team(team).await?.settings.answer_policy;
        let trial = AnswerPolicy {
            answer_at: answer_at.unwrap_or(current.answer_at),
            clarify_at: clarify_at.unwrap_or(current.clarify_at),
            ..current.clone()
        };
        check_thresholds(&trial)?;
        let _running = self.running.try_acquire().map_err(|_| ReplayError::Busy)?;
        let matches = past_matches(self.runtime.log().clone(), team).await?;
        Ok((replay(&matches, &trial), current))
    }

    /// The answer threshold derived for a target precision from the team's past matches,
    /// and the team's answer policy now.
    pub async fn derive(&self, team: &TeamId, precision: f32) -> Result<(AnswerTarget, AnswerPolicy), ReplayError> {
        let current = self.runtime.load_team(team).await?.settings.answer_policy;
        within("answer_policy.target.precision", precision, MIN_TARGET_PRECISION..=MAX_TARGET_PRECISION)
            .map_err(PolicyError::from)?;
        let _running = self.running.try_acquire().map_err(|_| ReplayError::Busy)?;
        let matches = past_matches(self.runtime.log().clone(), team).await?;
        Ok((derive_target(precision, &matches)?, current))
    }
}

/// The lowest answer threshold whose automatic answers reach `precision` (a share of them
/// right), on the team's past matches. Pure.
///
/// With [`MIN_OUTCOMES`] answers the operators judged, the precision is measured on them
/// (where at least [`MIN_JUDGED_AT`] are judged); a target they reach nowhere is refused,
/// as they outweigh the calibration. With fewer, the confidence is taken at its word (it is
/// calibrated to the probability that the first candidate is right): the expected precision
/// at a threshold is the mean confidence of the questions it answers, over at least
/// [`MIN_QUESTIONS`] of them. The threshold is then never above the target itself, where
/// every answer is at least that likely right.
///
/// The threshold found answers the same questions as every step up to the lowest confidence
/// among them; it is raised to the highest such step, so a gap in the recorded confidences
/// does not let new questions in the gap be answered.
pub fn derive_target(precision: f32, matches: &[PastMatch]) -> Result<AnswerTarget, Unreachable> {
    let answerable: Vec<&PastMatch> = matches.iter().filter(|m| !m.ranking.candidates.is_empty()).collect();
    let judged = answerable.iter().filter(|m| m.verdict.is_some()).count();
    let coverage = |answer_at: f32| point_at(matches, answer_at).coverage;
    let steps = (0..=TARGET_STEPS).map(|step| f32::from(step) / f32::from(TARGET_STEPS));
    // The highest step answering what `answer_at` answers: at most the lowest confidence at
    // or above it.
    let top_of_gap = |answer_at: f32| {
        let lowest =
            answerable.iter().map(|m| m.ranking.confidence).filter(|c| *c >= answer_at).fold(f32::MAX, f32::min);
        // The steps themselves, compared as the decision compares: exact by construction.
        steps.clone().rev().find(|step| *step <= lowest).map_or(answer_at, |step| step.max(answer_at))
    };
    if judged >= MIN_OUTCOMES {
        let mut best = (0.0f32, 0.0f32);
        for answer_at in steps.clone() {
            let point = point_at(matches, answer_at);
            let Some(measured) = point.precision.filter(|_| point.judged >= MIN_JUDGED_AT) else { break };
            if measured >= precision {
                let answer_at = top_of_gap(answer_at);
                return Ok(AnswerTarget {
                    precision,
                    answer_at,
                    basis: TargetBasis::Outcomes,
                    count: judged as u64,
                    expected_precision: measured,
                    coverage: coverage(answer_at),
                });
            }
            if measured > best.0 {
                best = (measured, answer_at);
            }
        }
        return Err(Unreachable {
            target: precision,
            judged,
            best_precision: best.0,
            best_answer_at: top_of_gap(best.1),
        });
    }
    // The target rounded up to a step: every answer there is at least that likely right.
    // (less a hair, so that 0.6, stored as 0.600000024, stays 0.60)
    let ceiling = (precision * f32::from(TARGET_STEPS) - 1e-3).ceil() / f32::from(TARGET_STEPS);
    // The mean confidence of the questions a step answers, when they are enough to go by.
    let expected = |answer_at: f32| {
        let above: Vec<f32> = answerable.iter().map(|m| m.ranking.confidence).filter(|c| *c >= answer_at).collect();
        #[allow(clippy::cast_precision_loss)]
        let mean = above.iter().sum::<f32>() / above.len().max(1) as f32;
        (above.len() >= MIN_QUESTIONS).then_some(mean)
    };
    let lowered = steps
        .clone()
        .take_while(|at| *at < ceiling)
        .find_map(|at| expected(at).filter(|mean| *mean >= precision).map(|mean| (top_of_gap(at).min(ceiling), mean)));
    let (answer_at, expected_precision) =
        lowered.unwrap_or_else(|| (ceiling, expected(ceiling).unwrap_or(ceiling).max(precision)));
    Ok(AnswerTarget {
        precision,
        answer_at,
        basis: TargetBasis::Calibration,
        count: answerable.len() as u64,
        expected_precision: expected_precision.min(1.0),
        coverage: coverage(answer_at),
    })
}

/// The latest [`MAX_MATCHES`] matches of `team`, each with the verdict on its first
/// candidate.
///
/// A session's feedback is about the match that led to the answer: one answered from its
/// first candidate, or one whose choices the operator picked from. Each new match of the
/// session takes that place, so feedback never lands on an earlier question.
pub async fn past_matches(log: Arc<dyn EventLog>, team: &TeamId) -> Result<Vec<PastMatch>, ReplayError> {
    let mut matches: VecDeque<PastMatch> = VecDeque::new();
    // Matches dropped from the front so far: `index - dropped` is a match's place now.
    let mut dropped = 0usize;
    // Per session: the latest match, counted from the first ever read.
    let mut latest: HashMap<(StreamId, Uuid), usize> = HashMap::new();
    let mut events = batches(log, 0, Some(team.clone()), BATCH);
    let mut read = 0usize;
    while let Some(batch) = events.next().await {
        for recorded in batch? {
            if !READ.contains(&recorded.event_type.as_str()) {
                continue;
            }
            let Event::Conversation(event) = recorded.decode()? else { continue };
            let session = |id: Uuid| (recorded.stream.clone(), id);
            match event {
                ConversationEvent::FaqMatched(m) => {
                    let mut candidates = m.candidates;
                    for candidate in &mut candidates {
                        // Only the ids, order and scores decide; the texts would cost memory.
                        candidate.question.clear();
                        candidate.answer.clear();
                    }
                    let query = m.query.chars().take(MAX_QUERY_CHARS).collect();
                    let ranking = Ranking { candidates, confidence: m.confidence, engine: m.engine };
                    if matches.len() == MAX_MATCHES {
                        matches.pop_front();
                        dropped += 1;
                    }
                    matches.push_back(PastMatch { query, ranking, decision: m.decision, verdict: None });
                    latest.insert(session(m.session_id), read);
                    read += 1;
                }
                ConversationEvent::ChoiceSelected(c) => {
                    if let Some(past) = latest
                        .get(&session(c.session_id))
                        .and_then(|&i| i.checked_sub(dropped))
                        .and_then(|at| matches.get_mut(at))
                    {
                        // Choosing another than the first says the first was wrong; choosing
                        // the first waits for the feedback on its answer.
                        if c.choice != 1 {
                            past.verdict = Some(false);
                        }
                    }
                }
                ConversationEvent::FeedbackGiven(f) => {
                    if let Some(past) = latest
                        .get(&session(f.session_id))
                        .and_then(|&i| i.checked_sub(dropped))
                        .and_then(|at| matches.get_mut(at))
                    {
                        let about_first = past.ranking.candidates.first().is_some_and(|c| c.faq_id == f.faq_id);
                        if about_first {
                            past.verdict = Some(f.resolved);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(matches.into())
}

/// Decides `matches` again at `policy`'s thresholds. Pure.
pub fn replay(matches: &[PastMatch], policy: &AnswerPolicy) -> Replay {
    let mut changes: HashMap<(DecisionKind, DecisionKind), usize> = HashMap::new();
    let mut judged = Judged::default();
    let mut flips = Vec::new();
    for past in matches.iter().rev() {
        let was = DecisionKind::from(&past.decision);
        let now = DecisionKind::from(&decide_match(policy, &past.ranking));
        *changes.entry((was, now)).or_default() += 1;
        let (answered_then, answered_now) = (was == DecisionKind::Answer, now == DecisionKind::Answer);
        match (past.verdict, answered_then, answered_now) {
            (Some(true), true, true) => judged.kept_good += 1,
            (Some(true), true, false) => judged.lost_good += 1,
            (Some(false), true, true) => judged.kept_bad += 1,
            (Some(false), true, false) => judged.withheld_bad += 1,
            (Some(true), false, true) => judged.new_good += 1,
            (Some(false), false, true) => judged.new_bad += 1,
            (None, false, true) => judged.new_unjudged += 1,
            _ => {}
        }
        if was != now && flips.len() < MAX_FLIPS {
            flips.push(Flip {
                query: past.query.clone(),
                confidence: past.ranking.confidence,
                faq_id: past.ranking.candidates.first().map(|c| c.faq_id.clone()),
                was,
                now,
                verdict: past.verdict,
            });
        }
    }
    let mut changes: Vec<Change> = changes.into_iter().map(|((was, now), count)| Change { was, now, count }).collect();
    changes.sort_by(|a, b| b.count.cmp(&a.count).then(a.was.cmp(&b.was)).then(a.now.cmp(&b.now)));
    Replay {
        total: matches.len(),
        with_verdict: matches.iter().filter(|m| m.verdict.is_some()).count(),
        changes,
        judged,
        curve: curve(matches),
        flips,
    }
}

/// Precision and coverage of automatic answers at each step of the answer threshold.
fn curve(matches: &[PastMatch]) -> Vec<CurvePoint> {
    (0..=CURVE_STEPS).map(|step| point_at(matches, f32::from(step) / f32::from(CURVE_STEPS))).collect()
}

/// Precision and coverage of automatic answers at one answer threshold.
fn point_at(matches: &[PastMatch], answer_at: f32) -> CurvePoint {
    let answered: Vec<&PastMatch> =
        matches.iter().filter(|m| !m.ranking.candidates.is_empty() && m.ranking.confidence >= answer_at).collect();
    let verdicts: Vec<bool> = answered.iter().filter_map(|m| m.verdict).collect();
    let good = verdicts.iter().filter(|v| **v).count();
    #[allow(clippy::cast_precision_loss)]
    let share = |part: usize, whole: usize| (whole > 0).then(|| part as f32 / whole as f32);
    CurvePoint {
        answer_at,
        coverage: share(answered.len(), matches.len()).unwrap_or(0.0),
        precision: share(good, verdicts.len()),
        judged: verdicts.len(),
    }
}

#[cfg(test)]
mod tests {
    use switchboard_schemas::event::MatchCandidate;

    use super::*;

    fn past(confidence: f32, decision: MatchDecision, verdict: Option<bool>) -> PastMatch {
        let candidate = MatchCandidate {
            faq_id: FaqId::new("refund").unwrap(),
            question: "退款多久到账".into(),
            answer: "三个工作日".into(),
            category: None,
            score: confidence,
            keyword_score: None,
            semantic_score: None,
        };
        PastMatch {
            query: format!("q{confidence}"),
            ranking: Ranking { candidates: vec![candidate], confidence, engine: "test".into() },
            decision,
            verdict,
        }
    }

    /// Three answers (confirmed, refuted, confirmed) and a hand-over, at falling confidence.
    fn four_matches() -> Vec<PastMatch> {
        vec![
            past(0.9, answer(), Some(true)),
            past(0.5, answer(), Some(false)),
            past(0.45, answer(), Some(true)),
            past(0.3, MatchDecision::Transfer, None),
        ]
    }

    fn answer() -> MatchDecision {
        MatchDecision::Answer { faq_id: FaqId::new("refund").unwrap() }
    }

    #[test]
    fn raising_the_answer_threshold_withholds_the_doubtful_answers_and_says_what_feedback_they_had() {
        let matches = four_matches();
        let stricter = AnswerPolicy { answer_at: 0.6, clarify_at: 0.4, ..AnswerPolicy::default() };
        let replay = replay(&matches, &stricter);
        assert_eq!((replay.total, replay.with_verdict), (4, 3));
        assert_eq!(replay.judged, Judged { kept_good: 1, lost_good: 1, withheld_bad: 1, ..Judged::default() });
        let count = |was, now| replay.changes.iter().find(|c| c.was == was && c.now == now).map_or(0, |c| c.count);
        assert_eq!(count(DecisionKind::Answer, DecisionKind::Clarify), 2);
        assert_eq!(count(DecisionKind::Answer, DecisionKind::Answer), 1);
        assert_eq!(count(DecisionKind::Transfer, DecisionKind::Transfer), 1);
        assert_eq!(replay.flips.len(), 2, "only the changed decisions are examples");
        assert!(replay.flips.iter().all(|f| f.was == DecisionKind::Answer && f.now == DecisionKind::Clarify));
        assert_eq!(replay.flips[0].query, "q0.45", "the latest first");
    }

    #[test]
    fn the_curve_trades_coverage_for_precision() {
        let matches = four_matches();
        let replay = replay(&matches, &AnswerPolicy::default());
        let at = |t: f32| *replay.curve.iter().find(|p| (p.answer_at - t).abs() < 1e-6).unwrap();
        assert_eq!(replay.curve.len(), 21);
        assert_eq!((at(0.0).coverage, at(0.0).precision, at(0.0).judged), (1.0, Some(2.0 / 3.0), 3));
        assert_eq!((at(0.5).coverage, at(0.5).precision), (0.5, Some(0.5)));
        assert_eq!((at(0.6).coverage, at(0.6).precision), (0.25, Some(1.0)));
        assert_eq!((at(0.95).coverage, at(0.95).precision, at(0.95).judged), (0.0, None, 0));
        for pair in replay.curve.windows(2) {
            assert!(pair[1].coverage <= pair[0].coverage, "coverage never grows with the threshold");
        }
    }

    #[test]
    fn nothing_to_replay_is_an_empty_replay() {
        let replay = replay(&[], &AnswerPolicy::default());
        assert_eq!((replay.total, replay.changes.len(), replay.flips.len()), (0, 0, 0));
        assert!(replay.curve.iter().all(|p| p.coverage == 0.0 && p.precision.is_none()));
    }

    /// `n` matches at `confidence`, `right` of them confirmed and the rest refuted (or, with
    /// `judged` false, all without a verdict).
    fn many(n: usize, confidence: f32, right: usize, judged: bool) -> Vec<PastMatch> {
        (0..n).map(|i| past(confidence, answer(), judged.then_some(i < right))).collect()
    }

    #[test]
    fn with_enough_outcomes_the_target_is_met_by_the_team_s_own_verdicts() {
        // 100 answers at 0.9 (98 right), 100 at 0.6 (85 right), 100 at 0.3 (40 right):
        let mut matches = many(100, 0.9, 98, true);
        matches.extend(many(100, 0.6, 85, true));
        matches.extend(many(100, 0.3, 40, true));
        matches.extend(many(100, 0.1, 0, false));
        // 0.915 over the top 200 (183 of 200 right), from 0.31 up to 0.60: the top of that gap.
        let target = derive_target(0.9, &matches).unwrap();
        assert_eq!((target.basis, target.count, target.answer_at), (TargetBasis::Outcomes, 300, 0.6));
        assert!((target.expected_precision - 0.915).abs() < 1e-6 && (target.coverage - 0.5).abs() < 1e-6);
        // 0.95 needs the top 100 alone.
        let strict = derive_target(0.95, &matches).unwrap();
        assert_eq!((strict.answer_at, strict.expected_precision), (0.9, 0.98));
        // 0.99 is reached nowhere with 50 answers judged: refused, with the best there is.
        let refused = derive_target(0.99, &matches).unwrap_err();
        assert_eq!((refused.judged, refused.best_precision, refused.best_answer_at), (300, 0.98, 0.9));
    }

    #[test]
    fn with_few_outcomes_the_calibration_is_taken_at_its_word() {
        // 150 judged answers are too few: the confidences say 0.9 on average above 0.5.
        let mut matches = many(100, 0.95, 100, true);
        matches.extend(many(50, 0.85, 0, true));
        matches.extend(many(100, 0.3, 0, false));
        let target = derive_target(0.9, &matches).unwrap();
        assert_eq!((target.basis, target.count, target.answer_at), (TargetBasis::Calibration, 250, 0.85));
        assert!((target.expected_precision - (100.0 * 0.95 + 50.0 * 0.85) / 150.0).abs() < 1e-4);
        assert!((target.coverage - 0.6).abs() < 1e-6);
        // A target above every mean is met where each answer is at least that likely right.
        let high = derive_target(0.97, &matches).unwrap();
        assert_eq!((high.answer_at, high.coverage), (0.97, 0.0));
        // Two confident questions among many doubtful ones are too few to lower it.
        let mut two = many(48, 0.1, 0, false);
        two.extend([0.85, 0.99].map(|c| past(c, answer(), None)));
        assert_eq!(derive_target(0.9, &two).unwrap().answer_at, 0.9);
        // A question exactly at a step keeps that step (0.53 times 100 is 52.999996 in f32).
        let mut exact = many(60, 0.53, 0, false);
        exact.extend(many(60, 0.99, 0, false));
        let at = derive_target(0.75, &exact).unwrap();
        assert_eq!((at.answer_at, at.coverage), (0.53, 1.0));
        // Too few questions to go by, however confident: the target itself.
        let few = derive_target(0.9, &many(MIN_QUESTIONS - 1, 0.99, 0, false)).unwrap();
        assert_eq!((few.basis, few.answer_at, few.coverage), (TargetBasis::Calibration, 0.9, 1.0));
        // Nothing recorded yet: the target itself, rounded to a step.
        let fresh = derive_target(0.6, &[]).unwrap();
        assert_eq!(
            (fresh.basis, fresh.count, fresh.answer_at, fresh.expected_precision),
            (TargetBasis::Calibration, 0, 0.6, 0.6)
        );
    }
}
