//! What the benchmarks against the real LXD share: timing, medians, the `lxc` command for the
//! raw side of each comparison, and the lines they report.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Daemon, test_user};

/// What a workshop start waits for: systemd up (running or degraded), for `sh -c` in a raw
/// LXD instance.
pub const WAIT_SYSTEMD: &str = "until s=$(systemctl is-system-running --wait 2>/dev/null); [ \"$s\" = running ] || [ \"$s\" = degraded ]; do sleep 0.05; done";

/// The test user and a daemon of the benchmark `name`, or `None` (said) when the real LXD is
/// not to be used.
pub fn start(name: &str) -> Option<(String, Daemon)> {
    if std::env::var("WORKSHOP_TEST_LXD").as_deref() != Ok("1") {
        println!("{name} skipped: WORKSHOP_TEST_LXD not set");
        return None;
    }
    Some((test_user(), Daemon::start_with(&[("WORKSHOP_DEBUG", "0")])))
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// How long `f` takes.
pub fn timed(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

/// Prints the medians of ours and of the raw LXD side, and their ratio.
pub fn report(bench: &str, what: &str, ours: Vec<Duration>, raw: Vec<Duration>) {
    let (o, r) = (median(ours), median(raw));
    println!("{bench} {what} ours_ms={:.0} lxc_ms={:.0} ratio={:.2}", ms(o), ms(r), ms(o) / ms(r));
}

/// Runs `lxc` with `args`; panics with its error when it fails.
pub fn lxc(args: &[&str]) {
    let out = Command::new("lxc").args(args).output().expect("lxc");
    assert!(out.status.success(), "lxc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The names of the instances of an LXD project.
pub fn lxc_names(project: &str) -> Vec<String> {
    let out = Command::new("lxc").args(["list", "--project", project, "-c", "n", "-f", "csv"]).output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect()).unwrap_or_default()
}

/// Deletes the raw LXD instance of a comparison run, even when the run fails.
pub struct RawInstance(pub String);

impl Drop for RawInstance {
    fn drop(&mut self) {
        let _ = Command::new("lxc").args(["delete", "-f", &self.0]).output();
    }
}
