//! The copy engine behind `cp` and `mv` across file systems: one file, symlink, special file or
//! whole tree from a source path to a destination path, with GNU `cp`'s rules (coreutils
//! `copy.c`) for what happens when the destination exists, and with the metadata a rescue
//! needs kept exactly (owner, setuid/setgid bits, nanosecond times, hard-link groups, xattrs
//! such as `security.capability`, POSIX ACLs).
//!
//! It owns the copying and the order metadata is applied in; it does not own the command line,
//! prompts or messages: what happens is told to a [`Reporter`], which prints, asks and counts.
//! Symlinks are never followed inside a tree unless [`Deref::Always`] says so, and a symlink
//! this run created is never written through.

use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::backup::{Backup, BackupKind};
use super::copy_data::{clone_file, copy_contents, Side};
pub use super::copy_data::{Reflink, Sparse};
use super::xattr::sized_read;
use super::{c_path, check};
use crate::Error;

/// When a symlink met as a source is followed (GNU `-P`, `-H`, `-L`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Deref {
    Never,
    CommandLine,
    Always,
}

/// Which attributes are kept (`--preserve=`).
#[derive(Clone, Copy, Default, Debug)]
pub struct Preserve {
    pub mode: bool,
    pub ownership: bool,
    pub timestamps: bool,
    pub links: bool,
    pub xattr: bool,
    /// Failing to copy xattrs is an error only when they were asked for by name; `-a` (all)
    /// copies them on a best-effort basis like GNU.
    pub xattr_required: bool,
}

impl Preserve {
    pub fn all() -> Preserve {
        Preserve {
            mode: true,
            ownership: true,
            timestamps: true,
            links: true,
            xattr: true,
            xattr_required: false,
        }
    }
}

/// What to do when the destination exists.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Existing {
    Overwrite,
    /// `-n`: leave it and say nothing.
    Keep,
    /// `-i`: ask the reporter.
    Ask,
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub recursive: bool,
    pub deref: Deref,
    pub preserve: Preserve,
    pub existing: Existing,
    /// `-f`: an existing destination that cannot be opened is removed and created again.
    pub force: bool,
    /// `--remove-destination` (and `mv` across file systems): a destination non-directory is
    /// removed before the copy, never written through.
    pub remove_destination: bool,
}

/// The rest of GNU `cp`'s options; `Extras::default()` is what `mv` needs.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    /// `--backup`: an existing destination is renamed to its backup name first.
    pub backup: Option<Backup>,
    /// `-l`: hard links instead of copies.
    pub hard_link: bool,
    /// `-s`: symbolic links instead of copies.
    pub symbolic_link: bool,
    /// `-u`: skip a destination at least as new as its source.
    pub update: bool,
    /// `--copy-contents`: with `-R`, read special files like regular ones.
    pub copy_contents: bool,
    /// `--attributes-only`: no data, only the metadata.
    pub attributes_only: bool,
    pub sparse: Sparse,
    pub reflink: Reflink,
    /// `--no-preserve=mode` given: new files get the default mode (0666/0777 less the umask).
    pub no_preserve_mode: bool,
    /// `-p`/`--preserve=LIST`: failing to keep a listed attribute is an error.
    pub require_preserve: bool,
    /// `-x`: stay on the file systems of the operands.
    pub one_file_system: bool,
    /// Two or more operands into a directory: remember what was made, so that a second
    /// operand never overwrites or writes through the first one's result.
    pub track_created: bool,
    /// `POSIXLY_CORRECT`: a dangling destination symlink is written through.
    pub open_dangling: bool,
}

/// Something that went wrong; the copy goes on with the next file.
#[derive(Debug)]
pub enum Problem {
    /// A system call failed; `Error::Io`'s `op` names it the way GNU's message does
    /// ("stat", "create regular file", "preserve times for", ...).
    Io(Error),
    /// A directory met without `-r`.
    OmitDirectory(PathBuf),
    IntoItself {
        src: PathBuf,
        dest: PathBuf,
    },
    SameFile {
        src: PathBuf,
        dest: PathBuf,
    },
    OverwriteDirWithNonDir {
        dest: PathBuf,
    },
    OverwriteNonDirWithDir {
        src: PathBuf,
        dest: PathBuf,
    },
    /// A dangling symlink as destination: GNU refuses to create the file it points to.
    DanglingDestination(PathBuf),
    /// A warning (the exit status stays 0): the same source named twice.
    SpecifiedTwice(PathBuf),
    /// A warning: a directory named twice, the second time onto its first copy (skipped).
    DirectorySpecifiedTwice(PathBuf),
    /// A second operand would replace what the first one just made.
    JustCreated {
        src: PathBuf,
        dest: PathBuf,
    },
    /// The destination is a symlink this run made: writing through it could reach anywhere.
    ThroughJustCreatedSymlink {
        src: PathBuf,
        dest: PathBuf,
    },
    /// Renaming the destination to its backup name would rename the source.
    BackupDestroysSource {
        src: PathBuf,
        dest: PathBuf,
    },
    /// The source changed between the stat and the open.
    Replaced(PathBuf),
    /// A symlink in the tree leads back to one of its ancestors (`-L`).
    Cyclic(PathBuf),
    /// `--reflink=always` could not clone.
    Clone {
        src: PathBuf,
        dest: PathBuf,
        err: io::Error,
    },
    /// `-l`, or a hard-link group kept.
    HardLink {
        src: PathBuf,
        dest: PathBuf,
        err: io::Error,
    },
    /// `-s`.
    SymlinkTo {
        src: PathBuf,
        dest: PathBuf,
        err: io::Error,
    },
    /// `-s` with a relative source, outside the current directory.
    RelativeSymlink(PathBuf),
    /// `--parents`: a leading directory of the destination is something else.
    NotADirectory(PathBuf),
    /// `--parents`: a leading directory of the source cannot be read, or is not one.
    Attributes {
        path: PathBuf,
        err: io::Error,
    },
}

pub trait Reporter {
    /// A file, link or directory was made at `dest` (what `-v` prints).
    fn copied(&mut self, src: &Path, dest: &Path);
    fn problem(&mut self, problem: Problem);
    /// `-i`: may `dest` be overwritten?
    fn overwrite(&mut self, dest: &Path) -> bool;
    /// As [`Reporter::copied`], with the backup the old destination became.
    fn copied_as(&mut self, src: &Path, dest: &Path, _backup: Option<&Path>) {
        self.copied(src, dest);
    }
    /// A destination was removed to make room (`-v` says `removed 'DEST'`).
    fn removed(&mut self, _dest: &Path) {}
    /// `--parents` made the directory `dest` for the source directory `src`.
    fn made_parent(&mut self, _src: &Path, _dest: &Path) {}
    /// `-i` on a destination that is not writable (`mode`); `replace` when it would be
    /// removed rather than written.
    fn overwrite_unwritable(&mut self, dest: &Path, _mode: u32, _replace: bool) -> bool {
        self.overwrite(dest)
    }
}

