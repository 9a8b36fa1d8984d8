//! Acquiring the API sockets: systemd socket activation when present, else bind them ourselves
//! (mode 0666, removing a stale socket file unless a live server answers on it).

use std::io;
use std::os::fd::FromRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {path}: socket is in use by a running daemon")]
    InUse { path: String },
    #[error("cannot listen on {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// The trusted socket passed by systemd (`LISTEN_PID` = us, `LISTEN_FDS` ≥ 1), if any.
/// The variables are removed so children do not inherit them.
pub fn activated() -> Option<UnixListener> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let fds: i32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    // SAFETY: removing variables before any other thread reads the environment.
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    if pid != std::process::id() || fds < 1 {
        return None;
    }
    // SAFETY: systemd hands us this fd as an open listening socket that nobody else owns.
    let listener = unsafe { UnixListener::from_raw_fd(LISTEN_FDS_START) };
    listener.set_nonblocking(true).ok()?;
    Some(listener)
}

/// Binds `path` with mode 0666.
pub fn bind(path: &Path) -> Result<UnixListener, ListenError> {
    let err = |source| ListenError::Io { path: path.display().to_string(), source };
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(ListenError::InUse { path: path.display().to_string() });
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_replaces_stale_socket_and_refuses_live_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.socket");
        drop(bind(&path).unwrap());
        // The file is stale now: binding again works.
        let live = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666);
        assert!(matches!(bind(&path), Err(ListenError::InUse { .. })));
        drop(live);
    }
}
