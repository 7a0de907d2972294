//! `switchboard load`: proof under load. It drives encrypted WeCom callbacks through the
//! real callback endpoint of a running `serve` at a fixed rate for a fixed time (open loop:
//! a message's latency counts from when it was due, so a stalled server cannot hide its
//! queue), sends a share of them twice as WeCom does when an answer is lost, serves the
//! simulated WeCom API that receives Switchboard's answers, and, after the traffic has
//! drained, reads every operator's conversation back to check that each accepted message is
//! in the log exactly once and that every session reached a valid state.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;
use serde_json::Value;
use switchboard_wecom::xml::{Body, Header, Message};

use crate::config::Config;
use crate::demo;
use crate::simulate::{callback_sender, wecom_side, Dice, Latency, WecomSide, QUESTIONS};

/// Options of `load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The running `switchboard serve` (its HTTP address; loopback only). Several, separated
    /// by commas, are used as a load balancer in front of them would: each callback goes to
    /// the next in turn, and to the one after when that one does not answer 200.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// The team whose WeCom application to play (the demo team's built-in one for `demo`).
    #[arg(long, default_value = demo::DEMO_TEAM)]
    team: String,
    /// Messages per second, sent on schedule whether or not earlier ones were answered.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// How long to send (e.g. 20s, 2m).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Stop after this many messages even if the duration has not passed.
    #[arg(long, default_value_t = 20_000)]
    max_messages: u64,
    /// Operators the messages are spread over (default: enough that none exceeds WeCom's
    /// 30 messages a minute to one member).
    #[arg(long)]
    operators: Option<usize>,
    /// Share of messages WeCom delivers a second time, racing the first (0 to 1).
    #[arg(long, default_value_t = 0.1)]
    duplicates: f64,
    /// Callbacks in flight at most; later ones wait, and their wait counts in their latency.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// How long to wait after the traffic for matching and deliveries to finish.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    drain_timeout: Duration,
    /// An access key that may read the team's conversations, for the check (the demo
    /// team's viewer key for `demo`).
    #[arg(long, env = "SWITCHBOARD_API_KEY")]
    key: Option<String>,
    /// Where to serve the simulated WeCom API; the team's `api_base` must point here.
    #[arg(long, default_value = demo::SIMULATOR_ADDR)]
    api_listen: SocketAddr,
    /// Seed of the questions and duplicates, for repeatable runs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the report as one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// What a load run found: the traffic's figures and the log's integrity.
#[derive(Debug, Default, Serialize)]
pub struct LoadReport {
    /// Messages scheduled (each with its own MsgId).
    pub messages: u64,
    /// Deliveries of a message already sent (WeCom's redeliveries).
    pub redeliveries: u64,
    /// Messages answered 200 (by the first delivery, a redelivery or a retry).
    pub accepted: u64,
    /// Messages never answered 200 after WeCom's retries.
    pub errors: u64,
    /// Final statuses of the messages not accepted (0: no answer), with counts.
    pub error_statuses: BTreeMap<u16, u64>,
    /// Seconds of sending.
    pub seconds: f64,
    /// Accepted messages per second of sending.
    pub accepted_per_sec: f64,
    /// Latency from when a message was due to its 200, in milliseconds.
    pub latency_ms: Latency,
    /// The longest stretch, in seconds, from a message that was not accepted to the next
    /// one that was (0 when every message was accepted): how long an outage lasted.
    pub longest_outage_secs: f64,
    /// Seconds after the traffic until no work was open.
    pub drained_secs: f64,
    /// Whether all work finished within the drain timeout.
    pub drained: bool,
    /// Operators the messages were spread over.
    pub operators: usize,
    /// Accepted messages missing from the log.
    pub lost: u64,
    /// Messages recorded more than once.
    pub duplicated: u64,
    /// Messages in the log that were never sent.
    pub phantom: u64,
    /// Messages not accepted that the log holds anyway (a 200 lost on the way back).
    pub recorded_unacknowledged: u64,
    /// Sessions left in a state only a crash leaves (waiting for a match that never ran).
    pub stuck_sessions: u64,
    /// From a question recorded to its match decision recorded, in milliseconds (the
    /// engine's lag behind the callbacks, from the events' own timestamps).
    pub match_ms: Latency,
    /// Answers queued and neither delivered nor given up on.
    pub undelivered: u64,
    /// Sessions in the checked conversations.
    pub sessions: u64,
    /// Messages Switchboard sent to the simulated WeCom API.
    pub sent_by_switchboard: u64,
}

