//! The semantic index: every FAQ wording (question and paraphrases) and its answer embedded
//! by an [`Embedder`], per team, as a projection of the FAQ events; a question is ranked by
//! cosine similarity against all of them (a brute-force scan of a contiguous matrix, which
//! takes about a millisecond for 10,000 FAQs).
//!
//! Embeddings are tied to the model id: [`SemanticMatcher::model_id`] is recorded with each
//! match, and a matcher built for another model starts empty and is filled by replaying the
//! catalog events, so a model change rebuilds every vector.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use switchboard_engine::ports::{Embedder, MatchError};
use switchboard_schemas::event::MatchCandidate;
use switchboard_schemas::{FaqEvent, FaqId, TeamId};

/// Characters of an answer embedded (the start says what it is about).
const ANSWER_CHARS: usize = 600;

#[derive(Debug, Clone)]
struct Entry {
    faq_id: FaqId,
    question: String,
    answer: String,
    category: Option<String>,
    /// Rows of the matrix holding this FAQ's wordings.
    wording_rows: Vec<usize>,
    /// The row holding its answer, if it has one.
    answer_row: Option<usize>,
}

/// One team's vectors: a row-major matrix and the FAQ of each row.
#[derive(Debug, Default)]
struct TeamVectors {
    dimensions: usize,
    matrix: Vec<f32>,
    row_owner: Vec<Option<usize>>,
    row_is_answer: Vec<bool>,
    entries: Vec<Option<Entry>>,
    by_id: HashMap<FaqId, usize>,
    free_rows: Vec<usize>,
}

impl TeamVectors {
    fn add_row(&mut self, vector: &[f32], owner: usize, is_answer: bool) -> usize {
        self.dimensions = vector.len();
        if let Some(row) = self.free_rows.pop() {
            self.matrix[row * self.dimensions..(row + 1) * self.dimensions].copy_from_slice(vector);
            self.row_owner[row] = Some(owner);
            self.row_is_answer[row] = is_answer;
            row
        } else {
            self.matrix.extend_from_slice(vector);
            self.row_owner.push(Some(owner));
            self.row_is_answer.push(is_answer);
            self.row_owner.len() - 1
        }
    }

    fn remove(&mut self, faq_id: &FaqId) {
        let Some(slot) = self.by_id.remove(faq_id) else { return };
        if let Some(entry) = self.entries[slot].take() {
            for row in entry.wording_rows.into_iter().chain(entry.answer_row) {
                self.row_owner[row] = None;
                self.free_rows.push(row);
            }
        }
    }

    fn upsert(&mut self, mut entry: Entry, wordings: &[Vec<f32>], answer: Option<&Vec<f32>>) {
        self.remove(&entry.faq_id);
        let slot = self.entries.iter().position(Option::is_none).unwrap_or(self.entries.len());
        entry.wording_rows = wordings.iter().map(|v| self.add_row(v, slot, false)).collect();
        entry.answer_row = answer.map(|v| self.add_row(v, slot, true));
        self.by_id.insert(entry.faq_id.clone(), slot);
        if slot == self.entries.len() {
            self.entries.push(Some(entry));
        } else {
            self.entries[slot] = Some(entry);
        }
    }

    /// (best wording similarity, answer similarity) per FAQ slot (`f32::MIN` wording for
    /// free slots), from one pass over the matrix.
    fn scores(&self, query: &[f32]) -> Vec<(f32, f32)> {
        let mut best = vec![(f32::MIN, 0.0f32); self.entries.len()];
        if self.dimensions == 0 || query.len() != self.dimensions {
            return best;
        }
        for ((vector, owner), &is_answer) in
            self.matrix.chunks_exact(self.dimensions).zip(&self.row_owner).zip(&self.row_is_answer)
        {
            let Some(slot) = *owner else { continue };
            let similarity = dot(vector, query);
            let scores = &mut best[slot];
            if is_answer {
                scores.1 = similarity;
            } else {
                scores.0 = scores.0.max(similarity);
            }
        }
        best
    }
}

/// The dot product in eight independent lanes, which the compiler turns into SIMD (a plain
/// sequential sum cannot be reordered, so it stays scalar).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// A FAQ as the semantic index scored it.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticHit {
    /// The FAQ, as a match candidate (its `semantic_score` is the wording similarity).
    pub candidate: MatchCandidate,
    /// Cosine similarity of the query with the FAQ's closest wording.
    pub wording: f32,
    /// Cosine similarity of the query with the FAQ's answer.
    pub answer: f32,
}

/// The semantic index of every team.
pub struct SemanticMatcher {
    embedder: Arc<dyn Embedder>,
    teams: RwLock<HashMap<TeamId, TeamVectors>>,
}

impl std::fmt::Debug for SemanticMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SemanticMatcher").field("model", &self.embedder.model_id()).finish_non_exhaustive()
    }
}

fn poisoned() -> MatchError {
    MatchError::Backend("semantic index lock poisoned by a panic during an update".to_owned())
}

fn embed_error(e: switchboard_engine::ports::EmbedError) -> MatchError {
    MatchError::Backend(e.to_string())
}

/// The one vector of a one-text embedding.
fn only_vector(vectors: Result<Vec<Vec<f32>>, switchboard_engine::ports::EmbedError>) -> Result<Vec<f32>, MatchError> {
    vectors.map_err(embed_error)?.pop().ok_or_else(|| MatchError::Backend("the embedder returned nothing".into()))
}

