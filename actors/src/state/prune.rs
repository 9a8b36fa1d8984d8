//! Pruning: forgetting old changes, tasks and warnings, aborting stale changes.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{ChangeId, State};

/// Data key recording when this installation started operating; changes spawned
/// earlier count as spawned then.
pub const START_OF_OPERATION_TIME: &str = "start-of-operation-time";

/// Pruning thresholds; the default is the reference's (24 h, 7 days, 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneLimits {
    /// Ready changes (and orphan tasks, and unready changes without tasks) older than
    /// this are deleted.
    pub prune_wait: Duration,
    /// Unready changes spawned longer ago than this get their unready lanes aborted.
    pub abort_wait: Duration,
    /// At most this many ready changes are kept; the oldest go first.
    pub max_ready_changes: usize,
}

impl Default for PruneLimits {
    fn default() -> Self {
        PruneLimits {
            prune_wait: Duration::from_secs(24 * 3600),
            abort_wait: Duration::from_secs(7 * 24 * 3600),
            max_ready_changes: 500,
        }
    }
}

/// What a prune pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Changes deleted.
    pub removed_changes: usize,
    /// Tasks deleted (with their change, or as orphans).
    pub removed_tasks: usize,
    /// Stale changes whose unready lanes were aborted (an ensure pass should follow).
    pub aborted: Vec<ChangeId>,
}

