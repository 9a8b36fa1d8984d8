//! The workshop a connection on the guest socket comes from. The peer process is pinned by a
//! pidfd (SO_PEERPIDFD; on kernels before 6.5, `pidfd_open` of SO_PEERCRED's pid, which a
//! process that exits at once and whose pid is reused at once could still fool), its
//! `/proc/<pid>/cgroup` is read, and then the pidfd is checked: a process still alive after the
//! read held that pid all along, so the file read was its own.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use workshop_actors::backend::lxd::origin::{self, GuestWorkshop, MAX_CGROUP_FILE, OriginError};

/// Why the workshop of a guest connection is not known.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("the peer's pid is not known")]
    NoPid,
    #[error("cannot pin the peer process: {0}")]
    Pidfd(io::Error),
    #[error("cannot read the peer's cgroups: {0}")]
    Cgroups(io::Error),
    #[error("the peer process has exited")]
    Exited,
    #[error(transparent)]
    Origin(#[from] OriginError),
}

/// The workshop of the process at the other end of `socket`, whose SO_PEERCRED pid is `pid`.
pub fn workshop_of_peer(socket: RawFd, pid: Option<i32>) -> Result<GuestWorkshop, PeerError> {
    let pid = pid.filter(|&p| p > 0).ok_or(PeerError::NoPid)?;
    let pidfd = peer_pidfd(socket, pid).map_err(PeerError::Pidfd)?;
    let cgroups = read_cgroups(pid).map_err(PeerError::Cgroups)?;
    if has_exited(&pidfd).map_err(PeerError::Pidfd)? {
        return Err(PeerError::Exited);
    }
    Ok(origin::workshop_of_cgroups(&cgroups)?)
}

/// At most one byte more than [`MAX_CGROUP_FILE`] of `/proc/<pid>/cgroup`, so that a longer
/// file is refused as such.
fn read_cgroups(pid: i32) -> io::Result<String> {
    let file = std::fs::File::open(format!("/proc/{pid}/cgroup"))?;
    let mut text = String::new();
    file.take(MAX_CGROUP_FILE as u64 + 1).read_to_string(&mut text)?;
    Ok(text)
}

fn peer_pidfd(socket: RawFd, pid: i32) -> io::Result<OwnedFd> {
    match so_peerpidfd(socket) {
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => pidfd_open(pid),
        pinned => pinned,
    }
}

/// The socket option giving the peer's pidfd (Linux 6.5), where it has the generic value.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64"))]
const SO_PEERPIDFD: libc::c_int = 77;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64"))]
fn so_peerpidfd(socket: RawFd) -> io::Result<OwnedFd> {
    let mut fd: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: fd and len are valid for the call, and len is the size of fd.
    let rc =
        unsafe { libc::getsockopt(socket, libc::SOL_SOCKET, SO_PEERPIDFD, (&raw mut fd).cast(), &mut len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the kernel made a new pidfd, which nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64")))]
fn so_peerpidfd(_socket: RawFd) -> io::Result<OwnedFd> {
    Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT))
}

fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the kernel made a new pidfd, which nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Whether the process of `pidfd` has exited (its pidfd polls readable).
fn has_exited(pidfd: &OwnedFd) -> io::Result<bool> {
    let mut poll = libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, no wait.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    if ready < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ready > 0)
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;

    /// The pid SO_PEERCRED reports for `socket`'s peer.
    fn peer_pid(socket: &UnixStream) -> i32 {
        let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: cred and len are valid for the call, and len is the size of cred.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                (&raw mut cred).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        cred.pid
    }

    #[test]
    fn a_host_process_is_in_no_workshop() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let pid = peer_pid(&ours);
        assert_eq!(pid, std::process::id() as i32);
        let err = workshop_of_peer(ours.as_raw_fd(), Some(pid)).unwrap_err();
        assert!(matches!(err, PeerError::Origin(OriginError::NotInContainer)), "{err}");
    }

    #[test]
    fn a_peer_that_has_exited_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let address = std::os::unix::net::SocketAddr::from_pathname(&path).unwrap();
        // SAFETY: the child only makes async-signal-safe calls (socket, connect, _exit) on
        // memory prepared before the fork.
        let child = unsafe {
            let mut sun: libc::sockaddr_un = std::mem::zeroed();
            sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (to, from) in
                sun.sun_path.iter_mut().zip(address.as_pathname().unwrap().as_os_str().as_encoded_bytes())
            {
                *to = *from as libc::c_char;
            }
            let child = libc::fork();
            if child == 0 {
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
                libc::connect(fd, (&raw const sun).cast(), len);
                libc::_exit(0);
            }
            child
        };
        assert!(child > 0);
        let (ours, _) = listener.accept().unwrap();
        // Wait for the exit but leave the child a zombie: its pid stays taken.
        // SAFETY: a plain wait on our own child.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::waitid(libc::P_PID, child as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        assert_eq!(rc, 0);
        let err = workshop_of_peer(ours.as_raw_fd(), Some(peer_pid(&ours))).unwrap_err();
        assert!(matches!(err, PeerError::Exited), "{err}");
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
    }

    #[test]
    fn no_pid_no_workshop() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        assert!(matches!(workshop_of_peer(ours.as_raw_fd(), None), Err(PeerError::NoPid)));
        assert!(matches!(workshop_of_peer(ours.as_raw_fd(), Some(0)), Err(PeerError::NoPid)));
    }
}
