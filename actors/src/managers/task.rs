//! What every manager's planners and task handlers share: the table that declares each task
//! kind once, the typed keys of change and task data, the workshop a task works on, the
//! builders of changes and tasks, and backend calls from handlers.

use std::ops::Deref;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};

use super::{UserRef, outcome, run_handler};
use crate::backend::{BackendActor, BackendError, Target};
use crate::engine::{AddKinds, KindSpec, StateEngine};
use crate::runner::{RegisterHandler, RunTask, TaskCtx, TaskRunner};
use crate::state::{ChangeId, Op, Outcome, State, TaskId};

/// What a handler returns: `Err` with the task's error text.
pub type HandlerResult = Result<(), String>;

/// A task handler: an async function of the task and the manager's environment.
pub type Handler<M> = fn(TaskCtx, Env<M>) -> LocalBoxFuture<'static, HandlerResult>;

/// One task kind, declared once: its name and handlers. The scheduler's registry (which kinds
/// can be undone or clean up) and the runner's routing both come from a manager's table, so
/// a kind cannot be undone without an undo handler.
pub struct Kind<M: 'static> {
    pub name: &'static str,
    pub run: Handler<M>,
    pub undo: Option<Handler<M>>,
    pub cleanup: Option<Handler<M>>,
}

/// The scheduler's view of `kinds`.
pub fn kind_specs<M>(kinds: &[Kind<M>]) -> Vec<KindSpec> {
    kinds
        .iter()
        .map(|k| KindSpec { kind: k.name, undo: k.undo.is_some(), cleanup: k.cleanup.is_some() })
        .collect()
}

/// Registers a manager's `kinds`: with the engine's scheduler, and with the runner, which
/// routes them to `handler`.
pub fn register<M>(
    engine: &Addr<StateEngine>,
    runner: &Addr<TaskRunner>,
    kinds: &[Kind<M>],
    handler: Recipient<RunTask>,
) {
    engine.do_send(AddKinds(kind_specs(kinds)));
    runner.do_send(RegisterHandler { kinds: kinds.iter().map(|k| k.name).collect(), handler });
}

/// Runs the handler of `kinds` that `msg` asks for. No manager undoes a task of a paused
/// change that `remove` discarded (reference-inventory §6.3): the removal deletes what the
/// change made, and an undo running beside it would fight it (bring back the connections it
/// forgets, the profiles it deletes, the devices of an instance it removes).
pub fn dispatch<M: 'static>(kinds: &'static [Kind<M>], msg: RunTask, env: Env<M>) -> ResponseFuture<Outcome> {
    if msg.op == Op::Undo && msg.ctx.change_read(&keys::DISCARD_BACKGROUND).unwrap_or(false) {
        return Box::pin(async { Outcome::Done });
    }
    let (kind, op) = (msg.ctx.kind.clone(), msg.op);
    let handler = kinds.iter().find(|k| k.name == kind).and_then(|k| match op {
        Op::Do => Some(k.run),
        Op::Undo => k.undo,
        Op::Cleanup => k.cleanup,
    });
    run_handler(msg, move |ctx| async move {
        match handler {
            Some(handler) => outcome(handler(ctx, env).await),
            None => Outcome::Failed(format!("no {op:?} handler for task kind {kind:?}")),
        }
    })
}

/// What every handler can use: the backend, and the manager's own part (through `Deref`).
pub struct Env<M> {
    pub backend: Addr<BackendActor>,
    pub manager: std::rc::Rc<M>,
}

impl<M> Clone for Env<M> {
    fn clone(&self) -> Self {
        Self { backend: self.backend.clone(), manager: self.manager.clone() }
    }
}

impl<M> Deref for Env<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.manager
    }
}

impl<M> Env<M> {
    /// Sends a message to the backend actor; its errors become the task's error text.
    pub async fn call<R, T>(&self, msg: R) -> Result<T, String>
    where
        R: Message<Result = Result<T, BackendError>> + Send + 'static,
        T: Send + 'static,
        BackendActor: actix::Handler<R>,
    {
        super::backend_call(&self.backend, msg).await
    }
}

/// The workshop a task works on, stored in its data ([`keys::TARGET`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskTarget {
    pub name: String,
    pub project_id: String,
    pub project_path: String,
    pub user: UserRef,
}

