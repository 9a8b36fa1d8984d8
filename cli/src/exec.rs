//! Exec sessions: the websockets of an exec task and the exit code of its change.
//!
//! Protocol (`/v1/tasks/{task-id}/websocket/{control|stdio|stdout|stderr}`): data travels in
//! binary messages; an empty text message marks the end of a stream (stdin EOF from the client,
//! end of output from the daemon); the control socket carries [`ExecControl`] JSON text messages.

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread;
use std::time::Duration;

use tungstenite::handshake::HandshakeError;
use tungstenite::{Message, WebSocket};
use workshop_api::exec::{ExecControl, WS_CONTROL, WS_STDERR, WS_STDIO, WS_STDOUT};
use workshop_api::{ChangeInfo, Envelope, paths};

use crate::client::{Client, ClientError};

/// How long a pump blocks in a read before it looks at its outgoing queue.
const POLL: Duration = Duration::from_millis(15);

/// A websocket of an exec task over the daemon's socket.
pub type ExecSocket = WebSocket<UnixStream>;

/// A message for the daemon on one exec websocket.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// Bytes of standard input.
    Data(Vec<u8>),
    /// End of standard input.
    Eof,
    /// A control message (signal, window size).
    Control(ExecControl),
    /// Not a message: answered once everything queued before it is written to the socket.
    Flush(Sender<()>),
}

/// Why an exec change did not give an exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExitCodeError {
    /// The change failed; the text is the change's error.
    #[error("{0}")]
    ChangeFailed(String),
    #[error("expected exec change to contain an exec task")]
    NoExecTask,
    #[error("cannot get exit code: {0}")]
    NoExitCode(String),
    /// The change was aborted before the command ended (`POST /v1/changes/{id}` abort).
    #[error("cannot exec command: its change {0} was aborted")]
    Aborted(String),
}

/// The exit code of the command run by an exec change that is ready.
pub fn exit_code(change: &ChangeInfo) -> Result<i32, ExitCodeError> {
    if let Some(err) = change.err.as_deref().filter(|e| !e.is_empty()) {
        return Err(ExitCodeError::ChangeFailed(err.to_string()));
    }
    let task = change.tasks.iter().find(|t| t.kind == "exec").ok_or(ExitCodeError::NoExecTask)?;
    if task.data.get("exit-code").is_none() && matches!(task.status.as_str(), "Hold" | "Undone" | "Abort") {
        return Err(ExitCodeError::Aborted(change.id.clone()));
    }
    let code = task
        .data
        .get("exit-code")
        .ok_or_else(|| ExitCodeError::NoExitCode("no \"exit-code\" in task data".into()))?;
    code.as_i64()
        .and_then(|c| i32::try_from(c).ok())
        .ok_or_else(|| ExitCodeError::NoExitCode(format!("invalid exit code {code}")))
}

/// One websocket served by its own thread: it sends what is queued and copies what arrives
/// to a sink, until the stream ends.
#[derive(Debug)]
pub struct Pump {
    tx: Sender<Outgoing>,
    finished: Receiver<Result<(), String>>,
}

impl Pump {
    /// Starts serving `ws`; received data goes to `sink` (dropped when `None`).
    pub fn spawn(ws: ExecSocket, sink: Option<Box<dyn Write + Send>>) -> io::Result<Self> {
        ws.get_ref().set_read_timeout(Some(POLL))?;
        let (tx, rx) = mpsc::channel();
        let (done_tx, finished) = mpsc::channel();
        thread::Builder::new().name("exec-ws".into()).spawn(move || {
            let _ = done_tx.send(pump(ws, sink, rx));
        })?;
        Ok(Self { tx, finished })
    }

    /// Queues a message for the daemon; false when the stream is gone.
    pub fn send(&self, message: Outgoing) -> bool {
        self.tx.send(message).is_ok()
    }

    /// A handle to queue messages from another thread.
    pub fn sender(&self) -> Sender<Outgoing> {
        self.tx.clone()
    }

    /// Waits up to `timeout` for the stream to end; `None` if it is still open.
    pub fn wait(&self, timeout: Duration) -> Option<Result<(), String>> {
        match self.finished.recv_timeout(timeout) {
            Ok(result) => Some(result),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Ok(())),
        }
    }
}

/// The websocket message for `out`; `Err` hands back a flush request's answer channel.
fn to_message(out: Outgoing) -> Result<Message, Sender<()>> {
    Ok(match out {
        Outgoing::Data(bytes) => Message::Binary(bytes.into()),
        Outgoing::Eof => Message::Text(String::new().into()),
        Outgoing::Control(control) => {
            Message::Text(serde_json::to_string(&control).unwrap_or_else(|_| "{}".into()).into())
        }
        Outgoing::Flush(done) => return Err(done),
    })
}

