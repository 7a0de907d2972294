//! The callback endpoint end to end: poem's test client in front, the real runtime and a
//! real embedded event log (SQLite in a temporary directory) behind.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::test::TestClient;
use poem::{EndpointExt, Route};
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::conversation::Command;
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::Ranking;
use switchboard_engine::runtime::Runtime;
use switchboard_engine::team::TeamCommand;
use switchboard_schemas::attachment::AttachmentKind;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{MatchCandidate, Roster, TeamSettings};
use switchboard_schemas::{FaqId, StaffId, TeamId, UserId};
use switchboard_secret::Secret;
use switchboard_testkit::ManualClock;
use switchboard_wecom::xml::{Body, Envelope, Event, Header, Message};
use switchboard_wecom::{routes, CallbackOptions, WecomApp, WecomApps, WecomCrypto, DEFAULT_MOUNT_PATH};
use uuid::Uuid;

const TOKEN: &str = "QDG6eK";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const CORP: &str = "wx5823bf96d3bd56c7";
const AGENT: u64 = 218;
/// The time of Tencent's sample POST, so its vectors fall inside the window.
const SAMPLE_TIME: i64 = 1_409_659_813;

struct Harness {
    client: TestClient<poem::endpoint::BoxEndpoint<'static>>,
    runtime: Arc<Runtime>,
    crypto: WecomCrypto,
    now: i64,
}

fn team() -> TeamId {
    TeamId::new("ops").unwrap()
}

async fn harness_at(dir: &Path, now: i64, options: CallbackOptions) -> Harness {
    let log: Arc<dyn EventLog> =
        Arc::new(SqliteEventLog::open(&dir.join("events.sqlite"), SqliteOptions::default()).unwrap());
    let runtime = Arc::new(Runtime::new(log, Arc::new(ManualClock::at(DateTime::from_timestamp(now, 0).unwrap()))));
    let cause = Causation::root(Uuid::now_v7());
    if runtime.load_team(&team()).await.unwrap().name.is_none() {
        let roster = Roster { default: vec![StaffId::new("zhao").unwrap()], ..Roster::default() };
        let settings = TeamSettings { max_message_chars: 200, ..TeamSettings::default() };
        runtime.team(&team(), TeamCommand::Create { name: "Ops".into(), cloned_from: None }, cause).await.unwrap();
        runtime.team(&team(), TeamCommand::Configure { settings: Box::new(settings) }, cause).await.unwrap();
        runtime.team(&team(), TeamCommand::UpdateRoster { roster }, cause).await.unwrap();
    }
    let app = WecomApp::new(CORP, AGENT, Secret::new(TOKEN), Secret::new(KEY), "WECOM_OPS_SECRET");
    // "ghost" has an application but was never onboarded in the engine.
    let apps = WecomApps::new([(team(), app.clone()), (TeamId::new("ghost").unwrap(), app)]).unwrap();
    let endpoint = Route::new().nest(DEFAULT_MOUNT_PATH, routes(runtime.clone(), Arc::new(apps), options));
    Harness {
        client: TestClient::new(endpoint.boxed()),
        runtime,
        crypto: WecomCrypto::new(TOKEN, KEY, CORP).unwrap(),
        now,
    }
}

async fn harness(dir: &Path) -> Harness {
    harness_at(dir, Utc::now().timestamp(), CallbackOptions::default()).await
}

/// Percent-encodes a query value the way WeCom does (everything but unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn header(from: &str, create_time: i64) -> Header {
    Header { to_user_name: CORP.into(), from_user_name: from.into(), create_time, agent_id: Some(AGENT.to_string()) }
}

fn text(from: &str, msg_id: &str, content: &str) -> Message {
    Message { header: header(from, 1_700_000_000), body: Body::Text { msg_id: msg_id.into(), content: content.into() } }
}

fn event(from: &str, create_time: i64, event: Event) -> Message {
    Message { header: header(from, create_time), body: Body::Event(event) }
}

async fn read(response: poem::test::TestResponse) -> (StatusCode, String) {
    let status = response.0.status();
    (status, response.0.into_body().into_string().await.unwrap())
}

