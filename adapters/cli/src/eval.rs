//! `switchboard eval`: how well the keyword, semantic and hybrid engines answer labelled
//! questions — P@1, R@5 and MRR@10 on questions that have an FAQ, end-to-end accuracy when
//! low confidence hands the question to a person, and the precision and coverage of
//! automatic answers at each threshold — by engine and by language. `--tune` picks the
//! fusion weights, the confidence calibration and the answer / clarify thresholds on the
//! given questions and prints (or writes) them as configuration.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde::Serialize;
use switchboard_embed::OrtEmbedder;
use switchboard_engine::ports::Ranking;
use switchboard_schemas::event::AnswerPolicy;
use switchboard_schemas::event::FaqAdded;
use switchboard_schemas::{FaqEvent, FaqId, TeamId};
use switchboard_search::hybrid::{Calibration, Evidence, Rankings};
use switchboard_search::{Fusion, HybridMatcher, SemanticMatcher};

/// Options of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// FAQ bank (JSON Lines with id, question, answer[, category, paraphrases]; or CSV with
    /// a header id,question,answer[,category]). Repeat with --queries for several sets.
    #[arg(long, required = true)]
    faqs: Vec<PathBuf>,
    /// Labelled questions (JSON Lines with query, faq_id (null: no FAQ matches), lang; or
    /// CSV with a header query,faq_id[,lang]), one file per --faqs, in the same order.
    #[arg(long, required = true)]
    queries: Vec<PathBuf>,
    /// Report as a table or as JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Pick fusion weights, calibration and thresholds on these questions and print them
    /// as configuration.
    #[arg(long)]
    tune: bool,
    /// With --tune: write the tuned settings to this TOML file (for `--config`).
    #[arg(long, requires = "tune")]
    write: Option<PathBuf>,
    /// With --write: the team whose answer policy the thresholds become.
    #[arg(long, default_value = "ops")]
    team: String,
    /// The answer threshold a team would run with, for the figures at it (default: the
    /// shipped answer policy's).
    #[arg(long)]
    answer_at: Option<f32>,
    /// Also simulate the learning loop: learn every other matched question as a confirmed
    /// resolution (a paraphrase of its FAQ), then rank the others again.
    #[arg(long)]
    learning: bool,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Text,
    /// JSON for tools.
    Json,
}

/// Candidates kept per question.
const DEPTH: usize = 10;
/// Thresholds reported in the precision / coverage table.
const THRESHOLDS: [f32; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

struct Faq {
    id: String,
    question: String,
    answer: String,
    category: Option<String>,
    paraphrases: Vec<String>,
}

struct Query {
    text: String,
    gold: Option<String>,
    lang: String,
}

fn load(faqs: &Path, queries: &Path) -> Result<(Vec<Faq>, Vec<Query>)> {
    let mut bank = Vec::new();
    for row in switchboard_tabular::read_path(faqs, &["id", "question"]).with_context(|| faqs.display().to_string())? {
        let at = || format!("{} line {}", faqs.display(), row.line);
        bank.push(Faq {
            id: row.text("id").with_context(|| format!("{}: no id", at()))?,
            question: row.text("question").with_context(|| format!("{}: no question", at()))?,
            answer: row.text("answer").unwrap_or_default(),
            category: row.text("category"),
            paraphrases: row.list("paraphrases"),
        });
    }
    let mut questions = Vec::new();
    for row in switchboard_tabular::read_path(queries, &["query"]).with_context(|| queries.display().to_string())? {
        questions.push(Query {
            text: row.text("query").with_context(|| format!("{} line {}: no query", queries.display(), row.line))?,
            gold: row.text("faq_id"),
            lang: row.text("lang").unwrap_or_else(|| "?".into()),
        });
    }
    Ok((bank, questions))
}

/// Evaluation ids may hold characters FAQ ids refuse; they map to '_'.
fn faq_id(raw: &str) -> Result<FaqId> {
    let mapped: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).take(64).collect();
    FaqId::new(mapped).with_context(|| format!("FAQ id {raw:?}"))
}

/// One question's outcome in one engine: the ranked ids and the confidence.
#[derive(Clone)]
struct Outcome {
    ranked: Vec<String>,
    confidence: f32,
}

/// What tuning needs of one question without embedding again.
struct Scores {
    keyword: switchboard_engine::ports::Ranking,
    hits: Vec<switchboard_search::semantic::SemanticHit>,
}

struct Set {
    name: String,
    team: TeamId,
    queries: Vec<Query>,
    evidence: Vec<Scores>,
}

/// The learning loop's effect on one set: P@1 of the held-out half before and after the
/// other half was learned.
#[derive(Debug, Clone, Serialize)]
pub struct Learning {
    /// Questions learned as paraphrases.
    pub learned: usize,
    /// Held-out questions ranked.
    pub held_out: usize,
    /// Hybrid P@1 on them before learning.
    pub p_at_1_before: f64,
    /// Hybrid P@1 on them after.
    pub p_at_1_after: f64,
}

