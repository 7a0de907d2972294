//! The documents of a team's on-call set-up: schedules with layers and rotations, the team
//! calendar (working hours, holidays, make-up workdays), the escalation policy and the
//! response targets. They are data only; `switchboard-oncall` computes with them.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::StaffId;
use crate::spelled;

/// The time zone a team's schedules and calendar are in unless it says otherwise.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// A team's on-call set-up, replaced whole when an admin saves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OnCallSettings {
    /// The IANA time zone of handoffs and working hours (`Asia/Shanghai`, `Europe/Berlin`).
    pub time_zone: String,
    /// The layers for questions with no category or one without layers of its own; the
    /// first layer is the primary, the next the secondary, and so on.
    #[schemars(length(max = crate::bounds::MAX_LAYERS))]
    pub default: Vec<Layer>,
    /// Layers per category.
    #[schemars(transform = category_map::<{ crate::bounds::MAX_LAYERS }>)]
    pub categories: BTreeMap<String, Vec<Layer>>,
    /// Working hours, holidays and make-up workdays.
    pub calendar: TeamCalendar,
    /// What happens when the assignee of a hand-over stays silent.
    pub escalation: EscalationPolicy,
    /// How fast people should acknowledge, reply and resolve, for every category.
    pub targets: ResponseTargets,
    /// Targets of particular categories, instead of `targets`.
    #[schemars(transform = category_map::<0>)]
    pub category_targets: BTreeMap<String, ResponseTargets>,
    /// The team leads, whom an escalation step may notify.
    #[schemars(length(max = crate::bounds::MAX_LEADS))]
    pub leads: Vec<StaffId>,
}

impl Default for OnCallSettings {
    fn default() -> Self {
        Self {
            time_zone: DEFAULT_TIME_ZONE.to_owned(),
            default: Vec::new(),
            categories: BTreeMap::new(),
            calendar: TeamCalendar::default(),
            escalation: EscalationPolicy::default(),
            targets: ResponseTargets::default(),
            category_targets: BTreeMap::new(),
            leads: Vec::new(),
        }
    }
}

/// One layer of a schedule: a rotation of people, one of whom is on call at any instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Its name (`primary`, `secondary`), unique within its schedule; overrides name it.
    #[schemars(length(min = 1, max = crate::bounds::MAX_LAYER_NAME_CHARS))]
    pub name: String,
    /// The people taking turns, in order.
    #[schemars(length(max = crate::bounds::MAX_PARTICIPANTS))]
    pub participants: Vec<StaffId>,
    /// How long each turn lasts.
    #[serde(default)]
    pub shift: ShiftLength,
    /// When turns change, in the team's time zone.
    #[serde(default)]
    pub handoff: Handoff,
    /// The first participant's first turn starts at the first handoff on or after this
    /// date; earlier and later turns follow in order from there.
    #[serde(default = "default_rotation_start")]
    #[schemars(regex(pattern = crate::bounds::YEARS_PATTERN))]
    pub starts_on: NaiveDate,
}

/// Declares the bounds of a map keyed by category: at most [`MAX_CATEGORIES`] entries,
/// and, when `MAX_ITEMS` is not 0, at most that many items in each (array) value.
///
/// [`MAX_CATEGORIES`]: crate::bounds::MAX_CATEGORIES
pub(crate) fn category_map<const MAX_ITEMS: usize>(schema: &mut schemars::Schema) {
    schema.insert("maxProperties".into(), crate::bounds::MAX_CATEGORIES.into());
    if MAX_ITEMS > 0 {
        if let Some(values) = schema.get_mut("additionalProperties").and_then(|v| v.as_object_mut()) {
            values.insert("maxItems".into(), MAX_ITEMS.into());
        }
    }
}

/// The Monday that the old weekly roster counted its weeks from.
pub fn default_rotation_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 5).unwrap_or_default()
}

