//! Workshop benchmarks against the real LXD, as ratios against the `lxc` command doing the
//! same steps in the same run: launch of a bare workshop (and, apart, the first launch for a
//! user, which prepares the template), `exec -- true`, and the daemon's idle RSS with 5
//! workshops. Needs root and the test user of scripts/test-all.sh.

use std::time::{Duration, Instant};

use workshop_integration::Project;
use workshop_integration::bench::{RawInstance, WAIT_SYSTEMD, lxc, lxc_names, median, ms};

const EXEC_RUNS: usize = 15;
const LAUNCH_RUNS: usize = 7;

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn main() {
    let Some((user, d)) = workshop_integration::bench::start("workshop-bench") else { return };
    let p = Project::new(&user, "bench");
    for i in 0..5 {
        p.write(&format!(".workshop/b{i}.yaml"), &format!("name: b{i}\nbase: ubuntu@22.04\n"));
    }
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);

    // The first launch of a base for a user prepares its template (see ARCHITECTURE.md).
    let project = format!("workshop.{user}");
    for template in lxc_names(&project).into_iter().filter(|n| n.starts_with("tpl-")) {
        lxc(&["delete", "-f", "--project", &project, &template]);
    }
    let started = Instant::now();
    w(&["launch", "b0"]).ok();
    let first = started.elapsed();
    w(&["remove", "b0"]).ok();

    // Launch: ours (workshop launch) vs lxc (launch + wait for systemd), removal not timed.
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for i in 0..LAUNCH_RUNS {
        let started = Instant::now();
        w(&["launch", "b0"]).ok();
        ours.push(started.elapsed());
        w(&["remove", "b0"]).ok();
        let name = format!("wst-bench-{i}-{}", std::process::id());
        let _raw = RawInstance(name.clone());
        let started = Instant::now();
        lxc(&["launch", "ubuntu@22.04", &name]);
        lxc(&["exec", &name, "--", "sh", "-c", WAIT_SYSTEMD]);
        raw.push(started.elapsed());
    }
    let (o, r) = (median(ours), median(raw));
    println!("workshop-bench launch ours_ms={:.0} lxc_ms={:.0} ratio={:.2}", ms(o), ms(r), ms(o) / ms(r));
    println!(
        "workshop-bench first-launch (prepares the template) ours_ms={:.0} lxc_ms={:.0} ratio={:.2}",
        ms(first),
        ms(r),
        ms(first) / ms(r)
    );

    // Exec of `true`.
    w(&["launch", "b0"]).ok();
    let instance = format!("b0-{}", p.id().unwrap());
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..EXEC_RUNS {
        let started = Instant::now();
        w(&["exec", "b0", "--", "true"]).ok();
        ours.push(started.elapsed());
        let started = Instant::now();
        lxc(&["exec", "--project", &project, &instance, "--", "true"]);
        raw.push(started.elapsed());
    }
    let (o, r) = (median(ours), median(raw));
    println!("workshop-bench exec-true ours_ms={:.1} lxc_ms={:.1} ratio={:.2}", ms(o), ms(r), ms(o) / ms(r));

    // Idle RSS with 5 workshops.
    w(&["launch", "b1", "b2", "b3", "b4"]).ok();
    std::thread::sleep(Duration::from_secs(6));
    println!("workshop-bench idle-rss workshops=5 rss_mib={:.1}", rss_mib(d.pid()));
    w(&["remove", "b0", "b1", "b2", "b3", "b4"]).ok();
}
