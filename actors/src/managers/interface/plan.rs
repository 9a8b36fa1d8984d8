//! The interface tasks of a change, added by the workshop manager's planners (and, later, the
//! refresh planner): pure functions of the state.

use chrono::{DateTime, Utc};

use crate::managers::task::{TaskTarget, add_task};
use crate::state::Key;
use crate::state::{ChangeId, State, TaskId};

/// Launch (reference-inventory.md §8.2 step 9): `resolve-interfaces` (plugs, slots, binds and mount
/// targets checked before anything is connected) → `auto-connect` → `setup-profiles`, after
/// `after`; returns the last task.
pub fn add_auto_connect(
    st: &mut State,
    change: &ChangeId,
    target: &TaskTarget,
    after: Option<&TaskId>,
    now: DateTime<Utc>,
) -> TaskId {
    let ws = &target.name;
    let resolve = add_task(
        st,
        change,
        "resolve-interfaces",
        &format!("Resolve interfaces of {ws:?}"),
        target,
        after,
        now,
    );
    let auto = add_task(
        st,
        change,
        "auto-connect",
        &format!("Connect interfaces of {ws:?}"),
        target,
        Some(&resolve),
        now,
    );
    add_task(
        st,
        change,
        "setup-profiles",
        &format!("Set up interface profiles of {ws:?}"),
        target,
        Some(&auto),
        now,
    )
}

/// Remove (reference-inventory.md §8.6 steps 1-2): `remove-profiles` → `discard-conns`, after `after`;
/// returns the last task. Both undo: a removal that fails later leaves the connections as
/// they were.
pub fn add_discard(
    st: &mut State,
    change: &ChangeId,
    target: &TaskTarget,
    after: Option<&TaskId>,
    now: DateTime<Utc>,
) -> TaskId {
    let profiles = add_remove_profiles(st, change, target, after, now);
    let summary = format!("Discard connections of {:?}", target.name);
    add_task(st, change, "discard-conns", &summary, target, Some(&profiles), now)
}

/// Refresh (reference-inventory.md §8.3 step 4), before the workshop is stopped and rebuilt:
/// `auto-disconnect` (every connection goes, auto and manual alike; undesired entries stay;
/// remounted host directories are kept in the change), after `after`. Its devices go with
/// [`add_remove_profiles`]; after the rebuild, [`add_auto_connect`] makes the connections
/// again, with the remounted directories. Both tasks undo.
pub fn add_auto_disconnect(
    st: &mut State,
    change: &ChangeId,
    target: &TaskTarget,
    after: Option<&TaskId>,
    reset: bool,
    now: DateTime<Utc>,
) -> TaskId {
    let summary = format!("Disconnect interfaces of {:?}", target.name);
    let id = add_task(st, change, "auto-disconnect", &summary, target, after, now);
    if reset {
        st.task_mut(&id).expect("exists").write(&RESET, &true);
    }
    id
}

/// On `auto-disconnect`: the workshop goes back to its defaults (a restore), so the manual
/// connections of the interfaces that never connect by themselves go as well.
pub const RESET: Key<bool> = Key::new("reset-connections");

/// `remove-profiles`, after `after`: the workshop's interface profiles (and the host links
/// and guest mounts made for them) go.
pub fn add_remove_profiles(
    st: &mut State,
    change: &ChangeId,
    target: &TaskTarget,
    after: Option<&TaskId>,
    now: DateTime<Utc>,
) -> TaskId {
    let summary = format!("Remove interface profiles of {:?}", target.name);
    add_task(st, change, "remove-profiles", &summary, target, after, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::managers::UserRef;

    fn target() -> TaskTarget {
        TaskTarget {
            name: "ws".into(),
            project_id: "0123abcd".into(),
            project_path: "/home/u/p".into(),
            user: UserRef { name: "u".into(), uid: 1000, gid: 1000, data_home: None },
        }
    }

    #[test]
    fn launch_and_remove_chains() {
        let mut st = State::new();
        let now = Utc::now();
        let change = st.new_change("launch", "Launch", now);
        let last = add_auto_connect(&mut st, &change, &target(), None, now);
        let tasks = st.change_tasks(&change);
        let kinds: Vec<&str> = tasks.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(kinds, ["resolve-interfaces", "auto-connect", "setup-profiles"]);
        assert_eq!(tasks[2].id, last);
        assert_eq!(tasks[1].wait_tasks, vec![tasks[0].id.clone()]);
        assert_eq!(tasks[2].wait_tasks, vec![tasks[1].id.clone()]);
        let change = st.new_change("remove", "Remove", now);
        add_discard(&mut st, &change, &target(), None, now);
        let kinds: Vec<String> = st.change_tasks(&change).iter().map(|t| t.kind.clone()).collect();
        assert_eq!(kinds, ["remove-profiles", "discard-conns"]);
        let change = st.new_change("refresh", "Refresh", now);
        let disconnected = add_auto_disconnect(&mut st, &change, &target(), None, true, now);
        assert_eq!(st.task(&disconnected).unwrap().read(&RESET), Some(true));
        add_remove_profiles(&mut st, &change, &target(), Some(&disconnected), now);
        let kinds: Vec<String> = st.change_tasks(&change).iter().map(|t| t.kind.clone()).collect();
        assert_eq!(kinds, ["auto-disconnect", "remove-profiles"]);
    }
}
