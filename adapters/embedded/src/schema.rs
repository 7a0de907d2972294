//! The file's layout, and opening a connection configured for it.
//!
//! - `events`: one row per event; `position` is the rowid, so positions are assigned in
//!   commit order, 1-based and gap-free (rows are never deleted). `UNIQUE (stream,
//!   version)` both guards versions and serves `read_stream`; `events_by_team` serves
//!   team-filtered global reads.
//! - `streams`: each stream's current version, checked by every append.
//! - `commits`: every appended commit id with its outcome, so a retried commit is answered
//!   with the earlier outcome instead of being written twice.
//!
//! `PRAGMA user_version` records the schema version and `PRAGMA application_id` marks the
//! file as a Switchboard event log.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::EmbeddedError;
use crate::options::SqliteOptions;

/// The schema version this release writes and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// Marks the file as a Switchboard event log (`SWBD`).
const APPLICATION_ID: i32 = 0x5357_4244;

const CREATE_SCHEMA: &str = "
CREATE TABLE events (
    position       INTEGER PRIMARY KEY,
    stream         TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event_id       TEXT    NOT NULL,
    commit_id      TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    occurred_at    TEXT    NOT NULL,
    team           TEXT    NOT NULL,
    correlation_id TEXT    NOT NULL,
    causation_id   TEXT,
    payload        TEXT    NOT NULL,
    UNIQUE (stream, version)
);
CREATE INDEX events_by_team ON events (team, position);
CREATE TABLE streams (
    stream  TEXT    PRIMARY KEY,
    team    TEXT    NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE commits (
    commit_id TEXT    PRIMARY KEY,
    stream    TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    position  INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Opens the write connection: creates the file if needed, switches it to WAL, applies the
/// options and creates or checks the schema.
pub(crate) fn open_writer(path: &Path, options: &SqliteOptions) -> Result<Connection, EmbeddedError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags)
        .map_err(|source| EmbeddedError::Open { path: path.to_owned(), source })?;
    let setup = |step: &'static str| move |source| EmbeddedError::Setup { path: path.to_owned(), step, source };
    conn.busy_timeout(options.busy_timeout()).map_err(setup("set the busy timeout"))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(setup("switch to WAL journaling"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(EmbeddedError::WalUnavailable { path: path.to_owned(), mode });
    }
    conn.pragma_update(None, "synchronous", options.synchronous.pragma_value())
        .map_err(setup("set the synchronous mode"))?;
    conn.set_prepared_statement_cache_capacity(32);
    ensure_schema(&mut conn, path)?;
    Ok(conn)
}

/// Opens a read connection on an existing log. It never creates the file (a log that
/// disappeared must be reported, not silently recreated) and refuses writes.
pub(crate) fn open_reader(path: &Path, busy_timeout: std::time::Duration) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "query_only", true)?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

/// Creates the schema in a new file, or checks that an existing file holds a log this
/// release can read.
fn ensure_schema(conn: &mut Connection, path: &Path) -> Result<(), EmbeddedError> {
    let setup = |step: &'static str| move |source| EmbeddedError::Setup { path: path.to_owned(), step, source };
    // The write lock is taken first so that two processes creating the same new file
    // cannot both create the schema.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(setup("lock the file to check its schema"))?;
    let version: i32 =
        tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(setup("read the schema version"))?;
    let application: i32 =
        tx.pragma_query_value(None, "application_id", |row| row.get(0)).map_err(setup("read the application id"))?;
    if application != 0 && application != APPLICATION_ID {
        return Err(EmbeddedError::NotAnEventLog { path: path.to_owned() });
    }
    if version > SCHEMA_VERSION {
        return Err(EmbeddedError::NewerSchema { path: path.to_owned(), found: version, supported: SCHEMA_VERSION });
    }
    if version == SCHEMA_VERSION && application == APPLICATION_ID {
        return Ok(());
    }
    let objects: i64 = tx
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
        .map_err(setup("list the file's tables"))?;
    if version != 0 || objects != 0 {
        return Err(EmbeddedError::NotAnEventLog { path: path.to_owned() });
    }
    tx.execute_batch(CREATE_SCHEMA).map_err(setup("create the schema"))?;
    tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(setup("mark the file as an event log"))?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(setup("record the schema version"))?;
    tx.commit().map_err(setup("commit the schema"))
}
