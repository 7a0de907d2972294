//! The hybrid matcher: keyword (BM25F) and semantic (sentence embeddings) evidence fused
//! into one ranking and one calibrated confidence.
//!
//! For each FAQ, with `k` its keyword score (BM25F over the query's IDF mass, in `[0, 1]`,
//! 0 outside the keyword top 50), `w` the cosine similarity of the query with its closest
//! wording and `a` with its answer:
//!
//! ```text
//! semantic = w + answer_weight · a
//! fused    = semantic_weight · semantic + (1 − semantic_weight) · k
//! ```
//!
//! and the confidence that the first FAQ answers the question is a logistic function of the
//! first fused score and its margin over the second:
//!
//! ```text
//! confidence = σ(bias + level · fused₁ + margin · (fused₁ − fused₂)
//!                + semantic · w₁ + keyword · agreeing keyword confidence)
//! ```
//!
//! The weights and the calibration come from `switchboard eval --tune` on labelled
//! questions, never from guesses; [`Fusion::default`] holds the values tuned on the shared
//! development sets (see docs/answering.md). Every candidate carries its keyword and semantic scores in
//! the `FaqMatched` event, so a new calibration can be replayed against past questions.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_engine::ports::{MatchError, Matcher, Ranking};
use switchboard_schemas::event::MatchCandidate;
use switchboard_schemas::{FaqEvent, TeamId};

use crate::semantic::{SemanticHit, SemanticMatcher};
use crate::KeywordMatcher;

/// Keyword candidates considered per question.
const KEYWORD_DEPTH: usize = 50;
/// Semantic candidates considered per question (besides the keyword ones).
const SEMANTIC_DEPTH: usize = 50;

/// The evidence about a ranking's first candidate that its confidence is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Evidence {
    /// The first candidate's score.
    pub first: f32,
    /// Its margin over the second.
    pub margin: f32,
    /// Its closest wording's cosine similarity with the question.
    pub semantic: f32,
    /// The keyword engine's confidence when its first candidate is the same FAQ, else 0.
    pub keyword: f32,
}

/// A logistic calibration of the evidence into the probability that the first candidate
/// answers the question.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Intercept.
    pub bias: f32,
    /// Weight of the first candidate's score.
    pub level: f32,
    /// Weight of its margin over the second.
    pub margin: f32,
    /// Weight of its wording similarity.
    #[serde(default)]
    pub semantic: f32,
    /// Weight of the keyword engine's agreeing confidence.
    #[serde(default)]
    pub keyword: f32,
}

impl Calibration {
    /// The probability for the evidence.
    pub fn confidence(&self, e: &Evidence) -> f32 {
        let z = self.bias
            + self.level * e.first
            + self.margin * e.margin
            + self.semantic * e.semantic
            + self.keyword * e.keyword;
        1.0 / (1.0 + (-z).exp())
    }

    /// Fits a logistic calibration of the evidence to "the first candidate is right", on
    /// standardised features (so plain gradient descent converges), then maps the weights
    /// back to raw feature units.
    pub fn fit(samples: &[(Evidence, bool)]) -> Self {
        let features =
            |e: &Evidence| [f64::from(e.first), f64::from(e.margin), f64::from(e.semantic), f64::from(e.keyword)];
        let n = samples.len().max(1) as f64;
        let mut mean = [0.0; 4];
        let mut sd = [0.0; 4];
        for (e, _) in samples {
            for (m, x) in mean.iter_mut().zip(features(e)) {
                *m += x / n;
            }
        }
        for (e, _) in samples {
            for ((s, m), x) in sd.iter_mut().zip(mean).zip(features(e)) {
                *s += (x - m).powi(2) / n;
            }
        }
        let sd = sd.map(|v| v.sqrt().max(1e-6));
        let (mut bias, mut w) = (0.0f64, [0.0f64; 4]);
        for _ in 0..2_000 {
            let (mut gb, mut gw) = (0.0, [0.0; 4]);
            for (e, y) in samples {
                let x: Vec<f64> = features(e).iter().zip(mean).zip(sd).map(|((x, m), s)| (x - m) / s).collect();
                let z = bias + w.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>();
                let err = 1.0 / (1.0 + (-z).exp()) - f64::from(u8::from(*y));
                gb += err;
                for (g, xi) in gw.iter_mut().zip(&x) {
                    *g += err * xi;
                }
            }
            bias -= 0.5 * gb / n;
            for (wi, g) in w.iter_mut().zip(gw) {
                *wi -= 0.5 * g / n;
            }
        }
        let raw: Vec<f64> = w.iter().zip(sd).map(|(wi, s)| wi / s).collect();
        let raw_bias = bias - raw.iter().zip(mean).map(|(r, m)| r * m).sum::<f64>();
        Self {
            bias: raw_bias as f32,
            level: raw[0] as f32,
            margin: raw[1] as f32,
            semantic: raw[2] as f32,
            keyword: raw[3] as f32,
        }
    }
}

