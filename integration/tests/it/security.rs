//! The root daemon never acts for a user or a guest beyond what they may do themselves
//! (issue 8): hostile project files, swapped project directories, other users' changes.
//! Real daemon, real CLI as unprivileged users, real LXD (`WORKSHOP_TEST_LXD=1`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use workshop_integration::{
    Daemon, Project, Run, lxd_enabled, lxd_shared, suffix, test_user, user_home, user_ids,
};

fn bare(name: &str) -> String {
    format!("name: {name}\nbase: ubuntu@22.04\n")
}

use workshop_integration::test_user2 as other_user;

/// A raw API request on the daemon's trusted socket as `user` (with curl, as the user):
/// (status, envelope).
fn http_as(d: &Daemon, user: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut args = vec![
        "-s".to_string(),
        "-w".into(),
        "\n%{http_code}".into(),
        "-X".into(),
        method.into(),
        "--unix-socket".into(),
        d.socket().display().to_string(),
    ];
    if let Some(body) = body {
        args.extend(["-H".into(), "Content-Type: application/json".into(), "--data".into(), body.into()]);
    }
    args.push(format!("http://localhost{path}"));
    let out = Command::new("runuser").args(["-u", user, "--", "curl"]).args(&args).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::Null))
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

/// Gives `path` (not following a symlink) to `user`.
fn chown_to(user: &str, path: &Path) {
    let (uid, gid) = user_ids(user);
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
}

/// Asserts that `run` failed within `limit`, saying `why`, and quoting nothing of `secret`.
fn refused(run: &Run, why: &str, secret: &str, limit: Duration) {
    let output = run.fails();
    assert!(output.contains(why), "expected {why:?} in: {output}");
    assert!(secret.is_empty() || !output.contains(secret), "leaked {secret:?}: {output}");
    assert!(run.elapsed < limit, "took {:?}: {output}", run.elapsed);
}

/// C1 and H5: a definition that is a symlink to a root-only file, a FIFO, a link to
/// /dev/zero or a huge file is refused quickly, by name, without a byte of what it points to
/// in the error or in the warnings; the daemon keeps answering. A lock file that is a FIFO
/// or a symlink is replaced, not read or followed.
#[test]
fn hostile_definition_and_lock_files() {
    if !lxd_enabled("hostile_definition_and_lock_files") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let w = |cwd: &Path, args: &[&str]| d.cli_as(Some(&user), cwd, args, &[]);
    let limit = Duration::from_secs(20);
    let shadow = std::fs::read_to_string("/etc/shadow").unwrap_or_default();
    let secret = shadow.lines().next().unwrap_or("root:").split(':').take(2).collect::<Vec<_>>().join(":");

    // The issue's example, verbatim: `ln -s /etc/shadow ~/p/workshop.yaml && workshop list`.
    let p = Project::new(&user, "sec-shadow");
    std::os::unix::fs::symlink("/etc/shadow", p.path.join("workshop.yaml")).unwrap();
    chown_to(&user, &p.path.join("workshop.yaml"));
    // Listing shows the definitions it can and warns about the rest.
    let run = w(&p.path, &["list"]);
    let warnings = w(&p.path, &["warnings"]);
    // Warnings are wrapped to the terminal: compare with single spaces.
    let said =
        format!("{} {}", run.output(), warnings.output()).split_whitespace().collect::<Vec<_>>().join(" ");
    let name = p.path.join("workshop.yaml").display().to_string();
    assert!(said.contains(&format!("cannot read \"{name}\": a symbolic link")), "{said}");
    assert!(!said.contains(&secret), "leaked: {said}");
    refused(&w(&p.path, &["launch", "ws"]), "symbolic link", &secret, limit);
    refused(&w(&p.path, &["actions", "ws"]), "symbolic link", &secret, limit);

    let p = Project::new(&user, "sec-zero");
    std::os::unix::fs::symlink("/dev/zero", p.path.join("workshop.yaml")).unwrap();
    chown_to(&user, &p.path.join("workshop.yaml"));
    refused(&w(&p.path, &["launch", "ws"]), "symbolic link", "\0", limit);

    let p = Project::new(&user, "sec-huge");
    p.write("workshop.yaml", &format!("{}# {}\n", bare("ws"), "x".repeat(2 << 20)));
    refused(&w(&p.path, &["launch", "ws"]), "larger than 1048576 bytes", "xxxxxxxx", limit);

    // A FIFO under .workshop/ is listed (its name is its file name) but never opened.
    let p = Project::new(&user, "sec-fifo");
    p.write(".workshop/ok.yaml", &bare("ok"));
    mkfifo(&p.path.join(".workshop/ws.yaml"));
    chown_to(&user, &p.path.join(".workshop/ws.yaml"));
    assert!(w(&p.path, &["list"]).has_line(r"^ws\s+Off\s+-$"));
    refused(&w(&p.path, &["launch", "ws"]), "not a regular file", "", limit);
    refused(&w(&p.path, &["actions", "ws"]), "not a regular file", "", limit);
    // The daemon still answers.
    assert!(w(&p.path, &["list"]).has_line(r"^ok\s+Off\s+-$"));

    // A FIFO lock is replaced by a regular file, without waiting for a writer.
    let p = Project::new(&user, "sec-fifo-lock");
    p.write("workshop.yaml", &bare("ws"));
    mkfifo(&p.path.join(".workshop.lock"));
    chown_to(&user, &p.path.join(".workshop.lock"));
    let run = w(&p.path, &["list"]);
    run.ok();
    assert!(run.elapsed < limit);
    assert!(std::fs::symlink_metadata(p.path.join(".workshop.lock")).unwrap().file_type().is_file());
    assert_eq!(p.id().map(|id| id.len()), Some(8));

    // A symlinked lock is replaced; what it pointed to is untouched.
    let p = Project::new(&user, "sec-link-lock");
    p.write("workshop.yaml", &bare("ws"));
    p.write("elsewhere", "keep");
    std::os::unix::fs::symlink(p.path.join("elsewhere"), p.path.join(".workshop.lock")).unwrap();
    chown_to(&user, &p.path.join(".workshop.lock"));
    w(&p.path, &["list"]).ok();
    assert_eq!(std::fs::read_to_string(p.path.join("elsewhere")).unwrap(), "keep");
    assert!(std::fs::symlink_metadata(p.path.join(".workshop.lock")).unwrap().file_type().is_file());
}

