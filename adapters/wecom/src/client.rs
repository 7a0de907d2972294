//! The WeCom API client: access tokens cached per application and refreshed when WeCom says
//! they are invalid or expired (40014, 42001), `message/send` for text, markdown and
//! template cards, `appchat/create` and `appchat/send`, `media/get` for operators'
//! attachments, with backoff on the codes that mean "try again" (-1 busy, 45009 frequency
//! limit, 45033 too many concurrent calls).
//!
//! It is the [`Notifier`] of the WeCom channel (answers carry "resolved / not resolved"
//! buttons) and its [`GroupChats`] port. Messages are sent with WeCom's duplicate check on,
//! so a message re-sent after a crash between sending and recording is dropped by WeCom.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard_engine::ports::{
    DeliveryError, FetchError, GroupChatOrder, GroupChats, MediaFetcher, Notifier, Outbound,
};
use switchboard_outbound::{read_limited, OutboundClient, OutboundError, OutboundPolicy};
use switchboard_schemas::attachment::AttachmentSource;
use switchboard_schemas::event::{OutboundPurpose, Recipient};
use switchboard_schemas::TeamId;
use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::config::{Action, WecomApp};
use switchboard_secret::Secret;

/// WeCom's limit on a text or markdown message, in bytes.
pub const MAX_TEXT_BYTES: usize = 2048;
/// How long the duplicate check remembers a message (WeCom allows up to 4 hours).
pub const DUPLICATE_CHECK_SECS: u64 = 1800;
/// The longest answer read from the API; WeCom's JSON answers are a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// WeCom's error codes this client acts on.
pub mod code {
    /// System busy: retry.
    pub const BUSY: i64 = -1;
    /// The secret is wrong.
    pub const BAD_SECRET: i64 = 40001;
    /// The CorpID is wrong.
    pub const BAD_CORP_ID: i64 = 40013;
    /// The access token is invalid: fetch a new one.
    pub const INVALID_TOKEN: i64 = 40014;
    /// No access token given.
    pub const MISSING_TOKEN: i64 = 41001;
    /// The access token expired: fetch a new one.
    pub const EXPIRED_TOKEN: i64 = 42001;
    /// The message is longer than allowed.
    pub const TOO_LONG: i64 = 45002;
    /// Called too often.
    pub const FREQUENCY_LIMIT: i64 = 45009;
    /// Too many concurrent calls.
    pub const TOO_MANY_CONCURRENT: i64 = 45033;
    /// The chat does not exist.
    pub const CHAT_NOT_FOUND: i64 = 40050;
    /// A chat with this chat id exists already.
    pub const CHAT_EXISTS: i64 = 86215;
    /// The media id is unknown, or older than the three days WeCom keeps media.
    pub const INVALID_MEDIA_ID: i64 = 40007;

    /// Codes that mean "the same call may succeed later".
    pub fn retryable(code: i64) -> bool {
        matches!(code, BUSY | FREQUENCY_LIMIT | TOO_MANY_CONCURRENT)
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// WeCom answered with an error code.
    #[error("WeCom error {code}: {message}")]
    Wecom {
        /// The `errcode`.
        code: i64,
        /// The `errmsg`.
        message: String,
    },
    /// The request did not get an answer (network, timeout, not JSON).
    #[error("WeCom request failed: {0}")]
    Transport(String),
    /// The team has no WeCom application.
    #[error("team {0} has no WeCom application")]
    NoApplication(TeamId),
    /// The application's API base names an address requests may not go to.
    #[error("WeCom API base refused: {0}")]
    Refused(OutboundError),
    /// A media file larger than the limit (nothing past the limit was read).
    #[error("the media file is larger than the limit of {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
}

impl ClientError {
    fn retryable(&self) -> bool {
        match self {
            ClientError::Wecom { code, .. } => code::retryable(*code),
            ClientError::Transport(_) => true,
            ClientError::NoApplication(_) | ClientError::Refused(_) | ClientError::TooLarge { .. } => false,
        }
    }
}

impl From<ClientError> for DeliveryError {
    fn from(e: ClientError) -> Self {
        if e.retryable() {
            DeliveryError::Retryable(e.to_string())
        } else {
            DeliveryError::Permanent(e.to_string())
        }
    }
}

/// Retry tuning of the client (WeCom-level retries; the core retries whole deliveries too).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per call for busy / rate-limited answers.
    pub attempts: u32,
    /// First backoff, doubled per attempt.
    pub backoff: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 3, backoff: Duration::from_millis(200), timeout: Duration::from_secs(10) }
    }
}

