//! The projection reads old schema versions through upcasting: a version-1
//! `MessageReceived` (`msg_id`/`content`, no channel) lands in the session list, and an
//! event the release cannot read stops the projection without moving its checkpoint.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use serde_json::json;
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::log::{Commit, EventLog, ExpectedVersion};
use switchboard_projections::runtime::{Projection, ProjectionError, ProjectionOptions, SESSIONS};
use switchboard_projections::store::{ReadStore, SessionQuery};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::{NewEvent, StreamId, TeamId, UserId};
use uuid::Uuid;

fn stored(event_type: &'static str, schema_version: u16, payload: serde_json::Value) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type,
        schema_version,
        occurred_at: Utc.with_ymd_and_hms(2025, 6, 1, 9, 0, 0).unwrap(),
        causation: Causation::root(Uuid::now_v7()),
        payload,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_event_versions_are_upcast_and_unreadable_ones_stop_the_projection() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> =
        Arc::new(SqliteEventLog::open(&dir.path().join("events.sqlite"), SqliteOptions::default()).unwrap());
    let team = TeamId::new("ops").unwrap();
    let stream = StreamId::conversation(&team, &UserId::new("li").unwrap());
    let session = Uuid::now_v7();
    let events = vec![
        stored("SessionOpened", 1, json!({ "session_id": session, "user": "li", "channel": "wecom" })),
        stored("MessageReceived", 1, json!({ "session_id": session, "msg_id": "m1", "content": "旧版本的问题" })),
    ];
    log.append(&stream, ExpectedVersion::Exact(0), Commit::new(Uuid::now_v7(), events).expect("a commit of events"))
        .await
        .unwrap();

    let (store, _dir) = common::sqlite().await;
    let store: Arc<dyn ReadStore> = store;
    let mut projection = Projection::new(log.clone(), store.clone(), ProjectionOptions::default());
    assert_eq!(projection.catch_up(|_, _| {}).await.unwrap(), 2);
    let page = store.sessions(&SessionQuery::team(team.clone(), 10)).await.unwrap();
    assert_eq!(page.rows.len(), 1);
    assert_eq!(page.rows[0].question.as_deref(), Some("旧版本的问题"));
    assert_eq!(page.rows[0].messages_in, 1);

    let future = vec![stored("MessageReceived", 99, json!({ "session_id": session }))];
    log.append(&stream, ExpectedVersion::Exact(2), Commit::new(Uuid::now_v7(), future).expect("a commit of events"))
        .await
        .unwrap();
    let error = projection.catch_up(|_, _| {}).await.unwrap_err();
    assert!(matches!(error, ProjectionError::Decode(_)), "{error}");
    assert_eq!(store.checkpoint(SESSIONS).await.unwrap(), 2, "the checkpoint stays before the unreadable event");
}
