//! Listing workshops and describing one: instances, derived status, definition files.

use std::collections::BTreeMap;

use chrono::Utc;
use workshop_api::Project;
use workshop_api::workshops::{HealthCheck, WorkshopFileRef, WorkshopInfo, WorkshopList};

use super::lookups::*;
use super::manifest::Manifest;
use super::project_source::{self, SourceId};
use super::requests::*;
use super::status::{self, Busy};
use crate::backend::hostname::FALLBACK_NOTE;
use crate::backend::{BackendError, HostName, HostNames, Instance, Target};
use crate::engine::{Query, Transact};
use crate::managers::UserRef;
use crate::managers::hook::health;
use crate::managers::sdk::spec::{self as sdk_spec, SdkSource};
use crate::project::as_user;

pub(super) async fn workshop_info(
    deps: &Deps,
    user: &UserRef,
    project: &Project,
    instance: &Instance,
) -> Result<WorkshopInfo, WorkshopError> {
    let name = instance.target.name.clone();
    let busy = busy_map(deps, user, &project.id, vec![name.clone()]).await?;
    let health = sdk_health(deps, &busy).await?;
    let (dir, names) = futures_util::join!(project_dir(user, project), host_names(deps, user));
    let replaced = replaced_projects(deps, user, project, &dir, std::slice::from_ref(instance)).await?;
    let data = user.data_dir();
    let at = Place { project, data: data.as_deref() };
    let mut info =
        info_of(at, instance, busy.get(&name), health.get(&name), dir.exists, names.get(&instance.target));
    note_replaced(&mut info, &replaced);
    warn_missing_project(deps, user, project, std::slice::from_ref(&info)).await?;
    Ok(info)
}

/// The project directory as the user sees it now.
struct ProjectDir {
    /// The user can open it (also when that cannot be told: their file operations are stuck).
    exists: bool,
    /// Its identity, when it was opened.
    id: Option<SourceId>,
}

/// Opens the project's directory as the user.
async fn project_dir(user: &UserRef, project: &Project) -> ProjectDir {
    let root = std::path::PathBuf::from(&project.path);
    let opened = crate::userfs::as_user::<_, crate::userfs::UserFsError, _>(user, move || {
        Ok(crate::userfs::Dir::open(&root).map(|dir| dir.identity().ok()).ok())
    })
    .await;
    match opened {
        Ok(Some(id)) => ProjectDir { exists: true, id },
        Ok(None) => ProjectDir { exists: false, id: None },
        Err(e) => {
            tracing::warn!(error = %e, "cannot check the project directory");
            ProjectDir { exists: true, id: None }
        }
    }
}

/// The running workshops among `instances` that mounted another directory than the project's
/// now (it was deleted and made again since they started).
async fn replaced_projects(
    deps: &Deps,
    user: &UserRef,
    project: &Project,
    dir: &ProjectDir,
    instances: &[Instance],
) -> Result<std::collections::BTreeSet<String>, WorkshopError> {
    let Some(now) = dir.id else { return Ok(Default::default()) };
    let running: Vec<(String, String)> = instances
        .iter()
        .filter(|i| i.running)
        .map(|i| (project_source::key(user.uid, &project.id, &i.target.name), i.target.name.clone()))
        .collect();
    if running.is_empty() {
        return Ok(Default::default());
    }
    let keys: Vec<String> = running.iter().map(|(key, _)| key.clone()).collect();
    let mounted = deps.engine.send(Query(Box::new(move |st| project_source::recorded(st, &keys)))).await?;
    Ok(running
        .into_iter()
        .filter(|(key, _)| mounted.get(key).is_some_and(|id| *id != now))
        .map(|(_, ws)| ws)
        .collect())
}

/// Notes `replaced-project` on a workshop of `replaced`.
fn note_replaced(info: &mut WorkshopInfo, replaced: &std::collections::BTreeSet<String>) {
    if replaced.contains(&info.name) {
        info.notes.push(status::REPLACED_PROJECT.to_string());
    }
}

