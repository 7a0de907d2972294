//! Attachments' bytes in the JetStream object store, beside the event log on the same
//! servers: replicated like the log (the stream's `replicas`), so every instance serves
//! every blob and a lost node loses none.
//!
//! One bucket (`<stream>_BLOBS`, e.g. `SWITCHBOARD_BLOBS`) holds every team's blobs, each
//! named `<team>/<sha-256>`. When a blob was last stored is the object's description (RFC
//! 3339, to the millisecond). Storing the same bytes again puts them again (a new version
//! that replaces the old one whole) rather than rewriting the object's info, and
//! retention deletes by compare-and-delete on the object's info subject, so bytes stored
//! again are never deleted under a put and a deleted object is never brought back. The
//! object store checks each object's SHA-256 digest as it reads it back.

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::object_store::{self, ObjectInfo, ObjectMetadata, ObjectStore};
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::jetstream::stream::StorageType;
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::TryStreamExt;
use switchboard_engine::blobs::{to_millis, Blob, BlobError, BlobInfo, BlobStore};
use switchboard_schemas::attachment::ContentHash;
use switchboard_schemas::TeamId;
use tokio::io::AsyncReadExt;

/// Attachments' bytes in a JetStream object store bucket.
#[derive(Clone)]
pub struct ObjectBlobStore {
    bucket: ObjectStore,
    /// The bucket's name, in its subjects (`$O.<name>.M.<object>`, `$O.<name>.C.<nuid>`).
    name: String,
    /// The bucket's stream (`OBJ_<name>`), for retention's compare-and-delete.
    stream: async_nats::jetstream::stream::Stream,
    context: async_nats::jetstream::Context,
}

impl std::fmt::Debug for ObjectBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlobStore").finish_non_exhaustive()
    }
}

impl ObjectBlobStore {
    /// Opens the bucket `name` (creating it with `replicas` copies on file storage).
    pub async fn open(
        jetstream: &async_nats::jetstream::Context,
        name: &str,
        replicas: usize,
    ) -> Result<Self, BlobError> {
        let bucket = match jetstream.get_object_store(name).await {
            Ok(bucket) => bucket,
            Err(_) => jetstream
                .create_object_store(object_store::Config {
                    bucket: name.to_owned(),
                    description: Some("Switchboard attachments, named <team>/<sha-256>".to_owned()),
                    storage: StorageType::File,
                    num_replicas: replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| unavailable("create the bucket", name, e))?,
        };
        let stream = jetstream
            .get_stream(format!("OBJ_{name}"))
            .await
            .map_err(|e| unavailable("open the stream of", name, e))?;
        Ok(Self { bucket, name: name.to_owned(), stream, context: jetstream.clone() })
    }
}

fn object_name(team: &TeamId, hash: &ContentHash) -> String {
    format!("{team}/{hash}")
}

/// The description that records when a blob was stored.
fn stored_at_description(now: DateTime<Utc>) -> Option<String> {
    Some(now.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A blob's description, or none for an object that is not one of this team's blobs.
fn blob_info(prefix: &str, info: &ObjectInfo) -> Option<BlobInfo> {
    let hash = info.name.strip_prefix(prefix)?.parse().ok()?;
    let stored_at = DateTime::parse_from_rfc3339(info.description.as_deref()?).ok()?.with_timezone(&Utc);
    Some(BlobInfo { hash, size: info.size as u64, stored_at })
}

fn unavailable(doing: &str, name: &str, error: impl std::fmt::Display) -> BlobError {
    BlobError::Unavailable(format!("cannot {doing} {name} in the JetStream object store: {error}"))
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    async fn put(&self, team: &TeamId, blob: &Blob, now: DateTime<Utc>) -> Result<BlobInfo, BlobError> {
        let name = object_name(team, blob.hash());
        let meta = ObjectMetadata { name: name.clone(), description: stored_at_description(now), ..Default::default() };
        self.bucket.put(meta, &mut blob.bytes()).await.map_err(|e| unavailable("store", &name, e))?;
        Ok(BlobInfo { hash: blob.hash().clone(), size: blob.size(), stored_at: to_millis(now) })
    }

    async fn get(&self, team: &TeamId, hash: &ContentHash) -> Result<Option<Vec<u8>>, BlobError> {
        let name = object_name(team, hash);
        let mut object = match self.bucket.get(&name).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unavailable("read", &name, e)),
        };
        let mut bytes = Vec::with_capacity(object.info().size);
        object.read_to_end(&mut bytes).await.map_err(|e| unavailable("read", &name, e))?;
        Ok(Some(bytes))
    }

    async fn list(&self, team: &TeamId) -> Result<Vec<BlobInfo>, BlobError> {
        let prefix = format!("{team}/");
        let objects = self.bucket.list().await.map_err(|e| unavailable("list", &prefix, e))?;
        let mut blobs: Vec<BlobInfo> = objects
            .try_filter_map(|info| {
                let blob = if info.deleted { None } else { blob_info(&prefix, &info) };
                async move { Ok(blob) }
            })
            .try_collect()
            .await
            .map_err(|e| unavailable("list", &prefix, e))?;
        blobs.sort_by(|a, b| a.hash.cmp(&b.hash));
        Ok(blobs)
    }

    /// A compare-and-delete on the server: the object's last info is read with its
    /// sequence, and the deletion is published with `Nats-Expected-Last-Subject-Sequence`
    /// set to it, so a put that landed in between (bytes sent again) makes the server
    /// refuse the deletion, and the bytes stay. Only then are the chunks the deleted info
    /// named purged.
    async fn delete_stored_before(
        &self,
        team: &TeamId,
        hash: &ContentHash,
        cutoff: DateTime<Utc>,
    ) -> Result<bool, BlobError> {
        let name = object_name(team, hash);
        let subject = format!("$O.{}.M.{}", self.name, URL_SAFE.encode(&name));
        let last = match self.stream.get_last_raw_message_by_subject(&subject).await {
            Ok(last) => last,
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(false),
            Err(e) => return Err(unavailable("read", &name, e)),
        };
        let mut info: ObjectInfo =
            serde_json::from_slice(&last.payload).map_err(|e| unavailable("read the info of", &name, e))?;
        // An object without a readable stored time is not one this store wrote as it is
        // now: it has no time to keep it by.
        let prefix = format!("{team}/");
        if info.deleted || blob_info(&prefix, &info).is_some_and(|blob| blob.stored_at >= cutoff) {
            return Ok(false);
        }
        let nuid = info.nuid.clone();
        (info.deleted, info.chunks, info.size) = (true, 0, 0);
        let body = serde_json::to_vec(&info).map_err(|e| unavailable("write the info of", &name, e))?;
        let publish = PublishMessage::build()
            .payload(body.into())
            .header("Nats-Rollup", "sub")
            .expected_last_subject_sequence(last.sequence);
        let acknowledged = match self.context.send_publish(subject, publish).await {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match acknowledged {
            Ok(_) => {}
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => return Ok(false),
            Err(e) => return Err(unavailable("delete", &name, e)),
        }
        let chunks = format!("$O.{}.C.{nuid}", self.name);
        self.stream.purge().filter(chunks).await.map_err(|e| unavailable("purge the chunks of", &name, e))?;
        Ok(true)
    }
}
