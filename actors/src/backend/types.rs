//! Domain types of the backend seam.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::BackendError;

/// A workshop of a user's project: `name` in project `project_id`, owned by `user`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub user: String,
    pub project_id: String,
    pub name: String,
}

impl Target {
    pub fn new(user: &str, project_id: &str, name: &str) -> Self {
        Self { user: user.into(), project_id: project_id.into(), name: name.into() }
    }

    /// The instance name: `<workshop>-<project id>`.
    pub fn instance_name(&self) -> String {
        format!("{}-{}", self.name, self.project_id)
    }

    /// The name of the instance set aside while the workshop is rebuilt: `stash--<instance>`.
    /// A workshop name has no double hyphen, so no workshop's instance has this name.
    pub fn stash_name(&self) -> String {
        format!("stash--{}", self.instance_name())
    }

    /// The name of the instance a rebuild makes beside the workshop's, put in its place by
    /// [`super::Backend::stash`]: `next--<instance>`.
    pub fn next_name(&self) -> String {
        format!("next--{}", self.instance_name())
    }

    /// The stash's and the rebuilt instance's names of versions before 2026-12
    /// (`stash-<instance>`, `next-<instance>`), which are also the instance names of the
    /// workshops `stash-<workshop>` and `next-<workshop>`: an instance of such a name is
    /// the workshop's only when it records being it.
    pub fn older_names(&self) -> [String; 2] {
        let instance = self.instance_name();
        [format!("stash-{instance}"), format!("next-{instance}")]
    }
}

/// A resolved base image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BaseImage {
    pub name: String,
    pub fingerprint: String,
}

/// A device: LXD-style string properties (`type`, `source`, `path`, ...).
pub type Device = BTreeMap<String, String>;

/// What a new instance looks like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSpec {
    /// Image fingerprint to create from.
    pub image: String,
    /// Host user id and group id mapped to the guest's 1000.
    pub host_uid: u32,
    pub host_gid: u32,
    /// Extra config keys (`user.workshop.*`).
    pub config: BTreeMap<String, String>,
    /// Devices besides the root disk and the network.
    pub devices: BTreeMap<String, Device>,
    /// The guest set-up: a root shell script, idempotent, that never exits early when it
    /// succeeds. The backend may run it once, with no init system running, in an instance it
    /// copies new workshops from (so that their starts find it done); it is not a substitute
    /// for running it after a start.
    pub setup: String,
    /// A layer snapshot of the user's ([`Backend::find_snapshot`]) to copy the instance from,
    /// in place of the template or image; its layers' set-up is in it, so no other source
    /// will do.
    pub snapshot: Option<String>,
    /// Made as the rebuilt instance of a refresh or restore ([`Target::next_name`]), while
    /// the workshop's own instance is still there (being stopped); [`super::Backend::stash`]
    /// puts it in the workshop's place.
    pub rebuild: bool,
}

/// What a fork changes in its copy of a workshop ([`super::Backend::fork`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForkSpec {
    /// Config keys set (an empty value drops the key).
    pub config: BTreeMap<String, String>,
    /// Devices in place of the source's devices of the same names.
    pub devices: BTreeMap<String, Device>,
}

/// Prefix of the instance config keys (`user.workshop.snapshot-<order>`) naming the layer
/// snapshots an instance was built through: a snapshot some instance names is kept.
pub const SNAPSHOT_REF_PREFIX: &str = "user.workshop.snapshot-";

/// A workshop whose guest went down by itself, left stopped by the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestShutdown {
    pub target: Target,
    /// It rebooted (else it powered off).
    pub reboot: bool,
}

/// A launched workshop as the backend sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub target: Target,
    pub running: bool,
    /// The workshop is meant to be running: started by the daemon and not stopped since
    /// (LXD's `boot.autostart`).
    pub autostart: bool,
    pub config: BTreeMap<String, String>,
    pub devices: BTreeMap<String, Device>,
}

