//! usage: rescue umount [-lRfnqv] DIR|SOURCE...
//!
//!   -l, --lazy       detach now, clean up when no longer busy (MNT_DETACH)
//!   -R, --recursive  unmount everything below DIR first, deepest first, then DIR
//!   -f, --force      force, for an unreachable NFS server (MNT_FORCE)
//!   -n, --no-mtab    accepted; /etc/mtab is never written
//!   -q, --quiet      no `not mounted.` messages (the status still says it)
//!   -v, --verbose    say what was unmounted
//!
//! util-linux 2.38 `umount` without libmount. An operand is a mount point (the mount on top
//! there is unmounted) or a mounted source (`/dev/sdb1`, `tmpfs`: its last mount). `-R` reads
//! the mount tree from mountinfo: the mounts whose parent chain leads to DIR's mount. A DIR
//! written as the mount table has it is unmounted without being looked at first, so `umount
//! -f` or `-l` of a dead NFS mount never hangs in a stat. Messages
//! are util-linux's (`umount: /x: not mounted.`, `target is busy.`); exit status 0 all
//! unmounted, 32 some failed, 1 incorrect invocation.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{complain, Exit};
use crate::sys::mountinfo::{Mount, MountTable};

#[derive(Parser)]
#[command(about = "Unmount file systems", args_override_self = true)]
pub(super) struct Args {
    /// detach the file system now, clean up later
    #[arg(short = 'l', long = "lazy")]
    lazy: bool,
    /// unmount the mounts below first
    #[arg(short = 'R', long = "recursive")]
    recursive: bool,
    /// force an unmount (unreachable NFS)
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// do not write /etc/mtab (never written anyway)
    #[arg(short = 'n', long = "no-mtab")]
    no_mtab: bool,
    /// suppress 'not mounted' messages
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// say what is done
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    #[arg(value_name = "DIR|SOURCE")]
    operands: Vec<OsString>,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let _ = args.no_mtab;
    if args.operands.is_empty() {
        return Err(Exit::usage("bad usage"));
    }
    let mut flags = 0;
    if args.lazy {
        flags |= libc::MNT_DETACH;
    }
    if args.force {
        flags |= libc::MNT_FORCE;
    }
    let mut status = 0;
    for operand in &args.operands {
        // The table is read again for each operand: the one before may have changed it.
        let table = MountTable::read().ok();
        let outcome = match target_of(table.as_ref(), Path::new(operand)) {
            None => Err(format!(
                "{}: no mount point specified.",
                Path::new(operand).display()
            )),
            Some((target, mount)) if args.recursive => {
                unmount_tree(table.as_ref(), &target, mount, flags, args.verbose)
            }
            Some((target, _)) => unmount(&target, flags, args.verbose),
        };
        if let Err(message) = outcome {
            if !(args.quiet && message.ends_with(": not mounted.")) {
                complain(name, message);
            }
            status = 32;
        }
    }
    Ok(status)
}

/// The mount point an operand names, and its mount when the table knows it: a mount point
/// first, else the last mount of that source, else an existing path (the kernel then says
/// whether it is mounted). An absolute mount point the table names is taken as it is,
/// without a stat that a dead NFS server would never answer.
fn target_of<'a>(
    table: Option<&'a MountTable>,
    operand: &Path,
) -> Option<(PathBuf, Option<&'a Mount>)> {
    let exact = table.and_then(|table| {
        let mount = table
            .mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == operand)?;
        operand.is_absolute().then_some(mount)
    });
    if let Some(mount) = exact {
        return Some((mount.mount_point.clone(), Some(mount)));
    }
    let canonical = std::fs::canonicalize(operand).ok();
    if let Some(table) = table {
        if let Some(path) = &canonical {
            if let Some(mount) = table.mounts.iter().rev().find(|m| m.mount_point == *path) {
                return Some((path.clone(), Some(mount)));
            }
        }
        let by_source = table.mounts.iter().rev().find(|mount| {
            mount.source == operand || canonical.as_deref() == Some(mount.source.as_path())
        });
        if let Some(mount) = by_source {
            return Some((mount.mount_point.clone(), Some(mount)));
        }
    }
    canonical.map(|path| (path, None))
}

/// DIR's submounts, deepest first, then DIR.
fn unmount_tree(
    table: Option<&MountTable>,
    target: &Path,
    mount: Option<&Mount>,
    flags: libc::c_int,
    verbose: bool,
) -> Result<(), String> {
    let mut below: Vec<&Mount> = match (table, mount) {
        (Some(table), Some(mount)) if mount.id != 0 => descendants(table, mount.id),
        (Some(table), _) => table.below(target).collect(),
        (None, _) => Vec::new(),
    };
    // Deeper paths first; on the same path, the later (upper) mount first.
    below.reverse();
    below.sort_by_key(|mount| std::cmp::Reverse(mount.mount_point.components().count()));
    for mount in below {
        unmount(&mount.mount_point, flags, verbose)?;
    }
    unmount(target, flags, verbose)
}

/// The mounts whose parent chain leads to mount `id`, in mount order.
fn descendants(table: &MountTable, id: u32) -> Vec<&Mount> {
    let mut ids = vec![id];
    let mut found = Vec::new();
    // Mount order puts a parent before its children, but a move can break that: repeat
    // until nothing new is found.
    loop {
        let before = found.len();
        for mount in &table.mounts {
            if ids.contains(&mount.parent) && !ids.contains(&mount.id) {
                ids.push(mount.id);
                found.push(mount);
            }
        }
        if found.len() == before {
            break;
        }
    }
    found.sort_by_key(|mount| table.mounts.iter().position(|m| m.id == mount.id));
    found
}

fn unmount(target: &Path, flags: libc::c_int, verbose: bool) -> Result<(), String> {
    let c_target = crate::sys::c_path(target).map_err(|err| err.to_string())?;
    // SAFETY: a NUL-terminated path that outlives the call.
    let rc = unsafe { libc::umount2(c_target.as_ptr(), flags) };
    match crate::sys::check(rc) {
        Ok(()) => {
            if verbose {
                println!("umount: {} unmounted", target.display());
            }
            Ok(())
        }
        Err(err) => Err(format!("{}: {}", target.display(), explain(&err))),
    }
}

/// util-linux's words for a failed umount(2).
fn explain(err: &std::io::Error) -> String {
    match err.raw_os_error().unwrap_or(0) {
        libc::EBUSY => "target is busy.".to_string(),
        libc::EINVAL => "not mounted.".to_string(),
        libc::EPERM if !nix::unistd::geteuid().is_root() => {
            "must be superuser to unmount.".to_string()
        }
        libc::EPERM => "permission denied.".to_string(),
        libc::ENOENT => "no mount point specified.".to_string(),
        _ => format!("umount failed: {}.", crate::sys::errno::describe(err)),
    }
}
