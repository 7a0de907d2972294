//! The SQL both stores run. SQLite accepts PostgreSQL's `$n` parameters, `ON CONFLICT`,
//! `CAST(.. AS BIGINT)` and `LIKE .. ESCAPE`, so one text serves both; integers are BIGINT
//! (booleans 0/1, times epoch milliseconds) and days are `YYYY-MM-DD` text computed here,
//! so no date functions (which differ) are needed.

use chrono::{DateTime, Utc};
use switchboard_projections::candidates::CandidateRecord;
use switchboard_projections::sessions::{CandidateQuestion, CandidateReason, SessionRow};
use switchboard_projections::store::{parse_cursor, SessionQuery, StoreError, TeamRow};
use switchboard_schemas::event::CloseReason;
use uuid::Uuid;

/// The layout of the tables below. Read models are derived data: a store holding another
/// layout is dropped and rebuilt from the log (its checkpoint goes with it), never migrated.
pub const LAYOUT: i64 = 7;

/// The table recording [`LAYOUT`]; created before anything else.
pub const LAYOUT_TABLE: &str = "CREATE TABLE IF NOT EXISTS sb_layout (version BIGINT NOT NULL)";
/// Reads the recorded layout.
pub const SELECT_LAYOUT: &str = "SELECT version FROM sb_layout";

/// Statements that drop every table of an older layout.
pub const DROP_TABLES: [&str; 5] = [
    "DROP TABLE IF EXISTS sb_sessions",
    "DROP TABLE IF EXISTS sb_teams",
    "DROP TABLE IF EXISTS sb_rollup",
    "DROP TABLE IF EXISTS sb_checkpoints",
    "DELETE FROM sb_layout",
];

/// The statements creating the current layout's read-model tables; idempotent. The webhook
/// outbox's tables (`crate::outbox::TABLES`) are not read models (they record what was sent
/// to the outside), so a new layout never drops them.
pub const TABLES: [&str; 6] = [
    "CREATE TABLE IF NOT EXISTS sb_checkpoints (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL
)",
    "CREATE TABLE IF NOT EXISTS sb_sessions (
    session_id TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    phase TEXT NOT NULL,
    reconfirming BIGINT NOT NULL,
    opened_at BIGINT NOT NULL,
    opened_day TEXT NOT NULL,
    closed_at BIGINT,
    closed_day TEXT,
    close_reason TEXT,
    assignee TEXT,
    category TEXT,
    category_collected BIGINT NOT NULL,
    question TEXT,
    question_lower TEXT,
    messages_in BIGINT NOT NULL CHECK (messages_in >= 0),
    messages_out BIGINT NOT NULL CHECK (messages_out >= 0),
    first_answer_at BIGINT,
    first_answer_ms BIGINT,
    resolution_ms BIGINT,
    transferred BIGINT NOT NULL,
    auto_answered BIGINT NOT NULL,
    reconfirmed BIGINT NOT NULL,
    last_faq TEXT,
    offered TEXT NOT NULL,
    last_query TEXT,
    candidate_query TEXT,
    candidate_reason TEXT,
    candidate_at BIGINT,
    handed_over_at BIGINT,
    acknowledged_at BIGINT,
    first_human_reply_at BIGINT,
    missed_targets TEXT NOT NULL,
    breached BIGINT NOT NULL,
    targets_due TEXT NOT NULL,
    handovers TEXT NOT NULL
)",
    "CREATE INDEX IF NOT EXISTS sb_sessions_team_opened ON sb_sessions (team, opened_at DESC, session_id DESC)",
    "CREATE INDEX IF NOT EXISTS sb_sessions_team_candidate ON sb_sessions (team, candidate_at DESC) \
     WHERE candidate_at IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS sb_rollup (
    team TEXT NOT NULL,
    grain TEXT NOT NULL,
    period TEXT NOT NULL,
    metric TEXT NOT NULL,
    key TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (team, grain, period, metric, key)
)",
    "CREATE TABLE IF NOT EXISTS sb_teams (
    team TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    cloned_from TEXT
)",
];

/// Records the layout (taken as `$1`); run after every table exists.
pub const RECORD_LAYOUT: &str =
    "INSERT INTO sb_layout (version) SELECT CAST($1 AS BIGINT) WHERE NOT EXISTS (SELECT 1 FROM sb_layout)";

