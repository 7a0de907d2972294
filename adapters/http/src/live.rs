//! The live side of the HTTP edge: waiting for a conversation to grow goes through the
//! instance's stream watches (`switchboard_engine::live`), never the log.
//!
//! It also hands out the places of greeted connections: at most so many per instance, per
//! operator and per token, so one page (or one leaked token) cannot take every place.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchboard_engine::live::StreamWatches;
use switchboard_schemas::{StreamId, TeamId, UserId};
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
    watches: Arc<StreamWatches>,
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

impl std::fmt::Debug for LiveConversations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveConversations")
            .field("connections_available", &self.connections.available_permits())
            .finish_non_exhaustive()
    }
}

impl LiveConversations {
    /// A registry over the instance's stream watches admitting connections within `caps`.
    pub fn new(watches: Arc<StreamWatches>, caps: ChannelCaps) -> Self {
        Self { watches, connections: Arc::new(Semaphore::new(caps.per_instance)), caps, holders: Arc::default() }
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
        self.watches.watch(stream)
    }
}
