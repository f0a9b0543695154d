//! usage: rescue ps [-e|-A] [-f] [-D] [--forest] [-o FIELD[=HEADER],...]... [-p PID,...]...
//!                  [-u USER,...]... [--no-headers] [-w]
//!
//! Report a snapshot of the processes, as procps-ng 4 `ps` does for these options:
//!   (none)         the processes of your effective user on your terminal: PID TTY TIME CMD
//!   -e, -A         every process
//!   -f             full format: UID PID PPID C STIME TTY TIME CMD
//!   -o FIELDS      the columns to show, comma separated, repeatable; `FIELD=TEXT` renames a
//!                  header, `FIELD=` leaves it empty (no header line when all are empty)
//!   -p PIDS        the processes with these pids; -u USERS: of these effective users (names
//!                  or numbers); several selections add up
//!   --forest       children below their parents, with procps' `\_ ` art in the command
//!   --no-headers   no header line (also --no-heading)
//!   -w             on a terminal lines are cut at its width; -w makes that at least 132
//!                  columns, -ww never cuts (into a pipe or a file lines are never cut)
//!   -D             ours: every thread in uninterruptible sleep (D state), the main thread
//!                  or another, with its pid, thread id, state, wait channel, the process's
//!                  elapsed time and command, and its kernel stack from
//!                  /proc/PID/task/TID/stack indented below it (reading that needs root);
//!                  `no process in uninterruptible sleep (D)` and status 0 when there is none
//!
//! FIELDS: pid ppid pgid sid user (euser) uid (euid) group (egroup) gid (egid) s (state) stat
//! wchan start stime lstart etime etimes time rss vsz tty (tt, tname) args (cmd, command)
//! comm (ucmd) pcpu (%cpu) pmem (%mem) nlwp c ni pri.
//!
//! Users and groups are named from /etc/passwd and /etc/group (numbers when there is no entry
//! or no /etc); terminals from their device numbers. Never blocks on a stuck process: a
//! command line that cannot be read within a second (its owner stuck in D state holds the
//! memory lock) is shown as `[comm]` and said on stderr. BSD-style options (`ps aux`) are not
//! supported. Exit status 1 when no process was selected, 2 when /proc is missing.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

use super::{complain, Exit};
use crate::sys::accounts::Accounts;
use crate::sys::process::{self, Process, Want};
use crate::sys::procfs;
use crate::sys::root::Root;

#[derive(Parser)]
#[command(about = "Report a snapshot of the current processes")]
pub(super) struct Args {
    /// select every process
    #[arg(short = 'e', short_alias = 'A')]
    every: bool,
    /// full-format listing
    #[arg(short = 'f')]
    full: bool,
    /// processes in D state with their kernel stacks
    #[arg(short = 'D')]
    d_state: bool,
    /// show the process tree
    #[arg(long = "forest")]
    forest: bool,
    /// user-defined format
    #[arg(short = 'o', value_name = "FIELDS")]
    format: Vec<String>,
    /// select by pid
    #[arg(short = 'p', long = "pid", value_name = "PIDS")]
    pids: Vec<String>,
    /// select by effective user
    #[arg(short = 'u', long = "user", value_name = "USERS")]
    users: Vec<String>,
    /// print no header line
    #[arg(long = "no-headers", alias = "no-heading")]
    no_headers: bool,
    /// wide output (twice: unlimited)
    #[arg(short = 'w', action = clap::ArgAction::Count)]
    wide: u8,
}

/// One column: what it shows, its header and its width.
#[derive(Clone, Debug)]
struct Column {
    field: Field,
    header: String,
    width: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Pid,
    Ppid,
    Pgid,
    Sid,
    User,
    Uid,
    Group,
    Gid,
    State,
    Stat,
    Wchan,
    Start,
    Stime,
    Lstart,
    Etime,
    Etimes,
    Time,
    Rss,
    Vsz,
    Tty,
    Args,
    Comm,
    Pcpu,
    Pmem,
    Nlwp,
    C,
    Nice,
    Pri,
}