/// Learns every other matched question of `set` as a paraphrase of its FAQ (what a
/// confirmed resolution does) and ranks the rest again.
fn learning(matcher: &HybridMatcher, set: &Set) -> Result<Learning> {
    let matched: Vec<usize> = (0..set.queries.len()).filter(|&i| set.queries[i].gold.is_some()).collect();
    let (learn, held): (Vec<usize>, Vec<usize>) = matched.iter().partition(|&&i| i % 2 == 0);
    let p1 = |ranked: &dyn Fn(usize) -> Result<Option<String>>| -> Result<f64> {
        let mut right = 0usize;
        for &i in &held {
            right += usize::from(ranked(i)?.as_deref() == set.queries[i].gold.as_deref());
        }
        Ok(right as f64 / held.len().max(1) as f64)
    };
    let before = p1(&|i| {
        let rankings = matcher.combine(set.evidence[i].keyword.clone(), &set.evidence[i].hits, DEPTH);
        Ok(rankings.hybrid.candidates.first().map(|c| c.faq_id.as_str().to_owned()))
    })?;
    for (n, &i) in learn.iter().enumerate() {
        let q = &set.queries[i];
        let Some(gold) = &q.gold else { continue };
        let event: FaqEvent = switchboard_schemas::event::FaqParaphraseAdded {
            faq_id: FaqId::new(gold.as_str())?,
            text: q.text.clone(),
            session_id: None,
        }
        .into();
        matcher.apply_sync(&set.team, &event)?;
        progress(&format!("{}: learning", set.name), n + 1, learn.len());
    }
    let after = p1(&|i| {
        let rankings = matcher.rank_all(&set.team, &set.queries[i].text, DEPTH)?;
        Ok(rankings.hybrid.candidates.first().map(|c| c.faq_id.as_str().to_owned()))
    })?;
    Ok(Learning { learned: learn.len(), held_out: held.len(), p_at_1_before: before, p_at_1_after: after })
}

/// Figures of one engine on one set.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    /// Questions with an FAQ.
    pub matched: usize,
    /// Questions without one.
    pub unmatched: usize,
    /// Right FAQ first, over matched questions.
    pub p_at_1: f64,
    /// Right FAQ in the first five.
    pub r_at_5: f64,
    /// Mean reciprocal rank within the first ten.
    pub mrr_at_10: f64,
    /// End-to-end accuracy (answered right, or correctly handed over), precision and
    /// share of automatic answers at the answer threshold a team runs with (`--answer-at`,
    /// else the shipped default).
    pub at_configured: Operating,
    /// The same with the threshold chosen on other questions: each of [`FOLDS`] folds is
    /// answered at the threshold that was best on the other folds. This is what a threshold
    /// chosen on past questions does for new ones.
    pub cross_validated: Operating,
    /// The thresholds the folds chose, for how much they vary.
    pub cross_validated_thresholds: Vec<f32>,
    /// The best end-to-end accuracy over thresholds chosen on these same questions (an upper
    /// bound, not a forecast).
    pub best_accuracy: f64,
    /// The threshold giving it (what `--tune` writes: chosen on every question).
    pub best_threshold: f32,
    /// (threshold, precision of automatic answers, share answered automatically, accuracy).
    pub thresholds: Vec<(f32, f64, f64, f64)>,
    /// P@1 per language.
    pub p_at_1_by_language: BTreeMap<String, f64>,
    /// The expected calibration error of the confidence as the engine gives it (see
    /// [`calibration_error`]).
    pub calibration_error: f64,
}

/// The whole answering pipeline cross-validated (see [`cross_fit`]).
#[derive(Debug, Clone, Serialize)]
pub struct CrossFitted {
    /// How each fold fared at its threshold, with its own calibration, summed.
    pub operating: Operating,
    /// The thresholds the folds chose.
    pub thresholds: Vec<f32>,
    /// The expected calibration error of the held-out confidences.
    pub calibration_error: f64,
}

/// How a threshold does on questions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Operating {
    /// The answer threshold (for cross-validation: the mean of the folds').
    pub threshold: f32,
    /// Answered right or correctly handed over, over all questions.
    pub accuracy: f64,
    /// Right answers over automatic answers.
    pub precision: f64,
    /// Automatic answers over all questions.
    pub coverage: f64,
}

/// Folds of the cross-validated threshold choice.
pub const FOLDS: usize = 5;
/// Bins of the expected calibration error.
const CALIBRATION_BINS: usize = 10;

/// Whether a question's first candidate is its FAQ.
fn first_right(q: &Query, o: &Outcome) -> bool {
    q.gold.as_deref().is_some_and(|g| o.ranked.first().is_some_and(|id| id == g))
}

