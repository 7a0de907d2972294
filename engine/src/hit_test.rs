//! Hit testing: what Switchboard would do with a question, shown to a team lead before an
//! operator ever asks it. The question goes through the same matcher and the same compiled
//! policy as a conversation's first message; nothing is written to the log.

use std::sync::Arc;

use switchboard_schemas::event::{AnswerPolicy, MatchDecision};
use switchboard_schemas::TeamId;

use crate::ports::{MatchError, Matcher, Ranking};
use crate::runtime::{CommandError, Runtime};

/// What the team's policy would do with a question.
#[derive(Debug, Clone, PartialEq)]
pub struct HitTest {
    /// The question as matched (trimmed).
    pub question: String,
    /// The operator asks for a person in so many words: the session is handed over before
    /// any matching.
    pub asks_for_person: bool,
    /// Required fields the question does not contain: the session would ask for these
    /// first, then match.
    pub missing_fields: Vec<String>,
    /// The ranked candidates and the calibrated confidence.
    pub ranking: Ranking,
    /// The thresholds applied.
    pub policy: AnswerPolicy,
    /// What the thresholds decide for the ranking.
    pub decision: MatchDecision,
}

/// Why a question could not be tried.
#[derive(Debug, thiserror::Error)]
pub enum HitTestError {
    /// Nothing to match.
    #[error("the question is empty; type what an operator would ask")]
    Empty,
    /// Longer than the team accepts from an operator.
    #[error("the question has {got} characters; the team accepts at most {max} (settings: max_message_chars)")]
    TooLong {
        /// Its length in characters.
        got: usize,
        /// The team's limit.
        max: u32,
    },
    /// The team is unknown or its settings cannot be used.
    #[error(transparent)]
    Team(#[from] CommandError),
    /// The matcher failed (its index is still being built, say).
    #[error(transparent)]
    Match(#[from] MatchError),
}

/// Tries questions against a team's FAQ and policy.
pub struct HitTester {
    runtime: Arc<Runtime>,
    matcher: Arc<dyn Matcher>,
    limit: usize,
}

impl HitTester {
    /// A tester ranking up to `limit` candidates (the core's own match limit, so the
    /// decision is the one a conversation would get).
    pub fn new(runtime: Arc<Runtime>, matcher: Arc<dyn Matcher>, limit: usize) -> Self {
        Self { runtime, matcher, limit }
    }

    /// What the team's policy would do with `question` now.
    pub async fn try_question(&self, team: &TeamId, question: &str) -> Result<HitTest, HitTestError> {
        let policy = self.runtime.policy(team).await?;
        let question = question.trim();
        if question.is_empty() {
            return Err(HitTestError::Empty);
        }
        let max = policy.settings().max_message_chars;
        let got = question.chars().count();
        if got > max as usize {
            return Err(HitTestError::TooLong { got, max });
        }
        let ranking = self.matcher.rank(team, question, self.limit).await?;
        let decision = policy.decide_match(&ranking);
        let missing_fields = policy
            .required_fields()
            .filter(|field| policy.extract(&field.key, question).is_none())
            .map(|field| field.key.clone())
            .collect();
        Ok(HitTest {
            question: question.to_owned(),
            asks_for_person: policy.is_human_request(question),
            missing_fields,
            ranking,
            policy: policy.settings().answer_policy.clone(),
            decision,
        })
    }
}
