//! usage: rescue rmdir [-p] [--ignore-fail-on-non-empty] [-v] DIRECTORY...
//!
//! Remove empty directories, GNU `rmdir` compatible:
//!   -p, --parents                remove DIRECTORY, then each parent named in it
//!                                (`rmdir -p a/b/c` is `rmdir a/b/c a/b a`)
//!   --ignore-fail-on-non-empty   a directory that is not empty is no error
//!   -v, --verbose                print a line for each directory removed
//!
//! rmdir(2) never follows a symlink in the last component: `rmdir link` fails with
//! "Not a directory", `rmdir link/` with the kernel's own refusal, as with GNU.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::Exit;

use super::{complain, quote, strerror};

#[derive(Parser)]
#[command(about = "Remove empty directories", disable_help_flag = true)]
pub(super) struct Args {
    /// remove DIRECTORY and its ancestors
    #[arg(short = 'p', long = "parents")]
    parents: bool,
    /// ignore each failure that is solely because a directory is non-empty
    #[arg(long = "ignore-fail-on-non-empty")]
    ignore_non_empty: bool,
    /// output a diagnostic for every directory processed
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(value_name = "DIRECTORY", value_parser = super::rm::any_path())]
    dirs: Vec<PathBuf>,
}

/// `a/b//c/` without its last component: `a/b`; None when nothing is left.
fn strip_last(path: &Path) -> Option<PathBuf> {
    let bytes = path.as_os_str().as_bytes();
    let end = bytes.iter().rposition(|&b| b != b'/')?;
    let slash = bytes[..=end].iter().rposition(|&b| b == b'/')?;
    let keep = bytes[..slash].iter().rposition(|&b| b != b'/')?;
    Some(PathBuf::from(OsStr::from_bytes(&bytes[..=keep])))
}

/// GNU's `ignorable_failure` for --ignore-fail-on-non-empty: the directory is not empty, or
/// the failure (permissions, a read-only or busy file system) may hide that it is not.
fn ignorable(args: &Args, err: &std::io::Error, dir: &Path) -> bool {
    if !args.ignore_non_empty {
        return false;
    }
    match err.raw_os_error() {
        Some(libc::ENOTEMPTY | libc::EEXIST) => true,
        Some(libc::EACCES | libc::EPERM | libc::EROFS | libc::EBUSY) => {
            std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
        }
        _ => false,
    }
}

fn removing(args: &Args, dir: &Path) {
    if args.verbose {
        let _ = writeln!(
            std::io::stdout().lock(),
            "{}: removing directory, {}",
            super::program(),
            quote(dir)
        );
    }
}

/// The message for an operand rmdir(2) refused: `link/` to a directory is GNU's "Symbolic
/// link not followed" (Linux does not follow it).
fn operand_failure(dir: &Path, err: &std::io::Error) -> String {
    let bytes = dir.as_os_str().as_bytes();
    if err.raw_os_error() == Some(libc::ENOTDIR) && bytes.len() > 1 && bytes.ends_with(b"/") {
        let followed = std::fs::metadata(dir);
        let to_dir = match &followed {
            Ok(meta) => meta.is_dir(),
            Err(e) => e.raw_os_error() != Some(libc::ENOTDIR),
        };
        let end = bytes.iter().rposition(|&b| b != b'/').map_or(1, |i| i + 1);
        let bare = Path::new(OsStr::from_bytes(&bytes[..end]));
        if to_dir && std::fs::symlink_metadata(bare).is_ok_and(|m| m.file_type().is_symlink()) {
            return format!(
                "failed to remove {}: Symbolic link not followed",
                quote(dir)
            );
        }
    }
    format!("failed to remove {}: {}", quote(dir), strerror(err))
}

/// `-p`: each parent named in `dir`, innermost first, until one fails.
fn remove_parents(name: &str, args: &Args, dir: &Path) -> bool {
    let mut current = dir.to_path_buf();
    while let Some(parent) = strip_last(&current) {
        current = parent;
        removing(args, &current);
        if let Err(err) = std::fs::remove_dir(&current) {
            if ignorable(args, &err, &current) {
                return true;
            }
            let what = if err.raw_os_error() == Some(libc::ENOTDIR) {
                ""
            } else {
                "directory "
            };
            complain(
                name,
                format!(
                    "failed to remove {what}{}: {}",
                    quote(&current),
                    strerror(&err)
                ),
            );
            return false;
        }
    }
    true
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    if args.dirs.is_empty() {
        return Err(Exit::usage("missing operand"));
    }
    let mut status = 0;
    for dir in &args.dirs {
        removing(&args, dir);
        match std::fs::remove_dir(dir) {
            Err(err) if ignorable(&args, &err, dir) => {}
            Err(err) => {
                complain(name, operand_failure(dir, &err));
                status = 1;
            }
            Ok(()) => {
                if args.parents && !remove_parents(name, &args, dir) {
                    status = 1;
                }
            }
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_stripped_like_dirname() {
        assert_eq!(strip_last(Path::new("a/b//c/")), Some(PathBuf::from("a/b")));
        assert_eq!(strip_last(Path::new("a")), None);
        assert_eq!(strip_last(Path::new("/a")), None);
    }
}
