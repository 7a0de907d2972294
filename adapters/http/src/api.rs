//! The conversation endpoints under `/api/v1`: operators' messages for an API channel,
//! conversation detail, audit and event stream, and every staff action on a session.
//! Commands go through the runtime and become events; each staff action can carry the
//! conversation version it was decided on (`expected_version`), so acting on a stale view
//! is refused instead of undoing a change the person has not seen.

use std::sync::Arc;
use std::time::Duration;

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use switchboard_engine::conversation::Command;
use switchboard_projections::conversation::{audit, view, Speaker};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{AccessRole, Actor, Channel, Recipient, SessionStatus};
use switchboard_schemas::{MessageId, StaffId, StreamId, TeamId, UserId};
use tokio::time::Instant;
use uuid::Uuid;

use crate::auth::AccessKey;
use crate::dto::*;
use crate::error::ApiError;
use crate::params::{Count, TeamParam, UserParam, Version};
use crate::{ApiTags, AppState};

/// Longest a caller may wait for new events of a conversation.
const MAX_EVENT_WAIT: Duration = Duration::from_secs(30);

/// The conversation endpoints.
pub struct Api {
    pub(crate) state: Arc<AppState>,
}

/// Waits until the watched stream changes or `within` has passed.
async fn wait_for_change(changed: &mut tokio::sync::watch::Receiver<u64>, within: Duration) {
    let wait = async {
        if changed.changed().await.is_err() {
            // The registry is gone (the instance is stopping): just wait out the time.
            std::future::pending::<()>().await;
        }
    };
    let _ = tokio::time::timeout(within, wait).await;
}

pub(crate) fn team_id(raw: &str) -> Result<TeamId, ApiError> {
    TeamId::new(raw).map_err(|e| ApiError::bad_request("bad_team_id", e))
}

pub(crate) fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::new(raw).map_err(|e| ApiError::bad_request("bad_user_id", e))
}

pub(crate) fn staff_id(raw: &str) -> Result<StaffId, ApiError> {
    StaffId::new(raw).map_err(|e| ApiError::bad_request("bad_staff_id", e))
}

impl Api {
    /// Checks the key, then runs a command on the conversation (if still at `expected`).
    async fn command(
        &self,
        key: &AccessKey,
        team: &str,
        user: &str,
        expected: Option<u64>,
        command: impl FnOnce(StaffId) -> Result<Command, ApiError>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let (team, user) = (team_id(team)?, user_id(user)?);
        let principal = self.state.authorize(key, &team, AccessRole::Agent).await?;
        let command = command(principal.actor())?;
        let causation = Causation::root(Uuid::now_v7());
        let committed = self.state.runtime.conversation_expecting(&team, &user, command, causation, expected).await?;
        Ok(Json(committed.into()))
    }

    /// The stored events of a conversation that exists, after checking the key.
    async fn events_of(
        &self,
        key: &AccessKey,
        team: &str,
        user: &str,
    ) -> Result<(TeamId, UserId, Vec<switchboard_schemas::RecordedEvent>), ApiError> {
        let (team, user) = (team_id(team)?, user_id(user)?);
        self.state.authorize(key, &team, AccessRole::Viewer).await?;
        self.state.runtime.policy(&team).await?;
        let events = self.state.runtime.conversation_events(&team, &user).await?;
        if events.is_empty() {
            return Err(ApiError::not_found("no_conversation", format!("{user} has no conversation with {team}")));
        }
        Ok((team, user, events))
    }
}

