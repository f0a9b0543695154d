//! usage: rescue cp [-abdfHilLnPprRsTuvx] [--backup[=CONTROL]] [-S SUFFIX] [--preserve[=LIST]]
//!                  [--no-preserve=LIST] [--parents] [--reflink[=WHEN]] [--sparse=WHEN]
//!                  [--copy-contents] [--attributes-only] [--remove-destination]
//!                  [--strip-trailing-slashes] [-Z] [--context[=CTX]] SOURCE DEST
//!        rescue cp [OPTION]... SOURCE... DIRECTORY
//!        rescue cp [OPTION]... -t DIRECTORY SOURCE...
//!
//! Copy files and trees, GNU `cp` (coreutils 9.1) compatible:
//!   -a, --archive          same as -dR --preserve=all
//!   --attributes-only      don't copy the file data, just the attributes
//!   --backup[=CONTROL], -b make a backup of each existing destination (none/off,
//!                          simple/never, existing/nil, numbered/t); -S, --suffix=SUFFIX
//!   --copy-contents        with -R, read special files like regular files
//!   -d                     same as -P --preserve=links
//!   -f, --force            if a destination cannot be opened, remove it and try again
//!   -i, -n                 ask before overwriting (stderr, answer on stdin) / never overwrite
//!   -H, -L, -P             follow symlinks on the command line / always / never (default -P
//!                          with -R, else -L)
//!   -l, --link             hard link files instead of copying
//!   -p                     same as --preserve=mode,ownership,timestamps
//!   --preserve[=LIST]      mode (with POSIX ACLs), ownership, timestamps, links, xattr,
//!                          context (accepted, no SELinux here), all
//!   --no-preserve=LIST     don't preserve these
//!   --parents              append the source name to DIRECTORY, making missing directories
//!   -r, -R, --recursive    copy directories recursively; devices, FIFOs and sockets are
//!                          recreated (mknod), not read
//!   --reflink[=WHEN]       clone blocks: auto (default), always, never
//!   --remove-destination   remove each existing destination before copying
//!   --sparse=WHEN          holes: auto (keep a sparse source's), always, never
//!   --strip-trailing-slashes  remove trailing slashes from each SOURCE
//!   -s, --symbolic-link    make symbolic links instead of copying
//!   -t DIR, -T             copy into DIR / treat DEST as a normal file
//!   -u, --update           copy only when SOURCE is newer than DEST, or DEST is missing
//!   -v, --verbose          print 'SOURCE' -> 'DEST' for each file
//!   -x, --one-file-system  stay on this file system
//!   -Z, --context[=CTX]    accepted and ignored: no SELinux
//!
//! `-a` keeps what a root file system needs: owners (numbers, never names), setuid/setgid
//! bits (set after chown, which clears them; dropped when the owner could not be kept),
//! nanosecond times (directories after their contents), hard-link groups, symlinks as
//! symlinks, xattrs including `security.capability`, POSIX ACLs. Regular files are cloned or
//! go through `copy_file_range`; sparse files stay sparse (SEEK_DATA/SEEK_HOLE), holes only
//! ever made in regular files. Like GNU, cp refuses a copy that would destroy its own source
//! (`cp -d link target`: "are the same file"), a second operand that would replace what the
//! first made ("will not overwrite just-created"), and writing through a symlink it just
//! made. Exit status 1 if anything failed; the other operands are still copied.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{Exit, Yes};

use super::{complain, quote, strerror};
use crate::sys::backup::BackupKind;
use crate::sys::copy::{
    self, Copier, Deref, Existing, Extras, Options, Preserve, Problem, Reflink, Sparse,
};

