//! Tests of the State document: ids, status derivation, errors, JSON.

use chrono::TimeZone;
use serde_json::json;

use super::*;

fn at(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(s)
}

/// A change with one task per status; returns (change, task ids).
fn change_with(st: &mut State, statuses: &[Status]) -> (ChangeId, Vec<TaskId>) {
    let chg = st.new_change("launch", "Launch \"ws\" workshop", at(0));
    let ids = statuses
        .iter()
        .map(|s| {
            let t = st.new_task("k", "task", at(0));
            st.add_task(&chg, &t);
            match s {
                Status::Wait => st.set_task_to_wait(&t, Status::Done),
                s => st.set_task_status(&t, *s, at(1)),
            }
            t
        })
        .collect();
    (chg, ids)
}

#[test]
fn ids_are_monotonic_decimal_strings() {
    let mut st = State::new();
    assert_eq!(st.new_change("a", "a", at(0)), "1");
    assert_eq!(st.new_change("a", "a", at(0)), "2");
    assert_eq!(st.new_task("a", "a", at(0)), "1");
    assert_eq!(st.new_lane(), 1);
    assert_eq!(st.new_lane(), 2);
    assert!(st.change("01").is_none());
    assert!(st.change("+1").is_none());
    assert!(st.task("x").is_none());
}

#[test]
fn derived_change_status_follows_priority() {
    use Status::*;
    let cases: &[(&[Status], Status)] = &[
        (&[Do, Done], Do),
        (&[Done, Error], Error),
        (&[Undone, Error], Error),
        (&[Done, Hold], Done),
        (&[Undone, Done, Hold], Undone),
        (&[Doing, Undo], Undo),
        (&[Undoing, Undo], Undoing),
        (&[Abort, Undoing, Do], Abort),
        (&[Hold], Hold),
        (&[Doing, Do], Doing),
    ];
    for (statuses, want) in cases {
        let mut st = State::new();
        let (chg, _) = change_with(&mut st, statuses);
        assert_eq!(st.change_status(&chg), *want, "{statuses:?}");
        assert_eq!(st.change_ready(&chg), want.is_ready(), "{statuses:?}");
    }
}

#[test]
fn change_without_tasks_is_hold_but_not_ready_and_explicit_status_wins() {
    let mut st = State::new();
    let chg = st.new_change("x", "x", at(0));
    assert_eq!(st.change_status(&chg), Status::Hold);
    assert!(!st.change_ready(&chg));
    st.set_change_status(&chg, Status::Error, at(5));
    assert_eq!(st.change_status(&chg), Status::Error);
    assert!(st.change_ready(&chg));
    assert_eq!(st.change(&chg).unwrap().ready_time(), Some(at(5)));
    assert_eq!(st.change_status("999"), Status::Default);
}

#[test]
fn wait_status_when_everything_pending_is_blocked_by_a_waiter() {
    use Status::*;
    // A waiting task and a task that is blocked behind it.
    let mut st = State::new();
    let (chg, ids) = change_with(&mut st, &[Done, Wait, Do]);
    st.wait_for(&ids[2], &ids[1]);
    assert_eq!(st.change_status(&chg), Wait);
    assert!(!st.change_ready(&chg));

    // Blocked through a chain of Do tasks.
    let mut st = State::new();
    let (chg, ids) = change_with(&mut st, &[Wait, Do, Do]);
    st.wait_for(&ids[1], &ids[0]);
    st.wait_for(&ids[2], &ids[1]);
    assert_eq!(st.change_status(&chg), Wait);

    // An Undo task waits for its halt tasks; one of them is waiting.
    let mut st = State::new();
    let (chg, ids) = change_with(&mut st, &[Undo, Wait]);
    st.wait_for(&ids[1], &ids[0]);
    assert_eq!(st.change_status(&chg), Wait);

    // A pending task that does not depend on the waiter keeps the change going.
    let mut st = State::new();
    let (chg, _) = change_with(&mut st, &[Wait, Do]);
    assert_eq!(st.change_status(&chg), Do);

    // A running task too.
    let mut st = State::new();
    let (chg, ids) = change_with(&mut st, &[Wait, Doing, Do]);
    st.wait_for(&ids[2], &ids[0]);
    assert_eq!(st.change_status(&chg), Doing);

    // Only ready tasks besides the waiter.
    let mut st = State::new();
    let (chg, _) = change_with(&mut st, &[Wait, Done, Error]);
    assert_eq!(st.change_status(&chg), Wait);

    // Cyclic dependencies do not loop forever.
    let mut st = State::new();
    let (chg, ids) = change_with(&mut st, &[Wait, Do, Do]);
    st.wait_for(&ids[1], &ids[2]);
    st.wait_for(&ids[2], &ids[1]);
    assert_eq!(st.change_status(&chg), Do);
}

