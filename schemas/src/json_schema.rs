//! The JSON Schema of every event, of the published envelope and of the WebSocket channel's
//! frames, generated from the Rust types.
//!
//! The files under `schemas/json/` are the published contract for subscribers in other
//! languages. A test regenerates them and fails when the checked-in copies are stale.

use crate::event::{ConversationEvent, FaqEvent, TeamEvent};

/// Every schema file as (file name, pretty JSON), in a stable order.
pub fn generate() -> Vec<(String, String)> {
    let mut files = Vec::new();
    let aggregates = [
        ("conversation", ConversationEvent::json_schemas()),
        ("faq", FaqEvent::json_schemas()),
        ("team", TeamEvent::json_schemas()),
    ];
    for (aggregate, schemas) in aggregates {
        for (name, version, schema) in schemas {
            let mut value = schema.to_value();
            if let Some(object) = value.as_object_mut() {
                object.insert("x-event-type".into(), name.into());
                object.insert("x-schema-version".into(), version.into());
                object.insert("x-aggregate".into(), aggregate.into());
            }
            let text = serde_json::to_string_pretty(&value).unwrap_or_default() + "\n";
            files.push((format!("{aggregate}/{name}.v{version}.json"), text));
        }
    }
    let mut envelope = schemars::schema_for!(crate::PublishedEvent).to_value();
    if let Some(object) = envelope.as_object_mut() {
        object.insert("x-envelope-version".into(), crate::envelope::ENVELOPE_VERSION.into());
    }
    let text = serde_json::to_string_pretty(&envelope).unwrap_or_default() + "\n";
    files.push((format!("envelope/PublishedEvent.v{}.json", crate::envelope::ENVELOPE_VERSION), text));
    let version = crate::channel::PROTOCOL_VERSION;
    let channel = [
        ("ClientFrame", schemars::schema_for!(crate::channel::ClientFrame)),
        ("ServerFrame", schemars::schema_for!(crate::channel::ServerFrame)),
    ];
    for (name, schema) in channel {
        let mut value = schema.to_value();
        if let Some(object) = value.as_object_mut() {
            object.insert("x-protocol-version".into(), version.into());
        }
        let text = serde_json::to_string_pretty(&value).unwrap_or_default() + "\n";
        files.push((format!("channel/{name}.v{version}.json"), text));
    }
    files
}
