//! usage: rescue cp [-adfHiLnPprRTv] [--preserve[=LIST]] [--no-preserve=LIST] SOURCE DEST
//!        rescue cp [OPTION]... SOURCE... DIRECTORY
//!        rescue cp [OPTION]... -t DIRECTORY SOURCE...
//!
//! Copy files and trees, GNU `cp` compatible where a rescue needs it:
//!   -a, --archive          same as -dR --preserve=all
//!   -r, -R, --recursive    copy directories recursively; devices, FIFOs and sockets are
//!                          recreated (mknod), not read
//!   -d                     same as -P --preserve=links
//!   -p                     same as --preserve=mode,ownership,timestamps
//!   --preserve[=LIST]      mode, ownership, timestamps, links, xattr, all (context is
//!                          accepted and ignored); default mode,ownership,timestamps
//!   --no-preserve=LIST     don't preserve these
//!   -P, -L, -H             never / always / only on the command line follow source symlinks
//!                          (default: -P with -R, else -L)
//!   -f, -n, -i             overwrite (removing a destination that cannot be opened), never
//!                          overwrite, or ask (prompt on stderr, answer on stdin)
//!   -t DIR, -T             copy into DIR / treat DEST as a normal file
//!   -v                     print 'SOURCE' -> 'DEST' for each file
//!
//! `-a` keeps what a root file system needs: owners (numbers, never names), setuid/setgid
//! bits (set after chown, which clears them), nanosecond times (directories after their
//! contents), hard-link groups, symlinks as symlinks, and xattrs including
//! `security.capability`. Regular files go through `copy_file_range`; sparse files stay
//! sparse (SEEK_DATA/SEEK_HOLE). Deliberately not done: `--sparse=always`, `--reflink`,
//! `--parents`, `-u`, backups, SELinux contexts. Exit status 1 if anything failed; the other
//! operands are still copied.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{Exit, Yes};

use super::{complain, quote, strerror};
use crate::sys::copy::{self, Copier, Deref, Existing, Options, Preserve, Problem};

#[derive(Parser)]
#[command(about = "Copy files and directories", disable_help_flag = true)]
pub(super) struct Args {
    /// same as -dR --preserve=all
    #[arg(short = 'a', long = "archive")]
    archive: bool,
    /// copy directories recursively
    #[arg(short = 'r', short_alias = 'R', long = "recursive")]
    recursive: bool,
    /// same as --no-dereference --preserve=links
    #[arg(short = 'd')]
    no_deref_links: bool,
    /// same as --preserve=mode,ownership,timestamps
    #[arg(short = 'p')]
    preserve_default: bool,
    /// preserve the attributes in LIST
    #[arg(long = "preserve", value_name = "LIST", num_args = 0..=1,
          default_missing_value = "mode,ownership,timestamps")]
    preserve: Option<String>,
    /// don't preserve the attributes in LIST
    #[arg(long = "no-preserve", value_name = "LIST")]
    no_preserve: Option<String>,
    /// never follow symbolic links in SOURCE
    #[arg(short = 'P', long = "no-dereference", overrides_with_all = ["deref", "deref_command_line"])]
    no_deref: bool,
    /// always follow symbolic links in SOURCE
    #[arg(short = 'L', long = "dereference", overrides_with_all = ["no_deref", "deref_command_line"])]
    deref: bool,
    /// follow command-line symbolic links in SOURCE
    #[arg(short = 'H', overrides_with_all = ["no_deref", "deref"])]
    deref_command_line: bool,
    /// if a destination cannot be opened, remove it and try again
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// do not overwrite an existing file
    #[arg(short = 'n', long = "no-clobber", overrides_with = "interactive")]
    no_clobber: bool,
    /// prompt before overwrite
    #[arg(short = 'i', long = "interactive", overrides_with = "no_clobber")]
    interactive: bool,
    /// copy all SOURCE arguments into DIRECTORY
    #[arg(short = 't', long = "target-directory", value_name = "DIRECTORY")]
    target_directory: Option<PathBuf>,
    /// treat DEST as a normal file
    #[arg(short = 'T', long = "no-target-directory")]
    no_target_directory: bool,
    /// explain what is being done
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub(super) fn describe(problem: &Problem) -> String {
    match problem {
        Problem::Io(err) => super::describe_io(err),
        Problem::OmitDirectory(src) => {
            format!("-r not specified; omitting directory {}", quote(src))
        }
        Problem::IntoItself { src, dest } => format!(
            "cannot copy a directory, {}, into itself, {}",
            quote(src),
            quote(dest)
        ),
        Problem::SameFile { src, dest } => {
            format!("{} and {} are the same file", quote(src), quote(dest))
        }
        Problem::OverwriteDirWithNonDir { dest } => {
            format!(
                "cannot overwrite directory {} with non-directory",
                quote(dest)
            )
        }
        Problem::OverwriteNonDirWithDir { src, dest } => format!(
            "cannot overwrite non-directory {} with directory {}",
            quote(dest),
            quote(src)
        ),
        Problem::DanglingDestination(dest) => {
            format!("not writing through dangling symlink {}", quote(dest))
        }
    }
}

