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
        out.push_str(&wrap(w.message.trim_end(), "  ", width));
    }
    out
}

/// A Go duration written the way the reference does (snapd's `quantity.FormatDuration`:
/// `1d00h`, `28d0h`, `5h30m`, `90.0m`).
fn human_duration(go: &str) -> String {
    match workshop_api::duration::parse(go) {
        Ok(d) => seconds_text(d.as_secs_f64()),
        Err(_) => go.to_string(),
    }
}

/// `dt` seconds in at most four or five characters, in the unit that fits.
fn seconds_text(mut dt: f64) -> String {
    let divmod = |a: f64, b: f64| ((a / b).floor(), a - (a / b).floor() * b);
    if dt < 60.0 {
        if dt >= 9.995 {
            return format!("{dt:.1}s");
        }
        if dt >= 0.9995 {
            return format!("{dt:.2}s");
        }
        let mut prefix = 'm';
        for p in ['m', '\u{b5}', 'n'] {
            prefix = p;
            dt *= 1000.0;
            if dt >= 0.9995 {
                break;
            }
        }
        return if dt > 9.5 { format!("{dt:3.0}{prefix}s") } else { format!("{dt:.1}{prefix}s") };
    }
    if dt < 600.0 {
        let (m, s) = divmod(dt, 60.0);
        return format!("{m:.0}m{s:02.0}s");
    }
    dt /= 60.0;
    if dt < 99.95 {
        return format!("{dt:3.1}m");
    }
    if dt < 10.0 * 60.0 {
        let (h, m) = divmod(dt, 60.0);
        return format!("{h:.0}h{m:02.0}m");
    }
    if dt < 24.0 * 60.0 {
        let (h, m) = divmod(dt, 60.0);
        return if m < 10.0 { format!("{h:.0}h{m:.0}m") } else { format!("{:3.1}h", dt / 60.0) };
    }
    dt /= 60.0;
    if dt < 10.0 * 24.0 {
        let (d, h) = divmod(dt, 24.0);
        return format!("{d:.0}d{h:02.0}h");
    }
    if dt < 99.95 * 24.0 {
        let (d, h) = divmod(dt, 24.0);
        return if h < 10.0 { format!("{d:.0}d{h:.0}h") } else { format!("{:4.1}d", dt / 24.0) };
    }
    dt /= 24.0;
    const YEAR: f64 = 365.25;
    if dt < 2.0 * YEAR {
        return format!("{dt:4.0}d");
    }
    dt /= YEAR;
    if dt < 9.995 {
        format!("{dt:4.2}y")
    } else if dt < 99.95 {
        format!("{dt:4.1}y")
    } else {
        format!("{dt:4.0}y")
    }
}

/// The width messages are wrapped to: the terminal's, else `$COLUMNS`, else 80 (80 too for
/// one narrower than 40, as the reference's); at most [`MAX_WIDTH`].
fn wrap_width(terminal: Option<usize>, columns: Option<&str>) -> usize {
    let columns = || columns.and_then(|c| c.trim().parse::<usize>().ok()).filter(|c| *c > 0);
    let width = terminal.or_else(columns).unwrap_or(80);
    if width < 40 { 80 } else { width.min(MAX_WIDTH) }
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
        // Narrower than 40: 80, as the reference's.
        assert_eq!(wrap_width(Some(30), None), 80);
        assert_eq!(wrap_width(None, Some("39")), 80);
        assert_eq!(wrap_width(None, Some("40")), 40);
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
             expires-after:     28d0h\n\
             warning: |\n  \
               multiple workshops found, but\n  \
               \"/home/u/n/.workshop.yaml\" not in\n  \
               \".workshop\" subdirectory\n\
             ---\n\
             first-occurrence:  2024-05-01\n\
             last-occurrence:   2024-05-01\n\
             acknowledged:      --\n\
             repeats-after:     1d00h\n\
             expires-after:     28d0h\n\
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
        // The reference's (TestVerboseWarnings: every warning expires after 28d0h).
        assert_eq!(human_duration("672h0m0s"), "28d0h");
        for (secs, want) in [
            (0.0, "0.0ns"),
            (0.0015, "1.5ms"),
            (0.25, "250ms"),
            (5.0, "5.00s"),
            (30.0, "30.0s"),
            (5400.0, "90.0m"),
            (7.0 * 3600.0 + 5.0 * 60.0, "7h05m"),
            (12.0 * 3600.0 + 5.0 * 60.0, "12h5m"),
            (12.0 * 3600.0 + 30.0 * 60.0, "12.5h"),
            (240.0 * 3600.0, "10d0h"),
            (10.0 * 86400.0 + 12.0 * 3600.0, "10.5d"),
            (100.0 * 86400.0, " 100d"),
            (3.0 * 365.25 * 86400.0, "3.00y"),
        ] {
            assert_eq!(seconds_text(secs), want, "{secs}");
        }
    }
}
