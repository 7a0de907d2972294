//! The WebSocket chat channel: `GET /api/v1/teams/{team}/channel/ws`.
//!
//! An operator's page (the bundled widget or a team's own dialog UI) opens a socket, says
//! `hello` with a channel token, and then carries the same conversation as WeCom: its
//! messages, choices, feedback and requests for a person become commands; everything the
//! operator should see comes back as `event` frames, in conversation order, each with its
//! version so a reconnecting client resumes exactly after the last one it showed. The
//! frames are [`switchboard_schemas::channel`]; what the operator sees is
//! [`OperatorView`].
//!
//! Nothing here holds conversation state beyond the connection: every command goes
//! through the runtime (and is deduplicated by the client's id), every event is read back
//! from the log, so a connection can be dropped and reopened on any instance.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use poem::web::websocket::{CloseCode, Message, WebSocket, WebSocketConfig, WebSocketStream};
use poem::web::{Data, Path};
use poem::{handler, IntoResponse, Response};
use switchboard_engine::conversation::{is_harmless_repeat, Command, Phase};
use switchboard_engine::runtime::CommandError;
use switchboard_projections::operator::{OperatorEvent, OperatorView, CHANNEL_MESSAGE_PREFIX};
use switchboard_schemas::channel::{close_code, ClientFrame, ServerFrame, PROTOCOL_VERSION};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::Channel;
use switchboard_schemas::{MessageId, StreamId, TeamId};
use tokio::time::{sleep, Instant};
use uuid::Uuid;

use crate::auth::digest_hex;
use crate::error::ApiError;
use crate::live::NoPlace;
use crate::user_tokens::{verify_with_store, UserClaims};
use crate::AppState;

/// How often an open connection checks that its token is still good (the team's channel
/// key may have been rotated).
const TOKEN_RECHECK: Duration = Duration::from_secs(30);
/// Frames (of any kind) a connection may send at once…
const FRAME_BURST: f64 = 20.0;
/// …and per second after that. Frames over it are refused; a client that goes on for
/// another burst's worth is disconnected.
const FRAMES_PER_SECOND: f64 = 2.0;
/// Control frames (pings) a client may send before `hello`.
const CONTROL_FRAMES_BEFORE_HELLO: usize = 4;
/// The longest `client_id`.
const MAX_CLIENT_ID: usize = 64;

/// Opens a channel connection, or answers 400/503 in the API's error format when the team
/// id is malformed or the instance has as many connections as it admits. The connection's
/// place is only taken once it said `hello` with a good token: until then it is one of the
/// HTTP connections (`http.max_connections`) and has `channel_hello_timeout` to greet.
#[handler]
pub(crate) async fn channel_socket(
    Path(team): Path<String>,
    websocket: WebSocket,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let team = match TeamId::new(&team) {
        Ok(team) => team,
        Err(e) => return ApiError::bad_request("bad_team_id", e).into_response(),
    };
    if state.live.is_full() {
        return ApiError::unavailable("too_many_connections", NoPlace::Instance).into_response();
    }
    // The socket refuses what is far over the limit before buffering it; frames just over
    // it are refused by `next_frame`, with a clear reason.
    let hard_cap = state.limits.channel_max_frame_bytes.saturating_mul(2);
    let config = WebSocketConfig::default().max_message_size(Some(hard_cap)).max_frame_size(Some(hard_cap));
    let state = state.clone();
    websocket.config(config).on_upgrade(move |socket| serve(state, team, socket)).into_response()
}

type Sink = SplitSink<WebSocketStream, Message>;

/// Why a connection ends from the server's side.
struct Closing {
    code: u16,
    reason: String,
}

impl Closing {
    fn new(code: u16, reason: impl ToString) -> Self {
        // Close reasons are limited to 123 bytes by the protocol.
        let mut reason = reason.to_string();
        while reason.len() > 123 {
            reason.pop();
        }
        Self { code, reason }
    }
}

