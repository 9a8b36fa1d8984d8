//! `GET /1.0`: what the server is (version, API extensions, auth, storage drivers, kernel) and
//! its configuration.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{Client, Req, api_path};
use super::error::Result;
use super::serde_util::null_default;

/// The server description. Fields missing on older servers (or for untrusted clients) are empty.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServerInfo {
    /// API extensions the server supports.
    #[serde(default, deserialize_with = "null_default")]
    pub api_extensions: Vec<String>,
    /// `stable` or `development`.
    #[serde(default)]
    pub api_status: String,
    /// Always "1.0".
    #[serde(default)]
    pub api_version: String,
    /// `trusted` or `untrusted` (as seen by this client).
    #[serde(default)]
    pub auth: String,
    /// Supported authentication methods.
    #[serde(default, deserialize_with = "null_default")]
    pub auth_methods: Vec<String>,
    /// Whether the server is public.
    #[serde(default)]
    pub public: bool,
    /// Server configuration (`core.https_address`, ...); values are usually strings.
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, Value>,
    /// Host environment.
    #[serde(default)]
    pub environment: ServerEnvironment,
}

/// `environment` of [`ServerInfo`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServerEnvironment {
    /// LXD version, e.g. "5.0.2".
    #[serde(default)]
    pub server_version: String,
    /// Server (host) name.
    #[serde(default)]
    pub server_name: String,
    /// Kernel name ("Linux").
    #[serde(default)]
    pub kernel: String,
    /// Kernel release, e.g. "6.1.0-13-amd64".
    #[serde(default)]
    pub kernel_version: String,
    /// Kernel architecture.
    #[serde(default)]
    pub kernel_architecture: String,
    /// Instance drivers in use, e.g. "lxc | qemu".
    #[serde(default)]
    pub driver: String,
    /// Storage drivers in use, e.g. "btrfs | dir".
    #[serde(default)]
    pub storage: String,
    /// Versions of the storage drivers in use.
    #[serde(default)]
    pub storage_version: String,
    /// Storage drivers the server supports (extension `server_supported_storage_drivers`).
    #[serde(default, deserialize_with = "null_default")]
    pub storage_supported_drivers: Vec<StorageDriverInfo>,
    /// Supported architectures.
    #[serde(default, deserialize_with = "null_default")]
    pub architectures: Vec<String>,
    /// Project the request was answered for.
    #[serde(default)]
    pub project: String,
    /// Whether the server is part of a cluster.
    #[serde(default)]
    pub server_clustered: bool,
    /// Firewall driver ("nftables", "xtables").
    #[serde(default)]
    pub firewall: String,
    /// The server's TLS certificate (PEM), to pin for HTTPS.
    #[serde(default)]
    pub certificate: String,
    /// SHA-256 fingerprint of that certificate.
    #[serde(default)]
    pub certificate_fingerprint: String,
}

/// One supported storage driver.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StorageDriverInfo {
    /// Driver name ("btrfs", "zfs", "dir", ...).
    #[serde(default, alias = "Name")]
    pub name: String,
    /// Driver version.
    #[serde(default, alias = "Version")]
    pub version: String,
    /// Whether it is a remote (shared) driver.
    #[serde(default, alias = "Remote")]
    pub remote: bool,
}

impl ServerInfo {
    /// Whether the server has an API extension.
    pub fn has_extension(&self, name: &str) -> bool {
        self.api_extensions.iter().any(|e| e == name)
    }

    /// Whether this client is trusted.
    pub fn is_trusted(&self) -> bool {
        self.auth == "trusted"
    }

    /// Parsed server version (None when absent or unparsable).
    pub fn version(&self) -> Option<ServerVersion> {
        ServerVersion::parse(&self.environment.server_version)
    }

    /// Storage drivers the server can use: the supported list when the server reports one,
    /// else the drivers currently in use.
    pub fn storage_drivers(&self) -> Vec<String> {
        if !self.environment.storage_supported_drivers.is_empty() {
            return self.environment.storage_supported_drivers.iter().map(|d| d.name.clone()).collect();
        }
        self.environment
            .storage
            .split(['|', ','])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// An `X.Y` or `X.Y.Z` server version, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch (0 when absent).
    pub patch: u32,
}

impl ServerVersion {
    /// Parses "6.8", "5.0.2" (and tolerates a suffix like "5.21.1-abc" on the last part).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().splitn(3, '.');
        let number = |part: Option<&str>| -> Option<u32> {
            let digits: String = part?.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        let patch = match parts.next() {
            Some(p) => number(Some(p))?,
            None => 0,
        };
        Some(Self { major, minor, patch })
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[derive(Serialize)]
struct ServerPut<'a> {
    config: &'a BTreeMap<String, Value>,
}

/// A GPU of the host (`GET /1.0/resources`, `gpu.cards[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GpuCard {
    /// PCI vendor id, e.g. `10de` (NVIDIA), `1002` (AMD), `8086` (Intel).
    #[serde(default)]
    pub vendor_id: String,
    /// Its DRM device, when it has one (none for a GPU without a kernel driver bound).
    #[serde(default)]
    pub drm: Option<GpuDrm>,
}

/// A GPU's DRM device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GpuDrm {
    /// The card's DRM number (`/dev/dri/card<id>`).
    #[serde(default)]
    pub id: u64,
}

