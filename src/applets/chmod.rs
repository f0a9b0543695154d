//! usage: rescue chmod [-R] [-c|-v] [-f] [--preserve-root|--no-preserve-root]
//!                     MODE[,MODE]... FILE...
//!        rescue chmod [OPTION]... --reference=RFILE FILE...
//!
//! Change file mode bits, as GNU chmod. MODE is octal (`755`, `02750`) or symbolic clauses
//! `[ugoa]*([-+=]([rwxXst]*|[ugo]))+` separated by commas (`u+s,g-w,o=rx,a+X,+t`, `g=u`). A
//! clause that names no `ugoa` is limited by the umask. A directory keeps its setuid and setgid
//! bits under an octal mode of fewer than five digits unless the mode sets them (GNU 8.32+).
//! `-w`, `-x`, `-rwx` given as options are modes too; then, as GNU, a result the umask made
//! differ from what was asked is reported (`new permissions are ..., not ...`) and exits 1.
//!
//!   -R  recurse; symlinks found inside the tree are never followed (nor changed: a link's
//!       own mode means nothing on Linux). Operands that are symlinks are followed. The walk
//!       goes by directory descriptor (`sys::tree`): a file or directory replaced by a symlink
//!       while it runs is reported and left alone, never followed; any depth is walked.
//!   -c  report only the changes made;  -v  report every file;  -f  no error messages
//!   --reference=RFILE  use RFILE's mode
//!   --preserve-root    with -R, refuse an operand that is `/` or resolves to it (`/.`, a
//!                      symlink to `/`) before changing anything, as GNU
//!   --no-preserve-root do not treat `/` specially (the default); the last of the two wins
//!
//! Exit 0 on success, 1 if any file could not be changed or on a usage error.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::Exit;

use super::{complain, quote, strerror};
use crate::sys::at::{self, ChangeError};
use crate::sys::mode_spec::{permission_string, ModeSpec, MODE_BITS};
use crate::sys::tree::{self, Entry, NotEntered, Step};

#[derive(Parser)]
#[command(about = "Change file mode bits")]
pub(super) struct Args {
    /// change files and directories recursively
    #[arg(short = 'R', long = "recursive")]
    recursive: bool,
    /// output a diagnostic for every file processed
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// like verbose but report only when a change is made
    #[arg(short = 'c', long = "changes")]
    changes: bool,
    /// suppress most error messages
    #[arg(short = 'f', long = "silent", visible_alias = "quiet")]
    silent: bool,
    /// use RFILE's mode instead of MODE values
    #[arg(long = "reference", value_name = "RFILE")]
    reference: Option<PathBuf>,
    /// fail to operate recursively on '/'
    #[arg(long = "preserve-root", overrides_with = "no_preserve_root")]
    preserve_root: bool,
    /// do not treat '/' specially (the default)
    #[arg(long = "no-preserve-root", overrides_with = "preserve_root")]
    no_preserve_root: bool,
    #[arg(value_name = "MODE|FILE")]
    operands: Vec<OsString>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verbosity {
    Off,
    Changes,
    All,
}

struct Chmod<'a> {
    name: &'static str,
    spec: &'a ModeSpec,
    umask: u32,
    verbosity: Verbosity,
    silent: bool,
    recursive: bool,
    /// `--preserve-root` with `-R`: the device and inode of `/`, refused wherever met.
    root: Option<(u64, u64)>,
    /// The mode came from options like `-w`: say when the umask made the result differ.
    diagnose_surprises: bool,
}

/// Bytes that can follow `-` in a mode given as an option (`-w`, `-rwx`, `-g+s`).
fn is_mode_option(arg: &OsString) -> bool {
    let bytes = arg.as_bytes();
    bytes.len() >= 2
        && bytes[0] == b'-'
        && bytes[1] != b'-'
        && bytes[1..]
            .iter()
            .all(|b| b"rwxXstugoa,+=-01234567".contains(b))
}

