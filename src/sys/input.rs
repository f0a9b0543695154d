//! How every input is opened and read: the dpkg database, ROOT's account files, the digest
//! cache, apt's indexes and sources, debconf's answers, archives. A root of unknown state may
//! hold anything at those names, so:
//!
//! - the path is resolved first (inside ROOT by [`crate::sys::root::Root::open_regular`], or
//!   as the kernel does for a host path such as `--admindir`), then opened with `O_NOFOLLOW`
//!   when its last component must not be a symlink;
//! - nothing but a regular file is opened at all: the type is taken with `lstat` first (opening
//!   a device can have effects: a watchdog arms, a tape rewinds), then the file is opened with
//!   `O_NONBLOCK` (a FIFO planted at `status` after that look must not hang the rescue) and
//!   `fstat` must show the same regular file; `O_NONBLOCK` is cleared before reading;
//! - lines are read with a bound ([`LineReader`]): one hostile 100 MB line costs a counter and
//!   the first bytes, never 100 MB, and is reported by number;
//! - a file read whole is read up to a limit ([`read_at_most`]).
//!
//! What this module does not decide: what a too-long line or an oversized file means. Each
//! reader says that (an error naming the line for the database, a skipped line for accounts).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, Mode};

use super::root::Last;

/// The kernel's `PATH_MAX`, terminating NUL included: no path the kernel accepts is longer
/// than `PATH_MAX - 1` bytes, so no line of a file list needs more.
pub const PATH_MAX: usize = libc::PATH_MAX as usize;

/// What stands at a path, from its `st_mode`, for the message that refuses it.
fn kind_of(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => "a directory",
        libc::S_IFLNK => "a symbolic link",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFSOCK => "a socket",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        _ => "of unknown type",
    }
}

fn check_regular(mode: libc::mode_t) -> io::Result<()> {
    if mode & libc::S_IFMT == libc::S_IFREG {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file ({}): refused", kind_of(mode)),
    ))
}

/// Opens `path` for reading if, and only if, it is a regular file. `Last::NoFollow` refuses a
/// symlink at the last component (the caller resolved the path already); `Last::Follow` lets
/// the kernel follow it (a host path the operator named). The error for anything else says
/// what stands there; ENOENT stays ENOENT so callers can treat absence as an answer.
pub fn open_regular(path: &Path, last: Last) -> io::Result<File> {
    open_regular_at(None, path, last)
}

/// [`open_regular`] relative to an open directory (`None`: the working directory), for files
/// whose directory was opened once and checked (the digest cache's).
pub fn open_regular_at(dir: Option<&File>, path: &Path, last: Last) -> io::Result<File> {
    let dirfd = dir.map(AsRawFd::as_raw_fd);
    let nofollow = match last {
        Last::Follow => AtFlags::empty(),
        Last::NoFollow => AtFlags::AT_SYMLINK_NOFOLLOW,
    };
    let before = fstatat(dirfd, path, nofollow).map_err(io::Error::from)?;
    check_regular(before.st_mode)?;
    let mut flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    if last == Last::NoFollow {
        flags |= OFlag::O_NOFOLLOW;
    }
    let fd = openat(dirfd, path, flags, Mode::empty()).map_err(io::Error::from)?;
    // SAFETY: `openat` just returned this descriptor and nothing else owns it.
    let file = unsafe { File::from_raw_fd(fd) };
    let after = file.metadata()?;
    check_regular(after.mode())?;
    if (after.dev(), after.ino()) != (before.st_dev, before.st_ino) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "replaced while it was opened: refused",
        ));
    }
    clear_nonblock(&file)?;
    Ok(file)
}

/// Reads of a regular file never block, but a reader handed this descriptor later (a pipe
/// after a `dup2`, say) must see ordinary blocking semantics.
fn clear_nonblock(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Everything `input` holds, or an error once it holds more than `limit` bytes (only
/// `limit + 1` bytes are ever buffered).
pub fn read_at_most(input: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    input.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes: not read"),
        ));
    }
    Ok(out)
}

