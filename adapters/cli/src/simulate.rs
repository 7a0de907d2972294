//! `switchboard simulate`: realistic WeCom traffic through the real callback endpoint of a
//! running `serve`. It runs the WeCom simulator (the stand-in for the WeCom cloud: the
//! team's application sends its answers there) and plays operators who ask questions,
//! click "resolved / not resolved" on answer cards, ask for a person or a group chat, open
//! the application, and whose callbacks WeCom sometimes delivers twice. At the end it
//! prints what happened.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;
use switchboard_wecom::simulator::{CallbackSender, SimulatorConfig, WecomSimulator};
use switchboard_wecom::xml::{Body, Event, Header, Message};
use switchboard_wecom::{Action, WecomApp};

use crate::config::Config;
use crate::demo;

/// Options of `simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Operators writing at the same time.
    #[arg(long, default_value_t = 20)]
    operators: usize,
    /// How long they write (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// The running `switchboard serve` (its HTTP address).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// The team whose WeCom application to play (its [teams.<id>.wecom] configuration; the
    /// demo team's built-in one for `demo`).
    #[arg(long, default_value = demo::DEMO_TEAM)]
    team: String,
    /// An access key that may read the team's statistics, for the summary at the end
    /// (the demo team's viewer key for `demo`).
    #[arg(long, env = "SWITCHBOARD_API_KEY")]
    key: Option<String>,
    /// Where to serve the simulated WeCom API; the team's `api_base` must point here.
    #[arg(long, default_value = demo::SIMULATOR_ADDR)]
    api_listen: SocketAddr,
    /// Seconds each operator waits between messages, at most (a random share of it).
    #[arg(long, default_value_t = 2.0)]
    think_secs: f64,
    /// Seed of the operators' choices, for repeatable runs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// What operators say: answerable in Chinese and English, unanswerable, and asking for a
/// person.
pub(crate) const QUESTIONS: [&str; 10] = [
    "奖品库存不够了怎么加",
    "活动审核要多久",
    "How do I export the list of participants?",
    "报名人数上限在哪里改",
    "活动页面白屏打不开",
    "系统报错 500 了",
    "转人工",
    "怎么修改活动的开始时间",
    "Can I change the prize after the activity started?",
    "发票什么时候能开",
];

/// A small deterministic generator (SplitMix64): repeatable runs without a dependency.
pub(crate) struct Dice(pub(crate) u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `items`.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        (self.next() as f64 / u64::MAX as f64) < p
    }
}

#[derive(Default)]
struct Tally {
    callbacks: AtomicU64,
    duplicates: AtomicU64,
    refused: AtomicU64,
    clicks: AtomicU64,
    latencies_us: std::sync::Mutex<Vec<u64>>,
}

/// WeCom's side of a run against a `serve`: the team's application, the simulated WeCom
/// API its answers go to, and a sender of callbacks as WeCom makes them.
pub(crate) struct WecomSide {
    /// The team's application.
    pub(crate) app: WecomApp,
    /// The simulated WeCom API, serving.
    pub(crate) simulator: WecomSimulator,
    /// Where the simulated API listens.
    pub(crate) api: SocketAddr,
    /// Posts encrypted callbacks to the team's callback URL.
    pub(crate) sender: CallbackSender,
    /// The team's callback URL on `target`.
    pub(crate) url: String,
}

/// Serves the simulated WeCom API on `api_listen` for `team`'s application and aims a
/// callback sender at `target`.
pub(crate) async fn wecom_side(config: &Config, team: &str, target: &str, api_listen: SocketAddr) -> Result<WecomSide> {
    let app = app_of(config, team)?;
    let secret = std::env::var(&app.secret_ref).unwrap_or_else(|_| demo::DEMO_SECRET.to_owned());
    let simulator = WecomSimulator::new(SimulatorConfig::new(&app.corp_id, secret, app.agent_id));
    let api = simulator
        .serve(api_listen)
        .await
        .with_context(|| format!("cannot serve the simulated WeCom API on {api_listen} (in use?)"))?;
    let (sender, url) = callback_sender(&app, team, target)?;
    Ok(WecomSide { app, simulator, api, sender, url })
}

