//! One workshop through its whole life: create, start, commands, sessions, files, devices,
//! config, stop, restart, delete, with the idempotent repeats the task engine relies on.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use bytes::Bytes;
use workshop_actors::backend::lxd::LxdBackend;
use workshop_actors::backend::{
    Backend, BackendError, Device, ExecSpec, GuestFile, SessionControl, StopMode, Target,
};

use crate::common::{self, HOST_ID, UserGuard};

#[actix_rt::test]
async fn workshop_lifecycle() {
    let Some(backend) = common::backend() else { return };
    let user = common::user_name();
    let _guard = UserGuard(user.clone());
    let image = common::image(&backend).await;
    let target = common::target(&user, "dev");

    // Create (twice: idempotent) and look it up.
    backend.create(&target, &common::spec(&image)).await.expect("create");
    backend.create(&target, &common::spec(&image)).await.expect("create again");
    let instance = backend.get(&target).await.unwrap().expect("created instance");
    assert_eq!(instance.target, target);
    assert!(!instance.running);
    assert_eq!(instance.workshop_config("project-id"), Some(target.project_id.as_str()));
    assert_eq!(instance.workshop_config("file"), Some("test.yaml"));
    assert_eq!(instance.config["raw.idmap"], format!("uid {HOST_ID} 1000\ngid {HOST_ID} 1000"));
    assert_eq!(instance.config["security.nesting"], "true");
    assert_eq!(backend.list(&user, None).await.unwrap(), vec![instance.clone()]);
    assert_eq!(backend.list(&user, Some(&target.project_id)).await.unwrap().len(), 1);
    assert!(backend.list(&user, Some("other-project")).await.unwrap().is_empty());
    let elsewhere = Target::new(&user, "other-project", "dev");
    assert_eq!(backend.get(&elsewhere).await.unwrap(), None);

    // Start (twice) and wait for systemd.
    backend.start(&target).await.expect("start");
    backend.start(&target).await.expect("start a running one");
    backend.wait_ready(&target).await.expect("init system up");
    let instance = backend.get(&target).await.unwrap().unwrap();
    assert!(instance.running);
    assert_eq!(instance.config["boot.autostart"], "true");
    let state = backend.run(&target, &common::command(&["systemctl", "is-system-running"])).await.unwrap();
    let state = String::from_utf8_lossy(&state.stdout).trim().to_string();
    assert!(state == "running" || state == "degraded", "{state}");

    commands(&backend, &target).await;
    sessions(&backend, &target).await;
    files(&backend, &target).await;
    devices(&backend, &target).await;

    // Config keys.
    let set = [("user.workshop.test".to_string(), Some("1".to_string()))];
    backend.set_config(&target, &set).await.unwrap();
    assert_eq!(backend.get(&target).await.unwrap().unwrap().workshop_config("test"), Some("1"));
    backend.set_config(&target, &[("user.workshop.test".to_string(), None)]).await.unwrap();
    assert_eq!(backend.get(&target).await.unwrap().unwrap().workshop_config("test"), None);

    post_stop_hooks(&backend, &target).await;

    // Stop (twice), start again, force stop.
    backend.stop(&target, StopMode::Clean).await.expect("stop");
    let instance = backend.get(&target).await.unwrap().unwrap();
    assert!(!instance.running);
    assert_eq!(instance.config["boot.autostart"], "false");
    backend.stop(&target, StopMode::Clean).await.expect("stop a stopped one");
    backend.start(&target).await.expect("start again");
    assert!(backend.get(&target).await.unwrap().unwrap().running);
    backend.stop(&target, StopMode::Kill).await.expect("force stop");
    assert!(!backend.get(&target).await.unwrap().unwrap().running);
    match backend.wait_ready(&target).await {
        Err(BackendError::StartFailed { reason, .. }) => assert!(reason.contains("not running"), "{reason}"),
        other => panic!("waiting for a stopped instance: {other:?}"),
    }
    assert_eq!(
        backend.get(&target).await.unwrap().unwrap().config["boot.autostart"],
        "false",
        "a workshop whose init did not come up is not marked to run"
    );

    // Delete a running one, twice. Its profiles go with it (a launch's undo leaves them);
    // another profile of its name's form that is not one of its own stays.
    backend.start(&target).await.expect("start before delete");
    let project = format!("workshop.{user}");
    let mut tmpfs = std::collections::BTreeMap::new();
    for (k, v) in [("type", "disk"), ("source", "/"), ("path", "/mnt/root"), ("readonly", "true")] {
        tmpfs.insert(k.to_string(), v.to_string());
    }
    backend
        .set_profile(&target, "kept", &[("kept-dir".to_string(), tmpfs)].into())
        .await
        .expect("set_profile");
    let stranger = format!("{}-stranger", target.instance_name());
    common::lxc(&["profile", "create", "--project", &project, &stranger])
        .expect("a profile not the workshop's");
    backend.delete(&target).await.expect("delete");
    backend.delete(&target).await.expect("delete again");
    let left = common::lxc(&["profile", "list", "--project", &project, "-f", "csv"]).unwrap_or_default();
    assert!(!left.contains(&format!("{}-kept", target.instance_name())), "its profile went: {left}");
    assert!(left.contains(&stranger), "another's stays: {left}");
    common::lxc(&["profile", "delete", "--project", &project, &stranger]).expect("delete the other profile");
    assert_eq!(backend.get(&target).await.unwrap(), None);
    assert!(backend.list(&user, None).await.unwrap().is_empty());
    assert!(matches!(backend.start(&target).await, Err(BackendError::NotLaunched(n)) if n == "dev"));
    assert!(matches!(backend.stop(&target, StopMode::Clean).await, Err(BackendError::NotLaunched(_))));
}

