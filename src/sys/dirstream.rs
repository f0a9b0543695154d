//! A directory read the way `ls` needs it: every entry in the order the kernel gives them,
//! `.` and `..` included, with the type and inode number the kernel reports (no `stat`), and
//! the directory's own device and inode (from the open descriptor, so a directory swapped
//! after opening cannot fool a loop check).

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What `d_type` says, `Unknown` when the file system does not say.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DirentType {
    Unknown,
    Fifo,
    Char,
    Dir,
    Block,
    Regular,
    Symlink,
    Socket,
}

pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub kind: DirentType,
}

/// An open directory.
pub struct DirStream {
    dir: *mut libc::DIR,
}

impl DirStream {
    pub fn open(path: &Path) -> io::Result<DirStream> {
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::ENOENT))?;
        // SAFETY: a NUL-terminated path; the result is checked for null.
        let dir = unsafe { libc::opendir(c_path.as_ptr()) };
        if dir.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(DirStream { dir })
    }

    /// The directory's device and inode numbers.
    pub fn dev_ino(&self) -> io::Result<(u64, u64)> {
        // SAFETY: `dir` is open; an all-zero stat is a valid buffer for fstat to fill.
        unsafe {
            let fd = libc::dirfd(self.dir);
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd, &mut st) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok((st.st_dev, st.st_ino))
        }
    }

    /// The next entry, `None` at the end.
    pub fn next_entry(&mut self) -> Option<io::Result<DirEntry>> {
        // SAFETY: errno is thread-local; readdir's result lives until the next call on this
        // stream, and is copied out before that.
        unsafe {
            *libc::__errno_location() = 0;
            let entry = libc::readdir(self.dir);
            if entry.is_null() {
                let err = io::Error::last_os_error();
                return match err.raw_os_error() {
                    Some(0) | None => None,
                    Some(_) => Some(Err(err)),
                };
            }
            let name = CStr::from_ptr((*entry).d_name.as_ptr()).to_bytes().to_vec();
            let kind = match (*entry).d_type {
                libc::DT_FIFO => DirentType::Fifo,
                libc::DT_CHR => DirentType::Char,
                libc::DT_DIR => DirentType::Dir,
                libc::DT_BLK => DirentType::Block,
                libc::DT_REG => DirentType::Regular,
                libc::DT_LNK => DirentType::Symlink,
                libc::DT_SOCK => DirentType::Socket,
                _ => DirentType::Unknown,
            };
            #[allow(clippy::unnecessary_cast)]
            let ino = (*entry).d_ino as u64;
            Some(Ok(DirEntry { name, ino, kind }))
        }
    }
}

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: `dir` came from opendir and is closed once.
        unsafe {
            libc::closedir(self.dir);
        }
    }
}
