//! Benchmarks of what changes a workshop, against the real LXD, each next to the `lxc` steps
//! that come closest in the same run: a launch with three local SDKs (hooks and a mount) vs
//! `lxc launch` plus the same hook commands and disk device; a refresh with nothing to do vs
//! one `lxc query` of the instance; a refresh where only the last SDK changed vs a full
//! relaunch (remove and launch, every layer built again) and vs one reusing the layers;
//! restore vs an LXD snapshot restore waited for like a start;
//! disconnect and connect of a mount on a running workshop vs `lxc config device remove/add`;
//! a fork of a running workshop vs `lxc copy` and a start; a second workshop of the same SDKs
//! vs the first one.
//! Needs root and the test user of scripts/test-all.sh.

use std::time::Duration;

use workshop_integration::bench::{RawInstance, WAIT_SYSTEMD, lxc, lxc_names, timed};
use workshop_integration::{Project, user_home};

const RUNS: usize = 5;
const QUICK_RUNS: usize = 11;

fn report(what: &str, ours: Vec<Duration>, raw: Vec<Duration>) {
    workshop_integration::bench::report("workshop-bench", what, ours, raw);
}

/// A local SDK `name` whose setup-base hook runs `hook`; the first one also has a mount plug.
fn sdk(p: &Project, name: &str, hook: &str, with_mount: bool) {
    let plugs = if with_mount {
        "plugs:\n  data:\n    interface: mount\n    workshop-target: /mnt/data\n"
    } else {
        ""
    };
    p.write(&format!(".workshop/{name}/sdk.yaml"), &format!("name: {name}\n{plugs}"));
    p.write(&format!(".workshop/{name}/hooks/setup-base"), &format!("{hook}\n"));
}

/// A second workshop made of the same base and SDKs as the first vs that first one: it
/// starts from the first one's layers, so its SDKs' `setup-base` hooks (a second each here,
/// standing for package installs) do not run again. Each run's SDKs are new content, so the
/// first workshop of a run has no layer to start from.
fn second_workshop(d: &workshop_integration::Daemon, user: &str) {
    let p = Project::new(user, "bench-layers");
    let w = |args: &[&str]| d.cli_as(Some(user), &p.path, args, &[]);
    let sdks = "sdks:\n  - name: project-layer-a\n  - name: project-layer-b\n  - name: project-layer-c\n";
    for ws in ["l1", "l2"] {
        p.write(&format!(".workshop/{ws}.yaml"), &format!("name: {ws}\nbase: ubuntu@22.04\n{sdks}"));
    }
    let (mut second, mut first) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        for name in ["layer-a", "layer-b", "layer-c"] {
            p.write(
                &format!(".workshop/{name}/sdk.yaml"),
                &format!("name: {name}\nsummary: run {i} of {}\n", std::process::id()),
            );
            p.write(&format!(".workshop/{name}/hooks/setup-base"), "sleep 1\n");
        }
        first.push(timed(|| {
            w(&["launch", "l1"]).ok();
        }));
        second.push(timed(|| {
            w(&["launch", "l2"]).ok();
        }));
        w(&["remove", "l1", "l2"]).ok();
    }
    report("second-workshop-same-sdks vs the first (setup-base hooks of 1 s; target < 0.50)", second, first);
}

/// A refresh of a workshop of three SDKs where only the last one changed vs a full relaunch
/// (remove, and a launch that builds every layer again: the layer snapshots are deleted in
/// between, outside the timing; the template stays), and vs a relaunch that reuses the
/// layers of the first two SDKs. Each SDK's `setup-base` takes a second, standing for
/// package installs (as in `second_workshop`); the last SDK is changed before each side, so
/// that each side meets a changed SDK.
fn refresh_last_sdk(d: &workshop_integration::Daemon, user: &str) {
    let p = Project::new(user, "bench-refresh");
    let w = |args: &[&str]| d.cli_as(Some(user), &p.path, args, &[]);
    p.write(
        "workshop.yaml",
        "name: r0\nbase: ubuntu@22.04\nsdks:\n  - name: project-refresh-a\n  - name: project-refresh-b\n  - name: project-refresh-c\n",
    );
    let write = |name: &str, summary: &str| {
        p.write(&format!(".workshop/{name}/sdk.yaml"), &format!("name: {name}\nsummary: {summary}\n"));
        p.write(&format!(".workshop/{name}/hooks/setup-base"), "sleep 1\n");
    };
    let run = std::process::id();
    let mut changes = 0;
    let mut change_last = || {
        changes += 1;
        write("refresh-c", &format!("change {changes} of run {run}"));
    };
    write("refresh-a", &format!("run {run}"));
    write("refresh-b", &format!("run {run}"));
    change_last();
    w(&["launch"]).ok();
    let snapshots = format!("workshop-snapshots.{user}");
    let (mut ours, mut full, mut relaunch) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        change_last();
        ours.push(timed(|| {
            w(&["refresh"]).ok();
        }));
        change_last();
        relaunch.push(timed(|| {
            w(&["remove"]).ok();
            w(&["launch"]).ok();
        }));
        change_last();
        let removal = timed(|| {
            w(&["remove"]).ok();
        });
        for layer in lxc_names(&snapshots).iter().filter(|n| n.starts_with("sdk-refresh-")) {
            lxc(&["delete", "--project", &snapshots, layer]);
        }
        full.push(
            removal
                + timed(|| {
                    w(&["launch"]).ok();
                }),
        );
    }
    report(
        "refresh-last-sdk-changed vs full relaunch (setup-base hooks of 1 s; target < 0.40)",
        ours.clone(),
        full,
    );
    report("refresh-last-sdk-changed vs relaunch reusing the first two layers", ours, relaunch);
    w(&["remove"]).ok();
}

