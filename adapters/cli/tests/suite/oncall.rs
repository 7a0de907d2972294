//! On call through the real binary: a hand-over nobody acknowledges escalates step by step
//! to the simulated WeCom API — the assignee's card with an Acknowledge button, then the
//! secondary layer, then the team lead — with time driven through the clock port
//! (`core.clock_offset_file`), not by sleeping; `serve` is SIGKILLed between two steps and
//! the chain resumes exactly where it was, each step taken once — also with two instances
//! on one JetStream log, where the survivor takes the conversation over.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard_wecom::simulator::{SentMessage, SimulatorConfig, WecomSimulator};

use switchboard_jetstream::testing::NatsServer;

use crate::common::{admin_auth, Server};

const CORP_ID: &str = "wwswitchboardoncall";
const SECRET: &str = "switchboard-on-call-secret";
const AGENT_ID: u64 = 1_000_002;

/// The configuration: the team `ops` with a WeCom application on the simulator, the clock
/// driven by `offset`, and `extra` (a shared log) prepended.
fn config(dir: &Path, api: SocketAddr, offset: &Path, extra: &str) -> PathBuf {
    let path = dir.join("switchboard.toml");
    std::fs::write(
        &path,
        format!(
            r#"{extra}
# The WeCom simulator runs on loopback: only the operator can let requests go there.
[outbound]
allow = ["127.0.0.0/8"]
[core]
clock_offset_file = "{offset}"
{shard}
[teams.ops]
name = "Ops"
[teams.ops.roster]
default = ["li_lei"]
[teams.ops.wecom]
corp_id = "{CORP_ID}"
agent_id = {AGENT_ID}
token = "SwitchboardOnCall"
encoding_aes_key = "nx7wPNT/tJgcCv0u4fWtLQz0AAE8ARVKyuNdaC5kq2I"
secret_ref = "ONCALL_WECOM_SECRET"
api_base = "http://{api}/cgi-bin"
"#,
            offset = offset.display(),
            shard = if extra.is_empty() { "" } else { "shard = \"auto\"\nlease_term = \"2s\"" },
        ),
    )
    .unwrap();
    path
}

/// Moves the instance's clock `minutes` ahead of the wall clock.
fn shift_clock(offset: &Path, minutes: i64) {
    let temporary = offset.with_extension("new");
    std::fs::write(&temporary, (minutes * 60).to_string()).unwrap();
    std::fs::rename(temporary, offset).unwrap();
}

fn put(server: &Server, path: &str, body: Value) -> (u16, Value) {
    match ureq::put(&format!("{}{path}", server.base)).set("authorization", &admin_auth()).send_json(body) {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{path}: {e}"),
    }
}

/// The cards the simulated WeCom delivered to `member`.
fn cards_to(sim: &WecomSimulator, member: &str) -> Vec<SentMessage> {
    sim.delivered().into_iter().filter(|m| m.msgtype == "template_card" && m.to.iter().any(|t| t == member)).collect()
}

/// Waits (at most 30 s) until `done` holds.
fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn escalation_steps(server: &Server) -> Vec<u64> {
    let events = server.get("/api/v1/teams/ops/conversations/zhangsan/events");
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "EscalationStepTaken")
        .map(|e| e["payload"]["step"].as_u64().unwrap())
        .collect()
}

/// Saves the on-call set-up: primary li_lei, secondary zhang_wei, lead zhao_min; the
/// assignee (5 min), the next layer (10 min), the leads (15 min); acknowledge within 10.
fn set_up_on_call(server: &Server) {
    let before = server.get("/api/v1/teams/ops/on-call");
    let layer = |name: &str, people: &[&str]| {
        json!({"name": name, "participants": people, "shift": {"count": 1, "unit": "weeks"},
               "handoff": {"weekday": "mon", "time": "09:00:00"}, "starts_on": "2026-01-05"})
    };
    let on_call = json!({
        "time_zone": "Asia/Shanghai",
        "default": [layer("primary", &["li_lei"]), layer("secondary", &["zhang_wei"])],
        "escalation": {"steps": [
            {"notify": ["assignee"], "wait_minutes": 5},
            {"notify": ["next_layer"], "wait_minutes": 10},
            {"notify": ["leads"], "wait_minutes": 15}
        ]},
        "targets": {"acknowledge_minutes": 10},
        "leads": ["zhao_min"]
    });
    let (status, saved) =
        put(server, "/api/v1/teams/ops/on-call", json!({"on_call": on_call, "expected_version": before["version"]}));
    assert_eq!(status, 200, "{saved}");
}

/// The simulated WeCom API, served on loopback from a runtime of its own.
fn wecom() -> (tokio::runtime::Runtime, WecomSimulator, SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let sim = WecomSimulator::new(SimulatorConfig::new(CORP_ID, SECRET, AGENT_ID));
    let api = runtime.block_on(sim.serve("127.0.0.1:0".parse().unwrap())).unwrap();
    (runtime, sim, api)
}

