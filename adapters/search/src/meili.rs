//! The Meilisearch keyword backend, for deployments that already run Meilisearch: one index
//! per team (`<prefix>_<team>`), kept in sync from the FAQ events (each write waits for
//! its Meilisearch task, so a match after an event sees it), ranked with Meilisearch's
//! relevancy and its ranking score.
//!
//! Confidence uses the same shape as the embedded keyword engine: the first candidate's
//! ranking score, lowered when the runner-up scores close to it
//! (`s₁ · (1 − 0.5 · (s₂ / s₁)²)`). Calibrate it with `switchboard eval` before relying on
//! the thresholds.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use meilisearch_sdk::client::Client;
use serde::{Deserialize, Serialize};
use switchboard_engine::ports::{MatchError, Matcher, Ranking};
use switchboard_schemas::event::MatchCandidate;
use switchboard_schemas::{FaqEvent, FaqId, TeamId};
use tokio::sync::Mutex;

/// The engine name recorded with matches.
pub const ENGINE: &str = "meilisearch";

/// How long a write may wait for its Meilisearch task.
const TASK_TIMEOUT: Duration = Duration::from_secs(30);

/// An FAQ as stored in Meilisearch.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Document {
    id: String,
    question: String,
    answer: String,
    category: Option<String>,
    paraphrases: Vec<String>,
}

/// The Meilisearch matcher.
pub struct MeiliMatcher {
    client: Client,
    prefix: String,
    prepared: Mutex<HashSet<TeamId>>,
}

impl std::fmt::Debug for MeiliMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeiliMatcher").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

fn backend(e: impl std::fmt::Display) -> MatchError {
    MatchError::Backend(format!("meilisearch: {e}"))
}

impl MeiliMatcher {
    /// A matcher on the Meilisearch at `url` (with its API key, if it needs one); indexes
    /// are named `<prefix>_<team>`.
    pub fn new(url: &str, api_key: Option<&str>, prefix: &str) -> Result<Self, MatchError> {
        let client = Client::new(url, api_key).map_err(backend)?;
        Ok(Self { client, prefix: prefix.to_owned(), prepared: Mutex::new(HashSet::new()) })
    }

    fn uid(&self, team: &TeamId) -> String {
        format!("{}_{}", self.prefix, team)
    }

    /// Creates the team's index and its settings once per process.
    async fn index(&self, team: &TeamId) -> Result<meilisearch_sdk::indexes::Index, MatchError> {
        let index = self.client.index(self.uid(team));
        let mut prepared = self.prepared.lock().await;
        if !prepared.contains(team) {
            let task = self.client.create_index(self.uid(team), Some("id")).await.map_err(backend)?;
            // An index that exists already is fine: the task fails with index_already_exists.
            let _ = task.wait_for_completion(&self.client, None, Some(TASK_TIMEOUT)).await.map_err(backend)?;
            let task = index.set_searchable_attributes(["question", "paraphrases", "answer"]).await.map_err(backend)?;
            self.wait(task).await?;
            prepared.insert(team.clone());
        }
        Ok(index)
    }

    async fn wait(&self, task: meilisearch_sdk::task_info::TaskInfo) -> Result<(), MatchError> {
        let task = task.wait_for_completion(&self.client, None, Some(TASK_TIMEOUT)).await.map_err(backend)?;
        if task.is_failure() {
            return Err(backend(format!("task failed: {:?}", task.unwrap_failure())));
        }
        Ok(())
    }

    async fn put(&self, team: &TeamId, document: Document) -> Result<(), MatchError> {
        let index = self.index(team).await?;
        let task = index.add_or_replace(&[document], Some("id")).await.map_err(backend)?;
        self.wait(task).await
    }
}

#[async_trait]
impl Matcher for MeiliMatcher {
    async fn rank(&self, team: &TeamId, query: &str, limit: usize) -> Result<Ranking, MatchError> {
        let empty = Ranking { candidates: Vec::new(), confidence: 0.0, engine: ENGINE.to_owned() };
        if !self.prepared.lock().await.contains(team) {
            // Nothing was ever indexed for this team in this process; the index may still
            // exist from an earlier run, so ask it (a missing index is an empty catalog).
            let exists = self.client.get_index(self.uid(team)).await.is_ok();
            if !exists {
                return Ok(empty);
            }
        }
        let index = self.client.index(self.uid(team));
        let results = index
            .search()
            .with_query(query)
            .with_limit(limit.max(2))
            .with_show_ranking_score(true)
            .execute::<Document>()
            .await
            .map_err(backend)?;
        let scored: Vec<(f32, Document)> =
            results.hits.into_iter().map(|h| (h.ranking_score.unwrap_or(0.0) as f32, h.result)).collect();
        let confidence = match scored.as_slice() {
            [] => 0.0,
            [(first, _)] => *first,
            [(first, _), (second, _), ..] if *first > 0.0 => first * (1.0 - 0.5 * (second / first).powi(2)),
            _ => 0.0,
        };
        let candidates = scored
            .into_iter()
            .take(limit)
            .filter_map(|(score, d)| {
                Some(MatchCandidate {
                    faq_id: FaqId::new(d.id).ok()?,
                    question: d.question,
                    answer: d.answer,
                    category: d.category,
                    score,
                    keyword_score: Some(score),
                    semantic_score: None,
                })
            })
            .collect();
        Ok(Ranking { candidates, confidence: confidence.clamp(0.0, 1.0), engine: ENGINE.to_owned() })
    }

    async fn apply(&self, team: &TeamId, event: &FaqEvent) -> Result<(), MatchError> {
        let document =
            |faq_id: &FaqId, question: &str, answer: &str, category: &Option<String>, paraphrases: &[String]| {
                Document {
                    id: faq_id.as_str().to_owned(),
                    question: question.to_owned(),
                    answer: answer.to_owned(),
                    category: category.clone(),
                    paraphrases: paraphrases.to_vec(),
                }
            };
        match event {
            FaqEvent::FaqAdded(e) => {
                self.put(team, document(&e.faq_id, &e.question, &e.answer, &e.category, &e.paraphrases)).await
            }
            FaqEvent::FaqUpdated(e) => {
                self.put(team, document(&e.faq_id, &e.question, &e.answer, &e.category, &e.paraphrases)).await
            }
            FaqEvent::FaqRemoved(e) => {
                let index = self.index(team).await?;
                let task = index.delete_document(e.faq_id.as_str()).await.map_err(backend)?;
                self.wait(task).await
            }
            FaqEvent::FaqParaphraseAdded(e) => {
                let index = self.index(team).await?;
                let Ok(mut current) = index.get_document::<Document>(e.faq_id.as_str()).await else {
                    tracing::warn!(%team, faq_id = %e.faq_id, "paraphrase for an FAQ Meilisearch does not hold ignored");
                    return Ok(());
                };
                if !current.paraphrases.contains(&e.text) {
                    current.paraphrases.push(e.text.clone());
                }
                self.put(team, current).await
            }
            FaqEvent::FaqCandidateHarvested(_)
            | FaqEvent::FaqCandidateApproved(_)
            | FaqEvent::FaqCandidateRejected(_) => Ok(()),
        }
    }
}
