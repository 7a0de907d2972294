//! The REST endpoints, grouped under `/api/v1`.

use std::sync::Arc;

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use switchboard_engine::conversation::Command;
use switchboard_engine::runtime::Committed;
use switchboard_projections::conversation::{audit, view, Speaker};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Actor, Channel, SessionStatus};
use switchboard_schemas::{MessageId, StaffId, TeamId, UserId};
use tokio::time::Instant;
use uuid::Uuid;

use crate::dto::*;
use crate::error::ApiError;
use crate::AppState;

/// The API.
pub struct Api {
    pub(crate) state: Arc<AppState>,
}

fn team_id(raw: &str) -> Result<TeamId, ApiError> {
    TeamId::new(raw).map_err(|e| ApiError::bad_request("bad_team_id", e))
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::new(raw).map_err(|e| ApiError::bad_request("bad_user_id", e))
}

fn staff_id(raw: &str) -> Result<StaffId, ApiError> {
    StaffId::new(raw).map_err(|e| ApiError::bad_request("bad_staff_id", e))
}

fn result(committed: Committed) -> Json<CommandResult> {
    Json(CommandResult { version: committed.version, events: u32::try_from(committed.events).unwrap_or(u32::MAX) })
}

impl Api {
    async fn command(&self, team: &str, user: &str, command: Command) -> Result<Json<CommandResult>, ApiError> {
        let (team, user) = (team_id(team)?, user_id(user)?);
        let committed = self.state.runtime.conversation(&team, &user, command, Causation::root(Uuid::now_v7())).await?;
        Ok(result(committed))
    }
}

