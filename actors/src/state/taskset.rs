//! Task sets: the unit planners hand around, with named edges.

use std::collections::HashMap;

use super::{LaneId, State, TaskId};

/// Edge naming the last task before a set does something that cannot be undone.
pub const LAST_BEFORE_IRREVERSIBLE: &str = "last-before-irreversible";
/// Edge naming the first cleanup task of a refresh.
pub const REFRESH_CLEANUP: &str = "refresh-cleanup";

/// An ordered set of task ids with named edges (not persisted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskSet {
    tasks: Vec<TaskId>,
    edges: HashMap<String, TaskId>,
}

impl TaskSet {
    /// A set of these tasks.
    pub fn new(tasks: Vec<TaskId>) -> TaskSet {
        TaskSet { tasks, edges: HashMap::new() }
    }

    /// The tasks, in order.
    pub fn tasks(&self) -> &[TaskId] {
        &self.tasks
    }

    /// Whether it has no tasks.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Appends a task (once).
    pub fn add_task(&mut self, task: TaskId) {
        if !self.tasks.contains(&task) {
            self.tasks.push(task);
        }
    }

    /// Appends every task of another set, and adopts its edges.
    pub fn add_all(&mut self, other: &TaskSet) {
        for t in &other.tasks {
            self.add_task(t.clone());
        }
        for (edge, t) in &other.edges {
            self.edges.insert(edge.clone(), t.clone());
        }
    }

    /// Names `task` as the `edge` of this set.
    pub fn mark_edge(&mut self, task: &TaskId, edge: &str) {
        self.edges.insert(edge.to_owned(), task.clone());
    }

    /// The task named `edge`, if any.
    pub fn edge(&self, edge: &str) -> Option<&TaskId> {
        self.edges.get(edge)
    }

    /// Makes every task of this set wait for `task`.
    pub fn wait_for(&self, st: &mut State, task: &TaskId) {
        for t in &self.tasks {
            st.wait_for(t, task);
        }
    }

    /// Makes every task of this set wait for every task of `other`.
    pub fn wait_all(&self, st: &mut State, other: &TaskSet) {
        for t in &self.tasks {
            st.wait_all(t, other);
        }
    }

    /// Puts every task of this set in `lane`.
    pub fn join_lane(&self, st: &mut State, lane: LaneId) {
        for t in &self.tasks {
            st.join_lane(t, lane);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn wait_all_links_both_ways_and_edges() {
        let mut st = State::new();
        let now = Utc::now();
        let a = st.new_task("a", "a", now);
        let b = st.new_task("b", "b", now);
        let c = st.new_task("c", "c", now);
        let first = TaskSet::new(vec![a.clone(), b.clone()]);
        let mut second = TaskSet::new(vec![c.clone()]);
        second.mark_edge(&c, LAST_BEFORE_IRREVERSIBLE);
        second.wait_all(&mut st, &first);
        assert_eq!(st.task(&c).unwrap().wait_tasks(), [a.clone(), b.clone()]);
        assert_eq!(st.task(&a).unwrap().halt_tasks(), [c.as_str()]);
        let mut all = first.clone();
        all.add_all(&second);
        all.add_task(a.clone());
        assert_eq!(all.tasks(), [a, b, c.clone()]);
        assert_eq!(all.edge(LAST_BEFORE_IRREVERSIBLE), Some(&c));
        assert_eq!(all.edge(REFRESH_CLEANUP), None);
        let lane = st.new_lane();
        all.join_lane(&mut st, lane);
        assert_eq!(st.task(&c).unwrap().lanes(), [lane]);
    }
}
