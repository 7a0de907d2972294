//! Wakes whoever waits for a stream to grow: an API call waiting for the reply to a
//! message, a long poll for a conversation's next events, a WebSocket connection.
//!
//! One follower of the log per instance ([`crate::follow`]) serves every waiter: each
//! watches its stream, and the follower bumps the watch of a stream an event was appended
//! to. A waiter then reads its stream after the version it last saw, so a missed or merged
//! wake-up loses nothing. Events written by other instances (a shared JetStream log) wake
//! the waiters here too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use switchboard_schemas::{RecordedEvent, StreamId};
use tokio::sync::watch;

use crate::follow::{follow, stop_signal, FollowOptions, Follower, Stop};
use crate::log::{EventLog, LogError};

/// The per-instance registry of watched streams and its follower (started with the first
/// watch, stopped when the registry is dropped).
pub struct StreamWatches {
    log: Arc<dyn EventLog>,
    watches: Arc<Mutex<Watches>>,
    follower: OnceLock<Stop>,
}

impl std::fmt::Debug for StreamWatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWatches").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Watches {
    by_stream: HashMap<StreamId, watch::Sender<u64>>,
    /// The registry's size after the last sweep of unwatched streams.
    swept_at: usize,
}

impl Watches {
    /// Drops the streams nobody watches any more, once the registry doubled since the
    /// last sweep, so it stays proportional to the waiters.
    fn sweep(&mut self) {
        if self.by_stream.len() > 2 * self.swept_at + 64 {
            self.by_stream.retain(|_, sender| sender.receiver_count() > 0);
            self.swept_at = self.by_stream.len();
        }
    }

    /// Wakes every watcher (after the follower started or recovered, when appends may
    /// have gone unseen).
    fn wake_all(&self) {
        for sender in self.by_stream.values() {
            sender.send_modify(|n| *n += 1);
        }
    }
}

impl StreamWatches {
    /// A registry over `log`.
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        Self { log, watches: Arc::default(), follower: OnceLock::new() }
    }

    /// A receiver that changes whenever an event is appended to `stream` (and spuriously
    /// now and then). Read the stream after registering, not before, to miss nothing.
    pub fn watch(&self, stream: &StreamId) -> watch::Receiver<u64> {
        self.follower.get_or_init(|| {
            let (stop, stopped) = stop_signal();
            let mut follower = WakeWatchers { log: self.log.clone(), watches: self.watches.clone(), after: None };
            let log = self.log.clone();
            tokio::spawn(async move {
                let options = FollowOptions::new("stream watches");
                // Every failure is retried, so following ends only when the registry is dropped.
                let _ = follow(log, &mut follower, options, stopped.wait()).await;
            });
            stop
        });
        let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        watches.sweep();
        watches.by_stream.entry(stream.clone()).or_insert_with(|| watch::channel(0).0).subscribe()
    }
}

/// Follows the log from its head and wakes the watchers of every stream appended to; after
/// a failure it follows again from the last event seen.
struct WakeWatchers {
    log: Arc<dyn EventLog>,
    watches: Arc<Mutex<Watches>>,
    /// The last event seen; none before the first start.
    after: Option<u64>,
}

#[async_trait]
impl Follower for WakeWatchers {
    type Error = LogError;

    async fn resume_from(&mut self) -> Result<u64, LogError> {
        let after = match self.after {
            Some(after) => after,
            None => self.log.head().await?,
        };
        self.after = Some(after);
        // Anything appended before `after` was read by the waiters themselves (they read
        // their stream after registering), but one that registered while the follower was
        // starting or failing may have read too early: wake everyone.
        self.watches.lock().unwrap_or_else(|e| e.into_inner()).wake_all();
        Ok(after)
    }

    async fn handle(&mut self, events: Vec<RecordedEvent>) -> Result<(), LogError> {
        let watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        for event in &events {
            if let Some(sender) = watches.by_stream.get(&event.stream) {
                sender.send_modify(|n| *n += 1);
            }
        }
        self.after = events.last().map(|e| e.position).or(self.after);
        Ok(())
    }
}
