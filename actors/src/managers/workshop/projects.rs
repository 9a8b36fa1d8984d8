//! Project tracking: the per-user registry in the state, lock files, and moved projects found
//! through their running workshops. The project's files are read and written as the user
//! (`project::as_user`); the engine only ever sees what was found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use workshop_api::Project;

use super::handlers::GUEST_PROJECT;
use super::lookups::*;
use super::requests::*;
use crate::backend::{BackendError, ExecSpec, Instance, ListInstances, RunCommand, RunLimits};
use crate::engine::{Query, Transact};
use crate::managers::{UserRef, backend_call};
use crate::project::{self, Registry, TrackOutcome, as_user, mountinfo};
use crate::state::State;

/// State data key of the per-user project registries.
pub(super) const PROJECTS_KEY: &str = "projects";

pub(super) fn registries(st: &State) -> BTreeMap<String, Registry> {
    st.get(PROJECTS_KEY).unwrap_or_default()
}

/// How often tracking looks again when the registry changed under it.
const TRACK_ATTEMPTS: usize = 3;

pub(super) async fn track_project(
    deps: &Deps,
    user: &UserRef,
    path: PathBuf,
) -> Result<(Project, bool), WorkshopError> {
    if !path.is_absolute() {
        return Err(WorkshopError::BadRequest(format!(
            "absolute project path must be used (got {:?})",
            path.display()
        )));
    }
    let found = as_user::inspect(user, path).await?;
    // The common case, a known project whose lock file is intact, needs no state change.
    if let Some(lock) = found.lock.clone() {
        let (name, root) = (user.name.clone(), found.root.to_string_lossy().into_owned());
        let known = deps
            .engine
            .send(Query(Box::new(move |st| {
                registries(st).get(&name).and_then(|r| r.get(&lock).filter(|p| p.path == root).cloned())
            })))
            .await?;
        if let Some(project) = known {
            return Ok((project, false));
        }
    }
    // Whether the lock's project still lives at its old path (then this is a copy) is a
    // question for the filesystem, asked as the user outside the engine, then the registry is
    // changed in one step (asked again if it moved meanwhile).
    let mut checked: Option<(PathBuf, bool)> = None;
    let mut tracked = None;
    for _ in 0..TRACK_ATTEMPTS {
        let (name, facts, known) = (user.name.clone(), found.clone(), checked.clone());
        let attempt = deps
            .engine
            .send(Transact(Box::new(move |st| {
                let mut regs = registries(st);
                let mut unchecked = None;
                let result = project::track(&mut regs, &name, &facts, |old| match known {
                    Some((path, holds)) if path == old => holds,
                    _ => {
                        unchecked = Some(old.to_path_buf());
                        false
                    }
                });
                match unchecked {
                    Some(old) => Err(old),
                    None => {
                        st.set(PROJECTS_KEY, &regs);
                        Ok(result)
                    }
                }
            })))
            .await??;
        match attempt {
            Ok(result) => {
                tracked = Some(result);
                break;
            }
            Err(old) => {
                let id = found.lock.clone().unwrap_or_default();
                let holds = as_user::holds_lock(user, old.clone(), id).await;
                checked = Some((old, holds));
            }
        }
    }
    let tracked = tracked.ok_or_else(|| {
        WorkshopError::BadRequest(format!(
            "cannot track project {:?}: it keeps changing",
            found.root.display()
        ))
    })?;
    let fresh = matches!(tracked.outcome, TrackOutcome::New | TrackOutcome::Copied { .. });
    if tracked.write_lock
        && let Err(e) = as_user::write_lock(user, found.root.clone(), tracked.project.id.clone()).await
    {
        if fresh {
            // Nothing half-done: a project whose lock could not be written is not tracked.
            let (name, id) = (user.name.clone(), tracked.project.id.clone());
            deps.engine
                .send(Transact(Box::new(move |st| {
                    let mut regs = registries(st);
                    if let Some(reg) = regs.get_mut(&name) {
                        reg.forget(&id);
                    }
                    st.set(PROJECTS_KEY, &regs);
                })))
                .await??;
        }
        return Err(e.into());
    }
    Ok((tracked.project, fresh))
}

