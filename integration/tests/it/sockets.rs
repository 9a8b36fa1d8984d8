//! Who may call what, per listener: every route of `workshop_api::routes` on each of the three
//! sockets, as root and as another user; the socket shared with workshops identifies the
//! calling workshop by the container its process runs in.

use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use workshop_api::routes::{Access, Endpoint};
use workshop_integration::{
    Daemon, Project, bin_dir, connect_as, http_on, is_root, lxd_enabled, lxd_shared, suffix, test_user,
};

/// A daemon that cannot reach LXD: degraded, but serving.
fn degraded() -> Daemon {
    Daemon::start_with(&[("LXD_SOCKET", "/nonexistent/lxd.socket")])
}

/// The unprivileged user the matrix connects as when it runs as root.
const NOBODY: (u32, u32) = (65534, 65534);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Socket {
    Trusted,
    HostUntrusted,
    Guest,
}

/// `path` with a sample value in each `{param}`.
fn concrete(path: &str) -> String {
    path.replace("{id}", "0123abcd").replace("{name}", "ws").replace("{task}", "1").replace("{ws}", "control")
}

/// A body the endpoint can decode where that matters to the check, else `{}`.
fn sample_body(e: Endpoint) -> Option<&'static str> {
    match e {
        Endpoint::Workshopctl => Some(r#"{"context-id":"","args":["set-health","okay"]}"#),
        _ => (e.method() == "POST").then_some("{}"),
    }
}

fn message(env: &Value) -> &str {
    env["result"]["message"].as_str().unwrap_or_default()
}