async fn serve(state: Arc<AppState>, team: TeamId, socket: WebSocketStream) {
    let (mut sink, mut source) = socket.split();
    let greeted = greet(&state, &team, &mut source).await.and_then(|(claims, token, resume_after)| {
        let place = state.live.admit(&team, &claims.user, &digest_hex(&token)).map_err(|e| match e {
            NoPlace::Instance => Closing::new(1013, e),
            NoPlace::User(_) | NoPlace::Token(_) => Closing::new(close_code::TOO_MANY_CONNECTIONS, e),
        })?;
        Ok((place, claims, token, resume_after))
    });
    let outcome = match greeted {
        Ok((_place, claims, token, resume_after)) => {
            let mut connection = Connection::new(state, team, claims, token, resume_after);
            match connection.run(&mut sink, &mut source).await {
                Ok(()) => Closing::new(1000, "closed by the client"),
                Err(closing) => closing,
            }
        }
        Err(closing) => closing,
    };
    tracing::debug!(code = outcome.code, reason = %outcome.reason, "channel connection closed");
    let close = Message::close_with(CloseCode::from(outcome.code), outcome.reason);
    let _ = sink.send(close).await;
    // The closing handshake: what the client still sends is read and dropped until its own
    // Close (or CLOSE_LINGER), so frames in flight (a flood cut off) do not reset the
    // connection before the client has read why it was closed. Its place is already free.
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        while let Some(Ok(message)) = source.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    let _ = sink.close().await;
}

/// How long a closed connection waits for the client's Close.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// A frame from the client.
enum Incoming {
    /// A text frame of at most the frame limit.
    Text(String),
    /// A ping or pong (answered by the socket itself), counted like any frame.
    Control,
}

/// The next frame, text of at most `max` bytes; none when the client went away.
async fn next_frame(
    source: &mut futures::stream::SplitStream<WebSocketStream>,
    max: usize,
) -> Option<Result<Incoming, Closing>> {
    Some(match source.next().await? {
        Ok(Message::Text(text)) if text.len() > max => {
            Err(Closing::new(1009, format!("frames are at most {max} bytes")))
        }
        Ok(Message::Text(text)) => Ok(Incoming::Text(text)),
        Ok(Message::Binary(_)) => Err(Closing::new(close_code::BAD_HELLO, "frames are JSON text, not binary")),
        Ok(Message::Close(_)) => return None,
        Ok(_) => Ok(Incoming::Control),
        Err(e) => {
            tracing::debug!(error = %e, "channel connection failed");
            Err(Closing::new(1002, e))
        }
    })
}

/// Waits for `hello` and checks its token and the team.
async fn greet(
    state: &AppState,
    team: &TeamId,
    source: &mut futures::stream::SplitStream<WebSocketStream>,
) -> Result<(UserClaims, String, u64), Closing> {
    let wait = state.limits.channel_hello_timeout;
    let deadline = Instant::now() + wait;
    let mut controls = 0;
    let first = loop {
        let frame = tokio::time::timeout_at(deadline, next_frame(source, state.limits.channel_max_frame_bytes))
            .await
            .map_err(|_| Closing::new(close_code::HELLO_TIMEOUT, format!("no hello within {} ms", wait.as_millis())))?
            .ok_or_else(|| Closing::new(1000, "closed before hello"))??;
        match frame {
            Incoming::Text(text) => break text,
            Incoming::Control if controls < CONTROL_FRAMES_BEFORE_HELLO => controls += 1,
            Incoming::Control => return Err(Closing::new(close_code::BAD_HELLO, "say hello first")),
        }
    };
    let Ok(ClientFrame::Hello { token, resume_after }) = serde_json::from_str::<ClientFrame>(&first) else {
        return Err(Closing::new(
            close_code::BAD_HELLO,
            r#"the first frame must be {"type":"hello","token":"sbu...","resume_after":0}"#,
        ));
    };
    let claims = verify_with_store(state.onboarding.console.secrets(), team, &token, Utc::now())
        .map_err(|e| Closing::new(close_code::BAD_TOKEN, e))?;
    match state.runtime.load_team(team).await {
        Ok(loaded) if loaded.name.is_some() => Ok((claims, token, resume_after)),
        Ok(_) => Err(Closing::new(close_code::UNKNOWN_TEAM, format!("team {team} does not exist"))),
        Err(e) => {
            tracing::warn!(error = %e, "channel hello: the team could not be loaded");
            Err(Closing::new(close_code::UNAVAILABLE, "the event log is unreachable; reconnect shortly"))
        }
    }
}

