//! Absolute dates as `touch -d` and `touch -t` take them, turned into seconds since the epoch.
//! Owns the small grammar below and the local-time offset; it does not set any time.
//!
//! `-d`, the common part of GNU's `parse_datetime` grammar, items in any order: `@EPOCH[.frac]`
//! alone; a date (`YYYY-MM-DD`, `MM/DD[/YY[YY]]`, `16 jan [2004]`, `jan 16 [2004]`,
//! `YYYYMMDD`); a time (`HH:MM[:SS[.frac]]`, `am`/`pm`, `T` after an ISO date, `HHMM` after a
//! date); a zone (`UTC`, `Z`, `EST`, ... or `+hh[:mm]` after a time); a weekday; relative
//! items (`now`, `today`, `yesterday`, `tomorrow`, `[+-]N unit`, `N unit ago`, `last week`,
//! `next friday`; units year, month, fortnight, week, day, hour, minute/min, second/sec).
//! Relative items move from the date given, or from the base time (now, or `touch -r`'s
//! file): years, months and days on the calendar, the rest in seconds. A date without a time
//! is midnight; with neither, the base's time of day (and nanoseconds) stays.
//! `-t`: `[[CC]YY]MMDDhhmm[.ss]`, POSIX's two-digit years (69-99 are 19xx); `.60` is a leap
//! second, the next minute. [`parse_obsolete_stamp`] is touch's old `MMDDhhmm[YY]` operand.
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

/// Parses a `touch -d` date. `now` is the base time relative items move from.
pub fn parse_date(text: &str, now: Instant) -> Result<Instant, InvalidDate> {
    parse_date_in(text, now, &LocalZone::load())
}

/// Parses a `touch -t` stamp in local time; `now` supplies the year when the stamp has none.
pub fn parse_stamp(text: &str, now: Instant) -> Result<Instant, InvalidDate> {
    parse_stamp_in(text, now, &LocalZone::load())
}

fn parse_date_in(text: &str, now: Instant, zone: &LocalZone) -> Result<Instant, InvalidDate> {
    let text = text.trim();
    if let Some(epoch) = text.strip_prefix('@') {
        return parse_epoch(epoch.trim());
    }
    let mut items = Items::default();
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    loop {
        while cursor
            .peek()
            .is_some_and(|b| b.is_ascii_whitespace() || b == b',')
        {
            cursor.at += 1;
        }
        let Some(byte) = cursor.peek() else { break };
        if byte.is_ascii_digit() {
            items.number_item(&mut cursor)?;
        } else if matches!(byte, b'+' | b'-') {
            items.signed_item(&mut cursor)?;
        } else if byte.is_ascii_alphabetic() {
            let word = cursor.word();
            items.word_item(&word, &mut cursor)?;
        } else {
            return Err(InvalidDate);
        }
    }
    items.resolve(now, zone)
}

/// What a `-d` date said, item by item (GNU `parse_datetime`'s grammar, the common part).
#[derive(Default)]
struct Items {
    date: Option<(i64, i64, i64)>,
    time: Option<(i64, i64, i64, u32)>,
    /// Offset east of UTC, seconds, from a zone item.
    zone: Option<i64>,
    /// Relative years, months, days, hours, minutes, seconds.
    relative: [i64; 6],
    /// The last relative item, which `ago` negates.
    last_relative: Option<(usize, i64)>,
    /// A day of the week (0 = Sunday) and its ordinal (`last` -1, none or `this` 0, `next`
    /// 1, ...), used only when no date is given, as GNU.
    weekday: Option<(i64, i64)>,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// The relative unit a word names: its slot in [`Items::relative`] and multiplier.
fn unit(word: &str) -> Option<(usize, i64)> {
    let word = word
        .strip_suffix('s')
        .filter(|w| w.len() > 2)
        .unwrap_or(word);
    Some(match word {
        "year" => (0, 1),
        "month" => (1, 1),
        "fortnight" => (2, 14),
        "week" => (2, 7),
        "day" => (2, 1),
        "hour" => (3, 1),
        "minute" | "min" => (4, 1),
        "second" | "sec" => (5, 1),
        _ => return None,
    })
}

/// A month's number from its name or its first three letters (`sept` too).
fn month(word: &str) -> Option<i64> {
    let full = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let index = full
        .iter()
        .position(|name| *name == word)
        .or_else(|| MONTHS.iter().position(|name| *name == word))
        .or_else(|| (word == "sept").then_some(8))?;
    Some(index as i64 + 1)
}

fn ordinal(word: &str) -> Option<i64> {
    let words = [
        "last", "this", "next", "first", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
        "ninth", "tenth", "eleventh", "twelfth",
    ];
    let index = words.iter().position(|w| *w == word)? as i64;
    Some(match index {
        0 => -1,
        1 => 0,
        2 | 3 => 1,
        n => n - 1,
    })
}

/// Zone abbreviations GNU knows without a TZ database, as seconds east of UTC.
fn zone_name(word: &str) -> Option<i64> {
    let hours = match word {
        "utc" | "gmt" | "ut" | "z" | "wet" => 0,
        "bst" | "cet" | "met" | "west" => 1,
        "cest" | "eet" | "mest" => 2,
        "eest" | "msk" => 3,
        "ist" => return Some(19_800),
        "jst" | "kst" => 9,
        "est" => -5,
        "edt" | "ast" => -4,
        "cst" => -6,
        "cdt" => -5,
        "mst" => -7,
        "mdt" => -6,
        "pst" => -8,
        "pdt" => -7,
        "akst" => -9,
        "hst" => -10,
        _ => return None,
    };
    Some(hours * 3600)
}

impl Items {
    fn add_relative(&mut self, (slot, scale): (usize, i64), count: i64) {
        self.relative[slot] += count * scale;
        self.last_relative = Some((slot, count * scale));
    }

