//! Scheduler tests: walking task graphs forward and back, lanes, retries, waits,
//! cleanups, unknown kinds and restart recovery.

use std::time::Duration;

use chrono::TimeZone;

use super::scheduler::CLEANUP_RETRY;
use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
}

struct Harness {
    st: State,
    sched: Scheduler,
    now: DateTime<Utc>,
    /// (task summary, op) in start order.
    ran: Vec<(String, Op)>,
}

impl Harness {
    fn new(kinds: &[(&str, bool, bool)]) -> Harness {
        let mut sched = Scheduler::new();
        for (kind, undo, cleanup) in kinds {
            sched.add_kind(kind, *undo, *cleanup);
        }
        Harness { st: State::new(), sched, now: t0(), ran: Vec::new() }
    }

    fn change(&mut self) -> ChangeId {
        self.st.new_change("launch", "Launch \"ws\" workshop", self.now)
    }

    fn task(&mut self, chg: &ChangeId, kind: &str, name: &str) -> TaskId {
        let t = self.st.new_task(kind, name, self.now);
        self.st.add_task(chg, &t);
        t
    }

    fn chain(&mut self, chg: &ChangeId, kind: &str, names: &[&str]) -> Vec<TaskId> {
        let ids: Vec<TaskId> = names.iter().map(|n| self.task(chg, kind, n)).collect();
        for pair in ids.windows(2) {
            self.st.wait_for(&pair[1], &pair[0]);
        }
        ids
    }

    /// Ensure, run every started handler to `outcome`, repeat until nothing starts.
    fn settle(&mut self, outcome: impl Fn(&Task, Op) -> Outcome) {
        for _ in 0..100 {
            let ensured = self.sched.ensure(&mut self.st, self.now);
            if ensured.start.is_empty() {
                return;
            }
            for start in ensured.start {
                let task = self.st.task(&start.task).unwrap();
                self.ran.push((task.summary.clone(), start.op));
                let result = outcome(task, start.op);
                self.now += chrono::Duration::seconds(1);
                self.sched.finished(&mut self.st, &start.task, start.op, result, self.now);
                assert_eq!(self.st.to_json(), super::tests::fresh_json(&self.st));
            }
        }
        panic!("did not settle");
    }

    fn status(&self, id: &TaskId) -> Status {
        self.st.task(id).unwrap().status()
    }

    fn statuses(&self, ids: &[TaskId]) -> Vec<Status> {
        ids.iter().map(|id| self.status(id)).collect()
    }

    fn ran(&self) -> Vec<(&str, Op)> {
        self.ran.iter().map(|(s, op)| (s.as_str(), *op)).collect()
    }
}

fn done(_: &Task, _: Op) -> Outcome {
    Outcome::Done
}

fn fail_on(name: &'static str) -> impl Fn(&Task, Op) -> Outcome {
    move |t, op| {
        if t.summary == name && op == Op::Do {
            Outcome::Failed(format!("{name} broke"))
        } else {
            Outcome::Done
        }
    }
}

#[test]
fn do_walks_through_a_chain_in_order() {
    let mut h = Harness::new(&[("step", true, false)]);
    let chg = h.change();
    let ids = h.chain(&chg, "step", &["a", "b", "c"]);

    let first = h.sched.ensure(&mut h.st, h.now);
    assert_eq!(
        first.start,
        [Start { task: ids[0].clone(), change: chg.clone(), kind: "step".into(), op: Op::Do }]
    );
    assert_eq!(h.status(&ids[0]), Status::Doing);
    assert!(h.sched.is_running(&ids[0]));
    assert_eq!(h.st.change_status(&chg), Status::Doing);
    // Already running: not started twice.
    assert!(h.sched.ensure(&mut h.st, h.now).start.is_empty());
    h.now += chrono::Duration::seconds(2);
    h.sched.finished(&mut h.st, &ids[0], Op::Do, Outcome::Done, h.now);
    assert_eq!(h.st.task(&ids[0]).unwrap().doing_time(), Duration::from_secs(2));
    assert_eq!(h.sched.running().count(), 0);

    h.settle(done);
    assert_eq!(h.ran(), [("b", Op::Do), ("c", Op::Do)]);
    assert_eq!(h.statuses(&ids), [Status::Done; 3]);
    assert_eq!(h.st.change_status(&chg), Status::Done);
    assert!(h.st.change_ready(&chg));
    assert_eq!(h.st.change(&chg).unwrap().ready_time(), Some(h.now));
    assert!(h.st.change(&chg).unwrap().is_clean());
}

