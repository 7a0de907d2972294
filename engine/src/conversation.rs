//! The conversation aggregate: one stream per (team, operator), holding that operator's
//! sessions one after another.
//!
//! [`decide`] validates a [`Command`] against the current [`Conversation`] and returns the
//! events it causes (or a [`Rejection`]); [`Conversation::evolve`] folds one event into the
//! state. Both are pure: the time, fresh ids and the team's policy arrive in [`Context`],
//! and match results arrive in [`Command::ApplyMatch`].

use std::collections::{BTreeMap, HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use switchboard_schemas::attachment::{AttachmentKind, AttachmentSource, ContentHash, ImageSize, MediaType};
use switchboard_schemas::event::*;
use switchboard_schemas::oncall::{ClockKind, EscalationTarget, TargetKind};
use switchboard_schemas::{ConversationEvent, FaqId, MessageId, StaffId, UserId};
use uuid::Uuid;

use crate::policy::{bounds, choice_in_words, feedback_in_words, TeamPolicy};
use crate::ports::{Ranking, Rephrased};

/// How many recent inbound message ids a conversation remembers for deduplication; WeCom
/// retries within seconds, so this covers retries with a wide margin.
const REMEMBERED_MESSAGE_IDS: usize = 1024;

/// Where a session is in its lifecycle; each variant carries what that step needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Just opened, within the opening commit.
    New,
    /// Waiting for a required field; the question waits with it.
    Collecting {
        /// The field asked for.
        field: String,
        /// The question to match once everything is collected.
        question: String,
    },
    /// Waiting for the answering port.
    Matching {
        /// The message whose question is being matched.
        message_id: MessageId,
        /// The question.
        query: String,
    },
    /// Numbered choices were offered.
    AwaitingChoice {
        /// The offered candidates, in the order shown.
        choices: Vec<MatchCandidate>,
    },
    /// Answered; waiting for feedback.
    Answered {
        /// The FAQ answered from.
        faq_id: FaqId,
    },
    /// With a person.
    WithHuman,
    /// A person waits for the operator.
    Waiting,
    /// Over.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// A timer that has been scheduled and neither fired nor cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingTimer {
    /// Its id.
    pub timer_id: Uuid,
    /// What it is for.
    pub purpose: TimerPurpose,
    /// When it is due.
    pub due_at: DateTime<Utc>,
}

/// Whether a group chat was asked for and made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChat {
    /// Never asked for.
    None,
    /// Asked for; the channel has not created it yet.
    Requested,
    /// Created.
    Created {
        /// The channel's chat id.
        chat_id: String,
    },
}

/// The most hand-over notices remembered per hand-over (its cards: the assignee's and each
/// escalation step's, each step notifying at most the leads, the next layer and a chat);
/// past it the oldest escalation cards go first.
pub const MAX_HANDOVER_NOTICES: usize = 256;

/// One episode of support, from the first message to the close.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The session's id.
    pub id: Uuid,
    /// The channel the operator uses.
    pub channel: Channel,
    /// Where it is.
    pub phase: Phase,
    /// Asked "do you still need help?" and not answered yet.
    pub reconfirming: bool,
    /// Fields collected so far.
    pub collected: BTreeMap<String, String>,
    /// The category used for routing (from the best match or a collected field).
    pub category: Option<String>,
    /// The engineer who has it.
    pub assignee: Option<StaffId>,
    /// The question being handled.
    pub question: Option<String>,
    /// The inactivity timer (re-confirm, then close) that will fire next.
    pub pending_timer: Option<PendingTimer>,
    /// The hand-over's timers: the next escalation step and the response targets not met.
    pub handover_timers: Vec<PendingTimer>,
    /// Someone acknowledged (or replied to) the current hand-over.
    pub acknowledged: bool,
    /// A person replied in this session.
    pub replied: bool,
    /// The escalation step to take next, from 0.
    pub escalation_step: u32,
    /// The notices (hand-over and escalation cards) sent for the current hand-over, so a
    /// card of an earlier one is told apart.
    pub handover_notices: Vec<Uuid>,
    /// The group chat.
    pub group_chat: GroupChat,
}

impl Session {
    /// The status people see.
    pub fn status(&self) -> SessionStatus {
        match &self.phase {
            Phase::Closed { .. } => SessionStatus::Closed,
            _ if self.reconfirming => SessionStatus::Reconfirming,
            Phase::New | Phase::Collecting { .. } => SessionStatus::Collecting,
            Phase::Matching { .. } => SessionStatus::Matching,
            Phase::AwaitingChoice { .. } => SessionStatus::AwaitingChoice,
            Phase::Answered { .. } => SessionStatus::Answered,
            Phase::WithHuman => SessionStatus::WithHuman,
            Phase::Waiting => SessionStatus::Waiting,
        }
    }

    /// True until the session is closed.
    pub fn is_active(&self) -> bool {
        !matches!(self.phase, Phase::Closed { .. })
    }
}

/// An outbound message queued and not yet delivered or given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingDelivery {
    /// The session it belongs to.
    pub session_id: Uuid,
    /// Failed attempts so far.
    pub failed_attempts: u32,
}

/// The state of one operator's conversation with a team.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conversation {
    /// The stream version this state reflects.
    pub version: u64,
    /// The current or most recent session.
    pub session: Option<Session>,
    /// How many sessions were opened in this conversation.
    pub sessions_opened: u32,
    /// Outbound messages waiting for their delivery outcome.
    pub pending_deliveries: BTreeMap<Uuid, PendingDelivery>,
    /// Attachments whose bytes are being fetched, with the session each was sent in.
    pub pending_attachments: BTreeMap<Uuid, Uuid>,
    /// Attachments whose bytes are stored and not yet removed, with their session and blob.
    pub stored_attachments: BTreeMap<Uuid, (Uuid, ContentHash)>,
    recent_ids: VecDeque<MessageId>,
    recent_set: HashSet<MessageId>,
}

