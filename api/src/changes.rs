//! Changes and tasks as the API shows them (`changeInfo`, `taskInfo`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ChangeInfo {
    pub id: String,
    pub kind: String,
    pub summary: String,
    /// `Do`, `Doing`, `Done`, `Error`, `Wait`, ... (the status name).
    pub status: String,
    #[serde(default)]
    pub tasks: Vec<TaskInfo>,
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    pub spawn_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TaskInfo {
    pub id: String,
    pub kind: String,
    pub summary: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
    #[serde(default)]
    pub progress: Progress,
    pub spawn_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_time: Option<DateTime<Utc>>,
    /// Time spent doing the task, in nanoseconds.
    #[serde(default)]
    pub doing_time: i64,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub done: u64,
    #[serde(default)]
    pub total: u64,
}

/// `POST /v1/changes/{id}` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeAction {
    pub action: String,
}
