//! What the daemon does inside a new workshop in place of cloud-init: the `workshop` user
//! (uid/gid 1000, passwordless sudo, lingering session), the directories the daemon and hooks
//! rely on, `workshopctl` on the PATH, and the host's time zone.

/// Where the untrusted socket appears inside a workshop (a link into [`GUEST_BIN`]).
pub const GUEST_SOCKET: &str = "/var/lib/workshop/run/workshop.socket.untrusted";
/// Where the host directory shared with every workshop is mounted (read-only): it holds
/// `workshopctl`, `workshop-exec` and a listener of the untrusted API named
/// [`SHARED_SOCKET_NAME`].
pub use workshop_api::exec::GUEST_BIN;
/// The file name of the untrusted socket in the shared directory. A bind mount of the
/// directory (not of the socket) keeps working when the daemon re-creates the socket, and
/// unlike an LXD proxy device it costs nothing when a workshop starts.
pub const SHARED_SOCKET_NAME: &str = "workshop.socket.untrusted";
/// Where the apt archive cache is mounted.
pub const GUEST_APT_CACHE: &str = "/var/cache/apt/archives";
/// Where the state storage of `save-state`/`restore-state` hooks is mounted (the parent of
/// their `$SDK_STATE_DIR`).
pub const GUEST_STATE: &str = "/var/lib/workshop/state";
/// Supplementary groups of the guest user, for GPU access on hosts whose render/video groups
/// use these ids (reference compatibility).
const COMPAT_GIDS: &[u32] = &[109, 110, 990, 992];
/// apt's configuration in the guest (reference: no recommends or suggests, assume yes).
const APT_CONF: (&str, &str) = (
    "/etc/apt/apt.conf.d/90workshop",
    "APT::Install-Recommends \"false\";\nAPT::Install-Suggests \"false\";\nAPT::Get::Assume-Yes \"true\";\n",
);
/// sshd's configuration in the guest: ed25519 host keys only (reference), for when the user
/// installs an SSH server. Keys and certificates come with the per-user SSH CA.
const SSHD_CONF: (&str, &str) =
    ("/etc/ssh/sshd_config.d/60-workshop.conf", "HostKey /etc/ssh/ssh_host_ed25519_key\n");
/// The guest's sudo rules: `workshop` may do anything without a password, and the commands the
/// daemon runs as root through `sudo -u #<uid>` (every `exec`) get no pty of sudo's own
/// (Debian's and Ubuntu's `sudoers` set `use_pty`). Between LXD's terminal and the command,
/// sudo's pty does not pass on a forced-interactive session's end of input (typed as Ctrl-D,
/// it reaches the command as a NUL), so `printf 'x\n' | workshop exec -i -- cat` never ended.
/// The session's terminal is the caller's own: nothing runs in it as anyone else.
const SUDOERS: &str = "workshop ALL=(ALL) NOPASSWD:ALL\nDefaults:root !use_pty\n";
/// The XDG base directories of the guest user (and `~/.local/bin`, on its PATH).
const XDG_DIRS: &[&str] = &[".config", ".cache", ".local", ".local/bin", ".local/share", ".local/state"];
/// How long the set-up waits for the guest's boot to be past the point after which nothing
/// else edits the user database (see [`setup_script`]).
const BOOT_WAIT_SECS: u32 = 30;

