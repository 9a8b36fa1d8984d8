//! `workshopctl` against a fake daemon on a temporary socket.

use std::path::Path;
use std::process::Command;
use std::thread;

use workshop_client::fake_daemon;

/// Answers one request with `json`; returns the request body.
fn serve_once(socket: &Path, status: &'static str, json: &'static str) -> thread::JoinHandle<String> {
    let server = fake_daemon::serve(socket, vec![fake_daemon::reply(status, json)]);
    thread::spawn(move || server.join().unwrap().remove(0).body)
}

fn workshopctl(socket: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_workshopctl"))
        .args(args)
        .env("WORKSHOPCTL_SOCKET", socket)
        .env("WORKSHOP_COOKIE", "cookie-1")
        .output()
        .unwrap()
}

#[test]
fn relays_arguments_and_prints_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("workshop.socket.untrusted");
    let server = serve_once(
        &socket,
        "200 OK",
        r#"{"type":"sync","status-code":200,"status":"OK","result":{"stdout":"out\n","stderr":"err\n"}}"#,
    );
    let out = workshopctl(&socket, &["set-health", "okay"]);
    assert!(out.status.success());
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(server.join().unwrap(), r#"{"context-id":"cookie-1","args":["set-health","okay"]}"#);
}

#[test]
fn daemon_errors_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("workshop.socket.untrusted");
    let server = serve_once(
        &socket,
        "400 Bad Request",
        r#"{"type":"error","status-code":400,"status":"Bad Request","result":{"message":"\"set-health\" is only allowed from a \"check-health\" hook"}}"#,
    );
    let out = workshopctl(&socket, &["set-health", "error", "broken thing"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: \"set-health\" is only allowed from a \"check-health\" hook\n"
    );
    server.join().unwrap();
}

#[test]
fn unsuccessful_errors_carry_output_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("workshop.socket.untrusted");
    let _server = serve_once(
        &socket,
        "200 OK",
        r#"{"type":"error","status-code":200,"status":"OK","result":{"message":"failed","kind":"unsuccessful","value":{"stdout":"o","stderr":"e","exit-code":3}}}"#,
    );
    let out = workshopctl(&socket, &["set-health", "okay"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!((out.stdout.as_slice(), out.stderr.as_slice()), (&b"o"[..], &b"e"[..]));
}

#[test]
fn mistakes_and_help_are_answered_without_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens here: a request would fail to connect.
    let socket = dir.path().join("none");
    let cases: &[(&[&str], &str)] = &[
        (&["set-health", "error", "bad"], "error: message must be at least 7 characters long (got 3)\n"),
        (
            &["set-health", "okay", "fine now"],
            "error: when status is \"okay\", message and code must be empty\n",
        ),
        (
            &["set-health", "--code=Xy1", "waiting", "starting up"],
            "error: invalid code \"Xy1\" (code must start with lowercase ASCII letters, and contain only ASCII letters and numbers, optionally separated by single dashes)\n",
        ),
        (&["set-health", "unknown", "no idea yet"], "error: status cannot be manually set to \"unknown\"\n"),
        (&[], "error: workshopctl cannot run without args\n"),
    ];
    for (args, want) in cases {
        let out = workshopctl(&socket, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8(out.stderr).unwrap(), *want, "{args:?}");
        assert!(out.stdout.is_empty());
    }
    for args in [&["--help"][..], &["set-health", "-h"]] {
        let out = workshopctl(&socket, args);
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8(out.stdout).unwrap().starts_with("Usage:\n  workshopctl"), "{args:?}");
    }
    // A valid command does go to the daemon, and so does any other command: who may run it
    // is the daemon's to say (root only), before what it is.
    for args in [&["set-health", "okay"][..], &["get-secret", "x"], &["--bogus"]] {
        let out = workshopctl(&socket, args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.starts_with("error: cannot communicate with workshopd"), "{args:?}: {stderr}");
    }
}
