//! `workshop du` and `workshop prune` against the real LXD (issue 14 item 5): what a user's
//! workshops, templates, layer snapshots, caches and SDK trees use, and pruning what nothing uses, in the
//! user's scope.

use std::path::Path;

use workshop_integration::{Daemon, Project, lxd_enabled, lxd_exclusive, test_user, user_ids};

#[test]
fn du_shows_and_prune_removes_what_nothing_uses() {
    if !lxd_enabled("du_shows_and_prune_removes_what_nothing_uses") {
        return;
    }
    // Prune removes the user's templates: no other test may be copying one meanwhile.
    let _lxd = lxd_exclusive();
    let user = test_user();
    let (uid, _) = user_ids(&user);
    let d = Daemon::start();
    let p = Project::new(&user, "space");
    p.write(".workshop/ws-du.yaml", "name: ws-du\nbase: debian@12\n");
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    w(&["launch", "ws-du"]).ok();
    let pid = p.id().unwrap();
    // The cache of a workshop that is gone (a daemon killed during its removal leaves one).
    let ghost = d.dir.path().join(format!("cache/users/{uid}/{pid}/ws-ghost/apt"));
    std::fs::create_dir_all(&ghost).unwrap();
    std::fs::write(ghost.join("old.deb"), vec![7u8; 4096]).unwrap();

    let du = w(&["du"]);
    let path = regex_lite::escape(&p.path.to_string_lossy());
    assert!(du.has_line(&format!(r"^workshop\s+ws-du\s+{path}\s+\S+\s+yes$")), "{}", du.output());
    assert!(du.has_line(&format!(r"^apt-cache\s+ws-du\s+{path}\s+\S+\s+yes$")), "{}", du.output());
    assert!(du.has_line(&format!(r"^apt-cache\s+ws-ghost\s+{path}\s+4.10kB\s+no$")), "{}", du.output());
    assert!(du.has_line(r"^sdk-tree\s+system \(\w+\)\s+-\s+\S+\s+yes$"), "{}", du.output());
    // The layer the workshop was made through (after the system SDK's set-up).
    assert!(du.has_line(r"^snapshot\s+sdk-system-[0-9a-f]{16}\s+-\s+\S+\s+yes$"), "{}", du.output());
    assert!(
        du.has_line(r#"^storage pool "workshop" \((zfs|btrfs)\): \S+ of \S+ used \(\d+%\)$"#),
        "{}",
        du.output()
    );
    let json: serde_json::Value = serde_json::from_str(w(&["du", "--format", "json"]).ok()).unwrap();
    assert!(json["pool"]["total"].as_u64().unwrap() > 0, "{json}");

    // Another user sees none of it.
    let other = workshop_integration::test_user2();
    let theirs = d.cli_as(Some(&other), Path::new("/"), &["du", "--format", "json"], &[]);
    let theirs: serde_json::Value = serde_json::from_str(theirs.ok()).unwrap();
    assert!(theirs["items"].as_array().unwrap().iter().all(|i| i["user"] != user.as_str()), "{theirs}");
    assert_eq!(d.cli_as(Some(&other), Path::new("/"), &["prune"], &[]).ok(), "Nothing to prune.\n");
    assert!(ghost.exists());

    // A dry run removes nothing; prune removes the stale cache and the templates, never the
    // workshop or what it uses.
    let dry = w(&["prune", "--dry-run"]);
    assert!(dry.has_line(r"^apt-cache\s+ws-ghost\s"), "{}", dry.output());
    assert!(dry.has_line(r"^Would free "), "{}", dry.output());
    assert!(ghost.exists());
    let pruned = w(&["prune"]);
    assert!(pruned.has_line(r"^Freed "), "{}", pruned.output());
    assert!(!ghost.exists() && !ghost.parent().unwrap().exists());
    let du = w(&["du"]);
    assert!(!du.has_line(r"^template\s") && !du.has_line(r"ws-ghost"), "{}", du.output());
    assert!(du.has_line(r"^workshop\s+ws-du\s"), "{}", du.output());
    assert!(du.has_line(r"^snapshot\s+sdk-system-"), "a layer in use stays: {}", du.output());
    assert_eq!(w(&["exec", "ws-du", "--", "true"]).code, 0);
    assert_eq!(w(&["prune"]).ok(), "Nothing to prune.\n");
    // Once no workshop was made through a layer, prune removes it (not waiting for the
    // cool-down that launches and removals leave it).
    w(&["remove", "ws-du"]).ok();
    assert!(
        w(&["du"]).has_line(r"^snapshot\s+sdk-system-[0-9a-f]{16}\s+-\s+\S+\s+no$"),
        "{}",
        w(&["du"]).output()
    );
    let pruned = w(&["prune"]);
    assert!(pruned.has_line(r"^snapshot\s+sdk-system-"), "{}", pruned.output());
    assert!(!w(&["du"]).has_line(r"^snapshot\s"), "{}", w(&["du"]).output());
    // The next launch makes its template and its layer again.
    w(&["launch", "ws-du"]).ok();
    assert!(w(&["du"]).has_line(r"^snapshot\s+sdk-system-"), "{}", w(&["du"]).output());
    w(&["remove", "ws-du"]).ok();
}
