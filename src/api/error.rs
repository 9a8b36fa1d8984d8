//! API errors and their one mapping to HTTP statuses and error kinds.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::Value;
use workshop_api::ErrorKind;

use workshop_actors::backend::BackendError;
use workshop_actors::managers::command::{AttachError, CommandError};
use workshop_actors::managers::hook::WorkshopctlError;
use workshop_actors::managers::interface::InterfaceError;
use workshop_actors::managers::workshop::WorkshopError;
use workshop_actors::project::ProjectError;
use workshop_actors::space::SpaceError;
use workshop_actors::store::StoreError;
use workshop_actors::store::installed::InstalledError;
use workshop_actors::userfs::UserFsError;

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
    NoUpdates(String),
    #[error("{0}")]
    Timeout(String),
    /// The caller has too many of something at once (waits).
    #[error("{0}")]
    TooMany(String),
    /// A service the daemon relies on (the SDK Store) failed or answered nonsense.
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    NotImplemented(String),
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
            Self::NoUpdates(_) => (StatusCode::BAD_REQUEST, Some(ErrorKind::NoUpdatesAvailable)),
            Self::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, None),
            Self::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, None),
            Self::BadGateway(_) => (StatusCode::BAD_GATEWAY, None),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
            Self::NotImplemented(_) => (StatusCode::NOT_IMPLEMENTED, None),
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

impl From<WorkshopError> for ApiError {
    fn from(e: WorkshopError) -> Self {
        match e {
            WorkshopError::BadRequest(m) => Self::BadRequest(m),
            WorkshopError::NotFound(m) => Self::NotFound(m),
            WorkshopError::Conflict(c) => Self::ChangeConflict {
                value: serde_json::to_value(&c.change).unwrap_or_default(),
                message: c.message,
            },
            WorkshopError::NoWaitingChange(m) => Self::NoWaitingChange(m),
            WorkshopError::NoUpdates(m) => Self::NoUpdates(m),
            WorkshopError::Project(e) => e.into(),
            WorkshopError::Backend(e) => e.into(),
            WorkshopError::Engine(e) => e.into(),
        }
    }
}

impl From<InterfaceError> for ApiError {
    fn from(e: InterfaceError) -> Self {
        match e {
            InterfaceError::BadRequest(m) => Self::BadRequest(m),
            InterfaceError::NotFound(m) => Self::NotFound(m),
            InterfaceError::Backend(e) => e.into(),
            InterfaceError::Engine(e) => e.into(),
        }
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::NotLaunched(_) => Self::NotFound(e.to_string()),
            BackendError::Unavailable(_) => Self::Degraded(e.to_string()),
            BackendError::BaseNotFound { .. } => Self::BadRequest(e.to_string()),
            BackendError::StartFailed { .. }
            | BackendError::GuestCommand { .. }
            | BackendError::TimedOut { .. }
            | BackendError::Lxd(_)
            | BackendError::Mailbox(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<ProjectError> for ApiError {
    fn from(e: ProjectError) -> Self {
        match e {
            ProjectError::NotProject
            | ProjectError::Ambiguous { .. }
            | ProjectError::RootFileWithDirectory { .. }
            | ProjectError::Misnamed { .. }
            | ProjectError::OnlyFound { .. }
            | ProjectError::DefinitionNotFound { .. }
            | ProjectError::Definition(_) => Self::BadRequest(e.to_string()),
            ProjectError::Access(e) => e.into(),
        }
    }
}

/// A path the caller named: what is wrong with it is theirs to fix (400); the daemon failing
/// to act for them is the daemon's (500).
impl From<UserFsError> for ApiError {
    fn from(e: UserFsError) -> Self {
        use std::io::ErrorKind as K;
        match &e {
            UserFsError::Io { source, .. } => match source.kind() {
                K::NotFound
                | K::PermissionDenied
                | K::NotADirectory
                | K::InvalidInput
                | K::InvalidFilename => Self::BadRequest(e.to_string()),
                _ if source.raw_os_error() == Some(libc::ELOOP) => Self::BadRequest(e.to_string()),
                _ => Self::Internal(e.to_string()),
            },
            UserFsError::NotRegular { .. }
            | UserFsError::TooLarge { .. }
            | UserFsError::NotText { .. }
            | UserFsError::TooMany { .. }
            | UserFsError::TooDeep { .. }
            | UserFsError::Changed { .. }
            | UserFsError::BadName { .. } => Self::BadRequest(e.to_string()),
            UserFsError::Identity { .. } | UserFsError::Busy { .. } | UserFsError::TimedOut { .. } => {
                Self::Internal(e.to_string())
            }
        }
    }
}

/// The Store's failures are a bad gateway (502): the caller did nothing wrong; an SDK it does
/// not know is a 404.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => Self::NotFound(e.to_string()),
            StoreError::Unreachable { .. }
            | StoreError::Status { .. }
            | StoreError::Invalid { .. }
            | StoreError::TooLarge { .. }
            | StoreError::TimedOut { .. }
            | StoreError::Resolve(_)
            | StoreError::Download { .. } => Self::BadGateway(e.to_string()),
            StoreError::BadUrl { .. } | StoreError::Cache { .. } => Self::Internal(e.to_string()),
        }
    }
}

