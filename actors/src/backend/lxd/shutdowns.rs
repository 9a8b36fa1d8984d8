//! Workshops whose guest went down by itself: rebooted or powered off. LXD stops an instance
//! whose init reboots and starts it again, but a workshop's start needs its project staged by
//! the daemon (`userfs::stage`): LXD's own start fails ("Missing source path") and leaves the
//! workshop stopped, which the workshop manager then starts as its owner's start change. A
//! workshop powered off from inside is no longer marked to run, as if its owner had stopped
//! it. LXD tells a reboot from a power-off only in its log (the lifecycle event is
//! `instance-shutdown` for both): the record `Shut down container` (`Shut down instance` in
//! later LXDs) carries the action, `reboot` or `stop` for a guest that went down by itself
//! (measured on LXD 5.0; a stop through the API logs `Stopping container` or `Shutting down
//! container`, and `action=shutdown` is never a guest's). A clean stop through
//! the API that outlasts LXD's 30 s operation lock may end as `action=stop`: the daemon's own
//! stops unmark first, so that report changes nothing, but a guest that takes that long to go
//! down when LXD itself shuts down is then taken for a power-off (it stays off after LXD's
//! restart until its owner starts it). The daemon follows LXD's log and, once
//! LXD is through with the instance, reports the workshop.

use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::LocalBoxStream;
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{LxdBackend, layout};
use crate::backend::{GuestShutdown, Target};
use crate::lxd::{Client, Event, EventKind};

/// LXD's log records of a container that went down (LXD 5.0; later LXDs).
const SHUT_DOWN: [&str; 2] = ["Shut down container", "Shut down instance"];
/// Pauses before subscribing again after LXD went away.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// How often, and how long at most, to look whether LXD is through with an instance that
/// went down.
const SETTLE_POLL: Duration = Duration::from_millis(250);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Shutdowns waiting to be handled; more are dropped (and logged).
const QUEUE: usize = 16;

impl LxdBackend {
    /// The workshops whose guest rebooted or powered off, left stopped, as it happens.
    pub(super) fn watch_shutdowns(&self) -> LocalBoxStream<'static, GuestShutdown> {
        let (tx, rx) = mpsc::channel(QUEUE);
        actix_rt::spawn(follow(self.client.unscoped(), tx));
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) })
            .boxed_local()
    }
}

/// Follows LXD's log for as long as anyone listens, subscribing again when LXD goes away.
async fn follow(client: Client, tx: mpsc::Sender<GuestShutdown>) {
    let mut pause = RETRY_MIN;
    while !tx.is_closed() {
        match client.events(&[EventKind::Logging]).await {
            Ok(mut events) => {
                pause = RETRY_MIN;
                while let Some(Ok(event)) = events.next().await {
                    let Some((project, instance, reboot)) = shut_down(&event) else { continue };
                    let (client, tx) = (client.clone(), tx.clone());
                    actix_rt::spawn(async move {
                        let Some(target) = settled(&client, &project, &instance).await else { return };
                        if tx.try_send(GuestShutdown { target, reboot }).is_err() {
                            warn!(
                                instance,
                                reboot, "too many guest shutdowns waiting: this one is not handled"
                            );
                        }
                    });
                }
                debug!("LXD's event stream ended");
            }
            Err(e) => debug!(error = %e, "cannot follow LXD's log"),
        }
        actix_rt::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_MAX);
    }
}

/// The project and instance of a workshop instance whose guest went down by itself, and
/// whether it rebooted, from a log record.
fn shut_down(event: &Event) -> Option<(String, String, bool)> {
    let meta = &event.metadata;
    if !meta.get("message").and_then(Value::as_str).is_some_and(|m| SHUT_DOWN.contains(&m)) {
        return None;
    }
    let context = meta.get("context")?;
    let field = |key: &str| context.get(key).and_then(Value::as_str);
    let reboot = match field("action")? {
        "reboot" => true,
        "stop" => false,
        _ => return None,
    };
    let project = field("project")?;
    layout::user_key_of_instances_project(project)?;
    Some((project.to_string(), field("instance")?.to_string(), reboot))
}

/// Once LXD is through with instance `name` (after a reboot, its own start tried): the
/// workshop, when it is one and was left stopped.
async fn settled(client: &Client, project: &str, name: &str) -> Option<Target> {
    let scoped = client.project(project);
    let mut seen_stopped = false;
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    let instance = loop {
        actix_rt::time::sleep(SETTLE_POLL).await;
        let busy = scoped.running_operations().await.ok()?.iter().any(|op| op.concerns_instance(name));
        let (instance, _) = scoped.get_instance(name).await.ok()?;
        match (busy, instance.is_running()) {
            (false, true) => return None,
            // Stopped twice in a row with nothing running: LXD is done.
            (false, false) if seen_stopped => break instance,
            (false, false) => seen_stopped = true,
            (true, _) => seen_stopped = false,
        }
        if tokio::time::Instant::now() >= deadline {
            debug!(instance = name, "LXD is still busy with an instance that went down");
            return None;
        }
    };
    let (lxd_project, _) = client.get_project(project).await.ok()?;
    let user = lxd_project.config.get(layout::USERNAME_KEY)?;
    layout::to_instance(user, instance).map(|i| i.target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Event {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn only_reboots_and_power_offs_of_workshop_instances_count() {
        let record = |message: &str, action: &str, project: &str| {
            event(&format!(
                r#"{{"type":"logging","metadata":{{"level":"info","message":"{message}",
                "context":{{"action":"{action}","instance":"dev-p1","project":"{project}"}}}}}}"#
            ))
        };
        for message in SHUT_DOWN {
            for (action, reboot) in [("reboot", true), ("stop", false)] {
                assert_eq!(
                    shut_down(&record(message, action, "workshop.alice")),
                    Some(("workshop.alice".into(), "dev-p1".into(), reboot))
                );
            }
        }
        let [down, _] = SHUT_DOWN;
        assert_eq!(shut_down(&record(down, "shutdown", "workshop.alice")), None, "stopped through LXD");
        assert_eq!(shut_down(&record(down, "reboot", "default")), None, "not a workshop");
        assert_eq!(shut_down(&record(down, "stop", "workshop-snapshots.alice")), None);
        assert_eq!(shut_down(&record("Started container", "reboot", "workshop.alice")), None);
        assert_eq!(shut_down(&record("Stopping container", "stop", "workshop.alice")), None);
        assert_eq!(
            shut_down(&event(r#"{"type":"logging","metadata":{"message":"Shut down container"}}"#)),
            None
        );
    }
}
