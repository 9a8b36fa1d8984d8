//! [`LxdBackend`]: the [`Backend`] on a real LXD, with the reference's layout: one storage pool
//! and one bridge shared by everyone, two LXD projects per host user (`workshop.<user>` for
//! workshops, `workshop-snapshots.<user>` for snapshots), one container per workshop named
//! `<workshop>-<project id>`, images shared from LXD's default project.

mod dns_probe;
mod dnsmasq;
mod doctor;
mod exec;
mod forks;
mod guest_templates;
mod host_lock;
mod images;
mod instances;
mod layout;
mod machine_id;
mod names;
pub mod origin;
mod post_stop;
mod profiles;
mod ready;
mod search;
mod shutdowns;
mod snapshots;
mod space;
mod templates;
mod users;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub use images::ImageServer;

use super::{
    Backend, BackendError, BaseImage, CreateSpec, Device, ExecSession, ExecSpec, ForkSpec, GuestFile,
    GuestShutdown, HostName, HotplugSupport, Instance, RunOutput, StopMode, Target,
};
use crate::activity::Activity;
use crate::health::LxdStatus;
use crate::lxd::{Client, Endpoint, LxdError, TlsIdentity};

/// Environment variable naming a remote LXD to use over HTTPS (`https://host:8443`).
pub const LXD_URL_ENV: &str = "WORKSHOP_LXD_URL";
/// Environment variable choosing where base images come from.
pub const IMAGE_SERVER_ENV: &str = "WORKSHOP_IMAGE_SERVER";

/// Where the backend keeps things in LXD and where base images come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LxdBackendConfig {
    /// Storage pool of every instance (`workshop`).
    pub pool: String,
    /// Bridge every instance is attached to (`workshopbr0`).
    pub network: String,
    /// Where base images come from.
    pub image_server: ImageServer,
}

impl Default for LxdBackendConfig {
    fn default() -> Self {
        Self { pool: "workshop".into(), network: "workshopbr0".into(), image_server: ImageServer::Local }
    }
}

impl LxdBackendConfig {
    /// The defaults, with the image server from `WORKSHOP_IMAGE_SERVER`.
    pub fn from_env() -> Result<Self, LxdSetupError> {
        let spec = std::env::var(IMAGE_SERVER_ENV).unwrap_or_default();
        Ok(Self { image_server: ImageServer::parse(&spec)?, ..Self::default() })
    }
}

