//! System health: a `HealthMonitor` actor runs the system checks at start and every few
//! seconds; while one fails the daemon is in degraded mode (non-GET requests are refused) and
//! it recovers by itself when the checks pass again. A full storage pool is the one degraded
//! mode that still takes the requests that free space (stop, remove, exec, abort): the user
//! must be able to get out of it (the reference's users were stuck).

use std::rc::Rc;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use tracing::{info, warn};

/// How often the checks run.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// What the last check found out about LXD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LxdStatus {
    pub reachable: bool,
    pub server_version: Option<String>,
    pub endpoint: Option<String>,
    pub storage_driver: Option<String>,
    /// The pool is too full to launch or start workshops (the only reason checks failed).
    pub pool_full: bool,
}

#[derive(Debug, Clone, Default)]
struct Report {
    degraded: Option<String>,
    lxd: LxdStatus,
    /// A check has completed since the daemon started.
    checked: bool,
}

/// Read-mostly health flag shared with the API front (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct SharedHealth(Arc<RwLock<Report>>);

impl SharedHealth {
    /// Why the daemon is degraded, if it is.
    pub fn degraded(&self) -> Option<String> {
        self.0.read().map(|r| r.degraded.clone()).unwrap_or(None)
    }

    /// Why the daemon refuses every change, if it does: degraded, except by a full pool.
    pub fn refuses_changes(&self) -> Option<String> {
        self.0.read().map(|r| r.degraded.clone().filter(|_| !r.lxd.pool_full)).unwrap_or(None)
    }

    /// Why the daemon refuses changes that take space (launch, start, ...), if it does: the
    /// pool is full (or it refuses every change).
    pub fn refuses_growth(&self) -> Option<String> {
        self.degraded()
    }

    pub fn lxd(&self) -> LxdStatus {
        self.0.read().map(|r| r.lxd.clone()).unwrap_or_default()
    }

    /// Whether a check has completed yet (before, the daemon is not known to be degraded).
    pub fn checked(&self) -> bool {
        self.0.read().map(|r| r.checked).unwrap_or(false)
    }

    fn set(&self, degraded: Option<String>, lxd: LxdStatus) {
        if let Ok(mut r) = self.0.write() {
            *r = Report { degraded, lxd, checked: true };
        }
    }
}

/// One system check; the LXD backend implements it.
#[async_trait::async_trait(?Send)]
pub trait SystemCheck {
    /// `Ok` with what was learnt, or the reason the system is not healthy (`lxd` still filled in).
    async fn check(&self) -> (LxdStatus, Result<(), String>);
}

/// The system checks passed, for the first time or again after degraded mode.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct SystemHealthy;

/// Runs the checks periodically and publishes the result.
pub struct HealthMonitor {
    check: Rc<dyn SystemCheck>,
    shared: SharedHealth,
    interval: Duration,
    running: bool,
    /// Told of every [`SystemHealthy`].
    subscribers: Vec<Recipient<SystemHealthy>>,
    /// A check has passed since the daemon started.
    healthy_once: bool,
}

impl HealthMonitor {
    pub fn new(
        check: Rc<dyn SystemCheck>,
        shared: SharedHealth,
        interval: Duration,
        subscribers: Vec<Recipient<SystemHealthy>>,
    ) -> Self {
        Self { check, shared, interval, running: false, subscribers, healthy_once: false }
    }

    fn run_check(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let check = self.check.clone();
        ctx.spawn(async move { check.check().await }.into_actor(self).map(|(lxd, result), act, _| {
            act.running = false;
            let was = act.shared.degraded();
            let now = result.err().map(|why| crate::messages::unhealthy(&why));
            match (&was, &now) {
                (Some(_), None) => info!("System is healthy."),
                (None, Some(why)) => warn!(reason = %why, "entering degraded mode"),
                _ => {}
            }
            let recovered = now.is_none() && (was.is_some() || !act.healthy_once);
            act.healthy_once |= now.is_none();
            act.shared.set(now, lxd);
            if recovered {
                for subscriber in &act.subscribers {
                    subscriber.do_send(SystemHealthy);
                }
            }
        }));
    }
}

impl Actor for HealthMonitor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.run_check(ctx);
        ctx.run_interval(self.interval, |act, ctx| act.run_check(ctx));
    }
}
