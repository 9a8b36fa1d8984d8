//! The devices of the connections that reach the host's devices and the caller's session:
//! camera, custom-device (`camera.rs`, `custom_device.rs`), desktop and ssh-agent
//! (`desktop.rs`, `ssh_agent.rs`, host side in `session.rs`). The workshop has one desktop
//! and one agent: when several plugs of those are connected, the first (in the order of the
//! connection keys) carries the devices and the others share them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::conns::ConnState;
use super::repo::Endpoint;
use super::session::HostFile;
use crate::backend::{Device, HotplugSupport};
use crate::managers::UserRef;

/// The interfaces made here.
pub const INTERFACES: [&str; 4] = ["camera", "custom-device", "desktop", "ssh-agent"];

/// Whether the devices of `interface` need to know what LXD's unix-hotplug devices take.
pub fn uses_hotplug(interface: &str) -> bool {
    matches!(interface, "camera" | "custom-device")
}

/// What the host gives these devices.
pub struct HostSide<'a> {
    pub hotplug: HotplugSupport,
    /// The host's cameras the user may open, when LXD cannot pass them by subsystem
    /// (`camera::host_cameras`); else empty.
    pub cameras: &'a [String],
    /// The workshop's session files (`session::files_dir`).
    pub files_dir: PathBuf,
    pub user: &'a UserRef,
}

/// The devices of one connection, the files they show, and what the task log should say.
#[derive(Debug, Default)]
pub struct Made {
    pub devices: BTreeMap<String, Device>,
    pub files: Vec<HostFile>,
    pub note: Option<String>,
}