/// Sends `out`; a flush request is answered once the socket has everything before it.
fn send(ws: &mut ExecSocket, out: Outgoing) -> Result<(), String> {
    match to_message(out) {
        Ok(message) => ws.send(message).map_err(|e| e.to_string()),
        Err(done) => {
            ws.flush().map_err(|e| e.to_string())?;
            let _ = done.send(());
            Ok(())
        }
    }
}

fn pump(
    mut ws: ExecSocket,
    mut sink: Option<Box<dyn Write + Send>>,
    rx: Receiver<Outgoing>,
) -> Result<(), String> {
    let ws_err = |e: tungstenite::Error| e.to_string();
    // Whoever read the command's output is gone (`workshop exec -- yes | head -1`): the
    // daemon hangs up on the command once we are.
    let io_text = |e: io::Error| {
        crate::output::exit_if_broken_pipe(&e);
        e.to_string()
    };
    let mut queue_open = true;
    loop {
        while queue_open {
            match rx.try_recv() {
                Ok(out) => send(&mut ws, out)?,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => queue_open = false,
            }
        }
        match ws.read() {
            Ok(Message::Binary(bytes)) => {
                if let Some(out) = sink.as_mut() {
                    out.write_all(&bytes).map_err(io_text)?;
                    out.flush().map_err(io_text)?;
                }
            }
            Ok(Message::Text(text)) if text.is_empty() => {
                if sink.is_some() {
                    return Ok(());
                }
            }
            Ok(Message::Text(text)) => {
                if let Some(out) = sink.as_mut() {
                    out.write_all(text.as_bytes()).map_err(io_text)?;
                    out.flush().map_err(io_text)?;
                }
            }
            Ok(Message::Close(_)) => return Ok(()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => return Ok(()),
            Err(e) => return Err(ws_err(e)),
        }
    }
}

/// The websockets of one exec task.
#[derive(Debug)]
pub struct ExecStreams {
    /// Signals and window sizes.
    pub control: Pump,
    /// Standard input; also the output in interactive mode.
    pub stdio: Pump,
    /// Standard output (non-interactive mode only).
    pub stdout: Option<Pump>,
    /// Standard error (non-interactive mode only).
    pub stderr: Option<Pump>,
}

impl ExecStreams {
    /// Waits up to `timeout` for every output stream to end.
    pub fn wait_output(&self, timeout: Duration) {
        let outputs: Vec<&Pump> = match (&self.stdout, &self.stderr) {
            (Some(out), Some(err)) => vec![out, err],
            _ => vec![&self.stdio],
        };
        let deadline = std::time::Instant::now() + timeout;
        for pump in outputs {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            pump.wait(left);
        }
    }
}

impl Client {
    /// Opens the websocket `stream` (`control`, `stdio`, `stdout` or `stderr`) of exec task `task`.
    pub fn exec_websocket(&self, task: &str, stream: &str) -> Result<ExecSocket, ClientError> {
        let socket = self.connect()?;
        let fail =
            |reason: String| ClientError::Websocket { task: task.into(), stream: stream.into(), reason };
        let url = format!("ws://localhost{}", paths::task_websocket(task, stream));
        match tungstenite::client::client(url, socket) {
            Ok((ws, _)) => Ok(ws),
            Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                let envelope =
                    response.body().as_deref().and_then(|b| serde_json::from_slice::<Envelope>(b).ok());
                match envelope.and_then(|e| e.error()) {
                    Some(error) => Err(fail(error.message)),
                    None => Err(fail(format!("unexpected status {}", response.status()))),
                }
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// Connects every websocket of exec task `task`. Output goes to `stdout` and `stderr`
    /// (interactive sessions get their combined output on `stdio`, written to `stdout`).
    pub fn open_exec_streams(
        &self,
        task: &str,
        interactive: bool,
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
    ) -> Result<ExecStreams, ClientError> {
        let spawn = |stream: &str, sink: Option<Box<dyn Write + Send>>| -> Result<Pump, ClientError> {
            let ws = self.exec_websocket(task, stream)?;
            Pump::spawn(ws, sink).map_err(|e| ClientError::Websocket {
                task: task.into(),
                stream: stream.into(),
                reason: e.to_string(),
            })
        };
        let control = spawn(WS_CONTROL, None)?;
        if interactive {
            let stdio = spawn(WS_STDIO, Some(stdout))?;
            return Ok(ExecStreams { control, stdio, stdout: None, stderr: None });
        }
        let stdio = spawn(WS_STDIO, None)?;
        let out = spawn(WS_STDOUT, Some(stdout))?;
        let err = spawn(WS_STDERR, Some(stderr))?;
        Ok(ExecStreams { control, stdio, stdout: Some(out), stderr: Some(err) })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use super::*;

    fn change(err: Option<&str>, tasks: serde_json::Value) -> ChangeInfo {
        serde_json::from_value(json!({
            "id": "1", "kind": "exec", "summary": "s", "status": "Done", "ready": true,
            "spawn-time": "2024-05-01T10:00:00Z", "err": err, "tasks": tasks,
        }))
        .unwrap()
    }

    #[test]
    fn exit_code_from_exec_task() {
        let task = |kind: &str, data: serde_json::Value| json!({"id": "2", "kind": kind, "summary": "t", "status": "Done", "spawn-time": "2024-05-01T10:00:00Z", "data": data});
        let ok = change(
            None,
            json!([task("install-action", json!(null)), task("exec", json!({"exit-code": 125}))]),
        );
        assert_eq!(exit_code(&ok), Ok(125));
        let failed = change(Some("cannot perform the following tasks:\n- x (boom)"), json!([]));
        assert_eq!(
            exit_code(&failed).unwrap_err().to_string(),
            "cannot perform the following tasks:\n- x (boom)"
        );
        assert_eq!(exit_code(&change(None, json!([]))), Err(ExitCodeError::NoExecTask));
        assert!(matches!(
            exit_code(&change(None, json!([task("exec", json!({}))]))),
            Err(ExitCodeError::NoExitCode(_))
        ));
        // Aborted before the command ended: said so.
        let mut held = task("exec", json!({}));
        held["status"] = json!("Hold");
        assert_eq!(
            exit_code(&change(None, json!([held]))).unwrap_err().to_string(),
            "cannot exec command: its change 1 was aborted"
        );
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn pumps_copy_output_and_send_stdin_with_eof() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("workshop.socket");
        let listener = UnixListener::bind(&path).unwrap();
        let server = thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..2 {
                let (stream, _) = listener.accept().unwrap();
                let mut uri = String::new();
                let mut ws =
                    tungstenite::accept_hdr(stream, |req: &tungstenite::handshake::server::Request, resp| {
                        uri = req.uri().to_string();
                        Ok(resp)
                    })
                    .unwrap();
                if uri.ends_with("/stdout") {
                    ws.send(Message::Binary(b"hello ".to_vec().into())).unwrap();
                    ws.send(Message::Binary(b"world".to_vec().into())).unwrap();
                    ws.send(Message::Text(String::new().into())).unwrap();
                } else {
                    loop {
                        match ws.read().unwrap() {
                            Message::Text(t) if t.is_empty() => break,
                            Message::Binary(b) => seen.extend_from_slice(&b),
                            _ => {}
                        }
                    }
                }
                seen.extend_from_slice(format!("|{uri}").as_bytes());
            }
            String::from_utf8(seen).unwrap()
        });
        let client = Client::new(&path);
        let out = Shared::default();
        let stdout =
            Pump::spawn(client.exec_websocket("12", "stdout").unwrap(), Some(Box::new(out.clone()))).unwrap();
        assert_eq!(stdout.wait(Duration::from_secs(5)), Some(Ok(())));
        assert_eq!(out.0.lock().unwrap().as_slice(), b"hello world");

        let stdio = Pump::spawn(client.exec_websocket("12", "stdio").unwrap(), None).unwrap();
        assert!(stdio.send(Outgoing::Data(b"input".to_vec())));
        assert!(stdio.send(Outgoing::Eof));
        let seen = server.join().unwrap();
        assert_eq!(seen, "|/v1/tasks/12/websocket/stdoutinput|/v1/tasks/12/websocket/stdio");
    }

    #[test]
    fn control_messages_are_json_text() {
        let msg = to_message(Outgoing::Control(ExecControl::signal(10))).unwrap();
        assert_eq!(msg, Message::Text(r#"{"command":"signal","signal":10}"#.into()));
        let msg = to_message(Outgoing::Control(ExecControl::resize(80, 25))).unwrap();
        assert_eq!(
            msg,
            Message::Text(r#"{"command":"window-resize","args":{"height":"25","width":"80"}}"#.into())
        );
    }
}
