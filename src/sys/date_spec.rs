//! Absolute dates as `touch -d` and `touch -t` take them, turned into seconds since the epoch.
//! Owns the small grammar below and the local-time offset; it does not set any time.
//!
//! `-d`: `now`, `today`, `@EPOCH[.frac]`, `YYYY-MM-DD`, `YYYY-MM-DD[ T]HH:MM[:SS[.frac]]`,
//! `HH:MM[:SS]` (today), each optionally followed by a zone: `Z`, `UTC`, `UT`, `GMT`, or a
//! numeric offset (`+02:00`, `-0500`). GNU's relative items (`yesterday`, `1 day ago`) are not
//! understood and are refused rather than guessed.
//! `-t`: `[[CC]YY]MMDDhhmm[.ss]`, POSIX's two-digit years (69-99 are 19xx).
//!
//! Local time is the zone of `$TZ` (a file name under /usr/share/zoneinfo, or an absolute path)
//! or else `/etc/localtime`, read as TZif; with neither readable it is UTC, as glibc does. Past
//! the last transition a TZif file lists, its last offset holds: the POSIX rule string at the
//! end of the file (DST after 2037 in Debian's "fat" files) is not interpreted.

use std::path::{Path, PathBuf};

use super::civil::{days_from_civil, days_in_month, Civil};

/// Seconds since the epoch and nanoseconds, as `struct timespec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instant {
    pub secs: i64,
    pub nanos: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidDate;

/// Parses a `touch -d` date. `now` is the current time.
pub fn parse_date(text: &str, now: Instant) -> Result<Instant, InvalidDate> {
    parse_date_in(text, now, &LocalZone::load())
}

/// Parses a `touch -t` stamp in local time; `now` supplies the year when the stamp has none.
pub fn parse_stamp(text: &str, now: Instant) -> Result<Instant, InvalidDate> {
    parse_stamp_in(text, now, &LocalZone::load())
}

fn parse_date_in(text: &str, now: Instant, zone: &LocalZone) -> Result<Instant, InvalidDate> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    if lower == "now" || lower == "today" {
        return Ok(now);
    }
    if let Some(epoch) = text.strip_prefix('@') {
        return parse_epoch(epoch.trim());
    }
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let (year, month, day) = if cursor.looks_like_time() {
        let today = Civil::from_secs(now.secs + zone.offset_at(now.secs));
        (today.year, today.month, today.day)
    } else {
        let year = cursor.number(1, 4).ok_or(InvalidDate)?;
        cursor.expect(b'-')?;
        let month = cursor.number(1, 2).ok_or(InvalidDate)?;
        cursor.expect(b'-')?;
        let day = cursor.number(1, 2).ok_or(InvalidDate)?;
        if matches!(cursor.peek(), Some(b'T' | b't')) {
            cursor.at += 1;
        }
        cursor.skip_spaces();
        (year, month, day)
    };
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0);
    if cursor.peek().is_some_and(|b| b.is_ascii_digit()) {
        hour = cursor.number(1, 2).ok_or(InvalidDate)?;
        cursor.expect(b':')?;
        minute = cursor.number(2, 2).ok_or(InvalidDate)?;
        if cursor.peek() == Some(b':') {
            cursor.at += 1;
            second = cursor.number(2, 2).ok_or(InvalidDate)?;
            if matches!(cursor.peek(), Some(b'.' | b',')) {
                cursor.at += 1;
                nanos = cursor.fraction()?;
            }
        }
    }
    cursor.skip_spaces();
    let offset = cursor.zone()?;
    cursor.skip_spaces();
    if cursor.at != cursor.bytes.len() {
        return Err(InvalidDate);
    }
    let naive = naive_secs(year, month, day, hour, minute, second)?;
    let secs = match offset {
        Some(offset) => naive - offset,
        None => zone.to_utc(naive),
    };
    Ok(Instant { secs, nanos })
}

fn parse_epoch(text: &str) -> Result<Instant, InvalidDate> {
    let (whole, frac) = match text.split_once(['.', ',']) {
        Some((whole, frac)) => (whole, Some(frac)),
        None => (text, None),
    };
    let negative = whole.starts_with('-');
    let digits = whole.trim_start_matches(['-', '+']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidDate);
    }
    let mut secs: i64 = digits.parse().map_err(|_| InvalidDate)?;
    let mut nanos = match frac {
        Some(frac) => {
            let mut cursor = Cursor {
                bytes: frac.as_bytes(),
                at: 0,
            };
            let nanos = cursor.fraction()?;
            if cursor.at != frac.len() {
                return Err(InvalidDate);
            }
            nanos
        }
        None => 0,
    };
    if negative {
        secs = -secs;
        // timespec keeps nanoseconds positive: -1.5 s is -2 s + 0.5 s.
        if nanos > 0 {
            secs -= 1;
            nanos = 1_000_000_000 - nanos;
        }
    }
    Ok(Instant { secs, nanos })
}