/// A query parameter; each store maps it to its driver's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A BIGINT (possibly NULL).
    Int(Option<i64>),
    /// A TEXT (possibly NULL).
    Text(Option<String>),
}

/// One result row as plain values (drivers convert their rows into this).
pub type Row = Vec<Value>;

pub(crate) fn int_at(row: &[Value], index: usize) -> Result<Option<i64>, StoreError> {
    match row.get(index) {
        Some(Value::Int(v)) => Ok(*v),
        Some(Value::Text(None)) => Ok(None),
        other => Err(StoreError::Corrupt(format!("column {index}: expected an integer, found {other:?}"))),
    }
}

pub(crate) fn text_at(row: &[Value], index: usize) -> Result<Option<String>, StoreError> {
    match row.get(index) {
        Some(Value::Text(v)) => Ok(v.clone()),
        Some(Value::Int(None)) => Ok(None),
        other => Err(StoreError::Corrupt(format!("column {index}: expected text, found {other:?}"))),
    }
}

const COLUMNS: [&str; 37] = [
    "session_id",
    "team",
    "user_id",
    "status",
    "phase",
    "reconfirming",
    "opened_at",
    "opened_day",
    "closed_at",
    "closed_day",
    "close_reason",
    "assignee",
    "category",
    "category_collected",
    "question",
    "question_lower",
    "messages_in",
    "messages_out",
    "first_answer_at",
    "first_answer_ms",
    "resolution_ms",
    "transferred",
    "auto_answered",
    "reconfirmed",
    "last_faq",
    "offered",
    "last_query",
    "candidate_query",
    "candidate_reason",
    "candidate_at",
    "handed_over_at",
    "acknowledged_at",
    "first_human_reply_at",
    "missed_targets",
    "breached",
    "targets_due",
    "handovers",
];

/// Upserts one row.
pub fn upsert_session() -> String {
    let placeholders: Vec<String> = (1..=COLUMNS.len()).map(|i| format!("${i}")).collect();
    let updates: Vec<String> = COLUMNS[1..].iter().map(|c| format!("{c} = excluded.{c}")).collect();
    format!(
        "INSERT INTO sb_sessions ({}) VALUES ({}) ON CONFLICT (session_id) DO UPDATE SET {}",
        COLUMNS.join(", "),
        placeholders.join(", "),
        updates.join(", ")
    )
}

/// Sets a checkpoint: `$1` name, `$2` position.
pub const UPSERT_CHECKPOINT: &str = "INSERT INTO sb_checkpoints (name, position) VALUES ($1, $2) \
     ON CONFLICT (name) DO UPDATE SET position = excluded.position";
/// Reads a checkpoint: `$1` name.
pub const SELECT_CHECKPOINT: &str = "SELECT position FROM sb_checkpoints WHERE name = $1";
/// Forgets a checkpoint: `$1` name.
pub const DELETE_CHECKPOINT: &str = "DELETE FROM sb_checkpoints WHERE name = $1";
/// Drops the session rows (owned by the sessions projection).
pub const DELETE_SESSIONS: &str = "DELETE FROM sb_sessions";
/// Drops the statistics rollup (owned by the sessions projection).
pub const DELETE_ROLLUP: &str = "DELETE FROM sb_rollup";
/// Drops the team directory (owned by the sessions projection).
pub const DELETE_TEAMS: &str = "DELETE FROM sb_teams";
/// Records a team: `$1` id, `$2` name, `$3` created (epoch ms), `$4` template.
pub const UPSERT_TEAM: &str = "INSERT INTO sb_teams (team, name, created_at, cloned_from) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (team) DO UPDATE SET name = excluded.name";
/// Every team, by id.
pub const SELECT_TEAMS: &str = "SELECT team, name, created_at, cloned_from FROM sb_teams ORDER BY team";

/// The parameters of [`UPSERT_TEAM`].
pub fn team_values(team: &TeamRow) -> Vec<Value> {
    vec![
        Value::Text(Some(team.team.clone())),
        Value::Text(Some(team.name.clone())),
        Value::Int(Some(millis(team.created_at))),
        text(team.cloned_from.as_deref()),
    ]
}

/// Reads a row selected by [`SELECT_TEAMS`].
pub fn team_from(row: &[Value]) -> Result<TeamRow, StoreError> {
    Ok(TeamRow {
        team: required(text_at(row, 0)?, "team")?,
        name: required(text_at(row, 1)?, "name")?,
        created_at: time(required(int_at(row, 2)?, "created_at")?)?,
        cloned_from: text_at(row, 3)?,
    })
}

