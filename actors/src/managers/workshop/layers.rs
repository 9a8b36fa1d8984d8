//! Per-SDK snapshots (reference-inventory.md §7, snapshots): what a workshop's filesystem is
//! after the base and each SDK's `setup-base`, named by everything below it, so that a launch,
//! refresh or restore starts from the deepest one that exists and redoes only the layers above.
//!
//! A layer is keyed by the guest set-up, the base image, the user's id mapping and, in install
//! order, each SDK's name and tree: two workshops of a user with the same base and first SDKs
//! share their snapshots. The layer under the first SDK is the template (`backend::lxd`).

use sha3::{Digest, Sha3_384};

use crate::sdk::TreeId;

/// Format of the key: a change to what a layer holds changes every name.
const KEY_FORMAT: &str = "workshop-layer-1";

/// What the layers of one workshop are built on and of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layers {
    /// Hash of the guest set-up every instance runs.
    pub setup: String,
    /// The base image's fingerprint.
    pub image: String,
    /// The owner's ids, mapped to the guest's 1000.
    pub uid: u32,
    pub gid: u32,
    /// The SDKs, in install order: name and tree.
    pub sdks: Vec<(String, TreeId)>,
}

impl Layers {
    /// The layers of `user`'s workshop on the base image `image` with `sdks` (name and tree,
    /// in install order), set up by this version's guest set-up.
    pub fn new(image: &str, user: &crate::managers::UserRef, sdks: Vec<(String, TreeId)>) -> Layers {
        Layers {
            setup: setup_id(&super::guest::setup_script()),
            image: image.to_string(),
            uid: user.uid,
            gid: user.gid,
            sdks,
        }
    }

    /// The snapshot name of the layer after the first `depth` SDKs (1 or more):
    /// `sdk-<last SDK>-<16 hex digits of the key's sha3-384>` (an LXD name: it starts with a
    /// letter, SDK names may not, and at most 61 characters).
    pub fn name(&self, depth: usize) -> String {
        assert!(depth >= 1 && depth <= self.sdks.len(), "layer {depth} of {} SDKs", self.sdks.len());
        let mut key = Sha3_384::new();
        let mut field = |s: &str| {
            key.update((s.len() as u64).to_be_bytes());
            key.update(s.as_bytes());
        };
        field(KEY_FORMAT);
        field(&self.setup);
        field(&self.image);
        field(&format!("{}:{}", self.uid, self.gid));
        for (name, tree) in &self.sdks[..depth] {
            field(name);
            field(tree.as_str());
        }
        let hex: String = key.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("sdk-{}-{hex}", self.sdks[depth - 1].0)
    }

    /// Every layer's name, the deepest first, with its depth: where to look for the best
    /// snapshot.
    pub fn candidates(&self) -> Vec<(usize, String)> {
        (1..=self.sdks.len()).rev().map(|depth| (depth, self.name(depth))).collect()
    }
}

/// What `create-workshop` (or `rebuild-workshop`) chose, for the tasks after it: recorded in
/// the change before the instance is made, so a task run again after a crash makes the same
/// choice.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LayerPlan {
    /// The snapshot the instance is a copy of, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The SDKs whose layers it holds (their `setup-base` is not run again), in install order.
    #[serde(default)]
    pub restored: Vec<String>,
    /// Per SDK in install order, the name of the layer after its `setup-base`: what its
    /// `snapshot-sdk` keeps. Empty when a tree was unknown.
    #[serde(default)]
    pub layers: Vec<String>,
    /// The instance was made with every layer named in its config (a plan of an earlier
    /// version says nothing of it: its `snapshot-sdk` names the layer).
    #[serde(default)]
    pub named: bool,
}

/// Change data: the [`LayerPlan`] of workshop `ws`.
pub fn plan_key(ws: &str) -> String {
    format!("layers/{ws}")
}

/// The hash of a guest set-up script that layer keys include.
pub fn setup_id(script: &str) -> String {
    use sha3::Sha3_256;
    Sha3_256::digest(script.as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The instance config key recording the layer of the SDK at `order`: a snapshot that some
/// instance (workshop or stash) names is never collected.
pub fn layer_config_key(order: usize) -> String {
    format!("{}{order}", crate::backend::SNAPSHOT_REF_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(c: char) -> TreeId {
        TreeId::try_from(c.to_string().repeat(96)).unwrap()
    }

    fn layers(sdks: &[(&str, char)]) -> Layers {
        Layers {
            setup: "0123abcd".into(),
            image: "ab3b8486959f".into(),
            uid: 1000,
            gid: 1000,
            sdks: sdks.iter().map(|(n, c)| (n.to_string(), tree(*c))).collect(),
        }
    }

    #[test]
    fn a_layer_is_named_by_everything_below_it() {
        let a = layers(&[("system", 'a'), ("go", 'b'), ("node", 'c')]);
        let b = layers(&[("system", 'a'), ("go", 'b'), ("rust", 'd')]);
        assert_eq!(a.name(2), b.name(2));
        assert_ne!(a.name(3), b.name(3));
        assert!(a.name(2).starts_with("sdk-go-") && a.name(2).len() == "sdk-go-".len() + 16);
        // The same SDK with another tree, another base, user or set-up: another layer.
        assert_ne!(a.name(2), layers(&[("system", 'a'), ("go", 'e')]).name(2));
        let mut other = a.clone();
        other.image = "ffff".into();
        assert_ne!(a.name(1), other.name(1));
        let mut other = a.clone();
        other.uid = 1001;
        assert_ne!(a.name(1), other.name(1));
        let mut other = a.clone();
        other.setup = "other".into();
        assert_ne!(a.name(1), other.name(1));
        // Fields cannot run into each other.
        assert_ne!(layers(&[("ab", 'a')]).name(1), layers(&[("a", 'b')]).name(1));
    }

    #[test]
    fn a_plan_of_an_earlier_version_does_not_say_its_layers_are_named() {
        let old: LayerPlan = serde_json::from_str(r#"{"restored":["a"],"layers":["l1","l2"]}"#).unwrap();
        assert!(!old.named, "its snapshot-sdk names the layer");
        let plan = LayerPlan { layers: vec!["l1".into()], named: true, ..Default::default() };
        let back: LayerPlan = serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
        assert_eq!(back, plan);
    }

    #[test]
    fn candidates_are_the_deepest_first() {
        let a = layers(&[("system", 'a'), ("go", 'b')]);
        assert_eq!(a.candidates(), [(2, a.name(2)), (1, a.name(1))]);
        assert!(layers(&[]).candidates().is_empty());
    }

    #[test]
    fn names_are_valid_lxd_names() {
        let long = "a".repeat(40);
        let a = layers(&[(long.as_str(), 'a'), ("1x", 'b')]);
        for (_, name) in a.candidates() {
            assert!(name.len() <= 63 && name.starts_with("sdk-"));
            assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        }
    }
}
