//! Secrets stay secret in a full run: `serve --demo` with its WeCom secret, the
//! administrator key, a webhook's signing secret, the channel key and a channel token, under
//! load (the WeCom access tokens it fetches included), logging at debug level; then neither
//! its log, nor the event log, nor an error answer holds any of them.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use crate::common::{free_port, LoadRun, Server, ADMIN_KEY};
use serde_json::{json, Value};

/// The demo application's EncodingAESKey (public, but a secret of a real application).
const DEMO_AES_KEY: &str = "nx7wPNT/tJgcCv0u4fWtLQz0AAE8ARVKyuNdaC5kq2I";

#[test]
fn no_configured_secret_reaches_the_logs_the_event_log_or_an_error_answer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let wecom_secret = format!("wecom-app-secret-{}", uuid::Uuid::new_v4().simple());
    let api_port = free_port();
    let api = format!("http://127.0.0.1:{api_port}/cgi-bin");
    let env = [("SWITCHBOARD_DEMO_WECOM_SECRET", wecom_secret.as_str()), ("SWITCHBOARD_LOG", "debug")];
    let server = Server::start_logging(&data, None, &["--demo", "--demo-wecom-api", &api], &env, Some(&log));

    // Secrets made by the API: a webhook's signing secret (to an endpoint that refuses, so
    // failed deliveries are logged too) and a channel token (which makes the channel key).
    let closed_port = free_port();
    let webhook = server.post(
        "/api/v1/teams/demo/webhooks",
        json!({"label": "audit", "url": format!("http://127.0.0.1:{closed_port}/hook")}),
    );
    let webhook_secret = webhook["secret"].as_str().unwrap().to_owned();
    let token = server.post("/api/v1/teams/demo/channel/tokens", json!({"user": "lisi"}));
    let channel_token = token["token"].as_str().unwrap().to_owned();

    // A wrong key is refused without being repeated back.
    let wrong_key = format!("sbk.demo.{}", uuid::Uuid::new_v4().simple());
    let refused = ureq::get(&format!("{}/api/v1/teams/demo/sessions", server.base))
        .set("authorization", &format!("Bearer {wrong_key}"))
        .call();
    let Err(ureq::Error::Status(401, response)) = refused else { panic!("a wrong key is refused with 401") };
    let answer = response.into_string().unwrap();
    assert!(!answer.contains(&wrong_key) && !answer.is_empty(), "{answer}");

    // Traffic through the WeCom channel: tokens fetched with the secret, answers sent.
    let run = LoadRun::start_with_env(
        None,
        &server.base,
        api_port,
        &["--rate", "20", "--duration", "3s"],
        &[("SWITCHBOARD_DEMO_WECOM_SECRET", wecom_secret.as_str())],
    );
    let (report, intact) = run.report();
    assert!(intact && report["accepted"].as_u64() > Some(0), "{report}");
    server.kill();

    let secrets_file: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("secrets.json")).unwrap()).unwrap();
    let mut secrets: Vec<(String, String)> = vec![
        ("the administrator key".into(), ADMIN_KEY.into()),
        ("the WeCom application secret".into(), wecom_secret.clone()),
        ("the webhook signing secret".into(), webhook_secret),
        ("the channel token".into(), channel_token.clone()),
        ("the channel token's signature".into(), channel_token.rsplit('.').next().unwrap().to_owned()),
        ("the wrong key".into(), wrong_key),
        ("the demo's EncodingAESKey".into(), DEMO_AES_KEY.into()),
        ("a WeCom access token".into(), "sim-token-".into()),
    ];
    for (name, value) in secrets_file.as_object().unwrap() {
        secrets.push((format!("secret file entry {name}"), value.as_str().unwrap().to_owned()));
    }
    assert!(secrets.len() >= 10, "the secret file holds the webhook secret and the channel key: {secrets_file}");

    let server_log = std::fs::read_to_string(&log).unwrap();
    assert!(server_log.contains("webhook registered"), "the log was written at debug level");
    assert!(server_log.lines().count() > 100, "the log was written at debug level");
    let events = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--data-dir")
        .arg(&data)
        .args(["events", "tail", "--json"])
        .output()
        .unwrap();
    assert!(events.status.success());
    let events = String::from_utf8(events.stdout).unwrap();
    assert!(events.contains("WebhookRegistered") && events.contains("MessageReceived"), "the event log was read");
    for (name, secret) in &secrets {
        assert!(secret.len() >= 8, "{name} is long enough to search for");
        assert!(!server_log.contains(secret.as_str()), "{name} is in the server's log");
        assert!(!events.contains(secret.as_str()), "{name} is in the event log");
    }
}
