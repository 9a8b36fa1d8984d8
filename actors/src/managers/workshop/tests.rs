//! The workshop manager on the fake backend: changes of two users who hold the same project
//! id (a copied `.workshop.lock`; project ids live in per-user registries) stay apart.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use chrono::Utc;
use workshop_api::workshops::{Mode, WorkshopAction, WorkshopOptions, WorkshopStatus, WorkshopsRequest};

use super::plan::{self, LaunchItem};
use super::projects::{PROJECTS_KEY, registries};
use super::*;
use crate::backend::fake::FakeBackend;
use crate::backend::{Backend, BackendActor, CreateSpec, GuestShutdown, StopMode, Target};
use crate::engine::{Query, StateEngine, Transact};
use crate::managers::UserRef;
use crate::managers::task;
use crate::managers::task::TaskTarget;
use crate::runner::TaskRunner;
use crate::state::Status;

/// The project id both users hold.
const PID: &str = "0123abcd";

struct Harness {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    engine: Addr<StateEngine>,
    fake: Rc<FakeBackend>,
    workshops: Addr<WorkshopManager>,
}

/// A user of the test: the test's own uid (so the handlers may give it directories) under
/// a name of its own.
fn user(name: &str) -> UserRef {
    // SAFETY: plain getters without preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    UserRef { name: name.into(), uid, gid, data_home: None }
}

/// Engine, runner, fake backend (which knows no base, so a launch fails in its first task)
/// and the workshop manager; `alice` and `bob` both track a project with id [`PID`], each in
/// a directory of their own.
async fn harness() -> Harness {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let state_dir = root.join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    let engine = StateEngine::open(&state_dir).unwrap().start();
    let runner = TaskRunner::new(engine.clone()).start();
    let fake = Rc::new(FakeBackend::default());
    let backend = BackendActor::new(fake.clone()).start();
    let config = WorkshopConfig {
        cache_dir: root.join("cache"),
        guest_bin_dir: root.join("bin"),
        mounts_dir: root.join("mounts"),
        trees: None,
    };
    let workshops = WorkshopManager::new(engine.clone(), backend, config).start();
    task::register(&engine, &runner, KINDS, workshops.clone().recipient());
    engine.do_send(TaskRunner::attach(&runner));
    let mut dirs = Vec::new();
    for name in ["alice", "bob"] {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dirs.push((name.to_string(), dir));
    }
    engine
        .send(Transact(Box::new(move |st| {
            let mut regs = registries(st);
            for (name, dir) in dirs {
                regs.entry(name).or_default().track(&dir, Some(PID.into()), |_| false);
            }
            st.set(PROJECTS_KEY, &regs);
        })))
        .await
        .unwrap()
        .unwrap();
    Harness { _tmp: tmp, root, engine, fake, workshops }
}

impl Harness {
    fn target(&self, user: &UserRef, name: &str) -> TaskTarget {
        TaskTarget {
            name: name.into(),
            project_id: PID.into(),
            project_path: self.root.join(&user.name).to_string_lossy().into_owned(),
            user: user.clone(),
        }
    }