/// Where the directory of `project`, gone from its recorded path, is now: its running
/// workshops (among `instances`, the user's) still mount it, and the kernel names the mount by
/// the directory's current path. A candidate counts only when the user can open it and it
/// holds the project's lock (M3: what the guest says is never trusted alone).
pub(super) async fn moved_to(
    deps: &Deps,
    user: &UserRef,
    project: &Project,
    instances: &[Instance],
) -> Option<PathBuf> {
    let mut running = instances.iter().filter(|i| i.running && i.target.project_id == project.id).peekable();
    running.peek()?;
    let host = mountinfo::parse(&std::fs::read_to_string("/proc/self/mountinfo").ok()?);
    for instance in running {
        let command = vec!["cat".into(), "/proc/self/mountinfo".into()];
        let spec = ExecSpec { command, limits: RunLimits::QUICK, ..Default::default() };
        let Ok(out) = backend_call(&deps.backend, RunCommand { target: instance.target.clone(), spec }).await
        else {
            continue;
        };
        let guest = mountinfo::parse(&String::from_utf8_lossy(&out.stdout));
        let Some(mount) = mountinfo::mounted_at(&guest, Path::new(GUEST_PROJECT)) else { continue };
        for path in mountinfo::host_paths(&host, mount) {
            if path.starts_with(&deps.config.mounts_dir) {
                continue;
            }
            if as_user::holds_lock(user, path.clone(), project.id.clone()).await {
                return Some(path);
            }
        }
    }
    None
}

/// The caller's projects. A project whose directory is gone is followed when a running
/// workshop says where it moved, kept while it has workshops, and forgotten otherwise.
pub(super) async fn list_projects(deps: &Deps, user: &UserRef) -> Result<Vec<Project>, WorkshopError> {
    let name = user.name.clone();
    let known = deps
        .engine
        .send(Query(Box::new(move |st| {
            registries(st).get(&name).map(|r| r.list().to_vec()).unwrap_or_default()
        })))
        .await?;
    let present = as_user::existing(user, known.iter().map(|p| p.path.clone()).collect()).await;
    let gone: Vec<&Project> = known.iter().zip(present).filter(|(_, there)| !there).map(|(p, _)| p).collect();
    let mut found = Vec::new();
    let mut launched = std::collections::BTreeSet::new();
    if !gone.is_empty() {
        // A gone directory may have moved (its running workshops say where to), and a
        // project with workshops stays listed even when its directory is gone. When
        // LXD cannot tell, no project is forgotten this time.
        let all = ListInstances { user: user.name.clone(), project_id: None };
        match deps.backend.send(all).await.map_err(BackendError::from).and_then(|r| r) {
            Ok(instances) => {
                for project in &gone {
                    if let Some(path) = moved_to(deps, user, project, &instances).await {
                        found.push((project.id.clone(), path));
                    }
                }
                launched.extend(instances.into_iter().map(|i| i.target.project_id));
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot list instances; keeping projects whose directory is gone");
                launched.extend(gone.iter().map(|p| p.id.clone()));
            }
        }
    }
    let gone: Vec<String> = gone.iter().map(|p| p.id.clone()).collect();
    let name = user.name.clone();
    let projects = deps
        .engine
        .send(Transact(Box::new(move |st| {
            let mut regs = registries(st);
            let reg = regs.entry(name).or_default();
            for (id, path) in found {
                // The old directory is gone: this is the project itself, moved.
                reg.track(&path, Some(id), |_| false);
            }
            reg.prune(|p| !gone.contains(&p.id) || launched.contains(&p.id));
            let list = reg.list().to_vec();
            st.set(PROJECTS_KEY, &regs);
            list
        })))
        .await??;
    Ok(projects)
}
