//! Commands and files inside workshops: collected runs, streamed sessions adapted to the
//! channel-based [`ExecSession`], and file pushes.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::{LxdBackend, instance_error};
use crate::backend::{
    BackendError, CONTROL_BUFFER, ExecSession, ExecSpec, GuestFile, RunLimits, RunOutput, SessionControl,
    Target,
};
use crate::lxd::{self, Client, ExecRequest, LxdError, PushOptions, Upload};

/// Input chunks queued before the caller is slowed down.
const STDIN_BUFFER: usize = 16;
/// Output chunks queued before the command is slowed down.
const OUTPUT_BUFFER: usize = 64;
/// Largest piece of collected-run input sent in one message.
const STDIN_CHUNK: usize = 64 * 1024;
/// Terminal size when the caller gives none.
const DEFAULT_SIZE: (u16, u16) = (80, 24);

/// The LXD request for a command.
fn exec_request(spec: &ExecSpec) -> ExecRequest {
    let mut request = ExecRequest::new(spec.command.clone()).user(spec.uid, spec.gid);
    request.environment = spec.env.clone();
    request.cwd = spec.cwd.clone();
    if spec.interactive {
        let width = if spec.width == 0 { DEFAULT_SIZE.0 } else { spec.width };
        let height = if spec.height == 0 { DEFAULT_SIZE.1 } else { spec.height };
        request = request.pty(width.into(), height.into());
    }
    request
}

/// `run "<command>"` for errors, quoting at most the first 64 characters of the command (the
/// daemon's commands can be long scripts).
fn command_text(spec: &ExecSpec) -> String {
    let line = spec.command.join(" ");
    match line.char_indices().nth(64) {
        Some((cut, _)) => format!("run {:?}…", &line[..cut]),
        None => format!("run {line:?}"),
    }
}

/// Why a collected run failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum RunError {
    #[error(transparent)]
    Lxd(#[from] LxdError),
    #[error("it did not finish within {}, so it was killed", workshop_api::duration::format(*.0))]
    TimedOut(Duration),
}

/// How long sending the kill of a timed-out command may take.
const KILL_SEND: Duration = Duration::from_secs(5);

/// Runs a command with `spec.stdin` as input and collects what its streams carry, within
/// `spec.limits`.
///
/// The streams are complete since the client connects LXD's exec sockets in the order the
/// `lxc` command does (LXD 5.0.2 dropped the last output of short commands otherwise; the
/// LXD client tests keep that covered).
pub(super) async fn collect(client: &Client, instance: &str, spec: &ExecSpec) -> Result<RunOutput, RunError> {
    let mut session = client.exec(instance, &exec_request(spec)).await?;
    let stdin = session.take_stdin();
    let feed = async move {
        let Some(mut stdin) = stdin else { return };
        for chunk in spec.stdin.chunks(STDIN_CHUNK) {
            // A command that exits without reading its input is not an error.
            if stdin.write(Bytes::copy_from_slice(chunk)).await.is_err() {
                return;
            }
        }
        let _ = stdin.close().await;
    };
    let (stdout, stderr) = (session.take_stdout(), session.take_stderr());
    let control = session.control();
    let kill = async move {
        // Then the command is abandoned: LXD ends its operation once it has died.
        let _ = actix_rt::time::timeout(KILL_SEND, control.signal(libc::SIGKILL)).await;
    };
    gather(feed, stdout, stderr, session.wait(), kill, spec.limits).await
}

/// Feeds the input, reads both streams and waits for the exit code, all within
/// `limits.timeout` (past it, runs `kill` and fails). Each stream is read to its end so that
/// the command never stalls on a full pipe, but only its first `limits.output` bytes are kept.
async fn gather<S>(
    feed: impl Future<Output = ()>,
    stdout: Option<S>,
    stderr: Option<S>,
    wait: impl Future<Output = Result<i32, LxdError>>,
    kill: impl Future<Output = ()>,
    limits: RunLimits,
) -> Result<RunOutput, RunError>
where
    S: Stream<Item = Result<Bytes, LxdError>> + Unpin,
{
    let run = async {
        let ((), stdout, stderr) =
            futures_util::join!(feed, read_capped(stdout, limits.output), read_capped(stderr, limits.output));
        let exit_code = wait.await?;
        let ((stdout, stdout_cut), (stderr, stderr_cut)) = (stdout?, stderr?);
        Ok(RunOutput { exit_code, stdout, stderr, truncated: stdout_cut || stderr_cut })
    };
    match actix_rt::time::timeout(limits.timeout, run).await {
        Ok(output) => output,
        Err(_) => {
            kill.await;
            Err(RunError::TimedOut(limits.timeout))
        }
    }
}

/// Reads a stream to its end and keeps its first `limit` bytes; whether it had more.
async fn read_capped<S>(stream: Option<S>, limit: usize) -> Result<(Vec<u8>, bool), LxdError>
where
    S: Stream<Item = Result<Bytes, LxdError>> + Unpin,
{
    let (mut kept, mut truncated) = (Vec::new(), false);
    let Some(mut stream) = stream else { return Ok((kept, truncated)) };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = limit - kept.len();
        truncated |= chunk.len() > room;
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok((kept, truncated))
}

