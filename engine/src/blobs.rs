//! The blob store port: the bytes of attachments, kept per team under their content hash.
//!
//! The log records what an attachment is and its [`ContentHash`]; the bytes live here. The
//! same bytes sent twice in a team are stored once. Teams never share a blob: a team's
//! retention deletes its own copy only, and a hash of one team never names another's bytes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use switchboard_schemas::attachment::ContentHash;
use switchboard_schemas::TeamId;

/// Bytes with their hash, computed once here so that no backend names a blob wrongly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    hash: ContentHash,
    bytes: Vec<u8>,
}

impl Blob {
    /// The blob of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self { hash: ContentHash::of(&bytes), bytes }
    }

    /// Its name.
    pub fn hash(&self) -> &ContentHash {
        &self.hash
    }

    /// Its bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// A time to the millisecond, the precision every store keeps `stored_at` in.
pub fn to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// What a store knows of one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Its name.
    pub hash: ContentHash,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last stored (storing the same bytes again moves this on, so retention
    /// counts from the last time someone sent them), to the millisecond.
    pub stored_at: DateTime<Utc>,
}

/// Why a blob store failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The store could not be reached or refused (disk full, server down); try again later.
    #[error("the blob store is unavailable: {0}")]
    Unavailable(String),
}

/// Where attachments' bytes are kept: content-addressed files by default, the JetStream
/// object store when the log is on NATS. Every backend passes the testkit's
/// `blob_store_contract!`.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `blob` for `team` (once: the same bytes again only move `stored_at` to `now`).
    async fn put(&self, team: &TeamId, blob: &Blob, now: DateTime<Utc>) -> Result<BlobInfo, BlobError>;

    /// The bytes of a blob of `team`, or none when the team has no such blob.
    async fn get(&self, team: &TeamId, hash: &ContentHash) -> Result<Option<Vec<u8>>, BlobError>;

    /// Every blob of `team` (for retention and audit).
    async fn list(&self, team: &TeamId) -> Result<Vec<BlobInfo>, BlobError>;

    /// Deletes a blob of `team` if it was last stored before `cutoff` (the start of the
    /// team's retention), checked and deleted as one step, so bytes stored again meanwhile
    /// are never lost; false when there was no such blob.
    async fn delete_stored_before(
        &self,
        team: &TeamId,
        hash: &ContentHash,
        cutoff: DateTime<Utc>,
    ) -> Result<bool, BlobError>;
}
