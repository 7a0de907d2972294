//! Read-model stores for `switchboard-projections`: embedded SQLite (the default, a file
//! beside the event log) and PostgreSQL (for several instances sharing read models).
//!
//! Both run the same SQL ([`sql`]); a backend only moves statements and plain values
//! ([`Backend`]), so the store logic ([`SqlStore`]) — batching, paging, statistics — exists
//! once.

use async_trait::async_trait;
use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};

use switchboard_projections::candidates::CandidateRecord;
use switchboard_projections::sessions::{metric, rollup_delta, SessionRow};
use switchboard_projections::store::{
    cursor_after, Batch, Count, HandoverFigures, Percentiles, Period, ReadStore, SessionPage, SessionQuery, Statistics,
    StoreError, TeamRow,
};
use switchboard_schemas::TeamId;
use uuid::Uuid;

pub mod outbox;
mod postgres;
pub mod sql;
mod sqlite;

pub use postgres::PostgresBackend;
use sql::{int_at, stats, text_at, Row, Value};
pub use sqlite::SqliteBackend;

/// The embedded store.
pub type SqliteReadStore = SqlStore<SqliteBackend>;
/// The PostgreSQL store.
pub type PostgresReadStore = SqlStore<PostgresBackend>;

/// What a database must do for [`SqlStore`]: run a query, and run statements in one
/// transaction. The dialect differences stay inside the implementations.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Runs a query and returns its rows as plain values.
    async fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;

    /// Runs the statements in one transaction: all or nothing.
    async fn transaction(&self, statements: &[(String, Vec<Value>)]) -> Result<(), StoreError>;
}

/// A read store over any [`Backend`].
pub struct SqlStore<B> {
    backend: B,
}

impl<B: Backend> SqlStore<B> {
    /// Wraps a backend, creating the tables, or dropping and recreating them when they have
    /// another layout (the projections then rebuild from the log, since the checkpoints go
    /// too).
    pub async fn prepare(backend: B) -> Result<Self, StoreError> {
        backend.transaction(&[(sql::LAYOUT_TABLE.to_owned(), vec![])]).await?;
        let found = backend.rows(sql::SELECT_LAYOUT, &[]).await?;
        let layout = found.first().map(|row| int_at(row, 0)).transpose()?.flatten();
        let mut statements: Vec<(String, Vec<Value>)> = Vec::new();
        if layout != Some(sql::LAYOUT) {
            statements.extend(sql::DROP_TABLES.iter().map(|s| ((*s).to_owned(), vec![])));
        }
        let tables = sql::TABLES.iter().chain(outbox::TABLES.iter());
        statements.extend(tables.map(|s| ((*s).to_owned(), vec![])));
        statements.push((sql::RECORD_LAYOUT.to_owned(), vec![Value::Int(Some(sql::LAYOUT))]));
        backend.transaction(&statements).await?;
        Ok(Self { backend })
    }

    /// The backend, for tests and benchmarks that need raw access.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    async fn one_int(&self, sql: &str, params: &[Value]) -> Result<Option<i64>, StoreError> {
        let rows = self.backend.rows(sql, params).await?;
        rows.first().map_or(Ok(None), |row| int_at(row, 0))
    }
}

