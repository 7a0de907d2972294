//! iCalendar in and out: a Chinese public-holiday file imports holidays and make-up
//! workdays; the shift feed parses with an independent parser (the `ical` crate).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use switchboard_oncall::ics::{feed, import_days, IcsError, MAX_ICS_BYTES};
use switchboard_oncall::{Schedule, Staffing};
use switchboard_schemas::oncall::{Handoff, Layer, OnCallOverride, OnCallSettings, ShiftLength, ShiftUnit, Weekday};
use switchboard_schemas::StaffId;

const HOLIDAYS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//CN Holidays//ZH\r\n\
BEGIN:VEVENT\r\nUID:nd@example\r\nDTSTART;VALUE=DATE:20261001\r\nDTEND;VALUE=DATE:20261008\r\nSUMMARY:国庆节\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:nd-work@example\r\nDTSTART;VALUE=DATE:20260927\r\nSUMMARY:国庆节调休\r\n 上班\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:meeting@example\r\nDTSTART:20261012T020000Z\r\nDTEND:20261012T030000Z\r\nSUMMARY:Retro\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:review@example\r\nDTSTART;VALUE=DATE-TIME:20261013T020000Z\r\nSUMMARY:Review\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

#[test]
fn a_holiday_file_imports_days_off_and_make_up_workdays() {
    let days = import_days(HOLIDAYS.as_bytes()).unwrap();
    let holidays: Vec<NaiveDate> = days.holidays.iter().map(|d| d.date).collect();
    assert_eq!(holidays, (1..=7).map(|d| date(&format!("2026-10-0{d}"))).collect::<Vec<_>>());
    assert_eq!(days.holidays[0].name, "国庆节");
    // The folded summary is unfolded, and its 班 makes the Sunday a workday.
    assert_eq!(days.workdays.len(), 1);
    assert_eq!((days.workdays[0].date, days.workdays[0].name.as_str()), (date("2026-09-27"), "国庆节调休上班"));
}

#[test]
fn what_is_not_a_calendar_is_refused() {
    assert_eq!(import_days(b"<html>hello</html>"), Err(IcsError::NotCalendar));
    assert_eq!(import_days(&vec![b' '; MAX_ICS_BYTES + 1]), Err(IcsError::TooLarge(MAX_ICS_BYTES + 1)));
    let bad = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:2026-13-45\nEND:VEVENT\nEND:VCALENDAR\n";
    assert!(matches!(import_days(bad.as_bytes()), Err(IcsError::BadEvent { line: 3, .. })));
    let mut many = String::from("BEGIN:VCALENDAR\n");
    many.push_str("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\nDTEND;VALUE=DATE:20280101\nSUMMARY:x\nEND:VEVENT\n");
    many.push_str("END:VCALENDAR\n");
    assert_eq!(import_days(many.as_bytes()), Err(IcsError::TooManyDays));
}

/// Daily turns of zhao and qian from 2026-12-07, handed over at 09:00 Shanghai (01:00 UTC).
fn daily_turns_of_zhao_and_qian() -> Schedule {
    Schedule::new(OnCallSettings {
        default: vec![Layer {
            name: "primary".into(),
            participants: vec![StaffId::new("zhao").unwrap(), StaffId::new("qian").unwrap()],
            shift: ShiftLength { count: 1, unit: ShiftUnit::Days },
            handoff: Handoff { weekday: None, time: "09:00".parse().unwrap() },
            starts_on: date("2026-12-07"),
        }],
        ..OnCallSettings::default()
    })
    .unwrap()
}

