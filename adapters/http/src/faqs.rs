//! The FAQ endpoints under `/api/v1`: the catalog (list, read, create, edit, delete), file
//! import with a preview and row-level errors, export, and turning FAQ candidates into
//! entries. Every write is a catalog command, so the search indexes follow at once.

use std::sync::Arc;

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use switchboard_engine::catalog::{split_advice, Catalog, CatalogCommand, FaqEntry};
use switchboard_engine::hit_test::{HitOutcome, HitTest, HitTestError};
use switchboard_engine::runtime::{CommandError, Committed};
use switchboard_engine::team::TeamCommand;
use switchboard_engine::threshold_replay::{Replay, ReplayError, MIN_OUTCOMES};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{AccessRole, AnswerPolicy, AnswerTarget, MatchDecision, TargetBasis};
use switchboard_schemas::{FaqId, TeamId};
use switchboard_tabular::faq::{self as faq_file, Change};
use switchboard_tabular::Format;
use uuid::Uuid;

use crate::api::team_id;
use crate::auth::AccessKey;
use crate::download::{self, Download, DownloadKinds};
use crate::dto::{CommandResult, Decision, Faq, LookupCandidate};
use crate::error::ApiError;
use crate::params::{FaqAnswer, FaqCategory, FaqIdParam, FaqQuestion, List, MessageText, TeamParam, Text, Version};
use crate::{ApiTags, AppState};
use switchboard_schemas::bounds::{MAX_NAMED_CANDIDATES, MAX_PARAPHRASES};

/// How long a hit test may take (a matcher that is slow to answer, say a remote search
/// engine, must not hold the request).
const HIT_TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long reading a team's past matches for a replay may take.
const REPLAY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Rows shown in an import preview.
const PREVIEW_ROWS: usize = 200;

/// The FAQ endpoints.
pub struct FaqApi {
    pub(crate) state: Arc<AppState>,
}

/// An FAQ entry to create.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewFaq {
    /// Its id (letters, digits, '-', '_'); made up when absent.
    pub id: Option<FaqIdParam>,
    /// The question.
    pub question: Text<FaqQuestion>,
    /// The answer.
    pub answer: Text<FaqAnswer>,
    /// The routing category.
    pub category: Option<Text<FaqCategory>>,
    /// Other wordings.
    #[oai(default)]
    pub paraphrases: List<Text<FaqQuestion>, 0, MAX_PARAPHRASES>,
}

/// An FAQ entry's new content.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FaqEdit {
    /// The question.
    pub question: Text<FaqQuestion>,
    /// The answer.
    pub answer: Text<FaqAnswer>,
    /// The routing category.
    pub category: Option<Text<FaqCategory>>,
    /// Other wordings.
    #[oai(default)]
    pub paraphrases: List<Text<FaqQuestion>, 0, MAX_PARAPHRASES>,
    /// The revision the edit was made on; refused (409) if the entry changed since.
    pub expected_revision: Option<Version>,
}

/// The catalog.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FaqList {
    /// The catalog stream's version.
    pub version: u64,
    /// Every entry, by id.
    pub faqs: Vec<Faq>,
}

/// FAQ file formats.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum FileFormat {
    /// CSV with a header row (UTF-8).
    Csv,
    /// An Excel workbook; its first sheet, with a header row.
    Xlsx,
    /// JSON Lines.
    Jsonl,
}

impl From<FileFormat> for Format {
    fn from(f: FileFormat) -> Self {
        match f {
            FileFormat::Csv => Format::Csv,
            FileFormat::Xlsx => Format::Xlsx,
            FileFormat::Jsonl => Format::Jsonl,
        }
    }
}

/// What importing a row does.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum RowChange {
    /// A new entry.
    Added,
    /// An existing entry changes.
    Updated,
    /// The entry already reads so.
    Unchanged,
}

impl From<Change> for RowChange {
    fn from(c: Change) -> Self {
        match c {
            Change::Added => RowChange::Added,
            Change::Updated => RowChange::Updated,
            Change::Unchanged => RowChange::Unchanged,
        }
    }
}

/// One good row of an import.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ImportRow {
    /// Its line in the file (the header is line 1).
    pub line: u64,
    /// The FAQ id.
    pub id: String,
    /// The question.
    pub question: String,
    /// The answer.
    pub answer: String,
    /// The category.
    pub category: Option<String>,
    /// Other wordings.
    pub paraphrases: Vec<String>,
    /// What importing it does.
    pub change: RowChange,
}

/// One bad row of an import.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RowError {
    /// Its line in the file (the header is line 1).
    pub line: u64,
    /// What is wrong with it.
    pub message: String,
}

