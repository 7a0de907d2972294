//! The runtime and the asynchronous core on a real embedded log: delivery survives a crash
//! without duplicates, concurrent writers are serialised by optimistic concurrency, and the
//! keyword index is a projection that rebuilds from the log.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::catalog::{CatalogCommand, FaqEntry};
use switchboard_engine::conversation::Command;
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::{DeliveryError, Matcher, Notifier, Outbound, SystemClock};
use switchboard_engine::runtime::Runtime;
use switchboard_engine::services::{Core, CoreConfig};
use switchboard_engine::team::TeamCommand;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Channel, Roster, TeamSettings};
use switchboard_schemas::{Event, FaqId, MessageId, StaffId, StreamId, TeamId, UserId};
use switchboard_search::KeywordMatcher;
use uuid::Uuid;

fn cause() -> Causation {
    Causation::root(Uuid::now_v7())
}

async fn setup(dir: &std::path::Path) -> (Arc<dyn EventLog>, Arc<Runtime>, TeamId) {
    let log: Arc<dyn EventLog> =
        Arc::new(SqliteEventLog::open(&dir.join("events.sqlite"), SqliteOptions::default()).unwrap());
    let runtime = Arc::new(Runtime::new(log.clone(), Arc::new(SystemClock)));
    let team = TeamId::new("ops").unwrap();
    runtime.team(&team, TeamCommand::Create { name: "Ops".into(), cloned_from: None }, cause()).await.unwrap();
    runtime.team(&team, TeamCommand::Configure { settings: Box::new(TeamSettings::default()) }, cause()).await.unwrap();
    let roster = Roster { default: vec![StaffId::new("zhao").unwrap()], ..Roster::default() };
    runtime.team(&team, TeamCommand::UpdateRoster { roster }, cause()).await.unwrap();
    for (id, question, answer) in [
        ("prize-stock", "奖品库存不足怎么办？", "在奖品管理里追加库存。"),
        ("participant-export", "如何导出活动参与名单？", "在数据页点击导出。"),
        ("review", "活动审核要多久？", "两个工作小时内。"),
    ] {
        let entry = FaqEntry { question: question.into(), answer: answer.into(), category: None, paraphrases: vec![] };
        runtime
            .catalog(&team, CatalogCommand::Upsert { faq_id: FaqId::new(id).unwrap(), entry }, cause())
            .await
            .unwrap();
    }
    (log, runtime, team)
}

/// Records every delivery attempt; optionally never returns, like a process that died
/// after handing the message to the channel and before recording the outcome.
struct RecordingChannel {
    attempts: Mutex<Vec<Uuid>>,
    hang: bool,
}