#[derive(Parser)]
#[command(about = "Copy files and directories", disable_help_flag = true)]
pub(super) struct Args {
    /// same as -dR --preserve=all
    #[arg(short = 'a', long = "archive")]
    archive: bool,
    /// don't copy the file data, just the attributes
    #[arg(long = "attributes-only")]
    attributes_only: bool,
    /// make a backup of each existing destination file
    #[arg(long = "backup", value_name = "CONTROL", num_args = 0..=1, require_equals = true,
          default_missing_value = "", overrides_with = "backup")]
    backup: Option<String>,
    /// like --backup but does not accept an argument
    #[arg(short = 'b')]
    backup_default: bool,
    /// copy contents of special files when recursive
    #[arg(long = "copy-contents")]
    copy_contents: bool,
    /// same as --no-dereference --preserve=links
    #[arg(short = 'd')]
    no_deref_links: bool,
    /// if a destination cannot be opened, remove it and try again
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// prompt before overwrite
    #[arg(short = 'i', long = "interactive", overrides_with = "no_clobber")]
    interactive: bool,
    /// follow command-line symbolic links in SOURCE
    #[arg(short = 'H', overrides_with_all = ["no_deref", "deref"])]
    deref_command_line: bool,
    /// hard link files instead of copying
    #[arg(short = 'l', long = "link")]
    link: bool,
    /// always follow symbolic links in SOURCE
    #[arg(short = 'L', long = "dereference", overrides_with_all = ["no_deref", "deref_command_line"])]
    deref: bool,
    /// do not overwrite an existing file
    #[arg(short = 'n', long = "no-clobber", overrides_with = "interactive")]
    no_clobber: bool,
    /// never follow symbolic links in SOURCE
    #[arg(short = 'P', long = "no-dereference", overrides_with_all = ["deref", "deref_command_line"])]
    no_deref: bool,
    /// same as --preserve=mode,ownership,timestamps
    #[arg(short = 'p')]
    preserve_default: bool,
    /// preserve the attributes in LIST
    #[arg(long = "preserve", value_name = "LIST", num_args = 0..=1, require_equals = true,
          default_missing_value = "mode,ownership,timestamps", action = clap::ArgAction::Append)]
    preserve: Vec<String>,
    /// don't preserve the attributes in LIST
    #[arg(long = "no-preserve", value_name = "LIST", action = clap::ArgAction::Append)]
    no_preserve: Vec<String>,
    /// use full source file name under DIRECTORY
    #[arg(long = "parents")]
    parents: bool,
    /// copy directories recursively
    #[arg(short = 'r', short_alias = 'R', long = "recursive")]
    recursive: bool,
    /// control clone/CoW copies
    #[arg(long = "reflink", value_name = "WHEN", num_args = 0..=1, require_equals = true,
          default_missing_value = "always", overrides_with = "reflink")]
    reflink: Option<String>,
    /// remove each existing destination file before attempting to open it
    #[arg(long = "remove-destination")]
    remove_destination: bool,
    /// control creation of sparse files
    #[arg(long = "sparse", value_name = "WHEN", overrides_with = "sparse")]
    sparse: Option<String>,
    /// remove any trailing slashes from each SOURCE argument
    #[arg(long = "strip-trailing-slashes")]
    strip_trailing_slashes: bool,
    /// make symbolic links instead of copying
    #[arg(short = 's', long = "symbolic-link")]
    symbolic_link: bool,
    /// override the usual backup suffix
    #[arg(
        short = 'S',
        long = "suffix",
        value_name = "SUFFIX",
        overrides_with = "suffix"
    )]
    suffix: Option<OsString>,
    /// copy all SOURCE arguments into DIRECTORY
    #[arg(short = 't', long = "target-directory", value_name = "DIRECTORY")]
    target_directory: Option<PathBuf>,
    /// treat DEST as a normal file
    #[arg(short = 'T', long = "no-target-directory")]
    no_target_directory: bool,
    /// copy only when the SOURCE file is newer than the destination file or it is missing
    #[arg(short = 'u', long = "update")]
    update: bool,
    /// explain what is being done
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// stay on this file system
    #[arg(short = 'x', long = "one-file-system")]
    one_file_system: bool,
    /// set SELinux security context of destination file to default type
    #[arg(short = 'Z')]
    selinux: bool,
    /// like -Z, or if CTX is specified then set the SELinux context to CTX
    #[arg(long = "context", value_name = "CTX", num_args = 0..=1, require_equals = true,
          default_missing_value = "", overrides_with = "context")]
    context: Option<String>,
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Whether the last --no-preserve came after the last --preserve.
    #[arg(skip)]
    no_preserve_last: bool,
}