/// What an import found, and did.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ImportReport {
    /// Whether the catalog was changed (false for a preview).
    pub imported: bool,
    /// Good rows in the file.
    pub rows: u64,
    /// New entries.
    pub added: u64,
    /// Changed entries.
    pub updated: u64,
    /// Rows that change nothing.
    pub unchanged: u64,
    /// Bad rows; a file with any imports nothing.
    pub problems: Vec<RowError>,
    /// The first good rows, as they would be imported.
    pub preview: Vec<ImportRow>,
}

/// A refused import: the error format plus every bad row.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ImportRefusal {
    /// `bad_rows`.
    pub code: String,
    /// What to do.
    pub message: String,
    /// Every bad row.
    pub problems: Vec<RowError>,
}

/// The outcome of an import.
#[derive(ApiResponse)]
pub enum ImportOutcome {
    /// Checked (and, unless a dry run, imported).
    #[oai(status = 200)]
    Done(Json<ImportReport>),
    /// The file has bad rows; nothing was imported.
    #[oai(status = 422)]
    BadRows(Json<ImportRefusal>),
}

/// An exported catalog.
pub struct FaqFileKinds;

impl DownloadKinds for FaqFileKinds {
    const DESCRIPTION: &'static str = "The catalog as CSV, an Excel workbook or JSON Lines, as `format` asks.";
    const CONTENT_TYPES: &'static [&'static str] = &[download::CSV, download::XLSX, download::JSONL];
}

/// Candidates to turn into an FAQ: a new entry (`faq`) or wordings of an existing one
/// (`into`).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApproveCandidates {
    /// The candidates' sessions (a group's `members`).
    pub sessions: List<Uuid, 1, MAX_NAMED_CANDIDATES>,
    /// A new entry for them.
    pub faq: Option<NewFaq>,
    /// Or: the existing entry they are asking about.
    pub into: Option<String>,
    /// With `into`: the operators' wordings to learn as its paraphrases.
    #[oai(default)]
    pub wordings: Vec<String>,
}

/// Candidates to dismiss.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RejectCandidates {
    /// The candidates' sessions (a group's `members`).
    pub sessions: List<Uuid, 1, MAX_NAMED_CANDIDATES>,
}

/// What approving candidates did.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Approved {
    /// The entry they became or joined.
    pub faq_id: String,
    /// The catalog version after it.
    pub version: u64,
    /// Events written (0 when every candidate was already settled).
    pub events: u32,
}

/// A question to try against the FAQ (nothing is written).
#[derive(Debug, Object)]
pub struct HitTestRequest {
    /// What an operator would ask (at most the team's `max_message_chars`).
    pub question: Text<MessageText>,
}

/// What the team's policy would do with a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum HitDecision {
    /// Answer from the first candidate.
    Answer,
    /// Offer the choices.
    Clarify,
    /// Ask for the first missing required field, then match.
    AskForFields,
    /// Hand the session to a person.
    Transfer,
}

/// Why a question would go to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum HandOverReason {
    /// The operator asks for a person in so many words (the team's `human_keywords`).
    AskedForPerson,
    /// No FAQ matches at all.
    NoCandidates,
    /// The confidence is below `clarify_at`.
    LowConfidence,
    /// The confidence would offer choices, but the team offers none (`max_choices` 0).
    ChoicesOff,
}

/// Thresholds to replay the team's past matches at.
#[derive(Debug, Object)]
pub struct ReplayRequest {
    /// The answer threshold to try.
    #[oai(validator(minimum(value = "0"), maximum(value = "1")))]
    pub answer_at: f32,
    /// The clarify threshold to try (at most `answer_at`).
    #[oai(validator(minimum(value = "0"), maximum(value = "1")))]
    pub clarify_at: f32,
}

/// How many past matches went from one decision to another.
#[derive(Debug, Object)]
pub struct DecisionChange {
    /// The decision then.
    pub was: Decision,
    /// The decision at the tried thresholds.
    pub now: Decision,
    /// How many matches.
    pub count: u64,
}

/// What the operators' feedback says about the answers kept, lost and new.
#[derive(Debug, Object)]
pub struct JudgedAnswers {
    /// Answered then and at the tried thresholds, confirmed resolved.
    pub kept_good: u64,
    /// Answered then but not at the tried thresholds, although confirmed resolved.
    pub lost_good: u64,
    /// Answered then and at the tried thresholds, although marked not resolved.
    pub kept_bad: u64,
    /// Answered then but not at the tried thresholds, and marked not resolved.
    pub withheld_bad: u64,
    /// Answered only at the tried thresholds, and the first candidate was confirmed (chosen,
    /// then resolved).
    pub new_good: u64,
    /// Answered only at the tried thresholds, although the first candidate was wrong
    /// (another choice taken, or chosen and not resolved).
    pub new_bad: u64,
    /// Answered only at the tried thresholds, with nothing to judge them by.
    pub new_unjudged: u64,
}

