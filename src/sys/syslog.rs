//! Text logs and the kernel's ring buffer, as `log` and `dmesg` read them. Owns: which syslog
//! files exist under ROOT and the order their rotations are read in (oldest first), opening a
//! text or gzip'ed log, the time a syslog line carries (RFC 3339, rsyslog's default on Debian
//! 12, or the traditional `Dec  3 13:16:02` whose year is guessed from the file's mtime), and
//! the kernel's records from `/dev/kmsg` or the `syslog(2)` call (`klogctl`). It does not
//! filter or print; the applets do.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::input::open_regular;
use super::root::Last;
use crate::{Error, Result};

/// The files rsyslog and syslog-ng write on Debian-family systems.
pub const SYSLOG_NAMES: &[&str] = &[
    "syslog",
    "messages",
    "kern.log",
    "auth.log",
    "daemon.log",
    "user.log",
];

/// The syslog files under `dir` (ROOT/var/log), each name's rotations oldest first: the highest
/// `NAME.N[.gz]` first, down to `NAME.1`, then the live `NAME`.
pub fn syslog_files(dir: &Path) -> Vec<PathBuf> {
    let names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(_) => return Vec::new(),
    };
    let mut files = Vec::new();
    for base in SYSLOG_NAMES {
        let mut rotated: Vec<(u32, &String)> = names
            .iter()
            .filter_map(|name| {
                let rest = name.strip_prefix(base)?.strip_prefix('.')?;
                let number = rest.strip_suffix(".gz").unwrap_or(rest);
                Some((number.parse::<u32>().ok()?, name))
            })
            .collect();
        rotated.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        files.extend(rotated.into_iter().map(|(_, name)| dir.join(name)));
        if names.iter().any(|name| name == base) {
            files.push(dir.join(base));
        }
    }
    files
}

/// A text log opened for reading, decompressed when it starts with gzip's magic bytes.
pub fn open_text(path: &Path) -> Result<Box<dyn Read>> {
    use std::os::unix::fs::FileExt;
    let file = open_regular(path, Last::Follow).map_err(|err| Error::io("open", path, err))?;
    let mut magic = [0u8; 2];
    // Read in place, so that the decoder starts at the start and is the very decoder apt's
    // index reader uses (one copy of its code in the binary).
    let got = file
        .read_at(&mut magic, 0)
        .map_err(|err| Error::io("read", path, err))?;
    if got == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Ok(Box::new(file))
    }
}

/// Turns syslog line stamps into microseconds since the epoch. The traditional stamp has no
/// year: it is the year of the file's last change, or the one before for a month after that
/// change's month (a December line in a file last written in January).
pub struct LineClock {
    year: i64,
    month: u32,
}

impl LineClock {
    /// `mtime` in seconds since the epoch.
    pub fn new(mtime: i64) -> LineClock {
        let local = super::localtime::LocalTime::of(mtime);
        LineClock {
            year: local.map_or(1970, |t| t.year),
            month: local.map_or(11, |t| t.month),
        }
    }

    /// The time a line starts with, if it starts with one.
    pub fn stamp(&self, line: &[u8]) -> Option<i64> {
        if line.first().is_some_and(u8::is_ascii_digit) {
            rfc3339(line)
        } else {
            self.traditional(line)
        }
    }

    fn traditional(&self, line: &[u8]) -> Option<i64> {
        let text = std::str::from_utf8(line.get(..15)?).ok()?;
        let month = super::localtime::MONTHS
            .iter()
            .position(|m| text.get(..3) == Some(m))? as u32;
        if text.as_bytes()[3] != b' ' {
            return None;
        }
        let day: i32 = text.get(4..6)?.trim_start().parse().ok()?;
        let (hour, minute, second) = clock(text.get(7..15)?)?;
        let year = if month > self.month {
            self.year - 1
        } else {
            self.year
        };
        local_seconds(year, month, day, hour, minute, second).map(|s| s * 1_000_000)
    }
}

