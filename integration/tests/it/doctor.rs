//! `workshop doctor` on this machine (issue 14 item 4): every check reports, as people and
//! scripts read it; fixing is root's.

use workshop_integration::{Daemon, Project, lxd_enabled, lxd_shared, test_user};

const CHECKS: [&str; 10] = [
    "daemon",
    "lxd",
    "storage-pool",
    "network",
    "images",
    "id-map",
    "firewall",
    "host-dns",
    "kernel-limits",
    "guest-socket",
];

#[test]
fn doctor_reports_every_check_and_only_root_fixes() {
    if !lxd_enabled("doctor_reports_every_check_and_only_root_fixes") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "doctor");
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);

    // This machine is set up (scripts/setup-lxd.sh): everything is ok, the user's id map too.
    let table = w(&["doctor"]);
    for name in CHECKS {
        // A machine without iptables or ufw has no firewall to check.
        // Without systemd-resolved the host does not resolve workshop names: a warning.
        let status = match name {
            "firewall" => "(ok|skipped)",
            "host-dns" => "(ok|warning)",
            _ => "ok",
        };
        assert!(table.has_line(&format!(r"^{name}\s+{status}\s+\S")), "{name}: {}", table.output());
    }
    let json: serde_json::Value = serde_json::from_str(w(&["doctor", "--format", "json"]).ok()).unwrap();
    let names: Vec<&str> = json.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, CHECKS);
    let (uid, gid) = workshop_integration::user_ids(&user);
    let id_map = &json[5]["message"];
    assert_eq!(id_map, &format!("root may map uid {uid} and gid {gid} into workshops"), "{json}");

    // Fixing is root's; root's run finds nothing to fix.
    let refused = w(&["doctor", "--fix"]);
    assert!(refused.fails().contains("cannot fix: only root may apply fixes"), "{}", refused.output());
    let root = d.cli(&p.path, &["doctor", "--fix", "--format", "yaml"]);
    let checks: serde_json::Value = serde_yaml_ng::from_str(root.ok()).unwrap();
    assert!(checks.as_array().unwrap().iter().all(|c| c["status"] != "failed"), "{checks}");
    assert_eq!(checks[5]["status"], "skipped", "root launches no workshops: {checks}");
}

#[test]
fn doctor_without_a_daemon_says_how_to_start_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(workshop_integration::bin_dir().join("workshop"))
        .arg("doctor")
        .env("WORKSHOP_SOCKET", tmp.path().join("none.socket"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("daemon") && l.contains("failed")), "{stdout}");
    assert!(stdout.contains("daemon: start the daemon: systemctl start workshopd.socket"), "{stdout}");
}

/// `workshopd configure-dns` (what the configure-dns unit runs when the bridge appears): the
/// bridge's addresses come from LXD; without systemd-resolved it says so and fails; a network
/// LXD does not have and a bad domain are named.
#[test]
fn configure_dns_reads_the_bridge_and_names_what_is_wrong() {
    if !lxd_enabled("configure_dns_reads_the_bridge_and_names_what_is_wrong") {
        return;
    }
    let _lxd = lxd_shared();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(workshop_integration::bin_dir().join("workshopd"))
            .arg("configure-dns")
            .args(args)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let resolved =
        std::process::Command::new("resolvectl").arg("status").output().is_ok_and(|o| o.status.success());
    let (ok, said) = run(&["workshopbr0", "wp"]);
    if resolved {
        assert!(ok && said.contains("workshopbr0: DNS ") && said.contains("for ~wp"), "{said}");
    } else {
        assert!(!ok, "{said}");
        assert!(
            said.contains("cannot configure DNS on workshopbr0: systemd-resolved does not run"),
            "{said}"
        );
    }
    let (ok, said) = run(&["wst-no-such-bridge", "wp"]);
    assert!(!ok && said.contains("cannot read network \"wst-no-such-bridge\" from LXD"), "{said}");
    assert!(said.contains("not found"), "{said}");
    let (ok, said) = run(&["workshopbr0", "w p"]);
    assert!(!ok && said.contains("cannot configure DNS: invalid domain \"w p\""), "{said}");
}
