//! usage: rescue uptime [-p] [-s] [-P]
//!
//! How long the system has been running, as procps-ng 4 `uptime`:
//! ` HH:MM:SS up TIME,  N users,  load average: 1m, 5m, 15m`.
//!   -p, --pretty    `up 2 days, 3 hours, 4 minutes`
//!   -s, --since     when the system booted, `YYYY-MM-DD HH:MM:SS`
//!   -P, --pressure  ours: then the pressure stall lines of /proc/pressure/{cpu,memory,io},
//!                   each as `pressure cpu some avg10=... avg60=... avg300=... total=...`
//!                   (only when asked, so the first line stays what scripts parse)
//! Users are the USER_PROCESS records of /var/run/utmp (0 when there is none, as on hosts
//! whose logins only systemd-logind knows).

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

use super::Exit;
use crate::sys::process;
use crate::sys::procfs;
use crate::sys::sysinfo;

#[derive(Parser)]
#[command(about = "Tell how long the system has been running")]
pub(super) struct Args {
    /// show uptime in pretty format
    #[arg(short = 'p', long = "pretty")]
    pretty: bool,
    /// system up since
    #[arg(short = 's', long = "since")]
    since: bool,
    /// add the pressure stall information lines
    #[arg(short = 'P', long = "pressure")]
    pressure: bool,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    procfs::require_proc().map_err(|err| Exit::failed(2, err))?;
    let uptime = process::uptime().map_err(|err| Exit::failed(1, err))?;
    let now = now();
    let mut text = if args.since {
        // procps rounds the boot time from the fractional clock.
        let exact = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let booted = (exact - uptime + 0.5) as i64;
        strftime("%Y-%m-%d %H:%M:%S", booted) + "\n"
    } else if args.pretty {
        pretty(uptime) + "\n"
    } else {
        format!(
            " {}\n",
            summary(now, uptime).map_err(|err| Exit::failed(1, err))?
        )
    };
    if args.pressure {
        for resource in ["cpu", "memory", "io"] {
            for line in sysinfo::pressure(resource).unwrap_or_default() {
                text.push_str(&format!("pressure {resource} {line}\n"));
            }
        }
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| Exit::write_error(1, &err))?;
    Ok(0)
}

pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn strftime(format: &str, seconds: i64) -> String {
    crate::sys::strftime::strftime(format.as_bytes(), seconds, 0)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// `HH:MM:SS up 1 day,  2:03,  1 user,  load average: 0.00, 0.01, 0.05` (procps'
/// `sprint_uptime`; `top` starts with it too).
pub(super) fn summary(now: i64, uptime: f64) -> crate::Result<String> {
    let seconds = uptime as u64;
    let mut text = format!("{} up ", strftime("%H:%M:%S", now));
    let days = seconds / 86400;
    if days > 0 {
        let unit = if days != 1 { "days" } else { "day" };
        text.push_str(&format!("{days} {unit}, "));
    }
    let (hours, minutes) = (seconds / 3600 % 24, seconds / 60 % 60);
    if hours > 0 {
        text.push_str(&format!("{hours:2}:{minutes:02}, "));
    } else {
        text.push_str(&format!("{minutes} min, "));
    }
    let users = sysinfo::logged_in_users();
    let unit = if users > 1 { "users" } else { "user" };
    text.push_str(&format!("{users:2} {unit}, "));
    let load = sysinfo::load_average()?;
    let shown: Vec<String> = load
        .iter()
        .map(|hundredths| format!("{}.{:02}", hundredths / 100, hundredths % 100))
        .collect();
    text.push_str(&format!(" load average: {}", shown.join(", ")));
    Ok(text)
}

/// `up 1 week, 2 days, 3 hours, 4 minutes`, as procps 4.0's `uptime -p` counts: each unit is
/// taken off only when strictly more than one of it is left (so exactly one day is
/// `24 hours`), weeks are not folded into years, and the minutes always end the line, `0
/// minutes` included, unless exactly a minute is left over.
fn pretty(seconds: f64) -> String {
    const UNITS: [(f64, &str); 5] = [
        (86400.0 * 365.0 * 10.0, "decade"),
        (86400.0 * 365.0, "year"),
        (86400.0 * 7.0, "week"),
        (86400.0, "day"),
        (3600.0, "hour"),
    ];
    let mut left = seconds;
    let mut parts = Vec::new();
    for (size, unit) in UNITS {
        if left > size {
            let count = (left / size).floor();
            left -= count * size;
            let plural = if count > 1.0 { "s" } else { "" };
            parts.push(format!("{count} {unit}{plural}"));
        }
    }
    let mut minutes = 0.0;
    if left > 60.0 {
        minutes = (left / 60.0).floor();
        left -= minutes * 60.0;
    }
    if minutes > 0.0 || left < 60.0 {
        let plural = if minutes != 1.0 { "s" } else { "" };
        parts.push(format!("{minutes} minute{plural}"));
    }
    format!("up {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_as_procps() {
        assert_eq!(
            pretty(18.0 * 3600.0 + 42.0 * 60.0 + 5.0),
            "up 18 hours, 42 minutes"
        );
        assert_eq!(pretty(86400.0 + 61.5), "up 1 day, 1 minute");
        assert_eq!(pretty(30.0), "up 0 minutes");
        // The hour with no minutes that procps still prints, and its edges.
        assert_eq!(pretty(23.0 * 3600.0 + 12.0), "up 23 hours, 0 minutes");
        assert_eq!(pretty(86400.0), "up 24 hours, 0 minutes");
        assert_eq!(pretty(9.0 * 86400.0 + 30.0), "up 1 week, 2 days, 0 minutes");
        assert_eq!(pretty(3600.0 + 60.0), "up 1 hour");
    }
}
