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

/// Issue 14 item 6: every listing and description speaks JSON, YAML (the same document) and,
/// for listings, CSV; a format a command does not have is refused by name.
#[test]
fn listings_speak_json_yaml_and_csv() {
    let d = degraded();
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| d.cli(tmp.path(), args);
    for listing in [&["changes"][..], &["warnings"]] {
        let mut args = listing.to_vec();
        args.extend(["--format", "json"]);
        assert_eq!(run(&args).ok().trim(), "[]", "{listing:?}");
        *args.last_mut().unwrap() = "yaml";
        assert_eq!(run(&args).ok().trim(), "[]", "{listing:?}");
        *args.last_mut().unwrap() = "csv";
        assert_eq!(run(&args).ok(), "", "{listing:?}");
    }
    let version = run(&["version", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(version.ok()).unwrap();
    assert_eq!(json["workshop"], workshop_api::VERSION);
    assert_eq!(json["workshopd"], workshop_api::VERSION);
    let yaml: serde_json::Value =
        serde_yaml_ng::from_str(run(&["version", "--format", "yaml"]).ok()).unwrap();
    assert_eq!(yaml, json);
    let refused = run(&["version", "--format", "csv"]);
    assert!(refused.fails().contains("invalid value 'csv' for '--format <FORMAT>'"), "{}", refused.output());
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
    let csv = d.cli(&tmp.path().join(".workshop/nested"), &["list", "--format", "csv"]);
    assert_eq!(csv.ok(), "ws-a,Off,\nws-b,Off,\n");
    let yaml = d.cli(&tmp.path().join(".workshop/nested"), &["list", "--format", "yaml"]);
    let rows: serde_json::Value = serde_yaml_ng::from_str(yaml.ok()).unwrap();
    assert_eq!(rows[1], serde_json::json!({"name": "ws-b", "status": "Off", "notes": []}));
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

/// Output to a pipe whose reader is gone (`workshop changes --format json | head -1`) ends
/// the CLI as SIGPIPE ends a program that does not catch it, as the reference's, not with a
/// panic.
#[test]
fn output_to_a_closed_pipe_ends_the_cli_as_sigpipe_does() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::ExitStatusExt;
    for args in [&["--version"][..], &["completion", "bash"], &["completion", "powershell"]] {
        let mut ends = [0; 2];
        // SAFETY: a new pipe; each end is owned once below.
        assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0);
        let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
        drop(reader);
        let out = std::process::Command::new(bin_dir().join("workshop"))
            .args(args)
            .stdout(writer)
            .env("WORKSHOP_SOCKET", "/nonexistent/workshop.socket")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{args:?}: {:?} {err}", out.status);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
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

/// `--project` completes directories through the real binary's completion entry point:
/// relative, absolute and `~` prefixes; `launch` offers directories whose workshops are not
/// launched yet (nothing is launched: the daemon runs without LXD), other commands do not,
/// `init` offers any; `.` where the current directory fits.
#[test]
fn project_completion_offers_directories() {
    let d = degraded();
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    for dir in ["proj/.workshop", "empty", "deep/proj2"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("proj/.workshop/dev.yaml"), "name: dev\nbase: debian@12\n").unwrap();
    std::fs::write(root.join("deep/proj2/workshop.yaml"), "name: ws\nbase: debian@12\n").unwrap();
    std::fs::write(root.join("file.txt"), "").unwrap();
    let home = root.display().to_string();
    let complete = |cwd: &Path, words: &[&str]| {
        let index = (words.len() - 1).to_string();
        let env = [
            ("COMPLETE", "bash"),
            ("_CLAP_IFS", "\n"),
            ("_CLAP_COMPLETE_INDEX", index.as_str()),
            ("_CLAP_COMPLETE_COMP_TYPE", "9"),
            ("_CLAP_COMPLETE_SPACE", "false"),
            ("HOME", home.as_str()),
        ];
        let mut args = vec!["--"];
        args.extend_from_slice(words);
        let run = d.cli_as(None, cwd, &args, &env);
        run.ok().lines().map(String::from).collect::<Vec<_>>()
    };
    // As the reference's: launch offers any directory (a project is made of one), and the
    // candidates are written without a trailing slash.
    assert_eq!(complete(&root, &["workshop", "launch", "--project", ""]), [".", "deep", "empty", "proj"]);
    assert_eq!(complete(&root, &["workshop", "launch", "--project", "deep/"]), ["deep/proj2"]);
    assert!(complete(&root, &["workshop", "list", "--project", ""]).is_empty(), "nothing is launched");
    assert_eq!(complete(&root, &["workshop", "init", "x", "-p", "e"]), ["empty"]);
    let abs = format!("{home}/pr");
    assert_eq!(complete(Path::new("/"), &["workshop", "launch", "-p", &abs]), [format!("{home}/proj")]);
    assert_eq!(complete(Path::new("/"), &["workshop", "launch", "--project", "~/p"]), ["~/proj"]);
    assert_eq!(complete(&root.join("deep"), &["workshop", "launch", "-p", "../p"]), ["../proj"]);
    assert_eq!(complete(&root.join("proj"), &["workshop", "launch", "--project", ""]), ["."]);
    assert_eq!(complete(&root, &["workshop", "launch", "--project=pr"]), ["--project=proj"]);
}

/// A second daemon on the directory of a running one refuses to start before it writes
/// anything: the guest files every workshop mounts stay as the first one installed them.
#[test]
fn a_second_daemon_stops_before_touching_the_first_ones_files() {
    use std::os::unix::fs::MetadataExt;
    let d = degraded();
    let tool = d.dir.path().join("guest/workshopctl");
    let before = std::fs::metadata(&tool).expect("the guest files").mtime_nsec();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = std::process::Command::new(bin_dir().join("workshopd"))
        .args(["run", "--create-dirs"])
        .env("WORKSHOP", d.dir.path())
        .env("LXD_SOCKET", "/nonexistent/lxd.socket")
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("another workshopd is running"), "{err}");
    assert_eq!(std::fs::metadata(&tool).unwrap().mtime_nsec(), before, "the guest files are untouched");
    // The first one still serves.
    d.cli(Path::new("/"), &["--version"]).ok();
}

/// `workshopd run --http ADDR` listens there too, and, as the reference's, refuses every
/// request (a TCP peer has no credentials).
#[test]
fn the_http_listener_refuses_every_request() {
    use std::io::{Read, Write};
    let dir = tempfile::Builder::new().prefix("wst-http-").tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut daemon = std::process::Command::new(bin_dir().join("workshopd"))
        .args(["run", "--create-dirs", "--http", &format!("127.0.0.1:{port}")])
        .env("WORKSHOP", dir.path())
        .env("LXD_SOCKET", "/nonexistent/lxd.socket")
        .env("WORKSHOP_STORE_URL", "http://127.0.0.1:1")
        .env_remove("NOTIFY_SOCKET")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let answer = loop {
        if let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            write!(tcp, "GET /v1/changes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
            let mut text = String::new();
            tcp.read_to_string(&mut text).unwrap();
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "the daemon never listened on {port}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}
