//! The planner the launch and refresh planners call to run a hook (pure, like theirs).

use chrono::{DateTime, Utc};

use super::{Hook, HookSetup, health};
use crate::managers::task::{self, TaskTarget, keys};
use crate::state::{ChangeId, State, TaskId};

/// Adds a `run-hook` task running `hook` of `sdk` in `target`'s workshop to `change`, after
/// `after` when given. `check-health` in a launch gets the launch's timeout per run; in a
/// refresh it has none (reference-inventory.md §5).
pub fn add_hook(
    st: &mut State,
    change: &ChangeId,
    target: &TaskTarget,
    sdk: &str,
    hook: Hook,
    after: Option<&TaskId>,
    now: DateTime<Utc>,
) -> TaskId {
    let summary = format!("Run hook {:?} for {sdk:?} SDK", hook.as_str());
    let in_launch = st.change(change).is_some_and(|c| c.kind == "launch");
    let timeout = (hook == Hook::CheckHealth && in_launch).then_some(health::LAUNCH_TIMEOUT);
    let id = task::add_task(st, change, "run-hook", &summary, target, after, now);
    let setup = HookSetup { sdk: sdk.to_string(), hook, timeout };
    st.task_mut(&id).expect("new task exists").write(&keys::HOOK_SETUP, &setup);
    id
}

/// Records whether `change` is verbose: its hooks then trace what they run (`--verbose`).
pub fn set_verbose(st: &mut State, change: &ChangeId, verbose: bool) {
    if let Some(c) = st.change_mut(change) {
        c.write(&keys::VERBOSE, &verbose);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::managers::UserRef;

    fn target() -> TaskTarget {
        TaskTarget {
            name: "dev".into(),
            project_id: "0123abcd".into(),
            project_path: "/home/u/p".into(),
            user: UserRef { name: "u".into(), uid: 1000, gid: 1000, data_home: None },
        }
    }

    #[test]
    fn hooks_are_tasks_of_the_workshop_in_order() {
        let mut st = State::new();
        let now = Utc::now();
        let change =
            task::new_change(&mut st, "launch", "Launch \"dev\" workshop", &target().user, "0123abcd", now);
        let base = add_hook(&mut st, &change, &target(), "one", Hook::SetupBase, None, now);
        let health = add_hook(&mut st, &change, &target(), "one", Hook::CheckHealth, Some(&base), now);
        let t = st.task(&health).unwrap();
        assert_eq!(
            (t.kind.as_str(), t.summary.as_str()),
            ("run-hook", r#"Run hook "check-health" for "one" SDK"#)
        );
        assert_eq!(t.wait_tasks, vec![base.clone()]);
        assert_eq!(t.read(&keys::WORKSHOP).as_deref(), Some("dev"));
        assert_eq!(t.read(&keys::TARGET), Some(target()));
        assert_eq!(
            t.read(&keys::HOOK_SETUP),
            Some(HookSetup {
                sdk: "one".into(),
                hook: Hook::CheckHealth,
                timeout: Some(health::LAUNCH_TIMEOUT)
            })
        );
        let setup = st.task(&base).unwrap().read(&keys::HOOK_SETUP).unwrap();
        assert_eq!(setup.timeout, None, "only check-health has a timeout");
        set_verbose(&mut st, &change, true);
        assert_eq!(st.change(&change).unwrap().read(&keys::VERBOSE), Some(true));
    }

    #[test]
    fn check_health_has_no_timeout_in_a_refresh() {
        let mut st = State::new();
        let now = Utc::now();
        let change =
            task::new_change(&mut st, "refresh", "Refresh \"dev\" workshop", &target().user, "0123abcd", now);
        let id = add_hook(&mut st, &change, &target(), "one", Hook::CheckHealth, None, now);
        assert_eq!(st.task(&id).unwrap().read(&keys::HOOK_SETUP).unwrap().timeout, None);
    }
}
