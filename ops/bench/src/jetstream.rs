//! The JetStream event log next to raw JetStream, in the same run, on the same server:
//!
//! - append throughput with many conversations appending in parallel, against raw
//!   asynchronous publishes of the same payloads (the stored commit bodies);
//! - append latency of one conversation (p50/p99), against the raw publish-and-ack round
//!   trip of the same payload;
//! - replay (`read_all` from the start, in batches, decoded into events) against a raw
//!   ordered-consumer read of the same stream.
//!
//! Each throughput line is followed by the CPU time one message cost the server and this
//! process (from `/proc`), which is where the gap to raw publishing goes.
//!
//! Starts its own nats-server (`$NATS_SERVER_BIN`, else `nats-server` on `PATH`) with a
//! temporary store, unless `--url` names a running one (its CPU time is then not shown).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::message::{PublishMessage, StreamMessage};
use async_nats::jetstream::stream::{Config as StreamConfig, StorageType};
use clap::Args;
use futures::StreamExt;
use switchboard_engine::log::{Commit, EventLog, ExpectedVersion};
use switchboard_jetstream::testing::NatsServer;
use switchboard_jetstream::{JetStreamEventLog, JetStreamOptions};
use switchboard_schemas::{StreamId, TeamId, UserId};
use uuid::Uuid;

/// Sizes of the JetStream benchmark.
#[derive(Debug, Clone, Args)]
pub struct JetstreamArgs {
    /// Commits (of one event) appended in the throughput measurement; also the size of the
    /// replayed log.
    #[arg(long, default_value_t = 20_000)]
    pub commits: usize,
    /// Conversations appending in parallel.
    #[arg(long, default_value_t = 64)]
    pub writers: usize,
    /// Appends timed one after the other on a single conversation.
    #[arg(long, default_value_t = 2_000)]
    pub samples: usize,
    /// A running nats-server with JetStream to use instead of starting one (streams named
    /// BENCH_* are created on it and deleted afterwards).
    #[arg(long)]
    pub url: Option<String>,
}

impl Default for JetstreamArgs {
    fn default() -> Self {
        Self { commits: 20_000, writers: 64, samples: 2_000, url: None }
    }
}

/// Whether `all` can run this benchmark: it needs a nats-server binary to start.
pub fn unavailable() -> Option<String> {
    NatsServer::binary().err().map(|e| e.to_string())
}

use crate::sample_message as event;

/// Runs the benchmark and prints its lines.
pub fn run(args: &JetstreamArgs) -> Result<()> {
    let server = match &args.url {
        Some(_) => None,
        None => Some(NatsServer::try_start().context("starting nats-server for the benchmark")?),
    };
    let url = match (&args.url, &server) {
        (Some(url), _) => url.clone(),
        (None, Some(server)) => server.url(),
        (None, None) => return Err(anyhow!("no server")),
    };
    let version = server.as_ref().map_or_else(|| "a running server".to_owned(), NatsServer::version);
    println!(
        "== jetstream ({} commits of one event, {} conversations in parallel; {version}, file storage, 1 replica)",
        args.commits, args.writers
    );
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let run_id = Uuid::now_v7().simple().to_string()[..8].to_owned();
        let options = JetStreamOptions {
            stream: format!("BENCH_{run_id}"),
            subject_prefix: format!("bench{run_id}"),
            ..JetStreamOptions::default()
        };
        let log = Arc::new(JetStreamEventLog::connect(&url, options.clone()).await?);
        let js = log.jetstream().clone();
        let raw_name = format!("BENCH_RAW_{run_id}");
        js.create_stream(StreamConfig {
            name: raw_name.clone(),
            subjects: vec![format!("raw{run_id}.>")],
            storage: StorageType::File,
            duplicate_window: options.duplicate_window,
            ..Default::default()
        })
        .await?;

        // Throughput.
        let meter = CpuMeter { server: server.as_ref().and_then(NatsServer::pid) };
        let (ours, ours_cpu) = meter.during(parallel_appends(&log, args.commits, args.writers)).await?;
        // The raw baseline publishes exactly the bytes of a stored commit.
        let sample = js.get_stream(&options.stream).await?.get_raw_message(1).await?;
        let subject = format!("raw{run_id}.conversation");
        let (raw, raw_cpu) = meter.during(raw_async_publish(&js, &subject, &sample, args.commits, false)).await?;
        let line = "JetStream log append, parallel conversations";
        let report = |baseline: &str, rate: f64, cpu: Cpu| {
            crate::report(line, ours, baseline, rate, "appends/s");
            println!(
                "{:<44} {:>22}   | {:<40} {:>22}",
                "  CPU per append: server + this process",
                ours_cpu.per_message(args.commits),
                "",
                cpu.per_message(args.commits)
            );
        };
        report("raw JetStream async publish", raw, raw_cpu);
        // Where the gap goes: the server's duplicate check, waiting for each conversation's
        // acknowledgement, the expected-sequence check alone, and both headers together.
        let subject = format!("raw{run_id}.msgid");
        let (deduplicated, cpu) = meter.during(raw_async_publish(&js, &subject, &sample, args.commits, true)).await?;
        report("raw async publish with Nats-Msg-Id", deduplicated, cpu);
        let (subject, commits, writers) = (format!("raw{run_id}.sequential"), args.commits, args.writers);
        let (sequential, cpu) =
            meter.during(raw_sequential_publish(&js, &subject, &sample, commits, writers, Headers::None)).await?;
        report("raw publish, one at a time per conversation", sequential, cpu);
        let subject = format!("raw{run_id}.checked");
        let only_sequence = Headers::ExpectedSequence;
        let (checked, cpu) =
            meter.during(raw_sequential_publish(&js, &subject, &sample, commits, writers, only_sequence)).await?;
        report("raw publish, expected sequence only", checked, cpu);
        let subject = format!("raw{run_id}.same");
        let (same, cpu) =
            meter.during(raw_sequential_publish(&js, &subject, &sample, commits, writers, Headers::Both)).await?;
        report("raw publish, same headers and concurrency", same, cpu);

        // Latency.
        let (ours_p50, ours_p99) = single_conversation_latency(&log, args.samples).await?;
        let (raw_p50, raw_p99) =
            raw_request_latency(&js, &format!("raw{run_id}.latency"), &sample, args.samples).await?;
        crate::report("JetStream log append latency p50", ours_p50, "raw JetStream publish+ack p50", raw_p50, "µs");
        crate::report("JetStream log append latency p99", ours_p99, "raw JetStream publish+ack p99", raw_p99, "µs");

        // Replay: each read three times, alternating, best of each (the first read of a
        // cold store would otherwise favour whichever runs second).
        let (mut events, mut messages, mut ours, mut raw) = (0, 0, 0.0_f64, 0.0_f64);
        for _ in 0..3 {
            let (count, rate) = replay(&log).await?;
            events = count;
            ours = ours.max(rate);
            let (count, rate) = raw_ordered_read(&js, &options.stream).await?;
            messages = count;
            raw = raw.max(rate);
        }
        if events != messages {
            return Err(anyhow!("replay read {events} events but the stream holds {messages} one-event commits"));
        }
        crate::report(
            &format!("JetStream log replay ({events} events)"),
            ours,
            "raw ordered consumer read",
            raw,
            "events/s",
        );

        let _ = js.delete_stream(&options.stream).await;
        let _ = js.delete_stream(&raw_name).await;
        Ok(())
    })
}

