//! Profiles (`/1.0/profiles`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{Client, Req, api_path};
use super::error::Result;
use super::serde_util::null_default;

/// Devices by name, each a map of options (`type`, `path`, `source`, ...).
pub type Devices = BTreeMap<String, BTreeMap<String, String>>;

/// A profile.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Profile {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Configuration.
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
    /// Devices.
    #[serde(default, deserialize_with = "null_default")]
    pub devices: Devices,
    /// URLs of what uses it.
    #[serde(default, deserialize_with = "null_default")]
    pub used_by: Vec<String>,
}

/// The writable part of a profile.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfilePut {
    /// Configuration.
    pub config: BTreeMap<String, String>,
    /// Description.
    pub description: String,
    /// Devices.
    pub devices: Devices,
}

impl Profile {
    /// The writable part, to modify and send back with [`Client::update_profile`].
    pub fn writable(&self) -> ProfilePut {
        ProfilePut {
            config: self.config.clone(),
            description: self.description.clone(),
            devices: self.devices.clone(),
        }
    }
}

#[derive(Serialize)]
struct ProfilesPost<'a> {
    name: &'a str,
    #[serde(flatten)]
    put: &'a ProfilePut,
}

impl Client {
    /// All profiles.
    pub async fn list_profiles(&self) -> Result<Vec<Profile>> {
        self.sync(Req::get(api_path(&["profiles"])).query("recursion", "1")).await
    }

    /// One profile and its ETag.
    pub async fn get_profile(&self, name: &str) -> Result<(Profile, String)> {
        self.sync_etag(Req::get(api_path(&["profiles", name]))).await
    }

    /// Creates a profile.
    pub async fn create_profile(&self, name: &str, put: &ProfilePut) -> Result<()> {
        let req = Req::post(api_path(&["profiles"])).json(&ProfilesPost { name, put })?;
        self.sync::<Value>(req).await.map(drop)
    }

    /// Replaces a profile's writable part, guarded by `etag` when not empty
    /// (a stale ETag gives [`super::LxdError::PreconditionFailed`]).
    pub async fn update_profile(&self, name: &str, put: &ProfilePut, etag: &str) -> Result<()> {
        let req = Req::put(api_path(&["profiles", name])).if_match(etag).json(put)?;
        self.sync::<Value>(req).await.map(drop)
    }

    /// Deletes a profile.
    pub async fn delete_profile(&self, name: &str) -> Result<()> {
        self.sync::<Value>(Req::delete(api_path(&["profiles", name]))).await.map(drop)
    }
}
