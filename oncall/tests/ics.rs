//! iCalendar in and out: a Chinese public-holiday file imports holidays and make-up
//! workdays; the shift feed parses with an independent parser (the `ical` crate).

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, NaiveDate, Utc};
use switchboard_oncall::ics::{feed, import_days, IcsError, MAX_ICS_BYTES};
use switchboard_oncall::{Schedule, Staffing};
use switchboard_schemas::oncall::{Handoff, Layer, OnCallSettings, ShiftLength, ShiftUnit};
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
    let text = feed("Ops 值班 on call, team ops", &shifts, from, from);
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

#[test]
fn a_shift_keeps_its_uid_as_the_window_moves_also_in_one_persons_feed() {
    let s = daily_turns_of_zhao_and_qian();
    let uids = |from: DateTime<Utc>, person: Option<&str>| {
        let until = from + chrono::Duration::days(4);
        let shifts: Vec<(String, _)> = s
            .shifts(&Staffing::default(), None, from, until, 100)
            .into_iter()
            .filter(|shift| person.is_none_or(|p| shift.staff.as_str() == p))
            .map(|shift| ("default".to_owned(), shift))
            .collect();
        let text = feed("ops", &shifts, from, from);
        let calendar = ical::IcalParser::new(text.as_bytes()).next().unwrap().unwrap();
        calendar
            .events
            .iter()
            .map(|e| {
                let value = |name: &str| e.properties.iter().find(|p| p.name == name).and_then(|p| p.value.clone());
                (value("DTEND").unwrap(), value("UID").unwrap())
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    // Fetched at 05:00 UTC, when zhao's turn (cut at the window's start) runs, and again
    // two hours later: every shift in both keeps its UID, the cut one as much as the others.
    let early: DateTime<Utc> = "2026-12-07T05:00:00Z".parse().unwrap();
    let later = early + chrono::Duration::hours(2);
    for person in [None, Some("zhao"), Some("qian")] {
        let (a, b) = (uids(early, person), uids(later, person));
        let shared: Vec<_> = a.keys().filter(|end| b.contains_key(*end)).collect();
        assert!(shared.len() >= 2, "{person:?}: {a:?} {b:?}");
        for end in shared {
            assert_eq!(a[end], b[end], "{person:?}: the shift ending {end} keeps its UID");
        }
    }
    // In qian's own feed her first turn is not cut by the window: its UID is made from its
    // start, the same as in the team's feed.
    let team = uids(early, None);
    let hers = uids(early, Some("qian"));
    let (end, uid) = hers.iter().next().unwrap();
    assert_eq!(team[end], *uid);
    assert!(!uid.starts_with("until"), "{uid}");
}