fn main() {
    let Some((user, d)) = workshop_integration::bench::start("workshop-bench") else { return };
    second_workshop(&d, &user);
    refresh_last_sdk(&d, &user);
    let p = Project::new(&user, "bench-changes");
    let hooks = ["touch /bench-a", "touch /bench-b", "touch /bench-c"];
    sdk(&p, "bench-a", hooks[0], true);
    sdk(&p, "bench-b", hooks[1], false);
    sdk(&p, "bench-c", hooks[2], false);
    p.write(
        "workshop.yaml",
        "name: s0\nbase: ubuntu@22.04\nsdks:\n  - name: project-bench-a\n  - name: project-bench-b\n  - name: project-bench-c\n",
    );
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    // Once, so that the template exists for both sides.
    w(&["launch"]).ok();
    w(&["remove"]).ok();

    // A launch with three SDKs vs lxc launch, the hooks and the mount by hand.
    let data = user_home(&user).join(format!("wst-bench-data-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        ours.push(timed(|| {
            w(&["launch"]).ok();
        }));
        w(&["remove"]).ok();
        let name = format!("wst-bench-sdk-{i}-{}", std::process::id());
        let _raw = RawInstance(name.clone());
        raw.push(timed(|| {
            lxc(&["launch", "ubuntu@22.04", &name]);
            lxc(&["exec", &name, "--", "sh", "-c", WAIT_SYSTEMD]);
            for hook in hooks {
                lxc(&["exec", &name, "--", "sh", "-c", hook]);
            }
            let source = format!("source={}", data.display());
            lxc(&["config", "device", "add", &name, "data", "disk", &source, "path=/mnt/data"]);
        }));
    }
    report("launch-three-sdks", ours, raw);

    w(&["launch"]).ok();
    let instance = format!("s0-{}", p.id().unwrap());
    let project = format!("workshop.{user}");
    let query = format!("/1.0/instances/{instance}?project={project}");

    // Refresh with nothing to do vs one query of the instance.
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..QUICK_RUNS {
        ours.push(timed(|| {
            w(&["refresh"]).ok();
        }));
        raw.push(timed(|| lxc(&["query", &query])));
    }
    report("refresh-nothing-to-do (target < 300 ms)", ours, raw);

    // Disconnect and connect of a mount on the running workshop vs lxc device remove/add (one
    // argument would name the slot system:data, as the reference does).
    let plug = "s0/bench-a:data";
    let (mut off, mut on, mut raw_off, mut raw_on) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..QUICK_RUNS {
        off.push(timed(|| {
            w(&["disconnect", plug]).ok();
        }));
        on.push(timed(|| {
            w(&["connect", plug, ":mount"]).ok();
        }));
        let source = format!("source={}", data.display());
        raw_on.push(timed(|| {
            lxc(&[
                "config",
                "device",
                "add",
                "--project",
                &project,
                &instance,
                "wstbench",
                "disk",
                &source,
                "path=/mnt/wst-bench",
            ])
        }));
        raw_off.push(timed(|| {
            lxc(&["config", "device", "remove", "--project", &project, &instance, "wstbench"])
        }));
    }
    report("mount-disconnect (target < 300 ms)", off, raw_off);
    report("mount-connect (target < 300 ms)", on, raw_on);

    // Restore vs an LXD snapshot restore, waited for like a start.
    let name = format!("wst-bench-restore-{}", std::process::id());
    let _raw = RawInstance(name.clone());
    lxc(&["launch", "ubuntu@22.04", &name]);
    lxc(&["exec", &name, "--", "sh", "-c", WAIT_SYSTEMD]);
    lxc(&["snapshot", &name, "base"]);
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        w(&["exec", "--", "sudo", "touch", "/changed-inside"]).ok();
        ours.push(timed(|| {
            w(&["restore"]).ok();
        }));
        lxc(&["exec", &name, "--", "touch", "/changed-inside"]);
        raw.push(timed(|| {
            lxc(&["restore", &name, "base"]);
            lxc(&["exec", &name, "--", "sh", "-c", WAIT_SYSTEMD]);
        }));
    }
    report("restore vs lxc restore (target <= 1.2)", ours, raw);

    // A fork of the running workshop vs an lxc copy of a running instance, started and
    // waited for like a start.
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        let copy = format!("s0-fork-{i}");
        ours.push(timed(|| {
            w(&["fork", "s0", &copy]).ok();
        }));
        w(&["remove", &copy]).ok();
        let to = format!("wst-bench-fork-{i}-{}", std::process::id());
        let _raw = RawInstance(to.clone());
        raw.push(timed(|| {
            lxc(&["copy", &name, &to]);
            lxc(&["start", &to]);
            lxc(&["exec", &to, "--", "sh", "-c", WAIT_SYSTEMD]);
        }));
    }
    report("fork vs lxc copy and start (target < 1.5 s)", ours, raw);

    w(&["remove"]).ok();
    let _ = std::fs::remove_dir_all(&data);
}
