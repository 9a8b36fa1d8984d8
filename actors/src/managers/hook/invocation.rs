//! How a hook runs in its workshop (../shared/spec/reference-inventory.md §5): as whom, in
//! which directory, with which environment, and the one command that also skips a hook the
//! SDK does not have, so that a missing hook costs no second round trip.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Hook, HookSetup};
use crate::backend::{ExecSpec, RunLimits, RunOutput};
use crate::managers::command::args::{self, DEFAULT_CWD, WORKSHOP_ID};

/// Where SDK trees are mounted in a workshop, one directory per SDK.
pub const SDK_ROOT: &str = "/var/lib/workshop/sdk";
/// Where SDKs keep state across a rebuild (`save-state`, `restore-state`).
pub const STATE_ROOT: &str = "/var/lib/workshop/state/sdk";
/// Output of a hook kept (both streams together); the rest is read and dropped.
pub const OUTPUT_LIMIT: usize = 10 << 20;
/// What the wrapper writes to its standard error, and only when the SDK has no such hook: a
/// hook's own standard error goes to standard output, so it cannot write this.
pub const SKIPPED: &str = "workshop-hook: no such hook\n";

/// The wrapper, run by `/bin/sh` as root, with the hook's path, its working directory and
/// what to prepare (the SDK's state directory, the workshop user's as the storage it is in),
/// then the command. A hook is a regular file reached without symlinks,
/// in the SDK's read-only tree (so that nothing the workshop writes runs as root); anything
/// else is no hook. Its two output streams become one, in the order written.
const WRAPPER: &str = r#"hook=$1 dir=$2 prepare=$3
shift 3
if [ "$prepare" = state-dir ]; then
    mkdir -p -- "$SDK_STATE_DIR" && chown -h 1000:1000 -- "${SDK_STATE_DIR%/*}" "$SDK_STATE_DIR" || exit
