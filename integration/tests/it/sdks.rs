//! SDKs end to end on the real LXD: local (project) SDKs committed, installed read-only at
//! `/var/lib/workshop/sdk/<name>` and shown by `info` (acceptance L-08, K-11).

use std::path::Path;

use workshop_integration::{Daemon, Project, lxd_enabled, lxd_shared, test_user};

/// FX-basic in `P/.workshop/test-sdk-basic-2/`.
fn basic_sdk(p: &Project) {
    p.write(
        ".workshop/test-sdk-basic-2/sdk.yaml",
        "name: test-sdk-basic-2\nversion: \"1.0\"\nsummary: A basic SDK\n",
    );
    p.write(".workshop/test-sdk-basic-2/hooks/setup-project", "echo \"setup-project ran successfully!\"\n");
}

/// L-08 and K-11: the installed local SDK in `info`, its tree read-only in the workshop, in
/// the relocated layout.
#[test]
fn a_local_sdk_is_installed_read_only_and_described() {
    if !lxd_enabled("a_local_sdk_is_installed_read_only_and_described") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "sdk-basic");
    p.write(
        "workshop.yaml",
        "name: ws-basic\nbase: ubuntu@22.04\nsdks:\n  - name: project-test-sdk-basic-2\n  - name: project-test-sdk-mount\n",
    );
    basic_sdk(&p);
    p.write(".workshop/test-sdk-mount/sdk.yaml", "name: test-sdk-mount\n");
    p.write(".workshop/test-sdk-mount/jobs/job.sh", "");
    // A private file of the user's: the daemon's copy is no other host user's to read.
    p.write(".workshop/test-sdk-basic-2/secret.env", "TOKEN=sdk-secret-of-the-user\n");
    let secret = Path::new(&p.path).join(".workshop/test-sdk-basic-2/secret.env");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    w(&["launch"]).ok();
    // As `/var/lib/workshop` is, the daemon's directory open to all (a test's is not).
    std::fs::set_permissions(d.dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let trees = d.dir.path().join("sdk/trees");
    let copies = format!("{}/*/secret.env", trees.display());
    let other = d.run_as(
        Some(&workshop_integration::test_user2()),
        Path::new("/"),
        Path::new("sh"),
        &["-c", &format!("cat {copies}")],
        &[],
        None,
    );
    assert!(!other.output().contains("sdk-secret-of-the-user"), "{}", other.output());
    let own = d.run_as(None, Path::new("/"), Path::new("sh"), &["-c", &format!("cat {copies}")], &[], None);
    assert!(own.output().contains("sdk-secret-of-the-user"), "committed: {}", own.output());

    let info = w(&["info"]);
    let text = info.ok();
    assert!(text.contains("test-sdk-basic-2:"), "{text}");
    let tracking = text.lines().find(|l| l.trim_start().starts_with("tracking:")).unwrap_or_default();
    assert!(tracking.trim_end().ends_with(".workshop/test-sdk-basic-2"), "{text}");
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("installed:") && l.trim_end().ends_with("(x1)")),
        "{text}"
    );

    let sdk = "/var/lib/workshop/sdk";
    for file in [
        "test-sdk-basic-2/meta/sdk.yaml",
        "test-sdk-basic-2/sdk/hooks/setup-project",
        "test-sdk-mount/jobs/job.sh",
    ] {
        w(&["exec", "--", "test", "-f", &format!("{sdk}/{file}")]).ok();
    }
    let touch = w(&["exec", "--uid", "0", "--gid", "0", "--", "touch", &format!("{sdk}/test-sdk-basic-2/x")]);
    touch.fails();
    // The workshop sees its SDKs' files as its root's (reference sdk-multi-user-mount), not
    // as an unmapped owner's `nobody`.
    let hook = format!("{sdk}/test-sdk-basic-2/sdk/hooks/setup-project");
    let owners =
        w(&["exec", "--", "stat", "-c", "%U:%G", &hook, &format!("{sdk}/system/meta/sdk.yaml"), sdk]);
    assert_eq!(owners.ok(), "root:root\nroot:root\nroot:root\n", "{}", owners.output());
    assert!(Path::new(&p.path).is_dir());
}

/// `sdk list` shows the user's installed SDK trees, `sdk info` where they are installed.
#[test]
fn sdk_list_shows_installed_trees() {
    if !lxd_enabled("sdk_list_shows_installed_trees") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "sdk-list");
    p.write(
        "workshop.yaml",
        "name: ws-list\nbase: ubuntu@22.04\nsdks:\n  - name: project-test-sdk-basic-2\n",
    );
    basic_sdk(&p);
    d.cli_as(Some(&user), &p.path, &["launch"], &[]).ok();
    let list =
        d.run_as(Some(&user), &p.path, &workshop_integration::bin_dir().join("sdk"), &["list"], &[], None);
    let text = list.ok();
    assert!(
        text.lines().any(|l| l.starts_with("test-sdk-basic-2") && l.contains("x1")),
        "{text}\n{}",
        d.log()
    );
    assert!(text.lines().any(|l| l.starts_with("system")), "{text}");
}
