//! The backend-independent event log contract, run against the JetStream log on a real
//! nats-server (`$NATS_SERVER_BIN`, else `nats-server` on `PATH`), a fresh server per test.

use std::sync::Arc;

use switchboard_jetstream::testing::NatsServer;
use switchboard_jetstream::{JetStreamEventLog, JetStreamOptions};
use switchboard_testkit::log_contract::TestLog;

/// A fresh, empty log on its own server, stopped once the test's log is dropped.
async fn fresh_log() -> TestLog {
    let server = NatsServer::start();
    let log = JetStreamEventLog::connect(&server.url(), JetStreamOptions::default())
        .await
        .unwrap_or_else(|e| panic!("the JetStream log connects to {}: {e}", server.version()));
    TestLog::new(Arc::new(log), server)
}

switchboard_testkit::event_log_contract!(fresh_log());

/// The same contract with a non-default stream name and a two-token subject prefix, so
/// nothing depends on the defaults.
mod custom_names {
    use super::*;

    async fn fresh_log() -> TestLog {
        let server = NatsServer::start();
        let options = JetStreamOptions {
            stream: "ACME_EVENTS".into(),
            subject_prefix: "acme.switchboard".into(),
            ..JetStreamOptions::default()
        };
        let log = JetStreamEventLog::connect(&server.url(), options).await.expect("the JetStream log connects");
        TestLog::new(Arc::new(log), server)
    }

    switchboard_testkit::event_log_contract!(fresh_log());
}
