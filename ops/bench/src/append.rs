//! Appends on the embedded event log (group commit, many writers) next to raw SQLite
//! inserts of the same rows with the same durability (one transaction per append), in the
//! same run and on the same disk.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use rusqlite::params;
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::log::{Commit, EventLog, ExpectedVersion};
use switchboard_schemas::{StreamId, TeamId, UserId};
use uuid::Uuid;

/// Sizes of the append benchmark.
#[derive(Debug, Clone, Args)]
pub struct AppendArgs {
    /// Commits to append in each measurement.
    #[arg(long, default_value_t = 20_000)]
    pub commits: usize,
    /// Concurrent writers (each on its own conversations).
    #[arg(long, default_value_t = 64)]
    pub writers: usize,
}

impl Default for AppendArgs {
    fn default() -> Self {
        Self { commits: 20_000, writers: 64 }
    }
}

use crate::sample_message as event;

/// Runs the benchmark and prints its lines.
pub fn run(args: &AppendArgs) -> Result<()> {
    println!("== append ({} commits of one event, {} writers, synchronous=FULL)", args.commits, args.writers);
    let dir = tempfile::tempdir()?;
    let ours = ours(args, &dir.path().join("ours.sqlite"))?;
    let raw = raw_sqlite(args.commits.min(5_000), &dir.path().join("raw.sqlite"))?;
    crate::report("embedded log append (group commit)", ours, "raw SQLite insert, 1 tx per append", raw, "appends/s");
    let single = ours_single_writer(args.commits.min(5_000), &dir.path().join("single.sqlite"))?;
    crate::report("embedded log append, one writer", single, "raw SQLite insert, 1 tx per append", raw, "appends/s");
    Ok(())
}

fn ours(args: &AppendArgs, path: &std::path::Path) -> Result<f64> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let log: Arc<dyn EventLog> = Arc::new(SqliteEventLog::open(path, SqliteOptions::default())?);
        let team = TeamId::new("bench")?;
        let per_writer = args.commits / args.writers;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..args.writers {
            let log = log.clone();
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
        Ok((per_writer * args.writers) as f64 / start.elapsed().as_secs_f64())
    })
}

fn ours_single_writer(commits: usize, path: &std::path::Path) -> Result<f64> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let log = SqliteEventLog::open(path, SqliteOptions::default())?;
        let stream = StreamId::conversation(&TeamId::new("bench")?, &UserId::new("solo")?);
        let start = Instant::now();
        for v in 0..commits {
            let commit = Commit::new(Uuid::now_v7(), vec![event(v)]).expect("a commit of events");
            log.append(&stream, ExpectedVersion::Exact(v as u64), commit).await?;
        }
        Ok(commits as f64 / start.elapsed().as_secs_f64())
    })
}

/// The baseline: the same rows inserted straight into SQLite (WAL, synchronous=FULL), one
/// transaction per append, as a store without group commit does.
fn raw_sqlite(commits: usize, path: &std::path::Path) -> Result<f64> {
    let conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, version INTEGER NOT NULL,
         event_id TEXT NOT NULL, event_type TEXT NOT NULL, occurred_at TEXT NOT NULL, payload TEXT NOT NULL,
         UNIQUE(stream, version));",
    )?;
    let start = Instant::now();
    for v in 0..commits {
        let e = event(v);
        let tx = conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO events (stream, version, event_id, event_type, occurred_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                "bench.conversation.raw",
                v as i64 + 1,
                e.event_id.to_string(),
                e.event_type,
                e.occurred_at.to_rfc3339(),
                e.payload.to_string()
            ],
        )?;
        tx.commit()?;
    }
    Ok(commits as f64 / start.elapsed().as_secs_f64())
}