struct Token {
    value: String,
    valid_until: Instant,
}

struct AppClient {
    app: WecomApp,
    secret: Secret,
    token: Mutex<Option<Token>>,
}

/// The client for every team with a WeCom application; applications set up from the
/// console join and leave while running ([`WecomClient::set`]).
pub struct WecomClient {
    http: OutboundClient,
    apps: std::sync::RwLock<HashMap<TeamId, Arc<AppClient>>>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for WecomClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let teams: Vec<TeamId> = self.apps().keys().cloned().collect();
        f.debug_struct("WecomClient").field("teams", &teams).finish_non_exhaustive()
    }
}

impl WecomClient {
    /// A client for these applications, each with its resolved secret; every API base
    /// must pass `outbound` (a team admin sets it from the console).
    pub fn new(
        apps: impl IntoIterator<Item = (TeamId, WecomApp, Secret)>,
        retry: RetryPolicy,
        outbound: OutboundPolicy,
    ) -> Result<Self, ClientError> {
        let apps = apps
            .into_iter()
            .map(|(team, app, secret)| (team, Arc::new(AppClient { app, secret, token: Mutex::new(None) })))
            .collect();
        let builder = reqwest::Client::builder().timeout(retry.timeout);
        let http = OutboundClient::new(outbound, builder).map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(Self { http, apps: std::sync::RwLock::new(apps), retry })
    }

    fn apps(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TeamId, Arc<AppClient>>> {
        self.apps.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends for a team's application (with its resolved secret) from now on, or with
    /// `None` stops. A changed application starts with a fresh access token.
    pub fn set(&self, team: &TeamId, app: Option<(WecomApp, Secret)>) {
        let mut apps = self.apps.write().unwrap_or_else(|e| e.into_inner());
        match app {
            Some((app, secret)) => {
                apps.insert(team.clone(), Arc::new(AppClient { app, secret, token: Mutex::new(None) }))
            }
            None => apps.remove(team),
        };
    }

    /// Whether a team has an application here.
    pub fn serves(&self, team: &TeamId) -> bool {
        self.apps().contains_key(team)
    }

    fn app(&self, team: &TeamId) -> Result<Arc<AppClient>, ClientError> {
        self.apps().get(team).cloned().ok_or_else(|| ClientError::NoApplication(team.clone()))
    }

    async fn token(&self, app: &AppClient, refresh: bool) -> Result<String, ClientError> {
        let mut cached = app.token.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| !refresh && t.valid_until > Instant::now()) {
            return Ok(token.value.clone());
        }
        let url = format!("{}/gettoken", app.app.api_base);
        let query = [("corpid", app.app.corp_id.as_str()), ("corpsecret", app.secret.expose())];
        let request = self.http.get(&url).map_err(ClientError::Refused)?;
        let answer = self.answer(request.query(&query)).await?;
        let value = answer["access_token"]
            .as_str()
            .ok_or_else(|| ClientError::Transport("gettoken answered without access_token".into()))?
            .to_owned();
        // Renew a minute early (or at half-life for short tokens) so a token never expires
        // in flight.
        let expires_in = answer["expires_in"].as_u64().unwrap_or(7200);
        let margin = (expires_in / 2).min(60);
        let valid_until = Instant::now() + Duration::from_secs(expires_in.saturating_sub(margin));
        debug!(corp = %app.app.corp_id, expires_in, "fetched a WeCom access token");
        *cached = Some(Token { value: value.clone(), valid_until });
        Ok(value)
    }

    /// Sends a request and reads WeCom's JSON answer; a non-zero `errcode` is an error.
    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let response = send(request).await?;
        json_answer(response).await
    }

