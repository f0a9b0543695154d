//! usage: rescue mv [-f|-i|-n] [-b] [--backup[=CONTROL]] [-S SUFFIX] [-u] [-v]
//!                 [--strip-trailing-slashes] [-T] SOURCE DEST
//!        rescue mv [OPTION]... SOURCE... DIRECTORY
//!        rescue mv [OPTION]... -t DIRECTORY SOURCE...
//!
//! Move or rename files, GNU `mv` compatible:
//!   -f, --force          do not prompt before overwriting
//!   -i, --interactive    prompt before overwrite (stderr; answer on stdin)
//!   -n, --no-clobber     do not overwrite an existing file
//!                        (the last of -f, -i, -n wins; without any, an unwritable destination
//!                        is asked about when stdin is a terminal)
//!   -b, --backup[=CONTROL]  back up each existing destination: none (off), simple (never),
//!                        numbered (t), existing (nil); default $VERSION_CONTROL, else existing
//!   -S, --suffix SUFFIX  the simple backup suffix (default $SIMPLE_BACKUP_SUFFIX, else `~`)
//!   -u, --update         move only when SOURCE is newer than DEST, or DEST is missing
//!   -t, --target-directory DIR, -T, --no-target-directory   as in cp
//!   --strip-trailing-slashes  remove trailing slashes from each SOURCE
//!   -v, --verbose        print 'SOURCE' -> 'DEST' (renamed, or copied + removed)
//!
//! A move is one rename(2). It refuses, as GNU does, what would lose data: a symlink moved
//! onto the file it points to ("are the same file"), and a second source with the same name
//! onto a destination the same run just made ("will not overwrite just-created"). Across file
//! systems (EXDEV) the source is copied like `cp -a` (owners, modes, nanosecond times, hard
//! links, also between operands, xattrs) and removed only when the whole copy succeeded; the
//! removal never follows a symlink.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{Exit, Yes};

use super::{complain, quote, strerror};
use crate::sys::backup::{Backup, BackupKind};
use crate::sys::copy::{self, Copier, Deref, Existing, Options, Preserve, Problem};
use crate::sys::remove;
use crate::sys::same_file::{self, Verdict};

#[derive(Parser)]
#[command(about = "Move (rename) files", disable_help_flag = true)]
pub(super) struct Args {
    /// do not prompt before overwriting
    #[arg(short = 'f', long = "force", overrides_with_all = ["interactive", "no_clobber"])]
    force: bool,
    /// prompt before overwrite
    #[arg(short = 'i', long = "interactive", overrides_with_all = ["force", "no_clobber"])]
    interactive: bool,
    /// do not overwrite an existing file
    #[arg(short = 'n', long = "no-clobber", overrides_with_all = ["force", "interactive"])]
    no_clobber: bool,
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
    /// move only when the SOURCE file is newer than the destination file
    #[arg(short = 'u', long = "update")]
    update: bool,
    /// remove any trailing slashes from each SOURCE argument
    #[arg(long = "strip-trailing-slashes")]
    strip_trailing_slashes: bool,
    /// move all SOURCE arguments into DIRECTORY
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
    #[arg(value_name = "FILE", value_parser = super::rm::any_path())]
    files: Vec<PathBuf>,
}

struct Report {
    name: &'static str,
    verbose: bool,
}

impl copy::Reporter for Report {
    fn copied(&mut self, src: &Path, dest: &Path) {
        if !self.verbose {
            return;
        }
        // GNU 9.1's words when moving: a directory is "created", a file "copied".
        let line = if fs::symlink_metadata(src).is_ok_and(|m| m.is_dir()) {
            format!("created directory {}", quote(dest))
        } else {
            format!("copied {} -> {}", quote(src), quote(dest))
        };
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    fn problem(&mut self, problem: Problem) {
        complain(self.name, super::cp::describe(&problem));
    }

    fn overwrite(&mut self, _dest: &Path) -> bool {
        true
    }
}

impl remove::Reporter for Report {
    fn removed(&mut self, path: &Path, was_dir: bool) {
        if self.verbose {
            super::rm::print_removed(path, was_dir);
        }
    }

