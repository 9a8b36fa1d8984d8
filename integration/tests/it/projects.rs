//! Projects, listings, changes and warnings end to end against the real LXD
//! (`WORKSHOP_TEST_LXD=1`), as an unprivileged user. Scenario ids refer to the public
//! acceptance set (Projects, list and info; Changes and tasks; Warnings; `workshop init`).

use std::path::Path;

use workshop_integration::{Daemon, Project, Run, lxd_enabled, lxd_shared, test_user, user_home};

fn bare(name: &str) -> String {
    format!("name: {name}\nbase: ubuntu@22.04\n")
}

const BANNER: &str = r#"WARNING: There is 1 new warning. See "workshop warnings"."#;

/// Whether some line of `run`'s output is exactly `line`.
fn has_exact_line(run: &Run, line: &str) -> bool {
    run.output().lines().any(|l| l == line)
}

/// A regex matching `path` literally at the start of a line.
fn starts_with_path(path: &Path) -> String {
    format!("^{}", regex_lite::escape(&path.display().to_string()))
}

/// P-02, P-06, P-07, P-08, I-05, `--project` after the subcommand, and the debugging
/// commands of T-04 on a healthy project.
#[test]
fn global_listing_and_nested_projects() {
    if !lxd_enabled("global_listing_and_nested_projects") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let w = |cwd: &Path, args: &[&str]| d.cli_as(Some(&user), cwd, args, &[]);

    // P-02: the user's home is not a project.
    let home = user_home(&user);
    let run = w(&home, &["--project", &home.display().to_string(), "list"]);
    run.fails();
    assert!(has_exact_line(&run, "error: not a project (no workshop files found)"), "{}", run.output());

    // I-05: init refuses next to a root single-file definition (offline).
    let single = Project::new(&user, "init-refused");
    single.write("workshop.yaml", &bare("main"));
    let run = w(&single.path, &["init", "dev"]);
    assert!(
        run.fails().contains(
            r#"cannot init: "workshop.yaml" already exists, move it to .workshop/main.yaml first to manage multiple workshops"#
        ),
        "{}",
        run.output()
    );
    assert!(!single.path.join(".workshop/dev.yaml").exists());

    // P-07: two projects with a workshop of the same name, listed globally with absolute paths.
    let q = Project::new(&user, "global");
    // The projects inside Q, so that their instances are removed even if the test fails.
    let mut project1 = Project { path: q.path.join("project-1"), user: user.clone() };
    let project2 = Project { path: q.path.join("project-2"), user: user.clone() };
    project1.write(".workshop/ws-global.yaml", &bare("ws-global"));
    project2.write("workshop.yaml", &bare("ws-global"));
    let (p1, p2) = (project1.path.clone(), project2.path.clone());
    w(&q.path, &["--project", "project-1", "launch"]).ok();
    // `--project` also after the subcommand, absolute this time.
    w(&q.path, &["launch", "--project", &p2.display().to_string()]).ok();
    let global = w(&q.path, &["list", "--global"]);
    global.ok();
    assert!(global.has_line(r"^PROJECT\s+WORKSHOP\s+STATUS\s+NOTES$"), "{}", global.output());
    for p in [&p1, &p2] {
        let re = format!(r"{}\s+ws-global\s+Ready\s+-$", starts_with_path(p));
        assert!(global.has_line(&re), "no {re}:\n{}", global.output());
    }
    let refused = w(&q.path, &["list", "--global", "--project", "project-1"]);
    assert!(refused.fails().contains(r#"cannot list: "--project" incompatible with "--global""#));
    assert!(w(&q.path, &["list", "--project", "project-2"]).has_line(r"^ws-global\s+Ready\s+-$"));

    // T-04 (healthy side): the debugging commands work in a project with changes.
    let changes = w(&p2, &["changes"]);
    let id =
        changes.ok().lines().last().and_then(|l| l.split_whitespace().next()).unwrap_or_default().to_string();
    assert!(id.chars().all(|c| c.is_ascii_digit()) && !id.is_empty(), "{}", changes.output());
    w(&p2, &["tasks"]).ok();
    w(&p2, &["tasks", &id]).ok();

    // P-06: a nested project inside a known project is a project of its own.
    project2.write("subprj/.workshop/nested.yaml", "");
    let nested = w(&p2, &["--project", "subprj", "list"]);
    assert!(nested.has_line(r"^nested\s+Off\s+-$"), "{}", nested.output());
    assert!(!nested.has_line("^ws-global"), "{}", nested.output());
    assert!(w(&p2, &["list"]).has_line(r"^ws-global\s+Ready\s+-$"));

    // P-08: the global listing follows a moved project.
    let moved = q.path.join("project-new");
    std::fs::rename(&p1, &moved).unwrap();
    project1.path = moved.clone();
    let global = w(&q.path, &["list", "--global"]);
    let re = format!(r"{}\s+ws-global\s+Ready\s+-$", starts_with_path(&moved));
    assert!(global.has_line(&re), "no {re}:\n{}", global.output());
    let old = format!(r"{}\s", starts_with_path(&p1));
    assert!(!global.has_line(&old), "old path listed:\n{}", global.output());
    // Its workshop mounts the new path: it starts again, and sees the project.
    w(&moved, &["stop"]).ok();
    w(&moved, &["start"]).ok();
    w(&moved, &["exec", "--", "test", "-f", "/project/.workshop/ws-global.yaml"]).ok();
    std::fs::rename(&moved, &p1).unwrap();
    project1.path = p1.clone();
    // P-03 style: a command in the moved directory follows it too.
    assert!(w(&p1, &["list"]).has_line(r"^ws-global\s+Ready\s+-$"));
    w(&p1, &["stop"]).ok();
    w(&p1, &["start"]).ok();
    let global = w(&q.path, &["list", "--global"]);
    let re = format!(r"{}\s+ws-global\s+Ready\s+-$", starts_with_path(&p1));
    assert!(global.has_line(&re), "no {re} after moving back:\n{}", global.output());

    w(&p1, &["remove"]).ok();
    w(&p2, &["remove"]).ok();
    assert!(project1.instances().is_empty() && project2.instances().is_empty());
    // Removed workshops are not listed globally.
    let global = w(&q.path, &["list", "--global", "--no-headers"]);
    assert_eq!(global.ok(), "", "{}", global.output());
}

/// W-01, P-11, P-12 and W-02: a project directory re-created at the same path, then a
/// conflicting root definition raises a warning that is read and acknowledged.
#[test]
fn recreated_project_and_conflicting_definitions() {
    if !lxd_enabled("recreated_project_and_conflicting_definitions") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let base = Project::new(&user, "recreated");
    // The warnings timestamp of this test only, so that "No warnings." means what W-01 says.
    let stamp = base.path.join("warnings.json");
    let env = [("WORKSHOPD_LAST_WARNING_TIMESTAMP_FILENAME", stamp.to_str().unwrap())];
    let w = |args: &[&str]| d.cli_as(Some(&user), &base.path, args, &env);

    // W-01: no warnings yet.
    assert_eq!(w(&["warnings"]).ok(), "No warnings.\n");

    // P-11: the same path, a new directory.
    let project = Project { path: base.path.join("new-project"), user: user.clone() };
    let n = project.path.clone();
    let n_arg = n.display().to_string();
    project.write(".workshop/ws.yaml", &bare("ws"));
    w(&["launch", "--project", &n_arg]).ok();
    w(&["remove", "--project", &n_arg]).ok();
    std::fs::remove_dir_all(&n).unwrap();
    project.write(".workshop/ws.yaml", &bare("ws"));
    w(&["launch", "--project", &format!("{n_arg}/")]).ok();
    assert!(w(&["list", "--project", &n_arg]).has_line(r"^ws\s+Ready\s+-$"));

    // P-12: a root definition next to .workshop/ raises one warning, shown until read.
    let list = w(&["list", "--project", &n_arg]);
    assert!(!list.output().contains("new warning"), "{}", list.output());
    project.write(".workshop.yaml", &std::fs::read_to_string(n.join(".workshop/ws.yaml")).unwrap());
    let list = w(&["list", "--project", &n_arg]);
    assert!(has_exact_line(&list, BANNER), "{}", list.output());
    assert!(list.stderr.lines().any(|l| l == BANNER), "the banner is on stderr: {}", list.output());
    std::fs::remove_file(n.join(".workshop/ws.yaml")).unwrap();
    let list = w(&["list", "--project", &n_arg]);
    assert!(has_exact_line(&list, BANNER), "{}", list.output());
    let warnings = w(&["warnings"]);
    let text = warnings.ok().split_whitespace().collect::<Vec<_>>().join(" ");
    let expected =
        format!(r#"multiple workshops found, but "{n_arg}/.workshop.yaml" not in ".workshop" subdirectory"#);
    assert!(text.contains(&expected), "no {expected:?} in:\n{}", warnings.output());
    assert!(warnings.has_line("^last-occurrence:"), "{}", warnings.output());
    let list = w(&["list", "--project", &n_arg]);
    assert!(!list.output().contains("new warning"), "{}", list.output());

    // W-02: after okay.
    w(&["okay"]).ok();
    assert_eq!(w(&["warnings"]).ok(), "No further warnings.\n");

    w(&["remove", "--project", &n_arg]).ok();
    assert!(project.instances().is_empty(), "{:?}", project.instances());
    // Two root definitions: no name can be inferred, in the reference's words.
    project.write("workshop.yaml", &bare("ws"));
    let launch = w(&["launch", "--project", &n_arg]);
    assert!(launch.fails().contains("cannot infer workshop name: ambiguous file"), "{}", launch.output());
}

/// Shell completion asks the daemon for the project's workshops, filtered by command.
#[test]
fn completion_offers_workshops_by_status() {
    if !lxd_enabled("completion_offers_workshops_by_status") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "completion");
    p.write(".workshop/alpha.yaml", &bare("alpha"));
    p.write(".workshop/beta.yaml", &bare("beta"));
    let complete = |command: &str, current: &str| {
        let env = [
            ("COMPLETE", "bash"),
            ("_CLAP_IFS", "\n"),
            ("_CLAP_COMPLETE_INDEX", "2"),
            ("_CLAP_COMPLETE_COMP_TYPE", "9"),
            ("_CLAP_COMPLETE_SPACE", "true"),
        ];
        let run = d.cli_as(Some(&user), &p.path, &["--", "workshop", command, current], &env);
        run.ok().lines().filter(|l| !l.starts_with('-')).map(String::from).collect::<Vec<_>>()
    };
    assert_eq!(complete("launch", ""), ["alpha", "beta"]);
    assert_eq!(complete("launch", "b"), ["beta"]);
    assert_eq!(complete("info", ""), ["alpha", "beta"]);
    assert!(complete("start", "").is_empty(), "nothing is stopped");
    assert!(complete("stop", "").is_empty(), "nothing runs");
    // From elsewhere, the project the line names (`-p`, `--project`, before or after the
    // command) is the one whose workshops are offered.
    let project = p.path.to_str().unwrap();
    let elsewhere = |words: &[&str]| {
        let index = words.len().to_string();
        let env = [
            ("COMPLETE", "bash"),
            ("_CLAP_IFS", "\n"),
            ("_CLAP_COMPLETE_INDEX", index.as_str()),
            ("_CLAP_COMPLETE_COMP_TYPE", "9"),
            ("_CLAP_COMPLETE_SPACE", "true"),
        ];
        let mut args = vec!["--", "workshop"];
        args.extend_from_slice(words);
        let run = d.cli_as(Some(&user), std::path::Path::new("/"), &args, &env);
        run.ok().lines().filter(|l| !l.starts_with('-')).map(String::from).collect::<Vec<_>>()
    };
    assert_eq!(elsewhere(&["launch", "--project", project, ""]), ["alpha", "beta"]);
    assert_eq!(elsewhere(&["-p", project, "launch", "a"]), ["alpha"]);
    let joined = format!("--project={project}");
    assert_eq!(elsewhere(&["launch", &joined, "b"]), ["beta"]);
    // The registration script hands the words back to `workshop`.
    let script = d.cli_as(Some(&user), &p.path, &["completion", "bash"], &[]);
    assert!(script.ok().contains("COMPLETE=\"bash\""), "{}", script.output());
}

/// Puts a deleted project directory back (with its lock file) so the project's guard can
/// find and remove its instances.
struct Recreate<'a>(&'a Project, String);

impl Drop for Recreate<'_> {
    fn drop(&mut self) {
        let _ = std::fs::create_dir_all(&self.0.path);
        let _ = std::fs::write(self.0.path.join(".workshop.lock"), &self.1);
    }
}

