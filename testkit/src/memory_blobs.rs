//! Blobs in memory, for tests of what uses a blob store (the core's fetching and retention)
//! under tokio's paused time. Passes the blob store contract like every backend.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use switchboard_engine::blobs::{to_millis, Blob, BlobError, BlobInfo, BlobStore};
use switchboard_schemas::attachment::ContentHash;
use switchboard_schemas::TeamId;

/// Each team's blobs: their bytes and when they were last stored.
type Blobs = BTreeMap<(TeamId, ContentHash), (Vec<u8>, DateTime<Utc>)>;

/// A blob store in memory.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<Blobs>,
}

impl MemoryBlobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn blobs(&self) -> std::sync::MutexGuard<'_, Blobs> {
        self.blobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, team: &TeamId, blob: &Blob, now: DateTime<Utc>) -> Result<BlobInfo, BlobError> {
        let stored_at = to_millis(now);
        let key = (team.clone(), blob.hash().clone());
        self.blobs().entry(key).and_modify(|(_, at)| *at = stored_at).or_insert((blob.bytes().to_vec(), stored_at));
        Ok(BlobInfo { hash: blob.hash().clone(), size: blob.size(), stored_at })
    }

    async fn get(&self, team: &TeamId, hash: &ContentHash) -> Result<Option<Vec<u8>>, BlobError> {
        Ok(self.blobs().get(&(team.clone(), hash.clone())).map(|(bytes, _)| bytes.clone()))
    }

    async fn list(&self, team: &TeamId) -> Result<Vec<BlobInfo>, BlobError> {
        Ok(self
            .blobs()
            .iter()
            .filter(|((owner, _), _)| owner == team)
            .map(|((_, hash), (bytes, at))| BlobInfo { hash: hash.clone(), size: bytes.len() as u64, stored_at: *at })
            .collect())
    }

    async fn delete_stored_before(
        &self,
        team: &TeamId,
        hash: &ContentHash,
        cutoff: DateTime<Utc>,
    ) -> Result<bool, BlobError> {
        let mut blobs = self.blobs();
        let key = (team.clone(), hash.clone());
        if blobs.get(&key).is_some_and(|(_, at)| *at < cutoff) {
            blobs.remove(&key);
            return Ok(true);
        }
        Ok(false)
    }
}
