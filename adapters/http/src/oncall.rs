//! The on-call endpoints under `/api/v1/teams/:team/on-call`: the set-up (schedules,
//! calendar, escalation, targets), who is on call now and next, the coming shifts,
//! overrides, time off, availability, holidays imported from an `.ics` file, and a
//! subscribable iCalendar feed of the shifts.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi};
use switchboard_engine::team::{Team, TeamCommand};
use switchboard_oncall::ics::{feed, import_days};
use switchboard_oncall::{Schedule, Shift};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::AccessRole;
use switchboard_schemas::oncall::{OnCallOverride, OnCallSettings, TimeOff};
use switchboard_schemas::{StaffId, TeamId};
use uuid::Uuid;

use crate::api::staff_id;
use crate::auth::{AccessKey, Principal};
use crate::described::Described;
use crate::dto::CommandResult;
use crate::error::ApiError;
use crate::params::{CategoryName, Count, StaffParam, TeamParam, Text, UserParam, Version};
use crate::{ApiTags, AppState};

/// The longest span of shifts one request lists, in days.
const MAX_LISTED_DAYS: u64 = 92;

/// Most shifts one request lists per layer.
const MAX_SHIFTS: usize = 2_000;

/// The on-call endpoints.
pub struct OnCallApi {
    pub(crate) state: Arc<AppState>,
}

/// A team's on-call set-up with the overrides, time off and availability in force.
#[derive(Debug, Object)]
pub struct OnCallDocument {
    /// The team stream's version (send it back to save, so a change made meanwhile is
    /// not overwritten).
    pub version: u64,
    /// Whether a set-up was saved; until then it is the roster's weekly rotation.
    pub configured: bool,
    /// The set-up (see docs/on-call.md).
    pub on_call: Described<OnCallSettings>,
    /// The overrides.
    pub overrides: Vec<OverrideBody>,
    /// The time off.
    pub time_off: Vec<TimeOffBody>,
    /// Who marked themselves away.
    pub away: Vec<String>,
}

/// A change of the set-up.
#[derive(Debug, Object)]
pub struct OnCallUpdate {
    /// The whole new set-up, as `GET` shows it.
    pub on_call: Described<OnCallSettings>,
    /// The version it was read at; refused (409) if the team changed since.
    pub expected_version: Option<Version>,
}

/// Someone covering a layer for a span of time.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OverrideBody {
    /// Its id (made by the server when adding).
    #[oai(read_only)]
    pub override_id: Option<Uuid>,
    /// The category whose schedule it changes; none: the default schedule.
    pub category: Option<Text<CategoryName>>,
    /// The layer (`primary`, `secondary`).
    #[oai(validator(min_length = 1, max_length = 32))]
    pub layer: String,
    /// Who covers.
    pub staff: StaffParam,
    /// From (inclusive).
    pub from: DateTime<Utc>,
    /// Until (exclusive), after `from`, at most 366 days later.
    pub until: DateTime<Utc>,
    /// Why (a swap, a sick day).
    #[oai(validator(max_length = 200))]
    pub note: Option<String>,
}

impl From<&OnCallOverride> for OverrideBody {
    fn from(o: &OnCallOverride) -> Self {
        Self {
            override_id: Some(o.override_id),
            category: o.category.clone().map(Text::from),
            layer: o.layer.clone(),
            staff: o.staff.to_string().into(),
            from: o.from,
            until: o.until,
            note: Some(o.note.clone()).filter(|n| !n.is_empty()),
        }
    }
}

/// Someone off for a span of time.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TimeOffBody {
    /// Its id (made by the server when adding).
    #[oai(read_only)]
    pub time_off_id: Option<Uuid>,
    /// Who is off.
    pub staff: StaffParam,
    /// From (inclusive).
    pub from: DateTime<Utc>,
    /// Until (exclusive), after `from`, at most 366 days later.
    pub until: DateTime<Utc>,
    /// Why.
    #[oai(validator(max_length = 200))]
    pub note: Option<String>,
}

impl From<&TimeOff> for TimeOffBody {
    fn from(t: &TimeOff) -> Self {
        Self {
            time_off_id: Some(t.time_off_id),
            staff: t.staff.to_string().into(),
            from: t.from,
            until: t.until,
            note: Some(t.note.clone()).filter(|n| !n.is_empty()),
        }
    }
}

