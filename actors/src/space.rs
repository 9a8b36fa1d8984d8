//! `workshop du` and `workshop prune`: what a user's workshops, templates, layer snapshots
//! and apt caches use (on the pool and on the host) and the SDK trees their workshops share;
//! prune removes what nothing uses. Scope: a user sees and prunes their own; root every
//! user's, and only root removes unused SDK trees (shared by everyone). Unused SDK trees and
//! layer snapshots are never removed while a change is in progress (a launch may be about to
//! install a tree it has just made, or copy a snapshot it has just chosen).
//!
//! Removal never needs free space: templates and snapshots are deleted through LXD, caches
//! and trees are directories removed on the host.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use actix::prelude::*;
use workshop_api::space::{DiskUsage, PoolSpace, Pruned, SpaceItem, SpaceKind};

use crate::backend::{
    BackendActor, BackendError, CollectSnapshots, GetPoolUse, ListInstances, RemoveTemplate,
};
use crate::engine::{Query, StateEngine};
use crate::managers::UserRef;
use crate::managers::sdk::installed_trees;
use crate::project::Registry;
use crate::sdk::{TreeId, TreeStore, revisions};

/// Why space cannot be shown or freed.
#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    #[error("cannot show disk usage: {0}")]
    Backend(#[from] BackendError),
    #[error("cannot show disk usage: {0}")]
    Failed(String),
}

/// `GET /v1/disk-usage`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<DiskUsage, SpaceError>")]
pub struct GetDiskUsage {
    pub viewer: UserRef,
}

/// `POST /v1/prune`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Pruned, SpaceError>")]
pub struct Prune {
    pub viewer: UserRef,
    pub dry_run: bool,
}

/// The actor shell.
pub struct SpaceManager {
    engine: Addr<StateEngine>,
    backend: Addr<BackendActor>,
    trees: TreeStore,
    /// `$WORKSHOP_CACHE`: apt caches are `users/<uid>/<project id>/<workshop>/`.
    cache_dir: PathBuf,
}

impl SpaceManager {
    pub fn new(
        engine: Addr<StateEngine>,
        backend: Addr<BackendActor>,
        trees: TreeStore,
        cache_dir: PathBuf,
    ) -> Self {
        Self { engine, backend, trees, cache_dir }
    }
}

impl Actor for SpaceManager {
    type Context = Context<Self>;
}

/// What the state says: every user's projects, the trees kept revisions refer to, and
/// whether a change is in progress.
struct Known {
    registries: BTreeMap<String, Registry>,
    kept: BTreeSet<TreeId>,
    busy: bool,
}

/// Everything in scope for `viewer`, and what prune may remove of it.
struct Survey {
    usage: DiskUsage,
    /// The users' templates, as (user, name).
    templates: Vec<(String, String)>,
    /// Apt caches of workshops that no longer exist.
    stale_caches: Vec<PathBuf>,
    /// SDK trees nothing uses (root's view only).
    unused_trees: Vec<TreeId>,
    busy: bool,
}

