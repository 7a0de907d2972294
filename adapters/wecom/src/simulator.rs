//! A stand-in for the WeCom cloud, the only one Switchboard uses: the WeCom API cannot be
//! reached from tests or development machines. It follows the documented protocol
//! (../shared/WECOM.md): `gettoken` with expiry, `message/send` (text, markdown,
//! template_card, size limit, at most 30 messages a minute per member with the rest dropped
//! silently, the duplicate check), `appchat/create` (2..=2000 members, name ≤ 50 characters,
//! chat id ≤ 32 `[0-9a-zA-Z]`, 86215 for an existing chat id) and `appchat/send` (40050 for an
//! unknown chat) and `media/get` (the file with its type and name, or 40007 for a media id it
//! does not know or that is older than three days), with the error codes WeCom uses. Tests
//! can force error codes on the next calls (-1, 45009, 45033, …), expire every token, and
//! add or expire media.
//!
//! It also plays operators: [`CallbackSender`] encrypts and signs callbacks exactly as WeCom
//! does and posts them with WeCom's retry behaviour (no 200 within 5 seconds: send the same
//! callback again, three retries at most).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Json, Query};
use poem::{get, handler, post, EndpointExt, Route};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::client::code;
use crate::crypto::WecomCrypto;
use crate::xml::{Envelope, Message};

/// The simulated application.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The CorpID `gettoken` accepts.
    pub corp_id: String,
    /// The secret `gettoken` accepts.
    pub secret: String,
    /// The agent id `message/send` accepts.
    pub agent_id: u64,
    /// How long a token lives (WeCom: 7200 s).
    pub token_ttl: Duration,
    /// Messages one member receives per minute before the rest are dropped (WeCom: 30).
    pub per_member_per_minute: usize,
    /// How long media can be fetched after it was sent (WeCom: three days).
    pub media_ttl: Duration,
}

impl SimulatorConfig {
    /// WeCom's documented limits for an application.
    pub fn new(corp_id: impl Into<String>, secret: impl Into<String>, agent_id: u64) -> Self {
        Self {
            corp_id: corp_id.into(),
            secret: secret.into(),
            agent_id,
            token_ttl: Duration::from_secs(7200),
            per_member_per_minute: 30,
            media_ttl: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

/// A message WeCom accepted for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The members it went to.
    pub to: Vec<String>,
    /// `text`, `markdown` or `template_card`.
    pub msgtype: String,
    /// The request body as sent.
    pub body: Value,
}

impl SentMessage {
    /// The text shown: the content of a text or markdown message, the title and
    /// description of a card.
    pub fn text(&self) -> String {
        match self.msgtype.as_str() {
            "template_card" => {
                let title = &self.body["template_card"]["main_title"];
                format!("{}\n{}", title["title"].as_str().unwrap_or(""), title["desc"].as_str().unwrap_or(""))
            }
            kind => self.body[kind]["content"].as_str().unwrap_or("").to_owned(),
        }
    }
}

/// A group chat the simulator holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Chat {
    /// Its id.
    pub chat_id: String,
    /// Its name.
    pub name: String,
    /// Its owner.
    pub owner: String,
    /// Its members.
    pub members: Vec<String>,
    /// Texts sent into it.
    pub messages: Vec<String>,
}

#[derive(Default)]
struct State {
    tokens: HashMap<String, Instant>,
    issued: u64,
    forced: VecDeque<i64>,
    delivered: Vec<SentMessage>,
    dropped: Vec<SentMessage>,
    received_at: HashMap<String, VecDeque<Instant>>,
    duplicates: HashMap<(String, String), Instant>,
    chats: Vec<Chat>,
    calls: u64,
    media: HashMap<String, Media>,
}

/// A file an operator sent, as WeCom keeps it for `media/get`.
struct Media {
    bytes: Vec<u8>,
    content_type: String,
    file_name: String,
    until: Instant,
}

/// The simulated WeCom API. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct WecomSimulator {
    config: Arc<SimulatorConfig>,
    state: Arc<Mutex<State>>,
}

fn error(code: i64, message: &str) -> Json<Value> {
    Json(json!({"errcode": code, "errmsg": message}))
}

fn ok(mut extra: Value) -> Json<Value> {
    extra["errcode"] = json!(0);
    extra["errmsg"] = json!("ok");
    Json(extra)
}

