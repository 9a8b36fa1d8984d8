//! Interfaces and connections on the real LXD: mounts of host directories (acceptance M-01,
//! M-06 for a read-only host mount, M-07), made at launch, staged for LXD as the user, kept
//! across a stop and a start, removed with the workshop.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use workshop_integration::{Daemon, Project, lxd_enabled, lxd_shared, test_user, user_home, user_ids};

/// FX-mount in `P/.workshop/test-sdk-mount/`.
fn mount_sdk(p: &Project) {
    p.write(
        ".workshop/test-sdk-mount/sdk.yaml",
        "name: test-sdk-mount
plugs:
  one:
    interface: mount
    workshop-target: /mnt/one
  two:
    interface: mount
    workshop-target: /opt/two
slots:
  jobs:
    interface: mount
    workshop-source: $SDK/jobs
",
    );
    p.write(".workshop/test-sdk-mount/jobs/job.sh", "");
    p.write(".workshop/test-sdk-mount/hooks/setup-base", "mkdir -p /opt/ro-slot\n");
}

/// Removes what a test's workshops leave outside their instances when a test fails: the
/// interface profiles (`<ws>-<pid>-<sdk>`) of the project and the user's workshop data.
/// Declared before the [`Project`], so it runs after the project's instances are deleted.
struct Leftovers {
    user: String,
    project: Option<String>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        let Some(id) = self.project.take() else { return };
        let project = format!("workshop.{}", self.user);
        let out = Command::new("lxc").args(["profile", "list", "--project", &project, "-f", "csv"]).output();
        if let Ok(out) = out {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let name = line.split(',').next().unwrap_or_default();
                if name.contains(&format!("-{id}-")) {
                    let _ =
                        Command::new("lxc").args(["profile", "delete", "--project", &project, name]).status();
                }
            }
        }
        let _ = std::fs::remove_dir_all(user_home(&self.user).join(".local/share/workshop/id").join(&id));
    }
}

