//! The exec change: one `exec` task, preceded by `install-action` for actions (../shared/spec/reference-inventory.md §8.8).

use chrono::{DateTime, Utc};

use super::args::ExecArgs;
use crate::managers::UserRef;
use crate::managers::task::{TaskTarget, add_task, keys, new_change};
use crate::state::{ChangeId, State, TaskId};

/// The change and tasks of one exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecPlan {
    pub change: ChangeId,
    pub exec_task: TaskId,
    pub install_task: Option<TaskId>,
}

/// Plans `Execute command "x"` (or `Execute action "x"`) for `args` in `target`.
pub fn exec(
    st: &mut State,
    user: &UserRef,
    target: &TaskTarget,
    args: &ExecArgs,
    now: DateTime<Utc>,
) -> ExecPlan {
    let (what, argv0) = (args.what(), args.argv0());
    let change = new_change(st, "exec", &format!("Execute {what} {argv0:?}"), user, &target.project_id, now);
    let install_task = args.action.then(|| {
        add_task(st, &change, "install-action", &format!("Install action {argv0:?}"), target, None, now)
    });
    let exec_task = add_task(st, &change, "exec", &format!("Exec {what} {argv0:?}"), target, None, now);
    if let Some(install) = &install_task {
        st.task_mut(install).expect("exists").write(&keys::EXEC_TASK, &exec_task);
        st.wait_for(&exec_task, install);
    }
    ExecPlan { change, exec_task, install_task }
}

#[cfg(test)]
mod tests {
    use workshop_api::exec::ExecRequest;

    use super::*;

    fn target() -> TaskTarget {
        TaskTarget {
            name: "ws-exec".into(),
            project_id: "0123abcd".into(),
            project_path: "/home/u/p".into(),
            user: UserRef { name: "u".into(), uid: 1000, gid: 1000, data_home: None },
        }
    }

    fn args(command: &[&str], action: bool) -> ExecArgs {
        let req = ExecRequest {
            command: command.iter().map(|s| s.to_string()).collect(),
            action,
            ..Default::default()
        };
        ExecArgs::from_request(&req).unwrap()
    }

    #[test]
    fn commands_are_summarised_by_the_users_command() {
        let mut st = State::new();
        let t = target();
        let plan = exec(&mut st, &t.user, &t, &args(&["/bin/echo", "x"], false), Utc::now());
        let c = st.change(&plan.change).unwrap();
        assert_eq!((c.kind.as_str(), c.summary.as_str()), ("exec", r#"Execute command "/bin/echo""#));
        assert_eq!(c.read(&keys::USER).as_deref(), Some("u"));
        assert_eq!(c.read(&keys::PROJECT_ID).as_deref(), Some("0123abcd"));
        let tasks = st.change_tasks(&plan.change);
        assert_eq!(tasks.len(), 1);
        assert_eq!(
            (tasks[0].kind.as_str(), tasks[0].summary.as_str()),
            ("exec", r#"Exec command "/bin/echo""#)
        );
        assert_eq!(tasks[0].read(&keys::TARGET), Some(t));
        assert_eq!(plan.install_task, None);
    }

    #[test]
    fn actions_are_installed_first() {
        let mut st = State::new();
        let t = target();
        let plan = exec(&mut st, &t.user, &t, &args(&["greet", "a"], true), Utc::now());
        assert_eq!(st.change(&plan.change).unwrap().summary, r#"Execute action "greet""#);
        let tasks = st.change_tasks(&plan.change);
        let summaries: Vec<&str> = tasks.iter().map(|t| t.summary.as_str()).collect();
        assert_eq!(summaries, [r#"Install action "greet""#, r#"Exec action "greet""#]);
        let install = plan.install_task.unwrap();
        assert_eq!(tasks[0].read(&keys::EXEC_TASK), Some(plan.exec_task.clone()));
        assert_eq!(tasks[1].wait_tasks, vec![install]);
    }
}