/// Reads the CPU time the nats-server (when this run started it) and this process have
/// used, from `/proc` on Linux.
struct CpuMeter {
    server: Option<u32>,
}

/// CPU time spent during one measurement.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    server: Option<Duration>,
    client: Option<Duration>,
}

impl CpuMeter {
    /// Runs `work`, returning its result with the CPU time spent meanwhile.
    async fn during<T>(&self, work: impl std::future::Future<Output = Result<T>>) -> Result<(T, Cpu)> {
        let server_pid = self.server.map(|pid| pid.to_string());
        let read = || (server_pid.as_deref().and_then(cpu_time), cpu_time("self"));
        let (server_before, client_before) = read();
        let value = work.await?;
        let (server_after, client_after) = read();
        let spent = |before: Option<Duration>, after: Option<Duration>| Some(after?.saturating_sub(before?));
        Ok((value, Cpu { server: spent(server_before, server_after), client: spent(client_before, client_after) }))
    }
}

impl Cpu {
    /// `server X + client Y µs` for one of `messages`, `?` where unknown.
    fn per_message(&self, messages: usize) -> String {
        let micros = |d: Option<Duration>| {
            d.map_or_else(|| "?".to_owned(), |d| format!("{:.1}", d.as_secs_f64() * 1e6 / messages.max(1) as f64))
        };
        format!("{} + {} µs", micros(self.server), micros(self.client))
    }
}

/// User plus system CPU time of process `pid` (or `self`), from `/proc/<pid>/stat`.
fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces) start at the state; user
    // and system time are the 14th and 15th fields of the line, in clock ticks.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports these in USER_HZ, which is 100 on every architecture it supports.
    Some(Duration::from_millis(ticks * 10))
}

