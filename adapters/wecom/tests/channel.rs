//! The whole WeCom channel against the simulator and a real event log: encrypted callbacks
//! in, the engine and core deciding, the API client sending cards, notices, greetings and
//! group chats out, feedback clicks coming back, and operators' attachments fetched with
//! `media/get` into the blob store.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use poem::test::TestClient;
use poem::{EndpointExt, Route};
use switchboard_embedded::{FileBlobStore, SqliteEventLog, SqliteOptions};
use switchboard_engine::blobs::BlobStore;
use switchboard_engine::catalog::{CatalogCommand, FaqEntry};
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::SystemClock;
use switchboard_engine::runtime::Runtime;
use switchboard_engine::services::{Core, CoreConfig, CoreHandle};
use switchboard_engine::team::TeamCommand;
use switchboard_outbound::OutboundPolicy;
use switchboard_schemas::attachment::{AttachmentKind, ContentHash};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Roster, TeamSettings};
use switchboard_schemas::{FaqId, StaffId, TeamId, UserId};
use switchboard_search::KeywordMatcher;
use switchboard_secret::Secret;
use switchboard_wecom::simulator::{CallbackSender, SimulatorConfig, WecomSimulator};
use switchboard_wecom::xml::{Body, Event, Header, Message};
use switchboard_wecom::{routes, CallbackOptions, RetryPolicy, WecomApp, WecomApps, WecomClient, DEFAULT_MOUNT_PATH};
use uuid::Uuid;

const TOKEN: &str = "QDG6eK";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const CORP: &str = "wwcorp0001";
const AGENT: u64 = 1_000_002;
const SECRET: &str = "app-secret";

struct Channel {
    client: TestClient<poem::endpoint::BoxEndpoint<'static>>,
    runtime: Arc<Runtime>,
    simulator: WecomSimulator,
    sender: CallbackSender,
    blobs: Arc<FileBlobStore>,
    wecom: Arc<WecomClient>,
    core: Option<CoreHandle>,
    _dir: tempfile::TempDir,
}

fn ops() -> TeamId {
    TeamId::new("ops").unwrap()
}

async fn channel() -> Channel {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> =
        Arc::new(SqliteEventLog::open(&dir.path().join("events.sqlite"), SqliteOptions::default()).unwrap());
    let runtime = Arc::new(Runtime::new(log, Arc::new(SystemClock)));
    let cause = Causation::root(Uuid::now_v7());
    let mut roster = Roster { default: vec![StaffId::new("zhao").unwrap()], ..Roster::default() };
    roster.categories.insert("prizes".into(), vec![StaffId::new("qian").unwrap()]);
    for team in [ops(), TeamId::new("ops-test").unwrap()] {
        runtime.team(&team, TeamCommand::Create { name: team.to_string(), cloned_from: None }, cause).await.unwrap();
        runtime
            .team(&team, TeamCommand::Configure { settings: Box::new(TeamSettings::default()) }, cause)
            .await
            .unwrap();
        runtime.team(&team, TeamCommand::UpdateRoster { roster: roster.clone() }, cause).await.unwrap();
        let entry = FaqEntry {
            question: "奖品库存不足怎么办？".into(),
            answer: "在奖品管理里追加库存即可。".into(),
            category: Some("prizes".into()),
            paraphrases: vec![],
        };
        let faq_id = FaqId::new("prize-stock").unwrap();
        runtime.catalog(&team, CatalogCommand::Upsert { faq_id, entry }, cause).await.unwrap();
    }

    let simulator = WecomSimulator::new(SimulatorConfig::new(CORP, SECRET, AGENT));
    let api = simulator.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let mut app = WecomApp::new(CORP, AGENT, Secret::new(TOKEN), Secret::new(KEY), "OPS_SECRET");
    app.api_base = format!("http://{api}/cgi-bin");
    app.greeting = Some("你好，我是值班助手。".into());
    app.console_url = Some("https://console.example.com".into());
    app.departments = vec!["test".into()];
    let retry = RetryPolicy { attempts: 3, backoff: Duration::from_millis(10), timeout: Duration::from_secs(5) };
    let wecom = Arc::new(
        WecomClient::new(
            [
                (ops(), app.clone(), Secret::new(SECRET)),
                (TeamId::new("ops-test").unwrap(), app.clone(), Secret::new(SECRET)),
            ],
            retry,
            // The simulator runs on loopback, which only the instance's operator can allow.
            OutboundPolicy::allow(["127.0.0.0/8".parse().unwrap()]),
        )
        .unwrap(),
    );
    let blobs = Arc::new(FileBlobStore::open(dir.path().join("blobs")).unwrap());
    let core = spawn_core(&runtime, &wecom, &blobs).await;
    let apps = WecomApps::new([(ops(), app.clone())]).unwrap();
    let options = CallbackOptions { greeter: Some(wecom.clone()), ..CallbackOptions::default() };
    let endpoint = Route::new().nest(DEFAULT_MOUNT_PATH, routes(runtime.clone(), Arc::new(apps), options));
    let crypto = app.crypto(&ops()).unwrap();
    let sender = CallbackSender::new("unused", crypto, CORP, AGENT);
    let client = TestClient::new(endpoint.boxed());
    Channel { client, runtime, simulator, sender, blobs, wecom, core: Some(core), _dir: dir }
}

