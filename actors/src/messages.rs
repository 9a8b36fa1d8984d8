//! Messages users see whose words come from the reference Workshop (its CLI prints the
//! daemon's errors and warnings as they are, and scripts match them). The managers, the LXD
//! backend and the health monitor build them here, so that one table test pins every one
//! against the reference's text. Where ours says more (a path, a hint), the reference's words
//! come first.

use std::fmt::Debug;

/// `--wait-on-error` (or `--continue`, `--abort`) with several workshops.
pub const MULTIPLE_WAIT_ON_ERROR: &str = "wait-on-error is not supported for multiple workshops";

/// `workshop run` of an action the definition does not have.
pub const ACTION_NOT_FOUND: &str = "action not found";

/// A request naming no workshop.
pub fn no_workshop_names(action: &str) -> String {
    format!("cannot {action}: no workshop names provided")
}

/// `"a", "b"`: workshop names as the reference quotes them in a message.
pub fn quoted_names(names: &[String]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// A refresh with nothing to do (reference: error kind `no-updates-available`).
pub fn no_updates(names: &[String]) -> String {
    format!("no updates available for {}", quoted_names(names))
}

/// A mode other than transactional for an action that has no such mode.
pub fn mode_not_valid(action: &str, mode: &str) -> String {
    format!("cannot {action}: mode {mode:?} is not valid with the {action:?} command")
}

/// `--continue` or `--abort` (`verb`) with no paused `action` change.
pub fn no_waiting_change(verb: &str, action: &str) -> String {
    format!("cannot {verb}: no {action} in progress")
}

/// The task log line of a resumed (`--continue`) or aborted paused change.
pub fn resume_log(abort: bool, action: &str, workshop: &str) -> String {
    let what = if abort { "Aborting" } else { "Continuing" };
    format!("{what} {action:?} for workshop {workshop:?}...")
}

/// The task log line of a refresh asked not to save the SDKs' state (`--skip-save-state`).
pub fn state_not_saved(sdks: &[&str]) -> String {
    let names: Vec<String> = sdks.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "The state of SDKs {} is not saved and restored (--skip-save-state): their save-state and restore-state hooks do not run",
        names.join(", ")
    )
}

/// `exec`/`run` (`verb`) of a command or action (`what`) in a workshop that is not running.
pub fn not_running(verb: &str, what: &str, workshop: &str) -> String {
    cannot_in(verb, what, workshop, "not running")
}

/// `exec`/`run` (`verb`) of a command or action (`what`) refused in a workshop, and `why`.
pub fn cannot_in(verb: &str, what: &str, workshop: &str, why: &str) -> String {
    format!("cannot {verb} {what} in {workshop:?}: {why}")
}

/// A connection made while command sessions run in the workshop (reference §4).
pub fn sessions_need_restart(workshop: &str) -> String {
    format!("active shell sessions in {workshop:?} may need restarting for new connections to take effect")
}

/// The working directory of an exec does not exist in the workshop.
pub fn working_directory_not_found(cwd: &str) -> String {
    format!("working directory {cwd:?} not found")
}

/// An exec task whose client did not connect its streams in time.
pub fn exec_not_connected(task: &str) -> String {
    format!("exec {task}: timeout waiting for websocket connections: context deadline exceeded")
}

/// An exec task whose arguments (kept in memory only) were lost to a daemon restart.
pub fn exec_interrupted(task: &str) -> String {
    format!("cannot get exec args for task {task:?}: task was probably interrupted")
}

/// The warning for a workshop whose project directory is gone.
pub fn missing_project_directory(path: &str, workshop: &str) -> String {
    format!("cannot find project directory {path:?} for workshop {workshop:?}")
}

/// The warning for a running workshop whose project directory was deleted and made again
/// since it started (it still has the deleted one at `/project`).
pub fn replaced_project_directory(path: &str, workshop: &str) -> String {
    format!(
        "project directory {path:?} was made again since workshop {workshop:?} started: it still has \
         the one deleted at /project (stop and start it to mount the new one)"
    )
}

/// The warning when the host's time zone is unknown (no `/etc/timezone`, `/etc/localtime`
/// link or `TZ`): the workshop keeps its own.
pub fn no_time_zone() -> String {
    "cannot determine system time zone: no /etc/timezone, /etc/localtime link or TZ on the host".into()
}