/// Whether this host's lxcfs adds a post-stop hook that only sleeps (Debian's does).
fn lxcfs_sleeps() -> bool {
    let conf =
        std::fs::read_to_string("/usr/share/lxc/config/common.conf.d/00-lxcfs.conf").unwrap_or_default();
    let hook = std::fs::read_to_string("/usr/share/lxcfs/lxc.reboot.hook").unwrap_or_default();
    conf.contains("lxc.hook.post-stop = /usr/share/lxcfs/lxc.reboot.hook")
        && hook.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).eq(["sleep 0.5s"])
}

/// A started workshop's post-stop hooks are learned from its start: lxcfs's sleep only on a
/// reboot, and LXD's own hook for the instance's name, without which LXD fails a stop after
/// waiting 30 s for it.
async fn post_stop_hooks(backend: &LxdBackend, target: &Target) {
    let raw = backend.get(target).await.unwrap().unwrap().config["raw.lxc"].clone();
    assert!(raw.starts_with("lxc.mount.entry = tmpfs tmp tmpfs defaults\n"), "{raw}");
    if !lxcfs_sleeps() {
        eprintln!("no sleep-only lxcfs hook on this host: post-stop hooks left to LXD");
        return;
    }
    let instance = target.instance_name();
    let project = format!("workshop.{}", target.user);
    let lines: Vec<&str> = raw.lines().skip(1).collect();
    assert_eq!(lines[0], "lxc.hook.post-stop =", "{raw}");
    assert_eq!(lines[1], "lxc.hook.post-stop = /bin/sh -c '[ \"$LXC_TARGET\" != reboot ] || sleep 0.5s'");
    assert!(
        lines[2].ends_with(&format!(" callhook /var/lib/lxd \"{project}\" \"{instance}\" stop")),
        "{raw}"
    );
    // Started again with the hooks: LXD's ran (its stop succeeds), the sleep did not.
    common::lxc(&["restart", "--force", "--project", &project, &instance]).expect("restart with the hooks");
    backend.wait_ready(target).await.expect("up again");
    let conf = common::lxc(&["query", &format!("/1.0/instances/{instance}/logs/lxc.conf?project={project}")])
        .expect("lxc.conf");
    assert_eq!(
        conf.lines().filter(|l| *l == lines[2]).count(),
        2,
        "LXD's hook, then the same in raw.lxc: {conf}"
    );
    let stopped = std::time::Instant::now();
    common::lxc(&["stop", "--force", "--project", &project, &instance]).expect("LXD's stop hook ran");
    eprintln!("forced stop with the hooks: {} ms", stopped.elapsed().as_millis());
    backend.start(target).await.expect("start after the forced stop");
    backend.wait_ready(target).await.expect("up after the forced stop");
}

