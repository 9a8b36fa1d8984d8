//! Projects (`/1.0/projects`). Server-wide: never scoped by `?project=`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{Client, Req, api_path};
use super::error::Result;
use super::put::ConfigPut;
use super::serde_util::null_default;

/// A project.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Project {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Configuration (`features.images`, `user.*`, ...).
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
    /// URLs of what uses it.
    #[serde(default, deserialize_with = "null_default")]
    pub used_by: Vec<String>,
}

impl Project {
    /// The writable part, to modify and send back with [`Client::update_project`].
    pub fn writable(&self) -> ConfigPut {
        ConfigPut { config: self.config.clone(), description: self.description.clone() }
    }
}

#[derive(Serialize)]
struct ProjectsPost<'a> {
    name: &'a str,
    #[serde(flatten)]
    put: &'a ConfigPut,
}

impl Client {
    /// All projects.
    pub async fn list_projects(&self) -> Result<Vec<Project>> {
        self.sync(Req::get(api_path(&["projects"])).unscoped().query("recursion", "1")).await
    }

    /// One project and its ETag.
    pub async fn get_project(&self, name: &str) -> Result<(Project, String)> {
        self.sync_etag(Req::get(api_path(&["projects", name])).unscoped()).await
    }

    /// Creates a project.
    pub async fn create_project(&self, name: &str, put: &ConfigPut) -> Result<()> {
        let req = Req::post(api_path(&["projects"])).unscoped().json(&ProjectsPost { name, put })?;
        self.sync::<Value>(req).await.map(drop)
    }

    /// Replaces a project's writable part, guarded by `etag` when not empty.
    pub async fn update_project(&self, name: &str, put: &ConfigPut, etag: &str) -> Result<()> {
        let req = Req::put(api_path(&["projects", name])).unscoped().if_match(etag).json(put)?;
        self.sync::<Value>(req).await.map(drop)
    }

    /// Deletes an (empty) project.
    pub async fn delete_project(&self, name: &str) -> Result<()> {
        self.sync::<Value>(Req::delete(api_path(&["projects", name])).unscoped()).await.map(drop)
    }
}