/// Why the daemon is in degraded mode (every change refused).
pub fn unhealthy(why: &str) -> String {
    format!("system is not healthy: {why}")
}

/// An LXD server without the API extensions workshop uses. The reference requires a version
/// (6.8); we require extensions instead, so that LXD 5.0 works.
pub fn incompatible_server(version: &str, missing: &[&str]) -> String {
    format!(
        "incompatible backend: LXD server version {version:?} is not supported; it lacks the API \
         extension(s) {}, so a newer LXD is needed",
        missing.join(", ")
    )
}

/// An LXD server without a storage driver workshop can use (`supported` are its drivers).
pub fn no_storage_driver(supported: &[impl AsRef<str> + Debug]) -> String {
    let supported: Vec<&str> = supported.iter().map(AsRef::as_ref).collect();
    format!(
        "suitable storage backend not found: LXD supports neither zfs nor btrfs here (it has: {}); \
         install zfsutils-linux or btrfs-progs and restart LXD",
        supported.join(", ")
    )
}

#[cfg(test)]
mod reference {
    //! The table: each reference text and how ours is produced. Ours must start with the
    //! reference's text (`Starts`), or hold it after a part the reference fills in from
    //! elsewhere, e.g. an error of Go's network library (`Holds`), or equal it (`Is`).

    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::lxd::{LxdError, Unreachable};
    use crate::managers::command::BridgeError;
    use crate::project::ProjectError;

    enum Fit {
        Is,
        Starts,
        Holds,
    }
    use Fit::*;

    fn unreachable(socket: &str, reason: Unreachable) -> String {
        LxdError::Unreachable { socket: socket.into(), reason }.to_string()
    }

    const SNAP_LXD: &str = "/var/snap/lxd/common/lxd/unix.socket";

