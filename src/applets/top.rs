//! usage: rescue top [-b] [-n N] [-d SECONDS] [-o FIELD] [-p PID,...] [-c] [-w COLUMNS]
//!
//! A refreshed view of the processes, in procps-ng 4 `top`'s layout: the uptime and load line,
//! `Tasks:` (with, ours, how many are in D state), `%Cpu(s):`, `MiB Mem :` and `MiB Swap:`,
//! then PID USER PR NI VIRT RES SHR S %CPU %MEM TIME+ COMMAND.
//!   -b             batch mode: frames one after the other, for a pipe or a file
//!   -n N           stop after N frames (batch mode without -n runs until killed)
//!   -d SECONDS     the delay between frames (default 3, fractions allowed)
//!   -o FIELD       sort by %CPU (the default), %MEM, RES, VIRT, PID, S, TIME+ or COMMAND,
//!                  highest first; `-FIELD` lowest first
//!   -p PIDS        only these processes; -c: the full command line instead of the name
//!   -w COLUMNS     the width of a line (default: the terminal's, else $COLUMNS, else 80)
//! Processes in D state always come first, whatever the sort: on the bad day they are the
//! question. %CPU in the first frame is the share since each process started (as `ps`), later
//! frames the share over the delay. Interactive mode (a terminal, no -b) redraws every delay
//! and reads keys in raw mode, restoring the terminal on exit: q quits, P sorts by %CPU, M by
//! %MEM, N by PID, T by TIME+.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::time::{Duration, Instant};

use clap::Parser;

use super::Exit;
use crate::sys::accounts::Accounts;
use crate::sys::process::{self, Process, Want};
use crate::sys::procfs;
use crate::sys::root::Root;
use crate::sys::sysinfo::{CpuTimes, Memory};

#[derive(Parser)]
#[command(about = "Display processes, refreshed")]
pub(super) struct Args {
    /// batch mode
    #[arg(short = 'b', long = "batch-mode")]
    batch: bool,
    /// number of frames
    #[arg(short = 'n', long = "iterations", value_name = "N")]
    iterations: Option<u64>,
    /// delay between frames in seconds
    #[arg(short = 'd', long = "delay", value_name = "SECONDS")]
    delay: Option<String>,
    /// sort field
    #[arg(
        short = 'o',
        long = "sort-override",
        value_name = "FIELD",
        allow_hyphen_values = true
    )]
    sort: Option<String>,
    /// only these pids
    #[arg(short = 'p', long = "pid", value_name = "PIDS")]
    pids: Vec<String>,
    /// full command lines
    #[arg(short = 'c', long = "cmdline-toggle")]
    cmdline: bool,
    /// line width
    #[arg(short = 'w', long = "width", value_name = "COLUMNS")]
    width: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sort {
    Cpu,
    Mem,
    Res,
    Virt,
    Pid,
    State,
    Time,
    Command,
}

fn parse_sort(text: &str) -> Option<(Sort, bool)> {
    let (ascending, name) = match text.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let sort = match name.to_ascii_uppercase().as_str() {
        "%CPU" | "CPU" | "PCPU" => Sort::Cpu,
        "%MEM" | "MEM" | "PMEM" => Sort::Mem,
        "RES" | "RSS" => Sort::Res,
        "VIRT" | "VSZ" => Sort::Virt,
        "PID" => Sort::Pid,
        "S" | "STATE" => Sort::State,
        "TIME+" | "TIME" => Sort::Time,
        "COMMAND" => Sort::Command,
        _ => return None,
    };
    Some((sort, ascending))
}

/// One process as a frame shows it.
struct Row {
    process: Process,
    cpu: f64,
    mem: f64,
}

/// What the previous frame saw, for the shares over the delay.
struct Sampler {
    ticks: HashMap<u32, u64>,
    cpu: CpuTimes,
    at: Option<Instant>,
    boot_cpu: CpuTimes,
}

