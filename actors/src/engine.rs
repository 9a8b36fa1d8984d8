//! The `StateEngine` actor: sole owner of [`State`], checkpointed after every mutating message
//! (a `state.journal` append, see [`Store`]). It hosts the pure [`Scheduler`] and hands
//! runnable tasks to the [`TaskRunner`](crate::runner::TaskRunner).
//!
//! Invariant: nobody else holds a `State`; every read or write is a message to this actor, so
//! the mailbox is the lock and the end of a mutating message is the checkpoint.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};

use crate::runner::{StartTasks, TaskRunner};
use crate::state::checkpoint::StateLock;
use crate::state::{ChangeId, Ensured, Op, Outcome, Scheduler, State, StateError, Status, Store, TaskId};

/// How often the engine re-examines every task even without a trigger.
const ENSURE_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// How often old changes and warnings are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Retry interval and give-up time for a failing checkpoint.
const CHECKPOINT_RETRY: Duration = Duration::from_secs(3);
const CHECKPOINT_GIVE_UP: Duration = Duration::from_secs(5 * 60);

/// Errors of the state engine's messages.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot find change {0:?}")]
    ChangeNotFound(ChangeId),
    #[error("cannot abort change {0}: it is already ready")]
    ChangeReady(ChangeId),
    #[error("cannot reach the state engine: {0}")]
    Mailbox(#[from] MailboxError),
}

/// The plain part of the engine: state, scheduler and change waiters. Tests drive it directly.
pub struct Engine {
    state: State,
    scheduler: Scheduler,
    store: Store,
    waiters: HashMap<ChangeId, Vec<oneshot::Sender<()>>>,
    /// When the first of a run of failed checkpoints happened.
    failing_since: Option<Instant>,
    dirty: bool,
}

impl Engine {
    /// Loads the state of `dir` (or starts empty) without locking; see [`StateEngine::open`].
    pub fn load(dir: &Path) -> Result<Self, EngineError> {
        let (store, state) = Store::open(dir)?;
        Ok(Self {
            state,
            scheduler: Scheduler::new(),
            store,
            waiters: HashMap::new(),
            failing_since: None,
            dirty: false,
        })
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn scheduler_mut(&mut self) -> &mut Scheduler {
        &mut self.scheduler
    }

    /// Applies a mutation and marks the state for checkpointing.
    pub fn mutate<R>(&mut self, f: impl FnOnce(&mut State) -> R) -> R {
        self.dirty = true;
        f(&mut self.state)
    }

    /// Makes the changes since the last checkpoint durable, if there are any. Returns false
    /// when the write failed.
    pub fn checkpoint(&mut self) -> bool {
        if !self.dirty {
            return true;
        }
        let started = Instant::now();
        match self.store.checkpoint(&mut self.state) {
            Ok(()) => {
                self.dirty = false;
                self.failing_since = None;
                debug!(elapsed_us = started.elapsed().as_micros() as u64, "checkpoint");
                true
            }
            Err(e) => {
                let since = *self.failing_since.get_or_insert_with(Instant::now);
                error!(path = %self.store.path().display(), error = %e, "cannot checkpoint state");
                if since.elapsed() > CHECKPOINT_GIVE_UP {
                    // The durable state cannot make progress: let the supervisor restart us.
                    panic!("cannot checkpoint state for {CHECKPOINT_GIVE_UP:?}: {e}");
                }
                false
            }
        }
    }

    /// Leaves the whole state in `state.json` (a clean stop); when that cannot be written, the
    /// journal keeps what changed.
    pub fn close(&mut self) {
        match self.store.compact(&mut self.state) {
            Ok(()) => self.dirty = false,
            Err(e) => {
                warn!(error = %e, "cannot compact state on stop; the journal keeps it");
                self.checkpoint();
            }
        }
    }

    /// Runs the scheduler: what to start, what to cancel, and when to look again.
    pub fn ensure(&mut self, now: DateTime<Utc>) -> Ensured {
        let ensured = self.scheduler.ensure(&mut self.state, now);
        if !ensured.start.is_empty() || !ensured.cancel.is_empty() {
            self.dirty = true;
        }
        ensured
    }

    /// Records a handler's outcome; returns running tasks to cancel (their lane was aborted).
    pub fn finished(&mut self, task: &TaskId, op: Op, outcome: Outcome, now: DateTime<Utc>) -> Vec<TaskId> {
        self.dirty = true;
        self.scheduler.finished(&mut self.state, task, op, outcome, now)
    }

    /// Runs a scheduler operation that may abort running tasks; returns those to cancel.
    pub fn schedule(&mut self, f: impl FnOnce(&mut Scheduler, &mut State) -> Vec<TaskId>) -> Vec<TaskId> {
        self.dirty = true;
        f(&mut self.scheduler, &mut self.state)
    }

    /// Registers a waiter woken when `change` is ready (at once if it already is).
    pub fn watch(&mut self, change: &ChangeId) -> Result<oneshot::Receiver<()>, EngineError> {
        if self.state.change(change).is_none() {
            return Err(EngineError::ChangeNotFound(change.clone()));
        }
        let (tx, rx) = oneshot::channel();
        if self.state.change_ready(change) {
            let _ = tx.send(());
        } else {
            self.waiters.entry(change.clone()).or_default().push(tx);
        }
        Ok(rx)
    }

    /// Wakes the waiters of every change that became ready (or vanished).
    pub fn wake_ready(&mut self) {
        let state = &self.state;
        self.waiters.retain(|id, senders| {
            let done = state.change(id).is_none_or(|_| state.change_ready(id));
            if done {
                for tx in senders.drain(..) {
                    let _ = tx.send(());
                }
            }
            senders.retain(|tx| !tx.is_closed());
            !done && !senders.is_empty()
        });
    }
}

/// The actor shell over [`Engine`].
pub struct StateEngine {
    engine: Engine,
    runner: Option<Addr<TaskRunner>>,
    wakeup: Option<(DateTime<Utc>, SpawnHandle)>,
    retry_scheduled: bool,
    _lock: StateLock,
}

impl StateEngine {
    /// Locks `dir/state.lock` (a second daemon on the same state fails here) and loads the state.
    pub fn open(dir: &Path) -> Result<Self, EngineError> {
        let lock = StateLock::acquire(dir)?;
        let engine = Engine::load(dir)?;
        Ok(Self { engine, runner: None, wakeup: None, retry_scheduled: false, _lock: lock })
    }

