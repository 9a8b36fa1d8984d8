//! Wiring: starts the subsystem actors on the current actix system and connects them.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::activity::Activity;
use crate::backend::{Backend, BackendActor, BackendCheck};
use crate::engine::{EngineError, Failure, IsBusy, StateEngine};
use crate::health::{HealthMonitor, SharedHealth};
use crate::managers::command::{self, CommandManager};
use crate::managers::hook::{self, HookManager};
use crate::managers::interface::{self, InterfaceManager, Interfaces};
use crate::managers::sdk::{self, SdkManager, Sdks};
use crate::managers::task;
use crate::managers::workshop::{self, WorkshopConfig, WorkshopManager};
use crate::runner::{Drain, TaskRunner};
use crate::sdk::{TREES_DIR, TreeStore};
use crate::space::SpaceManager;
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
    /// Counts background work (also given to the backend, for its template preparations).
    pub activity: Activity,
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
                trees: None,
            },
            // Nothing listens on port 1 of loopback: tests never reach a real Store.
            store: StoreConfig::new("http://127.0.0.1:1", crate::store::URL_ENV, &root.join("cache/sdk"))
                .expect("a valid URL"),
            activity: Activity::default(),
        }
    }
}

/// Why the daemon cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Trees(#[from] crate::sdk::TreeError),
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
    /// The SDK trees on this machine, for `GET /v1/sdks[/{name}]` (the SDK manager answers);
    /// `None` means none are known.
    pub installed: Option<Recipient<ListInstalled>>,
    pub hooks: Addr<HookManager>,
    /// `workshop du` and `workshop prune`.
    pub space: Addr<SpaceManager>,
    pub interfaces: Addr<InterfaceManager>,
    pub health: SharedHealth,
    activity: Activity,
    /// Why the state engine can no longer keep the state durable, once it cannot: the daemon
    /// must then exit (non-zero), never serve on without its engine.
    pub failed: oneshot::Receiver<String>,
    /// The start-up firewall check, while it runs ([`Daemon::firewall_checked`]).
    firewall: Option<tokio::task::JoinHandle<()>>,
}

/// The start-up firewall check (reference `firewall.go`): a daemon-wide warning while the
/// host's firewall drops what the bridge routes; one raised before goes once it no longer does.
async fn warn_of_firewall(engine: Addr<StateEngine>, bridge: String) {
    let found = match tokio::task::spawn_blocking(move || crate::doctor::firewall_warning(&bridge)).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "cannot check the firewall");
            return;
        }
    };
    if let Some(message) = &found {
        tracing::warn!(%message, "the firewall blocks the workshops' network");
    }
    let settle =
        move |st: &mut crate::state::State| settle_firewall_warning(st, found.as_deref(), chrono::Utc::now());
    match engine.send(crate::engine::Transact(Box::new(settle))).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot record the firewall check"),
        Err(e) => tracing::warn!(error = %e, "cannot record the firewall check"),
    }
}

/// Keeps the daemon-wide firewall warning `found` (none when `None`), dropping earlier ones.
fn settle_firewall_warning(
    st: &mut crate::state::State,
    found: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) {
    let stale: Vec<String> = st
        .all_warnings(0)
        .into_iter()
        .filter(|w| w.owner().is_none() && w.message().starts_with(crate::doctor::FIREWALL_WARNING_START))
        .map(|w| w.message().to_string())
        .filter(|m| Some(m.as_str()) != found)
        .collect();
    for message in stale {
        st.remove_warning(None, &message);
    }
    // Found again (a restart, a re-activation after standby): kept as it was, not shown anew.
    let known = st.all_warnings(0).iter().any(|w| w.owner().is_none() && Some(w.message()) == found);
    if let Some(message) = found.filter(|_| !known) {
        st.warn(None, message, now);
    }
}

