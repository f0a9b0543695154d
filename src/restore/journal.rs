//! The journal of a restore run: one line per step, written *before* the step and made durable
//! (fdatasync) before the step is taken, so a kill at any point leaves a journal that names
//! every change that may have happened. Every step's reversal is idempotent: reversing a step
//! that never happened changes nothing. `undo` reads it newest first.
//!
//! Paths are ROOT-relative absolute paths already resolved (no symlink in them), escaped so any
//! byte string survives a line-based text file: bytes outside printable ASCII, plus `%`, tab
//! and space, become `%XX`.
//!
//! Also owned here: the run directory itself ([`RunDir`]), opened without following a symlink,
//! with the journal and the `finished` and `undone` markers opened relative to it. A journal is
//! input like any other: a planted symlink or FIFO is refused, a damaged line is reported with
//! its number, and a torn last line (a kill while it was written) is told apart from a
//! damaged one.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::{Error, Result};

/// The marker a run writes after its `finished` line: the journal's length then, so a journal
/// cut afterwards (or added to) is told from one a kill left short.
pub const FINISHED: &str = "finished";
/// The marker undo writes once every step of the run is reversed.
pub const UNDONE: &str = "undone";
const JOURNAL: &str = "journal";

/// The metadata a step changed, kept so undo can set it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: i64,
    /// The raw `security.capability` of a regular file, if it had one. Written as a sixth
    /// hex field, only when present: journals of earlier versions read as before.
    pub capability: Option<Vec<u8>>,
}

/// What a step left at its path, recorded so that undo can tell the run's own work from a
/// later edit it must not destroy. Journals of earlier versions have none: undo then reverses
/// without comparing, as those versions did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// Permission bits (`& 0o7777`); not compared for symlinks.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub content: Content,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    File {
        size: u64,
        md5: String,
    },
    Symlink {
        target: PathBuf,
    },
    /// A directory or special file: never what a run stages, only what undo may find there.
    Other,
    /// An attribute step: the run set mode and owner only, whatever the node is.
    Any,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A temporary file is about to be created; undo (or the next run) removes it if present.
    Stage { temp: PathBuf },
    /// `path` held something, now preserved at `backup` (a hard link or a full copy), and is
    /// about to be replaced by `wrote`.
    Replace {
        path: PathBuf,
        backup: PathBuf,
        wrote: Option<Written>,
    },
    /// Nothing was at `path`; `wrote` is about to be put there.
    Create {
        path: PathBuf,
        wrote: Option<Written>,
    },
    /// A directory is about to be created at `path`.
    MakeDirectory { path: PathBuf },
    /// What stood at `path` (a stray directory, say) is about to move to `backup` whole.
    MoveAside { path: PathBuf, backup: PathBuf },
    /// `path`'s metadata is about to change from `old` to `new`.
    SetAttributes {
        path: PathBuf,
        old: Attributes,
        new: Option<Written>,
    },
    /// The run finished every step.
    Finished,
}

/// A journal as read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    /// Every line that reads as a step, in order, with its line number (1-based).
    pub steps: Vec<(usize, Step)>,
    /// Complete lines that are no step. Unlike a torn last line, such a line was once whole
    /// and durable, so the change it named may have been made: undo cannot be complete.
    pub unreadable: Vec<usize>,
    /// The last line has no newline: a kill while it was being written. Its step never
    /// began (steps are taken only once their line is durable), so it is ignored, even when
    /// what is left of it would parse (a path cut in half must never be acted on).
    pub torn: bool,
    /// The journal's length in bytes.
    pub bytes: u64,
}

impl Contents {
    /// Whether the run reached its end. Anything after the `finished` line is damage,
    /// which undo reports.
    pub fn finished(&self) -> bool {
        self.steps.iter().any(|(_, step)| *step == Step::Finished)
    }
}

/// A run's directory, opened with `O_NOFOLLOW`: a symlink planted in its place is refused,
/// never read or written through. The journal and the markers are opened relative to it,
/// again without following a symlink.
pub struct RunDir {
    fd: OwnedFd,
    host: PathBuf,
}

