//! Background operations: waiting (long-poll on `/wait`, never sleeping), progress, cancel.

use std::collections::BTreeMap;

use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::Value;

use super::client::{Client, Req, api_path};
use super::error::{LxdError, Result};
use super::events::{Event, EventKind};
use super::serde_util::null_default;

/// How long one `/wait` long-poll lasts before it is renewed.
const WAIT_CHUNK_SECS: u32 = 30;

/// An LXD operation (`/1.0/operations/{id}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Operation {
    /// UUID.
    #[serde(default)]
    pub id: String,
    /// `task`, `websocket` or `token`.
    #[serde(default)]
    pub class: String,
    /// What it does, e.g. "Creating instance".
    #[serde(default)]
    pub description: String,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub created_at: String,
    /// Last update (RFC 3339).
    #[serde(default)]
    pub updated_at: String,
    /// Status text ("Running", "Success", "Failure", ...).
    #[serde(default)]
    pub status: String,
    /// Status code: 1xx running, 200 success, 400 failure, 401 cancelled.
    #[serde(default)]
    pub status_code: u16,
    /// Affected objects by kind (`instances`, `images`, ...).
    #[serde(default, deserialize_with = "null_default")]
    pub resources: BTreeMap<String, Vec<String>>,
    /// Operation-specific metadata (exec fds and `return`, download progress, fingerprint, ...).
    #[serde(default)]
    pub metadata: Value,
    /// Whether it can be cancelled.
    #[serde(default)]
    pub may_cancel: bool,
    /// Error text when it failed.
    #[serde(default)]
    pub err: String,
    /// Cluster member running it.
    #[serde(default)]
    pub location: String,
}

impl Operation {
    /// Whether it concerns instance `name` (of whatever project).
    pub fn concerns_instance(&self, name: &str) -> bool {
        let path = format!("/1.0/instances/{name}");
        self.resources.get("instances").is_some_and(|urls| {
            urls.iter().any(|url| {
                url.strip_prefix(&path).is_some_and(|rest| rest.is_empty() || rest.starts_with('?'))
            })
        })
    }

    /// True once it succeeded, failed or was cancelled.
    pub fn is_done(&self) -> bool {
        self.status_code >= 200
    }

    /// A string entry of its metadata.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }

    /// Ok for success, `OperationFailed` (with LXD's text) for failure or cancellation.
    pub fn into_result(self) -> Result<Self> {
        match self.status_code {
            200 => Ok(self),
            code if code >= 400 => {
                let message = if self.err.is_empty() { self.status.clone() } else { self.err.clone() };
                Err(LxdError::OperationFailed { message })
            }
            _ => Ok(self),
        }
    }
}

impl Client {
    /// The operations of the project that are still running.
    pub async fn running_operations(&self) -> Result<Vec<Operation>> {
        let req = Req::get(api_path(&["operations"])).query("recursion", "1");
        let by_status: Option<BTreeMap<String, Option<Vec<Operation>>>> = self.sync(req).await?;
        Ok(by_status.and_then(|mut s| s.remove("running")).flatten().unwrap_or_default())
    }

    /// Current state of an operation.
    pub async fn get_operation(&self, id: &str) -> Result<Operation> {
        self.sync(Req::get(api_path(&["operations", id]))).await
    }

    /// Waits until the operation is done; an error if it failed or was cancelled.
    pub async fn wait_operation(&self, id: &str) -> Result<Operation> {
        loop {
            let req =
                Req::get(api_path(&["operations", id, "wait"])).query("timeout", WAIT_CHUNK_SECS.to_string());
            let op: Operation = self.sync(req).await?;
            if op.is_done() {
                return op.into_result();
            }
        }
    }

    /// Like [`Client::wait_operation`], calling `progress` with each update of the operation
    /// (its metadata carries e.g. `download_progress`), as seen on the event stream.
    pub async fn wait_operation_with_progress(
        &self,
        id: &str,
        mut progress: impl FnMut(&Operation),
    ) -> Result<Operation> {
        let mut events = match self.events(&[EventKind::Operation]).await {
            Ok(events) => Some(events),
            Err(e) => {
                tracing::debug!(error = %e, "no event stream for progress; waiting without it");
                None
            }
        };
        let wait = self.wait_operation(id);
        futures_util::pin_mut!(wait);
        loop {
            let Some(stream) = events.as_mut() else {
                return wait.await;
            };
            tokio::select! {
                done = &mut wait => return done,
                event = stream.next() => match event {
                    Some(Ok(Event { kind: EventKind::Operation, metadata, .. })) => {
                        if let Ok(op) = serde_json::from_value::<Operation>(metadata) && op.id == id {
                            progress(&op);
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => events = None,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_name_the_instances_they_concern() {
        let create = op(
            r#"{"id":"1","status_code":103,"resources":{"instances":["/1.0/instances/ws-k-0123abcd?project=workshop.u"]}}"#,
        );
        assert!(create.concerns_instance("ws-k-0123abcd"));
        assert!(!create.concerns_instance("ws-k"));
        assert!(!create.concerns_instance("ws-k-0123abc"));
        let plain = op(r#"{"id":"2","resources":{"instances":["/1.0/instances/c1"]}}"#);
        assert!(plain.concerns_instance("c1"));
        assert!(!op(r#"{"id":"3","resources":null}"#).concerns_instance("c1"));
    }

    fn op(json: &str) -> Operation {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn failure_keeps_lxd_text() {
        let failed =
            op(r#"{"id":"1","status":"Failure","status_code":400,"err":"Failed to run: forkstart"}"#);
        assert!(failed.is_done());
        let err = failed.into_result().unwrap_err();
        assert_eq!(err.to_string(), "Failed to run: forkstart");
        let cancelled = op(r#"{"id":"1","status":"Cancelled","status_code":401,"err":""}"#);
        assert_eq!(cancelled.into_result().unwrap_err().to_string(), "Cancelled");
    }

    #[test]
    fn success_and_metadata() {
        let done = op(
            r#"{"id":"1","status":"Success","status_code":200,"resources":null,"metadata":{"return":3,"fingerprint":"ab"}}"#,
        );
        let done = done.into_result().unwrap();
        assert_eq!(done.metadata_str("fingerprint"), Some("ab"));
        assert_eq!(done.metadata["return"], 3);
        assert!(done.resources.is_empty());
        let running = op(r#"{"id":"1","status":"Running","status_code":103}"#);
        assert!(!running.is_done());
    }
}
