//! Opening the configured event log, for `serve` and every command that reads or writes the
//! log (audit, export, faq, keys, migrate, replay, tail, thresholds), and the blob store of
//! attachments beside it.

use std::sync::Arc;

use anyhow::{Context, Result};
use switchboard_embedded::{FileBlobStore, SqliteEventLog};
use switchboard_engine::blobs::BlobStore;
use switchboard_engine::log::EventLog;
use switchboard_eventstore::EventStoreLog;
use switchboard_jetstream::JetStreamEventLog;

use crate::config::{Config, StoreKind};

/// Opens the configured event log.
pub async fn open_log(config: &Config) -> Result<Arc<dyn EventLog>> {
    Ok(open_store(config).await?.0)
}

/// Opens the configured event log, and the JetStream one again by its own type when the
/// log is on NATS (for the part leases).
pub async fn open_store(config: &Config) -> Result<(Arc<dyn EventLog>, Option<Arc<JetStreamEventLog>>)> {
    match config.store.kind {
        StoreKind::Embedded => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
            let path = config.data_dir.join("events.sqlite");
            let log = SqliteEventLog::open(&path, config.store.embedded.clone())
                .with_context(|| format!("cannot open the event log at {}", path.display()))?;
            Ok((Arc::new(log), None))
        }
        StoreKind::Nats => {
            let url = &config.store.nats_url;
            let log = JetStreamEventLog::connect(url, config.store.jetstream.clone()).await.with_context(|| {
                format!(
                    "cannot open the event log on NATS at {url} (is nats-server running with JetStream enabled, -js?)"
                )
            })?;
            let log = Arc::new(log);
            Ok((log.clone(), Some(log)))
        }
        StoreKind::Eventstore => {
            let url = &config.store.eventstore_url;
            let log = EventStoreLog::connect(url, &config.store.eventstore_prefix).await.with_context(|| {
                format!("cannot open the event log on EventStoreDB at {url} (store.eventstore_url)")
            })?;
            Ok((Arc::new(log), None))
        }
    }
}

/// Where attachments' bytes are kept: beside the log in the JetStream object store when the
/// log is on NATS (so every instance serves every blob), else as files under the data
/// directory (`<data_dir>/blobs`).
pub async fn open_blobs(config: &Config, jetstream: Option<&JetStreamEventLog>) -> Result<Arc<dyn BlobStore>> {
    Ok(match jetstream {
        Some(log) => Arc::new(log.blob_store().await.context("cannot open the attachment bucket on NATS")?),
        None => {
            let root = config.data_dir.join("blobs");
            Arc::new(
                FileBlobStore::open(&root)
                    .with_context(|| format!("cannot open the attachment store at {}", root.display()))?,
            )
        }
    })
}
