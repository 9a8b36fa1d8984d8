//! `run-hook` changes through the engine, the runner and the hook manager on the fake
//! backend: whose hooks run how, skipped and failing hooks, output for the task log and for
//! verbose clients, the check-health protocol, and cookies that live only while their hook
//! runs. The fake's programs stand in for the hooks (and call `workshopctl` as they would).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::FutureExt;
use workshop_api::workshopctl::WorkshopctlRequest;

use super::*;
use crate::backend::fake::FakeBackend;
use crate::backend::{Backend, BackendActor, CreateSpec, ExecSpec, RunOutput};
use crate::engine::{AbortChange, Query, StateEngine, Transact, WatchChange};
use crate::managers::UserRef;
use crate::managers::task::{TaskTarget, WaitSetup, keys};
use crate::runner::TaskRunner;
use crate::state::{ChangeId, State, Status};

const UID: u32 = 4242;

struct Harness {
    _tmp: tempfile::TempDir,
    trees: crate::sdk::TreeStore,
    engine: Addr<StateEngine>,
    hooks: Addr<HookManager>,
    fake: Rc<FakeBackend>,
    target: TaskTarget,
}

fn dev() -> GuestWorkshop {
    GuestWorkshop {
        lxd_project: "workshop.alice".into(),
        project_id: "0123abcd".into(),
        workshop: "dev".into(),
    }
}

/// How long outputs outlive their change here.
const LINGER: Duration = Duration::from_millis(200);

/// The engine, the runner and a hook manager (pausing `retry` between health checks) on a
/// fake backend with alice's running workshop `dev`.
async fn harness(retry: Duration) -> Harness {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("state")).unwrap();
    let engine = StateEngine::open(&tmp.path().join("state")).unwrap().start();
    let runner = TaskRunner::new(engine.clone()).start();
    let fake = Rc::new(FakeBackend::default());
    let backend = BackendActor::new(fake.clone()).start();
    let trees = crate::sdk::TreeStore::open(tmp.path().join("trees")).unwrap();
    let hooks = HookManager::new(backend).with_timing(retry, LINGER).with_trees(trees.clone()).start();
    task::register(&engine, &runner, KINDS, hooks.clone().recipient());
    engine.do_send(TaskRunner::attach(&runner));
    let user = UserRef { name: "alice".into(), uid: UID, gid: UID, data_home: None };
    let target = TaskTarget {
        name: "dev".into(),
        project_id: "0123abcd".into(),
        project_path: "/home/alice/p".into(),
        user,
    };
    Backend::create(fake.as_ref(), &target.backend(), &CreateSpec::default()).await.unwrap();
    Backend::start(fake.as_ref(), &target.backend()).await.unwrap();
    Harness { _tmp: tmp, trees, engine, hooks, fake, target }
}

/// Options of a planned change.
#[derive(Default, Clone, Copy)]
struct Options {
    refresh: bool,
    verbose: bool,
    wait_on_error: bool,
    /// In place of each hook's time limit (5 s for check-health at launch).
    timeout: Option<Duration>,
}

