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

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    if args.dirs.is_empty() {
        return Err(Exit::usage("missing operand"));
    }
    let mut status = 0;
    for dir in &args.dirs {
        let mut current = dir.clone();
        let mut first = true;
        loop {
            if args.verbose {
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "{name}: removing directory, {}",
                    quote(&current)
                );
            }
            if let Err(err) = std::fs::remove_dir(&current) {
                let non_empty = matches!(err.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST));
                if !(args.ignore_non_empty && non_empty) {
                    let what = if first { "" } else { "directory " };
                    complain(
                        name,
                        format!(
                            "failed to remove {what}{}: {}",
                            quote(&current),
                            strerror(&err)
                        ),
                    );
                    status = 1;
                }
                break;
            }
            first = false;
            if !args.parents {
                break;
            }
            match strip_last(&current) {
                Some(parent) => current = parent,
                None => break,
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
