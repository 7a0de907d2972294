//! Training pairs for fine-tuning a matching model offline: what operators asked, which FAQ
//! it was, and which close-but-wrong FAQs the ranking offered (hard negatives), all derived
//! from the log.
//!
//! - A confirmed resolution: (question, resolving FAQ, 1), and every other ranked
//!   candidate of that match as (question, candidate, 0).
//! - A "not resolved": (question, answered FAQ, 0).
//! - A learned paraphrase is the same confirmed resolution, so it adds nothing new.

use std::collections::HashMap;

use serde::Serialize;
use switchboard_schemas::{ConversationEvent, DecodeError, Event, RecordedEvent, StreamId};
use uuid::Uuid;

/// One labelled pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingPair {
    /// The operator's wording.
    pub query: String,
    /// The FAQ.
    pub faq_id: String,
    /// The FAQ's question as it read then.
    pub faq_question: String,
    /// 1: the FAQ answers the question; 0: it does not.
    pub label: u8,
    /// Why: `resolved`, `hard_negative` or `not_resolved`.
    pub source: &'static str,
    /// The session it came from.
    pub session_id: Uuid,
}

/// Derives the pairs from a team's events (in log order; other events are skipped).
pub fn training_pairs(events: &[RecordedEvent]) -> Result<Vec<TrainingPair>, DecodeError> {
    let mut last_match: HashMap<(StreamId, Uuid), switchboard_schemas::event::FaqMatched> = HashMap::new();
    let mut pairs = Vec::new();
    for recorded in events {
        let Event::Conversation(event) = recorded.decode()? else { continue };
        match event {
            ConversationEvent::FaqMatched(m) => {
                last_match.insert((recorded.stream.clone(), m.session_id), m);
            }
            ConversationEvent::FeedbackGiven(f) => {
                let Some(m) = last_match.get(&(recorded.stream.clone(), f.session_id)) else { continue };
                let question_of = |id: &str| {
                    m.candidates
                        .iter()
                        .find(|c| c.faq_id.as_str() == id)
                        .map(|c| c.question.clone())
                        .unwrap_or_default()
                };
                let pair = |faq_id: &str, label: u8, source: &'static str| TrainingPair {
                    query: m.query.clone(),
                    faq_id: faq_id.to_owned(),
                    faq_question: question_of(faq_id),
                    label,
                    source,
                    session_id: f.session_id,
                };
                if f.resolved {
                    pairs.push(pair(f.faq_id.as_str(), 1, "resolved"));
                    for c in m.candidates.iter().filter(|c| c.faq_id != f.faq_id) {
                        pairs.push(pair(c.faq_id.as_str(), 0, "hard_negative"));
                    }
                } else {
                    pairs.push(pair(f.faq_id.as_str(), 0, "not_resolved"));
                }
            }
            _ => {}
        }
    }
    Ok(pairs)
}