impl RunDir {
    pub fn open(host: &Path) -> Result<RunDir> {
        let c_path = c_string(host)?;
        // SAFETY: a valid NUL-terminated path; the descriptor is owned by the OwnedFd below.
        let fd = unsafe {
            libc::open(
                c_path.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            let err = io::Error::last_os_error();
            if std::fs::symlink_metadata(host).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Error::refused(
                    host,
                    "a symlink, not a run directory: not followed",
                ));
            }
            return Err(Error::io("open run directory", host, err));
        }
        Ok(RunDir {
            // SAFETY: `fd` was just returned by open(2) and nothing else owns it.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            host: host.to_path_buf(),
        })
    }

    /// The directory as the host sees it.
    pub fn host(&self) -> &Path {
        &self.host
    }

    /// Reads the journal, refusing anything but a regular file.
    pub fn read_journal(&self) -> Result<Contents> {
        let bytes = self
            .read(JOURNAL)?
            .ok_or_else(|| Error::io("open", self.host.join(JOURNAL), not_found()))?;
        Ok(parse(&bytes))
    }

    /// The content of the marker `name`, `None` when there is none.
    pub fn marker(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.read(name)
    }

    /// Creates (or rewrites) the marker `name` and makes it durable.
    pub fn set_marker(&self, name: &str, text: &[u8]) -> Result<()> {
        let path = self.host.join(name);
        let mut file = self
            .open_at(name, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644)
            .map_err(|err| self.open_error(name, err))?;
        file.write_all(text)
            .and_then(|()| file.sync_all())
            .map_err(|err| Error::io("write", &path, err))?;
        // SAFETY: the descriptor is owned by `self` for the duration of the call.
        if unsafe { libc::fsync(self.fd.as_raw_fd()) } != 0 {
            return Err(Error::io("sync", &self.host, io::Error::last_os_error()));
        }
        Ok(())
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.host.join(name);
        // O_NONBLOCK: a FIFO planted as the journal must not hang us before fstat refuses it.
        let mut file = match self.open_at(name, libc::O_RDONLY | libc::O_NONBLOCK, 0) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(self.open_error(name, err)),
        };
        let meta = file
            .metadata()
            .map_err(|err| Error::io("inspect", &path, err))?;
        if !meta.is_file() {
            return Err(Error::refused(&path, "not a regular file: not read"));
        }
        let mut bytes = Vec::with_capacity(meta.size() as usize);
        file.read_to_end(&mut bytes)
            .map_err(|err| Error::io("read", &path, err))?;
        Ok(Some(bytes))
    }

    fn open_at(&self, name: &str, flags: libc::c_int, mode: libc::mode_t) -> io::Result<File> {
        let c_name = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: a live directory descriptor and a NUL-terminated name; the new descriptor
        // is owned by the File below.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c_name.as_ptr(),
                flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                libc::c_uint::from(mode),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by openat(2) and nothing else owns it.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    fn open_error(&self, name: &str, err: io::Error) -> Error {
        let path = self.host.join(name);
        if err.raw_os_error() == Some(libc::ELOOP) {
            Error::refused(path, "a symlink: not followed")
        } else {
            Error::io("open", path, err)
        }
    }
}

pub struct Journal {
    file: File,
    path: PathBuf,
    /// Bytes durable so far: a failed write is cut back to this, so that a full disk can
    /// never leave half a line followed by later ones.
    bytes: u64,
    written: usize,
    /// Fault injection for the kill tests: `RESCUE_FAULT_KILL_AFTER=N` makes the process
    /// SIGKILL itself once N steps are durable, the harshest point a real kill can hit.
    kill_after: Option<usize>,
}

impl Journal {
    /// Creates the journal of a new run in `dir`; one already there is an error.
    pub fn create(dir: &RunDir) -> Result<Journal> {
        let path = dir.host.join(JOURNAL);
        let file = dir
            .open_at(
                JOURNAL,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_APPEND,
                0o600,
            )
            .map_err(|err| Error::io("create", &path, err))?;
        let kill_after = std::env::var("RESCUE_FAULT_KILL_AFTER")
            .ok()
            .and_then(|n| n.parse().ok());
        Ok(Journal {
            file,
            path,
            bytes: 0,
            written: 0,
            kill_after,
        })
    }

    /// Appends `step` and waits until it is on disk.
    pub fn record(&mut self, step: &Step) -> Result<()> {
        self.record_batch(std::slice::from_ref(step))
    }