/// One `cp` invocation: options, and the hard links seen so far (shared across operands, as
/// GNU does, so `cp -a a b DIR` keeps `a` and `b` linked when they were).
pub struct Copier<'r> {
    opts: Options,
    extras: Extras,
    reporter: &'r mut dyn Reporter,
    links: HashMap<(u64, u64), PathBuf>,
    /// Sources and destinations of the operands so far: (dev, ino, last component).
    sources_seen: HashSet<(u64, u64, OsString)>,
    /// Directory operands already copied (device, inode) and where to, as GNU remembers them
    /// when it keeps hard links: the same directory onto the same copy is copied once.
    dirs_copied: std::collections::HashMap<(u64, u64), PathBuf>,
    made: HashSet<(u64, u64, OsString)>,
    umask: u32,
    is_root: bool,
    failed: bool,
    /// The operand being copied, for "into itself" (GNU names the operands, not the entry).
    operand: (PathBuf, PathBuf),
    /// The directories this operand made: one met again as a source means the copy is inside
    /// its own source, and recursing further would never end (a backstop for the up-front
    /// check, which a symlink followed under `-L` or a directory moved in during the copy
    /// escapes).
    made_dirs: HashSet<(u64, u64)>,
}

fn io_err(op: &'static str, path: &Path, err: io::Error) -> Problem {
    Problem::Io(Error::io(op, path, err))
}
/// The process umask, read without changing it for longer than two system calls.
pub fn current_umask() -> u32 {
    // SAFETY: umask cannot fail; the old value is put back at once.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old as u32
    }
}

