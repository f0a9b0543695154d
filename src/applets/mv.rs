//! usage: rescue mv [-f|-i|-n] [-v] [-T] SOURCE DEST
//!        rescue mv [-f|-i|-n] [-v] SOURCE... DIRECTORY
//!        rescue mv [-f|-i|-n] [-v] -t DIRECTORY SOURCE...
//!
//! Move or rename files, GNU `mv` compatible:
//!   -f, --force          do not prompt before overwriting (the default)
//!   -i, --interactive    prompt before overwrite (stderr; answer on stdin)
//!   -n, --no-clobber     do not overwrite an existing file
//!   -t, --target-directory DIR, -T, --no-target-directory   as in cp
//!   -v, --verbose        print 'SOURCE' -> 'DEST' (renamed, or copied + removed)
//!
//! A move is one rename(2). Across file systems (EXDEV) the source is copied like `cp -a`
//! (owners, modes, nanosecond times, hard links, xattrs) and removed only when the whole copy
//! succeeded; the removal never follows a symlink. Not done: backups, `-u`, `--strip-trailing-
//! slashes`, GNU's prompt for unwritable destinations.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{Exit, Yes};

use super::{complain, quote, strerror};
use crate::sys::copy::{self, Copier, Deref, Existing, Options, Preserve, Problem};
use crate::sys::remove;

#[derive(Parser)]
#[command(about = "Move (rename) files", disable_help_flag = true)]
pub(super) struct Args {
    /// do not prompt before overwriting
    #[arg(short = 'f', long = "force", overrides_with_all = ["interactive", "no_clobber"])]
    force: bool,
    /// prompt before overwrite
    #[arg(short = 'i', long = "interactive", overrides_with_all = ["force", "no_clobber"])]
    interactive: bool,
    /// do not overwrite an existing file
    #[arg(short = 'n', long = "no-clobber", overrides_with_all = ["force", "interactive"])]
    no_clobber: bool,
    /// move all SOURCE arguments into DIRECTORY
    #[arg(short = 't', long = "target-directory", value_name = "DIRECTORY")]
    target_directory: Option<PathBuf>,
    /// treat DEST as a normal file
    #[arg(short = 'T', long = "no-target-directory")]
    no_target_directory: bool,
    /// explain what is being done
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

struct Report {
    name: &'static str,
    verbose: bool,
}

impl copy::Reporter for Report {
    fn copied(&mut self, src: &Path, dest: &Path) {
        if self.verbose {
            let _ = writeln!(
                std::io::stdout().lock(),
                "copied {} -> {}",
                quote(src),
                quote(dest)
            );
        }
    }

    fn problem(&mut self, problem: Problem) {
        complain(self.name, super::cp::describe(&problem));
    }

    fn overwrite(&mut self, _dest: &Path) -> bool {
        true
    }
}

impl remove::Reporter for Report {
    fn removed(&mut self, path: &Path, was_dir: bool) {
        if self.verbose {
            super::rm::print_removed(path, was_dir);
        }
    }

    fn problem(&mut self, problem: remove::Problem) {
        for line in super::rm::describe(&problem, false) {
            complain(self.name, line);
        }
    }
}

/// Moves one operand; returns false on failure (already reported).
fn move_one(name: &'static str, args: &Args, src: &Path, dest: &Path) -> bool {
    let src_meta = match fs::symlink_metadata(src) {
        Ok(meta) => meta,
        Err(err) => {
            complain(
                name,
                format!("cannot stat {}: {}", quote(src), strerror(&err)),
            );
            return false;
        }
    };
    let dest_meta = fs::symlink_metadata(dest).ok();
    if let Some(existing) = &dest_meta {
        if let Some(done) = over_existing(name, args, (src, &src_meta), (dest, existing)) {
            return done;
        }
    }
    if src_meta.is_dir() {
        let id = (src_meta.dev(), src_meta.ino());
        if copy::is_within(id, &copy::parent_dir(dest)).unwrap_or(false) {
            complain(
                name,
                format!(
                    "cannot move {} to a subdirectory of itself, {}",
                    quote(src),
                    quote(dest)
                ),
            );
            return false;
        }
    }
    match fs::rename(src, dest) {
        Ok(()) => {
            if args.verbose {
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "renamed {} -> {}",
                    quote(src),
                    quote(dest)
                );
            }
            true
        }
        Err(err) if err.raw_os_error() == Some(libc::EXDEV) => {
            across_file_systems(name, args, src, dest, dest_meta.as_ref())
        }
        Err(err) => {
            complain(
                name,
                format!(
                    "cannot move {} to {}: {}",
                    quote(src),
                    quote(dest),
                    strerror(&err)
                ),
            );
            false
        }
    }
}

/// GNU's checks before SRC replaces DEST, which exists: `Some(ok)` to stop here (a refusal,
/// or `-n`, or a no to `-i`), `None` to go on.
fn over_existing(
    name: &str,
    args: &Args,
    (src, src_meta): (&Path, &fs::Metadata),
    (dest, existing): (&Path, &fs::Metadata),
) -> Option<bool> {
    if (existing.dev(), existing.ino()) == (src_meta.dev(), src_meta.ino()) {
        complain(
            name,
            format!("{} and {} are the same file", quote(src), quote(dest)),
        );
        return Some(false);
    }
    if src_meta.is_dir() && !existing.is_dir() {
        complain(
            name,
            format!(
                "cannot overwrite non-directory {} with directory {}",
                quote(dest),
                quote(src)
            ),
        );
        return Some(false);
    }
    if !src_meta.is_dir() && existing.is_dir() {
        complain(
            name,
            format!(
                "cannot overwrite directory {} with non-directory",
                quote(dest)
            ),
        );
        return Some(false);
    }
    if args.no_clobber {
        return Some(true);
    }
    if args.interactive
        && !super::ask(
            &format!("{}: overwrite {}? ", super::program(), quote(dest)),
            Yes::Initial,
        )
    {
        return Some(true);
    }
    None
}

/// `cp -a` then remove: the source goes only when every part of it arrived.
fn across_file_systems(
    name: &'static str,
    args: &Args,
    src: &Path,
    dest: &Path,
    dest_meta: Option<&fs::Metadata>,
) -> bool {
    if let Some(existing) = dest_meta {
        let cleared = if existing.is_dir() {
            fs::remove_dir(dest)
        } else {
            fs::remove_file(dest)
        };
        if let Err(err) = cleared {
            complain(
                name,
                format!(
                    "inter-device move failed: {} to {}; unable to remove target: {}",
                    quote(src),
                    quote(dest),
                    strerror(&err)
                ),
            );
            return false;
        }
    }
    let opts = Options {
        recursive: true,
        deref: Deref::Never,
        preserve: Preserve::all(),
        existing: Existing::Overwrite,
        force: true,
        remove_destination: true,
    };
    let mut report = Report {
        name,
        verbose: args.verbose,
    };
    let copied = Copier::new(opts, &mut report).copy(src, dest);
    if !copied {
        return false;
    }
    let remove_opts = remove::Options {
        recursive: true,
        ..remove::Options::default()
    };
    remove::remove(src, remove_opts, &mut report)
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let pairs = super::cp::plan(
        &args.files,
        args.target_directory.as_deref(),
        args.no_target_directory,
    )?;
    let mut status = 0;
    for (src, dest) in &pairs {
        if !move_one(name, &args, src, dest) {
            status = 1;
        }
    }
    Ok(status)
}
