//! The bounds on every value a team admin sets, in one place: the documents' JSON Schema
//! declares them (so the API document says what the server accepts) and the engine and the
//! on-call crate enforce them with the checks below (so no team can overflow the engine's
//! time arithmetic or make the instance do unbounded work for it).

use std::fmt::Display;
use std::ops::RangeInclusive;

// Team settings, and what a team enters besides (messages, FAQs, WeCom and web addresses).

/// The longest silence before a re-confirmation, and before a stale close: 30 days.
pub const MAX_TIMER_SECS: u64 = 30 * 24 * 3600;
/// The longest message a team may accept, in characters.
pub const MAX_MESSAGE_CHARS: u32 = 20_000;
/// Most choices offered at once (a reply is one digit).
pub const MAX_CHOICES: u8 = 9;
/// The lowest target precision of automatic answers a team may set: below it a guess would
/// do as well.
pub const MIN_TARGET_PRECISION: f32 = 0.5;
/// The highest: above it no team has the outcomes to show the target is met.
pub const MAX_TARGET_PRECISION: f32 = 0.99;
/// Most words with which an operator asks for a person.
pub const MAX_HUMAN_KEYWORDS: usize = 50;
/// Longest such word, in characters.
pub const MAX_KEYWORD_CHARS: usize = 32;
/// Most fields collected before matching.
pub const MAX_REQUIRED_FIELDS: usize = 10;
/// Longest field key, in characters.
pub const MAX_FIELD_KEY_CHARS: usize = 64;
/// Longest prompt, pattern or text Switchboard sends, in characters.
pub const MAX_TEXT_CHARS: usize = 1_000;
/// The most memory one compiled field pattern may take, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1 << 20;
/// Most sessions per page of the console's session list.
pub const MAX_PAGE_SIZE: u32 = 500;
/// The slowest refresh of the console's session list, in seconds.
pub const MAX_REFRESH_SECS: u32 = 3_600;
/// Longest message id (a client's idempotency key), in bytes.
pub const MAX_MESSAGE_ID_BYTES: usize = 128;
/// Most FAQ entries in one team's catalog.
pub const MAX_FAQS: usize = 20_000;
/// Longest FAQ question or paraphrase, in characters.
pub const MAX_QUESTION_CHARS: usize = 1_000;
/// Longest FAQ answer, in characters (as long as the longest message).
pub const MAX_ANSWER_CHARS: usize = MAX_MESSAGE_CHARS as usize;
/// Most paraphrases of one FAQ entry; learning stops there.
pub const MAX_PARAPHRASES: usize = 100;
/// Longest WeCom CorpID or receive id, in characters.
pub const MAX_WECOM_ID_CHARS: usize = 64;
/// Longest address a team enters (webhook, WeCom API base, console link), in bytes.
pub const MAX_URL_BYTES: usize = 2_048;
/// Longest WeCom application Secret, in characters (WeCom's are 43).
pub const MAX_APP_SECRET_CHARS: usize = 256;
/// Most FAQ candidates named in one approval or dismissal: the most a group holds (the
/// questions read for grouping). The body limit (`http.max_body_bytes`, 64 KiB by default:
/// about 1,680 ids) may bind first.
pub const MAX_NAMED_CANDIDATES: usize = 10_000;
/// Most event types one webhook asks for.
pub const MAX_WEBHOOK_EVENT_TYPES: usize = 100;
/// Longest media id a channel gives an attachment (WeCom's are about 60), in bytes.
pub const MAX_MEDIA_ID_BYTES: usize = 256;
/// Longest file name kept with an attachment, in characters (longer ones are cut).
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// The largest attachment any team may accept, in bytes: WeCom's own limit for files.
pub const MAX_ATTACHMENT_BYTES: u64 = 20 * 1024 * 1024;
/// The longest a team may keep attachments, in days (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3_650;
/// Longest team name, in characters.
pub const MAX_TEAM_NAME_CHARS: usize = 100;
/// Longest label of an access key or a webhook, in characters.
pub const MAX_LABEL_CHARS: usize = 100;

// The on-call set-up.

