//! The state engine's pure core: one in-memory document (`state.json`) of changes, tasks,
//! warnings and a data bag, plus the scheduling rules that walk task graphs forward
//! (do) and backward (undo). No threads, no I/O except [`checkpoint`]; the actor
//! shells own a [`State`] and a [`Scheduler`] and run the handlers.

mod abort;
mod cache;
mod change;
pub mod checkpoint;
mod data;
mod error;
mod migrate;
mod prune;
mod scheduler;
#[cfg(test)]
mod scheduler_tests;
mod status;
pub mod store;
mod task;
mod taskset;
mod warning;

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Deserialize;

pub use change::Change;
pub use data::{DataBag, Key};
pub use error::StateError;
pub use migrate::{PATCH_LEVEL, PATCH_SUBLEVEL};
pub use prune::{PruneLimits, Pruned, START_OF_OPERATION_TIME};
pub use scheduler::{BlockedFn, CLEANUP_RETRY, Ensured, Op, Outcome, Scheduler, Start};
pub use status::Status;
pub use store::Store;
pub use task::{LogLevel, Progress, TASK_LOG_ENTRIES, TASK_LOG_MESSAGE_BYTES, Task};
pub use taskset::{LAST_BEFORE_IRREVERSIBLE, REFRESH_CLEANUP, TaskSet};
pub use warning::{WARNING_EXPIRE_AFTER, WARNING_REPEAT_AFTER, Warning};

/// Change id: a decimal string from a monotonic counter.
pub type ChangeId = String;
/// Task id: a decimal string from a monotonic counter.
pub type TaskId = String;
/// Lane id; lane 0 holds the tasks that joined no lane.
pub type LaneId = u64;

/// The whole persisted state: the data bag, changes, tasks, warnings and id counters.
///
/// Changes and tasks are addressed by id. Maps are keyed by the numeric value of the
/// id, so iteration is in creation order.
#[derive(Debug, Clone, Default)]
pub struct State {
    data: DataBag,
    changes: BTreeMap<u64, Change>,
    tasks: BTreeMap<u64, Task>,
    warnings: BTreeMap<warning::WarningKey, Warning>,
    last_change_id: u64,
    last_task_id: u64,
    last_lane_id: u64,
    /// Entries created, modified or removed since the store last recorded them.
    pending: Pending,
}

/// Keys of the changes and tasks touched since the last journal record or snapshot.
#[derive(Debug, Clone, Default)]
struct Pending {
    changes: std::collections::BTreeSet<u64>,
    tasks: std::collections::BTreeSet<u64>,
}

/// Writes a JSON object of id → cached encoding (`null` for a removed entry).
fn write_entries<'a>(out: &mut Vec<u8>, entries: impl Iterator<Item = (u64, Option<&'a [u8]>)>) {
    out.push(b'{');
    for (i, (id, encoded)) in entries.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing into a Vec cannot fail.
        let _ = write!(out, "\"{id}\":");
        out.extend_from_slice(encoded.unwrap_or(b"null"));
    }
    out.push(b'}');
}

/// The numeric key of a decimal id (`None` for anything that is not a canonical number).
fn key(id: &str) -> Option<u64> {
    let canonical = id.bytes().all(|b| b.is_ascii_digit()) && !(id.len() > 1 && id.starts_with('0'));
    if canonical { id.parse().ok() } else { None }
}

/// Owned form read from state.json; `null` and missing members read as empty.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct LoadedDocument {
    #[serde(default)]
    data: Option<DataBag>,
    #[serde(default)]
    changes: Option<BTreeMap<u64, Change>>,
    #[serde(default)]
    tasks: Option<BTreeMap<u64, Task>>,
    #[serde(default)]
    warnings: Option<Vec<Warning>>,
    #[serde(default)]
    last_change_id: u64,
    #[serde(default)]
    last_task_id: u64,
    #[serde(default)]
    last_lane_id: u64,
    /// The journal generation this snapshot starts (see [`store`]).
    #[serde(default)]
    journal_generation: u64,
}

