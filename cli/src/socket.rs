//! Where the daemon's sockets are.

use std::path::PathBuf;

/// Default base directory of the daemon (`$WORKSHOP`).
pub const DEFAULT_BASE_DIR: &str = "/var/lib/workshop";
/// The untrusted socket as seen from inside a workshop.
pub const GUEST_UNTRUSTED_SOCKET: &str = "/var/lib/workshop/run/workshop.socket.untrusted";

/// The trusted socket: `$WORKSHOP_SOCKET`, else `$WORKSHOP/workshop.socket`, else the default.
pub fn trusted_socket_path() -> PathBuf {
    trusted_socket_path_from(|name| std::env::var(name).ok())
}

/// [`trusted_socket_path`] with the environment given as a lookup function.
pub fn trusted_socket_path_from(env: impl Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(socket) = env("WORKSHOP_SOCKET").filter(|s| !s.is_empty()) {
        return PathBuf::from(socket);
    }
    let base = env("WORKSHOP").filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_BASE_DIR.to_string());
    PathBuf::from(base).join("workshop.socket")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_precedence() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(trusted_socket_path_from(env(&[])), PathBuf::from("/var/lib/workshop/workshop.socket"));
        assert_eq!(
            trusted_socket_path_from(env(&[("WORKSHOP", "/srv/ws")])),
            PathBuf::from("/srv/ws/workshop.socket")
        );
        assert_eq!(
            trusted_socket_path_from(env(&[("WORKSHOP", "/srv/ws"), ("WORKSHOP_SOCKET", "/tmp/s")])),
            PathBuf::from("/tmp/s")
        );
        assert_eq!(
            trusted_socket_path_from(env(&[("WORKSHOP_SOCKET", "")])),
            PathBuf::from("/var/lib/workshop/workshop.socket")
        );
    }
}
