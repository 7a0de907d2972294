//! The WebSocket chat channel over a real socket: a tokio-tungstenite client against the
//! application served on loopback, over a real embedded log and the real core. Tokens,
//! the conversation (answer, feedback, transfer, staff reply), resume after a reconnect,
//! deduplication, and every kind of bad input.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use poem::http::StatusCode;
use serde_json::{json, Value};
use switchboard_http::testing::{harness, harness_with, Harness};
use switchboard_http::user_tokens::{channel_key_name, mint, UserClaims};
use switchboard_http::HttpLimits;
use switchboard_schemas::{StreamId, TeamId, UserId};
use switchboard_wecom::setup::SecretStore;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest a test waits for one frame.
const FRAME_WAIT: Duration = Duration::from_secs(10);

struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    async fn connect(addr: &str, team: &str) -> Client {
        let url = format!("ws://{addr}/api/v1/teams/{team}/channel/ws");
        let (socket, response) = tokio_tungstenite::connect_async(&url).await.unwrap();
        assert_eq!(response.status(), 101);
        Client { socket }
    }

    /// Connects and says hello; returns the client and the `ready` frame.
    async fn greeted(addr: &str, team: &str, token: &str, resume_after: u64) -> (Client, Value) {
        let mut client = Client::connect(addr, team).await;
        client.send(json!({"type": "hello", "token": token, "resume_after": resume_after})).await;
        let ready = client.next().await;
        assert_eq!(ready["type"], "ready", "{ready}");
        (client, ready)
    }

    async fn send(&mut self, frame: Value) {
        self.socket.send(Message::text(frame.to_string())).await.unwrap();
    }

    /// The next text frame as JSON.
    async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(FRAME_WAIT, self.socket.next())
                .await
                .expect("a frame within the wait")
                .expect("the connection is open")
                .unwrap();
            match message {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Close(frame) => panic!("closed unexpectedly: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Frames until (and with) the first one `done` accepts.
    async fn until(&mut self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            let last = done(&frame);
            frames.push(frame);
            if last {
                return frames;
            }
        }
    }

    /// The close frame's code and reason, skipping any text frames before it.
    async fn closed(&mut self) -> (u16, String) {
        loop {
            let message = tokio::time::timeout(FRAME_WAIT, self.socket.next()).await.expect("a close within the wait");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => return (u16::from(frame.code), frame.reason.to_string()),
                Some(Ok(Message::Close(None))) | None => return (u16::from(CloseCode::Status), String::new()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("the connection failed instead of closing: {e}"),
            }
        }
    }
}

fn item_kind(frame: &Value) -> &str {
    frame["item"]["kind"].as_str().unwrap_or("")
}

fn is_reply(purpose: &'static str) -> impl Fn(&Value) -> bool {
    move |f: &Value| f["type"] == "event" && item_kind(f) == "reply" && f["item"]["purpose"] == purpose
}