/// The reference's warning for workshops whose project directory has gone (the user's own).
async fn warn_missing_project(
    deps: &Deps,
    user: &UserRef,
    project: &Project,
    infos: &[WorkshopInfo],
) -> Result<(), WorkshopError> {
    let messages: Vec<String> = infos
        .iter()
        .flat_map(|w| {
            let note = |n: &str| w.notes.iter().any(|x| x == n);
            let missing = note(status::MISSING_PROJECT)
                .then(|| crate::messages::missing_project_directory(&project.path, &w.name));
            let replaced = note(status::REPLACED_PROJECT)
                .then(|| crate::messages::replaced_project_directory(&project.path, &w.name));
            missing.into_iter().chain(replaced)
        })
        .collect();
    if !messages.is_empty() {
        let owner = Some(user.uid);
        deps.engine
            .send(Transact(Box::new(move |st| {
                for message in &messages {
                    st.warn(owner, message, Utc::now());
                }
            })))
            .await??;
    }
    Ok(())
}

/// The names of the user's workshops on the network; none when they cannot be read (the
/// listing does not depend on them).
async fn host_names(deps: &Deps, user: &UserRef) -> BTreeMap<Target, HostName> {
    match deps.backend.send(HostNames { user: user.name.clone() }).await.map_err(BackendError::from) {
        Ok(Ok(names)) => names,
        Ok(Err(e)) | Err(e) => {
            tracing::debug!(user = %user.name, error = %e, "cannot read the workshops' names");
            BTreeMap::new()
        }
    }
}

/// Whether the user can open the project's directory.
pub(super) async fn project_exists(user: &UserRef, project: &Project) -> bool {
    project_dir(user, project).await.exists
}

/// For each busy workshop, the health its SDKs reported in the change holding it.
async fn sdk_health(
    deps: &Deps,
    busy: &BTreeMap<String, Busy>,
) -> Result<BTreeMap<String, BTreeMap<String, HealthCheck>>, WorkshopError> {
    if busy.is_empty() {
        return Ok(BTreeMap::new());
    }
    let busy: Vec<(String, String)> = busy.iter().map(|(name, b)| (name.clone(), b.change.clone())).collect();
    Ok(deps
        .engine
        .send(Query(Box::new(move |st| {
            busy.into_iter()
                .map(|(name, change)| (name.clone(), health::summary(st, &change, &name)))
                .collect()
        })))
        .await?)
}

/// A workshop as `list` and `info` show it; while a change holds it, its SDKs carry the
/// health their `check-health` hooks reported.
pub(super) fn info_of(
    at: Place<'_>,
    instance: &Instance,
    busy: Option<&Busy>,
    health: Option<&BTreeMap<String, HealthCheck>>,
    exists: bool,
    host: Option<&HostName>,
) -> WorkshopInfo {
    let (status, mut notes) = status::derive(busy, instance.running, exists);
    if host.is_some_and(|h| h.fallback) {
        notes.push(FALLBACK_NOTE.to_string());
    }
    let mut info = WorkshopInfo {
        project_id: at.project.id.clone(),
        name: instance.target.name.clone(),
        base: instance.workshop_config("base").unwrap_or_default().to_string(),
        status,
        sdks: sdk_spec::installed(&instance.config)
            .into_iter()
            .map(|s| sdk_info(at, &instance.target.name, s))
            .collect(),
        hostname: host.map(|h| h.name.clone()),
        notes,
        env_hash: Manifest::of_instance(&instance.config).map(|m| m.env_hash()),
        path: None,
        project_path: None,
    };
    if let Some(health) = health {
        health::attach(&mut info.sdks, health);
    }
    info
}

