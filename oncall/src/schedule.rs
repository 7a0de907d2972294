//! Schedules: layers of rotations in the team's time zone, overrides over them, and routing
//! that passes over people who are away or off.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Days, NaiveDateTime, Utc};
use chrono_tz::Tz;
use switchboard_schemas::event::Roster;
use switchboard_schemas::oncall::{
    ClockKind, EscalationPolicy, Handoff, Layer, OnCallOverride, OnCallSettings, ResponseTargets, ShiftLength,
    ShiftUnit, TargetKind, TeamCalendar, TimeOff, Weekday,
};
use switchboard_schemas::StaffId;
use uuid::Uuid;

use crate::calendar::{local_to_utc, Calendar};
use crate::OnCallError;
use switchboard_schemas::bounds::{self, few, in_years, within};

/// The set-up that gives exactly the answers of an old weekly roster: one `primary` layer
/// per rotation, turns of a week handed over on Mondays at 00:00 UTC, counted from Monday
/// 1970-01-05, around the clock, no escalation.
pub fn from_roster(roster: &Roster) -> OnCallSettings {
    let layer = |participants: &Vec<StaffId>| Layer {
        name: "primary".to_owned(),
        participants: participants.clone(),
        shift: ShiftLength { count: 1, unit: ShiftUnit::Weeks },
        handoff: Handoff { weekday: Some(Weekday::Mon), time: chrono::NaiveTime::MIN },
        starts_on: switchboard_schemas::oncall::default_rotation_start(),
    };
    let layers = |participants: &Vec<StaffId>| {
        if participants.is_empty() {
            Vec::new()
        } else {
            vec![layer(participants)]
        }
    };
    OnCallSettings {
        time_zone: "UTC".to_owned(),
        default: layers(&roster.default),
        categories: roster
            .categories
            .iter()
            .filter(|(_, rotation)| !rotation.is_empty())
            .map(|(category, rotation)| (category.clone(), layers(rotation)))
            .collect(),
        calendar: TeamCalendar::default(),
        escalation: EscalationPolicy::default(),
        ..OnCallSettings::default()
    }
}

/// The overrides, time off and availability recorded for a team.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Staffing {
    /// Overrides by id.
    pub overrides: BTreeMap<Uuid, OnCallOverride>,
    /// Time off by id.
    pub time_off: BTreeMap<Uuid, TimeOff>,
    /// Who marked themselves away.
    pub away: BTreeSet<StaffId>,
}

impl Staffing {
    /// Whether `staff` can take a session at `at`: not away, not off.
    pub fn available(&self, staff: &StaffId, at: DateTime<Utc>) -> bool {
        !self.away.contains(staff) && !self.time_off.values().any(|t| t.staff == *staff && t.from <= at && at < t.until)
    }

    /// The override in force for a layer of a schedule at `at`.
    fn cover(&self, category: Option<&str>, layer: &str, at: DateTime<Utc>) -> Option<&OnCallOverride> {
        self.overrides
            .values()
            .find(|o| o.category.as_deref() == category && o.layer == layer && o.from <= at && at < o.until)
    }

    /// Checks a new override against the schedule and the overrides there are; those ended
    /// by `now` do not count against the limit.
    pub fn check_override(
        &self,
        schedule: &Schedule,
        cover: &OnCallOverride,
        now: DateTime<Utc>,
    ) -> Result<(), OnCallError> {
        check_span("the override", cover.from, cover.until, &cover.note)?;
        let standing = self.overrides.values().filter(|o| o.until > now).count();
        few("overrides", standing + 1, bounds::MAX_SPANS)?;
        if !schedule.own_layers(cover.category.as_deref()).iter().any(|l| l.name == cover.layer) {
            return Err(OnCallError::UnknownLayer {
                schedule: cover.category.clone().unwrap_or_else(|| "default".to_owned()),
                layer: cover.layer.clone(),
            });
        }
        let clash = self.overrides.values().find(|o| {
            o.override_id != cover.override_id
                && o.category == cover.category
                && o.layer == cover.layer
                && o.from < cover.until
                && cover.from < o.until
        });
        match clash {
            Some(other) => Err(OnCallError::Overlap { other: other.override_id }),
            None => Ok(()),
        }
    }

