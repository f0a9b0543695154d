//! A physical tree walk by directory descriptor (GNU's `fts` with `FTS_PHYSICAL`), shared by
//! `chmod -R`, `chown -R` and `rm -r`.
//!
//! - Every directory is entered with `openat(parent, name, O_NOFOLLOW | O_DIRECTORY)` and
//!   checked to be the inode `fstatat` saw; every entry is handed over as (parent descriptor,
//!   name), so what the visitor does acts relative to a directory that cannot be swapped. A
//!   directory replaced by a symlink mid-walk is reported, never entered.
//! - Symlinks inside the tree are entries like any other and never followed; the operand is
//!   followed only when the caller says so (chmod's `FTS_COMFOLLOW`).
//! - A directory is visited before its children (so `chmod -R` can make it readable before it
//!   is read) and left after them (so `rm` can remove it); children come in the order the file
//!   system returns them, or sorted.
//! - The walk is iterative: its depth is bounded by memory, not by the stack. Only the deepest
//!   [`OPEN_LEVELS`] directories keep a descriptor; going back up past them reopens the parent
//!   through `..` and checks it is the directory walked down from (as fts does), and stops the
//!   walk if it is not, since the tree was moved and what lies above is no longer the tree.
//!
//! It does not print: what happens reaches the caller's [`Visitor`] in walk order.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::sys::at::{self, ChangeError};
use crate::Error;

/// Directories that keep their descriptor open: the deepest ones, which are the ones used next.
/// Far below the usual limit of 1024 descriptors, whatever the depth.
pub const OPEN_LEVELS: usize = 32;

/// One file the walk found.
pub struct Entry<'a> {
    /// The directory `name` is looked up in: the parent's descriptor, or the caller's own for the
    /// operand (`AT_FDCWD` when `name` is the operand's path).
    pub dir: RawFd,
    pub name: &'a CStr,
    /// How it is named in messages: the operand's path, then `/`-joined names.
    pub path: &'a Path,
    /// `lstat` metadata, or `stat` for an operand walked with `follow`.
    pub stat: &'a libc::stat,
    /// `name` is followed if it is a symlink (only ever for the operand).
    pub follow: bool,
}

impl Entry<'_> {
    /// Sets the permission bits if `name` still leads to this inode; returns the metadata after
    /// the change. A symlink (not followed) is refused with EOPNOTSUPP.
    pub fn set_mode(&self, mode: u32) -> Result<libc::stat, ChangeError> {
        at::set_mode(self.dir, self.name, self.follow, self.stat, mode)
    }

    /// Sets owner and group if `name` still leads to this inode; a symlink is changed itself.
    pub fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> Result<(), ChangeError> {
        at::set_owner(self.dir, self.name, self.follow, self.stat, uid, gid)
    }

    pub fn is_dir(&self) -> bool {
        at::is_dir(self.stat)
    }

    pub fn is_symlink(&self) -> bool {
        at::is_symlink(self.stat)
    }
}

/// What to do after visiting an entry.
pub enum Step {
    /// Nothing more; `false` counts against the parent's `children_ok`.
    Done(bool),
    /// Enter this directory (taken as `Done(true)` for anything else).
    Enter,
}

/// Why a directory was not entered.
#[derive(Debug)]
pub enum NotEntered {
    /// It is no longer the directory that was visited: replaced by a symlink or renamed over.
    Replaced,
    Open(io::Error),
    Read(io::Error),
}

pub trait Visitor {
    /// Every entry, a directory before what it holds.
    fn visit(&mut self, entry: &Entry) -> Step;
    /// A directory was opened and its `children` names read; `false` leaves it unentered (the
    /// answer is also the directory's result).
    fn entered(&mut self, _entry: &Entry, _children: usize) -> bool {
        true
    }
    /// After everything in an entered directory; `children_ok` is false if any child's result
    /// was. Returns the directory's own result.
    fn left(&mut self, _entry: &Entry, children_ok: bool) -> bool {
        children_ok
    }
    /// A directory could not be entered; returns its result.
    fn not_entered(&mut self, entry: &Entry, why: NotEntered) -> bool;
    /// A name read from a directory could not be `lstat`ed; returns its result.
    fn unreadable(&mut self, path: &Path, err: io::Error) -> bool;
}

