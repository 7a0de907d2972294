//! Reading: a small pool of read connections, and turning rows back into events.
//!
//! A row that cannot be read as an event is reported as [`LogError::Corrupt`] with its
//! position; it is never skipped and never causes a panic.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, Row};
use switchboard_engine::log::LogError;
use switchboard_schemas::{RecordedEvent, StreamId, TeamId};
use uuid::Uuid;

use crate::error::log_error;
use crate::schema;

/// Read connections kept open between reads.
const MAX_IDLE_READERS: usize = 8;

/// The columns every event read selects, in the order [`decode`] expects.
const COLUMNS: &str = "position, stream, version, team, event_id, commit_id, event_type, \
                       schema_version, occurred_at, correlation_id, causation_id, payload";

/// Read connections on one file, opened on demand and reused.
pub(crate) struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    /// A pool for the log at `path`, with one connection opened now so that a file that
    /// cannot be read is reported when the log is opened.
    pub(crate) fn new(path: PathBuf, busy_timeout: Duration) -> rusqlite::Result<Self> {
        let first = schema::open_reader(&path, busy_timeout)?;
        Ok(Self { path, busy_timeout, idle: Mutex::new(vec![first]) })
    }

    /// Runs `read` on an idle connection (or a new one), then keeps the connection for
    /// the next read unless the read failed in a way that may have broken it.
    pub(crate) fn run<T>(&self, read: impl FnOnce(&Connection) -> Result<T, LogError>) -> Result<T, LogError> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => schema::open_reader(&self.path, self.busy_timeout)
                .map_err(|e| log_error(&e, "open a read connection"))?,
        };
        let result = read(&conn);
        if matches!(result, Ok(_) | Err(LogError::Corrupt { .. })) {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }
}

/// The events of `stream` after `after_version`, checking that versions follow each other
/// without gaps (a gap means a row was altered or removed).
pub(crate) fn read_stream(
    conn: &Connection,
    stream: &StreamId,
    after_version: u64,
) -> Result<Vec<RecordedEvent>, LogError> {
    let Ok(after) = i64::try_from(after_version) else {
        return Ok(Vec::new());
    };
    let doing = "read a stream";
    let sql = format!("SELECT {COLUMNS} FROM events WHERE stream = ?1 AND version > ?2 ORDER BY version");
    let mut statement = conn.prepare_cached(&sql).map_err(|e| log_error(&e, doing))?;
    let mut rows = statement.query(params![stream.to_string(), after]).map_err(|e| log_error(&e, doing))?;
    let mut events = Vec::new();
    let mut expected = after_version + 1;
    while let Some(row) = rows.next().map_err(|e| log_error(&e, doing))? {
        let event = decode(row)?;
        if event.version != expected {
            return Err(LogError::Corrupt {
                position: event.position,
                detail: format!(
                    "stream {stream} continues at version {} where version {expected} was \
                     expected; an event row is missing or was altered",
                    event.version
                ),
            });
        }
        expected += 1;
        events.push(event);
    }
    Ok(events)
}

/// Up to `limit` events after position `after`, in log order, optionally of one team.
pub(crate) fn read_all(
    conn: &Connection,
    after: u64,
    limit: usize,
    team: Option<&TeamId>,
) -> Result<Vec<RecordedEvent>, LogError> {
    let Ok(after) = i64::try_from(after) else {
        return Ok(Vec::new());
    };
    // A limit beyond what SQLite counts means "everything", which SQLite spells -1.
    let limit = i64::try_from(limit).unwrap_or(-1);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let doing = "read the log";
    let mut events = Vec::new();
    let mut collect = |rows: &mut rusqlite::Rows<'_>| -> Result<(), LogError> {
        while let Some(row) = rows.next().map_err(|e| log_error(&e, doing))? {
            events.push(decode(row)?);
        }
        Ok(())
    };
    match team {
        Some(team) => {
            let sql = format!(
                "SELECT {COLUMNS} FROM events WHERE team = ?1 AND position > ?2 \
                 ORDER BY position LIMIT ?3"
            );
            let mut statement = conn.prepare_cached(&sql).map_err(|e| log_error(&e, doing))?;
            let mut rows = statement.query(params![team.as_str(), after, limit]).map_err(|e| log_error(&e, doing))?;
            collect(&mut rows)?;
        }
        None => {
            let sql = format!("SELECT {COLUMNS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2");
            let mut statement = conn.prepare_cached(&sql).map_err(|e| log_error(&e, doing))?;
            let mut rows = statement.query(params![after, limit]).map_err(|e| log_error(&e, doing))?;
            collect(&mut rows)?;
        }
    }
    Ok(events)
}