impl LxdBackend {
    pub(super) async fn run(&self, target: &Target, spec: &ExecSpec) -> Result<RunOutput, BackendError> {
        let client = self.instances_client(&target.user);
        collect(&client, &target.instance_name(), spec).await.map_err(|e| match e {
            RunError::Lxd(e) => instance_error(target, &command_text(spec), e),
            RunError::TimedOut(after) => {
                BackendError::TimedOut { what: command_text(spec), name: target.name.clone(), after }
            }
        })
    }

    pub(super) async fn exec(&self, target: &Target, spec: &ExecSpec) -> Result<ExecSession, BackendError> {
        let client = self.instances_client(&target.user);
        let what = command_text(spec);
        let mut session = client
            .exec(&target.instance_name(), &exec_request(spec))
            .await
            .map_err(|e| instance_error(target, &what, e))?;

        let mut forwarders = Vec::new();
        let (stdout_tx, stdout) = mpsc::channel(OUTPUT_BUFFER);
        if let Some(output) = session.take_stdout() {
            forwarders.push(actix_rt::spawn(forward_output(output, stdout_tx)));
        }
        let stderr = session.take_stderr().map(|output| {
            let (tx, rx) = mpsc::channel(OUTPUT_BUFFER);
            forwarders.push(actix_rt::spawn(forward_output(output, tx)));
            rx
        });
        let (stdin, stdin_rx) = mpsc::channel(STDIN_BUFFER);
        let (control, control_rx) = mpsc::channel(CONTROL_BUFFER);
        let (exit_tx, exit) = oneshot::channel();
        let name = target.name.clone();
        actix_rt::spawn(async move {
            let lxd_stdin = session.take_stdin();
            let lxd_control = session.control();
            let code = drive(session, lxd_stdin, stdin_rx, lxd_control, control_rx).await;
            // The exit code goes out only after all output has been handed over.
            for forwarder in forwarders {
                let _ = forwarder.await;
            }
            let code = code.map_err(|e| BackendError::GuestCommand { what, name, reason: e.to_string() });
            let _ = exit_tx.send(code);
        });
        Ok(ExecSession { stdin, stdout, stderr, control, exit })
    }

    pub(super) async fn push_file(&self, target: &Target, file: &GuestFile) -> Result<(), BackendError> {
        let what = format!("write {:?}", file.path);
        if !file.path.starts_with('/') {
            return Err(BackendError::Lxd(format!("cannot {what}: the path must be absolute")));
        }
        let client = self.instances_client(&target.user);
        let name = target.instance_name();
        let options = PushOptions::owned(file.uid, file.gid, file.mode);
        let content = Bytes::from(file.content.clone());
        let push = || client.push_file(&name, &file.path, Upload::Bytes(content.clone()), &options);
        let Err(first) = push().await else { return Ok(()) };
        let created = create_parents(&client, &name, &file.path, file.uid, file.gid)
            .await
            .map_err(|e| instance_error(target, &what, e))?;
        if created == 0 {
            return Err(instance_error(target, &what, first));
        }
        push().await.map_err(|e| instance_error(target, &what, e))
    }
}

/// Creates the missing parent directories of `path` (owned by `uid`/`gid`, mode 0755), leaving
/// existing ones alone. Returns how many were created.
async fn create_parents(
    client: &Client,
    instance: &str,
    path: &str,
    uid: u32,
    gid: u32,
) -> Result<usize, LxdError> {
    let mut missing = Vec::new();
    for parent in Path::new(path).ancestors().skip(1) {
        let parent = parent.to_string_lossy();
        if parent == "/" || parent.is_empty() {
            break;
        }
        // The guest may have put a huge file there: look, do not read.
        match client.path_exists(instance, &parent).await? {
            true => break,
            false => missing.push(parent.into_owned()),
        }
    }
    let options = PushOptions::owned(uid, gid, 0o755);
    for dir in missing.iter().rev() {
        client.create_directory(instance, dir, &options).await?;
    }
    Ok(missing.len())
}

/// Copies one output stream of the command to the caller's channel. When the caller stops
/// reading, the stream is dropped (the client then discards the rest so the command does not
/// stall).
async fn forward_output(mut output: lxd::OutputStream, tx: mpsc::Sender<Bytes>) {
    while let Some(chunk) = output.next().await {
        match chunk {
            Ok(data) => {
                if tx.send(data).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                debug!(error = %e, "exec output stream failed");
                return;
            }
        }
    }
}

