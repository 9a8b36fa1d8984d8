//! Changes: user-visible operations grouping tasks, with a status derived from them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::cache::JsonCache;
use super::data::{self, DataBag};
use super::{ChangeId, State, Status, Task, TaskId};

/// A change: a kind ("launch"), a summary and the tasks that accomplish it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Change {
    /// Decimal id, unique in the state.
    pub id: ChangeId,
    /// What kind of operation ("launch", "refresh", ...).
    pub kind: String,
    /// User-visible summary ("Launch \"ws\" workshop").
    pub summary: String,
    pub(crate) status: Status,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) clean: bool,
    #[serde(default, skip_serializing_if = "DataBag::is_empty")]
    pub(crate) data: DataBag,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) task_ids: Vec<TaskId>,
    pub(crate) spawn_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ready_time: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub(crate) json: JsonCache,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Change {
    pub(crate) fn new(id: ChangeId, kind: &str, summary: &str, now: DateTime<Utc>) -> Change {
        Change {
            id,
            kind: kind.to_owned(),
            summary: summary.to_owned(),
            status: Status::Default,
            clean: false,
            data: DataBag::new(),
            task_ids: Vec::new(),
            spawn_time: now,
            ready_time: None,
            json: JsonCache::default(),
        }
    }

    /// The explicitly set status (`Default` when derived from the tasks).
    pub fn explicit_status(&self) -> Status {
        self.status
    }

    /// Whether all its tasks have been cleaned up.
    pub fn is_clean(&self) -> bool {
        self.clean
    }

    /// Its task ids, in the order they were added.
    pub fn task_ids(&self) -> &[TaskId] {
        &self.task_ids
    }

    /// When it was created.
    pub fn spawn_time(&self) -> DateTime<Utc> {
        self.spawn_time
    }

    /// When it became ready, if it did.
    pub fn ready_time(&self) -> Option<DateTime<Utc>> {
        self.ready_time
    }

    data::data_accessors!();
}

/// Priority of statuses when deriving a change status (Wait handled separately first).
const STATUS_ORDER: [Status; 10] = [
    Status::Abort,
    Status::Undoing,
    Status::Undo,
    Status::Doing,
    Status::Do,
    Status::Wait,
    Status::Error,
    Status::Undone,
    Status::Done,
    Status::Hold,
];

#[derive(Clone, Copy, PartialEq)]
enum WaitCheck {
    Computing,
    Waiting,
    NotWaiting,
}

impl State {
    /// The status of change `id`: its explicit status if set, otherwise derived from its
    /// tasks: `Wait` when every pending task is blocked behind a waiting task, else the
    /// first present of Abort, Undoing, Undo, Doing, Do, Wait, Error, Undone, Done, Hold.
    /// A change without tasks is `Hold`; an unknown change is `Default`.
    pub fn change_status(&self, id: &str) -> Status {
        let Some(chg) = self.change(id) else {
            return Status::Default;
        };
        if chg.status != Status::Default {
            return chg.status;
        }
        let mut counts = [0usize; Status::ALL.len()];
        let mut any = false;
        for task in self.tasks_in(&chg.task_ids) {
            counts[task.status().code() as usize] += 1;
            any = true;
        }
        if !any {
            return Status::Hold;
        }
        if counts[Status::Wait.code() as usize] > 0 && self.is_change_waiting(chg) {
            return Status::Wait;
        }
        STATUS_ORDER.into_iter().find(|s| counts[s.code() as usize] > 0).unwrap_or(Status::Hold)
    }

    /// Whether change `id` is ready (its status is ready). A new change without tasks
    /// and without an explicit status is not ready yet.
    pub fn change_ready(&self, id: &str) -> bool {
        let Some(chg) = self.change(id) else {
            return false;
        };
        if chg.status == Status::Default && self.tasks_in(&chg.task_ids).next().is_none() {
            return false;
        }
        self.change_status(id).is_ready()
    }

    /// The error of a change in `Error` status, built from its failed tasks' ERROR log
    /// entries: "cannot perform the following tasks:\n- <summary> (<error>)".
    pub fn change_err(&self, id: &str) -> Option<String> {
        if self.change_status(id) != Status::Error {
            return None;
        }
        let chg = self.change(id)?;
        let mut out = String::from("cannot perform the following tasks:");
        let mut found = false;
        for task in self.tasks_in(&chg.task_ids) {
            if task.status() != Status::Error {
                continue;
            }
            for entry in &task.log {
                if let Some(msg) = strip_error(entry) {
                    out.push_str("\n- ");
                    out.push_str(&task.summary);
                    out.push_str(" (");
                    out.push_str(msg);
                    out.push(')');
                    found = true;
                }
            }
        }
        Some(if found {
            out
        } else {
            format!("internal inconsistency: change {:?} in ErrorStatus with no task errors logged", chg.kind)
        })
    }

    /// Every pending (Do/Undo) task is blocked, through its dependencies, by a Wait task.
    fn is_change_waiting(&self, chg: &Change) -> bool {
        let mut visited = HashMap::new();
        for task in self.tasks_in(&chg.task_ids) {
            let deps = match task.status() {
                Status::Wait | Status::Done | Status::Undone | Status::Error | Status::Hold => {
                    continue;
                }
                Status::Do => &task.wait_tasks,
                Status::Undo => &task.halt_tasks,
                _ => return false,
            };
            if !self.is_task_waiting(&mut visited, task, deps) {
                return false;
            }
        }
        true
    }

    fn is_task_waiting<'a>(
        &'a self,
        visited: &mut HashMap<&'a str, WaitCheck>,
        task: &'a Task,
        deps: &'a [TaskId],
    ) -> bool {
        match visited.get(task.id.as_str()) {
            Some(WaitCheck::Computing) => {
                tracing::warn!(task = %task.id, kind = %task.kind, "detected cyclic task dependencies");
                return false;
            }
            Some(done) => return *done == WaitCheck::Waiting,
            None => {}
        }
        visited.insert(&task.id, WaitCheck::Computing);
        let mut waiting = false;
        for dep in self.tasks_in(deps) {
            waiting = match dep.status() {
                Status::Wait => true,
                Status::Done | Status::Undone | Status::Error | Status::Hold => continue,
                Status::Do => self.is_task_waiting(visited, dep, &dep.wait_tasks),
                Status::Undo => self.is_task_waiting(visited, dep, &dep.halt_tasks),
                _ => false,
            };
            if !waiting {
                break;
            }
        }
        let result = if waiting { WaitCheck::Waiting } else { WaitCheck::NotWaiting };
        visited.insert(&task.id, result);
        waiting
    }
}

fn strip_error(entry: &str) -> Option<&str> {
    let (_, rest) = entry.split_once(' ')?;
    rest.strip_prefix("ERROR ")
}