/// GNU accepts `chmod -w FILE`: such modes are pulled out before clap sees them as flags.
/// Returns them and the arguments left for clap.
fn split_mode_options(args: Vec<OsString>) -> (Vec<String>, Vec<OsString>) {
    let mut option_modes: Vec<String> = Vec::new();
    let mut rest = Vec::with_capacity(args.len());
    let mut after_dashdash = false;
    for arg in args {
        if !after_dashdash && arg == "--" {
            after_dashdash = true;
        } else if !after_dashdash && is_mode_option(&arg) {
            option_modes.push(arg.to_string_lossy().into_owned());
            continue;
        }
        rest.push(arg);
    }
    (option_modes, rest)
}

/// The mode to apply, from `--reference`, the option modes, or the first operand; with the
/// text it was parsed from (for a later "missing operand after" message).
fn mode_spec(
    args: &Args,
    option_modes: &[String],
    operands: &mut impl Iterator<Item = OsString>,
) -> Result<(ModeSpec, Option<String>), Exit> {
    if let Some(reference) = &args.reference {
        let meta = super::reference_metadata(reference, true)?;
        return Ok((ModeSpec::equals(meta.mode(), MODE_BITS), None));
    }
    let text = if option_modes.is_empty() {
        let mode = operands
            .next()
            .ok_or_else(|| Exit::usage("missing operand"))?;
        mode.to_string_lossy().into_owned()
    } else {
        option_modes.join(",")
    };
    match ModeSpec::parse(&text) {
        Ok(spec) => Ok((spec, Some(text))),
        Err(_) => Err(Exit::failed(
            1,
            format!("invalid mode: {}", quote(Path::new(&text))),
        )),
    }
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let (option_modes, rest) = split_mode_options(args);
    let mut args: Args = super::parse(name, rest)?;
    let mut operands = std::mem::take(&mut args.operands).into_iter();
    let (spec, mode_text) = mode_spec(&args, &option_modes, &mut operands)?;
    let files: Vec<PathBuf> = operands.map(PathBuf::from).collect();
    if files.is_empty() {
        let message = match mode_text.as_deref() {
            Some(text) if option_modes.is_empty() => {
                format!("missing operand after {}", quote(Path::new(text)))
            }
            _ => "missing operand".into(),
        };
        return Err(Exit::usage(message));
    }
    let chmod = Chmod {
        name,
        spec: &spec,
        umask: crate::sys::copy::current_umask(),
        verbosity: if args.changes {
            Verbosity::Changes
        } else if args.verbose {
            Verbosity::All
        } else {
            Verbosity::Off
        },
        silent: args.silent,
        recursive: args.recursive,
        root: root_to_preserve(args.recursive && args.preserve_root)?,
        diagnose_surprises: !option_modes.is_empty(),
    };
    let mut ok = true;
    for file in &files {
        ok &= chmod.operand(file);
    }
    Ok(i32::from(!ok))
}

/// `/`'s device and inode when `--preserve-root` applies (shared with chown).
pub(super) fn root_to_preserve(wanted: bool) -> Result<Option<(u64, u64)>, Exit> {
    if !wanted {
        return Ok(None);
    }
    match std::fs::metadata("/") {
        Ok(meta) => Ok(Some((meta.dev(), meta.ino()))),
        Err(err) => Err(Exit::failed(
            1,
            format!("failed to get attributes of '/': {}", strerror(&err)),
        )),
    }
}

/// GNU's refusal of `/` under `--preserve-root`; said even with `-f`.
fn refuse_root(program: &str, path: &Path) {
    let same = if path.as_os_str() == "/" {
        String::new()
    } else {
        format!(" (same as {})", quote(Path::new("/")))
    };
    complain(
        program,
        format!(
            "it is dangerous to operate recursively on {}{same}",
            quote(path)
        ),
    );
    complain(program, "use --no-preserve-root to override this failsafe");
}

/// What became of one file (shared with chown).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Done,
    Failed,
    /// Its name led elsewhere by the time it was changed: not changed, and not entered.
    Replaced,
}

/// The end of a message about a file found replaced in the middle of the walk (shared with
/// chown).
pub(super) const REPLACED: &str = "it was replaced while being walked (by a symlink?); left alone";