/// A workshop whose project directory was deleted is in Error with the note
/// `missing-project`, and the daemon warns about it.
#[test]
fn deleted_project_directory_is_an_error_with_a_warning() {
    if !lxd_enabled("deleted_project_directory_is_an_error_with_a_warning") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "deleted");
    p.write("workshop.yaml", &bare("ws-gone"));
    let home = user_home(&user);
    let w = |cwd: &Path, args: &[&str]| d.cli_as(Some(&user), cwd, args, &[]);
    w(&p.path, &["launch"]).ok();
    let id = p.id().expect("project id");
    let _recreate = Recreate(&p, id);
    std::fs::remove_dir_all(&p.path).unwrap();

    let global = w(&home, &["list", "--global"]);
    let row = format!(r"{}\s+ws-gone\s+Error\s+missing-project$", starts_with_path(&p.path));
    assert!(global.has_line(&row), "{}", global.output());
    let warnings = w(&home, &["warnings"]);
    let squeezed = warnings.ok().split_whitespace().collect::<Vec<_>>().join(" ");
    let message =
        format!("cannot find project directory {:?} for workshop \"ws-gone\"", p.path.display().to_string());
    assert!(squeezed.contains(&message), "{}", warnings.output());

    // Made again at the same path: the running workshop still has the deleted directory, and
    // says so until it starts again.
    p.write("workshop.yaml", &bare("ws-gone"));
    p.write("new-file", "in the new directory\n");
    let list = w(&p.path, &["list"]);
    assert!(list.has_line(r"^ws-gone\s+Ready\s+replaced-project$"), "{}", list.output());
    let warnings = w(&p.path, &["warnings"]);
    let squeezed = warnings.ok().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(squeezed.contains("was made again since workshop \"ws-gone\" started"), "{}", warnings.output());
    w(&p.path, &["stop"]).ok();
    w(&p.path, &["start"]).ok();
    assert!(w(&p.path, &["list"]).has_line(r"^ws-gone\s+Ready\s+-$"));
    assert_eq!(w(&p.path, &["exec", "--", "cat", "/project/new-file"]).ok(), "in the new directory\n");
}

