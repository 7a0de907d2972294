//! The WeCom channel through the real binaries: `simulate` drives encrypted traffic into a
//! running `serve` and receives its answers on the simulated WeCom API; `forward` carries a
//! test environment's callbacks to an internal instance whose data stays in its own team.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::common::{free_port, Server};
use serde_json::Value;

fn events(config: Option<&Path>, data: &Path, team: &str) -> Vec<Value> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let output =
        command.arg("--data-dir").arg(data).args(["events", "tail", "--json", "--team", team]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn simulate(config: Option<&Path>, target: &str, api_port: u16, seconds: u32) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let output = command
        .args(["simulate", "--operators", "4", "--duration", &format!("{seconds}s"), "--think-secs", "0.3"])
        .args(["--target", target, "--api-listen", &format!("127.0.0.1:{api_port}")])
        .env("SWITCHBOARD_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn figure(report: &str, label: &str) -> u64 {
    let line = report.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label:?} in:\n{report}"));
    line[label.len()..].trim().split([' ', ',']).next().unwrap().parse().unwrap()
}

#[test]
fn simulated_operators_are_answered_through_the_real_callback_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let api_port = free_port();
    let api = format!("http://127.0.0.1:{api_port}/cgi-bin");
    let server = Server::start(&data, None, &["--demo", "--demo-wecom-api", &api]);
    let report = simulate(None, &server.base, api_port, 4);
    assert!(report.contains(" 0 not answered 200"), "{report}");
    assert!(figure(&report, "callbacks delivered:") > 10, "{report}");
    assert!(figure(&report, "answers (cards with feedback buttons):") > 0, "{report}");
    assert!(figure(&report, "notices to on-call engineers (cards with Acknowledge):") > 0, "{report}");
    assert!(report.contains("group chats created:"), "{report}");
    assert!(report.contains("sessions (today and the last 30 days, from the read models): opened"), "{report}");
    server.kill();

    // What the log says: every WeCom message recorded once although some were sent twice.
    let log = events(None, &data, "demo");
    let received: Vec<&str> = log
        .iter()
        .filter(|e| e["event_type"] == "MessageReceived")
        .map(|e| e["payload"]["message_id"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&&str> = received.iter().collect();
    assert_eq!(unique.len(), received.len(), "no message recorded twice");
    assert!(log.iter().any(|e| e["event_type"] == "AnswerDelivered"), "deliveries are recorded");
}

#[test]
fn a_forwarded_test_environment_keeps_its_data_in_its_own_team() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let api_port = free_port();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            r#"
# The WeCom simulator runs on loopback: only the operator can let requests go there.
[outbound]
allow = ["127.0.0.0/8"]
[teams.demo]
name = "Demo"
[teams.demo.roster]
default = ["zhao"]
[teams.demo.wecom]
corp_id = "wwswitchboarddemo"
agent_id = 1000002
token = "SwitchboardDemo"
encoding_aes_key = "nx7wPNT/tJgcCv0u4fWtLQz0AAE8ARVKyuNdaC5kq2I"
secret_ref = "DEMO_FORWARD_SECRET"
api_base = "http://127.0.0.1:{api_port}/cgi-bin"
departments = ["test"]
[teams.demo-test]
name = "Demo, test environment"
[teams.demo-test.roster]
default = ["zhao"]
"#
        ),
    )
    .unwrap();
    let env = [("DEMO_FORWARD_SECRET", "switchboard-demo-secret")];
    let server = Server::start_with_env(&data, Some(&config), &[], &env);
    let forward_port = free_port();
    let mut forwarder = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["forward", "--listen", &format!("127.0.0.1:{forward_port}"), "--to", &server.base])
        .args(["--department", "test"])
        .env("SWITCHBOARD_LOG", "warn")
        .spawn()
        .unwrap();
    // Wait until the forwarder listens.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", forward_port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let report = simulate(Some(&config), &format!("http://127.0.0.1:{forward_port}"), api_port, 3);
    forwarder.kill().unwrap();
    forwarder.wait().unwrap();
    assert!(report.contains(" 0 not answered 200"), "{report}");
    server.kill();
    let test_env = events(Some(&config), &data, "demo-test");
    assert!(
        test_env.iter().any(|e| e["event_type"] == "MessageReceived"),
        "the test environment's team has the messages"
    );
    let production = events(Some(&config), &data, "demo");
    assert!(!production.iter().any(|e| e["event_type"] == "MessageReceived"), "nothing reached the production team");
}