    fn set_date(&mut self, date: (i64, i64, i64)) -> Result<(), InvalidDate> {
        if self.date.replace(date).is_some() {
            return Err(InvalidDate);
        }
        Ok(())
    }

    fn set_time(&mut self, time: (i64, i64, i64, u32)) -> Result<(), InvalidDate> {
        if self.time.replace(time).is_some() {
            return Err(InvalidDate);
        }
        Ok(())
    }

    /// An item starting with a digit: a date, a time of day, a count of a unit, or a bare
    /// number GNU reads as a date (`20040116`) or a time (`1230` after a date).
    fn number_item(&mut self, cursor: &mut Cursor) -> Result<(), InvalidDate> {
        let start = cursor.at;
        let first = cursor.number(1, 18).ok_or(InvalidDate)?;
        let digits = cursor.at - start;
        match cursor.peek() {
            Some(b':') => {
                cursor.at = start;
                return self.time_item(cursor);
            }
            Some(b'-')
                if cursor
                    .bytes
                    .get(cursor.at + 1)
                    .is_some_and(u8::is_ascii_digit) =>
            {
                cursor.at += 1;
                let month = cursor.number(1, 2).ok_or(InvalidDate)?;
                cursor.expect(b'-')?;
                let day = cursor.number(1, 2).ok_or(InvalidDate)?;
                self.set_date((first, month, day))?;
                return self.after_date(cursor);
            }
            Some(b'/') => {
                cursor.at += 1;
                let day = cursor.number(1, 2).ok_or(InvalidDate)?;
                let year = if cursor.peek() == Some(b'/') {
                    cursor.at += 1;
                    let start = cursor.at;
                    let year = cursor.number(1, 4).ok_or(InvalidDate)?;
                    Some(two_digit_year(year, cursor.at - start))
                } else {
                    None
                };
                return self.set_month_day(year, first, day);
            }
            _ => {}
        }
        let save = cursor.at;
        cursor.skip_spaces();
        if cursor.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            let word_start = cursor.at;
            let word = cursor.word();
            if let Some(unit) = unit(&word) {
                self.add_relative(unit, first);
                return Ok(());
            }
            if let Some(month) = month(&word) {
                // `16 jan [2004]`
                cursor.skip_spaces();
                let year_start = cursor.at;
                let year = cursor
                    .number(1, 4)
                    .map(|year| two_digit_year(year, cursor.at - year_start));
                return self.set_month_day(year, month, first);
            }
            cursor.at = word_start;
        }
        cursor.at = save;
        if self.date.is_some() && self.time.is_none() && digits <= 4 {
            let (hour, minute) = if digits <= 2 {
                (first, 0)
            } else {
                (first / 100, first % 100)
            };
            return self.set_time((hour, minute, 0, 0));
        }
        if digits >= 5 {
            return self.set_date((first / 10_000, first / 100 % 100, first % 100));
        }
        if self.date.is_none() && digits == 4 && self.time.is_some() {
            // `jan 16 12:00 2004`-style trailing years are not GNU's either; refuse.
            return Err(InvalidDate);
        }
        Err(InvalidDate)
    }

    fn set_month_day(
        &mut self,
        year: Option<i64>,
        month: i64,
        day: i64,
    ) -> Result<(), InvalidDate> {
        // A missing year is filled in by `resolve` from the base time.
        self.set_date((year.unwrap_or(i64::MIN), month, day))
    }

