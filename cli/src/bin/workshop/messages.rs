//! What `workshop` prints in the reference Workshop's words (its CLI's output and errors, which
//! scripts match). The commands build their messages here so that one table test pins each
//! against the reference's text; where ours says more (a hint, a path), the reference's words
//! come first.

use crate::context::quoted;

/// `list --global` with `--project`.
pub const LIST_GLOBAL_WITH_PROJECT: &str = "cannot list: \"--project\" incompatible with \"--global\"";
/// `connections WS --all` (C-22).
pub const CONNECTIONS_ALL_WITH_NAME: &str = "cannot use --all with workshop name";
/// `exec -i -I`.
pub const EXEC_BOTH_MODES: &str = "\"-i\" incompatible with \"-I\"";
/// `tasks` without an id when the project has no change.
pub const NO_CHANGES: &str = "cannot find any changes";
/// `tasks` without an id when no change of the project has tasks.
pub const NO_NONEMPTY_CHANGES: &str = "cannot find any nonempty changes";
/// `warnings` when there are none and none were ever listed.
pub const NO_WARNINGS: &str = "No warnings.";
/// `warnings` when there are none since the last listing.
pub const NO_FURTHER_WARNINGS: &str = "No further warnings.";
/// `okay` before any `warnings`.
pub const OKAY_BEFORE_WARNINGS: &str =
    "use \"workshop warnings\" to view the warnings before dismissing them";

/// `"a", "b" launched`.
pub fn launched(names: &[String]) -> String {
    format!("{} launched", quoted(names))
}

/// `"a", "b" launch aborted`.
pub fn launch_aborted(names: &[String]) -> String {
    format!("{} launch aborted", quoted(names))
}

/// A transactional launch that failed: the change's error, then what became of it.
pub fn launch_failed(err: &str, names: &[String]) -> String {
    format!("{err}\n{}", launch_aborted(names))
}

/// `"ws" started` (or stopped, removed): one line per workshop.
pub fn done(name: &str, participle: &str) -> String {
    format!("{name:?} {participle}")
}

/// A launch or refresh (`verb`) paused on an error, and how to go on.
pub fn paused(verb: &str, name: &str, change: &str) -> String {
    paused_as(verb, verb, name, change)
}

/// A sketch's refresh waits on error: it is resumed as a refresh.
pub fn sketch_paused(name: &str, change: &str) -> String {
    paused_as("sketch", "refresh", name, change)
}

/// `what` of `name` paused; `verb --abort` or `verb --continue` goes on.
fn paused_as(what: &str, verb: &str, name: &str, change: &str) -> String {
    format!(
        "cannot {what} {name:?}; paused\nTo view details: \"workshop tasks {change}\"\n\n\
         To abort and undo: \"workshop {verb} --abort {name}\"\n\
         Otherwise, resolve the error, then run \"workshop {verb} --continue {name}\""
    )
}

/// `--continue` or `--abort` (`verb`) with no paused `action`.
pub fn nothing_to_resume(verb: &str, action: &str) -> String {
    format!("cannot {verb}: no {action} in progress")
}

/// `verb` refused because another change of `kind` holds the workshop.
pub fn in_progress(verb: &str, workshop: &str, kind: &str) -> String {
    format!("cannot {verb} {workshop:?}: {kind} change is in progress")
}

/// `start` refused because a change of `kind` waits on an error.
pub fn start_waiting(workshop: &str, kind: &str) -> String {
    format!("cannot start {workshop:?}: {kind} change is waiting on error")
}

/// `start` refused because a change of `kind` is in progress.
pub fn start_in_progress(workshop: &str, kind: &str) -> String {
    format!("cannot start {workshop:?}: change {kind} is in progress")
}

/// `exec`/`run` (`verb`) whose first word may be a workshop or the command (`what`), with
/// the unambiguous command line (`suggestion`, already quoted for a shell).
pub fn unclear(first: &str, what: &str, suggestion: &str) -> String {
    format!("unclear if {first:?} names a workshop or {what}: try \"{suggestion}\"")
}

/// An unknown command, with clap's suggestions.
pub fn unknown_command(name: &str, suggestions: &[String]) -> String {
    let mut text = format!("unknown command {name:?} for \"workshop\"");
    if !suggestions.is_empty() {
        text.push_str("\n\nDid you mean this?");
        for s in suggestions {
            text.push_str(&format!("\n\t{s}"));
        }
    }
    text
}

/// `init` refused next to a root definition (`root`); `dest` is where to move it.
pub fn init_root_exists(root: &str, dest: &str) -> String {
    format!("cannot init: {root:?} already exists, move it to {dest} first to manage multiple workshops")
}

/// `init` done.
pub fn init_created(name: &str, path: &std::path::Path) -> String {
    format!("{name:?} workshop created at {}", path.display())
}

#[cfg(test)]
mod reference {
    //! The table: each reference text (§1.0, §1.1 and the acceptance cases) and how ours is
    //! produced. Ours must equal it (`Is`) or start with it (`Starts`).

    use std::path::Path;

