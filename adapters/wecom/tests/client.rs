#![allow(clippy::unwrap_used)]
//! The API client against the simulator: tokens, refresh, retries, formats, limits, group
//! chats.

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_engine::ports::{DeliveryError, GroupChatOrder, GroupChats, Notifier, Outbound};
use switchboard_outbound::OutboundPolicy;
use switchboard_schemas::event::{Channel, OutboundPurpose, Recipient};
use switchboard_schemas::{FaqId, StaffId, TeamId, UserId};
use switchboard_secret::Secret;
use switchboard_wecom::client::{code, ClientError};
use switchboard_wecom::simulator::{SimulatorConfig, WecomSimulator};
use switchboard_wecom::{RetryPolicy, WecomApp, WecomClient};
use uuid::Uuid;

const CORP: &str = "wwcorp0001";
const SECRET: &str = "app-secret";

fn team() -> TeamId {
    TeamId::new("ops").unwrap()
}

/// The team's application, calling the WeCom API at `api_base`.
fn app(api_base: String) -> WecomApp {
    let mut app = WecomApp::new(
        CORP,
        1000002,
        Secret::new("QDG6eK"),
        Secret::new("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
        "OPS_WECOM_SECRET",
    );
    app.api_base = api_base;
    app
}

async fn setup(secret: &str) -> (WecomSimulator, WecomClient) {
    let sim = WecomSimulator::new(SimulatorConfig::new(CORP, SECRET, 1000002));
    let addr = sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let mut app = app(format!("http://{addr}/cgi-bin"));
    app.console_url = Some("https://console.example.com/".into());
    let retry = RetryPolicy { attempts: 3, backoff: Duration::from_millis(10), timeout: Duration::from_secs(5) };
    // The simulator runs on loopback, which only the instance's operator can allow.
    let loopback = OutboundPolicy::allow(["127.0.0.0/8".parse().unwrap()]);
    let client = WecomClient::new([(team(), app, Secret::new(secret))], retry, loopback).unwrap();
    (sim, client)
}

fn outbound(purpose: OutboundPurpose, text: &str) -> Outbound {
    Outbound {
        team: team(),
        user: UserId::new("zhangsan").unwrap(),
        session_id: Uuid::now_v7(),
        outbound_id: Uuid::now_v7(),
        to: Recipient::Operator(UserId::new("zhangsan").unwrap()),
        purpose,
        text: text.to_owned(),
        channel: Channel::Wecom,
    }
}

#[tokio::test]
async fn a_token_is_cached_and_renewed_when_expired_or_refused() {
    let (sim, client) = setup(SECRET).await;
    client.send_text(&team(), &["zhangsan"], "one").await.unwrap();
    client.send_text(&team(), &["zhangsan"], "two").await.unwrap();
    assert_eq!(sim.tokens_issued(), 1, "one token for both");
    sim.expire_tokens();
    client.send_text(&team(), &["zhangsan"], "three").await.unwrap();
    assert_eq!(sim.tokens_issued(), 2, "42001 fetched a new token and the send went through");
    sim.fail_next(&[code::INVALID_TOKEN]);
    client.send_text(&team(), &["zhangsan"], "four").await.unwrap();
    assert_eq!(sim.tokens_issued(), 3, "40014 fetched a new token");
    assert_eq!(sim.delivered().len(), 4);
}

#[tokio::test]
async fn busy_and_rate_limit_answers_are_retried_with_backoff() {
    let (sim, client) = setup(SECRET).await;
    client.send_text(&team(), &["zhangsan"], "warm up").await.unwrap();
    sim.fail_next(&[code::BUSY, code::FREQUENCY_LIMIT]);
    client.send_text(&team(), &["zhangsan"], "after two retries").await.unwrap();
    assert_eq!(sim.delivered().last().unwrap().text(), "after two retries");
    sim.fail_next(&[code::TOO_MANY_CONCURRENT, code::BUSY, code::BUSY]);
    let error = client.deliver(&outbound(OutboundPurpose::HumanReply, "gives up")).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Retryable(_)), "still retryable for the core: {error}");
}

#[tokio::test]
async fn a_wrong_secret_is_a_permanent_failure_with_wecoms_code() {
    let (_sim, client) = setup("wrong").await;
    let error = client.send_text(&team(), &["zhangsan"], "x").await.unwrap_err();
    assert!(matches!(error, ClientError::Wecom { code: code::BAD_SECRET, .. }), "{error}");
    let error = client.deliver(&outbound(OutboundPurpose::HumanReply, "x")).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Permanent(_)), "{error}");
    let other = TeamId::new("nobody").unwrap();
    assert!(matches!(client.send_text(&other, &["a"], "x").await, Err(ClientError::NoApplication(_))));
}

