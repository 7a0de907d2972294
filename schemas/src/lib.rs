//! The Switchboard event contract.
//!
//! Everything Switchboard knows is an event in a stream. This crate owns the shape of those
//! events so that the engine, every projection, every backend and every outside subscriber
//! agree on one contract:
//!
//! - [`ids`]: newtype identifiers (teams, users, streams, FAQs…), validated once at the edge.
//! - [`event`]: the event types of the three aggregates (conversation, FAQ catalog, team).
//! - [`attachment`]: what an operator's screenshots and files are (kinds, sniffed media
//!   types, content hashes) and the events that record them, never their bytes.
//! - [`envelope`]: the stored form (envelope + JSON payload), decoding with upcasting, and
//!   the published form ([`PublishedEvent`]) webhooks and subscribers receive.
//! - [`oncall`]: the documents of a team's on-call set-up (schedules, calendar, escalation).
//! - [`upcast`]: how older schema versions are read as the current type.
//! - [`channel`]: the WebSocket chat channel's frames (a published contract too).
//! - [`json_schema`]: the generated JSON Schema of every event (checked into `schemas/json/`).
//!
//! This crate has no I/O and no async runtime.

pub mod attachment;
pub mod bounds;
pub mod channel;
pub mod envelope;
pub mod event;
pub mod ids;
pub mod json_schema;
pub mod oncall;
pub mod upcast;

pub use envelope::{DecodeError, NewEvent, PublishedEvent, RecordedEvent};
pub use event::{
    ConversationEvent, Event, FaqEvent, TeamEvent, CONVERSATION_EVENT_TYPES, FAQ_EVENT_TYPES, TEAM_EVENT_TYPES,
};
pub use ids::{AggregateKind, FaqId, IdError, MessageId, StaffId, StreamId, TeamId, UserId};
