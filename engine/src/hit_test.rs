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
    /// The question as given.
    pub question: String,
    /// What happens first.
    pub outcome: HitOutcome,
    /// The ranked candidates and the calibrated confidence (what the question would be
    /// matched against, also when something else happens first).
    pub ranking: Ranking,
    /// The thresholds applied.
    pub policy: AnswerPolicy,
}

/// What a conversation's first message would lead to.
#[derive(Debug, Clone, PartialEq)]
pub enum HitOutcome {
    /// The operator asks for a person in so many words: handed over before any matching.
    AskedForPerson,
    /// Required fields the question lacks, in the team's order: the session asks for the
    /// first of them before it matches.
    AsksForFields(Vec<String>),
    /// What the thresholds decide for the ranking.
    Decided(MatchDecision),
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

    /// What the team's policy would do with `question` now, were it a conversation's first
    /// message: the same checks (empty, `max_message_chars`) on the same untrimmed text, the
    /// same order (a person asked for, then required fields, then the match).
    pub async fn try_question(&self, team: &TeamId, question: &str) -> Result<HitTest, HitTestError> {
        let policy = self.runtime.policy(team).await?;
        if question.trim().is_empty() {
            return Err(HitTestError::Empty);
        }
        let max = policy.settings().max_message_chars;
        let got = question.chars().count();
        if got > max as usize {
            return Err(HitTestError::TooLong { got, max });
        }
        let ranking = self.matcher.rank(team, question, self.limit).await?;
        let missing: Vec<String> = policy
            .required_fields()
            .filter(|field| policy.extract(&field.key, question).is_none())
            .map(|field| field.key.clone())
            .collect();
        let outcome = if policy.is_human_request(question) {
            HitOutcome::AskedForPerson
        } else if !missing.is_empty() {
            HitOutcome::AsksForFields(missing)
        } else {
            HitOutcome::Decided(policy.decide_match(&ranking))
        };
        Ok(HitTest { question: question.to_owned(), outcome, ranking, policy: policy.settings().answer_policy.clone() })
    }
}