/// Whether the directory identified by `dir` (dev, ino) is `path` or one of its ancestors:
/// walks `..` upwards by descriptor, so it needs neither /proc nor a canonical path.
pub fn is_within(dir: (u64, u64), path: &Path) -> io::Result<bool> {
    let start = c_path(path)?;
    // SAFETY: plain syscalls on a NUL-terminated path and descriptors we own.
    let mut fd = unsafe {
        libc::open(
            start.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let dotdot = c"..";
    let result = loop {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } < 0 {
            break Err(io::Error::last_os_error());
        }
        if (st.st_dev, st.st_ino) == dir {
            break Ok(true);
        }
        let parent = unsafe {
            libc::openat(
                fd,
                dotdot.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if parent < 0 {
            break Err(io::Error::last_os_error());
        }
        let mut pst: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(parent, &mut pst) } < 0 {
            unsafe { libc::close(parent) };
            break Err(io::Error::last_os_error());
        }
        unsafe { libc::close(fd) };
        fd = parent;
        if (pst.st_dev, pst.st_ino) == (st.st_dev, st.st_ino) {
            // `..` of the root is the root: the top was reached.
            break Ok(false);
        }
    };
    unsafe { libc::close(fd) };
    result
}

/// The last component of `path`, ignoring trailing slashes (`dir/` names `dir`).
pub fn base_name(path: &Path) -> &OsStr {
    let bytes = path.as_os_str().as_bytes();
    let trimmed = match bytes.iter().rposition(|&b| b != b'/') {
        Some(end) => &bytes[..=end],
        None => return OsStr::new("/"),
    };
    let start = trimmed
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1);
    OsStr::from_bytes(&trimmed[start..])
}

/// The parent directory of `path` as a path that can be opened: `.` for a bare name.
pub fn parent_dir(path: &Path) -> PathBuf {
    let bytes = path.as_os_str().as_bytes();
    let Some(end) = bytes.iter().rposition(|&b| b != b'/') else {
        return PathBuf::from("/");
    };
    match bytes[..=end].iter().rposition(|&b| b == b'/') {
        None => PathBuf::from("."),
        Some(0) => PathBuf::from("/"),
        Some(i) => PathBuf::from(OsStr::from_bytes(&bytes[..i])),
    }
}

/// What is known about the destination once the checks before a copy are done.
struct Dest {
    /// Its status before the copy (lstat or stat, by GNU's rule), if it existed.
    meta: Option<Metadata>,
    /// Nothing stands at the name any more (never was, removed, or renamed to a backup).
    new: bool,
    /// Where the old destination went.
    backup: Option<PathBuf>,
    /// Nothing more to do (`-l` onto the same file).
    done: bool,
}

/// The file `path` names: its last component and the identity of its directory.
fn same_name(a: &Path, b: &Path) -> bool {
    if base_name(a) != base_name(b) {
        return false;
    }
    match (fs::metadata(parent_dir(a)), fs::metadata(parent_dir(b))) {
        (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
        _ => false,
    }
}

fn same_inode(a: &Metadata, b: &Metadata) -> bool {
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

fn key(meta: &Metadata, path: &Path) -> (u64, u64, OsString) {
    (meta.dev(), meta.ino(), base_name(path).to_os_string())
}

fn stat(path: &Path, follow: bool) -> io::Result<Metadata> {
    if follow {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    }
}

/// Whether `dest` may be written by us (a symlink always counts as writable, as in GNU).
fn writable(dest: &Path, meta: &Metadata) -> bool {
    if meta.file_type().is_symlink() {
        return true;
    }
    let Ok(c) = c_path(dest) else { return true };
    // SAFETY: NUL-terminated path.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}

impl<'r> Copier<'r> {
    pub fn new(opts: Options, reporter: &'r mut dyn Reporter) -> Copier<'r> {
        Copier::with_extras(opts, Extras::default(), reporter)
    }

    /// A copier with `cp`'s further options.
    pub fn with_extras(
        opts: Options,
        extras: Extras,
        reporter: &'r mut dyn Reporter,
    ) -> Copier<'r> {
        Copier {
            opts,
            extras,
            reporter,
            links: HashMap::new(),
            sources_seen: HashSet::new(),
            dirs_copied: std::collections::HashMap::new(),
            made: HashSet::new(),
            umask: current_umask(),
            is_root: nix::unistd::geteuid().is_root(),
            failed: false,
            operand: (PathBuf::new(), PathBuf::new()),
            made_dirs: HashSet::new(),
        }
    }

    /// Whether any problem was reported so far (the exit status).
    pub fn failed(&self) -> bool {
        self.failed
    }

    fn problem(&mut self, problem: Problem) {
        self.failed = true;
        self.reporter.problem(problem);
    }

    fn backups(&self) -> bool {
        self.extras
            .backup
            .as_ref()
            .is_some_and(|b| b.kind != BackupKind::None)
    }

    fn numbered_backups(&self) -> bool {
        self.extras
            .backup
            .as_ref()
            .is_some_and(|b| b.kind == BackupKind::Numbered)
    }

    /// GNU's copy_as_regular: special files are read like regular ones, except under `-R`
    /// without `--copy-contents`.
    fn as_regular(&self) -> bool {
        !self.opts.recursive || self.extras.copy_contents
    }

    /// Copies the command-line operand `src` to exactly `dest` (the caller has already decided
    /// whether `dest` is `DIR/name`). Returns false if anything failed.
    pub fn copy(&mut self, src: &Path, dest: &Path) -> bool {
        let before = self.failed;
        self.failed = false;
        self.operand = (src.to_path_buf(), dest.to_path_buf());
        self.made_dirs.clear();
        self.copy_node(src, dest, true, &mut Vec::new(), None);
        let ok = !self.failed;
        self.failed |= before;
        ok
    }

    /// Whether `src`, a directory operand, was copied already onto the same destination name
    /// (`cp -a ./b b d/`): GNU warns and copies it once. The first copy counts even when it
    /// failed, as GNU's does.
    fn directory_again(&mut self, src: &Path, dest: &Path, meta: &Metadata) -> bool {
        let id = (meta.dev(), meta.ino());
        if let Some(earlier) = self.dirs_copied.get(&id) {
            if crate::sys::same_file::same_name(earlier, dest) {
                self.reporter
                    .problem(Problem::DirectorySpecifiedTwice(src.to_path_buf()));
                return true;
            }
        }
        self.dirs_copied.insert(id, dest.to_path_buf());
        false
    }

    /// `cp -R dir dir/sub`: refused up front, before anything is made inside the source
    /// (GNU makes a partial copy first).
    fn copies_into_itself(&mut self, src: &Path, dest: &Path, meta: &Metadata) -> bool {
        let dir = (meta.dev(), meta.ino());
        let inside = fs::symlink_metadata(dest).is_ok_and(|m| same_inode(&m, meta))
            || is_within(dir, &parent_dir(dest)).unwrap_or(false);
        if inside {
            self.problem(Problem::IntoItself {
                src: src.to_path_buf(),
                dest: dest.to_path_buf(),
            });
        }
        inside
    }

    /// A source directory that this operand made (see `made_dirs`).
    fn met_own_copy(&mut self, meta: &Metadata) -> bool {
        let met = self.made_dirs.contains(&(meta.dev(), meta.ino()));
        if met {
            let (src, dest) = self.operand.clone();
            self.problem(Problem::IntoItself { src, dest });
        }
        met
    }

    fn copy_node(
        &mut self,
        src: &Path,
        dest: &Path,
        top: bool,
        ancestors: &mut Vec<(u64, u64)>,
        parent_dev: Option<u64>,
    ) {
        let follow =
            self.opts.deref == Deref::Always || (top && self.opts.deref == Deref::CommandLine);
        let meta = match stat(src, follow) {
            Ok(meta) => meta,
            Err(err) => return self.problem(io_err("stat", src, err)),
        };
        let is_dir = meta.is_dir();
        if is_dir && !self.opts.recursive {
            return self.problem(Problem::OmitDirectory(src.to_path_buf()));
        }
        if is_dir && top && self.opts.preserve.links && self.directory_again(src, dest, &meta) {
            return;
        }
        if is_dir && top && self.copies_into_itself(src, dest, &meta) {
            return;
        }
        if is_dir && !top && self.met_own_copy(&meta) {
            return;
        }
        if top && self.extras.track_created {
            let seen = !self.sources_seen.insert(key(&meta, src));
            if seen && !is_dir && !self.backups() {
                self.reporter
                    .problem(Problem::SpecifiedTwice(src.to_path_buf()));
                return;
            }
        }
        let Some(mut state) = self.prepare_destination(src, dest, &meta, top) else {
            return;
        };
        if state.done {
            return;
        }
        let made = self.make(src, dest, &meta, top, &mut state, ancestors, parent_dev);
        if !made {
            let id = (meta.dev(), meta.ino());
            if !is_dir && self.links.get(&id).is_some_and(|first| first == dest) {
                self.links.remove(&id);
            }
            self.un_backup(dest, &state);
        }
    }

    /// A failed copy puts the backup back where the destination was.
    fn un_backup(&mut self, dest: &Path, state: &Dest) {
        if let Some(backup) = &state.backup {
            if let Err(err) = fs::rename(backup, dest) {
                self.problem(io_err("un-backup", dest, err));
            }
        }
    }

    /// GNU's checks and preparations when something stands at `dest`: None when this operand
    /// stops here (refused, skipped, or already reported).
    fn prepare_destination(
        &mut self,
        src: &Path,
        dest: &Path,
        meta: &Metadata,
        top: bool,
    ) -> Option<Dest> {
        let kind = meta.file_type();
        let x = &self.extras;
        // Regular files can be written through a symlink; nothing else can, and nothing is
        // when the destination goes away first.
        let use_lstat = (!kind.is_file()
            && (!self.as_regular() || kind.is_dir() || kind.is_symlink()))
            || x.symbolic_link
            || x.hard_link
            || self.backups()
            || self.opts.remove_destination;
        let mut state = Dest {
            meta: None,
            new: false,
            backup: None,
            done: false,
        };
        match stat(dest, !use_lstat) {
            Ok(m) => state.meta = Some(m),
            Err(err) if err.raw_os_error() == Some(libc::ELOOP) && self.opts.force => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => state.new = true,
            Err(err) => {
                self.problem(io_err("stat", dest, err));
                return None;
            }
        }
        if let Some(dest_meta) = state.meta.clone() {
            if !self.over_existing(src, dest, meta, &dest_meta, top, &mut state)? {
                return None;
            }
        }
        if top && self.extras.track_created && !self.backups() {
            if let Ok(now) = fs::symlink_metadata(dest) {
                if now.file_type().is_symlink() && self.made.contains(&key(&now, dest)) {
                    self.problem(Problem::ThroughJustCreatedSymlink {
                        src: src.to_path_buf(),
                        dest: dest.to_path_buf(),
                    });
                    return None;
                }
            }
        }
        Some(state)
    }

    /// The destination exists: Some(true) to go on, Some(false) to stop having done nothing
    /// wrong (`-n`, a no, `-u`), None when refused (reported).
    fn over_existing(
        &mut self,
        src: &Path,
        dest: &Path,
        meta: &Metadata,
        dest_meta: &Metadata,
        top: bool,
        state: &mut Dest,
    ) -> Option<bool> {
        let src_dir = meta.is_dir();
        if self.opts.existing != Existing::Keep {
            let (ok, done) = self.same_file_ok(src, meta, dest, dest_meta);
            if !ok {
                self.problem(Problem::SameFile {
                    src: src.to_path_buf(),
                    dest: dest.to_path_buf(),
                });
                return None;
            }
            state.done = done;
        }
        if self.extras.update && !src_dir && newer_or_same(dest_meta, meta) {
            // Skipped, but still one name of its link group: later names link to it, and
            // when an earlier name was copied, this one becomes a link to that.
            if self.keeps_link_group(meta, top) {
                let id = (meta.dev(), meta.ino());
                match self.links.get(&id).cloned() {
                    Some(first) => {
                        self.hard_link(&first, dest, true, false, src);
                    }
                    None => {
                        self.links.insert(id, dest.to_path_buf());
                    }
                }
            }
            return Some(false);
        }
        if !src_dir {
            match self.opts.existing {
                Existing::Keep => return Some(false),
                Existing::Ask => {
                    let answer = if writable(dest, dest_meta) {
                        self.reporter.overwrite(dest)
                    } else {
                        let replace = self.opts.remove_destination || self.opts.force;
                        self.reporter
                            .overwrite_unwritable(dest, dest_meta.mode(), replace)
                    };
                    if !answer {
                        return Some(false);
                    }
                }
                Existing::Overwrite => {}
            }
        }
        if state.done {
            return Some(true);
        }
        self.refuse_kind_change(src, dest, meta, dest_meta, top)?;
        self.clear_destination(src, dest, meta, dest_meta, state)?;
        Some(true)
    }

    /// Directory over non-directory and the reverse, and a second operand over the first's
    /// result.
    fn refuse_kind_change(
        &mut self,
        src: &Path,
        dest: &Path,
        meta: &Metadata,
        dest_meta: &Metadata,
        top: bool,
    ) -> Option<()> {
        let (src_dir, dest_dir) = (meta.is_dir(), dest_meta.is_dir());
        if !dest_dir {
            if src_dir {
                self.problem(Problem::OverwriteNonDirWithDir {
                    src: src.to_path_buf(),
                    dest: dest.to_path_buf(),
                });
                return None;
            }
            if top
                && self.extras.track_created
                && !self.numbered_backups()
                && self.made.contains(&key(dest_meta, dest))
            {
                self.problem(Problem::JustCreated {
                    src: src.to_path_buf(),
                    dest: dest.to_path_buf(),
                });
                return None;
            }
        }
        if !src_dir && dest_dir {
            self.problem(Problem::OverwriteDirWithNonDir {
                dest: dest.to_path_buf(),
            });
            return None;
        }
        Some(())
    }

    /// Moves the destination to its backup name, or removes it when it must not be written
    /// through (`--remove-destination`, a link group, a non-regular source under `-P`).
    fn clear_destination(
        &mut self,
        src: &Path,
        dest: &Path,
        meta: &Metadata,
        dest_meta: &Metadata,
        state: &mut Dest,
    ) -> Option<()> {
        let dest_dir = dest_meta.is_dir();
        let src_base = base_name(src);
        let dots = src_base == "." || src_base == "..";
        if self.backups() && !dots && !dest_dir {
            if !self.numbered_backups() && self.backup_is_source(meta, dest) {
                self.problem(Problem::BackupDestroysSource {
                    src: src.to_path_buf(),
                    dest: dest.to_path_buf(),
                });
                return None;
            }
            let name = self.extras.backup.as_ref().and_then(|b| b.name_for(dest));
            if let Some(name) = name {
                match fs::rename(dest, &name) {
                    Ok(()) => state.backup = Some(name),
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    Err(err) => {
                        self.problem(io_err("backup", dest, err));
                        return None;
                    }
                }
            }
            state.new = true;
            return Some(());
        }
        let data = !self.extras.attributes_only;
        let must_unlink = self.opts.remove_destination
            || (data
                && ((self.opts.preserve.links && dest_meta.nlink() > 1)
                    || (self.opts.deref == Deref::Never && !meta.file_type().is_file())));
        if !dest_dir && must_unlink {
            match fs::remove_file(dest) {
                Ok(()) => self.reporter.removed(dest),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => {
                    self.problem(io_err("remove", dest, err));
                    return None;
                }
            }
            state.new = true;
        }
        Some(())
    }

    /// Whether the destination's backup name is the source itself (`cp --b=simple a~ a`).
    fn backup_is_source(&self, meta: &Metadata, dest: &Path) -> bool {
        let Some(name) = self.extras.backup.as_ref().and_then(|b| b.name_for(dest)) else {
            return false;
        };
        fs::symlink_metadata(name).is_ok_and(|b| same_inode(&b, meta))
    }
}

/// `-u`: the destination's mtime is not older than the source's.
fn newer_or_same(dest: &Metadata, src: &Metadata) -> bool {
    (dest.mtime(), dest.mtime_nsec()) >= (src.mtime(), src.mtime_nsec())
}
impl Copier<'_> {
    /// GNU's same_file_ok: (whether copying `src` onto `dest` is safe, whether there is then
    /// nothing to do). Unsafe is any copy that would truncate or replace the data it reads,
    /// such as a symlink copied over its own target (`cp -d link target`).
    fn same_file_ok(
        &self,
        src: &Path,
        src_meta: &Metadata,
        dest: &Path,
        dest_meta: &Metadata,
    ) -> (bool, bool) {
        let x = &self.extras;
        let same = same_inode(src_meta, dest_meta);
        if same && x.hard_link {
            return (true, true);
        }
        let (src_link, dest_link, same_link);
        if self.opts.deref == Deref::Never {
            same_link = same;
            if src_meta.file_type().is_symlink() && dest_meta.file_type().is_symlink() {
                let sn = same_name(src, dest);
                if !sn {
                    if self.backups() {
                        return (true, false);
                    }
                    if same_link {
                        return (true, true);
                    }
                }
                return (!sn, false);
            }
            src_link = src_meta.clone();
            dest_link = dest_meta.clone();
        } else {
            if !same {
                return (true, false);
            }
            let (Ok(d), Ok(s)) = (fs::symlink_metadata(dest), fs::symlink_metadata(src)) else {
                return (true, false);
            };
            same_link = same_inode(&s, &d);
            if s.file_type().is_symlink()
                && d.file_type().is_symlink()
                && self.opts.remove_destination
            {
                return (true, false);
            }
            src_link = s;
            dest_link = d;
        }
        let src_is_link = src_link.file_type().is_symlink();
        let dest_is_link = dest_link.file_type().is_symlink();
        if self.backups() {
            if !same_link {
                // Backing up a regular destination would leave a dereferenced symlink source
                // dangling before it is read.
                let refuse = self.opts.deref != Deref::Never && src_is_link && !dest_is_link;
                return (!refuse, false);
            }
            return (!same_name(src, dest), false);
        }
        if self.opts.remove_destination {
            if dest_is_link {
                return (true, false);
            }
            if same_link && dest_link.nlink() > 1 && !same_name(src, dest) {
                return (true, false);
            }
        }
        if !src_is_link && !dest_is_link {
            if !same_inode(&src_link, &dest_link) {
                return (true, false);
            }
            if x.hard_link {
                return (true, true);
            }
        }
        if x.symbolic_link && dest_is_link {
            return (true, false);
        }
        if self.opts.deref == Deref::Never {
            let s = if src_is_link {
                fs::metadata(src)
            } else {
                Ok(src_link)
            };
            let d = if dest_is_link {
                fs::metadata(dest)
            } else {
                Ok(dest_link)
            };
            let (Ok(s), Ok(d)) = (s, d) else {
                return (true, false);
            };
            if !same_inode(&s, &d) {
                return (true, false);
            }
            if x.hard_link {
                return (true, !dest_is_link);
            }
        }
        (false, false)
    }
}
impl Copier<'_> {
    /// Makes the node at `dest` (verbose line, link groups, then by type) and its metadata.
    /// False when nothing usable was made.
    #[allow(clippy::too_many_arguments)]
    fn make(
        &mut self,
        src: &Path,
        dest: &Path,
        meta: &Metadata,
        top: bool,
        state: &mut Dest,
        ancestors: &mut Vec<(u64, u64)>,
        parent_dev: Option<u64>,
    ) -> bool {
        let kind = meta.file_type();
        if !kind.is_dir() {
            self.reporter.copied_as(src, dest, state.backup.as_deref());
        }
        if !kind.is_dir() && self.keeps_link_group(meta, top) {
            let id = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&id).cloned() {
                return self.hard_link(&first, dest, true, false, src);
            }
            self.links.insert(id, dest.to_path_buf());
        }
        let regular = kind.is_file() || (self.as_regular() && !kind.is_symlink() && !kind.is_dir());
        // Linux links a symlink itself, so `-l -P` needs no copy of it.
        let link_instead = self.extras.hard_link && !kind.is_dir();
        let made = if kind.is_dir() {
            return self.make_dir(src, dest, meta, state, ancestors, parent_dev);
        } else if self.extras.symbolic_link {
            self.make_symlink_to(src, dest)
        } else if link_instead {
            let replace = self.opts.force || self.opts.existing == Existing::Ask;
            let follow =
                self.opts.deref == Deref::Always || (top && self.opts.deref == Deref::CommandLine);
            self.hard_link(src, dest, replace, follow, src)
        } else if regular {
            let made = self.copy_regular(src, dest, meta, state);
            if made {
                self.remember_made(dest, top);
            }
            return made;
        } else if kind.is_symlink() {
            self.copy_symlink(src, dest)
        } else {
            self.make_special(dest, meta, self.omitted(meta))
        };
        if !made {
            return false;
        }
        self.remember_made(dest, top);
        if self.extras.symbolic_link || link_instead {
            return true;
        }
        let target = match c_path(dest) {
            Ok(c) => Target::Path(c),
            Err(_) => return true,
        };
        let attrs = Attrs {
            new: true,
            symlink: kind.is_symlink(),
            regular: false,
            omitted: self.omitted(meta),
            extra: 0,
            restore: None,
        };
        self.apply_metadata(src, dest, meta, &target, &attrs)
    }

    /// GNU's rule for remembering an inode so later names of it become hard links.
    fn keeps_link_group(&self, meta: &Metadata, top: bool) -> bool {
        self.opts.preserve.links
            && !self.extras.hard_link
            && (meta.nlink() > 1
                || (top && self.opts.deref == Deref::CommandLine)
                || self.opts.deref == Deref::Always)
    }

    /// Records what an operand made, so that later operands neither overwrite it nor write
    /// through it.
    fn remember_made(&mut self, dest: &Path, top: bool) {
        if top && self.extras.track_created {
            if let Ok(now) = fs::symlink_metadata(dest) {
                self.made.insert(key(&now, dest));
            }
        }
    }

    /// Permission bits withheld at creation, until owner and mode are right: group and other
    /// bits when the owner will change, group/other write for a directory.
    fn omitted(&self, meta: &Metadata) -> u32 {
        let bits = meta.mode() & 0o7777;
        if self.opts.preserve.ownership {
            bits & 0o077
        } else if meta.is_dir() {
            bits & 0o022
        } else {
            0
        }
    }

    fn hard_link(
        &mut self,
        from: &Path,
        dest: &Path,
        replace: bool,
        follow: bool,
        src: &Path,
    ) -> bool {
        let linked = link_at(from, dest, follow).or_else(|err| {
            if replace && err.raw_os_error() == Some(libc::EEXIST) {
                fs::remove_file(dest).and_then(|()| link_at(from, dest, follow))
            } else {
                Err(err)
            }
        });
        match linked {
            Ok(()) => true,
            Err(err) => {
                self.problem(Problem::HardLink {
                    src: src.to_path_buf(),
                    dest: dest.to_path_buf(),
                    err,
                });
                false
            }
        }
    }

    /// `-s`: a symlink to the source name as given; relative names only work in `.`.
    fn make_symlink_to(&mut self, src: &Path, dest: &Path) -> bool {
        if !src.is_absolute() {
            let here = fs::metadata(".");
            let there = fs::metadata(parent_dir(dest));
            let in_current = match (here, there) {
                (Ok(h), Ok(t)) => same_inode(&h, &t),
                _ => true,
            };
            if !in_current {
                self.problem(Problem::RelativeSymlink(dest.to_path_buf()));
                return false;
            }
        }
        match self.force_symlink(src, dest) {
            Ok(()) => true,
            Err(err) => {
                self.problem(Problem::SymlinkTo {
                    src: src.to_path_buf(),
                    dest: dest.to_path_buf(),
                    err,
                });
                false
            }
        }
    }

    /// A symlink at `dest`; with `-f`, one standing there is replaced.
    fn force_symlink(&self, target: &Path, dest: &Path) -> io::Result<()> {
        match std::os::unix::fs::symlink(target, dest) {
            Err(err) if err.raw_os_error() == Some(libc::EEXIST) && self.opts.force => {
                fs::remove_file(dest)?;
                std::os::unix::fs::symlink(target, dest)
            }
            other => other,
        }
    }

    fn copy_symlink(&mut self, src: &Path, dest: &Path) -> bool {
        let target = match fs::read_link(src) {
            Ok(t) => t,
            Err(err) => {
                self.problem(io_err("read symbolic link", src, err));
                return false;
            }
        };
        match self.force_symlink(&target, dest) {
            Ok(()) => true,
            Err(err) => {
                let same = err.raw_os_error() == Some(libc::EEXIST)
                    && self.extras.update
                    && fs::read_link(dest).is_ok_and(|t| t == target);
                if !same {
                    self.problem(io_err("create symbolic link", dest, err));
                }
                same
            }
        }
    }

    fn make_special(&mut self, dest: &Path, meta: &Metadata, omitted: u32) -> bool {
        let made = c_path(dest).and_then(|c| {
            let mode = meta.mode() & !omitted;
            // SAFETY: NUL-terminated path; mknod does not keep the pointer.
            check(unsafe { libc::mknod(c.as_ptr(), mode, meta.rdev() as libc::dev_t) })
        });
        if let Err(err) = made {
            let op = if meta.file_type().is_fifo() {
                "create fifo"
            } else {
                "create special file"
            };
            self.problem(io_err(op, dest, err));
            return false;
        }
        true
    }
}

fn link_at(from: &Path, dest: &Path, follow: bool) -> io::Result<()> {
    let (a, b) = (c_path(from)?, c_path(dest)?);
    let flags = if follow { libc::AT_SYMLINK_FOLLOW } else { 0 };
    // SAFETY: NUL-terminated paths.
    check(unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            flags,
        )
    })
}
/// How metadata is applied to one node.
struct Attrs {
    /// The node was made by this copy (not an existing file written into).
    new: bool,
    symlink: bool,
    /// Written as a regular file (through [`Copier::copy_regular`]).
    regular: bool,
    /// Bits withheld at creation ([`Copier::omitted`]).
    omitted: u32,
    /// Bits added at creation to be able to write xattrs (`u+w`), taken away at the end.
    extra: u32,
    /// A directory made `u+rwx` to fill it: its mode as made.
    restore: Option<u32>,
}

