//! The journal of a restore run: one line per step, written *before* the step and made durable
//! (fdatasync) before the step is taken, so a kill at any point leaves a journal that names
//! every change that may have happened. Every step's reversal is idempotent: reversing a step
//! that never happened changes nothing. `undo` reads it newest first.
//!
//! Paths are ROOT-relative absolute paths already resolved (no symlink in them), escaped so any
//! byte string survives a line-based text file: bytes outside printable ASCII, plus `%`, tab
//! and space, become `%XX`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

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

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A temporary file is about to be created; undo (or the next run) removes it if present.
    Stage { temp: PathBuf },
    /// `path` held something, now preserved at `backup` (a hard link or a full copy), and is
    /// about to be replaced.
    Replace { path: PathBuf, backup: PathBuf },
    /// Nothing was at `path`; something is about to be put there.
    Create { path: PathBuf },
    /// A directory is about to be created at `path`.
    MakeDirectory { path: PathBuf },
    /// What stood at `path` (a stray directory, say) is about to move to `backup` whole.
    MoveAside { path: PathBuf, backup: PathBuf },
    /// `path`'s metadata is about to change; these were the old values.
    SetAttributes { path: PathBuf, old: Attributes },
    /// The run finished every step.
    Finished,
}

pub struct Journal {
    file: File,
    path: PathBuf,
    written: usize,
    /// Fault injection for the kill tests: `RESCUE_FAULT_KILL_AFTER=N` makes the process
    /// SIGKILL itself once N steps are durable, the harshest point a real kill can hit.
    kill_after: Option<usize>,
}

impl Journal {
    pub fn create(path: &Path) -> Result<Journal> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
            .map_err(|err| Error::io("create", path, err))?;
        let kill_after = std::env::var("RESCUE_FAULT_KILL_AFTER")
            .ok()
            .and_then(|n| n.parse().ok());
        Ok(Journal {
            file,
            path: path.to_path_buf(),
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
        self.file
            .write_all(&text)
            .map_err(|err| Error::io("write", &self.path, err))?;
        self.file
            .sync_data()
            .map_err(|err| Error::io("sync", &self.path, err))?;
        self.written += steps.len();
        if self.kill_after.is_some_and(|limit| self.written >= limit) {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads a journal. A last line without its newline was cut short by a kill: its step never
/// began (steps are taken only after their line is durable), so it is ignored, even when what
/// is left of it would parse (a path cut in half must never be acted on).
pub fn read(path: &Path) -> Result<Vec<Step>> {
    let bytes = std::fs::read(path).map_err(|err| Error::io("read", path, err))?;
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(end) => &bytes[..end],
        None => return Ok(Vec::new()),
    };
    complete
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(index, line)| {
            decode(line).ok_or_else(|| Error::parse(path, Some(index + 1), "not a journal step"))
        })
        .collect()
}

fn encode(step: &Step) -> Vec<u8> {
    let mut out = Vec::new();
    let field = |text: &[u8], out: &mut Vec<u8>| {
        out.push(b'\t');
        escape_into(text, out);
    };
    match step {
        Step::Stage { temp } => {
            out.extend_from_slice(b"stage");
            field(temp.as_os_str().as_bytes(), &mut out);
        }
        Step::Replace { path, backup } => {
            out.extend_from_slice(b"replace");
            field(path.as_os_str().as_bytes(), &mut out);
            field(backup.as_os_str().as_bytes(), &mut out);
        }
        Step::Create { path } => {
            out.extend_from_slice(b"create");
            field(path.as_os_str().as_bytes(), &mut out);
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
        Step::SetAttributes { path, old } => {
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
        }
        Step::Finished => out.extend_from_slice(b"finished"),
    }
    out
}

fn decode(line: &[u8]) -> Option<Step> {
    let mut fields = line.split(|&b| b == b'\t');
    let kind = fields.next()?;
    let mut path = || fields.next().and_then(unescape).map(PathBuf::from);
    let step = match kind {
        b"stage" => Step::Stage { temp: path()? },
        b"replace" => Step::Replace {
            path: path()?,
            backup: path()?,
        },
        b"create" => Step::Create { path: path()? },
        b"mkdir" => Step::MakeDirectory { path: path()? },
        b"aside" => Step::MoveAside {
            path: path()?,
            backup: path()?,
        },
        b"attrs" => {
            let target = path()?;
            let values = path()?;
            let values = values.to_str()?;
            let mut numbers = values.split(' ');
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
            if numbers.next().is_some() {
                return None;
            }
            Step::SetAttributes { path: target, old }
        }
        b"finished" => Step::Finished,
        _ => return None,
    };
    Some(step)
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

fn unescape(text: &[u8]) -> Option<std::ffi::OsString> {
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
    Some(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn steps_round_trip_with_any_bytes_in_paths() {
        let odd = PathBuf::from(OsStr::from_bytes(b"/usr/lib/a b\t%\xff\n"));
        let steps = vec![
            Step::Stage {
                temp: PathBuf::from("/usr/lib/.rescue-1"),
            },
            Step::Replace {
                path: odd.clone(),
                backup: PathBuf::from("/var/backups/rescue/r/files/x"),
            },
            Step::Create { path: odd.clone() },
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
            },
            Step::Finished,
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let mut journal = Journal::create(&path).unwrap();
        journal.record_batch(&steps[..3]).unwrap();
        for step in &steps[3..] {
            journal.record(step).unwrap();
        }
        assert_eq!(read(&path).unwrap(), steps);
    }

    #[test]
    fn a_torn_last_line_is_ignored_but_a_torn_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        std::fs::write(&path, "create\t/x\ncreate\t/usr/li").unwrap();
        assert_eq!(
            read(&path).unwrap(),
            vec![Step::Create {
                path: PathBuf::from("/x")
            }]
        );
        std::fs::write(&path, "bogus\ncreate\t/x\n").unwrap();
        assert!(read(&path).is_err());
    }
}