    /// Ends a mutating message: checkpoint, wake waiters, schedule runnable tasks.
    fn settle(&mut self, ctx: &mut Context<Self>) {
        self.settle_cancelling(Vec::new(), ctx);
    }

    /// [`Self::settle`], cancelling the given running tasks first.
    fn settle_cancelling(&mut self, mut cancel: Vec<TaskId>, ctx: &mut Context<Self>) {
        let now = Utc::now();
        let Ensured { start, cancel: more, next_wakeup: next } = self.engine.ensure(now);
        cancel.extend(more);
        if !self.engine.checkpoint() && !self.retry_scheduled {
            self.retry_scheduled = true;
            ctx.run_later(CHECKPOINT_RETRY, |act, ctx| {
                act.retry_scheduled = false;
                act.settle(ctx);
            });
        }
        self.engine.wake_ready();
        if let (Some(runner), false) = (&self.runner, cancel.is_empty()) {
            runner.do_send(crate::runner::CancelTasks(cancel));
        }
        if !start.is_empty() {
            match &self.runner {
                Some(runner) => runner.do_send(StartTasks(start)),
                None => warn!(count = start.len(), "tasks runnable but no task runner attached"),
            }
        }
        self.schedule_wakeup(next, now, ctx);
    }

    fn schedule_wakeup(&mut self, next: Option<DateTime<Utc>>, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        let Some(at) = next else { return };
        if let Some((current, handle)) = self.wakeup {
            if current <= at {
                return;
            }
            ctx.cancel_future(handle);
        }
        let delay = (at - now).to_std().unwrap_or_default();
        let handle = ctx.run_later(delay, |act, ctx| {
            act.wakeup = None;
            act.settle(ctx);
        });
        self.wakeup = Some((at, handle));
    }
}

impl Actor for StateEngine {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(ENSURE_INTERVAL, |act, ctx| act.settle(ctx));
        ctx.run_interval(PRUNE_INTERVAL, |act, ctx| {
            act.engine.mutate(|st| st.prune(Utc::now()));
            act.settle(ctx);
        });
        info!(path = %self.engine.store.path().display(), "state engine started");
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        self.engine.close();
        Running::Stop
    }
}

/// Attaches the task runner and starts scheduling (restart recovery happens here: tasks left
/// Doing/Undoing by a previous run are started again).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttachRunner(pub Addr<TaskRunner>);

impl Handler<AttachRunner> for StateEngine {
    type Result = ();
    fn handle(&mut self, msg: AttachRunner, ctx: &mut Context<Self>) {
        self.runner = Some(msg.0);
        self.settle(ctx);
    }
}

/// Registers task kinds with the scheduler.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddKinds(pub Vec<KindSpec>);

/// A task kind and which handlers it has.
#[derive(Debug, Clone)]
pub struct KindSpec {
    pub kind: &'static str,
    pub undo: bool,
    pub cleanup: bool,
}