/// `writers` conversations, each appending its share of `commits` one after the other with
/// the expected version, all at once.
async fn parallel_appends(log: &Arc<JetStreamEventLog>, commits: usize, writers: usize) -> Result<f64> {
    let team = TeamId::new("bench")?;
    let per_writer = commits / writers.max(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let log = Arc::clone(log);
        let stream = StreamId::conversation(&team, &UserId::new(format!("user-{w}"))?);
        tasks.push(tokio::spawn(async move {
            for v in 0..per_writer {
                let commit = Commit::new(Uuid::now_v7(), vec![event(v)]).expect("a commit of events");
                log.append(&stream, ExpectedVersion::Exact(v as u64), commit).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((per_writer * writers) as f64 / start.elapsed().as_secs_f64())
}

/// Acknowledgements the raw publisher keeps outstanding (below the client's in-flight
/// limit, which would otherwise block the publisher until acknowledgements are awaited).
const RAW_IN_FLIGHT: usize = 1_024;

/// The baseline: the same payload published `count` times without waiting for each
/// acknowledgement, up to [`RAW_IN_FLIGHT`] outstanding, every acknowledgement awaited;
/// with `message_id`, each carries a fresh `Nats-Msg-Id` (the server's duplicate check).
async fn raw_async_publish(
    js: &async_nats::jetstream::Context,
    subject: &str,
    sample: &StreamMessage,
    count: usize,
    message_id: bool,
) -> Result<f64> {
    let start = Instant::now();
    let mut acks = std::collections::VecDeque::with_capacity(RAW_IN_FLIGHT);
    for _ in 0..count {
        if acks.len() >= RAW_IN_FLIGHT {
            if let Some(ack) = acks.pop_front() {
                let ack: async_nats::jetstream::context::PublishAckFuture = ack;
                ack.await?;
            }
        }
        let mut message = PublishMessage::build().payload(sample.payload.clone());
        if message_id {
            message = message.message_id(Uuid::now_v7().to_string());
        }
        acks.push_back(js.send_publish(subject.to_owned(), message).await?);
    }
    for ack in acks {
        ack.await?;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

/// The headers a raw sequential publish carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Headers {
    /// None: the ceiling of any log that orders each conversation's writes.
    None,
    /// `Nats-Expected-Last-Subject-Sequence` alone: the cost of the server's check.
    ExpectedSequence,
    /// What every append carries: that and `Nats-Msg-Id`.
    Both,
}

/// Baselines that isolate the log's own overhead: raw publishes from the same number of
/// conversations, each waiting for its acknowledgement before the next, as optimistic
/// concurrency requires, carrying `headers`.
async fn raw_sequential_publish(
    js: &async_nats::jetstream::Context,
    subject: &str,
    sample: &StreamMessage,
    count: usize,
    writers: usize,
    headers: Headers,
) -> Result<f64> {
    let per_writer = count / writers.max(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (js, payload, subject) = (js.clone(), sample.payload.clone(), format!("{subject}.{w}"));
        tasks.push(tokio::spawn(async move {
            let mut last = 0;
            for _ in 0..per_writer {
                let mut message = PublishMessage::build().payload(payload.clone());
                if headers == Headers::Both {
                    message = message.message_id(Uuid::now_v7().to_string());
                }
                if headers != Headers::None {
                    message = message.expected_last_subject_sequence(last);
                }
                last = js.send_publish(subject.clone(), message).await?.await?.sequence;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((per_writer * writers) as f64 / start.elapsed().as_secs_f64())
}

async fn single_conversation_latency(log: &JetStreamEventLog, samples: usize) -> Result<(f64, f64)> {
    let stream = StreamId::conversation(&TeamId::new("bench")?, &UserId::new("solo")?);
    let mut times = Vec::with_capacity(samples);
    for v in 0..samples {
        let commit = Commit::new(Uuid::now_v7(), vec![event(v)]).expect("a commit of events");
        let start = Instant::now();
        log.append(&stream, ExpectedVersion::Exact(v as u64), commit).await?;
        times.push(start.elapsed());
    }
    Ok(percentiles(times))
}

async fn raw_request_latency(
    js: &async_nats::jetstream::Context,
    subject: &str,
    sample: &StreamMessage,
    samples: usize,
) -> Result<(f64, f64)> {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        js.publish(subject.to_owned(), sample.payload.clone()).await?.await?;
        times.push(start.elapsed());
    }
    Ok(percentiles(times))
}

/// p50 and p99 in microseconds.
fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at = |q: f64| {
        let index = ((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1));
        times.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    (at(0.50), at(0.99))
}

/// Reads the whole log from the start the way a projection rebuild does: `read_all` in
/// batches, every event decoded.
async fn replay(log: &JetStreamEventLog) -> Result<(usize, f64)> {
    let start = Instant::now();
    let mut after = 0;
    let mut count = 0;
    loop {
        let batch = log.read_all(after, 10_000, None).await?;
        let Some(last) = batch.last() else { break };
        after = last.position;
        count += batch.len();
    }
    Ok((count, count as f64 / start.elapsed().as_secs_f64()))
}

/// The baseline: an ordered consumer over the same stream, messages received and counted.
async fn raw_ordered_read(js: &async_nats::jetstream::Context, stream: &str) -> Result<(usize, f64)> {
    let stream = js.get_stream(stream).await?;
    let total = stream.cached_info().state.messages as usize;
    let start = Instant::now();
    let consumer = stream.create_consumer(OrderedConfig::default()).await?;
    let mut messages = consumer.messages().await?;
    let mut count = 0;
    while count < total {
        match tokio::time::timeout(Duration::from_secs(10), messages.next()).await {
            Ok(Some(message)) => {
                message?;
                count += 1;
            }
            Ok(None) => break,
            Err(_) => return Err(anyhow!("the ordered consumer stalled after {count} of {total} messages")),
        }
    }
    Ok((count, count as f64 / start.elapsed().as_secs_f64()))
}
