//! Building the v1 envelope.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use workshop_api::{Envelope, ErrorKind, ErrorResult, ResponseType};

/// Pending-warning metadata added to every non-error response.
#[derive(Debug, Clone, Copy, Default)]
pub struct WarningMeta {
    pub count: u64,
    pub latest: Option<DateTime<Utc>>,
}

fn envelope(kind: ResponseType, status: StatusCode, result: Value) -> Envelope {
    Envelope {
        kind,
        status_code: status.as_u16(),
        status: status.canonical_reason().unwrap_or("").to_string(),
        result,
        change: None,
        warning_count: None,
        warning_timestamp: None,
        maintenance: None,
    }
}

fn with_meta(mut env: Envelope, meta: WarningMeta) -> Envelope {
    if meta.count > 0 {
        env.warning_count = Some(meta.count);
        env.warning_timestamp = meta.latest;
    }
    env
}

/// The `sync` envelope, serialised straight from the typed result (no intermediate `Value`:
/// large listings are the hot path). Field names are those of [`Envelope`].
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct SyncEnvelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: ResponseType,
    status_code: u16,
    status: &'a str,
    result: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning_timestamp: Option<DateTime<Utc>>,
}

/// A `sync` response.
pub fn sync<T: Serialize>(status: StatusCode, result: T, meta: WarningMeta) -> HttpResponse {
    let pending = meta.count > 0;
    let env = SyncEnvelope {
        kind: ResponseType::Sync,
        status_code: status.as_u16(),
        status: status.canonical_reason().unwrap_or(""),
        result: &result,
        warning_count: pending.then_some(meta.count),
        warning_timestamp: if pending { meta.latest } else { None },
    };
    HttpResponse::build(status).json(env)
}

/// An `async` response for a change (202).
pub fn accepted(change: &str, result: Value, meta: WarningMeta) -> HttpResponse {
    let status = StatusCode::ACCEPTED;
    let mut env = with_meta(envelope(ResponseType::Async, status, result), meta);
    env.change = Some(change.to_string());
    HttpResponse::build(status).json(env)
}

/// An `error` response.
pub fn error_body(
    status: StatusCode,
    message: String,
    kind: Option<ErrorKind>,
    value: Value,
) -> HttpResponse {
    let result = ErrorResult { message, kind, value };
    let result = serde_json::to_value(result).unwrap_or(Value::Null);
    HttpResponse::build(status).json(envelope(ResponseType::Error, status, result))
}
