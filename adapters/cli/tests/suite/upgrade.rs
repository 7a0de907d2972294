//! An upgrade: the current binary serves a data directory written by the previous release.
//! The fixture is made with the current binary, with every event the previous release wrote
//! differently rewritten into the oldest stored schema version (`MessageReceived` v1: `msg_id`
//! and `content`, from before the WebSocket channel; `TeamConfigured` v1, from before target
//! precisions). The read models are deleted, as when
//! their schema changes. The current binary reads the old events through its upcasters and
//! rebuilds the read models by replay. An old message retried is still recognised, and new
//! traffic is answered.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::common::Server;
use serde_json::{json, Value};

const OLD_QUESTIONS: [&str; 2] = ["奖品库存不足怎么办", "活动开始时间怎么改"];

/// Rewrites every `MessageReceived` and `TeamConfigured` in the embedded log to schema
/// version 1, as the previous release stored them; returns how many messages.
fn store_as_previous_release(data: &Path) -> usize {
    let db = rusqlite::Connection::open(data.join("events.sqlite")).unwrap();
    // A v1 team configuration is a v2 one without a target (the demo sets none).
    let configured =
        db.execute("UPDATE events SET schema_version = 1 WHERE event_type = 'TeamConfigured'", []).unwrap();
    assert!(configured > 0, "the demo team was configured");
    let rows: Vec<(i64, String)> = db
        .prepare("SELECT position, payload FROM events WHERE event_type = 'MessageReceived'")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (position, payload) in &rows {
        let current: Value = serde_json::from_str(payload).unwrap();
        let v1 =
            json!({"session_id": current["session_id"], "msg_id": current["message_id"], "content": current["text"]});
        db.execute(
            "UPDATE events SET schema_version = 1, payload = ?1 WHERE position = ?2",
            rusqlite::params![v1.to_string(), position],
        )
        .unwrap();
    }
    rows.len()
}

#[test]
fn the_previous_releases_data_directory_is_served_by_the_current_binary() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, None, &["--demo"]);
    for (n, text) in OLD_QUESTIONS.iter().enumerate() {
        let body = json!({"user": "olduser", "text": text, "message_id": format!("old-{n}")});
        assert_eq!(server.post("/api/v1/teams/demo/messages", body)["recorded"], true);
    }
    let answered = |view: &Value| view.to_string().matches("AnswerDelivered").count() >= 2;
    assert!(answered(&server.eventually("/api/v1/teams/demo/conversations/olduser", answered)));
    assert!(server.stop_gracefully(), "a clean stop before the upgrade");

    assert_eq!(store_as_previous_release(&data), OLD_QUESTIONS.len());
    for file in ["readmodels.sqlite", "readmodels.sqlite-wal", "readmodels.sqlite-shm"] {
        let _ = std::fs::remove_file(data.join(file));
    }

    server.restart();
    let view = server.get("/api/v1/teams/demo/conversations/olduser");
    for text in OLD_QUESTIONS {
        assert!(view.to_string().contains(text), "the v1 message {text:?} reads as the current type: {view}");
    }
    let stats = server.eventually("/api/v1/teams/demo/statistics", |s| s["opened"].as_u64().unwrap_or(0) >= 1);
    assert!(stats["opened"].as_u64().unwrap_or(0) >= 1, "the read models were rebuilt from the log: {stats}");
    let retried = json!({"user": "olduser", "text": OLD_QUESTIONS[0], "message_id": "old-0"});
    assert_eq!(server.post("/api/v1/teams/demo/messages", retried)["recorded"], false, "an old message id is known");
    let new = json!({"user": "olduser", "text": "怎么复制一个已有的活动", "message_id": "new-0"});
    let answer = server.post("/api/v1/teams/demo/messages", new);
    assert_eq!(answer["recorded"], true, "{answer}");
    assert!(!answer["replies"].as_array().unwrap().is_empty(), "new traffic is answered: {answer}");
}
