//! The session list read model: one row per session, folded from conversation events.
//!
//! The fold is pure (a row plus an event gives a row); the runtime decides where rows come
//! from and when they are written.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_schemas::event::{CloseReason, MatchDecision, OutboundPurpose, SessionStatus, TimerPurpose};
use switchboard_schemas::oncall::TargetKind;
use switchboard_schemas::ConversationEvent;
use uuid::Uuid;

/// One session as the session list and the statistics see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRow {
    /// The team the session belongs to; every query is scoped by it.
    pub team: String,
    /// The session.
    pub session_id: Uuid,
    /// The operator.
    pub user: String,
    /// The status people see.
    pub status: SessionStatus,
    /// The status underneath a pending re-confirmation, kept so the fold can restore it.
    pub phase: SessionStatus,
    /// Asked "do you still need help?" and not answered yet.
    pub reconfirming: bool,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it closed last (none while open).
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it closed.
    pub close_reason: Option<CloseReason>,
    /// Who has it.
    pub assignee: Option<String>,
    /// Its routing category.
    pub category: Option<String>,
    /// True when the category was collected from the operator (then a match does not
    /// override it), as the engine does.
    pub category_collected: bool,
    /// The operator's first message in the session.
    pub question: Option<String>,
    /// Messages from the operator.
    pub messages_in: i64,
    /// Messages queued to anyone.
    pub messages_out: i64,
    /// When the operator first got an answer (from the FAQ or a person).
    pub first_answer_at: Option<DateTime<Utc>>,
    /// Handed to a person at least once.
    pub transferred: bool,
    /// Answered from the FAQ at least once.
    pub auto_answered: bool,
    /// Asked "do you still need help?" at least once.
    pub reconfirmed: bool,
    /// The last FAQ answered from.
    pub last_faq: Option<String>,
    /// The FAQs last offered as numbered choices with their categories, so the chosen one
    /// can set the session's category.
    pub offered: Vec<(String, Option<String>)>,
    /// The last question sent to matching.
    pub last_query: Option<String>,
    /// The question Switchboard could not answer well in this session, if any: the raw
    /// material of FAQ candidates.
    pub candidate: Option<CandidateQuestion>,
    /// When it was first handed to a person.
    pub handed_over_at: Option<DateTime<Utc>>,
    /// When a person first acknowledged (or replied to) a hand-over.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When a person first replied to the operator.
    pub first_human_reply_at: Option<DateTime<Utc>>,
    /// The response targets it missed, with who had the session then: each target once per
    /// person (a session handed on and missed again counts for each), in order.
    pub missed_targets: Vec<MissedTarget>,
    /// The response targets still running: their timer, target and due time.
    pub targets_due: Vec<TargetDue>,
    /// Every hand-over and escalation notice, in order, each with its own clock: the
    /// statistics count a hand-over for each person it was handed to, and each person's
    /// times to acknowledge and to reply from when they were asked.
    pub handovers: Vec<Handover>,
}

/// The most hand-overs and notices one session keeps: a later notice is not counted, and a
/// later hand-over only in the place of a notice that ended with nothing to count.
pub const MAX_HANDOVERS: usize = 32;

/// One person's part in a session's hand-overs: handed to them, or notified by an
/// escalation step, with their own clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    /// Who.
    pub to: String,
    /// When it was handed to them or they were notified (their clock starts then).
    pub at: DateTime<Utc>,
    /// Handed to them; false: notified by an escalation step.
    pub assigned: bool,
    /// When they first acknowledged or replied.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When they first replied to the operator.
    pub first_reply_at: Option<DateTime<Utc>>,
    /// The session moved on (to someone else, or closed): what they do later is not counted.
    pub ended: bool,
}

/// A response target a session missed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MissedTarget {
    /// Which target.
    pub target: TargetKind,
    /// Who had the session when it fell due (the statistics count the miss for them, even
    /// when the session moved on to someone else later); none: nobody.
    pub assignee: Option<String>,
}

/// A response target still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetDue {
    /// The timer that records it missed.
    pub timer_id: Uuid,
    /// Which target.
    pub target: TargetKind,
    /// When it falls due.
    pub due_at: DateTime<Utc>,
}