/// Whether `--no-preserve` (or an abbreviation) is given after the last `--preserve`.
fn no_preserve_is_last(args: &[OsString]) -> bool {
    let mut last = None;
    for arg in args.iter().take_while(|a| a.as_bytes() != b"--") {
        let word = arg
            .as_bytes()
            .split(|&b| b == b'=')
            .next()
            .unwrap_or_default();
        if word.len() >= 6 && b"--no-preserve".starts_with(word) {
            last = Some(false);
        } else if word.len() >= 4 && b"--preserve".starts_with(word) {
            last = Some(true);
        }
    }
    last == Some(false)
}

pub(super) fn describe(problem: &Problem) -> String {
    let pair = |a: &Path, b: &Path| (quote(a), quote(b));
    match problem {
        Problem::Io(crate::Error::Io { op, path, source }) if *op == "set permissions for" => {
            format!(
                "setting permissions for {}: {}",
                quote(path),
                strerror(source)
            )
        }
        Problem::Io(err) => super::describe_io(err),
        Problem::OmitDirectory(src) => {
            format!("-r not specified; omitting directory {}", quote(src))
        }
        Problem::IntoItself { src, dest } => {
            let (s, d) = pair(src, dest);
            format!("cannot copy a directory, {s}, into itself, {d}")
        }
        Problem::SameFile { src, dest } => {
            let (s, d) = pair(src, dest);
            format!("{s} and {d} are the same file")
        }
        Problem::OverwriteDirWithNonDir { dest } => {
            format!(
                "cannot overwrite directory {} with non-directory",
                quote(dest)
            )
        }
        Problem::OverwriteNonDirWithDir { src, dest } => {
            let (d, s) = pair(dest, src);
            format!("cannot overwrite non-directory {d} with directory {s}")
        }
        Problem::DanglingDestination(dest) => {
            format!("not writing through dangling symlink {}", quote(dest))
        }
        other => describe_more(other),
    }
}

fn describe_more(problem: &Problem) -> String {
    let pair = |a: &Path, b: &Path| (quote(a), quote(b));
    match problem {
        Problem::SpecifiedTwice(src) => {
            format!(
                "warning: source file {} specified more than once",
                quote(src)
            )
        }
        Problem::DirectorySpecifiedTwice(src) => {
            format!(
                "warning: source directory {} specified more than once",
                quote(src)
            )
        }
        Problem::JustCreated { src, dest } => {
            let (d, s) = pair(dest, src);
            format!("will not overwrite just-created {d} with {s}")
        }
        Problem::ThroughJustCreatedSymlink { src, dest } => {
            let (s, d) = pair(src, dest);
            format!("will not copy {s} through just-created symlink {d}")
        }
        Problem::BackupDestroysSource { src, dest } => {
            let (d, s) = pair(dest, src);
            format!("backing up {d} might destroy source;  {s} not copied")
        }
        Problem::Replaced(src) => format!(
            "skipping file {}, as it was replaced while being copied",
            quote(src)
        ),
        Problem::Cyclic(src) => format!("cannot copy cyclic symbolic link {}", quote(src)),
        Problem::Clone { src, dest, err } => {
            let (d, s) = pair(dest, src);
            format!("failed to clone {d} from {s}: {}", strerror(err))
        }
        Problem::HardLink { src, dest, err } => {
            let (d, s) = pair(dest, src);
            format!("cannot create hard link {d} to {s}: {}", strerror(err))
        }
        Problem::SymlinkTo { src, dest, err } => {
            let (d, s) = pair(dest, src);
            format!("cannot create symbolic link {d} to {s}: {}", strerror(err))
        }
        Problem::RelativeSymlink(dest) => format!(
            "{}: can make relative symbolic links only in current directory",
            crate::sys::quoting::shell_word(dest)
        ),
        Problem::NotADirectory(dest) => format!("{} exists but is not a directory", quote(dest)),
        Problem::Attributes { path, err } => {
            format!(
                "failed to get attributes of {}: {}",
                quote(path),
                strerror(err)
            )
        }
        _ => String::new(),
    }
}