pub(super) async fn list_workshops(deps: &Deps, msg: ListWorkshops) -> Result<WorkshopList, WorkshopError> {
    let project = project(deps, &msg.user, &msg.project_id).await?;
    let wanted = msg.state.to_ascii_lowercase();
    let with_files = matches!(wanted.as_str(), "all" | "available");
    // LXD's instances and names, the project directory and its definitions are read at once.
    let definitions =
        async { if with_files { Some(as_user::definitions(&msg.user, &project.path).await) } else { None } };
    let (instances, dir, host_names, definitions) = futures_util::join!(
        instances(deps, &msg.user, &project.id),
        project_dir(&msg.user, &project),
        host_names(deps, &msg.user),
        definitions
    );
    let instances = instances?;
    let exists = dir.exists;
    let names = instances.iter().map(|i| i.target.name.clone()).collect();
    let busy = busy_map(deps, &msg.user, &project.id, names).await?;
    let health = sdk_health(deps, &busy).await?;
    let replaced = replaced_projects(deps, &msg.user, &project, &dir, &instances).await?;
    let data = msg.user.data_dir();
    let at = Place { project: &project, data: data.as_deref() };
    let mut workshops: Vec<WorkshopInfo> = instances
        .iter()
        .map(|i| {
            let name = &i.target.name;
            let mut info =
                info_of(at, i, busy.get(name), health.get(name), exists, host_names.get(&i.target));
            note_replaced(&mut info, &replaced);
            info
        })
        .collect();
    workshops.sort_by(|a, b| a.name.cmp(&b.name));
    warn_missing_project(deps, &msg.user, &project, &workshops).await?;
    if !matches!(wanted.as_str(), "" | "all" | "available") {
        workshops.retain(|w| w.status.as_str().eq_ignore_ascii_case(&wanted));
    }
    let mut files = Vec::new();
    // A project whose directory is gone has no definition files (its workshops are in
    // Error, with a warning of their own): what reading them said is not used.
    if let Some(definitions) = definitions.filter(|_| exists) {
        match definitions {
            Ok(found) => {
                files = found
                    .into_iter()
                    .map(|f| WorkshopFileRef {
                        project_id: project.id.clone(),
                        name: f.name,
                        path: f.path.to_string_lossy().into_owned(),
                    })
                    .collect();
            }
            Err(e) if wanted == "available" => {
                let (owner, message) = (Some(msg.user.uid), e.to_string());
                deps.engine
                    .send(Transact(Box::new(move |st| st.warn(owner, &message, Utc::now()))))
                    .await??;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(WorkshopList { workshops, files })
}

/// Where a user's workshops are: their project and the user's data directory (for the
/// sketch SDK).
#[derive(Debug, Clone, Copy)]
pub(super) struct Place<'a> {
    pub project: &'a Project,
    pub data: Option<&'a std::path::Path>,
}

/// How an installed SDK of workshop `ws` is shown: a local SDK by its source directory, a
/// Store SDK by its channel.
fn sdk_info(at: Place<'_>, ws: &str, sdk: sdk_spec::Installed) -> workshop_api::workshops::SdkInfo {
    let project = at.project;
    let source = match sdk.source {
        SdkSource::Project => Some(format!("{}/.workshop/{}", project.path, sdk.name)),
        SdkSource::Sketch => at
            .data
            .map(|data| crate::sdk::sketch::tracking(data, &project.id, ws).to_string_lossy().into_owned()),
        // The try area the SDK comes from, as the reference's `tracking:` shows it.
        SdkSource::Try => {
            at.data.map(|data| crate::store::try_area::area(data, &sdk.name).to_string_lossy().into_owned())
        }
        SdkSource::System | SdkSource::Store { .. } => None,
    };
    workshop_api::workshops::SdkInfo {
        name: sdk.name,
        version: (!sdk.version.is_empty()).then_some(sdk.version),
        channel: sdk.channel,
        source,
        revision: sdk.revision,
        built_at: sdk.built_at,
        installed_at: Some(sdk.installed_at),
        health_check: None,
        mounts: Vec::new(),
        tunnels: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_sdks_are_tracked_by_where_they_come_from() {
        let project = Project { path: "/home/u/p".into(), id: "0123abcd".into() };
        let data = std::path::Path::new("/home/u/.local/share");
        let at = Place { project: &project, data: Some(data) };
        let installed = |name: &str, source| sdk_spec::Installed {
            name: name.into(),
            source,
            order: 1,
            revision: "x1".into(),
            tree: crate::sdk::TreeId::of_digest(&[0; 48]),
            channel: None,
            version: String::new(),
            built_at: None,
            installed_at: Utc::now(),
        };
        let source = |name, kind| sdk_info(at, "ws", installed(name, kind)).source;
        assert_eq!(source("tools", SdkSource::Project).as_deref(), Some("/home/u/p/.workshop/tools"));
        assert_eq!(
            source("tools", SdkSource::Try).as_deref(),
            Some("/home/u/.local/share/workshop/try/tools")
        );
        assert_eq!(source("system", SdkSource::System), None);
    }
}
