//! Reading the definition YAML, with locations in every error.

use std::path::Path;

use super::{DefinitionError, WorkshopFile};

/// Parses the definition `text` read from `path` (the path only names the file in errors).
///
/// Unknown keys are refused with their line and column and, when a known key is at most two
/// edits away, a "did you mean" hint. The rules of the format are checked by
/// [`WorkshopFile::validate`].
pub fn parse(text: &str, path: &Path) -> Result<WorkshopFile, DefinitionError> {
    parse_text(text).map_err(|e| e.in_file(path))
}

fn parse_text(text: &str) -> Result<WorkshopFile, DefinitionError> {
    check_flow_depth(text)?;
    let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(yaml_error)?;
    if document.is_null() {
        return Err(DefinitionError::Empty);
    }
    serde_yaml_ng::from_str(text).map_err(yaml_error)
}

/// Deepest nesting of flow collections (`[`, `{`) a definition may hold.
pub const MAX_FLOW_DEPTH: usize = 256;

/// The YAML reader's time grows with the nesting of flow collections times the length of the
/// text (a 1 MiB file of `[` takes minutes): refuse deep nesting before reading. Brackets are
/// counted wherever they are (in quotes and scripts too), an upper bound of the real nesting
/// that only a file with hundreds of unclosed brackets can reach.
fn check_flow_depth(text: &str) -> Result<(), DefinitionError> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    for c in text.chars() {
        column += 1;
        match c {
            '\n' => (line, column) = (line + 1, 0),
            '[' | '{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Err(DefinitionError::TooDeep { line, column, limit: MAX_FLOW_DEPTH });
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Turns a serde_yaml_ng error into ours, recognising unknown keys.
fn yaml_error(error: serde_yaml_ng::Error) -> DefinitionError {
    let location = error.location().map(|l| (l.line(), l.column()));
    let message = error.to_string();
    let mut message = message.as_str();
    if let Some((line, column)) = location {
        let suffix = format!(" at line {line} column {column}");
        message = message.strip_suffix(&suffix).unwrap_or(message);
    }
    if let (Some(unknown), Some((line, column))) = (UnknownField::parse(message), location) {
        let suggestion = closest(&unknown.key, &unknown.expected).map(str::to_string);
        return DefinitionError::UnknownKey {
            key: unknown.key,
            within: unknown.within,
            line,
            column,
            suggestion,
        };
    }
    let message = comma_before_columns(&rename_missing_field(message));
    DefinitionError::Yaml(match location {
        // Syntax errors name their locations themselves.
        Some((line, column)) if !message.contains(" at line ") => {
            format!("{message} at line {line}, column {column}")
        }
        _ => message,
    })
}

/// Writes libyaml's "line 3 column 1" as "line 3, column 1", like our own messages.
fn comma_before_columns(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 8);
    let mut rest = message;
    while let Some(at) = rest.find("line ") {
        let (before, from_line) = rest.split_at(at);
        out.push_str(before);
        let digits = from_line["line ".len()..].bytes().take_while(u8::is_ascii_digit).count();
        let (number, after) = from_line.split_at("line ".len() + digits);
        out.push_str(number);
        rest = after;
        if digits > 0 && rest.starts_with(" column ") {
            out.push(',');
        }
    }
    out.push_str(rest);
    out
}

/// The parts of serde's "unknown field `x`, expected one of `a`, `b`" message.
#[derive(Debug, PartialEq)]
struct UnknownField {
    key: String,
    within: Option<String>,
    expected: Vec<String>,
}

impl UnknownField {
    fn parse(message: &str) -> Option<UnknownField> {
        const MARK: &str = "unknown field `";
        let start = message.find(MARK)?;
        let within = message[..start].strip_suffix(": ").map(str::to_string).filter(|w| !w.is_empty());
        let rest = &message[start + MARK.len()..];
        let (key, expected) = if let Some(end) = rest.find("`, expected ") {
            (&rest[..end], &rest[end + "`, expected ".len()..])
        } else {
            (rest.strip_suffix("`, there are no fields")?, "")
        };
        let expected = expected.split('`').skip(1).step_by(2).map(str::to_string).collect();
        Some(UnknownField { key: key.to_string(), within, expected })
    }
}

/// serde's "missing field `name`" in the file's vocabulary.
fn rename_missing_field(message: &str) -> String {
    const MARK: &str = "missing field `";
    match message.find(MARK) {
        Some(start) => {
            let rest = &message[start + MARK.len()..];
            match rest.find('`') {
                Some(end) => {
                    format!("{}missing key \"{}\"{}", &message[..start], &rest[..end], &rest[end + 1..])
                }
                None => message.to_string(),
            }
        }
        None => message.to_string(),
    }
}

/// The allowed key nearest to `key`, if it is at most two edits away.
fn closest<'a>(key: &str, allowed: &'a [String]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|candidate| (edit_distance(key, candidate), candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.as_str())
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("bse", "base"), 1);
        assert_eq!(edit_distance("chanel", "channel"), 1);
        assert_eq!(edit_distance("sdk", "sdks"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn hints_only_within_two_edits() {
        let allowed: Vec<String> = ["name", "base", "sdks"].map(String::from).into();
        assert_eq!(closest("bsae", &allowed), Some("base"));
        assert_eq!(closest("nmae", &allowed), Some("name"));
        assert_eq!(closest("runtime", &allowed), None);
    }

    #[test]
    fn serde_unknown_field_messages_are_understood() {
        let parsed = UnknownField::parse(
            "sdks[1]: unknown field `chanel`, expected one of `name`, `channel`, `plugs`, `slots`",
        )
        .unwrap();
        assert_eq!(parsed.key, "chanel");
        assert_eq!(parsed.within.as_deref(), Some("sdks[1]"));
        assert_eq!(parsed.expected, ["name", "channel", "plugs", "slots"]);
        let two = UnknownField::parse("unknown field `x`, expected `plug` or `slot`").unwrap();
        assert_eq!(two.within, None);
        assert_eq!(two.expected, ["plug", "slot"]);
        assert_eq!(UnknownField::parse("invalid type: map"), None);
    }

    #[test]
    fn libyaml_locations_get_a_comma() {
        assert_eq!(
            comma_before_columns(
                "did not find expected ',' or ']' at line 3 column 1, while parsing a flow sequence at line 2 column 7"
            ),
            "did not find expected ',' or ']' at line 3, column 1, while parsing a flow sequence at line 2, column 7"
        );
        assert_eq!(comma_before_columns("a line of text"), "a line of text");
    }

    #[test]
    fn missing_fields_are_called_keys() {
        assert_eq!(rename_missing_field("sdks[0]: missing field `name`"), "sdks[0]: missing key \"name\"");
    }
}
