//! One team's inverted index and its BM25F scoring.
//!
//! # Model
//!
//! Each FAQ has two fields: the *question group* (its question and every paraphrase, each a
//! separate *wording*) and the *answer*. Scoring treats every wording as its own virtual
//! document made of that wording plus the FAQ's answer, scores it with BM25F, and scores the
//! FAQ by its best wording:
//!
//! ```text
//! x(t, w)     = tf(t, w) / B_q(w) + 0.3 · tf(t, answer) / B_a(answer)
//! B_q(w)      = 1 − b + b · len(w) / avg wording length
//! B_a(answer) = 1 − b + b · len(answer) / avg answer length
//! score(w)    = Σ_{t ∈ query} idf(t) · x (k1 + 1) / (x + k1)         (k1 = 1.2, b = 0.75)
//! idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
//! score(faq)  = max over its wordings w of score(w)
//! ```
//!
//! where `N` is the number of FAQs and `df(t)` the number of FAQs having `t` in any field.
//! The best wording is used rather than one field holding every wording because
//! paraphrases are alternatives, not more text about the same thing: a query matches one
//! way of asking, and an FAQ with many learned paraphrases must not be penalised by length
//! normalisation (nor favoured by repeated words) compared with one that has none.
//!
//! # Incremental maintenance
//!
//! Postings are maps keyed by wording slot (question group) or FAQ slot (answer), so an FAQ
//! is removed by deleting exactly its entries; document frequencies are reference-counted
//! per FAQ and the length sums are adjusted, so statistics after any sequence of events
//! equal those of an index built from the surviving FAQs alone. Slots are reused
//! last-freed-first and every map that is iterated uses a fixed hasher, so the same events
//! always produce the same index; scores are summed in query-term order and ties are broken
//! by FAQ id, so the same query on the same events always gives the same ranking.
//!
//! # Scoring cost
//!
//! Only the postings of the query's terms are visited; per-wording and per-FAQ accumulators
//! live in reusable per-thread buffers that are reset through the list of touched entries,
//! so ranking allocates nothing per document.

use std::cell::RefCell;
use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use switchboard_schemas::event::MatchCandidate;
use switchboard_schemas::FaqId;

use crate::analysis::analyze;

/// BM25 term-frequency saturation.
pub(crate) const K1: f64 = 1.2;
/// BM25 length normalisation.
pub(crate) const B: f64 = 0.75;
/// Weight of the question group, the field other weights are relative to.
pub(crate) const QUESTION_WEIGHT: f64 = 1.0;
/// Weight of the answer field: answers mention many things a question is not about.
pub(crate) const ANSWER_WEIGHT: f64 = 0.3;
/// How much a runner-up scoring as high as the winner lowers confidence.
pub(crate) const MARGIN_PENALTY: f64 = 0.5;
/// Shape of the runner-up penalty: higher forgives distant runners-up more.
pub(crate) const MARGIN_POWER: i32 = 2;

type Map<K, V> = HashMap<K, V, BuildHasherDefault<DefaultHasher>>;

/// The terms of one text with their counts, in order of first occurrence.
#[derive(Debug, Clone, Default)]
pub(crate) struct Terms {
    counts: Vec<(String, u32)>,
    len: u32,
}

impl Terms {
    /// Counts the terms of `text`.
    pub(crate) fn of(text: &str) -> Self {
        Self::from_tokens(analyze(text))
    }

    fn from_tokens(tokens: Vec<String>) -> Self {
        let mut counts: Vec<(String, u32)> = Vec::new();
        let mut position: HashMap<String, usize> = HashMap::new();
        let len = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        for token in tokens {
            match position.entry(token) {
                Entry::Occupied(e) => counts[*e.get()].1 += 1,
                Entry::Vacant(e) => {
                    counts.push((e.key().clone(), 1));
                    e.insert(counts.len() - 1);
                }
            }
        }
        Self { counts, len }
    }

    fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// An FAQ as analysed before taking the index lock.
#[derive(Debug, Clone)]
pub(crate) struct AnalysedFaq {
    pub(crate) faq_id: FaqId,
    pub(crate) question: String,
    pub(crate) answer: String,
    pub(crate) category: Option<String>,
    /// The question then each paraphrase, with their terms.
    pub(crate) wordings: Vec<(String, Terms)>,
    pub(crate) answer_terms: Terms,
}

#[derive(Debug, Default)]
struct Postings {
    /// FAQs with the term in any field.
    df: u32,
    /// Wording slot → term frequency.
    question: Map<u32, u32>,
    /// FAQ slot → term frequency in the answer.
    answer: Map<u32, u32>,
}

#[derive(Debug)]
struct Wording {
    terms: Terms,
}

#[derive(Debug)]
struct Doc {
    faq_id: FaqId,
    question: String,
    answer: String,
    category: Option<String>,
    /// Wording slots in the order the wordings were added (question first).
    wordings: Vec<u32>,
    /// Every wording's text, also those with no terms (for de-duplication).
    texts: Vec<String>,
    answer_terms: Terms,
    /// Term → number of this FAQ's fields (wordings and answer) containing it.
    term_refs: Map<String, u32>,
}

/// The inverted index of one team's FAQ catalog.
#[derive(Debug, Default)]
pub(crate) struct TeamIndex {
    docs: Vec<Option<Doc>>,
    free_docs: Vec<u32>,
    by_id: HashMap<FaqId, u32>,
    /// Answer length per FAQ slot (dense, read in the scoring loop).
    answer_len: Vec<u32>,
    wordings: Vec<Option<Wording>>,
    free_wordings: Vec<u32>,
    /// FAQ slot per wording slot (dense, read in the scoring loop).
    wording_doc: Vec<u32>,
    /// Position of the wording within its FAQ (0 = the question), for stable tie-breaks.
    wording_ordinal: Vec<u32>,
    /// Length per wording slot (dense, read in the scoring loop).
    wording_len: Vec<u32>,
    postings: Map<String, Postings>,
    live_docs: u32,
    live_wordings: u32,
    wording_len_sum: u64,
    answer_len_sum: u64,
}

/// The result of ranking within one team.
#[derive(Debug, Clone, Default)]
pub(crate) struct TeamRanking {
    pub(crate) candidates: Vec<MatchCandidate>,
    pub(crate) confidence: f64,
}

/// Reusable per-thread buffers, so ranking allocates nothing per document.
#[derive(Default)]
struct Scratch {
    /// Score per wording slot; zero when untouched.
    acc: Vec<f64>,
    /// Per wording slot: the term epoch in which its question posting was seen.
    stamp: Vec<u32>,
    epoch: u32,
    touched: Vec<u32>,
    /// Per FAQ slot: the weighted, normalised answer term frequency of the current term.
    answer_part: Vec<f64>,
    answer_docs: Vec<u32>,
    /// Per FAQ slot: best wording score and that wording's ordinal and slot.
    best: Vec<(f64, u32, u32)>,
    touched_docs: Vec<u32>,
}

impl Scratch {
    fn fit(&mut self, wordings: usize, docs: usize) {
        if self.acc.len() < wordings {
            self.acc.resize(wordings, 0.0);
            self.stamp.resize(wordings, 0);
        }
        if self.answer_part.len() < docs {
            self.answer_part.resize(docs, 0.0);
            self.best.resize(docs, (0.0, 0, 0));
        }
    }

    fn next_epoch(&mut self) -> u32 {
        if self.epoch == u32::MAX {
            self.stamp.fill(0);
            self.epoch = 0;
        }
        self.epoch += 1;
        self.epoch
    }

