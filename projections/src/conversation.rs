//! The conversation view and timeline, folded from a conversation stream's events.

use chrono::{DateTime, Utc};
use serde::Serialize;
use switchboard_engine::conversation::Conversation;
use switchboard_schemas::attachment::{AttachmentKind, ContentHash, MediaType};
use switchboard_schemas::event::*;
use switchboard_schemas::{ConversationEvent, DecodeError, Event, RecordedEvent, StaffId};
use uuid::Uuid;

/// Who said something in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Speaker {
    /// The operator.
    Operator,
    /// Switchboard itself.
    Bot,
    /// An engineer.
    Staff(StaffId),
}

/// One message in a session, either way.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageView {
    /// Its global position in the log, so a caller can ask for what came after it.
    pub position: u64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Who said it.
    pub from: Speaker,
    /// Who it went to (for outbound messages).
    pub to: Option<Recipient>,
    /// The text.
    pub text: String,
    /// For outbound messages: whether the channel accepted it.
    pub delivered: Option<bool>,
    /// For outbound messages: the idempotency key.
    pub outbound_id: Option<Uuid>,
}

/// A remark by staff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemarkView {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub author: StaffId,
    /// What.
    pub text: String,
}

/// An attachment the operator sent, as staff see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachmentView {
    /// The attachment.
    pub attachment_id: Uuid,
    /// Its global position in the log.
    pub position: u64,
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// What the channel says it is.
    pub kind: AttachmentKind,
    /// The file name the sender gave.
    pub name: Option<String>,
    /// Whether its bytes are here.
    pub state: AttachmentState,
}

/// Where an attachment's bytes are.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AttachmentState {
    /// Being fetched from the channel.
    Fetching,
    /// In the blob store.
    Stored {
        /// The blob's name.
        hash: ContentHash,
        /// Its size in bytes.
        size: u64,
        /// What the bytes are.
        media_type: MediaType,
        /// Whether the console may show it as a picture (a raster image of a safe size).
        inline: bool,
    },
    /// The fetch was given up on.
    Failed {
        /// Why.
        reason: String,
    },
    /// Its bytes were deleted under the team's retention.
    Removed {
        /// The retention, in days.
        retention_days: u32,
    },
}

/// One session as people read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionView {
    /// The session.
    pub session_id: Uuid,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it closed last (none while open).
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it closed.
    pub close_reason: Option<CloseReason>,
    /// Its status now.
    pub status: SessionStatus,
    /// Who has it.
    pub assignee: Option<StaffId>,
    /// Its routing category.
    pub category: Option<String>,
    /// Messages both ways, in order.
    pub messages: Vec<MessageView>,
    /// Staff remarks.
    pub remarks: Vec<RemarkView>,
    /// Every FAQ lookup in the session, with its ranked candidates and scores.
    pub matches: Vec<MatchView>,
    /// Attachments the operator sent, in order.
    pub attachments: Vec<AttachmentView>,
    /// Who wrote the person's reply whose outbound message comes next.
    #[serde(skip)]
    replier: Option<StaffId>,
}

impl SessionView {
    /// Moves one of the session's attachments to `state` (fetched, failed, removed).
    fn set_attachment_state(&mut self, attachment_id: Uuid, state: AttachmentState) {
        if let Some(attachment) = self.attachments.iter_mut().find(|a| a.attachment_id == attachment_id) {
            attachment.state = state;
        }
    }
}

/// One FAQ lookup as the console shows it: what was asked, what ranked, what was decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchView {
    /// Its global position in the log.
    pub position: u64,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The question matched.
    pub query: String,
    /// The ranked candidates with every engine's score.
    pub candidates: Vec<MatchCandidate>,
    /// The calibrated confidence in the first candidate.
    pub confidence: f32,
    /// What the answer policy decided.
    pub decision: MatchDecision,
    /// The engine (and model) that ranked.
    pub engine: String,
}

/// One line of the timeline: every event, in words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// Global position in the log.
    pub position: u64,
    /// Version in the stream.
    pub version: u64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The event type.
    pub event_type: String,
    /// What happened, in words.
    pub summary: String,
}

/// A conversation as people read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationView {
    /// The stream version the view reflects.
    pub version: u64,
    /// Sessions, oldest first.
    pub sessions: Vec<SessionView>,
    /// Every event in words.
    pub timeline: Vec<TimelineEntry>,
}

/// The view of a conversation and the engine's state, both as of `at` (or now).
pub struct Audit {
    /// The view.
    pub view: ConversationView,
    /// The engine's state.
    pub state: Conversation,
}

