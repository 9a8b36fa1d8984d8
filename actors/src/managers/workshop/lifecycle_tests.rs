//! The lifecycle of workshops through the real daemon wiring (engine, runner, managers) on the
//! fake backend: launch, start, stop, remove, wait-on-error with continue and abort, and the
//! undo of a launch that fails at each of its tasks. Seconds, no LXD; they need root (the
//! project is staged with a bind mount) and skip otherwise.

use std::os::unix::fs::chown;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use workshop_api::ids::WorkshopName;
use workshop_api::workshops::{Mode, WorkshopAction, WorkshopOptions, WorkshopStatus, WorkshopsRequest};

use super::*;
use crate::backend::Target;
use crate::backend::fake::FakeBackend;
use crate::daemon::{Daemon, DaemonConfig};
use crate::engine::{Query, Transact, WatchChange};
use crate::managers::task::TaskTarget;
use crate::managers::{UserRef, interface};
use crate::state::Status;

/// The uid the tests act as: not root (root cannot launch), not a user of this machine.
const UID: u32 = 4242;

struct Harness {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    daemon: Daemon,
    fake: Rc<FakeBackend>,
    user: UserRef,
    project_id: String,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A daemon on the fake backend and a tracked project of the test user holding `names`.
async fn harness(names: &[&str]) -> Harness {
    harness_with_store(names, None).await
}

/// [`harness`], with the SDK Store at `store`.
async fn harness_with_store(names: &[&str], store: Option<&str>) -> Harness {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let project = root.join("project");
    std::fs::create_dir_all(root.join("state")).unwrap();
    std::fs::create_dir_all(project.join(".workshop")).unwrap();
    for name in names {
        let file = project.join(format!(".workshop/{name}.yaml"));
        std::fs::write(&file, format!("name: {name}\nbase: ubuntu@22.04\n")).unwrap();
        chown(&file, Some(UID), Some(UID)).unwrap();
    }
    for dir in [&root, &project, &project.join(".workshop")] {
        chown(dir, Some(UID), Some(UID)).unwrap();
    }
    let fake = Rc::new(FakeBackend::with_bases(&[("ubuntu@22.04", "f00d")]));
    // The SDKs of these tests have no hooks.
    fake.on_run("/sdk/hooks/", |_| {
        let skipped = crate::managers::hook::invocation::SKIPPED.as_bytes().to_vec();
        Box::pin(
            async move { crate::backend::RunOutput { exit_code: 0, stderr: skipped, ..Default::default() } },
        )
    });
    let mut config = DaemonConfig::for_tests(&root, fake.clone());
    if let Some(url) = store {
        config.store =
            crate::store::StoreConfig::new(url, crate::store::URL_ENV, &root.join("cache/sdk")).unwrap();
    }
    let daemon = Daemon::start(config).unwrap();
    let user = UserRef { name: "lifecycle".into(), uid: UID, gid: UID, data_home: None };
    let track = TrackProject { user: user.clone(), path: project };
    let (p, _) = daemon.workshops.send(track).await.unwrap().unwrap();
    Harness { _tmp: tmp, root, daemon, fake, user, project_id: p.id }
}

impl Harness {
    async fn request(
        &self,
        action: WorkshopAction,
        names: &[&str],
        mode: Mode,
    ) -> Result<String, WorkshopError> {
        let request = WorkshopsRequest {
            names: names.iter().map(|n| n.parse::<WorkshopName>().unwrap()).collect(),
            action,
            options: WorkshopOptions { mode, ..WorkshopOptions::default() },
        };
        let msg = ChangeWorkshops { user: self.user.clone(), project_id: self.project_id.clone(), request };
        self.daemon.workshops.send(msg).await.unwrap()
    }

    /// Runs a change to its end (or its pause) and returns its status.
    async fn run(&self, action: WorkshopAction, names: &[&str], mode: Mode) -> (String, Status) {
        let change = self.request(action, names, mode).await.unwrap();
        (change.clone(), self.settled(&change).await)
    }

    /// Waits until `change` is ready or paused on error.
    async fn settled(&self, change: &str) -> Status {
        let ready = self.daemon.engine.send(WatchChange(change.to_string())).await.unwrap().unwrap();
        let paused = async {
            loop {
                if self.status(change).await == Status::Wait {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), async {
            tokio::select! {
                _ = ready => {},
                _ = paused => {},
            }
        })
        .await
        .expect("change settles in time");
        self.status(change).await
    }

    /// Waits until the cleanups of the ready `change` have run.
    async fn cleaned(&self, change: &str) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let id = change.to_string();
                let query = Query(Box::new(move |st| st.change_tasks(&id).iter().all(|t| t.is_clean())));
                if self.daemon.engine.send(query).await.unwrap() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("cleanups run in time");
    }

    async fn status(&self, change: &str) -> Status {
        let id = change.to_string();
        self.daemon.engine.send(Query(Box::new(move |st| st.change_status(&id)))).await.unwrap()
    }

    /// (kind, status) of the change's tasks, in order.
    async fn tasks(&self, change: &str) -> Vec<(String, Status)> {
        let id = change.to_string();
        self.daemon
            .engine
            .send(Query(Box::new(move |st| {
                st.change_tasks(&id).iter().map(|t| (t.kind.clone(), t.status())).collect()
            })))
            .await
            .unwrap()
    }

    async fn workshop_status(&self, name: &str) -> WorkshopStatus {
        let msg =
            GetWorkshop { user: self.user.clone(), project_id: self.project_id.clone(), name: name.into() };
        self.daemon.workshops.send(msg).await.unwrap().unwrap().status
    }

    fn target(&self, name: &str) -> Target {
        Target::new(&self.user.name, &self.project_id, name)
    }

    fn cache(&self, name: &str) -> PathBuf {
        self.root.join("cache/users").join(UID.to_string()).join(&self.project_id).join(name)
    }

    fn staging(&self, name: &str) -> PathBuf {
        self.root.join("mounts").join(UID.to_string()).join(&self.project_id).join(name)
    }

    /// Nothing of workshop `name` is left: no instance, no cache, no staging mount.
    fn gone(&self, name: &str) {
        assert!(self.fake.instance(&self.target(name)).is_none(), "instance of {name} left behind");
        assert!(!self.cache(name).exists(), "cache of {name} left behind");
        assert!(!self.staging(name).exists(), "staging mount of {name} left behind");
    }
}

#[actix_rt::test]
async fn launch_stop_start_remove() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = harness(&["ws"]).await;
    assert_eq!(h.run(WorkshopAction::Launch, &["ws"], Mode::Transactional).await.1, Status::Done);
    assert_eq!(h.workshop_status("ws").await, WorkshopStatus::Ready);
    let instance = h.fake.instance(&h.target("ws")).unwrap();
    assert!(instance.running && instance.autostart);
    assert_eq!(
        instance.devices[super::handlers::PROJECT_DEVICE]["source"],
        h.staging("ws").to_string_lossy()
    );
    assert!(h.cache("ws").join("apt").is_dir());
    assert!(!h.staging("ws").exists(), "the staging mount goes once LXD has mounted it");

    assert_eq!(h.run(WorkshopAction::Stop, &["ws"], Mode::Transactional).await.1, Status::Done);
    assert_eq!(h.workshop_status("ws").await, WorkshopStatus::Stopped);
    assert_eq!(h.run(WorkshopAction::Start, &["ws"], Mode::Transactional).await.1, Status::Done);
    assert_eq!(h.workshop_status("ws").await, WorkshopStatus::Ready);
    assert_eq!(h.run(WorkshopAction::Remove, &["ws"], Mode::Transactional).await.1, Status::Done);
    h.gone("ws");
}

/// Where a launch can fail, the task that fails, and how to make it fail.
enum Fault {
    /// The `skip`+1-th call of a backend operation from now on something named by the text.
    Backend(&'static str, &'static str, usize),
    /// The cache directory cannot be made.
    Storage,
}

