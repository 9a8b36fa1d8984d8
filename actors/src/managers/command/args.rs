//! Exec arguments: an API exec request checked and completed with the reference's defaults,
//! and the commands the backend runs for it (ad-hoc commands and actions).

use std::collections::BTreeMap;
use std::time::Duration;

use workshop_api::exec::{ExecRequest, user_switch};
use workshop_api::ids::ActionName;

use crate::backend::ExecSpec;

/// The guest user's uid and gid.
pub const WORKSHOP_ID: u32 = 1000;
/// Default working directory.
pub const DEFAULT_CWD: &str = "/project";
/// Where installed actions live inside a workshop.
pub const ACTIONS_DIR: &str = "/var/lib/workshop/run/actions";

/// Everything needed to run one exec task. Lives only in memory (the daemon's exec cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecArgs {
    /// The command as the user gave it; for actions, the action name and its arguments.
    pub user_command: Vec<String>,
    /// What the backend runs (as root): the login-shell wrapper and the user's command. For
    /// actions this is set when the action is installed.
    pub command: Vec<String>,
    /// `command[0]` names an action of the definition.
    pub action: bool,
    pub env: BTreeMap<String, String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub interactive: bool,
    pub width: u16,
    pub height: u16,
    pub timeout: Option<Duration>,
}

impl ExecArgs {
    /// Checks `req` and fills in the defaults (uid/gid 1000, cwd `/project`, the session
    /// environment). Errors are the text of a bad-request response.
    pub fn from_request(req: &ExecRequest) -> Result<Self, String> {
        let Some(argv0) = req.command.first() else {
            return Err("cannot exec: no command given".into());
        };
        if argv0.is_empty() {
            return Err("cannot exec: empty command name".into());
        }
        if req.action {
            // The name becomes a file name in the workshop: only the definition's grammar.
            argv0.parse::<ActionName>().map_err(|e| format!("cannot run: {e}"))?;
        }
        let (uid, gid) = match (req.user_id, req.group_id) {
            (Some(uid), Some(gid)) => (uid, gid),
            (None, None) => (WORKSHOP_ID, WORKSHOP_ID),
            _ => return Err("cannot exec: user-id and group-id must be given together".into()),
        };
        let cwd = if req.working_dir.is_empty() { DEFAULT_CWD.to_string() } else { req.working_dir.clone() };
        if !cwd.starts_with('/') {
            return Err(format!("cannot exec: working directory {cwd:?} is not absolute"));
        }
        let timeout = match req.timeout.as_str() {
            "" => None,
            text => {
                let t = workshop_api::duration::parse(text).map_err(|e| format!("cannot exec: {e}"))?;
                (!t.is_zero()).then_some(t)
            }
        };
        let env = session_env(uid, &req.environment);
        let command = if req.action {
            // Rewritten by install-action once the script is in place.
            req.command.clone()
        } else {
            let prefix = if req.command_prefix.is_empty() {
                login_prefix(uid, gid, &env, req.interactive)
            } else {
                req.command_prefix.clone()
            };
            prefix.into_iter().chain(req.command.iter().cloned()).collect()
        };
        Ok(Self {
            user_command: req.command.clone(),
            command,
            action: req.action,
            env,
            cwd,
            uid,
            gid,
            interactive: req.interactive,
            width: req.width,
            height: req.height,
            timeout,
        })
    }

    /// The user's command name (the action name for actions).
    pub fn argv0(&self) -> &str {
        self.user_command.first().map(String::as_str).unwrap_or_default()
    }

