//! The weekly report the on-call team used to assemble by hand: a week's figures, the FAQ
//! candidates and every session, from the read models, as CSV (the session table) or as an
//! Excel workbook (one sheet per table).

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use switchboard_schemas::event::CloseReason;
use switchboard_schemas::oncall::TargetKind;
use switchboard_schemas::TeamId;
use switchboard_tabular::sheets::{self, Cell, Sheet};
use switchboard_tabular::TabularError;

use crate::candidates::{group_candidates, CandidateGroup, DEFAULT_SIMILARITY};
use crate::sessions::SessionRow;
use crate::store::{Count, Period, ReadStore, SessionQuery, Statistics, StoreError};

/// Sessions fetched per page while assembling a report.
const PAGE: u32 = 1_000;
/// Candidate questions considered per week.
const MAX_CANDIDATES: u32 = 10_000;
/// Candidate groups listed in a report.
const MAX_GROUPS: usize = 50;

/// Why a report could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The week is not an ISO week like `2026-W47`.
    #[error("{0:?} is not an ISO week; write it like 2026-W47")]
    BadWeek(String),
    /// The read models could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] TabularError),
}

/// An ISO week (Monday to Sunday, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Week {
    monday: NaiveDate,
}

impl Week {
    /// Parses `2026-W47` (also lower-case `w`).
    pub fn parse(text: &str) -> Result<Self, ReportError> {
        let bad = || ReportError::BadWeek(text.to_owned());
        let (year, week) = text.split_once(['W', 'w']).ok_or_else(bad)?;
        let year: i32 = year.trim_end_matches('-').parse().map_err(|_| bad())?;
        let week: u32 = week.parse().map_err(|_| bad())?;
        let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(bad)?;
        Ok(Self { monday })
    }

    /// The week holding `at`.
    pub fn containing(at: DateTime<Utc>) -> Self {
        let date = at.date_naive();
        let iso = date.iso_week();
        Self { monday: NaiveDate::from_isoywd_opt(iso.year(), iso.week(), Weekday::Mon).unwrap_or(date) }
    }

    /// The week before this one.
    pub fn previous(self) -> Self {
        Self { monday: self.monday - Duration::days(7) }
    }

    /// Monday 00:00 UTC to the next Monday 00:00 UTC.
    pub fn period(self) -> Period {
        let from = self.monday.and_hms_opt(0, 0, 0).map_or(DateTime::UNIX_EPOCH, |t| t.and_utc());
        Period { from, to: from + Duration::days(7) }
    }

    /// `2026-W47`.
    pub fn label(self) -> String {
        let iso = self.monday.iso_week();
        format!("{}-W{:02}", iso.year(), iso.week())
    }
}

/// A team's week, assembled from the read models.
#[derive(Debug, Clone)]
pub struct WeeklyReport {
    /// The team.
    pub team: TeamId,
    /// The week.
    pub week: Week,
    /// The week's statistics.
    pub statistics: Statistics,
    /// The response targets the team tracks: the report says how often each was met.
    pub tracked: Vec<TargetKind>,
    /// The week's FAQ candidates, biggest group first.
    pub candidates: Vec<CandidateGroup>,
    /// Every session opened in the week, oldest first.
    pub sessions: Vec<SessionRow>,
}

impl WeeklyReport {
    /// Reads a team's week from the store; `tracked` are the response targets it tracks.
    pub async fn assemble(
        store: &dyn ReadStore,
        team: &TeamId,
        week: Week,
        tracked: &[TargetKind],
    ) -> Result<Self, ReportError> {
        let period = week.period();
        let statistics = store.statistics(team, period).await?;
        let records = store.candidate_questions(team, period.from, period.to, MAX_CANDIDATES).await?;
        let mut candidates = group_candidates(&records, DEFAULT_SIMILARITY);
        candidates.truncate(MAX_GROUPS);
        let mut query = SessionQuery {
            opened_from: Some(period.from),
            opened_to: Some(period.to),
            ..SessionQuery::team(team.clone(), PAGE)
        };
        let mut sessions = Vec::new();
        loop {
            let page = store.sessions(&query).await?;
            sessions.extend(page.rows);
            match page.next {
                Some(next) => query.cursor = Some(next),
                None => break,
            }
        }
        sessions.reverse();
        Ok(Self { team: team.clone(), week, statistics, tracked: tracked.to_vec(), candidates, sessions })
    }

