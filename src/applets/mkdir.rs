//! usage: rescue mkdir [-p] [-m MODE] [-v] DIRECTORY...
//!
//! Make directories, GNU `mkdir` compatible:
//!   -p, --parents   make parent directories as needed; an existing directory is no error
//!   -m, --mode=MODE set the mode of the new directories (octal only; exact, not masked by the
//!                   umask); parents made by -p get the default mode plus u+wx, as GNU does
//!   -v, --verbose   print a line for each directory made
//!
//! Symbolic modes (`u=rwx,g=rx`) are not parsed here. Exit status 1 if any DIRECTORY failed.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use clap::Parser;

use super::Exit;

use super::{complain, quote, strerror};

#[derive(Parser)]
#[command(about = "Make directories", disable_help_flag = true)]
pub(super) struct Args {
    /// no error if existing, make parent directories as needed
    #[arg(short = 'p', long = "parents")]
    parents: bool,
    /// set file mode (octal), not a=rwx - umask
    #[arg(short = 'm', long = "mode", value_name = "MODE")]
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

    fn make_parent(&self, path: &Path) -> bool {
        let mode = (0o777 & !self.umask) | 0o300;
        match fs::DirBuilder::new().mode(0o777).create(path) {
            Ok(()) => {
                if mode != 0o777 & !self.umask {
                    if let Err(err) = fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
                        return self.fail(path, &err);
                    }
                }
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

    fn make(&self, path: &Path, parents: bool, mode: Option<u32>) -> bool {
        if parents && !self.parents_of(path) {
            return false;
        }
        match fs::DirBuilder::new()
            .mode(mode.unwrap_or(0o777))
            .create(path)
        {
            Ok(()) => {
                // -m is exact: the umask (and a setgid parent) must not change it.
                if let Some(mode) = mode {
                    if let Err(err) = fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
                        complain(
                            self.name,
                            format!(
                                "cannot set permissions of {}: {}",
                                quote(path),
                                strerror(&err)
                            ),
                        );
                        return false;
                    }
                }
                self.created(path);
                true
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

    fn parents_of(&self, path: &Path) -> bool {
        parents(path).iter().all(|parent| self.make_parent(parent))
    }
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let mode = match &args.mode {
        None => None,
        Some(text) => match u32::from_str_radix(text, 8) {
            Ok(mode) if mode <= 0o7777 && !text.is_empty() => Some(mode),
            _ => {
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
        umask: crate::sys::copy::current_umask(),
    };
    let mut status = 0;
    for dir in &args.dirs {
        if !run.make(dir, args.parents, mode) {
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