async fn survey(
    engine: &Addr<StateEngine>,
    backend: &Addr<BackendActor>,
    trees: &TreeStore,
    cache_dir: &Path,
    viewer: &UserRef,
) -> Result<Survey, SpaceError> {
    let known = engine
        .send(Query(Box::new(|st| Known {
            registries: st.get("projects").unwrap_or_default(),
            kept: revisions::referenced(st),
            busy: st.changes().any(|c| !st.change_status(&c.id).is_ready()),
        })))
        .await
        .map_err(|e| SpaceError::Failed(e.to_string()))?;
    let mut items = Vec::new();
    let mut templates = Vec::new();
    let mut caches = Vec::new();
    let mut pool = PoolSpace::default();
    // Trees any workshop of any user has installed: in use, whoever looks.
    let mut used_trees = known.kept.clone();
    let mut viewer_trees = BTreeSet::new();
    for (name, registry) in &known.registries {
        let Some(user) = UserRef::lookup(name) else { continue };
        let instances = backend
            .send(ListInstances { user: name.clone(), project_id: None })
            .await
            .map_err(BackendError::from)??;
        let trees_of_user: BTreeSet<TreeId> = installed_trees(&instances);
        used_trees.extend(trees_of_user.iter().cloned());
        if viewer.uid != 0 && user.uid != viewer.uid {
            continue;
        }
        viewer_trees.extend(trees_of_user);
        let on_pool = backend.send(GetPoolUse { user: name.clone() }).await.map_err(BackendError::from)??;
        pool = PoolSpace {
            name: on_pool.name,
            driver: on_pool.driver,
            used: on_pool.used,
            total: on_pool.total,
        };
        let live: BTreeSet<String> = on_pool.instances.iter().map(|i| i.name.clone()).collect();
        for snapshot in on_pool.snapshots {
            items.push(SpaceItem {
                kind: SpaceKind::Snapshot,
                name: snapshot.name,
                user: name.clone(),
                project_path: String::new(),
                size: snapshot.size,
                in_use: snapshot.in_use,
            });
        }
        for instance in on_pool.instances {
            let (kind, project_path, label) = if instance.template {
                templates.push((name.clone(), instance.name.clone()));
                (SpaceKind::Template, String::new(), instance.name.clone())
            } else {
                let (ws, pid) = split_instance(&instance.name);
                let path = registry.get(pid).map(|p| p.path.clone()).unwrap_or_default();
                (SpaceKind::Workshop, path, workshop_label(ws))
            };
            items.push(SpaceItem {
                kind,
                name: label,
                user: name.clone(),
                project_path,
                size: instance.size,
                in_use: !instance.template,
            });
        }
        caches.push((name.clone(), user.uid, registry.clone(), live));
    }
    if viewer.uid == 0 && pool.name.is_empty() {
        // Root with no user's workshops still sees the pool.
        let on_pool =
            backend.send(GetPoolUse { user: "root".into() }).await.map_err(BackendError::from)??;
        pool = PoolSpace {
            name: on_pool.name,
            driver: on_pool.driver,
            used: on_pool.used,
            total: on_pool.total,
        };
    }
    // Host side: reading directories is blocking work.
    let (trees, cache_dir) = (trees.clone(), cache_dir.to_path_buf());
    let root_view = viewer.uid == 0;
    let (host_items, stale_caches, unused_trees) = tokio::task::spawn_blocking(move || {
        host_survey(&trees, &cache_dir, &caches, &used_trees, &viewer_trees, root_view)
    })
    .await
    .map_err(|e| SpaceError::Failed(e.to_string()))?;
    items.extend(host_items);
    items.sort_by(|a, b| {
        (a.kind, &a.user, &a.project_path, &a.name).cmp(&(b.kind, &b.user, &b.project_path, &b.name))
    });
    Ok(Survey { usage: DiskUsage { pool, items }, templates, stale_caches, unused_trees, busy: known.busy })
}

/// How the instance `<ws>` part is shown: a refresh's stash (`stash--<ws>`, there until the
/// refresh is through) or rebuilt instance (`next--<ws>`, until it is put in place) says so;
/// no workshop name has a double hyphen.
fn workshop_label(ws: &str) -> String {
    match ws.split_once("--") {
        Some(("stash", ws)) => format!("{ws} (stash of a refresh)"),
        Some(("next", ws)) => format!("{ws} (being rebuilt)"),
        _ => ws.to_string(),
    }
}

/// `<ws>-<project id>` as its two parts (the id is the last 8 characters).
fn split_instance(name: &str) -> (&str, &str) {
    match name.rsplit_once('-') {
        Some((ws, pid)) if pid.len() == 8 => (ws, pid),
        _ => (name, ""),
    }
}

/// A user's caches to look at: (name, uid, projects, live instance names).
type UserCaches = (String, u32, Registry, BTreeSet<String>);

