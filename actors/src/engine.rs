//! The `StateEngine` actor: sole owner of [`State`], checkpointed after every mutating message
//! (a `state.journal` append, see [`Store`]). It hosts the pure [`Scheduler`] and hands
//! runnable tasks to the [`TaskRunner`](crate::runner::TaskRunner).
//!
//! Invariant: nobody else holds a `State`; every read or write is a message to this actor, so
//! the mailbox is the lock and the end of a mutating message is the checkpoint. Only once the
//! checkpoint is durable is the message answered and are its tasks started. A checkpoint that
//! fails leaves the engine refusing every change and raises its [`Failure`]: the daemon exits
//! and its supervisor starts it again from what was saved.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};

use crate::dispatch::{AttachRunner, CancelTasks, Dispatch, StartTasks, TaskFinished};
use crate::state::checkpoint::StateLock;
use crate::state::{ChangeId, Ensured, Op, Outcome, Scheduler, State, StateError, Status, Store, TaskId};

/// How often the engine re-examines every task even without a trigger.
const ENSURE_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// How often old changes and warnings are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Errors of the state engine's messages.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot find change {0:?}")]
    ChangeNotFound(ChangeId),
    #[error("cannot abort change {0} with nothing pending")]
    ChangeReady(ChangeId),
    #[error("cannot reach the state engine: {0}")]
    Mailbox(#[from] MailboxError),
    /// A checkpoint failed (the text says why): nothing was changed, and the daemon stops.
    #[error("{0}")]
    Unsaved(String),
}

/// Raised when the engine can no longer keep the state durable (a checkpoint failed, or the
/// actor died): the daemon must exit, so that its supervisor starts it again from the saved
/// state, instead of serving requests without an engine.
pub struct Failure(Option<oneshot::Sender<String>>);

impl Failure {
    /// A failure signal and what receives its reason.
    pub fn new() -> (Self, oneshot::Receiver<String>) {
        let (tx, rx) = oneshot::channel();
        (Self(Some(tx)), rx)
    }

    fn raise(&mut self, reason: String) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(reason);
        }
    }
}

impl Drop for Failure {
    /// The engine is gone (in the daemon it only goes at exit, or when a handler panicked).
    fn drop(&mut self) {
        self.raise("the state engine stopped unexpectedly".into());
    }
}

/// The plain part of the engine: state, scheduler and change waiters. Tests drive it directly.
pub struct Engine {
    state: State,
    scheduler: Scheduler,
    store: Store,
    waiters: HashMap<ChangeId, Vec<oneshot::Sender<()>>>,
    /// Why a checkpoint failed: from then on the state in memory is never saved or acted on.
    unsaved: Option<String>,
    dirty: bool,
    /// A change of the state is under way; still set after it, it panicked halfway, and
    /// what it left is never saved.
    changing: bool,
}

