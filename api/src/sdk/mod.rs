//! An SDK's own metadata, `meta/sdk.yaml` (reference-inventory §3.3): what the SDK is called,
//! what it is built for, and the plugs and slots it declares.
//!
//! [`SdkInfo::parse`] reads the file: strictly for SDKs of the user's own (an unknown
//! top-level key is an error naming it, its line and its column), leniently for Store SDKs
//! (unknown keys are ignored, as the reference does). Plugs and slots of an unknown
//! interface, or whose attributes fail the interface's checks ([`interfaces`]), are set aside
//! in [`SdkInfo::bad`]; whoever installs the SDK refuses it with
//! [`SdkInfo::check_installable`]. [`SdkInfo::check_for`] holds the SDK to the workshop it is
//! installed in (its name, base and architecture).

mod error;
pub mod interfaces;
pub mod sketch;
pub mod tunnel;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

pub use error::{SdkYamlError, UnknownField};

use crate::definition::{
    InterfaceDef, SUPPORTED_BASES, SYSTEM_SDK, check_endpoint_length, is_valid_name, validate_sdk_name,
};
use crate::yaml_checks::{self, Shape};

/// Where every SDK is found inside a workshop: `<SDK_ROOT>/<name>` (`$SDK`).
pub const SDK_ROOT: &str = "/var/lib/workshop/sdk";

/// The Debian architectures an SDK may be built for (besides `all`).
pub const ARCHITECTURES: [&str; 7] = ["amd64", "arm64", "armhf", "i386", "ppc64el", "riscv64", "s390x"];

/// The host's Debian architecture, the one an SDK must be built for unless it says `all`.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "armhf",
        "x86" => "i386",
        "powerpc64" => "ppc64el",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        other => other,
    }
}

/// How unknown top-level keys are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// SDKs of the user's own (project, try, sketch): refused with their line and column.
    Strict,
    /// Store SDKs: ignored.
    Lenient,
}

/// The kind of an SDK: `system` is reserved to the SDK named `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdkType {
    Regular,
    System,
}

/// What `meta/sdk.yaml` says, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SdkInfo {
    pub name: String,
    /// `""` (any) or a base of [`SUPPORTED_BASES`].
    pub base: String,
    /// `""` (any), `all` or one of [`ARCHITECTURES`].
    pub architecture: String,
    pub version: String,
    pub title: String,
    pub summary: String,
    pub description: String,
    pub license: String,
    pub sdk_type: SdkType,
    /// When sdkcraft built it (`sdkcraft-started-at`).
    pub built_at: Option<DateTime<Utc>>,
    /// The usable plugs and slots.
    pub plugs: BTreeMap<String, InterfaceDef>,
    pub slots: BTreeMap<String, InterfaceDef>,
    /// Plugs and slots set aside: name → why.
    pub bad: BTreeMap<String, String>,
}

/// The keys of `sdk.yaml`; their values are read by [`Raw`].
static SDK_YAML: Shape = Shape::Map(&[
    ("name", &Shape::Free),
    ("base", &Shape::Free),
    ("architecture", &Shape::Free),
    ("version", &Shape::Free),
    ("title", &Shape::Free),
    ("summary", &Shape::Free),
    ("description", &Shape::Free),
    ("license", &Shape::Free),
    ("type", &Shape::Free),
    ("sdkcraft-started-at", &Shape::Free),
    ("plugs", &Shape::Free),
    ("slots", &Shape::Free),
]);

/// The file as written; unknown keys are ignored here (see [`Strictness`]), missing and null
/// values read as empty.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[serde(expecting = "an SDK definition: a map with its name, base, version, ...")]
struct Raw {
    name: Option<String>,
    base: Option<String>,
    architecture: Option<String>,
    version: Option<String>,
    title: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    license: Option<String>,
    #[serde(rename = "type")]
    sdk_type: Option<String>,
    sdkcraft_started_at: Option<String>,
    plugs: Option<BTreeMap<String, Value>>,
    slots: Option<BTreeMap<String, Value>>,
}

impl SdkInfo {
    /// Reads the `sdk.yaml` of SDK `expected` and holds it to the workshop it goes into
    /// ([`SdkInfo::check_for`]); reading errors name the SDK.
    pub fn load(
        text: &str,
        strictness: Strictness,
        expected: &str,
        base: &str,
        host_arch: &str,
    ) -> Result<SdkInfo, SdkYamlError> {
        let info = SdkInfo::parse(text, strictness)
            .map_err(|e| SdkYamlError::Definition { sdk: expected.into(), error: Box::new(e) })?;
        info.check_for(expected, base, host_arch)?;
        Ok(info)
    }

