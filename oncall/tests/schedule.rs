//! Given/when/then tests of who is on call, routing, the calendar and working time.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use switchboard_oncall::{from_roster, OnCallError, Schedule, Staffing};
use switchboard_schemas::event::Roster;
use switchboard_schemas::oncall::{
    CalendarDay, ClockKind, EscalationStep, EscalationTarget, Handoff, Layer, MakeUpDay, OnCallOverride,
    OnCallSettings, ShiftLength, ShiftUnit, TeamCalendar, TimeOff, Weekday, WorkingHours,
};
use switchboard_schemas::StaffId;
use uuid::Uuid;

fn staff(id: &str) -> StaffId {
    StaffId::new(id).unwrap()
}

fn people(ids: &[&str]) -> Vec<StaffId> {
    ids.iter().map(|id| staff(id)).collect()
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn time(text: &str) -> NaiveTime {
    text.parse().unwrap()
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn layer(name: &str, ids: &[&str], days: u16, handoff: &str, starts_on: &str) -> Layer {
    Layer {
        name: name.to_owned(),
        participants: people(ids),
        shift: ShiftLength { count: days, unit: ShiftUnit::Days },
        handoff: Handoff { weekday: None, time: time(handoff) },
        starts_on: date(starts_on),
    }
}

fn schedule(zone: &str, default: Vec<Layer>) -> Schedule {
    Schedule::new(OnCallSettings { time_zone: zone.to_owned(), default, ..OnCallSettings::default() }).unwrap()
}

fn primary(s: &Schedule, staffing: &Staffing, at: &str) -> Option<String> {
    s.on_call(staffing, None, utc(at)).layers[0].on_call.as_ref().map(|p| p.as_str().to_owned())
}

/// The old roster's rule, as it was: the number of whole weeks since Monday 1970-01-05
/// 00:00 UTC, modulo the rotation's length.
fn old_roster_answer(roster: &Roster, category: Option<&str>, at: DateTime<Utc>) -> Option<StaffId> {
    let rotation = category.and_then(|c| roster.categories.get(c)).filter(|l| !l.is_empty()).unwrap_or(&roster.default);
    if rotation.is_empty() {
        return None;
    }
    let epoch = Utc.with_ymd_and_hms(1970, 1, 5, 0, 0, 0).unwrap();
    let week = (at - epoch).num_weeks().max(0) as usize;
    rotation.get(week % rotation.len()).cloned()
}

#[test]
fn an_old_roster_upcast_to_a_schedule_gives_the_same_answer_at_every_instant() {
    // Given the roster fixture of a team onboarded before schedules existed,
    let recorded: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/fixtures/v1/RosterUpdated.json")).unwrap();
    let roster: Roster = serde_json::from_value(recorded["payload"]["roster"].clone()).unwrap();
    assert!(!roster.default.is_empty() || !roster.categories.is_empty(), "the fixture names people");
    // when it is upcast,
    let s = Schedule::new(from_roster(&roster)).unwrap();
    let staffing = Staffing::default();
    let categories: Vec<Option<&str>> = std::iter::once(None)
        .chain(roster.categories.keys().map(|c| Some(c.as_str())))
        .chain([Some("unlisted")])
        .collect();
    // then every instant from 2020 to 2028 (every 5 hours, and each Monday handoff and the
    // second before it) gets today's answer.
    let mut at = utc("2020-01-01T00:00:00Z");
    let mut checked = 0;
    while at < utc("2028-01-01T00:00:00Z") {
        for category in &categories {
            assert_eq!(
                s.route(&staffing, *category, at),
                old_roster_answer(&roster, *category, at),
                "{category:?} at {at}"
            );
            checked += 1;
        }
        at += Duration::hours(5);
    }
    let mut monday = utc("2020-01-06T00:00:00Z");
    while monday < utc("2028-01-01T00:00:00Z") {
        for at in [monday - Duration::seconds(1), monday] {
            for category in &categories {
                assert_eq!(s.route(&staffing, *category, at), old_roster_answer(&roster, *category, at));
            }
        }
        monday += Duration::weeks(1);
    }
    assert!(checked > 10_000);
}

#[test]
fn turns_change_hands_at_the_exact_instant_of_the_handoff_in_the_team_zone() {
    // Given a daily rotation handed over at 09:00 Shanghai time, zhao first on 2026-12-07,
    let s = schedule("Asia/Shanghai", vec![layer("primary", &["zhao", "qian", "sun"], 1, "09:00", "2026-12-07")]);
    let none = Staffing::default();
    // then zhao is on call until 08:59:59 the next morning (01:00 UTC) and qian from 09:00,
    assert_eq!(primary(&s, &none, "2026-12-07T01:00:00Z").as_deref(), Some("zhao"));
    assert_eq!(primary(&s, &none, "2026-12-08T00:59:59Z").as_deref(), Some("zhao"));
    assert_eq!(primary(&s, &none, "2026-12-08T01:00:00Z").as_deref(), Some("qian"));
    // the day before the start belongs to the last in the order (turns run both ways),
    assert_eq!(primary(&s, &none, "2026-12-07T00:59:59Z").as_deref(), Some("sun"));
    // and "who is next" names the next person and the instant they take over.
    let now = s.on_call(&none, None, utc("2026-12-07T12:00:00Z"));
    assert_eq!(now.layers[0].until, Some(utc("2026-12-08T01:00:00Z")));
    assert_eq!(now.layers[0].next, Some(staff("qian")));
}

#[test]
fn a_weekly_handoff_weekday_moves_the_first_turn_to_that_day() {
    // Given weekly turns handed over on Wednesdays at 10:00, starting from Monday 2026-12-07,
    let mut l = layer("primary", &["zhao", "qian"], 7, "10:00", "2026-12-07");
    l.shift = ShiftLength { count: 1, unit: ShiftUnit::Weeks };
    l.handoff.weekday = Some(Weekday::Wed);
    let s = schedule("Asia/Shanghai", vec![l]);
    let none = Staffing::default();
    // then zhao's first turn starts on Wednesday 2026-12-09 10:00 local and qian's a week later.
    assert_eq!(primary(&s, &none, "2026-12-09T02:00:00Z").as_deref(), Some("zhao"));
    assert_eq!(primary(&s, &none, "2026-12-16T01:59:59Z").as_deref(), Some("zhao"));
    assert_eq!(primary(&s, &none, "2026-12-16T02:00:00Z").as_deref(), Some("qian"));
}

#[test]
fn handoffs_keep_their_local_time_across_daylight_saving_in_berlin() {
    // Given a daily rotation at 09:00 Berlin time over the spring change (2026-03-29),
    let s = schedule("Europe/Berlin", vec![layer("primary", &["anna", "ben"], 1, "09:00", "2026-03-27")]);
    let none = Staffing::default();
    // then the handoff is at 08:00 UTC in winter time and at 07:00 UTC in summer time.
    let before = s.on_call(&none, None, utc("2026-03-28T12:00:00Z"));
    assert_eq!(before.layers[0].until, Some(utc("2026-03-29T07:00:00Z")));
    let winter = s.on_call(&none, None, utc("2026-03-27T12:00:00Z"));
    assert_eq!(winter.layers[0].until, Some(utc("2026-03-28T08:00:00Z")));
    assert_eq!(primary(&s, &none, "2026-03-29T06:59:59Z").as_deref(), Some("ben"));
    assert_eq!(primary(&s, &none, "2026-03-29T07:00:00Z").as_deref(), Some("anna"));
    // And a handoff at 02:30, a time that does not exist that night, happens at 03:30 CEST.
    let s = schedule("Europe/Berlin", vec![layer("primary", &["anna", "ben"], 1, "02:30", "2026-03-28")]);
    let night = s.on_call(&none, None, utc("2026-03-28T12:00:00Z"));
    assert_eq!(night.layers[0].until, Some(utc("2026-03-29T01:30:00Z")));
    // In autumn 02:30 happens twice; the handoff is at the first (00:30 UTC).
    let s = schedule("Europe/Berlin", vec![layer("primary", &["anna", "ben"], 1, "02:30", "2026-10-24")]);
    let fold = s.on_call(&none, None, utc("2026-10-24T12:00:00Z"));
    assert_eq!(fold.layers[0].until, Some(utc("2026-10-25T00:30:00Z")));
}

/// A distinct id per call, without randomness.
fn fresh_id() -> Uuid {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    Uuid::from_u64_pair(0, NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

fn cover(layer: &str, who: &str, from: &str, until: &str) -> OnCallOverride {
    OnCallOverride {
        override_id: fresh_id(),
        category: None,
        layer: layer.to_owned(),
        staff: staff(who),
        from: utc(from),
        until: utc(until),
        note: "swap".to_owned(),
    }
}

#[test]
fn an_override_covers_inside_a_turn_and_across_a_handoff() {
    // Given a daily 09:00 rotation zhao, qian and li covering 2026-12-07 20:00 to
    // 2026-12-08 12:00 Shanghai time (across the 09:00 handoff),
    let s = schedule("Asia/Shanghai", vec![layer("primary", &["zhao", "qian"], 1, "09:00", "2026-12-07")]);
    let mut staffing = Staffing::default();
    let li = cover("primary", "li", "2026-12-07T12:00:00Z", "2026-12-08T04:00:00Z");
    staffing.check_override(&s, &li, utc("2026-12-01T00:00:00Z")).unwrap();
    staffing.overrides.insert(li.override_id, li.clone());
    // then zhao is on call until it starts, li during it on both sides of the handoff,
    assert_eq!(primary(&s, &staffing, "2026-12-07T11:59:59Z").as_deref(), Some("zhao"));
    assert_eq!(primary(&s, &staffing, "2026-12-07T12:00:00Z").as_deref(), Some("li"));
    assert_eq!(primary(&s, &staffing, "2026-12-08T01:00:00Z").as_deref(), Some("li"));
    // and qian from its end; "next" before it names li at its start.
    assert_eq!(primary(&s, &staffing, "2026-12-08T04:00:00Z").as_deref(), Some("qian"));
    let now = s.on_call(&staffing, None, utc("2026-12-07T10:00:00Z"));
    assert_eq!((now.layers[0].until, now.layers[0].next.clone()), (Some(li.from), Some(staff("li"))));
    let during = s.on_call(&staffing, None, utc("2026-12-08T02:00:00Z"));
    assert_eq!(during.layers[0].scheduled, Some(staff("qian")));
    assert_eq!(during.layers[0].override_id, Some(li.override_id));
    // The calendar shows the cut-in shifts.
    let shifts = s.shifts(&staffing, None, utc("2026-12-07T01:00:00Z"), utc("2026-12-09T01:00:00Z"), 100);
    let spans: Vec<(&str, DateTime<Utc>)> = shifts.iter().map(|s| (s.staff.as_str(), s.from)).collect();
    assert_eq!(
        spans,
        [
            ("zhao", utc("2026-12-07T01:00:00Z")),
            ("li", utc("2026-12-07T12:00:00Z")),
            ("qian", utc("2026-12-08T04:00:00Z")),
        ]
    );
    // An override over it, of the same layer, is refused.
    let clash = cover("primary", "sun", "2026-12-08T03:00:00Z", "2026-12-08T05:00:00Z");
    assert_eq!(
        staffing.check_override(&s, &clash, utc("2026-12-01T00:00:00Z")),
        Err(OnCallError::Overlap { other: li.override_id })
    );
}

#[test]
fn routing_passes_over_people_away_or_off_to_the_next_in_the_layer_then_the_next_layer() {
    // Given a primary layer zhao → qian and a secondary layer sun,
    let s = schedule(
        "Asia/Shanghai",
        vec![
            layer("primary", &["zhao", "qian"], 7, "09:00", "2026-12-07"),
            layer("secondary", &["sun"], 7, "09:00", "2026-12-07"),
        ],
    );
    let at = utc("2026-12-08T03:00:00Z");
    let mut staffing = Staffing::default();
    assert_eq!(s.route(&staffing, None, at), Some(staff("zhao")));
    // when zhao marks themselves away, qian gets it;
    staffing.away.insert(staff("zhao"));
    assert_eq!(s.route(&staffing, None, at), Some(staff("qian")));
    // when qian is also off that day, the secondary layer's sun;
    let off = TimeOff {
        time_off_id: fresh_id(),
        staff: staff("qian"),
        from: utc("2026-12-08T00:00:00Z"),
        until: utc("2026-12-09T00:00:00Z"),
        note: String::new(),
    };
    staffing.time_off.insert(off.time_off_id, off);
    assert_eq!(s.route(&staffing, None, at), Some(staff("sun")));
    // the next day qian is back.
    assert_eq!(s.route(&staffing, None, utc("2026-12-09T03:00:00Z")), Some(staff("qian")));
    // An override's coverer away: the scheduled person again, before the next in turn.
    let mut covered = Staffing::default();
    let li = cover("primary", "li", "2026-12-08T00:00:00Z", "2026-12-09T00:00:00Z");
    covered.overrides.insert(li.override_id, li);
    assert_eq!(s.route(&covered, None, at), Some(staff("li")));
    covered.away.insert(staff("li"));
    assert_eq!(s.route(&covered, None, at), Some(staff("zhao")));
    // With everybody away, nobody.
    staffing.away.insert(staff("sun"));
    assert_eq!(s.route(&staffing, None, at), None);
    // An escalation to "the next layer" from zhao names sun, passing over those notified.
    let staffing = Staffing::default();
    assert_eq!(s.next_layer(&staffing, None, at, Some(&staff("zhao")), &[]), Some(staff("sun")));
    assert_eq!(s.next_layer(&staffing, None, at, Some(&staff("zhao")), &[staff("sun")]), None);
}

#[test]
fn a_category_without_layers_of_its_own_uses_the_default_schedule() {
    let mut settings = OnCallSettings {
        default: vec![layer("primary", &["zhao"], 7, "09:00", "2026-12-07")],
        ..OnCallSettings::default()
    };
    settings.categories.insert("payment".to_owned(), vec![layer("primary", &["qian"], 7, "09:00", "2026-12-07")]);
    let s = Schedule::new(settings).unwrap();
    let at = utc("2026-12-08T03:00:00Z");
    let none = Staffing::default();
    assert_eq!(s.route(&none, Some("payment"), at), Some(staff("qian")));
    assert_eq!(s.route(&none, Some("prizes"), at), Some(staff("zhao")));
    assert_eq!(s.on_call(&none, Some("payment"), at).schedule.as_deref(), Some("payment"));
    assert_eq!(s.on_call(&none, Some("prizes"), at).schedule, None);
}

/// Mon–Fri 09:00–12:00 and 13:00–18:00 Shanghai, National Day (2026-10-01..07) off, and
/// the make-up workdays Sunday 2026-09-27 and Saturday 2026-10-10.
fn china_office() -> Schedule {
    let mut hours = Vec::new();
    for weekday in [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri] {
        hours.push(WorkingHours { weekday, from: time("09:00"), until: time("12:00") });
        hours.push(WorkingHours { weekday, from: time("13:00"), until: time("18:00") });
    }
    let holidays =
        (1..=7).map(|d| CalendarDay { date: date(&format!("2026-10-0{d}")), name: "国庆节".into() }).collect();
    let workdays = vec![
        MakeUpDay { date: date("2026-09-27"), name: "国庆节调休上班".into(), hours_of: Weekday::Mon },
        MakeUpDay { date: date("2026-10-10"), name: "国庆节调休上班".into(), hours_of: Weekday::Fri },
    ];
    Schedule::new(OnCallSettings { calendar: TeamCalendar { hours, holidays, workdays }, ..OnCallSettings::default() })
        .unwrap()
}

#[test]
fn holidays_are_off_and_make_up_workdays_are_worked() {
    let s = china_office();
    let calendar = s.calendar();
    // A Tuesday at 10:00 local is working time; its lunch hour and evening are not.
    assert!(calendar.is_working(utc("2026-09-29T02:00:00Z")));
    assert!(!calendar.is_working(utc("2026-09-29T04:30:00Z")));
    assert!(!calendar.is_working(utc("2026-09-29T10:00:00Z")));
    // Thursday 2026-10-01 is a holiday; Sunday 2026-09-27 and Saturday 2026-10-10 are worked.
    assert!(!calendar.is_working(utc("2026-10-01T02:00:00Z")));
    assert!(calendar.is_working(utc("2026-09-27T02:00:00Z")));
    assert!(calendar.is_working(utc("2026-10-10T02:00:00Z")));
    assert!(!calendar.is_working(utc("2026-10-11T02:00:00Z")));
    // After Wednesday 2026-09-30 18:00 people are back on Thursday 2026-10-08 09:00.
    assert_eq!(calendar.next_working(utc("2026-09-30T10:00:00Z")), Some(utc("2026-10-08T01:00:00Z")));
}

#[test]
fn working_hours_may_run_to_midnight() {
    let hours = vec![WorkingHours { weekday: Weekday::Mon, from: time("18:00"), until: time("00:00") }];
    let s = Schedule::new(OnCallSettings {
        calendar: TeamCalendar { hours, ..TeamCalendar::default() },
        ..OnCallSettings::default()
    })
    .unwrap();
    // Monday 2026-12-07 23:59 Shanghai is working time, Tuesday 00:00 is not.
    assert!(s.calendar().is_working(utc("2026-12-07T15:59:00Z")));
    assert!(!s.calendar().is_working(utc("2026-12-07T16:00:00Z")));
    assert_eq!(s.after(utc("2026-12-07T15:50:00Z"), 20, ClockKind::Working), Some(utc("2026-12-14T10:10:00Z")));
}

#[test]
fn working_time_skips_nights_lunch_weekends_and_holidays() {
    let s = china_office();
    // 30 working minutes from Friday 2026-09-25 17:45 local: 15 that day, 15 on the
    // make-up Sunday 2026-09-27 from 09:00.
    assert_eq!(s.after(utc("2026-09-25T09:45:00Z"), 30, ClockKind::Working), Some(utc("2026-09-27T01:15:00Z")));
    // 60 minutes from 11:30 on a Tuesday: 30 before lunch, 30 after it.
    assert_eq!(s.after(utc("2026-09-29T03:30:00Z"), 60, ClockKind::Working), Some(utc("2026-09-29T05:30:00Z")));
    // On the wall clock, the plain sum.
    assert_eq!(s.after(utc("2026-09-29T03:30:00Z"), 60, ClockKind::Wall), Some(utc("2026-09-29T04:30:00Z")));
    // Ten minutes asked during the holiday fall due on the first day back.
    assert_eq!(s.after(utc("2026-10-03T02:00:00Z"), 10, ClockKind::Working), Some(utc("2026-10-08T01:10:00Z")));
}

#[test]
fn bad_set_ups_are_refused_with_what_to_fix() {
    let base = || OnCallSettings {
        default: vec![layer("primary", &["zhao"], 1, "09:00", "2026-12-07")],
        ..OnCallSettings::default()
    };
    let refused = |settings: OnCallSettings| Schedule::new(settings).unwrap_err();
    assert_eq!(
        refused(OnCallSettings { time_zone: "Mars/Olympus".into(), ..base() }),
        OnCallError::UnknownTimeZone("Mars/Olympus".into())
    );
    let mut twice = base();
    twice.default.push(twice.default[0].clone());
    assert!(matches!(refused(twice), OnCallError::DuplicateLayer { .. }));
    let mut no_wait = base();
    no_wait.escalation.steps = vec![EscalationStep { notify: vec![EscalationTarget::Assignee], wait_minutes: 0 }];
    assert_eq!(refused(no_wait), OnCallError::StepWithoutWait { step: 0 });
    let mut inverted = base();
    inverted.calendar.hours = vec![WorkingHours { weekday: Weekday::Mon, from: time("18:00"), until: time("09:00") }];
    assert!(matches!(refused(inverted), OnCallError::InvertedSpan { .. }));
    let mut long_shift = base();
    long_shift.default[0].shift = ShiftLength { count: 60, unit: ShiftUnit::Weeks };
    assert!(matches!(refused(long_shift), OnCallError::OutOfBounds(_)));
    let mut crowded = base();
    crowded.default[0].participants = (0..101).map(|i| staff(&format!("p{i}"))).collect();
    assert!(matches!(refused(crowded), OnCallError::OutOfBounds(_)));
    let mut far = base();
    far.default[0].starts_on = date("2300-01-01");
    assert!(matches!(refused(far), OnCallError::OutOfBounds(_)));
    // A day both off and worked, and a make-up day with the hours of a day without any.
    let day = |d: &str| CalendarDay { date: date(d), name: String::new() };
    let mut twice = base();
    twice.calendar.hours = vec![WorkingHours { weekday: Weekday::Mon, from: time("09:00"), until: time("18:00") }];
    twice.calendar.holidays = vec![day("2026-10-01")];
    twice.calendar.workdays = vec![MakeUpDay { date: date("2026-10-01"), name: String::new(), hours_of: Weekday::Mon }];
    assert_eq!(refused(twice.clone()), OnCallError::DayTwice { date: date("2026-10-01") });
    twice.calendar.holidays.clear();
    twice.calendar.workdays[0].hours_of = Weekday::Sat;
    assert!(matches!(refused(twice), OnCallError::NoHoursOf { .. }));
    // Overrides and time off: inverted, too long, of an unknown layer.
    let s = Schedule::new(base()).unwrap();
    let staffing = Staffing::default();
    let inverted = cover("primary", "qian", "2026-12-08T00:00:00Z", "2026-12-07T00:00:00Z");
    assert!(matches!(
        staffing.check_override(&s, &inverted, utc("2026-12-01T00:00:00Z")),
        Err(OnCallError::InvertedSpan { .. })
    ));
    let long = cover("primary", "qian", "2026-01-01T00:00:00Z", "2027-06-01T00:00:00Z");
    assert!(matches!(
        staffing.check_override(&s, &long, utc("2026-12-01T00:00:00Z")),
        Err(OnCallError::OutOfBounds(_))
    ));
    let unknown = cover("tertiary", "qian", "2026-12-07T00:00:00Z", "2026-12-08T00:00:00Z");
    assert!(matches!(
        staffing.check_override(&s, &unknown, utc("2026-12-01T00:00:00Z")),
        Err(OnCallError::UnknownLayer { .. })
    ));
    let mut of_category = cover("primary", "qian", "2026-12-07T00:00:00Z", "2026-12-08T00:00:00Z");
    of_category.category = Some("payment".into());
    assert!(matches!(
        staffing.check_override(&s, &of_category, utc("2026-12-01T00:00:00Z")),
        Err(OnCallError::UnknownLayer { .. })
    ));
}
