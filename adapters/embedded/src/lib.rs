//! The embedded event log: SQLite in WAL mode, the default store, needing no server.
//!
//! - Appends go to one writer thread that takes every request waiting and commits them in
//!   one transaction (group commit): many concurrent writers share each fsync, so
//!   `synchronous = FULL` durability costs little throughput. Each request is checked on its
//!   own (expected version, duplicate commit id), so one conflict never fails its neighbours.
//! - Reads use a small pool of read connections on the blocking thread pool; WAL lets them
//!   run while the writer commits.
//! - In-process subscribers are woken through a watch channel the writer bumps after each
//!   commit; the subscription's poll interval covers writers in other processes.
//!
//! A row that cannot be read (bad JSON, bad stream id) is reported as
//! [`LogError::Corrupt`] with its position; nothing is skipped or rewritten.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use switchboard_engine::log::{AppendError, Appended, Commit, EventLog, ExpectedVersion, LogError};
use switchboard_schemas::{RecordedEvent, StreamId, TeamId};
use tokio::sync::{oneshot, watch};
use tracing::{debug, error};
use uuid::Uuid;

/// The on-disk layout version, kept in `PRAGMA user_version`.
const LAYOUT_VERSION: i64 = 1;
/// Most append requests committed in one transaction.
const MAX_BATCH: usize = 512;

/// How hard SQLite syncs to disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    /// Every commit survives power loss (fsync per group commit).
    #[default]
    Full,
    /// Commits survive a crash of the process, not of the machine.
    Normal,
}

/// Options of the embedded store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteOptions {
    /// Durability of commits.
    pub synchronous: Synchronous,
    /// How long to wait for a lock held by another process, in milliseconds.
    pub busy_timeout_ms: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self { synchronous: Synchronous::Full, busy_timeout_ms: 5_000 }
    }
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// SQLite refused to open or set up the file.
    #[error("cannot open the event log {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer release.
    #[error("the event log {path} has layout version {found}; this release reads up to {LAYOUT_VERSION}. Upgrade Switchboard")]
    NewerLayout {
        /// The file.
        path: PathBuf,
        /// Its layout version.
        found: i64,
    },
    /// The writer thread could not be started.
    #[error("cannot start the event log writer: {0}")]
    Thread(#[from] std::io::Error),
}

struct AppendRequest {
    stream: StreamId,
    expected: ExpectedVersion,
    commit: Commit,
    reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// The embedded event log.
pub struct SqliteEventLog {
    path: PathBuf,
    options: SqliteOptions,
    writer: Mutex<mpsc::Sender<AppendRequest>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    head: watch::Receiver<u64>,
}

fn connect(path: &Path, options: &SqliteOptions) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_millis(options.busy_timeout_ms))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let sync = match options.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    Ok(conn)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY,
    stream         TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    team           TEXT    NOT NULL,
    event_id       TEXT    NOT NULL,
    commit_id      TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    occurred_at    TEXT    NOT NULL,
    correlation_id TEXT    NOT NULL,
    causation_id   TEXT,
    payload        TEXT    NOT NULL,
    UNIQUE (stream, version)
);
CREATE INDEX IF NOT EXISTS events_by_team ON events (team, position);
CREATE TABLE IF NOT EXISTS streams (
    stream  TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commits (
    commit_id TEXT PRIMARY KEY,
    version   INTEGER NOT NULL,
    position  INTEGER NOT NULL
) WITHOUT ROWID;
";

impl SqliteEventLog {
    /// Opens (creating if needed) the log at `path`.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Self, EmbeddedError> {
        let open_err = |source| EmbeddedError::Open { path: path.to_owned(), source };
        let conn = connect(path, &options).map_err(open_err)?;
        let layout: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(open_err)?;
        if layout > LAYOUT_VERSION {
            return Err(EmbeddedError::NewerLayout { path: path.to_owned(), found: layout });
        }
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        conn.pragma_update(None, "user_version", LAYOUT_VERSION).map_err(open_err)?;
        let head: u64 = conn
            .query_row("SELECT COALESCE(MAX(position), 0) FROM events", [], |row| row.get::<_, i64>(0))
            .map_err(open_err)? as u64;
        let (head_tx, head_rx) = watch::channel(head);
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new().name("event-log-writer".into()).spawn(move || write_loop(conn, rx, head_tx))?;
        Ok(Self {
            path: path.to_owned(),
            options,
            writer: Mutex::new(tx),
            readers: Arc::new(Mutex::new(Vec::new())),
            head: head_rx,
        })
    }

    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, LogError> + Send + 'static,
    ) -> Result<T, LogError> {
        let pool = self.readers.clone();
        let (path, options) = (self.path.clone(), self.options.clone());
        tokio::task::spawn_blocking(move || {
            let taken = pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match taken {
                Some(conn) => conn,
                None => connect(&path, &options).map_err(|e| {
                    LogError::Unavailable(format!("cannot open {} for reading: {e}", path.display()))
                })?,
            };
            let result = query(&conn);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
            result
        })
        .await
        .map_err(|e| LogError::Backend(format!("read task failed: {e}")))?
    }
}