/// Why the backend cannot be set up from the environment.
#[derive(Debug, thiserror::Error)]
pub enum LxdSetupError {
    #[error("invalid {IMAGE_SERVER_ENV} {0:?}: expected local, simplestreams:<url> or lxd:<url>")]
    ImageServer(String),
    #[error("cannot read {}: {source} ({LXD_URL_ENV} needs tls/client.crt, tls/client.key and tls/server.crt in the workshop directory)", path.display())]
    TlsFile { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Client(#[from] LxdError),
}

/// The LXD backend. Not `Send`: it lives on one arbiter (inside the backend actor).
pub struct LxdBackend {
    client: Client,
    config: LxdBackendConfig,
    /// The pool's driver once the shared objects are known to exist.
    pool_driver: RefCell<Option<String>>,
    /// Users whose projects are known to exist.
    users: RefCell<HashSet<String>>,
    /// Base image downloads in progress.
    downloads: RefCell<HashMap<String, images::Download>>,
    /// Template preparations in progress, by `<project>/<template>`.
    templates: RefCell<HashMap<String, templates::Preparation>>,
    /// Edits of the workshops' names waiting for their write.
    names: Rc<RefCell<names::NameQueue>>,
    /// The boot locks of the instances starting.
    boots: names::Boots,
    /// Counts the template preparations and the writes of names, which run outside any change.
    activity: Activity,
    /// The workshops' post-stop hooks, once learned from a start (local LXD only).
    post_stop: RefCell<post_stop::Learned>,
}

impl LxdBackend {
    pub fn new(client: Client, config: LxdBackendConfig) -> Self {
        Self {
            client,
            config,
            pool_driver: RefCell::default(),
            users: RefCell::default(),
            downloads: RefCell::default(),
            templates: RefCell::default(),
            names: Rc::default(),
            boots: RefCell::default(),
            activity: Activity::default(),
            post_stop: RefCell::default(),
        }
    }

    /// Counts its background work (template preparations, writes of names) in `activity`.
    pub fn with_activity(mut self, activity: Activity) -> Self {
        self.activity = activity;
        self
    }

    /// A backend for the LXD the environment names: `WORKSHOP_LXD_URL` over HTTPS with the
    /// certificates in `<base_dir>/tls/`, else the local Unix socket.
    pub fn from_env(base_dir: &Path) -> Result<Self, LxdSetupError> {
        let config = LxdBackendConfig::from_env()?;
        let url = std::env::var(LXD_URL_ENV).ok().filter(|url| !url.is_empty());
        let client = Client::new(endpoint(url, base_dir)?)?;
        Ok(Self::new(client, config))
    }
}

/// The endpoint for an optional remote URL.
fn endpoint(url: Option<String>, base_dir: &Path) -> Result<Endpoint, LxdSetupError> {
    let Some(url) = url else { return Ok(Endpoint::local()) };
    let read = |name: &str| {
        let path = base_dir.join("tls").join(name);
        std::fs::read(&path).map_err(|source| LxdSetupError::TlsFile { path, source })
    };
    let identity = TlsIdentity {
        client_cert_pem: read("client.crt")?,
        client_key_pem: read("client.key")?,
        server_cert_pem: read("server.crt")?,
    };
    Ok(Endpoint::Https { url, identity })
}

/// An LXD error in backend terms: unreachable LXD makes the backend unavailable; anything else
/// is `cannot <what>: <LXD's message>`.
fn lxd_error(what: &str, e: LxdError) -> BackendError {
    match e {
        LxdError::Unreachable { .. } => BackendError::Unavailable(e.to_string()),
        e => BackendError::Lxd(format!("cannot {what}: {e}")),
    }
}

/// Like [`lxd_error`], where a missing object means the workshop is not launched.
fn instance_error(target: &Target, what: &str, e: LxdError) -> BackendError {
    if e.is_not_found() { BackendError::NotLaunched(target.name.clone()) } else { lxd_error(what, e) }
}

/// The API extension of LXD's `subsystem` option of `unix-hotplug` devices (LXD 5.0 has
/// neither this nor the next).
const HOTPLUG_SUBSYSTEM: &str = "unix_device_hotplug_subsystem_device_option";
/// The API extension of LXD's `ownership.inherit` option of `unix-hotplug` devices.
const HOTPLUG_OWNERSHIP: &str = "unix_device_hotplug_ownership_inherit";

/// Each operation is the inherent method of the same name (an inherent method is found
/// before a trait's), written in the module of what it works on: one name from the trait to
/// the LXD calls.
#[async_trait::async_trait(?Send)]
impl Backend for LxdBackend {
    async fn check(&self) -> (LxdStatus, Result<(), String>) {
        self.check().await
    }

    async fn ensure_user(&self, user: &str) -> Result<(), BackendError> {
        self.ensure_user(user).await
    }

    async fn resolve_base(&self, base: &str) -> Result<BaseImage, BackendError> {
        self.resolve_base(base).await
    }

    async fn list(&self, user: &str, project_id: Option<&str>) -> Result<Vec<Instance>, BackendError> {
        self.list(user, project_id).await
    }

    async fn get(&self, target: &Target) -> Result<Option<Instance>, BackendError> {
        self.get(target).await
    }

    async fn create(&self, target: &Target, spec: &CreateSpec) -> Result<(), BackendError> {
        self.create(target, spec).await
    }

    async fn delete(&self, target: &Target) -> Result<(), BackendError> {
        self.delete(target).await
    }

    async fn stash(&self, target: &Target, spent: &[String]) -> Result<String, BackendError> {
        self.stash(target, spent).await
    }

    async fn unstash(&self, target: &Target) -> Result<(), BackendError> {
        self.unstash(target).await
    }

    async fn discard_rebuild(&self, target: &Target) -> Result<(), BackendError> {
        self.discard_rebuild(target).await
    }

    async fn delete_stash(&self, target: &Target) -> Result<(), BackendError> {
        self.delete_stash(target).await
    }

    async fn discard_stash(&self, target: &Target, id: &str) -> Result<(), BackendError> {
        self.discard_stash(target, id).await
    }

    async fn keep_machine_id(&self, target: &Target) -> Result<(), BackendError> {
        self.keep_machine_id(target).await
    }

    async fn fork(&self, source: &Target, target: &Target, spec: &ForkSpec) -> Result<(), BackendError> {
        self.fork(source, target, spec).await
    }

    async fn find_snapshot(
        &self,
        user: &str,
        names: &[String],
        mark_used: bool,
    ) -> Result<Option<String>, BackendError> {
        self.find_snapshot(user, names, mark_used).await
    }

    async fn take_snapshot(&self, target: &Target, name: &str) -> Result<(), BackendError> {
        self.take_snapshot(target, name).await
    }

    async fn collect_snapshots(
        &self,
        user: Option<&str>,
        cooldown: std::time::Duration,
    ) -> Result<Vec<String>, BackendError> {
        self.collect_snapshots(user, cooldown).await
    }

    async fn start(&self, target: &Target) -> Result<(), BackendError> {
        self.start(target).await
    }

    async fn wait_ready(&self, target: &Target) -> Result<(), BackendError> {
        self.wait_ready(target).await
    }

    async fn stop(&self, target: &Target, mode: StopMode) -> Result<(), BackendError> {
        self.stop(target, mode).await
    }

    async fn unmark_stopped(&self, target: &Target) -> Result<bool, BackendError> {
        self.unmark_stopped(target).await
    }

    async fn set_device(&self, target: &Target, name: &str, device: &Device) -> Result<(), BackendError> {
        self.set_device(target, name, device).await
    }

    async fn set_device_and_config(
        &self,
        target: &Target,
        name: &str,
        device: &Device,
        changes: &[(String, Option<String>)],
    ) -> Result<(), BackendError> {
        self.set_device_and_config(target, name, device, changes).await
    }

    async fn remove_device(&self, target: &Target, name: &str) -> Result<(), BackendError> {
        self.remove_device(target, name).await
    }

    async fn set_profile(
        &self,
        target: &Target,
        sdk: &str,
        devices: &BTreeMap<String, Device>,
    ) -> Result<(), BackendError> {
        self.set_profile(target, sdk, devices).await
    }

    async fn drop_profiles(&self, target: &Target, sdks: &[String]) -> Result<(), BackendError> {
        self.drop_profiles(target, sdks).await
    }

    async fn gpus(&self) -> Result<Vec<crate::lxd::GpuCard>, BackendError> {
        self.client.gpus().await.map_err(|e| lxd_error("list the host's GPUs", e))
    }

    async fn hotplug_support(&self) -> Result<HotplugSupport, BackendError> {
        let has = |name: &'static str| async move {
            self.client.has_extension(name).await.map_err(|e| lxd_error("read the server's extensions", e))
        };
        Ok(HotplugSupport {
            subsystem: has(HOTPLUG_SUBSYSTEM).await?,
            ownership_inherit: has(HOTPLUG_OWNERSHIP).await?,
        })
    }

    async fn set_config(
        &self,
        target: &Target,
        changes: &[(String, Option<String>)],
    ) -> Result<(), BackendError> {
        self.set_config(target, changes).await
    }

    async fn run(&self, target: &Target, spec: &ExecSpec) -> Result<RunOutput, BackendError> {
        self.run(target, spec).await
    }

    async fn exec(&self, target: &Target, spec: &ExecSpec) -> Result<ExecSession, BackendError> {
        self.exec(target, spec).await
    }

    async fn push_file(&self, target: &Target, file: &GuestFile) -> Result<(), BackendError> {
        self.push_file(target, file).await
    }

    async fn publish_names(&self, target: &Target, project_name: &str) -> Result<HostName, BackendError> {
        self.publish_names(target, project_name).await
    }

    async fn withdraw_names(&self, target: &Target) -> Result<(), BackendError> {
        self.withdraw_names(target).await
    }

    async fn host_names(&self, user: &str) -> Result<BTreeMap<Target, HostName>, BackendError> {
        self.host_names(user).await
    }

    async fn diagnose(
        &self,
        host: &crate::doctor::HostQuery,
    ) -> Result<Vec<workshop_api::doctor::Check>, BackendError> {
        Ok(LxdBackend::diagnose(self, host).await)
    }

    async fn pool_use(&self, user: &str) -> Result<crate::backend::PoolUse, BackendError> {
        LxdBackend::pool_use(self, user).await
    }

    async fn remove_template(&self, user: &str, name: &str) -> Result<(), BackendError> {
        LxdBackend::remove_template(self, user, name).await
    }

    fn watch_shutdowns(&self) -> Option<futures_util::stream::LocalBoxStream<'static, GuestShutdown>> {
        Some(LxdBackend::watch_shutdowns(self))
    }