impl Harness {
    /// A change running `hooks` one after the other.
    async fn plan(&self, hooks: &[(&'static str, Hook)], opts: Options) -> (ChangeId, Vec<String>) {
        let (target, hooks) = (self.target.clone(), hooks.to_vec());
        self.engine
            .send(Transact(Box::new(move |st: &mut State| {
                let now = chrono::Utc::now();
                let kind = if opts.refresh { "refresh" } else { "launch" };
                let change =
                    task::new_change(st, kind, "Launch \"dev\" workshop", &target.user, "0123abcd", now);
                plan::set_verbose(st, &change, opts.verbose);
                if opts.wait_on_error {
                    let mode = WaitSetup { mode: "wait-on-error".into() };
                    st.change_mut(&change).unwrap().write(&keys::WAIT_SETUP, &mode);
                }
                let mut last = None;
                let mut tasks = Vec::new();
                for (sdk, hook) in hooks {
                    let id = plan::add_hook(st, &change, &target, sdk, hook, last.as_ref(), now);
                    if let Some(limit) = opts.timeout {
                        let t = st.task_mut(&id).unwrap();
                        let mut setup = t.read(&keys::HOOK_SETUP).unwrap();
                        if hook == Hook::CheckHealth {
                            assert_eq!(setup.timeout, Some(health::LAUNCH_TIMEOUT));
                        }
                        setup.timeout = Some(limit);
                        t.write(&keys::HOOK_SETUP, &setup);
                    }
                    tasks.push(id.clone());
                    last = Some(id);
                }
                (change, tasks)
            })))
            .await
            .unwrap()
            .unwrap()
    }

    /// Waits until `change` is ready or paused, and returns its status.
    async fn settled(&self, change: &ChangeId) -> Status {
        let ready = self.engine.send(WatchChange(change.clone())).await.unwrap().unwrap();
        let paused = async {
            while self.status(change).await != Status::Wait {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), async {
            tokio::select! {
                _ = ready => {},
                _ = paused => {},
            }
        })
        .await
        .expect("change settles in time");
        self.status(change).await
    }

    async fn status(&self, change: &ChangeId) -> Status {
        let id = change.clone();
        self.engine.send(Query(Box::new(move |st| st.change_status(&id)))).await.unwrap()
    }

    /// Status, log and health record of a task.
    async fn task(&self, id: &str) -> (Status, Vec<String>, Option<HealthRecord>) {
        let id = id.to_string();
        self.engine
            .send(Query(Box::new(move |st| {
                let t = st.task(&id).unwrap();
                (t.status(), t.log().to_vec(), t.read(&keys::HEALTH))
            })))
            .await
            .unwrap()
    }

    async fn change_err(&self, change: &ChangeId) -> Option<String> {
        let id = change.clone();
        self.engine.send(Query(Box::new(move |st| st.change_err(&id)))).await.unwrap()
    }

    /// `workshopctl ARGS` with `cookie` from `caller`.
    async fn workshopctl(
        &self,
        caller: Option<GuestWorkshop>,
        cookie: &str,
        args: &[&str],
    ) -> Result<(), WorkshopctlError> {
        workshopctl_via(&self.hooks, caller, cookie, args).await
    }

    /// The runs of hooks so far, by hook file name.
    fn hook_runs(&self) -> Vec<(String, ExecSpec)> {
        self.fake
            .runs()
            .into_iter()
            .map(|spec| {
                let path = spec.command.last().cloned().unwrap_or_default();
                (path.rsplit('/').next().unwrap_or_default().to_string(), spec)
            })
            .collect()
    }
}

async fn workshopctl_via(
    hooks: &Addr<HookManager>,
    caller: Option<GuestWorkshop>,
    cookie: &str,
    args: &[&str],
) -> Result<(), WorkshopctlError> {
    let request = WorkshopctlRequest {
        context_id: cookie.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: None,
    };
    hooks.send(Workshopctl { caller, uid: UID, request }).await.unwrap().map(|_| ())
}

fn printed(text: &str) -> RunOutput {
    RunOutput { stdout: text.as_bytes().to_vec(), ..RunOutput::default() }
}

/// A check-health hook that reports `args` (after `set-health`) with its own cookie.
fn reporting(
    hooks: &Addr<HookManager>,
    args: &'static [&'static str],
) -> impl Fn(ExecSpec) -> LocalBoxFuture<'static, RunOutput> + 'static {
    let hooks = hooks.clone();
    move |spec: ExecSpec| {
        let hooks = hooks.clone();
        async move {
            let cookie = spec.env["WORKSHOP_COOKIE"].clone();
            let mut full = vec!["set-health"];
            full.extend_from_slice(args);
            workshopctl_via(&hooks, Some(dev()), &cookie, &full).await.expect("set-health from check-health");
            RunOutput::default()
        }
        .boxed_local()
    }
}

use futures_util::future::LocalBoxFuture;

#[actix_rt::test]
async fn hooks_run_in_order_as_their_user_with_a_cookie_each() {
    let h = harness(Duration::from_millis(10)).await;
    h.fake.on_run("/hooks/setup-base", |_| async { printed("base\n") }.boxed_local());
    h.fake.on_run("/hooks/setup-project", |_| {
        async { printed("setup-project ran successfully!\n") }.boxed_local()
    });
    h.fake.on_run("/hooks/check-health", reporting(&h.hooks, &["okay"]));
    let plan = [
        ("one", Hook::SetupBase),
        ("two", Hook::SetupBase),
        ("one", Hook::SetupProject),
        ("two", Hook::SetupProject),
        ("one", Hook::CheckHealth),
    ];
    let (change, tasks) = h.plan(&plan, Options::default()).await;
    assert_eq!(h.settled(&change).await, Status::Done, "{:?}", h.change_err(&change).await);

    let runs = h.hook_runs();
    let order: Vec<(&str, &str)> = runs
        .iter()
        .map(|(hook, spec)| (hook.as_str(), spec.env["SDK"].rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(
        order,
        [
            ("setup-base", "one"),
            ("setup-base", "two"),
            ("setup-project", "one"),
            ("setup-project", "two"),
            ("check-health", "one")
        ]
    );
    for (hook, spec) in &runs {
        assert_eq!((spec.uid, spec.gid), (0, 0), "the wrapper starts as root and switches");
        let who = if hook == "setup-project" { "#1000" } else { "#0" };
        assert!(spec.command.windows(2).any(|w| w == ["-u", who]), "{hook}: {:?}", spec.command);
        assert!(!spec.command.iter().any(|w| w == "xtrace"), "not verbose");
    }
    let cookies: Vec<&String> = runs.iter().map(|(_, s)| &s.env["WORKSHOP_COOKIE"]).collect();
    assert!(cookies.iter().all(|c| c.len() == 32));
    for (i, c) in cookies.iter().enumerate() {
        assert!(!cookies[..i].contains(c), "each run has its own cookie");
    }
    // The hook's output is in its task log; the health record says okay.
    let (status, log, _) = h.task(&tasks[2]).await;
    assert_eq!(status, Status::Done);
    assert!(log.iter().any(|l| l.ends_with(" INFO setup-project ran successfully!")), "{log:?}");
    let (_, _, health) = h.task(&tasks[4]).await;
    assert_eq!(health.map(|r| (r.sdk, r.check_result)), Some(("one".to_string(), CheckResult::Okay)));
    // Every cookie ended with its hook.
    for cookie in cookies {
        let refused = h.workshopctl(Some(dev()), cookie, &["set-health", "okay"]).await;
        assert_eq!(refused, Err(WorkshopctlError::InvalidCookie));
    }
}

#[actix_rt::test]
async fn a_hook_missing_from_the_tree_the_change_retrieved_is_skipped_without_an_exec() {
    let h = harness(Duration::from_millis(10)).await;
    let id = crate::sdk::TreeId::of_digest(&[7u8; 48]);
    let hooks = h.trees.path(&id).join("sdk/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(hooks.join("setup-project"), "true\n").unwrap();
    let retrieved = crate::managers::sdk::spec::Retrieved { tree: id, revision: "x1".into() };
    let key = crate::managers::sdk::spec::retrieved_key("dev", "one");
    let target = h.target.clone();
    let change = h
        .engine
        .send(Transact(Box::new(move |st: &mut State| {
            let now = chrono::Utc::now();
            let change =
                task::new_change(st, "launch", "Launch \"dev\" workshop", &target.user, "0123abcd", now);
            st.change_mut(&change).unwrap().set(&key, &retrieved);
            let saved = plan::add_hook(st, &change, &target, "one", Hook::SaveState, None, now);
            let first = plan::add_hook(st, &change, &target, "one", Hook::SetupProject, Some(&saved), now);
            plan::add_hook(st, &change, &target, "one", Hook::CheckHealth, Some(&first), now);
            change
        })))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.settled(&change).await, Status::Done, "{:?}", h.change_err(&change).await);
    let runs: Vec<String> = h.hook_runs().into_iter().map(|(hook, _)| hook).collect();
    // save-state is the hook of the SDK installed before the change, not of the tree it
    // retrieved (which lacks it): it runs, and the workshop's wrapper looks for it.
    assert_eq!(runs, ["save-state", "setup-project"], "check-health is not in the tree: no exec");
}

#[actix_rt::test]
async fn a_missing_hook_is_skipped_and_verbose_changes_trace_hooks() {
    let h = harness(Duration::from_millis(10)).await;
    h.fake.on_run("/hooks/", |_| {
        async { RunOutput { stderr: invocation::SKIPPED.as_bytes().to_vec(), ..RunOutput::default() } }
            .boxed_local()
    });
    // SDK names become directory names in the workshop: nothing else runs.
    let (change, tasks) = h.plan(&[("../etc", Hook::SetupBase)], Options::default()).await;
    assert_eq!(h.settled(&change).await, Status::Error);
    let (_, log, _) = h.task(&tasks[0]).await;
    assert!(log[0].ends_with(r#"cannot run hook "setup-base": invalid SDK name "../etc""#), "{log:?}");
    assert!(h.hook_runs().is_empty());

    let verbose = Options { verbose: true, ..Options::default() };
    let (change, tasks) = h.plan(&[("one", Hook::SetupBase), ("one", Hook::CheckHealth)], verbose).await;
    assert_eq!(h.settled(&change).await, Status::Done, "{:?}", h.change_err(&change).await);
    // A skipped check-health is no health check: nothing recorded, nothing logged.
    for task in &tasks {
        assert_eq!(h.task(task).await, (Status::Done, Vec::new(), None));
    }
    assert_eq!(h.hook_runs().len(), 2, "one exec per hook, skipped or not");
    assert!(h.hook_runs().iter().all(|(_, s)| s.command.windows(2).any(|w| w == ["-o", "xtrace"])));
}

#[actix_rt::test]
async fn a_failing_hook_fails_its_change_with_the_tail_of_its_output_and_pauses_with_wait_on_error() {
    let h = harness(Duration::from_millis(10)).await;
    let text: String = (1..=25).map(|i| format!("line {i}\n")).collect();
    let output = text.clone();
    h.fake.on_run("/hooks/setup-base", move |_| {
        let output = output.clone();
        async move { RunOutput { exit_code: 1, stdout: output.into_bytes(), ..RunOutput::default() } }
            .boxed_local()
    });
    let (change, tasks) =
        h.plan(&[("one", Hook::SetupBase), ("one", Hook::SetupProject)], Options::default()).await;
    assert_eq!(h.settled(&change).await, Status::Error);
    let (status, log, _) = h.task(&tasks[0]).await;
    assert_eq!(status, Status::Error);
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[0].contains(" INFO line 16\nline 17\n") && log[0].ends_with("line 25"), "{log:?}");
    assert!(log[1].ends_with(" ERROR command exit code 1"), "{log:?}");
    let err = h.change_err(&change).await.unwrap();
    assert!(err.contains(r#"- Run hook "setup-base" for "one" SDK (command exit code 1)"#), "{err}");
    assert_eq!(h.hook_runs().len(), 1, "setup-project never ran");
    // The change is ready: the full output outlives it a little, for verbose clients.
    let outputs = h.hooks.send(HookOutputs { uid: UID, tasks: tasks.clone() }).await.unwrap();
    assert_eq!(outputs[&tasks[0]].full, text);
    tokio::time::sleep(LINGER * 2).await;
    let outputs = h.hooks.send(HookOutputs { uid: UID, tasks: tasks.clone() }).await.unwrap();
    assert!(outputs.is_empty(), "{outputs:?}");

    // With wait-on-error the change pauses; a verbose client gets the whole output meanwhile.
    let paused = Options { wait_on_error: true, ..Options::default() };
    let (change, tasks) = h.plan(&[("one", Hook::SetupBase)], paused).await;
    assert_eq!(h.settled(&change).await, Status::Wait);
    let outputs = h.hooks.send(HookOutputs { uid: UID, tasks: tasks.clone() }).await.unwrap();
    let output = &outputs[&tasks[0]];
    assert_eq!(output.full, text);
    let (_, log, _) = h.task(&tasks[0]).await;
    assert!(log[0].ends_with(&format!(" INFO {}", output.logged)), "{log:?}");
    let other = h.hooks.send(HookOutputs { uid: UID + 1, tasks: tasks.clone() }).await.unwrap();
    assert!(other.is_empty(), "another user's hook output is not theirs to see");
    h.engine.send(AbortChange(change.clone())).await.unwrap().unwrap();
    h.settled(&change).await;
    tokio::time::sleep(LINGER * 2).await;
    let outputs = h.hooks.send(HookOutputs { uid: UID, tasks }).await.unwrap();
    assert!(outputs.is_empty());
}

#[actix_rt::test]
async fn check_health_retries_while_waiting_then_passes() {
    let h = harness(Duration::from_millis(10)).await;
    let runs = Rc::new(Cell::new(0));
    let (hooks, counter) = (h.hooks.clone(), runs.clone());
    h.fake.on_run("/hooks/check-health", move |spec: ExecSpec| {
        let (hooks, counter) = (hooks.clone(), counter.clone());
        async move {
            counter.set(counter.get() + 1);
            let cookie = &spec.env["WORKSHOP_COOKIE"];
            let args: &[&str] = if counter.get() <= 3 {
                &["set-health", "waiting", "--code", "try-later", "Cannot finish health check"]
            } else {
                &["set-health", "okay"]
            };
            workshopctl_via(&hooks, Some(dev()), cookie, args).await.unwrap();
            RunOutput::default()
        }
        .boxed_local()
    });
    let (change, tasks) = h.plan(&[("db", Hook::CheckHealth)], Options::default()).await;
    assert_eq!(h.settled(&change).await, Status::Done, "{:?}", h.change_err(&change).await);
    assert_eq!(runs.get(), 4);
    let (_, log, health) = h.task(&tasks[0]).await;
    assert_eq!(log.iter().filter(|l| l.ends_with(" INFO Cannot finish health check")).count(), 3, "{log:?}");
    assert_eq!(health.unwrap().check_result, CheckResult::Okay);
}

#[actix_rt::test]
async fn check_health_verdicts_in_the_reference_words() {
    let h = harness(Duration::from_millis(1)).await;
    h.fake.on_run("/sdk/waiting/", reporting(&h.hooks, &["waiting", "still starting up"]));
    h.fake.on_run(
        "/sdk/broken/",
        reporting(&h.hooks, &["error", "--code=unknown-problem", "Health check failed"]),
    );
    h.fake.on_run("/sdk/silent/", |_| async { printed("forgot to report\n") }.boxed_local());
    h.fake.on_run("/sdk/slow/", |_| {
        tokio::time::sleep(Duration::from_secs(60)).map(|_| RunOutput::default()).boxed_local()
    });
    let cases = [
        ("waiting", r#"SDK "waiting" is not healthy after multiple checks"#),
        ("broken", "Health check failed"),
        ("silent", r#"SDK "silent" health status is unknown"#),
    ];
    for (sdk, want) in cases {
        let (change, tasks) = h.plan(&[(sdk, Hook::CheckHealth)], Options::default()).await;
        assert_eq!(h.settled(&change).await, Status::Error, "{sdk}");
        let (_, log, health) = h.task(&tasks[0]).await;
        assert!(log.last().unwrap().ends_with(&format!(" ERROR {want}")), "{sdk}: {log:?}");
        let health = health.unwrap();
        assert_eq!(health.sdk, sdk);
        if sdk == "broken" {
            assert_eq!((health.check_result, health.code.as_str()), (CheckResult::Error, "unknown-problem"));
        }
    }
    let waited = h.hook_runs().iter().filter(|(_, s)| s.env["SDK"].ends_with("/waiting")).count();
    assert_eq!(waited, 11, "the first run and ten retries");

    // At launch a run has 5 s (shortened here); past it the check has timed out.
    let short = Options { timeout: Some(Duration::from_millis(50)), ..Options::default() };
    let (change, _) = h.plan(&[("slow", Hook::CheckHealth)], short).await;
    assert_eq!(h.settled(&change).await, Status::Error);
    let err = h.change_err(&change).await.unwrap();
    assert!(err.contains(r#"(SDK "slow" health status check timed out)"#), "{err}");
    // Any other hook past its time limit is killed too.
    let (change, _) = h.plan(&[("slow", Hook::SetupBase)], short).await;
    assert_eq!(h.settled(&change).await, Status::Error);
    let err = h.change_err(&change).await.unwrap();
    let want =
        r#"(cannot run hook "setup-base" for "slow" SDK: it did not finish within 50ms, so it was killed)"#;
    assert!(err.contains(want), "{err}");
}

#[actix_rt::test]
async fn hooks_of_a_refresh_have_no_health_timeout_but_the_daemons_bound() {
    let h = harness(Duration::from_millis(1)).await;
    h.fake.on_run("/hooks/check-health", reporting(&h.hooks, &["okay"]));
    let refresh = Options { refresh: true, ..Options::default() };
    let (change, _) = h.plan(&[("db", Hook::SetupBase), ("db", Hook::CheckHealth)], refresh).await;
    assert_eq!(h.settled(&change).await, Status::Done);
    for (hook, spec) in h.hook_runs() {
        assert_eq!(spec.limits.timeout, HOOK_TIME_LIMIT, "{hook}");
        assert_eq!(spec.limits.output, invocation::OUTPUT_LIMIT, "{hook}");
    }
}

#[actix_rt::test]
async fn a_cookie_speaks_for_its_own_workshop_and_hook_only_while_it_runs() {
    let h = harness(Duration::from_millis(1)).await;
    let (hooks, seen) = (h.hooks.clone(), Rc::new(Cell::new(false)));
    let checked = seen.clone();
    h.fake.on_run("/hooks/check-health", move |spec: ExecSpec| {
        let (hooks, checked) = (hooks.clone(), checked.clone());
        async move {
            let cookie = spec.env["WORKSHOP_COOKIE"].clone();
            let okay = ["set-health", "okay"];
            let prod = GuestWorkshop { workshop: "prod".into(), ..dev() };
            let bob = GuestWorkshop { lxd_project: "workshop.bob".into(), ..dev() };
            for other in [Some(prod), Some(bob), None] {
                let refused = workshopctl_via(&hooks, other, &cookie, &okay).await;
                assert_eq!(refused, Err(WorkshopctlError::InvalidCookie));
            }
            workshopctl_via(&hooks, Some(dev()), &cookie, &okay).await.unwrap();
            checked.set(true);
            RunOutput::default()
        }
        .boxed_local()
    });
    // setup-project's cookie is alive while it runs, but set-health is not for it.
    let hooks = h.hooks.clone();
    h.fake.on_run("/hooks/setup-project", move |spec: ExecSpec| {
        let hooks = hooks.clone();
        async move {
            let refused =
                workshopctl_via(&hooks, Some(dev()), &spec.env["WORKSHOP_COOKIE"], &["set-health", "okay"])
                    .await;
            assert_eq!(refused, Err(WorkshopctlError::NotCheckHealth));
            RunOutput::default()
        }
        .boxed_local()
    });
    let (change, _) =
        h.plan(&[("db", Hook::SetupProject), ("db", Hook::CheckHealth)], Options::default()).await;
    assert_eq!(h.settled(&change).await, Status::Done, "{:?}", h.change_err(&change).await);
    assert!(seen.get());

    // A hook cancelled by an abort loses its cookie with it.
    h.fake.on_run("/hooks/setup-base", |_| std::future::pending().boxed_local());
    let (change, _) = h.plan(&[("db", Hook::SetupBase)], Options::default()).await;
    let cookie = loop {
        if let Some((_, spec)) = h.hook_runs().into_iter().find(|(hook, _)| hook == "setup-base") {
            break spec.env["WORKSHOP_COOKIE"].clone();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let alive = h.workshopctl(Some(dev()), &cookie, &["set-health", "okay"]).await;
    assert_eq!(alive, Err(WorkshopctlError::NotCheckHealth), "the context lives while the hook runs");
    h.engine.send(AbortChange(change.clone())).await.unwrap().unwrap();
    h.settled(&change).await;
    let ended = h.workshopctl(Some(dev()), &cookie, &["set-health", "okay"]).await;
    assert_eq!(ended, Err(WorkshopctlError::InvalidCookie));
}

#[test]
fn a_hook_is_absent_only_from_a_host_tree_that_lacks_it() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("sdk/hooks")).unwrap();
    std::fs::write(tmp.path().join("sdk/hooks/setup-base"), "true\n").unwrap();
    std::os::unix::fs::symlink("/nowhere", tmp.path().join("sdk/hooks/save-state")).unwrap();
    assert!(!super::absent_from(tmp.path(), Hook::SetupBase));
    assert!(super::absent_from(tmp.path(), Hook::CheckHealth));
    // A symlink is something: the wrapper in the workshop decides (and skips it).
    assert!(!super::absent_from(tmp.path(), Hook::SaveState));
    // Not a host directory (a relative name): nothing can be told, the hook runs.
    assert!(!super::absent_from(std::path::Path::new("volume"), Hook::CheckHealth));
}
