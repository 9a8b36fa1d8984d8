//! API errors and their one mapping to HTTP statuses and error kinds.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::Value;
use workshop_api::ErrorKind;

use super::response::error_body;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("invalid API endpoint requested")]
    NoEndpoint,
    #[error("method {0:?} not allowed")]
    MethodNotAllowed(String),
    #[error("access denied")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("cannot get an associated user name")]
    NoUserName,
    #[error("{0}")]
    Degraded(String),
    #[error("{message}")]
    ChangeConflict { message: String, value: Value },
    #[error("{0}")]
    NoWaitingChange(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// Status and machine-readable kind: the only place errors meet HTTP.
    fn classify(&self) -> (StatusCode, Option<ErrorKind>) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, None),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, Some(ErrorKind::NotFound)),
            Self::NoEndpoint => (StatusCode::NOT_FOUND, None),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, None),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, Some(ErrorKind::LoginRequired)),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, Some(ErrorKind::PermissionDenied)),
            Self::NoUserName => (StatusCode::INTERNAL_SERVER_ERROR, None),
            Self::Degraded(_) => (StatusCode::INTERNAL_SERVER_ERROR, Some(ErrorKind::Degraded)),
            Self::ChangeConflict { .. } => (StatusCode::CONFLICT, Some(ErrorKind::ChangeConflict)),
            Self::NoWaitingChange(_) => (StatusCode::BAD_REQUEST, Some(ErrorKind::NoWaitingChangeInProgress)),
            Self::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, None),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
        }
    }

    fn value(&self) -> Value {
        match self {
            Self::ChangeConflict { value, .. } => value.clone(),
            _ => Value::Null,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.classify().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, kind) = self.classify();
        error_body(status, self.to_string(), kind, self.value())
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(e: actix::MailboxError) -> Self {
        Self::Internal(format!("cannot reach daemon subsystem: {e}"))
    }
}

impl From<workshop_actors::engine::EngineError> for ApiError {
    fn from(e: workshop_actors::engine::EngineError) -> Self {
        use workshop_actors::engine::EngineError as E;
        match e {
            E::ChangeNotFound(_) => Self::NotFound(e.to_string()),
            E::ChangeReady(_) => Self::BadRequest(e.to_string()),
            E::State(_) | E::Mailbox(_) | E::Unsaved(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<workshop_actors::managers::workshop::WorkshopError> for ApiError {
    fn from(e: workshop_actors::managers::workshop::WorkshopError) -> Self {
        use workshop_actors::backend::BackendError as B;
        use workshop_actors::managers::workshop::WorkshopError as W;
        match e {
            W::BadRequest(m) => Self::BadRequest(m),
            W::NotFound(m) => Self::NotFound(m),
            W::Conflict(c) => Self::ChangeConflict {
                value: serde_json::json!({
                    "change-id": c.change_id, "change-kind": c.change_kind, "change-status": c.change_status,
                    "project-id": c.project_id, "workshop": c.workshop,
                }),
                message: c.message,
            },
            W::NoWaitingChange(m) => Self::NoWaitingChange(m),
            W::Project(e) => Self::BadRequest(e.to_string()),
            W::Backend(e @ B::NotLaunched(_)) => Self::NotFound(e.to_string()),
            W::Backend(e @ B::Unavailable(_)) => Self::Degraded(e.to_string()),
            W::Backend(e) => Self::Internal(e.to_string()),
            W::Engine(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_match_the_reference() {
        assert_eq!(ApiError::NoEndpoint.status_code(), StatusCode::NOT_FOUND);
        assert_eq!(
            ApiError::Unauthorized.classify(),
            (StatusCode::UNAUTHORIZED, Some(ErrorKind::LoginRequired))
        );
    }

    /// The reference's words for the errors of the API front (§2.1, §2.2).
    #[test]
    fn reference_messages() {
        let table = [
            ("invalid API endpoint requested", ApiError::NoEndpoint),
            (r#"method "PUT" not allowed"#, ApiError::MethodNotAllowed("PUT".into())),
            ("access denied", ApiError::Unauthorized),
            ("cannot get an associated user name", ApiError::NoUserName),
        ];
        for (reference, error) in table {
            assert_eq!(error.to_string(), reference);
        }
    }
}
