//! WeCom callbacks end to end: encrypted POSTs over HTTP to the real callback endpoint
//! (verify, decrypt, parse, append durably, answer 200) on the embedded log, from many
//! concurrent senders. Two baselines in the same run: the same POSTs to a minimal poem
//! handler (read the body, answer 200), which is the floor HTTP itself sets, and the same
//! messages submitted straight to the runtime (append durably, no HTTP, no crypto), so the
//! figures show what the edge and the log each add.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{handler, post, EndpointExt, Route};
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::conversation::Command;
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::SystemClock;
use switchboard_engine::runtime::Runtime;
use switchboard_engine::team::TeamCommand;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Channel, Roster, TeamSettings};
use switchboard_schemas::{MessageId, StaffId, TeamId, UserId};
use switchboard_secret::Secret;
use switchboard_wecom::simulator::CallbackSender;
use switchboard_wecom::xml::{Body, Header, Message};
use switchboard_wecom::{routes, CallbackOptions, WecomApp, WecomApps, DEFAULT_MOUNT_PATH};
use uuid::Uuid;

/// Sizes of the callback benchmark.
#[derive(Debug, Clone, Args)]
pub struct CallbacksArgs {
    /// Callbacks to send.
    #[arg(long, default_value_t = 5_000)]
    pub callbacks: usize,
    /// Concurrent senders (WeCom sends many at once), each for its own operators.
    #[arg(long, default_value_t = 32)]
    pub senders: usize,
}

impl Default for CallbacksArgs {
    fn default() -> Self {
        Self { callbacks: 5_000, senders: 32 }
    }
}

const TOKEN: &str = "QDG6eK";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const CORP: &str = "wwbench";
const AGENT: u64 = 1_000_002;
const TEXT: &str = "活动开始时间怎么修改？我们的活动明天就要上线了";

async fn runtime(path: &std::path::Path, team: &TeamId) -> Result<Arc<Runtime>> {
    let log: Arc<dyn EventLog> = Arc::new(SqliteEventLog::open(path, SqliteOptions::default())?);
    let runtime = Arc::new(Runtime::new(log, Arc::new(SystemClock)));
    let cause = Causation::root(Uuid::now_v7());
    runtime.team(team, TeamCommand::Create { name: "Bench".into(), cloned_from: None }, cause).await?;
    runtime.team(team, TeamCommand::Configure { settings: Box::new(TeamSettings::default()) }, cause).await?;
    let roster = Roster { default: vec![StaffId::new("zhao")?], ..Roster::default() };
    runtime.team(team, TeamCommand::UpdateRoster { roster }, cause).await?;
    Ok(runtime)
}

/// Runs the benchmark and prints its lines.
pub fn run(args: &CallbacksArgs) -> Result<()> {
    println!(
        "== wecom callbacks ({} encrypted text callbacks, {} concurrent senders, embedded log)",
        args.callbacks, args.senders
    );
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let team = TeamId::new("bench")?;
        let per_sender = args.callbacks / args.senders;

        // Ours: the callback endpoint over HTTP.
        let runtime_http = runtime(&dir.path().join("http.sqlite"), &team).await?;
        let app = WecomApp::new(CORP, AGENT, Secret::new(TOKEN), Secret::new(KEY), "BENCH_SECRET");
        let crypto = app.crypto(&team)?;
        let apps = Arc::new(WecomApps::new([(team.clone(), app)])?);
        let endpoint = Route::new()
            .nest(DEFAULT_MOUNT_PATH, routes(runtime_http.clone(), apps, CallbackOptions::default()))
            .map_to_response();
        let acceptor = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).into_acceptor().await?;
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().ok_or_else(|| anyhow::anyhow!("no address"))?;
        tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(endpoint).await });
        let url = format!("http://{addr}/wecom/bench/callback");
        let sender = CallbackSender::new(&url, crypto, CORP, AGENT);
        // Encrypt everything first: that is WeCom's work, not ours.
        let now = chrono::Utc::now().timestamp();
        let mut prepared = Vec::new();
        for s in 0..args.senders {
            let mut mine = Vec::new();
            for n in 0..per_sender {
                let header = Header {
                    to_user_name: CORP.into(),
                    from_user_name: format!("op{s}_{}", n % 8),
                    create_time: now,
                    agent_id: Some(AGENT.to_string()),
                };
                let body = Body::Text { msg_id: format!("{s}{n:08}"), content: TEXT.into() };
                mine.push(sender.encrypt(&Message { header, body }, now)?);
            }
            prepared.push(mine);
        }
        let (ours, latencies) = post_all(&url, prepared.clone()).await?;

        // Baseline: the same POSTs to a handler that only reads the body.
        let minimal = Route::new().at("/wecom/bench/callback", post(read_body_and_accept));
        let acceptor = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).into_acceptor().await?;
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().ok_or_else(|| anyhow::anyhow!("no address"))?;
        tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(minimal).await });
        let (floor, floor_latencies) = post_all(&format!("http://{addr}/wecom/bench/callback"), prepared).await?;

        // Baseline: the same commands straight into the runtime.
        let runtime_direct = runtime(&dir.path().join("direct.sqlite"), &team).await?;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for s in 0..args.senders {
            let (runtime, team) = (runtime_direct.clone(), team.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0..per_sender {
                    let user = UserId::new(format!("op{s}_{}", n % 8))?;
                    let command = Command::ReceiveMessage {
                        user: user.clone(),
                        message_id: MessageId(format!("{s}{n:08}")),
                        text: TEXT.into(),
                        channel: Channel::Wecom,
                    };
                    runtime.conversation(&team, &user, command, Causation::root(Uuid::now_v7())).await?;
                }
                anyhow::Ok(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        let direct = (per_sender * args.senders) as f64 / start.elapsed().as_secs_f64();
        crate::report(
            "WeCom callbacks over HTTP, end to end",
            ours,
            "same POSTs to a minimal poem handler",
            floor,
            "msgs/s",
        );
        crate::report(
            "WeCom callbacks over HTTP, end to end",
            ours,
            "same messages straight to the runtime",
            direct,
            "msgs/s",
        );
        for (name, latencies) in [("callback latency", &latencies), ("minimal poem handler latency", &floor_latencies)]
        {
            println!(
                "{name:<44} p50 {:.2} ms, p99 {:.2} ms (WeCom waits 5,000 ms)",
                crate::percentile_ms(latencies, 0.5),
                crate::percentile_ms(latencies, 0.99)
            );
        }
        Ok(())
    })
}

/// The HTTP floor: what any poem endpoint costs before doing any work.
#[handler]
fn read_body_and_accept(body: String) -> &'static str {
    std::hint::black_box(body);
    "success"
}

/// Posts every sender's callbacks concurrently, one after another per sender; returns the
/// callbacks per second and each one's latency, sorted. Anything but 200 is an error.
async fn post_all(url: &str, prepared: Vec<Vec<(String, String)>>) -> Result<(f64, Vec<Duration>)> {
    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mine in prepared {
        let (http, url) = (http.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(mine.len());
            for (query, body) in mine {
                let sent = Instant::now();
                let status = http.post(format!("{url}?{query}")).body(body).send().await.map(|r| r.status());
                latencies.push(sent.elapsed());
                if !matches!(status, Ok(s) if s.as_u16() == 200) {
                    return Err(anyhow::anyhow!("a callback to {url} was not accepted: {status:?}"));
                }
            }
            Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let rate = latencies.len() as f64 / start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok((rate, latencies))
}
