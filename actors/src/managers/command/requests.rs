//! Requests from the API front: start an exec change, attach one of its websockets.

use actix::prelude::*;
use chrono::Utc;
use workshop_api::exec::ExecRequest;
use workshop_api::workshops::WorkshopStatus;

use super::CommandManager;
use super::args::ExecArgs;
use super::cache::{AttachError, ClientEnds};
use super::plan;
use crate::backend::{ExecSpec, RunCommand};
use crate::engine::{EngineError, Transact};
use crate::managers::UserRef;
use crate::managers::task::TaskTarget;
use crate::managers::workshop::{GetWorkshop, WorkshopError};
use crate::state::{ChangeId, TaskId};

/// Errors of exec requests.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    BadRequest(String),
    /// Looking the workshop up failed (not launched, unknown project, backend trouble).
    #[error(transparent)]
    Workshop(#[from] WorkshopError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The workshop could not be asked (LXD).
    #[error("{0}")]
    Backend(String),
}

impl From<MailboxError> for CommandError {
    fn from(e: MailboxError) -> Self {
        Self::Engine(EngineError::Mailbox(e))
    }
}

/// Runs a command (or, with `request.action`, an action) in a workshop of the caller.
#[derive(Message)]
#[rtype(result = "Result<ExecStarted, CommandError>")]
pub struct Exec {
    pub user: UserRef,
    pub project_id: String,
    pub name: String,
    pub request: ExecRequest,
}

/// The exec change and the task whose websockets carry the command's I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecStarted {
    pub change: ChangeId,
    pub task: TaskId,
}

/// Attaches websocket `websocket` (`control`, `stdio`, `stdout`, `stderr`) of exec task `task`
/// for host uid `uid`.
#[derive(Message)]
#[rtype(result = "Result<ClientEnds, AttachError>")]
pub struct Attach {
    pub task: String,
    pub websocket: String,
    pub uid: u32,
}

/// Why a command or action (`what`) cannot run in workshop `name` of `status`, if it cannot:
/// only a Ready or Waiting workshop runs one. A workshop a change holds (a launch, refresh or
/// start under way) is not said to be stopped.
fn refusal(status: WorkshopStatus, action: bool, what: &str, name: &str) -> Option<String> {
    let verb = if action { "run" } else { "exec" };
    match status {
        WorkshopStatus::Ready | WorkshopStatus::Waiting => None,
        WorkshopStatus::Pending => {
            Some(crate::messages::cannot_in(verb, what, name, "a change is in progress"))
        }
        _ => Some(crate::messages::not_running(verb, what, name)),
    }
}

impl Handler<Exec> for CommandManager {
    type Result = ResponseFuture<Result<ExecStarted, CommandError>>;

    fn handle(&mut self, msg: Exec, _ctx: &mut Context<Self>) -> Self::Result {
        let (engine, workshops, cache) =
            (self.engine.clone(), self.workshops.clone(), self.env.cache.clone());
        let backend = self.env.backend.clone();
        Box::pin(async move {
            let Exec { user, project_id, name, request } = msg;
            let args = ExecArgs::from_request(&request).map_err(CommandError::BadRequest)?;
            let lookup = GetWorkshop { user: user.clone(), project_id, name: name.clone() };
            let info = match workshops.send(lookup).await? {
                // As the reference: `cannot exec command in "ws": workshop "ws" is not launched`.
                Err(WorkshopError::NotFound(why)) => {
                    let verb = if args.action { "run" } else { "exec" };
                    let why = crate::messages::cannot_in(verb, args.what(), &name, &why);
                    return Err(WorkshopError::NotFound(why).into());
                }
                other => other?,
            };
            if let Some(why) = refusal(info.status, args.action, args.what(), &name) {
                return Err(CommandError::BadRequest(why));
            }
            let target = TaskTarget {
                name,
                project_id: info.project_id.clone(),
                project_path: info.project_path.clone().unwrap_or_default(),
                user: user.clone(),
            };
            // As the reference: a working directory the workshop lacks is refused before any
            // change is made (the default, the project mount, is there).
            if args.cwd != super::args::DEFAULT_CWD {
                let verb = if args.action { "run" } else { "exec" };
                let cannot = |why: String| crate::messages::cannot_in(verb, args.what(), &target.name, &why);
                match cwd_problem(&backend, &target, &args.cwd).await {
                    Ok(None) => {}
                    Ok(Some(why)) => return Err(CommandError::BadRequest(cannot(why))),
                    Err(e) => return Err(CommandError::Backend(cannot(e))),
                }
            }
            let owner = user.uid;
            // The cache entry is made with the task, before the runner can start it.
            let planned = engine
                .send(Transact(Box::new(move |st| {
                    let planned = plan::exec(st, &user, &target, &args, Utc::now());
                    cache.insert(&planned.exec_task, owner, args);
                    planned
                })))
                .await??;
            Ok(ExecStarted { change: planned.change, task: planned.exec_task })
        })
    }
}

/// What is wrong with `cwd` as a working directory in the workshop (the reference's words),
/// if anything: missing, or not a directory. Looked at as root, in the guest.
async fn cwd_problem(
    backend: &actix::Addr<crate::backend::BackendActor>,
    t: &TaskTarget,
    cwd: &str,
) -> Result<Option<String>, String> {
    let script = r#"[ -d "$1" ] && exit 0; [ -e "$1" ] && exit 3; exit 2"#;
    let spec = ExecSpec {
        command: ["sh", "-c", script, "sh", cwd].map(String::from).to_vec(),
        cwd: Some("/".into()),
        ..ExecSpec::default()
    };
    let out = crate::managers::backend_call(backend, RunCommand { target: t.backend(), spec }).await?;
    Ok(match out.exit_code {
        0 => None,
        3 => Some(format!("{cwd:?} is not a directory")),
        _ => Some(crate::messages::working_directory_not_found(cwd)),
    })
}

impl Handler<Attach> for CommandManager {
    type Result = Result<ClientEnds, AttachError>;

    fn handle(&mut self, msg: Attach, _ctx: &mut Context<Self>) -> Self::Result {
        self.env.cache.attach(&msg.task, &msg.websocket, msg.uid)
    }
}

#[cfg(test)]
mod refusal_tests {
    use super::*;

    #[test]
    fn only_ready_and_waiting_workshops_run_commands() {
        assert_eq!(refusal(WorkshopStatus::Ready, false, "command", "ws"), None);
        assert_eq!(refusal(WorkshopStatus::Waiting, true, "action", "ws"), None);
        assert_eq!(
            refusal(WorkshopStatus::Pending, false, "command", "ws").unwrap(),
            r#"cannot exec command in "ws": a change is in progress"#
        );
        assert_eq!(
            refusal(WorkshopStatus::Stopped, true, "action", "ws").unwrap(),
            r#"cannot run action in "ws": not running"#
        );
    }
}