/// One journal record: entries to replace (`null`: removed) and, when it changed, the head.
#[derive(Deserialize)]
struct LoadedRecord {
    #[serde(default)]
    changes: BTreeMap<u64, Option<Change>>,
    #[serde(default)]
    tasks: BTreeMap<u64, Option<Task>>,
    /// A document of the head members only (no changes or tasks).
    #[serde(default)]
    head: Option<LoadedDocument>,
}

impl State {
    /// An empty state at the current patch level.
    pub fn new() -> Self {
        let mut st = State::default();
        migrate::stamp_current(&mut st);
        st
    }

    /// Loads a state.json document, applying migrations; refuses documents written by a
    /// newer workshopd. Unknown members are ignored.
    pub fn from_json(bytes: &[u8]) -> Result<State, StateError> {
        let (mut st, _) = State::parse_snapshot(bytes)?;
        st.migrate()?;
        Ok(st)
    }

    /// Reads a snapshot without migrating it; returns its journal generation too.
    fn parse_snapshot(bytes: &[u8]) -> Result<(State, u64), StateError> {
        let mut doc: LoadedDocument = serde_json::from_slice(bytes)?;
        let mut st = State {
            changes: doc.changes.take().unwrap_or_default(),
            tasks: doc.tasks.take().unwrap_or_default(),
            ..State::default()
        };
        let generation = doc.journal_generation;
        st.set_head(doc);
        Ok((st, generation))
    }

    /// Takes the data bag, warnings and counters of `head`.
    fn set_head(&mut self, head: LoadedDocument) {
        self.data = head.data.unwrap_or_default();
        self.warnings = head.warnings.unwrap_or_default().into_iter().map(|w| (w.key(), w)).collect();
        self.last_change_id = head.last_change_id;
        self.last_task_id = head.last_task_id;
        self.last_lane_id = head.last_lane_id;
    }

    /// Brings a loaded state to the current schema.
    fn migrate(&mut self) -> Result<(), StateError> {
        migrate::apply(self)
    }

    /// Applies one journal record (a line of `state.journal`) on top of this state.
    fn apply_record(&mut self, line: &[u8]) -> Result<(), serde_json::Error> {
        let record: LoadedRecord = serde_json::from_slice(line)?;
        for (k, change) in record.changes {
            match change {
                Some(c) => self.changes.insert(k, c),
                None => self.changes.remove(&k),
            };
        }
        for (k, task) in record.tasks {
            match task {
                Some(t) => self.tasks.insert(k, t),
                None => self.tasks.remove(&k),
            };
        }
        if let Some(head) = record.head {
            self.set_head(head);
        }
        Ok(())
    }

