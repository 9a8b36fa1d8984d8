//! Name grammars of the definition file: workshop and action names, SDK names (with their
//! `try-`/`project-` prefixes), plug, slot and interface names.

use std::fmt;

/// Longest accepted workshop name.
pub const MAX_WORKSHOP_NAME_LENGTH: usize = 40;
/// Longest accepted (bare) SDK name.
pub const MAX_SDK_NAME_LENGTH: usize = 40;

/// Name of the implicit host-side SDK of every workshop.
pub const SYSTEM_SDK: &str = "system";
/// Name of the implicit, user-edited SDK of every workshop.
pub const SKETCH_SDK: &str = "sketch";

const TRY_PREFIX: &str = "try-";
const PROJECT_PREFIX: &str = "project-";

/// Whether `name` matches `^[a-z](?:-?[a-z0-9])*$`: the grammar of workshop, action, plug,
/// slot and interface names.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        Some(b'a'..=b'z') => {}
        _ => return false,
    }
    hyphen_joined(bytes, |b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Longest name of an LXD device; a plug's is `<sdk>_<plug>`.
pub const MAX_DEVICE_NAME: usize = 64;

/// Checks that plug or slot `name` of SDK `sdk` (bare) is short enough for the LXD device
/// the workshop gets for it (`<sdk>_<name>`, at most [`MAX_DEVICE_NAME`] characters).
pub fn check_endpoint_length(what: &str, sdk: &str, name: &str) -> Result<(), String> {
    let longest = MAX_DEVICE_NAME.saturating_sub(sdk.len() + 1);
    if name.len() > longest {
        return Err(format!(
            "{what} name \"{name}\" too long: of SDK \"{sdk}\", at most {longest} characters"
        ));
    }
    Ok(())
}

/// Whether every byte is allowed or a single hyphen between two allowed bytes.
fn hyphen_joined(bytes: &[u8], allowed: impl Fn(u8) -> bool) -> bool {
    let mut previous_hyphen = true;
    for &b in bytes {
        if b == b'-' {
            if previous_hyphen {
                return false;
            }
            previous_hyphen = true;
        } else if allowed(b) {
            previous_hyphen = false;
        } else {
            return false;
        }
    }
    !previous_hyphen
}

/// Whether `name` matches `^(?:[a-z0-9]-?)*[a-z](?:-?[a-z0-9])*$`: lowercase letters and
/// digits joined by single hyphens, with at least one letter.
fn is_valid_sdk_name_syntax(name: &str) -> bool {
    hyphen_joined(name.as_bytes(), |b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().any(|b| b.is_ascii_lowercase())
}

/// Checks a bare SDK name (prefixes already removed), with the reference's messages.
pub fn validate_sdk_name(name: &str) -> Result<(), String> {
    if name == "agent" || name.starts_with(TRY_PREFIX) || name.starts_with(PROJECT_PREFIX) {
        return Err(format!("\"{name}\" is a reserved SDK name"));
    }
    if !is_valid_sdk_name_syntax(name) {
        return Err(format!("invalid SDK name \"{name}\""));
    }
    if name.len() > MAX_SDK_NAME_LENGTH {
        return Err(format!("SDK name \"{name}\" too long"));
    }
    Ok(())
}

/// Where an SDK comes from, as told by the prefix of its name in the definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdkKind {
    /// No prefix: the SDK Store.
    Store,
    /// `try-<name>`: the user's try area.
    Try,
    /// `project-<name>`: the directory `.workshop/<name>/` of the project.
    Project,
    /// `system`: the implicit host-side SDK.
    System,
    /// `sketch`: the implicit per-workshop sketch SDK.
    Sketch,
}

/// An SDK name as written in a definition, split into its kind and the bare name by which
/// the SDK is known inside the workshop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SdkName {
    pub kind: SdkKind,
    pub bare: String,
}