/// The target a timer watches, if it watches one.
fn target_of(purpose: TimerPurpose) -> Option<TargetKind> {
    match purpose {
        TimerPurpose::AcknowledgeTarget => Some(TargetKind::Acknowledge),
        TimerPurpose::FirstReplyTarget => Some(TargetKind::FirstReply),
        TimerPurpose::ResolutionTarget => Some(TargetKind::Resolution),
        TimerPurpose::Reconfirm | TimerPurpose::AutoClose | TimerPurpose::Escalate => None,
    }
}

/// Why a session's question is an FAQ candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateReason {
    /// No FAQ matched confidently; the question went to a person.
    Unanswered,
    /// Handed to a person for another reason (asked for one, or by staff).
    Transferred,
    /// The operator said the answer did not resolve the question.
    NotResolved,
    /// The session was reopened after it closed.
    Reopened,
}

switchboard_schemas::spelled!(CandidateReason {
    Unanswered => "unanswered",
    Transferred => "transferred",
    NotResolved => "not_resolved",
    Reopened => "reopened",
});

/// A question Switchboard could not answer well, kept on its session row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CandidateQuestion {
    /// The operator's wording.
    pub query: String,
    /// Why it is a candidate.
    pub reason: CandidateReason,
    /// When it became one.
    pub at: DateTime<Utc>,
}

impl SessionRow {
    /// A session just opened.
    pub fn opened(team: &str, session_id: Uuid, user: &str, at: DateTime<Utc>) -> Self {
        Self {
            team: team.to_owned(),
            session_id,
            user: user.to_owned(),
            status: SessionStatus::Collecting,
            phase: SessionStatus::Collecting,
            reconfirming: false,
            opened_at: at,
            closed_at: None,
            close_reason: None,
            assignee: None,
            category: None,
            category_collected: false,
            question: None,
            messages_in: 0,
            messages_out: 0,
            first_answer_at: None,
            transferred: false,
            auto_answered: false,
            reconfirmed: false,
            last_faq: None,
            offered: Vec::new(),
            last_query: None,
            candidate: None,
            handed_over_at: None,
            acknowledged_at: None,
            first_human_reply_at: None,
            missed_targets: Vec::new(),
            targets_due: Vec::new(),
            handovers: Vec::new(),
        }
    }

    /// Starts `staff`'s clock unless it runs already (handed to them or notified, not ended).
    /// When the session keeps no more, a hand-over takes the place of the oldest notice.
    fn ask(&mut self, staff: String, at: DateTime<Utc>, assigned: bool) {
        if let Some(running) = self.handover_of(&staff) {
            running.assigned |= assigned;
            return;
        }
        // Only a notice that ended with nothing to count makes room: the statistics are
        // summed from the row, and a record removed would take back what it counted.
        if self.handovers.len() >= MAX_HANDOVERS && assigned {
            let spent = |h: &Handover| !h.assigned && h.ended && h.acknowledged_at.is_none();
            if let Some(notice) = self.handovers.iter().position(spent) {
                self.handovers.remove(notice);
            }
        }
        if self.handovers.len() < MAX_HANDOVERS {
            self.handovers.push(Handover {
                to: staff,
                at,
                assigned,
                acknowledged_at: None,
                first_reply_at: None,
                ended: false,
            });
        }
    }

    /// `staff`'s running hand-over, if they were asked and the session has not moved on: an
    /// answer by someone else stops no clock of theirs, and one after their turn is not theirs.
    fn handover_of(&mut self, staff: &str) -> Option<&mut Handover> {
        self.handovers.iter_mut().rev().find(|h| h.to == staff && !h.ended)
    }

    /// The targets it missed, each once (whoever missed them), in order.
    pub fn missed_target_kinds(&self) -> Vec<TargetKind> {
        let mut kinds: Vec<TargetKind> = self.missed_targets.iter().map(|m| m.target).collect();
        kinds.dedup();
        kinds
    }