#[test]
fn the_shift_feed_parses_with_an_independent_parser() {
    let s = daily_turns_of_zhao_and_qian();
    let from: DateTime<Utc> = "2026-12-07T01:00:00Z".parse().unwrap();
    let until: DateTime<Utc> = "2026-12-10T01:00:00Z".parse().unwrap();
    let shifts: Vec<(String, _)> = s
        .shifts(&Staffing::default(), None, from, until, 100)
        .into_iter()
        .map(|s| ("default, 默认; x".to_owned(), s))
        .collect();
    let text = feed("Ops 值班 on call, team ops", &shifts, from);
    assert!(text.lines().all(|l| l.len() <= 76), "lines are folded at 75 octets");
    let mut parser = ical::IcalParser::new(text.as_bytes());
    let calendar = parser.next().expect("one calendar").expect("it parses");
    assert!(parser.next().is_none());
    assert_eq!(calendar.events.len(), 3);
    let value = |event: &ical::parser::ical::component::IcalEvent, name: &str| {
        event.properties.iter().find(|p| p.name == name).and_then(|p| p.value.clone()).unwrap()
    };
    let starts: Vec<String> = calendar.events.iter().map(|e| value(e, "DTSTART")).collect();
    assert_eq!(starts, ["20261207T010000Z", "20261208T010000Z", "20261209T010000Z"]);
    assert_eq!(value(&calendar.events[1], "DTEND"), "20261209T010000Z");
    assert!(value(&calendar.events[1], "SUMMARY").contains("qian"));
    let uids: std::collections::BTreeSet<String> = calendar.events.iter().map(|e| value(e, "UID")).collect();
    assert_eq!(uids.len(), 3, "every shift has its own UID");
}

/// The events of a feed of `s`'s shifts over four days from `from`: UID, DTSTART and DTEND of
/// each, only `person`'s when one is given.
fn feed_events(
    s: &Schedule,
    staffing: &Staffing,
    from: DateTime<Utc>,
    person: Option<&str>,
) -> Vec<(String, String, String)> {
    let shifts: Vec<(String, _)> = s
        .shifts(staffing, None, from, from + chrono::Duration::days(4), 100)
        .into_iter()
        .filter(|shift| person.is_none_or(|p| shift.staff.as_str() == p))
        .map(|shift| ("default".to_owned(), shift))
        .collect();
    let text = feed("ops", &shifts, from);
    let calendar = ical::IcalParser::new(text.as_bytes()).next().unwrap().unwrap();
    let value = |e: &ical::parser::ical::component::IcalEvent, name: &str| {
        e.properties.iter().find(|p| p.name == name).and_then(|p| p.value.clone()).unwrap()
    };
    calendar.events.iter().map(|e| (value(e, "UID"), value(e, "DTSTART"), value(e, "DTEND"))).collect()
}

/// Checks that across fetches every UID keeps its start and end and every start its UID,
/// and returns the spans seen, start to end.
fn uids_stay(fetches: impl Iterator<Item = Vec<(String, String, String)>>) -> BTreeMap<String, String> {
    let (mut span_of, mut uid_of, mut spans) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for (uid, start, end) in fetches.flatten() {
        let span = (start.clone(), end.clone());
        assert_eq!(span_of.entry(uid.clone()).or_insert_with(|| span.clone()), &span, "{uid} moved");
        assert_eq!(uid_of.entry(start.clone()).or_insert_with(|| uid.clone()), &uid, "a new UID for {start}");
        spans.insert(start, end);
    }
    spans
}

#[test]
fn a_shift_keeps_its_uid_and_start_at_every_fetch_also_in_one_persons_feed() {
    let s = daily_turns_of_zhao_and_qian();
    let none = Staffing::default();
    // Fetched every hour over two days, the window cutting turns at both ends: each turn is
    // one event with one UID, in the team's feed and in each person's.
    let early: DateTime<Utc> = "2026-12-07T05:00:00Z".parse().unwrap();
    let hours = || (0..48).map(|h| early + chrono::Duration::hours(h));
    let team = uids_stay(hours().map(|from| feed_events(&s, &none, from, None)));
    assert_eq!(team.len(), 7, "the turns from 12-07 to 12-13: {team:?}");
    let first = team.iter().next().map(|(start, end)| (start.as_str(), end.as_str()));
    assert_eq!(first, Some(("20261207T010000Z", "20261208T010000Z")), "a cut turn spans its whole day");
    for person in ["zhao", "qian"] {
        let theirs = uids_stay(hours().map(|from| feed_events(&s, &none, from, Some(person))));
        let both = uids_stay(
            hours().flat_map(|from| [feed_events(&s, &none, from, Some(person)), feed_events(&s, &none, from, None)]),
        );
        assert!(
            theirs.iter().all(|(start, end)| both.get(start) == Some(end)) && theirs.len() >= 3,
            "{person}: {theirs:?}"
        );
    }
}

