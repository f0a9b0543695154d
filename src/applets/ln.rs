//! usage: rescue ln [-s] [-f] [-n] [-T] [-L|-P] [-v] TARGET [LINK]
//!        rescue ln [OPTION]... TARGET... DIRECTORY
//!        rescue ln [OPTION]... -t DIRECTORY TARGET...
//!
//! Make links, GNU `ln` compatible:
//!   -s, --symbolic            make symbolic links instead of hard links
//!   -f, --force               replace existing destination files (atomically: the new link is
//!                             made under a temporary name and renamed over the old one)
//!   -n, --no-dereference      a LINK that is a symlink to a directory is replaced, not entered
//!   -T, --no-target-directory treat LINK as a normal file always
//!   -t, --target-directory DIR
//!   -L, -P                    hard-link the target of a symlink / the symlink itself (default)
//!   -v, --verbose             print 'LINK' -> 'TARGET' ('=>' for hard links)
//!
//! With one TARGET and no LINK, the link is made in the current directory. Not done: `-r`
//! (relative), backups, `-i`.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::Exit;

use super::{complain, quote, strerror};
use crate::sys::copy;

#[derive(Parser)]
#[command(about = "Make links between files", disable_help_flag = true)]
pub(super) struct Args {
    /// make symbolic links instead of hard links
    #[arg(short = 's', long = "symbolic")]
    symbolic: bool,
    /// remove existing destination files
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// treat LINK as a normal file if it is a symbolic link to a directory
    #[arg(short = 'n', long = "no-dereference")]
    no_dereference: bool,
    /// treat LINK as a normal file always
    #[arg(short = 'T', long = "no-target-directory")]
    no_target_directory: bool,
    /// the directory in which to create the links
    #[arg(short = 't', long = "target-directory", value_name = "DIRECTORY")]
    target_directory: Option<PathBuf>,
    /// dereference TARGETs that are symbolic links
    #[arg(short = 'L', long = "logical", overrides_with = "physical")]
    logical: bool,
    /// make hard links directly to symbolic links
    #[arg(short = 'P', long = "physical", overrides_with = "logical")]
    physical: bool,
    /// print name of each linked file
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Whether `path` is a directory to put links into: followed, unless -n and it is a symlink.
fn is_target_dir(path: &Path, no_dereference: bool) -> bool {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            !no_dereference && fs::metadata(path).map(|m| m.is_dir()).unwrap_or(false)
        }
        Ok(meta) => meta.is_dir(),
        Err(_) => false,
    }
}

fn make(args: &Args, target: &Path, link: &Path) -> io::Result<()> {
    if args.symbolic {
        std::os::unix::fs::symlink(target, link)
    } else {
        let flag = if args.logical {
            nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW
        } else {
            nix::fcntl::AtFlags::empty()
        };
        nix::unistd::linkat(None, target, None, link, flag).map_err(io::Error::from)
    }
}

/// A free name next to `link` for building the replacement before renaming it into place.
fn temporary_name(link: &Path, attempt: u32) -> PathBuf {
    let mut name = b".rescue-ln.".to_vec();
    name.extend_from_slice(format!("{}.{attempt}", std::process::id()).as_bytes());
    copy::parent_dir(link).join(OsStr::from_bytes(&name))
}

fn replace(args: &Args, target: &Path, link: &Path) -> io::Result<()> {
    if fs::symlink_metadata(link).is_ok_and(|m| m.is_dir()) {
        return Err(io::Error::from_raw_os_error(libc::EISDIR));
    }
    for attempt in 0..100 {
        let temp = temporary_name(link, attempt);
        match make(args, target, &temp) {
            Ok(()) => {
                return fs::rename(&temp, link).inspect_err(|_| {
                    let _ = fs::remove_file(&temp);
                })
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::from_raw_os_error(libc::EEXIST))
}

fn link_one(name: &str, args: &Args, target: &Path, link: &Path) -> bool {
    if !args.symbolic {
        let meta = if args.logical {
            fs::metadata(target)
        } else {
            fs::symlink_metadata(target)
        };
        match meta {
            Err(err) => {
                complain(
                    name,
                    format!("failed to access {}: {}", quote(target), strerror(&err)),
                );
                return false;
            }
            Ok(meta) if meta.is_dir() => {
                let shown = crate::sys::quoting::shell_word(target);
                complain(
                    name,
                    format!("{shown}: hard link not allowed for directory"),
                );
                return false;
            }
            Ok(meta) => {
                if args.force {
                    let same = fs::symlink_metadata(link)
                        .is_ok_and(|l| (l.dev(), l.ino()) == (meta.dev(), meta.ino()));
                    if same {
                        complain(
                            name,
                            format!("{} and {} are the same file", quote(target), quote(link)),
                        );
                        return false;
                    }
                }
            }
        }
    }
    let mut result = make(args, target, link);
    if args.force && matches!(&result, Err(err) if err.kind() == io::ErrorKind::AlreadyExists) {
        result = replace(args, target, link);
    }
    match result {
        Ok(()) => {
            if args.verbose {
                let arrow = if args.symbolic { "->" } else { "=>" };
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "{} {arrow} {}",
                    quote(link),
                    quote(target)
                );
            }
            true
        }
        Err(err) => {
            let what = if args.symbolic {
                "symbolic link"
            } else {
                "hard link"
            };
            complain(
                name,
                format!(
                    "failed to create {what} {}: {}",
                    quote(link),
                    strerror(&err)
                ),
            );
            false
        }
    }
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let _ = args.physical;
    let into = |dir: &Path, targets: &[PathBuf]| -> Vec<(PathBuf, PathBuf)> {
        targets
            .iter()
            .map(|t| (t.clone(), dir.join(copy::base_name(t))))
            .collect()
    };
    let pairs = if let Some(dir) = &args.target_directory {
        if args.files.is_empty() {
            return Err(Exit::usage("missing file operand"));
        }
        if !is_target_dir(dir, false) {
            let message = format!("target {} is not a directory", quote(dir));
            return Err(Exit::failed(1, message));
        }
        into(dir, &args.files)
    } else {
        match args.files.as_slice() {
            [] => return Err(Exit::usage("missing file operand")),
            [target] if !args.no_target_directory => {
                into(Path::new("."), std::slice::from_ref(target))
            }
            [_] => {
                return Err(Exit::usage(format!(
                    "missing destination file operand after {}",
                    quote(&args.files[0])
                )))
            }
            [target, link] if args.no_target_directory => vec![(target.clone(), link.clone())],
            [_, _, extra, ..] if args.no_target_directory => {
                return Err(Exit::usage(format!("extra operand {}", quote(extra))))
            }
            [targets @ .., last] if is_target_dir(last, args.no_dereference) => into(last, targets),
            [target, link] => vec![(target.clone(), link.clone())],
            [.., last] => {
                let why = match fs::metadata(last) {
                    Ok(_) => "Not a directory".to_string(),
                    Err(err) => strerror(&err),
                };
                return Err(Exit::failed(1, format!("target {}: {why}", quote(last))));
            }
        }
    };
    let mut status = 0;
    for (target, link) in &pairs {
        if !link_one(name, &args, target, link) {
            status = 1;
        }
    }
    Ok(status)
}
