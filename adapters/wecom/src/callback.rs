//! The callback endpoint WeCom calls: `GET` for URL verification, `POST` for messages and
//! events. The synchronous edge only verifies, decrypts, parses and appends the resulting
//! command durably; the session is processed asynchronously by the core.
//!
//! Status codes (every refusal appends nothing and logs one line with ids and lengths, never
//! the token, the key or message text):
//!
//! | situation | status |
//! | --- | --- |
//! | unknown team (no WeCom application configured, or not onboarded in the engine) | 404 |
//! | missing query parameter, timestamp not a number | 400 |
//! | body over the limit (checked while reading, with or without Content-Length) | 413 |
//! | body not UTF-8, envelope or message XML malformed | 400 |
//! | ciphertext not base64, wrong length, bad padding, bad length field, not UTF-8 | 400 |
//! | wrong `msg_signature` | 403 |
//! | timestamp outside the window (after the signature, so the timestamp is authentic) | 403 |
//! | wrong receive id, or an AgentID other than the configured one | 403 |
//! | the event log failed or stayed contended (WeCom retries) | 503 |
//! | the engine could not load the team's settings or events | 500 |
//! | accepted: recorded, a duplicate, ignored, or refused by the engine | 200, empty body |
//!
//! The signature is refused with 403 rather than 401 because there is no authentication
//! scheme to challenge with: the request is simply not allowed.
//!
//! What an authentic callback becomes ([`plan`]):
//!
//! | callback | command |
//! | --- | --- |
//! | text | `ReceiveMessage { message_id: MsgId, text: Content, channel: Wecom }` |
//! | image, voice, video, file | `ReceiveAttachment { message_id: MsgId, source: WecomMedia(MediaId), text: Recognition }`: never matched as text; the core fetches the bytes afterwards (`media/get`, [`WecomClient`](crate::WecomClient)) |
//! | `click` with a key in the team's `menu_keys` | its [`Action`] (default `human` → `RequestHuman`, `close` → `CloseByOperator`) |
//! | `click` on `away` / `back` (an engineer's menu) | `TeamCommand::SetAvailability` for the sender, in the team's stream |
//! | `template_card_event` with a key in `card_keys` | its [`Action`] (default `resolved` / `not_resolved` → `GiveFeedback`) |
//! | `template_card_event` with the key `ack:<operator>:<session>` (the hand-over card's button) | `Acknowledge { by: FromUserName }` on that operator's session (a button of an earlier session, or of an earlier hand-over of the session — told by the card's `TaskId`, the notice's id — changes nothing, and so does an event without a `TaskId`) |
//! | `enter_agent` with a configured `greeting` | the greeting is sent (outside a session); nothing appended |
//! | `view`, other events, other message types, unknown keys | nothing (200, logged at info) |
//!
//! Retries: messages are deduplicated by the engine on MsgId. Events are deduplicated on
//! FromUserName + CreateTime (+ event and key): every event a callback causes carries a
//! correlation id derived from that key ([`correlation_id`]), and a callback whose id is
//! already in the operator's stream is a duplicate — also after a restart. Concurrent
//! retries race past that check together, but the runtime serialises them and the engine
//! refuses the second one (see [`is_harmless_repeat`](switchboard_engine::conversation::is_harmless_repeat)).
//!
//! An engine rejection of an authentic callback (an empty text, a click that no longer
//! applies) still answers 200: WeCom would only retry the same thing. See
//! [`is_harmless_repeat`](switchboard_engine::conversation::is_harmless_repeat) for which rejections count as duplicates (logged at info); all other
//! rejections are logged at warn. So is a sender whose UserID the engine does not accept as a
//! user id (letters, digits, `-`, `_`, `@` and `.`, as WeCom UserIDs have).

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::{header, StatusCode};
use poem::web::{Data, Path};
use poem::{get, handler, Body, EndpointExt, Request, Response, Route};
use serde::Deserialize;
use sha1::{Digest, Sha1};
use switchboard_engine::conversation::{is_harmless_repeat, Command, IncomingAttachment};
use switchboard_engine::runtime::{CommandError, Runtime};
use switchboard_schemas::attachment::AttachmentSource;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::Channel;
use switchboard_schemas::{MessageId, StaffId, TeamId, UserId};
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use crate::config::{Action, Registered, WecomApps};
use crate::crypto::CryptoError;
use crate::xml::{parse_envelope, parse_message, Body as MessageBody, Event, Message, XmlError};