fn parse_stamp_in(text: &str, now: Instant, zone: &LocalZone) -> Result<Instant, InvalidDate> {
    let (digits, seconds) = match text.split_once('.') {
        Some((digits, seconds)) => (digits, Some(seconds)),
        None => (text, None),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidDate);
    }
    let field = |from: usize| -> i64 {
        digits[from..from + 2]
            .bytes()
            .fold(0, |n, b| n * 10 + i64::from(b - b'0'))
    };
    let (year, rest) = match digits.len() {
        8 => (
            Civil::from_secs(now.secs + zone.offset_at(now.secs)).year,
            0,
        ),
        10 => {
            let yy = field(0);
            (if yy >= 69 { 1900 + yy } else { 2000 + yy }, 2)
        }
        12 => (field(0) * 100 + field(2), 4),
        _ => return Err(InvalidDate),
    };
    let second = match seconds {
        Some(s) if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.bytes().fold(0, |n, b| n * 10 + i64::from(b - b'0'))
        }
        Some(_) => return Err(InvalidDate),
        None => 0,
    };
    let naive = naive_secs(
        year,
        field(rest),
        field(rest + 2),
        field(rest + 4),
        field(rest + 6),
        second,
    )?;
    Ok(Instant {
        secs: zone.to_utc(naive),
        nanos: 0,
    })
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), InvalidDate> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(InvalidDate)
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    /// `HH:` at the start: a time of today.
    fn looks_like_time(&self) -> bool {
        let b = self.bytes;
        (b.len() >= 3 && b[0].is_ascii_digit() && b[1] == b':')
            || (b.len() >= 4 && b[0].is_ascii_digit() && b[1].is_ascii_digit() && b[2] == b':')
    }

    /// A decimal number of `min..=max` digits.
    fn number(&mut self, min: usize, max: usize) -> Option<i64> {
        let start = self.at;
        let mut value: i64 = 0;
        while self.at - start < max {
            match self.peek() {
                Some(b) if b.is_ascii_digit() => {
                    value = value * 10 + i64::from(b - b'0');
                    self.at += 1;
                }
                _ => break,
            }
        }
        (self.at - start >= min).then_some(value)
    }

    /// Digits after a decimal point as nanoseconds; digits past the ninth are dropped.
    fn fraction(&mut self) -> Result<u32, InvalidDate> {
        let start = self.at;
        let mut nanos: u32 = 0;
        while let Some(b) = self.peek().filter(u8::is_ascii_digit) {
            if self.at - start < 9 {
                nanos = nanos * 10 + u32::from(b - b'0');
            }
            self.at += 1;
        }
        let digits = self.at - start;
        if digits == 0 {
            return Err(InvalidDate);
        }
        for _ in digits..9 {
            nanos *= 10;
        }
        Ok(nanos)
    }

    /// An explicit zone as its offset east of UTC in seconds, or `None` for local time.
    fn zone(&mut self) -> Result<Option<i64>, InvalidDate> {
        let rest = &self.bytes[self.at..];
        for name in [&b"UTC"[..], b"GMT", b"UT", b"Z"] {
            if rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name) {
                self.at += name.len();
                return Ok(Some(0));
            }
        }
        let sign = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Ok(None),
        };
        self.at += 1;
        let start = self.at;
        let hours = self.number(1, 2).ok_or(InvalidDate)?;
        let minutes = if self.peek() == Some(b':') {
            self.at += 1;
            self.number(2, 2).ok_or(InvalidDate)?
        } else if self.at - start == 2 && self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.number(2, 2).ok_or(InvalidDate)?
        } else {
            0
        };
        if hours > 24 || minutes > 59 {
            return Err(InvalidDate);
        }
        Ok(Some(sign * (hours * 3600 + minutes * 60)))
    }
}