#[test]
fn a_failure_undoes_done_tasks_in_reverse_order() {
    let mut h = Harness::new(&[("step", true, false)]);
    let chg = h.change();
    let ids = h.chain(&chg, "step", &["a", "b", "c", "d"]);
    h.settle(fail_on("c"));
    assert_eq!(h.ran(), [("a", Op::Do), ("b", Op::Do), ("c", Op::Do), ("b", Op::Undo), ("a", Op::Undo)]);
    assert_eq!(h.statuses(&ids), [Status::Undone, Status::Undone, Status::Error, Status::Hold]);
    assert_eq!(h.st.change_status(&chg), Status::Error);
    assert_eq!(h.st.change_err(&chg).unwrap(), "cannot perform the following tasks:\n- c (c broke)");
    let log = h.st.task(&ids[2]).unwrap().log();
    assert!(log.last().unwrap().ends_with(" ERROR c broke"), "{log:?}");
}

#[test]
fn tasks_without_undo_are_skipped_when_walking_back() {
    let mut h = Harness::new(&[("step", true, false), ("download", false, false)]);
    let chg = h.change();
    let a = h.task(&chg, "step", "a");
    let b = h.task(&chg, "download", "b");
    let c = h.task(&chg, "step", "c");
    h.st.wait_for(&b, &a);
    h.st.wait_for(&c, &b);
    h.settle(fail_on("c"));
    assert_eq!(h.ran(), [("a", Op::Do), ("b", Op::Do), ("c", Op::Do), ("a", Op::Undo)]);
    assert_eq!(h.statuses(&[a, b, c]), [Status::Undone, Status::Done, Status::Error]);
}

#[test]
fn an_error_aborts_its_lane_only() {
    let mut h = Harness::new(&[("step", true, false)]);
    let chg = h.change();
    let a = h.chain(&chg, "step", &["a1", "a2"]);
    let b = h.chain(&chg, "step", &["b1", "b2"]);
    let (l1, l2) = (h.st.new_lane(), h.st.new_lane());
    TaskSet::new(a.clone()).join_lane(&mut h.st, l1);
    TaskSet::new(b.clone()).join_lane(&mut h.st, l2);
    h.settle(fail_on("a2"));
    assert_eq!(h.statuses(&a), [Status::Undone, Status::Error]);
    assert_eq!(h.statuses(&b), [Status::Done, Status::Done]);
    assert_eq!(h.st.change_status(&chg), Status::Error);
}

#[test]
fn a_failure_returns_running_tasks_of_its_lane_to_cancel() {
    let mut h = Harness::new(&[("step", true, false), ("slow", false, false)]);
    let chg = h.change();
    let a = h.task(&chg, "step", "a");
    let b = h.task(&chg, "slow", "b");
    let ensured = h.sched.ensure(&mut h.st, h.now);
    assert_eq!(ensured.start.len(), 2);
    let cancel = h.sched.finished(&mut h.st, &a, Op::Do, Outcome::Failed("no".into()), h.now);
    assert_eq!(cancel, [b.as_str()]);
    assert_eq!(h.status(&b), Status::Abort);
    // Reported once only.
    assert!(h.sched.ensure(&mut h.st, h.now).cancel.is_empty());
    // The cancelled handler has no undo: it is held.
    h.sched.finished(&mut h.st, &b, Op::Do, Outcome::Cancelled, h.now);
    assert_eq!(h.status(&b), Status::Hold);
    assert_eq!(h.st.change_status(&chg), Status::Error);
}

