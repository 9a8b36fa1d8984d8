//! Pure task scheduling: the reference task runner's rules without threads.
//!
//! The owner calls [`Scheduler::ensure`] to learn which handlers to start, runs them,
//! and reports each result with [`Scheduler::finished`], then ensures again. Cancelling
//! a running handler is the owner's job too: ids to cancel come back from `ensure`,
//! `finished` and `abort`.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{ChangeId, LogLevel, State, Status, Task, TaskId};

/// How long a failed cleanup waits before it is tried again (the reference retries it
/// at the next regular ensure, every 5 minutes).
pub const CLEANUP_RETRY: Duration = Duration::from_secs(5 * 60);

/// Which handler of a task kind to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// The do handler.
    Do,
    /// The undo handler.
    Undo,
    /// The cleanup handler (after the change is ready).
    Cleanup,
}

/// A handler the owner must start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The task to run.
    pub task: TaskId,
    /// Its change.
    pub change: ChangeId,
    /// Its kind (selects the handler).
    pub kind: String,
    /// Which handler.
    pub op: Op,
}

/// How a handler ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Success: the task becomes Done (Undone after undo; cleaned after cleanup).
    Done,
    /// Not now: run again after `after` (zero: at the next ensure).
    Retry {
        /// Delay before the next attempt.
        after: Duration,
        /// Why, logged in the task when not empty.
        reason: String,
    },
    /// Needs user action: the task goes to Wait and returns to `waited` when continued
    /// (Done when `waited` is Default).
    Wait {
        /// Why (traced).
        reason: String,
        /// The status after the wait.
        waited: Status,
    },
    /// Failure: the task goes to Error with this message logged and its lanes are aborted.
    Failed(String),
    /// The handler was cancelled (abort, or the owner shutting down).
    Cancelled,
}

/// Result of an ensure pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ensured {
    /// Handlers to start now (their tasks are now recorded as running).
    pub start: Vec<Start>,
    /// Running handlers whose tasks were aborted: cancel them.
    pub cancel: Vec<TaskId>,
    /// When a postponed task or cleanup becomes due, if any: ensure again by then.
    pub next_wakeup: Option<DateTime<Utc>>,
}

/// A predicate keeping a task from starting given the running tasks (serialisation).
pub type BlockedFn = Box<dyn Fn(&Task, &[&Task]) -> bool + Send>;

#[derive(Debug, Clone, Copy)]
struct Handlers {
    undo: bool,
    cleanup: bool,
}

#[derive(Debug, Clone, Copy)]
struct Running {
    op: Op,
    started: DateTime<Utc>,
    cancel_requested: bool,
}

/// Decides what runs when; owns the set of running handlers, not the handlers.
#[derive(Default)]
pub struct Scheduler {
    kinds: HashMap<String, Handlers>,
    running: HashMap<TaskId, Running>,
    cleanup_after: HashMap<TaskId, DateTime<Utc>>,
    blocked: Vec<BlockedFn>,
}

