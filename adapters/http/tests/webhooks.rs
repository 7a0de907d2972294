//! Webhook endpoints through the API: registered with a secret shown once and kept out of
//! the log, changed, listed with their deliveries (queued by the outbox the harness runs),
//! replayed, removed; bad input and other teams refused.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use poem::http::StatusCode;
use serde_json::json;
use switchboard_http::testing::harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_registered_queued_for_listed_replayed_and_removed() {
    let h = harness().await;
    let admin = h.keys.ops_admin.clone();
    let body = json!({"label": "CRM", "url": "https://crm.example.com/in", "event_types": ["SessionOpened"]});
    let (status, created) = h.post(&admin, "/api/v1/teams/ops/webhooks", body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    let hook = created["webhook"]["webhook_id"].as_str().unwrap().to_owned();
    assert_eq!(created["webhook"]["secret_available"], true);
    let secret_ref = created["webhook"]["secret_ref"].as_str().unwrap().to_owned();

    // The secret is in the instance's secret file, never in the log.
    let file = std::fs::read_to_string(&h.secrets_path).unwrap();
    assert!(file.contains(&secret) && file.contains(&secret_ref));
    let events = h.log.read_all(0, 10_000, None).await.unwrap();
    assert!(events.iter().all(|e| !e.payload.to_string().contains(&secret)), "no secret in the log");

    let (_, listed) = h.get(&admin, "/api/v1/teams/ops/webhooks").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("secret").is_none(), "the secret is shown once");

    // A session opened now is queued for the endpoint (SessionOpened only).
    let (status, _) = h.send("ops", json!({"user": "zhangsan", "text": "奖品库存不足怎么办"})).await;
    assert_eq!(status, StatusCode::OK);
    let mut page = json!(null);
    for _ in 0..100 {
        page = h.get(&admin, "/api/v1/teams/ops/webhooks/deliveries").await.1;
        if page["deliveries"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deliveries = page["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{page}");
    assert_eq!(deliveries[0]["event_type"], "SessionOpened");
    assert_eq!(deliveries[0]["status"], "pending");
    assert_eq!(deliveries[0]["webhook_id"], hook.as_str());
    let delivery = deliveries[0]["delivery_id"].as_str().unwrap().to_owned();
    let (_, filtered) = h.get(&admin, "/api/v1/teams/ops/webhooks/deliveries?status=delivered").await;
    assert!(filtered["deliveries"].as_array().unwrap().is_empty());

    let (status, replayed) =
        h.post(&admin, &format!("/api/v1/teams/ops/webhooks/deliveries/{delivery}/replay"), json!({})).await;
    assert_eq!(
        (status, replayed["status"].as_str(), replayed["attempts"].as_u64()),
        (StatusCode::OK, Some("pending"), Some(0))
    );

    // Changed: the secret stays; rotated: a new one replaces it.
    let change = json!({"label": "CRM v2", "url": "https://crm.example.com:8443/hook"});
    let (status, changed) = h.put(&admin, &format!("/api/v1/teams/ops/webhooks/{hook}"), change).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!((changed["label"].as_str(), changed["event_types"].as_array().map(Vec::len)), (Some("CRM v2"), Some(0)));
    assert_eq!(changed["secret_ref"], secret_ref.as_str());
    let (status, rotated) = h.post(&admin, &format!("/api/v1/teams/ops/webhooks/{hook}/secret"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(rotated["secret"].as_str().unwrap(), secret);

    let (status, _) = h.delete(&admin, &format!("/api/v1/teams/ops/webhooks/{hook}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = h.get(&admin, "/api/v1/teams/ops/webhooks").await;
    assert!(listed.as_array().unwrap().is_empty());
    let (status, gone) = h.delete(&admin, &format!("/api/v1/teams/ops/webhooks/{hook}")).await;
    assert_eq!((status, gone["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_webhook")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhooks_and_other_teams_are_refused_and_leave_nothing_behind() {
    let h = harness().await;
    let admin = h.keys.ops_admin.clone();
    for body in [
        json!({"label": "x", "url": "ftp://crm.example.com"}),
        json!({"label": "x", "url": "https://"}),
        json!({"label": " ", "url": "https://crm.example.com"}),
        json!({"label": "x", "url": "https://crm.example.com", "event_types": ["NoSuchEvent"]}),
    ] {
        let (status, answer) = h.post(&admin, "/api/v1/teams/ops/webhooks", body.clone()).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_webhook")),
            "{body}: {answer}"
        );
    }
    // Addresses inside the instance's network: refused when entered, whatever the spelling.
    for url in [
        "http://127.0.0.1:8080/metrics",
        "http://[::1]/",
        "http://2130706433/",
        "http://[::ffff:10.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "https://internal.example.com/hook",
        "https://rebind.example.com/hook",
    ] {
        let (status, answer) = h.post(&admin, "/api/v1/teams/ops/webhooks", json!({"label": "x", "url": url})).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("refused_address")),
            "{url}: {answer}"
        );
        assert!(answer["message"].as_str().unwrap().contains("[outbound] allow"), "{answer}");
    }
    assert!(!h.secrets_path.exists() || !std::fs::read_to_string(&h.secrets_path).unwrap().contains("WEBHOOK"));
    let (_, listed) = h.get(&admin, "/api/v1/teams/ops/webhooks").await;
    assert_eq!(listed, json!([]), "nothing was registered");
    let ok = json!({"label": "x", "url": "https://crm.example.com"});
    let (status, _) = h.post(&h.keys.games_admin, "/api/v1/teams/ops/webhooks", ok.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h.post(&h.keys.ops_agent, "/api/v1/teams/ops/webhooks", ok.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only team admins manage webhooks");
    let (status, _) = h.get(&h.keys.games_admin, "/api/v1/teams/ops/webhooks/deliveries").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let unknown = "/api/v1/teams/ops/webhooks/deliveries/0190f0f0-0000-7000-8000-000000000000/replay";
    let (status, answer) = h.post(&admin, unknown, json!({})).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_delivery")));
    let (status, answer) = h.get(&admin, "/api/v1/teams/ops/webhooks/deliveries?limit=0").await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
}