/// What can be asked of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// An operator's message arrived.
    ReceiveMessage {
        /// The operator.
        user: UserId,
        /// The channel's id of the message (deduplicated).
        message_id: MessageId,
        /// The text.
        text: String,
        /// The channel.
        channel: Channel,
    },
    /// An operator sent an attachment, with words when the channel gave some (a caption, a
    /// voice message's recognised text). The attachment itself is never matched.
    ReceiveAttachment {
        /// The operator.
        user: UserId,
        /// The channel's id of the message (deduplicated with the text messages).
        message_id: MessageId,
        /// What was sent and where its bytes are.
        attachment: IncomingAttachment,
        /// Words sent with it; matched like a message when not blank.
        text: Option<String>,
        /// The channel.
        channel: Channel,
    },
    /// The attachment's bytes were deleted under the team's retention.
    RemoveAttachment {
        /// The attachment.
        attachment_id: Uuid,
        /// The team's retention, in days.
        retention_days: u32,
    },
    /// The attachment's bytes were fetched and stored, or could not be.
    RecordAttachment {
        /// The attachment.
        attachment_id: Uuid,
        /// What happened.
        outcome: AttachmentOutcome,
    },
    /// The answering port ranked FAQs for the question of `message_id`.
    ApplyMatch {
        /// The message whose question was matched.
        message_id: MessageId,
        /// The ranking.
        ranking: Ranking,
        /// The top FAQ's answer reworded for the question, when a generative model is
        /// configured; used only if the policy answers from that same FAQ.
        rephrased: Option<Rephrased>,
    },
    /// The operator pressed "resolved" / "not resolved".
    GiveFeedback {
        /// Resolved or not.
        resolved: bool,
    },
    /// The operator asked for a person (menu or button).
    RequestHuman,
    /// The operator closed the session.
    CloseByOperator,
    /// Staff hands the session to someone (themselves if `to` is none... or the on-call).
    Transfer {
        /// Who does it.
        by: StaffId,
        /// The new assignee; the on-call engineer when none.
        to: Option<StaffId>,
    },
    /// Staff acknowledges the hand-over (the Acknowledge button): its escalation stops.
    Acknowledge {
        /// Who does it.
        by: StaffId,
        /// The session the button was for; a button of an earlier session changes nothing.
        /// None: the current one (the console).
        session_id: Option<Uuid>,
        /// The notice (hand-over or escalation card) the button was on; a card of an earlier
        /// hand-over in the session (before a reassignment) changes nothing. None: the
        /// current hand-over.
        notice: Option<Uuid>,
    },
    /// A person replies to the operator.
    HumanReply {
        /// Who replies.
        staff: StaffId,
        /// The reply.
        text: String,
    },
    /// Staff notes something on the session.
    AddRemark {
        /// Who writes it.
        author: StaffId,
        /// The remark.
        text: String,
    },
    /// Staff moves the session to another status.
    ChangeStatus {
        /// Who does it.
        by: StaffId,
        /// The new status: with a person, waiting for the operator, or closed.
        to: SessionStatus,
    },
    /// Staff closes the session.
    Close {
        /// Who does it.
        by: StaffId,
    },
    /// Staff or the operator reopens a closed session.
    Reopen {
        /// Who does it.
        by: Actor,
    },
    /// Someone asks for a group chat with the on-call engineers.
    RequestGroupChat {
        /// Who asks.
        by: Actor,
    },
    /// The channel created the requested group chat.
    RecordGroupChat {
        /// The channel's chat id.
        chat_id: String,
    },
    /// A timer came due.
    FireTimer {
        /// The timer.
        timer_id: Uuid,
    },
    /// The outcome of delivering an outbound message.
    RecordDelivery {
        /// The message.
        outbound_id: Uuid,
        /// What happened.
        outcome: DeliveryOutcome,
    },
}

/// An attachment as the channel describes it, before its bytes are fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingAttachment {
    /// What the channel says it is.
    pub kind: AttachmentKind,
    /// The file name the sender gave (cut to [`bounds::MAX_FILE_NAME_CHARS`]).
    pub name: Option<String>,
    /// Where its bytes are.
    pub source: AttachmentSource,
}

/// How fetching an attachment's bytes ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentOutcome {
    /// In the blob store.
    Stored {
        /// The blob's name.
        hash: ContentHash,
        /// Its size in bytes.
        size: u64,
        /// What the bytes are.
        media_type: MediaType,
        /// A picture's size as its header states it.
        image_size: Option<ImageSize>,
    },
    /// Given up on.
    Failed {
        /// Attempts made.
        attempts: u32,
        /// Why the last one failed (cut to [`bounds::MAX_TEXT_CHARS`]).
        reason: String,
    },
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The channel accepted it.
    Delivered,
    /// It failed.
    Failed {
        /// The channel's error (no message text).
        error: String,
        /// No further attempt will be made.
        gave_up: bool,
    },
}

/// Why a command was refused; nothing is written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// An empty message or text.
    #[error("the text is empty")]
    EmptyText,
    /// A message over the team's limit.
    #[error("the message has {chars} characters; the limit is {max}")]
    MessageTooLong {
        /// Its length.
        chars: usize,
        /// The team's limit.
        max: u32,
    },
    /// A message id longer than ids are ([`bounds::MAX_MESSAGE_ID_BYTES`]).
    #[error("the message id has {len} bytes; at most {max} are accepted")]
    MessageIdTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// There has never been a session.
    #[error("this conversation has no session yet")]
    NoSession,
    /// The last session is closed.
    #[error("the session is closed; reopen it first")]
    NoActiveSession,
    /// Feedback without an answer to give it on.
    #[error("there is no answer waiting for feedback")]
    NotAwaitingFeedback,
    /// Asked for a person while with one.
    #[error("the session is already with a person")]
    AlreadyWithHuman,
    /// Transferred to the current assignee.
    #[error("the session is already assigned to {0}")]
    AlreadyAssigned(StaffId),
    /// Transferred to someone who is not the team's: only its roster and key holders can be
    /// handed a session (so an assignee notice can reach nobody else).
    #[error("{0} is neither on the team's roster nor holds one of its access keys; add them to the roster first")]
    NotStaff(StaffId),
    /// Reopening a session that is not closed.
    #[error("the session is not closed")]
    NotClosed,
    /// A status staff cannot set directly.
    #[error("staff can set the status to with_human, waiting or closed, not {0:?}")]
    InvalidStatusTarget(SessionStatus),
    /// The status is already the requested one.
    #[error("the session is already {0:?}")]
    StatusUnchanged(SessionStatus),
    /// Nobody on the roster for a group chat.
    #[error("nobody is on call for this session's category; update the roster")]
    NobodyOnCall,
    /// Recording a group chat nobody asked for.
    #[error("no group chat was requested for this session")]
    NoGroupChatRequested,
    /// Acknowledging a session that is not with a person.
    #[error("the session is not handed to a person; there is nothing to acknowledge")]
    NotHandedOver,
    /// A button of an earlier session.
    #[error("that session is over; the conversation has moved on")]
    OtherSession,
    /// A card of an earlier hand-over of the session (it was reassigned since).
    #[error("that hand-over is over; the session was handed to someone else since")]
    EarlierHandover,
    /// A media id longer than channels give ([`bounds::MAX_MEDIA_ID_BYTES`]).
    #[error("the media id has {len} bytes; at most {max} are accepted")]
    MediaIdTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A timer fired before it was due (clock skew between instances).
    #[error("the timer is not due until {0}")]
    TimerNotDue(DateTime<Utc>),
}

/// The rejections that mean "this already happened" for an operator's command from a
/// button or menu, so a retried (or concurrently retried) click is harmless:
///
/// - `RequestHuman` → `AlreadyWithHuman`
/// - `CloseByOperator` → `NoActiveSession`
/// - `GiveFeedback` → `NotAwaitingFeedback` or `NoActiveSession` (the first click moved the
///   session on: to a person, or closed it)
///
/// The same rejections also follow a stale click (a button on an old card); that is just as
/// harmless. Every other rejection is a real problem.
pub fn is_harmless_repeat(command: &Command, rejection: &Rejection) -> bool {
    matches!(
        (command, rejection),
        (Command::RequestHuman, Rejection::AlreadyWithHuman)
            | (Command::CloseByOperator, Rejection::NoActiveSession)
            | (Command::GiveFeedback { .. }, Rejection::NotAwaitingFeedback | Rejection::NoActiveSession)
            | (Command::RequestGroupChat { .. }, Rejection::NoActiveSession)
            | (
                Command::Acknowledge { .. },
                Rejection::NoActiveSession
                    | Rejection::NotHandedOver
                    | Rejection::OtherSession
                    | Rejection::EarlierHandover
            )
    )
}

/// What a decision needs from outside: the time, fresh ids and the team's policy.
pub struct Context<'a> {
    /// The time of the decision.
    pub now: DateTime<Utc>,
    /// The team's compiled policy.
    pub policy: &'a TeamPolicy,
    /// Where fresh ids come from.
    pub ids: &'a mut dyn FnMut() -> Uuid,
}

impl Conversation {
    /// Folds one event into the state. Never fails: events are facts.
    pub fn evolve(mut self, event: &ConversationEvent) -> Self {
        self.apply(event);
        self
    }

