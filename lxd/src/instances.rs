//! Instances (`/1.0/instances`): list, get, create (from an image, a copy, or nothing),
//! update with ETags, state changes, rename, delete, and the `lxc.log` console log.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{Client, Req, api_path};
use super::error::{LxdError, Result};
use super::profiles::Devices;
use super::serde_util::null_default;

/// How many lines of `lxc.log` a failed start reports.
const LOG_TAIL_LINES: usize = 20;

/// An instance.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Instance {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// "Running", "Stopped", ...
    #[serde(default)]
    pub status: String,
    /// Numeric status (103 running, 102 stopped).
    #[serde(default)]
    pub status_code: u16,
    /// "container" or "virtual-machine".
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Architecture.
    #[serde(default)]
    pub architecture: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Local configuration.
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
    /// Local devices.
    #[serde(default, deserialize_with = "null_default")]
    pub devices: Devices,
    /// Configuration with profiles applied.
    #[serde(default, deserialize_with = "null_default")]
    pub expanded_config: BTreeMap<String, String>,
    /// Devices with profiles applied.
    #[serde(default, deserialize_with = "null_default")]
    pub expanded_devices: Devices,
    /// Profiles, in order.
    #[serde(default, deserialize_with = "null_default")]
    pub profiles: Vec<String>,
    /// Deleted when stopped.
    #[serde(default)]
    pub ephemeral: bool,
    /// Has stateful data.
    #[serde(default)]
    pub stateful: bool,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub created_at: String,
    /// Last start (RFC 3339).
    #[serde(default)]
    pub last_used_at: String,
    /// Cluster member.
    #[serde(default)]
    pub location: String,
    /// Project (newer servers).
    #[serde(default)]
    pub project: String,
}

impl Instance {
    /// Whether it runs.
    pub fn is_running(&self) -> bool {
        self.status_code == 103 || self.status == "Running"
    }

    /// The writable part, to modify and send back with [`Client::update_instance`].
    pub fn writable(&self) -> InstancePut {
        InstancePut {
            architecture: self.architecture.clone(),
            config: self.config.clone(),
            devices: self.devices.clone(),
            ephemeral: self.ephemeral,
            profiles: self.profiles.clone(),
            stateful: self.stateful,
            description: self.description.clone(),
        }
    }
}

/// The writable part of an instance.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct InstancePut {
    /// Architecture.
    pub architecture: String,
    /// Local configuration.
    pub config: BTreeMap<String, String>,
    /// Local devices.
    pub devices: Devices,
    /// Deleted when stopped.
    pub ephemeral: bool,
    /// Profiles, in order.
    pub profiles: Vec<String>,
    /// Has stateful data.
    pub stateful: bool,
    /// Description.
    pub description: String,
}

/// Where a new instance's root filesystem comes from.
#[derive(Debug, Clone)]
pub enum InstanceSource {
    /// A local image by alias.
    ImageAlias(String),
    /// A local image by fingerprint.
    ImageFingerprint(String),
    /// A copy of another instance or snapshot (`name` or `name/snapshot`), possibly from
    /// another project (extension `container_copy_project`).
    Copy {
        /// Source instance (or `instance/snapshot`).
        source: String,
        /// Source project (None: the target's project).
        project: Option<String>,
        /// Leave the snapshots behind.
        instance_only: bool,
        /// Update an existing target instead of creating one.
        refresh: bool,
    },
    /// An empty instance.
    None,
}

impl InstanceSource {
    fn to_json(&self) -> Value {
        match self {
            Self::ImageAlias(alias) => json!({ "type": "image", "alias": alias }),
            Self::ImageFingerprint(fingerprint) => json!({ "type": "image", "fingerprint": fingerprint }),
            Self::Copy { source, project, instance_only, refresh } => {
                let mut src = json!({ "type": "copy", "source": source, "instance_only": instance_only });
                if let Some(project) = project {
                    src["project"] = json!(project);
                }
                if *refresh {
                    src["refresh"] = json!(true);
                }
                src
            }
            Self::None => json!({ "type": "none" }),
        }
    }
}

