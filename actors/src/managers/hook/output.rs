//! A hook's output: the truncated copy its task log keeps (the last 10 lines, 64 KiB at
//! most, within what a task log entry holds), and the full output kept in memory for
//! verbose clients until the change is ready, within a budget per user.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use crate::state::{TASK_LOG_MESSAGE_BYTES, TaskId};

/// Lines of output the task log keeps.
const LOG_LINES: usize = 10;
/// Bytes of output the task log keeps (before the entry's own bound).
const LOG_BYTES: usize = 64 << 10;
/// Full outputs kept per user; the oldest go first.
pub const USER_BUDGET: usize = 32 << 20;
/// Noted at the end of an output that was longer than the daemon keeps.
pub const TRUNCATED: &str = "[output truncated]";

/// The copy of `output` for the task log: its last lines, without the final newline.
pub fn task_log_copy(output: &str) -> String {
    let text = output.strip_suffix('\n').unwrap_or(output);
    let start = text.match_indices('\n').rev().nth(LOG_LINES - 1).map_or(0, |(i, _)| i + 1);
    let bound = LOG_BYTES.min(TASK_LOG_MESSAGE_BYTES);
    let mut tail = &text[start..];
    if tail.len() > bound {
        tail = &tail[tail.ceil_char_boundary(tail.len() - bound)..];
    }
    tail.to_string()
}

/// A hook's output as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOutput {
    /// The message of the task's log entry holding the truncated copy.
    pub logged: String,
    /// Everything the hook printed (up to the run's output limit).
    pub full: String,
}

#[derive(Debug)]
struct Entry {
    task: TaskId,
    owner: u32,
    output: HookOutput,
}

impl Entry {
    fn size(&self) -> usize {
        self.output.logged.len() + self.output.full.len()
    }
}

/// The full outputs of finished hooks, oldest first.
#[derive(Debug, Default)]
pub struct Outputs {
    entries: RefCell<VecDeque<Entry>>,
}

impl Outputs {
    /// Keeps the output of `task`, owned by `owner`, dropping that user's oldest outputs
    /// beyond [`USER_BUDGET`].
    pub fn insert(&self, task: &TaskId, owner: u32, output: HookOutput) {
        let mut entries = self.entries.borrow_mut();
        entries.retain(|e| &e.task != task);
        entries.push_back(Entry { task: task.clone(), owner, output });
        let mut used: usize = entries.iter().filter(|e| e.owner == owner).map(Entry::size).sum();
        while used > USER_BUDGET {
            let Some(oldest) = entries.iter().position(|e| e.owner == owner) else { break };
            used -= entries.remove(oldest).map_or(0, |e| e.size());
        }
    }

    /// Forgets the output of `task`.
    pub fn remove(&self, task: &TaskId) {
        self.entries.borrow_mut().retain(|e| &e.task != task);
    }

    /// The outputs of `tasks` that `uid` may see: its own, or anyone's for root.
    pub fn of(&self, uid: u32, tasks: &[TaskId]) -> HashMap<TaskId, HookOutput> {
        self.entries
            .borrow()
            .iter()
            .filter(|e| (uid == 0 || e.owner == uid) && tasks.contains(&e.task))
            .map(|e| (e.task.clone(), e.output.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(full: &str) -> HookOutput {
        HookOutput { logged: task_log_copy(full), full: full.to_string() }
    }

    #[test]
    fn the_task_log_keeps_the_last_ten_lines() {
        let text: String = (1..=25).map(|i| format!("line {i}\n")).collect();
        let copy = task_log_copy(&text);
        assert_eq!(copy.lines().count(), 10);
        assert!(copy.starts_with("line 16\n") && copy.ends_with("line 25"), "{copy}");
        assert_eq!(task_log_copy("one\ntwo\n"), "one\ntwo");
        assert_eq!(task_log_copy("no newline"), "no newline");
        assert_eq!(task_log_copy(""), "");
    }

    #[test]
    fn the_task_log_copy_fits_one_log_entry() {
        // One huge line (with multi-byte characters): its end is kept, cut on a character.
        let text = format!("{}\n", "é".repeat(100_000));
        let copy = task_log_copy(&text);
        assert!(copy.len() <= TASK_LOG_MESSAGE_BYTES && copy.len() > TASK_LOG_MESSAGE_BYTES - 4);
        assert!(copy.chars().all(|c| c == 'é'));
    }

    #[test]
    fn outputs_are_kept_per_user_within_a_budget_and_shown_to_their_owner() {
        let outputs = Outputs::default();
        // Four of these pass the budget (each also has its logged copy).
        let big = "x".repeat(USER_BUDGET / 4);
        for task in ["1", "2", "3", "4"] {
            outputs.insert(&task.to_string(), 1000, output(&big));
        }
        outputs.insert(&"9".to_string(), 1001, output("bob's"));
        let all: Vec<TaskId> = ["1", "2", "3", "4", "9"].map(String::from).to_vec();
        let alice = outputs.of(1000, &all);
        assert!(!alice.contains_key("1"), "the oldest went over the budget");
        assert!(alice.contains_key("2") && alice.contains_key("4"));
        assert!(!alice.contains_key("9"), "another user's output");
        assert_eq!(outputs.of(1001, &all)["9"].full, "bob's");
        assert_eq!(outputs.of(0, &all).len(), 4, "root sees every output");
        assert!(outputs.of(1000, &["4".to_string()]).len() == 1, "only the tasks asked for");
        outputs.remove(&"4".to_string());
        assert!(!outputs.of(1000, &all).contains_key("4"));
    }
}
