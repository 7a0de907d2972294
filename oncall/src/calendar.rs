//! The team calendar: when people work, in the team's time zone, and time counted in
//! working minutes only.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use switchboard_schemas::oncall::{ClockKind, TeamCalendar, Weekday};

use crate::OnCallError;
use switchboard_schemas::bounds::{self, few, in_years, within};

/// A validated team calendar in its time zone.
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: Tz,
    /// Working spans per weekday, sorted, as local times.
    weekly: BTreeMap<Weekday, Vec<DaySpan>>,
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeMap<NaiveDate, Weekday>,
    around_the_clock: bool,
}

/// The instant a local time names: the earlier of two in a fold; in a gap, the local time
/// moved later by the gap's length (as java.time does: 02:30 on the night Berlin's clocks go
/// forward is 03:30).
pub(crate) fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    if let Some(instant) = tz.from_local_datetime(&local).earliest() {
        return instant.with_timezone(&Utc);
    }
    // The offset in force a day before (gaps last hours, not days); dates are bounded to
    // `bounds::YEARS`, and out of any range the local time is read as UTC.
    let before = local.checked_sub_signed(Duration::days(1)).unwrap_or(local);
    let offset = tz.offset_from_utc_datetime(&before).fix();
    let shifted = local.checked_sub_signed(Duration::seconds(i64::from(offset.local_minus_utc())));
    Utc.from_utc_datetime(&shifted.unwrap_or(local))
}

/// A working span within a local day: seconds after local midnight, `until` up to 86,400
/// (a span may run to midnight, written `until: "00:00:00"`).
type DaySpan = (u32, u32);

fn seconds_of(time: NaiveTime) -> u32 {
    use chrono::Timelike;
    time.num_seconds_from_midnight()
}

impl Calendar {
    /// Checks a calendar and resolves it in `tz`.
    pub fn new(calendar: &TeamCalendar, tz: Tz) -> Result<Self, OnCallError> {
        few("calendar.hours", calendar.hours.len(), bounds::MAX_HOUR_SPANS)?;
        few("calendar.holidays", calendar.holidays.len(), bounds::MAX_DAYS)?;
        few("calendar.workdays", calendar.workdays.len(), bounds::MAX_DAYS)?;
        let mut weekly: BTreeMap<Weekday, Vec<DaySpan>> = BTreeMap::new();
        for hours in &calendar.hours {
            let from = seconds_of(hours.from);
            // An end at 00:00 is the end of the day.
            let until = if hours.until == NaiveTime::MIN { 86_400 } else { seconds_of(hours.until) };
            if until <= from {
                return Err(OnCallError::InvertedSpan {
                    what: format!("calendar.hours ({})", hours.weekday),
                    from: hours.from.to_string(),
                    until: hours.until.to_string(),
                });
            }
            weekly.entry(hours.weekday).or_default().push((from, until));
        }
        for spans in weekly.values_mut() {
            spans.sort();
            // Overlapping spans are merged, so working time is never counted twice.
            let mut merged: Vec<DaySpan> = Vec::with_capacity(spans.len());
            for &(from, until) in spans.iter() {
                match merged.last_mut() {
                    Some(last) if from <= last.1 => last.1 = last.1.max(until),
                    _ => merged.push((from, until)),
                }
            }
            *spans = merged;
        }
        let mut holidays = BTreeSet::new();
        for day in &calendar.holidays {
            in_years("calendar.holidays[].date", day.date)?;
            within("calendar.holidays[].name (characters)", day.name.chars().count(), 0..=bounds::MAX_NOTE_CHARS)?;
            holidays.insert(day.date);
        }
        let mut workdays = BTreeMap::new();
        for day in &calendar.workdays {
            in_years("calendar.workdays[].date", day.date)?;
            within("calendar.workdays[].name (characters)", day.name.chars().count(), 0..=bounds::MAX_NOTE_CHARS)?;
            if holidays.contains(&day.date) {
                return Err(OnCallError::DayTwice { date: day.date });
            }
            if !calendar.hours.is_empty() && !weekly.contains_key(&day.hours_of) {
                return Err(OnCallError::NoHoursOf { date: day.date, weekday: day.hours_of });
            }
            workdays.insert(day.date, day.hours_of);
        }
        Ok(Self { tz, around_the_clock: calendar.hours.is_empty(), weekly, holidays, workdays })
    }

    /// The working spans of a local date: none on a holiday, the hours of `hours_of` on a
    /// make-up workday, the weekday's hours otherwise.
    fn spans_of(&self, date: NaiveDate) -> &[DaySpan] {
        use chrono::Datelike;
        if self.holidays.contains(&date) {
            return &[];
        }
        let weekday = self.workdays.get(&date).copied().unwrap_or_else(|| Weekday::from(date.weekday()));
        self.weekly.get(&weekday).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The working spans of a local date as instants.
    fn working_spans(&self, date: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let midnight = date.and_time(NaiveTime::MIN);
        let at = move |seconds: u32| local_to_utc(self.tz, midnight + Duration::seconds(i64::from(seconds)));
        self.spans_of(date).iter().map(move |&(from, until)| (at(from), at(until)))
    }

    /// Whether `at` is within working hours.
    pub fn is_working(&self, at: DateTime<Utc>) -> bool {
        self.around_the_clock || self.next_working(at) == Some(at)
    }

    /// `at` when it is working time, otherwise the next start of working time (none within
    /// [`bounds::SEARCH_DAYS`]).
    pub fn next_working(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.around_the_clock {
            return Some(at);
        }
        let first = at.with_timezone(&self.tz).date_naive().pred_opt()?;
        for date in first.iter_days().take(bounds::SEARCH_DAYS as usize) {
            for (from, until) in self.working_spans(date) {
                if until > at {
                    return Some(from.max(at));
                }
            }
        }
        None
    }

    /// The instant `minutes` after `at`, counted on `clock` (in working time, always an
    /// instant within working hours); none when working time never accumulates that much
    /// within [`bounds::SEARCH_DAYS`] (then nothing is scheduled).
    pub fn after(&self, at: DateTime<Utc>, minutes: u32, clock: ClockKind) -> Option<DateTime<Utc>> {
        let wanted = Duration::minutes(i64::from(minutes));
        if clock == ClockKind::Wall || self.around_the_clock {
            return at.checked_add_signed(wanted);
        }
        let mut left = wanted;
        let first = at.with_timezone(&self.tz).date_naive().pred_opt()?;
        for date in first.iter_days().take(bounds::SEARCH_DAYS as usize) {
            for (from, until) in self.working_spans(date) {
                let from = from.max(at);
                if until <= from {
                    continue;
                }
                // Strictly inside a span, so what falls due does so in working time (an
                // exact fit moves to the start of the next span).
                let span = until - from;
                if span > left {
                    return Some(from + left);
                }
                left -= span;
            }
        }
        None
    }
}