#[OpenApi(tag = "ApiTags::Conversations")]
impl Api {
    /// Send a message as an operator (an API channel; needs the agent role).
    ///
    /// The message is recorded durably first; Switchboard then looks up the FAQ and
    /// replies asynchronously. This call waits briefly for the reply and returns what is
    /// there; anything later appears on the conversation.
    #[oai(path = "/teams/:team/messages", method = "post")]
    async fn send_message(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<SendMessage>,
    ) -> Result<Json<MessageAccepted>, ApiError> {
        let team = team_id(&team)?;
        self.state.authorize(&key, &team, AccessRole::Agent).await?;
        let user = user_id(&body.user)?;
        let message_id =
            MessageId(body.message_id.as_deref().map_or_else(|| Uuid::now_v7().to_string(), str::to_owned));
        let command = Command::ReceiveMessage {
            user: user.clone(),
            message_id,
            text: body.text.to_string(),
            channel: Channel::Api,
        };
        let runtime = &self.state.runtime;
        // Watching before the command is run: nothing appended after it can be missed.
        let mut changed = self.state.live.watch(&StreamId::conversation(&team, &user));
        let committed = runtime.conversation(&team, &user, command, Causation::root(Uuid::now_v7())).await?;
        let deadline = Instant::now() + self.state.limits.reply_wait;
        loop {
            let state = runtime.load_conversation(&team, &user).await?;
            let status = state.session.as_ref().map(|s| s.status());
            let remaining = deadline.saturating_duration_since(Instant::now());
            let settled = !matches!(status, Some(SessionStatus::Matching)) && state.pending_deliveries.is_empty()
                || remaining.is_zero();
            if settled {
                let events = runtime.conversation_events(&team, &user).await?;
                let view = view(&events)?;
                let session = view.sessions.last();
                let replies = session
                    .map(|s| {
                        s.messages
                            .iter()
                            .filter(|m| m.from != Speaker::Operator && m.position > committed.position)
                            .filter(|m| matches!(m.to, Some(Recipient::Operator(_))))
                            .map(Message::from)
                            .collect()
                    })
                    .unwrap_or_default();
                return Ok(Json(MessageAccepted {
                    session_id: session.map(|s| s.session_id),
                    status: status.unwrap_or(SessionStatus::Collecting).into(),
                    replies,
                    recorded: committed.events > 0,
                }));
            }
            wait_for_change(&mut changed, remaining).await;
        }
    }

    /// A conversation: every session with its messages, matched FAQs and remarks, and
    /// the timeline of every event.
    #[oai(path = "/teams/:team/conversations/:user", method = "get")]
    async fn conversation(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        user: Path<UserParam>,
    ) -> Result<Json<Conversation>, ApiError> {
        self.audit(key, team, user, Query(None)).await
    }

    /// A conversation as it was at a moment (`at`, RFC 3339), rebuilt from the log.
    #[oai(path = "/teams/:team/conversations/:user/audit", method = "get")]
    async fn audit(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        user: Path<UserParam>,
        at: Query<Option<chrono::DateTime<chrono::Utc>>>,
    ) -> Result<Json<Conversation>, ApiError> {
        let (team, user, events) = self.events_of(&key, &team, &user).await?;
        let audit = audit(&events, at.0)?;
        Ok(Json(Conversation::from_view(team.as_str(), user.as_str(), &audit.view, at.0)))
    }

    /// The conversation's events as stored (the subscribers' envelope), after stream
    /// version `after`; with `wait` (seconds, at most 30) the call waits for the next
    /// event when there is none yet, so a client can follow a conversation live.
    #[oai(path = "/teams/:team/conversations/:user/events", method = "get")]
    async fn events(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        user: Path<UserParam>,
        /// Only events after this stream version (default 0: all).
        after: Query<Option<Version>>,
        /// Seconds to wait for a new event when there is none (default 0, at most 30).
        wait: Query<Option<Count<0, { MAX_EVENT_WAIT.as_secs() }>>>,
    ) -> Result<Json<EventPage>, ApiError> {
        let (team, user, _) = self.events_of(&key, &team, &user).await?;
        let after = after.0.map_or(0, Version::get);
        let wait = Duration::from_secs(wait.0.map_or(0, Count::get));
        if wait > MAX_EVENT_WAIT {
            return Err(ApiError::bad_request("bad_wait", "wait is at most 30 seconds"));
        }
        let mut changed = self.state.live.watch(&StreamId::conversation(&team, &user));
        let deadline = Instant::now() + wait;
        loop {
            let events = self.state.runtime.conversation_events_after(&team, &user, after).await?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if !events.is_empty() || remaining.is_zero() {
                let version = events.last().map_or(after, |e| e.version);
                return Ok(Json(EventPage { events: events.iter().map(Envelope::from).collect(), version }));
            }
            wait_for_change(&mut changed, remaining).await;
        }
    }

    /// The operator's feedback on the last answer (an API channel; needs the agent role).
    #[oai(path = "/teams/:team/conversations/:user/feedback", method = "post")]
    async fn feedback(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        user: Path<UserParam>,
        body: Json<Feedback>,
    ) -> Result<Json<CommandResult>, ApiError> {
        self.command(&key, &team, &user, None, |_| Ok(Command::GiveFeedback { resolved: body.resolved })).await
    }