/// The expected calibration error: how far the confidence is from the share of first
/// candidates that are right, in ten equal-width bins of confidence, weighted by the
/// questions in each. A confidence that means what it says has 0.
fn calibration_error(points: &[(f32, bool)]) -> f64 {
    // Per bin: questions, summed confidence, right first candidates.
    let mut bins = [(0usize, 0.0f64, 0usize); CALIBRATION_BINS];
    for &(confidence, right) in points {
        let bin = ((confidence.clamp(0.0, 1.0) * CALIBRATION_BINS as f32) as usize).min(CALIBRATION_BINS - 1);
        bins[bin].0 += 1;
        bins[bin].1 += f64::from(confidence);
        bins[bin].2 += usize::from(right);
    }
    let n = points.len().max(1) as f64;
    bins.iter().filter(|(k, _, _)| *k > 0).map(|&(_, confidence, right)| (confidence - right as f64).abs() / n).sum()
}

/// The confidence and the verdict of every ranked question, for [`calibration_error`].
fn calibration_points<'a>(items: impl Iterator<Item = (&'a Query, &'a Outcome)>) -> Vec<(f32, bool)> {
    items.filter(|(_, o)| !o.ranked.is_empty()).map(|(q, o)| (o.confidence, first_right(q, o))).collect()
}

/// The answering pipeline cross-validated end to end: for each of [`FOLDS`] folds a
/// calibration is fit on the other folds' ranked questions (`evidence`: none for a question
/// without candidates), the threshold is chosen on their confidences from it, and the fold
/// is answered with both, so neither has seen the questions it is judged on. The folds'
/// decisions are summed and their confidences give the calibration error.
fn cross_fit(queries: &[Query], outcomes: &[Outcome], evidence: &[Option<Evidence>]) -> CrossFitted {
    let mut total = (0, 0, 0, 0);
    let (mut thresholds, mut held_out_points) = (Vec::new(), Vec::new());
    for fold in 0..FOLDS {
        let (testing, training): (Vec<usize>, Vec<usize>) = (0..queries.len()).partition(|i| i % FOLDS == fold);
        let samples: Vec<(Evidence, bool)> =
            training.iter().filter_map(|&i| Some((evidence[i]?, first_right(&queries[i], &outcomes[i])))).collect();
        let calibration = Calibration::fit(&samples);
        let refit = |i: usize| Outcome {
            ranked: outcomes[i].ranked.clone(),
            confidence: evidence[i].map_or(0.0, |e| calibration.confidence(&e)),
        };
        let trained: Vec<(usize, Outcome)> = training.iter().map(|&i| (i, refit(i))).collect();
        let (_, threshold) = best_cut(gains(trained.iter().map(|(i, o)| (&queries[*i], o))), 1.0);
        let tested: Vec<(usize, Outcome)> = testing.iter().map(|&i| (i, refit(i))).collect();
        let items: Vec<(&Query, &Outcome)> = tested.iter().map(|(i, o)| (&queries[*i], o)).collect();
        let (right, answered, answered_right, n) = decide_at(&items, threshold);
        total = (total.0 + right, total.1 + answered, total.2 + answered_right, total.3 + n);
        held_out_points.extend(calibration_points(items.into_iter()));
        thresholds.push(threshold);
    }
    let mean = thresholds.iter().sum::<f32>() / thresholds.len().max(1) as f32;
    CrossFitted {
        operating: operating(mean, total),
        thresholds,
        calibration_error: calibration_error(&held_out_points),
    }
}

/// Counts of one threshold's decisions: (right, answered, answered right, questions).
fn decide_at(items: &[(&Query, &Outcome)], threshold: f32) -> (usize, usize, usize, usize) {
    let (mut right, mut answered, mut answered_right) = (0usize, 0usize, 0usize);
    for (q, o) in items {
        let answers = o.confidence >= threshold && !o.ranked.is_empty();
        let correct_first = first_right(q, o);
        if answers {
            answered += 1;
            answered_right += usize::from(correct_first);
            right += usize::from(correct_first);
        } else {
            right += usize::from(q.gold.is_none());
        }
    }
    (right, answered, answered_right, items.len())
}

fn operating(threshold: f32, (right, answered, answered_right, n): (usize, usize, usize, usize)) -> Operating {
    Operating {
        threshold,
        accuracy: right as f64 / n.max(1) as f64,
        precision: answered_right as f64 / answered.max(1) as f64,
        coverage: answered as f64 / n.max(1) as f64,
    }
}

/// Answering a question instead of handing it over gains it when its first FAQ is right
/// and loses it when no FAQ answers it: (confidence, gain) of every ranked question.
fn gains<'a>(items: impl Iterator<Item = (&'a Query, &'a Outcome)>) -> Vec<(f32, f64)> {
    items
        .filter(|(_, o)| !o.ranked.is_empty())
        .map(|(q, o)| (o.confidence, f64::from(u8::from(first_right(q, o))) - f64::from(u8::from(q.gold.is_none()))))
        .collect()
}