impl TaskTarget {
    /// A workshop named outside a task (a request, a listing), whose project path is not needed.
    pub fn workshop(user: &UserRef, project_id: &str, name: &str) -> TaskTarget {
        TaskTarget {
            name: name.to_string(),
            project_id: project_id.to_string(),
            project_path: String::new(),
            user: user.clone(),
        }
    }

    /// The task's target.
    pub fn of(ctx: &TaskCtx) -> Result<TaskTarget, String> {
        ctx.read(&keys::TARGET).ok_or_else(|| format!("task {} has no workshop target", ctx.task))
    }

    /// The instance in the backend's terms.
    pub fn backend(&self) -> Target {
        Target::new(&self.user.name, &self.project_id, &self.name)
    }
}

/// How a change treats errors (`wait-setup` in its data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitSetup {
    /// `wait-on-error` pauses the change at a failed task instead of undoing it.
    pub mode: String,
}

/// The typed keys of change and task data: each is written and read through these only.
pub mod keys {
    use serde_json::Value;

    use super::{TaskTarget, WaitSetup};
    use crate::managers::hook::{HealthRecord, HookSetup};
    use crate::state::{Key, TaskId};

    /// Change: the owner's user name.
    pub const USER: Key<String> = Key::new("user");
    /// Change: the project of its workshops.
    pub const PROJECT_ID: Key<String> = Key::new("project-id");
    /// Change: how errors are treated.
    pub const WAIT_SETUP: Key<WaitSetup> = Key::new("wait-setup");
    /// Change: how many times it was resumed, plus one.
    pub const ATTEMPT: Key<u64> = Key::new("attempt");
    /// Change: its hooks trace what they run (`--verbose`).
    pub const VERBOSE: Key<bool> = Key::new("verbose");
    /// Change: discarded by `remove` while paused; its undo is skipped.
    pub const DISCARD_BACKGROUND: Key<bool> = Key::new("discard-background");
    /// Change or task: what the API shows as the change's or task's `data`.
    pub const API_DATA: Key<Value> = Key::new("api-data");
    /// Task: the workshop's name (what busy checks look for).
    pub const WORKSHOP: Key<String> = Key::new("workshop");
    /// Task: the workshop it works on.
    pub const TARGET: Key<TaskTarget> = Key::new("target");
    /// Task: the base (download-base, create-workshop).
    pub const BASE: Key<String> = Key::new("base");
    /// Task: the workshop's SDKs in install order (create-workshop, rebuild-workshop: the
    /// layers to look for a snapshot of).
    pub const LAYER_SDKS: Key<Vec<String>> = Key::new("layer-sdks");
    /// Task: the normalised definition the workshop is made from (create-workshop).
    pub const WORKSHOP_FILE: Key<String> = Key::new("workshop-file");
    /// Task: kill rather than wait (stop-workshop).
    pub const FORCE: Key<bool> = Key::new("force");
    /// Task: the instance is stopped and about to be replaced by a rebuilt one
    /// (`remove-profiles` of a refresh): its guest is left as it is.
    pub const REPLACED: Key<bool> = Key::new("replaced");
    /// Task data of `rebuild-workshop` in a restore: the image the workshop was built from.
    pub const BASE_IMAGE: Key<crate::backend::BaseImage> = Key::new("base-image");
    /// Task data of `stash-workshop`: the identity of the stash it made (its cleanup deletes
    /// that one only).
    pub const STASH_ID: Key<String> = Key::new("stash-id");
    /// Task data of `mount-state-storage`: it added the device (its undo removes only that).
    pub const STATE_STORAGE_ADDED: Key<bool> = Key::new("state-storage-added");
    /// Task data of the `mount-state-storage` before the `save-state` hooks: it empties the
    /// storage first, so that `restore-state` finds only what this change saved.
    pub const STATE_STORAGE_FRESH: Key<bool> = Key::new("state-storage-fresh");
    /// Task data of `mount-state-storage`: the hooks it mounts the storage for, each as the
    /// SDK's name and, for `save-state`, the tree it runs from (else the tree this change
    /// retrieved). None of them in its tree: no device (the directory is still made ready).
    pub const STATE_HOOKS: Key<Vec<(String, Option<crate::sdk::TreeId>)>> = Key::new("state-hooks");
    /// Task: the exec task an install-action prepares.
    pub const EXEC_TASK: Key<TaskId> = Key::new("exec-task");
    /// Task: the SDK hook a run-hook runs.
    pub const HOOK_SETUP: Key<HookSetup> = Key::new("hook-setup");
    /// Task (`save-state` of a refresh): the tree of the SDK installed when the refresh was
    /// planned, which the hook runs from (looked into for the hook without asking LXD).
    pub const HOOK_TREE: Key<crate::sdk::TreeId> = Key::new("hook-tree");
    /// Task: what the last run of a check-health hook established.
    pub const HEALTH: Key<HealthRecord> = Key::new("health");
    /// Task: the workshop a `fork-workshop` copies.
    pub const FORK_OF: Key<String> = Key::new("fork-of");
    /// Task: another workshop its change holds until it is ready (the source of a fork).
    pub const HOLDS: Key<String> = Key::new("holds");
    /// Change: a tunnel whose host port is taken listens on a free one instead (a fork's
    /// tunnels, beside those of the workshop it copies).
    pub const FREE_HOST_PORTS: Key<bool> = Key::new("free-host-ports");
    /// Change: the workshop a fork copies, whose manual connections its auto-connect copies.
    pub const FORK_SOURCE: Key<String> = Key::new("fork-source");
}

