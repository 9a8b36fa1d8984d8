//! The backend seam: what the managers need from a container runtime, in workshop terms.
//!
//! [`Backend`] is implemented by [`lxd::LxdBackend`] (real LXD, the only one the daemon uses)
//! and by [`fake::FakeBackend`] (in memory, for fast unit tests of the managers). The
//! [`BackendActor`] owns one and serves typed messages, one per operation.

mod actor;
#[cfg(any(test, feature = "fake-backend"))]
pub mod fake;
pub mod hostname;
pub mod lxd;
mod types;

use std::collections::BTreeMap;

pub use actor::*;
pub use hostname::HostName;
pub use types::*;

use crate::health::LxdStatus;

/// Errors of backend operations.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// LXD cannot be reached or is not usable (degraded mode).
    #[error("{0}")]
    Unavailable(String),
    /// The workshop's instance does not exist.
    #[error("workshop {0:?} is not launched")]
    NotLaunched(String),
    /// The base image cannot be found.
    #[error("cannot find base {base:?}: {reason}")]
    BaseNotFound { base: String, reason: String },
    /// The instance did not start; `reason` carries LXD's log tail.
    #[error("cannot start workshop {name:?}: {reason}")]
    StartFailed { name: String, reason: String },
    /// A command run for the daemon inside the workshop failed.
    #[error("cannot {what} in workshop {name:?}: {reason}")]
    GuestCommand { what: String, name: String, reason: String },
    /// A command run for the daemon ([`Backend::run`]) outlived its [`RunLimits::timeout`]
    /// and was killed.
    #[error(
        "cannot {what} in workshop {name:?}: it did not finish within {}, so it was killed",
        workshop_api::duration::format(*.after)
    )]
    TimedOut { what: String, name: String, after: std::time::Duration },
    /// Any other LXD error, with LXD's message.
    #[error("{0}")]
    Lxd(String),
    #[error("cannot reach the backend: {0}")]
    Mailbox(String),
}

impl From<actix::MailboxError> for BackendError {
    fn from(e: actix::MailboxError) -> Self {
        Self::Mailbox(e.to_string())
    }
}

