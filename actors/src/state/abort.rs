//! Aborting changes and lanes (the reference's `Change.Abort`/`AbortLanes`).

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};

use super::{LaneId, State, Status, TaskId};

impl State {
    /// Aborts every task of the change: Do → Hold, Doing → Abort, Done → Undo (a Wait
    /// task is judged by its waited status). The scheduler proceeds with the undo.
    pub fn abort_change(&mut self, change: &str, now: DateTime<Utc>) {
        let Some(chg) = self.change(change) else { return };
        let tasks = chg.task_ids.clone();
        self.abort_tasks(change, tasks, &mut HashSet::new(), &mut HashSet::new(), now);
    }

    /// Aborts the tasks of the change in `lanes` (lane 0 = tasks in no lane) and every
    /// task waiting on them, except tasks also in a lane that stays entirely healthy.
    pub fn abort_lanes(&mut self, change: &str, lanes: &[LaneId], now: DateTime<Utc>) {
        self.abort_lanes_in(change, lanes, &mut HashSet::new(), &mut HashSet::new(), now);
    }

    /// Aborts the lanes of the change that still have unready tasks.
    pub fn abort_unready_lanes(&mut self, change: &str, now: DateTime<Utc>) {
        let lanes: BTreeSet<LaneId> = self
            .change_tasks(change)
            .into_iter()
            .filter(|t| !t.status().is_ready())
            .flat_map(|t| t.lanes().iter().copied())
            .collect();
        let lanes: Vec<LaneId> = lanes.into_iter().collect();
        self.abort_lanes(change, &lanes, now);
    }

    fn abort_lanes_in(
        &mut self,
        change: &str,
        lanes: &[LaneId],
        aborted_lanes: &mut HashSet<LaneId>,
        seen: &mut HashSet<TaskId>,
        now: DateTime<Utc>,
    ) {
        let mut has_live = HashSet::new();
        let mut has_dead = HashSet::new();
        let mut lane_tasks = Vec::new();
        for task in self.change_tasks(change) {
            let live = matches!(task.effective_status(), Status::Do | Status::Doing | Status::Done);
            for lane in task.lanes() {
                if lanes.contains(lane) {
                    lane_tasks.push(task);
                    break;
                }
                // Opinion about lanes outside the kill list: a task in an entirely
                // live lane survives.
                if live {
                    has_live.insert(*lane);
                } else {
                    has_dead.insert(*lane);
                }
            }
        }
        let to_abort: Vec<TaskId> = lane_tasks
            .into_iter()
            .filter(|t| !t.lanes().iter().any(|l| has_live.contains(l) && !has_dead.contains(l)))
            .map(|t| t.id.clone())
            .collect();
        aborted_lanes.extend(lanes.iter().copied());
        if !to_abort.is_empty() {
            self.abort_tasks(change, to_abort, aborted_lanes, seen, now);
        }
    }

    fn abort_tasks(
        &mut self,
        change: &str,
        mut tasks: Vec<TaskId>,
        aborted_lanes: &mut HashSet<LaneId>,
        seen: &mut HashSet<TaskId>,
        now: DateTime<Utc>,
    ) {
        let mut more_lanes: Vec<LaneId> = Vec::new();
        let mut i = 0;
        while i < tasks.len() {
            let id = tasks[i].clone();
            i += 1;
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(task) = self.task(&id) else { continue };
            let next = match task.effective_status() {
                Status::Do => Some(Status::Hold),
                Status::Doing => Some(Status::Abort),
                Status::Done => Some(Status::Undo),
                _ => None,
            };
            let lanes = task.lanes().to_vec();
            if lanes.iter().any(|l| !aborted_lanes.contains(l)) {
                more_lanes.extend(&lanes);
            }
            tasks.extend(task.halt_tasks.iter().filter(|h| !seen.contains(*h)).cloned());
            if let Some(status) = next {
                self.set_task_status(&id, status, now);
            }
        }
        if !more_lanes.is_empty() {
            self.abort_lanes_in(change, &more_lanes, aborted_lanes, seen, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn abort_change_holds_pending_aborts_running_undoes_done() {
        let mut st = State::new();
        let chg = st.new_change("launch", "Launch", now());
        let ids: Vec<TaskId> = ["a", "b", "c", "d"]
            .iter()
            .map(|k| {
                let t = st.new_task(k, k, now());
                st.add_task(&chg, &t);
                t
            })
            .collect();
        st.set_task_status(&ids[0], Status::Done, now());
        st.set_task_status(&ids[1], Status::Doing, now());
        st.set_task_status(&ids[3], Status::Error, now());
        st.abort_change(&chg, now());
        let statuses: Vec<Status> = ids.iter().map(|id| st.task(id).unwrap().status()).collect();
        assert_eq!(statuses, [Status::Undo, Status::Abort, Status::Hold, Status::Error]);
    }

    #[test]
    fn abort_lane_spares_healthy_lanes() {
        let mut st = State::new();
        let chg = st.new_change("refresh", "Refresh", now());
        let (l1, l2) = (st.new_lane(), st.new_lane());
        let mk = |st: &mut State, kind: &str, lane: LaneId| {
            let t = st.new_task(kind, kind, now());
            st.add_task(&chg, &t);
            st.join_lane(&t, lane);
            t
        };
        let a1 = mk(&mut st, "a1", l1);
        let a2 = mk(&mut st, "a2", l1);
        let b1 = mk(&mut st, "b1", l2);
        let b2 = mk(&mut st, "b2", l2);
        st.wait_for(&a2, &a1);
        st.wait_for(&b2, &b1);
        st.set_task_status(&a1, Status::Done, now());
        st.set_task_status(&b1, Status::Done, now());
        st.abort_lanes(&chg, &[l1], now());
        let s = |id: &TaskId| st.task(id).unwrap().status();
        assert_eq!((s(&a1), s(&a2)), (Status::Undo, Status::Hold));
        assert_eq!((s(&b1), s(&b2)), (Status::Done, Status::Do));
    }

    #[test]
    fn abort_follows_halt_tasks_into_other_lanes() {
        let mut st = State::new();
        let chg = st.new_change("refresh", "Refresh", now());
        let (l1, l2) = (st.new_lane(), st.new_lane());
        let a = st.new_task("a", "a", now());
        let b = st.new_task("b", "b", now());
        st.add_task(&chg, &a);
        st.add_task(&chg, &b);
        st.join_lane(&a, l1);
        st.join_lane(&b, l2);
        st.wait_for(&b, &a);
        st.set_task_status(&a, Status::Doing, now());
        st.abort_lanes(&chg, &[l1], now());
        assert_eq!(st.task(&a).unwrap().status(), Status::Abort);
        assert_eq!(st.task(&b).unwrap().status(), Status::Hold);
    }
}
