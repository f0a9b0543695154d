//! usage: rescue mountpoint [-qd] DIR
//!        rescue mountpoint -x DEVICE
//!
//!   -q, --quiet       say nothing, the exit status tells
//!   -d, --fs-devno    print MAJOR:MINOR of the file system mounted on DIR
//!   -x, --devno       print MAJOR:MINOR of the block device DEVICE
//!
//! util-linux 2.38 `mountpoint`: `DIR is a mountpoint` or `DIR is not a mountpoint`. With
//! /proc, DIR is a mount point when mountinfo has a mount there (so a bind mount of a
//! directory onto itself counts); without /proc, when DIR's device differs from its parent's
//! or DIR and its parent are the same inode (`/`). Exit status: 0 a mount point, 32 not one
//! (or, with `-x`, not a block device), 1 an error (DIR cannot be read, bad usage).

use std::ffi::OsString;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{complain, strerror, Exit};
use crate::sys::mountinfo::MountTable;

#[derive(Parser)]
#[command(
    about = "See whether a directory is a mount point",
    args_override_self = true
)]
pub(super) struct Args {
    /// be quiet
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// print the file system's MAJOR:MINOR
    #[arg(short = 'd', long = "fs-devno")]
    fs_devno: bool,
    /// print the block device's MAJOR:MINOR
    #[arg(short = 'x', long = "devno")]
    devno: bool,
    #[arg(value_name = "DIR")]
    operands: Vec<OsString>,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let [operand] = args.operands.as_slice() else {
        return Err(Exit::usage("bad usage"));
    };
    let path = Path::new(operand);
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) => {
            if !args.quiet {
                complain(name, format!("{}: {}", path.display(), strerror(&err)));
            }
            return Ok(1);
        }
    };
    if args.devno {
        if !meta.file_type().is_block_device() {
            if !args.quiet {
                complain(name, format!("{}: not a block device", path.display()));
            }
            return Ok(32);
        }
        let (major, minor) = split_dev(meta.rdev());
        println!("{major}:{minor}");
        return Ok(0);
    }
    match mount_device(path, &meta) {
        Some(device) => {
            if args.fs_devno {
                println!("{}:{}", device.0, device.1);
            } else if !args.quiet {
                println!("{} is a mountpoint", path.display());
            }
            Ok(0)
        }
        None => {
            if !args.quiet {
                println!("{} is not a mountpoint", path.display());
            }
            Ok(32)
        }
    }
}

/// The (major, minor) of the file system mounted at `path`, or None when nothing is.
fn mount_device(path: &Path, meta: &std::fs::Metadata) -> Option<(u32, u32)> {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
    if crate::sys::procfs::require_proc().is_ok() {
        if let Ok(table) = MountTable::read() {
            return table.at(&canonical).last().map(|mount| mount.device);
        }
    }
    if !meta.is_dir() {
        return None;
    }
    let parent = std::fs::metadata(canonical.join("..")).ok()?;
    let is_root = parent.ino() == meta.ino() && parent.dev() == meta.dev();
    (is_root || parent.dev() != meta.dev()).then(|| split_dev(meta.dev()))
}

fn split_dev(dev: u64) -> (u32, u32) {
    (libc::major(dev), libc::minor(dev))
}