#[OpenApi]
impl Api {
    /// Send a message as an operator.
    ///
    /// The message is recorded durably first; Switchboard then looks up the FAQ and
    /// replies asynchronously. This call waits briefly for the reply and returns what is
    /// there; anything later appears on the conversation.
    #[oai(path = "/teams/:team/messages", method = "post")]
    async fn send_message(
        &self,
        team: Path<String>,
        body: Json<SendMessage>,
    ) -> Result<Json<MessageAccepted>, ApiError> {
        let team = team_id(&team)?;
        let user = user_id(&body.user)?;
        let message_id = MessageId(body.message_id.clone().unwrap_or_else(|| Uuid::now_v7().to_string()));
        let command =
            Command::ReceiveMessage { user: user.clone(), message_id, text: body.text.clone(), channel: Channel::Api };
        let runtime = &self.state.runtime;
        let committed = runtime.conversation(&team, &user, command, Causation::root(Uuid::now_v7())).await?;
        let deadline = Instant::now() + self.state.limits.reply_wait;
        let mut position = committed.position;
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
                            .filter(|m| matches!(m.to, Some(switchboard_schemas::event::Recipient::Operator(_))))
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
            runtime.log().wait_for_append(position, remaining).await;
            position = runtime.log().head().await?;
        }
    }

    /// A conversation: every session with its messages, and the timeline.
    #[oai(path = "/teams/:team/conversations/:user", method = "get")]
    async fn conversation(&self, team: Path<String>, user: Path<String>) -> Result<Json<Conversation>, ApiError> {
        self.audit(team, user, Query(None)).await
    }

    /// A conversation as it was at a moment (`at`, RFC 3339), rebuilt from the log.
    #[oai(path = "/teams/:team/conversations/:user/audit", method = "get")]
    async fn audit(
        &self,
        team: Path<String>,
        user: Path<String>,
        at: Query<Option<chrono::DateTime<chrono::Utc>>>,
    ) -> Result<Json<Conversation>, ApiError> {
        let (team_id, user_id) = (team_id(&team)?, user_id(&user)?);
        self.state.runtime.policy(&team_id).await?;
        let events = self.state.runtime.conversation_events(&team_id, &user_id).await?;
        if events.is_empty() {
            return Err(ApiError::not_found(
                "no_conversation",
                format!("{user_id} has no conversation with {team_id}"),
            ));
        }
        let audit = audit(&events, at.0)?;
        Ok(Json(Conversation::from_view(&team, &user, &audit.view, at.0)))
    }

    /// The operator's feedback on the last answer.
    #[oai(path = "/teams/:team/conversations/:user/feedback", method = "post")]
    async fn feedback(
        &self,
        team: Path<String>,
        user: Path<String>,
        body: Json<Feedback>,
    ) -> Result<Json<CommandResult>, ApiError> {
        self.command(&team, &user, Command::GiveFeedback { resolved: body.resolved }).await
    }

    /// The operator asks for a person.
    #[oai(path = "/teams/:team/conversations/:user/human", method = "post")]
    async fn request_human(&self, team: Path<String>, user: Path<String>) -> Result<Json<CommandResult>, ApiError> {
        self.command(&team, &user, Command::RequestHuman).await
    }

    /// Staff transfer the session (to a named engineer or the on-call one).
    #[oai(path = "/teams/:team/conversations/:user/transfer", method = "post")]
    async fn transfer(
        &self,
        team: Path<String>,
        user: Path<String>,
        body: Json<TransferRequest>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let to = body.to.as_deref().map(staff_id).transpose()?;
        self.command(&team, &user, Command::Transfer { by: staff_id(&body.by)?, to }).await
    }

    /// A person replies to the operator.
    #[oai(path = "/teams/:team/conversations/:user/replies", method = "post")]
    async fn reply(
        &self,
        team: Path<String>,
        user: Path<String>,
        body: Json<StaffText>,
    ) -> Result<Json<CommandResult>, ApiError> {
        self.command(&team, &user, Command::HumanReply { staff: staff_id(&body.by)?, text: body.text.clone() }).await
    }

    /// Staff add a remark (not shown to the operator).
    #[oai(path = "/teams/:team/conversations/:user/remarks", method = "post")]
    async fn remark(
        &self,
        team: Path<String>,
        user: Path<String>,
        body: Json<StaffText>,
    ) -> Result<Json<CommandResult>, ApiError> {
        self.command(&team, &user, Command::AddRemark { author: staff_id(&body.by)?, text: body.text.clone() }).await
    }

    /// Staff change the status (with_human, waiting or closed).
    #[oai(path = "/teams/:team/conversations/:user/status", method = "post")]
    async fn status(
        &self,
        team: Path<String>,
        user: Path<String>,
        body: Json<StatusRequest>,
    ) -> Result<Json<CommandResult>, ApiError> {
        self.command(&team, &user, Command::ChangeStatus { by: staff_id(&body.by)?, to: body.to.into() }).await
    }

    /// Staff close the session.
    #[oai(path = "/teams/:team/conversations/:user/close", method = "post")]
    async fn close(
        &self,
        team: Path<String>,
        user: Path<String>,
        body: Json<StaffAction>,
    ) -> Result<Json<CommandResult>, ApiError> {
        self.command(&team, &user, Command::Close { by: staff_id(&body.by)? }).await
    }

    /// Staff reopen the last session.
    #[oai(path = "/teams/:team/conversations/:user/reopen", method = "post")]
    async fn reopen(
        &self,
        team: Path<String>,
        user: Path<String>,
        body: Json<StaffAction>,
    ) -> Result<Json<CommandResult>, ApiError> {
        self.command(&team, &user, Command::Reopen { by: Actor::Staff(staff_id(&body.by)?) }).await
    }

    /// Ask for a group chat between the operator and the on-call engineers.
    #[oai(path = "/teams/:team/conversations/:user/group-chat", method = "post")]
    async fn group_chat(
        &self,
        team: Path<String>,
        user: Path<String>,
        body: Json<StaffAction>,
    ) -> Result<Json<CommandResult>, ApiError> {
        self.command(&team, &user, Command::RequestGroupChat { by: Actor::Staff(staff_id(&body.by)?) }).await
    }

    /// The team's FAQ catalog.
    #[oai(path = "/teams/:team/faqs", method = "get")]
    async fn faqs(&self, team: Path<String>) -> Result<Json<Vec<Faq>>, ApiError> {
        let team = team_id(&team)?;
        self.state.runtime.policy(&team).await?;
        let catalog = self.state.runtime.load_catalog(&team).await?;
        Ok(Json(
            catalog
                .entries
                .iter()
                .map(|(id, e)| Faq {
                    id: id.to_string(),
                    question: e.question.clone(),
                    answer: e.answer.clone(),
                    category: e.category.clone(),
                    paraphrases: e.paraphrases.clone(),
                })
                .collect(),
        ))
    }
}