/// Where the binary mounts [`routes`] by default: `/wecom/<team>/callback`.
pub const DEFAULT_MOUNT_PATH: &str = "/wecom";

/// Limits of the callback endpoint.
#[derive(Debug, Clone)]
pub struct CallbackOptions {
    /// Bodies larger than this are refused with 413 (WeCom's envelopes are a few KiB).
    pub max_body_bytes: usize,
    /// How far a callback's timestamp may be from now before it is refused as a replay.
    pub timestamp_window: Duration,
    /// Sends greetings on `enter_agent`; none sends nothing.
    pub greeter: Option<Arc<crate::WecomClient>>,
}

impl Default for CallbackOptions {
    fn default() -> Self {
        Self { max_body_bytes: 64 * 1024, timestamp_window: Duration::from_secs(300), greeter: None }
    }
}

/// What the handlers share.
struct CallbackState {
    runtime: Arc<Runtime>,
    apps: Arc<WecomApps>,
    options: CallbackOptions,
}

/// The callback routes, relative to their mount point: `/:team/callback` for `GET` and
/// `POST`. Mount them with `Route::new().nest(DEFAULT_MOUNT_PATH, routes(..))`.
pub fn routes(runtime: Arc<Runtime>, apps: Arc<WecomApps>, options: CallbackOptions) -> Route {
    let state = Arc::new(CallbackState { runtime, apps, options });
    Route::new().at("/:team/callback", get(verify_url).post(receive).data(state))
}

/// A refused request: its status, a short code (the response body) and the log detail.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: &'static str,
    detail: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into() }
    }
}

fn crypto_refusal(e: CryptoError) -> Refusal {
    let (status, code) = match e {
        CryptoError::BadSignature => (StatusCode::FORBIDDEN, "bad_signature"),
        CryptoError::ReceiveIdMismatch { .. } => (StatusCode::FORBIDDEN, "wrong_receive_id"),
        CryptoError::Base64 { .. } => (StatusCode::BAD_REQUEST, "bad_base64"),
        CryptoError::CiphertextLength { .. } => (StatusCode::BAD_REQUEST, "bad_ciphertext_length"),
        CryptoError::BadPadding => (StatusCode::BAD_REQUEST, "bad_padding"),
        CryptoError::BadLength { .. } | CryptoError::Truncated { .. } => (StatusCode::BAD_REQUEST, "bad_length"),
        CryptoError::NotUtf8(_) => (StatusCode::BAD_REQUEST, "not_utf8"),
        CryptoError::BadKey { .. } | CryptoError::BadToken { .. } | CryptoError::TooLong => {
            (StatusCode::INTERNAL_SERVER_ERROR, "bad_configuration")
        }
    };
    Refusal::new(status, code, e.to_string())
}

/// A message-XML error without any content: only which element, never the parser's detail,
/// which could quote the decrypted text.
fn message_xml_refusal(e: &XmlError) -> Refusal {
    let detail = match e {
        XmlError::Malformed { .. } => "the decrypted message is not well-formed XML".to_owned(),
        XmlError::Missing { element, .. } => format!("the decrypted message has no {element}"),
        XmlError::NotANumber { element, .. } => format!("the decrypted message's {element} is not a number"),
    };
    Refusal::new(StatusCode::BAD_REQUEST, "bad_message_xml", detail)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CallbackQuery {
    msg_signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
    /// Added by a forwarding instance (`switchboard forward --department`): the callback
    /// belongs to that environment, whose data lives in team `<team>-<department>`.
    department: Option<String>,
}

fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, Refusal> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Refusal::new(StatusCode::BAD_REQUEST, "missing_parameter", format!("no {name} parameter")))
}

fn query(req: &Request) -> Result<CallbackQuery, Refusal> {
    // Poem decodes the query string (percent-encoding and `+`) before deserialising.
    req.params::<CallbackQuery>()
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "bad_query", format!("unreadable query string: {e}")))
}

fn lookup(state: &CallbackState, team: &str) -> Result<(TeamId, Arc<Registered>), Refusal> {
    let unknown = || Refusal::new(StatusCode::NOT_FOUND, "unknown_team", "no WeCom application is configured");
    let team = TeamId::new(team).map_err(|_| unknown())?;
    let app = state.apps.get(&team).ok_or_else(unknown)?;
    Ok((team, app))
}

