//! Standby: when systemd holds every socket (socket activation) and the daemon has had nothing
//! to do for a while (no change in progress, no background work, no open connection on any
//! listener, the system healthy), it exits cleanly; the next connection, on any socket, waits
//! in systemd's socket until systemd has started it again.

use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use tracing::debug;
use workshop_actors::daemon::Workload;

use crate::api::connections::Connections;

/// How long the daemon waits with nothing to do by default: the reference looks first 5 s
/// after its start.
pub const DEFAULT_AFTER: &str = "5s";

/// How long paused servers are given to hand over connections they were accepting when they
/// paused (the pause is only requested of their accept thread; see [`wait_until_idle`]).
const SETTLE: Duration = Duration::from_millis(100);

/// Idleness over time: whether the daemon has been idle for `after` without a break.
#[derive(Debug)]
pub struct Idle {
    after: Duration,
    since: Option<Instant>,
}

impl Idle {
    pub fn new(after: Duration) -> Self {
        Self { after, since: None }
    }

    /// Records whether the daemon was `idle` at `now`; true once it has been idle for `after`.
    pub fn observe(&mut self, now: Instant, idle: bool) -> bool {
        if !idle {
            self.since = None;
            return false;
        }
        let since = *self.since.get_or_insert(now);
        now.duration_since(since) >= self.after
    }

    /// How often to look: often enough to stand by soon after `after`, at most once a second.
    pub fn poll_interval(&self) -> Duration {
        (self.after / 4).clamp(Duration::from_millis(20), Duration::from_secs(1))
    }
}

/// What keeps the daemon up, if anything.
async fn busy(workload: &Workload, connections: &Connections) -> Option<&'static str> {
    if connections.count() > 0 {
        return Some("a connection is open");
    }
    workload.busy().await
}

/// Returns once the daemon has been idle for `after`, with every server paused: connections
/// that arrive from then on wait in the sockets (systemd's) for the next daemon. Servers are
/// paused before the last look, which is what lets no request in between: a connection
/// accepted meanwhile counts as open, and the servers resume.
pub async fn wait_until_idle(
    after: Duration,
    workload: &Workload,
    connections: &Connections,
    servers: &[ServerHandle],
) {
    let mut idle = Idle::new(after);
    loop {
        tokio::time::sleep(idle.poll_interval()).await;
        let why = busy(workload, connections).await;
        if !idle.observe(Instant::now(), why.is_none()) {
            continue;
        }
        for server in servers {
            server.pause().await;
        }
        tokio::time::sleep(SETTLE).await;
        match busy(workload, connections).await {
            None => return,
            Some(why) => {
                debug!(reason = why, "not standing by after all");
                for server in servers {
                    server.resume().await;
                }
                idle.observe(Instant::now(), false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use workshop_actors::backend::fake::FakeBackend;
    use workshop_actors::daemon::{Daemon, DaemonConfig};

    use super::*;

    #[test]
    fn idle_means_without_a_break_for_the_whole_while() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut idle = Idle::new(Duration::from_millis(100));
        assert!(!idle.observe(at(0), true));
        assert!(!idle.observe(at(60), true));
        assert!(!idle.observe(at(80), false), "a connection came");
        assert!(!idle.observe(at(120), true), "idle again, but only from now");
        assert!(!idle.observe(at(200), true));
        assert!(idle.observe(at(220), true));
    }

    #[test]
    fn poll_interval_is_bounded() {
        assert_eq!(Idle::new(Duration::from_secs(5)).poll_interval(), Duration::from_secs(1));
        assert_eq!(Idle::new(Duration::from_millis(200)).poll_interval(), Duration::from_millis(50));
        assert_eq!(Idle::new(Duration::from_millis(1)).poll_interval(), Duration::from_millis(20));
    }

    #[actix_web::test]
    async fn busy_until_the_first_check_then_while_a_connection_is_open() {
        let tmp = tempfile::tempdir().unwrap();
        let config = DaemonConfig::for_tests(tmp.path(), Rc::new(FakeBackend::default()));
        std::fs::create_dir_all(&config.state_dir).unwrap();
        let daemon = Daemon::start(config).unwrap();
        let workload = daemon.workload();
        let connections = Connections::default();
        assert_eq!(busy(&workload, &connections).await, Some("the first system check has not completed"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while busy(&workload, &connections).await.is_some() {
            assert!(Instant::now() < deadline, "still busy: {:?}", busy(&workload, &connections).await);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut ext = actix_web::dev::Extensions::new();
        connections.open(&mut ext);
        assert_eq!(busy(&workload, &connections).await, Some("a connection is open"));
        drop(ext);
        assert_eq!(busy(&workload, &connections).await, None);
    }
}
