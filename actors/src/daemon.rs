//! Wiring: starts the subsystem actors on the current actix system and connects them.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::backend::{Backend, BackendActor, BackendCheck};
use crate::engine::{EngineError, Failure, StateEngine};
use crate::health::{HealthMonitor, SharedHealth};
use crate::managers::command::{self, CommandManager};
use crate::managers::task;
use crate::managers::workshop::{self, WorkshopConfig, WorkshopManager};
use crate::runner::{Drain, TaskRunner};
use crate::store::installed::ListInstalled;
use crate::store::{StoreActor, StoreClient, StoreConfig};

/// What the daemon needs to start.
pub struct DaemonConfig {
    /// `$WORKSHOP`: where state.json and its lock live.
    pub state_dir: PathBuf,
    /// The container runtime (LXD in the daemon, a fake in unit tests).
    pub backend: Rc<dyn Backend>,
    pub check_interval: Duration,
    pub workshop: WorkshopConfig,
    /// The SDK Store and the archive cache.
    pub store: StoreConfig,
}

impl DaemonConfig {
    /// A daemon on `backend` keeping everything under `root` (tests).
    #[cfg(any(test, feature = "fake-backend"))]
    pub fn for_tests(root: &std::path::Path, backend: Rc<dyn Backend>) -> Self {
        Self {
            state_dir: root.join("state"),
            backend,
            check_interval: Duration::from_secs(3600),
            workshop: WorkshopConfig {
                cache_dir: root.join("cache"),
                guest_bin_dir: root.join("bin"),
                mounts_dir: root.join("mounts"),
            },
            // Nothing listens on port 1 of loopback: tests never reach a real Store.
            store: StoreConfig::new("http://127.0.0.1:1", crate::store::URL_ENV, &root.join("cache/sdk"))
                .expect("a valid URL"),
        }
    }
}

/// Addresses of the running subsystems.
pub struct Daemon {
    pub engine: Addr<StateEngine>,
    pub runner: Addr<TaskRunner>,
    pub monitor: Addr<HealthMonitor>,
    pub backend: Addr<BackendActor>,
    pub workshops: Addr<WorkshopManager>,
    pub commands: Addr<CommandManager>,
    /// The SDK Store client.
    pub store: Addr<StoreActor>,
    /// The SDK trees on this machine, for `GET /v1/sdks[/{name}]`: `None` until the tree store
    /// (issue 11 item 3) answers [`ListInstalled`]; without it there are no SDK trees.
    pub installed: Option<Recipient<ListInstalled>>,
    pub health: SharedHealth,
    /// Why the state engine can no longer keep the state durable, once it cannot: the daemon
    /// must then exit (non-zero), never serve on without its engine.
    pub failed: oneshot::Receiver<String>,
}

impl Daemon {
    /// Starts every actor; must run inside an actix system. Task kinds are registered before
    /// the runner is attached, so tasks left running by a previous daemon resume at once.
    pub fn start(config: DaemonConfig) -> Result<Self, EngineError> {
        let (failure, failed) = Failure::new();
        let engine = StateEngine::open(&config.state_dir)?.with_failure(failure).start();
        let runner = TaskRunner::new(engine.clone()).start();
        let health = SharedHealth::default();
        let check = Rc::new(BackendCheck(config.backend.clone()));
        let backend = BackendActor::new(config.backend).start();
        let workshops = WorkshopManager::new(engine.clone(), backend.clone(), config.workshop).start();
        // Workshops LXD could not start by itself (their project is staged by the daemon) are
        // started again whenever LXD is healthy.
        let subscribers = vec![workshops.clone().recipient()];
        let monitor = HealthMonitor::new(check, health.clone(), config.check_interval, subscribers).start();

        task::register(&engine, &runner, workshop::KINDS, workshops.clone().recipient());
        let commands = CommandManager::new(engine.clone(), backend.clone(), workshops.clone()).start();
        task::register(&engine, &runner, command::KINDS, commands.clone().recipient());
        let store = StoreActor::new(StoreClient::new(config.store)).start();
        engine.do_send(TaskRunner::attach(&runner));
        Ok(Self {
            engine,
            runner,
            monitor,
            backend,
            workshops,
            commands,
            store,
            installed: None,
            health,
            failed,
        })
    }

    /// Stops starting tasks and waits up to `grace` for running ones to finish. Tasks still
    /// running afterwards stay Doing in the state and run again after restart.
    pub async fn drain(&self, grace: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let running = self.runner.send(Drain).await.unwrap_or(0);
            if running == 0 || tokio::time::Instant::now() >= deadline {
                return running;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