/// Most layers in one schedule.
pub const MAX_LAYERS: usize = 5;
/// Longest layer name, in characters.
pub const MAX_LAYER_NAME_CHARS: usize = 32;
/// Most people in one rotation (a layer, or a category of the old roster).
pub const MAX_PARTICIPANTS: usize = 100;
/// Most categories with schedules (or targets) of their own.
pub const MAX_CATEGORIES: usize = 100;
/// Longest category name, in characters.
pub const MAX_CATEGORY_CHARS: usize = 64;
/// The longest turn, in days.
pub const MAX_SHIFT_DAYS: u32 = 366;
/// Most spans of working hours in a week.
pub const MAX_HOUR_SPANS: usize = 28;
/// Most holidays, and most make-up workdays, in a calendar.
pub const MAX_DAYS: usize = 400;
/// Most escalation steps.
pub const MAX_STEPS: usize = 10;
/// Most targets one step notifies (each kind once).
pub const MAX_NOTIFY: usize = 4;
/// The longest wait of a step and the longest target, in minutes (30 days).
pub const MAX_MINUTES: u32 = 30 * 24 * 60;
/// Most team leads.
pub const MAX_LEADS: usize = 20;
/// Most overrides and most time-off entries a team has at once.
pub const MAX_SPANS: usize = 500;
/// The longest override or time off, in days.
pub const MAX_SPAN_DAYS: i64 = 366;
/// Longest note on an override or a time off, or name of a calendar day, in characters.
pub const MAX_NOTE_CHARS: usize = 200;
/// Dates and instants a team may name lie in these years.
pub const YEARS: RangeInclusive<i32> = 1970..=2199;
/// [`YEARS`] as a pattern on a date's text, for the schemas (tested against the range).
pub const YEARS_PATTERN: &str = "^(19[7-9][0-9]|2[01][0-9]{2})-";
/// How far ahead working time is searched (a calendar with no working day in that long
/// never lets anything fall due).
pub const SEARCH_DAYS: u32 = 400;

/// A value outside its bounds; nothing is recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} must be {expected} (got {got})")]
pub struct OutOfBounds {
    /// The setting, as spelled in the document.
    pub setting: String,
    /// What it may be.
    pub expected: String,
    /// What it was.
    pub got: String,
}

/// Refuses `got` unless it lies within `range`.
pub fn within<T: PartialOrd + Display>(setting: &str, got: T, range: RangeInclusive<T>) -> Result<(), OutOfBounds> {
    if range.contains(&got) {
        return Ok(());
    }
    Err(OutOfBounds {
        setting: setting.to_owned(),
        expected: format!("between {} and {}", range.start(), range.end()),
        got: got.to_string(),
    })
}

/// Refuses a count of `unit` (characters, entries) over `max`.
pub fn at_most(setting: &str, count: usize, max: usize, unit: &str) -> Result<(), OutOfBounds> {
    if count <= max {
        return Ok(());
    }
    Err(OutOfBounds {
        setting: setting.to_owned(),
        expected: format!("at most {max} {unit}"),
        got: format!("{count} {unit}"),
    })
}

/// Refuses a list longer than `max` entries.
pub fn few(setting: &str, len: usize, max: usize) -> Result<(), OutOfBounds> {
    at_most(setting, len, max, "entries")
}

/// Refuses a text longer than `max` characters.
pub fn short(setting: &str, text: &str, max: usize) -> Result<(), OutOfBounds> {
    at_most(setting, text.chars().count(), max, "characters")
}

/// Refuses a date outside [`YEARS`].
pub fn in_years(setting: &str, date: chrono::NaiveDate) -> Result<(), OutOfBounds> {
    use chrono::Datelike;
    if YEARS.contains(&date.year()) {
        return Ok(());
    }
    Err(OutOfBounds {
        setting: setting.to_owned(),
        expected: format!("a date in the years {} to {}", YEARS.start(), YEARS.end()),
        got: date.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_accepts_its_bound_and_refuses_one_past_it() {
        assert!(within("x", 5, 1..=5).is_ok());
        assert_eq!(within("x", 6, 1..=5).unwrap_err().to_string(), "x must be between 1 and 5 (got 6)");
        assert!(within("x", 0, 1..=5).is_err());
        assert!(few("list", 3, 3).is_ok());
        assert_eq!(few("list", 4, 3).unwrap_err().to_string(), "list must be at most 3 entries (got 4 entries)");
        assert!(short("name", "值班", 2).is_ok(), "characters, not bytes");
        assert!(short("name", "值班表", 2).is_err());
        let date = |y| chrono::NaiveDate::from_ymd_opt(y, 1, 1).unwrap();
        assert!(in_years("d", date(*YEARS.start())).is_ok());
        assert!(in_years("d", date(*YEARS.end())).is_ok());
        assert!(in_years("d", date(YEARS.end() + 1)).is_err());
        assert!(in_years("d", date(YEARS.start() - 1)).is_err());
    }

    #[test]
    fn the_years_pattern_declares_the_years_the_check_allows() {
        let pattern = regex::Regex::new(YEARS_PATTERN).unwrap();
        for year in 1000..=9999 {
            let text = chrono::NaiveDate::from_ymd_opt(year, 6, 30).unwrap().to_string();
            assert_eq!(pattern.is_match(&text), YEARS.contains(&year), "{text}");
        }
    }
}
