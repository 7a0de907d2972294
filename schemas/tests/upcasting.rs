//! Stored events of older schema versions are read as the current types.

#![allow(clippy::unwrap_used)]

use switchboard_schemas::event::{AttachmentSettings, Channel, MessageReceived, TeamConfigured, TransferReason};
use switchboard_schemas::{ConversationEvent, DecodeError, Event, MessageId, RecordedEvent, StaffId, TeamEvent};

fn fixture(name: &str) -> RecordedEvent {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_v1_message_received_from_the_wecom_prototype_reads_as_v2() {
    let stored = fixture("v1/MessageReceived.json");
    let event = stored.decode().unwrap();
    let Event::Conversation(ConversationEvent::MessageReceived(MessageReceived { message_id, text, channel, .. })) =
        event
    else {
        panic!("decoded as {event:?}");
    };
    assert_eq!(message_id, MessageId("7253391837482938471".into()));
    assert_eq!(text, "活动ID 123456 的开始时间怎么改？");
    assert_eq!(channel, Channel::Wecom);
}

#[test]
fn a_v1_team_configured_reads_as_current_with_a_threshold_set_by_hand() {
    let stored = fixture("v1/TeamConfigured.json");
    let Event::Team(TeamEvent::TeamConfigured(TeamConfigured { settings })) = stored.decode().unwrap() else {
        panic!("not TeamConfigured");
    };
    let policy = settings.answer_policy;
    assert_eq!((policy.answer_at, policy.clarify_at, policy.target), (0.55, 0.3, None));
    assert_eq!(settings.reconfirm_after_secs, 900);
    assert_eq!(settings.attachments, AttachmentSettings::default(), "v3's attachment settings default");
    // Every older version reads; a newer one is refused with advice (as a release that knew
    // only v1 refuses a v2, which may carry a target, and v2 a v3 with attachment settings).
    let mut newer = stored;
    for version in [2, 3] {
        newer.schema_version = version;
        assert!(newer.decode().is_ok(), "v{version} reads");
    }
    newer.schema_version = 4;
    assert!(newer.decode().unwrap_err().to_string().contains("upgrade Switchboard"));
}

#[test]
fn a_v1_transfer_reads_as_v2() {
    let stored = fixture("v1/TransferredToHuman.json");
    let Event::Conversation(ConversationEvent::TransferredToHuman(transfer)) = stored.decode().unwrap() else {
        panic!("not TransferredToHuman");
    };
    assert_eq!(transfer.reason, TransferReason::LowConfidence);
    assert_eq!(transfer.assignee, Some(StaffId::new("lisi").unwrap()));
    let mut newer = stored;
    newer.schema_version = 3;
    assert!(newer.decode().unwrap_err().to_string().contains("upgrade Switchboard"));
}

#[test]
fn a_v1_payload_missing_a_field_is_a_typed_error_naming_the_position() {
    let stored = fixture("v1/MessageReceived-missing-content.json");
    let err = stored.decode().unwrap_err();
    assert!(matches!(err, DecodeError::Version { position: 18, .. }), "{err:?}");
    assert!(err.to_string().contains("content"), "{err}");
}

#[test]
fn a_version_from_a_newer_release_is_refused_with_advice() {
    let mut stored = fixture("v1/MessageReceived.json");
    stored.schema_version = 9;
    let err = stored.decode().unwrap_err();
    assert!(err.to_string().contains("upgrade Switchboard"), "{err}");
}

#[test]
fn an_unknown_type_is_a_typed_error() {
    let mut stored = fixture("v1/MessageReceived.json");
    stored.event_type = "MessageTeleported".into();
    assert!(matches!(stored.decode(), Err(DecodeError::UnknownType { position: 17, .. })));
}
