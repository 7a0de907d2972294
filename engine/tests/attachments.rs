//! Given/when/then for attachments: never matched as text, a session opened by one asks for
//! words or goes to a person, and the fetch's outcome is recorded once.

#![allow(clippy::unwrap_used)]

mod scenario;

use scenario::*;
use switchboard_engine::conversation::{AttachmentOutcome, Command, IncomingAttachment, Rejection};
use switchboard_engine::policy::TeamPolicy;
use switchboard_schemas::attachment::{AttachmentKind, AttachmentSource, ContentHash, MediaType};
use switchboard_schemas::bounds::{MAX_FILE_NAME_CHARS, MAX_MEDIA_ID_BYTES};
use switchboard_schemas::event::*;
use switchboard_schemas::{ConversationEvent, MessageId};
use uuid::Uuid;

fn screenshot(id: &str, text: Option<&str>) -> Command {
    attachment(id, AttachmentKind::Image, None, "MEDIA-1", text)
}

fn attachment(id: &str, kind: AttachmentKind, name: Option<&str>, media_id: &str, text: Option<&str>) -> Command {
    Command::ReceiveAttachment {
        user: user(),
        message_id: MessageId(id.into()),
        attachment: IncomingAttachment {
            kind,
            name: name.map(String::from),
            source: AttachmentSource::WecomMedia { media_id: media_id.into() },
        },
        text: text.map(String::from),
        channel: Channel::Wecom,
    }
}

fn received(s: &Scenario) -> AttachmentReceived {
    s.last(|e| match e {
        ConversationEvent::AttachmentReceived(a) => Some(a.clone()),
        _ => None,
    })
}

fn handing_over_alone() -> TeamPolicy {
    let mut settings = TeamSettings::default();
    settings.attachments.when_alone = AttachmentAlone::HandOver;
    TeamPolicy::new(settings, Roster { default: vec![staff("zhao")], ..Roster::default() }).unwrap()
}

#[test]
fn a_screenshot_alone_opens_a_session_that_asks_for_a_description_and_matches_nothing() {
    let mut s = Scenario::new(plain_policy());
    let events = s.when(screenshot("m1", None));
    assert_eq!(events, ["SessionOpened", "AttachmentReceived", "AnswerQueued", "TimerScheduled"]);
    assert_eq!(s.outbound_texts(), [TeamSettings::default().texts.describe_attachment]);
    assert_eq!(s.status(), SessionStatus::Collecting);
    // The description is the question.
    let events = s.when(message("m2", "活动页打开报错 500"));
    assert_eq!(events, ["MessageReceived", "MatchRequested", "TimerCancelled", "TimerScheduled"]);
    let query = s.last(|e| match e {
        ConversationEvent::MatchRequested(m) => Some(m.query.clone()),
        _ => None,
    });
    assert_eq!(query, "活动页打开报错 500", "only the words are matched");
}

#[test]
fn by_team_policy_a_screenshot_alone_goes_straight_to_a_person() {
    let mut s = Scenario::new(handing_over_alone());
    let events = s.when(screenshot("m1", None));
    assert!(events.starts_with(&["SessionOpened", "AttachmentReceived", "TransferredToHuman"]), "{events:?}");
    assert!(!events.contains(&"MatchRequested"));
    let transfer = s.last(|e| match e {
        ConversationEvent::TransferredToHuman(t) => Some(t.clone()),
        _ => None,
    });
    assert_eq!((transfer.reason, transfer.assignee), (TransferReason::AttachmentOnly, Some(staff("zhao"))));
    assert_eq!(s.status(), SessionStatus::WithHuman);
}

#[test]
fn words_sent_with_an_attachment_are_matched_and_the_attachment_is_not() {
    let mut s = Scenario::new(plain_policy());
    let events = s.when(attachment("m1", AttachmentKind::Voice, None, "MEDIA-2", Some("奖品怎么发放？")));
    assert_eq!(events, ["SessionOpened", "AttachmentReceived", "MessageReceived", "MatchRequested", "TimerScheduled"]);
    let query = s.last(|e| match e {
        ConversationEvent::MatchRequested(m) => Some(m.query.clone()),
        _ => None,
    });
    assert_eq!(query, "奖品怎么发放？");
    // Blank words are no words.
    let mut blank = Scenario::new(plain_policy());
    assert!(!blank.when(screenshot("m1", Some("  "))).contains(&"MatchRequested"));
}

#[test]
fn a_screenshot_during_a_session_is_kept_for_staff_and_changes_nothing_else() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "奖品怎么发放？"));
    let events = s.when(screenshot("m2", None));
    assert_eq!(events, ["AttachmentReceived", "TimerCancelled", "TimerScheduled"]);
    assert_eq!(s.status(), SessionStatus::Matching, "the question still waits for its match");
    // With a person: recorded, and the person sees it.
    let mut with_person = Scenario::new(plain_policy());
    with_person.given(message("m1", "人工"));
    assert_eq!(with_person.when(screenshot("m2", None)), ["AttachmentReceived", "TimerCancelled", "TimerScheduled"]);
    assert_eq!(with_person.status(), SessionStatus::WithHuman);
}

