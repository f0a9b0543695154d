//! The copy engine behind `cp` and `mv` across file systems: one file, symlink, special file or
//! whole tree from a source path to a destination path, with GNU `cp`'s rules for what happens
//! when the destination exists, and with the metadata a rescue needs kept exactly (owner,
//! setuid/setgid bits, nanosecond times, hard-link groups, xattrs such as
//! `security.capability`).
//!
//! It owns the copying and the order metadata is applied in; it does not own the command line,
//! prompts or messages: what happens is told to a [`Reporter`], which prints, asks and counts.
//! Symlinks are never followed inside a tree unless [`Deref::Always`] says so.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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
    /// `mv` across file systems: a destination non-directory is replaced, not written through.
    pub remove_destination: bool,
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
}

pub trait Reporter {
    /// A file, link or directory was made at `dest` (what `-v` prints).
    fn copied(&mut self, src: &Path, dest: &Path);
    fn problem(&mut self, problem: Problem);
    /// `-i`: may `dest` be overwritten?
    fn overwrite(&mut self, dest: &Path) -> bool;
}

/// One `cp` invocation: options, and the hard links seen so far (shared across operands, as
/// GNU does, so `cp -a a b DIR` keeps `a` and `b` linked when they were).
pub struct Copier<'r> {
    opts: Options,
    reporter: &'r mut dyn Reporter,
    links: HashMap<(u64, u64), PathBuf>,
    umask: u32,
    is_root: bool,
    failed: bool,
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