    /// The state.json document.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 * 1024);
        self.write_json(&mut out);
        out
    }

    /// Writes the state.json document into `out` (cleared first), so a checkpointing
    /// caller can reuse one buffer. Changes and tasks keep their encoding between calls
    /// until they are modified, so only what changed is encoded again.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.write_snapshot(out, None);
    }

    /// [`Self::write_json`], recording the journal generation that follows the snapshot.
    fn write_snapshot(&self, out: &mut Vec<u8>, journal_generation: Option<u64>) {
        out.clear();
        out.extend_from_slice(b"{\"changes\":");
        write_entries(out, self.changes.iter().map(|(k, c)| (*k, Some(c.json.encoded(c)))));
        out.extend_from_slice(b",\"tasks\":");
        write_entries(out, self.tasks.iter().map(|(k, t)| (*k, Some(t.json.encoded(t)))));
        out.push(b',');
        self.write_head_members(out);
        if let Some(generation) = journal_generation {
            let _ = write!(out, ",\"journal-generation\":{generation}");
        }
        out.push(b'}');
    }

    /// Appends the members besides changes and tasks: data, warnings and id counters.
    fn write_head_members(&self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail and every map is keyed by strings.
        let encode = "internal error: cannot encode state";
        out.extend_from_slice(b"\"data\":");
        serde_json::to_writer(&mut *out, &self.data).expect(encode);
        if !self.warnings.is_empty() {
            out.extend_from_slice(b",\"warnings\":");
            let warnings: Vec<&Warning> = self.warnings.values().collect();
            serde_json::to_writer(&mut *out, &warnings).expect(encode);
        }
        let _ = write!(
            out,
            ",\"last-change-id\":{},\"last-task-id\":{},\"last-lane-id\":{}",
            self.last_change_id, self.last_task_id, self.last_lane_id
        );
    }

    /// Whether changes or tasks were touched since the pending set was last cleared.
    fn has_pending(&self) -> bool {
        !self.pending.changes.is_empty() || !self.pending.tasks.is_empty()
    }

    /// Writes a journal record (one line) of the pending entries into `out`, with `head`
    /// (the encoded head members) when given. The pending set stays until
    /// [`Self::clear_pending`], so a failed append loses nothing.
    fn write_record(&self, out: &mut Vec<u8>, head: Option<&[u8]>) {
        out.clear();
        out.extend_from_slice(b"{\"changes\":");
        let changes =
            self.pending.changes.iter().map(|k| (*k, self.changes.get(k).map(|c| c.json.encoded(c))));
        write_entries(out, changes);
        out.extend_from_slice(b",\"tasks\":");
        let tasks = self.pending.tasks.iter().map(|k| (*k, self.tasks.get(k).map(|t| t.json.encoded(t))));
        write_entries(out, tasks);
        if let Some(head) = head {
            out.extend_from_slice(b",\"head\":{");
            out.extend_from_slice(head);
            out.push(b'}');
        }
        out.extend_from_slice(b"}\n");
    }

    fn clear_pending(&mut self) {
        self.pending.changes.clear();
        self.pending.tasks.clear();
    }

    /// Creates a change and returns its id.
    pub fn new_change(&mut self, kind: &str, summary: &str, now: DateTime<Utc>) -> ChangeId {
        self.last_change_id += 1;
        let id = self.last_change_id;
        self.changes.insert(id, Change::new(id.to_string(), kind, summary, now));
        self.pending.changes.insert(id);
        id.to_string()
    }

    /// Creates a task (not yet part of a change) and returns its id.
    pub fn new_task(&mut self, kind: &str, summary: &str, now: DateTime<Utc>) -> TaskId {
        self.last_task_id += 1;
        let id = self.last_task_id;
        self.tasks.insert(id, Task::new(id.to_string(), kind, summary, now));
        self.pending.tasks.insert(id);
        id.to_string()
    }

    /// Adds a task to a change.
    ///
    /// # Panics
    /// If the task already belongs to another change (a planning bug).
    pub fn add_task(&mut self, change: &ChangeId, task: &TaskId) {
        let (Some(ck), Some(tk)) = (key(change), key(task)) else { return };
        let (Some(chg), Some(t)) = (self.changes.get_mut(&ck), self.tasks.get_mut(&tk)) else {
            return;
        };
        chg.json.invalidate();
        t.json.invalidate();
        self.pending.changes.insert(ck);
        self.pending.tasks.insert(tk);
        if !t.change.is_empty() && t.change != *change {
            panic!("internal error: cannot add one {:?} task to multiple changes", t.kind);
        }
        t.change = change.clone();
        if !chg.task_ids.contains(task) {
            chg.task_ids.push(task.clone());
        }
    }

    /// Adds every task of the set to a change.
    pub fn add_all(&mut self, change: &ChangeId, ts: &TaskSet) {
        for t in ts.tasks() {
            self.add_task(change, t);
        }
    }

    /// Makes `task` wait for `before` (recorded both ways: wait-tasks and halt-tasks).
    pub fn wait_for(&mut self, task: &TaskId, before: &TaskId) {
        if task == before || self.task(task).is_none() || self.task(before).is_none() {
            return;
        }
        if let Some(t) = self.task_mut(task)
            && !t.wait_tasks.contains(before)
        {
            t.wait_tasks.push(before.clone());
        }
        if let Some(b) = self.task_mut(before)
            && !b.halt_tasks.contains(task)
        {
            b.halt_tasks.push(task.clone());
        }
    }

    /// Makes `task` wait for every task of the set.
    pub fn wait_all(&mut self, task: &TaskId, ts: &TaskSet) {
        for before in ts.tasks() {
            self.wait_for(task, before);
        }
    }

    /// Allocates a new lane.
    pub fn new_lane(&mut self) -> LaneId {
        self.last_lane_id += 1;
        self.last_lane_id
    }

    /// Puts a task in a lane (tasks in different lanes abort independently).
    pub fn join_lane(&mut self, task: &TaskId, lane: LaneId) {
        if let Some(t) = self.task_mut(task) {
            t.lanes.push(lane);
        }
    }

    /// The change with this id.
    pub fn change(&self, id: &str) -> Option<&Change> {
        self.changes.get(&key(id)?)
    }

    /// The change with this id, for data updates.
    pub fn change_mut(&mut self, id: &str) -> Option<&mut Change> {
        let k = key(id)?;
        let chg = self.changes.get_mut(&k)?;
        chg.json.invalidate();
        self.pending.changes.insert(k);
        Some(chg)
    }

    /// The task with this id, whether or not it belongs to a change yet.
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.get(&key(id)?)
    }

    /// The task with this id, for data, log and progress updates.
    pub fn task_mut(&mut self, id: &str) -> Option<&mut Task> {
        let k = key(id)?;
        let t = self.tasks.get_mut(&k)?;
        t.json.invalidate();
        self.pending.tasks.insert(k);
        Some(t)
    }

    /// All changes, oldest first.
    pub fn changes(&self) -> impl Iterator<Item = &Change> {
        self.changes.values()
    }

    /// All tasks that belong to an existing change, oldest first.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values().filter(|t| self.change(&t.change).is_some())
    }

    /// The tasks of a change, in the order they were added.
    pub fn change_tasks(&self, id: &str) -> Vec<&Task> {
        match self.change(id) {
            Some(chg) => self.tasks_in(&chg.task_ids).collect(),
            None => Vec::new(),
        }
    }

    fn tasks_in<'a>(&'a self, ids: &'a [TaskId]) -> impl Iterator<Item = &'a Task> + 'a {
        ids.iter().filter_map(|id| self.task(id))
    }

    /// Sets a task's status, recording ready times of the task and of its change.
    /// A Done request for an aborted task keeps it Abort so that it gets undone.
    ///
    /// # Panics
    /// On `Status::Wait`; use [`State::set_task_to_wait`].
    pub fn set_task_status(&mut self, id: &str, status: Status, now: DateTime<Utc>) {
        assert!(status != Status::Wait, "internal error: use set_task_to_wait for Wait");
        let Some(t) = self.task_mut(id) else { return };
        let old = t.status();
        if old == status || (status == Status::Done && old == Status::Abort) {
            return;
        }
        t.status = status;
        if !old.is_ready() && status.is_ready() {
            t.ready_time = Some(now);
        }
        let change = t.change.clone();
        if status.is_ready() && !old.is_ready() {
            self.note_task_ready(&change, now);
        }
    }

    /// Puts a task in `Wait`; resolving the wait returns it to `waited` (Done when
    /// `waited` is Default or Wait). An aborted task stays Abort.
    pub fn set_task_to_wait(&mut self, id: &str, waited: Status) {
        let Some(t) = self.task_mut(id) else { return };
        if t.status() == Status::Abort {
            return;
        }
        t.waited_status = match waited {
            Status::Default | Status::Wait => Status::Done,
            s => s,
        };
        t.status = Status::Wait;
    }

    /// Overrides the derived status of a change (Default returns to deriving it).
    pub fn set_change_status(&mut self, id: &str, status: Status, now: DateTime<Utc>) {
        if let Some(chg) = self.change_mut(id) {
            chg.status = status;
            if status.is_ready() && chg.ready_time.is_none() {
                chg.ready_time = Some(now);
            }
        }
    }

    /// Records the change's ready time once all its tasks are ready.
    fn note_task_ready(&mut self, change: &str, now: DateTime<Utc>) {
        let all_ready = self.change_tasks(change).iter().all(|t| t.status().is_ready());
        if let Some(chg) = self.change_mut(change)
            && all_ready
            && chg.ready_time.is_none()
        {
            chg.ready_time = Some(now);
        }
    }

    /// Marks a task clean; the change becomes clean when all its tasks are.
    pub fn set_task_clean(&mut self, id: &str) {
        let Some(t) = self.task_mut(id) else { return };
        t.clean = true;
        let change = t.change.clone();
        let all_clean = self.change_tasks(&change).iter().all(|t| t.clean);
        if let Some(chg) = self.change_mut(&change) {
            chg.clean = all_clean;
        }
    }

    data::data_accessors!();
}

#[cfg(test)]
mod tests;
