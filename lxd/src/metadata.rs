//! Instance metadata (`/1.0/instances/<name>/metadata`): the image's `metadata.yaml` as the
//! instance holds it, and its template files, which LXD renders into the instance's root
//! filesystem when the triggers they name happen (`create`, `copy`, `start`).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{Body, Client, Req, api_path};
use super::error::Result;
use super::serde_util::null_default;

/// An instance's metadata. Fields this client does not model are kept as they are, so that a
/// read-modify-write sends them back unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceMetadata {
    /// Templates by the path of the file they render inside the instance.
    #[serde(default, deserialize_with = "null_default")]
    pub templates: BTreeMap<String, MetadataTemplate>,
    /// Everything else (`architecture`, `creation_date`, `properties`, ...).
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// One template of an instance's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataTemplate {
    /// Triggers that render it: `create`, `copy`, `start`.
    #[serde(default, deserialize_with = "null_default")]
    pub when: Vec<String>,
    /// Render only when the file does not exist yet.
    #[serde(default)]
    pub create_only: bool,
    /// The template file's name (in the instance's `templates/`).
    pub template: String,
    /// Properties the template sees.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: BTreeMap<String, String>,
}

fn metadata_path(name: &str) -> String {
    api_path(&["instances", name, "metadata"])
}

impl Client {
    /// An instance's metadata and its ETag.
    pub async fn instance_metadata(&self, name: &str) -> Result<(InstanceMetadata, String)> {
        self.sync_etag(Req::get(metadata_path(name))).await
    }

    /// Replaces an instance's metadata, guarded by `etag` when not empty.
    pub async fn update_instance_metadata(
        &self,
        name: &str,
        metadata: &InstanceMetadata,
        etag: &str,
    ) -> Result<()> {
        let req = Req::put(metadata_path(name)).if_match(etag).json(metadata)?;
        self.sync::<Value>(req).await.map(drop)
    }

    /// Creates or replaces the template file `file` of an instance.
    pub async fn put_instance_template(&self, name: &str, file: &str, content: &[u8]) -> Result<()> {
        let body = Body::Bytes {
            content_type: "application/octet-stream".into(),
            data: Bytes::copy_from_slice(content),
        };
        let req =
            Req::post(api_path(&["instances", name, "metadata", "templates"])).query("path", file).body(body);
        self.sync::<Value>(req).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = r#"{"architecture":"x86_64","creation_date":1,"expiry_date":0,"properties":{"os":"debian"},
            "templates":{"/etc/hostname":{"when":["create","copy"],"create_only":false,"template":"hostname.tpl","properties":null}}}"#;
        let metadata: InstanceMetadata = serde_json::from_str(text).unwrap();
        assert_eq!(metadata.templates["/etc/hostname"].template, "hostname.tpl");
        assert!(metadata.templates["/etc/hostname"].properties.is_empty());
        let back = serde_json::to_value(&metadata).unwrap();
        assert_eq!(back["architecture"], "x86_64");
        assert_eq!(back["properties"]["os"], "debian");
        assert_eq!(back["templates"]["/etc/hostname"]["when"][1], "copy");
    }

    #[test]
    fn missing_templates_are_none() {
        let metadata: InstanceMetadata = serde_json::from_str(r#"{"templates":null}"#).unwrap();
        assert!(metadata.templates.is_empty());
    }
}