/// A new instance.
#[derive(Debug, Clone)]
pub struct InstanceCreate {
    /// Name.
    pub name: String,
    /// "container" (default) or "virtual-machine".
    pub kind: String,
    /// Root filesystem source.
    pub source: InstanceSource,
    /// Local configuration.
    pub config: BTreeMap<String, String>,
    /// Local devices.
    pub devices: Devices,
    /// Profiles (None: LXD's default, which is `["default"]`).
    pub profiles: Option<Vec<String>>,
    /// Deleted when stopped.
    pub ephemeral: bool,
    /// Description.
    pub description: String,
}

impl InstanceCreate {
    /// A container named `name` from `source`, no extra config.
    pub fn new(name: impl Into<String>, source: InstanceSource) -> Self {
        Self {
            name: name.into(),
            kind: "container".into(),
            source,
            config: BTreeMap::new(),
            devices: Devices::new(),
            profiles: None,
            ephemeral: false,
            description: String::new(),
        }
    }

    fn to_json(&self) -> Value {
        let mut body = json!({
            "name": self.name,
            "type": self.kind,
            "source": self.source.to_json(),
            "config": self.config,
            "devices": self.devices,
            "ephemeral": self.ephemeral,
            "description": self.description,
        });
        if let Some(profiles) = &self.profiles {
            body["profiles"] = json!(profiles);
        }
        body
    }
}

/// Runtime state (`/state`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InstanceState {
    /// "Running", "Stopped", ...
    #[serde(default)]
    pub status: String,
    /// Numeric status.
    #[serde(default)]
    pub status_code: u16,
    /// PID of init on the host (0 when stopped).
    #[serde(default)]
    pub pid: i64,
    /// Number of processes (-1 when unknown).
    #[serde(default)]
    pub processes: i64,
    /// Network interfaces by name.
    #[serde(default, deserialize_with = "null_default")]
    pub network: BTreeMap<String, NetworkState>,
    /// Disks by device name (`root`), where the storage driver counts their use.
    #[serde(default, deserialize_with = "null_default")]
    pub disk: BTreeMap<String, DiskState>,
}

/// One disk of [`InstanceState`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DiskState {
    /// Bytes used.
    #[serde(default)]
    pub usage: u64,
}

/// One interface of [`InstanceState`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NetworkState {
    /// Addresses.
    #[serde(default, deserialize_with = "null_default")]
    pub addresses: Vec<NetworkAddress>,
    /// MAC address.
    #[serde(default)]
    pub hwaddr: String,
    /// Host-side interface name.
    #[serde(default)]
    pub host_name: String,
    /// "up" or "down".
    #[serde(default)]
    pub state: String,
}

/// One address of [`NetworkState`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NetworkAddress {
    /// "inet" or "inet6".
    #[serde(default)]
    pub family: String,
    /// The address.
    #[serde(default)]
    pub address: String,
    /// Prefix length.
    #[serde(default)]
    pub netmask: String,
    /// "global", "link", "local".
    #[serde(default)]
    pub scope: String,
}

/// State change action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateAction {
    /// Start.
    Start,
    /// Stop (clean shutdown unless forced).
    Stop,
    /// Restart.
    Restart,
    /// Freeze.
    Freeze,
    /// Unfreeze.
    Unfreeze,
}

impl StateAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Restart => "restart",
            Self::Freeze => "freeze",
            Self::Unfreeze => "unfreeze",
        }
    }
}

/// The project and name of `/1.0/instances/<name>[?project=<project>]` (no project: `default`).
fn instance_of_url(url: &str) -> Option<(String, String)> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let name = percent_decode(path.strip_prefix("/1.0/instances/")?)?;
    let project = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("project="))
        .map_or(Some("default".to_string()), percent_decode)?;
    (!name.is_empty() && !name.contains('/')).then_some((project, name))
}

/// Decodes `%XX` escapes; None for a malformed escape or a result that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

fn instance_path(name: &str) -> String {
    api_path(&["instances", name])
}

