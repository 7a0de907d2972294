//! The conversation as its operator sees it, for chat channels that render it themselves
//! (the WebSocket channel and its widget).
//!
//! The fold keeps the engine's conversation state, so each visible event carries the
//! session's status after it and a clarification carries the questions of its choices.
//! Staff remarks, match scores, timers, delivery bookkeeping and notices meant for
//! engineers are folded but never shown.

use chrono::{DateTime, Utc};
use switchboard_engine::conversation::{Conversation, Phase};
use switchboard_schemas::channel::{OfferedChoice, OperatorItem, ReplyPurpose};
use switchboard_schemas::event::{OutboundPurpose, Recipient, SessionStatus};
use switchboard_schemas::{ConversationEvent, DecodeError, Event, RecordedEvent};
use uuid::Uuid;

/// The prefix of the message ids the WebSocket channel records, before the client's id.
pub const CHANNEL_MESSAGE_PREFIX: &str = "ws:";

/// One event of the conversation that its operator sees.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorEvent {
    /// The conversation version of the event.
    pub version: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The session's status after it.
    pub status: SessionStatus,
    /// What the operator sees.
    pub item: OperatorItem,
}

/// The operator's view of one conversation, folded event by event.
#[derive(Debug, Clone, Default)]
pub struct OperatorView {
    state: Conversation,
    version: u64,
}

impl OperatorView {
    /// The conversation version folded so far.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The current session's status (collecting before the first message).
    pub fn status(&self) -> SessionStatus {
        self.state.session.as_ref().map_or(SessionStatus::Collecting, |s| s.status())
    }

    /// Folds the next events of the stream (in order; those already folded are skipped)
    /// and returns the visible ones.
    pub fn fold(&mut self, events: &[RecordedEvent]) -> Result<Vec<OperatorEvent>, DecodeError> {
        let mut visible = Vec::new();
        let folded = self.version;
        for recorded in events.iter().filter(|e| e.version > folded) {
            self.version = recorded.version;
            let Event::Conversation(event) = recorded.decode()? else {
                continue;
            };
            self.state.apply(&event);
            if let Some(item) = self.item(&event) {
                visible.push(OperatorEvent {
                    version: recorded.version,
                    event_id: recorded.event_id,
                    at: recorded.occurred_at,
                    status: self.status(),
                    item,
                });
            }
        }
        Ok(visible)
    }

