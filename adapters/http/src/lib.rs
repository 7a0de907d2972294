//! The HTTP edge (poem): the versioned REST API for the console and integrations (every
//! route checks an access key), the admin console itself, `/healthz`, `/metrics`, the
//! OpenAPI document (`/openapi.json`) and its browsable UI (`/docs`), the WebSocket chat
//! channel (`/api/v1/teams/{team}/channel/ws`) and its embeddable widget (`/widget/{team}`).
//!
//! Handlers only call the [`Runtime`] and the read models; they never touch a search
//! backend directly. Commands become events; queries read projections.

mod api;
pub mod auth;
mod channel;
mod console;
mod dto;
mod error;
mod faqs;
pub mod guard;
pub mod live;
pub mod onboarding;
mod read_models;
mod socket;
mod teams;
#[cfg(feature = "testing")]
pub mod testing;
pub mod user_tokens;
mod webhooks;
mod widget;

use std::sync::Arc;
use std::time::Duration;

use poem::middleware::Tracing;
use poem::web::{Data, Json};
use poem::{get, handler, http::StatusCode, EndpointExt, IntoResponse, Route};
use poem_openapi::{OpenApiService, Tags};
use serde::Serialize;
use switchboard_engine::runtime::Runtime;
use switchboard_engine::services::{CoreHealth, CoreTask, ParkedItem};
use switchboard_outbound::OutboundClient;
use switchboard_projections::outbox::DeliveryStore;
use switchboard_projections::store::ReadStore;
use switchboard_schemas::event::AccessRole;
use switchboard_schemas::TeamId;

pub use auth::{GlobalAdmins, Principal};
pub use channel::ApiChannel;
pub use live::LiveConversations;
pub use onboarding::Onboarding;

use auth::{digest_hex, team_of, AccessKey};
use error::ApiError;

/// What the edge needs: the runtime, the read models, who may call, and its limits.
pub struct AppState {
    /// Where commands go.
    pub runtime: Arc<Runtime>,
    /// The session list, statistics, FAQ candidates and the team directory.
    pub read_models: Arc<dyn ReadStore>,
    /// The asynchronous core's health, for `/healthz`.
    pub health: Arc<CoreHealth>,
    /// Limits and waits.
    pub limits: HttpLimits,
    /// What this instance runs on, reported by `/healthz`.
    pub backends: Backends,
    /// The global administrators' keys (team keys live in the team streams).
    pub admins: GlobalAdmins,
    /// WeCom applications set up from the console.
    pub onboarding: Onboarding,
    /// Webhook deliveries, for listing and replaying them.
    pub deliveries: Arc<dyn DeliveryStore>,
    /// Wakes this instance's webhook sender when a delivery is replayed.
    pub wake_webhooks: Arc<tokio::sync::Notify>,
    /// The WebSocket channel's open conversations (made with
    /// `limits.channel_max_connections`).
    pub live: Arc<LiveConversations>,
    /// The address guard, for checking the addresses a team admin enters (webhooks, the
    /// WeCom API base) when they are entered; sending checks them again.
    pub outbound: OutboundClient,
}

impl AppState {
    /// Who a key belongs to: 401 when it is nobody's (unknown, revoked or malformed).
    pub async fn principal(&self, key: &AccessKey) -> Result<Principal, ApiError> {
        let token = key.0.token.trim();
        if let Some(name) = self.admins.recognise(token) {
            return Ok(Principal::Admin { name });
        }
        let invalid = || {
            ApiError::unauthorized(
                "the access key is not valid (mistyped, revoked, or of a team that no longer exists)",
            )
        };
        let team = team_of(token).ok_or_else(invalid)?;
        let state = self.runtime.load_team(&team).await?;
        let (key_id, key) = state.key_by_digest(&digest_hex(token)).ok_or_else(invalid)?;
        Ok(Principal::Member { team, key_id, role: key.role, staff: key.staff.clone(), label: key.label.clone() })
    }

    /// The principal, once it may act with `role` in `team` (403 otherwise).
    pub async fn authorize(&self, key: &AccessKey, team: &TeamId, role: AccessRole) -> Result<Principal, ApiError> {
        let principal = self.principal(key).await?;
        principal.require(team, role)?;
        Ok(principal)
    }

    /// The team a route names, once the key may act on it with `role` and it exists (404
    /// for a team never created).
    pub(crate) async fn existing_team(
        &self,
        key: &AccessKey,
        raw: &str,
        role: AccessRole,
    ) -> Result<(TeamId, Principal, switchboard_engine::team::Team), ApiError> {
        let id = api::team_id(raw)?;
        let principal = self.authorize(key, &id, role).await?;
        let team = self.runtime.load_team(&id).await?;
        if team.name.is_none() {
            return Err(ApiError::not_found("unknown_team", format!("team {id} does not exist")));
        }
        Ok((id, principal, team))
    }
}

