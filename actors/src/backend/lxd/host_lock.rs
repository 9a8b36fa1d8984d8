//! One writer of a network at a time among the daemons of this machine. LXD stores a
//! network's new configuration (which moves its ETag) before it restarts the network's
//! dnsmasq, so a second write right after a first passes the ETag check while the first is
//! still restarting dnsmasq; the two restarts collide and one write fails ("failed to create
//! listening socket ... Address already in use"), found by the backend's names test with two
//! daemons.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a taken lock is tried again.
const RETRY: Duration = Duration::from_millis(20);

/// A held lock; released when dropped.
pub(super) struct HostLock {
    _file: File,
}

/// The lock of `network` in `dir`: `/run`, which only root may write to (the daemon is root;
/// a world-writable directory would let anyone hold the lock).
pub(super) fn path(dir: &Path, network: &str) -> PathBuf {
    dir.join(format!("workshop-network-{network}.lock"))
}

/// Waits (without blocking the thread) until the lock at `path` is ours.
pub(super) async fn lock(path: &Path) -> io::Result<HostLock> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    loop {
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(HostLock { _file: file });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(e);
        }
        actix_rt::time::sleep(RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path(), "br0");
        assert!(path.ends_with("workshop-network-br0.lock"));
        let first = lock(&path).await.unwrap();
        // Another open file description (as another daemon would have) waits.
        let second = lock(&path);
        futures_util::pin_mut!(second);
        assert!(tokio::time::timeout(Duration::from_millis(100), &mut second).await.is_err());
        drop(first);
        tokio::time::timeout(Duration::from_secs(2), second).await.expect("free once released").unwrap();
    }

    #[actix_rt::test]
    async fn a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        let path = path(dir.path(), "br0");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(lock(&path).await.is_err());
        assert!(!target.exists());
    }
}