/// A token bucket over every frame a client sends, charged before any work on the frame,
/// so one page can neither flood a conversation nor keep the server busy refusing it.
struct FrameBudget {
    tokens: f64,
    at: Instant,
}

/// What the budget says about one more frame.
#[derive(Debug, PartialEq, Eq)]
enum Admit {
    /// Work on it.
    Yes,
    /// Refuse it (`rate_limited`).
    Refused,
    /// The client went on far past the refusals: disconnect it.
    Exhausted,
}

impl FrameBudget {
    fn new(now: Instant) -> Self {
        Self { tokens: FRAME_BURST, at: now }
    }

    fn take(&mut self, now: Instant) -> Admit {
        let refill = now.duration_since(self.at).as_secs_f64() * FRAMES_PER_SECOND;
        self.tokens = (self.tokens + refill).min(FRAME_BURST);
        self.at = now;
        // Every frame costs, refused ones too: the debt says how far past the limit it went.
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Admit::Yes
        } else if self.tokens >= -FRAME_BURST {
            Admit::Refused
        } else {
            Admit::Exhausted
        }
    }
}

/// One greeted connection.
struct Connection {
    state: Arc<AppState>,
    team: TeamId,
    claims: UserClaims,
    token: String,
    stream: StreamId,
    view: OperatorView,
    /// Events up to this version were shown by the client before it connected.
    resume_after: u64,
    budget: FrameBudget,
}

