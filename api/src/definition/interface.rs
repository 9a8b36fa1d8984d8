//! Plug and slot declarations grafted onto an SDK by the definition (`sdks[].plugs`,
//! `sdks[].slots`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{Error as _, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::endpoint::EndpointRef;

const BIND: &str = "bind";
const INTERFACE: &str = "interface";
const LABEL: &str = "label";

/// An inline plug or slot: its interface, an optional label and free attributes.
///
/// A null body (`tunnel:`) declares the interface named like the key; a string body names
/// the interface.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InterfaceDef {
    pub interface: Option<String>,
    pub label: Option<String>,
    pub attributes: BTreeMap<String, Value>,
}

/// A slot declared in the definition.
pub type SlotDef = InterfaceDef;

/// The accepted shapes of a plug or slot body.
enum Body {
    Null,
    Name(String),
    Map(Map<String, Value>),
}

impl InterfaceDef {
    /// The interface of the plug or slot declared under `key`.
    pub fn interface_name<'a>(&'a self, key: &'a str) -> &'a str {
        self.interface.as_deref().unwrap_or(key)
    }

    fn from_body(body: Body) -> Result<InterfaceDef, String> {
        let mut def = InterfaceDef::default();
        match body {
            Body::Null => {}
            Body::Name(interface) => def.interface = Some(interface),
            Body::Map(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        (INTERFACE, Value::String(s)) => def.interface = Some(s),
                        (INTERFACE, other) => {
                            return Err(format!("interface name is not a string (found {})", kind(&other)));
                        }
                        (LABEL, Value::String(s)) => def.label = Some(s),
                        (LABEL, other) => {
                            return Err(format!("label is not a string (found {})", kind(&other)));
                        }
                        (_, value) => {
                            def.attributes.insert(key, value);
                        }
                    }
                }
            }
        }
        Ok(def)
    }

    fn is_empty(&self) -> bool {
        self.interface.is_none() && self.label.is_none() && self.attributes.is_empty()
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

impl Serialize for InterfaceDef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.is_empty() {
            return serializer.serialize_unit();
        }
        let len =
            usize::from(self.interface.is_some()) + usize::from(self.label.is_some()) + self.attributes.len();
        let mut map = serializer.serialize_map(Some(len))?;
        if let Some(interface) = &self.interface {
            map.serialize_entry(INTERFACE, interface)?;
        }
        if let Some(label) = &self.label {
            map.serialize_entry(LABEL, label)?;
        }
        for (key, value) in &self.attributes {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for InterfaceDef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BodyVisitor {
            expecting: "a plug or slot definition",
            convert: InterfaceDef::from_body,
        })
    }
}

/// Reads a null, string or map body and converts it while the YAML deserializer still
/// knows where the body is, so that conversion errors carry its path and location.
struct BodyVisitor<T> {
    expecting: &'static str,
    convert: fn(Body) -> Result<T, String>,
}

impl<'de, T> Visitor<'de> for BodyVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<T, E> {
        (self.convert)(Body::Null).map_err(E::custom)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<T, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        (self.convert)(Body::Name(text.to_string())).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<T, A::Error> {
        let mut map = Map::new();
        while let Some((key, value)) = access.next_entry::<String, Value>()? {
            map.insert(key, value);
        }
        (self.convert)(Body::Map(map)).map_err(A::Error::custom)
    }
}

impl JsonSchema for InterfaceDef {
    fn schema_name() -> Cow<'static, str> {
        "InterfaceDef".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An inline plug or slot. Null: the interface named like the key; a string: the interface name; a map: `interface`, optional `label` and free attributes.",
            "anyOf": [
                { "type": "null" },
                { "type": "string" },
                {
                    "type": "object",
                    "properties": {
                        "interface": { "type": "string" },
                        "label": { "type": "string" }
                    },
                    "not": { "required": ["bind"] },
                    "additionalProperties": true
                }
            ]
        })
    }
}

/// A plug in the definition: bound to another SDK's plug, or declared inline.
#[derive(Debug, Clone, PartialEq)]
pub enum PlugDef {
    /// `{bind: "<sdk>:<plug>"}`: shares the connections and host directory of that plug.
    Bind(EndpointRef),
    /// An inline plug grafted onto the SDK.
    Inline(InterfaceDef),
}

impl Serialize for PlugDef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PlugDef::Bind(target) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(BIND, target)?;
                map.end()
            }
            PlugDef::Inline(def) => def.serialize(serializer),
        }
    }
}

