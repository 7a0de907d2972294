//! The team aggregate: onboarding and configuration as events, so a team's behaviour at any
//! moment can be audited and a new team is onboarded by configuration alone.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};

use switchboard_oncall::{from_roster, OnCallError, Schedule, Staffing};
use switchboard_schemas::event::{
    AccessKeyIssued, AccessKeyRevoked, AccessRole, AnswerTarget, AvailabilityChanged, OnCallConfigured,
    OnCallOverrideAdded, OnCallOverrideRemoved, Roster, RosterUpdated, TeamConfigured, TeamCreated, TeamSettings,
    TimeOffAdded, TimeOffRemoved, WebhookRegistered, WebhookRemoved, WecomConfigured, WecomSettings,
};
use switchboard_schemas::oncall::{OnCallOverride, OnCallSettings, TimeOff};
use switchboard_schemas::{StaffId, TeamEvent, TeamId, CONVERSATION_EVENT_TYPES, FAQ_EVENT_TYPES, TEAM_EVENT_TYPES};
use uuid::Uuid;

use crate::policy::{bounds, check_roster, PolicyError, TeamPolicy};

/// The staff id recorded when an instance administrator acts; no team key may carry it,
/// so nothing a team admin issues can pass for the instance's administrator.
pub const RESERVED_STAFF: &str = "admin";

/// Most webhook endpoints one team may have: each one is a delivery per event.
pub const MAX_WEBHOOKS: usize = 20;

/// A team's configuration as folded from its stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Team {
    /// The stream version this state reflects.
    pub version: u64,
    /// The display name; `None` until the team is created.
    pub name: Option<String>,
    /// The template team it was cloned from.
    pub cloned_from: Option<TeamId>,
    /// The settings in force.
    pub settings: TeamSettings,
    /// The roster in force.
    pub roster: Roster,
    /// The access keys that work, by key id.
    pub keys: BTreeMap<Uuid, AccessKey>,
    /// The WeCom application set up from the console, if any.
    pub wecom: Option<WecomSettings>,
    /// The webhook endpoints receiving the team's events, by id.
    pub webhooks: BTreeMap<Uuid, WebhookRegistered>,
    /// The on-call set-up, once one was saved; until then the roster's weekly rotation.
    pub on_call: Option<OnCallSettings>,
    /// Overrides, time off and who is away.
    pub staffing: Staffing,
    /// Each person's last say-so about their availability.
    pub availability_said: BTreeMap<StaffId, SaidSo>,
}

/// The last say-so of a person about their availability: its time and what was said at
/// that time. WeCom gives a click's time in whole seconds, so two clicks of one second are
/// told apart by what they say: a click repeating what was already said in its second is a
/// delivery again, one saying the other thing is a new wish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaidSo {
    /// When.
    pub at: DateTime<Utc>,
    /// "Away" was said at `at`.
    pub away: bool,
    /// "Back" was said at `at`.
    pub back: bool,
}

impl SaidSo {
    /// Whether a click made at `clicked_at` saying `away` is older news or a delivery again.
    fn outdates(&self, clicked_at: DateTime<Utc>, away: bool) -> bool {
        clicked_at < self.at || (clicked_at == self.at && if away { self.away } else { self.back })
    }

    /// This say-so with `away` said at `at` folded in (an older one changes nothing).
    fn and(self, at: DateTime<Utc>, away: bool) -> Self {
        if at < self.at {
            return self;
        }
        let base = if at > self.at { Self { at, away: false, back: false } } else { self };
        Self { away: base.away || away, back: base.back || !away, ..base }
    }
}

/// An access key that works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// What it is for.
    pub label: String,
    /// What it allows.
    pub role: AccessRole,
    /// Who acts with it.
    pub staff: StaffId,
    /// Lower-case hex SHA-256 of its token.
    pub token_sha256: String,
}

/// What can be asked of a team.
#[derive(Debug, Clone, PartialEq)]
pub enum TeamCommand {
    /// Onboards the team (a no-op if it exists with the same name).
    Create {
        /// Display name.
        name: String,
        /// The template it is cloned from, if any.
        cloned_from: Option<TeamId>,
    },
    /// Onboards the team with its settings and roster in one commit; for a team that exists
    /// under the same name, replaces its settings and roster (each a no-op when unchanged),
    /// so onboarding from the configuration at every start keeps the team as configured.
    Onboard {
        /// Display name.
        name: String,
        /// The template it is cloned from, if any.
        cloned_from: Option<TeamId>,
        /// Its settings (boxed: they are large).
        settings: Box<TeamSettings>,
        /// Its roster.
        roster: Roster,
        /// Its on-call set-up, when the configuration gives one (boxed: it is large).
        on_call: Option<Box<OnCallSettings>>,
    },
    /// Replaces the settings (a no-op when unchanged).
    Configure {
        /// The new settings (boxed: they are large and the other commands small).
        settings: Box<TeamSettings>,
    },
    /// Sets a target precision of automatic answers with the answer threshold derived from
    /// it (deriving reads the log, so it is done outside); the clarify threshold is kept,
    /// lowered to the new answer threshold when above it.
    SetAnswerTarget {
        /// The target and what was derived from it.
        target: AnswerTarget,
    },
    /// Replaces the roster (a no-op when unchanged).
    UpdateRoster {
        /// The new roster.
        roster: Roster,
    },
    /// Records a new access key (its token was made outside: the core draws no randomness).
    IssueKey {
        /// The key's id.
        key_id: Uuid,
        /// What it is for.
        label: String,
        /// What it allows.
        role: AccessRole,
        /// Who acts with it.
        staff: StaffId,
        /// Lower-case hex SHA-256 of its token.
        token_sha256: String,
    },
    /// Stops a key from working.
    RevokeKey {
        /// The key.
        key_id: Uuid,
    },
    /// Sets up, replaces or (with `None`) removes the team's WeCom application (a no-op
    /// when unchanged).
    ConfigureWecom {
        /// The application.
        wecom: Option<Box<WecomSettings>>,
    },
    /// Registers a webhook endpoint, or changes the one with the same id (a no-op when
    /// unchanged).
    RegisterWebhook {
        /// The endpoint as it should be.
        webhook: WebhookRegistered,
    },
    /// Stops deliveries to an endpoint.
    RemoveWebhook {
        /// The endpoint.
        webhook_id: Uuid,
    },
    /// Replaces the on-call set-up (a no-op when unchanged).
    ConfigureOnCall {
        /// The new set-up (boxed: it is large).
        on_call: Box<OnCallSettings>,
    },
    /// Records that someone covers a layer for a span of time.
    AddOverride {
        /// The override (its id made outside).
        cover: OnCallOverride,
        /// The time of the decision: overrides ended by then do not count against the limit.
        now: DateTime<Utc>,
    },
    /// Takes an override back.
    RemoveOverride {
        /// The override.
        override_id: Uuid,
    },
    /// Records a time off.
    AddTimeOff {
        /// The time off (its id made outside).
        time_off: TimeOff,
        /// The time of the decision: time off ended by then does not count against the limit.
        now: DateTime<Utc>,
    },
    /// Takes a time off back.
    RemoveTimeOff {
        /// The time off.
        time_off_id: Uuid,
    },
    /// Someone marks themselves away or back. Recorded also when it repeats the state (its
    /// time then outdates older clicks still on their way); a no-op for a click older than
    /// the last say-so, or repeating what was said in its second (a delivery again).
    SetAvailability {
        /// Who.
        staff: StaffId,
        /// Away or back.
        away: bool,
        /// When a click was made (WeCom's `CreateTime`), for a say-so that may arrive late;
        /// none for one made now (the console), which always counts.
        clicked_at: Option<DateTime<Utc>>,
        /// The time now.
        now: DateTime<Utc>,
    },
}

