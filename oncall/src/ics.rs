//! iCalendar (RFC 5545) in and out: holidays and make-up workdays read from an `.ics` file
//! (the public-holiday calendars people already have), and shifts written as a feed that
//! calendar applications subscribe to.

use chrono::{DateTime, NaiveDate, Utc};
use switchboard_schemas::oncall::{CalendarDay, MakeUpDay, Weekday};

use crate::bounds;
use crate::schedule::Shift;

/// The largest `.ics` file read, in bytes.
pub const MAX_ICS_BYTES: usize = 1 << 20;

/// Why an `.ics` file cannot be read; nothing is imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcsError {
    /// Over [`MAX_ICS_BYTES`].
    #[error("the file has {0} bytes; at most {MAX_ICS_BYTES} are read")]
    TooLarge(usize),
    /// Not an iCalendar file.
    #[error("this is not an iCalendar file (it does not start with BEGIN:VCALENDAR)")]
    NotCalendar,
    /// An event whose start is not a date.
    #[error("line {line}: {reason}")]
    BadEvent {
        /// The (unfolded) line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// More days than a calendar holds.
    #[error("the file names more than {} days", bounds::MAX_DAYS)]
    TooManyDays,
}

/// The days an `.ics` file names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportedDays {
    /// Days off.
    pub holidays: Vec<CalendarDay>,
    /// Make-up workdays (调休): events whose summary says work (班, workday).
    pub workdays: Vec<MakeUpDay>,
}

/// Whether an event's summary marks a make-up workday rather than a day off, as Chinese
/// holiday calendars write them ("国庆节调休上班", "补班", "班").
fn is_workday(summary: &str) -> bool {
    let lower = summary.to_lowercase();
    summary.contains('班') || lower.contains("workday") || lower.contains("working day")
}

/// Unfolds content lines (a line starting with a space or tab continues the one before).
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix([' ', '\t']), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => lines.push(raw.to_owned()),
        }
    }
    lines
}

fn parse_date(value: &str) -> Option<NaiveDate> {
    let digits = value.get(..8)?;
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

fn unescape(value: &str) -> String {
    value.replace("\\n", "\n").replace("\\N", "\n").replace("\\,", ",").replace("\\;", ";").replace("\\\\", "\\")
}

/// Reads all-day events: each day of an event is a holiday, or a make-up workday when its
/// summary says so. Timed events are ignored (a calendar of holidays has none).
pub fn import_days(bytes: &[u8]) -> Result<ImportedDays, IcsError> {
    if bytes.len() > MAX_ICS_BYTES {
        return Err(IcsError::TooLarge(bytes.len()));
    }
    let text = String::from_utf8_lossy(bytes);
    let lines = unfold(text.trim_start_matches('\u{feff}'));
    if !lines.iter().find(|l| !l.trim().is_empty()).is_some_and(|l| l.trim().eq_ignore_ascii_case("BEGIN:VCALENDAR")) {
        return Err(IcsError::NotCalendar);
    }
    let mut days = ImportedDays::default();
    let mut event: Option<(Option<NaiveDate>, Option<NaiveDate>, String, usize)> = None;
    for (i, line) in lines.iter().enumerate() {
        let Some((head, value)) = line.split_once(':') else { continue };
        let (name, params) = head.split_once(';').unwrap_or((head, ""));
        match (name.to_ascii_uppercase().as_str(), &mut event) {
            ("BEGIN", None) if value.eq_ignore_ascii_case("VEVENT") => event = Some((None, None, String::new(), i + 1)),
            ("DTSTART", Some(e)) => {
                let all_day = params.split(';').any(|p| p.eq_ignore_ascii_case("VALUE=DATE")) || value.len() == 8;
                if all_day {
                    e.0 = Some(parse_date(value).ok_or_else(|| IcsError::BadEvent {
                        line: i + 1,
                        reason: format!("DTSTART {value:?} is not a date (YYYYMMDD)"),
                    })?);
                }
            }
            ("DTEND", Some(e)) => e.1 = parse_date(value),
            // Names are kept short: a summary is copied onto every day of its event.
            ("SUMMARY", Some(e)) => e.2 = unescape(value).chars().take(bounds::MAX_NOTE_CHARS).collect(),
            ("END", Some(_)) if value.eq_ignore_ascii_case("VEVENT") => {
                let Some((Some(start), end, summary, _)) = event.take() else { continue };
                // DTEND of an all-day event is exclusive; without one the event is one day.
                let end = end.filter(|&e| e > start).unwrap_or_else(|| start.succ_opt().unwrap_or(start));
                for date in start.iter_days().take_while(|d| *d < end).take(bounds::MAX_DAYS + 1) {
                    if is_workday(&summary) {
                        days.workdays.push(MakeUpDay { date, name: summary.clone(), hours_of: Weekday::Mon });
                    } else {
                        days.holidays.push(CalendarDay { date, name: summary.clone() });
                    }
                    if days.holidays.len() > bounds::MAX_DAYS || days.workdays.len() > bounds::MAX_DAYS {
                        return Err(IcsError::TooManyDays);
                    }
                }
            }
            _ => {}
        }
    }
    days.holidays.sort_by_key(|d| d.date);
    days.holidays.dedup_by_key(|d| d.date);
    days.workdays.sort_by_key(|d| d.date);
    days.workdays.dedup_by_key(|d| d.date);
    Ok(days)
}

/// Escapes a TEXT value (RFC 5545 §3.3.11).
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace(';', "\\;").replace(',', "\\,").replace('\n', "\\n")
}

/// Appends a content line folded at 75 octets, never inside a character (§3.1).
fn push_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Writes shifts as an iCalendar feed named `name`, with `made_at` as its DTSTAMP. A shift
/// spans what it spans uncut, however the window cut it, and its UID is made from its start,
/// so an event stays the same at every fetch and calendar applications update it rather
/// than duplicate it.
pub fn feed(name: &str, shifts: &[(String, Shift)], made_at: DateTime<Utc>) -> String {
    let mut out = String::new();
    for line in ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Switchboard//On call//EN", "CALSCALE:GREGORIAN"] {
        push_line(&mut out, line);
    }
    push_line(&mut out, &format!("X-WR-CALNAME:{}", escape(name)));
    for (schedule, shift) in shifts {
        push_line(&mut out, "BEGIN:VEVENT");
        push_line(
            &mut out,
            &format!(
                "UID:{}-{}-{}-{}@switchboard",
                stamp(shift.since),
                escape(schedule),
                escape(&shift.layer),
                shift.staff
            ),
        );
        push_line(&mut out, &format!("DTSTAMP:{}", stamp(made_at)));
        push_line(&mut out, &format!("DTSTART:{}", stamp(shift.since)));
        push_line(&mut out, &format!("DTEND:{}", stamp(shift.till)));
        let cover = if shift.override_id.is_some() { " (override 代班)" } else { "" };
        push_line(
            &mut out,
            &format!(
                "SUMMARY:{}",
                escape(&format!("值班 On call: {} — {schedule} / {}{cover}", shift.staff, shift.layer))
            ),
        );
        push_line(&mut out, "END:VEVENT");
    }
    push_line(&mut out, "END:VCALENDAR");
    out
}
