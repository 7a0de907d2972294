//! Switchboard on NATS JetStream as it runs in production: several `switchboard serve`
//! processes sharing one log, a nats-server and an engine killed with SIGKILL under load.
//! Every check reads the log back through `switchboard events tail --json`.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::Server;
use serde_json::{json, Value};
use switchboard_jetstream::testing::NatsServer;

/// A configuration on `nats_url` where the demo team re-confirms after 2 s of silence and
/// closes 2 s later, so timers come due within the test.
fn config(dir: &Path, nats_url: &str) -> PathBuf {
    let path = dir.join("switchboard.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[store]
kind = "nats"
nats_url = "{nats_url}"
[store.jetstream]
request_timeout = "2s"
[teams.demo]
name = "Demo"
[teams.demo.settings]
reconfirm_after_secs = 2
close_after_secs = 2
[teams.demo.roster]
default = ["zhao"]
"#
        ),
    )
    .unwrap();
    path
}

fn instance(dir: &Path, config: &Path, index: usize, count: usize) -> Server {
    let shard = format!("{index}/{count}");
    let data = dir.join(format!("instance{index}"));
    Server::start_with_env(&data, Some(config), &["--demo"], &[("SWITCHBOARD_CORE__SHARD", shard.as_str())])
}

/// Every event in the log, as JSON envelopes.
fn events(config: &Path, team: Option<&str>) -> Vec<Value> {
    let mut args = vec!["events", "tail", "--json"];
    if let Some(team) = team {
        args.extend(["--team", team]);
    }
    let output = crate::common::run(config, &args);
    assert!(output.status.success(), "events tail: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn of_type<'a>(events: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event_type"] == event_type).collect()
}

/// Work still open in the log: questions not matched, messages not delivered, timers not
/// resolved.
fn open_work(events: &[Value]) -> (usize, usize, usize) {
    let ids = |kind: &str, field: &str| -> BTreeSet<String> {
        of_type(events, kind).iter().map(|e| format!("{}/{}", e["stream"], e["payload"][field])).collect()
    };
    let matches = ids("MatchRequested", "message_id").difference(&ids("FaqMatched", "message_id")).count();
    let delivered: BTreeSet<String> = ids("AnswerDelivered", "outbound_id")
        .union(
            &of_type(events, "DeliveryFailed")
                .iter()
                .filter(|e| e["payload"]["gave_up"] == true)
                .map(|e| format!("{}/{}", e["stream"], e["payload"]["outbound_id"]))
                .collect(),
        )
        .cloned()
        .collect();
    let deliveries = ids("AnswerQueued", "outbound_id").difference(&delivered).count();
    let resolved: BTreeSet<String> =
        ids("TimerFired", "timer_id").union(&ids("TimerCancelled", "timer_id")).cloned().collect();
    let timers = ids("TimerScheduled", "timer_id").difference(&resolved).count();
    (matches, deliveries, timers)
}

/// Waits until the log holds no open work (timers included) and returns it.
fn settled(config: &Path) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let all = events(config, None);
        let open = open_work(&all);
        if open == (0, 0, 0) {
            return all;
        }
        assert!(Instant::now() < deadline, "work still open after 90 s (matches, deliveries, timers): {open:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The invariants of a correct log: per stream, versions 1..n without gaps or repeats;
/// every accepted message recorded exactly once; no question matched twice, no message
/// delivered twice, no timer fired twice.
fn check_log(all: &[Value], accepted: &BTreeSet<(String, String)>) {
    let mut versions: HashMap<String, Vec<u64>> = HashMap::new();
    for e in all {
        versions.entry(e["stream"].as_str().unwrap().to_owned()).or_default().push(e["version"].as_u64().unwrap());
    }
    for (stream, v) in &versions {
        assert_eq!(*v, (1..=v.len() as u64).collect::<Vec<_>>(), "versions of {stream}");
    }
    let mut received: BTreeMap<(String, String), usize> = BTreeMap::new();
    for e in of_type(all, "MessageReceived") {
        let user = e["stream"].as_str().unwrap().rsplit('.').next().unwrap().to_owned();
        *received.entry((user, e["payload"]["message_id"].as_str().unwrap().to_owned())).or_default() += 1;
    }
    for key in accepted {
        assert_eq!(received.get(key), Some(&1), "accepted message {key:?} is in the log exactly once");
    }
    assert!(received.values().all(|&n| n == 1), "no message recorded twice");
    for (kind, field) in [("FaqMatched", "message_id"), ("AnswerDelivered", "outbound_id"), ("TimerFired", "timer_id")]
    {
        let keys: Vec<String> =
            of_type(all, kind).iter().map(|e| format!("{}/{}", e["stream"], e["payload"][field])).collect();
        let unique: BTreeSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "no {kind} twice for one {field}");
    }
}