impl SemanticMatcher {
    /// An empty index over `embedder`; replay the catalog events into it.
    pub fn new(embedder: Arc<dyn Embedder>) -> Self {
        Self { embedder, teams: RwLock::new(HashMap::new()) }
    }

    /// The model the vectors come from.
    pub fn model_id(&self) -> &str {
        self.embedder.model_id()
    }

    /// Embeds a query (for callers that score several indexes with one embedding).
    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>, MatchError> {
        only_vector(self.embedder.embed(&[query]))
    }

    /// The team's FAQs scored against an embedded query: the `depth` best by wording or
    /// answer similarity, plus those named in `include` (e.g. the keyword engine's
    /// candidates, so every candidate of a fusion has both scores); best wording first.
    pub fn score(
        &self,
        team: &TeamId,
        query: &[f32],
        depth: usize,
        include: &[&FaqId],
    ) -> Result<Vec<SemanticHit>, MatchError> {
        let teams = self.teams.read().map_err(|_| poisoned())?;
        let Some(vectors) = teams.get(team) else { return Ok(Vec::new()) };
        let scores = vectors.scores(query);
        let mut slots: Vec<usize> = (0..scores.len()).filter(|&slot| vectors.entries[slot].is_some()).collect();
        let key = |slot: &usize| scores[*slot].0.max(scores[*slot].1);
        if slots.len() > depth {
            slots.select_nth_unstable_by(depth.saturating_sub(1), |a, b| key(b).total_cmp(&key(a)));
            slots.truncate(depth);
        }
        for id in include {
            if let Some(&slot) = vectors.by_id.get(*id) {
                if !slots.contains(&slot) {
                    slots.push(slot);
                }
            }
        }
        let mut hits: Vec<SemanticHit> = slots
            .into_iter()
            .filter_map(|slot| {
                let entry = vectors.entries[slot].as_ref()?;
                let (wording, answer) = scores[slot];
                Some(SemanticHit {
                    candidate: MatchCandidate {
                        faq_id: entry.faq_id.clone(),
                        question: entry.question.clone(),
                        answer: entry.answer.clone(),
                        category: entry.category.clone(),
                        score: wording.clamp(0.0, 1.0),
                        keyword_score: None,
                        semantic_score: Some(wording),
                    },
                    wording,
                    answer,
                })
            })
            .collect();
        hits.sort_by(|a, b| b.wording.total_cmp(&a.wording).then_with(|| a.candidate.faq_id.cmp(&b.candidate.faq_id)));
        Ok(hits)
    }

    /// How many FAQs the team's index holds.
    pub fn document_count(&self, team: &TeamId) -> usize {
        self.teams.read().map(|t| t.get(team).map_or(0, |v| v.by_id.len())).unwrap_or(0)
    }

    /// Applies one catalog event (embedding happens outside the lock).
    pub fn apply_sync(&self, team: &TeamId, event: &FaqEvent) -> Result<(), MatchError> {
        let upsert =
            |faq_id: &FaqId, question: &str, answer: &str, category: &Option<String>, paraphrases: &[String]| {
                let mut texts: Vec<&str> =
                    std::iter::once(question).chain(paraphrases.iter().map(String::as_str)).collect();
                let answer_text: String = answer.chars().take(ANSWER_CHARS).collect();
                if !answer_text.trim().is_empty() {
                    texts.push(&answer_text);
                }
                let mut vectors = self.embedder.embed_documents(&texts).map_err(embed_error)?;
                let answer_vector = (!answer_text.trim().is_empty()).then(|| vectors.pop()).flatten();
                let entry = Entry {
                    faq_id: faq_id.clone(),
                    question: question.to_owned(),
                    answer: answer.to_owned(),
                    category: category.clone(),
                    wording_rows: Vec::new(),
                    answer_row: None,
                };
                let mut teams = self.teams.write().map_err(|_| poisoned())?;
                teams.entry(team.clone()).or_default().upsert(entry, &vectors, answer_vector.as_ref());
                Ok(())
            };
        match event {
            FaqEvent::FaqAdded(e) => upsert(&e.faq_id, &e.question, &e.answer, &e.category, &e.paraphrases),
            FaqEvent::FaqUpdated(e) => upsert(&e.faq_id, &e.question, &e.answer, &e.category, &e.paraphrases),
            FaqEvent::FaqRemoved(e) => {
                if let Some(vectors) = self.teams.write().map_err(|_| poisoned())?.get_mut(team) {
                    vectors.remove(&e.faq_id);
                }
                Ok(())
            }
            FaqEvent::FaqParaphraseAdded(e) => {
                let vector = only_vector(self.embedder.embed_learned(&[e.text.as_str()]))?;
                let mut teams = self.teams.write().map_err(|_| poisoned())?;
                let Some(vectors) = teams.get_mut(team) else { return Ok(()) };
                let Some(&slot) = vectors.by_id.get(&e.faq_id) else {
                    tracing::warn!(%team, faq_id = %e.faq_id, "paraphrase for an unknown FAQ ignored");
                    return Ok(());
                };
                let row = vectors.add_row(&vector, slot, false);
                if let Some(entry) = vectors.entries[slot].as_mut() {
                    entry.wording_rows.push(row);
                }
                Ok(())
            }
            FaqEvent::FaqCandidateHarvested(_)
            | FaqEvent::FaqCandidateApproved(_)
            | FaqEvent::FaqCandidateRejected(_) => Ok(()),
        }
    }
}