/// WeCom's checks of a text's content: not empty, within the size limit.
fn check_text(content: &str) -> Result<(), Json<Value>> {
    if content.is_empty() {
        return Err(error(44004, "empty content"));
    }
    if content.len() > crate::client::MAX_TEXT_BYTES {
        return Err(error(code::TOO_LONG, "content size out of limit"));
    }
    Ok(())
}

#[derive(Deserialize)]
struct TokenQuery {
    corpid: Option<String>,
    corpsecret: Option<String>,
}

#[derive(Deserialize)]
struct AccessQuery {
    access_token: Option<String>,
}

impl WecomSimulator {
    /// A simulator of one application.
    pub fn new(config: SimulatorConfig) -> Self {
        Self { config: Arc::new(config), state: Arc::new(Mutex::new(State::default())) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The API routes, under `/cgi-bin`.
    pub fn routes(&self) -> impl poem::Endpoint<Output = poem::Response> {
        Route::new()
            .at("/cgi-bin/gettoken", get(gettoken))
            .at("/cgi-bin/message/send", post(message_send))
            .at("/cgi-bin/appchat/create", post(appchat_create))
            .at("/cgi-bin/appchat/send", post(appchat_send))
            .at("/cgi-bin/media/get", get(media_get))
            .data(self.clone())
            .map_to_response()
    }

    /// Serves the API on `addr` (port 0 for any) in the background; returns the address.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let acceptor = TcpListener::bind(addr).into_acceptor().await?;
        let local = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| std::io::Error::other("the simulator's listener has no address"))?;
        let routes = self.routes();
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(routes).await;
        });
        Ok(local)
    }

    /// The next calls (any API) answer these error codes, in order.
    pub fn fail_next(&self, codes: &[i64]) {
        self.state().forced.extend(codes);
    }

    /// Expires every issued token, as time passing would.
    pub fn expire_tokens(&self) {
        for valid_until in self.state().tokens.values_mut() {
            *valid_until = Instant::now();
        }
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.state().issued
    }

    /// API calls answered so far (tokens included).
    pub fn calls(&self) -> u64 {
        self.state().calls
    }

    /// Messages delivered to members, in order.
    pub fn delivered(&self) -> Vec<SentMessage> {
        self.state().delivered.clone()
    }

    /// Messages accepted but not delivered (over a member's per-minute limit, or caught by
    /// the duplicate check).
    pub fn dropped(&self) -> Vec<SentMessage> {
        self.state().dropped.clone()
    }

    /// The group chats.
    pub fn chats(&self) -> Vec<Chat> {
        self.state().chats.clone()
    }

    /// Keeps a file as if an operator had sent it, fetchable for `media_ttl`; returns its
    /// media id (for the callback that announces it).
    pub fn add_media(&self, bytes: Vec<u8>, content_type: &str, file_name: &str) -> String {
        let media_id = format!("sim-media-{}", uuid::Uuid::new_v4().simple());
        let until = Instant::now() + self.config.media_ttl;
        let media = Media { bytes, content_type: content_type.to_owned(), file_name: file_name.to_owned(), until };
        self.state().media.insert(media_id.clone(), media);
        media_id
    }

    /// Lets every media file expire, as three days passing would.
    pub fn expire_media(&self) {
        let now = Instant::now();
        for media in self.state().media.values_mut() {
            media.until = now;
        }
    }

    /// Counts a call and returns a forced error code, if one is queued.
    fn begin(&self) -> Option<i64> {
        let mut state = self.state();
        state.calls += 1;
        state.forced.pop_front()
    }

    /// Counts an authenticated call: a forced error code first, then the token.
    fn admit(&self, token: Option<&str>) -> Result<(), Json<Value>> {
        if let Some(code) = self.begin() {
            return Err(error(code, "forced by the test"));
        }
        self.check_token(token)
    }

    fn check_token(&self, token: Option<&str>) -> Result<(), Json<Value>> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(error(code::MISSING_TOKEN, "access_token missing"));
        };
        match self.state().tokens.get(token) {
            None => Err(error(code::INVALID_TOKEN, "invalid access_token")),
            Some(valid_until) if *valid_until <= Instant::now() => {
                Err(error(code::EXPIRED_TOKEN, "access_token expired"))
            }
            Some(_) => Ok(()),
        }
    }
}

