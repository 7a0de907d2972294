//! Given/when/then and property tests of hand-over escalation, acknowledgment, response
//! targets and after-hours routing.

#![allow(clippy::unwrap_used)]

mod scenario;

use chrono::{Duration, NaiveTime};
use proptest::prelude::*;
use scenario::*;
use switchboard_engine::conversation::{Command, Rejection};
use switchboard_engine::policy::TeamPolicy;
use switchboard_oncall::{Schedule, Staffing};
use switchboard_schemas::event::*;
use switchboard_schemas::oncall::{
    ClockKind, EscalationPolicy, EscalationStep, EscalationTarget, Handoff, Layer, OnCallSettings, ResponseTargets,
    ShiftLength, ShiftUnit, TeamCalendar, Weekday, WorkingHours,
};
use switchboard_schemas::{ConversationEvent, StaffId};

fn layer(name: &str, people: &[&str]) -> Layer {
    Layer {
        name: name.into(),
        participants: people.iter().map(|p| staff(p)).collect(),
        shift: ShiftLength { count: 1, unit: ShiftUnit::Weeks },
        handoff: Handoff { weekday: Some(Weekday::Mon), time: NaiveTime::from_hms_opt(9, 0, 0).unwrap() },
        starts_on: "2026-11-23".parse().unwrap(),
    }
}

/// Primary zhao → qian, secondary sun, lead `lead`; escalation: the assignee (5 min), the
/// next layer (10 min), the leads and a group chat (15 min); targets: acknowledge in 10 min,
/// first reply in 30, resolution in 240.
fn on_call(clock: ClockKind, calendar: TeamCalendar) -> OnCallSettings {
    let step = |notify: Vec<EscalationTarget>, wait_minutes| EscalationStep { notify, wait_minutes };
    OnCallSettings {
        time_zone: "Asia/Shanghai".into(),
        default: vec![layer("primary", &["zhao", "qian"]), layer("secondary", &["sun"])],
        calendar,
        escalation: EscalationPolicy {
            steps: vec![
                step(vec![EscalationTarget::Assignee], 5),
                step(vec![EscalationTarget::NextLayer], 10),
                step(vec![EscalationTarget::Leads, EscalationTarget::GroupChat], 15),
            ],
            clock,
        },
        targets: ResponseTargets {
            acknowledge_minutes: Some(10),
            first_reply_minutes: Some(30),
            resolution_minutes: Some(240),
            clock,
        },
        leads: vec![staff("lead")],
        ..OnCallSettings::default()
    }
}

fn policy_with(settings: OnCallSettings, staffing: Staffing) -> TeamPolicy {
    TeamPolicy::new(TeamSettings::default(), Roster::default())
        .unwrap()
        .with_on_call(Schedule::new(settings).unwrap(), staffing)
}

fn escalating() -> Scenario {
    Scenario::new(policy_with(on_call(ClockKind::Wall, TeamCalendar::default()), Staffing::default()))
}

/// Fires every hand-over timer due by now, earliest first; returns the event types.
fn fire_due(s: &mut Scenario) -> Vec<&'static str> {
    let mut types = Vec::new();
    loop {
        let due = s
            .state()
            .session
            .and_then(|x| x.handover_timers.iter().filter(|t| t.due_at <= s.now).min_by_key(|t| t.due_at).copied());
        let Some(timer) = due else { return types };
        types.extend(s.when(Command::FireTimer { timer_id: timer.timer_id }));
    }
}

fn steps(s: &Scenario) -> Vec<(u32, Vec<StaffId>)> {
    s.history
        .iter()
        .filter_map(|e| match e {
            ConversationEvent::EscalationStepTaken(x) => Some((x.step, x.notified.clone())),
            _ => None,
        })
        .collect()
}

fn escalation_notices(s: &Scenario) -> Vec<Recipient> {
    s.history
        .iter()
        .filter_map(|e| match e {
            ConversationEvent::AnswerQueued(q) if q.purpose == OutboundPurpose::Escalation => Some(q.to.clone()),
            _ => None,
        })
        .collect()
}

fn missed(s: &Scenario) -> Vec<switchboard_schemas::oncall::TargetKind> {
    s.history
        .iter()
        .filter_map(|e| match e {
            ConversationEvent::ResponseTargetMissed(m) => Some(m.target),
            _ => None,
        })
        .collect()
}

