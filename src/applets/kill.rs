//! usage: rescue kill [-s SIGNAL | -SIGNAL] PID...
//!        rescue kill -l [SIGNAL]...   |   rescue kill -L
//!        rescue kill [-s SIGNAL | -SIGNAL] -n NAME [--yes]
//!
//! Send a signal (TERM unless told) to processes, as procps-ng 4 `kill`:
//!   -s, --signal SIGNAL   the signal, by name (`KILL`, `SIGKILL`, `kill`) or number; also
//!                         written `-KILL` or `-9` before the pids
//!   -l, --list [SIGNAL]   without SIGNAL, every signal name (procps' layout); with it, the
//!                         number of a name or the name of a number
//!   -L, --table           the signals as a table of numbers and names
//! A negative PID (after `--`) signals that process group.
//!
//! Ours: `-n NAME` selects the processes whose command name (comm) or argv[0]'s file name is
//! exactly NAME (as `pkill -x`, without the C library or /proc tools). Without `--yes` it only
//! lists them (pid and command) and sends nothing; with `--yes` it signals them. Exit status 1
//! when none match or a signal could not be sent. Unlike procps 4.0.2, `-l` of an unknown
//! signal exits 1.

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

use super::{complain, Exit};
use crate::sys::process::{self, Want};
use crate::sys::procfs;

#[derive(Parser)]
#[command(about = "Send a signal to processes")]
pub(super) struct Args {
    /// the signal to send
    #[arg(short = 's', long = "signal", value_name = "SIGNAL")]
    signal: Option<String>,
    /// list signal names, or convert one
    #[arg(short = 'l', long = "list")]
    list: bool,
    /// list signals as a table
    #[arg(short = 'L', long = "table")]
    table: bool,
    /// select processes by exact command name
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    name: Option<String>,
    /// with -n: really send the signal
    #[arg(long = "yes")]
    yes: bool,
    #[arg(value_name = "PID", allow_negative_numbers = true)]
    pids: Vec<String>,
}

/// Signal names 1 to 31 as procps prints them (29 is POLL, not IO).
const NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "POLL", "PWR", "SYS",
];

/// The number of a signal name or number: `KILL`, `SIGKILL`, `kill`, `9`, `RTMIN+2`.
pub(super) fn signal_number(text: &str) -> Option<i32> {
    if let Ok(number) = text.parse::<i32>() {
        return (0..=libc::SIGRTMAX()).contains(&number).then_some(number);
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(at) = NAMES.iter().position(|known| *known == name) {
        return Some(at as i32 + 1);
    }
    let alias = match name {
        "IO" => Some(libc::SIGIO),
        "IOT" => Some(libc::SIGABRT),
        "CLD" => Some(libc::SIGCHLD),
        "RTMIN" => Some(libc::SIGRTMIN()),
        "RTMAX" => Some(libc::SIGRTMAX()),
        _ => None,
    };
    if alias.is_some() {
        return alias;
    }
    let offset = |prefix: &str| name.strip_prefix(prefix)?.parse::<i32>().ok();
    let number = match (offset("RTMIN+"), offset("RTMAX-")) {
        (Some(n), _) => libc::SIGRTMIN() + n,
        (_, Some(n)) => libc::SIGRTMAX() - n,
        _ => return None,
    };
    (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .contains(&number)
        .then_some(number)
}

/// The name of a signal number as `kill -l` prints it.
fn signal_name(number: i32) -> Option<String> {
    if (1..=31).contains(&number) {
        return Some(NAMES[number as usize - 1].to_string());
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    match number {
        n if n == min => Some("RTMIN".into()),
        n if n == max => Some("RTMAX".into()),
        n if n > min && n < max && n - min <= (max - min) / 2 => Some(format!("RTMIN+{}", n - min)),
        n if n > min && n < max => Some(format!("RTMAX-{}", max - n)),
        _ => None,
    }
}

/// `-9`, `-KILL` or `-SIGKILL` as the first argument is `-s` with that signal.
fn signal_option_first(mut args: Vec<OsString>) -> Vec<OsString> {
    let Some(first) = args.first().and_then(|arg| arg.to_str()) else {
        return args;
    };
    if let Some(spec) = first.strip_prefix('-') {
        let is_option = spec.starts_with('-') || ["l", "L", "s", "n"].contains(&spec);
        if !is_option && signal_number(spec).is_some() {
            let spec = spec.to_string();
            args.splice(0..1, [OsString::from("-s"), OsString::from(spec)]);
        }
    }
    args
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, signal_option_first(args))?;
    if args.list {
        return list(name, &args);
    }
    if args.table {
        let mut out = String::new();
        for (i, signal) in NAMES.iter().enumerate() {
            let cell = format!("{:2} {signal}", i + 1);
            if (i + 1).is_multiple_of(7) {
                out.push_str(&format!("{cell}\n"));
            } else {
                out.push_str(&format!("{cell:<11}"));
            }
        }
        if !NAMES.len().is_multiple_of(7) {
            out.push('\n');
        }
        return print(&out);
    }
    let signal = match &args.signal {
        None => libc::SIGTERM,
        Some(spec) => signal_number(spec)
            .ok_or_else(|| Exit::failed(1, format!("unknown signal name {spec}")))?,
    };
    if let Some(wanted) = &args.name {
        return by_name(name, wanted, signal, args.yes);
    }
    if args.pids.is_empty() {
        return Err(Exit::usage("no process ID specified"));
    }
    let mut status = 0;
    for word in &args.pids {
        let Ok(pid) = word.parse::<i32>() else {
            complain(name, format!("failed to parse argument: '{word}'"));
            status = 1;
            continue;
        };
        if let Err(errno) = send(pid, signal) {
            complain(name, format!("({pid}): {}", errno.desc()));
            status = 1;
        }
    }
    Ok(status)
}

fn send(pid: i32, signal: i32) -> nix::Result<()> {
    // SAFETY: kill(2) takes plain integers.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(nix::errno::Errno::last())
    }
}

fn print(text: &str) -> Result<i32, Exit> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| Exit::write_error(1, &err))?;
    Ok(0)
}