/// M-01, M-06 (read-only host mount), M-07: default host sources are created as the user
/// under their data and mounted; they survive a stop and a start; remove deletes them.
#[test]
fn mounts_on_the_host_are_made_kept_and_removed() {
    if !lxd_enabled("mounts_on_the_host_are_made_kept_and_removed") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let mut leftovers = Leftovers { user: user.clone(), project: None };
    let p = Project::new(&user, "mounts");
    p.write(
        "workshop.yaml",
        "name: ws-mount
base: ubuntu@22.04
sdks:
  - name: project-test-sdk-mount
    plugs:
      ro-host:
        interface: mount
        workshop-target: /test
        read-only: true
",
    );
    mount_sdk(&p);
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    let launched = w(&["launch"]);
    assert!(launched.output().is_empty() || launched.output().contains("launched"), "{}", d.log());
    launched.ok();
    let id = p.id().expect("tracked");
    leftovers.project = Some(id.clone());
    let src = |plug: &str| -> PathBuf {
        user_home(&user)
            .join(".local/share/workshop/id")
            .join(&id)
            .join("ws-mount/mount/test-sdk-mount")
            .join(plug)
    };
    let (uid, _) = user_ids(&user);
    for plug in ["one", "two", "ro-host"] {
        let meta = std::fs::metadata(src(plug)).unwrap_or_else(|e| panic!("{plug}: {e}\n{}", d.log()));
        assert!(meta.is_dir(), "{plug}");
        assert_eq!(meta.uid(), uid, "{plug} is the user's");
    }
    // C-01 (one workshop): its connections and, by name, its unconnected plugs and slots.
    let listed = w(&["connections", "ws-mount"]);
    let text = listed.ok();
    for re in [
        r"^INTERFACE\s+PLUG\s+SLOT\s+NOTES$",
        r"^mount\s+ws-mount/test-sdk-mount:one\s+ws-mount/system:mount\s+-$",
        r"^mount\s+ws-mount/test-sdk-mount:two\s+ws-mount/system:mount\s+-$",
        r"^mount\s+ws-mount/test-sdk-mount:ro-host\s+ws-mount/system:mount\s+-$",
        r"^mount\s+-\s+ws-mount/test-sdk-mount:jobs\s+-$",
    ] {
        assert!(listed.has_line(re), "{re}:\n{text}");
    }
    assert!(!text.contains("system:gpu"), "default system slots are not listed:\n{text}");
    // Without a name, the project's connections only.
    let project = w(&["connections"]);
    assert!(project.has_line(r"^mount\s+ws-mount/test-sdk-mount:one\s+ws-mount/system:mount\s+-$"));
    assert!(!project.ok().contains("jobs"), "{}", project.output());
    let json = w(&["connections", "--format", "json"]);
    assert!(json.ok().contains(r#""slot": "ws-mount/system:mount""#), "{}", json.output());
    let yaml = w(&["connections", "--format", "yaml"]);
    assert!(yaml.ok().contains("slot: ws-mount/system:mount"), "{}", yaml.output());
    // C-22.
    let both = w(&["connections", "ws-mount", "--all"]);
    assert!(both.fails().contains("cannot use --all with workshop name"), "{}", both.output());

    let present = "mountpoint -q /mnt/one && mountpoint -q /opt/two && mountpoint -q /test";
    w(&["exec", "--", "bash", "-c", present]).ok();
    // The mount is the host directory: a file written inside is the user's file outside.
    w(&["exec", "--", "bash", "-c", "echo inside > /mnt/one/f"]).ok();
    let f = src("one").join("f");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "inside\n");
    assert_eq!(std::fs::metadata(&f).unwrap().uid(), uid);
    // M-06: a read-only plug refuses writes, even root's.
    w(&["exec", "--uid", "0", "--gid", "0", "--", "touch", "/test/tmp"]).fails();
    assert!(!src("ro-host").join("tmp").exists());

    // M-04 and C-02: disconnect unmounts; the forms of connect mount again, made by hand.
    w(&["disconnect", "ws-mount/test-sdk-mount:one"]).ok();
    w(&["exec", "--", "bash", "-c", "! mountpoint -q /mnt/one"]).ok();
    let listed = w(&["connections", "ws-mount"]);
    assert!(listed.has_line(r"^mount\s+ws-mount/test-sdk-mount:one\s+-\s+-$"), "{}", listed.output());
    w(&["connect", "ws-mount/test-sdk-mount:one", ":mount"]).ok();
    w(&["disconnect", "ws-mount/test-sdk-mount:two", ":mount"]).ok();
    w(&["connect", "ws-mount/test-sdk-mount:two", "ws-mount/system"]).ok();
    // Already connected: nothing to do, and fine.
    w(&["connect", "ws-mount/test-sdk-mount:two", "ws-mount/system:mount"]).ok();
    let listed = w(&["connections", "ws-mount"]);
    for plug in ["one", "two"] {
        let re = format!(r"^mount\s+ws-mount/test-sdk-mount:{plug}\s+ws-mount/system:mount\s+manual$");
        assert!(listed.has_line(&re), "{re}\n{}", listed.output());
    }
    w(&["exec", "--", "bash", "-c", present]).ok();
    w(&["exec", "--", "test", "-f", "/mnt/one/f"]).ok();
    // Refusals: another workshop's slot, a plug that does not exist, nothing to disconnect.
    let across = w(&["connect", "ws-mount/test-sdk-mount:one", "other/system:mount"]);
    assert!(across.fails().contains("cannot connect plugs and slots across different workshops"));
    assert!(w(&["connect", "ws-mount/test-sdk-mount:nope", ":mount"]).fails().contains("no plug"));
    // C-04: a slot alone disconnects everything connected to it; then nothing is left to do.
    w(&["disconnect", "ws-mount/system:mount"]).ok();
    let listed = w(&["connections", "ws-mount"]);
    for plug in ["one", "two", "ro-host"] {
        let re = format!(r"^mount\s+ws-mount/test-sdk-mount:{plug}\s+-\s+-$");
        assert!(listed.has_line(&re), "{re}\n{}", listed.output());
    }
    w(&["exec", "--", "bash", "-c", "! mountpoint -q /mnt/one && ! mountpoint -q /test"]).ok();
    assert!(w(&["disconnect", "ws-mount/system:mount"]).fails().contains("nothing to do"));
    // A host source the user swapped for a symlink is never followed: the connection fails
    // and nothing of where it points is mounted.
    let one = src("one");
    let aside = one.with_file_name("one.aside");
    std::fs::rename(&one, &aside).unwrap();
    std::os::unix::fs::symlink("/etc", &one).unwrap();
    let swapped = w(&["connect", "ws-mount/test-sdk-mount:one", ":mount"]);
    assert!(swapped.fails().contains("cannot"), "{}", swapped.output());
    w(&["exec", "--", "bash", "-c", "! mountpoint -q /mnt/one && ! test -e /mnt/one/passwd"]).ok();
    std::fs::remove_file(&one).unwrap();
    std::fs::rename(&aside, &one).unwrap();
    for plug in ["one", "two", "ro-host"] {
        w(&["connect", &format!("ws-mount/test-sdk-mount:{plug}"), ":mount"]).ok();
    }

    // Stopped and started again: the mounts come back.
    w(&["stop"]).ok();
    w(&["start"]).ok();
    w(&["exec", "--", "bash", "-c", present]).ok();
    w(&["exec", "--", "test", "-f", "/mnt/one/f"]).ok();

    // M-07: remove deletes the default host sources.
    w(&["remove"]).ok();
    for plug in ["one", "two", "ro-host"] {
        assert!(!src(plug).exists(), "{plug} left behind");
    }
    let profiles = Command::new("lxc")
        .args(["profile", "list", "--project", &format!("workshop.{user}"), "-f", "csv"])
        .output()
        .unwrap();
    let profiles = String::from_utf8_lossy(&profiles.stdout);
    assert!(!profiles.contains(&format!("-{id}-")), "profiles left behind: {profiles}");
    // C-06: nothing of the connections is left for a new launch.
    assert!(w(&["connections"]).ok().is_empty());
}

/// C-15 and C-02 (plug-only form): a gpu plug connects at launch on a host without a GPU,
/// by hand again after a disconnect, and the workshop starts again.
#[test]
fn gpu_plugs_connect_without_a_gpu() {
    if !lxd_enabled("gpu_plugs_connect_without_a_gpu") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let mut leftovers = Leftovers { user: user.clone(), project: None };
    let p = Project::new(&user, "gpu");
    p.write(
        ".workshop/ws-gpu.yaml",
        "name: ws-gpu\nbase: ubuntu@22.04\nsdks:\n  - name: project-test-sdk-gpu\n",
    );
    p.write(".workshop/test-sdk-gpu/sdk.yaml", "name: test-sdk-gpu\nplugs:\n  gpu:\n");
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    w(&["launch", "ws-gpu"]).ok();
    leftovers.project = p.id();
    let row = |notes: &str| format!(r"^gpu\s+ws-gpu/test-sdk-gpu:gpu\s+ws-gpu/system:gpu\s+{notes}$");
    let listed = w(&["connections", "ws-gpu"]);
    assert!(listed.has_line(&row("-")), "{}", listed.output());
    w(&["disconnect", "ws-gpu/test-sdk-gpu:gpu"]).ok();
    let listed = w(&["connections", "ws-gpu"]);
    assert!(listed.has_line(r"^gpu\s+ws-gpu/test-sdk-gpu:gpu\s+-\s+-$"), "{}", listed.output());
    w(&["connect", "ws-gpu/test-sdk-gpu:gpu"]).ok();
    let listed = w(&["connections", "ws-gpu"]);
    assert!(listed.has_line(&row("manual")), "{}", listed.output());
    w(&["stop", "ws-gpu"]).ok();
    w(&["start", "ws-gpu"]).ok();
    assert!(w(&["list"]).has_line(r"^ws-gpu\s+Ready"));
    // X-01: completion of plug and slot names.
    let complete = |words: &[&str]| {
        let index = (words.len() - 1).to_string();
        let env = [
            ("COMPLETE", "bash"),
            ("_CLAP_IFS", "\n"),
            ("_CLAP_COMPLETE_INDEX", index.as_str()),
            ("_CLAP_COMPLETE_COMP_TYPE", "9"),
            ("_CLAP_COMPLETE_SPACE", "false"),
        ];
        let mut args = vec!["--"];
        args.extend_from_slice(words);
        d.cli_as(Some(&user), &p.path, &args, &env).ok().lines().map(String::from).collect::<Vec<_>>()
    };
    assert_eq!(complete(&["workshop", "connect", "ws-gpu/test"]), ["ws-gpu/test-sdk-gpu:gpu"]);
    assert!(complete(&["workshop", "disconnect", "ws-gpu/"]).contains(&"ws-gpu/system:gpu".to_string()));
    // X-01 step 3: a remount's host directory, as bash's own directory completion gives it.
    std::fs::create_dir_all(p.path.join("tmp/tmp")).unwrap();
    let typed = format!("{}/tmp/t", p.path.display());
    let offered = complete(&["workshop", "remount", "ws-gpu/test-sdk-gpu:gpu", &typed]);
    assert_eq!(offered.first(), Some(&format!("{}/tmp/tmp", p.path.display())), "{offered:?}");
    w(&["remove", "ws-gpu"]).ok();
}

/// M-09, M-11, M-12, M-15: remount while running (the directory moves, the mount follows),
/// onto a non-empty directory (refused while running), while stopped; remove leaves
/// remounted directories alone.
#[test]
fn remount_running_and_stopped() {
    if !lxd_enabled("remount_running_and_stopped") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let mut leftovers = Leftovers { user: user.clone(), project: None };
    let p = Project::new(&user, "remount");
    p.write(
        "workshop.yaml",
        "name: ws-remount\nbase: ubuntu@22.04\nsdks:\n  - name: project-test-sdk-mount\n",
    );
    mount_sdk(&p);
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    w(&["launch"]).ok();
    let id = p.id().expect("tracked");
    leftovers.project = Some(id.clone());
    let src = |plug: &str| -> PathBuf {
        user_home(&user)
            .join(".local/share/workshop/id")
            .join(&id)
            .join("ws-remount/mount/test-sdk-mount")
            .join(plug)
    };
    let (uid, _) = user_ids(&user);

    // M-09: running; a relative SOURCE is the current directory's.
    w(&["exec", "--", "bash", "-c", "echo before > /mnt/one/f"]).ok();
    w(&["remount", "ws-remount/test-sdk-mount:one", "one-host"]).ok();
    let one = p.path.join("one-host");
    assert!(one.is_dir() && !src("one").exists(), "{}", d.log());
    assert_eq!(std::fs::read_to_string(one.join("f")).unwrap(), "before\n");
    w(&["exec", "--", "bash", "-c", "echo after > /mnt/one/g"]).ok();
    assert_eq!(std::fs::read_to_string(one.join("g")).unwrap(), "after\n");
    assert_eq!(std::fs::metadata(one.join("g")).unwrap().uid(), uid);

    // M-11: a non-empty directory while running.
    let home = user_home(&user);
    let refused = w(&["remount", "ws-remount/test-sdk-mount:two", home.to_str().unwrap()]);
    let want = format!(
        "source {:?} is not empty; workshop must be stopped to remount safely",
        home.display().to_string()
    );
    assert!(refused.fails().contains(&want), "{}", refused.output());
    assert!(src("two").is_dir(), "nothing moved");

    // M-12: stopped.
    w(&["stop"]).ok();
    w(&["remount", "ws-remount/test-sdk-mount:two", p.path.join("two-host").to_str().unwrap()]).ok();
    w(&["start"]).ok();
    let two = p.path.join("two-host");
    assert!(two.is_dir());
    w(&[
        "exec",
        "--",
        "bash",
        "-c",
        "mountpoint -q /opt/two && echo x > /opt/two/h && mountpoint -q /mnt/one",
    ])
    .ok();
    assert!(two.join("h").is_file());
    w(&["exec", "--", "test", "-f", "/mnt/one/g"]).ok();
    // M-14: the old directory is gone (moved away on the host): the new one is made, and the
    // user is warned in the reference's words.
    let kept = p.path.join("one-kept");
    std::fs::rename(&one, &kept).unwrap();
    let again = p.path.join("one-again");
    w(&["remount", "ws-remount/test-sdk-mount:one", again.to_str().unwrap()]).ok();
    assert!(again.is_dir());
    let warning = format!(
        "cannot find source {:?} for \"ws-remount/test-sdk-mount:one\"; created directory {:?}",
        one.display().to_string(),
        again.display().to_string()
    );
    // (The listing wraps long lines.)
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let warnings = w(&["warnings"]);
    assert!(words(warnings.ok()).contains(&words(&warning)), "{}", warnings.output());
    // A plug not connected to the host cannot be remounted.
    w(&["disconnect", "ws-remount/test-sdk-mount:two"]).ok();
    let unconnected = w(&["remount", "ws-remount/test-sdk-mount:two", "elsewhere"]);
    let want = r#""ws-remount/test-sdk-mount:two" must be connected for remount"#;
    assert!(unconnected.fails().contains(want), "{}", unconnected.output());
    let unknown = w(&["remount", "ws-nope/test-sdk-mount:two", "elsewhere"]);
    let want = r#"cannot access workshop "ws-nope""#;
    assert!(unknown.fails().contains(want), "{}", unknown.output());

    // M-15: remove leaves the remounted directories alone.
    w(&["remove"]).ok();
    assert!(kept.join("g").is_file() && again.is_dir() && two.join("h").is_file());
    assert!(!src("one").exists() && !src("two").exists());
}

/// B-01, B-02, B-03, B-06, B-07: bound plugs as listed after launch, sharing their anchor's
/// host directory (also as `info` shows it), disconnected as a group; an SDK update keeps the
/// bindings, a binding removed from the definition unbinds on refresh.
#[test]
fn bound_plugs_share_their_anchor() {
    if !lxd_enabled("bound_plugs_share_their_anchor") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let mut leftovers = Leftovers { user: user.clone(), project: None };
    let p = Project::new(&user, "bind");
    p.write(
        "workshop.yaml",
        "name: ws-bind
base: ubuntu@22.04
sdks:
  - name: project-test-sdk-mount
    plugs:
      two:
        bind: test-sdk-multiple-plugs:two
  - name: project-test-sdk-multiple-plugs
    plugs:
      one:
        bind: test-sdk-mount:one
  - name: project-test-sdk-ssh-agent
    plugs:
      ssh-agent:
        bind: test-sdk-multiple-plugs:ssh-agent
",
    );
    mount_sdk(&p);
    p.write(
        ".workshop/test-sdk-multiple-plugs/sdk.yaml",
        "name: test-sdk-multiple-plugs
plugs:
  one:
    interface: mount
    workshop-target: /mnt/one
  two:
    interface: mount
    workshop-target: /opt/two
  ssh-agent:
    interface: ssh-agent
",
    );
    p.write(".workshop/test-sdk-ssh-agent/sdk.yaml", "name: test-sdk-ssh-agent\nplugs:\n  ssh-agent:\n");
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    w(&["launch"]).ok();
    let id = p.id().expect("tracked");
    leftovers.project = Some(id.clone());
    let listed = w(&["connections", "ws-bind"]);
    let want = "\
INTERFACE  PLUG                                       SLOT                         NOTES
mount      -                                          ws-bind/test-sdk-mount:jobs  -
mount      ws-bind/test-sdk-mount:one                 ws-bind/system:mount         bind.2
mount      ws-bind/test-sdk-mount:two                 ws-bind/system:mount         bind.5
mount      ws-bind/test-sdk-multiple-plugs:one        ws-bind/system:mount         bind.2
mount      ws-bind/test-sdk-multiple-plugs:two        ws-bind/system:mount         bind.5
ssh-agent  ws-bind/test-sdk-multiple-plugs:ssh-agent  -                            bind.6
ssh-agent  ws-bind/test-sdk-ssh-agent:ssh-agent       -                            bind.6
";
    assert_eq!(listed.ok(), want);
    // B-02: the anchors' directories, one per group.
    let mounts = user_home(&user).join(".local/share/workshop/id").join(&id).join("ws-bind/mount");
    assert!(
        mounts.join("test-sdk-mount/one").is_dir() && mounts.join("test-sdk-multiple-plugs/two").is_dir()
    );
    assert!(
        !mounts.join("test-sdk-multiple-plugs/one").exists() && !mounts.join("test-sdk-mount/two").exists()
    );
    // B-03.
    w(&["disconnect", "ws-bind/test-sdk-multiple-plugs:two"]).ok();
    let listed = w(&["connections", "ws-bind"]);
    for plug in ["test-sdk-mount:two", "test-sdk-multiple-plugs:two"] {
        let re = format!(r"^mount\s+ws-bind/{plug}\s+-\s+bind\.5$");
        assert!(listed.has_line(&re), "{re}\n{}", listed.output());
    }
    // B-02 as info shows it: each bound plug has its anchor's host directory.
    let one = info_mounts(&w, "test-sdk-multiple-plugs");
    assert!(
        one["one"]["host-source"].as_str().unwrap_or_default().ends_with("test-sdk-mount/one"),
        "{one:?}"
    );
    w(&["connect", "ws-bind/test-sdk-mount:two", ":mount"]).ok();
    let two = info_mounts(&w, "test-sdk-mount");
    let source = two["two"]["host-source"].as_str().unwrap_or_default();
    assert!(source.ends_with("test-sdk-multiple-plugs/two"), "{two:?}");
    // B-06: an SDK update keeps the bindings; the manual marks are gone.
    p.write(".workshop/test-sdk-mount/NOTES", "changed\n");
    let refreshed = w(&["refresh"]);
    assert_eq!(refreshed.code, 0, "{}\n{}", refreshed.output(), d.log());
    assert_eq!(w(&["connections", "ws-bind"]).ok(), want);
    // B-07: a binding removed from the definition unbinds on refresh.
    let unbound = std::fs::read_to_string(p.path.join("workshop.yaml"))
        .unwrap()
        .replace("    plugs:\n      ssh-agent:\n        bind: test-sdk-multiple-plugs:ssh-agent\n", "");
    p.write("workshop.yaml", &unbound);
    let refreshed = w(&["refresh"]);
    assert_eq!(refreshed.code, 0, "{}\n{}", refreshed.output(), d.log());
    let listed = w(&["connections", "ws-bind"]);
    let text = listed.ok();
    assert!(
        text.contains(
            "ssh-agent  ws-bind/test-sdk-multiple-plugs:ssh-agent  -                            -\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "ssh-agent  ws-bind/test-sdk-ssh-agent:ssh-agent       -                            -\n"
        ),
        "{text}"
    );
    w(&["remove"]).ok();
}

/// C-26 and C-17 (listed connection), with real traffic: a TCP service inside the workshop
/// reached from the host through a system plug; the manual form (C-18); disconnect closes it;
/// a host port taken is said with its holder; a unix socket of the user's on the host reached
/// from inside, one only root may open not.
#[test]
fn tcp_tunnels_carry_traffic() {
    if !lxd_enabled("tcp_tunnels_carry_traffic") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let mut leftovers = Leftovers { user: user.clone(), project: None };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let p = Project::new(&user, "tunnel");
    p.write(
        "workshop.yaml",
        &format!(
            "name: dev
base: ubuntu@22.04
sdks:
  - name: project-web
  - name: system
    plugs:
      web:
        interface: tunnel
        endpoint: 127.0.0.1:{port}
    slots:
      hostsock:
        interface: tunnel
        endpoint: $HOME/wst-tunnel-host.sock
      rootsock:
        interface: tunnel
        endpoint: $HOME/wst-tunnel-root.sock
connections:
  - plug: system:web
    slot: web:http
"
        ),
    );
    p.write(
        ".workshop/web/sdk.yaml",
        "name: web\nslots:\n  http:\n    interface: tunnel\n    endpoint: 8080\nplugs:\n  hostsock:\n    interface: tunnel\n    endpoint: $XDG_RUNTIME_DIR/host.sock\n  rootsock:\n    interface: tunnel\n    endpoint: /tmp/root.sock\n",
    );
    p.write("hello-from-project", "hello\n");
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    w(&["launch"]).ok();
    leftovers.project = p.id();
    let listed = w(&["connections", "--all"]);
    assert!(listed.has_line(r"^tunnel\s+dev/system:web\s+dev/web:http\s+-$"), "{}", listed.output());
    w(&[
        "exec",
        "--",
        "systemd-run",
        "--user",
        "--working-directory=/project",
        "--",
        "python3",
        "-m",
        "http.server",
        "8080",
    ])
    .ok();
    let fetch = || -> String {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "2", &format!("http://127.0.0.1:{port}/")])
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut body = fetch();
    while !body.contains("hello-from-project") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(300));
        body = fetch();
    }
    assert!(body.contains("hello-from-project"), "{body}\n{}", d.log());
    // Disconnected, the host port is closed; connected by hand, it carries traffic again.
    w(&["disconnect", "dev/system:web"]).ok();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "port still open");
    // Issue 13 item 6: a host port someone else holds is said at connect time, with who.
    let held = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let taken = w(&["connect", "dev/system:web", "dev/web:http"]);
    let want = format!("listen tcp 127.0.0.1:{port}: bind: address already in use; it is held by ");
    assert!(taken.fails().contains(&want), "{}", taken.output());
    // This test process (or a child of another test, forked before its exec): root.
    assert!(taken.output().contains(", uid 0)"), "{}", taken.output());
    // With --auto-port it listens on a free port instead, which info shows, and carries
    // traffic there.
    w(&["connect", "--auto-port", "dev/system:web", "dev/web:http"]).ok();
    let info: serde_json::Value = serde_json::from_str(w(&["info", "--format", "json"]).ok()).unwrap();
    // A system plug's tunnel (listening on the host) is the system SDK's, as the reference's.
    let web =
        info["sdks"].as_array().unwrap().iter().find(|s| s["name"] == "system").cloned().unwrap_or_default();
    let from = &web["tunnels"][0]["from"];
    let given = from["port"].as_u64().unwrap_or_else(|| panic!("no tunnel port: {info}")) as u16;
    assert!(given != port && from["host"] == "127.0.0.1", "{info}");
    let text = w(&["info"]);
    assert!(text.output().contains(&format!("127.0.0.1:{given}/tcp")), "{}", text.output());
    let fetch_on = |port: u16| -> String {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "2", &format!("http://127.0.0.1:{port}/")])
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !fetch_on(given).contains("hello-from-project") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert!(fetch_on(given).contains("hello-from-project"));
    w(&["disconnect", "dev/system:web"]).ok();
    drop(held);
    w(&["connect", "dev/system:web", "dev/web:http"]).ok();
    let listed = w(&["connections"]);
    assert!(listed.has_line(r"^tunnel\s+dev/system:web\s+dev/web:http\s+manual$"), "{}", listed.output());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut body = fetch();
    while !body.contains("hello-from-project") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(300));
        body = fetch();
    }
    assert!(body.contains("hello-from-project"), "{body}");

    // A unix socket of the user's on the host, reached from inside through a regular plug on
    // a system slot; one the user may not open stays closed (LXD connects as the user).
    let home = user_home(&user);
    let (host_sock, root_sock) = (home.join("wst-tunnel-host.sock"), home.join("wst-tunnel-root.sock"));
    for sock in [&host_sock, &root_sock] {
        let _ = std::fs::remove_file(sock);
    }
    struct Kill(Vec<std::process::Child>);
    impl Drop for Kill {
        fn drop(&mut self) {
            for child in &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let serve = |as_user: Option<&str>, sock: &PathBuf, text: &str| {
        let listen = format!("UNIX-LISTEN:{},fork,mode=600", sock.display());
        let reply = format!("SYSTEM:echo {text}");
        // socat itself is the child (as the user through its ids, not `runuser`, whose
        // child a kill would leave running, holding the test's output open for ever).
        let mut cmd = Command::new("socat");
        if let Some(u) = as_user {
            use std::os::unix::process::CommandExt;
            let (uid, gid) = user_ids(u);
            cmd.uid(uid).gid(gid);
        }
        cmd.args([listen.as_str(), reply.as_str()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let _servers =
        Kill(vec![serve(Some(&user), &host_sock, "hello-from-host"), serve(None, &root_sock, "root-secret")]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !(host_sock.exists() && root_sock.exists()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    w(&["connect", "dev/web:hostsock", ":hostsock"]).ok();
    w(&["connect", "dev/web:rootsock", ":rootsock"]).ok();
    let read = |path: &str| {
        // Read without closing the writing side first (a half-close may end the tunnel).
        let python = "import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(3); \
                      s.connect(sys.argv[1]); print(s.recv(100).decode())";
        let script = format!(
            "for i in $(seq 30); do out=$(python3 -c '{python}' {path}) && [ -n \"$out\" ] && break; sleep 0.3; done; echo \"$out\""
        );
        w(&["exec", "--", "bash", "-c", &script]).output()
    };
    let got = read("/run/user/1000/host.sock");
    assert!(got.contains("hello-from-host"), "{got}\n{}", d.log());
    let got = read("/tmp/root.sock");
    assert!(!got.contains("root-secret"), "a root-only socket reached: {got}");
    for sock in [&host_sock, &root_sock] {
        let _ = std::fs::remove_file(sock);
    }
    w(&["remove"]).ok();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "port still open after remove");
}

/// Issue 13 item 6 at launch: a tunnel's host port someone holds fails the launch with who
/// holds it (nothing left behind), unless the plug says `auto-port: true`: then the tunnel
/// listens on a free port, which `info` shows.
#[test]
fn taken_host_ports_at_launch() {
    if !lxd_enabled("taken_host_ports_at_launch") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let mut leftovers = Leftovers { user: user.clone(), project: None };
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let p = Project::new(&user, "taken-port");
    let definition = |name: &str, auto: bool| {
        let auto = if auto { "\n        auto-port: true" } else { "" };
        format!(
            "name: {name}\nbase: debian@12\nsdks:\n  - name: project-web\n  - name: system\n    plugs:\n      web:\n        interface: tunnel\n        endpoint: 127.0.0.1:{port}{auto}\nconnections:\n  - plug: system:web\n    slot: web:http\n"
        )
    };
    p.write(".workshop/strict.yaml", &definition("strict", false));
    p.write(".workshop/auto.yaml", &definition("auto", true));
    p.write(
        ".workshop/web/sdk.yaml",
        "name: web\nslots:\n  http:\n    interface: tunnel\n    endpoint: 8080\n",
    );
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    let refused = w(&["launch", "strict"]);
    let want = format!("listen tcp 127.0.0.1:{port}: bind: address already in use; it is held by ");
    assert!(refused.fails().contains(&want), "{}", refused.output());
    leftovers.project = p.id();
    assert!(w(&["list"]).has_line(r"^strict\s+Off\s+-$"), "nothing left of the launch");
    w(&["launch", "auto"]).ok();
    let info: serde_json::Value =
        serde_json::from_str(w(&["info", "--format", "json", "auto"]).ok()).unwrap();
    let web =
        info["sdks"].as_array().unwrap().iter().find(|s| s["name"] == "system").cloned().unwrap_or_default();
    let given = web["tunnels"][0]["from"]["port"].as_u64().unwrap_or_else(|| panic!("{info}"));
    assert_ne!(given, u64::from(port), "{info}");
    // Kept across a stop and a start.
    w(&["stop", "auto"]).ok();
    w(&["start", "auto"]).ok();
    let info: serde_json::Value =
        serde_json::from_str(w(&["info", "--format", "json", "auto"]).ok()).unwrap();
    let web =
        info["sdks"].as_array().unwrap().iter().find(|s| s["name"] == "system").cloned().unwrap_or_default();
    assert_eq!(web["tunnels"][0]["from"]["port"].as_u64(), Some(given), "{info}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", given as u16)).is_ok(), "the given port listens");
    w(&["remove", "auto"]).ok();
    drop(held);
}

/// The mounts of a workshop's SDKs as `info --format json` shows them: plug name → mount.
fn info_mounts(
    w: &dyn Fn(&[&str]) -> workshop_integration::Run,
    sdk: &str,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let info = w(&["info", "--format", "json"]);
    let json: serde_json::Value =
        serde_json::from_str(info.ok()).unwrap_or_else(|e| panic!("{e}: {}", info.output()));
    let sdks = json["sdks"].as_array().cloned().unwrap_or_default();
    let sdk = sdks.iter().find(|s| s["name"] == sdk).unwrap_or_else(|| panic!("no {sdk}: {json}"));
    sdk["mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m["plug"]["plug"].as_str().unwrap_or_default().to_string(), m))
        .collect()
}

/// C-08, C-09, M-20, M-06 step 3 and the MOUNT setup's plugs on its SDK's own slots: plugs
/// connected to another SDK's slot (`workshop-source`) are bind mounts inside the workshop,
/// made at launch, shown by `info`, undone and made again by disconnect and connect, kept
/// across a stop and a start, and made again by a refresh that keeps them (one that drops
/// a plug drops its mount).
#[test]
fn mounts_onto_other_sdks_slots() {
    if !lxd_enabled("mounts_onto_other_sdks_slots") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let mut leftovers = Leftovers { user: user.clone(), project: None };
    let p = Project::new(&user, "slots");
    let definition = "name: ws-slots
base: ubuntu@22.04
sdks:
  - name: project-test-sdk-basic-2
    slots:
      user-slot:
        interface: mount
        workshop-source: /project/user-data-2
  - name: project-test-sdk-mount
    plugs:
      jobs:
        interface: mount
        workshop-target: /etc/cron.weekly
      ro-workshop:
        interface: mount
        workshop-target: /mnt/ro-plug
        read-only: true
      wp-plug:
        interface: mount
        workshop-target: /mnt/wp-plug
    slots:
      ro-source:
        interface: mount
        workshop-source: /opt/ro-slot
  - name: project-uv
  - name: project-jupyter
connections:
  - plug: test-sdk-mount:two
    slot: test-sdk-basic-2:user-slot
  - plug: test-sdk-mount:wp-plug
    slot: test-sdk-basic-2:user-slot
  - plug: test-sdk-mount:jobs
    slot: test-sdk-mount:jobs
  - plug: test-sdk-mount:ro-workshop
    slot: test-sdk-mount:ro-source
  - plug: jupyter:venv
    slot: uv:venv
";
    p.write("workshop.yaml", definition);
    mount_sdk(&p);
    p.write(
        ".workshop/test-sdk-basic-2/sdk.yaml",
        "name: test-sdk-basic-2\nversion: \"1.0\"\nsummary: basic\n",
    );
    p.write(
        ".workshop/uv/sdk.yaml",
        "name: uv\nslots:\n  venv:\n    interface: mount\n    workshop-source: /home/workshop/uv-venv\n",
    );
    p.write(
        ".workshop/uv/hooks/setup-base",
        "mkdir -p /home/workshop/uv-venv\nchown 1000:1000 /home/workshop/uv-venv\n",
    );
    p.write(
        ".workshop/jupyter/sdk.yaml",
        "name: jupyter\nplugs:\n  venv:\n    interface: mount\n    workshop-target: /home/workshop/jupyter-venv\n",
    );
    p.write("user-data-2/from-host", "host\n");
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    let launched = w(&["launch"]);
    assert!(launched.code == 0, "{}\n{}", launched.output(), d.log());
    leftovers.project = p.id();

    // C-08 step 2, M-20 step 1.
    let listed = w(&["connections", "ws-slots"]);
    for re in [
        r"^mount\s+ws-slots/test-sdk-mount:one\s+ws-slots/system:mount\s+-$",
        r"^mount\s+ws-slots/test-sdk-mount:two\s+ws-slots/test-sdk-basic-2:user-slot\s+-$",
        r"^mount\s+ws-slots/test-sdk-mount:wp-plug\s+ws-slots/test-sdk-basic-2:user-slot\s+-$",
        r"^mount\s+ws-slots/test-sdk-mount:jobs\s+ws-slots/test-sdk-mount:jobs\s+-$",
        r"^mount\s+ws-slots/test-sdk-mount:ro-workshop\s+ws-slots/test-sdk-mount:ro-source\s+-$",
        r"^mount\s+ws-slots/jupyter:venv\s+ws-slots/uv:venv\s+-$",
    ] {
        assert!(listed.has_line(re), "{re}:\n{}", listed.output());
    }
    assert!(w(&["connections", "--all"]).has_line(r"ws-slots/jupyter:venv\s+ws-slots/uv:venv"));
    // C-08 step 3: info shows where each mount comes from.
    let mounts = info_mounts(&w, "test-sdk-mount");
    let host = mounts["one"]["host-source"].as_str().unwrap_or_default();
    assert!(host.ends_with("mount/test-sdk-mount/one"), "{mounts:?}");
    for plug in ["two", "wp-plug"] {
        assert_eq!(mounts[plug]["workshop-source"], "/project/user-data-2", "{mounts:?}");
        assert!(mounts[plug].get("host-source").is_none());
    }
    assert_eq!(mounts["jobs"]["workshop-source"], "/var/lib/workshop/sdk/test-sdk-mount/jobs");
    assert_eq!(mounts["jobs"]["workshop-target"], "/etc/cron.weekly");
    let text = w(&["info"]);
    assert!(text.has_line(r"^\s+workshop-source:\s+/project/user-data-2$"), "{}", text.output());
    assert!(text.has_line(r"^\s+host-source:\s+.*test-sdk-mount/one$"), "{}", text.output());

    let present = "mountpoint -q /mnt/wp-plug && mountpoint -q /opt/two && mountpoint -q /etc/cron.weekly \
                   && mountpoint -q /mnt/ro-plug && mountpoint -q /home/workshop/jupyter-venv \
                   && mountpoint -q /mnt/one && test -f /etc/cron.weekly/job.sh \
                   && test -f /mnt/wp-plug/from-host";
    let inside = w(&["exec", "--", "bash", "-c", present]);
    assert!(inside.code == 0, "{}\n{}", inside.output(), d.log());
    // M-20: the jupyter plug is the uv slot's directory.
    w(&[
        "exec",
        "--",
        "bash",
        "-c",
        "touch /home/workshop/jupyter-venv/x && test -f /home/workshop/uv-venv/x",
    ])
    .ok();
    // M-06 steps 2-3: the read-only plug refuses writes; writes through the slot show there.
    w(&["exec", "--", "bash", "-c", "sudo touch /mnt/ro-plug"]).fails();
    w(&["exec", "--", "bash", "-c", "sudo touch /opt/ro-slot/tmp"]).ok();
    w(&["exec", "--", "test", "-f", "/mnt/ro-plug/tmp"]).ok();

    // Disconnect unmounts; the manual form mounts again.
    w(&["disconnect", "ws-slots/test-sdk-mount:wp-plug"]).ok();
    w(&["exec", "--", "bash", "-c", "! mountpoint -q /mnt/wp-plug && mountpoint -q /opt/two"]).ok();
    w(&["connect", "ws-slots/test-sdk-mount:wp-plug", "ws-slots/test-sdk-basic-2:user-slot"]).ok();
    let listed = w(&["connections", "ws-slots"]);
    let re = r"^mount\s+ws-slots/test-sdk-mount:wp-plug\s+ws-slots/test-sdk-basic-2:user-slot\s+manual$";
    assert!(listed.has_line(re), "{}", listed.output());
    w(&["exec", "--", "bash", "-c", present]).ok();

    // Stopped and started again: the boot brings them back.
    w(&["stop"]).ok();
    w(&["start"]).ok();
    let inside = w(&["exec", "--", "bash", "-c", present]);
    assert!(inside.code == 0, "{}\n{}", inside.output(), d.log());
    // Disconnected while stopped: the next boot leaves it out; connected again while running.
    w(&["stop"]).ok();
    w(&["disconnect", "ws-slots/test-sdk-mount:wp-plug"]).ok();
    w(&["start"]).ok();
    w(&["exec", "--", "bash", "-c", "! mountpoint -q /mnt/wp-plug && mountpoint -q /opt/two"]).ok();
    w(&["connect", "ws-slots/test-sdk-mount:wp-plug", "ws-slots/test-sdk-basic-2:user-slot"]).ok();
    w(&["exec", "--", "bash", "-c", present]).ok();

    // C-09: the plug and its connection entry dropped from the definition go with a refresh;
    // the others are made again (M-02).
    let without = definition
        .replace("      wp-plug:\n        interface: mount\n        workshop-target: /mnt/wp-plug\n", "")
        .replace("  - plug: test-sdk-mount:wp-plug\n    slot: test-sdk-basic-2:user-slot\n", "");
    p.write("workshop.yaml", &without);
    let refreshed = w(&["refresh"]);
    assert!(refreshed.code == 0, "{}\n{}", refreshed.output(), d.log());
    let listed = w(&["connections", "ws-slots"]);
    assert!(!listed.ok().contains("wp-plug"), "{}", listed.output());
    assert!(listed.has_line(r"^mount\s+ws-slots/test-sdk-mount:one\s+ws-slots/system:mount\s+-$"));
    assert!(
        listed.has_line(r"^mount\s+ws-slots/test-sdk-mount:two\s+ws-slots/test-sdk-basic-2:user-slot\s+-$")
    );
    let mounts = info_mounts(&w, "test-sdk-mount");
    assert!(mounts["one"]["host-source"].as_str().unwrap_or_default().ends_with("test-sdk-mount/one"));
    assert_eq!(mounts["two"]["workshop-source"], "/project/user-data-2");
    assert!(!mounts.contains_key("wp-plug"));
    let after = "mountpoint -q /opt/two && mountpoint -q /etc/cron.weekly && mountpoint -q /mnt/ro-plug \
                 && mountpoint -q /home/workshop/jupyter-venv && mountpoint -q /mnt/one && ! mountpoint -q /mnt/wp-plug";
    let inside = w(&["exec", "--", "bash", "-c", after]);
    assert!(inside.code == 0, "{}\n{}", inside.output(), d.log());
    // A stopped workshop with mounts between its SDKs is removed.
    w(&["stop"]).ok();
    w(&["remove"]).ok();
}

/// C-17 (the TUNNEL setup as written), C-18, and unix-socket tunnels with real traffic: an
/// abstract socket on the host connected by name to a port inside, and a socket path under
/// the user's home (a link the daemon makes as the user to the socket LXD listens on)
/// connected by hand; `info` shows the tunnels; disconnect removes the link.
#[test]
fn tunnels_of_every_endpoint_form() {
    if !lxd_enabled("tunnels_of_every_endpoint_form") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let mut leftovers = Leftovers { user: user.clone(), project: None };
    let p = Project::new(&user, "tunnels");
    p.write(
        ".workshop.yaml",
        "name: ws-tunnel
base: ubuntu@22.04
sdks:
  - name: system
    plugs:
      auto-connect-by-name:
        interface: tunnel
        endpoint: '@workshopacbn'
      conflict:
        interface: tunnel
        endpoint: '0.0.0.0:8000'
      test-sdk-http:
        interface: tunnel
        endpoint: 8001
      tunnel:
      unix-path:
        interface: tunnel
        endpoint: $HOME/test-tunnel.sock
    slots:
      postgres:
        interface: tunnel
        endpoint: 54321
      unused:
        interface: tunnel
  - name: project-test-sdk-tunnel
connections:
  - plug: system:test-sdk-http
    slot: test-sdk-tunnel:http
",
    );
    p.write(
        ".workshop/test-sdk-tunnel/sdk.yaml",
        "name: test-sdk-tunnel
plugs:
  alias:
    interface: tunnel
  conflict:
    interface: tunnel
    endpoint: 5432
  postgres:
    interface: tunnel
    endpoint: 5432
slots:
  auto-connect-by-name:
    interface: tunnel
    endpoint: 9999
  http:
    interface: tunnel
    endpoint: '[::1]:8000'
  unix-abstract:
    interface: tunnel
    endpoint: '@abstract'
  unused:
    interface: tunnel
",
    );
    p.write("hello-from-project", "hello\n");
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    let launched = w(&["launch"]);
    assert!(launched.code == 0, "{}\n{}", launched.output(), d.log());
    leftovers.project = p.id();
    // C-17.
    let listed = w(&["connections", "ws-tunnel"]);
    for re in [
        r"^tunnel\s+ws-tunnel/test-sdk-tunnel:postgres\s+-\s+-$",
        r"^tunnel\s+-\s+ws-tunnel/system:postgres\s+-$",
        r"^tunnel\s+ws-tunnel/system:auto-connect-by-name\s+ws-tunnel/test-sdk-tunnel:auto-connect-by-name\s+-$",
        r"^tunnel\s+ws-tunnel/system:test-sdk-http\s+ws-tunnel/test-sdk-tunnel:http\s+-$",
    ] {
        assert!(listed.has_line(re), "{re}:\n{}", listed.output());
    }
    // C-18.
    w(&["connect", "ws-tunnel/test-sdk-tunnel:postgres"]).ok();
    w(&["connect", "ws-tunnel/test-sdk-tunnel:alias", ":postgres"]).ok();
    w(&["connect", "ws-tunnel/system:tunnel", "ws-tunnel/test-sdk-tunnel:http"]).ok();
    let listed = w(&["connections", "ws-tunnel"]);
    for re in [
        r"^tunnel\s+ws-tunnel/test-sdk-tunnel:postgres\s+ws-tunnel/system:postgres\s+manual$",
        r"^tunnel\s+ws-tunnel/test-sdk-tunnel:alias\s+ws-tunnel/system:postgres\s+manual$",
        r"^tunnel\s+ws-tunnel/system:test-sdk-http\s+ws-tunnel/test-sdk-tunnel:http\s+-$",
        r"^tunnel\s+ws-tunnel/system:tunnel\s+ws-tunnel/test-sdk-tunnel:http\s+manual$",
    ] {
        assert!(listed.has_line(re), "{re}:\n{}", listed.output());
    }

    // Services inside: on [::1]:8000 (the http slot) and 9999 (auto-connect-by-name).
    for (bind, port) in [("::1", "8000"), ("127.0.0.1", "9999")] {
        w(&[
            "exec",
            "--",
            "systemd-run",
            "--user",
            "--working-directory=/project",
            "--",
            "python3",
            "-m",
            "http.server",
            "--bind",
            bind,
            port,
        ])
        .ok();
    }
    let fetch = |how: &[&str]| -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let mut args = vec!["-u", user.as_str(), "--", "curl", "-s", "--max-time", "2"];
            args.extend_from_slice(how);
            args.push("http://localhost/");
            let out = Command::new("runuser").args(&args).output().unwrap();
            let body = String::from_utf8_lossy(&out.stdout).into_owned();
            if body.contains("hello-from-project") || std::time::Instant::now() > deadline {
                return body;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    };
    // An abstract socket on the host.
    let body = fetch(&["--abstract-unix-socket", "workshopacbn"]);
    assert!(body.contains("hello-from-project"), "{body}\n{}", d.log());
    // A socket path in the user's home, connected by hand to the http slot.
    let sock = user_home(&user).join("test-tunnel.sock");
    let _ = std::fs::remove_file(&sock);
    w(&["connect", "ws-tunnel/system:unix-path", "ws-tunnel/test-sdk-tunnel:http"]).ok();
    let meta = std::fs::symlink_metadata(&sock).unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let (uid, _) = user_ids(&user);
    assert!(meta.file_type().is_symlink() && meta.uid() == uid, "the user's link");
    let body = fetch(&["--unix-socket", sock.to_str().unwrap()]);
    assert!(body.contains("hello-from-project"), "{body}\n{}", d.log());
    // Another user cannot use it.
    let other = workshop_integration::test_user2();
    let out = Command::new("runuser")
        .args(["-u", &other, "--", "curl", "-s", "--max-time", "2", "--unix-socket"])
        .arg(&sock)
        .arg("http://localhost/")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hello"), "another user got through");
    // info shows the tunnels listening on the host under the system SDK, by plug name,
    // socket paths expanded.
    let info = w(&["info"]);
    let text = info.output();
    let system = text.find("\n  system:\n    installed:").unwrap_or_else(|| panic!("{text}"));
    assert!(text[system..].lines().nth(3) == Some("    tunnels:"), "{text}");
    let listed: Vec<&str> = text[system..]
        .lines()
        .skip(4)
        .take_while(|l| l.starts_with("    "))
        .filter(|l| l.starts_with("      ") && !l.starts_with("       "))
        .map(str::trim)
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "{text}");
    assert!(listed.contains(&"unix-path:"), "{text}");
    let home = workshop_integration::user_home(&user);
    assert!(text.contains(&format!("from:  {}/test-tunnel.sock\n", home.display())), "{text}");
    assert!(info.has_line(r"^\s+from:\s+'@workshopacbn'$"), "{}", info.output());
    // Disconnected, the link goes; connected again, the same socket serves again, also
    // after a stop and a start (LXD listens again where it listened before).
    w(&["disconnect", "ws-tunnel/system:unix-path"]).ok();
    assert!(std::fs::symlink_metadata(&sock).is_err(), "link left behind");
    // And the socket LXD listened on (LXD leaves it).
    let staged = d.dir.path().join("run/tunnels").join(uid.to_string());
    let left: Vec<_> =
        std::fs::read_dir(&staged).map(|r| r.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    w(&["connect", "ws-tunnel/system:unix-path", "ws-tunnel/test-sdk-tunnel:http"]).ok();
    w(&["stop"]).ok();
    w(&["start"]).ok();
    for (bind, port) in [("::1", "8000"), ("127.0.0.1", "9999")] {
        let serve = ["exec", "--", "systemd-run", "--user", "--working-directory=/project", "--"];
        let mut args = serve.to_vec();
        args.extend(["python3", "-m", "http.server", "--bind", bind, port]);
        w(&args).ok();
    }
    let body = fetch(&["--unix-socket", sock.to_str().unwrap()]);
    assert!(body.contains("hello-from-project"), "{body}\n{}", d.log());
    let body = fetch(&["--abstract-unix-socket", "workshopacbn"]);
    assert!(body.contains("hello-from-project"), "{body}");
    // A link in the user's way is not replaced: the connection is refused.
    w(&["disconnect", "ws-tunnel/system:unix-path"]).ok();
    std::fs::write(&sock, "mine").unwrap();
    let refused = w(&["connect", "ws-tunnel/system:unix-path", "ws-tunnel/test-sdk-tunnel:http"]);
    assert!(refused.fails().contains("cannot listen on"), "{}", refused.output());
    assert_eq!(std::fs::read_to_string(&sock).unwrap(), "mine");
    let listed = w(&["connections", "ws-tunnel"]);
    assert!(listed.has_line(r"^tunnel\s+ws-tunnel/system:unix-path\s+-\s+-$"), "{}", listed.output());
    std::fs::remove_file(&sock).unwrap();
    w(&["remove"]).ok();
}

/// The UVDEV setup on one workshop (with FX-gpu added for C-03): M-17 (plugs declared on an
/// SDK in the definition get host sources), M-20, M-18 and M-19 (remount while stopped onto
/// the user's directories, read-only kept), M-10 and C-03 (refreshes keep remounts and a
/// manual disconnect), M-03 (a failed refresh keeps every mount, also those between SDKs),
/// M-22 (restore resets manual connections).
#[test]
fn uv_mounts_remounts_refreshes_and_restore() {
    if !lxd_enabled("uv_mounts_remounts_refreshes_and_restore") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let mut leftovers = Leftovers { user: user.clone(), project: None };
    let p = Project::new(&user, "uvdev");
    let definition = "name: dev
base: ubuntu@24.04
sdks:
  - name: project-uv
    plugs:
      data:
        interface: mount
        workshop-target: /home/workshop/data
      shared:
        interface: mount
        workshop-target: /home/workshop/shared
      readonly:
        interface: mount
        workshop-target: /home/workshop/readonly
        read-only: true
  - name: project-jupyter
  - name: project-test-sdk-gpu
connections:
  - plug: jupyter:venv
    slot: uv:venv
";
    p.write("workshop.yaml", definition);
    p.write(
        ".workshop/uv/sdk.yaml",
        "name: uv\nslots:\n  venv:\n    interface: mount\n    workshop-source: /home/workshop/uv-venv\n",
    );
    p.write(
        ".workshop/uv/hooks/setup-base",
        "mkdir -p /home/workshop/uv-venv\nchown 1000:1000 /home/workshop/uv-venv\n",
    );
    p.write(
        ".workshop/jupyter/sdk.yaml",
        "name: jupyter\nplugs:\n  venv:\n    interface: mount\n    workshop-target: /home/workshop/jupyter-venv\n",
    );
    p.write(".workshop/test-sdk-gpu/sdk.yaml", "name: test-sdk-gpu\nplugs:\n  gpu:\n");
    p.write(".workshop/test-sdk-setup-fail/sdk.yaml", "name: test-sdk-setup-fail\n");
    p.write(
        ".workshop/test-sdk-setup-fail/hooks/setup-base",
        "if [ ! -e /home/workshop/setup-base-pass ]; then echo 'Set up base failed!'; exit 1; fi\n",
    );
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    let launched = w(&["launch"]);
    assert_eq!(launched.code, 0, "{}\n{}", launched.output(), d.log());
    let id = p.id().expect("tracked");
    leftovers.project = Some(id.clone());
    let home = user_home(&user);
    let s = home.join(".local/share/workshop/id").join(&id).join("dev/mount/uv");
    // M-17.
    assert!(s.join("data").is_dir(), "{}", d.log());
    w(&[
        "exec",
        "--",
        "bash",
        "-c",
        "mountpoint -q /home/workshop/data && echo persisted > /home/workshop/data/file.txt",
    ])
    .ok();
    assert_eq!(std::fs::read_to_string(s.join("data/file.txt")).unwrap(), "persisted\n");
    // M-20.
    let listed = w(&["connections", "dev"]);
    assert!(listed.has_line(r"^mount\s+dev/jupyter:venv\s+dev/uv:venv"), "{}", listed.output());
    w(&["exec", "--", "mountpoint", "-q", "/home/workshop/jupyter-venv"]).ok();

    // M-18 and M-19: the user's directories, remounted while stopped.
    let (uid, gid) = user_ids(&user);
    let own = |path: &std::path::Path| {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    };
    let datasets = home.join("wst-uvdev-datasets");
    let refdata = home.join("wst-uvdev-refdata");
    for (dir, file, text) in [(&datasets, "file.txt", "hello"), (&refdata, "note.txt", "reference")] {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir(dir).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
        own(dir);
        own(&dir.join(file));
    }
    let _gone = workshop_integration::RemovedOnDrop(vec![datasets.clone(), refdata.clone()]);
    w(&["stop", "dev"]).ok();
    w(&["remount", "dev/uv:shared", datasets.to_str().unwrap()]).ok();
    w(&["remount", "dev/uv:readonly", refdata.to_str().unwrap()]).ok();
    w(&["start", "dev"]).ok();
    assert_eq!(w(&["exec", "--", "cat", "/home/workshop/shared/file.txt"]).ok(), "hello");
    assert_eq!(w(&["exec", "--", "cat", "/home/workshop/readonly/note.txt"]).ok(), "reference");
    w(&["exec", "--", "sudo", "touch", "/home/workshop/readonly/x"]).fails();
    w(&["exec", "--", "mountpoint", "-q", "/home/workshop/readonly"]).ok();
    let shown =
        |plug: &str| info_mounts(&w, "uv")[plug]["host-source"].as_str().unwrap_or_default().to_string();
    assert_eq!(shown("shared"), datasets.display().to_string());
    let text = w(&["info"]);
    assert!(text.has_line(r"^\s+host-source:\s+~/wst-uvdev-datasets$"), "{}", text.output());

    // M-10 and C-03: a refresh keeps the remounts; a manual disconnect survives the next.
    let refreshed = w(&["refresh"]);
    assert_eq!(refreshed.code, 0, "{}\n{}", refreshed.output(), d.log());
    assert_eq!(shown("shared"), datasets.display().to_string());
    assert_eq!(shown("readonly"), refdata.display().to_string());
    assert_eq!(w(&["exec", "--", "cat", "/home/workshop/shared/file.txt"]).ok(), "hello");
    w(&["disconnect", "dev/test-sdk-gpu:gpu"]).ok();
    let refreshed = w(&["refresh"]);
    assert_eq!(refreshed.code, 0, "{}\n{}", refreshed.output(), d.log());
    let listed = w(&["connections", "dev"]);
    assert!(listed.has_line(r"^gpu\s+dev/test-sdk-gpu:gpu\s+-\s+-$"), "{}", listed.output());
    assert!(listed.has_line(r"^mount\s+dev/uv:data\s+dev/system:mount\s+-$"), "{}", listed.output());
    let present = "mountpoint -q /home/workshop/data && mountpoint -q /home/workshop/shared \
                   && mountpoint -q /home/workshop/readonly && mountpoint -q /home/workshop/jupyter-venv \
                   && test -f /home/workshop/data/file.txt";
    w(&["exec", "--", "bash", "-c", present]).ok();

    // M-03: a failed refresh keeps the mounts, those between SDKs too.
    p.write("workshop.yaml", &definition.replace("project-test-sdk-gpu", "project-test-sdk-setup-fail"));
    w(&["refresh"]).fails();
    p.write("workshop.yaml", definition);
    let inside = w(&["exec", "--", "bash", "-c", present]);
    assert_eq!(inside.code, 0, "{}\n{}", inside.output(), d.log());
    // A remounted directory moved away: the refresh stops before the workshop is touched,
    // and says which; every mount is still there.
    let away = home.join("wst-uvdev-refdata-away");
    let _away = workshop_integration::RemovedOnDrop(vec![away.clone()]);
    std::fs::rename(&refdata, &away).unwrap();
    p.write(".workshop/uv/NOTES", "changed\n");
    let failed = w(&["refresh"]);
    let told = format!("{}{}", failed.fails(), w(&["tasks"]).output());
    assert!(told.contains("cannot mount \"dev/uv:readonly\" again"), "{told}");
    let inside = w(&["exec", "--", "bash", "-c", present]);
    assert_eq!(inside.code, 0, "{}\n{}", inside.output(), d.log());
    std::fs::rename(&away, &refdata).unwrap();

    // M-22: restore resets manual connections to the defaults.
    w(&["disconnect", "dev/uv:shared"]).ok();
    w(&["connect", "dev/uv:shared", ":mount"]).ok();
    assert!(w(&["connections", "dev"]).has_line(r"^mount\s+dev/uv:shared\s+dev/system:mount\s+manual$"));
    let restored = w(&["restore", "dev"]);
    assert_eq!(restored.code, 0, "{}\n{}", restored.output(), d.log());
    let listed = w(&["connections", "dev"]);
    assert!(listed.has_line(r"^mount\s+dev/uv:shared\s+dev/system:mount\s+-$"), "{}", listed.output());
    w(&["exec", "--", "mountpoint", "-q", "/home/workshop/jupyter-venv"]).ok();
    w(&["remove"]).ok();
    assert!(datasets.join("file.txt").is_file(), "a remounted directory is left alone");
}