    /// `T` between an ISO date and its time.
    fn after_date(&mut self, cursor: &mut Cursor) -> Result<(), InvalidDate> {
        if matches!(cursor.peek(), Some(b'T' | b't'))
            && cursor
                .bytes
                .get(cursor.at + 1)
                .is_some_and(u8::is_ascii_digit)
        {
            cursor.at += 1;
            return self.time_item(cursor);
        }
        Ok(())
    }

    /// `HH:MM[:SS[.frac]]`, then `am`/`pm` and a numeric zone if they follow.
    fn time_item(&mut self, cursor: &mut Cursor) -> Result<(), InvalidDate> {
        let mut hour = cursor.number(1, 2).ok_or(InvalidDate)?;
        cursor.expect(b':')?;
        let minute = cursor.number(1, 2).ok_or(InvalidDate)?;
        let (mut second, mut nanos) = (0, 0);
        if cursor.peek() == Some(b':') {
            cursor.at += 1;
            second = cursor.number(1, 2).ok_or(InvalidDate)?;
            if matches!(cursor.peek(), Some(b'.' | b',')) {
                cursor.at += 1;
                nanos = cursor.fraction()?;
            }
        }
        let save = cursor.at;
        cursor.skip_spaces();
        let word_start = cursor.at;
        let word = cursor.word();
        match word.trim_end_matches('.') {
            "am" | "a.m" if (1..=12).contains(&hour) => hour %= 12,
            "pm" | "p.m" if (1..=12).contains(&hour) => hour = hour % 12 + 12,
            _ => cursor.at = if word.is_empty() { save } else { word_start },
        }
        self.set_time((hour, minute, second, nanos))?;
        let save = cursor.at;
        cursor.skip_spaces();
        if matches!(cursor.peek(), Some(b'+' | b'-')) {
            if let Some(offset) = cursor.zone()? {
                return self.set_zone(offset);
            }
        }
        cursor.at = save;
        Ok(())
    }

    fn set_zone(&mut self, offset: i64) -> Result<(), InvalidDate> {
        if self.zone.replace(offset).is_some() {
            return Err(InvalidDate);
        }
        Ok(())
    }

    /// `+N unit`, `-N unit`; a signed number right after a time is a zone, handled there.
    fn signed_item(&mut self, cursor: &mut Cursor) -> Result<(), InvalidDate> {
        let sign = if cursor.peek() == Some(b'-') { -1 } else { 1 };
        cursor.at += 1;
        cursor.skip_spaces();
        let count = cursor.number(1, 18).ok_or(InvalidDate)?;
        cursor.skip_spaces();
        let word = cursor.word();
        let unit = unit(&word).ok_or(InvalidDate)?;
        self.add_relative(unit, sign * count);
        Ok(())
    }

    fn word_item(&mut self, word: &str, cursor: &mut Cursor) -> Result<(), InvalidDate> {
        let word = word.trim_end_matches('.');
        match word {
            "now" | "today" => return Ok(()),
            "yesterday" | "tomorrow" => {
                self.add_relative((2, 1), if word == "yesterday" { -1 } else { 1 });
                return Ok(());
            }
            "ago" => {
                let (slot, value) = self.last_relative.take().ok_or(InvalidDate)?;
                self.relative[slot] -= 2 * value;
                return Ok(());
            }
            _ => {}
        }
        if let Some(unit) = unit(word) {
            self.add_relative(unit, 1);
            return Ok(());
        }
        if let Some(count) = ordinal(word) {
            cursor.skip_spaces();
            let next = cursor.word();
            let next = next.trim_end_matches('.');
            if let Some(unit) = unit(next) {
                self.add_relative(unit, count);
                return Ok(());
            }
            let day = weekday(next).ok_or(InvalidDate)?;
            self.weekday = Some((day, count));
            return Ok(());
        }
        if let Some(month) = month(word) {
            // `jan 16 [2004]`
            cursor.skip_spaces();
            let day = cursor.number(1, 2).ok_or(InvalidDate)?;
            let save = cursor.at;
            cursor.skip_spaces();
            let year_start = cursor.at;
            let year = match cursor.number(1, 4) {
                Some(year) if cursor.peek() != Some(b':') => {
                    Some(two_digit_year(year, cursor.at - year_start))
                }
                _ => {
                    cursor.at = save;
                    None
                }
            };
            return self.set_month_day(year, month, day);
        }
        if let Some(day) = weekday(word) {
            self.weekday = Some((day, 0));
            return Ok(());
        }
        if let Some(offset) = zone_name(word) {
            return self.set_zone(offset);
        }
        Err(InvalidDate)
    }