#[derive(Clone, Copy, Default)]
pub struct Options {
    /// Children in byte order of their names rather than the file system's.
    pub sorted: bool,
}

/// A directory being walked.
struct Frame {
    name: CString,
    stat: libc::stat,
    /// `None` once deeper levels took its place under [`OPEN_LEVELS`].
    fd: Option<OwnedFd>,
    names: std::vec::IntoIter<CString>,
    /// The length of this directory's path in the walk's path buffer.
    path_len: usize,
    children_ok: bool,
    /// It was reached through a symlink (a logical walk): acting on it follows its name.
    follow: bool,
}

/// Walks `top` and, if the visitor enters it, everything below. Returns `top`'s result, or an
/// error if the walk had to stop because a directory it was in was moved.
pub fn walk(top: &Entry, options: Options, visitor: &mut dyn Visitor) -> Result<bool, Error> {
    walk_as(top, options, false, visitor)
}

/// [`walk`], but symlinks met inside the tree are followed (GNU's `-L`, `FTS_LOGICAL`): the
/// entry is what they point to, with `follow` set; a dangling one stays a symlink. A
/// directory that is one of its own ancestors is visited but not entered again.
pub fn walk_logical(
    top: &Entry,
    options: Options,
    visitor: &mut dyn Visitor,
) -> Result<bool, Error> {
    walk_as(top, options, true, visitor)
}

fn walk_as(
    top: &Entry,
    options: Options,
    logical: bool,
    visitor: &mut dyn Visitor,
) -> Result<bool, Error> {
    match visitor.visit(top) {
        Step::Done(ok) => return Ok(ok),
        Step::Enter if !top.is_dir() => return Ok(true),
        Step::Enter => {}
    }
    let (fd, names) = match enter(top, options) {
        Ok(opened) => opened,
        Err(why) => return Ok(visitor.not_entered(top, why)),
    };
    if !visitor.entered(top, names.len()) {
        return Ok(false);
    }
    // Children of `dir//` are `dir/x`, as with GNU.
    let shown = top.path.as_os_str().as_bytes();
    let end = shown
        .iter()
        .rposition(|&b| b != b'/')
        .map_or(1, |last| last + 1);
    let path = shown[..end.min(shown.len())].to_vec();
    let mut walk = Walk {
        options,
        logical,
        stack: vec![Frame {
            name: top.name.to_owned(),
            stat: *top.stat,
            fd: Some(fd),
            names: names.into_iter(),
            path_len: path.len(),
            children_ok: true,
            follow: top.follow,
        }],
        path,
    };
    let children_ok = walk.run(visitor)?;
    Ok(visitor.left(top, children_ok))
}

/// Opens a directory entry, checks it is what was visited, and reads its names.
fn enter(entry: &Entry, options: Options) -> Result<(OwnedFd, Vec<CString>), NotEntered> {
    let fd = match at::open_dir(entry.dir, entry.name, entry.follow) {
        Ok(fd) => fd,
        // O_NOFOLLOW | O_DIRECTORY on what has become a symlink or a file.
        Err(err)
            if err.raw_os_error() == Some(libc::ENOTDIR)
                || (!entry.follow && err.raw_os_error() == Some(libc::ELOOP)) =>
        {
            return Err(NotEntered::Replaced)
        }
        Err(err) => return Err(NotEntered::Open(err)),
    };
    match at::fstat(&fd) {
        Ok(opened) if at::same_file(&opened, entry.stat) => {}
        Ok(_) => return Err(NotEntered::Replaced),
        Err(err) => return Err(NotEntered::Open(err)),
    }
    let names = at::read_names(&fd, options.sorted).map_err(NotEntered::Read)?;
    Ok((fd, names))
}