/// The length of one turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShiftLength {
    /// How many units (a turn is at most 366 days).
    #[schemars(range(min = 1, max = crate::bounds::MAX_SHIFT_DAYS))]
    pub count: u16,
    /// Days or weeks.
    pub unit: ShiftUnit,
}

impl Default for ShiftLength {
    fn default() -> Self {
        Self { count: 1, unit: ShiftUnit::Weeks }
    }
}

impl ShiftLength {
    /// Its length in days.
    pub fn days(self) -> u32 {
        u32::from(self.count) * if self.unit == ShiftUnit::Weeks { 7 } else { 1 }
    }
}

/// The unit of a turn's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShiftUnit {
    /// Calendar days.
    Days,
    /// Weeks of seven days.
    Weeks,
}

spelled!(ShiftUnit { Days => "days", Weeks => "weeks" });

/// When turns change hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    /// The weekday of the first handoff (the first such day on or after the layer's start);
    /// none: the start date itself.
    #[serde(default)]
    pub weekday: Option<Weekday>,
    /// The local time of day of every handoff.
    pub time: NaiveTime,
}

impl Default for Handoff {
    fn default() -> Self {
        Self { weekday: Some(Weekday::Mon), time: NaiveTime::MIN }
    }
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

spelled!(Weekday { Mon => "mon", Tue => "tue", Wed => "wed", Thu => "thu", Fri => "fri", Sat => "sat", Sun => "sun" });

impl From<Weekday> for chrono::Weekday {
    fn from(day: Weekday) -> Self {
        match day {
            Weekday::Mon => chrono::Weekday::Mon,
            Weekday::Tue => chrono::Weekday::Tue,
            Weekday::Wed => chrono::Weekday::Wed,
            Weekday::Thu => chrono::Weekday::Thu,
            Weekday::Fri => chrono::Weekday::Fri,
            Weekday::Sat => chrono::Weekday::Sat,
            Weekday::Sun => chrono::Weekday::Sun,
        }
    }
}

impl From<chrono::Weekday> for Weekday {
    fn from(day: chrono::Weekday) -> Self {
        Weekday::ALL[day.num_days_from_monday() as usize]
    }
}

/// A team's calendar. With no working hours the team works around the clock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TeamCalendar {
    /// Weekly working hours; a day may have several spans, none crossing midnight.
    #[schemars(length(max = crate::bounds::MAX_HOUR_SPANS))]
    pub hours: Vec<WorkingHours>,
    /// Days off although their weekday is a working day (public holidays).
    #[schemars(length(max = crate::bounds::MAX_DAYS))]
    pub holidays: Vec<CalendarDay>,
    /// Make-up workdays (调休): days worked although their weekday is not, with the hours of
    /// `hours_of`.
    #[schemars(length(max = crate::bounds::MAX_DAYS))]
    pub workdays: Vec<MakeUpDay>,
}

/// A span of working time on one weekday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    /// The weekday.
    pub weekday: Weekday,
    /// The start, local time.
    pub from: NaiveTime,
    /// The end, local time, after the start.
    pub until: NaiveTime,
}

/// A named day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarDay {
    /// The date.
    #[schemars(regex(pattern = crate::bounds::YEARS_PATTERN))]
    pub date: NaiveDate,
    /// What it is (国庆节, Christmas).
    #[serde(default)]
    #[schemars(length(max = crate::bounds::MAX_NOTE_CHARS))]
    pub name: String,
}

/// A make-up workday.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MakeUpDay {
    /// The date.
    #[schemars(regex(pattern = crate::bounds::YEARS_PATTERN))]
    pub date: NaiveDate,
    /// What it makes up for.
    #[serde(default)]
    #[schemars(length(max = crate::bounds::MAX_NOTE_CHARS))]
    pub name: String,
    /// The weekday whose hours it has.
    #[serde(default = "monday")]
    pub hours_of: Weekday,
}

fn monday() -> Weekday {
    Weekday::Mon
}

