//! Given/when/then for every transition and every rejection of the conversation.

#![allow(clippy::unwrap_used)]

mod scenario;

use chrono::Duration;
use scenario::*;
use switchboard_engine::conversation::{Command, DeliveryOutcome, Rejection};
use switchboard_engine::ports::Rephrased;
use switchboard_schemas::event::*;
use switchboard_schemas::{ConversationEvent, FaqId, MessageId};

fn answered(s: &mut Scenario) {
    s.given(message("m1", "奖品怎么发放？"));
    s.given(Command::ApplyMatch {
        message_id: MessageId("m1".into()),
        ranking: ranking(0.9, &["prize-1"]),
        rephrased: None,
    });
}

#[test]
fn a_first_message_opens_a_session_and_asks_for_a_match() {
    let mut s = Scenario::new(plain_policy());
    let events = s.when(message("m1", "奖品怎么发放？"));
    assert_eq!(events, ["SessionOpened", "MessageReceived", "MatchRequested", "TimerScheduled"]);
    assert_eq!(s.status(), SessionStatus::Matching);
}

#[test]
fn a_missing_required_field_is_asked_for_and_the_question_waits() {
    let mut s = Scenario::new(policy_with_activity_id());
    let events = s.when(message("m1", "活动开始时间怎么改？"));
    assert_eq!(events, ["SessionOpened", "MessageReceived", "InfoRequested", "AnswerQueued", "TimerScheduled"]);
    assert_eq!(s.status(), SessionStatus::Collecting);
    let events = s.when(message("m2", "活动ID是 123456"));
    assert_eq!(events, ["MessageReceived", "InfoProvided", "MatchRequested", "TimerCancelled", "TimerScheduled"]);
    let query = s.last(|e| match e {
        ConversationEvent::MatchRequested(m) => Some(m.query.clone()),
        _ => None,
    });
    assert_eq!(query, "活动开始时间怎么改？", "the original question is matched, not the id");
}

#[test]
fn a_field_given_with_the_question_is_not_asked_for() {
    let mut s = Scenario::new(policy_with_activity_id());
    let events = s.when(message("m1", "活动 123456 的开始时间怎么改？"));
    assert_eq!(events, ["SessionOpened", "MessageReceived", "InfoProvided", "MatchRequested", "TimerScheduled"]);
}

#[test]
fn a_reply_without_the_field_asks_again() {
    let mut s = Scenario::new(policy_with_activity_id());
    s.given(message("m1", "活动开始时间怎么改？"));
    let events = s.when(message("m2", "不知道"));
    assert_eq!(events, ["MessageReceived", "InfoRequested", "AnswerQueued", "TimerCancelled", "TimerScheduled"]);
    assert_eq!(s.status(), SessionStatus::Collecting);
}

#[test]
fn a_confident_match_is_answered_with_feedback_buttons() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "奖品怎么发放？"));
    let events = s.when(Command::ApplyMatch {
        message_id: MessageId("m1".into()),
        ranking: ranking(0.9, &["prize-1"]),
        rephrased: None,
    });
    assert_eq!(events, ["FaqMatched", "AnswerQueued", "TimerCancelled", "TimerScheduled"]);
    assert_eq!(s.status(), SessionStatus::Answered);
    assert!(s.outbound_texts().last().unwrap().starts_with("answer prize-1"));
}

fn reworded(faq: &str) -> Option<Rephrased> {
    Some(Rephrased { faq_id: FaqId::new(faq).unwrap(), text: format!("reworded {faq}"), model: "stand-in-1".into() })
}

fn rephrased_by(s: &Scenario) -> Option<String> {
    s.last(|e| match e {
        ConversationEvent::FaqMatched(m) => Some(m.rephrased_by.clone()),
        _ => None,
    })
}

