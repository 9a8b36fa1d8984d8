//! The interface manager: plugs, slots and connections (reference-inventory §4). Pure parts:
//! a workshop's plugs and slots (`repo.rs`), the rules of each interface (`policy.rs`), the
//! mount interface's host side (`mount.rs`), the connection state (`conns.rs`); planners
//! (`plan.rs`), host sources staged for LXD (`staging.rs`) and task handlers (`handlers.rs`).

pub mod conns;
mod handlers;
pub mod mount;
pub mod plan;
pub mod policy;
pub mod repo;
pub mod staging;

pub use handlers::Interfaces;

use std::rc::Rc;

use actix::prelude::*;

use self::handlers::Env;
use crate::backend::BackendActor;
use crate::managers::task::{self, Kind};
use crate::runner::RunTask;
use crate::state::Outcome;

/// The task kinds of this manager.
pub static KINDS: &[Kind<Interfaces>] = &[
    Kind {
        name: "resolve-interfaces",
        run: |c, e| Box::pin(handlers::resolve_interfaces(c, e)),
        undo: None,
        cleanup: None,
    },
    Kind {
        name: "auto-connect",
        run: |c, e| Box::pin(handlers::auto_connect(c, e)),
        undo: Some(|c, e| Box::pin(handlers::undo_auto_connect(c, e))),
        cleanup: None,
    },
    Kind {
        name: "setup-profiles",
        run: |c, e| Box::pin(handlers::setup_profiles(c, e)),
        undo: Some(|c, e| Box::pin(handlers::undo_setup_profiles(c, e))),
        cleanup: None,
    },
    Kind {
        name: "remove-profiles",
        run: |c, e| Box::pin(handlers::remove_profiles(c, e)),
        undo: Some(|c, e| Box::pin(handlers::undo_remove_profiles(c, e))),
        cleanup: None,
    },
    Kind {
        name: "discard-conns",
        run: |c, e| Box::pin(handlers::discard_conns(c, e)),
        undo: Some(|c, e| Box::pin(handlers::undo_discard_conns(c, e))),
        cleanup: None,
    },
];

/// The actor shell.
pub struct InterfaceManager {
    env: Env,
}

impl InterfaceManager {
    pub fn new(backend: Addr<BackendActor>, interfaces: Interfaces) -> Self {
        Self { env: Env { backend, manager: Rc::new(interfaces) } }
    }
}

impl Actor for InterfaceManager {
    type Context = Context<Self>;
}

impl Handler<RunTask> for InterfaceManager {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, msg: RunTask, _ctx: &mut Context<Self>) -> Self::Result {
        task::dispatch(KINDS, msg, self.env.clone())
    }
}
