//! Descriptor-relative system calls (`fstatat`, `openat`, `unlinkat`, ...) that never follow a
//! symlink they were not asked to follow, for the tree walk and the tools built on it.
//!
//! Changing a file found by a walk is done through a pinned `O_PATH` descriptor: the name is
//! opened without following, the inode checked to be the one the walk looked at, and the change
//! made to that inode, so a name swapped for a symlink in between is refused, not followed.
//! Ownership has `fchownat(AT_EMPTY_PATH)` for that. Mode has no such call before Linux 6.6's
//! `fchmodat2`; older kernels get `/proc/self/fd/N` (when `/proc` really is procfs), then a real
//! open of a regular file or directory, then, for special files only, `fchmodat` by name:
//! the window GNU chmod always leaves.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Why a change was not made.
#[derive(Debug)]
pub enum ChangeError {
    /// The name no longer leads to the inode that was looked at (replaced by a symlink,
    /// renamed over): nothing was changed.
    Replaced,
    Io(io::Error),
}

impl From<io::Error> for ChangeError {
    fn from(err: io::Error) -> Self {
        ChangeError::Io(err)
    }
}

fn last_error() -> io::Error {
    io::Error::last_os_error()
}

fn owned(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        Err(last_error())
    } else {
        // SAFETY: a descriptor the kernel just returned, owned by no one else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

fn nofollow(follow: bool) -> libc::c_int {
    if follow {
        0
    } else {
        libc::O_NOFOLLOW
    }
}

/// `fstatat(dir, name)`, following a final symlink only if asked.
pub fn stat(dir: RawFd, name: &CStr, follow: bool) -> io::Result<libc::stat> {
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is NUL-terminated; `st` is ours.
    if unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, flags) } < 0 {
        Err(last_error())
    } else {
        Ok(st)
    }
}

pub fn fstat(fd: &OwnedFd) -> io::Result<libc::stat> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open; `st` is ours.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 {
        Err(last_error())
    } else {
        Ok(st)
    }
}

/// Opens the directory `name` in `dir` for reading; a symlink is refused (ELOOP or ENOTDIR)
/// unless `follow`.
pub fn open_dir(dir: RawFd, name: &CStr, follow: bool) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | nofollow(follow);
    // SAFETY: NUL-terminated name.
    owned(unsafe { libc::openat(dir, name.as_ptr(), flags) })
}

/// The parent of the directory open as `fd`, opened through `..`: the way back up when the
/// parent's descriptor was closed to stay under the descriptor limit.
pub fn open_parent(fd: &OwnedFd) -> io::Result<OwnedFd> {
    open_dir(fd.as_raw_fd(), c"..", true)
}

/// An `O_PATH` descriptor: names the inode without opening it (no side effects on devices or
/// FIFOs, no permission needed on the file itself).
fn open_path(dir: RawFd, name: &CStr, follow: bool) -> io::Result<OwnedFd> {
    let flags = libc::O_PATH | libc::O_CLOEXEC | nofollow(follow);
    // SAFETY: NUL-terminated name.
    owned(unsafe { libc::openat(dir, name.as_ptr(), flags) })
}

pub fn unlink(dir: RawFd, name: &CStr, is_dir: bool) -> io::Result<()> {
    let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: NUL-terminated name.
    if unsafe { libc::unlinkat(dir, name.as_ptr(), flags) } < 0 {
        Err(last_error())
    } else {
        Ok(())
    }
}

pub fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

pub fn is_symlink(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

/// The same inode, and still of the same type.
pub fn same_file(a: &libc::stat, b: &libc::stat) -> bool {
    (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
        && a.st_mode & libc::S_IFMT == b.st_mode & libc::S_IFMT
}

/// The names in the directory open as `fd`, without `.` and `..`, read completely so that what
/// is then done to them cannot disturb the reading.
pub fn read_names(fd: &OwnedFd, sorted: bool) -> io::Result<Vec<CString>> {
    // Dir takes ownership of what it is given, so it gets its own descriptor.
    let dup = fd.try_clone()?;
    let mut dir = nix::dir::Dir::from_fd(dup.into_raw_fd()).map_err(io::Error::from)?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(io::Error::from)?;
        let name = entry.file_name();
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    if sorted {
        names.sort();
    }
    Ok(names)
}

/// `name` in `dir` opened `O_PATH` and checked to be the inode `expected` describes.
fn pin(
    dir: RawFd,
    name: &CStr,
    follow: bool,
    expected: &libc::stat,
) -> Result<OwnedFd, ChangeError> {
    let pinned = open_path(dir, name, follow)?;
    if !same_file(&fstat(&pinned)?, expected) {
        return Err(ChangeError::Replaced);
    }
    Ok(pinned)
}

/// Sets the owner and group (`None` leaves one alone) of `name` in `dir` if it still is the
/// inode `expected` describes. A symlink is changed itself unless `follow`.
pub fn set_owner(
    dir: RawFd,
    name: &CStr,
    follow: bool,
    expected: &libc::stat,
    uid: Option<u32>,
    gid: Option<u32>,
) -> Result<(), ChangeError> {
    let pinned = pin(dir, name, follow, expected)?;
    let (uid, gid) = (uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX));
    // SAFETY: the empty name is NUL-terminated; AT_EMPTY_PATH makes the call act on `pinned`.
    let rc = unsafe {
        libc::fchownat(
            pinned.as_raw_fd(),
            c"".as_ptr(),
            uid,
            gid,
            libc::AT_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(last_error().into());
    }
    Ok(())
}

/// Sets the permission bits of `name` in `dir` if it still is the inode `expected` describes,
/// and returns its metadata afterwards (the kernel may drop a setgid bit without an error).
/// A symlink is never changed (Linux gives them no mode of their own); with `follow` its
/// target is.
pub fn set_mode(
    dir: RawFd,
    name: &CStr,
    follow: bool,
    expected: &libc::stat,
    mode: u32,
) -> Result<libc::stat, ChangeError> {
    if is_symlink(expected) {
        return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP).into());
    }
    let pinned = pin(dir, name, follow, expected)?;
    chmod_pinned(&pinned, dir, name, follow, expected, mode)?;
    Ok(fstat(&pinned)?)
}

