//! Onboarding through the API: a global administrator clones a template team, its admin
//! changes settings and roster (refused when stale), sets up the WeCom application with its
//! secrets kept out of the log, and sees the callback URL and what is left to do.

#![allow(clippy::unwrap_used)]

use poem::http::StatusCode;
use serde_json::json;
use switchboard_http::testing::{harness, ADMIN_KEY};

const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_is_cloned_from_a_template_with_its_faq_policies_and_roster_shape() {
    let h = harness().await;
    let (status, team) =
        h.post(ADMIN_KEY, "/api/v1/teams", json!({"id": "ops-sh", "name": "Ops Shanghai", "template": "ops"})).await;
    assert_eq!(status, StatusCode::OK, "{team}");
    assert_eq!(team["cloned_from"], "ops");
    assert_eq!(team["faqs"], 1, "the template's FAQ");
    assert_eq!(team["settings"]["max_message_chars"], 200, "the template's policies");
    assert_eq!(team["roster"]["categories"]["prizes"], json!([]), "categories, without the people");
    assert_eq!(team["roster"]["default"], json!([]));
    assert_eq!(team["wecom"]["callback_url"], "https://sb.example.com/wecom/ops-sh/callback");
    let todo: Vec<(&str, bool)> = team["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["key"].as_str().unwrap(), i["done"].as_bool().unwrap()))
        .collect();
    assert_eq!(todo, [("faq", true), ("roster", false), ("wecom", false), ("verify", false), ("keys", false)]);
    let (_, faq) = h.get(ADMIN_KEY, "/api/v1/teams/ops-sh/faqs/prize-stock").await;
    assert_eq!(faq["answer"], "在奖品管理里追加库存即可。");

    let (status, with_people) = h
        .post(
            ADMIN_KEY,
            "/api/v1/teams",
            json!({"id": "ops-bj", "name": "Ops Beijing", "template": "ops", "copy_people": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(with_people["roster"]["categories"]["prizes"], json!(["wang"]));

    for (body, status, code) in [
        (json!({"id": "ops-sh", "name": "Again"}), StatusCode::CONFLICT, "team_exists"),
        (json!({"id": "x y", "name": "Bad"}), StatusCode::BAD_REQUEST, "bad_team_id"),
        (json!({"id": "new", "name": " "}), StatusCode::BAD_REQUEST, "bad_team_name"),
        (json!({"id": "new", "name": "New", "template": "ghost"}), StatusCode::NOT_FOUND, "unknown_template"),
    ] {
        let (got, answer) = h.post(ADMIN_KEY, "/api/v1/teams", body.clone()).await;
        assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{body}: {answer}");
    }
    h.read_models_caught_up().await;
    let (_, teams) = h.get(ADMIN_KEY, "/api/v1/teams").await;
    let ids: Vec<&str> = teams.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["games", "ops", "ops-bj", "ops-sh"], "the directory, for global administrators");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_and_roster_changes_are_validated_and_refused_when_stale() {
    let h = harness().await;
    let admin = &h.keys.ops_admin;
    let (_, team) = h.get(admin, "/api/v1/teams/ops").await;
    let version = team["version"].as_u64().unwrap();
    let mut settings = team["settings"].clone();
    settings["reconfirm_after_secs"] = json!(600);
    settings["console"]["language"] = json!("en");
    let (status, done) =
        h.put(admin, "/api/v1/teams/ops/settings", json!({"settings": settings, "expected_version": version})).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let (status, stale) = h
        .put(admin, "/api/v1/teams/ops/roster", json!({"roster": {"default": ["zhou"]}, "expected_version": version}))
        .await;
    assert_eq!((status, stale["code"].as_str()), (StatusCode::CONFLICT, Some("version_conflict")), "{stale}");
    let (_, team) = h.get(admin, "/api/v1/teams/ops").await;
    assert_eq!(team["settings"]["reconfirm_after_secs"], 600);
    assert_eq!(team["settings"]["console"]["language"], "en");
    assert_eq!(team["roster"]["default"], json!(["zhao"]), "the stale roster changed nothing");
    let roster = json!({"roster": {"default": ["zhou"], "categories": {"prizes": ["wang", "li"]}}, "expected_version": team["version"]});
    assert_eq!(h.put(admin, "/api/v1/teams/ops/roster", roster).await.0, StatusCode::OK);
    for (path, body, code) in [
        ("/api/v1/teams/ops/settings", json!({"settings": {"close_after_secs": 0}}), "invalid_settings"),
        ("/api/v1/teams/ops/settings", json!({"settings": {"no_such_setting": 1}}), "invalid_settings"),
        ("/api/v1/teams/ops/roster", json!({"roster": {"default": ["not valid"]}}), "bad_staff_id"),
    ] {
        let (status, answer) = h.put(admin, path, body).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wecom_application_set_up_in_the_console_is_served_and_its_secrets_stay_out_of_the_log() {
    let h = harness().await;
    let admin = &h.keys.ops_admin;
    let setup = json!({
        "corp_id": "ww0123456789", "agent_id": 1000002, "token": "QDG6eK", "encoding_aes_key": AES_KEY,
        "secret": "the-application-secret", "console_url": "https://sb.example.com",
    });
    let (status, wecom) = h.put(admin, "/api/v1/teams/ops/wecom", setup).await;
    assert_eq!(status, StatusCode::OK, "{wecom}");
    assert_eq!(
        (wecom["source"].as_str(), wecom["receiving"].as_bool(), wecom["sending"].as_bool()),
        (Some("console"), Some(true), Some(true)),
        "{wecom}"
    );
    let log = h.log.read_all(0, 10_000, None).await.unwrap();
    let recorded: Vec<String> = log.iter().map(|e| e.payload.to_string()).collect();
    assert!(recorded.iter().any(|p| p.contains("SWITCHBOARD_TEAM_OPS_WECOM_TOKEN")), "the log names the secrets");
    for secret in ["QDG6eK", AES_KEY, "the-application-secret"] {
        assert!(!recorded.iter().any(|p| p.contains(secret)), "the log never holds {secret}");
    }
    let file = std::fs::read_to_string(&h.secrets_path).unwrap();
    assert!(file.contains("the-application-secret"), "the secret file holds them");
    // Changing a setting without retyping the secrets keeps them.
    let (status, changed) =
        h.put(admin, "/api/v1/teams/ops/wecom", json!({"corp_id": "ww0123456789", "agent_id": 1000003})).await;
    assert_eq!((status, changed["receiving"].as_bool()), (StatusCode::OK, Some(true)), "{changed}");
    assert_eq!(changed["agent_id"], 1000003);
    // Nothing answers at this harness's own address: the check says so.
    let (status, report) = h.post(admin, "/api/v1/teams/ops/wecom/verify", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], false);
    assert!(report["message"].as_str().unwrap().contains("did not answer"), "{report}");
    for (body, code) in [
        (json!({"corp_id": "ww1", "agent_id": 1, "token": "bad token!", "encoding_aes_key": AES_KEY}), "bad_token"),
        (json!({"corp_id": "ww1", "agent_id": 1, "token": "ok", "encoding_aes_key": "short"}), "bad_encoding_aes_key"),
        (json!({"corp_id": " ", "agent_id": 1}), "bad_wecom_settings"),
    ] {
        let (status, answer) = h.put(admin, "/api/v1/teams/ops/wecom", body).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{answer}");
    }
    let (status, answer) =
        h.put(&h.keys.games_admin, "/api/v1/teams/games/wecom", json!({"corp_id": "ww1", "agent_id": 1})).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("secret_required")), "{answer}");
    let (status, removed) = h.delete(admin, "/api/v1/teams/ops/wecom").await;
    assert_eq!(
        (status, removed["source"].as_str(), removed["receiving"].as_bool()),
        (StatusCode::OK, Some("none"), Some(false))
    );
    let (status, answer) = h.post(admin, "/api/v1/teams/ops/wecom/verify", json!({})).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::CONFLICT, Some("not_receiving")));
}
