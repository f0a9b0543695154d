//! The bytes of one regular file into an open destination, for the copy engine: clones
//! (`FICLONE`), `copy_file_range`, holes kept (`SEEK_DATA`/`SEEK_HOLE`) or made (`--sparse=
//! always`), and plain read/write. Holes are only ever made in a regular destination: a pipe
//! or a device gets every byte, zeros included, and no seek or truncate.
//!
//! It owns no names and says nothing: errors come back with the side (source or destination)
//! that failed, and the engine words them.

use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};

/// `--sparse=WHEN`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sparse {
    /// Holes of a sparse source stay holes; nothing else becomes one.
    #[default]
    Auto,
    /// Every run of zero blocks becomes a hole.
    Always,
    /// Every byte is written.
    Never,
}

/// `--reflink[=WHEN]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reflink {
    /// Clone when the file system can, else copy.
    #[default]
    Auto,
    /// Clone or fail.
    Always,
    /// Never share blocks: neither a clone nor `copy_file_range`.
    Never,
}

/// Which file an I/O error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Read,
    Write,
}

/// Shares `input`'s blocks with `output` (`FICLONE`, btrfs and XFS): the whole file or nothing.
pub fn clone_file(input: &File, output: &File) -> io::Result<()> {
    const FICLONE: libc::c_ulong = 0x4004_9409;
    // SAFETY: both descriptors are open for the duration; FICLONE takes the source fd by value.
    let rc = unsafe { libc::ioctl(output.as_raw_fd(), FICLONE as _, input.as_raw_fd()) };
    super::check(rc)
}

/// Copies every byte of `input` (at offset 0) into `output` (empty, at offset 0).
pub fn copy_contents(
    input: &mut File,
    output: &mut File,
    src: &Metadata,
    dest_regular: bool,
    sparse: Sparse,
    reflink: Reflink,
) -> Result<(), (io::Error, Side)> {
    let regular = src.file_type().is_file();
    let size = src.size();
    let sparse_source = regular && size > 0 && src.blocks().saturating_mul(512) < size;
    let make_holes =
        dest_regular && (sparse == Sparse::Always || (sparse == Sparse::Auto && sparse_source));
    let hole_size = output
        .metadata()
        .map(|m| m.blksize().max(512))
        .unwrap_or(4096);
    if make_holes && sparse_source {
        match copy_extents(input, output, size, sparse, hole_size) {
            Ok(()) => return Ok(()),
            Err(Fallback::Unsupported) => {}
            Err(Fallback::Failed(err, side)) => return Err((err, side)),
        }
    }
    if make_holes {
        let end = write_sparse(input, output, 0, u64::MAX, hole_size)?;
        return output.set_len(end).map_err(|err| (err, Side::Write));
    }
    if regular && size > 0 && reflink != Reflink::Never {
        match copy_range(input, output, 0, u64::MAX) {
            Ok(_) => return Ok(()),
            Err(Fallback::Unsupported) => {}
            Err(Fallback::Failed(err, side)) => return Err((err, side)),
        }
    }
    read_write(input, output)
}

enum Fallback {
    Unsupported,
    Failed(io::Error, Side),
}

/// The data extents of a sparse source, each at its own offset; the holes between them are
/// left unwritten and the length set at the end. Only for a regular destination.
fn copy_extents(
    input: &mut File,
    output: &mut File,
    size: u64,
    sparse: Sparse,
    hole_size: u64,
) -> Result<(), Fallback> {
    let fd = input.as_raw_fd();
    let mut pos: i64 = 0;
    while (pos as u64) < size {
        // SAFETY: lseek on a descriptor we own.
        let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if data < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENXIO) => break,
                Some(libc::EINVAL | libc::ENOTSUP) if pos == 0 => {
                    return Err(Fallback::Unsupported)
                }
                _ => return Err(Fallback::Failed(err, Side::Read)),
            }
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(Fallback::Failed(io::Error::last_os_error(), Side::Read));
        }
        let len = (hole - data) as u64;
        if sparse == Sparse::Always {
            write_sparse(input, output, data as u64, len, hole_size)
                .map_err(|(err, side)| Fallback::Failed(err, side))?;
        } else {
            match copy_range(input, output, data as u64, len) {
                Ok(_) => {}
                Err(Fallback::Unsupported) => pread_pwrite(input, output, data as u64, len)?,
                Err(failed) => return Err(failed),
            }
        }
        pos = hole;
    }
    // The tail hole, if any, exists only as the file's length.
    output
        .set_len(size)
        .map_err(|err| Fallback::Failed(err, Side::Write))
}

