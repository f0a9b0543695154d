//! Removing files and trees without ever following a symlink.
//!
//! This project exists because `rm -rf something/` went through a symlink to `/lib`. So: the
//! tree is walked by [`crate::sys::tree`], which enters every directory with
//! `openat(O_NOFOLLOW | O_DIRECTORY)` relative to its parent's descriptor and checks it is the
//! inode `fstatat(AT_SYMLINK_NOFOLLOW)` saw; every entry is removed with `unlinkat` relative to
//! that descriptor, and a directory swapped for a symlink in the middle of the walk is refused
//! instead of entered. The walk is iterative with a bounded number of descriptors, so a tree of
//! any depth goes. An operand like `link/` that would make the kernel resolve a symlink to a
//! directory is refused before anything is touched.
//!
//! What is owned here: the refusals and their reasons. Not owned: prompts and messages; they go
//! through [`Reporter`].

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::sys::tree::{self, Entry, NotEntered, Step};
use crate::sys::{at, c_path};
use crate::Error;

#[derive(Clone, Copy, Default, Debug)]
pub struct Options {
    /// `-r`: remove directories and their contents.
    pub recursive: bool,
    /// `-d`: remove empty directories.
    pub empty_dirs: bool,
    /// `-f`: a missing operand is not an error.
    pub ignore_missing: bool,
    /// `--one-file-system`: do not enter a directory on another device than its operand.
    pub one_file_system: bool,
    /// `--preserve-root=all`: an operand on another device than its parent (a mount point) is
    /// left alone.
    pub preserve_all_root: bool,
}

#[derive(Debug)]
pub enum Problem {
    /// A system call failed (`op` is "remove", "access", ...).
    Io(Error),
    IsDirectory(PathBuf),
    /// The last component is `.` or `..`.
    DotOrDotDot(PathBuf),
    /// The operand is the root directory.
    Root(PathBuf),
    /// `link/` where `link` is a symlink to a directory: the kernel would resolve it and the
    /// walk would empty the target.
    SymlinkToDirWithSlash(PathBuf),
    /// `--one-file-system`: a directory on another device was left alone.
    OtherDevice(PathBuf),
    /// `--preserve-root=all`: the operand is a mount point.
    MountPoint(PathBuf),
    /// The directory was replaced (by a symlink or another directory) between looking at it and
    /// entering it.
    Changed(PathBuf),
}

/// What a prompt (`-i`) is about.
pub enum Question<'a> {
    Descend(&'a Path, Place<'a>),
    Remove {
        path: &'a Path,
        kind: &'static str,
        place: Place<'a>,
    },
}

/// Where the file a question is about lives: its directory's descriptor and its name there.
#[derive(Clone, Copy)]
pub struct Place<'a> {
    dir: std::os::fd::RawFd,
    name: &'a std::ffi::CStr,
    symlink: bool,
}

impl Place<'_> {
    /// GNU's "write-protected": not a symlink, and access(2) says it may not be written.
    pub fn write_protected(&self) -> bool {
        if self.symlink {
            return false;
        }
        // SAFETY: a live descriptor and a NUL-terminated name.
        let rc =
            unsafe { libc::faccessat(self.dir, self.name.as_ptr(), libc::W_OK, libc::AT_EACCESS) };
        rc != 0
    }
}

fn place<'a>(entry: &'a Entry) -> Place<'a> {
    Place {
        dir: entry.dir,
        name: entry.name,
        symlink: at::is_symlink(entry.stat),
    }
}

pub trait Reporter {
    fn removed(&mut self, path: &Path, was_dir: bool);
    fn problem(&mut self, problem: Problem);
    /// `-i`; the default removes without asking.
    fn confirm(&mut self, _question: Question) -> bool {
        true
    }
}

