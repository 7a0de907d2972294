//! The event types of the three aggregates: conversation, FAQ catalog and team.
//!
//! Each event is a struct (its payload); each aggregate has an enum over its events whose
//! serde form is `{"type": "<EventName>", "data": {..}}`. The type name and schema version
//! of every event are listed once, in the `events!` invocations below, and everything else
//! (type names, versions, JSON Schema files) is derived from that list.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::attachment::{AttachmentFetchFailed, AttachmentReceived, AttachmentRemoved, AttachmentStored};
use crate::ids::{FaqId, MessageId, StaffId, TeamId, UserId};
use crate::oncall::{OnCallOverride, OnCallSettings, TargetKind, TimeOff};

/// Gives a unit-variant enum its one spelling, the same as its serde name (a test checks):
/// `as_str`, `ALL` (in declaration order), `Display` and `FromStr`. Stores, reports, the API
/// and the console all use it, so a value is never spelled twice. Other crates use it for
/// their own stored enums (`switchboard_schemas::spelled!`).
#[macro_export]
macro_rules! spelled {
    ($name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// Its name (the serde name).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::event::UnknownName;

            fn from_str(name: &str) -> Result<Self, $crate::event::UnknownName> {
                Self::ALL.iter().copied().find(|v| v.as_str() == name).ok_or_else(|| $crate::event::UnknownName {
                    kind: stringify!($name),
                    name: name.to_owned(),
                })
            }
        }
    };
}

/// A name that spells no value of the enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a value of {kind}")]
pub struct UnknownName {
    /// The enum.
    pub kind: &'static str,
    /// The name given.
    pub name: String,
}

macro_rules! events {
    ($(#[$meta:meta])* $enum:ident, $types:ident { $($variant:ident = $version:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", content = "data")]
        // Events are decoded, folded and dropped; a team's full settings in one variant is
        // cheaper to move now and then than a box on every event of every kind.
        #[allow(clippy::large_enum_variant)]
        pub enum $enum {
            $(
                #[allow(missing_docs)]
                $variant($variant),
            )*
        }

        impl $enum {
            /// The stored type name of this event.
            pub fn event_type(&self) -> &'static str {
                match self { $(Self::$variant(_) => stringify!($variant),)* }
            }

            /// The current schema version of this event's type.
            pub fn schema_version(&self) -> u16 {
                match self { $(Self::$variant(_) => $version,)* }
            }

            /// The JSON Schema of every event type of this aggregate, with its version.
            pub fn json_schemas() -> Vec<(&'static str, u16, schemars::Schema)> {
                vec![$((stringify!($variant), $version, schemars::schema_for!($variant)),)*]
            }
        }

        /// Every event type of this aggregate with its current schema version.
        pub const $types: &[(&str, u16)] = &[$((stringify!($variant), $version),)*];

        $(
            impl From<$variant> for $enum {
                fn from(event: $variant) -> Self {
                    Self::$variant(event)
                }
            }
        )*
    };
}

events!(
    /// What happens in one user's conversation with a team: sessions and their lifecycle.
    ConversationEvent, CONVERSATION_EVENT_TYPES {
        SessionOpened = 1,
        MessageReceived = 2,
        InfoRequested = 1,
        InfoProvided = 1,
        MatchRequested = 1,
        FaqMatched = 1,
        ChoiceSelected = 1,
        AnswerQueued = 1,
        AnswerDelivered = 1,
        DeliveryFailed = 1,
        FeedbackGiven = 1,
        TransferredToHuman = 2,
        GroupChatRequested = 1,
        GroupChatCreated = 1,
        HumanReplied = 1,
        RemarkAdded = 1,
        StatusChanged = 1,
        TimerScheduled = 1,
        TimerCancelled = 1,
        TimerFired = 1,
        ReconfirmSent = 1,
        SessionClosed = 1,
        SessionReopened = 1,
        HandoverAcknowledged = 1,
        EscalationStepTaken = 1,
        ResponseTargetMissed = 1,
        AttachmentReceived = 1,
        AttachmentStored = 1,
        AttachmentFetchFailed = 1,
        AttachmentRemoved = 1,
    }
);

events!(
    /// Changes to a team's FAQ catalog, from which every search index is projected.
    FaqEvent, FAQ_EVENT_TYPES {
        FaqAdded = 1,
        FaqUpdated = 1,
        FaqRemoved = 1,
        FaqParaphraseAdded = 1,
        FaqCandidateHarvested = 1,
        FaqCandidateApproved = 1,
        FaqCandidateRejected = 1,
    }
);