fi
hooks=${hook%/*}
if [ ! -f "$hook" ] || [ -L "$hook" ] || [ "$(cd -P -- "$hooks" 2>/dev/null && pwd -P)" != "$hooks" ]; then
    printf 'workshop-hook: no such hook\n' >&2
    exit 0
fi
cd -- "$dir" || exit
exec "$@" 2>&1
"#;

/// `/var/lib/workshop/sdk/<sdk>` (`$SDK`).
pub fn sdk_dir(sdk: &str) -> String {
    format!("{SDK_ROOT}/{sdk}")
}

/// Where an SDK's hooks are: `$SDK/sdk/hooks`.
pub fn hooks_dir(sdk: &str) -> String {
    format!("{}/sdk/hooks", sdk_dir(sdk))
}

/// The file of `hook` of `sdk`.
pub fn hook_path(sdk: &str, hook: Hook) -> String {
    format!("{}/{}", hooks_dir(sdk), hook.as_str())
}

/// `$SDK_STATE_DIR` of `sdk`.
pub fn state_dir(sdk: &str) -> String {
    format!("{STATE_ROOT}/{sdk}")
}

/// The command running `setup`'s hook with `cookie` as `WORKSHOP_COOKIE`: root in the SDK's
/// hooks directory, except `setup-project`, which runs as the workshop user in `/project`
/// with the session environment of `workshop exec`; always through a login shell, with
/// errexit and pipefail, and xtrace when the change is verbose. A run lasts at most `limit`.
pub fn exec_spec(setup: &HookSetup, cookie: &str, verbose: bool, limit: Duration) -> ExecSpec {
    let (sdk, hook) = (setup.sdk.as_str(), setup.hook);
    let mut extra = BTreeMap::from([
        ("SDK".to_string(), sdk_dir(sdk)),
        ("WORKSHOP_COOKIE".to_string(), cookie.to_string()),
    ]);
    if matches!(hook, Hook::SaveState | Hook::RestoreState) {
        extra.insert("SDK_STATE_DIR".into(), state_dir(sdk));
    }
    let (id, dir, env) = match hook {
        Hook::SetupProject => (WORKSHOP_ID, DEFAULT_CWD.to_string(), args::session_env(WORKSHOP_ID, &extra)),
        _ => (0, hooks_dir(sdk), extra),
    };
    let prepare = if hook == Hook::SaveState { "state-dir" } else { "none" };
    let path = hook_path(sdk, hook);
    let mut command: Vec<String> =
        vec!["/bin/sh".into(), "-c".into(), WRAPPER.into(), "workshop-hook".into()];
    command.extend([path.clone(), dir, prepare.to_string()]);
    command.extend(args::login_prefix(id, id, &env, false));
    command.extend(["bash", "-o", "errexit", "-o", "pipefail"].map(String::from));
    if verbose {
        command.extend(["-o", "xtrace"].map(String::from));
    }
    command.push(path);
    ExecSpec {
        command,
        env,
        cwd: Some("/".into()),
        uid: 0,
        gid: 0,
        limits: RunLimits { output: OUTPUT_LIMIT, timeout: limit },
        ..ExecSpec::default()
    }
}

/// How a run of a hook went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// The SDK has no such hook.
    Skipped,
    /// The hook ran: its exit code and what it printed.
    Finished { code: i32, output: Vec<u8>, truncated: bool },
}

impl Ran {
    /// What the backend's collected run says.
    pub fn of(out: RunOutput) -> Self {
        if out.exit_code == 0 && out.stderr == SKIPPED.as_bytes() {
            return Self::Skipped;
        }
        // Only the wrapper writes to standard error (when it cannot prepare the run).
        let mut output = out.stdout;
        output.extend_from_slice(&out.stderr);
        Self::Finished { code: out.exit_code, output, truncated: out.truncated }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(hook: Hook) -> HookSetup {
        HookSetup { sdk: "one".into(), hook, timeout: None }
    }

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn root_hooks_run_in_the_hooks_directory_with_the_sdk_and_the_cookie() {
        let spec = exec_spec(&setup(Hook::SetupBase), "c00k1e", false, Duration::from_secs(7));
        assert_eq!((spec.uid, spec.gid, spec.cwd.as_deref()), (0, 0, Some("/")));
        assert_eq!(spec.limits, RunLimits { output: 10 << 20, timeout: Duration::from_secs(7) });
        assert_eq!(
            spec.env,
            BTreeMap::from([
                ("SDK".to_string(), "/var/lib/workshop/sdk/one".to_string()),
                ("WORKSHOP_COOKIE".to_string(), "c00k1e".to_string()),
            ])
        );
        assert_eq!(&spec.command[..2], &v(&["/bin/sh", "-c"])[..]);
        assert_eq!(
            &spec.command[3..],
            &v(&[
                "workshop-hook",
                "/var/lib/workshop/sdk/one/sdk/hooks/setup-base",
                "/var/lib/workshop/sdk/one/sdk/hooks",
                "none",
                workshop_api::exec::GUEST_EXEC,
                "-u",
                "#0",
                "-g",
                "#0",
                "--preserve-env=SDK,WORKSHOP_COOKIE",
                "--",
                "bash",
                "-l",
                "-c",
                "exec -- \"$0\" \"$@\"",
                "bash",
                "-o",
                "errexit",
                "-o",
                "pipefail",
                "/var/lib/workshop/sdk/one/sdk/hooks/setup-base",
            ])[..]
        );
    }

    #[test]
    fn setup_project_runs_as_the_workshop_user_in_the_project_with_a_session() {
        let spec = exec_spec(&setup(Hook::SetupProject), "c", false, Duration::from_secs(1));
        let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            env,
            v(&[
                "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus",
                "HOME=/home/workshop",
                "LANG=C.UTF-8",
                "SDK=/var/lib/workshop/sdk/one",
                "USER=workshop",
                "WORKSHOP_COOKIE=c",
                "XDG_RUNTIME_DIR=/run/user/1000",
            ])
        );
        assert_eq!(
            &spec.command[4..7],
            &v(&["/var/lib/workshop/sdk/one/sdk/hooks/setup-project", "/project", "none"])[..]
        );
        assert_eq!(
            &spec.command[7..12],
            &v(&[workshop_api::exec::GUEST_EXEC, "-u", "#1000", "-g", "#1000"])[..]
        );
        assert!(spec.command[12].contains("XDG_RUNTIME_DIR"), "{}", spec.command[12]);
    }

    #[test]
    fn state_hooks_know_their_state_directory_and_save_state_prepares_it() {
        let save = exec_spec(&setup(Hook::SaveState), "c", false, Duration::from_secs(1));
        assert_eq!(save.env["SDK_STATE_DIR"], "/var/lib/workshop/state/sdk/one");
        assert_eq!(save.command[6], "state-dir");
        let restore = exec_spec(&setup(Hook::RestoreState), "c", false, Duration::from_secs(1));
        assert_eq!(restore.env["SDK_STATE_DIR"], "/var/lib/workshop/state/sdk/one");
        assert_eq!(restore.command[6], "none");
        let health = exec_spec(&setup(Hook::CheckHealth), "c", false, Duration::from_secs(1));
        assert!(!health.env.contains_key("SDK_STATE_DIR"));
        assert_eq!(health.cwd.as_deref(), Some("/"));
    }

    #[test]
    fn verbose_changes_trace_the_hook() {
        let spec = exec_spec(&setup(Hook::CheckHealth), "c", true, Duration::from_secs(1));
        let tail = &spec.command[spec.command.len() - 8..];
        assert_eq!(
            tail,
            &v(&[
                "bash",
                "-o",
                "errexit",
                "-o",
                "pipefail",
                "-o",
                "xtrace",
                "/var/lib/workshop/sdk/one/sdk/hooks/check-health"
            ])[..]
        );
    }

    #[test]
    fn a_skip_is_told_by_the_wrappers_own_stream_only() {
        let skipped = RunOutput { exit_code: 0, stderr: SKIPPED.as_bytes().to_vec(), ..RunOutput::default() };
        assert_eq!(Ran::of(skipped), Ran::Skipped);
        // A hook printing the marker prints it to standard output, which is not a skip.
        let printed = RunOutput { exit_code: 0, stdout: SKIPPED.as_bytes().to_vec(), ..RunOutput::default() };
        assert!(matches!(Ran::of(printed), Ran::Finished { code: 0, .. }));
        let failed = RunOutput {
            exit_code: 2,
            stdout: b"out\n".to_vec(),
            stderr: b"cd: /project: No such file\n".to_vec(),
            truncated: false,
        };
        assert_eq!(
            Ran::of(failed),
            Ran::Finished {
                code: 2,
                output: b"out\ncd: /project: No such file\n".to_vec(),
                truncated: false
            }
        );
    }
}