    /// Marks the question in play as a candidate. A more specific earlier reason for the
    /// same wording (e.g. unanswered, then the transfer that follows it) is kept.
    fn mark_candidate(&mut self, reason: CandidateReason, at: DateTime<Utc>) {
        let Some(query) = self.last_query.clone().or_else(|| self.question.clone()) else {
            return;
        };
        if self.candidate.as_ref().is_some_and(|c| c.query == query) {
            return;
        }
        self.candidate = Some(CandidateQuestion { query, reason, at });
    }

    /// Folds one event of this session (anything but `SessionOpened`) into the row,
    /// following the engine's status rules.
    pub fn apply(&mut self, event: &ConversationEvent, at: DateTime<Utc>) {
        use ConversationEvent as E;
        match event {
            E::MessageReceived(e) => {
                self.messages_in += 1;
                self.reconfirming = false;
                if self.question.is_none() {
                    self.question = Some(e.text.clone());
                }
            }
            E::InfoRequested(_) => self.phase = SessionStatus::Collecting,
            E::InfoProvided(e) if e.field == "category" => {
                self.category = Some(e.value.clone());
                self.category_collected = true;
            }
            E::MatchRequested(e) => {
                self.phase = SessionStatus::Matching;
                self.last_query = Some(e.query.clone());
            }
            E::FaqMatched(e) => {
                self.last_query = Some(e.query.clone());
                if !self.category_collected {
                    self.category = e.candidates.first().and_then(|c| c.category.clone());
                }
                match &e.decision {
                    MatchDecision::Answer { .. } => self.phase = SessionStatus::Answered,
                    MatchDecision::Clarify { choices } => {
                        self.phase = SessionStatus::AwaitingChoice;
                        self.offered = e
                            .candidates
                            .iter()
                            .filter(|c| choices.contains(&c.faq_id))
                            .map(|c| (c.faq_id.as_str().to_owned(), c.category.clone()))
                            .collect();
                    }
                    MatchDecision::Transfer => self.mark_candidate(CandidateReason::Unanswered, at),
                }
            }
            E::ChoiceSelected(e) => {
                self.phase = SessionStatus::Answered;
                let chosen = self.offered.iter().find(|(faq, _)| faq == e.faq_id.as_str());
                if let (false, Some((_, category))) = (self.category_collected, chosen) {
                    self.category = category.clone();
                }
            }
            E::FeedbackGiven(e) if !e.resolved => self.mark_candidate(CandidateReason::NotResolved, at),
            E::AnswerQueued(e) => {
                self.messages_out += 1;
                match &e.purpose {
                    OutboundPurpose::Answer { faq_id } => {
                        self.auto_answered = true;
                        self.last_faq = Some(faq_id.as_str().to_owned());
                        self.first_answer_at.get_or_insert(at);
                    }
                    OutboundPurpose::HumanReply => {
                        self.first_answer_at.get_or_insert(at);
                    }
                    _ => {}
                }
            }
            E::TransferredToHuman(e) => {
                self.phase = SessionStatus::WithHuman;
                self.transferred = true;
                self.handed_over_at.get_or_insert(at);
                self.mark_candidate(CandidateReason::Transferred, at);
                let previous = self.assignee.take();
                self.assignee = e.assignee.as_ref().map(|a| a.as_str().to_owned());
                // Another person: everyone's turn is over and the new assignee's clock starts,
                // as the engine starts a new hand-over. The same person again goes on with
                // their hand-over; after a close (which ends it) it is a new one.
                if self.assignee != previous {
                    self.handovers.iter_mut().for_each(|h| h.ended = true);
                }
                if let Some(assignee) = self.assignee.clone() {
                    self.ask(assignee, at, true);
                }
                if let Some(category) = &e.category {
                    self.category = Some(category.clone());
                }
            }
            E::StatusChanged(e) => {
                if matches!(e.to, SessionStatus::WithHuman | SessionStatus::Waiting) {
                    self.phase = e.to;
                }
            }
            E::ReconfirmSent(_) => {
                self.reconfirming = true;
                self.reconfirmed = true;
            }
            E::EscalationStepTaken(e) => {
                for person in &e.notified {
                    self.ask(person.as_str().to_owned(), at, false);
                }
            }
            E::HandoverAcknowledged(e) => {
                self.acknowledged_at.get_or_insert(at);
                if let Some(own) = self.handover_of(e.by.as_str()) {
                    own.acknowledged_at.get_or_insert(at);
                }
            }
            E::HumanReplied(e) => {
                self.acknowledged_at.get_or_insert(at);
                self.first_human_reply_at.get_or_insert(at);
                if let Some(own) = self.handover_of(e.staff.as_str()) {
                    own.acknowledged_at.get_or_insert(at);
                    own.first_reply_at.get_or_insert(at);
                }
            }
            E::TimerScheduled(e) => {
                if let Some(target) = target_of(e.purpose) {
                    self.targets_due.retain(|t| t.target != target);
                    self.targets_due.push(TargetDue { timer_id: e.timer_id, target, due_at: e.due_at });
                    self.targets_due.sort_by_key(|t| t.due_at);
                }
            }
            E::TimerCancelled(e) => self.targets_due.retain(|t| t.timer_id != e.timer_id),
            E::TimerFired(e) => self.targets_due.retain(|t| t.timer_id != e.timer_id),
            E::ResponseTargetMissed(e) => {
                // The event names who had it (events recorded before it did: the assignee then).
                let assignee = e.assignee.as_ref().map(|a| a.as_str().to_owned()).or_else(|| self.assignee.clone());
                let missed = MissedTarget { target: e.target, assignee };
                if !self.missed_targets.contains(&missed) {
                    self.missed_targets.push(missed);
                    self.missed_targets.sort();
                }
            }
            E::SessionClosed(e) => {
                self.handovers.iter_mut().for_each(|h| h.ended = true);
                self.phase = SessionStatus::Closed;
                self.reconfirming = false;
                self.closed_at = Some(at);
                self.close_reason = Some(e.reason);
                self.targets_due.clear();
            }
            E::SessionReopened(_) => {
                self.mark_candidate(CandidateReason::Reopened, at);
                self.phase = SessionStatus::WithHuman;
                self.closed_at = None;
                self.close_reason = None;
            }
            _ => {}
        }
        self.status = if self.phase == SessionStatus::Closed {
            SessionStatus::Closed
        } else if self.reconfirming {
            SessionStatus::Reconfirming
        } else {
            self.phase
        };
    }
}