async fn post_raw(h: &Harness, team: &str, query: &str, body: impl Into<poem::Body>) -> (StatusCode, String) {
    read(h.client.post(format!("/wecom/{team}/callback?{query}")).body(body).send().await).await
}

fn signed_query(h: &Harness, timestamp: i64, nonce: &str, encrypted: &str) -> String {
    let ts = timestamp.to_string();
    let signature = h.crypto.signature(&ts, nonce, encrypted);
    format!("msg_signature={signature}&timestamp={ts}&nonce={}", encode(nonce))
}

/// Posts an encrypted ciphertext exactly as WeCom would, signed with the right token.
async fn post_encrypted(h: &Harness, team: &str, encrypted: &str) -> (StatusCode, String) {
    let body =
        Envelope { to_user_name: Some(CORP.into()), agent_id: Some(AGENT.to_string()), encrypt: encrypted.into() };
    post_raw(h, team, &signed_query(h, h.now, "1372623149", encrypted), body.to_xml()).await
}

async fn deliver(h: &Harness, message: &Message) -> (StatusCode, String) {
    let encrypted = h.crypto.encrypt(&message.to_xml(), [9; 16]).unwrap();
    post_encrypted(h, "ops", &encrypted).await
}

async fn head(h: &Harness) -> u64 {
    h.runtime.log().head().await.unwrap()
}

