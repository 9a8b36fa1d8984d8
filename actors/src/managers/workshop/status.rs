//! Workshop status derived from the state (busy changes) and the backend (running or not),
//! and the conflict checks built on it (reference §6.4).

use workshop_api::workshops::WorkshopStatus;

use crate::state::{State, Status};

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

/// The non-ready change of `user` holding workshop `name` of project `project_id`, if any.
/// Project ids live in per-user registries and two users may hold the same one (a copied
/// `.workshop.lock`), so a change of another user never holds the workshop.
pub fn busy(st: &State, user: &str, project_id: &str, name: &str) -> Option<Busy> {
    st.changes()
        .filter(|c| !NON_BLOCKING_KINDS.contains(&c.kind.as_str()))
        .filter(|c| c.get::<String>("user").as_deref() == Some(user))
        .filter(|c| c.get::<String>("project-id").as_deref() == Some(project_id))
        .filter(|c| !c.get::<bool>("discard-background").unwrap_or(false))
        .filter(|c| !st.change_ready(&c.id))
        .find(|c| st.change_tasks(&c.id).iter().any(|t| t.get::<String>("workshop").as_deref() == Some(name)))
        .map(|c| Busy {
            change: c.id.clone(),
            kind: c.kind.clone(),
            waiting: st.change_status(&c.id) == Status::Wait,
        })
}

/// The note of a workshop whose project directory has gone.
pub const MISSING_PROJECT: &str = "missing-project";

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
