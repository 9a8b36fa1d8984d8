//! Checkpoint cost, for states of 10, 50, 100 and 1000 changes of 10 tasks each with
//! realistic data and logs: the durable write that follows a message touching one task
//! (a journal append, fsync included), and a compaction (the whole snapshot written
//! atomically), as the state engine does them.
//! Prints `checkpoint changes=N median_ms=X ...` per size.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::json;
use workshop_actors::state::{LogLevel, State, Status, Store};

const TASK_KINDS: [&str; 10] = [
    "download-base",
    "create-workshop-storage",
    "create-state-storage",
    "create-workshop",
    "mount-project",
    "configure-timezone",
    "retrieve-sdk",
    "install-sdk",
    "auto-connect",
    "start-workshop",
];

const WORKSHOP_FILE: &str = "name: dev\nbase: ubuntu@24.04\nsdks:\n  - name: go\n    channel: latest/stable\n  - name: node\n    channel: 22/stable\nactions:\n  build: |\n    go build ./...\n  test: |\n    go test ./...\nconnections:\n  - plug: go:cache\n    slot: system:home\n";

fn build_state(changes: usize) -> State {
    let t0 = Utc.with_ymd_and_hms(2025, 6, 1, 8, 0, 0).unwrap();
    let mut st = State::new();
    st.set("start-of-operation-time", t0);
    st.set("conns", json!({"dev/go:cache system:home": {"interface": "mount", "auto": true}}));
    for c in 0..changes {
        let now = t0 + chrono::Duration::seconds(c as i64 * 60);
        let ws = format!("ws{c}");
        let chg = st.new_change("launch", &format!("Launch \"{ws}\" workshop"), now);
        {
            let change = st.change_mut(&chg).unwrap();
            change.set("user", 1000);
            change.set("project-id", "5c1f3a9e0b7d4e2a8f6c1d3b9a7e5f20");
            change.set(&format!("{ws}_new_format"), 3);
            change.set(
                &format!("{ws}_new_base"),
                json!({"name": "ubuntu@24.04", "fingerprint": "a3f5c0e1d2b4968877e6d5c4b3a29180f1e2d3c4b5a69788"}),
            );
            change.set(
                &format!("{ws}_new_sdks"),
                json!([
                    {"name": "go", "package-id": "go-7fa1", "channel": "latest/stable", "source": "store", "revision": 42, "sha3-384": "9c2e4f1a6b8d0e3f5a7c9b1d2e4f6a8c0b2d4f6e8a0c2e4f6a8b0d2f4e6a8c0b2d4f6e8a0c2e4f6a8b0d2f4e6a8c0b"},
                    {"name": "node", "package-id": "node-31c2", "channel": "22/stable", "source": "store", "revision": 17, "sha3-384": "1b3d5f7a9c0e2f4a6c8e0a2c4e6a8c0e2a4c6e8a0c2e4a6c8e0a2c4e6a8c0e2a4c6e8a0c2e4a6c8e0a2c4e6a8c0e2a"}
                ]),
            );
        }
        let mut prev: Option<String> = None;
        for (i, kind) in TASK_KINDS.iter().enumerate() {
            let t = st.new_task(kind, &format!("{kind} for workshop \"{ws}\""), now);
            st.add_task(&chg, &t);
            if let Some(p) = &prev {
                st.wait_for(&t, p);
            }
            let task = st.task_mut(&t).unwrap();
            task.set("workshop", &ws);
            task.set(
                "project",
                json!({"path": "/home/user/src/project", "id": "5c1f3a9e0b7d4e2a8f6c1d3b9a7e5f20"}),
            );
            if *kind == "create-workshop" {
                task.set("workshop-file", WORKSHOP_FILE);
            }
            if kind.ends_with("-sdk") {
                task.set("sdk", "go");
            }
            task.set_progress("", 1, 1);
            let entries = if i == 0 { 3 } else { 1 };
            for e in 0..entries {
                task.logf(LogLevel::Info, &format!("step {e} of {kind} finished"), now);
            }
            st.set_task_status(&t, Status::Done, now + chrono::Duration::seconds(i as i64));
            prev = Some(t);
        }
    }
    st.warn(None, "cannot determine system time zone: no such file", t0);
    st
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    // CHECKPOINT_BENCH_DIR picks the file system (default: a temp dir under $TMPDIR).
    let parent = std::env::var_os("CHECKPOINT_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    for changes in [10, 50, 100, 1000] {
        let dir = tempfile::tempdir_in(&parent).expect("temp dir");
        let (mut store, _) = Store::open(dir.path()).expect("open store");
        let mut st = build_state(changes);

        // Compaction: the whole state encoded from scratch and written atomically.
        let start = Instant::now();
        store.compact(&mut st).expect("compact");
        let cold_ms = start.elapsed().as_secs_f64() * 1e3;
        let mut compactions = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            store.compact(&mut st).expect("compact");
            compactions.push(start.elapsed());
        }

        // Steady state: each checkpoint follows a message that touched one task (a
        // progress update with a log line, as a running handler does).
        let runs = 101;
        let mut samples = Vec::with_capacity(runs);
        let last_task = st.tasks().last().expect("tasks").id.clone();
        for i in 0..runs {
            let now = Utc::now();
            let task = st.task_mut(&last_task).expect("task");
            task.set_progress("Downloading image", i as u64, runs as u64);
            task.logf(LogLevel::Info, &format!("downloaded chunk {i}"), now);
            let start = Instant::now();
            store.checkpoint(&mut st).expect("checkpoint");
            samples.push(start.elapsed());
        }
        let snapshot = std::fs::metadata(dir.path().join("state.json")).map(|m| m.len()).unwrap_or(0);
        println!(
            "checkpoint changes={changes} median_ms={:.3} p99_ms={:.3} compact_ms={:.3} cold_compact_ms={cold_ms:.3} \
             snapshot_bytes={snapshot}",
            median(samples.clone()).as_secs_f64() * 1e3,
            p99(samples).as_secs_f64() * 1e3,
            median(compactions).as_secs_f64() * 1e3,
        );
    }
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}
