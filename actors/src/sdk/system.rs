//! The `system` SDK: the host side of every workshop (reference-inventory §3.3). Its
//! `meta/sdk.yaml` is built into the daemon and committed to the tree store from memory;
//! nothing of it comes from a user.

use super::canonical::CanonicalTar;
use super::{TREE_LIMITS, TreeError, TreeId, TreeStore};

/// The revision the system SDK is known by (the reference's).
pub const SYSTEM_REVISION: u32 = 2;

/// The system SDK's `meta/sdk.yaml`: its slots (no tunnel slot, as in the reference).
pub const SYSTEM_SDK_YAML: &str = include_str!("system/meta/sdk.yaml");

/// The system SDK as a canonical tar stream.
pub fn system_tar() -> Result<Vec<u8>, TreeError> {
    let mut tar = CanonicalTar::new(Vec::new(), TREE_LIMITS);
    let meta = vec!["meta".to_string()];
    tar.dir(&meta, 0o755)?;
    let yaml = SYSTEM_SDK_YAML.as_bytes();
    tar.file(&["meta".into(), "sdk.yaml".into()], 0o644, yaml.len() as u64, yaml)?;
    tar.finish()
}

/// Commits the system SDK to `store` (or finds it there) and returns its tree.
pub fn commit_system(store: &TreeStore) -> Result<TreeId, TreeError> {
    store.commit(&system_tar()?[..], TREE_LIMITS, None)
}

#[cfg(test)]
mod tests {
    use workshop_api::sdk::{SdkInfo, SdkType, Strictness, host_architecture};

    use super::*;

    #[test]
    fn the_system_sdk_declares_the_host_slots() {
        let info = SdkInfo::parse(SYSTEM_SDK_YAML, Strictness::Strict).unwrap();
        assert_eq!(info.sdk_type, SdkType::System);
        let slots: Vec<&str> = info.slots.keys().map(String::as_str).collect();
        assert_eq!(slots, ["camera", "custom-device", "desktop", "gpu", "mount", "ssh-agent"]);
        assert!(info.plugs.is_empty() && info.bad.is_empty());
        for base in workshop_api::definition::SUPPORTED_BASES {
            info.check_for("system", base, host_architecture()).unwrap();
        }
        info.check_installable().unwrap();
    }

    #[test]
    fn the_system_sdk_is_one_tree_built_in_memory() {
        let tmp = tempfile::tempdir().unwrap();
        let store = TreeStore::open(tmp.path().join("trees")).unwrap();
        let id = commit_system(&store).unwrap();
        assert_eq!(commit_system(&store).unwrap(), id);
        assert_eq!(store.read_meta(&id).unwrap(), SYSTEM_SDK_YAML);
        assert_eq!(store.list().unwrap(), [id]);
    }
}