/// Each fold answered at the threshold best on the others; the folds' decisions summed.
fn cross_validate(queries: &[Query], outcomes: &[Outcome]) -> (Operating, Vec<f32>) {
    let items: Vec<(&Query, &Outcome)> = queries.iter().zip(outcomes).collect();
    let mut total = (0, 0, 0, 0);
    let mut chosen = Vec::new();
    for fold in 0..FOLDS {
        let (held_out, training): (Vec<_>, Vec<_>) = items.iter().enumerate().partition(|(i, _)| i % FOLDS == fold);
        let (_, threshold) = best_cut(gains(training.into_iter().map(|(_, item)| *item)), 1.0);
        let held_out: Vec<(&Query, &Outcome)> = held_out.into_iter().map(|(_, item)| *item).collect();
        let (right, answered, answered_right, n) = decide_at(&held_out, threshold);
        total = (total.0 + right, total.1 + answered, total.2 + answered_right, total.3 + n);
        chosen.push(threshold);
    }
    let mean = chosen.iter().sum::<f32>() / chosen.len().max(1) as f32;
    (operating(mean, total), chosen)
}

fn figures(queries: &[Query], outcomes: &[Outcome], answer_at: f32) -> Figures {
    let (mut matched, mut hits1, mut hits5, mut rr) = (0usize, 0usize, 0usize, 0.0);
    let mut by_lang: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (q, o) in queries.iter().zip(outcomes) {
        let Some(gold) = &q.gold else { continue };
        matched += 1;
        let rank = o.ranked.iter().position(|id| id == gold);
        let first = rank == Some(0);
        hits1 += usize::from(first);
        hits5 += usize::from(rank.is_some_and(|r| r < 5));
        rr += rank.filter(|r| *r < 10).map_or(0.0, |r| 1.0 / (r as f64 + 1.0));
        let lang = by_lang.entry(q.lang.clone()).or_default();
        lang.0 += 1;
        lang.1 += usize::from(first);
    }
    let items: Vec<(&Query, &Outcome)> = queries.iter().zip(outcomes).collect();
    let at = |t: f32| operating(t, decide_at(&items, t));
    // The best threshold on these questions is what `--tune` writes; its accuracy is an
    // upper bound. The honest forecasts are the configured and the cross-validated ones.
    let (_, threshold) = best_cut(gains(items.iter().copied()), 1.0);
    let best = (at(threshold).accuracy, threshold);
    let (cross_validated, cross_validated_thresholds) = cross_validate(queries, outcomes);
    let m = matched.max(1) as f64;
    Figures {
        matched,
        unmatched: queries.len() - matched,
        p_at_1: hits1 as f64 / m,
        r_at_5: hits5 as f64 / m,
        mrr_at_10: rr / m,
        at_configured: at(answer_at),
        cross_validated,
        cross_validated_thresholds,
        best_accuracy: best.0,
        best_threshold: best.1,
        thresholds: THRESHOLDS
            .iter()
            .map(|&t| {
                let o = at(t);
                (t, o.precision, o.coverage, o.accuracy)
            })
            .collect(),
        p_at_1_by_language: by_lang.into_iter().map(|(k, (n, h))| (k, h as f64 / n.max(1) as f64)).collect(),
        calibration_error: calibration_error(&calibration_points(items.iter().copied())),
    }
}

fn outcome(ranking: &switchboard_engine::ports::Ranking) -> Outcome {
    Outcome {
        ranked: ranking.candidates.iter().map(|c| c.faq_id.as_str().to_owned()).collect(),
        confidence: ranking.confidence,
    }
}

fn progress(label: &str, done: usize, total: usize) {
    if done.is_multiple_of(50) || done == total {
        eprint!("\r{label}: {done}/{total}");
        let _ = std::io::stderr().flush();
        if done == total {
            eprintln!();
        }
    }
}