/// One row's share of the daily statistics rollup: `n` added to counter `metric`/`key` of
/// `team` on UTC `day`. Statistics sum these over days instead of scanning sessions, so a
/// query costs the number of days, not the number of sessions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Contribution {
    /// The team.
    pub team: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Which counter (see [`metric`]).
    pub metric: &'static str,
    /// The counter's key within the metric ("" when it has none).
    pub key: String,
    /// How much.
    pub n: i64,
}

/// The rollup's metric names.
pub mod metric {
    /// Sessions opened (by opening day).
    pub const OPENED: &str = "opened";
    /// Opened sessions transferred to a person.
    pub const TRANSFERRED: &str = "transferred";
    /// Opened sessions asked "do you still need help?".
    pub const RECONFIRMED: &str = "reconfirmed";
    /// Opened sessions by the last FAQ answered.
    pub const FAQ: &str = "faq";
    /// Opened sessions by category ("" for none).
    pub const CATEGORY: &str = "category";
    /// Transferred opened sessions by assignee ("" for nobody).
    pub const ASSIGNEE: &str = "assignee";
    /// Opened sessions by time to first answer, bucketed seconds (see [`super::duration_bucket`]).
    pub const FIRST_ANSWER: &str = "first_answer";
    /// Sessions closed (by closing day).
    pub const CLOSED: &str = "closed";
    /// Closed as resolved without a transfer.
    pub const RESOLVED_AUTOMATICALLY: &str = "resolved_auto";
    /// Closed as stale.
    pub const STALE: &str = "stale";
    /// Closed sessions by time to resolution, bucketed seconds.
    pub const RESOLUTION: &str = "resolution";
    /// Handed-over sessions by category ("" for none).
    pub const HANDED_OVER_CATEGORY: &str = "handed_category";
    /// Hand-over to acknowledgment, bucketed seconds; the `_BY` and `_CATEGORY` forms key
    /// it as `"<bucket> <assignee or category>"`.
    pub const ACKNOWLEDGE: &str = "acknowledge";
    /// Per person asked (handed it or notified by escalation): from then to their own
    /// acknowledgment or reply, while the session was theirs.
    pub const ACKNOWLEDGE_BY: &str = "acknowledge_by";
    /// [`ACKNOWLEDGE`] per category.
    pub const ACKNOWLEDGE_CATEGORY: &str = "acknowledge_category";
    /// Hand-over to the first reply of a person, bucketed seconds (keyed as [`ACKNOWLEDGE`]).
    pub const FIRST_REPLY: &str = "first_reply";
    /// Per person asked, as [`ACKNOWLEDGE_BY`]: to their own first reply.
    pub const FIRST_REPLY_BY: &str = "first_reply_by";
    /// [`FIRST_REPLY`] per category.
    pub const FIRST_REPLY_CATEGORY: &str = "first_reply_category";
    /// Response targets missed, keyed by target; the `_BY` and `_CATEGORY` forms as
    /// `"<target> <assignee or category>"`.
    pub const MISSED: &str = "missed";
    /// [`MISSED`] per assignee.
    pub const MISSED_BY: &str = "missed_by";
    /// [`MISSED`] per category.
    pub const MISSED_CATEGORY: &str = "missed_category";
}