#[test]
fn a_screenshot_answers_a_person_waiting_for_the_operator() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "人工"));
    s.given(Command::ChangeStatus { by: staff("zhao"), to: SessionStatus::Waiting });
    let events = s.when(screenshot("m2", None));
    assert!(events.starts_with(&["AttachmentReceived", "StatusChanged"]), "{events:?}");
    assert_eq!(s.status(), SessionStatus::WithHuman);
}

#[test]
fn a_screenshot_after_close_opens_a_new_session() {
    let mut s = Scenario::new(plain_policy());
    s.given(message("m1", "人工"));
    s.given(Command::Close { by: staff("zhao") });
    let events = s.when(screenshot("m2", None));
    assert_eq!(events, ["SessionOpened", "AttachmentReceived", "AnswerQueued", "TimerScheduled"]);
    assert_eq!(s.state().sessions_opened, 2);
}

#[test]
fn a_retried_attachment_changes_nothing() {
    let mut s = Scenario::new(plain_policy());
    s.given(screenshot("m1", None));
    assert!(s.when(screenshot("m1", None)).is_empty());
    // Its id is also a message id: a text retried under it changes nothing either.
    assert!(s.when(message("m1", "奖品")).is_empty());
}

#[test]
fn a_file_name_and_words_are_cut_and_an_oversized_media_id_is_refused() {
    let mut s = Scenario::new(plain_policy());
    let long_name = "报".repeat(MAX_FILE_NAME_CHARS + 50);
    s.given(attachment("m1", AttachmentKind::File, Some(&long_name), "MEDIA-3", None));
    assert_eq!(received(&s).name.unwrap().chars().count(), MAX_FILE_NAME_CHARS);
    let media_id = "M".repeat(MAX_MEDIA_ID_BYTES + 1);
    let rejection = s.rejects(attachment("m2", AttachmentKind::File, None, &media_id, None));
    assert!(matches!(rejection, Rejection::MediaIdTooLong { .. }), "{rejection:?}");
    // Words longer than the team takes are cut, and the attachment is kept.
    let max = TeamSettings::default().max_message_chars as usize;
    s.given(screenshot("m3", Some(&"字".repeat(max + 1))));
    let words = s.last(|e| match e {
        ConversationEvent::MessageReceived(m) => Some(m.text.clone()),
        _ => None,
    });
    assert_eq!(words.chars().count(), max);
    assert_eq!(received(&s).message_id, MessageId("m3".into()));
}

#[test]
fn more_pictures_before_the_description_ask_once() {
    let mut s = Scenario::new(plain_policy());
    s.given(screenshot("m1", None));
    let events = s.when(screenshot("m2", None));
    assert_eq!(events, ["AttachmentReceived", "TimerCancelled", "TimerScheduled"], "no second request");
    assert_eq!(s.outbound_texts().len(), 1);
}

#[test]
fn the_fetch_outcome_is_recorded_once_even_after_the_session_closed() {
    let mut s = Scenario::new(plain_policy());
    s.given(screenshot("m1", None));
    s.given(screenshot("m2", None));
    let (first, second) = {
        let ids: Vec<Uuid> = s
            .history
            .iter()
            .filter_map(|e| match e {
                ConversationEvent::AttachmentReceived(a) => Some(a.attachment_id),
                _ => None,
            })
            .collect();
        (ids[0], ids[1])
    };
    s.given(Command::CloseByOperator);
    let stored = AttachmentOutcome::Stored {
        hash: ContentHash::of(b"png"),
        size: 3,
        media_type: MediaType::Png,
        image_size: None,
    };
    let events = s.when(Command::RecordAttachment { attachment_id: first, outcome: stored.clone() });
    assert_eq!(events, ["AttachmentStored"]);
    assert!(s.when(Command::RecordAttachment { attachment_id: first, outcome: stored }).is_empty(), "once");
    let failed = AttachmentOutcome::Failed { attempts: 8, reason: "x".repeat(5000) };
    assert_eq!(s.when(Command::RecordAttachment { attachment_id: second, outcome: failed }), ["AttachmentFetchFailed"]);
    let reason = s.last(|e| match e {
        ConversationEvent::AttachmentFetchFailed(f) => Some(f.reason.clone()),
        _ => None,
    });
    assert_eq!(reason.chars().count(), switchboard_schemas::bounds::MAX_TEXT_CHARS, "the reason is cut");
    assert!(s.state().pending_attachments.is_empty());
    let unknown = AttachmentOutcome::Failed { attempts: 1, reason: "?".into() };
    assert!(s.when(Command::RecordAttachment { attachment_id: Uuid::from_u128(7), outcome: unknown }).is_empty());
}
