//! Refresh end to end against the real LXD (`WORKSHOP_TEST_LXD=1`): what a workshop was built
//! from (its manifest) against what its definition says now, scenarios F-01, F-04 (step 1)
//! and K-09 of the public acceptance set, and the environment hash `info` and `list` show.

use serde_json::Value;
use workshop_integration::sdk_fixtures::{self, definition};
use workshop_integration::{Daemon, Project, Run, lxd_enabled, lxd_shared, test_user};

fn w(d: &Daemon, p: &Project, args: &[&str]) -> Run {
    d.cli_as(Some(&p.user), &p.path, args, &[])
}

/// The `env-hash` of `ws` in `list --format json`.
fn listed_hash(d: &Daemon, p: &Project, ws: &str) -> String {
    let list: Value = serde_json::from_str(w(d, p, &["list", "--format", "json"]).ok()).unwrap();
    let row = list.as_array().unwrap().iter().find(|r| r["name"] == ws).cloned().unwrap_or_default();
    row["env-hash"].as_str().unwrap_or_default().to_string()
}

/// F-01: a refresh with nothing to do says so and succeeds; `info` (text and JSON) and `list
/// --format json` show the same environment hash.
#[test]
fn f01_refresh_with_nothing_to_do() {
    if !lxd_enabled("f01_refresh_with_nothing_to_do") {
        return;
    }
    let _lxd = lxd_shared();
    let d = Daemon::start();
    let p = Project::new(&test_user(), "f01");
    p.write("workshop.yaml", "name: ws-refresh\nbase: ubuntu@22.04\n");
    w(&d, &p, &["launch"]).ok();

    let refresh = w(&d, &p, &["refresh"]);
    assert!(
        refresh.ok().lines().any(|l| l == r#"no updates available for "ws-refresh""#),
        "{}",
        refresh.output()
    );
    assert!(!w(&d, &p, &["changes"]).ok().contains("Refresh"), "no change was made");

    let info: Value = serde_json::from_str(w(&d, &p, &["info", "--format", "json"]).ok()).unwrap();
    let hash = info["env-hash"].as_str().unwrap_or_default().to_string();
    assert_eq!(hash.len(), 12, "{info}");
    assert!(w(&d, &p, &["info"]).has_line(&format!(r"^env-hash:\s+{hash}$")));
    assert_eq!(listed_hash(&d, &p, "ws-refresh"), hash);
}

/// F-04 step 1 and K-09: in a project of several workshops, an unchanged one (bare, or with
/// an unchanged local SDK) has no updates and keeps its revision; two workshops built from
/// the same things share their environment hash, another SDK makes another one.
#[test]
fn f04_k09_unchanged_workshops_have_no_updates() {
    if !lxd_enabled("f04_k09_unchanged_workshops_have_no_updates") {
        return;
    }
    let _lxd = lxd_shared();
    let d = Daemon::start();
    let p = Project::new(&test_user(), "f04");
    let sdk = sdk_fixtures::basic();
    sdk.install(&p);
    p.write(".workshop/ws-refresh.yaml", &definition("ws-refresh", "ubuntu@22.04", &[]));
    p.write(".workshop/ws-twin.yaml", &definition("ws-twin", "ubuntu@22.04", &[]));
    p.write(
        ".workshop/ws-refresh-sdk.yaml",
        &definition("ws-refresh-sdk", "ubuntu@22.04", &[&sdk.project_name()]),
    );
    w(&d, &p, &["launch", "ws-refresh", "ws-twin", "ws-refresh-sdk"]).ok();

    for ws in ["ws-refresh", "ws-refresh-sdk"] {
        let refresh = w(&d, &p, &["refresh", ws]);
        let line = format!("no updates available for {ws:?}");
        assert!(refresh.ok().lines().any(|l| l == line), "{}", refresh.output());
    }
    let info = w(&d, &p, &["info", "ws-refresh-sdk"]);
    assert!(
        info.ok().lines().any(|l| l.trim_start().starts_with("installed:") && l.trim_end().ends_with("(x1)")),
        "{}",
        info.output()
    );
    let (bare, twin, with_sdk) = (
        listed_hash(&d, &p, "ws-refresh"),
        listed_hash(&d, &p, "ws-twin"),
        listed_hash(&d, &p, "ws-refresh-sdk"),
    );
    assert_eq!(bare, twin);
    assert_ne!(bare, with_sdk);
}