#[test]
fn aborting_a_change_cancels_running_tasks_and_undoes() {
    let mut h = Harness::new(&[("step", true, false)]);
    let chg = h.change();
    let ids = h.chain(&chg, "step", &["a", "b", "c"]);
    h.sched.ensure(&mut h.st, h.now);
    h.sched.finished(&mut h.st, &ids[0], Op::Do, Outcome::Done, h.now);
    h.sched.ensure(&mut h.st, h.now); // b running
    let cancel = h.sched.abort(&mut h.st, &chg, h.now);
    assert_eq!(cancel, [ids[1].clone()]);
    assert_eq!(h.statuses(&ids), [Status::Undo, Status::Abort, Status::Hold]);
    // a must wait for b to be ready before being undone.
    assert!(h.sched.ensure(&mut h.st, h.now).start.is_empty());
    // b's handler completed anyway: it was done, so it is undone too.
    h.sched.finished(&mut h.st, &ids[1], Op::Do, Outcome::Done, h.now);
    assert_eq!(h.status(&ids[1]), Status::Undo);
    h.settle(done);
    assert_eq!(h.ran(), [("b", Op::Undo), ("a", Op::Undo)]);
    assert_eq!(h.statuses(&ids), [Status::Undone, Status::Undone, Status::Hold]);
    assert_eq!(h.st.change_status(&chg), Status::Undone);
}

#[test]
fn aborted_task_not_running_is_handled_by_ensure() {
    let mut h = Harness::new(&[("step", true, false), ("plain", false, false)]);
    let chg = h.change();
    let a = h.task(&chg, "step", "a");
    let b = h.task(&chg, "plain", "b");
    // As after a restart: both were Doing, nothing is running.
    h.st.set_task_status(&a, Status::Doing, h.now);
    h.st.set_task_status(&b, Status::Doing, h.now);
    h.st.abort_change(&chg, h.now);
    let ensured = h.sched.ensure(&mut h.st, h.now);
    assert_eq!(ensured.start.len(), 1);
    assert_eq!(ensured.start[0].op, Op::Undo);
    assert_eq!(h.status(&a), Status::Undoing);
    assert_eq!(h.status(&b), Status::Hold);
}

#[test]
fn retry_reschedules_with_next_wakeup() {
    let mut h = Harness::new(&[("step", true, false)]);
    let chg = h.change();
    let a = h.task(&chg, "step", "a");
    h.sched.ensure(&mut h.st, h.now);
    let retry = Outcome::Retry { after: Duration::from_secs(10), reason: "busy".into() };
    h.sched.finished(&mut h.st, &a, Op::Do, retry, h.now);
    assert_eq!(h.status(&a), Status::Doing);
    let due = h.now + chrono::Duration::seconds(10);
    assert_eq!(h.st.task(&a).unwrap().at_time(), Some(due));
    assert!(h.st.task(&a).unwrap().log()[0].ends_with(" INFO busy"));

    let ensured = h.sched.ensure(&mut h.st, h.now + chrono::Duration::seconds(5));
    assert!(ensured.start.is_empty());
    assert_eq!(ensured.next_wakeup, Some(due));

    let ensured = h.sched.ensure(&mut h.st, due);
    assert_eq!(ensured.start.len(), 1);
    assert_eq!(ensured.next_wakeup, None);
    assert_eq!(h.st.task(&a).unwrap().at_time(), None);

    // Retry without delay runs at the next ensure.
    let retry = Outcome::Retry { after: Duration::ZERO, reason: String::new() };
    h.sched.finished(&mut h.st, &a, Op::Do, retry, due);
    assert_eq!(h.st.task(&a).unwrap().log().len(), 1);
    assert_eq!(h.sched.ensure(&mut h.st, due).start.len(), 1);
}