    fn problem(&mut self, problem: remove::Problem) {
        for line in super::rm::describe(&problem, false) {
            complain(self.name, line);
        }
    }
}

/// The whole run: options and what earlier operands did.
struct Mover<'a> {
    name: &'static str,
    args: &'a Args,
    backup: Option<Backup>,
    stdin_tty: bool,
    /// (dev, ino) of what this run renamed into place: a later source of the same name must not
    /// replace it (`mv a/f b/f c`).
    created: HashSet<(u64, u64)>,
    /// Across file systems: a source inode already copied, and where; its other hard links are
    /// linked to that copy rather than copied again.
    copied: HashMap<(u64, u64), PathBuf>,
    /// Source directories already handled, and their destinations: `mv ./b b b/` names `b`
    /// twice, and GNU warns rather than try it again.
    sources: HashMap<(u64, u64), PathBuf>,
}

/// `path` without trailing slashes (`/` stays).
fn strip_slashes(path: &Path) -> PathBuf {
    let bytes = path.as_os_str().as_bytes();
    match bytes.iter().rposition(|&b| b != b'/') {
        Some(end) => PathBuf::from(std::ffi::OsStr::from_bytes(&bytes[..=end])),
        None if bytes.is_empty() => PathBuf::new(),
        None => PathBuf::from("/"),
    }
}

/// What happens to an existing destination, decided before the rename.
enum Before {
    /// Stop here with this result (a refusal, `-n`, `-u`, a no to a prompt).
    Stop(bool),
    /// Go on; the destination was moved to this backup name.
    Go(Option<PathBuf>),
}