/// Buckets a duration for the percentile histograms: exact below 1,000 seconds, three
/// significant digits above (under 1% error), so a day holds few distinct buckets.
pub fn duration_bucket(secs: i64) -> i64 {
    let mut scale = 1;
    while secs / scale >= 1_000 {
        scale *= 10;
    }
    secs / scale * scale
}

/// The UTC day of a moment as the rollup keys it.
pub fn day_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// Everything a row adds to the rollup.
pub fn contributions(row: &SessionRow) -> Vec<Contribution> {
    let opened_day = day_of(row.opened_at);
    let mut out = Vec::new();
    let mut add = |day: &str, metric: &'static str, key: &str| {
        out.push(Contribution { team: row.team.clone(), day: day.to_owned(), metric, key: key.to_owned(), n: 1 });
    };
    add(&opened_day, metric::OPENED, "");
    let category = row.category.as_deref().unwrap_or("");
    if row.transferred {
        add(&opened_day, metric::TRANSFERRED, "");
        // A hand-over for each person it was handed to, once (nobody: the empty key).
        let mut handed: Vec<&str> = Vec::new();
        for handover in row.handovers.iter().filter(|h| h.assigned) {
            if !handed.contains(&handover.to.as_str()) {
                handed.push(&handover.to);
            }
        }
        if handed.is_empty() {
            add(&opened_day, metric::ASSIGNEE, "");
        }
        for person in handed {
            add(&opened_day, metric::ASSIGNEE, person);
        }
        add(&opened_day, metric::HANDED_OVER_CATEGORY, category);
    }
    let since = |from: DateTime<Utc>, to: DateTime<Utc>| duration_bucket((to - from).num_seconds().max(0));
    // The session's clocks run from its first hand-over to anyone's answer,
    if let Some(handed) = row.handed_over_at {
        for (at, all, of_category) in [
            (row.acknowledged_at, metric::ACKNOWLEDGE, metric::ACKNOWLEDGE_CATEGORY),
            (row.first_human_reply_at, metric::FIRST_REPLY, metric::FIRST_REPLY_CATEGORY),
        ] {
            if let Some(at) = at {
                let bucket = since(handed, at);
                add(&opened_day, all, &bucket.to_string());
                add(&opened_day, of_category, &format!("{bucket} {category}"));
            }
        }
    }
    // a person's from when they were asked (handed it or notified) to their own answer.
    for handover in &row.handovers {
        for (at, by) in
            [(handover.acknowledged_at, metric::ACKNOWLEDGE_BY), (handover.first_reply_at, metric::FIRST_REPLY_BY)]
        {
            if let Some(at) = at {
                add(&opened_day, by, &format!("{} {}", since(handover.at, at), handover.to));
            }
        }
    }
    for target in row.missed_target_kinds() {
        add(&opened_day, metric::MISSED, target.as_str());
        add(&opened_day, metric::MISSED_CATEGORY, &format!("{target} {category}"));
    }
    for MissedTarget { target, assignee } in &row.missed_targets {
        let assignee = assignee.as_deref().unwrap_or("");
        add(&opened_day, metric::MISSED_BY, &format!("{target} {assignee}"));
    }
    if row.reconfirmed {
        add(&opened_day, metric::RECONFIRMED, "");
    }
    if let Some(faq) = &row.last_faq {
        add(&opened_day, metric::FAQ, faq);
    }
    add(&opened_day, metric::CATEGORY, row.category.as_deref().unwrap_or(""));
    if let Some(answered) = row.first_answer_at {
        let secs = (answered - row.opened_at).num_seconds();
        add(&opened_day, metric::FIRST_ANSWER, &duration_bucket(secs).to_string());
    }
    if let Some(closed) = row.closed_at {
        let closed_day = day_of(closed);
        add(&closed_day, metric::CLOSED, "");
        if row.close_reason == Some(CloseReason::Resolved) && !row.transferred {
            add(&closed_day, metric::RESOLVED_AUTOMATICALLY, "");
        }
        if row.close_reason == Some(CloseReason::Stale) {
            add(&closed_day, metric::STALE, "");
        }
        let secs = (closed - row.opened_at).num_seconds();
        add(&closed_day, metric::RESOLUTION, &duration_bucket(secs).to_string());
    }
    out
}

