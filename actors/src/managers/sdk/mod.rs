//! The SDK manager: what a workshop is made of. It retrieves each SDK's tree into the tree
//! store (`crate::sdk`) and installs it into workshops; the workshop manager's planners add
//! its tasks (`plan.rs`).

mod collect;
mod handlers;
mod listing;
pub mod plan;
pub mod spec;

pub use handlers::Sdks;
pub use spec::installed_trees;

use std::rc::Rc;

use actix::prelude::*;

use self::handlers::Env;
use crate::backend::BackendActor;
use crate::health::SystemHealthy;
use crate::managers::task::{self, Kind};
use crate::runner::RunTask;
use crate::state::Outcome;

/// The task kinds of this manager.
pub static KINDS: &[Kind<Sdks>] = &[
    Kind {
        name: "retrieve-sdk",
        run: |c, e| Box::pin(handlers::retrieve_sdk(c, e)),
        undo: None,
        cleanup: None,
    },
    Kind {
        name: "install-sdk",
        run: |c, e| Box::pin(handlers::install_sdk(c, e)),
        undo: Some(|c, e| Box::pin(handlers::uninstall_sdk(c, e))),
        cleanup: Some(|c, e| Box::pin(handlers::collect_trees(c, e))),
    },
];

/// The actor shell.
pub struct SdkManager {
    env: Env,
}

impl SdkManager {
    pub fn new(backend: Addr<BackendActor>, sdks: Sdks) -> Self {
        Self { env: Env { backend, manager: Rc::new(sdks) } }
    }
}

/// Whenever the system is healthy (at start-up among others), unused trees go.
impl Handler<SystemHealthy> for SdkManager {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: SystemHealthy, _ctx: &mut Context<Self>) -> Self::Result {
        let env = self.env.clone();
        Box::pin(async move {
            if let Err(e) = collect::collect(&env.engine, &env.backend, &env.trees).await {
                tracing::warn!(error = %e, "cannot remove unused SDK trees");
            }
        })
    }
}

impl Actor for SdkManager {
    type Context = Context<Self>;
}

impl Handler<RunTask> for SdkManager {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, msg: RunTask, _ctx: &mut Context<Self>) -> Self::Result {
        task::dispatch(KINDS, msg, self.env.clone())
    }
}
