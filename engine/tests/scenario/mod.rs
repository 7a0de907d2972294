//! Given/when/then for the conversation aggregate.

#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use switchboard_engine::conversation::{decide, Command, Context, Conversation, Rejection};
use switchboard_engine::policy::TeamPolicy;
use switchboard_engine::ports::Ranking;
use switchboard_schemas::event::*;
use switchboard_schemas::{ConversationEvent, FaqId, MessageId, StaffId, UserId};
use uuid::Uuid;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

pub fn user() -> UserId {
    UserId::new("zhangsan").unwrap()
}

pub fn staff(id: &str) -> StaffId {
    StaffId::new(id).unwrap()
}

pub fn faq(id: &str) -> FaqId {
    FaqId::new(id).unwrap()
}

/// A team that needs an activity id and routes prizes questions to wang (default: zhao).
pub fn policy_with_activity_id() -> TeamPolicy {
    let mut settings = TeamSettings::default();
    settings.required_fields.push(RequiredField {
        key: "activity_id".into(),
        prompt: "请提供活动ID / activity id?".into(),
        pattern: r"(\d{5,})".into(),
    });
    TeamPolicy::new(settings, roster()).unwrap()
}

/// A team with no required fields.
/// The default settings, the roster below, and `lead`, `li` and `qian` holding keys.
pub fn plain_policy() -> TeamPolicy {
    TeamPolicy::new(TeamSettings::default(), roster()).unwrap().with_key_holders(["lead", "li", "qian"].map(staff))
}

fn roster() -> Roster {
    let mut roster = Roster::default();
    roster.categories.insert("prizes".into(), vec![staff("wang")]);
    roster.default = vec![staff("zhao")];
    roster
}

pub fn candidate(id: &str, category: Option<&str>) -> MatchCandidate {
    MatchCandidate {
        faq_id: faq(id),
        question: format!("question {id}"),
        answer: format!("answer {id}"),
        category: category.map(String::from),
        score: 0.5,
        keyword_score: Some(3.0),
        semantic_score: None,
    }
}

pub fn ranking(confidence: f32, ids: &[&str]) -> Ranking {
    Ranking {
        candidates: ids.iter().map(|id| candidate(id, Some("prizes"))).collect(),
        confidence,
        engine: "test".into(),
    }
}

pub fn message(id: &str, text: &str) -> Command {
    Command::ReceiveMessage { user: user(), message_id: MessageId(id.into()), text: text.into(), channel: Channel::Api }
}

/// Drives the aggregate through commands, keeping every event, so tests read as
/// given (history) / when (command) / then (events or rejection).
pub struct Scenario {
    policy: TeamPolicy,
    pub history: Vec<ConversationEvent>,
    pub now: DateTime<Utc>,
    next_id: u128,
}

impl Scenario {
    pub fn new(policy: TeamPolicy) -> Self {
        Self { policy, history: Vec::new(), now: t0(), next_id: 1 }
    }

    pub fn state(&self) -> Conversation {
        Conversation::replay(&self.history)
    }

    pub fn advance(&mut self, by: Duration) -> &mut Self {
        self.now += by;
        self
    }

    /// Runs a command; on success its events join the history.
    #[track_caller]
    pub fn run(&mut self, command: Command) -> Result<Vec<ConversationEvent>, Rejection> {
        let state = self.state();
        let mut counter = self.next_id;
        let mut ids = || {
            counter += 1;
            Uuid::from_u128(counter)
        };
        let mut ctx = Context { now: self.now, policy: &self.policy, ids: &mut ids };
        let result = decide(&state, &user(), &command, &mut ctx);
        self.next_id = counter;
        if let Ok(events) = &result {
            self.history.extend(events.iter().cloned());
        }
        result
    }

    /// Runs a command that must succeed.
    #[track_caller]
    pub fn given(&mut self, command: Command) -> &mut Self {
        if let Err(e) = self.run(command.clone()) {
            panic!("given {command:?} was rejected: {e}");
        }
        self
    }

    /// Runs a command that must succeed and returns its event type names.
    #[track_caller]
    pub fn when(&mut self, command: Command) -> Vec<&'static str> {
        match self.run(command.clone()) {
            Ok(events) => events.iter().map(|e| e.event_type()).collect(),
            Err(e) => panic!("when {command:?} was rejected: {e}"),
        }
    }

    /// Runs a command that must be rejected, and checks nothing was written.
    #[track_caller]
    pub fn rejects(&mut self, command: Command) -> Rejection {
        let before = self.history.len();
        let rejection = self.run(command.clone()).expect_err("the command should have been rejected");
        assert_eq!(self.history.len(), before, "a rejection writes nothing");
        rejection
    }

    pub fn last<T>(&self, pick: impl Fn(&ConversationEvent) -> Option<T>) -> T {
        self.history.iter().rev().find_map(pick).expect("no such event in the history")
    }

    pub fn status(&self) -> SessionStatus {
        self.state().session.expect("a session").status()
    }

    pub fn pending_timer(&self) -> Uuid {
        self.state().session.and_then(|s| s.pending_timer).expect("a pending timer").timer_id
    }

    pub fn outbound_texts(&self) -> Vec<String> {
        self.history
            .iter()
            .filter_map(|e| match e {
                ConversationEvent::AnswerQueued(q) => Some(q.text.clone()),
                _ => None,
            })
            .collect()
    }
}