fn later(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn earliest(a: &mut Option<DateTime<Utc>>, t: DateTime<Utc>) {
    *a = Some(a.map_or(t, |a| a.min(t)));
}

/// Whether the task must wait: Do waits for its wait-tasks to be Done, Undo for its
/// halt-tasks to be ready.
fn must_wait(st: &State, t: &Task) -> bool {
    match t.status() {
        Status::Do => st.tasks_in(&t.wait_tasks).any(|w| w.status() != Status::Done),
        Status::Undo => st.tasks_in(&t.halt_tasks).any(|h| !h.status().is_ready()),
        _ => false,
    }
}

impl Scheduler {
    /// A scheduler with no known kinds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a task kind; tasks of unregistered kinds are ignored (marked Done).
    pub fn add_kind(&mut self, kind: &str, has_undo: bool, has_cleanup: bool) {
        self.kinds.insert(kind.to_owned(), Handlers { undo: has_undo, cleanup: has_cleanup });
    }

    /// Adds a predicate that keeps tasks from starting while it returns true.
    pub fn add_blocked(&mut self, blocked: BlockedFn) {
        self.blocked.push(blocked);
    }

    /// Ids of tasks whose handler is running.
    pub fn running(&self) -> impl Iterator<Item = &TaskId> {
        self.running.keys()
    }

    /// Whether a handler of this task is running.
    pub fn is_running(&self, task: &str) -> bool {
        self.running.contains_key(task)
    }

    /// One scheduling pass: settles tasks that need no handler (aborted tasks, undo of
    /// kinds without undo, unknown kinds), and returns the runnable tasks, now marked
    /// Doing/Undoing and recorded as running, plus cleanups of ready changes.
    pub fn ensure(&mut self, st: &mut State, now: DateTime<Utc>) -> Ensured {
        let mut out = Ensured::default();
        while self.pass(st, now, &mut out) {}
        out
    }

    /// Returns whether it changed a status that may unblock other tasks.
    fn pass(&mut self, st: &mut State, now: DateTime<Utc>, out: &mut Ensured) -> bool {
        let mut progressed = false;
        let change_keys: Vec<u64> = st.changes.keys().copied().collect();
        for ck in change_keys {
            let Some(chg) = st.changes.get(&ck) else { continue };
            let change = chg.id.clone();
            if chg.clean && st.change_ready(&change) {
                continue;
            }
            let task_ids = chg.task_ids.clone();
            let change_ready = st.change_ready(&change);
            for tid in task_ids {
                let Some(t) = st.task(&tid) else { continue };
                let handlers = self.kinds.get(&t.kind).copied();
                let has_undo = handlers.is_some_and(|h| h.undo);

                if t.status() == Status::Abort {
                    if let Some(run) = self.running.get_mut(&tid) {
                        if run.op != Op::Cleanup && !run.cancel_requested {
                            run.cancel_requested = true;
                            out.cancel.push(tid.clone());
                        }
                        continue;
                    }
                    try_undo(st, &tid, has_undo, now);
                    progressed = true;
                }
                if self.running.contains_key(&tid) {
                    continue;
                }
                let Some(t) = st.task(&tid) else { continue };
                let status = t.status();
                if status.is_ready() {
                    if !t.clean && change_ready {
                        self.clean(st, &tid, &change, handlers, now, out);
                    }
                    continue;
                }
                if status == Status::Wait || must_wait(st, t) {
                    continue;
                }
                if matches!(status, Status::Undo | Status::Undoing) && !has_undo {
                    // Nothing to undo: back to Done so the undo walk continues.
                    st.set_task_status(&tid, Status::Done, now);
                    progressed = true;
                    continue;
                }
                if let Some(at) = t.at_time
                    && at > now
                {
                    earliest(&mut out.next_wakeup, at);
                    continue;
                }
                if self.is_blocked(st, t) {
                    continue;
                }
                if handlers.is_none() {
                    let msg = format!("no handler for task {:?}, task ignored", t.kind);
                    tracing::info!(task = %tid, kind = %t.kind, "ignoring task of unknown kind");
                    if let Some(t) = st.task_mut(&tid) {
                        t.logf(LogLevel::Info, &msg, now);
                    }
                    st.set_task_status(&tid, Status::Done, now);
                    progressed = true;
                    continue;
                }
                let (op, running_status) = match status {
                    Status::Undo | Status::Undoing => (Op::Undo, Status::Undoing),
                    _ => (Op::Do, Status::Doing),
                };
                let kind = t.kind.clone();
                st.set_task_status(&tid, running_status, now);
                if let Some(t) = st.task_mut(&tid) {
                    t.at_time = None;
                }
                tracing::debug!(task = %tid, %kind, ?op, "starting task");
                self.running.insert(tid.clone(), Running { op, started: now, cancel_requested: false });
                out.start.push(Start { task: tid, change: change.clone(), kind, op });
            }
        }
        progressed
    }

    fn is_blocked(&self, st: &State, t: &Task) -> bool {
        if self.blocked.is_empty() {
            return false;
        }
        let running: Vec<&Task> = self.running.keys().filter_map(|id| st.task(id)).collect();
        self.blocked.iter().any(|blocked| blocked(t, &running))
    }

    fn clean(
        &mut self,
        st: &mut State,
        tid: &TaskId,
        change: &ChangeId,
        handlers: Option<Handlers>,
        now: DateTime<Utc>,
        out: &mut Ensured,
    ) {
        if !handlers.is_some_and(|h| h.cleanup) {
            st.set_task_clean(tid);
            return;
        }
        if let Some(&after) = self.cleanup_after.get(tid)
            && after > now
        {
            earliest(&mut out.next_wakeup, after);
            return;
        }
        let kind = st.task(tid).map(|t| t.kind.clone()).unwrap_or_default();
        self.running.insert(tid.clone(), Running { op: Op::Cleanup, started: now, cancel_requested: false });
        out.start.push(Start { task: tid.clone(), change: change.clone(), kind, op: Op::Cleanup });
    }

    /// Applies a handler's outcome. Returns running tasks that became aborted (a
    /// failure aborts its lanes): cancel them.
    pub fn finished(
        &mut self,
        st: &mut State,
        task: &TaskId,
        op: Op,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Vec<TaskId> {
        let Some(run) = self.running.remove(task) else {
            tracing::warn!(task = %task, ?op, "ignoring result of a task that is not running");
            return Vec::new();
        };
        if run.op != op {
            tracing::warn!(task = %task, ?op, running = ?run.op, "task result for another handler");
        }
        if run.op == Op::Cleanup {
            self.cleaned(st, task, outcome, now);
            return Vec::new();
        }
        let has_undo = st.task(task).and_then(|t| self.kinds.get(&t.kind)).is_some_and(|h| h.undo);
        let Some(t) = st.task_mut(task) else { return Vec::new() };
        let elapsed = (now - run.started).to_std().unwrap_or_default();
        match run.op {
            Op::Undo => t.undoing_time += elapsed,
            _ => t.doing_time += elapsed,
        }
        let status = t.status();
        match outcome {
            Outcome::Retry { .. } | Outcome::Wait { .. } | Outcome::Cancelled if status == Status::Abort => {
                try_undo(st, task, has_undo, now);
            }
            Outcome::Cancelled => {
                // Cancelled without an abort: the owner is stopping; it runs again later.
                tracing::debug!(task = %task, "task cancelled, will run again");
            }
            Outcome::Retry { after, reason } => {
                if !reason.is_empty() {
                    t.logf(LogLevel::Info, &reason, now);
                }
                if !after.is_zero() {
                    t.at_time = Some(later(now, after));
                }
            }
            Outcome::Wait { reason, waited } => {
                tracing::info!(task = %task, reason, "task waiting");
                st.set_task_to_wait(task, waited);
            }
            Outcome::Done => {
                let next = match status {
                    Status::Doing => Some(Status::Done),
                    Status::Abort => Some(Status::Undo),
                    Status::Undoing => Some(Status::Undone),
                    _ => None,
                };
                if let Some(next) = next {
                    st.set_task_status(task, next, now);
                }
            }
            Outcome::Failed(msg) => {
                let change = t.change.clone();
                let lanes = t.lanes().to_vec();
                let summary = t.summary.clone();
                st.abort_lanes(&change, &lanes, now);
                st.set_task_status(task, Status::Error, now);
                if let Some(t) = st.task_mut(task) {
                    t.logf(LogLevel::Error, &msg, now);
                }
                tracing::warn!(change = %change, task = %task, "Change {change} task ({summary}) failed: {msg}");
            }
        }
        self.aborted_running(st)
    }

    fn cleaned(&mut self, st: &mut State, task: &TaskId, outcome: Outcome, now: DateTime<Utc>) {
        match outcome {
            Outcome::Done => {
                self.cleanup_after.remove(task);
                st.set_task_clean(task);
            }
            Outcome::Retry { after, .. } => {
                self.cleanup_after.insert(task.clone(), later(now, after));
            }
            Outcome::Failed(msg) | Outcome::Wait { reason: msg, .. } => {
                tracing::debug!(task = %task, error = %msg, "cleanup failed, will retry");
                self.cleanup_after.insert(task.clone(), later(now, CLEANUP_RETRY));
            }
            Outcome::Cancelled => {}
        }
    }

    /// Running do handlers whose task is now Abort and not yet reported for cancelling.
    fn aborted_running(&mut self, st: &State) -> Vec<TaskId> {
        let mut cancel: Vec<TaskId> = self
            .running
            .iter_mut()
            .filter(|(id, run)| {
                run.op != Op::Cleanup
                    && !run.cancel_requested
                    && st.task(id).is_some_and(|t| t.status() == Status::Abort)
            })
            .map(|(id, run)| {
                run.cancel_requested = true;
                id.clone()
            })
            .collect();
        cancel.sort_by_key(|id| super::key(id));
        cancel
    }

    /// Aborts a change (see [`State::abort_change`]); returns running tasks to cancel.
    pub fn abort(&mut self, st: &mut State, change: &ChangeId, now: DateTime<Utc>) -> Vec<TaskId> {
        st.abort_change(change, now);
        self.aborted_running(st)
    }

    /// Resumes a change paused on error: its Wait tasks return to their waited status
    /// (usually Doing, so they run again). Returns the resumed tasks.
    pub fn continue_waiting(&mut self, st: &mut State, change: &ChangeId, now: DateTime<Utc>) -> Vec<TaskId> {
        let waiting: Vec<(TaskId, Status)> = st
            .change_tasks(change)
            .into_iter()
            .filter(|t| t.status() == Status::Wait)
            .map(|t| (t.id.clone(), t.waited_status()))
            .collect();
        for (id, waited) in &waiting {
            st.set_task_status(id, *waited, now);
        }
        waiting.into_iter().map(|(id, _)| id).collect()
    }

    /// Gives up on a change paused on error: its Wait tasks go back to Do (so they are
    /// held, not undone) and the change is aborted. Returns running tasks to cancel.
    pub fn abort_waiting(&mut self, st: &mut State, change: &ChangeId, now: DateTime<Utc>) -> Vec<TaskId> {
        let waiting: Vec<TaskId> = st
            .change_tasks(change)
            .into_iter()
            .filter(|t| t.status() == Status::Wait)
            .map(|t| t.id.clone())
            .collect();
        for id in &waiting {
            st.set_task_status(id, Status::Do, now);
        }
        self.abort(st, change, now)
    }
}

/// An aborted task that is not running: undo it, or hold it when it cannot be undone.
fn try_undo(st: &mut State, task: &TaskId, has_undo: bool, now: DateTime<Utc>) {
    let aborted = st.task(task).is_some_and(|t| t.status() == Status::Abort);
    let next = if aborted && !has_undo { Status::Hold } else { Status::Undo };
    st.set_task_status(task, next, now);
}
