//! The FAQ catalog aggregate: a team's FAQ entries as events, from which every search index
//! and embedding store is projected.

use std::collections::BTreeMap;

use switchboard_schemas::event::{FaqAdded, FaqParaphraseAdded, FaqRemoved, FaqUpdated};
use switchboard_schemas::{FaqEvent, FaqId};
use uuid::Uuid;

/// One FAQ entry as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaqEntry {
    /// The canonical question.
    pub question: String,
    /// The answer.
    pub answer: String,
    /// The routing category.
    pub category: Option<String>,
    /// Other wordings.
    pub paraphrases: Vec<String>,
}

/// A team's catalog as folded from its stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// The stream version this state reflects.
    pub version: u64,
    /// The entries by id.
    pub entries: BTreeMap<FaqId, FaqEntry>,
}

/// What can be asked of a catalog.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogCommand {
    /// Adds an entry, or rewrites it when it exists and differs (imports are re-runnable).
    Upsert {
        /// The entry's id.
        faq_id: FaqId,
        /// Its content.
        entry: FaqEntry,
    },
    /// Removes an entry.
    Remove {
        /// The entry's id.
        faq_id: FaqId,
    },
    /// Learns a wording as a paraphrase (a no-op when already known).
    AddParaphrase {
        /// The entry.
        faq_id: FaqId,
        /// The wording.
        text: String,
        /// The session that confirmed it.
        session_id: Option<Uuid>,
    },
}

/// Why a catalog command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogRejection {
    /// The entry does not exist.
    #[error("FAQ {0} does not exist")]
    UnknownFaq(FaqId),
    /// A question or answer was empty.
    #[error("FAQ {0}: question and answer must not be empty")]
    EmptyField(FaqId),
}

impl Catalog {
    /// Folds one event into the state.
    pub fn apply(&mut self, event: &FaqEvent) {
        self.version += 1;
        match event {
            FaqEvent::FaqAdded(FaqAdded { faq_id, question, answer, category, paraphrases })
            | FaqEvent::FaqUpdated(FaqUpdated { faq_id, question, answer, category, paraphrases }) => {
                let entry = FaqEntry {
                    question: question.clone(),
                    answer: answer.clone(),
                    category: category.clone(),
                    paraphrases: paraphrases.clone(),
                };
                self.entries.insert(faq_id.clone(), entry);
            }
            FaqEvent::FaqRemoved(e) => {
                self.entries.remove(&e.faq_id);
            }
            FaqEvent::FaqParaphraseAdded(e) => {
                if let Some(entry) = self.entries.get_mut(&e.faq_id) {
                    entry.paraphrases.push(e.text.clone());
                }
            }
            FaqEvent::FaqCandidateHarvested(_)
            | FaqEvent::FaqCandidateApproved(_)
            | FaqEvent::FaqCandidateRejected(_) => {}
        }
    }

    /// Decides what a command causes.
    pub fn decide(&self, command: &CatalogCommand) -> Result<Vec<FaqEvent>, CatalogRejection> {
        match command {
            CatalogCommand::Upsert { faq_id, entry } => {
                if entry.question.trim().is_empty() || entry.answer.trim().is_empty() {
                    return Err(CatalogRejection::EmptyField(faq_id.clone()));
                }
                let FaqEntry { question, answer, category, paraphrases } = entry.clone();
                Ok(match self.entries.get(faq_id) {
                    None => vec![FaqAdded { faq_id: faq_id.clone(), question, answer, category, paraphrases }.into()],
                    Some(existing) if existing == entry => Vec::new(),
                    Some(_) => {
                        vec![FaqUpdated { faq_id: faq_id.clone(), question, answer, category, paraphrases }.into()]
                    }
                })
            }
            CatalogCommand::Remove { faq_id } => {
                if !self.entries.contains_key(faq_id) {
                    return Err(CatalogRejection::UnknownFaq(faq_id.clone()));
                }
                Ok(vec![FaqRemoved { faq_id: faq_id.clone() }.into()])
            }
            CatalogCommand::AddParaphrase { faq_id, text, session_id } => {
                let entry = self.entries.get(faq_id).ok_or_else(|| CatalogRejection::UnknownFaq(faq_id.clone()))?;
                let text = text.trim();
                if text.is_empty() || entry.question == text || entry.paraphrases.iter().any(|p| p == text) {
                    return Ok(Vec::new());
                }
                Ok(vec![FaqParaphraseAdded { faq_id: faq_id.clone(), text: text.to_owned(), session_id: *session_id }
                    .into()])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(q: &str) -> FaqEntry {
        FaqEntry { question: q.into(), answer: "a".into(), category: None, paraphrases: vec![] }
    }

    fn run(catalog: &mut Catalog, command: CatalogCommand) -> Vec<FaqEvent> {
        let events = catalog.decide(&command).unwrap();
        events.iter().for_each(|e| catalog.apply(e));
        events
    }

    #[test]
    fn upserts_add_then_update_and_repeat_as_no_ops() {
        let mut c = Catalog::default();
        let id = FaqId::new("f1").unwrap();
        let added = run(&mut c, CatalogCommand::Upsert { faq_id: id.clone(), entry: entry("q") });
        assert_eq!(added[0].event_type(), "FaqAdded");
        assert!(run(&mut c, CatalogCommand::Upsert { faq_id: id.clone(), entry: entry("q") }).is_empty());
        let updated = run(&mut c, CatalogCommand::Upsert { faq_id: id.clone(), entry: entry("q2") });
        assert_eq!(updated[0].event_type(), "FaqUpdated");
        let learned = CatalogCommand::AddParaphrase { faq_id: id.clone(), text: "q3".into(), session_id: None };
        assert_eq!(run(&mut c, learned.clone()).len(), 1);
        assert!(run(&mut c, learned).is_empty(), "a known wording is not learned twice");
        assert_eq!(c.entries[&id].paraphrases, ["q3"]);
        run(&mut c, CatalogCommand::Remove { faq_id: id.clone() });
        assert_eq!(c.decide(&CatalogCommand::Remove { faq_id: id.clone() }), Err(CatalogRejection::UnknownFaq(id)));
    }

    #[test]
    fn empty_questions_are_refused() {
        let c = Catalog::default();
        let id = FaqId::new("f1").unwrap();
        assert_eq!(
            c.decide(&CatalogCommand::Upsert { faq_id: id.clone(), entry: entry(" ") }),
            Err(CatalogRejection::EmptyField(id))
        );
    }
}