    /// Reads and checks the text of an `sdk.yaml` (the caller bounds its size).
    pub fn parse(text: &str, strictness: Strictness) -> Result<SdkInfo, SdkYamlError> {
        if let Some((line, column)) = yaml_checks::too_deep(text) {
            return Err(SdkYamlError::TooDeep { line, column, limit: yaml_checks::MAX_FLOW_DEPTH });
        }
        let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
            .map_err(|e| SdkYamlError::Yaml(yaml_checks::error_text(text, &e)))?;
        if document.is_null() {
            return SdkInfo::from_raw(Raw::default());
        }
        if strictness == Strictness::Strict {
            let (located, total) = yaml_checks::unknown_keys(text, &document, &SDK_YAML);
            if total > 0 {
                let fields = located
                    .into_iter()
                    .map(|k| UnknownField { key: k.key, line: k.line, column: k.column })
                    .collect();
                return Err(SdkYamlError::UnknownFields { fields, total });
            }
        }
        // Read from the text again (not from `document`), so that errors have their location
        // and scalars read as strings keep their text (`1.0`).
        let raw: Raw = serde_yaml_ng::from_str(text)
            .map_err(|e| SdkYamlError::Yaml(yaml_checks::error_text(text, &e)))?;
        SdkInfo::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> Result<SdkInfo, SdkYamlError> {
        let name = raw.name.unwrap_or_default();
        let sdk_type = match raw.sdk_type.as_deref().unwrap_or_default() {
            "" | "regular" => SdkType::Regular,
            "system" if name == SYSTEM_SDK => SdkType::System,
            "system" => return Err(invalid("type \"system\" is reserved for the system SDK")),
            other => return Err(invalid(format!("invalid SDK type \"{other}\" (want \"regular\")"))),
        };
        let built_at = match raw.sdkcraft_started_at.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                DateTime::parse_from_rfc3339(text)
                    .map_err(|_| {
                        invalid(format!("invalid sdkcraft-started-at \"{text}\": not an RFC 3339 time"))
                    })?
                    .with_timezone(&Utc),
            ),
        };
        let mut info = SdkInfo {
            plugs: declarations("plug", raw.plugs.unwrap_or_default())?,
            slots: declarations("slot", raw.slots.unwrap_or_default())?,
            name,
            base: raw.base.unwrap_or_default(),
            architecture: raw.architecture.unwrap_or_default(),
            version: raw.version.unwrap_or_default(),
            title: raw.title.unwrap_or_default(),
            summary: raw.summary.unwrap_or_default(),
            description: raw.description.unwrap_or_default(),
            license: raw.license.unwrap_or_default(),
            sdk_type,
            built_at,
            bad: BTreeMap::new(),
        };
        info.validate()?;
        info.set_aside_bad();
        Ok(info)
    }

    /// The rules every SDK follows, whatever workshop it goes into.
    fn validate(&self) -> Result<(), SdkYamlError> {
        validate_sdk_name(&self.name).map_err(invalid)?;
        if !self.base.is_empty() && !SUPPORTED_BASES.contains(&self.base.as_str()) {
            return Err(invalid(format!(
                "invalid SDK base \"{}\"; supported bases: {}",
                self.base,
                SUPPORTED_BASES.join(", ")
            )));
        }
        if !matches!(self.architecture.as_str(), "" | "all")
            && !ARCHITECTURES.contains(&self.architecture.as_str())
        {
            return Err(invalid(format!(
                "invalid SDK architecture \"{}\"; supported architectures: {}",
                self.architecture,
                ARCHITECTURES.join(", ")
            )));
        }
        for (what, declared) in [("plug", &self.plugs), ("slot", &self.slots)] {
            for (name, def) in declared {
                if !is_valid_name(name) {
                    return Err(invalid(format!("invalid {what} name: \"{name}\"")));
                }
                check_endpoint_length(what, &self.name, name).map_err(invalid)?;
                let interface = def.interface_name(name);
                if !is_valid_name(interface) {
                    return Err(invalid(format!(
                        "invalid interface name \"{interface}\" for {what} \"{name}\""
                    )));
                }
            }
        }
        Ok(())
    }

    /// Moves plugs and slots of unknown interfaces, or that their interface refuses, to
    /// [`SdkInfo::bad`].
    fn set_aside_bad(&mut self) {
        let sdk = self.name.clone();
        let mut bad = BTreeMap::new();
        self.plugs.retain(|name, def| {
            let interface = def.interface_name(name);
            let checked = match interfaces::interface(interface) {
                None => Err(format!("unknown interface \"{interface}\"")),
                Some(known) => known.check_plug(&sdk, def),
            };
            checked.map_err(|why| bad.insert(name.clone(), why)).is_ok()
        });
        self.slots.retain(|name, def| {
            let interface = def.interface_name(name);
            let checked = match interfaces::interface(interface) {
                None => Err(format!("unknown interface \"{interface}\"")),
                Some(known) => known.check_slot(&sdk, def),
            };
            checked.map_err(|why| bad.insert(name.clone(), why)).is_ok()
        });
        self.bad = bad;
    }

    /// Holds the SDK to the workshop it goes into: named `expected` (the bare name the
    /// workshop lists), built for the workshop's `base` (or any) and for `host_arch` (or all).
    pub fn check_for(&self, expected: &str, base: &str, host_arch: &str) -> Result<(), SdkYamlError> {
        if self.name != expected {
            return Err(SdkYamlError::WrongName { expected: expected.into(), found: self.name.clone() });
        }
        if !self.base.is_empty() && self.base != base {
            return Err(SdkYamlError::WrongBase {
                sdk: expected.into(),
                base: self.base.clone(),
                required: base.into(),
            });
        }
        if !matches!(self.architecture.as_str(), "" | "all") && self.architecture != host_arch {
            return Err(SdkYamlError::WrongArchitecture {
                sdk: expected.into(),
                architecture: self.architecture.clone(),
                required: host_arch.into(),
            });
        }
        Ok(())
    }

    /// Refuses an SDK with plugs or slots set aside, with the reference's summary:
    /// `"x" SDK has bad plugs or slots: a, b (reason); c (other reason)`.
    pub fn check_installable(&self) -> Result<(), SdkYamlError> {
        if self.bad.is_empty() {
            return Ok(());
        }
        let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, reason) in &self.bad {
            by_reason.entry(reason).or_default().push(name);
        }
        let parts: Vec<String> =
            by_reason.into_iter().map(|(reason, names)| format!("{} ({reason})", names.join(", "))).collect();
        Err(SdkYamlError::BadInterfaces { sdk: self.name.clone(), summary: parts.join("; ") })
    }
}