    fn add(&mut self, wording: u32, value: f64) {
        let slot = wording as usize;
        if self.acc[slot] == 0.0 {
            self.touched.push(wording);
        }
        self.acc[slot] += value;
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Words that say *how* something is asked rather than *what* about ("怎么", "如何", "how"):
/// kept, because "why" and "how" questions differ, but weighted down so that sharing only
/// them with an FAQ is weak evidence even in a small catalog where they look rare.
const QUESTION_WORDS: &[&str] = &[
    "怎么",
    "怎样",
    "如何",
    "怎么样",
    "怎么办",
    "什么",
    "为什么",
    "为何",
    "哪里",
    "哪儿",
    "哪个",
    "哪些",
    "多少",
    "几",
    "可以",
    "能",
    "能否",
    "能不能",
    "是否",
    "有没有",
    "可不可以",
    "how",
    "what",
    "why",
    "when",
    "where",
    "which",
    "who",
];

/// Weight multiplier of [`QUESTION_WORDS`].
pub(crate) const QUESTION_WORD_WEIGHT: f64 = 0.3;

fn term_weight(term: &str) -> f64 {
    if QUESTION_WORDS.contains(&term) {
        QUESTION_WORD_WEIGHT
    } else {
        1.0
    }
}

fn saturate(x: f64) -> f64 {
    x * (K1 + 1.0) / (x + K1)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl TeamIndex {
    /// How many FAQs are indexed.
    pub(crate) fn len(&self) -> usize {
        self.live_docs as usize
    }

    fn idf(&self, df: u32) -> f64 {
        let n = f64::from(self.live_docs);
        let df = f64::from(df);
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// The weight of a term: its IDF, scaled down for generic question words.
    fn weight_of(&self, term: &str) -> f64 {
        self.idf(self.postings.get(term).map_or(0, |p| p.df)) * term_weight(term)
    }

    /// Adds an FAQ, replacing any entry with the same id.
    pub(crate) fn upsert(&mut self, faq: AnalysedFaq) {
        self.remove(&faq.faq_id);
        let slot = match self.free_docs.pop() {
            Some(slot) => slot,
            None => {
                self.docs.push(None);
                self.answer_len.push(0);
                to_u32(self.docs.len() - 1)
            }
        };
        let mut doc = Doc {
            faq_id: faq.faq_id.clone(),
            question: faq.question,
            answer: faq.answer,
            category: faq.category,
            wordings: Vec::new(),
            texts: Vec::new(),
            answer_terms: Terms::default(),
            term_refs: Map::default(),
        };
        for (term, tf) in &faq.answer_terms.counts {
            self.reference(&mut doc, term);
            self.postings.entry(term.clone()).or_default().answer.insert(slot, *tf);
        }
        self.answer_len[slot as usize] = faq.answer_terms.len;
        self.answer_len_sum += u64::from(faq.answer_terms.len);
        doc.answer_terms = faq.answer_terms;
        for (text, terms) in faq.wordings {
            self.add_wording(slot, &mut doc, text, terms);
        }
        self.docs[slot as usize] = Some(doc);
        self.by_id.insert(faq.faq_id, slot);
        self.live_docs += 1;
    }

    /// Adds a wording to an FAQ; false when the FAQ is unknown.
    pub(crate) fn add_paraphrase(&mut self, faq_id: &FaqId, text: String, terms: Terms) -> bool {
        let Some(&slot) = self.by_id.get(faq_id) else {
            return false;
        };
        let Some(mut doc) = self.docs[slot as usize].take() else {
            return false;
        };
        self.add_wording(slot, &mut doc, text, terms);
        self.docs[slot as usize] = Some(doc);
        true
    }

    fn reference(&mut self, doc: &mut Doc, term: &str) {
        let refs = doc.term_refs.entry(term.to_owned()).or_insert(0);
        *refs += 1;
        if *refs == 1 {
            self.postings.entry(term.to_owned()).or_default().df += 1;
        }
    }

    fn release(&mut self, doc: &mut Doc, term: &str) {
        let Some(refs) = doc.term_refs.get_mut(term) else {
            return;
        };
        *refs -= 1;
        if *refs > 0 {
            return;
        }
        doc.term_refs.remove(term);
        if let Some(postings) = self.postings.get_mut(term) {
            postings.df = postings.df.saturating_sub(1);
            if postings.df == 0 {
                debug_assert!(postings.question.is_empty() && postings.answer.is_empty());
                self.postings.remove(term);
            }
        }
    }

    fn add_wording(&mut self, doc_slot: u32, doc: &mut Doc, text: String, terms: Terms) {
        let trimmed = text.trim();
        if doc.texts.iter().any(|t| t.trim() == trimmed) {
            return;
        }
        doc.texts.push(text);
        if terms.is_empty() {
            return;
        }
        let slot = match self.free_wordings.pop() {
            Some(slot) => slot,
            None => {
                self.wordings.push(None);
                self.wording_doc.push(0);
                self.wording_ordinal.push(0);
                self.wording_len.push(0);
                to_u32(self.wordings.len() - 1)
            }
        };
        for (term, tf) in &terms.counts {
            self.reference(doc, term);
            self.postings.entry(term.clone()).or_default().question.insert(slot, *tf);
        }
        let i = slot as usize;
        self.wording_doc[i] = doc_slot;
        self.wording_ordinal[i] = to_u32(doc.texts.len() - 1);
        self.wording_len[i] = terms.len;
        self.wording_len_sum += u64::from(terms.len);
        self.live_wordings += 1;
        self.wordings[i] = Some(Wording { terms });
        doc.wordings.push(slot);
    }

    /// Removes an FAQ; a no-op when it is unknown.
    pub(crate) fn remove(&mut self, faq_id: &FaqId) {
        let Some(slot) = self.by_id.remove(faq_id) else {
            return;
        };
        let Some(mut doc) = self.docs[slot as usize].take() else {
            return;
        };
        for wording_slot in std::mem::take(&mut doc.wordings) {
            let Some(wording) = self.wordings[wording_slot as usize].take() else {
                continue;
            };
            for (term, _) in &wording.terms.counts {
                if let Some(postings) = self.postings.get_mut(term) {
                    postings.question.remove(&wording_slot);
                }
                self.release(&mut doc, term);
            }
            self.wording_len_sum -= u64::from(wording.terms.len);
            self.wording_len[wording_slot as usize] = 0;
            self.live_wordings -= 1;
            self.free_wordings.push(wording_slot);
        }
        let answer_terms = std::mem::take(&mut doc.answer_terms);
        for (term, _) in &answer_terms.counts {
            if let Some(postings) = self.postings.get_mut(term) {
                postings.answer.remove(&slot);
            }
            self.release(&mut doc, term);
        }
        debug_assert!(doc.term_refs.is_empty());
        self.answer_len_sum -= u64::from(answer_terms.len);
        self.answer_len[slot as usize] = 0;
        self.live_docs -= 1;
        self.free_docs.push(slot);
    }

    /// Ranks the FAQs for the analysed query (`terms` distinct, in query order).
    pub(crate) fn rank(&self, terms: &[String], limit: usize) -> TeamRanking {
        if limit == 0 || self.live_docs == 0 || terms.is_empty() {
            return TeamRanking::default();
        }
        let avg_wording =
            if self.live_wordings > 0 { self.wording_len_sum as f64 / f64::from(self.live_wordings) } else { 1.0 };
        let avg_answer = (self.answer_len_sum as f64 / f64::from(self.live_docs)).max(f64::MIN_POSITIVE);
        let query: Vec<(&String, f64, Option<&Postings>)> = terms
            .iter()
            .map(|t| {
                let postings = self.postings.get(t.as_str());
                (t, self.idf(postings.map_or(0, |p| p.df)), postings)
            })
            .collect();
        let query_mass: f64 = query.iter().map(|(_, idf, _)| idf).sum();

        let mut top: Vec<(f64, u32, u32)> = with_scratch(|s| {
            s.fit(self.wordings.len(), self.docs.len());
            for &(_, idf, postings) in &query {
                let Some(postings) = postings else { continue };
                let epoch = s.next_epoch();
                for (&doc, &tf) in &postings.answer {
                    let norm = 1.0 - B + B * f64::from(self.answer_len[doc as usize]) / avg_answer;
                    s.answer_part[doc as usize] = ANSWER_WEIGHT * f64::from(tf) / norm;
                    s.answer_docs.push(doc);
                }
                for (&wording, &tf) in &postings.question {
                    let w = wording as usize;
                    let norm = 1.0 - B + B * f64::from(self.wording_len[w]) / avg_wording;
                    let x = QUESTION_WEIGHT * f64::from(tf) / norm + s.answer_part[self.wording_doc[w] as usize];
                    s.add(wording, idf * saturate(x));
                    s.stamp[w] = epoch;
                }
                for k in 0..s.answer_docs.len() {
                    let doc = s.answer_docs[k] as usize;
                    let part = std::mem::take(&mut s.answer_part[doc]);
                    let Some(Some(d)) = self.docs.get(doc) else {
                        continue;
                    };
                    for &wording in &d.wordings {
                        if s.stamp[wording as usize] != epoch {
                            s.add(wording, idf * saturate(part));
                        }
                    }
                }
                s.answer_docs.clear();
            }
            // Best wording per FAQ; ties go to the earlier wording.
            for k in 0..s.touched.len() {
                let wording = s.touched[k];
                let w = wording as usize;
                let score = std::mem::take(&mut s.acc[w]);
                let doc = self.wording_doc[w] as usize;
                let ordinal = self.wording_ordinal[w];
                let best = &mut s.best[doc];
                if best.0 == 0.0 {
                    s.touched_docs.push(doc as u32);
                    *best = (score, ordinal, wording);
                } else if score > best.0 || (score == best.0 && ordinal < best.1) {
                    *best = (score, ordinal, wording);
                }
            }
            s.touched.clear();
            let top = s
                .touched_docs
                .iter()
                .map(|&doc| {
                    let (score, _, wording) = std::mem::take(&mut s.best[doc as usize]);
                    (score, doc, wording)
                })
                .collect();
            s.touched_docs.clear();
            top
        });

        let order = |a: &(f64, u32, u32), b: &(f64, u32, u32)| {
            b.0.total_cmp(&a.0).then_with(|| self.faq_id(a.1).cmp(&self.faq_id(b.1)))
        };
        let keep = limit.max(2);
        if top.len() > keep {
            top.select_nth_unstable_by(keep - 1, order);
            top.truncate(keep);
        }
        top.sort_unstable_by(order);

        let confidence = match top.first() {
            Some(&(first, _, wording)) => {
                let quality = self.match_quality(&query, wording);
                let runner_up = top.get(1).map_or(0.0, |&(second, _, _)| second / first);
                quality * (1.0 - MARGIN_PENALTY * runner_up.powi(MARGIN_POWER))
            }
            None => 0.0,
        };
        let candidates = top
            .iter()
            .take(limit)
            .filter_map(|&(score, doc, _)| {
                let d = self.docs.get(doc as usize)?.as_ref()?;
                Some(MatchCandidate {
                    faq_id: d.faq_id.clone(),
                    question: d.question.clone(),
                    answer: d.answer.clone(),
                    category: d.category.clone(),
                    score: (score / query_mass).clamp(0.0, 1.0) as f32,
                    keyword_score: Some(score as f32),
                    semantic_score: None,
                })
            })
            .collect();
        TeamRanking { candidates, confidence: confidence.clamp(0.0, 1.0) }
    }

    /// Weighted F1 of the query's terms against one wording's terms, each term weighing its
    /// IDF (question words less, see [`QUESTION_WORDS`]): recall is the share of the query's
    /// weight the wording covers, precision the share of the wording's weight the query
    /// covers.
    fn match_quality(&self, query: &[(&String, f64, Option<&Postings>)], wording: u32) -> f64 {
        let Some(Some(wording)) = self.wordings.get(wording as usize) else {
            return 0.0;
        };
        let wording_mass: f64 = wording.terms.counts.iter().map(|(t, _)| self.weight_of(t)).sum();
        let mut query_mass = 0.0;
        let mut overlap = 0.0;
        for (term, idf, _) in query {
            let weight = idf * term_weight(term);
            query_mass += weight;
            if wording.terms.counts.iter().any(|(w, _)| w == *term) {
                overlap += weight;
            }
        }
        if overlap <= 0.0 || query_mass <= 0.0 || wording_mass <= 0.0 {
            return 0.0;
        }
        let recall = overlap / query_mass;
        let precision = overlap / wording_mass;
        2.0 * precision * recall / (precision + recall)
    }

    fn faq_id(&self, doc: u32) -> Option<&FaqId> {
        self.docs.get(doc as usize).and_then(Option::as_ref).map(|d| &d.faq_id)
    }
}

/// The distinct terms of a query, in order of first occurrence.
pub(crate) fn query_terms(query: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    analyze(query).into_iter().filter(|t| seen.insert(t.clone())).collect()
}
