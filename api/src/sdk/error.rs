//! Why an `sdk.yaml` cannot be used, in the reference's words.

use std::fmt;

/// An unknown top-level key of a strictly read `sdk.yaml`, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    pub key: String,
    pub line: usize,
    pub column: usize,
}

/// Why an SDK's metadata is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdkYamlError {
    /// Any of the errors below, found reading the metadata of SDK `sdk`.
    #[error("invalid \"{sdk}\" SDK definition: {error}")]
    Definition { sdk: String, error: Box<SdkYamlError> },
    /// Unknown top-level keys (strict reading); `fields` holds the first ones located.
    #[error("unknown SDK YAML fields: {}", fields_text(.fields, *.total))]
    UnknownFields { fields: Vec<UnknownField>, total: usize },
    /// Flow collections nested deeper than the reader is allowed to go.
    #[error(
        "flow collections ([...], {{...}}) nested deeper than {limit} levels at line {line}, column {column}"
    )]
    TooDeep { line: usize, column: usize, limit: usize },
    /// Malformed YAML or a value of the wrong type.
    #[error("SDK definition YAML:\n{0}")]
    Yaml(String),
    /// A rule of the format is broken (name grammar, base, architecture, plug or slot).
    #[error("{0}")]
    Invalid(String),
    #[error("SDK must be named \"{expected}\" (now: \"{found}\")")]
    WrongName { expected: String, found: String },
    #[error("\"{sdk}\" SDK has \"{base}\" base; required: \"{required}\"")]
    WrongBase { sdk: String, base: String, required: String },
    #[error("\"{sdk}\" SDK has \"{architecture}\" architecture; required: \"{required}\" or \"all\"")]
    WrongArchitecture { sdk: String, architecture: String, required: String },
    /// Plugs or slots were set aside when the SDK was read.
    #[error("\"{sdk}\" SDK has bad plugs or slots: {summary}")]
    BadInterfaces { sdk: String, summary: String },
}

fn fields_text(fields: &[UnknownField], total: usize) -> String {
    let mut text = fields
        .iter()
        .map(|f| format!("{} (line {}, column {})", f.key, f.line, f.column))
        .collect::<Vec<_>>()
        .join(", ");
    if total > fields.len() {
        let _ = fmt::Write::write_fmt(&mut text, format_args!(" and {} more", total - fields.len()));
    }
    text
}
