//! The engine acknowledges and starts only what is durable; a store that cannot be written
//! stops it for good and fails the daemon.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::FutureExt as _;

use super::*;
use crate::runner::{RegisterHandler, RunTask, TaskRunner};
use crate::state::Status;

/// A change of one task of kind "k", not started yet.
fn add_change(st: &mut State) -> ChangeId {
    let now = Utc::now();
    let change = st.new_change("test", "Test", now);
    let task = st.new_task("k", "Run k", now);
    st.add_task(&change, &task);
    change
}

fn engine(dir: &Path) -> Engine {
    let mut engine = Engine::load(dir).unwrap();
    engine.scheduler_mut().add_kind("k", false, false);
    engine
}

#[test]
fn a_failed_checkpoint_acknowledges_and_starts_nothing_ever_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(dir.path());
    let saved = e.mutate(add_change);
    let ensured = e.settle(Utc::now()).unwrap();
    assert_eq!(ensured.start.len(), 1, "a saved change starts");
    let ready = e.watch(&saved).unwrap();

    e.store.fill_disk().unwrap();
    let lost = e.mutate(add_change);
    e.mutate(|st| st.set_task_status(&st.change_tasks(&saved)[0].id.clone(), Status::Done, Utc::now()));
    let err = e.settle(Utc::now()).unwrap_err();
    assert!(matches!(&err, EngineError::Unsaved(_)), "{err:?}");
    assert!(err.to_string().starts_with("cannot write state file "), "{err}");
    assert!(err.to_string().ends_with("state.journal: No space left on device (os error 28)"), "{err}");
    assert!(ready.now_or_never().is_none(), "a change is not ready until that is saved");

    // The store would work again (it compacts after a failed append), but what is in memory
    // was never saved: nothing more is saved, started or acknowledged.
    e.mutate(add_change);
    assert!(matches!(e.settle(Utc::now()), Err(EngineError::Unsaved(_))));
    assert!(matches!(e.checkpoint(), Err(EngineError::Unsaved(_))));
    e.close();
    drop(e);
    let back = Engine::load(dir.path()).unwrap();
    assert!(back.state().change(&saved).is_some());
    assert!(back.state().change(&lost).is_none(), "the unsaved change is not in the state");
    assert_eq!(back.state().changes().count(), 1);
}

/// A manager that records the tasks it is asked to run (and never finishes them).
struct Recorder(Rc<RefCell<Vec<TaskId>>>);

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<RunTask> for Recorder {
    type Result = ResponseFuture<Outcome>;
    fn handle(&mut self, msg: RunTask, _ctx: &mut Context<Self>) -> Self::Result {
        self.0.borrow_mut().push(msg.ctx.task.clone());
        Box::pin(std::future::pending())
    }
}

/// A started engine with a runner whose "k" tasks go to a [`Recorder`].
fn start(engine: StateEngine) -> (Addr<StateEngine>, Rc<RefCell<Vec<TaskId>>>) {
    let engine = engine.start();
    let runner = crate::runner::TaskRunner::new(engine.clone()).start();
    let started = Rc::new(RefCell::new(Vec::new()));
    let recorder = Recorder(started.clone()).start();
    engine.do_send(AddKinds(vec![KindSpec { kind: "k", undo: false, cleanup: false }]));
    runner.do_send(RegisterHandler { kinds: vec!["k"], handler: recorder.recipient() });
    engine.do_send(TaskRunner::attach(&runner));
    (engine, started)
}

async fn settle_down() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[actix_rt::test]
async fn a_change_is_answered_and_started_only_once_saved() {
    let (good, bad) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (engine, started) = start(StateEngine::open(good.path()).unwrap());
    let change = engine.send(Transact(Box::new(add_change))).await.unwrap().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while started.borrow().is_empty() && tokio::time::Instant::now() < deadline {
        settle_down().await;
    }
    assert_eq!(started.borrow().len(), 1, "a saved change's task starts");
    assert!(engine.send(Query(Box::new(move |st| st.change(&change).is_some()))).await.unwrap());

    let (failure, mut failed) = Failure::new();
    let mut broken = StateEngine::open(bad.path()).unwrap().with_failure(failure);
    broken.engine.store.fill_disk().unwrap();
    let (engine, started) = start(broken);
    let err = engine.send(Transact(Box::new(add_change))).await.unwrap().unwrap_err();
    assert!(err.to_string().ends_with("No space left on device (os error 28)"), "{err}");
    settle_down().await;
    assert!(started.borrow().is_empty(), "an unsaved change's task does not start");
    let reason = failed.try_recv().expect("the daemon is told to exit");
    assert_eq!(reason, err.to_string());
    let again = engine.send(Transact(Box::new(|_| ()))).await.unwrap();
    assert!(matches!(again, Err(EngineError::Unsaved(_))), "{again:?}");
}

#[actix_rt::test]
async fn an_engine_that_dies_fails_the_daemon_and_saves_nothing_of_its_last_change() {
    let dir = tempfile::tempdir().unwrap();
    let (failure, failed) = Failure::new();
    let engine = StateEngine::open(dir.path()).unwrap().with_failure(failure).start();
    let saved = engine.send(Transact(Box::new(add_change))).await.unwrap().unwrap();
    let died = engine
        .send(Transact(Box::new(|st| {
            add_change(st);
            panic!("a bug in a mutation")
        })))
        .await;
    assert!(died.is_err(), "the engine is gone");
    let reason = tokio::time::timeout(Duration::from_secs(5), failed).await.expect("failure raised").unwrap();
    assert_eq!(reason, "the state engine stopped unexpectedly");
    let back = Engine::load(dir.path()).unwrap();
    assert_eq!(back.state().changes().map(|c| c.id.clone()).collect::<Vec<_>>(), [saved]);
}

#[test]
fn busy_while_a_change_or_a_cleanup_runs_but_not_while_one_waits_for_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = Engine::load(dir.path()).unwrap();
    e.scheduler_mut().add_kind("k", false, true);
    assert!(!e.is_busy(), "nothing to do");

    let add = |e: &mut Engine| {
        e.mutate(|st| {
            let change = add_change(st);
            st.change_tasks(&change)[0].id.clone()
        })
    };
    let task = add(&mut e);
    assert!(e.is_busy(), "a change not started yet");
    let started = e.settle(Utc::now()).unwrap().start;
    assert_eq!(started.len(), 1);
    assert!(e.is_busy(), "its task runs");
    e.finished(&task, Op::Do, Outcome::Done, Utc::now());
    let cleanup = e.settle(Utc::now()).unwrap().start;
    assert_eq!(cleanup.iter().map(|s| s.op).collect::<Vec<_>>(), [Op::Cleanup]);
    assert!(e.is_busy(), "the change is ready but its cleanup runs");
    e.finished(&task, Op::Cleanup, Outcome::Done, Utc::now());
    e.settle(Utc::now()).unwrap();
    assert!(!e.is_busy(), "done and clean");

    let waiting = add(&mut e);
    e.settle(Utc::now()).unwrap();
    let reason = "paused on an error".to_string();
    e.finished(&waiting, Op::Do, Outcome::Wait { reason, waited: Status::Default }, Utc::now());
    e.settle(Utc::now()).unwrap();
    assert!(!e.is_busy(), "a change paused for the user's --continue or --abort");
}