/// `copy_file_range` from `start` for `len` bytes (or to end of file); `Unsupported` when the
/// kernel or the pair of files cannot, before anything was copied.
fn copy_range(input: &File, output: &File, start: u64, len: u64) -> Result<u64, Fallback> {
    let mut off_in = start as i64;
    let mut off_out = start as i64;
    let mut done: u64 = 0;
    while done < len {
        let chunk = (len - done).min(1 << 30) as usize;
        // SAFETY: descriptors we own; offsets are ours; no user memory is passed.
        let n = unsafe {
            libc::syscall(
                libc::SYS_copy_file_range,
                input.as_raw_fd(),
                &mut off_in as *mut i64,
                output.as_raw_fd(),
                &mut off_out as *mut i64,
                chunk,
                0u32,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            let fallback = matches!(
                err.raw_os_error(),
                Some(
                    libc::ENOSYS
                        | libc::EXDEV
                        | libc::EINVAL
                        | libc::EOPNOTSUPP
                        | libc::EPERM
                        | libc::EBADF
                )
            );
            if fallback && done == 0 {
                return Err(Fallback::Unsupported);
            }
            return Err(Fallback::Failed(err, Side::Write));
        }
        if n == 0 {
            // Some pseudo files report a size but copy_file_range gives nothing: read them.
            if done == 0 && len == u64::MAX {
                return Err(Fallback::Unsupported);
            }
            break;
        }
        done += n as u64;
    }
    Ok(done)
}

fn pread_pwrite(input: &File, output: &File, start: u64, len: u64) -> Result<(), Fallback> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut pos = start;
    let end = start.saturating_add(len);
    while pos < end {
        let want = ((end - pos) as usize).min(buf.len());
        let n = match input.read_at(&mut buf[..want], pos) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Fallback::Failed(err, Side::Read)),
        };
        output
            .write_all_at(&buf[..n], pos)
            .map_err(|err| Fallback::Failed(err, Side::Write))?;
        pos += n as u64;
    }
    Ok(())
}

/// Copies `len` bytes from `start` (to end of file for `u64::MAX`), leaving every all-zero
/// block of `hole_size` unwritten. Returns where the data ended; the caller sets the length.
fn write_sparse(
    input: &File,
    output: &File,
    start: u64,
    len: u64,
    hole_size: u64,
) -> Result<u64, (io::Error, Side)> {
    let block = hole_size as usize;
    let mut buf = vec![0u8; block * (128 * 1024 / block).max(1)];
    let mut pos = start;
    let end = start.saturating_add(len);
    while pos < end {
        let want = ((end - pos).min(buf.len() as u64)) as usize;
        let n = match input.read_at(&mut buf[..want], pos) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err((err, Side::Read)),
        };
        for (i, piece) in buf[..n].chunks(block).enumerate() {
            if piece.iter().all(|&b| b == 0) {
                continue;
            }
            let at = pos + (i * block) as u64;
            output
                .write_all_at(piece, at)
                .map_err(|err| (err, Side::Write))?;
        }
        pos += n as u64;
    }
    Ok(pos)
}

fn read_write(input: &mut File, output: &mut File) -> Result<(), (io::Error, Side)> {
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err((err, Side::Read)),
        };
        output
            .write_all(&buf[..n])
            .map_err(|err| (err, Side::Write))?;
    }
}