impl Engine {
    /// Loads the state of `dir` (or starts empty) without locking; see [`StateEngine::open`].
    pub fn load(dir: &Path) -> Result<Self, EngineError> {
        let (mut store, state) = Store::open(dir)?;
        if crate::managers::injected_fault(crate::managers::STATE_JOURNAL_FAULT) {
            store
                .fill_disk()
                .map_err(|source| StateError::Write { path: dir.join("state.journal"), source })?;
        }
        Ok(Self {
            state,
            scheduler: Scheduler::new(),
            store,
            waiters: HashMap::new(),
            unsaved: None,
            dirty: false,
            changing: false,
        })
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn scheduler_mut(&mut self) -> &mut Scheduler {
        &mut self.scheduler
    }

    /// Whether work is under way: a change that is neither ready nor paused in Wait (a user's
    /// `--continue` or `--abort` resumes that one), or a running handler (cleanups too).
    pub fn is_busy(&self) -> bool {
        let st = &self.state;
        self.scheduler.running().next().is_some()
            || st.changes().any(|c| !st.change_ready(&c.id) && st.change_status(&c.id) != Status::Wait)
    }

    /// Applies a mutation and marks the state for checkpointing.
    pub fn mutate<R>(&mut self, f: impl FnOnce(&mut State) -> R) -> R {
        self.change(|_, st| f(st))
    }

    /// Runs `f` on the scheduler and state, marking the state for checkpointing.
    fn change<R>(&mut self, f: impl FnOnce(&mut Scheduler, &mut State) -> R) -> R {
        self.dirty = true;
        self.changing = true;
        let result = f(&mut self.scheduler, &mut self.state);
        self.changing = false;
        result
    }

    /// Makes the changes since the last checkpoint durable, if there are any. A failure is
    /// final: the engine then refuses every change (its state in memory is ahead of the
    /// saved one, which is what a restart goes back to).
    pub fn checkpoint(&mut self) -> Result<(), EngineError> {
        if let Some(reason) = &self.unsaved {
            return Err(EngineError::Unsaved(reason.clone()));
        }
        if !self.dirty {
            return Ok(());
        }
        let started = Instant::now();
        match self.store.checkpoint(&mut self.state) {
            Ok(()) => {
                self.dirty = false;
                debug!(elapsed_us = started.elapsed().as_micros() as u64, "checkpoint");
                Ok(())
            }
            Err(e) => {
                error!(error = %e, "cannot save the state: no change is acknowledged or started any more");
                let reason = e.to_string();
                self.unsaved = Some(reason.clone());
                Err(EngineError::Unsaved(reason))
            }
        }
    }

    /// Ends a mutating message: checkpoints, then wakes the waiters of changes that became
    /// ready and returns what to start and cancel. Nothing of it when the checkpoint fails.
    pub fn settle(&mut self, now: DateTime<Utc>) -> Result<Ensured, EngineError> {
        if let Some(reason) = &self.unsaved {
            return Err(EngineError::Unsaved(reason.clone()));
        }
        let ensured = self.ensure(now);
        self.checkpoint()?;
        self.wake_ready();
        Ok(ensured)
    }

    /// Leaves the whole state in `state.json` (a clean stop); when that cannot be written, the
    /// journal keeps what changed. After a failed checkpoint nothing is written.
    pub fn close(&mut self) {
        if self.changing {
            error!("a change of the state was interrupted halfway; it is not saved");
            return;
        }
        if self.unsaved.is_some() {
            return;
        }
        match self.store.compact(&mut self.state) {
            Ok(()) => self.dirty = false,
            Err(e) => {
                warn!(error = %e, "cannot compact state on stop; the journal keeps it");
                let _ = self.checkpoint();
            }
        }
    }

    /// The tasks to start, with their data as the state has it now.
    fn dispatch(&self, start: Vec<crate::state::Start>) -> Vec<Dispatch> {
        start
            .into_iter()
            .map(|s| Dispatch {
                data: self.state.task(&s.task).map(|t| t.data().clone()).unwrap_or_default(),
                change_data: self.state.change(&s.change).map(|c| c.data().clone()).unwrap_or_default(),
                task: s.task,
                change: s.change,
                kind: s.kind,
                op: s.op,
            })
            .collect()
    }

    /// Runs the scheduler: what to start, what to cancel, and when to look again.
    pub fn ensure(&mut self, now: DateTime<Utc>) -> Ensured {
        self.changing = true;
        let ensured = self.scheduler.ensure(&mut self.state, now);
        self.changing = false;
        if !ensured.start.is_empty() || !ensured.cancel.is_empty() {
            self.dirty = true;
        }
        ensured
    }

    /// Records a handler's outcome; returns running tasks to cancel (their lane was aborted).
    pub fn finished(&mut self, task: &TaskId, op: Op, outcome: Outcome, now: DateTime<Utc>) -> Vec<TaskId> {
        self.change(|sched, st| sched.finished(st, task, op, outcome, now))
    }

    /// Runs a scheduler operation that may abort running tasks; returns those to cancel.
    pub fn schedule(&mut self, f: impl FnOnce(&mut Scheduler, &mut State) -> Vec<TaskId>) -> Vec<TaskId> {
        self.change(f)
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
    runner: Option<AttachRunner>,
    wakeup: Option<(DateTime<Utc>, SpawnHandle)>,
    failure: Failure,
    _lock: StateLock,
}

impl StateEngine {
    /// Locks `dir/state.lock` (a second daemon on the same state fails here) and loads the state.
    pub fn open(dir: &Path) -> Result<Self, EngineError> {
        let lock = StateLock::acquire(dir)?;
        let engine = Engine::load(dir)?;
        Ok(Self { engine, runner: None, wakeup: None, failure: Failure(None), _lock: lock })
    }

    /// Raises `failure` when the state can no longer be saved or the actor dies.
    pub fn with_failure(mut self, failure: Failure) -> Self {
        self.failure = failure;
        self
    }

    /// Ends a mutating message: checkpoint, wake waiters, schedule runnable tasks.
    fn settle(&mut self, ctx: &mut Context<Self>) -> Result<(), EngineError> {
        self.settle_cancelling(Vec::new(), ctx)
    }

    /// [`Self::settle`], cancelling the given running tasks first. When the checkpoint fails,
    /// nothing is started, cancelled or answered as done, and the failure is raised.
    fn settle_cancelling(
        &mut self,
        mut cancel: Vec<TaskId>,
        ctx: &mut Context<Self>,
    ) -> Result<(), EngineError> {
        let now = Utc::now();
        let Ensured { start, cancel: more, next_wakeup: next } = match self.engine.settle(now) {
            Ok(ensured) => ensured,
            Err(e) => {
                self.failure.raise(e.to_string());
                return Err(e);
            }
        };
        cancel.extend(more);
        if let (Some(runner), false) = (&self.runner, cancel.is_empty()) {
            runner.cancel.do_send(CancelTasks(cancel));
        }
        if !start.is_empty() {
            match &self.runner {
                Some(runner) => runner.start.do_send(StartTasks(self.engine.dispatch(start))),
                None => warn!(count = start.len(), "tasks runnable but no task runner attached"),
            }
        }
        self.schedule_wakeup(next, now, ctx);
        Ok(())
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
            let _ = act.settle(ctx);
        });
        self.wakeup = Some((at, handle));
    }
}

