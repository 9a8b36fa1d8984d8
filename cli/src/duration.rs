//! Go-style durations (`1s`, `2m30s`, `1.5s`, `250ms`), as the API and the reference CLI write them.

use std::time::Duration;

/// Formats like Go's `time.Duration.String` (`0s`, `250ms`, `1.5s`, `2m30s`, `1h0m5s`), with at
/// most millisecond precision.
pub fn format(d: Duration) -> String {
    let millis = d.as_millis();
    if millis == 0 {
        return if d.is_zero() { "0s".into() } else { format!("{}µs", d.as_micros()) };
    }
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let secs = millis / 1000;
    let frac = millis % 1000;
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let s =
        if frac > 0 { format!("{s}.{}", format!("{frac:03}").trim_end_matches('0')) } else { s.to_string() };
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// Parses `300ms`, `1.5s`, `2m30s`, `1h`; units ns, us, µs, ms, s, m, h; `0` alone is zero.
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?}");
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
        let value: f64 = rest[..num_len].parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_millis(15)), "15ms");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_millis(1234)), "1.234s");
        assert_eq!(format(Duration::from_secs(2)), "2s");
        assert_eq!(format(Duration::from_secs(150)), "2m30s");
        assert_eq!(format(Duration::from_millis(62_500)), "1m2.5s");
        assert_eq!(format(Duration::from_secs(3605)), "1h0m5s");
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse("2m30s"), Ok(Duration::from_secs(150)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "5x", "s", "1s5"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