/// Whether a span is counted on the wall clock or in the team's working time only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// Every minute counts.
    #[default]
    Wall,
    /// Only minutes within working hours count; nothing falls due outside them.
    Working,
}

spelled!(ClockKind { Wall => "wall", Working => "working" });

/// The escalation policy: ordered steps, each "notify these, then wait".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationPolicy {
    /// The steps. The first is taken when a session is handed to a person; each next one
    /// when the wait of the one before passed with nobody acknowledging, replying,
    /// reassigning or closing.
    #[schemars(length(max = crate::bounds::MAX_STEPS))]
    pub steps: Vec<EscalationStep>,
    /// How the waits are counted.
    pub clock: ClockKind,
}

/// One step of an escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    /// Whom to notify.
    #[schemars(length(max = crate::bounds::MAX_NOTIFY))]
    pub notify: Vec<EscalationTarget>,
    /// Minutes to wait for an acknowledgment before the next step.
    #[schemars(range(min = 1, max = crate::bounds::MAX_MINUTES))]
    pub wait_minutes: u32,
}

/// Whom an escalation step notifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscalationTarget {
    /// The person who has the session.
    Assignee,
    /// Whoever is on call in the next layer of the session's schedule.
    NextLayer,
    /// The team's leads.
    Leads,
    /// A group chat with the operator, the assignee and the people notified so far.
    GroupChat,
}

spelled!(EscalationTarget { Assignee => "assignee", NextLayer => "next_layer", Leads => "leads", GroupChat => "group_chat" });

/// How fast a hand-over should be handled; a target left out is not tracked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseTargets {
    /// Minutes from the hand-over to an acknowledgment (or a reply).
    #[schemars(range(min = 1, max = crate::bounds::MAX_MINUTES))]
    pub acknowledge_minutes: Option<u32>,
    /// Minutes from the hand-over to the first reply of a person.
    #[schemars(range(min = 1, max = crate::bounds::MAX_MINUTES))]
    pub first_reply_minutes: Option<u32>,
    /// Minutes from the hand-over to the close.
    #[schemars(range(min = 1, max = crate::bounds::MAX_MINUTES))]
    pub resolution_minutes: Option<u32>,
    /// How the minutes are counted.
    pub clock: ClockKind,
}

/// The three response targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Time to acknowledge.
    Acknowledge,
    /// Time to the first reply.
    FirstReply,
    /// Time to resolution.
    Resolution,
}

spelled!(TargetKind { Acknowledge => "acknowledge", FirstReply => "first_reply", Resolution => "resolution" });

impl ResponseTargets {
    /// The minutes of one target, if it is tracked.
    pub fn minutes(&self, kind: TargetKind) -> Option<u32> {
        match kind {
            TargetKind::Acknowledge => self.acknowledge_minutes,
            TargetKind::FirstReply => self.first_reply_minutes,
            TargetKind::Resolution => self.resolution_minutes,
        }
    }
}

/// Someone covers a layer for a span of time (a swap, a sick day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnCallOverride {
    /// Its id (to remove it).
    pub override_id: Uuid,
    /// The category whose schedule it changes; none: the default schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The layer's name.
    pub layer: String,
    /// Who is on call instead.
    pub staff: StaffId,
    /// From this instant.
    pub from: DateTime<Utc>,
    /// Until this instant (exclusive).
    pub until: DateTime<Utc>,
    /// Why (shown in the calendar).
    #[serde(default)]
    pub note: String,
}

/// Someone is off for a span of time; routing passes them over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeOff {
    /// Its id (to remove it).
    pub time_off_id: Uuid,
    /// Who is off.
    pub staff: StaffId,
    /// From this instant.
    pub from: DateTime<Utc>,
    /// Until this instant (exclusive).
    pub until: DateTime<Utc>,
    /// Why (shown in the calendar).
    #[serde(default)]
    pub note: String,
}