#[async_trait]
impl Notifier for RecordingChannel {
    async fn deliver(&self, message: &Outbound) -> Result<(), DeliveryError> {
        self.attempts.lock().unwrap().push(message.outbound_id);
        if self.hang {
            futures::future::pending::<()>().await;
        }
        Ok(())
    }
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn count(log: &Arc<dyn EventLog>, stream: &StreamId, event_type: &str) -> usize {
    log.read_stream(stream, 0).await.unwrap().iter().filter(|e| e.event_type == event_type).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_deciding_and_sending_redelivers_once_with_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let (log, runtime, team) = setup(dir.path()).await;
    let user = UserId::new("zhangsan").unwrap();
    let stream = StreamId::conversation(&team, &user);

    let crashing = Arc::new(RecordingChannel { attempts: Mutex::new(vec![]), hang: true });
    let core =
        Core::new(runtime.clone(), Arc::new(KeywordMatcher::new()), crashing.clone(), CoreConfig::default()).spawn();
    let message = Command::ReceiveMessage {
        user: user.clone(),
        message_id: MessageId("m1".into()),
        text: "奖品库存不足了".into(),
        channel: Channel::Api,
    };
    runtime.conversation(&team, &user, message, cause()).await.unwrap();
    wait_for("the first delivery attempt", async || !crashing.attempts.lock().unwrap().is_empty()).await;
    core.shutdown().await;
    let sent_before_crash = crashing.attempts.lock().unwrap().clone();
    assert_eq!(count(&log, &stream, "AnswerQueued").await, 1);
    assert_eq!(count(&log, &stream, "AnswerDelivered").await, 0, "the crash came before the outcome was recorded");

    // A new process (fresh runtime and core) on the same log finishes the job.
    let runtime = Arc::new(Runtime::new(log.clone(), Arc::new(SystemClock)));
    let channel = Arc::new(RecordingChannel { attempts: Mutex::new(vec![]), hang: false });
    let core =
        Core::new(runtime.clone(), Arc::new(KeywordMatcher::new()), channel.clone(), CoreConfig::default()).spawn();
    wait_for("the redelivery to be recorded", async || count(&log, &stream, "AnswerDelivered").await == 1).await;
    assert_eq!(*channel.attempts.lock().unwrap(), sent_before_crash, "redelivered with the same idempotency key");
    core.shutdown().await;

    // Once recorded, a further restart sends nothing again.
    let runtime = Arc::new(Runtime::new(log.clone(), Arc::new(SystemClock)));
    let quiet = Arc::new(RecordingChannel { attempts: Mutex::new(vec![]), hang: false });
    let core = Core::new(runtime, Arc::new(KeywordMatcher::new()), quiet.clone(), CoreConfig::default()).spawn();
    let health = core.health();
    wait_for("the third core to catch up", async || health.caught_up()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(quiet.attempts.lock().unwrap().is_empty(), "nothing is sent twice");
    assert_eq!(count(&log, &stream, "AnswerDelivered").await, 1);
    core.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_from_two_runtimes_are_serialised_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (log, first, team) = setup(dir.path()).await;
    let second = Arc::new(Runtime::new(log.clone(), Arc::new(SystemClock)));
    let user = UserId::new("busy").unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let runtime = if i % 2 == 0 { first.clone() } else { second.clone() };
        let (team, user) = (team.clone(), user.clone());
        tasks.push(tokio::spawn(async move {
            let command = Command::ReceiveMessage {
                user: user.clone(),
                message_id: MessageId(format!("m{}", i % 30)),
                text: format!("第 {i} 条消息"),
                channel: Channel::Api,
            };
            runtime.conversation(&team, &user, command, cause()).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stream = StreamId::conversation(&team, &user);
    let events = log.read_stream(&stream, 0).await.unwrap();
    let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=events.len() as u64).collect::<Vec<_>>(), "versions are gap-free");
    let mut ids: Vec<String> = events
        .iter()
        .filter_map(|e| match e.decode().unwrap() {
            Event::Conversation(switchboard_schemas::ConversationEvent::MessageReceived(m)) => Some(m.message_id.0),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 30, "each of the 30 distinct message ids is recorded exactly once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30);
    assert_eq!(count(&log, &stream, "SessionOpened").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyword_index_rebuilt_from_the_log_ranks_like_the_live_one() {
    let dir = tempfile::tempdir().unwrap();
    let (log, runtime, team) = setup(dir.path()).await;
    let live = Arc::new(KeywordMatcher::new());
    let core = Core::new(
        runtime.clone(),
        live.clone(),
        Arc::new(RecordingChannel { attempts: Mutex::new(vec![]), hang: false }),
        CoreConfig::default(),
    )
    .spawn();
    // Change the catalog while the core follows it live.
    let health = core.health();
    wait_for("the core to catch up", async || health.caught_up()).await;
    let entry = FaqEntry {
        question: "如何导出活动参与名单？".into(),
        answer: "在数据页点击导出，Excel 保留 7 天。".into(),
        category: Some("data".into()),
        paraphrases: vec!["参与人数据怎么下载".into()],
    };
    runtime
        .catalog(&team, CatalogCommand::Upsert { faq_id: FaqId::new("participant-export").unwrap(), entry }, cause())
        .await
        .unwrap();
    runtime
        .catalog(
            &team,
            CatalogCommand::Remove { faq_id: FaqId::new("review").unwrap(), expected_revision: None },
            cause(),
        )
        .await
        .unwrap();
    let head = log.head().await.unwrap();
    wait_for("the core to apply the catalog changes", async || health.position() >= head).await;
    core.shutdown().await;

    let rebuilt = KeywordMatcher::new();
    let all = log.read_all(0, usize::MAX, Some(&team)).await.unwrap();
    for recorded in all {
        if let Event::Faq(event) = recorded.decode().unwrap() {
            rebuilt.apply(&team, &event).await.unwrap();
        }
    }
    assert_eq!(rebuilt.document_count(&team), 2);
    for query in ["参与人数据怎么下载", "奖品库存不够", "活动审核要多久", "导出"] {
        assert_eq!(rebuilt.rank(&team, query, 5).await.unwrap(), live.rank(&team, query, 5).await.unwrap(), "{query}");
    }
    let ranked = rebuilt.rank(&team, "参与人数据怎么下载", 1).await.unwrap();
    assert_eq!(ranked.candidates[0].faq_id, FaqId::new("participant-export").unwrap());
}
