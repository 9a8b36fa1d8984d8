//! Exec (`POST .../workshops/{name}/exec` and `/v1/tasks/{id}/websocket/{ws}`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where every workshop mounts (read-only) the host directory workshopd shares with it:
/// `workshopctl`, `workshop-exec` and the untrusted socket.
pub const GUEST_BIN: &str = "/var/lib/workshop/bin";

/// A user switch for command prefixes that takes sudo's `-u #UID -g #GID
/// [--preserve-env=K,...] --` and is faster: it replaces itself with the command (installed by
/// workshopd into the directory every workshop mounts at `/var/lib/workshop/bin`).
pub const GUEST_EXEC: &str = "/var/lib/workshop/bin/workshop-exec";

/// The first process of terminal sessions (workshopctl under another name): it runs the rest
/// of the command line as its child, relays signals to it, and outlives it a moment, because
/// LXD 5.0 may drop the last output on a terminal when the process it started exits at once.
pub const GUEST_TTY: &str = "/var/lib/workshop/bin/workshop-tty";

/// The user switch of a command prefix, as words. Terminal sessions keep sudo (which relays
/// signals to the command) under [`GUEST_TTY`].
pub fn user_switch(interactive: bool) -> &'static [&'static str] {
    if interactive { &[GUEST_TTY, "sudo"] } else { &[GUEST_EXEC] }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExecRequest {
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command_prefix: Vec<String>,
    /// `command[0]` names an action of the definition (`workshop run`).
    #[serde(default)]
    pub action: bool,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// Go-style duration (`1s`, `2m30s`); empty for none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub timeout: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u32>,
    #[serde(default)]
    pub interactive: bool,
    #[serde(default)]
    pub width: u16,
    #[serde(default)]
    pub height: u16,
}

/// Most variables an exec request may set.
pub const MAX_ENV_VARS: usize = 256;
/// Longest value of one (bytes).
pub const MAX_ENV_VALUE: usize = 128 << 10;

/// Checks the variables of an exec request: names of the shell's form (`[A-Za-z_][A-Za-z0-9_]*`,
/// 255 bytes at most; a `,` or `=` would change what sudo keeps or sets), values without NUL,
/// bounded. The error names the variable.
pub fn check_environment(env: &BTreeMap<String, String>) -> Result<(), String> {
    if env.len() > MAX_ENV_VARS {
        return Err(format!("too many environment variables ({}, at most {MAX_ENV_VARS})", env.len()));
    }
    for (name, value) in env {
        let shown: String = name.chars().take(64).collect();
        let mut bytes = name.bytes();
        let good = name.len() <= 255
            && bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !good {
            return Err(format!("invalid environment variable name {shown:?}"));
        }
        if value.contains('\0') {
            return Err(format!("invalid value of environment variable {shown:?}: NUL byte"));
        }
        if value.len() > MAX_ENV_VALUE {
            return Err(format!("value of environment variable {shown:?} is too long"));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExecResult {
    pub task_id: String,
}

/// The websockets of an exec task.
pub const WS_CONTROL: &str = "control";
pub const WS_STDIO: &str = "stdio";
pub const WS_STDOUT: &str = "stdout";
pub const WS_STDERR: &str = "stderr";

/// A message on the `control` websocket (LXD's `InstanceExecControl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecControl {
    pub command: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
}

impl ExecControl {
    pub fn resize(width: u16, height: u16) -> Self {
        let args = BTreeMap::from([
            ("width".to_string(), width.to_string()),
            ("height".to_string(), height.to_string()),
        ]);
        Self { command: "window-resize".into(), args, signal: None }
    }

    pub fn signal(signal: i32) -> Self {
        Self { command: "signal".into(), args: BTreeMap::new(), signal: Some(signal) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_and_values_are_checked() {
        let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert_eq!(check_environment(&env(&[("FOO", "bar baz"), ("_x1", ""), ("a", "x\ny")])), Ok(()));
        for (name, why) in [
            ("", r#"invalid environment variable name """#),
            ("A B", r#"invalid environment variable name "A B""#),
            ("X,PATH", r#"invalid environment variable name "X,PATH""#),
            ("1A", r#"invalid environment variable name "1A""#),
            ("A=B", r#"invalid environment variable name "A=B""#),
            ("é", r#"invalid environment variable name "é""#),
        ] {
            assert_eq!(check_environment(&env(&[(name, "v")])).unwrap_err(), why);
        }
        assert_eq!(
            check_environment(&env(&[("A", "x\0y")])).unwrap_err(),
            r#"invalid value of environment variable "A": NUL byte"#
        );
        let long = "v".repeat(MAX_ENV_VALUE + 1);
        assert!(check_environment(&env(&[("A", &long)])).unwrap_err().ends_with("is too long"));
        let many: BTreeMap<String, String> =
            (0..=MAX_ENV_VARS).map(|i| (format!("V{i}"), String::new())).collect();
        assert!(check_environment(&many).unwrap_err().starts_with("too many environment variables"));
        assert!(check_environment(&env(&[(&"A".repeat(256), "v")])).is_err());
    }

    #[test]
    fn workshop_exec_is_in_the_shared_directory() {
        for path in [super::GUEST_EXEC, super::GUEST_TTY] {
            assert_eq!(std::path::Path::new(path).parent(), Some(std::path::Path::new(super::GUEST_BIN)));
        }
        assert_eq!(super::user_switch(true), [super::GUEST_TTY, "sudo"]);
        assert_eq!(super::user_switch(false), [super::GUEST_EXEC]);
    }
}
