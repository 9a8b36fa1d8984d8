//! Networks (`/1.0/networks`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{Client, Req, api_path};
use super::error::Result;
use super::put::ConfigPut;
use super::serde_util::null_default;

/// A network.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Network {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// "bridge", "macvlan", ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Configuration (`ipv4.address`, `dns.domain`, `raw.dnsmasq`, ...).
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
    /// Whether LXD manages it.
    #[serde(default)]
    pub managed: bool,
    /// "Created", "Pending", ...
    #[serde(default)]
    pub status: String,
    /// URLs of what uses it.
    #[serde(default, deserialize_with = "null_default")]
    pub used_by: Vec<String>,
}

impl Network {
    /// The writable part, to modify and send back with [`Client::update_network`].
    pub fn writable(&self) -> ConfigPut {
        ConfigPut { config: self.config.clone(), description: self.description.clone() }
    }
}

impl Client {
    /// One network and its ETag.
    pub async fn get_network(&self, name: &str) -> Result<(Network, String)> {
        self.sync_etag(Req::get(api_path(&["networks", name]))).await
    }

    /// Creates a managed network of `kind` ("bridge", ...).
    pub async fn create_network(
        &self,
        name: &str,
        kind: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<()> {
        let body = json!({ "name": name, "type": kind, "config": config, "description": "" });
        self.sync::<Value>(Req::post(api_path(&["networks"])).json(&body)?).await.map(drop)
    }

    /// Replaces a network's writable part, guarded by `etag` when not empty.
    pub async fn update_network(&self, name: &str, put: &ConfigPut, etag: &str) -> Result<()> {
        let req = Req::put(api_path(&["networks", name])).if_match(etag).json(put)?;
        self.sync::<Value>(req).await.map(drop)
    }

    /// Deletes a network.
    pub async fn delete_network(&self, name: &str) -> Result<()> {
        self.sync::<Value>(Req::delete(api_path(&["networks", name]))).await.map(drop)
    }
}