/// Precision and coverage of automatic answers at one answer threshold.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CurvePointView {
    /// The answer threshold.
    pub answer_at: f32,
    /// Share of the past matches that would be answered.
    pub coverage: f32,
    /// Share of those answers with feedback that were confirmed resolved; absent when none
    /// has feedback.
    pub precision: Option<f32>,
    /// How many of those answers have feedback.
    pub judged: u64,
}

/// A past question whose decision would change.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FlipView {
    /// The question.
    pub question: String,
    /// Its recorded confidence.
    pub confidence: f32,
    /// The first candidate, when there was one.
    pub faq_id: Option<String>,
    /// The decision then.
    pub was: Decision,
    /// The decision at the tried thresholds.
    pub now: Decision,
    /// The operator's feedback on the first candidate: resolved or not; absent when none.
    pub resolved: Option<bool>,
}

/// The team's past matches decided again at other thresholds.
#[derive(Debug, Object)]
pub struct ReplayView {
    /// The thresholds the team runs with now.
    pub current_answer_at: f32,
    /// The team's clarify threshold now.
    pub current_clarify_at: f32,
    /// How many past matches were replayed (the latest 50,000 at most).
    pub total: u64,
    /// How many of them have feedback on their first candidate.
    pub with_feedback: u64,
    /// Decisions then → at the tried thresholds, largest first.
    pub changes: Vec<DecisionChange>,
    /// The feedback on the answers.
    pub judged: JudgedAnswers,
    /// Precision and coverage at the answer thresholds 0.00, 0.05, … 1.00.
    pub curve: Vec<CurvePointView>,
    /// Up to 20 questions whose decision would change, the latest first.
    pub flips: Vec<FlipView>,
}

impl ReplayView {
    fn new(replay: Replay, current: &AnswerPolicy) -> Self {
        let count = |n: usize| n as u64;
        let j = replay.judged;
        Self {
            current_answer_at: current.answer_at,
            current_clarify_at: current.clarify_at,
            total: count(replay.total),
            with_feedback: count(replay.with_verdict),
            changes: replay
                .changes
                .iter()
                .map(|c| DecisionChange { was: c.was.into(), now: c.now.into(), count: count(c.count) })
                .collect(),
            judged: JudgedAnswers {
                kept_good: count(j.kept_good),
                lost_good: count(j.lost_good),
                kept_bad: count(j.kept_bad),
                withheld_bad: count(j.withheld_bad),
                new_good: count(j.new_good),
                new_bad: count(j.new_bad),
                new_unjudged: count(j.new_unjudged),
            },
            curve: replay
                .curve
                .iter()
                .map(|p| CurvePointView {
                    answer_at: p.answer_at,
                    coverage: p.coverage,
                    precision: p.precision,
                    judged: count(p.judged),
                })
                .collect(),
            flips: replay
                .flips
                .into_iter()
                .map(|f| FlipView {
                    question: f.query,
                    confidence: f.confidence,
                    faq_id: f.faq_id.map(|id| id.to_string()),
                    was: f.was.into(),
                    now: f.now.into(),
                    resolved: f.verdict,
                })
                .collect(),
        }
    }
}

/// How a replay or a derivation failed, as the API says it.
fn replay_error(e: ReplayError) -> ApiError {
    match e {
        ReplayError::BadThresholds(_) => ApiError::bad_request("bad_thresholds", &e),
        ReplayError::Busy => ApiError::unavailable("replay_busy", &e),
        ReplayError::Unreachable(_) => ApiError::conflict("target_unreachable", &e),
        ReplayError::Team(e) => e.into(),
        ReplayError::Log(e) => e.into(),
        ReplayError::Decode(e) => CommandError::Decode(e).into(),
    }
}

/// A target precision of automatic answers to derive a threshold for.
#[derive(Debug, Object)]
pub struct TargetRequest {
    /// The share of automatic answers that should be right (read as a double: 0.99 as a
    /// float would be above 0.99).
    #[oai(validator(minimum(value = "0.5"), maximum(value = "0.99")))]
    pub precision: f64,
}

