//! SDK hooks, health checks and `workshopctl` end to end against the real LXD
//! (`WORKSHOP_TEST_LXD=1`), with the local SDK fixtures (`workshop_integration::sdk_fixtures`):
//! scenarios H-01, H-03, H-05, K-01, K-05, K-07 and L-07 of the public acceptance set, the
//! health retry and timeout at launch, and cookies refused from another workshop and another
//! user's workshop.

use std::time::{Duration, Instant};

use workshop_integration::sdk_fixtures::{self, LocalSdk, definition};
use workshop_integration::{Daemon, Project, Run, lxd_enabled, lxd_shared, test_user};

/// A daemon, a project of the test user with `sdks` installed and `files` written.
fn setup(case: &str, sdks: &[LocalSdk], files: &[(&str, String)]) -> (Daemon, Project) {
    let d = Daemon::start();
    let p = Project::new(&test_user(), case);
    for sdk in sdks {
        sdk.install(&p);
    }
    for (rel, text) in files {
        p.write(rel, text);
    }
    (d, p)
}

fn w(d: &Daemon, p: &Project, args: &[&str]) -> Run {
    d.cli_as(Some(&p.user), &p.path, args, &[])
}

/// H-01: a healthy SDK; its launch is Done and the workshop Ready; a refresh is Done too.
#[test]
fn h01_healthy_sdk() {
    if !lxd_enabled("h01_healthy_sdk") {
        return;
    }
    let _lxd = lxd_shared();
    let sdk = sdk_fixtures::health_ok();
    let file = definition("ws-ok", "ubuntu@22.04", &[&sdk.project_name()]);
    let (d, p) = setup("h01", &[sdk], &[(".workshop/ws-ok.yaml", file)]);
    w(&d, &p, &["launch", "ws-ok"]).ok();
    assert!(w(&d, &p, &["changes"]).has_line(r#"^[0-9]+\s+Done\s+.+\s+Launch "ws-ok" workshop$"#));
    assert!(w(&d, &p, &["list"]).has_line(r"^ws-ok\s+Ready\s+-$"));
    w(&d, &p, &["refresh", "ws-ok"]).ok();
    assert!(w(&d, &p, &["changes"]).has_line(r#"^[0-9]+\s+Done\s+.+\s+Refresh "ws-ok" workshop$"#));
}

/// H-03: an SDK that reports `error` fails the launch, which is undone.
#[test]
fn h03_an_sdk_reporting_error_fails_the_launch() {
    if !lxd_enabled("h03_an_sdk_reporting_error_fails_the_launch") {
        return;
    }
    let _lxd = lxd_shared();
    let sdk = sdk_fixtures::health_error();
    let file = definition("ws-error", "ubuntu@22.04", &[&sdk.project_name()]);
    let (d, p) = setup("h03", &[sdk], &[(".workshop/ws-error.yaml", file)]);
    let launch = w(&d, &p, &["launch", "ws-error"]);
    let out = launch.fails();
    assert_eq!(out.trim_end().lines().last(), Some(r#""ws-error" launch aborted"#), "{out}");
    assert!(out.contains("Health check failed"), "{out}");
    assert!(w(&d, &p, &["changes"]).has_line(r#"^[0-9]+\s+Error\s+.+\s+Launch "ws-error" workshop$"#));
    assert!(w(&d, &p, &["list"]).has_line(r"^ws-error\s+Off\s+-$"));
    assert!(p.instances().is_empty(), "{:?}", p.instances());
}

/// H-05: `workshopctl set-health` works only inside a check-health hook: not from `exec`,
/// and a setup-project hook that calls it fails with the reference's words.
#[test]
fn h05_set_health_only_from_check_health() {
    if !lxd_enabled("h05_set_health_only_from_check_health") {
        return;
    }
    let _lxd = lxd_shared();
    let (basic, misplaced) = (sdk_fixtures::basic(), sdk_fixtures::health_from_setup_project());
    let files = [
        (".workshop/ws-basic.yaml", definition("ws-basic", "ubuntu@22.04", &[&basic.project_name()])),
        (
            ".workshop/ws-misplaced.yaml",
            definition("ws-misplaced", "ubuntu@22.04", &[&misplaced.project_name()]),
        ),
    ];
    let (d, p) = setup("h05", &[basic, misplaced], &files);
    w(&d, &p, &["launch", "ws-basic"]).ok();
    let run = w(&d, &p, &["exec", "ws-basic", "--", "workshopctl", "set-health", "okay"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.starts_with("error: "), "{}", run.output());
    // Arguments that are not UTF-8, or longer than a request carries, are no crash.
    let odd = r#"workshopctl set-health waiting "$(printf 'bad \377 bytes')"; echo "exit $?""#;
    let run = w(&d, &p, &["exec", "ws-basic", "--", "bash", "-c", odd]);
    assert!(run.output().contains("exit 1") && !run.output().contains("panicked"), "{}", run.output());
    let long = r#"workshopctl set-health waiting "$(head -c 100000 /dev/zero | tr '\0' x)"; echo "exit $?""#;
    let run = w(&d, &p, &["exec", "ws-basic", "--", "bash", "-c", long]);
    assert!(
        run.output().contains("exit 1") && !run.output().contains("longer than"),
        "refused for where it runs, not for its length: {}",
        run.output()
    );
    let out = w(&d, &p, &["launch", "ws-misplaced"]).fails();
    assert!(out.contains(r#"Run hook "setup-project""#), "{out}");
    // The hook's output, in the task log of the launch (the latest change).
    let tasks = w(&d, &p, &["tasks"]);
    assert!(
        tasks.output().contains(r#""set-health" is only allowed from a "check-health" hook"#),
        "{}",
        tasks.output()
    );
    assert!(w(&d, &p, &["list"]).has_line(r"^ws-misplaced\s+Off\s+-$"));
}

/// A running check-health hook's cookie, handed to another workshop of the project and to
/// a workshop of another user, speaks for neither; the hook itself reports with it.
#[test]
fn cookies_are_refused_from_other_workshops_and_users() {
    if !lxd_enabled("cookies_are_refused_from_other_workshops_and_users") {
        return;
    }
    let _lxd = lxd_shared();
    let holder = sdk_fixtures::health_cookie_holder();
    let files = [
        (".workshop/holder.yaml", definition("holder", "ubuntu@22.04", &[&holder.project_name()])),
        (".workshop/other.yaml", definition("other", "ubuntu@22.04", &[])),
    ];
    let (d, p) = setup("cookies", &[holder], &files);
    let user2 = workshop_integration::test_user2();
    let p2 = Project::new(&user2, "cookies-elsewhere");
    p2.write(".workshop/elsewhere.yaml", &definition("elsewhere", "ubuntu@22.04", &[]));
    w(&d, &p, &["launch", "other"]).ok();
    d.cli_as(Some(&user2), &p2.path, &["launch", "elsewhere"], &[]).ok();

    let launch = d.spawn_cli_as(&p.user, &p.path, &["launch", "holder"]);
    let deadline = Instant::now() + Duration::from_secs(180);
    let cookie = loop {
        if let Ok(cookie) = std::fs::read_to_string(p.path.join("cookie")) {
            break cookie;
        }
        assert!(Instant::now() < deadline, "the check-health hook never ran");
        std::thread::sleep(Duration::from_millis(50));
    };
    let env = format!("WORKSHOP_COOKIE={cookie}");
    let ctl = ["workshopctl", "set-health", "error", "--code=forged", "reported from elsewhere"];
    let mut from_other = vec!["exec", "other", "--", "env", env.as_str()];
    from_other.extend(ctl);
    let refused = w(&d, &p, &from_other).fails();
    assert!(refused.contains("error: invalid workshop cookie"), "{refused}");
    let mut from_user2 = vec!["exec", "elsewhere", "--", "sudo", "env", env.as_str()];
    from_user2.extend(ctl);
    let refused = d.cli_as(Some(&user2), &p2.path, &from_user2, &[]).fails();
    assert!(refused.contains("error: invalid workshop cookie"), "{refused}");
    p.write("go", "");
    let out = launch.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(w(&d, &p, &["list"]).has_line(r"^holder\s+Ready\s+-$"));
    // The hook has ended: its cookie names nothing, even in its own workshop.
    let after = ["exec", "holder", "--", "sudo", "env", env.as_str(), "workshopctl", "set-health", "okay"];
    let refused = w(&d, &p, &after).fails();
    assert!(refused.contains("error: invalid workshop cookie"), "{refused}");
}

/// check-health at launch: `waiting` is run again every second until `okay`; a run that
/// takes more than 5 s fails the launch.
#[test]
fn health_checks_retry_while_waiting_and_time_out_at_launch() {
    if !lxd_enabled("health_checks_retry_while_waiting_and_time_out_at_launch") {
        return;
    }
    let _lxd = lxd_shared();
    let (waiting, slow) = (sdk_fixtures::health_waiting(), sdk_fixtures::health_slow());
    let files = [
        (".workshop/ws-wait.yaml", definition("ws-wait", "ubuntu@22.04", &[&waiting.project_name()])),
        (".workshop/ws-slow.yaml", definition("ws-slow", "ubuntu@22.04", &[&slow.project_name()])),
    ];
    let (d, p) = setup("health", &[waiting, slow], &files);
    w(&d, &p, &["launch", "ws-wait"]).ok();
    // `tasks` shows the latest change: the launch, before any exec.
    assert!(w(&d, &p, &["tasks"]).has_line("Cannot finish health check"));
    assert_eq!(w(&d, &p, &["exec", "ws-wait", "--", "sudo", "cat", "/root/counter"]).ok().trim(), "4");
    let out = w(&d, &p, &["launch", "ws-slow"]).fails();
    assert!(out.contains(r#"SDK "test-sdk-health-slow" health status check timed out"#), "{out}");
    assert!(w(&d, &p, &["list"]).has_line(r"^ws-slow\s+Off\s+-$"));
}

/// K-01: hook identity, environment and ordering, with the three local-SDK layouts, and the
/// connections of their plugs and slots; K-04: a plug changed in a local SDK is taken by the
/// next refresh, not before.
#[test]
fn k01_hook_identity_environment_and_order() {
    if !lxd_enabled("k01_hook_identity_environment_and_order") {
        return;
    }
    let _lxd = lxd_shared();
    let files = [(".workshop/dev.yaml", sdk_fixtures::K01_DEFINITION.to_string())];
    let (d, p) = setup("k01", &sdk_fixtures::k01(), &files);
    w(&d, &p, &["launch"]).ok();
    w(&d, &p, &["exec", "--", "test", "-d", "/one/two/three"]).ok();
    w(&d, &p, &["exec", "--", "test", "-f", "/setup-project.log"]).ok();
    let listed = w(&d, &p, &["connections", "dev"]);
    for row in [
        r"^ssh-agent\s+dev/one:ssh-agent\s+-\s+-$",
        r"^tunnel\s+-\s+dev/two:http\s+-$",
        r"^desktop\s+dev/three:desktop\s+-\s+-$",
    ] {
        assert!(listed.has_line(row), "{row}: {}", listed.output());
    }

    // K-04.
    p.write(".workshop/one/sdk.yaml", "name: one\nplugs:\n  camera:\n");
    let listed = w(&d, &p, &["connections", "dev"]);
    assert!(listed.has_line(r"^ssh-agent\s+dev/one:ssh-agent\s+-\s+-$"), "{}", listed.output());
    assert!(!listed.output().contains("dev/one:camera"), "{}", listed.output());
    w(&d, &p, &["refresh"]).ok();
    let listed = w(&d, &p, &["connections", "dev"]);
    assert!(listed.has_line(r"^camera\s+dev/one:camera\s+-\s+-$"), "{}", listed.output());
    assert!(!listed.output().contains("dev/one:ssh-agent"), "{}", listed.output());
}

/// K-05: a five-hook SDK: profile snippet, user files, health.
#[test]
fn k05_five_hook_sdk() {
    if !lxd_enabled("k05_five_hook_sdk") {
        return;
    }
    let _lxd = lxd_shared();
    let sdk = sdk_fixtures::dotfiles();
    let file = definition("dev", "ubuntu@22.04", &[&sdk.project_name()]);
    let (d, p) = setup("k05", &[sdk], &[(".workshop/dev.yaml", file)]);
    w(&d, &p, &["launch", "dev"]).ok();
    let profile = w(&d, &p, &["exec", "dev", "--", "cat", "/etc/profile.d/dotfiles.sh"]);
    assert_eq!(profile.ok().trim_end(), r#"export DOTFILES_SDK="/var/lib/workshop/sdk/dotfiles-sdk""#);
    assert_eq!(w(&d, &p, &["exec", "dev", "--", "cat", "/home/workshop/.dotfiles-uid"]).ok().trim(), "1000");
    assert!(
        w(&d, &p, &["exec", "dev", "--", "cat", "/home/workshop/.bash_aliases"])
            .ok()
            .contains("dotfiles-version")
    );
    assert!(w(&d, &p, &["info", "dev"]).has_line(r"^status:\s+ready"));
}

/// K-07: the SDK's payload on the PATH; check-health gates Ready. L-07: `--verbose` puts the
/// traced commands of hooks in the task log.
#[test]
fn k07_payload_on_the_path_and_l07_traced_hooks() {
    if !lxd_enabled("k07_payload_on_the_path_and_l07_traced_hooks") {
        return;
    }
    let _lxd = lxd_shared();
    let sdk = sdk_fixtures::build_demo();
    let file = definition("dev", "ubuntu@24.04", &[&sdk.project_name()]);
    let (d, p) = setup("k07", &[sdk], &[("workshop.yaml", file)]);
    w(&d, &p, &["launch", "--verbose"]).ok();
    // L-07, with this SDK: the verbose launch traced its hooks (`tasks`: the latest change).
    assert!(w(&d, &p, &["tasks"]).has_line(r#"\+ workshopctl set-health okay$"#));
    assert!(w(&d, &p, &["list"]).has_line(r"^dev\s+Ready"));
    w(&d, &p, &["exec", "dev", "--", "test", "-f", "/var/lib/build-demo/setup-base.marker"]).ok();
    w(&d, &p, &["exec", "dev", "--", "test", "-f", "/home/workshop/.build-demo.marker"]).ok();
    assert_eq!(
        w(&d, &p, &["exec", "dev", "--", "bash", "-lc", "hello-build-demo"]).ok().trim(),
        "hello-build-demo"
    );

    let basic = sdk_fixtures::basic();
    let p = Project::new(&test_user(), "l07");
    basic.install(&p);
    p.write("workshop.yaml", &definition("ws-basic", "ubuntu@22.04", &[&basic.project_name()]));
    w(&d, &p, &["launch", "--verbose"]).ok();
    assert!(w(&d, &p, &["list"]).has_line(r"^ws-basic\s+Ready\s+-$"));
    assert!(w(&d, &p, &["tasks"]).has_line(r#"\+ echo 'setup-project ran successfully!'$"#));
}
