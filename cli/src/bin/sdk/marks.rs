//! How the `sdk` CLI decorates its output: publisher badges and the arrow of closed channels
//! (Unicode on a UTF-8 terminal, ASCII elsewhere, as the reference does), colour (off with
//! `NO_COLOR`), byte sizes in decimal units and build dates.

use chrono::{DateTime, Utc};
use workshop_api::sdks::StoreAccount;
use workshop_client::style::Style;

const GREEN: &str = "\x1b[32m";
const BRIGHT_YELLOW: &str = "\x1b[93m";
const BOLD: &str = "\x1b[1m";
const END: &str = "\x1b[0m";

/// What standard output can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marks {
    pub unicode: bool,
    pub color: bool,
}

impl Marks {
    /// From standard output and the environment (`NO_COLOR`, `TERM`, the locale).
    pub fn detect() -> Self {
        // SAFETY: isatty has no preconditions.
        let tty = unsafe { libc::isatty(1) } == 1;
        let style = Style::detect(tty);
        let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let utf8 = locale.contains("utf-8") || locale.contains("utf8");
        Self { unicode: tty && style.unicode && utf8, color: style.color }
    }

    /// Plain ASCII without colour, as in a pipe (and in CSV).
    pub const PLAIN: Marks = Marks { unicode: false, color: false };

    fn paint(&self, color: &str, text: &str) -> String {
        if self.color { format!("{color}{text}{END}") } else { text.to_string() }
    }

    /// The badge after a publisher's name: verified or starred.
    pub fn badge(&self, validation: &str) -> String {
        match (validation, self.unicode) {
            ("verified", true) => self.paint(GREEN, "✓"),
            ("verified", false) => self.paint(GREEN, "**"),
            ("starred", true) => self.paint(BRIGHT_YELLOW, "✪"),
            ("starred", false) => self.paint(BRIGHT_YELLOW, "*"),
            _ => String::new(),
        }
    }

    /// Marks a closed risk that follows an open one (it tracks the one above).
    pub fn up(&self) -> &'static str {
        if self.unicode { "↑" } else { "^" }
    }

    /// `text` in bold, when colours are on.
    pub fn bold(&self, text: &str) -> String {
        self.paint(BOLD, text)
    }

    /// `Display<badge>`, as `sdk find` shows publishers.
    pub fn short_publisher(&self, p: &StoreAccount) -> String {
        format!("{}{}", p.display_name, self.badge(&p.validation))
    }

    /// `Display (username<badge>)`, or `Display<badge>` when the username is the display name
    /// (hyphens read as spaces), as `sdk info` shows publishers.
    pub fn long_publisher(&self, p: &StoreAccount) -> String {
        let badge = self.badge(&p.validation);
        if p.username.replace('-', " ").eq_ignore_ascii_case(&p.display_name) {
            format!("{}{badge}", p.display_name)
        } else {
            format!("{} ({}{badge})", p.display_name, p.username)
        }
    }
}

pub use workshop_client::output::byte_size;

/// `YYYY-MM-DD`, or `-`.
pub fn date(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "-".into())
}

/// `-` for an empty value.
pub fn dash(text: &str) -> String {
    if text.is_empty() { "-".into() } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_decimal_units() {
        let cases = [
            (0, "0B"),
            (123, "123B"),
            (999, "999B"),
            (1000, "1.00kB"),
            (1234, "1.23kB"),
            (12345, "12.35kB"),
            (123456, "123.46kB"),
            (1234567, "1.23MB"),
            (12345678, "12.35MB"),
            (109 * 1024 * 1024, "114.29MB"),
            (u64::MAX, "18.45EB"),
        ];
        for (bytes, text) in cases {
            assert_eq!(byte_size(bytes), text, "{bytes}");
        }
    }

    #[test]
    fn publishers_and_badges() {
        let intel = StoreAccount {
            username: "intel".into(),
            display_name: "Intel".into(),
            validation: "verified".into(),
            ..Default::default()
        };
        assert_eq!(Marks::PLAIN.long_publisher(&intel), "Intel**");
        let unicode = Marks { unicode: true, color: false };
        assert_eq!(unicode.short_publisher(&intel), "Intel✓");
        let hunter = StoreAccount {
            username: "hunter2".into(),
            display_name: "Hunter Two".into(),
            validation: "unproven".into(),
            ..Default::default()
        };
        assert_eq!(Marks::PLAIN.long_publisher(&hunter), "Hunter Two (hunter2)");
        let star =
            StoreAccount { validation: "starred".into(), display_name: "A".into(), ..Default::default() };
        assert_eq!(Marks::PLAIN.short_publisher(&star), "A*");
        assert_eq!(Marks { unicode: true, color: true }.short_publisher(&star), "A\x1b[93m✪\x1b[0m");
        assert_eq!((Marks::PLAIN.up(), unicode.up()), ("^", "↑"));
    }
}