/// Every field name procps knows that we show: name, field, header, width (0: the pid width).
const FIELDS: &[(&str, Field, &str, usize)] = &[
    ("pid", Field::Pid, "PID", 0),
    ("ppid", Field::Ppid, "PPID", 0),
    ("pgid", Field::Pgid, "PGID", 0),
    ("pgrp", Field::Pgid, "PGRP", 0),
    ("sid", Field::Sid, "SID", 0),
    ("sess", Field::Sid, "SESS", 0),
    ("user", Field::User, "USER", 8),
    ("euser", Field::User, "EUSER", 8),
    ("uname", Field::User, "USER", 8),
    ("uid", Field::Uid, "UID", 5),
    ("euid", Field::Uid, "EUID", 5),
    ("group", Field::Group, "GROUP", 8),
    ("egroup", Field::Group, "EGROUP", 8),
    ("gid", Field::Gid, "GID", 5),
    ("egid", Field::Gid, "EGID", 5),
    ("s", Field::State, "S", 1),
    ("state", Field::State, "S", 1),
    ("stat", Field::Stat, "STAT", 4),
    ("wchan", Field::Wchan, "WCHAN", 6),
    ("start", Field::Start, "STARTED", 8),
    ("stime", Field::Stime, "STIME", 5),
    ("start_time", Field::Stime, "START", 5),
    ("lstart", Field::Lstart, "STARTED", 24),
    ("etime", Field::Etime, "ELAPSED", 11),
    ("etimes", Field::Etimes, "ELAPSED", 7),
    ("time", Field::Time, "TIME", 8),
    ("cputime", Field::Time, "TIME", 8),
    ("rss", Field::Rss, "RSS", 5),
    ("rsz", Field::Rss, "RSZ", 5),
    ("vsz", Field::Vsz, "VSZ", 6),
    ("vsize", Field::Vsz, "VSZ", 6),
    ("tty", Field::Tty, "TT", 8),
    ("tt", Field::Tty, "TT", 8),
    ("tname", Field::Tty, "TTY", 8),
    ("args", Field::Args, "COMMAND", 27),
    ("command", Field::Args, "COMMAND", 27),
    ("cmd", Field::Args, "CMD", 27),
    ("comm", Field::Comm, "COMMAND", 15),
    ("ucmd", Field::Comm, "CMD", 15),
    ("ucomm", Field::Comm, "COMMAND", 15),
    ("pcpu", Field::Pcpu, "%CPU", 4),
    ("%cpu", Field::Pcpu, "%CPU", 4),
    ("pmem", Field::Pmem, "%MEM", 4),
    ("%mem", Field::Pmem, "%MEM", 4),
    ("nlwp", Field::Nlwp, "NLWP", 4),
    ("thcount", Field::Nlwp, "THCNT", 4),
    ("c", Field::C, "C", 2),
    ("ni", Field::Nice, "NI", 3),
    ("nice", Field::Nice, "NI", 3),
    ("pri", Field::Pri, "PRI", 3),
];

impl Field {
    fn right_aligned(self) -> bool {
        !matches!(
            self,
            Field::User
                | Field::Group
                | Field::State
                | Field::Stat
                | Field::Wchan
                | Field::Stime
                | Field::Tty
                | Field::Args
                | Field::Comm
        )
    }

    fn needs_cmdline(self) -> bool {
        self == Field::Args
    }
}

