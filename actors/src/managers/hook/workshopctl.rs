//! `workshopctl` in the daemon: a command from a workshop, checked in the reference's order
//! (`api_workshopctl.go`, `ctlcmd`): the cookie must name a running hook of the caller's own
//! workshop, commands other than `set-health` need root, the arguments must parse, and
//! `set-health` needs a hook, and that hook must be `check-health`.

use chrono::{DateTime, Utc};
use workshop_api::workshopctl::{
    self, CHECK_HEALTH_HOOK, Invocation, SET_HEALTH, UsageError, WorkshopctlRequest, WorkshopctlResult,
};

use super::{Contexts, Hook};
use crate::backend::lxd::origin::GuestWorkshop;

/// Why a `workshopctl` command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkshopctlError {
    /// The cookie names no running hook of the calling workshop: unknown, ended, made up, or
    /// another workshop's (these are not told apart).
    #[error("invalid workshop cookie")]
    InvalidCookie,
    #[error("cannot use {command:?} with uid {uid}, try with sudo")]
    NeedsRoot { command: String, uid: u32 },
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// Not from a hook.
    #[error("cannot invoke workshopctl operation commands (here {0:?}) from outside of a workshop")]
    OutsideHook(String),
    #[error("{SET_HEALTH:?} is only allowed from a {CHECK_HEALTH_HOOK:?} hook")]
    NotCheckHealth,
}

