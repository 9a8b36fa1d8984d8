//! The workshop definition file (`workshop.yaml`, `.workshop.yaml`, `.workshop/<name>.yaml`),
//! shared by the daemon and `workshop init`.
//!
//! As in the reference, unknown keys are ignored; each one is a warning with its line, column
//! and a "did you mean" hint. [`parse`] reads the YAML, [`WorkshopFile::validate`] applies the
//! rules of the format, [`load`] does both, and [`WorkshopFile::to_yaml`] writes the
//! normalised form.

mod channel;
mod emit;
mod endpoint;
mod error;
mod interface;
mod names;
mod parse;
mod schema;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

pub use channel::{Channel, RISKS};
pub use endpoint::EndpointRef;
pub use error::{DefinitionError, DefinitionWarning};
pub use interface::{InterfaceDef, PlugDef, SlotDef};
pub use names::{
    MAX_WORKSHOP_NAME_LENGTH, SKETCH_SDK, SYSTEM_SDK, SdkKind, SdkName, check_endpoint_length,
    is_implicit_sdk, is_valid_name, validate_sdk_name,
};
pub use parse::parse;
pub use schema::json_schema;
pub use validate::{SUPPORTED_BASES, WORKSHOP_NAME_RULE, unsupported_base};

/// The base used when `workshop init` is not given one.
pub const DEFAULT_BASE: &str = "ubuntu@24.04";

/// A workshop definition: what one workshop is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(title = "Workshop definition")]
#[serde(expecting = "a workshop definition: a map with its name, base, sdks, ...")]
pub struct WorkshopFile {
    /// The workshop's name: a lowercase letter, then lowercase letters and digits joined by
    /// single hyphens; at most 40 characters.
    pub name: String,
    /// The base image, e.g. `ubuntu@24.04`.
    pub base: String,
    /// The SDKs, in install order. `system` is implicitly first and `sketch` last.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub sdks: Vec<SdkRecord>,
    /// Connections to make besides the automatic ones.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<Connection>,
    /// Named bash scripts run by `workshop run`.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub actions: BTreeMap<String, String>,
}

/// One SDK of the workshop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(expecting = "an SDK: a map with its name (and channel)")]
pub struct SdkRecord {
    /// The SDK: a Store name, `try-<name>`, `project-<name>` (`.workshop/<name>/`), `system`
    /// or `sketch`.
    pub name: String,
    /// The Store channel (`track`, `risk`, `track/risk`, `risk/branch`, `track/risk/branch`);
    /// default `latest/stable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Plugs grafted onto the SDK, or bound to another SDK's plug.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub plugs: BTreeMap<String, PlugDef>,
    /// Slots grafted onto the SDK.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub slots: BTreeMap<String, SlotDef>,
}

impl SdkRecord {
    /// A record with just a name and an optional channel, as written by `workshop init`.
    pub fn new(name: &str, channel: Option<&str>) -> SdkRecord {
        SdkRecord {
            name: name.to_string(),
            channel: channel.map(str::to_string),
            plugs: BTreeMap::new(),
            slots: BTreeMap::new(),
        }
    }

    /// The kind and bare name of the SDK.
    pub fn sdk_name(&self) -> Result<SdkName, String> {
        SdkName::parse(&self.name)
    }
}

/// A connection requested by the definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(expecting = "a connection: a map with its plug and slot")]
pub struct Connection {
    /// The plug, `<sdk>:<plug>`.
    pub plug: EndpointRef,
    /// The slot, `<sdk>:<slot>`.
    pub slot: EndpointRef,
}

impl WorkshopFile {
    /// A definition with a name, a base and the given SDKs, as written by `workshop init`.
    pub fn new(name: &str, base: &str, sdks: Vec<SdkRecord>) -> WorkshopFile {
        WorkshopFile {
            name: name.to_string(),
            base: base.to_string(),
            sdks,
            connections: Vec::new(),
            actions: BTreeMap::new(),
        }
    }

    /// The normalised YAML form (keys in schema order, indent 2).
    pub fn to_yaml(&self) -> String {
        emit::to_yaml(self)
    }
}

impl fmt::Display for WorkshopFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_yaml())
    }
}

/// Parses and validates the definition `text` read from `path`; errors and warnings name the
/// file.
pub fn load(text: &str, path: &Path) -> Result<(WorkshopFile, Vec<DefinitionWarning>), DefinitionError> {
    let (file, warnings) = parse(text, path)?;
    file.validate().map_err(|e| e.in_file(path))?;
    Ok((file, warnings))
}

/// Reads an explicit `null` (a key with nothing after it) as the empty collection.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