    /// Folds one event into the state in place.
    pub fn apply(&mut self, event: &ConversationEvent) {
        self.version += 1;
        use ConversationEvent as E;
        match event {
            E::SessionOpened(_) => self.sessions_opened += 1,
            E::MessageReceived(e) => self.remember(e.message_id.clone()),
            E::AttachmentReceived(e) => {
                self.remember(e.message_id.clone());
                self.pending_attachments.insert(e.attachment_id, e.session_id);
            }
            E::AttachmentStored(e) => {
                self.pending_attachments.remove(&e.attachment_id);
                self.stored_attachments.insert(e.attachment_id, (e.session_id, e.hash.clone()));
            }
            E::AttachmentFetchFailed(e) => {
                self.pending_attachments.remove(&e.attachment_id);
            }
            E::AttachmentRemoved(e) => {
                self.stored_attachments.remove(&e.attachment_id);
            }
            E::AnswerQueued(e) => {
                self.pending_deliveries
                    .insert(e.outbound_id, PendingDelivery { session_id: e.session_id, failed_attempts: 0 });
            }
            E::AnswerDelivered(e) => {
                self.pending_deliveries.remove(&e.outbound_id);
            }
            E::DeliveryFailed(e) => {
                if e.gave_up {
                    self.pending_deliveries.remove(&e.outbound_id);
                } else if let Some(p) = self.pending_deliveries.get_mut(&e.outbound_id) {
                    p.failed_attempts = e.attempt;
                }
            }
            _ => {}
        }
        Session::fold(&mut self.session, event);
    }

    fn remember(&mut self, id: MessageId) {
        if self.recent_set.insert(id.clone()) {
            self.recent_ids.push_back(id);
            if self.recent_ids.len() > REMEMBERED_MESSAGE_IDS {
                if let Some(old) = self.recent_ids.pop_front() {
                    self.recent_set.remove(&old);
                }
            }
        }
    }

    /// True when this inbound message id was already recorded.
    pub fn has_seen(&self, id: &MessageId) -> bool {
        self.recent_set.contains(id)
    }

    /// The session if it is still active.
    pub fn active_session(&self) -> Option<&Session> {
        self.session.as_ref().filter(|s| s.is_active())
    }

    /// Rebuilds the state from events, in order.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a ConversationEvent>) -> Self {
        events.into_iter().fold(Self::default(), Self::evolve)
    }
}

impl Session {
    /// Folds the session-level part of an event into the current session (opening a new
    /// one on `SessionOpened`). Shared by the full state and by decisions in progress.
    fn fold(session: &mut Option<Session>, event: &ConversationEvent) {
        match (event, session.as_mut()) {
            (ConversationEvent::SessionOpened(e), _) => {
                *session = Some(Session {
                    id: e.session_id,
                    channel: e.channel,
                    phase: Phase::New,
                    reconfirming: false,
                    collected: BTreeMap::new(),
                    category: None,
                    assignee: None,
                    question: None,
                    pending_timer: None,
                    handover_timers: Vec::new(),
                    acknowledged: false,
                    replied: false,
                    escalation_step: 0,
                    handover_notices: Vec::new(),
                    group_chat: GroupChat::None,
                });
            }
            (ConversationEvent::MessageReceived(_) | ConversationEvent::AttachmentReceived(_), Some(s)) => {
                s.reconfirming = false;
            }
            (_, Some(s)) => s.apply(event),
            (_, None) => {}
        }
    }

    fn apply(&mut self, event: &ConversationEvent) {
        use ConversationEvent as E;
        match event {
            E::InfoRequested(e) => {
                self.phase = Phase::Collecting { field: e.field.clone(), question: e.question.clone() };
                self.question = Some(e.question.clone());
            }
            E::InfoProvided(e) => {
                if e.field == "category" {
                    self.category = Some(e.value.clone());
                }
                self.collected.insert(e.field.clone(), e.value.clone());
            }
            E::MatchRequested(e) => {
                self.phase = Phase::Matching { message_id: e.message_id.clone(), query: e.query.clone() };
                self.question = Some(e.query.clone());
            }
            E::FaqMatched(e) => {
                if !self.collected.contains_key("category") {
                    self.category = e.candidates.first().and_then(|c| c.category.clone());
                }
                match &e.decision {
                    MatchDecision::Answer { faq_id } => self.phase = Phase::Answered { faq_id: faq_id.clone() },
                    MatchDecision::Clarify { choices } => {
                        let offered = e.candidates.iter().filter(|c| choices.contains(&c.faq_id)).cloned().collect();
                        self.phase = Phase::AwaitingChoice { choices: offered };
                    }
                    MatchDecision::Transfer => {}
                }
            }
            E::ChoiceSelected(e) => {
                if let Phase::AwaitingChoice { choices } = &self.phase {
                    if let Some(chosen) = choices.iter().find(|c| c.faq_id == e.faq_id) {
                        self.category = chosen.category.clone().or(self.category.take());
                    }
                }
                self.phase = Phase::Answered { faq_id: e.faq_id.clone() };
            }
            E::TransferredToHuman(e) => {
                self.phase = Phase::WithHuman;
                if e.assignee != self.assignee {
                    // A new person's hand-over: acknowledged by nobody yet, its chain and
                    // its cards anew.
                    self.acknowledged = false;
                    self.escalation_step = 0;
                    self.handover_notices.clear();
                }
                self.assignee = e.assignee.clone();
                if e.category.is_some() {
                    self.category = e.category.clone();
                }
            }
            E::GroupChatRequested(_) => {
                if self.group_chat == GroupChat::None {
                    self.group_chat = GroupChat::Requested;
                }
            }
            E::GroupChatCreated(e) => self.group_chat = GroupChat::Created { chat_id: e.chat_id.clone() },
            E::StatusChanged(e) => match e.to {
                SessionStatus::WithHuman => self.phase = Phase::WithHuman,
                SessionStatus::Waiting => self.phase = Phase::Waiting,
                _ => {}
            },
            E::TimerScheduled(e) => {
                let timer = PendingTimer { timer_id: e.timer_id, purpose: e.purpose, due_at: e.due_at };
                if is_inactivity(e.purpose) {
                    self.pending_timer = Some(timer);
                } else {
                    self.handover_timers.retain(|t| t.purpose != e.purpose);
                    self.handover_timers.push(timer);
                }
            }
            E::TimerCancelled(TimerCancelled { timer_id, .. }) | E::TimerFired(TimerFired { timer_id, .. }) => {
                if self.pending_timer.is_some_and(|t| t.timer_id == *timer_id) {
                    self.pending_timer = None;
                }
                self.handover_timers.retain(|t| t.timer_id != *timer_id);
            }
            E::HandoverAcknowledged(_) => self.acknowledged = true,
            E::EscalationStepTaken(e) => self.escalation_step = e.step.saturating_add(1),
            E::HumanReplied(_) => {
                self.replied = true;
                self.acknowledged = true;
            }
            E::ReconfirmSent(_) => self.reconfirming = true,
            E::SessionClosed(e) => {
                self.phase = Phase::Closed { reason: e.reason };
                self.reconfirming = false;
                self.pending_timer = None;
                self.handover_timers.clear();
            }
            E::SessionReopened(_) => {
                self.phase = Phase::WithHuman;
                // A reopened session is a new hand-over: acknowledged and replied anew.
                self.acknowledged = false;
                self.replied = false;
                self.escalation_step = 0;
                self.handover_notices.clear();
            }
            E::AnswerQueued(e) => {
                if matches!(e.purpose, OutboundPurpose::AssigneeNotice | OutboundPurpose::Escalation) {
                    // Over the bound the oldest escalation card goes; the assignee's own
                    // card, the first, stays.
                    if self.handover_notices.len() >= MAX_HANDOVER_NOTICES {
                        self.handover_notices.remove(1);
                    }
                    self.handover_notices.push(e.outbound_id);
                }
            }
            E::SessionOpened(_)
            | E::MessageReceived(_)
            | E::AnswerDelivered(_)
            | E::DeliveryFailed(_)
            | E::FeedbackGiven(_)
            | E::ResponseTargetMissed(_)
            | E::RemarkAdded(_)
            | E::AttachmentReceived(_)
            | E::AttachmentStored(_)
            | E::AttachmentFetchFailed(_)
            | E::AttachmentRemoved(_) => {}
        }
    }
}