/// A target precision of automatic answers to set.
#[derive(Debug, Object)]
pub struct SetTargetRequest {
    /// The share of automatic answers that should be right (read as a double: 0.99 as a
    /// float would be above 0.99).
    #[oai(validator(minimum(value = "0.5"), maximum(value = "0.99")))]
    pub precision: f64,
    /// The threshold the admin was shown (`…/derive`); refused (409 `target_changed`) when
    /// the team's questions give another now.
    #[oai(validator(minimum(value = "0"), maximum(value = "1")))]
    pub answer_at: Option<f64>,
    /// The team version it was decided on; refused (409) if the team changed since.
    pub expected_version: Option<Version>,
}

/// What a threshold was derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Basis {
    /// The team's answers with the operators' verdict.
    Outcomes,
    /// The calibrated confidence over the team's recorded questions.
    Calibration,
}

/// A target precision and the answer threshold derived from it.
#[derive(Debug, Object)]
pub struct AnswerTargetView {
    /// The share of automatic answers that should be right.
    pub precision: f32,
    /// The answer threshold derived.
    pub answer_at: f32,
    /// What it was derived from.
    pub basis: Basis,
    /// How many: answers with a verdict (`outcomes`), or recorded questions (`calibration`).
    pub count: u64,
    /// The precision expected at `answer_at` on that basis.
    pub expected_precision: f32,
    /// The share of the recorded questions answered at `answer_at`.
    pub coverage: f32,
}

impl From<&AnswerTarget> for AnswerTargetView {
    fn from(t: &AnswerTarget) -> Self {
        Self {
            precision: t.precision,
            answer_at: t.answer_at,
            basis: match t.basis {
                TargetBasis::Outcomes => Basis::Outcomes,
                TargetBasis::Calibration => Basis::Calibration,
            },
            count: t.count,
            expected_precision: t.expected_precision,
            coverage: t.coverage,
        }
    }
}

/// The threshold a target precision gives now, beside the team's.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DerivedTarget {
    /// What the target gives on the team's past matches now.
    pub target: AnswerTargetView,
    /// The team's answer threshold now.
    pub current_answer_at: f32,
    /// The team's target now, as derived when it was set; absent when its threshold was set
    /// by hand.
    pub current_target: Option<AnswerTargetView>,
    /// Answers with a verdict needed before the team's own outcomes are the basis.
    pub min_outcomes: u64,
}

/// A target precision recorded.
#[derive(Debug, Object)]
pub struct TargetSet {
    /// The target with its derived threshold.
    pub target: AnswerTargetView,
    /// The team's version after the change.
    pub version: u64,
    /// Events written (0 when the settings were already so).
    pub events: u32,
}

/// The outcome of a hit test.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HitTestView {
    /// The question as given.
    pub question: String,
    /// What the policy decides.
    pub decision: HitDecision,
    /// Why it goes to a person, when the decision is `transfer`.
    pub hand_over_reason: Option<HandOverReason>,
    /// The FAQ answered from, when the decision is `answer`.
    pub answer_faq_id: Option<String>,
    /// The FAQs offered, in order, when the decision is `clarify`.
    pub choices: Vec<String>,
    /// The calibrated probability that the first candidate answers the question.
    #[oai(validator(minimum(value = "0"), maximum(value = "1")))]
    pub confidence: f32,
    /// The team's answer threshold.
    #[oai(validator(minimum(value = "0"), maximum(value = "1")))]
    pub answer_at: f32,
    /// The team's clarify threshold.
    #[oai(validator(minimum(value = "0"), maximum(value = "1")))]
    pub clarify_at: f32,
    /// Required fields the question lacks, in the team's order, when the decision is
    /// `ask_for_fields` (the session asks for the first, then the next, then matches).
    pub missing_fields: Vec<String>,
    /// The matcher (and model) that ranked the candidates.
    pub engine: String,
    /// The candidates, best first, with the evidence behind their places.
    pub candidates: Vec<LookupCandidate>,
}

