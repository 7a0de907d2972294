//! Opens the configured read-model store, for `serve` (which keeps it following the log)
//! and `replay` (which rebuilds it).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use switchboard_projections::outbox::DeliveryStore;
use switchboard_projections::store::ReadStore;
use switchboard_readstore::{PostgresReadStore, SqliteReadStore};

use crate::config::{Config, ReadModelKind};

/// The embedded read-model file beside the event log.
pub fn embedded_path(config: &Config) -> PathBuf {
    config.data_dir.join("readmodels.sqlite")
}

/// Where the read models are, for messages.
pub fn describe(config: &Config) -> String {
    match config.read_models.kind {
        ReadModelKind::Embedded => embedded_path(config).display().to_string(),
        ReadModelKind::Postgres => {
            format!("PostgreSQL schema {}", config.read_models.schema.as_deref().unwrap_or("(default)"))
        }
    }
}

/// What a read-model store holds: the read models and the webhook outbox.
pub trait ReadModels: ReadStore + DeliveryStore {}

impl<T: ReadStore + DeliveryStore> ReadModels for T {}

/// Opens (creating tables if needed) the configured store.
pub async fn open(config: &Config) -> Result<Arc<dyn ReadModels>> {
    match config.read_models.kind {
        ReadModelKind::Embedded => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
            let path = embedded_path(config);
            let store = SqliteReadStore::open(&path)
                .await
                .with_context(|| format!("cannot open the read models at {}", path.display()))?;
            Ok(Arc::new(store))
        }
        ReadModelKind::Postgres => {
            let url = config.read_models.url.as_deref().context(
                "read_models.kind is \"postgres\" but read_models.url is not set \
                 (e.g. SWITCHBOARD_READ_MODELS__URL='host=127.0.0.1 user=postgres dbname=switchboard')",
            )?;
            let store = PostgresReadStore::connect(url, config.read_models.schema.as_deref()).await.context(
                "cannot connect to the PostgreSQL read models (check read_models.url and that the server runs)",
            )?;
            Ok(Arc::new(store))
        }
    }
}
