//! The clock `serve` decides with: the wall clock, or for rehearsals and tests the wall
//! clock plus an offset read from a file (`core.clock_offset_file`), so the time-driven
//! parts (escalation steps, response targets, re-confirmation, stale closes) can be walked
//! through without waiting.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use switchboard_engine::ports::Clock;

/// How long an offset read from the file is used before the file is read again.
const REREAD: Duration = Duration::from_millis(100);

/// The wall clock shifted by the number of seconds in a file; a missing or unreadable file
/// counts as no shift (and the last good value is kept while the file is being rewritten).
pub struct OffsetClock {
    file: PathBuf,
    cached: Mutex<(Option<Instant>, i64)>,
}

impl OffsetClock {
    /// A clock shifted by the seconds in `file`.
    pub fn new(file: PathBuf) -> Self {
        Self { file, cached: Mutex::new((None, 0)) }
    }

    fn offset(&self) -> i64 {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if cached.0.is_none_or(|read| read.elapsed() >= REREAD) {
            if let Some(seconds) = std::fs::read_to_string(&self.file).ok().and_then(|t| t.trim().parse::<i64>().ok()) {
                cached.1 = seconds.clamp(-10 * 365 * 86_400, 10 * 365 * 86_400);
            }
            cached.0 = Some(Instant::now());
        }
        cached.1
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.offset())
    }
}