#[test]
fn a_confident_match_with_a_rewording_of_its_faq_is_answered_in_those_words() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "奖品怎么发放？"));
    let ranking = ranking(0.9, &["prize-1"]);
    let events =
        s.when(Command::ApplyMatch { message_id: MessageId("m1".into()), ranking, rephrased: reworded("prize-1") });
    assert_eq!(events, ["FaqMatched", "AnswerQueued", "TimerCancelled", "TimerScheduled"]);
    let text = s.outbound_texts().pop().unwrap();
    assert!(text.starts_with("reworded prize-1") && !text.contains("answer prize-1"), "{text}");
    assert_eq!(rephrased_by(&s).as_deref(), Some("stand-in-1"), "the model is recorded with the match");
    assert_eq!(s.status(), SessionStatus::Answered);
}

#[test]
fn a_rewording_is_ignored_on_low_confidence_and_for_another_faq() {
    for (confidence, faq, outcome) in [
        (0.1, "prize-1", SessionStatus::WithHuman),
        (0.3, "prize-1", SessionStatus::AwaitingChoice),
        (0.9, "prize-2", SessionStatus::Answered),
    ] {
        let mut s = Scenario::new(plain_policy());
        s.given(message("m1", "奖品怎么发放？"));
        let ranking = ranking(confidence, &["prize-1", "prize-2"]);
        s.when(Command::ApplyMatch { message_id: MessageId("m1".into()), ranking, rephrased: reworded(faq) });
        assert_eq!(s.status(), outcome, "{confidence} {faq}");
        assert!(
            s.outbound_texts().iter().all(|t| !t.contains("reworded")),
            "{confidence} {faq}: {:?}",
            s.outbound_texts()
        );
        assert_eq!(rephrased_by(&s), None);
    }
}

#[test]
fn an_unsure_match_offers_numbered_choices_and_a_number_answers() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "奖品"));
    let ranking = ranking(0.3, &["a", "b", "c", "d"]);
    s.when(Command::ApplyMatch { message_id: MessageId("m1".into()), ranking, rephrased: None });
    assert_eq!(s.status(), SessionStatus::AwaitingChoice);
    let offered = s.outbound_texts().pop().unwrap();
    assert!(offered.contains("1. question a") && offered.contains("3. question c") && !offered.contains("question d"));
    let events = s.when(message("m2", "２"));
    assert_eq!(events, ["MessageReceived", "ChoiceSelected", "AnswerQueued", "TimerCancelled", "TimerScheduled"]);
    assert_eq!(s.status(), SessionStatus::Answered);
    assert!(s.outbound_texts().last().unwrap().starts_with("answer b"));
}

#[test]
fn words_instead_of_a_number_are_a_new_question() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "奖品"));
    s.given(Command::ApplyMatch {
        message_id: MessageId("m1".into()),
        ranking: ranking(0.3, &["a", "b"]),
        rephrased: None,
    });
    let events = s.when(message("m2", "其实是报名人数的问题"));
    assert_eq!(events, ["MessageReceived", "MatchRequested", "TimerCancelled", "TimerScheduled"]);
}

#[test]
fn a_low_confidence_match_transfers_to_the_on_call_engineer_of_the_category() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "系统报错 500"));
    let events = s.when(Command::ApplyMatch {
        message_id: MessageId("m1".into()),
        ranking: ranking(0.1, &["prize-1"]),
        rephrased: None,
    });
    assert_eq!(
        events,
        ["FaqMatched", "TransferredToHuman", "AnswerQueued", "AnswerQueued", "TimerCancelled", "TimerScheduled"]
    );
    let transfer = s.last(|e| match e {
        ConversationEvent::TransferredToHuman(t) => Some(t.clone()),
        _ => None,
    });
    assert_eq!(transfer.reason, TransferReason::LowConfidence);
    assert_eq!(transfer.mode, TransferMode::Auto);
    assert_eq!(transfer.assignee, Some(staff("wang")), "prizes go to wang");
    assert_eq!(s.status(), SessionStatus::WithHuman);
}

#[test]
fn no_candidates_at_all_transfer_to_the_default_rotation() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "???"));
    s.when(Command::ApplyMatch { message_id: MessageId("m1".into()), ranking: ranking(0.0, &[]), rephrased: None });
    let transfer = s.last(|e| match e {
        ConversationEvent::TransferredToHuman(t) => Some(t.assignee.clone()),
        _ => None,
    });
    assert_eq!(transfer, Some(staff("zhao")));
}

