//! The thin OS layer: root-confined path resolution, inputs opened only when they are regular
//! files and read with bounded lines, accounts read from ROOT's own files, error text without
//! Rust's "(os error N)" suffix, the copy engine, the descriptor-relative tree walk and the
//! symlink-safe removal the file applets share, extended attributes and file capabilities,
//! mode and date specifications as GNU parses them, the formatting `ls` and `stat` share
//! (mode strings, sizes, local time), and every way a name is quoted or escaped for output
//! (`quoting`).
//! Nothing here knows about dpkg or archives.

pub mod accounts;
pub mod at;
pub mod backup;
pub mod birth;
pub mod canonical;
pub mod capability;
pub mod civil;
pub mod copy;
pub mod copy_data;
pub mod date_spec;
pub mod dirstream;
pub mod errno;
pub mod fs_status;
pub mod human;
pub mod input;
pub mod localtime;
pub mod login_group;
pub mod ls_colors;
pub mod mode;
pub mod mode_spec;
pub mod mountinfo;
pub mod parallel;
pub mod procfs;
pub mod quoting;
pub mod remove;
pub mod root;
pub mod same_file;
pub mod statfs;
pub mod strftime;
pub mod superblock;
pub mod tree;
pub mod xattr;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A path for a C call. A NUL byte inside it is EINVAL, the kernel's word for a bad name.
pub(crate) fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// A C call's return code: negative means the call failed with the errno it left behind.
pub(crate) fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