impl<'r> Copier<'r> {
    pub fn new(opts: Options, reporter: &'r mut dyn Reporter) -> Copier<'r> {
        Copier {
            opts,
            reporter,
            links: HashMap::new(),
            umask: current_umask(),
            is_root: nix::unistd::geteuid().is_root(),
            failed: false,
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

    /// Removes what stands at `dest` before a new node takes its place; false, reported,
    /// when it cannot be removed.
    fn remove_existing(&mut self, dest: &Path) -> bool {
        match fs::remove_file(dest) {
            Ok(()) => true,
            Err(err) => {
                self.problem(io_err("remove", dest, err));
                false
            }
        }
    }

    /// Copies the command-line operand `src` to exactly `dest` (the caller has already decided
    /// whether `dest` is `DIR/name`). Returns false if anything failed.
    pub fn copy(&mut self, src: &Path, dest: &Path) -> bool {
        let before = self.failed;
        self.failed = false;
        let follow = self.opts.deref != Deref::Never;
        let meta = if follow {
            fs::metadata(src)
        } else {
            fs::symlink_metadata(src)
        };
        match meta {
            Err(err) => self.problem(io_err("stat", src, err)),
            Ok(meta) => {
                if meta.is_dir() && self.opts.recursive {
                    let dir = (meta.dev(), meta.ino());
                    let parent = parent_dir(dest);
                    let inside = fs::symlink_metadata(dest)
                        .map(|m| (m.dev(), m.ino()) == dir)
                        .unwrap_or(false)
                        || is_within(dir, &parent).unwrap_or(false);
                    if inside {
                        self.problem(Problem::IntoItself {
                            src: src.to_path_buf(),
                            dest: dest.to_path_buf(),
                        });
                        let ok = !self.failed;
                        self.failed |= before;
                        return ok;
                    }
                }
                self.copy_entry(src, dest, &meta);
            }
        }
        let ok = !self.failed;
        self.failed |= before;
        ok
    }

    fn copy_entry(&mut self, src: &Path, dest: &Path, meta: &Metadata) {
        let kind = meta.file_type();
        if kind.is_dir() && !self.opts.recursive {
            self.problem(Problem::OmitDirectory(src.to_path_buf()));
            return;
        }
        let dest_meta = fs::symlink_metadata(dest).ok();
        if let Some(existing) = &dest_meta {
            // Following the destination is what GNU compares: `cp f link-to-f` is the same file.
            let target = if existing.file_type().is_symlink() {
                fs::metadata(dest).ok()
            } else {
                Some(existing.clone())
            };
            let same = |m: &Metadata| (m.dev(), m.ino()) == (meta.dev(), meta.ino());
            let same_file = if kind.is_symlink() {
                same(existing)
            } else {
                target.as_ref().is_some_and(same)
            };
            if same_file && !kind.is_dir() {
                self.problem(Problem::SameFile {
                    src: src.to_path_buf(),
                    dest: dest.to_path_buf(),
                });
                return;
            }
            let dest_is_dir = target.as_ref().is_some_and(|m| m.is_dir());
            if kind.is_dir() {
                if !dest_is_dir {
                    self.problem(Problem::OverwriteNonDirWithDir {
                        src: src.to_path_buf(),
                        dest: dest.to_path_buf(),
                    });
                    return;
                }
            } else {
                if existing.is_dir() {
                    self.problem(Problem::OverwriteDirWithNonDir {
                        dest: dest.to_path_buf(),
                    });
                    return;
                }
                match self.opts.existing {
                    Existing::Keep => return,
                    Existing::Ask => {
                        if !self.reporter.overwrite(dest) {
                            return;
                        }
                    }
                    Existing::Overwrite => {}
                }
            }
        }
        if kind.is_dir() {
            self.copy_dir(src, dest, meta, dest_meta.is_none());
            return;
        }
        if self.opts.preserve.links && meta.nlink() > 1 {
            if let Some(first) = self.links.get(&(meta.dev(), meta.ino())).cloned() {
                self.link_to(&first, dest, dest_meta.is_some());
                if !self.failed {
                    self.reporter.copied(src, dest);
                }
                return;
            }
        }
        let done = if kind.is_symlink() {
            self.copy_symlink(src, dest, meta, dest_meta.as_ref())
        } else if self.opts.recursive
            && (kind.is_fifo()
                || kind.is_char_device()
                || kind.is_block_device()
                || kind.is_socket())
        {
            self.copy_special(src, dest, meta, dest_meta.as_ref())
        } else {
            self.copy_regular(src, dest, meta, dest_meta.as_ref())
        };
        if done {
            if self.opts.preserve.links && meta.nlink() > 1 {
                self.links
                    .insert((meta.dev(), meta.ino()), dest.to_path_buf());
            }
            self.reporter.copied(src, dest);
        }
    }

    fn link_to(&mut self, first: &Path, dest: &Path, exists: bool) {
        if exists && !self.remove_existing(dest) {
            return;
        }
        if let Err(err) = fs::hard_link(first, dest) {
            self.problem(io_err("create hard link", dest, err));
        }
    }

    fn copy_dir(&mut self, src: &Path, dest: &Path, meta: &Metadata, create: bool) {
        if create {
            // Owner-only until the contents are in: nobody else gets a window into a tree
            // whose final mode may be stricter, and we can always write into it.
            if let Err(err) = fs::DirBuilder::new().mode_0700().create(dest) {
                self.problem(io_err("create directory", dest, err));
                return;
            }
        }
        self.reporter.copied(src, dest);
        match read_names(src) {
            Err(err) => self.problem(io_err("access", src, err)),
            Ok(names) => {
                for name in names {
                    let child_src = src.join(&name);
                    let child_dest = dest.join(&name);
                    let child_meta = if self.opts.deref == Deref::Always {
                        fs::metadata(&child_src)
                    } else {
                        fs::symlink_metadata(&child_src)
                    };
                    match child_meta {
                        Err(err) => self.problem(io_err("stat", &child_src, err)),
                        Ok(child_meta) => self.copy_entry(&child_src, &child_dest, &child_meta),
                    }
                }
            }
        }
        // Directory times last: creating the entries above changed them.
        let target = match c_path(dest) {
            Ok(c) => Target::Path(c),
            Err(err) => {
                self.problem(io_err("create directory", dest, err));
                return;
            }
        };
        self.apply_metadata(src, dest, meta, &target, create, false);
    }

    fn copy_symlink(
        &mut self,
        src: &Path,
        dest: &Path,
        meta: &Metadata,
        dest_meta: Option<&Metadata>,
    ) -> bool {
        let target = match fs::read_link(src) {
            Ok(t) => t,
            Err(err) => {
                self.problem(io_err("read symbolic link", src, err));
                return false;
            }
        };
        if dest_meta.is_some() && !self.remove_existing(dest) {
            return false;
        }
        if let Err(err) = std::os::unix::fs::symlink(&target, dest) {
            self.problem(io_err("create symbolic link", dest, err));
            return false;
        }
        match c_path(dest) {
            Ok(c) => self.apply_metadata(src, dest, meta, &Target::Path(c), true, true),
            Err(err) => self.problem(io_err("create symbolic link", dest, err)),
        }
        true
    }

    fn copy_special(
        &mut self,
        src: &Path,
        dest: &Path,
        meta: &Metadata,
        dest_meta: Option<&Metadata>,
    ) -> bool {
        if dest_meta.is_some() && !self.remove_existing(dest) {
            return false;
        }
        let made = c_path(dest).and_then(|c| {
            let mode = (meta.mode() & libc::S_IFMT) | (meta.mode() & 0o777);
            // SAFETY: NUL-terminated path; mknod does not keep the pointer.
            check(unsafe { libc::mknod(c.as_ptr(), mode, meta.rdev() as libc::dev_t) }).map(|()| c)
        });
        match made {
            Err(err) => {
                let op = if meta.file_type().is_fifo() {
                    "create fifo"
                } else {
                    "create special file"
                };
                self.problem(io_err(op, dest, err));
                false
            }
            Ok(c) => {
                self.apply_metadata(src, dest, meta, &Target::Path(c), true, false);
                true
            }
        }
    }

    fn copy_regular(
        &mut self,
        src: &Path,
        dest: &Path,
        meta: &Metadata,
        dest_meta: Option<&Metadata>,
    ) -> bool {
        let mut input = match File::open(src) {
            Ok(f) => f,
            Err(err) => {
                self.problem(io_err("open for reading", src, err));
                return false;
            }
        };
        // What was opened is what is copied: the path may have changed since the lstat.
        let meta = match input.metadata() {
            Ok(m) if m.is_dir() => {
                self.problem(Problem::OmitDirectory(src.to_path_buf()));
                return false;
            }
            Ok(m) => m,
            Err(_) => meta.clone(),
        };
        let mut exists = dest_meta.is_some();
        if let Some(existing) = dest_meta {
            if existing.file_type().is_symlink() && fs::metadata(dest).is_err() {
                if self.opts.remove_destination || self.opts.force {
                    if !self.remove_existing(dest) {
                        return false;
                    }
                    exists = false;
                } else {
                    self.problem(Problem::DanglingDestination(dest.to_path_buf()));
                    return false;
                }
            } else if self.opts.remove_destination {
                if !self.remove_existing(dest) {
                    return false;
                }
                exists = false;
            }
        }
        let create_mode = meta.mode() & 0o777;
        let open_new = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(create_mode)
                .open(dest)
        };
        let output = if exists {
            match OpenOptions::new().write(true).truncate(true).open(dest) {
                Ok(f) => Ok(f),
                Err(err) if self.opts.force => match fs::remove_file(dest) {
                    Ok(()) => {
                        exists = false;
                        open_new()
                    }
                    Err(_) => Err(err),
                },
                Err(err) => Err(err),
            }
        } else {
            open_new()
        };
        let mut output = match output {
            Ok(f) => f,
            Err(err) => {
                let op = if exists {
                    "open for writing"
                } else {
                    "create regular file"
                };
                self.problem(io_err(op, dest, err));
                return false;
            }
        };
        if let Err(err) = copy_data(&mut input, &mut output, &meta) {
            let op = match err.1 {
                Side::Read => ("read", src),
                Side::Write => ("write", dest),
            };
            self.problem(io_err(op.0, op.1, err.0));
            return false;
        }
        let target = Target::Fd(output.as_raw_fd());
        self.apply_metadata(src, dest, &meta, &target, !exists, false);
        true
    }

    /// Owner, xattrs, mode, times, in that order: chown clears setuid/setgid and file
    /// capabilities, so mode and xattrs come after it; times come last because nothing after
    /// them may touch the file.
    fn apply_metadata(
        &mut self,
        src: &Path,
        dest: &Path,
        meta: &Metadata,
        target: &Target,
        created: bool,
        symlink: bool,
    ) {
        let p = self.opts.preserve;
        if p.ownership {
            if let Err(err) = target.chown(meta.uid(), meta.gid()) {
                // GNU: without privilege, keeping the owner is impossible and not an error;
                // keep at least the group if we are a member.
                let ignorable =
                    !self.is_root && matches!(err.raw_os_error(), Some(libc::EPERM | libc::EINVAL));
                if ignorable {
                    let _ = target.chown(u32::MAX, meta.gid());
                } else {
                    self.problem(io_err("preserve ownership for", dest, err));
                }
            }
        }
        if p.xattr {
            if let Err(err) = copy_xattrs(src, self.opts.deref == Deref::Always, target) {
                let unsupported = matches!(
                    err.raw_os_error(),
                    Some(libc::ENOTSUP | libc::ENOSYS | libc::EPERM)
                );
                if p.xattr_required || !unsupported {
                    self.problem(io_err("preserve extended attributes for", dest, err));
                }
            }
        }
        if !symlink {
            let mode = if p.mode {
                Some(meta.mode() & 0o7777)
            } else if created && meta.is_dir() {
                Some(meta.mode() & 0o1777 & !self.umask)
            } else {
                None
            };
            if let Some(mode) = mode {
                if let Err(err) = target.chmod(mode) {
                    self.problem(io_err("preserve permissions for", dest, err));
                }
            }
        }
        if p.timestamps {
            let times = [
                libc::timespec {
                    tv_sec: meta.atime() as _,
                    tv_nsec: meta.atime_nsec() as _,
                },
                libc::timespec {
                    tv_sec: meta.mtime() as _,
                    tv_nsec: meta.mtime_nsec() as _,
                },
            ];
            if let Err(err) = target.set_times(&times) {
                self.problem(io_err("preserve times for", dest, err));
            }
        }
    }
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

/// Copies every extended attribute of `src` (not following a symlink unless `follow`).
fn copy_xattrs(src: &Path, follow: bool, target: &Target) -> io::Result<()> {
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
    for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
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

enum Side {
    Read,
    Write,
}

/// Copies the bytes of `input` into `output` (both at offset 0, output empty). A sparse
/// source (fewer blocks than its size needs) is copied extent by extent with SEEK_DATA and
/// SEEK_HOLE so its holes stay holes; the rest goes through `copy_file_range`, which lets the
/// kernel (or the file system, by reflink) do the work, with read/write as the fallback.
fn copy_data(
    input: &mut File,
    output: &mut File,
    meta: &Metadata,
) -> Result<(), (io::Error, Side)> {
    let size = meta.size();
    let regular = meta.file_type().is_file();
    if regular && size > 0 && meta.blocks().saturating_mul(512) < size {
        match copy_extents(input, output, size) {
            Ok(()) => return Ok(()),
            Err(Fallback::Unsupported) => {}
            Err(Fallback::Failed(err, side)) => return Err((err, side)),
        }
    }
    if regular && size > 0 {
        match copy_range(input, output, 0, u64::MAX) {
            Ok(_) => return Ok(()),
            Err(Fallback::Unsupported) => {}
            Err(Fallback::Failed(err, side)) => return Err((err, side)),
        }
    }
    read_write(input, output)
}

enum Fallback {
    Unsupported,
    Failed(io::Error, Side),
}

fn copy_extents(input: &mut File, output: &mut File, size: u64) -> Result<(), Fallback> {
    let fd = input.as_raw_fd();
    let mut pos: i64 = 0;
    loop {
        // SAFETY: lseek on a descriptor we own.
        let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if data < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENXIO) => break,
                Some(libc::EINVAL | libc::ENOTSUP) if pos == 0 => {
                    return Err(Fallback::Unsupported)
                }
                _ => return Err(Fallback::Failed(err, Side::Read)),
            }
        }
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(Fallback::Failed(io::Error::last_os_error(), Side::Read));
        }
        let copied = copy_range(input, output, data as u64, (hole - data) as u64);
        match copied {
            Ok(_) => {}
            Err(Fallback::Unsupported) => {
                pread_pwrite(input, output, data as u64, (hole - data) as u64)?;
            }
            Err(failed) => return Err(failed),
        }
        pos = hole;
        if pos as u64 >= size {
            break;
        }
    }
    // The tail hole, if any, exists only as the file's length.
    output
        .set_len(size)
        .map_err(|err| Fallback::Failed(err, Side::Write))
}

