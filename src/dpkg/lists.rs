//! `info/PKG.list` (every path a package owns, directories included) and `info/PKG.md5sums`
//! (`HASH  path` with the leading slash dropped). Both are read as bytes: paths need not be
//! UTF-8.
//!
//! Damage to these files is reported line by line as [`Issue`]s and the rest of the file is
//! still used: one bad line must not hide the other ten thousand paths of libc6.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{Issue, Severity};
use crate::sys::input::{Line, LineReader, PATH_MAX};
use crate::sys::quoting::quote;
use crate::{Error, Result};

/// The longest line of a `.list`: a path the kernel could open (`PATH_MAX` less its NUL).
pub const MAX_LIST_LINE: usize = PATH_MAX - 1;

/// The longest line of a `.md5sums`: 32 hex digits, two spaces, a path.
pub const MAX_MD5SUMS_LINE: usize = 32 + 2 + PATH_MAX - 1;

/// Problems reported one by one per file before the rest are only counted: a hostile list of
/// two million bad lines must not become two million messages held in memory.
pub const MAX_ISSUES_PER_FILE: usize = 20;

/// The paths of one `.list` file, in file order, without duplicates.
#[derive(Debug, Default)]
pub struct FileList {
    pub paths: Vec<PathBuf>,
}

/// The issues of one file, capped at [`MAX_ISSUES_PER_FILE`]; the rest become one summary.
pub(crate) struct FileIssues<'a> {
    file: &'a Path,
    out: &'a mut Vec<Issue>,
    kept: usize,
    more: usize,
    worst_of_more: Severity,
}

impl<'a> FileIssues<'a> {
    pub(crate) fn new(file: &'a Path, out: &'a mut Vec<Issue>) -> FileIssues<'a> {
        FileIssues {
            file,
            out,
            kept: 0,
            more: 0,
            worst_of_more: Severity::Warning,
        }
    }

    pub(crate) fn push(&mut self, severity: Severity, line: usize, what: impl Into<String>) {
        if self.kept < MAX_ISSUES_PER_FILE {
            self.kept += 1;
            self.out.push(Issue {
                severity,
                error: Error::parse(self.file, Some(line), what),
            });
        } else {
            self.more += 1;
            if severity == Severity::Error {
                self.worst_of_more = Severity::Error;
            }
        }
    }
}

impl Drop for FileIssues<'_> {
    fn drop(&mut self) {
        if self.more > 0 {
            self.out.push(Issue {
                severity: self.worst_of_more,
                error: Error::parse(
                    self.file,
                    None,
                    format!("{} more problems in this file not shown", self.more),
                ),
            });
        }
    }
}

/// Reads `input` line by line, numbering from 1, and calls `each` with every line: its bytes
/// when it fits `max`, else only its length and first bytes (it may be 100 MB; it is skipped
/// without being held). `each` decides whether a long line ends the file ([`fitting`]).
pub(crate) fn bounded_lines(
    file: &Path,
    input: impl Read,
    max: usize,
    mut each: impl FnMut(usize, Line) -> Result<()>,
) -> Result<()> {
    let mut reader = LineReader::new(input, max);
    while let Some((number, line)) = reader
        .next_line()
        .map_err(|err| Error::io("read", file, err))?
    {
        each(number, line)?;
    }
    Ok(())
}

/// The bytes of a line that fits `max`, or the error naming its file and number.
pub(crate) fn fitting<'a>(
    file: &Path,
    number: usize,
    line: Line<'a>,
    max: usize,
) -> Result<&'a [u8]> {
    match line {
        Line::Text(text) => Ok(text),
        Line::TooLong { length, start } => Err(Error::parse(
            file,
            Some(number),
            too_long(length, max, start),
        )),
    }
}