/// Refuses a timestamp farther than the window from the runtime's clock.
fn check_timestamp(state: &CallbackState, timestamp: &str) -> Result<(), Refusal> {
    let ts = timestamp
        .parse::<i64>()
        .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "bad_timestamp", "the timestamp is not a number"))?;
    let now = state.runtime.now().timestamp();
    let skew = now.saturating_sub(ts).unsigned_abs();
    let window = state.options.timestamp_window.as_secs();
    if skew > window {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "stale_timestamp",
            format!("the timestamp is {skew} s from now; the window is {window} s"),
        ));
    }
    Ok(())
}

fn refuse(method: &'static str, team: &str, started: Instant, refusal: Refusal) -> Response {
    let elapsed_us = started.elapsed().as_micros();
    if refusal.status.is_server_error() {
        error!(method, team, status = refusal.status.as_u16(), code = refusal.code, detail = %refusal.detail, elapsed_us, "wecom callback failed");
    } else {
        warn!(method, team, status = refusal.status.as_u16(), code = refusal.code, detail = %refusal.detail, elapsed_us, "wecom callback refused");
    }
    Response::builder().status(refusal.status).content_type("text/plain; charset=utf-8").body(refusal.code)
}

/// URL verification: verify, decrypt `echostr`, answer the plain text.
#[handler]
async fn verify_url(req: &Request, Path(team): Path<String>, Data(state): Data<&Arc<CallbackState>>) -> Response {
    let started = Instant::now();
    match verify_url_inner(req, &team, state) {
        Ok(plain) => {
            info!(team = %team, echo_len = plain.len(), elapsed_us = started.elapsed().as_micros(), "wecom url verified");
            Response::builder().status(StatusCode::OK).content_type("text/plain; charset=utf-8").body(plain)
        }
        Err(refusal) => refuse("GET", &team, started, refusal),
    }
}

fn verify_url_inner(req: &Request, team: &str, state: &CallbackState) -> Result<String, Refusal> {
    let (_, app) = lookup(state, team)?;
    let q = query(req)?;
    let signature = required(&q.msg_signature, "msg_signature")?;
    let timestamp = required(&q.timestamp, "timestamp")?;
    let nonce = required(&q.nonce, "nonce")?;
    // Base64 never contains spaces: a space is a `+` that reached us unescaped.
    let echostr = required(&q.echostr, "echostr")?.replace(' ', "+");
    app.crypto.verify_signature(signature, timestamp, nonce, &echostr).map_err(crypto_refusal)?;
    check_timestamp(state, timestamp)?;
    app.crypto.decrypt(&echostr).map_err(crypto_refusal)
}

/// Message delivery: verify, decrypt, parse, append durably, then answer an empty 200.
#[handler]
async fn receive(
    req: &Request,
    Path(team): Path<String>,
    body: Body,
    Data(state): Data<&Arc<CallbackState>>,
) -> Response {
    let started = Instant::now();
    match receive_inner(req, &team, body, state).await {
        Ok(()) => Response::builder().status(StatusCode::OK).finish(),
        Err(refusal) => refuse("POST", &team, started, refusal),
    }
}

async fn read_body(req: &Request, body: Body, max: usize) -> Result<Vec<u8>, Refusal> {
    let too_large = |detail: String| Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", detail);
    let declared = req.header(header::CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    if let Some(len) = declared.filter(|&len| len > max) {
        return Err(too_large(format!("declared {len} bytes; the limit is {max}")));
    }
    match body.into_bytes_limit(max).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(too_large(format!("over the limit of {max} bytes"))),
        Err(e) => Err(Refusal::new(StatusCode::BAD_REQUEST, "unreadable_body", e.to_string())),
    }
}

async fn receive_inner(req: &Request, team: &str, body: Body, state: &CallbackState) -> Result<(), Refusal> {
    let (team_id, app) = lookup(state, team)?;
    let q = query(req)?;
    let signature = required(&q.msg_signature, "msg_signature")?;
    let timestamp = required(&q.timestamp, "timestamp")?;
    let nonce = required(&q.nonce, "nonce")?;
    let bytes = read_body(req, body, state.options.max_body_bytes).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "not_utf8", format!("{} byte body", bytes.len())))?;
    let envelope =
        parse_envelope(text).map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "bad_envelope_xml", e.to_string()))?;
    app.crypto.verify_signature(signature, timestamp, nonce, &envelope.encrypt).map_err(crypto_refusal)?;
    check_timestamp(state, timestamp)?;
    let plain = app.crypto.decrypt(&envelope.encrypt).map_err(crypto_refusal)?;
    let message = parse_message(&plain).map_err(|e| message_xml_refusal(&e))?;
    if let Some(agent) = &message.header.agent_id {
        if agent.parse::<u64>().ok() != Some(app.app.agent_id) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "wrong_agent",
                format!("AgentID {agent} is not the configured {}", app.app.agent_id),
            ));
        }
    }
    let team_id = match q.department.as_deref().filter(|d| !d.is_empty()) {
        None => team_id,
        Some(department) => department_team(&team_id, &app, department)?,
    };
    dispatch(state, &team_id, &app, &message).await
}

