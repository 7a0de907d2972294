//! The API's request and response bodies. They are the public HTTP contract, kept apart from
//! the read models so either can change without silently changing the other.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use switchboard_engine::threshold_replay::DecisionKind;
use switchboard_projections::candidates::CandidateGroup;
use switchboard_projections::conversation::{
    AttachmentState, AttachmentView, ConversationView, MatchView, MessageView, SessionView, Speaker, TimelineEntry,
};
use switchboard_projections::sessions::SessionRow;
use switchboard_projections::store::{Count, HandoverFigures, Percentiles, Period, Statistics};
use switchboard_schemas::attachment::AttachmentKind;
use switchboard_schemas::event::{MatchCandidate, MatchDecision, Recipient, SessionStatus};
use switchboard_schemas::oncall::TargetKind;
use switchboard_schemas::RecordedEvent;
use uuid::Uuid;

use crate::params::{MessageIdText, MessageText, StaffParam, Text, UserParam};

/// An operator's message sent through the JSON API channel.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SendMessage {
    /// The operator.
    pub user: UserParam,
    /// The message (at most the team's `max_message_chars`).
    pub text: Text<MessageText>,
    /// The caller's id for this message; a retry with the same id is recorded once.
    /// Generated when absent.
    pub message_id: Option<Text<MessageIdText>>,
}

/// The outcome of sending a message.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MessageAccepted {
    /// The session the message belongs to.
    pub session_id: Option<Uuid>,
    /// The session's status after Switchboard handled the message.
    pub status: Status,
    /// Replies to the operator produced so far.
    pub replies: Vec<Message>,
    /// False when this message id had been recorded before (a retry).
    pub recorded: bool,
}

/// A session's status.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Status {
    /// Asking for required information.
    Collecting,
    /// Looking up the FAQ.
    Matching,
    /// Waiting for the operator to pick a numbered choice.
    AwaitingChoice,
    /// Answered; waiting for feedback.
    Answered,
    /// With a person.
    WithHuman,
    /// A person waits for the operator.
    Waiting,
    /// Asked whether the operator still needs help.
    Reconfirming,
    /// Over.
    Closed,
}

impl From<SessionStatus> for Status {
    fn from(s: SessionStatus) -> Self {
        match s {
            SessionStatus::Collecting => Status::Collecting,
            SessionStatus::Matching => Status::Matching,
            SessionStatus::AwaitingChoice => Status::AwaitingChoice,
            SessionStatus::Answered => Status::Answered,
            SessionStatus::WithHuman => Status::WithHuman,
            SessionStatus::Waiting => Status::Waiting,
            SessionStatus::Reconfirming => Status::Reconfirming,
            SessionStatus::Closed => Status::Closed,
        }
    }
}

impl From<Status> for SessionStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Collecting => SessionStatus::Collecting,
            Status::Matching => SessionStatus::Matching,
            Status::AwaitingChoice => SessionStatus::AwaitingChoice,
            Status::Answered => SessionStatus::Answered,
            Status::WithHuman => SessionStatus::WithHuman,
            Status::Waiting => SessionStatus::Waiting,
            Status::Reconfirming => SessionStatus::Reconfirming,
            Status::Closed => SessionStatus::Closed,
        }
    }
}

/// One message of a session.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Message {
    /// Its position in the event log.
    pub position: u64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// "operator", "switchboard" or "staff:<id>".
    pub from: String,
    /// "operator:<id>" or "staff:<id>" for outbound messages.
    pub to: Option<String>,
    /// The text.
    pub text: String,
    /// For outbound messages: whether the channel accepted it.
    pub delivered: Option<bool>,
}

impl From<&MessageView> for Message {
    fn from(m: &MessageView) -> Self {
        Message {
            position: m.position,
            at: m.at,
            from: match &m.from {
                Speaker::Operator => "operator".to_owned(),
                Speaker::Bot => "switchboard".to_owned(),
                Speaker::Staff(id) => format!("staff:{id}"),
            },
            to: m.to.as_ref().map(|to| match to {
                Recipient::Operator(id) => format!("operator:{id}"),
                Recipient::Staff(id) => format!("staff:{id}"),
            }),
            text: m.text.clone(),
            delivered: m.delivered,
        }
    }
}

