//! The command manager: `exec` changes (`workshop exec`, `shell`, `run`), their task handlers,
//! and the in-memory exec cache the API front attaches websockets to.

mod action;
pub mod args;
mod bridge;
pub mod cache;
mod handlers;
pub mod plan;
mod requests;

pub use bridge::BridgeError;
pub use cache::{AttachError, ClientEnds, ExecCache, Inbound};
pub use requests::*;

use std::time::Duration;

use actix::prelude::*;

use self::handlers::Env;
use crate::backend::BackendActor;
use crate::engine::{KindSpec, StateEngine};
use crate::managers::workshop::WorkshopManager;
use crate::managers::{outcome, run_handler};
use crate::runner::RunTask;
use crate::state::{Op, Outcome};

/// Task kinds this manager handles. Neither has an undo; both clean up the exec cache.
pub const KINDS: &[&str] = &["exec", "install-action"];

/// Scheduler registration for [`KINDS`].
pub fn kind_specs() -> Vec<KindSpec> {
    KINDS.iter().map(|&kind| KindSpec { kind, undo: false, cleanup: true }).collect()
}

/// The actor shell.
pub struct CommandManager {
    engine: Addr<StateEngine>,
    workshops: Addr<WorkshopManager>,
    env: Env,
}

impl CommandManager {
    pub fn new(
        engine: Addr<StateEngine>,
        backend: Addr<BackendActor>,
        workshops: Addr<WorkshopManager>,
    ) -> Self {
        let env = Env { backend, cache: ExecCache::default(), connect_timeout: handlers::CONNECT_TIMEOUT };
        Self { engine, workshops, env }
    }

    /// Changes how long `exec` waits for the client's websockets (tests).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.env.connect_timeout = timeout;
        self
    }
}

impl Actor for CommandManager {
    type Context = Context<Self>;
}

impl Handler<RunTask> for CommandManager {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, msg: RunTask, _ctx: &mut Context<Self>) -> Self::Result {
        let env = self.env.clone();
        let (kind, op) = (msg.ctx.kind.clone(), msg.op);
        run_handler(msg, move |ctx| async move {
            let result = match (kind.as_str(), op) {
                ("exec", Op::Do) => handlers::exec(ctx, env).await,
                ("install-action", Op::Do) => handlers::install_action(ctx, env).await,
                (_, Op::Cleanup) => {
                    handlers::drop_exec_args(&ctx, &env);
                    Ok(())
                }
                (kind, op) => Err(format!("command manager has no {op:?} handler for {kind:?}")),
            };
            outcome(result)
        })
    }
}

#[cfg(test)]
mod tests;