/// Adds to a rollup counter: `$1` team, `$2` grain, `$3` period, `$4` metric, `$5` key,
/// `$6` amount.
pub const ADD_ROLLUP: &str = "INSERT INTO sb_rollup (team, grain, period, metric, key, n) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (team, grain, period, metric, key) DO UPDATE SET n = sb_rollup.n + excluded.n";

/// The rollup's grains. Every counter is kept per day and per month, so a year costs twelve
/// month rows plus at most two partial months of days; the opened/closed counters are also
/// kept as a day series of their own, so the per-day chart reads only those.
pub mod grain {
    /// Per UTC day, `period` = `YYYY-MM-DD`.
    pub const DAY: &str = "d";
    /// Per UTC month, `period` = `YYYY-MM`.
    pub const MONTH: &str = "m";
    /// Opened and closed per day only, `period` = `YYYY-MM-DD`.
    pub const SERIES: &str = "s";
}

/// The upserts that move the rollup by a batch's day-level delta, summed per grain.
pub fn rollup_statements(delta: Vec<switchboard_projections::sessions::Contribution>) -> Vec<(String, Vec<Value>)> {
    use switchboard_projections::sessions::metric;
    let mut net: std::collections::BTreeMap<(String, &str, String, &str, String), i64> =
        std::collections::BTreeMap::new();
    for c in delta {
        let month = c.day.get(..7).unwrap_or(&c.day).to_owned();
        *net.entry((c.team.clone(), grain::MONTH, month, c.metric, c.key.clone())).or_default() += c.n;
        if c.metric == metric::OPENED || c.metric == metric::CLOSED {
            *net.entry((c.team.clone(), grain::SERIES, c.day.clone(), c.metric, c.key.clone())).or_default() += c.n;
        }
        *net.entry((c.team, grain::DAY, c.day, c.metric, c.key)).or_default() += c.n;
    }
    net.into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|((team, grain, period, metric, key), n)| {
            let values = vec![
                Value::Text(Some(team)),
                Value::Text(Some(grain.to_owned())),
                Value::Text(Some(period)),
                Value::Text(Some(metric.to_owned())),
                Value::Text(Some(key)),
                Value::Int(Some(n)),
            ];
            (ADD_ROLLUP.to_owned(), values)
        })
        .collect()
}

/// Loads one row: `$1` session id.
pub fn select_session() -> String {
    format!("SELECT {} FROM sb_sessions WHERE session_id = $1", COLUMNS.join(", "))
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

fn flag(value: bool) -> Value {
    Value::Int(Some(i64::from(value)))
}

fn text(value: Option<&str>) -> Value {
    Value::Text(value.map(str::to_owned))
}

/// The parameters of [`upsert_session`] for a row.
pub fn session_values(row: &SessionRow) -> Vec<Value> {
    vec![
        Value::Text(Some(row.session_id.to_string())),
        text(Some(&row.team)),
        text(Some(&row.user)),
        text(Some(row.status.as_str())),
        text(Some(row.phase.as_str())),
        flag(row.reconfirming),
        Value::Int(Some(millis(row.opened_at))),
        Value::Text(Some(day(row.opened_at))),
        Value::Int(row.closed_at.map(millis)),
        Value::Text(row.closed_at.map(day)),
        text(row.close_reason.map(CloseReason::as_str)),
        text(row.assignee.as_deref()),
        text(row.category.as_deref()),
        flag(row.category_collected),
        text(row.question.as_deref()),
        Value::Text(row.question.as_ref().map(|q| q.to_lowercase())),
        Value::Int(Some(row.messages_in)),
        Value::Int(Some(row.messages_out)),
        Value::Int(row.first_answer_at.map(millis)),
        Value::Int(row.first_answer_at.map(|a| millis(a) - millis(row.opened_at))),
        Value::Int(row.closed_at.map(|c| millis(c) - millis(row.opened_at))),
        flag(row.transferred),
        flag(row.auto_answered),
        flag(row.reconfirmed),
        text(row.last_faq.as_deref()),
        Value::Text(Some(serde_json::to_string(&row.offered).unwrap_or_else(|_| "[]".to_owned()))),
        text(row.last_query.as_deref()),
        text(row.candidate.as_ref().map(|c| c.query.as_str())),
        text(row.candidate.as_ref().map(|c| c.reason.as_str())),
        Value::Int(row.candidate.as_ref().map(|c| millis(c.at))),
        Value::Int(row.handed_over_at.map(millis)),
        Value::Int(row.acknowledged_at.map(millis)),
        Value::Int(row.first_human_reply_at.map(millis)),
        Value::Text(Some(serde_json::to_string(&row.missed_targets).unwrap_or_else(|_| "[]".to_owned()))),
        flag(!row.missed_targets.is_empty()),
        Value::Text(Some(serde_json::to_string(&row.targets_due).unwrap_or_else(|_| "[]".to_owned()))),
        Value::Text(Some(serde_json::to_string(&row.handovers).unwrap_or_else(|_| "[]".to_owned()))),
    ]
}

fn required<T>(value: Option<T>, column: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::Corrupt(format!("{column} is NULL")))
}