/// How a pinned inode's mode is changed; the first the system offers wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ModeCall {
    /// `fchmodat2(fd, "", AT_EMPTY_PATH)`, Linux 6.6.
    Fchmodat2,
    /// `chmod("/proc/self/fd/N")`: the magic link leads to the inode, not to a name.
    ProcFd,
    /// The name opened again for real (regular files and directories only) and checked.
    Reopen,
    /// `fchmodat` by name, just after the check: special files on a system without either.
    ByName,
}

static NO_FCHMODAT2: AtomicBool = AtomicBool::new(false);

/// Whether `/proc` is procfs: in a chroot of a hostile root without /proc mounted,
/// `/proc/self/fd/N` could be a planted symlink.
fn proc_is_procfs() -> bool {
    static PROCFS: OnceLock<bool> = OnceLock::new();
    *PROCFS.get_or_init(|| {
        let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: NUL-terminated path; `fs` is ours.
        let rc = unsafe { libc::statfs(c"/proc/self/fd".as_ptr(), &mut fs) };
        // The field's and the constant's types differ between glibc and musl.
        rc == 0 && i128::from(fs.f_type) == i128::from(libc::PROC_SUPER_MAGIC)
    })
}

fn chmod_pinned(
    pinned: &OwnedFd,
    dir: RawFd,
    name: &CStr,
    follow: bool,
    expected: &libc::stat,
    mode: u32,
) -> Result<(), ChangeError> {
    if !NO_FCHMODAT2.load(Ordering::Relaxed) {
        match chmod_with(
            ModeCall::Fchmodat2,
            pinned,
            dir,
            name,
            follow,
            expected,
            mode,
        ) {
            Err(ChangeError::Io(err)) if err.raw_os_error() == Some(libc::ENOSYS) => {
                NO_FCHMODAT2.store(true, Ordering::Relaxed);
            }
            // A seccomp filter may say EPERM for a system call it does not know; a real EPERM
            // comes back from the next way too.
            Err(ChangeError::Io(err)) if err.raw_os_error() == Some(libc::EPERM) => {}
            done => return done,
        }
    }
    if proc_is_procfs() {
        return chmod_with(ModeCall::ProcFd, pinned, dir, name, follow, expected, mode);
    }
    let kind = expected.st_mode & libc::S_IFMT;
    if kind == libc::S_IFREG || kind == libc::S_IFDIR {
        match chmod_with(ModeCall::Reopen, pinned, dir, name, follow, expected, mode) {
            // Not readable by us (a non-root owner's 0200 file): by name, as GNU always does.
            Err(ChangeError::Io(err)) if err.raw_os_error() == Some(libc::EACCES) => {}
            done => return done,
        }
    }
    chmod_with(ModeCall::ByName, pinned, dir, name, follow, expected, mode)
}

/// fchmodat2(2) is 452 on every architecture (new system calls share one number since 424);
/// the libc crate names it for some targets only, not aarch64's musl.
const SYS_FCHMODAT2: libc::c_long = 452;

