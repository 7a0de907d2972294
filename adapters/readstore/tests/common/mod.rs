//! Fresh stores for tests: a temporary SQLite file, or a fresh PostgreSQL schema.

#![allow(clippy::unwrap_used, dead_code)]

use std::sync::Arc;

use switchboard_projections::outbox::DeliveryStore;
use switchboard_projections::store::ReadStore;
use switchboard_readstore::{PostgresReadStore, SqliteReadStore};
use switchboard_testkit::read_store_contract::TestStore;

/// Where the test PostgreSQL is (`DATABASE_URL`, else the development machine's).
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".into())
}

/// An empty SQLite store in a temporary directory, kept alive by the returned guard.
pub async fn sqlite() -> (Arc<SqliteReadStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteReadStore::open(&dir.path().join("readmodels.sqlite")).await.unwrap();
    (Arc::new(store), dir)
}

pub async fn sqlite_test_store() -> TestStore {
    let (store, dir) = sqlite().await;
    TestStore { store: store as Arc<dyn ReadStore>, cleanup: Some(Box::pin(async move { drop(dir) })) }
}

pub async fn sqlite_outbox_store() -> TestStore<dyn DeliveryStore> {
    let (store, dir) = sqlite().await;
    TestStore { store: store as Arc<dyn DeliveryStore>, cleanup: Some(Box::pin(async move { drop(dir) })) }
}

/// An empty PostgreSQL store in a fresh schema. Fails loudly when PostgreSQL is not
/// reachable: these tests are never skipped.
pub async fn postgres() -> (Arc<PostgresReadStore>, String) {
    let schema = format!("sb_{}", uuid::Uuid::now_v7().simple());
    let url = database_url();
    let store = PostgresReadStore::connect(&url, Some(&schema)).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {url:?} is required for these tests (run ops/setup.sh or set DATABASE_URL): {e}")
    });
    (Arc::new(store), schema)
}

pub async fn drop_schema(store: &PostgresReadStore, schema: &str) {
    store.backend().batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}

pub async fn postgres_test_store() -> TestStore {
    let (store, schema) = postgres().await;
    let keep = store.clone();
    TestStore {
        store: store as Arc<dyn ReadStore>,
        cleanup: Some(Box::pin(async move { drop_schema(&keep, &schema).await })),
    }
}

pub async fn postgres_outbox_store() -> TestStore<dyn DeliveryStore> {
    let (store, schema) = postgres().await;
    let keep = store.clone();
    TestStore {
        store: store as Arc<dyn DeliveryStore>,
        cleanup: Some(Box::pin(async move { drop_schema(&keep, &schema).await })),
    }
}
