//! Shared helpers: the opt-in switch, a test user whose LXD projects are removed at the end
//! (even when the test panics), targets, and reading exec output with a deadline.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use workshop_actors::backend::lxd::{LxdBackend, LxdBackendConfig};
use workshop_actors::backend::{Backend, BackendError, CreateSpec, ExecSpec, Target};
use workshop_actors::lxd::Client;

/// A host uid/gid that LXD may map into containers on these machines (see setup-lxd.sh).
pub const HOST_ID: u32 = 1000;

/// The backend on the local LXD, or None (after saying so) when LXD tests are not enabled.
pub fn backend() -> Option<LxdBackend> {
    if std::env::var("WORKSHOP_TEST_LXD").as_deref() != Ok("1") {
        eprintln!("skipped: WORKSHOP_TEST_LXD not set");
        return None;
    }
    Some(LxdBackend::new(Client::local().expect("LXD client"), LxdBackendConfig::default()))
}

/// A fresh test user name: `wst-backend-<random>`.
pub fn user_name() -> String {
    format!("wst-backend-{:08x}", rand::random::<u32>())
}

/// A workshop target of `user` with a random project id.
pub fn target(user: &str, name: &str) -> Target {
    Target::new(user, &format!("{:012x}", rand::random::<u64>() >> 16), name)
}

/// A create spec from `image` mapping [`HOST_ID`].
pub fn spec(image: &str) -> CreateSpec {
    CreateSpec {
        image: image.to_string(),
        host_uid: HOST_ID,
        host_gid: HOST_ID,
        config: BTreeMap::from([("user.workshop.file".to_string(), "test.yaml".to_string())]),
        devices: BTreeMap::new(),
        setup: String::new(),
        snapshot: None,
        rebuild: false,
    }
}

/// The trimmed stdout of `script` run as root in `target`, which must succeed.
pub async fn output(backend: &impl Backend, target: &Target, script: &str) -> String {
    let out = backend.run(target, &command(&["sh", "-c", script])).await.expect("run");
    assert_eq!(out.exit_code, 0, "{script}: {}", out.combined());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A command as root.
pub fn command(args: &[&str]) -> ExecSpec {
    ExecSpec { command: args.iter().map(|s| s.to_string()).collect(), ..ExecSpec::default() }
}

/// The fingerprint of the local `debian@12` image.
pub async fn image(backend: &LxdBackend) -> String {
    backend.resolve_base("debian@12").await.expect("resolve debian@12").fingerprint
}

/// Runs `lxc` and returns its stdout, or None when it failed.
pub fn lxc(args: &[&str]) -> Option<String> {
    let out = Command::new("lxc").args(args).output().expect("run lxc");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `lxc query <path>` as JSON.
pub fn query(path: &str) -> serde_json::Value {
    let text = lxc(&["query", path]).unwrap_or_else(|| panic!("lxc query {path} failed"));
    serde_json::from_str(&text).expect("JSON from lxc query")
}

/// The projects made for `user` (found by their `user.workshop.username`).
pub fn projects_of(user: &str) -> Vec<serde_json::Value> {
    let projects = query("/1.0/projects?recursion=1");
    projects
        .as_array()
        .expect("project list")
        .iter()
        .filter(|p| p["config"]["user.workshop.username"] == user)
        .cloned()
        .collect()
}

/// Removes everything of a test user on drop: the instances of its projects, then the projects.
pub struct UserGuard(pub String);

impl Drop for UserGuard {
    fn drop(&mut self) {
        let projects = match std::panic::catch_unwind(|| projects_of(&self.0)) {
            Ok(projects) => projects,
            Err(_) => return eprintln!("cleanup: cannot list the projects of {}", self.0),
        };
        for project in projects {
            let project = project["name"].as_str().unwrap_or_default().to_string();
            let names =
                lxc(&["list", "--project", &project, "--format", "csv", "-c", "n"]).unwrap_or_default();
            for name in names.lines().filter(|n| !n.is_empty()) {
                // LXD refuses while it still cleans up after a failed start: try for a while.
                let deleted = (0..20).any(|attempt| {
                    if attempt > 0 {
                        std::thread::sleep(Duration::from_millis(500));
                    }
                    lxc(&["delete", "-f", "--project", &project, name]).is_some()
                });
                if !deleted {
                    eprintln!("cleanup: cannot delete instance {name} of {project}");
                }
            }
            // Profiles a failed test left (LXD deletes no project that has any but `default`).
            let profiles =
                lxc(&["profile", "list", "--project", &project, "--format", "csv"]).unwrap_or_default();
            for line in profiles.lines() {
                let name = line.split(',').next().unwrap_or_default();
                if !name.is_empty() && name != "default" {
                    lxc(&["profile", "delete", "--project", &project, name]);
                }
            }
            if lxc(&["project", "delete", &project]).is_none() {
                eprintln!("cleanup: cannot delete project {project}");
            }
        }
    }
}

/// Reads `rx` until the collected text contains `needle` (or panics after 20 s).
pub async fn read_until(rx: &mut mpsc::Receiver<Bytes>, needle: &str) -> String {
    let mut text = String::new();
    let found = actix_rt::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = rx.recv().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains(needle) {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(found, Ok(true)), "{needle:?} not seen; got {text:?}");
    text
}

/// The exit code of a session (panics after 20 s or on an error).
pub async fn exit_code(exit: oneshot::Receiver<Result<i32, BackendError>>) -> i32 {
    let code = actix_rt::time::timeout(Duration::from_secs(20), exit).await.expect("command did not end");
    code.expect("exit code sent").expect("exit code")
}

/// Reads `rx` to its end (panics after 20 s).
pub async fn read_all(rx: &mut mpsc::Receiver<Bytes>) -> String {
    let mut text = String::new();
    actix_rt::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = rx.recv().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("output did not end");
    text
}
