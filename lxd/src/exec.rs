//! Running commands in instances (`POST /1.0/instances/{name}/exec` + operation websockets).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_channel::mpsc as fmpsc;
use futures_util::{Sink, SinkExt, Stream, StreamExt as _};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::client::{Client, Reply, Req, api_path};
use super::error::{LxdError, Result};
use super::operations::Operation;
use super::websocket::{self, Outgoing, Pump};

/// Output chunks buffered per stream before the command is slowed down.
const OUTPUT_BUFFER: usize = 64;

/// A command to run.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// Run on a pty (one combined output stream, window size, resize). LXD 5.0 may drop pty
    /// output written right before the command exits.
    pub interactive: bool,
    /// Terminal width (interactive).
    pub width: u32,
    /// Terminal height (interactive).
    pub height: u32,
    /// User id (extension `container_exec_user_group_cwd`; None: root).
    pub user: Option<u32>,
    /// Group id.
    pub group: Option<u32>,
    /// Working directory.
    pub cwd: Option<String>,
}

impl ExecRequest {
    /// A non-interactive command.
    pub fn new<I, S>(command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { command: command.into_iter().map(Into::into).collect(), ..Self::default() }
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.environment.insert(key.into(), value.into());
        self
    }

    /// Runs as this uid/gid.
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.user = Some(uid);
        self.group = Some(gid);
        self
    }

    /// Runs in this directory.
    pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Runs on a pty of this size.
    pub fn pty(mut self, width: u32, height: u32) -> Self {
        self.interactive = true;
        self.width = width;
        self.height = height;
        self
    }
}

#[derive(Serialize)]
struct ExecPost<'a> {
    command: &'a [String],
    environment: &'a BTreeMap<String, String>,
    #[serde(rename = "wait-for-websocket")]
    wait_for_websocket: bool,
    #[serde(rename = "record-output")]
    record_output: bool,
    interactive: bool,
    width: u32,
    height: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cwd: Option<&'a str>,
}

/// A running command. Read its output while it runs (output is flow-controlled), then
/// [`ExecSession::wait`] for the exit code.
pub struct ExecSession {
    client: Client,
    operation: String,
    stdin: Option<ExecStdin>,
    stdout: Option<OutputStream>,
    stderr: Option<OutputStream>,
    control: ControlSender,
}

/// The command's standard input: a `Sink` of bytes. Closing (or dropping) it is end-of-file.
pub struct ExecStdin {
    tx: fmpsc::Sender<Outgoing>,
}

/// One output stream (stdout, stderr, or the pty): a `Stream` of byte chunks that ends when
/// the command closes it.
pub struct OutputStream {
    rx: mpsc::Receiver<Result<Bytes>>,
}

/// Out-of-band control of a running command: window size and signals.
#[derive(Clone)]
pub struct ControlSender {
    tx: fmpsc::Sender<Outgoing>,
}

/// Collected result of [`Client::exec_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    /// Exit code (128+n when killed by signal n).
    pub exit_code: i32,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

