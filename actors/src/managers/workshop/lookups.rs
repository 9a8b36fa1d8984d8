//! What the requests share: the manager's dependencies (`Deps`) and the lookups of projects,
//! instances and the changes holding workshops.

use std::collections::BTreeMap;

use actix::prelude::*;
use workshop_api::Project;

use super::WorkshopManager;
use super::projects::registries;
use super::requests::WorkshopError;
use super::status::{self, Busy};
use crate::backend::{BackendError, Instance, ListInstances};
use crate::engine::{Query, StateEngine};
use crate::managers::UserRef;

/// What requests need, cloned out of the actor so the futures own it.
#[derive(Clone)]
pub(super) struct Deps {
    pub(super) engine: Addr<StateEngine>,
    pub(super) backend: Addr<crate::backend::BackendActor>,
    pub(super) config: std::rc::Rc<super::WorkshopConfig>,
    pub(super) store: Option<Addr<crate::store::StoreActor>>,
    pub(super) sdk_trees: Option<super::SdkTrees>,
}

impl WorkshopManager {
    pub(super) fn deps(&self) -> Deps {
        Deps {
            engine: self.engine.clone(),
            backend: self.env.backend.clone(),
            config: self.env.manager.clone(),
            store: self.store.clone(),
            sdk_trees: self.sdk_trees.clone(),
        }
    }
}

pub(super) fn not_launched(name: &str) -> WorkshopError {
    WorkshopError::NotFound(format!("workshop {name:?} is not launched"))
}

/// [`not_launched`], said of a command: `cannot <verb> "ws": workshop "ws" is not launched`.
pub(super) fn not_launched_as(verb: &str, name: &str) -> WorkshopError {
    WorkshopError::NotFound(format!("cannot {verb} {name:?}: workshop {name:?} is not launched"))
}

/// The caller's project with id `id`.
pub(super) async fn project(deps: &Deps, user: &UserRef, id: &str) -> Result<Project, WorkshopError> {
    let (name, id) = (user.name.clone(), id.to_string());
    let lookup = id.clone();
    deps.engine
        .send(Query(Box::new(move |st| registries(st).get(&name).and_then(|r| r.get(&lookup).cloned()))))
        .await?
        .ok_or_else(|| WorkshopError::NotFound(format!("cannot find project {id:?}")))
}

/// The changes of `user` holding workshops `names` of project `project_id`.
pub(super) async fn busy_map(
    deps: &Deps,
    user: &UserRef,
    project_id: &str,
    names: Vec<String>,
) -> Result<BTreeMap<String, Busy>, WorkshopError> {
    let (user, pid) = (user.name.clone(), project_id.to_string());
    Ok(deps
        .engine
        .send(Query(Box::new(move |st| {
            names.into_iter().filter_map(|n| status::busy(st, &user, &pid, &n).map(|b| (n, b))).collect()
        })))
        .await?)
}

pub(super) async fn instances(
    deps: &Deps,
    user: &UserRef,
    project_id: &str,
) -> Result<Vec<Instance>, WorkshopError> {
    let msg = ListInstances { user: user.name.clone(), project_id: Some(project_id.to_string()) };
    Ok(deps.backend.send(msg).await.map_err(BackendError::from)??)
}
