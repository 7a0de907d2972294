//! The read-model endpoints under `/api/v1`: session list, statistics, FAQ candidates and
//! the weekly report. Every query names its team; nothing crosses teams.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use switchboard_projections::candidates::{group_candidates, DEFAULT_SIMILARITY};
use switchboard_projections::report::{ReportError, Week, WeeklyReport};
use switchboard_projections::store::{Period, SessionQuery, StoreError};
use switchboard_schemas::event::AccessRole;
use switchboard_schemas::TeamId;

use crate::api::team_id;
use crate::auth::AccessKey;
use crate::download::{self, Download, DownloadKinds};
use crate::dto::{FaqCandidateGroup, ReportFormat, SessionList, SessionSummary, Status, TeamStatistics};
use crate::error::ApiError;
use crate::params::{Count, IsoWeek, SessionCursor, TeamParam, Text};
use crate::{ApiTags, AppState};

/// Most sessions per page.
const MAX_PAGE: u32 = 500;
/// Candidate questions read to build the groups.
const MAX_CANDIDATE_QUESTIONS: u32 = 10_000;
/// Days covered when a period is not given.
const DEFAULT_DAYS: i64 = 30;

/// The read-model endpoints.
pub struct ReadModelsApi {
    pub(crate) state: Arc<AppState>,
}

/// A report file.
pub struct ReportFileKinds;

impl DownloadKinds for ReportFileKinds {
    const DESCRIPTION: &'static str = "The report as an Excel workbook, or its session table as CSV, as `format` asks.";
    const CONTENT_TYPES: &'static [&'static str] = &[download::XLSX, download::CSV];
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(reason) => ApiError::bad_request("invalid_query", reason),
            StoreError::Backend(_) => {
                tracing::warn!(error = %e, "read-model store unavailable");
                ApiError::unavailable("read_models_unavailable", "the read models cannot be reached; retry shortly")
            }
            StoreError::Corrupt(_) => {
                tracing::error!(error = %e, "read-model store holds unreadable data");
                ApiError::internal("the read models hold unreadable data; rebuild them with `switchboard replay`")
            }
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::BadWeek(_) => ApiError::bad_request("bad_week", e),
            ReportError::Store(e) => e.into(),
            ReportError::Write(_) => {
                tracing::error!(error = %e, "report could not be written");
                ApiError::internal("the report could not be written; see the server log")
            }
        }
    }
}