#[actix_rt::test]
async fn a_launch_failing_at_any_task_is_undone_completely() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // The launch of two workshops is one lane: a failure anywhere undoes both.
    let cases = [
        ("download-base", Fault::Backend("resolve-base", "", 0)),
        ("create-workshop-storage", Fault::Storage),
        ("create-workshop", Fault::Backend("create", "", 0)),
        ("start-workshop", Fault::Backend("start", "", 0)),
        ("start-workshop", Fault::Backend("wait-ready", "", 0)),
        ("install-sdk", Fault::Backend("set-device", "sdk.system", 0)),
        // The project device of workshop one: start-workshop sets it, then mount-project.
        ("mount-project", Fault::Backend("set-device", "one-", 2)),
        ("start-workshop", Fault::Backend("start", "", 1)),
    ];
    for (failing, fault) in cases {
        let h = harness(&["one", "two"]).await;
        match fault {
            Fault::Backend(op, needle, skip) => h.fake.fail_matching(op, needle, skip, "injected"),
            Fault::Storage => {
                std::fs::create_dir_all(h.root.join("cache/users").join(UID.to_string())).unwrap();
                std::fs::write(h.root.join("cache/users").join(UID.to_string()).join(&h.project_id), "")
                    .unwrap();
            }
        }
        let (change, status) = h.run(WorkshopAction::Launch, &["one", "two"], Mode::Transactional).await;
        assert_eq!(status, Status::Error, "{failing}");
        let tasks = h.tasks(&change).await;
        assert!(tasks.iter().any(|(k, s)| k == failing && *s == Status::Error), "{failing}: {tasks:?}");
        // Every task with an undo that ran is undone (KINDS says which have one).
        let undoable = |kind: &str| KINDS.iter().any(|k| k.name == kind && k.undo.is_some());
        assert!(
            tasks
                .iter()
                .all(|(k, s)| !undoable(k) || matches!(s, Status::Undone | Status::Error | Status::Hold)),
            "{failing}: everything done is undone: {tasks:?}"
        );
        if let Fault::Storage = fault {
            std::fs::remove_file(h.root.join("cache/users").join(UID.to_string()).join(&h.project_id))
                .unwrap();
        }
        h.gone("one");
        h.gone("two");
        assert_eq!(
            h.daemon
                .workshops
                .send(ListWorkshops {
                    user: h.user.clone(),
                    project_id: h.project_id.clone(),
                    state: String::new()
                })
                .await
                .unwrap()
                .unwrap()
                .workshops,
            []
        );
    }
}

#[actix_rt::test]
async fn a_paused_launch_continues_or_is_aborted() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // Paused before its instance exists: a refresh is refused because of the launch, not
    // because the workshop "is not launched".
    let h = harness(&["ws"]).await;
    h.fake.fail_next("create", "injected");
    let (_, status) = h.run(WorkshopAction::Launch, &["ws"], Mode::WaitOnError).await;
    assert_eq!(status, Status::Wait);
    let refused = h.request(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await.unwrap_err();
    assert_eq!(refused.to_string(), r#"cannot refresh "ws": launch change is waiting on error"#);
    // So are a start and a stop.
    for (action, verb) in [(WorkshopAction::Start, "start"), (WorkshopAction::Stop, "stop")] {
        let refused = h.request(action, &["ws"], Mode::Transactional).await.unwrap_err();
        assert_eq!(refused.to_string(), format!(r#"cannot {verb} "ws": launch change is waiting on error"#));
    }

    let h = harness(&["ws"]).await;
    h.fake.fail_next("start", "injected");
    let (change, status) = h.run(WorkshopAction::Launch, &["ws"], Mode::WaitOnError).await;
    assert_eq!(status, Status::Wait);
    assert_eq!(h.workshop_status("ws").await, WorkshopStatus::Waiting);
    // Another launch meets the paused one.
    let conflict = h.request(WorkshopAction::Launch, &["ws"], Mode::Transactional).await;
    assert!(matches!(conflict, Err(WorkshopError::Conflict(_))), "{conflict:?}");
    let resumed = h.request(WorkshopAction::Launch, &["ws"], Mode::Continue).await.unwrap();
    assert_eq!(resumed, change);
    assert_eq!(h.settled(&change).await, Status::Done);
    assert_eq!(h.workshop_status("ws").await, WorkshopStatus::Ready);

    let h = harness(&["ws"]).await;
    h.fake.fail_next("set-device", "injected");
    let (change, status) = h.run(WorkshopAction::Launch, &["ws"], Mode::WaitOnError).await;
    assert_eq!(status, Status::Wait);
    // A connection made while it was paused (connect runs beside a paused launch) goes with
    // the aborted launch: the next launch starts from none.
    let key = interface::conns::workshop_key(UID, &h.project_id, "ws");
    let manual: interface::conns::WorkshopConns =
        serde_json::from_value(serde_json::json!({"m:data system:mount": {"interface": "mount"}})).unwrap();
    let k = key.clone();
    h.daemon
        .engine
        .send(Transact(Box::new(move |st| interface::conns::set_workshop(st, &k, manual))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.request(WorkshopAction::Launch, &["ws"], Mode::Abort).await.unwrap(), change);
    assert_eq!(h.settled(&change).await, Status::Undone);
    h.gone("ws");
    let left = h
        .daemon
        .engine
        .send(Query(Box::new(move |st| interface::conns::of_workshop(st, &key))))
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[actix_rt::test]
async fn two_launches_at_once_make_one_change_and_one_conflict() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = harness(&["ws"]).await;
    let (a, b) = futures_util::join!(
        h.request(WorkshopAction::Launch, &["ws"], Mode::Transactional),
        h.request(WorkshopAction::Launch, &["ws"], Mode::Transactional),
    );
    let (ok, refused): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(Result::is_ok);
    assert_eq!(ok.len(), 1, "one change: {ok:?} {refused:?}");
    assert!(matches!(refused[0], Err(WorkshopError::Conflict(_))), "{refused:?}");
    let change = ok.into_iter().next().unwrap().unwrap();
    assert_eq!(h.settled(&change).await, Status::Done);
}

impl Harness {
    /// Writes `rel` in the project, owned by the test user.
    fn write(&self, rel: &str, text: &str) {
        let path = self.root.join("project").join(rel);
        let mut dir = path.parent().unwrap().to_path_buf();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, text).unwrap();
        chown(&path, Some(UID), Some(UID)).unwrap();
        while dir != self.root.join("project") {
            chown(&dir, Some(UID), Some(UID)).unwrap();
            dir.pop();
        }
    }
}

#[actix_rt::test]
async fn a_project_sdk_is_committed_installed_and_shown() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = harness(&["ws"]).await;
    h.write(".workshop/ws.yaml", "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-tools\n");
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"1.0\"\n");
    h.write(".workshop/tools/hooks/setup-base", "echo hi\n");
    assert_eq!(h.run(WorkshopAction::Launch, &["ws"], Mode::Transactional).await.1, Status::Done);
    let instance = h.fake.instance(&h.target("ws")).unwrap();
    let device = &instance.devices["sdk.tools"];
    assert_eq!(device["path"], "/var/lib/workshop/sdk/tools");
    assert_eq!(device["readonly"], "true");
    let tree = std::path::Path::new(&device["source"]);
    assert!(tree.join("meta/sdk.yaml").is_file() && tree.join("sdk/hooks/setup-base").is_file());
    assert!(instance.devices.contains_key("sdk.system"));
    let msg = GetWorkshop { user: h.user.clone(), project_id: h.project_id.clone(), name: "ws".into() };
    let info = h.daemon.workshops.send(msg).await.unwrap().unwrap();
    let shown: Vec<(&str, &str, Option<&str>)> =
        info.sdks.iter().map(|s| (s.name.as_str(), s.revision.as_str(), s.version.as_deref())).collect();
    assert_eq!(shown, [("system", "2", None), ("tools", "x1", Some("1.0"))]);
    assert!(info.sdks[1].source.as_deref().is_some_and(|s| s.ends_with("/.workshop/tools")));
    // The kept local revision is listed for its user and for root, not for another user.
    let installed = h.daemon.installed.clone().unwrap();
    for (viewer, seen) in [(UID, 1), (0, 1), (UID + 1, 0)] {
        let list = crate::store::installed::ListInstalled { viewer, name: Some("tools".into()) };
        let trees = installed.send(list).await.unwrap().unwrap();
        assert_eq!(trees.len(), seen, "viewer {viewer}");
        if let Some(tree) = trees.first() {
            assert_eq!((tree.tree.revision.as_str(), tree.tree.version.as_str()), ("x1", "1.0"));
            assert!(tree.tree.size > 0);
        }
    }
}

#[actix_rt::test]
async fn an_sdk_that_does_not_fit_the_workshop_undoes_the_launch() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = harness(&["ws"]).await;
    h.write(".workshop/ws.yaml", "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-tools\n");
    // Another base than the workshop's, and an unknown key.
    h.write(".workshop/tools/sdk.yaml", "name: tools\nbase: ubuntu@24.04\nsurprise: 1\n");
    let (change, status) = h.run(WorkshopAction::Launch, &["ws"], Mode::Transactional).await;
    assert_eq!(status, Status::Error);
    let tasks = h.tasks(&change).await;
    assert!(tasks.iter().any(|(k, s)| k == "install-sdk" && *s == Status::Error), "{tasks:?}");
    h.gone("ws");
}

