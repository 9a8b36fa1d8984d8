//! The workshop manager: projects, workshop listing and status, and the launch / start /
//! stop / remove changes with their task handlers.

mod autostart;
mod changes;
mod guest;
mod handlers;
mod listing;
pub mod plan;
mod projects;
mod requests;
pub mod status;

pub use guest::{GUEST_SOCKET, SHARED_SOCKET_NAME};
pub use handlers::WorkshopConfig;
pub use requests::*;

use std::rc::Rc;

use actix::prelude::*;

use self::handlers::Env;
use crate::backend::BackendActor;
use crate::engine::{KindSpec, StateEngine};
use crate::managers::{outcome, run_handler};
use crate::runner::RunTask;
use crate::state::{Op, Outcome};

/// Task kinds this manager handles: (kind, has undo).
pub const KINDS: &[(&str, bool)] = &[
    ("download-base", false),
    ("create-workshop-storage", true),
    ("create-workshop", true),
    ("start-workshop", true),
    ("stop-workshop", true),
    ("remove-workshop", false),
    ("configure-timezone", false),
    ("mount-project", false),
    ("remove-workshop-storage", false),
];

/// Scheduler registration for [`KINDS`].
pub fn kind_specs() -> Vec<KindSpec> {
    KINDS.iter().map(|&(kind, undo)| KindSpec { kind, undo, cleanup: false }).collect()
}

/// The actor shell.
pub struct WorkshopManager {
    engine: Addr<StateEngine>,
    env: Env,
}

impl WorkshopManager {
    pub fn new(engine: Addr<StateEngine>, backend: Addr<BackendActor>, config: WorkshopConfig) -> Self {
        Self { engine, env: Env { backend, config: Rc::new(config) } }
    }
}

impl Actor for WorkshopManager {
    type Context = Context<Self>;
}

impl Handler<RunTask> for WorkshopManager {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, msg: RunTask, _ctx: &mut Context<Self>) -> Self::Result {
        let env = self.env.clone();
        let (kind, op) = (msg.ctx.kind.clone(), msg.op);
        if op == Op::Undo && msg.ctx.change_get::<bool>("discard-background").unwrap_or(false) {
            // A paused change discarded by `remove`: its undo is skipped (reference §6.3).
            return Box::pin(async { Outcome::Done });
        }
        run_handler(msg, move |ctx| async move {
            let result = match (kind.as_str(), op) {
                ("download-base", Op::Do) => handlers::download_base(ctx, env).await,
                ("create-workshop-storage", Op::Do) => handlers::create_storage(ctx, env).await,
                ("create-workshop-storage", Op::Undo) => handlers::remove_storage(ctx, env).await,
                ("create-workshop", Op::Do) => handlers::create_workshop(ctx, env).await,
                ("create-workshop", Op::Undo) => handlers::remove_workshop(ctx, env).await,
                ("start-workshop", Op::Do) => handlers::start_workshop(ctx, env).await,
                ("start-workshop", Op::Undo) => handlers::undo_start(ctx, env).await,
                ("stop-workshop", Op::Do) => handlers::stop_workshop(ctx, env).await,
                ("stop-workshop", Op::Undo) => handlers::start_workshop(ctx, env).await,
                ("remove-workshop", Op::Do) => handlers::remove_workshop(ctx, env).await,
                ("configure-timezone", Op::Do) => handlers::configure_timezone(ctx, env).await,
                ("mount-project", Op::Do) => handlers::mount_project(ctx, env).await,
                ("remove-workshop-storage", Op::Do) => handlers::remove_storage(ctx, env).await,
                (kind, op) => Err(format!("workshop manager has no {op:?} handler for {kind:?}")),
            };
            outcome(result)
        })
    }
}

#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod tests;