impl From<SpaceError> for ApiError {
    fn from(e: SpaceError) -> Self {
        match e {
            SpaceError::Backend(BackendError::Unavailable(_)) => Self::Degraded(e.to_string()),
            SpaceError::Backend(_) | SpaceError::Failed(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<InstalledError> for ApiError {
    fn from(e: InstalledError) -> Self {
        match e {
            InstalledError::Backend(BackendError::Unavailable(_)) => Self::Degraded(e.to_string()),
            InstalledError::Backend(_) | InstalledError::Failed(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::BadRequest(m) => Self::BadRequest(m),
            CommandError::Workshop(e) => e.into(),
            CommandError::Engine(e) => e.into(),
            CommandError::Backend(m) => Self::Internal(m),
        }
    }
}

impl From<AttachError> for ApiError {
    fn from(e: AttachError) -> Self {
        match e {
            AttachError::NoTask(_) | AttachError::NoWebsocket(_) => Self::NotFound(e.to_string()),
            AttachError::NotOwner(_) => Self::Forbidden(e.to_string()),
            AttachError::AlreadyConnected(_) => Self::BadRequest(e.to_string()),
        }
    }
}

/// Every refusal of a `workshopctl` command is the caller's to fix, as in the reference.
impl From<WorkshopctlError> for ApiError {
    fn from(e: WorkshopctlError) -> Self {
        match e {
            WorkshopctlError::InvalidCookie
            | WorkshopctlError::NeedsRoot { .. }
            | WorkshopctlError::Usage(_)
            | WorkshopctlError::OutsideHook(_)
            | WorkshopctlError::NotCheckHealth => Self::BadRequest(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_wrong_with_a_users_path_is_theirs_what_fails_in_the_daemon_is_not() {
        let io = |kind: std::io::ErrorKind| UserFsError::Io {
            op: "read",
            path: "/p/workshop.yaml".into(),
            source: std::io::Error::from(kind),
        };
        let status = |e: UserFsError| ApiError::from(ProjectError::Access(e)).status_code();
        assert_eq!(status(io(std::io::ErrorKind::PermissionDenied)), StatusCode::BAD_REQUEST);
        assert_eq!(status(io(std::io::ErrorKind::NotFound)), StatusCode::BAD_REQUEST);
        assert_eq!(status(io(std::io::ErrorKind::Other)), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(UserFsError::TimedOut { user: "u".into() }), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            ApiError::from(BackendError::Lxd("boom".into())).status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            ApiError::from(BackendError::NotLaunched("ws".into())).status_code(),
            StatusCode::NOT_FOUND
        );
        let offline =
            StoreError::Unreachable { what: "find SDKs".into(), url: "u".into(), why: "down".into() };
        assert_eq!(ApiError::from(offline).status_code(), StatusCode::BAD_GATEWAY);
        assert_eq!(ApiError::from(StoreError::NotFound("go".into())).status_code(), StatusCode::NOT_FOUND);
    }

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
