//! Workshops that should be running but are not: LXD's own starts (autostart at boot or when
//! LXD comes back, the start after a guest's reboot) cannot start them, since their project
//! is staged by the daemon only while it starts them (`userfs::stage`). Whenever the system is
//! healthy again, and whenever the backend reports a guest's reboot, the daemon starts them
//! itself, as the change their owner would have made (a guest rebooting in a loop only so
//! often, see [`super::reboot_loops`]). A workshop powered off from inside is no longer marked
//! to run, as if its owner had stopped it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use actix::prelude::*;
use workshop_api::ids::WorkshopName;
use workshop_api::workshops::{WorkshopAction, WorkshopsRequest};

use super::WorkshopManager;
use super::changes::change_workshops;
use super::lookups::*;
use super::projects::registries;
use super::reboot_loops::{self, RebootLoops};
use super::requests::*;
use crate::backend::{BackendError, GetInstance, GuestShutdown, ListInstances, Target, UnmarkStopped};
use crate::engine::Query;
use crate::health::SystemHealthy;
use crate::managers::{UserRef, warn_user};
use crate::state::ChangeId;

impl Handler<SystemHealthy> for WorkshopManager {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: SystemHealthy, _ctx: &mut Context<Self>) -> Self::Result {
        let deps = self.deps();
        let job = self.activity.begin();
        Box::pin(async move {
            if let Err(e) = restart_stopped(&deps).await {
                tracing::warn!(error = %e, "cannot start the workshops LXD left stopped");
            }
            drop(job);
        })
    }
}

/// A workshop's guest went down by itself: rebooted (and not started again by the backend),
/// or powered off.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct GuestWentDown(pub GuestShutdown);

impl Handler<GuestWentDown> for WorkshopManager {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: GuestWentDown, _ctx: &mut Context<Self>) -> Self::Result {
        let deps = self.deps();
        let job = self.activity.begin();
        let loops = Rc::clone(&self.reboot_loops);
        let GuestShutdown { target: t, reboot } = msg.0;
        Box::pin(async move {
            let done = if reboot {
                restart_rebooted(&deps, &t, &loops)
                    .await
                    .map(|c| c.map(|c| format!("started again by change {c}")))
            } else {
                unmark_powered_off(&deps, &t)
                    .await
                    .map(|done| done.then(|| "no longer marked to run".to_string()))
            };
            match done {
                Ok(Some(what)) => {
                    tracing::info!(user = %t.user, project = %t.project_id, workshop = %t.name, reboot, "a workshop whose guest went down by itself: {what}")
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(user = %t.user, project = %t.project_id, workshop = %t.name, reboot, error = %e, "cannot handle a workshop whose guest went down by itself")
                }
            }
            drop(job);
        })
    }
}

/// The owner of `target` and its project's path when its workshop is of a project they
/// registered with this daemon (others share LXD) and no change of theirs holds it (one
/// starting, stopping, refreshing or removing it decides).
async fn idle_owner(deps: &Deps, target: &Target) -> Result<Option<(UserRef, String)>, WorkshopError> {
    let Some(user) = UserRef::lookup(&target.user) else { return Ok(None) };
    let path = match project(deps, &user, &target.project_id).await {
        Err(WorkshopError::NotFound(_)) => return Ok(None),
        found => found?.path,
    };
    if !busy_map(deps, &user, &target.project_id, vec![target.name.clone()]).await?.is_empty() {
        return Ok(None);
    }
    Ok(Some((user, path)))
}

/// Starts the workshop of `target` when it is idle, stopped, marked to run and this daemon's:
/// the change, if one was made. When it rebooted in a loop (`loops`), its owner is warned
/// instead and it stays as it is (the next `SystemHealthy` starts it).
async fn restart_rebooted(
    deps: &Deps,
    target: &Target,
    loops: &RefCell<RebootLoops>,
) -> Result<Option<ChangeId>, WorkshopError> {
    let Some((user, path)) = idle_owner(deps, target).await? else { return Ok(None) };
    let get = GetInstance { target: target.clone() };
    if !deps.backend.send(get).await.map_err(BackendError::from)??.is_some_and(|i| i.autostart && !i.running)
    {
        return Ok(None);
    }
    if !loops.borrow_mut().allow(target, std::time::Instant::now()) {
        let message = reboot_loops::warning(&target.name, &path);
        tracing::warn!(user = %target.user, project = %target.project_id, workshop = %target.name, "{message}");
        warn_user(&deps.engine, &user, vec![message]).await?;
        return Ok(None);
    }
    let name: WorkshopName = target.name.parse().map_err(|e| WorkshopError::BadRequest(format!("{e}")))?;
    start_change(deps, user, &target.project_id, vec![name]).await.map(Some)
}

/// Takes the mark to run from the workshop of `target` when it is idle and this daemon's
/// (the backend checks that it is stopped and marked, and leaves one started meanwhile):
/// whether it did.
async fn unmark_powered_off(deps: &Deps, target: &Target) -> Result<bool, WorkshopError> {
    if idle_owner(deps, target).await?.is_none() {
        return Ok(false);
    }
    let unmark = UnmarkStopped { target: target.clone() };
    Ok(deps.backend.send(unmark).await.map_err(BackendError::from)??)
}

/// A start change of `user`'s workshops `names` of project `project_id`.
async fn start_change(
    deps: &Deps,
    user: UserRef,
    project_id: &str,
    names: Vec<WorkshopName>,
) -> Result<ChangeId, WorkshopError> {
    let request = WorkshopsRequest { action: WorkshopAction::Start, names, options: Default::default() };
    change_workshops(deps, ChangeWorkshops { user, project_id: project_id.to_string(), request }).await
}

/// Starts, for every known user, the workshops marked to run that are not running.
async fn restart_stopped(deps: &Deps) -> Result<(), WorkshopError> {
    let users: Vec<String> =
        deps.engine.send(Query(Box::new(|st| registries(st).into_keys().collect()))).await?;
    for name in users {
        let Some(user) = UserRef::lookup(&name) else { continue };
        let all = ListInstances { user: name.clone(), project_id: None };
        let instances = deps.backend.send(all).await.map_err(BackendError::from)??;
        let mut stopped: BTreeMap<String, Vec<WorkshopName>> = BTreeMap::new();
        for i in instances.into_iter().filter(|i| i.autostart && !i.running) {
            match i.target.name.parse() {
                Ok(ws) => stopped.entry(i.target.project_id).or_default().push(ws),
                Err(e) => {
                    tracing::warn!(user = %name, error = %e, "not starting an instance LXD left stopped")
                }
            }
        }
        for (project_id, names) in stopped {
            match start_change(deps, user.clone(), &project_id, names.clone()).await {
                Ok(change) => {
                    tracing::info!(user = %name, project = %project_id, workshops = ?names, %change, "starting workshops LXD left stopped")
                }
                Err(e) => {
                    tracing::warn!(user = %name, project = %project_id, workshops = ?names, error = %e, "cannot start workshops LXD left stopped")
                }
            }
        }
    }
    Ok(())
}
