//! Connections to the host's devices and the caller's session on the real LXD: camera and
//! custom-device (C-13), desktop over Wayland and X11 (C-23, C-24, C-25) and ssh-agent with a
//! real agent, kept across a stop and a start, a daemon restart and a refresh (a restore drops
//! them); one workshop
//! through every step. The session variables are the CLI caller's, as the harness exports
//! them; sockets and files are made by the test for the test user.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::Command;

use workshop_integration::{Daemon, Project, lxd_enabled, lxd_shared, test_user, user_home, user_ids};

/// What the test made on the host, removed even when it fails: the agent, sockets and files,
/// and the interface profiles of the project.
#[derive(Default)]
struct Host {
    user: String,
    project: Option<String>,
    agent_pid: Option<i32>,
    paths: Vec<PathBuf>,
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(pid) = self.agent_pid {
            // SAFETY: signalling the agent this test started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        for p in self.paths.iter().rev() {
            let _ = if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
        }
        let Some(id) = self.project.take() else { return };
        let project = format!("workshop.{}", self.user);
        if let Ok(out) =
            Command::new("lxc").args(["profile", "list", "--project", &project, "-f", "csv"]).output()
        {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let name = line.split(',').next().unwrap_or_default();
                if name.contains(&format!("-{id}-")) {
                    let _ =
                        Command::new("lxc").args(["profile", "delete", "--project", &project, name]).status();
                }
            }
        }
    }
}

