//! The webhook outbox: a checkpointed subscriber of the log that turns each event into one
//! delivery per matching endpoint of its team, written together with the checkpoint, so a
//! restart neither loses nor repeats an event. Sending is someone else's job (the
//! `switchboard-webhooks` adapter): it takes due deliveries from the [`DeliveryStore`] and
//! records every attempt there.
//!
//! Endpoints are folded from the team streams (`WebhookRegistered`, `WebhookRemoved`) into
//! the same store, in the same transaction, so the outbox needs nothing but the log to
//! rebuild. An endpoint receives the events appended after its registration and before its
//! removal, except the events about itself.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use switchboard_engine::follow::{follow, FollowOptions, Follower};
use switchboard_engine::log::{batches, EventLog};
use switchboard_schemas::event::WebhookRegistered;
use switchboard_schemas::{AggregateKind, Event, RecordedEvent, TeamEvent, TeamId};
use tokio::sync::Notify;
use tracing::debug;
use uuid::Uuid;

use crate::runtime::ProjectionError;
use crate::store::StoreError;

/// The checkpoint name of the outbox.
pub const OUTBOX: &str = "webhooks";

/// Events read and committed per transaction.
const BATCH: usize = 1_000;

/// A registered endpoint as the outbox routes to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// The team whose events it receives.
    pub team: TeamId,
    /// The endpoint as registered.
    pub webhook: WebhookRegistered,
}

impl Endpoint {
    /// True when the endpoint wants this event: of its team, of a type it asked for (all
    /// when it named none), and not about the endpoint itself.
    pub fn wants(&self, recorded: &RecordedEvent, about: Option<Uuid>) -> bool {
        recorded.team == self.team
            && about != Some(self.webhook.webhook_id)
            && (self.webhook.event_types.is_empty() || self.webhook.event_types.contains(&recorded.event_type))
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not attempted yet.
    Pending,
    /// Attempted and refused or unanswered; will be retried at `next_attempt_at`.
    Failed,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed; only a replay sends it again.
    GaveUp,
}

switchboard_schemas::spelled!(DeliveryStatus {
    Pending => "pending",
    Failed => "failed",
    Delivered => "delivered",
    GaveUp => "gave_up",
});

impl DeliveryStatus {
    /// True while the delivery still waits to be sent (it holds back later events of its
    /// conversation to the same endpoint).
    pub fn is_open(self) -> bool {
        matches!(self, DeliveryStatus::Pending | DeliveryStatus::Failed)
    }
}

/// A delivery as the outbox creates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewDelivery {
    /// Derived from the endpoint and the event, so the same pair is never queued twice.
    pub delivery_id: Uuid,
    /// The endpoint.
    pub webhook_id: Uuid,
    /// The endpoint's team.
    pub team: TeamId,
    /// The event (receivers deduplicate by it).
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// The event's stream: deliveries of one stream to one endpoint go in log order.
    pub stream: String,
    /// The event's position in the log, where the sender reads it.
    pub position: u64,
    /// When the event happened.
    pub occurred_at: DateTime<Utc>,
}

impl NewDelivery {
    /// The delivery of `recorded` to `webhook_id`.
    pub fn of(recorded: &RecordedEvent, webhook_id: Uuid, team: &TeamId) -> Self {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(webhook_id.as_bytes());
        key[16..].copy_from_slice(recorded.event_id.as_bytes());
        Self {
            delivery_id: Uuid::new_v5(&Uuid::NAMESPACE_OID, &key),
            webhook_id,
            team: team.clone(),
            event_id: recorded.event_id,
            event_type: recorded.event_type.clone(),
            stream: recorded.stream.to_string(),
            position: recorded.position,
            occurred_at: recorded.occurred_at,
        }
    }
}