fn valid_client_id(id: &str) -> bool {
    (1..=MAX_CLIENT_ID).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn error_frame(code: &str, message: impl ToString, client_id: Option<String>) -> ServerFrame {
    ServerFrame::Error { code: code.to_owned(), message: message.to_string(), client_id }
}

impl Connection {
    fn new(state: Arc<AppState>, team: TeamId, claims: UserClaims, token: String, resume_after: u64) -> Self {
        let stream = StreamId::conversation(&team, &claims.user);
        Self {
            state,
            team,
            claims,
            token,
            stream,
            view: OperatorView::default(),
            resume_after,
            budget: FrameBudget::new(Instant::now()),
        }
    }

    async fn send(sink: &mut Sink, frame: &ServerFrame) -> Result<(), Closing> {
        let text = serde_json::to_string(frame).map_err(|e| Closing::new(1011, e))?;
        sink.send(Message::Text(text)).await.map_err(|_| Closing::new(1000, "the client went away"))
    }

    /// Folds what the conversation gained since the last read; returns what is visible.
    async fn read_new(&mut self) -> Result<Vec<OperatorEvent>, Closing> {
        let user = self.stream.conversation_user().ok_or_else(|| Closing::new(1011, "not a conversation"))?;
        let team = self.stream.team_id();
        let events =
            self.state.runtime.conversation_events_after(team, &user, self.view.version()).await.map_err(|e| {
                tracing::warn!(error = %e, "channel: the conversation could not be read");
                Closing::new(
                    close_code::UNAVAILABLE,
                    "the event log is unreachable; reconnect with resume_after shortly",
                )
            })?;
        self.view.fold(&events).map_err(|e| {
            tracing::error!(error = %e, stream = %self.stream, "channel: a stored event cannot be read");
            Closing::new(1011, "stored data could not be read; see the server log")
        })
    }

    /// Sends the events the client has not shown yet.
    async fn send_events(&self, sink: &mut Sink, visible: Vec<OperatorEvent>) -> Result<(), Closing> {
        for event in visible.into_iter().filter(|e| e.version > self.resume_after) {
            let frame = ServerFrame::Event {
                version: event.version,
                event_id: event.event_id,
                at: event.at,
                status: event.status,
                item: event.item,
            };
            Self::send(sink, &frame).await?;
        }
        Ok(())
    }

    async fn run(
        &mut self,
        sink: &mut Sink,
        source: &mut futures::stream::SplitStream<WebSocketStream>,
    ) -> Result<(), Closing> {
        // Registered before the first read, so nothing appended in between goes unseen.
        let mut wake = self.state.live.watch(&self.stream);
        let history = self.read_new().await?;
        let ready = ServerFrame::Ready {
            protocol: PROTOCOL_VERSION,
            team: self.team.as_str().to_owned(),
            user: self.claims.user.as_str().to_owned(),
            version: self.view.version(),
            token_expires_at: self.claims.expires_at,
        };
        Self::send(sink, &ready).await?;
        self.send_events(sink, history).await?;
        let expiry = (self.claims.expires_at - Utc::now()).to_std().unwrap_or_default();
        let expired = sleep(expiry);
        tokio::pin!(expired);
        let mut recheck = tokio::time::interval(TOKEN_RECHECK);
        recheck.tick().await;
        let idle_timeout = self.state.limits.channel_idle_timeout;
        let idle = sleep(idle_timeout);
        tokio::pin!(idle);
        loop {
            tokio::select! {
                changed = wake.changed() => {
                    if changed.is_err() {
                        return Err(Closing::new(1001, "the server is shutting down"));
                    }
                    let visible = self.read_new().await?;
                    self.send_events(sink, visible).await?;
                }
                frame = next_frame(source, self.state.limits.channel_max_frame_bytes) => {
                    let Some(frame) = frame else { return Ok(()) };
                    let frame = frame?;
                    let now = Instant::now();
                    idle.as_mut().reset(now + idle_timeout);
                    match (self.budget.take(now), frame) {
                        (Admit::Exhausted, _) => {
                            let reason = format!("frames kept coming after rate_limited (at most {FRAMES_PER_SECOND} a second)");
                            return Err(Closing::new(1008, reason));
                        }
                        (Admit::Refused, Incoming::Text(_)) => {
                            let message = format!("more than {FRAMES_PER_SECOND} frames a second; slow down");
                            Self::send(sink, &error_frame("rate_limited", message, None)).await?;
                        }
                        (Admit::Yes, Incoming::Text(text)) => {
                            let reply = self.on_frame(&text).await?;
                            Self::send(sink, &reply).await?;
                        }
                        (_, Incoming::Control) => {}
                    }
                }
                () = &mut idle => {
                    let reason = format!("no frame for {} s; the widget pings to stay open", idle_timeout.as_secs());
                    return Err(Closing::new(close_code::IDLE_TIMEOUT, reason));
                }
                () = &mut expired => {
                    return Err(Closing::new(close_code::BAD_TOKEN, "the token expired; connect again with a new one"));
                }
                _ = recheck.tick() => self.check_token()?,
            }
        }
    }

    fn check_token(&self) -> Result<(), Closing> {
        verify_with_store(self.state.onboarding.console.secrets(), &self.team, &self.token, Utc::now())
            .map(|_| ())
            .map_err(|e| Closing::new(close_code::BAD_TOKEN, e))
    }

    /// Answers one client frame; only a broken connection or a token gone bad ends it.
    async fn on_frame(&mut self, text: &str) -> Result<ServerFrame, Closing> {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(e) => {
                return Ok(error_frame("bad_frame", format!("not a frame of protocol {PROTOCOL_VERSION}: {e}"), None))
            }
        };
        let user = self.claims.user.clone();
        let (client_id, command) = match frame {
            ClientFrame::Hello { .. } => return Ok(error_frame("already_greeted", "hello is sent once, first", None)),
            ClientFrame::Ping { client_id } => return Ok(ServerFrame::Pong { client_id }),
            ClientFrame::Message { client_id, text } => {
                if !valid_client_id(&client_id) {
                    return Ok(error_frame("bad_client_id", "client_id is 1-64 of A-Z a-z 0-9 - _", None));
                }
                let message_id = MessageId(format!("{CHANNEL_MESSAGE_PREFIX}{client_id}"));
                (Some(client_id), Command::ReceiveMessage { user, message_id, text, channel: Channel::Websocket })
            }
            ClientFrame::Choose { client_id, choice } => {
                if !valid_client_id(&client_id) {
                    return Ok(error_frame("bad_client_id", "client_id is 1-64 of A-Z a-z 0-9 - _", None));
                }
                if let Some(refusal) = self.refuse_choice(choice).await {
                    return Ok(error_frame("not_a_choice", refusal, Some(client_id)));
                }
                let message_id = MessageId(format!("{CHANNEL_MESSAGE_PREFIX}{client_id}"));
                let text = choice.to_string();
                (Some(client_id), Command::ReceiveMessage { user, message_id, text, channel: Channel::Websocket })
            }
            ClientFrame::Feedback { client_id, resolved } => (client_id, Command::GiveFeedback { resolved }),
            ClientFrame::Human { client_id } => (client_id, Command::RequestHuman),
            ClientFrame::Close { client_id } => (client_id, Command::CloseByOperator),
        };
        self.check_token()?;
        let runtime = &self.state.runtime;
        let causation = Causation::root(Uuid::now_v7());
        Ok(match runtime.conversation(&self.team, &self.claims.user, command.clone(), causation).await {
            Ok(committed) => {
                ServerFrame::Accepted { client_id, version: committed.version, recorded: committed.events > 0 }
            }
            Err(CommandError::Rejected(rejection)) if is_harmless_repeat(&command, &rejection) => {
                ServerFrame::Accepted { client_id, version: self.view.version(), recorded: false }
            }
            Err(e) => {
                let body = ApiError::from(e).into_body();
                ServerFrame::Error { code: body.code, message: body.message, client_id }
            }
        })
    }

    /// Why `choice` cannot be picked now, if it cannot: a number sent when no choices are
    /// offered would otherwise be taken as a new question.
    async fn refuse_choice(&self, choice: u8) -> Option<String> {
        match self.state.runtime.load_conversation(&self.team, &self.claims.user).await {
            Ok(state) => match state.session.as_ref().map(|s| &s.phase) {
                Some(Phase::AwaitingChoice { choices }) if (1..=choices.len()).contains(&usize::from(choice)) => None,
                Some(Phase::AwaitingChoice { choices }) => Some(format!("choose a number from 1 to {}", choices.len())),
                _ => Some("no choices are offered now".to_owned()),
            },
            Err(e) => Some(ApiError::from(e).into_body().message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_a_burst_then_refuses_then_disconnects() {
        let start = Instant::now();
        let mut budget = FrameBudget::new(start);
        let verdicts: Vec<Admit> = (0..41).map(|_| budget.take(start)).collect();
        assert!(verdicts[..20].iter().all(|v| *v == Admit::Yes));
        assert!(verdicts[20..40].iter().all(|v| *v == Admit::Refused));
        assert_eq!(verdicts[40], Admit::Exhausted);
        // A client that waits is served again: the debt is paid off at the refill rate.
        let mut budget = FrameBudget::new(start);
        for _ in 0..30 {
            budget.take(start);
        }
        assert_eq!(budget.take(start + Duration::from_secs(4)), Admit::Refused, "still in debt");
        assert_eq!(budget.take(start + Duration::from_secs(10)), Admit::Yes);
    }
}