#[tokio::test]
async fn answers_are_cards_with_feedback_buttons_and_long_texts_are_split() {
    let (sim, client) = setup(SECRET).await;
    let answer = outbound(
        OutboundPurpose::Answer { faq_id: FaqId::new("prize-stock").unwrap() },
        "追加库存\n在奖品管理里追加。",
    );
    client.deliver(&answer).await.unwrap();
    let card = sim.delivered().pop().unwrap();
    assert_eq!(card.msgtype, "template_card");
    assert_eq!(card.to, vec!["zhangsan"]);
    let body = &card.body["template_card"];
    assert_eq!(body["task_id"], answer.outbound_id.simple().to_string());
    let keys: Vec<&str> = body["button_list"].as_array().unwrap().iter().map(|b| b["key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec!["resolved", "not_resolved"]);
    assert_eq!(card.text(), "追加库存\n在奖品管理里追加。");

    let long = "很长的回复。".repeat(200);
    client.deliver(&outbound(OutboundPurpose::HumanReply, &long)).await.unwrap();
    let texts: Vec<String> = sim.delivered().iter().skip(1).map(|m| m.text()).collect();
    assert!(texts.len() > 1 && texts.iter().all(|t| t.len() <= 2048), "split within the limit");
    assert_eq!(texts.concat(), long, "nothing lost");
}

#[tokio::test]
async fn a_resent_message_is_dropped_by_the_duplicate_check_and_limits_are_wecoms() {
    let (sim, client) = setup(SECRET).await;
    let reply = outbound(OutboundPurpose::HumanReply, "同一条消息");
    client.deliver(&reply).await.unwrap();
    client.deliver(&reply).await.unwrap();
    assert_eq!(sim.delivered().len(), 1, "redelivery after a crash reaches the member once");
    assert_eq!(sim.dropped().len(), 1);
    for n in 0..40 {
        client.send_text(&team(), &["lisi"], &format!("message {n}")).await.unwrap();
    }
    let to_lisi = sim.delivered().iter().filter(|m| m.to == ["lisi"]).count();
    assert_eq!(to_lisi, 30, "WeCom delivers 30 a minute to one member and drops the rest silently");
}

#[tokio::test]
async fn a_group_chat_is_created_once_with_a_summary_and_a_console_link() {
    let (sim, client) = setup(SECRET).await;
    let session_id = Uuid::now_v7();
    let order = GroupChatOrder {
        team: team(),
        session_id,
        chat_id: session_id.simple().to_string(),
        name: "ops · zhangsan".into(),
        operator: UserId::new("zhangsan").unwrap(),
        staff: vec![StaffId::new("zhao").unwrap(), StaffId::new("qian").unwrap()],
        summary: "operator: 页面白屏\nreply: 已转人工".into(),
    };
    let chat_id = client.create(&order).await.unwrap();
    assert_eq!(chat_id, order.chat_id);
    let again = client.create(&order).await.unwrap();
    assert_eq!(again, chat_id, "a retry finds the same chat");
    let chats = sim.chats();
    assert_eq!(chats.len(), 1, "never two chats for one session");
    assert_eq!(chats[0].owner, "zhao");
    assert_eq!(chats[0].members, vec!["zhangsan", "zhao", "qian"]);
    assert!(chats[0].messages[0].starts_with("operator: 页面白屏\nreply: 已转人工"));
    assert!(chats[0].messages[0].ends_with("https://console.example.com/console/#/teams/ops/conversations/zhangsan"));
    let error = client.send_chat_text(&team(), "nochat", "x").await.unwrap_err();
    assert!(matches!(error, ClientError::Wecom { code: code::CHAT_NOT_FOUND, .. }), "{error}");
    let lonely = GroupChatOrder { staff: vec![], ..order };
    let error = client.create(&GroupChatOrder { chat_id: "other1".into(), ..lonely }).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Permanent(_)), "one member is not a group: {error}");
}

#[tokio::test]
async fn an_api_base_on_a_refused_address_is_never_called() {
    let sim = WecomSimulator::new(SimulatorConfig::new(CORP, SECRET, 1000002));
    let addr = sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    for api_base in [format!("http://{addr}/cgi-bin"), format!("http://localhost:{}/cgi-bin", addr.port())] {
        let app = app(api_base.clone());
        let client = WecomClient::new(
            [(team(), app, Secret::new(SECRET))],
            RetryPolicy::default(),
            OutboundPolicy::public_only(),
        )
        .unwrap();
        let sent = client.send_text(&team(), &["wang"], "hello").await;
        assert!(matches!(&sent, Err(ClientError::Refused(_))), "{api_base}: {sent:?}");
    }
    assert_eq!(sim.calls(), 0, "nothing reached the simulator");
}
