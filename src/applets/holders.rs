//! usage: rescue holders [-k [--yes] [-SIGNAL]] PATH
//!
//! Everything that keeps the mount at PATH busy, for an operator whose `umount` says "target
//! is busy", and the commands that free it:
//!
//! - processes using a file on it, one line per use (PID USER COMMAND HOW): `cwd`, `exe`,
//!   `fd N NAME`, `mmap NAME`, and `root (chroot or container)` for a process whose root
//!   directory is inside it, which `fuser` shows only as an `r` and `lsof` not at all;
//! - mounts stacked below PATH, which `umount` will not leave behind (`rescue umount -R`);
//! - loop devices whose backing file is on it (`losetup -d`);
//! - swap files on it (`swapoff`).
//!
//! A process counts when what it uses is on PATH's device, unless the path it uses goes
//! through another mount of the same file system (a bind mount elsewhere), which does not keep
//! this mount busy. Processes are read with a one-second limit each: one that does not answer
//! (stuck on a dead NFS server) or that the kernel will not show is named, since it may be a
//! holder. Exit status 0 when nothing holds PATH, 1 when something does, 2 when it could not
//! look (PATH is not a mount point, `/proc` is missing, or some processes could not be read
//! and nothing else holds it: one stuck, or any refused when not run as root).
//!
//! `-k` sends SIGKILL (or `-SIGNAL`: `-TERM`, `-15`) to the processes listed, asking before
//! each one unless `--yes` is given; it never signals itself, and refuses for `/`, which every
//! process holds (the command suggested there is a read-only remount). Mounts, loop devices
//! and swap are left to the commands printed at the end.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Parser;
use nix::sys::signal::Signal;

use super::fuser::{kill_each, report_trouble, take_signal};
use super::{complain, quote, Exit};
use crate::sys::accounts::Accounts;
use crate::sys::mountinfo::{Mount, MountTable};
use crate::sys::open_files::{self, Kind, LoopDevice, OnMount, Process, Reference, Swap, Trouble};
use crate::sys::procfs;
use crate::sys::quoting::{escape, shell_word};

#[derive(Parser)]
#[command(about = "Everything that keeps a mount busy")]
pub(super) struct Args {
    /// signal the processes found (asks first unless --yes)
    #[arg(short = 'k', long = "kill")]
    kill: bool,
    /// signal without asking
    #[arg(long = "yes")]
    yes: bool,
    #[arg(value_name = "PATH")]
    path: PathBuf,
}

/// What holds the mount.
struct Findings<'a> {
    uses: Vec<(&'a Process, &'a Reference)>,
    stacked: Vec<&'a Mount>,
    loops: Vec<LoopDevice>,
    swaps: Vec<Swap>,
}

impl Findings<'_> {
    fn any(&self) -> bool {
        !(self.uses.is_empty()
            && self.stacked.is_empty()
            && self.loops.is_empty()
            && self.swaps.is_empty())
    }
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let (signal, args) = take_signal(args)?;
    let args: Args = super::parse(name, args)?;
    procfs::require_proc().map_err(|err| Exit::failed(2, err))?;
    let table = MountTable::read().map_err(|err| Exit::failed(2, err))?;
    let canonical = std::fs::canonicalize(&args.path).map_err(|err| {
        Exit::failed(
            2,
            format!(
                "cannot use {}: {}",
                quote(&args.path),
                super::strerror(&err)
            ),
        )
    })?;
    let Some(mount) = table.at(&canonical).last() else {
        let on = table
            .containing(&canonical)
            .map(|m| format!(" (it is on {})", shell_word(&m.mount_point)))
            .unwrap_or_default();
        return Err(Exit::failed(
            2,
            format!("{}: not a mount point{on}", quote(&args.path)),
        ));
    };
    if args.kill && canonical == Path::new("/") {
        return Err(Exit::failed(
            2,
            "will not signal the processes holding /: that is every process, init too",
        ));
    }
    let on = OnMount::new(&table, mount);
    let loops = open_files::loop_devices().unwrap_or_else(|| {
        complain(
            name,
            "loop devices not checked: /sys is not mounted (rescue mount -t sysfs sysfs /sys)",
        );
        Vec::new()
    });
    let processes = open_files::scan(procfs::STUCK_AFTER).map_err(|err| Exit::failed(2, err))?;
    let findings = Findings {
        uses: process_uses(&processes, &on),
        stacked: table.below(&canonical).collect(),
        loops: loops
            .into_iter()
            .filter(|device| on.holds(device.file, &device.backing_file))
            .collect(),
        swaps: open_files::swaps()
            .into_iter()
            .filter(|swap| swap.kind == "file" && swap_on(swap, &on))
            .collect(),
    };
    report_trouble(name, &processes);
    let unreadable = processes.iter().any(|p| casts_doubt(p.trouble.as_ref()));
    print_findings(&canonical, mount, &findings, &processes)
        .map_err(|err| Exit::write_error(2, &err))?;
    if args.kill && !findings.uses.is_empty() {
        let mut victims: BTreeMap<u32, &Process> = BTreeMap::new();
        for (process, _) in &findings.uses {
            victims.insert(process.pid, process);
        }
        let victims: Vec<&Process> = victims.into_values().collect();
        kill_each(name, &victims, signal.unwrap_or(Signal::SIGKILL), args.yes);
    }
    Ok(match (findings.any(), unreadable) {
        (true, _) => 1,
        (false, true) => 2,
        (false, false) => 0,
    })
}