#[test]
fn wait_then_continue_reruns_the_task() {
    let mut h = Harness::new(&[("step", true, false)]);
    let chg = h.change();
    let ids = h.chain(&chg, "step", &["a", "b"]);
    h.sched.ensure(&mut h.st, h.now);
    let wait = Outcome::Wait { reason: "error: disk full".into(), waited: Status::Doing };
    h.sched.finished(&mut h.st, &ids[0], Op::Do, wait, h.now);
    assert_eq!(h.status(&ids[0]), Status::Wait);
    assert_eq!(h.st.task(&ids[0]).unwrap().waited_status(), Status::Doing);
    assert_eq!(h.st.change_status(&chg), Status::Wait);
    assert!(h.sched.ensure(&mut h.st, h.now).start.is_empty());

    let resumed = h.sched.continue_waiting(&mut h.st, &chg, h.now);
    assert_eq!(resumed, [ids[0].clone()]);
    h.settle(done);
    assert_eq!(h.ran(), [("a", Op::Do), ("b", Op::Do)]);
    assert_eq!(h.statuses(&ids), [Status::Done, Status::Done]);
}

#[test]
fn wait_then_abort_holds_the_waiter_and_undoes_the_rest() {
    let mut h = Harness::new(&[("step", true, false)]);
    let chg = h.change();
    let ids = h.chain(&chg, "step", &["a", "b", "c"]);
    h.settle(|t, _| {
        if t.summary == "b" {
            Outcome::Wait { reason: "failed".into(), waited: Status::Doing }
        } else {
            Outcome::Done
        }
    });
    assert_eq!(h.st.change_status(&chg), Status::Wait);
    let cancel = h.sched.abort_waiting(&mut h.st, &chg, h.now);
    assert!(cancel.is_empty());
    h.ran.clear();
    h.settle(done);
    assert_eq!(h.ran(), [("a", Op::Undo)]);
    assert_eq!(h.statuses(&ids), [Status::Undone, Status::Hold, Status::Hold]);
    assert_eq!(h.st.change_status(&chg), Status::Undone);
}

#[test]
fn cleanup_runs_once_after_the_change_is_ready() {
    let mut h = Harness::new(&[("create", true, true), ("step", true, false)]);
    let chg = h.change();
    let a = h.task(&chg, "create", "a");
    let b = h.task(&chg, "step", "b");
    h.st.wait_for(&b, &a);
    h.sched.ensure(&mut h.st, h.now);
    h.sched.finished(&mut h.st, &a, Op::Do, Outcome::Done, h.now);
    // a is Done but the change is not ready: no cleanup yet.
    let ensured = h.sched.ensure(&mut h.st, h.now);
    assert_eq!(ensured.start.len(), 1);
    assert_eq!(ensured.start[0].op, Op::Do);
    h.sched.finished(&mut h.st, &b, Op::Do, Outcome::Done, h.now);

    let ensured = h.sched.ensure(&mut h.st, h.now);
    assert_eq!(ensured.start.len(), 1);
    assert_eq!((ensured.start[0].task.as_str(), ensured.start[0].op), (a.as_str(), Op::Cleanup));
    assert!(h.st.task(&b).unwrap().is_clean());
    assert!(!h.st.change(&chg).unwrap().is_clean());

    // A failed cleanup is retried later, not immediately.
    h.sched.finished(&mut h.st, &a, Op::Cleanup, Outcome::Failed("busy".into()), h.now);
    let ensured = h.sched.ensure(&mut h.st, h.now);
    assert!(ensured.start.is_empty());
    let due = h.now + chrono::Duration::from_std(CLEANUP_RETRY).unwrap();
    assert_eq!(ensured.next_wakeup, Some(due));
    assert_eq!(h.sched.ensure(&mut h.st, due).start.len(), 1);
    h.sched.finished(&mut h.st, &a, Op::Cleanup, Outcome::Done, due);
    assert!(h.st.change(&chg).unwrap().is_clean());
    assert!(h.sched.ensure(&mut h.st, due).start.is_empty());
    assert_eq!(h.status(&a), Status::Done);
}

#[test]
fn unknown_kinds_are_logged_and_marked_done() {
    let mut h = Harness::new(&[("step", true, false)]);
    let chg = h.change();
    let a = h.task(&chg, "step", "a");
    let x = h.task(&chg, "from-the-future", "x");
    let c = h.task(&chg, "step", "c");
    h.st.wait_for(&x, &a);
    h.st.wait_for(&c, &x);
    h.settle(done);
    assert_eq!(h.ran(), [("a", Op::Do), ("c", Op::Do)]);
    assert_eq!(h.statuses(&[a, x.clone(), c]), [Status::Done; 3]);
    let log = h.st.task(&x).unwrap().log();
    assert!(log[0].ends_with(" INFO no handler for task \"from-the-future\", task ignored"), "{log:?}");
}