impl From<HitTest> for HitTestView {
    fn from(test: HitTest) -> Self {
        let policy = &test.policy;
        let mut view = Self {
            question: test.question,
            decision: HitDecision::Transfer,
            hand_over_reason: None,
            answer_faq_id: None,
            choices: Vec::new(),
            confidence: test.ranking.confidence,
            answer_at: policy.answer_at,
            clarify_at: policy.clarify_at,
            missing_fields: Vec::new(),
            engine: test.ranking.engine,
            candidates: Vec::new(),
        };
        match test.outcome {
            HitOutcome::AskedForPerson => view.hand_over_reason = Some(HandOverReason::AskedForPerson),
            HitOutcome::AsksForFields(fields) => {
                view.decision = HitDecision::AskForFields;
                view.missing_fields = fields;
            }
            HitOutcome::Decided(MatchDecision::Answer { faq_id }) => {
                view.decision = HitDecision::Answer;
                view.answer_faq_id = Some(faq_id.to_string());
            }
            HitOutcome::Decided(MatchDecision::Clarify { choices }) => {
                view.decision = HitDecision::Clarify;
                view.choices = choices.iter().map(ToString::to_string).collect();
            }
            HitOutcome::Decided(MatchDecision::Transfer) => {
                view.hand_over_reason = Some(if test.ranking.candidates.is_empty() {
                    HandOverReason::NoCandidates
                } else if test.ranking.confidence >= policy.clarify_at {
                    HandOverReason::ChoicesOff
                } else {
                    HandOverReason::LowConfidence
                });
            }
        }
        view.candidates = test.ranking.candidates.into_iter().map(LookupCandidate::from).collect();
        view
    }
}

/// `work`'s output, or 503 `code` when it takes longer than `limit`.
async fn in_time<T>(
    limit: std::time::Duration,
    code: &str,
    what: &str,
    work: impl std::future::Future<Output = T>,
) -> Result<T, ApiError> {
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| ApiError::unavailable(code, format!("{what} took over {} s; try again later", limit.as_secs())))
}

fn faq_id(raw: &str) -> Result<FaqId, ApiError> {
    FaqId::new(raw).map_err(|e| ApiError::bad_request("bad_faq_id", e))
}

fn faq(catalog: &Catalog, id: &FaqId) -> Result<Faq, ApiError> {
    let entry = catalog.entries.get(id).ok_or_else(|| ApiError::not_found("unknown_faq", format!("no FAQ {id}")))?;
    Ok(Faq {
        id: id.to_string(),
        revision: catalog.revision(id),
        question: entry.question.clone(),
        answer: entry.answer.clone(),
        category: entry.category.clone(),
        paraphrases: entry.paraphrases.clone(),
    })
}

fn entry(question: &str, answer: &str, category: Option<&str>, paraphrases: &[Text<FaqQuestion>]) -> FaqEntry {
    let clean = |t: &str| t.trim().to_owned();
    FaqEntry {
        question: clean(question),
        answer: clean(answer),
        category: category.map(clean).filter(|c| !c.is_empty()),
        paraphrases: paraphrases.iter().map(|p| clean(p)).filter(|p| !p.is_empty()).collect(),
    }
}

fn new_entry(new: &NewFaq) -> Result<(FaqId, FaqEntry), ApiError> {
    let id = match &new.id {
        Some(id) => faq_id(id.trim())?,
        None => faq_id(&format!("faq-{}", &Uuid::now_v7().simple().to_string()[20..]))?,
    };
    Ok((id, entry(&new.question, &new.answer, new.category.as_deref(), &new.paraphrases)))
}

impl FaqApi {
    async fn team(&self, key: &AccessKey, raw: &str, role: AccessRole) -> Result<TeamId, ApiError> {
        let team = team_id(raw)?;
        self.state.authorize(key, &team, role).await?;
        self.state.runtime.policy(&team).await?;
        Ok(team)
    }

    async fn run(&self, team: &TeamId, command: CatalogCommand) -> Result<Committed, ApiError> {
        Ok(self.state.runtime.catalog(team, command, Causation::root(Uuid::now_v7())).await?)
    }
}

#[OpenApi(tag = "ApiTags::Faq")]
impl FaqApi {
    /// The team's FAQ catalog.
    #[oai(path = "/teams/:team/faqs", method = "get")]
    async fn list(&self, key: AccessKey, team: Path<TeamParam>) -> Result<Json<FaqList>, ApiError> {
        let team = self.team(&key, &team, AccessRole::Viewer).await?;
        let catalog = self.state.runtime.load_catalog(&team).await?;
        let faqs = catalog.entries.keys().map(|id| faq(&catalog, id)).collect::<Result<_, _>>()?;
        Ok(Json(FaqList { version: catalog.version, faqs }))
    }

    /// One FAQ entry, with the revision to send back when editing it.
    #[oai(path = "/teams/:team/faqs/:faq_id", method = "get")]
    async fn get(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        faq_id: Path<FaqIdParam>,
    ) -> Result<Json<Faq>, ApiError> {
        let team = self.team(&key, &team, AccessRole::Viewer).await?;
        let id = self::faq_id(&faq_id)?;
        Ok(Json(faq(&self.state.runtime.load_catalog(&team).await?, &id)?))
    }

