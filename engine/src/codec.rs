//! The stored form of a commit in logs that keep one record per commit (a NATS JetStream
//! message, an EventStoreDB event) and the global positions of its events.
//!
//! A record body is JSON:
//!
//! ```json
//! { "commit_id": "…", "first_version": 4,
//!   "events": [ { "event_id": "…", "event_type": "MessageReceived", "schema_version": 1,
//!                 "occurred_at": "2026-01-02T03:04:05.123456789Z",
//!                 "correlation_id": "…", "causation_id": null, "payload": { … } } ] }
//! ```
//!
//! The stream is the record's subject (stream name) after the prefix; the team is the
//! stream's first token. An event's version is `first_version + index`; its position is
//! [`position(sequence, index)`](position), where `sequence` is the record's place in the
//! whole log (the JetStream sequence, the EventStoreDB commit position).

use crate::log::{Commit, LogError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_schemas::{NewEvent, RecordedEvent, StreamId};
use uuid::Uuid;

/// Bits of a position holding the event's index within its commit.
pub const INDEX_BITS: u32 = 16;

/// The most events one commit may carry, so that every index fits in the low 16 bits of a
/// position.
pub const MAX_EVENTS_PER_COMMIT: usize = (1 << INDEX_BITS) - 1;

/// The largest JetStream sequence a position can hold.
pub const MAX_SEQUENCE: u64 = u64::MAX >> INDEX_BITS;

/// The global position of the `index`-th event (0-based) of the message at stream
/// sequence `sequence`: `sequence << 16 | index`. Positions increase in log order and are
/// unique, but are not gap-free.
pub fn position(sequence: u64, index: usize) -> u64 {
    (sequence << INDEX_BITS) | index as u64
}

/// The stream sequence of the message holding the event at `position`.
pub fn sequence_of(position: u64) -> u64 {
    position >> INDEX_BITS
}

/// The index within its commit of the event at `position`.
#[cfg(test)]
pub fn index_of(position: u64) -> usize {
    (position & ((1 << INDEX_BITS) - 1)) as usize
}

/// One event as written.
#[derive(Serialize)]
struct EventOut<'a> {
    event_id: Uuid,
    event_type: &'a str,
    schema_version: u16,
    occurred_at: DateTime<Utc>,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    payload: &'a serde_json::Value,
}

/// A commit as written.
#[derive(Serialize)]
struct CommitOut<'a> {
    commit_id: Uuid,
    first_version: u64,
    events: Vec<EventOut<'a>>,
}

/// One event as read.
#[derive(Deserialize)]
struct EventIn {
    event_id: Uuid,
    event_type: String,
    schema_version: u16,
    occurred_at: DateTime<Utc>,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    payload: serde_json::Value,
}

/// A commit as read.
#[derive(Deserialize)]
struct CommitIn {
    commit_id: Uuid,
    first_version: u64,
    events: Vec<EventIn>,
}

/// Just enough of a commit to know the stream's version after it, without decoding the
/// payloads.
#[derive(Deserialize)]
struct CommitHead {
    first_version: u64,
    events: Vec<serde::de::IgnoredAny>,
}

/// The body of the message for a commit whose first event gets `first_version`.
pub fn encode(commit_id: Uuid, first_version: u64, events: &[NewEvent]) -> Result<Vec<u8>, serde_json::Error> {
    let events = events
        .iter()
        .map(|e| EventOut {
            event_id: e.event_id,
            event_type: e.event_type,
            schema_version: e.schema_version,
            occurred_at: e.occurred_at,
            correlation_id: e.causation.correlation_id,
            causation_id: e.causation.causation_id,
            payload: &e.payload,
        })
        .collect();
    // Room for a typical commit up front, instead of growing through several copies.
    let mut body = Vec::with_capacity(COMMIT_CAPACITY);
    serde_json::to_writer(&mut body, &CommitOut { commit_id, first_version, events })?;
    Ok(body)
}

/// [`encode`] for an append. Its size was checked by [`crate::log::EventLog::append`]:
/// [`Commit::bytes`] is at least the body's length.
pub fn encode_commit(commit: &Commit, first_version: u64) -> Result<Vec<u8>, LogError> {
    let body = encode(commit.commit_id(), first_version, commit.events())
        .map_err(|e| LogError::Backend(format!("commit {} cannot be encoded: {e}", commit.commit_id())))?;
    debug_assert!(body.len() <= commit.bytes(), "Commit::bytes ({}) under the body ({})", commit.bytes(), body.len());
    Ok(body)
}

/// Bytes reserved for a commit's body before encoding: a one-event commit with a chat
/// message takes about 600.
const COMMIT_CAPACITY: usize = 1_024;

