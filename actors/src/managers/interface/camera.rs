//! The camera interface's devices (reference-inventory §4.1, `camera`): the host's video
//! devices, hotplugged as they come and go, by kernel subsystem (`video4linux`, `media`).
//! An LXD that cannot match unix devices by subsystem (LXD 5.0) gets, instead, the camera
//! device nodes present when the profile is set up, each one only when the user may open it
//! on the host, owned by the workshop user inside; the task log says a camera plugged in
//! later needs the connection made again. None on a host without cameras.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::backend::{Device, HotplugSupport};
use crate::managers::UserRef;

/// The kernel subsystems of a camera's devices.
const SUBSYSTEMS: [&str; 2] = ["video4linux", "media"];

/// A hotplugged unix device matching `matches` (key, value), not needed to start the
/// workshop, keeping its host owner when LXD can.
pub fn hotplug_device(matches: &[(&str, &str)], support: HotplugSupport) -> Device {
    let mut d: Device = BTreeMap::from([
        ("type".to_string(), "unix-hotplug".to_string()),
        ("required".to_string(), "false".to_string()),
    ]);
    if support.ownership_inherit {
        d.insert("ownership.inherit".into(), "true".into());
    }
    for (k, v) in matches {
        d.insert(k.to_string(), v.to_string());
    }
    d
}

/// The devices of SDK `sdk`'s camera plug, by name (`<sdk>_camera_<subsystem>`), and a note
/// when LXD cannot make them: on an LXD without the subsystem match, the device nodes of
/// `present` (host cameras the user may open, [`host_cameras`]), `<sdk>_camera_<node>`.
pub fn devices(
    sdk: &str,
    support: HotplugSupport,
    present: &[String],
) -> (BTreeMap<String, Device>, Option<String>) {
    if !support.subsystem {
        if present.is_empty() {
            let note = "This LXD cannot pass cameras as they are plugged in, and this host has no camera \
                        you may open: the camera connection gives the workshop no device";
            return (BTreeMap::new(), Some(note.into()));
        }
        let devices =
            present.iter().map(|node| (format!("{sdk}_camera_{node}"), char_device(node))).collect();
        let nodes: Vec<String> = present.iter().map(|n| format!("/dev/{n}")).collect();
        let note = format!(
            "This LXD cannot pass cameras as they are plugged in: the workshop has those present now ({}); \
             connect again after plugging in another one",
            nodes.join(", ")
        );
        return (devices, Some(note));
    }
    let devices = SUBSYSTEMS
        .iter()
        .map(|s| (format!("{sdk}_camera_{s}"), hotplug_device(&[("subsystem", s)], support)))
        .collect();
    (devices, None)
}

/// The guest's workshop user, who owns a camera device node passed without hotplug.
const GUEST_USER: &str = "1000";

