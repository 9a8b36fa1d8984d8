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

/// The user switch of a command prefix. Terminal sessions keep sudo, which stays the
/// command's parent: LXD 5.0 may drop the last output on a terminal when the process it
/// started exits at once, and sudo relays signals to the command.
pub fn user_switch(interactive: bool) -> &'static str {
    if interactive { "sudo" } else { GUEST_EXEC }
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
        let exec = std::path::Path::new(super::GUEST_EXEC);
        assert_eq!(exec.parent(), Some(std::path::Path::new(super::GUEST_BIN)));
    }
}
