//! Requests from the API front: projects, listings, and workshop changes (with the
//! reference's pre-checks, modes and conflict errors).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use actix::prelude::*;
use chrono::Utc;
use workshop_api::Project;
use workshop_api::workshops::{
    ActionInfo, Actions, Mode, WorkshopAction, WorkshopFileRef, WorkshopInfo, WorkshopList, WorkshopStatus,
    WorkshopsRequest,
};

use super::WorkshopManager;
use super::handlers::{GUEST_PROJECT, PROJECT_DEVICE, project_device};
use super::plan::{self, LaunchItem, TaskTarget};
use super::status::{self, Busy};
use crate::backend::{
    BackendError, ExecSpec, GetInstance, Instance, ListInstances, RunCommand, SetDevice, Target,
};
use crate::engine::{EngineError, Query, ResumeWaiting, StateEngine, Transact};
use crate::managers::{UserRef, backend_call};
use crate::project::{self, ProjectError, Registry, TrackOutcome, mountinfo};
use crate::state::{ChangeId, LogLevel, State};

/// State data key of the per-user project registries.
const PROJECTS_KEY: &str = "projects";

/// Errors of workshop requests.
#[derive(Debug, thiserror::Error)]
pub enum WorkshopError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The workshop is busy with another change.
    #[error("{}", .0.message)]
    Conflict(Box<Conflict>),
    /// `--continue`/`--abort` without a paused change.
    #[error("{0}")]
    NoWaitingChange(String),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<MailboxError> for WorkshopError {
    fn from(e: MailboxError) -> Self {
        Self::Engine(EngineError::Mailbox(e))
    }
}

/// Which change holds a workshop, for `change-conflict` errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub message: String,
    pub change_id: String,
    pub change_kind: String,
    /// `Wait` when the change is paused on error, else `Doing`.
    pub change_status: String,
    pub project_id: String,
    pub workshop: String,
}

/// Tracks the project holding `path` for `user`: `(project, newly tracked)`.
#[derive(Message)]
#[rtype(result = "Result<(Project, bool), WorkshopError>")]
pub struct TrackProject {
    pub user: UserRef,
    pub path: PathBuf,
}

/// The user's projects: those whose directory moved are followed through their running
/// workshops, those whose directory is gone are forgotten.
#[derive(Message)]
#[rtype(result = "Result<Vec<Project>, WorkshopError>")]
pub struct ListProjects {
    pub user: UserRef,
}

/// Workshops (instances) and definition files of a project.
#[derive(Message)]
#[rtype(result = "Result<WorkshopList, WorkshopError>")]
pub struct ListWorkshops {
    pub user: UserRef,
    pub project_id: String,
    /// `""`, `all`, `available`, or a status name to filter on.
    pub state: String,
}

/// One launched workshop.
#[derive(Message)]
#[rtype(result = "Result<WorkshopInfo, WorkshopError>")]
pub struct GetWorkshop {
    pub user: UserRef,
    pub project_id: String,
    pub name: String,
}

/// The actions of a workshop's definition.
#[derive(Message)]
#[rtype(result = "Result<Actions, WorkshopError>")]
pub struct GetActions {
    pub user: UserRef,
    pub project_id: String,
    pub name: String,
}

/// Launch, start, stop or remove workshops: the id of the change doing it.
#[derive(Message)]
#[rtype(result = "Result<ChangeId, WorkshopError>")]
pub struct ChangeWorkshops {
    pub user: UserRef,
    pub project_id: String,
    pub request: WorkshopsRequest,
}

/// What requests need, cloned out of the actor so the futures own it.
#[derive(Clone)]
struct Deps {
    engine: Addr<StateEngine>,
    backend: Addr<crate::backend::BackendActor>,
}

impl WorkshopManager {
    fn deps(&self) -> Deps {
        Deps { engine: self.engine.clone(), backend: self.env.backend.clone() }
    }
}

impl Handler<TrackProject> for WorkshopManager {
    type Result = ResponseFuture<Result<(Project, bool), WorkshopError>>;
    fn handle(&mut self, msg: TrackProject, _ctx: &mut Context<Self>) -> Self::Result {
        let deps = self.deps();
        Box::pin(async move { track_project(&deps, &msg.user, msg.path).await })
    }
}