async fn commands(backend: &LxdBackend, target: &Target) {
    let out = backend.run(target, &common::command(&["id", "-u"])).await.unwrap();
    assert_eq!((out.exit_code, out.stdout.as_slice()), (0, &b"0\n"[..]));

    let as_user = ExecSpec { uid: 1000, gid: 1000, ..common::command(&["id", "-u"]) };
    let out = backend.run(target, &as_user).await.unwrap();
    assert_eq!(out.stdout, b"1000\n");

    let with_input = ExecSpec { stdin: b"through stdin".to_vec(), ..common::command(&["cat"]) };
    let out = backend.run(target, &with_input).await.unwrap();
    assert_eq!(out.stdout, b"through stdin");

    let failing = common::command(&["sh", "-c", "echo out; echo err >&2; exit 7"]);
    let out = backend.run(target, &failing).await.unwrap();
    assert_eq!(
        (out.exit_code, out.stdout.as_slice(), out.stderr.as_slice()),
        (7, &b"out\n"[..], &b"err\n"[..])
    );

    let mut env = common::command(&["sh", "-c", "echo $GREETING; pwd"]);
    env.env.insert("GREETING".into(), "hi".into());
    env.cwd = Some("/tmp".into());
    assert_eq!(backend.run(target, &env).await.unwrap().stdout, b"hi\n/tmp\n");

    // LXD reports a missing command as exit status 127, with nothing on the streams.
    let out = backend.run(target, &common::command(&["no-such-command"])).await.unwrap();
    assert_eq!(out.exit_code, 127);

    // Short commands lose no output (LXD 5.0.2 used to drop it when sockets connected out of
    // order).
    for i in 0..50 {
        let out = backend.run(target, &common::command(&["echo", &format!("run {i}")])).await.unwrap();
        assert_eq!(out.stdout, format!("run {i}\n").into_bytes(), "run {i}");
    }
}

async fn sessions(backend: &LxdBackend, target: &Target) {
    // Input flows through `cat`; closing it ends the command.
    let mut session = backend.exec(target, &common::command(&["cat"])).await.expect("exec cat");
    session.stdin.send(Bytes::from_static(b"ping\n")).await.unwrap();
    common::read_until(&mut session.stdout, "ping\n").await;
    session.stdin.send(Bytes::from_static(b"pong\n")).await.unwrap();
    common::read_until(&mut session.stdout, "pong\n").await;
    drop(session.stdin);
    assert_eq!(common::read_all(&mut session.stdout).await, "");
    assert_eq!(common::exit_code(session.exit).await, 0);

    // Exit codes and stderr. (LXD 5.0.2 may drop what a command writes just before it exits
    // when the machine is busy, hence the pauses before exiting here and below.)
    let mut session = backend
        .exec(target, &common::command(&["sh", "-c", "echo oops >&2; sleep 1; exit 3"]))
        .await
        .expect("exec sh");
    let mut stderr = session.stderr.take().expect("stderr without a pty");
    assert_eq!(common::read_all(&mut stderr).await, "oops\n");
    assert_eq!(common::read_all(&mut session.stdout).await, "");
    assert_eq!(common::exit_code(session.exit).await, 3);

    // A pty: one stream, window size, input.
    let spec = ExecSpec {
        interactive: true,
        width: 90,
        height: 20,
        ..common::command(&["sh", "-c", "stty size; read x; stty size; echo got:$x; sleep 1; exit 5"])
    };
    let mut session = backend.exec(target, &spec).await.expect("exec on a pty");
    assert!(session.stderr.is_none());
    common::read_until(&mut session.stdout, "20 90").await;
    session.control.send(SessionControl::Resize { width: 100, height: 30 }).await.unwrap();
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    session.stdin.send(Bytes::from_static(b"abc\r")).await.unwrap();
    let text = common::read_until(&mut session.stdout, "got:abc").await;
    assert!(text.contains("30 100"), "{text:?}");
    assert_eq!(common::exit_code(session.exit).await, 5);

    // A signal ends a long command.
    let session = backend.exec(target, &common::command(&["sleep", "60"])).await.expect("exec sleep");
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    session.control.send(SessionControl::Signal(15)).await.unwrap();
    assert_eq!(common::exit_code(session.exit).await, 128 + 15);
}

