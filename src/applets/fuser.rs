//! usage: rescue fuser [-m] [-M] [-v] [-u] [-a|-s] [-k [-i] [--yes] [-SIGNAL]] PATH...
//!
//! Which processes use each PATH, as psmisc `fuser` 23.6 prints it: the pids on standard
//! output, and on standard error `PATH:` and after each pid how it uses PATH: `c` working
//! directory, `r` root directory, `e` running executable, `m` mapped file (a library), and,
//! with `-v` only, `f` open file and `F` open for writing. `-v` prints psmisc's table (`USER
//! PID ACCESS COMMAND`, with a `kernel mount` line for a mount point), `-u` adds each owner.
//! Exit status 1 when no process was found, 2 when `/proc` is missing.
//!
//! `-m`: every process using anything on the file system PATH is on (or that the block device
//! PATH holds), matched by device; bind mounts of the same file system count too. `-M`: only
//! when PATH is a mount point. `-a` names PATHs no process uses; `-s` prints nothing.
//!
//! `-k` sends SIGKILL (or `-SIGNAL`: `-TERM`, `-HUP`, `-15`) to the processes found, never to
//! itself. Unlike psmisc, it asks before each one (`-i` is psmisc's way to ask, and always
//! the case here): a killed shell or database on a bad day is not undone. `--yes` kills
//! without asking, as psmisc `-k` does.
//!
//! Processes are read from `/proc` with a one-second limit each, so a process stuck on a dead
//! NFS server cannot hang `fuser`; those, and ones the kernel refuses to show, are named on
//! standard error. psmisc 23.6 can miss the descriptors of later PATHs on one file system
//! given together; here each PATH gets all of its matches.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use clap::Parser;
use nix::sys::signal::Signal;

use super::{complain, Exit, Yes};
use crate::sys::accounts::Accounts;
use crate::sys::mountinfo::MountTable;
use crate::sys::open_files::{self, FileId, Kind, Process, Trouble};
use crate::sys::procfs;
use crate::sys::quoting::escape;

#[derive(Parser)]
#[command(about = "Identify processes using files or file systems")]
pub(super) struct Args {
    /// processes using the file system PATH is on
    #[arg(short = 'm', long = "mount")]
    mount: bool,
    /// only when PATH is a mount point
    #[arg(short = 'M', long = "ismountpoint")]
    is_mount_point: bool,
    /// kill the processes found (asks first unless --yes)
    #[arg(short = 'k', long = "kill")]
    kill: bool,
    /// ask before killing (always the case here)
    #[arg(short = 'i', long = "interactive")]
    interactive: bool,
    /// kill without asking
    #[arg(long = "yes")]
    yes: bool,
    /// psmisc's table: USER PID ACCESS COMMAND
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// show each process's owner
    #[arg(short = 'u', long = "user")]
    user: bool,
    /// show PATHs no process uses too
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// print nothing; the exit status says
    #[arg(short = 's', long = "silent")]
    silent: bool,
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// psmisc's width of the name column.
const NAME_FIELD: usize = 20;

/// What a PATH is matched by.
#[derive(Clone, Copy)]
enum Match {
    File(FileId),
    Device((u32, u32)),
}

impl Match {
    fn hits(self, file: FileId) -> bool {
        match self {
            Match::File(target) => file == target,
            Match::Device(device) => file.device == device,
        }
    }
}

/// One PATH as given: what it matches (`None` when it could not be used), and the mount point
/// psmisc's `-v` shows a `kernel mount` line for.
struct Target {
    shown: String,
    matching: Option<Match>,
    mount_point: Option<PathBuf>,
}

/// How one process uses one PATH.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Access {
    root: bool,
    cwd: bool,
    exe: bool,
    mmap: bool,
    file: bool,
    writing: bool,
}

impl Access {
    fn any(self) -> bool {
        self.root || self.cwd || self.exe || self.mmap || self.file
    }

    /// psmisc's letters without `-v`: `f` and `F` are left out there, and `m` gives way to `e`.
    fn letters(self) -> String {
        let mut out = String::new();
        for (on, letter) in [(self.root, 'r'), (self.cwd, 'c'), (self.exe, 'e')] {
            if on {
                out.push(letter);
            }
        }
        if self.mmap && !self.exe {
            out.push('m');
        }
        out
    }