    /// Calls `path` with the team's token until it succeeds or fails for good: a new token
    /// on 40014/42001 (once), backoff on busy and rate-limit answers. `request` makes one
    /// attempt from the call's URL and the token.
    async fn with_token<T, F, Fut>(&self, team: &TeamId, path: &str, mut request: F) -> Result<T, ClientError>
    where
        F: FnMut(String, String) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let app = self.app(team)?;
        let mut refresh = false;
        let mut delay = self.retry.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.token(&app, refresh).await?;
            match request(format!("{}/{path}", app.app.api_base), token).await {
                Err(ClientError::Wecom { code: code::INVALID_TOKEN | code::EXPIRED_TOKEN, .. }) if !refresh => {
                    refresh = true;
                }
                Err(e) if e.retryable() && attempt < self.retry.attempts => {
                    warn!(%team, path, error = %e, attempt, "WeCom asked to retry");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                other => return other,
            }
        }
    }

    /// POSTs `body` to `path` with the team's token (see [`Self::with_token`]).
    pub async fn call(&self, team: &TeamId, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.with_token(team, path, |url, token| {
            let request = self.http.post(&url).map(|r| r.query(&[("access_token", token)]).json(body));
            async move { self.answer(request.map_err(ClientError::Refused)?).await }
        })
        .await
    }

    /// Downloads an operator's attachment with `media/get`, reading at most `max_bytes`.
    /// WeCom answers the file itself, or JSON with an error code (40007 for a media id it
    /// does not know or no longer keeps).
    pub async fn get_media(&self, team: &TeamId, media_id: &str, max_bytes: u64) -> Result<Vec<u8>, ClientError> {
        self.with_token(team, "media/get", |url, token| {
            let request =
                self.http.get(&url).map(|r| r.query(&[("access_token", token.as_str()), ("media_id", media_id)]));
            async move {
                let response = send(request.map_err(ClientError::Refused)?).await?;
                let status = response.status();
                // Error answers are read whatever the team's limit, so one is never taken for
                // a file too large; the limit is applied to the file after.
                let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX).max(MAX_ANSWER_BYTES);
                let body = match read_limited(response, limit).await {
                    Ok(body) => body,
                    Err(switchboard_outbound::BodyError::TooLarge(_)) => {
                        return Err(ClientError::TooLarge { max: max_bytes });
                    }
                    Err(e) => return Err(ClientError::Transport(format!("HTTP {status}: {e}"))),
                };
                // An error is a small JSON object with an `errcode`; anything else (a text
                // or JSON file too) is the file.
                if let Some(error) = error_answer(&body) {
                    return Err(error);
                }
                if !status.is_success() {
                    return Err(ClientError::Transport(format!("media/get answered HTTP {status}")));
                }
                if body.len() as u64 > max_bytes {
                    return Err(ClientError::TooLarge { max: max_bytes });
                }
                Ok(Vec::from(body))
            }
        })
        .await
    }

    /// Sends a text to members (`touser` joined by `|`), split into pieces within WeCom's
    /// size limit.
    pub async fn send_text(&self, team: &TeamId, to: &[&str], text: &str) -> Result<(), ClientError> {
        let agent = self.app(team)?.app.agent_id;
        for piece in split_text(text, MAX_TEXT_BYTES) {
            let body = json!({
                "touser": to.join("|"), "msgtype": "text", "agentid": agent, "text": {"content": piece},
                "enable_duplicate_check": 1, "duplicate_check_interval": DUPLICATE_CHECK_SECS,
            });
            self.call(team, "message/send", &body).await?;
        }
        Ok(())
    }

    /// Sends markdown (cut to WeCom's size limit).
    pub async fn send_markdown(&self, team: &TeamId, to: &[&str], markdown: &str) -> Result<(), ClientError> {
        let agent = self.app(team)?.app.agent_id;
        let content = split_text(markdown, MAX_TEXT_BYTES).into_iter().next().unwrap_or_default();
        let body = json!({
            "touser": to.join("|"), "msgtype": "markdown", "agentid": agent, "markdown": {"content": content},
            "enable_duplicate_check": 1, "duplicate_check_interval": DUPLICATE_CHECK_SECS,
        });
        self.call(team, "message/send", &body).await.map(drop)
    }

    /// Sends an answer as a template card with "resolved / not resolved" buttons; `task_id`
    /// must be unique per application (the outbound id is).
    pub async fn send_answer_card(
        &self,
        team: &TeamId,
        to: &str,
        task_id: &str,
        text: &str,
    ) -> Result<(), ClientError> {
        let app = &self.app(team)?.app;
        let key = |action, fallback: &'static str| app.card_key(action).unwrap_or(fallback).to_owned();
        let (title, description) = card_text(text);
        let body = json!({
            "touser": to, "msgtype": "template_card", "agentid": app.agent_id,
            "template_card": {
                "card_type": "button_interaction",
                "main_title": {"title": title, "desc": description},
                "task_id": task_id,
                "button_list": [
                    {"text": "已解决 Resolved", "style": 1, "key": key(Action::Resolved, "resolved")},
                    {"text": "未解决 Not resolved", "style": 2, "key": key(Action::NotResolved, "not_resolved")},
                ],
            },
            "enable_duplicate_check": 1, "duplicate_check_interval": DUPLICATE_CHECK_SECS,
        });
        self.call(team, "message/send", &body).await.map(drop)
    }

    /// Sends a hand-over or an escalation to an engineer as a template card with an
    /// **Acknowledge** button (its key names the operator's conversation and session, see
    /// [`crate::callback::ACKNOWLEDGE_KEY_PREFIX`]) and, when the team has a console address,
    /// a link to the conversation.
    pub async fn send_acknowledge_card(&self, team: &TeamId, message: &Outbound) -> Result<(), ClientError> {
        let app = &self.app(team)?.app;
        let (title, mut description) = card_text(&message.text);
        if let Some(console) = &app.console_url {
            description.push_str(&format!(
                "\n{}/console/#/teams/{team}/conversations/{}",
                console.trim_end_matches('/'),
                message.user
            ));
        }
        let body = json!({
            "touser": recipient(&message.to), "msgtype": "template_card", "agentid": app.agent_id,
            "template_card": {
                "card_type": "button_interaction",
                "main_title": {"title": title, "desc": description},
                "task_id": message.outbound_id.simple().to_string(),
                "button_list": [
                    {"text": "确认处理 Acknowledge", "style": 1,
                     "key": format!("{}{}:{}", crate::callback::ACKNOWLEDGE_KEY_PREFIX, message.user, message.session_id.simple())},
                ],
            },
            "enable_duplicate_check": 1, "duplicate_check_interval": DUPLICATE_CHECK_SECS,
        });
        self.call(team, "message/send", &body).await.map(drop)
    }

    /// Creates a group chat with a fixed chat id; an existing chat with that id counts as
    /// created, so a retried creation never makes two chats.
    pub async fn create_chat(
        &self,
        team: &TeamId,
        chat_id: &str,
        name: &str,
        owner: &str,
        members: &[String],
    ) -> Result<String, ClientError> {
        let name: String = name.chars().take(50).collect();
        let body = json!({"name": name, "owner": owner, "userlist": members, "chatid": chat_id});
        match self.call(team, "appchat/create", &body).await {
            Ok(answer) => Ok(answer["chatid"].as_str().unwrap_or(chat_id).to_owned()),
            Err(ClientError::Wecom { code: code::CHAT_EXISTS, .. }) => Ok(chat_id.to_owned()),
            Err(e) => Err(e),
        }
    }

    /// Sends a text into a group chat (split to the size limit).
    pub async fn send_chat_text(&self, team: &TeamId, chat_id: &str, text: &str) -> Result<(), ClientError> {
        for piece in split_text(text, MAX_TEXT_BYTES) {
            let body = json!({"chatid": chat_id, "msgtype": "text", "text": {"content": piece}});
            self.call(team, "appchat/send", &body).await?;
        }
        Ok(())
    }
}