    /// Try a question: the ranked FAQs with their keyword, semantic and fused scores, the
    /// calibrated confidence and what the team's policy would do. Nothing is written; a
    /// viewer key may use it.
    #[oai(path = "/teams/:team/faq-hit-test", method = "post")]
    async fn hit_test(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<HitTestRequest>,
    ) -> Result<Json<HitTestView>, ApiError> {
        let team = self.team(&key, &team, AccessRole::Viewer).await?;
        if !self.state.health.caught_up() {
            return Err(ApiError::unavailable(
                "index_not_ready",
                "the FAQ index is still catching up with the log after a start; try again in a moment",
            ));
        }
        let tried = self.state.hit_tester.try_question(&team, &body.question);
        let test = in_time(HIT_TEST_TIMEOUT, "matcher_unavailable", "matching the question", tried).await?.map_err(
            |e| match e {
                HitTestError::Empty => ApiError::bad_request("empty_question", &e),
                HitTestError::TooLong { .. } => ApiError::too_large("question_too_long", &e),
                HitTestError::Team(e) => e.into(),
                HitTestError::Match(_) => ApiError::unavailable("matcher_unavailable", &e),
            },
        )?;
        Ok(Json(test.into()))
    }

    /// Replay the team's past matches (the latest 50,000) at other thresholds before they
    /// go live: how many decisions change, what the operators' feedback says about the
    /// answers given or withheld, precision and coverage at every answer threshold, and
    /// examples of questions that would flip. Nothing is written; a viewer key may use it.
    /// Saving the thresholds is a settings change (`PUT …/settings`).
    #[oai(path = "/teams/:team/threshold-replay", method = "post")]
    async fn threshold_replay(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<ReplayRequest>,
    ) -> Result<Json<ReplayView>, ApiError> {
        let team = self.team(&key, &team, AccessRole::Viewer).await?;
        let replaying = self.state.replayer.replay(&team, Some(body.answer_at), Some(body.clarify_at));
        let (replay, current) = in_time(REPLAY_TIMEOUT, "replay_timeout", "reading the past matches", replaying)
            .await?
            .map_err(replay_error)?;
        Ok(Json(ReplayView::new(replay, &current)))
    }

    /// The answer threshold a target precision of automatic answers gives on the team's past
    /// matches: measured on the operators' verdicts once the team has 200 of them, from the
    /// calibrated confidence before. Nothing is written; a viewer key may use it. 409
    /// `target_unreachable` when the team's verdicts reach the target at no threshold.
    #[oai(path = "/teams/:team/answer-target/derive", method = "post")]
    async fn derive_answer_target(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<TargetRequest>,
    ) -> Result<Json<DerivedTarget>, ApiError> {
        let team = self.team(&key, &team, AccessRole::Viewer).await?;
        let deriving = self.state.replayer.derive(&team, body.precision as f32);
        let (target, current) = in_time(REPLAY_TIMEOUT, "replay_timeout", "reading the past matches", deriving)
            .await?
            .map_err(replay_error)?;
        Ok(Json(DerivedTarget {
            target: (&target).into(),
            current_answer_at: current.answer_at,
            current_target: current.target.as_ref().map(AnswerTargetView::from),
            min_outcomes: MIN_OUTCOMES as u64,
        }))
    }

    /// Set a target precision of automatic answers (team admins): the answer threshold is
    /// derived again from the team's past matches and recorded with what it came from, as
    /// a settings change; the clarify threshold is lowered to it when above. Saving a
    /// threshold by hand (`PUT …/settings` with `answer_policy.target` null) removes the
    /// target.
    #[oai(path = "/teams/:team/answer-target", method = "put")]
    async fn set_answer_target(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<SetTargetRequest>,
    ) -> Result<Json<TargetSet>, ApiError> {
        let team = self.team(&key, &team, AccessRole::Admin).await?;
        let deriving = self.state.replayer.derive(&team, body.precision as f32);
        let (target, _) = in_time(REPLAY_TIMEOUT, "replay_timeout", "reading the past matches", deriving)
            .await?
            .map_err(replay_error)?;
        if let Some(seen) = body.answer_at.filter(|seen| (seen - f64::from(target.answer_at)).abs() > 1e-6) {
            return Err(ApiError::conflict(
                "target_changed",
                format!(
                    "the team's questions now give answer_at {:.2}, not the {seen:.2} shown; derive it again and \
                     check it before saving",
                    target.answer_at
                ),
            ));
        }
        let command = TeamCommand::SetAnswerTarget { target: target.clone() };
        let committed = self
            .state
            .runtime
            .team_expecting(&team, command, Causation::root(Uuid::now_v7()), body.expected_version.map(Version::get))
            .await?;
        let CommandResult { version, events } = committed.into();
        Ok(Json(TargetSet { target: (&target).into(), version, events }))
    }