/// Events being decided, applied to a working copy of the state as they are added so
/// later steps of the same decision see the earlier ones.
/// Only the session is copied: the rest of the state (remembered ids, pending deliveries)
/// is read from the original and never changes within one decision's steps.
struct Decision<'c, 'a> {
    session: Option<Session>,
    version: u64,
    events: Vec<ConversationEvent>,
    ctx: &'c mut Context<'a>,
}

impl<'c, 'a> Decision<'c, 'a> {
    fn new(state: &Conversation, ctx: &'c mut Context<'a>) -> Self {
        Self { session: state.session.clone(), version: state.version, events: Vec::new(), ctx }
    }

    fn push(&mut self, event: impl Into<ConversationEvent>) {
        let event = event.into();
        Session::fold(&mut self.session, &event);
        self.version += 1;
        self.events.push(event);
    }

    fn active(&self) -> Option<&Session> {
        self.session.as_ref().filter(|s| s.is_active())
    }

    fn id(&mut self) -> Uuid {
        (self.ctx.ids)()
    }

    /// The active session; decisions call this only after making sure there is one.
    fn session(&self) -> &Session {
        self.active().expect("decision steps run on an active session")
    }

    fn session_id(&self) -> Uuid {
        self.session().id
    }

    fn operator(&self, user: &UserId) -> Recipient {
        Recipient::Operator(user.clone())
    }

    fn send(&mut self, to: Recipient, purpose: OutboundPurpose, text: String) {
        let session_id = self.session_id();
        let channel = self.session().channel;
        let outbound_id = self.id();
        self.push(AnswerQueued { session_id, outbound_id, to, purpose, text, channel });
    }

    /// Asks for the next missing field, or hands the question to the answering port.
    fn continue_question(&mut self, user: &UserId, message_id: &MessageId, question: String) {
        let session_id = self.session_id();
        let missing =
            self.ctx.policy.required_fields().find(|f| !self.session().collected.contains_key(&f.key)).cloned();
        match missing {
            Some(field) => {
                self.push(InfoRequested { session_id, field: field.key.clone(), question });
                self.send(self.operator(user), OutboundPurpose::InfoPrompt, field.prompt);
            }
            None => self.push(MatchRequested { session_id, message_id: message_id.clone(), query: question }),
        }
    }

    /// A new question: take any required fields it already contains, then go on.
    fn start_question(&mut self, user: &UserId, message_id: &MessageId, text: &str) {
        let session_id = self.session_id();
        let found: Vec<(String, String)> = self
            .ctx
            .policy
            .required_fields()
            .filter(|f| !self.session().collected.contains_key(&f.key))
            .filter_map(|f| self.ctx.policy.extract(&f.key, text).map(|v| (f.key.clone(), v)))
            .collect();
        for (field, value) in found {
            self.push(InfoProvided { session_id, field, value });
        }
        self.continue_question(user, message_id, text.to_owned());
    }

    fn transfer(&mut self, user: &UserId, mode: TransferMode, reason: TransferReason, by: Actor, to: Option<StaffId>) {
        let session = self.session();
        let session_id = session.id;
        let category = session.category.clone();
        let question = session.question.clone().unwrap_or_default();
        // Asked again while a person has it: it stays theirs, and their hand-over (its
        // escalation and targets) goes on as it was.
        let with_human = matches!(session.phase, Phase::WithHuman | Phase::Waiting);
        let handed_over = with_human && session.assignee.is_some();
        let to = to.or_else(|| session.assignee.clone().filter(|_| handed_over && mode == TransferMode::Auto));
        let previous = session.assignee.clone();
        let assignee = to.or_else(|| self.ctx.policy.on_call(category.as_deref(), self.ctx.now));
        // The same person again (asked again, or reassigned to whoever has it): their
        // hand-over goes on as it was; a reopened session is a new one.
        // So is nobody again (a transfer while nobody is on call) once its chain has begun:
        // the chain waits its step.
        let chain_begun = session.escalation_step > 0;
        let same_hand_over = with_human
            && reason != TransferReason::Reopened
            && assignee == previous
            && (assignee.is_some() || chain_begun);
        self.push(TransferredToHuman {
            session_id,
            mode,
            reason,
            category: category.clone(),
            assignee: assignee.clone(),
            by: by.clone(),
        });
        // Someone who takes a session themselves has acknowledged it, and needs no notice.
        let taken_by_assignee = matches!((&by, &assignee), (Actor::Staff(b), Some(a)) if b == a);
        let texts = &self.ctx.policy.settings().texts;
        let schedule = self.ctx.policy.schedule();
        // Only a hand-over by policy waits for working hours; a person acting is there now.
        let back = schedule.calendar().next_working(self.ctx.now).filter(|_| mode == TransferMode::Auto);
        let notice = match (&assignee, back) {
            (_, Some(back)) if back > self.ctx.now => {
                texts.after_hours.replace("{back_at}", &schedule.local_text(back))
            }
            (Some(a), _) => texts.transfer_notice.replace("{assignee}", a.as_str()),
            (None, _) => texts.nobody_on_call.clone(),
        };
        self.send(self.operator(user), OutboundPurpose::TransferNotice, notice);
        if let Some(assignee) = assignee.as_ref().filter(|_| !taken_by_assignee) {
            let summary = format!("[{}] {user} ({reason}): {question}", category.as_deref().unwrap_or("general"));
            self.send(Recipient::Staff(assignee.clone()), OutboundPurpose::AssigneeNotice, summary);
            if self.ctx.policy.settings().group_chat_on_transfer && self.session().group_chat == GroupChat::None {
                self.push(GroupChatRequested {
                    session_id,
                    by: Actor::System,
                    operator: user.clone(),
                    staff: vec![assignee.clone()],
                });
            }
        }
        if !same_hand_over {
            self.watch_handover(user, taken_by_assignee);
        } else if taken_by_assignee && !self.session().acknowledged {
            // The assignee took their own session back: they have seen it.
            if let Some(by) = assignee {
                self.push(HandoverAcknowledged { session_id, by });
            }
            self.cancel_handover_timers(&[TimerPurpose::Escalate, TimerPurpose::AcknowledgeTarget]);
        }
    }

