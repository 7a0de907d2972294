//! Wakes WebSocket connections when their conversation grows.
//!
//! One follower of the log per instance serves every connection: each connection watches
//! its conversation stream, and the follower bumps the watch of a stream an event was
//! appended to. A connection then reads its stream after the version it last sent, so a
//! missed or merged wake-up loses nothing. Events written by other instances (a shared
//! JetStream log) wake the connections here too.
//!
//! It also hands out the places of greeted connections: at most so many per instance, per
//! operator and per token, so one page (or one leaked token) cannot take every place.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use switchboard_engine::follow::{follow, stop_signal, FollowOptions, Follower, Stop};
use switchboard_engine::log::{EventLog, LogError};
use switchboard_schemas::{RecordedEvent, StreamId, TeamId, UserId};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// How many greeted channel connections may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelCaps {
    /// On this instance.
    pub per_instance: usize,
    /// Per operator (team and user): tabs and devices.
    pub per_user: usize,
    /// Per channel token.
    pub per_token: usize,
}

/// Why a greeted connection gets no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoPlace {
    /// The instance has as many connections as it admits.
    #[error(
        "this instance has as many channel connections as it admits (http.channel_max_connections); retry shortly"
    )]
    Instance,
    /// The operator has as many connections as one may have.
    #[error("this operator already has {0} open connections (http.channel_max_per_user); close one first")]
    User(usize),
    /// The token is in use by as many connections as one token may be.
    #[error("this token already has {0} open connections (http.channel_max_per_token); close one first")]
    Token(usize),
}

/// The per-instance registry of live conversations and the connection places.
pub struct LiveConversations {
    log: Arc<dyn EventLog>,
    watches: Arc<Mutex<Watches>>,
    /// Stops the follower when the registry is dropped.
    follower: OnceLock<Stop>,
    connections: Arc<Semaphore>,
    caps: ChannelCaps,
    holders: Arc<Mutex<Holders>>,
}

/// Open places per operator and per token (a token by its digest).
#[derive(Default)]
struct Holders {
    per_user: HashMap<(TeamId, UserId), usize>,
    per_token: HashMap<String, usize>,
}

fn release<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = counts.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(key);
        }
    }
}

/// A greeted connection's place; given back when dropped.
pub struct ChannelPlace {
    _instance: OwnedSemaphorePermit,
    holders: Arc<Mutex<Holders>>,
    user: (TeamId, UserId),
    token: String,
}

impl Drop for ChannelPlace {
    fn drop(&mut self) {
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        release(&mut holders.per_user, &self.user);
        release(&mut holders.per_token, &self.token);
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
    /// A registry over `log` admitting connections within `caps`.
    pub fn new(log: Arc<dyn EventLog>, caps: ChannelCaps) -> Self {
        Self {
            log,
            watches: Arc::default(),
            follower: OnceLock::new(),
            connections: Arc::new(Semaphore::new(caps.per_instance)),
            caps,
            holders: Arc::default(),
        }
    }

    /// Whether the instance is full (checked before a connection is upgraded, so a full
    /// instance answers 503 at once; the place itself is taken after `hello`).
    pub fn is_full(&self) -> bool {
        self.connections.available_permits() == 0
    }

    /// A place for a greeted connection of `user` in `team` with the token whose digest is
    /// `token_digest`, within every cap.
    pub fn admit(&self, team: &TeamId, user: &UserId, token_digest: &str) -> Result<ChannelPlace, NoPlace> {
        let instance = self.connections.clone().try_acquire_owned().map_err(|_| NoPlace::Instance)?;
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        let key = (team.clone(), user.clone());
        if holders.per_user.get(&key).copied().unwrap_or(0) >= self.caps.per_user {
            return Err(NoPlace::User(self.caps.per_user));
        }
        if holders.per_token.get(token_digest).copied().unwrap_or(0) >= self.caps.per_token {
            return Err(NoPlace::Token(self.caps.per_token));
        }
        *holders.per_user.entry(key.clone()).or_default() += 1;
        *holders.per_token.entry(token_digest.to_owned()).or_default() += 1;
        Ok(ChannelPlace {
            _instance: instance,
            holders: self.holders.clone(),
            user: key,
            token: token_digest.to_owned(),
        })
    }

    /// A receiver that changes whenever an event is appended to `stream` (and spuriously
    /// now and then). Read the stream after registering, not before, to miss nothing.
    pub fn watch(&self, stream: &StreamId) -> watch::Receiver<u64> {
        self.follower.get_or_init(|| {
            let (stop, stopped) = stop_signal();
            let mut follower = WakeWatchers { log: self.log.clone(), watches: self.watches.clone(), after: None };
            let log = self.log.clone();
            tokio::spawn(async move {
                let options = FollowOptions::new("live conversations");
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
        // Anything appended before `after` was read by the connections themselves (they
        // read their stream after registering), but a connection that registered while the
        // follower was starting or failing may have read too early: wake everyone.
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