    /// Create an FAQ entry (409 when the id is taken).
    #[oai(path = "/teams/:team/faqs", method = "post")]
    async fn create(&self, key: AccessKey, team: Path<TeamParam>, body: Json<NewFaq>) -> Result<Json<Faq>, ApiError> {
        let team = self.team(&key, &team, AccessRole::Agent).await?;
        let (faq_id, entry) = new_entry(&body)?;
        self.run(&team, CatalogCommand::Create { faq_id: faq_id.clone(), entry }).await?;
        Ok(Json(faq(&self.state.runtime.load_catalog(&team).await?, &faq_id)?))
    }

    /// Edit an FAQ entry; with `expected_revision`, refused (409) if someone changed it
    /// since it was read.
    #[oai(path = "/teams/:team/faqs/:faq_id", method = "put")]
    async fn edit(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        faq_id: Path<FaqIdParam>,
        body: Json<FaqEdit>,
    ) -> Result<Json<Faq>, ApiError> {
        let team = self.team(&key, &team, AccessRole::Agent).await?;
        let faq_id = self::faq_id(&faq_id)?;
        let entry = entry(&body.question, &body.answer, body.category.as_deref(), &body.paraphrases);
        let command = CatalogCommand::Edit {
            faq_id: faq_id.clone(),
            entry,
            expected_revision: body.expected_revision.map(Version::get),
        };
        self.run(&team, command).await?;
        Ok(Json(faq(&self.state.runtime.load_catalog(&team).await?, &faq_id)?))
    }

    /// Delete an FAQ entry; with `expected_revision`, refused (409) if it changed since.
    #[oai(path = "/teams/:team/faqs/:faq_id", method = "delete")]
    async fn delete(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        faq_id: Path<FaqIdParam>,
        expected_revision: Query<Option<Version>>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let team = self.team(&key, &team, AccessRole::Agent).await?;
        let command = CatalogCommand::Remove {
            faq_id: self::faq_id(&faq_id)?,
            expected_revision: expected_revision.0.map(Version::get),
        };
        Ok(Json(self.run(&team, command).await?.into()))
    }

    /// Import FAQs from a file (the body, `application/octet-stream`): CSV or Excel with a
    /// header row `id,question,answer[,category][,paraphrases]` (paraphrases separated by
    /// `|`), or JSON Lines with those fields. Every row is checked first: with `dry_run`
    /// nothing is written and the report previews the rows; a file with a bad row imports
    /// nothing (422, every bad row named). Importing the same file again changes nothing.
    #[oai(path = "/teams/:team/faqs/import", method = "post")]
    async fn import(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        format: Query<FileFormat>,
        /// Only check the file and preview it.
        dry_run: Query<Option<bool>>,
        file: Binary<poem::Body>,
    ) -> Result<ImportOutcome, ApiError> {
        let team = self.team(&key, &team, AccessRole::Agent).await?;
        // Only now, with the key known to allow it, is the file taken in.
        let file = crate::read_upload(&self.state, file.0).await?;
        // Parsing is CPU work with a size and time budget of its own: off the async runtime,
        // so a large file never holds up the requests of every other team.
        let format = format.0.into();
        let parsed = tokio::task::spawn_blocking(move || faq_file::parse(&file, format))
            .await
            .map_err(|e| ApiError::internal(format!("reading the file failed: {e}")))?
            .map_err(|e| match e {
                switchboard_tabular::TabularError::BadWorkbook(_) | switchboard_tabular::TabularError::NotUtf8 => {
                    ApiError::unsupported("unreadable_file", e)
                }
                switchboard_tabular::TabularError::TooLarge(_) => ApiError::too_large("file_too_large", e),
                e => ApiError::bad_request("unreadable_file", e),
            })?;
        let problems: Vec<RowError> =
            parsed.problems.iter().map(|p| RowError { line: p.line as u64, message: p.message.clone() }).collect();
        if parsed.rows.is_empty() && problems.is_empty() {
            return Err(ApiError::bad_request("empty_file", "the file has a header but no rows"));
        }
        let catalog = self.state.runtime.load_catalog(&team).await?;
        let changes = parsed.changes(&catalog);
        let count = |kind: Change| changes.iter().filter(|c| **c == kind).count() as u64;
        let report = |imported, problems| ImportReport {
            imported,
            rows: parsed.rows.len() as u64,
            added: count(Change::Added),
            updated: count(Change::Updated),
            unchanged: count(Change::Unchanged),
            problems,
            preview: parsed
                .rows
                .iter()
                .zip(&changes)
                .take(PREVIEW_ROWS)
                .map(|(row, change)| ImportRow {
                    line: row.line as u64,
                    id: row.faq_id.to_string(),
                    question: row.entry.question.clone(),
                    answer: row.entry.answer.clone(),
                    category: row.entry.category.clone(),
                    paraphrases: row.entry.paraphrases.clone(),
                    change: (*change).into(),
                })
                .collect(),
        };
        if dry_run.0.unwrap_or(false) {
            return Ok(ImportOutcome::Done(Json(report(false, problems))));
        }
        if !problems.is_empty() {
            return Ok(ImportOutcome::BadRows(Json(ImportRefusal {
                code: "bad_rows".into(),
                message: format!(
                    "{} bad row(s); nothing was imported. Fix them and upload the file again",
                    problems.len()
                ),
                problems,
            })));
        }
        // One commit: the whole file or nothing, also if the log fails halfway.
        let rows: Vec<(FaqId, FaqEntry)> = parsed.rows.iter().map(|r| (r.faq_id.clone(), r.entry.clone())).collect();
        let count = rows.len();
        let cause = Causation::root(Uuid::now_v7());
        match self.state.runtime.catalog(&team, CatalogCommand::Import { rows }, cause).await {
            Ok(_) => {}
            Err(CommandError::TooLarge { bytes, max }) => {
                return Err(ApiError::too_large("import_too_large", split_advice(count, bytes, max)))
            }
            Err(e) => return Err(e.into()),
        }
        Ok(ImportOutcome::Done(Json(report(true, Vec::new()))))
    }