    /// Checks a new time off; time off ended by `now` does not count against the limit.
    pub fn check_time_off(&self, time_off: &TimeOff, now: DateTime<Utc>) -> Result<(), OnCallError> {
        check_span("the time off", time_off.from, time_off.until, &time_off.note)?;
        let standing = self.time_off.values().filter(|t| t.until > now).count();
        Ok(few("time_off", standing + 1, bounds::MAX_SPANS)?)
    }
}

fn check_span(what: &str, from: DateTime<Utc>, until: DateTime<Utc>, note: &str) -> Result<(), OnCallError> {
    if until <= from {
        return Err(OnCallError::InvertedSpan {
            what: what.to_owned(),
            from: from.to_rfc3339(),
            until: until.to_rfc3339(),
        });
    }
    in_years("from", from.date_naive())?;
    in_years("until", until.date_naive())?;
    within("the span in days", (until - from).num_days(), 0..=bounds::MAX_SPAN_DAYS)?;
    Ok(within("note (characters)", note.chars().count(), 0..=bounds::MAX_NOTE_CHARS)?)
}

/// One layer, resolved: its rotation anchored at its first handoff.
#[derive(Debug, Clone)]
struct CompiledLayer {
    name: String,
    participants: Vec<StaffId>,
    /// The local date and time of the first participant's first turn.
    anchor: NaiveDateTime,
    days: u32,
}

impl CompiledLayer {
    fn new(layer: &Layer, schedule: &str) -> Result<Self, OnCallError> {
        let setting = |what: &str| format!("{schedule}.{}.{what}", layer.name);
        within(
            &format!("{schedule} layer name (characters)"),
            layer.name.chars().count(),
            1..=bounds::MAX_LAYER_NAME_CHARS,
        )?;
        few(&setting("participants"), layer.participants.len(), bounds::MAX_PARTICIPANTS)?;
        within(&setting("shift (days)"), layer.shift.days(), 1..=bounds::MAX_SHIFT_DAYS)?;
        in_years(&setting("starts_on"), layer.starts_on)?;
        let mut first = layer.starts_on;
        if let Some(weekday) = layer.handoff.weekday {
            let wanted = chrono::Weekday::from(weekday);
            for _ in 0..6 {
                if first.weekday() != wanted {
                    first = first.succ_opt().unwrap_or(first);
                }
            }
        }
        Ok(Self {
            name: layer.name.clone(),
            participants: layer.participants.clone(),
            anchor: first.and_time(layer.handoff.time),
            days: layer.shift.days(),
        })
    }

    /// The instant of handoff `k` (turn `k` starts then), if it is representable.
    fn handoff(&self, tz: Tz, k: i64) -> Option<DateTime<Utc>> {
        let days = k.checked_mul(i64::from(self.days))?;
        let date = if days >= 0 {
            self.anchor.date().checked_add_days(Days::new(days.unsigned_abs()))?
        } else {
            self.anchor.date().checked_sub_days(Days::new(days.unsigned_abs()))?
        };
        Some(local_to_utc(tz, date.and_time(self.anchor.time())))
    }

    /// The turn in progress at `at`: its number and its span.
    fn turn(&self, tz: Tz, at: DateTime<Utc>) -> Option<(i64, DateTime<Utc>, DateTime<Utc>)> {
        let local = at.with_timezone(&tz).naive_local();
        let length = i64::from(self.days) * 86_400;
        let mut k = (local - self.anchor).num_seconds().div_euclid(length);
        // Local time may jump (daylight saving): settle on the turn whose instants hold `at`.
        for _ in 0..4 {
            let (start, end) = (self.handoff(tz, k)?, self.handoff(tz, k + 1)?);
            if start > at {
                k -= 1;
            } else if end <= at {
                k += 1;
            } else {
                return Some((k, start, end));
            }
        }
        None
    }

    fn participant(&self, k: i64) -> Option<&StaffId> {
        let n = i64::try_from(self.participants.len()).ok().filter(|&n| n > 0)?;
        self.participants.get(usize::try_from(k.rem_euclid(n)).ok()?)
    }
}

/// Who is on call in one layer at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerNow {
    /// The layer.
    pub layer: String,
    /// Whose turn it is by the rotation.
    pub scheduled: Option<StaffId>,
    /// Who is on call: the scheduled person or whoever covers for them.
    pub on_call: Option<StaffId>,
    /// The override in force, if any.
    pub override_id: Option<Uuid>,
    /// When this layer next changes hands (a handoff, or an override starting or ending).
    pub until: Option<DateTime<Utc>>,
    /// Who is on call from then.
    pub next: Option<StaffId>,
}

