//! One module per command (or family of commands).

pub mod changes;
pub mod connect;
pub mod connections;
pub mod doctor;
pub mod exec;
pub mod info;
pub mod init;
pub mod lifecycle;
pub mod list;
pub mod sketch;
pub mod space;
pub mod version;
pub mod warnings;

pub use workshop_client::output::{Format, ListFormat};

/// Whether table headers are printed in bold (standard output is a colour terminal).
pub fn bold_headers() -> bool {
    crate::style::Style::detect(crate::term::is_tty(1)).color
}