async fn count(h: &Harness, user: &str, event_type: &str) -> usize {
    let events = h.runtime.conversation_events(&team(), &UserId::new(user).unwrap()).await.unwrap();
    events.iter().filter(|e| e.event_type == event_type).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_verification_answers_the_plain_decrypted_echo() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_at(dir.path(), 1_409_659_589, CallbackOptions::default()).await;
    let echostr = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
    let uri = format!(
        "/wecom/ops/callback?msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780&echostr={}",
        encode(echostr)
    );
    let (status, body) = read(h.client.get(&uri).send().await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "1616140317555161061", "the plain text: no quotes, no newline");

    // An unescaped `+` arrives as a space; it is still understood.
    let raw = uri.replace(&encode(echostr), &echostr.replace('+', "%20"));
    let (status, body) = read(h.client.get(&raw).send().await).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1616140317555161061"));

    let wrong = uri.replace("5c45ff5e", "5c45ff5f");
    assert_eq!(read(h.client.get(&wrong).send().await).await.0, StatusCode::FORBIDDEN);
    let missing = format!("/wecom/ops/callback?timestamp=1409659589&nonce=263014780&echostr={}", encode(echostr));
    assert_eq!(read(h.client.get(&missing).send().await).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(read(h.client.get(uri.replace("/ops/", "/nope/")).send().await).await.0, StatusCode::NOT_FOUND);

    let later = harness_at(dir.path(), 1_409_659_589 + 301, CallbackOptions::default()).await;
    assert_eq!(read(later.client.get(&uri).send().await).await.0, StatusCode::FORBIDDEN, "stale");
    assert_eq!(head(&h).await, head(&later).await, "verification appends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sample_post_is_recorded_before_an_empty_200() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_at(dir.path(), SAMPLE_TIME, CallbackOptions::default()).await;
    let body = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>";
    let query = "msg_signature=477715d11cdb4164915debcba66cb864d751f3e6&timestamp=1409659813&nonce=1372623149";
    let (status, answer) = post_raw(&h, "ops", query, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, "", "an empty body stops WeCom's retries");
    let events = h.runtime.conversation_events(&team(), &UserId::new("mycreate").unwrap()).await.unwrap();
    let received = events.iter().find(|e| e.event_type == "MessageReceived").expect("recorded before answering");
    assert_eq!(received.payload["message_id"], "4561255354251345929");
    assert_eq!(received.payload["text"], "hello");
    assert_eq!(received.payload["channel"], "wecom");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texts_become_received_messages_and_images_attachments_never_matched() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path()).await;
    let (status, body) = deliver(&h, &text("zhangsan", "m-1", "奖品库存不足怎么办？<急>")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    let image = Message {
        header: header("zhangsan", 1_700_000_001),
        body: Body::Media {
            msg_id: "m-2".into(),
            kind: AttachmentKind::Image,
            media_id: "MEDIA9".into(),
            file_name: None,
            recognition: None,
        },
    };
    assert_eq!(deliver(&h, &image).await.0, StatusCode::OK);
    let events = h.runtime.conversation_events(&team(), &UserId::new("zhangsan").unwrap()).await.unwrap();
    let texts: Vec<_> =
        events.iter().filter(|e| e.event_type == "MessageReceived").map(|e| e.payload["text"].clone()).collect();
    assert_eq!(texts, vec![serde_json::json!("奖品库存不足怎么办？<急>")], "the image is no text");
    let attachment = events.iter().find(|e| e.event_type == "AttachmentReceived").expect("the image is recorded");
    assert_eq!(attachment.payload["kind"], "image");
    assert_eq!(attachment.payload["source"], serde_json::json!({"kind": "wecom_media", "media_id": "MEDIA9"}));
    assert_eq!(attachment.payload["message_id"], "m-2");
    // Retries of one delivery share a correlation id derived from the message id.
    let correlation = switchboard_wecom::callback::correlation_id(&team(), "msg:m-1");
    assert!(events.iter().any(|e| e.correlation_id == correlation));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_message_is_recorded_once_also_concurrently_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let h = harness(dir.path()).await;
        let m = text("lisi", "4561255354251345929", "系统报错 500 了");
        for _ in 0..3 {
            assert_eq!(deliver(&h, &m).await, (StatusCode::OK, String::new()));
        }
        let (a, b, c) = tokio::join!(deliver(&h, &m), deliver(&h, &m), deliver(&h, &m));
        assert!([a, b, c].iter().all(|r| r.0 == StatusCode::OK));
        assert_eq!(count(&h, "lisi", "MessageReceived").await, 1);
        // A different message id is a different message, even with the same text.
        assert_eq!(deliver(&h, &text("lisi", "other", "系统报错 500 了")).await.0, StatusCode::OK);
        assert_eq!(count(&h, "lisi", "MessageReceived").await, 2);
    }
    // A new runtime on the same file: what was recorded is remembered.
    let h = harness(dir.path()).await;
    let before = head(&h).await;
    let m = text("lisi", "4561255354251345929", "系统报错 500 了");
    let (a, b, c) = tokio::join!(deliver(&h, &m), deliver(&h, &m), deliver(&h, &m));
    assert!([a, b, c].iter().all(|r| r.0 == StatusCode::OK));
    assert_eq!(count(&h, "lisi", "MessageReceived").await, 2);
    assert_eq!(head(&h).await, before);
}

async fn answer_with_faq(h: &Harness, user: &str) {
    let user = UserId::new(user).unwrap();
    let candidate = MatchCandidate {
        faq_id: FaqId::new("prize-stock").unwrap(),
        question: "奖品库存不足怎么办？".into(),
        answer: "在奖品管理里追加库存即可。".into(),
        category: Some("prizes".into()),
        score: 0.9,
        keyword_score: Some(0.9),
        semantic_score: None,
    };
    let ranking = Ranking { candidates: vec![candidate], confidence: 0.9, engine: "test".into() };
    let state = h.runtime.load_conversation(&team(), &user).await.unwrap();
    let waiting = match state.session.unwrap().phase {
        switchboard_engine::conversation::Phase::Matching { message_id, .. } => message_id,
        other => panic!("expected matching, got {other:?}"),
    };
    let command = Command::ApplyMatch { message_id: waiting, ranking, rephrased: None };
    h.runtime.conversation(&team(), &user, command, Causation::root(Uuid::now_v7())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_buttons_and_menu_clicks_become_commands_and_retries_are_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path()).await;
    deliver(&h, &text("wangwu", "q-1", "奖品库存不足怎么办")).await;
    answer_with_faq(&h, "wangwu").await;

    let card = |time| {
        event(
            "wangwu",
            time,
            Event::TemplateCard {
                key: "not_resolved".into(),
                task_id: Some("task-1".into()),
                card_type: Some("button_interaction".into()),
                response_code: Some("rc".into()),
            },
        )
    };
    let click = card(1_700_000_100);
    let (a, b, c) = tokio::join!(deliver(&h, &click), deliver(&h, &click), deliver(&h, &click));
    assert!([a, b, c].iter().all(|r| *r == (StatusCode::OK, String::new())));
    assert_eq!(deliver(&h, &card(1_700_000_100)).await.0, StatusCode::OK);
    assert_eq!(count(&h, "wangwu", "FeedbackGiven").await, 1);
    assert_eq!(count(&h, "wangwu", "TransferredToHuman").await, 1);

    // The same menu click retried: one transfer at most (already with a person: nothing new).
    let before = head(&h).await;
    let human = event("wangwu", 1_700_000_200, Event::Click { key: "human".into() });
    assert_eq!(deliver(&h, &human).await.0, StatusCode::OK);
    assert_eq!(head(&h).await, before, "already with a person: a harmless repeat");

    // Close from the menu, retried three times, closes once.
    let close = event("wangwu", 1_700_000_300, Event::Click { key: "close".into() });
    for _ in 0..3 {
        assert_eq!(deliver(&h, &close).await.0, StatusCode::OK);
    }
    assert_eq!(count(&h, "wangwu", "SessionClosed").await, 1);

    // A new session: "human" from the menu transfers once, even when retried after a restart.
    deliver(&h, &text("wangwu", "q-2", "还有个问题")).await;
    let human = event("wangwu", 1_700_000_400, Event::Click { key: "human".into() });
    assert_eq!(deliver(&h, &human).await.0, StatusCode::OK);
    assert_eq!(count(&h, "wangwu", "TransferredToHuman").await, 2);
    // Staff move it to "waiting": the engine alone would accept "human" again, so the
    // retry must be recognised by its key.
    let by = StaffId::new("zhao").unwrap();
    let to = switchboard_schemas::event::SessionStatus::Waiting;
    let command = Command::ChangeStatus { by, to };
    let user = UserId::new("wangwu").unwrap();
    h.runtime.conversation(&team(), &user, command, Causation::root(Uuid::now_v7())).await.unwrap();
    drop(h);
    let h = harness(dir.path()).await;
    assert_eq!(deliver(&h, &human).await.0, StatusCode::OK);
    assert_eq!(count(&h, "wangwu", "TransferredToHuman").await, 2, "a retry after a restart is recognised");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acknowledge_button_of_a_hand_over_card_acknowledges_the_operators_session_once() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path()).await;
    deliver(&h, &text("wangwu", "q-1", "人工")).await;
    assert_eq!(count(&h, "wangwu", "TransferredToHuman").await, 1);
    let wangwu = UserId::new("wangwu").unwrap();
    let current = h.runtime.load_conversation(&team(), &wangwu).await.unwrap().session.unwrap();
    let (session, notice) = (current.id, current.handover_notices[0].simple().to_string());
    // A button of another (earlier) session of wangwu changes nothing.
    let before = head(&h).await;
    let stale = format!("ack:wangwu:{}", Uuid::nil().simple());
    let old = event(
        "zhao",
        1_700_000_400,
        Event::TemplateCard { key: stale, task_id: Some(notice.clone()), card_type: None, response_code: None },
    );
    assert_eq!(deliver(&h, &old).await.0, StatusCode::OK);
    assert_eq!(head(&h).await, before);
    // Nor does a card of an earlier hand-over of this session (its task id, the notice's id,
    // is not one of the current hand-over's).
    let earlier = event(
        "zhao",
        1_700_000_450,
        Event::TemplateCard {
            key: format!("ack:wangwu:{}", session.simple()),
            task_id: Some(Uuid::from_u128(7).simple().to_string()),
            card_type: Some("button_interaction".into()),
            response_code: Some("rc".into()),
        },
    );
    assert_eq!(deliver(&h, &earlier).await.0, StatusCode::OK);
    assert_eq!(head(&h).await, before);
    // A card event without a TaskId cannot be told apart, so it acknowledges nothing either.
    let unnamed = event(
        "zhao",
        1_700_000_460,
        Event::TemplateCard {
            key: format!("ack:wangwu:{}", session.simple()),
            task_id: None,
            card_type: Some("button_interaction".into()),
            response_code: Some("rc".into()),
        },
    );
    assert_eq!(deliver(&h, &unnamed).await.0, StatusCode::OK);
    assert_eq!(head(&h).await, before);
    // zhao (on the roster) presses Acknowledge on the card about wangwu's session, and
    // WeCom retries the event: one acknowledgment, by zhao, in wangwu's stream.
    let key = format!("ack:wangwu:{}", session.simple());
    let press = |time| {
        event(
            "zhao",
            time,
            Event::TemplateCard {
                key: key.clone(),
                task_id: Some(notice.clone()),
                card_type: Some("button_interaction".into()),
                response_code: Some("rc".into()),
            },
        )
    };
    let click = press(1_700_000_500);
    let (a, b) = tokio::join!(deliver(&h, &click), deliver(&h, &click));
    assert!([a, b].iter().all(|r| *r == (StatusCode::OK, String::new())));
    assert_eq!(count(&h, "wangwu", "HandoverAcknowledged").await, 1);
    assert_eq!(count(&h, "zhao", "HandoverAcknowledged").await, 0, "nothing in the engineer's own stream");
    // A later press (a new event) is harmless: already acknowledged.
    let before = head(&h).await;
    assert_eq!(deliver(&h, &press(1_700_000_600)).await.0, StatusCode::OK);
    assert_eq!(head(&h).await, before);
    // A card naming no valid operator is refused as such and appends nothing.
    let bad = event(
        "zhao",
        1_700_000_700,
        Event::TemplateCard { key: "ack:@all".into(), task_id: None, card_type: None, response_code: None },
    );
    assert_eq!(deliver(&h, &bad).await.0, StatusCode::OK);
    assert_eq!(head(&h).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_marks_themselves_away_and_back_from_the_menu() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path()).await;
    let away = event("zhao", 1_700_000_800, Event::Click { key: "away".into() });
    let (a, b) = tokio::join!(deliver(&h, &away), deliver(&h, &away));
    assert!([a, b].iter().all(|r| *r == (StatusCode::OK, String::new())));
    let team_state = h.runtime.load_team(&team()).await.unwrap();
    assert!(team_state.staffing.away.contains(&StaffId::new("zhao").unwrap()));
    // Routing now passes zhao over: nobody else is on call, so nobody is assigned.
    deliver(&h, &text("wangwu", "q-away", "人工")).await;
    let state = h.runtime.load_conversation(&team(), &UserId::new("wangwu").unwrap()).await.unwrap();
    assert_eq!(state.session.unwrap().assignee, None);
    // A second "away" while away changes nothing but is recorded with its time (so an older
    // click still on its way cannot undo it); delivered again, it adds nothing.
    let again = event("zhao", 1_700_000_850, Event::Click { key: "away".into() });
    let before = head(&h).await;
    assert_eq!(deliver(&h, &again).await.0, StatusCode::OK);
    assert!(h.runtime.load_team(&team()).await.unwrap().staffing.away.contains(&StaffId::new("zhao").unwrap()));
    let recorded = head(&h).await;
    assert_ne!(recorded, before, "the repeated say-so is recorded");
    assert_eq!(deliver(&h, &again).await.0, StatusCode::OK);
    assert_eq!(head(&h).await, recorded, "delivered again: nothing written");
    let back = event("zhao", 1_700_000_900, Event::Click { key: "back".into() });
    assert_eq!(deliver(&h, &back).await.0, StatusCode::OK);
    assert!(h.runtime.load_team(&team()).await.unwrap().staffing.away.is_empty());
    // WeCom retries both earlier "away" clicks after the "back" (the one that changed
    // something and the one that did not): the later "back" stands.
    let before = head(&h).await;
    for retried in [&away, &again] {
        assert_eq!(deliver(&h, retried).await.0, StatusCode::OK);
    }
    assert!(h.runtime.load_team(&team()).await.unwrap().staffing.away.is_empty(), "a late retry does not undo");
    assert_eq!(head(&h).await, before, "late retries write nothing");
    // Someone who is not the team's is refused (200, logged), and nothing is written.
    let before = head(&h).await;
    let stranger = event("stranger", 1_700_001_000, Event::Click { key: "away".into() });
    assert_eq!(deliver(&h, &stranger).await.0, StatusCode::OK);
    assert_eq!(head(&h).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_map_to_nothing_append_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path()).await;
    let before = head(&h).await;
    for message in [
        event("zhaoliu", 1, Event::EnterAgent),
        event("zhaoliu", 2, Event::Click { key: "unknown-key".into() }),
        event("zhaoliu", 3, Event::View { url: "https://example.com".into() }),
        event("zhaoliu", 4, Event::Other { name: "subscribe".into() }),
        Message {
            header: header("zhaoliu", 5),
            body: Body::Other { msg_type: "location".into(), msg_id: Some("v1".into()) },
        },
        // Authentic but refused by the engine: answered 200 (a retry cannot help), logged.
        text("zhaoliu", "empty", "   "),
        text("zhaoliu", "long", &"长".repeat(201)),
        // A feedback click with no session at all.
        event(
            "zhaoliu",
            6,
            Event::TemplateCard { key: "resolved".into(), task_id: None, card_type: None, response_code: None },
        ),
        // A sender the engine cannot take as a user id.
        text("zhao liu", "m", "hi"),
    ] {
        assert_eq!(deliver(&h, &message).await, (StatusCode::OK, String::new()), "{message:?}");
    }
    assert_eq!(head(&h).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_the_right_status_and_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_at(
        dir.path(),
        Utc::now().timestamp(),
        CallbackOptions { max_body_bytes: 4096, ..CallbackOptions::default() },
    )
    .await;
    let good = h.crypto.encrypt(&text("sunqi", "m1", "hello").to_xml(), [1; 16]).unwrap();
    let envelope =
        |encrypt: &str| Envelope { to_user_name: Some(CORP.into()), agent_id: None, encrypt: encrypt.into() }.to_xml();
    let before = head(&h).await;

    // Wrong signature.
    let query = signed_query(&h, h.now, "n", &good).replace("msg_signature=", "msg_signature=0");
    assert_eq!(post_raw(&h, "ops", &query, envelope(&good)).await.0, StatusCode::FORBIDDEN);
    let other = WecomCrypto::new("wrongtoken", KEY, CORP).unwrap();
    let query =
        format!("msg_signature={}&timestamp={}&nonce=n", other.signature(&h.now.to_string(), "n", &good), h.now);
    assert_eq!(post_raw(&h, "ops", &query, envelope(&good)).await.0, StatusCode::FORBIDDEN);

    // Wrong receive id.
    let foreign = h.crypto.encrypt_with_receive_id(&text("sunqi", "m1", "hello").to_xml(), "wwother", [1; 16]).unwrap();
    assert_eq!(post_encrypted(&h, "ops", &foreign).await, (StatusCode::FORBIDDEN, "wrong_receive_id".into()));

    // Another application's AgentID.
    let mut elsewhere = text("sunqi", "m1", "hello");
    elsewhere.header.agent_id = Some("1000099".into());
    let encrypted = h.crypto.encrypt(&elsewhere.to_xml(), [1; 16]).unwrap();
    assert_eq!(post_encrypted(&h, "ops", &encrypted).await.0, StatusCode::FORBIDDEN);

    // Timestamps outside the window, both ways; a timestamp that is not a number.
    for ts in [h.now - 301, h.now + 301] {
        let query = signed_query(&h, ts, "n", &good);
        assert_eq!(
            post_raw(&h, "ops", &query, envelope(&good)).await,
            (StatusCode::FORBIDDEN, "stale_timestamp".into())
        );
    }
    let query = signed_query(&h, h.now - 299, "n", &good);
    let sig = h.crypto.signature("soon", "n", &good);
    assert_eq!(
        post_raw(&h, "ops", &format!("msg_signature={sig}&timestamp=soon&nonce=n"), envelope(&good)).await.0,
        StatusCode::BAD_REQUEST
    );

    // Malformed base64, bad padding, ciphertext of the wrong length, bad XML inside and out.
    for (encrypted, code) in [
        ("@@not base64@@".to_owned(), "bad_base64"),
        (STANDARD.encode([0x5a_u8; 64]), "bad_padding"),
        (STANDARD.encode([0x5a_u8; 48]), "bad_ciphertext_length"),
        (h.crypto.encrypt("<xml><MsgType>text", [1; 16]).unwrap(), "bad_message_xml"),
        (h.crypto.encrypt("<xml><MsgType>text</MsgType></xml>", [1; 16]).unwrap(), "bad_message_xml"),
    ] {
        assert_eq!(post_encrypted(&h, "ops", &encrypted).await, (StatusCode::BAD_REQUEST, code.into()), "{code}");
    }
    for body in ["", "<xml><Encrypt>", "<xml></xml>", "{\"json\": true}"] {
        assert_eq!(
            post_raw(&h, "ops", &query, body).await,
            (StatusCode::BAD_REQUEST, "bad_envelope_xml".into()),
            "{body:?}"
        );
    }
    assert_eq!(post_raw(&h, "ops", &query, vec![0xff_u8, 0xfe, 0x00]).await.0, StatusCode::BAD_REQUEST);

    // Oversized bodies: declared, and streamed without a length.
    let big = format!("<xml><Encrypt>{}</Encrypt></xml>", "A".repeat(5000));
    let declared = h
        .client
        .post(format!("/wecom/ops/callback?{query}"))
        .header("content-length", big.len().to_string())
        .body(big.clone())
        .send()
        .await;
    assert_eq!(read(declared).await, (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large".into()));
    let streamed = poem::Body::from_async_read(std::io::Cursor::new(big.into_bytes()));
    assert_eq!(post_raw(&h, "ops", &query, streamed).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    // Missing parameters; unknown teams (not configured, not a team id, not onboarded).
    assert_eq!(post_raw(&h, "ops", "timestamp=1&nonce=n", envelope(&good)).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(post_raw(&h, "ops", "", envelope(&good)).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(post_encrypted(&h, "nope", &good).await.0, StatusCode::NOT_FOUND);
    assert_eq!(post_encrypted(&h, "no%20pe", &good).await.0, StatusCode::NOT_FOUND);
    assert_eq!(post_encrypted(&h, "ghost", &good).await, (StatusCode::NOT_FOUND, "unknown_team".into()));

    assert_eq!(head(&h).await, before, "nothing was appended");
    // The good delivery still works afterwards.
    assert_eq!(post_encrypted(&h, "ops", &good).await, (StatusCode::OK, String::new()));
    assert_eq!(count(&h, "sunqi", "MessageReceived").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_bodies_and_queries_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path()).await;
    let before = head(&h).await;
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..200 {
        let len = (next() % 400) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let encrypted = STANDARD.encode(&bytes[..len.min(96) / 16 * 16]);
        let status = match round % 3 {
            0 => post_raw(&h, "ops", &signed_query(&h, h.now, "n", "x"), bytes).await.0,
            1 => post_encrypted(&h, "ops", &encrypted).await.0,
            _ => {
                let xml = String::from_utf8_lossy(&bytes).into_owned();
                post_encrypted(&h, "ops", &h.crypto.encrypt(&xml, [2; 16]).unwrap()).await.0
            }
        };
        assert!(status.is_client_error(), "round {round}: {status}");
    }
    assert_eq!(head(&h).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routes_mount_beside_another_application() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path()).await;
    let apps =
        WecomApps::new([(team(), WecomApp::new(CORP, AGENT, Secret::new(TOKEN), Secret::new(KEY), "S"))]).unwrap();
    let other = poem::endpoint::make_sync(|_| "other app");
    let app = Route::new()
        .nest(DEFAULT_MOUNT_PATH, routes(h.runtime.clone(), Arc::new(apps), CallbackOptions::default()))
        .nest("/", other);
    let client = TestClient::new(app);
    let (status, body) = read(client.get("/healthz").send().await).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "other app"));
    let (status, _) = read(client.get("/wecom/ops/callback").send().await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the callback answers, asking for its parameters");
}
