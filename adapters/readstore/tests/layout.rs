#![allow(clippy::unwrap_used)]
//! A store holding another layout of the read-model tables is dropped and rebuilt (its
//! checkpoint goes too, so the projection replays the log); the current layout is kept.

mod common;

use std::sync::Arc;

use rusqlite::Connection;
use switchboard_projections::sessions::RowChange;
use switchboard_projections::store::{Batch, ReadStore, SessionQuery};
use switchboard_readstore::{PostgresReadStore, SqliteReadStore};
use switchboard_schemas::TeamId;
use switchboard_testkit::read_store_contract::known_rows;

fn rows() -> Vec<RowChange> {
    known_rows().into_iter().map(|after| RowChange { before: None, after }).collect()
}

async fn count(store: &dyn ReadStore) -> usize {
    store.sessions(&SessionQuery::team(TeamId::new("alpha").unwrap(), 100)).await.unwrap().rows.len()
}

#[tokio::test]
async fn sqlite_keeps_its_own_layout_and_rebuilds_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readmodels.sqlite");
    let store = SqliteReadStore::open(&path).await.unwrap();
    store.commit_batch("sessions", &Batch::sessions(&rows()), 42).await.unwrap();
    drop(store);
    let store = SqliteReadStore::open(&path).await.unwrap();
    assert_eq!((store.checkpoint("sessions").await.unwrap(), count(&store).await), (42, 5), "same layout kept");
    drop(store);
    Connection::open(&path).unwrap().execute_batch("UPDATE sb_layout SET version = 1").unwrap();
    let store = SqliteReadStore::open(&path).await.unwrap();
    assert_eq!((store.checkpoint("sessions").await.unwrap(), count(&store).await), (0, 0), "older layout dropped");
    store.commit_batch("sessions", &Batch::sessions(&rows()), 42).await.unwrap();
    assert_eq!(count(&store).await, 5, "usable after the rebuild");
}

#[tokio::test]
async fn sqlite_from_before_layouts_were_recorded_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readmodels.sqlite");
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE sb_checkpoints (name TEXT PRIMARY KEY, position BIGINT NOT NULL);
             INSERT INTO sb_checkpoints VALUES ('sessions', 99);
             CREATE TABLE sb_sessions (session_id TEXT PRIMARY KEY, team TEXT NOT NULL);",
        )
        .unwrap();
    let store = SqliteReadStore::open(&path).await.unwrap();
    assert_eq!(store.checkpoint("sessions").await.unwrap(), 0, "the old checkpoint went with its rows");
    store.commit_batch("sessions", &Batch::sessions(&rows()), 42).await.unwrap();
    assert_eq!(count(&store).await, 5);
}

#[tokio::test]
async fn postgres_keeps_its_own_layout_and_rebuilds_another() {
    let (store, schema) = common::postgres().await;
    store.commit_batch("sessions", &Batch::sessions(&rows()), 42).await.unwrap();
    let url = common::database_url();
    let again = PostgresReadStore::connect(&url, Some(&schema)).await.unwrap();
    assert_eq!((again.checkpoint("sessions").await.unwrap(), count(&again).await), (42, 5), "same layout kept");
    again.backend().batch_execute("UPDATE sb_layout SET version = 1").await.unwrap();
    let rebuilt = Arc::new(PostgresReadStore::connect(&url, Some(&schema)).await.unwrap());
    assert_eq!((rebuilt.checkpoint("sessions").await.unwrap(), count(rebuilt.as_ref()).await), (0, 0));
    common::drop_schema(&rebuilt, &schema).await;
}

#[tokio::test]
async fn postgres_reconnects_after_the_server_drops_the_connection() {
    use switchboard_readstore::sql::Value;
    use switchboard_readstore::Backend;
    let (store, schema) = common::postgres().await;
    store.commit_batch("sessions", &Batch::sessions(&rows()), 7).await.unwrap();
    let backend_pid = || async {
        match store.backend().rows("SELECT pg_backend_pid()", &[]).await?[0][0] {
            Value::Int(Some(pid)) => Ok::<i64, switchboard_projections::store::StoreError>(pid),
            ref other => panic!("pg_backend_pid() gave {other:?}"),
        }
    };
    let pid = backend_pid().await.unwrap();
    // Another session ends the store's connection, as a server restart or failover would.
    let admin = PostgresReadStore::connect(&common::database_url(), None).await.unwrap();
    admin.backend().batch_execute(&format!("SELECT pg_terminate_backend({pid})")).await.unwrap();
    // A statement already on its way when the connection died fails; the next one runs on
    // a new connection, in the same schema.
    let after = match backend_pid().await {
        Ok(pid) => pid,
        Err(_) => backend_pid().await.unwrap(),
    };
    assert_ne!(after, pid, "a new connection");
    assert_eq!(
        (store.checkpoint("sessions").await.unwrap(), count(store.as_ref()).await),
        (7, 5),
        "same data after reconnecting"
    );
    store.commit_batch("sessions", &Batch::sessions(&rows()), 8).await.unwrap();
    assert_eq!(store.checkpoint("sessions").await.unwrap(), 8, "writes work again");
    common::drop_schema(&store, &schema).await;
}