    #[test]
    fn ours_say_the_reference_words() {
        let state_err = {
            let mut st = crate::state::State::new();
            let now = chrono::Utc::now();
            let change = st.new_change("exec", "Execute action \"line1\"", now);
            let task = st.new_task("install-action", "Install action \"line1\"", now);
            st.add_task(&change, &task);
            st.set_task_status(&task, crate::state::Status::Error, now);
            if let Some(t) = st.task_mut(&task) {
                t.logf(crate::state::LogLevel::Error, ACTION_NOT_FOUND, now);
            }
            st.change_err(&change).unwrap_or_default()
        };
        let table: Vec<(&str, Fit, String)> = vec![
            // §1.0, §2.3: projects.
            ("not a project (no workshop files found)", Is, ProjectError::NotProject.to_string()),
            // §3.1: definition files.
            (
                "ambiguous file \"/p/workshop.yaml\"",
                Starts,
                ProjectError::Ambiguous { path: "/p/workshop.yaml".into(), other: ".workshop.yaml".into() }
                    .to_string(),
            ),
            (
                // P-12.
                "multiple workshops found, but \"/p/.workshop.yaml\" not in \".workshop\" subdirectory",
                Is,
                ProjectError::RootFileWithDirectory { path: PathBuf::from("/p/.workshop.yaml") }.to_string(),
            ),
            (
                "\"x\" workshop file must be named \"x.yaml\" (now: ",
                Starts,
                ProjectError::Misnamed { name: "x".into(), file: "y.yaml".into() }.to_string(),
            ),
            (
                "workshop definition \"/p/.workshop/x.yaml\" not found",
                Is,
                ProjectError::DefinitionNotFound { path: "/p/.workshop/x.yaml".into() }.to_string(),
            ),
            // §6.4 warnings: a missing project directory.
            (
                "cannot find project directory \"/p\" for workshop \"ws\"",
                Is,
                missing_project_directory("/p", "ws"),
            ),
            // §2.3: workshop actions.
            ("wait-on-error is not supported for multiple workshops", Is, MULTIPLE_WAIT_ON_ERROR.into()),
            (
                "cannot start: mode \"wait-on-error\" is not valid with the \"start\" command",
                Is,
                mode_not_valid("start", "wait-on-error"),
            ),
            ("cannot stop: no workshop names provided", Is, no_workshop_names("stop")),
            // L-09, §1.1.
            ("cannot abort: no launch in progress", Is, no_waiting_change("abort", "launch")),
            ("cannot continue: no launch in progress", Is, no_waiting_change("continue", "launch")),
            // L-10 step 5, §6.3.
            (
                "Aborting \"launch\" for workshop \"ws-launch-abort\"...",
                Is,
                resume_log(true, "launch", "ws-launch-abort"),
            ),
            ("Continuing \"refresh\" for workshop \"ws\"...", Is, resume_log(false, "refresh", "ws")),
            // F-01, §1.1 refresh.
            ("no updates available for \"ws-refresh\"", Is, no_updates(&["ws-refresh".into()])),
            // T-01, §6.7: change summaries.
            (
                "Launch \"ws-changes\" workshop",
                Is,
                crate::managers::workshop::plan::summary("launch", &["ws-changes"]),
            ),
            (
                "Remove \"a\", \"b\" workshops",
                Is,
                crate::managers::workshop::plan::summary("remove", &["a", "b"]),
            ),
            // E-18.
            (
                "cannot exec command in \"ws-exec\": not running",
                Is,
                not_running("exec", "command", "ws-exec"),
            ),
            // §8.8, A-06.
            ("action not found", Is, ACTION_NOT_FOUND.into()),
            ("working directory \"/nope\" not found", Is, working_directory_not_found("/nope")),
            (
                "cannot perform the following tasks:\n- Install action \"line1\" (action not found)",
                Is,
                state_err,
            ),
            // §6.6.
            ("cannot get exec args", Starts, exec_interrupted("7")),
            ("task was probably interrupted", Holds, exec_interrupted("7")),
            (
                "exec 7: timeout waiting for websocket connections: context deadline exceeded",
                Is,
                exec_not_connected("7"),
            ),
            // E-10, §2.3.
            (
                "timed out after 1s: context deadline exceeded",
                Is,
                BridgeError::TimedOut(Duration::from_secs(1)).to_string(),
            ),
            // §6.6: a state written by a newer daemon.
            (
                "cannot downgrade: workshopd is too old for the current system state",
                Starts,
                crate::state::StateError::TooNew { level: 2 }.to_string(),
            ),
            // §6.6 warnings.
            ("cannot determine system time zone: ", Starts, no_time_zone()),
            // §9 degraded mode, §7 connection errors.
            ("system is not healthy: ", Starts, unhealthy("cannot connect to LXD: x")),
            ("cannot connect to LXD: ", Starts, unreachable(SNAP_LXD, Unreachable::Refused)),
            (
                "\n\nMaybe LXD daemon isn't active?\nTo start the LXD daemon: 'sudo snap start lxd'",
                Holds,
                unreachable(SNAP_LXD, Unreachable::Refused),
            ),
            ("cannot connect to LXD: ", Starts, unreachable(SNAP_LXD, Unreachable::NoSuchFile)),
            (
                "\n\nMaybe LXD isn't installed?\nTo install LXD: 'sudo snap install --channel=6/stable lxd'",
                Holds,
                unreachable(SNAP_LXD, Unreachable::NoSuchFile),
            ),
            (
                "\n\nMaybe LXD daemon isn't active?\nTo start the LXD daemon: ",
                Holds,
                unreachable("/var/lib/lxd/unix.socket", Unreachable::Refused),
            ),
            (
                "\n\nMaybe LXD isn't installed?\nTo install LXD: ",
                Holds,
                unreachable("/var/lib/lxd/unix.socket", Unreachable::NoSuchFile),
            ),
            (
                "incompatible backend: LXD server version \"4.0.0\" is not supported",
                Starts,
                incompatible_server("4.0.0", &["projects"]),
            ),
            ("suitable storage backend not found: ", Starts, no_storage_driver(&["dir"])),
        ];
        for (reference, fit, ours) in table {
            let fits = match fit {
                Is => ours == reference,
                Starts => ours.starts_with(reference),
                Holds => ours.contains(reference),
            };
            assert!(
                fits,
                "ours does not say the reference's words:\n  reference: {reference:?}\n  ours:      {ours:?}"
            );
        }
    }
}