impl Instance {
    /// A `user.workshop.<key>` config value.
    pub fn workshop_config(&self, key: &str) -> Option<&str> {
        self.config.get(&format!("user.workshop.{key}")).map(String::as_str)
    }

    /// The host uid and gid the guest's root is mapped to, from the runtime's record of the
    /// instance's id mapping (LXD's `volatile.idmap.current`, else `.next` for one never
    /// started); `None` without one (a privileged or fake instance).
    pub fn guest_root_ids(&self) -> Option<(u32, u32)> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Range {
            isuid: bool,
            isgid: bool,
            hostid: u64,
            nsid: u64,
            maprange: u64,
        }
        let text = ["volatile.idmap.current", "volatile.idmap.next"]
            .iter()
            .find_map(|k| self.config.get(*k).filter(|v| !v.is_empty() && v.as_str() != "[]"))?;
        let ranges: Vec<Range> = serde_json::from_str(text).ok()?;
        let root = |uid: bool| {
            ranges
                .iter()
                .find(|r| (if uid { r.isuid } else { r.isgid }) && r.nsid == 0 && r.maprange > 0)
                .and_then(|r| u32::try_from(r.hostid).ok())
        };
        Some((root(true)?, root(false)?))
    }
}

/// A command to run inside a workshop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSpec {
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub uid: u32,
    pub gid: u32,
    /// Allocate a pseudo-terminal (stdout and stderr arrive merged on `stdout`).
    pub interactive: bool,
    pub width: u16,
    pub height: u16,
    /// Standard input for [`Backend::run`].
    pub stdin: Vec<u8>,
    /// Bounds of [`Backend::run`].
    pub limits: RunLimits,
}

/// How [`Backend::stop`] stops a workshop's instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// A clean shutdown (as long as the guest takes, within a bound); no longer marked to run.
    Clean,
    /// Killed at once, no longer marked to run (a start that failed).
    Kill,
    /// Killed at once, its mark to run left as it is: it is about to be deleted, or set aside
    /// as a stash while its rebuild takes its place. The daemon never starts a stash, and
    /// one put back in place is started again by the undo of its stop.
    Discard,
}

/// What a command run for the daemon ([`Backend::run`]) may cost: the guest decides what
/// the command prints and how long it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Bytes kept of each output stream; the rest is read and dropped
    /// ([`RunOutput::truncated`]).
    pub output: usize,
    /// How long the command may run; then it is killed and the run fails.
    pub timeout: Duration,
}

impl RunLimits {
    /// Output kept per stream by default.
    pub const OUTPUT: usize = 1 << 20;
    /// Run time allowed by default.
    pub const TIMEOUT: Duration = Duration::from_secs(120);
    /// A quick look inside a workshop (reading a file the daemon needs at once).
    pub const QUICK: Self = Self { output: Self::OUTPUT, timeout: Duration::from_secs(10) };

    /// The default output bound with another time limit.
    pub fn within(timeout: Duration) -> Self {
        Self { timeout, ..Self::default() }
    }
}

impl Default for RunLimits {
    fn default() -> Self {
        Self { output: Self::OUTPUT, timeout: Self::TIMEOUT }
    }
}

/// The collected result of [`Backend::run`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// A stream printed more than [`RunLimits::output`]: what is here is its beginning.
    pub truncated: bool,
}

impl RunOutput {
    /// Both streams as text, for error messages.
    pub fn combined(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.stdout).into_owned();
        s.push_str(&String::from_utf8_lossy(&self.stderr));
        let mut s = s.trim().to_string();
        if self.truncated {
            s.push_str(" [output truncated]");
        }
        s
    }
}

/// A control message for a running command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionControl {
    Resize { width: u16, height: u16 },
    Signal(i32),
}

/// Control messages queued for a running command before their sender is slowed down.
pub const CONTROL_BUFFER: usize = 8;

