//! Workshops' names on the bridge's DNS: their lines in the network's `raw.dnsmasq`
//! ([`super::dnsmasq`]), written with an ETag-guarded read-modify-write so that daemons and
//! starts editing it at the same time never lose each other's lines.
//!
//! Every change of `raw.dnsmasq` makes LXD restart the bridge's dnsmasq (measured here: the
//! write takes 0.8 s, 2.5 s under load, and dnsmasq is down for 60 ms to 0.9 s of it; a guest
//! whose DHCP request falls into that gap waits 8 s for its address). So the edits of one
//! daemon are gathered: while a write is in flight, the edits asked for meanwhile wait and go
//! together in the next one; an edit that changes nothing (the workshop has its line) writes
//! nothing; a publication is done as soon as the bridge's DNS server answers the new name
//! (dnsmasq is back), not when LXD is done with the network (as long again; should the rest
//! of LXD's set-up fail, LXD puts the network back, and the edit is written again); and no write
//! restarts dnsmasq while a workshop of this machine boots ([`host_lock`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::dnsmasq::{self, Edit, Outcome};
use super::host_lock::{self, Mode};
use super::layout::{self, DNS_DOMAIN};
use super::{LxdBackend, dns_probe, lxd_error};
use crate::backend::hostname::{self, HostName};
use crate::backend::{BackendError, Target};
use crate::lxd::{Client, LxdError};

/// The configuration key holding dnsmasq's extra configuration.
const RAW_DNSMASQ: &str = "raw.dnsmasq";
/// Writes refused because someone else changed the network meanwhile, before giving up.
const MAX_CONFLICTS: u32 = 10;
/// How long one round (read, edit, write) may take.
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);
/// Where the daemons of this machine keep their locks of the network ([`host_lock`]).
const LOCK_DIR: &str = "/run";
/// How long a write waits for the workshops that boot to have their addresses, and a boot
/// for a write to have dnsmasq back, before going ahead anyway.
const BOOT_WAIT: Duration = Duration::from_secs(10);
/// A boot lock not released by then (its start was never waited for) is dropped.
const BOOT_HOLD: Duration = Duration::from_secs(90);
/// How long withdrawals wait for others before they are written: the workshops of one
/// removal come to it as their stops end, and each write restarts dnsmasq. (Publications do
/// not wait: a launch waits for them.)
const GATHER_WITHDRAWALS: Duration = Duration::from_millis(250);
/// Rounds an edit answered before its write failed gets again: its caller was told the names
/// are there (the bridge's DNS server answered them while LXD went on setting the network
/// up), but LXD put the network back as it was when the rest of its set-up failed.
const MAX_REWRITES: u32 = 5;
/// The pause before such a round.
const REWRITE_PAUSE: Duration = Duration::from_millis(500);

/// Edits waiting for the next write, and whether a writer runs.
#[derive(Default)]
pub(super) struct NameQueue {
    pending: Vec<Pending>,
    writing: bool,
}

struct Pending {
    edit: Edit,
    /// What it came to once served (or why it was not); taken when answered.
    reply: Option<oneshot::Sender<Result<Outcome, BackendError>>>,
    /// Rounds that failed after it was answered.
    rewrites: u32,
}

impl Pending {
    fn answer(&mut self, result: Result<Outcome, BackendError>) {
        match self.reply.take() {
            Some(reply) => drop(reply.send(result)),
            None => {
                if let Err(e) = result {
                    warn!(edit = ?self.edit, error = %e, "an edit of the workshop names that was already served failed");
                }
            }
        }
    }
}

/// The boot locks held, by instance (`<LXD project>/<instance>`), and since when.
pub(super) type Boots = RefCell<BTreeMap<String, (host_lock::HostLock, Instant)>>;

impl LxdBackend {
    pub(super) async fn publish_names(
        &self,
        target: &Target,
        project_name: &str,
    ) -> Result<HostName, BackendError> {
        let edit = Edit::Publish {
            lxd_project: layout::instances_project(&target.user),
            workshop: target.name.clone(),
            project_id: target.project_id.clone(),
            project_name: project_name.to_string(),
        };
        // Most starts find the names as they should be: a read tells, without waiting for a
        // write in flight.
        let raw = self.raw_dnsmasq().await?;
        let (text, outcomes) = dnsmasq::apply(&raw, std::slice::from_ref(&edit), None, now(), DNS_DOMAIN);
        let outcome = match outcomes.into_iter().next() {
            Some(outcome) if text.is_none() => outcome,
            _ => self.edit_names(edit).await?,
        };
        match outcome {
            Outcome::Published(host) => Ok(host),
            Outcome::Blocked { name } => {
                warn!(instance = %target.instance_name(), name = %name, "another line of raw.dnsmasq gives this workshop's name to something else; the workshop has no names of its own");
                Ok(HostName {
                    name: hostname::fallback_name(&target.name, &target.project_id, DNS_DOMAIN),
                    fallback: true,
                })
            }
            Outcome::Withdrawn => Err(BackendError::Lxd("cannot publish the workshop's names".into())),
        }
    }

