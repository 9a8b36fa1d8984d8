//! `GET /v1/doctor` and `POST /v1/doctor`: what `workshop doctor` checks on this machine, and
//! the fixes it may apply (root only).

use serde::{Deserialize, Serialize};

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    Ok,
    /// Works, but something will bite later (little free space, no image server).
    Warning,
    /// Workshops cannot work as they should until it is fixed.
    Failed,
    /// Could not be checked here (a tool is missing); says why.
    Skipped,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Check {
    /// Stable name: `lxd`, `storage-pool`, `network`, `images`, `id-map`, `firewall`,
    /// `guest-socket` (and `daemon`, which the client checks itself).
    pub name: String,
    pub status: CheckStatus,
    /// What was found.
    pub message: String,
    /// What to run to fix it, when it is not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Whether `workshop doctor --fix` (as root) applies that fix itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fixable: bool,
}

impl Check {
    pub fn new(name: &str, status: CheckStatus, message: impl Into<String>) -> Self {
        Self { name: name.into(), status, message: message.into(), fix: None, fixable: false }
    }

    pub fn ok(name: &str, message: impl Into<String>) -> Self {
        Self::new(name, CheckStatus::Ok, message)
    }

    /// With what to run to fix it.
    pub fn fix(mut self, command: impl Into<String>) -> Self {
        self.fix = Some(command.into());
        self
    }

    /// With what to run, which `doctor --fix` can apply.
    pub fn fixable(mut self, command: impl Into<String>) -> Self {
        self.fixable = true;
        self.fix(command)
    }
}

/// `POST /v1/doctor` body: `{"action": "fix"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorAction {
    pub action: DoctorVerb,
}

/// What `POST /v1/doctor` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DoctorVerb {
    /// Applies the fixable checks' fixes, then checks again.
    Fix,
}