#[test]
fn change_err_lists_failed_tasks_errors() {
    let mut st = State::new();
    let (chg, ids) = change_with(&mut st, &[Status::Done, Status::Error, Status::Error]);
    assert_eq!(
        st.change_err(&chg).unwrap(),
        "internal inconsistency: change \"launch\" in ErrorStatus with no task errors logged"
    );
    for (i, id) in ids.iter().enumerate() {
        let t = st.task_mut(id).unwrap();
        t.summary = format!("Task {i}");
        t.logf(LogLevel::Info, "progress", at(2));
        t.logf(LogLevel::Error, &format!("boom {i}"), at(3));
    }
    assert_eq!(
        st.change_err(&chg).unwrap(),
        "cannot perform the following tasks:\n- Task 1 (boom 1)\n- Task 2 (boom 2)"
    );
    let (ok, _) = change_with(&mut st, &[Status::Done]);
    assert_eq!(st.change_err(&ok), None);
}

#[test]
fn ready_times_are_recorded() {
    let mut st = State::new();
    let (chg, ids) = change_with(&mut st, &[Status::Do, Status::Do]);
    st.set_task_status(&ids[0], Status::Done, at(10));
    assert_eq!(st.task(&ids[0]).unwrap().ready_time(), Some(at(10)));
    assert_eq!(st.change(&chg).unwrap().ready_time(), None);
    st.set_task_status(&ids[1], Status::Error, at(20));
    assert_eq!(st.change(&chg).unwrap().ready_time(), Some(at(20)));
    // Done requested for an aborted task keeps it aborted.
    let (_, ids) = change_with(&mut st, &[Status::Abort]);
    st.set_task_status(&ids[0], Status::Done, at(30));
    assert_eq!(st.task(&ids[0]).unwrap().status(), Status::Abort);
}

#[test]
#[should_panic(expected = "cannot add one \"k\" task to multiple changes")]
fn a_task_belongs_to_one_change() {
    let mut st = State::new();
    let (_, ids) = change_with(&mut st, &[Status::Do]);
    let other = st.new_change("x", "x", at(0));
    st.add_task(&other, &ids[0]);
}

#[test]
fn data_bags() {
    let mut st = State::new();
    st.set("conns", json!({"a": {"auto": true}}));
    assert!(st.has("conns"));
    assert_eq!(st.get::<serde_json::Value>("conns").unwrap()["a"]["auto"], true);
    st.clear("conns");
    assert!(!st.has("conns"));
    let chg = st.new_change("launch", "Launch", at(0));
    let c = st.change_mut(&chg).unwrap();
    c.set("project-id", "abc");
    assert_eq!(c.get::<String>("project-id").as_deref(), Some("abc"));
    assert!(c.try_get::<u32>("project-id").is_err());
}