/// The guest set-up (the reference does it with cloud-init), idempotent, as root: the
/// `workshop` user and its groups, sudo, directories, configuration files, links, lingering
/// (the linger file makes logind start the user session as soon as it runs).
///
/// It runs twice in a workshop's life: once in the template workshops are copied from, as
/// its init (PID 1, nothing else running: see `backend/lxd/templates.rs`), and after every
/// start while the guest boots, where a copy of a template finds everything in place and
/// only reads the user database. When the user database must be edited there (a workshop
/// created from the image, or made before templates carried the set-up), the edits wait until
/// the boot has reached `sysinit.target`: before it, `systemd-tmpfiles-setup` removes
/// shadow's lock files (`/etc/group.lock`, ...; tmpfiles.d/passwd.conf of the `passwd`
/// package) without taking them, and a `groupadd` whose lock it removed fails ("lock file
/// already used (nlink: 1)"). The script never exits early when it succeeds (the template
/// relies on reaching its end).
pub fn setup_script() -> String {
    let gids: Vec<String> = COMPAT_GIDS.iter().map(u32::to_string).collect();
    let gids = gids.join(" ");
    let home_dirs: Vec<String> = XDG_DIRS.iter().map(|d| format!("/home/workshop/{d}")).collect();
    // Membership checks on the output of `id workshop`, in the shell (no process each).
    let member_checks: String = COMPAT_GIDS
        .iter()
        .map(|gid| format!("case \"$ids\" in *[=,]{gid}\\(*) ;; *) missing=1 ;; esac\n"))
        .collect();
    format!(
        r#"set -eu
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mkdir -p /project /usr/local/lib/workshop /var/lib/workshop/run/actions /var/lib/workshop/state {apt} /var/lib/systemd/linger /etc/sudoers.d /etc/apt/apt.conf.d /etc/ssh/sshd_config.d
printf '%s' '{sudoers}' > /etc/sudoers.d/90-workshop
chmod 0440 /etc/sudoers.d/90-workshop
[ -e {apt_conf} ] || printf '%s' '{apt_text}' > {apt_conf}
[ -e {sshd_conf} ] || printf '%s' '{sshd_text}' > {sshd_conf}
[ ! -d /etc/cloud ] || touch /etc/cloud/cloud-init.disabled
ln -sf {bin}/workshopctl /usr/local/bin/workshopctl
ln -sfn {bin}/{socket_name} {socket}
touch /var/lib/systemd/linger/workshop
ids=$(id workshop 2>/dev/null) || ids=
missing=
case "$ids" in "uid=1000(workshop) gid=1000("*) ;; *) missing=1 ;; esac
case "$ids" in *\(sudo\)*) ;; *) missing=1 ;; esac
{member_checks}if [ -n "$missing" ]; then
  if [ "$$" != 1 ]; then
    waited=0
    until s=$(systemctl is-active sysinit.target 2>/dev/null) || [ "$s" = failed ]; do
      waited=$((waited + 1))
      if [ "$waited" -gt {boot_polls} ]; then
        echo "the guest's boot did not reach sysinit.target within {boot_wait} s" >&2
        exit 1
      fi
      sleep 0.05
    done
  fi
  getent group 1000 >/dev/null || groupadd --gid 1000 workshop
  id -u workshop >/dev/null 2>&1 || useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash workshop
  groups=sudo
  for gid in {gids}; do
    getent group "$gid" >/dev/null || groupadd --gid "$gid" "workshop-compat-$gid"
    groups="$groups,$(getent group "$gid" | cut -d: -f1)"
  done
  usermod -a -G "$groups" workshop
fi
install -d -o workshop -g workshop {home_dirs}
"#,
        apt = GUEST_APT_CACHE,
        sudoers = SUDOERS,
        apt_conf = APT_CONF.0,
        apt_text = APT_CONF.1,
        sshd_conf = SSHD_CONF.0,
        sshd_text = SSHD_CONF.1,
        bin = GUEST_BIN,
        socket_name = SHARED_SOCKET_NAME,
        socket = GUEST_SOCKET,
        boot_polls = BOOT_WAIT_SECS * 20,
        boot_wait = BOOT_WAIT_SECS,
        home_dirs = home_dirs.join(" "),
    )
}

/// Run after the set-up, while the guest boots: waits for the bus of the lingering session
/// of `workshop`, which its user manager opens within the boot (the set-up's linger file was
/// there when logind started). When the boot is over without it (logind started before the
/// linger file existed), it makes sure the session runs and waits for its bus, for up to a
/// minute as the reference does (a loaded host takes seconds to start a user manager). The
/// bus is looked for every 20 ms, so the script ends with the boot.
pub fn session_script() -> &'static str {
    r#"set -eu