/// Who is on call for a category at an instant, layer by layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCallNow {
    /// The schedule used: the category's, or `None` for the default one.
    pub schedule: Option<String>,
    /// The layers, primary first.
    pub layers: Vec<LayerNow>,
}

/// A span during which one person is on call in a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// The layer.
    pub layer: String,
    /// Who.
    pub staff: StaffId,
    /// From.
    pub from: DateTime<Utc>,
    /// Until (exclusive).
    pub until: DateTime<Utc>,
    /// Where it begins when no window cuts it: the override's start, or its turn's handoff
    /// (or the end of an override inside the turn). It names the shift from one window to the
    /// next, so feeds give it the same UID at every fetch.
    pub since: DateTime<Utc>,
    /// Where it ends when no window cuts it: the override's end, or the turn's (or the start
    /// of an override inside the turn).
    pub till: DateTime<Utc>,
    /// The override that made it, if one did.
    pub override_id: Option<Uuid>,
}

/// A team's validated on-call set-up.
#[derive(Debug, Clone)]
pub struct Schedule {
    settings: OnCallSettings,
    tz: Tz,
    default: Vec<CompiledLayer>,
    categories: BTreeMap<String, Vec<CompiledLayer>>,
    calendar: Calendar,
}

fn compile_layers(layers: &[Layer], schedule: &str) -> Result<Vec<CompiledLayer>, OnCallError> {
    few(&format!("{schedule} layers"), layers.len(), bounds::MAX_LAYERS)?;
    let mut names = BTreeSet::new();
    for layer in layers {
        if !names.insert(layer.name.as_str()) {
            return Err(OnCallError::DuplicateLayer { schedule: schedule.to_owned(), layer: layer.name.clone() });
        }
    }
    layers.iter().map(|layer| CompiledLayer::new(layer, schedule)).collect()
}

fn check_targets(setting: &str, targets: &ResponseTargets) -> Result<(), OnCallError> {
    for kind in TargetKind::ALL {
        if let Some(minutes) = targets.minutes(*kind) {
            within(&format!("{setting}.{kind}_minutes"), minutes, 1..=bounds::MAX_MINUTES)?;
        }
    }
    Ok(())
}

impl Schedule {
    /// Checks a set-up and resolves its time zone.
    pub fn new(settings: OnCallSettings) -> Result<Self, OnCallError> {
        let tz: Tz =
            settings.time_zone.parse().map_err(|_| OnCallError::UnknownTimeZone(settings.time_zone.clone()))?;
        let default = compile_layers(&settings.default, "default")?;
        few("categories", settings.categories.len(), bounds::MAX_CATEGORIES)?;
        few("category_targets", settings.category_targets.len(), bounds::MAX_CATEGORIES)?;
        let mut categories = BTreeMap::new();
        for (category, layers) in &settings.categories {
            within("category name (characters)", category.chars().count(), 1..=bounds::MAX_CATEGORY_CHARS)?;
            categories.insert(category.clone(), compile_layers(layers, category)?);
        }
        for category in settings.category_targets.keys() {
            within("category name (characters)", category.chars().count(), 1..=bounds::MAX_CATEGORY_CHARS)?;
        }
        few("escalation.steps", settings.escalation.steps.len(), bounds::MAX_STEPS)?;
        for (i, step) in settings.escalation.steps.iter().enumerate() {
            if step.wait_minutes == 0 {
                return Err(OnCallError::StepWithoutWait { step: i });
            }
            within(&format!("escalation.steps[{i}].wait_minutes"), step.wait_minutes, 1..=bounds::MAX_MINUTES)?;
            few(&format!("escalation.steps[{i}].notify"), step.notify.len(), bounds::MAX_NOTIFY)?;
        }
        check_targets("targets", &settings.targets)?;
        for (category, targets) in &settings.category_targets {
            check_targets(&format!("category_targets.{category}"), targets)?;
        }
        few("leads", settings.leads.len(), bounds::MAX_LEADS)?;
        let calendar = Calendar::new(&settings.calendar, tz)?;
        Ok(Self { settings, tz, default, categories, calendar })
    }

    /// The set-up as it was given.
    pub fn settings(&self) -> &OnCallSettings {
        &self.settings
    }

    /// The team calendar.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// Everyone the set-up names (participants and leads): they are the team's staff.
    pub fn people(&self) -> impl Iterator<Item = &StaffId> {
        self.default
            .iter()
            .chain(self.categories.values().flatten())
            .flat_map(|l| l.participants.iter())
            .chain(self.settings.leads.iter())
    }