/// A staff remark.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Remark {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub author: String,
    /// What.
    pub text: String,
}

/// One session.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Session {
    /// Its id.
    pub session_id: Uuid,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it closed ("resolved", "stale", "manual", "by_operator").
    pub close_reason: Option<String>,
    /// Its status.
    pub status: Status,
    /// Who has it.
    pub assignee: Option<String>,
    /// Its routing category.
    pub category: Option<String>,
    /// Messages both ways.
    pub messages: Vec<Message>,
    /// Staff remarks.
    pub remarks: Vec<Remark>,
    /// Every FAQ lookup, with the ranked candidates and their scores.
    pub matches: Vec<FaqLookup>,
    /// Attachments the operator sent (screenshots, files, voice, video), in order.
    pub attachments: Vec<Attachment>,
}

/// What kind of attachment the operator sent, as the channel says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AttachmentKindName {
    /// A picture.
    Image,
    /// A file.
    File,
    /// A voice message.
    Voice,
    /// A video.
    Video,
}

impl From<AttachmentKind> for AttachmentKindName {
    fn from(kind: AttachmentKind) -> Self {
        match kind {
            AttachmentKind::Image => Self::Image,
            AttachmentKind::File => Self::File,
            AttachmentKind::Voice => Self::Voice,
            AttachmentKind::Video => Self::Video,
        }
    }
}

/// Where an attachment's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AttachmentStateName {
    /// Being fetched from the channel.
    Fetching,
    /// Stored: `url` serves them.
    Stored,
    /// Could not be fetched: `failure` says why.
    Failed,
    /// Deleted under the team's retention (`removed_after_days`).
    Removed,
}

/// An attachment the operator sent.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Attachment {
    /// Its id.
    pub attachment_id: Uuid,
    /// Its position in the event log.
    pub position: u64,
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// What the channel says it is.
    pub kind: AttachmentKindName,
    /// The file name the sender gave (shown, never used to decide the type).
    pub name: Option<String>,
    /// Whether its bytes are here.
    pub state: AttachmentStateName,
    /// Stored: the SHA-256 of its bytes.
    #[oai(validator(pattern = "^[0-9a-f]{64}$"))]
    pub hash: Option<String>,
    /// Stored: its size in bytes.
    pub size: Option<u64>,
    /// Stored: the MIME type it is served as, read from its bytes.
    pub media_type: Option<String>,
    /// Stored: whether the console shows it as a picture (a raster image of a size a
    /// browser decodes safely); otherwise it is only downloaded.
    pub inline: bool,
    /// Stored: where any key of the team downloads it.
    pub url: Option<String>,
    /// Failed: why.
    pub failure: Option<String>,
    /// Removed: the team's retention then, in days.
    pub removed_after_days: Option<u32>,
}

impl Attachment {
    fn of(team: &str, view: &AttachmentView) -> Self {
        let mut attachment = Attachment {
            attachment_id: view.attachment_id,
            position: view.position,
            at: view.at,
            kind: view.kind.into(),
            name: view.name.clone(),
            state: AttachmentStateName::Fetching,
            hash: None,
            size: None,
            media_type: None,
            inline: false,
            url: None,
            failure: None,
            removed_after_days: None,
        };
        match &view.state {
            AttachmentState::Fetching => {}
            AttachmentState::Stored { hash, size, media_type, inline } => {
                attachment.state = AttachmentStateName::Stored;
                attachment.hash = Some(hash.to_string());
                attachment.size = Some(*size);
                attachment.media_type = Some(media_type.mime().to_owned());
                attachment.inline = *inline;
                attachment.url = Some(format!("/api/v1/teams/{team}/attachments/{hash}"));
            }
            AttachmentState::Failed { reason } => {
                attachment.state = AttachmentStateName::Failed;
                attachment.failure = Some(reason.clone());
            }
            AttachmentState::Removed { retention_days } => {
                attachment.state = AttachmentStateName::Removed;
                attachment.removed_after_days = Some(*retention_days);
            }
        }
        attachment
    }
}

