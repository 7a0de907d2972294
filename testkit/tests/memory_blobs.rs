//! The blob store contract, run against the in-memory store the core's tests use.

use std::sync::Arc;

use switchboard_testkit::read_store_contract::TestStore;
use switchboard_testkit::MemoryBlobStore;

async fn fresh_store() -> TestStore<dyn switchboard_engine::blobs::BlobStore> {
    TestStore { store: Arc::new(MemoryBlobStore::new()), cleanup: None }
}

switchboard_testkit::blob_store_contract!(fresh_store());
