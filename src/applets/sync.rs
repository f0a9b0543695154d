//! usage: rescue sync [-f|-d] [FILE]...
//!
//! Flush file system buffers. With no FILE, `sync(2)` everything (GNU `sync`). With FILE,
//! `fsync(2)` each; `-d` uses `fdatasync(2)`; `-f` syncs each FILE's whole file system
//! (`syncfs(2)`). A FILE that cannot be opened is reported and the exit code is 1. A FIFO
//! is opened without waiting for a writer; a write-only file is opened for writing.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::Exit;

use super::{complain, quote, strerror};

#[derive(Parser)]
#[command(about = "Flush file system buffers")]
pub(super) struct Args {
    /// sync only file data, no unneeded metadata
    #[arg(short = 'd', long = "data")]
    data: bool,
    /// sync the file systems that contain the files
    #[arg(short = 'f', long = "file-system")]
    file_system: bool,
    files: Vec<PathBuf>,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    if args.data && args.file_system {
        return Err(Exit::failed(
            1,
            "cannot specify both --data and --file-system",
        ));
    }
    if args.data && args.files.is_empty() {
        return Err(Exit::failed(1, "--data needs at least one argument"));
    }
    if args.files.is_empty() {
        nix::unistd::sync();
        return Ok(0);
    }
    let mut status = 0;
    for path in &args.files {
        match open_for_sync(path, args.file_system) {
            Err(err) => {
                let shown = quote(path);
                complain(name, format!("error opening {shown}: {}", strerror(&err)));
                status = 1;
            }
            Ok(file) => {
                if let Err(err) = sync_one(&file, &args) {
                    let shown = quote(path);
                    complain(name, format!("error syncing {shown}: {}", strerror(&err)));
                    status = 1;
                }
            }
        }
    }
    Ok(status)
}

/// Opens without blocking on a FIFO, and write-only when reading is not allowed (a file with
/// mode 0200 can still be synced); the error reported is the one for reading, as GNU.
fn open_for_sync(path: &Path, file_system: bool) -> std::io::Result<File> {
    let open = |write: bool| {
        OpenOptions::new()
            .read(!write)
            .write(write)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
    };
    let file = match open(false) {
        Ok(file) => file,
        Err(err) if file_system => return Err(err),
        Err(err) => open(true).map_err(|_| err)?,
    };
    // Back to blocking for the sync itself.
    let fd = file.as_raw_fd();
    // SAFETY: fd is owned by `file`, open for both calls.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

fn sync_one(file: &File, args: &Args) -> std::io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fd is owned by `file`, open for the whole call.
    let rc = unsafe {
        if args.file_system {
            libc::syncfs(fd)
        } else if args.data {
            libc::fdatasync(fd)
        } else {
            libc::fsync(fd)
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