/// The team holding a forwarded environment's data: `<team>-<department>`, for departments
/// the application lists; anything else is refused, so a flag cannot reach another team.
fn department_team(team: &TeamId, app: &Registered, department: &str) -> Result<TeamId, Refusal> {
    if !app.app.departments.iter().any(|d| d == department) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "unknown_department",
            format!("department flag of {} bytes is not configured for this team", department.len()),
        ));
    }
    TeamId::new(format!("{team}-{department}"))
        .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "bad_department", "the department makes no valid team id"))
}

/// What an authentic callback becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// A conversation command to append.
    Command {
        /// The operator.
        user: UserId,
        /// The command.
        command: Command,
        /// The delivery's dedupe key: `msg:<MsgId>` for messages,
        /// `event:<FromUserName>:<CreateTime>:<Event>:<EventKey>` for events.
        dedupe_key: String,
        /// True when the engine deduplicates it itself (it carries a message id); events
        /// are deduplicated here, by the correlation id derived from the key.
        engine_dedupes: bool,
    },
    /// The operator opened the application: greet them (when the team has a greeting and
    /// they are not in a session). Nothing is appended; the greeting is sent with WeCom's
    /// duplicate check, so retries of the event and frequent re-opening greet once.
    Greet {
        /// The operator.
        user: UserId,
    },
    /// An engineer marks themselves away or back.
    Availability {
        /// The engineer (the sender).
        staff: StaffId,
        /// Away or back.
        away: bool,
        /// When the click was made (WeCom's `CreateTime`, seconds).
        create_time: i64,
    },
    /// Nothing to append.
    Ignore {
        /// Why (a fixed phrase; safe to log).
        reason: &'static str,
    },
}

/// The key of the hand-over card's **Acknowledge** button, before the operator's user id.
pub const ACKNOWLEDGE_KEY_PREFIX: &str = "ack:";

/// The conversation command of an operator's action; none for an engineer's availability
/// (see [`Plan::Availability`]).
fn action_command(action: Action, user: &UserId) -> Option<Command> {
    Some(match action {
        Action::RequestHuman => Command::RequestHuman,
        Action::Close => Command::CloseByOperator,
        Action::Resolved => Command::GiveFeedback { resolved: true },
        Action::NotResolved => Command::GiveFeedback { resolved: false },
        Action::GroupChat => {
            Command::RequestGroupChat { by: switchboard_schemas::event::Actor::Operator(user.clone()) }
        }
        Action::Away | Action::Back => return None,
    })
}