/// The columns of `-o` arguments: `pid,user=WHO` or `pid user`; a name procps does not know
/// is the usage error procps gives.
fn parse_format(specs: &[String], pid_width: usize) -> Result<Vec<Column>, Exit> {
    let mut columns = Vec::new();
    for spec in specs {
        for item in spec.split([',', ' ']).filter(|item| !item.is_empty()) {
            let (name, header) = match item.split_once('=') {
                Some((name, header)) => (name, Some(header)),
                None => (item, None),
            };
            let Some(&(_, field, default_header, width)) =
                FIELDS.iter().find(|(known, ..)| *known == name)
            else {
                return Err(Exit::usage(format!(
                    "unknown user-defined format specifier \"{name}\""
                )));
            };
            let header = header.unwrap_or(default_header).to_string();
            let width = if width == 0 { pid_width } else { width };
            columns.push(Column {
                field,
                width: width.max(header.len()),
                header,
            });
        }
    }
    if columns.is_empty() {
        return Err(Exit::usage("empty format list"));
    }
    Ok(columns)
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    procfs::require_proc().map_err(|err| Exit::failed(2, err))?;
    let accounts = Accounts::load(&Root::new("/"));
    if args.d_state {
        return d_state(name);
    }
    let pid_width = crate::sys::process::pid_width();
    let specs: Vec<String> = if !args.format.is_empty() {
        args.format.clone()
    } else if args.full {
        vec!["user=UID,pid,ppid,c,stime,tname,time,cmd".into()]
    } else {
        vec!["pid,tname,time,ucmd".into()]
    };
    let columns = parse_format(&specs, pid_width)?;
    let selection = Selection::from_args(&args, &accounts)?;
    let want = Want {
        cmdline: columns.iter().any(|column| column.field.needs_cmdline()),
        wchan: columns.iter().any(|column| column.field == Field::Wchan),
    };
    let mut processes = process::all(want).map_err(|err| Exit::failed(2, err))?;
    processes.retain(|process| selection.selects(process));
    let context = Context::now(accounts).map_err(|err| Exit::failed(2, err))?;
    let order = if args.forest {
        forest_order(&processes)
    } else {
        processes
            .iter()
            .enumerate()
            .map(|(i, _)| (i, String::new()))
            .collect()
    };
    let limit = line_limit(args.wide);
    let mut out = std::io::stdout().lock();
    let show_header = !args.no_headers && columns.iter().any(|c| !c.header.is_empty());
    let write = |out: &mut std::io::StdoutLock| -> std::io::Result<()> {
        if show_header {
            writeln!(out, "{}", header_line(&columns))?;
        }
        for (index, prefix) in &order {
            let mut line = row(&columns, &processes[*index], &context, prefix);
            if let Some(limit) = limit {
                if let Some((cut, _)) = line.char_indices().nth(limit) {
                    line.truncate(cut);
                }
            }
            writeln!(out, "{line}")?;
        }
        out.flush()
    };
    write(&mut out).map_err(|err| Exit::write_error(2, &err))?;
    say_unreadable(name, &processes);
    Ok(if processes.is_empty() { 1 } else { 0 })
}

/// procps' rule for long lines: on a terminal they are cut at its width, `-w` widens that to
/// at least 132 columns and `-ww` lifts it; into a pipe or a file they are never cut.
fn line_limit(wide: u8) -> Option<usize> {
    // SAFETY: isatty only inspects the descriptor.
    if wide >= 2 || unsafe { libc::isatty(libc::STDOUT_FILENO) } != 1 {
        return None;
    }
    // SAFETY: an all-zero winsize is valid; TIOCGWINSZ writes one into it while it lives.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|text| text.parse::<usize>().ok())
        .or((ok && size.ws_col > 0).then_some(usize::from(size.ws_col)))
        .unwrap_or(80);
    Some(if wide == 1 { columns.max(132) } else { columns })
}

/// Says on stderr which command lines could not be read, and why.
fn say_unreadable(name: &str, processes: &[Process]) {
    for process in processes {
        if let Some(why) = process.cmdline_problem() {
            complain(
                name,
                format!(
                    "pid {}: command line not read ({why}); shown as [{}]",
                    process.pid,
                    process.comm()
                ),
            );
        }
    }
}

/// Which processes to list: procps' rules for the options we have.
struct Selection {
    every: bool,
    pids: HashSet<u32>,
    uids: HashSet<u32>,
    /// Neither -e nor a list: the caller's effective user on the caller's terminal.
    mine: Option<(u32, u32)>,
}

