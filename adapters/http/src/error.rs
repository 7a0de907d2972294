//! How errors become HTTP responses: the right status and one JSON body format,
//! `{"code": "...", "message": "..."}`, whose message says what to do and never shows
//! internal details of the log. Errors poem itself raises (a malformed parameter or body, a
//! missing key, an unknown route) are rewritten into the same format by [`json_error`].

use poem::http::StatusCode;
use poem::IntoResponse;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use switchboard_engine::catalog::CatalogRejection;
use switchboard_engine::conversation::Rejection;
use switchboard_engine::log::LogError;
use switchboard_engine::runtime::CommandError;
use switchboard_engine::team::TeamRejection;
use tracing::error;

/// The body of every error response.
#[derive(Debug, Object, serde::Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct ErrorBody {
    /// A stable machine-readable code.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

/// Every error an endpoint can answer with.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed (bad id, empty text, invalid filter).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No access key, or one that is not (or no longer) valid.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The access key is valid but does not allow this (another team's, or a lower role).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The team, conversation, FAQ or key does not exist.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The command does not fit the current state, or someone else changed it first.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The request body did not arrive within the request deadline (`http.request_deadline`).
    #[oai(status = 408)]
    RequestTimeout(Json<ErrorBody>),
    /// The message or file is larger than allowed.
    #[oai(status = 413)]
    TooLarge(Json<ErrorBody>),
    /// The file is of a kind that cannot be read.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The event log or the read models are unreachable; retry later.
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

    /// A 401: the caller must present a valid access key.
    pub fn unauthorized(message: impl ToString) -> Self {
        ApiError::Unauthorized(body("unauthorized", message))
    }

    /// A 403: the key is valid but not for this.
    pub fn forbidden(code: &str, message: impl ToString) -> Self {
        ApiError::Forbidden(body(code, message))
    }

    /// A 404.
    pub fn not_found(code: &str, message: impl ToString) -> Self {
        ApiError::NotFound(body(code, message))
    }

    /// A 409.
    pub fn conflict(code: &str, message: impl ToString) -> Self {
        ApiError::Conflict(body(code, message))
    }

    /// A 413.
    pub fn too_large(code: &str, message: impl ToString) -> Self {
        ApiError::TooLarge(body(code, message))
    }

    /// A 408: the body was sent too slowly.
    pub fn request_timeout(deadline: std::time::Duration) -> Self {
        ApiError::RequestTimeout(body(
            "request_timeout",
            format!(
                "the request body did not arrive within {}s (http.request_deadline); send it again, faster",
                deadline.as_secs()
            ),
        ))
    }

    /// A 415.
    pub fn unsupported(code: &str, message: impl ToString) -> Self {
        ApiError::UnsupportedMediaType(body(code, message))
    }

    /// A 503: a backend is unreachable for now.
    pub fn unavailable(code: &str, message: impl ToString) -> Self {
        ApiError::Unavailable(body(code, message))
    }

    /// Why `what` (a secret) could not be stored: 409 when the environment provides it (the
    /// message says what to do), else a 500 whose details are in the server log.
    pub fn secret_not_stored(what: &str, e: switchboard_wecom::setup::SetupError) -> Self {
        match e {
            switchboard_wecom::setup::SetupError::FromEnvironment(_) => {
                ApiError::conflict("secret_from_environment", format!("{what}: {e}"))
            }
            e => {
                tracing::error!(error = %e, "cannot store {what}");
                ApiError::internal(format!("{what} could not be stored on this instance; see the server log"))
            }
        }
    }

    /// A 500 whose details are in the server log.
    pub fn internal(message: impl ToString) -> Self {
        ApiError::Internal(body("internal", message))
    }

    /// The code and message, for protocols that carry errors in their own frames (the
    /// WebSocket channel).
    pub fn into_body(self) -> ErrorBody {
        match self {
            ApiError::BadRequest(Json(b))
            | ApiError::Unauthorized(Json(b))
            | ApiError::Forbidden(Json(b))
            | ApiError::NotFound(Json(b))
            | ApiError::Conflict(Json(b))
            | ApiError::RequestTimeout(Json(b))
            | ApiError::TooLarge(Json(b))
            | ApiError::UnsupportedMediaType(Json(b))
            | ApiError::Unavailable(Json(b))
            | ApiError::Internal(Json(b)) => b,
        }
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
            CommandError::Rejected(Rejection::EmptyText) => ApiError::bad_request("empty_text", &e),
            CommandError::Rejected(Rejection::MessageTooLong { .. }) => ApiError::too_large("message_too_long", &e),
            CommandError::Rejected(Rejection::NoSession) => ApiError::not_found("no_session", &e),
            CommandError::Rejected(Rejection::MessageIdTooLong { .. }) => ApiError::bad_request("bad_message_id", &e),
            CommandError::Rejected(Rejection::NotStaff(_)) => ApiError::bad_request("not_staff", &e),
            CommandError::Rejected(_) => ApiError::conflict("rejected", &e),
            CommandError::Team(rejection) => team_rejection(rejection, &e),
            CommandError::Catalog(rejection) => catalog_rejection(rejection, &e),
            CommandError::Stale { .. } => ApiError::conflict("version_conflict", &e),
            CommandError::UnknownTeam(_) => ApiError::not_found("unknown_team", &e),
            CommandError::Contention { .. } => ApiError::unavailable("contention", &e),
            CommandError::TooLarge { .. } | CommandError::Commit(_) => ApiError::too_large("change_too_large", &e),
            CommandError::Log(LogError::Unavailable(_)) => {
                ApiError::unavailable("log_unavailable", "the event log is unreachable; retry shortly")
            }
            CommandError::Log(_) | CommandError::Decode(_) | CommandError::BadTeamSettings { .. } => {
                error!(error = %e, "request failed on stored data or configuration");
                ApiError::internal("stored data or configuration could not be read; see the server log")
            }
        }
    }
}