#[test]
fn a_one_person_layer_and_an_override_longer_than_the_window_keep_their_uids() {
    // zhao alone, a week a turn from Monday 09:00 Shanghai; sun covers sixteen days across
    // two handoffs, longer than the four-day window.
    let s = Schedule::new(OnCallSettings {
        default: vec![Layer {
            name: "primary".into(),
            participants: vec![StaffId::new("zhao").unwrap()],
            shift: ShiftLength { count: 1, unit: ShiftUnit::Weeks },
            handoff: Handoff { weekday: Some(Weekday::Mon), time: "09:00".parse().unwrap() },
            starts_on: date("2026-12-07"),
        }],
        ..OnCallSettings::default()
    })
    .unwrap();
    let mut staffing = Staffing::default();
    let cover = OnCallOverride {
        override_id: uuid::Uuid::from_u128(7),
        category: None,
        layer: "primary".into(),
        staff: StaffId::new("sun").unwrap(),
        from: "2026-12-09T00:00:00Z".parse().unwrap(),
        until: "2026-12-25T00:00:00Z".parse().unwrap(),
        note: "swap".into(),
    };
    staffing.overrides.insert(cover.override_id, cover);
    // Fetched every six hours for three and a half weeks:
    let first: DateTime<Utc> = "2026-12-06T00:00:00Z".parse().unwrap();
    let starts =
        uids_stay((0..4 * 24).map(|i| feed_events(&s, &staffing, first + chrono::Duration::hours(6 * i), None)));
    // zhao's turns from their handoffs, sun's cover over its whole span (one event over both
    // handoffs), zhao again from its end, and his next turn, each whole.
    assert_eq!(
        starts.iter().map(|(start, end)| (start.as_str(), end.as_str())).collect::<Vec<_>>(),
        [
            ("20261130T010000Z", "20261207T010000Z"),
            ("20261207T010000Z", "20261209T000000Z"),
            ("20261209T000000Z", "20261225T000000Z"),
            ("20261225T000000Z", "20261228T010000Z"),
            ("20261228T010000Z", "20270104T010000Z"),
        ]
    );
}

#[test]
fn feed_events_hold_across_daylight_saving_and_an_override_ending_at_a_handoff() {
    // Daily turns of zhao and qian at 09:00 Berlin, through the end of summer time on
    // 2026-10-25 (UTC+2, then UTC+1); sun covers from midday UTC on the 24th to the handoff
    // of the 25th exactly, and an override of another schedule changes nothing here.
    let s = Schedule::new(OnCallSettings {
        time_zone: "Europe/Berlin".into(),
        default: vec![Layer {
            name: "primary".into(),
            participants: vec![StaffId::new("zhao").unwrap(), StaffId::new("qian").unwrap()],
            shift: ShiftLength { count: 1, unit: ShiftUnit::Days },
            handoff: Handoff { weekday: None, time: "09:00".parse().unwrap() },
            starts_on: date("2026-10-23"),
        }],
        ..OnCallSettings::default()
    })
    .unwrap();
    let mut staffing = Staffing::default();
    let cover = |n: u128, category: Option<&str>, from: &str, until: &str| OnCallOverride {
        override_id: uuid::Uuid::from_u128(n),
        category: category.map(str::to_owned),
        layer: "primary".into(),
        staff: StaffId::new("sun").unwrap(),
        from: from.parse().unwrap(),
        until: until.parse().unwrap(),
        note: String::new(),
    };
    for o in [
        cover(1, None, "2026-10-24T12:00:00Z", "2026-10-25T08:00:00Z"),
        cover(2, Some("billing"), "2026-10-26T00:00:00Z", "2026-10-27T00:00:00Z"),
    ] {
        staffing.overrides.insert(o.override_id, o);
    }
    let first: DateTime<Utc> = "2026-10-23T08:00:00Z".parse().unwrap();
    let spans = uids_stay((0..48).map(|h| feed_events(&s, &staffing, first + chrono::Duration::hours(h), None)));
    assert_eq!(
        spans.iter().map(|(start, end)| (start.as_str(), end.as_str())).collect::<Vec<_>>(),
        [
            ("20261023T070000Z", "20261024T070000Z"),
            ("20261024T070000Z", "20261024T120000Z"),
            ("20261024T120000Z", "20261025T080000Z"),
            ("20261025T080000Z", "20261026T080000Z"),
            ("20261026T080000Z", "20261027T080000Z"),
            ("20261027T080000Z", "20261028T080000Z"),
            ("20261028T080000Z", "20261029T080000Z"),
        ]
    );
}