impl Selection {
    fn from_args(args: &Args, accounts: &Accounts) -> Result<Selection, Exit> {
        let mut pids = HashSet::new();
        for word in args.pids.iter().flat_map(|list| list.split([',', ' '])) {
            if word.is_empty() {
                continue;
            }
            let pid = word
                .parse::<u32>()
                .ok()
                .filter(|&pid| pid > 0)
                .ok_or_else(|| Exit::usage(format!("process ID list syntax error: {word}")))?;
            pids.insert(pid);
        }
        let mut uids = HashSet::new();
        for word in args.users.iter().flat_map(|list| list.split([',', ' '])) {
            if word.is_empty() {
                continue;
            }
            let uid = match accounts.uid(word) {
                Some(uid) => uid,
                None => word
                    .parse::<u32>()
                    .map_err(|_| Exit::usage(format!("user name does not exist: {word}")))?,
            };
            uids.insert(uid);
        }
        let mine = if args.every || !pids.is_empty() || !uids.is_empty() {
            None
        } else {
            let me = Process::read(std::process::id(), Want::default())
                .ok()
                .flatten()
                .map(|me| me.stat.tty_nr)
                .unwrap_or(0);
            Some((nix::unistd::geteuid().as_raw(), me))
        };
        Ok(Selection {
            every: args.every,
            pids,
            uids,
            mine,
        })
    }

    fn selects(&self, process: &Process) -> bool {
        if self.every {
            return true;
        }
        if let Some((euid, tty)) = self.mine {
            return process.status.euid == euid && process.stat.tty_nr == tty;
        }
        self.pids.contains(&process.pid) || self.uids.contains(&process.status.euid)
    }
}

/// What every row needs besides its process: the clock, the boot time and the names.
struct Context {
    accounts: Accounts,
    uptime: f64,
    boot_time: u64,
    now: i64,
    mem_total_kib: u64,
}

impl Context {
    fn now(accounts: Accounts) -> crate::Result<Context> {
        let memory = crate::sys::sysinfo::Memory::read()?;
        Ok(Context {
            accounts,
            uptime: process::uptime()?,
            boot_time: process::boot_time()?,
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
            mem_total_kib: memory.total(),
        })
    }
}

fn header_line(columns: &[Column]) -> String {
    let cells: Vec<String> = columns
        .iter()
        .map(|column| {
            if column.field.right_aligned() {
                format!("{:>w$}", column.header, w = column.width)
            } else {
                format!("{:<w$}", column.header, w = column.width)
            }
        })
        .collect();
    cells.join(" ").trim_end().to_string()
}

fn row(columns: &[Column], process: &Process, context: &Context, prefix: &str) -> String {
    let mut cells = Vec::with_capacity(columns.len());
    // How far the line has run past where its columns should be: a value wider than its
    // column pushes the rest right until later padding takes it back, as procps does.
    let mut debt = 0;
    for (i, column) in columns.iter().enumerate() {
        let last = i + 1 == columns.len();
        let mut text = cell(column.field, process, context);
        if matches!(column.field, Field::Args | Field::Comm) {
            text = format!("{prefix}{text}");
        }
        let fitted = fit(column, text, last);
        let length = fitted.chars().count();
        let padding = if column.field.right_aligned() {
            fitted.len() - fitted.trim_start().len()
        } else {
            length - fitted.trim_end().chars().count()
        };
        let absorbed = debt.min(padding);
        debt = debt - absorbed + length.saturating_sub(column.width);
        cells.push(if column.field.right_aligned() {
            fitted[absorbed..].to_string()
        } else {
            fitted[..fitted.len() - absorbed].to_string()
        });
    }
    cells.join(" ").trim_end().to_string()
}