struct Settings {
    sort: Sort,
    ascending: bool,
    pids: Vec<u32>,
    cmdline: bool,
    width: usize,
    accounts: Accounts,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    procfs::require_proc().map_err(|err| Exit::failed(2, err))?;
    let (sort, ascending) = match &args.sort {
        None => (Sort::Cpu, false),
        Some(text) => parse_sort(text)
            .ok_or_else(|| Exit::failed(1, format!("unrecognized field name '{text}'")))?,
    };
    let delay = match &args.delay {
        None => Duration::from_secs(3),
        Some(text) => crate::sys::sysinfo::hundredths(text)
            .filter(|&hundredths| hundredths <= 86_400 * 100)
            .map(|hundredths| Duration::from_millis(hundredths * 10))
            .ok_or_else(|| Exit::failed(1, format!("bad delay interval '{text}'")))?,
    };
    let mut pids = Vec::new();
    for word in args.pids.iter().flat_map(|list| list.split(',')) {
        let pid = word
            .trim()
            .parse()
            .map_err(|_| Exit::failed(1, format!("bad pid '{word}'")))?;
        pids.push(pid);
    }
    let interactive = !args.batch && is_terminal(libc::STDIN_FILENO) && is_terminal(1);
    let (columns, _) = terminal_size();
    let width = args
        .width
        .or(columns)
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok());
    let mut settings = Settings {
        sort,
        ascending,
        pids,
        cmdline: args.cmdline,
        width: width.unwrap_or(80).max(40),
        accounts: Accounts::load(&Root::new("/")),
    };
    let mut sampler = Sampler::new().map_err(|err| Exit::failed(2, err))?;
    if interactive {
        let fixed_width = args.width.is_some();
        return interactive_loop(
            &mut settings,
            &mut sampler,
            delay,
            fixed_width,
            args.iterations,
        );
    }
    let mut out = std::io::stdout().lock();
    let mut frame_number = 0;
    loop {
        let frame = frame(&settings, &mut sampler).map_err(|err| Exit::failed(2, err))?;
        out.write_all(frame.join("\n").as_bytes())
            .and_then(|()| out.write_all(b"\n\n"))
            .and_then(|()| out.flush())
            .map_err(|err| Exit::write_error(1, &err))?;
        frame_number += 1;
        if args.iterations.is_some_and(|n| frame_number >= n) {
            return Ok(0);
        }
        std::thread::sleep(delay);
    }
}

fn is_terminal(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Columns and rows of the terminal on stdout, if it is one.
fn terminal_size() -> (Option<usize>, Option<usize>) {
    // SAFETY: an all-zero winsize is valid; TIOCGWINSZ writes one into it.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: as above, `size` lives for the call.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if !ok || size.ws_col == 0 {
        return (None, None);
    }
    (Some(size.ws_col.into()), Some(size.ws_row.into()))
}

impl Sampler {
    fn new() -> crate::Result<Sampler> {
        Ok(Sampler {
            ticks: HashMap::new(),
            cpu: CpuTimes::default(),
            at: None,
            boot_cpu: CpuTimes::default(),
        })
    }

    /// The processes with their shares, and the CPU states' shares, since the last call (the
    /// first: since each started, and since boot).
    fn sample(&mut self, settings: &Settings) -> crate::Result<(Vec<Row>, [f64; 8])> {
        let want = Want {
            cmdline: settings.cmdline,
            wchan: false,
        };
        let mut processes = process::all(want)?;
        if !settings.pids.is_empty() {
            processes.retain(|p| settings.pids.contains(&p.pid));
        }
        let memory_total = Memory::read()?.total().max(1) as f64;
        let uptime = process::uptime()?;
        let hertz = process::clock_ticks() as f64;
        let now = Instant::now();
        let interval = self.at.map(|at| now.duration_since(at).as_secs_f64());
        let rows = processes
            .into_iter()
            .map(|process| {
                let ticks = process.cpu_ticks();
                let cpu = match (interval, self.ticks.get(&process.pid)) {
                    (Some(seconds), Some(&before)) if seconds > 0.0 => {
                        ticks.saturating_sub(before) as f64 * 100.0 / hertz / seconds
                    }
                    _ => {
                        let alive = process.elapsed(uptime).max(1) as f64;
                        ticks as f64 * 100.0 / hertz / alive
                    }
                };
                let mem = process.rss_kib as f64 * 100.0 / memory_total;
                Row { process, cpu, mem }
            })
            .collect::<Vec<_>>();
        self.ticks = rows
            .iter()
            .map(|row| (row.process.pid, row.process.cpu_ticks()))
            .collect();
        self.at = Some(now);
        let cpu_now = CpuTimes::read()?;
        let before = if interval.is_some() {
            self.cpu
        } else {
            self.boot_cpu
        };
        let shares = cpu_now.percent_since(&before);
        self.cpu = cpu_now;
        Ok((rows, shares))
    }
}

