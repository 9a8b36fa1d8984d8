//! Helpers shared by the end-to-end tests: a real `workshopd` in a temp directory, the real
//! `workshop` CLI (as the current user or as an unprivileged test user), raw HTTP over the
//! sockets, and guards that remove what a test created in LXD even when it fails.

use std::io::{BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod activation;
pub mod bench;
pub mod sdk_fixtures;

/// Directory of the workspace's built binaries: `$WORKSHOP_BIN_DIR`, else the profile
/// directory this test runs from (`target/debug` or `target/release`).
pub fn bin_dir() -> PathBuf {
    let dir = match std::env::var_os("WORKSHOP_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        // target/<profile>/deps/it-<hash> → target/<profile>
        None => {
            let exe = std::env::current_exe().expect("test executable path");
            exe.parent().and_then(Path::parent).expect("target dir").to_path_buf()
        }
    };
    for bin in ["workshopd", "workshop", "workshopctl", "sdk"] {
        assert!(
            dir.join(bin).is_file(),
            "{} is missing: build the binaries first (cargo build --workspace --bins)",
            dir.join(bin).display()
        );
    }
    dir
}

/// Tests that stop LXD take this for writing; every other LXD test for reading.
static LXD: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Shared use of the real LXD (held for the whole test).
pub fn lxd_shared() -> std::sync::RwLockReadGuard<'static, ()> {
    LXD.read().unwrap_or_else(|e| e.into_inner())
}

/// Exclusive use of the real LXD, for tests that stop or restart it.
pub fn lxd_exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    LXD.write().unwrap_or_else(|e| e.into_inner())
}

/// Runs `scripts/lxd-ctl.sh <action>` (start, stop, restart).
pub fn lxd_ctl(action: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lxd-ctl.sh");
    let status = Command::new("bash").arg(script).arg(action).status().expect("lxd-ctl.sh");
    assert!(status.success(), "lxd-ctl.sh {action} failed");
}

/// Whether the real-LXD tests should run (`WORKSHOP_TEST_LXD=1`); prints why not otherwise.
pub fn lxd_enabled(test: &str) -> bool {
    if std::env::var("WORKSHOP_TEST_LXD").is_ok_and(|v| v == "1") {
        return true;
    }
    eprintln!("skipped {test}: WORKSHOP_TEST_LXD not set");
    false
}

/// Whether `program` is on the PATH. A full run (`WORKSHOP_TEST_LXD=1`, as set up by
/// scripts/test-all.sh, which installs every tool the tests use) fails without it; any other
/// run skips the test and says why.
pub fn tool_available(test: &str, program: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    if !found {
        assert!(
            !std::env::var("WORKSHOP_TEST_LXD").is_ok_and(|v| v == "1"),
            "{test}: {program} is not installed (scripts/test-all.sh installs it)"
        );
        eprintln!("skipped {test}: {program} is not installed");
    }
    found
}

/// A short random suffix for names of test objects.
pub fn suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{:06x}", (nanos ^ std::process::id().rotate_left(16)) & 0xff_ffff)
}

/// A `workshopd` process with its own state directory; stopped (by PID) on drop.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    env: Vec<(String, String)>,
}

