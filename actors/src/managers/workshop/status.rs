//! Workshop status derived from the state (busy changes) and the backend (running or not),
//! and the conflict checks built on it (../shared/spec/reference-inventory.md §6.4).

use workshop_api::workshops::{WorkshopAction, WorkshopStatus};

use crate::managers::task::keys;
use crate::state::{Change, State, Status};

/// A non-ready change that holds a workshop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    pub change: String,
    pub kind: String,
    /// The change is paused on error.
    pub waiting: bool,
}

/// Change kinds that never make a workshop busy.
const NON_BLOCKING_KINDS: &[&str] = &["exec"];

/// The unfinished changes of `user` holding workshop `name` of project `project_id`, of any
/// kind. Project ids live in per-user registries and two users may hold the same one (a
/// copied `.workshop.lock`), so a change of another user never holds the workshop.
fn holding<'a>(
    st: &'a State,
    user: &'a str,
    project_id: &'a str,
    name: &'a str,
) -> impl Iterator<Item = &'a Change> + 'a {
    st.changes()
        .filter(move |c| c.read(&keys::USER).as_deref() == Some(user))
        .filter(move |c| c.read(&keys::PROJECT_ID).as_deref() == Some(project_id))
        .filter(|c| !st.change_ready(&c.id))
        .filter(move |c| {
            st.change_tasks(&c.id).iter().any(|t| {
                t.read(&keys::WORKSHOP).as_deref() == Some(name)
                    || t.read(&keys::HOLDS).as_deref() == Some(name)
            })
        })
}

/// The non-ready change of `user` that makes workshop `name` of project `project_id` busy,
/// if any.
pub fn busy(st: &State, user: &str, project_id: &str, name: &str) -> Option<Busy> {
    blocking(st, user, project_id, name).next().map(|c| Busy {
        change: c.id.clone(),
        kind: c.kind.clone(),
        waiting: st.change_status(&c.id) == Status::Wait,
    })
}

/// The change that makes workshop `name` of project `project_id` busy and is not paused on
/// error, if any: a change the reference lets run beside a paused launch or refresh
/// (connect, disconnect: §6.4) is refused only by such a change.
pub fn busy_running(st: &State, user: &str, project_id: &str, name: &str) -> Option<Busy> {
    blocking(st, user, project_id, name).find(|c| st.change_status(&c.id) != Status::Wait).map(|c| Busy {
        change: c.id.clone(),
        kind: c.kind.clone(),
        waiting: false,
    })
}

/// The changes [`holding`] the workshop that make it busy: not of a non-blocking kind, not
/// discarded in the background.
fn blocking<'a>(
    st: &'a State,
    user: &'a str,
    project_id: &'a str,
    name: &'a str,
) -> impl Iterator<Item = &'a Change> + 'a {
    holding(st, user, project_id, name)
        .filter(|c| !NON_BLOCKING_KINDS.contains(&c.kind.as_str()))
        .filter(|c| !c.read(&keys::DISCARD_BACKGROUND).unwrap_or(false))
}

/// Whether a command session (an exec change) of `user` runs in workshop `name` of project
/// `project_id`.
pub fn exec_active(st: &State, user: &str, project_id: &str, name: &str) -> bool {
    holding(st, user, project_id, name).any(|c| c.kind == "exec")
}

/// Why a change of a workshop cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Another change holds the workshop.
    Busy(Busy),
    AlreadyLaunched,
    /// The workshop is in a status the action does not apply to.
    Status(WorkshopStatus),
}

/// Whether a workshop may be launched: not launched, and held by no change.
pub fn check_launch(busy: Option<Busy>, launched: bool) -> Result<(), Refusal> {
    if let Some(busy) = busy {
        return Err(Refusal::Busy(busy));
    }
    if launched {
        return Err(Refusal::AlreadyLaunched);
    }
    Ok(())
}

/// Whether a launched workshop may be started, stopped, refreshed or removed; `Ok(Some(change))` when
/// `remove` discards a launch or refresh paused on error (reference: in the background).
pub fn check_transition(
    action: WorkshopAction,
    busy: Option<Busy>,
    running: bool,
    project_exists: bool,
) -> Result<Option<String>, Refusal> {
    let mut discard = None;
    if let Some(busy) = busy {
        let discardable = action == WorkshopAction::Remove
            && busy.waiting
            && matches!(busy.kind.as_str(), "launch" | "refresh");
        if !discardable {
            return Err(Refusal::Busy(busy));
        }
        discard = Some(busy.change);
    }
    let (status, _) = derive(None, running, project_exists);
    let allowed: &'static [WorkshopStatus] = match action {
        WorkshopAction::Start => &[WorkshopStatus::Stopped],
        WorkshopAction::Stop => &[WorkshopStatus::Ready, WorkshopStatus::Stopped],
        WorkshopAction::Refresh => &[WorkshopStatus::Ready],
        WorkshopAction::Fork => &[WorkshopStatus::Ready, WorkshopStatus::Stopped],
        _ => &[WorkshopStatus::Ready, WorkshopStatus::Error, WorkshopStatus::Stopped],
    };
    if !allowed.contains(&status) {
        return Err(Refusal::Status(status));
    }
    Ok(discard)
}

