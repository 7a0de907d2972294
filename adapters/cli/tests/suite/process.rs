//! The real `switchboard` binary as a user runs it: the demo answers from its FAQ (and keeps
//! its FAQ vectors across a restart), and a SIGKILL between scheduling and firing a timer
//! neither loses nor doubles it.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::Server;
use serde_json::{json, Value};

fn count(view: &Value, event_type: &str) -> usize {
    view["timeline"].as_array().unwrap().iter().filter(|l| l["event_type"] == event_type).count()
}

#[test]
fn the_demo_answers_questions_from_its_faq_in_chinese_and_english() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None, &["--demo"]);
    let reply = server.post("/api/v1/teams/demo/messages", json!({"user": "zhangsan", "text": "奖品库存不够了怎么加"}));
    assert_eq!(reply["status"], "answered", "{reply}");
    assert!(reply["replies"][0]["text"].as_str().unwrap().contains("追加库存"), "{reply}");

    let reply = server.post(
        "/api/v1/teams/demo/messages",
        json!({"user": "amy", "text": "How do I export the list of participants?"}),
    );
    assert_eq!(reply["status"], "answered", "{reply}");
    assert!(reply["replies"][0]["text"].as_str().unwrap().contains("导出"), "{reply}");

    let reply = server.post("/api/v1/teams/demo/messages", json!({"user": "bob", "text": "转人工"}));
    assert_eq!(reply["status"], "with_human", "{reply}");

    // The semantic model is installed by ops/setup.sh, so matching is hybrid.
    let health = server.get("/healthz");
    assert_eq!(health["semantic"], "ready", "{health}");
    assert!(health["matcher"].as_str().unwrap().starts_with("hybrid:"), "{health}");
    server.kill();
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["events", "tail", "--json", "--team", "demo"])
        .output()
        .unwrap();
    let matches: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event_type"] == "FaqMatched")
        .collect();
    assert!(!matches.is_empty());
    for m in &matches {
        assert!(m["payload"]["engine"].as_str().unwrap().starts_with("hybrid:"), "{m}");
        let first = &m["payload"]["candidates"][0];
        assert!(first["semantic_score"].is_number(), "every score is recorded: {m}");
    }

    // The FAQ vectors were kept: a restart embeds nothing it has seen, and still answers.
    let vectors = dir.path().join("vectors").join("multilingual-e5-small-q4q8_query_passage.vectors");
    let size = || std::fs::metadata(&vectors).unwrap_or_else(|e| panic!("{}: {e}", vectors.display())).len();
    let before = size();
    assert!(before > 16 * 2 * 1_500, "the demo's 16 FAQ questions and answers at least: {before} bytes");
    let server = Server::start(dir.path(), None, &["--demo"]);
    let reply = server.post("/api/v1/teams/demo/messages", json!({"user": "lisi", "text": "奖品库存不够了怎么加"}));
    assert_eq!(reply["status"], "answered", "{reply}");
    server.post("/api/v1/teams/demo/messages", json!({"user": "wangwu", "text": "a question nobody asked before"}));
    assert_eq!(size(), before, "no FAQ text embedded again, and live questions are not kept");
    server.kill();
}

fn config_with_fast_timers(dir: &Path) -> PathBuf {
    let path = dir.join("switchboard.toml");
    std::fs::write(
        &path,
        r#"
[teams.ops]
name = "Ops"
[teams.ops.settings]
reconfirm_after_secs = 5
close_after_secs = 3600
[teams.ops.roster]
default = ["zhao"]
"#,
    )
    .unwrap();
    path
}

