//! The camera interface's devices (reference-inventory §4.1, `camera`): the host's video
//! devices, hotplugged as they come and go, by kernel subsystem (`video4linux`, `media`).
//! None on a host without cameras, and none on an LXD that cannot match unix devices by
//! subsystem (LXD 5.0): the connection is made all the same and says so in the task log.

use std::collections::BTreeMap;

use crate::backend::{Device, HotplugSupport};

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
/// when LXD cannot make them.
pub fn devices(sdk: &str, support: HotplugSupport) -> (BTreeMap<String, Device>, Option<String>) {
    if !support.subsystem {
        let note =
            "This LXD cannot pass devices by subsystem: the camera connection gives the workshop no device";
        return (BTreeMap::new(), Some(note.into()));
    }
    let devices = SUBSYSTEMS
        .iter()
        .map(|s| (format!("{sdk}_camera_{s}"), hotplug_device(&[("subsystem", s)], support)))
        .collect();
    (devices, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_and_media_devices_by_subsystem() {
        let (devices, note) = devices("cam", HotplugSupport::FULL);
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
        let (devices, note) = devices("cam", old);
        assert!(devices.is_empty());
        assert!(note.unwrap().contains("no device"));
        let no_inherit = HotplugSupport { subsystem: true, ownership_inherit: false };
        let (devices, _) = super::devices("cam", no_inherit);
        assert_eq!(devices.len(), 2);
        assert!(devices.values().all(|d| !d.contains_key("ownership.inherit") && d["required"] == "false"));
    }
}