fn invalid(message: impl Into<String>) -> SdkYamlError {
    SdkYamlError::Invalid(message.into())
}

/// Plug or slot declarations: a null body (the interface named like the key), a string (the
/// interface) or a map of `interface`, `label` and attributes.
fn declarations(
    what: &str,
    raw: BTreeMap<String, Value>,
) -> Result<BTreeMap<String, InterfaceDef>, SdkYamlError> {
    raw.into_iter().map(|(name, body)| Ok((name.clone(), declaration(what, &name, body)?))).collect()
}

fn declaration(what: &str, name: &str, body: Value) -> Result<InterfaceDef, SdkYamlError> {
    let mut def = InterfaceDef::default();
    match body {
        Value::Null => {}
        Value::String(interface) => def.interface = Some(interface),
        Value::Object(map) => {
            for (key, value) in map {
                if key.starts_with('$') {
                    return Err(invalid(format!("{what} \"{name}\" uses reserved attribute \"{key}\"")));
                }
                match (key.as_str(), value) {
                    ("", _) => return Err(invalid(format!("{what} \"{name}\" has an empty attribute key"))),
                    ("interface", Value::String(s)) => def.interface = Some(s),
                    ("interface", other) => {
                        return Err(invalid(format!(
                            "interface name on {what} \"{name}\" is not a string (found {})",
                            kind(&other)
                        )));
                    }
                    ("label", Value::String(s)) => def.label = Some(s),
                    ("label", other) => {
                        return Err(invalid(format!(
                            "label of {what} \"{name}\" is not a string (found {})",
                            kind(&other)
                        )));
                    }
                    (_, value) => {
                        def.attributes.insert(key, value);
                    }
                }
            }
        }
        other => {
            return Err(invalid(format!(
                "{what} \"{name}\" has malformed definition (found {})",
                kind(&other)
            )));
        }
    }
    Ok(def)
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests;