#[test]
fn an_unacknowledged_hand_over_escalates_through_every_step() {
    // Given a team with a three-step escalation policy,
    let mut s = escalating();
    // when an operator asks for a person, the primary (zhao) gets the hand-over and the
    // first step is taken (zhao already has the notice), the next one due in 5 minutes;
    s.given(message("m1", "人工"));
    assert_eq!(s.state().session.unwrap().assignee, Some(staff("zhao")));
    assert_eq!(steps(&s), [(0, vec![])]);
    let escalate = s.state().session.unwrap().handover_timers;
    let next = escalate.iter().find(|t| t.purpose == TimerPurpose::Escalate).unwrap();
    assert_eq!(next.due_at, t0() + Duration::minutes(5));
    // a minute early the timer is refused;
    s.advance(Duration::minutes(4));
    assert_eq!(s.rejects(Command::FireTimer { timer_id: next.timer_id }), Rejection::TimerNotDue(next.due_at));
    // then at 5 minutes the secondary layer (sun) is notified,
    s.advance(Duration::minutes(1));
    fire_due(&mut s);
    assert_eq!(steps(&s)[1], (1, vec![staff("sun")]));
    // at 10 the acknowledgment target is missed, at 15 the lead is notified and a group
    // chat with zhao and the lead is requested;
    s.advance(Duration::minutes(10));
    fire_due(&mut s);
    assert_eq!(steps(&s)[2], (2, vec![staff("lead")]));
    assert_eq!(escalation_notices(&s), [Recipient::Staff(staff("sun")), Recipient::Staff(staff("lead"))]);
    let chat = s.last(|e| match e {
        ConversationEvent::GroupChatRequested(g) => Some(g.staff.clone()),
        _ => None,
    });
    assert_eq!(chat, [staff("zhao"), staff("lead")]);
    assert_eq!(missed(&s), [switchboard_schemas::oncall::TargetKind::Acknowledge]);
    // and the chain is over: no further step, however long nobody answers.
    let left: Vec<TimerPurpose> = s.state().session.unwrap().handover_timers.iter().map(|t| t.purpose).collect();
    assert!(!left.contains(&TimerPurpose::Escalate));
    s.advance(Duration::hours(5));
    fire_due(&mut s);
    assert_eq!(steps(&s).len(), 3);
    assert_eq!(
        missed(&s),
        [
            switchboard_schemas::oncall::TargetKind::Acknowledge,
            switchboard_schemas::oncall::TargetKind::FirstReply,
            switchboard_schemas::oncall::TargetKind::Resolution
        ]
    );
}

#[test]
fn acknowledging_stops_the_chain_and_meets_the_target() {
    let mut s = escalating();
    s.given(message("m1", "人工"));
    let old = s.state().session.unwrap().handover_timers;
    // When zhao presses Acknowledge,
    let events = s.when(Command::Acknowledge { by: staff("zhao"), session_id: None, notice: None });
    assert_eq!(events, ["HandoverAcknowledged", "TimerCancelled", "TimerCancelled"]);
    // then the escalation and the acknowledgment target are cancelled, pressing again
    // changes nothing, and the old timers firing later do nothing.
    assert!(s.when(Command::Acknowledge { by: staff("zhao"), session_id: None, notice: None }).is_empty());
    s.advance(Duration::hours(1));
    for timer in old.iter().filter(|t| t.purpose == TimerPurpose::Escalate) {
        assert!(s.when(Command::FireTimer { timer_id: timer.timer_id }).is_empty());
    }
    fire_due(&mut s);
    assert_eq!(steps(&s).len(), 1);
    // The first-reply target still runs: acknowledging is not replying.
    assert_eq!(missed(&s), [switchboard_schemas::oncall::TargetKind::FirstReply]);
    // Someone not of the team cannot acknowledge.
    assert_eq!(
        s.rejects(Command::Acknowledge { by: staff("stranger"), session_id: None, notice: None }),
        Rejection::NotStaff(staff("stranger"))
    );
}

