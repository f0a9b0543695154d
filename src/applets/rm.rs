//! usage: rescue rm [-f] [-i] [-r|-R] [-d] [-v] [--one-file-system]
//!                 [--preserve-root|--no-preserve-root] FILE...
//!
//! Remove files and, with -r, directory trees. Learned from the day this project exists for
//! (`rm -rf something/` went through a symlink to `/lib`), it never follows a symlink:
//!   - a symlink operand is removed as a link; a tree is walked by directory descriptor with
//!     O_NOFOLLOW, so a directory swapped for a symlink mid-walk is refused, not entered; the
//!     walk is iterative and keeps few descriptors open, so no depth is too deep (GNU's too);
//!   - `rm -r link/` where `link` points to a directory removes nothing and says why (GNU would
//!     empty the target, then fail on the link);
//!   - `/` is refused, with or without --no-preserve-root; `.` and `..` are refused as GNU does.
//!
//!   -f, --force            ignore missing files, never prompt
//!   -i                     prompt before every removal (on stderr, answer on stdin)
//!   -r, -R, --recursive    remove directories and their contents
//!   -d, --dir              remove empty directories
//!   -v, --verbose          say what was removed
//!   --one-file-system      do not enter a directory on another file system than its operand
//!
//! Messages and exit status (1 if anything was not removed) are GNU's. Not done: GNU's prompt
//! for write-protected files, `-I`, `--interactive=WHEN`.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{Exit, Yes};

use super::{complain, quote};
use crate::sys::remove::{self, Options, Problem, Question};

#[derive(Parser)]
#[command(about = "Remove files or directories", disable_help_flag = true)]
pub(super) struct Args {
    /// ignore nonexistent files, never prompt
    #[arg(short = 'f', long = "force", overrides_with = "interactive")]
    force: bool,
    /// prompt before every removal
    #[arg(short = 'i', overrides_with = "force")]
    interactive: bool,
    /// remove directories and their contents recursively
    #[arg(short = 'r', short_alias = 'R', long = "recursive")]
    recursive: bool,
    /// remove empty directories
    #[arg(short = 'd', long = "dir")]
    dir: bool,
    /// explain what is being done
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// when removing recursively, skip directories on other file systems
    #[arg(long = "one-file-system")]
    one_file_system: bool,
    /// accepted for compatibility; '/' is refused anyway
    #[arg(long = "no-preserve-root")]
    no_preserve_root: bool,
    /// accepted for compatibility (the default)
    #[arg(long = "preserve-root")]
    preserve_root: bool,
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

struct Report {
    name: &'static str,
    verbose: bool,
    interactive: bool,
    no_preserve_root: bool,
}

impl remove::Reporter for Report {
    fn removed(&mut self, path: &Path, was_dir: bool) {
        if self.verbose {
            super::rm::print_removed(path, was_dir);
        }
    }

    fn problem(&mut self, problem: Problem) {
        for line in describe(&problem, self.no_preserve_root) {
            complain(self.name, line);
        }
    }

    fn confirm(&mut self, question: Question) -> bool {
        if !self.interactive {
            return true;
        }
        let text = match question {
            Question::Descend(path) => format!("descend into directory {}? ", quote(path)),
            Question::Remove { path, kind } => format!("remove {kind} {}? ", quote(path)),
        };
        super::ask(&format!("{}: {text}", super::program()), Yes::Initial)
    }
}

/// GNU's `-v` line for a removal (shared with `mv`, which removes after copying).
pub(super) fn print_removed(path: &Path, was_dir: bool) {
    let what = if was_dir {
        "removed directory"
    } else {
        "removed"
    };
    let _ = writeln!(std::io::stdout().lock(), "{what} {}", quote(path));
}

/// The message lines for a removal problem (shared with `mv`, which removes after copying).
pub(super) fn describe(problem: &Problem, no_preserve_root: bool) -> Vec<String> {
    match problem {
        // The walk stopped: a directory it had to go back up to was moved.
        Problem::Io(crate::Error::Refused { path, why }) => {
            vec![format!("cannot remove {}: {why}", quote(path))]
        }
        Problem::Io(err) => vec![super::describe_io(err)],
        Problem::IsDirectory(path) => vec![format!("cannot remove {}: Is a directory", quote(path))],
        Problem::DotOrDotDot(path) => vec![format!(
            "refusing to remove '.' or '..' directory: skipping {}",
            quote(path)
        )],
        Problem::Root(path) => vec![
            format!("it is dangerous to operate recursively on {}", quote(path)),
            if no_preserve_root {
                "refusing even with --no-preserve-root: rescue rm never removes '/'".to_string()
            } else {
                "rescue rm never removes '/' (not even with --no-preserve-root)".to_string()
            },
        ],
        Problem::SymlinkToDirWithSlash(path) => {
            let link = strip_trailing_slashes(path);
            vec![format!(
                "refusing to remove {}: it is a symlink to a directory; the trailing slash \
                 would delete the target's contents. To remove the link itself: rm {}",
                quote(path),
                crate::sys::quoting::shell_word(link)
            )]
        }
        Problem::OtherDevice(path) => vec![format!(
            "skipping {}, since it's on a different device",
            quote(path)
        )],
        Problem::Changed(path) => vec![format!(
            "cannot remove {}: it changed while being removed (replaced by a symlink?); not entered",
            quote(path)
        )],
    }
}

fn strip_trailing_slashes(path: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let end = bytes.iter().rposition(|&b| b != b'/').map_or(1, |i| i + 1);
    PathBuf::from(std::ffi::OsStr::from_bytes(&bytes[..end]))
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let _ = args.preserve_root;
    if args.files.is_empty() {
        if args.force {
            return Ok(0);
        }
        return Err(Exit::usage("missing operand"));
    }
    let opts = Options {
        recursive: args.recursive,
        empty_dirs: args.dir,
        ignore_missing: args.force,
        one_file_system: args.one_file_system,
    };
    let mut report = Report {
        name,
        verbose: args.verbose,
        interactive: args.interactive,
        no_preserve_root: args.no_preserve_root,
    };
    let mut status = 0;
    for file in &args.files {
        if !remove::remove(file, opts, &mut report) {
            status = 1;
        }
    }
    Ok(status)
}