    /// The session table as CSV, UTF-8 with a byte-order mark so spreadsheet programs read
    /// Chinese text correctly.
    pub fn to_csv(&self) -> Result<Vec<u8>, ReportError> {
        Ok(sheets::write_csv(&self.sessions_sheet())?)
    }

    /// The whole report as an Excel workbook: Summary, Per day, Categories, On-call,
    /// Hand-overs, Top FAQs, FAQ candidates and Sessions.
    pub fn to_xlsx(&self) -> Result<Vec<u8>, ReportError> {
        Ok(sheets::write_xlsx(&self.sheets())?)
    }

    /// Every table of the report, in workbook order.
    fn sheets(&self) -> Vec<Sheet> {
        let s = &self.statistics;
        let mut summary_sheet = Sheet::new("Summary", &["Team", self.team.as_str()]);
        summary_sheet.rows.push(vec!["Week".into(), self.week.label().into()]);
        summary_sheet.rows.push(Vec::new());
        for (name, value) in summary(s) {
            summary_sheet.rows.push(vec![name.into(), value.map_or(Cell::Empty, Cell::Number)]);
        }
        for target in &self.tracked {
            let rate = s.handover.met_rate(*target);
            summary_sheet.rows.push(vec![met_heading(*target).into(), rate.map_or(Cell::Empty, Cell::Number)]);
        }
        summary_sheet.widths.push((0, 34.0));
        let mut per_day_sheet = Sheet::new("Per day", &["Day", "Opened", "Closed"]);
        for (day, opened, closed) in per_day(s) {
            per_day_sheet.rows.push(vec![day.into(), (opened as f64).into(), (closed as f64).into()]);
        }
        let mut tables = vec![summary_sheet, per_day_sheet];
        for (name, title, counts) in [
            ("Categories", "Category", &s.per_category),
            ("On-call", "Engineer", &s.per_assignee),
            ("Top FAQs", "FAQ", &s.top_faqs),
        ] {
            let mut sheet = Sheet::new(name, &[title, "Sessions"]);
            for count in counts {
                sheet.rows.push(vec![count.key.as_deref().unwrap_or("(none)").into(), (count.count as f64).into()]);
            }
            sheet.widths.push((0, 24.0));
            tables.push(sheet);
            if name == "On-call" {
                tables.push(self.handovers_sheet());
            }
        }
        let mut candidates =
            Sheet::new("FAQ candidates", &["Questions", "Wording", "Examples", "Why", "Category", "Last seen"]);
        for group in &self.candidates {
            let reasons: Vec<String> = group.reasons.iter().map(|(k, v)| format!("{} {v}", k.as_str())).collect();
            candidates.rows.push(vec![
                (group.count as f64).into(),
                group.representative.clone().into(),
                group.examples.join(" | ").into(),
                reasons.join(", ").into(),
                group.category.as_deref().unwrap_or("").into(),
                group.last_seen.to_rfc3339().into(),
            ]);
        }
        candidates.widths.extend([(1, 40.0), (2, 60.0)]);
        tables.push(candidates);
        tables.push(self.sessions_sheet());
        tables
    }

