//! The `workshop` CLI against a real daemon (no LXD needed: the daemon runs degraded).

use std::path::Path;

use workshop_integration::{Daemon, bin_dir};

fn degraded() -> Daemon {
    Daemon::start_with(&[("LXD_SOCKET", "/nonexistent/lxd.socket")])
}

#[test]
fn version_prints_the_bare_version() {
    let d = degraded();
    let run = d.cli(Path::new("/"), &["--version"]);
    assert_eq!(run.ok().trim(), workshop_api::VERSION);
}

#[test]
fn degraded_daemon_refuses_project_tracking_with_the_reason() {
    let d = degraded();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("workshop.yaml"), "name: ws\nbase: ubuntu@22.04\n").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let run = d.cli(tmp.path(), &["list"]);
        if run.code != 0 {
            assert!(
                run.output().contains("error: system is not healthy: cannot connect to LXD"),
                "{}",
                run.output()
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never degraded");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn empty_listings() {
    let d = degraded();
    let tmp = tempfile::tempdir().unwrap();
    let warnings = d.cli(tmp.path(), &["warnings"]);
    assert_eq!(warnings.ok().trim(), "No warnings.");
    let tasks = d.cli(tmp.path(), &["tasks"]);
    assert!(tasks.fails().contains("error: cannot find any changes"), "{}", tasks.output());
    let changes = d.cli(tmp.path(), &["changes", "--format", "json"]);
    assert_eq!(changes.ok().trim(), "[]");
}

#[test]
fn not_a_project() {
    if !workshop_integration::lxd_enabled("not_a_project") {
        return;
    }
    let _lxd = workshop_integration::lxd_shared();
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let run = d.cli(tmp.path(), &["list"]);
    assert!(
        run.fails().lines().any(|l| l == "error: not a project (no workshop files found)"),
        "{}",
        run.output()
    );
}

#[test]
fn list_shows_definitions_as_off_and_tracks_the_project() {
    if !workshop_integration::lxd_enabled("list_shows_definitions_as_off_and_tracks_the_project") {
        return;
    }
    let _lxd = workshop_integration::lxd_shared();
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join(".workshop/nested")).unwrap();
    std::fs::write(tmp.path().join(".workshop/ws-a.yaml"), "name: ws-a\nbase: ubuntu@22.04\n").unwrap();
    std::fs::write(tmp.path().join(".workshop/ws-b.yaml"), "name: ws-b\nbase: ubuntu@24.04\n").unwrap();
    let run = d.cli(&tmp.path().join(".workshop/nested"), &["list"]);
    assert!(run.has_line(r"^ws-a\s+Off\s+-$") && run.has_line(r"^ws-b\s+Off\s+-$"), "{}", run.output());
    let lock = std::fs::read_to_string(tmp.path().join(".workshop.lock")).unwrap();
    assert_eq!(lock.trim().len(), 8, "lock file holds the project id: {lock:?}");
}

#[test]
fn init_writes_a_definition_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin_dir().join("workshop"))
        .args(["init", "dev", "--sdks", "ollama/cpu/stable,jupyter", "--base", "ubuntu@22.04"])
        .current_dir(tmp.path())
        .env("WORKSHOP_SOCKET", "/nonexistent/socket")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(tmp.path().join(".workshop/dev.yaml")).unwrap();
    assert!(text.lines().any(|l| l == "name: dev"), "{text}");
    assert!(text.lines().any(|l| l == "base: ubuntu@22.04"), "{text}");
    assert!(text.contains("channel: cpu/stable"), "{text}");
    let bad = std::process::Command::new(bin_dir().join("workshop"))
        .args(["init", "Dev"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("a workshop's name must: (1) start with a letter"));
}

#[test]
fn unreachable_daemon_is_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin_dir().join("workshop"))
        .args(["changes"])
        .current_dir(tmp.path())
        .env("WORKSHOP_SOCKET", tmp.path().join("no.socket"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: cannot communicate with workshopd: "), "{err}");
}

#[test]
fn exec_flags_are_checked_before_anything_else() {
    let d = degraded();
    let tmp = tempfile::tempdir().unwrap();
    let run = d.cli(tmp.path(), &["exec", "-i", "-I", "--", "true"]);
    assert!(run.fails().contains(r#""-i" incompatible with "-I""#), "{}", run.output());
}
