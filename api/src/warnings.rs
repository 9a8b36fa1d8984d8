//! Warnings (`GET/POST /v1/warnings`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct WarningInfo {
    pub message: String,
    pub first_added: DateTime<Utc>,
    pub last_added: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_shown: Option<DateTime<Utc>>,
    /// Go duration string, e.g. `672h0m0s`.
    pub expire_after: String,
    /// Go duration string, e.g. `24h0m0s`.
    pub repeat_after: String,
}

/// `POST /v1/warnings` body: `{"action":"okay","timestamp":T}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarningAction {
    pub action: String,
    pub timestamp: DateTime<Utc>,
}