struct Walk {
    options: Options,
    /// Symlinks inside the tree are followed.
    logical: bool,
    /// The directories from the operand down to the one being read; never empty while running.
    stack: Vec<Frame>,
    /// The path of the entry being visited; frames record where theirs ends.
    path: Vec<u8>,
}

/// What visiting one child led to.
enum Outcome {
    Result(bool),
    Descend(Box<Frame>),
}

impl Walk {
    /// Walks until the operand's children are all done; returns whether they all went well.
    fn run(&mut self, visitor: &mut dyn Visitor) -> Result<bool, Error> {
        loop {
            let frame = self.stack.last_mut().expect("a directory is being walked");
            let Some(name) = frame.names.next() else {
                let done = self.stack.pop().expect("a directory is being walked");
                if self.stack.is_empty() {
                    return Ok(done.children_ok);
                }
                self.leave(done, visitor)?;
                continue;
            };
            let dir = frame
                .fd
                .as_ref()
                .expect("the deepest directory is open")
                .as_raw_fd();
            self.path.truncate(frame.path_len);
            if self.path.last() != Some(&b'/') {
                self.path.push(b'/');
            }
            self.path.extend_from_slice(name.to_bytes());
            let child = Child {
                dir,
                name,
                path: &self.path,
                ancestors: &self.stack,
            };
            let outcome = visit_child(child, self.options, self.logical, visitor);
            match outcome {
                Outcome::Result(ok) => {
                    let frame = self.stack.last_mut().expect("a directory is being walked");
                    frame.children_ok &= ok;
                }
                Outcome::Descend(child) => {
                    self.stack.push(*child);
                    if let Some(far) = self.stack.len().checked_sub(OPEN_LEVELS + 1) {
                        self.stack[far].fd = None;
                    }
                }
            }
        }
    }

    /// Back up from `done` to its parent (reopening it if its descriptor was closed), then
    /// lets the visitor leave `done`.
    fn leave(&mut self, done: Frame, visitor: &mut dyn Visitor) -> Result<(), Error> {
        let done_fd = done.fd.expect("the deepest directory is open");
        let parent = self.stack.last_mut().expect("a parent");
        if parent.fd.is_none() {
            let shown = Path::new(OsStr::from_bytes(&self.path[..parent.path_len]));
            let reopened =
                at::open_parent(&done_fd).map_err(|err| Error::io("return to", shown, err))?;
            match at::fstat(&reopened) {
                Ok(st) if at::same_file(&st, &parent.stat) => {}
                Ok(_) => {
                    return Err(Error::refused(
                        shown,
                        "moved while it was being walked; stopped rather than go on outside \
                         the tree",
                    ))
                }
                Err(err) => return Err(Error::io("return to", shown, err)),
            }
            parent.fd = Some(reopened);
        }
        drop(done_fd);
        let dir = parent.fd.as_ref().expect("reopened").as_raw_fd();
        let entry = Entry {
            dir,
            name: &done.name,
            path: Path::new(OsStr::from_bytes(&self.path[..done.path_len])),
            stat: &done.stat,
            follow: done.follow,
        };
        let ok = visitor.left(&entry, done.children_ok);
        parent.children_ok &= ok;
        Ok(())
    }
}

/// A name read from a directory, about to be visited.
struct Child<'w> {
    dir: RawFd,
    name: CString,
    /// Its path, as shown.
    path: &'w [u8],
    /// The directories above it.
    ancestors: &'w [Frame],
}

