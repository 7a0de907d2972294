//! The read-model store port: rows and checkpoints written atomically in batches, and the
//! queries the console and reports need. Every backend passes the same contract suite
//! (`contract` feature); the projection code above it is the same for all.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use switchboard_schemas::event::SessionStatus;
use switchboard_schemas::oncall::TargetKind;
use switchboard_schemas::TeamId;
use uuid::Uuid;

use crate::candidates::CandidateRecord;
use crate::sessions::{RowChange, SessionRow};

/// Why a store operation failed; nothing was changed when a write fails.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refused the operation.
    #[error("read store backend error: {0}")]
    Backend(String),
    /// A stored value cannot be read back (written by a newer release, or edited by hand).
    #[error("read store holds an unreadable value: {0}")]
    Corrupt(String),
    /// The caller passed something the store cannot use (e.g. a malformed cursor).
    #[error("invalid query: {0}")]
    Invalid(String),
}

/// Filters and paging of the session list. The team is required: no query crosses teams.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionQuery {
    /// The team whose sessions are listed.
    pub team: TeamId,
    /// Only sessions in this status.
    pub status: Option<SessionStatus>,
    /// Only sessions assigned to this engineer.
    pub assignee: Option<String>,
    /// Only sessions of this category.
    pub category: Option<String>,
    /// Only sessions opened at or after this moment.
    pub opened_from: Option<DateTime<Utc>>,
    /// Only sessions opened before this moment.
    pub opened_to: Option<DateTime<Utc>>,
    /// Only sessions whose first question contains this text (case-insensitive).
    pub text: Option<String>,
    /// Only sessions that missed a response target (true) or none so far (false).
    pub breached: Option<bool>,
    /// At most this many rows per page.
    pub limit: u32,
    /// Where the previous page ended ([`SessionPage::next`]); none for the first page.
    pub cursor: Option<String>,
}

impl SessionQuery {
    /// The first page of a team's sessions, unfiltered.
    pub fn team(team: TeamId, limit: u32) -> Self {
        Self {
            team,
            status: None,
            assignee: None,
            category: None,
            opened_from: None,
            opened_to: None,
            text: None,
            breached: None,
            limit,
            cursor: None,
        }
    }
}

/// One page of the session list, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionPage {
    /// The rows.
    pub rows: Vec<SessionRow>,
    /// The cursor of the next page; none on the last page. Stable under inserts of newer
    /// sessions, since it names the last row's (opened_at, session_id).
    pub next: Option<String>,
}

/// Encodes the position after `row` in the newest-first order as an opaque cursor.
pub fn cursor_after(row: &SessionRow) -> String {
    format!("{}.{}", row.opened_at.timestamp_millis(), row.session_id)
}

/// Decodes a cursor made by [`cursor_after`].
pub fn parse_cursor(cursor: &str) -> Result<(i64, Uuid), StoreError> {
    let invalid = || StoreError::Invalid(format!("malformed cursor {cursor:?}"));
    let (millis, id) = cursor.split_once('.').ok_or_else(invalid)?;
    Ok((millis.parse().map_err(|_| invalid())?, id.parse().map_err(|_| invalid())?))
}

/// A period of a team's statistics. Statistics are kept per UTC day, so the period covers
/// whole days: from the day of `from` through the day of the last moment before `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Start (its whole day is included).
    pub from: DateTime<Utc>,
    /// Exclusive end (the day of the moment just before it is included whole).
    pub to: DateTime<Utc>,
}

/// A count per key (a day, an FAQ, a category, an engineer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// The key; `None` for "no category" / "nobody".
    pub key: Option<String>,
    /// How many.
    pub count: u64,
}

/// Median and 90th percentile (nearest rank) of a duration, in seconds: exact below 1,000
/// seconds, under 1% low above (durations are kept in three-significant-digit buckets).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// How many sessions the figures are over.
    pub samples: u64,
    /// The median; none without samples.
    pub median_secs: Option<f64>,
    /// The 90th percentile; none without samples.
    pub p90_secs: Option<f64>,
}