#[actix_rt::test]
async fn a_store_sdk_is_resolved_downloaded_checked_and_installed() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let store = crate::store::fixture::FixtureStore::start();
    store.publish(crate::store::fixture::FixtureSdk::new("go", 3));
    store.publish(crate::store::fixture::FixtureSdk::new("go", 5).channel("edge"));
    let h = harness_with_store(&["ws"], Some(&store.url())).await;
    h.write(".workshop/ws.yaml", "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: go\n");
    assert_eq!(h.run(WorkshopAction::Launch, &["ws"], Mode::Transactional).await.1, Status::Done);
    let instance = h.fake.instance(&h.target("ws")).unwrap();
    let tree = std::path::Path::new(&instance.devices["sdk.go"]["source"]).to_path_buf();
    assert_eq!(std::fs::read_to_string(tree.join("README")).unwrap(), "go revision 3\n");
    let msg = GetWorkshop { user: h.user.clone(), project_id: h.project_id.clone(), name: "ws".into() };
    let info = h.daemon.workshops.send(msg).await.unwrap().unwrap();
    let go = info.sdks.iter().find(|s| s.name == "go").unwrap();
    assert_eq!((go.revision.as_str(), go.version.as_deref()), ("3", Some("1.3")));

    // An SDK the Store does not know fails the launch before anything is planned.
    h.write(".workshop/ws.yaml", "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: nope\n");
    h.run(WorkshopAction::Remove, &["ws"], Mode::Transactional).await;
    let refused = h.request(WorkshopAction::Launch, &["ws"], Mode::Transactional).await.unwrap_err();
    assert!(refused.to_string().contains("nope"), "{refused}");
}

#[actix_rt::test]
async fn without_a_store_a_store_sdk_is_refused_at_once() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = harness(&["ws"]).await;
    h.write(".workshop/ws.yaml", "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: go\n");
    let refused = h.request(WorkshopAction::Launch, &["ws"], Mode::Transactional).await.unwrap_err();
    assert!(refused.to_string().contains("cannot reach the SDK Store"), "{refused}");
    assert!(h.fake.instance(&h.target("ws")).is_none());
}

impl Harness {
    async fn env_hash(&self, name: &str) -> Option<String> {
        let msg =
            GetWorkshop { user: self.user.clone(), project_id: self.project_id.clone(), name: name.into() };
        self.daemon.workshops.send(msg).await.unwrap().unwrap().env_hash
    }
}

#[actix_rt::test]
async fn a_refresh_compares_the_manifest_and_has_nothing_to_do_when_nothing_changed() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = harness(&["ws", "bare"]).await;
    h.write(".workshop/ws.yaml", "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-tools\n");
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"1.0\"\n");
    assert_eq!(h.run(WorkshopAction::Launch, &["ws", "bare"], Mode::Transactional).await.1, Status::Done);
    let hash = h.env_hash("ws").await.expect("a launched workshop has an environment hash");
    assert_eq!(hash.len(), super::manifest::ENV_HASH_LEN);
    assert_ne!(h.env_hash("bare").await.unwrap(), hash);

    // Nothing changed: the reference's words, and no change.
    let none = h.request(WorkshopAction::Refresh, &["ws", "bare"], Mode::Transactional).await.unwrap_err();
    assert!(
        matches!(&none, WorkshopError::NoUpdates(m) if m == "no updates available for \"ws\", \"bare\""),
        "{none}"
    );
    // As the reference: a change without tasks, Done.
    let last = h
        .daemon
        .engine
        .send(Query(Box::new(|st| {
            let c = st.changes().last().unwrap();
            (c.kind.clone(), c.summary.clone(), st.change_status(&c.id), st.change_tasks(&c.id).len())
        })))
        .await
        .unwrap();
    assert_eq!(last, ("refresh".into(), "Refresh \"ws\", \"bare\" workshops".into(), Status::Done, 0));

    // A local SDK's new content is an update, of the workshop that has it only.
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"2.0\"\n");
    let (change, status) = h.run(WorkshopAction::Refresh, &["ws", "bare"], Mode::Transactional).await;
    assert_eq!(status, Status::Done);
    let touched = h
        .daemon
        .engine
        .send(Query(Box::new(move |st| {
            let mut names: Vec<String> = st
                .change_tasks(&change)
                .iter()
                .filter_map(|t| t.read(&crate::managers::task::keys::WORKSHOP))
                .collect();
            names.dedup();
            names
        })))
        .await
        .unwrap();
    assert_eq!(touched, ["ws"]);
    let refreshed = h.env_hash("ws").await.unwrap();
    assert_ne!(refreshed, hash);
    // So are plugs grafted onto an SDK in the definition, and taking them away again.
    let grafted = "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-tools\n    plugs:\n      gpu:\n        interface: gpu\n";
    for definition in [grafted, "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-tools\n"] {
        h.write(".workshop/ws.yaml", definition);
        assert_eq!(h.run(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await.1, Status::Done);
        assert!(matches!(
            h.request(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await,
            Err(WorkshopError::NoUpdates(_))
        ));
    }
    assert_eq!(h.env_hash("ws").await.unwrap(), refreshed, "the same environment again");

    // Only a Ready workshop is refreshed.
    assert_eq!(h.run(WorkshopAction::Stop, &["bare"], Mode::Transactional).await.1, Status::Done);
    let stopped = h.request(WorkshopAction::Refresh, &["bare"], Mode::Transactional).await.unwrap_err();
    assert_eq!(stopped.to_string(), "cannot refresh \"bare\": not running");
}

/// A launched workshop `ws` with the project SDK `tools`, marked (a config key only the
/// launched instance has) so that a test can tell it from a rebuilt one.
async fn launched_with_tools() -> Harness {
    let h = harness(&["ws"]).await;
    h.write(".workshop/ws.yaml", "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-tools\n");
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"1.0\"\n");
    h.write_tools_hooks();
    assert_eq!(h.run(WorkshopAction::Launch, &["ws"], Mode::Transactional).await.1, Status::Done);
    let mark = vec![("user.marker".to_string(), Some("launched".to_string()))];
    crate::backend::Backend::set_config(&*h.fake, &h.target("ws"), &mark).await.unwrap();
    h
}

impl Harness {
    /// Gives the `tools` SDK every hook (the `system` SDK has none: its hooks are skipped
    /// without a run).
    fn write_tools_hooks(&self) {
        for hook in ["setup-base", "setup-project", "save-state", "restore-state", "check-health"] {
            self.write(&format!(".workshop/tools/hooks/{hook}"), "true\n");
        }
    }

    fn marked(&self, name: &str) -> bool {
        self.fake.instance(&self.target(name)).is_some_and(|i| i.config.contains_key("user.marker"))
    }

    fn tools_tree(&self, name: &str) -> String {
        self.fake.instance(&self.target(name)).unwrap().devices["sdk.tools"]["source"].clone()
    }

    /// The workshop is back as it was before a refresh: the launched instance, running,
    /// with its SDK tree, and no stash.
    async fn rolled_back(&self, tree: &str, what: &str) {
        assert!(self.marked("ws"), "{what}: the launched instance is back");
        assert!(self.fake.instance(&self.target("ws")).unwrap().running, "{what}: running");
        assert!(self.fake.stashed(&self.target("ws")).is_none(), "{what}: no stash left");
        assert!(self.fake.rebuilt(&self.target("ws")).is_none(), "{what}: no rebuilt instance left");
        assert_eq!(self.tools_tree("ws"), tree, "{what}");
        assert_eq!(self.workshop_status("ws").await, WorkshopStatus::Ready, "{what}");
    }
}