/// The stream version after a stored commit and the number of its events, read from its
/// body at `sequence`.
pub fn last_version(sequence: u64, body: &[u8]) -> Result<(u64, usize), LogError> {
    let head: CommitHead = serde_json::from_slice(body).map_err(|e| corrupt(sequence, 0, format!("{e}")))?;
    let count = head.events.len();
    if count == 0 || head.first_version == 0 {
        return Err(corrupt(sequence, 0, "a stored commit has no events or version 0".into()));
    }
    Ok((head.first_version + count as u64 - 1, count))
}

/// The stream a message belongs to, from its subject.
pub fn stream_of(prefix: &str, subject: &str, sequence: u64) -> Result<StreamId, LogError> {
    let rest = subject
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .ok_or_else(|| corrupt(sequence, 0, format!("subject {subject:?} is not under the prefix {prefix:?}")))?;
    rest.parse().map_err(|e| corrupt(sequence, 0, format!("subject {subject:?}: {e}")))
}

/// Decodes the message at `sequence` on `subject` into its events.
pub fn decode(prefix: &str, subject: &str, sequence: u64, body: &[u8]) -> Result<Vec<RecordedEvent>, LogError> {
    let stream = stream_of(prefix, subject, sequence)?;
    let commit: CommitIn = serde_json::from_slice(body).map_err(|e| corrupt(sequence, 0, format!("{e}")))?;
    if commit.events.is_empty() || commit.first_version == 0 {
        return Err(corrupt(sequence, 0, "a stored commit has no events or version 0".into()));
    }
    if commit.events.len() > MAX_EVENTS_PER_COMMIT {
        return Err(corrupt(sequence, 0, format!("a stored commit has {} events", commit.events.len())));
    }
    let team = stream.team_id().clone();
    Ok(commit
        .events
        .into_iter()
        .enumerate()
        .map(|(index, e)| RecordedEvent {
            position: position(sequence, index),
            stream: stream.clone(),
            version: commit.first_version + index as u64,
            team: team.clone(),
            event_id: e.event_id,
            commit_id: commit.commit_id,
            event_type: e.event_type,
            schema_version: e.schema_version,
            occurred_at: e.occurred_at,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            payload: e.payload,
        })
        .collect())
}

fn corrupt(sequence: u64, index: usize, detail: String) -> LogError {
    LogError::Corrupt {
        position: position(sequence.min(MAX_SEQUENCE), index),
        detail: format!("stored commit {sequence}: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use switchboard_schemas::envelope::Causation;
    use switchboard_schemas::TeamId;

    fn event(n: i64) -> NewEvent {
        NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "Probe",
            schema_version: 3,
            occurred_at: Utc.timestamp_opt(1_700_000_000 + n, 123_456_789).single().expect("a valid time"),
            causation: Causation { correlation_id: Uuid::now_v7(), causation_id: Some(Uuid::now_v7()) },
            payload: serde_json::json!({ "n": n, "text": "汉字 \u{0}" }),
        }
    }

    #[test]
    fn positions_order_messages_then_indexes() {
        assert_eq!(position(1, 0), 65_536);
        assert!(position(1, MAX_EVENTS_PER_COMMIT) < position(2, 0));
        assert_eq!(sequence_of(position(7, 3)), 7);
        assert_eq!(index_of(position(7, 3)), 3);
    }

    #[test]
    fn a_commit_round_trips() {
        let events = vec![event(1), event(2)];
        let commit_id = Uuid::now_v7();
        let body = encode(commit_id, 4, &events).expect("encodes");
        assert_eq!(last_version(9, &body).expect("a valid body"), (5, 2));
        let read = decode("sb", "sb.ops.conversation.alice", 9, &body).expect("decodes");
        assert_eq!(read.len(), 2);
        let stream: StreamId = "ops.conversation.alice".parse().expect("a valid stream");
        for (index, (recorded, new)) in read.iter().zip(&events).enumerate() {
            assert_eq!(recorded.position, position(9, index));
            assert_eq!(recorded.version, 4 + index as u64);
            assert_eq!(recorded.stream, stream);
            assert_eq!(recorded.team, TeamId::new("ops").expect("a valid team"));
            assert_eq!(recorded.commit_id, commit_id);
            assert_eq!(recorded.event_id, new.event_id);
            assert_eq!(recorded.occurred_at, new.occurred_at);
            assert_eq!(recorded.causation_id, new.causation.causation_id);
            assert_eq!(recorded.payload, new.payload);
        }
    }

    #[test]
    fn damaged_messages_are_corrupt_with_their_position() {
        match decode("sb", "sb.ops.conversation.alice", 3, b"{not json") {
            Err(LogError::Corrupt { position: p, .. }) => assert_eq!(p, position(3, 0)),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert!(matches!(decode("sb", "other.ops.faq.main", 3, b"{}"), Err(LogError::Corrupt { .. })));
        let empty = br#"{"commit_id":"0190a0a0-0000-7000-8000-000000000000","first_version":1,"events":[]}"#;
        assert!(matches!(decode("sb", "sb.ops.faq.main", 3, empty), Err(LogError::Corrupt { .. })));
    }
}