/// One frame: the summary lines, a blank line, the column header and every process.
fn frame(settings: &Settings, sampler: &mut Sampler) -> crate::Result<Vec<String>> {
    let (mut rows, cpu) = sampler.sample(settings)?;
    sort_rows(&mut rows, settings.sort, settings.ascending);
    let mut lines = summary(&rows, &cpu)?;
    lines.push(String::new());
    let pid_width = crate::sys::process::pid_width();
    lines.push(format!(
        "{:>pid_width$} USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND",
        "PID"
    ));
    for row in &rows {
        lines.push(row_line(row, settings, pid_width));
    }
    Ok(lines)
}

/// D-state processes first, then the chosen order (highest first unless ascending), then pid.
fn sort_rows(rows: &mut [Row], sort: Sort, ascending: bool) {
    rows.sort_by(|a, b| {
        let stuck = |row: &Row| row.process.stat.state != 'D';
        let key = match sort {
            Sort::Cpu => a.cpu.total_cmp(&b.cpu),
            Sort::Mem => a.mem.total_cmp(&b.mem),
            Sort::Res => a.process.rss_kib.cmp(&b.process.rss_kib),
            Sort::Virt => a.process.stat.vsize.cmp(&b.process.stat.vsize),
            Sort::Pid => a.process.pid.cmp(&b.process.pid),
            Sort::State => a.process.stat.state.cmp(&b.process.stat.state),
            Sort::Time => a.process.cpu_ticks().cmp(&b.process.cpu_ticks()),
            Sort::Command => a.process.stat.comm.cmp(&b.process.stat.comm),
        };
        let key = if ascending { key } else { key.reverse() };
        stuck(a)
            .cmp(&stuck(b))
            .then(key)
            .then(a.process.pid.cmp(&b.process.pid))
    });
}

/// The five summary lines, in procps' words and widths.
fn summary(rows: &[Row], cpu: &[f64; 8]) -> crate::Result<Vec<String>> {
    let now = super::uptime::now();
    let uptime = process::uptime()?;
    let mut lines = vec![format!("top - {}", super::uptime::summary(now, uptime)?)];
    let count = |states: &str| {
        rows.iter()
            .filter(|row| states.contains(row.process.stat.state))
            .count()
    };
    lines.push(format!(
        "Tasks:{:4} total,{:4} running,{:4} sleeping,{:4} stopped,{:4} zombie,{:4} in D state",
        rows.len(),
        count("R"),
        count("SDI"),
        count("Tt"),
        count("Z"),
        count("D"),
    ));
    lines.push(format!(
        "%Cpu(s):{:5.1} us,{:5.1} sy,{:5.1} ni,{:5.1} id,{:5.1} wa,{:5.1} hi,{:5.1} si,{:5.1} st ",
        cpu[0], cpu[2], cpu[1], cpu[3], cpu[4], cpu[5], cpu[6], cpu[7]
    ));
    let memory = Memory::read()?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    lines.push(format!(
        "MiB Mem :{:9.1} total,{:9.1} free,{:9.1} used,{:9.1} buff/cache     ",
        mib(memory.total()),
        mib(memory.free()),
        mib(memory.used()),
        mib(memory.buffers() + memory.cache())
    ));
    lines.push(format!(
        "MiB Swap:{:9.1} total,{:9.1} free,{:9.1} used.{:9.1} avail Mem ",
        mib(memory.swap_total()),
        mib(memory.swap_free()),
        mib(memory.swap_used()),
        mib(memory.available())
    ));
    Ok(lines)
}

/// A size in KiB in `width` columns, scaled to m, g, t as procps does when it does not fit.
fn scaled(kib: u64, width: usize) -> String {
    let plain = kib.to_string();
    if plain.len() <= width {
        return plain;
    }
    let mut value = kib as f64;
    for unit in ['m', 'g', 't', 'p'] {
        value /= 1024.0;
        for text in [format!("{value:.1}{unit}"), format!("{value:.0}{unit}")] {
            if text.len() <= width {
                return text;
            }
        }
    }
    plain
}