fn team_rejection(rejection: &TeamRejection, e: &CommandError) -> ApiError {
    match rejection {
        TeamRejection::NotCreated => ApiError::not_found("unknown_team", e),
        TeamRejection::AlreadyExists(_) => ApiError::conflict("team_exists", e),
        TeamRejection::Invalid(_) => ApiError::bad_request("invalid_settings", e),
        TeamRejection::DuplicateKey(_) => ApiError::conflict("duplicate_key", e),
        TeamRejection::UnknownKey(_) => ApiError::not_found("unknown_key", e),
        TeamRejection::BadKey(_) => ApiError::bad_request("bad_key", e),
        TeamRejection::BadWecom { .. } => ApiError::bad_request("bad_wecom_settings", e),
        TeamRejection::BadWebhook(_) => ApiError::bad_request("bad_webhook", e),
        TeamRejection::UnknownWebhook(_) => ApiError::not_found("unknown_webhook", e),
        TeamRejection::OnCall(_) => ApiError::bad_request("invalid_on_call", e),
        TeamRejection::UnknownPerson(_) => ApiError::bad_request("unknown_person", e),
        TeamRejection::UnknownSpan(_) => ApiError::not_found("unknown_span", e),
        TeamRejection::RosterSuperseded => ApiError::conflict("roster_superseded", e),
        TeamRejection::TargetNotDerived => ApiError::bad_request("target_not_derived", e),
    }
}

fn catalog_rejection(rejection: &CatalogRejection, e: &CommandError) -> ApiError {
    match rejection {
        CatalogRejection::UnknownFaq(_) => ApiError::not_found("unknown_faq", e),
        CatalogRejection::EmptyField(_) => ApiError::bad_request("empty_field", e),
        CatalogRejection::FaqExists(_) => ApiError::conflict("faq_exists", e),
        CatalogRejection::StaleRevision { .. } => ApiError::conflict("version_conflict", e),
        CatalogRejection::NoCandidates => ApiError::bad_request("no_candidates", e),
        CatalogRejection::TooManyCandidates { .. } => ApiError::bad_request("too_many_candidates", e),
        CatalogRejection::TooLarge { .. } => ApiError::bad_request("faq_too_large", e),
    }
}

/// Rewrites an error poem raised before or instead of a handler into the JSON error format,
/// with a code derived from its status and a message that says what to do.
pub async fn json_error(error: poem::Error) -> poem::Response {
    if error.is_from_response() {
        // A handler's own answer (an [`ApiError`]), already in the format.
        return error.into_response();
    }
    let status = error.status();
    let (code, message) = match status {
        StatusCode::UNAUTHORIZED => {
            ("unauthorized", "send an access key as `Authorization: Bearer <key>`; ask a team admin for one".to_owned())
        }
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint; see /docs for the API".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this endpoint does not take that method".to_owned()),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", error.to_string()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", error.to_string()),
        s if s.is_client_error() => ("bad_request", error.to_string()),
        _ => {
            error!(error = %error, "request failed");
            ("internal", "the request failed; see the server log".to_owned())
        }
    };
    let body = ErrorBody { code: code.to_owned(), message };
    (status, poem::web::Json(body)).into_response()
}