/// Sends a request through the outbound client; a refusal of the address guard is told apart.
async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
    request.send().await.map_err(|e| match OutboundError::behind(&e) {
        Some(refusal) => ClientError::Refused(refusal.clone()),
        None => ClientError::Transport(e.without_url().to_string()),
    })
}

/// The error a body states when it is one of WeCom's JSON error answers (a few hundred
/// bytes); none for anything else.
fn error_answer(body: &[u8]) -> Option<ClientError> {
    if body.len() > MAX_ANSWER_BYTES || body.first() != Some(&b'{') {
        return None;
    }
    wecom_error(&serde_json::from_slice(body).ok()?)
}

/// The error a JSON answer states with a non-zero `errcode`.
fn wecom_error(answer: &Value) -> Option<ClientError> {
    let code = answer.get("errcode")?.as_i64().filter(|code| *code != 0)?;
    Some(ClientError::Wecom { code, message: answer["errmsg"].as_str().unwrap_or_default().to_owned() })
}

/// Reads WeCom's JSON answer; a non-zero `errcode` is an error.
async fn json_answer(response: reqwest::Response) -> Result<Value, ClientError> {
    let status = response.status();
    let body = read_limited(response, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| ClientError::Transport(format!("HTTP {status}: {e}")))?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|_| ClientError::Transport(format!("HTTP {status}, body not JSON ({} bytes)", body.len())))?;
    match wecom_error(&body) {
        Some(error) => Err(error),
        None => Ok(body),
    }
}