impl Daemon {
    /// Starts every actor; must run inside an actix system. Task kinds are registered before
    /// the runner is attached, so tasks left running by a previous daemon resume at once.
    pub fn start(config: DaemonConfig) -> Result<Self, StartError> {
        let (failure, failed) = Failure::new();
        let engine = StateEngine::open(&config.state_dir)?.with_failure(failure).start();
        let runner = TaskRunner::new(engine.clone()).start();
        let health = SharedHealth::default();
        let check = Rc::new(BackendCheck(config.backend.clone()));
        let shutdowns = config.backend.watch_shutdowns();
        let firewall = config
            .backend
            .local_bridge()
            .map(|bridge| actix_rt::spawn(warn_of_firewall(engine.clone(), bridge)));
        let backend = BackendActor::new(config.backend).start();
        let try_dir = config.store.cache_dir.join("try");
        let store = StoreActor::new(StoreClient::new(config.store)).start();
        let cache_dir = config.workshop.cache_dir.clone();
        let mounts_dir = config.workshop.mounts_dir.clone();
        let trees = TreeStore::open(config.state_dir.join(TREES_DIR))?;
        // What an interrupted commit left behind.
        if let Err(e) = trees.sweep() {
            tracing::warn!(error = %e, "cannot sweep the SDK tree store");
        }
        let sdk_trees = workshop::SdkTrees { trees: trees.clone(), try_dir: try_dir.clone() };
        let workshops = WorkshopManager::new(engine.clone(), backend.clone(), config.workshop)
            .with_activity(config.activity.clone())
            .with_store(store.clone())
            .with_sdk_trees(sdk_trees)
            .start();
        // Workshops LXD could not start by itself (their project is staged by the daemon) are
        // started again whenever LXD is healthy, and when their guest rebooted; one powered
        // off from inside is no longer marked to run.
        if let Some(mut shutdowns) = shutdowns {
            let workshops = workshops.clone();
            actix_rt::spawn(async move {
                while let Some(down) = futures_util::StreamExt::next(&mut shutdowns).await {
                    workshops.do_send(workshop::GuestWentDown(down));
                }
            });
        }
        let interfaces = InterfaceManager::new(
            backend.clone(),
            Interfaces {
                engine: engine.clone(),
                trees: trees.clone(),
                // Beside the staging directory (`$WORKSHOP/run/sessions`), as root-only.
                sessions_dir: mounts_dir.with_file_name("sessions"),
                mounts_dir,
            },
        )
        .start();
        let sdks = SdkManager::new(
            backend.clone(),
            Sdks { engine: engine.clone(), trees: trees.clone(), store: store.clone(), try_dir },
        )
        .start();
        let space = SpaceManager::new(engine.clone(), backend.clone(), trees.clone(), cache_dir).start();
        let subscribers = vec![workshops.clone().recipient(), sdks.clone().recipient()];
        let monitor = HealthMonitor::new(check, health.clone(), config.check_interval, subscribers).start();

        task::register(&engine, &runner, workshop::KINDS, workshops.clone().recipient());
        let commands = CommandManager::new(engine.clone(), backend.clone(), workshops.clone()).start();
        task::register(&engine, &runner, command::KINDS, commands.clone().recipient());
        task::register(&engine, &runner, sdk::KINDS, sdks.clone().recipient());
        let hooks = HookManager::new(backend.clone()).with_trees(trees.clone()).start();
        task::register(&engine, &runner, hook::KINDS, hooks.clone().recipient());
        task::register(&engine, &runner, interface::KINDS, interfaces.clone().recipient());
        engine.do_send(TaskRunner::attach(&runner));
        let activity = config.activity;
        Ok(Self {
            engine,
            runner,
            monitor,
            backend,
            workshops,
            commands,
            hooks,
            interfaces,
            store,
            installed: Some(sdks.clone().recipient()),
            space,
            health,
            activity,
            failed,
            firewall,
        })
    }

    /// Waits up to `bound` for the start-up firewall check to have recorded its warning, so
    /// that the first requests see it (it goes on in the background past that).
    pub async fn firewall_checked(&mut self, bound: Duration) {
        if let Some(check) = self.firewall.as_mut()
            && actix_rt::time::timeout(bound, check).await.is_ok()
        {
            self.firewall = None;
        }
    }

