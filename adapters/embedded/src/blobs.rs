//! The embedded blob store: attachments' bytes as content-addressed files under the data
//! directory, `<root>/<team>/<first two hex digits>/<sha-256>`.
//!
//! A blob is written to a temporary file in its team's directory, flushed, and renamed into
//! place, so a reader (or a crash) never sees half a blob; the directory is flushed after
//! the rename so the name survives a power cut. The same bytes again only move the file's
//! modification time, which is the blob's `stored_at`; that and retention's check-and-delete
//! hold the blob's lock, so bytes stored again are never deleted under them. Temporary files
//! a crash left behind are removed when the store opens.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use switchboard_engine::blobs::{to_millis, Blob, BlobError, BlobInfo, BlobStore};
use switchboard_schemas::attachment::ContentHash;
use switchboard_schemas::TeamId;

/// How old a temporary file must be before opening the store removes it: older than any
/// write in progress by another process sharing the directory.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

const TEMPORARY_PREFIX: &str = ".tmp-";

/// Attachments' bytes as files under one directory.
#[derive(Debug, Clone)]
pub struct FileBlobStore {
    files: Arc<Files>,
}

#[derive(Debug)]
struct Files {
    root: PathBuf,
    /// Locks by the hash's first byte: storing again and deleting one blob never interleave.
    locks: Vec<Mutex<()>>,
}

impl FileBlobStore {
    /// Opens (creating) the store at `root`, removing temporary files a crash left behind.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| unavailable(&root, e))?;
        for team in fs::read_dir(&root).map_err(|e| unavailable(&root, e))? {
            let team = team.map_err(|e| unavailable(&root, e))?.path();
            remove_stale_temporaries(&team).map_err(|e| unavailable(&team, e))?;
        }
        let locks = (0..256).map(|_| Mutex::new(())).collect();
        Ok(Self { files: Arc::new(Files { root, locks }) })
    }

    /// Runs a file operation on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&Files) -> Result<T, BlobError> + Send + 'static,
    ) -> Result<T, BlobError> {
        let files = Arc::clone(&self.files);
        tokio::task::spawn_blocking(move || operation(&files))
            .await
            .map_err(|e| BlobError::Unavailable(format!("the file operation stopped: {e}")))?
    }
}

impl Files {
    fn delete_stored_before(
        &self,
        team: &TeamId,
        hash: &ContentHash,
        cutoff: DateTime<Utc>,
    ) -> Result<bool, BlobError> {
        let _locked = self.lock(hash);
        let path = self.path(team, hash);
        let modified = match fs::metadata(&path).and_then(|meta| meta.modified()) {
            Ok(modified) => DateTime::<Utc>::from(modified),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(unavailable(&path, e)),
        };
        if to_millis(modified) >= cutoff {
            return Ok(false);
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(unavailable(&path, e)),
        }
    }

    fn team_dir(&self, team: &TeamId) -> PathBuf {
        // Team ids are letters, digits, '-' and '_': one safe path component.
        self.root.join(team.as_str())
    }

    fn path(&self, team: &TeamId, hash: &ContentHash) -> PathBuf {
        // A hash is 64 hex digits (checked when parsed): never a path of its own.
        self.team_dir(team).join(&hash.as_str()[..2]).join(hash.as_str())
    }

    fn lock(&self, hash: &ContentHash) -> std::sync::MutexGuard<'_, ()> {
        let stripe = usize::from_str_radix(&hash.as_str()[..2], 16).unwrap_or(0);
        self.locks[stripe].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, team: &TeamId, blob: &Blob, now: DateTime<Utc>) -> Result<BlobInfo, BlobError> {
        let _locked = self.lock(blob.hash());
        let path = self.path(team, blob.hash());
        let info = BlobInfo { hash: blob.hash().clone(), size: blob.size(), stored_at: to_millis(now) };
        match File::options().write(true).open(&path) {
            Ok(existing) => {
                existing.set_modified(now.into()).map_err(|e| unavailable(&path, e))?;
                return Ok(info);
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(unavailable(&path, e)),
        }
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(|e| unavailable(dir, e))?;
        // A fresh random name, opened with `create_new`: never over another's temporary file.
        let temporary = self.team_dir(team).join(format!("{TEMPORARY_PREFIX}{}", uuid::Uuid::now_v7().simple()));
        let written = (|| {
            let mut file = File::options().write(true).create_new(true).open(&temporary)?;
            file.write_all(blob.bytes())?;
            file.set_modified(now.into())?;
            file.sync_all()?;
            fs::rename(&temporary, &path)?;
            File::open(dir)?.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temporary);
            return Err(unavailable(&path, e));
        }
        Ok(info)
    }

    fn list(&self, team: &TeamId) -> Result<Vec<BlobInfo>, BlobError> {
        let dir = self.team_dir(team);
        let shards = match fs::read_dir(&dir) {
            Ok(shards) => shards,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(unavailable(&dir, e)),
        };
        let mut blobs = Vec::new();
        for shard in shards {
            let shard = shard.map_err(|e| unavailable(&dir, e))?.path();
            if !shard.is_dir() {
                continue;
            }
            for file in fs::read_dir(&shard).map_err(|e| unavailable(&shard, e))? {
                let file = file.map_err(|e| unavailable(&shard, e))?;
                let Some(hash) = file.file_name().to_str().and_then(|name| name.parse::<ContentHash>().ok()) else {
                    continue;
                };
                // A blob deleted between the listing and this look is simply not listed.
                let meta = match file.metadata() {
                    Ok(meta) => meta,
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(unavailable(&file.path(), e)),
                };
                let modified = meta.modified().map_err(|e| unavailable(&file.path(), e))?;
                blobs.push(BlobInfo { hash, size: meta.len(), stored_at: to_millis(modified.into()) });
            }
        }
        blobs.sort_by(|a, b| a.hash.cmp(&b.hash));
        Ok(blobs)
    }
}

#[async_trait]
impl BlobStore for FileBlobStore {
    async fn put(&self, team: &TeamId, blob: &Blob, now: DateTime<Utc>) -> Result<BlobInfo, BlobError> {
        let (team, blob) = (team.clone(), blob.clone());
        self.blocking(move |files| files.put(&team, &blob, now)).await
    }

    async fn get(&self, team: &TeamId, hash: &ContentHash) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.files.path(team, hash);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(unavailable(&path, e)),
        }
    }

    async fn list(&self, team: &TeamId) -> Result<Vec<BlobInfo>, BlobError> {
        let team = team.clone();
        self.blocking(move |files| files.list(&team)).await
    }

    async fn delete_stored_before(
        &self,
        team: &TeamId,
        hash: &ContentHash,
        cutoff: DateTime<Utc>,
    ) -> Result<bool, BlobError> {
        let (team, hash) = (team.clone(), hash.clone());
        self.blocking(move |files| files.delete_stored_before(&team, &hash, cutoff)).await
    }
}

fn remove_stale_temporaries(team_dir: &Path) -> std::io::Result<()> {
    if !team_dir.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(team_dir)? {
        let entry = entry?;
        let temporary = entry.file_name().to_str().is_some_and(|name| name.starts_with(TEMPORARY_PREFIX));
        let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
        if temporary && age > STALE_TEMPORARY {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

fn unavailable(path: &Path, error: std::io::Error) -> BlobError {
    BlobError::Unavailable(format!("{}: {error}", path.display()))
}
