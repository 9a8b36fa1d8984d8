//! Project tracking: the per-user registry in the state, lock files, moved projects found
//! through their running workshops, and the caller's access to the directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use workshop_api::Project;

use super::handlers::{GUEST_PROJECT, PROJECT_DEVICE, project_device};
use super::requests::*;
use crate::backend::{ExecSpec, Instance, RunCommand, SetDevice};
use crate::engine::{Query, Transact};
use crate::managers::{UserRef, backend_call};
use crate::project::{self, Registry, TrackOutcome, mountinfo};
use crate::state::State;

/// State data key of the per-user project registries.
pub(super) const PROJECTS_KEY: &str = "projects";

pub(super) fn registries(st: &State) -> BTreeMap<String, Registry> {
    st.get(PROJECTS_KEY).unwrap_or_default()
}

pub(super) async fn track_project(
    deps: &Deps,
    user: &UserRef,
    path: PathBuf,
) -> Result<(Project, bool), WorkshopError> {
    if !path.is_absolute() {
        return Err(WorkshopError::BadRequest(format!("project path {:?} is not absolute", path.display())));
    }
    check_access(user, &path)?;
    // The common case, a known project whose lock file is intact, needs no state change.
    let root = project::find_root(&path)?;
    if let Some(lock) = project::read_lock(&root) {
        let (name, root_text) = (user.name.clone(), root.to_string_lossy().into_owned());
        let known = deps
            .engine
            .send(Query(Box::new(move |st| {
                registries(st).get(&name).and_then(|r| r.get(&lock).filter(|p| p.path == root_text).cloned())
            })))
            .await?;
        if let Some(project) = known {
            return Ok((project, false));
        }
    }
    let name = user.name.clone();
    let tracked = deps
        .engine
        .send(Transact(Box::new(move |st| {
            let mut regs = registries(st);
            let result = regs.entry(name).or_default().track_dir(&path);
            if result.is_ok() {
                st.set(PROJECTS_KEY, &regs);
            }
            result
        })))
        .await??;
    let (project, outcome) = tracked;
    // A moved directory, or one found again after it was forgotten, whose lock file names
    // workshops that still mount the old path.
    if matches!(outcome, TrackOutcome::Moved { .. } | TrackOutcome::New) {
        repoint_project(deps, user, &project).await;
    }
    Ok((project, matches!(outcome, TrackOutcome::New | TrackOutcome::Copied { .. })))
}

/// Where the directory of `project`, gone from its recorded path, is now: its running
/// workshops (among `instances`, the user's) still mount it, and the kernel names the mount by
/// the directory's current path.
pub(super) async fn moved_to(deps: &Deps, project: &Project, instances: &[Instance]) -> Option<PathBuf> {
    let mut running = instances.iter().filter(|i| i.running && i.target.project_id == project.id).peekable();
    running.peek()?;
    let host = mountinfo::parse(&std::fs::read_to_string("/proc/self/mountinfo").ok()?);
    for instance in running {
        let spec =
            ExecSpec { command: vec!["cat".into(), "/proc/self/mountinfo".into()], ..Default::default() };
        let Ok(out) = backend_call(&deps.backend, RunCommand { target: instance.target.clone(), spec }).await
        else {
            continue;
        };
        let guest = mountinfo::parse(&String::from_utf8_lossy(&out.stdout));
        let Some(mount) = mountinfo::mounted_at(&guest, Path::new(GUEST_PROJECT)) else { continue };
        let path = mountinfo::host_paths(&host, mount)
            .into_iter()
            .find(|p| project::read_lock(p).as_deref() == Some(project.id.as_str()));
        if path.is_some() {
            return path;
        }
    }
    None
}

/// Points the project mount of `project`'s workshops at its current directory, so that they
/// start again after the directory moved. Failures are logged: the workshops keep running.
pub(super) async fn repoint_project(deps: &Deps, user: &UserRef, project: &Project) {
    let Ok(instances) = instances(deps, user, &project.id).await else { return };
    for instance in instances {
        let source = instance.devices.get(PROJECT_DEVICE).and_then(|d| d.get("source"));
        // Without the device the launch has not mounted the project yet.
        if source.is_none_or(|s| *s == project.path) {
            continue;
        }
        let name = instance.target.name.clone();
        let msg = SetDevice {
            target: instance.target,
            name: PROJECT_DEVICE.into(),
            device: project_device(&project.path),
        };
        match backend_call(&deps.backend, msg).await {
            Ok(()) => {
                tracing::info!(project = %project.id, workshop = %name, path = %project.path, "project mount moved")
            }
            Err(error) => {
                tracing::warn!(project = %project.id, workshop = %name, %error, "cannot move the project mount")
            }
        }
    }
}

/// The daemon runs as root: refuse project paths the caller could not read themselves.
pub(super) fn check_access(user: &UserRef, path: &Path) -> Result<(), WorkshopError> {
    use std::os::unix::fs::MetadataExt;
    if user.uid == 0 {
        return Ok(());
    }
    let denied =
        || WorkshopError::BadRequest(format!("cannot access {:?}: permission denied", path.display()));
    let mut dir = Some(path);
    while let Some(d) = dir {
        if let Ok(meta) = std::fs::metadata(d) {
            let mode = meta.mode();
            let allowed = if meta.uid() == user.uid {
                mode & 0o500 == 0o500
            } else if meta.gid() == user.gid {
                mode & 0o050 == 0o050
            } else {
                mode & 0o005 == 0o005
            };
            if !allowed {
                return Err(denied());
            }
        }
        dir = d.parent();
    }
    Ok(())
}