/// One candidate of an FAQ lookup.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LookupCandidate {
    /// The FAQ.
    pub faq_id: String,
    /// Its question as it read then.
    pub question: String,
    /// Its answer as it read then.
    pub answer: String,
    /// Its category.
    pub category: Option<String>,
    /// The fused score it was ranked by.
    pub score: f32,
    /// The keyword engine's score.
    pub keyword_score: Option<f32>,
    /// The semantic engine's score.
    pub semantic_score: Option<f32>,
}

/// What the answer policy decided for a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Decision {
    /// Answered from the first candidate.
    Answer,
    /// Choices offered.
    Clarify,
    /// Handed to a person.
    Transfer,
}

impl From<DecisionKind> for Decision {
    fn from(kind: DecisionKind) -> Self {
        match kind {
            DecisionKind::Answer => Self::Answer,
            DecisionKind::Clarify => Self::Clarify,
            DecisionKind::Transfer => Self::Transfer,
        }
    }
}

/// One FAQ lookup of a session.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FaqLookup {
    /// Its position in the log.
    pub position: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// The question matched.
    pub query: String,
    /// Calibrated confidence in the first candidate.
    pub confidence: f32,
    /// What was decided.
    pub decision: Decision,
    /// The FAQ answered from, or the choices offered.
    pub chosen: Vec<String>,
    /// The engine (and model) that ranked.
    pub engine: String,
    /// Ranked candidates, best first.
    pub candidates: Vec<LookupCandidate>,
}

impl From<&MatchView> for FaqLookup {
    fn from(m: &MatchView) -> Self {
        let chosen = match &m.decision {
            MatchDecision::Answer { faq_id } => vec![faq_id.to_string()],
            MatchDecision::Clarify { choices } => choices.iter().map(|c| c.to_string()).collect(),
            MatchDecision::Transfer => Vec::new(),
        };
        Self {
            position: m.position,
            at: m.at,
            query: m.query.clone(),
            confidence: m.confidence,
            decision: DecisionKind::from(&m.decision).into(),
            chosen,
            engine: m.engine.clone(),
            candidates: m.candidates.iter().cloned().map(LookupCandidate::from).collect(),
        }
    }
}

impl From<MatchCandidate> for LookupCandidate {
    fn from(c: MatchCandidate) -> Self {
        Self {
            faq_id: c.faq_id.to_string(),
            question: c.question,
            answer: c.answer,
            category: c.category,
            score: c.score,
            keyword_score: c.keyword_score,
            semantic_score: c.semantic_score,
        }
    }
}

impl Session {
    fn of(team: &str, s: &SessionView) -> Self {
        Session {
            session_id: s.session_id,
            opened_at: s.opened_at,
            closed_at: s.closed_at,
            close_reason: s
                .close_reason
                .map(|r| serde_json::to_value(r).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()),
            status: s.status.into(),
            assignee: s.assignee.as_ref().map(|a| a.to_string()),
            category: s.category.clone(),
            messages: s.messages.iter().map(Message::from).collect(),
            remarks: s
                .remarks
                .iter()
                .map(|r| Remark { at: r.at, author: r.author.to_string(), text: r.text.clone() })
                .collect(),
            matches: s.matches.iter().map(FaqLookup::from).collect(),
            attachments: s.attachments.iter().map(|a| Attachment::of(team, a)).collect(),
        }
    }
}

/// One line of the timeline.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TimelineLine {
    /// Position in the event log.
    pub position: u64,
    /// Version in the conversation stream.
    pub version: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// The event type.
    pub event_type: String,
    /// What happened, in words.
    pub summary: String,
}

impl From<&TimelineEntry> for TimelineLine {
    fn from(t: &TimelineEntry) -> Self {
        TimelineLine {
            position: t.position,
            version: t.version,
            at: t.at,
            event_type: t.event_type.clone(),
            summary: t.summary.clone(),
        }
    }
}

/// A conversation: its sessions and timeline.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Conversation {
    /// The team.
    pub team: String,
    /// The operator.
    pub user: String,
    /// The stream version the view reflects.
    pub version: u64,
    /// As of when (for audits), or absent for now.
    pub at: Option<DateTime<Utc>>,
    /// Sessions, oldest first.
    pub sessions: Vec<Session>,
    /// Every event in words.
    pub timeline: Vec<TimelineLine>,
}

