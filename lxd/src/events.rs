//! The event stream (`GET /1.0/events` websocket) as a `Stream` of typed events.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

use super::client::{Client, Req, api_path};
use super::error::{LxdError, Result};
use super::operations::Operation;
use super::websocket::{self, Pump};

/// Event type (`type` field; also the `?type=` filter).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum EventKind {
    /// Operation created/updated.
    Operation,
    /// Object lifecycle (instance-started, instance-created, ...).
    Lifecycle,
    /// Server log lines.
    Logging,
    /// Anything newer.
    Other(String),
}

impl From<String> for EventKind {
    fn from(kind: String) -> Self {
        match kind.as_str() {
            "operation" => Self::Operation,
            "lifecycle" => Self::Lifecycle,
            "logging" => Self::Logging,
            _ => Self::Other(kind),
        }
    }
}

impl EventKind {
    fn as_str(&self) -> &str {
        match self {
            Self::Operation => "operation",
            Self::Lifecycle => "lifecycle",
            Self::Logging => "logging",
            Self::Other(kind) => kind,
        }
    }
}

/// One event.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// When (RFC 3339).
    #[serde(default)]
    pub timestamp: String,
    /// Type-specific payload.
    #[serde(default)]
    pub metadata: Value,
    /// Cluster member.
    #[serde(default)]
    pub location: String,
    /// Project (extension `event_project`).
    #[serde(default)]
    pub project: String,
}

/// Payload of a lifecycle event.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LifecycleEvent {
    /// e.g. `instance-started`.
    #[serde(default)]
    pub action: String,
    /// Object URL, e.g. `/1.0/instances/foo?project=bar`.
    #[serde(default)]
    pub source: String,
    /// Action details.
    #[serde(default)]
    pub context: Value,
}

impl Event {
    /// The lifecycle payload, for lifecycle events.
    pub fn lifecycle(&self) -> Option<LifecycleEvent> {
        (self.kind == EventKind::Lifecycle)
            .then(|| serde_json::from_value(self.metadata.clone()).ok())
            .flatten()
    }

    /// The operation, for operation events.
    pub fn operation(&self) -> Option<Operation> {
        (self.kind == EventKind::Operation)
            .then(|| serde_json::from_value(self.metadata.clone()).ok())
            .flatten()
    }
}

/// A live event subscription; dropping it closes the websocket.
pub struct EventStream {
    rx: mpsc::Receiver<Result<Bytes>>,
}

impl Stream for EventStream {
    type Item = Result<Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(text))) => Poll::Ready(Some(
                serde_json::from_slice(&text).map_err(|e| LxdError::Decode(format!("event: {e}"))),
            )),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Client {
    /// Subscribes to events of the given kinds (all kinds when empty), for this client's
    /// project (or the default project when unscoped).
    pub async fn events(&self, kinds: &[EventKind]) -> Result<EventStream> {
        let mut req = Req::get(api_path(&["events"]));
        if !kinds.is_empty() {
            let kinds: Vec<&str> = kinds.iter().map(EventKind::as_str).collect();
            req = req.query("type", kinds.join(","));
        }
        let ws = self.websocket(req).await?;
        let (tx, rx) = mpsc::channel(256);
        websocket::spawn(
            ws,
            Pump {
                label: "events",
                input: None,
                barrier_on_input_end: false,
                output: Some(tx),
                text_is_eof: false,
                close_when_unread: true,
                answer_pings: true,
            },
        );
        Ok(EventStream { rx })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_event_parses() {
        let event: Event = serde_json::from_str(
            r#"{"type":"lifecycle","timestamp":"2026-01-01T00:00:00Z","metadata":{"action":"instance-started",
            "source":"/1.0/instances/x?project=p","context":{},"requestor":{"username":"root","protocol":"unix"}},
            "location":"none","project":"p"}"#,
        )
        .unwrap();
        let lifecycle = event.lifecycle().unwrap();
        assert_eq!(lifecycle.action, "instance-started");
        assert_eq!(lifecycle.source, "/1.0/instances/x?project=p");
        assert!(event.operation().is_none());
        assert_eq!(event.project, "p");
    }

    #[test]
    fn unknown_kinds_survive() {
        let event: Event = serde_json::from_str(r#"{"type":"ovn","metadata":null}"#).unwrap();
        assert_eq!(event.kind, EventKind::Other("ovn".into()));
        assert!(event.lifecycle().is_none());
    }
}
