//! The embedded keyword matcher: an in-memory full-text index per team, projected from the
//! FAQ catalog events, that ranks FAQs for an operator's question with BM25F over jieba word
//! segmentation (Chinese) and Snowball stemming (English).
//!
//! It needs no service to run, so a single-process Switchboard can answer questions, and
//! because the index is a pure projection of the catalog events it can be rebuilt at any
//! time by replaying them.
//!
//! - [`analyze`]: the terms a text is indexed and searched by.
//! - [`KeywordMatcher`]: the [`Matcher`] port implementation.
//! - [`SemanticMatcher`]: FAQ wordings and answers embedded by a sentence-embedding model.
//! - [`HybridMatcher`]: both fused into one ranking and a calibrated confidence.
//! - [`MeiliMatcher`]: keyword matching on a Meilisearch server, for deployments that run one.
//!
//! # Confidence
//!
//! The answer policy compares [`Ranking::confidence`] with thresholds (answer at 0.6,
//! clarify at 0.3 by default), so it has to mean the same thing for every query and catalog
//! size, which a raw BM25 score does not. It is computed from the first candidate's best
//! matching wording `w` (its question or a paraphrase) and the runner-up:
//!
//! ```text
//! weight(t)  = idf(t), × 0.3 for generic question words (怎么, 如何, 什么, how, what…)
//! recall     = Σ weight(t) over query terms found in w  /  Σ weight(t) over all query terms
//! precision  = Σ weight(t) over query terms found in w  /  Σ weight(t) over all terms of w
//! quality    = 2 · precision · recall / (precision + recall)
//! confidence = quality · (1 − 0.5 · (score₂ / score₁)²)
//! ```
//!
//! `score₁` and `score₂` are the BM25F scores of the first and second candidate (`score₂` is
//! 0 when there is only one). Query terms that appear in no FAQ get the highest IDF, so a
//! question about something the catalog does not cover scores near 0 and goes to a person;
//! a query worded exactly like an FAQ question has quality 1. Precision keeps a one-word
//! query ("活动") from being answered by a long, specific FAQ, and sharing only a question
//! word with an FAQ counts for little even in a small catalog. The runner-up factor halves
//! confidence when two FAQs score the same (the operator should choose) and barely matters
//! when the runner-up is far behind (score₂ / score₁ = 0.5 costs 12.5 %).
//!
//! On the LCQMC FAQ development set (1,940 FAQs, 1,224 queries of which 341 match none) the
//! default thresholds give: at 0.6, 84 % of automatic answers right with 58 % of questions
//! answered; the best single threshold (about 0.45) is right end to end for 74 % of
//! questions (answered correctly, or correctly declined).
//!
//! Each candidate's [`score`] is its BM25F score divided by the query's total IDF mass (what
//! the query's terms earn when each is matched once in a wording of average length),
//! clamped to `[0, 1]`; [`keyword_score`] is the raw BM25F score. Both order candidates the
//! same way.
//!
//! [`score`]: switchboard_schemas::event::MatchCandidate::score
//! [`keyword_score`]: switchboard_schemas::event::MatchCandidate::keyword_score

mod analysis;
pub mod hybrid;
mod index;
pub mod meili;
pub mod semantic;

use std::collections::HashMap;
use std::sync::RwLock;

use async_trait::async_trait;
use switchboard_engine::ports::{MatchError, Matcher, Ranking};
use switchboard_schemas::{FaqEvent, TeamId};

pub use analysis::analyze;
pub use hybrid::{Fusion, HybridMatcher};
use index::{query_terms, AnalysedFaq, TeamIndex, Terms};
pub use meili::MeiliMatcher;
pub use semantic::SemanticMatcher;

/// The engine name recorded with every match, so audits know which ranker decided.
pub const ENGINE: &str = "keyword-bm25";

/// The in-memory keyword index of every team, kept up to date by [`Matcher::apply`].
///
/// Share it behind an `Arc`: ranking takes a read lock, so many questions are ranked at once,
/// while applying an event briefly takes the write lock (text analysis happens before it).
#[derive(Debug, Default)]
pub struct KeywordMatcher {
    teams: RwLock<HashMap<TeamId, TeamIndex>>,
}