#[test]
fn a_match_for_an_older_message_is_ignored() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "奖品"));
    s.given(message("m2", "怎么发放"));
    let events = s.when(Command::ApplyMatch {
        message_id: MessageId("m1".into()),
        ranking: ranking(0.9, &["a"]),
        rephrased: None,
    });
    assert!(events.is_empty());
    let events = s.when(Command::ApplyMatch {
        message_id: MessageId("m2".into()),
        ranking: ranking(0.9, &["a"]),
        rephrased: None,
    });
    assert_eq!(events[0], "FaqMatched");
    let again = s.when(Command::ApplyMatch {
        message_id: MessageId("m2".into()),
        ranking: ranking(0.9, &["a"]),
        rephrased: None,
    });
    assert!(again.is_empty(), "applying the same match twice changes nothing");
}

#[test]
fn resolved_feedback_closes_the_session() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    let events = s.when(Command::GiveFeedback { resolved: true });
    assert_eq!(events, ["FeedbackGiven", "TimerCancelled", "AnswerQueued", "SessionClosed"]);
    assert_eq!(s.status(), SessionStatus::Closed);
}

#[test]
fn not_resolved_feedback_transfers_to_a_person() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    let events = s.when(Command::GiveFeedback { resolved: false });
    assert_eq!(events[..2], ["FeedbackGiven", "TransferredToHuman"]);
    let reason = s.last(|e| match e {
        ConversationEvent::TransferredToHuman(t) => Some(t.reason),
        _ => None,
    });
    assert_eq!(reason, TransferReason::NotResolved);
}

#[test]
fn feedback_in_words_counts_as_feedback() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    let events = s.when(message("m2", "没解决"));
    assert_eq!(events[..3], ["MessageReceived", "FeedbackGiven", "TransferredToHuman"]);
}

#[test]
fn feedback_without_an_answer_is_rejected() {
    let mut s = Scenario::new(plain_policy());
    assert_eq!(s.rejects(Command::GiveFeedback { resolved: true }), Rejection::NoSession);
    s.given(message("m1", "奖品"));
    assert_eq!(s.rejects(Command::GiveFeedback { resolved: true }), Rejection::NotAwaitingFeedback);
}

#[test]
fn asking_for_a_person_transfers_at_once() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "奖品"));
    let events = s.when(message("m2", "转人工"));
    assert_eq!(events[..2], ["MessageReceived", "TransferredToHuman"]);
    assert_eq!(s.status(), SessionStatus::WithHuman);
    assert_eq!(s.rejects(Command::RequestHuman), Rejection::AlreadyWithHuman);
}

#[test]
fn the_first_message_can_ask_for_a_person() {
    let mut s = Scenario::new(policy_with_activity_id());
    let events = s.when(message("m1", "human"));
    assert_eq!(events[..3], ["SessionOpened", "MessageReceived", "TransferredToHuman"]);
}

#[test]
fn the_operator_menu_asks_for_a_person() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    let events = s.when(Command::RequestHuman);
    assert_eq!(events[0], "TransferredToHuman");
}

#[test]
fn a_transfer_to_someone_outside_the_team_is_refused() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    let stranger = staff("stranger");
    assert_eq!(
        s.rejects(Command::Transfer { by: staff("lead"), to: Some(stranger.clone()) }),
        Rejection::NotStaff(stranger)
    );
}

#[test]
fn staff_transfer_manually_to_a_named_engineer() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    s.when(Command::Transfer { by: staff("lead"), to: Some(staff("li")) });
    let transfer = s.last(|e| match e {
        ConversationEvent::TransferredToHuman(t) => Some(t.clone()),
        _ => None,
    });
    assert_eq!((transfer.mode, transfer.assignee), (TransferMode::Manual, Some(staff("li"))));
    let notice = s.last(|e| match e {
        ConversationEvent::AnswerQueued(q) if q.purpose == OutboundPurpose::AssigneeNotice => Some(q.to.clone()),
        _ => None,
    });
    assert_eq!(notice, Recipient::Staff(staff("li")));
    assert_eq!(
        s.rejects(Command::Transfer { by: staff("lead"), to: Some(staff("li")) }),
        Rejection::AlreadyAssigned(staff("li"))
    );
}