/// The groups of the API, as the browsable documentation shows them.
#[derive(Tags)]
pub enum ApiTags {
    /// Operators' messages and everything done to a session.
    Conversations,
    /// The session list, statistics and weekly reports.
    Sessions,
    /// The FAQ catalog, its import and export.
    Faq,
    /// Questions Switchboard could not answer well, to approve into FAQs.
    Candidates,
    /// Teams: onboarding, settings, roster, WeCom, access keys, webhooks.
    Teams,
    /// The WebSocket chat channel: tokens for operators' pages.
    Channel,
}

/// Limits of the HTTP edge.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Requests with a larger body are refused with 413.
    pub max_body_bytes: usize,
    /// FAQ files larger than this are refused with 413.
    pub max_upload_bytes: usize,
    /// How long sending a message waits for Switchboard's reply before returning.
    pub reply_wait: Duration,
    /// Open WebSocket channel connections this instance admits; more are refused (503).
    pub channel_max_connections: usize,
    /// The largest WebSocket frame (and message) a client may send.
    pub channel_max_frame_bytes: usize,
    /// How long a new WebSocket connection may take to say `hello`.
    pub channel_hello_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_upload_bytes: 8 * 1024 * 1024,
            reply_wait: Duration::from_secs(3),
            channel_max_connections: 10_000,
            channel_max_frame_bytes: 16 * 1024,
            channel_hello_timeout: Duration::from_secs(10),
        }
    }
}

/// The backends in use, named for operators reading `/healthz`.
#[derive(Debug, Clone, Serialize)]
pub struct Backends {
    /// The event log backend.
    pub store: String,
    /// The matcher in use.
    pub matcher: String,
    /// Whether semantic matching is available (and why not, when it is not).
    pub semantic: String,
    /// The generative model rewording confident answers, or `off`.
    pub generative: String,
}

/// What anyone may know: whether the instance is well.
#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// What an instance administrator also sees: why, and what the instance runs on.
#[derive(Serialize)]
struct HealthDetails<'a> {
    status: &'static str,
    log_reachable: bool,
    caught_up: bool,
    position: u64,
    /// Core tasks that ended (the instance is degraded until restarted).
    stopped_tasks: Vec<CoreTask>,
    /// Items set aside because working on them panicked, ever.
    parked_total: u64,
    /// The last of them, newest last.
    parked: Vec<ParkedItem>,
    #[serde(flatten)]
    backends: &'a Backends,
}

/// `/healthz`: 200 with `{"status":"ok"}`, or 503 with `degraded`, for anyone (a load
/// balancer); the details only with an instance administrator's key, since they name
/// backends and addresses.
#[handler]
fn healthz(req: &poem::Request, Data(state): Data<&Arc<AppState>>) -> poem::Response {
    let health = &state.health;
    let stopped_tasks = health.stopped_tasks();
    let ok = health.log_ok() && health.caught_up() && stopped_tasks.is_empty();
    let status = if ok { "ok" } else { "degraded" };
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let token = req.header(poem::http::header::AUTHORIZATION).and_then(|h| h.strip_prefix("Bearer "));
    if token.and_then(|token| state.admins.recognise(token.trim())).is_none() {
        return Json(Health { status }).with_status(code).into_response();
    }
    let body = HealthDetails {
        status,
        log_reachable: health.log_ok(),
        caught_up: health.caught_up(),
        position: health.position(),
        stopped_tasks,
        parked_total: health.parked_total.load(std::sync::atomic::Ordering::Relaxed),
        parked: health.parked(),
        backends: &state.backends,
    };
    Json(body).with_status(code).into_response()
}