/// Whether a process that could not be read leaves the answer in doubt. A stuck one may well
/// be the holder. A refusal does when we are not root (another user's processes are hidden);
/// as root it is a process the kernel hides even from root (a protected init, another
/// namespace's), which is named on stderr but does not turn "nothing holds it" into "could not
/// look".
fn casts_doubt(trouble: Option<&Trouble>) -> bool {
    match trouble {
        None | Some(Trouble::Vanished) => false,
        Some(Trouble::Stuck) => true,
        Some(Trouble::Denied { .. }) => !nix::unistd::geteuid().is_root(),
    }
}

/// Each use of a file on the mount, by pid, in the order the process's references come.
fn process_uses<'a>(processes: &'a [Process], on: &OnMount) -> Vec<(&'a Process, &'a Reference)> {
    let mut uses = Vec::new();
    for process in processes {
        for reference in &process.references {
            if on.holds(reference.file, &reference.name) {
                uses.push((process, reference));
            }
        }
    }
    uses
}

fn swap_on(swap: &Swap, on: &OnMount) -> bool {
    let file = std::fs::metadata(&swap.path)
        .ok()
        .map(|meta| open_files::FileId::of(&meta));
    on.holds(file, &swap.path)
}

fn how(reference: &Reference) -> String {
    let name = escape(&reference.name);
    match reference.kind {
        Kind::Cwd => format!("cwd {name}"),
        Kind::Root => format!("root (chroot or container) {name}"),
        Kind::Exe => format!("exe {name}"),
        Kind::Fd(fd) => format!("fd {fd} {name}"),
        Kind::Mmap => format!("mmap {name}"),
    }
}

fn print_findings(
    path: &Path,
    mount: &Mount,
    findings: &Findings,
    processes: &[Process],
) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let shown = escape(path);
    let what = format!("{} on {}", mount.fs_type, escape(&mount.source));
    if !findings.any() {
        writeln!(out, "{shown} ({what}): nothing holds it")?;
        // With processes unread, "nothing" is not known; the reason is on stderr.
        if !processes.iter().any(|p| casts_doubt(p.trouble.as_ref())) {
            writeln!(out, "next:\n  rescue umount {}", shell_word(path))?;
        }
        return out.flush();
    }
    writeln!(out, "{shown} ({what}) is held by:")?;
    if !findings.uses.is_empty() {
        writeln!(out, "\nprocesses:")?;
        print_table(&mut out, &findings.uses)?;
    }
    if !findings.stacked.is_empty() {
        writeln!(
            out,
            "\nmounts below it (umount refuses to leave them behind):"
        )?;
        for mount in &findings.stacked {
            writeln!(out, "  {} ({})", escape(&mount.mount_point), mount.fs_type)?;
        }
    }
    if !findings.loops.is_empty() {
        writeln!(out, "\nloop devices backed by a file on it:")?;
        for device in &findings.loops {
            let (dev, file) = (escape(&device.device), escape(&device.backing_file));
            writeln!(out, "  {dev} {file}")?;
        }
    }
    if !findings.swaps.is_empty() {
        writeln!(out, "\nswap files on it:")?;
        for swap in &findings.swaps {
            writeln!(out, "  {}", escape(&swap.path))?;
        }
    }
    writeln!(out, "\nnext:")?;
    for command in next_commands(path, findings) {
        writeln!(out, "  {command}")?;
    }
    out.flush()
}

fn print_table(
    out: &mut impl std::io::Write,
    uses: &[(&Process, &Reference)],
) -> std::io::Result<()> {
    let accounts = Accounts::load(&crate::sys::root::Root::new("/"));
    let rows: Vec<[String; 4]> = uses
        .iter()
        .map(|(process, reference)| {
            let user = process.uid.map_or_else(
                || "?".to_string(),
                |uid| {
                    accounts
                        .user_name(uid)
                        .map_or_else(|| uid.to_string(), str::to_string)
                },
            );
            [
                process.pid.to_string(),
                user,
                escape(&process.command),
                how(reference),
            ]
        })
        .collect();
    let header = ["PID", "USER", "COMMAND", "HOW"].map(str::to_string);
    let width = |column: usize| {
        std::iter::once(&header)
            .chain(&rows)
            .map(|row| row[column].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (pid, user, command) = (width(0), width(1), width(2));
    for row in std::iter::once(&header).chain(&rows) {
        writeln!(
            out,
            "  {:>pid$}  {:<user$}  {:<command$}  {}",
            row[0], row[1], row[2], row[3]
        )?;
    }
    Ok(())
}

/// The commands that free the mount, in the order to run them: the processes first (they may
/// be using the swap file or the loop device), then swap and loops, then the mounts.
fn next_commands(path: &Path, findings: &Findings) -> Vec<String> {
    let word = shell_word(path);
    let mut commands = Vec::new();
    if path == Path::new("/") {
        // Killing everything and unmounting the root is no step to paste.
        commands.push(
            "mount -o remount,ro /      # the root is not unmounted; read-only is what \
             shutdown does"
                .to_string(),
        );
        return commands;
    }
    if !findings.uses.is_empty() {
        commands.push(format!(
            "rescue fuser -m -k {word}      # or: rescue holders -k {word}"
        ));
    }
    for swap in &findings.swaps {
        commands.push(format!(
            "swapoff {}",
            shell_word(open_files::strip_deleted(&swap.path))
        ));
    }
    for device in &findings.loops {
        commands.push(format!("losetup -d {}", shell_word(&device.device)));
    }
    if findings.stacked.is_empty() {
        commands.push(format!("rescue umount {word}"));
    } else {
        commands.push(format!("rescue umount -R {word}"));
    }
    commands
}
