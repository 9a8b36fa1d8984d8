//! The user's data directory named by `$XDG_DATA_HOME` in the environment of `workshop` (the
//! reference reads it from the user's session; acceptance-public.md's mount section: `$DATA`
//! is `$XDG_DATA_HOME` if set): default mount sources and the sketch live below it, `info`
//! shortens paths below it, and `remove` deletes the workshop's data there.

use std::os::unix::fs::MetadataExt;

use workshop_integration::{
    Daemon, Project, RemovedOnDrop, bin_dir, lxd_enabled, lxd_shared, suffix, test_user, user_home, user_ids,
};

#[test]
fn xdg_data_home_holds_default_mount_sources_and_the_sketch() {
    if !lxd_enabled("xdg_data_home_holds_default_mount_sources_and_the_sketch") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    // Not made beforehand: the daemon makes it as the user.
    let data = user_home(&user).join(format!("wst-xdg-data-{}", suffix()));
    let _data = RemovedOnDrop(vec![data.clone()]);
    let p = Project::new(&user, "xdg-data");
    p.write(
        ".workshop/xdg-mount/sdk.yaml",
        "name: xdg-mount\nplugs:\n  one:\n    interface: mount\n    workshop-target: /mnt/one\n",
    );
    p.write(".workshop/xdg-mount/hooks/setup-base", "true\n");
    p.write("workshop.yaml", "name: ws-xdg\nbase: ubuntu@22.04\nsdks:\n  - name: project-xdg-mount\n");
    let env = [("XDG_DATA_HOME", data.to_str().unwrap())];
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &env);
    w(&["launch"]).ok();
    let pid = p.id().expect("project id");
    let ours = data.join("workshop/id").join(&pid).join("ws-xdg");
    let source = ours.join("mount/xdg-mount/one");
    let meta =
        std::fs::metadata(&source).unwrap_or_else(|e| panic!("{}: {e}\n{}", source.display(), d.log()));
    assert!(meta.is_dir());
    assert_eq!(meta.uid(), user_ids(&user).0, "made as the user");
    assert!(!user_home(&user).join(".local/share/workshop/id").join(&pid).exists());
    // The mount is that directory.
    std::fs::write(source.join("from-host"), "x").unwrap();
    w(&["exec", "--", "test", "-f", "/mnt/one/from-host"]).ok();
    let info = w(&["info"]);
    assert!(
        // Whole (home-contracted) off a terminal, as the reference's.
        info.has_line(&format!(
            r"^\s+host-source:\s+~/wst-xdg-data-[^/]+/workshop/id/{pid}/ws-xdg/mount/xdg-mount/one$"
        )),
        "{}",
        info.output()
    );

    // The sketch is written and read there too.
    let sketch = d.run_as(
        Some(&user),
        &p.path,
        &bin_dir().join("workshop"),
        &["sketch-sdk"],
        &[("TERM", "ansi"), ("EDITOR", "ex"), env[0]],
        Some(b"q\n"),
    );
    assert!(sketch.ok().contains("\"ws-xdg\" sketch refreshed"), "{}", sketch.output());
    assert!(ours.join("sdk/sketch/current/sdk.yaml").is_file());
    let info = w(&["info"]);
    let tracking = format!(
        r"^\s+tracking:\s+{}$",
        regex_lite::escape(
            &ours.join("sdk/sketch").to_string_lossy().replace(&*user_home(&user).to_string_lossy(), "~")
        )
    );
    assert!(info.has_line(&tracking), "{tracking}\n{}", info.output());
    assert!(w(&["sketches"]).has_line(r"^ws-xdg\s+x1\s+current$"));

    // Removed with the workshop.
    w(&["remove"]).ok();
    assert!(!ours.exists(), "{} left behind", ours.display());
}