#[actix_rt::test]
async fn a_refresh_rebuilds_the_workshop_in_the_reference_order() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = launched_with_tools().await;
    let (old_tree, old_hash) = (h.tools_tree("ws"), h.env_hash("ws").await.unwrap());
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"2.0\"\n");
    let (change, status) = h.run(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await;
    assert_eq!(status, Status::Done);
    h.cleaned(&change).await;
    let summary =
        h.daemon.engine.send(Query(Box::new(move |st| st.change(&change).unwrap().summary.clone())));
    assert_eq!(summary.await.unwrap(), "Refresh \"ws\" workshop");
    assert!(!h.marked("ws"), "rebuilt");
    assert!(h.fake.stashed(&h.target("ws")).is_none(), "the stash is removed");
    assert_ne!(h.tools_tree("ws"), old_tree);
    assert_ne!(h.env_hash("ws").await.unwrap(), old_hash);
    let instance = h.fake.instance(&h.target("ws")).unwrap();
    assert!(instance.running);
    // The state storage was there for the save-state and restore-state hooks only.
    assert!(!instance.devices.contains_key("workshop.state-storage"), "{:?}", instance.devices);
    let state = h.cache("ws").join("state");
    assert!(!state.exists() || std::fs::read_dir(&state).unwrap().next().is_none());
    let msg = GetWorkshop { user: h.user.clone(), project_id: h.project_id.clone(), name: "ws".into() };
    let info = h.daemon.workshops.send(msg).await.unwrap().unwrap();
    assert_eq!(info.sdks[1].revision, "x2");
    assert!(matches!(
        h.request(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await,
        Err(WorkshopError::NoUpdates(_))
    ));
    // The hooks, in the reference's order (§8.3).
    let hooks: Vec<String> = h
        .fake
        .runs()
        .iter()
        .filter_map(|r| r.command.iter().find_map(|a| a.split("/sdk/hooks/").nth(1).map(|h| h.to_string())))
        .collect();
    let after_launch = hooks.iter().position(|h| h.starts_with("save-state")).expect("save-state ran");
    let refresh: Vec<&str> =
        hooks[after_launch..].iter().map(|h| h.split_whitespace().next().unwrap_or_default()).collect();
    // The layer of `system` comes with the snapshot the launch kept: only `tools` is set up;
    // `system` has no hooks, so only those of `tools` run.
    let expected = ["save-state", "setup-base", "setup-project", "restore-state", "check-health"];
    assert_eq!(refresh, expected, "{hooks:?}");
    // The state storage was mounted for the save-state hooks, then for the restore-state ones.
    assert_eq!(state_storage_mounts(&h), 2);
}

/// How many times the state storage was plugged into an instance.
fn state_storage_mounts(h: &Harness) -> usize {
    h.fake
        .calls()
        .iter()
        .filter(|c| c.starts_with("set-device ") && c.ends_with(" workshop.state-storage"))
        .count()
}

#[actix_rt::test]
async fn a_refresh_without_state_hooks_leaves_the_state_storage_out() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = harness(&["ws"]).await;
    h.write(".workshop/ws.yaml", "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-tools\n");
    h.write(".workshop/tools/sdk.yaml", "name: tools\n");
    h.write(".workshop/tools/hooks/save-state", "true\n");
    assert_eq!(h.run(WorkshopAction::Launch, &["ws"], Mode::Transactional).await.1, Status::Done);
    // The new revision has no restore-state hook: the one installed now has a save-state.
    std::fs::remove_file(h.root.join("project/.workshop/tools/hooks/save-state")).unwrap();
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"2.0\"\n");
    assert_eq!(h.run(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await.1, Status::Done);
    assert_eq!(state_storage_mounts(&h), 1, "{:?}", h.fake.calls());
    // Neither revision has one: no mount at all.
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"3.0\"\n");
    assert_eq!(h.run(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await.1, Status::Done);
    assert_eq!(state_storage_mounts(&h), 1, "{:?}", h.fake.calls());
    assert_eq!(h.workshop_status("ws").await, WorkshopStatus::Ready);
    // Nothing plugged in after the rebuilds: nothing to take away.
    let removals = h
        .fake
        .calls()
        .iter()
        .filter(|c| c.starts_with("remove-device ") && c.ends_with(" workshop.state-storage"))
        .count();
    assert_eq!(removals, 0, "{:?}", h.fake.calls());
}

#[actix_rt::test]
async fn a_stash_whose_cleanup_failed_does_not_hold_up_the_next_refresh() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = launched_with_tools().await;
    h.fake.fail_matching("discard-stash", "", 0, "injected");
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"2.0\"\n");
    let (first, status) = h.run(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await;
    assert_eq!(status, Status::Done);
    // Its cleanup failed (it is tried again later): the stash is still there.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.fake.stashed(&h.target("ws")).is_some());
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"3.0\"\n");
    let (second, status) = h.run(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await;
    assert_eq!(status, Status::Done, "{:?}", h.tasks(&second).await);
    assert_ne!(first, second);
}

#[actix_rt::test]
async fn a_refresh_failing_in_any_phase_puts_the_workshop_back() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let cases: [(&str, Option<Fault>); 8] = [
        ("mount-state-storage", Some(Fault::Backend("set-device", "workshop.state-storage", 0))),
        ("stop-workshop", Some(Fault::Backend("stop", "", 0))),
        ("stash-workshop", Some(Fault::Backend("stash", "", 0))),
        ("rebuild-workshop", Some(Fault::Backend("create", "", 0))),
        ("start-workshop", Some(Fault::Backend("wait-ready", "", 0))),
        ("install-sdk", Some(Fault::Backend("set-device", "sdk.tools", 0))),
        ("mount-project", Some(Fault::Backend("set-device", "workshop.project", 1))),
        // A setup-project hook that fails (the last phase before the stash goes).
        ("run-hook", None),
    ];
    for (failing, fault) in cases {
        let h = launched_with_tools().await;
        let tree = h.tools_tree("ws");
        h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"2.0\"\n");
        match fault {
            Some(Fault::Backend(op, needle, skip)) => h.fake.fail_matching(op, needle, skip, "injected"),
            _ => h.fake.on_run("/sdk/hooks/setup-project", |_| {
                Box::pin(async { crate::backend::RunOutput { exit_code: 1, ..Default::default() } })
            }),
        }
        let (change, status) = h.run(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await;
        assert_eq!(status, Status::Error, "{failing}");
        let tasks = h.tasks(&change).await;
        assert!(tasks.iter().any(|(k, s)| k == failing && *s == Status::Error), "{failing}: {tasks:?}");
        h.rolled_back(&tree, failing).await;
    }
}

#[actix_rt::test]
async fn a_paused_refresh_blocks_start_and_is_aborted_or_continued() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    for abort in [true, false] {
        let h = launched_with_tools().await;
        let tree = h.tools_tree("ws");
        h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"2.0\"\n");
        h.fake.fail_matching("set-device", "sdk.tools", 0, "injected");
        let (change, status) = h.run(WorkshopAction::Refresh, &["ws"], Mode::WaitOnError).await;
        assert_eq!(status, Status::Wait);
        assert_eq!(h.workshop_status("ws").await, WorkshopStatus::Waiting);
        // S-04: another change meets the paused refresh.
        let start = h.request(WorkshopAction::Start, &["ws"], Mode::Transactional).await.unwrap_err();
        assert_eq!(start.to_string(), "cannot start \"ws\": refresh change is waiting on error");
        let again = h.request(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await.unwrap_err();
        assert!(matches!(again, WorkshopError::Conflict(_)), "{again}");
        // A launch is not what waits: resuming one is a conflict, not "nothing to resume".
        let mode = if abort { Mode::Abort } else { Mode::Continue };
        let launch = h.request(WorkshopAction::Launch, &["ws"], mode).await.unwrap_err();
        assert_eq!(launch.to_string(), "cannot launch \"ws\": refresh change is waiting on error");
        assert_eq!(h.request(WorkshopAction::Refresh, &["ws"], mode).await.unwrap(), change);
        if abort {
            assert_eq!(h.settled(&change).await, Status::Undone);
            h.rolled_back(&tree, "abort").await;
        } else {
            assert_eq!(h.settled(&change).await, Status::Done);
            h.cleaned(&change).await;
            assert!(!h.marked("ws") && h.fake.stashed(&h.target("ws")).is_none());
            assert_ne!(h.tools_tree("ws"), tree);
            // What a continued change made may have been fixed by hand: no layer is kept of
            // it. Left: the launch's layer of `system` (the one of the first `tools` is named
            // by no instance now, and the fake collects without a cool-down).
            let kept = h.fake.snapshots("lifecycle");
            assert!(kept.len() == 1 && kept[0].starts_with("sdk-system-"), "{kept:?}");
            let log = task_log(&h, &change, "snapshot-sdk").await;
            assert!(log.iter().any(|l| l.contains("the change was continued after an error")), "{log:?}");
        }
    }
    // Nothing paused: nothing to resume.
    let h = launched_with_tools().await;
    let none = h.request(WorkshopAction::Refresh, &["ws"], Mode::Abort).await.unwrap_err();
    assert_eq!(none.to_string(), "cannot abort: no refresh in progress");
}

