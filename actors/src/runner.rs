//! The `TaskRunner` actor: owns the in-flight handler futures. The state engine decides what
//! runs ([`StartTasks`]); the runner routes each task to the manager registered for its kind,
//! keeps an abort handle per running task, and reports outcomes back as [`TaskFinished`].

use std::collections::HashMap;

use actix::prelude::*;
use futures_util::future::{AbortHandle, AbortRegistration};
use serde_json::{Map, Value};
use tracing::{debug, warn};

use crate::dispatch::{AttachRunner, CancelTasks, StartTasks, TaskFinished};
use crate::engine::{EngineError, StateEngine, Transact};
use crate::state::{ChangeId, Key, Op, Outcome, TaskId};

/// Asks a manager to run one handler. The manager wraps its future in
/// `Abortable::new(fut, abort)` so that aborting the change cancels it.
#[derive(Message)]
#[rtype(result = "Outcome")]
pub struct RunTask {
    pub ctx: TaskCtx,
    pub op: Op,
    pub abort: AbortRegistration,
}

/// What a handler knows about its task, and how it talks back to the state engine.
#[derive(Clone)]
pub struct TaskCtx {
    pub task: TaskId,
    pub change: ChangeId,
    pub kind: String,
    /// The task's data when it was started.
    pub data: Map<String, Value>,
    /// The change's data when the task was started.
    pub change_data: Map<String, Value>,
    engine: Addr<StateEngine>,
}

impl std::fmt::Debug for TaskCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskCtx").field("task", &self.task).field("kind", &self.kind).finish()
    }
}

impl TaskCtx {
    pub fn new(
        task: TaskId,
        change: ChangeId,
        kind: String,
        data: Map<String, Value>,
        change_data: Map<String, Value>,
        engine: Addr<StateEngine>,
    ) -> Self {
        Self { task, change, kind, data, change_data, engine }
    }

    /// The value of a typed key of the task's data (as of the start of the handler).
    pub fn read<T: serde::de::DeserializeOwned>(&self, key: &Key<T>) -> Option<T> {
        key.get(&self.data)
    }

    /// The value of a typed key of the change's data (as of the start of the handler).
    pub fn change_read<T: serde::de::DeserializeOwned>(&self, key: &Key<T>) -> Option<T> {
        key.get(&self.change_data)
    }

    /// A typed value of the change's data (as of the start of the handler).
    pub fn change_get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.change_data.get(key).and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Runs a mutation of the state on behalf of this task (checkpointed).
    pub async fn transact<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut crate::state::State, &TaskId, &ChangeId) -> R + Send + 'static,
    ) -> Result<R, EngineError> {
        let (task, change) = (self.task.clone(), self.change.clone());
        self.engine.send(Transact(Box::new(move |st| f(st, &task, &change)))).await?
    }

    /// Appends an INFO line to the task log.
    pub async fn log(&self, message: impl Into<String>) {
        self.log_at(crate::state::LogLevel::Info, message.into()).await;
    }

    /// Appends an ERROR line to the task log (for errors that do not fail the task outright).
    pub async fn log_error(&self, message: &str) {
        self.log_at(crate::state::LogLevel::Error, message.to_string()).await;
    }

    async fn log_at(&self, level: crate::state::LogLevel, message: String) {
        let _ = self
            .transact(move |st, task, _| {
                if let Some(t) = st.task_mut(task) {
                    t.logf(level, &message, chrono::Utc::now());
                }
            })
            .await;
    }

    /// Stores the value of a typed key in the task's data.
    pub async fn write<T: serde::Serialize>(&mut self, key: &Key<T>, value: &T) {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.set(key.name(), value).await
    }

    /// Stores a value in the task's data.
    async fn set(&mut self, key: &str, value: Value) {
        self.data.insert(key.to_string(), value.clone());
        let key = key.to_string();
        let _ = self
            .transact(move |st, task, _| {
                if let Some(t) = st.task_mut(task) {
                    t.set(&key, value);
                }
            })
            .await;
    }

    /// Stores a value in the change's data.
    pub async fn change_set(&mut self, key: &str, value: Value) {
        self.change_data.insert(key.to_string(), value.clone());
        let key = key.to_string();
        let _ = self
            .transact(move |st, _, change| {
                if let Some(c) = st.change_mut(change) {
                    c.set(&key, value);
                }
            })
            .await;
    }
}

