//! usage: rescue sync [-f|-d] [FILE]...
//!
//! Flush file system buffers. With no FILE, `sync(2)` everything (GNU `sync`). With FILE,
//! `fsync(2)` each; `-d` uses `fdatasync(2)`; `-f` syncs each FILE's whole file system
//! (`syncfs(2)`). A FILE that cannot be opened is reported and the exit code is 1.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use clap::Parser;

use super::Exit;

use super::{complain, quote, strerror};

#[derive(Parser)]
#[command(about = "Flush file system buffers")]
pub(super) struct Args {
    /// sync only file data, no unneeded metadata
    #[arg(short = 'd', long = "data", conflicts_with = "file_system")]
    data: bool,
    /// sync the file systems that contain the files
    #[arg(short = 'f', long = "file-system")]
    file_system: bool,
    files: Vec<PathBuf>,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    if args.files.is_empty() {
        nix::unistd::sync();
        return Ok(0);
    }
    let mut status = 0;
    for path in &args.files {
        let result = File::open(path).and_then(|file| {
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
        });
        if let Err(err) = result {
            complain(
                name,
                format!("error syncing {}: {}", quote(path), strerror(&err)),
            );
            status = 1;
        }
    }
    Ok(status)
}
