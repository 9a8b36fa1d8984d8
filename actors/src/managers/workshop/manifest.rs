//! Manifests: what a workshop is built from (reference-inventory.md §8.1, §8.3). A launched
//! workshop's manifest is read back from its instance config (`user.workshop.*`: format
//! revision, base and its fingerprint, the definition it was launched from, one record per
//! installed SDK); the current one from the definition, the base's image and the trees its
//! SDKs would be installed from now. `refresh` has something to do only when they differ.

use std::collections::BTreeMap;

use serde::Serialize;
use sha3::{Digest, Sha3_384};
use workshop_api::definition::WorkshopFile;
use workshop_api::workshops::{SdkChange, SdkPlan};

use super::handlers::FORMAT_REVISION;
use crate::managers::sdk::spec::{self as sdk_spec, SdkSource};

/// The instance config key holding the (normalised) definition a workshop was made from.
pub const FILE_KEY: &str = "user.workshop.file";

/// Length of the environment hash `info` and `list` show (hex digits).
pub const ENV_HASH_LEN: usize = 12;

/// One SDK of a manifest, in install order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ManifestSdk {
    pub name: String,
    /// `system`, `project`, `try` or `store`.
    pub source: String,
    /// The tree it is installed from (the archive's sha3-384 for Store and try SDKs).
    pub tree: String,
    /// The plugs and slots the definition grafts onto it, in a canonical JSON form.
    pub interfaces: String,
}

/// What a workshop is built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Manifest {
    /// The instance format ([`FORMAT_REVISION`]).
    pub format: String,
    pub base: String,
    pub base_fingerprint: String,
    pub sdks: Vec<ManifestSdk>,
    /// The definition's `connections`, as a sorted multiset.
    pub connections: Vec<String>,
}

impl Manifest {
    /// The manifest of a launched workshop, from its instance config; `None` when the instance
    /// does not record one (made by a version before manifests, or not by a launch at all).
    pub fn of_instance(config: &BTreeMap<String, String>) -> Option<Manifest> {
        let get = |key: &str| config.get(&format!("user.workshop.{key}")).cloned();
        let file_text = get("file")?;
        let (file, _) =
            workshop_api::definition::load(&file_text, std::path::Path::new("workshop.yaml")).ok()?;
        let trees: Vec<(String, String, String)> = sdk_spec::installed(config)
            .into_iter()
            .map(|s| (s.name, source_kind(&s.source).to_string(), s.tree.as_str().to_string()))
            .collect();
        Some(Manifest::build(get("format-revision")?, &file, get("base-fingerprint")?, trees))
    }

    /// The manifest of `file` on the base image `fingerprint`, with `trees` the SDKs' (name,
    /// source kind, tree) in install order.
    pub fn build(
        format: String,
        file: &WorkshopFile,
        fingerprint: String,
        trees: Vec<(String, String, String)>,
    ) -> Manifest {
        let interfaces = interfaces_of(file);
        let sdks = trees
            .into_iter()
            .map(|(name, source, tree)| ManifestSdk {
                interfaces: interfaces.get(&name).cloned().unwrap_or_default(),
                name,
                source,
                tree,
            })
            .collect();
        let mut connections: Vec<String> =
            file.connections.iter().map(|c| serde_json::to_string(c).unwrap_or_default()).collect();
        connections.sort();
        Manifest { format, base: file.base.clone(), base_fingerprint: fingerprint, sdks, connections }
    }

    /// The current manifest of this version: [`FORMAT_REVISION`].
    pub fn current(
        file: &WorkshopFile,
        fingerprint: String,
        trees: Vec<(String, String, String)>,
    ) -> Manifest {
        Manifest::build(FORMAT_REVISION.to_string(), file, fingerprint, trees)
    }

    /// A short hash of the environment: the same on two workshops (or two machines) built from
    /// the same base image, SDK trees, interfaces and connections. Names of the workshop and
    /// local revision numbers are not part of it.
    pub fn env_hash(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha3_384::digest(&canonical);
        digest.iter().map(|b| format!("{b:02x}")).collect::<String>()[..ENV_HASH_LEN].to_string()
    }
}

/// `system`, `project`, `try` or `store`.
pub fn source_kind(source: &SdkSource) -> &'static str {
    match source {
        SdkSource::System => "system",
        SdkSource::Project => "project",
        SdkSource::Try => "try",
        SdkSource::Sketch => "sketch",
        SdkSource::Store { .. } => "store",
    }
}

/// What a refresh does with each SDK: `installed` the SDKs in the workshop now, `wanted`
/// those of the definition in install order, `current` their manifest now (the trees they
/// would be installed from). Installed ones first, in the new order, then the removed ones.
pub fn sdk_changes(
    installed: &[sdk_spec::Installed],
    wanted: &[sdk_spec::SdkSpec],
    current: &Manifest,
) -> Vec<SdkPlan> {
    let mut plans = Vec::new();
    for sdk in wanted {
        let source = source_kind(&sdk.source).to_string();
        let tree = current.sdks.iter().find(|m| m.name == sdk.name).map(|m| m.tree.as_str());
        let store_revision = match &sdk.source {
            SdkSource::Store { resolved: Some(r) } => Some(r.revision.to_string()),
            _ => None,
        };
        let old = installed.iter().find(|i| i.name == sdk.name);
        let (change, new_revision) = match old {
            None => (SdkChange::Added, store_revision),
            Some(old) if Some(old.tree.as_str()) == tree && source_kind(&old.source) == source => {
                (SdkChange::Kept, Some(old.revision.clone()))
            }
            Some(_) => (SdkChange::Reinstalled, store_revision),
        };
        plans.push(SdkPlan {
            name: sdk.name.clone(),
            change,
            source,
            old_revision: old.map(|o| o.revision.clone()),
            new_revision,
        });
    }
    for old in installed.iter().filter(|i| !wanted.iter().any(|w| w.name == i.name)) {
        plans.push(SdkPlan {
            name: old.name.clone(),
            change: SdkChange::Removed,
            source: source_kind(&old.source).to_string(),
            old_revision: Some(old.revision.clone()),
            new_revision: None,
        });
    }
    plans
}

