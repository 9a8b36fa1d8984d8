//! Workshops' names on the bridge's DNS: their lines in the network's `raw.dnsmasq`
//! ([`super::dnsmasq`]), written with an ETag-guarded read-modify-write so that daemons and
//! starts editing it at the same time never lose each other's lines.
//!
//! Every change of `raw.dnsmasq` makes LXD restart the bridge's dnsmasq (measured here: the
//! write takes 0.8 s, 2.5 s under load, and dnsmasq is down for 60 ms to 0.9 s of it; a guest
//! whose DHCP request falls into that gap waits 8 s for its address). So the edits of one
//! daemon are gathered: while a write is in flight, the edits asked for meanwhile wait and go
//! together in the next one; an edit that changes nothing (the workshop has its line) writes
//! nothing; and a publication is done as soon as the bridge's DNS server answers the new
//! name (the restart is over), not when LXD is done with the network.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{oneshot, watch};
use tracing::{debug, warn};

use super::dnsmasq::{self, Edit, Outcome};
use super::layout::{self, DNS_DOMAIN};
use super::{LxdBackend, lxd_error};
use super::{dns_probe, host_lock};
use crate::backend::hostname::{self, HostName};
use crate::backend::{BackendError, Target};
use crate::lxd::{Client, LxdError, Network};

/// The configuration key holding dnsmasq's extra configuration.
const RAW_DNSMASQ: &str = "raw.dnsmasq";
/// Writes refused because someone else changed the network meanwhile, before giving up.
const MAX_CONFLICTS: u32 = 10;
/// How long one round (read, edit, write) may take.
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);
/// Where the daemons of this machine take turns writing the network ([`host_lock`]).
const LOCK_DIR: &str = "/run";
/// LXD's error when two restarts of dnsmasq collide.
const DNSMASQ_COLLISION: &str = "DNS and DHCP service exited prematurely";
/// How long withdrawals wait for others before they are written: the workshops of one
/// removal come to it as their stops end, and each write restarts dnsmasq. (Publications do
/// not wait: a launch waits for them.)
const GATHER_WITHDRAWALS: Duration = Duration::from_millis(250);

/// Edits waiting for the next write, and whether a writer runs.
#[derive(Default)]
pub(super) struct NameQueue {
    pending: Vec<Pending>,
    writing: bool,
}

struct Pending {
    edit: Edit,
    /// What the edit comes to in the write in flight (set before each attempt).
    planned: watch::Sender<Option<Outcome>>,
    /// What it came to once written (or why it was not).
    reply: oneshot::Sender<Result<Outcome, BackendError>>,
}

