//! The webhook outbox on the same SQL stores: endpoints, deliveries with their attempts,
//! and the outbox's checkpoint in a table of its own, so that a new read-model layout
//! (which drops the projections' checkpoints) never makes the outbox route history again.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use switchboard_projections::outbox::{
    Attempt, Delivery, DeliveryQuery, DeliveryStatus, DeliveryStore, DueDelivery, Endpoint, NewDelivery, OutboxBatch,
};
use switchboard_projections::store::StoreError;
use switchboard_schemas::event::WebhookRegistered;
use switchboard_schemas::TeamId;
use uuid::Uuid;

use crate::sql::{int_at, text_at, Value};
use crate::{Backend, SqlStore};

/// The outbox's checkpoint (one row).
const CHECKPOINT_TABLE: &str = "CREATE TABLE IF NOT EXISTS sb_webhook_checkpoint (
    id BIGINT PRIMARY KEY,
    position BIGINT NOT NULL
)";

/// Registered endpoints.
const ENDPOINTS_TABLE: &str = "CREATE TABLE IF NOT EXISTS sb_webhook_endpoints (
    webhook_id TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    label TEXT NOT NULL,
    url TEXT NOT NULL,
    event_types TEXT NOT NULL,
    secret_ref TEXT NOT NULL
)";

/// One row per (endpoint, event).
const DELIVERIES_TABLE: &str = "CREATE TABLE IF NOT EXISTS sb_webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL,
    team TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    stream TEXT NOT NULL,
    position BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT,
    last_attempt_at BIGINT,
    last_status BIGINT,
    last_error TEXT
)";

/// Finds the oldest open delivery per endpoint and stream quickly.
const OPEN_INDEX: &str = "CREATE INDEX IF NOT EXISTS sb_webhook_open ON sb_webhook_deliveries \
     (webhook_id, stream, position) WHERE status IN ('pending', 'failed')";

/// Lists a team's deliveries newest first.
const LIST_INDEX: &str = "CREATE INDEX IF NOT EXISTS sb_webhook_list ON sb_webhook_deliveries (team, position DESC)";

/// The statements creating the outbox's tables; idempotent.
pub const TABLES: [&str; 5] = [CHECKPOINT_TABLE, ENDPOINTS_TABLE, DELIVERIES_TABLE, OPEN_INDEX, LIST_INDEX];

const COLUMNS: &str = "d.delivery_id, d.webhook_id, d.team, d.event_id, d.event_type, d.stream, d.position, \
     d.occurred_at, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error";

const UPSERT_ENDPOINT: &str =
    "INSERT INTO sb_webhook_endpoints (webhook_id, team, label, url, event_types, secret_ref) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (webhook_id) DO UPDATE SET team = excluded.team, \
     label = excluded.label, url = excluded.url, event_types = excluded.event_types, secret_ref = excluded.secret_ref";

const INSERT_DELIVERY: &str =
    "INSERT INTO sb_webhook_deliveries (delivery_id, webhook_id, team, event_id, event_type, \
     stream, position, occurred_at, status, attempts, next_attempt_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $8) ON CONFLICT (delivery_id) DO NOTHING";

const UPSERT_CHECKPOINT: &str = "INSERT INTO sb_webhook_checkpoint (id, position) VALUES (1, $1) \
     ON CONFLICT (id) DO UPDATE SET position = excluded.position";

// Parameters are numbered in the order they appear: SQLite binds `$n` by first appearance.
const RECORD_ATTEMPT: &str = "UPDATE sb_webhook_deliveries SET status = $1, attempts = attempts + 1, \
     next_attempt_at = $2, last_attempt_at = $3, last_status = $4, last_error = $5 \
     WHERE delivery_id = $6 AND status IN ('pending', 'failed')";

const REPLAY: &str = "UPDATE sb_webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1 \
     WHERE team = $2 AND delivery_id = $3";

fn text(value: impl Into<String>) -> Value {
    Value::Text(Some(value.into()))
}

fn int(value: i64) -> Value {
    Value::Int(Some(value))
}

fn position(value: u64) -> Result<Value, StoreError> {
    i64::try_from(value).map(int).map_err(|_| StoreError::Invalid(format!("position {value}")))
}

fn required<T>(value: Option<T>, column: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::Corrupt(format!("{column} is NULL")))
}

