//! Errors of the LXD client.

use std::fmt;
use std::io;

/// Result of an LXD client call.
pub type Result<T, E = LxdError> = std::result::Result<T, E>;

/// Everything that can go wrong talking to LXD. LXD's own message text is kept verbatim.
#[derive(Debug, thiserror::Error)]
pub enum LxdError {
    /// The LXD endpoint could not be reached at all. The reference's words first, then where
    /// and the advice.
    #[error("cannot connect to LXD: {socket}: {reason}{}", reason.hint(socket))]
    Unreachable {
        /// Socket path or URL that was tried.
        socket: String,
        /// Why the connection failed.
        reason: Unreachable,
    },
    /// The object does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The object already exists or conflicts with another one (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The ETag given with an update does not match the object any more (HTTP 412).
    #[error("{0}")]
    PreconditionFailed(String),
    /// Any other error answer of the API.
    #[error("{message}")]
    Api {
        /// HTTP status (or LXD `error_code`).
        status: u16,
        /// LXD's error text.
        message: String,
    },
    /// A background operation ended in failure or was cancelled.
    #[error("{message}")]
    OperationFailed {
        /// LXD's `err` text of the operation.
        message: String,
    },
    /// An instance failed to start; carries the tail of its `lxc.log`.
    #[error("{message}\n{log_tail}")]
    StartFailed {
        /// Instance name.
        instance: String,
        /// LXD's error text.
        message: String,
        /// Last lines of the instance's `lxc.log` (or why it could not be read).
        log_tail: String,
    },
    /// Local I/O (reading a file to upload, a socket error mid-request, ...).
    #[error("cannot talk to LXD: {0}")]
    Io(#[from] io::Error),
    /// LXD answered something this client cannot parse.
    #[error("cannot decode LXD response: {0}")]
    Decode(String),
    /// TLS set-up failed (bad certificate or key).
    #[error("cannot set up TLS for LXD: {0}")]
    Tls(String),
    /// A websocket (exec, events) failed.
    #[error("LXD websocket failed: {0}")]
    Websocket(String),
    /// The request itself is invalid before it is sent.
    #[error("invalid LXD request: {0}")]
    Invalid(String),
}

impl LxdError {
    /// Maps an LXD error answer (status code + message) to a variant.
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let message = message.into();
        match status {
            404 => Self::NotFound(message),
            409 => Self::Conflict(message),
            412 => Self::PreconditionFailed(message),
            _ => Self::Api { status, message },
        }
    }

    /// True when the object was not found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }

    /// True when the object already exists. LXD 5.0 answers 409 for most duplicates, but some
    /// endpoints (projects, profiles) still answer a generic error whose text says so.
    pub fn is_already_exists(&self) -> bool {
        match self {
            Self::Conflict(_) => true,
            Self::Api { message, .. } | Self::OperationFailed { message } => {
                message.contains("already exists")
            }
            _ => false,
        }
    }

    /// True when an ETag did not match.
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self, Self::PreconditionFailed(_))
    }
}

/// Why the LXD endpoint could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// Nobody listens on the socket (daemon stopped).
    Refused,
    /// The socket file does not exist (LXD not installed or never started).
    NoSuchFile,
    /// The socket exists but this user may not use it.
    PermissionDenied,
    /// Connecting took too long.
    Timeout,
    /// Any other failure, with its text.
    Other(String),
}

impl Unreachable {
    /// Classifies an I/O error from connecting.
    pub fn from_io(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::ConnectionRefused => Self::Refused,
            io::ErrorKind::NotFound => Self::NoSuchFile,
            io::ErrorKind::PermissionDenied => Self::PermissionDenied,
            io::ErrorKind::TimedOut => Self::Timeout,
            _ => Self::Other(err.to_string()),
        }
    }

    /// The advice appended to the message: the reference's (for the snap), or the same for
    /// Debian's packages.
    fn hint(&self, socket: &str) -> &'static str {
        let snap = socket.contains("/snap/");
        match (self, snap) {
            (Self::Refused, true) => {
                "\n\nMaybe LXD daemon isn't active?\nTo start the LXD daemon: 'sudo snap start lxd'"
            }
            (Self::Refused, false) => {
                "\n\nMaybe LXD daemon isn't active?\nTo start the LXD daemon: 'sudo systemctl start lxd' (or run 'lxd --group lxd')"
            }
            (Self::NoSuchFile, true) => {
                "\n\nMaybe LXD isn't installed?\nTo install LXD: 'sudo snap install --channel=6/stable lxd'"
            }
            (Self::NoSuchFile, false) => {
                "\n\nMaybe LXD isn't installed?\nTo install LXD: 'sudo snap install --channel=6/stable lxd' (or 'sudo apt install lxd')"
            }
            (Self::PermissionDenied, _) => {
                "\n\nMaybe you are not in the 'lxd' group?\nAdd yourself with 'sudo usermod -aG lxd $USER' and log in again"
            }
            (Self::Timeout | Self::Other(_), _) => "",
        }
    }
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused => f.write_str("connection refused"),
            Self::NoSuchFile => f.write_str("no such file"),
            Self::PermissionDenied => f.write_str("permission denied"),
            Self::Timeout => f.write_str("connection timed out"),
            Self::Other(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_is_actionable() {
        let err = LxdError::Unreachable {
            socket: "/var/snap/lxd/common/lxd/unix.socket".into(),
            reason: Unreachable::from_io(&io::Error::from(io::ErrorKind::ConnectionRefused)),
        };
        assert_eq!(
            err.to_string(),
            "cannot connect to LXD: /var/snap/lxd/common/lxd/unix.socket: connection refused\n\n\
             Maybe LXD daemon isn't active?\nTo start the LXD daemon: 'sudo snap start lxd'"
        );
    }

    #[test]
    fn missing_socket_says_not_installed() {
        let err = LxdError::Unreachable {
            socket: "/var/lib/lxd/unix.socket".into(),
            reason: Unreachable::from_io(&io::Error::from(io::ErrorKind::NotFound)),
        };
        let text = err.to_string();
        assert!(
            text.starts_with(
                "cannot connect to LXD: /var/lib/lxd/unix.socket: no such file\n\nMaybe LXD isn't installed?"
            ),
            "{text}"
        );
    }

    #[test]
    fn status_maps_to_variants() {
        assert!(LxdError::from_status(404, "Instance not found").is_not_found());
        assert!(LxdError::from_status(409, "x").is_already_exists());
        assert!(LxdError::from_status(412, "ETag doesn't match").is_precondition_failed());
        assert!(
            LxdError::from_status(500, "Error inserting x into database: The project already exists")
                .is_already_exists()
        );
        let err = LxdError::from_status(400, "Invalid config");
        assert!(matches!(err, LxdError::Api { status: 400, .. }));
        assert_eq!(err.to_string(), "Invalid config");
    }
}
