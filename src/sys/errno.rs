//! Error text the way C tools print it: `No such file or directory`, not Rust's
//! `No such file or directory (os error 2)`. Scripts and people grep for the former.

use std::io;

pub fn describe(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => glibc_text(code)
            .unwrap_or_else(|| nix::errno::Errno::from_raw(code).desc())
            .to_string(),
        None => err.to_string(),
    }
}

/// glibc's words where nix keeps the kernel's older ones (`Bad file number`): GNU's messages,
/// which tests and people compare with, say these.
fn glibc_text(code: i32) -> Option<&'static str> {
    Some(match code {
        libc::EAGAIN => "Resource temporarily unavailable",
        libc::EBADF => "Bad file descriptor",
        libc::EDEADLK => "Resource deadlock avoided",
        libc::EDOM => "Numerical argument out of domain",
        libc::EDQUOT => "Disk quota exceeded",
        libc::EILSEQ => "Invalid or incomplete multibyte or wide character",
        libc::EIO => "Input/output error",
        libc::ELOOP => "Too many levels of symbolic links",
        libc::EMULTIHOP => "Multihop attempted",
        libc::ENETRESET => "Network dropped connection on reset",
        libc::ENFILE => "Too many open files in system",
        libc::ENODATA => "No data available",
        libc::ENOLCK => "No locks available",
        libc::ENOLINK => "Link has been severed",
        libc::ENOMEM => "Cannot allocate memory",
        libc::ENOSR => "Out of streams resources",
        libc::ENOSTR => "Device not a stream",
        libc::ENOTTY => "Inappropriate ioctl for device",
        libc::EOVERFLOW => "Value too large for defined data type",
        libc::EOWNERDEAD => "Owner died",
        libc::ERANGE => "Numerical result out of range",
        libc::EREMOTE => "Object is remote",
        libc::ESTALE => "Stale file handle",
        libc::ETIME => "Timer expired",
        libc::EXDEV => "Invalid cross-device link",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_like_strerror() {
        let err = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(describe(&err), "No such file or directory");
        let err = io::Error::from_raw_os_error(libc::EBADF);
        assert_eq!(describe(&err), "Bad file descriptor");
    }
}