    /// Plans a wait-on-error launch of `name` for `user` and waits until it is paused (the
    /// fake backend knows no base).
    async fn paused_launch(&self, user: &UserRef, name: &str) -> String {
        let item = LaunchItem {
            target: self.target(user, name),
            base: "ubuntu@22.04".into(),
            file: String::new(),
            sdks: Vec::new(),
        };
        let u = user.clone();
        let change = self
            .engine
            .send(Transact(Box::new(move |st| {
                plan::launch(st, &u, &[item], Mode::WaitOnError, false, Utc::now())
            })))
            .await
            .unwrap()
            .unwrap();
        for _ in 0..500 {
            if self.status(&change).await == Status::Wait {
                return change;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("launch {change} did not pause on error");
    }

    async fn status(&self, change: &str) -> Status {
        let id = change.to_string();
        self.engine.send(Query(Box::new(move |st| st.change_status(&id)))).await.unwrap()
    }

    async fn discarded(&self, change: &str) -> bool {
        let id = change.to_string();
        self.engine
            .send(Query(Box::new(move |st| {
                st.change(&id).and_then(|c| c.get::<bool>("discard-background")).unwrap_or(false)
            })))
            .await
            .unwrap()
    }

    /// A stopped instance `name` of `user` in project [`PID`].
    async fn instance(&self, user: &UserRef, name: &str) {
        let target = Target::new(&user.name, PID, name);
        Backend::create(self.fake.as_ref(), &target, &CreateSpec::default()).await.unwrap();
    }

    async fn change(
        &self,
        user: &UserRef,
        action: WorkshopAction,
        mode: Mode,
    ) -> Result<String, WorkshopError> {
        let request = WorkshopsRequest {
            names: vec!["ws".parse().unwrap()],
            action,
            options: WorkshopOptions { mode, ..WorkshopOptions::default() },
        };
        let msg = ChangeWorkshops { user: user.clone(), project_id: PID.into(), request };
        self.workshops.send(msg).await.unwrap()
    }

    async fn status_of(&self, user: &UserRef, name: &str) -> WorkshopStatus {
        let msg = GetWorkshop { user: user.clone(), project_id: PID.into(), name: name.into() };
        self.workshops.send(msg).await.unwrap().unwrap().status
    }
}

fn assert_no_waiting_change(result: Result<String, WorkshopError>) {
    assert!(matches!(result, Err(WorkshopError::NoWaitingChange(_))), "{result:?}");
}

#[actix_rt::test]
async fn another_users_paused_change_does_not_hold_a_workshop_of_the_same_name() {
    let h = harness().await;
    let (alice, bob) = (user("alice"), user("bob"));
    let paused = h.paused_launch(&alice, "ws").await;
    h.instance(&bob, "ws").await;
    assert_eq!(h.status_of(&bob, "ws").await, WorkshopStatus::Stopped);
    let list = ListWorkshops { user: bob.clone(), project_id: PID.into(), state: String::new() };
    let list = h.workshops.send(list).await.unwrap().unwrap();
    assert_eq!(list.workshops.iter().map(|w| w.status).collect::<Vec<_>>(), [WorkshopStatus::Stopped]);
    let stop = h.change(&bob, WorkshopAction::Stop, Mode::Transactional).await.unwrap();
    assert_ne!(stop, paused);
}

#[actix_rt::test]
async fn another_user_cannot_continue_or_abort_a_paused_change() {
    let h = harness().await;
    let (alice, bob) = (user("alice"), user("bob"));
    let paused = h.paused_launch(&alice, "ws").await;
    assert_no_waiting_change(h.change(&bob, WorkshopAction::Launch, Mode::Continue).await);
    assert_no_waiting_change(h.change(&bob, WorkshopAction::Launch, Mode::Abort).await);
    assert_eq!(h.status(&paused).await, Status::Wait);
    // Alice still can.
    assert_eq!(h.change(&alice, WorkshopAction::Launch, Mode::Abort).await.unwrap(), paused);
}

#[actix_rt::test]
async fn another_users_remove_does_not_discard_a_paused_change() {
    let h = harness().await;
    let (alice, bob) = (user("alice"), user("bob"));
    let paused = h.paused_launch(&alice, "ws").await;
    h.instance(&bob, "ws").await;
    let remove = h.change(&bob, WorkshopAction::Remove, Mode::Transactional).await.unwrap();
    assert_ne!(remove, paused);
    assert!(!h.discarded(&paused).await);
    assert_eq!(h.status(&paused).await, Status::Wait);
}

#[actix_rt::test]
async fn the_owner_sees_her_paused_change_and_removing_discards_it() {
    let h = harness().await;
    let alice = user("alice");
    let paused = h.paused_launch(&alice, "ws").await;
    h.instance(&alice, "ws").await;
    assert_eq!(h.status_of(&alice, "ws").await, WorkshopStatus::Waiting);
    let err = h.change(&alice, WorkshopAction::Start, Mode::Transactional).await.unwrap_err();
    assert!(matches!(err, WorkshopError::Conflict(ref c) if c.change.change_id == paused), "{err:?}");
    let remove = h.change(&alice, WorkshopAction::Remove, Mode::Transactional).await.unwrap();
    assert_ne!(remove, paused);
    assert!(h.discarded(&paused).await);
}

/// A harness where root's project `PID` is registered, with two stopped workshops `ws` and
/// `off`. The owner must be a real user (the daemon looks it up by name): the test's own, root;
/// `None` when the tests do not run as root.
async fn root_workshops() -> Option<(Harness, Target, Target)> {
    let me = user("root");
    if me.uid != 0 {
        eprintln!("skipped: needs to run as root");
        return None;
    }
    let h = harness().await;
    let dir = h.root.join("root");
    std::fs::create_dir_all(&dir).unwrap();
    h.engine
        .send(Transact(Box::new(move |st| {
            let mut regs = registries(st);
            regs.entry("root".into()).or_default().track(&dir, Some(PID.into()), |_| false);
            st.set(PROJECTS_KEY, &regs);
        })))
        .await
        .unwrap()
        .unwrap();
    h.instance(&me, "ws").await;
    h.instance(&me, "off").await;
    Some((h, Target::new("root", PID, "ws"), Target::new("root", PID, "off")))
}

/// [`root_workshops`], both running.
async fn running_root_workshops() -> Option<(Harness, Target, Target)> {
    let (h, ws, off) = root_workshops().await?;
    for t in [&ws, &off] {
        h.fake.start(t).await.unwrap();
        h.fake.wait_ready(t).await.unwrap();
    }
    Some((h, ws, off))
}

#[actix_rt::test]
async fn workshops_lxd_left_stopped_are_started_again_when_the_system_is_healthy() {
    let Some((h, ws, off)) = root_workshops().await else { return };
    h.fake.start(&ws).await.unwrap();
    h.fake.wait_ready(&ws).await.unwrap();
    h.fake.halt(&ws);
    h.workshops.send(crate::health::SystemHealthy).await.unwrap();
    assert!(comes_up(&h, &ws).await, "the workshop marked to run is started");
    assert!(!h.fake.instance(&off).unwrap().running, "a stopped workshop stays stopped");
    // It was started through the staged project, which is gone again.
    assert!(!h.root.join("mounts/0").join(PID).join("ws").exists());
}

#[actix_rt::test]
async fn a_workshop_whose_guest_rebooted_is_started_again_when_it_is_this_daemons() {
    let Some((h, ws, off)) = running_root_workshops().await else { return };
    // Left stopped by LXD (still marked to run), and stopped by its owner (unmarked).
    h.fake.halt(&ws);
    h.fake.stop(&off, StopMode::Clean).await.unwrap();
    // Another daemon's project, and a workshop that is not there: nothing is done.
    let elsewhere = Target::new("root", "0123456789ab", "ws");
    h.workshops.send(rebooted(elsewhere)).await.unwrap();
    h.workshops.send(rebooted(Target::new("root", PID, "gone"))).await.unwrap();
    h.workshops.send(rebooted(off.clone())).await.unwrap();
    assert!(!h.fake.instance(&off).unwrap().running, "one its owner stopped stays stopped");
    h.workshops.send(rebooted(ws.clone())).await.unwrap();
    assert!(comes_up(&h, &ws).await, "the rebooted workshop is started again");
}

fn rebooted(target: Target) -> GuestWentDown {
    GuestWentDown(GuestShutdown { target, reboot: true })
}

fn powered_off(target: Target) -> GuestWentDown {
    GuestWentDown(GuestShutdown { target, reboot: false })
}

/// Waits until the fake workshop of `target` runs and no change holds it (or 5 s went by):
/// whether it does.
async fn comes_up(h: &Harness, target: &Target) -> bool {
    for _ in 0..500 {
        let (user, pid, name) = (target.user.clone(), target.project_id.clone(), target.name.clone());
        let idle =
            h.engine.send(Query(Box::new(move |st| status::busy(st, &user, &pid, &name).is_none()))).await;
        if h.fake.instance(target).unwrap().running && idle.unwrap() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[actix_rt::test]
async fn a_guest_rebooting_in_a_loop_is_left_stopped_and_its_owner_warned() {
    let Some((h, ws, _)) = root_workshops().await else { return };
    h.fake.start(&ws).await.unwrap();
    h.fake.wait_ready(&ws).await.unwrap();
    for i in 0..super::reboot_loops::MAX_RESTARTS {
        h.fake.halt(&ws);
        h.workshops.send(rebooted(ws.clone())).await.unwrap();
        assert!(comes_up(&h, &ws).await, "reboot {i} is followed by a start");
    }
    h.fake.halt(&ws);
    h.workshops.send(rebooted(ws.clone())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let instance = h.fake.instance(&ws).unwrap();
    assert!(!instance.running && instance.autostart, "left stopped, still marked for the next daemon start");
    let warnings = h
        .engine
        .send(Query(Box::new(|st| {
            st.all_warnings(0).iter().map(|w| w.message().to_string()).collect::<Vec<_>>()
        })))
        .await
        .unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("cannot start workshop \"ws\" of project \""), "{warnings:?}");
    assert!(warnings[0].contains("again: its guest rebooted more than 5 times"), "{warnings:?}");
    // Its owner starts it again: its next reboot is followed by a start.
    h.fake.start(&ws).await.unwrap();
    h.fake.halt(&ws);
    h.workshops.send(rebooted(ws.clone())).await.unwrap();
    assert!(comes_up(&h, &ws).await);
}

#[actix_rt::test]
async fn a_workshop_powered_off_from_inside_is_no_longer_marked_to_run() {
    let Some((h, ws, off)) = running_root_workshops().await else { return };
    // Another daemon's project: left as it is.
    let elsewhere = Target::new("root", "0123456789ab", "ws");
    h.workshops.send(powered_off(elsewhere)).await.unwrap();
    // One that is running again (started meanwhile) keeps its mark.
    h.workshops.send(powered_off(off.clone())).await.unwrap();
    assert!(h.fake.instance(&off).unwrap().autostart);
    h.fake.halt(&ws);
    h.workshops.send(powered_off(ws.clone())).await.unwrap();
    let instance = h.fake.instance(&ws).unwrap();
    assert!(!instance.running && !instance.autostart, "{instance:?}");
    // So the next daemon start leaves it stopped.
    h.workshops.send(crate::health::SystemHealthy).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!h.fake.instance(&ws).unwrap().running);
}

#[actix_rt::test]
async fn unknown_keys_of_a_definition_are_warnings_of_the_reader() {
    // Issue 11 item 1: a file written for the reference (with a key it ignores) is used, and
    // the key is a warning of the user who read it (before: the read failed).
    let h = harness().await;
    let alice = user("alice");
    let path = h.root.join("alice/.workshop/ws.yaml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "name: ws\nbase: ubuntu@22.04\nactons:\n  x: y\nactions:\n  hi: echo hi\n")
        .unwrap();
    let msg = GetActions { user: alice.clone(), project_id: PID.into(), name: "ws".into() };
    let actions = h.workshops.send(msg).await.unwrap().unwrap();
    assert_eq!(actions.keys().collect::<Vec<_>>(), ["hi"]);
    let uid = alice.uid;
    let warnings = h
        .engine
        .send(Query(Box::new(move |st| {
            st.all_warnings(uid).iter().map(|w| (w.owner(), w.message().to_string())).collect::<Vec<_>>()
        })))
        .await
        .unwrap();
    let expected = format!(
        "unknown key \"actons\" at line 3, column 1 (did you mean \"actions\"?) (in \"{}\")",
        path.display()
    );
    assert_eq!(warnings, [(Some(uid), expected)]);
}

#[actix_rt::test]
async fn list_and_info_show_the_hostname_and_the_fallback_note() {
    let h = harness().await;
    let (alice, bob) = (user("alice"), user("bob"));
    h.instance(&alice, "ws").await;
    h.instance(&bob, "ws").await;
    h.instance(&bob, "other").await;
    // Both projects' directories are named "app": the first to publish gets the friendly name.
    for who in [&alice, &bob] {
        let target = Target::new(&who.name, PID, "ws");
        h.fake.publish_names(&target, "app").await.unwrap();
    }
    let info = |who: &UserRef, name: &str| {
        let msg = GetWorkshop { user: who.clone(), project_id: PID.into(), name: name.into() };
        h.workshops.send(msg)
    };
    let alices = info(&alice, "ws").await.unwrap().unwrap();
    assert_eq!((alices.hostname.as_deref(), alices.notes.as_slice()), (Some("ws.app.wp"), &[] as &[String]));
    let bobs = info(&bob, "ws").await.unwrap().unwrap();
    assert_eq!(bobs.hostname.as_deref(), Some("ws-0123abcd.wp"));
    assert_eq!(bobs.notes, ["hostname-fallback"]);
    // A workshop without names (not started yet) has neither.
    let list = ListWorkshops { user: bob.clone(), project_id: PID.into(), state: String::new() };
    let list = h.workshops.send(list).await.unwrap().unwrap();
    let other = list.workshops.iter().find(|w| w.name == "other").unwrap();
    assert_eq!((other.hostname.as_deref(), other.notes.len()), (None, 0));
    let ws = list.workshops.iter().find(|w| w.name == "ws").unwrap();
    assert_eq!(ws.notes, ["hostname-fallback"]);
}