impl Daemon {
    /// Starts a daemon on the real LXD (or degraded without one).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a daemon with extra environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new().prefix("wst-daemon-").tempdir().expect("temp dir");
        // Test users must reach the socket inside.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut daemon = Self { dir, child: None, env };
        daemon.spawn();
        daemon
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("workshop.socket")
    }

    pub fn untrusted_socket(&self) -> PathBuf {
        self.dir.path().join("workshop.socket.untrusted")
    }

    /// The untrusted socket in the directory shared with workshops.
    pub fn guest_socket(&self) -> PathBuf {
        self.dir.path().join("guest/workshop.socket.untrusted")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("workshopd.log"))
            .unwrap();
        let mut cmd = Command::new(bin_dir().join("workshopd"));
        cmd.args(["run", "--create-dirs"])
            .env("WORKSHOP", self.dir.path())
            .env_remove("WORKSHOP_SOCKET")
            .env_remove("NOTIFY_SOCKET")
            // Tests never reach a real SDK Store: nothing listens on port 1 of loopback (those
            // that need a Store start a fixture one and pass its URL).
            .env("WORKSHOP_STORE_URL", "http://127.0.0.1:1")
            .env_remove("SDK_STORE_URL")
            .env("WORKSHOP_DEBUG", "1")
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let _ = std::fs::remove_file(self.socket());
        self.child = Some(cmd.spawn().expect("start workshopd"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("workshopd did not start listening; log:\n{}", self.log());
    }

    /// Stops the daemon with `signal` and waits for it.
    pub fn stop_with(&mut self, signal: i32) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: signalling a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as i32, signal) };
        child.wait().ok()
    }

    /// A host reboot as far as workshop goes: the daemon stops, LXD shuts down (stopping every
    /// container) and starts again, then the daemon starts on the same state.
    pub fn fake_reboot(&mut self) {
        self.stop_with(libc::SIGTERM);
        lxd_ctl("restart");
        self.spawn();
    }

    /// SIGTERM, wait, start again on the same state.
    pub fn restart(&mut self) {
        self.stop_with(libc::SIGTERM);
        self.spawn();
    }

    /// SIGTERM, wait, start again on the same state with `env` instead of the start-up one.
    pub fn restart_with(&mut self, env: &[(&str, &str)]) {
        self.env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.restart();
    }

    /// SIGKILL, then start again on the same state.
    pub fn kill_and_restart(&mut self) {
        self.stop_with(libc::SIGKILL);
        self.spawn();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("workshopd.log")).unwrap_or_default()
    }

    /// `workshop ARGS` as the current user, in `cwd`.
    pub fn cli(&self, cwd: &Path, args: &[&str]) -> Run {
        self.cli_as(None, cwd, args, &[])
    }

    /// `workshop ARGS` as `user` (via runuser, needs root) or the current user, in `cwd`.
    pub fn cli_as(&self, user: Option<&str>, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run_as(user, cwd, &bin_dir().join("workshop"), args, env, None)
    }

    /// `sdk ARGS` as the current user.
    pub fn sdk(&self, args: &[&str]) -> Run {
        self.run_as(None, Path::new("/"), &bin_dir().join("sdk"), args, &[], None)
    }

    /// `workshop ARGS` as `user` with `input` on standard input.
    pub fn cli_input_as(&self, user: &str, cwd: &Path, args: &[&str], input: &str) -> Run {
        self.run_as(Some(user), cwd, &bin_dir().join("workshop"), args, &[], Some(input.as_bytes()))
    }

    /// `program ARGS` as `user` (or the current user) in `cwd`, in the environment the CLI
    /// needs (this daemon's socket, no colours, the user's home) plus `env`; standard input is
    /// `input`, or /dev/null.
    pub fn run_as(
        &self,
        user: Option<&str>,
        cwd: &Path,
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        input: Option<&[u8]>,
    ) -> Run {
        let mut cmd = match user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--", "env"]);
                c
            }
            None => Command::new("env"),
        };
        // The caller's data directory is the user's own, unless a test names one: root's
        // would be sent for the user (and refused to them) if the test run had it set.
        cmd.args(["-u", "XDG_DATA_HOME"]);
        cmd.arg(format!("WORKSHOP_SOCKET={}", self.socket().display()));
        cmd.arg("NO_COLOR=1");
        if let Some(user) = user {
            let home = user_home(user);
            cmd.arg(format!("HOME={}", home.display()));
            cmd.arg(format!("USER={user}"));
        }
        for (k, v) in env {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.arg(program).args(args).current_dir(cwd).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
        let started = Instant::now();
        let mut child = cmd.spawn().expect("run command");
        if let Some(input) = input {
            let mut stdin = child.stdin.take().expect("piped stdin");
            let input = input.to_vec();
            std::thread::spawn(move || stdin.write_all(&input));
        }
        let out = child.wait_with_output().expect("wait for command");
        let mut run = Run::new(args, out, started.elapsed());
        if run.code != 0
            && program.ends_with("workshop")
            && let Some(id) = failed_change(&run.stderr)
        {
            let tasks = self.run_as(user, cwd, program, &["tasks", &id], env, None);
            run.details = Some(format!("\n`workshop tasks {id}`:\n{}", tasks.output()));
        }
        run
    }

    /// Starts `workshop ARGS` directly as `user` (no wrapper process, so signals sent to the
    /// child reach the CLI), in `cwd`, with standard output piped.
    pub fn spawn_cli_as(&self, user: &str, cwd: &Path, args: &[&str]) -> Child {
        let (uid, gid) = user_ids(user);
        Command::new(bin_dir().join("workshop"))
            .args(args)
            .current_dir(cwd)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("WORKSHOP_SOCKET", self.socket())
            .env("NO_COLOR", "1")
            .env("HOME", user_home(user))
            .env("USER", user)
            .uid(uid)
            .gid(gid)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start workshop")
    }

    /// A raw HTTP request on `socket`: (status, envelope).
    pub fn http(socket: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let (status, bytes) = Self::http_bytes(socket, method, path, body);
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A raw HTTP request on `socket`: (status, body bytes), the body not decoded.
    pub fn http_bytes(socket: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, Vec<u8>) {
        http_on_bytes(UnixStream::connect(socket).expect("connect"), method, path, body)
    }
}

