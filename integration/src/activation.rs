//! What systemd's `workshopd.socket` does, for tests on a machine whose PID 1 is not systemd:
//! hold the daemon's three sockets, start `workshopd` with them the way systemd passes them
//! (fds 3, 4 and 5, `LISTEN_FDS=3`, `LISTEN_PID` the daemon's own pid), and when it has
//! exited start it again as soon as a connection waits on any of them.

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::bin_dir;

/// A socket-activated `workshopd` in a temp directory; stopped (SIGTERM) on drop.
pub struct Activator {
    pub dir: tempfile::TempDir,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// When each daemon was started.
    starts: Mutex<Vec<Instant>>,
    /// How each daemon that ended ended.
    exits: Mutex<Vec<ExitStatus>>,
}

impl Activator {
    /// Binds the sockets (mode 0666, as `SocketMode=0666`) and starts the daemon at once, as
    /// at boot; `env` is added to the daemon's environment.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new().prefix("wst-activated-").tempdir().expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(dir.path().join("guest")).unwrap();
        let mut activator = Self { dir, shared: Arc::default(), thread: None };
        let listeners: Vec<UnixListener> =
            [activator.socket(), activator.untrusted_socket(), activator.guest_socket()]
                .iter()
                .map(|path| {
                    let listener = UnixListener::bind(path).expect("bind");
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
                    listener
                })
                .collect();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (dir, shared) = (activator.dir.path().to_path_buf(), activator.shared.clone());
        activator.thread = Some(std::thread::spawn(move || supervise(&dir, &listeners, &env, &shared)));
        activator
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("workshop.socket")
    }

    pub fn untrusted_socket(&self) -> PathBuf {
        self.dir.path().join("workshop.socket.untrusted")
    }

    pub fn guest_socket(&self) -> PathBuf {
        self.dir.path().join("guest/workshop.socket.untrusted")
    }

    /// How many times the daemon was started.
    pub fn starts(&self) -> usize {
        self.shared.starts.lock().unwrap().len()
    }

    /// When the daemon was last started.
    pub fn last_start(&self) -> Option<Instant> {
        self.shared.starts.lock().unwrap().last().copied()
    }

    /// How the daemons that ended ended.
    pub fn exits(&self) -> Vec<ExitStatus> {
        self.shared.exits.lock().unwrap().clone()
    }

    /// Waits up to `timeout` for the `n`th daemon to have ended; whether it has.
    pub fn wait_for_exits(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.exits().len() < n {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Whether a daemon is running now.
    pub fn running(&self) -> bool {
        self.starts() > self.exits().len()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("workshopd.log")).unwrap_or_default()
    }
}

impl Drop for Activator {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the daemon, waits for it to end, waits for a connection, and again, until stopped.
fn supervise(dir: &std::path::Path, listeners: &[UnixListener], env: &[(String, String)], shared: &Shared) {
    let fds: Vec<RawFd> = listeners.iter().map(AsRawFd::as_raw_fd).collect();
    loop {
        let mut child = spawn(dir, &fds, env);
        shared.starts.lock().unwrap().push(Instant::now());
        let mut signalled = false;
        let status = loop {
            if !signalled && shared.stop.load(Ordering::SeqCst) {
                // SAFETY: signalling our own child, not reaped yet.
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                signalled = true;
            }
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("cannot wait for workshopd: {e}"),
            }
        };
        shared.exits.lock().unwrap().push(status);
        loop {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            if connection_waits(&fds, 50) {
                break;
            }
        }
    }
}

/// Whether a connection waits on one of the listening `fds` within `timeout_ms`.
fn connection_waits(fds: &[RawFd], timeout_ms: i32) -> bool {
    let mut polled: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: `polled` is a valid array of pollfd for the duration of the call.
    let n = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, timeout_ms) };
    n > 0 && polled.iter().any(|p| p.revents & libc::POLLIN != 0)
}

fn spawn(dir: &std::path::Path, fds: &[RawFd], env: &[(String, String)]) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("workshopd.log")).unwrap();
    let mut command = Command::new("sh");
    command
        .args(["-c", r#"export LISTEN_PID=$$ LISTEN_FDS=3; exec "$0" run --create-dirs"#])
        .arg(bin_dir().join("workshopd"))
        .env("WORKSHOP", dir)
        .env("WORKSHOP_DEBUG", "1")
        .env_remove("WORKSHOP_SOCKET")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WORKSHOP_STANDBY_AFTER")
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    for (k, v) in env {
        command.env(k, v);
    }
    let fds: [RawFd; 3] = fds.try_into().expect("three sockets");
    // SAFETY: fcntl and dup2 are async-signal-safe; the sockets become fds 3, 4 and 5 (moved
    // out of the way first, so that none is overwritten before it is copied), not closed on exec.
    unsafe {
        command.pre_exec(move || {
            let mut high = [0; 3];
            for (i, fd) in fds.iter().enumerate() {
                high[i] = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 10);
                if high[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, fd) in high.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as RawFd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    command.spawn().expect("start workshopd")
}