    /// Hand-overs per engineer, then per category: how many, how fast acknowledged and
    /// answered (p50/p90, seconds), the targets missed and how often each tracked one was met.
    fn handovers_sheet(&self) -> Sheet {
        let s = &self.statistics;
        let mut columns: Vec<String> = [
            "Engineer or category",
            "Per",
            "Handed over",
            "Acknowledge p50 (s)",
            "Acknowledge p90 (s)",
            "First reply p50 (s)",
            "First reply p90 (s)",
        ]
        .map(str::to_owned)
        .to_vec();
        columns.extend(TargetKind::ALL.iter().map(|t| format!("{} target missed", t.as_str())));
        columns.extend(self.tracked.iter().map(|t| met_heading(*t)));
        let headings: Vec<&str> = columns.iter().map(String::as_str).collect();
        let mut sheet = Sheet::new("Hand-overs", &headings);
        let number = |n: Option<f64>| n.map_or(Cell::Empty, Cell::Number);
        for (per, figures) in [("engineer", &s.handover_per_assignee), ("category", &s.handover_per_category)] {
            for h in figures {
                let mut row = vec![
                    h.key.as_deref().unwrap_or("(none)").into(),
                    per.into(),
                    (h.handed_over as f64).into(),
                    number(h.time_to_acknowledge.median_secs),
                    number(h.time_to_acknowledge.p90_secs),
                    number(h.time_to_first_reply.median_secs),
                    number(h.time_to_first_reply.p90_secs),
                ];
                for target in TargetKind::ALL {
                    let missed = h.missed.iter().find(|c| c.key.as_deref() == Some(target.as_str()));
                    row.push((missed.map_or(0, |c| c.count) as f64).into());
                }
                row.extend(self.tracked.iter().map(|t| number(h.met_rate(*t))));
                sheet.rows.push(row);
            }
        }
        sheet.widths.push((0, 24.0));
        sheet
    }

    /// The session table: text cells, numbers in the numeric columns.
    fn sessions_sheet(&self) -> Sheet {
        let mut sheet = Sheet::new("Sessions", &SESSION_COLUMNS);
        for session in &self.sessions {
            let cells = session_cells(session).into_iter().zip(SESSION_COLUMNS).map(|(cell, column)| {
                match cell.parse::<f64>() {
                    Ok(n) if NUMERIC_COLUMNS.contains(&column) => Cell::Number(n),
                    _ => Cell::Text(cell),
                }
            });
            sheet.rows.push(cells.collect());
        }
        sheet
    }
}

/// The summary lines: a name and a figure (none when there is nothing to measure).
fn summary(s: &Statistics) -> Vec<(&'static str, Option<f64>)> {
    vec![
        ("Sessions opened", Some(s.opened as f64)),
        ("Sessions closed", Some(s.closed as f64)),
        ("Resolved automatically", Some(s.resolved_automatically as f64)),
        ("Automatic resolution rate", Some(s.automatic_resolution_rate)),
        ("Transferred to a person", Some(s.transferred as f64)),
        ("Transfer rate", Some(s.transfer_rate)),
        ("Time to first answer, median (s)", s.time_to_first_answer.median_secs),
        ("Time to first answer, p90 (s)", s.time_to_first_answer.p90_secs),
        ("Time to resolution, median (s)", s.time_to_resolution.median_secs),
        ("Time to resolution, p90 (s)", s.time_to_resolution.p90_secs),
        ("Re-confirmations sent", Some(s.reconfirmed as f64)),
        ("Closed as stale", Some(s.auto_closed as f64)),
        ("Time to acknowledge, median (s)", s.handover.time_to_acknowledge.median_secs),
        ("Time to acknowledge, p90 (s)", s.handover.time_to_acknowledge.p90_secs),
        ("Time to first human reply, median (s)", s.handover.time_to_first_reply.median_secs),
        ("Time to first human reply, p90 (s)", s.handover.time_to_first_reply.p90_secs),
        ("Acknowledge target missed", Some(missed(s, TargetKind::Acknowledge))),
        ("First-reply target missed", Some(missed(s, TargetKind::FirstReply))),
        ("Resolution target missed", Some(missed(s, TargetKind::Resolution))),
    ]
}

/// The heading of a target's met share.
fn met_heading(target: TargetKind) -> String {
    format!("{} target met (share)", target.as_str())
}

