//! The JSON API over a real embedded log, a real keyword index and the real core, in
//! process through poem's test client.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Datelike;

use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::json;
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::catalog::{CatalogCommand, FaqEntry};
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::SystemClock;
use switchboard_engine::runtime::Runtime;
use switchboard_engine::services::{Core, CoreConfig, CoreHandle};
use switchboard_engine::team::TeamCommand;
use switchboard_http::{app, ApiChannel, AppState, Backends, HttpLimits};
use switchboard_projections::runtime::{Projection, ProjectionOptions, SESSIONS};
use switchboard_projections::store::ReadStore;
use switchboard_readstore::SqliteReadStore;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Roster, TeamSettings};
use switchboard_schemas::{FaqId, StaffId, TeamId};
use switchboard_search::KeywordMatcher;
use uuid::Uuid;

struct Harness {
    client: TestClient<poem::endpoint::BoxEndpoint<'static>>,
    log: Arc<dyn EventLog>,
    read_models: Arc<dyn ReadStore>,
    _core: CoreHandle,
    _projection: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> =
        Arc::new(SqliteEventLog::open(&dir.path().join("events.sqlite"), SqliteOptions::default()).unwrap());
    let runtime = Arc::new(Runtime::new(log.clone(), Arc::new(SystemClock)));
    let cause = Causation::root(Uuid::now_v7());
    // A second team, to show nothing crosses teams.
    let games = TeamId::new("games").unwrap();
    runtime.team(&games, TeamCommand::Create { name: "Games".into() }, cause).await.unwrap();
    runtime.team(&games, TeamCommand::Configure { settings: Box::new(TeamSettings::default()) }, cause).await.unwrap();
    let team = TeamId::new("ops").unwrap();
    let settings = TeamSettings { max_message_chars: 200, ..TeamSettings::default() };
    let roster = Roster { default: vec![StaffId::new("zhao").unwrap()], ..Roster::default() };
    runtime.team(&team, TeamCommand::Create { name: "Ops".into() }, cause).await.unwrap();
    runtime.team(&team, TeamCommand::Configure { settings: Box::new(settings) }, cause).await.unwrap();
    runtime.team(&team, TeamCommand::UpdateRoster { roster }, cause).await.unwrap();
    let faq = FaqEntry {
        question: "奖品库存不足怎么办？".into(),
        answer: "在奖品管理里追加库存即可。".into(),
        category: Some("prizes".into()),
        paraphrases: vec!["The prize stock has run out".into()],
    };
    runtime
        .catalog(&team, CatalogCommand::Upsert { faq_id: FaqId::new("prize-stock").unwrap(), entry: faq }, cause)
        .await
        .unwrap();
    let core = Core::new(runtime.clone(), Arc::new(KeywordMatcher::new()), Arc::new(ApiChannel), CoreConfig::default())
        .spawn();
    let read_models: Arc<dyn ReadStore> =
        Arc::new(SqliteReadStore::open(&dir.path().join("readmodels.sqlite")).await.unwrap());
    let mut projection = Projection::new(log.clone(), read_models.clone(), ProjectionOptions::default());
    let projection = tokio::spawn(async move {
        projection.run(futures::future::pending()).await.unwrap();
    });
    let state = Arc::new(AppState {
        runtime,
        read_models: read_models.clone(),
        health: core.health(),
        limits: HttpLimits { max_body_bytes: 4096, reply_wait: Duration::from_secs(5) },
        backends: Backends { store: "embedded".into(), matcher: "keyword-bm25".into(), semantic: "none".into() },
    });
    let client = TestClient::new(poem::EndpointExt::boxed(app(state, true)));
    // Wait until the core has caught up so matching can run.
    for _ in 0..100 {
        if client.get("/healthz").send().await.0.status() == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Harness { client, log, read_models, _core: core, _projection: projection, _dir: dir }
}

impl Harness {
    /// Waits until the read models have folded everything in the log.
    async fn read_models_caught_up(&self) {
        let head = self.log.head().await.unwrap();
        for _ in 0..200 {
            if self.read_models.checkpoint(SESSIONS).await.unwrap() >= head {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the read models did not reach position {head}");
    }

    /// The operator's feedback on the last answer; returns the status.
    async fn feedback(&self, user: &str, resolved: bool) -> StatusCode {
        let path = format!("/api/v1/teams/ops/conversations/{user}/feedback");
        self.client.post(path).body_json(&json!({ "resolved": resolved })).send().await.0.status()
    }

    async fn get_json(&self, path: &str) -> (StatusCode, serde_json::Value) {
        let response = self.client.get(path).send().await;
        let status = response.0.status();
        let body = response.0.into_body().into_string().await.unwrap();
        (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)))
    }
}

async fn send(h: &Harness, team: &str, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    let response = h.client.post(format!("/api/v1/teams/{team}/messages")).body_json(&body).send().await;
    let status = response.0.status();
    let body = response.0.into_body().into_string().await.unwrap();
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)))
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

    let response = h.client.get("/api/v1/teams/ops/conversations/zhangsan").send().await;
    response.assert_status_is_ok();
    let view: serde_json::Value = serde_json::from_str(&response.0.into_body().into_string().await.unwrap()).unwrap();
    let received = view["timeline"].as_array().unwrap().iter().filter(|l| l["event_type"] == "MessageReceived").count();
    assert_eq!(received, 1);
    assert_eq!(view["sessions"][0]["status"], "answered");

    assert_eq!(h.feedback("zhangsan", true).await, StatusCode::OK);
    assert_eq!(h.feedback("zhangsan", true).await, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_writes_nothing() {
    let h = harness().await;
    let (status, body) = send(&h, "nope", json!({"user": "zhangsan", "text": "hi"})).await;
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

    let response = h.client.get("/api/v1/teams/ops/conversations/zhangsan").send().await;
    response.assert_status(StatusCode::NOT_FOUND);

    let response =
        h.client.post("/api/v1/teams/ops/conversations/zhangsan/close").body_json(&json!({"by": "zhao"})).send().await;
    response.assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_take_over_reply_remark_and_close() {
    let h = harness().await;
    send(&h, "ops", json!({"user": "lisi", "text": "系统报错 500 了"})).await;
    let post = |path: &str, body: serde_json::Value| {
        let path = format!("/api/v1/teams/ops/conversations/lisi/{path}");
        let client = &h.client;
        async move { client.post(path).body_json(&body).send().await.0.status() }
    };
    assert_eq!(post("replies", json!({"by": "zhao", "text": "我来看看"})).await, StatusCode::OK);
    assert_eq!(post("remarks", json!({"by": "zhao", "text": "VIP 客户"})).await, StatusCode::OK);
    assert_eq!(post("status", json!({"by": "zhao", "to": "waiting"})).await, StatusCode::OK);
    assert_eq!(post("status", json!({"by": "zhao", "to": "answered"})).await, StatusCode::CONFLICT);
    assert_eq!(post("group-chat", json!({"by": "zhao"})).await, StatusCode::OK);
    assert_eq!(post("close", json!({"by": "zhao"})).await, StatusCode::OK);
    assert_eq!(post("reopen", json!({"by": "zhao"})).await, StatusCode::OK);
    let response = h.client.get("/api/v1/teams/ops/conversations/lisi").send().await;
    let view: serde_json::Value = serde_json::from_str(&response.0.into_body().into_string().await.unwrap()).unwrap();
    let session = &view["sessions"][0];
    assert_eq!(session["status"], "with_human");
    assert_eq!(session["remarks"][0]["text"], "VIP 客户");
    assert!(session["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["text"] == "我来看看" && m["from"] == "staff:zhao"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_the_openapi_document_are_served() {
    let h = harness().await;
    let response = h.client.get("/healthz").send().await;
    response.assert_status_is_ok();
    let body: serde_json::Value = serde_json::from_str(&response.0.into_body().into_string().await.unwrap()).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"], "embedded");
    let response = h.client.get("/openapi.json").send().await;
    response.assert_status_is_ok();
    let spec = response.0.into_body().into_string().await.unwrap();
    assert!(spec.contains("/teams/{team}/messages"), "the spec documents the message endpoint");
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

    let (status, list) = h.get_json("/api/v1/teams/ops/sessions").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let users: Vec<&str> = list["sessions"].as_array().unwrap().iter().map(|s| s["user"].as_str().unwrap()).collect();
    assert_eq!(users, vec!["wangwu", "lisi", "zhangsan"], "newest first, ops only");
    assert_eq!(list["sessions"][2]["status"], "closed");
    assert_eq!(list["sessions"][2]["answered_from_faq"], true);
    assert_eq!(list["sessions"][0]["status"], "with_human");
    assert_eq!(list["sessions"][0]["assignee"], "zhao");

    let (_, page) = h.get_json("/api/v1/teams/ops/sessions?limit=2").await;
    assert_eq!(page["sessions"].as_array().unwrap().len(), 2);
    let cursor = page["next"].as_str().unwrap().to_owned();
    let (_, rest) = h.get_json(&format!("/api/v1/teams/ops/sessions?limit=2&cursor={cursor}")).await;
    assert_eq!(rest["sessions"][0]["user"], "zhangsan");
    assert!(rest["next"].is_null());
    let (_, closed) = h.get_json("/api/v1/teams/ops/sessions?status=closed").await;
    assert_eq!(closed["sessions"].as_array().unwrap().len(), 1);
    let (_, found) = h.get_json("/api/v1/teams/ops/sessions?text=%E7%99%BD%E5%B1%8F").await;
    assert_eq!(found["sessions"].as_array().unwrap().len(), 2, "text search: 白屏");

    let (status, stats) = h.get_json("/api/v1/teams/ops/statistics").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!((stats["opened"].as_u64(), stats["closed"].as_u64()), (Some(3), Some(1)));
    assert_eq!(stats["resolved_automatically"], 1);
    assert_eq!(stats["transferred"], 2);
    assert_eq!(stats["top_faqs"][0]["key"], "prize-stock");
    let (_, games) = h.get_json("/api/v1/teams/games/statistics").await;
    assert_eq!(games["opened"], 1, "the other team's figures are its own");

    let (status, groups) = h.get_json("/api/v1/teams/ops/faq-candidates").await;
    assert_eq!(status, StatusCode::OK, "{groups}");
    let groups = groups.as_array().unwrap();
    assert_eq!(groups.len(), 1, "two similar wordings, one group: {groups:?}");
    assert_eq!(groups[0]["count"], 2);
    assert_eq!(groups[0]["representative"], "活动页面打不开，白屏了怎么办");
    assert_eq!(groups[0]["reasons"][0]["reason"], "unanswered");

    let response = h.client.get("/api/v1/teams/ops/reports/weekly?format=csv&week=2020-W01").send().await;
    response.assert_status_is_ok();
    response.assert_content_type("text/csv; charset=utf-8");
    let this_week = {
        let now = chrono::Utc::now();
        format!("{}-W{:02}", now.iso_week().year(), now.iso_week().week())
    };
    let response = h.client.get(format!("/api/v1/teams/ops/reports/weekly?format=csv&week={this_week}")).send().await;
    response.assert_status_is_ok();
    let disposition = response.0.headers().get("content-disposition").unwrap().to_str().unwrap().to_owned();
    assert_eq!(disposition, format!("attachment; filename=\"switchboard-ops-{this_week}.csv\""));
    let csv = response.0.into_body().into_bytes().await.unwrap();
    assert_eq!(csv.iter().filter(|b| **b == b'\n').count(), 4, "header and three sessions");
    let response = h.client.get(format!("/api/v1/teams/ops/reports/weekly?week={this_week}")).send().await;
    response.assert_status_is_ok();
    response.assert_content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(response.0.into_body().into_bytes().await.unwrap().starts_with(b"PK"), "a zip container");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_model_queries_refuse_bad_input_clearly() {
    let h = harness().await;
    for (path, status, code) in [
        ("/api/v1/teams/nope/sessions", StatusCode::NOT_FOUND, "unknown_team"),
        ("/api/v1/teams/nope/statistics", StatusCode::NOT_FOUND, "unknown_team"),
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
        let (got, body) = h.get_json(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}: {body}");
    }
    let response = h.client.get("/api/v1/teams/ops/sessions?status=sleeping").send().await;
    response.assert_status(StatusCode::BAD_REQUEST);
    let response = h.client.get("/api/v1/teams/ops/reports/weekly?format=pdf").send().await;
    response.assert_status(StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_resolution_teaches_the_faq_the_operators_wording() {
    let h = harness().await;
    let (_, body) = send(&h, "ops", json!({"user": "zhangsan", "text": "奖品库存不足了怎么办"})).await;
    assert_eq!(body["status"], "answered", "{body}");
    assert_eq!(h.feedback("zhangsan", true).await, StatusCode::OK);
    let mut paraphrases = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, faqs) = h.get_json("/api/v1/teams/ops/faqs").await;
        paraphrases = faqs[0]["paraphrases"].clone();
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
    let (_, faqs) = h.get_json("/api/v1/teams/ops/faqs").await;
    assert!(!faqs[0]["paraphrases"].as_array().unwrap().iter().any(|t| t == "奖品库存不足怎么办啊"));
}