    /// Appends several steps with one flush: used when a batch of renames follows.
    pub fn record_batch(&mut self, steps: &[Step]) -> Result<()> {
        let mut text = Vec::new();
        for step in steps {
            text.extend_from_slice(&encode(step));
            text.push(b'\n');
        }
        let result = self
            .file
            .write_all(&text)
            .map_err(|err| Error::io("write", &self.path, err))
            .and_then(|()| {
                self.file
                    .sync_data()
                    .map_err(|err| Error::io("sync", &self.path, err))
            });
        if let Err(err) = result {
            // None of these steps will be taken: no trace of them may stay.
            let _ = self.file.set_len(self.bytes);
            return Err(err);
        }
        self.bytes += text.len() as u64;
        self.written += steps.len();
        if self.kill_after.is_some_and(|limit| self.written >= limit) {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal's length: what the `finished` marker records.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Written {
    /// What stands at `host` now (not following a last symlink), content hashed.
    pub fn of(host: &Path) -> io::Result<Written> {
        let meta = std::fs::symlink_metadata(host)?;
        let content = if meta.is_file() {
            Content::File {
                size: meta.len(),
                md5: md5_of(host)?,
            }
        } else if meta.file_type().is_symlink() {
            Content::Symlink {
                target: std::fs::read_link(host)?,
            }
        } else {
            Content::Other
        };
        Ok(Written {
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            content,
        })
    }

    /// Whether `host` holds what `self` describes. Content is hashed only when type, owner,
    /// mode and size already agree.
    pub fn matches(&self, host: &Path) -> io::Result<bool> {
        let meta = std::fs::symlink_metadata(host)?;
        let is_symlink = meta.file_type().is_symlink();
        if (meta.uid(), meta.gid()) != (self.uid, self.gid)
            || (!is_symlink && meta.mode() & 0o7777 != self.mode)
        {
            return Ok(false);
        }
        Ok(match &self.content {
            Content::Any => true,
            Content::Other => !meta.is_file() && !is_symlink,
            Content::Symlink { target } => {
                is_symlink && std::fs::read_link(host)?.as_path() == target.as_path()
            }
            Content::File { size, md5 } => {
                meta.is_file() && meta.len() == *size && md5_of(host)?.eq_ignore_ascii_case(md5)
            }
        })
    }
}

fn md5_of(host: &Path) -> io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(host)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 1 << 17];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(crate::dpkg::digest_hex(&hasher.finalize()))
}

/// Splits a journal into steps, unreadable lines and a torn tail.
pub fn parse(bytes: &[u8]) -> Contents {
    let mut contents = Contents {
        bytes: bytes.len() as u64,
        ..Contents::default()
    };
    let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
        contents.torn = !bytes.is_empty();
        return contents;
    };
    contents.torn = end + 1 < bytes.len();
    for (index, line) in bytes[..end].split(|&b| b == b'\n').enumerate() {
        match decode(line) {
            Some(step) => contents.steps.push((index + 1, step)),
            None => contents.unreadable.push(index + 1),
        }
    }
    contents
}

fn encode(step: &Step) -> Vec<u8> {
    let mut out = Vec::new();
    let field = |text: &[u8], out: &mut Vec<u8>| {
        out.push(b'\t');
        escape_into(text, out);
    };
    let wrote_field = |wrote: &Option<Written>, out: &mut Vec<u8>| {
        if let Some(wrote) = wrote {
            field(&encode_written(wrote), out);
        }
    };
    match step {
        Step::Stage { temp } => {
            out.extend_from_slice(b"stage");
            field(temp.as_os_str().as_bytes(), &mut out);
        }
        Step::Replace {
            path,
            backup,
            wrote,
        } => {
            out.extend_from_slice(b"replace");
            field(path.as_os_str().as_bytes(), &mut out);
            field(backup.as_os_str().as_bytes(), &mut out);
            wrote_field(wrote, &mut out);
        }
        Step::Create { path, wrote } => {
            out.extend_from_slice(b"create");
            field(path.as_os_str().as_bytes(), &mut out);
            wrote_field(wrote, &mut out);
        }
        Step::MakeDirectory { path } => {
            out.extend_from_slice(b"mkdir");
            field(path.as_os_str().as_bytes(), &mut out);
        }
        Step::MoveAside { path, backup } => {
            out.extend_from_slice(b"aside");
            field(path.as_os_str().as_bytes(), &mut out);
            field(backup.as_os_str().as_bytes(), &mut out);
        }
        Step::SetAttributes { path, old, new } => {
            out.extend_from_slice(b"attrs");
            field(path.as_os_str().as_bytes(), &mut out);
            let mut values = format!(
                "{:o} {} {} {} {}",
                old.mode, old.uid, old.gid, old.mtime, old.mtime_nsec
            );
            if let Some(raw) = &old.capability {
                values.push(' ');
                values.push_str(&crate::dpkg::digest_hex(raw));
            }
            field(values.as_bytes(), &mut out);
            wrote_field(new, &mut out);
        }
        Step::Finished => out.extend_from_slice(b"finished"),
    }
    out
}

