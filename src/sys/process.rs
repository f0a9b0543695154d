//! The process table as `/proc` shows it: one [`Process`] per pid, read from `stat`, `status`,
//! `statm`, `wchan` and (only when asked, through [`procfs::read_with_timeout`]) `cmdline`. A
//! process that vanishes while it is read is simply not there. A `cmdline` that cannot be read
//! in time (its owner holds the mmap lock while stuck in D state) is [`Cmdline::Stuck`]: callers
//! show the `[comm]` and say which pids could not be read.
//!
//! What it does not do: users and groups are numbers here (callers name them from ROOT's
//! accounts), and terminal names come from the device number alone, never from a `/dev` scan.

use std::path::PathBuf;

use super::procfs::{self, pid_path, STUCK_AFTER};
use crate::{Error, Result};

/// The fields of `/proc/PID/stat` the applets use (proc(5) numbering in comments).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stat {
    /// (2) the command name, up to 15 bytes, which may hold spaces and `)`.
    pub comm: String,
    /// (3) R, S, D, Z, T, t, X, I, ...
    pub state: char,
    pub ppid: u32,
    pub pgrp: i32,
    pub session: i32,
    /// (7) the controlling terminal's device number, 0 for none.
    pub tty_nr: u32,
    pub tpgid: i32,
    /// (14, 15) clock ticks in user and kernel mode.
    pub utime: u64,
    pub stime: u64,
    pub priority: i64,
    pub nice: i64,
    pub num_threads: u64,
    /// (22) clock ticks after boot.
    pub starttime: u64,
    /// (23) bytes.
    pub vsize: u64,
    /// (24) pages.
    pub rss: u64,
    /// (41) the scheduling policy: 0 normal, 1 FIFO, 2 RR, 3 batch, 5 idle, 6 deadline.
    pub policy: u32,
}

/// Parses one `stat` line. The command name is everything between the first `(` and the LAST
/// `)`: a name may hold `)` itself, the fields after it never do.
pub fn parse_stat(line: &[u8]) -> Option<Stat> {
    let open = line.iter().position(|&b| b == b'(')?;
    let close = line.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let comm = String::from_utf8_lossy(&line[open + 1..close]).into_owned();
    let rest = std::str::from_utf8(line.get(close + 1..)?).ok()?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // `fields[0]` is field 3 (state).
    let field = |n: usize| fields.get(n - 3).copied();
    let num = |n: usize| field(n)?.parse::<u64>().ok();
    let signed = |n: usize| field(n)?.parse::<i64>().ok();
    Some(Stat {
        comm,
        state: field(3)?.chars().next()?,
        ppid: u32::try_from(num(4)?).ok()?,
        pgrp: i32::try_from(signed(5)?).ok()?,
        session: i32::try_from(signed(6)?).ok()?,
        tty_nr: u32::try_from(signed(7)? as u64 & 0xffff_ffff).ok()?,
        tpgid: i32::try_from(signed(8)?).ok()?,
        utime: num(14)?,
        stime: num(15)?,
        priority: signed(18)?,
        nice: signed(19)?,
        num_threads: num(20)?,
        starttime: num(22)?,
        vsize: num(23)?,
        rss: num(24).unwrap_or(0),
        policy: num(41).unwrap_or(0) as u32,
    })
}

/// Real and effective ids and the sizes `status` has that `stat` lacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub ruid: u32,
    pub euid: u32,
    pub rgid: u32,
    pub egid: u32,
    /// kB; `None` for kernel threads (no `VmRSS` line).
    pub vm_rss: Option<u64>,
    /// kB of locked memory (`VmLck`), for the `L` of STAT.
    pub vm_lck: u64,
    pub threads: Option<u64>,
}

pub fn parse_status(text: &str) -> Status {
    let mut status = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let mut words = value.split_ascii_whitespace();
        let mut next = || words.next().and_then(|word| word.parse::<u64>().ok());
        match key {
            "Uid" => {
                status.ruid = next().unwrap_or(0) as u32;
                status.euid = next().unwrap_or(0) as u32;
            }
            "Gid" => {
                status.rgid = next().unwrap_or(0) as u32;
                status.egid = next().unwrap_or(0) as u32;
            }
            "VmRSS" => status.vm_rss = next(),
            "VmLck" => status.vm_lck = next().unwrap_or(0),
            "Threads" => status.threads = next(),
            _ => {}
        }
    }
    status
}

/// What `cmdline` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmdline {
    /// Not read (the caller did not need it).
    NotRead,
    /// The arguments, NUL-separated in the file.
    Args(Vec<String>),
    /// Empty: a kernel thread or a zombie; shown as `[comm]`.
    Empty,
    /// The read did not finish in time: the process (or one sharing its memory) is stuck.
    Stuck,
    /// The read failed (a vanished process, EPERM under hidepid).
    Unreadable(String),
}

