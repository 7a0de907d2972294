//! Invariants of schedules and working time over arbitrary set-ups and instants.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use proptest::prelude::*;
use switchboard_oncall::{Schedule, Staffing};
use switchboard_schemas::oncall::{
    CalendarDay, ClockKind, Handoff, Layer, OnCallSettings, ShiftLength, ShiftUnit, TeamCalendar, Weekday, WorkingHours,
};
use switchboard_schemas::StaffId;

const ZONES: &[&str] = &["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC", "Australia/Lord_Howe"];

fn layer() -> impl Strategy<Value = Layer> {
    (1usize..6, 1u16..15, 0u32..24 * 4, 0i64..3000, proptest::option::of(0usize..7), any::<bool>()).prop_map(
        |(n, count, quarter, start, weekday, weeks)| Layer {
            name: "primary".into(),
            participants: (0..n).map(|i| StaffId::new(format!("p{i}")).unwrap()).collect(),
            shift: ShiftLength { count, unit: if weeks { ShiftUnit::Weeks } else { ShiftUnit::Days } },
            handoff: Handoff {
                weekday: weekday.map(|d| Weekday::ALL[d]),
                time: NaiveTime::from_hms_opt(quarter / 4, (quarter % 4) * 15, 0).unwrap(),
            },
            starts_on: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + Duration::days(start),
        },
    )
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..10 * 365 * 24 * 3600).prop_map(|s| Utc.with_ymd_and_hms(2019, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(s))
}

fn calendar() -> impl Strategy<Value = TeamCalendar> {
    let hours = proptest::collection::vec((0usize..7, 0u32..23, 1u32..12), 1..8).prop_map(|spans| {
        spans
            .into_iter()
            .map(|(d, from, len)| WorkingHours {
                weekday: Weekday::ALL[d],
                from: NaiveTime::from_hms_opt(from, 0, 0).unwrap(),
                until: NaiveTime::from_hms_opt((from + len).min(23), 59, 0).unwrap(),
            })
            .collect::<Vec<_>>()
    });
    let holidays = proptest::collection::vec(0i64..3650, 0..30).prop_map(|days| {
        days.into_iter()
            .map(|d| CalendarDay {
                date: NaiveDate::from_ymd_opt(2019, 1, 1).unwrap() + Duration::days(d),
                name: String::new(),
            })
            .collect::<Vec<_>>()
    });
    (hours, holidays).prop_map(|(hours, holidays)| TeamCalendar { hours, holidays, workdays: Vec::new() })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    /// With a non-empty layer exactly one person is on call at every instant: the primary
    /// is someone from the rotation, the turn holds the instant, and it lasts until the
    /// next change, when the turn after it begins.
    #[test]
    fn a_non_empty_layer_has_exactly_one_primary_at_every_instant(l in layer(), zone in 0..ZONES.len(), at in instant()) {
        let s = Schedule::new(OnCallSettings { time_zone: ZONES[zone].into(), default: vec![l.clone()], ..OnCallSettings::default() }).unwrap();
        let none = Staffing::default();
        let now = s.on_call(&none, None, at);
        let layer = &now.layers[0];
        let primary = layer.on_call.clone().expect("somebody is on call");
        prop_assert!(l.participants.contains(&primary));
        let until = layer.until.expect("a turn ends");
        prop_assert!(until > at);
        // Just before the change the same person, at the change the next one.
        let last = s.on_call(&none, None, until - Duration::seconds(1)).layers[0].on_call.clone();
        prop_assert_eq!(last, Some(primary));
        prop_assert_eq!(s.on_call(&none, None, until).layers[0].on_call.clone(), layer.next.clone());
        // The calendar agrees: one shift holds the instant.
        let shifts = s.shifts(&none, None, at - Duration::days(30), at + Duration::days(30), 10_000);
        prop_assert_eq!(shifts.iter().filter(|s| s.from <= at && at < s.until).count(), 1);
    }

    /// Working-time arithmetic never counts closed hours: counting minute by minute from an
    /// instant to "N working minutes later", exactly N of them are working time, and the
    /// result lies in working time.
    #[test]
    fn working_time_targets_never_count_closed_hours(cal in calendar(), zone in 0..ZONES.len(), at in instant(), minutes in 1u32..600) {
        let s = Schedule::new(OnCallSettings { time_zone: ZONES[zone].into(), calendar: cal, ..OnCallSettings::default() }).unwrap();
        let at = at - Duration::seconds(at.timestamp().rem_euclid(60));
        let Some(due) = s.after(at, minutes, ClockKind::Working) else { return Ok(()) };
        prop_assume!(due - at < Duration::days(20));
        let counted = (0..(due - at).num_minutes()).filter(|m| s.calendar().is_working(at + Duration::minutes(*m))).count();
        prop_assert_eq!(counted, minutes as usize);
        prop_assert!(s.calendar().is_working(due));
    }
}