    use chrono::{TimeZone, Utc};
    use workshop_client::{ClientError, WarningsSummary};

    use super::*;
    use crate::context::infer_name;

    enum Fit {
        Is,
        Starts,
    }
    use Fit::*;

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ours_say_the_reference_words() {
        let banner = |count| {
            let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
            crate::warnstamp::banner(WarningsSummary { count, timestamp: Some(at) }, None).unwrap_or_default()
        };
        let table: Vec<(&str, Fit, String)> = vec![
            // §1.0.
            (
                "unknown command \"lst\" for \"workshop\"\n\nDid you mean this?\n\tlist",
                Is,
                unknown_command("lst", &v(&["list"])),
            ),
            (
                "cannot infer workshop name: multiple workshops found: \"a\", \"b\"",
                Is,
                infer_name(v(&["a", "b"]), "/p").unwrap_err().to_string(),
            ),
            (
                "cannot infer workshop name: no workshops found in \"/home/u/p\"",
                Is,
                infer_name(Vec::new(), "/home/u/p").unwrap_err().to_string(),
            ),
            (
                "cannot interrupt: it may break the workshop, please wait until the operation is finished",
                Is,
                crate::wait::CANNOT_INTERRUPT.into(),
            ),
            ("Waiting for server to restart", Is, crate::wait::SERVER_RESTARTING.into()),
            ("WARNING: There is 1 new warning. See \"workshop warnings\".", Is, banner(1)),
            ("WARNING: There are 3 new warnings. See \"workshop warnings\".", Is, banner(3)),
            (
                "cannot communicate with workshopd: ",
                Starts,
                ClientError::Communication("connection refused".into()).to_string(),
            ),
            // §1.1 init (I-01, I-05).
            (
                "cannot init: \"workshop.yaml\" already exists, move it to .workshop/main.yaml first to manage multiple workshops",
                Is,
                init_root_exists("workshop.yaml", ".workshop/main.yaml"),
            ),
            (
                "\"dev\" workshop created at /p/.workshop/dev.yaml",
                Is,
                init_created("dev", Path::new("/p/.workshop/dev.yaml")),
            ),
            // launch (L-01, L-06, L-09, L-10).
            ("\"a\", \"b\" launched", Is, launched(&v(&["a", "b"]))),
            ("\"ws-launch-abort\" launch aborted", Is, launch_aborted(&v(&["ws-launch-abort"]))),
            ("boom\n\"a\" launch aborted", Is, launch_failed("boom", &v(&["a"]))),
            (
                "cannot launch \"ws\"; paused\nTo view details: \"workshop tasks 42\"\n\nTo abort and undo: \"workshop launch --abort ws\"\nOtherwise, resolve the error, then run \"workshop launch --continue ws\"",
                Is,
                paused("launch", "ws", "42"),
            ),
            ("cannot launch \"ws\": remove change is in progress", Is, in_progress("launch", "ws", "remove")),
            ("cannot abort: no launch in progress", Is, nothing_to_resume("abort", "launch")),
            ("cannot continue: no launch in progress", Is, nothing_to_resume("continue", "launch")),
            // start, stop, remove (S-01, S-02, S-04, R-01).
            ("\"ws-start\" started", Is, done("ws-start", "started")),
            ("\"ws-stop\" stopped", Is, done("ws-stop", "stopped")),
            ("\"ws-remove\" removed", Is, done("ws-remove", "removed")),
            (
                "cannot start \"ws-start-conflict\": refresh change is waiting on error",
                Is,
                start_waiting("ws-start-conflict", "refresh"),
            ),
            ("cannot start \"ws\": change remove is in progress", Is, start_in_progress("ws", "remove")),
            // list (§1.1), exec (E-16, E-02).
            (
                "cannot list: \"--project\" incompatible with \"--global\"",
                Is,
                LIST_GLOBAL_WITH_PROJECT.into(),
            ),
            ("\"-i\" incompatible with \"-I\"", Is, EXEC_BOTH_MODES.into()),
            ("cannot use --all with workshop name", Is, CONNECTIONS_ALL_WITH_NAME.into()),
            (
                "unclear if \"x\" names a workshop or command: try \"workshop exec -- x\"",
                Is,
                unclear("x", "command", "workshop exec -- x"),
            ),
            // changes and tasks (§1.1), warnings and okay (W-01, W-02).
            ("cannot find any changes", Is, NO_CHANGES.into()),
            ("cannot find any nonempty changes", Is, NO_NONEMPTY_CHANGES.into()),
            ("No warnings.", Is, NO_WARNINGS.into()),
            ("No further warnings.", Is, NO_FURTHER_WARNINGS.into()),
            (
                "use \"workshop warnings\" to view the warnings before dismissing them",
                Is,
                OKAY_BEFORE_WARNINGS.into(),
            ),
        ];
        for (reference, fit, ours) in table {
            let fits = match fit {
                Is => ours == reference,
                Starts => ours.starts_with(reference),
            };
            assert!(
                fits,
                "ours does not say the reference's words:\n  reference: {reference:?}\n  ours:      {ours:?}"
            );
        }
    }
}
