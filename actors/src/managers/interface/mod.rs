//! The interface manager: plugs, slots and connections (reference-inventory §4). Pure parts:
//! a workshop's plugs and slots (`repo.rs`), the rules of each interface (`policy.rs`), the
//! mount interface's host side (`mount.rs`), the connection state (`conns.rs`); planners
//! (`plan.rs`), host sources staged for LXD (`staging.rs`) and task handlers (`handlers.rs`).

pub mod camera;
pub mod conns;
pub mod custom_device;
pub mod desktop;
pub mod devices;
pub mod gpu;
pub mod guest_mounts;
mod handlers;
pub mod listing;
pub mod mount;
pub mod plan;
pub mod policy;
pub mod ports;
pub mod remount;
pub mod repo;
pub mod requests;
pub mod resolve;
pub mod session;
pub mod ssh_agent;
pub mod staging;
pub mod tunnel;

pub use handlers::Interfaces;

use std::rc::Rc;

use actix::prelude::*;

use workshop_api::connections::Connections;

use self::handlers::Env;
use crate::backend::{BackendActor, BackendError};
use crate::engine::{EngineError, Query};
use crate::managers::UserRef;
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
        name: "auto-disconnect",
        run: |c, e| Box::pin(handlers::auto_disconnect(c, e)),
        undo: Some(|c, e| Box::pin(handlers::undo_auto_disconnect(c, e))),
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
        name: "connect",
        run: |c, e| Box::pin(handlers::change_conns(c, e)),
        undo: Some(|c, e| Box::pin(handlers::undo_change_conns(c, e))),
        cleanup: None,
    },
    Kind {
        name: "disconnect",
        run: |c, e| Box::pin(handlers::change_conns(c, e)),
        undo: Some(|c, e| Box::pin(handlers::undo_change_conns(c, e))),
        cleanup: None,
    },
    Kind {
        name: "remount",
        run: |c, e| Box::pin(handlers::remount(c, e)),
        undo: Some(|c, e| Box::pin(handlers::undo_remount(c, e))),
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

/// Why a request about connections cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<MailboxError> for InterfaceError {
    fn from(e: MailboxError) -> Self {
        Self::Engine(EngineError::Mailbox(e))
    }
}

/// The plugs, slots and connections of workshops of one of the user's projects (the front
/// checked the project is theirs and which workshops it has).
#[derive(Message)]
#[rtype(result = "Result<Connections, InterfaceError>")]
pub struct ListConnections {
    pub user: UserRef,
    pub project_id: String,
    pub workshops: Vec<String>,
    pub filter: listing::Filter,
}

impl Handler<ListConnections> for InterfaceManager {
    type Result = ResponseFuture<Result<Connections, InterfaceError>>;

    fn handle(&mut self, msg: ListConnections, _ctx: &mut Context<Self>) -> Self::Result {
        let env = self.env.clone();
        Box::pin(async move {
            let mut out = Connections::default();
            for name in msg.workshops {
                let t = task::TaskTarget {
                    name: name.clone(),
                    project_id: msg.project_id.clone(),
                    project_path: String::new(),
                    user: msg.user.clone(),
                };
                // A workshop still being launched (or broken) has no repository to show.
                let repo = match handlers::load_repo(&env, &t).await {
                    Ok((repo, _)) => repo,
                    Err(e) => {
                        tracing::debug!(workshop = %name, error = %e, "no interfaces to list");
                        continue;
                    }
                };
                let key = conns::workshop_key(msg.user.uid, &msg.project_id, &name);
                let state = env.engine.send(Query(Box::new(move |st| conns::of_workshop(st, &key)))).await?;
                listing::add_workshop(&mut out, &msg.project_id, &name, &repo, &state, &msg.filter);
            }
            Ok(out)
        })
    }
}

/// The mounts and tunnels of one workshop's connected plugs, SDK by SDK, for `info`; none
/// for a workshop without a repository yet (being launched).
#[derive(Message)]
#[rtype(result = "Result<std::collections::BTreeMap<String, listing::SdkConns>, InterfaceError>")]
pub struct WorkshopConnections {
    pub user: UserRef,
    pub project_id: String,
    pub workshop: String,
}

