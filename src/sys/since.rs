//! The times `--since` and `--until` take, as journalctl reads them: a date
//! `YYYY-MM-DD[ HH:MM[:SS]]` in local time (and whatever else GNU `date -d` reads, through
//! [`crate::sys::date_spec`]), `@EPOCH`, `now`, `today`, `yesterday`, `tomorrow` (local
//! midnight), and a time ago: `30s`, `90min`, `2h`, `1d`, `1w`, `-2h`, `2 hours ago`.
//! Shared by `log` and `changes`; it knows nothing of either.

use crate::sys::syslog;

/// `text` in seconds since the epoch, `now` being the current time; `None` when it is not a
/// time.
pub fn parse_time(text: &str, now: i64) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        // GNU `date -d ''` reads it as a time; a user who typed `--since ""` meant none.
        return None;
    }
    let midnight = |days_back: i32| {
        let today = crate::sys::localtime::LocalTime::of(now)?;
        syslog::local_seconds(
            today.year,
            today.month,
            today.day as i32 - days_back,
            0,
            0,
            0,
        )
    };
    match text {
        "now" => return Some(now),
        "today" => return midnight(0),
        "yesterday" => return midnight(1),
        "tomorrow" => return midnight(-1),
        _ => {}
    }
    if let Some(ago) = relative(text) {
        return Some(now - ago);
    }
    let base = crate::sys::date_spec::Instant {
        secs: now,
        nanos: 0,
    };
    crate::sys::date_spec::parse_date(text, base)
        .ok()
        .map(|i| i.secs)
}

/// `30s`, `90min`, `2h`, `1d`, `-2h`, `2h ago`, `2 hours ago`: seconds ago.
pub fn relative(text: &str) -> Option<i64> {
    let text = text.strip_suffix(" ago").unwrap_or(text).trim();
    let text = text.strip_prefix('-').unwrap_or(text);
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let number: i64 = text.get(..digits)?.parse().ok()?;
    let unit = match text[digits..].trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        _ => return None,
    };
    number.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_770_000;

    #[test]
    fn relative_times_count_back_from_now() {
        assert_eq!(parse_time("30s", NOW), Some(NOW - 30));
        assert_eq!(parse_time("90min", NOW), Some(NOW - 90 * 60));
        assert_eq!(parse_time("2h", NOW), Some(NOW - 7200));
        assert_eq!(parse_time("1d", NOW), Some(NOW - 86_400));
        assert_eq!(parse_time("-2h", NOW), Some(NOW - 7200));
        assert_eq!(parse_time("2 hours ago", NOW), Some(NOW - 7200));
        assert_eq!(parse_time(" 5min ", NOW), Some(NOW - 300));
        assert_eq!(parse_time("now", NOW), Some(NOW));
    }

    #[test]
    fn epoch_seconds() {
        assert_eq!(parse_time("@0", NOW), Some(0));
        assert_eq!(parse_time("@1700000000", NOW), Some(1_700_000_000));
    }

    #[test]
    fn dates_are_local_time() {
        // `local_seconds` counts months from 0, as `mktime` does.
        let at = |y, mo, d, h, mi, s| syslog::local_seconds(y, mo, d, h, mi, s).unwrap();
        assert_eq!(parse_time("2025-03-04", NOW), Some(at(2025, 2, 4, 0, 0, 0)));
        assert_eq!(
            parse_time("2025-03-04 05:06", NOW),
            Some(at(2025, 2, 4, 5, 6, 0))
        );
        assert_eq!(
            parse_time("2025-03-04 05:06:07", NOW),
            Some(at(2025, 2, 4, 5, 6, 7))
        );
    }

    #[test]
    fn today_and_yesterday_are_local_midnights_a_day_apart() {
        let today = parse_time("today", NOW).unwrap();
        let yesterday = parse_time("yesterday", NOW).unwrap();
        assert!(today <= NOW && NOW - today < 86_400 + 3600, "{today}");
        // A day, give or take a daylight-saving hour.
        assert!((today - yesterday - 86_400).abs() <= 3600);
        let midnight = crate::sys::localtime::LocalTime::of(today).unwrap();
        assert_eq!((midnight.hour, midnight.minute, midnight.second), (0, 0, 0));
    }

    #[test]
    fn what_is_not_a_time_is_refused() {
        for text in [
            "",
            "2x",
            "h",
            "yesterdays",
            "12 parsecs ago",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_time(text, NOW), None, "{text:?}");
        }
        assert_eq!(relative("3 fortnights"), None);
    }
}