/// Pumps the caller's input and control messages to LXD until the command ends; returns its
/// exit code. The caller closing its input is end-of-file for the command.
async fn drive(
    session: lxd::ExecSession,
    mut stdin: Option<lxd::ExecStdin>,
    mut input: mpsc::Receiver<Bytes>,
    control: lxd::ControlSender,
    mut controls: mpsc::Receiver<SessionControl>,
) -> Result<i32, LxdError> {
    let wait = session.wait();
    futures_util::pin_mut!(wait);
    let mut controls_open = true;
    loop {
        tokio::select! {
            code = &mut wait => return code,
            data = input.recv(), if stdin.is_some() => match (data, stdin.as_mut()) {
                (Some(data), Some(lxd_stdin)) => {
                    if lxd_stdin.write(data).await.is_err() {
                        stdin = None;
                    }
                }
                _ => {
                    if let Some(lxd_stdin) = stdin.take() {
                        let _ = lxd_stdin.close().await;
                    }
                }
            },
            message = controls.recv(), if controls_open => {
                let sent = match message {
                    Some(SessionControl::Resize { width, height }) => control.resize(width.into(), height.into()).await,
                    Some(SessionControl::Signal(signal)) => control.signal(signal).await,
                    None => {
                        controls_open = false;
                        Ok(())
                    }
                };
                if let Err(e) = sent {
                    debug!(error = %e, "cannot send exec control message");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::time::Instant;

    use futures_util::stream::{self, LocalBoxStream};

    type Output = LocalBoxStream<'static, Result<Bytes, LxdError>>;

    /// A stream the way LXD delivers one: through a bounded channel, fed by `chunks`.
    fn channel_stream(chunks: impl Iterator<Item = Bytes> + 'static) -> Output {
        let (tx, rx) = mpsc::channel(OUTPUT_BUFFER);
        actix_rt::spawn(async move {
            for chunk in chunks {
                if tx.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
        });
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) }).boxed_local()
    }

    #[test]
    fn errors_quote_the_start_of_long_commands() {
        let spec = |command: &[&str]| ExecSpec {
            command: command.iter().map(|s| s.to_string()).collect(),
            ..ExecSpec::default()
        };
        assert_eq!(command_text(&spec(&["test", "-d", "/x"])), r#"run "test -d /x""#);
        let long = command_text(&spec(&["/bin/sh", "-c", &"é".repeat(500)]));
        assert_eq!(long, format!("run {:?}…", format!("/bin/sh -c {}", "é".repeat(53))));
    }

    #[actix_rt::test]
    async fn output_past_the_cap_is_read_and_dropped() {
        let read = std::rc::Rc::new(Cell::new(0));
        let counted = read.clone();
        let stdout = channel_stream(std::iter::repeat_n(Bytes::from(vec![b'o'; 64 * 1024]), 48))
            .inspect(move |chunk| counted.set(counted.get() + chunk.as_ref().map_or(0, Bytes::len)))
            .boxed_local();
        let stderr = channel_stream(std::iter::once(Bytes::from_static(b"short")));
        let out =
            gather(async {}, Some(stdout), Some(stderr), async { Ok(3) }, async {}, RunLimits::default())
                .await
                .unwrap();
        assert_eq!(read.get(), 3 << 20, "the command's whole output was read");
        assert_eq!(out.stdout.len(), RunLimits::OUTPUT);
        assert_eq!((out.stderr.as_slice(), out.exit_code, out.truncated), (&b"short"[..], 3, true));
        assert!(out.combined().ends_with("short [output truncated]"));

        let small = channel_stream(std::iter::once(Bytes::from_static(b"all of it\n")));
        let out =
            gather(async {}, Some(small), None::<Output>, async { Ok(0) }, async {}, RunLimits::default())
                .await
                .unwrap();
        assert_eq!((out.stdout.as_slice(), out.truncated), (&b"all of it\n"[..], false));
    }

    #[actix_rt::test]
    async fn a_command_past_its_time_is_killed_and_fails() {
        for stdout in [
            stream::pending().boxed_local(),
            channel_stream(std::iter::repeat(Bytes::from(vec![b'y'; 64 * 1024]))),
        ] {
            let killed = Cell::new(false);
            let started = Instant::now();
            let limits = RunLimits::within(Duration::from_millis(100));
            let wait = std::future::pending::<Result<i32, LxdError>>();
            let err = gather(async {}, Some(stdout), None, wait, async { killed.set(true) }, limits)
                .await
                .unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
            assert!(killed.get());
            assert_eq!(err.to_string(), "it did not finish within 100ms, so it was killed");
        }
    }

    #[test]
    fn requests_carry_user_env_and_pty() {
        let spec = ExecSpec {
            command: vec!["id".into(), "-u".into()],
            env: [("HOME".to_string(), "/home/workshop".to_string())].into(),
            cwd: Some("/project".into()),
            uid: 1000,
            gid: 1000,
            ..ExecSpec::default()
        };
        let request = exec_request(&spec);
        assert_eq!(request.command, ["id", "-u"]);
        assert_eq!((request.user, request.group), (Some(1000), Some(1000)));
        assert_eq!(request.environment["HOME"], "/home/workshop");
        assert_eq!(request.cwd.as_deref(), Some("/project"));
        assert!(!request.interactive);

        let pty = exec_request(&ExecSpec { interactive: true, ..spec.clone() });
        assert!(pty.interactive);
        assert_eq!((pty.width, pty.height), (80, 24));
        let sized = exec_request(&ExecSpec { interactive: true, width: 120, height: 40, ..spec });
        assert_eq!((sized.width, sized.height), (120, 40));
    }
}
