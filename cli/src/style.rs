//! Colour and Unicode choices (`NO_COLOR` and monochrome terminals get plain ASCII, dumb ones no
//! colour), and home directories written `~`.

/// How output may be decorated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours and bold.
    pub color: bool,
    /// Unicode glyphs (`✓`, `…`) instead of ASCII.
    pub unicode: bool,
}

impl Style {
    /// The style for a stream that is (`tty`) or is not a terminal, from the environment.
    pub fn detect(tty: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self::from_env(tty, no_color, std::env::var("TERM").ok().as_deref())
    }

    /// [`Style::detect`] with the environment given.
    pub fn from_env(tty: bool, no_color: bool, term: Option<&str>) -> Self {
        let mono = matches!(term, Some("xterm-mono" | "linux-m"));
        let plain = no_color || mono;
        // A dumb terminal shows escape sequences as they are.
        let dumb = term == Some("dumb");
        Self { color: tty && !plain && !dumb, unicode: !plain }
    }

    /// The mark of a finished task.
    pub fn tick(&self) -> &'static str {
        match (self.unicode, self.color) {
            (true, true) => "\x1b[32m✓\x1b[0m",
            (true, false) => "✓",
            (false, _) => "*",
        }
    }

    /// The frames of the progress spinner.
    pub fn spinner(&self) -> &'static [&'static str] {
        if self.unicode {
            &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
        } else {
            &["-", "\\", "|", "/"]
        }
    }

    /// An ellipsis for shortened text.
    pub fn ellipsis(&self) -> &'static str {
        if self.unicode { "…" } else { "..." }
    }
}

/// `path` with `home` written as `~`.
pub fn contract_home(path: &str, home: &str) -> String {
    let home = home.trim_end_matches('/');
    match path.strip_prefix(home) {
        Some("") => "~".to_string(),
        Some(rest) if rest.starts_with('/') => format!("~{rest}"),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_contraction() {
        assert_eq!(contract_home("/home/u/acc/p", "/home/u"), "~/acc/p");
        assert_eq!(contract_home("/home/u", "/home/u/"), "~");
        assert_eq!(contract_home("/home/user2/p", "/home/u"), "/home/user2/p");
        assert_eq!(contract_home("/srv/p", "/home/u"), "/srv/p");
    }

    #[test]
    fn plain_ascii_without_colour() {
        assert_eq!(
            Style::from_env(true, false, Some("xterm-256color")),
            Style { color: true, unicode: true }
        );
        assert_eq!(Style::from_env(false, false, Some("xterm")), Style { color: false, unicode: true });
        assert_eq!(Style::from_env(true, true, Some("xterm")), Style { color: false, unicode: false });
        assert_eq!(Style::from_env(true, false, Some("linux-m")), Style { color: false, unicode: false });
        assert_eq!(Style::from_env(true, false, Some("xterm-mono")).tick(), "*");
        assert_eq!(Style::from_env(false, false, None).tick(), "✓");
        assert_eq!(Style::from_env(true, false, Some("dumb")), Style { color: false, unicode: true });
    }
}