impl Handler<ListProjects> for WorkshopManager {
    type Result = ResponseFuture<Result<Vec<Project>, WorkshopError>>;
    fn handle(&mut self, msg: ListProjects, _ctx: &mut Context<Self>) -> Self::Result {
        let deps = self.deps();
        Box::pin(async move {
            let name = msg.user.name.clone();
            let known = deps
                .engine
                .send(Query(Box::new(move |st| {
                    registries(st).get(&name).map(|r| r.list().to_vec()).unwrap_or_default()
                })))
                .await?;
            let mut found = Vec::new();
            for gone in known.iter().filter(|p| !Path::new(&p.path).is_dir()) {
                if let Some(path) = moved_to(&deps, &msg.user, gone).await {
                    found.push((gone.id.clone(), path));
                }
            }
            let name = msg.user.name.clone();
            let (projects, moved) = deps
                .engine
                .send(Transact(Box::new(move |st| {
                    let mut regs = registries(st);
                    let reg = regs.entry(name).or_default();
                    let mut moved = Vec::new();
                    for (id, path) in found {
                        if let (project, TrackOutcome::Moved { .. }) = reg.track(&path, Some(id)) {
                            moved.push(project);
                        }
                    }
                    reg.prune();
                    let list = reg.list().to_vec();
                    st.set(PROJECTS_KEY, &regs);
                    (list, moved)
                })))
                .await?;
            for project in &moved {
                repoint_project(&deps, &msg.user, project).await;
            }
            Ok(projects)
        })
    }
}

impl Handler<ListWorkshops> for WorkshopManager {
    type Result = ResponseFuture<Result<WorkshopList, WorkshopError>>;
    fn handle(&mut self, msg: ListWorkshops, _ctx: &mut Context<Self>) -> Self::Result {
        let deps = self.deps();
        Box::pin(async move { list_workshops(&deps, msg).await })
    }
}

impl Handler<GetWorkshop> for WorkshopManager {
    type Result = ResponseFuture<Result<WorkshopInfo, WorkshopError>>;
    fn handle(&mut self, msg: GetWorkshop, _ctx: &mut Context<Self>) -> Self::Result {
        let deps = self.deps();
        Box::pin(async move {
            let project = project(&deps, &msg.user, &msg.project_id).await?;
            let target = Target::new(&msg.user.name, &project.id, &msg.name);
            let instance = deps.backend.send(GetInstance { target }).await.map_err(BackendError::from)??;
            let instance = instance.ok_or_else(|| not_launched(&msg.name))?;
            let mut info = workshop_info(&deps, &project, &instance).await?;
            let root = Path::new(&project.path);
            info.path = project::definition_files(root)
                .ok()
                .and_then(|files| files.into_iter().find(|f| f.name == msg.name))
                .map(|f| f.path.to_string_lossy().into_owned());
            info.project_path = Some(project.path.clone());
            Ok(info)
        })
    }
}

impl Handler<GetActions> for WorkshopManager {
    type Result = ResponseFuture<Result<Actions, WorkshopError>>;
    fn handle(&mut self, msg: GetActions, _ctx: &mut Context<Self>) -> Self::Result {
        let deps = self.deps();
        Box::pin(async move {
            let project = project(&deps, &msg.user, &msg.project_id).await?;
            let file = project::load_definition(Path::new(&project.path), &msg.name)?;
            Ok(file.actions.into_iter().map(|(name, script)| (name, ActionInfo { script })).collect())
        })
    }
}

impl Handler<ChangeWorkshops> for WorkshopManager {
    type Result = ResponseFuture<Result<ChangeId, WorkshopError>>;
    fn handle(&mut self, msg: ChangeWorkshops, _ctx: &mut Context<Self>) -> Self::Result {
        let deps = self.deps();
        Box::pin(async move { change_workshops(&deps, msg).await })
    }
}

fn registries(st: &State) -> BTreeMap<String, Registry> {
    st.get(PROJECTS_KEY).unwrap_or_default()
}

