//! The PostgreSQL store, for several instances sharing read models.

use std::collections::HashMap;

use async_trait::async_trait;
use futures::future::try_join_all;
use switchboard_projections::store::StoreError;
use tokio::sync::Mutex;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

use crate::sql::{Row, Value};
use crate::{Backend, SqlStore};

/// One connection with a cache of prepared statements; batch statements are pipelined.
/// A connection the server broke (a restart, a failover) is opened again on the next
/// statement, so the projector and the API recover on their own.
pub struct PostgresBackend {
    state: Mutex<State>,
}

struct State {
    client: Client,
    prepared: HashMap<String, Statement>,
    url: String,
    schema: Option<String>,
    /// Set when a statement failed because the connection is gone; the connection task
    /// may not have noticed yet, so `Client::is_closed` alone would reuse a dead client.
    broken: bool,
}

fn backend_error(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Whether the error means the connection itself is gone, not just the statement: closed,
/// broken on the wire, or ended by the server with a FATAL error (shutdown, termination).
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    let fatal = e.as_db_error().is_some_and(|db| matches!(db.severity(), "FATAL" | "PANIC"));
    fatal || e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

fn param(value: &Value) -> Box<dyn ToSql + Sync + Send> {
    match value {
        Value::Int(v) => Box::new(*v),
        Value::Text(v) => Box::new(v.clone()),
    }
}

impl SqlStore<PostgresBackend> {
    /// Connects (e.g. `host=127.0.0.1 port=5432 user=postgres dbname=switchboard`) and
    /// creates the tables. With `schema`, the tables live in that schema (created if
    /// missing), so several deployments or tests can share one database.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        if let Some(schema) = schema {
            if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(StoreError::Invalid(format!("schema name {schema:?}")));
            }
        }
        let client = open(url, schema).await?;
        let state = State {
            client,
            prepared: HashMap::new(),
            url: url.to_owned(),
            schema: schema.map(str::to_owned),
            broken: false,
        };
        Self::prepare(PostgresBackend { state: Mutex::new(state) }).await
    }
}

/// Opens a connection whose statements run in `schema` (created if missing).
async fn open(url: &str, schema: Option<&str>) -> Result<Client, StoreError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(backend_error)?;
    // The connection task ends when the connection breaks; the client then reports closed.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    if let Some(schema) = schema {
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"))
            .await
            .map_err(backend_error)?;
    }
    Ok(client)
}

impl PostgresBackend {
    /// Runs statements without parameters (administration, tests).
    pub async fn batch_execute(&self, sql: &str) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        state.reconnect_if_broken().await?;
        let outcome = state.client.batch_execute(sql).await;
        outcome.map_err(|e| state.failed(e))
    }
}

impl State {
    /// Opens the connection again when the server closed it; statements prepared on the
    /// old connection are gone with it.
    async fn reconnect_if_broken(&mut self) -> Result<(), StoreError> {
        if self.broken || self.client.is_closed() {
            self.client = open(&self.url, self.schema.as_deref()).await?;
            self.prepared.clear();
            self.broken = false;
            tracing::info!("reconnected to PostgreSQL");
        }
        Ok(())
    }

    /// Turns a failed statement into the store's error, remembering a lost connection.
    fn failed(&mut self, e: tokio_postgres::Error) -> StoreError {
        if connection_lost(&e) {
            self.broken = true;
        }
        backend_error(e)
    }

    async fn prepare(&mut self, sql: &str) -> Result<Statement, StoreError> {
        self.reconnect_if_broken().await?;
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let outcome = self.client.prepare(sql).await;
        let statement = outcome.map_err(|e| self.failed(e))?;
        self.prepared.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    async fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut state = self.state.lock().await;
        let statement = state.prepare(sql).await?;
        let boxed: Vec<_> = params.iter().map(param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
        let outcome = state.client.query(&statement, &refs).await;
        let rows = outcome.map_err(|e| state.failed(e))?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| match *row.columns()[i].type_() {
                        Type::INT8 => row.try_get::<_, Option<i64>>(i).map(Value::Int).map_err(backend_error),
                        Type::INT4 => row
                            .try_get::<_, Option<i32>>(i)
                            .map(|v| Value::Int(v.map(i64::from)))
                            .map_err(backend_error),
                        _ => row.try_get::<_, Option<String>>(i).map(Value::Text).map_err(backend_error),
                    })
                    .collect()
            })
            .collect()
    }

    async fn transaction(&self, statements: &[(String, Vec<Value>)]) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        let mut prepared = Vec::with_capacity(statements.len());
        for (sql, _) in statements {
            prepared.push(state.prepare(sql).await?);
        }
        let boxed: Vec<Vec<_>> = statements.iter().map(|(_, params)| params.iter().map(param).collect()).collect();
        let refs: Vec<Vec<&(dyn ToSql + Sync)>> =
            boxed.iter().map(|ps| ps.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()).collect();
        let outcome = async {
            let tx = state.client.transaction().await?;
            // Sent back to back without waiting for each reply (pipelined).
            let executes = prepared.iter().zip(&refs).map(|(statement, params)| tx.execute(statement, params));
            try_join_all(executes).await?;
            // Dropping the transaction on an error above rolls it back.
            tx.commit().await
        }
        .await;
        outcome.map_err(|e| state.failed(e))
    }
}