    /// psmisc's five-column field with `-v`: `f` or `F`, `r`, `c`, `e`, `m`.
    fn columns(self) -> String {
        let file = match (self.file, self.writing) {
            (false, _) => '.',
            (true, false) => 'f',
            (true, true) => 'F',
        };
        let flag = |on: bool, letter: char| if on { letter } else { '.' };
        [
            file,
            flag(self.root, 'r'),
            flag(self.cwd, 'c'),
            flag(self.exe, 'e'),
            flag(self.mmap && !self.exe, 'm'),
        ]
        .iter()
        .collect()
    }
}

fn access(process: &Process, matching: Match) -> Access {
    let mut access = Access::default();
    for reference in &process.references {
        if !reference.file.is_some_and(|file| matching.hits(file)) {
            continue;
        };
        match reference.kind {
            Kind::Cwd => access.cwd = true,
            Kind::Root => access.root = true,
            Kind::Exe => access.exe = true,
            Kind::Mmap => access.mmap = true,
            Kind::Fd(_) => {
                access.file = true;
                access.writing |= reference.writing;
            }
        }
    }
    access
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let (signal, args) = take_signal(args)?;
    let args: Args = super::parse(name, args)?;
    procfs::require_proc().map_err(|err| Exit::failed(2, err))?;
    let table = MountTable::read().ok();
    let targets: Vec<Target> = args
        .paths
        .iter()
        .map(|path| target(path, &args, table.as_ref()))
        .collect();
    let processes = if targets.iter().any(|t| t.matching.is_some()) {
        open_files::scan(procfs::STUCK_AFTER).map_err(|err| Exit::failed(2, err))?
    } else {
        Vec::new()
    };
    if !args.silent {
        report_trouble(name, &processes);
    }
    let accounts = Accounts::load(&crate::sys::root::Root::new("/"));
    let mut found = BTreeMap::new();
    let mut printer = Printer::new(&args, &accounts);
    for target in &targets {
        let users: Vec<(&Process, Access)> = match target.matching {
            Some(matching) => processes
                .iter()
                .map(|process| (process, access(process, matching)))
                .filter(|(_, access)| access.any())
                .collect(),
            None => Vec::new(),
        };
        found.extend(users.iter().map(|(process, _)| (process.pid, *process)));
        printer
            .name(target, &users)
            .map_err(|err| Exit::write_error(1, &err))?;
    }
    if found.is_empty() {
        return Ok(1);
    }
    let mut status = 0;
    if args.kill {
        let victims: Vec<&Process> = found.into_values().collect();
        if !kill_each(name, &victims, signal.unwrap_or(Signal::SIGKILL), args.yes) {
            status = 1;
        }
    }
    Ok(status)
}

/// What PATH matches, or `None` after psmisc's words on why it cannot be used.
fn target(path: &Path, args: &Args, table: Option<&MountTable>) -> Target {
    let mut target = Target {
        shown: escape(path),
        matching: None,
        mount_point: None,
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(_) => {
            eprintln!("Specified filename {} does not exist.", target.shown);
            return target;
        }
    };
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let is_mount_point = table.is_some_and(|table| table.at(&canonical).next().is_some());
    if args.is_mount_point && !is_mount_point {
        eprintln!("Specified filename {} is not a mountpoint.", target.shown);
        return target;
    }
    if args.mount {
        let device = if meta.file_type().is_block_device() {
            open_files::split_device(meta.rdev())
        } else {
            open_files::split_device(meta.dev())
        };
        target.matching = Some(Match::Device(device));
        target.mount_point = table.and_then(|table| {
            let by_path = table.containing(&canonical).filter(|m| m.device == device);
            by_path
                .or_else(|| table.mounts.iter().find(|m| m.device == device))
                .map(|m| m.mount_point.clone())
        });
    } else {
        target.matching = Some(Match::File(FileId::of(&meta)));
        target.mount_point = is_mount_point.then_some(canonical);
    }
    target
}