fn backend(e: rusqlite::Error) -> LogError {
    LogError::Backend(e.to_string())
}

fn write_loop(mut conn: Connection, requests: mpsc::Receiver<AppendRequest>, head: watch::Sender<u64>) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let size = batch.len();
        match write_batch(&mut conn, &batch) {
            Ok((outcomes, last_position)) => {
                if let Some(position) = last_position {
                    head.send_replace(position);
                }
                for (request, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = request.reply.send(outcome);
                }
            }
            Err(e) => {
                error!(error = %e, size, "event log batch failed; nothing in it was written");
                for request in batch {
                    let _ = request.reply.send(Err(AppendError::Log(LogError::Backend(format!(
                        "the event log could not commit ({e}); check the disk and retry"
                    )))));
                }
            }
        }
        debug!(size, micros = started.elapsed().as_micros() as u64, "event log batch committed");
    }
}

/// Writes a batch in one transaction: per-request outcomes, and the last position written.
#[allow(clippy::type_complexity)]
fn write_batch(
    conn: &mut Connection,
    batch: &[AppendRequest],
) -> rusqlite::Result<(Vec<Result<Appended, AppendError>>, Option<u64>)> {
    let tx = conn.transaction()?;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut last_position = None;
    for request in batch {
        let outcome = append_one(&tx, request)?;
        if let Ok(appended) = &outcome {
            if !appended.duplicate {
                last_position = Some(appended.position);
            }
        }
        outcomes.push(outcome);
    }
    tx.commit()?;
    Ok((outcomes, last_position))
}

fn append_one(tx: &Transaction<'_>, request: &AppendRequest) -> rusqlite::Result<Result<Appended, AppendError>> {
    let commit = &request.commit;
    if commit.events.is_empty() {
        return Ok(Err(AppendError::EmptyCommit));
    }
    let commit_id = commit.commit_id.to_string();
    let earlier = tx
        .query_row("SELECT version, position FROM commits WHERE commit_id = ?1", params![commit_id], |row| {
            Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64))
        })
        .optional()?;
    if let Some((version, position)) = earlier {
        return Ok(Ok(Appended { version, position, duplicate: true }));
    }
    let stream = request.stream.to_string();
    let current = tx
        .query_row("SELECT version FROM streams WHERE stream = ?1", params![stream], |row| row.get::<_, i64>(0))
        .optional()?
        .unwrap_or(0) as u64;
    if let ExpectedVersion::Exact(expected) = request.expected {
        if expected != current {
            return Ok(Err(AppendError::Conflict { stream: request.stream.clone(), expected, actual: current }));
        }
    }
    let team = request.stream.team_id().to_string();
    let mut insert = tx.prepare_cached(
        "INSERT INTO events (stream, version, team, event_id, commit_id, event_type, schema_version, occurred_at,
                             correlation_id, causation_id, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    let mut version = current;
    let mut position = 0;
    for event in &commit.events {
        version += 1;
        insert.execute(params![
            stream,
            version as i64,
            team,
            event.event_id.to_string(),
            commit_id,
            event.event_type,
            event.schema_version,
            event.occurred_at.to_rfc3339_opts(SecondsFormat::Nanos, true),
            event.causation.correlation_id.to_string(),
            event.causation.causation_id.map(|id| id.to_string()),
            event.payload.to_string(),
        ])?;
        position = tx.last_insert_rowid() as u64;
    }
    tx.prepare_cached(
        "INSERT INTO streams (stream, version) VALUES (?1, ?2) ON CONFLICT (stream) DO UPDATE SET version = excluded.version",
    )?
    .execute(params![stream, version as i64])?;
    tx.prepare_cached("INSERT INTO commits (commit_id, version, position) VALUES (?1, ?2, ?3)")?
        .execute(params![commit_id, version as i64, position as i64])?;
    Ok(Ok(Appended { version, position, duplicate: false }))
}

