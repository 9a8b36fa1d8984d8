//! Instance snapshots (`/1.0/instances/{name}/snapshots`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use super::client::{Client, Req, api_path};
use super::error::Result;
use super::serde_util::null_default;

/// A snapshot.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InstanceSnapshot {
    /// Snapshot name (without the instance part).
    #[serde(default)]
    pub name: String,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub created_at: String,
    /// Whether it includes runtime state.
    #[serde(default)]
    pub stateful: bool,
    /// Configuration at snapshot time.
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
}

impl Client {
    /// Snapshots of an instance.
    pub async fn list_snapshots(&self, instance: &str) -> Result<Vec<InstanceSnapshot>> {
        self.sync(Req::get(api_path(&["instances", instance, "snapshots"])).query("recursion", "1")).await
    }

    /// Takes a (stateless) snapshot.
    pub async fn create_snapshot(&self, instance: &str, name: &str) -> Result<()> {
        let req = Req::post(api_path(&["instances", instance, "snapshots"]))
            .json(&json!({ "name": name, "stateful": false }))?;
        self.run(req).await.map(drop)
    }

    /// Restores an instance to a snapshot.
    pub async fn restore_snapshot(&self, instance: &str, name: &str) -> Result<()> {
        let req = Req::put(api_path(&["instances", instance])).json(&json!({ "restore": name }))?;
        self.run(req).await.map(drop)
    }

    /// Deletes a snapshot.
    pub async fn delete_snapshot(&self, instance: &str, name: &str) -> Result<()> {
        self.run(Req::delete(api_path(&["instances", instance, "snapshots", name]))).await.map(drop)
    }
}
