//! Property tests for the conversation's invariants over random command sequences.

#![allow(clippy::unwrap_used)]

mod scenario;

use std::collections::{HashMap, HashSet};

use chrono::Duration;
use proptest::prelude::*;
use scenario::*;
use switchboard_engine::conversation::{
    allowed_after_close, session_of, AttachmentOutcome, Command, Conversation, DeliveryOutcome, IncomingAttachment,
};
use switchboard_engine::ports::Rephrased;
use switchboard_schemas::attachment::{AttachmentKind, AttachmentSource, ContentHash, MediaType};
use switchboard_schemas::event::{
    Actor, AttachmentFetchFailed, AttachmentStored, Channel, MatchDecision, OutboundPurpose, SessionStatus,
};
use switchboard_schemas::{ConversationEvent, FaqId, MessageId};

/// A step of a random history: commands chosen by index so they stay meaningful (a match
/// for the latest message, a timer that exists, a delivery that was queued).
#[derive(Debug, Clone)]
enum Step {
    Message(u8),
    Match(u8),
    Feedback(bool),
    RequestHuman,
    Transfer(bool),
    HumanReply,
    Remark,
    Status(u8),
    Close(bool),
    Reopen,
    GroupChat,
    RecordChat,
    FireTimer,
    Deliver(bool),
    Attachment(u8),
    Fetched(bool),
    Removed,
    Wait(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => any::<u8>().prop_map(Step::Message),
        3 => any::<u8>().prop_map(Step::Match),
        2 => any::<bool>().prop_map(Step::Feedback),
        1 => Just(Step::RequestHuman),
        1 => any::<bool>().prop_map(Step::Transfer),
        1 => Just(Step::HumanReply),
        1 => Just(Step::Remark),
        1 => any::<u8>().prop_map(Step::Status),
        1 => any::<bool>().prop_map(Step::Close),
        1 => Just(Step::Reopen),
        1 => Just(Step::GroupChat),
        1 => Just(Step::RecordChat),
        2 => Just(Step::FireTimer),
        2 => any::<bool>().prop_map(Step::Deliver),
        2 => any::<u8>().prop_map(Step::Attachment),
        1 => any::<bool>().prop_map(Step::Fetched),
        1 => Just(Step::Removed),
        2 => (1u16..200).prop_map(Step::Wait),
    ]
}

/// Marks a reworded answer in the outbound texts.
const REWORDED: &str = "REWORDED";

const TEXTS: &[&str] = &["奖品怎么发放", "活动 123456 开始时间", "人工", "2", "解决了", "没解决", "hello", "1"];

