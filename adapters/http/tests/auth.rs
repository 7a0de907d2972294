//! Every route checks an access key: a missing or wrong key gets 401, a key of another team
//! or of a lower role gets 403, and none of them reads or changes anything.

#![allow(clippy::unwrap_used)]

use poem::http::StatusCode;
use serde_json::json;
use switchboard_http::testing::{harness, ADMIN_KEY};

/// Every team-scoped route of the API, with a body where it takes one.
fn routes(team: &str) -> Vec<(&'static str, String, Option<serde_json::Value>)> {
    let t = |path: &str| format!("/api/v1/teams/{team}{path}");
    let c = |path: &str| t(&format!("/conversations/zhangsan{path}"));
    let session = json!({ "sessions": ["01932f6e-0000-7000-8000-000000000001"] });
    vec![
        ("POST", t("/messages"), Some(json!({"user": "zhangsan", "text": "hello"}))),
        ("GET", c(""), None),
        ("GET", c("/audit"), None),
        ("GET", c("/events"), None),
        ("POST", c("/feedback"), Some(json!({"resolved": true}))),
        ("POST", c("/human"), Some(json!({}))),
        ("POST", c("/transfer"), Some(json!({}))),
        ("POST", c("/replies"), Some(json!({"text": "hi"}))),
        ("POST", c("/remarks"), Some(json!({"text": "note"}))),
        ("POST", c("/status"), Some(json!({"to": "waiting"}))),
        ("POST", c("/close"), Some(json!({}))),
        ("POST", c("/reopen"), Some(json!({}))),
        ("POST", c("/group-chat"), Some(json!({}))),
        ("GET", t("/sessions"), None),
        ("GET", t("/statistics"), None),
        ("GET", t("/faq-candidates"), None),
        ("POST", t("/faq-candidates/approve"), Some(json!({"sessions": session["sessions"], "into": "prize-stock"}))),
        ("POST", t("/faq-candidates/reject"), Some(session.clone())),
        ("GET", t("/reports/weekly"), None),
        ("GET", t("/faqs"), None),
        ("POST", t("/faqs"), Some(json!({"id": "x", "question": "q", "answer": "a"}))),
        ("GET", t("/faqs/prize-stock"), None),
        ("PUT", t("/faqs/prize-stock"), Some(json!({"question": "q", "answer": "a"}))),
        ("DELETE", t("/faqs/prize-stock"), None),
        ("GET", t("/faqs/export"), None),
        ("GET", t(""), None),
        ("PUT", t("/settings"), Some(json!({"settings": {}}))),
        ("PUT", t("/roster"), Some(json!({"roster": {"default": ["x"]}}))),
        ("GET", t("/keys"), None),
        ("POST", t("/keys"), Some(json!({"label": "l", "role": "admin", "staff": "x"}))),
        ("DELETE", t("/keys/01932f6e-0000-7000-8000-000000000001"), None),
        ("PUT", t("/wecom"), Some(json!({"corp_id": "ww1", "agent_id": 1}))),
        ("DELETE", t("/wecom"), None),
        ("POST", t("/wecom/verify"), None),
    ]
}

