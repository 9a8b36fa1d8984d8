//! `workshop fork` against the real LXD (`WORKSHOP_TEST_LXD=1`): a copy of a running or
//! stopped workshop under a new name, with the files made inside it, its own machine id,
//! address and storage, and the project mounted; removing it leaves the source alone.

use workshop_integration::sdk_fixtures::{self, definition};
use workshop_integration::{Daemon, Project, Run, lxd_enabled, lxd_shared, test_user};

fn w(d: &Daemon, p: &Project, args: &[&str]) -> Run {
    d.cli_as(Some(&p.user), &p.path, args, &[])
}

fn inside(d: &Daemon, p: &Project, ws: &str, script: &str) -> String {
    w(d, p, &["exec", ws, "--", "sh", "-c", script]).ok().trim().to_string()
}

#[test]
fn a_fork_is_a_copy_of_its_own_of_a_running_or_stopped_workshop() {
    if !lxd_enabled("a_fork_is_a_copy_of_its_own_of_a_running_or_stopped_workshop") {
        return;
    }
    let _lxd = lxd_shared();
    let (ws, copy, again) = ("ws-fork", "ws-fork-copy", "ws-fork-again");
    let d = Daemon::start();
    let p = Project::new(&test_user(), "fork");
    sdk_fixtures::basic().install(&p);
    p.write(&format!(".workshop/{ws}.yaml"), &definition(ws, "ubuntu@22.04", &["project-test-sdk-basic-2"]));
    p.write("hello.txt", "from the project\n");
    w(&d, &p, &["launch", ws]).ok();
    inside(&d, &p, ws, "echo made-inside > /home/workshop/state");

    let out = w(&d, &p, &["fork", ws, copy]);
    assert!(out.ok().lines().any(|l| l == format!("{copy:?} forked from {ws:?}")), "{}", out.output());
    assert!(w(&d, &p, &["list"]).has_line(&format!(r"^{copy}\s+Ready\s+-$")));
    assert!(w(&d, &p, &["list"]).has_line(&format!(r"^{ws}\s+Ready\s+-$")));
    // What was made inside the source, the project, the SDK.
    assert_eq!(inside(&d, &p, copy, "cat /home/workshop/state"), "made-inside");
    assert_eq!(inside(&d, &p, copy, "cat /project/hello.txt"), "from the project");
    assert!(
        w(&d, &p, &["info", copy]).has_line(r"test-sdk-basic-2"),
        "{}",
        w(&d, &p, &["info", copy]).output()
    );
    // Its own identity and address.
    let id = |name: &str| inside(&d, &p, name, "cat /etc/machine-id");
    assert_eq!(id(copy).len(), 32);
    assert_ne!(id(copy), id(ws));
    assert_eq!(inside(&d, &p, copy, "hostname"), copy);
    assert_eq!(inside(&d, &p, ws, "hostname"), ws);
    // Its own DHCP client identity (the DUID dhclient keeps with its leases), so the bridge
    // never hands it its source's address.
    let duid = |name: &str| inside(&d, &p, name, "grep -m1 default-duid /var/lib/dhcp/dhclient.eth0.leases");
    assert!(duid(copy).starts_with("default-duid"), "{}", duid(copy));
    assert_ne!(duid(copy), duid(ws));
    let address = |name: &str| inside(&d, &p, name, "hostname -I | cut -d' ' -f1");
    assert!(!address(copy).is_empty());
    assert_ne!(address(copy), address(ws));
    // Its own files from now on, both ways.
    inside(&d, &p, copy, "touch /home/workshop/only-in-the-copy");
    inside(&d, &p, ws, "test ! -e /home/workshop/only-in-the-copy");
    // A name taken is refused.
    let refused = w(&d, &p, &["fork", ws, copy]).fails();
    assert!(refused.contains("already launched"), "{refused}");

    // A stopped workshop is copied too, and stays stopped.
    w(&d, &p, &["stop", ws]).ok();
    w(&d, &p, &["fork", ws, again]).ok();
    assert!(w(&d, &p, &["list"]).has_line(&format!(r"^{again}\s+Ready\s+-$")));
    assert!(w(&d, &p, &["list"]).has_line(&format!(r"^{ws}\s+Stopped\s+-$")));
    assert_eq!(inside(&d, &p, again, "cat /home/workshop/state"), "made-inside");

    // Removing the copies leaves the source as it was.
    w(&d, &p, &["remove", copy, again]).ok();
    w(&d, &p, &["start", ws]).ok();
    assert_eq!(inside(&d, &p, ws, "cat /home/workshop/state"), "made-inside");
    let instances = p.instances();
    assert!(instances.len() == 1 && instances[0].starts_with(&format!("{ws}-")), "{instances:?}");
}