/// A walk that stopped, in the words of GNU's messages.
pub(super) fn walk_error(err: &crate::Error) -> String {
    match err {
        crate::Error::Io { op, path, source } => {
            format!("cannot {op} {}: {}", quote(path), strerror(source))
        }
        crate::Error::Refused { path, why } => format!("{}: {why}", quote(path)),
        other => other.to_string(),
    }
}

/// What `chmod -R` and `chown -R` do to one entry, and where they say what went wrong.
pub(super) trait Change {
    fn change_entry(&self, entry: &Entry) -> Outcome;
    fn report(&self, message: String);
    /// The applet as called, for messages that `-f` does not silence.
    fn program(&self) -> &'static str;
    /// `/`'s device and inode when `--preserve-root` applies.
    fn root(&self) -> Option<(u64, u64)>;
    /// A directory is changed after its contents (chown) rather than before (chmod).
    fn directories_last(&self) -> bool {
        false
    }
}

/// `chmod -R`, `chown -R`: every entry changed before it is entered; failures reported and
/// walked past. A directory that is `/` under `--preserve-root` is refused, neither changed
/// nor entered. Returns whether everything was changed.
/// With `logical`, symlinks inside the tree are followed (chown's `-L`).
pub(super) fn change_tree(changer: &impl Change, top: &Entry, logical: bool) -> bool {
    let mut walk = ChangeWalk { changer, ok: true };
    let options = tree::Options::default();
    let walked = if logical {
        tree::walk_logical(top, options, &mut walk)
    } else {
        tree::walk(top, options, &mut walk)
    };
    if let Err(err) = walked {
        walk.ok = false;
        changer.report(walk_error(&err));
    }
    walk.ok
}

struct ChangeWalk<'c, C> {
    changer: &'c C,
    ok: bool,
}

impl<C: Change> tree::Visitor for ChangeWalk<'_, C> {
    fn visit(&mut self, entry: &Entry) -> Step {
        let is_root = |root| (entry.stat.st_dev, entry.stat.st_ino) == root;
        if entry.is_dir() && self.changer.root().is_some_and(is_root) {
            refuse_root(self.changer.program(), entry.path);
            self.ok = false;
            return Step::Done(false);
        }
        if entry.is_dir() && self.changer.directories_last() {
            return Step::Enter;
        }
        let outcome = self.changer.change_entry(entry);
        self.ok &= outcome == Outcome::Done;
        // GNU enters a directory it could not change; it may still be readable.
        if entry.is_dir() && outcome != Outcome::Replaced {
            Step::Enter
        } else {
            Step::Done(true)
        }
    }

    fn left(&mut self, entry: &Entry, children_ok: bool) -> bool {
        if !self.changer.directories_last() {
            return children_ok;
        }
        let outcome = self.changer.change_entry(entry);
        self.ok &= outcome == Outcome::Done;
        children_ok && outcome == Outcome::Done
    }

    fn not_entered(&mut self, entry: &Entry, why: NotEntered) -> bool {
        self.ok = false;
        self.changer.report(not_entered_message(entry.path, &why));
        false
    }

    fn unreadable(&mut self, path: &Path, err: std::io::Error) -> bool {
        self.ok = false;
        self.changer
            .report(format!("cannot access {}: {}", quote(path), strerror(&err)));
        false
    }
}

impl Change for Chmod<'_> {
    fn change_entry(&self, entry: &Entry) -> Outcome {
        self.change(entry)
    }

    fn report(&self, message: String) {
        self.error(message);
    }

    fn program(&self) -> &'static str {
        self.name
    }

    fn root(&self) -> Option<(u64, u64)> {
        self.root
    }
}

/// GNU's "cannot read directory" (shared with chown).
pub(super) fn not_entered_message(path: &Path, why: &NotEntered) -> String {
    match why {
        NotEntered::Replaced => format!("cannot read directory {}: {REPLACED}", quote(path)),
        NotEntered::Open(err) | NotEntered::Read(err) => {
            format!("cannot read directory {}: {}", quote(path), strerror(err))
        }
    }
}