/// Runs every query of every set through `matcher`, keeping the evidence for tuning.
fn collect(matcher: &HybridMatcher, args: &EvalArgs) -> Result<Vec<Set>> {
    if args.faqs.len() != args.queries.len() {
        bail!("give one --queries file per --faqs file ({} and {})", args.faqs.len(), args.queries.len());
    }
    let mut sets = Vec::new();
    for (n, (faqs, queries)) in args.faqs.iter().zip(&args.queries).enumerate() {
        let (bank, questions) = load(faqs, queries)?;
        let name = faqs.parent().and_then(|p| p.file_name()).map_or(format!("set{n}"), |s| s.to_string_lossy().into());
        let team = TeamId::new(format!("eval{n}"))?;
        for (i, faq) in bank.iter().enumerate() {
            let event: FaqEvent = FaqAdded {
                faq_id: faq_id(&faq.id)?,
                question: faq.question.clone(),
                answer: faq.answer.clone(),
                category: faq.category.clone(),
                paraphrases: faq.paraphrases.clone(),
            }
            .into();
            matcher.apply_sync(&team, &event)?;
            progress(&format!("{name}: indexing FAQs"), i + 1, bank.len());
        }
        let mut evidence = Vec::new();
        let mut questions_mapped = Vec::new();
        let total = questions.len();
        for (i, q) in questions.into_iter().enumerate() {
            let (keyword, hits) = matcher.evidence(&team, &q.text)?;
            evidence.push(Scores { keyword, hits });
            let gold = q.gold.as_deref().map(faq_id).transpose()?.map(|id| id.as_str().to_owned());
            questions_mapped.push(Query { gold, ..q });
            progress(&format!("{name}: ranking questions"), i + 1, total);
        }
        sets.push(Set { name, team, queries: questions_mapped, evidence });
    }
    Ok(sets)
}

fn rankings(matcher: &HybridMatcher, set: &Set) -> Vec<Rankings> {
    set.evidence.iter().map(|e| matcher.combine(e.keyword.clone(), &e.hits, DEPTH)).collect()
}

fn samples(set: &Set, all: &[Rankings], pick: fn(&Rankings) -> (&Ranking, Evidence)) -> Vec<(Evidence, bool)> {
    set.queries
        .iter()
        .zip(all)
        .filter_map(|(q, r)| {
            let (ranking, evidence) = pick(r);
            let first = ranking.candidates.first()?;
            Some((evidence, q.gold.as_deref() == Some(first.faq_id.as_str())))
        })
        .collect()
}

/// Tunes the fusion: the weights by mean P@1 (then MRR) over every set, then the
/// calibrations on the tuned scores of the sets with questions no FAQ answers (all sets
/// when none has such questions).
fn tune(matcher: &mut HybridMatcher, sets: &[Set]) -> Fusion {
    let mut best = (f64::MIN, *matcher.fusion());
    for sw in (0..=10).map(|i| i as f32 / 10.0) {
        for aw in (0..=5).map(|i| i as f32 / 10.0) {
            matcher.set_fusion(Fusion { semantic_weight: sw, answer_weight: aw, ..*matcher.fusion() });
            let score: f64 = sets
                .iter()
                .map(|set| {
                    let f = figures(
                        &set.queries,
                        &rankings(matcher, set).iter().map(|r| outcome(&r.hybrid)).collect::<Vec<_>>(),
                        AnswerPolicy::default().answer_at,
                    );
                    f.p_at_1 + 0.1 * f.mrr_at_10
                })
                .sum::<f64>()
                / sets.len().max(1) as f64;
            if score > best.0 {
                best = (score, *matcher.fusion());
            }
        }
    }
    matcher.set_fusion(best.1);
    // The calibrations learn when to hand a question over, which only sets with questions
    // no FAQ answers can teach: where every question has an FAQ, they would learn to
    // answer everything.
    let hand_over: Vec<&Set> = sets.iter().filter(|set| set.queries.iter().any(|q| q.gold.is_none())).collect();
    let calibrating = if hand_over.is_empty() { sets.iter().collect() } else { hand_over };
    let (mut hybrid, mut semantic) = (Vec::new(), Vec::new());
    for set in calibrating {
        let all = rankings(matcher, set);
        hybrid.extend(samples(set, &all, |r| (&r.hybrid, r.hybrid_evidence)));
        semantic.extend(samples(set, &all, |r| (&r.semantic, r.semantic_evidence)));
    }
    let fusion = Fusion { hybrid: Calibration::fit(&hybrid), semantic: Calibration::fit(&semantic), ..best.1 };
    matcher.set_fusion(fusion);
    fusion
}

/// The clarify threshold for one set, below `answer_at`: where offering the top three helps
/// most, counting a clarification right when the FAQ is among the choices and a wrong one
/// as half a loss (the operator reads a list that does not help).
fn clarify_threshold(queries: &[Query], outcomes: &[Outcome], answer_at: f32) -> f32 {
    let gains = queries
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| o.confidence < answer_at)
        .map(|(q, o)| {
            let offered = q.gold.as_deref().is_some_and(|g| o.ranked.iter().take(3).any(|id| id == g));
            (o.confidence, if offered { 1.0 } else { -0.5 })
        })
        .collect();
    best_cut(gains, answer_at).1
}

