//! `POST /v1/workshopctl`, the only route of the untrusted socket.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct WorkshopctlRequest {
    pub context_id: String,
    pub args: Vec<String>,
    /// Base64 of standard input, at most 4 MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkshopctlResult {
    pub stdout: String,
    pub stderr: String,
}
