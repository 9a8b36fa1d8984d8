//! Acquiring the API sockets: those systemd passes (socket activation), else bind them
//! ourselves (mode 0666, removing a stale socket file unless a live server answers on it).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: i32 = 3;
/// More fds than the three sockets is a set-up error; this bounds what is looked at.
const MAX_LISTEN_FDS: i32 = 16;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {path}: socket is in use by a running daemon")]
    InUse { path: String },
    #[error("cannot listen on {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("cannot use socket-activated fd {fd}: {why}")]
    Activated { fd: i32, why: String },
}

/// The sockets systemd passed, by what they are for.
#[derive(Debug, Default)]
pub struct Activated {
    pub trusted: Option<UnixListener>,
    pub untrusted: Option<UnixListener>,
    pub guest: Option<UnixListener>,
}

impl Activated {
    /// Whether systemd holds every socket: only then may the daemon exit and leave the next
    /// connection, on any of them, to start it again.
    pub fn all(&self) -> bool {
        self.trusted.is_some() && self.untrusted.is_some() && self.guest.is_some()
    }
}

/// The sockets passed by systemd (`LISTEN_PID` = us, `LISTEN_FDS` of them from fd 3). One bound
/// to `untrusted` or `guest` is that socket; the one bound elsewhere is the trusted socket
/// (the reference activates only that one, wherever it is). The variables are removed so
/// that children do not inherit them, and the fds are closed on exec.
pub fn activated(untrusted: &Path, guest: &Path) -> Result<Activated, ListenError> {
    let pid = std::env::var("LISTEN_PID").ok().and_then(|v| v.parse::<u32>().ok());
    let fds = std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse::<i32>().ok());
    // SAFETY: removing variables before any other thread reads the environment.
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    let mut found = Activated::default();
    let (Some(pid), Some(fds)) = (pid, fds) else { return Ok(found) };
    if pid != std::process::id() || fds < 1 {
        return Ok(found);
    }
    if fds > MAX_LISTEN_FDS {
        return Err(ListenError::Activated {
            fd: LISTEN_FDS_START + fds - 1,
            why: format!("{fds} fds passed"),
        });
    }
    for fd in LISTEN_FDS_START..LISTEN_FDS_START + fds {
        let err = |why: String| ListenError::Activated { fd, why };
        // SAFETY: systemd hands us these fds as open sockets that nobody else in this process owns.
        let listener = unsafe { UnixListener::from_raw_fd(fd) };
        // SAFETY: setting a flag on an fd we own.
        if unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return Err(err(io::Error::last_os_error().to_string()));
        }
        let address = listener.local_addr().map_err(|e| err(format!("not a unix socket: {e}")))?;
        let slot = match address.as_pathname() {
            Some(path) if same_path(path, untrusted) => &mut found.untrusted,
            Some(path) if same_path(path, guest) => &mut found.guest,
            _ => &mut found.trusted,
        };
        if slot.is_some() {
            return Err(err(format!("a second socket for the same use ({address:?})")));
        }
        listener.set_nonblocking(true).map_err(|e| err(e.to_string()))?;
        *slot = Some(listener);
    }
    Ok(found)
}

/// Whether `a` and `b` name the same file (also through symbolic links).
fn same_path(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
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

    #[test]
    fn same_path_follows_links() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("s"), "").unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        assert!(same_path(&real.join("s"), &dir.path().join("link/s")));
        assert!(!same_path(&real.join("s"), &dir.path().join("link/t")));
    }
}