#[derive(Deserialize)]
struct Resources {
    #[serde(default)]
    gpu: GpuResources,
}

#[derive(Default, Deserialize)]
struct GpuResources {
    #[serde(default, deserialize_with = "null_default")]
    cards: Vec<GpuCard>,
}

impl Client {
    /// The host's GPUs.
    pub async fn gpus(&self) -> Result<Vec<GpuCard>> {
        let resources: Resources = self.sync(Req::get(api_path(&["resources"]))).await?;
        Ok(resources.gpu.cards)
    }

    /// Probes the server (`GET /1.0`) and caches the answer for [`Client::has_extension`].
    pub async fn server(&self) -> Result<Rc<ServerInfo>> {
        Ok(self.server_etag().await?.0)
    }

    /// Like [`Client::server`], with the ETag for [`Client::update_server_config`].
    pub async fn server_etag(&self) -> Result<(Rc<ServerInfo>, String)> {
        let (info, etag) = self.sync_etag::<ServerInfo>(Req::get(api_path(&[]))).await?;
        let info = Rc::new(info);
        self.cache_server(info.clone());
        Ok((info, etag))
    }

    /// Whether the server has an API extension (probes once, then uses the cached answer).
    pub async fn has_extension(&self, name: &str) -> Result<bool> {
        let info = match self.cached_server() {
            Some(info) => info,
            None => self.server().await?,
        };
        Ok(info.has_extension(name))
    }

    /// Replaces the server configuration (`PUT /1.0`), guarded by `etag` when not empty.
    pub async fn update_server_config(&self, config: &BTreeMap<String, Value>, etag: &str) -> Result<()> {
        let req = Req::put(api_path(&[])).unscoped().if_match(etag).json(&ServerPut { config })?;
        self.run(req).await.map(drop)
    }

    /// Changes some server configuration keys (`PATCH /1.0`); an empty string unsets a key.
    pub async fn patch_server_config(&self, config: &BTreeMap<String, Value>) -> Result<()> {
        let req = Req::patch(api_path(&[])).unscoped().json(&ServerPut { config })?;
        self.run(req).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lxd_5_0() {
        let json = r#"{"api_extensions":["projects","etag"],"api_status":"stable","api_version":"1.0","auth":"trusted",
            "public":false,"auth_methods":["tls"],"config":{"core.https_address":"127.0.0.1:8443"},
            "environment":{"server_version":"5.0.2","kernel":"Linux","kernel_version":"6.1.0","storage":"btrfs",
            "storage_supported_drivers":[{"Name":"btrfs","Version":"6.2","Remote":false},{"name":"dir","version":"1","remote":false}],
            "unknown":true}}"#;
        let info: ServerInfo = serde_json::from_str(json).unwrap();
        assert!(info.has_extension("projects"));
        assert!(!info.has_extension("instances_nope"));
        assert!(info.is_trusted());
        assert_eq!(info.storage_drivers(), vec!["btrfs", "dir"]);
        assert_eq!(info.version(), Some(ServerVersion { major: 5, minor: 0, patch: 2 }));
        assert_eq!(info.config["core.https_address"], "127.0.0.1:8443");
    }

    #[test]
    fn untrusted_and_old_servers_degrade() {
        let info: ServerInfo = serde_json::from_str(
            r#"{"api_extensions":null,"auth":"untrusted","environment":{"storage":"zfs | dir"},"config":null}"#,
        )
        .unwrap();
        assert!(!info.is_trusted());
        assert_eq!(info.storage_drivers(), vec!["zfs", "dir"]);
        assert_eq!(info.version(), None);
    }

    #[test]
    fn versions_compare() {
        let v = |s| ServerVersion::parse(s).unwrap();
        assert!(v("5.0.2") < v("6.8"));
        assert!(v("6.8") <= v("6.8.0"));
        assert!(v("6.10") > v("6.8"));
        assert_eq!(v("5.21.1-abc").to_string(), "5.21.1");
        assert_eq!(ServerVersion::parse("six"), None);
        assert_eq!(ServerVersion::parse("6"), None);
    }
}