events!(
    /// Onboarding and configuration of a team (never secrets: those stay in config).
    TeamEvent, TEAM_EVENT_TYPES {
        TeamCreated = 1,
        TeamConfigured = 3,
        RosterUpdated = 1,
        AccessKeyIssued = 1,
        AccessKeyRevoked = 1,
        WecomConfigured = 1,
        WebhookRegistered = 1,
        WebhookRemoved = 1,
        OnCallConfigured = 1,
        OnCallOverrideAdded = 1,
        OnCallOverrideRemoved = 1,
        TimeOffAdded = 1,
        TimeOffRemoved = 1,
        AvailabilityChanged = 1,
    }
);

/// Any event, as read from any stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// From a conversation stream.
    Conversation(ConversationEvent),
    /// From a FAQ catalog stream.
    Faq(FaqEvent),
    /// From a team stream.
    Team(TeamEvent),
}

impl Event {
    /// The stored type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::Conversation(e) => e.event_type(),
            Event::Faq(e) => e.event_type(),
            Event::Team(e) => e.event_type(),
        }
    }

    /// The current schema version of the event's type.
    pub fn schema_version(&self) -> u16 {
        match self {
            Event::Conversation(e) => e.schema_version(),
            Event::Faq(e) => e.schema_version(),
            Event::Team(e) => e.schema_version(),
        }
    }
}

impl From<ConversationEvent> for Event {
    fn from(e: ConversationEvent) -> Self {
        Event::Conversation(e)
    }
}

impl From<FaqEvent> for Event {
    fn from(e: FaqEvent) -> Self {
        Event::Faq(e)
    }
}

impl From<TeamEvent> for Event {
    fn from(e: TeamEvent) -> Self {
        Event::Team(e)
    }
}

// ---------------------------------------------------------------------------------------
// Shared vocabulary
// ---------------------------------------------------------------------------------------

/// Where an operator's message came from, so replies go back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The JSON API channel.
    Api,
    /// A WeCom application.
    Wecom,
    /// The WebSocket chat channel.
    Websocket,
}

spelled!(Channel { Api => "api", Wecom => "wecom", Websocket => "websocket" });

/// Who caused something, for audit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// The operator who owns the conversation.
    Operator(UserId),
    /// An engineer or admin.
    Staff(StaffId),
    /// Switchboard itself (timers, policy).
    System,
}

/// The states a session can be in, as shown to people and recorded on status changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Asking the operator for information the team requires.
    Collecting,
    /// Waiting for the answering port to rank FAQs for the question.
    Matching,
    /// Offered numbered choices; waiting for the operator to pick one.
    AwaitingChoice,
    /// Answered from the FAQ; waiting for "resolved / not resolved".
    Answered,
    /// Handled by a person.
    WithHuman,
    /// A person is waiting for the operator to come back.
    Waiting,
    /// Asked the operator whether they still need help after a long silence.
    Reconfirming,
    /// Over.
    Closed,
}

spelled!(SessionStatus {
    Collecting => "collecting",
    Matching => "matching",
    AwaitingChoice => "awaiting_choice",
    Answered => "answered",
    WithHuman => "with_human",
    Waiting => "waiting",
    Reconfirming => "reconfirming",
    Closed => "closed",
});

/// Why a session went to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferReason {
    /// The best FAQ match was not confident enough.
    LowConfidence,
    /// The operator said the answer did not resolve the question.
    NotResolved,
    /// The operator asked for a person ("人工", "human").
    OperatorAsked,
    /// A staff member took or assigned the session.
    Staff,
    /// A closed session was reopened.
    Reopened,
    /// The operator opened the session with an attachment alone, and the team's policy
    /// hands such sessions to a person (added in version 2 of `TransferredToHuman`).
    AttachmentOnly,
}

spelled!(TransferReason {
    LowConfidence => "low_confidence",
    NotResolved => "not_resolved",
    OperatorAsked => "operator_asked",
    Staff => "staff",
    Reopened => "reopened",
    AttachmentOnly => "attachment_only",
});

/// Whether a transfer was decided by policy or by a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    /// By policy (confidence, feedback, the operator's request).
    Auto,
    /// By staff.
    Manual,
}

spelled!(TransferMode { Auto => "auto", Manual => "manual" });

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The operator confirmed the answer resolved the question.
    Resolved,
    /// No answer after the re-confirmation.
    Stale,
    /// Closed by staff.
    Manual,
    /// Closed by the operator.
    ByOperator,
}

spelled!(CloseReason { Resolved => "resolved", Stale => "stale", Manual => "manual", ByOperator => "by_operator" });

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimerPurpose {
    /// Ask "do you still need help?" after inactivity.
    Reconfirm,
    /// Close the session when the re-confirmation got no answer.
    AutoClose,
    /// Take the next step of the escalation policy unless the hand-over was acknowledged.
    Escalate,
    /// Record a missed acknowledgment target unless it was met.
    AcknowledgeTarget,
    /// Record a missed first-reply target unless it was met.
    FirstReplyTarget,
    /// Record a missed resolution target unless the session was closed.
    ResolutionTarget,
}

