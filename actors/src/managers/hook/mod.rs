//! The hook manager: the `run-hook` task kind (an SDK's `setup-base`, `setup-project`,
//! `save-state`, `restore-state` and `check-health` hooks run inside its workshop), the live
//! contexts of running hooks that `workshopctl` speaks for, and the full output of hooks for
//! verbose clients (../shared/spec/reference-inventory.md §5, §1.2).

mod contexts;
mod handlers;
pub mod health;
pub mod invocation;
mod output;
pub mod plan;
mod workshopctl;

pub use contexts::Contexts;
pub use health::{CheckResult, HealthRecord};
pub use output::HookOutput;
pub use workshopctl::WorkshopctlError;

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use workshop_api::workshopctl::{WorkshopctlRequest, WorkshopctlResult};

use crate::backend::BackendActor;
use crate::backend::lxd::origin::GuestWorkshop;
use crate::managers::task::{self, Kind};
use crate::runner::RunTask;
use crate::state::{Outcome, TaskId};

/// The task kinds of this manager: `run-hook` has no undo; its cleanup drops the hook's
/// output kept for verbose clients.
pub static KINDS: &[Kind<Hooks>] = &[Kind {
    name: "run-hook",
    run: |c, e| Box::pin(handlers::run_hook(c, e)),
    undo: None,
    cleanup: Some(|c, e| Box::pin(handlers::drop_output(c, e))),
}];

/// An SDK hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    SetupBase,
    SetupProject,
    SaveState,
    RestoreState,
    CheckHealth,
}

impl Hook {
    /// The hook's file name in `sdk/hooks/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SetupBase => "setup-base",
            Self::SetupProject => "setup-project",
            Self::SaveState => "save-state",
            Self::RestoreState => "restore-state",
            Self::CheckHealth => "check-health",
        }
    }
}

/// What a `run-hook` task runs ([`crate::managers::task::keys::HOOK_SETUP`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HookSetup {
    pub sdk: String,
    pub hook: Hook,
    /// How long one run may take (`check-health` at launch); none is [`HOOK_TIME_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// Whether the SDK tree at `tree` (on the host) has nothing where `hook` would be
/// (`sdk/hooks/<hook>`): such a hook is skipped without a run in the workshop, and a
/// refresh plan does not list it. Only a host directory (an absolute path) can tell.
pub fn absent_from(tree: &std::path::Path, hook: Hook) -> bool {
    if !tree.is_absolute() {
        return false;
    }
    let path = tree.join("sdk/hooks").join(hook.as_str());
    matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

/// The bound of a hook run that has no timeout of its own: the reference has none, but the
/// daemon bounds every wait; an SDK's setup may install large packages.
pub const HOOK_TIME_LIMIT: Duration = Duration::from_secs(3600);

/// What the hook manager's handlers share with its messages.
pub struct Hooks {
    /// The running hooks, by cookie.
    pub contexts: Rc<Contexts>,
    /// The full output of finished hooks, until a little after their change is ready.
    outputs: Rc<output::Outputs>,
    /// Pause before `check-health` runs again after a `waiting`.
    retry_after: Duration,
    /// How long a hook's full output outlives its change, so that a verbose client's last
    /// look at the change (it is woken when the change is ready) still finds it.
    linger: Duration,
    /// Where the SDK trees a change retrieved are (see `handlers::absent_on_host`).
    trees: Option<crate::sdk::TreeStore>,
}

/// The default of [`Hooks::linger`].
pub const OUTPUT_LINGER: Duration = Duration::from_secs(5);

impl Default for Hooks {
    fn default() -> Self {
        Self {
            contexts: Rc::default(),
            outputs: Rc::default(),
            retry_after: health::RETRY_AFTER,
            linger: OUTPUT_LINGER,
            trees: None,
        }
    }
}

/// The hook manager's handler environment.
pub type Env = task::Env<Hooks>;

/// The actor shell.
pub struct HookManager {
    env: Env,
}

impl HookManager {
    pub fn new(backend: Addr<BackendActor>) -> Self {
        Self { env: Env { backend, manager: Rc::new(Hooks::default()) } }
    }

    /// Changes the pause between runs of `check-health` and how long outputs linger (tests).
    pub fn with_timing(mut self, retry_after: Duration, linger: Duration) -> Self {
        let hooks = Rc::get_mut(&mut self.env.manager).expect("not shared before the actor starts");
        (hooks.retry_after, hooks.linger) = (retry_after, linger);
        self
    }

    /// The SDK tree store, where the trees a change retrieved are found without asking LXD.
    pub fn with_trees(mut self, trees: crate::sdk::TreeStore) -> Self {
        Rc::get_mut(&mut self.env.manager).expect("not shared before the actor starts").trees = Some(trees);
        self
    }
}

impl Actor for HookManager {
    type Context = Context<Self>;
}

impl Handler<RunTask> for HookManager {
    type Result = ResponseFuture<Outcome>;

    fn handle(&mut self, msg: RunTask, _ctx: &mut Context<Self>) -> Self::Result {
        task::dispatch(KINDS, msg, self.env.clone())
    }
}

/// `POST /v1/workshopctl`: a command from inside a workshop (`caller`, as the guest socket
/// identified it; `None` for a host process), by a process of host uid `uid`.
#[derive(Debug, Message)]
#[rtype(result = "Result<WorkshopctlResult, WorkshopctlError>")]
pub struct Workshopctl {
    pub caller: Option<GuestWorkshop>,
    pub uid: u32,
    pub request: WorkshopctlRequest,
}

impl Handler<Workshopctl> for HookManager {
    type Result = Result<WorkshopctlResult, WorkshopctlError>;

    fn handle(&mut self, msg: Workshopctl, _ctx: &mut Context<Self>) -> Self::Result {
        workshopctl::run(&self.env.contexts, msg.caller.as_ref(), msg.uid, &msg.request, chrono::Utc::now())
    }
}

/// The full output of the hook tasks `tasks` that user `uid` owns (root: anyone's), for
/// `GET /v1/changes/{id}?verbose=true`.
#[derive(Debug, Message)]
#[rtype(result = "HashMap<TaskId, HookOutput>")]
pub struct HookOutputs {
    pub uid: u32,
    pub tasks: Vec<TaskId>,
}

impl Handler<HookOutputs> for HookManager {
    type Result = MessageResult<HookOutputs>;

    fn handle(&mut self, msg: HookOutputs, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.env.outputs.of(msg.uid, &msg.tasks))
    }
}

#[cfg(test)]
mod tests;