/// A delivery with its history, as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// What is delivered.
    #[serde(flatten)]
    pub delivery: NewDelivery,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made since it was queued or last replayed.
    pub attempts: u32,
    /// When it is due (open deliveries only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was last attempted.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer, if there was one.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// A delivery that may be sent now: the oldest open one of its stream for its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The delivery.
    pub delivery: Delivery,
    /// Where to send it (the endpoint's address now, if it changed since).
    pub url: String,
    /// Where the endpoint's signing secret is kept.
    pub secret_ref: String,
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The endpoint answered 2xx.
    Delivered {
        /// The status it answered.
        status: u16,
    },
    /// The attempt failed.
    Failed {
        /// The status the endpoint answered, if it answered.
        status: Option<u16>,
        /// What went wrong, for the console.
        error: String,
        /// When to try again; none to give up.
        retry_at: Option<DateTime<Utc>>,
    },
}

/// Which deliveries the console lists: one team's, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// The team.
    pub team: TeamId,
    /// Only this endpoint's.
    pub webhook_id: Option<Uuid>,
    /// Only deliveries in this status.
    pub status: Option<DeliveryStatus>,
    /// Only deliveries of events before this position (the previous page's last).
    pub before: Option<u64>,
    /// At most this many.
    pub limit: u32,
}

/// What one outbox batch writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxBatch {
    /// Endpoints registered or changed, as they now are.
    pub registered: Vec<Endpoint>,
    /// Endpoints removed (their open deliveries are never sent).
    pub removed: Vec<Uuid>,
    /// New deliveries; one already queued is left as it is.
    pub deliveries: Vec<NewDelivery>,
}

/// Where the outbox keeps endpoints, deliveries and its checkpoint. Every backend passes
/// the same contract suite (`contract` feature).
#[async_trait]
pub trait DeliveryStore: Send + Sync + 'static {
    /// The position up to which the outbox has routed events (0 when never run).
    async fn outbox_checkpoint(&self) -> Result<u64, StoreError>;

    /// Every registered endpoint.
    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError>;

    /// Writes the batch and the checkpoint atomically: on error nothing is written.
    async fn commit_outbox(&self, batch: &OutboxBatch, checkpoint: u64) -> Result<(), StoreError>;

    /// Up to `limit` deliveries due at `now`, oldest first: for each endpoint and stream
    /// only the oldest open delivery, and only while its endpoint is registered.
    async fn due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueDelivery>, StoreError>;

    /// Records an attempt of an open delivery; one no longer open is left alone (it was
    /// replayed or its endpoint removed meanwhile).
    async fn record_attempt(&self, delivery_id: Uuid, at: DateTime<Utc>, attempt: &Attempt) -> Result<(), StoreError>;

    /// A team's deliveries, newest event first.
    async fn deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError>;

    /// One delivery of a team's.
    async fn delivery(&self, team: &TeamId, delivery_id: Uuid) -> Result<Option<Delivery>, StoreError>;

    /// Queues a team's delivery again, due at `now`, with its attempts reset; false when the
    /// team has no such delivery.
    async fn replay(&self, team: &TeamId, delivery_id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// The routing state: the registered endpoints of every team.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    endpoints: BTreeMap<Uuid, Endpoint>,
}

impl Routes {
    /// Routes over the stored endpoints.
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        Self { endpoints: endpoints.into_iter().map(|e| (e.webhook.webhook_id, e)).collect() }
    }

    /// Adds an event to the batch: its deliveries (to the endpoints registered before it),
    /// then the change it makes to the endpoints.
    pub fn route(&mut self, recorded: &RecordedEvent, batch: &mut OutboxBatch) -> Result<(), ProjectionError> {
        let change = webhook_change(recorded)?;
        let about = change.as_ref().map(|c| match c {
            Change::Registered(w) => w.webhook_id,
            Change::Removed(id) => *id,
        });
        batch.deliveries.extend(
            self.endpoints
                .values()
                .filter(|endpoint| endpoint.wants(recorded, about))
                .map(|endpoint| NewDelivery::of(recorded, endpoint.webhook.webhook_id, &endpoint.team)),
        );
        match change {
            Some(Change::Registered(webhook)) => {
                let endpoint = Endpoint { team: recorded.team.clone(), webhook };
                batch.removed.retain(|id| *id != endpoint.webhook.webhook_id);
                batch.registered.retain(|e| e.webhook.webhook_id != endpoint.webhook.webhook_id);
                batch.registered.push(endpoint.clone());
                self.endpoints.insert(endpoint.webhook.webhook_id, endpoint);
            }
            // Only the team that registered an endpoint can remove it.
            Some(Change::Removed(id)) if self.endpoints.get(&id).is_some_and(|e| e.team == recorded.team) => {
                self.endpoints.remove(&id);
                batch.registered.retain(|e| e.webhook.webhook_id != id);
                batch.removed.push(id);
            }
            Some(Change::Removed(_)) | None => {}
        }
        Ok(())
    }
}

