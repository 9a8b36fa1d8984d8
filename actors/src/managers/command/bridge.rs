//! The bridge between a running command ([`ExecSession`]) and the websockets of its exec task:
//! input and control messages in, output out, until the command exits or times out.

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{self, Either};
use tokio::sync::mpsc;

use super::cache::{Inbound, SessionEnds};
use crate::backend::{BackendError, ExecSession, SessionControl};

/// How long a command has to end after SIGTERM before it gets SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Why the bridge ended without an exit code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BridgeError {
    /// The reference's wording (Go's context error).
    #[error("timed out after {}: context deadline exceeded", workshop_api::duration::format(*.0))]
    TimedOut(Duration),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Kills the command when dropped while armed: SIGTERM at once (the user switch and the login
/// shell exec the command in place, so it gets the signal itself), then SIGKILL after a grace
/// period. Covers timeouts and aborted tasks. A control queue full of the client's messages
/// delays the SIGTERM until there is room.
struct Killer {
    control: mpsc::Sender<SessionControl>,
    armed: bool,
}

impl Drop for Killer {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let queued = match self.control.try_send(SessionControl::Signal(libc::SIGTERM)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => false,
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        };
        let control = self.control.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if !queued && control.send(SessionControl::Signal(libc::SIGTERM)).await.is_err() {
                    return;
                }
                tokio::time::sleep(KILL_GRACE).await;
                let _ = control.send(SessionControl::Signal(libc::SIGKILL)).await;
            });
        }
    }
}

/// Runs the session to its end: returns the command's exit code. The websockets end when
/// this returns (their daemon ends are dropped).
pub async fn bridge(
    session: ExecSession,
    ends: SessionEnds,
    interactive: bool,
    timeout: Option<Duration>,
) -> Result<i32, BridgeError> {
    let ExecSession { stdin, stdout, stderr, control, exit } = session;
    let mut killer = Killer { control: control.clone(), armed: true };
    let SessionEnds { control: control_ws, stdio, stdout: stdout_ws, stderr: stderr_ws } = ends;
    let out_ws = if interactive { stdio.outbound } else { stdout_ws.outbound };

    // Ends when the client is gone: its control websocket closed (it has no end of its own;
    // one never attached stays open), and its input ended.
    let hang_up = control.clone();
    let inputs = async {
        future::join(
            pump_stdin(stdio.inbound, stdin, interactive),
            pump_control(control_ws.inbound, control),
        )
        .await;
    };
    let finished = async {
        let (code, (), ()) = futures_util::join!(
            exit,
            pump_output(stdout, out_ws),
            pump_output_opt(stderr, stderr_ws.outbound)
        );
        code
    };
    let run = async {
        futures_util::pin_mut!(inputs, finished);
        match future::select(finished, inputs).await {
            Either::Left((code, _)) => code,
            // No one is left to read or signal the command: it is hung up on, as a terminal's
            // command is when the terminal goes. One that ignores SIGHUP (`nohup`) runs on,
            // its output dropped.
            Either::Right(((), finished)) => {
                let _ = hang_up.send(SessionControl::Signal(libc::SIGHUP)).await;
                finished.await
            }
        }
    };
    let code = match timeout {
        Some(limit) => tokio::time::timeout(limit, run).await.map_err(|_| BridgeError::TimedOut(limit))?,
        None => run.await,
    };
    let code = code.map_err(|_| BackendError::Lxd("the command ended without an exit status".into()))??;
    killer.armed = false;
    Ok(code)
}

/// The terminal's end-of-file character (Ctrl-D).
const EOT: &[u8] = b"\x04";
/// The end of an input whose last line has no newline.
const EOT_AFTER_OPEN_LINE: &[u8] = b"\x04\x04";
/// After the end of a terminal session's input, Ctrl-D is typed again after this long, then
/// after twice as long each time, up to [`EOT_AGAIN_MAX`], while the command runs.
const EOT_AGAIN_FIRST: Duration = Duration::from_millis(100);
const EOT_AGAIN_MAX: Duration = Duration::from_secs(5);