#[actix_rt::test]
async fn a_refresh_of_several_workshops_is_all_or_nothing_and_remove_takes_a_paused_ones_stash() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = harness(&["a", "b"]).await;
    h.write(".workshop/tools/sdk.yaml", "name: tools\n");
    for ws in ["a", "b"] {
        h.write(
            &format!(".workshop/{ws}.yaml"),
            &format!("name: {ws}\nbase: ubuntu@22.04\nsdks:\n  - name: project-tools\n"),
        );
    }
    assert_eq!(h.run(WorkshopAction::Launch, &["a", "b"], Mode::Transactional).await.1, Status::Done);
    let (ta, tb) = (h.tools_tree("a"), h.tools_tree("b"));
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"2.0\"\n");
    // b's SDK cannot be installed: a is put back too.
    let b_tools = format!("{} sdk.tools", h.target("b").instance_name());
    h.fake.fail_matching("set-device", &b_tools, 0, "injected");
    let (_, status) = h.run(WorkshopAction::Refresh, &["a", "b"], Mode::Transactional).await;
    assert_eq!(status, Status::Error);
    assert_eq!((h.tools_tree("a"), h.tools_tree("b")), (ta.clone(), tb));
    for ws in ["a", "b"] {
        assert!(h.fake.stashed(&h.target(ws)).is_none());
        assert_eq!(h.workshop_status(ws).await, WorkshopStatus::Ready);
    }

    // A refresh paused after its stash, then removed: nothing is left.
    h.fake.fail_matching("set-device", "sdk.tools", 0, "injected");
    let (_, status) = h.run(WorkshopAction::Refresh, &["a"], Mode::WaitOnError).await;
    assert_eq!(status, Status::Wait);
    assert!(h.fake.stashed(&h.target("a")).is_some());
    assert_eq!(h.run(WorkshopAction::Remove, &["a"], Mode::Transactional).await.1, Status::Done);
    assert!(h.fake.stashed(&h.target("a")).is_none());
    h.gone("a");
}

impl Harness {
    async fn restore(&self, names: &[&str]) -> Result<String, WorkshopError> {
        let request = WorkshopsRequest {
            names: names.iter().map(|n| n.parse::<WorkshopName>().unwrap()).collect(),
            action: WorkshopAction::Refresh,
            options: WorkshopOptions {
                refresh_option: Some(workshop_api::workshops::RefreshOption::Restore),
                ..WorkshopOptions::default()
            },
        };
        let msg = ChangeWorkshops { user: self.user.clone(), project_id: self.project_id.clone(), request };
        self.daemon.workshops.send(msg).await.unwrap()
    }
}

#[actix_rt::test]
async fn a_restore_rebuilds_from_what_the_workshop_was_built_from() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = launched_with_tools().await;
    let (tree, hash) = (h.tools_tree("ws"), h.env_hash("ws").await.unwrap());
    let image = h.fake.instance(&h.target("ws")).unwrap().config["image"].clone();
    // Changes of the project SDK since are not what the workshop was built from.
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"2.0\"\n");
    let from = h.fake.calls().len();
    let change = h.restore(&["ws"]).await.unwrap();
    assert_eq!(h.settled(&change).await, Status::Done);
    // The SDKs of the layer are in place from the rebuild: nothing is plugged in for them.
    let calls = h.fake.calls()[from..].to_vec();
    assert!(!calls.iter().any(|c| c.starts_with("set-device") && c.ends_with(" sdk.tools")), "{calls:?}");
    let kinds: Vec<String> = h.tasks(&change).await.into_iter().map(|(k, _)| k).collect();
    assert!(!kinds.iter().any(|k| k == "retrieve-sdk" || k == "download-base"), "{kinds:?}");
    // Its auto-disconnect brings the defaults back: manual session connections go too.
    let id = change.clone();
    let reset = h
        .daemon
        .engine
        .send(Query(Box::new(move |st| {
            st.change_tasks(&id)
                .iter()
                .find(|t| t.kind == "auto-disconnect")
                .and_then(|t| t.read(&crate::managers::interface::plan::RESET))
        })))
        .await
        .unwrap();
    assert_eq!(reset, Some(true));
    assert!(!h.marked("ws"), "rebuilt: what was done inside is gone");
    assert_eq!(h.tools_tree("ws"), tree);
    assert_eq!(h.env_hash("ws").await.unwrap(), hash);
    assert_eq!(h.fake.instance(&h.target("ws")).unwrap().config["image"], image);
    assert!(h.fake.stashed(&h.target("ws")).is_none());
    let msg = GetWorkshop { user: h.user.clone(), project_id: h.project_id.clone(), name: "ws".into() };
    let info = h.daemon.workshops.send(msg).await.unwrap().unwrap();
    assert_eq!(info.sdks[1].revision, "x1");

    // A restore that fails is rolled back like a refresh.
    let mark = vec![("user.marker".to_string(), Some("again".to_string()))];
    crate::backend::Backend::set_config(&*h.fake, &h.target("ws"), &mark).await.unwrap();
    // (The tree of tools is in place from the rebuild on: the start fails instead.)
    h.fake.fail_matching("wait-ready", "", 0, "injected");
    let change = h.restore(&["ws"]).await.unwrap();
    assert_eq!(h.settled(&change).await, Status::Error);
    h.rolled_back(&tree, "restore").await;

    // A workshop made by an incompatible version is not restored.
    let old = vec![("user.workshop.format-revision".to_string(), Some("0".to_string()))];
    crate::backend::Backend::set_config(&*h.fake, &h.target("ws"), &old).await.unwrap();
    let refused = h.restore(&["ws"]).await.unwrap_err();
    assert_eq!(
        refused.to_string(),
        "cannot restore \"ws\": workshop created using incompatible Workshop version"
    );
}

/// The log lines of the change's tasks of `kind`.
async fn task_log(h: &Harness, change: &str, kind: &'static str) -> Vec<String> {
    let id = change.to_string();
    h.daemon
        .engine
        .send(Query(Box::new(move |st| {
            st.change_tasks(&id).iter().filter(|t| t.kind == kind).flat_map(|t| t.log.clone()).collect()
        })))
        .await
        .unwrap()
}

