//! The HTTP edge (poem): the versioned REST API for the console and integrations (every
//! route checks an access key), the admin console itself, `/healthz`, `/metrics`, the
//! OpenAPI document (`/openapi.json`) and its browsable UI (`/docs`), the WebSocket chat
//! channel (`/api/v1/teams/{team}/channel/ws`) and its embeddable widget (`/widget/{team}`).
//!
//! Handlers only call the [`Runtime`] and the read models; they never touch a search
//! backend directly. Commands become events; queries read projections.

/// `Debug` for a type that carries a secret: its other fields as usual, the secret ones as
/// `<redacted>`, so a logged or traced value never shows a token or key.
macro_rules! debug_redacting {
    ($ty:ident { $($field:ident),* } hiding { $($secret:ident),+ }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // Naming every field keeps this in step with the type: a new one must be listed.
                let Self { $($field,)* $($secret: _,)+ } = self;
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), $field))*
                    $(.field(stringify!($secret), &format_args!("<redacted>")))+
                    .finish()
            }
        }
    };
}

pub(crate) mod allow;
mod api;
#[cfg(feature = "testing")]
pub mod api_contract;
mod attachments;
pub mod auth;
mod channel;
mod console;
mod described;
pub mod download;
mod dto;
mod error;
mod faqs;
pub mod guard;
pub mod live;
pub mod onboarding;
mod oncall;
pub mod params;
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

use poem::web::{Data, Json};
use poem::{get, handler, http::StatusCode, EndpointExt, IntoResponse, Route};
use poem_openapi::{OpenApiService, Tags};
use serde::Serialize;
use switchboard_engine::blobs::BlobStore;
use switchboard_engine::hit_test::HitTester;
use switchboard_engine::runtime::Runtime;
use switchboard_engine::services::{CoreHealth, CoreTask, ParkedItem};
use switchboard_engine::threshold_replay::ThresholdReplayer;
use switchboard_outbound::OutboundClient;
use switchboard_projections::outbox::DeliveryStore;
use switchboard_projections::runtime::SESSIONS;
use switchboard_projections::store::ReadStore;
use switchboard_schemas::event::AccessRole;
use switchboard_schemas::TeamId;
use switchboard_telemetry::{status_class, Exposition, HttpRequest, Instruments};

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
    /// What `/metrics` reports beside the counters the runtime and the core keep.
    pub instruments: Instruments,
    /// Tries questions against a team's FAQ and policy (the FAQ page's hit testing).
    pub hit_tester: Arc<HitTester>,
    /// Replays a team's past matches at other thresholds (the FAQ page's replay).
    pub replayer: Arc<ThresholdReplayer>,
    /// Operators' attachments, served to their team.
    pub blobs: Arc<dyn BlobStore>,
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
    /// On call: schedules, overrides, time off, availability, the team calendar, feeds.
    OnCall,
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
    /// Open channel connections one operator may have (tabs, devices).
    pub channel_max_per_user: usize,
    /// Open channel connections one channel token may have.
    pub channel_max_per_token: usize,
    /// A channel connection that sends no frame for this long is closed (the widget pings
    /// every 25 seconds).
    pub channel_idle_timeout: Duration,
    /// The largest WebSocket frame (and message) a client may send.
    pub channel_max_frame_bytes: usize,
    /// How long a new WebSocket connection may take to say `hello`.
    pub channel_hello_timeout: Duration,
    /// How long a request body may take to arrive (the same `http.request_deadline` the
    /// connection guard applies to the request head).
    pub request_deadline: Duration,
}

