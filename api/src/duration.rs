//! Go-style durations (`1s`, `2m30s`, `672h0m0s`), the format the reference uses on the wire.

use std::time::Duration;

/// The longest duration: Go's `time.Duration` counts nanoseconds in an `i64`.
pub const MAX: Duration = Duration::from_nanos(i64::MAX as u64);

/// Why a duration cannot be read; the text is quoted (at most 64 characters of it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse duration {}: {reason}", crate::ids::quoted(.text))]
pub struct DurationError {
    text: String,
    reason: &'static str,
}

/// Nanoseconds per unit.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Parses `300ms`, `1.5s`, `2m30s`, `1h`; units ns, us, µs, ms, s, m, h. `0` is zero. Exact to
/// the nanosecond (digits beyond are dropped); longer than [`MAX`] is out of range.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let error = |reason| DurationError { text: text.to_string(), reason };
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(error("empty"));
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let whole_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (whole, after) = rest.split_at(whole_len);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(f) => f.split_at(f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len())),
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(error("expected a number"));
        }
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(error("missing unit"));
        }
        let scale = unit_nanos(unit).ok_or_else(|| error("unknown unit"))?;
        total = whole_nanos(whole, scale)
            .and_then(|n| n.checked_add(fraction_nanos(fraction, scale)))
            .and_then(|n| n.checked_add(total))
            .filter(|&n| n <= MAX.as_nanos())
            .ok_or_else(|| error("out of range"))?;
        rest = after;
    }
    // At most MAX, which fits a u64 of nanoseconds.
    Ok(Duration::from_nanos(total as u64))
}

/// `digits` × `scale` nanoseconds; `None` when that is far beyond any duration.
fn whole_nanos(digits: &str, scale: u128) -> Option<u128> {
    digits
        .bytes()
        .try_fold(0u128, |n, d| n.checked_mul(10)?.checked_add(u128::from(d - b'0')))?
        .checked_mul(scale)
}

/// `0.digits` × `scale` nanoseconds, rounded down; digits past the nanosecond do not count.
fn fraction_nanos(digits: &str, scale: u128) -> u128 {
    // 10^18 × 3.6e12 (an hour in ns) stays far below u128::MAX.
    let kept = &digits[..digits.len().min(18)];
    let value = kept.bytes().fold(0u128, |n, d| n * 10 + u128::from(d - b'0'));
    value * scale / 10u128.pow(kept.len() as u32)
}

/// Formats exactly as Go's `time.Duration.String`: `24h0m0s`, `1m30s`, `1.5s` from a second
/// up, `250ms`, `1.5µs`, `100ns` below, `0s`. (It kept milliseconds only: a `--timeout 500us`
/// went on the wire as `0s`, which is no timeout at all.)
pub fn format(d: Duration) -> String {
    let nanos = d.as_nanos();
    match nanos {
        0 => return "0s".into(),
        1..1_000 => return format!("{nanos}ns"),
        1_000..1_000_000 => return format!("{}µs", decimal(nanos, 1_000)),
        1_000_000..1_000_000_000 => return format!("{}ms", decimal(nanos, 1_000_000)),
        _ => {}
    }
    let secs = d.as_secs();
    let (h, m) = (secs / 3600, secs % 3600 / 60);
    let s = decimal(u128::from(secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos()), 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// `n / unit` (`unit` a power of ten) with its fraction's digits, trailing zeros dropped.
fn decimal(n: u128, unit: u128) -> String {
    let (whole, fraction) = (n / unit, n % unit);
    if fraction == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse("2m30s").unwrap(), Duration::from_secs(150));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("1h2m3.004005006s").unwrap(), Duration::new(3723, 4_005_006));
        assert_eq!(parse("1µs1us1μs").unwrap(), Duration::from_micros(3));
        assert_eq!(parse("").unwrap_err().to_string(), r#"cannot parse duration "": empty"#);
        assert_eq!(parse("5").unwrap_err().to_string(), r#"cannot parse duration "5": missing unit"#);
        assert_eq!(parse("5x").unwrap_err().to_string(), r#"cannot parse duration "5x": unknown unit"#);
        assert_eq!(parse("s").unwrap_err().to_string(), r#"cannot parse duration "s": expected a number"#);
        assert!(parse(".s").is_err());
        assert!(parse("-1s").is_err());
    }

    /// L2: these panicked in `Duration::from_secs_f64` (an exec `--timeout` too large was a
    /// panic in the daemon, not a 400).
    #[test]
    fn huge_durations_are_out_of_range() {
        let huge = format!("{}h", "9".repeat(400));
        for text in [huge.as_str(), "9999999999999999999h", "18446744073709551616s", "2562048h"] {
            assert_eq!(
                parse(text).unwrap_err().to_string(),
                format!("cannot parse duration {}: out of range", crate::ids::quoted(text)),
                "{text}"
            );
        }
        assert_eq!(parse("2562047h47m16.854775807s").unwrap(), MAX);
        assert!(parse("2562047h47m16.854775808s").is_err());
    }

    #[test]
    fn long_texts_are_quoted_short() {
        let text = format!("{}x", "1".repeat(10_000));
        assert!(parse(&text).unwrap_err().to_string().len() < 120);
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::from_secs(24 * 3600)), "24h0m0s");
        assert_eq!(format(Duration::from_secs(672 * 3600)), "672h0m0s");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_secs(1)), "1s");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_micros(500)), "500µs");
        assert_eq!(format(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(format(Duration::from_nanos(1_500_000)), "1.5ms");
        assert_eq!(format(Duration::from_nanos(7)), "7ns");
        assert_eq!(format(Duration::new(3723, 4_005_006)), "1h2m3.004005006s");
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(MAX), "2562047h47m16.854775807s");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,40}") {
            let _ = parse(&text);
        }

        #[test]
        fn duration_like_text_never_panics(text in "[0-9.]{0,30}(ns|us|µs|ms|s|m|h|x|)([0-9.]{0,30}(h|m|s|))?") {
            if let Ok(d) = parse(&text) {
                proptest::prop_assert!(d <= MAX);
            }
        }

        #[test]
        fn formatted_durations_read_back(nanos in 0..=MAX.as_nanos() as u64) {
            let d = Duration::from_nanos(nanos);
            proptest::prop_assert_eq!(parse(&format(d)).unwrap(), d);
        }
    }
}