fn command(s: &Scenario, step: &Step, counter: &mut u32) -> Option<Command> {
    let state = s.state();
    let session = state.session.as_ref();
    Some(match step {
        Step::Message(i) => {
            *counter += 1;
            // Now and then retry the previous message id, as a channel would.
            let id = if i % 7 == 0 && *counter > 1 { *counter - 1 } else { *counter };
            message(&format!("m{id}"), TEXTS[usize::from(*i) % TEXTS.len()])
        }
        Step::Match(c) => {
            let waiting = s.history.iter().rev().find_map(|e| match e {
                ConversationEvent::MatchRequested(m) => Some(m.message_id.clone()),
                _ => None,
            })?;
            let confidence = f32::from(*c) / 255.0;
            // Every other match comes with a rewording, half of those for a lower candidate:
            // only a confident answer from the same FAQ may use it.
            let rephrased = (c % 2 == 0).then(|| Rephrased {
                faq_id: FaqId::new(if c % 4 == 0 { "a" } else { "b" }).unwrap(),
                text: format!("{REWORDED} {c}"),
                model: "stand-in".into(),
            });
            Command::ApplyMatch { message_id: waiting, ranking: ranking(confidence, &["a", "b", "c"]), rephrased }
        }
        Step::Feedback(resolved) => Command::GiveFeedback { resolved: *resolved },
        Step::RequestHuman => Command::RequestHuman,
        Step::Transfer(named) => Command::Transfer { by: staff("lead"), to: named.then(|| staff("li")) },
        Step::HumanReply => Command::HumanReply { staff: staff("li"), text: "看一下".into() },
        Step::Remark => Command::AddRemark { author: staff("li"), text: "note".into() },
        Step::Status(i) => {
            let to = [SessionStatus::WithHuman, SessionStatus::Waiting, SessionStatus::Closed, SessionStatus::Answered]
                [usize::from(*i) % 4];
            Command::ChangeStatus { by: staff("li"), to }
        }
        Step::Close(operator) => {
            if *operator {
                Command::CloseByOperator
            } else {
                Command::Close { by: staff("li") }
            }
        }
        Step::Reopen => Command::Reopen { by: Actor::Staff(staff("li")) },
        Step::GroupChat => Command::RequestGroupChat { by: Actor::Operator(user()) },
        Step::RecordChat => Command::RecordGroupChat { chat_id: "chat-1".into() },
        Step::FireTimer => Command::FireTimer { timer_id: session?.pending_timer?.timer_id },
        Step::Deliver(ok) => {
            let (&outbound_id, _) = state.pending_deliveries.iter().next()?;
            let outcome = if *ok {
                DeliveryOutcome::Delivered
            } else {
                DeliveryOutcome::Failed { error: "-1 busy".into(), gave_up: false }
            };
            Command::RecordDelivery { outbound_id, outcome }
        }
        Step::Attachment(i) => {
            *counter += 1;
            // Alone or with words, now and then under the previous message's id.
            let id = if i % 7 == 0 && *counter > 1 { *counter - 1 } else { *counter };
            Command::ReceiveAttachment {
                user: user(),
                message_id: MessageId(format!("m{id}")),
                attachment: IncomingAttachment {
                    kind: AttachmentKind::ALL[usize::from(*i) % AttachmentKind::ALL.len()],
                    name: None,
                    source: AttachmentSource::WecomMedia { media_id: format!("{MEDIA}{id}") },
                },
                text: (i % 3 == 0).then(|| TEXTS[usize::from(*i) % TEXTS.len()].to_owned()),
                channel: Channel::Wecom,
            }
        }
        Step::Fetched(ok) => {
            // Any attachment ever received, so a retried fetch's outcome is tried too.
            let attachment_id = s.history.iter().rev().find_map(|e| match e {
                ConversationEvent::AttachmentReceived(a) => Some(a.attachment_id),
                _ => None,
            })?;
            let outcome = if *ok {
                AttachmentOutcome::Stored {
                    hash: ContentHash::of(b"png"),
                    size: 3,
                    media_type: MediaType::Png,
                    image_size: None,
                }
            } else {
                AttachmentOutcome::Failed { attempts: 3, reason: "40007 invalid media_id".into() }
            };
            Command::RecordAttachment { attachment_id, outcome }
        }
        Step::Removed => {
            let attachment_id = s.history.iter().find_map(|e| match e {
                ConversationEvent::AttachmentStored(a) => Some(a.attachment_id),
                _ => None,
            })?;
            Command::RemoveAttachment { attachment_id, retention_days: 90 }
        }
        Step::Wait(_) => return None,
    })
}

/// Marks a media id, which must never reach the matcher.
const MEDIA: &str = "MEDIA-";