/// [`bounded_lines`] for the files whose bad lines are issues, not the end of the file: a
/// too-long line is an error issue, CRLF is reported once per file (the CR is dropped: a file
/// edited on the wrong machine still names the right paths).
fn for_each_line(
    file: &Path,
    input: impl Read,
    max: usize,
    issues: &mut FileIssues,
    mut each: impl FnMut(usize, &[u8], &mut FileIssues),
) -> Result<()> {
    let mut warned_crlf = false;
    // One more byte for the CR a CRLF line may end with.
    bounded_lines(file, input, max + 1, |number, line| {
        let line = match line {
            Line::Text(line) => line,
            Line::TooLong { length, start } => {
                issues.push(Severity::Error, number, too_long(length, max, start));
                return Ok(());
            }
        };
        let line = match line.strip_suffix(b"\r") {
            Some(stripped) => {
                if !warned_crlf {
                    warned_crlf = true;
                    issues.push(
                        Severity::Warning,
                        number,
                        "CRLF line ending (carriage return ignored)",
                    );
                }
                stripped
            }
            None => line,
        };
        if line.len() > max {
            issues.push(
                Severity::Error,
                number,
                too_long(line.len() as u64, max, line),
            );
        } else {
            each(number, line, issues);
        }
        Ok(())
    })
}

/// The message for a line past the bound: its length and its first bytes only.
pub(crate) fn too_long(length: u64, max: usize, start: &[u8]) -> String {
    format!(
        "line of {length} bytes is longer than any path can be ({max} bytes); skipped (it starts {}...)",
        quote(OsStr::from_bytes(&start[..start.len().min(40)]))
    )
}

/// Reads a `.list` file. Relative, NUL-holding or too-long lines are errors (skipped); a path
/// named twice is a warning (checked once). Memory: the paths, a line, and an index per path
/// while duplicates are found.
pub fn read_list(file: &Path, input: impl Read, issues: &mut Vec<Issue>) -> Result<FileList> {
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut numbers: Vec<usize> = Vec::new();
    let mut sink = FileIssues::new(file, issues);
    for_each_line(
        file,
        input,
        MAX_LIST_LINE,
        &mut sink,
        |number, line, sink| {
            if line.is_empty() {
                return;
            }
            if line[0] != b'/' || line.contains(&0) {
                sink.push(
                    Severity::Error,
                    number,
                    format!("not an absolute path: {}", quote(OsStr::from_bytes(line))),
                );
                return;
            }
            paths.push(PathBuf::from(OsStr::from_bytes(line)));
            numbers.push(number);
        },
    )?;
    drop_duplicates(&mut paths, &numbers, &mut sink);
    Ok(FileList { paths })
}

/// Removes every repeat of a path (keeping the first, in file order), with a warning naming
/// both lines. A set of borrowed bytes costs a word or two per path, no copy of them; it
/// replaced a sort, whose comparisons of paths sharing long prefixes cost more.
fn drop_duplicates(paths: &mut Vec<PathBuf>, numbers: &[usize], issues: &mut FileIssues) {
    let mut first: HashMap<&[u8], usize> = HashMap::with_capacity(paths.len());
    // (repeat, first occurrence), for every path after the first of its bytes.
    let mut repeats: Vec<(usize, usize)> = Vec::new();
    for (at, path) in paths.iter().enumerate() {
        match first.entry(path.as_os_str().as_bytes()) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(at);
            }
            std::collections::hash_map::Entry::Occupied(slot) => repeats.push((at, *slot.get())),
        }
    }
    drop(first);
    if repeats.is_empty() {
        return;
    }
    repeats.sort_unstable();
    for &(repeat, first) in &repeats {
        issues.push(
            Severity::Warning,
            numbers[repeat],
            format!(
                "{} already listed on line {}",
                quote(&paths[repeat]),
                numbers[first]
            ),
        );
    }
    let mut drop = repeats.iter().map(|&(repeat, _)| repeat).peekable();
    let mut index = 0;
    paths.retain(|_| {
        let gone = drop.peek() == Some(&index);
        if gone {
            drop.next();
        }
        index += 1;
        !gone
    });
}

