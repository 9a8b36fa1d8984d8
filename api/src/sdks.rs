//! SDKs: the Store's catalogue and the SDK trees on this machine (`GET /v1/find`,
//! `GET /v1/sdks`, `GET /v1/sdks/{name}`; ../shared/spec/reference-inventory.md §2.3).
//!
//! A base is written `ubuntu@24.04` and is empty for an SDK that runs on every base; an
//! architecture is a Debian name or `all`. Revisions are strings: `"5"` for the Store, `"x1"`
//! for local revisions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A publisher in the Store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct StoreAccount {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// `verified`, `starred` or anything else (unproven).
    pub validation: String,
}

/// One SDK found in the Store (`GET /v1/find`): its metadata and its default release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct SdkSummary {
    pub name: String,
    pub package_id: String,
    pub summary: String,
    pub description: String,
    pub license: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<StoreAccount>,
    pub channel: String,
    pub track: String,
    pub risk: String,
    pub revision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_at: Option<DateTime<Utc>>,
    pub version: String,
    pub base: String,
    pub arch: String,
}

/// One revision released in a channel, for one platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct SdkRevision {
    pub channel: String,
    pub track: String,
    pub risk: String,
    pub revision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub built_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_at: Option<DateTime<Utc>>,
    pub version: String,
    pub base: String,
    pub arch: String,
    pub download_size: u64,
}

/// An SDK tree on this machine (`GET /v1/sdks`): one revision of one SDK, shared by every
/// workshop that uses it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct SdkTree {
    pub name: String,
    pub version: String,
    pub revision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub built_at: Option<DateTime<Utc>>,
    /// Bytes on disk.
    pub size: u64,
}

/// A workshop in which an SDK is installed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct SdkInstalled {
    pub project_path: String,
    pub workshop: String,
    pub channel: String,
    pub base: String,
    pub architecture: String,
    #[serde(flatten)]
    pub tree: SdkTree,
}

/// `GET /v1/sdks/{name}`: what the Store says of an SDK, and where it is installed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct SdkFullInfo {
    pub name: String,
    pub package_id: String,
    pub title: String,
    pub summary: String,
    pub description: String,
    pub license: String,
    pub website: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<StoreAccount>,
    pub channels: Vec<SdkRevision>,
    pub installed: Vec<SdkInstalled>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_entries_are_flat() {
        let installed = SdkInstalled {
            project_path: "/home/u/nav".into(),
            workshop: "dev".into(),
            channel: "latest/stable".into(),
            base: "ubuntu@24.04".into(),
            architecture: "amd64".into(),
            tree: SdkTree { name: "go".into(), revision: "85".into(), size: 7, ..SdkTree::default() },
        };
        let json = serde_json::to_value(&installed).unwrap();
        assert_eq!(json["project-path"], "/home/u/nav");
        assert_eq!(json["name"], "go");
        assert_eq!(json["revision"], "85");
        assert_eq!(json["size"], 7);
        assert_eq!(serde_json::from_value::<SdkInstalled>(json).unwrap(), installed);
    }
}