/// One process.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    pub stat: Stat,
    pub status: Status,
    /// The kernel function it sleeps in, `None` when running or unknown.
    pub wchan: Option<String>,
    /// Resident set in kB, from `statm` (pages times the page size).
    pub rss_kib: u64,
    /// Resident shared pages (file-backed and shmem) in kB, `statm`'s third field.
    pub shared_kib: u64,
    pub cmdline: Cmdline,
}

/// Which of the slower or possibly blocking files to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Want {
    pub cmdline: bool,
    pub wchan: bool,
}

impl Process {
    /// Reads one process; `Ok(None)` when it is gone (or was never there).
    pub fn read(pid: u32, want: Want) -> Result<Option<Process>> {
        let Some(stat_bytes) = read_gone_ok(pid_path(pid, "stat"))? else {
            return Ok(None);
        };
        let stat = parse_stat(&stat_bytes).ok_or_else(|| {
            Error::parse(pid_path(pid, "stat"), Some(1), "not a process stat line")
        })?;
        let status = read_gone_ok(pid_path(pid, "status"))?
            .map(|bytes| parse_status(&String::from_utf8_lossy(&bytes)))
            .unwrap_or_default();
        let statm: Vec<u64> = read_gone_ok(pid_path(pid, "statm"))?
            .map(|bytes| {
                String::from_utf8_lossy(&bytes)
                    .split_ascii_whitespace()
                    .map(|word| word.parse().unwrap_or(0))
                    .collect()
            })
            .unwrap_or_default();
        let page_kib = page_size() / 1024;
        let rss_kib = statm.get(1).copied().unwrap_or(stat.rss) * page_kib;
        let shared_kib = statm.get(2).copied().unwrap_or(0) * page_kib;
        let wchan = if want.wchan { read_wchan(pid) } else { None };
        let cmdline = if want.cmdline {
            read_cmdline(pid)
        } else {
            Cmdline::NotRead
        };
        Ok(Some(Process {
            pid,
            stat,
            status,
            wchan,
            rss_kib,
            shared_kib,
            cmdline,
        }))
    }

    /// The arguments joined by spaces as ps's `args` shows them, or `[comm]` when there are
    /// none to show (kernel threads, stuck or unreadable ones; `[comm] <defunct>` for zombies).
    /// Any process can name itself anything, terminal escapes included; what is shown is made
    /// safe by [`shown`].
    pub fn args(&self) -> String {
        match &self.cmdline {
            Cmdline::Args(args) => shown(&args.join(" ")),
            // A zombie has given its memory back: only its name is left, said as procps does.
            _ if self.stat.state == 'Z' => format!("[{}] <defunct>", self.comm()),
            _ => format!("[{}]", self.comm()),
        }
    }

    /// The command name (`comm`) as it may be printed: see [`shown`].
    pub fn comm(&self) -> String {
        shown(&self.stat.comm)
    }

    /// `argv[0]`'s file name, for `kill -n`; `None` without arguments.
    pub fn argv0_name(&self) -> Option<&str> {
        match &self.cmdline {
            Cmdline::Args(args) => {
                let first = args.first()?;
                Some(first.rsplit('/').next().unwrap_or(first))
            }
            _ => None,
        }
    }

    /// Whether its cmdline could not be read, and why, for the applet's stderr note.
    pub fn cmdline_problem(&self) -> Option<String> {
        match &self.cmdline {
            Cmdline::Stuck => Some(format!(
                "reading its cmdline took more than {} s (stuck in D state?)",
                STUCK_AFTER.as_secs()
            )),
            Cmdline::Unreadable(why) => Some(why.clone()),
            _ => None,
        }
    }

    /// Total CPU time in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        self.stat.utime + self.stat.stime
    }

    pub fn threads(&self) -> u64 {
        self.status.threads.unwrap_or(self.stat.num_threads)
    }

    /// Seconds since it started, given the seconds since boot.
    pub fn elapsed(&self, uptime: f64) -> u64 {
        let started = self.stat.starttime as f64 / clock_ticks() as f64;
        (uptime - started).max(0.0) as u64
    }

    /// When it started, in seconds since the epoch.
    pub fn start_time(&self, boot_time: u64) -> i64 {
        (boot_time + self.stat.starttime / clock_ticks()) as i64
    }

    /// The name of its controlling terminal (`pts/3`, `tty1`, `ttyS0`), `None` without one.
    pub fn tty(&self) -> Option<String> {
        tty_name(self.stat.tty_nr)
    }
}

/// A whole file of a process; `Ok(None)` when the process is gone.
fn read_gone_ok(path: PathBuf) -> Result<Option<Vec<u8>>> {
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ESRCH)) => Ok(None),
        Err(err) => Err(Error::io("read", path, err)),
    }
}

