//! Reading the definition YAML, with locations in every error and warning.

use std::path::Path;

use super::{DefinitionError, DefinitionWarning, WorkshopFile};
use crate::yaml_checks::{self, Shape};

/// Parses the definition `text` read from `path` (the path only names the file in errors and
/// warnings).
///
/// Keys the format does not know are ignored, as by the reference, each with a warning that
/// says where it is and, when a known key is at most two edits away, which one was meant. The
/// rules of the format are checked by [`WorkshopFile::validate`].
pub fn parse(text: &str, path: &Path) -> Result<(WorkshopFile, Vec<DefinitionWarning>), DefinitionError> {
    parse_text(text, path).map_err(|e| e.in_file(path))
}

/// The keys of the definition format.
static DEFINITION: Shape = Shape::Map(&[
    ("name", &Shape::Free),
    ("base", &Shape::Free),
    ("sdks", &Shape::List(&SDK_RECORD)),
    ("connections", &Shape::List(&CONNECTION)),
    ("actions", &Shape::Free),
]);
static SDK_RECORD: Shape = Shape::Map(&[
    ("name", &Shape::Free),
    ("channel", &Shape::Free),
    ("plugs", &Shape::Free),
    ("slots", &Shape::Free),
]);
static CONNECTION: Shape = Shape::Map(&[("plug", &Shape::Free), ("slot", &Shape::Free)]);

fn parse_text(text: &str, path: &Path) -> Result<(WorkshopFile, Vec<DefinitionWarning>), DefinitionError> {
    if let Some((line, column)) = yaml_checks::too_deep(text) {
        return Err(DefinitionError::TooDeep { line, column, limit: yaml_checks::MAX_FLOW_DEPTH });
    }
    let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(text, e))?;
    if document.is_null() {
        return Err(DefinitionError::Empty);
    }
    let (unknown, total) = yaml_checks::unknown_keys(text, &document, &DEFINITION);
    let mut warnings: Vec<DefinitionWarning> = unknown
        .into_iter()
        .map(|k| DefinitionWarning::UnknownKey {
            path: path.to_path_buf(),
            key: k.key,
            within: k.within,
            line: k.line,
            column: k.column,
            suggestion: k.suggestion,
        })
        .collect();
    if total > warnings.len() {
        let count = total - warnings.len();
        warnings.push(DefinitionWarning::MoreUnknownKeys { path: path.to_path_buf(), count });
    }
    match serde_yaml_ng::from_str(text) {
        Ok(file) => Ok((file, warnings)),
        // A misspelt key often explains the error (a required key missing): say both.
        Err(e) => Err(match yaml_error(text, e) {
            DefinitionError::Yaml(message) if !warnings.is_empty() => {
                let listed: Vec<String> = warnings.iter().map(DefinitionWarning::describe).collect();
                DefinitionError::Yaml(format!("{message}\n{}", listed.join("\n")))
            }
            other => other,
        }),
    }
}

/// Turns a serde_yaml_ng error on `text` into ours, with its location.
fn yaml_error(text: &str, error: serde_yaml_ng::Error) -> DefinitionError {
    let location = error.location().map(|l| (l.line(), l.column()));
    let message = yaml_checks::error_text(text, &error);
    let mut message = message.as_str();
    if let Some((line, column)) = location {
        let suffix = format!(" at line {line} column {column}");
        message = message.strip_suffix(&suffix).unwrap_or(message);
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

#[cfg(test)]
mod tests {
    use super::*;

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