impl Conversation {
    /// Builds the response from a view.
    pub fn from_view(team: &str, user: &str, view: &ConversationView, at: Option<DateTime<Utc>>) -> Self {
        Conversation {
            team: team.to_owned(),
            user: user.to_owned(),
            version: view.version,
            at,
            sessions: view.sessions.iter().map(|s| Session::of(team, s)).collect(),
            timeline: view.timeline.iter().map(TimelineLine::from).collect(),
        }
    }
}

/// Feedback on an answer.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Feedback {
    /// Whether the answer resolved the question.
    pub resolved: bool,
}

/// A transfer by staff.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TransferRequest {
    /// The new assignee; the on-call engineer for the session's category when absent.
    pub to: Option<StaffParam>,
}

/// Text written by staff (a reply or a remark); the writer is the access key's holder.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StaffText {
    /// The text (at most the team's `max_message_chars`).
    pub text: Text<MessageText>,
}

/// A status change by staff.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StatusRequest {
    /// The new status: with_human, waiting or closed.
    pub to: Status,
}

/// Where a command landed.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CommandResult {
    /// The stream version after the command.
    pub version: u64,
    /// How many events it wrote (0 when it repeated an earlier one).
    pub events: u32,
}

impl From<switchboard_engine::runtime::Committed> for CommandResult {
    fn from(c: switchboard_engine::runtime::Committed) -> Self {
        Self { version: c.version, events: u32::try_from(c.events).unwrap_or(u32::MAX) }
    }
}

/// One FAQ entry.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Faq {
    /// Its id.
    pub id: String,
    /// Its revision: send it back when editing or deleting, so a change made meanwhile by
    /// someone else is refused (409) instead of overwritten.
    pub revision: u64,
    /// The question.
    pub question: String,
    /// The answer.
    pub answer: String,
    /// The category.
    pub category: Option<String>,
    /// Other wordings.
    pub paraphrases: Vec<String>,
}

/// One row of the session list.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SessionSummary {
    /// The session.
    pub session_id: Uuid,
    /// The operator.
    pub user: String,
    /// Its status.
    pub status: Status,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it closed (none while open).
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it closed: resolved, stale, manual or by_operator.
    pub close_reason: Option<String>,
    /// Who has it.
    pub assignee: Option<String>,
    /// Its routing category.
    pub category: Option<String>,
    /// The operator's first message.
    pub question: Option<String>,
    /// When the operator first got an answer.
    pub first_answer_at: Option<DateTime<Utc>>,
    /// Handed to a person at least once.
    pub transferred: bool,
    /// Answered from the FAQ at least once.
    pub answered_from_faq: bool,
    /// The last FAQ answered from.
    pub last_faq: Option<String>,
    /// Messages from the operator.
    pub messages_in: i64,
    /// Messages to anyone.
    pub messages_out: i64,
    /// When it was first handed to a person.
    pub handed_over_at: Option<DateTime<Utc>>,
    /// When a person first acknowledged or replied.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When a person first replied.
    pub first_human_reply_at: Option<DateTime<Utc>>,
    /// The response targets it missed.
    pub missed_targets: Vec<ResponseTarget>,
    /// The response targets still running, soonest first.
    pub targets_due: Vec<TargetDueBody>,
}

/// A response target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ResponseTarget {
    /// Time to acknowledge.
    Acknowledge,
    /// Time to the first reply of a person.
    FirstReply,
    /// Time to resolution.
    Resolution,
}

impl From<TargetKind> for ResponseTarget {
    fn from(t: TargetKind) -> Self {
        match t {
            TargetKind::Acknowledge => Self::Acknowledge,
            TargetKind::FirstReply => Self::FirstReply,
            TargetKind::Resolution => Self::Resolution,
        }
    }
}

/// A response target still running.
#[derive(Debug, Object)]
pub struct TargetDueBody {
    /// Which target.
    pub target: ResponseTarget,
    /// When it falls due (counted in the team's working or wall time).
    pub due_at: DateTime<Utc>,
}