/// Pads a cell to its column; text in a column that is not the last is cut to its width
/// (user names end in `+` then, as procps), numbers are never cut.
fn fit(column: &Column, text: String, last: bool) -> String {
    let width = column.width;
    if column.field.right_aligned() {
        return format!("{text:>width$}");
    }
    let length = text.chars().count();
    if last {
        return text;
    }
    let text = if length <= width {
        text
    } else if matches!(column.field, Field::User | Field::Group) {
        let cut: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}+")
    } else {
        text.chars().take(width).collect()
    };
    format!("{text:<width$}")
}

fn cell(field: Field, process: &Process, context: &Context) -> String {
    let stat = &process.stat;
    let elapsed = process.elapsed(context.uptime);
    let started = process.start_time(context.boot_time);
    match field {
        Field::Pid => process.pid.to_string(),
        Field::Ppid => stat.ppid.to_string(),
        Field::Pgid => stat.pgrp.to_string(),
        Field::Sid => stat.session.to_string(),
        Field::User => user_name(&context.accounts, process.status.euid),
        Field::Uid => process.status.euid.to_string(),
        Field::Group => match context.accounts.group_name(process.status.egid) {
            Some(name) => name.to_string(),
            None => process.status.egid.to_string(),
        },
        Field::Gid => process.status.egid.to_string(),
        Field::State => stat.state.to_string(),
        Field::Stat => stat_flags(process),
        Field::Wchan => process.wchan.clone().unwrap_or_else(|| "-".into()),
        Field::Start => start(started, context.now),
        Field::Stime => stime(started, context.now),
        Field::Lstart => strftime("%a %b %e %H:%M:%S %Y", started),
        Field::Etime => etime(elapsed),
        Field::Etimes => elapsed.to_string(),
        Field::Time => cpu_time(process.cpu_ticks() / process::clock_ticks()),
        Field::Rss => process.rss_kib.to_string(),
        Field::Vsz => (stat.vsize / 1024).to_string(),
        Field::Tty => process.tty().unwrap_or_else(|| "?".into()),
        Field::Args => process.args(),
        Field::Comm => process.comm(),
        Field::Pcpu => {
            let permille = permille_cpu(process, elapsed);
            if permille > 999 {
                (permille / 10).to_string()
            } else {
                format!("{}.{}", permille / 10, permille % 10)
            }
        }
        Field::Pmem => {
            let permille = (process.rss_kib * 1000)
                .checked_div(context.mem_total_kib)
                .unwrap_or(0);
            format!("{}.{}", permille / 10, permille % 10)
        }
        Field::Nlwp => process.threads().to_string(),
        Field::C => (permille_cpu(process, elapsed) / 10).min(99).to_string(),
        // A real-time process has no nice value that matters; procps shows `-`.
        Field::Nice if !matches!(stat.policy, 0 | 3) => "-".into(),
        Field::Nice => stat.nice.to_string(),
        // procps' `pri` counts the other way: 39 is the most favoured.
        Field::Pri => (39 - stat.priority).to_string(),
    }
}

/// CPU time over elapsed time in tenths of a percent, as procps computes `%cpu`.
fn permille_cpu(process: &Process, elapsed: u64) -> u64 {
    (process.cpu_ticks() * 1000 / process::clock_ticks())
        .checked_div(elapsed)
        .unwrap_or(0)
}

/// A user's name, or the number when ROOT's accounts do not know it.
pub(super) fn user_name(accounts: &Accounts, uid: u32) -> String {
    match accounts.user_name(uid) {
        Some(name) => name.to_string(),
        None => uid.to_string(),
    }
}

/// STAT: the state and procps' flags: `<` high priority, `N` low, `L` locked pages, `s`
/// session leader, `l` multi-threaded, `+` in the foreground process group.
fn stat_flags(process: &Process) -> String {
    let stat = &process.stat;
    let mut text = stat.state.to_string();
    if stat.nice < 0 {
        text.push('<');
    } else if stat.nice > 0 {
        text.push('N');
    }
    if process.status.vm_lck > 0 {
        text.push('L');
    }
    if stat.session == process.pid as i32 {
        text.push('s');
    }
    if process.threads() > 1 {
        text.push('l');
    }
    if stat.tpgid != -1 && stat.tpgid == stat.pgrp {
        text.push('+');
    }
    text
}