/// Seconds for LXD's `timeout` field: -1 means no limit.
fn timeout_secs(timeout: Option<Duration>) -> i64 {
    timeout.map_or(-1, |t| t.as_secs().max(1) as i64)
}

impl Client {
    /// Instances of the project, optionally filtered (LXD filter syntax, e.g.
    /// `config.user.workshop.project-id eq abc`; extension `api_filtering`).
    pub async fn list_instances(&self, filter: Option<&str>) -> Result<Vec<Instance>> {
        let mut req = Req::get(api_path(&["instances"])).query("recursion", "1");
        if let Some(filter) = filter {
            self.require_extension("api_filtering", "filtering instances").await?;
            req = req.query("filter", filter);
        }
        self.sync(req).await
    }

    /// Every instance of every project, as (project, name) pairs (extension
    /// `instance_all_projects`).
    pub async fn list_all_instance_names(&self) -> Result<Vec<(String, String)>> {
        self.require_extension("instance_all_projects", "listing the instances of every project").await?;
        let req = Req::get(api_path(&["instances"])).query("all-projects", "true").unscoped();
        let urls: Vec<String> = self.sync(req).await?;
        Ok(urls.iter().filter_map(|url| instance_of_url(url)).collect())
    }

    /// One instance and its ETag.
    pub async fn get_instance(&self, name: &str) -> Result<(Instance, String)> {
        self.sync_etag(Req::get(instance_path(name))).await
    }

    /// Creates an instance (stopped) and waits for it to exist.
    pub async fn create_instance(&self, create: &InstanceCreate) -> Result<()> {
        let req = Req::post(api_path(&["instances"])).json(&create.to_json())?;
        self.run(req).await.map(drop)
    }

    /// Replaces the writable part, guarded by `etag` when not empty
    /// (a stale ETag gives [`LxdError::PreconditionFailed`]).
    pub async fn update_instance(&self, name: &str, put: &InstancePut, etag: &str) -> Result<()> {
        let req = Req::put(instance_path(name)).if_match(etag).json(put)?;
        self.run(req).await.map(drop)
    }

    /// Merges fields into the instance (`PATCH`), e.g. `{"config": {"k": "v"}}`.
    pub async fn patch_instance(&self, name: &str, patch: &Value, etag: &str) -> Result<()> {
        let req = Req::patch(instance_path(name)).if_match(etag).json(patch)?;
        self.run(req).await.map(drop)
    }

    /// Renames a (stopped) instance.
    pub async fn rename_instance(&self, name: &str, new_name: &str) -> Result<()> {
        let req = Req::post(instance_path(name)).json(&json!({ "name": new_name }))?;
        self.run(req).await.map(drop)
    }

    /// Deletes an instance; with `force`, a running one is stopped first.
    pub async fn delete_instance(&self, name: &str, force: bool) -> Result<()> {
        if force {
            let state = self.instance_state(name).await?;
            if state.status_code != 102 && state.status != "Stopped" {
                self.change_state(name, StateAction::Stop, None, true).await?;
            }
        }
        self.run(Req::delete(instance_path(name))).await.map(drop)
    }

    /// Runtime state.
    pub async fn instance_state(&self, name: &str) -> Result<InstanceState> {
        self.sync(Req::get(format!("{}/state", instance_path(name)))).await
    }

    /// Changes the state and waits. `timeout` bounds a clean stop/restart (None: no limit).
    pub async fn change_state(
        &self,
        name: &str,
        action: StateAction,
        timeout: Option<Duration>,
        force: bool,
    ) -> Result<()> {
        let body = json!({ "action": action.as_str(), "timeout": timeout_secs(timeout), "force": force, "stateful": false });
        let req = Req::put(format!("{}/state", instance_path(name))).json(&body)?;
        self.run(req).await.map(drop)
    }

