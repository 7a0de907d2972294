//! The one log follower (`switchboard_engine::follow`) on the in-memory log, under tokio's
//! paused time: it resumes from the follower's checkpoint after any failure, waits longer
//! after each failure in a row, rides out an outage of the log, finishes the batch it is
//! handling at shutdown, and returns a failure the follower will not retry.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::json;
use switchboard_engine::follow::{follow, stop_signal, Failure, FollowOptions, Follower, Stop};
use switchboard_engine::log::{Commit, EventLog, ExpectedVersion};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::{NewEvent, RecordedEvent, StreamId, TeamId, UserId};
use switchboard_testkit::MemoryEventLog;
use tokio::time::Instant;
use uuid::Uuid;

async fn append(log: &MemoryEventLog, team: &str, n: usize) {
    let team = TeamId::new(team).unwrap();
    let stream = StreamId::conversation(&team, &UserId::new("zhangsan").unwrap());
    for _ in 0..n {
        let event = NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "Probe",
            schema_version: 1,
            occurred_at: Utc::now(),
            causation: Causation::root(Uuid::now_v7()),
            payload: json!({}),
        };
        let commit = Commit::new(Uuid::now_v7(), vec![event]).expect("a commit of events");
        log.append(&stream, ExpectedVersion::Any, commit).await.unwrap();
    }
}

/// When a test has seen enough.
type Done = fn(&Recorder) -> bool;

/// A follower with a stored checkpoint that fails the batches it is told to, and records
/// everything it sees.
#[derive(Default)]
struct Recorder {
    checkpoint: u64,
    handled: Vec<u64>,
    resumed: Vec<(u64, Instant)>,
    caught_up: Vec<u64>,
    fail_next: u32,
    /// Handling takes this long (in paused time).
    slow: Duration,
    give_up: bool,
    /// Stops following once this holds.
    done: Option<(Stop, Done)>,
}

impl Recorder {
    fn check_done(&self) {
        if let Some((stop, done)) = &self.done {
            if done(self) {
                stop.stop();
            }
        }
    }
}

#[async_trait]
impl Follower for Recorder {
    type Error = String;

    async fn resume_from(&mut self) -> Result<u64, String> {
        self.resumed.push((self.checkpoint, Instant::now()));
        Ok(self.checkpoint)
    }

    async fn handle(&mut self, events: Vec<RecordedEvent>) -> Result<(), String> {
        tokio::time::sleep(self.slow).await;
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return Err("the store refused the batch".into());
        }
        self.handled.extend(events.iter().map(|e| e.position));
        self.checkpoint = events.last().unwrap().position;
        self.check_done();
        Ok(())
    }

    async fn caught_up(&mut self, position: u64) {
        self.caught_up.push(position);
        self.check_done();
    }

    fn retries(&self, _error: &Failure<String>) -> bool {
        !self.give_up
    }
}

/// Follows until `done` holds after a batch or a catch-up; fails after a minute of paused
/// time.
async fn follow_until(
    log: Arc<MemoryEventLog>,
    recorder: &mut Recorder,
    options: FollowOptions,
    done: fn(&Recorder) -> bool,
) {
    let (stop, stopped) = stop_signal();
    recorder.done = Some((stop, done));
    tokio::select! {
        outcome = follow(log, recorder, options, stopped.wait()) => outcome.unwrap(),
        () = tokio::time::sleep(Duration::from_secs(60)) => panic!("not done within a minute"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_batch_is_read_again_from_the_checkpoint_and_nothing_is_lost_or_repeated() {
    let log = Arc::new(MemoryEventLog::new());
    append(&log, "ops", 10).await;
    let mut recorder = Recorder { fail_next: 2, ..Recorder::default() };
    let options = FollowOptions::new("test").batch(4);
    follow_until(log.clone(), &mut recorder, options, |r| r.checkpoint == 10).await;
    assert_eq!(recorder.handled, (1..=10).collect::<Vec<_>>(), "every event once, in order");
    assert_eq!(recorder.resumed.len(), 3, "started once, resumed after each of the two failures");
    assert!(recorder.resumed.iter().all(|(from, _)| *from == 0), "resumed from the stored checkpoint");
    let gaps: Vec<Duration> = recorder.resumed.windows(2).map(|w| w[1].1 - w[0].1).collect();
    assert!(
        gaps[0] >= Duration::from_millis(250) && gaps[1] >= Duration::from_millis(500),
        "the wait doubles: {gaps:?}"
    );
    assert_eq!(recorder.caught_up.last(), Some(&10), "caught up at the head");
}

#[tokio::test(start_paused = true)]
async fn an_outage_of_the_log_is_ridden_out_and_live_appends_follow() {
    let log = Arc::new(MemoryEventLog::new());
    append(&log, "ops", 3).await;
    let writer = {
        let log = log.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            log.set_down(true);
            tokio::time::sleep(Duration::from_secs(20)).await;
            log.set_down(false);
            append(&log, "ops", 2).await;
        }
    };
    let mut recorder = Recorder::default();
    let options = FollowOptions::new("test");
    let ((), ()) = tokio::join!(writer, follow_until(log.clone(), &mut recorder, options, |r| r.checkpoint == 5));
    assert_eq!(recorder.handled, vec![1, 2, 3, 4, 5]);
    assert!(recorder.resumed.len() >= 3, "it kept trying during the outage: {:?}", recorder.resumed.len());
    let gaps: Vec<Duration> = recorder.resumed.windows(2).map(|w| w[1].1 - w[0].1).collect();
    assert!(gaps.iter().all(|gap| *gap <= Duration::from_secs(6)), "no wait longer than the cap: {gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn a_team_filter_hands_over_only_that_teams_events() {
    let log = Arc::new(MemoryEventLog::new());
    append(&log, "ops", 2).await;
    append(&log, "games", 3).await;
    append(&log, "ops", 1).await;
    let mut recorder = Recorder::default();
    let options = FollowOptions::new("test").team(Some(TeamId::new("ops").unwrap()));
    follow_until(log.clone(), &mut recorder, options, |r| r.caught_up.contains(&6)).await;
    assert_eq!(recorder.handled, vec![1, 2, 6]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_the_batch_being_handled_finish() {
    let log = Arc::new(MemoryEventLog::new());
    append(&log, "ops", 3).await;
    let mut recorder = Recorder { slow: Duration::from_secs(2), ..Recorder::default() };
    let (stop, stopped) = stop_signal();
    let stopper = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.stop();
    };
    let started = Instant::now();
    let (outcome, ()) = tokio::join!(follow(log, &mut recorder, FollowOptions::new("test"), stopped.wait()), stopper);
    outcome.unwrap();
    assert_eq!(recorder.handled, vec![1, 2, 3], "the batch in hand was finished");
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_failure_the_follower_will_not_retry_is_returned() {
    let log = Arc::new(MemoryEventLog::new());
    append(&log, "ops", 1).await;
    let mut recorder = Recorder { fail_next: 1, give_up: true, ..Recorder::default() };
    let (_stop, stopped) = stop_signal();
    let outcome = follow(log, &mut recorder, FollowOptions::new("test"), stopped.wait()).await;
    assert!(matches!(outcome, Err(Failure::Follower(ref e)) if e == "the store refused the batch"), "{outcome:?}");
    assert_eq!(recorder.resumed.len(), 1, "no second attempt");
}
