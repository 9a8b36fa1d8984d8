//! Try SDKs (`try-<name>`) end to end on the real LXD: the archive a user put in their try
//! area (`$XDG_DATA_HOME/workshop/try/<name>/`) is checked against its sidecar, installed and
//! set up; a new archive is a new revision on refresh; one whose digest does not match is
//! refused and the workshop keeps what it had.

use std::os::unix::fs::{chown, symlink};
use std::path::Path;

use workshop_actors::store::fixture::FixtureSdk;
use workshop_actors::store::sha3_384_hex;
use workshop_integration::{Daemon, Project, lxd_enabled, lxd_shared, test_user, user_ids};

/// Revision `n` of the `tryit` SDK: its setup-base hook records `n` in the guest.
fn revision(n: u64) -> FixtureSdk {
    let mut sdk = FixtureSdk::new("tryit", n);
    sdk.hooks = vec![("setup-base".into(), format!("#!/bin/bash\necho {n} > /etc/tryit-revision\n"))];
    sdk
}

/// Puts `archive` in `area` as `tryit_all.sdk`, with `digest` in its sidecar.
fn put(area: &Path, archive: &[u8], digest: &str, user: &str) {
    std::fs::create_dir_all(area).unwrap();
    std::fs::write(area.join("tryit_all.sdk"), archive).unwrap();
    std::fs::write(area.join("tryit_all.sdk.sha3-384"), format!("{digest}  tryit_all.sdk\n")).unwrap();
    let (uid, gid) = user_ids(user);
    let mut dir = area.to_path_buf();
    for _ in 0..3 {
        chown(&dir, Some(uid), Some(gid)).unwrap();
        dir.pop();
    }
    for file in ["tryit_all.sdk", "tryit_all.sdk.sha3-384"] {
        chown(area.join(file), Some(uid), Some(gid)).unwrap();
    }
}

#[test]
fn a_try_sdk_is_installed_from_the_users_try_area() {
    if !lxd_enabled("a_try_sdk_is_installed_from_the_users_try_area") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "try-sdk");
    p.write("workshop.yaml", "name: ws-try\nbase: ubuntu@22.04\nsdks:\n  - name: try-tryit\n");
    let data = p.path.join("data");
    let data_env = data.to_string_lossy().into_owned();
    let area = data.join("workshop/try/tryit");
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[("XDG_DATA_HOME", data_env.as_str())]);

    // Nothing in the try area yet.
    let missing = w(&["launch"]).fails();
    assert!(missing.contains("\"try-tryit\" SDK not found"), "{missing}");

    let one = revision(1).archive();
    put(&area, &one, &sha3_384_hex(&one), &user);
    w(&["launch"]).ok();
    let cat = |file: &str| w(&["exec", "--", "cat", file]).ok().trim().to_string();
    assert_eq!(cat("/etc/tryit-revision"), "1");
    assert_eq!(cat("/var/lib/workshop/sdk/tryit/README"), "tryit revision 1");
    let info = w(&["info"]).ok().to_string();
    assert!(info.contains("tryit:"), "{info}");
    let tracking = info.lines().find(|l| l.trim_start().starts_with("tracking:")).unwrap_or_default();
    assert!(tracking.trim_end().ends_with("workshop/try/tryit"), "{info}");

    // The same archive again: nothing to do. A new one: a new revision, set up again.
    let same = w(&["refresh"]);
    assert!(same.output().contains("no updates available for \"ws-try\""), "{}", same.output());
    let two = revision(2).archive();
    put(&area, &two, &sha3_384_hex(&two), &user);
    w(&["refresh"]).ok();
    assert_eq!(cat("/etc/tryit-revision"), "2");
    assert_eq!(cat("/var/lib/workshop/sdk/tryit/README"), "tryit revision 2");

    // An archive its sidecar does not vouch for is refused; the workshop keeps revision 2.
    let three = revision(3).archive();
    put(&area, &three, &sha3_384_hex(&two), &user);
    let refused = w(&["refresh"]).fails();
    assert!(refused.contains("invalid \"try-tryit\" SDK: sha3-384 of "), "{refused}");
    assert_eq!(cat("/etc/tryit-revision"), "2");

    // The archive is the user's file: a symlink to one they cannot read is not followed.
    std::fs::remove_file(area.join("tryit_all.sdk")).unwrap();
    symlink("/etc/shadow", area.join("tryit_all.sdk")).unwrap();
    let linked = w(&["refresh"]).fails();
    assert!(linked.contains("\"try-tryit\" SDK"), "{linked}");
    assert!(!linked.contains("root:"), "{linked}");
    assert_eq!(cat("/var/lib/workshop/sdk/tryit/README"), "tryit revision 2");
    w(&["remove", "ws-try"]).ok();
}
