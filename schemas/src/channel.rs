//! The WebSocket chat channel's protocol: the JSON frames a dialog UI (the bundled widget
//! or a team's own) exchanges with Switchboard over `/api/v1/teams/{team}/channel/ws`.
//!
//! It is a published contract like the event envelope: the generated JSON Schemas are in
//! `schemas/json/channel/`, and a change that breaks old clients needs a new
//! [`PROTOCOL_VERSION`]. The operator sees their own conversation only: answers,
//! clarification choices, feedback prompts, transfers and closes, never staff remarks,
//! match scores or notices meant for engineers.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{CloseReason, SessionStatus, TransferReason};
use crate::{FaqId, StaffId};

/// The protocol version `ready` announces; clients check it before relying on a frame.
pub const PROTOCOL_VERSION: u16 = 1;

/// What a client sends, one JSON object per text frame, told apart by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// The first frame of every connection: who is talking and where to resume.
    Hello {
        /// A channel token the team issued for this user (`POST .../channel/tokens`).
        token: String,
        /// The last conversation version the client has shown; the server sends every
        /// operator-visible event after it. Absent or 0 on a first connection: the whole
        /// conversation is sent.
        #[serde(default)]
        resume_after: u64,
    },
    /// The operator's message.
    Message {
        /// The client's id of the message (1–64 of `A-Z a-z 0-9 - _`); sending it again
        /// (after a reconnect) records it once.
        client_id: String,
        /// The text.
        text: String,
    },
    /// The operator picked one of the numbered choices of a `clarify` reply.
    Choose {
        /// The client's id of this pick, deduplicated like a message's.
        client_id: String,
        /// The 1-based number of the choice.
        choice: u8,
    },
    /// The operator answered the feedback prompt of an answer.
    Feedback {
        /// Echoed in the answer, to match it to this frame.
        #[serde(default)]
        client_id: Option<String>,
        /// Whether the answer resolved the question.
        resolved: bool,
    },
    /// The operator asks for a person.
    Human {
        /// Echoed in the answer.
        #[serde(default)]
        client_id: Option<String>,
    },
    /// The operator closes the session.
    Close {
        /// Echoed in the answer.
        #[serde(default)]
        client_id: Option<String>,
    },
    /// Keeps idle proxies from dropping the connection; answered with `pong`.
    Ping {
        /// Echoed in the answer.
        #[serde(default)]
        client_id: Option<String>,
    },
}

/// What the server sends, one JSON object per text frame, told apart by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The hello was accepted; the missed events follow.
    Ready {
        /// [`PROTOCOL_VERSION`].
        protocol: u16,
        /// The team.
        team: String,
        /// The user the token names.
        user: String,
        /// The conversation's version now (0 before the first message).
        version: u64,
        /// When the token stops being accepted; the connection closes then (code 4401).
        token_expires_at: DateTime<Utc>,
    },
    /// Something visible to the operator happened in the conversation.
    Event {
        /// The conversation version of the event: pass the last one shown as
        /// `resume_after` when reconnecting.
        version: u64,
        /// The event's id (unique; a client may deduplicate on it).
        event_id: Uuid,
        /// When it happened.
        at: DateTime<Utc>,
        /// The session's status after it.
        status: SessionStatus,
        /// What happened.
        item: OperatorItem,
    },
    /// A command frame was recorded (or was a repeat of one already recorded).
    Accepted {
        /// The frame's `client_id`.
        client_id: Option<String>,
        /// The conversation version after it.
        version: u64,
        /// False when the frame repeated one already recorded, so nothing changed.
        recorded: bool,
    },
    /// A frame was refused; the connection stays open and nothing was recorded.
    Error {
        /// A stable machine-readable code.
        code: String,
        /// What went wrong and what to do.
        message: String,
        /// The refused frame's `client_id`, when it had one.
        client_id: Option<String>,
    },
    /// The answer to `ping`.
    Pong {
        /// The ping's `client_id`.
        client_id: Option<String>,
    },
}

/// One operator-visible thing in the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OperatorItem {
    /// A new session started (the first message, or one after a close).
    SessionOpened {
        /// The session.
        session_id: Uuid,
    },
    /// The operator's own message, as recorded (also those sent from another tab).
    OperatorMessage {
        /// The session.
        session_id: Uuid,
        /// The `client_id` it was sent with, when it came through this channel.
        client_id: Option<String>,
        /// The text.
        text: String,
    },
    /// Switchboard (or a person through it) wrote to the operator.
    Reply {
        /// The session.
        session_id: Uuid,
        /// The message's id.
        outbound_id: Uuid,
        /// Why it was sent, which decides what a UI offers with it.
        purpose: ReplyPurpose,
        /// The text, ready to show.
        text: String,
        /// The FAQ answered from (for `answer`).
        faq_id: Option<FaqId>,
        /// The numbered choices to offer as buttons (for `clarify`; empty otherwise).
        choices: Vec<OfferedChoice>,
        /// True when the UI should offer "resolved / not resolved" (an answer).
        asks_feedback: bool,
    },
    /// The operator picked a choice.
    ChoiceSelected {
        /// The number picked.
        choice: u8,
        /// The FAQ behind it.
        faq_id: FaqId,
    },
    /// The operator gave feedback on an answer.
    FeedbackGiven {
        /// Resolved or not.
        resolved: bool,
    },
    /// A person has the session now.
    Transferred {
        /// Why.
        reason: TransferReason,
        /// Who has it (none when nobody is on call for its category).
        assignee: Option<StaffId>,
    },
    /// Staff moved the session to another status.
    StatusChanged {
        /// The status after.
        to: SessionStatus,
    },
    /// A group chat with the engineers was created in WeCom.
    GroupChatCreated,
    /// The session ended.
    SessionClosed {
        /// Why.
        reason: CloseReason,
    },
    /// The closed session was opened again.
    SessionReopened {
        /// The session.
        session_id: Uuid,
    },
}

/// Why a reply was sent, as the operator's UI needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyPurpose {
    /// Asking for a detail the team needs.
    InfoPrompt,
    /// An FAQ answer.
    Answer,
    /// Numbered choices to clarify the question.
    Clarify,
    /// A person will help.
    TransferNotice,
    /// A person's reply.
    HumanReply,
    /// "Do you still need help?"
    Reconfirm,
    /// The session was closed.
    ClosingNotice,
}

/// One numbered choice of a `clarify` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OfferedChoice {
    /// The number to send back in `choose`.
    pub number: u8,
    /// The FAQ's question, as the button's label.
    pub question: String,
    /// The FAQ.
    pub faq_id: FaqId,
}

/// Close codes of the channel, beyond the standard ones (1000 normal, 1009 frame too big).
pub mod close_code {
    /// The first frame was not a valid `hello`, or a frame was not valid JSON at all.
    pub const BAD_HELLO: u16 = 4400;
    /// The token is missing, forged, of another team, expired, or its key was rotated: get
    /// a new token.
    pub const BAD_TOKEN: u16 = 4401;
    /// The team does not exist.
    pub const UNKNOWN_TEAM: u16 = 4404;
    /// No `hello` within the handshake time.
    pub const HELLO_TIMEOUT: u16 = 4408;
    /// No frame for the idle time (`http.channel_idle_timeout`); a page that pings stays open.
    pub const IDLE_TIMEOUT: u16 = 4410;
    /// The operator or the token already has as many open connections as allowed: close
    /// another tab first (retrying at once gets the same answer).
    pub const TOO_MANY_CONNECTIONS: u16 = 4429;
    /// The event log is unreachable; reconnect with `resume_after` later.
    pub const UNAVAILABLE: u16 = 4503;
}