/// Maps a decrypted callback to what should happen, with the team's menu and card keys.
/// Returns `Err` with a fixed phrase when the sender is not a valid engine user id.
pub fn plan(app: &crate::config::WecomApp, message: &Message) -> Result<Plan, &'static str> {
    let h = &message.header;
    let user = || UserId::new(h.from_user_name.clone()).map_err(|_| "the sender's UserID is not a valid user id");
    let event_key = |name: &str, key: &str| format!("event:{}:{}:{name}:{key}", h.from_user_name, h.create_time);
    let message_command = |msg_id: &str, text: String| -> Result<Plan, &'static str> {
        let user = user()?;
        Ok(Plan::Command {
            command: Command::ReceiveMessage {
                user: user.clone(),
                message_id: MessageId(msg_id.to_owned()),
                text,
                channel: Channel::Wecom,
            },
            user,
            dedupe_key: format!("msg:{msg_id}"),
            engine_dedupes: true,
        })
    };
    let action = |action: Option<&Action>, name: &str, key: &str| -> Result<Plan, &'static str> {
        let Some(&action) = action else {
            return Ok(Plan::Ignore { reason: "the key is not configured for this team" });
        };
        let (user, dedupe_key) = (user()?, event_key(name, key));
        Ok(match action_command(action, &user) {
            Some(command) => Plan::Command { command, user, dedupe_key, engine_dedupes: false },
            None => Plan::Availability {
                staff: StaffId::new(user.as_str()).map_err(|_| "the sender's UserID is not a valid staff id")?,
                away: action == Action::Away,
                create_time: h.create_time,
            },
        })
    };
    match &message.body {
        MessageBody::Text { msg_id, content } => message_command(msg_id, content.clone()),
        MessageBody::Media { msg_id, kind, media_id, file_name, recognition } => {
            let user = user()?;
            Ok(Plan::Command {
                command: Command::ReceiveAttachment {
                    user: user.clone(),
                    message_id: MessageId(msg_id.to_owned()),
                    attachment: IncomingAttachment {
                        kind: *kind,
                        name: file_name.clone(),
                        source: AttachmentSource::WecomMedia { media_id: media_id.clone() },
                    },
                    text: recognition.clone(),
                    channel: Channel::Wecom,
                },
                user,
                dedupe_key: format!("msg:{msg_id}"),
                engine_dedupes: true,
            })
        }
        MessageBody::Event(Event::EnterAgent) => match &app.greeting {
            Some(_) => Ok(Plan::Greet { user: user()? }),
            None => Ok(Plan::Ignore { reason: "enter_agent without a configured greeting" }),
        },
        MessageBody::Event(Event::Click { key }) => action(app.menu_keys.get(key), "click", key),
        MessageBody::Event(Event::TemplateCard { key, task_id, .. }) => {
            match key.strip_prefix(ACKNOWLEDGE_KEY_PREFIX) {
                Some(rest) => {
                    // The engineer who pressed it acknowledges the operator's hand-over.
                    let (operator, session) = rest.rsplit_once(':').ok_or("the card names no session")?;
                    let session_id = Uuid::parse_str(session).map_err(|_| "the card names no valid session")?;
                    let notice = task_id
                        .as_deref()
                        .and_then(|t| Uuid::parse_str(t).ok())
                        .ok_or("the card event names no notice (TaskId)")?;
                    let operator = UserId::new(operator.to_owned()).map_err(|_| "the card names no valid user id")?;
                    let by = StaffId::new(h.from_user_name.clone())
                        .map_err(|_| "the sender's UserID is not a valid staff id")?;
                    Ok(Plan::Command {
                        // The card's task id is the notice's id: a card of an earlier hand-over
                        // is told apart from the current one's. A card event without one
                        // cannot be, so it acknowledges nothing (the console still can).
                        command: Command::Acknowledge { by, session_id: Some(session_id), notice: Some(notice) },
                        user: operator,
                        dedupe_key: event_key("template_card_event", key),
                        engine_dedupes: false,
                    })
                }
                None => action(app.card_keys.get(key), "template_card_event", key),
            }
        }
        MessageBody::Event(Event::View { .. }) => Ok(Plan::Ignore { reason: "a menu link was opened" }),
        MessageBody::Event(Event::Other { .. }) => Ok(Plan::Ignore { reason: "an event this channel does not handle" }),
        MessageBody::Other { .. } => Ok(Plan::Ignore { reason: "a message type this channel does not handle" }),
    }
}

/// The correlation id of every event a callback causes, derived from the team and the
/// delivery's dedupe key, so a retried delivery carries the same one and can be recognised
/// in the conversation's stream, also after a restart.
pub fn correlation_id(team: &TeamId, dedupe_key: &str) -> Uuid {
    let mut hasher = Sha1::new();
    hasher.update(b"switchboard-wecom\0");
    hasher.update(team.as_str().as_bytes());
    hasher.update(b"\0");
    hasher.update(dedupe_key.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

fn command_failure(e: &CommandError) -> Refusal {
    match e {
        CommandError::UnknownTeam(_) => Refusal::new(
            StatusCode::NOT_FOUND,
            "unknown_team",
            "the team has a WeCom application but is not onboarded in the engine",
        ),
        CommandError::Log(_) | CommandError::Contention { .. } => {
            Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "log_unavailable", e.to_string())
        }
        _ => Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "engine_error", e.to_string()),
    }
}

