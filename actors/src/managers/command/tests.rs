//! The command manager on the fake backend: requests, handlers, cache and websockets ends.

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use workshop_api::exec::{ExecRequest, WS_CONTROL, WS_STDERR, WS_STDIO, WS_STDOUT};

use super::*;
use crate::backend::fake::FakeBackend;
use crate::backend::{Backend, BackendActor, CreateSpec, SessionControl, Target};
use crate::engine::{AbortChange, AddKinds, Query, Transact, WatchChange};
use crate::managers::UserRef;
use crate::managers::task;
use crate::managers::workshop::{self, TrackProject, WorkshopConfig, WorkshopError};
use crate::runner::TaskRunner;
use crate::state::Status;

const DEFINITION: &str =
    "name: ws-exec\nbase: ubuntu@22.04\nactions:\n  oneline: echo one line\n  greet: echo \"args:$*\"\n";

struct Harness {
    _tmp: tempfile::TempDir,
    engine: Addr<StateEngine>,
    fake: Rc<FakeBackend>,
    commands: Addr<CommandManager>,
    user: UserRef,
    project_id: String,
    target: Target,
}

async fn harness(connect_timeout: Duration) -> Harness {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let (state_dir, project) = (root.join("state"), root.join("project"));
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::create_dir_all(project.join(".workshop")).unwrap();
    std::fs::write(project.join(".workshop/ws-exec.yaml"), DEFINITION).unwrap();

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
    let workshops = WorkshopManager::new(engine.clone(), backend.clone(), config).start();
    let commands = CommandManager::new(engine.clone(), backend, workshops.clone())
        .with_connect_timeout(connect_timeout)
        .start();
    // The workshop manager's kinds are known but not run here.
    engine.do_send(AddKinds(task::kind_specs(workshop::KINDS)));
    task::register(&engine, &runner, KINDS, commands.clone().recipient());
    engine.do_send(TaskRunner::attach(&runner));

    // SAFETY: plain getters without preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let user = UserRef { name: "tester".into(), uid, gid, data_home: None };
    let (p, _) = workshops.send(TrackProject { user: user.clone(), path: project }).await.unwrap().unwrap();
    let target = Target::new(&user.name, &p.id, "ws-exec");
    Backend::create(fake.as_ref(), &target, &CreateSpec::default()).await.unwrap();
    fake.start(&target).await.unwrap();
    Harness { _tmp: tmp, engine, fake, commands, user, project_id: p.id, target }
}

fn request(command: &[&str]) -> ExecRequest {
    ExecRequest { command: command.iter().map(|s| s.to_string()).collect(), ..ExecRequest::default() }
}

/// What a client saw of one exec.
struct Seen {
    change: String,
    task: String,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Harness {
    async fn exec(&self, request: ExecRequest) -> Result<ExecStarted, CommandError> {
        let msg = Exec {
            user: self.user.clone(),
            project_id: self.project_id.clone(),
            name: "ws-exec".into(),
            request,
        };
        self.commands.send(msg).await.unwrap()
    }

    async fn attach(&self, task: &str, ws: &str) -> ClientEnds {
        let msg = Attach { task: task.into(), websocket: ws.into(), uid: self.user.uid };
        self.commands.send(msg).await.unwrap().unwrap()
    }

    /// Runs a non-interactive exec like the CLI does: all four websockets, `stdin`, then EOF.
    /// A change that failed early may be gone from the cache before the websockets attach,
    /// and a command may exit before reading its input, as with a real client.
    async fn run(&self, request: ExecRequest, stdin: &[u8]) -> Seen {
        let started = self.exec(request).await.unwrap();
        let task = started.task.clone();
        let attach = |ws: &'static str| {
            let msg = Attach { task: task.clone(), websocket: ws.into(), uid: self.user.uid };
            let commands = self.commands.clone();
            async move { commands.send(msg).await.unwrap().ok() }
        };
        let _control = attach(WS_CONTROL).await;
        let stdio = attach(WS_STDIO).await;
        let stdout = attach(WS_STDOUT).await;
        let stderr = attach(WS_STDERR).await;
        if let Some(stdio) = &stdio {
            if !stdin.is_empty() {
                let _ = stdio.inbound.send(Inbound::Data(Bytes::copy_from_slice(stdin))).await;
            }
            let _ = stdio.inbound.send(Inbound::Eof).await;
        }
        let (stdout, stderr) = futures_util::join!(read_all(stdout), read_all(stderr));
        self.wait(&started.change).await;
        Seen { change: started.change, task, stdout, stderr }
    }

