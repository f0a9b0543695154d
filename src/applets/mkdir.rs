//! usage: rescue mkdir [-p] [-m MODE] [-v] DIRECTORY...
//!
//! Make directories, GNU `mkdir` compatible:
//!   -p, --parents   make parent directories as needed; an existing directory is no error
//!   -m, --mode=MODE set the mode of each DIRECTORY: octal or symbolic as chmod's, applied to
//!                   a=rwx (a clause naming no ugoa is limited by the umask); what it sets is
//!                   exact, not masked by the umask; parents made by -p get the default mode
//!                   plus u+wx, as GNU does; an existing DIRECTORY under -p is left as it is
//!   -v, --verbose   print a line for each directory made
//!
//! Exit status 1 if any DIRECTORY failed.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use clap::Parser;

use super::Exit;

use super::{complain, quote, strerror};
use crate::sys::mode_spec::ModeSpec;

#[derive(Parser)]
#[command(about = "Make directories", disable_help_flag = true)]
pub(super) struct Args {
    /// no error if existing, make parent directories as needed
    #[arg(short = 'p', long = "parents")]
    parents: bool,
    /// set file mode (as in chmod), not a=rwx - umask
    #[arg(
        short = 'm',
        long = "mode",
        value_name = "MODE",
        allow_hyphen_values = true
    )]
    mode: Option<String>,
    /// print a message for each created directory
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(value_name = "DIRECTORY")]
    dirs: Vec<PathBuf>,
}

/// Every proper prefix of `path` that names a directory to make first: `a/b//c` gives `a`
/// and `a/b`.
fn parents(path: &Path) -> Vec<PathBuf> {
    let bytes = path.as_os_str().as_bytes();
    let mut out = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'/' && i > 0 && bytes[i - 1] != b'/' && bytes[i + 1..].iter().any(|&c| c != b'/') {
            out.push(PathBuf::from(OsStr::from_bytes(&bytes[..i])));
        }
    }
    out
}

struct Run {
    name: &'static str,
    verbose: bool,
    umask: u32,
    /// The mode for each DIRECTORY: `-m` applied to `a=rwx` (GNU's `mode_adjust`), or 0777.
    mode: u32,
    /// The bits `-m` set or cleared; the rest are left as `mkdir(2)` and the umask made them.
    mode_bits: u32,
    /// The umask for each DIRECTORY: with `-m`, only for the bits `-m` did not give.
    umask_self: u32,
}

const SPECIAL: u32 = 0o7000;

/// `mkdir(2)` under `umask` (restored after).
fn make_dir(path: &Path, mode: u32, umask: u32) -> io::Result<()> {
    // SAFETY: umask cannot fail; the process is single-threaded while it makes directories.
    let old = unsafe { libc::umask(umask) };
    let made = fs::DirBuilder::new().mode(mode).create(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    made
}

impl Run {
    fn created(&self, path: &Path) {
        if self.verbose {
            let _ = writeln!(
                std::io::stdout().lock(),
                "{}: created directory {}",
                self.name,
                quote(path)
            );
        }
    }

    fn fail(&self, path: &Path, err: &io::Error) -> bool {
        complain(
            self.name,
            format!("cannot create directory {}: {}", quote(path), strerror(err)),
        );
        false
    }

    /// A parent made by `-p`: 0777 under the umask, but always `u+wx` so the walk can go on.
    fn make_parent(&self, path: &Path) -> bool {
        match make_dir(path, 0o777, self.umask & !0o300) {
            Ok(()) => {
                self.created(path);
                true
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
                    true
                } else {
                    self.fail(path, &io::Error::from_raw_os_error(libc::ENOTDIR))
                }
            }
            Err(err) => self.fail(path, &err),
        }
    }

    /// GNU's `make_dir_parents` for one DIRECTORY: made with group and other write held back
    /// while special bits are still to be set, then changed to the exact `-m` mode when the
    /// umask or `mkdir(2)` could have kept it from being.
    fn make(&self, path: &Path, parents: bool) -> bool {
        if parents && !self.parents_of(path) {
            return false;
        }
        let keep_special = (self.mode_bits & 0o6000) | (self.mode & 0o1000) == 0;
        let mut mkdir_mode = self.mode;
        if !keep_special {
            mkdir_mode &= !0o022;
        }
        match make_dir(path, mkdir_mode, self.umask_self) {
            Ok(()) => {
                self.created(path);
                let umask_is_fine = self.mode & self.mode_bits & 0o777 == 0;
                if keep_special && umask_is_fine {
                    return true;
                }
                self.fix_mode(path)
            }
            Err(err)
                if parents
                    && err.kind() == io::ErrorKind::AlreadyExists
                    && fs::metadata(path).is_ok_and(|m| m.is_dir()) =>
            {
                true
            }
            Err(err) => self.fail(path, &err),
        }
    }

    /// The bits `-m` gave, where the new directory lacks them.
    fn fix_mode(&self, path: &Path) -> bool {
        let fixed = fs::symlink_metadata(path).and_then(|meta| {
            if !meta.is_dir() {
                return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
            }
            let now = meta.mode() & (SPECIAL | 0o777);
            if (now ^ self.mode) & self.mode_bits == 0 {
                return Ok(());
            }
            let mode = self.mode | (now & !self.mode_bits);
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
        });
        match fixed {
            Ok(()) => true,
            Err(err) => {
                let shown = quote(path);
                let message = format!("cannot change permissions of {shown}: {}", strerror(&err));
                complain(self.name, message);
                false
            }
        }
    }

    fn parents_of(&self, path: &Path) -> bool {
        parents(path).iter().all(|parent| self.make_parent(parent))
    }
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let umask = crate::sys::copy::current_umask();
    let (mode, mode_bits, umask_self) = match &args.mode {
        None => (0o777, 0, umask),
        Some(text) => match ModeSpec::parse(text) {
            Ok(spec) => {
                let (mode, bits) = spec.adjust_with_bits(0o777, true, umask);
                (mode, bits, umask & !mode)
            }
            Err(_) => {
                return Err(Exit::failed(
                    1,
                    format!("invalid mode {}", quote(Path::new(text))),
                ))
            }
        },
    };
    if args.dirs.is_empty() {
        return Err(Exit::usage("missing operand"));
    }
    let run = Run {
        name,
        verbose: args.verbose,
        umask,
        mode,
        mode_bits,
        umask_self,
    };
    let mut status = 0;
    for dir in &args.dirs {
        if !run.make(dir, args.parents) {
            status = 1;
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_proper_prefixes() {
        assert_eq!(
            parents(Path::new("a/b//c/")),
            vec![PathBuf::from("a"), PathBuf::from("a/b")]
        );
        assert_eq!(parents(Path::new("/x/y")), vec![PathBuf::from("/x")]);
        assert!(parents(Path::new("a")).is_empty());
    }
}