fn row_line(row: &Row, settings: &Settings, pid_width: usize) -> String {
    let process = &row.process;
    let stat = &process.stat;
    let user = super::ps::user_name(&settings.accounts, process.status.euid);
    let user = if user.chars().count() > 8 {
        format!("{}+", user.chars().take(7).collect::<String>())
    } else {
        user
    };
    let priority = if stat.priority < -99 {
        "rt".to_string()
    } else {
        stat.priority.to_string()
    };
    let seconds = process.cpu_ticks() as f64 / process::clock_ticks() as f64;
    let hundredths = (seconds * 100.0) as u64;
    let time = format!(
        "{}:{:02}.{:02}",
        hundredths / 6000,
        hundredths / 100 % 60,
        hundredths % 100
    );
    let mut line = format!(
        "{:>pid_width$} {user:<8} {priority:>3} {:>3} {:>7} {:>6} {:>6} {} {:5.1} {:5.1} {time:>9} ",
        process.pid,
        stat.nice,
        scaled(stat.vsize / 1024, 7),
        scaled(process.rss_kib, 6),
        scaled(process.shared_kib, 6),
        stat.state,
        row.cpu,
        row.mem,
    );
    let command = if settings.cmdline {
        process.args()
    } else {
        process.comm()
    };
    // procps leaves the last column of the screen empty.
    let room = settings
        .width
        .saturating_sub(line.chars().count() + 1)
        .max(1);
    if command.chars().count() > room {
        line.extend(command.chars().take(room - 1));
        line.push('+');
    } else {
        line.push_str(&command);
    }
    line
}

/// The terminal in raw mode (no echo, no line buffering, no signals from keys) for the life
/// of the value; dropping it puts the settings back.
struct RawTerminal(nix::sys::termios::Termios);

impl RawTerminal {
    fn enter() -> nix::Result<RawTerminal> {
        use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.local_flags
            .remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw)?;
        Ok(RawTerminal(saved))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.0);
    }
}

/// Waits up to `delay` for a key; `None` when none came.
fn read_key(delay: Duration) -> Option<u8> {
    let mut poll = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = delay.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd for the call.
    if unsafe { libc::poll(&mut poll, 1, millis) } <= 0 {
        return None;
    }
    let mut key = 0u8;
    // SAFETY: one byte into `key`.
    let n = unsafe { libc::read(libc::STDIN_FILENO, (&mut key as *mut u8).cast(), 1) };
    (n == 1).then_some(key)
}

fn interactive_loop(
    settings: &mut Settings,
    sampler: &mut Sampler,
    delay: Duration,
    fixed_width: bool,
    iterations: Option<u64>,
) -> Result<i32, Exit> {
    let raw = RawTerminal::enter().map_err(|err| Exit::failed(2, err.desc()))?;
    let mut out = std::io::stdout().lock();
    let mut shown = 0;
    loop {
        let lines = frame(settings, sampler).map_err(|err| Exit::failed(2, err))?;
        // The window may have been resized since the last frame.
        let (columns, rows) = terminal_size();
        if let (false, Some(columns)) = (fixed_width, columns) {
            settings.width = columns.max(40);
        }
        let height = rows.unwrap_or(24).max(8) - 1;
        let screen: Vec<&str> = lines.iter().take(height).map(String::as_str).collect();
        let written = write!(out, "\x1b[H\x1b[2J{}", screen.join("\n")).and_then(|()| out.flush());
        written.map_err(|err| Exit::write_error(1, &err))?;
        shown += 1;
        if iterations.is_some_and(|n| shown >= n) {
            break;
        }
        match read_key(delay) {
            Some(b'q' | b'Q' | 3 | 4) => break,
            Some(b'P') => settings.sort = Sort::Cpu,
            Some(b'M') => settings.sort = Sort::Mem,
            Some(b'N') => settings.sort = Sort::Pid,
            Some(b'T') => settings.sort = Sort::Time,
            _ => {}
        }
    }
    drop(raw);
    let _ = writeln!(out);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_scale_to_fit() {
        assert_eq!(scaled(12476, 6), "12476");
        assert_eq!(scaled(204_800_000, 6), "195.3g");
        assert_eq!(scaled(2_048_000, 6), "2000m");
    }

    #[test]
    fn sort_fields() {
        assert_eq!(parse_sort("%MEM"), Some((Sort::Mem, false)));
        assert_eq!(parse_sort("-PID"), Some((Sort::Pid, true)));
        assert_eq!(parse_sort("nope"), None);
    }
}