/// Visits a child, and opens it if the visitor enters it.
fn visit_child(
    child: Child,
    options: Options,
    logical: bool,
    visitor: &mut dyn Visitor,
) -> Outcome {
    let Child {
        dir,
        name,
        path,
        ancestors,
    } = child;
    let shown = Path::new(OsStr::from_bytes(path));
    let mut stat = match at::stat(dir, &name, false) {
        Ok(stat) => stat,
        Err(err) => return Outcome::Result(visitor.unreadable(shown, err)),
    };
    let mut follow = false;
    if logical && at::is_symlink(&stat) {
        if let Ok(target) = at::stat(dir, &name, true) {
            stat = target;
            follow = true;
        }
    }
    let entry = Entry {
        dir,
        name: &name,
        path: shown,
        stat: &stat,
        follow,
    };
    let cycle = || {
        ancestors
            .iter()
            .any(|frame| at::same_file(&frame.stat, &stat))
    };
    match visitor.visit(&entry) {
        Step::Done(ok) => Outcome::Result(ok),
        Step::Enter if !entry.is_dir() => Outcome::Result(true),
        Step::Enter if follow && cycle() => Outcome::Result(true),
        Step::Enter => match enter(&entry, options) {
            Err(why) => Outcome::Result(visitor.not_entered(&entry, why)),
            Ok((_, names)) if !visitor.entered(&entry, names.len()) => Outcome::Result(false),
            Ok((fd, names)) => Outcome::Descend(Box::new(Frame {
                name,
                stat,
                fd: Some(fd),
                names: names.into_iter(),
                path_len: path.len(),
                children_ok: true,
                follow,
            })),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::PathBuf;

    /// Records the walk as lines, and does one thing when visiting `trigger`.
    struct Recorder {
        lines: Vec<String>,
        trigger: Option<(PathBuf, Box<dyn FnMut()>)>,
    }

    impl Visitor for Recorder {
        fn visit(&mut self, entry: &Entry) -> Step {
            self.lines.push(format!("visit {}", entry.path.display()));
            if let Some((path, action)) = &mut self.trigger {
                if path == entry.path {
                    action();
                }
            }
            Step::Enter
        }
        fn left(&mut self, entry: &Entry, children_ok: bool) -> bool {
            self.lines.push(format!("leave {}", entry.path.display()));
            children_ok
        }
        fn not_entered(&mut self, entry: &Entry, why: NotEntered) -> bool {
            self.lines
                .push(format!("not entered {} {why:?}", entry.path.display()));
            false
        }
        fn unreadable(&mut self, path: &Path, err: io::Error) -> bool {
            self.lines
                .push(format!("unreadable {} {err}", path.display()));
            false
        }
    }

    fn walk_path(path: &Path, recorder: &mut Recorder) -> Result<bool, Error> {
        let name = CString::new(path.as_os_str().as_bytes()).unwrap();
        let stat = at::stat(libc::AT_FDCWD, &name, false).unwrap();
        let top = Entry {
            dir: libc::AT_FDCWD,
            name: &name,
            path,
            stat: &stat,
            follow: false,
        };
        walk(&top, Options { sorted: true }, recorder)
    }

    #[test]
    fn parents_before_children_and_left_after_them() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().join("t");
        fs::create_dir_all(t.join("a/b")).unwrap();
        fs::write(t.join("a/b/f"), b"x").unwrap();
        fs::write(t.join("z"), b"x").unwrap();
        std::os::unix::fs::symlink("/", t.join("a/root")).unwrap();
        let mut recorder = Recorder {
            lines: Vec::new(),
            trigger: None,
        };
        assert!(walk_path(&t, &mut recorder).unwrap());
        let shown = t.display().to_string();
        let expected: Vec<String> = [
            "visit T",
            "visit T/a",
            "visit T/a/b",
            "visit T/a/b/f",
            "leave T/a/b",
            "visit T/a/root",
            "leave T/a",
            "visit T/z",
            "leave T",
        ]
        .iter()
        .map(|line| line.replace('T', &shown))
        .collect();
        assert_eq!(recorder.lines, expected);
    }

    #[test]
    fn children_of_an_operand_with_trailing_slashes_are_named_with_one() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("t")).unwrap();
        fs::write(tmp.path().join("t/f"), b"x").unwrap();
        let operand = tmp.path().join("t//");
        let mut recorder = Recorder {
            lines: Vec::new(),
            trigger: None,
        };
        assert!(walk_path(&operand, &mut recorder).unwrap());
        let t = tmp.path().join("t");
        assert_eq!(
            recorder.lines,
            [
                format!("visit {}//", t.display()),
                format!("visit {}/f", t.display()),
                format!("leave {}//", t.display()),
            ]
        );
    }

    #[test]
    fn a_directory_swapped_for_a_symlink_after_its_visit_is_not_entered() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().join("t");
        fs::create_dir_all(t.join("sub")).unwrap();
        fs::create_dir_all(tmp.path().join("outside/secret")).unwrap();
        let (sub, outside) = (t.join("sub"), tmp.path().join("outside"));
        let swap = {
            let (sub, outside) = (sub.clone(), outside.clone());
            move || {
                fs::rename(&sub, sub.with_extension("aside")).unwrap();
                std::os::unix::fs::symlink(&outside, &sub).unwrap();
            }
        };
        let mut recorder = Recorder {
            lines: Vec::new(),
            trigger: Some((sub.clone(), Box::new(swap))),
        };
        assert!(!walk_path(&t, &mut recorder).unwrap());
        let lines = recorder.lines.join("\n");
        assert!(
            lines.contains(&format!("not entered {} Replaced", sub.display())),
            "{lines}"
        );
        assert!(!lines.contains("secret"), "{lines}");
    }

    /// A chain of `depth` directories `d` below `top`, made by descriptor.
    fn chain(top: &Path, depth: usize) {
        fs::create_dir(top).unwrap();
        let c = CString::new(top.as_os_str().as_bytes()).unwrap();
        let mut fd = at::open_dir(libc::AT_FDCWD, &c, false).unwrap();
        for _ in 0..depth {
            // SAFETY: the literal is NUL-terminated.
            assert_eq!(
                unsafe { libc::mkdirat(fd.as_raw_fd(), c"d".as_ptr(), 0o755) },
                0
            );
            fd = at::open_dir(fd.as_raw_fd(), c"d", false).unwrap();
        }
    }

    #[test]
    fn deeper_than_the_open_levels_reopens_parents_through_dotdot() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().join("t");
        let depth = 3 * OPEN_LEVELS;
        chain(&t, depth);
        let mut recorder = Recorder {
            lines: Vec::new(),
            trigger: None,
        };
        assert!(walk_path(&t, &mut recorder).unwrap());
        assert_eq!(recorder.lines.len(), 2 * (depth + 1));
        let leaves = recorder.lines.iter().filter(|l| l.starts_with("leave"));
        assert_eq!(leaves.count(), depth + 1);
        assert_eq!(
            recorder.lines.last().unwrap(),
            &format!("leave {}", t.display())
        );
    }

    #[test]
    fn a_walk_whose_closed_parent_was_moved_stops() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().join("t");
        chain(&t, 2 * OPEN_LEVELS);
        // Deep down, move the first level out of the tree: going back up reaches `elsewhere`,
        // not `t`, and the walk stops instead of leaving `t/d` (now gone) or its parent.
        let deepest: PathBuf = std::iter::once(t.clone())
            .chain(std::iter::repeat_n(PathBuf::from("d"), 2 * OPEN_LEVELS))
            .collect();
        let (first, elsewhere) = (t.join("d"), tmp.path().join("elsewhere"));
        let mut recorder = Recorder {
            lines: Vec::new(),
            trigger: Some((
                deepest,
                Box::new(move || fs::rename(&first, &elsewhere).unwrap()),
            )),
        };
        let err = walk_path(&t, &mut recorder).unwrap_err();
        assert!(matches!(err, Error::Refused { .. }), "{err}");
        assert!(!recorder
            .lines
            .iter()
            .any(|l| l == &format!("leave {}", t.display())));
    }
}
