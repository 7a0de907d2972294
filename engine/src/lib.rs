//! The Switchboard engine: the domain as pure functions, and the runtime that drives it.
//!
//! - [`conversation`]: the conversation aggregate — state, [`conversation::evolve`] and
//!   [`conversation::decide`], pure and deterministic (time, ids and match results come in
//!   through the command and [`conversation::Context`]).
//! - [`policy`]: the answer policy (confidence → answer / clarify / transfer) and on-call
//!   routing, also pure.
//! - [`team`] and [`catalog`]: the team and FAQ catalog aggregates.
//! - [`log`] and [`ports`]: the traits the outside world implements (event log, matcher,
//!   notifier, clock).
//! - [`blobs`]: the blob store port, where attachments' bytes live under their hash.
//! - [`codec`]: the stored form of a commit for logs that keep one record per commit
//!   (JetStream messages, EventStoreDB events), and the positions of its events.
//! - [`runtime`]: load → decide → append with the expected version, retrying on conflict;
//!   idempotent on inbound message ids and timer ids.
//! - [`follow`]: the one way to follow the log (checkpoint, batches, resume after failure,
//!   shutdown); the core, the projections, the webhook outbox, the live conversations and
//!   `events tail` are its users.
//! - [`live`]: wakes whoever waits for a stream to grow (replies, long polls, WebSockets).
//! - [`services`]: the asynchronous core that follows the log — matching, delivering
//!   outbound messages and firing timers.
//! - [`hit_test`]: what a team's policy would do with a question, without a conversation
//!   (the FAQ page's hit testing).
//! - [`threshold_replay`]: a team's past matches decided again at other thresholds (what would
//!   change, what the feedback says, precision and coverage per threshold).
//!
//! No I/O happens here beyond the ports; there is no networking and no database.

pub mod blobs;
pub mod codec;
pub mod follow;
pub mod hit_test;
pub mod log;
pub mod ports;

pub mod catalog;
pub mod conversation;
pub mod live;
pub mod policy;
pub mod runtime;
pub mod services;
pub mod shards;
pub mod team;
pub mod threshold_replay;
pub mod timers;