fn before(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl State {
    /// The recorded start-of-operation time, recording `now` if there is none yet.
    pub fn start_of_operation_time(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        if let Some(t) = self.get(START_OF_OPERATION_TIME) {
            return t;
        }
        self.set(START_OF_OPERATION_TIME, now);
        now
    }

    /// Prunes with the reference's limits; see [`State::prune_with`].
    pub fn prune(&mut self, now: DateTime<Utc>) -> Pruned {
        self.prune_with(now, &PruneLimits::default())
    }

    /// Drops expired warnings; deletes ready changes older than `prune_wait` or beyond
    /// the newest `max_ready_changes` (with their tasks), unready changes without tasks
    /// older than `prune_wait`, and orphan tasks older than `prune_wait`; aborts the
    /// unready lanes of changes spawned more than `abort_wait` ago.
    pub fn prune_with(&mut self, now: DateTime<Utc>, limits: &PruneLimits) -> Pruned {
        let prune_limit = before(now, limits.prune_wait);
        let abort_limit = before(now, limits.abort_wait);
        let start_of_operation: Option<DateTime<Utc>> = self.get(START_OF_OPERATION_TIME);
        let mut pruned = Pruned::default();

        self.drop_expired_warnings(now);

        // Oldest ready first; unready changes (no ready time) sort before all of them.
        struct Candidate {
            ready: Option<DateTime<Utc>>,
            spawn: DateTime<Utc>,
            id: ChangeId,
            has_tasks: bool,
        }
        let mut order: Vec<Candidate> = self
            .changes
            .values()
            .map(|c| Candidate {
                ready: c.ready_time,
                spawn: c.spawn_time,
                id: c.id.clone(),
                has_tasks: self.tasks_in(&c.task_ids).next().is_some(),
            })
            .collect();
        order.sort_by_key(|c| c.ready);
        let mut ready_count = order.iter().filter(|c| c.ready.is_some()).count();

        for Candidate { ready, spawn, id, has_tasks } in order {
            let spawn = start_of_operation.map_or(spawn, |start| spawn.max(start));
            match ready {
                None if spawn < prune_limit && !has_tasks => {
                    self.remove_change(&id, &mut pruned);
                }
                None if spawn < abort_limit => {
                    self.abort_unready_lanes(&id, now);
                    pruned.aborted.push(id);
                }
                None => {}
                Some(ready) if ready < prune_limit || ready_count > limits.max_ready_changes => {
                    self.remove_change(&id, &mut pruned);
                    ready_count -= 1;
                }
                Some(_) => {}
            }
        }

        let changes = &self.changes;
        let pending = &mut self.pending;
        let before_count = self.tasks.len();
        self.tasks.retain(|&k, t| {
            let orphan = super::key(&t.change).is_none_or(|ck| !changes.contains_key(&ck));
            let remove = orphan && t.spawn_time < prune_limit;
            if remove {
                pending.tasks.insert(k);
            }
            !remove
        });
        pruned.removed_tasks += before_count - self.tasks.len();
        if pruned.removed_changes > 0 || !pruned.aborted.is_empty() {
            tracing::debug!(
                removed_changes = pruned.removed_changes,
                removed_tasks = pruned.removed_tasks,
                aborted = pruned.aborted.len(),
                "pruned state"
            );
        }
        pruned
    }

    fn remove_change(&mut self, id: &str, pruned: &mut Pruned) {
        let Some(k) = super::key(id) else { return };
        if let Some(chg) = self.changes.remove(&k) {
            self.pending.changes.insert(k);
            for t in &chg.task_ids {
                if let Some(tk) = super::key(t)
                    && self.tasks.remove(&tk).is_some()
                {
                    self.pending.tasks.insert(tk);
                    pruned.removed_tasks += 1;
                }
            }
            pruned.removed_changes += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Status;
    use chrono::TimeZone;

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    fn ready_change(st: &mut State, spawn: DateTime<Utc>, ready: DateTime<Utc>) -> ChangeId {
        let chg = st.new_change("start", "Start", spawn);
        let t = st.new_task("start-workshop", "Start", spawn);
        st.add_task(&chg, &t);
        st.set_task_status(&t, Status::Done, ready);
        chg
    }

    #[test]
    fn prunes_by_age() {
        let mut st = State::new();
        let old = ready_change(&mut st, at(0), at(1));
        let recent = ready_change(&mut st, at(0), at(30));
        let empty_old = st.new_change("x", "x", at(0));
        let empty_new = st.new_change("x", "x", at(40));
        let orphan_old = st.new_task("t", "t", at(0));
        let orphan_new = st.new_task("t", "t", at(40));
        let unready = st.new_change("launch", "Launch", at(0));
        let t = st.new_task("create-workshop", "Create", at(0));
        st.add_task(&unready, &t);

        let pruned = st.prune(at(48));
        assert!(st.change(&old).is_none());
        assert!(st.change(&recent).is_some());
        assert!(st.change(&empty_old).is_none());
        assert!(st.change(&empty_new).is_some());
        assert!(st.task(&orphan_old).is_none());
        assert!(st.task(&orphan_new).is_some());
        assert!(st.change(&unready).is_some());
        assert_eq!(st.task(&t).unwrap().status(), Status::Do);
        assert_eq!(pruned.removed_changes, 2);
        assert_eq!(pruned.removed_tasks, 2);
        assert!(pruned.aborted.is_empty());

        // A week later the unready change gets aborted (its pending task held).
        let pruned = st.prune(at(24 * 8));
        assert_eq!(pruned.aborted, [unready.as_str()]);
        assert_eq!(st.task(&t).unwrap().status(), Status::Hold);
    }

    #[test]
    fn start_of_operation_delays_abort() {
        let mut st = State::new();
        let unready = st.new_change("launch", "Launch", at(0));
        let t = st.new_task("create-workshop", "Create", at(0));
        st.add_task(&unready, &t);
        assert_eq!(st.start_of_operation_time(at(24 * 6)), at(24 * 6));
        assert_eq!(st.start_of_operation_time(at(24 * 9)), at(24 * 6));
        assert!(st.prune(at(24 * 8)).aborted.is_empty());
    }

    #[test]
    fn keeps_at_most_max_ready_changes_newest_first() {
        let mut st = State::new();
        let ids: Vec<ChangeId> = (0..5).map(|i| ready_change(&mut st, at(0), at(10 - i))).collect();
        let limits = PruneLimits { max_ready_changes: 3, ..PruneLimits::default() };
        let pruned = st.prune_with(at(11), &limits);
        assert_eq!(pruned.removed_changes, 2);
        // ids[4] and ids[3] became ready earliest.
        let left: Vec<&str> = st.changes().map(|c| c.id.as_str()).collect();
        assert_eq!(left, [ids[0].as_str(), ids[1].as_str(), ids[2].as_str()]);
        assert_eq!(st.tasks().count(), 3);
    }

    #[test]
    fn drops_expired_warnings() {
        let mut st = State::new();
        st.warn(None, "old", at(0));
        st.prune(at(24 * 29));
        assert!(st.all_warnings(0).is_empty());
    }
}