impl PlugDef {
    fn from_body(body: Body) -> Result<PlugDef, String> {
        let Body::Map(map) = &body else {
            return InterfaceDef::from_body(body).map(PlugDef::Inline);
        };
        let Some(bind) = map.get(BIND) else {
            return InterfaceDef::from_body(body).map(PlugDef::Inline);
        };
        let Value::String(bind) = bind else {
            return Err(format!("bind is not a plug reference (found {})", kind(bind)));
        };
        let target: EndpointRef = bind.parse()?;
        if map.len() > 1 {
            return Err(format!("plug is bound to \"{target}\" and must not define other attributes"));
        }
        Ok(PlugDef::Bind(target))
    }
}

impl<'de> Deserialize<'de> for PlugDef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(BodyVisitor { expecting: "a plug definition", convert: PlugDef::from_body })
    }
}

impl JsonSchema for PlugDef {
    fn schema_name() -> Cow<'static, str> {
        "PlugDef".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let target = generator.subschema_for::<EndpointRef>();
        let inline = generator.subschema_for::<InterfaceDef>();
        json_schema!({
            "description": "A plug: `{bind: \"<sdk>:<plug>\"}` and nothing else, or an inline plug.",
            "anyOf": [
                {
                    "type": "object",
                    "properties": { "bind": target },
                    "required": ["bind"],
                    "additionalProperties": false
                },
                inline
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plug(yaml: &str) -> Result<PlugDef, String> {
        serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn null_and_string_bodies_name_the_interface() {
        let PlugDef::Inline(null) = plug("~").unwrap() else { panic!("not inline") };
        assert_eq!(null.interface_name("tunnel"), "tunnel");
        let PlugDef::Inline(named) = plug("mount").unwrap() else { panic!("not inline") };
        assert_eq!(named.interface_name("data"), "mount");
    }

    #[test]
    fn inline_plugs_keep_label_and_attributes() {
        let yaml = "interface: mount\nlabel: Data\nworkshop-target: /mnt/x\nread-only: true\n";
        let PlugDef::Inline(def) = plug(yaml).unwrap() else { panic!("not inline") };
        assert_eq!(def.interface.as_deref(), Some("mount"));
        assert_eq!(def.label.as_deref(), Some("Data"));
        assert_eq!(def.attributes["workshop-target"], Value::from("/mnt/x"));
        assert_eq!(def.attributes["read-only"], Value::from(true));
        let back = serde_yaml_ng::to_string(&PlugDef::Inline(def)).unwrap();
        // Attributes come out sorted, after `interface` and `label`.
        assert_eq!(back, "interface: mount\nlabel: Data\nread-only: true\nworkshop-target: /mnt/x\n");
    }

    #[test]
    fn binds_stand_alone() {
        assert_eq!(
            plug("bind: test-sdk-mount:one").unwrap(),
            PlugDef::Bind(EndpointRef::new("test-sdk-mount", "one"))
        );
        let err = plug("bind: a:b\ninterface: mount").unwrap_err();
        assert!(err.starts_with("plug is bound to \"a:b\" and must not define other attributes"), "{err}");
        let err = plug("bind: nope").unwrap_err();
        assert!(err.contains("\"nope\" is not a valid plug or slot reference"), "{err}");
        let err = plug("bind: 3").unwrap_err();
        assert!(err.starts_with("bind is not a plug reference (found a number)"), "{err}");
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let err = plug("[a, b]").unwrap_err();
        assert!(err.starts_with("invalid type: sequence, expected a plug definition"), "{err}");
        let err = serde_yaml_ng::from_str::<InterfaceDef>("3").unwrap_err().to_string();
        assert!(err.starts_with("invalid type: integer `3`, expected a plug or slot definition"), "{err}");
        assert!(
            plug("interface: 3").unwrap_err().starts_with("interface name is not a string (found a number)")
        );
        assert!(plug("label: [x]").unwrap_err().starts_with("label is not a string (found a list)"));
    }

    #[test]
    fn serialisation_is_normalised() {
        let empty = PlugDef::Inline(InterfaceDef::default());
        assert_eq!(serde_yaml_ng::to_string(&empty).unwrap(), "null\n");
        let bind = PlugDef::Bind(EndpointRef::new("a", "b"));
        assert_eq!(serde_yaml_ng::to_string(&bind).unwrap(), "bind: a:b\n");
        let PlugDef::Inline(named) = plug("mount").unwrap() else { panic!("not inline") };
        assert_eq!(serde_yaml_ng::to_string(&named).unwrap(), "interface: mount\n");
    }
}