    /// Starts the hand-over's escalation chain and response-target clocks: an unacknowledged
    /// hand-over escalates step by step, and each target not met by its due time is
    /// recorded as missed.
    fn watch_handover(&mut self, user: &UserId, acknowledged: bool) {
        self.cancel_handover_timers(&[TimerPurpose::Escalate, TimerPurpose::AcknowledgeTarget]);
        // Handed to the person who already acknowledged it: nothing to chase.
        let already = self.session().acknowledged;
        if acknowledged && !already {
            let (session_id, by) = (self.session_id(), self.session().assignee.clone());
            if let Some(by) = by {
                self.push(HandoverAcknowledged { session_id, by });
            }
        } else if !acknowledged && !already {
            self.escalate(user);
        }
        let acknowledged = acknowledged || already;
        let schedule = self.ctx.policy.schedule();
        let targets = *schedule.targets(self.session().category.as_deref());
        let pending = |d: &Self, purpose| d.session().handover_timers.iter().any(|t| t.purpose == purpose);
        for (kind, purpose, wanted) in [
            (TargetKind::Acknowledge, TimerPurpose::AcknowledgeTarget, !acknowledged),
            (TargetKind::FirstReply, TimerPurpose::FirstReplyTarget, !self.session().replied),
            (TargetKind::Resolution, TimerPurpose::ResolutionTarget, true),
        ] {
            if let Some(minutes) = targets.minutes(kind).filter(|_| wanted && !pending(self, purpose)) {
                if let Some(due_at) = self.ctx.policy.schedule().after(self.ctx.now, minutes, targets.clock) {
                    self.schedule_at(purpose, due_at);
                }
            }
        }
    }

