//! Secrets the instance's environment provides win over its secret file, so the console
//! cannot rotate them: each rotation is refused with 409 and a message naming the variable,
//! and nothing is written (no secret, no event). Each test runs in its own process (nextest),
//! so the variables it sets reach no other test.

#![allow(clippy::unwrap_used)]

use poem::http::StatusCode;
use serde_json::{json, Value};
use switchboard_http::testing::{harness, Harness};

const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

fn refused_for(answer: &Value, variable: &str) {
    assert_eq!(answer["code"], "secret_from_environment", "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains(variable) && message.contains("restart"), "{message}");
}

async fn version(h: &Harness) -> u64 {
    h.runtime.load_team(&switchboard_schemas::TeamId::new("ops").unwrap()).await.unwrap().version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_key_from_the_environment_is_not_rotated_from_the_console() {
    std::env::set_var("SWITCHBOARD_TEAM_OPS_CHANNEL_KEY", "a-channel-key-the-operator-set-in-the-environment");
    let h = harness().await;
    let (status, answer) = h.post(&h.keys.ops_admin, "/api/v1/teams/ops/channel/key", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    refused_for(&answer, "SWITCHBOARD_TEAM_OPS_CHANNEL_KEY");
    assert!(!h.secrets_path.exists(), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_secret_from_the_environment_is_not_rotated_from_the_console() {
    let h = harness().await;
    let admin = h.keys.ops_admin.clone();
    let body = json!({"label": "CRM", "url": "https://crm.example.com/in"});
    let (status, created) = h.post(&admin, "/api/v1/teams/ops/webhooks", body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let hook = created["webhook"]["webhook_id"].as_str().unwrap();
    let secret_ref = created["webhook"]["secret_ref"].as_str().unwrap();
    std::env::set_var(secret_ref, "whsec_the-operator-set-this-one");
    let before = std::fs::read_to_string(&h.secrets_path).unwrap();
    let (status, answer) = h.post(&admin, &format!("/api/v1/teams/ops/webhooks/{hook}/secret"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    refused_for(&answer, secret_ref);
    assert_eq!(std::fs::read_to_string(&h.secrets_path).unwrap(), before, "the file is unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wecom_secrets_from_the_environment_are_not_replaced_and_nothing_is_recorded() {
    std::env::set_var("SWITCHBOARD_TEAM_OPS_WECOM_AES_KEY", AES_KEY);
    let h = harness().await;
    let before = version(&h).await;
    let setup = json!({"corp_id": "ww0123456789", "agent_id": 1000002, "token": "QDG6eK", "encoding_aes_key": AES_KEY});
    let (status, answer) = h.put(&h.keys.ops_admin, "/api/v1/teams/ops/wecom", setup).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    refused_for(&answer, "SWITCHBOARD_TEAM_OPS_WECOM_AES_KEY");
    assert_eq!(version(&h).await, before, "no settings recorded");
    assert!(!h.secrets_path.exists(), "no secret written");
    // Leaving the environment's secret out of the form uses it, as before.
    let setup = json!({"corp_id": "ww0123456789", "agent_id": 1000002, "token": "QDG6eK"});
    let (status, answer) = h.put(&h.keys.ops_admin, "/api/v1/teams/ops/wecom", setup).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["receiving"], true, "{answer}");
}
