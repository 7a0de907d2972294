//! Streams and commits shared by the JetStream integration tests.

#![allow(dead_code, clippy::unwrap_used)]

use chrono::Utc;
use switchboard_engine::log::Commit;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Channel, MessageReceived};
use switchboard_schemas::{ConversationEvent, Event, MessageId, NewEvent, StreamId, TeamId, UserId};
use uuid::Uuid;

/// The conversation stream of `user` with `team`.
pub fn stream(team: &str, user: &str) -> StreamId {
    StreamId::conversation(&TeamId::new(team).unwrap(), &UserId::new(user).unwrap())
}

/// The `n`th operator message.
pub fn event(n: usize) -> NewEvent {
    let event = Event::from(ConversationEvent::from(MessageReceived {
        session_id: Uuid::now_v7(),
        message_id: MessageId(format!("m{n}")),
        text: format!("message {n}"),
        channel: Channel::Api,
    }));
    NewEvent::encode(&event, Uuid::now_v7(), Utc::now(), Causation::root(Uuid::now_v7()))
}

/// A fresh commit of `count` messages.
pub fn commit(count: usize) -> Commit {
    Commit::new(Uuid::now_v7(), (0..count).map(event).collect()).expect("a commit of events")
}