#[test]
fn messages_while_with_a_person_are_only_recorded() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "人工"));
    let events = s.when(message("m2", "活动 123 打不开"));
    assert_eq!(events, ["MessageReceived", "TimerCancelled", "TimerScheduled"]);
}

#[test]
fn a_human_reply_reaches_the_operator_and_takes_the_session() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    let events = s.when(Command::HumanReply { staff: staff("li"), text: "我来看看".into() });
    assert_eq!(events[..2], ["TransferredToHuman", "AnswerQueued"]);
    assert!(events.contains(&"HumanReplied"));
    assert_eq!(s.status(), SessionStatus::WithHuman);
    let events = s.when(Command::HumanReply { staff: staff("li"), text: "好了".into() });
    assert_eq!(events, ["HumanReplied", "AnswerQueued", "TimerCancelled", "TimerScheduled"]);
    assert_eq!(s.rejects(Command::HumanReply { staff: staff("li"), text: " ".into() }), Rejection::EmptyText);
}

#[test]
fn remarks_are_allowed_on_open_and_closed_sessions() {
    let mut s = Scenario::new(plain_policy());
    assert_eq!(s.rejects(Command::AddRemark { author: staff("li"), text: "x".into() }), Rejection::NoSession);
    answered(&mut s);
    assert_eq!(s.when(Command::AddRemark { author: staff("li"), text: "VIP".into() }), ["RemarkAdded"]);
    s.given(Command::Close { by: staff("li") });
    assert_eq!(s.when(Command::AddRemark { author: staff("li"), text: "done".into() }), ["RemarkAdded"]);
    assert_eq!(s.rejects(Command::AddRemark { author: staff("li"), text: "".into() }), Rejection::EmptyText);
}

#[test]
fn staff_change_the_status_to_waiting_and_back() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "人工"));
    let events = s.when(Command::ChangeStatus { by: staff("li"), to: SessionStatus::Waiting });
    // Working on a handed-over session acknowledges it.
    assert_eq!(events, ["StatusChanged", "HandoverAcknowledged"]);
    assert_eq!(s.status(), SessionStatus::Waiting);
    let events = s.when(message("m2", "我回来了"));
    assert_eq!(events[..2], ["MessageReceived", "StatusChanged"]);
    assert_eq!(s.status(), SessionStatus::WithHuman);
    assert_eq!(
        s.rejects(Command::ChangeStatus { by: staff("li"), to: SessionStatus::WithHuman }),
        Rejection::StatusUnchanged(SessionStatus::WithHuman)
    );
    assert_eq!(
        s.rejects(Command::ChangeStatus { by: staff("li"), to: SessionStatus::Answered }),
        Rejection::InvalidStatusTarget(SessionStatus::Answered)
    );
    let events = s.when(Command::ChangeStatus { by: staff("li"), to: SessionStatus::Closed });
    assert_eq!(events, ["StatusChanged", "TimerCancelled", "SessionClosed"]);
}

#[test]
fn staff_and_operators_close_sessions() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    assert_eq!(s.when(Command::CloseByOperator), ["TimerCancelled", "SessionClosed"]);
    assert_eq!(s.rejects(Command::CloseByOperator), Rejection::NoActiveSession);
    assert_eq!(s.rejects(Command::Close { by: staff("li") }), Rejection::NoActiveSession);
}

#[test]
fn a_closed_session_can_be_reopened_and_goes_to_a_person() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    assert_eq!(s.rejects(Command::Reopen { by: Actor::Staff(staff("li")) }), Rejection::NotClosed);
    s.given(Command::GiveFeedback { resolved: true });
    let events = s.when(Command::Reopen { by: Actor::Staff(staff("li")) });
    assert_eq!(events[..2], ["SessionReopened", "TransferredToHuman"]);
    assert_eq!(s.status(), SessionStatus::WithHuman);
}