/// A unix socket at `path` (left in place when the listener goes), the user's.
fn socket(path: &Path, uid: u32, gid: u32) {
    let listener =
        std::os::unix::net::UnixListener::bind(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    drop(listener);
    chown(path, Some(uid), Some(gid)).unwrap();
}

/// Runs `args` as `user` with `env`; returns stdout.
fn as_user(user: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut c = Command::new("runuser");
    c.args(["-u", user, "--", "env"]);
    for (k, v) in env {
        c.arg(format!("{k}={v}"));
    }
    let out = c.args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Lists the agent's identities inside the workshop: `ssh-add -l` when the image has it, else
/// the same request of the agent protocol (the offline base image has no ssh client, and
/// nothing is installed in the guest for a test).
const LIST_KEYS: &str = r#"
if command -v ssh-add >/dev/null; then ssh-add -l; exit $?; fi
echo "no ssh-add in the image: the agent protocol by hand" >&2
python3 - <<'PY'
import os, socket, struct
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["SSH_AUTH_SOCK"])
s.sendall(struct.pack(">IB", 1, 11))
def read(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit("the agent closed the connection")
        b += c
    return b
body = read(struct.unpack(">I", read(4))[0])
assert body[0] == 12, body[0]
count, = struct.unpack(">I", body[1:5])
at = 5
for _ in range(count):
    n, = struct.unpack(">I", body[at:at + 4]); at += 4 + n
    n, = struct.unpack(">I", body[at:at + 4]); print(body[at + 4:at + 4 + n].decode()); at += 4 + n
PY
"#;

#[test]
fn device_and_session_connections() {
    if !lxd_enabled("device_and_session_connections") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let (uid, gid) = user_ids(&user);
    let mut d = Daemon::start();
    let mut host = Host { user: user.clone(), project: None, agent_pid: None, paths: Vec::new() };
    let p = Project::new(&user, "sessions");
    p.write(
        ".workshop/ws-devices.yaml",
        "name: ws-devices
base: ubuntu@22.04
sdks:
  - name: project-test-sdk-camera
  - name: project-test-sdk-desktop
  - name: project-test-sdk-ssh-agent
  - name: project-test-sdk-custom
connections:
  - plug: test-sdk-desktop:desktop
    slot: system:desktop
",
    );
    p.write(".workshop/test-sdk-camera/sdk.yaml", "name: test-sdk-camera\nplugs:\n  camera:\n");
    p.write(".workshop/test-sdk-desktop/sdk.yaml", "name: test-sdk-desktop\nplugs:\n  desktop:\n");
    p.write(".workshop/test-sdk-desktop/hooks/setup-base", "exit 0\n");
    p.write(".workshop/test-sdk-ssh-agent/sdk.yaml", "name: test-sdk-ssh-agent\nplugs:\n  ssh-agent:\n");
    p.write(".workshop/test-sdk-ssh-agent/hooks/setup-base", "exit 0\n");
    p.write(
        ".workshop/test-sdk-custom/sdk.yaml",
        "name: test-sdk-custom\nplugs:\n  stick:\n    interface: custom-device\n    vendorid: '0x0403'\n    productid: '6001'\n",
    );
    let w = |args: &[&str], env: &[(&str, &str)]| d.cli_as(Some(&user), &p.path, args, env);
    w(&["launch", "ws-devices"], &[]).ok();
    let id = p.id().expect("tracked");
    host.project = Some(id.clone());
    let lxd_project = format!("workshop.{user}");
    let profile = |sdk: &str| {
        let out = Command::new("lxc")
            .args(["profile", "show", "--project", &lxd_project, &format!("ws-devices-{id}-{sdk}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // As the workshop's login user, as C-23 reads it.
    let guest = |script: &str| {
        d.cli_input_as(
            &user,
            &p.path,
            &["exec", "ws-devices", "--", "sudo", "-Hiu", "workshop", "/bin/bash", "-s"],
            script,
        )
    };

    // C-13: none of them connects by itself, not even one listed in `connections:`.
    let listed = w(&["connections", "ws-devices"], &[]);
    for re in [
        r"^camera\s+ws-devices/test-sdk-camera:camera\s+-\s+-$",
        r"^desktop\s+ws-devices/test-sdk-desktop:desktop\s+-\s+-$",
        r"^ssh-agent\s+ws-devices/test-sdk-ssh-agent:ssh-agent\s+-\s+-$",
        r"^custom-device\s+ws-devices/test-sdk-custom:stick\s+-\s+-$",
    ] {
        assert!(listed.has_line(re), "{re}\n{}", listed.output());
    }
    // C-13: camera by hand, on a host without a camera.
    w(&["connect", "ws-devices/test-sdk-camera:camera"], &[]).ok();
    let listed = w(&["connections", "ws-devices"], &[]);
    let camera = r"^camera\s+ws-devices/test-sdk-camera:camera\s+ws-devices/system:camera\s+manual$";
    assert!(listed.has_line(camera), "{}", listed.output());
    w(&["disconnect", "ws-devices/test-sdk-camera:camera"], &[]).ok();
    let listed = w(&["connections", "ws-devices"], &[]);
    assert!(listed.has_line(r"^camera\s+ws-devices/test-sdk-camera:camera\s+-\s+-$"), "{}", listed.output());
    // A custom device by vendor and product: LXD takes the hotplug device.
    w(&["connect", "ws-devices/test-sdk-custom:stick", ":custom-device"], &[]).ok();
    let shown = profile("test-sdk-custom");
    assert!(shown.contains("type: unix-hotplug") && shown.contains("vendorid: \"0403\""), "{shown}");
    assert!(shown.contains("productid: \"6001\""), "{shown}");

    // The session's variables: only what each case sets (the others empty: not sent).
    let no_session = [
        ("WAYLAND_DISPLAY", ""),
        ("DISPLAY", ""),
        ("XAUTHORITY", ""),
        ("XDG_RUNTIME_DIR", ""),
        ("SSH_AUTH_SOCK", ""),
    ];
    let session = |set: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        no_session
            .iter()
            .map(|(k, v)| (*k, set.iter().find(|(s, _)| s == k).map_or(v.to_string(), |(_, v)| v.clone())))
            .collect()
    };
    let connect_with = |env: &[(&'static str, String)]| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        w(&["connect", "ws-devices/test-sdk-desktop:desktop", ":desktop"], &env)
    };
    let desktop = "ws-devices/test-sdk-desktop:desktop";
    // Without a display the connection is refused, saying why.
    let refused = connect_with(&session(&[]));
    assert!(refused.fails().contains("neither DISPLAY nor WAYLAND_DISPLAY is set"), "{}", refused.output());

    // C-23 as a session without systemd gives it: no XDG_RUNTIME_DIR, no display socket on
    // the host yet. The connection is made (the display may come later) and the workshop has
    // its socket.
    connect_with(&session(&[("WAYLAND_DISPLAY", "wayland-1".into())])).ok();
    let wayland = r#"test -n "$WAYLAND_DISPLAY" && test -n "$QT_QPA_PLATFORM" && test -n "$XDG_SESSION_TYPE" &&
test -n "$ELECTRON_OZONE_PLATFORM_HINT" && test -S "/run/user/1000/$WAYLAND_DISPLAY""#;
    guest(wayland).ok();
    w(&["disconnect", desktop], &[]).ok();

    // C-23: Wayland, with the user's runtime directory.
    let runtime = PathBuf::from(format!("/tmp/wst-runtime-{}", std::process::id()));
    std::fs::create_dir(&runtime).unwrap();
    host.paths.push(runtime.clone());
    chown(&runtime, Some(uid), Some(gid)).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    socket(&runtime.join("wayland-1"), uid, gid);
    // A symlink to the socket is not followed.
    std::os::unix::fs::symlink(runtime.join("wayland-1"), runtime.join("wayland-9")).unwrap();
    let linked = connect_with(&session(&[
        ("WAYLAND_DISPLAY", "wayland-9".into()),
        ("XDG_RUNTIME_DIR", runtime.display().to_string()),
    ]));
    assert!(linked.fails().contains("is not a socket"), "{}", linked.output());
    connect_with(&session(&[
        ("WAYLAND_DISPLAY", "wayland-1".into()),
        ("XDG_RUNTIME_DIR", runtime.display().to_string()),
    ]))
    .ok();
    let listed = w(&["connections", "ws-devices"], &[]);
    let row = r"^desktop\s+ws-devices/test-sdk-desktop:desktop\s+ws-devices/system:desktop\s+manual$";
    assert!(listed.has_line(row), "{}", listed.output());
    guest(wayland).ok();
    // The socket is made again when the workshop starts (before the user's runtime
    // directory is mounted or after, it is there for the login user).
    w(&["stop", "ws-devices"], &[]).ok();
    w(&["start", "ws-devices"], &[]).ok();
    guest(wayland).ok();
    w(&["disconnect", desktop], &[]).ok();
    let gone = r#"test -z "$WAYLAND_DISPLAY" && test -z "$QT_QPA_PLATFORM" && test -z "$ELECTRON_OZONE_PLATFORM_HINT" &&
test "$XDG_SESSION_TYPE" = unspecified"#;
    let g = guest(gone);
    g.ok();

    // C-24: X11, with an authority file, kept across a stop and a start.
    let x11 = Path::new("/tmp/.X11-unix");
    if !x11.exists() {
        std::fs::create_dir(x11).unwrap();
        std::fs::set_permissions(x11, std::fs::Permissions::from_mode(0o1777)).unwrap();
    }
    for n in ["X0", "X1"] {
        if !x11.join(n).exists() {
            socket(&x11.join(n), uid, gid);
            host.paths.push(x11.join(n));
        }
    }
    let xauth = PathBuf::from(format!("/tmp/wst-xauthority-{}", std::process::id()));
    std::fs::write(&xauth, "cookie of the test").unwrap();
    host.paths.push(xauth.clone());
    chown(&xauth, Some(uid), Some(gid)).unwrap();
    std::fs::set_permissions(&xauth, std::fs::Permissions::from_mode(0o600)).unwrap();
    let x_env =
        |display: &str| session(&[("DISPLAY", display.into()), ("XAUTHORITY", xauth.display().to_string())]);
    connect_with(&x_env(":0")).ok();
    let x_ok = r#"test -n "$DISPLAY" && test -n "$XAUTHORITY" && test -S "/tmp/.X11-unix/X${DISPLAY:1}" &&
test -f "$XAUTHORITY" && test "$(cat "$XAUTHORITY")" = "cookie of the test" && test "$XDG_SESSION_TYPE" = x11"#;
    guest(x_ok).ok();
    w(&["stop", "ws-devices"], &[]).ok();
    w(&["start", "ws-devices"], &[]).ok();
    guest(x_ok).ok();
    w(&["disconnect", desktop], &[]).ok();
    guest(r#"test -z "$DISPLAY" && test -z "$XAUTHORITY""#).ok();
    // C-25: display :1 is :0 in the workshop.
    connect_with(&x_env(":1.0")).ok();
    guest(r#"test "$DISPLAY" = :0 && test -n "$XAUTHORITY" && test -S /tmp/.X11-unix/X0 && test -f "$XAUTHORITY""#).ok();
    let shown = profile("test-sdk-desktop");
    assert!(shown.contains("connect: unix:/tmp/.X11-unix/X1"), "{shown}");
    assert!(shown.contains(&format!("security.uid: \"{uid}\"")), "{shown}");

    // ssh-agent: a real agent of the user, with a key.
    let agent_dir = user_home(&user).join(format!(".wst-agent-{}", std::process::id()));
    as_user(&user, &["mkdir", "-m", "0700", &agent_dir.display().to_string()], &[]);
    host.paths.push(agent_dir.clone());
    let sock = agent_dir.join("agent.sock").display().to_string();
    let started = as_user(&user, &["ssh-agent", "-s", "-a", &sock], &[]);
    let pid =
        started.split("SSH_AGENT_PID=").nth(1).and_then(|s| s.split(';').next()).and_then(|s| s.parse().ok());
    host.agent_pid = pid;
    assert!(pid.is_some(), "{started}");
    let key = agent_dir.join("key").display().to_string();
    as_user(&user, &["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wst-test-key", "-f", &key], &[]);
    as_user(&user, &["ssh-add", "-q", &key], &[("SSH_AUTH_SOCK", &sock)]);
    let agent_env = session(&[("SSH_AUTH_SOCK", sock.clone())]);
    let agent_env: Vec<(&str, &str)> = agent_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let missing = w(&["connect", "ws-devices/test-sdk-ssh-agent:ssh-agent"], &[("SSH_AUTH_SOCK", "")]);
    assert!(
        missing.fails().contains("does not have SSH_AUTH_SOCK set. ssh-agent is not running?"),
        "{}",
        missing.output()
    );
    w(&["connect", "ws-devices/test-sdk-ssh-agent:ssh-agent"], &agent_env).ok();
    let keys = guest(LIST_KEYS);
    assert!(keys.ok().contains("wst-test-key"), "{}", keys.output());

    // Kept across a daemon restart and a refresh (manual connections of these interfaces
    // are not dropped by a refresh: nothing would make them again).
    d.restart();
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    let listed = w(&["connections", "ws-devices"]);
    for re in [
        row,
        r"^ssh-agent\s+ws-devices/test-sdk-ssh-agent:ssh-agent\s+ws-devices/system:ssh-agent\s+manual$",
        r"^custom-device\s+ws-devices/test-sdk-custom:stick\s+ws-devices/system:custom-device\s+manual$",
    ] {
        assert!(listed.has_line(re), "{re}\n{}", listed.output());
    }
    w(&["refresh", "ws-devices"]).ok();
    let listed = w(&["connections", "ws-devices"]);
    assert!(listed.has_line(row), "{}", listed.output());
    let guest = |script: &str| {
        d.cli_input_as(
            &user,
            &p.path,
            &["exec", "ws-devices", "--", "sudo", "-Hiu", "workshop", "/bin/bash", "-s"],
            script,
        )
    };
    let keys = guest(LIST_KEYS);
    assert!(keys.ok().contains("wst-test-key"), "{}", keys.output());
    guest(r#"test "$DISPLAY" = :0 && test -f "$XAUTHORITY""#).ok();

    // Disconnected: the variable goes and the agent is out of reach (LXD leaves the socket
    // file, which nothing answers); connected again over it, the agent is back.
    w(&["disconnect", "ws-devices/test-sdk-ssh-agent:ssh-agent"]).ok();
    let unreachable = format!(
        "test -z \"$SSH_AUTH_SOCK\" || exit 1\nexport SSH_AUTH_SOCK=/var/lib/workshop/run/ssh-agent.sock\nif ( {LIST_KEYS} ); then exit 1; fi\n"
    );
    guest(&unreachable).ok();
    let agent_env: Vec<(&str, &str)> = vec![("SSH_AUTH_SOCK", sock.as_str())];
    d.cli_as(Some(&user), &p.path, &["connect", "ws-devices/test-sdk-ssh-agent:ssh-agent"], &agent_env).ok();
    let keys = guest(LIST_KEYS);
    assert!(keys.ok().contains("wst-test-key"), "{}", keys.output());
    // A restore brings the defaults back: these manual connections go, as the reference's
    // (M-22), and with them the agent.
    let restored = w(&["restore", "ws-devices"]);
    assert!(restored.code == 0, "{}\n{}", restored.output(), d.log());
    let listed = w(&["connections", "ws-devices"]);
    assert!(!listed.ok().contains("manual"), "{}", listed.output());
    guest("test -z \"$SSH_AUTH_SOCK\" && test -z \"$DISPLAY\"\n").ok();
    w(&["remove", "ws-devices"]).ok();
    let profiles = Command::new("lxc")
        .args(["profile", "list", "--project", &lxd_project, "-f", "csv"])
        .output()
        .unwrap();
    let profiles = String::from_utf8_lossy(&profiles.stdout);
    assert!(!profiles.contains(&format!("-{id}-")), "profiles left behind: {profiles}");
}

/// C-11: users may not declare the system SDK's privileged slots.
#[test]
fn privileged_system_slots_are_refused() {
    if !lxd_enabled("privileged_system_slots_are_refused") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "slots");
    let rows = [
        ("ws-camera-fail", "user-camera", "camera", "test-sdk-camera", "camera:\n"),
        ("ws-desktop-fail", "user-desktop", "desktop", "test-sdk-desktop", "desktop:\n"),
        ("ws-ssh-fail", "user-ssh", "ssh-agent", "test-sdk-ssh-agent", "ssh-agent:\n"),
    ];
    for (ws, slot, iface, fixture, plug) in rows {
        p.write(
            &format!(".workshop/{ws}.yaml"),
            &format!(
                "name: {ws}\nbase: ubuntu@22.04\nsdks:\n  - name: system\n    slots:\n      {slot}:\n        interface: {iface}\n  - name: project-{fixture}\n"
            ),
        );
        p.write(&format!(".workshop/{fixture}/sdk.yaml"), &format!("name: {fixture}\nplugs:\n  {plug}"));
    }
    for (ws, slot, iface, _, _) in rows {
        let launched = d.cli_as(Some(&user), &p.path, &["launch", ws], &[]);
        let want = format!("installation not allowed by \"{slot}\" slot rule of interface \"{iface}\"");
        assert!(launched.fails().contains(&want), "{want}\n{}", launched.output());
    }
}
