//! The event-log contract on the embedded SQLite store.

use std::sync::Arc;

use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::contract::TestLog;

async fn embedded() -> TestLog {
    let dir = tempfile::tempdir().expect("temporary directory");
    let log = SqliteEventLog::open(&dir.path().join("events.sqlite"), SqliteOptions::default()).expect("open");
    TestLog::new(Arc::new(log), dir)
}

switchboard_engine::event_log_contract!(embedded());
