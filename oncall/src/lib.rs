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

/// The bounds on everything a team admin sets up (declared in the documents' JSON Schema too).
pub use switchboard_schemas::bounds;
use switchboard_schemas::bounds::OutOfBounds;

/// Why an on-call set-up, override or time off cannot be used; nothing is recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnCallError {
    /// The time zone is not in the IANA database.
    #[error("time_zone {0:?} is not an IANA time zone (try \"Asia/Shanghai\" or \"Europe/Berlin\")")]
    UnknownTimeZone(String),
    /// A value outside what the engine accepts from a team.
    #[error(transparent)]
    OutOfBounds(#[from] OutOfBounds),
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