    /// `command` or `action`, as summaries and errors say it.
    pub fn what(&self) -> &'static str {
        if self.action { "action" } else { "command" }
    }

    /// Where the action's script is installed.
    pub fn action_path(&self) -> String {
        format!("{ACTIONS_DIR}/{}", self.argv0())
    }

    /// The command running the installed action with the user's arguments: a login shell
    /// (the environment `/etc/profile.d` prepares) that replaces itself with
    /// `bash -eo pipefail <script> ARGS...`, as hooks run.
    ///
    /// Not the reference's `bash -elo pipefail <script>`: a login shell that runs `exit`
    /// reads `~/.bash_logout`, where Debian's and Ubuntu's `clear_console` fails without a
    /// console, so errexit made every action ending with `exit N` (even `exit 0`) exit 1; a
    /// failing line of a profile script aborted the action too.
    pub fn action_command(&self) -> Vec<String> {
        let mut command = switch_user(self.uid, self.gid, &self.env, self.interactive);
        command.extend(["bash", "-l", "-c", "exec bash -eo pipefail \"$0\" \"$@\""].map(String::from));
        command.push(self.action_path());
        command.extend(self.user_command.iter().skip(1).cloned());
        command
    }

    /// The backend request: run `command` as root (the wrapper switches user).
    pub fn spec(&self) -> ExecSpec {
        ExecSpec {
            command: self.command.clone(),
            env: self.env.clone(),
            cwd: Some(self.cwd.clone()),
            uid: 0,
            gid: 0,
            interactive: self.interactive,
            width: self.width,
            height: self.height,
            // Input, output and time of a session are the client's to bound.
            ..ExecSpec::default()
        }
    }
}

