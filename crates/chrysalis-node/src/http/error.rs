//! API errors: a status and a stable code, as
//! `{"error": {"code": "...", "message": "..."}}`.
//!
//! | code | status | when |
//! |---|---|---|
//! | `unauthorized` | 401 | no or wrong bearer token |
//! | `bad_json` | 400 | the body is not JSON |
//! | `invalid_body` | 400 | JSON of the wrong shape (missing or mistyped field) |
//! | `unsupported_media_type` | 415 | a body without `Content-Type: application/json` |
//! | `body_too_large` | 413 | a body over the configured limit |
//! | `bad_id` | 400 | a malformed agent, episode or conflict id |
//! | `invalid_value` | 400 | a value out of range (skill level, name, summary) |
//! | `not_found` | 404 | no such agent or conflict |
//! | `route_not_found` | 404 | no such route |
//! | `method_not_allowed` | 405 | the route exists, not with this method |
//! | `agent_exists` | 409 | creating an agent that exists |
//! | `storage` | 500 | the write could not be persisted (not acknowledged) |
//! | `unavailable` | 503 | the node is shutting down |
//! | `consensus_off` | 503 | a consensus route on a node without validators configured |

use crate::core::CoreError;
use crate::service::CommandError;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Every error code the API answers with.
pub const ERROR_CODES: &[&str] = &[
    "unauthorized",
    "bad_json",
    "invalid_body",
    "unsupported_media_type",
    "body_too_large",
    "bad_id",
    "invalid_value",
    "not_found",
    "route_not_found",
    "method_not_allowed",
    "agent_exists",
    "storage",
    "unavailable",
    "consensus_off",
];

/// An API error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_id(what: &str, value: &str) -> Self {
        let shown: String = value.chars().take(80).collect();
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_id",
            format!("{shown:?} is not a valid {what}"),
        )
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let message = rejection.body_text();
        match rejection {
            JsonRejection::JsonSyntaxError(_) => {
                Self::new(StatusCode::BAD_REQUEST, "bad_json", message)
            }
            JsonRejection::JsonDataError(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_body", message)
            }
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected Content-Type: application/json",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is over the limit",
            ),
            _ => Self::new(StatusCode::BAD_REQUEST, "bad_json", message),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(err: CommandError) -> Self {
        let message = err.to_string();
        match err {
            CommandError::Core(CoreError::NoSuchAgent(_) | CoreError::NoSuchConflict(_)) => {
                Self::not_found(message)
            }
            CommandError::Core(CoreError::AgentExists(_)) => {
                Self::new(StatusCode::CONFLICT, "agent_exists", message)
            }
            CommandError::Core(_) => Self::new(StatusCode::BAD_REQUEST, "invalid_value", message),
            CommandError::Store(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", message)
            }
            _ => Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message),
        }
    }
}
