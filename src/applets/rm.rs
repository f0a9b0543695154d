//! usage: rescue rm [-f] [-i] [-I] [--interactive[=WHEN]] [-r|-R] [-d] [-v]
//!                 [--one-file-system] [--preserve-root[=all]|--no-preserve-root] FILE...
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
//!   -I                     prompt once before removing more than three files or a tree
//!   --interactive[=WHEN]   never, once (-I), or always (-i, the default WHEN)
//!   -r, -R, --recursive    remove directories and their contents
//!   -d, --dir              remove empty directories
//!   -v, --verbose          say what was removed
//!   --one-file-system      do not enter a directory on another file system than its operand
//!   --preserve-root=all    also leave alone an operand that is a mount point
//!
//! The last of -f, -i, -I and --interactive wins. Without -f, a write-protected file is asked
//! about when stdin is a terminal, as GNU does. Messages and exit status (1 if anything was not
//! removed) are GNU's.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{Exit, Yes};

use super::{complain, quote};
use crate::sys::remove::{self, Options, Problem, Question};

#[derive(Parser)]
#[command(
    about = "Remove files or directories",
    disable_help_flag = true,
    args_override_self = true
)]
pub(super) struct Args {
    /// ignore nonexistent files, never prompt
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// prompt before every removal
    #[arg(short = 'i')]
    interactive: bool,
    /// prompt once before removing more than three files, or when removing recursively
    #[arg(short = 'I')]
    once: bool,
    /// prompt according to WHEN: never, once (-I), or always (-i)
    #[arg(long = "interactive", value_name = "WHEN", num_args = 0..=1,
          require_equals = true, default_missing_value = "always")]
    when: Option<String>,
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
    /// do not remove '/' (the default); with 'all', nor an operand on another device
    #[arg(long = "preserve-root", value_name = "all", num_args = 0..=1,
          require_equals = true, default_missing_value = "")]
    preserve_root: Option<String>,
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(value_name = "FILE", value_parser = any_path())]
    files: Vec<PathBuf>,
}

/// A path operand that may be empty: `''` is an error for that operand alone (GNU's "cannot
/// remove '': No such file or directory"), not a usage error for the whole command.
pub(super) fn any_path() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// When to ask, GNU's `rm_interactive`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ask {
    /// `-f`, `--interactive=never`.
    Never,
    /// The default, and `-I`: only about write-protected files, and only on a terminal.
    Sometimes,
    /// `-i`.
    Always,
}

/// `--interactive`'s WHEN: its spellings and abbreviations, as GNU's argmatch takes them.
fn parse_when(value: &str) -> Result<(Ask, bool), Exit> {
    const WHENS: &[(&str, Ask, bool)] = &[
        ("never", Ask::Never, false),
        ("no", Ask::Never, false),
        ("none", Ask::Never, false),
        ("once", Ask::Sometimes, true),
        ("always", Ask::Always, false),
        ("yes", Ask::Always, false),
    ];
    if let Some(&(_, ask, once)) = WHENS.iter().find(|(name, ..)| *name == value) {
        return Ok((ask, once));
    }
    let found: Vec<_> = WHENS
        .iter()
        .filter(|(name, ..)| !value.is_empty() && name.starts_with(value))
        .collect();
    match found.as_slice() {
        [first, rest @ ..] if rest.iter().all(|w| (w.1, w.2) == (first.1, first.2)) => {
            Ok((first.1, first.2))
        }
        _ => {
            let what = if found.is_empty() {
                "invalid"
            } else {
                "ambiguous"
            };
            Err(Exit::usage(format!(
                "{what} argument {} for '--interactive'\nValid arguments are:\n  \
                 - 'never', 'no', 'none'\n  - 'once'\n  - 'always', 'yes'",
                quote(Path::new(value))
            )))
        }
    }
}

