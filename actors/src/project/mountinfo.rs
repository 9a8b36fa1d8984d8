//! Reading `/proc/<pid>/mountinfo`, to find where a directory mounted into a workshop is on
//! the host now: the kernel reports a bind mount's root by the current path of its directory,
//! so a project moved on the host shows its new path inside the running workshop.

use std::path::{Path, PathBuf};

/// The fields of one mountinfo line that locate a mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// `major:minor` of the filesystem.
    pub device: String,
    /// The directory of the filesystem that is mounted (`/` for a whole filesystem).
    pub root: PathBuf,
    /// Where it is mounted.
    pub mount_point: PathBuf,
}

/// Parses mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let (_id, _parent) = (fields.next()?, fields.next()?);
            let device = fields.next()?.to_string();
            let root = PathBuf::from(unescape(fields.next()?));
            let mount_point = PathBuf::from(unescape(fields.next()?));
            Some(MountEntry { device, root, mount_point })
        })
        .collect()
}

/// The entry mounted last at `mount_point` (the one visible there).
pub fn mounted_at<'a>(entries: &'a [MountEntry], mount_point: &Path) -> Option<&'a MountEntry> {
    entries.iter().rev().find(|e| e.mount_point == mount_point)
}

/// The host paths where `mount`'s directory is visible, given the host's mount table: most
/// specific host mount first.
pub fn host_paths(host: &[MountEntry], mount: &MountEntry) -> Vec<PathBuf> {
    let mut found: Vec<(usize, PathBuf)> = host
        .iter()
        .filter(|h| h.device == mount.device)
        .filter_map(|h| {
            let rest = mount.root.strip_prefix(&h.root).ok()?;
            let path =
                if rest.as_os_str().is_empty() { h.mount_point.clone() } else { h.mount_point.join(rest) };
            Some((h.root.components().count(), path))
        })
        .collect();
    found.sort_by_key(|(depth, _)| std::cmp::Reverse(*depth));
    let mut paths: Vec<PathBuf> = Vec::new();
    for (_, path) in found {
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\134` for a backslash, ...).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: &str = "\
1301 1249 0:95 / / rw,relatime shared:619 - btrfs /dev/loop3 rw,subvol=/containers/ws-a
1310 1301 254:0 /home/u/wst/global/project\\040new /project rw,relatime shared:1 - ext4 /dev/vda rw
1311 1301 254:0 /var/lib/workshop/guest /usr/local/lib/workshop rw,relatime shared:1 - ext4 /dev/vda rw
";

    const HOST: &str = "\
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
29 27 254:16 / /home rw,relatime shared:2 - ext4 /dev/vdb rw
30 27 254:0 /srv/bind /mnt/bind rw,relatime shared:1 - ext4 /dev/vda rw
";

    #[test]
    fn parses_and_unescapes_fields() {
        let entries = parse(GUEST);
        assert_eq!(entries.len(), 3);
        let project = mounted_at(&entries, Path::new("/project")).unwrap();
        assert_eq!(project.device, "254:0");
        assert_eq!(project.root, PathBuf::from("/home/u/wst/global/project new"));
        assert!(mounted_at(&entries, Path::new("/nowhere")).is_none());
        assert_eq!(unescape(r"a\134b\011c\0x"), "a\\b\tc\\0x");
    }

    #[test]
    fn the_last_mount_at_a_point_is_the_visible_one() {
        let text = "1 0 0:1 /old /project rw - ext4 a rw\n2 0 0:2 /new /project rw - ext4 b rw\n";
        assert_eq!(mounted_at(&parse(text), Path::new("/project")).unwrap().root, PathBuf::from("/new"));
    }

    #[test]
    fn host_paths_follow_the_filesystem_mounts() {
        let host = parse(HOST);
        let project = mounted_at(&parse(GUEST), Path::new("/project")).unwrap().clone();
        assert_eq!(host_paths(&host, &project), [PathBuf::from("/home/u/wst/global/project new")]);
        // A directory also reachable through a bind mount: the more specific mount first.
        let bound = MountEntry {
            device: "254:0".into(),
            root: PathBuf::from("/srv/bind/p"),
            mount_point: PathBuf::from("/project"),
        };
        assert_eq!(host_paths(&host, &bound), [PathBuf::from("/mnt/bind/p"), PathBuf::from("/srv/bind/p")]);
        // A filesystem mounted elsewhere on the host: its own root is the mount point.
        let on_home = MountEntry {
            device: "254:16".into(),
            root: PathBuf::from("/u/p"),
            mount_point: "/project".into(),
        };
        assert_eq!(host_paths(&host, &on_home), [PathBuf::from("/home/u/p")]);
        let whole =
            MountEntry { device: "254:16".into(), root: PathBuf::from("/"), mount_point: "/x".into() };
        assert_eq!(host_paths(&host, &whole), [PathBuf::from("/home")]);
        let unknown =
            MountEntry { device: "9:9".into(), root: PathBuf::from("/p"), mount_point: "/x".into() };
        assert!(host_paths(&host, &unknown).is_empty());
    }
}