/// How keyword and semantic evidence are combined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fusion {
    /// Share of the semantic score in the fused score, `[0, 1]`.
    pub semantic_weight: f32,
    /// Weight of the answer's similarity within the semantic score.
    pub answer_weight: f32,
    /// Calibration of the hybrid ranking's confidence.
    pub hybrid: Calibration,
    /// Calibration of the semantic-only ranking's confidence (for comparisons and `eval`).
    pub semantic: Calibration,
}

impl Default for Fusion {
    /// The values tuned for the default model, E5-small ([`Fusion::tuned_for`]).
    fn default() -> Self {
        Self::E5_SMALL
    }
}

impl Fusion {
    /// Tuned by `switchboard eval --tune` on the shared development queries for Universal
    /// Sentence Encoder Multilingual v3: the weights on lcqmc_faq and stackfaq together
    /// (best mean P@1), the calibrations on lcqmc_faq alone, the set with questions no FAQ
    /// answers (stackfaq has none, so it cannot teach when to hand over). docs/answering.md has the
    /// figures.
    const USE_M3: Self = Self {
        semantic_weight: 0.6,
        answer_weight: 0.1,
        hybrid: Calibration { bias: -9.7977, level: -3.3757, margin: 3.0898, semantic: 13.2494, keyword: 1.6901 },
        semantic: Calibration { bias: -8.9227, level: 4.3919, margin: 3.8410, semantic: 4.3919, keyword: 2.1834 },
    };

    /// The same tuning for multilingual E5-small (questions as queries, FAQs as queries and
    /// passages): its similarities are spread differently, so it needs its own weights and
    /// calibration.
    const E5_SMALL: Self = Self {
        semantic_weight: 0.9,
        answer_weight: 0.1,
        hybrid: Calibration { bias: -70.0901, level: -17.0440, margin: 5.7568, semantic: 89.2187, keyword: 1.6365 },
        semantic: Calibration { bias: -60.5546, level: 31.2364, margin: 11.4418, semantic: 31.2364, keyword: 1.6164 },
    };

    /// The tuned values for a model `ops/setup.sh` installs, by its id; `None` for any
    /// other model, which should be tuned with `switchboard eval --tune` before it answers.
    pub fn tuned_for(model_id: &str) -> Option<Self> {
        match model_id {
            "use-multilingual-v3-int8" => Some(Self::USE_M3),
            "multilingual-e5-small-q4q8+query+passage" => Some(Self::E5_SMALL),
            _ => None,
        }
    }
}

/// The three rankings of one question, for evaluation.
#[derive(Debug, Clone)]
pub struct Rankings {
    /// Keyword only.
    pub keyword: Ranking,
    /// Semantic only.
    pub semantic: Ranking,
    /// Fused.
    pub hybrid: Ranking,
    /// The evidence behind the semantic ranking's confidence.
    pub semantic_evidence: Evidence,
    /// The evidence behind the hybrid ranking's confidence.
    pub hybrid_evidence: Evidence,
}

/// Keyword and semantic matching fused.
#[derive(Debug)]
pub struct HybridMatcher {
    keyword: KeywordMatcher,
    semantic: SemanticMatcher,
    fusion: Fusion,
}

/// Orders scored candidates and computes the evidence about the first one (its semantic
/// score and the keyword engine's agreeing confidence come from `keyword`).
pub fn evidence_of(scored: &mut [(f32, MatchCandidate)], keyword: &Ranking) -> Evidence {
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.faq_id.cmp(&b.1.faq_id)));
    let Some((first, top)) = scored.first() else { return Evidence::default() };
    let second = scored.get(1).map_or(0.0, |s| s.0);
    let agrees = keyword.candidates.first().is_some_and(|k| k.faq_id == top.faq_id);
    Evidence {
        first: *first,
        margin: first - second,
        semantic: top.semantic_score.unwrap_or(0.0),
        keyword: if agrees { keyword.confidence } else { 0.0 },
    }
}

fn ranking(
    mut scored: Vec<(f32, MatchCandidate)>,
    keyword: &Ranking,
    limit: usize,
    calibration: &Calibration,
    engine: String,
) -> (Ranking, Evidence) {
    let evidence = evidence_of(&mut scored, keyword);
    let confidence = if scored.is_empty() { 0.0 } else { calibration.confidence(&evidence) };
    let candidates = scored
        .into_iter()
        .take(limit)
        .map(|(score, mut candidate)| {
            candidate.score = score;
            candidate
        })
        .collect();
    (Ranking { candidates, confidence, engine }, evidence)
}