impl SdkName {
    /// Splits and checks a definition SDK name, e.g. `project-foo` → (Project, `foo`).
    pub fn parse(name: &str) -> Result<SdkName, String> {
        let (kind, bare) = if name == SYSTEM_SDK {
            (SdkKind::System, name)
        } else if name == SKETCH_SDK {
            (SdkKind::Sketch, name)
        } else if let Some(bare) = name.strip_prefix(TRY_PREFIX) {
            (SdkKind::Try, bare)
        } else if let Some(bare) = name.strip_prefix(PROJECT_PREFIX) {
            (SdkKind::Project, bare)
        } else {
            (SdkKind::Store, name)
        };
        if matches!(kind, SdkKind::Try | SdkKind::Project) && (bare == SYSTEM_SDK || bare == SKETCH_SDK) {
            return Err(format!("\"{bare}\" is a reserved SDK name"));
        }
        validate_sdk_name(bare)?;
        Ok(SdkName { kind, bare: bare.to_string() })
    }

    /// Whether the SDK is installed in every workshop without being listed (`system`, `sketch`).
    pub fn is_implicit(&self) -> bool {
        matches!(self.kind, SdkKind::System | SdkKind::Sketch)
    }
}

impl fmt::Display for SdkName {
    /// The name as written in a definition (with its prefix).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SdkKind::Try => write!(f, "{TRY_PREFIX}{}", self.bare),
            SdkKind::Project => write!(f, "{PROJECT_PREFIX}{}", self.bare),
            SdkKind::Store | SdkKind::System | SdkKind::Sketch => f.write_str(&self.bare),
        }
    }
}

/// Whether a bare SDK name is installed without being listed (`system`, `sketch`).
pub fn is_implicit_sdk(bare: &str) -> bool {
    bare == SYSTEM_SDK || bare == SKETCH_SDK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_workshop_name_grammar() {
        for good in ["a", "dev", "ws-22", "a1-b2", "x0"] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "Dev", "1a", "-a", "a-", "a--b", "a_b", "a.b", "é"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn sdk_names_need_a_letter_and_single_hyphens() {
        for good in ["uv", "7zip", "test-sdk-basic-2", "a", "1-a-2"] {
            assert!(validate_sdk_name(good).is_ok(), "{good}");
        }
        assert_eq!(validate_sdk_name("123").unwrap_err(), "invalid SDK name \"123\"");
        assert_eq!(validate_sdk_name("a--b").unwrap_err(), "invalid SDK name \"a--b\"");
        assert_eq!(validate_sdk_name("-a").unwrap_err(), "invalid SDK name \"-a\"");
        assert_eq!(validate_sdk_name("Uv").unwrap_err(), "invalid SDK name \"Uv\"");
        assert_eq!(validate_sdk_name("").unwrap_err(), "invalid SDK name \"\"");
        assert_eq!(validate_sdk_name("agent").unwrap_err(), "\"agent\" is a reserved SDK name");
        let long = "a".repeat(41);
        assert_eq!(validate_sdk_name(&long).unwrap_err(), format!("SDK name \"{long}\" too long"));
        assert!(validate_sdk_name(&"a".repeat(40)).is_ok());
    }

    #[test]
    fn sdk_name_prefixes_give_the_kind() {
        let cases = [
            ("foo", SdkKind::Store, "foo"),
            ("try-foo", SdkKind::Try, "foo"),
            ("project-foo", SdkKind::Project, "foo"),
            ("system", SdkKind::System, "system"),
            ("sketch", SdkKind::Sketch, "sketch"),
        ];
        for (name, kind, bare) in cases {
            let parsed = SdkName::parse(name).unwrap();
            assert_eq!(parsed.kind, kind, "{name}");
            assert_eq!(parsed.bare, bare, "{name}");
            assert_eq!(parsed.to_string(), name);
        }
        assert!(SdkName::parse("system").unwrap().is_implicit());
        assert!(!SdkName::parse("project-foo").unwrap().is_implicit());
    }

    #[test]
    fn reserved_sdk_names_are_refused() {
        for (name, reserved) in [
            ("try-system", "system"),
            ("project-sketch", "sketch"),
            ("project-try-x", "try-x"),
            ("try-project-x", "project-x"),
            ("project-agent", "agent"),
        ] {
            assert_eq!(
                SdkName::parse(name).unwrap_err(),
                format!("\"{reserved}\" is a reserved SDK name"),
                "{name}"
            );
        }
        assert_eq!(SdkName::parse("project-").unwrap_err(), "invalid SDK name \"\"");
    }
}