/// The apt caches and SDK trees in scope, the stale caches and the unused trees.
fn host_survey(
    trees: &TreeStore,
    cache_dir: &Path,
    caches: &[UserCaches],
    used_trees: &BTreeSet<TreeId>,
    viewer_trees: &BTreeSet<TreeId>,
    root_view: bool,
) -> (Vec<SpaceItem>, Vec<PathBuf>, Vec<TreeId>) {
    let mut items = Vec::new();
    let mut stale = Vec::new();
    for (user, uid, registry, live) in caches {
        let base = cache_dir.join("users").join(uid.to_string());
        for (pid, ws, dir) in cache_dirs(&base) {
            let in_use = live.contains(&format!("{ws}-{pid}"));
            if !in_use {
                stale.push(dir.clone());
            }
            items.push(SpaceItem {
                kind: SpaceKind::AptCache,
                name: ws,
                user: user.clone(),
                project_path: registry.get(&pid).map(|p| p.path.clone()).unwrap_or_default(),
                size: Some(dir_size(&dir)),
                in_use,
            });
        }
    }
    let mut unused = Vec::new();
    for id in trees.list().unwrap_or_default() {
        let in_use = used_trees.contains(&id);
        if !(root_view || viewer_trees.contains(&id)) {
            continue;
        }
        if !in_use {
            unused.push(id.clone());
        }
        items.push(SpaceItem {
            kind: SpaceKind::SdkTree,
            name: tree_label(trees, &id),
            user: String::new(),
            project_path: String::new(),
            size: Some(dir_size(&trees.path(&id))),
            in_use,
        });
    }
    (items, stale, unused)
}

/// `<name> <version>` from a tree's `meta/sdk.yaml`, with the start of its id.
fn tree_label(trees: &TreeStore, id: &TreeId) -> String {
    let meta = trees.read_meta(id).unwrap_or_default();
    let field = |key: &str| {
        meta.lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().trim_matches('"').to_string()))
            .unwrap_or_default()
    };
    let short: String = id.to_string().chars().take(12).collect();
    let (name, version) = (field("name:"), field("version:"));
    match (name.is_empty(), version.is_empty()) {
        (true, _) => short,
        (false, true) => format!("{name} ({short})"),
        (false, false) => format!("{name} {version} ({short})"),
    }
}

/// `<base>/<project id>/<workshop>` directories: (project id, workshop, path).
fn cache_dirs(base: &Path) -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(projects) = std::fs::read_dir(base) else { return out };
    for project in projects.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
        let Ok(workshops) = std::fs::read_dir(project.path()) else { continue };
        for ws in workshops.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
            let pid = project.file_name().to_string_lossy().into_owned();
            out.push((pid, ws.file_name().to_string_lossy().into_owned(), ws.path()));
        }
    }
    out.sort();
    out
}

/// Bytes of the regular files under `dir`, links not followed.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

impl Handler<GetDiskUsage> for SpaceManager {
    type Result = ResponseFuture<Result<DiskUsage, SpaceError>>;

    fn handle(&mut self, msg: GetDiskUsage, _ctx: &mut Context<Self>) -> Self::Result {
        let (engine, backend, trees, cache) =
            (self.engine.clone(), self.backend.clone(), self.trees.clone(), self.cache_dir.clone());
        Box::pin(async move { Ok(survey(&engine, &backend, &trees, &cache, &msg.viewer).await?.usage) })
    }
}

impl Handler<Prune> for SpaceManager {
    type Result = ResponseFuture<Result<Pruned, SpaceError>>;