#[test]
fn a_message_after_close_opens_a_new_session() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    s.given(Command::GiveFeedback { resolved: true });
    let first = s.state().session.unwrap().id;
    let events = s.when(message("m2", "另一个问题：报名上限怎么设置"));
    assert_eq!(events[..3], ["SessionOpened", "MessageReceived", "MatchRequested"]);
    let state = s.state();
    assert_ne!(state.session.unwrap().id, first);
    assert_eq!(state.sessions_opened, 2);
}

#[test]
fn a_retried_message_id_changes_nothing() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "奖品"));
    assert!(s.when(message("m1", "奖品")).is_empty());
}

#[test]
fn empty_and_oversized_messages_are_rejected() {
    let mut s = Scenario::new(plain_policy());
    assert_eq!(s.rejects(message("m1", "  ")), Rejection::EmptyText);
    let long = "长".repeat(2001);
    assert_eq!(s.rejects(message("m2", &long)), Rejection::MessageTooLong { chars: 2001, max: 2000 });
}

#[test]
fn silence_brings_a_reconfirmation_then_a_stale_close() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    let reconfirm = s.pending_timer();
    assert_eq!(
        s.rejects(Command::FireTimer { timer_id: reconfirm }),
        Rejection::TimerNotDue(s.state().session.unwrap().pending_timer.unwrap().due_at)
    );
    s.advance(Duration::minutes(30));
    let events = s.when(Command::FireTimer { timer_id: reconfirm });
    assert_eq!(events, ["TimerFired", "ReconfirmSent", "AnswerQueued", "TimerScheduled"]);
    assert_eq!(s.status(), SessionStatus::Reconfirming);
    let close = s.pending_timer();
    s.advance(Duration::minutes(30));
    let events = s.when(Command::FireTimer { timer_id: close });
    assert_eq!(events, ["TimerFired", "AnswerQueued", "SessionClosed"]);
    let reason = s.last(|e| match e {
        ConversationEvent::SessionClosed(c) => Some(c.reason),
        _ => None,
    });
    assert_eq!(reason, CloseReason::Stale);
}

#[test]
fn a_reply_to_the_reconfirmation_cancels_the_close() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    s.advance(Duration::minutes(31));
    let reconfirm = s.pending_timer();
    s.given(Command::FireTimer { timer_id: reconfirm });
    let close = s.pending_timer();
    let events = s.when(message("m2", "还需要，奖品没到账"));
    assert!(events.contains(&"TimerCancelled"));
    assert_eq!(s.status(), SessionStatus::Matching);
    s.advance(Duration::hours(2));
    assert!(s.when(Command::FireTimer { timer_id: close }).is_empty(), "a cancelled timer is ignored");
}

#[test]
fn a_timer_fires_once() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    let timer = s.pending_timer();
    s.advance(Duration::hours(1));
    assert!(!s.when(Command::FireTimer { timer_id: timer }).is_empty());
    assert!(s.when(Command::FireTimer { timer_id: timer }).is_empty());
}

#[test]
fn a_group_chat_is_requested_once_with_the_assignee_and_on_call() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "奖品"));
    s.given(Command::ApplyMatch { message_id: MessageId("m1".into()), ranking: ranking(0.1, &["a"]), rephrased: None });
    s.given(Command::Transfer { by: staff("lead"), to: Some(staff("li")) });
    assert_eq!(s.rejects(Command::RecordGroupChat { chat_id: "c1".into() }), Rejection::NoGroupChatRequested);
    let events = s.when(Command::RequestGroupChat { by: Actor::Operator(user()) });
    assert_eq!(events, ["GroupChatRequested"]);
    let members = s.last(|e| match e {
        ConversationEvent::GroupChatRequested(g) => Some(g.staff.clone()),
        _ => None,
    });
    assert_eq!(members, [staff("li"), staff("wang")]);
    assert!(s.when(Command::RequestGroupChat { by: Actor::Staff(staff("li")) }).is_empty());
    assert_eq!(s.when(Command::RecordGroupChat { chat_id: "c1".into() }), ["GroupChatCreated"]);
    assert!(s.when(Command::RecordGroupChat { chat_id: "c1".into() }).is_empty());
}

