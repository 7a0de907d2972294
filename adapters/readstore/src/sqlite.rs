//! The embedded store: one SQLite file (WAL), written by one connection.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};
use switchboard_projections::store::StoreError;

use crate::sql::{Row, Value};
use crate::{Backend, SqlStore};

/// SQLite behind a mutex: statements are short and the store has one writer. Work runs on
/// the blocking pool so it never stalls the async executor.
pub struct SqliteBackend {
    connection: Arc<Mutex<Connection>>,
}

fn backend_error(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(Some(v)) => ToSqlOutput::from(*v),
            Value::Text(Some(v)) => ToSqlOutput::from(v.as_str()),
            Value::Int(None) | Value::Text(None) => ToSqlOutput::from(rusqlite::types::Null),
        })
    }
}

impl SqlStore<SqliteBackend> {
    /// Opens (creating if needed) the store file, e.g. `readmodels.sqlite` beside the log.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path).map_err(backend_error)?;
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;")
            .map_err(backend_error)?;
        Self::prepare(SqliteBackend { connection: Arc::new(Mutex::new(connection)) }).await
    }
}

impl SqliteBackend {
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = connection.lock().map_err(|_| StoreError::Backend("connection lock poisoned".into()))?;
            work(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let (sql, params) = (sql.to_owned(), params.to_vec());
        self.with(move |connection| query(connection, &sql, &params)).await
    }

    async fn transaction(&self, statements: &[(String, Vec<Value>)]) -> Result<(), StoreError> {
        let statements = statements.to_vec();
        self.with(move |connection| {
            let tx = connection.transaction().map_err(backend_error)?;
            for (sql, params) in &statements {
                tx.prepare_cached(sql)
                    .and_then(|mut s| s.execute(rusqlite::params_from_iter(params.iter())))
                    .map_err(backend_error)?;
            }
            // Dropping the transaction on an error above rolls it back.
            tx.commit().map_err(backend_error)
        })
        .await
    }
}

fn query(connection: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(backend_error)?;
    let columns = statement.column_count();
    let mut rows = statement.query(rusqlite::params_from_iter(params.iter())).map_err(backend_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend_error)? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(match row.get_ref(i).map_err(backend_error)? {
                ValueRef::Null => Value::Int(None),
                ValueRef::Integer(v) => Value::Int(Some(v)),
                ValueRef::Real(v) => Value::Int(Some(v as i64)),
                ValueRef::Text(t) => Value::Text(Some(String::from_utf8_lossy(t).into_owned())),
                ValueRef::Blob(_) => return Err(StoreError::Corrupt(format!("column {i} is a blob"))),
            });
        }
        out.push(values);
    }
    Ok(out)
}