impl Handler<AddKinds> for StateEngine {
    type Result = ();
    fn handle(&mut self, msg: AddKinds, _ctx: &mut Context<Self>) {
        for spec in msg.0 {
            self.engine.scheduler_mut().add_kind(spec.kind, spec.undo, spec.cleanup);
        }
    }
}

/// Reads the state: `Query(|st| ...)`. Never checkpoints.
pub struct Query<R>(pub Box<dyn FnOnce(&State) -> R + Send>);

impl<R: 'static> Message for Query<R> {
    type Result = R;
}

impl<R: 'static> Handler<Query<R>> for StateEngine {
    type Result = MessageResult<Query<R>>;
    fn handle(&mut self, msg: Query<R>, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult((msg.0)(self.engine.state()))
    }
}

/// Mutates the state: `Transact(|st| ...)`; checkpointed, then tasks are scheduled.
pub struct Transact<R>(pub Box<dyn FnOnce(&mut State) -> R + Send>);

impl<R: 'static> Message for Transact<R> {
    type Result = R;
}

impl<R: 'static> Handler<Transact<R>> for StateEngine {
    type Result = MessageResult<Transact<R>>;
    fn handle(&mut self, msg: Transact<R>, ctx: &mut Context<Self>) -> Self::Result {
        let result = self.engine.mutate(msg.0);
        self.settle(ctx);
        MessageResult(result)
    }
}

/// Waits for a change to become ready: replies with a receiver that fires then.
#[derive(Message)]
#[rtype(result = "Result<oneshot::Receiver<()>, EngineError>")]
pub struct WatchChange(pub ChangeId);

impl Handler<WatchChange> for StateEngine {
    type Result = Result<oneshot::Receiver<()>, EngineError>;
    fn handle(&mut self, msg: WatchChange, _ctx: &mut Context<Self>) -> Self::Result {
        self.engine.watch(&msg.0)
    }
}

/// Aborts a change: running tasks are cancelled, done ones undone.
#[derive(Message)]
#[rtype(result = "Result<(), EngineError>")]
pub struct AbortChange(pub ChangeId);

impl Handler<AbortChange> for StateEngine {
    type Result = Result<(), EngineError>;
    fn handle(&mut self, msg: AbortChange, ctx: &mut Context<Self>) -> Self::Result {
        let id = msg.0;
        let state = self.engine.state();
        if state.change(&id).is_none() {
            return Err(EngineError::ChangeNotFound(id));
        }
        if state.change_ready(&id) {
            return Err(EngineError::ChangeReady(id));
        }
        let now = Utc::now();
        let cancel = self.engine.schedule(|sched, st| sched.abort(st, &id, now));
        self.settle_cancelling(cancel, ctx);
        Ok(())
    }
}

/// A handler finished (sent by the task runner).
#[derive(Message)]
#[rtype(result = "()")]
pub struct TaskFinished {
    pub task: TaskId,
    pub op: Op,
    pub outcome: Outcome,
}

impl Handler<TaskFinished> for StateEngine {
    type Result = ();
    fn handle(&mut self, msg: TaskFinished, ctx: &mut Context<Self>) {
        debug!(task = %msg.task, op = ?msg.op, outcome = ?msg.outcome, "task finished");
        let cancel = self.engine.finished(&msg.task, msg.op, msg.outcome, Utc::now());
        self.settle_cancelling(cancel, ctx);
    }
}

/// Whether any change is still running (used for graceful shutdown).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct IsBusy;

impl Handler<IsBusy> for StateEngine {
    type Result = bool;
    fn handle(&mut self, _msg: IsBusy, _ctx: &mut Context<Self>) -> bool {
        let st = self.engine.state();
        st.changes().any(|c| !st.change_ready(&c.id) && st.change_status(&c.id) != Status::Wait)
    }
}

/// Resumes (`Continue`) or gives up on (`Abort`) a change paused in Wait.
#[derive(Message)]
#[rtype(result = "Result<(), EngineError>")]
pub struct ResumeWaiting {
    pub change: ChangeId,
    pub abort: bool,
}

impl Handler<ResumeWaiting> for StateEngine {
    type Result = Result<(), EngineError>;
    fn handle(&mut self, msg: ResumeWaiting, ctx: &mut Context<Self>) -> Self::Result {
        if self.engine.state().change(&msg.change).is_none() {
            return Err(EngineError::ChangeNotFound(msg.change));
        }
        let now = Utc::now();
        let cancel = self.engine.schedule(|sched, st| {
            if msg.abort {
                sched.abort_waiting(st, &msg.change, now)
            } else {
                sched.continue_waiting(st, &msg.change, now);
                Vec::new()
            }
        });
        self.settle_cancelling(cancel, ctx);
        Ok(())
    }
}