bus=/run/user/1000/bus
i=0
until [ -S $bus ]; do
  i=$((i + 1))
  if [ $((i % 5)) = 0 ]; then
    case "$(systemctl is-system-running 2>/dev/null || true)" in running|degraded) break ;; esac
  fi
  [ "$i" -lt 3000 ] || break
  sleep 0.02
done
[ -S $bus ] && exit 0
loginctl enable-linger workshop
for _ in $(seq 1 600); do
  [ -S $bus ] && exit 0
  sleep 0.1
done
echo "the user session of workshop did not start within 60 s" >&2
exit 1
"#
}

/// Script setting the guest's time zone to `zone` (e.g. `Pacific/Auckland`).
pub fn timezone_script(zone: &str) -> String {
    let zone = shell_quote(zone);
    format!(
        "set -eu\nz={zone}\n[ -e \"/usr/share/zoneinfo/$z\" ] || {{ echo \"unknown time zone $z\" >&2; exit 3; }}\n\
         ln -sf \"/usr/share/zoneinfo/$z\" /etc/localtime\necho \"$z\" > /etc/timezone\n"
    )
}

/// The host's time zone: `/etc/timezone`, else the target of `/etc/localtime`, else `TZ`.
pub fn host_timezone() -> Option<String> {
    if let Ok(text) = std::fs::read_to_string("/etc/timezone") {
        let zone = text.trim();
        if !zone.is_empty() {
            return Some(zone.to_string());
        }
    }
    if let Ok(target) = std::fs::read_link("/etc/localtime") {
        let target = target.to_string_lossy().into_owned();
        if let Some((_, zone)) = target.split_once("zoneinfo/") {
            return Some(zone.to_string());
        }
    }
    std::env::var("TZ").ok().map(|z| z.trim_start_matches(':').to_string()).filter(|z| !z.is_empty())
}