/// A fork takes its source's manual connections (on a host directory of its own when the
/// source's was the default one) and what the user disconnected stays disconnected; the
/// automatic ones its own auto-connect makes, but for a tunnel listening on a socket path of
/// the host, which the source holds: that one is left disconnected.
#[test]
fn a_fork_takes_the_manual_connections_and_what_was_disconnected() {
    if !lxd_enabled("a_fork_takes_the_manual_connections_and_what_was_disconnected") {
        return;
    }
    let _lxd = lxd_shared();
    let (ws, copy) = ("ws-forkc", "ws-forkc-copy");
    let d = Daemon::start();
    let p = Project::new(&test_user(), "fork-conns");
    p.write(
        ".workshop/test-sdk-forkc/sdk.yaml",
        "name: test-sdk-forkc
plugs:
  one:
    interface: mount
    workshop-target: /mnt/one
  two:
    interface: mount
    workshop-target: /opt/two
  three:
    interface: mount
    workshop-target: /opt/three
slots:
  http:
    interface: tunnel
    endpoint: 8080
",
    );
    // A tunnel that listens on a socket path of the host: the copy cannot have it too.
    let sock = format!("wst-forkc-{}.sock", std::process::id());
    p.write(
        &format!(".workshop/{ws}.yaml"),
        &format!(
            "name: {ws}
base: ubuntu@22.04
sdks:
  - name: project-test-sdk-forkc
  - name: system
    plugs:
      sock:
        interface: tunnel
        endpoint: $HOME/{sock}
connections:
  - plug: system:sock
    slot: test-sdk-forkc:http
"
        ),
    );
    w(&d, &p, &["launch", ws]).ok();
    let plug = |name: &str, plug: &str| format!("{name}/test-sdk-forkc:{plug}");
    w(&d, &p, &["disconnect", &plug(ws, "one")]).ok();
    w(&d, &p, &["disconnect", &plug(ws, "two")]).ok();
    w(&d, &p, &["connect", &plug(ws, "two"), ":mount"]).ok();
    inside(&d, &p, ws, "touch /opt/two/only-in-the-source");

    w(&d, &p, &["fork", ws, copy]).ok();
    let listed = w(&d, &p, &["connections", copy]);
    let line = |plug: &str, slot: &str, notes: &str| {
        format!(r"^mount\s+{copy}/test-sdk-forkc:{plug}\s+{slot}\s+{notes}$")
    };
    let system = format!("{copy}/system:mount");
    for re in [line("one", "-", "-"), line("two", &system, "manual"), line("three", &system, "-")] {
        assert!(listed.has_line(&re), "{re}\n{}", listed.output());
    }
    assert_eq!(inside(&d, &p, copy, "mountpoint -q /mnt/one && echo mounted || echo not"), "not");
    for dir in ["/opt/two", "/opt/three"] {
        assert_eq!(inside(&d, &p, copy, &format!("mountpoint -q {dir} && echo mounted")), "mounted", "{dir}");
    }
    // On a directory of its own.
    assert_eq!(inside(&d, &p, copy, "ls /opt/two"), "");
    assert_eq!(inside(&d, &p, ws, "ls /opt/two"), "only-in-the-source");
    let re = format!(r"^tunnel\s+{copy}/system:sock\s+-\s+-$");
    assert!(listed.has_line(&re), "{re}\n{}", listed.output());
    // The source's connections are as they were.
    let source = w(&d, &p, &["connections", ws]);
    for re in [
        format!(r"^mount\s+{ws}/test-sdk-forkc:two\s+{ws}/system:mount\s+manual$"),
        format!(r"^tunnel\s+{ws}/system:sock\s+{ws}/test-sdk-forkc:http\s+-$"),
    ] {
        assert!(source.has_line(&re), "{re}\n{}", source.output());
    }
    let link = workshop_integration::user_home(&test_user()).join(&sock);
    assert!(std::fs::symlink_metadata(&link).is_ok(), "the source's socket link");
    w(&d, &p, &["remove", copy, ws]).ok();
    assert!(std::fs::symlink_metadata(&link).is_err(), "removed with the source");
}

/// A fork listens on a free host port of its own for a tunnel whose port its source holds,
/// and keeps it through its restore (and refresh): the restore does not ask for the
/// definition's port again, so source and fork both run, and both start again.
#[test]
fn a_forks_own_host_port_survives_its_restore() {
    if !lxd_enabled("a_forks_own_host_port_survives_its_restore") {
        return;
    }
    let _lxd = lxd_shared();
    let (ws, copy) = ("ws-forkp", "ws-forkp-copy");
    let d = Daemon::start();
    let p = Project::new(&test_user(), "fork-ports");
    p.write(
        ".workshop/test-sdk-forkp/sdk.yaml",
        "name: test-sdk-forkp\nslots:\n  web:\n    interface: tunnel\n    endpoint: 8080\n",
    );
    // A host port of this run's (away from others').
    let port = 20000 + (std::process::id() % 20000) as u16;
    p.write(
        &format!(".workshop/{ws}.yaml"),
        &format!(
            "name: {ws}\nbase: ubuntu@22.04\nsdks:\n  - name: project-test-sdk-forkp\n  - name: system\n    plugs:\n      web:\n        interface: tunnel\n        endpoint: {port}\nconnections:\n  - plug: system:web\n    slot: test-sdk-forkp:web\n"
        ),
    );
    w(&d, &p, &["launch", ws]).ok();
    w(&d, &p, &["fork", ws, copy]).ok();
    w(&d, &p, &["restore", copy]).ok();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "the source still listens on {port}");
    w(&d, &p, &["stop", ws]).ok();
    w(&d, &p, &["start", ws]).ok();
    w(&d, &p, &["stop", copy]).ok();
    w(&d, &p, &["start", copy]).ok();
    w(&d, &p, &["remove", copy, ws]).ok();
}
