//! usage: rescue ln [-s] [-f|-i] [-b] [--backup[=CONTROL]] [-S SUFFIX] [-n] [-r] [-T]
//!                 [-L|-P] [-v] TARGET [LINK]
//!        rescue ln [OPTION]... TARGET... DIRECTORY
//!        rescue ln [OPTION]... -t DIRECTORY TARGET...
//!
//! Make links, GNU `ln` compatible:
//!   -s, --symbolic            make symbolic links instead of hard links
//!   -f, --force               replace existing destination files (atomically: the new link is
//!                             made under a temporary name and renamed over the old one)
//!   -i, --interactive         ask before replacing a destination (stderr; answer on stdin)
//!   -b, --backup[=CONTROL]    back up each existing destination: none (off), simple (never),
//!                             numbered (t), existing (nil); default $VERSION_CONTROL
//!   -S, --suffix SUFFIX       the simple backup suffix (default $SIMPLE_BACKUP_SUFFIX, `~`)
//!   -n, --no-dereference      a LINK that is a symlink to a directory is replaced, not entered
//!   -r, --relative            with -s, make the link's text relative to its directory
//!   -T, --no-target-directory treat LINK as a normal file always
//!   -t, --target-directory DIR
//!   -L, -P                    hard-link the target of a symlink / the symlink itself (default)
//!   -v, --verbose             print 'LINK' -> 'TARGET' ('=>' for hard links)
//!
//! With one TARGET and no LINK, the link is made in the current directory. Replacing a file by
//! a link to itself is refused as GNU refuses it ("are the same file"): `ln -sf t t` would
//! leave `t -> t` and the data gone.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{Exit, Yes};

use super::{complain, quote, strerror};
use crate::sys::backup::{Backup, BackupKind};
use crate::sys::canonical::{self, Missing};
use crate::sys::copy;

#[derive(Parser)]
#[command(about = "Make links between files", disable_help_flag = true)]
pub(super) struct Args {
    /// make symbolic links instead of hard links
    #[arg(short = 's', long = "symbolic")]
    symbolic: bool,
    /// remove existing destination files
    #[arg(short = 'f', long = "force", overrides_with = "interactive")]
    force: bool,
    /// prompt whether to remove destinations
    #[arg(short = 'i', long = "interactive", overrides_with = "force")]
    interactive: bool,
    /// make a backup of each existing destination file
    #[arg(short = 'b')]
    b: bool,
    /// like -b but accepts an argument
    #[arg(long = "backup", value_name = "CONTROL", num_args = 0..=1,
          require_equals = true, default_missing_value = "")]
    backup: Option<String>,
    /// override the usual backup suffix
    #[arg(short = 'S', long = "suffix", value_name = "SUFFIX")]
    suffix: Option<OsString>,
    /// treat LINK as a normal file if it is a symbolic link to a directory
    #[arg(short = 'n', long = "no-dereference")]
    no_dereference: bool,
    /// create symbolic links relative to link location
    #[arg(short = 'r', long = "relative")]
    relative: bool,
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
    #[arg(value_name = "FILE", value_parser = super::rm::any_path())]
    files: Vec<PathBuf>,
}

/// Whether `path` is a directory to put links into: followed, unless -n and it is a symlink.
fn is_target_dir(path: &Path, no_dereference: bool) -> io::Result<()> {
    let meta = if no_dereference {
        fs::symlink_metadata(path)?
    } else {
        fs::metadata(path)?
    };
    if meta.is_dir() {
        Ok(())
    } else if meta.file_type().is_symlink() {
        Err(io::Error::from_raw_os_error(libc::ELOOP))
    } else {
        Err(io::Error::from_raw_os_error(libc::ENOTDIR))
    }
}

/// The run: options, and the hard links it made (a later one must not replace them).
struct Linker<'a> {
    name: &'static str,
    args: &'a Args,
    backup: Option<Backup>,
    made: Option<HashSet<(u64, u64, PathBuf)>>,
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

