//! `POST /v1/workshopctl`, the only route of the untrusted socket, and the grammar of the
//! commands it carries (`set-health`, ../shared/spec/reference-inventory.md §1.2). The same
//! parser runs in `workshopctl`, so that a mistake is reported before anything is sent, and
//! in the daemon, which believes nothing a workshop sends.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct WorkshopctlRequest {
    /// The hook's `WORKSHOP_COOKIE` (empty outside a hook).
    pub context_id: String,
    pub args: Vec<String>,
    /// Base64 of standard input, at most 4 MB. No command reads it: the daemon refuses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkshopctlResult {
    pub stdout: String,
    pub stderr: String,
}

/// Most arguments one invocation may carry.
pub const MAX_ARGS: usize = 16;
/// Longest argument, in bytes (a message is cut to 70 characters anyway).
pub const MAX_ARG_BYTES: usize = 4096;
/// Length of a hook's cookie (`WORKSHOP_COOKIE`).
pub const COOKIE_LENGTH: usize = 32;
/// The only command.
pub const SET_HEALTH: &str = "set-health";
/// The hook `set-health` may be called from.
pub const CHECK_HEALTH_HOOK: &str = "check-health";

/// Shortest health message, in characters.
const MIN_MESSAGE_CHARS: usize = 7;
/// Longest health message kept whole, in characters; a longer one keeps 69 and an ellipsis.
const MAX_MESSAGE_CHARS: usize = 70;
/// Bounds of a health code's length, in bytes.
const CODE_LENGTH: std::ops::RangeInclusive<usize> = 3..=30;

/// Why an invocation is refused; the text is what `workshopctl` prints after `error: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(text: impl Into<String>) -> UsageError {
    UsageError(text.into())
}

/// What an SDK's `check-health` hook says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthStatus {
    Okay,
    Waiting,
    Error,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Okay => "okay",
            Self::Waiting => "waiting",
            Self::Error => "error",
        }
    }
}

/// `set-health [--code=<code>] okay|waiting|error [<message>]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetHealth {
    pub status: HealthStatus,
    /// Empty for `okay`; otherwise 7 to 70 characters (longer ones are cut).
    pub message: String,
    /// Empty, or 3 to 30 characters of `^[a-z](?:-?[a-z0-9])+$`.
    pub code: String,
}