/// The session environment: `LANG`, the user's home and name (for the workshop user and
/// root), the runtime directory and session bus, then what the client sent (hooks run as the
/// workshop user get the same).
pub(crate) fn session_env(uid: u32, client: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([("LANG".to_string(), "C.UTF-8".to_string())]);
    let account = match uid {
        WORKSHOP_ID => Some(("/home/workshop", "workshop")),
        0 => Some(("/root", "root")),
        _ => None,
    };
    if let Some((home, user)) = account {
        env.insert("HOME".into(), home.into());
        env.insert("USER".into(), user.into());
    }
    let runtime = format!("/run/user/{uid}");
    env.insert("DBUS_SESSION_BUS_ADDRESS".into(), format!("unix:path={runtime}/bus"));
    env.insert("XDG_RUNTIME_DIR".into(), runtime);
    env.extend(client.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// `<switch> -u #<uid> -g #<gid> --preserve-env=<keys> --` with sudo's arguments (the switch
/// is sudo under workshop-tty or workshop-exec, see [`user_switch`]).
fn switch_user(uid: u32, gid: u32, env: &BTreeMap<String, String>, interactive: bool) -> Vec<String> {
    let mut command: Vec<String> = user_switch(interactive).iter().map(|w| w.to_string()).collect();
    command.extend(["-u".into(), format!("#{uid}"), "-g".into(), format!("#{gid}")]);
    if !env.is_empty() {
        let keys: Vec<&str> = env.keys().map(String::as_str).collect();
        command.push(format!("--preserve-env={}", keys.join(",")));
    }
    command.push("--".into());
    command
}

/// The wrapper that runs a command in a login shell of the user, so `/etc/profile.d` applies
/// (also the prefix of every hook).
pub(crate) fn login_prefix(
    uid: u32,
    gid: u32,
    env: &BTreeMap<String, String>,
    interactive: bool,
) -> Vec<String> {
    let mut prefix = switch_user(uid, gid, env, interactive);
    prefix.extend(["bash", "-l", "-c", "exec -- \"$0\" \"$@\""].map(String::from));
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn request(command: &[&str]) -> ExecRequest {
        ExecRequest { command: v(command), ..ExecRequest::default() }
    }

    #[test]
    fn defaults_are_the_workshop_user_in_the_project() {
        let args = ExecArgs::from_request(&request(&["env"])).unwrap();
        assert_eq!((args.uid, args.gid, args.cwd.as_str()), (1000, 1000, "/project"));
        assert_eq!(
            args.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            v(&[
                "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus",
                "HOME=/home/workshop",
                "LANG=C.UTF-8",
                "USER=workshop",
                "XDG_RUNTIME_DIR=/run/user/1000",
            ])
        );
        assert_eq!(args.timeout, None);
        assert_eq!(
            args.command,
            v(&[
                workshop_api::exec::GUEST_EXEC,
                "-u",
                "#1000",
                "-g",
                "#1000",
                "--preserve-env=DBUS_SESSION_BUS_ADDRESS,HOME,LANG,USER,XDG_RUNTIME_DIR",
                "--",
                "bash",
                "-l",
                "-c",
                "exec -- \"$0\" \"$@\"",
                "env",
            ])
        );
        let spec = args.spec();
        assert_eq!((spec.uid, spec.gid, spec.cwd.as_deref()), (0, 0, Some("/project")));
    }

    #[test]
    fn root_gets_roots_home_and_the_client_environment_wins() {
        let mut req = request(&["id"]);
        req.user_id = Some(0);
        req.group_id = Some(0);
        req.environment = BTreeMap::from([
            ("XDG_RUNTIME_DIR".to_string(), "/tmp/rt".to_string()),
            ("Foo".to_string(), "bar".to_string()),
        ]);
        let args = ExecArgs::from_request(&req).unwrap();
        assert_eq!(args.env["HOME"], "/root");
        assert_eq!(args.env["USER"], "root");
        assert_eq!(args.env["XDG_RUNTIME_DIR"], "/tmp/rt");
        assert_eq!(args.env["DBUS_SESSION_BUS_ADDRESS"], "unix:path=/run/user/0/bus");
        assert_eq!(args.env["Foo"], "bar");
        assert_eq!(&args.command[..5], &v(&[workshop_api::exec::GUEST_EXEC, "-u", "#0", "-g", "#0"])[..]);
        assert!(args.command[5].contains("Foo"));

        req.user_id = Some(1001);
        req.group_id = Some(1001);
        let other = ExecArgs::from_request(&req).unwrap();
        assert!(!other.env.contains_key("HOME") && !other.env.contains_key("USER"));
    }

    #[test]
    fn the_clients_prefix_is_used_as_given() {
        let mut req = request(&["/bin/echo", "hi"]);
        req.command_prefix = v(&["sudo", "-u", "#1000", "--", "bash", "-l", "-c", "exec -- \"$0\" \"$@\""]);
        let args = ExecArgs::from_request(&req).unwrap();
        assert_eq!(args.command[..8], req.command_prefix[..]);
        assert_eq!(args.command[8..], v(&["/bin/echo", "hi"])[..]);
        assert_eq!(args.argv0(), "/bin/echo");
    }

    #[test]
    fn bad_requests_are_refused() {
        assert!(ExecArgs::from_request(&request(&[])).is_err());
        let mut req = request(&["true"]);
        req.user_id = Some(0);
        assert_eq!(
            ExecArgs::from_request(&req).unwrap_err(),
            "cannot exec: user-id and group-id must be given together"
        );
        let mut req = request(&["true"]);
        req.timeout = "5x".into();
        assert_eq!(
            ExecArgs::from_request(&req).unwrap_err(),
            "cannot exec: cannot parse duration \"5x\": unknown unit"
        );
        let mut req = request(&["true"]);
        req.working_dir = "rel".into();
        assert!(ExecArgs::from_request(&req).is_err());
        let mut req = request(&["true"]);
        req.timeout = "1.5s".into();
        assert_eq!(ExecArgs::from_request(&req).unwrap().timeout, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn action_names_are_checked_before_anything_else() {
        for bad in ["../../../etc/passwd", "a/b", "Greet", "a\0", "-x"] {
            let mut req = request(&[bad]);
            req.action = true;
            assert_eq!(
                ExecArgs::from_request(&req).unwrap_err(),
                format!("cannot run: invalid action name {bad:?}")
            );
        }
        // Commands are not actions: any path will do.
        assert!(ExecArgs::from_request(&request(&["../bin/x"])).is_ok());
    }

    #[test]
    fn actions_run_their_script_with_bash_and_the_users_arguments() {
        let mut req = request(&["greet", "a", "b"]);
        req.action = true;
        let args = ExecArgs::from_request(&req).unwrap();
        assert_eq!(args.command, v(&["greet", "a", "b"]));
        assert_eq!(args.action_path(), "/var/lib/workshop/run/actions/greet");
        let command = args.action_command();
        assert_eq!(&command[..5], &v(&[workshop_api::exec::GUEST_EXEC, "-u", "#1000", "-g", "#1000"])[..]);
        assert!(command[5].starts_with("--preserve-env="));
        assert_eq!(
            &command[6..],
            &v(&[
                "--",
                "bash",
                "-l",
                "-c",
                "exec bash -eo pipefail \"$0\" \"$@\"",
                "/var/lib/workshop/run/actions/greet",
                "a",
                "b"
            ])[..]
        );
        assert_eq!(args.what(), "action");
    }
}