    pub(super) async fn withdraw_names(&self, target: &Target) -> Result<(), BackendError> {
        let edit = Edit::Withdraw {
            lxd_project: layout::instances_project(&target.user),
            workshop: target.name.clone(),
            project_id: target.project_id.clone(),
        };
        self.edit_names(edit).await.map(drop)
    }

    pub(super) async fn host_names(&self, user: &str) -> Result<BTreeMap<Target, HostName>, BackendError> {
        let raw = self.raw_dnsmasq().await?;
        let lxd_project = layout::instances_project(user);
        Ok(dnsmasq::entries(&raw, DNS_DOMAIN)
            .into_iter()
            .filter(|e| e.lxd_project == lxd_project)
            .map(|e| (Target::new(user, &e.project_id, &e.workshop), e.host_name(DNS_DOMAIN)))
            .collect())
    }

    async fn raw_dnsmasq(&self) -> Result<String, BackendError> {
        let (mut network, _) = self
            .client
            .get_network(&self.config.network)
            .await
            .map_err(|e| lxd_error(&format!("read network {:?}", self.config.network), e))?;
        Ok(network.config.remove(RAW_DNSMASQ).unwrap_or_default())
    }

    /// Queues `edit` for the next write (starting the writer when none runs) and waits until
    /// it is served.
    async fn edit_names(&self, edit: Edit) -> Result<Outcome, BackendError> {
        let (reply, served) = oneshot::channel();
        let start = {
            let mut queue = self.names.borrow_mut();
            debug!(edit = ?edit, "queued an edit of the workshop names");
            queue.pending.push(Pending { edit, reply: Some(reply), rewrites: 0 });
            !std::mem::replace(&mut queue.writing, true)
        };
        if start {
            let writer = Writer { client: self.client.unscoped(), network: self.config.network.clone() };
            // A write goes on after the edits it serves were answered.
            let job = self.activity.begin();
            let queue = self.names.clone();
            actix_rt::spawn(async move {
                writer.run(queue).await;
                drop(job);
            });
        }
        served.await.map_err(|_| {
            BackendError::Lxd("cannot publish the workshop's names: the writer stopped".into())
        })?
    }

    /// Holds the boot lock (shared) for instance `key` until [`LxdBackend::booted`], so that
    /// no write restarts dnsmasq meanwhile. A boot that waited too long goes ahead without it.
    pub(super) async fn booting(&self, key: String) {
        let path = host_lock::path(Path::new(LOCK_DIR), &self.config.network, "boot");
        match host_lock::lock(&path, Mode::Shared, BOOT_WAIT).await {
            Ok(Some(lock)) => {
                let mut boots = self.boots.borrow_mut();
                boots.retain(|_, (_, since)| since.elapsed() < BOOT_HOLD);
                boots.insert(key, (lock, Instant::now()));
            }
            Ok(None) => warn!(instance = %key, "a write of the workshop names took long; booting anyway"),
            Err(e) => debug!(error = %e, "cannot take the boot lock of the network"),
        }
    }

    /// The instance `key` has its address (or will not get one): releases its boot lock.
    pub(super) fn booted(&self, key: &str) {
        self.boots.borrow_mut().remove(key);
    }
}

/// Applies queued edits until none is left.
struct Writer {
    client: Client,
    network: String,
}

