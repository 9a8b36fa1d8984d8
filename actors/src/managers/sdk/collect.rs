//! Removing SDK trees nothing uses: no workshop of any user has one installed, no kept local
//! revision refers to it, and it has not been committed in the last [`COOL_DOWN`] (a launch
//! may be about to install it); nothing is removed while a refresh is under way.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use actix::Addr;

use super::spec::installed_trees;
use crate::backend::{BackendActor, ListInstances};
use crate::engine::{Query, StateEngine};
use crate::managers::backend_call;
use crate::sdk::{TreeId, TreeStore, revisions};

/// How long an unused tree is kept.
pub const COOL_DOWN: Duration = Duration::from_secs(60 * 60);

/// The users whose workshops may hold trees: those with tracked projects.
fn users(st: &crate::state::State) -> Vec<String> {
    st.get::<serde_json::Map<String, serde_json::Value>>("projects")
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Whether a refresh is under way (or paused): its stashes may hold trees.
fn refreshing(st: &crate::state::State) -> bool {
    st.changes().any(|c| c.kind == "refresh" && !st.change_ready(&c.id))
}

/// Removes the unused trees; returns how many. When LXD cannot say what is installed,
/// nothing is removed.
pub async fn collect(
    engine: &Addr<StateEngine>,
    backend: &Addr<BackendActor>,
    trees: &TreeStore,
) -> Result<usize, String> {
    let (names, mut used, refreshing) = engine
        .send(Query(Box::new(|st| (users(st), revisions::referenced(st), refreshing(st)))))
        .await
        .map_err(|e| e.to_string())?;
    if refreshing {
        // A stash (which no listing shows) may hold trees its rollback needs.
        return Ok(0);
    }
    for user in names {
        let instances = backend_call(backend, ListInstances { user, project_id: None }).await?;
        used.extend(installed_trees(&instances));
    }
    let trees = trees.clone();
    let removed = tokio::task::spawn_blocking(move || remove_unused(&trees, &used, SystemTime::now()))
        .await
        .map_err(|e| e.to_string())??;
    Ok(removed)
}

/// Removes the trees of `trees` not in `used` and older than [`COOL_DOWN`] at `now`.
fn remove_unused(trees: &TreeStore, used: &BTreeSet<TreeId>, now: SystemTime) -> Result<usize, String> {
    let mut removed = 0;
    for id in trees.list().map_err(|e| e.to_string())? {
        let age = std::fs::metadata(trees.path(&id))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default();
        if used.contains(&id) || age < COOL_DOWN {
            continue;
        }
        trees.remove(&id).map_err(|e| e.to_string())?;
        tracing::info!(tree = id.as_str(), "removed an unused SDK tree");
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::system;

    #[test]
    fn an_unfinished_refresh_holds_every_tree() {
        let now = chrono::Utc::now();
        let mut st = crate::state::State::new();
        assert!(!refreshing(&st));
        let change = st.new_change("refresh", "Refresh \"ws\" workshop", now);
        let t = st.new_task("stash-workshop", "Stash", now);
        st.add_task(&change, &t);
        assert!(refreshing(&st));
        st.set_change_status(&change, crate::state::Status::Done, now);
        assert!(!refreshing(&st));
    }

    #[test]
    fn only_unused_trees_past_their_cool_down_go() {
        let tmp = tempfile::tempdir().unwrap();
        let trees = TreeStore::open(tmp.path().join("trees")).unwrap();
        let id = system::commit_system(&trees).unwrap();
        let now = SystemTime::now();
        assert_eq!(remove_unused(&trees, &BTreeSet::new(), now).unwrap(), 0, "just committed");
        let later = now + COOL_DOWN + Duration::from_secs(1);
        assert_eq!(remove_unused(&trees, &BTreeSet::from([id.clone()]), later).unwrap(), 0, "in use");
        assert_eq!(remove_unused(&trees, &BTreeSet::new(), later).unwrap(), 1);
        assert!(!trees.contains(&id));
    }
}