/// The outbox as a follower of the log, with the routes as of its checkpoint.
struct Routing<'a> {
    outbox: &'a Outbox,
    routes: Routes,
}

#[async_trait]
impl Follower for Routing<'_> {
    type Error = ProjectionError;

    async fn resume_from(&mut self) -> Result<u64, ProjectionError> {
        self.routes = Routes::new(self.outbox.store.endpoints().await?);
        Ok(self.outbox.store.outbox_checkpoint().await?)
    }

    async fn handle(&mut self, events: Vec<RecordedEvent>) -> Result<(), ProjectionError> {
        let Some(last) = events.last().map(|e| e.position) else { return Ok(()) };
        self.outbox.commit(&mut self.routes, &events, last).await
    }
}

enum Change {
    Registered(WebhookRegistered),
    Removed(Uuid),
}

fn webhook_change(recorded: &RecordedEvent) -> Result<Option<Change>, ProjectionError> {
    if recorded.stream.kind() != AggregateKind::Team
        || !matches!(recorded.event_type.as_str(), "WebhookRegistered" | "WebhookRemoved")
    {
        return Ok(None);
    }
    Ok(match recorded.decode()? {
        Event::Team(TeamEvent::WebhookRegistered(w)) => Some(Change::Registered(w)),
        Event::Team(TeamEvent::WebhookRemoved(r)) => Some(Change::Removed(r.webhook_id)),
        _ => None,
    })
}

/// The outbox over one log and one store.
pub struct Outbox {
    log: Arc<dyn EventLog>,
    store: Arc<dyn DeliveryStore>,
    queued: Arc<Notify>,
}

impl Outbox {
    /// An outbox of `log` into `store`; `queued` is notified after each batch with
    /// deliveries, so a sender need not poll.
    pub fn new(log: Arc<dyn EventLog>, store: Arc<dyn DeliveryStore>, queued: Arc<Notify>) -> Self {
        Self { log, store, queued }
    }

    /// Routes everything up to the log's current end; returns the checkpoint reached.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        let mut routes = Routes::new(self.store.endpoints().await?);
        let mut position = self.store.outbox_checkpoint().await?;
        let mut existing = batches(self.log.clone(), position, None, BATCH);
        while let Some(events) = existing.next().await {
            let events = events?;
            let Some(last) = events.last().map(|e| e.position) else { break };
            self.commit(&mut routes, &events, last).await?;
            position = last;
        }
        Ok(position)
    }

    /// Follows the log until `shutdown` completes: catches up from the checkpoint, then
    /// follows live. A failure is logged and followed by a resume from the stored
    /// checkpoint and endpoints.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let mut routing = Routing { outbox: self, routes: Routes::default() };
        let options = FollowOptions::new("the webhook outbox").batch(BATCH);
        // The outbox retries every failure, so following ends only at shutdown.
        let _ = follow(self.log.clone(), &mut routing, options, shutdown).await;
    }

    async fn commit(
        &self,
        routes: &mut Routes,
        events: &[RecordedEvent],
        checkpoint: u64,
    ) -> Result<(), ProjectionError> {
        let mut next = routes.clone();
        let mut batch = OutboxBatch::default();
        for recorded in events {
            next.route(recorded, &mut batch)?;
        }
        self.store.commit_outbox(&batch, checkpoint).await?;
        // Only a committed batch moves the routes: a failed one is routed again.
        *routes = next;
        if !batch.deliveries.is_empty() {
            debug!(checkpoint, deliveries = batch.deliveries.len(), "webhook deliveries queued");
            self.queued.notify_one();
        }
        Ok(())
    }
}