impl SetHealth {
    /// The reference's rules, in its order (`ctlcmd/health.go`).
    pub fn new(status: &str, message: &str, code: &str) -> Result<Self, UsageError> {
        if status == "okay" && (!message.is_empty() || !code.is_empty()) {
            return Err(usage(r#"when status is "okay", message and code must be empty"#));
        }
        let status = match status {
            "okay" => HealthStatus::Okay,
            "waiting" => HealthStatus::Waiting,
            "error" => HealthStatus::Error,
            "unknown" => return Err(usage(r#"status cannot be manually set to "unknown""#)),
            other => {
                return Err(usage(format!(
                    r#"invalid status {}, must be one of "unknown", "waiting", "okay", "error""#,
                    crate::ids::quoted(other)
                )));
            }
        };
        if !code.is_empty() {
            if !CODE_LENGTH.contains(&code.len()) {
                return Err(usage(format!("code must have between 3 and 30 characters, got {}", code.len())));
            }
            if !is_valid_code(code) {
                return Err(usage(format!(
                    "invalid code {} (code must start with lowercase ASCII letters, and contain only ASCII \
                     letters and numbers, optionally separated by single dashes)",
                    crate::ids::quoted(code)
                )));
            }
        }
        let mut message = message.to_string();
        if status != HealthStatus::Okay {
            if message.is_empty() {
                return Err(usage(r#"when status is not "okay", message is required"#));
            }
            let chars = message.chars().count();
            if chars < MIN_MESSAGE_CHARS {
                return Err(usage(format!("message must be at least 7 characters long (got {chars})")));
            }
            if chars > MAX_MESSAGE_CHARS {
                message = message.chars().take(MAX_MESSAGE_CHARS - 1).chain(['…']).collect();
            }
        }
        Ok(Self { status, message, code: code.to_string() })
    }
}

/// `^[a-z](?:-?[a-z0-9])+$`: a lowercase letter, then letters and digits, single dashes
/// between them.
fn is_valid_code(code: &str) -> bool {
    let bytes = code.as_bytes();
    let Some((first, rest)) = bytes.split_first() else { return false };
    if !first.is_ascii_lowercase() || rest.is_empty() || rest.last() == Some(&b'-') {
        return false;
    }
    let mut after_dash = false;
    for &b in rest {
        if b == b'-' {
            if after_dash {
                return false;
            }
            after_dash = true;
        } else if b.is_ascii_lowercase() || b.is_ascii_digit() {
            after_dash = false;
        } else {
            return false;
        }
    }
    true
}

/// A parsed invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// `-h`/`--help`: this text goes to standard output.
    Help(String),
    SetHealth(SetHealth),
}

const HELP: &str = "\
Usage:
  workshopctl [OPTIONS] <command>

workshopctl lets the hooks of an SDK talk to workshopd from inside a workshop.

Help Options:
  -h, --help  Show this help message

Available commands:
  set-health  Report the health status of an SDK
";

const SET_HEALTH_HELP: &str = "\
Usage:
  workshopctl set-health [--code=<code>] <status> [<message>]

Reports the health of the SDK whose check-health hook is running. It can only be called
from that hook, which runs at the end of a launch or refresh and again while the SDK
reports \"waiting\". When the SDK reports \"error\", the hook fails with the message.

  <status>   okay, waiting or error
  <message>  7 to 70 characters saying why (longer ones are cut); required unless the
             status is okay, when it must be empty

[set-health command options]
      --code=<code>  A word for tools: 3 to 30 characters matching [a-z](-?[a-z0-9])+;
                     empty when the status is okay
";

/// Whether `args` ask for help anywhere (the reference lets anyone ask for help).
pub fn asks_for_help(args: &[String]) -> bool {
    args.iter().any(|a| a == "-h" || a == "--help")
}

/// Whether `args` may be run by a caller other than root: `set-health`, or a request for help.
pub fn allowed_without_root(args: &[String]) -> bool {
    args.first().is_some_and(|a| a == SET_HEALTH) || asks_for_help(args)
}

/// Parses `workshopctl`'s arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Invocation, UsageError> {
    let Some((command, rest)) = args.split_first() else {
        return Err(usage("workshopctl cannot run without args"));
    };
    match command.as_str() {
        "-h" | "--help" => Ok(Invocation::Help(HELP.to_string())),
        SET_HEALTH => parse_set_health(rest),
        flag if flag.starts_with('-') && flag != "-" => Err(unknown_flag(flag)),
        other => Err(usage(format!("Unknown command `{other}'. You should use the set-health command"))),
    }
}

/// go-flags' words for an option it does not know (named without its dashes or value).
fn unknown_flag(flag: &str) -> UsageError {
    let name = flag.split_once('=').map_or(flag, |(name, _)| name);
    usage(format!("unknown flag `{}'", name.trim_start_matches('-')))
}

/// `set-health`'s options and positional arguments, in any order; `--` ends the options.
fn parse_set_health(args: &[String]) -> Result<Invocation, UsageError> {
    let mut code = String::new();
    let mut positional: Vec<&str> = Vec::new();
    let mut args = args.iter();
    let mut options = true;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--" if options => options = false,
            "-h" | "--help" if options => return Ok(Invocation::Help(SET_HEALTH_HELP.to_string())),
            "--code" if options => match args.next() {
                Some(value) => code = value.clone(),
                None => return Err(usage("expected argument for flag `--code'")),
            },
            flag if options && flag.starts_with("--code=") => code = flag["--code=".len()..].to_string(),
            flag if options && flag.starts_with('-') && flag != "-" => return Err(unknown_flag(flag)),
            value => positional.push(value),
        }
    }
    match positional.as_slice() {
        [] => Err(usage("the required argument `<status>` was not provided")),
        [status] => SetHealth::new(status, "", &code).map(Invocation::SetHealth),
        [status, message] => SetHealth::new(status, message, &code).map(Invocation::SetHealth),
        [_, _, extra, ..] => Err(usage(format!(
            "unexpected argument {} (usage: set-health [--code=<code>] <status> [<message>])",
            crate::ids::quoted(extra)
        ))),
    }
}

/// `args` cut to [`MAX_ARG_BYTES`] each (at a character boundary), as the client sends them:
/// a longer argument is refused by the daemon, and no argument means more than that (a
/// health message is shortened to 70 characters anyway).
pub fn fit_args(args: Vec<String>) -> Vec<String> {
    args.into_iter()
        .map(|mut arg| {
            if arg.len() > MAX_ARG_BYTES {
                let mut end = MAX_ARG_BYTES;
                while !arg.is_char_boundary(end) {
                    end -= 1;
                }
                arg.truncate(end);
            }
            arg
        })
        .collect()
}

/// Why the daemon refuses a request before looking at its command: too many or too long
/// arguments, or standard input, which no command reads.
pub fn check_bounds(request: &WorkshopctlRequest) -> Result<(), UsageError> {
    if request.args.len() > MAX_ARGS {
        return Err(usage(format!(
            "cannot run workshopctl: {} arguments given, at most {MAX_ARGS} are accepted",
            request.args.len()
        )));
    }
    if let Some((i, _)) = request.args.iter().enumerate().find(|(_, a)| a.len() > MAX_ARG_BYTES) {
        return Err(usage(format!(
            "cannot run workshopctl: argument {} is longer than {MAX_ARG_BYTES} bytes",
            i + 1
        )));
    }
    if request.stdin.is_some() {
        return Err(usage("cannot run workshopctl: no command reads standard input"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn set_health(items: &[&str]) -> Result<SetHealth, String> {
        match parse(&args(items)) {
            Ok(Invocation::SetHealth(s)) => Ok(s),
            Ok(other) => panic!("{items:?}: {other:?}"),
            Err(e) => Err(e.0),
        }
    }

    #[test]
    fn the_forms_of_set_health() {
        let okay = set_health(&["set-health", "okay"]).unwrap();
        assert_eq!((okay.status, okay.message.as_str(), okay.code.as_str()), (HealthStatus::Okay, "", ""));
        for form in [
            &["set-health", "--code=try-later", "waiting", "Cannot finish health check"][..],
            &["set-health", "--code", "try-later", "waiting", "Cannot finish health check"],
            &["set-health", "waiting", "--code", "try-later", "Cannot finish health check"],
            &["set-health", "waiting", "Cannot finish health check", "--code=try-later"],
            &["set-health", "--code=try-later", "--", "waiting", "Cannot finish health check"],
        ] {
            let s = set_health(form).unwrap();
            assert_eq!(s.status, HealthStatus::Waiting, "{form:?}");
            assert_eq!((s.message.as_str(), s.code.as_str()), ("Cannot finish health check", "try-later"));
        }
        // After `--` a dash is a message.
        let s = set_health(&["set-health", "error", "--", "--code=x broke"]).unwrap();
        assert_eq!(s.message, "--code=x broke");
    }

    #[test]
    fn the_reference_rules_in_its_words() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["set-health", "okay", "all is well"],
                r#"when status is "okay", message and code must be empty"#,
            ),
            (
                &["set-health", "--code=abc", "okay"],
                r#"when status is "okay", message and code must be empty"#,
            ),
            (&["set-health", "unknown", "no idea at all"], r#"status cannot be manually set to "unknown""#),
            (
                &["set-health", "fine", "perfectly fine"],
                r#"invalid status "fine", must be one of "unknown", "waiting", "okay", "error""#,
            ),
            (
                &["set-health", "--code=ab", "error", "broken badly"],
                "code must have between 3 and 30 characters, got 2",
            ),
            (&["set-health", "error", "short"], "message must be at least 7 characters long (got 5)"),
            (&["set-health", "error"], r#"when status is not "okay", message is required"#),
            (&["set-health", "waiting", ""], r#"when status is not "okay", message is required"#),
            (&["set-health"], "the required argument `<status>` was not provided"),
            (&["set-health", "--code"], "expected argument for flag `--code'"),
            (&["set-health", "--verbose", "okay"], "unknown flag `verbose'"),
            (&[], "workshopctl cannot run without args"),
            (&["get-health"], "Unknown command `get-health'. You should use the set-health command"),
            (&["--foo=1"], "unknown flag `foo'"),
        ];
        for (given, want) in cases {
            let got = parse(&args(given)).map(|_| ()).unwrap_err().0;
            assert_eq!(&got, want, "{given:?}");
        }
        let long = "x".repeat(31);
        let err =
            set_health(&["set-health", &format!("--code={long}"), "error", "broken badly"]).unwrap_err();
        assert_eq!(err, "code must have between 3 and 30 characters, got 31");
        for bad in ["Abc", "a--b", "ab-", "-ab", "1ab", "a_b", "aé"] {
            let err = set_health(&["set-health", "--code", bad, "error", "broken badly"]).unwrap_err();
            assert!(err.starts_with(&format!("invalid code {bad:?} (code must start")), "{bad}: {err}");
        }
        let err = set_health(&["set-health", "error", "a message", "extra"]).unwrap_err();
        assert!(err.starts_with(r#"unexpected argument "extra""#), "{err}");
    }

    #[test]
    fn codes_of_the_grammar_are_accepted() {
        for good in ["abc", "try-later", "a1-b2-c3", "unknown-problem", &"a".repeat(30)] {
            assert!(set_health(&["set-health", "--code", good, "error", "broken badly"]).is_ok(), "{good}");
        }
    }

    #[test]
    fn messages_are_counted_in_characters_and_cut_at_70() {
        // Seven characters of two bytes each pass; six do not.
        assert!(set_health(&["set-health", "error", "ééééééé"]).is_ok());
        assert!(set_health(&["set-health", "error", "éééééé"]).is_err());
        let exact = "é".repeat(70);
        assert_eq!(set_health(&["set-health", "error", &exact]).unwrap().message, exact);
        let cut = set_health(&["set-health", "error", &"é".repeat(71)]).unwrap().message;
        assert_eq!(cut, format!("{}…", "é".repeat(69)));
        assert_eq!(cut.chars().count(), 70);
    }

    #[test]
    fn help_is_an_answer_not_an_error() {
        for form in [&["--help"][..], &["-h"], &["set-health", "--help"], &["set-health", "okay", "-h"]] {
            assert!(matches!(parse(&args(form)), Ok(Invocation::Help(_))), "{form:?}");
        }
        assert!(allowed_without_root(&args(&["set-health", "okay"])));
        assert!(allowed_without_root(&args(&["get-health", "--help"])));
        assert!(!allowed_without_root(&args(&["get-health"])));
        assert!(!allowed_without_root(&[]));
    }

    #[test]
    fn oversized_requests_are_refused_before_parsing() {
        let request = |args: Vec<String>, stdin: Option<String>| WorkshopctlRequest {
            context_id: String::new(),
            args,
            stdin,
        };
        assert!(check_bounds(&request(args(&["set-health", "okay"]), None)).is_ok());
        let many = vec!["x".to_string(); MAX_ARGS + 1];
        assert_eq!(
            check_bounds(&request(many, None)).unwrap_err().0,
            "cannot run workshopctl: 17 arguments given, at most 16 are accepted"
        );
        let long = args(&["set-health", "error", &"m".repeat(MAX_ARG_BYTES + 1)]);
        assert_eq!(
            check_bounds(&request(long, None)).unwrap_err().0,
            "cannot run workshopctl: argument 3 is longer than 4096 bytes"
        );
        assert!(check_bounds(&request(args(&["set-health", "okay"]), Some("eA==".into()))).is_err());
        // The client cuts what it sends to the bound, at a character boundary.
        let fitted = fit_args(args(&["set-health", "error", &format!("m{}", "é".repeat(MAX_ARG_BYTES))]));
        assert!(check_bounds(&request(fitted.clone(), None)).is_ok());
        assert_eq!(fitted[2].len(), MAX_ARG_BYTES - 1, "the last character would not fit whole");
        assert_eq!(fit_args(args(&["set-health", "okay"])), args(&["set-health", "okay"]));
    }
}