/// What the managers need from a container runtime. Operations are idempotent where the task
/// engine may re-run them after a crash (create of an existing instance, delete of a missing
/// one, start of a running one, stop of a stopped one).
#[async_trait::async_trait(?Send)]
pub trait Backend {
    /// Probes the runtime and makes sure the shared objects exist (storage pool, network).
    async fn check(&self) -> (LxdStatus, Result<(), String>);
    /// Makes sure the user's isolated namespaces (LXD projects) exist.
    async fn ensure_user(&self, user: &str) -> Result<(), BackendError>;
    /// Resolves a base name (`ubuntu@24.04`, `debian@12`) to an image, fetching it if needed.
    async fn resolve_base(&self, base: &str) -> Result<BaseImage, BackendError>;
    /// The workshops of `user`, optionally only those of one project.
    async fn list(&self, user: &str, project_id: Option<&str>) -> Result<Vec<Instance>, BackendError>;
    /// One workshop, or `None` when it is not launched.
    async fn get(&self, target: &Target) -> Result<Option<Instance>, BackendError>;
    /// Creates the instance (stopped), or with `spec.rebuild` the workshop's rebuilt one
    /// ([`Target::next_name`]). An existing instance is left alone.
    async fn create(&self, target: &Target, spec: &CreateSpec) -> Result<(), BackendError>;
    /// Deletes the instance (stopping it first), and the workshop's profiles it leaves unused
    /// (a launch undone after setting them up). A missing one is fine.
    async fn delete(&self, target: &Target) -> Result<(), BackendError>;
    /// Sets the stopped instance aside as the workshop's stash ([`Target::stash_name`]) and
    /// puts the rebuilt one ([`Target::next_name`], see [`CreateSpec::rebuild`]) under its
    /// name; neither the stash nor the rebuilt one is a workshop of any listing. Done already
    /// (a stash, and the rebuilt instance in place) is fine, and so is half done. The stash of
    /// an earlier refresh, still there, is deleted when its identity is among `spent` (that
    /// refresh went through), else waited for (a bounded wait). Returns the stash's identity,
    /// for [`Backend::discard_stash`].
    async fn stash(&self, target: &Target, spent: &[String]) -> Result<String, BackendError>;
    /// Puts the stash back under the workshop's name, deleting whatever instance has it now;
    /// no stash (put back already) is fine.
    async fn unstash(&self, target: &Target) -> Result<(), BackendError>;
    /// Deletes the rebuilt instance that was not put in the workshop's place; none is fine.
    async fn discard_rebuild(&self, target: &Target) -> Result<(), BackendError>;
    /// Deletes the stash, and a rebuilt instance not put in place; none is fine.
    async fn delete_stash(&self, target: &Target) -> Result<(), BackendError>;
    /// Deletes the stash when it is the one [`Backend::stash`] returned `id` for; none, or
    /// another refresh's, is fine (and left alone). The rebuilt instance is left alone.
    async fn discard_stash(&self, target: &Target, id: &str) -> Result<(), BackendError>;
    /// Gives the rebuilt (stopped, never started) instance, now in the workshop's place, the
    /// machine id of its stash, so that a refresh or restore keeps the workshop's identity
    /// (journal, D-Bus, licences tied to it), as the reference does. The LXD backend gives
    /// it at creation; this only reads a stash made before ids were kept in the config. A
    /// stash without a valid id (none yet, not a regular file, not 32 hex digits) leaves the
    /// new instance to make its own.
    async fn keep_machine_id(&self, target: &Target) -> Result<(), BackendError>;
    /// Makes `target` a copy of the launched workshop `source` of the same project, running
    /// or stopped (a running one as its disk is now, as after a power cut): stopped, with the
    /// keys of `spec.config` set (an empty value drops the key), `spec.devices` in place of
    /// the source's devices of those names (the others kept), none of the source's
    /// profiles, and a machine id of its own, written at its first start. An
    /// existing copy of the same project (a crash) is finished.
    async fn fork(&self, source: &Target, target: &Target, spec: &ForkSpec) -> Result<(), BackendError>;
    /// The first of `names` (layer snapshots of `user`, the deepest first) that exists
    /// complete; with `mark_used`, it counts as used now (its cool-down starts again).
    async fn find_snapshot(
        &self,
        user: &str,
        names: &[String],
        mark_used: bool,
    ) -> Result<Option<String>, BackendError>;
    /// Keeps the workshop's filesystem as it is now as `name`, a layer snapshot of its user
    /// that later workshops can be created from (without the workshop's machine id: each copy
    /// writes its own at its first start); one that exists complete is only marked used.
    async fn take_snapshot(&self, target: &Target, name: &str) -> Result<(), BackendError>;
    /// Deletes the layer snapshots of `user` (None: every user's) that no instance names in
    /// its [`SNAPSHOT_REF_PREFIX`] keys (workshops, stashes) and that were not used for
    /// `cooldown`. Returns the names deleted.
    async fn collect_snapshots(
        &self,
        user: Option<&str>,
        cooldown: std::time::Duration,
    ) -> Result<Vec<String>, BackendError>;
    /// Starts the instance; returns once it runs, its init system possibly still booting
    /// (see [`Backend::wait_ready`]). Running is fine.
    async fn start(&self, target: &Target) -> Result<(), BackendError>;
    /// Waits until the instance's init system is up, and marks the instance to run (started
    /// again when the system is, see `managers::workshop::autostart`). When it does not come
    /// up, the instance is stopped and the error says why.
    async fn wait_ready(&self, target: &Target) -> Result<(), BackendError>;
    /// Stops the instance as `mode` says. Stopped is fine.
    async fn stop(&self, target: &Target, mode: StopMode) -> Result<(), BackendError>;
    /// Takes the mark to run from the instance if it is stopped and marked, in one update that
    /// fails rather than touch an instance started or changed meanwhile: whether it did.
    async fn unmark_stopped(&self, target: &Target) -> Result<bool, BackendError>;
    /// Adds or replaces a device.
    async fn set_device(&self, target: &Target, name: &str, device: &Device) -> Result<(), BackendError>;
    /// Sets (or with `None` removes) config keys and adds or replaces a device, in one
    /// update where the backend can (the LXD one: one ETag-checked edit, where two cost an
    /// update of the running instance more).
    async fn set_device_and_config(
        &self,
        target: &Target,
        name: &str,
        device: &Device,
        changes: &[(String, Option<String>)],
    ) -> Result<(), BackendError> {
        self.set_config(target, changes).await?;
        self.set_device(target, name, device).await
    }
    /// Removes a device; a missing one is fine.
    async fn remove_device(&self, target: &Target, name: &str) -> Result<(), BackendError>;
    /// Makes the workshop's profile of SDK `sdk` hold exactly `devices` and be applied to the
    /// instance; no devices removes the profile. Applied as one ETag-checked update, rolled
    /// back when the instance refuses it (e.g. a device it cannot plug in).
    async fn set_profile(
        &self,
        target: &Target,
        sdk: &str,
        devices: &BTreeMap<String, Device>,
    ) -> Result<(), BackendError>;
    /// Removes the profiles of SDKs `sdks` (none left is fine): detached from the instance in
    /// one update where the backend can, then deleted.
    async fn drop_profiles(&self, target: &Target, sdks: &[String]) -> Result<(), BackendError> {
        for sdk in sdks {
            self.set_profile(target, sdk, &BTreeMap::new()).await?;
        }
        Ok(())
    }
    /// The host's GPUs.
    async fn gpus(&self) -> Result<Vec<crate::lxd::GpuCard>, BackendError>;
    /// What hotplugged unix devices can match on.
    async fn hotplug_support(&self) -> Result<HotplugSupport, BackendError>;
    /// Sets (or with `None` removes) instance config keys.
    async fn set_config(
        &self,
        target: &Target,
        changes: &[(String, Option<String>)],
    ) -> Result<(), BackendError>;
    /// Runs a command and collects its output.
    async fn run(&self, target: &Target, spec: &ExecSpec) -> Result<RunOutput, BackendError>;
    /// Starts a command whose standard streams the caller drives.
    async fn exec(&self, target: &Target, spec: &ExecSpec) -> Result<ExecSession, BackendError>;
    /// Writes a file inside the workshop.
    async fn push_file(&self, target: &Target, file: &GuestFile) -> Result<(), BackendError>;
    /// Publishes the workshop's names on the network ([`hostname`]), with the friendly one
    /// made from `project_name` (the project directory's name) when it is valid and no other
    /// workshop holds it. A workshop whose names are still right keeps them as they are.
    /// Returns the name the workshop is known by.
    async fn publish_names(&self, target: &Target, project_name: &str) -> Result<HostName, BackendError>;
    /// Withdraws the workshop's names; none is fine.
    async fn withdraw_names(&self, target: &Target) -> Result<(), BackendError>;
    /// The names of `user`'s workshops that have theirs.
    async fn host_names(&self, user: &str) -> Result<BTreeMap<Target, HostName>, BackendError>;
    /// `workshop doctor`'s checks: the runtime's (`lxd`, `storage-pool`, `network`, `images`)
    /// and the host's for the caller ([`crate::doctor`]), each with what to run to fix it.
    /// Reads only, unless `host.fix` asks for the host's safe fixes first.
    async fn diagnose(
        &self,
        host: &crate::doctor::HostQuery,
    ) -> Result<Vec<workshop_api::doctor::Check>, BackendError>;
    /// The storage pool's use, and `user`'s instances on it (workshops and templates).
    async fn pool_use(&self, user: &str) -> Result<PoolUse, BackendError>;
    /// Removes `user`'s template `name` (a template only; one being prepared is refused).
    async fn remove_template(&self, user: &str, name: &str) -> Result<(), BackendError>;
    /// The workshops whose guest went down by itself (rebooted, and not started again by the
    /// runtime, or powered off), as it happens; `None` when the runtime cannot tell.
    fn watch_shutdowns(&self) -> Option<futures_util::stream::LocalBoxStream<'static, GuestShutdown>> {
        None
    }
    /// The network bridge of a runtime on this host (whose forwarding this host's firewall
    /// decides); `None` for a remote one.
    fn local_bridge(&self) -> Option<String> {
        None
    }
}