impl LxdBackend {
    pub(super) async fn publish(
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
        let mut network = self.network().await?;
        let raw = network.config.remove(RAW_DNSMASQ).unwrap_or_default();
        let (text, outcomes) = dnsmasq::apply(&raw, std::slice::from_ref(&edit), None, now(), DNS_DOMAIN);
        let outcome = match outcomes.into_iter().next() {
            Some(outcome) if text.is_none() => outcome,
            _ => {
                // A workshop that had no line is served once its first name is answered.
                let instance = target.instance_name();
                let had_line = dnsmasq::entries(&raw, DNS_DOMAIN).iter().any(|e| e.instance() == instance);
                let probe = network
                    .config
                    .get("ipv4.address")
                    .and_then(|cidr| dns_probe::bridge_address(cidr))
                    .filter(|_| !had_line)
                    .map(|server| {
                        (server, hostname::project_name(&target.name, &target.project_id, DNS_DOMAIN))
                    });
                self.edit_names(edit, probe).await?
            }
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

    pub(super) async fn withdraw(&self, target: &Target) -> Result<(), BackendError> {
        let edit = Edit::Withdraw {
            lxd_project: layout::instances_project(&target.user),
            workshop: target.name.clone(),
            project_id: target.project_id.clone(),
        };
        self.edit_names(edit, None).await.map(drop)
    }

    pub(super) async fn names_of(&self, user: &str) -> Result<BTreeMap<Target, HostName>, BackendError> {
        let raw = self.raw_dnsmasq().await?;
        let lxd_project = layout::instances_project(user);
        Ok(dnsmasq::entries(&raw, DNS_DOMAIN)
            .into_iter()
            .filter(|e| e.lxd_project == lxd_project)
            .map(|e| (Target::new(user, &e.project_id, &e.workshop), e.host_name(DNS_DOMAIN)))
            .collect())
    }

    async fn network(&self) -> Result<Network, BackendError> {
        let (network, _) = self
            .client
            .get_network(&self.config.network)
            .await
            .map_err(|e| lxd_error(&format!("read network {:?}", self.config.network), e))?;
        Ok(network)
    }

    async fn raw_dnsmasq(&self) -> Result<String, BackendError> {
        Ok(self.network().await?.config.remove(RAW_DNSMASQ).unwrap_or_default())
    }

    /// Queues `edit` for the next write (starting the writer when none runs) and waits for
    /// what it came to: until the write returns, or with `probe` (the bridge's DNS server and
    /// a name the edit adds), until that server answers the name, which it does once it was
    /// restarted with the new configuration (LXD goes on with the network for as long again).
    async fn edit_names(
        &self,
        edit: Edit,
        probe: Option<(Ipv4Addr, String)>,
    ) -> Result<Outcome, BackendError> {
        let (reply, done) = oneshot::channel();
        let (planned_tx, planned) = watch::channel(None);
        let start = {
            let mut queue = self.names.borrow_mut();
            debug!(edit = ?edit, "queued an edit of the workshop names");
            queue.pending.push(Pending { edit, planned: planned_tx, reply });
            !std::mem::replace(&mut queue.writing, true)
        };
        if start {
            let writer = Writer { client: self.client.unscoped(), network: self.config.network.clone() };
            // A write goes on after the edits it serves were answered (see above).
            let job = self.activity.begin();
            let queue = self.names.clone();
            actix_rt::spawn(async move {
                writer.run(queue).await;
                drop(job);
            });
        }
        let stopped = |_| BackendError::Lxd("cannot publish the workshop's names: the writer stopped".into());
        let Some((server, name)) = probe else { return done.await.map_err(stopped)? };
        let served = dns_probe::served(server, &name);
        futures_util::pin_mut!(done, served);
        tokio::select! {
            biased;
            written = &mut done => return written.map_err(stopped)?,
            () = &mut served => {}
        }
        let outcome = planned.borrow().clone();
        match outcome {
            Some(outcome) => {
                debug!(name = %name, "the bridge's DNS server answers the new name");
                Ok(outcome)
            }
            None => done.await.map_err(stopped)?,
        }
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
                Err(RoundError::Conflict) if conflicts < MAX_CONFLICTS => {
                    conflicts += 1;
                    debug!(network = %self.network, conflicts, "network changed meanwhile; editing again");
                    // Back in front, in order; later edits go with them.
                    queue.borrow_mut().pending.splice(0..0, batch);
                    let pause = 20 * u64::from(conflicts) + rand::random::<u64>() % 100;
                    actix_rt::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(e) => {
                    let error = match e {
                        RoundError::Conflict => self.error("it keeps changing".into()),
                        RoundError::Failed(e) => e,
                    };
                    for pending in batch {
                        if pending.reply.send(Err(error.clone())).is_err() {
                            warn!(edit = ?pending.edit, error = %error, "an edit of the workshop names that was already served failed");
                        }
                    }
                    conflicts = 0;
                }
                Ok(outcomes) => {
                    for (pending, outcome) in batch.into_iter().zip(outcomes) {
                        let _ = pending.reply.send(Ok(outcome));
                    }
                    conflicts = 0;
                }
            }
        }
    }

    /// Reads the network and the instances, then takes the edits queued by then (into
    /// `batch`) and writes them in one update guarded by the ETag read.
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
        for (pending, outcome) in batch.iter().zip(&outcomes) {
            pending.planned.send_replace(Some(outcome.clone()));
        }
        let mut put = network.writable();
        if text.is_empty() {
            put.config.remove(RAW_DNSMASQ);
        } else {
            put.config.insert(RAW_DNSMASQ.to_string(), text);
        }
        let started = std::time::Instant::now();
        let _lock = match host_lock::lock(&host_lock::path(Path::new(LOCK_DIR), &self.network)).await {
            Ok(lock) => Some(lock),
            Err(e) => {
                debug!(error = %e, "cannot take the host's lock of the network; writing without it");
                None
            }
        };
        let written = match self.client.update_network(&self.network, &put, &etag).await {
            Ok(()) => Ok(outcomes),
            // Someone else wrote meanwhile; or a writer that does not take the lock (an
            // administrator's `lxc network set`) restarted dnsmasq at the same time.
            Err(e) if e.is_precondition_failed() || e.to_string().contains(DNSMASQ_COLLISION) => {
                Err(RoundError::Conflict)
            }
            Err(e) => Err(RoundError::Failed(self.lxd_error(e))),
        };
        debug!(network = %self.network, edits = edits.len(), elapsed_ms = started.elapsed().as_millis() as u64, "wrote workshop names");
        written
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

enum RoundError {
    /// The network changed since it was read.
    Conflict,
    Failed(BackendError),
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}