spelled!(TimerPurpose {
    Reconfirm => "reconfirm",
    AutoClose => "auto_close",
    Escalate => "escalate",
    AcknowledgeTarget => "acknowledge_target",
    FirstReplyTarget => "first_reply_target",
    ResolutionTarget => "resolution_target",
});

/// Who an outbound message is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Recipient {
    /// The operator of the conversation.
    Operator(UserId),
    /// An engineer (e.g. the assignee of a transfer).
    Staff(StaffId),
}

/// Why an outbound message was sent; channels use it to pick a format (e.g. answers carry
/// "resolved / not resolved" buttons).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboundPurpose {
    /// Asking for a required field.
    InfoPrompt,
    /// An FAQ answer.
    Answer {
        /// The FAQ answered from.
        faq_id: FaqId,
    },
    /// Numbered choices to clarify the question.
    Clarify,
    /// Telling the operator a person will help.
    TransferNotice,
    /// Telling the assignee about a session handed to them.
    AssigneeNotice,
    /// A person's reply relayed to the operator.
    HumanReply,
    /// "Do you still need help?"
    Reconfirm,
    /// The session was closed.
    ClosingNotice,
    /// Telling someone an unacknowledged hand-over escalated to them.
    Escalation,
}

/// One ranked FAQ candidate with the evidence behind its rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MatchCandidate {
    /// The FAQ.
    pub faq_id: FaqId,
    /// Its question, as it read when matched.
    pub question: String,
    /// Its answer, as it read when matched (so an answer can be audited exactly).
    pub answer: String,
    /// Its category, used to route transfers.
    pub category: Option<String>,
    /// The fused score used for ranking.
    pub score: f32,
    /// The keyword engine's score, when it ranked this candidate.
    pub keyword_score: Option<f32>,
    /// The semantic engine's score, when it ranked this candidate.
    pub semantic_score: Option<f32>,
}

/// What the answer policy decided for a question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MatchDecision {
    /// Confident: answer from this FAQ.
    Answer {
        /// The FAQ answered from.
        faq_id: FaqId,
    },
    /// Unsure between a few: offer them as numbered choices.
    Clarify {
        /// The offered FAQs, in the order shown.
        choices: Vec<FaqId>,
    },
    /// Not confident at all: hand to a person.
    Transfer,
}

// ---------------------------------------------------------------------------------------
// Conversation events
// ---------------------------------------------------------------------------------------

/// A new session started in the conversation (the first message, or one after a close).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionOpened {
    /// The new session.
    pub session_id: Uuid,
    /// The operator.
    pub user: UserId,
    /// The channel the first message came through.
    pub channel: Channel,
}

/// An operator's message, recorded once per inbound message id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageReceived {
    /// The session it belongs to.
    pub session_id: Uuid,
    /// The channel's id of the message, for deduplication.
    pub message_id: MessageId,
    /// The text.
    pub text: String,
    /// The channel it came through (added in version 2; version 1 was WeCom only).
    pub channel: Channel,
}

/// The engine asked the operator for a field the team requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InfoRequested {
    /// The session.
    pub session_id: Uuid,
    /// The field's key (e.g. `activity_id`).
    pub field: String,
    /// The question that waits for the field, matched once everything is collected.
    pub question: String,
}

/// A required field was extracted from the operator's words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InfoProvided {
    /// The session.
    pub session_id: Uuid,
    /// The field's key.
    pub field: String,
    /// The extracted value.
    pub value: String,
}

/// The question is complete and waits for the answering port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MatchRequested {
    /// The session.
    pub session_id: Uuid,
    /// The message that completed the question; the match result must name it.
    pub message_id: MessageId,
    /// The text to match.
    pub query: String,
}

/// The answering port ranked FAQs for a question and the policy decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaqMatched {
    /// The session.
    pub session_id: Uuid,
    /// The message whose question was matched.
    pub message_id: MessageId,
    /// The text matched.
    pub query: String,
    /// Ranked candidates with all scores, so thresholds can be replayed later.
    pub candidates: Vec<MatchCandidate>,
    /// The calibrated confidence in the first candidate, in `[0, 1]`.
    pub confidence: f32,
    /// The policy's decision.
    pub decision: MatchDecision,
    /// Which engine (and model version) produced the ranking.
    pub engine: String,
    /// The generative model that reworded the answer, when one did (absent: the FAQ's own
    /// words were sent). Added within version 1; older events lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rephrased_by: Option<String>,
}

/// The operator picked one of the offered choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChoiceSelected {
    /// The session.
    pub session_id: Uuid,
    /// The 1-based number the operator replied with.
    pub choice: u8,
    /// The FAQ behind that number.
    pub faq_id: FaqId,
}