impl From<&SessionRow> for SessionSummary {
    fn from(r: &SessionRow) -> Self {
        Self {
            session_id: r.session_id,
            user: r.user.clone(),
            status: r.status.into(),
            opened_at: r.opened_at,
            closed_at: r.closed_at,
            close_reason: r.close_reason.map(|c| c.as_str().to_owned()),
            assignee: r.assignee.clone(),
            category: r.category.clone(),
            question: r.question.clone(),
            first_answer_at: r.first_answer_at,
            transferred: r.transferred,
            answered_from_faq: r.auto_answered,
            last_faq: r.last_faq.clone(),
            messages_in: r.messages_in,
            messages_out: r.messages_out,
            handed_over_at: r.handed_over_at,
            acknowledged_at: r.acknowledged_at,
            first_human_reply_at: r.first_human_reply_at,
            missed_targets: r.missed_target_kinds().into_iter().map(Into::into).collect(),
            targets_due: r
                .targets_due
                .iter()
                .map(|t| TargetDueBody { target: t.target.into(), due_at: t.due_at })
                .collect(),
        }
    }
}

/// One page of the session list, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SessionList {
    /// The sessions.
    pub sessions: Vec<SessionSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// A count per key.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct KeyCount {
    /// The key (a day, an FAQ, a category, an engineer); absent for "none".
    pub key: Option<String>,
    /// How many.
    pub count: u64,
}

impl From<&Count> for KeyCount {
    fn from(c: &Count) -> Self {
        Self { key: c.key.clone(), count: c.count }
    }
}

fn counts(counts: &[Count]) -> Vec<KeyCount> {
    counts.iter().map(KeyCount::from).collect()
}

/// A duration's median and 90th percentile.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DurationFigures {
    /// How many sessions the figures are over.
    pub samples: u64,
    /// Median, seconds.
    pub median_secs: Option<f64>,
    /// 90th percentile, seconds.
    pub p90_secs: Option<f64>,
}

impl From<&Percentiles> for DurationFigures {
    fn from(p: &Percentiles) -> Self {
        Self { samples: p.samples, median_secs: p.median_secs, p90_secs: p.p90_secs }
    }
}

/// A team's statistics over whole UTC days.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TeamStatistics {
    /// First day covered.
    pub from: DateTime<Utc>,
    /// End of the last day covered (exclusive).
    pub to: DateTime<Utc>,
    /// Sessions opened in the period.
    pub opened: u64,
    /// Sessions closed in the period.
    pub closed: u64,
    /// Opened per day (`YYYY-MM-DD`).
    pub opened_per_day: Vec<KeyCount>,
    /// Closed per day.
    pub closed_per_day: Vec<KeyCount>,
    /// Closed as resolved without a person.
    pub resolved_automatically: u64,
    /// Resolved automatically / closed.
    pub automatic_resolution_rate: f64,
    /// Opened sessions handed to a person.
    pub transferred: u64,
    /// Transferred / opened.
    pub transfer_rate: f64,
    /// Opening to first answer.
    pub time_to_first_answer: DurationFigures,
    /// Opening to close.
    pub time_to_resolution: DurationFigures,
    /// FAQs answered from, most frequent first.
    pub top_faqs: Vec<KeyCount>,
    /// Sessions per category.
    pub per_category: Vec<KeyCount>,
    /// Transferred sessions per engineer.
    pub per_assignee: Vec<KeyCount>,
    /// Sessions asked "do you still need help?".
    pub reconfirmed: u64,
    /// Sessions closed as stale.
    pub auto_closed: u64,
    /// How hand-overs went for the whole team.
    pub handover: HandoverBody,
    /// Per engineer, most hand-overs first.
    pub handover_per_assignee: Vec<HandoverBody>,
    /// Per category, most hand-overs first.
    pub handover_per_category: Vec<HandoverBody>,
}

