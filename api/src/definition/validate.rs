//! The rules of the definition format, with the reference's messages; each error names the
//! offending key (e.g. `sdks[1].plugs.two`).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::channel::Channel;
use super::names::{
    MAX_WORKSHOP_NAME_LENGTH, SYSTEM_SDK, check_endpoint_length, is_implicit_sdk, is_valid_name,
};
use super::{DefinitionError, EndpointRef, InterfaceDef, PlugDef, SdkName, WorkshopFile};

/// Bases a workshop can be built on: the reference's Ubuntu releases, plus `debian@12`.
pub const SUPPORTED_BASES: [&str; 5] =
    ["ubuntu@20.04", "ubuntu@22.04", "ubuntu@24.04", "ubuntu@26.04", "debian@12"];

/// The reference's message for a base it does not know, followed by the list.
pub fn unsupported_base(base: &str) -> String {
    format!("base \"{base}\" not supported; valid bases: {}", SUPPORTED_BASES.join(", "))
}

const NAME_RULE: &str =
    "must: (1) start with a letter, (2) only include digits, lowercase letters, and hyphens joining them";

/// The reference's words for a workshop name that breaks the grammar.
pub const WORKSHOP_NAME_RULE: &str = "a workshop's name must: (1) start with a letter, (2) only include digits, lowercase letters, and hyphens joining them";

impl WorkshopFile {
    /// Checks every rule of the format; the first broken one is returned.
    pub fn validate(&self) -> Result<(), DefinitionError> {
        self.validate_name()?;
        if !SUPPORTED_BASES.contains(&self.base.as_str()) {
            return Err(DefinitionError::invalid("base", unsupported_base(&self.base)));
        }
        let listed = self.validate_sdks()?;
        let bound = self.validate_binding(&listed)?;
        self.validate_connections(&listed, &bound)?;
        self.validate_actions()
    }

    fn validate_name(&self) -> Result<(), DefinitionError> {
        if !is_valid_name(&self.name) {
            return Err(DefinitionError::invalid("name", WORKSHOP_NAME_RULE.to_string()));
        }
        if self.name.len() > MAX_WORKSHOP_NAME_LENGTH {
            return Err(DefinitionError::invalid(
                "name",
                format!("workshop name \"{}\" too long", self.name),
            ));
        }
        Ok(())
    }

    /// Checks names, channels, plugs and slots; returns the bare SDK names in order.
    fn validate_sdks(&self) -> Result<Vec<String>, DefinitionError> {
        let mut listed = Vec::with_capacity(self.sdks.len());
        let mut seen = HashSet::new();
        for (i, sdk) in self.sdks.iter().enumerate() {
            let key = format!("sdks[{i}]");
            let name =
                SdkName::parse(&sdk.name).map_err(|m| DefinitionError::invalid(format!("{key}.name"), m))?;
            if !seen.insert(name.bare.clone()) {
                return Err(DefinitionError::invalid(
                    format!("{key}.name"),
                    format!("\"{}\" SDK must only be included once", name.bare),
                ));
            }
            if let Some(channel) = sdk.channel.as_deref().filter(|c| !c.is_empty()) {
                Channel::parse(channel).map_err(|m| {
                    DefinitionError::invalid(format!("{key}.channel"), format!("\"{}\" SDK: {m}", name.bare))
                })?;
            }
            for (plug, def) in &sdk.plugs {
                let at = format!("{key}.plugs.{plug}");
                if !is_valid_name(plug) {
                    return Err(DefinitionError::invalid(at, format!("invalid plug name: \"{plug}\"")));
                }
                check_endpoint_length("plug", &name.bare, plug)
                    .map_err(|m| DefinitionError::invalid(at.as_str(), m))?;
                if let PlugDef::Inline(def) = def {
                    check_inline("plug", plug, def).map_err(|m| DefinitionError::invalid(at, m))?;
                }
            }
            for (slot, def) in &sdk.slots {
                let at = format!("{key}.slots.{slot}");
                if !is_valid_name(slot) {
                    return Err(DefinitionError::invalid(at, format!("invalid slot name: \"{slot}\"")));
                }
                check_endpoint_length("slot", &name.bare, slot)
                    .map_err(|m| DefinitionError::invalid(at.as_str(), m))?;
                check_inline("slot", slot, def).map_err(|m| DefinitionError::invalid(at, m))?;
            }
            listed.push(name.bare);
        }
        Ok(listed)
    }

