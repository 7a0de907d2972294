//! The webhook endpoints under `/api/v1/teams/{team}/webhooks` (team admins): register,
//! change and remove endpoints, list deliveries with their attempts, and replay one. The
//! signing secret is made here, kept in the instance's secret file (never in the log) and
//! shown once, when the endpoint is registered or its secret rotated.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use switchboard_engine::runtime::CommandError;
use switchboard_engine::team::{Team, TeamCommand};
use switchboard_projections::outbox::{Delivery, DeliveryQuery, DeliveryStatus};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{AccessRole, WebhookRegistered};
use switchboard_schemas::TeamId;
use switchboard_secret::Secret;
use uuid::Uuid;

use crate::auth::AccessKey;
use crate::dto::CommandResult;
use crate::error::ApiError;
use crate::params::{Count, EventTypeName, Label, List, TeamParam, Text, Version, WebAddress};
use crate::{ApiTags, AppState};
use switchboard_schemas::bounds::MAX_WEBHOOK_EVENT_TYPES;

/// Deliveries listed per page at most.
const MAX_PAGE: u32 = 200;

/// The webhook endpoints.
pub struct WebhooksApi {
    pub(crate) state: Arc<AppState>,
}

/// An endpoint as registered or changed.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookBody {
    /// What it is for ("CRM sync").
    pub label: Text<Label>,
    /// Where deliveries are POSTed (http:// or https://).
    pub url: Text<WebAddress>,
    /// The event types to deliver; empty or absent for every type.
    #[oai(default)]
    pub event_types: List<Text<EventTypeName>, 0, MAX_WEBHOOK_EVENT_TYPES>,
}

/// A registered endpoint.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookView {
    /// Its id.
    pub webhook_id: Uuid,
    /// What it is for.
    pub label: String,
    /// Where deliveries go.
    pub url: String,
    /// The event types delivered (empty: all).
    pub event_types: Vec<String>,
    /// Where its signing secret is kept on the instances (environment variable or secret
    /// file key).
    pub secret_ref: String,
    /// Whether this instance has the secret (deliveries fail until it does).
    pub secret_available: bool,
}

/// A registered endpoint with its signing secret, shown only in this answer.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RegisteredWebhook {
    /// The endpoint.
    pub webhook: WebhookView,
    /// The HMAC-SHA256 key receivers verify `Switchboard-Signature` with.
    pub secret: String,
}

debug_redacting!(RegisteredWebhook { webhook } hiding { secret });

/// Where a delivery stands, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not attempted yet.
    Pending,
    /// Failed; retried at `next_attempt_at`.
    Failed,
    /// Answered 2xx.
    Delivered,
    /// Every attempt failed; replay to send again.
    GaveUp,
}

impl From<DeliveryStatus> for DeliveryState {
    fn from(s: DeliveryStatus) -> Self {
        match s {
            DeliveryStatus::Pending => Self::Pending,
            DeliveryStatus::Failed => Self::Failed,
            DeliveryStatus::Delivered => Self::Delivered,
            DeliveryStatus::GaveUp => Self::GaveUp,
        }
    }
}

impl From<DeliveryState> for DeliveryStatus {
    fn from(s: DeliveryState) -> Self {
        match s {
            DeliveryState::Pending => Self::Pending,
            DeliveryState::Failed => Self::Failed,
            DeliveryState::Delivered => Self::Delivered,
            DeliveryState::GaveUp => Self::GaveUp,
        }
    }
}

/// One delivery of one event to one endpoint.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DeliveryView {
    /// The delivery (the same on every attempt).
    pub delivery_id: Uuid,
    /// The endpoint.
    pub webhook_id: Uuid,
    /// The event.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: String,
    /// Its stream (the conversation, for conversation events).
    pub stream: String,
    /// Its position in the log.
    pub position: u64,
    /// When the event happened.
    pub occurred_at: DateTime<Utc>,
    /// Where the delivery stands.
    pub status: DeliveryState,
    /// Attempts since it was queued or replayed.
    pub attempts: u32,
    /// When it is tried next (pending and failed only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was last tried.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            delivery_id: d.delivery.delivery_id,
            webhook_id: d.delivery.webhook_id,
            event_id: d.delivery.event_id,
            event_type: d.delivery.event_type,
            stream: d.delivery.stream,
            position: d.delivery.position,
            occurred_at: d.delivery.occurred_at,
            status: d.status.into(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_attempt_at: d.last_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error,
        }
    }
}

/// A page of deliveries, newest event first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DeliveryPage {
    /// The deliveries.
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `before` for the next page; absent on the last one.
    pub next_before: Option<u64>,
}