    /// Takes the next step of the escalation policy, if there is one, and schedules the one
    /// after it.
    fn escalate(&mut self, user: &UserId) {
        let session = self.session();
        let (session_id, step) = (session.id, session.escalation_step);
        let category = session.category.clone();
        let assignee = session.assignee.clone();
        let question = session.question.clone().unwrap_or_default();
        let policy = self.ctx.policy.schedule().escalation().clone();
        let Some(current) = policy.steps.get(step as usize) else { return };
        let (schedule, staffing) = (self.ctx.policy.schedule(), self.ctx.policy.staffing());
        let mut notified: Vec<StaffId> = Vec::new();
        let mut group_chat = false;
        for target in &current.notify {
            match target {
                // The first step's assignee already has the hand-over notice.
                EscalationTarget::Assignee if step > 0 => notified.extend(assignee.clone()),
                EscalationTarget::Assignee => {}
                EscalationTarget::NextLayer => {
                    let earlier: Vec<StaffId> = notified.clone();
                    notified.extend(schedule.next_layer(
                        staffing,
                        category.as_deref(),
                        self.ctx.now,
                        assignee.as_ref(),
                        &earlier,
                    ));
                }
                EscalationTarget::Leads => notified.extend(schedule.settings().leads.iter().cloned()),
                EscalationTarget::GroupChat => group_chat = true,
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        notified.retain(|p| seen.insert(p.clone()));
        self.push(EscalationStepTaken { session_id, step, notified: notified.clone() });
        let total = policy.steps.len();
        let who = assignee.as_ref().map_or("nobody", StaffId::as_str);
        let text = format!(
            "[升级 Escalation {}/{total}] {user} 的会话无人确认，请处理。A hand-over (assignee: {who}) is not acknowledged: {question}",
            step + 1
        );
        for person in &notified {
            self.send(Recipient::Staff(person.clone()), OutboundPurpose::Escalation, text.clone());
        }
        if group_chat && self.session().group_chat == GroupChat::None {
            let mut staff: Vec<StaffId> = assignee.iter().cloned().collect();
            staff.extend(notified.iter().filter(|p| Some(*p) != assignee.as_ref()).cloned());
            if !staff.is_empty() {
                self.push(GroupChatRequested { session_id, by: Actor::System, operator: user.clone(), staff });
            }
        }
        if step as usize + 1 < total {
            if let Some(due_at) = self.ctx.policy.schedule().after(self.ctx.now, current.wait_minutes, policy.clock) {
                self.schedule_at(TimerPurpose::Escalate, due_at);
            }
        }
    }

    /// Cancels the hand-over's timers of these purposes.
    fn cancel_handover_timers(&mut self, purposes: &[TimerPurpose]) {
        let session_id = self.session_id();
        let timers: Vec<Uuid> = self
            .session()
            .handover_timers
            .iter()
            .filter(|t| purposes.contains(&t.purpose))
            .map(|t| t.timer_id)
            .collect();
        for timer_id in timers {
            self.push(TimerCancelled { session_id, timer_id });
        }
    }

    /// Answers from `candidate`, in the words of `rephrased` when there is a rewording.
    fn answer(&mut self, user: &UserId, candidate: &MatchCandidate, rephrased: Option<&str>) {
        let answer = rephrased.unwrap_or(&candidate.answer);
        let text = format!("{answer}\n\n{}", self.ctx.policy.settings().texts.feedback_hint);
        self.send(self.operator(user), OutboundPurpose::Answer { faq_id: candidate.faq_id.clone() }, text);
    }

    fn close(&mut self, user: &UserId, reason: CloseReason, by: Actor, notice: Option<String>) {
        let session_id = self.session_id();
        self.cancel_timer();
        self.cancel_handover_timers(&HANDOVER_TIMERS);
        if let Some(text) = notice {
            self.send(self.operator(user), OutboundPurpose::ClosingNotice, text);
        }
        self.push(SessionClosed { session_id, reason, by });
    }

    fn cancel_timer(&mut self) {
        if let Some(timer) = self.session().pending_timer {
            let session_id = self.session_id();
            self.push(TimerCancelled { session_id, timer_id: timer.timer_id });
        }
    }

    fn schedule(&mut self, purpose: TimerPurpose, after_secs: u64) {
        // The team's settings are bounded (`policy::bounds`); saturating here keeps a
        // decision total even so, since a panic would stop the worker deciding it.
        let after = i64::try_from(after_secs).ok().and_then(Duration::try_seconds).unwrap_or(Duration::MAX);
        let due_at = self.ctx.now.checked_add_signed(after).unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.schedule_at(purpose, due_at);
    }

    fn schedule_at(&mut self, purpose: TimerPurpose, due_at: DateTime<Utc>) {
        let session_id = self.session_id();
        let timer_id = self.id();
        let scheduled_at_version = self.version;
        self.push(TimerScheduled { session_id, timer_id, purpose, due_at, scheduled_at_version });
    }

    /// Activity restarts the inactivity clock: the re-confirmation comes after the
    /// team's silence period from now.
    fn restart_inactivity_timer(&mut self) {
        if self.active().is_some() {
            self.cancel_timer();
            let after = self.ctx.policy.settings().reconfirm_after_secs;
            self.schedule(TimerPurpose::Reconfirm, after);
        }
    }

    fn finish(self) -> Vec<ConversationEvent> {
        self.events
    }
}

fn non_empty(text: &str) -> Result<(), Rejection> {
    if text.trim().is_empty() {
        Err(Rejection::EmptyText)
    } else {
        Ok(())
    }
}

/// Refuses a text (an operator's message, a staff reply or remark) longer than the team's
/// `max_message_chars`.
fn within_message_limit(text: &str, max: u32) -> Result<(), Rejection> {
    let chars = text.chars().count();
    if chars > max as usize {
        return Err(Rejection::MessageTooLong { chars, max });
    }
    Ok(())
}

/// Decides what a command causes. `user` is the conversation's operator.
pub fn decide(
    state: &Conversation,
    user: &UserId,
    command: &Command,
    ctx: &mut Context<'_>,
) -> Result<Vec<ConversationEvent>, Rejection> {
    let active = state.active_session();
    let require_active = || match (&state.session, active) {
        (None, _) => Err(Rejection::NoSession),
        (Some(_), None) => Err(Rejection::NoActiveSession),
        (Some(_), Some(s)) => Ok(s),
    };
    let mut d = Decision::new(state, ctx);
    match command {
        Command::ReceiveMessage { user: from, message_id, text, channel } => {
            non_empty(text)?;
            within_message_limit(text, d.ctx.policy.settings().max_message_chars)?;
            if message_id.0.len() > bounds::MAX_MESSAGE_ID_BYTES {
                return Err(Rejection::MessageIdTooLong { len: message_id.0.len(), max: bounds::MAX_MESSAGE_ID_BYTES });
            }
            if state.has_seen(message_id) {
                return Ok(Vec::new());
            }
            if active.is_none() {
                let session_id = d.id();
                d.push(SessionOpened { session_id, user: from.clone(), channel: *channel });
            }
            let session_id = d.session_id();
            d.push(MessageReceived {
                session_id,
                message_id: message_id.clone(),
                text: text.clone(),
                channel: *channel,
            });
            receive(&mut d, user, message_id, text);
            d.restart_inactivity_timer();
        }
        Command::ReceiveAttachment { user: from, message_id, attachment, text, channel } => {
            // Words longer than the team takes are cut, not refused: the attachment is kept.
            let max_chars = d.ctx.policy.settings().max_message_chars as usize;
            let text = text.as_deref().map(|t| cut(t, max_chars)).filter(|t| !t.trim().is_empty());
            if message_id.0.len() > bounds::MAX_MESSAGE_ID_BYTES {
                return Err(Rejection::MessageIdTooLong { len: message_id.0.len(), max: bounds::MAX_MESSAGE_ID_BYTES });
            }
            let AttachmentSource::WecomMedia { media_id } = &attachment.source;
            if media_id.len() > bounds::MAX_MEDIA_ID_BYTES {
                return Err(Rejection::MediaIdTooLong { len: media_id.len(), max: bounds::MAX_MEDIA_ID_BYTES });
            }
            if state.has_seen(message_id) {
                return Ok(Vec::new());
            }
            let opens = active.is_none();
            if opens {
                let session_id = d.id();
                d.push(SessionOpened { session_id, user: from.clone(), channel: *channel });
            }
            let session_id = d.session_id();
            let attachment_id = d.id();
            d.push(AttachmentReceived {
                session_id,
                message_id: message_id.clone(),
                attachment_id,
                kind: attachment.kind,
                name: attachment.name.as_deref().map(|name| cut(name, bounds::MAX_FILE_NAME_CHARS)),
                source: attachment.source.clone(),
                channel: *channel,
            });
            match text {
                Some(text) => {
                    d.push(MessageReceived {
                        session_id,
                        message_id: message_id.clone(),
                        text: text.clone(),
                        channel: *channel,
                    });
                    receive(&mut d, user, message_id, &text);
                }
                None => receive_attachment_alone(&mut d, user, opens),
            }
            d.restart_inactivity_timer();
        }
        Command::RecordAttachment { attachment_id, outcome } => {
            let Some(&session_id) = state.pending_attachments.get(attachment_id) else {
                // Recorded already (a retried fetch), or never received: nothing to add.
                return Ok(Vec::new());
            };
            let attachment_id = *attachment_id;
            let event: ConversationEvent = match outcome {
                AttachmentOutcome::Stored { hash, size, media_type, image_size } => AttachmentStored {
                    session_id,
                    attachment_id,
                    hash: hash.clone(),
                    size: *size,
                    media_type: *media_type,
                    image_size: *image_size,
                }
                .into(),
                AttachmentOutcome::Failed { attempts, reason } => AttachmentFetchFailed {
                    session_id,
                    attachment_id,
                    attempts: *attempts,
                    reason: cut(reason, bounds::MAX_TEXT_CHARS),
                }
                .into(),
            };
            d.push(event);
        }
        Command::RemoveAttachment { attachment_id, retention_days } => {
            let Some((session_id, hash)) = state.stored_attachments.get(attachment_id) else {
                // Removed already, or its bytes never stored: nothing to say.
                return Ok(Vec::new());
            };
            d.push(AttachmentRemoved {
                session_id: *session_id,
                attachment_id: *attachment_id,
                hash: hash.clone(),
                retention_days: *retention_days,
            });
        }
        Command::ApplyMatch { message_id, ranking, rephrased } => {
            let session = require_active()?;
            let Phase::Matching { message_id: waiting, query } = &session.phase else {
                return Ok(Vec::new());
            };
            if waiting != message_id {
                return Ok(Vec::new());
            }
            let query = query.clone();
            let decision = d.ctx.policy.decide_match(ranking);
            // A rewording is only ever used for a confident answer from the FAQ it was made
            // from: never on low confidence, never for another FAQ.
            let rephrased = rephrased
                .as_ref()
                .filter(|r| matches!(&decision, MatchDecision::Answer { faq_id } if *faq_id == r.faq_id));
            d.push(FaqMatched {
                session_id: session.id,
                message_id: message_id.clone(),
                query,
                candidates: ranking.candidates.clone(),
                confidence: ranking.confidence,
                decision: decision.clone(),
                engine: ranking.engine.clone(),
                rephrased_by: rephrased.map(|r| r.model.clone()),
            });
            match decision {
                MatchDecision::Answer { .. } => {
                    if let Some(top) = ranking.candidates.first() {
                        d.answer(user, top, rephrased.map(|r| r.text.as_str()));
                    }
                }
                MatchDecision::Clarify { choices } => {
                    let mut text = d.ctx.policy.settings().texts.clarify_intro.clone();
                    for (i, id) in choices.iter().enumerate() {
                        if let Some(c) = ranking.candidates.iter().find(|c| &c.faq_id == id) {
                            text.push_str(&format!("\n{}. {}", i + 1, c.question));
                        }
                    }
                    d.send(d.operator(user), OutboundPurpose::Clarify, text);
                }
                MatchDecision::Transfer => {
                    d.transfer(user, TransferMode::Auto, TransferReason::LowConfidence, Actor::System, None);
                }
            }
            d.restart_inactivity_timer();
        }
        Command::GiveFeedback { resolved } => {
            let session = require_active()?;
            let Phase::Answered { faq_id } = &session.phase else {
                return Err(Rejection::NotAwaitingFeedback);
            };
            feedback(&mut d, user, faq_id.clone(), *resolved);
        }
        Command::RequestHuman => {
            let session = require_active()?;
            if session.phase == Phase::WithHuman {
                return Err(Rejection::AlreadyWithHuman);
            }
            let by = Actor::Operator(user.clone());
            d.transfer(user, TransferMode::Auto, TransferReason::OperatorAsked, by, None);
            d.restart_inactivity_timer();
        }
        Command::CloseByOperator => {
            require_active()?;
            d.close(user, CloseReason::ByOperator, Actor::Operator(user.clone()), None);
        }
        Command::Transfer { by, to } => {
            let session = require_active()?;
            if let Some(to) = to.as_ref().filter(|to| !d.ctx.policy.is_staff(to)) {
                return Err(Rejection::NotStaff(to.clone()));
            }
            if let (Phase::WithHuman, Some(current), Some(to)) = (&session.phase, &session.assignee, to) {
                if current == to {
                    return Err(Rejection::AlreadyAssigned(current.clone()));
                }
            }
            let actor = Actor::Staff(by.clone());
            d.transfer(user, TransferMode::Manual, TransferReason::Staff, actor, to.clone());
            d.restart_inactivity_timer();
        }
        Command::Acknowledge { by, session_id, notice } => {
            let session = require_active()?;
            if session_id.is_some_and(|id| id != session.id) {
                return Err(Rejection::OtherSession);
            }
            if !d.ctx.policy.is_staff(by) {
                return Err(Rejection::NotStaff(by.clone()));
            }
            if notice.is_some_and(|id| !session.handover_notices.contains(&id)) {
                return Err(Rejection::EarlierHandover);
            }
            if !matches!(session.phase, Phase::WithHuman | Phase::Waiting) {
                return Err(Rejection::NotHandedOver);
            }
            if session.acknowledged {
                return Ok(Vec::new());
            }
            d.push(HandoverAcknowledged { session_id: session.id, by: by.clone() });
            d.cancel_handover_timers(&[TimerPurpose::Escalate, TimerPurpose::AcknowledgeTarget]);
        }
        Command::HumanReply { staff, text } => {
            let session = require_active()?;
            non_empty(text)?;
            within_message_limit(text, d.ctx.policy.settings().max_message_chars)?;
            if !matches!(session.phase, Phase::WithHuman | Phase::Waiting) {
                let by = Actor::Staff(staff.clone());
                d.transfer(user, TransferMode::Manual, TransferReason::Staff, by, Some(staff.clone()));
            }
            // A reply meets the acknowledgment and first-reply targets and ends the escalation.
            d.cancel_handover_timers(&[
                TimerPurpose::Escalate,
                TimerPurpose::AcknowledgeTarget,
                TimerPurpose::FirstReplyTarget,
            ]);
            let session_id = d.session_id();
            d.push(HumanReplied { session_id, staff: staff.clone(), text: text.clone() });
            d.send(d.operator(user), OutboundPurpose::HumanReply, text.clone());
            d.restart_inactivity_timer();
        }
        Command::AddRemark { author, text } => {
            let session = state.session.as_ref().ok_or(Rejection::NoSession)?;
            non_empty(text)?;
            within_message_limit(text, d.ctx.policy.settings().max_message_chars)?;
            d.push(RemarkAdded { session_id: session.id, author: author.clone(), text: text.clone() });
        }
        Command::ChangeStatus { by, to } => {
            let session = require_active()?;
            let from = session.status();
            if !matches!(to, SessionStatus::WithHuman | SessionStatus::Waiting | SessionStatus::Closed) {
                return Err(Rejection::InvalidStatusTarget(*to));
            }
            if from == *to {
                return Err(Rejection::StatusUnchanged(*to));
            }
            let actor = Actor::Staff(by.clone());
            d.push(StatusChanged { session_id: session.id, from, to: *to, by: actor.clone() });
            if *to == SessionStatus::Closed {
                d.close(user, CloseReason::Manual, actor, None);
            } else if !session.acknowledged && session.assignee.is_some() {
                // Staff working on a handed-over session have seen it: an acknowledgment.
                d.push(HandoverAcknowledged { session_id: session.id, by: by.clone() });
                d.cancel_handover_timers(&[TimerPurpose::Escalate, TimerPurpose::AcknowledgeTarget]);
            }
        }
        Command::Close { by } => {
            require_active()?;
            d.close(user, CloseReason::Manual, Actor::Staff(by.clone()), None);
        }
        Command::Reopen { by } => {
            let session = state.session.as_ref().ok_or(Rejection::NoSession)?;
            if session.is_active() {
                return Err(Rejection::NotClosed);
            }
            d.push(SessionReopened { session_id: session.id, by: by.clone() });
            let previous = session.assignee.clone();
            let mode = if matches!(by, Actor::Staff(_)) { TransferMode::Manual } else { TransferMode::Auto };
            d.transfer(user, mode, TransferReason::Reopened, by.clone(), previous);
            d.restart_inactivity_timer();
        }
        Command::RequestGroupChat { by } => {
            let session = require_active()?;
            if session.group_chat != GroupChat::None {
                return Ok(Vec::new());
            }
            let mut staff: Vec<StaffId> = session.assignee.iter().cloned().collect();
            if let Some(on_call) = d.ctx.policy.on_call(session.category.as_deref(), d.ctx.now) {
                if !staff.contains(&on_call) {
                    staff.push(on_call);
                }
            }
            if staff.is_empty() {
                return Err(Rejection::NobodyOnCall);
            }
            d.push(GroupChatRequested { session_id: session.id, by: by.clone(), operator: user.clone(), staff });
        }
        Command::RecordGroupChat { chat_id } => {
            let session = require_active()?;
            match &session.group_chat {
                GroupChat::None => return Err(Rejection::NoGroupChatRequested),
                GroupChat::Created { .. } => return Ok(Vec::new()),
                GroupChat::Requested => {
                    d.push(GroupChatCreated { session_id: session.id, chat_id: chat_id.clone() });
                }
            }
        }
        Command::FireTimer { timer_id } => {
            let Some(session) = active else { return Ok(Vec::new()) };
            let mut timers = session.pending_timer.iter().chain(&session.handover_timers);
            let Some(timer) = timers.find(|t| t.timer_id == *timer_id).copied() else {
                return Ok(Vec::new());
            };
            if d.ctx.now < timer.due_at {
                return Err(Rejection::TimerNotDue(timer.due_at));
            }
            let schedule = d.ctx.policy.schedule();
            let clock = match timer.purpose {
                TimerPurpose::Escalate => schedule.escalation().clock,
                TimerPurpose::Reconfirm | TimerPurpose::AutoClose => ClockKind::Wall,
                _ => schedule.targets(session.category.as_deref()).clock,
            };
            // A step waits for working hours whenever it comes due outside them; a target is
            // moved only when its own due time fell outside them (the hours changed since),
            // never because it fired late, so a miss keeps its time.
            let checked = if timer.purpose == TimerPurpose::Escalate { d.ctx.now } else { timer.due_at };
            if clock == ClockKind::Working && !schedule.calendar().is_working(checked) {
                // Working hours changed since it was scheduled: wait for them instead (or,
                // with no working time ahead, drop it).
                d.push(TimerCancelled { session_id: session.id, timer_id: *timer_id });
                if let Some(back) = schedule.calendar().next_working(d.ctx.now) {
                    d.schedule_at(timer.purpose, back);
                }
                return Ok(d.finish());
            }
            d.push(TimerFired { session_id: session.id, timer_id: *timer_id, purpose: timer.purpose });
            let missed = |kind| ResponseTargetMissed {
                session_id: session.id,
                target: kind,
                due_at: timer.due_at,
                assignee: session.assignee.clone(),
            };
            match timer.purpose {
                TimerPurpose::Escalate => {
                    if !session.acknowledged && matches!(session.phase, Phase::WithHuman) {
                        d.escalate(user);
                    }
                }
                TimerPurpose::AcknowledgeTarget => {
                    if !session.acknowledged {
                        d.push(missed(TargetKind::Acknowledge));
                    }
                }
                TimerPurpose::FirstReplyTarget => {
                    if !session.replied {
                        d.push(missed(TargetKind::FirstReply));
                    }
                }
                TimerPurpose::ResolutionTarget => d.push(missed(TargetKind::Resolution)),
                TimerPurpose::Reconfirm => {
                    d.push(ReconfirmSent { session_id: session.id });
                    let text = d.ctx.policy.settings().texts.reconfirm.clone();
                    d.send(d.operator(user), OutboundPurpose::Reconfirm, text);
                    let after = d.ctx.policy.settings().close_after_secs;
                    d.schedule(TimerPurpose::AutoClose, after);
                }
                TimerPurpose::AutoClose => {
                    let text = d.ctx.policy.settings().texts.closed_stale.clone();
                    d.close(user, CloseReason::Stale, Actor::System, Some(text));
                }
            }
        }
        Command::RecordDelivery { outbound_id, outcome } => {
            let Some(pending) = state.pending_deliveries.get(outbound_id) else {
                return Ok(Vec::new());
            };
            let attempt = pending.failed_attempts + 1;
            let session_id = pending.session_id;
            match outcome {
                DeliveryOutcome::Delivered => {
                    d.push(AnswerDelivered { session_id, outbound_id: *outbound_id, attempt })
                }
                DeliveryOutcome::Failed { error, gave_up } => d.push(DeliveryFailed {
                    session_id,
                    outbound_id: *outbound_id,
                    attempt,
                    error: error.clone(),
                    gave_up: *gave_up,
                }),
            }
        }
    }
    Ok(d.finish())
}

/// What an operator's message means in the session's current phase.
fn receive(d: &mut Decision<'_, '_>, user: &UserId, message_id: &MessageId, text: &str) {
    let phase = d.session().phase.clone();
    if phase != Phase::WithHuman && d.ctx.policy.is_human_request(text) {
        let by = Actor::Operator(user.clone());
        d.transfer(user, TransferMode::Auto, TransferReason::OperatorAsked, by, None);
        return;
    }
    match phase {
        Phase::New | Phase::Closed { .. } => d.start_question(user, message_id, text),
        Phase::Collecting { field, question } => {
            let session_id = d.session_id();
            match d.ctx.policy.extract(&field, text) {
                Some(value) => {
                    d.push(InfoProvided { session_id, field, value });
                    d.continue_question(user, message_id, question);
                }
                None => d.continue_question(user, message_id, question),
            }
        }
        Phase::Matching { query, .. } => {
            let session_id = d.session_id();
            let query = format!("{query} {text}");
            d.push(MatchRequested { session_id, message_id: message_id.clone(), query });
        }
        Phase::AwaitingChoice { choices } => match choice_in_words(text, choices.len()) {
            Some(n) => {
                let chosen = choices[usize::from(n) - 1].clone();
                let session_id = d.session_id();
                d.push(ChoiceSelected { session_id, choice: n, faq_id: chosen.faq_id.clone() });
                d.answer(user, &chosen, None);
            }
            None => d.start_question(user, message_id, text),
        },
        Phase::Answered { faq_id } => match feedback_in_words(text) {
            Some(resolved) => feedback(d, user, faq_id, resolved),
            None => d.start_question(user, message_id, text),
        },
        Phase::Waiting => {
            let session_id = d.session_id();
            let by = Actor::Operator(user.clone());
            d.push(StatusChanged { session_id, from: SessionStatus::Waiting, to: SessionStatus::WithHuman, by });
        }
        Phase::WithHuman => {}
    }
}

/// An attachment without words. It is never a question: a session it `opens` asks for a
/// description or goes to a person (the team's `attachments.when_alone`); a person waiting
/// for the operator has their answer; anywhere else (more pictures before the description
/// too) it is kept for staff and changes nothing.
fn receive_attachment_alone(d: &mut Decision<'_, '_>, user: &UserId, opens: bool) {
    match d.session().phase {
        Phase::New if opens => match d.ctx.policy.settings().attachments.when_alone {
            AttachmentAlone::AskDescription => {
                let text = d.ctx.policy.settings().texts.describe_attachment.clone();
                d.send(d.operator(user), OutboundPurpose::InfoPrompt, text);
            }
            AttachmentAlone::HandOver => {
                let by = Actor::Operator(user.clone());
                d.transfer(user, TransferMode::Auto, TransferReason::AttachmentOnly, by, None);
            }
        },
        Phase::Waiting => {
            let session_id = d.session_id();
            let by = Actor::Operator(user.clone());
            d.push(StatusChanged { session_id, from: SessionStatus::Waiting, to: SessionStatus::WithHuman, by });
        }
        Phase::New
        | Phase::Closed { .. }
        | Phase::Collecting { .. }
        | Phase::Matching { .. }
        | Phase::AwaitingChoice { .. }
        | Phase::Answered { .. }
        | Phase::WithHuman => {}
    }
}

/// The first `max` characters of `text`.
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn feedback(d: &mut Decision<'_, '_>, user: &UserId, faq_id: FaqId, resolved: bool) {
    let session_id = d.session_id();
    d.push(FeedbackGiven { session_id, resolved, faq_id });
    if resolved {
        let text = d.ctx.policy.settings().texts.closed_resolved.clone();
        d.close(user, CloseReason::Resolved, Actor::Operator(user.clone()), Some(text));
    } else {
        let by = Actor::Operator(user.clone());
        d.transfer(user, TransferMode::Auto, TransferReason::NotResolved, by, None);
        d.restart_inactivity_timer();
    }
}

/// The invariant checked by property tests: the set of events a closed session may still
/// receive. Exposed so projections and tests share one definition.
pub fn allowed_after_close(event: &ConversationEvent) -> bool {
    matches!(
        event,
        ConversationEvent::SessionReopened(_)
            | ConversationEvent::RemarkAdded(_)
            | ConversationEvent::AnswerDelivered(_)
            | ConversationEvent::DeliveryFailed(_)
            | ConversationEvent::AttachmentStored(_)
            | ConversationEvent::AttachmentFetchFailed(_)
            | ConversationEvent::AttachmentRemoved(_)
    )
}

/// The session an event belongs to.
pub fn session_of(event: &ConversationEvent) -> Uuid {
    use ConversationEvent as E;
    match event {
        E::SessionOpened(e) => e.session_id,
        E::MessageReceived(e) => e.session_id,
        E::InfoRequested(e) => e.session_id,
        E::InfoProvided(e) => e.session_id,
        E::MatchRequested(e) => e.session_id,
        E::FaqMatched(e) => e.session_id,
        E::ChoiceSelected(e) => e.session_id,
        E::AnswerQueued(e) => e.session_id,
        E::AnswerDelivered(e) => e.session_id,
        E::DeliveryFailed(e) => e.session_id,
        E::FeedbackGiven(e) => e.session_id,
        E::TransferredToHuman(e) => e.session_id,
        E::GroupChatRequested(e) => e.session_id,
        E::GroupChatCreated(e) => e.session_id,
        E::HumanReplied(e) => e.session_id,
        E::RemarkAdded(e) => e.session_id,
        E::StatusChanged(e) => e.session_id,
        E::TimerScheduled(e) => e.session_id,
        E::TimerCancelled(e) => e.session_id,
        E::TimerFired(e) => e.session_id,
        E::ReconfirmSent(e) => e.session_id,
        E::SessionClosed(e) => e.session_id,
        E::SessionReopened(e) => e.session_id,
        E::HandoverAcknowledged(e) => e.session_id,
        E::EscalationStepTaken(e) => e.session_id,
        E::ResponseTargetMissed(e) => e.session_id,
        E::AttachmentReceived(e) => e.session_id,
        E::AttachmentStored(e) => e.session_id,
        E::AttachmentFetchFailed(e) => e.session_id,
        E::AttachmentRemoved(e) => e.session_id,
    }
}

/// Every purpose of a hand-over's timers.
const HANDOVER_TIMERS: [TimerPurpose; 4] = [
    TimerPurpose::Escalate,
    TimerPurpose::AcknowledgeTarget,
    TimerPurpose::FirstReplyTarget,
    TimerPurpose::ResolutionTarget,
];

/// Whether a timer is the session's inactivity timer (one at a time) rather than one of
/// its hand-over's.
fn is_inactivity(purpose: TimerPurpose) -> bool {
    matches!(purpose, TimerPurpose::Reconfirm | TimerPurpose::AutoClose)
}
