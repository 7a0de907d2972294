//! The backend-independent event log contract, run against the embedded SQLite log.

use std::sync::Arc;

use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_testkit::log_contract::TestLog;
use tempfile::TempDir;

/// A fresh log in its own temporary directory, removed once the test's log is dropped.
async fn fresh_log() -> TestLog {
    let dir = TempDir::new().expect("a temporary directory");
    let log = SqliteEventLog::open(&dir.path().join("events.sqlite"), SqliteOptions::default())
        .expect("a fresh embedded log opens");
    TestLog::new(Arc::new(log), dir)
}

switchboard_testkit::event_log_contract!(fresh_log());