/// The threshold that maximises the summed gain of the items at or above it, searched over
/// every distinct confidence (so no grid hides the optimum), and that gain. The threshold
/// sits halfway between the lowest item taken and the highest left out, as far from both as
/// possible; taking nothing puts it halfway between the highest item and `ceiling`.
fn best_cut(mut gains: Vec<(f32, f64)>, ceiling: f32) -> (f64, f32) {
    gains.sort_by(|a, b| b.0.total_cmp(&a.0));
    let highest = gains.first().map_or(ceiling, |g| g.0);
    let (mut best, mut sum) = ((0.0, (highest + ceiling) / 2.0), 0.0);
    for (i, &(confidence, gain)) in gains.iter().enumerate() {
        sum += gain;
        let next = gains.get(i + 1).map(|g| g.0);
        if next == Some(confidence) {
            continue; // equal confidences are taken together
        }
        if sum > best.0 {
            best = (sum, next.map_or(confidence, |n| (confidence + n) / 2.0));
        }
    }
    best
}

#[derive(Serialize)]
struct Report {
    model: String,
    fusion: Fusion,
    sets: Vec<SetReport>,
}

#[derive(Serialize)]
struct SetReport {
    name: String,
    keyword: Figures,
    semantic: Figures,
    hybrid: Figures,
    /// The hybrid engine with calibration and threshold both cross-validated.
    hybrid_cross_fitted: CrossFitted,
    clarify_at: f32,
    learning: Option<Learning>,
}

/// Runs the evaluation (and the tuning) and prints the report.
pub async fn run(config: crate::config::Config, args: EvalArgs) -> Result<()> {
    let paths = crate::serve::model_paths(&config);
    let embedder = tokio::task::spawn_blocking(move || OrtEmbedder::open(&paths))
        .await?
        .context("the semantic model is needed for eval")?;
    let model = switchboard_engine::ports::Embedder::model_id(&embedder).to_owned();
    let fusion = config.matching.fusion_for(&model);
    let mut matcher = HybridMatcher::new(SemanticMatcher::new(Arc::new(embedder)), fusion);
    let sets = tokio::task::block_in_place(|| collect(&matcher, &args))?;
    let fusion = if args.tune { tune(&mut matcher, &sets) } else { fusion };
    let answer_at = args.answer_at.unwrap_or(AnswerPolicy::default().answer_at);
    let mut reports = Vec::new();
    for set in &sets {
        let all = rankings(&matcher, set);
        let of = |pick: fn(&Rankings) -> &switchboard_engine::ports::Ranking| -> Vec<Outcome> {
            all.iter().map(|r| outcome(pick(r))).collect()
        };
        let hybrid_outcomes = of(|r| &r.hybrid);
        let hybrid = figures(&set.queries, &hybrid_outcomes, answer_at);
        let evidence: Vec<Option<Evidence>> =
            all.iter().map(|r| r.hybrid.candidates.first().map(|_| r.hybrid_evidence)).collect();
        let hybrid_cross_fitted = cross_fit(&set.queries, &hybrid_outcomes, &evidence);
        let clarify_at = clarify_threshold(&set.queries, &hybrid_outcomes, hybrid.best_threshold);
        reports.push(SetReport {
            name: set.name.clone(),
            keyword: figures(&set.queries, &of(|r| &r.keyword), answer_at),
            semantic: figures(&set.queries, &of(|r| &r.semantic), answer_at),
            hybrid,
            hybrid_cross_fitted,
            clarify_at,
            learning: None,
        });
    }
    if args.learning {
        for (set, report) in sets.iter().zip(&mut reports) {
            report.learning = Some(tokio::task::block_in_place(|| learning(&matcher, set))?);
        }
    }
    let report = Report { model, fusion, sets: reports };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => print_text(&report),
    }
    if args.tune {
        let toml = tuned_config(&report, &args.team);
        match &args.write {
            Some(path) => {
                std::fs::write(path, &toml).with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("eval: tuned settings written to {}", path.display());
            }
            None => println!("\n# tuned settings (add to the configuration):\n{toml}"),
        }
    }
    Ok(())
}

fn tuned_config(report: &Report, team: &str) -> String {
    let f = &report.fusion;
    let first = report.sets.first();
    let answer_at = first.map_or(0.6, |s| s.hybrid.best_threshold);
    let clarify_at = first.map_or(0.3, |s| s.clarify_at);
    format!(
        "[matching.fusion]\nsemantic_weight = {:.2}\nanswer_weight = {:.2}\nhybrid = {}\nsemantic = {}\n\n[teams.{team}]\nname = \"{team}\"\n[teams.{team}.settings.answer_policy]\nanswer_at = {answer_at}\nclarify_at = {clarify_at}\n",
        f.semantic_weight,
        f.answer_weight,
        calibration_toml(&f.hybrid),
        calibration_toml(&f.semantic),
    )
}

fn calibration_toml(c: &Calibration) -> String {
    format!(
        "{{ bias = {:.4}, level = {:.4}, margin = {:.4}, semantic = {:.4}, keyword = {:.4} }}",
        c.bias, c.level, c.margin, c.semantic, c.keyword
    )
}