impl Copier<'_> {
    fn make_dir(
        &mut self,
        src: &Path,
        dest: &Path,
        meta: &Metadata,
        state: &Dest,
        ancestors: &mut Vec<(u64, u64)>,
        parent_dev: Option<u64>,
    ) -> bool {
        let id = (meta.dev(), meta.ino());
        if ancestors.contains(&id) {
            self.problem(Problem::Cyclic(src.to_path_buf()));
            return false;
        }
        let exists = !state.new && state.meta.as_ref().is_some_and(|m| m.is_dir());
        let mut attrs = Attrs {
            new: !exists,
            symlink: false,
            regular: false,
            omitted: if exists { 0 } else { self.omitted(meta) },
            extra: 0,
            restore: None,
        };
        if !exists {
            let mode = meta.mode() & 0o7777 & !attrs.omitted;
            if let Err(err) = fs::DirBuilder::new().mode_bits(mode).create(dest) {
                self.problem(io_err("create directory", dest, err));
                return false;
            }
            let made = match fs::symlink_metadata(dest) {
                Ok(m) => m,
                Err(err) => {
                    self.problem(io_err("stat", dest, err));
                    return false;
                }
            };
            self.made_dirs.insert((made.dev(), made.ino()));
            if made.mode() & 0o700 != 0o700 {
                // We must be able to fill it; its mode is put right afterwards.
                let result = fs::set_permissions(
                    dest,
                    std::os::unix::fs::PermissionsExt::from_mode((made.mode() | 0o700) & 0o7777),
                );
                if let Err(err) = result {
                    self.problem(io_err("set permissions for", dest, err));
                    return false;
                }
                attrs.restore = Some(made.mode() & 0o7777);
            }
            self.reporter.copied_as(src, dest, None);
        }
        let crossing = self.extras.one_file_system && parent_dev.is_some_and(|d| d != meta.dev());
        if !crossing {
            ancestors.push(id);
            self.copy_children(src, dest, meta.dev(), ancestors);
            ancestors.pop();
        }
        // Directory times last: creating the entries above changed them.
        let Ok(target) = c_path(dest).map(Target::Path) else {
            return true;
        };
        self.apply_metadata(src, dest, meta, &target, &attrs);
        true
    }

    fn copy_children(
        &mut self,
        src: &Path,
        dest: &Path,
        dev: u64,
        ancestors: &mut Vec<(u64, u64)>,
    ) {
        match read_names(src) {
            Err(err) => self.problem(io_err("access", src, err)),
            Ok(names) => {
                for name in names {
                    let child_src = src.join(&name);
                    let child_dest = dest.join(&name);
                    self.copy_node(&child_src, &child_dest, false, ancestors, Some(dev));
                }
            }
        }
    }

    /// Owner, xattrs, mode, times: chown clears setuid/setgid and file capabilities, so mode
    /// and xattrs come after it; xattrs come before the mode, which may forbid writing them.
    /// A failure is reported and the node kept (GNU: "the destination must not be removed").
    fn apply_metadata(
        &mut self,
        src: &Path,
        dest: &Path,
        meta: &Metadata,
        target: &Target,
        attrs: &Attrs,
    ) -> bool {
        let p = self.opts.preserve;
        let mut mode = meta.mode() & 0o7777;
        if p.timestamps {
            if let Err(err) = target.set_times(&times_of(meta)) {
                self.problem(io_err("preserve times for", dest, err));
            }
        }
        if p.ownership {
            match self.set_owner(target, meta) {
                Ok(true) => {}
                Ok(false) => mode &= !(libc::S_ISUID | libc::S_ISGID | libc::S_ISVTX),
                Err(err) => self.problem(io_err("preserve ownership for", dest, err)),
            }
        }
        if p.xattr {
            let follow = self.opts.deref == Deref::Always;
            if let Err(err) = copy_xattrs(src, follow, target, XattrSet::AllButAcls) {
                let unsupported = matches!(
                    err.raw_os_error(),
                    Some(libc::ENOTSUP | libc::ENOSYS | libc::EPERM)
                );
                if p.xattr_required || !unsupported {
                    self.problem(io_err("preserve extended attributes for", dest, err));
                }
            }
        }
        if attrs.symlink {
            return true;
        }
        self.apply_mode(src, dest, meta, target, attrs, mode);
        true
    }

    fn apply_mode(
        &mut self,
        src: &Path,
        dest: &Path,
        meta: &Metadata,
        target: &Target,
        attrs: &Attrs,
        mode: u32,
    ) {
        let chmod = if self.opts.preserve.mode {
            Some(mode)
        } else if self.extras.no_preserve_mode && attrs.new {
            let kind = meta.file_type();
            let default = if kind.is_dir() || kind.is_socket() {
                0o777
            } else {
                0o666
            };
            Some(default & !self.umask)
        } else if attrs.regular {
            let withheld = (attrs.omitted & !self.umask) | attrs.extra;
            (withheld != 0).then_some(meta.mode() & 0o777 & !self.umask)
        } else {
            let withheld = attrs.omitted & !self.umask;
            let current = attrs.restore.or_else(|| {
                let now = (withheld != 0).then(|| fs::symlink_metadata(dest).ok());
                now.flatten().map(|m| m.mode() & 0o7777)
            });
            current
                .filter(|&cur| attrs.restore.is_some() || withheld & !cur != 0)
                .map(|cur| cur | withheld)
        };
        if let Some(bits) = chmod {
            if let Err(err) = target.chmod(bits) {
                self.problem(io_err("preserve permissions for", dest, err));
                return;
            }
        }
        if self.opts.preserve.mode {
            let follow = self.opts.deref == Deref::Always;
            if let Err(err) = copy_xattrs(src, follow, target, XattrSet::Acls) {
                let unsupported = matches!(err.raw_os_error(), Some(libc::ENOTSUP | libc::ENOSYS));
                if !unsupported {
                    self.problem(io_err("preserve permissions for", dest, err));
                }
            }
        }
    }

    /// chown to the source's owner. Ok(false) when that is not ours to do (not root): then
    /// at least the group is kept when we belong to it, and setuid/setgid bits must go.
    fn set_owner(&self, target: &Target, meta: &Metadata) -> io::Result<bool> {
        match target.chown(meta.uid(), meta.gid()) {
            Ok(()) => Ok(true),
            Err(err) if matches!(err.raw_os_error(), Some(libc::EPERM | libc::EINVAL)) => {
                let _ = target.chown(u32::MAX, meta.gid());
                if self.is_root {
                    Err(err)
                } else {
                    Ok(false)
                }
            }
            Err(err) => Err(err),
        }
    }
}

