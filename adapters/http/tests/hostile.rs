//! Hostile requests on every API operation that takes a JSON body, listed from the
//! application's own OpenAPI document so a new operation is covered the day it is added:
//! bodies that are not UTF-8, cut short, of the wrong JSON type, nested past reason or with
//! numbers past every range; no credentials; another team's. Each is refused with the
//! `{code, message}` body, never a server error, and nothing is written to the log.

#![allow(clippy::unwrap_used)]

use poem::http::StatusCode;
use serde_json::Value;
use switchboard_http::testing::{harness, Harness, ADMIN_KEY};

fn key_for<'a>(h: &'a Harness, path: &str) -> &'a str {
    if path == "/api/v1/teams" {
        ADMIN_KEY
    } else {
        &h.keys.ops_admin
    }
}

fn refusal_is_explained(answer: &Value) -> bool {
    ["code", "message"].iter().all(|field| answer[field].as_str().is_some_and(|s| !s.is_empty()))
}

#[tokio::test]
async fn every_json_operation_refuses_hostile_bodies_and_writes_nothing() {
    let h = harness().await;
    let operations = h.json_operations().await;
    assert!(operations.len() >= 15, "only {} operations with a JSON body were listed", operations.len());
    let nested = format!("{}{}", "[".repeat(1500), "]".repeat(1500));
    let bodies: [(&str, Vec<u8>); 7] = [
        ("bytes that are not UTF-8", b"{\"user\": \"zhangsan\", \"text\": \"\xff\xfe\xc3\x28\"}".to_vec()),
        ("a lone surrogate escape", br#"{"user": "zhangsan", "text": "\ud800", "id": "\ud800"}"#.to_vec()),
        ("JSON cut short", br#"{"user": "zhang"#.to_vec()),
        ("an array instead of an object", b"[]".to_vec()),
        ("nesting 1,500 deep", nested.into_bytes()),
        (
            "numbers past every range",
            br#"{"resolved": 1e999999, "ttl_seconds": 1e999999, "agent_id": -1e999999}"#.to_vec(),
        ),
        ("an empty body", Vec::new()),
    ];
    let head = h.log.head().await.unwrap();
    for (method, path) in &operations {
        for (what, body) in &bodies {
            let (status, answer) =
                h.request(method.clone(), path, key_for(&h, path), "application/json", body.clone()).await;
            assert!(
                status.is_client_error() && refusal_is_explained(&answer),
                "{what} to {method} {path} was answered {status} {answer}"
            );
        }
    }
    assert_eq!(h.log.head().await.unwrap(), head, "a refused request wrote to the log");
}

#[tokio::test]
async fn every_json_operation_refuses_a_caller_without_a_key_or_with_another_teams() {
    let h = harness().await;
    let head = h.log.head().await.unwrap();
    for (method, path) in h.json_operations().await {
        let (status, answer) =
            h.exchange(method.clone(), &path, None, Some(("application/json", b"{}".to_vec()))).await;
        assert!(
            status == StatusCode::UNAUTHORIZED && refusal_is_explained(&answer),
            "{method} {path} without a key: {status} {answer}"
        );
        // Another team's administrator: refused, whether for the body or the key.
        let (status, answer) =
            h.request(method.clone(), &path, &h.keys.games_admin, "application/json", b"{}".to_vec()).await;
        assert!(
            status.is_client_error() && refusal_is_explained(&answer),
            "{method} {path} with another team's key: {status} {answer}"
        );
    }
    // With a body that would be accepted, another team's key is what is refused.
    let message = r#"{"user": "zhangsan", "text": "奖品库存不足怎么办"}"#.as_bytes().to_vec();
    let (status, answer) = h
        .request(
            poem::http::Method::POST,
            "/api/v1/teams/ops/messages",
            &h.keys.games_admin,
            "application/json",
            message,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(h.log.head().await.unwrap(), head, "a refused request wrote to the log");
}