    /// What the operator sees of `event`, judged on the state just after it.
    fn item(&self, event: &ConversationEvent) -> Option<OperatorItem> {
        use ConversationEvent as E;
        Some(match event {
            E::SessionOpened(e) => OperatorItem::SessionOpened { session_id: e.session_id },
            E::MessageReceived(e) => OperatorItem::OperatorMessage {
                session_id: e.session_id,
                client_id: e.message_id.0.strip_prefix(CHANNEL_MESSAGE_PREFIX).map(str::to_owned),
                text: e.text.clone(),
            },
            E::AnswerQueued(e) if matches!(e.to, Recipient::Operator(_)) => {
                let (purpose, faq_id) = match &e.purpose {
                    OutboundPurpose::InfoPrompt => (ReplyPurpose::InfoPrompt, None),
                    OutboundPurpose::Answer { faq_id } => (ReplyPurpose::Answer, Some(faq_id.clone())),
                    OutboundPurpose::Clarify => (ReplyPurpose::Clarify, None),
                    OutboundPurpose::TransferNotice => (ReplyPurpose::TransferNotice, None),
                    OutboundPurpose::HumanReply => (ReplyPurpose::HumanReply, None),
                    OutboundPurpose::Reconfirm => (ReplyPurpose::Reconfirm, None),
                    OutboundPurpose::ClosingNotice => (ReplyPurpose::ClosingNotice, None),
                    // Meant for engineers; operators' messages never carry it.
                    OutboundPurpose::AssigneeNotice | OutboundPurpose::Escalation => return None,
                };
                let choices = match (&purpose, self.state.session.as_ref().map(|s| &s.phase)) {
                    (ReplyPurpose::Clarify, Some(Phase::AwaitingChoice { choices })) => choices
                        .iter()
                        .zip(1u8..)
                        .map(|(c, number)| OfferedChoice {
                            number,
                            question: c.question.clone(),
                            faq_id: c.faq_id.clone(),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                OperatorItem::Reply {
                    session_id: e.session_id,
                    outbound_id: e.outbound_id,
                    asks_feedback: purpose == ReplyPurpose::Answer,
                    purpose,
                    text: e.text.clone(),
                    faq_id,
                    choices,
                }
            }
            E::ChoiceSelected(e) => OperatorItem::ChoiceSelected { choice: e.choice, faq_id: e.faq_id.clone() },
            E::FeedbackGiven(e) => OperatorItem::FeedbackGiven { resolved: e.resolved },
            E::TransferredToHuman(e) => OperatorItem::Transferred { reason: e.reason, assignee: e.assignee.clone() },
            E::StatusChanged(e) => OperatorItem::StatusChanged { to: e.to },
            E::GroupChatCreated(_) => OperatorItem::GroupChatCreated,
            E::SessionClosed(e) => OperatorItem::SessionClosed { reason: e.reason },
            E::SessionReopened(e) => OperatorItem::SessionReopened { session_id: e.session_id },
            E::AnswerQueued(_)
            | E::InfoRequested(_)
            | E::InfoProvided(_)
            | E::MatchRequested(_)
            | E::FaqMatched(_)
            | E::AnswerDelivered(_)
            | E::DeliveryFailed(_)
            | E::GroupChatRequested(_)
            | E::HumanReplied(_)
            | E::RemarkAdded(_)
            | E::TimerScheduled(_)
            | E::TimerCancelled(_)
            | E::TimerFired(_)
            | E::HandoverAcknowledged(_)
            | E::EscalationStepTaken(_)
            | E::ResponseTargetMissed(_)
            | E::ReconfirmSent(_) => return None,
            // The chat channel's frames carry no attachments yet: only WeCom receives them.
            E::AttachmentReceived(_)
            | E::AttachmentStored(_)
            | E::AttachmentFetchFailed(_)
            | E::AttachmentRemoved(_) => return None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use switchboard_schemas::envelope::{Causation, NewEvent};
    use switchboard_schemas::event::*;
    use switchboard_schemas::{FaqId, MessageId, StaffId, StreamId, TeamId, UserId};

    use super::*;

    /// The events of one conversation, stored as the log would store them.
    struct Stream {
        events: Vec<RecordedEvent>,
        session: Uuid,
    }

    impl Stream {
        fn new() -> Self {
            Self { events: Vec::new(), session: Uuid::now_v7() }
        }

        fn push(&mut self, event: impl Into<ConversationEvent>) -> &mut Self {
            let event = Event::Conversation(event.into());
            let new = NewEvent::encode(&event, Uuid::now_v7(), Utc::now(), Causation::root(Uuid::nil()));
            let (team, user) = (TeamId::new("ops").unwrap(), UserId::new("lisi").unwrap());
            let version = self.events.len() as u64 + 1;
            self.events.push(RecordedEvent {
                position: version * 10,
                stream: StreamId::conversation(&team, &user),
                version,
                team,
                event_id: new.event_id,
                commit_id: Uuid::now_v7(),
                event_type: new.event_type.to_owned(),
                schema_version: new.schema_version,
                occurred_at: new.occurred_at,
                correlation_id: Uuid::nil(),
                causation_id: None,
                payload: new.payload,
            });
            self
        }

        fn queued(&mut self, to: Recipient, purpose: OutboundPurpose, text: &str) -> &mut Self {
            let session_id = self.session;
            let channel = Channel::Websocket;
            self.push(AnswerQueued { session_id, outbound_id: Uuid::now_v7(), to, purpose, text: text.into(), channel })
        }
    }

    fn candidate(id: &str, question: &str) -> MatchCandidate {
        MatchCandidate {
            faq_id: FaqId::new(id).unwrap(),
            question: question.into(),
            answer: format!("answer of {id}"),
            category: None,
            score: 0.5,
            keyword_score: Some(0.5),
            semantic_score: None,
        }
    }

    fn operator() -> Recipient {
        Recipient::Operator(UserId::new("lisi").unwrap())
    }

    #[test]
    fn a_clarified_and_answered_question_shows_what_the_operator_needs_and_nothing_else() {
        let mut stream = Stream::new();
        let session_id = stream.session;
        let (stock, invoice) = (FaqId::new("stock").unwrap(), FaqId::new("invoice").unwrap());
        let message_id = MessageId("ws:c1".into());
        let user = UserId::new("lisi").unwrap();
        stream
            .push(SessionOpened { session_id, user, channel: Channel::Websocket })
            .push(MessageReceived {
                session_id,
                message_id: message_id.clone(),
                text: "奖品".into(),
                channel: Channel::Websocket,
            })
            .push(MatchRequested { session_id, message_id: message_id.clone(), query: "奖品".into() })
            .push(FaqMatched {
                session_id,
                message_id,
                query: "奖品".into(),
                candidates: vec![candidate("stock", "库存不足？"), candidate("invoice", "发票？")],
                confidence: 0.4,
                decision: MatchDecision::Clarify { choices: vec![stock.clone(), invoice.clone()] },
                engine: "test".into(),
                rephrased_by: None,
            })
            .queued(operator(), OutboundPurpose::Clarify, "1. 库存不足？\n2. 发票？")
            .push(RemarkAdded { session_id, author: StaffId::new("zhao").unwrap(), text: "internal".into() });
        let mut view = OperatorView::default();
        let shown = view.fold(&stream.events).unwrap();
        let items: Vec<_> = shown.iter().map(|e| e.item.clone()).collect();
        assert_eq!(items.len(), 3, "opened, the message, the clarification: {items:?}");
        assert_eq!(items[0], OperatorItem::SessionOpened { session_id });
        assert_eq!(
            items[1],
            OperatorItem::OperatorMessage { session_id, client_id: Some("c1".into()), text: "奖品".into() }
        );
        let OperatorItem::Reply { purpose, choices, asks_feedback, .. } = &items[2] else {
            panic!("a reply: {:?}", items[2]);
        };
        assert_eq!(*purpose, ReplyPurpose::Clarify);
        assert!(!asks_feedback);
        let offered: Vec<_> = choices.iter().map(|c| (c.number, c.question.as_str(), c.faq_id.clone())).collect();
        assert_eq!(offered, vec![(1, "库存不足？", stock.clone()), (2, "发票？", invoice)]);
        assert_eq!(shown[2].status, SessionStatus::AwaitingChoice);
        assert_eq!(shown.iter().map(|e| e.version).collect::<Vec<_>>(), vec![1, 2, 5]);
        assert_eq!(view.version(), 6, "hidden events are folded too");

        // Folding the same events again shows nothing: a re-read after a wake-up is safe.
        assert!(view.fold(&stream.events).unwrap().is_empty());

        stream
            .push(ChoiceSelected { session_id, choice: 1, faq_id: stock.clone() })
            .queued(operator(), OutboundPurpose::Answer { faq_id: stock.clone() }, "追加库存")
            .queued(Recipient::Staff(StaffId::new("wang").unwrap()), OutboundPurpose::AssigneeNotice, "for staff")
            .push(FeedbackGiven { session_id, resolved: true, faq_id: stock.clone() })
            .push(SessionClosed { session_id, reason: CloseReason::Resolved, by: Actor::System });
        let shown = view.fold(&stream.events).unwrap();
        let items: Vec<_> = shown.iter().map(|e| e.item.clone()).collect();
        assert_eq!(items.len(), 4, "choice, answer, feedback, close (not the staff notice): {items:?}");
        assert_eq!(items[0], OperatorItem::ChoiceSelected { choice: 1, faq_id: stock.clone() });
        assert!(matches!(
            &items[1],
            OperatorItem::Reply { purpose: ReplyPurpose::Answer, asks_feedback: true, faq_id: Some(f), .. } if *f == stock
        ));
        assert_eq!(items[2], OperatorItem::FeedbackGiven { resolved: true });
        assert_eq!(items[3], OperatorItem::SessionClosed { reason: CloseReason::Resolved });
        assert_eq!(shown[3].status, SessionStatus::Closed);
    }

    #[test]
    fn messages_from_other_channels_have_no_client_id() {
        let mut stream = Stream::new();
        let session_id = stream.session;
        let user = UserId::new("lisi").unwrap();
        stream.push(SessionOpened { session_id, user, channel: Channel::Wecom }).push(MessageReceived {
            session_id,
            message_id: MessageId("wecom-msg-1".into()),
            text: "hi".into(),
            channel: Channel::Wecom,
        });
        let shown = OperatorView::default().fold(&stream.events).unwrap();
        assert_eq!(shown[1].item, OperatorItem::OperatorMessage { session_id, client_id: None, text: "hi".into() });
    }
}
