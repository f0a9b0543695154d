//! Removing files and trees without ever following a symlink.
//!
//! This project exists because `rm -rf something/` went through a symlink to `/lib`. So: every
//! directory is entered with `openat(O_NOFOLLOW | O_DIRECTORY)` relative to its parent's
//! descriptor and checked to be the same inode `fstatat(AT_SYMLINK_NOFOLLOW)` saw, every entry is
//! removed with `unlinkat` relative to that descriptor, and a directory swapped for a symlink
//! in the middle of the walk is refused instead of entered. An operand like `link/` that would
//! make the kernel resolve a symlink to a directory is refused before anything is touched.
//!
//! What is owned here: the walk, the refusals and their reasons. Not owned: prompts and
//! messages; they go through [`Reporter`].

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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
    /// The directory was replaced (by a symlink or another directory) between looking at it and
    /// entering it.
    Changed(PathBuf),
}

/// What a prompt (`-i`) is about.
pub enum Question<'a> {
    Descend(&'a Path),
    Remove { path: &'a Path, kind: &'static str },
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

fn stat_at(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is NUL-terminated; `st` is ours.
    let rc = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(st)
    }
}

fn stat_path(path: &Path, follow: bool) -> io::Result<libc::stat> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::fstatat(libc::AT_FDCWD, c.as_ptr(), &mut st, flags) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(st)
    }
}

fn open_dir_at(dir: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: as above; the descriptor is owned by the returned OwnedFd.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

fn unlink_at(dir: RawFd, name: &CStr, is_dir: bool) -> io::Result<()> {
    let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: as above.
    if unsafe { libc::unlinkat(dir, name.as_ptr(), flags) } < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// The names in the directory open as `fd`, without `.` and `..`. Read completely before
/// anything is removed so that removal cannot disturb the reading.
fn list(fd: &OwnedFd) -> io::Result<Vec<CString>> {
    // Dir takes ownership of what it is given, so it gets its own descriptor.
    let dup = fd.try_clone()?;
    let mut dir = nix::dir::Dir::from_fd(std::os::fd::IntoRawFd::into_raw_fd(dup))
        .map_err(io::Error::from)?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(io::Error::from)?;
        let name = entry.file_name();
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    // Sorted: reproducible runs and `-v` output.
    names.sort();
    Ok(names)
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
    let (bare, trailing_slash) = strip_slashes(path);
    let base = crate::sys::copy::base_name(bare);
    if base == "." || base == ".." {
        reporter.problem(Problem::DotOrDotDot(path.to_path_buf()));
        return false;
    }
    if opts.recursive {
        if let (Ok(st), Ok(root)) = (stat_path(path, true), stat_path(Path::new("/"), true)) {
            if (st.st_dev, st.st_ino) == (root.st_dev, root.st_ino) {
                reporter.problem(Problem::Root(path.to_path_buf()));
                return false;
            }
        }
    }
    if trailing_slash {
        if let Ok(st) = stat_path(bare, false) {
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                let to_dir = stat_path(bare, true).map(|t| is_dir(&t)).unwrap_or(false);
                if to_dir {
                    reporter.problem(Problem::SymlinkToDirWithSlash(path.to_path_buf()));
                    return false;
                }
                // `file-link/`: the kernel says ENOTDIR, as it does for GNU.
                let err = io::Error::from_raw_os_error(libc::ENOTDIR);
                reporter.problem(Problem::Io(Error::io("remove", path, err)));
                return false;
            }
        }
    }
    let parent = crate::sys::copy::parent_dir(bare);
    let name = match CString::new(base.as_bytes()) {
        Ok(name) => name,
        Err(_) => {
            let err = io::Error::from_raw_os_error(libc::EINVAL);
            reporter.problem(Problem::Io(Error::io("remove", path, err)));
            return false;
        }
    };
    let parent_fd = match CString::new(parent.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
    {
        Ok(c) => {
            // SAFETY: NUL-terminated path; the descriptor is owned below.
            let fd = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(unsafe { OwnedFd::from_raw_fd(fd) })
            }
        }
        Err(err) => Err(err),
    };
    let missing =
        |err: &io::Error| matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR));
    let parent_fd = match parent_fd {
        Ok(fd) => fd,
        Err(err) => {
            if opts.ignore_missing && missing(&err) {
                return true;
            }
            reporter.problem(Problem::Io(Error::io("remove", path, err)));
            return false;
        }
    };
    let st = match stat_at(parent_fd.as_raw_fd(), &name) {
        Ok(st) => st,
        Err(err) => {
            if opts.ignore_missing && missing(&err) {
                return true;
            }
            reporter.problem(Problem::Io(Error::io("remove", path, err)));
            return false;
        }
    };
    let mut walk = Walk {
        opts,
        reporter,
        top_dev: st.st_dev,
        failed: false,
    };
    // A "no" to a prompt leaves the file but is not a failure (GNU exits 0).
    walk.entry(parent_fd.as_raw_fd(), &name, &st, path, bare);
    !walk.failed
}

