//! The id map check: LXD (not the snap) maps a workshop's user 1000 to the caller's host ids
//! with `raw.idmap`, which liblxc's `newuidmap`/`newgidmap` allow only for ids listed for root
//! in `/etc/subuid` and `/etc/subgid`.

use std::io::Write;
use std::path::Path;

use workshop_api::doctor::{Check, CheckStatus};

pub const SUBUID: &str = "/etc/subuid";
pub const SUBGID: &str = "/etc/subgid";

/// Whether `file` (subuid/subgid text) has a range for root that covers `id`.
fn covers(file: &str, id: u32) -> bool {
    file.lines().any(|line| {
        let mut fields = line.trim().split(':');
        let (Some("root"), Some(start), Some(count)) = (fields.next(), fields.next(), fields.next()) else {
            return false;
        };
        match (start.parse::<u64>(), count.parse::<u64>()) {
            (Ok(start), Ok(count)) => start <= u64::from(id) && u64::from(id) < start + count,
            _ => false,
        }
    })
}

/// What to append for the ids not covered.
fn missing(subuid: &str, subgid: &str, uid: u32, gid: u32) -> Vec<(&'static str, u32)> {
    let mut out = Vec::new();
    if !covers(subuid, uid) {
        out.push((SUBUID, uid));
    }
    if !covers(subgid, gid) {
        out.push((SUBGID, gid));
    }
    out
}

pub fn check(subuid: &str, subgid: &str, uid: u32, gid: u32) -> Check {
    let missing = missing(subuid, subgid, uid, gid);
    if missing.is_empty() {
        return Check::ok("id-map", format!("root may map uid {uid} and gid {gid} into workshops"));
    }
    let files: Vec<String> = missing.iter().map(|(file, id)| format!("{file} (root:{id}:1)")).collect();
    let commands: Vec<String> =
        missing.iter().map(|(file, id)| format!("echo root:{id}:1 >> {file}")).collect();
    Check::new(
        "id-map",
        CheckStatus::Failed,
        format!("workshops of uid {uid} cannot start: root has no range for them in {}", files.join(" and ")),
    )
    .fixable(format!("{}; then restart LXD (systemctl restart lxd)", commands.join("; ")))
}

/// Appends root's ranges for `uid` and `gid` where missing. LXD reads them when it starts.
pub fn fix(uid: u32, gid: u32) -> Result<(), String> {
    fix_files(Path::new(SUBUID), Path::new(SUBGID), uid, gid)
}

fn fix_files(subuid: &Path, subgid: &Path, uid: u32, gid: u32) -> Result<(), String> {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    for (file, id) in [(subuid, uid), (subgid, gid)] {
        let text = read(file);
        if covers(&text, id) {
            continue;
        }
        let shown = file.display();
        let mut out = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(file)
            .map_err(|e| format!("cannot open {shown}: {e}"))?;
        let newline = if text.is_empty() || text.ends_with('\n') { "" } else { "\n" };
        writeln!(out, "{newline}root:{id}:1").map_err(|e| format!("cannot write {shown}: {e}"))?;
        out.sync_all().map_err(|e| format!("cannot write {shown}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_roots_ranges_count() {
        let file = "root:1000:200\n_lxd:100000:10000001\nworkshop-test:10100001:65536\nroot:x:y\n";
        assert!(covers(file, 1000) && covers(file, 1199));
        assert!(!covers(file, 1200) && !covers(file, 999));
        assert!(!covers(file, 100_000), "another user's range is not root's");
        assert!(!covers("", 1000));
    }

    #[test]
    fn the_fix_appends_only_what_is_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let (subuid, subgid) = (tmp.path().join("subuid"), tmp.path().join("subgid"));
        std::fs::write(&subuid, "root:1000:200").unwrap();
        std::fs::write(&subgid, "root:100000:65536\n").unwrap();
        fix_files(&subuid, &subgid, 1100, 1100).unwrap();
        fix_files(&subuid, &subgid, 1100, 1100).unwrap();
        assert_eq!(std::fs::read_to_string(&subuid).unwrap(), "root:1000:200");
        assert_eq!(std::fs::read_to_string(&subgid).unwrap(), "root:100000:65536\nroot:1100:1\n");
        let (uids, gids) =
            (std::fs::read_to_string(&subuid).unwrap(), std::fs::read_to_string(&subgid).unwrap());
        assert_eq!(check(&uids, &gids, 1100, 1100).status, CheckStatus::Ok);
    }

    #[test]
    fn a_missing_range_names_the_file_and_the_fix() {
        let ok = check("root:1000:200\n", "root:1000:200\n", 1100, 1100);
        assert_eq!(ok.status, CheckStatus::Ok);
        let failed = check("root:1000:200\n", "root:100000:65536\n", 1100, 1100);
        assert_eq!(failed.status, CheckStatus::Failed);
        assert!(failed.message.ends_with("in /etc/subgid (root:1100:1)"), "{}", failed.message);
        assert!(failed.fixable);
        assert_eq!(
            failed.fix.as_deref(),
            Some("echo root:1100:1 >> /etc/subgid; then restart LXD (systemctl restart lxd)")
        );
    }
}