/// Greets an operator who opened the application outside a session, in the background so
/// the callback is answered at once.
async fn greet(state: &CallbackState, team: &TeamId, app: &Registered, user: &UserId) -> Result<(), Refusal> {
    let (Some(greeter), Some(greeting)) = (state.options.greeter.clone(), app.app.greeting.clone()) else {
        info!(team = %team, "enter_agent: no outbound client for this team; not greeted");
        return Ok(());
    };
    let conversation = state.runtime.load_conversation(team, user).await.map_err(|e| command_failure(&e))?;
    if conversation.session.as_ref().is_some_and(|s| s.status() != switchboard_schemas::event::SessionStatus::Closed) {
        debug!(team = %team, user = %user, "enter_agent during a session; not greeted");
        return Ok(());
    }
    let (team, user) = (team.clone(), user.clone());
    tokio::spawn(async move {
        if let Err(e) = greeter.send_text(&team, &[user.as_str()], &greeting).await {
            warn!(team = %team, error = %e, "greeting failed");
        }
    });
    Ok(())
}

/// Records an engineer's "away" or "back" from the menu at the click's own time, so a retry
/// changes nothing: it finds the state it asks for, or a later say-so that stands (the team
/// decides, see `TeamCommand::SetAvailability`). Someone who is not the team's is refused
/// and logged.
async fn availability(
    state: &CallbackState,
    team: &TeamId,
    staff: StaffId,
    away: bool,
    create_time: i64,
) -> Result<(), Refusal> {
    // A click time from the future would make every later click look stale.
    let now = state.runtime.now();
    let clicked_at = Some(chrono::DateTime::from_timestamp(create_time, 0).map_or(now, |t| t.min(now)));
    let command =
        switchboard_engine::team::TeamCommand::SetAvailability { staff: staff.clone(), away, clicked_at, now };
    match state.runtime.team(team, command, Causation::root(Uuid::now_v7())).await {
        Ok(c) => {
            info!(team = %team, staff = %staff, away, events = c.events, "availability from the wecom menu");
            Ok(())
        }
        Err(CommandError::Team(rejection)) => {
            warn!(team = %team, staff = %staff, rejection = %rejection, "availability from the wecom menu refused");
            Ok(())
        }
        Err(e) => Err(command_failure(&e)),
    }
}

async fn dispatch(state: &CallbackState, team: &TeamId, app: &Registered, message: &Message) -> Result<(), Refusal> {
    let h = &message.header;
    let planned = match plan(&app.app, message) {
        Ok(p) => p,
        Err(reason) => {
            warn!(team = %team, from_len = h.from_user_name.len(), create_time = h.create_time, reason, "wecom callback not recorded");
            return Ok(());
        }
    };
    let (user, command, dedupe_key, engine_dedupes) = match planned {
        Plan::Ignore { reason } => {
            info!(team = %team, user = %h.from_user_name, create_time = h.create_time, reason, "wecom callback ignored");
            return Ok(());
        }
        Plan::Greet { user } => return greet(state, team, app, &user).await,
        Plan::Availability { staff, away, create_time } => {
            return availability(state, team, staff, away, create_time).await
        }
        Plan::Command { user, command, dedupe_key, engine_dedupes } => (user, command, dedupe_key, engine_dedupes),
    };
    let kind = switchboard_engine::runtime::command_kind(&command);
    let correlation = correlation_id(team, &dedupe_key);
    if !engine_dedupes {
        let events = state.runtime.conversation_events(team, &user).await.map_err(|e| command_failure(&e))?;
        if events.iter().any(|e| e.correlation_id == correlation) {
            info!(team = %team, user = %user, command = kind, key = %dedupe_key, "wecom duplicate event; already recorded");
            return Ok(());
        }
    }
    match state.runtime.conversation(team, &user, command.clone(), Causation::root(correlation)).await {
        Ok(c) if c.events == 0 => {
            info!(team = %team, user = %user, command = kind, key = %dedupe_key, "wecom duplicate; already recorded");
            Ok(())
        }
        Ok(c) => {
            debug!(team = %team, user = %user, command = kind, key = %dedupe_key, events = c.events, version = c.version, "wecom callback recorded");
            Ok(())
        }
        Err(CommandError::Rejected(r)) if is_harmless_repeat(&command, &r) => {
            info!(team = %team, user = %user, command = kind, key = %dedupe_key, rejection = %r, "wecom event no longer applies (a retry or a stale click)");
            Ok(())
        }
        Err(CommandError::Rejected(r)) => {
            warn!(team = %team, user = %user, command = kind, key = %dedupe_key, rejection = %r, "wecom callback refused by the engine; answered 200 since a retry cannot help");
            Ok(())
        }
        Err(e) => Err(command_failure(&e)),
    }
}
