//! usage: rescue dmesg [-T|-t] [-l LEVELS] [-f FACILITIES] [-k|-u] [-r] [-x] [-w] [-S]
//!
//! Print the kernel's ring buffer as util-linux 2.38 `dmesg` prints it when standard output
//! is not a terminal (no colour, no pager):
//!   -T, --ctime        `[Thu Dec  3 13:16:02 2026]`: boot time plus the record's time (wrong
//!                      after a suspend, as util-linux warns)
//!   -t, --notime       no timestamps
//!   -l, --level LIST   only these levels: emerg, alert, crit, err, warn, notice, info, debug
//!                      (or 0-7), separated by commas
//!   -f, --facility LIST  only these facilities: kern, user, mail, daemon, auth, syslog,
//!                      lpr, news, uucp, cron, authpriv, ftp, local0-local7
//!   -k, --kernel       kernel messages only (not those written to /dev/kmsg by programs)
//!   -u, --userspace    messages written by programs only
//!   -r, --raw          `<PRI>[    1.234567] message`, as the buffer holds it (util-linux
//!                      2.38 reading /dev/kmsg prints facility OR level, `<5>` for a user
//!                      notice; we print the real PRI, `<13>`, as its `-S -r` does)
//!   -x, --decode       facility and level in words: `kern  :info  : [    1.234567] ...`
//!   -w, --follow       wait for new messages
//!   -S, --syslog       read with the syslog(2) call rather than /dev/kmsg
//!
//! Records are read from /dev/kmsg; when it cannot be opened (an empty chroot has no /dev)
//! the syslog(2) call is used, which needs no file at all. The kernel's `\xNN` escapes are
//! decoded, then bytes that are not printable are shown as `\xNN` again (as util-linux does
//! in the current locale: UTF-8 text passes when LANG/LC_* name UTF-8); the key=value lines
//! that follow a /dev/kmsg record are dropped. Not done: `-c` (clearing the buffer is no
//! rescue task), `--since`, JSON.

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

use super::Exit;
use crate::sys::syslog::{read_klogctl, read_kmsg, KernelRecord};

#[derive(Parser)]
#[command(about = "Print the kernel ring buffer")]
pub(super) struct Args {
    /// show human-readable timestamps
    #[arg(short = 'T', long = "ctime", conflicts_with = "notime")]
    ctime: bool,
    /// do not show timestamps
    #[arg(short = 't', long = "notime")]
    notime: bool,
    /// restrict output to these levels
    #[arg(short = 'l', long = "level", value_name = "LIST")]
    level: Option<String>,
    /// restrict output to these facilities
    #[arg(short = 'f', long = "facility", value_name = "LIST")]
    facility: Option<String>,
    /// kernel messages only
    #[arg(short = 'k', long = "kernel", conflicts_with = "userspace")]
    kernel: bool,
    /// userspace messages only
    #[arg(short = 'u', long = "userspace")]
    userspace: bool,
    /// print the raw message buffer
    #[arg(short = 'r', long = "raw", conflicts_with = "decode")]
    raw: bool,
    /// decode facility and level to words
    #[arg(short = 'x', long = "decode")]
    decode: bool,
    /// wait for new messages
    #[arg(short = 'w', long = "follow")]
    follow: bool,
    /// use the syslog(2) call rather than /dev/kmsg
    #[arg(short = 'S', long = "syslog")]
    syslog: bool,
}

const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
];
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "res0", "res1", "res2", "res3", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// How records are printed.
struct Style {
    levels: Option<[bool; 8]>,
    facilities: Option<[bool; 24]>,
    kernel_only: bool,
    userspace_only: bool,
    raw: bool,
    decode: bool,
    time: Time,
    utf8: bool,
}

enum Time {
    None,
    Monotonic,
    /// The boot's wall-clock time in seconds (with the time spent suspended), for `-T`.
    Ctime(i64),
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    if args.follow && args.syslog {
        return Err(Exit::usage("--follow needs /dev/kmsg, not --syslog"));
    }
    let levels = args
        .level
        .as_deref()
        .map(|list| parse_names(list, &LEVELS, "level"))
        .transpose()?;
    let facilities = args
        .facility
        .as_deref()
        .map(|list| parse_names(list, &FACILITIES, "facility"))
        .transpose()?;
    let time = if args.notime {
        Time::None
    } else if args.ctime {
        Time::Ctime(boot_seconds())
    } else {
        Time::Monotonic
    };
    let style = Style {
        levels,
        facilities,
        kernel_only: args.kernel,
        userspace_only: args.userspace,
        raw: args.raw,
        decode: args.decode,
        time,
        utf8: utf8_locale(),
    };
    let mut out = std::io::stdout().lock();
    let mut failed = None;
    let mut each = |record: KernelRecord| {
        let line = style.format(&record);
        let written = out.write_all(&line);
        let written = if args.follow {
            written.and_then(|()| out.flush())
        } else {
            written
        };
        written.map_err(|err| failed = Some(err)).is_ok()
    };
    let kmsg = if args.syslog {
        None
    } else {
        Some(read_kmsg(args.follow, &mut each))
    };
    match kmsg {
        Some(Ok(())) => {}
        Some(Err(kmsg_error)) if !args.follow => match read_klogctl() {
            Ok(records) => {
                let _ = records.into_iter().all(&mut each);
            }
            Err(call_error) => {
                return Err(Exit::failed(
                    1,
                    format!("cannot read the kernel log: {kmsg_error}; nor with the syslog call: {call_error}"),
                ))
            }
        },
        Some(Err(err)) => return Err(Exit::failed(1, err)),
        None => {
            let records = read_klogctl().map_err(|err| Exit::failed(1, err))?;
            let _ = records.into_iter().all(&mut each);
        }
    }
    if let Some(err) = failed {
        return Err(Exit::write_error(1, &err));
    }
    out.flush().map_err(|err| Exit::write_error(1, &err))?;
    Ok(0)
}