    /// Starts an instance. On failure the error carries the tail of its `lxc.log`.
    pub async fn start_instance(&self, name: &str) -> Result<()> {
        match self.change_state(name, StateAction::Start, None, false).await {
            Ok(()) => Ok(()),
            Err(LxdError::OperationFailed { message } | LxdError::Api { message, .. }) => {
                let log_tail = match self.instance_log(name, "lxc.log").await {
                    Ok(log) => log_tail(&log, LOG_TAIL_LINES),
                    Err(e) => format!("(cannot read lxc.log: {e})"),
                };
                Err(LxdError::StartFailed { instance: name.to_owned(), message, log_tail })
            }
            Err(e) => Err(e),
        }
    }

    /// Stops an instance: cleanly within `timeout` (None: no limit), or at once with `force`.
    pub async fn stop_instance(&self, name: &str, timeout: Option<Duration>, force: bool) -> Result<()> {
        self.change_state(name, StateAction::Stop, timeout, force).await
    }

    /// Restarts an instance.
    pub async fn restart_instance(&self, name: &str, timeout: Option<Duration>, force: bool) -> Result<()> {
        self.change_state(name, StateAction::Restart, timeout, force).await
    }

    /// A log file of the instance (`lxc.log`, `console.log`, ...).
    pub async fn instance_log(&self, name: &str, file: &str) -> Result<String> {
        let path = api_path(&["instances", name, "logs", file]);
        let raw = self.send_raw(Req::get(path)).await?.error_for_status()?;
        Ok(String::from_utf8_lossy(&raw.body).into_owned())
    }
}

/// The last `lines` non-empty lines of a log.
pub(crate) fn log_tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_urls_of_every_project() {
        assert_eq!(
            instance_of_url("/1.0/instances/dev-0123abcd?project=workshop.alice"),
            Some(("workshop.alice".into(), "dev-0123abcd".into()))
        );
        assert_eq!(instance_of_url("/1.0/instances/c1"), Some(("default".into(), "c1".into())));
        assert_eq!(instance_of_url("/1.0/instances/c%31?project=a%2Db"), Some(("a-b".into(), "c1".into())));
        assert_eq!(instance_of_url("/1.0/images/c1"), None);
        assert_eq!(instance_of_url("/1.0/instances/c%3"), None);
        assert_eq!(instance_of_url("/1.0/instances/"), None);
    }

    #[test]
    fn tail_keeps_last_lines() {
        let log: String = (1..=30).map(|i| format!("line {i}\n\n")).collect();
        let tail = log_tail(&log, 20);
        assert_eq!(tail.lines().count(), 20);
        assert!(tail.starts_with("line 11\n") && tail.ends_with("line 30"));
        assert_eq!(log_tail("a\nb", 20), "a\nb");
    }

    #[test]
    fn create_body() {
        let mut create = InstanceCreate::new("c1", InstanceSource::ImageAlias("debian@12".into()));
        create.config.insert("security.nesting".into(), "true".into());
        let body = create.to_json();
        assert_eq!(body["source"], json!({"type": "image", "alias": "debian@12"}));
        assert_eq!(body["type"], "container");
        assert!(body.get("profiles").is_none());

        let copy = InstanceSource::Copy {
            source: "a/snap0".into(),
            project: Some("p".into()),
            instance_only: true,
            refresh: false,
        };
        assert_eq!(
            copy.to_json(),
            json!({"type": "copy", "source": "a/snap0", "project": "p", "instance_only": true})
        );
        assert_eq!(InstanceSource::None.to_json(), json!({"type": "none"}));
    }

    #[test]
    fn timeouts() {
        assert_eq!(timeout_secs(None), -1);
        assert_eq!(timeout_secs(Some(Duration::from_secs(60))), 60);
        assert_eq!(timeout_secs(Some(Duration::from_millis(10))), 1);
    }

    #[test]
    fn instance_round_trip() {
        let instance: Instance = serde_json::from_str(
            r#"{"name":"x","status":"Running","status_code":103,"type":"container","config":{"a":"b"},
            "devices":{"root":{"type":"disk","path":"/","pool":"workshop"}},"profiles":null,"new_field":1}"#,
        )
        .unwrap();
        assert!(instance.is_running());
        let put = instance.writable();
        assert_eq!(put.devices["root"]["pool"], "workshop");
        assert!(put.profiles.is_empty());
    }
}