/// The wall-clock fields as seconds, as if they were UTC; refuses impossible dates.
fn naive_secs(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> Result<i64, InvalidDate> {
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && (0..=23).contains(&hour)
        && (0..=59).contains(&minute)
        && (0..=59).contains(&second);
    if !valid {
        return Err(InvalidDate);
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Local time's offsets from UTC, from a TZif file; empty means UTC.
#[derive(Debug, Default)]
struct LocalZone {
    /// Transition instants (UTC seconds), ascending, with the offset in force from each on.
    transitions: Vec<(i64, i64)>,
    /// The offset before the first transition.
    initial: i64,
}

impl LocalZone {
    fn load() -> LocalZone {
        let file = match std::env::var_os("TZ") {
            None => Some(PathBuf::from("/etc/localtime")),
            Some(tz) => {
                let tz = tz.to_string_lossy().into_owned();
                let tz = tz.strip_prefix(':').unwrap_or(&tz).to_string();
                if tz.is_empty() || tz == "UTC" || tz == "UTC0" || tz == "GMT" {
                    None
                } else if tz.starts_with('/') {
                    Some(PathBuf::from(tz))
                } else if tz.contains("..") {
                    None
                } else {
                    Some(Path::new("/usr/share/zoneinfo").join(tz))
                }
            }
        };
        file.and_then(|file| std::fs::read(file).ok())
            .and_then(|bytes| LocalZone::from_tzif(&bytes))
            .unwrap_or_default()
    }

    /// Reads the transitions of a TZif file (RFC 8536), the 64-bit block when there is one.
    fn from_tzif(bytes: &[u8]) -> Option<LocalZone> {
        let header = |at: usize| -> Option<[usize; 6]> {
            if bytes.get(at..at + 4)? != b"TZif" {
                return None;
            }
            let mut counts = [0usize; 6];
            for (i, count) in counts.iter_mut().enumerate() {
                let start = at + 20 + i * 4;
                let raw = bytes.get(start..start + 4)?;
                *count = u32::from_be_bytes(raw.try_into().ok()?) as usize;
            }
            Some(counts)
        };
        let block_len = |counts: [usize; 6], time_size: usize| {
            let [isut, isstd, leap, time, types, chars] = counts;
            time * time_size + time + types * 6 + chars + leap * (time_size + 4) + isstd + isut
        };
        let counts = header(0)?;
        let version = *bytes.get(4)?;
        let (at, counts, time_size) = if version >= b'2' {
            let second = 44 + block_len(counts, 4);
            (second, header(second)?, 8)
        } else {
            (0, counts, 4)
        };
        let [_, _, _, time_count, type_count, _] = counts;
        let mut pos = at + 44;
        let mut times = Vec::with_capacity(time_count);
        for _ in 0..time_count {
            let raw = bytes.get(pos..pos + time_size)?;
            times.push(if time_size == 8 {
                i64::from_be_bytes(raw.try_into().ok()?)
            } else {
                i64::from(i32::from_be_bytes(raw.try_into().ok()?))
            });
            pos += time_size;
        }
        let indices = bytes.get(pos..pos + time_count)?.to_vec();
        pos += time_count;
        let mut offsets = Vec::with_capacity(type_count);
        let mut first_standard = None;
        for _ in 0..type_count {
            let raw = bytes.get(pos..pos + 6)?;
            let offset = i64::from(i32::from_be_bytes(raw[..4].try_into().ok()?));
            if raw[4] == 0 && first_standard.is_none() {
                first_standard = Some(offset);
            }
            offsets.push(offset);
            pos += 6;
        }
        let initial = first_standard.or(offsets.first().copied())?;
        let transitions = times
            .into_iter()
            .zip(indices)
            .map(|(time, index)| Some((time, *offsets.get(usize::from(index))?)))
            .collect::<Option<Vec<_>>>()?;
        Some(LocalZone {
            transitions,
            initial,
        })
    }

    /// Seconds east of UTC in force at the UTC instant `secs`.
    fn offset_at(&self, secs: i64) -> i64 {
        let index = self.transitions.partition_point(|&(time, _)| time <= secs);
        if index == 0 {
            self.initial
        } else {
            self.transitions[index - 1].1
        }
    }

    /// Local wall-clock seconds to UTC. A time skipped or repeated by a DST change takes the
    /// offset in force just before the change, as mktime does for most inputs.
    fn to_utc(&self, local: i64) -> i64 {
        let first = local - self.offset_at(local);
        local - self.offset_at(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Instant = Instant {
        secs: 1_700_000_000,
        nanos: 5,
    };

    fn utc(text: &str) -> Result<Instant, InvalidDate> {
        parse_date_in(text, NOW, &LocalZone::default())
    }

    #[test]
    fn dates_times_and_zones() {
        let at = |secs, nanos| Ok(Instant { secs, nanos });
        assert_eq!(utc("2024-02-29"), at(1_709_164_800, 0));
        assert_eq!(utc("2024-02-29 12:30"), at(1_709_209_800, 0));
        assert_eq!(
            utc("2024-02-29T12:30:15.25Z"),
            at(1_709_209_815, 250_000_000)
        );
        assert_eq!(utc("2024-02-29 12:30:15 +01:00"), at(1_709_206_215, 0));
        assert_eq!(utc("@-1.5"), at(-2, 500_000_000));
        assert_eq!(utc("now"), Ok(NOW));
        assert_eq!(utc("1969-12-31 23:59:59 UTC"), at(-1, 0));
        for bad in [
            "2023-02-29",
            "yesterday",
            "2024-01-01 25:00",
            "@x",
            "2024-01-01 junk",
        ] {
            assert_eq!(utc(bad), Err(InvalidDate), "{bad}");
        }
    }

    #[test]
    fn touch_stamps() {
        let zone = LocalZone::default();
        let stamp = |text| parse_stamp_in(text, NOW, &zone).map(|i| i.secs);
        assert_eq!(stamp("202402291230.15"), Ok(1_709_209_815));
        assert_eq!(stamp("6901010000"), Ok(-31_536_000));
        assert_eq!(stamp("11141200"), Ok(1_699_963_200));
        assert_eq!(stamp("2402291230.5"), Err(InvalidDate));
    }

    #[test]
    fn civil_round_trip() {
        for secs in [-86_401, 0, 951_782_400, 4_102_444_799] {
            let t = Civil::from_secs(secs);
            let back = naive_secs(t.year, t.month, t.day, t.hour, t.minute, t.second);
            assert_eq!(back, Ok(secs));
        }
    }
}