#[derive(Deserialize)]
struct MediaQuery {
    access_token: Option<String>,
    media_id: Option<String>,
}

#[handler]
fn media_get(Data(sim): Data<&WecomSimulator>, Query(query): Query<MediaQuery>) -> poem::Response {
    use poem::IntoResponse;
    if let Err(e) = sim.admit(query.access_token.as_deref()) {
        return e.into_response();
    }
    let state = sim.state();
    let media = query.media_id.as_deref().and_then(|id| state.media.get(id)).filter(|m| m.until > Instant::now());
    let Some(media) = media else {
        return error(code::INVALID_MEDIA_ID, "invalid media_id").into_response();
    };
    poem::Response::builder()
        .content_type(media.content_type.clone())
        .header("Content-disposition", format!("attachment; filename=\"{}\"", media.file_name))
        .body(media.bytes.clone())
}

#[handler]
fn gettoken(Data(sim): Data<&WecomSimulator>, Query(query): Query<TokenQuery>) -> Json<Value> {
    if let Some(code) = sim.begin() {
        return error(code, "forced by the test");
    }
    if query.corpid.as_deref() != Some(sim.config.corp_id.as_str()) {
        return error(code::BAD_CORP_ID, "invalid corpid");
    }
    if query.corpsecret.as_deref() != Some(sim.config.secret.as_str()) {
        return error(code::BAD_SECRET, "invalid credential");
    }
    let mut state = sim.state();
    state.issued += 1;
    let token = format!("sim-token-{}-{}", state.issued, uuid::Uuid::new_v4().simple());
    state.tokens.insert(token.clone(), Instant::now() + sim.config.token_ttl);
    ok(json!({"access_token": token, "expires_in": sim.config.token_ttl.as_secs()}))
}

#[handler]
fn message_send(
    Data(sim): Data<&WecomSimulator>,
    Query(query): Query<AccessQuery>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if let Err(e) = sim.admit(query.access_token.as_deref()) {
        return e;
    }
    if body["agentid"].as_u64() != Some(sim.config.agent_id) {
        return error(40056, "invalid agentid");
    }
    let to: Vec<String> =
        body["touser"].as_str().unwrap_or("").split('|').filter(|u| !u.is_empty()).map(str::to_owned).collect();
    if to.is_empty() {
        return error(40003, "invalid userid");
    }
    let msgtype = body["msgtype"].as_str().unwrap_or("").to_owned();
    let content = match msgtype.as_str() {
        "text" | "markdown" => {
            let content = body[msgtype.as_str()]["content"].as_str().unwrap_or("");
            if let Err(e) = check_text(content) {
                return e;
            }
            content.to_owned()
        }
        "template_card" => {
            let card = &body["template_card"];
            let task_id = card["task_id"].as_str().unwrap_or("");
            let buttons = card["button_list"].as_array().map_or(0, Vec::len);
            if task_id.is_empty() || task_id.len() > 128 || !(1..=6).contains(&buttons) {
                return error(40058, "invalid template_card");
            }
            card.to_string()
        }
        _ => return error(40008, "invalid message type"),
    };
    let message = SentMessage { to: to.clone(), msgtype, body: body.clone() };
    let now = Instant::now();
    let mut state = sim.state();
    if body["enable_duplicate_check"].as_i64() == Some(1) {
        let interval = Duration::from_secs(body["duplicate_check_interval"].as_u64().unwrap_or(1800).min(14_400));
        let key = (to.join("|"), content);
        if state.duplicates.get(&key).is_some_and(|at| now.duration_since(*at) < interval) {
            state.dropped.push(message);
            return ok(json!({}));
        }
        state.duplicates.insert(key, now);
    }
    let limit = sim.config.per_member_per_minute;
    let mut over_limit = Vec::new();
    for user in &to {
        let times = state.received_at.entry(user.clone()).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            times.pop_front();
        }
        if times.len() >= limit {
            over_limit.push(user.clone());
        } else {
            times.push_back(now);
        }
    }
    if over_limit.len() == to.len() {
        // WeCom drops what is over a member's limit without an error.
        state.dropped.push(message);
    } else {
        state.delivered.push(message);
    }
    ok(json!({"invaliduser": "", "msgid": uuid::Uuid::new_v4().simple().to_string()}))
}