/// The asynchronous core over the channel, once it has caught up with the log.
async fn spawn_core(runtime: &Arc<Runtime>, wecom: &Arc<WecomClient>, blobs: &Arc<FileBlobStore>) -> CoreHandle {
    let config = CoreConfig { retry_base: Duration::from_millis(20), max_fetch_attempts: 4, ..CoreConfig::default() };
    let core = Core::new(runtime.clone(), Arc::new(KeywordMatcher::new()), wecom.clone(), config)
        .with_group_chats(wecom.clone())
        .with_attachments(wecom.clone(), blobs.clone())
        .spawn();
    for _ in 0..100 {
        if core.health().caught_up() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    core
}

fn message(user: &str, create_time: i64, body: Body) -> Message {
    let header = Header {
        to_user_name: CORP.into(),
        from_user_name: user.into(),
        create_time,
        agent_id: Some(AGENT.to_string()),
    };
    Message { header, body }
}

fn text(user: &str, msg_id: &str, content: &str) -> Message {
    message(user, 1_700_000_000, Body::Text { msg_id: msg_id.into(), content: content.into() })
}

impl Channel {
    async fn callback(&self, message: &Message, department: Option<&str>) -> StatusCode {
        let (query, body) = self.sender.encrypt(message, chrono::Utc::now().timestamp()).unwrap();
        let query = match department {
            Some(d) => format!("{query}&department={d}"),
            None => query,
        };
        self.client.post(format!("/wecom/ops/callback?{query}")).body(body).send().await.0.status()
    }

    /// Waits until the simulator holds what `done` looks for.
    async fn until(&self, what: &str, done: impl Fn(&WecomSimulator) -> bool) {
        for _ in 0..250 {
            if done(&self.simulator) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}; delivered: {:?}", self.simulator.delivered());
    }

    /// Waits until the operator's conversation has an event of type `kind`; returns its
    /// payload.
    async fn until_event(&self, user: &str, kind: &str) -> serde_json::Value {
        for _ in 0..250 {
            let events = self.runtime.conversation_events(&ops(), &UserId::new(user).unwrap()).await.unwrap();
            if let Some(event) = events.into_iter().find(|e| e.event_type == kind) {
                return event.payload;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {kind}; events: {:?}", self.events(&ops(), user).await);
    }

    async fn events(&self, team: &TeamId, user: &str) -> Vec<String> {
        let events = self.runtime.conversation_events(team, &UserId::new(user).unwrap()).await.unwrap();
        events.into_iter().map(|e| e.event_type).collect()
    }
}

fn count(events: &[String], kind: &str) -> usize {
    events.iter().filter(|e| *e == kind).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_card_is_clicked_resolved_and_every_delivery_is_recorded() {
    let c = channel().await;
    // Opening the application outside a session: a greeting, once even when WeCom retries.
    let enter = message("zhangsan", 1_700_000_001, Body::Event(Event::EnterAgent));
    assert_eq!(c.callback(&enter, None).await, StatusCode::OK);
    assert_eq!(c.callback(&enter, None).await, StatusCode::OK);
    c.until("the greeting", |s| s.delivered().iter().any(|m| m.text() == "你好，我是值班助手。")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(c.simulator.delivered().len(), 1, "greeted once");

    let question = text("zhangsan", "10001", "奖品库存不足了怎么办");
    assert_eq!(c.callback(&question, None).await, StatusCode::OK);
    assert_eq!(c.callback(&question, None).await, StatusCode::OK, "a retry is accepted and recorded once");
    c.until("the answer card", |s| s.delivered().iter().any(|m| m.msgtype == "template_card")).await;
    let card = c.simulator.delivered().into_iter().find(|m| m.msgtype == "template_card").unwrap();
    assert_eq!(card.to, vec!["zhangsan"]);
    assert!(card.text().contains("追加库存"), "{}", card.text());
    let task_id = card.body["template_card"]["task_id"].as_str().unwrap().to_owned();

    // Opening the application during the session greets nobody.
    let enter = message("zhangsan", 1_700_000_050, Body::Event(Event::EnterAgent));
    assert_eq!(c.callback(&enter, None).await, StatusCode::OK);

    let click = message(
        "zhangsan",
        1_700_000_100,
        Body::Event(Event::TemplateCard {
            key: "resolved".into(),
            task_id: Some(task_id),
            card_type: Some("button_interaction".into()),
            response_code: None,
        }),
    );
    assert_eq!(c.callback(&click, None).await, StatusCode::OK);
    assert_eq!(c.callback(&click, None).await, StatusCode::OK, "a retried click is harmless");
    let events = c.events(&ops(), "zhangsan").await;
    assert_eq!(count(&events, "MessageReceived"), 1);
    assert_eq!(count(&events, "FeedbackGiven"), 1);
    // Every queued message got its outcome recorded.
    for _ in 0..100 {
        let events = c.events(&ops(), "zhangsan").await;
        if count(&events, "AnswerDelivered") == count(&events, "AnswerQueued") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = c.events(&ops(), "zhangsan").await;
    assert!(count(&events, "AnswerQueued") >= 2, "answer and closing notice: {events:?}");
    assert_eq!(count(&events, "AnswerDelivered"), count(&events, "AnswerQueued"), "{events:?}");
    let greetings = c.simulator.delivered().iter().filter(|m| m.text().starts_with("你好")).count();
    assert_eq!(greetings, 1, "no greeting during the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_notifies_the_engineer_and_one_click_makes_one_group_chat() {
    let c = channel().await;
    assert_eq!(c.callback(&text("lisi", "20001", "系统报错 500 了，页面打不开"), None).await, StatusCode::OK);
    c.until("the transfer notice to zhao", |s| s.delivered().iter().any(|m| m.to == ["zhao"])).await;
    let click = message("lisi", 1_700_000_200, Body::Event(Event::Click { key: "group_chat".into() }));
    assert_eq!(c.callback(&click, None).await, StatusCode::OK);
    assert_eq!(c.callback(&click, None).await, StatusCode::OK, "WeCom's retry");
    let again = message("lisi", 1_700_000_300, Body::Event(Event::Click { key: "group_chat".into() }));
    assert_eq!(c.callback(&again, None).await, StatusCode::OK, "a second click");
    c.until("the group chat", |s| !s.chats().is_empty() && !s.chats()[0].messages.is_empty()).await;
    for _ in 0..100 {
        if count(&c.events(&ops(), "lisi").await, "GroupChatCreated") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let chats = c.simulator.chats();
    assert_eq!(chats.len(), 1, "one chat for the session");
    assert_eq!(chats[0].members, vec!["lisi", "zhao"]);
    assert_eq!(chats[0].owner, "zhao");
    let summary = &chats[0].messages[0];
    assert!(summary.contains("operator: 系统报错 500 了，页面打不开"), "{summary}");
    assert!(summary.ends_with("https://console.example.com/console/#/teams/ops/conversations/lisi"), "{summary}");
    let events = c.events(&ops(), "lisi").await;
    assert_eq!((count(&events, "GroupChatRequested"), count(&events, "GroupChatCreated")), (1, 1), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_environment_keeps_its_data_in_its_own_team() {
    let c = channel().await;
    let question = text("wangwu", "30001", "奖品库存不足了怎么办");
    assert_eq!(c.callback(&question, Some("test")).await, StatusCode::OK);
    assert_eq!(count(&c.events(&TeamId::new("ops-test").unwrap(), "wangwu").await, "MessageReceived"), 1);
    assert!(c.events(&ops(), "wangwu").await.is_empty(), "nothing in the production team");
    c.until("the answer from the test environment", |s| s.delivered().iter().any(|m| m.to == ["wangwu"])).await;
    let other = text("wangwu", "30002", "again");
    assert_eq!(c.callback(&other, Some("prod")).await, StatusCode::FORBIDDEN, "only configured departments");
    assert!(c.events(&ops(), "wangwu").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wecom_user_ids_with_dots_and_at_signs_are_served() {
    let c = channel().await;
    let question = text("zhao.liu@corp", "40001", "奖品库存不足了怎么办");
    assert_eq!(c.callback(&question, None).await, StatusCode::OK);
    assert_eq!(count(&c.events(&ops(), "zhao.liu@corp").await, "MessageReceived"), 1);
    c.until("the answer to zhao.liu@corp", |s| s.delivered().iter().any(|m| m.to == ["zhao.liu@corp"])).await;
}

fn media(user: &str, msg_id: &str, kind: AttachmentKind, media_id: &str, file_name: Option<&str>) -> Message {
    let body = Body::Media {
        msg_id: msg_id.into(),
        kind,
        media_id: media_id.into(),
        file_name: file_name.map(String::from),
        recognition: None,
    };
    message(user, 1_700_000_000, body)
}

/// A PNG's first bytes and some more: what a screenshot looks like to the sniffer.
fn screenshot_bytes() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x02\x80\0\0\x01\xe0\x08\x06\0\0\0".to_vec();
    png.extend((0..200_000u32).map(|i| (i % 251) as u8));
    png
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screenshot_is_fetched_from_wecom_stored_by_its_hash_and_never_matched() {
    let c = channel().await;
    let bytes = screenshot_bytes();
    let media_id = c.simulator.add_media(bytes.clone(), "image/png", "screenshot.png");
    let screenshot = media("zhangsan", "50001", AttachmentKind::Image, &media_id, None);
    assert_eq!(c.callback(&screenshot, None).await, StatusCode::OK);
    assert_eq!(c.callback(&screenshot, None).await, StatusCode::OK, "WeCom's retry");
    let stored = c.until_event("zhangsan", "AttachmentStored").await;
    let hash = ContentHash::of(&bytes);
    assert_eq!(stored["hash"], hash.as_str());
    assert_eq!((stored["size"].as_u64(), stored["media_type"].as_str()), (Some(bytes.len() as u64), Some("png")));
    assert_eq!(c.blobs.get(&ops(), &hash).await.unwrap(), Some(bytes), "the bytes are in the blob store");
    // Asked for words, matched nothing.
    c.until("the request for a description", |s| s.delivered().iter().any(|m| m.text().contains("描述"))).await;
    let events = c.events(&ops(), "zhangsan").await;
    assert_eq!(count(&events, "AttachmentReceived"), 1, "recorded once: {events:?}");
    assert_eq!(count(&events, "MatchRequested"), 0, "{events:?}");
    assert_eq!(count(&events, "MessageReceived"), 0, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_wecom_no_longer_keeps_fails_at_once_and_staff_see_why() {
    let c = channel().await;
    let media_id = c.simulator.add_media(b"%PDF-1.7 report".to_vec(), "application/pdf", "report.pdf");
    c.simulator.expire_media();
    let file = media("lisi", "50002", AttachmentKind::File, &media_id, Some("report.pdf"));
    assert_eq!(c.callback(&file, None).await, StatusCode::OK);
    let failed = c.until_event("lisi", "AttachmentFetchFailed").await;
    assert_eq!(failed["attempts"], 1, "40007 is never retried");
    assert!(failed["reason"].as_str().unwrap().contains("40007"), "{failed}");
    assert!(c.blobs.list(&ops()).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_wecom_is_tried_again_and_the_type_comes_from_the_bytes_not_the_name() {
    let c = channel().await;
    // A file named like a picture that is a web page: stored as markup, never as an image.
    let page = b"<html><script>alert(1)</script></html>".to_vec();
    let media_id = c.simulator.add_media(page.clone(), "image/png", "prize.png");
    // Busy for longer than the client's own three attempts: the core tries again later.
    c.simulator.fail_next(&[-1, -1, -1, -1]);
    let file = media("wangwu", "50003", AttachmentKind::File, &media_id, Some("prize.png"));
    assert_eq!(c.callback(&file, None).await, StatusCode::OK);
    let stored = c.until_event("wangwu", "AttachmentStored").await;
    assert_eq!(stored["media_type"], "markup");
    assert_eq!(c.blobs.get(&ops(), &ContentHash::of(&page)).await.unwrap(), Some(page));
    let received = c.until_event("wangwu", "AttachmentReceived").await;
    assert_eq!(received["name"], "prize.png", "the name is kept for staff, never trusted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_over_the_team_limit_is_refused_without_storing_it() {
    let c = channel().await;
    let mut settings = TeamSettings::default();
    settings.attachments.max_bytes = 1024;
    let cause = Causation::root(Uuid::now_v7());
    c.runtime.team(&ops(), TeamCommand::Configure { settings: Box::new(settings) }, cause).await.unwrap();
    let media_id = c.simulator.add_media(screenshot_bytes(), "image/png", "big.png");
    assert_eq!(
        c.callback(&media("zhaoliu", "50004", AttachmentKind::Image, &media_id, None), None).await,
        StatusCode::OK
    );
    let failed = c.until_event("zhaoliu", "AttachmentFetchFailed").await;
    assert_eq!(failed["attempts"], 1);
    assert!(failed["reason"].as_str().unwrap().contains("1024 bytes"), "{failed}");
    assert!(c.blobs.list(&ops()).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_receiving_and_fetching_loses_nothing() {
    let mut c = channel().await;
    c.core.take().unwrap().shutdown().await;
    let bytes = screenshot_bytes();
    let media_id = c.simulator.add_media(bytes.clone(), "image/png", "screenshot.png");
    assert_eq!(
        c.callback(&media("sunqi", "50005", AttachmentKind::Image, &media_id, None), None).await,
        StatusCode::OK
    );
    c.until_event("sunqi", "AttachmentReceived").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count(&c.events(&ops(), "sunqi").await, "AttachmentStored"), 0, "nothing fetches while stopped");
    // The next start finds the attachment pending in the log and fetches it.
    c.core = Some(spawn_core(&c.runtime, &c.wecom, &c.blobs).await);
    let stored = c.until_event("sunqi", "AttachmentStored").await;
    assert_eq!(stored["hash"], ContentHash::of(&bytes).as_str());
    assert_eq!(count(&c.events(&ops(), "sunqi").await, "AttachmentStored"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_file_is_a_file_not_an_error_answer() {
    let c = channel().await;
    let config = br#"{"activity": 10086, "errcode_hint": "none"}"#.to_vec();
    let media_id = c.simulator.add_media(config.clone(), "application/json", "config.json");
    let file = media("qianba", "50006", AttachmentKind::File, &media_id, Some("config.json"));
    assert_eq!(c.callback(&file, None).await, StatusCode::OK);
    let stored = c.until_event("qianba", "AttachmentStored").await;
    assert_eq!(stored["media_type"], "text");
    assert_eq!(c.blobs.get(&ops(), &ContentHash::of(&config)).await.unwrap(), Some(config));
}