impl HttpLimits {
    /// The caps on greeted channel connections.
    pub fn channel_caps(&self) -> live::ChannelCaps {
        live::ChannelCaps {
            per_instance: self.channel_max_connections,
            per_user: self.channel_max_per_user,
            per_token: self.channel_max_per_token,
        }
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_upload_bytes: 8 * 1024 * 1024,
            reply_wait: Duration::from_secs(3),
            channel_max_connections: 10_000,
            channel_max_per_user: 8,
            channel_max_per_token: 4,
            channel_idle_timeout: Duration::from_secs(120),
            channel_max_frame_bytes: 16 * 1024,
            channel_hello_timeout: Duration::from_secs(10),
            request_deadline: guard::ConnectionLimits::default().request_deadline,
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

/// The instance's metrics: the shared instruments (latency histograms, webhook failures)
/// and, read at this scrape, the runtime's and the core's counters, the work pending by
/// kind and how far each read model trails the log.
#[handler]
async fn metrics(Data(state): Data<&Arc<AppState>>) -> poem::Response {
    use std::sync::atomic::Ordering::Relaxed;
    let m = state.runtime.metrics();
    let h = &state.health;
    let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    let mut out = Exposition::new(&state.instruments);
    out.counter("switchboard_commands_committed", "Commands that appended events.", m.committed.load(Relaxed))
        .counter(
            "switchboard_commands_unchanged",
            "Commands that changed nothing (repeats).",
            m.unchanged.load(Relaxed),
        )
        .counter("switchboard_commands_rejected", "Commands refused by a domain rule.", m.rejected.load(Relaxed))
        .counter(
            "switchboard_version_conflicts",
            "Conflicts that made a command be decided again.",
            m.conflicts.load(Relaxed),
        )
        .counter("switchboard_events_appended", "Events appended by this process.", m.events.load(Relaxed))
        .gauge("switchboard_core_position", "Last log position the core processed.", gauge(h.position()))
        .gauge("switchboard_core_caught_up", "1 once the core has caught up with the log.", i64::from(h.caught_up()))
        .counter(
            "switchboard_core_rephrased",
            "Confident answers this instance sent in a generative model's words.",
            h.rephrased.load(Relaxed),
        )
        .counter(
            "switchboard_core_rephrase_fallbacks",
            "Confident answers sent in the FAQ's words because the model failed, was slow or strayed.",
            h.rephrase_fallbacks.load(Relaxed),
        )
        .gauge("switchboard_log_reachable", "1 while the event log answers.", i64::from(h.log_ok()))
        .counter("switchboard_core_matched", "Questions this instance matched.", h.matched.load(Relaxed))
        .counter(
            "switchboard_core_sends",
            "Outbound messages this instance handed to a channel.",
            h.sends.load(Relaxed),
        )
        .counter(
            "switchboard_core_delivery_failures",
            "Deliveries to operators and engineers that failed (retried or given up).",
            h.delivery_failures.load(Relaxed),
        )
        .counter("switchboard_core_timers_fired", "Timers this instance fired.", h.timers_fired.load(Relaxed))
        .counter(
            "switchboard_core_attachments_stored",
            "Operators' attachments this instance fetched and stored.",
            h.attachments_stored.load(Relaxed),
        )
        .counter(
            "switchboard_core_attachments_failed",
            "Operators' attachments this instance gave up fetching (see the conversation for why).",
            h.attachments_failed.load(Relaxed),
        )
        .counter(
            "switchboard_core_parked",
            "Items the core set aside because working on them panicked (see /healthz with an administrator key).",
            h.parked_total.load(Relaxed),
        )
        .gauge(
            "switchboard_core_tasks_stopped",
            "Core tasks that ended; more than 0 means the instance must be restarted.",
            gauge(h.stopped_tasks().len() as u64),
        )
        .gauge(
            "switchboard_core_parts_held",
            "Conversation parts this instance works on (see core.shard).",
            gauge(h.parts_held.load(Relaxed)),
        );
    let pending = &h.pending;
    for (kind, value) in [
        ("questions", &pending.questions),
        ("deliveries", &pending.deliveries),
        ("group_chats", &pending.group_chats),
        ("timers", &pending.timers),
        ("attachments", &pending.attachments),
    ] {
        out.gauge(
            &format!("switchboard_pending_{kind}"),
            &format!("Work the core has seen queued and not yet done: {}.", kind.replace('_', " ")),
            gauge(value.load(Relaxed)),
        );
    }
    // How far the read models trail the log; unknown (not exposed) while either is unreachable.
    if let Ok(head) = state.runtime.head().await {
        if let Ok(sessions) = state.read_models.checkpoint(SESSIONS).await {
            out.gauge(
                "switchboard_projection_lag_sessions",
                "Events of the log the session list and statistics have not folded yet.",
                gauge(head.saturating_sub(sessions)),
            );
        }
        if let Ok(outbox) = state.deliveries.outbox_checkpoint().await {
            out.gauge(
                "switchboard_projection_lag_webhooks",
                "Events of the log the webhook outbox has not routed yet.",
                gauge(head.saturating_sub(outbox)),
            );
        }
    }
    poem::Response::builder().content_type(switchboard_telemetry::CONTENT_TYPE).body(out.encode())
}

/// Times a request into `switchboard_http_request_seconds`, labelled with the route `route`
/// gives its path — a documented route, never the raw path, so a scanner cannot create
/// series.
pub async fn time_request<E: poem::Endpoint>(
    next: E,
    request: poem::Request,
    instruments: Instruments,
    route: impl Fn(&str) -> String,
) -> poem::Result<poem::Response> {
    let started = std::time::Instant::now();
    let method = request.method().to_string();
    let route = route(request.uri().path());
    let outcome = next.call(request).await.map(IntoResponse::into_response);
    let status = match &outcome {
        Ok(response) => response.status(),
        Err(error) => error.status(),
    };
    let labels = HttpRequest { method, route, status: status_class(status.as_u16()) };
    instruments.http_seconds.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    outcome
}

/// Logs every request as poem's `Tracing` does, but with the path only: a query may carry a
/// secret (the calendar feed's key), and logs are read by more people than hold keys.
async fn trace_request<E: poem::Endpoint>(next: Arc<E>, request: poem::Request) -> poem::Result<poem::Response> {
    use tracing::Instrument;
    let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path());
    async move {
        let started = std::time::Instant::now();
        let outcome = next.call(request).await.map(IntoResponse::into_response);
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        match &outcome {
            Ok(response) => tracing::info!(status = response.status().as_u16(), duration_ms, "response"),
            Err(error) => tracing::info!(status = error.status().as_u16(), duration_ms, error = %error, "error"),
        }
        outcome
    }
    .instrument(span)
    .await
}

/// Whether a request is a FAQ upload, whose handler receives the body itself once the key
/// allows it (see [`receive_body`]).
fn is_upload(req: &poem::Request) -> bool {
    req.uri().path().ends_with("/faqs/import")
}

/// Receives a request body within the limits before any handler runs: larger than the limit
/// is 413 whether or not a length was declared, not all there within `request_deadline` is
/// 408. A FAQ upload is only refused by its declared length here; its handler reads it after
/// checking the key ([`read_upload`]), so nobody without a key can make the instance take in
/// the upload limit's worth of bytes.
async fn receive_body<E: poem::Endpoint>(next: Arc<E>, mut req: poem::Request) -> poem::Result<poem::Response> {
    let limits = req.data::<Arc<AppState>>().map_or_else(HttpLimits::default, |s| s.limits.clone());
    let upload = is_upload(&req);
    let max = if upload { limits.max_upload_bytes } else { limits.max_body_bytes };
    let declared = req.header(poem::http::header::CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max) {
        return Ok(body_too_large(max).into_response());
    }
    if !upload {
        let bytes = read_within(req.take_body(), max, limits.request_deadline).await;
        match bytes {
            Ok(bytes) => req.set_body(bytes),
            Err(refusal) => return Ok(refusal.into_response()),
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

fn body_too_large(max: usize) -> ApiError {
    ApiError::too_large("body_too_large", format!("the request body is larger than {max} bytes"))
}

/// A whole body of at most `max` bytes, received within `deadline`.
async fn read_within(body: poem::Body, max: usize, deadline: Duration) -> Result<Vec<u8>, ApiError> {
    match tokio::time::timeout(deadline, body.into_bytes_limit(max)).await {
        Err(_) => Err(ApiError::request_timeout(deadline)),
        Ok(Ok(bytes)) => Ok(bytes.to_vec()),
        Ok(Err(poem::error::ReadBodyError::PayloadTooLarge)) => Err(body_too_large(max)),
        Ok(Err(e)) => Err(ApiError::bad_request("unreadable_body", format!("the request body could not be read: {e}"))),
    }
}

/// A FAQ upload's body, read by its handler once the key is checked.
pub(crate) async fn read_upload(state: &AppState, body: poem::Body) -> Result<Vec<u8>, ApiError> {
    read_within(body, state.limits.max_upload_bytes, state.limits.request_deadline).await
}

/// The whole HTTP application; without `api` (an instance that only runs the engine or a
/// projector) just `/healthz` and `/metrics`. Every error, also those poem raises before a
/// handler runs, answers in one JSON format.
pub fn app(state: Arc<AppState>, api: bool) -> impl poem::Endpoint<Output = poem::Response> {
    let mut route = Route::new();
    let mut routes = Arc::new(allow::RouteTable::default());
    if api {
        let apis = (
            api::Api { state: state.clone() },
            read_models::ReadModelsApi { state: state.clone() },
            faqs::FaqApi { state: state.clone() },
            teams::TeamsApi { state: state.clone() },
            onboarding::WecomApi { state: state.clone() },
            webhooks::WebhooksApi { state: state.clone() },
            user_tokens::UserTokensApi { state: state.clone() },
            oncall::OnCallApi { state: state.clone() },
            attachments::AttachmentsApi { state: state.clone() },
        );
        let service = OpenApiService::new(apis, "Switchboard", env!("CARGO_PKG_VERSION")).server("/api/v1");
        let poem_spec = service.spec();
        let mut document = serde_json::from_str(&poem_spec).unwrap_or_default();
        described::put_definitions(&mut document);
        routes = Arc::new(allow::RouteTable::from_document(&document, "/api/v1"));
        let spec: Arc<str> = document.to_string().into();
        // The browsable UI embeds the document; it shows the served one, not poem's.
        let ui_html = service.swagger_ui_html().replacen(&poem_spec, &spec, 1);
        route = route
            .at("/api/v1/teams/:team/channel/ws", get(socket::channel_socket))
            .nest("/api/v1", service)
            .nest("/widget", widget::routes())
            .nest("/docs", poem::endpoint::make_sync(move |_| poem::web::Html(ui_html.clone())))
            .at(
                "/openapi.json",
                get(poem::endpoint::make_sync(move |_| {
                    poem::Response::builder().content_type("application/json; charset=utf-8").body(spec.to_string())
                })),
            )
            .nest("/console", console::routes())
            .at("/", get(console::to_console));
    }
    route
        .at("/healthz", get(healthz))
        .at("/metrics", get(metrics))
        .around(receive_body)
        .around({
            let routes = routes.clone();
            move |next, request| allow::add_allow(next, request, routes.clone())
        })
        .around({
            let instruments = state.instruments.clone();
            move |next, request| {
                let routes = routes.clone();
                time_request(next, request, instruments.clone(), move |path| routes.route(path))
            }
        })
        .data(state)
        .around(trace_request)
        .catch_all_error(error::json_error)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Every value of this crate that carries a secret, formatted for a log line.
    #[test]
    fn values_carrying_secrets_never_show_them_in_debug() {
        const SECRET: &str = "sentinel-secret-7f3a9c";
        let shown = [
            format!(
                "{:?}",
                onboarding::WecomSetup {
                    corp_id: "ww1".into(),
                    agent_id: 1.into(),
                    token: Some(SECRET.into()),
                    encoding_aes_key: Some(SECRET.into()),
                    secret: Some(SECRET.into()),
                    receive_id: None,
                    api_base: None,
                    console_url: None,
                    greeting: None,
                    expected_version: None,
                }
            ),
            format!(
                "{:?}",
                teams::IssuedKey {
                    key_id: uuid::Uuid::nil(),
                    token: SECRET.into(),
                    label: "ci".into(),
                    role: teams::Role::Viewer,
                    staff: "sun".into(),
                }
            ),
            format!(
                "{:?}",
                user_tokens::IssuedUserToken {
                    token: SECRET.into(),
                    user: "lisi".into(),
                    expires_at: chrono::Utc::now()
                }
            ),
            format!(
                "{:?}",
                webhooks::RegisteredWebhook {
                    webhook: webhooks::WebhookView {
                        webhook_id: uuid::Uuid::nil(),
                        label: "CRM".into(),
                        url: "https://crm.example.com/in".into(),
                        event_types: Vec::new(),
                        secret_ref: "SWITCHBOARD_WEBHOOK_0".into(),
                        secret_available: true,
                    },
                    secret: SECRET.into(),
                }
            ),
            format!("{:?}", auth::IssuedToken { token: SECRET.into(), digest: auth::digest_hex(SECRET) }),
            format!("{:?}", switchboard_secret::Secret::new(SECRET)),
            format!(
                "{:?}",
                auth::GlobalAdmins::none()
                    .with_key(switchboard_schemas::StaffId::new("root").unwrap(), &SECRET.repeat(2))
                    .unwrap()
            ),
        ];
        for text in shown {
            assert!(!text.contains(SECRET), "{text}");
        }
    }
}
