//! The FAQ catalog aggregate: a team's FAQ entries as events, from which every search index
//! and embedding store is projected.

use std::collections::{BTreeMap, HashSet};

use switchboard_schemas::event::{
    FaqAdded, FaqCandidateApproved, FaqCandidateRejected, FaqParaphraseAdded, FaqRemoved, FaqUpdated,
};
use switchboard_schemas::{FaqEvent, FaqId};
use uuid::Uuid;

use crate::policy::bounds;

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
    /// Each entry's revision: the stream version of its last change, which an editor sends
    /// back so a concurrent change is refused instead of overwritten.
    pub revisions: BTreeMap<FaqId, u64>,
    /// FAQ candidates (by session id) already approved or rejected.
    pub settled_candidates: HashSet<Uuid>,
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
    /// Adds or rewrites many entries in one commit (a file import); unchanged rows change
    /// nothing.
    Import {
        /// The entries, in file order.
        rows: Vec<(FaqId, FaqEntry)>,
    },
    /// Adds a new entry; refused when the id is taken.
    Create {
        /// The entry's id.
        faq_id: FaqId,
        /// Its content.
        entry: FaqEntry,
    },
    /// Rewrites an existing entry (a no-op when unchanged).
    Edit {
        /// The entry's id.
        faq_id: FaqId,
        /// Its new content.
        entry: FaqEntry,
        /// The revision the editor saw; refused when the entry changed since.
        expected_revision: Option<u64>,
    },
    /// Removes an entry.
    Remove {
        /// The entry's id.
        faq_id: FaqId,
        /// The revision the editor saw; refused when the entry changed since.
        expected_revision: Option<u64>,
    },
    /// Turns FAQ candidates into an entry: a new one, or wordings added to an existing one.
    ApproveCandidates {
        /// The candidates (their session ids); those already settled are skipped.
        candidates: Vec<Uuid>,
        /// The entry they become or join.
        faq_id: FaqId,
        /// The new entry's content; none to add `wordings` to the existing `faq_id`.
        new_entry: Option<FaqEntry>,
        /// The operators' wordings, learned as paraphrases of an existing entry.
        wordings: Vec<String>,
    },
    /// Dismisses FAQ candidates (those already settled are skipped).
    RejectCandidates {
        /// The candidates (their session ids).
        candidates: Vec<Uuid>,
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
    /// Creating an entry whose id is taken.
    #[error("FAQ {0} already exists; edit it or choose another id")]
    FaqExists(FaqId),
    /// The entry changed since the editor read it.
    #[error(
        "FAQ {faq_id} was changed by someone else (revision {actual}, you edited {expected}); reload it and edit again"
    )]
    StaleRevision {
        /// The entry.
        faq_id: FaqId,
        /// The revision the editor saw.
        expected: u64,
        /// Its revision now.
        actual: u64,
    },
    /// Approving or rejecting no candidates at all.
    #[error("no FAQ candidates were named")]
    NoCandidates,
    /// More candidates named at once than [`bounds::MAX_NAMED_CANDIDATES`].
    #[error("at most {max} FAQ candidates may be named at once (got {got}); settle a bigger group in parts")]
    TooManyCandidates {
        /// The most.
        max: usize,
        /// How many were named.
        got: usize,
    },
    /// A field of an entry, or the catalog, is over its bound ([`bounds`]).
    #[error("FAQ {faq_id}: {field} may have at most {max} {unit} (got {got})")]
    TooLarge {
        /// The entry.
        faq_id: FaqId,
        /// The field (`question`, `answer`, `category`, `paraphrases`, or `catalog` for the
        /// number of entries).
        field: &'static str,
        /// The bound.
        max: usize,
        /// What it had.
        got: usize,
        /// What is counted.
        unit: &'static str,
    },
}

