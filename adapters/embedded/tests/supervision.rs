//! The asynchronous core is shared by every team: one team's item that panics (here, a log
//! that panics while one team's timer fires) is parked and reported, and every other
//! team's timers go on firing on time.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::conversation::Command;
use switchboard_engine::log::{AppendError, Appended, Commit, EventLog, ExpectedVersion, LogError};
use switchboard_engine::ports::{DeliveryError, MatchError, Matcher, Notifier, Outbound, Ranking, SystemClock};
use switchboard_engine::runtime::Runtime;
use switchboard_engine::services::{Core, CoreConfig, WorkKind};
use switchboard_engine::team::TeamCommand;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Channel, TeamSettings};
use switchboard_schemas::{FaqEvent, MessageId, RecordedEvent, StreamId, TeamId, UserId};
use uuid::Uuid;

/// A log that panics when a commit of `poisoned`'s conversations re-confirms a session,
/// i.e. while that team's timer fires.
struct PanickyLog {
    inner: SqliteEventLog,
    poisoned: TeamId,
}

#[async_trait]
impl EventLog for PanickyLog {
    async fn store(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        commit: Commit,
    ) -> Result<Appended, AppendError> {
        let fires = commit.events().iter().any(|e| e.event_type == "TimerFired");
        assert!(!(fires && stream.team_id() == &self.poisoned), "a bug while firing {stream}'s timer");
        self.inner.store(stream, expected, commit).await
    }
    fn max_commit_bytes(&self) -> usize {
        self.inner.max_commit_bytes()
    }
    async fn read_stream(&self, stream: &StreamId, after: u64) -> Result<Vec<RecordedEvent>, LogError> {
        self.inner.read_stream(stream, after).await
    }
    async fn read_all(&self, after: u64, limit: usize, team: Option<&TeamId>) -> Result<Vec<RecordedEvent>, LogError> {
        self.inner.read_all(after, limit, team).await
    }
    async fn head(&self) -> Result<u64, LogError> {
        self.inner.head().await
    }
}

struct NoAnswers;

#[async_trait]
impl Matcher for NoAnswers {
    async fn rank(&self, _: &TeamId, _: &str, _: usize) -> Result<Ranking, MatchError> {
        Ok(Ranking { candidates: Vec::new(), confidence: 0.0, engine: "none".into() })
    }
    async fn apply(&self, _: &TeamId, _: &FaqEvent) -> Result<(), MatchError> {
        Ok(())
    }
}

struct Delivered;

#[async_trait]
impl Notifier for Delivered {
    async fn deliver(&self, _: &Outbound) -> Result<(), DeliveryError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_one_teams_timer_leaves_other_teams_timers_firing_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let (evil, good) = (TeamId::new("evil").unwrap(), TeamId::new("good").unwrap());
    let inner = SqliteEventLog::open(&dir.path().join("events.sqlite"), SqliteOptions::default()).unwrap();
    let log: Arc<dyn EventLog> = Arc::new(PanickyLog { inner, poisoned: evil.clone() });
    let runtime = Arc::new(Runtime::new(log.clone(), Arc::new(SystemClock)));
    let cause = Causation::root(Uuid::now_v7());
    let settings = TeamSettings { reconfirm_after_secs: 1, ..TeamSettings::default() };
    for team in [&evil, &good] {
        runtime.team(team, TeamCommand::Create { name: team.to_string(), cloned_from: None }, cause).await.unwrap();
        let configure = TeamCommand::Configure { settings: Box::new(settings.clone()) };
        runtime.team(team, configure, cause).await.unwrap();
    }
    let core = Core::new(runtime.clone(), Arc::new(NoAnswers), Arc::new(Delivered), CoreConfig::default()).spawn();
    let user = UserId::new("wang").unwrap();
    // The evil team's timer comes due first, so its panic happens before the good one fires.
    for team in [&evil, &good] {
        let message = Command::ReceiveMessage {
            user: user.clone(),
            message_id: MessageId(format!("{team}-1")),
            text: "活动发不出去".into(),
            channel: Channel::Api,
        };
        runtime.conversation(team, &user, message, Causation::root(Uuid::now_v7())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let health = core.health();
    let fired_on_time = async {
        loop {
            let events = runtime.conversation_events(&good, &user).await.unwrap();
            if events.iter().any(|e| e.event_type == "ReconfirmSent") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    // Due one second after the message; a few seconds of slack for a loaded machine.
    tokio::time::timeout(Duration::from_secs(5), fired_on_time).await.expect("the good team's timer fired");
    // The evil timer's panic is caught on its own task (its backtrace may take a while to
    // print on a loaded machine): it is parked, whenever the good one fired.
    let parked = async {
        loop {
            let parked = health.parked();
            if !parked.is_empty() {
                return parked;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let parked = tokio::time::timeout(Duration::from_secs(5), parked).await.expect("the evil timer was parked");
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0].kind, WorkKind::Timer);
    assert_eq!(parked[0].stream.as_ref().map(|s| s.team_id().clone()), Some(evil.clone()));
    assert!(parked[0].reason.contains("a bug while firing"), "{}", parked[0].reason);
    assert!(health.stopped_tasks().is_empty(), "the timer task runs on");
    let evil_events = runtime.conversation_events(&evil, &user).await.unwrap();
    assert!(!evil_events.iter().any(|e| e.event_type == "ReconfirmSent"), "the poisoned item wrote nothing");
    core.shutdown().await;
}