#[handler]
fn appchat_create(
    Data(sim): Data<&WecomSimulator>,
    Query(query): Query<AccessQuery>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if let Err(e) = sim.admit(query.access_token.as_deref()) {
        return e;
    }
    let name = body["name"].as_str().unwrap_or("").to_owned();
    if name.chars().count() > 50 {
        return error(86004, "invalid chat name");
    }
    let members: Vec<String> = body["userlist"]
        .as_array()
        .map(|l| l.iter().filter_map(|u| u.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if !(2..=2000).contains(&members.len()) {
        return error(86006, "too many or too few members");
    }
    let owner = body["owner"].as_str().map_or_else(|| members[0].clone(), str::to_owned);
    if !members.contains(&owner) {
        return error(86005, "invalid owner");
    }
    let chat_id = match body["chatid"].as_str() {
        Some(id) if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            return error(86001, "invalid chatid");
        }
        Some(id) => id.to_owned(),
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    let mut state = sim.state();
    if state.chats.iter().any(|c| c.chat_id == chat_id) {
        return error(code::CHAT_EXISTS, "chatid exists");
    }
    state.chats.push(Chat { chat_id: chat_id.clone(), name, owner, members, messages: Vec::new() });
    ok(json!({"chatid": chat_id}))
}

#[handler]
fn appchat_send(
    Data(sim): Data<&WecomSimulator>,
    Query(query): Query<AccessQuery>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if let Err(e) = sim.admit(query.access_token.as_deref()) {
        return e;
    }
    let text = body["text"]["content"].as_str().unwrap_or("").to_owned();
    if let Err(e) = check_text(&text) {
        return e;
    }
    let chat_id = body["chatid"].as_str().unwrap_or("");
    let mut state = sim.state();
    match state.chats.iter_mut().find(|c| c.chat_id == chat_id) {
        Some(chat) => {
            chat.messages.push(text);
            ok(json!({}))
        }
        None => error(code::CHAT_NOT_FOUND, "chat not found"),
    }
}

/// What happened to one callback delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackOutcome {
    /// The final HTTP status (0 when the endpoint never answered).
    pub status: u16,
    /// Deliveries made (1 plus retries).
    pub attempts: u32,
}

/// Plays WeCom's side of the callbacks of one application: encrypts, signs and posts them,
/// and retries as WeCom does.
#[derive(Clone)]
pub struct CallbackSender {
    http: reqwest::Client,
    crypto: WecomCrypto,
    url: String,
    corp_id: String,
    agent_id: u64,
    /// Retries after the first delivery (WeCom: 3).
    pub retries: u32,
}

impl CallbackSender {
    /// A sender to `url` (e.g. `http://127.0.0.1:8080/wecom/demo/callback`) for an
    /// application's token and key.
    pub fn new(url: impl Into<String>, crypto: WecomCrypto, corp_id: impl Into<String>, agent_id: u64) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        Self { http, crypto, url: url.into(), corp_id: corp_id.into(), agent_id, retries: 3 }
    }

    /// The query string and body of a callback carrying `message`, as WeCom builds them.
    pub fn encrypt(&self, message: &Message, timestamp: i64) -> Result<(String, String), crate::CryptoError> {
        let encrypted = self.crypto.encrypt(&message.to_xml(), *uuid::Uuid::new_v4().as_bytes())?;
        let nonce = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let timestamp = timestamp.to_string();
        let signature = self.crypto.signature(&timestamp, &nonce, &encrypted);
        let envelope = Envelope {
            to_user_name: Some(self.corp_id.clone()),
            agent_id: Some(self.agent_id.to_string()),
            encrypt: encrypted,
        };
        Ok((format!("msg_signature={signature}&timestamp={timestamp}&nonce={nonce}"), envelope.to_xml()))
    }

    /// Delivers `message` and retries (the identical request) while the endpoint does not
    /// answer 200 within 5 seconds.
    pub async fn send(&self, message: &Message) -> Result<CallbackOutcome, crate::CryptoError> {
        let (query, body) = self.encrypt(message, chrono::Utc::now().timestamp())?;
        let url = format!("{}?{query}", self.url);
        let mut attempts = 0;
        let mut status = 0;
        while attempts <= self.retries {
            attempts += 1;
            status = match self.http.post(&url).body(body.clone()).send().await {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            };
            if status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(CallbackOutcome { status, attempts })
    }
}
