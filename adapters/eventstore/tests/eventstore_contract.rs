//! The backend-independent event log contract against a real EventStoreDB / KurrentDB
//! server at `EVENTSTORE_URL` (for example `esdb://127.0.0.1:2113?tls=false`). Each test
//! uses a stream prefix of its own, so it sees an empty log on a shared server.
//!
//! The server cannot run on the development machine, so `ops/test.sh` runs this binary
//! only when `EVENTSTORE_URL` is set and says so loudly when it is not. Run directly
//! without the variable, every test fails with the instruction.

use std::sync::Arc;

use switchboard_engine::log::EventLog;
use switchboard_eventstore::EventStoreLog;

async fn fresh_log() -> Arc<dyn EventLog> {
    let url = std::env::var("EVENTSTORE_URL").unwrap_or_else(|_| {
        panic!(
            "EVENTSTORE_URL is not set: start a server (docker run -p 2113:2113 \
             docker.kurrent.io/kurrent-latest/kurrentdb:latest --insecure --run-projections=All) \
             and set EVENTSTORE_URL=esdb://127.0.0.1:2113?tls=false"
        )
    });
    let prefix = format!("t{}", uuid::Uuid::now_v7().simple());
    let log = EventStoreLog::connect(&url, &prefix).await.unwrap_or_else(|e| panic!("{e}"));
    Arc::new(log)
}

switchboard_testkit::event_log_contract!(fresh_log());