/// An outbound message, recorded before it is sent so that nothing is lost or sent twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnswerQueued {
    /// The session.
    pub session_id: Uuid,
    /// The idempotency key of the delivery.
    pub outbound_id: Uuid,
    /// Who receives it.
    pub to: Recipient,
    /// Why it is sent.
    pub purpose: OutboundPurpose,
    /// The text.
    pub text: String,
    /// The channel to send it through.
    pub channel: Channel,
}

/// The channel accepted an outbound message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnswerDelivered {
    /// The session.
    pub session_id: Uuid,
    /// The delivered message.
    pub outbound_id: Uuid,
    /// Which attempt succeeded (1-based).
    pub attempt: u32,
}

/// A delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryFailed {
    /// The session.
    pub session_id: Uuid,
    /// The message that failed.
    pub outbound_id: Uuid,
    /// Which attempt failed (1-based).
    pub attempt: u32,
    /// The channel's error, without message text.
    pub error: String,
    /// True when no further attempt will be made.
    pub gave_up: bool,
}

/// The operator said whether an answer resolved the question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FeedbackGiven {
    /// The session.
    pub session_id: Uuid,
    /// Resolved or not.
    pub resolved: bool,
    /// The FAQ the feedback is about.
    pub faq_id: FaqId,
}

/// The session was handed to a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TransferredToHuman {
    /// The session.
    pub session_id: Uuid,
    /// By policy or by staff.
    pub mode: TransferMode,
    /// Why.
    pub reason: TransferReason,
    /// The category used for routing.
    pub category: Option<String>,
    /// Who has it now (none when the roster has nobody for the category).
    pub assignee: Option<StaffId>,
    /// Who caused the transfer.
    pub by: Actor,
}

/// Someone asked for a group chat between the operator and the on-call engineers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GroupChatRequested {
    /// The session.
    pub session_id: Uuid,
    /// Who asked.
    pub by: Actor,
    /// The operator to add.
    pub operator: UserId,
    /// The engineers to add.
    pub staff: Vec<StaffId>,
}

/// The channel created the requested group chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GroupChatCreated {
    /// The session.
    pub session_id: Uuid,
    /// The channel's chat id.
    pub chat_id: String,
}

/// A person replied to the operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HumanReplied {
    /// The session.
    pub session_id: Uuid,
    /// Who replied.
    pub staff: StaffId,
    /// The reply.
    pub text: String,
}

/// The assignee took the hand-over: the escalation stops and the acknowledgment target is
/// met. A reply, a reassignment or a close stops the escalation as well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HandoverAcknowledged {
    /// The session.
    pub session_id: Uuid,
    /// Who acknowledged.
    pub by: StaffId,
}

/// An escalation step was taken: the people notified (the group chat is requested beside).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EscalationStepTaken {
    /// The session.
    pub session_id: Uuid,
    /// The step's position in the team's policy, from 0.
    pub step: u32,
    /// Who was notified.
    pub notified: Vec<StaffId>,
}

/// A response target passed unmet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResponseTargetMissed {
    /// The session.
    pub session_id: Uuid,
    /// Which target.
    pub target: TargetKind,
    /// When it fell due.
    pub due_at: DateTime<Utc>,
    /// Who had the session then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<StaffId>,
}

/// Staff noted something on the session (not shown to the operator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RemarkAdded {
    /// The session.
    pub session_id: Uuid,
    /// Who wrote it.
    pub author: StaffId,
    /// The remark.
    pub text: String,
}

/// Staff moved the session to another status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusChanged {
    /// The session.
    pub session_id: Uuid,
    /// The status before.
    pub from: SessionStatus,
    /// The status after.
    pub to: SessionStatus,
    /// Who changed it.
    pub by: Actor,
}

/// A timer was set; the timer service fires it when due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimerScheduled {
    /// The session.
    pub session_id: Uuid,
    /// The timer's id, on which firing is deduplicated.
    pub timer_id: Uuid,
    /// What it is for.
    pub purpose: TimerPurpose,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// The stream version when it was scheduled.
    pub scheduled_at_version: u64,
}

/// A pending timer is no longer wanted (the conversation moved on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimerCancelled {
    /// The session.
    pub session_id: Uuid,
    /// The cancelled timer.
    pub timer_id: Uuid,
}

/// A timer came due and the engine acted on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimerFired {
    /// The session.
    pub session_id: Uuid,
    /// The timer.
    pub timer_id: Uuid,
    /// What it was for.
    pub purpose: TimerPurpose,
}

/// The operator was asked whether they still need help.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReconfirmSent {
    /// The session.
    pub session_id: Uuid,
}

/// The session ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionClosed {
    /// The session.
    pub session_id: Uuid,
    /// Why.
    pub reason: CloseReason,
    /// Who closed it.
    pub by: Actor,
}