/// Runs `request` from `caller` (a workshop; `None` for a host process), a process of host
/// uid `uid`.
pub fn run(
    contexts: &Contexts,
    caller: Option<&GuestWorkshop>,
    uid: u32,
    request: &WorkshopctlRequest,
    now: DateTime<Utc>,
) -> Result<WorkshopctlResult, WorkshopctlError> {
    workshopctl::check_bounds(request)?;
    let cookie = request.context_id.as_str();
    let hook = match cookie {
        "" => None,
        cookie => {
            let found = caller.and_then(|workshop| contexts.hook_of(cookie, workshop));
            Some(found.ok_or(WorkshopctlError::InvalidCookie)?)
        }
    };
    let args = &request.args;
    if let Some(command) = args.first()
        && uid != 0
        && !workshopctl::allowed_without_root(args)
    {
        return Err(WorkshopctlError::NeedsRoot { command: command.clone(), uid });
    }
    let health = match workshopctl::parse(args)? {
        Invocation::Help(text) => return Ok(WorkshopctlResult { stdout: text, stderr: String::new() }),
        Invocation::SetHealth(health) => health,
    };
    match hook {
        None => Err(WorkshopctlError::OutsideHook(SET_HEALTH.into())),
        Some(Hook::CheckHealth) => {
            contexts.set_health(cookie, &health, now);
            Ok(WorkshopctlResult::default())
        }
        Some(_) => Err(WorkshopctlError::NotCheckHealth),
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use workshop_api::workshopctl::HealthStatus;

    use super::*;
    use crate::backend::Target;

    /// The host uid of a workshop's processes (the user's, mapped to 1000 inside).
    const UID: u32 = 4242;

    fn dev() -> GuestWorkshop {
        GuestWorkshop {
            lxd_project: "workshop.alice".into(),
            project_id: "0123abcd".into(),
            workshop: "dev".into(),
        }
    }

    fn request(cookie: &str, args: &[&str]) -> WorkshopctlRequest {
        WorkshopctlRequest {
            context_id: cookie.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            stdin: None,
        }
    }

    fn call(
        contexts: &Contexts,
        caller: Option<&GuestWorkshop>,
        cookie: &str,
        args: &[&str],
    ) -> Result<String, String> {
        run(contexts, caller, UID, &request(cookie, args), Utc::now())
            .map(|r| r.stdout)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn set_health_from_check_health_is_recorded() {
        let contexts = Rc::new(Contexts::default());
        let live = contexts.open(Target::new("alice", "0123abcd", "dev"), "db", Hook::CheckHealth);
        let args = ["set-health", "--code=try-later", "waiting", "Cannot finish health check"];
        assert_eq!(call(&contexts, Some(&dev()), live.cookie(), &args), Ok(String::new()));
        let report = live.finish().unwrap();
        assert_eq!((report.status, report.code.as_str()), (HealthStatus::Waiting, "try-later"));
        assert_eq!(report.message, "Cannot finish health check");
    }

    #[test]
    fn refusals_in_the_reference_words() {
        let contexts = Rc::new(Contexts::default());
        let health = contexts.open(Target::new("alice", "0123abcd", "dev"), "db", Hook::CheckHealth);
        let base = contexts.open(Target::new("alice", "0123abcd", "dev"), "db", Hook::SetupBase);
        let prod = contexts.open(Target::new("alice", "0123abcd", "prod"), "db", Hook::CheckHealth);
        let bobs = contexts.open(Target::new("bob", "0123abcd", "dev"), "db", Hook::CheckHealth);
        let okay = ["set-health", "okay"];
        let outside =
            r#"cannot invoke workshopctl operation commands (here "set-health") from outside of a workshop"#;
        // No cookie: outside of a hook (H-05: `workshop exec -- workshopctl set-health okay`).
        assert_eq!(call(&contexts, Some(&dev()), "", &okay), Err(outside.into()));
        assert_eq!(call(&contexts, None, "", &okay), Err(outside.into()));
        // Another hook of the same workshop.
        assert_eq!(
            call(&contexts, Some(&dev()), base.cookie(), &okay),
            Err(r#""set-health" is only allowed from a "check-health" hook"#.into())
        );
        // Cookies of another workshop, of another user's workshop, made up, or from the host.
        for cookie in [prod.cookie(), bobs.cookie(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x"] {
            assert_eq!(call(&contexts, Some(&dev()), cookie, &okay), Err("invalid workshop cookie".into()));
        }
        assert_eq!(call(&contexts, None, health.cookie(), &okay), Err("invalid workshop cookie".into()));
        // An ended hook's cookie.
        let ended = health.cookie().to_string();
        assert_eq!(call(&contexts, Some(&dev()), &ended, &okay), Ok(String::new()));
        drop(health);
        assert_eq!(call(&contexts, Some(&dev()), &ended, &okay), Err("invalid workshop cookie".into()));
        // Arguments are checked before the hook is (as ctlcmd does).
        assert_eq!(
            call(&contexts, Some(&dev()), base.cookie(), &["set-health", "error", "bad"]),
            Err("message must be at least 7 characters long (got 3)".into())
        );
    }

    #[test]
    fn other_commands_need_root_and_help_is_for_anyone() {
        let contexts = Contexts::default();
        assert_eq!(
            call(&contexts, Some(&dev()), "", &["get-health"]),
            Err(format!(r#"cannot use "get-health" with uid {UID}, try with sudo"#))
        );
        let as_root = run(&contexts, None, 0, &request("", &["get-health"]), Utc::now()).unwrap_err();
        assert_eq!(
            as_root.to_string(),
            "Unknown command `get-health'. You should use the set-health command"
        );
        let help = call(&contexts, Some(&dev()), "", &["set-health", "--help"]).unwrap();
        assert!(help.starts_with("Usage:\n  workshopctl set-health"), "{help}");
        assert!(call(&contexts, None, "", &["--help"]).unwrap().contains("set-health"));
        assert_eq!(call(&contexts, None, "", &[]), Err("workshopctl cannot run without args".into()));
    }

    #[test]
    fn oversized_requests_are_refused_before_the_cookie_is_looked_up() {
        let contexts = Rc::new(Contexts::default());
        let live = contexts.open(Target::new("alice", "0123abcd", "dev"), "db", Hook::CheckHealth);
        let long = "m".repeat(workshopctl::MAX_ARG_BYTES + 1);
        let err = call(&contexts, Some(&dev()), live.cookie(), &["set-health", "error", &long]).unwrap_err();
        assert_eq!(err, "cannot run workshopctl: argument 3 is longer than 4096 bytes");
        let err = call(&contexts, Some(&dev()), "forged", &["x"; 17]).unwrap_err();
        assert!(err.starts_with("cannot run workshopctl: 17 arguments given"), "{err}");
        assert_eq!(live.finish(), None, "nothing was recorded");
    }
}
