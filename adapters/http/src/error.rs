//! How command errors become HTTP responses: the right status and a message that says what
//! to do, never internal details of the log.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use switchboard_engine::conversation::Rejection;
use switchboard_engine::log::LogError;
use switchboard_engine::runtime::CommandError;
use tracing::error;

/// The body of every error response.
#[derive(Debug, Object)]
pub struct ErrorBody {
    /// A stable machine-readable code.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

/// Every error an endpoint can answer with.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed (bad id, empty text).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The team or conversation does not exist.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The command does not fit the session's current state.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The message is longer than the team allows.
    #[oai(status = 413)]
    TooLarge(Json<ErrorBody>),
    /// The event log is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// Something is wrong with stored data or configuration; see the server log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

fn body(code: &str, message: impl ToString) -> Json<ErrorBody> {
    Json(ErrorBody { code: code.to_owned(), message: message.to_string() })
}

impl ApiError {
    /// A 400 for a value that failed validation.
    pub fn bad_request(code: &str, message: impl ToString) -> Self {
        ApiError::BadRequest(body(code, message))
    }

    /// A 404.
    pub fn not_found(code: &str, message: impl ToString) -> Self {
        ApiError::NotFound(body(code, message))
    }

    /// A 503: a backend is unreachable for now.
    pub fn unavailable(code: &str, message: impl ToString) -> Self {
        ApiError::Unavailable(body(code, message))
    }

    /// A 500 whose details are in the server log.
    pub fn internal(message: impl ToString) -> Self {
        ApiError::Internal(body("internal", message))
    }
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        CommandError::from(e).into()
    }
}

impl From<switchboard_schemas::DecodeError> for ApiError {
    fn from(e: switchboard_schemas::DecodeError) -> Self {
        CommandError::from(e).into()
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match &e {
            CommandError::Rejected(Rejection::EmptyText) => ApiError::BadRequest(body("empty_text", &e)),
            CommandError::Rejected(Rejection::MessageTooLong { .. }) => {
                ApiError::TooLarge(body("message_too_long", &e))
            }
            CommandError::Rejected(Rejection::NoSession) => ApiError::NotFound(body("no_session", &e)),
            CommandError::Rejected(_) => ApiError::Conflict(body("rejected", &e)),
            CommandError::Team(_) | CommandError::Catalog(_) => ApiError::Conflict(body("rejected", &e)),
            CommandError::UnknownTeam(_) => ApiError::NotFound(body("unknown_team", &e)),
            CommandError::Contention { .. } => ApiError::Unavailable(body("contention", &e)),
            CommandError::Log(LogError::Unavailable(_)) => {
                ApiError::Unavailable(body("log_unavailable", "the event log is unreachable; retry shortly"))
            }
            CommandError::Log(_) | CommandError::Decode(_) | CommandError::BadTeamSettings { .. } => {
                error!(error = %e, "request failed on stored data or configuration");
                ApiError::internal("stored data or configuration could not be read; see the server log")
            }
        }
    }
}