fn time(millis: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(millis).ok_or_else(|| StoreError::Corrupt(format!("time {millis} out of range")))
}

/// Reads a row selected with the column list of [`select_session`].
pub fn session_from(row: &[Value]) -> Result<SessionRow, StoreError> {
    let id = required(text_at(row, 0)?, "session_id")?;
    let status = required(text_at(row, 3)?, "status")?;
    let phase = required(text_at(row, 4)?, "phase")?;
    let flag = |i: usize, name: &str| -> Result<bool, StoreError> { Ok(required(int_at(row, i)?, name)? != 0) };
    Ok(SessionRow {
        session_id: Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(format!("session id {id:?}: {e}")))?,
        team: required(text_at(row, 1)?, "team")?,
        user: required(text_at(row, 2)?, "user_id")?,
        status: status.parse().map_err(|_| StoreError::Corrupt(format!("status {status:?}")))?,
        phase: phase.parse().map_err(|_| StoreError::Corrupt(format!("phase {phase:?}")))?,
        reconfirming: flag(5, "reconfirming")?,
        opened_at: time(required(int_at(row, 6)?, "opened_at")?)?,
        closed_at: int_at(row, 8)?.map(time).transpose()?,
        close_reason: match text_at(row, 10)? {
            Some(r) => Some(r.parse().map_err(|_| StoreError::Corrupt(format!("close reason {r:?}")))?),
            None => None,
        },
        assignee: text_at(row, 11)?,
        category: text_at(row, 12)?,
        category_collected: flag(13, "category_collected")?,
        question: text_at(row, 14)?,
        messages_in: required(int_at(row, 16)?, "messages_in")?,
        messages_out: required(int_at(row, 17)?, "messages_out")?,
        first_answer_at: int_at(row, 18)?.map(time).transpose()?,
        transferred: flag(21, "transferred")?,
        auto_answered: flag(22, "auto_answered")?,
        reconfirmed: flag(23, "reconfirmed")?,
        last_faq: text_at(row, 24)?,
        offered: {
            let offered = required(text_at(row, 25)?, "offered")?;
            serde_json::from_str(&offered).map_err(|e| StoreError::Corrupt(format!("offered {offered:?}: {e}")))?
        },
        last_query: text_at(row, 26)?,
        candidate: match (text_at(row, 27)?, text_at(row, 28)?, int_at(row, 29)?) {
            (Some(query), Some(reason), Some(at)) => Some(CandidateQuestion {
                query,
                reason: reason
                    .parse::<CandidateReason>()
                    .map_err(|_| StoreError::Corrupt(format!("candidate reason {reason:?}")))?,
                at: time(at)?,
            }),
            _ => None,
        },
        handed_over_at: int_at(row, 30)?.map(time).transpose()?,
        acknowledged_at: int_at(row, 31)?.map(time).transpose()?,
        first_human_reply_at: int_at(row, 32)?.map(time).transpose()?,
        missed_targets: {
            let missed = required(text_at(row, 33)?, "missed_targets")?;
            serde_json::from_str(&missed).map_err(|e| StoreError::Corrupt(format!("missed_targets {missed:?}: {e}")))?
        },
        targets_due: {
            let due = required(text_at(row, 35)?, "targets_due")?;
            serde_json::from_str(&due).map_err(|e| StoreError::Corrupt(format!("targets_due {due:?}: {e}")))?
        },
        handovers: {
            let to = required(text_at(row, 36)?, "handovers")?;
            serde_json::from_str(&to).map_err(|e| StoreError::Corrupt(format!("handovers {to:?}: {e}")))?
        },
    })
}