/// `kill -l`: procps' wrapped list of names, or each SIGNAL converted.
fn list(name: &str, args: &Args) -> Result<i32, Exit> {
    let wanted: Vec<&String> = args.signal.iter().chain(&args.pids).collect();
    if wanted.is_empty() {
        let mut out = String::new();
        let mut position = 0;
        for (i, signal) in NAMES.iter().enumerate() {
            if i > 0 {
                if position > 73 {
                    out.push('\n');
                    position = 0;
                } else {
                    out.push(' ');
                    position += 1;
                }
            }
            out.push_str(signal);
            position += signal.len();
        }
        out.push('\n');
        return print(&out);
    }
    let mut out = String::new();
    let mut status = 0;
    for spec in wanted {
        let answer = match spec.parse::<i32>() {
            Ok(number) => signal_name(number),
            Err(_) => signal_number(spec).map(|number| number.to_string()),
        };
        match answer {
            Some(answer) => out.push_str(&format!("{answer}\n")),
            None => {
                complain(name, format!("unknown signal name {spec}"));
                status = 1;
            }
        }
    }
    print(&out)?;
    Ok(status)
}

/// `kill -n NAME`: the processes named NAME, listed, and signalled only with `--yes`.
fn by_name(name: &str, wanted: &str, signal: i32, yes: bool) -> Result<i32, Exit> {
    procfs::require_proc().map_err(|err| Exit::failed(2, err))?;
    let want = Want {
        cmdline: true,
        wchan: false,
    };
    let me = std::process::id();
    let all = process::all(want).map_err(|err| Exit::failed(2, err))?;
    let matching: Vec<_> = all
        .iter()
        .filter(|p| p.pid != me && (p.stat.comm == wanted || p.argv0_name() == Some(wanted)))
        .collect();
    for process in &all {
        if let (Some(why), true) = (process.cmdline_problem(), process.stat.comm != wanted) {
            let pid = process.pid;
            complain(
                name,
                format!("pid {pid}: command line not read ({why}); not matched"),
            );
        }
    }
    if matching.is_empty() {
        complain(name, format!("no process named {wanted}"));
        return Ok(1);
    }
    let mut listing = String::new();
    for process in &matching {
        listing.push_str(&format!("{} {}\n", process.pid, process.args()));
    }
    print(&listing)?;
    let signal_shown = signal_name(signal).unwrap_or_else(|| signal.to_string());
    if !yes {
        let which = match matching.len() {
            1 => "this process".to_string(),
            n => format!("these {n} processes"),
        };
        complain(
            name,
            format!("nothing sent: add --yes to send SIG{signal_shown} to {which}"),
        );
        return Ok(0);
    }
    let mut status = 0;
    for process in &matching {
        if let Err(errno) = send(process.pid as i32, signal) {
            complain(name, format!("({}): {}", process.pid, errno.desc()));
            status = 1;
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_and_numbers() {
        assert_eq!(signal_number("KILL"), Some(9));
        assert_eq!(signal_number("sigterm"), Some(15));
        assert_eq!(signal_number("9"), Some(9));
        assert_eq!(signal_number("IO"), Some(29));
        assert_eq!(signal_number("FOO"), None);
        assert_eq!(signal_number("200"), None);
        assert_eq!(signal_name(29).as_deref(), Some("POLL"));
        assert_eq!(signal_name(999), None);
        let rtmin2 = signal_number("RTMIN+2").unwrap();
        assert_eq!(signal_name(rtmin2).as_deref(), Some("RTMIN+2"));
    }

    #[test]
    fn dash_signal_becomes_dash_s() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            signal_option_first(args(&["-9", "1"])),
            args(&["-s", "9", "1"])
        );
        assert_eq!(signal_option_first(args(&["-l"])), args(&["-l"]));
        assert_eq!(
            signal_option_first(args(&["-KILL", "1"])),
            args(&["-s", "KILL", "1"])
        );
    }
}