/// `copy_file_range` from `start` for `len` bytes (or to end of file); `Unsupported` when the
/// kernel or the pair of file systems cannot, before anything was copied.
fn copy_range(input: &File, output: &File, start: u64, len: u64) -> Result<u64, Fallback> {
    let mut off_in = start as i64;
    let mut off_out = start as i64;
    let mut done: u64 = 0;
    while done < len {
        let chunk = (len - done).min(1 << 30) as usize;
        // SAFETY: descriptors we own; offsets are ours; no user memory is passed.
        let n = unsafe {
            libc::syscall(
                libc::SYS_copy_file_range,
                input.as_raw_fd(),
                &mut off_in as *mut i64,
                output.as_raw_fd(),
                &mut off_out as *mut i64,
                chunk,
                0u32,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            let fallback = matches!(
                err.raw_os_error(),
                Some(libc::ENOSYS | libc::EXDEV | libc::EINVAL | libc::EOPNOTSUPP | libc::EPERM)
            );
            if fallback && done == 0 {
                return Err(Fallback::Unsupported);
            }
            return Err(Fallback::Failed(err, Side::Write));
        }
        if n == 0 {
            // Some pseudo files report a size but copy_file_range gives nothing: read them.
            if done == 0 && len == u64::MAX {
                return Err(Fallback::Unsupported);
            }
            break;
        }
        done += n as u64;
    }
    Ok(done)
}

fn pread_pwrite(input: &File, output: &File, start: u64, len: u64) -> Result<(), Fallback> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 128 * 1024];
    let mut pos = start;
    let end = start + len;
    while pos < end {
        let want = ((end - pos) as usize).min(buf.len());
        let n = match input.read_at(&mut buf[..want], pos) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Fallback::Failed(err, Side::Read)),
        };
        output
            .write_all_at(&buf[..n], pos)
            .map_err(|err| Fallback::Failed(err, Side::Write))?;
        pos += n as u64;
    }
    Ok(())
}

fn read_write(input: &mut File, output: &mut File) -> Result<(), (io::Error, Side)> {
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err((err, Side::Read)),
        };
        output
            .write_all(&buf[..n])
            .map_err(|err| (err, Side::Write))?;
    }
}

trait DirBuilderMode {
    fn mode_0700(&mut self) -> &mut Self;
}

impl DirBuilderMode for fs::DirBuilder {
    fn mode_0700(&mut self) -> &mut Self {
        use std::os::unix::fs::DirBuilderExt;
        self.mode(0o700)
    }
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