/// The position of the last event, 0 for an empty log.
pub(crate) fn head(conn: &Connection) -> Result<u64, LogError> {
    let doing = "read the head of the log";
    let head: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(position), 0) FROM events")
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .map_err(|e| log_error(&e, doing))?;
    u64::try_from(head).map_err(|_| LogError::Corrupt {
        position: 0,
        detail: format!("the last event has the negative position {head}"),
    })
}

/// Reads one row as an event.
fn decode(row: &Row<'_>) -> Result<RecordedEvent, LogError> {
    let raw_position: i64 = row.get(0).map_err(|e| log_error(&e, "read an event's position"))?;
    let position = u64::try_from(raw_position).map_err(|_| LogError::Corrupt {
        position: 0,
        detail: format!("an event row has the negative position {raw_position}"),
    })?;
    let cells = Cells { row, position };

    let stream_text = cells.text(1, "stream")?;
    let stream: StreamId =
        stream_text.parse().map_err(|e| cells.corrupt(format!("the stream id does not parse: {e}")))?;
    let version = cells.integer(2, "version")?;
    let version = u64::try_from(version)
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| cells.corrupt(format!("the version {version} is not a positive number")))?;
    let team =
        TeamId::new(cells.text(3, "team")?).map_err(|e| cells.corrupt(format!("the team id does not parse: {e}")))?;
    if &team != stream.team_id() {
        return Err(cells.corrupt(format!("the row's team {team} is not the team of stream {stream}")));
    }
    let event_id = cells.uuid(4, "event_id")?;
    let commit_id = cells.uuid(5, "commit_id")?;
    let event_type = cells.text(6, "event_type")?.to_owned();
    let schema_version = cells.integer(7, "schema_version")?;
    let schema_version = u16::try_from(schema_version)
        .map_err(|_| cells.corrupt(format!("the schema version {schema_version} is out of range")))?;
    let occurred_at = DateTime::parse_from_rfc3339(cells.text(8, "occurred_at")?)
        .map_err(|e| cells.corrupt(format!("occurred_at is not an RFC 3339 timestamp: {e}")))?
        .with_timezone(&Utc);
    let correlation_id = cells.uuid(9, "correlation_id")?;
    let causation_id = match cells.value(10, "causation_id")? {
        ValueRef::Null => None,
        _ => Some(cells.uuid(10, "causation_id")?),
    };
    let payload = serde_json::from_str(cells.text(11, "payload")?)
        .map_err(|e| cells.corrupt(format!("the payload is not valid JSON: {e}")))?;

    Ok(RecordedEvent {
        position,
        stream,
        version,
        team,
        event_id,
        commit_id,
        event_type,
        schema_version,
        occurred_at,
        correlation_id,
        causation_id,
        payload,
    })
}

/// Typed access to one row's cells, reporting anything unexpected as corruption of the
/// row at `position`.
struct Cells<'r, 's> {
    row: &'r Row<'s>,
    position: u64,
}

impl<'r> Cells<'r, '_> {
    fn corrupt(&self, detail: String) -> LogError {
        LogError::Corrupt { position: self.position, detail }
    }

    fn value(&self, index: usize, column: &str) -> Result<ValueRef<'r>, LogError> {
        self.row.get_ref(index).map_err(|e| self.corrupt(format!("column {column} cannot be read: {e}")))
    }

    fn text(&self, index: usize, column: &str) -> Result<&'r str, LogError> {
        match self.value(index, column)? {
            ValueRef::Text(bytes) => {
                std::str::from_utf8(bytes).map_err(|_| self.corrupt(format!("column {column} is not valid UTF-8")))
            }
            other => Err(self.corrupt(format!("column {column} holds {} instead of text", other.data_type()))),
        }
    }

    fn integer(&self, index: usize, column: &str) -> Result<i64, LogError> {
        match self.value(index, column)? {
            ValueRef::Integer(value) => Ok(value),
            other => Err(self.corrupt(format!("column {column} holds {} instead of an integer", other.data_type()))),
        }
    }

    fn uuid(&self, index: usize, column: &str) -> Result<Uuid, LogError> {
        let text = self.text(index, column)?;
        Uuid::parse_str(text).map_err(|e| self.corrupt(format!("column {column} is not a UUID: {e}")))
    }
}
