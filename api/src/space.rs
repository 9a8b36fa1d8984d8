//! `GET /v1/disk-usage` (`workshop du`) and `POST /v1/prune` (`workshop prune`): what
//! workshops, templates, layer snapshots, caches and SDK trees use, and removing what
//! nothing uses.

use serde::{Deserialize, Serialize};

/// What uses space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpaceKind {
    /// A workshop's instance, on the pool.
    Workshop,
    /// A template workshops are copied from (re-made at the next launch), on the pool.
    Template,
    /// A layer snapshot (a workshop after one of its SDKs was set up) that later workshops
    /// with the same base and SDKs start from, on the pool. Unused, it goes an hour after its
    /// last use, or at once with `prune`.
    Snapshot,
    /// A workshop's apt archive cache, on the host.
    AptCache,
    /// An SDK tree, on the host (shared by every workshop that has it).
    SdkTree,
}

impl SpaceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Workshop => "workshop",
            Self::Template => "template",
            Self::Snapshot => "snapshot",
            Self::AptCache => "apt-cache",
            Self::SdkTree => "sdk-tree",
        }
    }
}

/// One thing that uses space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SpaceItem {
    pub kind: SpaceKind,
    /// The workshop's or template's name, the SDK's name and revision.
    pub name: String,
    /// The user it belongs to (none for shared SDK trees).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// The project of a workshop or its cache.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project_path: String,
    /// Bytes, when known (a btrfs pool without quotas does not count per instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Whether something uses it (prune removes only what nothing uses).
    pub in_use: bool,
}

/// Workshop's storage pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PoolSpace {
    pub name: String,
    pub driver: String,
    pub used: u64,
    pub total: u64,
}

/// `GET /v1/disk-usage`: the caller's (every user's for root).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DiskUsage {
    pub pool: PoolSpace,
    pub items: Vec<SpaceItem>,
}

/// `POST /v1/prune` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PruneRequest {
    /// Say what would be removed, remove nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /v1/prune` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Pruned {
    /// What was removed (or would be, with `dry-run`).
    pub removed: Vec<SpaceItem>,
    /// Bytes freed, as far as known.
    pub freed: u64,
    /// What was left alone and why (e.g. SDK trees while a change is in progress).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}