/// Single-quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }

    #[test]
    fn setup_covers_the_guest_contract() {
        let s = setup_script();
        for needle in [
            "useradd --uid 1000",
            "NOPASSWD",
            "Defaults:root !use_pty",
            "/var/lib/systemd/linger/workshop",
            "/usr/local/bin/workshopctl",
            "990",
            "/var/lib/workshop/bin/workshop.socket.untrusted /var/lib/workshop/run/workshop.socket.untrusted",
            "/usr/local/lib/workshop",
            "/var/lib/workshop/state",
            "APT::Install-Recommends \"false\"",
            "APT::Get::Assume-Yes \"true\"",
            "HostKey /etc/ssh/ssh_host_ed25519_key",
            "cloud-init.disabled",
            "/home/workshop/.local/state",
        ] {
            assert!(s.contains(needle), "missing {needle}");
        }
    }

    /// Runs the set-up with `sh` in a scratch root where every command it would start is a
    /// stub that logs its arguments (`id` answers `id_output`, `systemctl` answers
    /// `sysinit_states` one after the other): what it did, its exit status and stderr.
    fn run_stubbed(id_output: Option<&str>, sysinit_states: &[&str]) -> (String, i32, String) {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = tmp.path().join("log");
        let states = tmp.path().join("states");
        std::fs::write(&states, sysinit_states.join("\n") + "\n").unwrap();
        let stub = |name: &str, body: &str| {
            let path = bin.join(name);
            std::fs::write(&path, format!("#!/bin/sh\necho \"{name} $*\" >> {}\n{body}\n", log.display()))
                .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        for name in
            ["mkdir", "chmod", "touch", "ln", "install", "getent", "groupadd", "useradd", "usermod", "cut"]
        {
            stub(name, "exit 0");
        }
        stub("sleep", "exit 0");
        match id_output {
            Some(out) => stub("id", &format!("echo '{out}'")),
            None => stub("id", "exit 1"),
        }
        let queue = states.display();
        stub(
            "systemctl",
            &format!("s=$(head -n1 {queue}); sed -i 1d {queue}; echo \"$s\"; [ \"$s\" = active ]"),
        );
        // Paths the script writes go under the scratch root; commands come from the stubs.
        let script = setup_script()
            .replace(
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                &format!("PATH={}:/usr/bin:/bin", bin.display()),
            )
            .replace(" > /etc/", &format!(" > {}/etc/", tmp.path().display()))
            .replace("[ -e /etc/", &format!("[ -e {}/etc/", tmp.path().display()))
            .replace("[ ! -d /etc/cloud ]", "[ ! -d /nonexistent ]");
        for dir in ["etc/sudoers.d", "etc/apt/apt.conf.d", "etc/ssh/sshd_config.d"] {
            std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
        }
        // Commands are stubs; only the shell itself could write.
        for write in ["> /etc/", "-e /etc/"] {
            assert!(!script.contains(write), "the test would write the host's /etc: {write}");
        }
        let mut command = std::process::Command::new("sh");
        command.arg("-c").arg(&script);
        // SAFETY: a plain getter.
        if unsafe { libc::geteuid() } == 0 {
            // Whatever escaped the rewriting fails rather than touching the host.
            use std::os::unix::process::CommandExt;
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
            std::fs::set_permissions(&states, std::fs::Permissions::from_mode(0o666)).unwrap();
            for dir in ["etc/sudoers.d", "etc/apt/apt.conf.d", "etc/ssh/sshd_config.d"] {
                std::fs::set_permissions(tmp.path().join(dir), std::fs::Permissions::from_mode(0o777))
                    .unwrap();
            }
            command.uid(65534).gid(65534);
        }
        let out = command.output().unwrap();
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        (log, out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    #[test]
    fn a_guest_set_up_before_is_only_read() {
        let ids = "uid=1000(workshop) gid=1000(workshop) groups=1000(workshop),27(sudo),\
                   109(workshop-compat-109),110(netdev),990(render),992(workshop-compat-992)";
        let (log, code, stderr) = run_stubbed(Some(ids), &[]);
        assert_eq!(code, 0, "{stderr}");
        for tool in ["systemctl", "groupadd", "useradd", "usermod"] {
            assert!(!log.lines().any(|l| l.starts_with(tool)), "{tool} ran:\n{log}");
        }
        assert!(log.contains("install -d -o workshop -g workshop /home/workshop/.config"), "{log}");
    }

    #[test]
    fn the_user_database_is_edited_only_after_the_boot_reached_sysinit() {
        // Missing group 992: the script waits while sysinit.target is not reached, then edits.
        let ids = "uid=1000(workshop) gid=1000(workshop) groups=1000(workshop),27(sudo),109(a),110(b),990(c)";
        let (log, code, stderr) = run_stubbed(Some(ids), &["", "inactive", "activating", "active"]);
        assert_eq!(code, 0, "{stderr}");
        let lines: Vec<&str> = log.lines().collect();
        let probes = lines.iter().filter(|l| l.starts_with("systemctl is-active sysinit.target")).count();
        assert_eq!(probes, 4, "{log}");
        let last_probe = lines.iter().rposition(|l| l.starts_with("systemctl")).unwrap();
        let first_edit = lines.iter().position(|l| l.starts_with("usermod")).expect("usermod ran");
        assert!(last_probe < first_edit, "{log}");
        // A failed sysinit.target is past the point too.
        let (_, code, stderr) = run_stubbed(None, &["failed"]);
        assert_eq!(code, 0, "{stderr}");
    }

    #[test]
    fn a_boot_that_never_reaches_sysinit_fails_the_set_up_in_bounded_time() {
        let (log, code, stderr) = run_stubbed(None, &[]);
        assert_ne!(code, 0);
        assert!(stderr.contains("did not reach sysinit.target within 30 s"), "{stderr}");
        assert!(!log.contains("groupadd"), "{log}");
    }

    #[test]
    fn the_session_is_awaited_after_boot() {
        assert!(session_script().contains("enable-linger workshop"));
        assert!(session_script().contains("/run/user/1000/bus"));
    }

    #[test]
    fn timezone_script_rejects_unknown_zones_in_the_guest() {
        assert!(timezone_script("Pacific/Auckland").contains("'Pacific/Auckland'"));
    }
}
