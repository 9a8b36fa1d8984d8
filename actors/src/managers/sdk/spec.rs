//! What a workshop is made of, SDK by SDK: the specification planned from its definition (in
//! install order: `system`, the listed SDKs), what retrieving each one found, and what an
//! installed SDK records in its instance.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use workshop_api::definition::{SdkKind, WorkshopFile};

use crate::sdk::TreeId;
use crate::store::{ResolvedSdk, StoreSdk};

/// Where an SDK comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum SdkSource {
    /// The embedded `system` SDK.
    System,
    /// `project-<name>`: the project's `.workshop/<name>/`, committed as a local revision.
    Project,
    /// `try-<name>`: an archive in the user's try area, committed as a local revision.
    Try,
    /// `sketch`: the workshop's sketch in the user's data (`crate::sdk::sketch`), committed
    /// as a local revision; implicit, installed last whenever it exists.
    Sketch,
    /// A Store SDK; `resolved` once the Store said which revision (before planning).
    Store {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resolved: Option<ResolvedSdk>,
    },
}

impl SdkSource {
    /// Local SDKs are read strictly and get local revisions.
    pub fn is_local(&self) -> bool {
        matches!(self, SdkSource::Project | SdkSource::Try | SdkSource::Sketch)
    }
}

/// One SDK of a workshop, as planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SdkSpec {
    /// The name inside the workshop (no prefix).
    pub name: String,
    pub source: SdkSource,
    /// The Store channel the definition names, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// Why a definition's SDKs cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("{0}")]
    Name(String),
}

/// The SDKs of `file`, in install order: `system`, then the listed ones (`system` and
/// `sketch`, implicit, are not taken from the list: the sketch is added by [`with_sketch`]).
pub fn specs(file: &WorkshopFile) -> Result<Vec<SdkSpec>, SpecError> {
    let mut specs = vec![SdkSpec { name: "system".into(), source: SdkSource::System, channel: None }];
    for record in &file.sdks {
        let name = record.sdk_name().map_err(SpecError::Name)?;
        let source = match name.kind {
            SdkKind::System => continue,
            SdkKind::Project => SdkSource::Project,
            SdkKind::Try => SdkSource::Try,
            SdkKind::Sketch => continue,
            SdkKind::Store => SdkSource::Store { resolved: None },
        };
        specs.push(SdkSpec { name: name.bare.clone(), source, channel: record.channel.clone() });
    }
    Ok(specs)
}

/// `specs` with the workshop's sketch SDK last when it has one.
pub fn with_sketch(mut specs: Vec<SdkSpec>, sketch: bool) -> Vec<SdkSpec> {
    if sketch {
        let name = crate::sdk::sketch::SKETCH.to_string();
        specs.push(SdkSpec { name, source: SdkSource::Sketch, channel: None });
    }
    specs
}

/// The Store SDKs of `specs`, to resolve in one call.
pub fn store_sdks(specs: &[SdkSpec]) -> Vec<StoreSdk> {
    specs
        .iter()
        .filter(|s| matches!(s.source, SdkSource::Store { .. }))
        .map(|s| StoreSdk { name: s.name.clone(), channel: s.channel.clone() })
        .collect()
}

/// Fills in what the Store resolved for the Store SDKs of `specs`.
pub fn apply_resolved(specs: &mut [SdkSpec], resolved: Vec<ResolvedSdk>) {
    for r in resolved {
        if let Some(spec) = specs.iter_mut().find(|s| s.name == r.name) {
            spec.source = SdkSource::Store { resolved: Some(r) };
        }
    }
}

/// What `retrieve-sdk` found: the tree and the revision it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Retrieved {
    pub tree: TreeId,
    /// `N` (Store, system) or `xN` (local).
    pub revision: String,
}

/// The change data key where `retrieve-sdk` leaves what it found for `install-sdk`.
pub fn retrieved_key(workshop: &str, sdk: &str) -> String {
    format!("sdk-retrieved/{workshop}/{sdk}")
}

/// What an installed SDK records in its instance (`user.workshop.sdk.<name>`): the installed
/// SDKs of a workshop are read back from these alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Installed {
    pub name: String,
    pub source: SdkSource,
    /// Position in the install order.
    pub order: usize,
    pub revision: String,
    pub tree: TreeId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_at: Option<DateTime<Utc>>,
    pub installed_at: DateTime<Utc>,
}

/// The instance config key of an installed SDK.
pub fn installed_key(sdk: &str) -> String {
    format!("user.workshop.sdk.{sdk}")
}

/// The disk device of an installed SDK.
pub fn device_name(sdk: &str) -> String {
    format!("sdk.{sdk}")
}

/// The read-only disk device mounting the tree `id` of `trees` as SDK `name`.
pub fn tree_device(trees: &crate::sdk::TreeStore, id: &TreeId, name: &str) -> crate::backend::Device {
    std::collections::BTreeMap::from([
        ("type".to_string(), "disk".to_string()),
        ("source".to_string(), trees.path(id).to_string_lossy().into_owned()),
        ("path".to_string(), format!("{}/{name}", workshop_api::sdk::SDK_ROOT)),
        ("readonly".to_string(), "true".to_string()),
    ])
}

/// The installed SDKs recorded in an instance's config, in install order.
pub fn installed(config: &std::collections::BTreeMap<String, String>) -> Vec<Installed> {
    let mut sdks: Vec<Installed> = config
        .iter()
        .filter(|(k, _)| k.starts_with("user.workshop.sdk."))
        .filter_map(|(_, v)| serde_json::from_str(v).ok())
        .collect();
    sdks.sort_by_key(|s| s.order);
    sdks
}

/// The SDK trees installed in `instances`.
pub fn installed_trees(
    instances: &[crate::backend::Instance],
) -> std::collections::BTreeSet<crate::sdk::TreeId> {
    instances.iter().flat_map(|i| installed(&i.config)).map(|s| s.tree).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_comes_first_then_the_listed_sdks() {
        let file = workshop_api::definition::WorkshopFile::new(
            "ws",
            "ubuntu@22.04",
            vec![
                workshop_api::definition::SdkRecord::new("project-one", None),
                workshop_api::definition::SdkRecord::new("system", None),
                workshop_api::definition::SdkRecord::new("sketch", None),
                workshop_api::definition::SdkRecord::new("project-two", None),
            ],
        );
        let names: Vec<String> = specs(&file).unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["system", "one", "two"]);
        let with: Vec<SdkSpec> = with_sketch(specs(&file).unwrap(), true);
        assert_eq!(with.last().map(|s| (&*s.name, &s.source)), Some(("sketch", &SdkSource::Sketch)));
        assert_eq!(with_sketch(specs(&file).unwrap(), false).len(), 3);
    }
}