/// One line each for the processes that were stuck or refused, so a clean answer is not
/// mistaken for a complete one.
pub(super) fn report_trouble(name: &str, processes: &[Process]) {
    // As many pids as fit a line; when not root, that is most processes on the host.
    let pids = |want: fn(&Trouble) -> bool| -> Vec<String> {
        let all: Vec<String> = processes
            .iter()
            .filter(|p| p.trouble.as_ref().is_some_and(want))
            .map(|p| p.pid.to_string())
            .collect();
        match all.len() {
            0..=12 => all,
            more => {
                let mut shown = all[..10].to_vec();
                shown.push(format!("and {} more", more - 10));
                shown
            }
        }
    };
    let stuck = pids(|t| *t == Trouble::Stuck);
    if !stuck.is_empty() {
        complain(
            name,
            format!(
                "did not answer within {}s (stuck in D state, or on a dead mount?), not \
                 checked: {}",
                procfs::STUCK_AFTER.as_secs(),
                stuck.join(" ")
            ),
        );
    }
    let denied = pids(|t| matches!(t, Trouble::Denied { .. }));
    if !denied.is_empty() {
        complain(
            name,
            format!(
                "cannot read all of these processes (permission denied): {}",
                denied.join(" ")
            ),
        );
    }
}

/// psmisc's output: pids on stdout, names and access on stderr, stdout flushed after each pid
/// so that both read in order on a terminal.
struct Printer<'a> {
    args: &'a Args,
    accounts: &'a Accounts,
    header_done: bool,
}

impl<'a> Printer<'a> {
    fn new(args: &'a Args, accounts: &'a Accounts) -> Printer<'a> {
        Printer {
            args,
            accounts,
            header_done: false,
        }
    }

    fn user(&self, uid: Option<u32>) -> String {
        match uid {
            Some(uid) => self
                .accounts
                .user_name(uid)
                .map_or_else(|| uid.to_string(), str::to_string),
            None => "(unknown)".to_string(),
        }
    }

    fn name(&mut self, target: &Target, users: &[(&Process, Access)]) -> std::io::Result<()> {
        if self.args.silent {
            return Ok(());
        }
        let mount = if self.args.verbose && target.matching.is_some() {
            target.mount_point.as_deref()
        } else {
            None
        };
        if users.is_empty() && mount.is_none() && !self.args.all {
            return Ok(());
        }
        let mut err = std::io::stderr().lock();
        if self.args.verbose && !self.header_done {
            writeln!(err, "{:NAME_FIELD$} USER        PID ACCESS COMMAND", "")?;
            self.header_done = true;
        }
        write!(err, "{}:", target.shown)?;
        let mut used = target.shown.len() + 1;
        if !self.args.verbose {
            return self.terse(&mut err, used, users);
        }
        if let Some(mount) = mount {
            used = pad(&mut err, used)?;
            let owner = self.owner_field(Some(0));
            write!(err, " {:<8} ", self.user(Some(0)))?;
            print_stdout("kernel")?;
            writeln!(err, " mount {owner}{}", escape(mount))?;
        }
        for (process, access) in users {
            used = pad(&mut err, used)?;
            write!(err, " {:<8} ", self.user(process.uid))?;
            print_stdout(&format!(" {:5}", process.pid))?;
            let owner = self.owner_field(process.uid);
            writeln!(
                err,
                " {} {owner}{}",
                access.columns(),
                escape(&process.command)
            )?;
        }
        if used > 0 {
            writeln!(err)?;
        }
        Ok(())
    }

    fn terse(
        &self,
        err: &mut impl Write,
        used: usize,
        users: &[(&Process, Access)],
    ) -> std::io::Result<()> {
        if !users.is_empty() {
            for _ in used..NAME_FIELD {
                write!(err, " ")?;
            }
        }
        for (process, access) in users {
            print_stdout(&format!(" {:5}", process.pid))?;
            write!(err, "{}{}", access.letters(), self.owner_field(process.uid))?;
        }
        writeln!(err)
    }

    /// `(root)` with `-u`.
    fn owner_field(&self, uid: Option<u32>) -> String {
        if self.args.user {
            format!("({})", self.user(uid))
        } else {
            String::new()
        }
    }
}

/// Starts a table row: a name wider than the column goes on a line of its own. Returns 0, the
/// width used on the new row's line by the name.
fn pad(err: &mut impl Write, used: usize) -> std::io::Result<usize> {
    let mut used = used;
    if used > NAME_FIELD {
        writeln!(err)?;
        used = 0;
    }
    for _ in used..NAME_FIELD {
        write!(err, " ")?;
    }
    Ok(0)
}