/// A closed session was opened again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionReopened {
    /// The session.
    pub session_id: Uuid,
    /// Who reopened it.
    pub by: Actor,
}

// ---------------------------------------------------------------------------------------
// FAQ catalog events
// ---------------------------------------------------------------------------------------

/// An FAQ entry joined the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaqAdded {
    /// The entry.
    pub faq_id: FaqId,
    /// The canonical question.
    pub question: String,
    /// The answer sent to operators.
    pub answer: String,
    /// The category, used to route transfers to the right on-call engineer.
    pub category: Option<String>,
    /// Other wordings of the question.
    #[serde(default)]
    pub paraphrases: Vec<String>,
}

/// An FAQ entry was rewritten (the whole entry is replaced).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaqUpdated {
    /// The entry.
    pub faq_id: FaqId,
    /// The canonical question.
    pub question: String,
    /// The answer.
    pub answer: String,
    /// The category.
    pub category: Option<String>,
    /// Other wordings of the question.
    #[serde(default)]
    pub paraphrases: Vec<String>,
}

/// An FAQ entry left the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaqRemoved {
    /// The entry.
    pub faq_id: FaqId,
}

/// An operator's wording was learned as a paraphrase of an FAQ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaqParaphraseAdded {
    /// The entry.
    pub faq_id: FaqId,
    /// The new wording.
    pub text: String,
    /// The session that confirmed it, when learned from one.
    pub session_id: Option<Uuid>,
}

/// A question Switchboard could not answer was kept as a candidate FAQ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaqCandidateHarvested {
    /// The candidate.
    pub candidate_id: Uuid,
    /// The operator's wording.
    pub query: String,
    /// The session it came from.
    pub session_id: Uuid,
}

/// A candidate became an FAQ entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaqCandidateApproved {
    /// The candidate.
    pub candidate_id: Uuid,
    /// The entry it became (or was merged into).
    pub faq_id: FaqId,
}

/// A candidate was dismissed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaqCandidateRejected {
    /// The candidate.
    pub candidate_id: Uuid,
}

// ---------------------------------------------------------------------------------------
// Team events
// ---------------------------------------------------------------------------------------

/// A team was onboarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TeamCreated {
    /// The team's display name.
    pub name: String,
    /// The team it was cloned from, when it was onboarded from a template, so an audit can
    /// tell where its FAQ, roster and policies came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloned_from: Option<TeamId>,
}

/// A team's behaviour was (re)configured. Version 2 may carry a target precision
/// (`answer_policy.target`); version 1 never did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TeamConfigured {
    /// The complete settings in force from now on.
    pub settings: TeamSettings,
}

/// A team's on-call roster changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RosterUpdated {
    /// The complete roster in force from now on.
    pub roster: Roster,
}

/// A team's on-call set-up (schedules, calendar, escalation, targets) changed; from now on
/// it, not the roster, says who is on call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OnCallConfigured {
    /// The complete set-up in force from now on.
    pub on_call: OnCallSettings,
}

/// Someone covers a layer for a span of time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OnCallOverrideAdded {
    /// The override.
    pub cover: OnCallOverride,
}

/// An override was taken back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OnCallOverrideRemoved {
    /// The override.
    pub override_id: Uuid,
}

/// Someone will be off for a span of time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimeOffAdded {
    /// The time off.
    pub time_off: TimeOff,
}

/// A time off was taken back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimeOffRemoved {
    /// The time off.
    pub time_off_id: Uuid,
}

/// Someone marked themselves away or back; routing passes over people who are away.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AvailabilityChanged {
    /// Who.
    pub staff: StaffId,
    /// Away (true) or back (false).
    pub away: bool,
    /// When the person said so (a WeCom click's own time), so a say-so delivered late never
    /// undoes a later one; absent in events recorded before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// How a team's sessions behave. Defaults suit a team that has just been onboarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TeamSettings {
    /// Fields to collect before matching (e.g. the activity id).
    #[schemars(length(max = crate::bounds::MAX_REQUIRED_FIELDS))]
    pub required_fields: Vec<RequiredField>,
    /// Seconds of silence before asking "do you still need help?".
    #[schemars(range(min = 1, max = crate::bounds::MAX_TIMER_SECS))]
    pub reconfirm_after_secs: u64,
    /// Seconds after the re-confirmation before closing as stale.
    #[schemars(range(min = 1, max = crate::bounds::MAX_TIMER_SECS))]
    pub close_after_secs: u64,
    /// Confidence thresholds of the answer policy.
    pub answer_policy: AnswerPolicy,
    /// Words with which an operator asks for a person.
    #[schemars(length(max = crate::bounds::MAX_HUMAN_KEYWORDS), inner(length(max = crate::bounds::MAX_KEYWORD_CHARS)))]
    pub human_keywords: Vec<String>,
    /// The longest message accepted, in characters.
    #[schemars(range(min = 1, max = crate::bounds::MAX_MESSAGE_CHARS))]
    pub max_message_chars: u32,
    /// The texts Switchboard sends.
    pub texts: Texts,
    /// Open a group chat with the operator and the assignee whenever a session is handed to
    /// a person (the policy trigger of the one-click group chat).
    pub group_chat_on_transfer: bool,
    /// How the team's admin console behaves.
    pub console: ConsoleSettings,
    /// What the team accepts as attachments and how long it keeps them (added in version 3
    /// of `TeamConfigured`).
    pub attachments: AttachmentSettings,
}