/// Why a team command was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TeamRejection {
    /// Configuring a team that was never created.
    #[error("the team does not exist; create it first")]
    NotCreated,
    /// Creating a team that exists under another name.
    #[error("the team already exists as {0:?}")]
    AlreadyExists(String),
    /// The settings cannot be used.
    #[error(transparent)]
    Invalid(#[from] PolicyError),
    /// A key id or token digest that is already recorded.
    #[error("access key {0} is already issued")]
    DuplicateKey(Uuid),
    /// Revoking a key that does not work.
    #[error("access key {0} does not exist or was revoked")]
    UnknownKey(Uuid),
    /// A key label that is empty or too long, or a digest that is not SHA-256 hex.
    #[error("access key: {0}")]
    BadKey(&'static str),
    /// A WeCom application setting that cannot work.
    #[error("WeCom application: {field} {problem}")]
    BadWecom {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A webhook setting that cannot work.
    #[error("webhook: {0}")]
    BadWebhook(String),
    /// Removing a webhook the team does not have.
    #[error("webhook {0} does not exist or was removed")]
    UnknownWebhook(Uuid),
    /// An on-call set-up, override or time off that cannot be used.
    #[error(transparent)]
    OnCall(#[from] OnCallError),
    /// Settings that bring a target precision of their own: only Switchboard derives one.
    #[error(
        "answer_policy.target is derived by Switchboard: keep the team's as read, remove it (null) to set \
         thresholds by hand, or set a target precision through PUT /teams/{{team}}/answer-target"
    )]
    TargetNotDerived,
    /// Someone who is not the team's: neither in a schedule or the roster nor holding a key.
    #[error("{0} is not one of the team's people; add them to a schedule first")]
    UnknownPerson(StaffId),
    /// Removing an override or a time off the team does not have.
    #[error("{0} does not exist or was removed")]
    UnknownSpan(Uuid),
    /// Changing the roster of a team whose on-call schedule replaced it.
    #[error("the team routes by its on-call schedule; change the schedule (PUT …/on-call) instead of the roster")]
    RosterSuperseded,
}

/// True for the type name of any event of any aggregate.
pub fn is_event_type(name: &str) -> bool {
    [CONVERSATION_EVENT_TYPES, FAQ_EVENT_TYPES, TEAM_EVENT_TYPES]
        .iter()
        .any(|types| types.iter().any(|(n, _)| *n == name))
}

fn check_webhook(webhook: &WebhookRegistered) -> Result<(), TeamRejection> {
    let bad = |problem: String| Err(TeamRejection::BadWebhook(problem));
    let label = webhook.label.trim();
    if label.is_empty() || label.chars().count() > bounds::MAX_LABEL_CHARS {
        return bad("the label must have 1 to 100 characters".into());
    }
    let url = webhook.url.as_str();
    let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else {
        return bad("the url must be an http:// or https:// address".into());
    };
    if rest.is_empty()
        || rest.starts_with('/')
        || url.len() > bounds::MAX_URL_BYTES
        || url.chars().any(char::is_whitespace)
    {
        return bad(format!("the url must name a host, have no spaces and at most {} bytes", bounds::MAX_URL_BYTES));
    }
    if webhook.event_types.len() > bounds::MAX_WEBHOOK_EVENT_TYPES {
        return bad(format!("at most {} event types may be named", bounds::MAX_WEBHOOK_EVENT_TYPES));
    }
    if let Some(unknown) = webhook.event_types.iter().find(|t| !is_event_type(t)) {
        return bad(format!("{unknown:?} is not an event type"));
    }
    if !is_secret_ref(&webhook.secret_ref) {
        return bad("the secret_ref must name an environment variable or secret key ([A-Za-z0-9_.-], 1..=256)".into());
    }
    Ok(())
}

/// True for a name an environment variable or a secret-file key can have.
pub fn is_secret_ref(name: &str) -> bool {
    !name.is_empty() && name.len() <= 256 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn check_wecom(wecom: &WecomSettings) -> Result<(), TeamRejection> {
    let bad = |field, problem| Err(TeamRejection::BadWecom { field, problem });
    if wecom.corp_id.trim().is_empty() {
        return bad("corp_id", "must not be empty");
    }
    if wecom.agent_id == 0 {
        return bad("agent_id", "must be the application's AgentId");
    }
    for (field, name) in [
        ("token_ref", &wecom.token_ref),
        ("encoding_aes_key_ref", &wecom.encoding_aes_key_ref),
        ("secret_ref", &wecom.secret_ref),
    ] {
        if !is_secret_ref(name) {
            return bad(field, "must name an environment variable or secret key ([A-Za-z0-9_.-], 1..=256)");
        }
    }
    for (field, url) in [("api_base", &wecom.api_base), ("console_url", &wecom.console_url)] {
        if url.as_deref().is_some_and(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
            return bad(field, "must be an http:// or https:// address");
        }
        if url.as_deref().is_some_and(|u| u.len() > bounds::MAX_URL_BYTES) {
            return bad(field, "must be at most 2048 bytes long");
        }
    }
    for (field, text, max, problem) in [
        ("corp_id", Some(wecom.corp_id.as_str()), bounds::MAX_WECOM_ID_CHARS, "must be at most 64 characters long"),
        ("receive_id", wecom.receive_id.as_deref(), bounds::MAX_WECOM_ID_CHARS, "must be at most 64 characters long"),
        ("greeting", wecom.greeting.as_deref(), bounds::MAX_TEXT_CHARS, "must be at most 1000 characters long"),
    ] {
        if text.is_some_and(|t| t.chars().count() > max) {
            return bad(field, problem);
        }
    }
    Ok(())
}

impl Team {
    /// Folds one event into the state.
    pub fn apply(&mut self, event: &TeamEvent) {
        self.version += 1;
        match event {
            TeamEvent::TeamCreated(e) => {
                self.name = Some(e.name.clone());
                self.cloned_from = e.cloned_from.clone();
            }
            TeamEvent::TeamConfigured(e) => self.settings = e.settings.clone(),
            TeamEvent::RosterUpdated(e) => self.roster = e.roster.clone(),
            TeamEvent::AccessKeyIssued(e) => {
                let key = AccessKey {
                    label: e.label.clone(),
                    role: e.role,
                    staff: e.staff.clone(),
                    token_sha256: e.token_sha256.clone(),
                };
                self.keys.insert(e.key_id, key);
            }
            TeamEvent::AccessKeyRevoked(e) => {
                self.keys.remove(&e.key_id);
            }
            TeamEvent::WecomConfigured(e) => self.wecom = e.wecom.clone(),
            TeamEvent::WebhookRegistered(e) => {
                self.webhooks.insert(e.webhook_id, e.clone());
            }
            TeamEvent::WebhookRemoved(e) => {
                self.webhooks.remove(&e.webhook_id);
            }
            TeamEvent::OnCallConfigured(e) => self.on_call = Some(e.on_call.clone()),
            TeamEvent::OnCallOverrideAdded(e) => {
                self.staffing.overrides.insert(e.cover.override_id, e.cover.clone());
            }
            TeamEvent::OnCallOverrideRemoved(e) => {
                self.staffing.overrides.remove(&e.override_id);
            }
            TeamEvent::TimeOffAdded(e) => {
                self.staffing.time_off.insert(e.time_off.time_off_id, e.time_off.clone());
            }
            TeamEvent::TimeOffRemoved(e) => {
                self.staffing.time_off.remove(&e.time_off_id);
            }
            TeamEvent::AvailabilityChanged(e) => {
                if let Some(at) = e.at {
                    let said = SaidSo { at, away: e.away, back: !e.away };
                    let said = self.availability_said.get(&e.staff).map_or(said, |last| last.and(at, e.away));
                    self.availability_said.insert(e.staff.clone(), said);
                }
                if e.away {
                    self.staffing.away.insert(e.staff.clone());
                } else {
                    self.staffing.away.remove(&e.staff);
                }
            }
        }
    }

    /// The on-call set-up in force: the saved one, or the roster's weekly rotation.
    pub fn on_call_settings(&self) -> OnCallSettings {
        self.on_call.clone().unwrap_or_else(|| from_roster(&self.roster))
    }

    /// The on-call schedule in force.
    pub fn schedule(&self) -> Result<Schedule, OnCallError> {
        Schedule::new(self.on_call_settings())
    }

    /// The compiled policy for the engine; the holders of the team's keys count as its
    /// staff beside the roster.
    pub fn policy(&self) -> Result<TeamPolicy, PolicyError> {
        let holders = self.keys.values().map(|key| key.staff.clone());
        Ok(TeamPolicy::new(self.settings.clone(), self.roster.clone())?
            .with_on_call(self.schedule()?, self.staffing.clone())
            .with_key_holders(holders))
    }

    /// Refuses someone who is not the team's.
    fn known(&self, staff: &StaffId) -> Result<(), TeamRejection> {
        let policy = self.policy()?;
        if policy.is_staff(staff) {
            Ok(())
        } else {
            Err(TeamRejection::UnknownPerson(staff.clone()))
        }
    }

    /// The working key whose token has this digest.
    pub fn key_by_digest(&self, token_sha256: &str) -> Option<(Uuid, &AccessKey)> {
        self.keys.iter().find(|(_, key)| key.token_sha256 == token_sha256).map(|(id, key)| (*id, key))
    }

    /// A target precision is derived by Switchboard (`SetAnswerTarget`): settings given
    /// otherwise (the console, a configuration file, a clone) keep the team's as it is or
    /// have none.
    fn check_target_kept(&self, settings: &TeamSettings) -> Result<(), TeamRejection> {
        match &settings.answer_policy.target {
            Some(target) if self.settings.answer_policy.target.as_ref() != Some(target) => {
                Err(TeamRejection::TargetNotDerived)
            }
            _ => Ok(()),
        }
    }

    /// Decides what a command causes.
    pub fn decide(&self, command: &TeamCommand) -> Result<Vec<TeamEvent>, TeamRejection> {
        match (command, &self.name) {
            (TeamCommand::Create { name, cloned_from }, None) => {
                Ok(vec![TeamCreated { name: name.clone(), cloned_from: cloned_from.clone() }.into()])
            }
            (TeamCommand::Create { name, .. }, Some(existing)) if existing == name => Ok(Vec::new()),
            (TeamCommand::Create { .. }, Some(existing)) => Err(TeamRejection::AlreadyExists(existing.clone())),
            (TeamCommand::Onboard { name, cloned_from, settings, roster, on_call }, None) => {
                self.check_target_kept(settings)?;
                check_roster(roster)?;
                TeamPolicy::new((**settings).clone(), roster.clone())?;
                let mut events = vec![
                    TeamCreated { name: name.clone(), cloned_from: cloned_from.clone() }.into(),
                    TeamConfigured { settings: (**settings).clone() }.into(),
                ];
                if *roster != Roster::default() {
                    events.push(RosterUpdated { roster: roster.clone() }.into());
                }
                if let Some(on_call) = on_call {
                    Schedule::new((**on_call).clone())?;
                    events.push(OnCallConfigured { on_call: (**on_call).clone() }.into());
                }
                Ok(events)
            }
            (TeamCommand::Onboard { name, settings, roster, on_call, .. }, Some(existing)) if existing == name => {
                self.check_target_kept(settings)?;
                check_roster(roster)?;
                TeamPolicy::new((**settings).clone(), roster.clone())?;
                let mut events = Vec::new();
                if **settings != self.settings || self.version <= 1 {
                    events.push(TeamConfigured { settings: (**settings).clone() }.into());
                }
                if *roster != self.roster {
                    events.push(RosterUpdated { roster: roster.clone() }.into());
                }
                // The configuration's set-up, when it gives one, is the team's at every start
                // (as its settings are); without one, what the console saved stays.
                if let Some(on_call) = on_call.as_deref().filter(|o| self.on_call.as_ref() != Some(*o)) {
                    Schedule::new(on_call.clone())?;
                    events.push(OnCallConfigured { on_call: on_call.clone() }.into());
                }
                Ok(events)
            }
            (TeamCommand::Onboard { .. }, Some(existing)) => Err(TeamRejection::AlreadyExists(existing.clone())),
            (_, None) => Err(TeamRejection::NotCreated),
            (TeamCommand::Configure { settings }, Some(_)) => {
                self.check_target_kept(settings)?;
                TeamPolicy::new((**settings).clone(), self.roster.clone())?;
                if **settings == self.settings && self.version > 1 {
                    return Ok(Vec::new());
                }
                Ok(vec![TeamConfigured { settings: (**settings).clone() }.into()])
            }
            (TeamCommand::SetAnswerTarget { target }, Some(_)) => {
                let mut settings = self.settings.clone();
                let policy = &mut settings.answer_policy;
                policy.answer_at = target.answer_at;
                policy.clarify_at = policy.clarify_at.min(target.answer_at);
                policy.target = Some(target.clone());
                TeamPolicy::new(settings.clone(), self.roster.clone())?;
                if settings == self.settings {
                    return Ok(Vec::new());
                }
                Ok(vec![TeamConfigured { settings }.into()])
            }
            (TeamCommand::UpdateRoster { roster }, Some(_)) => {
                if self.on_call.is_some() {
                    return Err(TeamRejection::RosterSuperseded);
                }
                check_roster(roster)?;
                if *roster == self.roster {
                    return Ok(Vec::new());
                }
                Ok(vec![RosterUpdated { roster: roster.clone() }.into()])
            }
            (TeamCommand::IssueKey { key_id, label, role, staff, token_sha256 }, Some(_)) => {
                let label = label.trim();
                if label.is_empty() || label.chars().count() > bounds::MAX_LABEL_CHARS {
                    return Err(TeamRejection::BadKey("the label must have 1 to 100 characters"));
                }
                if staff.as_str().eq_ignore_ascii_case(RESERVED_STAFF) {
                    return Err(TeamRejection::BadKey(
                        "the staff id \"admin\" is reserved for the instance's administrators",
                    ));
                }
                if token_sha256.len() != 64 || !token_sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(TeamRejection::BadKey("the token digest must be 64 lower-case hex digits"));
                }
                if self.keys.contains_key(key_id) || self.key_by_digest(token_sha256).is_some() {
                    return Err(TeamRejection::DuplicateKey(*key_id));
                }
                Ok(vec![AccessKeyIssued {
                    key_id: *key_id,
                    label: label.to_owned(),
                    role: *role,
                    staff: staff.clone(),
                    token_sha256: token_sha256.clone(),
                }
                .into()])
            }
            (TeamCommand::RevokeKey { key_id }, Some(_)) => {
                if !self.keys.contains_key(key_id) {
                    return Err(TeamRejection::UnknownKey(*key_id));
                }
                Ok(vec![AccessKeyRevoked { key_id: *key_id }.into()])
            }
            (TeamCommand::ConfigureWecom { wecom }, Some(_)) => {
                let wecom = wecom.as_deref().cloned();
                if let Some(settings) = &wecom {
                    check_wecom(settings)?;
                }
                if wecom == self.wecom {
                    return Ok(Vec::new());
                }
                Ok(vec![WecomConfigured { wecom }.into()])
            }
            (TeamCommand::RegisterWebhook { webhook }, Some(_)) => {
                let webhook = WebhookRegistered { label: webhook.label.trim().to_owned(), ..webhook.clone() };
                check_webhook(&webhook)?;
                match self.webhooks.get(&webhook.webhook_id) {
                    Some(existing) if *existing == webhook => return Ok(Vec::new()),
                    None if self.webhooks.len() >= MAX_WEBHOOKS => {
                        return Err(TeamRejection::BadWebhook(format!(
                            "a team can have at most {MAX_WEBHOOKS} webhooks"
                        )))
                    }
                    _ => {}
                }
                Ok(vec![webhook.into()])
            }
            (TeamCommand::RemoveWebhook { webhook_id }, Some(_)) => {
                if !self.webhooks.contains_key(webhook_id) {
                    return Err(TeamRejection::UnknownWebhook(*webhook_id));
                }
                Ok(vec![WebhookRemoved { webhook_id: *webhook_id }.into()])
            }
            (TeamCommand::ConfigureOnCall { on_call }, Some(_)) => {
                Schedule::new((**on_call).clone())?;
                if self.on_call.as_ref() == Some(&**on_call) {
                    return Ok(Vec::new());
                }
                Ok(vec![OnCallConfigured { on_call: (**on_call).clone() }.into()])
            }
            (TeamCommand::AddOverride { cover, now }, Some(_)) => {
                if self.staffing.overrides.get(&cover.override_id) == Some(cover) {
                    return Ok(Vec::new());
                }
                self.known(&cover.staff)?;
                self.staffing.check_override(&self.schedule()?, cover, *now)?;
                Ok(vec![OnCallOverrideAdded { cover: cover.clone() }.into()])
            }
            (TeamCommand::RemoveOverride { override_id }, Some(_)) => {
                if !self.staffing.overrides.contains_key(override_id) {
                    return Err(TeamRejection::UnknownSpan(*override_id));
                }
                Ok(vec![OnCallOverrideRemoved { override_id: *override_id }.into()])
            }
            (TeamCommand::AddTimeOff { time_off, now }, Some(_)) => {
                if self.staffing.time_off.get(&time_off.time_off_id) == Some(time_off) {
                    return Ok(Vec::new());
                }
                self.known(&time_off.staff)?;
                self.staffing.check_time_off(time_off, *now)?;
                Ok(vec![TimeOffAdded { time_off: time_off.clone() }.into()])
            }
            (TeamCommand::RemoveTimeOff { time_off_id }, Some(_)) => {
                if !self.staffing.time_off.contains_key(time_off_id) {
                    return Err(TeamRejection::UnknownSpan(*time_off_id));
                }
                Ok(vec![TimeOffRemoved { time_off_id: *time_off_id }.into()])
            }
            (TeamCommand::SetAvailability { staff, away, clicked_at, now }, Some(_)) => {
                self.known(staff)?;
                let last = self.availability_said.get(staff);
                if clicked_at.is_some_and(|t| last.is_some_and(|last| last.outdates(t, *away))) {
                    return Ok(Vec::new());
                }
                // The console's "now", in whole seconds like a click's (so a repeat within
                // the second adds nothing), is never recorded as earlier than a click seen.
                let now = now.trunc_subsecs(0);
                let at = clicked_at.unwrap_or_else(|| last.map_or(now, |last| last.at.max(now)));
                // A say-so that repeats the state is recorded too: its time outdates any
                // older click still on its way. One that adds nothing (same state, no later
                // time, already said) is not.
                let unchanged = self.staffing.away.contains(staff) == *away;
                if unchanged && last.is_some_and(|last| last.outdates(at, *away)) {
                    return Ok(Vec::new());
                }
                Ok(vec![AvailabilityChanged { staff: staff.clone(), away: *away, at: Some(at) }.into()])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone;
    use switchboard_schemas::StaffId;

    fn fold(events: &[TeamEvent]) -> Team {
        let mut team = Team::default();
        events.iter().for_each(|e| team.apply(e));
        team
    }

    fn run(team: &mut Team, command: TeamCommand) -> Vec<TeamEvent> {
        let events = team.decide(&command).unwrap();
        events.iter().for_each(|e| team.apply(e));
        events
    }

    fn created() -> Team {
        fold(&[TeamCreated { name: "Ops".into(), cloned_from: None }.into()])
    }

    #[test]
    fn a_team_is_created_configured_and_rostered_once() {
        let mut team = Team::default();
        let created = team.decide(&TeamCommand::Create { name: "Ops".into(), cloned_from: None }).unwrap();
        created.iter().for_each(|e| team.apply(e));
        assert!(team.decide(&TeamCommand::Create { name: "Ops".into(), cloned_from: None }).unwrap().is_empty());
        assert_eq!(
            team.decide(&TeamCommand::Create { name: "Other".into(), cloned_from: None }),
            Err(TeamRejection::AlreadyExists("Ops".into()))
        );
        let configured = team.decide(&TeamCommand::Configure { settings: Box::new(TeamSettings::default()) }).unwrap();
        assert_eq!(configured.len(), 1, "the first configuration is recorded even if it equals the defaults");
        configured.iter().for_each(|e| team.apply(e));
        assert!(team
            .decide(&TeamCommand::Configure { settings: Box::new(TeamSettings::default()) })
            .unwrap()
            .is_empty());
        let roster = Roster { default: vec![StaffId::new("zhao").unwrap()], ..Roster::default() };
        let updated = team.decide(&TeamCommand::UpdateRoster { roster: roster.clone() }).unwrap();
        updated.iter().for_each(|e| team.apply(e));
        assert_eq!(fold(&[created, configured, updated].concat()), team);
        assert!(team.decide(&TeamCommand::UpdateRoster { roster }).unwrap().is_empty());
    }

    #[test]
    fn a_target_precision_sets_the_derived_threshold_and_only_switchboard_derives_one() {
        use switchboard_schemas::event::TargetBasis;
        let target = AnswerTarget {
            precision: 0.95,
            answer_at: 0.62,
            basis: TargetBasis::Outcomes,
            count: 240,
            expected_precision: 0.953,
            coverage: 0.7,
        };
        // Given a team answering at 0.4 and clarifying at 0.2 (the defaults) and a stricter clarify band,
        let mut team = created();
        let mut settings = TeamSettings::default();
        settings.answer_policy.clarify_at = 0.3;
        run(&mut team, TeamCommand::Configure { settings: Box::new(settings) });
        // when a target is set, the answer threshold is the derived one, the clarify threshold kept,
        run(&mut team, TeamCommand::SetAnswerTarget { target: target.clone() });
        let policy = &team.settings.answer_policy;
        assert_eq!((policy.answer_at, policy.clarify_at, policy.target.as_ref()), (0.62, 0.3, Some(&target)));
        // and a target under the clarify threshold lowers it to the answer threshold.
        let low = AnswerTarget { answer_at: 0.25, ..target.clone() };
        let events = team.decide(&TeamCommand::SetAnswerTarget { target: low.clone() }).unwrap();
        let Some(TeamEvent::TeamConfigured(e)) = events.first() else { panic!("{events:?}") };
        assert_eq!((e.settings.answer_policy.answer_at, e.settings.answer_policy.clarify_at), (0.25, 0.25));
        // Settings that keep the team's target are accepted; ones that bring another are refused,
        let kept = team.settings.clone();
        assert!(team.decide(&TeamCommand::Configure { settings: Box::new(kept.clone()) }).unwrap().is_empty());
        let mut forged = kept.clone();
        forged.answer_policy.target = Some(AnswerTarget { count: 10_000, ..target.clone() });
        assert_eq!(
            team.decide(&TeamCommand::Configure { settings: Box::new(forged) }),
            Err(TeamRejection::TargetNotDerived)
        );
        // as is a threshold by hand beside the target; without the target it is the team's.
        let mut by_hand = kept.clone();
        by_hand.answer_policy.answer_at = 0.5;
        assert_eq!(
            team.decide(&TeamCommand::Configure { settings: Box::new(by_hand.clone()) }),
            Err(TeamRejection::Invalid(PolicyError::TargetThreshold { answer_at: 0.5, derived: 0.62 }))
        );
        by_hand.answer_policy.target = None;
        run(&mut team, TeamCommand::Configure { settings: Box::new(by_hand) });
        assert_eq!((team.settings.answer_policy.answer_at, team.settings.answer_policy.target.as_ref()), (0.5, None));
        // Nor may onboarding (a configuration file, a clone) bring one.
        let mut configured = TeamSettings::default();
        configured.answer_policy.answer_at = target.answer_at;
        configured.answer_policy.target = Some(target.clone());
        let onboard = TeamCommand::Onboard {
            name: "New".into(),
            cloned_from: None,
            settings: Box::new(configured),
            roster: Roster::default(),
            on_call: None,
        };
        assert_eq!(Team::default().decide(&onboard), Err(TeamRejection::TargetNotDerived));
        // A target out of bounds is refused.
        let wild = AnswerTarget { precision: 1.0, ..target };
        assert!(matches!(
            team.decide(&TeamCommand::SetAnswerTarget { target: wild }),
            Err(TeamRejection::Invalid(PolicyError::OutOfBounds(_)))
        ));
    }

    #[test]
    fn onboarding_is_one_commit_and_again_changes_only_what_differs() {
        // Given no team, when it is onboarded with settings and a roster,
        let mut team = Team::default();
        let roster = Roster { default: vec![StaffId::new("zhao").unwrap()], ..Roster::default() };
        let settings = TeamSettings { reconfirm_after_secs: 600, ..TeamSettings::default() };
        let onboard = |settings: &TeamSettings, roster: &Roster, name: &str| TeamCommand::Onboard {
            on_call: None,
            name: name.into(),
            cloned_from: None,
            settings: Box::new(settings.clone()),
            roster: roster.clone(),
        };
        let events = run(&mut team, onboard(&settings, &roster, "Ops"));
        // then it is created, configured and rostered by one decision.
        let types: Vec<&str> = events.iter().map(TeamEvent::event_type).collect();
        assert_eq!(types, ["TeamCreated", "TeamConfigured", "RosterUpdated"]);
        assert_eq!((team.settings.clone(), team.roster.clone()), (settings.clone(), roster.clone()));
        // Onboarding it again as it is changes nothing; with a new roster, only the roster.
        assert!(team.decide(&onboard(&settings, &roster, "Ops")).unwrap().is_empty());
        let wider = Roster { default: vec![StaffId::new("qian").unwrap()], ..Roster::default() };
        let types: Vec<&str> =
            run(&mut team, onboard(&settings, &wider, "Ops")).iter().map(TeamEvent::event_type).collect();
        assert_eq!(types, ["RosterUpdated"]);
        // Another name is another team: refused.
        assert_eq!(team.decide(&onboard(&settings, &wider, "Other")), Err(TeamRejection::AlreadyExists("Ops".into())));
        // Bad settings are refused before anything is created.
        let bad = TeamSettings { reconfirm_after_secs: 0, ..TeamSettings::default() };
        assert!(Team::default().decide(&onboard(&bad, &roster, "New")).is_err());
        // An empty roster is not recorded as a change.
        let types: Vec<&str> = Team::default()
            .decide(&onboard(&settings, &Roster::default(), "New"))
            .unwrap()
            .iter()
            .map(TeamEvent::event_type)
            .collect();
        assert_eq!(types, ["TeamCreated", "TeamConfigured"]);
    }

    /// A created team with zhao on its roster.
    fn zhao_on_roster() -> (Team, StaffId) {
        let mut team = created();
        let zhao = StaffId::new("zhao").unwrap();
        run(
            &mut team,
            TeamCommand::UpdateRoster { roster: Roster { default: vec![zhao.clone()], ..Roster::default() } },
        );
        (team, zhao)
    }

    /// A WeCom click of `staff` made at `at`, delivered a second later.
    fn click_at(staff: &StaffId, away: bool, at: DateTime<Utc>) -> TeamCommand {
        TeamCommand::SetAvailability {
            staff: staff.clone(),
            away,
            clicked_at: Some(at),
            now: at + chrono::Duration::seconds(1),
        }
    }

    #[test]
    fn a_say_so_about_availability_delivered_late_never_undoes_a_later_one() {
        // Given zhao on the roster, who marked themselves away at 10:00 and back at 10:05,
        let (mut team, zhao) = zhao_on_roster();
        let at = |minute: u32| chrono::Utc.with_ymd_and_hms(2026, 12, 7, 10, minute, 0).unwrap();
        let click = |away: bool, minute: u32| click_at(&zhao, away, at(minute));
        assert_eq!(run(&mut team, click(true, 0)).len(), 1);
        assert_eq!(run(&mut team, click(true, 2)).len(), 1, "already away, but said again later: recorded");
        assert_eq!(run(&mut team, click(false, 5)).len(), 1);
        // when either earlier "away" click arrives again (a retry), or the "back" itself,
        // nothing changes: "back" stands;
        for retried in [click(true, 0), click(true, 2), click(false, 5)] {
            assert!(team.decide(&retried).unwrap().is_empty());
        }
        assert!(!team.staffing.away.contains(&zhao));
        // a later click counts, and so does the console, which says so now, whatever the
        // times of earlier clicks.
        assert_eq!(run(&mut team, click(true, 6)).len(), 1);
        assert!(team.staffing.away.contains(&zhao));
        let console = TeamCommand::SetAvailability { staff: zhao.clone(), away: false, clicked_at: None, now: at(3) };
        assert_eq!(run(&mut team, console).len(), 1);
        assert!(!team.staffing.away.contains(&zhao));
        // Its time never goes back (a clock behind WeCom's), so a retry still finds it later.
        assert_eq!(team.availability_said.get(&zhao).map(|s| s.at), Some(at(6)));
        assert!(team.decide(&click(true, 6)).unwrap().is_empty());
    }

    #[test]
    fn a_say_so_that_repeats_the_state_still_outdates_an_older_click_on_its_way() {
        // Given zhao, away at 10:00 and back at 10:05,
        let (mut team, zhao) = zhao_on_roster();
        let at = |minute: u32| chrono::Utc.with_ymd_and_hms(2026, 12, 7, 10, minute, 0).unwrap();
        let click = |away: bool, minute: u32| click_at(&zhao, away, at(minute));
        run(&mut team, click(true, 0));
        run(&mut team, click(false, 5));
        // when they say "back" again at 10:07 and an "away" clicked at 10:06 arrives after it,
        assert_eq!(run(&mut team, click(false, 7)).len(), 1, "the repeated say-so is recorded with its time");
        assert!(team.decide(&click(true, 6)).unwrap().is_empty(), "the older click changes nothing");
        // then they stay back; and the repeated say-so delivered again adds nothing.
        assert!(!team.staffing.away.contains(&zhao));
        assert!(team.decide(&click(false, 7)).unwrap().is_empty());
    }

    #[test]
    fn two_clicks_in_one_second_both_count_and_their_retries_do_not() {
        // Given zhao on the roster,
        let (mut team, zhao) = zhao_on_roster();
        let second = chrono::Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap();
        let click = |away: bool| click_at(&zhao, away, second);
        // when they click "away" and then "back" within the same second (WeCom's times are
        // whole seconds),
        assert_eq!(run(&mut team, click(true)).len(), 1);
        assert_eq!(run(&mut team, click(false)).len(), 1, "a click saying the other thing is a new wish");
        // then they are back, and either click delivered again changes nothing.
        assert!(!team.staffing.away.contains(&zhao));
        assert!(team.decide(&click(true)).unwrap().is_empty());
        assert!(team.decide(&click(false)).unwrap().is_empty());
    }

    #[test]
    fn a_cloned_team_remembers_its_template() {
        let mut team = Team::default();
        let template = TeamId::new("template").unwrap();
        run(&mut team, TeamCommand::Create { name: "New".into(), cloned_from: Some(template.clone()) });
        assert_eq!(team.cloned_from, Some(template));
    }

    #[test]
    fn configuring_an_unknown_team_or_with_bad_settings_is_refused() {
        let team = Team::default();
        assert_eq!(
            team.decide(&TeamCommand::Configure { settings: Box::new(TeamSettings::default()) }),
            Err(TeamRejection::NotCreated)
        );
        let team = created();
        let settings = TeamSettings { close_after_secs: 0, ..TeamSettings::default() };
        assert!(matches!(
            team.decide(&TeamCommand::Configure { settings: Box::new(settings) }),
            Err(TeamRejection::Invalid(_))
        ));
    }

    #[test]
    fn a_team_key_cannot_be_issued_to_the_reserved_administrator() {
        let team = created();
        let mut command = issue(1, &"a".repeat(64));
        if let TeamCommand::IssueKey { staff, .. } = &mut command {
            *staff = StaffId::new("Admin").unwrap();
        }
        assert!(matches!(team.decide(&command), Err(TeamRejection::BadKey(_))));
    }

    #[test]
    fn an_unbounded_roster_is_refused() {
        let team = created();
        let roster = Roster {
            default: (0..1_000).map(|i| StaffId::new(format!("e{i}")).unwrap()).collect(),
            ..Roster::default()
        };
        assert!(matches!(
            team.decide(&TeamCommand::UpdateRoster { roster }),
            Err(TeamRejection::Invalid(PolicyError::OutOfBounds(_)))
        ));
    }

    fn issue(key_id: u128, digest: &str) -> TeamCommand {
        TeamCommand::IssueKey {
            key_id: Uuid::from_u128(key_id),
            label: " laptop ".into(),
            role: AccessRole::Agent,
            staff: StaffId::new("wang_fang").unwrap(),
            token_sha256: digest.into(),
        }
    }

    #[test]
    fn keys_are_issued_found_by_digest_and_revoked_once() {
        let mut team = created();
        let digest = "a".repeat(64);
        let issued = run(&mut team, issue(1, &digest));
        assert_eq!(issued[0].event_type(), "AccessKeyIssued");
        let (id, key) = team.key_by_digest(&digest).unwrap();
        assert_eq!((id, key.label.as_str(), key.role), (Uuid::from_u128(1), "laptop", AccessRole::Agent));
        assert_eq!(team.decide(&issue(1, &"b".repeat(64))), Err(TeamRejection::DuplicateKey(Uuid::from_u128(1))));
        assert_eq!(team.decide(&issue(2, &digest)), Err(TeamRejection::DuplicateKey(Uuid::from_u128(2))));
        run(&mut team, TeamCommand::RevokeKey { key_id: Uuid::from_u128(1) });
        assert!(team.key_by_digest(&digest).is_none());
        assert_eq!(
            team.decide(&TeamCommand::RevokeKey { key_id: Uuid::from_u128(1) }),
            Err(TeamRejection::UnknownKey(Uuid::from_u128(1)))
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        let team = created();
        assert!(matches!(team.decide(&issue(1, "not-hex")), Err(TeamRejection::BadKey(_))));
        assert!(matches!(team.decide(&issue(1, &"A".repeat(64))), Err(TeamRejection::BadKey(_))));
        let mut unlabelled = issue(1, &"a".repeat(64));
        if let TeamCommand::IssueKey { label, .. } = &mut unlabelled {
            *label = "  ".into();
        }
        assert!(matches!(team.decide(&unlabelled), Err(TeamRejection::BadKey(_))));
    }

    fn wecom() -> WecomSettings {
        WecomSettings {
            corp_id: "ww1".into(),
            agent_id: 1_000_002,
            receive_id: None,
            token_ref: "OPS_TOKEN".into(),
            encoding_aes_key_ref: "OPS_AES".into(),
            secret_ref: "OPS_SECRET".into(),
            api_base: None,
            console_url: Some("https://sb.example.com".into()),
            greeting: None,
        }
    }

    #[test]
    fn a_wecom_application_is_set_up_replaced_and_removed() {
        let mut team = created();
        let set = TeamCommand::ConfigureWecom { wecom: Some(Box::new(wecom())) };
        assert_eq!(run(&mut team, set.clone()).len(), 1);
        assert_eq!(team.wecom, Some(wecom()));
        assert!(team.decide(&set).unwrap().is_empty(), "the same settings again change nothing");
        run(&mut team, TeamCommand::ConfigureWecom { wecom: None });
        assert_eq!(team.wecom, None);
    }

    #[test]
    fn unusable_wecom_settings_are_refused_with_the_field() {
        let team = created();
        type Spoil = fn(&mut WecomSettings);
        let cases: [(&str, Spoil); 4] = [
            ("corp_id", |w| w.corp_id = " ".into()),
            ("agent_id", |w| w.agent_id = 0),
            ("secret_ref", |w| w.secret_ref = "has space".into()),
            ("console_url", |w| w.console_url = Some("ftp://x".into())),
        ];
        for (field, spoil) in cases {
            let mut settings = wecom();
            spoil(&mut settings);
            let refused = team.decide(&TeamCommand::ConfigureWecom { wecom: Some(Box::new(settings)) });
            assert!(matches!(refused, Err(TeamRejection::BadWecom { field: f, .. }) if f == field), "{field}");
        }
    }

    fn webhook(id: u128) -> WebhookRegistered {
        WebhookRegistered {
            webhook_id: Uuid::from_u128(id),
            label: " CRM ".into(),
            url: "https://crm.example.com/hooks/switchboard".into(),
            event_types: vec!["SessionOpened".into(), "SessionClosed".into()],
            secret_ref: "SWITCHBOARD_WEBHOOK_1".into(),
        }
    }

    #[test]
    fn a_webhook_is_registered_changed_and_removed() {
        let mut team = created();
        let register = TeamCommand::RegisterWebhook { webhook: webhook(1) };
        assert_eq!(run(&mut team, register.clone()).len(), 1);
        assert_eq!(team.webhooks[&Uuid::from_u128(1)].label, "CRM", "the label is trimmed");
        assert!(team.decide(&register).unwrap().is_empty(), "the same endpoint again changes nothing");
        let all_types = WebhookRegistered { event_types: Vec::new(), ..webhook(1) };
        run(&mut team, TeamCommand::RegisterWebhook { webhook: all_types });
        assert!(team.webhooks[&Uuid::from_u128(1)].event_types.is_empty());
        run(&mut team, TeamCommand::RemoveWebhook { webhook_id: Uuid::from_u128(1) });
        assert!(team.webhooks.is_empty());
        assert_eq!(
            team.decide(&TeamCommand::RemoveWebhook { webhook_id: Uuid::from_u128(1) }),
            Err(TeamRejection::UnknownWebhook(Uuid::from_u128(1)))
        );
    }

    #[test]
    fn unusable_webhooks_are_refused_and_their_number_is_bounded() {
        let mut team = created();
        type Spoil = fn(&mut WebhookRegistered);
        let cases: [Spoil; 6] = [
            |w| w.url = "ftp://crm.example.com".into(),
            |w| w.url = "https://".into(),
            |w| w.url = "https://crm.example.com/a b".into(),
            |w| w.event_types = vec!["SessionExploded".into()],
            |w| w.secret_ref = "has space".into(),
            |w| w.label = " ".into(),
        ];
        for spoil in cases {
            let mut hook = webhook(1);
            spoil(&mut hook);
            let refused = team.decide(&TeamCommand::RegisterWebhook { webhook: hook.clone() });
            assert!(matches!(refused, Err(TeamRejection::BadWebhook(_))), "{hook:?}");
        }
        for id in 0..MAX_WEBHOOKS as u128 {
            run(&mut team, TeamCommand::RegisterWebhook { webhook: webhook(id) });
        }
        let one_more = team.decide(&TeamCommand::RegisterWebhook { webhook: webhook(1_000) });
        assert!(matches!(one_more, Err(TeamRejection::BadWebhook(_))));
        let changed = WebhookRegistered { url: "http://10.0.0.1:9000/in".into(), ..webhook(3) };
        assert_eq!(run(&mut team, TeamCommand::RegisterWebhook { webhook: changed }).len(), 1, "changes still work");
    }
}
