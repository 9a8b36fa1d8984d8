//! sd_notify: READY=1, STOPPING=1, WATCHDOG=1 and EXTEND_TIMEOUT_USEC to `$NOTIFY_SOCKET`
//! when it is set.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::warn;

/// Sends `state` to the service manager; does nothing without `NOTIFY_SOCKET`.
pub fn notify(state: &str) {
    if let Some(target) = notify_socket() {
        send(&target, state);
    }
}

fn notify_socket() -> Option<String> {
    std::env::var_os("NOTIFY_SOCKET").map(|t| t.to_string_lossy().into_owned())
}

/// Sends `state` to the service manager's socket `target` (a path, or `@` and an abstract name).
fn send(target: &str, state: &str) {
    let result = (|| -> std::io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        if let Some(name) = target.strip_prefix('@') {
            let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            sock.send_to(state.as_bytes(), target)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        warn!(socket = %target, error = %e, "cannot notify service manager");
    }
}

/// Half the watchdog interval when `WATCHDOG_USEC` applies to this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok()? != std::process::id()
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Asks the service manager for more start-up time while it lives: `EXTEND_TIMEOUT_USEC` at
/// once and then every `every`, each time for twice that, for at most `max` in all (a start-up
/// that hangs still times out). Opening a large state (migration, compaction) runs on the
/// daemon's only thread, so the requests come from a thread of their own.
pub struct StartupExtension {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl StartupExtension {
    pub fn start(every: Duration, max: Duration) -> Self {
        let Some(target) = notify_socket() else { return Self { stop: None, thread: None } };
        let (stop, stopped) = mpsc::channel::<()>();
        let message = format!("EXTEND_TIMEOUT_USEC={}", every.saturating_mul(2).as_micros());
        let thread = std::thread::Builder::new().name("sd-extend".into()).spawn(move || {
            let started = Instant::now();
            loop {
                send(&target, &message);
                match stopped.recv_timeout(every) {
                    Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() < max => {}
                    _ => return,
                }
            }
        });
        match thread {
            Ok(thread) => Self { stop: Some(stop), thread: Some(thread) },
            Err(e) => {
                warn!(error = %e, "cannot ask the service manager for more start-up time");
                Self { stop: None, thread: None }
            }
        }
    }
}

impl Drop for StartupExtension {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// The tests that set `NOTIFY_SOCKET` take turns.
    static ENV: Mutex<()> = Mutex::new(());

    #[test]
    fn notify_reaches_a_datagram_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let _env = ENV.lock().unwrap();
        // SAFETY: the tests that touch this variable take turns (ENV).
        unsafe { std::env::set_var("NOTIFY_SOCKET", &path) };
        notify("READY=1");
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        let mut buf = [0u8; 32];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn start_up_time_is_extended_until_the_guard_goes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let env = ENV.lock().unwrap();
        // SAFETY: the tests that touch this variable take turns (ENV).
        unsafe { std::env::set_var("NOTIFY_SOCKET", &path) };
        let extension = StartupExtension::start(Duration::from_millis(20), Duration::from_secs(60));
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        drop(env);
        let mut buf = [0u8; 64];
        for _ in 0..3 {
            let n = server.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"EXTEND_TIMEOUT_USEC=40000");
        }
        drop(extension);
        server.set_nonblocking(true).unwrap();
        while server.recv(&mut buf).is_ok() {}
        std::thread::sleep(Duration::from_millis(100));
        assert!(server.recv(&mut buf).is_err(), "nothing is sent once the guard is dropped");
    }

    #[test]
    fn start_up_time_is_extended_for_a_bounded_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let env = ENV.lock().unwrap();
        // SAFETY: the tests that touch this variable take turns (ENV).
        unsafe { std::env::set_var("NOTIFY_SOCKET", &path) };
        let extension = StartupExtension::start(Duration::from_millis(10), Duration::from_millis(50));
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        drop(env);
        // The thread ends by itself after `max`: joining it (drop) does not wait for a stop.
        std::thread::sleep(Duration::from_millis(300));
        server.set_nonblocking(true).unwrap();
        let mut sent = 0;
        let mut buf = [0u8; 64];
        while server.recv(&mut buf).is_ok() {
            sent += 1;
        }
        assert!((2..=8).contains(&sent), "{sent} extensions in 50 ms at one per 10 ms");
        drop(extension);
    }
}
