//! The daemon under a service manager: socket activation of all three sockets (with systemd's
//! own `systemd-socket-activate`), sd_notify (start-up extension, READY, watchdog, STOPPING)
//! on a `NOTIFY_SOCKET` the test listens on, and standby: the daemon exits when it has had
//! nothing to do for a while and the next connection, on any socket, brings it back.

use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use workshop_integration::activation::Activator;
use workshop_integration::{Daemon, bin_dir, lxd_enabled, lxd_shared, tool_available};

/// The datagrams received on `socket` within `timeout`, until `last` is one of them.
fn notifications_until(socket: &UnixDatagram, last: &str, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while Instant::now() < deadline {
        socket
            .set_read_timeout(Some(
                deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)),
            ))
            .unwrap();
        let Ok(n) = socket.recv(&mut buf) else { break };
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = message == last;
        seen.push(message);
        if done {
            break;
        }
    }
    seen
}

#[test]
fn the_service_manager_hears_of_start_up_readiness_the_watchdog_and_the_stop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    let notify = path.to_str().unwrap();
    // Without LXD: the daemon starts degraded, but it starts.
    let mut d = Daemon::start_with(&[
        ("NOTIFY_SOCKET", notify),
        ("WATCHDOG_USEC", "200000"),
        ("LXD_SOCKET", "/nonexistent/lxd.socket"),
    ]);
    let start = notifications_until(&socket, "READY=1", Duration::from_secs(20));
    assert_eq!(start.first().map(String::as_str), Some("EXTEND_TIMEOUT_USEC=20000000"), "{start:?}");
    assert_eq!(start.last().map(String::as_str), Some("READY=1"), "{start:?}");
    // Pings every WATCHDOG_USEC/2 = 100 ms.
    let started = Instant::now();
    let mut pings = 0;
    while pings < 3 {
        let seen = notifications_until(&socket, "WATCHDOG=1", Duration::from_secs(5));
        assert_eq!(seen.last().map(String::as_str), Some("WATCHDOG=1"), "no watchdog ping: {seen:?}");
        pings += 1;
    }
    assert!(started.elapsed() < Duration::from_secs(3), "3 pings took {:?}", started.elapsed());
    assert!(d.stop_with(libc::SIGTERM).unwrap().success());
    let stop = notifications_until(&socket, "STOPPING=1", Duration::from_secs(5));
    assert_eq!(stop.last().map(String::as_str), Some("STOPPING=1"), "{stop:?}");
}

#[test]
fn systemd_socket_activate_passes_all_three_sockets() {
    if !tool_available("systemd_socket_activate_passes_all_three_sockets", "systemd-socket-activate") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("wst-daemon-").tempdir().unwrap();
    std::fs::create_dir(dir.path().join("guest")).unwrap();
    let trusted = dir.path().join("workshop.socket");
    let untrusted = dir.path().join("workshop.socket.untrusted");
    let guest = dir.path().join("guest/workshop.socket.untrusted");
    let log = std::fs::File::create(dir.path().join("workshopd.log")).unwrap();
    // It listens, and starts the daemon (exec, same pid) on the first connection.
    let mut activate = Command::new("systemd-socket-activate")
        .arg(format!("--listen={}", trusted.display()))
        .arg(format!("--listen={}", untrusted.display()))
        .arg(format!("--listen={}", guest.display()))
        .arg(format!("--setenv=WORKSHOP={}", dir.path().display()))
        .arg("--setenv=LXD_SOCKET=/nonexistent/lxd.socket")
        .arg("--setenv=WORKSHOP_DEBUG=1")
        .arg(bin_dir().join("workshopd"))
        .args(["run", "--create-dirs"])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !guest.exists() {
        assert!(Instant::now() < deadline, "systemd-socket-activate did not listen");
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = || std::fs::read_to_string(dir.path().join("workshopd.log")).unwrap_or_default();
    let (status, _) = Daemon::http(&trusted, "GET", "/v1/system-info", None);
    assert_eq!(status, 200, "{}", log());
    let (status, body) = Daemon::http(&untrusted, "GET", "/v1/system-info", None);
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("from the untrusted socket"), "{body}");
    let (status, body) = Daemon::http(&guest, "GET", "/v1/system-info", None);
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("from inside a workshop"), "{body}");
    assert!(log().contains("activated=true"), "{}", log());
    // Degraded (no LXD): no standby, and the sockets are systemd's, left in place at exit.
    // SAFETY: signalling our own child (the daemon, which systemd-socket-activate became).
    unsafe { libc::kill(activate.id() as i32, libc::SIGTERM) };
    assert!(activate.wait().unwrap().success(), "{}", log());
    for socket in [&trusted, &untrusted, &guest] {
        assert!(socket.exists(), "{} was removed", socket.display());
    }
}