impl Client {
    /// Starts a command and connects its websockets.
    pub async fn exec(&self, instance: &str, request: &ExecRequest) -> Result<ExecSession> {
        if request.command.is_empty() {
            return Err(LxdError::Invalid("exec: empty command".into()));
        }
        if request.user.is_some() || request.group.is_some() || request.cwd.is_some() {
            self.require_extension("container_exec_user_group_cwd", "exec as a user or in a directory")
                .await?;
        }
        let body = ExecPost {
            command: &request.command,
            environment: &request.environment,
            wait_for_websocket: true,
            record_output: false,
            interactive: request.interactive,
            width: request.width,
            height: request.height,
            user: request.user,
            group: request.group,
            cwd: request.cwd.as_deref(),
        };
        let req = Req::post(api_path(&["instances", instance, "exec"])).json(&body)?;
        let op = match self.call(req).await? {
            Reply::Async(op) => op,
            Reply::Sync { .. } => return Err(LxdError::Decode("exec: expected an operation".into())),
        };
        let secret = |fd: &str| -> Result<String> {
            op.metadata
                .get("fds")
                .and_then(|fds| fds.get(fd))
                .and_then(|s| s.as_str())
                .map(str::to_owned)
                .ok_or_else(|| LxdError::Decode(format!("exec: no websocket secret for fd {fd}")))
        };
        let socket = |fd: &str| -> Result<Req> {
            Ok(Req::get(api_path(&["operations", &op.id, "websocket"])).query("secret", secret(fd)?))
        };

        let (control_tx, control_rx) = fmpsc::channel(8);
        let (stdin_tx, stdin_rx) = fmpsc::channel(16);
        let (stdout_tx, stdout_rx) = mpsc::channel(OUTPUT_BUFFER);
        let control_pump = Pump {
            label: "control",
            input: Some(control_rx),
            barrier_on_input_end: false,
            output: None,
            text_is_eof: false,
            close_when_unread: false,
            answer_pings: true,
        };
        let mut stderr = None;
        if request.interactive {
            let control = self.websocket(socket("control")?).await?;
            let pty = self.websocket(socket("0")?).await?;
            websocket::spawn(control, control_pump);
            websocket::spawn(
                pty,
                Pump {
                    label: "pty",
                    input: Some(stdin_rx),
                    barrier_on_input_end: true,
                    output: Some(stdout_tx),
                    text_is_eof: true,
                    close_when_unread: false,
                    answer_pings: true,
                },
            );
        } else {
            let (stderr_tx, stderr_rx) = mpsc::channel(OUTPUT_BUFFER);
            // One after the other, control first, as LXD's own client does: with concurrent
            // connects LXD 5.0 sometimes loses the output of short commands.
            let control = self.websocket(socket("control")?).await?;
            let fd0 = self.websocket(socket("0")?).await?;
            let fd1 = self.websocket(socket("1")?).await?;
            let fd2 = self.websocket(socket("2")?).await?;
            websocket::spawn(control, control_pump);
            websocket::spawn(
                fd0,
                Pump {
                    label: "stdin",
                    input: Some(stdin_rx),
                    barrier_on_input_end: true,
                    output: None,
                    text_is_eof: true,
                    close_when_unread: false,
                    answer_pings: true,
                },
            );
            for (label, ws, tx) in [("stdout", fd1, stdout_tx), ("stderr", fd2, stderr_tx)] {
                websocket::spawn(
                    ws,
                    Pump {
                        label,
                        input: None,
                        barrier_on_input_end: false,
                        output: Some(tx),
                        text_is_eof: true,
                        close_when_unread: false,
                        answer_pings: false,
                    },
                );
            }
            stderr = Some(OutputStream { rx: stderr_rx });
        }
        Ok(ExecSession {
            client: self.clone(),
            operation: op.id,
            stdin: Some(ExecStdin { tx: stdin_tx }),
            stdout: Some(OutputStream { rx: stdout_rx }),
            stderr,
            control: ControlSender { tx: control_tx },
        })
    }

    /// Runs a command without input and collects its exit code, stdout and stderr.
    pub async fn exec_output(&self, instance: &str, request: &ExecRequest) -> Result<ExecResult> {
        let mut request = request.clone();
        request.interactive = false;
        let mut session = self.exec(instance, &request).await?;
        if let Some(stdin) = session.take_stdin() {
            stdin.close().await?;
        }
        let stdout = session.take_stdout().map(OutputStream::read_to_end);
        let stderr = session.take_stderr().map(OutputStream::read_to_end);
        let (stdout, stderr) = futures_util::join!(
            async move { if let Some(f) = stdout { f.await } else { Ok(Vec::new()) } },
            async move { if let Some(f) = stderr { f.await } else { Ok(Vec::new()) } },
        );
        let exit_code = session.wait().await?;
        Ok(ExecResult { exit_code, stdout: stdout?, stderr: stderr? })
    }
}

impl ExecSession {
    /// The operation id.
    pub fn operation_id(&self) -> &str {
        &self.operation
    }

    /// Standard input (once).
    pub fn take_stdin(&mut self) -> Option<ExecStdin> {
        self.stdin.take()
    }

    /// Standard output, or the pty output when interactive (once).
    pub fn take_stdout(&mut self) -> Option<OutputStream> {
        self.stdout.take()
    }

    /// Standard error (once; None when interactive).
    pub fn take_stderr(&mut self) -> Option<OutputStream> {
        self.stderr.take()
    }

    /// Control handle (window size, signals).
    pub fn control(&self) -> ControlSender {
        self.control.clone()
    }