impl Writer {
    async fn run(self, queue: Rc<RefCell<NameQueue>>) {
        let mut conflicts = 0;
        loop {
            if queue.borrow().pending.is_empty() {
                queue.borrow_mut().writing = false;
                return;
            }
            let withdrawals_only =
                queue.borrow().pending.iter().all(|p| matches!(p.edit, Edit::Withdraw { .. }));
            if withdrawals_only {
                actix_rt::time::sleep(GATHER_WITHDRAWALS).await;
            }
            let mut batch = Vec::new();
            let round = actix_rt::time::timeout(ROUND_TIMEOUT, self.round(&queue, &mut batch)).await;
            let result = round.unwrap_or_else(|_| {
                Err(RoundError::Failed(self.error(format!("no answer within {} s", ROUND_TIMEOUT.as_secs()))))
            });
            match result {
                Err(RoundError::Conflict(_)) if conflicts < MAX_CONFLICTS => {
                    conflicts += 1;
                    debug!(network = %self.network, conflicts, "network changed meanwhile; editing again");
                    // Back in front, in order; later edits go with them.
                    queue.borrow_mut().pending.splice(0..0, batch);
                    let pause = 20 * u64::from(conflicts) + rand::random::<u64>() % 100;
                    actix_rt::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(e) => {
                    let error = match e {
                        RoundError::Conflict(e) | RoundError::Failed(e) => e,
                    };
                    let again = settle_failed(batch, &error);
                    if !again.is_empty() {
                        warn!(network = %self.network, error = %error, edits = again.len(), "a write of the workshop names failed after the names were served; writing them again");
                        queue.borrow_mut().pending.splice(0..0, again);
                        actix_rt::time::sleep(REWRITE_PAUSE).await;
                    }
                    conflicts = 0;
                }
                Ok(outcomes) => {
                    for (pending, outcome) in batch.iter_mut().zip(outcomes) {
                        pending.answer(Ok(outcome));
                    }
                    conflicts = 0;
                }
            }
        }
    }

    /// Reads the network and the instances, then takes the edits queued by then (into
    /// `batch`) and writes them in one update guarded by the ETag read. Once the bridge's DNS
    /// server answers a name the write adds, the edits are answered (before LXD is done).
    async fn round(
        &self,
        queue: &RefCell<NameQueue>,
        batch: &mut Vec<Pending>,
    ) -> Result<Vec<Outcome>, RoundError> {
        let read = self.client.get_network(&self.network).await;
        *batch = std::mem::take(&mut queue.borrow_mut().pending);
        let (network, etag) = read.map_err(|e| RoundError::Failed(self.lxd_error(e)))?;
        let edits: Vec<Edit> = batch.iter().map(|p| p.edit.clone()).collect();
        let raw = network.config.get(RAW_DNSMASQ).map(String::as_str).unwrap_or_default();
        // Most edits change nothing (a workshop that has its names starts): then nothing
        // else is read. A write prunes too, which needs the instances.
        let (text, outcomes) = dnsmasq::apply(raw, &edits, None, now(), DNS_DOMAIN);
        if text.is_none() {
            return Ok(outcomes);
        }
        let existing = self.existing().await?;
        let (text, outcomes) = dnsmasq::apply(raw, &edits, existing.as_ref(), now(), DNS_DOMAIN);
        let Some(text) = text else { return Ok(outcomes) };
        let probe = network
            .config
            .get("ipv4.address")
            .and_then(|cidr| dns_probe::bridge_address(cidr))
            .zip(added_name(raw, &text));
        let mut put = network.writable();
        if text.is_empty() {
            put.config.remove(RAW_DNSMASQ);
        } else {
            put.config.insert(RAW_DNSMASQ.to_string(), text);
        }

        let started = Instant::now();
        let _writing = self.lock("write", Mode::Exclusive, ROUND_TIMEOUT).await;
        let boots = self.lock("boot", Mode::Exclusive, BOOT_WAIT).await;
        let update = self.client.update_network(&self.network, &put, &etag);
        futures_util::pin_mut!(update);
        let returned = match probe {
            Some((server, name)) => {
                let served = dns_probe::served(server, &name);
                futures_util::pin_mut!(served);
                tokio::select! {
                    biased;
                    result = &mut update => Some(result),
                    () = &mut served => None,
                }
            }
            None => Some((&mut update).await),
        };
        let result = match returned {
            Some(result) => result,
            None => {
                drop(boots);
                debug!(network = %self.network, elapsed_ms = started.elapsed().as_millis() as u64, "dnsmasq answers the new names");
                for (pending, outcome) in batch.iter_mut().zip(&outcomes) {
                    pending.answer(Ok(outcome.clone()));
                }
                update.await
            }
        };
        let written = match result {
            Ok(()) => Ok(outcomes),
            // Someone else wrote meanwhile; or a writer that does not take the lock (an
            // administrator's `lxc network set`) set the network up at the same time, and
            // LXD's set-ups collided ("DNS and DHCP service exited prematurely", "Failed
            // clearing firewall"): LXD has put the network back as it was.
            Err(e) if e.is_precondition_failed() || matches!(e, LxdError::Api { status: 500, .. }) => {
                Err(RoundError::Conflict(self.lxd_error(e)))
            }
            Err(e) => Err(RoundError::Failed(self.lxd_error(e))),
        };
        debug!(network = %self.network, edits = edits.len(), elapsed_ms = started.elapsed().as_millis() as u64, "wrote workshop names");
        written
    }

    /// The host lock of the network for `purpose`; None (going ahead without it) when it
    /// cannot be had within `wait`.
    async fn lock(&self, purpose: &str, mode: Mode, wait: Duration) -> Option<host_lock::HostLock> {
        let path = host_lock::path(Path::new(LOCK_DIR), &self.network, purpose);
        match host_lock::lock(&path, mode, wait).await {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                warn!(network = %self.network, purpose, "the network's lock is still held; writing anyway");
                None
            }
            Err(e) => {
                debug!(error = %e, purpose, "cannot take the network's lock; writing without it");
                None
            }
        }
    }

