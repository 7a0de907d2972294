//! Wakes WebSocket connections when their conversation grows.
//!
//! One follower of the log per instance serves every connection: each connection watches
//! its conversation stream, and the follower bumps the watch of a stream an event was
//! appended to. A connection then reads its stream after the version it last sent, so a
//! missed or merged wake-up loses nothing. Events written by other instances (a shared
//! JetStream log) wake the connections here too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use switchboard_engine::log::{subscribe, EventLog};
use switchboard_schemas::StreamId;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// How long the follower waits before following again after the log failed.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// The per-instance registry of live conversations and the connection budget.
pub struct LiveConversations {
    log: Arc<dyn EventLog>,
    watches: Arc<Mutex<Watches>>,
    follower: OnceLock<JoinHandle<()>>,
    connections: Arc<Semaphore>,
}

#[derive(Default)]
struct Watches {
    by_stream: HashMap<StreamId, watch::Sender<u64>>,
    /// The registry's size after the last sweep of unwatched streams.
    swept_at: usize,
}

impl Watches {
    /// Drops the streams nobody watches any more, once the registry doubled since the
    /// last sweep, so it stays proportional to the open connections.
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

impl std::fmt::Debug for LiveConversations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveConversations")
            .field("connections_available", &self.connections.available_permits())
            .finish_non_exhaustive()
    }
}

impl LiveConversations {
    /// A registry over `log` admitting at most `max_connections` open connections.
    pub fn new(log: Arc<dyn EventLog>, max_connections: usize) -> Self {
        Self {
            log,
            watches: Arc::default(),
            follower: OnceLock::new(),
            connections: Arc::new(Semaphore::new(max_connections)),
        }
    }

    /// A place for one more connection, or none when the instance has as many as it
    /// admits; the place is given back when the permit drops.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.connections.clone().try_acquire_owned().ok()
    }

    /// A receiver that changes whenever an event is appended to `stream` (and spuriously
    /// now and then). Read the stream after registering, not before, to miss nothing.
    pub fn watch(&self, stream: &StreamId) -> watch::Receiver<u64> {
        self.follower.get_or_init(|| tokio::spawn(follow(self.log.clone(), self.watches.clone())));
        let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        watches.sweep();
        watches.by_stream.entry(stream.clone()).or_insert_with(|| watch::channel(0).0).subscribe()
    }
}

impl Drop for LiveConversations {
    fn drop(&mut self) {
        if let Some(follower) = self.follower.get() {
            follower.abort();
        }
    }
}

/// Follows the log from its head and wakes the watchers of every stream appended to;
/// after a failure it follows again from the last event seen.
async fn follow(log: Arc<dyn EventLog>, watches: Arc<Mutex<Watches>>) {
    let mut after = loop {
        match log.head().await {
            Ok(head) => break head,
            Err(e) => {
                tracing::warn!(error = %e, "live conversations: the event log is unreachable; retrying");
                tokio::time::sleep(RETRY_AFTER_FAILURE).await;
            }
        }
    };
    loop {
        // Anything appended before `after` was read by the connections themselves (they
        // read their stream after registering), but a connection that registered while
        // the follower was starting or failing may have read too early: wake everyone.
        watches.lock().unwrap_or_else(|e| e.into_inner()).wake_all();
        let mut events = subscribe(log.clone(), after, None);
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => {
                    after = event.position;
                    let watches = watches.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(sender) = watches.by_stream.get(&event.stream) {
                        sender.send_modify(|n| *n += 1);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, after, "live conversations: following the log failed; retrying");
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY_AFTER_FAILURE).await;
    }
}
