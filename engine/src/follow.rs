//! The one way to follow the log. A [`Follower`] says where it resumes (its checkpoint) and
//! handles the events read together; [`follow`] reads from the checkpoint, catches up in
//! batches, then waits for appends, and on any failure waits a moment, asks for the
//! checkpoint again and resumes — until its shutdown future completes.
//!
//! The core, the read-model projection, the webhook outbox, the live conversations of the
//! HTTP channel and `events tail --follow` are its users; they differ only in what they do
//! with a batch and where they keep their checkpoint.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchboard_schemas::{RecordedEvent, TeamId};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::log::{EventLog, LogError};

/// Something that follows the log. Its methods are never called concurrently.
#[async_trait]
pub trait Follower: Send {
    /// What fails in [`Follower::handle`] or [`Follower::resume_from`].
    type Error: Display + Send;

    /// The position after which to read: called when following starts and again after every
    /// failure, so a follower whose handled events live in a store resumes from what the store
    /// holds, and one that keeps them in memory from the last event it handled.
    async fn resume_from(&mut self) -> Result<u64, Self::Error>;

    /// Handles events read together, in log order (at most [`FollowOptions::batch`]). When it
    /// returns `Ok`, the events count as handled; after an error they are read again from
    /// [`Follower::resume_from`].
    async fn handle(&mut self, events: Vec<RecordedEvent>) -> Result<(), Self::Error>;

    /// Called whenever everything the log held when it was last asked has been handled.
    async fn caught_up(&mut self, position: u64) {
        let _ = position;
    }

    /// Completes when something other than the log needs the follower's attention (for the
    /// core, a change of the conversation parts it works on), then [`Follower::attend`] is
    /// called. Must be cancel-safe: it is dropped whenever the log has events first.
    async fn interrupted(&mut self) {
        std::future::pending().await
    }

    /// Handles what [`Follower::interrupted`] reported.
    async fn attend(&mut self) {}

    /// Whether following should go on after `error` (from the log or the follower). A
    /// follower that cannot recover (a closed output) says no, and [`follow`] returns it.
    fn retries(&self, error: &Failure<Self::Error>) -> bool {
        let _ = error;
        true
    }
}

/// Why an attempt to follow failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure<E> {
    /// Reading the log failed.
    #[error("reading the event log failed: {0}")]
    Log(#[source] LogError),
    /// The follower failed.
    #[error("{0}")]
    Follower(E),
}

/// How a follower reads.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// The follower's name, in every log line about it.
    pub name: &'static str,
    /// Only this team's events (none: every event).
    pub team: Option<TeamId>,
    /// Events read and handled together, at most.
    pub batch: usize,
    /// The wait after the first failure; doubled after each further one up to
    /// [`FollowOptions::max_retry_delay`], and back to this after a success.
    pub retry_delay: Duration,
    /// The longest wait between attempts.
    pub max_retry_delay: Duration,
    /// How long to wait for an append before looking again, for writers the backend cannot
    /// notify about (another process on the same store).
    pub poll_interval: Duration,
}

impl FollowOptions {
    /// Options for a follower named `name`, reading every team's events.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            team: None,
            batch: 512,
            retry_delay: Duration::from_millis(250),
            max_retry_delay: Duration::from_secs(5),
            poll_interval: Duration::from_millis(250),
        }
    }

    /// Reads and handles up to `batch` events together.
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Follows only `team`'s events.
    pub fn team(mut self, team: Option<TeamId>) -> Self {
        self.team = team;
        self
    }
}

/// Follows `log` with `follower` until `shutdown` completes (`Ok`) or the follower refuses to
/// retry a failure (that failure). A batch being handled when `shutdown` completes is
/// finished first; waiting for the log is not.
pub async fn follow<F: Follower>(
    log: Arc<dyn EventLog>,
    follower: &mut F,
    options: FollowOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Failure<F::Error>> {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut delay = options.retry_delay;
    loop {
        let Some(failure) = attempt(&log, follower, &options, &mut delay, &mut shutdown).await else {
            return Ok(());
        };
        if !follower.retries(&failure) {
            return Err(failure);
        }
        warn!(follower = options.name, error = %failure, retry_in = ?delay, "following the event log failed; resuming from the checkpoint");
        // While waiting, what else needs the follower (the core's parts) is still attended to.
        let resume_at = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep_until(resume_at) => break,
                () = follower.interrupted() => follower.attend().await,
            }
        }
        delay = (delay * 2).min(options.max_retry_delay);
    }
}

/// One attempt: from the checkpoint until something fails (`Some`) or `shutdown` completes
/// (`None`). The shutdown is looked at only while waiting for the log or the checkpoint,
/// never while [`Follower::handle`] runs.
async fn attempt<F: Follower>(
    log: &Arc<dyn EventLog>,
    follower: &mut F,
    options: &FollowOptions,
    delay: &mut Duration,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Option<Failure<F::Error>> {
    let mut after = tokio::select! {
        biased;
        () = shutdown.as_mut() => return None,
        resumed = follower.resume_from() => match resumed {
            Ok(after) => after,
            Err(e) => return Some(Failure::Follower(e)),
        },
    };
    loop {
        let read = async {
            // The head is read before the batch: when a filtered read finds nothing, every
            // event up to that head belongs to others and need not be read again.
            let head = log.head().await?;
            let batch = log.read_all(after, options.batch, options.team.as_ref()).await?;
            Ok::<_, LogError>((head, batch))
        };
        let read = tokio::select! {
            biased;
            () = shutdown.as_mut() => return None,
            read = read => Ok(read),
            () = follower.interrupted() => Err(Interrupted),
        };
        let (head, batch) = match read {
            Ok(Ok(read)) => read,
            Ok(Err(e)) => return Some(Failure::Log(e)),
            Err(Interrupted) => {
                follower.attend().await;
                continue;
            }
        };
        let Some(last) = batch.last().map(|e| e.position) else {
            after = after.max(head);
            follower.caught_up(after).await;
            let woke = tokio::select! {
                biased;
                () = shutdown.as_mut() => return None,
                () = log.wait_for_append(after, options.poll_interval) => Ok(()),
                () = follower.interrupted() => Err(Interrupted),
            };
            if woke.is_err() {
                follower.attend().await;
            }
            continue;
        };
        let events = batch.len();
        if let Err(e) = follower.handle(batch).await {
            return Some(Failure::Follower(e));
        }
        debug!(follower = options.name, position = last, events, "followed the log");
        after = last;
        *delay = options.retry_delay;
        if last >= head {
            follower.caught_up(last).await;
        }
    }
}

/// [`Follower::interrupted`] completed first.
struct Interrupted;

/// The sending half of a stop signal: [`Stop::stop`], or dropping it, completes every
/// [`Stopped::wait`] of its receivers.
#[derive(Debug)]
pub struct Stop(watch::Sender<bool>);

/// The receiving half of a stop signal, cloned for every task that must stop.
#[derive(Debug, Clone)]
pub struct Stopped(watch::Receiver<bool>);

/// A new stop signal.
pub fn stop_signal() -> (Stop, Stopped) {
    let (sender, receiver) = watch::channel(false);
    (Stop(sender), Stopped(receiver))
}

impl Stop {
    /// Tells every receiver to stop.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Stopped {
    /// Completes once the signal is given or its sender is gone.
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }
}