/// Routes `kinds` to `handler`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RegisterHandler {
    pub kinds: Vec<&'static str>,
    pub handler: Recipient<RunTask>,
}

/// Stops starting tasks; replies with how many are still running.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Drain;

/// A handler future completed (internal).
#[derive(Message)]
#[rtype(result = "()")]
struct HandlerReturned {
    task: TaskId,
    op: Op,
    outcome: Outcome,
}

pub struct TaskRunner {
    engine: Addr<StateEngine>,
    handlers: HashMap<&'static str, Recipient<RunTask>>,
    running: HashMap<TaskId, AbortHandle>,
    draining: bool,
}

impl TaskRunner {
    pub fn new(engine: Addr<StateEngine>) -> Self {
        Self { engine, handlers: HashMap::new(), running: HashMap::new(), draining: false }
    }

    /// What the engine needs to hand this runner its tasks.
    pub fn attach(runner: &Addr<TaskRunner>) -> AttachRunner {
        AttachRunner { start: runner.clone().recipient(), cancel: runner.clone().recipient() }
    }
}

impl Actor for TaskRunner {
    type Context = Context<Self>;
}

impl Handler<RegisterHandler> for TaskRunner {
    type Result = ();
    fn handle(&mut self, msg: RegisterHandler, _ctx: &mut Context<Self>) {
        for kind in msg.kinds {
            self.handlers.insert(kind, msg.handler.clone());
        }
    }
}

impl Handler<StartTasks> for TaskRunner {
    type Result = ();
    fn handle(&mut self, msg: StartTasks, ctx: &mut Context<Self>) {
        for start in msg.0 {
            let task = start.task.clone();
            if self.draining {
                // Leave it Doing in the state: the next daemon runs it again.
                debug!(task = %task, "not starting task while draining");
                continue;
            }
            let Some(handler) = self.handlers.get(start.kind.as_str()).cloned() else {
                warn!(task = %task, kind = %start.kind, "no handler registered for task kind");
                let failed = Outcome::Failed(format!("no handler for task kind {:?}", start.kind));
                ctx.notify(HandlerReturned { task, op: start.op, outcome: failed });
                continue;
            };
            let (abort, registration) = AbortHandle::new_pair();
            self.running.insert(task.clone(), abort);
            let engine = self.engine.clone();
            let me = ctx.address();
            let op = start.op;
            actix::spawn(async move {
                let ctx =
                    TaskCtx::new(start.task, start.change, start.kind, start.data, start.change_data, engine);
                let outcome = match handler.send(RunTask { ctx, op, abort: registration }).await {
                    Ok(outcome) => outcome,
                    Err(e) => Outcome::Failed(format!("cannot run task: {e}")),
                };
                me.do_send(HandlerReturned { task, op, outcome });
            });
        }
    }
}

impl Handler<HandlerReturned> for TaskRunner {
    type Result = ();
    fn handle(&mut self, msg: HandlerReturned, _ctx: &mut Context<Self>) {
        self.running.remove(&msg.task);
        if self.draining && matches!(msg.outcome, Outcome::Cancelled) {
            return;
        }
        self.engine.do_send(TaskFinished { task: msg.task, op: msg.op, outcome: msg.outcome });
    }
}

impl Handler<CancelTasks> for TaskRunner {
    type Result = ();
    fn handle(&mut self, msg: CancelTasks, _ctx: &mut Context<Self>) {
        for task in msg.0 {
            if let Some(handle) = self.running.get(&task) {
                debug!(task = %task, "cancelling task");
                handle.abort();
            }
        }
    }
}

impl Handler<Drain> for TaskRunner {
    type Result = usize;
    fn handle(&mut self, _msg: Drain, _ctx: &mut Context<Self>) -> usize {
        self.draining = true;
        self.running.len()
    }
}
