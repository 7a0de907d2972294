//! Every event encodes and decodes back to itself through the stored form.

#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::*;
use switchboard_schemas::{Event, FaqId, MessageId, NewEvent, RecordedEvent, StaffId, StreamId, TeamId, UserId};
use uuid::Uuid;

fn store(stream: &StreamId, event: &Event) -> RecordedEvent {
    let at = Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, 0).unwrap();
    let new = NewEvent::encode(event, Uuid::now_v7(), at, Causation::root(Uuid::now_v7()));
    RecordedEvent {
        position: 1,
        stream: stream.clone(),
        version: 1,
        team: stream.team_id().clone(),
        event_id: new.event_id,
        commit_id: Uuid::now_v7(),
        event_type: new.event_type.to_owned(),
        schema_version: new.schema_version,
        occurred_at: new.occurred_at,
        correlation_id: new.causation.correlation_id,
        causation_id: None,
        payload: new.payload,
    }
}

#[test]
fn events_survive_the_stored_form() {
    let team = TeamId::new("ops").unwrap();
    let user = UserId::new("li").unwrap();
    let session_id = Uuid::now_v7();
    let conversation = StreamId::conversation(&team, &user);
    let samples: Vec<Event> = vec![
        ConversationEvent::from(MessageReceived {
            session_id,
            message_id: MessageId("m1".into()),
            text: "奖品怎么发？".into(),
            channel: Channel::Wecom,
        })
        .into(),
        ConversationEvent::from(TransferredToHuman {
            session_id,
            mode: TransferMode::Auto,
            reason: TransferReason::LowConfidence,
            category: Some("prizes".into()),
            assignee: Some(StaffId::new("wang").unwrap()),
            by: Actor::System,
        })
        .into(),
        ConversationEvent::from(FaqMatched {
            session_id,
            message_id: MessageId("m1".into()),
            query: "奖品怎么发？".into(),
            candidates: vec![MatchCandidate {
                faq_id: FaqId::new("prize-1").unwrap(),
                question: "奖品如何发放".into(),
                answer: "自动发放".into(),
                category: None,
                score: 0.8,
                keyword_score: Some(7.5),
                semantic_score: None,
            }],
            confidence: 0.8,
            decision: MatchDecision::Answer { faq_id: FaqId::new("prize-1").unwrap() },
            engine: "keyword".into(),
            rephrased_by: Some("gpt-4o-mini".into()),
        })
        .into(),
    ];
    for event in samples {
        let stored = store(&conversation, &event);
        assert_eq!(stored.decode().unwrap(), event);
    }
    let faq = Event::from(FaqEvent::from(FaqRemoved { faq_id: FaqId::new("x").unwrap() }));
    assert_eq!(store(&StreamId::faq(&team), &faq).decode().unwrap(), faq);
    let settings = Event::from(TeamEvent::from(TeamConfigured { settings: TeamSettings::default() }));
    assert_eq!(store(&StreamId::team(&team), &settings).decode().unwrap(), settings);
}

#[test]
fn a_conversation_event_in_a_faq_stream_is_refused() {
    let team = TeamId::new("ops").unwrap();
    let event = Event::from(ConversationEvent::from(ReconfirmSent { session_id: Uuid::now_v7() }));
    let stored = store(&StreamId::faq(&team), &event);
    assert!(stored.decode().is_err());
}