/// A raw HTTP request on a connected stream: (status, envelope).
pub fn http_on(stream: UnixStream, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let (status, bytes) = http_on_bytes(stream, method, path, body);
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn http_on_bytes(stream: UnixStream, method: &str, path: &str, body: Option<&str>) -> (u16, Vec<u8>) {
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    workshop_client::http::write_request(&mut &stream, method, path, body.map(str::as_bytes), None).unwrap();
    let resp = workshop_client::http::read_response(&mut BufReader::new(&stream)).expect("response");
    (resp.status, resp.body)
}

/// Whether this test runs as root (and so can connect as other users).
pub fn is_root() -> bool {
    // SAFETY: a plain getter.
    unsafe { libc::geteuid() == 0 }
}

/// Connects to `socket` as `uid`/`gid` (needs root): from a thread of its own that gives up
/// root for good before connecting, so SO_PEERCRED reports that user. Linux keeps credentials
/// per thread; the raw system calls change only the calling thread's (libc's wrappers would
/// change every thread's), and the thread ends right after.
pub fn connect_as(socket: &Path, uid: u32, gid: u32) -> std::io::Result<UnixStream> {
    let socket = socket.to_path_buf();
    std::thread::spawn(move || {
        // SAFETY: plain system calls on this thread's credentials; no pointers but a null list.
        let dropped = unsafe {
            libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) == 0
                && libc::syscall(libc::SYS_setresgid, gid, gid, gid) == 0
                && libc::syscall(libc::SYS_setresuid, uid, uid, uid) == 0
        };
        if !dropped {
            return Err(std::io::Error::last_os_error());
        }
        UnixStream::connect(socket)
    })
    .join()
    .expect("connecting thread")
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop_with(libc::SIGTERM);
        if std::thread::panicking() {
            // What went wrong in the daemon, for the failed test's output.
            let log = self.log();
            let trouble: Vec<&str> =
                log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
            let tail = &trouble[trouble.len().saturating_sub(30)..];
            eprintln!("workshopd's last warnings and errors:\n{}", tail.join("\n"));
        }
    }
}

/// What a CLI run produced.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// When a `workshop` command failed naming a change, that change's task log (as
    /// `workshop tasks N` prints it), for the failure message of [`Run::ok`]; not part of
    /// [`Run::output`].
    pub details: Option<String>,
}

/// The change a failed command's message points at (`To view details: "workshop tasks N"`).
fn failed_change(stderr: &str) -> Option<String> {
    let (_, rest) = stderr.split_once("\"workshop tasks ")?;
    let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!id.is_empty()).then_some(id)
}

impl Run {
    fn new(args: &[&str], out: Output, elapsed: Duration) -> Self {
        Self {
            args: args.iter().map(|s| s.to_string()).collect(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed,
            details: None,
        }
    }

    /// Both streams, as the scenarios read them.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        let details = self.details.as_deref().unwrap_or_default();
        assert_eq!(self.code, 0, "workshop {:?} failed:\n{}{details}", self.args, self.output());
        &self.stdout
    }