impl Actor for StateEngine {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(ENSURE_INTERVAL, |act, ctx| {
            let _ = act.settle(ctx);
        });
        ctx.run_interval(PRUNE_INTERVAL, |act, ctx| {
            act.engine.mutate(|st| st.prune(Utc::now()));
            let _ = act.settle(ctx);
        });
        info!(path = %self.engine.store.path().display(), "state engine started");
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        self.engine.close();
        Running::Stop
    }
}

/// Attaching the task runner starts scheduling (restart recovery happens here: tasks left
/// Doing/Undoing by a previous run are started again).
impl Handler<AttachRunner> for StateEngine {
    type Result = ();
    fn handle(&mut self, msg: AttachRunner, ctx: &mut Context<Self>) {
        self.runner = Some(msg);
        let _ = self.settle(ctx);
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

/// Mutates the state: `Transact(|st| ...)`; checkpointed, then answered and its tasks
/// scheduled. An error when the checkpoint failed: then nothing of it is saved or started.
pub struct Transact<R>(pub Box<dyn FnOnce(&mut State) -> R + Send>);

impl<R: 'static> Message for Transact<R> {
    type Result = Result<R, EngineError>;
}

impl<R: 'static> Handler<Transact<R>> for StateEngine {
    type Result = Result<R, EngineError>;
    fn handle(&mut self, msg: Transact<R>, ctx: &mut Context<Self>) -> Self::Result {
        let result = self.engine.mutate(msg.0);
        self.settle(ctx)?;
        Ok(result)
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
        self.settle_cancelling(cancel, ctx)
    }
}

impl Handler<TaskFinished> for StateEngine {
    type Result = ();
    fn handle(&mut self, msg: TaskFinished, ctx: &mut Context<Self>) {
        debug!(task = %msg.task, op = ?msg.op, outcome = ?msg.outcome, "task finished");
        let cancel = self.engine.finished(&msg.task, msg.op, msg.outcome, Utc::now());
        // Not saved: the task runs again after the restart (handlers are idempotent).
        let _ = self.settle_cancelling(cancel, ctx);
    }
}

/// Whether work is under way ([`Engine::is_busy`]): the daemon does not stand by then.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct IsBusy;

impl Handler<IsBusy> for StateEngine {
    type Result = bool;
    fn handle(&mut self, _msg: IsBusy, _ctx: &mut Context<Self>) -> bool {
        self.engine.is_busy()
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
        self.settle_cancelling(cancel, ctx)
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
