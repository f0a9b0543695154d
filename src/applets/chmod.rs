//! usage: rescue chmod [-R] [-c|-v] [-f] MODE[,MODE]... FILE...
//!        rescue chmod [-R] [-c|-v] [-f] --reference=RFILE FILE...
//!
//! Change file mode bits, as GNU chmod. MODE is octal (`755`, `02750`) or symbolic clauses
//! `[ugoa]*([-+=]([rwxXst]*|[ugo]))+` separated by commas (`u+s,g-w,o=rx,a+X,+t`, `g=u`). A
//! clause that names no `ugoa` is limited by the umask. A directory keeps its setuid and setgid
//! bits under an octal mode of fewer than five digits unless the mode sets them (GNU 8.32+).
//! `-w`, `-x`, `-rwx` given as options are modes too; then, as GNU, a result the umask made
//! differ from what was asked is reported (`new permissions are ..., not ...`) and exits 1.
//!
//!   -R  recurse; symlinks found inside the tree are never followed (nor changed: a link's
//!       own mode means nothing on Linux). Operands that are symlinks are followed.
//!   -c  report only the changes made;  -v  report every file;  -f  no error messages
//!   --reference=RFILE  use RFILE's mode
//!
//! Exit 0 on success, 1 if any file could not be changed or on a usage error.

use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{complain, quote, strerror};
use crate::sys::mode_spec::{permission_string, ModeSpec, MODE_BITS};
use crate::sys::tree::{walk_physical, Visit};

#[derive(Parser)]
#[command(about = "Change file mode bits")]
struct Args {
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
    /// accepted for GNU compatibility; `/` is never treated specially
    #[arg(long = "preserve-root")]
    preserve_root: bool,
    /// accepted for GNU compatibility
    #[arg(long = "no-preserve-root")]
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

fn usage_error(name: &str, message: String) -> i32 {
    complain(name, message);
    eprintln!("Try 'rescue {name} --help' for more information.");
    1
}

pub fn main(name: &'static str, args: Vec<OsString>) -> i32 {
    // GNU accepts `chmod -w FILE`: pull such modes out before clap sees them as flags.
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
    let args: Args = match super::parse_with_exit(name, rest, 1) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let mut operands = args.operands.into_iter();
    let (spec, mode_text) = if let Some(reference) = &args.reference {
        match super::reference_metadata(name, reference, true) {
            Ok(meta) => (ModeSpec::equals(meta.mode(), MODE_BITS), None),
            Err(code) => return code,
        }
    } else {
        let text = if option_modes.is_empty() {
            match operands.next() {
                Some(mode) => mode.to_string_lossy().into_owned(),
                None => return usage_error(name, "missing operand".into()),
            }
        } else {
            option_modes.join(",")
        };
        match ModeSpec::parse(&text) {
            Ok(spec) => (spec, Some(text)),
            Err(_) => {
                complain(name, format!("invalid mode: {}", quote(Path::new(&text))));
                return 1;
            }
        }
    };
    let files: Vec<PathBuf> = operands.map(PathBuf::from).collect();
    if files.is_empty() {
        let message = match mode_text.as_deref() {
            Some(text) if option_modes.is_empty() => {
                format!("missing operand after {}", quote(Path::new(text)))
            }
            _ => "missing operand".into(),
        };
        return usage_error(name, message);
    }
    // SAFETY: umask(2) cannot fail; the old value is put back at once.
    let umask = unsafe {
        let old = libc::umask(0);
        libc::umask(old);
        old
    } as u32;
    let chmod = Chmod {
        name,
        spec: &spec,
        umask,
        verbosity: if args.changes {
            Verbosity::Changes
        } else if args.verbose {
            Verbosity::All
        } else {
            Verbosity::Off
        },
        silent: args.silent,
        recursive: args.recursive,
        diagnose_surprises: !option_modes.is_empty(),
    };
    let mut ok = true;
    for file in &files {
        ok &= chmod.operand(file);
    }
    if ok {
        0
    } else {
        1
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
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(err) => {
                let dangling = err.kind() == std::io::ErrorKind::NotFound
                    && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
                if dangling {
                    self.error(format!(
                        "cannot operate on dangling symlink {}",
                        quote(path)
                    ));
                } else {
                    self.error(format!("cannot access {}: {}", quote(path), strerror(&err)));
                }
                return false;
            }
        };
        if !self.recursive {
            return self.change(path, &meta);
        }
        let mut ok = true;
        walk_physical(path, &meta, &mut |visit| match visit {
            Visit::Entry(entry, entry_meta) => ok &= self.change(entry, entry_meta),
            Visit::Failed(err) => {
                ok = false;
                self.report_walk_error(&err);
            }
        });
        ok
    }

    fn report_walk_error(&self, err: &crate::Error) {
        if let crate::Error::Io { op, path, source } = err {
            self.error(format!("cannot {op} {}: {}", quote(path), strerror(source)));
        } else {
            self.error(err.to_string());
        }
    }

    fn change(&self, path: &Path, meta: &Metadata) -> bool {
        let old = meta.mode();
        let is_dir = meta.is_dir();
        let new = self.spec.adjust(old, is_dir, self.umask);
        let is_symlink = meta.file_type().is_symlink();
        let mut ok = true;
        let mut applied = false;
        if !is_symlink {
            match std::fs::set_permissions(path, std::fs::Permissions::from_mode(new)) {
                Ok(()) => applied = true,
                Err(err) => {
                    self.error(format!(
                        "changing permissions of {}: {}",
                        quote(path),
                        strerror(&err)
                    ));
                    ok = false;
                }
            }
        }
        if self.verbosity != Verbosity::Off {
            let changed = applied && self.mode_changed(path, old, new);
            if changed || self.verbosity == Verbosity::All {
                self.describe(path, old, new, ok, applied, changed);
            }
        }
        if applied && self.diagnose_surprises {
            let naive = self.spec.adjust(old, is_dir, 0);
            if new & !naive & MODE_BITS != 0 {
                complain(
                    self.name,
                    format!(
                        "{}: new permissions are {}, not {}",
                        super::shell_quote::quote_if_needed(path),
                        permission_string(new),
                        permission_string(naive)
                    ),
                );
                ok = false;
            }
        }
        ok
    }

    /// Whether the mode really changed; special bits may be refused silently by the kernel
    /// (setgid for a non-member), so those are read back as GNU does.
    fn mode_changed(&self, path: &Path, old: u32, new: u32) -> bool {
        let actual = if new & 0o7000 != 0 {
            match std::fs::metadata(path) {
                Ok(meta) => meta.mode(),
                Err(_) => return false,
            }
        } else {
            new
        };
        (old ^ actual) & MODE_BITS != 0
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