#[test]
fn a_reply_stops_the_chain_a_reassignment_restarts_it_and_a_close_ends_everything() {
    let mut s = escalating();
    s.given(message("m1", "人工"));
    // A reply meets the acknowledgment and first-reply targets.
    s.advance(Duration::minutes(2));
    s.given(Command::HumanReply { staff: staff("zhao"), text: "在看了 looking".into() });
    let left: Vec<TimerPurpose> = s.state().session.unwrap().handover_timers.iter().map(|t| t.purpose).collect();
    assert_eq!(left, [TimerPurpose::ResolutionTarget]);
    // Reassigned to qian by the lead: a new chain for qian from its first step.
    s.given(Command::Transfer { by: staff("lead"), to: Some(staff("qian")) });
    assert_eq!(steps(&s).iter().map(|(step, _)| *step).collect::<Vec<_>>(), [0, 0]);
    s.advance(Duration::minutes(5));
    fire_due(&mut s);
    assert_eq!(steps(&s).last().unwrap().0, 1);
    // Closed: no timer of the hand-over is left, nothing fires afterwards.
    s.given(Command::Close { by: staff("qian") });
    assert!(s.state().session.unwrap().handover_timers.is_empty());
    s.advance(Duration::hours(10));
    assert!(fire_due(&mut s).is_empty());
    assert!(missed(&s).is_empty());
}

#[test]
fn taking_a_session_yourself_is_an_acknowledgment() {
    let mut s = escalating();
    s.given(message("m1", "活动打不开"));
    s.given(Command::ApplyMatch {
        message_id: switchboard_schemas::MessageId("m1".into()),
        ranking: ranking(0.9, &["a"]),
        rephrased: None,
    });
    let events = s.when(Command::Transfer { by: staff("qian"), to: Some(staff("qian")) });
    assert!(events.contains(&"HandoverAcknowledged"));
    assert!(steps(&s).is_empty(), "no chain for a session its assignee took");
}

#[test]
fn asking_again_while_waiting_keeps_the_hand_over_and_its_chain() {
    let mut s = escalating();
    s.given(message("m1", "人工"));
    s.given(Command::Acknowledge { by: staff("zhao"), session_id: None, notice: None });
    s.given(Command::ChangeStatus { by: staff("zhao"), to: SessionStatus::Waiting });
    // The operator asks for a person again: zhao still has it, acknowledged; no new chain.
    s.advance(Duration::minutes(1));
    s.given(message("m2", "人工"));
    let session = s.state().session.unwrap();
    assert_eq!((session.assignee.clone(), session.acknowledged), (Some(staff("zhao")), true));
    assert_eq!(session.status(), SessionStatus::WithHuman);
    assert_eq!(steps(&s).len(), 1, "no chain restarted by the operator");
    s.advance(Duration::hours(1));
    fire_due(&mut s);
    assert!(missed(&s).iter().all(|m| *m != switchboard_schemas::oncall::TargetKind::Acknowledge));
}

#[test]
fn setting_the_status_acknowledges_even_when_the_chain_is_over() {
    let mut s = escalating();
    s.given(message("m1", "人工"));
    // Past the last step (taken at 15 minutes); the acknowledgment target fell at 10.
    s.advance(Duration::minutes(16));
    fire_due(&mut s);
    let before = missed(&s).len();
    let events = s.when(Command::ChangeStatus { by: staff("zhao"), to: SessionStatus::Waiting });
    assert!(events.contains(&"HandoverAcknowledged"), "{events:?}");
    s.advance(Duration::hours(5));
    fire_due(&mut s);
    assert_eq!(missed(&s).len(), before + 2, "first reply and resolution still run, acknowledgment is met");
}

#[test]
fn a_button_of_an_earlier_session_acknowledges_nothing() {
    let mut s = escalating();
    s.given(message("m1", "人工"));
    let current = s.state().session.unwrap().id;
    let other = uuid::Uuid::from_u128(42);
    assert_eq!(
        s.rejects(Command::Acknowledge { by: staff("zhao"), session_id: Some(other), notice: None }),
        Rejection::OtherSession
    );
    assert!(switchboard_engine::conversation::is_harmless_repeat(
        &Command::Acknowledge { by: staff("zhao"), session_id: Some(other), notice: None },
        &Rejection::OtherSession
    ));
    let events = s.when(Command::Acknowledge { by: staff("zhao"), session_id: Some(current), notice: None });
    assert_eq!(events[0], "HandoverAcknowledged");
}