/// The secret-file key (and environment variable) of an endpoint's signing secret.
fn secret_name(webhook_id: Uuid) -> String {
    format!("SWITCHBOARD_WEBHOOK_{}", webhook_id.simple().to_string().to_uppercase())
}

fn new_secret() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("no randomness for a secret: {e}")))?;
    Ok(format!("whsec_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

impl WebhooksApi {
    async fn team(&self, key: &AccessKey, raw: &str) -> Result<(TeamId, Team), ApiError> {
        let (id, _, team) = self.state.existing_team(key, raw, AccessRole::Admin).await?;
        Ok((id, team))
    }

    fn view(&self, webhook: &WebhookRegistered) -> WebhookView {
        WebhookView {
            webhook_id: webhook.webhook_id,
            label: webhook.label.clone(),
            url: webhook.url.clone(),
            event_types: webhook.event_types.clone(),
            secret_ref: webhook.secret_ref.clone(),
            secret_available: self.state.onboarding.console.secrets().get(&webhook.secret_ref).is_some(),
        }
    }

    fn store_secret(&self, name: &str) -> Result<String, ApiError> {
        let secret = new_secret()?;
        self.state
            .onboarding
            .console
            .secrets()
            .put(&[(name.to_owned(), Secret::new(secret.clone()))])
            .map_err(|e| ApiError::secret_not_stored("the signing secret", e))?;
        Ok(secret)
    }

    /// Refuses an endpoint whose address the guard refuses, before anything is written.
    async fn check_address(&self, url: &str) -> Result<(), ApiError> {
        self.state.outbound.check(url).await.map_err(|e| ApiError::bad_request("refused_address", e.to_string()))
    }

    async fn register(&self, id: &TeamId, webhook: WebhookRegistered) -> Result<(), ApiError> {
        let command = TeamCommand::RegisterWebhook { webhook };
        self.state.runtime.team(id, command, Causation::root(Uuid::now_v7())).await?;
        Ok(())
    }

    fn known(team: &Team, webhook_id: Uuid) -> Result<&WebhookRegistered, ApiError> {
        team.webhooks
            .get(&webhook_id)
            .ok_or_else(|| ApiError::not_found("unknown_webhook", format!("webhook {webhook_id} does not exist")))
    }
}

#[OpenApi(tag = "ApiTags::Teams")]
impl WebhooksApi {
    /// The team's webhook endpoints (team admins).
    #[oai(path = "/teams/:team/webhooks", method = "get")]
    async fn list(&self, key: AccessKey, team: Path<TeamParam>) -> Result<Json<Vec<WebhookView>>, ApiError> {
        let (_, state) = self.team(&key, &team).await?;
        Ok(Json(state.webhooks.values().map(|w| self.view(w)).collect()))
    }

    /// Register an endpoint (team admins). It receives the events appended from now on;
    /// its signing secret is in this answer only.
    #[oai(path = "/teams/:team/webhooks", method = "post")]
    async fn create(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<WebhookBody>,
    ) -> Result<Json<RegisteredWebhook>, ApiError> {
        let (id, _) = self.team(&key, &team).await?;
        let webhook_id = Uuid::now_v7();
        let webhook = WebhookRegistered {
            webhook_id,
            label: body.label.trim().to_owned(),
            url: body.url.trim().to_owned(),
            event_types: body.event_types.iter().map(|t| t.trim().to_owned()).collect(),
            secret_ref: secret_name(webhook_id),
        };
        // Checked before the secret is written, so a refused endpoint leaves nothing behind.
        let check = TeamCommand::RegisterWebhook { webhook: webhook.clone() };
        self.state.runtime.load_team(&id).await?.decide(&check).map_err(CommandError::Team)?;
        self.check_address(&webhook.url).await?;
        let secret = self.store_secret(&webhook.secret_ref)?;
        self.register(&id, webhook.clone()).await?;
        // Not the URL: it may carry the receiver's token.
        tracing::info!(team = %id, %webhook_id, "webhook registered");
        Ok(Json(RegisteredWebhook { webhook: self.view(&webhook), secret }))
    }

    /// Change an endpoint's label, address or event types (team admins); its secret stays.
    #[oai(path = "/teams/:team/webhooks/:webhook_id", method = "put")]
    async fn change(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        webhook_id: Path<Uuid>,
        body: Json<WebhookBody>,
    ) -> Result<Json<WebhookView>, ApiError> {
        let (id, state) = self.team(&key, &team).await?;
        let existing = Self::known(&state, webhook_id.0)?;
        let webhook = WebhookRegistered {
            label: body.label.trim().to_owned(),
            url: body.url.trim().to_owned(),
            event_types: body.event_types.iter().map(|t| t.trim().to_owned()).collect(),
            ..existing.clone()
        };
        state.decide(&TeamCommand::RegisterWebhook { webhook: webhook.clone() }).map_err(CommandError::Team)?;
        self.check_address(&webhook.url).await?;
        self.register(&id, webhook.clone()).await?;
        Ok(Json(self.view(&webhook)))
    }

    /// Make a new signing secret for an endpoint (team admins); the old one stops working
    /// at once. The new secret is in this answer only.
    #[oai(path = "/teams/:team/webhooks/:webhook_id/secret", method = "post")]
    async fn rotate(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        webhook_id: Path<Uuid>,
    ) -> Result<Json<RegisteredWebhook>, ApiError> {
        let (id, state) = self.team(&key, &team).await?;
        let webhook = Self::known(&state, webhook_id.0)?.clone();
        let secret = self.store_secret(&webhook.secret_ref)?;
        tracing::info!(team = %id, webhook_id = %webhook.webhook_id, "webhook secret rotated");
        Ok(Json(RegisteredWebhook { webhook: self.view(&webhook), secret }))
    }

    /// Remove an endpoint (team admins): nothing more is sent to it.
    #[oai(path = "/teams/:team/webhooks/:webhook_id", method = "delete")]
    async fn remove(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        webhook_id: Path<Uuid>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let (id, _) = self.team(&key, &team).await?;
        let command = TeamCommand::RemoveWebhook { webhook_id: webhook_id.0 };
        let committed = self.state.runtime.team(&id, command, Causation::root(Uuid::now_v7())).await?;
        tracing::info!(team = %id, webhook_id = %webhook_id.0, "webhook removed");
        Ok(Json(committed.into()))
    }

    /// The team's deliveries, newest event first (team admins), optionally of one endpoint
    /// or in one status; page with `before`.
    #[oai(path = "/teams/:team/webhooks/deliveries", method = "get")]
    async fn deliveries(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        webhook: Query<Option<Uuid>>,
        status: Query<Option<DeliveryState>>,
        before: Query<Option<Version>>,
        limit: Query<Option<Count<1, { MAX_PAGE as u64 }>>>,
    ) -> Result<Json<DeliveryPage>, ApiError> {
        let (id, _) = self.team(&key, &team).await?;
        let limit = limit.0.map_or(50, |n| u32::try_from(n.get()).unwrap_or(u32::MAX));
        if limit == 0 || limit > MAX_PAGE {
            return Err(ApiError::bad_request("invalid_query", format!("limit must be 1 to {MAX_PAGE}")));
        }
        let query = DeliveryQuery {
            team: id,
            webhook_id: webhook.0,
            status: status.0.map(Into::into),
            before: before.0.map(Version::get),
            // One more than asked tells whether there is a next page.
            limit: limit + 1,
        };
        let mut found = self.state.deliveries.deliveries(&query).await?;
        let mut next_before = None;
        if found.len() > limit as usize {
            found.truncate(limit as usize);
            // A page ends between events, not between two endpoints' deliveries of one event:
            // the last event's deliveries move to the next page (unless they fill this one).
            if let Some(cut) = found.last().map(|d| d.delivery.position) {
                if found.iter().any(|d| d.delivery.position != cut) {
                    found.retain(|d| d.delivery.position != cut);
                    next_before = Some(cut + 1);
                } else {
                    next_before = Some(cut);
                }
            }
        }
        Ok(Json(DeliveryPage { deliveries: found.into_iter().map(Into::into).collect(), next_before }))
    }

    /// Send a delivery again now, with its attempts reset (team admins): for one that gave
    /// up after the endpoint was fixed, or one a receiver lost.
    #[oai(path = "/teams/:team/webhooks/deliveries/:delivery_id/replay", method = "post")]
    async fn replay(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        delivery_id: Path<Uuid>,
    ) -> Result<Json<DeliveryView>, ApiError> {
        let (id, _) = self.team(&key, &team).await?;
        let unknown = || ApiError::not_found("unknown_delivery", format!("delivery {} does not exist", delivery_id.0));
        if !self.state.deliveries.replay(&id, delivery_id.0, self.state.runtime.now()).await? {
            return Err(unknown());
        }
        self.state.wake_webhooks.notify_one();
        let delivery = self.state.deliveries.delivery(&id, delivery_id.0).await?.ok_or_else(unknown)?;
        tracing::info!(team = %id, delivery_id = %delivery_id.0, "webhook delivery replayed");
        Ok(Json(delivery.into()))
    }
}