fn print_text(report: &Report) {
    println!("model: {}", report.model);
    println!(
        "fusion: semantic_weight {:.2}, answer_weight {:.2}",
        report.fusion.semantic_weight, report.fusion.answer_weight
    );
    for set in &report.sets {
        println!("\n== {} ({} questions with an FAQ, {} without)", set.name, set.hybrid.matched, set.hybrid.unmatched);
        let configured = set.hybrid.at_configured.threshold;
        println!(
            "{:<10} {:>6} {:>6} {:>7} {:>16} {:>16} {:>16}",
            "engine",
            "P@1",
            "R@5",
            "MRR@10",
            format!("acc. @{configured:.2}"),
            format!("acc. {FOLDS}-fold CV"),
            "best (same qs)"
        );
        for (name, f) in [("keyword", &set.keyword), ("semantic", &set.semantic), ("hybrid", &set.hybrid)] {
            println!(
                "{name:<10} {:>6.3} {:>6.3} {:>7.3} {:>16.3} {:>16.3} {:>16}",
                f.p_at_1,
                f.r_at_5,
                f.mrr_at_10,
                f.at_configured.accuracy,
                f.cross_validated.accuracy,
                format!("{:.3} @{:.3}", f.best_accuracy, f.best_threshold)
            );
        }
        let h = &set.hybrid;
        println!(
            "hybrid automatic answers at {configured:.2}: precision {:.3}, answered {:.3}; cross-validated: precision {:.3}, answered {:.3} (fold thresholds {})",
            h.at_configured.precision,
            h.at_configured.coverage,
            h.cross_validated.precision,
            h.cross_validated.coverage,
            h.cross_validated_thresholds.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(", ")
        );
        let c = &set.hybrid_cross_fitted;
        println!(
            "hybrid with calibration and threshold both fit on the other folds ({FOLDS}-fold): accuracy {:.3}, precision {:.3}, answered {:.3} (fold thresholds {})",
            c.operating.accuracy,
            c.operating.precision,
            c.operating.coverage,
            c.thresholds.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(", ")
        );
        println!(
            "calibration error (ECE, {CALIBRATION_BINS} bins): keyword {:.3}, semantic {:.3}, hybrid {:.3}; hybrid refit on the other folds {:.3}",
            set.keyword.calibration_error,
            set.semantic.calibration_error,
            h.calibration_error,
            c.calibration_error
        );
        let langs: Vec<String> = set.hybrid.p_at_1_by_language.iter().map(|(l, p)| format!("{l} {p:.3}")).collect();
        println!("hybrid P@1 by language: {}", langs.join(", "));
        println!("hybrid automatic answers by threshold (precision / answered / end-to-end accuracy):");
        for (t, precision, coverage, accuracy) in &set.hybrid.thresholds {
            println!("  {t:.1}: {precision:.3} / {coverage:.3} / {accuracy:.3}");
        }
        println!("suggested thresholds: answer_at {:.4}, clarify_at {:.4}", set.hybrid.best_threshold, set.clarify_at);
        if let Some(l) = &set.learning {
            println!(
                "learning loop: {} questions learned as paraphrases; hybrid P@1 on the other {}: {:.3} → {:.3}",
                l.learned, l.held_out, l.p_at_1_before, l.p_at_1_after
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(gold: Option<&str>) -> Query {
        Query { text: String::new(), gold: gold.map(str::to_owned), lang: "zh".into() }
    }

    fn o(ranked: &[&str], confidence: f32) -> Outcome {
        Outcome { ranked: ranked.iter().map(|s| (*s).to_owned()).collect(), confidence }
    }

    #[test]
    fn figures_count_ranks_and_rejection() {
        let queries = [q(Some("a")), q(Some("b")), q(None), q(Some("c"))];
        let outcomes = [o(&["a", "x"], 0.9), o(&["x", "b"], 0.8), o(&["y"], 0.2), o(&["z"], 0.1)];
        let f = figures(&queries, &outcomes, 0.5);
        assert_eq!((f.matched, f.unmatched), (3, 1));
        assert!((f.p_at_1 - 1.0 / 3.0).abs() < 1e-9);
        assert!((f.r_at_5 - 2.0 / 3.0).abs() < 1e-9);
        assert!((f.mrr_at_10 - 0.5).abs() < 1e-9, "1 + 1/2 + 0 over 3");
        // Answering above 0.85 only: a right; b, the unmatched and c handed over (only the
        // unmatched one correctly) → 2 of 4.
        assert!((f.best_accuracy - 0.5).abs() < 1e-9, "{}", f.best_accuracy);
        assert!((f.best_threshold - 0.85).abs() < 1e-6, "halfway between 0.9 and 0.8: {}", f.best_threshold);
        // At 0.5: a answered right, b answered wrong; the unmatched one rightly and c wrongly
        // handed over.
        assert_eq!(f.at_configured, Operating { threshold: 0.5, accuracy: 0.5, precision: 0.5, coverage: 0.5 });
        let at_05 = f.thresholds.iter().find(|t| (t.0 - 0.5).abs() < 1e-6).unwrap();
        assert!((at_05.1 - 0.5).abs() < 1e-9 && (at_05.2 - 0.5).abs() < 1e-9, "{at_05:?}");
    }

    #[test]
    fn each_fold_is_answered_at_the_threshold_chosen_on_the_others() {
        // Right first answers above 0.6, questions no FAQ answers below 0.4: every fold's
        // threshold separates them, so new questions fare as well as the chosen ones.
        let mut queries = Vec::new();
        let mut outcomes = Vec::new();
        for i in 0..20 {
            let confidence = if i % 2 == 0 { 0.6 + 0.01 * i as f32 } else { 0.4 - 0.01 * i as f32 };
            queries.push(q((i % 2 == 0).then_some("a")));
            outcomes.push(o(&["a"], confidence));
        }
        let (cv, chosen) = cross_validate(&queries, &outcomes);
        assert_eq!(chosen.len(), FOLDS);
        assert!(chosen.iter().all(|t| *t > 0.4 && *t < 0.6), "{chosen:?}");
        assert_eq!((cv.accuracy, cv.precision, cv.coverage), (1.0, 1.0, 0.5));
        // A question no FAQ answers, ranked with high confidence, is answered wrongly at any
        // threshold the folds choose: the estimate counts it, and stays at or below the best
        // threshold chosen on the same questions.
        queries[0] = q(None);
        outcomes[0] = o(&["b"], 0.99);
        let f = figures(&queries, &outcomes, 0.5);
        assert!(f.cross_validated.accuracy < 1.0 && f.cross_validated.accuracy <= f.best_accuracy, "{f:?}");
    }

    #[test]
    fn the_best_cut_is_found_between_any_two_confidences() {
        // A grid of 0.01 would cut at 0.42 or 0.43 and take both the +2 and the -1.
        let (gain, t) = best_cut(vec![(0.425, -1.0), (0.9, 1.0), (0.4251, 2.0), (0.1, -3.0)], 1.0);
        assert_eq!(gain, 3.0);
        assert!(t > 0.425 && t < 0.4251, "{t}");
        // Equal confidences are taken together or not at all.
        let (gain, t) = best_cut(vec![(0.5, 2.0), (0.5, -3.0), (0.3, 0.5)], 1.0);
        assert_eq!((gain, t), (0.0, 0.75), "taking nothing beats taking the tie");
        // Taking everything cuts at the lowest confidence.
        assert_eq!(best_cut(vec![(0.7, 1.0), (0.2, 1.0)], 1.0), (2.0, 0.2));
        assert_eq!(best_cut(Vec::new(), 0.6), (0.0, 0.6));
    }

    #[test]
    fn the_calibration_error_is_the_weighted_gap_between_confidence_and_accuracy_per_bin() {
        // 0.8 with 8 of 10 right means what it says.
        let honest: Vec<(f32, bool)> = (0..10).map(|i| (0.8, i < 8)).collect();
        assert!(calibration_error(&honest) < 1e-6);
        // 0.95 with all 10 right is off by 0.05, 0.25 with 5 of 10 by 0.25: weighted, 0.15.
        let mut mixed: Vec<(f32, bool)> = (0..10).map(|_| (0.95, true)).collect();
        mixed.extend((0..10).map(|i| (0.25, i < 5)));
        assert!((calibration_error(&mixed) - 0.15).abs() < 1e-6, "{}", calibration_error(&mixed));
        assert_eq!(calibration_error(&[]), 0.0);
    }

    #[test]
    fn cross_fitting_judges_each_fold_with_a_calibration_and_threshold_fit_on_the_others() {
        // Right first candidates with strong evidence, questions no FAQ answers with weak.
        let (mut queries, mut outcomes, mut evidence) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..50 {
            let right = i % 2 == 0;
            queries.push(q(right.then_some("a")));
            outcomes.push(o(&[if right { "a" } else { "b" }], 0.5));
            let first = if right { 0.8 + 0.002 * i as f32 } else { 0.2 - 0.002 * i as f32 };
            evidence.push(Some(Evidence { first, ..Evidence::default() }));
        }
        // A question without candidates has no evidence and is handed over.
        queries.push(q(None));
        outcomes.push(o(&[], 0.0));
        evidence.push(None);
        let c = cross_fit(&queries, &outcomes, &evidence);
        assert_eq!(c.thresholds.len(), FOLDS);
        assert_eq!((c.operating.accuracy, c.operating.precision), (1.0, 1.0), "{c:?}");
        assert!((c.operating.coverage - 25.0 / 51.0).abs() < 1e-9, "{c:?}");
        assert!(c.calibration_error < 0.1, "separable evidence gives confident, right confidences: {c:?}");
    }
}