fn sample_state() -> State {
    let mut st = State::new();
    let chg = st.new_change("launch", "Launch \"ws\" workshop", at(0));
    st.change_mut(&chg).unwrap().set("project-id", "p1");
    let a = st.new_task("download-base", "Download base", at(0));
    let b = st.new_task("create-workshop", "Create", at(0));
    st.add_task(&chg, &a);
    st.add_task(&chg, &b);
    st.wait_for(&b, &a);
    let lane = st.new_lane();
    st.join_lane(&b, lane);
    st.set_task_status(&a, Status::Done, at(3));
    st.set_task_status(&b, Status::Doing, at(4));
    let t = st.task_mut(&b).unwrap();
    t.set("workshop", "ws");
    t.set_progress("Creating", 1, 3);
    t.logf(LogLevel::Info, "hello", at(4));
    t.doing_time = std::time::Duration::from_millis(250);
    t.at_time = Some(at(60));
    st.warn(None, "something", at(1));
    st
}

#[test]
fn json_document_shape() {
    let st = sample_state();
    let doc: serde_json::Value = serde_json::from_slice(&st.to_json()).unwrap();
    assert_eq!(doc["data"], json!({"patch-level": 1, "patch-sublevel": 1}));
    assert_eq!(doc["last-change-id"], 1);
    assert_eq!(doc["last-task-id"], 2);
    assert_eq!(doc["last-lane-id"], 1);
    assert_eq!(
        doc["changes"]["1"],
        json!({
            "id": "1", "kind": "launch", "summary": "Launch \"ws\" workshop", "status": 0,
            "data": {"project-id": "p1"}, "task-ids": ["1", "2"],
            "spawn-time": "2025-06-01T12:00:00Z",
        })
    );
    assert_eq!(
        doc["tasks"]["2"],
        json!({
            "id": "2", "kind": "create-workshop", "summary": "Create", "status": 3,
            "waited-status": 4, "progress": {"label": "Creating", "done": 1, "total": 3},
            "data": {"workshop": "ws"}, "wait-tasks": ["1"], "lanes": [1],
            "log": ["2025-06-01T12:00:04Z INFO hello"], "change": "1",
            "spawn-time": "2025-06-01T12:00:00Z", "doing-time": 250_000_000,
            "at-time": "2025-06-01T12:01:00Z",
        })
    );
    assert_eq!(doc["tasks"]["1"]["halt-tasks"], json!(["2"]));
    assert_eq!(doc["tasks"]["1"]["ready-time"], "2025-06-01T12:00:03Z");
    assert_eq!(doc["warnings"][0]["message"], "something");
    let empty: serde_json::Value = serde_json::from_slice(&State::new().to_json()).unwrap();
    assert!(empty.get("warnings").is_none());
}

#[test]
fn json_round_trip_is_stable() {
    let st = sample_state();
    let bytes = st.to_json();
    let back = State::from_json(&bytes).unwrap();
    assert_eq!(back.to_json(), bytes);
    assert_eq!(back.change_status("1"), Status::Doing);
    assert_eq!(back.task("2").unwrap().progress(), ("Creating", 1, 3));
    assert_eq!(back.all_warnings(0).len(), 1);
    let mut buf = vec![b'x'; 3];
    back.write_json(&mut buf);
    assert_eq!(buf, bytes);
}

