//! Locks the daemons of this machine share (`flock`, in `/run`, which only root may write to:
//! in a world-writable directory anyone could hold them):
//! - one writer of a network at a time: LXD stores a network's new configuration (which moves
//!   its ETag) before it restarts the network's dnsmasq, so a second write right after a first
//!   passes the ETag check while the first is still restarting dnsmasq; the two restarts
//!   collide and one write fails ("failed to create listening socket ... Address already in
//!   use"), found by the backend's names test with two daemons;
//! - no restart of dnsmasq while a guest boots (asks for its address): a guest whose DHCP
//!   request is lost waits 8 s before it asks again. Booting takes the boot lock shared, a
//!   write exclusive until dnsmasq is back.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a taken lock is tried again.
const RETRY: Duration = Duration::from_millis(20);

/// How a lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Shared,
    Exclusive,
}

/// A held lock; released when dropped.
pub(super) struct HostLock {
    _file: File,
}

/// The lock of `network` for `purpose` (`write`, `boot`) in `dir`.
pub(super) fn path(dir: &Path, network: &str, purpose: &str) -> PathBuf {
    dir.join(format!("workshop-network-{network}.{purpose}.lock"))
}

/// Waits (without blocking the thread) at most `wait` for the lock at `path`; None when it
/// is still held by others then.
pub(super) async fn lock(path: &Path, mode: Mode, wait: Duration) -> io::Result<Option<HostLock>> {
    let deadline = std::time::Instant::now() + wait;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let operation = match mode {
        Mode::Shared => libc::LOCK_SH,
        Mode::Exclusive => libc::LOCK_EX,
    };
    loop {
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), operation | libc::LOCK_NB) } == 0 {
            return Ok(Some(HostLock { _file: file }));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(e);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        actix_rt::time::sleep(RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(5);

    #[actix_rt::test]
    async fn one_exclusive_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path(), "br0", "write");
        assert!(path.ends_with("workshop-network-br0.write.lock"));
        let first = lock(&path, Mode::Exclusive, LONG).await.unwrap().unwrap();
        // Another open file description (as another daemon would have) waits, and gives up.
        assert!(lock(&path, Mode::Exclusive, Duration::from_millis(100)).await.unwrap().is_none());
        let second = lock(&path, Mode::Exclusive, LONG);
        futures_util::pin_mut!(second);
        assert!(tokio::time::timeout(Duration::from_millis(100), &mut second).await.is_err());
        drop(first);
        assert!(second.await.unwrap().is_some(), "free once released");
    }

    #[actix_rt::test]
    async fn boots_share_and_a_write_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path(), "br0", "boot");
        let one = lock(&path, Mode::Shared, LONG).await.unwrap().unwrap();
        let two = lock(&path, Mode::Shared, LONG).await.unwrap().unwrap();
        assert!(lock(&path, Mode::Exclusive, Duration::from_millis(60)).await.unwrap().is_none());
        drop(one);
        assert!(lock(&path, Mode::Exclusive, Duration::from_millis(60)).await.unwrap().is_none());
        drop(two);
        let write = lock(&path, Mode::Exclusive, LONG).await.unwrap().unwrap();
        assert!(lock(&path, Mode::Shared, Duration::from_millis(60)).await.unwrap().is_none());
        drop(write);
        assert!(lock(&path, Mode::Shared, LONG).await.unwrap().is_some());
    }

    #[actix_rt::test]
    async fn a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        let path = path(dir.path(), "br0", "write");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(lock(&path, Mode::Exclusive, LONG).await.is_err());
        assert!(!target.exists());
    }
}
