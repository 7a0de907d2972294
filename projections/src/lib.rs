//! Read models folded from the event log.
//!
//! - [`conversation`]: one conversation as people read it — sessions with their messages,
//!   status, assignee and remarks — and its human-readable timeline; the same fold, cut at
//!   a moment, is the audit view ("what did this conversation look like at 10:42?").

pub mod conversation;