    /// Stops starting tasks and waits up to `grace` for running ones to finish, and for the
    /// engine to have saved what they did. Tasks still running afterwards stay Doing in the
    /// state and run again after restart.
    pub async fn drain(&self, grace: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + grace;
        let running = loop {
            let running = self.runner.send(Drain).await.unwrap_or(0);
            if running == 0 || tokio::time::Instant::now() >= deadline {
                break running;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // The runner passes each outcome on before it stops counting the task: a message to
        // the engine now is handled after those outcomes, each of which ends with a checkpoint.
        let _ = self.engine.send(IsBusy).await;
        running
    }

    /// What tells whether the daemon has work (see [`Workload::busy`]).
    pub fn workload(&self) -> Workload {
        Workload { engine: self.engine.clone(), health: self.health.clone(), activity: self.activity.clone() }
    }
}

/// Whether the daemon has work, for standing by (cheap to clone).
#[derive(Clone)]
pub struct Workload {
    engine: Addr<StateEngine>,
    health: SharedHealth,
    activity: Activity,
}

impl Workload {
    /// What keeps the daemon busy, if anything: the first system check not done yet, degraded
    /// mode (workshops LXD left stopped are started when it ends), work in the state
    /// ([`IsBusy`]) or in the background ([`Activity`]). Open connections are the front's.
    pub async fn busy(&self) -> Option<&'static str> {
        if !self.health.checked() {
            return Some("the first system check has not completed");
        }
        if self.health.degraded().is_some() {
            return Some("the system is not healthy");
        }
        if self.activity.count() > 0 {
            return Some("background work is under way");
        }
        if self.engine.send(IsBusy).await.unwrap_or(true) {
            return Some("a change is in progress");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::fake::FakeBackend;
    use crate::engine::{AddKinds, Engine, KindSpec, Transact};
    use crate::runner::{RegisterHandler, RunTask};
    use crate::state::{Outcome, Status};

    /// Finishes each task it is given after a short while; says when it has one.
    struct Quick(Rc<std::cell::Cell<bool>>);

    impl Actor for Quick {
        type Context = Context<Self>;
    }

    impl Handler<RunTask> for Quick {
        type Result = ResponseFuture<Outcome>;
        fn handle(&mut self, _msg: RunTask, _ctx: &mut Context<Self>) -> Self::Result {
            self.0.set(true);
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Outcome::Done
            })
        }
    }

    #[test]
    fn the_firewall_warning_is_everyones_and_goes_once_the_firewall_lets_the_bridge_through() {
        let mut st = crate::state::State::default();
        let now = chrono::Utc::now();
        let docker = format!("{}workshopbr0 bridge: ... Docker ...", crate::doctor::FIREWALL_WARNING_START);
        st.warn(Some(1000), "a user's own warning", now);
        settle_firewall_warning(&mut st, Some(&docker), now);
        for uid in [1000, 1001] {
            assert!(st.all_warnings(uid).iter().any(|w| w.message() == docker && w.owner().is_none()));
        }
        // Another cause found at the next start replaces it; none found drops it, and only it.
        let ufw = format!("{}workshopbr0 bridge: ... UFW ...", crate::doctor::FIREWALL_WARNING_START);
        settle_firewall_warning(&mut st, Some(&ufw), now);
        let messages = |st: &crate::state::State| -> Vec<String> {
            st.all_warnings(1000).iter().map(|w| w.message().to_string()).collect()
        };
        // Found again later: the same warning, not added anew (no new banner after a restart).
        let added = |st: &crate::state::State| st.all_warnings(0).iter().map(|w| w.last_added()).max();
        let before = added(&st);
        settle_firewall_warning(&mut st, Some(&ufw), now + chrono::Duration::seconds(60));
        assert_eq!(added(&st), before);
        assert_eq!(messages(&st).len(), 2);
        assert!(messages(&st).contains(&ufw));
        settle_firewall_warning(&mut st, None, now);
        assert_eq!(messages(&st), ["a user's own warning"]);
    }

    #[actix_rt::test]
    async fn a_task_that_ends_while_draining_is_saved_when_drain_returns() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let config = DaemonConfig::for_tests(root, Rc::new(FakeBackend::default()));
        let state_dir = config.state_dir.clone();
        std::fs::create_dir_all(&state_dir).unwrap();
        let daemon = Daemon::start(config).unwrap();
        daemon
            .engine
            .send(AddKinds(vec![KindSpec { kind: "quick", undo: false, cleanup: false }]))
            .await
            .unwrap();
        let started = Rc::new(std::cell::Cell::new(false));
        let handler = Quick(started.clone()).start().recipient();
        daemon.runner.send(RegisterHandler { kinds: vec!["quick"], handler }).await.unwrap();
        let task = daemon
            .engine
            .send(Transact(Box::new(|st| {
                let now = chrono::Utc::now();
                let change = st.new_change("test", "Test", now);
                let task = st.new_task("quick", "Quick", now);
                st.add_task(&change, &task);
                task
            })))
            .await
            .unwrap()
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !started.get() {
            assert!(tokio::time::Instant::now() < deadline, "the task did not start");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(daemon.drain(Duration::from_secs(5)).await, 0);
        // What a daemon exiting now leaves on disk.
        let saved = Engine::load(&state_dir).unwrap();
        assert_eq!(saved.state().task(&task).map(|t| t.status()), Some(Status::Done));
    }
}
