//! Reading older schema versions as the current type.
//!
//! A stored event is never rewritten. When a type's shape changes, its version goes up and
//! an upcaster here turns the old JSON into the new JSON on read. Each step upgrades by one
//! version, so a chain of them reads any old event.

use serde_json::{Map, Value};

/// Why a payload's version cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpcastError {
    /// Written by a newer release than this one.
    #[error("{event_type} v{found} is newer than this release understands (v{current}); upgrade Switchboard")]
    FromTheFuture {
        /// The type.
        event_type: String,
        /// The stored version.
        found: u16,
        /// The newest version known here.
        current: u16,
    },
    /// An old version with no upcaster (a bug: every version bump needs one).
    #[error("{event_type} v{found} has no upcaster to v{next}")]
    NoUpcaster {
        /// The type.
        event_type: String,
        /// The stored version.
        found: u16,
        /// The version it should have been upcast to.
        next: u16,
    },
    /// The old payload was not a JSON object with the fields the upcaster needs.
    #[error("{event_type} v{found} payload lacks field {field:?}")]
    MissingField {
        /// The type.
        event_type: String,
        /// The stored version.
        found: u16,
        /// The missing field.
        field: &'static str,
    },
}

/// Upgrades `payload` of `event_type` from version `found` to version `current`.
pub fn upcast(event_type: &str, found: u16, current: u16, mut payload: Value) -> Result<Value, UpcastError> {
    if found > current {
        return Err(UpcastError::FromTheFuture { event_type: event_type.to_owned(), found, current });
    }
    let mut version = found;
    while version < current {
        payload = upcast_one(event_type, version, payload)?;
        version += 1;
    }
    Ok(payload)
}

fn upcast_one(event_type: &str, version: u16, payload: Value) -> Result<Value, UpcastError> {
    match (event_type, version) {
        ("MessageReceived", 1) => message_received_v1_to_v2(payload),
        // Version 2 may carry `answer_policy.target`; a version 1 payload is a version 2
        // without one. The bump makes an older release refuse a target with advice instead
        // of failing on an unknown field.
        ("TeamConfigured", 1) => Ok(payload),
        // `TeamConfigured` v3 may carry `attachments` and `texts.describe_attachment` (both
        // default when absent), `TransferredToHuman` v2 the reason `attachment_only`. Older
        // payloads read unchanged; the bumps make an older release refuse them with advice.
        ("TeamConfigured", 2) | ("TransferredToHuman", 1) => Ok(payload),
        _ => Err(UpcastError::NoUpcaster { event_type: event_type.to_owned(), found: version, next: version + 1 }),
    }
}

/// Version 1 came from the WeCom-only prototype: `msg_id` and `content`, no channel.
/// Version 2 names them `message_id` and `text` and records the channel.
fn message_received_v1_to_v2(payload: Value) -> Result<Value, UpcastError> {
    let missing = |field| UpcastError::MissingField { event_type: "MessageReceived".into(), found: 1, field };
    let Value::Object(mut old) = payload else {
        return Err(missing("session_id"));
    };
    let mut new = Map::new();
    new.insert("session_id".into(), old.remove("session_id").ok_or_else(|| missing("session_id"))?);
    new.insert("message_id".into(), old.remove("msg_id").ok_or_else(|| missing("msg_id"))?);
    new.insert("text".into(), old.remove("content").ok_or_else(|| missing("content"))?);
    new.insert("channel".into(), Value::String("wecom".into()));
    Ok(Value::Object(new))
}
