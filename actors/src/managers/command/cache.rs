//! The exec cache: per exec task, its arguments and the channels of its four websockets. It
//! lives only in memory (like the reference's state cache), so after a restart an exec task
//! finds nothing and fails.
//!
//! Each websocket has two ends: the API front takes the client ends when the websocket
//! attaches; the exec handler takes the daemon ends when the command starts. Dropping the
//! daemon ends (command finished, or the entry removed) ends the websockets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};
use workshop_api::exec::{WS_CONTROL, WS_STDERR, WS_STDIO, WS_STDOUT};

use super::args::ExecArgs;
use crate::backend::SessionControl;
use crate::state::TaskId;

/// What a client sends on an exec websocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Standard input bytes.
    Data(Bytes),
    /// End of standard input.
    Eof,
    /// A signal or a new window size.
    Control(SessionControl),
}

/// The API front's side of one websocket.
#[derive(Debug)]
pub struct ClientEnds {
    /// Where to put what the client sends: at most [`INBOUND_BUFFER`] messages wait here, so
    /// a reader must stop reading the client when it is full. Closed once the command has
    /// finished.
    pub inbound: mpsc::Sender<Inbound>,
    /// Output for the client (only on the streams that carry output); its end is the end of
    /// the stream.
    pub outbound: Option<mpsc::Receiver<Bytes>>,
}

/// The exec handler's side of one websocket.
#[derive(Debug)]
pub struct DaemonEnds {
    pub inbound: mpsc::Receiver<Inbound>,
    pub outbound: Option<mpsc::Sender<Bytes>>,
}

/// The daemon ends of all four websockets.
#[derive(Debug)]
pub struct SessionEnds {
    pub control: DaemonEnds,
    pub stdio: DaemonEnds,
    pub stdout: DaemonEnds,
    pub stderr: DaemonEnds,
}

/// Why a websocket cannot attach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    #[error("cannot find exec task {0:?}")]
    NoTask(String),
    #[error("cannot find websocket {0:?}")]
    NoWebsocket(String),
    #[error("cannot attach to exec task {0:?}: permission denied")]
    NotOwner(String),
    #[error("{0} websocket already connected")]
    AlreadyConnected(String),
}

/// Output chunks queued per websocket before the command is slowed down.
const OUTBOUND_BUFFER: usize = 64;
/// Client messages (each at most one websocket frame) queued per websocket before the client
/// is slowed down: past this, the API front stops reading its websocket.
pub const INBOUND_BUFFER: usize = 8;

struct Stream {
    client: Option<ClientEnds>,
    daemon: Option<DaemonEnds>,
}

impl Stream {
    fn new(carries_output: bool) -> Self {
        let (in_tx, in_rx) = mpsc::channel(INBOUND_BUFFER);
        let (out_tx, out_rx) = match carries_output {
            true => {
                let (tx, rx) = mpsc::channel(OUTBOUND_BUFFER);
                (Some(tx), Some(rx))
            }
            false => (None, None),
        };
        Self {
            client: Some(ClientEnds { inbound: in_tx, outbound: out_rx }),
            daemon: Some(DaemonEnds { inbound: in_rx, outbound: out_tx }),
        }
    }

    fn connected(&self) -> bool {
        self.client.is_none()
    }
}

struct Entry {
    owner: u32,
    args: ExecArgs,
    streams: HashMap<&'static str, Stream>,
    attached: Arc<Notify>,
}

impl Entry {
    fn io_connected(&self) -> bool {
        let connected = |name: &str| self.streams.get(name).is_some_and(Stream::connected);
        connected(WS_STDIO) && (self.args.interactive || (connected(WS_STDOUT) && connected(WS_STDERR)))
    }
}

/// Exec arguments and websocket channels by exec task id. Shared by the command manager, its
/// task handlers and its planner (which fills it while creating the task).
#[derive(Clone, Default)]
pub struct ExecCache(Arc<Mutex<HashMap<TaskId, Entry>>>);