#[test]
fn loads_reference_documents_tolerantly() {
    let doc = br#"{
        "data": {"patch-level": 1, "patch-sublevel": 0, "conns": {}},
        "changes": {"3": {"id": "3", "kind": "start", "summary": "Start \"ws\" workshop",
            "status": 0, "task-ids": ["7"], "spawn-time": "2025-01-02T03:04:05.123456789+01:00",
            "ready-time": "2025-01-02T03:05:00+01:00", "last-recorded-notice-status": 4}},
        "tasks": {"7": {"id": "7", "kind": "start-workshop", "summary": "Start", "status": 4,
            "waited-status": 0, "data": {"workshop": "ws", "force": true}, "change": "3",
            "spawn-time": "2025-01-02T03:04:05+01:00", "doing-time": 1500000000}},
        "warnings": [{"message": "m", "first-added": "2025-01-01T00:00:00Z",
            "last-added": "2025-01-01T00:00:00Z", "expire-after": "672h0m0s",
            "repeat-after": "24h0m0s"}],
        "notices": [], "last-change-id": 3, "last-task-id": 7, "last-lane-id": 0,
        "last-notice-id": 0
    }"#;
    let mut st = State::from_json(doc).unwrap();
    assert_eq!(st.change_status("3"), Status::Done);
    assert!(st.change_ready("3"));
    let t = st.task("7").unwrap();
    assert_eq!(t.waited_status(), Status::Done);
    assert_eq!(t.doing_time(), std::time::Duration::from_millis(1500));
    assert_eq!(t.get::<bool>("force"), Some(true));
    assert_eq!(
        st.change("3").unwrap().spawn_time(),
        Utc.with_ymd_and_hms(2025, 1, 2, 2, 4, 5).unwrap() + chrono::Duration::nanoseconds(123_456_789)
    );
    assert_eq!(st.new_change("x", "x", at(0)), "4");
    assert_eq!(st.new_task("x", "x", at(0)), "8");
    assert!(State::from_json(b"{\"data\":null,\"changes\":null,\"tasks\":null}").is_ok());
    assert!(matches!(State::from_json(b"not json"), Err(StateError::Parse(_))));
}

/// The state a store in `dir` would load, read from a copy of its files (opening a store
/// compacts, which must not disturb the store still writing to `dir`).
fn reload_copy(dir: &std::path::Path) -> State {
    let copy = tempfile::tempdir().unwrap();
    for name in ["state.json", "state.journal"] {
        std::fs::copy(dir.join(name), copy.path().join(name)).unwrap();
    }
    super::Store::open(copy.path()).unwrap().1
}

/// The document encoded from scratch, ignoring cached encodings.
pub(super) fn fresh_json(st: &State) -> Vec<u8> {
    let mut copy = st.clone();
    copy.tasks.values_mut().for_each(|t| t.json.invalidate());
    copy.changes.values_mut().for_each(|c| c.json.invalidate());
    copy.to_json()
}

#[test]
fn cached_encodings_follow_every_mutation() {
    let mut st = sample_state();
    type Step = Box<dyn Fn(&mut State)>;
    let steps: Vec<Step> = vec![
        Box::new(|st| st.task_mut("2").unwrap().set("force", true)),
        Box::new(|st| st.task_mut("1").unwrap().summary = "renamed".into()),
        Box::new(|st| st.set_task_status("2", Status::Done, at(9))),
        Box::new(|st| st.change_mut("1").unwrap().set("attempt", 2)),
        Box::new(|st| {
            let t = st.new_task("x", "x", at(10));
            st.add_task(&"1".to_owned(), &t);
            st.wait_for(&t, &"2".to_owned());
            st.join_lane(&t, 1);
        }),
        Box::new(|st| st.set_task_to_wait("3", Status::Doing)),
        Box::new(|st| st.abort_change("1", at(11))),
        Box::new(|st| st.set_task_clean("1")),
        Box::new(|st| st.set_change_status("1", Status::Error, at(12))),
        Box::new(|st| st.warn(Some(1000), "another", at(13))),
        Box::new(|st| st.set("key", 1)),
    ];
    // Every step is journaled too: reopening the store gives the same state.
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = super::Store::open(dir.path()).unwrap();
    store.compact(&mut st).unwrap();
    for (i, step) in steps.iter().enumerate() {
        st.to_json();
        step(&mut st);
        assert_eq!(st.to_json(), fresh_json(&st), "step {i}");
        store.checkpoint(&mut st).unwrap();
        let back = reload_copy(dir.path());
        assert_eq!(back.to_json(), fresh_json(&st), "journal after step {i}");
    }
    let _ = State::from_json(&st.to_json()).unwrap();
}