/// What `socket` must answer to `e` from a host process.
fn check(e: Endpoint, socket: Socket, status: u16, env: &Value, what: &str) {
    match (e.access(), socket) {
        (Access::Trusted, Socket::Trusted) => {
            // Served: the route decides (degraded mode refuses changes with its reason).
            assert!(!matches!(status, 401 | 403 | 405), "{what}: {status} {env}");
            assert_ne!(message(env), "invalid API endpoint requested", "{what}");
            assert!(status < 500 || env["result"]["kind"] == "degraded", "{what}: {status} {env}");
        }
        (Access::Trusted, Socket::HostUntrusted | Socket::Guest) => {
            assert_eq!(status, 403, "{what}: {env}");
            assert_eq!(env["result"]["kind"], "permission-denied", "{what}");
        }
        (Access::AnySocket, Socket::Trusted | Socket::HostUntrusted) => {
            // Reachable; outside a hook it is refused with the reference's text.
            assert_eq!(status, 400, "{what}: {env}");
            assert!(
                message(env).contains(r#"(here "set-health") from outside of a workshop"#),
                "{what}: {env}"
            );
        }
        (Access::AnySocket, Socket::Guest) => {
            // A host process on the socket of the workshops speaks for no workshop.
            assert_eq!(status, 403, "{what}: {env}");
            assert_eq!(
                message(env),
                "cannot identify the calling workshop: the process is not in a container",
                "{what}"
            );
        }
    }
}

#[test]
fn every_route_on_every_socket() {
    // The SDK routes ask the SDK Store: a fixture one, so that they answer.
    let store = workshop_actors::store::fixture::FixtureStore::start();
    let d = Daemon::start_with(&[
        ("LXD_SOCKET", "/nonexistent/lxd.socket"),
        ("WORKSHOP_STORE_URL", &store.url()),
    ]);
    let sockets = [
        (Socket::Trusted, d.socket()),
        (Socket::HostUntrusted, d.untrusted_socket()),
        (Socket::Guest, d.guest_socket()),
    ];
    let mut users = vec![None];
    if is_root() {
        users.push(Some(NOBODY));
    } else {
        eprintln!("every_route_on_every_socket: not root, so only as the current user");
    }
    for user in users {
        for &e in Endpoint::ALL {
            let path = concrete(e.path());
            for (socket, socket_path) in &sockets {
                let stream = match user {
                    None => UnixStream::connect(socket_path),
                    Some((uid, gid)) => connect_as(socket_path, uid, gid),
                }
                .unwrap_or_else(|err| {
                    panic!("cannot connect to {} as {user:?}: {err}", socket_path.display())
                });
                let (status, env) = http_on(stream, e.method(), &path, sample_body(e));
                let what = format!("{} {path} on the {socket:?} socket as {user:?}", e.method());
                check(e, *socket, status, &env, &what);
            }
        }
    }
    if is_root() {
        // The daemon saw the other user's own credentials.
        let seen = d
            .log()
            .lines()
            .any(|l| l.contains("guest connection from no workshop") && l.contains(" uid=65534 "));
        assert!(seen, "no guest connection of uid 65534 in the log:\n{}", d.log());
    }
}

#[test]
fn only_the_guest_socket_is_shared_with_workshops() {
    let d = degraded();
    let mut shared: Vec<_> = std::fs::read_dir(d.guest_socket().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    shared.sort();
    assert_eq!(shared, ["workshop-exec", "workshop-tty", "workshop.socket.untrusted", "workshopctl"]);
}

/// A `workshopd` started the way systemd's socket activation does: the trusted socket is fd 3,
/// `LISTEN_PID` the daemon's own pid.
#[test]
fn the_activated_socket_is_the_trusted_one() {
    let dir = tempfile::Builder::new().prefix("wst-daemon-").tempdir().unwrap();
    let activated = dir.path().join("activated.socket");
    let listener = UnixListener::bind(&activated).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let mut command = Command::new("sh");
    command
        .args(["-c", r#"export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" run --create-dirs"#])
        .arg(bin_dir().join("workshopd"))
        .env("WORKSHOP", dir.path())
        .env("LXD_SOCKET", "/nonexistent/lxd.socket")
        .env_remove("WORKSHOP_SOCKET")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: dup2 and fcntl are async-signal-safe; the child gets the listener as fd 3.
    unsafe {
        command.pre_exec(move || {
            let rc = if fd == 3 { libc::fcntl(3, libc::F_SETFD, 0) } else { libc::dup2(fd, 3) };
            if rc < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
        });
    }
    let mut child = command.spawn().unwrap();
    let untrusted = dir.path().join("workshop.socket.untrusted");
    let deadline = Instant::now() + Duration::from_secs(20);
    let answered = loop {
        // The untrusted sockets are bound before the servers start: wait for an answer.
        if untrusted.exists() {
            let (status, _) = Daemon::http(&activated, "GET", "/v1/system-info", None);
            break status;
        }
        assert!(Instant::now() < deadline, "workshopd did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(answered, 200, "the activated socket serves the trusted API");
    assert!(!dir.path().join("workshop.socket").exists(), "no socket of its own beside the activated one");
    let (status, _) = Daemon::http(&untrusted, "GET", "/v1/system-info", None);
    assert_eq!(status, 403);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

/// A cgroup at the top of the cgroup2 hierarchy, named like LXC names a container's (or
/// nested under one named otherwise), standing in for a workshop's so that a process of this
/// test can call from it; removed on drop. Needs root and a writable cgroup2 mount.
struct FakeContainer {
    /// The cgroups made, innermost first.
    made: Vec<PathBuf>,
}

impl FakeContainer {
    /// `path` below the cgroup2 mount, or why not.
    fn new(path: &str) -> Result<Self, String> {
        if !is_root() {
            return Err("not root".into());
        }
        let mounts = std::fs::read_to_string("/proc/self/mounts").map_err(|e| e.to_string())?;
        let root = mounts
            .lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .find(|f| f.len() > 2 && f[2] == "cgroup2")
            .map(|f| PathBuf::from(f[1]))
            .ok_or("no cgroup2 mount")?;
        let mut made = Vec::new();
        let mut dir = root;
        for part in path.split('/') {
            dir.push(part);
            std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            made.insert(0, dir.clone());
        }
        Ok(Self { made })
    }

    /// Runs `workshopctl set-health okay` on the guest socket of `d` from inside this cgroup.
    fn workshopctl(&self, d: &Daemon) -> String {
        let procs = std::fs::OpenOptions::new().write(true).open(self.made[0].join("cgroup.procs")).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&procs);
        let mut command = Command::new(bin_dir().join("workshopctl"));
        command.args(["set-health", "okay"]).env("WORKSHOPCTL_SOCKET", d.guest_socket());
        // SAFETY: write is async-signal-safe; "0" moves the writing process itself.
        unsafe {
            command.pre_exec(move || {
                if libc::write(fd, b"0".as_ptr().cast(), 1) == 1 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let out = command.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Drop for FakeContainer {
    fn drop(&mut self) {
        for dir in &self.made {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The guest socket tells its callers apart by the container their process runs in, as the
/// daemon reads it from the kernel (pidfd, `/proc/<pid>/cgroup`), without LXD: processes of
/// this test in cgroups named the way LXC names containers stand in for workshops.
#[test]
fn guest_callers_are_told_apart_by_their_container() {
    let key = format!("wst-origin-{}", suffix());
    let [one, two, nested, default] = [
        format!("lxc.payload.workshop.{key}_one-0123abcd"),
        format!("lxc.payload.workshop.{key}_two-89abcdef"),
        format!("{key}/lxc.payload.workshop.{key}_one-0123abcd"),
        format!("lxc.payload.{key}"),
    ]
    .map(|path| FakeContainer::new(&path));
    let (one, two, nested, default) = match (one, two, nested, default) {
        (Ok(one), Ok(two), Ok(nested), Ok(default)) => (one, two, nested, default),
        (one, ..) => {
            eprintln!("skipped guest_callers_are_told_apart_by_their_container: {:?}", one.err());
            return;
        }
    };
    let d = degraded();
    let outside_hook = r#"(here "set-health") from outside of a workshop"#;
    assert!(one.workshopctl(&d).contains(outside_hook));
    assert!(two.workshopctl(&d).contains(outside_hook));
    assert!(one.workshopctl(&d).contains(outside_hook));
    assert_eq!(
        attributed(&d.log()),
        [("0123abcd", "one"), ("89abcdef", "two"), ("0123abcd", "one")]
            .map(|(p, w)| (p.to_string(), w.to_string())),
        "{}",
        d.log()
    );
    // A cgroup named like a workshop's below one the host made, and a container of LXD's
    // default project, speak for no workshop.
    let refused = nested.workshopctl(&d);
    assert!(
        refused.contains("cannot identify the calling workshop: the process is not in a container"),
        "{refused}"
    );
    let refused = default.workshopctl(&d);
    assert!(
        refused.contains(&format!(
            "cannot identify the calling workshop: container \"{key}\" is not a workshop"
        )),
        "{refused}"
    );
    assert_eq!(attributed(&d.log()).len(), 3);
}

/// Runs `workshopctl set-health okay` in workshop `ws` through `workshop exec`, with `prefix`
/// before it (`sudo`, `env WORKSHOP_COOKIE=...`).
fn workshopctl_in(d: &Daemon, p: &Project, ws: &str, prefix: &[&str]) -> String {
    let mut args = vec!["exec", ws, "--"];
    args.extend_from_slice(prefix);
    args.extend_from_slice(&["workshopctl", "set-health", "okay"]);
    d.cli_as(Some(&p.user), &p.path, &args, &[]).fails()
}

/// The workshops the daemon attributed workshopctl requests to, from its debug log, in order:
/// (project id, workshop).
fn attributed(log: &str) -> Vec<(String, String)> {
    let field = |line: &str, key: &str| {
        line.split_whitespace().find_map(|f| f.strip_prefix(key)).map(str::to_string).unwrap_or_default()
    };
    log.lines()
        .filter(|l| l.contains("workshopctl request") && l.contains(" workshop="))
        .map(|l| (field(l, "project_id="), field(l, "workshop=")))
        .collect()
}

#[test]
fn workshopctl_speaks_for_the_calling_workshop_only() {
    if !lxd_enabled("workshopctl_speaks_for_the_calling_workshop_only") {
        return;
    }
    let _lxd = lxd_shared();
    let d = Daemon::start();
    let user = test_user();
    let p = Project::new(&user, "guest-identity");
    p.write(".workshop/one.yaml", "name: one\nbase: ubuntu@22.04\n");
    p.write(".workshop/two.yaml", "name: two\nbase: ubuntu@22.04\n");
    d.cli_as(Some(&user), &p.path, &["launch", "one", "two"], &[]).ok();
    let id = p.id().expect("the project has an id");
    let outside_hook = r#"(here "set-health") from outside of a workshop"#;

    // Both share one socket directory; each is told apart by its process, as the user and as
    // root in the guest, whatever the request carries.
    assert!(workshopctl_in(&d, &p, "one", &[]).contains(outside_hook));
    assert!(workshopctl_in(&d, &p, "two", &["sudo"]).contains(outside_hook));
    // A cookie is no way to speak for another workshop: it names no running hook of "one".
    let other = format!("WORKSHOP_COOKIE=two-{id}");
    assert!(workshopctl_in(&d, &p, "one", &["env", &other]).contains("error: invalid workshop cookie"));
    let seen = attributed(&d.log());
    let names: Vec<&str> = seen.iter().map(|(_, ws)| ws.as_str()).collect();
    assert_eq!(names, ["one", "two", "one"], "one attribution per request, in order:\n{}", d.log());
    assert!(seen.iter().all(|(project, _)| *project == id), "{seen:?}");

    // A host process on that socket speaks for none of them.
    let (status, env) = Daemon::http(
        &d.guest_socket(),
        "POST",
        "/v1/workshopctl",
        Some(&format!(r#"{{"context-id":"one-{id}","args":["set-health","okay"]}}"#)),
    );
    assert_eq!(status, 403, "{env}");
    assert!(message(&env).starts_with("cannot identify the calling workshop: "), "{env}");
}