/// What was added.
#[derive(Debug, Object)]
pub struct Added {
    /// The new override's or time off's id.
    pub id: Uuid,
    /// The team stream's version after it.
    pub version: u64,
}

/// Away or back.
#[derive(Debug, Object)]
pub struct AvailabilityBody {
    /// True: away (routing passes over them); false: back.
    pub away: bool,
}

/// Who is on call in one layer.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LayerNowBody {
    /// The layer.
    pub layer: String,
    /// Whose turn it is by the rotation.
    pub scheduled: Option<String>,
    /// Who is on call (the scheduled person or whoever covers).
    pub on_call: Option<String>,
    /// The override in force.
    pub override_id: Option<Uuid>,
    /// When the layer next changes hands.
    pub until: Option<DateTime<Utc>>,
    /// Who is on call from then.
    pub next: Option<String>,
}

/// Who is on call for a category at an instant.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OnCallNowBody {
    /// The instant.
    pub at: DateTime<Utc>,
    /// The schedule used: the category's own; absent: the default schedule.
    pub schedule: Option<String>,
    /// Whether it is working time.
    pub working: bool,
    /// When working time starts again (absent during working time, or when no working
    /// time lies within 400 days).
    pub back_at: Option<DateTime<Utc>>,
    /// Whom a hand-over would go to now (people away or off passed over).
    pub routed_to: Option<String>,
    /// The layers, primary first.
    pub layers: Vec<LayerNowBody>,
}

/// One span of one person on call.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ShiftBody {
    /// The schedule: a category, or absent for the default one.
    pub schedule: Option<String>,
    /// The layer.
    pub layer: String,
    /// Who.
    pub staff: String,
    /// From.
    pub from: DateTime<Utc>,
    /// Until (exclusive).
    pub until: DateTime<Utc>,
    /// The override that made it.
    pub override_id: Option<Uuid>,
}

/// What an `.ics` import added.
#[derive(Debug, Object)]
pub struct ImportedCalendar {
    /// Holidays added (days already listed are kept once).
    pub holidays: u32,
    /// Make-up workdays added.
    pub workdays: u32,
    /// The team stream's version after it.
    pub version: u64,
}

/// An iCalendar feed.
#[derive(ApiResponse)]
pub enum FeedResponse {
    /// The shifts of the coming weeks as RFC 5545 text.
    #[oai(status = 200, content_type = "text/calendar; charset=utf-8")]
    Ok(PlainText<String>),
}

fn shift_body(schedule: Option<&str>, shift: Shift) -> ShiftBody {
    ShiftBody {
        schedule: schedule.map(str::to_owned),
        layer: shift.layer,
        staff: shift.staff.to_string(),
        from: shift.from,
        until: shift.until,
        override_id: shift.override_id,
    }
}

fn schedule_of(team: &Team) -> Result<Schedule, ApiError> {
    team.schedule().map_err(|e| ApiError::internal(format!("the stored on-call set-up cannot be used: {e}")))
}

/// A category named in a query (1 to 64 characters).
fn category(raw: Option<String>) -> Result<Option<String>, ApiError> {
    match raw {
        Some(c) if c.is_empty() || c.chars().count() > switchboard_oncall::bounds::MAX_CATEGORY_CHARS => {
            Err(ApiError::bad_request("bad_category", "a category has 1 to 64 characters"))
        }
        other => Ok(other),
    }
}

impl OnCallApi {
    async fn team(&self, key: &AccessKey, raw: &str, role: AccessRole) -> Result<(TeamId, Principal, Team), ApiError> {
        self.state.existing_team(key, raw, role).await
    }

    async fn run(&self, team: &TeamId, command: TeamCommand, expected: Option<u64>) -> Result<u64, ApiError> {
        let cause = Causation::root(Uuid::now_v7());
        Ok(self.state.runtime.team_expecting(team, command, cause, expected).await?.version)
    }

