//! Who is on call when, as pure functions of a team's on-call set-up, its overrides, time
//! off and availability, and an instant.
//!
//! - [`Schedule`]: a validated [`OnCallSettings`] with its time zone resolved: rotations,
//!   layers, "who is on call for category C at T, and who is next", routing that passes over
//!   people who are away or off.
//! - [`Calendar`]: working hours, holidays and make-up workdays (调休), and arithmetic in
//!   working time.
//! - [`Staffing`]: the overrides, time off and availability recorded for a team.
//! - [`from_roster`]: the schedule that gives exactly the old weekly roster's answers.
//! - [`ics`]: holidays from an `.ics` file, and shifts as an iCalendar feed.
//!
//! Nothing here reads a clock: every instant comes in as an argument.

mod calendar;
pub mod ics;
mod schedule;

pub use calendar::Calendar;
pub use schedule::{from_roster, LayerNow, OnCallNow, Schedule, Shift, Staffing};

/// The bounds on everything a team admin sets up, so no team can make the instance do
/// unbounded work for it.
pub mod bounds {
    /// Most layers in one schedule.
    pub const MAX_LAYERS: usize = 5;
    /// Longest layer name, in characters.
    pub const MAX_LAYER_NAME_CHARS: usize = 32;
    /// Most people in one rotation.
    pub const MAX_PARTICIPANTS: usize = 100;
    /// Most categories with schedules (or targets) of their own.
    pub const MAX_CATEGORIES: usize = 100;
    /// Longest category name, in characters.
    pub const MAX_CATEGORY_CHARS: usize = 64;
    /// The longest turn, in days.
    pub const MAX_SHIFT_DAYS: u32 = 366;
    /// Most spans of working hours in a week.
    pub const MAX_HOUR_SPANS: usize = 28;
    /// Most holidays, and most make-up workdays, in a calendar.
    pub const MAX_DAYS: usize = 400;
    /// Most escalation steps.
    pub const MAX_STEPS: usize = 10;
    /// Most targets one step notifies (each kind once).
    pub const MAX_NOTIFY: usize = 4;
    /// The longest wait of a step and the longest target, in minutes (30 days).
    pub const MAX_MINUTES: u32 = 30 * 24 * 60;
    /// Most team leads.
    pub const MAX_LEADS: usize = 20;
    /// Most overrides and most time-off entries a team has at once.
    pub const MAX_SPANS: usize = 500;
    /// The longest override or time off, in days.
    pub const MAX_SPAN_DAYS: i64 = 366;
    /// Longest note on an override or a time off, in characters.
    pub const MAX_NOTE_CHARS: usize = 200;
    /// Dates and instants a team may name lie in these years.
    pub const YEARS: std::ops::RangeInclusive<i32> = 1970..=2199;
    /// How far ahead working time is searched (a calendar with no working day in that long
    /// never lets anything fall due).
    pub const SEARCH_DAYS: u32 = 400;
}

/// Why an on-call set-up, override or time off cannot be used; nothing is recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnCallError {
    /// The time zone is not in the IANA database.
    #[error("time_zone {0:?} is not an IANA time zone (try \"Asia/Shanghai\" or \"Europe/Berlin\")")]
    UnknownTimeZone(String),
    /// A value outside what the engine accepts from a team.
    #[error("{setting} must be {expected} (got {got})")]
    OutOfBounds {
        /// The setting, as spelled in the document.
        setting: String,
        /// What it may be.
        expected: String,
        /// What it was.
        got: String,
    },
    /// Two layers of one schedule with the same name.
    #[error("{schedule} has two layers named {layer:?}; layer names must be unique")]
    DuplicateLayer {
        /// The schedule (`default` or the category).
        schedule: String,
        /// The name.
        layer: String,
    },
    /// A span that ends before it starts (or empty).
    #[error("{what} ends ({until}) at or before it starts ({from})")]
    InvertedSpan {
        /// What the span is.
        what: String,
        /// Its start.
        from: String,
        /// Its end.
        until: String,
    },
    /// An override over another one of the same layer.
    #[error("the override overlaps override {other} of the same layer; remove that one first")]
    Overlap {
        /// The override it overlaps.
        other: uuid::Uuid,
    },
    /// An override of a layer the schedule does not have.
    #[error("the {schedule} schedule has no layer {layer:?}")]
    UnknownLayer {
        /// The schedule.
        schedule: String,
        /// The layer named.
        layer: String,
    },
    /// A date that is both a holiday and a make-up workday.
    #[error("{date} is both a holiday and a make-up workday; keep one")]
    DayTwice {
        /// The date.
        date: chrono::NaiveDate,
    },
    /// A make-up workday with the hours of a weekday that has none.
    #[error("make-up workday {date} takes the hours of {weekday}, which has no working hours")]
    NoHoursOf {
        /// The date.
        date: chrono::NaiveDate,
        /// The weekday named.
        weekday: switchboard_schemas::oncall::Weekday,
    },
    /// A step that would fire the next one at once.
    #[error("escalation step {step} has no wait; give wait_minutes between 1 and {max}", max = bounds::MAX_MINUTES)]
    StepWithoutWait {
        /// The step, from 0.
        step: usize,
    },
}

/// Refuses `got` unless it lies within `range`.
fn within<T: PartialOrd + std::fmt::Display>(
    setting: &str,
    got: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), OnCallError> {
    if range.contains(&got) {
        Ok(())
    } else {
        Err(OnCallError::OutOfBounds {
            setting: setting.to_owned(),
            expected: format!("between {} and {}", range.start(), range.end()),
            got: got.to_string(),
        })
    }
}

/// Refuses more than `max` entries.
fn few(setting: &str, len: usize, max: usize) -> Result<(), OnCallError> {
    if len > max {
        return Err(OnCallError::OutOfBounds {
            setting: setting.to_owned(),
            expected: format!("at most {max} entries"),
            got: format!("{len} entries"),
        });
    }
    Ok(())
}

/// Refuses a date outside [`bounds::YEARS`].
fn in_years(setting: &str, date: chrono::NaiveDate) -> Result<(), OnCallError> {
    use chrono::Datelike;
    if bounds::YEARS.contains(&date.year()) {
        return Ok(());
    }
    Err(OnCallError::OutOfBounds {
        setting: setting.to_owned(),
        expected: format!("a date in the years {} to {}", bounds::YEARS.start(), bounds::YEARS.end()),
        got: date.to_string(),
    })
}