/// A team's statistics over a period. Opened-based figures count sessions opened in the
/// period; closed-based ones (closes, resolutions, auto-closes) count sessions closed in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statistics {
    /// Sessions opened in the period.
    pub opened: u64,
    /// Sessions closed in the period.
    pub closed: u64,
    /// Sessions opened per UTC day (`YYYY-MM-DD`), ascending.
    pub opened_per_day: Vec<Count>,
    /// Sessions closed per UTC day, ascending.
    pub closed_per_day: Vec<Count>,
    /// Closed as resolved without ever being transferred.
    pub resolved_automatically: u64,
    /// `resolved_automatically / closed` (0 without closes).
    pub automatic_resolution_rate: f64,
    /// Opened sessions that were transferred to a person.
    pub transferred: u64,
    /// `transferred / opened` (0 without sessions).
    pub transfer_rate: f64,
    /// From opening to the first answer, over opened sessions that got one.
    pub time_to_first_answer: Percentiles,
    /// From opening to the close, over closed sessions.
    pub time_to_resolution: Percentiles,
    /// The FAQs last answered in opened sessions, most frequent first (top 10).
    pub top_faqs: Vec<Count>,
    /// Opened sessions per category, most frequent first.
    pub per_category: Vec<Count>,
    /// Transferred opened sessions per assignee, most frequent first.
    pub per_assignee: Vec<Count>,
    /// Opened sessions asked "do you still need help?".
    pub reconfirmed: u64,
    /// Sessions closed as stale (no answer after the re-confirmation).
    pub auto_closed: u64,
    /// Hand-overs: how fast people acknowledged and replied, and the targets missed.
    pub handover: HandoverFigures,
    /// The same per engineer, most hand-overs first: a session counts for each person it
    /// was handed to, and each person's times run from when they were asked (handed it or
    /// notified by an escalation step) to their own answer while it was theirs.
    pub handover_per_assignee: Vec<HandoverFigures>,
    /// The same per category, most hand-overs first.
    pub handover_per_category: Vec<HandoverFigures>,
}

/// How hand-overs went, for the whole team or one engineer or category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandoverFigures {
    /// The engineer or category (none: nobody, no category, or the whole team).
    pub key: Option<String>,
    /// Opened sessions handed to a person.
    pub handed_over: u64,
    /// From the first hand-over to the first acknowledgment or reply (for an engineer: from
    /// when they were asked to their own).
    pub time_to_acknowledge: Percentiles,
    /// From the first hand-over to the first reply of a person (for an engineer: from when
    /// they were asked to their own).
    pub time_to_first_reply: Percentiles,
    /// Sessions that missed each response target, by target (`acknowledge`, `first_reply`,
    /// `resolution`).
    pub missed: Vec<Count>,
}

impl HandoverFigures {
    /// The share of hand-overs that did not miss `target` (targets still running count as
    /// met); none without hand-overs.
    pub fn met_rate(&self, target: TargetKind) -> Option<f64> {
        let missed = self.missed.iter().find(|c| c.key.as_deref() == Some(target.as_str())).map_or(0, |c| c.count);
        (self.handed_over > 0).then(|| self.handed_over.saturating_sub(missed) as f64 / self.handed_over as f64)
    }
}

/// A team as the team directory lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamRow {
    /// The team's id.
    pub team: String,
    /// Its display name.
    pub name: String,
    /// When it was onboarded.
    pub created_at: DateTime<Utc>,
    /// The template it was cloned from, if any.
    pub cloned_from: Option<String>,
}

/// What one projection batch writes: changed session rows and newly onboarded teams.
#[derive(Debug, Clone, Copy, Default)]
pub struct Batch<'a> {
    /// Session rows changed in the batch.
    pub sessions: &'a [RowChange],
    /// Teams onboarded in the batch.
    pub teams: &'a [TeamRow],
}

impl<'a> Batch<'a> {
    /// A batch of session rows only.
    pub fn sessions(sessions: &'a [RowChange]) -> Self {
        Self { sessions, teams: &[] }
    }
}

/// Where read models live. Implementations write a batch of rows and the projection's
/// checkpoint in one transaction, so a crash never leaves rows ahead of or behind the
/// checkpoint.
#[async_trait]
pub trait ReadStore: Send + Sync + 'static {
    /// The position up to which `projection` has been folded (0 when never run).
    async fn checkpoint(&self, projection: &str) -> Result<u64, StoreError>;

    /// A stored session row, for folding an event of a session not held in memory.
    async fn load_session(&self, session_id: Uuid) -> Result<Option<SessionRow>, StoreError>;

    /// Upserts the changed session rows and teams, moves the statistics rollup by the
    /// rows' difference ([`crate::sessions::rollup_delta`]) and sets the checkpoint,
    /// atomically: on error nothing is written. Each change's `before` must be the row as
    /// stored.
    async fn commit_batch(&self, projection: &str, batch: &Batch<'_>, checkpoint: u64) -> Result<(), StoreError>;

    /// Drops everything `projection` wrote and its checkpoint, so it rebuilds from 0.
    async fn reset(&self, projection: &str) -> Result<(), StoreError>;

    /// One page of a team's session list, newest first.
    async fn sessions(&self, query: &SessionQuery) -> Result<SessionPage, StoreError>;

    /// Every onboarded team, by id.
    async fn teams(&self) -> Result<Vec<TeamRow>, StoreError>;

    /// A team's statistics over a period.
    async fn statistics(&self, team: &TeamId, period: Period) -> Result<Statistics, StoreError>;

    /// A team's candidate questions that became candidates in `[from, to)` (exact moments,
    /// not whole days), newest first, at most `limit`; grouped by
    /// [`crate::candidates::group_candidates`].
    async fn candidate_questions(
        &self,
        team: &TeamId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CandidateRecord>, StoreError>;
}