/// `[from, to)` from optional bounds: `to` defaults to the end of today (UTC), `from` to
/// [`DEFAULT_DAYS`] before `to`.
fn period(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Period, ApiError> {
    let end_of_today = (Utc::now().date_naive() + Duration::days(1)).and_time(NaiveTime::MIN).and_utc();
    let to = to.unwrap_or(end_of_today);
    let from = from.unwrap_or(to - Duration::days(DEFAULT_DAYS));
    if from >= to {
        return Err(ApiError::bad_request("bad_period", "`from` must be before `to`"));
    }
    Ok(Period { from, to })
}

/// The response targets a team tracks, for any category.
pub(crate) fn tracked_targets(team: &switchboard_engine::team::Team) -> Vec<switchboard_schemas::oncall::TargetKind> {
    let on_call = team.on_call_settings();
    switchboard_schemas::oncall::TargetKind::ALL
        .iter()
        .copied()
        .filter(|kind| {
            std::iter::once(&on_call.targets)
                .chain(on_call.category_targets.values())
                .any(|t| t.minutes(*kind).is_some())
        })
        .collect()
}

impl ReadModelsApi {
    /// The team, once the key may read it and it exists (an unknown team is a 404, not an
    /// empty answer).
    async fn team(&self, key: &AccessKey, raw: &str) -> Result<TeamId, ApiError> {
        let team = team_id(raw)?;
        self.state.authorize(key, &team, AccessRole::Viewer).await?;
        self.state.runtime.policy(&team).await?;
        Ok(team)
    }
}

#[OpenApi(tag = "ApiTags::Sessions")]
impl ReadModelsApi {
    /// The team's sessions, newest first, filtered and paged.
    ///
    /// `text` matches the operator's first message (case-insensitive); `from`/`to` bound
    /// the opening time (RFC 3339, `to` exclusive). Pass `next` back as `cursor` for the
    /// following page. The list follows the event log within moments.
    #[oai(path = "/teams/:team/sessions", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn sessions(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        status: Query<Option<Status>>,
        assignee: Query<Option<String>>,
        category: Query<Option<String>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        text: Query<Option<String>>,
        /// Only sessions that missed a response target (true) or none (false).
        breached: Query<Option<bool>>,
        /// Rows per page (1 to 500, default 50).
        limit: Query<Option<Count<1, { MAX_PAGE as u64 }>>>,
        cursor: Query<Option<Text<SessionCursor>>>,
    ) -> Result<Json<SessionList>, ApiError> {
        let team = self.team(&key, &team).await?;
        let limit = limit.0.map_or(50, |n| u32::try_from(n.get()).unwrap_or(u32::MAX));
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::bad_request("bad_limit", format!("limit must be between 1 and {MAX_PAGE}")));
        }
        let query = SessionQuery {
            team,
            status: status.0.map(Into::into),
            assignee: assignee.0,
            category: category.0,
            opened_from: from.0,
            opened_to: to.0,
            text: text.0.filter(|t| !t.trim().is_empty()),
            breached: breached.0,
            limit,
            cursor: cursor.0.map(|c| c.to_string()),
        };
        let page = self.state.read_models.sessions(&query).await?;
        Ok(Json(SessionList { sessions: page.rows.iter().map(SessionSummary::from).collect(), next: page.next }))
    }

    /// The team's statistics over whole UTC days (default: the last 30 days).
    #[oai(path = "/teams/:team/statistics", method = "get")]
    async fn statistics(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
    ) -> Result<Json<TeamStatistics>, ApiError> {
        let team = self.team(&key, &team).await?;
        let period = period(from.0, to.0)?;
        let statistics = self.state.read_models.statistics(&team, period).await?;
        let tracked = tracked_targets(&self.state.runtime.load_team(&team).await?);
        Ok(Json(TeamStatistics::new(&statistics, period, &tracked)))
    }

    /// Questions Switchboard could not answer well (unanswered, transferred, marked "not
    /// resolved", reopened), grouped by similar wording, biggest group first (default: the
    /// last 30 days).
    #[oai(path = "/teams/:team/faq-candidates", method = "get")]
    async fn faq_candidates(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        /// Groups returned (1 to 500, default 50).
        limit: Query<Option<Count<1, { MAX_PAGE as u64 }>>>,
    ) -> Result<Json<Vec<FaqCandidateGroup>>, ApiError> {
        let team = self.team(&key, &team).await?;
        let period = period(from.0, to.0)?;
        let limit = limit.0.map_or(50, |n| u32::try_from(n.get()).unwrap_or(u32::MAX));
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::bad_request("bad_limit", format!("limit must be between 1 and {MAX_PAGE}")));
        }
        let records =
            self.state.read_models.candidate_questions(&team, period.from, period.to, MAX_CANDIDATE_QUESTIONS).await?;
        let groups = group_candidates(&records, DEFAULT_SIMILARITY);
        Ok(Json(groups.iter().take(limit as usize).map(FaqCandidateGroup::from).collect()))
    }

    /// The weekly report: an Excel workbook (default) or the session table as CSV, for an
    /// ISO week such as `2026-W47` (default: last week).
    #[oai(path = "/teams/:team/reports/weekly", method = "get")]
    async fn weekly_report(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        week: Query<Option<Text<IsoWeek>>>,
        format: Query<Option<ReportFormat>>,
    ) -> Result<Download<ReportFileKinds>, ApiError> {
        let team = self.team(&key, &team).await?;
        let week = match week.0.as_deref() {
            Some(text) => Week::parse(text)?,
            None => Week::containing(Utc::now()).previous(),
        };
        let tracked = tracked_targets(&self.state.runtime.load_team(&team).await?);
        let report = WeeklyReport::assemble(self.state.read_models.as_ref(), &team, week, &tracked).await?;
        let name = format!("switchboard-{team}-{}", week.label());
        Ok(match format.0.unwrap_or_default() {
            ReportFormat::Xlsx => Download::new(download::XLSX, report.to_xlsx()?, &format!("{name}.xlsx")),
            ReportFormat::Csv => Download::new(download::CSV, report.to_csv()?, &format!("{name}.csv")),
        })
    }
}