#[test]
fn a_restart_keeps_conversations_and_a_pending_timer_fires_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_fast_timers(dir.path());
    let data = dir.path().join("data");

    let server = Server::start(&data, Some(&config), &[]);
    server.post("/api/v1/teams/ops/messages", json!({"user": "lisi", "text": "活动页面白屏", "message_id": "w1"}));
    let view = server.get("/api/v1/teams/ops/conversations/lisi");
    assert_eq!(count(&view, "TimerScheduled") - count(&view, "TimerCancelled"), 1, "one timer is pending");
    assert_eq!(count(&view, "TimerFired"), 0);
    server.kill();

    // The timer comes due while nothing runs (with room for a slow, busy machine: the
    // check above must see it still pending).
    std::thread::sleep(Duration::from_secs(6));
    let server = Server::start(&data, Some(&config), &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let view = loop {
        let view = server.get("/api/v1/teams/ops/conversations/lisi");
        if count(&view, "TimerFired") > 0 || Instant::now() > deadline {
            break view;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(count(&view, "MessageReceived"), 1, "the conversation survived the restart");
    assert_eq!(count(&view, "TimerFired"), 1, "the overdue timer fired after the restart");
    assert_eq!(count(&view, "ReconfirmSent"), 1);
    server.kill();

    // Another restart: nothing fires twice, and the retried message is still recorded once.
    let server = Server::start(&data, Some(&config), &[]);
    let retry =
        server.post("/api/v1/teams/ops/messages", json!({"user": "lisi", "text": "活动页面白屏", "message_id": "w1"}));
    assert_eq!(retry["recorded"], false);
    std::thread::sleep(Duration::from_secs(1));
    let view = server.get("/api/v1/teams/ops/conversations/lisi");
    assert_eq!(count(&view, "TimerFired"), 1);
    assert_eq!(count(&view, "ReconfirmSent"), 1);
    assert_eq!(count(&view, "MessageReceived"), 1);
}

#[test]
fn audit_and_events_tail_read_the_log_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, None, &["--demo"]);
    server.post("/api/v1/teams/demo/messages", json!({"user": "wangwu", "text": "活动审核要多久"}));
    server.kill();

    let bin = env!("CARGO_BIN_EXE_switchboard");
    let output = Command::new(bin).arg("--data-dir").arg(&data).args(["audit", "demo/wangwu"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("operator wrote: 活动审核要多久"), "{text}");
    assert!(text.contains("state at now: session"), "{text}");

    let output = Command::new(bin)
        .arg("--data-dir")
        .arg(&data)
        .args(["audit", "demo/wangwu", "--at", "2000-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert!(String::from_utf8(output.stdout).unwrap().contains("no session yet"));

    let output = Command::new(bin)
        .arg("--data-dir")
        .arg(&data)
        .args(["events", "tail", "--team", "demo", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|e| e["event_type"] == "MessageReceived" && e["team"] == "demo"));
    assert!(lines.windows(2).all(|w| w[0]["position"].as_u64() < w[1]["position"].as_u64()));

    let output = Command::new(bin).arg("--data-dir").arg(&data).arg("replay").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("rebuilt sessions in"), "{text}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("100%"), "replay shows its progress");

    let output = Command::new(bin).arg("--data-dir").arg(&data).args(["audit", "demo"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("<team>/<user>"));
}

#[test]
fn an_encrypted_wecom_callback_reaches_the_conversation_through_the_binary() {
    use switchboard_wecom::WecomCrypto;
    let (token, key, corp) = ("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[teams.ops]
name = "Ops"
[teams.ops.roster]
default = ["zhao"]
[teams.ops.wecom]
corp_id = "{corp}"
agent_id = 218
token = "{token}"
encoding_aes_key = "{key}"
secret_ref = "OPS_WECOM_SECRET"
"#
        ),
    )
    .unwrap();
    let server = Server::start(&dir.path().join("data"), Some(&config), &[]);
    let crypto = WecomCrypto::new(token, key, corp).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let message = format!(
        "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[lisi]]></FromUserName>\
         <CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[活动页面白屏怎么办]]></Content>\
         <MsgId>7253391837482938471</MsgId><AgentID>218</AgentID></xml>"
    );
    let encrypted = crypto.encrypt(&message, [7; 16]).unwrap();
    let signature = crypto.signature(&now, "nonce1", &encrypted);
    let body = format!(
        "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><AgentID><![CDATA[218]]></AgentID><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    );
    let url = format!("{}/wecom/ops/callback?msg_signature={signature}&timestamp={now}&nonce=nonce1", server.base);
    for _ in 0..3 {
        // WeCom retries; each delivery gets an empty 200 and the message is recorded once.
        let response = ureq::post(&url).send_string(&body).unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.into_string().unwrap(), "");
    }
    let view = server.get("/api/v1/teams/ops/conversations/lisi");
    assert_eq!(count(&view, "MessageReceived"), 1, "{view}");
    let bad = ureq::post(&url.replace(&signature, "0000")).send_string(&body);
    assert!(matches!(bad, Err(ureq::Error::Status(403, _))), "a wrong signature is refused");
    // The callbacks were timed under their route; the appends and the match too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.metric("switchboard_core_matched_total") == 0 {
        assert!(std::time::Instant::now() < deadline, "the question was never matched");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let route = r#"method="POST",route="/wecom/{team}/callback""#;
    assert_eq!(server.metric(&format!(r#"switchboard_http_request_seconds_count{{{route},status="2xx"}}"#)), 3);
    assert_eq!(server.metric(&format!(r#"switchboard_http_request_seconds_count{{{route},status="4xx"}}"#)), 1);
    assert!(server.metric("switchboard_log_append_seconds_count") >= 3, "appends are timed");
    assert!(server.metric("switchboard_match_seconds_count") >= 1, "matching is timed");
}

#[test]
fn serve_and_replay_keep_the_read_models_on_postgresql_when_configured() {
    let url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".into());
    let schema = format!("sb_cli_{}", uuid::Uuid::now_v7().simple());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(&config, format!("[read_models]\nkind = \"postgres\"\nurl = \"{url}\"\nschema = \"{schema}\"\n"))
        .unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, Some(&config), &["--demo"]);
    server.post("/api/v1/teams/demo/messages", json!({"user": "wangwu", "text": "奖品库存不够了怎么加"}));
    server.post("/api/v1/teams/demo/messages", json!({"user": "lisi", "text": "转人工"}));
    let list =
        server.eventually("/api/v1/teams/demo/sessions", |v| v["sessions"].as_array().is_some_and(|s| s.len() == 2));
    let users: Vec<&str> = list["sessions"].as_array().unwrap().iter().map(|s| s["user"].as_str().unwrap()).collect();
    assert_eq!(users, vec!["lisi", "wangwu"], "{list}");
    server.kill();
    assert!(!data.join("readmodels.sqlite").exists(), "nothing was written to the embedded read models");

    let bin = env!("CARGO_BIN_EXE_switchboard");
    let output =
        Command::new(bin).arg("--config").arg(&config).arg("--data-dir").arg(&data).arg("replay").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8(output.stdout).unwrap().contains(&format!("PostgreSQL schema {schema}")));

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = switchboard_readstore::PostgresReadStore::connect(&url, Some(&schema)).await.unwrap();
        use switchboard_projections::store::{ReadStore, SessionQuery};
        let demo = switchboard_schemas::TeamId::new("demo").unwrap();
        let rows = store.sessions(&SessionQuery::team(demo, 10)).await.unwrap().rows;
        assert_eq!(rows.len(), 2, "replay rebuilt both sessions in PostgreSQL");
        store.backend().batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
    });
}

#[test]
fn a_postgres_read_model_without_a_url_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("replay")
        .env("SWITCHBOARD_READ_MODELS__KIND", "postgres")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("read_models.url is not set"), "{stderr}");
}

/// A first start of the demo records four weeks of traffic through the engine: the
/// statistics, FAQ candidates and weekly report have something to show, none of it is
/// matched, sent or timed again by the running core, and a restart records nothing more.
#[test]
fn the_demo_opens_with_four_weeks_of_history_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with_env(dir.path(), None, &["--demo"], &[("SWITCHBOARD_DEMO_HISTORY", "true")]);
    let now = chrono::Utc::now();
    let format = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let path = format!(
        "/api/v1/teams/demo/statistics?from={}&to={}",
        format(now - chrono::Duration::days(29)),
        format(now + chrono::Duration::days(1))
    );
    let stats = server.eventually(&path, |s| s["opened"].as_u64().unwrap_or(0) > 150 && s["closed"] == s["opened"]);
    let figure = |name: &str| stats[name].as_u64().unwrap_or(0);
    assert!(figure("opened") > 150, "a month of sessions: {stats}");
    assert_eq!(figure("closed"), figure("opened"), "every recorded session ended: {stats}");
    for name in ["resolved_automatically", "transferred", "reconfirmed", "auto_closed"] {
        assert!(figure(name) > 0, "{name} happened in the month: {stats}");
    }
    let days = stats["opened_per_day"].as_array().unwrap();
    assert_eq!(days.len(), 28, "every one of the 28 days had sessions: {days:?}");
    for list in ["per_assignee", "per_category", "top_faqs"] {
        assert!(!stats[list].as_array().unwrap().is_empty(), "{list} is filled: {stats}");
    }
    let candidates = server.get("/api/v1/teams/demo/faq-candidates");
    assert!(!candidates.as_array().unwrap().is_empty(), "questions nobody could answer became candidates");
    let week = (now - chrono::Duration::days(7)).format("%G-W%V").to_string();
    let report = ureq::get(&format!("{}/api/v1/teams/demo/reports/weekly?week={week}&format=csv", server.base))
        .set("authorization", &crate::common::admin_auth())
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(report.lines().count() > 20, "last week's report lists its sessions: {} lines", report.lines().count());

    // The past is settled: the running core finds nothing to match, send or fire.
    std::thread::sleep(Duration::from_secs(2));
    for counter in
        ["switchboard_core_matched_total", "switchboard_core_sends_total", "switchboard_core_timers_fired_total"]
    {
        assert_eq!(server.metric(counter), 0, "{counter}: the history was acted on again");
    }
    server.restart();
    let again = server.eventually(&path, |s| s["opened"] == stats["opened"]);
    assert_eq!(again["opened"], stats["opened"], "a restart records no second history");
}
