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

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;

use self::handlers::{Commands, Env};
use crate::backend::BackendActor;
use crate::engine::StateEngine;
use crate::managers::task::{self, Kind};
use crate::managers::workshop::WorkshopManager;
use crate::runner::RunTask;
use crate::state::Outcome;

/// The task kinds of this manager: neither has an undo; both clean up the exec cache.
pub static KINDS: &[Kind<Commands>] = &[
    Kind {
        name: "exec",
        run: |c, e| Box::pin(handlers::exec(c, e)),
        undo: None,
        cleanup: Some(|c, e| Box::pin(handlers::drop_exec_args(c, e))),
    },
    Kind {
        name: "install-action",
        run: |c, e| Box::pin(handlers::install_action(c, e)),
        undo: None,
        cleanup: Some(|c, e| Box::pin(handlers::drop_exec_args(c, e))),
    },
];

/// The actor shell.
pub struct CommandManager {
    engine: Addr<StateEngine>,
    workshops: Addr<WorkshopManager>,
    env: Env,
    connect_timeout: Duration,
}

impl CommandManager {
    pub fn new(
        engine: Addr<StateEngine>,
        backend: Addr<BackendActor>,
        workshops: Addr<WorkshopManager>,
    ) -> Self {
        let manager = Commands {
            cache: ExecCache::default(),
            engine: engine.clone(),
            connect_timeout: handlers::CONNECT_TIMEOUT,
        };
        Self {
            engine,
            workshops,
            env: Env { backend, manager: Rc::new(manager) },
            connect_timeout: handlers::CONNECT_TIMEOUT,
        }
    }

    /// Changes how long `exec` waits for the client's websockets (tests).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        let manager =
            Commands { cache: self.env.cache.clone(), engine: self.engine.clone(), connect_timeout: timeout };
        self.env.manager = Rc::new(manager);
        self.connect_timeout = timeout;
        self
    }
}

impl Actor for CommandManager {
    type Context = Context<Self>;
}

impl Handler<RunTask> for CommandManager {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, msg: RunTask, _ctx: &mut Context<Self>) -> Self::Result {
        task::dispatch(KINDS, msg, self.env.clone())
    }
}

#[cfg(test)]
mod tests;
