//! The one place the daemon touches paths that clients name (project directories,
//! definition files, `.workshop.lock`, mount sources).
//!
//! The daemon runs as root; its users do not. [`as_user`] runs a closure on a fresh thread
//! that checks file access with the caller's identity (see `creds.rs`), so the kernel refuses
//! whatever the user could not open themselves. Within it, [`Dir`] reaches files through
//! directory fds, one component at a time, without following symlinks, and reads only
//! regular files of bounded size, never blocking on a FIFO. The closure runs off the actor
//! threads and is waited for at most [`TIMEOUT`]; at most [`MAX_IN_FLIGHT`] run at once.

mod creds;
mod data_root;
mod dir;
pub mod stage;
mod walk;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub use data_root::DataRoot;
pub use dir::{Dir, Kind, MAX_ENTRIES, MAX_LINK, Metadata};
pub use walk::{Reopen, WalkEntry, WalkLimits, walk};

use crate::managers::UserRef;

/// Largest definition (YAML) file the daemon reads.
pub const MAX_YAML: u64 = 1 << 20;
/// How long a file operation on a user's behalf may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Most file operations on users' behalf running at once.
pub const MAX_IN_FLIGHT: usize = 32;

/// Why a path a client named cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UserFsError {
    /// The filesystem refused (as the user) or failed.
    #[error("cannot {op} \"{}\": {}", path.display(), io_reason(.source))]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A symlink, FIFO, device or directory where a regular file (or a directory) must be.
    #[error("cannot read \"{}\": {what}", path.display())]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("cannot read \"{}\": larger than {} bytes", path.display(), limit)]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("cannot read \"{}\": not UTF-8 text", path.display())]
    NotText { path: PathBuf },
    #[error("cannot list \"{}\": more than {limit} entries", path.display())]
    TooMany { path: PathBuf, limit: usize },
    #[error("cannot list \"{}\": directories nested deeper than {limit} levels", path.display())]
    TooDeep { path: PathBuf, limit: usize },
    /// An entry changed between two looks at it (e.g. a file's size while it was copied).
    #[error("cannot read \"{}\": it changed while being read", path.display())]
    Changed { path: PathBuf },
    /// A name that is not a single path component.
    #[error("cannot use \"{}\": not a file name", path.display())]
    BadName { path: PathBuf },
    #[error("cannot act as user {user:?}: {why}")]
    Identity { user: String, why: String },
    #[error("cannot access files for {user:?}: too many file operations in progress")]
    Busy { user: String },
    #[error("cannot access files for {user:?}: no answer in time")]
    TimedOut { user: String },
}

impl UserFsError {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        UserFsError::Io { op, path: path.to_path_buf(), source }
    }

    /// Whether the path (or a directory on the way to it) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, UserFsError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// The OS error without Rust's " (os error N)" suffix, in lowercase like our messages.
pub(crate) fn io_reason(error: &io::Error) -> String {
    workshop_api::os_error::reason(error)
}

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// One of the [`MAX_IN_FLIGHT`] slots, given back when dropped (on the worker thread, so a
/// stuck operation keeps holding it).
struct Slot;

impl Slot {
    fn take(user: &UserRef) -> Result<Slot, UserFsError> {
        IN_FLIGHT
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_IN_FLIGHT).then_some(n + 1))
            .map(|_| Slot)
            .map_err(|_| UserFsError::Busy { user: user.name.clone() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `work` with `user`'s filesystem identity on a thread of its own, and waits for it at
/// most [`TIMEOUT`] (the thread is abandoned after that, still holding its slot).
pub async fn as_user<T, E, F>(user: &UserRef, work: F) -> Result<T, E>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<UserFsError> + Send + 'static,
{
    as_user_within(user, TIMEOUT, work).await
}

/// [`as_user`] waiting at most `timeout`, for work that takes longer than single files (a
/// whole tree).
pub async fn as_user_within<T, E, F>(user: &UserRef, timeout: Duration, work: F) -> Result<T, E>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<UserFsError> + Send + 'static,
{
    let slot = Slot::take(user)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let who = user.clone();
    let spawned = std::thread::Builder::new().name("workshopd-userfs".into()).spawn(move || {
        let _slot = slot;
        let result = creds::become_user(&who).map_err(E::from).and_then(|()| work());
        let _ = tx.send(result);
    });
    if let Err(e) = spawned {
        return Err(UserFsError::Identity {
            user: user.name.clone(),
            why: format!("cannot start a thread: {e}"),
        }
        .into());
    }
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(result)) => result,
        // The thread panicked (its sender dropped) or took too long.
        Ok(Err(_)) | Err(_) => Err(UserFsError::TimedOut { user: user.name.clone() }.into()),
    }
}

/// The user the tests run as (named `me`).
#[cfg(test)]
pub(crate) fn current_user() -> UserRef {
    // SAFETY: geteuid/getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    UserRef { name: "me".into(), uid, gid, data_home: None }
}

#[cfg(test)]
mod tests {
    use super::current_user as me;
    use super::*;

    #[actix_rt::test]
    async fn work_runs_off_the_calling_thread() {
        let caller = std::thread::current().id();
        let other =
            as_user::<_, UserFsError, _>(&me(), move || Ok(std::thread::current().id())).await.unwrap();
        assert_ne!(other, caller);
    }

    #[actix_rt::test]
    async fn stuck_work_is_abandoned_in_bounded_time() {
        let started = std::time::Instant::now();
        let result = as_user_within::<(), UserFsError, _>(&me(), Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_millis(500));
            Ok(())
        })
        .await;
        assert!(matches!(result, Err(UserFsError::TimedOut { .. })), "{result:?}");
        assert!(started.elapsed() < Duration::from_millis(400));
    }

    /// As root, work done for another user sees only what that user may see.
    #[actix_rt::test]
    async fn work_for_another_user_is_checked_as_that_user() {
        if me().uid != 0 {
            eprintln!("skipped: acting as another user needs root");
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let open = tmp.path().to_path_buf();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(open.join("public"), "hello").unwrap();
        std::fs::write(open.join("secret"), "root only").unwrap();
        std::fs::set_permissions(open.join("public"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(open.join("secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let private = open.join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let nobody = UserRef { name: "nobody".into(), uid: 65534, gid: 65534, data_home: None };
        let dir = open.clone();
        let (public, secret) = as_user::<_, UserFsError, _>(&nobody, move || {
            let d = Dir::open(&dir)?;
            Ok((d.read_text("public", 100), d.read_text("secret", 100)))
        })
        .await
        .unwrap();
        assert_eq!(public.unwrap(), "hello");
        let secret = secret.unwrap_err().to_string();
        assert!(secret.ends_with("permission denied") && !secret.contains("root only"), "{secret}");
        let err = as_user::<_, UserFsError, _>(&nobody, move || Dir::open(&private)).await.unwrap_err();
        assert!(err.to_string().ends_with("permission denied"), "{err}");
        // The daemon's own threads keep root's view.
        assert_eq!(std::fs::read_to_string(open.join("secret")).unwrap(), "root only");
    }

    #[test]
    fn messages_are_lowercase_without_os_error_numbers() {
        let e = UserFsError::io("open", Path::new("/p"), io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(e.to_string(), "cannot open \"/p\": permission denied");
    }
}