/// Refuses an entry with a field over its bound (also used to name bad rows of a file
/// before anything is decided).
pub fn check_bounds(faq_id: &FaqId, entry: &FaqEntry) -> Result<(), CatalogRejection> {
    let too_large =
        |field, max, got, unit| CatalogRejection::TooLarge { faq_id: faq_id.clone(), field, max, got, unit };
    let chars = |text: &str| text.chars().count();
    let fields = [
        ("question", chars(&entry.question), bounds::MAX_QUESTION_CHARS, "characters"),
        ("answer", chars(&entry.answer), bounds::MAX_ANSWER_CHARS, "characters"),
        ("category", entry.category.as_deref().map_or(0, chars), bounds::MAX_CATEGORY_CHARS, "characters"),
        ("paraphrases", entry.paraphrases.len(), bounds::MAX_PARAPHRASES, "entries"),
        (
            "a paraphrase",
            entry.paraphrases.iter().map(|p| chars(p)).max().unwrap_or(0),
            bounds::MAX_QUESTION_CHARS,
            "characters",
        ),
    ];
    match fields.into_iter().find(|(_, got, max, _)| got > max) {
        Some((field, got, max, unit)) => Err(too_large(field, max, got, unit)),
        None => Ok(()),
    }
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
                self.revisions.insert(faq_id.clone(), self.version);
            }
            FaqEvent::FaqRemoved(e) => {
                self.entries.remove(&e.faq_id);
                self.revisions.remove(&e.faq_id);
            }
            FaqEvent::FaqParaphraseAdded(e) => {
                if let Some(entry) = self.entries.get_mut(&e.faq_id) {
                    entry.paraphrases.push(e.text.clone());
                    self.revisions.insert(e.faq_id.clone(), self.version);
                }
            }
            FaqEvent::FaqCandidateApproved(FaqCandidateApproved { candidate_id, .. })
            | FaqEvent::FaqCandidateRejected(FaqCandidateRejected { candidate_id }) => {
                self.settled_candidates.insert(*candidate_id);
            }
            FaqEvent::FaqCandidateHarvested(_) => {}
        }
    }

    /// An entry's revision (0 for an entry that does not exist).
    pub fn revision(&self, faq_id: &FaqId) -> u64 {
        self.revisions.get(faq_id).copied().unwrap_or(0)
    }

    fn check_revision(&self, faq_id: &FaqId, expected: Option<u64>) -> Result<(), CatalogRejection> {
        if !self.entries.contains_key(faq_id) {
            return Err(CatalogRejection::UnknownFaq(faq_id.clone()));
        }
        match expected {
            Some(expected) if expected != self.revision(faq_id) => {
                Err(CatalogRejection::StaleRevision { faq_id: faq_id.clone(), expected, actual: self.revision(faq_id) })
            }
            _ => Ok(()),
        }
    }

    /// The candidates of `candidates` not settled yet, each once, in the given order.
    fn unsettled(&self, candidates: &[Uuid]) -> Result<Vec<Uuid>, CatalogRejection> {
        if candidates.is_empty() {
            return Err(CatalogRejection::NoCandidates);
        }
        if candidates.len() > bounds::MAX_NAMED_CANDIDATES {
            return Err(CatalogRejection::TooManyCandidates {
                max: bounds::MAX_NAMED_CANDIDATES,
                got: candidates.len(),
            });
        }
        let mut seen = HashSet::new();
        Ok(candidates.iter().copied().filter(|c| !self.settled_candidates.contains(c) && seen.insert(*c)).collect())
    }

    /// The paraphrase events that teach an entry wordings it does not know yet.
    fn learn(&self, faq_id: &FaqId, wordings: &[String], session_id: Option<Uuid>) -> Vec<FaqEvent> {
        let Some(entry) = self.entries.get(faq_id) else { return Vec::new() };
        let mut known: HashSet<&str> = entry.paraphrases.iter().map(String::as_str).collect();
        known.insert(entry.question.as_str());
        let mut events = Vec::new();
        // Learning is bounded like an entry: wordings too long are not learned, and it
        // stops when the entry has as many paraphrases as it may.
        let room = bounds::MAX_PARAPHRASES.saturating_sub(entry.paraphrases.len());
        let learnable = wordings
            .iter()
            .map(|w| w.trim())
            .filter(|w| !w.is_empty() && w.chars().count() <= bounds::MAX_QUESTION_CHARS);
        for text in learnable {
            if events.len() == room {
                break;
            }
            if known.insert(text) {
                events.push(FaqParaphraseAdded { faq_id: faq_id.clone(), text: text.to_owned(), session_id }.into());
            }
        }
        events
    }

    /// Decides what a command causes.
    pub fn decide(&self, command: &CatalogCommand) -> Result<Vec<FaqEvent>, CatalogRejection> {
        match command {
            CatalogCommand::Upsert { faq_id, entry } => {
                if entry.question.trim().is_empty() || entry.answer.trim().is_empty() {
                    return Err(CatalogRejection::EmptyField(faq_id.clone()));
                }
                check_bounds(faq_id, entry)?;
                let FaqEntry { question, answer, category, paraphrases } = entry.clone();
                Ok(match self.entries.get(faq_id) {
                    None if self.entries.len() >= bounds::MAX_FAQS => {
                        return Err(CatalogRejection::TooLarge {
                            faq_id: faq_id.clone(),
                            field: "catalog",
                            max: bounds::MAX_FAQS,
                            got: self.entries.len() + 1,
                            unit: "entries",
                        })
                    }
                    None => vec![FaqAdded { faq_id: faq_id.clone(), question, answer, category, paraphrases }.into()],
                    Some(existing) if existing == entry => Vec::new(),
                    Some(_) => {
                        vec![FaqUpdated { faq_id: faq_id.clone(), question, answer, category, paraphrases }.into()]
                    }
                })
            }
            CatalogCommand::Import { rows } => {
                let mut staged = self.clone();
                let mut events = Vec::new();
                for (faq_id, entry) in rows {
                    let changed =
                        staged.decide(&CatalogCommand::Upsert { faq_id: faq_id.clone(), entry: entry.clone() })?;
                    changed.iter().for_each(|e| staged.apply(e));
                    events.extend(changed);
                }
                Ok(events)
            }
            CatalogCommand::Create { faq_id, entry } => {
                if self.entries.contains_key(faq_id) {
                    return Err(CatalogRejection::FaqExists(faq_id.clone()));
                }
                self.decide(&CatalogCommand::Upsert { faq_id: faq_id.clone(), entry: entry.clone() })
            }
            CatalogCommand::Edit { faq_id, entry, expected_revision } => {
                self.check_revision(faq_id, *expected_revision)?;
                self.decide(&CatalogCommand::Upsert { faq_id: faq_id.clone(), entry: entry.clone() })
            }
            CatalogCommand::Remove { faq_id, expected_revision } => {
                self.check_revision(faq_id, *expected_revision)?;
                Ok(vec![FaqRemoved { faq_id: faq_id.clone() }.into()])
            }
            CatalogCommand::AddParaphrase { faq_id, text, session_id } => {
                if !self.entries.contains_key(faq_id) {
                    return Err(CatalogRejection::UnknownFaq(faq_id.clone()));
                }
                Ok(self.learn(faq_id, std::slice::from_ref(text), *session_id))
            }
            CatalogCommand::ApproveCandidates { candidates, faq_id, new_entry, wordings } => {
                let open = self.unsettled(candidates)?;
                if open.is_empty() {
                    return Ok(Vec::new());
                }
                let mut events = match new_entry {
                    Some(entry) => {
                        self.decide(&CatalogCommand::Create { faq_id: faq_id.clone(), entry: entry.clone() })?
                    }
                    None if self.entries.contains_key(faq_id) => self.learn(faq_id, wordings, None),
                    None => return Err(CatalogRejection::UnknownFaq(faq_id.clone())),
                };
                events.extend(
                    open.into_iter()
                        .map(|candidate_id| FaqCandidateApproved { candidate_id, faq_id: faq_id.clone() }.into()),
                );
                Ok(events)
            }
            CatalogCommand::RejectCandidates { candidates } => Ok(self
                .unsettled(candidates)?
                .into_iter()
                .map(|candidate_id| FaqCandidateRejected { candidate_id }.into())
                .collect()),
        }
    }
}