async fn call(
    h: &switchboard_http::testing::Harness,
    method: &str,
    path: &str,
    body: &Option<serde_json::Value>,
    authorization: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let body = body.as_ref().map(|body| ("application/json", body.to_string().into_bytes()));
    h.exchange(method.parse().unwrap(), path, authorization, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_one_team_can_neither_read_nor_change_another_team() {
    let h = harness().await;
    h.send("games", json!({"user": "zhangsan", "text": "奖品库存不足怎么办"})).await;
    let head = h.log.head().await.unwrap();
    let ops_admin = format!("Bearer {}", h.keys.ops_admin);
    for (method, path, body) in routes("games") {
        let (status, answer) = call(&h, method, &path, &body, Some(&ops_admin)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        assert_eq!(answer["code"], "other_team", "{method} {path}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains("team ops"), "{answer}");
    }
    assert_eq!(h.log.head().await.unwrap(), head, "nothing was written for the other team");
    let (status, teams) = h.get(&h.keys.ops_admin, "/api/v1/teams").await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = teams.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["ops"], "a team key sees its own team only");
    let (status, body) = h.post(&h.keys.ops_admin, "/api/v1/teams", json!({"id": "new", "name": "New"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("admin_only")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_malformed_wrong_or_revoked_key_gets_401() {
    let h = harness().await;
    let head = h.log.head().await.unwrap();
    let wrong = format!("Bearer {}x", h.keys.ops_admin);
    let forged = "Bearer sbk.ops.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned();
    for authorization in [
        None,
        Some("Basic b3BzOm9wcw=="),
        Some("Bearer "),
        Some(wrong.as_str()),
        Some(forged.as_str()),
        Some("Bearer sbk.ghost.abc"),
    ] {
        for (method, path, body) in routes("ops")
            .into_iter()
            .chain([("GET", "/api/v1/me".to_owned(), None), ("GET", "/api/v1/teams".to_owned(), None)])
        {
            let (status, answer) = call(&h, method, &path, &body, authorization).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?} {method} {path}: {answer}");
            assert_eq!(answer["code"], "unauthorized", "{answer}");
        }
    }
    assert_eq!(h.log.head().await.unwrap(), head, "nothing was written");
    // A revoked key stops working at once.
    let (_, keys) = h.get(&h.keys.ops_admin, "/api/v1/teams/ops/keys").await;
    let viewer =
        keys.as_array().unwrap().iter().find(|k| k["staff"] == "sun").unwrap()["key_id"].as_str().unwrap().to_owned();
    assert_eq!(h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/sessions").await.0, StatusCode::OK);
    let (status, _) = h.delete(&h.keys.ops_admin, &format!("/api/v1/teams/ops/keys/{viewer}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/sessions").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_does_what_it_may_and_no_more() {
    let h = harness().await;
    let viewer = &h.keys.ops_viewer;
    assert_eq!(h.get(viewer, "/api/v1/teams/ops/faqs").await.0, StatusCode::OK);
    assert_eq!(h.get(viewer, "/api/v1/teams/ops").await.0, StatusCode::OK);
    let (status, body) = h.post(viewer, "/api/v1/teams/ops/messages", json!({"user": "zhangsan", "text": "hi"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("role_too_low")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("agent"), "{body}");
    let agent = &h.keys.ops_agent;
    assert_eq!(h.send("ops", json!({"user": "zhangsan", "text": "奖品库存不足怎么办"})).await.0, StatusCode::OK);
    assert_eq!(
        h.post(agent, "/api/v1/teams/ops/faqs", json!({"id": "new", "question": "q", "answer": "a"})).await.0,
        StatusCode::OK
    );
    let (status, body) = h.get(agent, "/api/v1/teams/ops/keys").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("role_too_low")));
    let (status, body) = h.put(agent, "/api/v1/teams/ops/roster", json!({"roster": {"default": ["x"]}})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, me) = h.get(agent, "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (me["team"].as_str(), me["role"].as_str(), me["staff"].as_str()),
        (Some("ops"), Some("agent"), Some("qian"))
    );
    let (_, me) = h.get(ADMIN_KEY, "/api/v1/me").await;
    assert_eq!((me["global_admin"].as_bool(), me["staff"].as_str()), (Some(true), Some("admin")));
    // An admin key issues keys of its own team; the token works at once and is shown once.
    let (status, issued) = h
        .post(
            &h.keys.ops_admin,
            "/api/v1/teams/ops/keys",
            json!({"label": "Zhou's laptop", "role": "agent", "staff": "zhou"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let token = issued["token"].as_str().unwrap();
    assert!(token.starts_with("sbk.ops."), "{token}");
    let (_, me) = h.get(token, "/api/v1/me").await;
    assert_eq!(me["staff"], "zhou");
    let (_, keys) = h.get(&h.keys.ops_admin, "/api/v1/teams/ops/keys").await;
    assert!(!keys.to_string().contains(token), "tokens are never listed");
    assert!(
        !h.log.read_all(0, 10_000, None).await.unwrap().iter().any(|e| e.payload.to_string().contains(token)),
        "the log holds digests, never tokens"
    );
}