impl Default for TeamSettings {
    fn default() -> Self {
        Self {
            required_fields: Vec::new(),
            reconfirm_after_secs: 30 * 60,
            close_after_secs: 30 * 60,
            answer_policy: AnswerPolicy::default(),
            human_keywords: ["人工", "转人工", "人工客服", "human", "agent", "person"]
                .into_iter()
                .map(String::from)
                .collect(),
            max_message_chars: 2000,
            texts: Texts::default(),
            group_chat_on_transfer: false,
            console: ConsoleSettings::default(),
            attachments: AttachmentSettings::default(),
        }
    }
}

/// What a team accepts as attachments and how long it keeps their bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AttachmentSettings {
    /// The largest attachment accepted, in bytes; a larger one is recorded, not stored, and
    /// staff see why. The instance may cap it lower.
    #[schemars(range(min = 1, max = crate::bounds::MAX_ATTACHMENT_BYTES))]
    pub max_bytes: u64,
    /// Days an attachment's bytes are kept, counted from the last time the same bytes were
    /// sent; afterwards they are deleted and the events say so. None keeps them.
    #[schemars(range(min = 1, max = crate::bounds::MAX_RETENTION_DAYS))]
    pub retention_days: Option<u32>,
    /// What a session opened by an attachment alone does.
    pub when_alone: AttachmentAlone,
}

impl Default for AttachmentSettings {
    fn default() -> Self {
        Self { max_bytes: 10 * 1024 * 1024, retention_days: Some(90), when_alone: AttachmentAlone::AskDescription }
    }
}

/// What a session opened by an attachment alone does: an attachment is never matched
/// against the FAQ, so there is no question yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentAlone {
    /// Ask the operator to describe the problem in words (`texts.describe_attachment`).
    AskDescription,
    /// Hand the session to a person at once.
    HandOver,
}

spelled!(AttachmentAlone { AskDescription => "ask_description", HandOver => "hand_over" });

/// How a team's admin console behaves, cloned with the rest of a template team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// The language the console opens in (each person can switch).
    pub language: ConsoleLanguage,
    /// Sessions shown per page of the session list.
    #[schemars(range(min = 1, max = crate::bounds::MAX_PAGE_SIZE))]
    pub page_size: u32,
    /// How often the session list looks for new sessions, in seconds.
    #[schemars(range(min = 1, max = crate::bounds::MAX_REFRESH_SECS))]
    pub refresh_secs: u32,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self { language: ConsoleLanguage::Zh, page_size: 50, refresh_secs: 5 }
    }
}

/// The languages the console is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleLanguage {
    /// Simplified Chinese.
    Zh,
    /// English.
    En,
}

spelled!(ConsoleLanguage { Zh => "zh", En => "en" });

/// A field a team needs before a question can be answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequiredField {
    /// The key the value is stored under (e.g. `activity_id`).
    #[schemars(length(min = 1, max = crate::bounds::MAX_FIELD_KEY_CHARS))]
    pub key: String,
    /// What to ask the operator.
    #[schemars(length(max = crate::bounds::MAX_TEXT_CHARS))]
    pub prompt: String,
    /// A regular expression that finds the value in a message; its first capture group
    /// (or the whole match) is the value.
    #[schemars(length(max = crate::bounds::MAX_TEXT_CHARS))]
    pub pattern: String,
}

/// Confidence thresholds: answer at or above `answer_at`, offer choices at or above
/// `clarify_at`, otherwise transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AnswerPolicy {
    /// Confidence at or above which the first candidate is answered.
    #[schemars(range(min = 0, max = 1))]
    pub answer_at: f32,
    /// Confidence at or above which choices are offered (at most `answer_at`).
    #[schemars(range(min = 0, max = 1))]
    pub clarify_at: f32,
    /// How many choices to offer.
    #[schemars(range(max = crate::bounds::MAX_CHOICES))]
    pub max_choices: u8,
    /// Set when `answer_at` was derived from a target precision of automatic answers; none
    /// when `answer_at` was set as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<AnswerTarget>,
}

