//! Benchmark of the LXD client against the `lxc` command on the same machine and instance:
//! exec of `true`, create+start+delete from the base image, snapshot create+restore.
//! Prints `lxd-bench <name> ours_ms=X lxc_ms=Y ratio=Z` (medians; ratio = ours/lxc).
//! Skips with a message when LXD is not reachable.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use lxd_client::{Client, ConfigPut, ExecRequest, InstanceCreate, InstanceSource};

const IMAGE: &str = "debian@12";
const POOL: &str = "workshop";

fn main() {
    actix_rt::System::new().block_on(run());
}

/// Removes the benchmark's project (and what is in it) even if a step panics.
struct Cleanup {
    project: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let listed =
            Command::new("lxc").args(["list", "--project", &self.project, "-f", "csv", "-c", "n"]).output();
        if let Ok(out) = listed {
            for name in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new("lxc").args(["delete", "-f", "--project", &self.project, name]).output();
            }
        }
        let _ = Command::new("lxc").args(["project", "delete", &self.project]).output();
    }
}

fn lxc(args: &[&str]) {
    let out = Command::new("lxc").args(args).output().expect("run lxc");
    assert!(out.status.success(), "lxc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

fn report(name: &str, ours: Vec<Duration>, theirs: Vec<Duration>) {
    let (ours, theirs) = (median(ours), median(theirs));
    println!("lxd-bench {name} ours_ms={ours:.1} lxc_ms={theirs:.1} ratio={:.2}", ours / theirs);
}

fn container(name: &str) -> InstanceCreate {
    let mut create = InstanceCreate::new(name, InstanceSource::ImageAlias(IMAGE.into()));
    create.devices.insert(
        "root".into(),
        BTreeMap::from([
            ("type".to_owned(), "disk".to_owned()),
            ("path".to_owned(), "/".to_owned()),
            ("pool".to_owned(), POOL.to_owned()),
        ]),
    );
    create
}

async fn run() {
    let lxd = match Client::local() {
        Ok(lxd) => lxd,
        Err(e) => return eprintln!("lxd-bench: skipped: {e}"),
    };
    if let Err(e) = lxd.server().await {
        return eprintln!("lxd-bench: skipped: {e}");
    }
    if let Err(e) = lxd.get_image_alias(IMAGE).await {
        return eprintln!("lxd-bench: skipped: no image {IMAGE}: {e}");
    }
    if Command::new("lxc").arg("version").output().is_err() {
        return eprintln!("lxd-bench: skipped: no lxc command");
    }

    let project = format!("wst-bench-{:08x}", rand::random::<u32>());
    let _cleanup = Cleanup { project: project.clone() };
    let config = BTreeMap::from([
        ("features.images".to_owned(), "false".to_owned()),
        ("features.profiles".to_owned(), "true".to_owned()),
    ]);
    lxd.create_project(&project, &ConfigPut { config, description: "lxd-bench".into() })
        .await
        .expect("project");
    let lxd = lxd.project(&project);
    let base = "wst-bench-base";
    lxd.create_instance(&container(base)).await.expect("create");
    lxd.start_instance(base).await.expect("start");

    // exec `true`, 20 runs each, interleaved.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let truth = ExecRequest::new(["true"]);
    for _ in 0..20 {
        let start = Instant::now();
        let out = lxd.exec_output(base, &truth).await.expect("exec");
        assert_eq!(out.exit_code, 0);
        ours.push(start.elapsed());
        let start = Instant::now();
        lxc(&["exec", "--project", &project, base, "--", "true"]);
        theirs.push(start.elapsed());
    }
    report("exec-true", ours, theirs);

    // create + start + delete from the image, 3 runs each.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..3 {
        let name = format!("wst-bench-ours-{i}");
        let start = Instant::now();
        lxd.create_instance(&container(&name)).await.expect("create");
        lxd.start_instance(&name).await.expect("start");
        lxd.delete_instance(&name, true).await.expect("delete");
        ours.push(start.elapsed());
        let name = format!("wst-bench-lxc-{i}");
        let start = Instant::now();
        lxc(&["launch", "--project", &project, IMAGE, &name, "-s", POOL]);
        lxc(&["delete", "-f", "--project", &project, &name]);
        theirs.push(start.elapsed());
    }
    report("create-start-delete", ours, theirs);

    // snapshot create + restore of the running instance, 5 runs each.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..5 {
        let snap = format!("ours{i}");
        let start = Instant::now();
        lxd.create_snapshot(base, &snap).await.expect("snapshot");
        lxd.restore_snapshot(base, &snap).await.expect("restore");
        ours.push(start.elapsed());
        let snap = format!("lxc{i}");
        let start = Instant::now();
        lxc(&["snapshot", "--project", &project, base, &snap]);
        lxc(&["restore", "--project", &project, base, &snap]);
        theirs.push(start.elapsed());
    }
    report("snapshot-restore", ours, theirs);
}
