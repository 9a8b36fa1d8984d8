//! Removing SDK trees nothing uses: no workshop of any user has one installed, no kept local
//! revision refers to it, and it has not been committed in the last [`COOL_DOWN`] (a launch
//! may be about to install it).

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

/// Removes the unused trees; returns how many. When LXD cannot say what is installed,
/// nothing is removed.
pub async fn collect(
    engine: &Addr<StateEngine>,
    backend: &Addr<BackendActor>,
    trees: &TreeStore,
) -> Result<usize, String> {
    let (names, mut used) = engine
        .send(Query(Box::new(|st| (users(st), revisions::referenced(st)))))
        .await
        .map_err(|e| e.to_string())?;
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
