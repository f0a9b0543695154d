//! Calendar time in the local zone, for `ls -l` and `stat`. The C library does the zone work:
//! glibc and static musl both read `TZ` and `/etc/localtime` themselves (TZif, no NSS, no
//! dynamic loading), so this is a safe wrapper around `localtime_r` and nothing more.

/// A broken-down local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i64,
    /// 0 = January.
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Seconds east of UTC, for `+0100`-style offsets.
    pub utc_offset: i64,
}

pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

extern "C" {
    fn tzset();
}

/// The C library's broken-down local time of `seconds` since the epoch (`localtime_r` after
/// `tzset`, so a changed `TZ` is seen); `None` when it cannot convert (a year out of range).
pub fn broken_down(seconds: i64) -> Option<libc::tm> {
    // libc marks musl's `time_t` deprecated only to warn that it became 64-bit (musl 1.2).
    #[allow(deprecated)]
    let time = libc::time_t::try_from(seconds).ok()?;
    // SAFETY: an all-zero `tm` is a valid value; localtime_r writes only into `tm`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; tzset takes no arguments.
    let ok = unsafe {
        tzset();
        !libc::localtime_r(&time, &mut tm).is_null()
    };
    ok.then_some(tm)
}

impl LocalTime {
    /// Converts seconds since the epoch; `None` when the C library cannot (a year out of range).
    pub fn of(seconds: i64) -> Option<LocalTime> {
        let tm = broken_down(seconds)?;
        // `c_long` is 32 bits on some targets, 64 on ours.
        #[allow(clippy::useless_conversion)]
        let utc_offset = i64::from(tm.tm_gmtoff);
        Some(LocalTime {
            year: i64::from(tm.tm_year) + 1900,
            month: u32::try_from(tm.tm_mon).ok()?.min(11),
            day: u32::try_from(tm.tm_mday).ok()?,
            hour: u32::try_from(tm.tm_hour).ok()?,
            minute: u32::try_from(tm.tm_min).ok()?,
            second: u32::try_from(tm.tm_sec).ok()?,
            utc_offset,
        })
    }

    pub fn month_name(&self) -> &'static str {
        MONTHS[self.month as usize % 12]
    }

    /// `+0000`, `-0530`: the offset as `strftime("%z")` writes it.
    pub fn offset_string(&self) -> String {
        let sign = if self.utc_offset < 0 { '-' } else { '+' };
        let minutes = self.utc_offset.abs() / 60;
        format!("{sign}{:02}{:02}", minutes / 60, minutes % 60)
    }

    /// `2024-03-01 12:34:56.123456789 +0000`, the form of `stat` and `ls --full-time`.
    pub fn full(&self, nanoseconds: u32) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:09} {}",
            self.year,
            self.month + 1,
            self.day,
            self.hour,
            self.minute,
            self.second,
            nanoseconds,
            self.offset_string()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_strings() {
        let mut time = LocalTime {
            year: 2024,
            month: 0,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            utc_offset: -(5 * 3600 + 30 * 60),
        };
        assert_eq!(time.offset_string(), "-0530");
        time.utc_offset = 3600;
        assert_eq!(time.offset_string(), "+0100");
        assert_eq!(time.full(5), "2024-01-01 00:00:00.000000005 +0100");
    }
}