#[actix_rt::test]
async fn interface_tasks_failing_are_undone() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // resolve-interfaces: a privileged slot grafted onto the system SDK (C-11).
    let h = harness(&["ws"]).await;
    h.write(
        ".workshop/ws.yaml",
        "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: system\n    slots:\n      user-camera:\n        interface: camera\n",
    );
    let (change, status) = h.run(WorkshopAction::Launch, &["ws"], Mode::Transactional).await;
    assert_eq!(status, Status::Error);
    let log = task_log(&h, &change, "resolve-interfaces").await;
    assert!(
        log.iter()
            .any(|l| l
                .contains("installation not allowed by \"user-camera\" slot rule of interface \"camera\"")),
        "{log:?}"
    );
    h.gone("ws");

    // setup-profiles: LXD refuses the profile; auto-connect's connections are undone too.
    let h = harness(&["ws"]).await;
    h.write(".workshop/ws.yaml", "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-gpu\n");
    h.write(".workshop/gpu/sdk.yaml", "name: gpu\nplugs:\n  gpu:\n");
    h.fake.fail_next("set-profile", "injected");
    let (change, status) = h.run(WorkshopAction::Launch, &["ws"], Mode::Transactional).await;
    assert_eq!(status, Status::Error);
    let tasks = h.tasks(&change).await;
    for (kind, want) in [
        ("resolve-interfaces", Status::Done),
        ("auto-connect", Status::Undone),
        ("setup-profiles", Status::Error),
    ] {
        assert!(tasks.iter().any(|(k, s)| k == kind && *s == want), "{kind}: {tasks:?}");
    }
    h.gone("ws");

    // remove-profiles and discard-conns: a removal failing later puts them back.
    assert_eq!(h.run(WorkshopAction::Launch, &["ws"], Mode::Transactional).await.1, Status::Done);
    let before = h.fake.calls().iter().filter(|c| c.starts_with("set-profile")).count();
    h.fake.fail_next("delete", "injected");
    let (change, status) = h.run(WorkshopAction::Remove, &["ws"], Mode::Transactional).await;
    assert_eq!(status, Status::Error);
    let tasks = h.tasks(&change).await;
    for kind in ["remove-profiles", "discard-conns"] {
        assert!(tasks.iter().any(|(k, s)| k == kind && *s == Status::Undone), "{kind}: {tasks:?}");
    }
    // remove-profiles cleared the gpu SDK's profile, and its undo set it up again.
    let after = h.fake.calls().iter().filter(|c| c.starts_with("set-profile") && c.ends_with(" gpu")).count();
    assert!(after >= before + 2, "{:?}", h.fake.calls());
    assert_eq!(h.workshop_status("ws").await, WorkshopStatus::Ready);
    assert_eq!(h.run(WorkshopAction::Remove, &["ws"], Mode::Transactional).await.1, Status::Done);
    h.gone("ws");
}

#[actix_rt::test]
async fn gpu_plugs_connect_with_or_without_gpus() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    for gpus in [
        Vec::new(),
        vec![crate::lxd::GpuCard { vendor_id: "8086".into(), drm: Some(crate::lxd::GpuDrm { id: 0 }) }],
    ] {
        let h = harness(&["ws"]).await;
        h.write(".workshop/ws.yaml", "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-gpu\n");
        h.write(".workshop/gpu/sdk.yaml", "name: gpu\nplugs:\n  gpu:\n");
        h.fake.set_gpus(gpus.clone());
        assert_eq!(h.run(WorkshopAction::Launch, &["ws"], Mode::Transactional).await.1, Status::Done);
        // C-15: connected either way.
        let msg = crate::managers::interface::ListConnections {
            user: h.user.clone(),
            project_id: h.project_id.clone(),
            workshops: vec!["ws".into()],
            filter: Default::default(),
        };
        let listed = h.daemon.interfaces.send(msg).await.unwrap().unwrap();
        let rows: Vec<(String, String)> =
            listed.established.iter().map(|c| (c.plug.plug.clone(), c.slot.slot.clone())).collect();
        assert_eq!(rows, [("gpu".to_string(), "gpu".to_string())]);
        let profile = h.fake.profile(&h.target("ws"), "gpu");
        if gpus.is_empty() {
            assert!(profile.is_empty(), "{profile:?}");
        } else {
            assert_eq!(profile["gpu_gpu_intel_0"]["id"], "0");
        }
        assert_eq!(h.run(WorkshopAction::Remove, &["ws"], Mode::Transactional).await.1, Status::Done);
        assert!(h.fake.profile(&h.target("ws"), "gpu").is_empty(), "the profile goes with the workshop");
        h.gone("ws");
    }
}

/// What a refresh will plan around its rebuild (issue 12): `auto-disconnect` and
/// `remove-profiles`, then `add_auto_connect`; a failure after the disconnect puts the
/// connections back.
#[actix_rt::test]
async fn refresh_planners_disconnect_and_connect_again() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    use crate::managers::interface::plan as interface_plan;
    let h = harness(&["ws"]).await;
    h.write(".workshop/ws.yaml", "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-gpu\n");
    h.write(".workshop/gpu/sdk.yaml", "name: gpu\nplugs:\n  gpu:\n");
    assert_eq!(h.run(WorkshopAction::Launch, &["ws"], Mode::Transactional).await.1, Status::Done);
    let listed = |h: &Harness| {
        let msg = crate::managers::interface::ListConnections {
            user: h.user.clone(),
            project_id: h.project_id.clone(),
            workshops: vec!["ws".into()],
            filter: Default::default(),
        };
        let interfaces = h.daemon.interfaces.clone();
        async move { interfaces.send(msg).await.unwrap().unwrap().established.len() }
    };
    assert_eq!(listed(&h).await, 1);
    let target = TaskTarget {
        name: "ws".into(),
        project_id: h.project_id.clone(),
        project_path: h.root.join("project").to_string_lossy().into_owned(),
        user: h.user.clone(),
    };
    for fail in [false, true] {
        if fail {
            // remove-profiles (the system and gpu SDKs) passes, setup-profiles fails:
            // everything is undone.
            h.fake.fail_after("set-profile", 2, "injected");
        }
        let (t, user) = (target.clone(), h.user.clone());
        let change = h
            .daemon
            .engine
            .send(crate::engine::Transact(Box::new(move |st| {
                let now = chrono::Utc::now();
                let change =
                    crate::managers::task::new_change(st, "refresh", "Refresh", &user, &t.project_id, now);
                let disconnected = interface_plan::add_auto_disconnect(st, &change, &t, None, false, now);
                let last = interface_plan::add_remove_profiles(st, &change, &t, Some(&disconnected), now);
                interface_plan::add_auto_connect(st, &change, &t, Some(&last), now);
                change
            })))
            .await
            .unwrap()
            .unwrap();
        let status = h.settled(&change).await;
        assert_eq!(status, if fail { Status::Error } else { Status::Done });
        let tasks = h.tasks(&change).await;
        if fail {
            assert!(tasks.iter().any(|(k, s)| k == "auto-disconnect" && *s == Status::Undone), "{tasks:?}");
        }
        assert_eq!(listed(&h).await, 1, "fail={fail}: {tasks:?}");
    }
}

impl Harness {
    async fn plan(&self, name: &str) -> Result<workshop_api::workshops::RefreshPlan, WorkshopError> {
        let msg = PlanRefresh {
            user: self.user.clone(),
            project_id: self.project_id.clone(),
            name: name.into(),
            skip_save_state: false,
        };
        self.daemon.workshops.send(msg).await.unwrap()
    }

    /// How many changes the state holds.
    async fn changes(&self) -> usize {
        self.daemon.engine.send(Query(Box::new(|st| st.changes().count()))).await.unwrap()
    }

    /// The hook names the fake backend ran, from the `n`th run on.
    fn hooks_run(&self, from: usize) -> Vec<String> {
        self.fake.runs()[from..]
            .iter()
            .filter_map(|r| r.command.iter().find_map(|a| a.split("/sdk/hooks/").nth(1)))
            .map(|h| h.split_whitespace().next().unwrap_or_default().to_string())
            .collect()
    }