    /// Every shift of every schedule in a span.
    fn all_shifts(team: &Team, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<ShiftBody>, ApiError> {
        let schedule = schedule_of(team)?;
        let mut shifts = Vec::new();
        for name in schedule.schedules() {
            let left = MAX_SHIFTS.saturating_sub(shifts.len());
            let of_schedule = schedule.shifts(&team.staffing, name, from, until, left);
            shifts.extend(of_schedule.into_iter().map(|s| shift_body(name, s)));
        }
        shifts.sort_by_key(|s| s.from);
        Ok(shifts)
    }
}

#[OpenApi(tag = "ApiTags::OnCall")]
impl OnCallApi {
    /// The team's on-call set-up, overrides, time off and who is away.
    #[oai(path = "/teams/:team/on-call", method = "get")]
    async fn get(&self, key: AccessKey, team: Path<TeamParam>) -> Result<Json<OnCallDocument>, ApiError> {
        let (_, _, team) = self.team(&key, &team, AccessRole::Viewer).await?;
        let on_call = serde_json::to_value(team.on_call_settings())
            .map_err(|e| ApiError::internal(format!("the on-call set-up cannot be shown: {e}")))?;
        Ok(Json(OnCallDocument {
            version: team.version,
            configured: team.on_call.is_some(),
            on_call: Described::new(on_call),
            overrides: team.staffing.overrides.values().map(OverrideBody::from).collect(),
            time_off: team.staffing.time_off.values().map(TimeOffBody::from).collect(),
            away: team.staffing.away.iter().map(ToString::to_string).collect(),
        }))
    }

    /// Replace the on-call set-up (team admins); checked whole before anything is written.
    #[oai(path = "/teams/:team/on-call", method = "put")]
    async fn put(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<OnCallUpdate>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let (id, _, _) = self.team(&key, &team, AccessRole::Admin).await?;
        let on_call: OnCallSettings = serde_json::from_value(body.on_call.value().clone())
            .map_err(|e| ApiError::bad_request("invalid_on_call", format!("the on-call set-up cannot be read: {e}")))?;
        let cause = Causation::root(Uuid::now_v7());
        let command = TeamCommand::ConfigureOnCall { on_call: Box::new(on_call) };
        let committed =
            self.state.runtime.team_expecting(&id, command, cause, body.expected_version.map(Version::get)).await?;
        Ok(Json(committed.into()))
    }

    /// Who is on call for a category (or the default schedule) now or at `at`, layer by
    /// layer, who is next, and whom a hand-over would go to.
    #[oai(path = "/teams/:team/on-call/now", method = "get")]
    async fn now(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        /// The category (1 to 64 characters); absent: the default schedule.
        category: Query<Option<Text<CategoryName>>>,
        /// The instant; absent: now.
        at: Query<Option<DateTime<Utc>>>,
    ) -> Result<Json<OnCallNowBody>, ApiError> {
        let (_, _, team) = self.team(&key, &team, AccessRole::Viewer).await?;
        let category = self::category(category.0.map(|c| c.to_string()))?;
        let schedule = schedule_of(&team)?;
        let at = at.0.unwrap_or_else(|| self.state.runtime.now());
        let now = schedule.on_call(&team.staffing, category.as_deref(), at);
        let back = schedule.calendar().next_working(at);
        Ok(Json(OnCallNowBody {
            at,
            schedule: now.schedule,
            working: back == Some(at),
            back_at: back.filter(|b| *b != at),
            routed_to: schedule.route(&team.staffing, category.as_deref(), at).map(|s| s.to_string()),
            layers: now
                .layers
                .into_iter()
                .map(|l| LayerNowBody {
                    layer: l.layer,
                    scheduled: l.scheduled.map(|s| s.to_string()),
                    on_call: l.on_call.map(|s| s.to_string()),
                    override_id: l.override_id,
                    until: l.until,
                    next: l.next.map(|s| s.to_string()),
                })
                .collect(),
        }))
    }

    /// The shifts of every schedule from `from` (default now) for `days` days (default 28),
    /// overrides cut in: the on-call calendar.
    #[oai(path = "/teams/:team/on-call/shifts", method = "get")]
    async fn shifts(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        /// The start; absent: now.
        from: Query<Option<DateTime<Utc>>>,
        /// How many days (1 to 92).
        days: Query<Option<Count<1, MAX_LISTED_DAYS>>>,
    ) -> Result<Json<Vec<ShiftBody>>, ApiError> {
        let (_, _, team) = self.team(&key, &team, AccessRole::Viewer).await?;
        let from = from.0.unwrap_or_else(|| self.state.runtime.now());
        let days = days.0.map_or(28, |d| d.get());
        if !(1..=MAX_LISTED_DAYS).contains(&days) {
            return Err(ApiError::bad_request("bad_days", format!("days must be between 1 and {MAX_LISTED_DAYS}")));
        }
        let until = from
            .checked_add_signed(Duration::days(i64::try_from(days).unwrap_or(28)))
            .ok_or_else(|| ApiError::bad_request("bad_from", "`from` is too far in the future"))?;
        Ok(Json(Self::all_shifts(&team, from, until)?))
    }