struct Report {
    name: &'static str,
    verbose: bool,
}

impl copy::Reporter for Report {
    fn copied(&mut self, src: &Path, dest: &Path) {
        if self.verbose {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{} -> {}", quote(src), quote(dest));
        }
    }

    fn problem(&mut self, problem: Problem) {
        complain(self.name, describe(&problem));
    }

    fn overwrite(&mut self, dest: &Path) -> bool {
        super::ask(
            &format!("{}: overwrite {}? ", super::program(), quote(dest)),
            Yes::Initial,
        )
    }
}

fn parse_preserve(list: &str, flag: &str, into: &mut Preserve, on: bool) -> Result<(), Exit> {
    for word in list.split(',') {
        match word {
            "mode" => into.mode = on,
            "ownership" => into.ownership = on,
            "timestamps" => into.timestamps = on,
            "links" => into.links = on,
            "xattr" => {
                into.xattr = on;
                into.xattr_required = on;
            }
            "all" => {
                let required = into.xattr_required && on;
                *into = if on {
                    Preserve::all()
                } else {
                    Preserve::default()
                };
                into.xattr_required = required;
            }
            "context" => {}
            _ => {
                return Err(Exit::usage(format!(
                    "invalid argument {} for '{flag}'",
                    quote(word)
                )))
            }
        }
    }
    Ok(())
}

/// Where each operand goes: (source, destination) pairs, or why there is nowhere (cp, mv).
pub(super) fn plan(
    files: &[PathBuf],
    target_directory: Option<&Path>,
    no_target_directory: bool,
) -> Result<Vec<(PathBuf, PathBuf)>, Exit> {
    let into = |dir: &Path, sources: &[PathBuf]| {
        sources
            .iter()
            .map(|src| (src.clone(), dir.join(copy::base_name(src))))
            .collect::<Vec<_>>()
    };
    if let Some(dir) = target_directory {
        if files.is_empty() {
            return Err(Exit::usage("missing file operand"));
        }
        return match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => Ok(into(dir, files)),
            Ok(_) => Err(Exit::failed(
                1,
                format!("target {} is not a directory", quote(dir)),
            )),
            Err(err) => Err(Exit::failed(
                1,
                format!("target directory {}: {}", quote(dir), strerror(&err)),
            )),
        };
    }
    match files {
        [] => Err(Exit::usage("missing file operand")),
        [one] => Err(Exit::usage(format!(
            "missing destination file operand after {}",
            quote(one)
        ))),
        [src, dest] if no_target_directory => Ok(vec![(src.clone(), dest.clone())]),
        [_, _, extra, ..] if no_target_directory => {
            Err(Exit::usage(format!("extra operand {}", quote(extra))))
        }
        [sources @ .., last] => match std::fs::metadata(last) {
            Ok(meta) if meta.is_dir() => Ok(into(last, sources)),
            _ if sources.len() == 1 => Ok(vec![(sources[0].clone(), last.clone())]),
            Ok(_) => Err(Exit::failed(
                1,
                format!("target {} is not a directory", quote(last)),
            )),
            Err(err) => Err(Exit::failed(
                1,
                format!("target {}: {}", quote(last), strerror(&err)),
            )),
        },
    }
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let mut preserve = Preserve::default();
    let mut recursive = args.recursive;
    let mut deref = None;
    if args.archive {
        recursive = true;
        deref = Some(Deref::Never);
        preserve = Preserve::all();
    }
    if args.no_deref_links {
        deref = Some(Deref::Never);
        preserve.links = true;
    }
    if args.preserve_default {
        preserve.mode = true;
        preserve.ownership = true;
        preserve.timestamps = true;
    }
    if let Some(list) = &args.preserve {
        parse_preserve(list, "--preserve", &mut preserve, true)?;
    }
    if let Some(list) = &args.no_preserve {
        parse_preserve(list, "--no-preserve", &mut preserve, false)?;
    }
    if args.no_deref {
        deref = Some(Deref::Never);
    } else if args.deref {
        deref = Some(Deref::Always);
    } else if args.deref_command_line {
        deref = Some(Deref::CommandLine);
    }
    let deref = deref.unwrap_or(if recursive {
        Deref::Never
    } else {
        Deref::Always
    });
    let existing = if args.no_clobber {
        Existing::Keep
    } else if args.interactive {
        Existing::Ask
    } else {
        Existing::Overwrite
    };
    let pairs = plan(
        &args.files,
        args.target_directory.as_deref(),
        args.no_target_directory,
    )?;
    let opts = Options {
        recursive,
        deref,
        preserve,
        existing,
        force: args.force,
        remove_destination: false,
    };
    let mut report = Report {
        name,
        verbose: args.verbose,
    };
    let mut copier = Copier::new(opts, &mut report);
    for (src, dest) in &pairs {
        copier.copy(src, dest);
    }
    Ok(i32::from(copier.failed()))
}