    /// The instances of every project, read after the network: a line in what was read was
    /// written after its instance existed (or is young enough to be spared), so it is never
    /// pruned by mistake. None (nothing is pruned) when LXD cannot list them.
    async fn existing(&self) -> Result<Option<HashSet<(String, String)>>, RoundError> {
        match self.client.list_all_instance_names().await {
            Ok(names) => Ok(Some(names.into_iter().collect())),
            Err(LxdError::Invalid(reason)) => {
                debug!(reason = %reason, "cannot list the instances of every project; not pruning");
                Ok(None)
            }
            Err(e) => Err(RoundError::Failed(self.lxd_error(e))),
        }
    }

    fn lxd_error(&self, e: LxdError) -> BackendError {
        lxd_error(&format!("update the workshop names on network {:?}", self.network), e)
    }

    fn error(&self, why: String) -> BackendError {
        BackendError::Lxd(format!("cannot update the workshop names on network {:?}: {why}", self.network))
    }
}

/// Answers the edits of a failed round with its error, but for those answered before it failed
/// (as served), which are returned to be written again, [`MAX_REWRITES`] times at most.
fn settle_failed(batch: Vec<Pending>, error: &BackendError) -> Vec<Pending> {
    let (again, failed): (Vec<_>, Vec<_>) =
        batch.into_iter().partition(|p| p.reply.is_none() && p.rewrites < MAX_REWRITES);
    for mut pending in failed {
        pending.answer(Err(error.clone()));
    }
    again.into_iter().map(|p| Pending { rewrites: p.rewrites + 1, ..p }).collect()
}

/// A name of a workshop that has a line in `after` and none in `before`: answered only by a
/// dnsmasq that runs with `after`.
fn added_name(before: &str, after: &str) -> Option<String> {
    let had: HashSet<String> = dnsmasq::entries(before, DNS_DOMAIN).iter().map(|e| e.instance()).collect();
    dnsmasq::entries(after, DNS_DOMAIN)
        .into_iter()
        .find(|e| !had.contains(&e.instance()))
        .map(|e| hostname::project_name(&e.workshop, &e.project_id, DNS_DOMAIN))
}

enum RoundError {
    /// The network changed since it was read, or its set-up collided with another: worth
    /// another try (LXD's error, for when there are too many).
    Conflict(BackendError),
    Failed(BackendError),
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_served_before_their_write_failed_are_written_again_a_few_times() {
        let edit = |ws: &str| Edit::Withdraw {
            lxd_project: "workshop.a".into(),
            workshop: ws.into(),
            project_id: "0123abcd".into(),
        };
        let (reply, waiting) = oneshot::channel();
        let batch = vec![
            Pending { edit: edit("served"), reply: None, rewrites: 0 },
            Pending { edit: edit("waiting"), reply: Some(reply), rewrites: 0 },
            Pending { edit: edit("given-up"), reply: None, rewrites: MAX_REWRITES },
        ];
        let error = BackendError::Lxd("cannot update: no".into());
        let again = settle_failed(batch, &error);
        assert_eq!(again.len(), 1);
        assert_eq!((&again[0].edit, again[0].rewrites), (&edit("served"), 1));
        assert!(matches!(waiting.blocking_recv(), Ok(Err(e)) if e.to_string() == error.to_string()));
    }

    #[test]
    fn the_name_a_write_adds() {
        let line = |ws: &str, pid: &str| format!("cname={ws}.{pid}.wp,{ws}-{pid}.wp,0  # workshop.a 1 x");
        let before = line("dev", "0123abcd");
        let after = format!("{before}\n{}", line("web", "0123abcd"));
        assert_eq!(added_name(&before, &after).as_deref(), Some("web.0123abcd.wp"));
        // A line changed or removed adds nothing a dnsmasq with the old one would not answer.
        assert_eq!(added_name(&after, &before), None);
        let renamed = "cname=dev.0123abcd.wp,dev.app.wp,dev-0123abcd.wp,0  # workshop.a 2 app";
        assert_eq!(added_name(&before, renamed), None);
    }
}