impl Mover<'_> {
    fn complain(&self, message: impl std::fmt::Display) {
        complain(self.name, message);
    }

    /// Moves one operand; returns false on failure (already reported).
    fn move_one(&mut self, src: &Path, dest: &Path, last: bool) -> bool {
        let src_meta = match fs::symlink_metadata(src) {
            Ok(meta) => meta,
            Err(err) => {
                self.complain(format!("cannot stat {}: {}", quote(src), strerror(&err)));
                return false;
            }
        };
        if src_meta.is_dir() {
            let id = (src_meta.dev(), src_meta.ino());
            if let Some(earlier) = self.sources.get(&id) {
                if same_file::same_name(earlier, dest) {
                    self.complain(format!(
                        "warning: source directory {} specified more than once",
                        quote(src)
                    ));
                    return true;
                }
            }
            self.sources.insert(id, dest.to_path_buf());
        }
        let dest_meta = fs::symlink_metadata(dest).ok();
        let mut backup = None;
        if let Some(existing) = &dest_meta {
            match self.over_existing((src, &src_meta), (dest, existing)) {
                Before::Stop(done) => return done,
                Before::Go(made) => backup = made,
            }
        }
        if src_meta.is_dir() {
            let id = (src_meta.dev(), src_meta.ino());
            if copy::is_within(id, &copy::parent_dir(&strip_slashes(dest))).unwrap_or(false) {
                self.complain(format!(
                    "cannot move {} to a subdirectory of itself, {}",
                    quote(src),
                    quote(dest)
                ));
                self.un_backup(dest, backup.as_deref());
                return false;
            }
        }
        match fs::rename(src, dest) {
            Ok(()) => {
                if self.args.verbose {
                    self.say("renamed ", src, dest, backup.as_deref());
                }
                if !last {
                    self.created.insert((src_meta.dev(), src_meta.ino()));
                }
                true
            }
            Err(err) if err.raw_os_error() == Some(libc::EXDEV) => {
                let dest_meta = if backup.is_some() { None } else { dest_meta };
                let moved = self.across_file_systems((src, &src_meta), dest, dest_meta.as_ref());
                if moved && !last {
                    if let Ok(made) = fs::symlink_metadata(dest) {
                        self.created.insert((made.dev(), made.ino()));
                    }
                }
                moved
            }
            Err(err) => {
                self.complain(format!(
                    "cannot move {} to {}: {}",
                    quote(src),
                    quote(dest),
                    strerror(&err)
                ));
                self.un_backup(dest, backup.as_deref());
                false
            }
        }
    }

    fn say(&self, what: &str, src: &Path, dest: &Path, backup: Option<&Path>) {
        let mut line = format!("{what}{} -> {}", quote(src), quote(dest));
        if let Some(backup) = backup {
            line.push_str(&format!(" (backup: {})", quote(backup)));
        }
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    fn un_backup(&self, dest: &Path, backup: Option<&Path>) {
        if let Some(backup) = backup {
            if let Err(err) = fs::rename(backup, strip_slashes(dest)) {
                self.complain(format!(
                    "cannot un-backup {}: {}",
                    quote(dest),
                    strerror(&err)
                ));
            }
        }
    }

    /// GNU's checks, in GNU's order, before SRC replaces DEST, which exists.
    fn over_existing(
        &mut self,
        (src, src_meta): (&Path, &fs::Metadata),
        (dest, existing): (&Path, &fs::Metadata),
    ) -> Before {
        let mode = same_file::Mode {
            move_mode: true,
            backups: self.backup.is_some(),
        };
        if same_file::check_move_mode(src, src_meta, dest, existing, mode) == Verdict::Same {
            self.complain(format!(
                "{} and {} are the same file",
                quote(src),
                quote(dest)
            ));
            return Before::Stop(false);
        }
        if self.args.update && !src_meta.is_dir() && !newer(src_meta, existing) {
            return Before::Stop(true);
        }
        if self.abandon(dest, existing) {
            return Before::Stop(true);
        }
        if let Some(refusal) = self.kind_clash(src, src_meta, dest, existing) {
            self.complain(refusal);
            return Before::Stop(false);
        }
        let numbered = self
            .backup
            .as_ref()
            .is_some_and(|b| b.kind == BackupKind::Numbered);
        if !existing.is_dir()
            && !numbered
            && self.created.contains(&(existing.dev(), existing.ino()))
        {
            self.complain(format!(
                "will not overwrite just-created {} with {}",
                quote(dest),
                quote(src)
            ));
            return Before::Stop(false);
        }
        match self.make_backup(src, src_meta, dest) {
            Ok(made) => Before::Go(made),
            Err(()) => Before::Stop(false),
        }
    }

    /// Directory onto non-directory and the reverse: refused unless backups move DEST aside.
    fn kind_clash(
        &self,
        src: &Path,
        src_meta: &fs::Metadata,
        dest: &Path,
        existing: &fs::Metadata,
    ) -> Option<String> {
        if self.backup.is_some() {
            return None;
        }
        if src_meta.is_dir() && !existing.is_dir() {
            return Some(format!(
                "cannot overwrite non-directory {} with directory {}",
                quote(dest),
                quote(src)
            ));
        }
        if !src_meta.is_dir() && existing.is_dir() {
            return Some(format!(
                "cannot overwrite directory {} with non-directory",
                quote(dest)
            ));
        }
        None
    }

    /// `-n`, `-i`, and GNU's question for an unwritable destination when stdin is a terminal:
    /// true to leave this operand alone.
    fn abandon(&self, dest: &Path, existing: &fs::Metadata) -> bool {
        if self.args.no_clobber {
            return true;
        }
        let unwritable = !existing.file_type().is_symlink() && !writable(dest);
        let ask = self.args.interactive || (!self.args.force && self.stdin_tty && unwritable);
        if !ask {
            return false;
        }
        let prompt = if unwritable {
            let mode = existing.mode();
            format!(
                "{}: replace {}, overriding mode {:04o} ({})? ",
                super::program(),
                quote(dest),
                mode & 0o7777,
                &crate::sys::mode::mode_string(mode)[1..]
            )
        } else {
            format!("{}: overwrite {}? ", super::program(), quote(dest))
        };
        !super::ask(&prompt, Yes::Initial)
    }

    /// Renames DEST to its backup name; `Ok(None)` when no backup is wanted.
    fn make_backup(
        &self,
        src: &Path,
        src_meta: &fs::Metadata,
        dest: &Path,
    ) -> Result<Option<PathBuf>, ()> {
        let Some(backup) = &self.backup else {
            return Ok(None);
        };
        let src_base = copy::base_name(src);
        if src_base == "." || src_base == ".." {
            return Ok(None);
        }
        let bare = strip_slashes(dest);
        if backup.kind != BackupKind::Numbered && source_is_backup(src, src_meta, &bare, backup) {
            self.complain(format!(
                "backing up {} might destroy source;  {} not moved",
                quote(dest),
                quote(src)
            ));
            return Err(());
        }
        let Some(name) = backup.name_for(&bare) else {
            return Ok(None);
        };
        match fs::rename(&bare, &name) {
            Ok(()) => Ok(Some(name)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => {
                self.complain(format!("cannot backup {}: {}", quote(dest), strerror(&err)));
                Err(())
            }
        }
    }

    /// `cp -a` then remove: the source goes only when every part of it arrived.
    fn across_file_systems(
        &mut self,
        (src, src_meta): (&Path, &fs::Metadata),
        dest: &Path,
        dest_meta: Option<&fs::Metadata>,
    ) -> bool {
        if dest_meta.is_some() {
            let cleared = if src_meta.is_dir() {
                fs::remove_dir(dest)
            } else {
                fs::remove_file(dest)
            };
            match cleared {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    self.complain(format!(
                        "inter-device move failed: {} to {}; unable to remove target: {}",
                        quote(src),
                        quote(dest),
                        strerror(&err)
                    ));
                    return false;
                }
                _ => {}
            }
        }
        let id = (src_meta.dev(), src_meta.ino());
        // Looked up whatever the link count: the earlier links' removal lowered it.
        let linked_copy = if !src_meta.is_dir() {
            self.copied.get(&id).cloned()
        } else {
            None
        };
        let mut report = Report {
            name: self.name,
            verbose: self.args.verbose,
        };
        let arrived = match linked_copy {
            Some(earlier) => match fs::hard_link(&earlier, dest) {
                Ok(()) => true,
                Err(err) => {
                    self.complain(format!(
                        "cannot create hard link {} to {}: {}",
                        quote(dest),
                        quote(&earlier),
                        strerror(&err)
                    ));
                    false
                }
            },
            None => {
                let opts = Options {
                    recursive: true,
                    deref: Deref::Never,
                    preserve: Preserve::all(),
                    existing: Existing::Overwrite,
                    force: true,
                    remove_destination: true,
                };
                Copier::new(opts, &mut report).copy(src, dest)
            }
        };
        if !arrived {
            return false;
        }
        if !src_meta.is_dir() && src_meta.nlink() > 1 {
            self.copied.insert(id, dest.to_path_buf());
        }
        if src_meta.is_dir() && !self.relink_tree(src, dest) {
            return false;
        }
        let remove_opts = remove::Options {
            recursive: true,
            ..remove::Options::default()
        };
        remove::remove(src, remove_opts, &mut report)
    }
}