/// Sessions that missed a target.
fn missed(s: &Statistics, target: TargetKind) -> f64 {
    s.handover.missed.iter().find(|c| c.key.as_deref() == Some(target.as_str())).map_or(0.0, |c| c.count as f64)
}

/// (day, opened, closed) for every day with either.
fn per_day(s: &Statistics) -> Vec<(String, u64, u64)> {
    let mut days: std::collections::BTreeMap<String, (u64, u64)> = std::collections::BTreeMap::new();
    let key = |c: &Count| c.key.clone().unwrap_or_default();
    for c in &s.opened_per_day {
        days.entry(key(c)).or_default().0 += c.count;
    }
    for c in &s.closed_per_day {
        days.entry(key(c)).or_default().1 += c.count;
    }
    days.into_iter().map(|(day, (opened, closed))| (day, opened, closed)).collect()
}

/// The session table's columns, in the CSV and on the Sessions sheet.
pub const SESSION_COLUMNS: [&str; 20] = [
    "session_id",
    "opened_at",
    "user",
    "status",
    "category",
    "assignee",
    "question",
    "first_answer_secs",
    "closed_at",
    "close_reason",
    "resolution_secs",
    "transferred",
    "answered_from_faq",
    "reconfirmed",
    "last_faq",
    "messages_in",
    "messages_out",
    "acknowledge_secs",
    "first_reply_secs",
    "missed_targets",
];

const NUMERIC_COLUMNS: [&str; 6] =
    ["first_answer_secs", "resolution_secs", "messages_in", "messages_out", "acknowledge_secs", "first_reply_secs"];

fn session_cells(row: &SessionRow) -> Vec<String> {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let opt = |v: Option<&str>| v.unwrap_or("").to_owned();
    vec![
        row.session_id.to_string(),
        row.opened_at.to_rfc3339(),
        row.user.clone(),
        row.status.as_str().to_owned(),
        opt(row.category.as_deref()),
        opt(row.assignee.as_deref()),
        opt(row.question.as_deref()),
        row.first_answer_at.map(|a| (a - row.opened_at).num_seconds().to_string()).unwrap_or_default(),
        row.closed_at.map(|c| c.to_rfc3339()).unwrap_or_default(),
        opt(row.close_reason.map(CloseReason::as_str)),
        row.closed_at.map(|c| (c - row.opened_at).num_seconds().to_string()).unwrap_or_default(),
        yes_no(row.transferred),
        yes_no(row.auto_answered),
        yes_no(row.reconfirmed),
        opt(row.last_faq.as_deref()),
        row.messages_in.to_string(),
        row.messages_out.to_string(),
        since_handover(row, row.acknowledged_at),
        since_handover(row, row.first_human_reply_at),
        row.missed_target_kinds().iter().map(|t| t.as_str()).collect::<Vec<_>>().join(" "),
    ]
}

/// Seconds from the first hand-over to `at`, or nothing.
fn since_handover(row: &SessionRow, at: Option<DateTime<Utc>>) -> String {
    match (row.handed_over_at, at) {
        (Some(from), Some(at)) => (at - from).num_seconds().max(0).to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn iso_weeks_parse_and_span_monday_to_monday() {
        let week = Week::parse("2026-W10").unwrap();
        assert_eq!(week.period().from.to_rfc3339(), "2026-03-02T00:00:00+00:00");
        assert_eq!(week.period().to.to_rfc3339(), "2026-03-09T00:00:00+00:00");
        assert_eq!(week.label(), "2026-W10");
        assert_eq!(Week::parse("2026w10").unwrap(), week);
        assert_eq!(Week::containing(week.period().from + Duration::hours(100)), week);
        assert_eq!(week.previous().label(), "2026-W09");
        assert_eq!(Week::parse("2020-W53").unwrap().label(), "2020-W53", "a 53-week year");
        for bad in ["2026-W54", "2025-W53", "2026-10", "W10", "2026-Wx", ""] {
            assert!(matches!(Week::parse(bad), Err(ReportError::BadWeek(_))), "{bad:?}");
        }
    }
}
