//! The thin OS layer. Files: root-confined path resolution, inputs opened only when they are
//! regular files and read with bounded lines, accounts read from ROOT's own files (and as text
//! lines for checking and rewriting: `account_files`), error text without Rust's "(os error
//! N)" suffix, the copy engine, the descriptor-relative tree walk and the symlink-safe removal
//! the file applets share, extended attributes and file capabilities, mode and date
//! specifications as GNU parses them (and the times `--since` takes: `since`), the formatting
//! `ls` and `stat` share, and every way a name is quoted or escaped for output (`quoting`).
//! The running kernel, read directly so that nothing needs the loader: `/proc` and reads that
//! may block (`procfs`), the process table (`process`), memory, load and pressure (`sysinfo`),
//! what each process holds open (`open_files`) and the deleted files among it (`deleted`), the
//! mount table (`mountinfo`), `statfs` that never hangs (`statfs`), file system labels and
//! UUIDs (`superblock`), interfaces, addresses, routes and sockets (`netlink`, `sockets`), and
//! the logs (`syslog`, `journal`).
//! Programs as the loader sees them: ELF headers (`elf`) and the library search (`ld_so`).
//! Nothing here knows about dpkg or archives.

pub mod account_check;
pub mod account_files;
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
pub mod debversion;
pub mod deleted;
pub mod dirstream;
pub mod elf;
pub mod errno;
pub mod fs_status;
pub mod human;
pub mod input;
pub mod journal;
pub mod ld_so;
pub mod localtime;
pub mod login_group;
pub mod ls_colors;
pub mod mode;
pub mod mode_spec;
pub mod mountinfo;
pub mod netlink;
pub mod open_files;
pub mod parallel;
pub mod process;
pub mod procfs;
pub mod quoting;
pub mod remove;
pub mod root;
pub mod same_file;
pub mod since;
pub mod sockets;
pub mod statfs;
pub mod strftime;
pub mod superblock;
pub mod sysinfo;
pub mod syslog;
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