impl Default for AnswerPolicy {
    /// Fits the default model's calibration: `switchboard eval --tune` puts the best answer
    /// threshold for E5-small on the lcqmc dev questions at 0.38; the clarify band below it
    /// offers choices before a person is called.
    fn default() -> Self {
        Self { answer_at: 0.4, clarify_at: 0.2, max_choices: 3, target: None }
    }
}

/// A target precision of automatic answers and the answer threshold derived from it, with
/// what it was derived from, so the settings say why the threshold is what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerTarget {
    /// The share of automatic answers that should be right.
    #[schemars(range(min = crate::bounds::MIN_TARGET_PRECISION, max = crate::bounds::MAX_TARGET_PRECISION))]
    pub precision: f32,
    /// The answer threshold derived (the policy's `answer_at` while the target is set).
    #[schemars(range(min = 0, max = 1))]
    pub answer_at: f32,
    /// What it was derived from.
    pub basis: TargetBasis,
    /// How many of them: the team's answers with the operators' verdict (`outcomes`), or the
    /// team's recorded questions with candidates (`calibration`).
    pub count: u64,
    /// The precision expected at `answer_at` on that basis.
    #[schemars(range(min = 0, max = 1))]
    pub expected_precision: f32,
    /// The share of the team's recorded questions (all of them) that `answer_at` answers.
    #[schemars(range(min = 0, max = 1))]
    pub coverage: f32,
}

/// What an answer threshold was derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetBasis {
    /// The team's own outcomes: its answers the operators confirmed or refuted.
    Outcomes,
    /// The calibrated confidence (the probability that the first candidate is right) over
    /// the team's recorded questions, while it has too few outcomes.
    Calibration,
}

/// The texts Switchboard sends, per team so each can use its own voice and language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Texts {
    /// Appended to answers: how to give feedback.
    #[schemars(length(max = crate::bounds::MAX_TEXT_CHARS))]
    pub feedback_hint: String,
    /// Heads the numbered choices.
    #[schemars(length(max = crate::bounds::MAX_TEXT_CHARS))]
    pub clarify_intro: String,
    /// Told to the operator on a transfer.
    #[schemars(length(max = crate::bounds::MAX_TEXT_CHARS))]
    pub transfer_notice: String,
    /// Told to the operator when nobody is on call for the category.
    #[schemars(length(max = crate::bounds::MAX_TEXT_CHARS))]
    pub nobody_on_call: String,
    /// The re-confirmation question.
    #[schemars(length(max = crate::bounds::MAX_TEXT_CHARS))]
    pub reconfirm: String,
    /// Told when a session is closed as stale.
    #[schemars(length(max = crate::bounds::MAX_TEXT_CHARS))]
    pub closed_stale: String,
    /// Told when a session is closed as resolved.
    #[schemars(length(max = crate::bounds::MAX_TEXT_CHARS))]
    pub closed_resolved: String,
    /// Told on a transfer outside working hours; `{back_at}` is when working hours resume.
    #[schemars(length(max = crate::bounds::MAX_TEXT_CHARS))]
    pub after_hours: String,
    /// Asked when a session opens with an attachment alone.
    #[schemars(length(max = crate::bounds::MAX_TEXT_CHARS))]
    pub describe_attachment: String,
}

impl Default for Texts {
    fn default() -> Self {
        Self {
            feedback_hint: "回复「解决了」或「没解决」告诉我们结果。Reply \"resolved\" or \"not resolved\".".into(),
            clarify_intro: "您想问的是哪一个？请回复序号。Which of these did you mean? Reply with a number.".into(),
            transfer_notice: "已为您转接值班同学 {assignee}，请稍候。A person ({assignee}) will help you shortly.".into(),
            nobody_on_call: "已为您转人工，值班同学会尽快回复。A person will help you shortly.".into(),
            reconfirm: "请问问题解决了吗？还需要帮助请直接回复。Do you still need help? Just reply.".into(),
            closed_stale: "会话因长时间未回复已关闭，有问题随时再来。This session was closed after no reply; write again any time.".into(),
            closed_resolved: "很高兴帮到您！Glad we could help!".into(),
            after_hours: "现在是非工作时间，值班同学将于 {back_at} 回复您。It is outside working hours; a person will reply from {back_at}.".into(),
            describe_attachment: "收到附件。请用一句话描述遇到的问题，以便我们更快帮您。We got your attachment: please describe the problem in a sentence.".into(),
        }
    }
}

/// The on-call roster: engineers per category, rotating weekly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Roster {
    /// Engineers per category, in rotation order.
    #[schemars(transform = crate::oncall::category_map::<{ crate::bounds::MAX_PARTICIPANTS }>)]
    pub categories: BTreeMap<String, Vec<StaffId>>,
    /// Engineers for questions with no category or an unlisted one.
    #[schemars(length(max = crate::bounds::MAX_PARTICIPANTS))]
    pub default: Vec<StaffId>,
}