impl Chmod<'_> {
    fn error(&self, message: String) {
        if !self.silent {
            complain(self.name, message);
        }
    }

    /// One command-line operand: followed if it is a symlink, then walked with `-R`.
    fn operand(&self, path: &Path) -> bool {
        let Ok(name) = CString::new(path.as_os_str().as_bytes()) else {
            let err = std::io::Error::from_raw_os_error(libc::EINVAL);
            self.error(format!("cannot access {}: {}", quote(path), strerror(&err)));
            return false;
        };
        let stat = match at::stat(libc::AT_FDCWD, &name, true) {
            Ok(stat) => stat,
            Err(err) => {
                let dangling = err.raw_os_error() == Some(libc::ENOENT)
                    && at::stat(libc::AT_FDCWD, &name, false).is_ok_and(|st| at::is_symlink(&st));
                if dangling {
                    self.error(format!(
                        "cannot operate on dangling symlink {}",
                        quote(path)
                    ));
                } else {
                    self.error(format!("cannot access {}: {}", quote(path), strerror(&err)));
                }
                if self.verbosity == Verbosity::All {
                    println!("{} could not be accessed", quote(path));
                }
                return false;
            }
        };
        let top = Entry {
            dir: libc::AT_FDCWD,
            name: &name,
            path,
            stat: &stat,
            follow: true,
        };
        if !self.recursive {
            return self.change(&top) == Outcome::Done;
        }
        change_tree(self, &top, false)
    }

    fn change(&self, entry: &Entry) -> Outcome {
        let path = entry.path;
        let old = entry.stat.st_mode;
        let new = self.spec.adjust(old, entry.is_dir(), self.umask);
        let mut outcome = Outcome::Done;
        // The mode the kernel left, which may lack a setgid bit it refused silently.
        let mut actual = None;
        if !entry.is_symlink() {
            match entry.set_mode(new) {
                Ok(after) => actual = Some(after.st_mode),
                Err(ChangeError::Replaced) => {
                    self.error(format!(
                        "changing permissions of {}: {REPLACED}",
                        quote(path)
                    ));
                    outcome = Outcome::Replaced;
                }
                Err(ChangeError::Io(err)) => {
                    self.error(format!(
                        "changing permissions of {}: {}",
                        quote(path),
                        strerror(&err)
                    ));
                    outcome = Outcome::Failed;
                }
            }
        }
        if self.verbosity != Verbosity::Off {
            let changed = actual.is_some_and(|actual| (old ^ actual) & MODE_BITS != 0);
            if changed || self.verbosity == Verbosity::All {
                let ok = outcome == Outcome::Done;
                self.describe(path, old, new, ok, actual.is_some(), changed);
            }
        }
        if actual.is_some() && self.diagnose_surprises {
            let naive = self.spec.adjust(old, entry.is_dir(), 0);
            if new & !naive & MODE_BITS != 0 {
                complain(
                    self.name,
                    format!(
                        "{}: new permissions are {}, not {}",
                        crate::sys::quoting::shell_word(path),
                        permission_string(new),
                        permission_string(naive)
                    ),
                );
                outcome = Outcome::Failed;
            }
        }
        outcome
    }

    fn describe(&self, path: &Path, old: u32, new: u32, ok: bool, applied: bool, changed: bool) {
        let old = old & MODE_BITS;
        let new = new & MODE_BITS;
        let line = if ok && !applied {
            format!(
                "neither symbolic link {} nor referent has been changed",
                quote(path)
            )
        } else if !ok {
            format!(
                "failed to change mode of {} from {old:04o} ({}) to {new:04o} ({})",
                quote(path),
                permission_string(old),
                permission_string(new)
            )
        } else if !changed {
            format!(
                "mode of {} retained as {new:04o} ({})",
                quote(path),
                permission_string(new)
            )
        } else {
            format!(
                "mode of {} changed from {old:04o} ({}) to {new:04o} ({})",
                quote(path),
                permission_string(old),
                permission_string(new)
            )
        };
        println!("{line}");
    }
}