/// A camera device node of the host passed as it is (`/dev/<node>` on both sides).
fn char_device(node: &str) -> Device {
    let path = format!("/dev/{node}");
    [
        ("type", "unix-char"),
        ("source", path.as_str()),
        ("path", path.as_str()),
        ("required", "false"),
        ("uid", GUEST_USER),
        ("gid", GUEST_USER),
        ("mode", "0660"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Most devices of one class looked at, and the longest `uevent` read.
const MAX_DEVICES: usize = 64;
const MAX_UEVENT: u64 = 4096;

/// The device nodes (names under `/dev`) of the camera devices in sysfs below `class`
/// (`/sys/class`): `DEVNAME` of each device of the classes `video4linux` and `media`, sorted;
/// a name with anything but letters, digits, `-` and `_` is left out.
pub fn scan(class: &Path) -> Vec<String> {
    use std::io::Read as _;
    let mut nodes = Vec::new();
    for subsystem in SUBSYSTEMS {
        let Ok(entries) = std::fs::read_dir(class.join(subsystem)) else { continue };
        for entry in entries.flatten().take(MAX_DEVICES) {
            let mut text = String::new();
            let read = std::fs::File::open(entry.path().join("uevent"))
                .and_then(|f| f.take(MAX_UEVENT).read_to_string(&mut text));
            if read.is_err() {
                continue;
            }
            let name = text.lines().find_map(|l| l.strip_prefix("DEVNAME="));
            if let Some(name) = name.filter(|n| {
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }) {
                nodes.push(name.to_string());
            }
        }
    }
    nodes.sort();
    nodes.dedup();
    nodes
}

/// Those of `nodes` (under `dev`) that `user` may open for reading and writing: each is
/// opened as the user (never through a symlink, without blocking, and closed at once) and
/// must be a character device. A camera the user could not use on the host is not passed.
pub async fn openable(user: &UserRef, dev: PathBuf, nodes: Vec<String>) -> Vec<String> {
    let checked = crate::userfs::as_user(user, move || -> Result<Vec<String>, crate::userfs::UserFsError> {
        Ok(nodes
            .into_iter()
            .filter(|node| {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
                    .open(dev.join(node))
                    .and_then(|f| f.metadata())
                    .is_ok_and(|m| m.file_type().is_char_device())
            })
            .collect())
    })
    .await;
    checked.unwrap_or_default()
}

/// The host's cameras `user` may open ([`scan`] of `/sys/class`, [`openable`] in `/dev`).
pub async fn host_cameras(user: &UserRef) -> Vec<String> {
    let nodes = tokio::task::spawn_blocking(|| scan(Path::new("/sys/class"))).await.unwrap_or_default();
    if nodes.is_empty() {
        return nodes;
    }
    openable(user, PathBuf::from("/dev"), nodes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_and_media_devices_by_subsystem() {
        let (devices, note) = devices("cam", HotplugSupport::FULL, &["video0".to_string()]);
        assert_eq!(note, None);
        let expected: BTreeMap<String, Device> = SUBSYSTEMS
            .iter()
            .map(|s| {
                let d: Device = [
                    ("type", "unix-hotplug"),
                    ("subsystem", s),
                    ("required", "false"),
                    ("ownership.inherit", "true"),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
                (format!("cam_camera_{s}"), d)
            })
            .collect();
        assert_eq!(devices, expected);
    }

    #[test]
    fn an_older_lxd_gets_what_it_can_take() {
        let old = HotplugSupport { subsystem: false, ownership_inherit: false };
        let (devices, note) = devices("cam", old, &[]);
        assert!(devices.is_empty());
        assert!(note.unwrap().contains("no device"));
        // The cameras present, as they are, owned by the workshop user inside.
        let (devices, note) = super::devices("cam", old, &["media0".to_string(), "video0".to_string()]);
        assert_eq!(devices.keys().collect::<Vec<_>>(), ["cam_camera_media0", "cam_camera_video0"]);
        let video = &devices["cam_camera_video0"];
        assert_eq!((video["type"].as_str(), video["source"].as_str()), ("unix-char", "/dev/video0"));
        assert_eq!(
            (video["path"].as_str(), video["uid"].as_str(), video["gid"].as_str()),
            ("/dev/video0", "1000", "1000")
        );
        assert_eq!((video["mode"].as_str(), video["required"].as_str()), ("0660", "false"));
        assert!(note.unwrap().contains("(/dev/media0, /dev/video0)"));
        let no_inherit = HotplugSupport { subsystem: true, ownership_inherit: false };
        let (devices, _) = super::devices("cam", no_inherit, &[]);
        assert_eq!(devices.len(), 2);
        assert!(devices.values().all(|d| !d.contains_key("ownership.inherit") && d["required"] == "false"));
    }

    #[test]
    fn cameras_are_found_by_class_and_named_safely() {
        let tmp = tempfile::tempdir().unwrap();
        let device = |class: &str, dir: &str, uevent: &str| {
            let at = tmp.path().join(class).join(dir);
            std::fs::create_dir_all(&at).unwrap();
            std::fs::write(at.join("uevent"), uevent).unwrap();
        };
        device("video4linux", "video0", "MAJOR=81\nMINOR=0\nDEVNAME=video0\n");
        device("video4linux", "video1", "MAJOR=81\nMINOR=1\nDEVNAME=video1\n");
        device("media", "media0", "DEVNAME=media0\n");
        device("video4linux", "evil", "DEVNAME=../sda\n");
        device("video4linux", "none", "MAJOR=81\n");
        device("sound", "card0", "DEVNAME=snd/controlC0\n");
        assert_eq!(scan(tmp.path()), ["media0", "video0", "video1"]);
        assert!(scan(&tmp.path().join("missing")).is_empty());
    }

    #[tokio::test]
    async fn only_device_nodes_the_user_may_open_are_passed() {
        // SAFETY: a plain getter.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root (device nodes, acting as another user)");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dev = tmp.path().to_path_buf();
        std::fs::set_permissions(&dev, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let node = |name: &str, mode: u32| {
            let path = std::ffi::CString::new(dev.join(name).to_str().unwrap()).unwrap();
            // /dev/null's numbers: opening it does nothing.
            // SAFETY: a NUL-terminated path; the result is checked.
            let made = unsafe { libc::mknod(path.as_ptr(), libc::S_IFCHR | mode, libc::makedev(1, 3)) };
            assert_eq!(made, 0, "mknod {name}");
            // SAFETY: as above.
            assert_eq!(unsafe { libc::chmod(path.as_ptr(), mode) }, 0);
        };
        node("video0", 0o666);
        node("video1", 0o600);
        std::fs::write(dev.join("video2"), "not a device").unwrap();
        std::fs::set_permissions(dev.join("video2"), std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .unwrap();
        std::os::unix::fs::symlink(dev.join("video0"), dev.join("video3")).unwrap();
        let nobody = UserRef { name: "nobody".into(), uid: 65534, gid: 65534, data_home: None };
        let names = ["video0", "video1", "video2", "video3", "video9"].map(String::from).to_vec();
        assert_eq!(openable(&nobody, dev.clone(), names).await, ["video0"]);
    }
}