#[test]
fn unknown_kinds_are_skipped_when_undoing() {
    let mut h = Harness::new(&[("step", true, false)]);
    let chg = h.change();
    let a = h.task(&chg, "step", "a");
    let x = h.task(&chg, "from-the-future", "x");
    let c = h.task(&chg, "step", "c");
    h.st.wait_for(&x, &a);
    h.st.wait_for(&c, &x);
    h.settle(fail_on("c"));
    assert_eq!(h.ran(), [("a", Op::Do), ("c", Op::Do), ("a", Op::Undo)]);
    assert_eq!(h.statuses(&[a, x, c]), [Status::Undone, Status::Done, Status::Error]);
}

#[test]
fn restart_reruns_tasks_left_running() {
    let mut h = Harness::new(&[("step", true, false)]);
    let chg = h.change();
    let a = h.task(&chg, "step", "a");
    let b = h.task(&chg, "step", "b");
    let c = h.task(&chg, "step", "c");
    h.st.wait_for(&c, &b);
    h.sched.ensure(&mut h.st, h.now);
    h.sched.finished(&mut h.st, &b, Op::Do, Outcome::Done, h.now);
    h.sched.ensure(&mut h.st, h.now);
    h.st.set_task_status(&b, Status::Undoing, h.now);
    assert_eq!(
        h.statuses(&[a.clone(), b.clone(), c.clone()]),
        [Status::Doing, Status::Undoing, Status::Doing]
    );

    // Crash: reload the checkpoint with a fresh scheduler.
    let bytes = h.st.to_json();
    let mut st = State::from_json(&bytes).unwrap();
    let mut sched = Scheduler::new();
    sched.add_kind("step", true, false);
    let ensured = sched.ensure(&mut st, h.now);
    let started: Vec<(&str, Op)> = ensured.start.iter().map(|s| (s.task.as_str(), s.op)).collect();
    assert_eq!(started, [(a.as_str(), Op::Do), (b.as_str(), Op::Undo), (c.as_str(), Op::Do)]);
}

#[test]
fn cancelled_without_abort_runs_again() {
    let mut h = Harness::new(&[("step", true, false)]);
    let chg = h.change();
    let a = h.task(&chg, "step", "a");
    h.sched.ensure(&mut h.st, h.now);
    h.sched.finished(&mut h.st, &a, Op::Do, Outcome::Cancelled, h.now);
    assert_eq!(h.status(&a), Status::Doing);
    assert_eq!(h.sched.ensure(&mut h.st, h.now).start.len(), 1);
}

#[test]
fn stale_results_are_ignored() {
    let mut h = Harness::new(&[("step", true, false)]);
    let chg = h.change();
    let a = h.task(&chg, "step", "a");
    h.sched.finished(&mut h.st, &a, Op::Do, Outcome::Done, h.now);
    assert_eq!(h.status(&a), Status::Do);
}

#[test]
fn blocked_predicates_serialise_tasks() {
    let mut h = Harness::new(&[("exclusive", true, false)]);
    h.sched.add_blocked(Box::new(|t, running| {
        t.kind == "exclusive" && running.iter().any(|r| r.kind == "exclusive")
    }));
    let c1 = h.change();
    let c2 = h.change();
    let a = h.task(&c1, "exclusive", "a");
    let b = h.task(&c2, "exclusive", "b");
    let ensured = h.sched.ensure(&mut h.st, h.now);
    assert_eq!(ensured.start.len(), 1);
    assert_eq!(h.status(&b), Status::Do);
    h.sched.finished(&mut h.st, &a, Op::Do, Outcome::Done, h.now);
    assert_eq!(h.sched.ensure(&mut h.st, h.now).start[0].task, b);
}