    fn local_bridge(&self) -> Option<String> {
        matches!(self.client.endpoint(), crate::lxd::Endpoint::Unix(_)).then(|| self.config.network.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_endpoint_without_url() {
        let endpoint = endpoint(None, Path::new("/nonexistent")).unwrap();
        assert!(matches!(endpoint, Endpoint::Unix(_)));
    }

    #[test]
    fn remote_endpoint_reads_tls_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = endpoint(Some("https://127.0.0.1:8443".into()), dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("cannot read {}/tls/client.crt: ", dir.path().display())),
            "{text}"
        );
        assert!(text.contains("WORKSHOP_LXD_URL needs tls/client.crt"), "{text}");

        std::fs::create_dir(dir.path().join("tls")).unwrap();
        for name in ["client.crt", "client.key", "server.crt"] {
            std::fs::write(dir.path().join("tls").join(name), name).unwrap();
        }
        match endpoint(Some("https://127.0.0.1:8443".into()), dir.path()).unwrap() {
            Endpoint::Https { url, identity } => {
                assert_eq!(url, "https://127.0.0.1:8443");
                assert_eq!(identity.client_key_pem, b"client.key");
                assert_eq!(identity.server_cert_pem, b"server.crt");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_in_backend_terms() {
        let target = Target::new("alice", "p1", "dev");
        let missing =
            instance_error(&target, "start workshop", LxdError::from_status(404, "Instance not found"));
        assert_eq!(missing.to_string(), "workshop \"dev\" is not launched");
        let other = lxd_error("start workshop", LxdError::from_status(400, "Invalid config"));
        assert_eq!(other.to_string(), "cannot start workshop: Invalid config");
        let down = LxdError::Unreachable { socket: "/x".into(), reason: crate::lxd::Unreachable::Refused };
        assert!(matches!(lxd_error("list", down), BackendError::Unavailable(_)));
    }
}