/// One line from a [`LineReader`], without its `\n`.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    Text(&'a [u8]),
    /// Longer than the bound: only its length and its first bytes are known.
    TooLong {
        length: u64,
        start: &'a [u8],
    },
}

/// How much of a too-long line is kept for the message that reports it.
const START_KEPT: usize = 40;

/// Lines of at most `max` bytes; a longer one is skipped to its end and reported as
/// [`Line::TooLong`]. Memory is the buffer plus `max`, whatever the input holds. The last line
/// need not end with `\n`; an empty input has no lines, `"\n"` has one empty line.
pub struct LineReader<R> {
    input: BufReader<R>,
    max: usize,
    line: Vec<u8>,
    number: usize,
}

impl<R: Read> LineReader<R> {
    pub fn new(input: R, max: usize) -> LineReader<R> {
        LineReader {
            input: BufReader::with_capacity(64 << 10, input),
            max,
            line: Vec::new(),
            number: 0,
        }
    }

    /// The next line and its number (from 1), or `None` at the end of the input.
    pub fn next_line(&mut self) -> io::Result<Option<(usize, Line<'_>)>> {
        self.line.clear();
        let mut length: u64 = 0;
        let mut any = false;
        loop {
            let buf = match self.input.fill_buf() {
                Ok(buf) => buf,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            if buf.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (piece, used, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(at) => (&buf[..at], at + 1, true),
                None => (buf, buf.len(), false),
            };
            length += piece.len() as u64;
            let room = self.max.saturating_sub(self.line.len());
            self.line.extend_from_slice(&piece[..piece.len().min(room)]);
            self.input.consume(used);
            if done {
                break;
            }
        }
        self.number += 1;
        let line = if length > self.max as u64 {
            Line::TooLong {
                length,
                start: &self.line[..self.line.len().min(START_KEPT)],
            }
        } else {
            Line::Text(&self.line)
        };
        Ok(Some((self.number, line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn all(input: &[u8], max: usize) -> Vec<(usize, String)> {
        let mut reader = LineReader::new(input, max);
        let mut out = Vec::new();
        while let Some((number, line)) = reader.next_line().unwrap() {
            let text = match line {
                Line::Text(text) => String::from_utf8_lossy(text).into_owned(),
                Line::TooLong { length, start } => {
                    format!("too long {length} {}", String::from_utf8_lossy(start))
                }
            };
            out.push((number, text));
        }
        out
    }

    #[test]
    fn lines_are_numbered_and_the_last_needs_no_newline() {
        assert_eq!(all(b"", 10), []);
        assert_eq!(all(b"\n", 10), [(1, String::new())]);
        assert_eq!(
            all(b"a\n\nb", 10),
            [(1, "a".into()), (2, String::new()), (3, "b".into())]
        );
    }

    #[test]
    fn a_long_line_is_skipped_whole_and_reading_goes_on() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 200_000));
        input.extend_from_slice(b"\nafter\n");
        let lines = all(&input, 4096);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1], (2, format!("too long 200000 {}", "x".repeat(40))));
        assert_eq!(lines[2], (3, "after".into()));
        // Exactly the bound is still a line.
        assert_eq!(all(b"abcd\n", 4), [(1, "abcd".into())]);
        assert_eq!(all(b"abcde", 4), [(1, "too long 5 abcd".into())]);
    }

    #[test]
    fn only_regular_files_open() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"data").unwrap();
        let mut text = String::new();
        open_regular(&file, Last::NoFollow)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "data");

        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = open_regular(&fifo, Last::Follow).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file (a FIFO): refused");

        let link = dir.path().join("link");
        symlink(&file, &link).unwrap();
        let err = open_regular(&link, Last::NoFollow).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a regular file (a symbolic link): refused"
        );
        assert!(open_regular(&link, Last::Follow).is_ok());

        let err = open_regular(dir.path(), Last::NoFollow).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
        let err = open_regular(&dir.path().join("gone"), Last::NoFollow).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn read_at_most_stops_past_the_limit() {
        assert_eq!(read_at_most(&b"abc"[..], 3).unwrap(), b"abc");
        assert!(read_at_most(&b"abcd"[..], 3).is_err());
    }
}