fn uuid_at(row: &[Value], index: usize, column: &str) -> Result<Uuid, StoreError> {
    let raw = required(text_at(row, index)?, column)?;
    raw.parse().map_err(|_| StoreError::Corrupt(format!("{column} {raw:?} is not a UUID")))
}

fn time_at(row: &[Value], index: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
    int_at(row, index)?
        .map(|ms| DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("time {ms}"))))
        .transpose()
}

fn team_at(row: &[Value], index: usize) -> Result<TeamId, StoreError> {
    let raw = required(text_at(row, index)?, "team")?;
    TeamId::new(&raw).map_err(|_| StoreError::Corrupt(format!("team {raw:?}")))
}

fn delivery_from(row: &[Value]) -> Result<Delivery, StoreError> {
    let status = required(text_at(row, 8)?, "status")?;
    let count = |index, column| -> Result<u64, StoreError> {
        u64::try_from(required(int_at(row, index)?, column)?)
            .map_err(|_| StoreError::Corrupt(format!("{column} is negative")))
    };
    Ok(Delivery {
        delivery: NewDelivery {
            delivery_id: uuid_at(row, 0, "delivery_id")?,
            webhook_id: uuid_at(row, 1, "webhook_id")?,
            team: team_at(row, 2)?,
            event_id: uuid_at(row, 3, "event_id")?,
            event_type: required(text_at(row, 4)?, "event_type")?,
            stream: required(text_at(row, 5)?, "stream")?,
            position: count(6, "position")?,
            occurred_at: required(time_at(row, 7)?, "occurred_at")?,
        },
        status: status.parse::<DeliveryStatus>().map_err(|_| StoreError::Corrupt(format!("status {status:?}")))?,
        attempts: u32::try_from(count(9, "attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: time_at(row, 10)?,
        last_attempt_at: time_at(row, 11)?,
        last_status: int_at(row, 12)?.and_then(|s| u16::try_from(s).ok()),
        last_error: text_at(row, 13)?,
    })
}

fn endpoint_values(endpoint: &Endpoint) -> Result<Vec<Value>, StoreError> {
    let w = &endpoint.webhook;
    let types = serde_json::to_string(&w.event_types).map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(vec![
        text(w.webhook_id.to_string()),
        text(endpoint.team.as_str()),
        text(w.label.clone()),
        text(w.url.clone()),
        text(types),
        text(w.secret_ref.clone()),
    ])
}

fn endpoint_from(row: &[Value]) -> Result<Endpoint, StoreError> {
    let types = required(text_at(row, 4)?, "event_types")?;
    Ok(Endpoint {
        team: team_at(row, 1)?,
        webhook: WebhookRegistered {
            webhook_id: uuid_at(row, 0, "webhook_id")?,
            label: required(text_at(row, 2)?, "label")?,
            url: required(text_at(row, 3)?, "url")?,
            event_types: serde_json::from_str(&types)
                .map_err(|_| StoreError::Corrupt(format!("event_types {types}")))?,
            secret_ref: required(text_at(row, 5)?, "secret_ref")?,
        },
    })
}

#[async_trait]
impl<B: Backend> DeliveryStore for SqlStore<B> {
    async fn outbox_checkpoint(&self) -> Result<u64, StoreError> {
        let position = self.one_int("SELECT position FROM sb_webhook_checkpoint WHERE id = 1", &[]).await?;
        Ok(position.map_or(0, |p| u64::try_from(p).unwrap_or(0)))
    }

    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let sql = "SELECT webhook_id, team, label, url, event_types, secret_ref FROM sb_webhook_endpoints \
                   ORDER BY webhook_id";
        self.backend.rows(sql, &[]).await?.iter().map(|row| endpoint_from(row)).collect()
    }

    async fn commit_outbox(&self, batch: &OutboxBatch, checkpoint: u64) -> Result<(), StoreError> {
        let mut statements = Vec::new();
        for endpoint in &batch.registered {
            statements.push((UPSERT_ENDPOINT.to_owned(), endpoint_values(endpoint)?));
        }
        for id in &batch.removed {
            statements.push((
                "DELETE FROM sb_webhook_endpoints WHERE webhook_id = $1".to_owned(),
                vec![text(id.to_string())],
            ));
        }
        for d in &batch.deliveries {
            statements.push((
                INSERT_DELIVERY.to_owned(),
                vec![
                    text(d.delivery_id.to_string()),
                    text(d.webhook_id.to_string()),
                    text(d.team.as_str()),
                    text(d.event_id.to_string()),
                    text(d.event_type.clone()),
                    text(d.stream.clone()),
                    position(d.position)?,
                    int(d.occurred_at.timestamp_millis()),
                ],
            ));
        }
        statements.push((UPSERT_CHECKPOINT.to_owned(), vec![position(checkpoint)?]));
        self.backend.transaction(&statements).await
    }

    async fn due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueDelivery>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS}, e.url, e.secret_ref FROM sb_webhook_deliveries d \
             JOIN sb_webhook_endpoints e ON e.webhook_id = d.webhook_id \
             WHERE d.status IN ('pending', 'failed') AND d.next_attempt_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM sb_webhook_deliveries p WHERE p.webhook_id = d.webhook_id \
                 AND p.stream = d.stream AND p.status IN ('pending', 'failed') AND p.position < d.position) \
             ORDER BY d.next_attempt_at, d.position LIMIT $2"
        );
        let rows = self.backend.rows(&sql, &[int(now.timestamp_millis()), int(i64::from(limit))]).await?;
        rows.iter()
            .map(|row| {
                Ok(DueDelivery {
                    delivery: delivery_from(row)?,
                    url: required(text_at(row, 14)?, "url")?,
                    secret_ref: required(text_at(row, 15)?, "secret_ref")?,
                })
            })
            .collect()
    }

    async fn record_attempt(&self, delivery_id: Uuid, at: DateTime<Utc>, attempt: &Attempt) -> Result<(), StoreError> {
        let (status, next, code, error) = match attempt {
            Attempt::Delivered { status } => (DeliveryStatus::Delivered, None, Some(*status), None),
            Attempt::Failed { status, error, retry_at: Some(retry_at) } => {
                (DeliveryStatus::Failed, Some(retry_at.timestamp_millis()), *status, Some(error.clone()))
            }
            Attempt::Failed { status, error, retry_at: None } => {
                (DeliveryStatus::GaveUp, None, *status, Some(error.clone()))
            }
        };
        let params = vec![
            text(status.as_str()),
            Value::Int(next),
            int(at.timestamp_millis()),
            Value::Int(code.map(i64::from)),
            Value::Text(error),
            text(delivery_id.to_string()),
        ];
        self.backend.transaction(&[(RECORD_ATTEMPT.to_owned(), params)]).await
    }

    async fn deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM sb_webhook_deliveries d WHERE d.team = $1");
        let mut params = vec![text(query.team.as_str())];
        if let Some(webhook) = query.webhook_id {
            params.push(text(webhook.to_string()));
            sql.push_str(&format!(" AND d.webhook_id = ${}", params.len()));
        }
        if let Some(status) = query.status {
            params.push(text(status.as_str()));
            sql.push_str(&format!(" AND d.status = ${}", params.len()));
        }
        if let Some(before) = query.before {
            // Every stored position is below i64::MAX: a bound past it means "all".
            params.push(int(i64::try_from(before).unwrap_or(i64::MAX)));
            sql.push_str(&format!(" AND d.position < ${}", params.len()));
        }
        params.push(int(i64::from(query.limit)));
        sql.push_str(&format!(" ORDER BY d.position DESC, d.webhook_id LIMIT ${}", params.len()));
        self.backend.rows(&sql, &params).await?.iter().map(|row| delivery_from(row)).collect()
    }

    async fn delivery(&self, team: &TeamId, delivery_id: Uuid) -> Result<Option<Delivery>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM sb_webhook_deliveries d WHERE d.team = $1 AND d.delivery_id = $2");
        let rows = self.backend.rows(&sql, &[text(team.as_str()), text(delivery_id.to_string())]).await?;
        rows.first().map(|row| delivery_from(row)).transpose()
    }

    async fn replay(&self, team: &TeamId, delivery_id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
        if self.delivery(team, delivery_id).await?.is_none() {
            return Ok(false);
        }
        let params = vec![int(now.timestamp_millis()), text(team.as_str()), text(delivery_id.to_string())];
        self.backend.transaction(&[(REPLAY.to_owned(), params)]).await?;
        Ok(true)
    }
}