fn not_launched(name: &str) -> WorkshopError {
    WorkshopError::NotFound(format!("workshop {name:?} is not launched"))
}

async fn track_project(deps: &Deps, user: &UserRef, path: PathBuf) -> Result<(Project, bool), WorkshopError> {
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
/// workshops still mount it, and the kernel names the mount by the directory's current path.
async fn moved_to(deps: &Deps, user: &UserRef, project: &Project) -> Option<PathBuf> {
    let host = mountinfo::parse(&std::fs::read_to_string("/proc/self/mountinfo").ok()?);
    let running = instances(deps, user, &project.id).await.ok()?.into_iter().filter(|i| i.running);
    for instance in running {
        let spec =
            ExecSpec { command: vec!["cat".into(), "/proc/self/mountinfo".into()], ..Default::default() };
        let Ok(out) = backend_call(&deps.backend, RunCommand { target: instance.target, spec }).await else {
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
async fn repoint_project(deps: &Deps, user: &UserRef, project: &Project) {
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
fn check_access(user: &UserRef, path: &Path) -> Result<(), WorkshopError> {
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

/// The caller's project with id `id`.
async fn project(deps: &Deps, user: &UserRef, id: &str) -> Result<Project, WorkshopError> {
    let (name, id) = (user.name.clone(), id.to_string());
    let lookup = id.clone();
    deps.engine
        .send(Query(Box::new(move |st| registries(st).get(&name).and_then(|r| r.get(&lookup).cloned()))))
        .await?
        .ok_or_else(|| WorkshopError::NotFound(format!("cannot find project {id:?}")))
}

async fn busy_map(
    deps: &Deps,
    project_id: &str,
    names: Vec<String>,
) -> Result<BTreeMap<String, Busy>, WorkshopError> {
    let pid = project_id.to_string();
    Ok(deps
        .engine
        .send(Query(Box::new(move |st| {
            names.into_iter().filter_map(|n| status::busy(st, &pid, &n).map(|b| (n, b))).collect()
        })))
        .await?)
}

async fn instances(deps: &Deps, user: &UserRef, project_id: &str) -> Result<Vec<Instance>, WorkshopError> {
    let msg = ListInstances { user: user.name.clone(), project_id: Some(project_id.to_string()) };
    Ok(deps.backend.send(msg).await.map_err(BackendError::from)??)
}

async fn workshop_info(
    deps: &Deps,
    project: &Project,
    instance: &Instance,
) -> Result<WorkshopInfo, WorkshopError> {
    let name = instance.target.name.clone();
    let busy = busy_map(deps, &project.id, vec![name.clone()]).await?;
    Ok(info_of(project, instance, busy.get(&name)))
}

fn info_of(project: &Project, instance: &Instance, busy: Option<&Busy>) -> WorkshopInfo {
    let exists = Path::new(&project.path).is_dir();
    let (status, notes) = status::derive(busy, instance.running, exists);
    WorkshopInfo {
        project_id: project.id.clone(),
        name: instance.target.name.clone(),
        base: instance.workshop_config("base").unwrap_or_default().to_string(),
        status,
        sdks: Vec::new(),
        hostname: None,
        notes,
        path: None,
        project_path: None,
    }
}

async fn list_workshops(deps: &Deps, msg: ListWorkshops) -> Result<WorkshopList, WorkshopError> {
    let project = project(deps, &msg.user, &msg.project_id).await?;
    let instances = instances(deps, &msg.user, &project.id).await?;
    let names = instances.iter().map(|i| i.target.name.clone()).collect();
    let busy = busy_map(deps, &project.id, names).await?;
    let mut workshops: Vec<WorkshopInfo> =
        instances.iter().map(|i| info_of(&project, i, busy.get(&i.target.name))).collect();
    workshops.sort_by(|a, b| a.name.cmp(&b.name));
    let wanted = msg.state.to_ascii_lowercase();
    if !matches!(wanted.as_str(), "" | "all" | "available") {
        workshops.retain(|w| w.status.as_str().eq_ignore_ascii_case(&wanted));
    }
    let mut files = Vec::new();
    if matches!(wanted.as_str(), "all" | "available") {
        match project::definition_files(Path::new(&project.path)) {
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
                let message = e.to_string();
                deps.engine.send(Transact(Box::new(move |st| st.warn(&message, Utc::now())))).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(WorkshopList { workshops, files })
}

/// Names deduplicated, in order; at least one.
fn names_of(request: &WorkshopsRequest) -> Result<Vec<String>, WorkshopError> {
    let mut names: Vec<String> = Vec::new();
    for n in &request.names {
        if !workshop_api::definition::is_valid_name(n) {
            return Err(WorkshopError::BadRequest(format!("invalid workshop name {n:?}")));
        }
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    if names.is_empty() {
        return Err(WorkshopError::BadRequest("no workshop names given".into()));
    }
    Ok(names)
}

fn conflict(action: WorkshopAction, name: &str, project_id: &str, busy: &Busy) -> WorkshopError {
    let what = if busy.waiting { "is waiting on error" } else { "is in progress" };
    WorkshopError::Conflict(Box::new(Conflict {
        message: format!("cannot {} {name:?}: {} change {what}", action.as_str(), busy.kind),
        change_id: busy.change.clone(),
        change_kind: busy.kind.clone(),
        change_status: if busy.waiting { "Wait" } else { "Doing" }.to_string(),
        project_id: project_id.to_string(),
        workshop: name.to_string(),
    }))
}

async fn change_workshops(deps: &Deps, msg: ChangeWorkshops) -> Result<ChangeId, WorkshopError> {
    let ChangeWorkshops { user, project_id, request } = msg;
    let names = names_of(&request)?;
    let action = request.action;
    let mode = request.options.mode;
    if mode != Mode::Transactional && !matches!(action, WorkshopAction::Launch | WorkshopAction::Refresh) {
        return Err(WorkshopError::BadRequest(format!(
            "mode {:?} is only supported for launch and refresh",
            mode.as_str()
        )));
    }
    if mode != Mode::Transactional && names.len() > 1 {
        return Err(WorkshopError::BadRequest(format!(
            "{} is not supported for multiple workshops",
            mode.as_str()
        )));
    }
    if action == WorkshopAction::Refresh {
        return Err(WorkshopError::BadRequest("cannot refresh: refresh is not supported yet".into()));
    }
    let project = project(deps, &user, &project_id).await?;
    if matches!(mode, Mode::Continue | Mode::Abort) {
        return resume(deps, &project, action, &names[0], mode == Mode::Abort).await;
    }
    let instances: BTreeMap<String, Instance> =
        instances(deps, &user, &project.id).await?.into_iter().map(|i| (i.target.name.clone(), i)).collect();
    let busy = busy_map(deps, &project.id, names.clone()).await?;
    let target = |name: &str| TaskTarget {
        name: name.to_string(),
        project_id: project.id.clone(),
        project_path: project.path.clone(),
        user: user.clone(),
    };
    let now = Utc::now();
    let change = match action {
        WorkshopAction::Launch => {
            if user.uid == 0 {
                // LXD cannot map host root onto the guest user: refuse rather than half-launch.
                return Err(WorkshopError::BadRequest(
                    "cannot launch as root: workshops map the calling user into the workshop; \
                     run workshop as your regular user (e.g. sudo -u <user> workshop launch)"
                        .into(),
                ));
            }
            let root = Path::new(&project.path);
            let mut items = Vec::new();
            for name in &names {
                if let Some(b) = busy.get(name) {
                    return Err(conflict(action, name, &project.id, b));
                }
                if instances.contains_key(name) {
                    return Err(WorkshopError::BadRequest(format!(
                        "cannot launch {name:?}: already launched"
                    )));
                }
                let file = project::load_definition(root, name)?;
                items.push(LaunchItem {
                    target: target(name),
                    base: file.base.clone(),
                    file: file.to_yaml(),
                });
            }
            let u = user.clone();
            deps.engine.send(Transact(Box::new(move |st| plan::launch(st, &u, &items, mode, now)))).await?
        }
        WorkshopAction::Start | WorkshopAction::Stop | WorkshopAction::Remove => {
            let mut targets = Vec::new();
            for name in &names {
                let instance = instances.get(name).ok_or_else(|| not_launched(name))?;
                if let Some(b) = busy.get(name) {
                    // `remove` discards a launch or refresh paused on error, in the background.
                    let discardable = action == WorkshopAction::Remove
                        && b.waiting
                        && matches!(b.kind.as_str(), "launch" | "refresh");
                    if !discardable {
                        return Err(conflict(action, name, &project.id, b));
                    }
                }
                let (status, _) = status::derive(None, instance.running, Path::new(&project.path).is_dir());
                let allowed: &[WorkshopStatus] = match action {
                    WorkshopAction::Start => &[WorkshopStatus::Stopped],
                    WorkshopAction::Stop => &[WorkshopStatus::Ready, WorkshopStatus::Stopped],
                    _ => &[WorkshopStatus::Ready, WorkshopStatus::Error, WorkshopStatus::Stopped],
                };
                if !allowed.contains(&status) {
                    let want: Vec<String> = allowed.iter().map(|s| format!("{:?}", s.as_str())).collect();
                    return Err(WorkshopError::BadRequest(format!(
                        "cannot {}: workshop {name:?} currently {:?}, must be {}",
                        action.as_str(),
                        status.as_str(),
                        want.join(" or ")
                    )));
                }
                targets.push((target(name), instance.running));
            }
            let discard: Vec<ChangeId> = names
                .iter()
                .filter_map(|n| busy.get(n))
                .filter(|_| action == WorkshopAction::Remove)
                .map(|b| b.change.clone())
                .collect();
            let u = user.clone();
            deps.engine
                .send(Transact(Box::new(move |st| {
                    for id in &discard {
                        if let Some(c) = st.change_mut(id) {
                            c.set("discard-background", true);
                        }
                        st.abort_change(id, now);
                    }
                    match action {
                        WorkshopAction::Start => {
                            plan::start(st, &u, &targets.into_iter().map(|(t, _)| t).collect::<Vec<_>>(), now)
                        }
                        WorkshopAction::Stop => {
                            plan::stop(st, &u, &targets.into_iter().map(|(t, _)| t).collect::<Vec<_>>(), now)
                        }
                        _ => plan::remove(st, &u, &targets, now),
                    }
                })))
                .await?
        }
        WorkshopAction::Refresh => unreachable!("refused above"),
    };
    Ok(change)
}

/// `--continue` / `--abort` of a paused launch or refresh.
async fn resume(
    deps: &Deps,
    project: &Project,
    action: WorkshopAction,
    name: &str,
    abort: bool,
) -> Result<ChangeId, WorkshopError> {
    let verb = if abort { "abort" } else { "continue" };
    let busy = busy_map(deps, &project.id, vec![name.to_string()]).await?;
    let Some(b) = busy.get(name).filter(|b| b.waiting && b.kind == action.as_str()) else {
        return Err(WorkshopError::NoWaitingChange(format!(
            "cannot {verb}: no {} in progress",
            action.as_str()
        )));
    };
    let change = b.change.clone();
    let line = format!(
        "{} {:?} for workshop {name:?}...",
        if abort { "Aborting" } else { "Continuing" },
        action.as_str()
    );
    let id = change.clone();
    deps.engine
        .send(Transact(Box::new(move |st| {
            let waiting: Vec<String> = st
                .change_tasks(&id)
                .iter()
                .filter(|t| t.status() == crate::state::Status::Wait)
                .map(|t| t.id.clone())
                .collect();
            for t in waiting {
                if let Some(task) = st.task_mut(&t) {
                    task.logf(LogLevel::Info, &line, Utc::now());
                }
            }
            if let Some(c) = st.change_mut(&id) {
                let attempt = c.get::<u64>("attempt").unwrap_or(1);
                c.set("attempt", attempt + 1);
            }
        })))
        .await?;
    deps.engine.send(ResumeWaiting { change: change.clone(), abort }).await??;
    Ok(change)
}