/// For each SDK of `file` (by its name inside the workshop), its plugs and slots as canonical
/// JSON (maps are sorted).
fn interfaces_of(file: &WorkshopFile) -> BTreeMap<String, String> {
    file.sdks
        .iter()
        .filter(|r| !r.plugs.is_empty() || !r.slots.is_empty())
        .filter_map(|r| {
            let name = r.sdk_name().ok()?.bare;
            let value = serde_json::json!({"plugs": r.plugs, "slots": r.slots});
            Some((name, value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use workshop_api::definition::SdkRecord;

    use super::*;
    use crate::managers::sdk::spec::Installed;

    const TREE_A: &str =
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const TREE_B: &str =
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn file(sdks: &[&str]) -> WorkshopFile {
        WorkshopFile::new("ws", "ubuntu@22.04", sdks.iter().map(|s| SdkRecord::new(s, None)).collect())
    }

    fn instance(file: &WorkshopFile, sdks: &[(&str, SdkSource, &str, &str)]) -> BTreeMap<String, String> {
        let mut config = BTreeMap::from([
            ("user.workshop.format-revision".to_string(), FORMAT_REVISION.to_string()),
            ("user.workshop.file".to_string(), file.to_yaml()),
            ("user.workshop.base".to_string(), file.base.clone()),
            ("user.workshop.base-fingerprint".to_string(), "f00d".to_string()),
        ]);
        for (order, (name, source, tree, revision)) in sdks.iter().enumerate() {
            let installed = Installed {
                name: name.to_string(),
                source: source.clone(),
                order,
                revision: revision.to_string(),
                tree: crate::sdk::TreeId::try_from(tree.to_string()).unwrap(),
                channel: None,
                version: String::new(),
                built_at: None,
                installed_at: chrono::Utc::now(),
            };
            config.insert(sdk_spec::installed_key(name), serde_json::to_string(&installed).unwrap());
        }
        config
    }

    fn trees(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
        list.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect()
    }

    #[test]
    fn an_unchanged_workshop_has_the_manifest_it_was_built_from() {
        let f = file(&["project-one"]);
        let config = instance(
            &f,
            &[("system", SdkSource::System, TREE_A, "2"), ("one", SdkSource::Project, TREE_B, "x1")],
        );
        let built = Manifest::of_instance(&config).unwrap();
        let now = Manifest::current(
            &f,
            "f00d".into(),
            trees(&[("system", "system", TREE_A), ("one", "project", TREE_B)]),
        );
        assert_eq!(built, now);
        assert_eq!(built.env_hash(), now.env_hash());
        assert_eq!(built.env_hash().len(), ENV_HASH_LEN);
    }

    #[test]
    fn every_ingredient_changes_the_manifest_and_its_hash() {
        let f = file(&["project-one"]);
        let config = instance(
            &f,
            &[("system", SdkSource::System, TREE_A, "2"), ("one", SdkSource::Project, TREE_B, "x1")],
        );
        let built = Manifest::of_instance(&config).unwrap();
        let same = trees(&[("system", "system", TREE_A), ("one", "project", TREE_B)]);
        // A new tree of a local SDK.
        let changed = Manifest::current(
            &f,
            "f00d".into(),
            trees(&[("system", "system", TREE_A), ("one", "project", TREE_A)]),
        );
        // Another base image.
        let rebased = Manifest::current(&f, "beef".into(), same.clone());
        // A plug grafted in the definition.
        let text = "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-one\n    plugs:\n      camera:\n        interface: camera\n";
        let (grafted, _) = workshop_api::definition::load(text, std::path::Path::new("ws.yaml")).unwrap();
        assert_eq!(grafted.sdks[0].plugs.len(), 1);
        let grafted = Manifest::current(&grafted, "f00d".into(), same.clone());
        // Another SDK order.
        let reordered = Manifest::current(
            &f,
            "f00d".into(),
            trees(&[("one", "project", TREE_B), ("system", "system", TREE_A)]),
        );
        for other in [changed, rebased, grafted, reordered] {
            assert_ne!(built, other);
            assert_ne!(built.env_hash(), other.env_hash());
        }
    }

    #[test]
    fn revisions_and_names_are_not_part_of_the_environment() {
        let f = file(&["project-one"]);
        let mut other = f.clone();
        other.name = "other".into();
        let a = instance(&f, &[("one", SdkSource::Project, TREE_B, "x1")]);
        let b = instance(&other, &[("one", SdkSource::Project, TREE_B, "x7")]);
        let (a, b) = (Manifest::of_instance(&a).unwrap(), Manifest::of_instance(&b).unwrap());
        assert_eq!(a.env_hash(), b.env_hash());
    }

    #[test]
    fn an_instance_without_a_definition_has_no_manifest() {
        assert_eq!(Manifest::of_instance(&BTreeMap::new()), None);
    }
}