    async fn wait(&self, change: &str) {
        let ready = self.engine.send(WatchChange(change.to_string())).await.unwrap().unwrap();
        tokio::time::timeout(Duration::from_secs(10), ready).await.expect("change ready in time").unwrap();
    }

    async fn change_err(&self, change: &str) -> Option<String> {
        let id = change.to_string();
        self.engine.send(Query(Box::new(move |st| st.change_err(&id)))).await.unwrap()
    }

    async fn task(&self, task: &str) -> (Status, Option<serde_json::Value>) {
        let id = task.to_string();
        self.engine
            .send(Query(Box::new(move |st| {
                let t = st.task(&id).unwrap();
                (t.status(), t.read(&task::keys::API_DATA))
            })))
            .await
            .unwrap()
    }
}

async fn read_all(ends: Option<ClientEnds>) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(mut rx) = ends.and_then(|e| e.outbound) else { return out };
    while let Some(bytes) = rx.recv().await {
        out.extend_from_slice(&bytes);
    }
    out
}

#[actix_rt::test]
async fn commands_run_with_the_login_wrapper_and_pass_io_and_exit_codes() {
    let h = harness(Duration::from_secs(5)).await;
    let seen = h.run(request(&["/bin/cat"]), b"hello").await;
    assert_eq!(seen.stdout, b"hello");
    assert_eq!(h.task(&seen.task).await, (Status::Done, Some(serde_json::json!({"exit-code": 0}))));
    let summary = {
        let id = seen.change.clone();
        h.engine.send(Query(Box::new(move |st| st.change(&id).unwrap().summary.clone()))).await.unwrap()
    };
    assert_eq!(summary, r#"Execute command "/bin/cat""#);

    let spec = h.fake.execs().pop().unwrap();
    assert_eq!((spec.uid, spec.gid, spec.cwd.as_deref()), (0, 0, Some("/project")));
    assert_eq!(&spec.command[..5], [workshop_api::exec::GUEST_EXEC, "-u", "#1000", "-g", "#1000"]);
    assert_eq!(spec.command.last().map(String::as_str), Some("/bin/cat"));
    assert_eq!(spec.env["HOME"], "/home/workshop");
    assert_eq!(spec.env["XDG_RUNTIME_DIR"], "/run/user/1000");

    let seen = h.run(request(&["bash", "-c", "exit", "125"]), b"").await;
    assert_eq!(h.task(&seen.task).await, (Status::Done, Some(serde_json::json!({"exit-code": 125}))));
    assert_eq!(h.change_err(&seen.change).await, None, "a failing command is not a failed task");

    let seen = h.run(request(&["sh", "stderr", "oops"]), b"").await;
    assert_eq!((seen.stdout.as_slice(), seen.stderr.as_slice()), (&b""[..], &b"oops"[..]));
}

#[actix_rt::test]
async fn exec_needs_a_running_workshop_that_exists() {
    let h = harness(Duration::from_secs(5)).await;
    let mut req = request(&["true"]);
    req.user_id = Some(0);
    assert!(
        matches!(h.exec(req).await, Err(CommandError::BadRequest(m)) if m.contains("user-id and group-id"))
    );

    let mut other = request(&["true"]);
    other.command.clear();
    assert!(matches!(h.exec(other).await, Err(CommandError::BadRequest(_))));
    let msg = Exec {
        user: h.user.clone(),
        project_id: h.project_id.clone(),
        name: "nope".into(),
        request: request(&["true"]),
    };
    let err = h.commands.send(msg).await.unwrap().unwrap_err();
    assert!(
        matches!(err, CommandError::Workshop(WorkshopError::NotFound(ref m)) if m.contains("\"nope\"")),
        "{err}"
    );

    h.fake.stop(&h.target, crate::backend::StopMode::Clean).await.unwrap();
    let err = h.exec(request(&["pwd"])).await.unwrap_err();
    assert_eq!(err.to_string(), r#"cannot exec command in "ws-exec": not running"#);
    let mut run = request(&["oneline"]);
    run.action = true;
    assert_eq!(h.exec(run).await.unwrap_err().to_string(), r#"cannot run action in "ws-exec": not running"#);
}

#[actix_rt::test]
async fn timeouts_kill_the_command_and_fail_the_task() {
    let h = harness(Duration::from_secs(5)).await;
    let mut req = request(&["sleep", "60"]);
    req.timeout = "200ms".into();
    let started = tokio::time::Instant::now();
    let seen = h.run(req, b"").await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        h.change_err(&seen.change).await.unwrap(),
        "cannot perform the following tasks:\n- Exec command \"sleep\" (timed out after 200ms: context deadline exceeded)"
    );
}

#[actix_rt::test]
async fn missing_websockets_and_working_directories_fail_the_task() {
    let h = harness(Duration::from_millis(200)).await;
    let started = h.exec(request(&["true"])).await.unwrap();
    h.wait(&started.change).await;
    let err = h.change_err(&started.change).await.unwrap();
    assert!(
        err.ends_with(&format!(
            "(exec {}: timeout waiting for websocket connections: context deadline exceeded)",
            started.task
        )),
        "{err}"
    );

    // A working directory the workshop lacks is refused before any change (the reference's
    // words); the default one is not looked at.
    h.fake.set_run_exit("sh /nowhere", 2);
    h.fake.set_run_exit("sh /etc/hostname", 3);
    for (cwd, why) in [
        ("/nowhere", "working directory \"/nowhere\" not found"),
        ("/etc/hostname", "\"/etc/hostname\" is not a directory"),
    ] {
        let mut req = request(&["pwd"]);
        req.working_dir = cwd.into();
        let err = h.exec(req).await.unwrap_err();
        let want = format!("cannot exec command in {:?}: {why}", h.target.name);
        assert!(matches!(&err, CommandError::BadRequest(m) if *m == want), "{err}");
    }
    let runs = h.fake.runs().len();
    let seen = h.run(request(&["pwd"]), b"").await;
    h.wait(&seen.change).await;
    assert_eq!(h.fake.runs().len(), runs, "the default directory is not looked at");
}

#[actix_rt::test]
async fn exec_tasks_without_cached_args_were_interrupted() {
    let h = harness(Duration::from_secs(5)).await;
    // What a restart leaves: the task in the state, nothing in the cache.
    let (user, project_id) = (h.user.clone(), h.project_id.clone());
    let args = args::ExecArgs::from_request(&request(&["true"])).unwrap();
    let planned = h
        .engine
        .send(Transact(Box::new(move |st| {
            let target = task::TaskTarget {
                name: "ws-exec".into(),
                project_id,
                project_path: "/p".into(),
                user: user.clone(),
            };
            plan::exec(st, &user, &target, &args, chrono::Utc::now())
        })))
        .await
        .unwrap()
        .unwrap();
    h.wait(&planned.change).await;
    assert!(h.change_err(&planned.change).await.unwrap().ends_with(&format!(
        "(cannot get exec args for task {:?}: task was probably interrupted)",
        planned.exec_task
    )));
}

#[actix_rt::test]
async fn actions_are_installed_from_the_definition_then_run() {
    let h = harness(Duration::from_secs(5)).await;
    let mut req = request(&["greet", "a", "b"]);
    req.action = true;
    let seen = h.run(req, b"").await;
    assert_eq!(h.change_err(&seen.change).await, None);
    let file = h.fake.file(&h.target, "/var/lib/workshop/run/actions/greet").unwrap();
    assert_eq!(String::from_utf8(file.content).unwrap(), "\n\n\n\necho \"args:$*\"\n", "line 5 of the file");
    assert_eq!((file.uid, file.gid, file.mode), (0, 0, 0o755));
    // The installed script runs with the user's arguments (the command's form is
    // `args::tests`' business).
    let spec = h.fake.execs().pop().unwrap();
    let mut asked = request(&["greet", "a", "b"]);
    asked.action = true;
    assert_eq!(spec.command, super::args::ExecArgs::from_request(&asked).unwrap().action_command());
    assert!(spec.command.ends_with(&["/var/lib/workshop/run/actions/greet".into(), "a".into(), "b".into()]));

    let mut req = request(&["nope"]);
    req.action = true;
    let seen = h.run(req, b"").await;
    assert_eq!(
        h.change_err(&seen.change).await.unwrap(),
        "cannot perform the following tasks:\n- Install action \"nope\" (action not found)"
    );

    h.fake.fail_next("push-file", "cannot write: is a directory");
    let mut req = request(&["oneline"]);
    req.action = true;
    let seen = h.run(req, b"").await;
    let err = h.change_err(&seen.change).await.unwrap();
    assert!(err.contains("- Install action \"oneline\" (cannot write: is a directory)"), "{err}");
}

#[actix_rt::test]
async fn aborting_the_change_stops_the_command_and_ends_the_streams() {
    let h = harness(Duration::from_secs(5)).await;
    let started = h.exec(request(&["sleep", "60"])).await.unwrap();
    let task = started.task.clone();
    let control = h.attach(&task, WS_CONTROL).await;
    let _stdio = h.attach(&task, WS_STDIO).await;
    let stdout = h.attach(&task, WS_STDOUT).await;
    let _stderr = h.attach(&task, WS_STDERR).await;
    while h.fake.execs().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.engine.send(AbortChange(started.change.clone())).await.unwrap().unwrap();
    h.wait(&started.change).await;
    assert_ne!(h.task(&task).await.0, Status::Done);
    assert!(read_all(Some(stdout)).await.is_empty());
    tokio::time::timeout(Duration::from_secs(5), control.inbound.closed()).await.expect("control ends");
    assert!(control.inbound.try_send(Inbound::Control(SessionControl::Signal(2))).is_err());
}

#[actix_rt::test]
async fn only_the_owner_attaches() {
    let h = harness(Duration::from_secs(5)).await;
    let started = h.exec(request(&["true"])).await.unwrap();
    let msg = Attach { task: started.task.clone(), websocket: WS_STDIO.into(), uid: h.user.uid + 1 };
    assert!(matches!(h.commands.send(msg).await.unwrap(), Err(AttachError::NotOwner(_))));
    let msg = Attach { task: "999".into(), websocket: WS_STDIO.into(), uid: h.user.uid };
    assert!(matches!(h.commands.send(msg).await.unwrap(), Err(AttachError::NoTask(_))));
}

#[actix_rt::test]
async fn clients_late_for_a_failed_change_get_ended_streams() {
    let h = harness(Duration::from_secs(5)).await;
    let mut req = request(&["nope"]);
    req.action = true;
    let started = h.exec(req).await.unwrap();
    h.wait(&started.change).await;
    // The change is ready: its cleanup ends the streams, attached or not.
    let control = h.attach(&started.task, WS_CONTROL).await;
    tokio::time::timeout(Duration::from_secs(5), control.inbound.closed()).await.expect("stream ended");
    let stdout = h.attach(&started.task, WS_STDOUT).await;
    assert!(stdout.inbound.is_closed());
    assert!(read_all(Some(stdout)).await.is_empty());
}