/// What an access key lets its holder do in one team; each role can do everything the
/// ones before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessRole {
    /// Reads sessions, conversations, the FAQ, candidates, statistics and settings.
    Viewer,
    /// Also works on sessions (remarks, replies, transfers, status, group chats), writes
    /// operators' messages for an API channel, and maintains the FAQ and its candidates.
    Agent,
    /// Also changes the team's settings, roster, WeCom application and access keys.
    Admin,
}

spelled!(AccessRole { Viewer => "viewer", Agent => "agent", Admin => "admin" });

/// An access key to a team's API and console was issued to a person. Only a digest of the
/// token is recorded: the token itself is shown once to whoever issued it and never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessKeyIssued {
    /// The key, for listing and revoking it.
    pub key_id: Uuid,
    /// What the key is for ("Wang Fang's laptop", "CI").
    pub label: String,
    /// What the key allows.
    pub role: AccessRole,
    /// Who acts when the key is used: the staff id recorded on remarks, transfers and closes.
    pub staff: StaffId,
    /// Lower-case hex SHA-256 of the token.
    pub token_sha256: String,
}

/// An access key stopped working.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessKeyRevoked {
    /// The key.
    pub key_id: Uuid,
}

/// A team's WeCom application was set up (or removed) from the console. Secrets are not
/// recorded: the token, the EncodingAESKey and the application secret are named by
/// reference (an environment variable, or a key of the instance's secret file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WecomConfigured {
    /// The application; none when it was removed.
    pub wecom: Option<WecomSettings>,
}

/// A team's WeCom application as recorded in its stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WecomSettings {
    /// The enterprise's CorpID.
    pub corp_id: String,
    /// The application's AgentId.
    pub agent_id: u64,
    /// The receive id decrypted callbacks must carry; the CorpID when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_id: Option<String>,
    /// Where the callback Token is kept.
    pub token_ref: String,
    /// Where the callback EncodingAESKey is kept.
    pub encoding_aes_key_ref: String,
    /// Where the application secret is kept.
    pub secret_ref: String,
    /// The WeCom API address; WeCom's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
    /// Where the console is reachable, for the link posted in group chats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_url: Option<String>,
    /// Sent when an operator opens the application outside a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
}

/// A team registered (or, with the same id, changed) an endpoint that receives its events.
/// The signing secret is not recorded, only where it is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookRegistered {
    /// The endpoint, for changing, removing and listing its deliveries.
    pub webhook_id: Uuid,
    /// What the endpoint is for ("CRM sync").
    pub label: String,
    /// Where deliveries are POSTed (http:// or https://).
    pub url: String,
    /// The event types delivered; empty for every type.
    pub event_types: Vec<String>,
    /// Where the HMAC-SHA256 signing secret is kept (an environment variable, or a key of
    /// the instance's secret file).
    pub secret_ref: String,
}

/// A team's webhook endpoint stopped receiving events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookRemoved {
    /// The endpoint.
    pub webhook_id: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one spelling is the serde name, and reads back.
    fn spelled_as_serialized<T>(all: &[T])
    where
        T: Copy + Serialize + std::fmt::Display + std::str::FromStr + PartialEq + std::fmt::Debug,
        T::Err: std::fmt::Debug,
    {
        for value in all {
            let serialized = serde_json::to_value(value).unwrap_or_default();
            assert_eq!(serialized.as_str(), Some(value.to_string().as_str()), "{value:?}");
            assert_eq!(value.to_string().parse::<T>().ok(), Some(*value));
        }
    }

    #[test]
    fn enums_are_spelled_once_as_serde_spells_them() {
        spelled_as_serialized(SessionStatus::ALL);
        spelled_as_serialized(CloseReason::ALL);
        spelled_as_serialized(AccessRole::ALL);
        spelled_as_serialized(Channel::ALL);
        spelled_as_serialized(TransferReason::ALL);
        spelled_as_serialized(TransferMode::ALL);
        spelled_as_serialized(TimerPurpose::ALL);
        spelled_as_serialized(ConsoleLanguage::ALL);
        spelled_as_serialized(crate::oncall::ShiftUnit::ALL);
        spelled_as_serialized(crate::oncall::Weekday::ALL);
        spelled_as_serialized(crate::oncall::ClockKind::ALL);
        spelled_as_serialized(crate::oncall::EscalationTarget::ALL);
        spelled_as_serialized(crate::oncall::TargetKind::ALL);
        assert_eq!(SessionStatus::ALL.len(), 8);
        assert!("With_Human".parse::<SessionStatus>().is_err());
        assert_eq!("boss".parse::<AccessRole>().unwrap_err().to_string(), "\"boss\" is not a value of AccessRole",);
    }
}