fn day(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

fn next_month(date: NaiveDate) -> NaiveDate {
    first_of_month(date).checked_add_months(Months::new(1)).unwrap_or(NaiveDate::MAX)
}

/// Splits the days `first..=last` into rollup reads: whole months from the month grain,
/// the partial months at either end from the day grain. Returns (grain, first, last).
fn ranges(first: NaiveDate, last: NaiveDate) -> Vec<(&'static str, String, String)> {
    // The first month starting on or after `first`, and the end of the last month that
    // ends on or before `last`.
    let months_from = if first.day() == 1 { first } else { next_month(first) };
    let months_to = next_month(last).pred_opt().filter(|end| *end == last).map_or(first_of_month(last), next_month);
    let mut out = Vec::new();
    if months_from < months_to {
        if first < months_from {
            out.push((sql::grain::DAY, day(first), day(months_from.pred_opt().unwrap_or(first))));
        }
        let last_month = months_to.pred_opt().unwrap_or(months_to);
        out.push((sql::grain::MONTH, months_from.format("%Y-%m").to_string(), last_month.format("%Y-%m").to_string()));
        if months_to <= last {
            out.push((sql::grain::DAY, day(months_to), day(last)));
        }
    } else {
        out.push((sql::grain::DAY, day(first), day(last)));
    }
    out
}

/// Nearest-rank percentiles over a histogram of bucketed seconds.
fn percentiles(histogram: &BTreeMap<i64, u64>) -> Percentiles {
    let samples: u64 = histogram.values().sum();
    let at = |p: f64| {
        if samples == 0 {
            return None;
        }
        let rank = ((p * samples as f64).ceil() as u64).clamp(1, samples);
        let mut seen = 0;
        histogram.iter().find_map(|(secs, n)| {
            seen += n;
            (seen >= rank).then_some(*secs as f64)
        })
    };
    Percentiles { samples, median_secs: at(0.5), p90_secs: at(0.9) }
}

/// Hand-over histograms and counts being summed from the rollup.
#[derive(Default)]
struct Handovers {
    handed_over: u64,
    acknowledge: BTreeMap<i64, u64>,
    first_reply: BTreeMap<i64, u64>,
    missed: BTreeMap<String, u64>,
}

/// Splits a `"<bucket or target> <assignee or category>"` key.
fn keyed(key: &str) -> (&str, &str) {
    key.split_once(' ').unwrap_or((key, ""))
}

impl Handovers {
    /// Adds one per-assignee or per-category counter.
    fn add(&mut self, metric_name: &str, key: &str, n: u64) -> Result<(), StoreError> {
        let (head, _) = keyed(key);
        let bucket = || head.parse::<i64>().map_err(|_| StoreError::Corrupt(format!("duration bucket {head:?}")));
        match metric_name {
            metric::ACKNOWLEDGE_BY | metric::ACKNOWLEDGE_CATEGORY => {
                *self.acknowledge.entry(bucket()?).or_default() += n
            }
            metric::FIRST_REPLY_BY | metric::FIRST_REPLY_CATEGORY => {
                *self.first_reply.entry(bucket()?).or_default() += n
            }
            _ => *self.missed.entry(head.to_owned()).or_default() += n,
        }
        Ok(())
    }

    fn figures(&self, key: Option<String>) -> HandoverFigures {
        HandoverFigures {
            key,
            handed_over: self.handed_over,
            time_to_acknowledge: percentiles(&self.acknowledge),
            time_to_first_reply: percentiles(&self.first_reply),
            missed: ranked(self.missed.clone(), usize::MAX),
        }
    }
}

/// Per-engineer or per-category hand-over figures, most hand-overs first; "" reads as none.
fn ranked_handovers(groups: BTreeMap<String, Handovers>) -> Vec<HandoverFigures> {
    let mut figures: Vec<HandoverFigures> = groups
        .into_iter()
        // Someone notified by escalation but never handed a session has times, not hand-overs;
        // rollup rows taken back to zero stay, and count for nothing.
        .filter(|(_, h)| {
            let any = |counts: &BTreeMap<i64, u64>| counts.values().any(|n| *n > 0);
            h.handed_over > 0 || h.missed.values().any(|n| *n > 0) || any(&h.acknowledge) || any(&h.first_reply)
        })
        .map(|(key, h)| h.figures(Some(key).filter(|k| !k.is_empty())))
        .collect();
    figures.sort_by(|a, b| b.handed_over.cmp(&a.handed_over).then_with(|| a.key.cmp(&b.key)));
    figures
}

/// Counts most frequent first, then by key; "" keys read as `None`.
fn ranked(counts: BTreeMap<String, u64>, limit: usize) -> Vec<Count> {
    let mut out: Vec<Count> = counts
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(key, count)| Count { key: (!key.is_empty()).then_some(key), count })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    out.truncate(limit);
    out
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[async_trait]
impl<B: Backend> ReadStore for SqlStore<B> {
    async fn checkpoint(&self, projection: &str) -> Result<u64, StoreError> {
        let position = self.one_int(sql::SELECT_CHECKPOINT, &[Value::Text(Some(projection.to_owned()))]).await?;
        Ok(position.map_or(0, |p| u64::try_from(p).unwrap_or(0)))
    }

    async fn load_session(&self, session_id: Uuid) -> Result<Option<SessionRow>, StoreError> {
        let rows = self.backend.rows(&sql::select_session(), &[Value::Text(Some(session_id.to_string()))]).await?;
        rows.first().map(|row| sql::session_from(row)).transpose()
    }

    async fn commit_batch(&self, projection: &str, batch: &Batch<'_>, checkpoint: u64) -> Result<(), StoreError> {
        let upsert = sql::upsert_session();
        let position = i64::try_from(checkpoint).map_err(|_| StoreError::Invalid(format!("position {checkpoint}")))?;
        let mut statements: Vec<(String, Vec<Value>)> =
            batch.sessions.iter().map(|change| (upsert.clone(), sql::session_values(&change.after))).collect();
        statements.extend(sql::rollup_statements(rollup_delta(batch.sessions)));
        statements.extend(batch.teams.iter().map(|team| (sql::UPSERT_TEAM.to_owned(), sql::team_values(team))));
        statements.push((
            sql::UPSERT_CHECKPOINT.to_owned(),
            vec![Value::Text(Some(projection.to_owned())), Value::Int(Some(position))],
        ));
        self.backend.transaction(&statements).await
    }

    async fn reset(&self, projection: &str) -> Result<(), StoreError> {
        self.backend
            .transaction(&[
                (sql::DELETE_SESSIONS.to_owned(), vec![]),
                (sql::DELETE_ROLLUP.to_owned(), vec![]),
                (sql::DELETE_TEAMS.to_owned(), vec![]),
                (sql::DELETE_CHECKPOINT.to_owned(), vec![Value::Text(Some(projection.to_owned()))]),
            ])
            .await
    }

    async fn sessions(&self, query: &SessionQuery) -> Result<SessionPage, StoreError> {
        let (text, params) = sql::list_sessions(query)?;
        let found = self.backend.rows(&text, &params).await?;
        let mut rows = found.iter().map(|row| sql::session_from(row)).collect::<Result<Vec<_>, _>>()?;
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(cursor_after)
        } else {
            None
        };
        Ok(SessionPage { rows, next })
    }

    async fn teams(&self) -> Result<Vec<TeamRow>, StoreError> {
        let rows = self.backend.rows(sql::SELECT_TEAMS, &[]).await?;
        rows.iter().map(|row| sql::team_from(row)).collect()
    }

    async fn statistics(&self, team: &TeamId, period: Period) -> Result<Statistics, StoreError> {
        let first = period.from.date_naive();
        let last = (period.to - chrono::Duration::milliseconds(1)).date_naive();
        let team_name = Value::Text(Some(team.as_str().to_owned()));
        let params = [team_name.clone(), Value::Text(Some(day(first))), Value::Text(Some(day(last)))];
        let mut stats = Statistics {
            opened: 0,
            closed: 0,
            opened_per_day: Vec::new(),
            closed_per_day: Vec::new(),
            resolved_automatically: 0,
            automatic_resolution_rate: 0.0,
            transferred: 0,
            transfer_rate: 0.0,
            time_to_first_answer: percentiles(&BTreeMap::new()),
            time_to_resolution: percentiles(&BTreeMap::new()),
            top_faqs: Vec::new(),
            per_category: Vec::new(),
            per_assignee: Vec::new(),
            reconfirmed: 0,
            auto_closed: 0,
            handover: HandoverFigures {
                key: None,
                handed_over: 0,
                time_to_acknowledge: percentiles(&BTreeMap::new()),
                time_to_first_reply: percentiles(&BTreeMap::new()),
                missed: Vec::new(),
            },
            handover_per_assignee: Vec::new(),
            handover_per_category: Vec::new(),
        };
        if period.to <= period.from {
            return Ok(stats);
        }
        for row in self.backend.rows(stats::PER_DAY, &params).await? {
            let day = text_at(&row, 0)?;
            let metric = text_at(&row, 1)?.unwrap_or_default();
            let n = u64::try_from(int_at(&row, 2)?.unwrap_or(0)).unwrap_or(0);
            if n == 0 {
                continue;
            }
            let count = Count { key: day, count: n };
            match metric.as_str() {
                metric::OPENED => stats.opened_per_day.push(count),
                metric::CLOSED => stats.closed_per_day.push(count),
                _ => {}
            }
        }
        let (mut faqs, mut categories, mut assignees) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        let (mut first_answer, mut resolution) = (BTreeMap::new(), BTreeMap::new());
        let (mut team_handover, mut by_assignee, mut by_category) =
            (Handovers::default(), BTreeMap::<String, Handovers>::new(), BTreeMap::<String, Handovers>::new());
        let mut totals = Vec::new();
        for (grain, from, to) in ranges(first, last) {
            let params = [
                team_name.clone(),
                Value::Text(Some(grain.to_owned())),
                Value::Text(Some(from)),
                Value::Text(Some(to)),
            ];
            totals.extend(self.backend.rows(stats::TOTALS, &params).await?);
        }
        for row in totals {
            let metric = text_at(&row, 0)?.unwrap_or_default();
            let key = text_at(&row, 1)?.unwrap_or_default();
            let n = u64::try_from(int_at(&row, 2)?.unwrap_or(0)).unwrap_or(0);
            let bucket = || key.parse::<i64>().map_err(|_| StoreError::Corrupt(format!("duration bucket {key:?}")));
            match metric.as_str() {
                metric::OPENED => stats.opened += n,
                metric::CLOSED => stats.closed += n,
                metric::TRANSFERRED => stats.transferred += n,
                metric::RECONFIRMED => stats.reconfirmed += n,
                metric::RESOLVED_AUTOMATICALLY => stats.resolved_automatically += n,
                metric::STALE => stats.auto_closed += n,
                metric::FAQ => *faqs.entry(key.clone()).or_default() += n,
                metric::CATEGORY => *categories.entry(key.clone()).or_default() += n,
                metric::ASSIGNEE => *assignees.entry(key.clone()).or_default() += n,
                metric::FIRST_ANSWER => *first_answer.entry(bucket()?).or_default() += n,
                metric::RESOLUTION => *resolution.entry(bucket()?).or_default() += n,
                metric::HANDED_OVER_CATEGORY => by_category.entry(key.clone()).or_default().handed_over += n,
                metric::ACKNOWLEDGE => *team_handover.acknowledge.entry(bucket()?).or_default() += n,
                metric::FIRST_REPLY => *team_handover.first_reply.entry(bucket()?).or_default() += n,
                metric::MISSED => *team_handover.missed.entry(key.clone()).or_default() += n,
                metric::ACKNOWLEDGE_BY | metric::FIRST_REPLY_BY | metric::MISSED_BY => {
                    by_assignee.entry(keyed(&key).1.to_owned()).or_default().add(&metric, &key, n)?
                }
                metric::ACKNOWLEDGE_CATEGORY | metric::FIRST_REPLY_CATEGORY | metric::MISSED_CATEGORY => {
                    by_category.entry(keyed(&key).1.to_owned()).or_default().add(&metric, &key, n)?
                }
                _ => {}
            }
        }
        for (assignee, n) in &assignees {
            by_assignee.entry(assignee.clone()).or_default().handed_over += n;
        }
        team_handover.handed_over = stats.transferred;
        stats.handover = team_handover.figures(None);
        stats.handover_per_assignee = ranked_handovers(by_assignee);
        stats.handover_per_category = ranked_handovers(by_category);
        stats.automatic_resolution_rate = ratio(stats.resolved_automatically, stats.closed);
        stats.transfer_rate = ratio(stats.transferred, stats.opened);
        stats.time_to_first_answer = percentiles(&first_answer);
        stats.time_to_resolution = percentiles(&resolution);
        stats.top_faqs = ranked(faqs, 10);
        stats.per_category = ranked(categories, usize::MAX);
        stats.per_assignee = ranked(assignees, usize::MAX);
        Ok(stats)
    }

    async fn candidate_questions(
        &self,
        team: &TeamId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CandidateRecord>, StoreError> {
        let params = [
            Value::Text(Some(team.as_str().to_owned())),
            Value::Int(Some(from.timestamp_millis())),
            Value::Int(Some(to.timestamp_millis())),
            Value::Int(Some(i64::from(limit))),
        ];
        let rows = self.backend.rows(sql::SELECT_CANDIDATES, &params).await?;
        rows.iter().map(|row| sql::candidate_from(row)).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn r(g: &'static str, a: &str, b: &str) -> (&'static str, String, String) {
        (g, a.to_owned(), b.to_owned())
    }

    #[test]
    fn periods_split_into_whole_months_and_edge_days() {
        assert_eq!(ranges(d("2026-03-02"), d("2026-03-03")), vec![r("d", "2026-03-02", "2026-03-03")]);
        assert_eq!(ranges(d("2026-03-01"), d("2026-03-31")), vec![r("m", "2026-03", "2026-03")]);
        assert_eq!(
            ranges(d("2026-02-15"), d("2026-04-10")),
            vec![r("d", "2026-02-15", "2026-02-28"), r("m", "2026-03", "2026-03"), r("d", "2026-04-01", "2026-04-10")]
        );
        assert_eq!(ranges(d("2026-01-01"), d("2026-12-31")), vec![r("m", "2026-01", "2026-12")]);
        assert_eq!(ranges(d("2026-03-05"), d("2026-04-02")), vec![r("d", "2026-03-05", "2026-04-02")]);
        assert_eq!(
            ranges(d("2026-01-01"), d("2026-03-02")),
            vec![r("m", "2026-01", "2026-02"), r("d", "2026-03-01", "2026-03-02")]
        );
    }
}