impl Walk<'_> {
    fn problem(&mut self, problem: Problem) {
        self.failed = true;
        self.reporter.problem(problem);
    }

    /// Removes `name` in the directory `dir`; `shown` is how it is named in messages and
    /// `base` the path its children are named under. Returns whether it is gone.
    fn entry(
        &mut self,
        dir: RawFd,
        name: &CStr,
        st: &libc::stat,
        shown: &Path,
        base: &Path,
    ) -> bool {
        if !is_dir(st) {
            let question = Question::Remove {
                path: shown,
                kind: kind_name(st),
            };
            if !self.reporter.confirm(question) {
                return false;
            }
            return match unlink_at(dir, name, false) {
                Ok(()) => {
                    self.reporter.removed(shown, false);
                    true
                }
                Err(err) => {
                    self.problem(Problem::Io(Error::io("remove", shown, err)));
                    false
                }
            };
        }
        if !self.opts.recursive {
            if !self.opts.empty_dirs {
                self.problem(Problem::IsDirectory(shown.to_path_buf()));
                return false;
            }
            return self.remove_dir(dir, name, shown);
        }
        if self.opts.one_file_system && st.st_dev != self.top_dev {
            self.problem(Problem::OtherDevice(shown.to_path_buf()));
            return false;
        }
        let fd = match open_dir_at(dir, name) {
            Ok(fd) => fd,
            // O_NOFOLLOW | O_DIRECTORY on what has become a symlink: ELOOP or ENOTDIR.
            Err(err) if matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                self.problem(Problem::Changed(shown.to_path_buf()));
                return false;
            }
            Err(err) => {
                // An unreadable but empty directory can still go (GNU does the same).
                if self.remove_dir_quietly(dir, name, shown) {
                    return true;
                }
                self.problem(Problem::Io(Error::io("remove", shown, err)));
                return false;
            }
        };
        let mut opened: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fd is open; `opened` is ours.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut opened) } < 0
            || (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino)
        {
            self.problem(Problem::Changed(shown.to_path_buf()));
            return false;
        }
        let names = match list(&fd) {
            Ok(names) => names,
            Err(err) => {
                self.problem(Problem::Io(Error::io("remove", shown, err)));
                return false;
            }
        };
        if !names.is_empty() && !self.reporter.confirm(Question::Descend(shown)) {
            return false;
        }
        let mut all_gone = true;
        for child in &names {
            let child_path = base.join(OsStr::from_bytes(child.to_bytes()));
            let child_st = match stat_at(fd.as_raw_fd(), child) {
                Ok(st) => st,
                Err(err) if err.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(err) => {
                    self.problem(Problem::Io(Error::io("remove", &child_path, err)));
                    all_gone = false;
                    continue;
                }
            };
            all_gone &= self.entry(fd.as_raw_fd(), child, &child_st, &child_path, &child_path);
        }
        drop(fd);
        if !all_gone {
            // The reason was reported (or the user said no); "Directory not empty" adds nothing.
            return false;
        }
        self.remove_dir(dir, name, shown)
    }

    fn remove_dir(&mut self, dir: RawFd, name: &CStr, shown: &Path) -> bool {
        let question = Question::Remove {
            path: shown,
            kind: "directory",
        };
        if !self.reporter.confirm(question) {
            return false;
        }
        match unlink_at(dir, name, true) {
            Ok(()) => {
                self.reporter.removed(shown, true);
                true
            }
            Err(err) => {
                self.problem(Problem::Io(Error::io("remove", shown, err)));
                false
            }
        }
    }

    fn remove_dir_quietly(&mut self, dir: RawFd, name: &CStr, shown: &Path) -> bool {
        if unlink_at(dir, name, true).is_ok() {
            self.reporter.removed(shown, true);
            true
        } else {
            false
        }
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
            if let Question::Descend(path) = question {
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

    #[test]
    fn opening_a_symlink_as_a_directory_fails() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(tmp.path(), tmp.path().join("link")).expect("symlink");
        let dir = fs::File::open(tmp.path()).expect("open");
        let err = open_dir_at(dir.as_raw_fd(), c"link").expect_err("must not follow");
        assert!(
            matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
            "{err}"
        );
    }
}
