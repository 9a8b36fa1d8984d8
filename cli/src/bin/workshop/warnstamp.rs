//! The time warnings were last listed (`~/.cache/workshop/warnings.json`) and the banner that
//! points at new warnings.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use workshop_client::WarningsSummary;

/// Overrides the location of the timestamp file.
const PATH_ENV: &str = "WORKSHOPD_LAST_WARNING_TIMESTAMP_FILENAME";

#[derive(Debug, Serialize, Deserialize)]
struct Stamp {
    timestamp: DateTime<Utc>,
}

/// Where the last-listed time is kept: `$XDG_CACHE_HOME/workshop/warnings.json` (the cache
/// directory defaulting to `~/.cache`).
pub fn path() -> Option<PathBuf> {
    path_from(|name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from))
}

fn path_from(var: impl Fn(&str) -> Option<PathBuf>) -> Option<PathBuf> {
    if let Some(p) = var(PATH_ENV) {
        return Some(p);
    }
    let cache =
        var("XDG_CACHE_HOME").filter(|p| p.is_absolute()).or_else(|| Some(var("HOME")?.join(".cache")))?;
    Some(cache.join("workshop/warnings.json"))
}

/// The time warnings were last listed; `None` if they never were.
pub fn read(path: &Path) -> anyhow::Result<Option<DateTime<Utc>>> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let stamp: Stamp =
        serde_json::from_slice(&text).with_context(|| format!("cannot decode {}", path.display()))?;
    Ok(Some(stamp.timestamp))
}

/// Records `t` as the time warnings were last listed.
/// As the reference's: the directories it makes are the user's alone (0700), and so is the
/// file (0600).
pub fn write(path: &Path, t: DateTime<Utc>) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = serde_json::to_vec(&Stamp { timestamp: t })?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(&text).with_context(|| format!("cannot write {}", path.display()))
}

/// The banner for warnings newer than `last_listed`, if there are any.
pub fn banner(summary: WarningsSummary, last_listed: Option<DateTime<Utc>>) -> Option<String> {
    let newest = summary.timestamp?;
    if summary.count == 0 || last_listed.is_some_and(|last| newest <= last) {
        return None;
    }
    Some(if summary.count == 1 {
        "WARNING: There is 1 new warning. See \"workshop warnings\".".to_string()
    } else {
        format!("WARNING: There are {} new warnings. See \"workshop warnings\".", summary.count)
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_stamp_lives_in_the_cache_directory() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| PathBuf::from(v))
        };
        let at = |vars| path_from(env(vars)).map(|p| p.display().to_string());
        assert_eq!(at(&[("HOME", "/home/u")]).as_deref(), Some("/home/u/.cache/workshop/warnings.json"));
        assert_eq!(
            at(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/c")]).as_deref(),
            Some("/c/workshop/warnings.json")
        );
        assert_eq!(
            at(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "relative")]).as_deref(),
            Some("/home/u/.cache/workshop/warnings.json")
        );
        assert_eq!(at(&[]), None);
    }

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn banner_only_for_warnings_newer_than_the_listing() {
        let one = WarningsSummary { count: 1, timestamp: Some(t(100)) };
        assert_eq!(banner(one, None).unwrap(), "WARNING: There is 1 new warning. See \"workshop warnings\".");
        assert_eq!(
            banner(one, Some(t(99))).as_deref(),
            Some("WARNING: There is 1 new warning. See \"workshop warnings\".")
        );
        assert_eq!(banner(one, Some(t(100))), None);
        assert_eq!(banner(one, Some(t(200))), None);
        let three = WarningsSummary { count: 3, timestamp: Some(t(100)) };
        assert_eq!(
            banner(three, None).unwrap(),
            "WARNING: There are 3 new warnings. See \"workshop warnings\"."
        );
        assert_eq!(banner(WarningsSummary { count: 0, timestamp: Some(t(100)) }, None), None);
        assert_eq!(banner(WarningsSummary { count: 2, timestamp: None }, None), None);
    }

    #[test]
    fn the_stamp_and_its_directories_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache/workshop/warnings.json");
        write(&path, t(5)).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&dir.path().join("cache")), 0o700);
    }

    #[test]
    fn stamp_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache/workshop/warnings.json");
        assert_eq!(read(&path).unwrap(), None);
        write(&path, t(1_700_000_000)).unwrap();
        assert_eq!(read(&path).unwrap(), Some(t(1_700_000_000)));
        assert!(fs::read_to_string(&path).unwrap().starts_with("{\"timestamp\":\"2023-11-14T22:13:20"));
    }
}