fn times_of(meta: &Metadata) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: meta.atime() as _,
            tv_nsec: meta.atime_nsec() as _,
        },
        libc::timespec {
            tv_sec: meta.mtime() as _,
            tv_nsec: meta.mtime_nsec() as _,
        },
    ]
}

trait DirBuilderMode {
    fn mode_bits(&mut self, mode: u32) -> &mut Self;
}

impl DirBuilderMode for fs::DirBuilder {
    fn mode_bits(&mut self, mode: u32) -> &mut Self {
        use std::os::unix::fs::DirBuilderExt;
        self.mode(mode)
    }
}
impl Copier<'_> {
    /// A regular file (or a special file read as one): data, then metadata through the open
    /// descriptor, so what is changed is the file just written.
    fn copy_regular(&mut self, src: &Path, dest: &Path, meta: &Metadata, state: &mut Dest) -> bool {
        let nofollow = if self.opts.deref == Deref::Never {
            libc::O_NOFOLLOW
        } else {
            0
        };
        let mut input = match OpenOptions::new()
            .read(true)
            .custom_flags(nofollow)
            .open(src)
        {
            Ok(f) => f,
            Err(err) => {
                self.problem(io_err("open for reading", src, err));
                return false;
            }
        };
        match input.metadata() {
            Ok(opened) if same_inode(&opened, meta) => {}
            Ok(_) => {
                self.problem(Problem::Replaced(src.to_path_buf()));
                return false;
            }
            Err(err) => {
                self.problem(io_err("fstat", src, err));
                return false;
            }
        }
        let omitted = self.omitted(meta) & 0o777;
        let Some((mut output, extra)) = self.open_destination(dest, meta, state, omitted) else {
            return false;
        };
        let mut data = !self.extras.attributes_only;
        if data && self.extras.reflink != Reflink::Never {
            match clone_file(&input, &output) {
                Ok(()) => data = false,
                Err(err) if self.extras.reflink == Reflink::Always => {
                    self.problem(Problem::Clone {
                        src: src.to_path_buf(),
                        dest: dest.to_path_buf(),
                        err,
                    });
                    return false;
                }
                Err(_) => {}
            }
        }
        let dest_regular = output.metadata().is_ok_and(|m| m.is_file());
        if data {
            let copied = copy_contents(
                &mut input,
                &mut output,
                meta,
                dest_regular,
                self.extras.sparse,
                self.extras.reflink,
            );
            if let Err((err, side)) = copied {
                match side {
                    Side::Read => self.problem(io_err("read", src, err)),
                    Side::Write => self.problem(io_err("write", dest, err)),
                }
                return false;
            }
        }
        let attrs = Attrs {
            new: state.new,
            symlink: false,
            regular: true,
            omitted: if state.new { omitted } else { 0 },
            extra,
            restore: None,
        };
        self.apply_metadata(src, dest, meta, &Target::Fd(output.as_raw_fd()), &attrs);
        true
    }

    /// Opens the existing destination (truncated) or creates it (`O_EXCL`, so a symlink
    /// standing there is never followed), with `-f`'s retry. Returns the file and the bits
    /// added only so xattrs can be written.
    fn open_destination(
        &mut self,
        dest: &Path,
        meta: &Metadata,
        state: &mut Dest,
        omitted: u32,
    ) -> Option<(File, u32)> {
        let data = !self.extras.attributes_only;
        if !state.new {
            let opened = OpenOptions::new().write(true).truncate(data).open(dest);
            match opened {
                Ok(f) => return Some((f, 0)),
                Err(err) if err.kind() != io::ErrorKind::NotFound && !self.opts.force => {
                    self.problem(io_err("create regular file", dest, err));
                    return None;
                }
                Err(err) if err.kind() != io::ErrorKind::NotFound => match fs::remove_file(dest) {
                    Ok(()) => self.reporter.removed(dest),
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    Err(err) => {
                        self.problem(io_err("remove", dest, err));
                        return None;
                    }
                },
                Err(_) => {}
            }
            state.new = true;
        }
        let mode = meta.mode() & 0o777;
        let needs_write = self.opts.preserve.xattr && !self.is_root;
        let open_mode = (mode & !omitted) | if needs_write { 0o200 } else { 0 };
        let extra = open_mode & !mode;
        let create = |exclusive: bool| {
            let mut o = OpenOptions::new();
            o.write(true).mode(open_mode);
            if exclusive {
                o.create_new(true);
            } else {
                o.create(true);
            }
            o.open(dest)
        };
        let mut opened = create(true);
        if let Err(err) = &opened {
            let dangling = err.raw_os_error() == Some(libc::EEXIST) && fs::read_link(dest).is_ok();
            if dangling && self.extras.open_dangling {
                opened = create(false);
            } else if dangling {
                self.problem(Problem::DanglingDestination(dest.to_path_buf()));
                return None;
            }
        }
        match opened {
            Ok(f) => {
                // The umask may have taken the u+w away again.
                if extra != 0 {
                    if let Ok(m) = f.metadata() {
                        let _ = Target::Fd(f.as_raw_fd()).chmod((m.mode() | extra) & 0o7777);
                    }
                }
                Some((f, extra))
            }
            Err(err) => {
                let trailing = dest.as_os_str().as_bytes().ends_with(b"/");
                let err = if trailing && err.raw_os_error() == Some(libc::EISDIR) {
                    io::Error::from_raw_os_error(libc::ENOTDIR)
                } else {
                    err
                };
                self.problem(io_err("create regular file", dest, err));
                None
            }
        }
    }
}
/// A leading directory `--parents` made or found, with what must be put right on it once the
/// copy inside it is done.
struct Parent {
    src: PathBuf,
    dest: PathBuf,
    meta: Metadata,
    /// The mode it must end with when modes are not preserved (GNU's restore_mode).
    restore: Option<u32>,
}