/// [`read_list`] of bytes already in memory.
pub fn parse_list(file: &Path, bytes: &[u8], issues: &mut Vec<Issue>) -> FileList {
    read_list(file, bytes, issues).unwrap_or_default()
}

/// Reads a `.md5sums` file into absolute path -> digest.
pub fn read_md5sums(
    file: &Path,
    input: impl Read,
    issues: &mut Vec<Issue>,
) -> Result<HashMap<PathBuf, [u8; 16]>> {
    let mut out = HashMap::new();
    for_each_md5sum(file, input, issues, |path, digest| {
        out.insert(PathBuf::from(OsStr::from_bytes(path)), digest);
    })?;
    Ok(out)
}

/// Streams a `.md5sums` file: `each` gets every good line's absolute path (the leading slash
/// added where the file drops it) and digest, in file order, without a map being built.
pub fn for_each_md5sum(
    file: &Path,
    input: impl Read,
    issues: &mut Vec<Issue>,
    mut each: impl FnMut(&[u8], [u8; 16]),
) -> Result<()> {
    let mut sink = FileIssues::new(file, issues);
    let mut path = Vec::new();
    for_each_line(
        file,
        input,
        MAX_MD5SUMS_LINE,
        &mut sink,
        |number, line, sink| {
            if line.is_empty() {
                return;
            }
            // The usual line: 32 hex digits (no spaces, so no earlier pair) and two spaces.
            let usual = line.get(32..34) == Some(b"  ".as_slice())
                && line[..32].iter().all(u8::is_ascii_hexdigit);
            let found = if usual {
                Some(32)
            } else {
                line.windows(2).position(|pair| pair == b"  ")
            };
            let Some(sep) = found else {
                sink.push(
                    Severity::Error,
                    number,
                    format!(
                        "expected 'MD5  path' (two spaces): {}",
                        quote(OsStr::from_bytes(&line[..line.len().min(80)]))
                    ),
                );
                return;
            };
            let Some(digest) = super::status::parse_md5(&line[..sep]) else {
                sink.push(
                    Severity::Error,
                    number,
                    format!(
                        "{} is not an MD5 digest",
                        quote(OsStr::from_bytes(&line[..sep.min(80)]))
                    ),
                );
                return;
            };
            let name = &line[sep + 2..];
            if name.is_empty() || name.contains(&0) {
                sink.push(Severity::Error, number, "empty path");
                return;
            }
            path.clear();
            if name[0] != b'/' {
                path.push(b'/');
            }
            path.extend_from_slice(name);
            each(&path, digest);
        },
    )
}

/// [`read_md5sums`] of bytes already in memory.
pub fn parse_md5sums(
    file: &Path,
    bytes: &[u8],
    issues: &mut Vec<Issue>,
) -> HashMap<PathBuf, [u8; 16]> {
    read_md5sums(file, bytes, issues).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_crlf_are_warnings() {
        let mut issues = Vec::new();
        let list = parse_list(Path::new("x.list"), b"/.\r\n/a\r\n/a\r\n", &mut issues);
        assert_eq!(list.paths, [Path::new("/."), Path::new("/a")]);
        let text: Vec<String> = issues.iter().map(|i| i.error.to_string()).collect();
        assert!(text.contains(&"x.list:3: '/a' already listed on line 2".to_string()));
        assert!(text.contains(&"x.list:1: CRLF line ending (carriage return ignored)".to_string()));
    }

    #[test]
    fn md5sums_line_without_two_spaces() {
        let mut issues = Vec::new();
        let sums = parse_md5sums(
            Path::new("x.md5sums"),
            b"d41d8cd98f00b204e9800998ecf8427e  usr/a\nd41d8cd98f00b204e9800998ecf8427e usr/b\n",
            &mut issues,
        );
        assert!(sums.contains_key(Path::new("/usr/a")));
        assert_eq!(sums.len(), 1);
        assert_eq!(issues.len(), 1);
        assert!(issues[0]
            .error
            .to_string()
            .starts_with("x.md5sums:2: expected"));
    }
}