    /// The operator asks for a person (an API channel; needs the agent role).
    #[oai(path = "/teams/:team/conversations/:user/human", method = "post")]
    async fn request_human(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        user: Path<UserParam>,
    ) -> Result<Json<CommandResult>, ApiError> {
        self.command(&key, &team, &user, None, |_| Ok(Command::RequestHuman)).await
    }

    /// Transfer the session to a named engineer, or to the one on call for its category.
    #[oai(path = "/teams/:team/conversations/:user/transfer", method = "post")]
    async fn transfer(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        user: Path<UserParam>,
        /// The conversation version the decision was made on; refused (409) if it moved.
        expected_version: Query<Option<Version>>,
        body: Json<TransferRequest>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let to = body.to.as_deref().map(staff_id).transpose()?;
        self.command(&key, &team, &user, expected_version.0.map(Version::get), |by| Ok(Command::Transfer { by, to }))
            .await
    }

    /// Acknowledge the hand-over as the key's holder: its escalation stops and the
    /// acknowledgment target is met (a repeat changes nothing).
    #[oai(path = "/teams/:team/conversations/:user/acknowledge", method = "post")]
    async fn acknowledge(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        user: Path<UserParam>,
    ) -> Result<Json<CommandResult>, ApiError> {
        self.command(&key, &team, &user, None, |by| Ok(Command::Acknowledge { by, session_id: None, notice: None }))
            .await
    }

    /// Reply to the operator as the key's holder.
    #[oai(path = "/teams/:team/conversations/:user/replies", method = "post")]
    async fn reply(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        user: Path<UserParam>,
        /// The conversation version the decision was made on; refused (409) if it moved.
        expected_version: Query<Option<Version>>,
        body: Json<StaffText>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let text = body.text.to_string();
        self.command(&key, &team, &user, expected_version.0.map(Version::get), |staff| {
            Ok(Command::HumanReply { staff, text })
        })
        .await
    }

    /// Add a remark to the session (staff only; never shown to the operator).
    #[oai(path = "/teams/:team/conversations/:user/remarks", method = "post")]
    async fn remark(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        user: Path<UserParam>,
        /// The conversation version the remark was written on; refused (409) if it moved.
        expected_version: Query<Option<Version>>,
        body: Json<StaffText>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let text = body.text.to_string();
        self.command(&key, &team, &user, expected_version.0.map(Version::get), |author| {
            Ok(Command::AddRemark { author, text })
        })
        .await
    }

    /// Change the session's status (with_human, waiting or closed).
    #[oai(path = "/teams/:team/conversations/:user/status", method = "post")]
    async fn status(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        user: Path<UserParam>,
        /// The conversation version the decision was made on; refused (409) if it moved.
        expected_version: Query<Option<Version>>,
        body: Json<StatusRequest>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let to = body.to.into();
        self.command(&key, &team, &user, expected_version.0.map(Version::get), |by| {
            Ok(Command::ChangeStatus { by, to })
        })
        .await
    }

    /// Close the session.
    #[oai(path = "/teams/:team/conversations/:user/close", method = "post")]
    async fn close(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        user: Path<UserParam>,
        /// The conversation version the decision was made on; refused (409) if it moved.
        expected_version: Query<Option<Version>>,
    ) -> Result<Json<CommandResult>, ApiError> {
        self.command(&key, &team, &user, expected_version.0.map(Version::get), |by| Ok(Command::Close { by })).await
    }

    /// Reopen the last session.
    #[oai(path = "/teams/:team/conversations/:user/reopen", method = "post")]
    async fn reopen(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        user: Path<UserParam>,
        /// The conversation version the decision was made on; refused (409) if it moved.
        expected_version: Query<Option<Version>>,
    ) -> Result<Json<CommandResult>, ApiError> {
        self.command(&key, &team, &user, expected_version.0.map(Version::get), |by| {
            Ok(Command::Reopen { by: Actor::Staff(by) })
        })
        .await
    }

    /// Open a WeCom group chat between the operator and the on-call engineers (once per
    /// session; asking again changes nothing).
    #[oai(path = "/teams/:team/conversations/:user/group-chat", method = "post")]
    async fn group_chat(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        user: Path<UserParam>,
        /// The conversation version the decision was made on; refused (409) if it moved.
        expected_version: Query<Option<Version>>,
    ) -> Result<Json<CommandResult>, ApiError> {
        self.command(&key, &team, &user, expected_version.0.map(Version::get), |by| {
            Ok(Command::RequestGroupChat { by: Actor::Staff(by) })
        })
        .await
    }
}
