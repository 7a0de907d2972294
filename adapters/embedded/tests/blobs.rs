//! The blob store contract, run against the content-addressed files of the embedded default.

use std::sync::Arc;

use futures::FutureExt;
use switchboard_embedded::FileBlobStore;
use switchboard_engine::blobs::BlobStore;
use switchboard_testkit::read_store_contract::TestStore;
use tempfile::TempDir;

/// A fresh store in its own temporary directory, removed after the check.
async fn fresh_store() -> TestStore<dyn BlobStore> {
    let dir = TempDir::new().expect("a temporary directory");
    let store = FileBlobStore::open(dir.path().join("blobs")).expect("a fresh blob store opens");
    TestStore { store: Arc::new(store), cleanup: Some(async move { drop(dir) }.boxed()) }
}

switchboard_testkit::blob_store_contract!(fresh_store());

/// A temporary file a crash left behind goes when the store opens; one a live writer may
/// still be filling stays.
#[test]
fn opening_removes_what_a_crash_left_half_written() {
    let dir = TempDir::new().expect("a temporary directory");
    let team = dir.path().join("blobs").join("ops");
    std::fs::create_dir_all(&team).expect("the team's directory");
    let (stale, fresh) = (team.join(".tmp-1-0"), team.join(".tmp-1-1"));
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::write(&stale, b"half a screenshot").expect("a stale temporary file");
    std::fs::File::options().write(true).open(&stale).and_then(|f| f.set_modified(two_hours_ago)).expect("aged");
    std::fs::write(&fresh, b"being written").expect("a fresh temporary file");
    FileBlobStore::open(dir.path().join("blobs")).expect("the store opens");
    assert!(!stale.exists(), "the crash's leftover is removed");
    assert!(fresh.exists(), "a write in progress is left alone");
}