    /// The instant: the date and time given (or the base's), in the zone given (or local
    /// time), moved by the relative items, days and longer on the calendar, the rest in
    /// seconds.
    fn resolve(&self, base: Instant, zone: &LocalZone) -> Result<Instant, InvalidDate> {
        let here = |secs: i64| match self.zone {
            Some(offset) => offset,
            None => zone.offset_at(secs),
        };
        let local = Civil::from_secs(base.secs + here(base.secs));
        let (year, month, day) = match self.date {
            Some((year, month, day)) if year == i64::MIN => (local.year, month, day),
            Some(date) => date,
            None => (local.year, local.month, local.day),
        };
        let (hour, minute, second, nanos) = match self.time {
            Some(time) => time,
            None if self.date.is_some() || self.weekday.is_some() => (0, 0, 0, 0),
            None => (local.hour, local.minute, local.second, base.nanos),
        };
        naive_secs(year, month, day, hour, minute, second.min(59))?;
        let [years, months, days, hours, minutes, seconds] = self.relative;
        let months_total = year * 12 + (month - 1) + years * 12 + months;
        let (year, month) = (months_total.div_euclid(12), months_total.rem_euclid(12) + 1);
        let mut day_number = days_from_civil(year, month, 1) + day - 1 + days;
        if let (Some((weekday, ordinal)), None) = (self.weekday, self.date) {
            // 1970-01-01 was a Thursday (4). `next friday` on a Friday is a week on.
            let today = (day_number + 4).rem_euclid(7);
            let this_week = i64::from(ordinal > 0 && today != weekday);
            day_number += (weekday - today).rem_euclid(7) + 7 * (ordinal - this_week);
        }
        let naive = day_number * 86_400 + hour * 3600 + minute * 60 + second;
        let utc = match self.zone {
            Some(offset) => naive - offset,
            None => zone.to_utc(naive),
        };
        Ok(Instant {
            secs: utc + hours * 3600 + minutes * 60 + seconds,
            nanos,
        })
    }
}

fn weekday(word: &str) -> Option<i64> {
    let short = word.get(..3)?;
    let index = WEEKDAYS.iter().position(|day| *day == short)?;
    let full = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    let ok = word.len() == 3
        || word == full[index]
        || matches!(word, "tues" | "wednes" | "thur" | "thurs");
    ok.then_some(index as i64)
}

/// A year written with two digits: 69-99 are 19xx, 00-68 are 20xx (POSIX, and GNU).
fn two_digit_year(year: i64, digits: usize) -> i64 {
    match (digits, year) {
        (1 | 2, 69..) => 1900 + year,
        (1 | 2, _) => 2000 + year,
        _ => year,
    }
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

/// touch's obsolete first operand `MMDDhhmm[YY]` (POSIX 1992), in local time; a two-digit
/// year must be 69-99, as GNU's `PDS_PRE_2000`.
pub fn parse_obsolete_stamp(text: &str, now: Instant) -> Result<Instant, InvalidDate> {
    let bytes = text.as_bytes();
    if !matches!(bytes.len(), 8 | 10) || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(InvalidDate);
    }
    let stamp = if bytes.len() == 10 {
        let year = &text[8..];
        if year < "69" {
            return Err(InvalidDate);
        }
        format!("{year}{}", &text[..8])
    } else {
        text.to_string()
    };
    parse_stamp(&stamp, now)
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
    // A leap second (`.60`) is the first second of the next minute, as mktime makes it.
    let naive = naive_secs(
        year,
        field(rest),
        field(rest + 2),
        field(rest + 4),
        field(rest + 6),
        second.min(59),
    )?;
    Ok(Instant {
        secs: zone.to_utc(naive) + (second - second.min(59)),
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

    /// A run of letters (and dots, as in `a.m.`), lowercased.
    fn word(&mut self) -> String {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'.')
        {
            self.at += 1;
        }
        String::from_utf8_lossy(&self.bytes[start..self.at]).to_ascii_lowercase()
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
        assert_eq!(utc("yesterday"), at(NOW.secs - 86_400, 5));
        assert_eq!(utc("-1 hour"), at(NOW.secs - 3600, 5));
        assert_eq!(utc("2 days ago"), at(NOW.secs - 2 * 86_400, 5));
        assert_eq!(utc("2004-01-16 12:00 +0000 -5 days"), at(1_073_822_400, 0));
        assert_eq!(utc("1998-01-15 23:00"), at(884_905_200, 0));
        // February 31st is March 2nd, as mktime normalizes it.
        assert_eq!(utc("2004-01-31 +01 month"), at(1_078_185_600, 0));
        assert_eq!(utc("jan 16 2004"), at(1_074_211_200, 0));
        assert_eq!(utc("16 January 2004 12:00pm"), at(1_074_254_400, 0));
        for bad in [
            "2023-02-29",
            "yesterdays",
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
        assert_eq!(stamp("197001010000.60"), Ok(60));
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