/// A sender of `team`'s callbacks, as WeCom makes them, to the `serve` at `target`, and the
/// callback URL it posts to.
pub(crate) fn callback_sender(app: &WecomApp, team: &str, target: &str) -> Result<(CallbackSender, String)> {
    let crypto = app.crypto(&switchboard_schemas::TeamId::new(team)?)?;
    let url = format!("{}/wecom/{team}/callback", target.trim_end_matches('/'));
    Ok((CallbackSender::new(&url, crypto, &app.corp_id, app.agent_id), url))
}

fn app_of(config: &Config, team: &str) -> Result<WecomApp> {
    match config.teams.get(team).and_then(|t| t.wecom.clone()) {
        Some(app) => Ok(app),
        None if team == demo::DEMO_TEAM => Ok(demo::wecom_app()),
        None => anyhow::bail!("team {team} has no [teams.{team}.wecom] section in the configuration"),
    }
}

/// Runs the simulation and prints the report.
pub async fn run(config: Config, args: SimulateArgs) -> Result<()> {
    let WecomSide { app, simulator, api, sender, url } =
        wecom_side(&config, &args.team, &args.target, args.api_listen).await?;
    eprintln!(
        "simulate: WeCom API on http://{api}/cgi-bin, {} operators for {:?} → {url}",
        args.operators, args.duration
    );
    let key = |action, fallback: &str| app.card_key(action).unwrap_or(fallback).to_owned();
    let (resolved_key, not_resolved_key) =
        (key(Action::Resolved, "resolved"), key(Action::NotResolved, "not_resolved"));
    let menu_key = |action| app.menu_keys.iter().find(|(_, a)| **a == action).map(|(k, _)| k.clone());
    let (human_key, group_key) = (menu_key(Action::RequestHuman), menu_key(Action::GroupChat));

    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + args.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..args.operators {
        let (sender, simulator, tally) = (sender.clone(), simulator.clone(), tally.clone());
        let (resolved_key, not_resolved_key) = (resolved_key.clone(), not_resolved_key.clone());
        let (human_key, group_key) = (human_key.clone(), group_key.clone());
        let (corp, agent, think) = (app.corp_id.clone(), app.agent_id, args.think_secs);
        let mut dice = Dice(args.seed.wrapping_mul(1_000_003).wrapping_add(n as u64));
        tasks.spawn(async move {
            let user = format!("sim_op_{n:03}");
            let mut seen_cards = 0;
            let mut k = 0u64;
            while Instant::now() < deadline {
                k += 1;
                let header = Header {
                    to_user_name: corp.clone(),
                    from_user_name: user.clone(),
                    create_time: chrono::Utc::now().timestamp() * 1000 + k as i64,
                    agent_id: Some(agent.to_string()),
                };
                // An answer card not clicked yet: click it most of the time.
                let cards: Vec<_> = simulator
                    .delivered()
                    .into_iter()
                    .filter(|m| m.msgtype == "template_card" && m.to.contains(&user))
                    .collect();
                let body = if cards.len() > seen_cards && dice.chance(0.8) {
                    seen_cards = cards.len();
                    let task_id =
                        cards.last().and_then(|c| c.body["template_card"]["task_id"].as_str().map(str::to_owned));
                    let key = if dice.chance(0.75) { resolved_key.clone() } else { not_resolved_key.clone() };
                    tally.clicks.fetch_add(1, Ordering::Relaxed);
                    Body::Event(Event::TemplateCard {
                        key,
                        task_id,
                        card_type: Some("button_interaction".into()),
                        response_code: None,
                    })
                } else {
                    match dice.below(20) {
                        0 => Body::Event(Event::EnterAgent),
                        1 => match &human_key {
                            Some(key) => Body::Event(Event::Click { key: key.clone() }),
                            None => Body::Event(Event::EnterAgent),
                        },
                        2 => match &group_key {
                            Some(key) => Body::Event(Event::Click { key: key.clone() }),
                            None => Body::Event(Event::EnterAgent),
                        },
                        _ => Body::Text {
                            msg_id: format!("{}{n:04}{k:06}", chrono::Utc::now().timestamp_millis()),
                            content: dice.pick(&QUESTIONS).to_string(),
                        },
                    }
                };
                let message = Message { header, body };
                // WeCom sometimes delivers a callback again (a lost answer): send it twice.
                let copies = if dice.chance(0.1) { 2 } else { 1 };
                for copy in 0..copies {
                    let sent = Instant::now();
                    match sender.send(&message).await {
                        Ok(outcome) => {
                            tally.callbacks.fetch_add(u64::from(outcome.attempts), Ordering::Relaxed);
                            if outcome.status != 200 {
                                tally.refused.fetch_add(1, Ordering::Relaxed);
                            }
                            let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                            tally.latencies_us.lock().unwrap_or_else(|e| e.into_inner()).push(micros);
                        }
                        Err(_) => {
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if copy == 1 {
                        tally.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let pause = think * (dice.below(1_000) as f64 / 1_000.0);
                tokio::time::sleep(Duration::from_secs_f64(pause)).await;
            }
        });
    }
    let mut last_print = Instant::now();
    while !tasks.is_empty() {
        tokio::select! {
            _ = tasks.join_next() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            let elapsed = started.elapsed().as_secs_f64().min(args.duration.as_secs_f64());
            eprint!(
                "\rsimulate: {elapsed:>5.1}/{:.0} s, {} callbacks, {} messages sent by Switchboard",
                args.duration.as_secs_f64(),
                tally.callbacks.load(Ordering::Relaxed),
                simulator.delivered().len()
            );
            let _ = std::io::stderr().flush();
        }
    }
    // Let the last answers arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    eprintln!();
    report(&args, &simulator, &tally).await;
    Ok(())
}

async fn report(args: &SimulateArgs, simulator: &WecomSimulator, tally: &Tally) {
    let delivered = simulator.delivered();
    let operators = |to: &[String]| to.iter().all(|t| t.starts_with("sim_op_"));
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for m in &delivered {
        let kind = match (operators(&m.to), m.msgtype == "template_card") {
            (true, true) => "answers (cards with feedback buttons)",
            (true, false) => "other texts to operators (prompts, choices, notices, greetings)",
            (false, _) => "notices to on-call engineers (cards with Acknowledge)",
        };
        *kinds.entry(kind).or_default() += 1;
    }
    let latency = Latency::of(tally.latencies_us.lock().unwrap_or_else(|e| e.into_inner()).clone());
    println!(
        "callbacks delivered: {} ({} sent twice on purpose, {} not answered 200)",
        tally.callbacks.load(Ordering::Relaxed),
        tally.duplicates.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed)
    );
    println!("callback latency: p50 {:.2} ms, p99 {:.2} ms", latency.p50, latency.p99);
    println!("feedback clicks: {}", tally.clicks.load(Ordering::Relaxed));
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort();
    for (kind, n) in kinds {
        println!("{kind}: {n}");
    }
    println!("messages WeCom dropped (duplicate check, per-member limit): {}", simulator.dropped().len());
    println!("group chats created: {}", simulator.chats().len());
    let stats_url = format!("{}/api/v1/teams/{}/statistics", args.target.trim_end_matches('/'), args.team);
    let key = demo::reading_key(args.key.clone(), &args.team);
    let request = reqwest::Client::new().get(&stats_url);
    let request = match &key {
        Some(key) => request.bearer_auth(key),
        None => request,
    };
    if let Ok(response) = request.send().await.and_then(|r| r.error_for_status()) {
        if let Ok(stats) = response.json::<serde_json::Value>().await {
            println!(
                "sessions (today and the last 30 days, from the read models): opened {}, closed {}, transferred {}, resolved automatically {}",
                stats["opened"], stats["closed"], stats["transferred"], stats["resolved_automatically"]
            );
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
}

impl Latency {
    /// Nearest-rank percentiles of latencies in microseconds.
    pub fn of(mut micros: Vec<u64>) -> Self {
        micros.sort_unstable();
        let at = |p: f64| {
            micros.get(((micros.len() as f64 * p).ceil() as usize).saturating_sub(1)).map_or(0.0, |us| *us as f64 / 1e3)
        };
        Latency { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: micros.last().map_or(0.0, |us| *us as f64 / 1e3) }
    }
}
