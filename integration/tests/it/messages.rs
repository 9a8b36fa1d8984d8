//! Messages in the reference's words where only the whole command shows them (the unit tables
//! pin how each is built: `actors/src/messages.rs`, `cli/src/bin/workshop/messages.rs`,
//! `api/src/definition/tests.rs`). The LXD cases need `WORKSHOP_TEST_LXD=1`.

use std::path::Path;

use workshop_integration::{Daemon, Project, bin_dir, lxd_enabled, lxd_shared, test_user};

const VALID_BASES: &str = "valid bases: ubuntu@20.04, ubuntu@22.04, ubuntu@24.04, ubuntu@26.04, debian@12";

/// `workshop ARGS` in `cwd` with no daemon: (exit code, stderr).
fn offline(cwd: &Path, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(bin_dir().join("workshop"))
        .args(args)
        .current_dir(cwd)
        .env("WORKSHOP_SOCKET", cwd.join("no.socket"))
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn unknown_command_and_unknown_base_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, err) = offline(tmp.path(), &["lauch"]);
    assert_eq!(code, 1);
    assert_eq!(err, "error: unknown command \"lauch\" for \"workshop\"\n\nDid you mean this?\n\tlaunch\n");
    let (code, err) = offline(tmp.path(), &["init", "dev", "--base", "ubuntu@18.04"]);
    assert_eq!(code, 1);
    assert_eq!(err, format!("error: base \"ubuntu@18.04\" not supported; {VALID_BASES}\n"));
    assert!(!tmp.path().join(".workshop").exists());
}

/// Degraded mode without LXD: the reference's words, then the socket, then the advice.
#[test]
fn missing_lxd_is_explained() {
    let d = Daemon::start_with(&[("LXD_SOCKET", "/nonexistent/lxd.socket")]);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("workshop.yaml"), "name: ws\nbase: ubuntu@22.04\n").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let run = loop {
        let run = d.cli(tmp.path(), &["list"]);
        if run.code != 0 || std::time::Instant::now() > deadline {
            break run;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let expected = "error: system is not healthy: cannot connect to LXD: /nonexistent/lxd.socket: no such \
                    file\n\nMaybe LXD isn't installed?\nTo install LXD: ";
    assert!(run.fails().starts_with(expected), "{}", run.output());
}

/// A definition with an unknown base is refused at launch with the reference's words
/// (`cannot launch "ws": base ... not supported`; the key and the file follow); refused
/// workshop requests say what the reference says.
#[test]
fn launch_refusals_in_the_reference_words() {
    if !lxd_enabled("launch_refusals_in_the_reference_words") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "messages");
    p.write(".workshop/old.yaml", "name: old\nbase: ubuntu@18.04\n");
    let run = d.cli_as(Some(&user), &p.path, &["launch", "old"], &[]);
    let file = p.path.join(".workshop/old.yaml");
    let expected = format!(
        "error: cannot launch \"old\": base \"ubuntu@18.04\" not supported; {VALID_BASES} (base in \"{}\")",
        file.display()
    );
    assert!(run.fails().lines().any(|l| l == expected), "{}", run.output());
    assert!(p.instances().is_empty());

    let post = |body: &str| {
        let (status, env) = Daemon::http(&d.socket(), "POST", "/v1/projects/0123abcd/workshops", Some(body));
        (status, env["result"]["message"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        post(r#"{"names":["a","b"],"action":"launch","options":{"mode":"wait-on-error"}}"#),
        (400, "wait-on-error is not supported for multiple workshops".to_string())
    );
    assert_eq!(
        post(r#"{"names":["a","b"],"action":"launch","options":{"mode":"abort"}}"#),
        (400, "wait-on-error is not supported for multiple workshops".to_string())
    );
    assert_eq!(
        post(r#"{"names":["a"],"action":"start","options":{"mode":"wait-on-error"}}"#),
        (400, "cannot start: mode \"wait-on-error\" is not valid with the \"start\" command".to_string())
    );
    assert_eq!(
        post(r#"{"names":[],"action":"stop"}"#),
        (400, "cannot stop: no workshop names provided".to_string())
    );
}
