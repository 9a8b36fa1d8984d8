//! What the state engine and the task runner tell each other. Kept apart from both so that
//! neither imports the other: the engine holds the runner's [`Recipient`]s, the runner the
//! engine's address.

use actix::prelude::*;
use serde_json::{Map, Value};

use crate::state::{ChangeId, Op, Outcome, TaskId};

/// A task to run, with its data and its change's data as the engine had them when it
/// started the task (the handler needs no second round trip for them).
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub task: TaskId,
    pub change: ChangeId,
    /// Its kind (selects the handler).
    pub kind: String,
    /// Which handler.
    pub op: Op,
    pub data: Map<String, Value>,
    pub change_data: Map<String, Value>,
}

/// Starts the given tasks (sent by the state engine).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartTasks(pub Vec<Dispatch>);

/// Cancels running tasks (their change was aborted).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelTasks(pub Vec<TaskId>);

/// A handler finished (sent by the task runner).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct TaskFinished {
    pub task: TaskId,
    pub op: Op,
    pub outcome: Outcome,
}

/// Where the engine sends the tasks to start and to cancel: the task runner.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttachRunner {
    pub start: Recipient<StartTasks>,
    pub cancel: Recipient<CancelTasks>,
}