const QUESTIONS: [&str; 4] =
    ["奖品库存不够了怎么加", "系统报错了，页面打不开", "How do I export the list of participants?", "转人工"];

#[test]
fn three_instances_share_the_work_on_one_jetstream_log() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &nats.url());
    let servers: Arc<Vec<Server>> = Arc::new((0..3).map(|i| instance(dir.path(), &config, i, 3)).collect());

    // 24 operators, 3 messages each; every message is sent to two instances at once (a
    // retry racing the original), and consecutive messages of one operator go to
    // different instances, so all three write to the same conversations concurrently.
    let accepted = Arc::new(Mutex::new(BTreeSet::new()));
    let threads: Vec<_> = (0..24)
        .map(|user| {
            let (servers, accepted) = (servers.clone(), accepted.clone());
            std::thread::spawn(move || {
                for k in 0..3 {
                    let id = format!("u{user}-m{k}");
                    let body =
                        json!({"user": format!("op{user}"), "text": QUESTIONS[(user + k) % 4], "message_id": id});
                    let racers: Vec<_> = [(user + k) % 3, (user + k + 1) % 3]
                        .into_iter()
                        .map(|i| {
                            let (servers, body) = (servers.clone(), body.clone());
                            std::thread::spawn(move || servers[i].try_post("/api/v1/teams/demo/messages", body).0)
                        })
                        .collect();
                    for racer in racers {
                        let status = racer.join().unwrap();
                        assert_eq!(status, 200, "a message to a healthy instance is accepted");
                        accepted.lock().unwrap().insert((format!("op{user}"), id.clone()));
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }

    let all = settled(&config);
    check_log(&all, &accepted.lock().unwrap());
    assert_eq!(of_type(&all, "MessageReceived").len(), 72);

    // The work was shared, and done once: the instances' own counts add up to the log.
    let sum = |name: &str| servers.iter().map(|s| s.metric(name)).sum::<u64>();
    assert_eq!(sum("switchboard_core_matched_total"), of_type(&all, "FaqMatched").len() as u64);
    assert_eq!(sum("switchboard_core_sends_total"), of_type(&all, "AnswerDelivered").len() as u64, "no send twice");
    assert_eq!(sum("switchboard_core_timers_fired_total"), of_type(&all, "TimerFired").len() as u64);
    for (i, server) in servers.iter().enumerate() {
        assert!(server.metric("switchboard_core_sends_total") > 0, "instance {i} did its share");
    }
    assert!(!of_type(&all, "TimerFired").is_empty() && !of_type(&all, "SessionClosed").is_empty());

    // A team's subscribers see that team's events only, on its own subjects.
    let demo = events(&config, Some("demo"));
    assert!(!demo.is_empty() && demo.iter().all(|e| e["team"] == "demo"));
    assert_eq!(demo.len(), all.iter().filter(|e| e["team"] == "demo").count());
}

#[test]
fn a_killed_nats_server_and_a_killed_engine_lose_nothing() {
    let mut nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &nats.url());
    let servers = Arc::new(Mutex::new((0..2).map(|i| instance(dir.path(), &config, i, 2)).collect::<Vec<_>>()));
    let ports: Vec<u16> = servers.lock().unwrap().iter().map(Server::port).collect();

    // Load: operators keep writing to both instances; what got a 200 must be in the log.
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(BTreeSet::new()));
    let load: Vec<_> = (0..6)
        .map(|user| {
            let (stop, accepted, ports) = (stop.clone(), accepted.clone(), ports.clone());
            std::thread::spawn(move || {
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("u{user}-m{k}");
                    let body =
                        json!({"user": format!("op{user}"), "text": QUESTIONS[(user + k) % 4], "message_id": id});
                    let url = format!("http://127.0.0.1:{}/api/v1/teams/demo/messages", ports[(user + k) % 2]);
                    let request = ureq::post(&url).set("authorization", &crate::common::admin_auth());
                    if let Ok(r) = request.timeout(Duration::from_secs(10)).send_json(body) {
                        if r.status() == 200 {
                            accepted.lock().unwrap().insert((format!("op{user}"), id));
                        }
                    }
                    k += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_secs(2));
    let before_outage = accepted.lock().unwrap().len();
    nats.kill();
    // Both instances notice and say so on /healthz while the server is gone.
    let deadline = Instant::now() + Duration::from_secs(15);
    while servers.lock().unwrap().iter().any(|s| s.health_status() == 200) {
        assert!(Instant::now() < deadline, "/healthz still says ok with the nats-server down");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    nats.restart();
    // They reconnect on their own.
    let deadline = Instant::now() + Duration::from_secs(30);
    while servers.lock().unwrap().iter().any(|s| s.health_status() != 200) {
        assert!(Instant::now() < deadline, "instances did not recover after the nats-server came back");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    servers.lock().unwrap()[1].kill_now();
    std::thread::sleep(Duration::from_secs(1));
    servers.lock().unwrap()[1].restart();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }

    let accepted = accepted.lock().unwrap().clone();
    assert!(accepted.len() > before_outage + 10, "traffic went on after the faults ({} accepted)", accepted.len());
    let all = settled(&config);
    check_log(&all, &accepted);
    // Every conversation reads back (its events fold into a valid state).
    let servers = servers.lock().unwrap();
    for user in 0..6 {
        let view = servers[0].get(&format!("/api/v1/teams/demo/conversations/op{user}"));
        assert!(!view["sessions"].as_array().unwrap().is_empty(), "op{user}: {view}");
    }
}

/// Waits until each instance holds `parts` conversation parts (the `parts_held` gauge).
fn wait_for_parts(servers: &[&Server], parts: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held: Vec<u64> = servers.iter().map(|s| s.metric("switchboard_core_parts_held")).collect();
        if held == parts {
            return;
        }
        assert!(Instant::now() < deadline, "parts held {held:?}, expected {parts:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn leased_parts_move_from_a_stopped_engine_to_the_others() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &nats.url());
    // Leased parts with a short term; timers come due 4 s after an answer, well after the
    // instance holding them is stopped.
    let text =
        std::fs::read_to_string(&config).unwrap().replace("reconfirm_after_secs = 2", "reconfirm_after_secs = 4");
    std::fs::write(&config, format!("{text}\n[core]\nshard = \"auto\"\nparts = 8\nlease_term = \"2s\"\n")).unwrap();
    let start = |name: &str| Server::start_with_env(&dir.path().join(name), Some(&config), &["--demo"], &[]);
    let survivor = start("survivor");
    let mut stopped = start("stopped");
    wait_for_parts(&[&survivor, &stopped], &[4, 4]);

    // Questions from 16 operators, all answered before one instance stops.
    let mut accepted = BTreeSet::new();
    for user in 0..16 {
        let id = format!("u{user}");
        let body = json!({"user": format!("op{user}"), "text": QUESTIONS[user % 3], "message_id": id});
        assert_eq!(survivor.try_post("/api/v1/teams/demo/messages", body).0, 200);
        accepted.insert((format!("op{user}"), id));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while of_type(&events(&config, Some("demo")), "FaqMatched").len() < 16 {
        assert!(Instant::now() < deadline, "questions not matched");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(stopped.metric("switchboard_core_matched_total") > 0, "the stopped instance had conversations");
    assert_eq!(stopped.metric("switchboard_core_timers_fired_total"), 0, "its timers were not due yet");
    stopped.kill_now();

    // Its parts expire and move to the survivor, which fires every timer.
    wait_for_parts(&[&survivor], &[8]);
    let all = settled(&config);
    check_log(&all, &accepted);
    let fired = of_type(&all, "TimerFired").len() as u64;
    assert!(fired >= 16, "every operator's re-confirm timer fired ({fired})");
    assert_eq!(survivor.metric("switchboard_core_timers_fired_total"), fired, "the survivor fired them all");

    // A newcomer gets an even share: the survivor releases half.
    let newcomer = start("newcomer");
    wait_for_parts(&[&survivor, &newcomer], &[4, 4]);
}

#[test]
fn an_engine_stopped_gracefully_gives_its_parts_back_at_once() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &nats.url());
    // A long term: parts that had to expire would take 30 s to move.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[core]\nshard = \"auto\"\nparts = 8\nlease_term = \"30s\"\n")).unwrap();
    let start = |name: &str| Server::start_with_env(&dir.path().join(name), Some(&config), &["--demo"], &[]);
    let staying = start("staying");
    let mut leaving = start("leaving");
    wait_for_parts(&[&staying, &leaving], &[4, 4]);
    let stopped_at = Instant::now();
    assert!(leaving.stop_gracefully(), "a SIGTERM is a clean stop");
    // Within one renewal (a third of the term), not when the leases expire; the share of
    // the one instance left is every part only if the leaver's membership went too.
    let deadline = stopped_at + Duration::from_secs(20);
    while staying.metric("switchboard_core_parts_held") != 8 {
        assert!(Instant::now() < deadline, "the parts were not given back: they would move only when they expire");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A WebSocket channel client (blocking), reading frames as JSON.
struct ChannelClient {
    socket: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
}

impl ChannelClient {
    fn greeted(server: &Server, token: &str) -> ChannelClient {
        let url = format!("ws://127.0.0.1:{}/api/v1/teams/demo/channel/ws", server.port());
        let (mut socket, _) = tungstenite::connect(url).unwrap();
        if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_mut() {
            stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        }
        socket.send(tungstenite::Message::text(json!({"type": "hello", "token": token}).to_string())).unwrap();
        let mut client = ChannelClient { socket };
        assert_eq!(client.next()["type"], "ready");
        client
    }

    fn next(&mut self) -> Value {
        loop {
            match self.socket.read().expect("a frame within 20 s") {
                tungstenite::Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                tungstenite::Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    fn until_reply(&mut self, purpose: &str) -> Value {
        loop {
            let frame = self.next();
            if frame["type"] == "event" && frame["item"]["kind"] == "reply" && frame["item"]["purpose"] == purpose {
                return frame;
            }
        }
    }
}

#[test]
fn a_websocket_on_one_instance_carries_what_other_instances_write() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &nats.url());
    // The channel key shared by every instance, as the README says to run several.
    let key = ("SWITCHBOARD_TEAM_DEMO_CHANNEL_KEY", "a-channel-key-shared-by-both-instances");
    let servers: Vec<Server> = (0..2)
        .map(|i| {
            let shard = format!("{i}/2");
            let env = [("SWITCHBOARD_CORE__SHARD", shard.as_str()), key];
            Server::start_with_env(&dir.path().join(format!("instance{i}")), Some(&config), &["--demo"], &env)
        })
        .collect();

    // Operators connect to instance 0 with tokens instance 1 issued; each conversation's
    // answer is written by whichever engine holds its part.
    let mut clients = Vec::new();
    for user in 0..6 {
        let issued = servers[1].post("/api/v1/teams/demo/channel/tokens", json!({"user": format!("ws{user}")}));
        let mut client = ChannelClient::greeted(&servers[0], issued["token"].as_str().unwrap());
        let frame = json!({"type": "message", "client_id": format!("q{user}"), "text": QUESTIONS[0]});
        client.socket.send(tungstenite::Message::text(frame.to_string())).unwrap();
        clients.push(client);
    }
    for client in &mut clients {
        let answer = client.until_reply("answer");
        assert!(answer["item"]["text"].as_str().unwrap().contains("库存"), "{answer}");
    }
    assert!(servers[1].metric("switchboard_core_sends_total") > 0, "instance 1's engine answered some of them");

    // An engineer replies through instance 1; the operator on instance 0 reads it live.
    let reply = servers[1].post("/api/v1/teams/demo/conversations/ws0/replies", json!({"text": "已处理"}));
    assert!(reply["version"].as_u64().is_some(), "{reply}");
    assert_eq!(clients[0].until_reply("human_reply")["item"]["text"], "已处理");
}

/// An FAQ file whose rows make one commit larger than a JetStream message is refused whole
/// (nothing imported, however far the log got), with how many rows a part may have; parts
/// of that size import.
#[test]
fn an_faq_import_larger_than_one_message_is_refused_whole_with_a_part_size_that_fits() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &nats.url());
    let _server = instance(dir.path(), &config, 0, 1);
    let faq_events = || {
        let demo = events(&config, Some("demo"));
        of_type(&demo, "FaqAdded").len() + of_type(&demo, "FaqUpdated").len()
    };
    let before = faq_events();
    // 3,000 rows of about 600 bytes: some 1.8 MB, over the server's 1 MB max_payload.
    let row = |n: usize| format!("big-{n},问题 {n} {},答案 {n} {}\n", "很长的问题".repeat(20), "详细的答案".repeat(20));
    let big = dir.path().join("big.csv");
    std::fs::write(
        &big,
        std::iter::once("id,question,answer\n".to_owned()).chain((0..3_000).map(row)).collect::<String>(),
    )
    .unwrap();
    let output = crate::common::run(&config, &["faq", "import", "--team", "demo", big.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert_eq!(faq_events(), before, "not one row of the refused file is in the log");
    let per_part: usize = stderr
        .split("parts of at most ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the refusal says how many rows fit: {stderr}"));
    assert!((500..3_000).contains(&per_part), "{per_part} rows per part");
    let part = dir.path().join("part.csv");
    std::fs::write(
        &part,
        std::iter::once("id,question,answer\n".to_owned()).chain((0..per_part).map(row)).collect::<String>(),
    )
    .unwrap();
    let output = crate::common::run(&config, &["faq", "import", "--team", "demo", part.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(faq_events(), before + per_part, "a part of the advised size is imported whole");
}
