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
    #[test]
    fn workshop_exec_is_in_the_shared_directory() {
        for path in [super::GUEST_EXEC, super::GUEST_TTY] {
            assert_eq!(std::path::Path::new(path).parent(), Some(std::path::Path::new(super::GUEST_BIN)));
        }
        assert_eq!(super::user_switch(true), [super::GUEST_TTY, "sudo"]);
        assert_eq!(super::user_switch(false), [super::GUEST_EXEC]);
    }
}