/// Prometheus text exposition of the runtime's and the core's counters.
#[handler]
fn metrics(Data(state): Data<&Arc<AppState>>) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let m = state.runtime.metrics();
    let h = &state.health;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
    };
    metric(
        "switchboard_commands_committed_total",
        "counter",
        "Commands that appended events.",
        m.committed.load(Relaxed),
    );
    metric(
        "switchboard_commands_unchanged_total",
        "counter",
        "Commands that changed nothing (repeats).",
        m.unchanged.load(Relaxed),
    );
    metric(
        "switchboard_commands_rejected_total",
        "counter",
        "Commands refused by a domain rule.",
        m.rejected.load(Relaxed),
    );
    metric(
        "switchboard_version_conflicts_total",
        "counter",
        "Conflicts that made a command be decided again.",
        m.conflicts.load(Relaxed),
    );
    metric("switchboard_events_appended_total", "counter", "Events appended by this process.", m.events.load(Relaxed));
    metric("switchboard_core_position", "gauge", "Last log position the core processed.", h.position());
    metric(
        "switchboard_core_caught_up",
        "gauge",
        "1 once the core has caught up with the log.",
        u64::from(h.caught_up()),
    );
    metric(
        "switchboard_core_rephrased_total",
        "counter",
        "Confident answers this instance sent in a generative model's words.",
        h.rephrased.load(Relaxed),
    );
    metric(
        "switchboard_core_rephrase_fallbacks_total",
        "counter",
        "Confident answers sent in the FAQ's words because the model failed, was slow or strayed.",
        h.rephrase_fallbacks.load(Relaxed),
    );
    metric("switchboard_log_reachable", "gauge", "1 while the event log answers.", u64::from(h.log_ok()));
    metric("switchboard_core_matched_total", "counter", "Questions this instance matched.", h.matched.load(Relaxed));
    metric(
        "switchboard_core_sends_total",
        "counter",
        "Outbound messages this instance handed to a channel.",
        h.sends.load(Relaxed),
    );
    metric(
        "switchboard_core_timers_fired_total",
        "counter",
        "Timers this instance fired.",
        h.timers_fired.load(Relaxed),
    );
    metric(
        "switchboard_core_parked_total",
        "counter",
        "Items the core set aside because working on them panicked (see /healthz with an administrator key).",
        h.parked_total.load(Relaxed),
    );
    metric(
        "switchboard_core_tasks_stopped",
        "gauge",
        "Core tasks that ended; more than 0 means the instance must be restarted.",
        h.stopped_tasks().len() as u64,
    );
    metric(
        "switchboard_core_parts_held",
        "gauge",
        "Conversation parts this instance works on (see core.shard).",
        h.parts_held.load(Relaxed),
    );
    out
}

/// Refuses request bodies over the configured limit (the upload limit for FAQ files) with
/// 413, whether or not the client declared a length, before any handler reads them.
async fn limit_body<E: poem::Endpoint>(next: Arc<E>, mut req: poem::Request) -> poem::Result<poem::Response> {
    let limits = req.data::<Arc<AppState>>().map_or_else(HttpLimits::default, |s| s.limits.clone());
    let upload = req.uri().path().ends_with("/faqs/import");
    let max = if upload { limits.max_upload_bytes } else { limits.max_body_bytes };
    let too_large = || {
        let body = serde_json::json!({
            "code": "body_too_large",
            "message": format!("the request body is larger than {max} bytes"),
        });
        Json(body).with_status(StatusCode::PAYLOAD_TOO_LARGE).into_response()
    };
    let declared = req.header(poem::http::header::CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    match declared {
        Some(len) if len > max => return Ok(too_large()),
        Some(_) => {}
        None => match req.take_body().into_bytes_limit(max).await {
            Ok(bytes) => req.set_body(bytes),
            Err(poem::error::ReadBodyError::PayloadTooLarge) => return Ok(too_large()),
            Err(e) => return Err(e.into()),
        },
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// The whole HTTP application; without `api` (an instance that only runs the engine or a
/// projector) just `/healthz` and `/metrics`. Every error, also those poem raises before a
/// handler runs, answers in one JSON format.
pub fn app(state: Arc<AppState>, api: bool) -> impl poem::Endpoint<Output = poem::Response> {
    let mut route = Route::new();
    if api {
        let apis = (
            api::Api { state: state.clone() },
            read_models::ReadModelsApi { state: state.clone() },
            faqs::FaqApi { state: state.clone() },
            teams::TeamsApi { state: state.clone() },
            onboarding::WecomApi { state: state.clone() },
            webhooks::WebhooksApi { state: state.clone() },
            user_tokens::UserTokensApi { state: state.clone() },
        );
        let service = OpenApiService::new(apis, "Switchboard", env!("CARGO_PKG_VERSION")).server("/api/v1");
        let spec = service.spec_endpoint();
        let ui = service.swagger_ui();
        route = route
            .at("/api/v1/teams/:team/channel/ws", get(socket::channel_socket))
            .nest("/api/v1", service)
            .nest("/widget", widget::routes())
            .nest("/docs", ui)
            .at("/openapi.json", spec)
            .nest("/console", console::routes())
            .at("/", get(console::to_console));
    }
    route
        .at("/healthz", get(healthz))
        .at("/metrics", get(metrics))
        .around(limit_body)
        .data(state)
        .with(Tracing)
        .catch_all_error(error::json_error)
}