/// The session-list query with its parameters; fetches one row more than the limit to know
/// whether there is a next page.
pub fn list_sessions(query: &SessionQuery) -> Result<(String, Vec<Value>), StoreError> {
    let mut params = vec![Value::Text(Some(query.team.as_str().to_owned()))];
    let mut conditions = vec!["team = $1".to_owned()];
    let mut add = |params: &mut Vec<Value>, condition: &str, value: Value| {
        params.push(value);
        conditions.push(condition.replace('?', &format!("${}", params.len())));
    };
    if let Some(status) = query.status {
        add(&mut params, "status = ?", text(Some(status.as_str())));
    }
    if let Some(assignee) = &query.assignee {
        add(&mut params, "assignee = ?", text(Some(assignee)));
    }
    if let Some(category) = &query.category {
        add(&mut params, "category = ?", text(Some(category)));
    }
    if let Some(from) = query.opened_from {
        add(&mut params, "opened_at >= ?", Value::Int(Some(millis(from))));
    }
    if let Some(to) = query.opened_to {
        add(&mut params, "opened_at < ?", Value::Int(Some(millis(to))));
    }
    if let Some(words) = &query.text {
        let escaped = words.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        add(&mut params, "question_lower LIKE ? ESCAPE '\\'", Value::Text(Some(format!("%{escaped}%"))));
    }
    if let Some(breached) = query.breached {
        add(&mut params, "breached = ?", flag(breached));
    }
    if let Some(cursor) = &query.cursor {
        let (at, id) = parse_cursor(cursor)?;
        params.push(Value::Int(Some(at)));
        let a = params.len();
        params.push(Value::Text(Some(id.to_string())));
        let b = params.len();
        conditions.push(format!("(opened_at < ${a} OR (opened_at = ${a} AND session_id < ${b}))"));
    }
    params.push(Value::Int(Some(i64::from(query.limit) + 1)));
    let sql = format!(
        "SELECT {} FROM sb_sessions WHERE {} ORDER BY opened_at DESC, session_id DESC LIMIT ${}",
        COLUMNS.join(", "),
        conditions.join(" AND "),
        params.len()
    );
    Ok((sql, params))
}

/// A team's candidate questions, newest first: `$1` team, `$2`/`$3` from/to (epoch ms,
/// half-open), `$4` limit.
pub const SELECT_CANDIDATES: &str = "SELECT session_id, candidate_query, candidate_reason, candidate_at, category \
     FROM sb_sessions WHERE team = $1 AND candidate_at IS NOT NULL AND candidate_at >= $2 AND candidate_at < $3 \
     ORDER BY candidate_at DESC, session_id DESC LIMIT $4";

/// Reads a row selected by [`SELECT_CANDIDATES`].
pub fn candidate_from(row: &[Value]) -> Result<CandidateRecord, StoreError> {
    let id = required(text_at(row, 0)?, "session_id")?;
    let reason = required(text_at(row, 2)?, "candidate_reason")?;
    Ok(CandidateRecord {
        session_id: Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(format!("session id {id:?}: {e}")))?,
        query: required(text_at(row, 1)?, "candidate_query")?,
        reason: reason
            .parse::<CandidateReason>()
            .map_err(|_| StoreError::Corrupt(format!("candidate reason {reason:?}")))?,
        at: time(required(int_at(row, 3)?, "candidate_at")?)?,
        category: text_at(row, 4)?,
    })
}

/// Statistics queries over the rollup.
pub mod stats {
    /// (day, metric, n) of opened and closed sessions per day; `$1` team, `$2` first day,
    /// `$3` last day (inclusive).
    pub const PER_DAY: &str = "SELECT period, metric, CAST(SUM(n) AS BIGINT) FROM sb_rollup \
        WHERE team = $1 AND grain = 's' AND period >= $2 AND period <= $3 \
        GROUP BY period, metric ORDER BY period, metric";
    /// (metric, key, n) of every counter; `$1` team, `$2` grain, `$3` first and `$4` last
    /// period (inclusive).
    pub const TOTALS: &str = "SELECT metric, key, CAST(SUM(n) AS BIGINT) FROM sb_rollup \
        WHERE team = $1 AND grain = $2 AND period >= $3 AND period <= $4 GROUP BY metric, key";
}