impl Copier<'_> {
    /// `--parents`: copies `src` to `target/src`, making the missing directories between with
    /// the source directories' attributes, applied after the copy (GNU's re_protect).
    pub fn copy_with_parents(&mut self, src: &Path, target: &Path) -> bool {
        let before = self.failed;
        self.failed = false;
        let relative = strip_leading_slashes(src);
        let dest = target.join(&relative);
        self.operand = (src.to_path_buf(), dest.clone());
        self.made_dirs.clear();
        if let Some(parents) = self.make_parents(&relative, target) {
            self.copy_node(src, &dest, true, &mut Vec::new(), None);
            for parent in parents.iter().rev() {
                self.re_protect(parent);
            }
        }
        let ok = !self.failed;
        self.failed |= before;
        ok
    }

    fn make_parents(&mut self, relative: &Path, target: &Path) -> Option<Vec<Parent>> {
        let mut parents = Vec::new();
        let components: Vec<_> = relative.components().collect();
        let mut src = PathBuf::new();
        let p = self.opts.preserve;
        for component in components.iter().take(components.len().saturating_sub(1)) {
            src.push(component);
            let dest = target.join(&src);
            let existing = fs::metadata(&dest).ok();
            if existing.as_ref().is_some_and(|m| !m.is_dir()) {
                self.problem(Problem::NotADirectory(dest));
                return None;
            }
            if existing.is_some() && !(p.ownership || p.mode || p.timestamps) {
                continue;
            }
            let meta = match fs::metadata(&src) {
                Ok(m) if m.is_dir() => m,
                Ok(_) => return self.attributes_failed(&src, libc::ENOTDIR),
                Err(err) => return self.attributes_failed(&src, err.raw_os_error().unwrap_or(0)),
            };
            let mut parent = Parent {
                src: src.clone(),
                dest: dest.clone(),
                meta,
                restore: None,
            };
            if existing.is_none() {
                self.make_parent(&mut parent)?;
            }
            parents.push(parent);
        }
        Some(parents)
    }

    fn attributes_failed<T>(&mut self, path: &Path, errno: i32) -> Option<T> {
        self.problem(Problem::Attributes {
            path: path.to_path_buf(),
            err: io::Error::from_raw_os_error(errno),
        });
        None
    }

    fn make_parent(&mut self, parent: &mut Parent) -> Option<()> {
        let p = self.opts.preserve;
        let src_mode = parent.meta.mode() & 0o7777;
        let mut omitted = src_mode
            & if p.ownership {
                0o077
            } else if p.mode {
                0o022
            } else {
                0
            };
        let mode = if self.extras.no_preserve_mode {
            0o777
        } else {
            src_mode
        } & !omitted;
        if let Err(err) = fs::DirBuilder::new().mode_bits(mode).create(&parent.dest) {
            self.problem(io_err("make directory", &parent.dest, err));
            return None;
        }
        self.reporter.made_parent(&parent.src, &parent.dest);
        let made = match fs::symlink_metadata(&parent.dest) {
            Ok(m) => m.mode() & 0o7777,
            Err(err) => {
                return self.attributes_failed(&parent.dest, err.raw_os_error().unwrap_or(0))
            }
        };
        if !p.mode {
            if omitted & !made != 0 {
                omitted &= !self.umask;
            }
            if omitted & !made != 0 || made & 0o700 != 0o700 {
                parent.restore = Some(made | omitted);
            }
        }
        if made | 0o700 != made {
            let result = fs::set_permissions(
                &parent.dest,
                std::os::unix::fs::PermissionsExt::from_mode(made | 0o700),
            );
            if let Err(err) = result {
                self.problem(io_err("set permissions for", &parent.dest, err));
                return None;
            }
        }
        Some(())
    }

    fn re_protect(&mut self, parent: &Parent) {
        let Ok(target) = c_path(&parent.dest).map(Target::Path) else {
            return;
        };
        let p = self.opts.preserve;
        let mut mode = parent.meta.mode() & 0o7777;
        if p.timestamps {
            if let Err(err) = target.set_times(&times_of(&parent.meta)) {
                self.problem(io_err("preserve times for", &parent.dest, err));
                return;
            }
        }
        if p.ownership {
            match self.set_owner(&target, &parent.meta) {
                Ok(true) => {}
                Ok(false) => mode &= !(libc::S_ISUID | libc::S_ISGID | libc::S_ISVTX),
                Err(err) => {
                    self.problem(io_err("preserve ownership for", &parent.dest, err));
                    return;
                }
            }
        }
        let bits = if p.mode { Some(mode) } else { parent.restore };
        if let Some(bits) = bits {
            if let Err(err) = target.chmod(bits) {
                self.problem(io_err("preserve permissions for", &parent.dest, err));
            }
        }
        if p.mode {
            let _ = copy_xattrs(&parent.src, true, &target, XattrSet::Acls);
        }
    }
}