/// The devices of the connection of `plug` (state `conn`); `carried` holds the session
/// interfaces whose devices an earlier plug carries.
pub fn made(plug: &Endpoint, conn: &ConnState, host: &HostSide<'_>, carried: &mut BTreeSet<String>) -> Made {
    let sdk = plug.sdk.as_str();
    match plug.interface.as_str() {
        "camera" => {
            let (devices, note) = super::camera::devices(sdk, host.hotplug, host.cameras);
            Made { devices, files: Vec::new(), note }
        }
        "custom-device" => match super::custom_device::device(&plug.attrs, host.hotplug) {
            Ok(d) => {
                Made { devices: BTreeMap::from([(format!("{sdk}_{}", plug.name), d)]), ..Made::default() }
            }
            Err(note) => Made { note: Some(note), ..Made::default() },
        },
        interface @ ("desktop" | "ssh-agent") => {
            if conn.session.is_empty() {
                let note = format!(
                    "The {interface} connection of {sdk}:{} has no session: connect it again",
                    plug.name
                );
                return Made { note: Some(note), ..Made::default() };
            }
            if !carried.insert(interface.to_string()) {
                return Made::default();
            }
            let (devices, files) = if interface == "desktop" {
                super::desktop::devices(sdk, &conn.session, &host.files_dir, host.user)
            } else {
                super::ssh_agent::devices(sdk, &conn.session, &host.files_dir, host.user)
            };
            Made { devices, files, note: None }
        }
        _ => Made::default(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use workshop_api::definition::WorkshopFile;
    use workshop_api::sdk::{SdkInfo, Strictness};

    use super::*;
    use crate::lxd::{GpuCard, GpuDrm};
    use crate::managers::task::TaskTarget;

    fn repo() -> super::super::repo::Repo {
        let system =
            SdkInfo::parse(include_str!("../../sdk/system/meta/sdk.yaml"), Strictness::Strict).unwrap();
        let dev = SdkInfo::parse(
            "name: dev\nplugs:\n  gpu:\n  camera:\n  desktop:\n  ssh-agent:\n  stick: {interface: custom-device, vendorid: '0x0403', productid: '6001'}\n  serial: {interface: custom-device, subsystem: tty}\n",
            Strictness::Strict,
        )
        .unwrap();
        let other = SdkInfo::parse("name: other\nplugs:\n  desktop:\n", Strictness::Strict).unwrap();
        let file = WorkshopFile::new("ws", "ubuntu@22.04", Vec::new());
        super::super::repo::Repo::build(
            &[("system".into(), system), ("dev".into(), dev), ("other".into(), other)],
            &file,
        )
        .unwrap()
    }

    fn manual(interface: &str, session: &[(&str, &str)]) -> ConnState {
        ConnState {
            interface: interface.into(),
            session: session.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..ConnState::default()
        }
    }

    fn device(pairs: &[(&str, &str)]) -> Device {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The whole profile of an SDK with a plug of every device interface connected, on a host
    /// with an Intel GPU: each device as LXD gets it.
    #[test]
    fn profile_of_every_device_interface() {
        let repo = repo();
        let user = UserRef { name: "u".into(), uid: 1100, gid: 1100, data_home: None };
        let t = TaskTarget {
            name: "ws".into(),
            project_id: "0123abcd".into(),
            project_path: String::new(),
            user: user.clone(),
        };
        let x11 = [("x11-display", "1"), ("xauthority", "/tmp/.Xauthority")];
        let all = BTreeMap::from([
            ("dev:gpu system:gpu".to_string(), ConnState { auto: true, ..manual("gpu", &[]) }),
            ("dev:camera system:camera".to_string(), manual("camera", &[])),
            ("dev:stick system:custom-device".to_string(), manual("custom-device", &[])),
            ("dev:serial system:custom-device".to_string(), manual("custom-device", &[])),
            ("dev:desktop system:desktop".to_string(), manual("desktop", &x11)),
            ("other:desktop system:desktop".to_string(), manual("desktop", &[("x11-display", "2")])),
            (
                "dev:ssh-agent system:ssh-agent".to_string(),
                ConnState { undesired: true, ..manual("ssh-agent", &[("ssh-auth-sock", "/a")]) },
            ),
        ]);
        let gpus = [GpuCard { vendor_id: "8086".into(), drm: Some(GpuDrm { id: 1 }) }];
        let files_dir = PathBuf::from("/w/run/sessions/1100/0123abcd/ws");
        let host = HostSide {
            hotplug: HotplugSupport::FULL,
            cameras: &[],
            files_dir: files_dir.clone(),
            user: &user,
        };
        let profiles = super::super::handlers::profile_devices(
            &repo,
            &all,
            &gpus,
            &host,
            Path::new("/w/run/mounts"),
            &t,
        )
        .unwrap();
        let hotplug = |extra: &[(&str, &str)]| {
            let mut d =
                device(&[("type", "unix-hotplug"), ("required", "false"), ("ownership.inherit", "true")]);
            d.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            d
        };
        let proxy = |listen: &str, connect: &str| {
            device(&[
                ("type", "proxy"),
                ("bind", "instance"),
                ("listen", listen),
                ("connect", connect),
                ("uid", "1000"),
                ("gid", "1000"),
                ("mode", "0600"),
                ("security.uid", "1100"),
                ("security.gid", "1100"),
            ])
        };
        let file = |source: &str, path: &str| {
            device(&[("type", "disk"), ("source", source), ("path", path), ("readonly", "true")])
        };
        let expected = BTreeMap::from([
            (
                "dev_gpu_intel_1".to_string(),
                device(&[
                    ("type", "gpu"),
                    ("gputype", "physical"),
                    ("id", "1"),
                    ("uid", "1000"),
                    ("gid", "1000"),
                ]),
            ),
            ("dev_camera_video4linux".to_string(), hotplug(&[("subsystem", "video4linux")])),
            ("dev_camera_media".to_string(), hotplug(&[("subsystem", "media")])),
            ("dev_stick".to_string(), hotplug(&[("vendorid", "0403"), ("productid", "6001")])),
            ("dev_serial".to_string(), hotplug(&[("subsystem", "tty")])),
            ("dev_desktop_x11".to_string(), proxy("unix:/tmp/.X11-unix/X0", "unix:/tmp/.X11-unix/X1")),
            (
                "dev_desktop_xauth".to_string(),
                file("/w/run/sessions/1100/0123abcd/ws/Xauthority", "/var/lib/workshop/run/Xauthority"),
            ),
            (
                "dev_desktop_env".to_string(),
                file("/w/run/sessions/1100/0123abcd/ws/desktop.sh", "/etc/profile.d/workshop-desktop.sh"),
            ),
        ]);
        assert_eq!(profiles.devices["dev"], expected);
        // The second desktop plug shares the first one's devices; the disconnected agent has none.
        assert!(profiles.devices["other"].is_empty(), "{:?}", profiles.devices["other"]);
        let names: Vec<&str> = profiles
            .files
            .iter()
            .map(|f| match f {
                HostFile::Text { name, .. } | HostFile::CopyOf { name, .. } => *name,
            })
            .collect();
        assert_eq!(names, ["Xauthority", "desktop.sh"]);
        assert!(profiles.notes.is_empty(), "{:?}", profiles.notes);

        // LXD 5.0: what needs a subsystem is left out (with notes), nothing is widened.
        let old = HostSide { hotplug: HotplugSupport { subsystem: false, ownership_inherit: false }, ..host };
        let profiles =
            super::super::handlers::profile_devices(&repo, &all, &gpus, &old, Path::new("/w/run/mounts"), &t)
                .unwrap();
        let dev = &profiles.devices["dev"];
        assert!(!dev.keys().any(|k| k.starts_with("dev_camera") || k == "dev_serial"), "{dev:?}");
        assert_eq!(
            dev["dev_stick"],
            device(&[
                ("type", "unix-hotplug"),
                ("required", "false"),
                ("vendorid", "0403"),
                ("productid", "6001")
            ])
        );
        assert_eq!(profiles.notes.len(), 2, "{:?}", profiles.notes);
    }
}