fn strftime(format: &str, seconds: i64) -> String {
    crate::sys::strftime::strftime(format.as_bytes(), seconds, 0)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_else(|| "-".into())
}

/// STARTED: the time of day within the last 24 hours, else the date.
fn start(started: i64, now: i64) -> String {
    if now - started < 24 * 3600 {
        strftime("%H:%M:%S", started)
    } else {
        strftime("%b %d", started)
    }
}

/// STIME: the time of day when started today, the date when this year, else the year.
fn stime(started: i64, now: i64) -> String {
    let (Some(then), Some(today)) = (
        crate::sys::localtime::broken_down(started),
        crate::sys::localtime::broken_down(now),
    ) else {
        return "-".into();
    };
    if then.tm_year != today.tm_year {
        strftime("%Y", started)
    } else if then.tm_yday != today.tm_yday {
        strftime("%b%d", started)
    } else {
        strftime("%H:%M", started)
    }
}

/// `[[DD-]hh:]mm:ss`
pub(super) fn etime(seconds: u64) -> String {
    let (days, hours, minutes, secs) = (
        seconds / 86400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if days > 0 {
        format!("{days}-{hours:02}:{minutes:02}:{secs:02}")
    } else if hours > 0 {
        format!("{hours:02}:{minutes:02}:{secs:02}")
    } else {
        format!("{minutes:02}:{secs:02}")
    }
}

/// `[DD-]HH:MM:SS`
fn cpu_time(seconds: u64) -> String {
    let days = seconds / 86400;
    let clock = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60
    );
    if days > 0 {
        format!("{days}-{clock}")
    } else {
        clock
    }
}

/// The rows in procps' `--forest` order, each with its art: a root is a process whose parent
/// is not listed; children follow their parent by pid; init's children stand beside it.
fn forest_order(processes: &[Process]) -> Vec<(usize, String)> {
    let listed: HashSet<u32> = processes.iter().map(|p| p.pid).collect();
    let mut children: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    let mut roots = Vec::new();
    for (index, process) in processes.iter().enumerate() {
        let ppid = process.stat.ppid;
        if ppid != process.pid && listed.contains(&ppid) {
            children.entry(ppid).or_default().push(index);
        } else {
            roots.push(index);
        }
    }
    roots.sort_by_key(|&i| (processes[i].stat.ppid, processes[i].pid));
    let mut out = Vec::new();
    let mut prefix = Vec::new();
    for root in roots {
        show_tree(processes, &children, root, 0, false, &mut prefix, &mut out);
    }
    out
}

/// procps' `show_tree`: the prefix holds one mark per level, `L`/`+` for the row itself, ` `/`|`
/// for the levels above it (`|` while that ancestor has siblings still to come).
fn show_tree(
    processes: &[Process],
    children: &BTreeMap<u32, Vec<usize>>,
    index: usize,
    level: usize,
    have_sibling: bool,
    prefix: &mut Vec<u8>,
    out: &mut Vec<(usize, String)>,
) {
    prefix.truncate(level);
    if level > 0 {
        prefix.truncate(level - 1);
        prefix.push(if have_sibling { b'+' } else { b'L' });
    }
    out.push((index, forest_art(prefix)));
    let pid = processes[index].pid;
    let Some(kids) = children.get(&pid) else {
        return;
    };
    if level > 0 {
        prefix.truncate(level - 1);
        prefix.push(if have_sibling { b'|' } else { b' ' });
    }
    for (n, &kid) in kids.iter().enumerate() {
        let more = n + 1 < kids.len();
        let kid_level = if pid == 1 { level } else { level + 1 };
        prefix.truncate(level);
        show_tree(processes, children, kid, kid_level, more, prefix, out);
    }
    prefix.truncate(level);
}

