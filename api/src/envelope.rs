//! The response envelope of every v1 route.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `sync`, `async` or `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseType {
    Sync,
    Async,
    Error,
}

/// `{type, status-code, status, result, change, warning-count, warning-timestamp, maintenance}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Envelope {
    #[serde(rename = "type")]
    pub kind: ResponseType,
    pub status_code: u16,
    pub status: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub result: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning_timestamp: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<Maintenance>,
}

impl Envelope {
    /// The error carried by an `error` envelope, if this is one.
    pub fn error(&self) -> Option<ErrorResult> {
        if self.kind != ResponseType::Error {
            return None;
        }
        Some(serde_json::from_value(self.result.clone()).unwrap_or_else(|_| ErrorResult {
            message: format!("unexpected error result: {}", self.result),
            kind: None,
            value: Value::Null,
        }))
    }
}

/// Set while the daemon is restarting or stopping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    pub kind: ErrorKind,
    pub message: String,
}

/// The `result` of an `error` envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResult {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
}

/// The `value` of a `change-conflict` error: the change holding the workshop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ChangeConflict {
    pub change_id: String,
    pub change_kind: String,
    /// `Wait` when the change is paused on error, else `Doing`.
    pub change_status: String,
    pub project_id: String,
    pub workshop: String,
}

/// Machine-readable error kinds (reference-compatible strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    ChangeConflict,
    NoWaitingChangeInProgress,
    LoginRequired,
    DaemonRestart,
    SystemRestart,
    NoUpdatesAvailable,
    NotFound,
    PermissionDenied,
    GenericFileError,
    Unsuccessful,
    /// The daemon is in degraded mode and refuses changes (our addition).
    Degraded,
    /// A kind sent by a newer daemon that this client does not know.
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_uses_reference_keys() {
        let env = Envelope {
            kind: ResponseType::Async,
            status_code: 202,
            status: "Accepted".into(),
            result: Value::Null,
            change: Some("7".into()),
            warning_count: Some(2),
            warning_timestamp: None,
            maintenance: None,
        };
        let v = serde_json::to_value(&env).unwrap();
        assert_eq!(v["type"], "async");
        assert_eq!(v["status-code"], 202);
        assert_eq!(v["change"], "7");
        assert_eq!(v["warning-count"], 2);
        assert!(v.get("result").is_none());
    }

    #[test]
    fn unknown_error_kind_is_tolerated() {
        let e: ErrorResult = serde_json::from_str(r#"{"message":"x","kind":"from-the-future"}"#).unwrap();
        assert_eq!(e.kind, Some(ErrorKind::Unknown));
    }

    #[test]
    fn error_is_read_from_error_envelopes_only() {
        let env: Envelope = serde_json::from_str(
            r#"{"type":"error","status-code":404,"status":"Not Found","result":{"message":"invalid API endpoint requested"}}"#,
        )
        .unwrap();
        assert_eq!(env.error().unwrap().message, "invalid API endpoint requested");
        let ok: Envelope =
            serde_json::from_str(r#"{"type":"sync","status-code":200,"status":"OK","result":[]}"#).unwrap();
        assert!(ok.error().is_none());
    }
}