/// A directory of `user` that only they can enter, holding `secret.txt`; removed on drop.
struct Private {
    path: PathBuf,
}

impl Private {
    fn new(user: &str) -> Private {
        let path = user_home(user).join(format!("wst-private-{}", suffix()));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("secret.txt"), "only for its owner").unwrap();
        let status = Command::new("chown").arg("-R").arg(format!("{user}:")).arg(&path).status().unwrap();
        assert!(status.success());
        let status = Command::new("chmod").args(["-R", "go-rwx"]).arg(&path).status().unwrap();
        assert!(status.success());
        Private { path }
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// H1: the project is opened as its user at every start; a project directory swapped for a
/// link to another user's private directory after launch is never mounted (LXD follows
/// links as root: before, the next start mounted the other user's files at /project).
/// Tracking a link to it is refused too.
#[test]
fn a_project_swapped_for_another_users_directory_is_not_mounted() {
    if !lxd_enabled("a_project_swapped_for_another_users_directory_is_not_mounted") {
        return;
    }
    let _lxd = lxd_shared();
    let (user, other) = (test_user(), other_user());
    let d = Daemon::start();
    let w = |cwd: &Path, args: &[&str]| d.cli_as(Some(&user), cwd, args, &[]);
    let private = Private::new(&other);

    // Tracking a link to it: refused, as the user could not enter it either.
    let linked = Project::new(&user, "sec-link");
    let link = linked.path.join("sub");
    std::os::unix::fs::symlink(&private.path, &link).unwrap();
    chown_to(&user, &link);
    let run = w(&linked.path, &["--project", &link.display().to_string(), "list"]);
    assert!(run.fails().contains("permission denied"), "{}", run.output());

    let p = Project::new(&user, "sec-swap");
    p.write("workshop.yaml", &bare("ws-swap"));
    w(&p.path, &["launch"]).ok();
    let id = p.id().expect("lock written");
    w(&p.path, &["stop"]).ok();

    // The user swaps the project directory for a link to the other user's directory, then
    // asks for a start through the API (a CLI would track, and fail, first).
    let moved = p.path.with_file_name(format!("{}-real", p.path.file_name().unwrap().to_string_lossy()));
    std::fs::rename(&p.path, &moved).unwrap();
    std::os::unix::fs::symlink(&private.path, &p.path).unwrap();
    chown_to(&user, &p.path);
    let body = r#"{"action":"start","names":["ws-swap"]}"#;
    let (status, envelope) = http_as(&d, &user, "POST", &format!("/v1/projects/{id}/workshops"), Some(body));
    if status == 202 {
        // Past the status check (the directory looked usable then): the start itself refuses.
        let change = envelope["change"].as_str().expect("change id").to_string();
        let deadline = Instant::now() + Duration::from_secs(120);
        let change = loop {
            let (_, c) = http_as(&d, &user, "GET", &format!("/v1/changes/{change}"), None);
            if c["result"]["ready"].as_bool() == Some(true) || Instant::now() > deadline {
                break c;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let err = change["result"]["err"].as_str().unwrap_or_default().to_string();
        assert!(err.contains("permission denied"), "{change}");
    } else {
        // The user cannot open the directory: the workshop is in Error (missing project).
        assert_eq!(status, 400, "{envelope}");
        assert!(
            envelope["result"]["message"].as_str().unwrap_or_default().ends_with(": unhealthy in error"),
            "{envelope}"
        );
    }
    let instance = format!("ws-swap-{id}");
    let inside = Command::new("lxc")
        .args(["exec", "--project", &format!("workshop.{user}"), &instance, "--", "ls", "/project"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&inside.stdout).contains("secret.txt"),
        "mounted the other user's files"
    );
    // Put the project back so that the guard removes its workshop.
    std::fs::remove_file(&p.path).unwrap();
    std::fs::rename(&moved, &p.path).unwrap();
}

/// Copies the directory `from` to `to` (files and directories only) for `user`.
fn copy_project(from: &Path, to: &Path, user: &str) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success());
    let status = Command::new("chown").arg("-R").arg(format!("{user}:")).arg(to).status().unwrap();
    assert!(status.success());
}

/// H2, H4, L5, M5 end to end: user B, holding a copy of A's project (lock file included),
/// can neither see, continue, abort nor discard A's paused launch, nor see or dismiss A's
/// warnings; B's copy gets a project id of its own.
#[test]
fn another_user_cannot_touch_a_users_changes_or_warnings() {
    if !lxd_enabled("another_user_cannot_touch_a_users_changes_or_warnings") {
        return;
    }
    let _lxd = lxd_shared();
    let (alice, bob) = (test_user(), other_user());
    let d = Daemon::start_with(&[("WORKSHOP_FAULT_INJECT", "mount-project")]);
    let p = Project::new(&alice, "sec-owner");
    p.write("workshop.yaml", &bare("ws-owned"));
    let out = d.cli_as(Some(&alice), &p.path, &["launch", "--wait-on-error"], &[]).fails();
    assert!(out.contains("paused"), "{out}");
    let id = p.id().expect("lock written");
    let (_, changes) = http_as(&d, &alice, "GET", "/v1/changes?select=all", None);
    let change = changes["result"][0]["id"].as_str().expect("alice sees her change").to_string();
    // A warning of Alice's: a definition she broke.
    let broken = Project::new(&alice, "sec-owner-warn");
    std::os::unix::fs::symlink("/etc/hostname", broken.path.join("workshop.yaml")).unwrap();
    chown_to(&alice, &broken.path.join("workshop.yaml"));
    d.cli_as(Some(&alice), &broken.path, &["list"], &[]).ok();

    // Bob's copy of the project, lock file included.
    let copy = Project::new(&bob, "sec-owner-copy");
    std::fs::remove_dir(&copy.path).unwrap();
    copy_project(&p.path, &copy.path, &bob);
    let wb = |args: &[&str]| d.cli_as(Some(&bob), &copy.path, args, &[]);
    assert!(wb(&["list"]).has_line(r"^ws-owned\s+Off\s+-$"), "Alice's paused launch is not Bob's");
    assert_ne!(copy.id().as_deref(), Some(id.as_str()), "the copy gets an id of its own");
    assert_eq!(p.id().as_deref(), Some(id.as_str()));
    assert!(wb(&["launch", "--continue"]).fails().contains("no launch in progress"));
    assert!(wb(&["launch", "--abort"]).fails().contains("no launch in progress"));

    // Bob addressing Alice's change and project directly.
    let (status, list) = http_as(&d, &bob, "GET", "/v1/changes?select=all", None);
    assert_eq!(status, 200);
    assert!(
        list["result"].as_array().is_some_and(|l| l.iter().all(|c| c["id"] != change.as_str())),
        "{list}"
    );
    let (status, _) = http_as(&d, &bob, "GET", &format!("/v1/changes/{change}"), None);
    assert_eq!(status, 404);
    let (status, _) =
        http_as(&d, &bob, "POST", &format!("/v1/changes/{change}"), Some(r#"{"action":"abort"}"#));
    assert_eq!(status, 404);
    let body = r#"{"action":"remove","names":["ws-owned"]}"#;
    let (status, _) = http_as(&d, &bob, "POST", &format!("/v1/projects/{id}/workshops"), Some(body));
    assert_eq!(status, 404, "Alice's project id is not Bob's");

    // Warnings: Bob sees none of Alice's and cannot dismiss them.
    let theirs = d.cli_as(Some(&bob), &copy.path, &["warnings"], &[]);
    assert!(!theirs.output().contains("sec-owner-warn"), "{}", theirs.output());
    d.cli_as(Some(&bob), &copy.path, &["okay"], &[]);
    let mine = d.cli_as(Some(&alice), &p.path, &["warnings"], &[]);
    assert!(mine.output().contains("sec-owner-warn"), "{}", mine.output());

    // Alice's change is still paused, and hers to abort.
    let (_, c) = http_as(&d, &alice, "GET", &format!("/v1/changes/{change}"), None);
    assert_eq!(c["result"]["status"], "Wait", "{c}");
    d.cli_as(Some(&alice), &p.path, &["launch", "--abort"], &[]).ok();
}
