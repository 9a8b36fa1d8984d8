//! Workshops (`/v1/projects/{id}/workshops...`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::WorkshopName;

/// What `POST /v1/projects/{id}/workshops` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkshopAction {
    Launch,
    Refresh,
    Start,
    Stop,
    Remove,
    /// A copy of one workshop under the name in [`WorkshopOptions::fork_name`].
    Fork,
}

impl WorkshopAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Launch => "launch",
            Self::Refresh => "refresh",
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Remove => "remove",
            Self::Fork => "fork",
        }
    }
}

/// How a launch or refresh treats errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Undo everything on error (the default).
    #[default]
    Transactional,
    /// Pause on error so the user can fix things and `--continue`.
    WaitOnError,
    /// Resume a paused change.
    Continue,
    /// Undo a paused change.
    Abort,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transactional => "transactional",
            Self::WaitOnError => "wait-on-error",
            Self::Continue => "continue",
            Self::Abort => "abort",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshOption {
    Update,
    Restore,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct WorkshopOptions {
    #[serde(default)]
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_option: Option<RefreshOption>,
    #[serde(default)]
    pub verbose: bool,
    /// The name of the copy a `fork` makes (for `fork` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fork_name: Option<WorkshopName>,
    /// Refresh and restore: the SDKs' `save-state` hooks do not run, nor their `restore-state`
    /// ones (the escape from an SDK whose `save-state` fails; what it keeps is lost).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_save_state: bool,
}

/// `POST /v1/projects/{id}/workshops` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct WorkshopsRequest {
    /// Checked when the body is read: a malformed name never reaches a lookup.
    pub names: Vec<WorkshopName>,
    pub action: WorkshopAction,
    #[serde(default)]
    pub options: WorkshopOptions,
}

/// Derived status of a launched workshop (`Off` is client-side only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WorkshopStatus {
    Ready,
    Pending,
    Waiting,
    Error,
    Stopped,
    Unknown,
}

impl WorkshopStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Pending => "Pending",
            Self::Waiting => "Waiting",
            Self::Error => "Error",
            Self::Stopped => "Stopped",
            Self::Unknown => "Unknown",
        }
    }
}

/// `GET /v1/projects/{id}/workshops?state=` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkshopList {
    #[serde(default)]
    pub workshops: Vec<WorkshopInfo>,
    #[serde(default)]
    pub files: Vec<WorkshopFileRef>,
}

/// A definition file found in a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct WorkshopFileRef {
    pub project_id: String,
    pub name: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct WorkshopInfo {
    pub project_id: String,
    pub name: String,
    pub base: String,
    pub status: WorkshopStatus,
    #[serde(default)]
    pub sdks: Vec<SdkInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// A short hash of what the workshop was built from (base image, SDK trees, interfaces
    /// and connections of its definition): equal hashes, same environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_hash: Option<String>,
    /// The definition file (only on `GET .../workshops/{name}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The project directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SdkInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Source directory of a local SDK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `N` (Store), `xN` (local) or `unset`.
    pub revision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tunnels: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HealthCheck {
    pub timestamp: DateTime<Utc>,
    /// Left out when empty, as the reference's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code: String,
}

/// `GET .../workshops/{name}/actions` result: action name → script.
pub type Actions = BTreeMap<String, ActionInfo>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionInfo {
    pub script: String,
}

/// What `refresh` of one workshop would do, without doing it
/// (`GET /v1/projects/{id}/workshops/{name}/refresh-plan`; docs/output.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RefreshPlan {
    pub workshop: String,
    /// `true` when the workshop is built from what its definition gives now: the refresh
    /// answers `no updates available` and the lists below are empty.
    pub up_to_date: bool,
    /// What the rebuilt instance starts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuild_from: Option<RebuildFrom>,
    /// The SDKs before and after, installed ones in the new install order, then removed ones.
    #[serde(default)]
    pub sdks: Vec<SdkPlan>,
    /// The hooks the refresh runs, in order.
    #[serde(default)]
    pub hooks: Vec<HookPlan>,
    /// Every task the refresh change would have, in order.
    #[serde(default)]
    pub tasks: Vec<TaskPlan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RebuildFrom {
    /// The base, e.g. `ubuntu@22.04`.
    pub base: String,
    /// The base image's fingerprint.
    pub fingerprint: String,
    /// Whether the image differs from the one the workshop was built from.
    pub changed: bool,
    /// The layer snapshot it is a copy of, when one holds its first SDKs as the definition
    /// gives them now (else the base's template or image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The SDKs whose layers come with that snapshot (their `setup-base` is not run again),
    /// in install order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reused: Vec<String>,
}

/// What a refresh does with one SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SdkChange {
    /// The same tree, installed again in the rebuilt instance.
    Kept,
    /// Another tree (a new revision).
    Reinstalled,
    /// New in the definition.
    Added,
    /// No longer in the definition.
    Removed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SdkPlan {
    pub name: String,
    pub change: SdkChange,
    /// `system`, `project`, `try`, `sketch` or `store`.
    pub source: String,
    /// The installed revision (not for an added SDK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_revision: Option<String>,
    /// The revision it will have, where known before the refresh (a Store SDK's, or a kept
    /// one's); a local SDK's new revision is only numbered when it is retrieved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_revision: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HookPlan {
    pub sdk: String,
    /// `setup-base`, `setup-project`, `save-state`, `restore-state`, `check-health`.
    pub hook: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TaskPlan {
    pub kind: String,
    pub summary: String,
}
