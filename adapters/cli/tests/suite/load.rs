//! `switchboard load` against the real binary on each log backend: encrypted WeCom callbacks
//! at a fixed rate, a share of them delivered twice, then the exactly-once check of the log.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::common::{free_port, LoadRun, Server};
use serde_json::Value;
use switchboard_jetstream::testing::NatsServer;

/// Runs 8 s of load at 40 messages/s against a fresh `serve --demo` and returns the report.
fn load_against(data: &Path, config: Option<&Path>) -> Value {
    let api_port = free_port();
    let api = format!("http://127.0.0.1:{api_port}/cgi-bin");
    let server = Server::start(data, config, &["--demo", "--demo-wecom-api", &api]);
    let run = LoadRun::start(config, &server.base, api_port, &["--rate", "40", "--duration", "8s"]);
    let (report, success) = run.report();
    assert!(success, "load reported a broken log: {report}");
    report
}

fn assert_exactly_once(report: &Value) {
    let count = |field: &str| report[field].as_u64().unwrap_or_else(|| panic!("no {field} in {report}"));
    assert_eq!(count("messages"), 320, "the schedule was kept: {report}");
    assert!(count("redeliveries") > 10, "a share was delivered twice: {report}");
    assert_eq!(count("accepted"), count("messages"), "a healthy server accepts everything: {report}");
    assert_eq!(count("errors"), 0, "{report}");
    for field in ["lost", "duplicated", "phantom", "stuck_sessions", "undelivered"] {
        assert_eq!(count(field), 0, "{field}: {report}");
    }
    assert!(report["drained"].as_bool().unwrap(), "{report}");
    assert!(count("sessions") >= count("operators").min(count("messages")), "{report}");
    assert!(count("sent_by_switchboard") >= count("messages"), "every question was answered: {report}");
    assert!(report["match_ms"]["p50"].as_f64().unwrap() > 0.0, "questions were matched: {report}");
    let latency = &report["latency_ms"];
    assert!(latency["p50"].as_f64().unwrap() > 0.0, "{report}");
    assert!(latency["p50"].as_f64() <= latency["p99"].as_f64() && latency["p99"].as_f64() <= latency["p999"].as_f64());
}

#[test]
fn load_on_the_embedded_store_keeps_every_message_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let report = load_against(&dir.path().join("data"), None);
    assert_exactly_once(&report);
}

#[test]
fn load_on_jetstream_keeps_every_message_exactly_once() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::nats_config(dir.path(), &nats.url());
    let report = load_against(&dir.path().join("data"), Some(&config));
    assert_exactly_once(&report);
}

#[test]
fn load_refuses_a_target_off_this_machine() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["load", "--target", "http://192.0.2.1:8080", "--duration", "1s"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
}