struct Report {
    name: &'static str,
    verbose: bool,
}

impl copy::Reporter for Report {
    fn copied(&mut self, src: &Path, dest: &Path) {
        self.copied_as(src, dest, None);
    }

    fn copied_as(&mut self, src: &Path, dest: &Path, backup: Option<&Path>) {
        if self.verbose {
            let mut out = std::io::stdout().lock();
            let _ = match backup {
                Some(b) => writeln!(
                    out,
                    "{} -> {} (backup: {})",
                    quote(src),
                    quote(dest),
                    quote(b)
                ),
                None => writeln!(out, "{} -> {}", quote(src), quote(dest)),
            };
        }
    }

    fn removed(&mut self, dest: &Path) {
        if self.verbose {
            let _ = writeln!(std::io::stdout().lock(), "removed {}", quote(dest));
        }
    }

    fn made_parent(&mut self, src: &Path, dest: &Path) {
        if self.verbose {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(src.as_os_str().as_bytes());
            let _ = out.write_all(b" -> ");
            let _ = out.write_all(dest.as_os_str().as_bytes());
            let _ = out.write_all(b"\n");
        }
    }

    fn problem(&mut self, problem: Problem) {
        complain(self.name, describe(&problem));
    }

    fn overwrite(&mut self, dest: &Path) -> bool {
        let _ = std::io::stdout().flush();
        super::ask(
            &format!("{}: overwrite {}? ", super::program(), quote(dest)),
            Yes::Initial,
        )
    }

    fn overwrite_unwritable(&mut self, dest: &Path, mode: u32, replace: bool) -> bool {
        let _ = std::io::stdout().flush();
        let perms = crate::sys::mode::mode_string(mode);
        let perms = perms.get(1..10).unwrap_or(&perms);
        let bits = mode & 0o7777;
        let question = if replace {
            format!(
                "replace {}, overriding mode {bits:04o} ({perms})? ",
                quote(dest)
            )
        } else {
            format!(
                "unwritable {} (mode {bits:04o}, {perms}); try anyway? ",
                quote(dest)
            )
        };
        super::ask(&format!("{}: {question}", super::program()), Yes::Initial)
    }
}

/// GNU's argmatch: an exact word or an unambiguous abbreviation of one.
fn argmatch<T: Copy + PartialEq>(
    value: &str,
    option: &str,
    choices: &[(&str, T)],
) -> Result<T, Exit> {
    if let Some((_, v)) = choices.iter().find(|(name, _)| *name == value) {
        return Ok(*v);
    }
    let matches: Vec<T> = choices
        .iter()
        .filter(|(name, _)| !value.is_empty() && name.starts_with(value))
        .map(|(_, v)| *v)
        .collect();
    if let Some(first) = matches.first() {
        if matches.iter().all(|v| v == first) {
            return Ok(*first);
        }
    }
    let what = if matches.is_empty() {
        "invalid"
    } else {
        "ambiguous"
    };
    let mut message = format!(
        "{what} argument {} for {}\nValid arguments are:",
        quote(value),
        quote(option)
    );
    for (name, _) in choices {
        message.push_str(&format!("\n  - {}", quote(name)));
    }
    Err(Exit::usage(message))
}

#[derive(Clone, Copy, PartialEq)]
enum Attr {
    Mode,
    Timestamps,
    Ownership,
    Links,
    Context,
    Xattr,
    All,
}

const ATTRS: &[(&str, Attr)] = &[
    ("mode", Attr::Mode),
    ("timestamps", Attr::Timestamps),
    ("ownership", Attr::Ownership),
    ("links", Attr::Links),
    ("context", Attr::Context),
    ("xattr", Attr::Xattr),
    ("all", Attr::All),
];

