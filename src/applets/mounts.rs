//! usage: rescue mounts [-a] [-t TYPE] [--root DIR]
//!
//!   -a, --all        include pseudo file systems (proc, sysfs, cgroup, devpts, ...)
//!   -t, --types TYPE only these types (`ext4,xfs`, `notmpfs`), as `mount -t`
//!       --root DIR   whose /etc/fstab says how things should be mounted (default /)
//!
//! The mount table as a table: MOUNT POINT, TYPE, SOURCE, OPTIONS and a STATE that names what
//! is wrong with a mount on the bad day:
//!   remounted read-only   the file system went read-only under a read-write mount (the
//!                         kernel's `errors=remount-ro`), or the mount is read-only while
//!                         ROOT's /etc/fstab mounts it read-write
//!   stale: statfs did not answer in 1 s   a dead NFS server or a hung device; the statfs
//!                         is given up, never waited for
//!   overmounted           hidden under a later mount on the same directory (shown, but not
//!                         a fault: healthy hosts stack mounts too)
//!
//! The table is /proc/self/mountinfo; without /proc it is /etc/mtab (said on stderr: what the
//! last `mount` wrote, not necessarily the kernel's view), and without either the /proc
//! error, exit 2. Exit status 0 when nothing is wrong, 1 when a mount is stale or remounted
//! read-only (found problems), 2 when the table cannot be read. No peer: findmnt shows the
//! table, not the trouble.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

use super::mount::{merge_options, type_matches};
use super::{complain, Exit};
use crate::sys::mountinfo::{
    faults, fstab_read_write, overmounted, Mount, MountTable, TableSource,
};
use crate::sys::procfs::STUCK_AFTER;
use crate::sys::statfs::probe_all;

#[derive(Parser)]
#[command(
    about = "Show mounts and what is wrong with them",
    args_override_self = true
)]
pub(super) struct Args {
    /// include pseudo file systems
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// only these file system types
    #[arg(short = 't', long = "types", value_name = "TYPE")]
    types: Option<String>,
    /// the root whose /etc/fstab is read
    #[arg(long = "root", value_name = "DIR", default_value = "/")]
    root: PathBuf,
}

/// Kernel-only file systems, hidden without `--all` (what `df` hides, and cgroup's kin).
const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "debugfs",
    "tracefs",
    "securityfs",
    "pstore",
    "bpf",
    "configfs",
    "fusectl",
    "hugetlbfs",
    "autofs",
    "binfmt_misc",
    "efivarfs",
    "nsfs",
    "rpc_pipefs",
    "selinuxfs",
];

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let table = MountTable::read().map_err(|err| Exit::failed(2, err))?;
    if table.source == TableSource::Mtab {
        complain(
            name,
            "/proc is missing; reading /etc/mtab, which says what the last mount wrote, not \
             necessarily what the kernel has mounted",
        );
    }
    let fstab = fstab_read_write(&crate::sys::root::Root::new(&args.root));
    let shown: Vec<&Mount> = table
        .mounts
        .iter()
        .filter(|mount| args.all || !PSEUDO.contains(&mount.fs_type.as_str()))
        .filter(|mount| {
            args.types
                .as_deref()
                .is_none_or(|t| type_matches(t, &mount.fs_type))
        })
        .collect();
    let hidden: Vec<bool> = shown
        .iter()
        .map(|mount| overmounted(&table, mount))
        .collect();
    // Only a visible mount can be asked: a statfs of a hidden one reaches the mount above it.
    let visible: Vec<PathBuf> = shown
        .iter()
        .zip(&hidden)
        .filter(|(_, hidden)| !**hidden)
        .map(|(mount, _)| mount.mount_point.clone())
        .collect();
    let mut probes = probe_all(&visible, STUCK_AFTER).into_iter();
    let mut rows = vec![[
        "MOUNT POINT".to_string(),
        "TYPE".to_string(),
        "SOURCE".to_string(),
        "OPTIONS".to_string(),
        "STATE".to_string(),
    ]];
    let mut flagged = false;
    for (mount, hidden) in shown.iter().zip(hidden) {
        let probe = if hidden { None } else { probes.next() };
        let fstab_says_rw = fstab.get(&mount.mount_point).copied().unwrap_or(false);
        let mut states = faults(mount, probe.as_ref(), fstab_says_rw);
        let mut notes = Vec::new();
        if hidden {
            notes.push("overmounted".to_string());
        }
        flagged |= !states.is_empty();
        states.extend(notes);
        rows.push([
            mount.mount_point.to_string_lossy().into_owned(),
            mount.fs_type.clone(),
            mount.source.to_string_lossy().into_owned(),
            merge_options(&mount.options, &mount.super_options),
            if states.is_empty() {
                "ok".to_string()
            } else {
                states.join("; ")
            },
        ]);
    }
    print_rows(&rows).map_err(|err| Exit::write_error(2, &err))?;
    Ok(i32::from(flagged))
}

fn print_rows(rows: &[[String; 5]]) -> std::io::Result<()> {
    let widths: Vec<usize> = (0..5)
        .map(|col| {
            rows.iter()
                .map(|row| row[col].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for row in rows {
        let mut line = String::new();
        for (col, cell) in row.iter().enumerate() {
            let clean: String = cell
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            line.push_str(&clean);
            if col < 4 {
                let pad = widths[col].saturating_sub(clean.chars().count()) + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    out.flush()
}
