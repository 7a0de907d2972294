//! Read models folded from the event log.
//!
//! - [`conversation`]: one conversation as people read it — sessions with their messages,
//!   status, assignee and remarks — and its human-readable timeline; the same fold, cut at
//!   a moment, is the audit view ("what did this conversation look like at 10:42?").
//! - [`operator`]: the conversation as its operator sees it, for chat channels that render
//!   it (the WebSocket channel).
//! - [`sessions`]: the session list, one row per session, and its pure fold.
//! - [`store`]: the read-model store port (SQLite and PostgreSQL live in
//!   `switchboard-readstore`), with the session-list query and the statistics.
//! - [`candidates`]: FAQ candidates — questions not answered well, grouped by wording.
//! - [`report`]: the weekly report, as CSV and Excel.
//! - [`training`]: labelled (question, FAQ) pairs with hard negatives, for offline
//!   fine-tuning.
//! - [`outbox`]: the webhook outbox — one delivery per event and endpoint, checkpointed.
//! - [`runtime`]: the projection runtime — batches, checkpoints, catch-up, live, rebuild.

pub mod candidates;
pub mod conversation;
pub mod operator;
pub mod outbox;
pub mod report;
pub mod runtime;
pub mod sessions;
pub mod store;
pub mod training;