/// A socket-activated daemon on the real LXD (standby needs a healthy system) that stands by
/// after 1 s with nothing to do.
fn standing_by(test: &str) -> Option<(std::sync::RwLockReadGuard<'static, ()>, Activator)> {
    if !lxd_enabled(test) {
        return None;
    }
    let guard = lxd_shared();
    Some((guard, Activator::start(&[("WORKSHOP_STANDBY_AFTER", "1s")])))
}

#[test]
fn standby_after_a_while_with_nothing_to_do_and_back_on_the_next_request() {
    let Some((_lxd, a)) =
        standing_by("standby_after_a_while_with_nothing_to_do_and_back_on_the_next_request")
    else {
        return;
    };
    let (status, _) = Daemon::http(&a.socket(), "GET", "/v1/system-info", None);
    assert_eq!(status, 200, "{}", a.log());
    assert!(a.wait_for_exits(1, Duration::from_secs(30)), "no standby:\n{}", a.log());
    assert!(a.exits()[0].success(), "{:?}\n{}", a.exits(), a.log());
    assert!(a.log().contains("standing by: nothing to do"), "{}", a.log());
    for socket in [a.socket(), a.untrusted_socket(), a.guest_socket()] {
        assert!(socket.exists(), "{} was removed", socket.display());
    }

    // A request on the socket shared with workshops brings it back (and is answered).
    let (status, body) = Daemon::http(&a.guest_socket(), "GET", "/v1/system-info", None);
    assert_eq!(status, 403, "{body}");
    assert_eq!(a.starts(), 2);
    assert!(a.wait_for_exits(2, Duration::from_secs(30)), "no second standby:\n{}", a.log());

    // And one on the trusted socket, answered by the daemon it started.
    let (status, body) = Daemon::http(&a.socket(), "GET", "/v1/system-info", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(a.starts(), 3);
}

#[test]
fn an_open_connection_keeps_the_daemon_up() {
    let Some((_lxd, a)) = standing_by("an_open_connection_keeps_the_daemon_up") else { return };
    let (status, _) = Daemon::http(&a.socket(), "GET", "/v1/system-info", None);
    assert_eq!(status, 200, "{}", a.log());
    // Connected and quiet: actix closes a connection without a request after 5 s.
    let held = UnixStream::connect(a.untrusted_socket()).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(a.running() && a.exits().is_empty(), "stood by with a connection open:\n{}", a.log());
    drop(held);
    assert!(a.wait_for_exits(1, Duration::from_secs(30)), "no standby once closed:\n{}", a.log());
    assert_eq!(a.starts(), 1);
}

#[test]
fn standby_is_off_unless_systemd_holds_every_socket() {
    let test = "standby_is_off_unless_systemd_holds_every_socket";
    if !lxd_enabled(test) || !tool_available(test, "systemd-socket-activate") {
        return;
    }
    let _lxd = lxd_shared();
    // Only the trusted socket passed (the reference's unit): the untrusted sockets would be
    // gone while the daemon is, so it stays up.
    let dir = tempfile::Builder::new().prefix("wst-daemon-").tempdir().unwrap();
    let trusted = dir.path().join("workshop.socket");
    let log = std::fs::File::create(dir.path().join("workshopd.log")).unwrap();
    let mut daemon = Command::new("systemd-socket-activate")
        .arg(format!("--listen={}", trusted.display()))
        .arg(format!("--setenv=WORKSHOP={}", dir.path().display()))
        .args(["--setenv=WORKSHOP_STANDBY_AFTER=1s", "--setenv=WORKSHOP_DEBUG=1"])
        .arg(bin_dir().join("workshopd"))
        .args(["run", "--create-dirs"])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(dir.path().join("workshopd.log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !trusted.exists() {
        assert!(Instant::now() < deadline, "systemd-socket-activate did not listen");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, _) = Daemon::http(&trusted, "GET", "/v1/system-info", None);
    assert_eq!(status, 200, "{}", log());
    std::thread::sleep(Duration::from_secs(4));
    assert!(daemon.try_wait().unwrap().is_none(), "it stood by:\n{}", log());
    assert!(log().contains("no standby: systemd passed only some of the sockets"), "{}", log());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    assert!(daemon.wait().unwrap().success(), "{}", log());
}
