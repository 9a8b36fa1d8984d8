//! Managers: each owns a family of task kinds (planners that turn a request into a task graph,
//! and the handlers that run those tasks) behind a thin actor shell.

pub mod command;
pub mod hook;
pub mod interface;
pub mod sdk;
pub mod task;
pub mod workshop;

use actix::prelude::*;
use futures_util::FutureExt;
use futures_util::future::{Abortable, LocalBoxFuture};

use crate::engine::{EngineError, StateEngine, Transact};
use crate::runner::{RunTask, TaskCtx};
use crate::state::{Op, Outcome, Status};

/// Who asked: the calling host user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserRef {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The user's data directory as the caller's environment names it (`$XDG_DATA_HOME`,
    /// absolute; the API checks it), when it does. See [`UserRef::data_dir`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_home: Option<std::path::PathBuf>,
}

impl UserRef {
    /// The user called `name` in the system's user database.
    pub fn lookup(name: &str) -> Option<UserRef> {
        let c_name = std::ffi::CString::new(name).ok()?;
        let mut buf = vec![0u8; 4096];
        // SAFETY: an all-zero passwd is a valid value to be overwritten.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        loop {
            // SAFETY: all pointers are valid for the call; buf outlives the use of pwd.
            let rc = unsafe {
                libc::getpwnam_r(c_name.as_ptr(), &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut result)
            };
            if rc == libc::ERANGE && buf.len() < 1 << 20 {
                buf.resize(buf.len() * 2, 0);
                continue;
            }
            if rc != 0 || result.is_null() {
                return None;
            }
            return Some(UserRef {
                name: name.to_string(),
                uid: pwd.pw_uid,
                gid: pwd.pw_gid,
                data_home: None,
            });
        }
    }

    /// The user's data directory: the one the caller named (`$XDG_DATA_HOME`), else
    /// `~/.local/share` of the user's home ([`crate::userfs::DataRoot`]); None without either.
    /// Default mount sources, the try area and sketches live below it (reference:
    /// `$XDG_DATA_HOME` of the user's session).
    pub fn data_dir(&self) -> Option<std::path::PathBuf> {
        crate::userfs::DataRoot::of(self).map(|root| root.path())
    }

    /// The user's home directory in the system's user database.
    pub fn home(&self) -> Option<std::path::PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        let mut buf = vec![0u8; 4096];
        // SAFETY: an all-zero passwd is a valid value to be overwritten.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        loop {
            // SAFETY: all pointers are valid for the call; buf outlives the use of pwd.
            let rc = unsafe {
                libc::getpwuid_r(self.uid, &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut result)
            };
            if rc == libc::ERANGE && buf.len() < 1 << 20 {
                buf.resize(buf.len() * 2, 0);
                continue;
            }
            if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
                return None;
            }
            // SAFETY: pw_dir points to a NUL-terminated string inside buf.
            let dir = unsafe { std::ffi::CStr::from_ptr(pwd.pw_dir) };
            return Some(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes())));
        }
    }
}

/// Raises `messages` as warnings of `user`: only they see them and dismiss them.
pub async fn warn_user(
    engine: &Addr<StateEngine>,
    user: &UserRef,
    messages: Vec<String>,
) -> Result<(), EngineError> {
    if messages.is_empty() {
        return Ok(());
    }
    let owner = Some(user.uid);
    engine
        .send(Transact(Box::new(move |st| {
            let now = chrono::Utc::now();
            for message in &messages {
                st.warn(owner, message, now);
            }
        })))
        .await
        .map_err(EngineError::Mailbox)?
}

/// Runs a handler future for a `RunTask`, honouring abort and the change's wait-on-error mode
/// (a failed Do handler pauses the change instead of undoing it).
pub fn run_handler<F>(msg: RunTask, fut: impl FnOnce(TaskCtx) -> F) -> ResponseFuture<Outcome>
where
    F: std::future::Future<Output = Outcome> + 'static,
{
    let RunTask { ctx, op, abort } = msg;
    let wait_on_error = op == Op::Do && wait_on_error(&ctx);
    let log_ctx = ctx.clone();
    let handler: LocalBoxFuture<'static, Outcome> = if op == Op::Do && injected_fault(&ctx.kind) {
        let message = format!("fault injected into {:?} by {FAULT_INJECT_ENV}", ctx.kind);
        Box::pin(std::future::ready(Outcome::Failed(message)))
    } else {
        Box::pin(Abortable::new(fut(ctx), abort).map(|r| r.unwrap_or(Outcome::Cancelled)))
    };
    Box::pin(async move {
        match handler.await {
            Outcome::Failed(message) if wait_on_error => {
                log_ctx.log_error(&message).await;
                Outcome::Wait { reason: message, waited: Status::Doing }
            }
            outcome => outcome,
        }
    })
}

/// Names task kinds whose Do handler fails at once (comma-separated), for testing undo and
/// wait-on-error paths against a real backend, and [`STATE_JOURNAL_FAULT`]; unset in normal
/// use.
pub const FAULT_INJECT_ENV: &str = "WORKSHOP_FAULT_INJECT";
/// In [`FAULT_INJECT_ENV`]: every append to the state journal fails as on a full disk.
pub const STATE_JOURNAL_FAULT: &str = "state-journal";

pub(crate) fn injected_fault(kind: &str) -> bool {
    std::env::var(FAULT_INJECT_ENV).is_ok_and(|v| v.split(',').any(|k| k.trim() == kind))
}

/// Whether the task's change pauses on errors (`wait-setup.mode == "wait-on-error"`).
fn wait_on_error(ctx: &TaskCtx) -> bool {
    ctx.change_read(&task::keys::WAIT_SETUP).is_some_and(|w| w.mode == "wait-on-error")
}

/// Sends a message to the backend actor; backend and mailbox errors become the task's
/// error text.
pub async fn backend_call<M, T>(backend: &Addr<crate::backend::BackendActor>, msg: M) -> Result<T, String>
where
    M: Message<Result = Result<T, crate::backend::BackendError>> + Send + 'static,
    T: Send + 'static,
    crate::backend::BackendActor: Handler<M>,
{
    match backend.send(msg).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(crate::backend::BackendError::from(e).to_string()),
    }
}

/// Turns a handler's `Result` into an [`Outcome`].
pub fn outcome<E: std::fmt::Display>(result: Result<(), E>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}