fn print_stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Takes psmisc's `-SIGNAL` (`-TERM`, `-HUP`, `-SIGUSR1`, `-15`) out of the arguments, before
/// clap sees them: an argument of capitals and digits, or of digits only, before any `--`.
pub(super) fn take_signal(args: Vec<OsString>) -> Result<(Option<Signal>, Vec<OsString>), Exit> {
    let mut signal = None;
    let mut rest = Vec::with_capacity(args.len());
    let mut options_done = false;
    for arg in args {
        let bytes = arg.as_bytes();
        options_done |= bytes == b"--";
        let spec = bytes
            .strip_prefix(b"-")
            .filter(|spec| !options_done && looks_like_signal(spec));
        match spec {
            Some(spec) => {
                let spec = String::from_utf8_lossy(spec).into_owned();
                signal = Some(parse_signal(&spec).ok_or_else(|| {
                    Exit::usage(format!("{spec}: unknown signal; try -TERM, -HUP or -9"))
                })?);
            }
            None => rest.push(arg),
        }
    }
    Ok((signal, rest))
}

fn looks_like_signal(spec: &[u8]) -> bool {
    let digits = !spec.is_empty() && spec.iter().all(u8::is_ascii_digit);
    let name = spec.len() >= 2
        && spec[0].is_ascii_uppercase()
        && spec
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    digits || name
}

fn parse_signal(spec: &str) -> Option<Signal> {
    if let Ok(number) = spec.parse::<i32>() {
        return Signal::try_from(number).ok();
    }
    let full = if spec.starts_with("SIG") {
        spec.to_string()
    } else {
        format!("SIG{spec}")
    };
    full.parse().ok()
}

/// Sends `signal` to each process, asking first unless `yes`; at the end of input it stops
/// asking and sends nothing more, as after a no. False when a signal could not be sent (each
/// failure is said).
pub(super) fn kill_each(name: &str, victims: &[&Process], signal: Signal, yes: bool) -> bool {
    let me = std::process::id();
    let mut all_sent = true;
    for process in victims.iter().filter(|process| process.pid != me) {
        let asked = format!(
            "Kill process {} ({}) with {}? (y/N) ",
            process.pid,
            escape(&process.command),
            signal.as_str()
        );
        if !yes {
            match super::ask_until_end(&asked, Yes::Initial) {
                Some(true) => {}
                Some(false) => continue,
                None => {
                    // Nobody is there to answer: one prompt, not one per process.
                    eprintln!();
                    complain(name, "no answer (end of input); nothing more is sent (--yes sends without asking)");
                    return all_sent;
                }
            }
        }
        let Ok(pid) = i32::try_from(process.pid) else {
            continue;
        };
        if let Err(errno) = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal) {
            complain(
                name,
                format!("cannot kill process {}: {}", process.pid, errno.desc()),
            );
            all_sent = false;
        }
    }
    all_sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_taken_before_any_double_dash() {
        let args: Vec<OsString> = ["-k", "-TERM", "-m", "--", "-HUP"]
            .iter()
            .map(OsString::from)
            .collect();
        let (signal, rest) = take_signal(args).unwrap();
        assert_eq!(signal, Some(Signal::SIGTERM));
        assert_eq!(rest, ["-k", "-m", "--", "-HUP"]);
        let (signal, _) = take_signal(vec!["-15".into(), "-M".into()]).unwrap();
        assert_eq!(signal, Some(Signal::SIGTERM));
        assert_eq!(parse_signal("SIGUSR1"), Some(Signal::SIGUSR1));
        assert!(take_signal(vec!["-NOPE".into()]).is_err());
    }

    #[test]
    fn letters_and_columns_follow_psmisc() {
        let access = Access {
            cwd: true,
            exe: true,
            mmap: true,
            file: true,
            writing: true,
            ..Access::default()
        };
        assert_eq!(access.letters(), "ce");
        assert_eq!(access.columns(), "F.ce.");
        let mapped = Access {
            mmap: true,
            root: true,
            ..Access::default()
        };
        assert_eq!(mapped.letters(), "rm");
        assert_eq!(mapped.columns(), ".r..m");
    }
}