#[test]
fn a_group_chat_needs_someone_on_call() {
    let mut s =
        Scenario::new(switchboard_engine::policy::TeamPolicy::new(TeamSettings::default(), Roster::default()).unwrap());
    s.given(message("m1", "奖品"));
    assert_eq!(s.rejects(Command::RequestGroupChat { by: Actor::Operator(user()) }), Rejection::NobodyOnCall);
}

#[test]
fn delivery_outcomes_are_recorded_once() {
    let mut s = Scenario::new(plain_policy());
    answered(&mut s);
    let outbound = s.last(|e| match e {
        ConversationEvent::AnswerQueued(q) => Some(q.outbound_id),
        _ => None,
    });
    let failed = DeliveryOutcome::Failed { error: "45009 rate limited".into(), gave_up: false };
    assert_eq!(s.when(Command::RecordDelivery { outbound_id: outbound, outcome: failed }), ["DeliveryFailed"]);
    let delivered = Command::RecordDelivery { outbound_id: outbound, outcome: DeliveryOutcome::Delivered };
    assert_eq!(s.when(delivered.clone()), ["AnswerDelivered"]);
    let attempt = s.last(|e| match e {
        ConversationEvent::AnswerDelivered(d) => Some(d.attempt),
        _ => None,
    });
    assert_eq!(attempt, 2);
    assert!(s.when(delivered).is_empty(), "a second outcome for the same message is ignored");
    assert!(s.state().pending_deliveries.is_empty());
}

#[test]
fn commands_on_a_conversation_without_a_session_are_rejected() {
    let mut s = Scenario::new(plain_policy());
    assert_eq!(s.rejects(Command::RequestHuman), Rejection::NoSession);
    assert_eq!(s.rejects(Command::Close { by: staff("li") }), Rejection::NoSession);
    assert_eq!(s.rejects(Command::Reopen { by: Actor::Staff(staff("li")) }), Rejection::NoSession);
    assert_eq!(s.rejects(Command::HumanReply { staff: staff("li"), text: "hi".into() }), Rejection::NoSession);
    assert_eq!(s.rejects(Command::ChangeStatus { by: staff("li"), to: SessionStatus::Waiting }), Rejection::NoSession);
    assert_eq!(s.rejects(Command::RequestGroupChat { by: Actor::System }), Rejection::NoSession);
}

#[test]
fn a_team_policy_can_open_a_group_chat_on_every_transfer() {
    let mut settings = TeamSettings { group_chat_on_transfer: true, ..TeamSettings::default() };
    settings.human_keywords = vec!["人工".into()];
    let roster = Roster { default: vec![staff("zhao")], ..Roster::default() };
    let policy =
        switchboard_engine::policy::TeamPolicy::new(settings, roster).unwrap().with_key_holders([staff("qian")]);
    let mut s = Scenario::new(policy);
    s.given(message("m1", "系统报错 500"));
    let events = s.when(message("m2", "人工"));
    assert!(events.contains(&"TransferredToHuman") && events.contains(&"GroupChatRequested"), "{events:?}");
    let request = s.last(|e| match e {
        ConversationEvent::GroupChatRequested(r) => Some(r.clone()),
        _ => None,
    });
    assert_eq!((request.by, request.staff), (Actor::System, vec![staff("zhao")]));
    // A later transfer of the same session asks for no second chat.
    let events = s.when(Command::Transfer { by: staff("zhao"), to: Some(staff("qian")) });
    assert!(!events.contains(&"GroupChatRequested"), "{events:?}");
    // Without the setting, a transfer opens no chat.
    let mut plain = Scenario::new(plain_policy());
    plain.given(message("m1", "系统报错 500"));
    assert!(!plain.when(message("m2", "人工")).contains(&"GroupChatRequested"));
}