/// Makes the link under a temporary name and renames it over `link`: there is never a moment
/// without a `link`.
fn replace(args: &Args, target: &Path, link: &Path) -> io::Result<()> {
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

/// `-r`: TARGET as seen from LINK's directory, both resolved (missing parts taken literally).
fn relative_to(target: &Path, link: &Path) -> PathBuf {
    let from = canonical::canonicalize(target, Missing::Anything);
    let dir = canonical::canonicalize(&copy::parent_dir(link), Missing::Anything);
    let (Ok(from), Ok(dir)) = (from, dir) else {
        return target.to_path_buf();
    };
    let from: Vec<_> = from.components().collect();
    let dir: Vec<_> = dir.components().collect();
    let common = from.iter().zip(&dir).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..dir.len() {
        out.push("..");
    }
    for part in &from[common..] {
        out.push(part);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Why an existing LINK stops this operand, or None to go on; decided as GNU's `do_link`.
enum Existing {
    Stop(bool),
    Go(Option<PathBuf>),
}

impl Linker<'_> {
    fn complain(&self, message: impl std::fmt::Display) {
        complain(self.name, message);
    }

    fn link_one(&mut self, target: &Path, link: &Path) -> bool {
        let args = self.args;
        let target_meta = if args.symbolic {
            None
        } else {
            let meta = if args.logical {
                fs::metadata(target)
            } else {
                fs::symlink_metadata(target)
            };
            match meta {
                Err(err) => {
                    self.complain(format!(
                        "failed to access {}: {}",
                        quote(target),
                        strerror(&err)
                    ));
                    return false;
                }
                Ok(meta) if meta.is_dir() => {
                    let shown = crate::sys::quoting::shell_word(target);
                    self.complain(format!("{shown}: hard link not allowed for directory"));
                    return false;
                }
                Ok(meta) => Some(meta),
            }
        };
        let relative;
        let target = if args.relative {
            relative = relative_to(target, link);
            relative.as_path()
        } else {
            target
        };
        let mut result = make(args, target, link);
        let mut backup = None;
        if matches!(&result, Err(err) if err.kind() == io::ErrorKind::AlreadyExists) {
            match self.existing(target, link) {
                Existing::Stop(ok) => return ok,
                Existing::Go(made) => backup = made,
            }
            let force = args.force || self.backup.is_some();
            result = if force {
                replace(args, target, link)
            } else {
                make(args, target, link)
            };
        }
        match result {
            Ok(()) => {
                if let (Some(made), Some(meta)) = (&mut self.made, &target_meta) {
                    made.insert((meta.dev(), meta.ino(), link.to_path_buf()));
                }
                if args.verbose {
                    self.say(target, link, backup.as_deref());
                }
                true
            }
            Err(err) => {
                let what = if args.symbolic {
                    "symbolic link"
                } else {
                    "hard link"
                };
                self.complain(format!(
                    "failed to create {what} {}: {}",
                    quote(link),
                    strerror(&err)
                ));
                if let Some(backup) = backup {
                    if let Err(err) = fs::rename(&backup, link) {
                        self.complain(format!(
                            "cannot un-backup {}: {}",
                            quote(link),
                            strerror(&err)
                        ));
                    }
                }
                false
            }
        }
    }

    fn say(&self, target: &Path, link: &Path, backup: Option<&Path>) {
        let arrow = if self.args.symbolic { "->" } else { "=>" };
        let before = match backup {
            Some(backup) => format!("{} ~ ", quote(backup)),
            None => String::new(),
        };
        let _ = writeln!(
            std::io::stdout().lock(),
            "{before}{} {arrow} {}",
            quote(link),
            quote(target)
        );
    }

    /// LINK exists: GNU's refusals, `-i`'s question, and the backup.
    fn existing(&self, target: &Path, link: &Path) -> Existing {
        let args = self.args;
        if !(args.force || args.interactive || self.backup.is_some()) {
            return Existing::Go(None);
        }
        let dest = match fs::symlink_metadata(link) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Existing::Go(None),
            Err(err) => {
                self.complain(format!(
                    "failed to access {}: {}",
                    quote(link),
                    strerror(&err)
                ));
                return Existing::Stop(false);
            }
        };
        if dest.is_dir() {
            let shown = crate::sys::quoting::shell_word(link);
            self.complain(format!("{shown}: cannot overwrite directory"));
            return Existing::Stop(false);
        }
        let id = (dest.dev(), dest.ino(), link.to_path_buf());
        if self.made.as_ref().is_some_and(|made| made.contains(&id)) {
            self.complain(format!(
                "will not overwrite just-created {} with {}",
                quote(link),
                quote(target)
            ));
            return Existing::Stop(false);
        }
        // Removing LINK must not remove TARGET's data: with backups only a hard link is at
        // risk (the backup keeps a symlink's file), without them any -f.
        let check = if self.backup.is_some() {
            !args.symbolic
        } else {
            args.force
        };
        if check {
            if let Ok(src) = fs::metadata(target) {
                let same = (src.dev(), src.ino()) == (dest.dev(), dest.ino());
                if same && (src.nlink() == 1 || crate::sys::same_file::same_name(target, link)) {
                    self.complain(format!(
                        "{} and {} are the same file",
                        quote(target),
                        quote(link)
                    ));
                    return Existing::Stop(false);
                }
            }
        }
        if args.interactive {
            let prompt = format!("{}: replace {}? ", super::program(), quote(link));
            if !super::ask(&prompt, Yes::Initial) {
                return Existing::Stop(true);
            }
        }
        let Some(backup) = &self.backup else {
            return Existing::Go(None);
        };
        let Some(name) = backup.name_for(link) else {
            return Existing::Go(None);
        };
        match fs::rename(link, &name) {
            Ok(()) => Existing::Go(Some(name)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Existing::Go(None),
            Err(err) => {
                self.complain(format!("cannot backup {}: {}", quote(link), strerror(&err)));
                Existing::Stop(false)
            }
        }
    }
}

/// The (target, link) pairs and whether LINKs were put into a directory, as GNU's `ln`.
fn plan(args: &Args) -> Result<(Vec<(PathBuf, PathBuf)>, bool), Exit> {
    let files = &args.files;
    let into = |dir: &Path, targets: &[PathBuf]| -> Vec<(PathBuf, PathBuf)> {
        targets
            .iter()
            .map(|t| (t.clone(), dir.join(copy::base_name(t))))
            .collect()
    };
    if files.is_empty() {
        return Err(Exit::usage("missing file operand"));
    }
    if args.no_target_directory {
        if args.target_directory.is_some() {
            return Err(Exit::failed(
                1,
                "cannot combine --target-directory and --no-target-directory",
            ));
        }
        return match files.as_slice() {
            [target, link] => Ok((vec![(target.clone(), link.clone())], false)),
            [one] => Err(Exit::usage(format!(
                "missing destination file operand after {}",
                quote(one)
            ))),
            [_, _, extra, ..] => Err(Exit::usage(format!("extra operand {}", quote(extra)))),
            [] => unreachable!("checked above"),
        };
    }
    if let Some(dir) = &args.target_directory {
        return match fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => Ok((into(dir, files), true)),
            Ok(_) => Err(Exit::failed(
                1,
                format!("target {} is not a directory", quote(dir)),
            )),
            Err(err) => Err(Exit::failed(
                1,
                format!("failed to access {}: {}", quote(dir), strerror(&err)),
            )),
        };
    }
    match files.as_slice() {
        [target] => Ok((into(Path::new("."), std::slice::from_ref(target)), true)),
        [targets @ .., last] => match is_target_dir(last, args.no_dereference) {
            Ok(()) => Ok((into(last, targets), true)),
            Err(_) if targets.len() == 1 => Ok((vec![(targets[0].clone(), last.clone())], false)),
            Err(err) => Err(Exit::failed(
                1,
                format!("target {}: {}", quote(last), strerror(&err)),
            )),
        },
        [] => unreachable!("checked above"),
    }
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let _ = args.physical;
    if args.files.is_empty() {
        return Err(Exit::usage("missing file operand"));
    }
    if args.relative && !args.symbolic {
        return Err(Exit::failed(1, "cannot do --relative without --symbolic"));
    }
    let (pairs, into_dir) = plan(&args)?;
    let backup = super::backup_from(args.b, args.backup.as_deref(), args.suffix.as_deref())?;
    let numbered = backup
        .as_ref()
        .is_some_and(|b| b.kind == BackupKind::Numbered);
    let watch = into_dir && pairs.len() >= 2 && args.force && !args.symbolic && !numbered;
    let mut linker = Linker {
        name,
        args: &args,
        backup,
        made: watch.then(HashSet::new),
    };
    let mut status = 0;
    for (target, link) in &pairs {
        if !linker.link_one(target, link) {
            status = 1;
        }
    }
    Ok(status)
}
