//! How the embedded log opens its file, as read from configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the embedded event log. Every field has a default, so an empty section is
/// valid; unknown fields are refused so a typo does not silently fall back to a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteOptions {
    /// When SQLite forces appended events to disk (default: `full`).
    pub synchronous: Synchronous,
    /// How long a connection waits for a lock held by another connection (for instance
    /// another process on the same file) before giving up, in milliseconds.
    pub busy_timeout_ms: u64,
}

impl SqliteOptions {
    /// The lock wait as a duration.
    pub fn busy_timeout(&self) -> Duration {
        Duration::from_millis(self.busy_timeout_ms)
    }
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self { synchronous: Synchronous::Full, busy_timeout_ms: 5_000 }
    }
}

/// SQLite's `synchronous` setting, restricted to the two values that make sense for an
/// event log in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Every commit is on disk before the append is acknowledged; survives power loss.
    #[default]
    Full,
    /// Commits are on disk at checkpoints; survives a crash of the process but may lose
    /// the last acknowledged appends on power loss or an operating system crash.
    Normal,
}

impl Synchronous {
    /// The value given to `PRAGMA synchronous`.
    pub(crate) fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_durable() {
        let options: SqliteOptions = serde_json::from_str("{}").expect("an empty section is valid");
        assert_eq!(options, SqliteOptions::default());
        assert_eq!(options.synchronous, Synchronous::Full);
        assert_eq!(options.busy_timeout(), Duration::from_secs(5));
    }

    #[test]
    fn settings_are_read_in_lowercase() {
        let options: SqliteOptions =
            serde_json::from_str(r#"{"synchronous": "normal", "busy_timeout_ms": 250}"#).expect("valid settings");
        assert_eq!(options, SqliteOptions { synchronous: Synchronous::Normal, busy_timeout_ms: 250 });
    }

    #[test]
    fn unknown_fields_and_values_are_refused() {
        assert!(serde_json::from_str::<SqliteOptions>(r#"{"synchronus": "full"}"#).is_err());
        assert!(serde_json::from_str::<SqliteOptions>(r#"{"synchronous": "off"}"#).is_err());
    }
}