impl Handler<WorkshopConnections> for InterfaceManager {
    type Result =
        ResponseFuture<Result<std::collections::BTreeMap<String, listing::SdkConns>, InterfaceError>>;

    fn handle(&mut self, msg: WorkshopConnections, _ctx: &mut Context<Self>) -> Self::Result {
        let env = self.env.clone();
        Box::pin(async move {
            let t = task::TaskTarget::workshop(&msg.user, &msg.project_id, &msg.workshop);
            let repo = match handlers::load_repo(&env, &t).await {
                Ok((repo, _)) => repo,
                Err(e) => {
                    tracing::debug!(workshop = %msg.workshop, error = %e, "no interfaces to show");
                    return Ok(Default::default());
                }
            };
            let key = conns::workshop_key(msg.user.uid, &msg.project_id, &msg.workshop);
            let state = env.engine.send(Query(Box::new(move |st| conns::of_workshop(st, &key)))).await?;
            Ok(listing::sdk_conns(&msg.project_id, &msg.workshop, &msg.user, &repo, &state))
        })
    }
}

impl Handler<requests::ChangeConnections> for InterfaceManager {
    type Result = ResponseFuture<Result<String, InterfaceError>>;

    fn handle(&mut self, msg: requests::ChangeConnections, _ctx: &mut Context<Self>) -> Self::Result {
        let env = self.env.clone();
        Box::pin(async move {
            let t = task::TaskTarget::workshop(&msg.user, &msg.project_id, &msg.workshop);
            let (repo, _) = handlers::load_repo(&env, &t).await.map_err(InterfaceError::NotFound)?;
            let key = conns::workshop_key(msg.user.uid, &msg.project_id, &msg.workshop);
            let current = env.engine.send(Query(Box::new(move |st| conns::of_workshop(st, &key)))).await?;
            let data = msg.user.data_dir();
            let mut edits = requests::edits(&repo, &current, &msg.request, data.as_deref(), &t)?;
            // A host port a new tunnel would listen on and someone else holds: said now, or
            // replaced by a free one.
            let choice =
                if msg.auto_port { ports::PortChoice::FreeWhenTaken } else { ports::PortChoice::Asked };
            ports::settle_edits(&repo, &current, &mut edits, choice)
                .await
                .map_err(InterfaceError::BadRequest)?;
            // What a session names on the host is checked as the user before anything is made.
            if let Some(s) = edits.iter().filter_map(|(_, c)| c.as_ref()).find(|c| !c.session.is_empty()) {
                session::check_host(&msg.user, &s.session).await.map_err(|e| {
                    InterfaceError::BadRequest(format!("cannot connect {:?}: {e}", s.interface))
                })?;
            }
            let (user, request) = (msg.user.clone(), msg.request.clone());
            let planned = env
                .engine
                .send(crate::engine::Transact(Box::new(move |st| {
                    requests::plan(st, &user, &t, &request, edits)
                })))
                .await???;
            Ok(planned)
        })
    }
}

impl Handler<remount::Remount> for InterfaceManager {
    type Result = ResponseFuture<Result<String, InterfaceError>>;

    fn handle(&mut self, msg: remount::Remount, _ctx: &mut Context<Self>) -> Self::Result {
        let env = self.env.clone();
        Box::pin(async move {
            let t = task::TaskTarget::workshop(&msg.user, &msg.project_id, &msg.workshop);
            let (repo, _) = handlers::load_repo(&env, &t).await.map_err(InterfaceError::NotFound)?;
            let key = conns::workshop_key(msg.user.uid, &msg.project_id, &msg.workshop);
            let current = env.engine.send(Query(Box::new(move |st| conns::of_workshop(st, &key)))).await?;
            let (old, edits) = remount::edits(&repo, &current, &msg.workshop, &msg.plug, &msg.source)?;
            let moved = remount::Move {
                old,
                new: msg.source.display().to_string(),
                plug: format!("{}/{}", msg.workshop, msg.plug),
            };
            let plug = msg.plug.clone();
            let planned = env
                .engine
                .send(crate::engine::Transact(Box::new(move |st| remount::plan(st, &t, &plug, moved, edits))))
                .await???;
            Ok(planned)
        })
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