/// A comma-separated list of names (or their numbers) from `names`, as a set.
fn parse_names<const N: usize>(
    text: &str,
    names: &[&str; N],
    what: &str,
) -> Result<[bool; N], Exit> {
    let mut wanted = [false; N];
    for word in text.split(',') {
        let at = match word.parse::<usize>() {
            Ok(n) if n < N => n,
            _ => names
                .iter()
                .position(|l| *l == word)
                .ok_or_else(|| Exit::usage(format!("unknown {what} '{word}'")))?,
        };
        wanted[at] = true;
    }
    Ok(wanted)
}

impl Style {
    /// The record as util-linux prints it, newline included; empty when filtered out.
    fn format(&self, record: &KernelRecord) -> Vec<u8> {
        let level = usize::from(record.level);
        let facility = usize::from(record.facility);
        if self.levels.is_some_and(|wanted| !wanted[level & 7])
            || self
                .facilities
                .is_some_and(|wanted| !wanted.get(facility).copied().unwrap_or(false))
            || (self.kernel_only && facility != 0)
            || (self.userspace_only && facility == 0)
        {
            return Vec::new();
        }
        if record.message.is_empty() {
            return b"\n".to_vec();
        }
        let (secs, micros) = (record.usec / 1_000_000, record.usec % 1_000_000);
        let mut line = Vec::new();
        let stamp = if self.raw {
            let pri = (u32::from(record.facility) << 3) | u32::from(record.level);
            format!("<{pri}>[{secs:5}.{micros:06}] ")
        } else {
            let facility = FACILITIES.get(usize::from(record.facility));
            if let (true, Some(facility)) = (self.decode, facility) {
                let decoded = format!("{facility:<6}:{:<6}: ", LEVELS[level & 7]);
                line.extend_from_slice(decoded.as_bytes());
            }
            match self.time {
                Time::None => String::new(),
                Time::Monotonic => format!("[{secs:5}.{micros:06}] "),
                Time::Ctime(boot) => {
                    let when = boot.saturating_add(secs as i64);
                    let text = crate::sys::strftime::strftime(b"%a %b %e %H:%M:%S %Y", when, 0)
                        .unwrap_or_default();
                    format!("[{}] ", String::from_utf8_lossy(&text))
                }
            }
        };
        line.extend_from_slice(stamp.as_bytes());
        // Later lines of a message start under its first, past the level and the time.
        let indent = line.len();
        self.escape_into(&record.message, indent, &mut line);
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        line
    }

    /// util-linux's `safe_fwrite`: bytes that are neither printable nor space as `\xNN`, and
    /// each inner newline followed by the timestamp's width of spaces.
    fn escape_into(&self, message: &[u8], indent: usize, line: &mut Vec<u8>) {
        let mut i = 0;
        while i < message.len() {
            let byte = message[i];
            if byte >= 0x80 && self.utf8 {
                let len = utf8_printable_len(&message[i..]);
                if len > 0 {
                    line.extend_from_slice(&message[i..i + len]);
                    i += len;
                    continue;
                }
            }
            let printable = (0x20..0x7f).contains(&byte) || (b'\t'..=b'\r').contains(&byte);
            if byte == b'\n' && i + 1 < message.len() && indent > 0 {
                line.push(b'\n');
                line.resize(line.len() + indent, b' ');
            } else if printable {
                line.push(byte);
            } else {
                line.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
            }
            i += 1;
        }
    }
}

/// The length of the printable UTF-8 character `bytes` starts with, or 0.
fn utf8_printable_len(bytes: &[u8]) -> usize {
    let len = match bytes[0] {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return 0,
    };
    match bytes.get(..len).map(std::str::from_utf8) {
        Some(Ok(text)) if !text.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)) => len,
        _ => 0,
    }
}

/// Whether the locale the C library would use is UTF-8 (LC_ALL, then LC_CTYPE, then LANG).
fn utf8_locale() -> bool {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.is_empty())
        .unwrap_or_default()
        .to_ascii_lowercase();
    locale.contains("utf-8") || locale.contains("utf8")
}

/// The wall-clock second the kernel's log clock started, as util-linux computes it: now minus
/// the time since boot (`CLOCK_BOOTTIME`), plus the time spent suspended (`CLOCK_BOOTTIME` -
/// `CLOCK_MONOTONIC`, during which the log clock stood still).
fn boot_seconds() -> i64 {
    let clock = |id| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec for the call to fill.
        unsafe { libc::clock_gettime(id, &mut ts) };
        // `time_t` and `c_long` are i64 on our targets; `from` keeps 32-bit ones building.
        #[allow(clippy::useless_conversion)]
        let micros = i64::from(ts.tv_sec) * 1_000_000 + i64::from(ts.tv_nsec) / 1000;
        micros
    };
    let now = clock(libc::CLOCK_REALTIME);
    let boottime = clock(libc::CLOCK_BOOTTIME);
    let monotonic = clock(libc::CLOCK_MONOTONIC);
    let boot = now - boottime;
    boot.div_euclid(1_000_000) + (boottime - monotonic) / 1_000_000
}
