//! The blob store contract, run against the JetStream object store on a real nats-server
//! (`$NATS_SERVER_BIN`, else `nats-server` on `PATH`), a fresh server per test.

use std::sync::Arc;

use futures::FutureExt;
use switchboard_engine::blobs::BlobStore;
use switchboard_jetstream::testing::NatsServer;
use switchboard_jetstream::{JetStreamEventLog, JetStreamOptions};
use switchboard_testkit::read_store_contract::TestStore;

/// The bucket beside a fresh log on its own server, stopped after the check.
async fn fresh_store() -> TestStore<dyn BlobStore> {
    let server = NatsServer::start();
    let log = JetStreamEventLog::connect(&server.url(), JetStreamOptions::default())
        .await
        .unwrap_or_else(|e| panic!("the JetStream log connects to {}: {e}", server.version()));
    let store = log.blob_store().await.expect("the blob bucket opens");
    TestStore { store: Arc::new(store), cleanup: Some(async move { drop((log, server)) }.boxed()) }
}

switchboard_testkit::blob_store_contract!(fresh_store());
