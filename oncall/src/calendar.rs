//! The team calendar: when people work, in the team's time zone, and time counted in
//! working minutes only.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use switchboard_schemas::oncall::{ClockKind, TeamCalendar, Weekday};

use crate::{bounds, few, in_years, OnCallError};

/// A validated team calendar in its time zone.
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: Tz,
    /// Working spans per weekday, sorted, as local times.
    weekly: BTreeMap<Weekday, Vec<(NaiveTime, NaiveTime)>>,
    holidays: BTreeMap<NaiveDate, String>,
    workdays: BTreeMap<NaiveDate, Weekday>,
    around_the_clock: bool,
}

/// The instant a local time names: the earlier of two in a fold; in a gap, the local time
/// moved later by the gap's length (as java.time does: 02:30 on the night Berlin's clocks go
/// forward is 03:30).
pub(crate) fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local).earliest() {
        Some(instant) => instant.with_timezone(&Utc),
        None => {
            // The offset in force before the gap (gaps last hours, not days).
            let before = local - Duration::days(1);
            let offset = tz.offset_from_utc_datetime(&before).fix();
            Utc.from_utc_datetime(&(local - Duration::seconds(i64::from(offset.local_minus_utc()))))
        }
    }
}

impl Calendar {
    /// Checks a calendar and resolves it in `tz`.
    pub fn new(calendar: &TeamCalendar, tz: Tz) -> Result<Self, OnCallError> {
        few("calendar.hours", calendar.hours.len(), bounds::MAX_HOUR_SPANS)?;
        few("calendar.holidays", calendar.holidays.len(), bounds::MAX_DAYS)?;
        few("calendar.workdays", calendar.workdays.len(), bounds::MAX_DAYS)?;
        let mut weekly: BTreeMap<Weekday, Vec<(NaiveTime, NaiveTime)>> = BTreeMap::new();
        for hours in &calendar.hours {
            if hours.until <= hours.from {
                return Err(OnCallError::InvertedSpan {
                    what: format!("calendar.hours ({})", hours.weekday),
                    from: hours.from.to_string(),
                    until: hours.until.to_string(),
                });
            }
            weekly.entry(hours.weekday).or_default().push((hours.from, hours.until));
        }
        for spans in weekly.values_mut() {
            spans.sort();
            // Overlapping spans are merged, so working time is never counted twice.
            let mut merged: Vec<(NaiveTime, NaiveTime)> = Vec::with_capacity(spans.len());
            for &(from, until) in spans.iter() {
                match merged.last_mut() {
                    Some(last) if from <= last.1 => last.1 = last.1.max(until),
                    _ => merged.push((from, until)),
                }
            }
            *spans = merged;
        }
        let mut holidays = BTreeMap::new();
        for day in &calendar.holidays {
            in_years("calendar.holidays[].date", day.date)?;
            holidays.insert(day.date, day.name.clone());
        }
        let mut workdays = BTreeMap::new();
        for day in &calendar.workdays {
            in_years("calendar.workdays[].date", day.date)?;
            workdays.insert(day.date, day.hours_of);
        }
        Ok(Self { tz, around_the_clock: calendar.hours.is_empty(), weekly, holidays, workdays })
    }

    /// The time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Whether the team works around the clock (no working hours set).
    pub fn around_the_clock(&self) -> bool {
        self.around_the_clock
    }

    /// The holiday on `date`, if it is one.
    pub fn holiday(&self, date: NaiveDate) -> Option<&str> {
        self.holidays.get(&date).map(String::as_str)
    }

    /// The working spans of a local date: none on a holiday, the hours of `hours_of` on a
    /// make-up workday, the weekday's hours otherwise.
    fn spans_of(&self, date: NaiveDate) -> &[(NaiveTime, NaiveTime)] {
        use chrono::Datelike;
        if self.holidays.contains_key(&date) {
            return &[];
        }
        let weekday = self.workdays.get(&date).copied().unwrap_or_else(|| Weekday::from(date.weekday()));
        self.weekly.get(&weekday).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The working spans of a local date as instants.
    fn working_spans(&self, date: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        self.spans_of(date).iter().map(move |&(from, until)| {
            (local_to_utc(self.tz, date.and_time(from)), local_to_utc(self.tz, date.and_time(until)))
        })
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
    /// instant within working hours); `DateTime::MAX_UTC` when
    /// working time never accumulates that much within [`bounds::SEARCH_DAYS`].
    pub fn after(&self, at: DateTime<Utc>, minutes: u32, clock: ClockKind) -> DateTime<Utc> {
        let wanted = Duration::minutes(i64::from(minutes));
        if clock == ClockKind::Wall || self.around_the_clock {
            return at.checked_add_signed(wanted).unwrap_or(DateTime::<Utc>::MAX_UTC);
        }
        let mut left = wanted;
        let Some(first) = at.with_timezone(&self.tz).date_naive().pred_opt() else {
            return DateTime::<Utc>::MAX_UTC;
        };
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
                    return from + left;
                }
                left -= span;
            }
        }
        DateTime::<Utc>::MAX_UTC
    }

    /// The working minutes between two instants (wall minutes when the team works around
    /// the clock); statistics count response times with it.
    pub fn working_minutes(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> i64 {
        if until <= from {
            return 0;
        }
        if self.around_the_clock {
            return (until - from).num_minutes();
        }
        let mut total = Duration::zero();
        let Some(first) = from.with_timezone(&self.tz).date_naive().pred_opt() else { return 0 };
        for date in first.iter_days().take(bounds::SEARCH_DAYS as usize) {
            for (a, b) in self.working_spans(date) {
                let (a, b) = (a.max(from), b.min(until));
                if b > a {
                    total += b - a;
                }
            }
            if local_to_utc(self.tz, date.and_time(NaiveTime::MIN)) > until {
                break;
            }
        }
        total.num_minutes()
    }
}