/// Runs the steps; returns the scenario and the state folded commit by commit.
fn run(steps: &[Step]) -> (Scenario, Conversation) {
    let mut s = Scenario::new(policy_with_activity_id());
    let mut live = Conversation::default();
    let mut counter = 0;
    for step in steps {
        if let Step::Wait(minutes) = step {
            s.advance(Duration::minutes(i64::from(*minutes)));
            continue;
        }
        if let Some(command) = command(&s, step, &mut counter) {
            if let Ok(events) = s.run(command) {
                for e in &events {
                    live.apply(e);
                }
            }
        }
    }
    (s, live)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn replaying_the_log_gives_the_live_state(steps in prop::collection::vec(step(), 1..60)) {
        let (s, live) = run(&steps);
        let replayed = Conversation::replay(&s.history);
        prop_assert_eq!(&replayed, &live);
        prop_assert_eq!(replayed.version as usize, s.history.len());
    }

    #[test]
    fn deciding_is_deterministic(steps in prop::collection::vec(step(), 1..60)) {
        let (a, _) = run(&steps);
        let (b, _) = run(&steps);
        prop_assert_eq!(a.history, b.history);
    }

    #[test]
    fn a_closed_session_receives_nothing_but_reopen_remarks_and_delivery_outcomes(
        steps in prop::collection::vec(step(), 1..80)
    ) {
        let (s, _) = run(&steps);
        let mut closed = HashSet::new();
        for event in &s.history {
            let session = session_of(event);
            match event {
                ConversationEvent::SessionClosed(_) => { closed.insert(session); }
                ConversationEvent::SessionReopened(_) => { closed.remove(&session); }
                _ if closed.contains(&session) => {
                    prop_assert!(allowed_after_close(event), "{} after close", event.event_type());
                }
                _ => {}
            }
        }
    }

    #[test]
    fn every_timer_resolves_exactly_once(steps in prop::collection::vec(step(), 1..80)) {
        let (mut s, _) = run(&steps);
        // Let time run out: fire whatever is pending until nothing is.
        for _ in 0..4 {
            s.advance(Duration::days(1));
            if let Some(timer) = s.state().session.and_then(|x| x.pending_timer) {
                s.given(Command::FireTimer { timer_id: timer.timer_id });
            }
        }
        let mut scheduled = HashMap::new();
        let mut pending_per_session: HashMap<_, usize> = HashMap::new();
        for event in &s.history {
            match event {
                ConversationEvent::TimerScheduled(t) => {
                    scheduled.insert(t.timer_id, 0u32);
                    let n = pending_per_session.entry(t.session_id).or_default();
                    *n += 1;
                    prop_assert!(*n <= 1, "two timers pending in one session");
                }
                ConversationEvent::TimerFired(t) => {
                    *scheduled.get_mut(&t.timer_id).expect("fired an unknown timer") += 1;
                    *pending_per_session.entry(t.session_id).or_default() -= 1;
                }
                ConversationEvent::TimerCancelled(t) => {
                    *scheduled.get_mut(&t.timer_id).expect("cancelled an unknown timer") += 1;
                    *pending_per_session.entry(t.session_id).or_default() -= 1;
                }
                _ => {}
            }
        }
        for (timer, resolutions) in scheduled {
            prop_assert_eq!(resolutions, 1, "timer {} resolved {} times", timer, resolutions);
        }
        // An active session always has a timer, so once time has run out it is closed.
        if let Some(session) = s.state().session {
            prop_assert!(session.pending_timer.is_none());
            prop_assert_eq!(session.status(), SessionStatus::Closed);
        }
    }

    #[test]
    fn each_inbound_message_id_is_recorded_once(steps in prop::collection::vec(step(), 1..80)) {
        let (s, _) = run(&steps);
        let (mut texts, mut attachments) = (HashSet::new(), HashSet::new());
        for event in &s.history {
            match event {
                ConversationEvent::MessageReceived(m) => {
                    prop_assert!(texts.insert(m.message_id.clone()), "{:?} recorded twice", m.message_id);
                }
                ConversationEvent::AttachmentReceived(a) => {
                    prop_assert!(attachments.insert(a.message_id.clone()), "{:?} recorded twice", a.message_id);
                    prop_assert!(!texts.contains(&a.message_id), "{:?} was a text already", a.message_id);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn an_attachment_never_reaches_the_matcher_and_is_resolved_at_most_once(
        steps in prop::collection::vec(step(), 1..80)
    ) {
        let (s, _) = run(&steps);
        let (mut resolved, mut removed) = (HashSet::new(), HashSet::new());
        let stored: HashSet<_> = s.history.iter().filter_map(|e| match e {
            ConversationEvent::AttachmentStored(a) => Some(a.attachment_id),
            _ => None,
        }).collect();
        let received: HashSet<_> = s.history.iter().filter_map(|e| match e {
            ConversationEvent::AttachmentReceived(a) => Some(a.attachment_id),
            _ => None,
        }).collect();
        for event in &s.history {
            match event {
                ConversationEvent::MatchRequested(m) => prop_assert!(!m.query.contains(MEDIA), "{:?}", m.query),
                ConversationEvent::AttachmentStored(AttachmentStored { attachment_id, .. })
                | ConversationEvent::AttachmentFetchFailed(AttachmentFetchFailed { attachment_id, .. }) => {
                    prop_assert!(received.contains(attachment_id));
                    prop_assert!(resolved.insert(*attachment_id), "{} resolved twice", attachment_id);
                }
                ConversationEvent::AttachmentRemoved(r) => {
                    prop_assert!(stored.contains(&r.attachment_id), "only stored bytes are removed");
                    prop_assert!(removed.insert(r.attachment_id), "{} removed twice", r.attachment_id);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn a_rewording_is_sent_only_for_a_confident_answer_from_its_faq(steps in prop::collection::vec(step(), 1..80)) {
        let (s, _) = run(&steps);
        let mut last_match: Option<(MatchDecision, Option<String>)> = None;
        for event in &s.history {
            match event {
                ConversationEvent::FaqMatched(m) => {
                    if m.rephrased_by.is_some() {
                        prop_assert_eq!(&m.decision, &MatchDecision::Answer { faq_id: FaqId::new("a").unwrap() });
                    }
                    last_match = Some((m.decision.clone(), m.rephrased_by.clone()));
                }
                ConversationEvent::AnswerQueued(q) if q.text.contains(REWORDED) => {
                    prop_assert!(matches!(q.purpose, OutboundPurpose::Answer { .. }), "only answers: {:?}", q.purpose);
                    let (decision, by) = last_match.clone().expect("a match before a reworded answer");
                    let confident = matches!(decision, MatchDecision::Answer { .. });
                    prop_assert!(confident && by.is_some(), "a reworded answer after {:?} by {:?}", decision, by);
                }
                _ => {}
            }
        }
    }
}
