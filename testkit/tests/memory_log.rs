//! The in-memory log honours the same event-log contract as every real backend.

use std::sync::Arc;

use switchboard_engine::log::EventLog;
use switchboard_testkit::MemoryEventLog;

async fn fresh_log() -> Arc<dyn EventLog> {
    Arc::new(MemoryEventLog::new())
}

switchboard_testkit::event_log_contract!(fresh_log());