impl ExecCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<TaskId, Entry>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds an exec task run on behalf of host uid `owner`.
    pub fn insert(&self, task: &TaskId, owner: u32, args: ExecArgs) {
        let interactive = args.interactive;
        let streams = HashMap::from([
            (WS_CONTROL, Stream::new(false)),
            (WS_STDIO, Stream::new(interactive)),
            (WS_STDOUT, Stream::new(!interactive)),
            (WS_STDERR, Stream::new(!interactive)),
        ]);
        let entry = Entry { owner, args, streams, attached: Arc::new(Notify::new()) };
        self.lock().insert(task.clone(), entry);
    }

    /// Ends the websockets of an exec task (attached or not), keeping the task known so that
    /// late clients attach to streams that end at once instead of finding nothing.
    pub fn close(&self, task: &str) {
        if let Some(entry) = self.lock().get_mut(task) {
            for stream in entry.streams.values_mut() {
                stream.daemon = None;
            }
        }
    }

    /// Forgets an exec task; its websockets end.
    pub fn remove(&self, task: &str) {
        self.lock().remove(task);
    }

    pub fn args(&self, task: &str) -> Option<ExecArgs> {
        self.lock().get(task).map(|e| e.args.clone())
    }

    /// Replaces the command the backend runs (actions, once installed).
    pub fn set_command(&self, task: &str, command: Vec<String>) -> bool {
        match self.lock().get_mut(task) {
            Some(entry) => {
                entry.args.command = command;
                true
            }
            None => false,
        }
    }

    /// Attaches websocket `name` of exec task `task` for host uid `uid` (root may attach to
    /// any task).
    pub fn attach(&self, task: &str, name: &str, uid: u32) -> Result<ClientEnds, AttachError> {
        let mut entries = self.lock();
        let entry = entries.get_mut(task).ok_or_else(|| AttachError::NoTask(task.to_string()))?;
        if uid != 0 && uid != entry.owner {
            return Err(AttachError::NotOwner(task.to_string()));
        }
        let stream = entry.streams.get_mut(name).ok_or_else(|| AttachError::NoWebsocket(name.to_string()))?;
        let ends = stream.client.take().ok_or_else(|| AttachError::AlreadyConnected(name.to_string()))?;
        entry.attached.notify_one();
        Ok(ends)
    }

    /// Whether the I/O websockets are attached (`stdio`, plus `stdout` and `stderr` when not
    /// interactive), and what to wait on for the next attachment. `None`: unknown task.
    pub fn io_connected(&self, task: &str) -> Option<(bool, Arc<Notify>)> {
        self.lock().get(task).map(|e| (e.io_connected(), e.attached.clone()))
    }

    /// Takes the daemon ends of every websocket (once).
    pub fn take_session_ends(&self, task: &str) -> Option<SessionEnds> {
        let mut entries = self.lock();
        let streams = &mut entries.get_mut(task)?.streams;
        let mut take = |name: &str| streams.get_mut(name).and_then(|s| s.daemon.take());
        Some(SessionEnds {
            control: take(WS_CONTROL)?,
            stdio: take(WS_STDIO)?,
            stdout: take(WS_STDOUT)?,
            stderr: take(WS_STDERR)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use workshop_api::exec::ExecRequest;

    use super::*;

    fn args(interactive: bool) -> ExecArgs {
        let req = ExecRequest { command: vec!["true".into()], interactive, ..Default::default() };
        ExecArgs::from_request(&req).unwrap()
    }

    #[test]
    fn websockets_attach_once_and_only_for_their_owner() {
        let cache = ExecCache::default();
        cache.insert(&"7".to_string(), 1000, args(false));
        assert_eq!(cache.attach("8", WS_STDIO, 1000).unwrap_err(), AttachError::NoTask("8".into()));
        assert_eq!(cache.attach("7", "bogus", 1000).unwrap_err(), AttachError::NoWebsocket("bogus".into()));
        assert_eq!(cache.attach("7", WS_STDIO, 1001).unwrap_err(), AttachError::NotOwner("7".into()));
        assert_eq!(cache.io_connected("7").map(|(c, _)| c), Some(false));
        let stdio = cache.attach("7", WS_STDIO, 1000).unwrap();
        assert!(stdio.outbound.is_none(), "stdio carries only input when not interactive");
        assert_eq!(
            cache.attach("7", WS_STDIO, 1000).unwrap_err().to_string(),
            "stdio websocket already connected"
        );
        let stdout = cache.attach("7", WS_STDOUT, 0).unwrap();
        assert!(stdout.outbound.is_some());
        assert_eq!(cache.io_connected("7").map(|(c, _)| c), Some(false));
        cache.attach("7", WS_STDERR, 1000).unwrap();
        assert_eq!(cache.io_connected("7").map(|(c, _)| c), Some(true));
    }

    #[test]
    fn interactive_sessions_need_only_stdio_and_removal_ends_the_streams() {
        let cache = ExecCache::default();
        cache.insert(&"3".to_string(), 1000, args(true));
        let mut stdio = cache.attach("3", WS_STDIO, 1000).unwrap();
        assert_eq!(cache.io_connected("3").map(|(c, _)| c), Some(true));
        assert!(cache.set_command("3", vec!["x".into()]));
        assert_eq!(cache.args("3").unwrap().command, vec!["x".to_string()]);
        let ends = cache.take_session_ends("3").unwrap();
        assert!(ends.stdio.outbound.is_some() && ends.stdout.outbound.is_none());
        assert!(cache.take_session_ends("3").is_none());
        drop(ends);
        assert!(stdio.inbound.is_closed());
        assert_eq!(stdio.outbound.as_mut().unwrap().try_recv(), Err(mpsc::error::TryRecvError::Disconnected));
        cache.remove("3");
        assert!(cache.args("3").is_none());
    }

    #[test]
    fn a_websocket_queues_at_most_its_bound_of_client_messages() {
        let cache = ExecCache::default();
        cache.insert(&"5".to_string(), 1000, args(false));
        let stdio = cache.attach("5", WS_STDIO, 1000).unwrap();
        let control = cache.attach("5", WS_CONTROL, 1000).unwrap();
        let mut ends = cache.take_session_ends("5").unwrap();
        for ends in [&stdio, &control] {
            for _ in 0..INBOUND_BUFFER {
                ends.inbound.try_send(Inbound::Data(Bytes::from_static(b"x"))).unwrap();
            }
            assert!(matches!(
                ends.inbound.try_send(Inbound::Eof),
                Err(mpsc::error::TrySendError::Full(Inbound::Eof))
            ));
        }
        // Room comes back as the daemon reads.
        assert!(ends.stdio.inbound.try_recv().is_ok());
        stdio.inbound.try_send(Inbound::Eof).unwrap();
        assert!(stdio.inbound.try_send(Inbound::Eof).is_err());
    }

    #[test]
    fn closed_tasks_still_accept_websockets_that_end_at_once() {
        let cache = ExecCache::default();
        cache.insert(&"4".to_string(), 1000, args(false));
        let control = cache.attach("4", WS_CONTROL, 1000).unwrap();
        cache.close("4");
        assert!(control.inbound.is_closed());
        let mut stdout = cache.attach("4", WS_STDOUT, 1000).unwrap();
        assert!(stdout.inbound.is_closed());
        assert_eq!(
            stdout.outbound.as_mut().unwrap().try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        );
        assert!(cache.take_session_ends("4").is_none());
    }
}
