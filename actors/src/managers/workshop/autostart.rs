//! Workshops that should be running but are not: LXD's own autostart (at boot, or when LXD
//! comes back) cannot start them, since their project is staged by the daemon only while it
//! starts them (`userfs::stage`). Whenever the system is healthy again, the daemon starts them
//! itself, as the change their owner would have made.

use std::collections::BTreeMap;

use actix::prelude::*;
use workshop_api::ids::WorkshopName;
use workshop_api::workshops::{WorkshopAction, WorkshopsRequest};

use super::WorkshopManager;
use super::changes::change_workshops;
use super::lookups::*;
use super::projects::registries;
use super::requests::*;
use crate::backend::{BackendError, ListInstances};
use crate::engine::Query;
use crate::health::SystemHealthy;
use crate::managers::UserRef;

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
            let request = WorkshopsRequest {
                action: WorkshopAction::Start,
                names: names.clone(),
                options: Default::default(),
            };
            let msg = ChangeWorkshops { user: user.clone(), project_id: project_id.clone(), request };
            match change_workshops(deps, msg).await {
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