fn forest_art(prefix: &[u8]) -> String {
    prefix
        .iter()
        .map(|mark| match mark {
            b' ' => "    ",
            b'|' => " |  ",
            _ => " \\_ ",
        })
        .collect()
}

/// `ps -D`: the threads in D state (main or not) with their processes and kernel stacks.
fn d_state(name: &str) -> Result<i32, Exit> {
    let mut stuck: Vec<(Process, Vec<process::Task>)> = Vec::new();
    for process in process::all(Want::default()).map_err(|err| Exit::failed(2, err))? {
        let tasks = process::tasks_in_d(process.pid);
        if !tasks.is_empty() {
            stuck.push((process, tasks));
        }
    }
    let mut out = std::io::stdout().lock();
    if stuck.is_empty() {
        writeln!(out, "no process in uninterruptible sleep (D)")
            .map_err(|err| Exit::write_error(2, &err))?;
        return Ok(0);
    }
    // Read only now, and only for these: their command lines are the ones that block.
    let want = Want {
        cmdline: true,
        wchan: false,
    };
    for (process, _) in &mut stuck {
        if let Ok(Some(again)) = Process::read(process.pid, want) {
            *process = again;
        }
    }
    let uptime = process::uptime().map_err(|err| Exit::failed(2, err))?;
    let text = d_state_text(&stuck, uptime, crate::sys::process::pid_width());
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| Exit::write_error(2, &err))?;
    let processes: Vec<Process> = stuck.into_iter().map(|(process, _)| process).collect();
    say_unreadable(name, &processes);
    Ok(0)
}

fn d_state_text(stuck: &[(Process, Vec<process::Task>)], uptime: f64, pid_width: usize) -> String {
    let wchan_width = stuck
        .iter()
        .flat_map(|(_, tasks)| tasks)
        .map(|task| task.wchan.as_deref().unwrap_or("-").len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut text = format!(
        "{:>pid_width$} {:>pid_width$} S {:<wchan_width$}     ELAPSED COMMAND\n",
        "PID", "TID", "WCHAN"
    );
    let indent = " ".repeat(2 * pid_width + 2);
    for (process, tasks) in stuck {
        for task in tasks {
            text.push_str(&format!(
                "{:>pid_width$} {:>pid_width$} {} {:<wchan_width$} {:>11} {}\n",
                process.pid,
                task.tid,
                task.state,
                task.wchan.as_deref().unwrap_or("-"),
                etime(process.elapsed(uptime)),
                process.args()
            ));
            match process::kernel_stack(process.pid, task.tid) {
                Ok(frames) if frames.is_empty() => {
                    text.push_str(&format!("{indent}(empty kernel stack)\n"));
                }
                Ok(frames) => {
                    for frame in frames {
                        text.push_str(&format!("{indent}{frame}\n"));
                    }
                }
                Err(err) => {
                    text.push_str(&format!("{indent}({})\n", process::stack_problem(&err)));
                }
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_procps_writes_them() {
        assert_eq!(etime(5), "00:05");
        assert_eq!(etime(3600 + 61), "01:01:01");
        assert_eq!(etime(2 * 86400 + 5), "2-00:00:05");
        assert_eq!(cpu_time(61), "00:01:01");
        assert_eq!(cpu_time(86400 + 1), "1-00:00:01");
    }

    #[test]
    fn format_lists_and_renamed_headers() {
        let columns = parse_format(&["pid=PROC,user".into(), "args=".into()], 5).unwrap();
        let headers: Vec<&str> = columns.iter().map(|c| c.header.as_str()).collect();
        assert_eq!(headers, ["PROC", "USER", ""]);
        assert!(parse_format(&["nosuch".into()], 5).is_err());
    }

    #[test]
    fn forest_art_as_procps() {
        assert_eq!(forest_art(b" +"), "     \\_ ");
        assert_eq!(forest_art(b"|L"), " |   \\_ ");
    }
}