/// The -f/-i/-I/--interactive settings in command-line order (the last one wins, and -f's
/// "ignore missing files" is undone by the others, as in GNU): (ask, once, ignore_missing).
fn interaction(raw: &[OsString]) -> Result<(Ask, bool, bool), Exit> {
    let (mut ask, mut once, mut ignore) = (Ask::Sometimes, false, false);
    for arg in raw {
        let bytes = arg.as_encoded_bytes();
        if bytes == b"--" {
            break;
        }
        if let Some(long) = bytes.strip_prefix(b"--") {
            let (name, value) = match long.iter().position(|&b| b == b'=') {
                Some(eq) => (&long[..eq], Some(&long[eq + 1..])),
                None => (long, None),
            };
            if name.len() >= 2 && b"interactive".starts_with(name) {
                let value = value.map_or("always".into(), String::from_utf8_lossy);
                (ask, once) = parse_when(&value)?;
                ignore = ignore && ask == Ask::Never;
            } else if !name.is_empty() && b"force".starts_with(name) {
                (ask, once, ignore) = (Ask::Never, false, true);
            }
        } else if let Some(shorts) = bytes.strip_prefix(b"-") {
            for flag in shorts {
                match flag {
                    b'f' => (ask, once, ignore) = (Ask::Never, false, true),
                    b'i' => (ask, once, ignore) = (Ask::Always, false, false),
                    b'I' => (ask, once, ignore) = (Ask::Sometimes, true, false),
                    _ => {}
                }
            }
        }
    }
    Ok((ask, once, ignore))
}

struct Report {
    name: &'static str,
    verbose: bool,
    ask: Ask,
    stdin_tty: bool,
    ignore_missing: bool,
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

    /// GNU's `prompt`: always with -i; otherwise only about a write-protected file, and only
    /// when stdin is a terminal; never with -f.
    fn confirm(&mut self, question: Question) -> bool {
        if self.ask == Ask::Never {
            return true;
        }
        let place = match &question {
            Question::Descend(_, place) | Question::Remove { place, .. } => *place,
        };
        let check = !self.ignore_missing && (self.ask == Ask::Always || self.stdin_tty);
        let protected = check && place.write_protected();
        if !protected && self.ask != Ask::Always {
            return true;
        }
        if let Question::Remove {
            kind: "symbolic link",
            ..
        } = question
        {
            if self.ask != Ask::Always {
                return true;
            }
        }
        let wp = if protected { "write-protected " } else { "" };
        let text = match question {
            Question::Descend(path, _) => format!("descend into {wp}directory {}? ", quote(path)),
            Question::Remove { path, kind, .. } => format!("remove {wp}{kind} {}? ", quote(path)),
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
        Problem::Root(path) => {
            let first = if path.as_os_str() == "/" {
                format!("it is dangerous to operate recursively on {}", quote(path))
            } else {
                format!(
                    "it is dangerous to operate recursively on {} (same as '/')",
                    quote(path)
                )
            };
            let second = if no_preserve_root {
                "refusing even with --no-preserve-root: rescue never removes '/'"
            } else {
                "use --no-preserve-root to override this failsafe"
            };
            vec![first, second.to_string()]
        }
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
        Problem::MountPoint(path) => vec![
            format!("skipping {}, since it's on a different device", quote(path)),
            "and --preserve-root=all is in effect".to_string(),
        ],
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
    // GNU's hidden option for its tests: act as if stdin were a terminal.
    let presume_tty = args.iter().any(|a| a == "---presume-input-tty");
    let args: Vec<OsString> = args
        .into_iter()
        .filter(|a| a != "---presume-input-tty")
        .collect();
    let (ask, once, ignore_missing) = interaction(&args)?;
    let args: Args = super::parse(name, args)?;
    let _ = (args.force, args.interactive, args.once, &args.when);
    let preserve_all_root = match args.preserve_root.as_deref() {
        None | Some("") => false,
        Some("all") => true,
        Some(other) => {
            return Err(Exit::failed(
                1,
                format!(
                    "unrecognized --preserve-root argument: {}",
                    quote(Path::new(other))
                ),
            ))
        }
    };
    if args.files.is_empty() {
        if ignore_missing {
            return Ok(0);
        }
        return Err(Exit::usage("missing operand"));
    }
    if once && (args.recursive || args.files.len() > 3) {
        let n = args.files.len();
        let plural = if n == 1 { "argument" } else { "arguments" };
        let how = if args.recursive { " recursively" } else { "" };
        let prompt = format!("{}: remove {n} {plural}{how}? ", super::program());
        if !super::ask(&prompt, Yes::Initial) {
            return Ok(0);
        }
    }
    let opts = Options {
        recursive: args.recursive,
        empty_dirs: args.dir,
        ignore_missing,
        one_file_system: args.one_file_system,
        preserve_all_root,
    };
    let mut report = Report {
        name,
        verbose: args.verbose,
        ask,
        stdin_tty: presume_tty || std::io::IsTerminal::is_terminal(&std::io::stdin()),
        ignore_missing,
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
