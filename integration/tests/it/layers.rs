//! Layer snapshots and refresh rollbacks against the real LXD (`WORKSHOP_TEST_LXD=1`): a
//! second workshop made of the same base and SDKs starts from the first one's layers (its
//! `setup-base` hooks do not run again, it still gets its own machine id); a refresh failing
//! before the stash (a `save-state` hook) or after the rebuild (a `setup-project` hook)
//! puts the workshop back as it was, with the files made inside it.

use std::process::Command;

use workshop_integration::sdk_fixtures::definition;
use workshop_integration::{Daemon, Project, Run, lxd_enabled, lxd_shared, test_user};

fn w(d: &Daemon, p: &Project, args: &[&str]) -> Run {
    d.cli_as(Some(&p.user), &p.path, args, &[])
}

fn inside(d: &Daemon, p: &Project, ws: &str, script: &str) -> String {
    w(d, p, &["exec", ws, "--", "sh", "-c", script]).ok().trim().to_string()
}

/// The layer snapshots of the project's user.
fn snapshots(p: &Project) -> Vec<String> {
    let project = format!("workshop-snapshots.{}", p.user);
    let out =
        Command::new("lxc").args(["list", "--project", &project, "-c", "n", "-f", "csv"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn a_second_workshop_starts_from_the_first_ones_layers() {
    if !lxd_enabled("a_second_workshop_starts_from_the_first_ones_layers") {
        return;
    }
    let _lxd = lxd_shared();
    let d = Daemon::start();
    let p = Project::new(&test_user(), "layers");
    // Content of this run only, so that no other test's layer fits.
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    p.write(".workshop/test-sdk-layer/sdk.yaml", &format!("name: test-sdk-layer\nsummary: run {unique}\n"));
    p.write(".workshop/test-sdk-layer/hooks/setup-base", "date +%s%N > /var/lib/layer-made\n");
    for ws in ["layer-a", "layer-b"] {
        p.write(
            &format!(".workshop/{ws}.yaml"),
            &definition(ws, "ubuntu@22.04", &["project-test-sdk-layer"]),
        );
    }
    w(&d, &p, &["launch", "layer-a"]).ok();
    let layer = snapshots(&p).into_iter().find(|s| s.starts_with("sdk-test-sdk-layer-"));
    assert!(layer.is_some(), "a layer was kept: {:?}", snapshots(&p));

    w(&d, &p, &["launch", "layer-b"]).ok();
    let tasks = w(&d, &p, &["tasks"]);
    let skipped = r#"Skipped: "layer-b" was made from a snapshot where "test-sdk-layer" SDK was set up"#;
    assert!(tasks.output().contains(skipped), "{}", tasks.output());
    // The file the hook made in the first workshop, not made again.
    let made = |ws: &str| inside(&d, &p, ws, "cat /var/lib/layer-made");
    assert_eq!(made("layer-b"), made("layer-a"));
    let id = |ws: &str| inside(&d, &p, ws, "cat /etc/machine-id");
    assert_eq!(id("layer-b").len(), 32);
    assert_ne!(id("layer-b"), id("layer-a"));
    assert!(w(&d, &p, &["list"]).has_line(r"^layer-b\s+Ready\s+-$"));
    w(&d, &p, &["remove", "layer-a", "layer-b"]).ok();
}

#[test]
fn a_refresh_failing_before_the_stash_or_in_setup_project_puts_the_workshop_back() {
    if !lxd_enabled("a_refresh_failing_before_the_stash_or_in_setup_project_puts_the_workshop_back") {
        return;
    }
    let _lxd = lxd_shared();
    let ws = "ws-phases";
    let d = Daemon::start();
    let p = Project::new(&test_user(), "phases");
    let sdk = |version: u32| {
        p.write(
            ".workshop/test-sdk-phases/sdk.yaml",
            &format!("name: test-sdk-phases\nversion: \"{version}\"\n"),
        );
    };
    sdk(1);
    p.write(".workshop/test-sdk-phases/hooks/save-state", "test ! -e /project/fail-save-state\n");
    p.write(".workshop/test-sdk-phases/hooks/setup-project", "test ! -e /project/fail-setup-project\n");
    p.write("workshop.yaml", &definition(ws, "ubuntu@22.04", &["project-test-sdk-phases"]));
    w(&d, &p, &["launch"]).ok();
    inside(&d, &p, ws, "echo kept > /home/workshop/kept");
    let id = inside(&d, &p, ws, "cat /etc/machine-id");

    for (version, fail, hook) in
        [(2, "fail-save-state", "save-state"), (3, "fail-setup-project", "setup-project")]
    {
        p.write(fail, "");
        sdk(version);
        let out = w(&d, &p, &["refresh"]).fails();
        assert!(out.lines().any(|l| l == format!("error: cannot refresh {ws:?}; aborted")), "{fail}: {out}");
        let failed = format!(r#"^Error\s.*Run hook "{hook}" for "test-sdk-phases" SDK"#);
        assert!(w(&d, &p, &["tasks"]).has_line(&failed), "{fail}: {}", w(&d, &p, &["tasks"]).output());
        assert!(w(&d, &p, &["list"]).has_line(&format!(r"^{ws}\s+Ready\s+-$")), "{fail}");
        assert_eq!(inside(&d, &p, ws, "cat /home/workshop/kept"), "kept", "{fail}");
        assert_eq!(inside(&d, &p, ws, "cat /etc/machine-id"), id, "{fail}");
        let stashes: Vec<String> = p.instances().into_iter().filter(|i| i.starts_with("stash-")).collect();
        assert!(stashes.is_empty(), "{fail}: {stashes:?}");
        std::fs::remove_file(p.path.join(fail)).unwrap();
    }
    // Nothing in the way now: the refresh goes through.
    w(&d, &p, &["refresh"]).ok();
    assert!(w(&d, &p, &["list"]).has_line(&format!(r"^{ws}\s+Ready\s+-$")));
}