    /// Checks `bind:` entries; returns the bound plugs with their targets.
    fn validate_binding(
        &self,
        listed: &[String],
    ) -> Result<BTreeMap<EndpointRef, EndpointRef>, DefinitionError> {
        let mut bound = BTreeMap::new();
        let mut keys = BTreeMap::new();
        for (i, (sdk, bare)) in self.sdks.iter().zip(listed).enumerate() {
            for (plug, def) in &sdk.plugs {
                let PlugDef::Bind(target) = def else {
                    continue;
                };
                let key = format!("sdks[{i}].plugs.{plug}");
                let source = EndpointRef::new(bare, plug);
                let refuse = |message: String| Err(DefinitionError::invalid(key.clone(), message));
                if source.sdk == SYSTEM_SDK {
                    return refuse(format!("cannot bind system SDK plug \"{source}\""));
                }
                if target.sdk == SYSTEM_SDK {
                    return refuse(format!("cannot bind to system SDK plug \"{target}\""));
                }
                if !is_known_sdk(&target.sdk, listed) {
                    return refuse(format!(
                        "cannot bind plug \"{target}\": SDK \"{}\" not found",
                        target.sdk
                    ));
                }
                if !is_valid_name(&target.name) {
                    return refuse(format!("invalid plug name: \"{}\"", target.name));
                }
                if *target == source {
                    return refuse(format!("cannot bind plug \"{target}\" to itself"));
                }
                keys.insert(source.clone(), key);
                bound.insert(source, target.clone());
            }
        }
        let targets: BTreeSet<&EndpointRef> = bound.values().collect();
        for (source, target) in &bound {
            if targets.contains(source) {
                return Err(DefinitionError::invalid(
                    keys[source].clone(),
                    format!("cannot bind \"{source}\" to \"{target}\": plug \"{source}\" is already bound"),
                ));
            }
        }
        Ok(bound)
    }

    fn validate_connections(
        &self,
        listed: &[String],
        bound: &BTreeMap<EndpointRef, EndpointRef>,
    ) -> Result<(), DefinitionError> {
        for (i, connection) in self.connections.iter().enumerate() {
            let (plug, slot) = (&connection.plug, &connection.slot);
            let cannot = format!("cannot connect plug \"{plug}\" to slot \"{slot}\"");
            let plug_key = format!("connections[{i}].plug");
            let slot_key = format!("connections[{i}].slot");
            if bound.contains_key(plug) {
                return Err(DefinitionError::invalid(plug_key, format!("{cannot}: plug is bound")));
            }
            for (key, endpoint) in [(&plug_key, plug), (&slot_key, slot)] {
                if !is_known_sdk(&endpoint.sdk, listed) {
                    return Err(DefinitionError::invalid(
                        key.clone(),
                        format!("{cannot}: workshop \"{}\" has no SDK named \"{}\"", self.name, endpoint.sdk),
                    ));
                }
            }
            if !is_valid_name(&plug.name) {
                return Err(DefinitionError::invalid(
                    plug_key,
                    format!("invalid plug name: \"{}\"", plug.name),
                ));
            }
            if !is_valid_name(&slot.name) {
                return Err(DefinitionError::invalid(
                    slot_key,
                    format!("invalid slot name: \"{}\"", slot.name),
                ));
            }
        }
        Ok(())
    }

    fn validate_actions(&self) -> Result<(), DefinitionError> {
        for name in self.actions.keys() {
            if !is_valid_name(name) {
                // Quoted when the bare name would not show where it is (empty, dots, spaces).
                let plain = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                let key = if plain { name.clone() } else { format!("{name:?}") };
                return Err(DefinitionError::invalid(
                    format!("actions.{key}"),
                    format!("action name \"{name}\" {NAME_RULE}"),
                ));
            }
        }
        Ok(())
    }
}

fn is_known_sdk(bare: &str, listed: &[String]) -> bool {
    is_implicit_sdk(bare) || listed.iter().any(|l| l == bare)
}

/// Checks the interface name and attribute keys of an inline plug or slot.
fn check_inline(what: &str, name: &str, def: &InterfaceDef) -> Result<(), String> {
    let interface = def.interface_name(name);
    if !is_valid_name(interface) {
        return Err(format!("invalid interface name \"{interface}\" for {what} \"{name}\""));
    }
    for key in def.attributes.keys() {
        if key.is_empty() {
            return Err(format!("{what} \"{name}\" has an empty attribute key"));
        }
        if key.starts_with('$') {
            return Err(format!("{what} \"{name}\" uses reserved attribute \"{key}\""));
        }
    }
    Ok(())
}