/// Creates a change of `user` on `project_id`.
pub fn new_change(
    st: &mut State,
    kind: &str,
    summary: &str,
    user: &UserRef,
    project_id: &str,
    now: DateTime<Utc>,
) -> ChangeId {
    let id = st.new_change(kind, summary, now);
    let c = st.change_mut(&id).expect("new change exists");
    c.write(&keys::USER, &user.name);
    c.write(&keys::PROJECT_ID, &project_id.to_string());
    id
}

/// Adds a task for `target` to `change`, after `after` when given.
pub fn add_task(
    st: &mut State,
    change: &ChangeId,
    kind: &str,
    summary: &str,
    target: &TaskTarget,
    after: Option<&TaskId>,
    now: DateTime<Utc>,
) -> TaskId {
    let id = st.new_task(kind, summary, now);
    let t = st.task_mut(&id).expect("new task exists");
    t.write(&keys::WORKSHOP, &target.name);
    t.write(&keys::TARGET, target);
    st.add_task(change, &id);
    if let Some(after) = after {
        st.wait_for(&id, after);
    }
    id
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use futures_util::future::AbortHandle;
    use serde_json::{Map, Value};

    use super::*;
    use crate::backend::fake::FakeBackend;

    thread_local! {
        static UNDONE: Cell<u32> = const { Cell::new(0) };
    }

    static KINDS: &[Kind<()>] = &[Kind {
        name: "thing",
        run: |_, _| Box::pin(async { Ok(()) }),
        undo: Some(|_, _| {
            Box::pin(async {
                UNDONE.with(|n| n.set(n.get() + 1));
                Ok(())
            })
        }),
        cleanup: None,
    }];

    #[actix_rt::test]
    async fn tasks_of_a_discarded_change_are_not_undone() {
        let dir = tempfile::tempdir().unwrap();
        let engine = StateEngine::open(dir.path()).unwrap().start();
        let backend = BackendActor::new(std::rc::Rc::new(FakeBackend::default())).start();
        let env = Env { backend, manager: std::rc::Rc::new(()) };
        for (discarded, undone) in [(false, 1), (true, 1)] {
            let mut change_data = Map::new();
            if discarded {
                change_data.insert(keys::DISCARD_BACKGROUND.name().to_string(), Value::Bool(true));
            }
            let ctx = TaskCtx::new(
                TaskId::from("1".to_string()),
                ChangeId::from("1".to_string()),
                "thing".into(),
                Map::new(),
                change_data,
                engine.clone(),
            );
            let (_, abort) = AbortHandle::new_pair();
            let outcome = dispatch(KINDS, RunTask { ctx, op: Op::Undo, abort }, env.clone()).await;
            assert!(matches!(outcome, Outcome::Done), "{outcome:?}");
            assert_eq!(UNDONE.with(Cell::get), undone, "discarded: {discarded}");
        }
    }
}