/// How hand-overs went.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HandoverBody {
    /// The engineer or category (absent: the whole team, nobody, or no category).
    pub key: Option<String>,
    /// Opened sessions handed to a person.
    pub handed_over: u64,
    /// First hand-over to the first acknowledgment or reply; per engineer, from when they
    /// were asked (handed it or notified by an escalation step) to their own, while the
    /// session was theirs.
    pub time_to_acknowledge: DurationFigures,
    /// First hand-over to the first reply of a person; per engineer, from when they were
    /// asked to their own first reply.
    pub time_to_first_reply: DurationFigures,
    /// Sessions that missed each target, by target.
    pub missed: Vec<KeyCount>,
    /// Per target the team tracks (for any category): the share of hand-overs that did not
    /// miss it, targets still running counted as met (empty without hand-overs).
    pub met: Vec<TargetMet>,
}

/// The share of hand-overs that did not miss a target.
#[derive(Debug, Object)]
pub struct TargetMet {
    /// The target.
    pub target: ResponseTarget,
    /// (Handed over − missed) / handed over, 0 to 1.
    #[oai(validator(minimum(value = "0"), maximum(value = "1")))]
    pub rate: f64,
}

impl HandoverBody {
    /// The API form of hand-over figures; `tracked` are the targets the team has set.
    pub fn new(h: &HandoverFigures, tracked: &[TargetKind]) -> Self {
        Self {
            key: h.key.clone(),
            handed_over: h.handed_over,
            time_to_acknowledge: (&h.time_to_acknowledge).into(),
            time_to_first_reply: (&h.time_to_first_reply).into(),
            missed: counts(&h.missed),
            met: tracked
                .iter()
                .filter_map(|t| Some(TargetMet { target: (*t).into(), rate: h.met_rate(*t)? }))
                .collect(),
        }
    }
}

impl TeamStatistics {
    /// The API form of a store's statistics over `period`; `tracked` are the response
    /// targets the team has set.
    pub fn new(s: &Statistics, period: Period, tracked: &[TargetKind]) -> Self {
        Self {
            from: period.from,
            to: period.to,
            opened: s.opened,
            closed: s.closed,
            opened_per_day: counts(&s.opened_per_day),
            closed_per_day: counts(&s.closed_per_day),
            resolved_automatically: s.resolved_automatically,
            automatic_resolution_rate: s.automatic_resolution_rate,
            transferred: s.transferred,
            transfer_rate: s.transfer_rate,
            time_to_first_answer: (&s.time_to_first_answer).into(),
            time_to_resolution: (&s.time_to_resolution).into(),
            top_faqs: counts(&s.top_faqs),
            per_category: counts(&s.per_category),
            per_assignee: counts(&s.per_assignee),
            reconfirmed: s.reconfirmed,
            auto_closed: s.auto_closed,
            handover: HandoverBody::new(&s.handover, tracked),
            handover_per_assignee: s.handover_per_assignee.iter().map(|h| HandoverBody::new(h, tracked)).collect(),
            handover_per_category: s.handover_per_category.iter().map(|h| HandoverBody::new(h, tracked)).collect(),
        }
    }
}

/// How many questions of an FAQ-candidate group had one reason.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReasonCount {
    /// unanswered, transferred, not_resolved or reopened.
    pub reason: String,
    /// How many.
    pub count: u64,
}

/// Questions with similar wording that Switchboard could not answer well: write one FAQ
/// for the group.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FaqCandidateGroup {
    /// The most recent wording, as a title.
    pub representative: String,
    /// How many questions.
    pub count: u64,
    /// Distinct wordings, most recent first.
    pub examples: Vec<String>,
    /// Why they are candidates.
    pub reasons: Vec<ReasonCount>,
    /// The most frequent category among them.
    pub category: Option<String>,
    /// Sessions to read, most recent first.
    pub sessions: Vec<Uuid>,
    /// Every session of the group: approve or reject them together.
    pub members: Vec<Uuid>,
    /// The most recent question's time.
    pub last_seen: DateTime<Utc>,
}