    /// Add an override: someone covers a layer for a span of time (team admins).
    #[oai(path = "/teams/:team/on-call/overrides", method = "post")]
    async fn add_override(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<OverrideBody>,
    ) -> Result<Json<Added>, ApiError> {
        let (id, _, _) = self.team(&key, &team, AccessRole::Admin).await?;
        let cover = OnCallOverride {
            override_id: Uuid::now_v7(),
            category: self::category(body.category.as_deref().map(str::to_owned))?,
            layer: body.layer.clone(),
            staff: staff_id(body.staff.trim())?,
            from: body.from,
            until: body.until,
            note: body.note.clone().unwrap_or_default(),
        };
        let override_id = cover.override_id;
        let now = self.state.runtime.now();
        let version = self.run(&id, TeamCommand::AddOverride { cover, now }, None).await?;
        Ok(Json(Added { id: override_id, version }))
    }

    /// Take an override back (team admins).
    #[oai(path = "/teams/:team/on-call/overrides/:override_id", method = "delete")]
    async fn remove_override(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        override_id: Path<Uuid>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let (id, _, _) = self.team(&key, &team, AccessRole::Admin).await?;
        let cause = Causation::root(Uuid::now_v7());
        let command = TeamCommand::RemoveOverride { override_id: override_id.0 };
        Ok(Json(self.state.runtime.team(&id, command, cause).await?.into()))
    }

    /// Add a time off (team admins, or an engineer for themselves).
    #[oai(path = "/teams/:team/on-call/time-off", method = "post")]
    async fn add_time_off(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<TimeOffBody>,
    ) -> Result<Json<Added>, ApiError> {
        let (id, principal, _) = self.team(&key, &team, AccessRole::Agent).await?;
        let staff = staff_id(body.staff.trim())?;
        self.for_self_or_admin(&id, &principal, &staff)?;
        let time_off = TimeOff {
            time_off_id: Uuid::now_v7(),
            staff,
            from: body.from,
            until: body.until,
            note: body.note.clone().unwrap_or_default(),
        };
        let time_off_id = time_off.time_off_id;
        let now = self.state.runtime.now();
        let version = self.run(&id, TeamCommand::AddTimeOff { time_off, now }, None).await?;
        Ok(Json(Added { id: time_off_id, version }))
    }

    /// Take a time off back (team admins, or the engineer it is for).
    #[oai(path = "/teams/:team/on-call/time-off/:time_off_id", method = "delete")]
    async fn remove_time_off(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        time_off_id: Path<Uuid>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let (id, principal, team) = self.team(&key, &team, AccessRole::Agent).await?;
        if let Some(time_off) = team.staffing.time_off.get(&time_off_id.0) {
            self.for_self_or_admin(&id, &principal, &time_off.staff)?;
        }
        let cause = Causation::root(Uuid::now_v7());
        let command = TeamCommand::RemoveTimeOff { time_off_id: time_off_id.0 };
        Ok(Json(self.state.runtime.team(&id, command, cause).await?.into()))
    }

    /// Mark someone away or back (an engineer for themselves, team admins for anyone);
    /// routing passes over people who are away.
    #[oai(path = "/teams/:team/on-call/availability/:staff", method = "put")]
    async fn availability(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        staff: Path<UserParam>,
        body: Json<AvailabilityBody>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let (id, principal, _) = self.team(&key, &team, AccessRole::Agent).await?;
        let staff = staff_id(&staff.0)?;
        self.for_self_or_admin(&id, &principal, &staff)?;
        let cause = Causation::root(Uuid::now_v7());
        let command =
            TeamCommand::SetAvailability { staff, away: body.away, clicked_at: None, now: self.state.runtime.now() };
        Ok(Json(self.state.runtime.team(&id, command, cause).await?.into()))
    }

