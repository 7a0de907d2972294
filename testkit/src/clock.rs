//! A clock a test controls.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use switchboard_engine::ports::Clock;

/// A [`Clock`] the test controls: it stands still until moved with
/// [`ManualClock::advance`], or — made with [`ManualClock::with_tokio_time`] — also moves
/// with tokio's clock, so the core's timers (which sleep on tokio's clock and read the time
/// from this one) agree with it under `tokio::time::pause`.
#[derive(Debug)]
pub struct ManualClock {
    base: Mutex<DateTime<Utc>>,
    anchor: Option<tokio::time::Instant>,
}

impl ManualClock {
    /// A clock reading `now` until moved.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self { base: Mutex::new(now), anchor: None }
    }

    /// A clock reading `now` plus however far tokio's clock has moved since (plus what
    /// [`ManualClock::advance`] added).
    pub fn with_tokio_time(now: DateTime<Utc>) -> Self {
        Self { base: Mutex::new(now), anchor: Some(tokio::time::Instant::now()) }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        *self.base.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let base = *self.base.lock().unwrap_or_else(|e| e.into_inner());
        let moved = self
            .anchor
            .map_or(Duration::zero(), |anchor| Duration::from_std(anchor.elapsed()).unwrap_or(Duration::MAX));
        base + moved
    }
}
