//! The workshop manager: projects, workshop listing and status, and the launch / start /
//! stop / remove changes with their task handlers.

mod autostart;
mod changes;
mod fork;
mod guest;
mod handlers;
pub mod layers;
mod listing;
mod lookups;
pub mod manifest;
pub mod plan;
mod project_source;
mod projects;
mod reboot_loops;
mod requests;
pub mod status;

pub use autostart::GuestWentDown;
pub use guest::{GUEST_SOCKET, SHARED_SOCKET_NAME};
pub use handlers::WorkshopConfig;
pub use requests::*;

use std::rc::Rc;

use actix::prelude::*;

use self::handlers::Env;
use crate::activity::Activity;
use crate::backend::BackendActor;
use crate::engine::StateEngine;
use crate::managers::task::{self, Kind};
use crate::runner::RunTask;
use crate::state::Outcome;
use crate::store::StoreActor;

/// Declares a handler of the table: an async handler function boxed for [`task::Handler`].
macro_rules! handler {
    ($f:path) => {
        Some(|ctx, env| Box::pin($f(ctx, env)))
    };
}

/// The task kinds of this manager (reference-inventory.md §6.7, WorkshopManager rows).
pub static KINDS: &[Kind<WorkshopConfig>] = &[
    Kind {
        name: "download-base",
        run: |c, e| Box::pin(handlers::download_base(c, e)),
        undo: None,
        cleanup: None,
    },
    Kind {
        name: "create-workshop-storage",
        run: |c, e| Box::pin(handlers::create_storage(c, e)),
        undo: handler!(handlers::remove_storage),
        cleanup: None,
    },
    Kind {
        name: "create-workshop",
        run: |c, e| Box::pin(handlers::create_workshop(c, e)),
        undo: handler!(handlers::remove_workshop),
        cleanup: handler!(handlers::collect_snapshots),
    },
    Kind {
        name: "fork-workshop",
        run: |c, e| Box::pin(fork::fork_workshop(c, e)),
        undo: handler!(handlers::remove_workshop),
        cleanup: None,
    },
    Kind {
        name: "start-workshop",
        run: |c, e| Box::pin(handlers::start_workshop(c, e)),
        undo: handler!(handlers::undo_start),
        cleanup: None,
    },
    Kind {
        name: "stop-workshop",
        run: |c, e| Box::pin(handlers::stop_workshop(c, e)),
        undo: handler!(handlers::start_workshop),
        cleanup: None,
    },
    Kind {
        name: "remove-workshop",
        run: |c, e| Box::pin(handlers::remove_workshop(c, e)),
        undo: None,
        cleanup: handler!(handlers::collect_snapshots),
    },
    Kind {
        name: "configure-timezone",
        run: |c, e| Box::pin(handlers::configure_timezone(c, e)),
        undo: None,
        cleanup: None,
    },
    Kind {
        name: "mount-project",
        run: |c, e| Box::pin(handlers::mount_project(c, e)),
        undo: None,
        cleanup: None,
    },
    Kind {
        name: "mount-state-storage",
        run: |c, e| Box::pin(handlers::mount_state_storage(c, e)),
        undo: handler!(handlers::unmount_state_storage),
        cleanup: None,
    },
    Kind {
        // The state storage is there only while the hooks that use it run (inventory §5).
        name: "remove-state-storage",
        run: |c, e| Box::pin(handlers::remove_state_storage(c, e)),
        undo: None,
        cleanup: None,
    },
    Kind {
        // The stash goes once the change is Done, in the cleanup: after the command returns.
        name: "stash-workshop",
        run: |c, e| Box::pin(handlers::stash_workshop(c, e)),
        undo: handler!(handlers::unstash_workshop),
        cleanup: handler!(handlers::discard_stash),
    },
    Kind {
        // Once put in place, the stash's undo deletes the rebuilt instance.
        name: "rebuild-workshop",
        run: |c, e| Box::pin(handlers::rebuild_workshop(c, e)),
        undo: handler!(handlers::discard_rebuild),
        cleanup: handler!(handlers::collect_snapshots),
    },
    Kind {
        // No undo: a snapshot is no part of the workshop (unused ones are collected).
        name: "snapshot-sdk",
        run: |c, e| Box::pin(handlers::snapshot_sdk(c, e)),
        undo: None,
        cleanup: None,
    },
    Kind {
        name: "remove-workshop-stash",
        run: |c, e| Box::pin(handlers::remove_stash(c, e)),
        undo: None,
        cleanup: None,
    },
    Kind {
        name: "remove-workshop-storage",
        run: |c, e| Box::pin(handlers::remove_storage(c, e)),
        undo: None,
        cleanup: None,
    },
];

/// The actor shell.
pub struct WorkshopManager {
    engine: Addr<StateEngine>,
    env: Env,
    /// Counts the starts of workshops LXD left stopped, which no request waits for.
    activity: Activity,
    /// Resolves the Store SDKs of a launch; without it such a launch is refused.
    store: Option<Addr<StoreActor>>,
    /// Starts after guests' reboots, so that a guest rebooting in a loop is left stopped.
    reboot_loops: Rc<std::cell::RefCell<reboot_loops::RebootLoops>>,
    /// Where the current trees of local SDKs are committed to compare a workshop's manifest
    /// with; without it a refresh is refused.
    sdk_trees: Option<SdkTrees>,
}

/// The SDK tree store and the try SDK copy area, for the manifests of refreshes.
#[derive(Debug, Clone)]
pub struct SdkTrees {
    pub trees: crate::sdk::TreeStore,
    pub try_dir: std::path::PathBuf,
}

impl WorkshopManager {
    pub fn new(engine: Addr<StateEngine>, backend: Addr<BackendActor>, config: WorkshopConfig) -> Self {
        Self {
            engine,
            env: Env { backend, manager: Rc::new(config) },
            activity: Activity::default(),
            reboot_loops: Default::default(),
            store: None,
            sdk_trees: None,
        }
    }

    /// Reads the current SDK trees of refreshes with `trees`.
    pub fn with_sdk_trees(mut self, trees: SdkTrees) -> Self {
        if let Some(config) = Rc::get_mut(&mut self.env.manager) {
            config.trees = Some(trees.trees.clone());
        }
        self.sdk_trees = Some(trees);
        self
    }

    /// Resolves Store SDKs with `store`.
    pub fn with_store(mut self, store: Addr<StoreActor>) -> Self {
        self.store = Some(store);
        self
    }

    /// Counts its background work in `activity`.
    pub fn with_activity(mut self, activity: Activity) -> Self {
        self.activity = activity;
        self
    }
}

impl Actor for WorkshopManager {
    type Context = Context<Self>;
}

impl Handler<RunTask> for WorkshopManager {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, msg: RunTask, _ctx: &mut Context<Self>) -> Self::Result {
        task::dispatch(KINDS, msg, self.env.clone())
    }
}

#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod tests;