    /// Asserts failure and returns the merged output.
    #[track_caller]
    pub fn fails(&self) -> String {
        assert_ne!(self.code, 0, "workshop {:?} should have failed:\n{}", self.args, self.output());
        self.output()
    }

    /// Whether some line of the merged output matches `re` (a regex-lite pattern).
    pub fn has_line(&self, re: &str) -> bool {
        let re = regex_lite::Regex::new(re).expect("pattern");
        self.output().lines().any(|l| re.is_match(l))
    }
}

/// The home directory of `user`.
pub fn user_home(user: &str) -> PathBuf {
    let out = Command::new("getent").args(["passwd", user]).output().expect("getent");
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let home = line.trim().split(':').nth(5).unwrap_or_else(|| panic!("no such user {user}"));
    PathBuf::from(home)
}

/// uid and gid of `user`.
pub fn user_ids(user: &str) -> (u32, u32) {
    let out = Command::new("getent").args(["passwd", user]).output().expect("getent");
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let fields: Vec<&str> = line.trim().split(':').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

/// A project directory owned by a test user, with definition files; on drop the test's LXD
/// instances (named `<ws>-<project id>` in `workshop.<user>`) and the directory are removed.
pub struct Project {
    pub path: PathBuf,
    pub user: String,
}

impl Project {
    /// `$HOME/wst/<case>-<random>` of `user`.
    pub fn new(user: &str, case: &str) -> Self {
        let path = user_home(user).join("wst").join(format!("{case}-{}", suffix()));
        std::fs::create_dir_all(&path).unwrap();
        let project = Self { path, user: user.to_string() };
        project.chown_all();
        project
    }

    /// Writes `rel` (relative to the project) with `content`, owned by the user.
    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let path = self.path.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        self.chown_all();
        self
    }

    fn chown_all(&self) {
        let (uid, gid) = user_ids(&self.user);
        let home = user_home(&self.user);
        let _ = std::os::unix::fs::chown(home.join("wst"), Some(uid), Some(gid));
        let status = Command::new("chown").arg("-R").arg(format!("{uid}:{gid}")).arg(&self.path).status();
        assert!(status.is_ok_and(|s| s.success()), "chown {}", self.path.display());
    }

    /// The project id, once a command has tracked the project.
    pub fn id(&self) -> Option<String> {
        std::fs::read_to_string(self.path.join(".workshop.lock")).ok().map(|s| s.trim().to_string())
    }

    /// Waits (at most 30 s) until no stash of this project's workshops is left: a refresh
    /// removes its stash in a cleanup, once the command has returned. Whether none is left.
    pub fn stashes_gone(&self) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.instances().iter().any(|i| i.starts_with("stash-")) {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    }

    /// LXD instances of this project.
    pub fn instances(&self) -> Vec<String> {
        let Some(id) = self.id() else { return Vec::new() };
        let out = Command::new("lxc")
            .args(["list", "--project", &format!("workshop.{}", self.user), "-f", "csv", "-c", "n"])
            .output();
        let Ok(out) = out else { return Vec::new() };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|n| n.ends_with(&format!("-{id}")))
            .map(str::to_string)
            .collect()
    }
}

/// Directories removed (with what they hold) when dropped, also when a test fails.
pub struct RemovedOnDrop(pub Vec<PathBuf>);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let project = format!("workshop.{}", self.user);
        for name in self.instances() {
            // LXD refuses while a stop or start is still under way: ask again for a while.
            let deleted = (0..30).any(|attempt| {
                if attempt > 0 {
                    std::thread::sleep(Duration::from_millis(500));
                }
                Command::new("lxc")
                    .args(["delete", "-f", "--project", &project, &name])
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            });
            if !deleted {
                eprintln!("cleanup: cannot delete instance {name} of {project}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The unprivileged test users (created by scripts/test-all.sh).
pub fn test_user() -> String {
    std::env::var("WORKSHOP_TEST_USER").unwrap_or_else(|_| "workshop-test".into())
}

/// The second one, for what one user must not see or touch of another's.
pub fn test_user2() -> String {
    std::env::var("WORKSHOP_TEST_USER2").unwrap_or_else(|_| "workshop-test2".into())
}