/// A row written in a batch, with what the store held before (none for a new session), so
/// the rollup can be moved by the difference.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// The row as stored before this batch.
    pub before: Option<SessionRow>,
    /// The row after it.
    pub after: SessionRow,
}

/// The net rollup change of a batch: contributions of the new rows minus those of the old,
/// zero entries dropped, in a stable order.
pub fn rollup_delta(changes: &[RowChange]) -> Vec<Contribution> {
    let mut net: std::collections::BTreeMap<(String, String, &'static str, String), i64> =
        std::collections::BTreeMap::new();
    for change in changes {
        for (rows, sign) in [(change.before.as_ref(), -1), (Some(&change.after), 1)] {
            for c in rows.map(contributions).unwrap_or_default() {
                *net.entry((c.team, c.day, c.metric, c.key)).or_default() += sign * c.n;
            }
        }
    }
    net.into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|((team, day, metric, key), n)| Contribution { team, day, metric, key, n })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use switchboard_schemas::event::{Actor, TransferMode, TransferReason, TransferredToHuman};
    use switchboard_schemas::StaffId;

    /// Session `session_id` handed to `who` by staff.
    fn handed_to(session_id: Uuid, who: &str) -> ConversationEvent {
        ConversationEvent::from(TransferredToHuman {
            session_id,
            mode: TransferMode::Manual,
            reason: TransferReason::Staff,
            category: None,
            assignee: Some(StaffId::new(who).unwrap()),
            by: Actor::System,
        })
    }

    #[test]
    fn buckets_are_exact_below_a_thousand_seconds_and_three_digits_above() {
        assert_eq!(duration_bucket(0), 0);
        assert_eq!(duration_bucket(999), 999);
        assert_eq!(duration_bucket(3600), 3600);
        assert_eq!(duration_bucket(3725), 3720);
        assert_eq!(duration_bucket(123_456), 123_000);
    }

    #[test]
    fn a_changed_row_moves_the_rollup_by_the_difference() {
        let at = DateTime::from_timestamp(1_772_000_000, 0).unwrap();
        let before = SessionRow::opened("ops", Uuid::nil(), "u", at);
        let mut after = before.clone();
        after.transferred = true;
        after.assignee = Some("zhao".into());
        after.handovers = vec![Handover {
            to: "zhao".into(),
            at,
            assigned: true,
            acknowledged_at: None,
            first_reply_at: None,
            ended: false,
        }];
        let delta = rollup_delta(&[RowChange { before: Some(before.clone()), after: after.clone() }]);
        let names: Vec<_> = delta.iter().map(|c| (c.metric, c.key.as_str(), c.n)).collect();
        assert_eq!(names, vec![("assignee", "zhao", 1), ("handed_category", "", 1), ("transferred", "", 1)]);
        assert!(rollup_delta(&[RowChange { before: Some(after.clone()), after }]).is_empty());
        let new = rollup_delta(&[RowChange { before: None, after: before }]);
        assert_eq!(new.len(), 2, "opened and category");
    }

    #[test]
    fn a_missed_target_counts_for_whoever_had_the_session_when_it_fell_due() {
        use switchboard_schemas::event::ResponseTargetMissed;
        let at = DateTime::from_timestamp(1_772_000_000, 0).unwrap();
        let session_id = Uuid::nil();
        let handed_to = |who: &str| handed_to(session_id, who);
        let missed = |target, who: Option<&str>| {
            ConversationEvent::from(ResponseTargetMissed {
                session_id,
                target,
                due_at: at,
                assignee: who.map(|w| StaffId::new(w).unwrap()),
            })
        };
        // Given a session handed to zhao, who missed the acknowledgment target,
        let mut row = SessionRow::opened("ops", session_id, "u", at);
        row.apply(&handed_to("zhao"), at);
        row.apply(&missed(TargetKind::Acknowledge, Some("zhao")), at);
        // then handed to qian, who missed the acknowledgment again and the first reply (in an
        // event recorded before events named the assignee), the latter delivered twice,
        row.apply(&handed_to("qian"), at);
        row.apply(&missed(TargetKind::Acknowledge, Some("qian")), at);
        row.apply(&missed(TargetKind::FirstReply, None), at);
        row.apply(&missed(TargetKind::FirstReply, None), at);
        // the statistics count each miss once for the person who had the session then, and
        // each target once for the session.
        let keys = |metric: &str| -> Vec<String> {
            contributions(&row).into_iter().filter(|c| c.metric == metric).map(|c| c.key).collect()
        };
        assert_eq!(keys(metric::MISSED_BY), ["acknowledge qian", "acknowledge zhao", "first_reply qian"]);
        // Each of them is counted a hand-over, so a person's met rate is over their own.
        assert_eq!(keys(metric::ASSIGNEE), ["zhao", "qian"]);
        assert_eq!(keys(metric::MISSED), ["acknowledge", "first_reply"]);
        assert_eq!(row.missed_target_kinds(), [TargetKind::Acknowledge, TargetKind::FirstReply]);
    }

    #[test]
    fn each_person_s_times_run_from_when_they_were_asked_to_their_own_answer_while_it_was_theirs() {
        use switchboard_schemas::event::{
            CloseReason, EscalationStepTaken, HandoverAcknowledged, HumanReplied, SessionClosed,
        };
        let opened = DateTime::from_timestamp(1_772_000_000, 0).unwrap();
        let minutes = |m: i64| opened + chrono::Duration::minutes(m);
        let session_id = Uuid::nil();
        let staff = |who: &str| StaffId::new(who).unwrap();
        let handed_to = |who: &str| handed_to(session_id, who);
        let acknowledged = |who: &str| ConversationEvent::from(HandoverAcknowledged { session_id, by: staff(who) });
        let replied =
            |who: &str| ConversationEvent::from(HumanReplied { session_id, staff: staff(who), text: "ok".into() });
        let keys = |row: &SessionRow, metric: &str| -> Vec<String> {
            contributions(row).into_iter().filter(|c| c.metric == metric).map(|c| c.key).collect()
        };
        // Given a session handed to zhao, who stays silent; an escalation step notifies sun
        // and the lead after five minutes, and sun acknowledges a minute later;
        let mut row = SessionRow::opened("ops", session_id, "u", opened);
        row.apply(&handed_to("zhao"), minutes(0));
        let step = EscalationStepTaken { session_id, step: 0, notified: vec![staff("sun"), staff("lead")] };
        row.apply(&step.into(), minutes(5));
        row.apply(&acknowledged("sun"), minutes(6));
        // after ten minutes it goes to qian, who acknowledges a minute later and replies after
        // two; zhao replies at last after twenty, and someone never asked acknowledges too;
        row.apply(&handed_to("qian"), minutes(10));
        row.apply(&acknowledged("qian"), minutes(11));
        row.apply(&acknowledged("wu"), minutes(11));
        row.apply(&replied("qian"), minutes(12));
        row.apply(&replied("zhao"), minutes(20));
        // then each person's times run from when they were asked to their own answer while
        // the session was theirs: zhao's late reply and wu's word count for nobody,
        assert_eq!(keys(&row, metric::ACKNOWLEDGE_BY), ["60 sun", "60 qian"]);
        assert_eq!(keys(&row, metric::FIRST_REPLY_BY), ["120 qian"]);
        // the session's from its first hand-over to anyone's answer,
        assert_eq!(keys(&row, metric::ACKNOWLEDGE), ["360"]);
        assert_eq!(keys(&row, metric::FIRST_REPLY), ["720"]);
        // and only those it was handed to count a hand-over.
        assert_eq!(keys(&row, metric::ASSIGNEE), ["zhao", "qian"]);
        // Asked for a person again while qian has it, it stays her hand-over: nothing new.
        row.apply(&handed_to("qian"), minutes(25));
        row.apply(&replied("qian"), minutes(26));
        assert_eq!(keys(&row, metric::ACKNOWLEDGE_BY), ["60 sun", "60 qian"]);
        assert_eq!(keys(&row, metric::FIRST_REPLY_BY), ["120 qian"]);
        // Handed back to zhao after it closed and reopened, his clock starts again, once.
        let closed = SessionClosed { session_id, reason: CloseReason::Manual, by: Actor::System };
        row.apply(&closed.into(), minutes(30));
        row.apply(&handed_to("zhao"), minutes(100));
        row.apply(&handed_to("zhao"), minutes(101));
        row.apply(&acknowledged("zhao"), minutes(103));
        assert_eq!(keys(&row, metric::ACKNOWLEDGE_BY), ["60 sun", "60 qian", "180 zhao"]);
        assert_eq!(keys(&row, metric::ASSIGNEE), ["zhao", "qian"]);
    }

    #[test]
    fn a_full_session_makes_room_for_a_hand_over_only_from_a_notice_with_nothing_to_count() {
        use switchboard_schemas::event::{EscalationStepTaken, HandoverAcknowledged};
        let at = DateTime::from_timestamp(1_772_000_000, 0).unwrap();
        let session_id = Uuid::nil();
        let staff = |n: usize| StaffId::new(format!("p{n}")).unwrap();
        // Given a session handed to zhao whose escalation notified 31 people, one of whom
        // acknowledged,
        let mut row = SessionRow::opened("ops", session_id, "u", at);
        row.apply(&handed_to(session_id, "zhao"), at);
        let notified: Vec<StaffId> = (1..MAX_HANDOVERS).map(staff).collect();
        row.apply(&EscalationStepTaken { session_id, step: 0, notified }.into(), at);
        row.apply(&HandoverAcknowledged { session_id, by: staff(1) }.into(), at);
        assert_eq!(row.handovers.len(), MAX_HANDOVERS);
        // when it is handed to qian, a notice that ended with nothing to count makes room,
        row.apply(&handed_to(session_id, "qian"), at);
        let kept: Vec<&str> = row.handovers.iter().map(|h| h.to.as_str()).collect();
        assert_eq!(kept.len(), MAX_HANDOVERS);
        assert!(kept.contains(&"qian") && kept.contains(&"p1") && !kept.contains(&"p2"), "{kept:?}");
        // and the acknowledgment already counted stays counted.
        let acknowledged: Vec<String> =
            contributions(&row).into_iter().filter(|c| c.metric == metric::ACKNOWLEDGE_BY).map(|c| c.key).collect();
        assert_eq!(acknowledged, ["0 p1"]);
    }
}