    fn handle(&mut self, msg: Prune, _ctx: &mut Context<Self>) -> Self::Result {
        let (engine, backend, trees, cache) =
            (self.engine.clone(), self.backend.clone(), self.trees.clone(), self.cache_dir.clone());
        Box::pin(async move {
            let found = survey(&engine, &backend, &trees, &cache, &msg.viewer).await?;
            let mut pruned = Pruned::default();
            let item = |kind: SpaceKind, name: &str, user: &str| {
                found.usage.items.iter().find(|i| i.kind == kind && i.name == name && i.user == user).cloned()
            };
            for (user, name) in &found.templates {
                let Some(template) = item(SpaceKind::Template, name, user) else { continue };
                if !msg.dry_run {
                    let removed =
                        backend.send(RemoveTemplate { user: user.clone(), name: name.clone() }).await;
                    if let Err(e) = removed.map_err(BackendError::from).and_then(|r| r) {
                        pruned.notes.push(format!("kept template {name:?}: {e}"));
                        continue;
                    }
                }
                pruned.freed += template.size.unwrap_or(0);
                pruned.removed.push(template);
            }
            prune_snapshots(&backend, &found, msg.dry_run, &mut pruned).await;
            let stale: BTreeSet<&PathBuf> = found.stale_caches.iter().collect();
            for cache_item in found.usage.items.iter().filter(|i| i.kind == SpaceKind::AptCache && !i.in_use)
            {
                pruned.freed += cache_item.size.unwrap_or(0);
                pruned.removed.push(cache_item.clone());
            }
            let unused: Vec<(TreeId, SpaceItem)> = found
                .unused_trees
                .iter()
                .filter_map(|id| {
                    let label = tree_label(&trees, id);
                    let item =
                        found.usage.items.iter().find(|i| i.kind == SpaceKind::SdkTree && i.name == label)?;
                    Some((id.clone(), item.clone()))
                })
                .collect();
            let remove_trees = msg.viewer.uid == 0 && !found.busy;
            if msg.viewer.uid == 0 && found.busy && !unused.is_empty() {
                pruned.notes.push(
                    "kept unused SDK trees: a change is in progress (prune again once it is done)".into(),
                );
            }
            if remove_trees {
                for (_, item) in &unused {
                    pruned.freed += item.size.unwrap_or(0);
                    pruned.removed.push(item.clone());
                }
            }
            if !msg.dry_run {
                let caches: Vec<PathBuf> = stale.into_iter().cloned().collect();
                let ids: Vec<TreeId> =
                    if remove_trees { unused.into_iter().map(|(id, _)| id).collect() } else { Vec::new() };
                let failures = tokio::task::spawn_blocking(move || {
                    let mut failures = Vec::new();
                    for dir in caches {
                        if let Err(e) = std::fs::remove_dir_all(&dir) {
                            failures.push(format!("cannot remove {}: {e}", dir.display()));
                        }
                    }
                    for id in ids {
                        if let Err(e) = trees.remove(&id) {
                            failures.push(e.to_string());
                        }
                    }
                    failures
                })
                .await
                .map_err(|e| SpaceError::Failed(e.to_string()))?;
                pruned.notes.extend(failures);
            }
            Ok(pruned)
        })
    }
}

/// Removes the users' layer snapshots no instance was made through, whatever their
/// cool-down, unless a change is in progress; with `dry_run`, only lists them.
async fn prune_snapshots(backend: &Addr<BackendActor>, found: &Survey, dry_run: bool, pruned: &mut Pruned) {
    let unused_items = || found.usage.items.iter().filter(|i| i.kind == SpaceKind::Snapshot && !i.in_use);
    let unused =
        |user: &str| -> Vec<SpaceItem> { unused_items().filter(|i| i.user == user).cloned().collect() };
    // The users who have layer snapshots no instance of theirs was made through.
    let users: BTreeSet<&str> = unused_items().map(|i| i.user.as_str()).collect();
    if found.busy {
        if !users.is_empty() {
            pruned
                .notes
                .push("kept unused snapshots: a change is in progress (prune again once it is done)".into());
        }
        return;
    }
    for user in users {
        let removed: BTreeSet<String> = if dry_run {
            unused(user).into_iter().map(|i| i.name).collect()
        } else {
            let msg = CollectSnapshots { user: Some(user.to_string()), cooldown: std::time::Duration::ZERO };
            match backend.send(msg).await.map_err(BackendError::from).and_then(|r| r) {
                Ok(names) => names.into_iter().collect(),
                Err(e) => {
                    pruned.notes.push(format!("kept the unused snapshots of {user:?}: {e}"));
                    continue;
                }
            }
        };
        for item in unused(user).into_iter().filter(|i| removed.contains(&i.name)) {
            pruned.freed += item.size.unwrap_or(0);
            pruned.removed.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_split_at_the_project_id() {
        assert_eq!(split_instance("dev-0123abcd"), ("dev", "0123abcd"));
        assert_eq!(split_instance("my-dev-0123abcd"), ("my-dev", "0123abcd"));
        assert_eq!(split_instance("odd"), ("odd", ""));
        let label = |name| workshop_label(split_instance(name).0);
        assert_eq!(label("stash--my-dev-0123abcd"), "my-dev (stash of a refresh)");
        assert_eq!(label("next--dev-0123abcd"), "dev (being rebuilt)");
        assert_eq!(label("stash-dev-0123abcd"), "stash-dev", "a workshop of that name");
    }

    #[test]
    fn caches_are_found_per_project_and_workshop_and_sized() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("0123abcd/dev/apt");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.deb"), vec![0u8; 1000]).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", dir.join("link")).unwrap();
        let found = cache_dirs(tmp.path());
        assert_eq!(found, [("0123abcd".to_string(), "dev".to_string(), tmp.path().join("0123abcd/dev"))]);
        assert_eq!(dir_size(&found[0].2), 1000, "links are not followed");
    }
}