    /// Plans a refresh of `ws` (no change is made), runs it, and checks the change had the
    /// planned tasks and ran the planned hooks in order.
    async fn plan_then_refresh(&self) -> workshop_api::workshops::RefreshPlan {
        let before = self.changes().await;
        let plan = self.plan("ws").await.unwrap();
        assert_eq!(self.changes().await, before, "a plan makes no change");
        let runs = self.fake.runs().len();
        let (change, status) = self.run(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await;
        assert_eq!(status, Status::Done);
        let done: Vec<(String, String)> = {
            let id = change.clone();
            self.daemon
                .engine
                .send(Query(Box::new(move |st| {
                    st.change_tasks(&id).iter().map(|t| (t.kind.clone(), t.summary.clone())).collect()
                })))
                .await
                .unwrap()
        };
        let planned: Vec<(String, String)> =
            plan.tasks.iter().map(|t| (t.kind.clone(), t.summary.clone())).collect();
        assert_eq!(planned, done, "the plan's tasks are the refresh's");
        let hooks: Vec<String> = plan.hooks.iter().map(|h| h.hook.clone()).collect();
        assert_eq!(self.hooks_run(runs), hooks, "the planned hooks ran, in order");
        plan
    }
}

#[actix_rt::test]
async fn a_refresh_plan_with_nothing_to_do_says_so_and_changes_nothing() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = launched_with_tools().await;
    let before = h.changes().await;
    let plan = h.plan("ws").await.unwrap();
    assert!(plan.up_to_date, "{plan:?}");
    assert_eq!((plan.rebuild_from, plan.sdks.len(), plan.tasks.len()), (None, 0, 0));
    assert_eq!(h.changes().await, before, "unlike the refresh, no Done change either");
    assert!(matches!(
        h.request(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await,
        Err(WorkshopError::NoUpdates(_))
    ));
    // Refused as the refresh is.
    assert_eq!(h.plan("nope").await.unwrap_err().to_string(), "workshop \"nope\" is not launched");
    assert_eq!(h.run(WorkshopAction::Stop, &["ws"], Mode::Transactional).await.1, Status::Done);
    assert_eq!(h.plan("ws").await.unwrap_err().to_string(), "cannot refresh \"ws\": not running");
}

#[actix_rt::test]
async fn a_refresh_plan_of_a_changed_sdk_is_what_the_refresh_does() {
    use workshop_api::workshops::SdkChange;
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = launched_with_tools().await;
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"2.0\"\n");
    let plan = h.plan_then_refresh().await;
    assert!(!plan.up_to_date);
    let from = plan.rebuild_from.as_ref().unwrap();
    assert_eq!(
        (from.base.as_str(), from.fingerprint.as_str(), from.changed),
        ("ubuntu@22.04", "f00d", false)
    );
    // The launch kept the layer of `system`: the rebuild starts from it.
    assert!(from.snapshot.as_deref().is_some_and(|s| s.starts_with("sdk-system-")), "{from:?}");
    assert_eq!(from.reused, ["system"]);
    let sdks: Vec<_> = plan.sdks.iter().map(|s| (s.name.as_str(), s.change, s.source.as_str())).collect();
    assert_eq!(sdks, [("system", SdkChange::Kept, "system"), ("tools", SdkChange::Reinstalled, "project")]);
    assert_eq!(plan.sdks[0].old_revision, plan.sdks[0].new_revision);
    assert_eq!(
        (plan.sdks[1].old_revision.as_deref(), plan.sdks[1].new_revision.as_deref()),
        (Some("x1"), None)
    );
    let hooks: Vec<(&str, &str)> = plan.hooks.iter().map(|h| (h.sdk.as_str(), h.hook.as_str())).collect();
    assert_eq!(
        hooks,
        // `system` has no hooks: none of its is planned (nor run).
        [
            ("tools", "save-state"),
            ("tools", "setup-base"),
            ("tools", "setup-project"),
            ("tools", "restore-state"),
            ("tools", "check-health"),
        ]
    );
    let msg = GetWorkshop { user: h.user.clone(), project_id: h.project_id.clone(), name: "ws".into() };
    let info = h.daemon.workshops.send(msg).await.unwrap().unwrap();
    assert_eq!(info.sdks[1].revision, "x2");
    assert!(h.plan("ws").await.unwrap().up_to_date, "nothing left to do");
}

#[actix_rt::test]
async fn a_refresh_plan_of_an_added_and_a_removed_sdk_is_what_the_refresh_does() {
    use workshop_api::workshops::SdkChange;
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = launched_with_tools().await;
    h.write(".workshop/other/sdk.yaml", "name: other\nversion: \"1.0\"\n");
    for hook in ["setup-base", "setup-project", "check-health"] {
        h.write(&format!(".workshop/other/hooks/{hook}"), "true\n");
    }
    h.write(".workshop/ws.yaml", "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-other\n");
    let plan = h.plan_then_refresh().await;
    let sdks: Vec<_> = plan
        .sdks
        .iter()
        .map(|s| (s.name.as_str(), s.change, s.old_revision.as_deref().is_some(), s.new_revision.is_some()))
        .collect();
    assert_eq!(
        sdks,
        [
            ("system", SdkChange::Kept, true, true),
            ("other", SdkChange::Added, false, false),
            ("tools", SdkChange::Removed, true, false),
        ]
    );
    // Only a kept SDK's state is saved and restored: the removed one (which has every hook)
    // runs none; `system` has no hooks.
    let hooks: Vec<(&str, &str)> = plan.hooks.iter().map(|h| (h.sdk.as_str(), h.hook.as_str())).collect();
    assert_eq!(hooks, [("other", "setup-base"), ("other", "setup-project"), ("other", "check-health")]);
    let msg = GetWorkshop { user: h.user.clone(), project_id: h.project_id.clone(), name: "ws".into() };
    let info = h.daemon.workshops.send(msg).await.unwrap().unwrap();
    let names: Vec<&str> = info.sdks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["system", "other"]);
}

#[actix_rt::test]
async fn a_rebuilt_workshop_keeps_its_machine_id_before_its_first_start() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = launched_with_tools().await;
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"2.0\"\n");
    let from = h.fake.calls().len();
    let (_, status) = h.run(WorkshopAction::Refresh, &["ws"], Mode::Transactional).await;
    assert_eq!(status, Status::Done);
    let calls = h.fake.calls()[from..].to_vec();
    let at = |op: &str| {
        calls
            .iter()
            .position(|c| c.split_whitespace().next() == Some(op))
            .unwrap_or_else(|| panic!("{op}: {calls:?}"))
    };
    // Made beside the old instance, then put in its place.
    assert!(calls.iter().any(|c| c.starts_with("create next--ws-")), "{calls:?}");
    assert!(at("create") < at("stash"), "{calls:?}");
    assert!(at("stash") < at("keep-machine-id"), "{calls:?}");
    assert!(at("keep-machine-id") < at("start"), "{calls:?}");
    // A restore rebuilds too.
    let from = h.fake.calls().len();
    let change = h.restore(&["ws"]).await.unwrap();
    assert_eq!(h.settled(&change).await, Status::Done);
    assert!(h.fake.calls()[from..].iter().any(|c| c.starts_with("keep-machine-id ")), "{:?}", h.fake.calls());
}

