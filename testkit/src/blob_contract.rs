//! The blob store contract: the same checks against every [`BlobStore`], run by each
//! backend's tests through [`blob_store_contract!`](crate::blob_store_contract).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use switchboard_engine::blobs::{Blob, BlobStore};
use switchboard_schemas::attachment::ContentHash;
use switchboard_schemas::TeamId;

/// Runs every blob store check against stores made by `$factory` (an expression evaluating
/// to a future of a `TestStore<dyn BlobStore>`), one test function per check.
#[macro_export]
macro_rules! blob_store_contract {
    (@tests $factory:expr; $($test:ident => $check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let test_store: $crate::read_store_contract::TestStore<dyn ::switchboard_engine::blobs::BlobStore> = $factory.await;
                $crate::blob_contract::$check(::std::sync::Arc::clone(&test_store.store)).await;
                if let ::core::option::Option::Some(cleanup) = test_store.cleanup {
                    cleanup.await;
                }
            }
        )*
    };
    ($factory:expr $(,)?) => {
        $crate::blob_store_contract!(@tests $factory;
            a_stored_blob_reads_back_byte_for_byte => check_round_trip,
            the_same_bytes_are_stored_once_and_their_time_moves_on => check_deduplication,
            teams_never_see_or_delete_each_others_blobs => check_isolation,
            deleting_removes_once => check_delete,
            bytes_stored_again_after_the_cutoff_are_not_deleted => check_delete_spares_fresh_bytes,
            concurrent_stores_of_the_same_bytes_keep_one_whole_blob => check_concurrent_puts,
        );
    };
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 15).unwrap() + Duration::milliseconds(250)
}

/// A cutoff after every time the checks store at, so deleting is allowed.
fn later() -> DateTime<Utc> {
    t0() + Duration::days(30)
}

fn team(name: &str) -> TeamId {
    TeamId::new(name).unwrap()
}

/// Bytes that differ everywhere (so a store that truncated, reordered or mixed chunks up
/// would be caught), `len` of them, varied by `seed`.
pub fn varied_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

pub async fn check_round_trip(store: Arc<dyn BlobStore>) {
    let ops = team("ops");
    // An empty blob, a small one, and one over the object store's 128 KiB chunk and a page.
    for (len, seed) in [(0, 1), (17, 2), (1024 * 1024 + 7, 3)] {
        let blob = Blob::new(varied_bytes(len, seed));
        let info = store.put(&ops, &blob, t0()).await.unwrap();
        assert_eq!(info.hash, *blob.hash());
        assert_eq!(info.size, len as u64);
        assert_eq!(info.stored_at, t0());
        assert_eq!(store.get(&ops, blob.hash()).await.unwrap().as_deref(), Some(blob.bytes()), "{len} bytes");
    }
    let listed = store.list(&ops).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|info| info.stored_at == t0()));
    let never_stored = ContentHash::of(b"never stored");
    assert_eq!(store.get(&ops, &never_stored).await.unwrap(), None);
}

pub async fn check_deduplication(store: Arc<dyn BlobStore>) {
    let ops = team("ops");
    let blob = Blob::new(varied_bytes(300_000, 4));
    store.put(&ops, &blob, t0()).await.unwrap();
    let later = t0() + Duration::days(3);
    let info = store.put(&ops, &blob, later).await.unwrap();
    assert_eq!(info.stored_at, later);
    let listed = store.list(&ops).await.unwrap();
    assert_eq!(listed.len(), 1, "stored once: {listed:?}");
    assert_eq!(listed[0].stored_at, later, "retention counts from the last time it was sent");
    assert_eq!(listed[0].size, 300_000);
    assert_eq!(store.get(&ops, blob.hash()).await.unwrap().as_deref(), Some(blob.bytes()));
}

pub async fn check_isolation(store: Arc<dyn BlobStore>) {
    let (ops, billing) = (team("ops"), team("billing"));
    let blob = Blob::new(b"a screenshot of the prize page".to_vec());
    store.put(&ops, &blob, t0()).await.unwrap();
    assert_eq!(store.get(&billing, blob.hash()).await.unwrap(), None);
    assert!(store.list(&billing).await.unwrap().is_empty());
    assert!(!store.delete_stored_before(&billing, blob.hash(), later()).await.unwrap());
    assert!(store.get(&ops, blob.hash()).await.unwrap().is_some(), "another team's delete took nothing");
    // The same bytes in two teams are two blobs: deleting one leaves the other.
    store.put(&billing, &blob, t0()).await.unwrap();
    assert!(store.delete_stored_before(&ops, blob.hash(), later()).await.unwrap());
    assert_eq!(store.get(&billing, blob.hash()).await.unwrap().as_deref(), Some(blob.bytes()));
}

pub async fn check_delete(store: Arc<dyn BlobStore>) {
    let ops = team("ops");
    let (kept, deleted) = (Blob::new(b"kept".to_vec()), Blob::new(b"deleted".to_vec()));
    store.put(&ops, &kept, t0()).await.unwrap();
    store.put(&ops, &deleted, t0()).await.unwrap();
    assert!(store.delete_stored_before(&ops, deleted.hash(), later()).await.unwrap());
    assert!(!store.delete_stored_before(&ops, deleted.hash(), later()).await.unwrap(), "deleted once");
    assert_eq!(store.get(&ops, deleted.hash()).await.unwrap(), None);
    let listed: Vec<ContentHash> = store.list(&ops).await.unwrap().into_iter().map(|i| i.hash).collect();
    assert_eq!(listed, vec![kept.hash().clone()]);
    // Stored again after deletion, it is back.
    store.put(&ops, &deleted, t0()).await.unwrap();
    assert_eq!(store.get(&ops, deleted.hash()).await.unwrap().as_deref(), Some(&b"deleted"[..]));
}

pub async fn check_concurrent_puts(store: Arc<dyn BlobStore>) {
    let ops = team("ops");
    let blob = Arc::new(Blob::new(varied_bytes(400_000, 5)));
    let puts = (0..8).map(|i| {
        let (store, blob, ops) = (Arc::clone(&store), Arc::clone(&blob), ops.clone());
        tokio::spawn(async move { store.put(&ops, &blob, t0() + Duration::seconds(i)).await })
    });
    for put in futures::future::join_all(puts).await {
        put.unwrap().unwrap();
    }
    assert_eq!(store.list(&ops).await.unwrap().len(), 1);
    assert_eq!(store.get(&ops, blob.hash()).await.unwrap().as_deref(), Some(blob.bytes()));
}

pub async fn check_delete_spares_fresh_bytes(store: Arc<dyn BlobStore>) {
    let ops = team("ops");
    let blob = Blob::new(b"sent on day one and again on day five".to_vec());
    store.put(&ops, &blob, t0()).await.unwrap();
    let cutoff = t0() + Duration::days(2);
    store.put(&ops, &blob, t0() + Duration::days(4)).await.unwrap();
    assert!(!store.delete_stored_before(&ops, blob.hash(), cutoff).await.unwrap(), "stored again since the cutoff");
    assert_eq!(store.get(&ops, blob.hash()).await.unwrap().as_deref(), Some(blob.bytes()));
    assert!(store.delete_stored_before(&ops, blob.hash(), t0() + Duration::days(5)).await.unwrap());
    assert_eq!(store.get(&ops, blob.hash()).await.unwrap(), None);
    assert!(store.list(&ops).await.unwrap().is_empty());
}
