//! Names and ids that clients put in URLs and request bodies, checked where they are parsed
//! (`FromStr` and serde), so the daemon never looks anything up by a malformed one: workshop
//! and action names (the definition's grammar), SDK names, project ids, change and task ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::definition::{MAX_WORKSHOP_NAME_LENGTH, WORKSHOP_NAME_RULE, is_valid_name, validate_sdk_name};

/// How much of a rejected text an error message quotes.
const MAX_QUOTED_CHARS: usize = 64;

/// An action name becomes a file name inside the workshop.
const MAX_ACTION_NAME_LENGTH: usize = 255;

/// The longest change or task id: a `u64` in decimal.
const MAX_NUMERIC_ID_LENGTH: usize = 20;

/// `text` quoted like `{:?}`, cut after 64 characters (`"aaa…"`), so that an error about a
/// huge value does not echo it whole.
pub(crate) fn quoted(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// A name or id that does not have its grammar's form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {}{}", quoted(.text), .reason.map(|r| format!(": {r}")).unwrap_or_default())]
pub struct InvalidId {
    what: &'static str,
    text: String,
    reason: Option<&'static str>,
}

fn workshop_name(s: &str) -> Result<(), Option<&'static str>> {
    if !is_valid_name(s) {
        return Err(Some(WORKSHOP_NAME_RULE));
    }
    if s.len() > MAX_WORKSHOP_NAME_LENGTH {
        return Err(Some("longer than 40 characters"));
    }
    Ok(())
}

fn action_name(s: &str) -> Result<(), Option<&'static str>> {
    if !is_valid_name(s) {
        return Err(None);
    }
    if s.len() > MAX_ACTION_NAME_LENGTH {
        return Err(Some("longer than 255 characters"));
    }
    Ok(())
}

/// The longest SDK name (the definition's limit).
const MAX_SDK_NAME_LENGTH: usize = 40;

fn sdk_name(s: &str) -> Result<(), Option<&'static str>> {
    if s.len() > MAX_SDK_NAME_LENGTH {
        return Err(Some("longer than 40 characters"));
    }
    validate_sdk_name(s).map_err(|_| None)
}

/// Whether `s` has the form of a project id: 8 lowercase hexadecimal digits.
pub fn is_project_id(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn project_id(s: &str) -> Result<(), Option<&'static str>> {
    if is_project_id(s) { Ok(()) } else { Err(Some("want 8 lowercase hexadecimal digits")) }
}

fn numeric_id(s: &str) -> Result<(), Option<&'static str>> {
    let digits = !s.is_empty() && s.len() <= MAX_NUMERIC_ID_LENGTH && s.bytes().all(|b| b.is_ascii_digit());
    if digits { Ok(()) } else { Err(Some("want decimal digits")) }
}

/// A string type whose values all passed `$check`; it (de)serialises as a plain string.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, InvalidId> {
                $check(s).map_err(|reason| InvalidId { what: $what, text: s.to_string(), reason })?;
                Ok(Self(s.to_string()))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

