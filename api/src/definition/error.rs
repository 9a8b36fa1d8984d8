//! Errors and warnings of loading and checking a workshop definition.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a workshop definition cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    /// Any of the errors below, found in the file at `path`. The reference's words come first
    /// (scripts match them), the location after them.
    #[error("{}", located(error, path))]
    File { path: PathBuf, error: Box<DefinitionError> },
    /// The file holds no YAML document (or only comments).
    #[error("empty workshop definition (it needs at least \"name\" and \"base\")")]
    Empty,
    /// Flow collections nested deeper than the reader is allowed to go.
    #[error(
        "flow collections ([...], {{...}}) nested deeper than {limit} levels at line {line}, column {column}"
    )]
    TooDeep { line: usize, column: usize, limit: usize },
    /// Malformed YAML or a value of the wrong type.
    #[error("workshop definition YAML:\n{0}")]
    Yaml(String),
    /// A rule of the format is broken by the value at `key` (e.g. `sdks[1].plugs.two`).
    #[error("{message} ({key})")]
    Invalid { key: String, message: String },
}

impl DefinitionError {
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        DefinitionError::Invalid { key: key.into(), message: message.into() }
    }

    /// Wraps the error with the file it was found in.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        DefinitionError::File { path: path.into(), error: Box::new(self) }
    }
}

/// `error` with where it was found: the key (for rule errors) and the file.
fn located(error: &DefinitionError, path: &Path) -> String {
    match error {
        DefinitionError::Invalid { key, message } => format!("{message} ({key} in \"{}\")", path.display()),
        other => format!("{other} (in \"{}\")", path.display()),
    }
}

/// What is wrong with a definition that still loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefinitionWarning {
    /// A key that the format does not know (ignored); `within` is the path of the enclosing
    /// map, `suggestion` the known key it is closest to.
    UnknownKey {
        path: PathBuf,
        key: String,
        within: Option<String>,
        line: usize,
        column: usize,
        suggestion: Option<String>,
    },
    /// Unknown keys beyond those located.
    MoreUnknownKeys { path: PathBuf, count: usize },
}

impl DefinitionWarning {
    /// The warning without the file it is about.
    pub fn describe(&self) -> String {
        match self {
            DefinitionWarning::UnknownKey { key, within, line, column, suggestion, .. } => format!(
                "unknown key \"{key}\"{} at line {line}, column {column}{}",
                within_text(within),
                hint_text(suggestion)
            ),
            DefinitionWarning::MoreUnknownKeys { count, .. } => format!("{count} more unknown keys"),
        }
    }
}

impl fmt::Display for DefinitionWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (DefinitionWarning::UnknownKey { path, .. } | DefinitionWarning::MoreUnknownKeys { path, .. }) =
            self;
        write!(f, "{} (in \"{}\")", self.describe(), path.display())
    }
}

fn within_text(within: &Option<String>) -> String {
    within.as_ref().map(|w| format!(" in {w}")).unwrap_or_default()
}

fn hint_text(suggestion: &Option<String>) -> String {
    suggestion.as_ref().map(|s| format!(" (did you mean \"{s}\"?)")).unwrap_or_default()
}