/// Issue 11 item 1: a definition written for the reference, with a key it ignores, is used;
/// the key is a warning of the user who read it, with its line, column and the key meant.
#[test]
fn unknown_definition_keys_are_warnings() {
    if !lxd_enabled("unknown_definition_keys_are_warnings") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    let p = Project::new(&user, "unknown-keys");
    let stamp = p.path.join("warnings.json");
    let env = [("WORKSHOPD_LAST_WARNING_TIMESTAMP_FILENAME", stamp.to_str().unwrap())];
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &env);
    p.write(".workshop/ws.yaml", "name: ws\nbase: ubuntu@22.04\nactons:\n  x: y\nactions:\n  hi: echo hi\n");
    let actions = w(&["actions", "ws"]);
    assert_eq!(actions.stdout, "hi:\n  script: echo hi\n", "{}", actions.output());
    assert!(actions.stderr.lines().any(|l| l == BANNER), "{}", actions.output());
    let warnings = w(&["warnings"]);
    let text = warnings.ok().split_whitespace().collect::<Vec<_>>().join(" ");
    let expected = format!(
        r#"unknown key "actons" at line 3, column 1 (did you mean "actions"?) (in "{}/.workshop/ws.yaml")"#,
        p.path.display()
    );
    assert!(text.contains(&expected), "no {expected:?} in:\n{}", warnings.output());
}