/// Copies the client's input to the command; end of input closes the command's standard
/// input. Not on a terminal: closing it would hang up the session (SIGHUP), possibly before
/// the command has run. There, the end of input is typed as Ctrl-D (a forced-interactive
/// session fed from a pipe or `/dev/null`), which ends the input of a command reading lines,
/// as `script` does; twice after a last line without its newline (the first only hands the
/// line over). It is typed again while the command runs: one typed before the command put the
/// terminal in raw mode (a shell's line editor) reaches it as a NUL, and a command that reads
/// again after the end finds it ended again, as it would reading a pipe. A vanished client
/// closes the input either way.
async fn pump_stdin(mut inbound: mpsc::Receiver<Inbound>, stdin: mpsc::Sender<Bytes>, pty: bool) {
    let mut open_line = false;
    // Set once a terminal session's input ended: how long until Ctrl-D is typed again.
    let mut again: Option<Duration> = None;
    loop {
        let message = match again {
            None => inbound.recv().await,
            Some(wait) => match tokio::time::timeout(wait, inbound.recv()).await {
                Ok(message) => message,
                Err(_) => {
                    if stdin.send(Bytes::from_static(EOT)).await.is_err() {
                        return;
                    }
                    again = Some((wait * 2).min(EOT_AGAIN_MAX));
                    continue;
                }
            },
        };
        let Some(message) = message else { return };
        match message {
            Inbound::Data(bytes) => {
                again = None;
                if let Some(last) = bytes.last() {
                    open_line = *last != b'\n';
                }
                if stdin.send(bytes).await.is_err() {
                    return;
                }
            }
            Inbound::Eof if pty => {
                let eof = if std::mem::take(&mut open_line) { EOT_AFTER_OPEN_LINE } else { EOT };
                if stdin.send(Bytes::from_static(eof)).await.is_err() {
                    return;
                }
                again = Some(EOT_AGAIN_FIRST);
            }
            Inbound::Eof => return,
            Inbound::Control(_) => {}
        }
    }
}

/// Relays control messages (signals, window sizes) to the command.
async fn pump_control(mut inbound: mpsc::Receiver<Inbound>, control: mpsc::Sender<SessionControl>) {
    while let Some(message) = inbound.recv().await {
        if let Inbound::Control(c) = message
            && control.send(c).await.is_err()
        {
            return;
        }
    }
}

/// Copies one output stream to its websocket. A client that went away does not stall the
/// command: the rest is read and dropped.
async fn pump_output(mut output: mpsc::Receiver<Bytes>, mut ws: Option<mpsc::Sender<Bytes>>) {
    while let Some(bytes) = output.recv().await {
        if let Some(tx) = &ws
            && tx.send(bytes).await.is_err()
        {
            ws = None;
        }
    }
}

