//! The stored form of events: an envelope around a JSON payload, and decoding (with
//! upcasting) back into typed events.
//!
//! Backends store and return [`RecordedEvent`]s without understanding payloads; decoding
//! happens once, above every backend, so all of them read old versions the same way.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{ConversationEvent, Event, FaqEvent, TeamEvent};
use crate::ids::{AggregateKind, StreamId, TeamId};
use crate::upcast::{upcast, UpcastError};

/// Tracing context carried by every event: which request it belongs to and what caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Causation {
    /// Shared by everything done for one outside request.
    pub correlation_id: Uuid,
    /// The event or request that directly caused this one.
    pub causation_id: Option<Uuid>,
}

impl Causation {
    /// A fresh chain started by an outside request.
    pub fn root(correlation_id: Uuid) -> Self {
        Self { correlation_id, causation_id: None }
    }
}

/// An event ready to append: encoded, with its id and metadata, not yet positioned.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The event's id (UUIDv7, so ids sort by creation time).
    pub event_id: Uuid,
    /// The type name.
    pub event_type: &'static str,
    /// The schema version the payload is written in.
    pub schema_version: u16,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Correlation and causation.
    pub causation: Causation,
    /// The payload.
    pub payload: serde_json::Value,
}

impl NewEvent {
    /// Encodes a typed event in its current schema version.
    pub fn encode(event: &Event, event_id: Uuid, occurred_at: DateTime<Utc>, causation: Causation) -> Self {
        let tagged = match event {
            Event::Conversation(e) => serde_json::to_value(e),
            Event::Faq(e) => serde_json::to_value(e),
            Event::Team(e) => serde_json::to_value(e),
        };
        // Serialising plain data structs into a Value cannot fail: every map key is a string.
        let payload = match tagged {
            Ok(serde_json::Value::Object(mut map)) => map.remove("data").unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        Self {
            event_id,
            event_type: event.event_type(),
            schema_version: event.schema_version(),
            occurred_at,
            causation,
            payload,
        }
    }
}

/// An event as stored: positioned in its stream and in the whole log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Position in the whole log (1-based, gap-free on the embedded store, increasing on all).
    pub position: u64,
    /// The stream.
    pub stream: StreamId,
    /// Version within the stream (1-based, gap-free).
    pub version: u64,
    /// The team the stream belongs to.
    pub team: TeamId,
    /// The event's id.
    pub event_id: Uuid,
    /// The commit (one decision's events) it was appended with.
    pub commit_id: Uuid,
    /// The type name.
    pub event_type: String,
    /// The schema version the payload was written in.
    pub schema_version: u16,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Shared by everything done for one outside request.
    pub correlation_id: Uuid,
    /// What directly caused it.
    pub causation_id: Option<Uuid>,
    /// The payload in `schema_version`.
    pub payload: serde_json::Value,
}

/// Why a stored event could not be read as a typed event. Carries the position so an
/// operator can find the row; the log itself is never changed by a failed read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The type name is not one of the stream's aggregate.
    #[error("event at position {position} has unknown type {event_type:?} for a {kind:?} stream")]
    UnknownType {
        /// Where.
        position: u64,
        /// The stored type.
        event_type: String,
        /// The stream's aggregate.
        kind: AggregateKind,
    },
    /// The schema version cannot be read (from a newer release, or no upcaster).
    #[error("event at position {position}: {source}")]
    Version {
        /// Where.
        position: u64,
        /// What is wrong with the version.
        #[source]
        source: UpcastError,
    },
    /// The payload does not match the type's schema.
    #[error("event at position {position} ({event_type} v{schema_version}) has a malformed payload: {source}")]
    Malformed {
        /// Where.
        position: u64,
        /// The stored type.
        event_type: String,
        /// The stored version.
        schema_version: u16,
        /// What serde found.
        #[source]
        source: serde_json::Error,
    },
}

impl RecordedEvent {
    /// Reads the payload as the current typed event, upcasting older schema versions.
    pub fn decode(&self) -> Result<Event, DecodeError> {
        let kind = self.stream.kind();
        let known = match kind {
            AggregateKind::Conversation => crate::CONVERSATION_EVENT_TYPES,
            AggregateKind::Faq => crate::FAQ_EVENT_TYPES,
            AggregateKind::Team => crate::TEAM_EVENT_TYPES,
        };
        let Some(&(_, current)) = known.iter().find(|(name, _)| *name == self.event_type) else {
            return Err(DecodeError::UnknownType {
                position: self.position,
                event_type: self.event_type.clone(),
                kind,
            });
        };
        let payload = upcast(&self.event_type, self.schema_version, current, self.payload.clone())
            .map_err(|source| DecodeError::Version { position: self.position, source })?;
        let tagged = serde_json::json!({ "type": self.event_type, "data": payload });
        let malformed = |source| DecodeError::Malformed {
            position: self.position,
            event_type: self.event_type.clone(),
            schema_version: self.schema_version,
            source,
        };
        Ok(match kind {
            AggregateKind::Conversation => {
                Event::Conversation(serde_json::from_value::<ConversationEvent>(tagged).map_err(malformed)?)
            }
            AggregateKind::Faq => Event::Faq(serde_json::from_value::<FaqEvent>(tagged).map_err(malformed)?),
            AggregateKind::Team => Event::Team(serde_json::from_value::<TeamEvent>(tagged).map_err(malformed)?),
        })
    }
}

/// The version of [`PublishedEvent`]'s layout. It changes only when a field is removed or
/// changes meaning; added fields keep it (receivers ignore fields they do not know).
pub const ENVELOPE_VERSION: u16 = 1;

/// An event as Switchboard publishes it to the outside (webhook bodies, in-house
/// subscribers): the envelope around the payload, whose schema is named by `event_type`
/// and `schema_version` (`schemas/json/<aggregate>/<event_type>.v<schema_version>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PublishedEvent {
    /// The layout of this envelope ([`ENVELOPE_VERSION`]).
    pub envelope_version: u16,
    /// The event's id (UUIDv7): receivers deduplicate by it.
    pub event_id: Uuid,
    /// The type name.
    pub event_type: String,
    /// The version of the payload's schema.
    pub schema_version: u16,
    /// The team the event belongs to.
    pub team: TeamId,
    /// The stream (`<team>.conversation.<user>`, `<team>.faq`, `<team>.team`).
    pub stream: StreamId,
    /// Version within the stream (1-based, gap-free): events of one stream are in order.
    pub version: u64,
    /// Position in the whole log (increasing; gap-free only on the embedded store).
    pub position: u64,
    /// The commit (one decision's events) it was appended with.
    pub commit_id: Uuid,
    /// When it happened (UTC).
    pub occurred_at: DateTime<Utc>,
    /// Shared by everything done for one outside request.
    pub correlation_id: Uuid,
    /// What directly caused it.
    pub causation_id: Option<Uuid>,
    /// The event's data.
    pub payload: serde_json::Value,
}

impl From<&RecordedEvent> for PublishedEvent {
    fn from(e: &RecordedEvent) -> Self {
        Self {
            envelope_version: ENVELOPE_VERSION,
            event_id: e.event_id,
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            team: e.team.clone(),
            stream: e.stream.clone(),
            version: e.version,
            position: e.position,
            commit_id: e.commit_id,
            occurred_at: e.occurred_at,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            payload: e.payload.clone(),
        }
    }
}