/// `file MODE UID GID SIZE MD5`, `symlink MODE UID GID TARGET` (the target last: it may hold
/// spaces), `other MODE UID GID`, `any MODE UID GID`.
fn encode_written(wrote: &Written) -> Vec<u8> {
    let kind = match &wrote.content {
        Content::File { .. } => "file",
        Content::Symlink { .. } => "symlink",
        Content::Other => "other",
        Content::Any => "any",
    };
    let mut out = format!("{kind} {:o} {} {}", wrote.mode, wrote.uid, wrote.gid).into_bytes();
    match &wrote.content {
        Content::File { size, md5 } => out.extend_from_slice(format!(" {size} {md5}").as_bytes()),
        Content::Symlink { target } => {
            out.push(b' ');
            out.extend_from_slice(target.as_os_str().as_bytes());
        }
        Content::Other | Content::Any => {}
    }
    out
}

fn decode_written(field: &[u8]) -> Option<Written> {
    let mut parts = field.splitn(5, |&b| b == b' ');
    let kind = parts.next()?;
    let number = |text: Option<&[u8]>, radix: u32| {
        u32::from_str_radix(std::str::from_utf8(text?).ok()?, radix).ok()
    };
    let mode = number(parts.next(), 8)?;
    let uid = number(parts.next(), 10)?;
    let gid = number(parts.next(), 10)?;
    let rest = parts.next();
    let content = match kind {
        b"file" => {
            let mut values = std::str::from_utf8(rest?).ok()?.split(' ');
            let size = values.next()?.parse().ok()?;
            let md5 = values.next()?;
            if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            if values.next().is_some() {
                return None;
            }
            Content::File {
                size,
                md5: md5.to_string(),
            }
        }
        b"symlink" => Content::Symlink {
            target: PathBuf::from(OsString::from_vec(rest?.to_vec())),
        },
        b"other" | b"any" if rest.is_none() => {
            if kind == b"other" {
                Content::Other
            } else {
                Content::Any
            }
        }
        _ => return None,
    };
    Some(Written {
        mode,
        uid,
        gid,
        content,
    })
}

/// One line as a step; `None` for anything else, extra fields included (two lines spliced
/// into one must not read as the first of them).
fn decode(line: &[u8]) -> Option<Step> {
    let fields: Vec<Vec<u8>> = line
        .split(|&b| b == b'\t')
        .map(|field| unescape(field).map(OsString::into_vec))
        .collect::<Option<_>>()?;
    let path = |index: usize| -> Option<PathBuf> {
        let bytes = fields.get(index)?;
        (!bytes.is_empty()).then(|| PathBuf::from(OsString::from_vec(bytes.clone())))
    };
    let optional_written = |index: usize| -> Option<Option<Written>> {
        match fields.get(index) {
            None => Some(None),
            Some(field) => decode_written(field).map(Some),
        }
    };
    let (step, count) = match fields.first()?.as_slice() {
        b"stage" => (Step::Stage { temp: path(1)? }, 2),
        b"replace" => (
            Step::Replace {
                path: path(1)?,
                backup: path(2)?,
                wrote: optional_written(3)?,
            },
            if fields.len() > 3 { 4 } else { 3 },
        ),
        b"create" => (
            Step::Create {
                path: path(1)?,
                wrote: optional_written(2)?,
            },
            if fields.len() > 2 { 3 } else { 2 },
        ),
        b"mkdir" => (Step::MakeDirectory { path: path(1)? }, 2),
        b"aside" => (
            Step::MoveAside {
                path: path(1)?,
                backup: path(2)?,
            },
            3,
        ),
        b"attrs" => (
            Step::SetAttributes {
                path: path(1)?,
                old: decode_attributes(fields.get(2)?)?,
                new: optional_written(3)?,
            },
            if fields.len() > 3 { 4 } else { 3 },
        ),
        b"finished" => (Step::Finished, 1),
        _ => return None,
    };
    (fields.len() == count).then_some(step)
}

