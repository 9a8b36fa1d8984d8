//! Reading `/proc/<pid>/mountinfo`, to find where a directory mounted into a workshop is on
//! the host now: the kernel reports a bind mount's root by the current path of its directory,
//! so a project moved on the host shows its new path inside the running workshop.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
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
            let root = unescape(fields.next()?);
            let mount_point = unescape(fields.next()?);
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
/// Anything else, including an escape beyond a byte (`\777`), stays as it is. The bytes are
/// taken as they are: a path need not be UTF-8.
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match escaped_byte(&bytes[i..]) {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

/// The byte of a `\ooo` escape at the start of `bytes` (at most `\377`).
fn escaped_byte(bytes: &[u8]) -> Option<u8> {
    let [b'\\', digits @ ..] = bytes.get(..4)? else { return None };
    let value = digits
        .iter()
        .try_fold(0u32, |n, &d| (b'0'..=b'7').contains(&d).then(|| n * 8 + u32::from(d - b'0')))?;
    u8::try_from(value).ok()
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
        assert_eq!(unescape(r"a\134b\011c\0x"), Path::new("a\\b\tc\\0x"));
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

    /// L3: `\777` overflowed a u8 (a panic in debug builds, a wrong byte in release).
    #[test]
    fn escapes_beyond_a_byte_stay_as_they_are() {
        assert_eq!(unescape(r"/a\777b"), Path::new(r"/a\777b"));
        assert_eq!(unescape(r"/a\400\377"), PathBuf::from(OsString::from_vec(b"/a\\400\xff".to_vec())));
        let entries = parse("1 0 0:1 /p\\777 /project rw - ext4 a rw\n");
        assert_eq!(entries[0].root, Path::new(r"/p\777"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_lines_never_panic(text in r"([0-9 :/\\a-z]|\\[0-9]{0,3}|.){0,120}") {
            let entries = parse(&text);
            let _ = host_paths(&entries, entries.last().unwrap_or(&MountEntry {
                device: "0:0".into(),
                root: "/".into(),
                mount_point: "/".into(),
            }));
            let _ = mounted_at(&entries, Path::new("/project"));
        }

        #[test]
        fn escapes_read_back(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let escaped: String = bytes.iter().map(|b| format!("\\{b:03o}")).collect();
            proptest::prop_assert_eq!(unescape(&escaped), PathBuf::from(OsString::from_vec(bytes)));
        }
    }
}