async fn token(h: &Harness, user: &str) -> String {
    let (status, body) = h.post(&h.keys.ops_agent, "/api/v1/teams/ops/channel/tokens", json!({ "user": user })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"], user);
    body["token"].as_str().unwrap().to_owned()
}

/// Events of a conversation in the log with this event type.
async fn count_in_log(h: &Harness, user: &str, event_type: &str) -> usize {
    let stream = StreamId::conversation(&TeamId::new("ops").unwrap(), &UserId::new(user).unwrap());
    h.log.read_stream(&stream, 0).await.unwrap().iter().filter(|e| e.event_type == event_type).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_issued_by_agents_of_the_team_for_a_valid_user_and_lifetime() {
    let h = harness().await;
    let path = "/api/v1/teams/ops/channel/tokens";
    let (status, body) = h.post(&h.keys.ops_viewer, path, json!({"user": "lisi"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a viewer cannot speak for operators: {body}");
    let (status, _) = h.post(&h.keys.games_admin, path, json!({"user": "lisi"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another team's key");
    let (status, body) = h.post(&h.keys.ops_agent, path, json!({"user": "li si"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_user_id")), "{body}");
    for ttl in [0, 59, 604_801] {
        let (status, body) = h.post(&h.keys.ops_agent, path, json!({"user": "lisi", "ttl_seconds": ttl})).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_ttl")), "{ttl}: {body}");
    }
    let (status, body) = h.post(&h.keys.ops_agent, path, json!({"user": "lisi", "ttl_seconds": 120})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expires = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    let left = expires.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((100..=120).contains(&left), "expires in about 120 s: {left}");
    // The key is in the secret file, never in the log.
    let key = SecretStore::open(&h.secrets_path).unwrap().get(&channel_key_name(&TeamId::new("ops").unwrap()));
    let key = key.expect("the channel key was stored");
    let all = h.log.read_all(0, 10_000, None).await.unwrap();
    assert!(all.iter().all(|e| !e.payload.to_string().contains(key.expose())), "the channel key is not in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_is_answered_gives_feedback_and_reaches_a_person() {
    let h = harness().await;
    let addr = h.serve().await;
    let token = token(&h, "lisi").await;
    let (mut client, ready) = Client::greeted(&addr, "ops", &token, 0).await;
    assert_eq!(
        (ready["protocol"].as_u64(), ready["user"].as_str(), ready["version"].as_u64()),
        (Some(1), Some("lisi"), Some(0))
    );

    client.send(json!({"type": "message", "client_id": "m1", "text": "奖品库存不足了怎么办"})).await;
    let frames = client.until(is_reply("answer")).await;
    let accepted = frames.iter().find(|f| f["type"] == "accepted").expect("the message was accepted");
    assert_eq!((accepted["client_id"].as_str(), accepted["recorded"].as_bool()), (Some("m1"), Some(true)));
    let kinds: Vec<&str> = frames.iter().filter(|f| f["type"] == "event").map(item_kind).collect();
    assert_eq!(kinds, ["session_opened", "operator_message", "reply"], "{frames:?}");
    let mine = frames.iter().find(|f| item_kind(f) == "operator_message").unwrap();
    assert_eq!(mine["item"]["client_id"], "m1");
    let answer = frames.last().unwrap();
    assert!(answer["item"]["text"].as_str().unwrap().contains("追加库存"), "{answer}");
    assert_eq!(
        (answer["item"]["asks_feedback"].as_bool(), answer["item"]["faq_id"].as_str()),
        (Some(true), Some("prize-stock"))
    );
    assert_eq!(answer["status"], "answered");
    let versions: Vec<u64> =
        frames.iter().filter(|f| f["type"] == "event").map(|f| f["version"].as_u64().unwrap()).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "in conversation order: {versions:?}");
    assert!(accepted["version"].as_u64().unwrap() >= versions[1], "accepted names the version after the message");

    client.send(json!({"type": "feedback", "client_id": "f1", "resolved": false})).await;
    let frames = client.until(|f| f["type"] == "event" && item_kind(f) == "transferred").await;
    assert!(frames.iter().any(|f| f["type"] == "accepted" && f["client_id"] == "f1"), "{frames:?}");
    assert!(frames.iter().any(|f| item_kind(f) == "feedback_given" && f["item"]["resolved"] == false), "{frames:?}");
    let transfer = frames.last().unwrap();
    assert_eq!(
        (transfer["item"]["reason"].as_str(), transfer["item"]["assignee"].as_str()),
        (Some("not_resolved"), Some("wang"))
    );
    let notice = client.until(is_reply("transfer_notice")).await;
    assert_eq!(notice.last().unwrap()["status"], "with_human");

    // Asking for a person again is harmless; staff remarks and notices never reach the operator.
    client.send(json!({"type": "human", "client_id": "h1"})).await;
    let again = client.until(|f| f["type"] == "accepted" || f["type"] == "error").await;
    assert_eq!(
        (again.last().unwrap()["type"].as_str(), again.last().unwrap()["recorded"].as_bool()),
        (Some("accepted"), Some(false))
    );
    let remark = h
        .post(&h.keys.ops_agent, "/api/v1/teams/ops/conversations/lisi/remarks", json!({"text": "VIP, internal"}))
        .await;
    assert_eq!(remark.0, StatusCode::OK, "{}", remark.1);
    let reply =
        h.post(&h.keys.ops_agent, "/api/v1/teams/ops/conversations/lisi/replies", json!({"text": "我来看一下"})).await;
    assert_eq!(reply.0, StatusCode::OK, "{}", reply.1);
    let frames = client.until(is_reply("human_reply")).await;
    assert_eq!(frames.last().unwrap()["item"]["text"], "我来看一下");
    assert!(frames.iter().all(|f| !f.to_string().contains("VIP")), "the remark stays internal: {frames:?}");

    client.send(json!({"type": "close", "client_id": "c1"})).await;
    let frames = client.until(|f| item_kind(f) == "session_closed").await;
    assert_eq!(frames.last().unwrap()["item"]["reason"], "by_operator");
    assert_eq!(frames.last().unwrap()["status"], "closed");
    assert_eq!(count_in_log(&h, "lisi", "MessageReceived").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_gets_exactly_what_it_missed_and_a_resent_message_is_recorded_once() {
    let h = harness().await;
    let addr = h.serve().await;
    let token = token(&h, "wangwu").await;
    let (mut client, _) = Client::greeted(&addr, "ops", &token, 0).await;
    client.send(json!({"type": "message", "client_id": "q-1", "text": "奖品库存不足了怎么办"})).await;
    let seen = client.until(is_reply("answer")).await;
    let last_seen = seen.iter().filter_map(|f| f["version"].as_u64()).max().unwrap();
    let seen_ids: Vec<Value> = seen.iter().filter(|f| f["type"] == "event").map(|f| f["event_id"].clone()).collect();
    drop(client);

    // While the page is away: a person replies.
    let reply = h
        .post(&h.keys.ops_agent, "/api/v1/teams/ops/conversations/wangwu/replies", json!({"text": "还需要帮忙吗"}))
        .await;
    assert_eq!(reply.0, StatusCode::OK, "{}", reply.1);

    let (mut client, ready) = Client::greeted(&addr, "ops", &token, last_seen).await;
    assert!(ready["version"].as_u64().unwrap() > last_seen, "{ready}");
    let missed = client.until(is_reply("human_reply")).await;
    assert!(missed.iter().all(|f| f["version"].as_u64().unwrap() > last_seen), "only what came after: {missed:?}");
    assert!(missed.iter().all(|f| !seen_ids.contains(&f["event_id"])), "nothing shown twice");

    // The page resends a message it never saw acknowledged: recorded once.
    client.send(json!({"type": "message", "client_id": "q-1", "text": "奖品库存不足了怎么办"})).await;
    let answer = client.until(|f| f["type"] == "accepted").await;
    assert_eq!(answer.last().unwrap()["recorded"], false, "{answer:?}");
    assert_eq!(count_in_log(&h, "wangwu", "MessageReceived").await, 1);

    // A first connection from another tab gets the whole conversation.
    let (mut other_tab, _) = Client::greeted(&addr, "ops", &token, 0).await;
    let all = other_tab.until(is_reply("human_reply")).await;
    let kinds: Vec<&str> = all.iter().map(item_kind).collect();
    assert_eq!(&kinds[..3], ["session_opened", "operator_message", "reply"], "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_choice_is_refused_when_none_is_offered_instead_of_being_taken_as_a_question() {
    let h = harness().await;
    let addr = h.serve().await;
    let token = token(&h, "zhaoliu").await;
    let (mut client, _) = Client::greeted(&addr, "ops", &token, 0).await;
    client.send(json!({"type": "choose", "client_id": "k1", "choice": 1})).await;
    let refused = client.next().await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str(), refused["client_id"].as_str()),
        (Some("error"), Some("not_a_choice"), Some("k1")),
        "{refused}"
    );
    assert_eq!(count_in_log(&h, "zhaoliu", "MessageReceived").await, 0, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_close_the_connection_with_4401() {
    let h = harness().await;
    let addr = h.serve().await;
    let good = token(&h, "lisi").await;
    let store = SecretStore::open(&h.secrets_path).unwrap();
    let key = store.get(&channel_key_name(&TeamId::new("ops").unwrap())).unwrap();
    let user = UserId::new("lisi").unwrap();
    let expired = mint(
        key.expose().as_bytes(),
        &TeamId::new("ops").unwrap(),
        &UserClaims { user: user.clone(), expires_at: chrono::Utc::now() - chrono::Duration::seconds(1) },
    );
    let forged = mint(
        b"not the key",
        &TeamId::new("ops").unwrap(),
        &UserClaims { user, expires_at: chrono::Utc::now() + chrono::Duration::hours(1) },
    );
    let other_team = good.replacen("sbu.ops.", "sbu.games.", 1);
    for (name, bad) in [
        ("expired", expired),
        ("forged", forged),
        ("another team's", other_team),
        ("a team key", h.keys.ops_agent.clone()),
        ("empty", String::new()),
    ] {
        let mut client = Client::connect(&addr, "ops").await;
        client.send(json!({"type": "hello", "token": bad})).await;
        let (code, reason) = client.closed().await;
        assert_eq!(code, 4401, "{name} token: {reason}");
        assert!(!reason.is_empty(), "{name}: the reason says why");
    }
    // Rotating the key ends tokens issued before, also on open connections.
    let (mut open, _) = Client::greeted(&addr, "ops", &good, 0).await;
    let (status, body) = h.post(&h.keys.ops_admin, "/api/v1/teams/ops/channel/key", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = h.post(&h.keys.ops_agent, "/api/v1/teams/ops/channel/key", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only admins rotate");
    open.send(json!({"type": "human"})).await;
    let (code, reason) = open.closed().await;
    assert_eq!(code, 4401, "{reason}");
    let mut again = Client::connect(&addr, "ops").await;
    again.send(json!({"type": "hello", "token": good})).await;
    assert_eq!(again.closed().await.0, 4401);
    let fresh = token(&h, "lisi").await;
    Client::greeted(&addr, "ops", &fresh, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closes_when_its_token_expires() {
    let h = harness().await;
    let addr = h.serve().await;
    token(&h, "lisi").await; // makes the team's key
    let ops = TeamId::new("ops").unwrap();
    let key = SecretStore::open(&h.secrets_path).unwrap().get(&channel_key_name(&ops)).unwrap();
    let expires_at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let short = mint(key.expose().as_bytes(), &ops, &UserClaims { user: UserId::new("lisi").unwrap(), expires_at });
    let (mut client, ready) = Client::greeted(&addr, "ops", &short, 0).await;
    assert!(ready["token_expires_at"].is_string());
    let (code, reason) = client.closed().await;
    assert_eq!(code, 4401, "{reason}");
    assert!(reason.contains("expired"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_are_refused_clearly_and_write_nothing() {
    let limits = HttpLimits {
        channel_hello_timeout: Duration::from_millis(300),
        channel_max_frame_bytes: 4096,
        ..HttpLimits::default()
    };
    let h = harness_with(limits).await;
    let addr = h.serve().await;
    let token = token(&h, "lisi").await;

    let mut silent = Client::connect(&addr, "ops").await;
    assert_eq!(silent.closed().await.0, 4408, "no hello in time");
    let mut wrong_first = Client::connect(&addr, "ops").await;
    wrong_first.send(json!({"type": "message", "client_id": "x", "text": "hi"})).await;
    assert_eq!(wrong_first.closed().await.0, 4400, "the first frame must be hello");
    let mut not_json = Client::connect(&addr, "ops").await;
    not_json.socket.send(Message::text("{not json")).await.unwrap();
    assert_eq!(not_json.closed().await.0, 4400);
    let mut binary = Client::connect(&addr, "ops").await;
    binary.socket.send(Message::binary(vec![0xff, 0xfe])).await.unwrap();
    assert_eq!(binary.closed().await.0, 4400);

    let (mut client, _) = Client::greeted(&addr, "ops", &token, 0).await;
    for (frame, code) in [
        (json!({"type": "message", "client_id": "bad id!", "text": "hi"}), "bad_client_id"),
        (json!({"type": "message", "client_id": "", "text": "hi"}), "bad_client_id"),
        (json!({"type": "message", "client_id": "e1", "text": "  "}), "empty_text"),
        (json!({"type": "message", "client_id": "e2", "text": "长".repeat(201)}), "message_too_long"),
        (json!({"type": "teleport"}), "bad_frame"),
        (json!({"type": "message", "text": "no id"}), "bad_frame"),
        (json!({"type": "hello", "token": token}), "already_greeted"),
        (json!({"type": "feedback", "resolved": true}), "no_session"),
    ] {
        client.send(frame.clone()).await;
        let answer = client.next().await;
        assert_eq!(
            (answer["type"].as_str(), answer["code"].as_str()),
            (Some("error"), Some(code)),
            "{frame}: {answer}"
        );
        assert!(!answer["message"].as_str().unwrap().is_empty());
    }
    client.send(json!({"type": "ping", "client_id": "p"})).await;
    assert_eq!(client.next().await, json!({"type": "pong", "client_id": "p"}), "the connection stayed usable");
    assert_eq!(count_in_log(&h, "lisi", "MessageReceived").await, 0, "nothing was written");

    // A frame over the limit ends the connection with 1009 (message too big), saying why.
    client.socket.send(Message::text("x".repeat(5000))).await.unwrap();
    let (code, reason) = client.closed().await;
    assert_eq!((code, reason.as_str()), (1009, "frames are at most 4096 bytes"));
    // One far over it is refused by the socket before it is buffered; the connection ends.
    let (mut huge, _) = Client::greeted(&addr, "ops", &token, 0).await;
    let _ = huge.socket.send(Message::text("x".repeat(64 * 1024))).await;
    let ended = tokio::time::timeout(FRAME_WAIT, async {
        while let Some(Ok(message)) = huge.socket.next().await {
            if message.is_close() {
                break;
            }
        }
    });
    assert!(ended.await.is_ok(), "the connection ended");
    assert_eq!(count_in_log(&h, "lisi", "MessageReceived").await, 0, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_commands_is_slowed_down() {
    let h = harness().await;
    let addr = h.serve().await;
    let token = token(&h, "lisi").await;
    let (mut client, _) = Client::greeted(&addr, "ops", &token, 0).await;
    for _ in 0..40 {
        client.send(json!({"type": "close"})).await;
    }
    let mut answers = Vec::new();
    while answers.len() < 40 {
        let frame = client.next().await;
        if frame["type"] != "event" {
            answers.push(frame);
        }
    }
    let limited = answers.iter().filter(|f| f["code"] == "rate_limited").count();
    assert!(limited >= 10, "after a burst of 20 the rest is refused: {limited} of 40 refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_is_charged_before_work_and_a_flood_is_disconnected() {
    let h = harness().await;
    let addr = h.serve().await;
    let token = token(&h, "lisi").await;
    // Malformed frames and pings cost as much as commands: 20, then refusals, then the door.
    let (mut client, _) = Client::greeted(&addr, "ops", &token, 0).await;
    for n in 0..60 {
        let frame = if n % 2 == 0 { Message::text("{not json") } else { Message::Ping(vec![1].into()) };
        if client.socket.send(frame).await.is_err() {
            break;
        }
    }
    let mut refused = 0;
    let (code, reason) = loop {
        match tokio::time::timeout(FRAME_WAIT, client.socket.next()).await.expect("a frame within the wait") {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                if frame["code"] == "rate_limited" {
                    refused += 1;
                } else {
                    assert_eq!(frame["code"], "bad_frame", "{frame}");
                }
            }
            Some(Ok(Message::Close(Some(frame)))) => break (u16::from(frame.code), frame.reason.to_string()),
            Some(Ok(_)) => continue,
            other => panic!("the connection must be closed with a reason: {other:?}"),
        }
    };
    assert_eq!(code, 1008, "{reason}");
    assert!(refused >= 5, "malformed frames over the budget were refused, not parsed: {refused}");
    assert_eq!(count_in_log(&h, "lisi", "MessageReceived").await, 0, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_is_taken_only_after_hello_and_each_operator_and_token_has_a_cap() {
    let limits = HttpLimits {
        channel_max_connections: 3,
        channel_max_per_user: 2,
        channel_max_per_token: 1,
        ..HttpLimits::default()
    };
    let h = harness_with(limits).await;
    let addr = h.serve().await;
    // Anonymous connections that never say hello hold no place.
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(Client::connect(&addr, "ops").await);
    }
    let lisi = token(&h, "lisi").await;
    let (_first, _) = Client::greeted(&addr, "ops", &lisi, 0).await;
    // The same token again: over its cap.
    let mut again = Client::connect(&addr, "ops").await;
    again.send(json!({"type": "hello", "token": lisi, "resume_after": 0})).await;
    let (code, reason) = again.closed().await;
    assert_eq!(code, 4429, "{reason}");
    assert!(reason.contains("channel_max_per_token"), "{reason}");
    // Other tokens of the same operator (another lifetime makes another token): within the
    // operator's cap of two, then over it.
    let another = |ttl: u32| {
        let h = &h;
        async move {
            let body = json!({"user": "lisi", "ttl_seconds": ttl});
            let (status, issued) = h.post(&h.keys.ops_agent, "/api/v1/teams/ops/channel/tokens", body).await;
            assert_eq!(status, StatusCode::OK, "{issued}");
            issued["token"].as_str().unwrap().to_owned()
        }
    };
    let (_second, _) = Client::greeted(&addr, "ops", &another(7200).await, 0).await;
    let mut third = Client::connect(&addr, "ops").await;
    third.send(json!({"type": "hello", "token": another(7300).await, "resume_after": 0})).await;
    let (code, reason) = third.closed().await;
    assert_eq!(code, 4429, "{reason}");
    assert!(reason.contains("channel_max_per_user"), "{reason}");
    // Another operator still gets the instance's last place.
    let (_other, _) = Client::greeted(&addr, "ops", &token(&h, "wangwu").await, 0).await;
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_when_idle_and_a_pinging_one_is_not() {
    let limits = HttpLimits { channel_idle_timeout: Duration::from_millis(800), ..HttpLimits::default() };
    let h = harness_with(limits).await;
    let addr = h.serve().await;
    let (mut pinging, _) = Client::greeted(&addr, "ops", &token(&h, "lisi").await, 0).await;
    let (mut silent, _) = Client::greeted(&addr, "ops", &token(&h, "wangwu").await, 0).await;
    for n in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        pinging.send(json!({"type": "ping", "client_id": format!("p{n}")})).await;
        assert_eq!(pinging.next().await["type"], "pong");
    }
    let (code, reason) = silent.closed().await;
    assert_eq!(code, 4410, "{reason}");
    assert!(reason.contains("no frame"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_instance_limit_are_refused_with_503() {
    let limits = HttpLimits { channel_max_connections: 1, ..HttpLimits::default() };
    let h = harness_with(limits).await;
    let addr = h.serve().await;
    let token = token(&h, "lisi").await;
    let (first, _) = Client::greeted(&addr, "ops", &token, 0).await;
    let url = format!("ws://{addr}/api/v1/teams/ops/channel/ws");
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("the second connection must be refused: {:?}", other.map(|(_, r)| r.status())),
    }
    drop(first);
    // The place is given back once the first connection is gone.
    let mut admitted = false;
    for _ in 0..50 {
        if tokio_tungstenite::connect_async(&url).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted, "a connection is admitted again after the first closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_page_is_served_and_may_be_framed() {
    let h = harness().await;
    let response = h.client.get("/widget/ops").send().await;
    response.assert_status(StatusCode::SEE_OTHER);
    response.assert_header("location", "/widget/ops/");
    let response = h.client.get("/widget/ops/").send().await;
    response.assert_status_is_ok();
    let policy = response.0.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned();
    assert!(!policy.contains("frame-ancestors"), "embeddable: {policy}");
    assert!(response.0.into_body().into_string().await.unwrap().contains("widget.js"));
    h.client.get("/widget/ops/widget.js").send().await.assert_status_is_ok();
    h.client.get("/widget/ops/nope.js").send().await.assert_status(StatusCode::NOT_FOUND);
}