fn read_wchan(pid: u32) -> Option<String> {
    let bytes = std::fs::read(pid_path(pid, "wchan")).ok()?;
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    (!text.is_empty() && text != "0").then_some(text)
}

/// A process's name or arguments as they may go to a terminal: a newline is a space, and every
/// other control character, DEL, C1 control and byte that was not UTF-8 is `?`, as procps
/// shows them, so that a process named `\e[2J` cannot clear the operator's screen.
pub fn shown(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => ' ',
            c if c.is_control() || c == char::REPLACEMENT_CHARACTER => '?',
            c => c,
        })
        .collect()
}

fn read_cmdline(pid: u32) -> Cmdline {
    match procfs::read_with_timeout(pid_path(pid, "cmdline"), STUCK_AFTER) {
        Ok(None) => Cmdline::Stuck,
        Ok(Some(bytes)) if bytes.is_empty() => Cmdline::Empty,
        Ok(Some(bytes)) => {
            let bytes = bytes.strip_suffix(b"\0").unwrap_or(&bytes);
            Cmdline::Args(
                bytes
                    .split(|&b| b == 0)
                    .map(|arg| String::from_utf8_lossy(arg).into_owned())
                    .collect(),
            )
        }
        // Gone while being read: nothing to say about it.
        Err(err) if matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ESRCH)) => {
            Cmdline::Empty
        }
        Err(err) => Cmdline::Unreadable(err.to_string()),
    }
}

/// The environment of a process (`NAME=value` strings), read like `cmdline` with a time limit:
/// `Ok(None)` when the read did not finish in time.
pub fn environ(pid: u32) -> Result<Option<Vec<String>>> {
    let read = procfs::read_with_timeout(pid_path(pid, "environ"), STUCK_AFTER)?;
    Ok(read.map(|bytes| {
        bytes
            .split(|&b| b == 0)
            .filter(|entry| !entry.is_empty())
            .map(|entry| String::from_utf8_lossy(entry).into_owned())
            .collect()
    }))
}

/// Every process that can be read, ascending by pid. A pid whose files turn out malformed is
/// skipped (it may have been replaced midway); `/proc` itself missing is the error.
pub fn all(want: Want) -> Result<Vec<Process>> {
    let mut processes = Vec::new();
    for pid in procfs::pids()? {
        if let Ok(Some(process)) = Process::read(pid, want) {
            processes.push(process);
        }
    }
    Ok(processes)
}

/// One thread (task) of a process: its id, state and wait channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub tid: u32,
    pub state: char,
    pub wchan: Option<String>,
}

/// The threads of a process in uninterruptible sleep (D), the main one included: a process
/// whose main thread sleeps normally may have one thread stuck on a dead NFS server.
pub fn tasks_in_d(pid: u32) -> Vec<Task> {
    let dir = pid_path(pid, "task");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut tids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    tids.into_iter()
        .filter_map(|tid| {
            let task = dir.join(tid.to_string());
            let stat = parse_stat(&std::fs::read(task.join("stat")).ok()?)?;
            (stat.state == 'D').then(|| Task {
                tid,
                state: stat.state,
                wchan: std::fs::read_to_string(task.join("wchan"))
                    .ok()
                    .map(|text| text.trim().to_string())
                    .filter(|text| !text.is_empty() && text != "0"),
            })
        })
        .collect()
}