/// `HH:MM:SS`.
fn clock(text: &str) -> Option<(i32, i32, i32)> {
    let b = text.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let hour = text.get(0..2)?.parse().ok()?;
    let minute = text.get(3..5)?.parse().ok()?;
    let second = text.get(6..8)?.parse().ok()?;
    Some((hour, minute, second))
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm)` at the start of a line, in microseconds.
fn rfc3339(line: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(line.get(..line.len().min(40))?)
        .ok()
        .or_else(|| std::str::from_utf8(line.get(..19)?).ok())?;
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') {
        return None;
    }
    let year: i64 = text.get(0..4)?.parse().ok()?;
    let month: i64 = text.get(5..7)?.parse().ok()?;
    let day: i64 = text.get(8..10)?.parse().ok()?;
    let (hour, minute, second) = clock(text.get(11..19)?)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut rest = &text[19..];
    let mut micros = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let kept = &frac[..digits.min(6)];
        micros = kept.parse::<i64>().unwrap_or(0) * 10i64.pow(6 - kept.len() as u32);
        rest = &frac[digits..];
    }
    let offset = if rest.starts_with('Z') {
        0
    } else {
        let sign = match rest.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let hh: i64 = rest.get(1..3)?.parse().ok()?;
        let mm: i64 = rest.get(4..6)?.parse().ok()?;
        sign * (hh * 3600 + mm * 60)
    };
    let days = super::civil::days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset;
    Some(secs * 1_000_000 + micros)
}

/// Seconds since the epoch of a local date and time (the C library's `mktime`, which reads
/// `TZ` and /etc/localtime itself).
pub fn local_seconds(
    year: i64,
    month: u32,
    day: i32,
    hour: i32,
    min: i32,
    sec: i32,
) -> Option<i64> {
    // SAFETY: an all-zero `tm` is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = i32::try_from(year - 1900).ok()?;
    tm.tm_mon = month as i32;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    tm.tm_isdst = -1;
    // SAFETY: `tm` is a valid, initialised struct for the call.
    let secs = unsafe { libc::mktime(&mut tm) };
    #[allow(clippy::useless_conversion)]
    (secs != -1).then(|| i64::from(secs))
}

/// One record of the kernel's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRecord {
    pub facility: u8,
    pub level: u8,
    /// `/dev/kmsg`'s sequence number; `None` from `syslog(2)`.
    pub seq: Option<u64>,
    /// Microseconds since boot (the kernel's clock, which stops during suspend).
    pub usec: u64,
    pub message: Vec<u8>,
}

/// Parses one `/dev/kmsg` record: `PRI,SEQ,USEC,FLAGS[,...];MESSAGE` and continuation lines
/// (` KEY=value`, dropped as util-linux does). `\xNN` escapes in the message are decoded.
pub fn parse_kmsg(record: &[u8]) -> Option<KernelRecord> {
    let semi = record.iter().position(|&b| b == b';')?;
    let head = std::str::from_utf8(&record[..semi]).ok()?;
    let mut fields = head.split(',');
    let pri: u32 = fields.next()?.parse().ok()?;
    let seq: u64 = fields.next()?.parse().ok()?;
    let usec: u64 = fields.next()?.parse().ok()?;
    let body = &record[semi + 1..];
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    Some(KernelRecord {
        facility: (pri >> 3).min(255) as u8,
        level: (pri & 7) as u8,
        seq: Some(seq),
        usec,
        message: unhex(&body[..end]),
    })
}

/// The kernel's `\xNN` escapes decoded (`\x0a` back to a newline, as util-linux does).
fn unhex(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\\' && text.get(i + 1) == Some(&b'x') {
            if let Some(byte) = text
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

/// Reads `/dev/kmsg`: every record now in the buffer (non-blocking, to EAGAIN), handing each
/// to `each`; with `follow`, then waits for new ones until `each` returns false.
pub fn read_kmsg(follow: bool, mut each: impl FnMut(KernelRecord) -> bool) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = Path::new("/dev/kmsg");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|err| Error::io("open", path, err))?;
    let mut buf = vec![0u8; 16 << 10];
    let mut blocking = false;
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if let Some(record) = parse_kmsg(&buf[..n]) {
                    if !each(record) {
                        return Ok(());
                    }
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            // The oldest records were overwritten while we read: go on with the next.
            Err(err) if err.raw_os_error() == Some(libc::EPIPE) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock && !blocking => {
                if !follow {
                    return Ok(());
                }
                set_blocking(&file).map_err(|err| Error::io("read", path, err))?;
                blocking = true;
            }
            Err(err) => return Err(Error::io("read", path, err)),
        }
    }
}

fn set_blocking(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor `file` owns, integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The whole kernel buffer through `syslog(2)` (`SYSLOG_ACTION_READ_ALL`), which needs no
/// `/dev` at all: lines `<PRI>[SECONDS.MICROS] MESSAGE`.
pub fn read_klogctl() -> Result<Vec<KernelRecord>> {
    const SIZE_BUFFER: libc::c_int = 10;
    const READ_ALL: libc::c_int = 3;
    let what = Path::new("syslog(2)");
    // SAFETY: SIZE_BUFFER ignores the buffer arguments.
    let size = unsafe { libc::klogctl(SIZE_BUFFER, std::ptr::null_mut(), 0) };
    if size < 0 {
        return Err(Error::io("call", what, io::Error::last_os_error()));
    }
    let mut buf = vec![0u8; (size as usize).clamp(4096, 1 << 26)];
    let len = i32::try_from(buf.len()).unwrap_or(i32::MAX);
    // SAFETY: `buf` holds `len` writable bytes.
    let got = unsafe { libc::klogctl(READ_ALL, buf.as_mut_ptr().cast(), len) };
    if got < 0 {
        return Err(Error::io("call", what, io::Error::last_os_error()));
    }
    buf.truncate(got as usize);
    Ok(buf
        .split(|&b| b == b'\n')
        .filter_map(parse_klog_line)
        .collect())
}

/// One `syslog(2)` line: `<PRI>[ SECONDS.MICROS] MESSAGE`.
fn parse_klog_line(line: &[u8]) -> Option<KernelRecord> {
    let rest = line.strip_prefix(b"<")?;
    let close = rest.iter().position(|&b| b == b'>')?;
    let pri: u32 = std::str::from_utf8(&rest[..close]).ok()?.parse().ok()?;
    let rest = &rest[close + 1..];
    let (usec, message) = match rest.strip_prefix(b"[") {
        Some(stamp) => {
            let close = stamp.iter().position(|&b| b == b']')?;
            let text = std::str::from_utf8(&stamp[..close]).ok()?.trim();
            let (secs, micros) = text.split_once('.').unwrap_or((text, "0"));
            let usec = secs.parse::<u64>().ok()? * 1_000_000 + micros.parse::<u64>().ok()?;
            let message = &stamp[close + 1..];
            (usec, message.strip_prefix(b" ").unwrap_or(message))
        }
        None => (0, rest),
    };
    Some(KernelRecord {
        facility: (pri >> 3).min(255) as u8,
        level: (pri & 7) as u8,
        seq: None,
        usec,
        message: message.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_stamps() {
        let line = b"2026-12-03T13:16:02.123456+01:00 host sshd[1]: hi";
        let expect =
            (super::super::civil::days_from_civil(2026, 12, 3) * 86_400 + 12 * 3600 + 16 * 60 + 2)
                * 1_000_000
                + 123_456;
        assert_eq!(rfc3339(line), Some(expect));
        assert_eq!(
            rfc3339(b"2026-12-03T13:16:02Z x"),
            Some(expect - 123_456 + 3600 * 1_000_000)
        );
        assert_eq!(rfc3339(b"2026-13-03T13:16:02Z x"), None);
        assert_eq!(rfc3339(b"12"), None);
    }

    #[test]
    fn kmsg_records_and_klog_lines() {
        let record = parse_kmsg(b"12,345,678901,-;hello\\x0aworld\\x\n SUBSYSTEM=x\n").unwrap();
        assert_eq!(
            (record.facility, record.level, record.seq),
            (1, 4, Some(345))
        );
        assert_eq!(record.usec, 678_901);
        assert_eq!(record.message, b"hello\nworld\\x");
        let line = parse_klog_line(b"<6>[   12.000034] eth0: up").unwrap();
        assert_eq!((line.level, line.usec), (6, 12_000_034));
        assert_eq!(line.message, b"eth0: up");
        assert!(parse_kmsg(b"garbage").is_none());
        assert!(parse_klog_line(b"<x>").is_none());
    }

    #[test]
    fn rotations_are_read_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "syslog",
            "syslog.1",
            "syslog.2.gz",
            "syslog.10.gz",
            "auth.log",
            "other",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let names: Vec<String> = syslog_files(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "syslog.10.gz",
                "syslog.2.gz",
                "syslog.1",
                "syslog",
                "auth.log"
            ]
        );
    }
}
