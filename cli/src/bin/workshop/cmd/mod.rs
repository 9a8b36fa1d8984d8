//! One module per command (or family of commands).

pub mod changes;
pub mod connect;
pub mod connections;
pub mod exec;
pub mod info;
pub mod init;
pub mod lifecycle;
pub mod list;
pub mod version;
pub mod warnings;

use clap::ValueEnum;

/// Output format of listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Whether table headers are printed in bold (standard output is a colour terminal).
pub fn bold_headers() -> bool {
    crate::style::Style::detect(crate::term::is_tty(1)).color
}