const COLUMNS: &str = "position, stream, version, team, event_id, commit_id, event_type, schema_version, occurred_at,
                       correlation_id, causation_id, payload";

/// Reads one row; any unreadable column makes the row corrupt, named by its position.
fn row_to_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<RecordedEvent, LogError>> {
    let position = row.get::<_, i64>(0)? as u64;
    let text = |i: usize| row.get::<_, String>(i);
    let (stream, team, event_id, commit_id) = (text(1)?, text(3)?, text(4)?, text(5)?);
    let (event_type, occurred_at, correlation_id, payload) = (text(6)?, text(8)?, text(9)?, text(11)?);
    let causation_id: Option<String> = row.get(10)?;
    let version = row.get::<_, i64>(2)? as u64;
    let schema_version = row.get::<_, i64>(7)?;
    let corrupt = |detail: String| LogError::Corrupt { position, detail };
    let parse = || -> Result<RecordedEvent, LogError> {
        let uuid = |field: &str, value: &str| {
            Uuid::parse_str(value).map_err(|e| corrupt(format!("{field} {value:?} is not a UUID: {e}")))
        };
        Ok(RecordedEvent {
            position,
            stream: stream.parse::<StreamId>().map_err(|e| corrupt(e.to_string()))?,
            version,
            team: team.parse::<TeamId>().map_err(|e| corrupt(e.to_string()))?,
            event_id: uuid("event_id", &event_id)?,
            commit_id: uuid("commit_id", &commit_id)?,
            event_type: event_type.clone(),
            schema_version: u16::try_from(schema_version)
                .map_err(|_| corrupt(format!("schema version {schema_version} is out of range")))?,
            occurred_at: DateTime::parse_from_rfc3339(&occurred_at)
                .map_err(|e| corrupt(format!("occurred_at {occurred_at:?}: {e}")))?
                .with_timezone(&Utc),
            correlation_id: uuid("correlation_id", &correlation_id)?,
            causation_id: causation_id.as_deref().map(|c| uuid("causation_id", c)).transpose()?,
            payload: serde_json::from_str(&payload).map_err(|e| corrupt(format!("payload is not JSON: {e}")))?,
        })
    };
    Ok(parse())
}

fn collect(stmt: &mut rusqlite::Statement<'_>, params: impl rusqlite::Params) -> Result<Vec<RecordedEvent>, LogError> {
    let rows = stmt.query_map(params, row_to_event).map_err(backend)?;
    let mut events = Vec::new();
    for row in rows {
        events.push(row.map_err(backend)??);
    }
    Ok(events)
}

#[async_trait]
impl EventLog for SqliteEventLog {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        commit: Commit,
    ) -> Result<Appended, AppendError> {
        if commit.events.is_empty() {
            return Err(AppendError::EmptyCommit);
        }
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest { stream: stream.clone(), expected, commit, reply };
        let stopped = || {
            AppendError::Log(LogError::Unavailable(
                "the event log writer has stopped; see the error above and restart Switchboard".into(),
            ))
        };
        self.writer.lock().unwrap_or_else(|e| e.into_inner()).send(request).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn read_stream(&self, stream: &StreamId, after_version: u64) -> Result<Vec<RecordedEvent>, LogError> {
        let stream = stream.to_string();
        self.read(move |conn| {
            let sql = format!("SELECT {COLUMNS} FROM events WHERE stream = ?1 AND version > ?2 ORDER BY version");
            let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
            collect(&mut stmt, params![stream, after_version as i64])
        })
        .await
    }

    async fn read_all(&self, after: u64, limit: usize, team: Option<&TeamId>) -> Result<Vec<RecordedEvent>, LogError> {
        let team = team.map(|t| t.to_string());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| match team {
            Some(team) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM events WHERE team = ?1 AND position > ?2 ORDER BY position LIMIT ?3"
                );
                let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
                collect(&mut stmt, params![team, after as i64, limit])
            }
            None => {
                let sql = format!("SELECT {COLUMNS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2");
                let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
                collect(&mut stmt, params![after as i64, limit])
            }
        })
        .await
    }

    async fn head(&self) -> Result<u64, LogError> {
        self.read(|conn| {
            conn.query_row("SELECT COALESCE(MAX(position), 0) FROM events", [], |row| row.get::<_, i64>(0))
                .map(|p| p as u64)
                .map_err(backend)
        })
        .await
    }

    async fn wait_for_append(&self, after: u64, timeout: Duration) {
        let mut head = self.head.clone();
        let _ = tokio::time::timeout(timeout, head.wait_for(|&position| position > after)).await;
    }
}
