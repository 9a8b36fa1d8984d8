//! The kernel limits check: every workshop's user session (systemd, D-Bus) takes inotify
//! instances and kernel keys counted per host uid, so with the kernel's defaults (128 inotify
//! instances, 200 keys) a few workshops at once leave the next one's session unable to start.
//! The wanted values are those of LXD's production set-up; the fix sets them and keeps them in
//! the same `/etc/sysctl.d` file that `scripts/setup-lxd.sh` writes.

use std::io::Write;
use std::path::Path;

use workshop_api::doctor::{Check, CheckStatus};

/// Where the fix keeps the values across reboots.
pub const SYSCTL_CONF: &str = "/etc/sysctl.d/90-workshop-lxd.conf";

/// Each limit (as `sysctl` names it) and the least value workshops want.
pub const WANTED: [(&str, u64); 5] = [
    ("fs.inotify.max_user_instances", 1_048_576),
    ("fs.inotify.max_user_watches", 1_048_576),
    ("fs.inotify.max_queued_events", 1_048_576),
    ("kernel.keys.maxkeys", 2000),
    ("kernel.keys.maxbytes", 2_000_000),
];

/// The file under `proc_sys` that holds `key`.
fn path_of(proc_sys: &Path, key: &str) -> std::path::PathBuf {
    proc_sys.join(key.replace('.', "/"))
}

/// The limits below their wanted value: (key, value now, wanted). A limit that cannot be read
/// (another kernel, no such file) is not counted against the host.
fn too_low(proc_sys: &Path) -> Vec<(&'static str, u64, u64)> {
    WANTED
        .iter()
        .filter_map(|&(key, want)| {
            let text = std::fs::read_to_string(path_of(proc_sys, key)).ok()?;
            let have: u64 = text.trim().parse().ok()?;
            (have < want).then_some((key, have, want))
        })
        .collect()
}

pub fn check() -> Check {
    check_in(Path::new("/proc/sys"))
}

fn check_in(proc_sys: &Path) -> Check {
    let low = too_low(proc_sys);
    if low.is_empty() {
        return Check::ok("kernel-limits", "inotify and kernel key limits allow many workshops at once");
    }
    let named: Vec<String> =
        low.iter().map(|(key, have, want)| format!("{key} is {have} (want {want})")).collect();
    let sets: Vec<String> = low.iter().map(|(key, _, want)| format!("{key}={want}")).collect();
    Check::new(
        "kernel-limits",
        CheckStatus::Warning,
        format!(
            "a few workshops at once may leave the next one's user session unable to start: {}",
            named.join(", ")
        ),
    )
    .fixable(format!("sysctl -w {}; and keep them in {SYSCTL_CONF}", sets.join(" ")))
}

/// Raises the limits that are too low and writes every wanted value to [`SYSCTL_CONF`].
pub fn fix() -> Result<(), String> {
    fix_in(Path::new("/proc/sys"), Path::new(SYSCTL_CONF))
}

fn fix_in(proc_sys: &Path, conf: &Path) -> Result<(), String> {
    for (key, _, want) in too_low(proc_sys) {
        std::fs::write(path_of(proc_sys, key), format!("{want}\n"))
            .map_err(|e| format!("cannot set {key}: {e}"))?;
    }
    // The larger of the wanted value and the one in force: a host set higher stays so.
    let mut text = String::from("# Written by `workshop doctor --fix`: limits for many workshops at once.\n");
    for (key, want) in WANTED {
        let have = std::fs::read_to_string(path_of(proc_sys, key))
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(want);
        text.push_str(&format!("{key} = {}\n", have.max(want)));
    }
    let tmp = conf.with_extension("conf.tmp");
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    written
        .and_then(|()| std::fs::rename(&tmp, conf))
        .map_err(|e| format!("cannot write {}: {e}", conf.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_sys(values: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (key, value) in values {
            let path = path_of(dir.path(), key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, value).unwrap();
        }
        dir
    }

    #[test]
    fn low_limits_are_named_with_what_to_run_and_fixed() {
        let dir = proc_sys(&[
            ("fs.inotify.max_user_instances", "128\n"),
            ("fs.inotify.max_user_watches", "2000000\n"),
            ("kernel.keys.maxkeys", "200\n"),
        ]);
        let check = check_in(dir.path());
        assert_eq!(check.status, CheckStatus::Warning);
        assert!(check.fixable);
        assert!(
            check.message.ends_with(
                "fs.inotify.max_user_instances is 128 (want 1048576), kernel.keys.maxkeys is 200 (want 2000)"
            ),
            "{}",
            check.message
        );
        assert_eq!(
            check.fix.as_deref(),
            Some(&*format!(
                "sysctl -w fs.inotify.max_user_instances=1048576 kernel.keys.maxkeys=2000; and keep them in {SYSCTL_CONF}"
            ))
        );

        let conf = dir.path().join("90-workshop-lxd.conf");
        fix_in(dir.path(), &conf).unwrap();
        assert_eq!(check_in(dir.path()).status, CheckStatus::Ok);
        let kept = std::fs::read_to_string(&conf).unwrap();
        assert!(kept.contains("fs.inotify.max_user_instances = 1048576\n"), "{kept}");
        assert!(kept.contains("fs.inotify.max_user_watches = 2000000\n"), "a higher value stays: {kept}");
        assert!(kept.contains("kernel.keys.maxbytes = 2000000\n"), "{kept}");
    }

    #[test]
    fn unreadable_limits_are_not_held_against_the_host() {
        let dir = proc_sys(&[("fs.inotify.max_user_instances", "not a number")]);
        assert_eq!(check_in(dir.path()).status, CheckStatus::Ok);
    }
}