fn poisoned() -> MatchError {
    MatchError::Backend("keyword index lock poisoned by a panic during an update".to_owned())
}

impl KeywordMatcher {
    /// An empty matcher; replay the FAQ catalog events into it to build the indexes.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many FAQs the team's index holds (0 for an unknown team), for readiness checks
    /// and tests.
    pub fn document_count(&self, team: &TeamId) -> usize {
        self.teams.read().map(|teams| teams.get(team).map_or(0, TeamIndex::len)).unwrap_or(0)
    }

    /// [`Matcher::rank`] without the async wrapper, for synchronous callers and benchmarks.
    pub fn rank_sync(&self, team: &TeamId, query: &str, limit: usize) -> Result<Ranking, MatchError> {
        let terms = query_terms(query);
        let teams = self.teams.read().map_err(|_| poisoned())?;
        let ranking = teams.get(team).map(|index| index.rank(&terms, limit)).unwrap_or_default();
        Ok(Ranking { candidates: ranking.candidates, confidence: ranking.confidence as f32, engine: ENGINE.to_owned() })
    }

    /// [`Matcher::apply`] without the async wrapper, for synchronous callers and replays.
    pub fn apply_sync(&self, team: &TeamId, event: &FaqEvent) -> Result<(), MatchError> {
        match event {
            FaqEvent::FaqAdded(e) => {
                self.upsert(team, analyse_faq(&e.faq_id, &e.question, &e.answer, &e.category, &e.paraphrases))?
            }
            FaqEvent::FaqUpdated(e) => {
                self.upsert(team, analyse_faq(&e.faq_id, &e.question, &e.answer, &e.category, &e.paraphrases))?
            }
            FaqEvent::FaqRemoved(e) => {
                if let Some(index) = self.teams.write().map_err(|_| poisoned())?.get_mut(team) {
                    index.remove(&e.faq_id);
                }
            }
            FaqEvent::FaqParaphraseAdded(e) => {
                let terms = Terms::of(&e.text);
                let mut teams = self.teams.write().map_err(|_| poisoned())?;
                let known =
                    teams.get_mut(team).is_some_and(|index| index.add_paraphrase(&e.faq_id, e.text.clone(), terms));
                if !known {
                    tracing::warn!(%team, faq_id = %e.faq_id, "paraphrase for an unknown FAQ ignored");
                }
            }
            FaqEvent::FaqCandidateHarvested(_)
            | FaqEvent::FaqCandidateApproved(_)
            | FaqEvent::FaqCandidateRejected(_) => {}
        }
        Ok(())
    }
}

impl KeywordMatcher {
    fn upsert(&self, team: &TeamId, faq: AnalysedFaq) -> Result<(), MatchError> {
        let mut teams = self.teams.write().map_err(|_| poisoned())?;
        teams.entry(team.clone()).or_default().upsert(faq);
        Ok(())
    }
}

fn analyse_faq(
    faq_id: &switchboard_schemas::FaqId,
    question: &str,
    answer: &str,
    category: &Option<String>,
    paraphrases: &[String],
) -> AnalysedFaq {
    let wordings = std::iter::once(question)
        .chain(paraphrases.iter().map(String::as_str))
        .map(|text| (text.to_owned(), Terms::of(text)))
        .collect();
    AnalysedFaq {
        faq_id: faq_id.clone(),
        question: question.to_owned(),
        answer: answer.to_owned(),
        category: category.clone(),
        wordings,
        answer_terms: Terms::of(answer),
    }
}

#[async_trait]
impl Matcher for KeywordMatcher {
    async fn rank(&self, team: &TeamId, query: &str, limit: usize) -> Result<Ranking, MatchError> {
        self.rank_sync(team, query, limit)
    }

    async fn apply(&self, team: &TeamId, event: &FaqEvent) -> Result<(), MatchError> {
        self.apply_sync(team, event)
    }
}
