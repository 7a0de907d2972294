//! Rebuild of the session-list projection from N events on the embedded store and on
//! PostgreSQL, next to the raw read rate of the same log (`read_all` in batches, no
//! folding) measured in the same run; then statistics query latency for the largest team.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, TimeZone, Utc};
use clap::Args;
use switchboard_embedded::{SqliteEventLog, SqliteOptions, Synchronous};
use switchboard_engine::log::{Commit, EventLog, ExpectedVersion};
use switchboard_projections::runtime::{Projection, ProjectionOptions};
use switchboard_projections::store::{Period, ReadStore};
use switchboard_readstore::{PostgresReadStore, SqliteReadStore};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::*;
use switchboard_schemas::{ConversationEvent, Event, FaqId, MessageId, NewEvent, StaffId, StreamId, TeamId, UserId};
use uuid::Uuid;

/// Sizes of the projection benchmark.
#[derive(Debug, Clone, Args)]
pub struct ProjectionArgs {
    /// Events in the log (about 8 per session).
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Statistics queries timed per store.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// PostgreSQL to rebuild into (a fresh schema is made and dropped).
    #[arg(long, env = "DATABASE_URL", default_value = "host=127.0.0.1 port=5432 user=postgres dbname=test")]
    pub database_url: String,
}

impl Default for ProjectionArgs {
    fn default() -> Self {
        Self {
            events: 200_000,
            queries: 200,
            database_url: "host=127.0.0.1 port=5432 user=postgres dbname=test".into(),
        }
    }
}

const WRITERS: usize = 32;

fn session_events(n: usize) -> Result<Vec<ConversationEvent>> {
    let session_id = Uuid::now_v7();
    let faq = FaqId::new(format!("faq-{}", n % 40))?;
    let user = UserId::new(format!("user{}", n % 5_000))?;
    let category = ["billing", "export", "prizes", "review"][n % 4].to_owned();
    let candidate = MatchCandidate {
        faq_id: faq.clone(),
        question: "活动开始时间怎么修改？".into(),
        answer: "在活动设置里修改开始时间。".into(),
        category: Some(category.clone()),
        score: 0.8,
        keyword_score: Some(0.8),
        semantic_score: None,
    };
    let mut events: Vec<ConversationEvent> = vec![
        SessionOpened { session_id, user: user.clone(), channel: Channel::Wecom }.into(),
        MessageReceived {
            session_id,
            message_id: MessageId(format!("m{n}")),
            text: format!("活动开始时间怎么修改？问题 {n} How do I change the start time?"),
            channel: Channel::Wecom,
        }
        .into(),
        MatchRequested {
            session_id, message_id: MessageId(format!("m{n}")), query: "活动开始时间怎么修改？".into()
        }
        .into(),
    ];
    let transfer = n.is_multiple_of(3);
    events.push(
        FaqMatched {
            session_id,
            message_id: MessageId(format!("m{n}")),
            query: "活动开始时间怎么修改？".into(),
            candidates: vec![candidate],
            confidence: if transfer { 0.2 } else { 0.8 },
            decision: if transfer { MatchDecision::Transfer } else { MatchDecision::Answer { faq_id: faq.clone() } },
            engine: "keyword".into(),
            rephrased_by: None,
        }
        .into(),
    );
    let outbound_id = Uuid::now_v7();
    if transfer {
        let assignee = StaffId::new(["zhao", "qian", "sun"][(n / 3) % 3]).ok();
        events.push(
            TransferredToHuman {
                session_id,
                mode: TransferMode::Auto,
                reason: TransferReason::LowConfidence,
                category: Some(category),
                assignee,
                by: Actor::System,
            }
            .into(),
        );
    }
    events.push(
        AnswerQueued {
            session_id,
            outbound_id,
            to: Recipient::Operator(user.clone()),
            purpose: if transfer {
                OutboundPurpose::HumanReply
            } else {
                OutboundPurpose::Answer { faq_id: faq.clone() }
            },
            text: "在活动设置里修改开始时间。".into(),
            channel: Channel::Wecom,
        }
        .into(),
    );
    events.push(AnswerDelivered { session_id, outbound_id, attempt: 1 }.into());
    if n.is_multiple_of(7) {
        events.push(ReconfirmSent { session_id }.into());
        events.push(SessionClosed { session_id, reason: CloseReason::Stale, by: Actor::System }.into());
    } else if !transfer {
        events.push(FeedbackGiven { session_id, resolved: true, faq_id: faq }.into());
        events.push(SessionClosed { session_id, reason: CloseReason::Resolved, by: Actor::System }.into());
    } else {
        events.push(SessionClosed { session_id, reason: CloseReason::Manual, by: Actor::System }.into());
    }
    Ok(events)
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_else(Utc::now)
}