/// The note of a workshop whose project directory has gone.
pub const MISSING_PROJECT: &str = "missing-project";
/// The note of a running workshop whose project directory was made again since it started.
pub const REPLACED_PROJECT: &str = "replaced-project";

/// Status and notes of a launched workshop.
pub fn derive(busy: Option<&Busy>, running: bool, project_exists: bool) -> (WorkshopStatus, Vec<String>) {
    if !project_exists {
        return (WorkshopStatus::Error, vec![MISSING_PROJECT.into()]);
    }
    match busy {
        Some(b) if b.waiting => (WorkshopStatus::Waiting, vec!["wait-on-error".into()]),
        Some(_) => (WorkshopStatus::Pending, Vec::new()),
        None if running => (WorkshopStatus::Ready, Vec::new()),
        None => (WorkshopStatus::Stopped, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_of_launch_start_stop_and_remove() {
        use WorkshopAction::*;
        let paused = Busy { change: "7".into(), kind: "launch".into(), waiting: true };
        let running = Busy { change: "8".into(), kind: "stop".into(), waiting: false };
        assert_eq!(check_launch(None, false), Ok(()));
        assert_eq!(check_launch(None, true), Err(Refusal::AlreadyLaunched));
        // The change holding the workshop says more than "already launched".
        assert_eq!(check_launch(Some(paused.clone()), true), Err(Refusal::Busy(paused.clone())));
        assert_eq!(check_transition(Start, None, false, true), Ok(None));
        assert!(matches!(check_transition(Start, None, true, true), Err(Refusal::Status(_))));
        assert_eq!(check_transition(Stop, None, false, true), Ok(None));
        assert!(matches!(check_transition(Stop, None, true, false), Err(Refusal::Status(_))));
        assert_eq!(check_transition(Remove, None, true, false), Ok(None));
        // Remove discards a paused launch; nothing else passes a busy workshop.
        assert_eq!(check_transition(Remove, Some(paused.clone()), true, true), Ok(Some("7".into())));
        assert_eq!(check_transition(Stop, Some(paused.clone()), true, true), Err(Refusal::Busy(paused)));
        assert_eq!(
            check_transition(Remove, Some(running.clone()), true, true),
            Err(Refusal::Busy(running.clone()))
        );
        // Refresh: Ready only, and never past another change (a paused refresh included).
        assert_eq!(check_transition(Refresh, None, true, true), Ok(None));
        assert!(matches!(check_transition(Refresh, None, false, true), Err(Refusal::Status(_))));
        assert!(matches!(check_transition(Refresh, None, true, false), Err(Refusal::Status(_))));
        let paused_refresh = Busy { change: "9".into(), kind: "refresh".into(), waiting: true };
        assert_eq!(
            check_transition(Refresh, Some(paused_refresh.clone()), true, true),
            Err(Refusal::Busy(paused_refresh))
        );
    }

    #[test]
    fn derivation_follows_the_reference_order() {
        let waiting = Busy { change: "1".into(), kind: "launch".into(), waiting: true };
        let pending = Busy { change: "1".into(), kind: "stop".into(), waiting: false };
        assert_eq!(derive(None, true, false).0, WorkshopStatus::Error);
        assert_eq!(
            derive(Some(&waiting), true, true),
            (WorkshopStatus::Waiting, vec!["wait-on-error".into()])
        );
        assert_eq!(derive(Some(&pending), true, true).0, WorkshopStatus::Pending);
        assert_eq!(derive(None, true, true).0, WorkshopStatus::Ready);
        assert_eq!(derive(None, false, true).0, WorkshopStatus::Stopped);
    }

    #[test]
    fn busy_ignores_exec_other_projects_and_other_users() {
        let now = chrono::Utc::now();
        let mut st = State::new();
        let exec = st.new_change("exec", "Execute command \"true\"", now);
        let t = st.new_task("exec", "Exec", now);
        st.task_mut(&t).unwrap().set("workshop", "ws");
        st.add_task(&exec, &t);
        st.change_mut(&exec).unwrap().set("project-id", "aaaa0000");
        st.change_mut(&exec).unwrap().set("user", "u");
        assert_eq!(busy(&st, "u", "aaaa0000", "ws"), None);

        let launch = st.new_change("launch", "Launch \"ws\" workshop", now);
        let t = st.new_task("create-workshop", "Create", now);
        st.task_mut(&t).unwrap().set("workshop", "ws");
        st.add_task(&launch, &t);
        st.change_mut(&launch).unwrap().set("project-id", "aaaa0000");
        st.change_mut(&launch).unwrap().set("user", "u");
        assert_eq!(busy(&st, "u", "bbbb0000", "ws"), None);
        assert_eq!(busy(&st, "v", "aaaa0000", "ws"), None);
        let b = busy(&st, "u", "aaaa0000", "ws").unwrap();
        assert_eq!((b.kind.as_str(), b.waiting), ("launch", false));
    }
}
