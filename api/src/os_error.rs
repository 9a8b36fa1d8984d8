//! The words of an OS error as the messages of the daemon and its clients have them.

use std::io;

/// The OS error without Rust's " (os error N)" suffix, in lowercase like our messages
/// ("permission denied").
pub fn reason(error: &io::Error) -> String {
    let text = error.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_lowercase_without_the_error_number() {
        // EACCES on Linux.
        assert_eq!(reason(&io::Error::from_raw_os_error(13)), "permission denied");
        assert_eq!(reason(&io::Error::other("Custom text")), "custom text");
    }
}