fn strip_leading_slashes(path: &Path) -> PathBuf {
    let bytes = path.as_os_str().as_bytes();
    let start = bytes.iter().position(|&b| b != b'/').unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b'/')
        .map_or(start, |i| i + 1);
    PathBuf::from(OsStr::from_bytes(&bytes[start..end.max(start)]))
}

/// Where metadata goes: an open file (the copy we just wrote, even if `dest` was a symlink we
/// wrote through) or a path that is never followed.
enum Target {
    Fd(RawFd),
    Path(CString),
}

impl Target {
    fn chown(&self, uid: u32, gid: u32) -> io::Result<()> {
        // SAFETY: valid descriptor or NUL-terminated path for the duration of the call.
        check(unsafe {
            match self {
                Target::Fd(fd) => libc::fchown(*fd, uid, gid),
                Target::Path(p) => libc::lchown(p.as_ptr(), uid, gid),
            }
        })
    }

    fn chmod(&self, mode: u32) -> io::Result<()> {
        // SAFETY: as above.
        check(unsafe {
            match self {
                Target::Fd(fd) => libc::fchmod(*fd, mode),
                Target::Path(p) => libc::chmod(p.as_ptr(), mode),
            }
        })
    }

    fn set_times(&self, times: &[libc::timespec; 2]) -> io::Result<()> {
        // SAFETY: as above; `times` points at two timespecs.
        check(unsafe {
            match self {
                Target::Fd(fd) => libc::futimens(*fd, times.as_ptr()),
                Target::Path(p) => libc::utimensat(
                    libc::AT_FDCWD,
                    p.as_ptr(),
                    times.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                ),
            }
        })
    }

