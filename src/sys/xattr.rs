//! Extended attributes of one path, the path itself and never what a symlink points to (the
//! `l*xattr` calls): a planted symlink must not make us read or write another file's
//! attributes. A file system without xattrs reads as one with none; writing to it is an error.
//!
//! It also owns the one loop that reads a value of unknown size, which the copy engine shares
//! for its `follow` and descriptor variants.

use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use super::{c_path, check};

/// Reads the value of `name` on `path`; `None` when it has no such attribute or its file
/// system has no extended attributes at all.
pub fn get(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    get_c(path, &c_name(name)?)
}

/// Creates or replaces the attribute `name` of `path`.
pub fn set(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let (path, name) = (c_path(path)?, c_name(name)?);
    // SAFETY: as in `get_c`; pointer and length describe one live slice.
    check(unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// Removes the attribute `name` of `path`; one that is not there is already removed.
pub fn remove(path: &Path, name: &str) -> io::Result<()> {
    let (path, name) = (c_path(path)?, c_name(name)?);
    // SAFETY: as in `get_c`.
    match check(unsafe { libc::lremovexattr(path.as_ptr(), name.as_ptr()) }) {
        Err(err) if is_absent(&err) || is_unsupported(&err) => Ok(()),
        other => other,
    }
}

/// The names of every attribute of `path` the caller may see, in the kernel's order.
pub fn list(path: &Path) -> io::Result<Vec<OsString>> {
    let path = c_path(path)?;
    // SAFETY: as in `get_c`.
    let names = match sized_read(|buf, len| unsafe { libc::llistxattr(path.as_ptr(), buf, len) }) {
        Ok(names) => names,
        Err(err) if is_unsupported(&err) => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    Ok(names
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| OsString::from_vec(name.to_vec()))
        .collect())
}

/// Sets every attribute of `from` on `to`. Stops at the first one that cannot be set, even
/// when `to`'s file system has no xattrs at all: a backup that silently lost
/// `security.capability` would put back a `ping` that no longer works.
pub fn copy_all(from: &Path, to: &Path) -> io::Result<()> {
    let to_c = c_path(to)?;
    for name in list(from)? {
        let name_c = CString::new(name.as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // Gone between the listing and now: there is nothing left to keep.
        let Some(value) = get_c(from, &name_c)? else {
            continue;
        };
        // SAFETY: as in `set`.
        check(unsafe {
            libc::lsetxattr(
                to_c.as_ptr(),
                name_c.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        })?;
    }
    Ok(())
}

/// `get` for a name that came from `list` and may not be UTF-8.
fn get_c(path: &Path, name: &CString) -> io::Result<Option<Vec<u8>>> {
    let path = c_path(path)?;
    // SAFETY: both strings are NUL-terminated and outlive the call; buffer and size come from
    // `sized_read`.
    let value = sized_read(|buf, len| unsafe {
        libc::lgetxattr(path.as_ptr(), name.as_ptr(), buf.cast(), len)
    });
    match value {
        Ok(value) => Ok(Some(value)),
        Err(err) if is_absent(&err) || is_unsupported(&err) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Calls a `*getxattr`/`*listxattr`-shaped syscall with a buffer, retried with a bigger one
/// on ERANGE: the value may grow between a size query and the read, so one loop covers both
/// a first guess that is too small and a race. Most values (a capability is 20 bytes) fit
/// the first guess, which saves the size query.
pub(crate) fn sized_read(
    mut call: impl FnMut(*mut libc::c_char, usize) -> libc::ssize_t,
) -> io::Result<Vec<u8>> {
    let mut size = 256;
    loop {
        let mut buf = vec![0u8; size];
        let n = call(buf.as_mut_ptr().cast(), buf.len());
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(buf);
        }
        let err = io::Error::last_os_error();
        // The kernel caps values and lists at 64 KiB; past that, ERANGE is not about us.
        if err.raw_os_error() != Some(libc::ERANGE) || size >= 1 << 17 {
            return Err(err);
        }
        size *= 8;
    }
}

fn is_absent(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ENODATA)
}

/// ENOTSUP is also EOPNOTSUPP on Linux: one number.
fn is_unsupported(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ENOTSUP)
}

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Unsupported;

    /// A temp directory whose file system takes `user.*` attributes, or None (with a message)
    /// where it does not, as on some overlay and network mounts.
    fn xattr_dir() -> Option<tempfile::TempDir> {
        let dir = tempfile::tempdir().unwrap();
        let probe = dir.path().join("probe");
        std::fs::write(&probe, b"").unwrap();
        match set(&probe, "user.probe", b"1") {
            Ok(()) => Some(dir),
            Err(err) if is_unsupported(&err) => {
                let at = dir.path().display();
                crate::testing::unsupported(Unsupported::UserXattrs, &format!("{at}: {err}"));
                None
            }
            Err(err) => panic!("probe user xattr: {err}"),
        }
    }

    #[test]
    fn set_get_list_remove() {
        let Some(dir) = xattr_dir() else { return };
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(get(&file, "user.a").unwrap(), None);
        set(&file, "user.a", b"one").unwrap();
        set(&file, "user.empty", b"").unwrap();
        assert_eq!(get(&file, "user.a").unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(get(&file, "user.empty").unwrap().as_deref(), Some(&b""[..]));
        let mut names = list(&file).unwrap();
        names.sort();
        assert_eq!(
            names,
            [OsString::from("user.a"), OsString::from("user.empty")]
        );
        remove(&file, "user.a").unwrap();
        remove(&file, "user.a").unwrap();
        assert_eq!(get(&file, "user.a").unwrap(), None);
        assert_eq!(list(&file).unwrap(), [OsString::from("user.empty")]);
    }

    #[test]
    fn values_larger_than_the_first_buffer_are_read_whole() {
        let Some(dir) = xattr_dir() else { return };
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        // ext4 keeps values up to a block without the ea_inode feature.
        let big: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        set(&file, "user.big", &big).unwrap();
        assert_eq!(get(&file, "user.big").unwrap(), Some(big));
    }

    #[test]
    fn a_symlink_is_never_followed() {
        let Some(dir) = xattr_dir() else { return };
        let file = dir.path().join("f");
        let link = dir.path().join("link");
        std::fs::write(&file, b"x").unwrap();
        std::os::unix::fs::symlink(&file, &link).unwrap();
        set(&file, "user.a", b"one").unwrap();
        assert_eq!(get(&link, "user.a").unwrap(), None);
        assert!(list(&link).unwrap().is_empty());
        // The kernel refuses user attributes on symlinks rather than writing through.
        assert!(set(&link, "user.b", b"two").is_err());
        assert_eq!(get(&file, "user.b").unwrap(), None);
    }

    #[test]
    fn copy_all_keeps_every_attribute() {
        let Some(dir) = xattr_dir() else { return };
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        std::fs::write(&from, b"x").unwrap();
        std::fs::write(&to, b"y").unwrap();
        set(&from, "user.a", b"one").unwrap();
        set(&from, "user.b", &[0, 1, 2, 255]).unwrap();
        set(&to, "user.c", b"kept").unwrap();
        copy_all(&from, &to).unwrap();
        assert_eq!(get(&to, "user.a").unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(
            get(&to, "user.b").unwrap().as_deref(),
            Some(&[0, 1, 2, 255][..])
        );
        assert_eq!(get(&to, "user.c").unwrap().as_deref(), Some(&b"kept"[..]));
    }

    #[test]
    fn a_missing_path_is_an_error_not_an_absent_attribute() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        assert_eq!(
            get(&missing, "user.a").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert!(list(&missing).is_err());
        assert!(copy_all(&missing, dir.path()).is_err());
    }

    #[test]
    fn sized_read_grows_its_buffer_on_erange() {
        let value: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let mut calls = 0;
        let read = sized_read(|buf, len| {
            calls += 1;
            if len < value.len() {
                // SAFETY: sets errno, as the syscall would.
                unsafe { *libc::__errno_location() = libc::ERANGE };
                return -1;
            }
            // SAFETY: `buf` has `len` >= value.len() writable bytes.
            unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), buf.cast(), value.len()) };
            value.len() as libc::ssize_t
        })
        .unwrap();
        assert_eq!(read, value);
        assert_eq!(calls, 3);
    }
}