impl From<&CandidateGroup> for FaqCandidateGroup {
    fn from(g: &CandidateGroup) -> Self {
        Self {
            representative: g.representative.clone(),
            count: g.count as u64,
            examples: g.examples.clone(),
            reasons: g
                .reasons
                .iter()
                .map(|(reason, n)| ReasonCount { reason: reason.as_str().to_owned(), count: *n as u64 })
                .collect(),
            category: g.category.clone(),
            sessions: g.sessions.clone(),
            members: g.members.clone(),
            last_seen: g.last_seen,
        }
    }
}

/// The weekly report's file formats.
#[derive(Debug, Clone, Copy, Default, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ReportFormat {
    /// An Excel workbook: summary, per day, categories, on-call, FAQs, candidates, sessions.
    #[default]
    Xlsx,
    /// The session table as CSV (UTF-8 with a byte-order mark).
    Csv,
}

/// An event as stored, in the envelope every subscriber reads (see `schemas/json/`).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Envelope {
    /// Position in the whole log.
    pub position: u64,
    /// The stream, `<team>.<aggregate>.<key>`.
    pub stream: String,
    /// Version within the stream.
    pub version: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// The commit it was appended with.
    pub commit_id: Uuid,
    /// The type name.
    pub event_type: String,
    /// The schema version of the payload.
    pub schema_version: u16,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Shared by everything done for one outside request.
    pub correlation_id: Uuid,
    /// What directly caused it.
    pub causation_id: Option<Uuid>,
    /// The payload, as its JSON Schema describes.
    pub payload: serde_json::Value,
}

impl From<&RecordedEvent> for Envelope {
    fn from(e: &RecordedEvent) -> Self {
        Self {
            position: e.position,
            stream: e.stream.to_string(),
            version: e.version,
            event_id: e.event_id,
            commit_id: e.commit_id,
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            occurred_at: e.occurred_at,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            payload: e.payload.clone(),
        }
    }
}

/// Events of a stream after a version.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventPage {
    /// The events, oldest first.
    pub events: Vec<Envelope>,
    /// The stream version after the last event returned; pass it as `after` next time.
    pub version: u64,
}

#[cfg(test)]
mod spellings {
    #![allow(clippy::unwrap_used)]

    // Every value the API and the console spell is spelled as the schema types spell it
    // (`as_str`, the serde name): session statuses and roles in the API's enums, in the
    // console's status list and labels, and in the widget's status texts.

    use crate::dto::Status;
    use crate::teams::Role;
    use poem_openapi::types::ToJSON;
    use switchboard_schemas::event::{AccessRole, SessionStatus};

    fn asset(path: &str) -> String {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
    }

    #[test]
    fn the_api_spells_statuses_and_roles_as_the_schema_does() {
        for status in SessionStatus::ALL {
            assert_eq!(Status::from(*status).to_json().unwrap(), status.as_str(), "{status:?}");
        }
        for role in AccessRole::ALL {
            assert_eq!(Role::from(*role).to_json().unwrap(), role.as_str(), "{role:?}");
        }
    }

    #[test]
    fn the_console_and_the_widget_spell_statuses_and_roles_as_the_schema_does() {
        let app = asset("console/app.js");
        let line = app.lines().find(|l| l.starts_with("const STATUSES = [")).expect("the console's status list");
        let listed: Vec<&str> = line.split('\'').skip(1).step_by(2).collect();
        let schema: Vec<&str> = SessionStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(listed, schema, "the console lists every status, in order");
        let i18n = asset("console/i18n.js");
        let widget = asset("widget/widget.js");
        // The widget's status texts: one `status: { … }` table per language.
        let tables: Vec<&str> =
            widget.split("status: {").skip(1).map(|rest| rest.split('}').next().unwrap_or_default()).collect();
        assert_eq!(tables.len(), 2, "a Chinese and an English status table");
        for status in &schema {
            assert_eq!(i18n.matches(&format!("st_{status}:")).count(), 2, "{status}: a Chinese and an English label");
            for table in &tables {
                assert!(table.contains(&format!(" {status}: '")), "{status} missing from the widget's {table}");
            }
        }
        for role in AccessRole::ALL {
            assert_eq!(i18n.matches(&format!("r_{role}:")).count(), 2, "{role}: a Chinese and an English label");
            assert!(app.contains(&format!("'{role}'")), "{role}: offered when a key is issued");
        }
    }
}