    /// Waits for the command to end and returns its exit code. Streams not taken are dropped
    /// first (their output is discarded). A missing command gives 127 and a command that
    /// cannot be executed 126, as in a shell.
    pub async fn wait(mut self) -> Result<i32> {
        self.stdin = None;
        self.stdout = None;
        self.stderr = None;
        match self.client.wait_operation(&self.operation).await {
            Ok(op) => exit_code(&op),
            Err(LxdError::OperationFailed { message }) if message == "Command not found" => Ok(127),
            Err(LxdError::OperationFailed { message }) if message == "Command not executable" => Ok(126),
            Err(e) => Err(e),
        }
    }
}

/// The `return` value of a finished exec operation.
fn exit_code(op: &Operation) -> Result<i32> {
    op.metadata
        .get("return")
        .and_then(|v| v.as_i64())
        .map(|code| code as i32)
        .ok_or_else(|| LxdError::Decode("exec: operation has no return code".into()))
}

impl ExecStdin {
    /// Writes bytes.
    pub async fn write(&mut self, data: impl Into<Bytes>) -> Result<()> {
        self.send(data.into()).await
    }

    /// Ends the input (end-of-file for the command).
    pub async fn close(mut self) -> Result<()> {
        SinkExt::close(&mut self).await
    }
}

fn session_ended<E>(_: E) -> LxdError {
    LxdError::Websocket("exec session has ended".into())
}

impl Sink<Bytes> for ExecStdin {
    type Error = LxdError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.tx.poll_ready(cx).map_err(session_ended)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Bytes) -> Result<()> {
        self.tx.start_send(Outgoing::Binary(item)).map_err(session_ended)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.tx).poll_flush(cx).map_err(session_ended)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.tx).poll_close(cx).map_err(session_ended)
    }
}

impl OutputStream {
    /// Reads the stream to its end.
    pub async fn read_to_end(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }
}

impl Stream for OutputStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl ControlSender {
    /// Resizes the pty.
    pub async fn resize(&self, width: u32, height: u32) -> Result<()> {
        self.send(window_resize(width, height)).await
    }

    /// Sends a signal (e.g. 15 for SIGTERM) to the command.
    pub async fn signal(&self, signal: i32) -> Result<()> {
        self.send(json!({ "command": "signal", "signal": signal }).to_string()).await
    }

    async fn send(&self, message: String) -> Result<()> {
        self.tx.clone().send(Outgoing::Text(message)).await.map_err(session_ended)
    }
}

/// LXD's `InstanceExecControl` window-resize message (sizes are strings).
fn window_resize(width: u32, height: u32) -> String {
    json!({ "command": "window-resize", "args": { "width": width.to_string(), "height": height.to_string() } }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages() {
        let resize: serde_json::Value = serde_json::from_str(&window_resize(80, 24)).unwrap();
        assert_eq!(resize, json!({"command": "window-resize", "args": {"width": "80", "height": "24"}}));
    }

    #[test]
    fn exec_body() {
        let req = ExecRequest::new(["id", "-u"]).env("A", "1").user(1000, 1000).cwd("/tmp");
        let body = ExecPost {
            command: &req.command,
            environment: &req.environment,
            wait_for_websocket: true,
            record_output: false,
            interactive: false,
            width: 0,
            height: 0,
            user: req.user,
            group: req.group,
            cwd: req.cwd.as_deref(),
        };
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(value["wait-for-websocket"], true);
        assert_eq!(value["user"], 1000);
        assert_eq!(value["cwd"], "/tmp");
        let plain = ExecRequest::new(["true"]);
        let body = ExecPost { user: plain.user, group: None, cwd: None, ..body };
        let value = serde_json::to_value(&body).unwrap();
        assert!(value.get("user").is_none() && value.get("cwd").is_none());
    }

    #[test]
    fn return_code() {
        let op: Operation =
            serde_json::from_str(r#"{"id":"x","status_code":200,"metadata":{"return":130}}"#).unwrap();
        assert_eq!(exit_code(&op).unwrap(), 130);
        let op: Operation = serde_json::from_str(r#"{"id":"x","status_code":200,"metadata":{}}"#).unwrap();
        assert!(exit_code(&op).is_err());
    }
}