async fn fill(log: Arc<dyn EventLog>, events: usize) -> Result<usize> {
    let sessions = events / 8 + 1;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut written = 0usize;
            for n in (writer..sessions).step_by(WRITERS) {
                // Nine in ten sessions belong to the big team.
                let team = TeamId::new(if n % 10 == 9 { "small" } else { "big" }).map_err(anyhow::Error::from)?;
                let events = session_events(n)?;
                let user = UserId::new(format!("user{}", n % 5_000))?;
                // Sessions spread over a year, each lasting a few minutes.
                let opened = start() + Duration::seconds((n as i64 * 31_536_000) / sessions as i64);
                let encoded = events
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let at = opened + Duration::seconds(i as i64 * 20);
                        NewEvent::encode(&Event::from(e.clone()), Uuid::now_v7(), at, Causation::root(Uuid::now_v7()))
                    })
                    .collect::<Vec<_>>();
                written += encoded.len();
                let stream = StreamId::conversation(&team, &user);
                log.append(
                    &stream,
                    ExpectedVersion::Any,
                    Commit::new(Uuid::now_v7(), encoded).expect("a commit of events"),
                )
                .await?;
            }
            anyhow::Ok(written)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total)
}

async fn raw_read(log: &Arc<dyn EventLog>) -> Result<(usize, f64)> {
    let started = Instant::now();
    let (mut after, mut count) = (0, 0);
    loop {
        let batch = log.read_all(after, ProjectionOptions::default().batch, None).await?;
        let Some(last) = batch.last() else { break };
        after = last.position;
        count += batch.len();
    }
    Ok((count, started.elapsed().as_secs_f64()))
}

async fn rebuild(log: &Arc<dyn EventLog>, store: Arc<dyn ReadStore>) -> Result<f64> {
    let started = Instant::now();
    let mut projection = Projection::new(log.clone(), store, ProjectionOptions::default());
    projection.rebuild(|_, _| {}).await?;
    Ok(started.elapsed().as_secs_f64())
}

async fn query_latency(store: &Arc<dyn ReadStore>, queries: usize) -> Result<(f64, f64, u64)> {
    let team = TeamId::new("big")?;
    let period = Period { from: start(), to: start() + Duration::days(366) };
    let mut times = Vec::with_capacity(queries);
    let mut opened = 0;
    for _ in 0..queries {
        let started = Instant::now();
        opened = store.statistics(&team, period).await?.opened;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((p * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    Ok((at(0.5), at(0.99), opened))
}

/// Runs the benchmark and prints its lines.
pub fn run(args: &ProjectionArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let options = SqliteOptions { synchronous: Synchronous::Normal, ..SqliteOptions::default() };
        let log: Arc<dyn EventLog> = Arc::new(SqliteEventLog::open(&dir.path().join("events.sqlite"), options)?);
        let written = fill(log.clone(), args.events).await?;
        println!("== projection rebuild ({written} events, sessions of ~8 events, 90% in one team)");
        let (read, read_secs) = raw_read(&log).await?;
        let raw_rate = read as f64 / read_secs;

        let sqlite: Arc<dyn ReadStore> = Arc::new(SqliteReadStore::open(&dir.path().join("readmodels.sqlite")).await?);
        let secs = rebuild(&log, sqlite.clone()).await?;
        crate::report("rebuild into SQLite", read as f64 / secs, "raw read_all of the same log", raw_rate, "events/s");

        let schema = format!("sb_bench_{}", Uuid::now_v7().simple());
        let pg = Arc::new(
            PostgresReadStore::connect(&args.database_url, Some(&schema))
                .await
                .with_context(|| format!("PostgreSQL at {:?}", args.database_url))?,
        );
        let pg_dyn: Arc<dyn ReadStore> = pg.clone();
        let outcome = async {
            let secs = rebuild(&log, pg_dyn.clone()).await?;
            crate::report("rebuild into PostgreSQL", read as f64 / secs, "raw read_all of the same log", raw_rate, "events/s");
            for (name, store) in [("SQLite", &sqlite), ("PostgreSQL", &pg_dyn)] {
                let (p50, p99, opened) = query_latency(store, args.queries).await?;
                println!("statistics for a team with {opened} sessions over a year, {name:<10}: p50 {p50:.2} ms, p99 {p99:.2} ms");
            }
            anyhow::Ok(())
        }
        .await;
        pg.backend().batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await?;
        if let Some(peak) = peak_rss() {
            println!("peak resident memory of the whole run (log generation included): {peak}");
        }
        outcome
    })
}

/// The process's peak resident set (Linux), to show memory stays bounded as N grows.
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_owned())
}