async fn files(backend: &LxdBackend, target: &Target) {
    let file = GuestFile {
        path: "/home/wst/deep/dir/note.txt".into(),
        content: b"pushed\n".to_vec(),
        uid: 1000,
        gid: 1000,
        mode: 0o640,
    };
    backend.push_file(target, &file).await.expect("push with missing parents");
    let out = backend.run(target, &common::command(&["cat", &file.path])).await.unwrap();
    assert_eq!(out.stdout, b"pushed\n");
    let stat = |path: &str| common::command(&["stat", "-c", "%u %g %a", path]);
    let out = backend.run(target, &stat(&file.path)).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1000 1000 640");
    let out = backend.run(target, &stat("/home/wst/deep")).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1000 1000 755");
    let out = backend.run(target, &stat("/home")).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0 0 755", "existing parents are left alone");

    let overwrite = GuestFile { content: b"again\n".to_vec(), uid: 0, gid: 0, mode: 0o600, ..file };
    backend.push_file(target, &overwrite).await.expect("overwrite");
    let out = backend.run(target, &common::command(&["cat", &overwrite.path])).await.unwrap();
    assert_eq!(out.stdout, b"again\n");

    let relative = GuestFile { path: "relative.txt".into(), ..overwrite };
    assert!(backend.push_file(target, &relative).await.is_err());
}

async fn devices(backend: &LxdBackend, target: &Target) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("f"), "from the host\n").unwrap();
    let device: Device = [("type", "disk"), ("source", dir.path().to_str().unwrap()), ("path", "/mnt/x")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    backend.set_device(target, "x", &device).await.expect("set_device");
    backend.set_device(target, "x", &device).await.expect("set_device again");
    let out = backend.run(target, &common::command(&["cat", "/mnt/x/f"])).await.unwrap();
    assert_eq!(out.stdout, b"from the host\n", "{}", out.combined());
    assert_eq!(backend.get(target).await.unwrap().unwrap().devices["x"], device);

    backend.remove_device(target, "x").await.expect("remove_device");
    backend.remove_device(target, "x").await.expect("remove a missing device");
    let out = backend.run(target, &common::command(&["test", "-e", "/mnt/x/f"])).await.unwrap();
    assert_ne!(out.exit_code, 0);
    assert!(!backend.get(target).await.unwrap().unwrap().devices.contains_key("x"));

    // A device and config keys in one update.
    let key = [("user.workshop.with-device".to_string(), Some("1".to_string()))];
    backend.set_device_and_config(target, "x", &device, &key).await.expect("set_device_and_config");
    let instance = backend.get(target).await.unwrap().unwrap();
    assert_eq!(
        (instance.devices["x"].clone(), instance.workshop_config("with-device")),
        (device.clone(), Some("1"))
    );
    let out = backend.run(target, &common::command(&["cat", "/mnt/x/f"])).await.unwrap();
    assert_eq!(out.stdout, b"from the host\n", "{}", out.combined());
    backend.remove_device(target, "x").await.unwrap();

    // Profiles of two SDKs, dropped together (with one that has none).
    for (sdk, path) in [("one", "/mnt/p1"), ("two", "/mnt/p2")] {
        let mut at = device.clone();
        at.insert("path".into(), path.into());
        let devices = [(format!("{sdk}-dir"), at)].into_iter().collect();
        backend.set_profile(target, sdk, &devices).await.expect("set_profile");
    }
    let out = backend.run(target, &common::command(&["cat", "/mnt/p1/f", "/mnt/p2/f"])).await.unwrap();
    assert_eq!(out.exit_code, 0, "{}", out.combined());
    // A profile in use that the running instance cannot take (LXD keeps such a change,
    // "profile change still saved") is put back as it was.
    let project = format!("workshop.{}", target.user);
    let profile = format!("{}-one", target.instance_name());
    let shown = || common::lxc(&["profile", "show", "--project", &project, &profile]).unwrap_or_default();
    let before = shown();
    let mut gone = device.clone();
    gone.insert("source".into(), "/wst-no-such-dir".into());
    gone.insert("path".into(), "/mnt/gone".into());
    let devices = [("one-gone".to_string(), gone)].into_iter().collect();
    backend.set_profile(target, "one", &devices).await.expect_err("a device LXD cannot plug in");
    assert_eq!(shown(), before, "the profile as it was");
    let out = backend.run(target, &common::command(&["cat", "/mnt/p1/f"])).await.unwrap();
    assert_eq!(out.exit_code, 0, "{}", out.combined());
    let sdks = ["one", "two", "none"].map(String::from);
    backend.drop_profiles(target, &sdks).await.expect("drop_profiles");
    backend.drop_profiles(target, &sdks).await.expect("drop_profiles again");
    let out = backend.run(target, &common::command(&["test", "-e", "/mnt/p1/f"])).await.unwrap();
    assert_ne!(out.exit_code, 0, "detached");
    let left = common::lxc(&["profile", "list", "--project", &project, "-f", "csv"]).unwrap_or_default();
    assert!(!left.contains(&target.instance_name()), "deleted: {left}");
}