impl LoadReport {
    /// Whether the log is exactly what was accepted and every session is in a valid state.
    pub fn intact(&self) -> bool {
        self.drained
            && self.lost == 0
            && self.duplicated == 0
            && self.phantom == 0
            && self.stuck_sessions == 0
            && self.undelivered == 0
    }
}

/// One scheduled message and what became of it.
struct Sent {
    user: String,
    msg_id: String,
    /// When it was due, from the start of the run.
    due: Duration,
    /// When its last delivery ended, from the start of the run.
    done: Duration,
    status: u16,
}

/// Refuses anything but a loopback address: load is for one's own machine.
fn require_loopback(target: &str) -> Result<()> {
    let url = reqwest::Url::parse(target).with_context(|| format!("--target {target} is not a URL"))?;
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("--target {target} is not on this machine; load only runs against loopback (127.0.0.1, ::1, localhost)");
    }
    Ok(())
}

/// Runs the load, checks the log, prints the report; fails when the log is not intact.
pub async fn run(config: Config, args: LoadArgs) -> Result<()> {
    let targets: Vec<&str> = args.target.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    anyhow::ensure!(!targets.is_empty(), "--target names no address");
    for target in &targets {
        require_loopback(target)?;
    }
    if !args.api_listen.ip().is_loopback() {
        bail!("--api-listen {} is not a loopback address", args.api_listen);
    }
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        bail!("--rate must be a positive number of messages per second");
    }
    if !(0.0..=1.0).contains(&args.duplicates) {
        bail!("--duplicates is a share between 0 and 1");
    }
    if args.max_messages == 0 || args.max_messages > 1_000_000 {
        bail!("--max-messages must be between 1 and 1000000");
    }
    let WecomSide { app, simulator, api, sender, url } =
        wecom_side(&config, &args.team, targets[0], args.api_listen).await?;
    let mut senders = vec![sender];
    for target in &targets[1..] {
        senders.push(callback_sender(&app, &args.team, target)?.0);
    }
    let senders = Arc::new(senders);

    let planned = ((args.rate * args.duration.as_secs_f64()).ceil() as u64).clamp(1, args.max_messages);
    // Each question brings an answer and often a prompt: keep every operator well under
    // WeCom's 30 messages a minute to one member, so the simulator delivers them all.
    let operators = args.operators.unwrap_or_else(|| ((args.rate * 60.0 / 10.0).ceil() as usize).max(4)).max(1);
    let started_ms = chrono::Utc::now().timestamp_millis();
    let run_tag = format!("{:x}", started_ms / 1000);
    eprintln!(
        "load: WeCom API on http://{api}/cgi-bin; {planned} messages at {}/s over {operators} operators → {url}",
        args.rate
    );

    let sent: Arc<Mutex<Vec<Sent>>> = Arc::new(Mutex::new(Vec::with_capacity(planned as usize)));
    let (accepted, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let slots = Arc::new(tokio::sync::Semaphore::new(args.max_in_flight.max(1)));
    let mut dice = Dice(args.seed);
    let mut redeliveries = 0;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut last_print = Instant::now();
    for i in 0..planned {
        let due = Duration::from_secs_f64(i as f64 / args.rate);
        tokio::time::sleep_until((start + due).into()).await;
        let user = format!("load_{run_tag}_{:05}", i as usize % operators);
        // WeCom's MsgIds are 64-bit numbers; these are unique across runs.
        let msg_id = (started_ms as u64 * 1_000_000 + i).to_string();
        let message = Message {
            header: Header {
                to_user_name: app.corp_id.clone(),
                from_user_name: user.clone(),
                create_time: chrono::Utc::now().timestamp(),
                agent_id: Some(app.agent_id.to_string()),
            },
            body: Body::Text { msg_id: msg_id.clone(), content: dice.pick(&QUESTIONS).to_string() },
        };
        let copies = if dice.chance(args.duplicates) { 2 } else { 1 };
        redeliveries += copies - 1;
        let (senders, sent, slots) = (senders.clone(), sent.clone(), slots.clone());
        let (accepted_count, failed_count) = (accepted.clone(), failed.clone());
        let first = i as usize % senders.len();
        tasks.spawn(async move {
            let deliveries = (0..copies).map(|_| async {
                let _slot = slots.acquire().await;
                // As a balancer would: the next instance in turn, the one after it when it fails.
                let mut status = 0;
                for n in 0..senders.len() {
                    let sender = &senders[(first + n) % senders.len()];
                    status = sender.send(&message).await.map_or(0, |outcome| outcome.status);
                    if status == 200 {
                        break;
                    }
                }
                status
            });
            let statuses = futures::future::join_all(deliveries).await;
            let status = if statuses.contains(&200) { 200 } else { statuses.into_iter().max().unwrap_or(0) };
            let done = start.elapsed();
            let count = if status == 200 { &accepted_count } else { &failed_count };
            count.fetch_add(1, Ordering::Relaxed);
            sent.lock().unwrap_or_else(|e| e.into_inner()).push(Sent { user, msg_id, due, done, status });
        });
        while tasks.try_join_next().is_some() {}
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            progress(start, &args, i + 1, planned, &accepted, &failed);
        }
        if start.elapsed() > args.duration + Duration::from_secs(1) && i + 1 < planned {
            // The sender itself fell behind the schedule by more than a second: report it
            // rather than stretch the run.
            eprintln!("\nload: fell behind the schedule; stopping after {} of {planned} messages", i + 1);
            break;
        }
    }
    while tasks.join_next().await.is_some() {
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            progress(start, &args, planned, planned, &accepted, &failed);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    eprintln!();

    let sent = std::mem::take(&mut *sent.lock().unwrap_or_else(|e| e.into_inner()));
    let latencies = sent
        .iter()
        .filter(|s| s.status == 200)
        .map(|s| u64::try_from(s.done.saturating_sub(s.due).as_micros()).unwrap_or(u64::MAX))
        .collect();
    let mut report = LoadReport {
        messages: sent.len() as u64,
        redeliveries,
        accepted: accepted.load(Ordering::Relaxed),
        errors: failed.load(Ordering::Relaxed),
        seconds,
        latency_ms: Latency::of(latencies),
        longest_outage_secs: longest_outage(&sent),
        operators,
        ..LoadReport::default()
    };
    report.accepted_per_sec = report.accepted as f64 / seconds.max(1e-9);
    for s in sent.iter().filter(|s| s.status != 200) {
        *report.error_statuses.entry(s.status).or_default() += 1;
    }

    let key = demo::reading_key(args.key.clone(), &args.team);
    let reader = Reader {
        http: reqwest::Client::new(),
        bases: targets.iter().map(|t| t.trim_end_matches('/').to_owned()).collect(),
        team: args.team.clone(),
        key,
    };
    let drain_start = Instant::now();
    let users: BTreeSet<&str> = sent.iter().map(|s| s.user.as_str()).collect();
    let check = loop {
        let check = reader.check(&users, &sent).await?;
        if check.open_work() == 0 || drain_start.elapsed() >= args.drain_timeout {
            break check;
        }
        eprint!("\rload: draining, {} pieces of work still open…", check.open_work());
        let _ = std::io::stderr().flush();
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    report.drained_secs = drain_start.elapsed().as_secs_f64();
    report.drained = check.open_work() == 0;
    report.lost = check.lost;
    report.duplicated = check.duplicated;
    report.phantom = check.phantom;
    report.recorded_unacknowledged = check.recorded_unacknowledged;
    report.stuck_sessions = check.stuck_sessions;
    report.undelivered = check.undelivered;
    report.sessions = check.sessions;
    report.match_ms = Latency::of(check.match_micros);
    report.sent_by_switchboard = simulator.delivered().len() as u64 + simulator.dropped().len() as u64;
    eprintln!();

    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    if !report.intact() {
        bail!(
            "the log is not what was accepted: {} lost, {} duplicated, {} phantom, {} stuck sessions, {} undelivered{}",
            report.lost,
            report.duplicated,
            report.phantom,
            report.stuck_sessions,
            report.undelivered,
            if report.drained { "" } else { " (work still open at the drain timeout)" }
        );
    }
    Ok(())
}

fn progress(start: Instant, args: &LoadArgs, scheduled: u64, planned: u64, accepted: &AtomicU64, failed: &AtomicU64) {
    eprint!(
        "\rload: {:>5.1}/{:.0} s, {scheduled}/{planned} sent, {} accepted, {} errors",
        start.elapsed().as_secs_f64(),
        args.duration.as_secs_f64(),
        accepted.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    let _ = std::io::stderr().flush();
}

/// The longest stretch from a refused message to the next accepted one, in seconds of the
/// schedule.
fn longest_outage(sent: &[Sent]) -> f64 {
    let mut by_due: Vec<(Duration, bool)> = sent.iter().map(|s| (s.due, s.status == 200)).collect();
    by_due.sort_unstable_by_key(|(due, _)| *due);
    let (mut longest, mut outage_from) = (Duration::ZERO, None);
    for (due, ok) in &by_due {
        match (ok, outage_from) {
            (false, None) => outage_from = Some(*due),
            (true, Some(from)) => {
                longest = longest.max(*due - from);
                outage_from = None;
            }
            _ => {}
        }
    }
    if let (Some(from), Some((last, _))) = (outage_from, by_due.last()) {
        longest = longest.max(*last - from);
    }
    longest.as_secs_f64()
}

/// Reads conversations back through the API, as a balancer would: an instance that does not
/// answer (a rolling restart may still be under way) is passed over for the next.
struct Reader {
    http: reqwest::Client,
    bases: Vec<String>,
    team: String,
    key: Option<String>,
}

/// What the log holds for the run's operators.
#[derive(Debug, Default)]
struct Check {
    lost: u64,
    duplicated: u64,
    phantom: u64,
    recorded_unacknowledged: u64,
    stuck_sessions: u64,
    undelivered: u64,
    sessions: u64,
    match_micros: Vec<u64>,
}

fn occurred_at(event: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    event["occurred_at"].as_str().and_then(|t| t.parse().ok())
}

impl Check {
    fn open_work(&self) -> u64 {
        self.lost + self.stuck_sessions + self.undelivered
    }

    /// Counts what one conversation's events say about the messages sent to it (`mine`:
    /// MsgId → accepted).
    fn tally_log(&mut self, events: &[Value], mine: &BTreeMap<&str, bool>) {
        let ids = |kind: &str, field: &str| -> Vec<String> {
            events
                .iter()
                .filter(|e| e["event_type"] == kind)
                .filter_map(|e| e["payload"][field].as_str().map(str::to_owned))
                .collect()
        };
        let mut recorded: BTreeMap<String, u64> = BTreeMap::new();
        for id in ids("MessageReceived", "message_id") {
            *recorded.entry(id).or_default() += 1;
        }
        for (id, ok) in mine {
            match (recorded.get(*id).copied().unwrap_or(0), *ok) {
                (0, true) => self.lost += 1,
                (1, false) => self.recorded_unacknowledged += 1,
                _ => {}
            }
        }
        self.duplicated += recorded.values().filter(|n| **n > 1).count() as u64;
        self.phantom += recorded.keys().filter(|id| !mine.contains_key(id.as_str())).count() as u64;
        // How long each question waited for its match decision. (A question may also never
        // get one, legitimately: a message arriving while its session is matching replaces
        // the request, and a transfer abandons it; sessions left matching are counted from
        // the engine's own view.)
        let mut received_at: BTreeMap<&str, chrono::DateTime<chrono::Utc>> = BTreeMap::new();
        for e in events {
            let message = e["payload"]["message_id"].as_str();
            match (e["event_type"].as_str(), message) {
                (Some("FaqMatched"), Some(message)) => {
                    if let (Some(from), Some(to)) = (received_at.get(message), occurred_at(e)) {
                        self.match_micros
                            .push(u64::try_from((to - *from).num_microseconds().unwrap_or(0)).unwrap_or(0));
                    }
                }
                (Some("MessageReceived"), Some(message)) => {
                    if let Some(at) = occurred_at(e) {
                        received_at.entry(message).or_insert(at);
                    }
                }
                _ => {}
            }
        }
        let gave_up = events
            .iter()
            .filter(|e| e["event_type"] == "DeliveryFailed" && e["payload"]["gave_up"] == true)
            .filter_map(|e| e["payload"]["outbound_id"].as_str().map(str::to_owned));
        let resolved: BTreeSet<String> = ids("AnswerDelivered", "outbound_id").into_iter().chain(gave_up).collect();
        self.undelivered +=
            ids("AnswerQueued", "outbound_id").iter().filter(|id| !resolved.contains(*id)).count() as u64;
    }
}

impl Reader {
    async fn get(&self, path: &str) -> Result<Option<Value>> {
        let mut unreachable = Vec::new();
        for base in &self.bases {
            let url = format!("{base}/api/v1/teams/{}/{path}", self.team);
            let mut request = self.http.get(&url).timeout(Duration::from_secs(30));
            if let Some(key) = &self.key {
                request = request.bearer_auth(key);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => {
                    unreachable.push(format!("{url}: {e}"));
                    continue;
                }
            };
            return match response.status().as_u16() {
                200 => Ok(Some(response.json().await.with_context(|| format!("{url} did not answer JSON"))?)),
                404 => Ok(None),
                401 | 403 => {
                    bail!(
                        "{url} refused the key (give one that may read team {}'s conversations with --key)",
                        self.team
                    )
                }
                status => bail!("{url} answered {status}: {}", response.text().await.unwrap_or_default()),
            };
        }
        bail!("no target could be read: {}", unreachable.join("; "))
    }

    async fn check(&self, users: &BTreeSet<&str>, sent: &[Sent]) -> Result<Check> {
        let mut check = Check::default();
        for user in users {
            let mine: BTreeMap<&str, bool> =
                sent.iter().filter(|s| s.user == *user).map(|s| (s.msg_id.as_str(), s.status == 200)).collect();
            let events = match self.get(&format!("conversations/{user}/events")).await? {
                Some(page) => page["events"].as_array().cloned().unwrap_or_default(),
                None => Vec::new(),
            };
            check.tally_log(&events, &mine);
            if events.is_empty() {
                continue;
            }
            // The conversation must fold into a view, and no session may wait for a match.
            let view = self
                .get(&format!("conversations/{user}"))
                .await?
                .with_context(|| format!("{user}'s conversation has events but no view"))?;
            for session in view["sessions"].as_array().into_iter().flatten() {
                check.sessions += 1;
                if session["status"] == "matching" {
                    check.stuck_sessions += 1;
                }
            }
        }
        Ok(check)
    }
}

fn print_report(r: &LoadReport) {
    println!(
        "messages: {} scheduled over {:.1} s ({} delivered twice), {} operators",
        r.messages, r.seconds, r.redeliveries, r.operators
    );
    println!("accepted: {} ({:.1}/s); errors: {} {:?}", r.accepted, r.accepted_per_sec, r.errors, r.error_statuses);
    println!(
        "latency from due time: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        r.latency_ms.p50, r.latency_ms.p99, r.latency_ms.p999, r.latency_ms.max
    );
    println!(
        "from question to match decision (the engine's lag): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        r.match_ms.p50, r.match_ms.p99, r.match_ms.max
    );
    if r.longest_outage_secs > 0.0 {
        println!("longest outage: {:.1} s", r.longest_outage_secs);
    }
    println!(
        "after draining ({:.1} s{}): lost {}, duplicated {}, phantom {}, recorded without a 200 {}",
        r.drained_secs,
        if r.drained { "" } else { ", NOT drained" },
        r.lost,
        r.duplicated,
        r.phantom,
        r.recorded_unacknowledged
    );
    println!(
        "sessions: {} checked, {} stuck in matching; answers never delivered {}",
        r.sessions, r.stuck_sessions, r.undelivered
    );
    println!("messages Switchboard sent to WeCom: {}", r.sent_by_switchboard);
    println!("integrity: {}", if r.intact() { "OK" } else { "FAILED" });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(due_ms: u64, status: u16) -> Sent {
        let due = Duration::from_millis(due_ms);
        Sent { user: "u".into(), msg_id: due_ms.to_string(), due, done: due, status }
    }

    #[test]
    fn an_outage_runs_from_the_first_refusal_to_the_next_acceptance() {
        let run = [sent(0, 200), sent(100, 0), sent(200, 503), sent(1600, 200), sent(1700, 0), sent(1800, 200)];
        assert!((longest_outage(&run) - 1.5).abs() < 1e-9);
        assert_eq!(longest_outage(&[sent(0, 200), sent(10, 200)]), 0.0);
        assert!((longest_outage(&[sent(0, 200), sent(500, 0), sent(900, 0)]) - 0.4).abs() < 1e-9);
    }

    #[test]
    fn only_loopback_targets_are_accepted() {
        for ok in ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:8080"] {
            assert!(require_loopback(ok).is_ok(), "{ok}");
        }
        for refused in ["http://10.0.0.1:8080", "http://example.com", "not a url"] {
            assert!(require_loopback(refused).is_err(), "{refused}");
        }
    }

    fn event(kind: &str, payload: Value) -> Value {
        serde_json::json!({"event_type": kind, "payload": payload})
    }

    #[test]
    fn the_check_counts_lost_duplicated_phantom_and_open_work() {
        let received = |id: &str| event("MessageReceived", serde_json::json!({"message_id": id}));
        let events = [
            received("1"),
            received("2"),
            received("2"),
            received("9"),
            received("4"),
            event("AnswerQueued", serde_json::json!({"outbound_id": "a"})),
            event("AnswerDelivered", serde_json::json!({"outbound_id": "a"})),
            event("AnswerQueued", serde_json::json!({"outbound_id": "b"})),
            event("DeliveryFailed", serde_json::json!({"outbound_id": "b", "gave_up": false})),
            event("AnswerQueued", serde_json::json!({"outbound_id": "c"})),
            event("DeliveryFailed", serde_json::json!({"outbound_id": "c", "gave_up": true})),
        ];
        // 1 and 2 accepted, 3 accepted and missing, 4 refused but recorded; 9 never sent.
        let mine = BTreeMap::from([("1", true), ("2", true), ("3", true), ("4", false)]);
        let mut check = Check::default();
        check.tally_log(&events, &mine);
        assert_eq!(
            (check.lost, check.duplicated, check.phantom, check.recorded_unacknowledged),
            (1, 1, 1, 1),
            "{check:?}"
        );
        assert_eq!(check.undelivered, 1, "{check:?}");
        let mut clean = Check::default();
        clean.tally_log(&events[..2], &BTreeMap::from([("1", true), ("2", true)]));
        assert_eq!(clean.open_work() + clean.duplicated + clean.phantom, 0, "{clean:?}");
    }

    #[test]
    fn the_time_to_a_match_decision_comes_from_the_events() {
        let at = |ms: i64| (chrono::DateTime::UNIX_EPOCH + chrono::Duration::milliseconds(ms)).to_rfc3339();
        let events = [
            serde_json::json!({"event_type": "MessageReceived", "occurred_at": at(1_000), "payload": {"message_id": "7"}}),
            serde_json::json!({"event_type": "FaqMatched", "occurred_at": at(1_250), "payload": {"message_id": "7"}}),
        ];
        let mut check = Check::default();
        check.tally_log(&events, &BTreeMap::from([("7", true)]));
        assert_eq!(check.match_micros, vec![250_000]);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let latency = Latency::of((1..=1000).map(|ms| ms * 1000).collect());
        assert_eq!((latency.p50, latency.p99, latency.p999, latency.max), (500.0, 990.0, 999.0, 1000.0));
    }
}