/// A running command. Dropping `stdin` closes the command's standard input. The channels are
/// `Send`, so the API front can pump them from its own threads, and bounded, so a client
/// faster than the command waits instead of filling the daemon's memory.
pub struct ExecSession {
    pub stdin: mpsc::Sender<Bytes>,
    /// Standard output (with a pty: everything).
    pub stdout: mpsc::Receiver<Bytes>,
    /// Standard error (none with a pty).
    pub stderr: Option<mpsc::Receiver<Bytes>>,
    /// Signals and window sizes, at most [`CONTROL_BUFFER`] waiting.
    pub control: mpsc::Sender<SessionControl>,
    /// The exit code once the command has ended.
    pub exit: oneshot::Receiver<Result<i32, BackendError>>,
}

impl std::fmt::Debug for ExecSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecSession").finish_non_exhaustive()
    }
}

/// A file to write inside a workshop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFile {
    pub path: String,
    pub content: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// How much of the storage pool is used, and by which of a user's instances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolUse {
    pub name: String,
    pub driver: String,
    pub used: u64,
    pub total: u64,
    pub instances: Vec<InstanceUse>,
    /// The user's layer snapshots.
    pub snapshots: Vec<SnapshotUse>,
}

/// One layer snapshot of a user on the pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotUse {
    pub name: String,
    /// Bytes, when the storage driver counts them per instance.
    pub size: Option<u64>,
    /// Some instance of the user (a workshop, a stash) was made through it.
    pub in_use: bool,
}

/// One instance of a user on the pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceUse {
    /// The LXD instance name (`<ws>-<project id>`, or `tpl-…` for a template).
    pub name: String,
    pub template: bool,
    /// Bytes, when the storage driver counts them per instance.
    pub size: Option<u64>,
}

/// What the container runtime's hotplugged unix devices (camera, custom-device) can match
/// on besides vendor and product ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HotplugSupport {
    /// Devices of a kernel subsystem (`subsystem`).
    pub subsystem: bool,
    /// The device keeps its host owner and group (`ownership.inherit`).
    pub ownership_inherit: bool,
}

impl HotplugSupport {
    /// Everything (newer LXD).
    pub const FULL: HotplugSupport = HotplugSupport { subsystem: true, ownership_inherit: true };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(config: &[(&str, &str)]) -> Instance {
        Instance {
            target: Target::new("u", "p", "ws"),
            running: false,
            autostart: false,
            config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            devices: BTreeMap::new(),
        }
    }

    #[test]
    fn the_guest_root_is_where_the_id_map_puts_id_zero() {
        let map = r#"[{"Isuid":true,"Isgid":false,"Hostid":100000,"Nsid":0,"Maprange":1000},
            {"Isuid":true,"Isgid":false,"Hostid":1100,"Nsid":1000,"Maprange":1},
            {"Isuid":false,"Isgid":true,"Hostid":1100,"Nsid":1000,"Maprange":1},
            {"Isuid":false,"Isgid":true,"Hostid":200000,"Nsid":0,"Maprange":1000}]"#;
        assert_eq!(instance(&[("volatile.idmap.current", map)]).guest_root_ids(), Some((100000, 200000)));
        // A never-started one has only the next map; the current one wins when both are there.
        assert_eq!(instance(&[("volatile.idmap.next", map)]).guest_root_ids(), Some((100000, 200000)));
        let other = map.replace("100000", "300000");
        assert_eq!(
            instance(&[("volatile.idmap.current", &other), ("volatile.idmap.next", map)]).guest_root_ids(),
            Some((300000, 200000))
        );
        // None: no map (privileged, fake), an empty or broken one, or none for id 0.
        for config in [vec![], vec![("volatile.idmap.current", "[]")], vec![("volatile.idmap.current", "{")]]
        {
            assert_eq!(instance(&config).guest_root_ids(), None);
        }
        let no_root = r#"[{"Isuid":true,"Isgid":true,"Hostid":1100,"Nsid":1000,"Maprange":1}]"#;
        assert_eq!(instance(&[("volatile.idmap.current", no_root)]).guest_root_ids(), None);
    }
}