/// What to tell someone whose import of `rows` rows made a commit of `bytes` bytes, more
/// than the log's `max`: how many rows a part may have to fit (with a tenth to spare).
pub fn split_advice(rows: usize, bytes: usize, max: usize) -> String {
    let per_part = (rows as u128 * max as u128 * 9 / (bytes.max(1) as u128 * 10)).max(1);
    format!(
        "the {rows} rows make a change of {bytes} bytes, more than the event log takes at once ({max} bytes); \
         nothing was imported: split the file into parts of at most {per_part} rows and import them one by one"
    )
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
        run(&mut c, CatalogCommand::Remove { faq_id: id.clone(), expected_revision: None });
        assert_eq!(
            c.decide(&CatalogCommand::Remove { faq_id: id.clone(), expected_revision: None }),
            Err(CatalogRejection::UnknownFaq(id))
        );
    }

    #[test]
    fn edits_carry_the_revision_they_saw_and_stale_ones_are_refused() {
        let mut c = Catalog::default();
        let id = FaqId::new("f1").unwrap();
        run(&mut c, CatalogCommand::Create { faq_id: id.clone(), entry: entry("q") });
        assert_eq!(
            c.decide(&CatalogCommand::Create { faq_id: id.clone(), entry: entry("q") }),
            Err(CatalogRejection::FaqExists(id.clone()))
        );
        let seen = c.revision(&id);
        assert_eq!(seen, 1);
        // Someone else edits first, then the learning loop adds a wording.
        run(&mut c, CatalogCommand::Edit { faq_id: id.clone(), entry: entry("q2"), expected_revision: Some(seen) });
        run(&mut c, CatalogCommand::AddParaphrase { faq_id: id.clone(), text: "learned".into(), session_id: None });
        assert_eq!(c.revision(&id), 3, "a learned wording is a change of the entry too");
        let stale = CatalogCommand::Edit { faq_id: id.clone(), entry: entry("q3"), expected_revision: Some(seen) };
        assert_eq!(
            c.decide(&stale),
            Err(CatalogRejection::StaleRevision { faq_id: id.clone(), expected: 1, actual: 3 })
        );
        let stale_remove = CatalogCommand::Remove { faq_id: id.clone(), expected_revision: Some(seen) };
        assert!(matches!(c.decide(&stale_remove), Err(CatalogRejection::StaleRevision { .. })));
        let missing = FaqId::new("nope").unwrap();
        let edit_missing = CatalogCommand::Edit { faq_id: missing.clone(), entry: entry("q"), expected_revision: None };
        assert_eq!(c.decide(&edit_missing), Err(CatalogRejection::UnknownFaq(missing)));
    }

    #[test]
    fn candidates_are_approved_into_a_new_or_an_existing_entry_once() {
        let mut c = Catalog::default();
        let (a, b, d) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let new = FaqId::new("refund").unwrap();
        let approve_new = CatalogCommand::ApproveCandidates {
            candidates: vec![a, b, a],
            faq_id: new.clone(),
            new_entry: Some(entry("退款多久到账")),
            wordings: vec![],
        };
        let events = run(&mut c, approve_new.clone());
        let types: Vec<_> = events.iter().map(FaqEvent::event_type).collect();
        assert_eq!(types, ["FaqAdded", "FaqCandidateApproved", "FaqCandidateApproved"], "each candidate once");
        assert!(c.decide(&approve_new).unwrap().is_empty(), "approving again changes nothing");
        let merge = CatalogCommand::ApproveCandidates {
            candidates: vec![d],
            faq_id: new.clone(),
            new_entry: None,
            wordings: vec!["退款什么时候到".into(), "退款多久到账".into()],
        };
        let events = run(&mut c, merge);
        let types: Vec<_> = events.iter().map(FaqEvent::event_type).collect();
        assert_eq!(types, ["FaqParaphraseAdded", "FaqCandidateApproved"], "only the new wording is learned");
        assert_eq!(c.entries[&new].paraphrases, ["退款什么时候到"]);
        let reject = CatalogCommand::RejectCandidates { candidates: vec![a, Uuid::from_u128(4)] };
        let events = run(&mut c, reject);
        assert_eq!(events.len(), 1, "a settled candidate is skipped");
        assert_eq!(
            c.decide(&CatalogCommand::RejectCandidates { candidates: vec![] }),
            Err(CatalogRejection::NoCandidates)
        );
        let many = (0..=bounds::MAX_NAMED_CANDIDATES as u128).map(Uuid::from_u128).collect();
        assert_eq!(
            c.decide(&CatalogCommand::RejectCandidates { candidates: many }),
            Err(CatalogRejection::TooManyCandidates {
                max: bounds::MAX_NAMED_CANDIDATES,
                got: bounds::MAX_NAMED_CANDIDATES + 1
            })
        );
        let into_missing = CatalogCommand::ApproveCandidates {
            candidates: vec![Uuid::from_u128(9)],
            faq_id: FaqId::new("missing").unwrap(),
            new_entry: None,
            wordings: vec![],
        };
        assert!(matches!(c.decide(&into_missing), Err(CatalogRejection::UnknownFaq(_))));
    }

    #[test]
    fn an_import_writes_only_what_changed_and_stops_at_a_bad_row() {
        let mut c = Catalog::default();
        let (a, b) = (FaqId::new("a").unwrap(), FaqId::new("b").unwrap());
        run(&mut c, CatalogCommand::Create { faq_id: a.clone(), entry: entry("q") });
        let import = CatalogCommand::Import {
            rows: vec![(a.clone(), entry("q")), (b.clone(), entry("q")), (b.clone(), entry("q2"))],
        };
        let types: Vec<_> = run(&mut c, import.clone()).iter().map(FaqEvent::event_type).collect();
        assert_eq!(types, ["FaqAdded", "FaqUpdated"], "the unchanged row writes nothing; a repeated id its last form");
        let again = c.decide(&import).unwrap();
        assert_eq!(again.len(), 2, "b goes back to q, then to q2");
        assert!(again.iter().all(|e| e.event_type() == "FaqUpdated"));
        let bad = CatalogCommand::Import { rows: vec![(a.clone(), entry("new")), (b, entry(" "))] };
        assert!(matches!(c.decide(&bad), Err(CatalogRejection::EmptyField(_))), "nothing of a bad import is decided");
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
