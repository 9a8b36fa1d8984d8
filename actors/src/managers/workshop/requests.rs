//! Requests from the API front: the messages, their errors and the handlers that dispatch
//! them. The work is in `projects.rs`, `listing.rs` and `changes.rs`, the lookups they share
//! in `lookups.rs`.

use std::path::PathBuf;

use actix::prelude::*;
use workshop_api::workshops::{ActionInfo, Actions, WorkshopInfo, WorkshopList, WorkshopsRequest};
use workshop_api::{ChangeConflict, Project};

use super::WorkshopManager;
use super::changes::*;
use super::listing::*;
use super::lookups::*;
use super::projects::*;
use crate::backend::{BackendError, GetInstance, Target};
use crate::engine::EngineError;
use crate::managers::UserRef;
use crate::project::{ProjectError, as_user};
use crate::state::ChangeId;

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
    /// A refresh found every workshop built from what its definition says now.
    #[error("{0}")]
    NoUpdates(String),
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
    pub change: ChangeConflict,
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

/// What `refresh` of one workshop would do, changing nothing.
#[derive(Message)]
#[rtype(result = "Result<workshop_api::workshops::RefreshPlan, WorkshopError>")]
pub struct PlanRefresh {
    pub user: UserRef,
    pub project_id: String,
    pub name: String,
    /// As the refresh would with `skip-save-state`.
    pub skip_save_state: bool,
}

/// Launch, start, stop or remove workshops: the id of the change doing it.
#[derive(Message)]
#[rtype(result = "Result<ChangeId, WorkshopError>")]
pub struct ChangeWorkshops {
    pub user: UserRef,
    pub project_id: String,
    pub request: WorkshopsRequest,
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
        Box::pin(async move { list_projects(&deps, &msg.user).await })
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
            let mut info = workshop_info(&deps, &msg.user, &project, &instance).await?;
            info.path = as_user::definitions(&msg.user, &project.path)
                .await
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
            let definition = as_user::definition(&msg.user, &project.path, &msg.name).await?;
            let warnings = definition.warnings.iter().map(ToString::to_string).collect();
            crate::managers::warn_user(&deps.engine, &msg.user, warnings).await?;
            Ok(definition
                .file
                .actions
                .into_iter()
                .map(|(name, script)| (name, ActionInfo { script }))
                .collect())
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

impl Handler<PlanRefresh> for WorkshopManager {
    type Result = ResponseFuture<Result<workshop_api::workshops::RefreshPlan, WorkshopError>>;
    fn handle(&mut self, msg: PlanRefresh, _ctx: &mut Context<Self>) -> Self::Result {
        let deps = self.deps();
        Box::pin(async move {
            refresh_plan(&deps, &msg.user, &msg.project_id, &msg.name, msg.skip_save_state).await
        })
    }
}
