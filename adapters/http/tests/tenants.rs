//! A team admin is trusted with their team only: the review's exploits, and adversarial
//! values for the team-admin routes, are refused in the one error format with nothing
//! written, and other teams go on unaffected.

#![allow(clippy::unwrap_used)]

use poem::http::StatusCode;
use serde_json::{json, Value};
use switchboard_http::testing::{harness, Harness};

/// Sends a request that must be refused with `code`, and checks the log did not move.
async fn refused(h: &Harness, answer: (StatusCode, Value), status: StatusCode, code: &str, head: u64) {
    let (got, body) = answer;
    assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
    assert!(!body["message"].as_str().unwrap_or_default().is_empty(), "a refusal says why: {body}");
    assert_eq!(h.log.head().await.unwrap(), head, "nothing was written: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_settings_and_rosters_are_refused_and_nothing_is_written() {
    let h = harness().await;
    let admin = h.keys.ops_admin.clone();
    let (_, team) = h.get(&admin, "/api/v1/teams/ops").await;
    let head = h.log.head().await.unwrap();
    let with = |path: &str, value: Value| {
        let mut settings = team["settings"].clone();
        let (parent, field) = path.split_once('.').map_or((None, path), |(p, f)| (Some(p), f));
        match parent {
            Some(parent) => settings[parent][field] = value,
            None => settings[field] = value,
        }
        json!({ "settings": settings })
    };
    for (path, value) in [
        // The review's exploit: this stopped every team's timers.
        ("close_after_secs", json!(10_000_000_000_000_u64)),
        ("reconfirm_after_secs", json!(u64::MAX)),
        ("max_message_chars", json!(4_000_000_000_u32)),
        ("answer_policy.max_choices", json!(200)),
        ("console.page_size", json!(1_000_000)),
        ("human_keywords", json!(vec!["人工"; 51])),
        ("texts.reconfirm", json!("x".repeat(1_001))),
    ] {
        let answer = h.put(&admin, "/api/v1/teams/ops/settings", with(path, value)).await;
        refused(&h, answer, StatusCode::BAD_REQUEST, "invalid_settings", head).await;
    }
    let huge: Vec<String> = (0..101).map(|i| format!("e{i}")).collect();
    let answer = h.put(&admin, "/api/v1/teams/ops/roster", json!({"roster": {"default": huge}})).await;
    assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{}", answer.1);
    assert_eq!(h.log.head().await.unwrap(), head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_handed_only_to_the_teams_own_people() {
    let h = harness().await;
    let agent = h.keys.ops_agent.clone();
    let (status, _) =
        h.post(&agent, "/api/v1/teams/ops/messages", json!({"user": "bob", "text": "系统报错 500"})).await;
    assert_eq!(status, StatusCode::OK);
    let head = h.log.head().await.unwrap();
    let transfer = "/api/v1/teams/ops/conversations/bob/transfer";
    // "@all" is every member of the enterprise to WeCom, "a|b" several people.
    for to in ["@all", "@everyone", "zhao|qian", "a|b"] {
        let answer = h.post(&agent, transfer, json!({ "to": to })).await;
        refused(&h, answer, StatusCode::BAD_REQUEST, "bad_staff_id", head).await;
    }
    // Well formed, but nobody of the team: not on the roster and holding no key.
    let answer = h.post(&agent, transfer, json!({"to": "stranger"})).await;
    refused(&h, answer, StatusCode::BAD_REQUEST, "not_staff", head).await;
    // A key holder of another team is no one here either.
    let answer = h.post(&agent, transfer, json!({"to": "li"})).await;
    refused(&h, answer, StatusCode::BAD_REQUEST, "not_staff", head).await;
    // The team's own people: a key holder (sun, a viewer) is.
    let (status, body) = h.post(&agent, transfer, json!({"to": "sun"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_names_cannot_be_taken_by_a_team() {
    let h = harness().await;
    let admin = h.keys.ops_admin.clone();
    let head = h.log.head().await.unwrap();
    for staff in ["admin", "Admin"] {
        let answer =
            h.post(&admin, "/api/v1/teams/ops/keys", json!({"label": "x", "role": "admin", "staff": staff})).await;
        refused(&h, answer, StatusCode::BAD_REQUEST, "bad_key", head).await;
    }
    for faq_id in ["import", "export"] {
        let body = json!({"id": faq_id, "question": "q?", "answer": "a."});
        let answer = h.post(&admin, "/api/v1/teams/ops/faqs", body).await;
        refused(&h, answer, StatusCode::BAD_REQUEST, "bad_faq_id", head).await;
    }
    // The other team was never touched.
    let (status, games) = h.get(&h.keys.games_admin, "/api/v1/teams/games").await;
    assert_eq!(status, StatusCode::OK, "{games}");
}
