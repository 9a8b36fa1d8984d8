//! The ssh-agent interface's devices (reference-inventory §4.1, `ssh-agent`): a proxy of the
//! caller's agent socket (`SSH_AUTH_SOCK`) at `/var/lib/workshop/run/ssh-agent.sock` for the
//! workshop user, and a `profile.d` snippet pointing login shells at it. The host side is
//! `session.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use super::session::{self, HostFile, SSH_AUTH_SOCK};
use crate::backend::Device;
use crate::managers::UserRef;

/// The agent's socket in the workshop.
pub const GUEST_SOCKET: &str = "/var/lib/workshop/run/ssh-agent.sock";
/// Where login shells read `SSH_AUTH_SOCK` from.
pub const GUEST_ENV: &str = "/etc/profile.d/workshop-ssh-agent.sh";
/// The snippet's name among the workshop's session files.
const ENV_FILE: &str = "ssh-agent.sh";

/// What an ssh-agent connection keeps of the caller's (`user`'s) variables: the agent's
/// socket.
pub fn session(env: &BTreeMap<String, String>, user: &str) -> Result<BTreeMap<String, String>, String> {
    let socket = env.get("SSH_AUTH_SOCK").filter(|v| !v.is_empty()).ok_or_else(|| {
        // The reference's words.
        format!("user {user:?} does not have SSH_AUTH_SOCK set. ssh-agent is not running?")
    })?;
    Ok(BTreeMap::from([(SSH_AUTH_SOCK.to_string(), session::clean_path("SSH_AUTH_SOCK", socket)?)]))
}

/// The devices of SDK `sdk`'s ssh-agent plug (`<sdk>_ssh-agent`, `<sdk>_ssh-agent_env`) and
/// the file they show, kept in `files_dir`; `user` connected it.
pub fn devices(
    sdk: &str,
    session: &BTreeMap<String, String>,
    files_dir: &Path,
    user: &UserRef,
) -> (BTreeMap<String, Device>, Vec<HostFile>) {
    let mut devices = BTreeMap::new();
    let mut files = Vec::new();
    if let Some(socket) = session.get(SSH_AUTH_SOCK) {
        devices.insert(format!("{sdk}_ssh-agent"), session::proxy(GUEST_SOCKET, socket, user));
        devices.insert(
            format!("{sdk}_ssh-agent_env"),
            session::file_device(&files_dir.join(ENV_FILE), GUEST_ENV),
        );
        let text = format!(
            "# The ssh-agent connection of the workshop (workshopd).\nexport SSH_AUTH_SOCK={GUEST_SOCKET}\n"
        );
        files.push(HostFile::Text { name: ENV_FILE, text });
    }
    (devices, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_socket_and_its_variable() {
        let env = BTreeMap::from([("SSH_AUTH_SOCK".to_string(), "/tmp/ssh-x/agent.1".to_string())]);
        let s = session(&env, "bob").unwrap();
        let user = UserRef { name: "u".into(), uid: 1100, gid: 1101, data_home: None };
        let (devices, files) = devices("dev", &s, Path::new("/s"), &user);
        let names: Vec<&str> = devices.keys().map(String::as_str).collect();
        assert_eq!(names, ["dev_ssh-agent", "dev_ssh-agent_env"]);
        let p = &devices["dev_ssh-agent"];
        assert_eq!(p["listen"], "unix:/var/lib/workshop/run/ssh-agent.sock");
        assert_eq!(p["connect"], "unix:/tmp/ssh-x/agent.1");
        assert_eq!((p["security.uid"].as_str(), p["security.gid"].as_str()), ("1100", "1101"));
        assert_eq!((p["uid"].as_str(), p["gid"].as_str(), p["mode"].as_str()), ("1000", "1000", "0600"));
        let e = &devices["dev_ssh-agent_env"];
        assert_eq!((e["source"].as_str(), e["path"].as_str()), ("/s/ssh-agent.sh", GUEST_ENV));
        let [HostFile::Text { text, .. }] = files.as_slice() else { panic!() };
        assert!(text.lines().any(|l| l == "export SSH_AUTH_SOCK=/var/lib/workshop/run/ssh-agent.sock"));
        assert_eq!(
            session(&BTreeMap::new(), "bob").unwrap_err(),
            "user \"bob\" does not have SSH_AUTH_SOCK set. ssh-agent is not running?"
        );
        let rel = BTreeMap::from([("SSH_AUTH_SOCK".to_string(), "agent".to_string())]);
        assert!(session(&rel, "bob").unwrap_err().contains("not an absolute path"));
    }
}
