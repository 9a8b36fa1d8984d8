//! Workshops end to end against the real LXD (`WORKSHOP_TEST_LXD=1`), driven through the CLI
//! as an unprivileged user. Scenario ids refer to the public acceptance set.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use workshop_integration::sdk_fixtures::{self, definition};
use workshop_integration::{
    Daemon, Project, lxd_ctl, lxd_enabled, lxd_exclusive, lxd_shared, test_user, user_ids,
};

fn bare(name: &str, base: &str) -> String {
    format!("name: {name}\nbase: {base}\n")
}

/// Launch, list, exec, info, stop/start, remove of one bare workshop (L-01, L-02, L-14,
/// P-15, S-01, S-02, T-01, T-02, R-01).
#[test]
fn bare_workshop_lifecycle() {
    if !lxd_enabled("bare_workshop_lifecycle") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let mut d = Daemon::start();
    let p = Project::new(&user, "lifecycle");
    p.write(".workshop/ws-22.yaml", &bare("ws-22", "ubuntu@22.04"));
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);

    let launch = w(&["launch", "ws-22"]);
    assert!(launch.ok().lines().any(|l| l == r#""ws-22" launched"#), "{}", launch.output());
    assert!(w(&["list"]).has_line(r"^ws-22\s+Ready\s+-$"));
    w(&["exec", "ws-22", "--", "true"]).ok();

    // L-02: guest plumbing.
    w(&["exec", "ws-22", "--", "test", "-S", "/var/lib/workshop/run/workshop.socket.untrusted"]).ok();
    w(&["exec", "ws-22", "--", "bash", "-lc", "command -v workshopctl"]).ok();
    // workshopctl reaches the daemon (outside a hook it gets the reference's refusal), also
    // after the daemon has re-created its sockets.
    let outside_hook = r#"(here "set-health") from outside of a workshop"#;
    let ctl = w(&["exec", "ws-22", "--", "workshopctl", "set-health", "okay"]).fails();
    assert!(ctl.contains(outside_hook), "{ctl}");
    d.restart();
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    let ctl = w(&["exec", "ws-22", "--", "sudo", "workshopctl", "set-health", "okay"]).fails();
    assert!(ctl.contains(outside_hook), "{ctl}");
    // Other commands are the daemon's to refuse, first by who asks (root of the host only:
    // as the reference's, keyed on the host uid), then by name.
    let ctl = w(&["exec", "ws-22", "--", "workshopctl", "get-secret", "x"]).fails();
    assert!(ctl.contains(r#"cannot use "get-secret" with uid "#) && ctl.contains("try with sudo"), "{ctl}");
    w(&["exec", "ws-22", "--", "workshopctl", "--help"]).ok();
    w(&["exec", "ws-22", "--", "mountpoint", "/var/cache/apt/archives"]).ok();
    let stat = w(&["exec", "ws-22", "--", "stat", "--format=%A %U %G", "/var/cache/apt/archives"]);
    assert_eq!(stat.ok().trim(), "drwxr-xr-x workshop workshop");

    // L-14: the project is shared live, with host ownership both ways.
    let outside = p.path.join("created_outside.txt");
    std::fs::write(&outside, "x").unwrap();
    let (uid, gid) = user_ids(&user);
    std::os::unix::fs::chown(&outside, Some(uid), Some(gid)).unwrap();
    w(&["exec", "ws-22", "--", "test", "-f", "/project/created_outside.txt"]).ok();
    w(&["exec", "ws-22", "--", "touch", "/project/created_inside.txt"]).ok();
    let meta = std::fs::metadata(p.path.join("created_inside.txt")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, gid), "file written inside belongs to the host user");
    let owner = w(&["exec", "ws-22", "--", "stat", "-c", "%U", "/project/created_outside.txt"]);
    assert_eq!(owner.ok().trim(), "workshop");

    // P-15: info.
    let info = w(&["info", "ws-22"]);
    info.ok();
    for re in
        [r"^name:\s+ws-22$", r"^base:\s+ubuntu@22\.04$", r"^project:\s+~/", r"^status:\s+ready$", r"^notes:"]
    {
        assert!(info.has_line(re), "info lacks {re}:\n{}", info.output());
    }
    assert!(!w(&["list", "--no-headers"]).has_line("^WORKSHOP"));

    // T-01/T-02: the launch is a change with tasks.
    assert!(w(&["changes"]).has_line(r#"^[0-9]+\s+Done\s+.+\s+Launch "ws-22" workshop$"#));
    assert!(w(&["tasks"]).has_line(r"^Done\s"));

    // S-01/S-02: stop, stop again, start; the user session lingers.
    w(&["exec", "--", "test", "-f", "/var/lib/systemd/linger/workshop"]).ok();
    w(&["exec", "--", "test", "-d", "/run/user/1000"]).ok();
    assert!(w(&["stop"]).ok().lines().any(|l| l == r#""ws-22" stopped"#));
    assert!(w(&["list"]).has_line(r"^ws-22\s+Stopped\s+-$"));
    w(&["stop"]).ok();
    assert!(w(&["list"]).has_line(r"^ws-22\s+Stopped\s+-$"));
    let start = w(&["start"]);
    assert!(start.ok().lines().any(|l| l == r#""ws-22" started"#), "{}", start.output());
    assert!(w(&["list"]).has_line(r"^ws-22\s+Ready\s+-$"));
    w(&["exec", "--", "test", "-d", "/run/user/1000"]).ok();
    let again = w(&["start"]);
    assert!(again.fails().contains(r#"cannot start "ws-22": already running"#), "{}", again.output());

    // A second launch of a launched workshop is refused.
    assert!(w(&["launch", "ws-22"]).fails().contains("already launched"));

    // R-01: remove.
    assert!(w(&["remove"]).ok().lines().any(|l| l == r#""ws-22" removed"#));
    assert!(w(&["list"]).has_line(r"^ws-22\s+Off\s+-$"));
    assert!(p.instances().is_empty(), "no LXD instance left: {:?}", p.instances());
}

/// L-06: several workshops in one command, then removed together; R-07: remove after the
/// definition file is gone; R-03: remove a stopped workshop; R-02: removal discards the apt
/// archive cache.
#[test]
fn several_workshops_in_one_command() {
    if !lxd_enabled("several_workshops_in_one_command") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "multi");
    let names = ["ws-one", "ws-two", "ws-three"];
    for name in names {
        p.write(&format!(".workshop/{name}.yaml"), &bare(name, "ubuntu@24.04"));
    }
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    // A mode for several workshops is refused by the daemon, in the reference's words.
    for mode in ["--wait-on-error", "--abort", "--continue"] {
        let refused = w(&["launch", mode, "ws-one", "ws-two"]).fails();
        assert!(refused.contains("wait-on-error is not supported for multiple workshops"), "{refused}");
    }
    w(&["launch", "ws-one", "ws-two", "ws-three"]).ok();
    let list = w(&["list"]);
    for name in names {
        assert!(list.has_line(&format!(r"^{name}\s+Ready\s+-$")), "{}", list.output());
    }
    // E-19: no name and several workshops.
    assert!(
        w(&["exec", "--", "true"]).fails().contains("cannot infer workshop name: multiple workshops found")
    );
    w(&["exec", "ws-one", "--", "sudo", "touch", "/var/cache/apt/archives/sentinel"]).ok();
    // R-03: a stopped workshop is removed too.
    w(&["stop", "ws-three"]).ok();
    std::fs::remove_file(p.path.join(".workshop/ws-two.yaml")).unwrap();
    w(&["remove", "ws-one", "ws-two", "ws-three"]).ok();
    let list = w(&["list"]);
    for name in ["ws-one", "ws-three"] {
        assert!(list.has_line(&format!(r"^{name}\s+Off\s+-$")), "{}", list.output());
    }
    assert!(!list.has_line("^ws-two"), "{}", list.output());
    assert!(p.instances().is_empty(), "{:?}", p.instances());

    // R-02: launched again, the workshop starts with an empty apt archive cache.
    w(&["launch", "ws-one"]).ok();
    w(&["exec", "ws-one", "--", "sudo", "test", "!", "-f", "/var/cache/apt/archives/sentinel"]).ok();
}

/// Projects: nested directories, relative --project, moved projects, lost lock files
/// (P-01, P-03, P-05, P-10), and bad input (ER-05, L-09, invalid names, unknown keys,
/// duplicate SDKs, malformed connections).
#[test]
fn projects_and_bad_input() {
    if !lxd_enabled("projects_and_bad_input") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let mut p = Project::new(&user, "projects");
    p.write("workshop.yaml", &bare("ws-list", "ubuntu@22.04"));
    p.write("nested/deeper/.keep", "");
    let w = |path: &Path, args: &[&str]| d.cli_as(Some(&user), path, args, &[]);

    assert!(w(&p.path, &["list"]).has_line(r"^ws-list\s+Off\s+-$"));
    w(&p.path, &["launch"]).ok();
    let id = p.id().expect("lock file written");
    assert!(w(&p.path.join("nested/deeper"), &["list"]).has_line(r"^ws-list\s+Ready\s+-$"));
    assert!(w(&p.path, &["list", "--project", "nested"]).has_line(r"^ws-list\s+Ready\s+-$"));

    // P-10: a deleted lock file comes back with the same id.
    std::fs::remove_file(p.path.join(".workshop.lock")).unwrap();
    assert!(w(&p.path, &["list"]).has_line(r"^ws-list\s+Ready\s+-$"));
    assert_eq!(p.id().as_deref(), Some(id.as_str()));

    // P-03: a moved project keeps its id and workshops.
    let moved = p.path.with_file_name(format!("{}-moved", p.path.file_name().unwrap().to_string_lossy()));
    std::fs::rename(&p.path, &moved).unwrap();
    p.path = moved;
    assert!(w(&p.path, &["list"]).has_line(r"^ws-list\s+Ready\s+-$"));
    assert_eq!(p.id().as_deref(), Some(id.as_str()));

    // ER-05: unknown workshops are named.
    // (In the reference's words: `cannot <what> "nope": workshop "nope" is not launched`.)
    let not_launched = r#""nope": workshop "nope" is not launched"#;
    for (args, what) in [
        (&["start", "nope"][..], "start"),
        (&["stop", "ws-list", "nope"][..], "stop"),
        (&["remove", "nope"][..], "remove"),
        (&["exec", "nope", "--", "true"][..], "exec command in"),
        (&["run", "nope", "--", "x"][..], "run action in"),
    ] {
        let run = w(&p.path, args);
        assert!(run.fails().contains(&format!("cannot {what} {not_launched}")), "{args:?}: {}", run.output());
    }
    // L-09: nothing to continue or abort.
    assert!(w(&p.path, &["launch", "--abort"]).fails().contains("cannot abort: no launch in progress"));
    assert!(w(&p.path, &["launch", "--continue"]).fails().contains("cannot continue: no launch in progress"));
    w(&p.path, &["remove"]).ok();

    // Definitions that are wrong say what and where.
    let bad = Project::new(&user, "bad-input");
    let cases: &[(&str, &str, &str)] = &[
        (
            "ws-a",
            "name: ws-a\nbse: ubuntu@22.04\n",
            r#"unknown key "bse" at line 2, column 1 (did you mean "base"?)"#,
        ),
        (
            "ws-b",
            "name: ws-b\nbase: ubuntu@22.04\nsdks:\n  - name: project-x\n  - name: project-x\n",
            "SDK must only be included once",
        ),
        (
            "ws-c",
            "name: ws-c\nbase: ubuntu@22.04\nconnections:\n  - plug: test-sdk-mount\n    slot: system:mount\n",
            r#""test-sdk-mount" is not a valid plug or slot reference (use <sdk>:<plug or slot>)"#,
        ),
        ("ws-d", "name: ws-d\nbase: ubuntu@99.04\n", "ubuntu@99.04"),
    ];
    for (name, text, expected) in cases {
        bad.write(&format!(".workshop/{name}.yaml"), text);
        let run = w(&bad.path, &["launch", name]);
        assert!(run.fails().contains(expected), "launch {name}: expected {expected:?} in:\n{}", run.output());
    }
    assert!(w(&bad.path, &["launch", "Bad_Name"]).fails().contains("Bad_Name"));
    assert!(bad.instances().is_empty(), "{:?}", bad.instances());
    let missing = d.cli_as(Some(&user), Path::new("/"), &["--project", "/nonexistent/dir", "list"], &[]);
    assert!(
        missing.fails().contains("/nonexistent/dir") || missing.output().contains("not a project"),
        "{}",
        missing.output()
    );
}

/// A daemon killed with SIGKILL during a launch finishes it (or undoes it) after restart,
/// leaving no stray instance; workshops keep working across restarts (D-03).
#[test]
fn sigkill_during_launch_then_restart() {
    if !lxd_enabled("sigkill_during_launch_then_restart") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let mut d = Daemon::start();
    let p = Project::new(&user, "sigkill");
    p.write(".workshop/ws-k.yaml", &bare("ws-k", "ubuntu@22.04"));
    let change = d.cli_as(Some(&user), &p.path, &["launch", "--no-wait", "ws-k"], &[]);
    let id = change.ok().trim().to_string();
    // Let it get into the instance creation or start.
    let deadline = Instant::now() + Duration::from_secs(60);
    while p.instances().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    d.kill_and_restart();
    let wait = d.cli_as(Some(&user), &p.path, &["tasks", &id], &[]);
    wait.ok();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let list = d.cli_as(Some(&user), &p.path, &["list"], &[]);
        if list.has_line(r"^ws-k\s+Ready\s+-$") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "launch did not finish after restart:\n{}\n{}",
            list.output(),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(p.instances().len(), 1, "exactly one instance: {:?}", p.instances());
    d.restart();
    d.cli_as(Some(&user), &p.path, &["exec", "--", "true"], &[]).ok();
    d.cli_as(Some(&user), &p.path, &["remove"], &[]).ok();
    assert!(p.instances().is_empty());
}

/// Degraded mode and D-02: LXD stops and comes back while a workshop exists; the daemon goes
/// degraded, recovers by itself, and the running workshop is Ready again (autostart), a
/// stopped one stays Stopped. The same across a fake reboot (the daemon down while LXD
/// restarts), as D-02 has it.
#[test]
fn lxd_stops_and_comes_back() {
    if !lxd_enabled("lxd_stops_and_comes_back") {
        return;
    }
    let _lxd = lxd_exclusive();
    let user = test_user();
    let mut d = Daemon::start();
    let p = Project::new(&user, "lxd-restart");
    p.write(".workshop/ws-up.yaml", &bare("ws-up", "ubuntu@20.04"));
    p.write(".workshop/ws-down.yaml", &bare("ws-down", "ubuntu@20.04"));
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    w(&["launch", "ws-up", "ws-down"]).ok();
    w(&["stop", "ws-down"]).ok();

    lxd_ctl("stop");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = w(&["stop", "ws-up"]);
        if run.code != 0 && run.output().contains("system is not healthy") {
            break;
        }
        assert!(Instant::now() < deadline, "daemon did not notice LXD stopped: {}", run.output());
        std::thread::sleep(Duration::from_millis(500));
    }
    lxd_ctl("start");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list = w(&["list"]);
        if list.has_line(r"^ws-up\s+Ready\s+-$") && list.has_line(r"^ws-down\s+Stopped\s+-$") {
            break;
        }
        assert!(Instant::now() < deadline, "workshops did not come back:\n{}", list.output());
        std::thread::sleep(Duration::from_secs(1));
    }
    w(&["exec", "ws-up", "--", "true"]).ok();

    // D-02: a fake reboot brings the running workshop back Ready; once stopped, it stays so.
    let wait_for = |d: &Daemon, lines: &[&str]| {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let list = d.cli_as(Some(&user), &p.path, &["list"], &[]);
            if lines.iter().all(|l| list.has_line(l)) {
                return;
            }
            assert!(Instant::now() < deadline, "after a fake reboot:\n{}", list.output());
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    d.fake_reboot();
    wait_for(&d, &[r"^ws-up\s+Ready\s+-$", r"^ws-down\s+Stopped\s+-$"]);
    d.cli_as(Some(&user), &p.path, &["exec", "ws-up", "--", "true"], &[]).ok();
    d.cli_as(Some(&user), &p.path, &["stop", "ws-up"], &[]).ok();
    d.fake_reboot();
    // LXD's own autostart and the daemon's are both past once a status reads back Stopped.
    std::thread::sleep(Duration::from_secs(5));
    wait_for(&d, &[r"^ws-up\s+Stopped\s+-$", r"^ws-down\s+Stopped\s+-$"]);
    d.cli_as(Some(&user), &p.path, &["remove", "ws-up", "ws-down"], &[]).ok();
}

/// Host root is refused with a message that says what to do.
#[test]
fn root_cannot_launch() {
    if !lxd_enabled("root_cannot_launch") {
        return;
    }
    let _lxd = lxd_shared();
    let d = Daemon::start();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("workshop.yaml"), bare("ws-root", "ubuntu@22.04")).unwrap();
    let run = d.cli(tmp.path(), &["launch"]);
    assert!(run.fails().contains("cannot launch as root"), "{}", run.output());
}

/// A launch failing midway is undone completely: no instance, no storage, the workshop is Off
/// again; several workshops in one launch are all or nothing (L-06 failure side).
#[test]
fn failed_launch_leaves_nothing_behind() {
    if !lxd_enabled("failed_launch_leaves_nothing_behind") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start_with(&[("WORKSHOP_FAULT_INJECT", "mount-project")]);
    let p = Project::new(&user, "failed-launch");
    p.write(".workshop/ws-x.yaml", &bare("ws-x", "ubuntu@22.04"));
    p.write(".workshop/ws-y.yaml", &bare("ws-y", "ubuntu@22.04"));
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);

    let run = w(&["launch", "ws-x"]);
    let out = run.fails();
    assert!(out.lines().any(|l| l == r#""ws-x" launch aborted"#), "{out}");
    assert!(out.contains("error: cannot perform the following tasks:"), "{out}");
    assert!(out.contains(r#"- Mount project into "ws-x" (fault injected"#), "{out}");
    assert!(w(&["list"]).has_line(r"^ws-x\s+Off\s+-$"));
    assert!(w(&["changes"]).has_line(r#"^[0-9]+\s+Error\s+.+\s+Launch "ws-x" workshop$"#));
    assert!(p.instances().is_empty(), "instance left behind: {:?}", p.instances());
    let uid = user_ids(&user).0.to_string();
    let cache = d.dir.path().join("cache/users").join(uid).join(p.id().unwrap()).join("ws-x");
    assert!(!cache.exists(), "storage left behind: {}", cache.display());

    w(&["launch", "ws-x", "ws-y"]).fails();
    let list = w(&["list"]);
    assert!(list.has_line(r"^ws-x\s+Off\s+-$") && list.has_line(r"^ws-y\s+Off\s+-$"), "{}", list.output());
    assert!(p.instances().is_empty(), "{:?}", p.instances());
}

/// L-10 and L-12: a failed launch pauses with --wait-on-error; exec works while it waits;
/// --abort undoes it; after the cause is gone --continue finishes it.
#[test]
fn wait_on_error_then_abort_or_continue() {
    if !lxd_enabled("wait_on_error_then_abort_or_continue") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let mut d = Daemon::start_with(&[("WORKSHOP_FAULT_INJECT", "mount-project")]);
    let p = Project::new(&user, "wait-on-error");
    p.write("workshop.yaml", &bare("ws-wait", "ubuntu@22.04"));

    let paused = d.cli_as(Some(&user), &p.path, &["launch", "--wait-on-error"], &[]);
    let out = paused.fails();
    assert!(out.contains(r#"cannot launch "ws-wait"; paused"#), "{out}");
    assert!(paused.has_line(r#"^To view details: "workshop tasks [0-9]+"$"#), "{out}");
    let change: String = out
        .lines()
        .find_map(|l| l.strip_prefix(r#"To view details: "workshop tasks "#))
        .map(|rest| rest.trim_end_matches('"').to_string())
        .unwrap();
    let w = |d: &Daemon, args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    assert!(w(&d, &["list"]).has_line(r"^ws-wait\s+Waiting\s+wait-on-error$"));
    w(&d, &["exec", "--", "true"]).ok();
    assert!(w(&d, &["start"]).fails().contains("launch change is waiting on error"));

    let aborted = w(&d, &["launch", "--abort"]);
    assert!(aborted.ok().lines().any(|l| l == r#""ws-wait" launch aborted"#), "{}", aborted.output());
    assert!(w(&d, &["list"]).has_line(r"^ws-wait\s+Off\s+-$"));
    let tasks = w(&d, &["tasks", &change]);
    let last = tasks.ok().lines().rfind(|l| !l.trim().is_empty()).unwrap_or_default().to_string();
    assert!(last.ends_with(r#"Aborting "launch" for workshop "ws-wait"..."#), "{}", tasks.output());
    assert!(p.instances().is_empty(), "{:?}", p.instances());

    w(&d, &["launch", "--wait-on-error"]).fails();
    d.restart_with(&[]);
    assert!(
        w(&d, &["list"]).has_line(r"^ws-wait\s+Waiting\s+wait-on-error$"),
        "a paused change survives restart"
    );
    let resumed = w(&d, &["launch", "--continue"]);
    assert!(resumed.ok().lines().any(|l| l == r#""ws-wait" launched"#), "{}", resumed.output());
    assert!(w(&d, &["list"]).has_line(r"^ws-wait\s+Ready\s+-$"));
    w(&d, &["remove"]).ok();
}

/// A workshop whose project directory was deleted is `Error` with `missing-project`, and
/// `remove --project <the gone path>` still removes it (the daemon tracks the path); a path
/// it never tracked is still an error.
#[test]
fn remove_after_the_project_directory_is_gone() {
    if !lxd_enabled("remove_after_the_project_directory_is_gone") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "project-gone");
    p.write("workshop.yaml", &bare("ws-gone", "ubuntu@22.04"));
    let elsewhere = p.path.parent().unwrap().to_path_buf();
    let w = |args: &[&str]| d.cli_as(Some(&user), &elsewhere, args, &[]);
    d.cli_as(Some(&user), &p.path, &["launch"], &[]).ok();
    let instances = p.instances();
    assert_eq!(instances.len(), 1, "{instances:?}");
    // Without its lock file the project no longer finds its instance: deleted here if the
    // test fails.
    struct Leftover(String, String);
    impl Drop for Leftover {
        fn drop(&mut self) {
            let _ = Command::new("lxc").args(["delete", "-f", "--project", &self.1, &self.0]).output();
        }
    }
    let _leftover = Leftover(instances[0].clone(), format!("workshop.{user}"));
    std::fs::remove_dir_all(&p.path).unwrap();
    let gone = p.path.to_string_lossy().into_owned();
    assert!(w(&["list", "--global"]).has_line(r"ws-gone\s+Error\s+missing-project$"));
    let removed = w(&["remove", "--project", &gone, "ws-gone"]);
    assert!(removed.ok().lines().any(|l| l == r#""ws-gone" removed"#), "{}", removed.output());
    assert!(!w(&["list", "--global"]).output().contains("ws-gone"));
    let unknown = format!("{gone}-never");
    assert!(w(&["remove", "--project", &unknown, "ws-gone"]).fails().contains("no such file or directory"));
    let left = Command::new("lxc")
        .args(["list", "--format", "csv", "-c", "n", "--project", &format!("workshop.{user}")])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&left.stdout).contains(&instances[0]), "instance left behind");
}

/// L-12 with its own SDK: a launch whose setup-base hook fails pauses; made to pass inside
/// the paused workshop (exec is accepted while it waits), `--continue` runs the hook again and
/// the launch goes through.
#[test]
fn l12_a_paused_launch_is_fixed_and_continued() {
    if !lxd_enabled("l12_a_paused_launch_is_fixed_and_continued") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "launch-continue");
    sdk_fixtures::setup_fail().install(&p);
    p.write("workshop.yaml", &definition("ws-launch-cont", "ubuntu@22.04", &["project-test-sdk-setup-fail"]));
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    let paused = w(&["launch", "--wait-on-error"]);
    assert!(paused.fails().contains(r#"cannot launch "ws-launch-cont"; paused"#), "{}", paused.output());
    assert!(w(&["list"]).has_line(r"^ws-launch-cont\s+Waiting\s+wait-on-error$"));
    w(&["exec", "--", "touch", "/home/workshop/setup-base-pass"]).ok();
    let resumed = w(&["launch", "--continue"]);
    assert!(resumed.ok().lines().any(|l| l == r#""ws-launch-cont" launched"#), "{}", resumed.output());
    assert!(w(&["list"]).has_line(r"^ws-launch-cont\s+Ready\s+-$"));
    w(&["remove"]).ok();
    assert!(p.instances().is_empty(), "{:?}", p.instances());
}

/// Connections change while a launch is paused on error, as the reference allows (connect and
/// disconnect in Ready, Waiting and Stopped): a manual mount is made and unmade in the paused
/// workshop, and kept when the launch goes on; what was made in a launch that is aborted goes
/// with it, so the next launch auto-connects as if nothing had been.
#[test]
fn connections_change_while_a_launch_is_paused() {
    if !lxd_enabled("connections_change_while_a_launch_is_paused") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "launch-paused-conns");
    p.write(
        ".workshop/paused-mount/sdk.yaml",
        "name: paused-mount\nplugs:\n  data:\n    interface: mount\n    workshop-target: /mnt/data\n",
    );
    p.write(".workshop/paused-mount/hooks/setup-base", "test -e /home/workshop/setup-base-pass\n");
    p.write("workshop.yaml", &definition("ws-paused", "ubuntu@22.04", &["project-paused-mount"]));
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    let mounted = || w(&["exec", "--", "mountpoint", "-q", "/mnt/data"]).code == 0;
    let manual = r"^mount\s+ws-paused/paused-mount:data\s+ws-paused/system:mount\s+manual$";

    w(&["launch", "--wait-on-error"]).fails();
    assert!(w(&["list"]).has_line(r"^ws-paused\s+Waiting\s+wait-on-error$"));
    w(&["connect", "ws-paused/paused-mount:data", ":mount"]).ok();
    assert!(w(&["connections", "ws-paused"]).has_line(manual));
    assert!(mounted(), "the manual mount is in the paused workshop");
    w(&["disconnect", "ws-paused/paused-mount:data"]).ok();
    assert!(!mounted());
    w(&["connect", "ws-paused/paused-mount:data", ":mount"]).ok();
    w(&["exec", "--", "touch", "/home/workshop/setup-base-pass"]).ok();
    w(&["launch", "--continue"]).ok();
    assert!(w(&["connections", "ws-paused"]).has_line(manual));
    assert!(mounted());
    w(&["remove"]).ok();

    // Made while paused, then aborted: gone with the launch.
    w(&["launch", "--wait-on-error"]).fails();
    w(&["disconnect", "ws-paused/paused-mount:data"]).fails();
    w(&["connect", "ws-paused/paused-mount:data", ":mount"]).ok();
    w(&["launch", "--abort"]).ok();
    p.write(".workshop/paused-mount/hooks/setup-base", "true\n");
    w(&["launch"]).ok();
    let auto = r"^mount\s+ws-paused/paused-mount:data\s+ws-paused/system:mount\s+-$";
    let conns = w(&["connections", "ws-paused"]);
    assert!(conns.has_line(auto), "{}", conns.output());
    w(&["remove"]).ok();
    assert!(p.instances().is_empty(), "{:?}", p.instances());
}

/// L-11 (the reference's launch-abort test): a launch failing at a mount whose source is
/// missing in the workshop pauses; once it is aborted, the last lines of the task log say why
/// in the reference's words.
#[test]
fn a_broken_mount_pauses_the_launch_and_the_abort_keeps_why() {
    if !lxd_enabled("a_broken_mount_pauses_the_launch_and_the_abort_keeps_why") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "mount-broken");
    p.write(
        ".workshop/test-sdk-mount-broken/sdk.yaml",
        "name: test-sdk-mount-broken\nbase: ubuntu@22.04\nslots:\n  one:\n    interface: mount\n    \
         workshop-source: /doesnt/exist\nplugs:\n  two:\n    interface: mount\n    workshop-target: /mnt\n",
    );
    p.write(
        "workshop.yaml",
        "name: ws-mount-broken\nbase: ubuntu@22.04\nsdks:\n  - name: project-test-sdk-mount-broken\n\
         connections:\n  - plug: test-sdk-mount-broken:two\n    slot: test-sdk-mount-broken:one\n",
    );
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    w(&["launch", "--wait-on-error"]).fails();
    w(&["launch", "--abort"]).ok();
    let tasks = w(&["tasks"]);
    let last_two: Vec<&str> = tasks.ok().lines().rev().take(2).collect();
    assert!(
        last_two.iter().any(|l| l.contains("stat /doesnt/exist: file does not exist")),
        "{}",
        tasks.output()
    );
    assert!(p.instances().is_empty(), "{:?}", p.instances());
}

/// Puts the host's time zone files back when dropped.
struct HostZoneGuard {
    localtime: Option<std::path::PathBuf>,
    timezone: Option<Vec<u8>>,
}

impl HostZoneGuard {
    fn set(zone: &str) -> Self {
        let guard = HostZoneGuard {
            localtime: std::fs::read_link("/etc/localtime").ok(),
            timezone: std::fs::read("/etc/timezone").ok(),
        };
        let target = Path::new("/usr/share/zoneinfo").join(zone);
        replace_link(&target, Path::new("/etc/localtime"));
        std::fs::write("/etc/timezone", format!("{zone}\n")).unwrap();
        guard
    }
}

impl Drop for HostZoneGuard {
    fn drop(&mut self) {
        if let Some(target) = &self.localtime {
            replace_link(target, Path::new("/etc/localtime"));
        }
        match &self.timezone {
            Some(content) => std::fs::write("/etc/timezone", content).unwrap(),
            None => {
                let _ = std::fs::remove_file("/etc/timezone");
            }
        }
    }
}

fn replace_link(target: &Path, link: &Path) {
    let tmp = link.with_extension("wst-tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

/// L-05: a workshop gets the host's time zone.
#[test]
fn host_time_zone_is_inherited() {
    if !lxd_enabled("host_time_zone_is_inherited") {
        return;
    }
    // The host's zone is changed for the test: no other workshop test runs meanwhile.
    let _lxd = lxd_exclusive();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "timezone");
    p.write("workshop.yaml", &bare("ws-tz", "ubuntu@22.04"));
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    {
        let _zone = HostZoneGuard::set("Pacific/Auckland");
        w(&["launch"]).ok();
    }
    let localtime = w(&["exec", "ws-tz", "--", "readlink", "-f", "/etc/localtime"]);
    assert!(localtime.ok().trim().ends_with("Pacific/Auckland"), "{}", localtime.output());
    let zone = w(&["exec", "ws-tz", "--", "timedatectl", "show", "--property=Timezone", "--value"]);
    assert_eq!(zone.ok().trim(), "Pacific/Auckland");
}

/// A reboot inside a workshop brings it back Ready with its project mounted (LXD cannot start
/// it again by itself: the daemon stages the project), as the reference's does; a power-off
/// inside leaves it stopped.
#[test]
fn a_reboot_inside_comes_back_and_a_power_off_stays_off() {
    if !lxd_enabled("a_reboot_inside_comes_back_and_a_power_off_stays_off") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let mut d = Daemon::start();
    let p = Project::new(&user, "guest-reboot");
    p.write("workshop.yaml", &bare("ws-rb", "ubuntu@22.04"));
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    w(&["launch"]).ok();
    let boot_id = || w(&["exec", "--", "cat", "/proc/sys/kernel/random/boot_id"]).ok().trim().to_string();
    let first = boot_id();
    // The command may lose its session as the guest goes down.
    w(&["exec", "--", "sudo", "systemctl", "reboot"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = w(&["list"]);
        if list.has_line(r"^ws-rb\s+Ready\s+-$") {
            let exec = w(&["exec", "--", "cat", "/proc/sys/kernel/random/boot_id"]);
            if exec.code == 0 && exec.stdout.trim() != first {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the workshop did not come back from its reboot:\n{}",
            list.output()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    w(&["exec", "--", "test", "-f", "/project/workshop.yaml"]).ok();
    let changes = w(&["changes"]);
    assert!(changes.has_line(r"Done\s.*Start .*ws-rb"), "started again as a change:\n{}", changes.output());

    w(&["exec", "--", "sudo", "systemctl", "poweroff"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !w(&["list"]).has_line(r"^ws-rb\s+Stopped\s+-$") {
        assert!(Instant::now() < deadline, "the workshop did not stop:\n{}", w(&["list"]).output());
        std::thread::sleep(Duration::from_millis(500));
    }
    // No longer marked to run, as if its owner had stopped it: a daemon started again (as
    // at the host's next boot) leaves it stopped.
    let instance = format!("ws-rb-{}", p.id().unwrap());
    let marked = || {
        let out = Command::new("lxc")
            .args(["config", "get", "--project", &format!("workshop.{user}"), &instance, "boot.autostart"])
            .output()
            .unwrap();
        assert!(out.status.success(), "lxc config get: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while marked() != "false" {
        assert!(Instant::now() < deadline, "a workshop powered off from inside is still marked to run");
        std::thread::sleep(Duration::from_millis(250));
    }
    d.restart();
    // Longer than a reboot took to be noticed and undone above.
    std::thread::sleep(Duration::from_secs(5));
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    assert!(w(&["list"]).has_line(r"^ws-rb\s+Stopped\s+-$"), "a power-off is not undone");
    w(&["remove"]).ok();
}

/// Bytes used and in total on Workshop's storage pool, as LXD counts them.
fn pool_space() -> (u64, u64) {
    let out = Command::new("lxc").args(["query", "/1.0/storage-pools/workshop/resources"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("pool resources");
    (v["space"]["used"].as_u64().unwrap(), v["space"]["total"].as_u64().unwrap())
}

/// Waits, on drop, until the pool is back to about `0` bytes used (the file system frees a
/// removed workshop's blocks in the background), so that no test after this one meets a full
/// pool, also when this one failed.
struct SpaceBack(u64);

impl Drop for SpaceBack {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while pool_space().0 > self.0 + (512 << 20) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// Issue 14 item 5: on a storage pool filled until the file system refuses more, a launch
/// succeeds or fails cleanly, and stop and remove still work and free the space (the
/// reference's users were stuck). That the daemon refuses launches but takes stops and removes
/// in its full-pool mode is checked on the fake backend (`a_full_pool_still_stops_and_removes`).
#[test]
fn a_full_pool_still_stops_and_removes_workshops() {
    if !lxd_enabled("a_full_pool_still_stops_and_removes_workshops") {
        return;
    }
    // Nothing else may launch while the pool is full.
    let _lxd = lxd_exclusive();
    let user = test_user();
    let d = Daemon::start();
    // Declared before the project, so dropped after it has removed its workshops.
    let _space_back = SpaceBack(pool_space().0);
    let p = Project::new(&user, "full-pool");
    p.write(".workshop/ws-fill.yaml", &bare("ws-fill", "debian@12"));
    p.write(".workshop/ws-more.yaml", &bare("ws-more", "debian@12"));
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    w(&["launch", "ws-fill"]).ok();
    let before = pool_space();
    // Chunks, smaller and smaller, until the file system says no more.
    let script = "i=0; for size in 1G 256M 64M 16M 4M 1M; do \
                  while fallocate -l $size /fill-$i 2>/dev/null; do i=$((i + 1)); done; done";
    let run = w(&["exec", "ws-fill", "--", "sudo", "sh", "-c", script]);
    assert_eq!(run.code, 0, "{}", run.output());
    let full = pool_space();
    let fill = full.0.saturating_sub(before.0);
    assert!(fill > 1 << 30, "the pool did not fill: {before:?} -> {full:?}");

    // A launch may still fit (a copy of a template shares its blocks) or fail; either way it
    // leaves nothing half-made behind.
    let more = w(&["launch", "ws-more"]);
    let launched = p.instances().iter().any(|i| i.starts_with("ws-more-"));
    assert_eq!(launched, more.code == 0, "{}", more.output());
    w(&["stop", "ws-fill"]).ok();
    w(&["remove", "ws-fill"]).ok();
    assert!(!p.instances().iter().any(|i| i.starts_with("ws-fill-")), "{:?}", p.instances());
    let deadline = Instant::now() + Duration::from_secs(120);
    while pool_space().0 + fill / 2 > full.0 {
        assert!(
            Instant::now() < deadline,
            "removing the workshop freed nothing: {full:?} -> {:?}",
            pool_space()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    // Launches work again (once the health check has seen the space back).
    if launched {
        w(&["remove", "ws-more"]).ok();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = w(&["launch", "ws-more"]);
        if run.code == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the daemon never recovered: {}", run.output());
        std::thread::sleep(Duration::from_millis(500));
    }
    w(&["remove", "ws-more"]).ok();
}
