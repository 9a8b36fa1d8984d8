//! The sketch SDK end to end against the real LXD (`WORKSHOP_TEST_LXD=1`): the public
//! scenarios SK-01 to SK-13 in order on one workshop (each sketch operation is a refresh),
//! with the editor driven as the acceptance harness drives it (`EDITOR=ex`, ex commands on
//! standard input); also `--eject`, `sketches` and a symlinked sketch the daemon must refuse.

use serde_yaml_ng::Value;
use workshop_integration::sdk_fixtures::{self, definition};
use workshop_integration::{
    Daemon, Project, RemovedOnDrop, Run, bin_dir, lxd_enabled, lxd_shared, test_user, user_home,
};

const WS: &str = "ws-sketch";

fn w(d: &Daemon, p: &Project, args: &[&str]) -> Run {
    d.cli_as(Some(&p.user), &p.path, args, &[])
}

/// `workshop sketch-sdk ARGS` with `EDITOR=ex` reading `script`.
fn sketch(d: &Daemon, p: &Project, args: &[&str], script: &str) -> Run {
    let mut all = vec!["sketch-sdk"];
    all.extend_from_slice(args);
    let env = [("TERM", "ansi"), ("EDITOR", "ex")];
    d.run_as(Some(&p.user), &p.path, &bin_dir().join("workshop"), &all, &env, Some(script.as_bytes()))
}

/// The `sdks:` part of `W info` read as YAML (the acceptance harness reads `.sdks.<name>`
/// keys from it); `{}` without SDKs.
fn info(d: &Daemon, p: &Project) -> Value {
    let text = w(d, p, &["info", WS]).ok().to_string();
    let Some(at) = text.find("\nsdks:\n") else { return serde_yaml_ng::from_str("{}").unwrap() };
    let sdks = &text[at + 1..];
    serde_yaml_ng::from_str(sdks).unwrap_or_else(|e| panic!("info's sdks are not YAML: {e}\n{text}"))
}

/// `.sdks.sketch.installed` of `W info`, if the sketch is installed.
fn sketch_installed(d: &Daemon, p: &Project) -> Option<String> {
    info(d, p)["sdks"]["sketch"]["installed"].as_str().map(str::to_string)
}

fn assert_revision(d: &Daemon, p: &Project, rev: &str) {
    let installed = sketch_installed(d, p);
    assert!(installed.as_deref().is_some_and(|i| i.ends_with(&format!("({rev})"))), "{installed:?}");
}