impl HybridMatcher {
    /// A matcher over both indexes; replay the catalog events into it.
    pub fn new(semantic: SemanticMatcher, fusion: Fusion) -> Self {
        Self { keyword: KeywordMatcher::new(), semantic, fusion }
    }

    /// The fusion in use.
    pub fn fusion(&self) -> &Fusion {
        &self.fusion
    }

    /// Replaces the fusion (after tuning).
    pub fn set_fusion(&mut self, fusion: Fusion) {
        self.fusion = fusion;
    }

    /// The engine name recorded with hybrid matches.
    pub fn engine(&self) -> String {
        format!("hybrid:{}+{}", crate::ENGINE, self.semantic.model_id())
    }

    /// Applies a catalog event to both indexes.
    pub fn apply_sync(&self, team: &TeamId, event: &FaqEvent) -> Result<(), MatchError> {
        self.keyword.apply_sync(team, event)?;
        self.semantic.apply_sync(team, event)
    }

    /// The keyword, semantic and hybrid rankings of a question, from one embedding.
    pub fn rank_all(&self, team: &TeamId, query: &str, limit: usize) -> Result<Rankings, MatchError> {
        let (keyword, hits) = self.evidence(team, query)?;
        Ok(self.combine(keyword, &hits, limit))
    }

    /// What both engines say about a question before fusion: the keyword ranking (its
    /// best 50) and the semantic hits (the best 50 plus the keyword candidates). Evaluation keeps these to re-fuse them while tuning.
    pub fn evidence(&self, team: &TeamId, query: &str) -> Result<(Ranking, Vec<SemanticHit>), MatchError> {
        let keyword = self.keyword.rank_sync(team, query, KEYWORD_DEPTH)?;
        let vector = self.semantic.embed_query(query)?;
        let include: Vec<_> = keyword.candidates.iter().map(|c| &c.faq_id).collect();
        let hits = self.semantic.score(team, &vector, SEMANTIC_DEPTH, &include)?;
        Ok((keyword, hits))
    }

    /// Fuses a keyword ranking with semantic hits; pure, so tuning can re-fuse stored
    /// scores without embedding again.
    pub fn combine(&self, keyword: Ranking, hits: &[SemanticHit], limit: usize) -> Rankings {
        let f = &self.fusion;
        let keyword_scores: HashMap<&str, (f32, Option<f32>)> =
            keyword.candidates.iter().map(|c| (c.faq_id.as_str(), (c.score, c.keyword_score))).collect();
        let semantic_of = |hit: &SemanticHit| hit.wording + f.answer_weight * hit.answer;
        let (semantic, semantic_evidence) = ranking(
            hits.iter().map(|h| (semantic_of(h), h.candidate.clone())).collect(),
            &keyword,
            limit,
            &f.semantic,
            format!("semantic:{}", self.semantic.model_id()),
        );
        let fused = hits
            .iter()
            .map(|hit| {
                let (k, raw) = keyword_scores.get(hit.candidate.faq_id.as_str()).copied().unwrap_or((0.0, None));
                let mut candidate = hit.candidate.clone();
                candidate.keyword_score = raw;
                (f.semantic_weight * semantic_of(hit) + (1.0 - f.semantic_weight) * k, candidate)
            })
            .collect();
        let (hybrid, hybrid_evidence) = ranking(fused, &keyword, limit, &f.hybrid, self.engine());
        let mut keyword = keyword;
        keyword.candidates.truncate(limit);
        Rankings { keyword, semantic, hybrid, semantic_evidence, hybrid_evidence }
    }

    /// The keyword index alone (for keyword-only comparisons).
    pub fn keyword(&self) -> &KeywordMatcher {
        &self.keyword
    }

    /// The semantic index.
    pub fn semantic(&self) -> &SemanticMatcher {
        &self.semantic
    }
}

#[async_trait]
impl Matcher for HybridMatcher {
    async fn rank(&self, team: &TeamId, query: &str, limit: usize) -> Result<Ranking, MatchError> {
        tokio::task::block_in_place(|| self.rank_all(team, query, limit)).map(|r| r.hybrid)
    }

    async fn apply(&self, team: &TeamId, event: &FaqEvent) -> Result<(), MatchError> {
        tokio::task::block_in_place(|| self.apply_sync(team, event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fitted_calibration_separates_right_from_wrong() {
        let right = Evidence { first: 0.9, margin: 0.3, semantic: 0.8, keyword: 0.7 };
        let wrong = Evidence { first: 0.3, margin: 0.01, semantic: 0.4, keyword: 0.0 };
        let samples: Vec<(Evidence, bool)> =
            (0..200).map(|i| if i % 2 == 0 { (right, true) } else { (wrong, false) }).collect();
        let c = Calibration::fit(&samples);
        assert!(c.confidence(&right) > 0.9 && c.confidence(&wrong) < 0.1, "{c:?}");
    }
}