/// The cards (assignee notices and escalations) sent so far, by the person they went to.
fn cards(s: &Scenario) -> Vec<(uuid::Uuid, Recipient)> {
    s.history
        .iter()
        .filter_map(|e| match e {
            ConversationEvent::AnswerQueued(q)
                if matches!(q.purpose, OutboundPurpose::AssigneeNotice | OutboundPurpose::Escalation) =>
            {
                Some((q.outbound_id, q.to.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_card_of_an_earlier_hand_over_acknowledges_nothing_and_the_current_card_does() {
    // Given a session handed to zhao, whose card is on his phone,
    let mut s = escalating();
    s.given(message("m1", "人工"));
    let session = Some(s.state().session.unwrap().id);
    let (zhaos_card, to) = cards(&s)[0].clone();
    assert_eq!(to, Recipient::Staff(staff("zhao")));
    // and then reassigned to qian, who gets a card of her own,
    s.given(Command::Transfer { by: staff("lead"), to: Some(staff("qian")) });
    let (qians_card, to) = cards(&s).last().cloned().unwrap();
    assert_eq!(to, Recipient::Staff(staff("qian")));
    // when zhao presses Acknowledge on his old card, nothing is written and the retry rule
    // takes it as harmless;
    let old = Command::Acknowledge { by: staff("zhao"), session_id: session, notice: Some(zhaos_card) };
    assert_eq!(s.rejects(old.clone()), Rejection::EarlierHandover);
    assert!(switchboard_engine::conversation::is_harmless_repeat(&old, &Rejection::EarlierHandover));
    assert!(!s.state().session.unwrap().acknowledged);
    // then qian's own card acknowledges her hand-over.
    let events = s.when(Command::Acknowledge { by: staff("qian"), session_id: session, notice: Some(qians_card) });
    assert_eq!(events[0], "HandoverAcknowledged");
}

#[test]
fn a_person_replying_at_night_is_not_announced_as_back_tomorrow() {
    let mut s = Scenario::new(policy_with(on_call(ClockKind::Working, office_hours()), Staffing::default()));
    // Saturday night: the engineer replies to an answered session.
    s.advance(Duration::days(5) + Duration::hours(13));
    s.given(message("m1", "活动打不开"));
    s.given(Command::ApplyMatch {
        message_id: switchboard_schemas::MessageId("m1".into()),
        ranking: ranking(0.9, &["a"]),
        rephrased: None,
    });
    s.given(Command::HumanReply { staff: staff("qian"), text: "我来看看".into() });
    let texts = s.outbound_texts();
    assert!(texts.iter().all(|t| !t.contains("非工作时间")), "{texts:?}");
    // And the one who took it gets no hand-over card about it.
    let notices = s
        .history
        .iter()
        .filter(|e| matches!(e, ConversationEvent::AnswerQueued(q) if q.purpose == OutboundPurpose::AssigneeNotice))
        .count();
    assert_eq!(notices, 0);
}

#[test]
fn routing_passes_over_the_away_primary_and_escalation_follows_the_next_layer() {
    let mut staffing = Staffing::default();
    staffing.away.insert(staff("zhao"));
    let mut s = Scenario::new(policy_with(on_call(ClockKind::Wall, TeamCalendar::default()), staffing));
    s.given(message("m1", "人工"));
    // zhao is away: qian, next in the primary layer, has it.
    assert_eq!(s.state().session.unwrap().assignee, Some(staff("qian")));
    s.advance(Duration::minutes(5));
    fire_due(&mut s);
    assert_eq!(steps(&s)[1], (1, vec![staff("sun")]));
}

#[test]
fn a_transfer_to_on_call_while_nobody_is_on_call_keeps_the_chain_waiting() {
    // Given everyone away, a hand-over goes to nobody and its first step is taken;
    let mut staffing = Staffing::default();
    staffing.away.extend([staff("zhao"), staff("qian"), staff("sun")]);
    let mut s = Scenario::new(policy_with(on_call(ClockKind::Wall, TeamCalendar::default()), staffing));
    s.given(message("m1", "人工"));
    assert_eq!(s.state().session.unwrap().assignee, None);
    assert_eq!(steps(&s).len(), 1);
    // when the lead hands it "to on call" a minute later, and nobody is on call still,
    s.advance(Duration::minutes(1));
    s.given(Command::Transfer { by: staff("lead"), to: None });
    // then no step is taken early: the next one still waits for its time.
    assert_eq!(steps(&s).len(), 1, "the transfer did not take the next step");
    let next = s.state().session.unwrap().handover_timers.into_iter().find(|t| t.purpose == TimerPurpose::Escalate);
    assert_eq!(next.map(|t| t.due_at), Some(t0() + Duration::minutes(5)));
}

/// Mon–Fri 09:00–18:00 Shanghai.
fn office_hours() -> TeamCalendar {
    let hours = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri]
        .into_iter()
        .map(|weekday| WorkingHours {
            weekday,
            from: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            until: NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
        })
        .collect();
    TeamCalendar { hours, ..TeamCalendar::default() }
}

#[test]
fn working_time_escalation_waits_over_the_weekend_and_operators_hear_when_people_are_back() {
    let mut s = Scenario::new(policy_with(on_call(ClockKind::Working, office_hours()), Staffing::default()));
    // t0 is Monday 2026-11-23 09:00 UTC = 17:00 Shanghai; move to Friday 17:58 Shanghai.
    s.advance(Duration::days(4) + Duration::minutes(58));
    s.given(message("m1", "人工"));
    // The step after the first falls due 5 working minutes later: Monday 09:03 Shanghai.
    let escalate = s.state().session.unwrap().handover_timers;
    let next = escalate.iter().find(|t| t.purpose == TimerPurpose::Escalate).unwrap();
    assert_eq!(next.due_at.to_rfc3339(), "2026-11-30T01:03:00+00:00");
    // Over the weekend nothing fires.
    s.advance(Duration::days(2));
    assert!(fire_due(&mut s).is_empty());
    // A question on Saturday is told when people are back, in the team's zone.
    let mut weekend = Scenario::new(policy_with(on_call(ClockKind::Working, office_hours()), Staffing::default()));
    weekend.advance(Duration::days(5));
    weekend.given(message("m1", "人工"));
    let notice = weekend.last(|e| match e {
        ConversationEvent::AnswerQueued(q) if q.purpose == OutboundPurpose::TransferNotice => Some(q.text.clone()),
        _ => None,
    });
    assert!(notice.contains("2026-11-30 09:00"), "{notice}");
}

#[test]
fn outside_working_hours_the_bot_still_answers_from_the_faq() {
    // Saturday, no one at work: a question the FAQ answers confidently is answered as on any
    // day, with no hand-over, no after-hours notice and no timer of on call.
    let mut s = Scenario::new(policy_with(on_call(ClockKind::Working, office_hours()), Staffing::default()));
    s.advance(Duration::days(5));
    s.given(message("m1", "奖品库存不足怎么办"));
    let events = s.when(Command::ApplyMatch {
        message_id: switchboard_schemas::MessageId("m1".into()),
        ranking: ranking(0.9, &["prize-stock"]),
        rephrased: None,
    });
    let answer = s.last(|e| match e {
        ConversationEvent::AnswerQueued(q) => Some(q.purpose.clone()),
        _ => None,
    });
    assert_eq!(answer, OutboundPurpose::Answer { faq_id: switchboard_schemas::FaqId::new("prize-stock").unwrap() });
    assert!(!events.contains(&"TransferredToHuman"), "{events:?}");
    assert!(s.state().session.unwrap().handover_timers.is_empty());
}

#[test]
fn a_target_timer_fired_late_after_hours_still_records_its_miss_at_its_time() {
    // Monday 17:00 Shanghai (t0), office hours to 18:00: the acknowledgment target falls at
    // 17:10. The instance was down; the timer fires at 22:00, outside working hours.
    let mut s = Scenario::new(policy_with(on_call(ClockKind::Working, office_hours()), Staffing::default()));
    s.given(message("m1", "人工"));
    let target = s
        .state()
        .session
        .unwrap()
        .handover_timers
        .into_iter()
        .find(|t| t.purpose == TimerPurpose::AcknowledgeTarget)
        .unwrap();
    assert_eq!(target.due_at, t0() + Duration::minutes(10));
    s.advance(Duration::hours(5));
    s.given(Command::FireTimer { timer_id: target.timer_id });
    let miss = s.last(|e| match e {
        ConversationEvent::ResponseTargetMissed(m) => Some(m.clone()),
        _ => None,
    });
    assert_eq!((miss.target, miss.due_at), (switchboard_schemas::oncall::TargetKind::Acknowledge, target.due_at));
}

/// What can happen to a hand-over, in any order.
#[derive(Debug, Clone)]
enum Step {
    Wait(u16),
    FireDue,
    Acknowledge,
    Reply,
    Reassign,
    Close,
    Reopen,
    Message,
    Wait4Operator,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u16..40).prop_map(Step::Wait),
        4 => Just(Step::FireDue),
        1 => Just(Step::Acknowledge),
        1 => Just(Step::Reply),
        1 => Just(Step::Reassign),
        1 => Just(Step::Close),
        1 => Just(Step::Reopen),
        1 => Just(Step::Message),
        1 => Just(Step::Wait4Operator),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Each escalation step fires at most once per hand-over, in order; no step is taken
    /// after the hand-over was acknowledged (until a new hand-over) nor after a close; with
    /// a working-time policy no step is taken outside working hours.
    #[test]
    fn escalation_steps_fire_once_in_order_and_never_after_acknowledgment_or_close(
        steps in proptest::collection::vec(step(), 1..40),
        working in any::<bool>(),
    ) {
        let clock = if working { ClockKind::Working } else { ClockKind::Wall };
        let calendar = if working { office_hours() } else { TeamCalendar::default() };
        let schedule = Schedule::new(on_call(clock, calendar.clone())).unwrap();
        let mut s = Scenario::new(policy_with(on_call(clock, calendar), Staffing::default()));
        s.given(message("m0", "人工"));
        for (i, step) in steps.iter().enumerate() {
            let _ = match step {
                Step::Wait(minutes) => { s.advance(Duration::minutes(i64::from(*minutes))); Ok(Vec::new()) }
                Step::FireDue => { fire_due(&mut s); Ok(Vec::new()) }
                Step::Acknowledge => s.run(Command::Acknowledge { by: staff("zhao"), session_id: None, notice: None }),
                Step::Reply => s.run(Command::HumanReply { staff: staff("qian"), text: "ok".into() }),
                Step::Reassign => s.run(Command::Transfer { by: staff("lead"), to: None }),
                Step::Close => s.run(Command::Close { by: staff("lead") }),
                Step::Reopen => s.run(Command::Reopen { by: Actor::Staff(staff("lead")) }),
                Step::Message => s.run(message(&format!("m{}", i + 1), "人工")),
                Step::Wait4Operator => s.run(Command::ChangeStatus { by: staff("qian"), to: SessionStatus::Waiting }),
            };
        }
        // A closed session keeps no timer of its hand-over.
        let state = s.state().session.unwrap();
        if !state.is_active() {
            prop_assert!(state.handover_timers.is_empty(), "closed with {:?}", state.handover_timers);
        }
        // Walk the history: per hand-over, steps 0, 1, 2… each once; none once acknowledged
        // or closed.
        let mut expected_step = 0;
        let (mut acknowledged, mut closed, mut assignee) = (false, false, None);
        for (now_index, event) in s.history.iter().enumerate() {
            match event {
                // A new person's hand-over (or a reopened session) starts over; the same
                // person asked again goes on where it was.
                ConversationEvent::TransferredToHuman(t) if t.assignee != assignee => {
                    expected_step = 0;
                    acknowledged = false;
                    assignee = t.assignee.clone();
                }
                ConversationEvent::SessionReopened(_) => { expected_step = 0; acknowledged = false; closed = false; }
                ConversationEvent::SessionOpened(_) => {
                    (expected_step, acknowledged, closed, assignee) = (0, false, false, None);
                }
                ConversationEvent::HandoverAcknowledged(_) | ConversationEvent::HumanReplied(_) => acknowledged = true,
                ConversationEvent::SessionClosed(_) => closed = true,
                ConversationEvent::ResponseTargetMissed(m) => {
                    prop_assert!(!closed, "no target missed after the close");
                    if m.target == switchboard_schemas::oncall::TargetKind::Acknowledge {
                        prop_assert!(!acknowledged, "the acknowledgment target is never missed once met");
                    }
                }
                ConversationEvent::EscalationStepTaken(e) => {
                    prop_assert_eq!(e.step, expected_step, "steps in order, each once");
                    prop_assert!(!acknowledged && !closed, "no step after acknowledgment or close");
                    expected_step += 1;
                }
                ConversationEvent::TimerFired(f) if f.purpose == TimerPurpose::Escalate && working => {
                    // The timer's due time was in working time.
                    let due = s.history[..now_index].iter().rev().find_map(|e| match e {
                        ConversationEvent::TimerScheduled(t) if t.timer_id == f.timer_id => Some(t.due_at),
                        _ => None,
                    }).unwrap();
                    prop_assert!(schedule.calendar().is_working(due), "due at {due}, outside working hours");
                }
                _ => {}
            }
        }
    }
}