/// Folds a conversation stream's events, up to and including `at` when given.
pub fn audit(events: &[RecordedEvent], at: Option<DateTime<Utc>>) -> Result<Audit, DecodeError> {
    let mut state = Conversation::default();
    let mut view = ConversationView { version: 0, sessions: Vec::new(), timeline: Vec::new() };
    for recorded in events {
        if at.is_some_and(|at| recorded.occurred_at > at) {
            break;
        }
        let Event::Conversation(event) = recorded.decode()? else {
            continue;
        };
        state.apply(&event);
        view.version = recorded.version;
        view.timeline.push(TimelineEntry {
            position: recorded.position,
            version: recorded.version,
            at: recorded.occurred_at,
            event_type: recorded.event_type.clone(),
            summary: describe(&event),
        });
        fold_session(&mut view.sessions, &event, recorded.occurred_at, recorded.position);
        if let (Some(session), Some(current)) = (view.sessions.last_mut(), state.session.as_ref()) {
            session.status = current.status();
            session.assignee = current.assignee.clone();
            session.category = current.category.clone();
        }
    }
    Ok(Audit { view, state })
}

/// Folds a conversation stream's events into its current view.
pub fn view(events: &[RecordedEvent]) -> Result<ConversationView, DecodeError> {
    audit(events, None).map(|a| a.view)
}

fn fold_session(sessions: &mut Vec<SessionView>, event: &ConversationEvent, at: DateTime<Utc>, position: u64) {
    use ConversationEvent as E;
    if let E::SessionOpened(e) = event {
        sessions.push(SessionView {
            session_id: e.session_id,
            opened_at: at,
            closed_at: None,
            close_reason: None,
            status: SessionStatus::Collecting,
            assignee: None,
            category: None,
            messages: Vec::new(),
            remarks: Vec::new(),
            matches: Vec::new(),
            attachments: Vec::new(),
            replier: None,
        });
        return;
    }
    let id = switchboard_engine::conversation::session_of(event);
    let Some(session) = sessions.iter_mut().rev().find(|s| s.session_id == id) else {
        return;
    };
    match event {
        E::MessageReceived(e) => session.messages.push(MessageView {
            position,
            at,
            from: Speaker::Operator,
            to: None,
            text: e.text.clone(),
            delivered: None,
            outbound_id: None,
        }),
        E::AnswerQueued(e) => session.messages.push(MessageView {
            position,
            at,
            from: match e.purpose {
                OutboundPurpose::HumanReply => {
                    session.replier.take().or_else(|| session.assignee.clone()).map_or(Speaker::Bot, Speaker::Staff)
                }
                _ => Speaker::Bot,
            },
            to: Some(e.to.clone()),
            text: e.text.clone(),
            delivered: Some(false),
            outbound_id: Some(e.outbound_id),
        }),
        E::HumanReplied(e) => {
            // The reply's outbound message follows; attribute it to the replier.
            session.replier = Some(e.staff.clone());
        }
        E::AnswerDelivered(e) => {
            if let Some(m) = session.messages.iter_mut().find(|m| m.outbound_id == Some(e.outbound_id)) {
                m.delivered = Some(true);
            }
        }
        E::RemarkAdded(e) => session.remarks.push(RemarkView { at, author: e.author.clone(), text: e.text.clone() }),
        E::FaqMatched(e) => session.matches.push(MatchView {
            position,
            at,
            query: e.query.clone(),
            candidates: e.candidates.clone(),
            confidence: e.confidence,
            decision: e.decision.clone(),
            engine: e.engine.clone(),
        }),
        E::AttachmentReceived(e) => session.attachments.push(AttachmentView {
            attachment_id: e.attachment_id,
            position,
            at,
            kind: e.kind,
            name: e.name.clone(),
            state: AttachmentState::Fetching,
        }),
        E::AttachmentStored(e) => {
            let inline = e.media_type.is_shown_inline(e.image_size);
            let stored =
                AttachmentState::Stored { hash: e.hash.clone(), size: e.size, media_type: e.media_type, inline };
            session.set_attachment_state(e.attachment_id, stored);
        }
        E::AttachmentFetchFailed(e) => {
            session.set_attachment_state(e.attachment_id, AttachmentState::Failed { reason: e.reason.clone() });
        }
        E::AttachmentRemoved(e) => {
            let removed = AttachmentState::Removed { retention_days: e.retention_days };
            session.set_attachment_state(e.attachment_id, removed);
        }
        E::SessionClosed(e) => {
            session.closed_at = Some(at);
            session.close_reason = Some(e.reason);
        }
        E::SessionReopened(_) => {
            session.closed_at = None;
            session.close_reason = None;
        }
        _ => {}
    }
}

fn actor(actor: &Actor) -> String {
    match actor {
        Actor::Operator(user) => format!("operator {user}"),
        Actor::Staff(staff) => format!("staff {staff}"),
        Actor::System => "Switchboard".to_owned(),
    }
}

fn recipient(to: &Recipient) -> String {
    match to {
        Recipient::Operator(user) => format!("operator {user}"),
        Recipient::Staff(staff) => format!("staff {staff}"),
    }
}

