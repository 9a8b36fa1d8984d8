//! `POST /v1/projects/{id}/workshops/{name}/exec` and the exec task websockets
//! `GET /v1/tasks/{task-id}/websocket/{control|stdio|stdout|stderr}`.
//!
//! Websocket protocol: data in binary messages; an empty text message ends a stream (stdin EOF
//! from the client, end of output from the daemon); `control` carries `ExecControl` JSON.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{Message, MessageStream, Session};
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::debug;
use workshop_actors::backend::SessionControl;
use workshop_actors::managers::command::{Attach, ClientEnds, Exec, Inbound};
use workshop_api::exec::{ExecRequest, ExecResult, WS_CONTROL};
use workshop_api::ids::{ProjectId, TaskId, WorkshopName};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::peer::Caller;
use crate::api::response::accepted;

/// Largest websocket frame accepted from a client (the CLI sends 16 KiB of stdin at most).
const MAX_FRAME: usize = 1 << 20;

/// Request fields the reference refuses when set.
const UNSUPPORTED: &[&str] = &["terminal", "split-stderr"];

pub async fn post(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, WorkshopName)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (project_id, name) = path.into_inner();
    let body = body.into_inner();
    for field in UNSUPPORTED {
        if body.get(field).and_then(Value::as_bool).unwrap_or(false) {
            return Err(ApiError::BadRequest(format!("cannot exec: {field:?} is not supported")));
        }
    }
    let request: ExecRequest = serde_json::from_value(body)
        .map_err(|e| ApiError::BadRequest(format!("cannot decode request body: {e}")))?;
    workshop_api::exec::check_environment(&request.environment)
        .map_err(|e| ApiError::BadRequest(format!("cannot exec: {e}")))?;
    let msg = Exec {
        user: caller.user_ref(),
        project_id: project_id.into_string(),
        name: name.into_string(),
        request,
    };
    let started = state.commands.send(msg).await??;
    let result = serde_json::to_value(ExecResult { task_id: started.task }).unwrap_or_default();
    Ok(accepted(&started.change, result, state.warning_meta(&caller).await))
}

pub async fn websocket(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(TaskId, String)>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (task, name) = path.into_inner();
    let task = task.into_string();
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::BadRequest(format!("cannot upgrade to a websocket: {e}")))?;
    let attach = Attach { task: task.clone(), websocket: name.clone(), uid: caller.uid };
    let ends = state.commands.send(attach).await??;
    debug!(%task, websocket = %name, "exec websocket attached");
    let control = name == WS_CONTROL;
    actix_web::rt::spawn(pump(session, stream.max_frame_size(MAX_FRAME), ends, control));
    Ok(response)
}

/// Serves one websocket until its stream ends or the client goes away.
///
/// Backpressure: a client message is read only once the previous one is queued for the
/// command (whose queue is bounded), so a client faster than the command is left unread and
/// waits; output keeps flowing meanwhile, so a command that stops reading its input until its
/// output is read does not lock up the session.
async fn pump(mut session: Session, mut stream: MessageStream, ends: ClientEnds, control: bool) {
    let ClientEnds { inbound, mut outbound } = ends;
    let has_output = outbound.is_some();
    // The client message waiting for room in the command's queue.
    let mut pending: Option<Inbound> = None;
    // The client is gone: end once `pending` (its end of input) is handed over.
    let mut client_gone = false;
    loop {
        tokio::select! {
            message = stream.recv(), if pending.is_none() && !client_gone => match message {
                Some(Ok(Message::Binary(bytes))) => pending = Some(Inbound::Data(bytes)),
                Some(Ok(Message::Text(text))) if text.is_empty() => pending = Some(Inbound::Eof),
                Some(Ok(Message::Text(text))) => {
                    if control {
                        pending = parse_control(&text).map(Inbound::Control);
                    }
                }
                Some(Ok(Message::Ping(bytes))) => {
                    if session.pong(&bytes).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    // A vanished client is the end of its input.
                    pending = Some(Inbound::Eof);
                    client_gone = true;
                }
                Some(Ok(_)) => {}
            },
            permit = inbound.reserve(), if pending.is_some() => {
                // A closed queue (the command finished) drops what the client sent.
                if let (Ok(permit), Some(message)) = (permit, pending.take()) {
                    permit.send(message);
                }
                pending = None;
                if client_gone {
                    break;
                }
            },
            chunk = next_output(&mut outbound) => match chunk {
                Some(bytes) => {
                    if session.binary(bytes).await.is_err() {
                        break;
                    }
                }
                None => {
                    let _ = session.text("").await;
                    break;
                }
            },
            // The command finished: streams without output end here.
            () = inbound.closed(), if !has_output => break,
        }
    }
    let _ = session.close(None).await;
}

async fn next_output(outbound: &mut Option<mpsc::Receiver<Bytes>>) -> Option<Bytes> {
    match outbound {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// An LXD-style control message: `window-resize` with string `width`/`height` args, or
/// `signal` with a number.
fn parse_control(text: &str) -> Option<SessionControl> {
    let control: workshop_api::exec::ExecControl = match serde_json::from_str(text) {
        Ok(c) => c,
        Err(e) => {
            debug!(error = %e, "ignoring undecodable exec control message");
            return None;
        }
    };
    match control.command.as_str() {
        "window-resize" => {
            let size = |key: &str| control.args.get(key).and_then(|v| v.parse::<u16>().ok());
            Some(SessionControl::Resize { width: size("width")?, height: size("height")? })
        }
        "signal" => control.signal.map(SessionControl::Signal),
        other => {
            debug!(command = other, "ignoring unknown exec control command");
            None
        }
    }
}

#[cfg(test)]
pub(super) mod tests;
