//! Human times in the style of snapd's `timeutil.Human`: `today at 15:04 MST`,
//! `yesterday at …`, `N days ago, at …`, and a bare date beyond 60 days.

use std::ffi::CStr;

use chrono::{DateTime, Local, NaiveDateTime, Utc};

/// Beyond this many days, only the date is shown.
const CUTOFF_DAYS: i64 = 60;

/// `t` relative to now, in local time.
pub fn human(t: DateTime<Utc>) -> String {
    let then = t.with_timezone(&Local);
    human_between(then.naive_local(), Local::now().naive_local(), &zone_abbreviation(t.timestamp()))
}

/// `then` relative to `now` (both local), with `zone` as the time zone name.
pub fn human_between(then: NaiveDateTime, now: NaiveDateTime, zone: &str) -> String {
    let days = (now.date() - then.date()).num_days();
    let clock = format!("{} {zone}", then.format("%H:%M"));
    match days {
        d if d.abs() > CUTOFF_DAYS => then.format("%Y-%m-%d").to_string(),
        d if d < -1 => format!("in {} days, at {clock}", -d),
        -1 => format!("tomorrow at {clock}"),
        0 => format!("today at {clock}"),
        1 => format!("yesterday at {clock}"),
        d => format!("{d} days ago, at {clock}"),
    }
}

/// The local time zone's abbreviation (`CET`, `UTC`, …) at Unix time `secs`, as libc knows it.
fn zone_abbreviation(secs: i64) -> String {
    let t: libc::time_t = secs;
    // SAFETY: `tm` is plain data; `localtime_r` fills it and `tm_zone` points to static storage
    // (or is null), which is only read here.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() || tm.tm_zone.is_null() {
            return Local::now().format("%:z").to_string();
        }
        CStr::from_ptr(tm.tm_zone).to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap()
    }

    #[test]
    fn snap_style_human_times() {
        let now = at(2024, 5, 10, 9, 30);
        assert_eq!(human_between(at(2024, 5, 10, 0, 5), now, "CEST"), "today at 00:05 CEST");
        assert_eq!(human_between(at(2024, 5, 9, 23, 59), now, "CEST"), "yesterday at 23:59 CEST");
        assert_eq!(human_between(at(2024, 5, 7, 15, 4), now, "UTC"), "3 days ago, at 15:04 UTC");
        assert_eq!(human_between(at(2024, 3, 11, 15, 4), now, "UTC"), "60 days ago, at 15:04 UTC");
        assert_eq!(human_between(at(2024, 3, 10, 15, 4), now, "UTC"), "2024-03-10");
        assert_eq!(human_between(at(2024, 5, 11, 8, 0), now, "UTC"), "tomorrow at 08:00 UTC");
        assert_eq!(human_between(at(2024, 5, 13, 8, 0), now, "UTC"), "in 3 days, at 08:00 UTC");
    }

    #[test]
    fn zone_abbreviation_is_not_empty() {
        assert!(!zone_abbreviation(0).is_empty());
    }
}
