//! Daemon benchmarks against the real binary: `GET /v1/changes` latency with 1,000 changes of
//! 10 tasks in the state (p50/p99; the response is read whole but not decoded), idle RSS, and
//! the first request after a standby (the socket starts the daemon again) against a request to
//! a running daemon (needs a healthy LXD: the daemon stands by only then). Prints
//! `daemon-bench <name> <values>`.

use std::time::{Duration, Instant};

use chrono::Utc;
use workshop_actors::state::{LogLevel, State};
use workshop_integration::Daemon;
use workshop_integration::activation::Activator;

const CHANGES: usize = 1000;
const TASKS: usize = 10;
const REQUESTS: usize = 300;
/// Standbys measured (each waits for the daemon to stand by again).
const REACTIVATIONS: usize = 7;
/// What re-activation may add to a request.
const REACTIVATION_TARGET: Duration = Duration::from_millis(200);

fn state_with_changes() -> Vec<u8> {
    let now = Utc::now();
    let mut st = State::new();
    for c in 0..CHANGES {
        let change = st.new_change("launch", &format!("Launch \"ws{c}\" workshop"), now);
        st.change_mut(&change).unwrap().set("project-id", "0123abcd");
        let mut prev: Option<String> = None;
        for t in 0..TASKS {
            let task = st.new_task("create-workshop", &format!("Task {t} of ws{c}"), now);
            let tk = st.task_mut(&task).unwrap();
            tk.set("workshop", format!("ws{c}"));
            tk.logf(LogLevel::Info, "a line of log output", now);
            st.add_task(&change, &task);
            if let Some(p) = &prev {
                st.wait_for(&task, p);
            }
            prev = Some(task);
        }
    }
    st.to_json()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `GET /v1/system-info` on `socket`, timed.
fn timed_request(socket: &std::path::Path) -> Duration {
    let started = Instant::now();
    let (status, _) = Daemon::http_bytes(socket, "GET", "/v1/system-info", None);
    assert_eq!(status, 200);
    started.elapsed()
}

/// A request to a running daemon against the first one after a standby.
fn reactivation() {
    let a = Activator::start(&[("WORKSHOP_STANDBY_AFTER", "1s"), ("WORKSHOP_DEBUG", "0")]);
    timed_request(&a.socket());
    let mut running: Vec<Duration> = (0..REQUESTS).map(|_| timed_request(&a.socket())).collect();
    let mut first: Vec<Duration> = Vec::new();
    for round in 1..=REACTIVATIONS {
        assert!(a.wait_for_exits(round, Duration::from_secs(60)), "no standby (is LXD up?):\n{}", a.log());
        first.push(timed_request(&a.socket()));
        assert_eq!(a.starts(), round + 1, "the request did not start the daemon");
    }
    running.sort();
    first.sort();
    let (running_p50, first_p50) = (percentile(&running, 0.5), percentile(&first, 0.5));
    let added = first_p50.saturating_sub(running_p50);
    println!(
        "daemon-bench reactivation running_p50_ms={:.2} first_after_standby_p50_ms={:.1} max_ms={:.1} added_ms={:.1} target_ms={} {}",
        running_p50.as_secs_f64() * 1e3,
        first_p50.as_secs_f64() * 1e3,
        first.last().unwrap().as_secs_f64() * 1e3,
        added.as_secs_f64() * 1e3,
        REACTIVATION_TARGET.as_millis(),
        if added < REACTIVATION_TARGET { "ok" } else { "OVER" },
    );
}

fn main() {
    reactivation();

    // Idle RSS of a fresh daemon.
    let idle = Daemon::start_with(&[("WORKSHOP_DEBUG", "0")]);
    std::thread::sleep(Duration::from_secs(2));
    println!("daemon-bench idle-rss rss_mib={:.1}", rss_kib(idle.pid()) as f64 / 1024.0);
    drop(idle);

    // A daemon whose state already holds 1,000 changes.
    let mut daemon = Daemon::start_with(&[("WORKSHOP_DEBUG", "0")]);
    // Written while the daemon is stopped (a running one owns the file and rewrites it).
    daemon.stop_with(libc::SIGTERM);
    std::fs::write(daemon.dir.path().join("state.json"), state_with_changes()).unwrap();
    daemon.restart();
    for (name, path) in [
        ("get-changes", "/v1/changes?select=all"),
        ("get-changes-in-progress", "/v1/changes?select=in-progress"),
    ] {
        let mut times: Vec<Duration> = (0..REQUESTS)
            .map(|_| {
                let started = Instant::now();
                let (status, _) = Daemon::http_bytes(&daemon.socket(), "GET", path, None);
                assert_eq!(status, 200);
                started.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "daemon-bench {name} changes={CHANGES} p50_ms={:.2} p99_ms={:.2}",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3
        );
    }
    let (_, listing) = Daemon::http(&daemon.socket(), "GET", "/v1/changes?select=all", None);
    let loaded = listing["result"].as_array().map_or(0, Vec::len);
    assert_eq!(loaded, CHANGES, "the daemon did not load the prepared state");
    println!(
        "daemon-bench loaded-rss changes={CHANGES} rss_mib={:.1}",
        rss_kib(daemon.pid()) as f64 / 1024.0
    );
}