    /// The targets of a category.
    pub fn targets(&self, category: Option<&str>) -> &ResponseTargets {
        category.and_then(|c| self.settings.category_targets.get(c)).unwrap_or(&self.settings.targets)
    }

    /// The escalation policy.
    pub fn escalation(&self) -> &EscalationPolicy {
        &self.settings.escalation
    }

    /// The instant `minutes` after `at` on `clock` in the team's calendar (none when there
    /// is no such working time).
    pub fn after(&self, at: DateTime<Utc>, minutes: u32, clock: ClockKind) -> Option<DateTime<Utc>> {
        self.calendar.after(at, minutes, clock)
    }

    /// The category's own layers, or the default ones.
    fn layers_of(&self, category: Option<&str>) -> &[CompiledLayer] {
        category.and_then(|c| self.categories.get(c)).filter(|l| !l.is_empty()).map_or(&self.default, Vec::as_slice)
    }

    /// The layers of one schedule: the default's (`None`) or a category's own.
    fn own_layers(&self, schedule: Option<&str>) -> &[CompiledLayer] {
        match schedule {
            None => &self.default,
            Some(c) => self.categories.get(c).map_or(&[], Vec::as_slice),
        }
    }

    /// The name of the schedule a category uses (`None`: the default one).
    fn schedule_of<'a>(&self, category: Option<&'a str>) -> Option<&'a str> {
        category.filter(|c| self.categories.get(*c).is_some_and(|l| !l.is_empty()))
    }

    /// Who is on call in `layer` at `at`, overrides applied.
    fn layer_at(
        &self,
        staffing: &Staffing,
        scope: Option<&str>,
        layer: &CompiledLayer,
        at: DateTime<Utc>,
    ) -> (Option<StaffId>, Option<StaffId>, Option<Uuid>, Option<DateTime<Utc>>) {
        let turn = layer.turn(self.tz, at);
        let scheduled = turn.and_then(|(k, _, _)| layer.participant(k).cloned());
        let cover = staffing.cover(scope, &layer.name, at);
        let on_call = cover.map(|c| c.staff.clone()).or_else(|| scheduled.clone());
        // The next change: the turn's end, the cover's end, or the start of the next cover.
        let mut until = turn.map(|(_, _, end)| end);
        if let Some(cover) = cover {
            until = Some(until.map_or(cover.until, |u| u.min(cover.until)));
        }
        let next_cover = staffing
            .overrides
            .values()
            .filter(|o| o.category.as_deref() == scope && o.layer == layer.name && o.from > at)
            .map(|o| o.from)
            .min();
        if let Some(start) = next_cover {
            until = Some(until.map_or(start, |u| u.min(start)));
        }
        (scheduled, on_call, cover.map(|c| c.override_id), until)
    }

    /// The stretch of `layer` in force at `at` when no window cuts it: an override's span, or
    /// a turn from its handoff (or the end of an override inside it) to `next`, the layer's
    /// next change.
    fn stretch(
        &self,
        staffing: &Staffing,
        scope: Option<&str>,
        layer: &CompiledLayer,
        at: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        if let Some(cover) = staffing.cover(scope, &layer.name, at) {
            return (cover.from, cover.until);
        }
        let Some((_, start, _)) = layer.turn(self.tz, at) else { return (at, next) };
        let since = staffing
            .overrides
            .values()
            .filter(|o| o.category.as_deref() == scope && o.layer == layer.name && start < o.until && o.until <= at)
            .map(|o| o.until)
            .fold(start, DateTime::max);
        (since, next)
    }

    /// Who is on call for `category` at `at`, and who is next, layer by layer.
    pub fn on_call(&self, staffing: &Staffing, category: Option<&str>, at: DateTime<Utc>) -> OnCallNow {
        let scope = self.schedule_of(category);
        let layers = self
            .layers_of(category)
            .iter()
            .map(|layer| {
                let (scheduled, on_call, override_id, until) = self.layer_at(staffing, scope, layer, at);
                let next = until.and_then(|u| self.layer_at(staffing, scope, layer, u).1);
                LayerNow { layer: layer.name.clone(), scheduled, on_call, override_id, until, next }
            })
            .collect();
        OnCallNow { schedule: scope.map(str::to_owned), layers }
    }

    /// Whom a session of `category` goes to at `at`: the primary if available, else the
    /// next available person in that layer's rotation, else the next layer likewise.
    pub fn route(&self, staffing: &Staffing, category: Option<&str>, at: DateTime<Utc>) -> Option<StaffId> {
        self.route_from(staffing, category, at, 0, &[])
    }

    /// Whom an escalation to "the next layer" notifies: routing from the layer after the
    /// one the assignee is on call in (the second layer when they are in none), passing
    /// over the people already notified; with a single layer, the next in its rotation.
    pub fn next_layer(
        &self,
        staffing: &Staffing,
        category: Option<&str>,
        at: DateTime<Utc>,
        assignee: Option<&StaffId>,
        notified: &[StaffId],
    ) -> Option<StaffId> {
        let now = self.on_call(staffing, category, at);
        let position = assignee.and_then(|a| now.layers.iter().position(|l| l.on_call.as_ref() == Some(a)));
        let start = position.map_or(1, |p| p + 1).min(now.layers.len().saturating_sub(1));
        let mut skip: Vec<StaffId> = notified.to_vec();
        skip.extend(assignee.cloned());
        self.route_from(staffing, category, at, start, &skip)
    }

    fn route_from(
        &self,
        staffing: &Staffing,
        category: Option<&str>,
        at: DateTime<Utc>,
        first_layer: usize,
        skip: &[StaffId],
    ) -> Option<StaffId> {
        let scope = self.schedule_of(category);
        let usable = |staff: &StaffId| !skip.contains(staff) && staffing.available(staff, at);
        for layer in self.layers_of(category).iter().skip(first_layer) {
            // Whoever covers, then the scheduled person, then the next in turn.
            let (scheduled, on_call, _, _) = self.layer_at(staffing, scope, layer, at);
            if let Some(person) = on_call.into_iter().chain(scheduled).find(|p| usable(p)) {
                return Some(person);
            }
            // The next people of the rotation, in turn order from the current one.
            let k = layer.turn(self.tz, at).map_or(0, |(k, _, _)| k);
            let n = i64::try_from(layer.participants.len()).unwrap_or(0);
            if let Some(person) = (1..n).filter_map(|i| layer.participant(k + i)).find(|p| usable(p)) {
                return Some(person.clone());
            }
        }
        None
    }

    /// The shifts of every layer of `category`'s schedule between two instants, overrides
    /// cut in, earliest first (at most `limit` per layer). A shift is one turn or one
    /// override: a person's turns in a row stay separate shifts, each with its own start.
    pub fn shifts(
        &self,
        staffing: &Staffing,
        category: Option<&str>,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<Shift> {
        let scope = self.schedule_of(category);
        let mut shifts = Vec::new();
        for layer in self.layers_of(category) {
            let (mut at, mut of_layer) = (from, 0);
            // Every step reaches a handoff or an override's edge; a span of bounded length
            // has few of those, and the guard bounds the rest.
            for _ in 0..limit.saturating_mul(4).saturating_add(16) {
                if at >= until || of_layer >= limit {
                    break;
                }
                let (_, on_call, override_id, next) = self.layer_at(staffing, scope, layer, at);
                let end = next.unwrap_or(until).min(until);
                if let Some(staff) = on_call {
                    let (since, till) = self.stretch(staffing, scope, layer, at, next.unwrap_or(until));
                    match shifts.last_mut() {
                        // An override across a handoff is one shift.
                        Some(Shift { layer: l, staff: s, until: u, since: b, override_id: o, .. })
                            if *l == layer.name && *s == staff && *u == at && *b == since && *o == override_id =>
                        {
                            *u = end
                        }
                        _ => {
                            let layer = layer.name.clone();
                            let shift = Shift { layer, staff, from: at, until: end, since, till, override_id };
                            shifts.push(shift);
                            of_layer += 1;
                        }
                    }
                }
                if end <= at {
                    break;
                }
                at = end;
            }
        }
        shifts.sort_by_key(|s| (s.from, s.layer.clone()));
        shifts
    }

    /// Every schedule's name: `None` for the default, then the categories with layers.
    pub fn schedules(&self) -> impl Iterator<Item = Option<&str>> {
        std::iter::once(None)
            .chain(self.categories.iter().filter(|(_, l)| !l.is_empty()).map(|(c, _)| Some(c.as_str())))
    }

    /// `at` written in the team's time zone, as operators read it (`2026-12-08 09:00`).
    pub fn local_text(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.tz).format("%Y-%m-%d %H:%M").to_string()
    }
}