    /// The catalog as a file (CSV by default), ready to edit and import again.
    #[oai(path = "/teams/:team/faqs/export", method = "get")]
    async fn export(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        format: Query<Option<FileFormat>>,
    ) -> Result<Download<FaqFileKinds>, ApiError> {
        let team = self.team(&key, &team, AccessRole::Viewer).await?;
        let catalog = self.state.runtime.load_catalog(&team).await?;
        let format = format.0.unwrap_or(FileFormat::Csv);
        let bytes = faq_file::write(&catalog, format.into()).map_err(|e| {
            tracing::error!(error = %e, "FAQ export failed");
            ApiError::internal("the file could not be written; see the server log")
        })?;
        let name = format!("faqs-{team}.{}", Format::from(format).extension());
        let content_type = match format {
            FileFormat::Csv => download::CSV,
            FileFormat::Xlsx => download::XLSX,
            FileFormat::Jsonl => download::JSONL,
        };
        Ok(Download::new(content_type, bytes, &name))
    }

    /// Turn FAQ candidates into an FAQ: a new entry, or the operators' wordings learned by
    /// an existing one. They leave the candidate list; approving again changes nothing.
    #[oai(path = "/teams/:team/faq-candidates/approve", method = "post", tag = "ApiTags::Candidates")]
    async fn approve(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<ApproveCandidates>,
    ) -> Result<Json<Approved>, ApiError> {
        let team = self.team(&key, &team, AccessRole::Agent).await?;
        let (faq_id, new_entry) = match (&body.faq, &body.into) {
            (Some(new), None) => {
                let (id, entry) = new_entry(new)?;
                (id, Some(entry))
            }
            (None, Some(into)) => (faq_id(into)?, None),
            _ => {
                return Err(ApiError::bad_request(
                    "approve_what",
                    "give either `faq` (a new entry) or `into` (an existing FAQ id), not both",
                ))
            }
        };
        let command = CatalogCommand::ApproveCandidates {
            candidates: body.sessions.to_vec(),
            faq_id: faq_id.clone(),
            new_entry,
            wordings: body.wordings.clone(),
        };
        let done = CommandResult::from(self.run(&team, command).await?);
        Ok(Json(Approved { faq_id: faq_id.to_string(), version: done.version, events: done.events }))
    }

    /// Dismiss FAQ candidates; they leave the candidate list.
    #[oai(path = "/teams/:team/faq-candidates/reject", method = "post", tag = "ApiTags::Candidates")]
    async fn reject(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<RejectCandidates>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let team = self.team(&key, &team, AccessRole::Agent).await?;
        let command = CatalogCommand::RejectCandidates { candidates: body.sessions.to_vec() };
        Ok(Json(self.run(&team, command).await?.into()))
    }
}