/// A file type in the words GNU's prompts use ("regular empty file", "symbolic link", ...).
pub fn kind_name(st: &libc::stat) -> &'static str {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG if st.st_size == 0 => "regular empty file",
        libc::S_IFREG => "regular file",
        libc::S_IFDIR => "directory",
        libc::S_IFLNK => "symbolic link",
        libc::S_IFIFO => "fifo",
        libc::S_IFCHR => "character special file",
        libc::S_IFBLK => "block special file",
        libc::S_IFSOCK => "socket",
        _ => "file",
    }
}

fn stat_path(path: &Path, follow: bool) -> io::Result<libc::stat> {
    at::stat(libc::AT_FDCWD, &c_path(path)?, follow)
}

/// Splits an operand into (what it names without trailing slashes, whether it had any).
fn strip_slashes(path: &Path) -> (&Path, bool) {
    let bytes = path.as_os_str().as_bytes();
    match bytes.iter().rposition(|&b| b != b'/') {
        Some(end) => (
            Path::new(OsStr::from_bytes(&bytes[..=end])),
            end + 1 < bytes.len(),
        ),
        None => (Path::new("/"), false),
    }
}

struct Walk<'r> {
    opts: Options,
    reporter: &'r mut dyn Reporter,
    top_dev: u64,
    failed: bool,
}

/// Removes the operand `path`; returns false if anything was reported as a problem or left in
/// place.
pub fn remove(path: &Path, opts: Options, reporter: &mut dyn Reporter) -> bool {
    // An empty operand names nothing. Left to the slash-stripping below it would become `/`.
    if path.as_os_str().is_empty() {
        if opts.ignore_missing {
            return true;
        }
        let err = io::Error::from_raw_os_error(libc::ENOENT);
        reporter.problem(Problem::Io(Error::io("remove", path, err)));
        return false;
    }
    let (bare, trailing_slash) = strip_slashes(path);
    if let Err(problem) = refuse_operand(path, bare, trailing_slash, opts) {
        reporter.problem(problem);
        return false;
    }
    let (parent_fd, name, st) = match open_operand(bare) {
        Ok(opened) => opened,
        Err(err) => {
            let missing = matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR));
            if opts.ignore_missing && missing {
                return true;
            }
            reporter.problem(Problem::Io(Error::io("remove", path, err)));
            return false;
        }
    };
    if opts.recursive && opts.preserve_all_root && at::is_dir(&st) {
        let parent = stat_path(&bare.join(".."), false);
        if parent.map_or(true, |p| p.st_dev != st.st_dev) {
            reporter.problem(Problem::MountPoint(path.to_path_buf()));
            return false;
        }
    }
    let mut walk = Walk {
        opts,
        reporter,
        top_dev: st.st_dev,
        failed: false,
    };
    // `a///` is shown as `a/`, as GNU's fts shows it.
    let shown = if trailing_slash && bare != Path::new("/") {
        let mut shown = bare.as_os_str().to_os_string();
        shown.push("/");
        PathBuf::from(shown)
    } else {
        path.to_path_buf()
    };
    let top = Entry {
        dir: parent_fd.as_raw_fd(),
        name: &name,
        path: &shown,
        stat: &st,
        follow: false,
    };
    // Sorted: reproducible runs and `-v` output.
    let options = tree::Options { sorted: true };
    if let Err(err) = tree::walk(&top, options, &mut walk) {
        walk.problem(Problem::Io(err));
    }
    // A "no" to a prompt leaves the file but is not a failure (GNU exits 0).
    !walk.failed
}

