//! The v1 API over real Unix sockets: envelopes, errors, access levels, degraded mode.

use std::time::{Duration, Instant};

use workshop_integration::Daemon;

/// A daemon that cannot reach LXD: degraded, but serving.
fn degraded() -> Daemon {
    Daemon::start_with(&[("LXD_SOCKET", "/nonexistent/lxd.socket")])
}

#[test]
fn envelope_shapes_and_routing_errors() {
    let d = degraded();
    let (status, env) = Daemon::http(&d.socket(), "GET", "/v1/changes?select=all", None);
    assert_eq!(status, 200);
    assert_eq!(env["type"], "sync");
    assert_eq!(env["status-code"], 200);
    assert_eq!(env["status"], "OK");
    assert!(env["result"].is_array());

    let (status, env) = Daemon::http(&d.socket(), "GET", "/v1/nope", None);
    assert_eq!(status, 404);
    assert_eq!(env["type"], "error");
    assert_eq!(env["result"]["message"], "invalid API endpoint requested");

    let (status, env) = Daemon::http(&d.socket(), "PUT", "/v1/changes", None);
    assert_eq!(status, 405);
    assert_eq!(env["result"]["message"], r#"method "PUT" not allowed"#);

    let (status, env) = Daemon::http(&d.socket(), "GET", "/v1/changes/999", None);
    assert_eq!(status, 404);
    assert_eq!(env["type"], "error");

    let (status, env) = Daemon::http(&d.socket(), "GET", "/v1/changes?select=bogus", None);
    assert_eq!(status, 400, "{env}");
}

#[test]
fn degraded_mode_refuses_changes_with_the_reason_and_serves_reads() {
    let d = degraded();
    let deadline = Instant::now() + Duration::from_secs(10);
    let reason = loop {
        let (_, env) = Daemon::http(&d.socket(), "GET", "/v1/system-info", None);
        if let Some(reason) = env["result"]["degraded"].as_str() {
            break reason.to_string();
        }
        assert!(Instant::now() < deadline, "daemon never noticed LXD is missing: {env}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(reason.starts_with("system is not healthy: "), "{reason}");
    assert!(reason.contains("/nonexistent/lxd.socket"), "the reason names the socket: {reason}");
    let body = r#"{"action":"okay","timestamp":"2026-01-01T00:00:00Z"}"#;
    let (status, env) = Daemon::http(&d.socket(), "POST", "/v1/warnings", Some(body));
    assert_eq!(status, 500, "{env}");
    assert_eq!(env["result"]["message"], reason.as_str());
    let (status, _) = Daemon::http(&d.socket(), "GET", "/v1/warnings", None);
    assert_eq!(status, 200);
}

#[test]
fn bad_json_is_a_clear_400() {
    let d = degraded();
    let (status, env) = Daemon::http(&d.untrusted_socket(), "POST", "/v1/workshopctl", Some("{not json"));
    assert_eq!(status, 400);
    let message = env["result"]["message"].as_str().unwrap();
    assert!(message.starts_with("cannot decode request body: "), "{message}");
}

#[test]
fn a_second_daemon_on_the_same_state_is_refused() {
    let d = degraded();
    let out = std::process::Command::new(workshop_integration::bin_dir().join("workshopd"))
        .args(["run"])
        .env("WORKSHOP", d.dir.path())
        .env("WORKSHOP_SOCKET", d.dir.path().join("second.socket"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another workshopd"), "{err}");
}

#[test]
fn sigterm_stops_cleanly_and_state_survives() {
    let mut d = degraded();
    let pid = d.pid();
    // A served request: the server runs, so its SIGTERM handling is in place (a signal that
    // comes while the daemon is still starting up kills it, seen once in CI-like runs).
    let (status, _) = Daemon::http(&d.socket(), "GET", "/v1/system-info", None);
    assert_eq!(status, 200);
    let status = d.stop_with(libc::SIGTERM).unwrap();
    assert!(status.success(), "exit status {status:?} of {pid}");
    assert!(!d.untrusted_socket().exists(), "untrusted socket removed on exit");
    assert!(!d.guest_socket().exists(), "shared untrusted socket removed on exit");
    d.restart();
    let (status, _) = Daemon::http(&d.socket(), "GET", "/v1/changes", None);
    assert_eq!(status, 200);
}

#[test]
fn a_state_that_cannot_be_saved_stops_the_daemon_at_once() {
    use workshop_actors::state::{Status, Store};
    // A task left running by a previous daemon: starting it again is a change to save.
    let dir = tempfile::tempdir().unwrap();
    let (mut store, mut st) = Store::open(dir.path()).unwrap();
    let now = chrono::Utc::now();
    let change = st.new_change("exec", "Run a command", now);
    let task = st.new_task("exec", "Run a command", now);
    st.add_task(&change, &task);
    st.set_task_status(&task, Status::Doing, now);
    store.checkpoint(&mut st).unwrap();
    drop(store);

    let mut child = std::process::Command::new(workshop_integration::bin_dir().join("workshopd"))
        .args(["run"])
        .env("WORKSHOP", dir.path())
        .env("LXD_SOCKET", "/nonexistent/lxd.socket")
        .env("WORKSHOP_FAULT_INJECT", "state-journal")
        .env_remove("WORKSHOP_SOCKET")
        .env_remove("NOTIFY_SOCKET")
        .stderr(std::fs::File::create(dir.path().join("workshopd.log")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon runs on without saving its state");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(dir.path().join("workshopd.log")).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("cannot go on without saving the state; exiting"), "{log}");
    assert!(log.contains("No space left on device"), "{log}");
    assert!(!dir.path().join("workshop.socket.untrusted").exists(), "untrusted socket removed");
}