#[actix_rt::test]
async fn workshops_and_restores_start_from_the_deepest_snapshot_of_their_layers() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = harness(&["a", "b"]).await;
    for ws in ["a", "b"] {
        h.write(
            &format!(".workshop/{ws}.yaml"),
            &format!("name: {ws}\nbase: ubuntu@22.04\nsdks:\n  - name: project-tools\n"),
        );
    }
    h.write(".workshop/tools/sdk.yaml", "name: tools\nversion: \"1.0\"\n");
    h.write_tools_hooks();
    let layers = |ws: &str| -> Vec<String> {
        let config = h.fake.instance(&h.target(ws)).unwrap().config;
        (0..2).map(|i| config.get(&super::layers::layer_config_key(i)).cloned().unwrap_or_default()).collect()
    };
    let runs = h.fake.runs().len();
    assert_eq!(h.run(WorkshopAction::Launch, &["a"], Mode::Transactional).await.1, Status::Done);
    assert_eq!(
        h.hooks_run(runs).iter().filter(|h| *h == "setup-base").count(),
        1,
        "tools' (system has none)"
    );
    let kept = layers("a");
    assert!(kept[0].starts_with("sdk-system-") && kept[1].starts_with("sdk-tools-"), "{kept:?}");
    let mut snapshots = h.fake.snapshots("lifecycle");
    snapshots.sort();
    assert_eq!(snapshots, [kept[0].clone(), kept[1].clone()]);
    assert!(!h.fake.instance(&h.target("a")).unwrap().config.contains_key("snapshot"), "a is new");

    // A second workshop with the same base and SDKs is a copy of the deepest layer: no
    // `setup-base` runs again.
    let runs = h.fake.runs().len();
    let (change, status) = h.run(WorkshopAction::Launch, &["b"], Mode::Transactional).await;
    assert_eq!(status, Status::Done);
    assert_eq!(h.hooks_run(runs).iter().filter(|h| *h == "setup-base").count(), 0, "{:?}", h.hooks_run(runs));
    assert_eq!(h.fake.instance(&h.target("b")).unwrap().config["snapshot"], kept[1]);
    assert_eq!(layers("b"), kept);
    let log = task_log(&h, &change, "create-workshop").await;
    assert!(
        log.iter().any(|l| l.contains(r#"Reusing the layers of "system", "tools" from snapshot"#)),
        "{log:?}"
    );
    let log = task_log(&h, &change, "run-hook").await;
    assert!(
        log.iter()
            .any(|l| l.ends_with(r#"Skipped: "b" was made from a snapshot where "tools" SDK was set up"#)),
        "{log:?}"
    );

    // A restore starts from the workshop's own last layer.
    let runs = h.fake.runs().len();
    let change = h.restore(&["a"]).await.unwrap();
    assert_eq!(h.settled(&change).await, Status::Done);
    assert_eq!(h.hooks_run(runs).iter().filter(|h| *h == "setup-base").count(), 0);
    assert_eq!(h.fake.instance(&h.target("a")).unwrap().config["snapshot"], kept[1]);

    // Snapshots an instance names stay; once none does, they are collected.
    assert_eq!(h.run(WorkshopAction::Remove, &["a"], Mode::Transactional).await.1, Status::Done);
    assert_eq!(h.fake.snapshots("lifecycle").len(), 2);
    assert_eq!(h.run(WorkshopAction::Remove, &["b"], Mode::Transactional).await.1, Status::Done);
    assert!(h.fake.snapshots("lifecycle").is_empty());
}

impl Harness {
    async fn fork(&self, source: &str, copy: &str) -> Result<String, WorkshopError> {
        let request = WorkshopsRequest {
            names: vec![source.parse::<WorkshopName>().unwrap()],
            action: WorkshopAction::Fork,
            options: WorkshopOptions { fork_name: Some(copy.parse().unwrap()), ..WorkshopOptions::default() },
        };
        let msg = ChangeWorkshops { user: self.user.clone(), project_id: self.project_id.clone(), request };
        self.daemon.workshops.send(msg).await.unwrap()
    }
}

#[actix_rt::test]
async fn a_fork_is_a_started_copy_with_its_own_name_storage_and_revisions() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = launched_with_tools().await;
    let source = h.fake.instance(&h.target("ws")).unwrap();
    let runs = h.fake.runs().len();
    let change = h.fork("ws", "copy").await.unwrap();
    assert_eq!(h.settled(&change).await, Status::Done);
    let kinds: Vec<String> = h.tasks(&change).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds,
        [
            "create-workshop-storage",
            "fork-workshop",
            "start-workshop",
            "resolve-interfaces",
            "auto-connect",
            "setup-profiles",
            "run-hook",
            "run-hook"
        ]
    );
    // Nothing is set up again: only the health checks of its SDKs run.
    assert_eq!(h.hooks_run(runs), ["check-health"], "tools' (system has no hooks)");
    let copy = h.fake.instance(&h.target("copy")).unwrap();
    assert!(copy.running, "the fork is started");
    assert_eq!(copy.config["forked-from"], h.target("ws").instance_name());
    assert!(copy.config.contains_key("user.marker"), "the source's files and keys");
    assert_eq!(copy.config["user.workshop.name"], "copy");
    assert!(
        copy.config["user.workshop.file"].starts_with("name: copy\n"),
        "{}",
        copy.config["user.workshop.file"]
    );
    assert_eq!(h.tools_tree("copy"), h.tools_tree("ws"));
    assert_eq!(copy.devices["cache.apt"]["source"], h.cache("copy").join("apt").to_string_lossy());
    assert_eq!(copy.devices[super::handlers::PROJECT_DEVICE]["source"], h.staging("copy").to_string_lossy());
    assert!(h.cache("copy").join("apt").is_dir());
    assert_eq!(h.workshop_status("copy").await, WorkshopStatus::Ready);
    // The source is as it was.
    assert_eq!(h.fake.instance(&h.target("ws")).unwrap().config, source.config);
    assert_eq!(h.workshop_status("ws").await, WorkshopStatus::Ready);
    // The copy's local SDK revisions are its own copy of the source's.
    let (uid, pid) = (UID, h.project_id.clone());
    let revisions = h
        .daemon
        .engine
        .send(Query(Box::new(move |st| {
            let sdk = |ws: &str| crate::sdk::revisions::LocalSdkRef {
                uid,
                project_id: pid.clone(),
                workshop: ws.into(),
                sdk: "tools".into(),
            };
            (
                crate::sdk::revisions::revisions(st, &sdk("ws")),
                crate::sdk::revisions::revisions(st, &sdk("copy")),
            )
        })))
        .await
        .unwrap();
    assert_eq!(revisions.0, revisions.1);
    assert_eq!(revisions.1.last, 1);

    // Without a definition file of its own, it is restored from what it records.
    let change = h.restore(&["copy"]).await.unwrap();
    assert_eq!(h.settled(&change).await, Status::Done);
    assert!(
        h.fake.instance(&h.target("copy")).unwrap().config["user.workshop.file"].starts_with("name: copy\n")
    );
    assert!(!h.marked("copy"), "rebuilt");

    // Removing the fork leaves the source alone.
    assert_eq!(h.run(WorkshopAction::Remove, &["copy"], Mode::Transactional).await.1, Status::Done);
    h.gone("copy");
    assert_eq!(h.workshop_status("ws").await, WorkshopStatus::Ready);
}

#[actix_rt::test]
async fn a_fork_is_refused_for_names_it_cannot_have_and_undone_when_it_fails() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let h = launched_with_tools().await;
    h.write(".workshop/other.yaml", "name: other\nbase: ubuntu@22.04\n");
    let refused = |r: Result<String, WorkshopError>| match r {
        Err(WorkshopError::BadRequest(m)) | Err(WorkshopError::NotFound(m)) => m,
        other => panic!("not refused: {other:?}"),
    };
    let m = refused(h.fork("ws", "ws").await);
    assert_eq!(m, r#"cannot fork "ws": the copy needs another name"#);
    let m = refused(h.fork("ws", "other").await);
    assert!(m.starts_with(r#"cannot fork "ws" as "other": "other" is defined in "#), "{m}");
    let m = refused(h.fork("nothere", "copy").await);
    assert!(m.contains("nothere"), "{m}");
    // The name of a fork is for fork only, and a fork needs one.
    let request = WorkshopsRequest {
        names: vec!["ws".parse().unwrap()],
        action: WorkshopAction::Launch,
        options: WorkshopOptions { fork_name: Some("copy".parse().unwrap()), ..WorkshopOptions::default() },
    };
    let msg = ChangeWorkshops { user: h.user.clone(), project_id: h.project_id.clone(), request };
    let m = refused(h.daemon.workshops.send(msg).await.unwrap());
    assert_eq!(m, r#"cannot launch: "fork-name" is only for "fork""#);
    let m = refused(h.request(WorkshopAction::Fork, &["ws"], Mode::Transactional).await);
    assert_eq!(m, r#"cannot fork: no name for the copy ("fork-name")"#);
    // A copy whose name a workshop has already.
    let change = h.fork("ws", "copy").await.unwrap();
    assert_eq!(h.settled(&change).await, Status::Done);
    let m = refused(h.fork("ws", "copy").await);
    assert_eq!(m, r#"cannot fork "ws" as "copy": "copy" is already launched"#);

    // A fork failing at any task is undone: no copy, no storage; the source untouched.
    for (failing, op, needle) in [
        ("fork-workshop", "fork", ""),
        ("start-workshop", "start", "again-"),
        ("run-hook", "run", "check-health"),
    ] {
        h.fake.fail_matching(op, needle, 0, "injected");
        let change = h.fork("ws", "again").await.unwrap();
        assert_eq!(h.settled(&change).await, Status::Error, "{failing}");
        let tasks = h.tasks(&change).await;
        assert!(tasks.iter().any(|(k, s)| k == failing && *s == Status::Error), "{failing}: {tasks:?}");
        h.gone("again");
        assert!(h.marked("ws"));
        assert_eq!(h.workshop_status("ws").await, WorkshopStatus::Ready, "{failing}");
    }
}