/// One event in words, for the timeline, the audit command and the console.
pub fn describe(event: &ConversationEvent) -> String {
    use ConversationEvent as E;
    match event {
        E::SessionOpened(e) => format!("session opened by {} via {}", e.user, e.channel),
        E::MessageReceived(e) => format!("operator wrote: {}", e.text),
        E::InfoRequested(e) => format!("asked the operator for {}", e.field),
        E::InfoProvided(e) => format!("{} = {}", e.field, e.value),
        E::MatchRequested(e) => format!("looking up the FAQ for: {}", e.query),
        E::FaqMatched(e) => {
            let decision = match &e.decision {
                MatchDecision::Answer { faq_id } => format!("answer with {faq_id}"),
                MatchDecision::Clarify { choices } => format!("offer {} choices", choices.len()),
                MatchDecision::Transfer => "transfer to a person".to_owned(),
            };
            format!("{} candidates from {} (confidence {:.2}) → {decision}", e.candidates.len(), e.engine, e.confidence)
        }
        E::ChoiceSelected(e) => format!("operator chose {} ({})", e.choice, e.faq_id),
        E::AnswerQueued(e) => format!("message to {} queued ({})", recipient(&e.to), purpose_name(&e.purpose)),
        E::AnswerDelivered(e) => format!("message delivered (attempt {})", e.attempt),
        E::DeliveryFailed(e) => {
            format!("delivery attempt {} failed: {}{}", e.attempt, e.error, if e.gave_up { "; gave up" } else { "" })
        }
        E::FeedbackGiven(e) => {
            format!("operator says {} was {}", e.faq_id, if e.resolved { "helpful: resolved" } else { "not resolved" })
        }
        E::TransferredToHuman(e) => format!(
            "transferred to {} ({}, {}) by {}",
            e.assignee.as_ref().map_or("the team".to_owned(), |a| a.to_string()),
            e.reason,
            e.mode,
            actor(&e.by)
        ),
        E::GroupChatRequested(e) => {
            let staff: Vec<_> = e.staff.iter().map(|s| s.as_str()).collect();
            format!("group chat requested by {} with {}", actor(&e.by), staff.join(", "))
        }
        E::GroupChatCreated(e) => format!("group chat {} created", e.chat_id),
        E::HumanReplied(e) => format!("{} replied: {}", e.staff, e.text),
        E::RemarkAdded(e) => format!("remark by {}: {}", e.author, e.text),
        E::StatusChanged(e) => format!("status {} → {} by {}", e.from, e.to, actor(&e.by)),
        E::TimerScheduled(e) => format!("{} timer set for {}", e.purpose, e.due_at.format("%Y-%m-%d %H:%M:%S UTC")),
        E::TimerCancelled(_) => "timer cancelled".to_owned(),
        E::TimerFired(e) => format!("{} timer fired", e.purpose),
        E::ReconfirmSent(_) => "asked whether the operator still needs help".to_owned(),
        E::SessionClosed(e) => format!("session closed ({}) by {}", e.reason, actor(&e.by)),
        E::SessionReopened(e) => format!("session reopened by {}", actor(&e.by)),
        E::HandoverAcknowledged(e) => format!("hand-over acknowledged by {}", e.by),
        E::EscalationStepTaken(e) => {
            let notified: Vec<_> = e.notified.iter().map(|s| s.as_str()).collect();
            format!(
                "escalation step {} taken: notified {}",
                e.step + 1,
                if notified.is_empty() { "nobody".to_owned() } else { notified.join(", ") }
            )
        }
        E::ResponseTargetMissed(e) => {
            format!("{} target missed (due {})", e.target, e.due_at.format("%Y-%m-%d %H:%M:%S UTC"))
        }
        E::AttachmentReceived(e) => match &e.name {
            Some(name) => format!("operator sent {} {name:?}", e.kind),
            None => format!("operator sent {}", e.kind),
        },
        E::AttachmentStored(e) => format!("attachment stored: {} bytes of {}", e.size, e.media_type),
        E::AttachmentFetchFailed(e) => format!("attachment not fetched after {} attempts: {}", e.attempts, e.reason),
        E::AttachmentRemoved(e) => {
            format!("attachment removed after the team's {} days of retention", e.retention_days)
        }
    }
}

fn purpose_name(purpose: &OutboundPurpose) -> &'static str {
    match purpose {
        OutboundPurpose::InfoPrompt => "info prompt",
        OutboundPurpose::Answer { .. } => "answer",
        OutboundPurpose::Clarify => "choices",
        OutboundPurpose::TransferNotice => "transfer notice",
        OutboundPurpose::AssigneeNotice => "assignee notice",
        OutboundPurpose::HumanReply => "human reply",
        OutboundPurpose::Reconfirm => "re-confirmation",
        OutboundPurpose::ClosingNotice => "closing notice",
        OutboundPurpose::Escalation => "escalation",
    }
}
