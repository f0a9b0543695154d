//! A file's birth (creation) time, which only `statx(2)` reports. Called through the raw system
//! call so the static musl build does not depend on the C library having a `statx` wrapper.
//! Old kernels and file systems without birth times answer `None`, which `stat` prints as `-`.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Seconds and nanoseconds since the epoch, when the file system records them.
pub fn birth_time(path: &Path, follow_symlinks: bool) -> Option<(i64, u32)> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: all-zero is a valid statx value; the kernel fills it in.
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    let flags = if follow_symlinks {
        0
    } else {
        libc::AT_SYMLINK_NOFOLLOW
    };
    // SAFETY: the path is NUL-terminated and `buf` is a statx the kernel may write to; both
    // outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_statx,
            libc::AT_FDCWD,
            c_path.as_ptr(),
            flags,
            libc::STATX_BTIME,
            &mut buf as *mut libc::statx,
        )
    };
    if rc != 0 || buf.stx_mask & libc::STATX_BTIME == 0 {
        return None;
    }
    Some((buf.stx_btime.tv_sec, buf.stx_btime.tv_nsec))
}