#[test]
fn sk_sketch_sdk_scenarios() {
    if !lxd_enabled("sk_sketch_sdk_scenarios") {
        return;
    }
    let _lxd = lxd_shared();
    let d = Daemon::start();
    let p = Project::new(&test_user(), "sketch");
    sdk_fixtures::basic().install(&p);
    p.write("workshop.yaml", &definition(WS, "ubuntu@22.04", &["project-test-sdk-basic-2"]));
    w(&d, &p, &["launch"]).ok();
    let pid = p.id().expect("project id");
    let data = user_home(&p.user).join(".local/share/workshop/id").join(&pid);
    // The user's data of the project's workshops (the sketch lives there).
    let _data = RemovedOnDrop(vec![data.clone()]);
    let area = data.join(WS).join("sdk/sketch");

    // SK-12: --name needs --eject (before anything else is looked at).
    let run = sketch(&d, &p, &["--name", "x"], "q\n");
    assert!(run.fails().contains("flag --name requires --eject"), "{}", run.output());
    let run = sketch(&d, &p, &["--stash", "--remove"], "");
    assert!(
        run.fails().contains(
            "if any flags in the group [stash restore eject remove] are set none of the others can be; \
             [remove stash] were all set"
        ),
        "{}",
        run.output()
    );
    let run = w(&d, &p, &["sketch-sdk", "--remove"]);
    assert!(run.fails().contains(r#"cannot remove: "sketch" SDK not found"#), "{}", run.output());
    // Nothing to list yet.
    assert_eq!(w(&d, &p, &["sketches"]).ok(), "");

    // SK-01: quitting the editor installs the template as an empty sketch.
    let run = sketch(&d, &p, &[], "q\n");
    assert!(run.ok().lines().any(|l| l == r#""ws-sketch" sketch refreshed"#), "{}", run.output());
    let tracking = info(&d, &p)["sdks"]["sketch"]["tracking"].as_str().unwrap_or_default().to_string();
    assert!(
        regex_lite::Regex::new(r"^~/\.local/share/workshop/id/.*/ws-sketch/sdk/sketch")
            .unwrap()
            .is_match(&tracking),
        "{tracking}"
    );
    assert_revision(&d, &p, "x1");
    assert!(area.join("current/sketch.yaml").is_file());

    // SK-11: listing sketches.
    assert!(w(&d, &p, &["sketches"]).has_line(r"^WORKSHOP\s+REV\s+NOTES$"));
    assert!(w(&d, &p, &["sketches", "--no-headers"]).has_line(r"^ws-sketch\s+x1\s+current$"));
    let json: serde_json::Value =
        serde_json::from_str(w(&d, &p, &["sketches", "--format", "json"]).ok()).unwrap();
    assert_eq!(json, serde_json::json!([{"workshop": WS, "revision": "x1", "notes": ["current"]}]));

    // SK-02: an unknown key is refused with where it is; the text is kept for the next edit.
    let run = sketch(&d, &p, &[], "/^name: sketch$/a\nbase: ubuntu@24.04\n.\nwq\n");
    let out = run.fails();
    assert!(out.contains("cannot sketch: sketch SDK YAML contains unknown fields:"), "{out}");
    assert!(
        regex_lite::Regex::new(r#""base" at line [0-9]+, column [0-9]+"#).unwrap().is_match(&out),
        "{out}"
    );
    // Fixed, it is the sketch the workshop has: nothing to refresh, nothing said.
    let run = sketch(&d, &p, &[], "g/^base: ubuntu@24.04$/d\nwq\n");
    assert_eq!(run.ok(), "", "{}", run.output());
    assert_revision(&d, &p, "x1");

    // SK-03: stash and restore.
    let run = w(&d, &p, &["sketch-sdk", "--stash"]);
    assert!(run.ok().lines().any(|l| l == r#""ws-sketch" sketch stashed"#), "{}", run.output());
    assert_eq!(sketch_installed(&d, &p), None);
    assert!(w(&d, &p, &["sketches", "--no-headers"]).has_line(r"^ws-sketch\s+-\s+stashed$"));
    // The stash took the sketch: there is none to remove (the stash stays).
    let run = w(&d, &p, &["sketch-sdk", "--remove"]);
    assert!(run.fails().contains(r#"cannot remove: "sketch" SDK not found"#), "{}", run.output());
    let run = w(&d, &p, &["sketch-sdk", "--restore"]);
    assert!(run.ok().lines().any(|l| l == r#""ws-sketch" sketch restored"#), "{}", run.output());
    assert_revision(&d, &p, "x1");
    // A stash is only restored where there is no sketch.
    let run = w(&d, &p, &["sketch-sdk", "--restore"]);
    assert!(run.fails().contains(r#"cannot restore: stashed "sketch" SDK not found"#), "{}", run.output());
    w(&d, &p, &["sketch-sdk", "--stash"]).ok();
    sketch(&d, &p, &[], "q\n").ok();
    let run = w(&d, &p, &["sketch-sdk", "--restore"]);
    assert!(
        run.fails().contains(
            r#"cannot restore: "sketch" SDK exists; run "workshop sketch-sdk --remove" to remove it from the workshop"#
        ),
        "{}",
        run.output()
    );

    // SK-04: editing a hook installs a new revision, and the hook runs.
    let script = "/^    # apt-get update$/c\n    mkdir -p /home/workshop/ws-sketch-test\n.\nwq\n";
    sketch(&d, &p, &[], script).ok();
    assert_revision(&d, &p, "x2");
    w(&d, &p, &["exec", "--", "test", "-d", "/home/workshop/ws-sketch-test"]).ok();

    // An edit that changes nothing refreshes nothing and says nothing.
    let run = sketch(&d, &p, &[], "q\n");
    assert_eq!(run.ok(), "", "{}", run.output());
    assert_revision(&d, &p, "x2");

    // SK-06: a mount plug of the sketch is connected and mounted.
    let script = "/^plugs:$/a\n  sketch-plug:\n    interface: mount\n    workshop-target: /home/workshop/ws-sketch-test\n.\nwq\n";
    sketch(&d, &p, &[], script).ok();
    assert_revision(&d, &p, "x3");
    assert!(w(&d, &p, &["connections", WS]).has_line(r"ws-sketch/sketch:sketch-plug.*:mount"));
    w(&d, &p, &["exec", "--", "mountpoint", "/home/workshop/ws-sketch-test"]).ok();

    // A failing hook pauses the refresh (wait-on-error); the next sketch-sdk first reverts
    // it, then edits the sketch that failed.
    let script = "/^    mkdir -p \\/home\\/workshop\\/ws-sketch-test$/a\n    false\n.\nwq\n";
    let run = sketch(&d, &p, &[], script);
    let out = run.fails();
    assert!(out.contains(r#"cannot sketch "ws-sketch"; paused"#), "{out}");
    assert!(out.contains(r#"To abort and undo: "workshop refresh --abort ws-sketch""#), "{out}");
    assert!(w(&d, &p, &["list"]).has_line(r"^ws-sketch\s+Waiting\s+"));
    let run = sketch(&d, &p, &[], "g/^    false$/d\nwq\n");
    let out = run.ok();
    // Back as it was before the failing edit: x3 is installed, nothing else to do.
    assert_eq!(out, "Reverting incomplete change for \"ws-sketch\"...\n", "{out}");
    assert_revision(&d, &p, "x3");
    assert!(w(&d, &p, &["list"]).has_line(r"^ws-sketch\s+Ready\s+-$"));

    // A sketch the daemon would have to follow a symlink to read is refused; the workshop
    // stays as it was.
    let current = area.join("current");
    std::fs::rename(&current, area.join("kept")).unwrap();
    std::os::unix::fs::symlink("/root", &current).unwrap();
    let run = w(&d, &p, &["refresh"]);
    assert!(run.fails().contains("cannot refresh"), "{}", run.output());
    std::fs::remove_file(&current).unwrap();
    std::fs::rename(area.join("kept"), &current).unwrap();
    assert!(w(&d, &p, &["list"]).has_line(r"^ws-sketch\s+Ready\s+-$"));

    // SK-07: remove the sketch and start over.
    let run = w(&d, &p, &["sketch-sdk", "--remove"]);
    assert!(run.ok().lines().any(|l| l == r#""ws-sketch" sketch removed"#), "{}", run.output());
    assert!(info(&d, &p)["sdks"].get("sketch").is_none());
    sketch(&d, &p, &[], "q\n").ok();
    assert!(sketch_installed(&d, &p).is_some());

    // A plug its interface refuses is the refresh's business: it pauses, and the next edit
    // reverts it and opens the text again (the reference's sketch-sdk test).
    let script =
        "/^plugs:$/a\n  unique-mount-plug-name:\n    interface: mount\n    workshop-typo: /mnt\n.\nwq\n";
    let run = sketch(&d, &p, &[], script);
    assert!(run.fails().contains(r#"cannot sketch "ws-sketch"; paused"#), "{}", run.output());
    let run = sketch(&d, &p, &[], "%s/workshop-typo/workshop-target/\nwq\n");
    assert!(run.ok().contains("sketch refreshed"), "{}", run.output());
    w(&d, &p, &["exec", "--", "mountpoint", "/mnt"]).ok();
    let script = "/^  unique-mount-plug-name:$/a\n    unknown-attribute: true\n.\nwq\n";
    sketch(&d, &p, &[], script).fails();
    w(&d, &p, &["refresh", "--abort"]).ok();
    assert!(w(&d, &p, &["list"]).has_line(r"^ws-sketch\s+Ready\s+-$"));

    // Eject: the sketch (as the user wrote it, comments and all, but its hooks) becomes a
    // project SDK and leaves the workshop.
    let run = w(&d, &p, &["sketch-sdk", "--eject", "--name", "broken"]);
    let out = run.ok();
    assert!(out.contains(r#"Ejected "ws-sketch" sketch to ".workshop/broken"."#), "{out}");
    assert!(
        out.contains(
            r#"To use it, add "project-broken" to the SDK list and run "workshop refresh ws-sketch""#
        ),
        "{out}"
    );
    let ejected = std::fs::read_to_string(p.path.join(".workshop/broken/sdk.yaml")).unwrap();
    assert!(ejected.lines().any(|l| l == "name: broken"), "{ejected}");
    assert!(ejected.contains("    unknown-attribute: true\n") && ejected.starts_with('#'), "{ejected}");
    assert!(!ejected.lines().any(|l| l.starts_with("hooks:")), "{ejected}");
    assert!(p.path.join(".workshop/broken/hooks/setup-base").is_file());
    assert_eq!(sketch_installed(&d, &p), None);
    // The reference's tutorial removes the sketch right after ejecting it: nothing is left to
    // remove, and that is no error.
    let run = w(&d, &p, &["sketch-sdk", "--remove"]);
    assert!(run.ok().lines().any(|l| l == r#""ws-sketch" sketch removed"#), "{}", run.output());
    let run = w(&d, &p, &["sketch-sdk", "--eject", "--name", "broken"]);
    let exists =
        format!("cannot eject: mkdir {}: file already exists", p.path.join(".workshop/broken").display());
    assert!(run.fails().contains(&exists), "{}", run.output());

    // SK-13: sketching needs a Ready workshop.
    w(&d, &p, &["stop"]).ok();
    let run = sketch(&d, &p, &[], "q\n");
    assert!(
        run.fails().contains(r#"cannot sketch: workshop "ws-sketch" currently "Stopped", must be "Ready""#),
        "{}",
        run.output()
    );
    w(&d, &p, &["remove"]).ok();
    assert!(!data.join(WS).exists(), "remove leaves the user's data of the workshop");
}
