//! `<sdk>:<plug or slot>` references used by `bind:` and `connections:`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::Visitor;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::names::{SYSTEM_SDK, validate_sdk_name};

/// A plug or slot of an SDK of the same workshop; the SDK is given by its bare name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointRef {
    pub sdk: String,
    pub name: String,
}

impl EndpointRef {
    /// A reference to `name` on the SDK with bare name `sdk`.
    pub fn new(sdk: &str, name: &str) -> EndpointRef {
        EndpointRef { sdk: sdk.to_string(), name: name.to_string() }
    }
}

impl FromStr for EndpointRef {
    type Err = String;

    /// Parses `<sdk>:<name>`; an empty SDK part means `system`.
    fn from_str(reference: &str) -> Result<EndpointRef, String> {
        let mut parts = reference.split(':');
        let (Some(sdk), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "\"{reference}\" is not a valid plug or slot reference (use <sdk>:<plug or slot>)"
            ));
        };
        let sdk = if sdk.is_empty() { SYSTEM_SDK } else { sdk };
        validate_sdk_name(sdk)
            .map_err(|e| format!("\"{reference}\" is not a valid plug or slot reference: {e}"))?;
        Ok(EndpointRef::new(sdk, name))
    }
}

impl fmt::Display for EndpointRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.sdk, self.name)
    }
}

impl Serialize for EndpointRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EndpointRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Parsing inside the visitor lets the YAML error point at the reference itself.
        struct RefVisitor;
        impl Visitor<'_> for RefVisitor {
            type Value = EndpointRef;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a plug or slot reference <sdk>:<plug or slot>")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<EndpointRef, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(RefVisitor)
    }
}

impl JsonSchema for EndpointRef {
    fn schema_name() -> Cow<'static, str> {
        "EndpointRef".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A plug or slot reference `<sdk>:<name>`; an empty SDK part means `system`.",
            "type": "string",
            "pattern": "^[^:]*:[^:]*$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_print() {
        let r: EndpointRef = "test-sdk-mount:one".parse().unwrap();
        assert_eq!(r, EndpointRef::new("test-sdk-mount", "one"));
        assert_eq!(r.to_string(), "test-sdk-mount:one");
        let system: EndpointRef = ":mount".parse().unwrap();
        assert_eq!(system, EndpointRef::new("system", "mount"));
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in ["test-sdk-mount", "a:b:c", ""] {
            assert_eq!(
                bad.parse::<EndpointRef>().unwrap_err(),
                format!("\"{bad}\" is not a valid plug or slot reference (use <sdk>:<plug or slot>)")
            );
        }
        assert_eq!(
            "project-x:p".parse::<EndpointRef>().unwrap_err(),
            "\"project-x:p\" is not a valid plug or slot reference: \"project-x\" is a reserved SDK name"
        );
        assert_eq!(
            "Bad:p".parse::<EndpointRef>().unwrap_err(),
            "\"Bad:p\" is not a valid plug or slot reference: invalid SDK name \"Bad\""
        );
    }
}