/// After the hand-over: nothing an hour later, one card per person, one missed target.
fn chain_is_over(server: &Server, sim: &WecomSimulator, offset: &Path) {
    let events = server.get("/api/v1/teams/ops/conversations/zhangsan/events");
    let missed: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "ResponseTargetMissed")
        .map(|e| &e["payload"]["target"])
        .collect();
    assert_eq!(missed, [&json!("acknowledge")], "the acknowledgment target is recorded missed once");
    shift_clock(offset, 76);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(escalation_steps(server), [0, 1, 2]);
    for member in ["li_lei", "zhang_wei", "zhao_min"] {
        assert_eq!(cards_to(sim, member).len(), 1, "{member} got one card");
    }
}

#[test]
fn an_unacknowledged_hand_over_escalates_to_wecom_step_by_step_and_resumes_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let (_runtime, sim, api) = wecom();
    let offset = dir.path().join("clock-offset");
    shift_clock(&offset, 0);
    let config = config(dir.path(), api, &offset, "");
    let mut server =
        Server::start_with_env(&dir.path().join("data"), Some(&config), &[], &[("ONCALL_WECOM_SECRET", SECRET)]);
    set_up_on_call(&server);

    // An operator asks for a person on the API channel: li_lei gets the hand-over in WeCom
    // as a card with an Acknowledge button naming the operator's conversation.
    server.post("/api/v1/teams/ops/messages", json!({"user": "zhangsan", "text": "人工"}));
    until("li_lei has the hand-over card", || !cards_to(&sim, "li_lei").is_empty());
    let card = &cards_to(&sim, "li_lei")[0].body["template_card"];
    assert!(card["button_list"][0]["key"].as_str().unwrap().starts_with("ack:zhangsan:"), "{card}");
    assert_eq!(escalation_steps(&server), [0]);

    // Four minutes later nothing more; at five the secondary layer's zhang_wei is called.
    shift_clock(&offset, 4);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(cards_to(&sim, "zhang_wei").is_empty(), "no step before its time");
    shift_clock(&offset, 5);
    until("zhang_wei is escalated to", || !cards_to(&sim, "zhang_wei").is_empty());
    assert!(cards_to(&sim, "zhang_wei")[0].text().contains("Escalation 2/3"));
    until("step 1 is in the log", || escalation_steps(&server) == [0, 1]);

    // SIGKILL between steps; while it is down the next step falls due; after the restart
    // the chain resumes where it was: the lead is called once, no step repeats.
    server.kill_now();
    shift_clock(&offset, 16);
    server.restart();
    until("zhao_min is escalated to", || !cards_to(&sim, "zhao_min").is_empty());
    until("step 2 is in the log", || escalation_steps(&server) == [0, 1, 2]);
    chain_is_over(&server, &sim, &offset);
    // The session list shows the breach.
    let breached = server.get("/api/v1/teams/ops/sessions?breached=true");
    assert_eq!(breached["sessions"][0]["user"], "zhangsan");
    assert_eq!(breached["sessions"][0]["missed_targets"], json!(["acknowledge"]));
    server.kill();
}

#[test]
fn two_instances_on_one_log_take_each_step_once_and_the_survivor_finishes_the_chain() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (_runtime, sim, api) = wecom();
    let offset = dir.path().join("clock-offset");
    shift_clock(&offset, 0);
    let shared =
        format!("[store]\nkind = \"nats\"\nnats_url = \"{}\"\n[store.jetstream]\nrequest_timeout = \"2s\"", nats.url());
    let config = config(dir.path(), api, &offset, &shared);
    let env = [("ONCALL_WECOM_SECRET", SECRET)];
    let mut first = Server::start_with_env(&dir.path().join("first"), Some(&config), &[], &env);
    let second = Server::start_with_env(&dir.path().join("second"), Some(&config), &[], &env);
    set_up_on_call(&first);
    first.post("/api/v1/teams/ops/messages", json!({"user": "zhangsan", "text": "人工"}));
    until("li_lei has the hand-over card", || !cards_to(&sim, "li_lei").is_empty());
    shift_clock(&offset, 5);
    until("zhang_wei is escalated to", || !cards_to(&sim, "zhang_wei").is_empty());
    until("step 1 is in the log", || escalation_steps(&second) == [0, 1]);
    // One instance dies (whichever held the conversation, the other has it within a lease).
    first.kill_now();
    shift_clock(&offset, 16);
    until("zhao_min is escalated to", || !cards_to(&sim, "zhao_min").is_empty());
    until("step 2 is in the log", || escalation_steps(&second) == [0, 1, 2]);
    chain_is_over(&second, &sim, &offset);
    second.kill();
}
