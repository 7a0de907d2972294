//! The conversation and read-model API over a real embedded log, a real keyword index and
//! the real core, in process through poem's test client.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::Datelike;
use poem::http::StatusCode;
use serde_json::json;
use switchboard_http::testing::{harness, Harness, ADMIN_KEY};

async fn get_json(h: &Harness, path: &str) -> (StatusCode, serde_json::Value) {
    h.get(&h.keys.ops_viewer, path).await
}

async fn send(h: &Harness, team: &str, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    h.send(team, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_answered_from_the_faq_and_the_conversation_reads_back() {
    let h = harness().await;
    let (status, body) =
        send(&h, "ops", json!({"user": "zhangsan", "text": "奖品库存不足了怎么办", "message_id": "m1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "answered", "{body}");
    assert!(body["replies"][0]["text"].as_str().unwrap().contains("追加库存"), "{body}");
    assert_eq!(body["recorded"], true);

    let (status, again) =
        send(&h, "ops", json!({"user": "zhangsan", "text": "奖品库存不足了怎么办", "message_id": "m1"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["recorded"], false, "a retried message id is recorded once");

    let (status, view) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/conversations/zhangsan").await;
    assert_eq!(status, StatusCode::OK);
    let received = view["timeline"].as_array().unwrap().iter().filter(|l| l["event_type"] == "MessageReceived").count();
    assert_eq!(received, 1);
    assert_eq!(view["sessions"][0]["status"], "answered");
    let lookup = &view["sessions"][0]["matches"][0];
    assert_eq!(lookup["decision"], "answer", "{view}");
    assert_eq!(lookup["candidates"][0]["faq_id"], "prize-stock");
    assert!(lookup["candidates"][0]["keyword_score"].as_f64().unwrap() > 0.0, "scores per engine: {lookup}");

    assert_eq!(h.feedback("zhangsan", true).await, StatusCode::OK);
    assert_eq!(h.feedback("zhangsan", true).await, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_writes_nothing() {
    let h = harness().await;
    let (status, body) = h
        .post(
            switchboard_http::testing::ADMIN_KEY,
            "/api/v1/teams/nope/messages",
            json!({"user": "zhangsan", "text": "hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "unknown_team");

    let (status, body) = send(&h, "ops", json!({"user": "zhang san", "text": "hi"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "bad_user_id");

    let (status, body) = send(&h, "ops", json!({"user": "zhangsan", "text": "   "})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "empty_text");

    let (status, body) = send(&h, "ops", json!({"user": "zhangsan", "text": "长".repeat(201)})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "message_too_long");

    let (status, _) = send(&h, "ops", json!({"user": "zhangsan", "text": "x".repeat(5000)})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "bodies over the byte limit are refused");

    let (status, _) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/conversations/zhangsan").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = h.post(&h.keys.ops_agent, "/api/v1/teams/ops/conversations/zhangsan/close", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "no_session");
    assert!(
        h.log
            .read_all(0, 1000, None)
            .await
            .unwrap()
            .iter()
            .all(|e| e.stream.kind() != switchboard_schemas::AggregateKind::Conversation),
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_take_over_reply_remark_and_close() {
    let h = harness().await;
    send(&h, "ops", json!({"user": "lisi", "text": "系统报错 500 了"})).await;
    let post = |path: &str, body: serde_json::Value| {
        let path = format!("/api/v1/teams/ops/conversations/lisi/{path}");
        let h = &h;
        async move { h.post(&h.keys.ops_agent, &path, body).await.0 }
    };
    assert_eq!(post("replies", json!({"text": "我来看看"})).await, StatusCode::OK);
    assert_eq!(post("remarks", json!({"text": "VIP 客户"})).await, StatusCode::OK);
    assert_eq!(post("status", json!({"to": "waiting"})).await, StatusCode::OK);
    assert_eq!(post("status", json!({"to": "answered"})).await, StatusCode::CONFLICT);
    assert_eq!(post("group-chat", json!({})).await, StatusCode::OK);
    assert_eq!(post("close", json!({})).await, StatusCode::OK);
    assert_eq!(post("reopen", json!({})).await, StatusCode::OK);
    let (_, view) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/conversations/lisi").await;
    let session = &view["sessions"][0];
    assert_eq!(session["status"], "with_human");
    assert_eq!(session["remarks"][0]["text"], "VIP 客户");
    assert_eq!(session["remarks"][0]["author"], "qian", "the key's holder is the author");
    assert!(session["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["text"] == "我来看看" && m["from"] == "staff:qian"));
    let closed_by = view["timeline"].as_array().unwrap().iter().find(|l| l["event_type"] == "SessionClosed").unwrap()
        ["summary"]
        .clone();
    assert!(closed_by.as_str().unwrap().contains("staff qian"), "{closed_by}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_the_openapi_document_are_served() {
    let h = harness().await;
    let response = h.client.get("/healthz").send().await;
    response.assert_status_is_ok();
    let body: serde_json::Value = serde_json::from_str(&response.0.into_body().into_string().await.unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}), "without a key: the status alone");
    for key in [h.keys.ops_admin.as_str(), "nonsense"] {
        let response = h.client.get("/healthz").header("authorization", format!("Bearer {key}")).send().await;
        let body: serde_json::Value =
            serde_json::from_str(&response.0.into_body().into_string().await.unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({"status": "ok"}), "a team's key sees no instance details");
    }
    let response = h.client.get("/healthz").header("authorization", format!("Bearer {ADMIN_KEY}")).send().await;
    let body: serde_json::Value = serde_json::from_str(&response.0.into_body().into_string().await.unwrap()).unwrap();
    assert_eq!((body["status"].as_str(), body["store"].as_str()), (Some("ok"), Some("embedded")), "{body}");
    assert_eq!(body["stopped_tasks"], serde_json::json!([]));
    assert_eq!(body["parked_total"], 0);
    let response = h.client.get("/openapi.json").send().await;
    response.assert_status_is_ok();
    let spec: serde_json::Value = serde_json::from_str(&response.0.into_body().into_string().await.unwrap()).unwrap();
    for path in [
        "/teams/{team}/messages",
        "/teams/{team}/faqs/import",
        "/teams/{team}/faq-candidates/approve",
        "/teams",
        "/teams/{team}/keys",
        "/teams/{team}/wecom/verify",
        "/teams/{team}/conversations/{user}/events",
    ] {
        assert!(spec["paths"].get(path).is_some(), "the spec documents {path}");
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["AccessKey"]["scheme"], "bearer",
        "every route takes an access key"
    );
    assert!(!spec.to_string().contains("put_definitions replaces this"), "every described type's schema is in place");
    // Every reference names a schema the document holds (the types the described ones use
    // included), so a tool can resolve all of it.
    fn refs<'a>(value: &'a serde_json::Value, found: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                    found.push(target);
                }
                map.values().for_each(|v| refs(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&spec, &mut found);
    assert!(found.contains(&"#/components/schemas/AnswerPolicy"), "settings refer to their parts");
    for target in found {
        let name = target.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{target}"));
        assert!(spec["components"]["schemas"].get(name).is_some(), "{target} resolves");
    }
    // What the server checks in bodies and queries is declared, from the same bounds.
    let schemas = &spec["components"]["schemas"];
    let wecom = &schemas["WecomSetup"]["properties"];
    assert_eq!(wecom["token"]["pattern"], "^[A-Za-z0-9]{1,32}$");
    assert_eq!(wecom["encoding_aes_key"]["maxLength"], 43);
    assert_eq!(wecom["agent_id"]["minimum"], 1.0);
    assert_eq!(wecom["secret"]["maxLength"], switchboard_schemas::bounds::MAX_APP_SECRET_CHARS);
    let webhook = &schemas["WebhookBody"]["properties"];
    assert_eq!(webhook["url"]["maxLength"], switchboard_schemas::bounds::MAX_URL_BYTES);
    assert_eq!(webhook["event_types"]["maxItems"], switchboard_schemas::bounds::MAX_WEBHOOK_EVENT_TYPES);
    assert!(webhook["event_types"]["items"]["enum"].as_array().unwrap().contains(&json!("SessionOpened")));
    let faq = &schemas["NewFaq"]["properties"];
    assert_eq!(faq["answer"]["maxLength"], switchboard_schemas::bounds::MAX_ANSWER_CHARS);
    assert_eq!(faq["paraphrases"]["maxItems"], switchboard_schemas::bounds::MAX_PARAPHRASES);
    assert_eq!(schemas["FaqEdit"]["properties"]["expected_revision"]["minimum"], 0.0);
    assert_eq!(schemas["NewTeam"]["properties"]["name"]["maxLength"], switchboard_schemas::bounds::MAX_TEAM_NAME_CHARS);
    assert_eq!(schemas["Roster"]["properties"]["default"]["maxItems"], switchboard_schemas::bounds::MAX_PARTICIPANTS);
    let weekly = spec["paths"]["/teams/{team}/reports/weekly"]["get"]["parameters"].as_array().unwrap();
    let week = weekly.iter().find(|p| p["name"] == "week").unwrap();
    assert!(week["schema"]["pattern"].as_str().unwrap().starts_with("^[0-9]{4}-W"), "{week}");
    let settings = &spec["components"]["schemas"]["TeamSettings"];
    assert_eq!(settings["additionalProperties"], false, "{settings}");
    assert_eq!(
        settings["properties"]["reconfirm_after_secs"]["maximum"],
        switchboard_schemas::bounds::MAX_TIMER_SECS,
        "the bounds the engine enforces are declared: {settings}"
    );
    assert_eq!(
        spec["components"]["schemas"]["OnCallSettings"]["properties"]["categories"]["maxProperties"],
        switchboard_schemas::bounds::MAX_CATEGORIES
    );
    let docs = h.client.get("/docs/").send().await;
    docs.assert_status_is_ok();
    let page = docs.0.into_body().into_string().await.unwrap();
    assert!(page.contains("\"maxProperties\""), "the browsable UI shows the served document, not poem's");
    send(&h, "ops", json!({"user": "wangwu", "text": "奖品库存不足了怎么办"})).await;
    send(&h, "ops", json!({"user": "wangwu", "text": " "})).await;
    let response = h.client.get("/metrics").send().await;
    response.assert_status_is_ok();
    let text = response.0.into_body().into_string().await.unwrap();
    let value = |name: &str| -> u64 {
        let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(value("switchboard_commands_committed_total") >= 2, "{text}");
    assert_eq!(value("switchboard_commands_rejected_total"), 1, "{text}");
    assert_eq!(value("switchboard_core_caught_up"), 1);
    // Requests are timed by their documented route, so unknown paths add no series.
    let sent =
        r#"switchboard_http_request_seconds_count{method="POST",route="/api/v1/teams/{team}/messages",status="2xx"} "#;
    assert!(text.lines().any(|l| l.starts_with(sent)), "{text}");
    let refused = r#"route="/api/v1/teams/{team}/messages",status="4xx"} 1"#;
    assert!(
        text.lines().any(|l| l.starts_with("switchboard_http_request_seconds_count") && l.ends_with(refused)),
        "{text}"
    );
    assert!(!text.contains("wangwu"), "no raw paths or values in labels");
    for gauge in ["switchboard_pending_questions", "switchboard_pending_deliveries", "switchboard_pending_timers"] {
        assert!(text.lines().any(|l| l.starts_with(&format!("{gauge} "))), "{gauge} missing: {text}");
    }
    h.read_models_caught_up().await;
    let text = h.client.get("/metrics").send().await.0.into_body().into_string().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("switchboard_projection_lag_sessions ")).unwrap();
    assert_eq!(line, "switchboard_projection_lag_sessions 0", "caught up: no lag");
    assert!(text.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_list_statistics_candidates_and_report_come_from_the_read_models() {
    let h = harness().await;
    send(&h, "ops", json!({"user": "zhangsan", "text": "奖品库存不足了怎么办"})).await;
    assert_eq!(h.feedback("zhangsan", true).await, StatusCode::OK);
    // Two wordings of a question the FAQ cannot answer, and one for the other team.
    send(&h, "ops", json!({"user": "lisi", "text": "活动页面打不开白屏怎么办"})).await;
    send(&h, "ops", json!({"user": "wangwu", "text": "活动页面打不开，白屏了怎么办"})).await;
    send(&h, "games", json!({"user": "zhaoliu", "text": "活动页面打不开白屏怎么办"})).await;
    h.read_models_caught_up().await;

    let (status, list) = get_json(&h, "/api/v1/teams/ops/sessions").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let users: Vec<&str> = list["sessions"].as_array().unwrap().iter().map(|s| s["user"].as_str().unwrap()).collect();
    assert_eq!(users, vec!["wangwu", "lisi", "zhangsan"], "newest first, ops only");
    assert_eq!(list["sessions"][2]["status"], "closed");
    assert_eq!(list["sessions"][2]["answered_from_faq"], true);
    assert_eq!(list["sessions"][0]["status"], "with_human");
    assert_eq!(list["sessions"][0]["assignee"], "wang", "on call for the best candidate's category");

    let (_, page) = get_json(&h, "/api/v1/teams/ops/sessions?limit=2").await;
    assert_eq!(page["sessions"].as_array().unwrap().len(), 2);
    let cursor = page["next"].as_str().unwrap().to_owned();
    let (_, rest) = get_json(&h, &format!("/api/v1/teams/ops/sessions?limit=2&cursor={cursor}")).await;
    assert_eq!(rest["sessions"][0]["user"], "zhangsan");
    assert!(rest["next"].is_null());
    let (_, closed) = get_json(&h, "/api/v1/teams/ops/sessions?status=closed").await;
    assert_eq!(closed["sessions"].as_array().unwrap().len(), 1);
    let (_, found) = get_json(&h, "/api/v1/teams/ops/sessions?text=%E7%99%BD%E5%B1%8F").await;
    assert_eq!(found["sessions"].as_array().unwrap().len(), 2, "text search: 白屏");

    let (status, stats) = get_json(&h, "/api/v1/teams/ops/statistics").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!((stats["opened"].as_u64(), stats["closed"].as_u64()), (Some(3), Some(1)));
    assert_eq!(stats["resolved_automatically"], 1);
    assert_eq!(stats["transferred"], 2);
    assert_eq!(stats["top_faqs"][0]["key"], "prize-stock");
    let (_, games) = h.get(&h.keys.games_admin, "/api/v1/teams/games/statistics").await;
    assert_eq!(games["opened"], 1, "the other team's figures are its own");

    let (status, groups) = get_json(&h, "/api/v1/teams/ops/faq-candidates").await;
    assert_eq!(status, StatusCode::OK, "{groups}");
    let groups = groups.as_array().unwrap();
    assert_eq!(groups.len(), 1, "two similar wordings, one group: {groups:?}");
    assert_eq!(groups[0]["count"], 2);
    assert_eq!(groups[0]["representative"], "活动页面打不开，白屏了怎么办");
    assert_eq!(groups[0]["reasons"][0]["reason"], "unanswered");

    let viewer = &h.keys.ops_viewer;
    let (status, headers, _) = h.download(viewer, "/api/v1/teams/ops/reports/weekly?format=csv&week=2020-W01").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let this_week = {
        let now = chrono::Utc::now();
        format!("{}-W{:02}", now.iso_week().year(), now.iso_week().week())
    };
    let path = format!("/api/v1/teams/ops/reports/weekly?format=csv&week={this_week}");
    let (status, headers, csv) = h.download(viewer, &path).await;
    assert_eq!(status, StatusCode::OK);
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"switchboard-ops-{this_week}.csv\"")),
        "{disposition}"
    );
    assert_eq!(csv.iter().filter(|b| **b == b'\n').count(), 4, "header and three sessions");
    let (status, headers, xlsx) =
        h.download(viewer, &format!("/api/v1/teams/ops/reports/weekly?week={this_week}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(xlsx.starts_with(b"PK"), "a zip container");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_model_queries_refuse_bad_input_clearly() {
    let h = harness().await;
    for (path, status, code) in [
        ("/api/v1/teams/ops/sessions?cursor=garbage", StatusCode::BAD_REQUEST, "invalid_query"),
        ("/api/v1/teams/ops/sessions?limit=0", StatusCode::BAD_REQUEST, "bad_limit"),
        ("/api/v1/teams/ops/sessions?limit=501", StatusCode::BAD_REQUEST, "bad_limit"),
        (
            "/api/v1/teams/ops/statistics?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "bad_period",
        ),
        ("/api/v1/teams/ops/faq-candidates?limit=0", StatusCode::BAD_REQUEST, "bad_limit"),
        ("/api/v1/teams/ops/reports/weekly?week=2026-13", StatusCode::BAD_REQUEST, "bad_week"),
    ] {
        let (got, body) = get_json(&h, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}: {body}");
    }
    for path in ["/api/v1/teams/nope/sessions", "/api/v1/teams/nope/statistics"] {
        let (status, body) = h.get(switchboard_http::testing::ADMIN_KEY, path).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_team")), "{path}: {body}");
    }
    for path in [
        "/api/v1/teams/ops/sessions?status=sleeping",
        "/api/v1/teams/ops/reports/weekly?format=pdf",
        "/api/v1/teams/ops/sessions?limit=many",
    ] {
        let (status, body) = get_json(&h, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["code"], "bad_request", "poem's own refusals use the same format: {body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_resolution_teaches_the_faq_the_operators_wording() {
    let h = harness().await;
    let (_, body) = send(&h, "ops", json!({"user": "zhangsan", "text": "奖品库存不足了怎么办"})).await;
    assert_eq!(body["status"], "answered", "{body}");
    assert_eq!(h.feedback("zhangsan", true).await, StatusCode::OK);
    let mut paraphrases = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, faqs) = get_json(&h, "/api/v1/teams/ops/faqs").await;
        paraphrases = faqs["faqs"][0]["paraphrases"].clone();
        if paraphrases.as_array().is_some_and(|p| p.iter().any(|t| t == "奖品库存不足了怎么办")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(paraphrases.as_array().unwrap().iter().any(|t| t == "奖品库存不足了怎么办"), "learned: {paraphrases}");
    // Not resolved teaches nothing.
    let (_, body) = send(&h, "ops", json!({"user": "lisi", "text": "奖品库存不足怎么办啊"})).await;
    assert_eq!(body["status"], "answered", "{body}");
    assert_eq!(h.feedback("lisi", false).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, faqs) = get_json(&h, "/api/v1/teams/ops/faqs").await;
    assert!(!faqs["faqs"][0]["paraphrases"].as_array().unwrap().iter().any(|t| t == "奖品库存不足怎么办啊"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_an_endpoint_does_not_take_is_answered_405_with_allow() {
    let h = harness().await;
    let admin = format!("Bearer {}", h.keys.ops_admin);
    for (method, path, allowed) in [
        (poem::http::Method::PATCH, "/api/v1/teams/ops", "GET"),
        (poem::http::Method::DELETE, "/api/v1/teams/ops/messages", "POST"),
        (poem::http::Method::POST, "/api/v1/teams/ops/faqs/prize-stock", "DELETE, GET, PUT"),
    ] {
        let response = h.client.request(method.clone(), path).header("authorization", &admin).send().await.0;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(allow.as_deref(), Some(allowed), "{method} {path}");
        let (status, body) = h.exchange(method.clone(), path, Some(&admin), None).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));
    }
}