/// The operands refused before anything is touched: `.` and `..`, the root directory (with
/// `-r`), and `link/` where `link` is a symlink (to a directory, or else ENOTDIR as GNU says).
/// `bare` is `path` without its trailing slashes.
fn refuse_operand(
    path: &Path,
    bare: &Path,
    trailing_slash: bool,
    opts: Options,
) -> Result<(), Problem> {
    let base = crate::sys::copy::base_name(bare);
    if base == "." || base == ".." {
        return Err(Problem::DotOrDotDot(path.to_path_buf()));
    }
    if opts.recursive {
        if let (Ok(st), Ok(root)) = (stat_path(path, true), stat_path(Path::new("/"), true)) {
            if (st.st_dev, st.st_ino) == (root.st_dev, root.st_ino) {
                return Err(Problem::Root(path.to_path_buf()));
            }
        }
    }
    if !trailing_slash {
        return Ok(());
    }
    match stat_path(bare, false) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
            let to_dir = stat_path(bare, true)
                .map(|t| at::is_dir(&t))
                .unwrap_or(false);
            if to_dir {
                return Err(Problem::SymlinkToDirWithSlash(path.to_path_buf()));
            }
            // `file-link/`: the kernel says ENOTDIR, as it does for GNU.
            let err = io::Error::from_raw_os_error(libc::ENOTDIR);
            Err(Problem::Io(Error::io("remove", path, err)))
        }
        _ => Ok(()),
    }
}