impl Mover<'_> {
    /// After a directory was copied across file systems: a file in it with hard links that an
    /// earlier operand's copy already has becomes a link to that copy again (GNU keeps hard
    /// links between operands); the others are remembered for later operands. False if the
    /// tree could not be read or a link not made (reported); the source then stays.
    fn relink_tree(&mut self, src: &Path, dest: &Path) -> bool {
        let mut pending = vec![(src.to_path_buf(), dest.to_path_buf())];
        while let Some((from, to)) = pending.pop() {
            let entries = match fs::read_dir(&from) {
                Ok(entries) => entries,
                Err(err) => {
                    self.complain(format!(
                        "cannot access {}: {}",
                        quote(&from),
                        strerror(&err)
                    ));
                    return false;
                }
            };
            for entry in entries.flatten() {
                let (path, copy) = (entry.path(), to.join(entry.file_name()));
                let Ok(meta) = fs::symlink_metadata(&path) else {
                    continue;
                };
                if meta.is_dir() {
                    pending.push((path, copy));
                    continue;
                }
                // Looked up whatever the link count: earlier operands' removal lowered it.
                let id = (meta.dev(), meta.ino());
                match self.copied.get(&id) {
                    Some(earlier) if !same_file::same_name(earlier, &copy) => {
                        let earlier = earlier.clone();
                        if let Err(err) = link_over(&earlier, &copy) {
                            self.complain(format!(
                                "cannot create hard link {} to {}: {}",
                                quote(&copy),
                                quote(&earlier),
                                strerror(&err)
                            ));
                            return false;
                        }
                    }
                    Some(_) => {}
                    None if meta.nlink() > 1 => {
                        self.copied.insert(id, copy);
                    }
                    None => {}
                }
            }
        }
        true
    }
}

/// Replaces `dest` by a hard link to `earlier`, atomically (a link under a temporary name,
/// renamed over it).
fn link_over(earlier: &Path, dest: &Path) -> std::io::Result<()> {
    let mut temp = dest.as_os_str().to_os_string();
    temp.push(format!(".rescue-mv.{}", std::process::id()));
    let temp = PathBuf::from(temp);
    fs::hard_link(earlier, &temp)?;
    fs::rename(&temp, dest).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

/// Whether SRC's modification time is later than DEST's (`-u`).
fn newer(src: &fs::Metadata, dest: &fs::Metadata) -> bool {
    (src.mtime(), src.mtime_nsec()) > (dest.mtime(), dest.mtime_nsec())
}

/// GNU's `writable_destination`: root may write anything; otherwise access(2) with W_OK.
fn writable(path: &Path) -> bool {
    let Ok(c) = crate::sys::c_path(path) else {
        return true;
    };
    // SAFETY: NUL-terminated path.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}

/// `mv a~ a` with simple backups would rename `a` over `a~`, the source, and lose it.
fn source_is_backup(src: &Path, src_meta: &fs::Metadata, dest: &Path, backup: &Backup) -> bool {
    let mut simple = backup.clone();
    simple.kind = BackupKind::Simple;
    let Some(name) = simple.name_for(dest) else {
        return false;
    };
    if copy::base_name(src) != copy::base_name(&name) {
        return false;
    }
    fs::metadata(&name).is_ok_and(|m| (m.dev(), m.ino()) == (src_meta.dev(), src_meta.ino()))
}

/// Whether `path` can be opened as a directory (following symlinks), and the error if not.
fn directory_operand(path: &Path) -> Result<(), std::io::Error> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(std::io::Error::from_raw_os_error(libc::ENOTDIR)),
        Err(err) => Err(err),
    }
}