fn chmod_with(
    call: ModeCall,
    pinned: &OwnedFd,
    dir: RawFd,
    name: &CStr,
    follow: bool,
    expected: &libc::stat,
    mode: u32,
) -> Result<(), ChangeError> {
    let mode = mode & 0o7777;
    let rc = match call {
        // SAFETY (all arms): NUL-terminated names, descriptors we hold open.
        ModeCall::Fchmodat2 => unsafe {
            libc::syscall(
                SYS_FCHMODAT2,
                pinned.as_raw_fd(),
                c"".as_ptr(),
                mode,
                libc::AT_EMPTY_PATH,
            ) as libc::c_int
        },
        ModeCall::ProcFd => {
            let link = CString::new(format!("/proc/self/fd/{}", pinned.as_raw_fd()))
                .expect("no NUL in a number");
            unsafe { libc::chmod(link.as_ptr(), mode) }
        }
        ModeCall::Reopen => {
            let flags = libc::O_RDONLY
                | libc::O_NONBLOCK
                | libc::O_NOCTTY
                | libc::O_CLOEXEC
                | nofollow(follow);
            let file = owned(unsafe { libc::openat(dir, name.as_ptr(), flags) })?;
            if !same_file(&fstat(&file)?, expected) {
                return Err(ChangeError::Replaced);
            }
            unsafe { libc::fchmod(file.as_raw_fd(), mode) }
        }
        ModeCall::ByName => {
            match stat(dir, name, follow) {
                Ok(now) if same_file(&now, expected) => {}
                Ok(_) => return Err(ChangeError::Replaced),
                Err(err) => return Err(err.into()),
            }
            // AT_SYMLINK_NOFOLLOW would not help: the libc emulates it with /proc, which is
            // not there when this is reached. The check just above is all there is.
            unsafe { libc::fchmodat(dir, name.as_ptr(), mode, 0) }
        }
    };
    if rc < 0 {
        Err(last_error().into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir_fd(path: &std::path::Path) -> OwnedFd {
        let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        open_dir(libc::AT_FDCWD, &c, false).unwrap()
    }

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn every_mode_call_changes_the_pinned_file_not_what_now_has_its_name() {
        let calls = [
            ModeCall::Fchmodat2,
            ModeCall::ProcFd,
            ModeCall::Reopen,
            ModeCall::ByName,
        ];
        for call in calls {
            let tmp = tempfile::tempdir().unwrap();
            let d = tmp.path();
            std::fs::write(d.join("f"), b"x").unwrap();
            std::fs::write(d.join("other"), b"y").unwrap();
            std::fs::set_permissions(d.join("f"), std::fs::Permissions::from_mode(0o644)).unwrap();
            std::fs::set_permissions(d.join("other"), std::fs::Permissions::from_mode(0o644))
                .unwrap();
            let dir = dir_fd(d);
            let expected = stat(dir.as_raw_fd(), c"f", false).unwrap();
            let pinned = pin(dir.as_raw_fd(), c"f", false, &expected).unwrap();

            // Unchanged name: every call changes the file.
            chmod_with(
                call,
                &pinned,
                dir.as_raw_fd(),
                c"f",
                false,
                &expected,
                0o600,
            )
            .unwrap();
            assert_eq!(mode(&d.join("f")), 0o600, "{call:?}");

            // The name now leads elsewhere: a call through the pin changes the pinned file,
            // one by name refuses; neither touches the newcomer.
            std::fs::rename(d.join("f"), d.join("moved")).unwrap();
            std::fs::rename(d.join("other"), d.join("f")).unwrap();
            let result = chmod_with(
                call,
                &pinned,
                dir.as_raw_fd(),
                c"f",
                false,
                &expected,
                0o640,
            );
            assert_eq!(
                mode(&d.join("f")),
                0o644,
                "{call:?}: the newcomer is untouched"
            );
            match call {
                ModeCall::Fchmodat2 | ModeCall::ProcFd => {
                    result.unwrap();
                    assert_eq!(mode(&d.join("moved")), 0o640, "{call:?}");
                }
                ModeCall::Reopen | ModeCall::ByName => {
                    assert!(matches!(result, Err(ChangeError::Replaced)), "{call:?}");
                    assert_eq!(mode(&d.join("moved")), 0o600, "{call:?}");
                }
            }
        }
    }

    #[test]
    fn a_name_swapped_for_a_symlink_is_refused_and_its_target_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("target"), b"x").unwrap();
        std::fs::set_permissions(d.join("target"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let dir = dir_fd(d);
        let expected = stat(dir.as_raw_fd(), c"sub", false).unwrap();
        std::fs::rename(d.join("sub"), d.join("aside")).unwrap();
        std::os::unix::fs::symlink(d.join("target"), d.join("sub")).unwrap();

        let err = set_mode(dir.as_raw_fd(), c"sub", false, &expected, 0o700).unwrap_err();
        assert!(matches!(err, ChangeError::Replaced), "{err:?}");
        let err = set_owner(dir.as_raw_fd(), c"sub", false, &expected, Some(1), Some(1));
        assert!(matches!(err, Err(ChangeError::Replaced)), "{err:?}");
        let err = open_dir(dir.as_raw_fd(), c"sub", false).unwrap_err();
        assert!(matches!(
            err.raw_os_error(),
            Some(libc::ELOOP | libc::ENOTDIR)
        ));
        assert_eq!(mode(&d.join("target")), 0o644);
    }

    #[test]
    fn the_parent_reopened_through_dotdot_is_the_parent() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("child")).unwrap();
        let parent = dir_fd(tmp.path());
        let child = open_dir(parent.as_raw_fd(), c"child", false).unwrap();
        let again = open_parent(&child).unwrap();
        assert!(same_file(&fstat(&again).unwrap(), &fstat(&parent).unwrap()));
    }
}