    /// Import holidays and make-up workdays (events whose summary says 班 or workday) from
    /// an iCalendar file into the team calendar (team admins). Days already listed stay
    /// once; the whole file is refused if it cannot be read.
    #[oai(path = "/teams/:team/on-call/calendar/import", method = "post")]
    async fn import(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        /// The `.ics` file (within the request body limit, `http.max_body_bytes`).
        body: Binary<Vec<u8>>,
    ) -> Result<Json<ImportedCalendar>, ApiError> {
        let (id, _, team) = self.team(&key, &team, AccessRole::Admin).await?;
        let days = import_days(&body.0).map_err(|e| ApiError::bad_request("bad_ics", e.to_string()))?;
        let mut on_call = team.on_call_settings();
        let calendar = &mut on_call.calendar;
        let (holidays_before, workdays_before) = (calendar.holidays.len(), calendar.workdays.len());
        for day in days.holidays {
            if !calendar.holidays.iter().any(|d| d.date == day.date) {
                calendar.holidays.push(day);
            }
        }
        // A make-up day works the hours of Monday, or of the first weekday that has hours.
        let mut weekdays: Vec<switchboard_schemas::oncall::Weekday> =
            calendar.hours.iter().map(|h| h.weekday).collect();
        weekdays.sort();
        let hours_of = weekdays
            .iter()
            .copied()
            .find(|d| *d == switchboard_schemas::oncall::Weekday::Mon)
            .or(weekdays.first().copied());
        for mut day in days.workdays {
            if !calendar.workdays.iter().any(|d| d.date == day.date) {
                day.hours_of = hours_of.unwrap_or(day.hours_of);
                calendar.workdays.push(day);
            }
        }
        calendar.holidays.sort_by_key(|d| d.date);
        calendar.workdays.sort_by_key(|d| d.date);
        let added = (calendar.holidays.len() - holidays_before, calendar.workdays.len() - workdays_before);
        let command = TeamCommand::ConfigureOnCall { on_call: Box::new(on_call) };
        let version = self.run(&id, command, Some(team.version)).await?;
        Ok(Json(ImportedCalendar {
            holidays: u32::try_from(added.0).unwrap_or(u32::MAX),
            workdays: u32::try_from(added.1).unwrap_or(u32::MAX),
            version,
        }))
    }

    /// The shifts of the coming 8 weeks (and the past week) as an iCalendar feed for
    /// calendar applications, which cannot send headers: the access key is in the address
    /// (use a viewer key issued for the feed; revoking it ends the subscription).
    #[oai(path = "/teams/:team/on-call/feed.ics", method = "get")]
    async fn feed(
        &self,
        team: Path<TeamParam>,
        /// A viewer key of the team, issued for the feed.
        key: Query<Option<String>>,
        /// Only this person's shifts.
        staff: Query<Option<StaffParam>>,
    ) -> Result<FeedResponse, ApiError> {
        crate::api::team_id(&team)?;
        let Some(token) = key.0 else {
            return Err(ApiError::unauthorized(
                "add ?key=<access key> to the feed's address (a viewer key issued for the feed)",
            ));
        };
        let key = AccessKey(poem_openapi::auth::Bearer { token });
        let (id, principal, team) = self.team(&key, &team, AccessRole::Viewer).await?;
        // An address is pasted into other people's servers and calendars: only a key that can
        // read and nothing else, never one that acts or administers.
        if !matches!(principal, Principal::Member { role: AccessRole::Viewer, .. }) {
            return Err(ApiError::forbidden(
                "viewer_key_required",
                "a calendar feed takes a viewer key of the team (issue one for the feed on the On call page), \
                 not a key that can act or administer",
            ));
        }
        let person = staff.0.as_deref().map(staff_id).transpose()?;
        let now = self.state.runtime.now();
        let (from, until) = (now - Duration::weeks(1), now + Duration::weeks(8));
        let schedule = schedule_of(&team)?;
        let mut shifts = Vec::new();
        for name in schedule.schedules() {
            for shift in schedule.shifts(&team.staffing, name, from, until, MAX_SHIFTS) {
                if person.as_ref().is_none_or(|p| *p == shift.staff) {
                    shifts.push((name.unwrap_or("default").to_owned(), shift));
                }
            }
        }
        let name = match &person {
            Some(p) => format!("{id} 值班 on call: {p}"),
            None => format!("{id} 值班 on call"),
        };
        Ok(FeedResponse::Ok(PlainText(feed(&name, &shifts, now))))
    }
}

impl OnCallApi {
    /// Refuses an engineer acting for someone else; team admins may act for anyone.
    fn for_self_or_admin(&self, team: &TeamId, principal: &Principal, staff: &StaffId) -> Result<(), ApiError> {
        if principal.actor() == *staff || principal.require(team, AccessRole::Admin).is_ok() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "not_yours",
                format!("only {staff} or a team admin may change {staff}'s availability and time off"),
            ))
        }
    }
}
