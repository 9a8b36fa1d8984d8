//! `--format` of the commands that list or show something (docs/output.md): a table or
//! aligned text for people; JSON or YAML (the same document, the daemon's wire types) and, for
//! listings, CSV (the table's rows without headers, as `lxc ... -f csv`) for scripts.

use clap::ValueEnum;
use serde::Serialize;

use crate::table::Table;

/// Output of a command that shows one thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Table,
    /// JSON, indented.
    Json,
    /// YAML.
    Yaml,
}

/// Output of a command that lists things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// An aligned table for people.
    Table,
    /// JSON, indented.
    Json,
    /// YAML.
    Yaml,
    /// The table's rows as comma-separated values, without headers.
    Csv,
}

/// Why the output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
}

/// Writes to standard output. Its reader gone (`workshop changes --format json | head -1`),
/// the process ends as a write to a closed pipe ends a program that does not catch SIGPIPE
/// (the reference's client is one), not with a panic; any other failure panics, as
/// `print!` does.
pub fn write_stdout(args: std::fmt::Arguments) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        exit_if_broken_pipe(&e);
        panic!("failed printing to stdout: {e}");
    }
}

/// Ends the process as SIGPIPE would when `e` says the reader of standard output is gone.
pub fn exit_if_broken_pipe(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        die_of_broken_pipe();
    }
}

/// Ends the process as a write to a closed pipe ends a program that does not catch SIGPIPE.
pub fn die_of_broken_pipe() -> ! {
    // SAFETY: restoring a signal's default action and raising it; nothing else runs here.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(128 + libc::SIGPIPE)
}

/// `print!` to standard output through [`write_stdout`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` to standard output through [`write_stdout`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `value` as JSON (with a final newline).
fn json(value: &impl Serialize) -> Result<String, OutputError> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// `value` as YAML: the same document as the JSON, keys in the same order.
fn yaml(value: &impl Serialize) -> Result<String, OutputError> {
    Ok(serde_yaml_ng::to_string(value)?)
}

impl Format {
    /// `value` in a data format, or `None` for [`Format::Table`] (the command renders text).
    pub fn data(self, value: &impl Serialize) -> Result<Option<String>, OutputError> {
        match self {
            Self::Table => Ok(None),
            Self::Json => json(value).map(Some),
            Self::Yaml => yaml(value).map(Some),
        }
    }
}

impl ListFormat {
    /// `value` in a data format, or `None` for [`ListFormat::Table`] and [`ListFormat::Csv`]
    /// (the command builds its table, then calls [`ListFormat::table`]).
    pub fn data(self, value: &impl Serialize) -> Result<Option<String>, OutputError> {
        match self {
            Self::Table | Self::Csv => Ok(None),
            Self::Json => json(value).map(Some),
            Self::Yaml => yaml(value).map(Some),
        }
    }

    /// `table` as text: aligned (with headers unless `no_headers`, bold when `bold`) or CSV.
    pub fn table(self, table: &Table, no_headers: bool, bold: bool) -> String {
        match self {
            Self::Csv => table.csv(),
            _ => table.render(!no_headers, bold),
        }
    }
}

/// One CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180).
pub fn csv_field(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

/// A size in decimal units with two decimals (`123B`, `1.23kB`, `12.35MB`), as LXD writes them.
pub fn byte_size(bytes: u64) -> String {
    if bytes < 1000 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64;
    for unit in ["kB", "MB", "GB", "TB", "PB"] {
        value /= 1000.0;
        if value < 1000.0 {
            return format!("{value:.2}{unit}");
        }
    }
    format!("{:.2}EB", value / 1000.0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_and_yaml_show_the_same_document() {
        let value = json!({"name": "dev", "notes": ["a", "b"], "size": 3});
        let from_json: serde_json::Value =
            serde_json::from_str(&Format::Json.data(&value).unwrap().unwrap()).unwrap();
        let from_yaml: serde_json::Value =
            serde_yaml_ng::from_str(&Format::Yaml.data(&value).unwrap().unwrap()).unwrap();
        assert_eq!(from_json, value);
        assert_eq!(from_yaml, value);
        assert_eq!(Format::Table.data(&value).unwrap(), None);
        assert_eq!(ListFormat::Csv.data(&value).unwrap(), None);
    }

    #[test]
    fn csv_rows_have_no_headers_and_quote_what_needs_it() {
        let mut table = Table::new(&["name", "notes"]);
        table.row(vec!["dev".into(), "a,b".into()]);
        table.row(vec!["say \"hi\"".into(), String::new()]);
        assert_eq!(ListFormat::Csv.table(&table, false, false), "dev,\"a,b\"\n\"say \"\"hi\"\"\",\n");
        assert!(ListFormat::Table.table(&table, false, false).starts_with("NAME"));
        assert!(!ListFormat::Table.table(&table, true, false).contains("NAME"));
    }
}
