//! Group commit: one thread owns the write connection and commits every append waiting in
//! its queue in one transaction, so one disk flush acknowledges many appends.
//!
//! Within a batch each request is checked on its own (duplicate commit id, then expected
//! version) against the state left by the requests before it, and written under its own
//! savepoint, so a conflict, a duplicate or a failed write answers only that request. If
//! the batch's transaction cannot be committed, every request in it is refused with the
//! error and nothing of the batch is kept.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use switchboard_engine::log::{AppendError, Appended, ExpectedVersion};
use switchboard_schemas::StreamId;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::field;

use crate::error::log_error;

/// The most requests committed in one transaction.
const MAX_BATCH: usize = 256;

/// One event, already encoded for storage by the task that appends it (so encoding runs
/// in parallel, off the writer thread).
pub(crate) struct EncodedEvent {
    pub(crate) event_id: String,
    pub(crate) event_type: &'static str,
    pub(crate) schema_version: u16,
    pub(crate) occurred_at: String,
    pub(crate) correlation_id: String,
    pub(crate) causation_id: Option<String>,
    pub(crate) payload: String,
}

/// One append waiting for the writer.
pub(crate) struct Request {
    pub(crate) stream: StreamId,
    pub(crate) stream_text: String,
    pub(crate) expected: ExpectedVersion,
    pub(crate) commit_id: String,
    pub(crate) events: Vec<EncodedEvent>,
    pub(crate) reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// Starts the writer thread. It stops once every sender of `requests` is dropped and the
/// queue is drained; after each commit it publishes the new head on `head`.
pub(crate) fn spawn(
    conn: Connection,
    requests: mpsc::Receiver<Request>,
    head: Arc<watch::Sender<u64>>,
) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new().name("event-log-write".to_owned()).spawn(move || {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| run(conn, requests, &head)));
        if outcome.is_err() {
            tracing::error!(
                "the event log writer thread panicked; appends are refused until the process \
                 restarts"
            );
        }
    })
}

fn run(mut conn: Connection, mut requests: mpsc::Receiver<Request>, head: &watch::Sender<u64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while requests.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
        write_batch(&mut conn, &mut batch, head);
    }
}

/// Commits one batch and answers every request in it.
fn write_batch(conn: &mut Connection, batch: &mut Vec<Request>, head: &watch::Sender<u64>) {
    let started = Instant::now();
    let span = tracing::debug_span!(
        "event_log_batch",
        batch_size = batch.len(),
        appended = field::Empty,
        duration_us = field::Empty,
    );
    let _entered = span.enter();

    match apply(conn, batch) {
        Ok(outcomes) => {
            let written = outcomes.iter().filter_map(|o| o.as_ref().ok()).filter(|a| !a.duplicate);
            let (appended, last) = written.fold((0usize, None), |(count, last), a| {
                (count + 1, Some(last.map_or(a.position, |l: u64| l.max(a.position))))
            });
            if let Some(last) = last {
                head.send_if_modified(|current| {
                    let moved = last > *current;
                    if moved {
                        *current = last;
                    }
                    moved
                });
            }
            span.record("appended", appended);
            span.record("duration_us", elapsed_us(started));
            for (request, outcome) in batch.drain(..).zip(outcomes) {
                // The appending task may have given up waiting; the outcome stands anyway.
                let _ = request.reply.send(outcome);
            }
        }
        Err(error) => {
            span.record("appended", 0);
            span.record("duration_us", elapsed_us(started));
            tracing::warn!(
                error = %error,
                "an append batch could not be committed; every append in it is refused"
            );
            for request in batch.drain(..) {
                let refused = log_error(&error, "commit a batch of appends");
                let _ = request.reply.send(Err(AppendError::Log(refused)));
            }
        }
    }
    tracing::debug!("append batch done");
}

fn elapsed_us(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Runs the batch in one transaction. An error here concerns the whole batch.
fn apply(conn: &mut Connection, batch: &[Request]) -> rusqlite::Result<Vec<Result<Appended, AppendError>>> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for request in batch {
        outcomes.push(apply_one(&mut tx, request)?);
    }
    tx.commit()?;
    Ok(outcomes)
}

/// Decides and writes one request inside the batch's transaction.
fn apply_one(tx: &mut Transaction<'_>, request: &Request) -> rusqlite::Result<Result<Appended, AppendError>> {
    let earlier = tx
        .prepare_cached("SELECT version, position FROM commits WHERE commit_id = ?1")?
        .query_row(params![request.commit_id], |row| Ok((row.get::<_, u64>(0)?, row.get::<_, u64>(1)?)))
        .optional()?;
    if let Some((version, position)) = earlier {
        return Ok(Ok(Appended { version, position, duplicate: true }));
    }
    let current: u64 = tx
        .prepare_cached("SELECT version FROM streams WHERE stream = ?1")?
        .query_row(params![request.stream_text], |row| row.get(0))
        .optional()?
        .unwrap_or(0);
    if let ExpectedVersion::Exact(expected) = request.expected {
        if expected != current {
            return Ok(Err(AppendError::Conflict { stream: request.stream.clone(), expected, actual: current }));
        }
    }

    let savepoint = tx.savepoint()?;
    match insert(&savepoint, request, current) {
        Ok(appended) => {
            savepoint.commit()?;
            Ok(Ok(appended))
        }
        Err(error) => {
            // Undo this request only; if SQLite already abandoned the whole transaction,
            // the batch cannot go on.
            savepoint.finish()?;
            if tx.is_autocommit() {
                return Err(error);
            }
            tracing::warn!(error = %error, "one append of a batch failed and was undone");
            Ok(Err(AppendError::Log(log_error(&error, "write an append"))))
        }
    }
}

/// Writes the request's events after version `current` and records the commit.
fn insert(conn: &Connection, request: &Request, current: u64) -> rusqlite::Result<Appended> {
    let team = request.stream.team_id().as_str();
    let mut statement = conn.prepare_cached(
        "INSERT INTO events (stream, version, event_id, commit_id, event_type, schema_version, \
         occurred_at, team, correlation_id, causation_id, payload) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    let mut version = current;
    let mut position = 0;
    for event in &request.events {
        version = next_version(version)?;
        statement.execute(params![
            request.stream_text,
            to_sql_integer(version)?,
            event.event_id,
            request.commit_id,
            event.event_type,
            event.schema_version,
            event.occurred_at,
            team,
            event.correlation_id,
            event.causation_id,
            event.payload,
        ])?;
        position = conn.last_insert_rowid();
    }
    let version_sql = to_sql_integer(version)?;
    conn.prepare_cached(
        "INSERT INTO streams (stream, team, version) VALUES (?1, ?2, ?3) \
         ON CONFLICT (stream) DO UPDATE SET version = excluded.version",
    )?
    .execute(params![request.stream_text, team, version_sql])?;
    conn.prepare_cached("INSERT INTO commits (commit_id, stream, version, position) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![request.commit_id, request.stream_text, version_sql, position])?;
    let position = u64::try_from(position).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, position))?;
    Ok(Appended { version, position, duplicate: false })
}

fn next_version(version: u64) -> rusqlite::Result<u64> {
    version.checked_add(1).ok_or(rusqlite::Error::IntegralValueOutOfRange(0, i64::MAX))
}

fn to_sql_integer(value: u64) -> rusqlite::Result<i64> {
    i64::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, i64::MAX))
}

/// The answer to an append whose request never got one (the writer stopped).
pub(crate) fn writer_gone() -> AppendError {
    AppendError::Log(crate::error::writer_stopped())
}