fn parse_preserve(
    list: &str,
    flag: &str,
    into: &mut Preserve,
    extras: &mut Extras,
    on: bool,
) -> Result<(), Exit> {
    for word in list.split(',') {
        match argmatch(word, flag, ATTRS)? {
            Attr::Mode => {
                into.mode = on;
                extras.no_preserve_mode = !on;
            }
            Attr::Ownership => into.ownership = on,
            Attr::Timestamps => into.timestamps = on,
            Attr::Links => into.links = on,
            Attr::Xattr => {
                into.xattr = on;
                into.xattr_required = on;
            }
            Attr::All => {
                let required = into.xattr_required && on;
                *into = if on {
                    Preserve::all()
                } else {
                    Preserve::default()
                };
                into.xattr_required = required;
                extras.no_preserve_mode = !on;
            }
            Attr::Context => {}
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
                format!("target directory {}: Not a directory", quote(dir)),
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
                format!("target {}: Not a directory", quote(last)),
            )),
            Err(err) => Err(Exit::failed(
                1,
                format!("target {}: {}", quote(last), strerror(&err)),
            )),
        },
    }
}

/// The options that say how one copy is made, from the command line.
fn options(args: &Args) -> Result<(Options, Extras), Exit> {
    let mut preserve = Preserve::default();
    let mut extras = Extras::default();
    let mut recursive = args.recursive;
    let mut deref = None;
    if args.archive {
        recursive = true;
        deref = Some(Deref::Never);
        preserve = Preserve::all();
        extras.require_preserve = true;
    }
    if args.no_deref_links {
        deref = Some(Deref::Never);
        preserve.links = true;
    }
    if args.preserve_default {
        preserve.mode = true;
        preserve.ownership = true;
        preserve.timestamps = true;
        extras.require_preserve = true;
    }
    // GNU applies these in command-line order; here the one given last wins.
    let mut lists: Vec<(&String, bool)> = args.preserve.iter().map(|l| (l, true)).collect();
    let negated = args.no_preserve.iter().map(|l| (l, false));
    if args.no_preserve_last {
        lists.extend(negated);
    } else {
        lists.splice(0..0, negated);
    }
    for (list, on) in lists {
        let flag = if on { "--preserve" } else { "--no-preserve" };
        parse_preserve(list, flag, &mut preserve, &mut extras, on)?;
        extras.require_preserve |= on;
    }
    if args.no_deref {
        deref = Some(Deref::Never);
    } else if args.deref {
        deref = Some(Deref::Always);
    } else if args.deref_command_line {
        deref = Some(Deref::CommandLine);
    }
    let deref = deref.unwrap_or(if recursive && !args.link {
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
    if args.link && args.symbolic_link {
        return Err(Exit::usage("cannot make both hard and symbolic links"));
    }
    let backups = args.backup_default || args.backup.is_some() || args.suffix.is_some();
    if backups && existing == Existing::Keep {
        return Err(Exit::usage(
            "options --backup and --no-clobber are mutually exclusive",
        ));
    }
    extras.backup = super::backup_from(
        args.backup_default,
        args.backup.as_deref(),
        args.suffix.as_deref(),
    )?;
    (extras.sparse, extras.reflink) = sparse_and_reflink(args)?;
    if extras.reflink == Reflink::Always && extras.sparse != Sparse::Auto {
        return Err(Exit::usage("--reflink can be used only with --sparse=auto"));
    }
    extras.hard_link = args.link;
    extras.symbolic_link = args.symbolic_link;
    extras.update = args.update && existing != Existing::Keep;
    extras.copy_contents = args.copy_contents;
    extras.attributes_only = args.attributes_only;
    extras.one_file_system = args.one_file_system;
    extras.open_dangling = std::env::var_os("POSIXLY_CORRECT").is_some();
    let opts = Options {
        recursive,
        deref,
        preserve,
        existing,
        force: args.force,
        remove_destination: args.remove_destination,
    };
    Ok((opts, extras))
}

fn sparse_and_reflink(args: &Args) -> Result<(Sparse, Reflink), Exit> {
    let sparse = match &args.sparse {
        Some(when) => argmatch(
            when,
            "--sparse",
            &[
                ("never", Sparse::Never),
                ("auto", Sparse::Auto),
                ("always", Sparse::Always),
            ],
        )?,
        None => Sparse::Auto,
    };
    let reflink = match &args.reflink {
        Some(when) => argmatch(
            when,
            "--reflink",
            &[
                ("auto", Reflink::Auto),
                ("always", Reflink::Always),
                ("never", Reflink::Never),
            ],
        )?,
        None => Reflink::Auto,
    };
    Ok((sparse, reflink))
}

/// Trailing slashes off a source, keeping `/` itself.
fn strip_slashes(path: &Path) -> PathBuf {
    let bytes = path.as_os_str().as_bytes();
    let end = bytes.iter().rposition(|&b| b != b'/').map_or(1, |i| i + 1);
    PathBuf::from(OsStr::from_bytes(&bytes[..end.min(bytes.len())]))
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let no_preserve_last = no_preserve_is_last(&args);
    let mut args: Args = super::parse(name, args)?;
    args.no_preserve_last = no_preserve_last;
    if args.target_directory.is_some() && args.no_target_directory {
        return Err(Exit::failed(
            1,
            "cannot combine --target-directory (-t) and --no-target-directory (-T)",
        ));
    }
    let (opts, mut extras) = options(&args)?;
    if args.strip_trailing_slashes {
        let last = args.files.len().saturating_sub(1);
        let keep_last = args.target_directory.is_none();
        for (i, file) in args.files.iter_mut().enumerate() {
            if !(keep_last && i == last) {
                *file = strip_slashes(file);
            }
        }
    }
    let mut report = Report {
        name,
        verbose: args.verbose,
    };
    if args.parents {
        return with_parents(&args, opts, extras, &mut report);
    }
    let pairs = plan(
        &args.files,
        args.target_directory.as_deref(),
        args.no_target_directory,
    )?;
    let into_dir = args.target_directory.is_some() || args.files.len() > pairs.len();
    extras.track_created = into_dir && pairs.len() >= 2;
    let pairs = force_backup_same_name(&args, pairs, &mut extras);
    let mut copier = Copier::with_extras(opts, extras, &mut report);
    for (src, dest) in &pairs {
        copier.copy(src, dest);
    }
    Ok(i32::from(copier.failed()))
}

/// `cp --force --backup f f` copies f to its backup name, as GNU does.
fn force_backup_same_name(
    args: &Args,
    mut pairs: Vec<(PathBuf, PathBuf)>,
    extras: &mut Extras,
) -> Vec<(PathBuf, PathBuf)> {
    let Some(backup) = extras.backup.clone() else {
        return pairs;
    };
    if let [(src, dest)] = pairs.as_mut_slice() {
        let regular = std::fs::metadata(&*dest).is_ok_and(|m| m.is_file());
        if args.force && src == dest && regular && backup.kind != BackupKind::None {
            if let Some(name) = backup.name_for(dest) {
                *dest = name;
                extras.backup = None;
            }
        }
    }
    pairs
}

/// `--parents`: each SOURCE lands at DIRECTORY/SOURCE, missing directories made on the way.
fn with_parents(
    args: &Args,
    opts: Options,
    mut extras: Extras,
    report: &mut Report,
) -> Result<i32, Exit> {
    let (target, sources) = match &args.target_directory {
        Some(dir) => (dir.clone(), args.files.clone()),
        None => match args.files.split_last() {
            Some((last, rest)) if !rest.is_empty() => (last.clone(), rest.to_vec()),
            _ => return plan(&args.files, None, false).map(|_| 0),
        },
    };
    if args.no_target_directory || !std::fs::metadata(&target).is_ok_and(|m| m.is_dir()) {
        return Err(Exit::usage(
            "with --parents, the destination must be a directory",
        ));
    }
    extras.track_created = sources.len() >= 2;
    let mut copier = Copier::with_extras(opts, extras, report);
    for src in &sources {
        copier.copy_with_parents(src, &target);
    }
    Ok(i32::from(copier.failed()))
}