fn decode_attributes(field: &[u8]) -> Option<Attributes> {
    let mut numbers = std::str::from_utf8(field).ok()?.split(' ');
    let old = Attributes {
        mode: u32::from_str_radix(numbers.next()?, 8).ok()?,
        uid: numbers.next()?.parse().ok()?,
        gid: numbers.next()?.parse().ok()?,
        mtime: numbers.next()?.parse().ok()?,
        mtime_nsec: numbers.next()?.parse().ok()?,
        capability: match numbers.next() {
            Some(hex) => Some(parse_hex(hex)?),
            None => None,
        },
    };
    numbers.next().is_none().then_some(old)
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    for &byte in bytes {
        if byte.is_ascii_graphic() && byte != b'%' {
            out.push(byte);
        } else {
            out.extend_from_slice(format!("%{byte:02X}").as_bytes());
        }
    }
}

fn unescape(text: &[u8]) -> Option<OsString> {
    let mut out = Vec::with_capacity(text.len());
    let mut index = 0;
    while index < text.len() {
        if text[index] == b'%' {
            let hex = std::str::from_utf8(text.get(index + 1..index + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(text[index]);
            index += 1;
        }
    }
    Some(OsString::from_vec(out))
}

fn c_string(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::io("open", path, io::Error::from_raw_os_error(libc::EINVAL)))
}

fn not_found() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn new_run_dir() -> (tempfile::TempDir, RunDir) {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        (dir, run)
    }

    #[test]
    fn steps_round_trip_with_any_bytes_in_paths() {
        let odd = PathBuf::from(OsStr::from_bytes(b"/usr/lib/a b\t%\xff\n"));
        let file = Written {
            mode: 0o4755,
            uid: 0,
            gid: 42,
            content: Content::File {
                size: 12,
                md5: "d41d8cd98f00b204e9800998ecf8427e".into(),
            },
        };
        let link = Written {
            mode: 0o777,
            uid: 0,
            gid: 0,
            content: Content::Symlink {
                target: PathBuf::from(OsStr::from_bytes(b"../a b\xfe/c")),
            },
        };
        let steps = vec![
            Step::Stage {
                temp: PathBuf::from("/usr/lib/.rescue-1"),
            },
            Step::Replace {
                path: odd.clone(),
                backup: PathBuf::from("/var/backups/rescue/r/files/x"),
                wrote: Some(file),
            },
            Step::Replace {
                path: PathBuf::from("/old/style"),
                backup: PathBuf::from("/var/backups/rescue/r/files/old/style"),
                wrote: None,
            },
            Step::Create {
                path: odd.clone(),
                wrote: Some(link),
            },
            Step::Create {
                path: PathBuf::from("/old"),
                wrote: None,
            },
            Step::MakeDirectory {
                path: PathBuf::from("/usr/lib/x86_64-linux-gnu"),
            },
            Step::MoveAside {
                path: PathBuf::from("/lib"),
                backup: PathBuf::from("/var/backups/rescue/r/files/lib"),
            },
            Step::SetAttributes {
                path: odd,
                old: Attributes {
                    mode: 0o4755,
                    uid: 0,
                    gid: 4242,
                    mtime: -5,
                    mtime_nsec: 123,
                    capability: None,
                },
                new: Some(Written {
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    content: Content::Any,
                }),
            },
            Step::SetAttributes {
                path: PathBuf::from("/usr/bin/ping"),
                old: Attributes {
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    mtime: 1,
                    mtime_nsec: 0,
                    capability: Some(vec![0, 0, 0, 2, 0, 0x20, 0, 0, 0xff]),
                },
                new: None,
            },
            Step::Finished,
        ];
        let (dir, run) = new_run_dir();
        let mut journal = Journal::create(&run).unwrap();
        journal.record_batch(&steps[..3]).unwrap();
        for step in &steps[3..] {
            journal.record(step).unwrap();
        }
        let read = run.read_journal().unwrap();
        let numbered: Vec<(usize, Step)> = steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| (i + 1, s))
            .collect();
        assert_eq!(read.steps, numbered);
        assert!(read.unreadable.is_empty() && !read.torn && read.finished());
        assert_eq!(read.bytes, journal.bytes());
        assert_eq!(
            read.bytes,
            std::fs::metadata(dir.path().join("journal")).unwrap().len()
        );
        assert!(Journal::create(&run).is_err(), "a run has one journal");
    }

    /// Lines written by the version before `Written` existed read as they always did.
    #[test]
    fn journals_of_earlier_versions_still_read() {
        let text = b"stage\t/usr/bin/.rescue-R-1\nreplace\t/usr/bin/x\t/var/backups/rescue/R/files/usr/bin/x\ncreate\t/usr/bin/y\nattrs\t/usr/bin/z\t755 0 0 1 2\nfinished\n";
        let read = parse(text);
        assert!(read.unreadable.is_empty(), "{read:?}");
        assert_eq!(read.steps.len(), 5);
        assert!(matches!(
            &read.steps[1].1,
            Step::Replace { wrote: None, .. }
        ));
    }

    #[test]
    fn a_torn_last_line_is_not_an_unreadable_line() {
        let torn = parse(b"create\t/x\ncreate\t/usr/li");
        assert_eq!(
            torn.steps,
            vec![(
                1,
                Step::Create {
                    path: PathBuf::from("/x"),
                    wrote: None
                }
            )]
        );
        assert!(torn.torn && torn.unreadable.is_empty());

        let damaged = parse(b"bogus\ncreate\t/x\n");
        assert_eq!(damaged.unreadable, vec![1]);
        assert!(!damaged.torn);
        assert_eq!(damaged.steps.len(), 1);

        // A line cut and the next one glued on: neither half is acted on.
        let spliced = parse(
            b"stage\t/usr/lreplace\t/usr/bin/x\t/var/backups/rescue/R/files/usr/bin/x\nfinished\n",
        );
        assert_eq!(spliced.unreadable, vec![1]);
        assert!(
            parse(b"create\t/x\t\n").unreadable == vec![1],
            "an empty field"
        );
        assert!(parse(b"stage\t\n").unreadable == vec![1], "an empty path");
        assert!(parse(b"create\t/x\tfile 644 0 0 1 nothex\n").unreadable == vec![1]);
        assert!(!parse(b"").torn && parse(b"").steps.is_empty());
    }

    #[test]
    fn a_symlink_fifo_or_directory_is_never_read_as_a_journal() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("journal"), "finished\n").unwrap();
        let base = tempfile::tempdir().unwrap();
        let linked = base.path().join("linked-run");
        std::os::unix::fs::symlink(outside.path(), &linked).unwrap();
        let err = RunDir::open(&linked)
            .err()
            .expect("symlinked run directory refused");
        assert!(err.to_string().contains("a symlink"), "{err}");

        let run_path = base.path().join("run");
        std::fs::create_dir(&run_path).unwrap();
        let run = RunDir::open(&run_path).unwrap();
        std::os::unix::fs::symlink(outside.path().join("journal"), run_path.join("journal"))
            .unwrap();
        let err = run.read_journal().unwrap_err();
        assert!(err.to_string().contains("a symlink"), "{err}");
        assert!(
            run.set_marker("journal", b"x").is_err(),
            "not written through"
        );
        assert_eq!(
            std::fs::read(outside.path().join("journal")).unwrap(),
            b"finished\n"
        );

        std::fs::remove_file(run_path.join("journal")).unwrap();
        nix::unistd::mkfifo(
            &run_path.join("journal"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let err = run.read_journal().unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert_eq!(run.marker(UNDONE).unwrap(), None);
        run.set_marker(UNDONE, b"").unwrap();
        assert_eq!(run.marker(UNDONE).unwrap(), Some(Vec::new()));
    }

    #[test]
    fn written_matches_type_owner_mode_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"run's").unwrap();
        let wrote = Written::of(&file).unwrap();
        assert!(matches!(wrote.content, Content::File { size: 5, .. }));
        assert!(wrote.matches(&file).unwrap());
        std::fs::write(&file, b"edit!").unwrap();
        assert!(!wrote.matches(&file).unwrap(), "same size, other content");
        let link = dir.path().join("l");
        std::os::unix::fs::symlink("f", &link).unwrap();
        assert!(!wrote.matches(&link).unwrap(), "a symlink is not the file");
        let any = Written {
            content: Content::Any,
            ..Written::of(&link).unwrap()
        };
        assert!(any.matches(&link).unwrap());
    }
}
