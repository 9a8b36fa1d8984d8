//! The mount interface's host side (reference-inventory §4.1, `mount`): where a plug on the
//! system `mount` slot takes its files from, and the LXD disk device that mounts them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use workshop_api::definition::EndpointRef;
use workshop_api::sdk::interfaces::Attributes;

use crate::backend::Device;
use crate::managers::task::TaskTarget;
use crate::userfs::{self, DataRoot, UserFsError};

/// The default host source of `plug` (its master's, for a bound plug) in workshop `ws` of
/// project `project_id`: `<data>/workshop/id/<pid>/<ws>/mount/<sdk>/<plug>`, `data` being
/// the user's data directory (`~/.local/share`). The daemon creates it as the user.
pub fn default_host_source(data: &Path, project_id: &str, ws: &str, plug: &EndpointRef) -> PathBuf {
    workshop_data(data, project_id, ws).join("mount").join(&plug.sdk).join(&plug.name)
}

/// The user's data of one workshop, `<data>/workshop/id/<pid>/<ws>`, removed with it.
pub fn workshop_data(data: &Path, project_id: &str, ws: &str) -> PathBuf {
    data.join("workshop/id").join(project_id).join(ws)
}

/// Most entries removing a workshop's data goes through.
const MAX_REMOVED: usize = 1_000_000;
/// How long removing a workshop's data may take.
const REMOVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Removes the user's data of a workshop (`<data>/workshop/id/<pid>/<ws>`, which holds its
/// default mount sources) as the user, never following a symlink below the data directory;
/// none is fine.
pub async fn remove_workshop_data(t: &TaskTarget) -> Result<(), String> {
    let root = DataRoot::of(&t.user)
        .ok_or_else(|| format!("cannot find the home directory of {:?}", t.user.name))?;
    let (pid, ws) = (t.project_id.clone(), t.name.clone());
    let shown = workshop_data(&root.path(), &pid, &ws);
    userfs::as_user_within(&t.user, REMOVE_TIMEOUT, move || -> Result<(), UserFsError> {
        let Some(top) = root.open()? else { return Ok(()) };
        match top.subpath(&root.components(&["workshop", "id", pid.as_str()]))? {
            Some(dir) => dir.remove_tree(&ws, MAX_REMOVED),
            None => Ok(()),
        }
    })
    .await
    .map_err(|e| format!("cannot remove {}: {e}", shown.display()))
}

/// How a normalised mount plug mounts: target, owner, mode and whether read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlug {
    pub target: String,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub read_only: bool,
}

impl MountPlug {
    /// Reads the normalised attributes of a mount plug.
    pub fn from_attrs(attrs: &Attributes) -> Result<MountPlug, String> {
        let number = |key: &str| {
            attrs
                .get(key)
                .and_then(|v| v.as_u64())
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("cannot read mount plug: no {key:?}"))
        };
        Ok(MountPlug {
            target: attrs
                .get("workshop-target")
                .and_then(|v| v.as_str())
                .ok_or("cannot read mount plug: no \"workshop-target\"")?
                .to_string(),
            uid: number("uid")?,
            gid: number("gid")?,
            mode: number("mode")?,
            read_only: attrs.get("read-only").and_then(|v| v.as_bool()).unwrap_or(false),
        })
    }

    /// The disk device mounting `source` (a host path LXD may open: see the staging of
    /// host sources) at the plug's target; LXD creates the target with the plug's owner and
    /// mode.
    pub fn disk_device(&self, source: &Path) -> Device {
        BTreeMap::from([
            ("type".to_string(), "disk".to_string()),
            ("source".to_string(), source.to_string_lossy().into_owned()),
            ("path".to_string(), self.target.clone()),
            ("readonly".to_string(), self.read_only.to_string()),
        ])
    }
}

/// The name of the LXD device of a plug: `<sdk>_<plug>` (reference `lxd_device`).
pub fn device_name(plug: &EndpointRef) -> String {
    format!("{}_{}", plug.sdk, plug.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_sources_are_under_the_users_data() {
        let plug = EndpointRef::new("test-sdk-mount", "one");
        assert_eq!(
            default_host_source(Path::new("/home/u/.local/share"), "0123abcd", "ws", &plug),
            Path::new("/home/u/.local/share/workshop/id/0123abcd/ws/mount/test-sdk-mount/one")
        );
        assert_eq!(device_name(&plug), "test-sdk-mount_one");
    }

    #[test]
    fn disk_devices_follow_the_plug() {
        let attrs: Attributes = serde_json::from_value(
            json!({"workshop-target": "/test", "mode": 0o755, "uid": 0, "gid": 0, "read-only": true}),
        )
        .unwrap();
        let plug = MountPlug::from_attrs(&attrs).unwrap();
        assert_eq!(plug, MountPlug { target: "/test".into(), uid: 0, gid: 0, mode: 0o755, read_only: true });
        let device = plug.disk_device(Path::new("/src"));
        assert_eq!(device["type"], "disk");
        assert_eq!(device["source"], "/src");
        assert_eq!(device["path"], "/test");
        assert_eq!(device["readonly"], "true");
        assert!(MountPlug::from_attrs(&Attributes::new()).is_err());
    }
}
