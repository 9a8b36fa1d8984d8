//! Wiring: starts the subsystem actors on the current actix system and connects them.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;

use crate::engine::{AttachRunner, EngineError, StateEngine};
use crate::health::{HealthMonitor, SharedHealth, SystemCheck};
use crate::runner::{Drain, TaskRunner};

/// What the daemon needs to start.
pub struct DaemonConfig {
    /// `$WORKSHOP`: where state.json and its lock live.
    pub state_dir: PathBuf,
    /// The system check behind degraded mode.
    pub system_check: Rc<dyn SystemCheck>,
    pub check_interval: Duration,
}

/// Addresses of the running subsystems.
pub struct Daemon {
    pub engine: Addr<StateEngine>,
    pub runner: Addr<TaskRunner>,
    pub monitor: Addr<HealthMonitor>,
    pub health: SharedHealth,
}

impl Daemon {
    /// Starts every actor; must run inside an actix system.
    pub fn start(config: DaemonConfig) -> Result<Self, EngineError> {
        let engine = StateEngine::open(&config.state_dir)?.start();
        let runner = TaskRunner::new(engine.clone()).start();
        let health = SharedHealth::default();
        let monitor = HealthMonitor::new(config.system_check, health.clone(), config.check_interval).start();
        engine.do_send(AttachRunner(runner.clone()));
        Ok(Self { engine, runner, monitor, health })
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