async fn pump_output_opt(output: Option<mpsc::Receiver<Bytes>>, ws: Option<mpsc::Sender<Bytes>>) {
    if let Some(output) = output {
        pump_output(output, ws).await;
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;
    use workshop_api::exec::{WS_STDERR, WS_STDIO, WS_STDOUT};

    use super::*;
    use crate::managers::command::args::ExecArgs;
    use crate::managers::command::cache::ExecCache;

    /// A hand-driven session: the test plays the command.
    struct Command {
        stdin: mpsc::Receiver<Bytes>,
        stdout: mpsc::Sender<Bytes>,
        stderr: mpsc::Sender<Bytes>,
        control: mpsc::Receiver<SessionControl>,
        exit: oneshot::Sender<Result<i32, BackendError>>,
    }

    fn session() -> (ExecSession, Command) {
        let (stdin_tx, stdin) = mpsc::channel(4);
        let (stdout, stdout_rx) = mpsc::channel(4);
        let (stderr, stderr_rx) = mpsc::channel(4);
        let (control_tx, control) = mpsc::channel(crate::backend::CONTROL_BUFFER);
        let (exit, exit_rx) = oneshot::channel();
        let session = ExecSession {
            stdin: stdin_tx,
            stdout: stdout_rx,
            stderr: Some(stderr_rx),
            control: control_tx,
            exit: exit_rx,
        };
        (session, Command { stdin, stdout, stderr, control, exit })
    }

    fn cache(interactive: bool) -> ExecCache {
        let req = workshop_api::exec::ExecRequest {
            command: vec!["cat".into()],
            interactive,
            ..Default::default()
        };
        let cache = ExecCache::default();
        cache.insert(&"1".to_string(), 1000, ExecArgs::from_request(&req).unwrap());
        cache
    }

    #[tokio::test]
    async fn input_output_and_exit_code_flow_through() {
        let cache = cache(false);
        let stdio = cache.attach("1", WS_STDIO, 1000).unwrap();
        let mut stdout = cache.attach("1", WS_STDOUT, 1000).unwrap().outbound.unwrap();
        let mut stderr = cache.attach("1", WS_STDERR, 1000).unwrap().outbound.unwrap();
        let ends = cache.take_session_ends("1").unwrap();
        let (session, mut cmd) = session();
        let bridged = tokio::spawn(bridge(session, ends, false, None));

        stdio.inbound.send(Inbound::Data(Bytes::from_static(b"ping"))).await.unwrap();
        assert_eq!(cmd.stdin.recv().await.unwrap(), "ping");
        stdio.inbound.send(Inbound::Eof).await.unwrap();
        assert_eq!(cmd.stdin.recv().await, None);
        cmd.stdout.send(Bytes::from_static(b"out")).await.unwrap();
        cmd.stderr.send(Bytes::from_static(b"err")).await.unwrap();
        assert_eq!(stdout.recv().await.unwrap(), "out");
        assert_eq!(stderr.recv().await.unwrap(), "err");
        drop((cmd.stdout, cmd.stderr));
        cmd.exit.send(Ok(125)).unwrap();
        assert_eq!(bridged.await.unwrap().unwrap(), 125);
        assert_eq!(stdout.recv().await, None, "the stream ends with the command");
        assert!(stdio.inbound.is_closed());
        assert_eq!(
            cmd.control.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected),
            "no kill after exit"
        );
    }

    #[tokio::test]
    async fn a_client_faster_than_the_command_waits_for_it() {
        let cache = cache(false);
        let stdio = cache.attach("1", WS_STDIO, 1000).unwrap();
        let _stdout = cache.attach("1", WS_STDOUT, 1000).unwrap();
        let _stderr = cache.attach("1", WS_STDERR, 1000).unwrap();
        let ends = cache.take_session_ends("1").unwrap();
        let (session, mut cmd) = session();
        let command_buffer = cmd.stdin.max_capacity();
        let bridged = tokio::spawn(bridge(session, ends, false, None));

        // The command reads nothing: the client gets ahead only by what the queues hold (the
        // websocket's, the command's, and the one chunk the bridge is handing over).
        let chunk = Bytes::from(vec![b'x'; 1024]);
        let mut accepted = 0;
        while accepted < 1000 {
            let send = stdio.inbound.send(Inbound::Data(chunk.clone()));
            match tokio::time::timeout(Duration::from_millis(100), send).await {
                Ok(sent) => sent.unwrap(),
                Err(_) => break,
            }
            accepted += 1;
        }
        let bound = crate::managers::command::cache::INBOUND_BUFFER + command_buffer + 1;
        assert!(accepted <= bound, "{accepted} chunks held for a command that reads nothing");
        assert!(accepted >= crate::managers::command::cache::INBOUND_BUFFER, "{accepted}");

        // Once the command reads, everything arrives, in order and whole.
        let total = accepted + 20;
        let client = tokio::spawn(async move {
            for _ in accepted..total {
                stdio.inbound.send(Inbound::Data(chunk.clone())).await.unwrap();
            }
            stdio.inbound.send(Inbound::Eof).await.unwrap();
        });
        let mut received = 0;
        while let Some(bytes) = cmd.stdin.recv().await {
            received += bytes.len();
        }
        assert_eq!(received, total * 1024);
        client.await.unwrap();
        drop((cmd.stdout, cmd.stderr));
        cmd.exit.send(Ok(0)).unwrap();
        assert_eq!(bridged.await.unwrap().unwrap(), 0);
    }

    #[tokio::test]
    async fn a_timeout_kills_the_command() {
        let cache = cache(true);
        let stdio = cache.attach("1", WS_STDIO, 1000).unwrap();
        let ends = cache.take_session_ends("1").unwrap();
        let (session, mut cmd) = session();
        let started = tokio::time::Instant::now();
        let err = bridge(session, ends, true, Some(Duration::from_millis(100))).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(err.to_string(), "timed out after 100ms: context deadline exceeded");
        assert_eq!(cmd.control.recv().await, Some(SessionControl::Signal(libc::SIGTERM)));
        assert!(stdio.inbound.is_closed());
        let _ = cmd.exit.send(Ok(0));
    }

    #[tokio::test]
    async fn a_client_gone_hangs_up_on_the_command() {
        let cache = cache(false);
        let control = cache.attach("1", "control", 1000).unwrap();
        let stdio = cache.attach("1", WS_STDIO, 1000).unwrap();
        let _streams =
            (cache.attach("1", WS_STDOUT, 1000).unwrap(), cache.attach("1", WS_STDERR, 1000).unwrap());
        let ends = cache.take_session_ends("1").unwrap();
        let (session, mut cmd) = session();
        let bridged = tokio::spawn(bridge(session, ends, false, None));
        // Input ended: the command runs on while the client is there.
        stdio.inbound.send(Inbound::Eof).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(cmd.control.try_recv().is_err(), "nothing sent while the client is there");
        drop((control, stdio));
        assert_eq!(cmd.control.recv().await, Some(SessionControl::Signal(libc::SIGHUP)));
        // A command that ignores it runs on, and is not killed.
        tokio::time::sleep(KILL_GRACE + Duration::from_millis(500)).await;
        assert!(cmd.control.try_recv().is_err(), "nothing more is sent");
        drop((cmd.stdout, cmd.stderr));
        cmd.exit.send(Ok(129)).unwrap();
        assert_eq!(bridged.await.unwrap().unwrap(), 129);
    }

    #[tokio::test]
    async fn control_messages_reach_the_command_and_a_lost_client_does_not_stall_it() {
        let cache = cache(true);
        let control = cache.attach("1", "control", 1000).unwrap();
        let stdio = cache.attach("1", WS_STDIO, 1000).unwrap();
        let ends = cache.take_session_ends("1").unwrap();
        let (session, mut cmd) = session();
        let bridged = tokio::spawn(bridge(session, ends, true, None));
        control
            .inbound
            .send(Inbound::Control(SessionControl::Resize { width: 100, height: 30 }))
            .await
            .unwrap();
        assert_eq!(cmd.control.recv().await, Some(SessionControl::Resize { width: 100, height: 30 }));
        // The end of input is typed on a terminal, each time the client says so; twice after
        // a last line without its newline.
        stdio.inbound.send(Inbound::Eof).await.unwrap();
        stdio.inbound.send(Inbound::Data(Bytes::from_static(b"ls\n"))).await.unwrap();
        stdio.inbound.send(Inbound::Eof).await.unwrap();
        assert_eq!(cmd.stdin.recv().await.unwrap(), "\x04", "an input empty from the start ends");
        assert_eq!(cmd.stdin.recv().await.unwrap(), "ls\n");
        assert_eq!(cmd.stdin.recv().await.unwrap(), "\x04", "end of input is typed on a terminal");
        stdio.inbound.send(Inbound::Data(Bytes::from_static(b"pwd"))).await.unwrap();
        stdio.inbound.send(Inbound::Eof).await.unwrap();
        assert_eq!(cmd.stdin.recv().await.unwrap(), "pwd");
        assert_eq!(cmd.stdin.recv().await.unwrap(), "\x04\x04", "after an open line, twice");
        // Typed again while the command runs, less and less often (after 0.1 s, then 0.2 s;
        // the clock starts a little after the bridge's); the input stays open.
        let ended = tokio::time::Instant::now();
        assert_eq!(cmd.stdin.recv().await.unwrap(), "\x04", "typed again");
        assert!(ended.elapsed() >= EOT_AGAIN_FIRST / 2);
        assert_eq!(cmd.stdin.recv().await.unwrap(), "\x04", "and again");
        assert!(ended.elapsed() >= EOT_AGAIN_FIRST * 5 / 2, "after twice as long");
        // New input stops it.
        stdio.inbound.send(Inbound::Data(Bytes::from_static(b"more\n"))).await.unwrap();
        let next = cmd.stdin.recv().await.unwrap();
        let next = if next == "\x04" { cmd.stdin.recv().await.unwrap() } else { next };
        assert_eq!(next, "more\n");
        tokio::time::sleep(EOT_AGAIN_FIRST * 3).await;
        assert!(
            cmd.stdin.try_recv().is_err_and(|e| e == mpsc::error::TryRecvError::Empty),
            "nothing typed while input comes, and input stays open"
        );
        drop(stdio);
        for _ in 0..10 {
            cmd.stdout.send(Bytes::from_static(b"x")).await.unwrap();
        }
        drop((cmd.stdout, cmd.stderr));
        cmd.exit.send(Ok(0)).unwrap();
        assert_eq!(bridged.await.unwrap().unwrap(), 0);
    }
}