/// Splits text into pieces of at most `max` bytes at character boundaries (preferring line
/// breaks), so no piece is refused for its size and nothing is cut off.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(newline) = rest[..cut].rfind('\n').filter(|&n| n > max / 2) {
            cut = newline + 1;
        }
        pieces.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest.to_owned());
    }
    pieces
}

/// A card's title (the first line, up to 36 characters) and description (the rest).
fn card_text(text: &str) -> (String, String) {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let title: String = first.chars().take(36).collect();
    let description = if first.chars().count() > 36 { text.to_owned() } else { rest.trim().to_owned() };
    (title, description)
}

fn recipient(to: &Recipient) -> &str {
    match to {
        Recipient::Operator(user) => user.as_str(),
        Recipient::Staff(staff) => staff.as_str(),
    }
}

#[async_trait]
impl Notifier for WecomClient {
    async fn deliver(&self, message: &Outbound) -> Result<(), DeliveryError> {
        let to = recipient(&message.to);
        let team = &message.team;
        let sent = match &message.purpose {
            OutboundPurpose::Answer { .. } => {
                self.send_answer_card(team, to, &message.outbound_id.simple().to_string(), &message.text).await
            }
            OutboundPurpose::AssigneeNotice | OutboundPurpose::Escalation => {
                self.send_acknowledge_card(team, message).await
            }
            _ => self.send_text(team, &[to], &message.text).await,
        };
        sent.map_err(DeliveryError::from)
    }
}

#[async_trait]
impl MediaFetcher for WecomClient {
    async fn fetch(&self, team: &TeamId, source: &AttachmentSource, max_bytes: u64) -> Result<Vec<u8>, FetchError> {
        let AttachmentSource::WecomMedia { media_id } = source;
        self.get_media(team, media_id, max_bytes).await.map_err(|e| match e {
            ClientError::TooLarge { max } => FetchError::TooLarge { max },
            e if e.retryable() => FetchError::Retryable(e.to_string()),
            e => FetchError::Permanent(e.to_string()),
        })
    }
}

#[async_trait]
impl GroupChats for WecomClient {
    async fn create(&self, order: &GroupChatOrder) -> Result<String, DeliveryError> {
        let app = self.app(&order.team).map_err(DeliveryError::from)?;
        let owner = order.staff.first().map_or(order.operator.as_str(), |s| s.as_str());
        let mut members: Vec<String> = vec![order.operator.as_str().to_owned()];
        members.extend(order.staff.iter().map(|s| s.as_str().to_owned()));
        members.dedup();
        let chat_id = self
            .create_chat(&order.team, &order.chat_id, &order.name, owner, &members)
            .await
            .map_err(DeliveryError::from)?;
        let mut summary = order.summary.clone();
        if let Some(console) = &app.app.console_url {
            summary.push_str(&format!(
                "\n\n{}/console/#/teams/{}/conversations/{}",
                console.trim_end_matches('/'),
                order.team,
                order.operator
            ));
        }
        self.send_chat_text(&order.team, &chat_id, &summary).await.map_err(DeliveryError::from)?;
        Ok(chat_id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn long_texts_split_at_character_boundaries_within_the_limit() {
        let text = "答".repeat(1000);
        let pieces = split_text(&text, MAX_TEXT_BYTES);
        assert!(pieces.iter().all(|p| p.len() <= MAX_TEXT_BYTES));
        assert_eq!(pieces.concat(), text, "nothing lost");
        assert_eq!(split_text("short", 10), vec!["short"]);
        assert_eq!(split_text("", 10), vec![""]);
        let lines = format!("{}\n{}", "a".repeat(8), "b".repeat(8));
        assert_eq!(split_text(&lines, 12), vec!["aaaaaaaa\n", "bbbbbbbb"], "prefers line breaks");
    }

    #[test]
    fn cards_take_the_first_line_as_title() {
        assert_eq!(card_text("Title\nbody"), ("Title".into(), "body".into()));
        let long = "x".repeat(40);
        assert_eq!(card_text(&long).0.len(), 36);
        assert_eq!(card_text(&long).1, long, "a cut title keeps the whole text below");
    }
}
