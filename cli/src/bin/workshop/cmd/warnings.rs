//! `workshop warnings` and `workshop okay`.

use anyhow::{Context as _, bail};
use chrono::{DateTime, Local, SecondsFormat, Utc};
use clap::{Args, ValueEnum};
use workshop_api::WarningInfo;

use crate::cmd::ListFormat;
use crate::context::Ctx;
use crate::table::Table;
use crate::timefmt::human;
use crate::{table, term, warnstamp};

/// Widest a warning message is wrapped to.
const MAX_WIDTH: usize = 100;

/// When to use Unicode glyphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Unicode {
    Auto,
    Never,
    Always,
}

/// Flags of `warnings`.
#[derive(Debug, Args)]
pub struct WarningsArgs {
    /// Show all warnings, including those already shown
    #[arg(long)]
    pub all: bool,
    /// Show more information
    #[arg(long)]
    pub verbose: bool,
    /// Display absolute times (RFC 3339)
    #[arg(long)]
    pub abs_time: bool,
    /// Use Unicode glyphs
    #[arg(long, value_enum, default_value_t = Unicode::Auto)]
    pub unicode: Unicode,
    /// Output format (`table`: the reference's text; `csv`: last occurrence and message)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

fn stamp_path() -> anyhow::Result<std::path::PathBuf> {
    warnstamp::path().context("cannot find the warnings timestamp file: $HOME is not set")
}

/// `workshop warnings`.
pub fn warnings(ctx: &Ctx, args: &WarningsArgs) -> anyhow::Result<()> {
    let path = stamp_path()?;
    let now = Utc::now();
    let warnings = ctx.client.warnings(args.all)?;
    if args.format != ListFormat::Table {
        let text = match args.format.data(&warnings)? {
            Some(data) => data,
            None => {
                let mut rows = Table::new(&["last-occurrence", "message"]);
                for w in &warnings {
                    rows.row(vec![
                        w.last_added.to_rfc3339_opts(SecondsFormat::Secs, true),
                        w.message.clone(),
                    ]);
                }
                rows.csv()
            }
        };
        workshop_client::out!("{text}");
        if !warnings.is_empty() {
            warnstamp::write(&path, now)?;
        }
        return Ok(());
    }
    if warnings.is_empty() {
        match warnstamp::read(&path).ok().flatten() {
            None => workshop_client::outln!("{}", crate::messages::NO_WARNINGS),
            Some(_) => workshop_client::outln!("{}", crate::messages::NO_FURTHER_WARNINGS),
        }
        return Ok(());
    }
    warnstamp::write(&path, now)?;
    let unicode = match args.unicode {
        Unicode::Always => true,
        Unicode::Never => false,
        // As the reference: glyphs only on a terminal (a pipe gets `--`).
        Unicode::Auto => term::is_tty(1) && crate::style::Style::detect(true).unicode,
    };
    let columns = std::env::var("COLUMNS").ok();
    let width = wrap_width(term::window_size(1).map(|(w, _)| usize::from(w)), columns.as_deref());
    let fmt_time = |t: DateTime<Utc>| {
        if args.abs_time {
            t.with_timezone(&Local).to_rfc3339_opts(SecondsFormat::Secs, true)
        } else {
            human(t)
        }
    };
    workshop_client::out!("{}", render(&warnings, args.verbose, unicode, width, &fmt_time));
    Ok(())
}

fn render(
    warnings: &[WarningInfo],
    verbose: bool,
    unicode: bool,
    width: usize,
    fmt_time: &dyn Fn(DateTime<Utc>) -> String,
) -> String {
    let mut out = String::new();
    for (i, w) in warnings.iter().enumerate() {
        let mut lines = Vec::new();
        if i > 0 {
            lines.push("---".to_string());
        }
        if verbose {
            lines.push(format!("first-occurrence:\t{}", fmt_time(w.first_added)));
        }
        lines.push(format!("last-occurrence:\t{}", fmt_time(w.last_added)));
        if verbose {
            let dash = if unicode { "–" } else { "--" };
            let shown = w.last_shown.map(fmt_time).unwrap_or_else(|| dash.to_string());
            lines.push(format!("acknowledged:\t{shown}"));
            lines.push(format!("repeats-after:\t{}", human_duration(&w.repeat_after)));
            lines.push(format!("expires-after:\t{}", human_duration(&w.expire_after)));
        }
        lines.push("warning: |".to_string());
        out.push_str(&table::align(&lines, &[]));
        out.push_str(&wrap(&w.message, "  ", width));
    }
    out
}

/// A Go duration written the way snapd's `quantity.FormatDuration` does (`1d00h`, `5h30m`).
fn human_duration(go: &str) -> String {
    let Ok(d) = workshop_api::duration::parse(go) else {
        return go.to_string();
    };
    let secs = d.as_secs();
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The width messages are wrapped to: the terminal's, else `$COLUMNS`, else 80; at most
/// [`MAX_WIDTH`].
fn wrap_width(terminal: Option<usize>, columns: Option<&str>) -> usize {
    let columns = || columns.and_then(|c| c.trim().parse::<usize>().ok()).filter(|c| *c > 0);
    terminal.or_else(columns).unwrap_or(80).min(MAX_WIDTH)
}

/// `text` word-wrapped to `width` columns, every line starting with `indent`.
fn wrap(text: &str, indent: &str, width: usize) -> String {
    let room = width.saturating_sub(indent.chars().count()).max(20);
    let mut out = String::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > room {
                out.push_str(&format!("{indent}{line}\n"));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push_str(&format!("{indent}{line}\n"));
    }
    out
}

/// `workshop okay`.
pub fn okay(ctx: &Ctx) -> anyhow::Result<()> {
    let Some(last) = warnstamp::read(&stamp_path()?)? else {
        bail!(crate::messages::OKAY_BEFORE_WARNINGS);
    };
    ctx.client.okay(last)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn wrapped_to_the_terminal_else_columns_at_most_100() {
        assert_eq!(wrap_width(Some(120), Some("50")), 100);
        assert_eq!(wrap_width(Some(60), Some("200")), 60);
        assert_eq!(wrap_width(None, Some("50")), 50);
        assert_eq!(wrap_width(None, Some("200")), 100);
        for bad in [None, Some(""), Some("0"), Some("wide")] {
            assert_eq!(wrap_width(None, bad), 80, "{bad:?}");
        }
    }

    #[test]
    fn warning_blocks() {
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap();
        let w = WarningInfo {
            message:
                "multiple workshops found, but \"/home/u/n/.workshop.yaml\" not in \".workshop\" subdirectory"
                    .into(),
            first_added: t,
            last_added: t,
            last_shown: None,
            expire_after: "672h0m0s".into(),
            repeat_after: "24h0m0s".into(),
        };
        let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
        let text = render(&[w.clone(), w], true, false, 40, &fmt);
        assert_eq!(
            text,
            "first-occurrence:  2024-05-01\n\
             last-occurrence:   2024-05-01\n\
             acknowledged:      --\n\
             repeats-after:     1d00h\n\
             expires-after:     28d00h\n\
             warning: |\n  \
               multiple workshops found, but\n  \
               \"/home/u/n/.workshop.yaml\" not in\n  \
               \".workshop\" subdirectory\n\
             ---\n\
             first-occurrence:  2024-05-01\n\
             last-occurrence:   2024-05-01\n\
             acknowledged:      --\n\
             repeats-after:     1d00h\n\
             expires-after:     28d00h\n\
             warning: |\n  \
               multiple workshops found, but\n  \
               \"/home/u/n/.workshop.yaml\" not in\n  \
               \".workshop\" subdirectory\n"
        );
    }

    #[test]
    fn durations_like_snapd() {
        assert_eq!(human_duration("24h0m0s"), "1d00h");
        assert_eq!(human_duration("5h30m0s"), "5h30m");
        assert_eq!(human_duration("90s"), "1m30s");
        assert_eq!(human_duration("bogus"), "bogus");
    }
}