/// The kernel stack of one thread, as `/proc/PID/task/TID/stack` lists it (root only).
pub fn kernel_stack(pid: u32, tid: u32) -> Result<Vec<String>> {
    let path = pid_path(pid, "task").join(tid.to_string()).join("stack");
    let read = procfs::read_with_timeout(path.clone(), STUCK_AFTER)?;
    let Some(bytes) = read else {
        return Err(Error::refused(path, "reading it did not finish in time"));
    };
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Why a stack could not be read, in words: EACCES and EPERM mean "needs root".
pub fn stack_problem(err: &Error) -> String {
    match err.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => {
            "kernel stack not readable: /proc/PID/stack needs root (CAP_SYS_ADMIN)".to_string()
        }
        Some(libc::ENOENT) => "kernel stack not available (gone, or no CONFIG_STACKTRACE)".into(),
        _ => format!("kernel stack not readable: {err}"),
    }
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
/// How wide procps makes pid columns: the digits of the largest pid the kernel hands out
/// (`pid_max`), at least 5.
pub fn pid_width() -> usize {
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(|max| max.to_string().len())
        .unwrap_or(5)
        .max(5)
}

pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

/// The boot time in seconds since the epoch (`btime` of `/proc/stat`).
pub fn boot_time() -> Result<u64> {
    let path = std::path::Path::new(procfs::PROC).join("stat");
    let text = std::fs::read_to_string(&path).map_err(|err| Error::io("read", &path, err))?;
    text.lines()
        .find_map(|line| line.strip_prefix("btime ")?.trim().parse().ok())
        .ok_or_else(|| Error::parse(path, None, "no btime line"))
}

/// Seconds since boot (`/proc/uptime`).
pub fn uptime() -> Result<f64> {
    let path = std::path::Path::new(procfs::PROC).join("uptime");
    let text = std::fs::read_to_string(&path).map_err(|err| Error::io("read", &path, err))?;
    text.split_ascii_whitespace()
        .next()
        .and_then(super::sysinfo::hundredths)
        .map(|hundredths| hundredths as f64 / 100.0)
        .ok_or_else(|| Error::parse(path, Some(1), "not an uptime"))
}

/// The terminal name of a `tty_nr` from the device number alone (devices.txt numbering).
pub fn tty_name(tty_nr: u32) -> Option<String> {
    if tty_nr == 0 {
        return None;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    let name = match major {
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        5 if minor == 0 => "tty".into(),
        5 if minor == 1 => "console".into(),
        3 => format!("ttyp{minor}"),
        166 => format!("ttyACM{minor}"),
        188 => format!("ttyUSB{minor}"),
        204 if minor >= 64 => format!("ttyAMA{}", minor - 64),
        229 => format!("hvc{minor}"),
        _ => format!("{major}:{minor}"),
    };
    Some(name)
}

/// The device number of a terminal name as [`tty_name`] writes it (`pts/3`, `tty1`,
/// `/dev/ttyS0`), for selecting by terminal.
pub fn tty_number(name: &str) -> Option<u32> {
    let name = name.strip_prefix("/dev/").unwrap_or(name);
    let encode = |major: u32, minor: u32| (major << 8) | (minor & 0xff) | ((minor & !0xff) << 12);
    if let Some(n) = name.strip_prefix("pts/") {
        let n: u32 = n.parse().ok()?;
        return Some(encode(136 + n / 256, n % 256));
    }
    if let Some(n) = name.strip_prefix("ttyS") {
        return Some(encode(4, 64 + n.parse::<u32>().ok()?));
    }
    if let Some(n) = name.strip_prefix("tty") {
        return Some(encode(4, n.parse().ok()?));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_is_cut_at_the_last_parenthesis() {
        let line = b"42 (a) b (c)) S 1 42 42 34816 42 4194560 1 0 0 0 7 3 0 0 20 0 1 0 \
                     1234 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.comm, "a) b (c)");
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.ppid, 1);
        assert_eq!(stat.tty_nr, 34816);
        assert_eq!((stat.utime, stat.stime), (7, 3));
        assert_eq!(stat.starttime, 1234);
        assert_eq!(stat.vsize, 1000);
        assert!(parse_stat(b"42 (x").is_none());
        assert!(parse_stat(b"42 (x) S").is_none());
        assert!(parse_stat(b"").is_none());
    }

    #[test]
    fn names_are_shown_without_control_characters() {
        assert_eq!(
            shown("a\tb\u{1}c\u{7f}d\u{fffd}e\nf\u{1b}[2J\u{9b}g"),
            "a?b?c?d?e f?[2J?g"
        );
        assert_eq!(shown("sshd: root@pts/0"), "sshd: root@pts/0");
    }

    #[test]
    fn terminals_by_number() {
        assert_eq!(tty_name(0), None);
        assert_eq!(tty_name(34816).as_deref(), Some("pts/0"));
        assert_eq!(tty_name((136 << 8) | 5).as_deref(), Some("pts/5"));
        assert_eq!(tty_name((4 << 8) | 1).as_deref(), Some("tty1"));
        assert_eq!(tty_name((4 << 8) | 64).as_deref(), Some("ttyS0"));
        for name in ["pts/0", "pts/300", "tty3", "ttyS1"] {
            assert_eq!(tty_name(tty_number(name).unwrap()).as_deref(), Some(name));
        }
    }

    #[test]
    fn this_process_reads() {
        if procfs::require_proc().is_err() {
            return;
        }
        let me = Process::read(
            std::process::id(),
            Want {
                cmdline: true,
                wchan: true,
            },
        )
        .unwrap()
        .unwrap();
        assert!(matches!(me.cmdline, Cmdline::Args(_)));
        let environment = environ(me.pid).unwrap().unwrap();
        let path = std::env::var("PATH").map(|path| format!("PATH={path}"));
        assert!(path.is_err() || environment.contains(&path.unwrap()));
        assert!(me.rss_kib > 0);
        assert_eq!(me.status.euid, nix::unistd::geteuid().as_raw());
    }
}