/// rename(2) that fails with EEXIST rather than replace anything (renameat2 NOREPLACE).
fn rename_noreplace(src: &Path, dest: &Path) -> std::io::Result<()> {
    let (s, d) = (crate::sys::c_path(src)?, crate::sys::c_path(dest)?);
    // SAFETY: NUL-terminated paths; renameat2 takes no pointers besides them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            s.as_ptr(),
            libc::AT_FDCWD,
            d.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The (source, destination) pairs, as GNU's `mv` decides them. `Ok(None)`: two operands and
/// the source was already renamed to a destination that did not exist.
fn plan(args: &Args) -> Result<Vec<(PathBuf, PathBuf)>, Exit> {
    let files = &args.files;
    let into = |dir: &Path, sources: &[PathBuf]| {
        sources
            .iter()
            .map(|src| (src.clone(), dir.join(copy::base_name(&strip_slashes(src)))))
            .collect::<Vec<_>>()
    };
    let min = if args.target_directory.is_some() {
        0
    } else {
        1
    };
    if files.len() <= min {
        return Err(Exit::usage(match files.first() {
            None => "missing file operand".to_string(),
            Some(one) => format!("missing destination file operand after {}", quote(one)),
        }));
    }
    if args.no_target_directory {
        if args.target_directory.is_some() {
            return Err(Exit::failed(
                1,
                "cannot combine --target-directory (-t) and --no-target-directory (-T)",
            ));
        }
        if let Some(extra) = files.get(2) {
            return Err(Exit::usage(format!("extra operand {}", quote(extra))));
        }
        return Ok(vec![(files[0].clone(), files[1].clone())]);
    }
    if let Some(dir) = &args.target_directory {
        return match directory_operand(dir) {
            Ok(()) => Ok(into(dir, files)),
            Err(err) => Err(Exit::failed(
                1,
                format!("target directory {}: {}", quote(dir), strerror(&err)),
            )),
        };
    }
    let (sources, last) = files.split_at(files.len() - 1);
    let last = &last[0];
    match directory_operand(last) {
        Ok(()) => Ok(into(last, sources)),
        Err(_) if sources.len() == 1 => Ok(vec![(sources[0].clone(), last.clone())]),
        Err(err) => Err(Exit::failed(
            1,
            format!("target {}: {}", quote(last), strerror(&err)),
        )),
    }
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let mut args: Args = super::parse(name, args)?;
    if args.strip_trailing_slashes {
        for file in &mut args.files {
            *file = strip_slashes(file);
        }
    }
    let backup = super::backup_from(args.b, args.backup.as_deref(), args.suffix.as_deref())?;
    if args.no_clobber && (args.b || args.backup.is_some() || args.suffix.is_some()) {
        return Err(Exit::usage(
            "options --backup and --no-clobber are mutually exclusive",
        ));
    }
    // Two operands and nothing in the way: GNU renames first, without replacing anything, and
    // only then asks whether the last operand is a directory.
    if args.files.len() == 2 && args.target_directory.is_none() && !args.no_target_directory {
        if let Ok(()) = rename_noreplace(&args.files[0], &args.files[1]) {
            if args.verbose {
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "renamed {} -> {}",
                    quote(&args.files[0]),
                    quote(&args.files[1])
                );
            }
            return Ok(0);
        }
    }
    let pairs = plan(&args)?;
    let mut mover = Mover {
        name,
        args: &args,
        backup,
        stdin_tty: std::io::IsTerminal::is_terminal(&std::io::stdin()),
        created: HashSet::new(),
        copied: HashMap::new(),
        sources: HashMap::new(),
    };
    let mut status = 0;
    let count = pairs.len();
    for (i, (src, dest)) in pairs.iter().enumerate() {
        if !mover.move_one(src, dest, i + 1 == count) {
            status = 1;
        }
    }
    Ok(status)
}