/// The operand's parent directory opened, its name there, and its `lstat` through that
/// descriptor: what the walk starts from.
fn open_operand(bare: &Path) -> io::Result<(OwnedFd, CString, libc::stat)> {
    let name = c_path(Path::new(crate::sys::copy::base_name(bare)))?;
    let parent = c_path(&crate::sys::copy::parent_dir(bare))?;
    // O_PATH: the parent need only be searchable, not readable (`chmod go=x .` and a tree
    // of one's own inside it can still go, as with GNU).
    // SAFETY: NUL-terminated path; the descriptor is owned below.
    let fd = unsafe {
        libc::open(
            parent.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor just opened and owned by nothing else.
    let parent_fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let st = at::stat(parent_fd.as_raw_fd(), &name, false)?;
    Ok((parent_fd, name, st))
}

impl Walk<'_> {
    fn problem(&mut self, problem: Problem) {
        self.failed = true;
        self.reporter.problem(problem);
    }

    /// Unlinks one entry (`dir`: with AT_REMOVEDIR) once the reporter agrees.
    fn unlink(&mut self, entry: &Entry, dir: bool) -> bool {
        let kind = if dir {
            "directory"
        } else {
            kind_name(entry.stat)
        };
        let question = Question::Remove {
            path: entry.path,
            kind,
            place: place(entry),
        };
        if !self.reporter.confirm(question) {
            return false;
        }
        match at::unlink(entry.dir, entry.name, dir) {
            Ok(()) => {
                self.reporter.removed(entry.path, dir);
                true
            }
            Err(err) => {
                self.problem(Problem::Io(Error::io("remove", entry.path, err)));
                false
            }
        }
    }
}

/// Each entry's result is whether it is gone.
impl tree::Visitor for Walk<'_> {
    fn visit(&mut self, entry: &Entry) -> Step {
        if !entry.is_dir() {
            return Step::Done(self.unlink(entry, false));
        }
        if !self.opts.recursive {
            if !self.opts.empty_dirs {
                self.problem(Problem::IsDirectory(entry.path.to_path_buf()));
                return Step::Done(false);
            }
            return Step::Done(self.unlink(entry, true));
        }
        if self.opts.one_file_system && entry.stat.st_dev != self.top_dev {
            self.problem(Problem::OtherDevice(entry.path.to_path_buf()));
            return Step::Done(false);
        }
        Step::Enter
    }

    fn entered(&mut self, entry: &Entry, children: usize) -> bool {
        children == 0
            || self
                .reporter
                .confirm(Question::Descend(entry.path, place(entry)))
    }

    fn left(&mut self, entry: &Entry, children_ok: bool) -> bool {
        // If a child stayed, the reason was reported (or the user said no); "Directory not
        // empty" would add nothing.
        children_ok && self.unlink(entry, true)
    }

    fn not_entered(&mut self, entry: &Entry, why: NotEntered) -> bool {
        let err = match why {
            NotEntered::Replaced => {
                self.problem(Problem::Changed(entry.path.to_path_buf()));
                return false;
            }
            // An unreadable but empty directory can still go (GNU does the same).
            NotEntered::Open(err) => match at::unlink(entry.dir, entry.name, true) {
                Ok(()) => {
                    self.reporter.removed(entry.path, true);
                    return true;
                }
                Err(_) => err,
            },
            NotEntered::Read(err) => err,
        };
        self.problem(Problem::Io(Error::io("remove", entry.path, err)));
        false
    }

    fn unreadable(&mut self, path: &Path, err: io::Error) -> bool {
        if err.raw_os_error() == Some(libc::ENOENT) {
            // Gone already: what was wanted.
            return true;
        }
        self.problem(Problem::Io(Error::io("remove", path, err)));
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Swaps `victim` for a symlink to `outside` when asked about descending into `when`.
    struct Swapper {
        when: PathBuf,
        victim: PathBuf,
        outside: PathBuf,
        problems: Vec<String>,
    }

    impl Reporter for Swapper {
        fn removed(&mut self, _path: &Path, _was_dir: bool) {}
        fn problem(&mut self, problem: Problem) {
            self.problems.push(format!("{problem:?}"));
        }
        fn confirm(&mut self, question: Question) -> bool {
            if let Question::Descend(path, _) = question {
                if path == self.when {
                    let aside = self.victim.with_extension("aside");
                    fs::rename(&self.victim, &aside).expect("move the directory away");
                    std::os::unix::fs::symlink(&self.outside, &self.victim).expect("symlink");
                }
            }
            true
        }
    }

    #[test]
    fn a_directory_replaced_by_a_symlink_mid_walk_is_not_entered() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path();
        fs::create_dir_all(d.join("outside")).expect("mkdir");
        fs::write(d.join("outside/precious"), b"keep").expect("write");
        fs::create_dir_all(d.join("tree/victim/inner")).expect("mkdir");
        fs::write(d.join("tree/victim/inner/f"), b"x").expect("write");
        let mut swapper = Swapper {
            when: d.join("tree"),
            victim: d.join("tree/victim"),
            outside: d.join("outside"),
            problems: Vec::new(),
        };
        let opts = Options {
            recursive: true,
            ..Options::default()
        };
        remove(&d.join("tree"), opts, &mut swapper);
        assert_eq!(fs::read(d.join("outside/precious")).expect("kept"), b"keep");
        assert!(
            fs::symlink_metadata(d.join("tree/victim")).is_err(),
            "the link itself goes"
        );
    }

    /// Says no to every question and records what it was told.
    #[derive(Default)]
    struct Refuser {
        asked: usize,
        problems: Vec<String>,
    }

    impl Reporter for Refuser {
        fn removed(&mut self, path: &Path, _was_dir: bool) {
            panic!("removed {path:?}");
        }
        fn problem(&mut self, problem: Problem) {
            self.problems.push(format!("{problem:?}"));
        }
        fn confirm(&mut self, _question: Question) -> bool {
            self.asked += 1;
            false
        }
    }

    #[test]
    fn an_empty_operand_names_nothing_not_the_root() {
        let mut refuser = Refuser::default();
        let opts = Options {
            recursive: true,
            ..Options::default()
        };
        assert!(!remove(Path::new(""), opts, &mut refuser));
        assert_eq!(refuser.asked, 0, "nothing may be looked at");
        assert_eq!(refuser.problems.len(), 1);
        assert!(
            refuser.problems[0].contains("NotFound"),
            "{:?}",
            refuser.problems
        );
        let ignore = Options {
            ignore_missing: true,
            ..opts
        };
        assert!(remove(Path::new(""), ignore, &mut refuser));
        assert_eq!(refuser.asked, 0);
    }

    #[test]
    fn opening_a_symlink_as_a_directory_fails() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(tmp.path(), tmp.path().join("link")).expect("symlink");
        let dir = fs::File::open(tmp.path()).expect("open");
        let err = at::open_dir(dir.as_raw_fd(), c"link", false).expect_err("must not follow");
        assert!(
            matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
            "{err}"
        );
    }
}
