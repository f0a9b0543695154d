//! A directory read the way `ls` needs it: every entry in the order the kernel gives them,
//! `.` and `..` included, with the type and inode number the kernel reports (no `stat`), and
//! the directory's own device and inode (from the open descriptor, so a directory swapped
//! after opening cannot fool a loop check).

use std::ffi::CString;
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

/// Room for one `getdents64` call: 32 KiB holds a usual directory whole, where the C
/// library's 2 KiB (musl) took several calls.
const BUFFER: usize = 32 << 10;

/// An open directory, read with `getdents64` straight into a buffer of its own.
pub struct DirStream {
    fd: libc::c_int,
    buf: Vec<u8>,
    /// The unread part of `buf`.
    pos: usize,
    end: usize,
}

impl DirStream {
    /// Opens `path`, to be read into `buffer` (grown to 32 KiB if smaller): a lister of many
    /// directories hands back [`DirStream::into_buffer`]'s result to spare an allocation, and
    /// the fresh pages, per directory.
    pub fn open(path: &Path, mut buffer: Vec<u8>) -> io::Result<DirStream> {
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::ENOENT))?;
        // The system call itself: musl's `open` follows an O_CLOEXEC open with a redundant
        // fcntl, once per directory listed.
        // SAFETY: a NUL-terminated path; the result is checked.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                c_path.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd =
            libc::c_int::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        if buffer.len() < BUFFER {
            buffer.resize(BUFFER, 0);
        }
        Ok(DirStream {
            fd,
            buf: buffer,
            pos: 0,
            end: 0,
        })
    }

    /// The directory's device and inode numbers.
    pub fn dev_ino(&self) -> io::Result<(u64, u64)> {
        // SAFETY: `fd` is open; an all-zero stat is a valid buffer for fstat to fill.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(self.fd, &mut st) != 0 {
                return Err(io::Error::last_os_error());
            }
            #[allow(clippy::unnecessary_cast)]
            Ok((st.st_dev as u64, st.st_ino as u64))
        }
    }

    /// The buffer, for the next directory; the stream is closed.
    pub fn into_buffer(mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The next entry, `None` at the end.
    pub fn next_entry(&mut self) -> Option<io::Result<DirEntry>> {
        if self.pos >= self.end {
            // SAFETY: `buf` holds `buf.len()` writable bytes for the kernel to fill.
            let read = unsafe {
                libc::syscall(
                    libc::SYS_getdents64,
                    self.fd,
                    self.buf.as_mut_ptr(),
                    self.buf.len(),
                )
            };
            if read < 0 {
                let err = io::Error::last_os_error();
                // A directory removed while open reads as empty, as readdir has it.
                if err.raw_os_error() == Some(libc::ENOENT) {
                    return None;
                }
                return Some(Err(err));
            }
            if read == 0 {
                return None;
            }
            self.pos = 0;
            self.end = usize::try_from(read).unwrap_or(0).min(self.buf.len());
        }
        // struct linux_dirent64: d_ino (8 bytes), d_off (8), d_reclen (2), d_type (1), d_name.
        let record = &self.buf[self.pos..self.end];
        let (Some(ino), Some(reclen), Some(&d_type)) =
            (record.get(0..8), record.get(16..18), record.get(18))
        else {
            return Some(Err(io::Error::from_raw_os_error(libc::EIO)));
        };
        let ino = u64::from_ne_bytes(ino.try_into().unwrap_or_default());
        let reclen = usize::from(u16::from_ne_bytes(reclen.try_into().unwrap_or_default()));
        if reclen < 20 || reclen > record.len() {
            return Some(Err(io::Error::from_raw_os_error(libc::EIO)));
        }
        let name_field = &record[19..reclen];
        let name_len = name_field
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(name_field.len());
        let name = name_field[..name_len].to_vec();
        self.pos += reclen;
        let kind = match d_type {
            libc::DT_FIFO => DirentType::Fifo,
            libc::DT_CHR => DirentType::Char,
            libc::DT_DIR => DirentType::Dir,
            libc::DT_BLK => DirentType::Block,
            libc::DT_REG => DirentType::Regular,
            libc::DT_LNK => DirentType::Symlink,
            libc::DT_SOCK => DirentType::Socket,
            _ => DirentType::Unknown,
        };
        Some(Ok(DirEntry { name, ino, kind }))
    }
}

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: `fd` came from openat and is closed once.
        unsafe {
            libc::close(self.fd);
        }
    }
}