    fn set_xattr(&self, name: &CString, value: &[u8]) -> io::Result<()> {
        let ptr = value.as_ptr().cast();
        // SAFETY: as above; value pointer and length describe one slice.
        check(unsafe {
            match self {
                Target::Fd(fd) => libc::fsetxattr(*fd, name.as_ptr(), ptr, value.len(), 0),
                Target::Path(p) => libc::lsetxattr(p.as_ptr(), name.as_ptr(), ptr, value.len(), 0),
            }
        })
    }
}

/// Which extended attributes one pass copies: POSIX ACLs go with the mode (`-p`), the rest
/// with `--preserve=xattr`, as in GNU.
#[derive(Clone, Copy, PartialEq, Eq)]
enum XattrSet {
    AllButAcls,
    Acls,
}

fn is_acl(name: &[u8]) -> bool {
    name.starts_with(b"system.posix_acl_") || name == b"system.nfs4_acl"
}

/// Copies the extended attributes of `src` in `set` (not following a symlink unless
/// `follow`).
fn copy_xattrs(src: &Path, follow: bool, target: &Target, set: XattrSet) -> io::Result<()> {
    let path = c_path(src)?;
    // SAFETY: path is NUL-terminated; the buffer pointer and size come from `sized_read`.
    let list = sized_read(|buf, len| unsafe {
        if follow {
            libc::listxattr(path.as_ptr(), buf, len)
        } else {
            libc::llistxattr(path.as_ptr(), buf, len)
        }
    })?;
    let mut first_err = None;
    let wanted = |name: &&[u8]| !name.is_empty() && (is_acl(name) == (set == XattrSet::Acls));
    for name in list.split(|&b| b == 0).filter(wanted) {
        let Ok(name) = CString::new(name) else {
            continue;
        };
        // SAFETY: as above.
        let value = sized_read(|buf, len| unsafe {
            if follow {
                libc::getxattr(path.as_ptr(), name.as_ptr(), buf.cast(), len)
            } else {
                libc::lgetxattr(path.as_ptr(), name.as_ptr(), buf.cast(), len)
            }
        });
        let result = value.and_then(|value| target.set_xattr(&name, &value));
        if let Err(err) = result {
            first_err.get_or_insert(err);
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// The names in a directory, sorted so that runs (and `-v` output) are reproducible.
fn read_names(dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        names.push(entry?.file_name());
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ignore_trailing_slashes() {
        assert_eq!(base_name(Path::new("a/b/")), "b");
        assert_eq!(base_name(Path::new("b")), "b");
        assert_eq!(base_name(Path::new("///")), "/");
        assert_eq!(parent_dir(Path::new("a/b/")), Path::new("a"));
        assert_eq!(parent_dir(Path::new("b")), Path::new("."));
        assert_eq!(parent_dir(Path::new("/b")), Path::new("/"));
    }

    #[test]
    fn a_directory_is_within_itself_and_not_its_sibling() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let a = tmp.path().join("a");
        fs::create_dir_all(a.join("x/y")).expect("mkdir");
        fs::create_dir(tmp.path().join("b")).expect("mkdir");
        let meta = fs::metadata(&a).expect("stat");
        let id = (meta.dev(), meta.ino());
        assert!(is_within(id, &a.join("x/y")).expect("walk"));
        assert!(is_within(id, &a).expect("walk"));
        assert!(!is_within(id, &tmp.path().join("b")).expect("walk"));
    }
}