checked_string!(
    /// A workshop name: the definition's name grammar, at most 40 characters.
    WorkshopName,
    "workshop name",
    workshop_name
);
checked_string!(
    /// An action name: the definition's name grammar; it names a file in the workshop.
    ActionName,
    "action name",
    action_name
);
checked_string!(
    /// An SDK as it is known inside a workshop and in the Store (no `try-`/`project-` prefix):
    /// lowercase letters and digits joined by single hyphens, at least one letter, at most 40
    /// characters.
    SdkBareName,
    "SDK name",
    sdk_name
);
checked_string!(
    /// A project id: 8 lowercase hexadecimal digits (what `.workshop.lock` holds).
    ProjectId,
    "project id",
    project_id
);
checked_string!(
    /// A change id: decimal digits.
    ChangeId,
    "change id",
    numeric_id
);
checked_string!(
    /// A task id: decimal digits.
    TaskId,
    "task id",
    numeric_id
);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn err<T: FromStr<Err = InvalidId>>(s: &str) -> String {
        s.parse::<T>().err().map(|e| e.to_string()).unwrap_or_else(|| panic!("{s:?} accepted"))
    }

    #[test]
    fn hostile_workshop_names_are_refused_with_their_text() {
        for bad in ["", "..", "../x", "a/b", "a\0b", "Dev", "-a", "a-", "a--b", "1a", "a b", "é", "a%2Fb"] {
            assert_eq!(
                err::<WorkshopName>(bad),
                format!("invalid workshop name {bad:?}: {WORKSHOP_NAME_RULE}")
            );
        }
        let long = "a".repeat(41);
        assert_eq!(
            err::<WorkshopName>(&long),
            format!("invalid workshop name {long:?}: longer than 40 characters")
        );
        assert_eq!("a".repeat(40).parse::<WorkshopName>().unwrap().as_str(), "a".repeat(40));
        assert_eq!("ws-2".parse::<WorkshopName>().unwrap().to_string(), "ws-2");
    }

    #[test]
    fn action_names_follow_the_name_grammar() {
        assert!("greet-2".parse::<ActionName>().is_ok());
        assert_eq!(err::<ActionName>("../../etc/passwd"), r#"invalid action name "../../etc/passwd""#);
        assert!("a".repeat(255).parse::<ActionName>().is_ok());
        assert!(err::<ActionName>(&"a".repeat(256)).ends_with(": longer than 255 characters"));
    }

    #[test]
    fn sdk_names_are_bare_names() {
        for good in ["go", "7zip", "test-sdk-basic-2", "system", "sketch"] {
            assert_eq!(good.parse::<SdkBareName>().unwrap().as_str(), good);
        }
        for bad in ["", "..", "../x", "Go", "a--b", "123", "try-go", "project-go", "agent", "a%2Fb", "a\0b"] {
            assert_eq!(err::<SdkBareName>(bad), format!("invalid SDK name {}", quoted(bad)));
        }
        let long = "a".repeat(41);
        assert_eq!(
            err::<SdkBareName>(&long),
            format!("invalid SDK name {long:?}: longer than 40 characters")
        );
    }

    #[test]
    fn ids_have_their_forms() {
        assert!("0a1b2c3d".parse::<ProjectId>().is_ok());
        for bad in ["", "0A1B2C3D", "0a1b2c3", "0a1b2c3d4", "../../x", "0a1b2c3g"] {
            assert_eq!(
                err::<ProjectId>(bad),
                format!("invalid project id {bad:?}: want 8 lowercase hexadecimal digits")
            );
        }
        assert!("42".parse::<ChangeId>().is_ok());
        assert!(u64::MAX.to_string().parse::<TaskId>().is_ok());
        for bad in ["", "-1", "1a", "１", &"9".repeat(21)] {
            assert_eq!(err::<TaskId>(bad), format!("invalid task id {}: want decimal digits", quoted(bad)));
        }
    }

    #[test]
    fn huge_values_are_quoted_short() {
        let huge = "A".repeat(1 << 20);
        let message = err::<WorkshopName>(&huge);
        assert_eq!(message, format!("invalid workshop name \"{}\"…: {WORKSHOP_NAME_RULE}", "A".repeat(64)));
        assert_eq!(quoted("é".repeat(65).as_str()), format!("\"{}\"…", "é".repeat(64)));
    }

    #[test]
    fn serde_checks_like_from_str() {
        let name: WorkshopName = serde_json::from_str(r#""dev""#).unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""dev""#);
        let e = serde_json::from_str::<WorkshopName>(r#""../x""#).unwrap_err().to_string();
        assert!(e.starts_with(r#"invalid workshop name "../x""#), "{e}");
        assert!(serde_json::from_str::<ProjectId>("12345678").is_err());
    }

    proptest! {
        #[test]
        fn accepted_names_are_in_the_grammar(s in ".{0,50}") {
            if let Ok(name) = s.parse::<WorkshopName>() {
                prop_assert!(is_valid_name(name.as_str()) && name.as_str().len() <= 40);
            }
            if s.parse::<ProjectId>().is_ok() {
                prop_assert!(s.len() == 8);
            }
            if s.parse::<ChangeId>().is_ok() {
                prop_assert!(s.bytes().all(|b| b.is_ascii_digit()));
            }
            let _ = s.parse::<ActionName>();
            let _ = s.parse::<TaskId>();
        }

        #[test]
        fn names_of_the_grammar_are_accepted(s in "[a-z](-?[a-z0-9]){0,19}") {
            prop_assert!(s.parse::<WorkshopName>().is_ok(), "{}", s);
            prop_assert!(s.parse::<ActionName>().is_ok(), "{}", s);
        }
    }
}
