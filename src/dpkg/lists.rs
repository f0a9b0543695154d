//! `info/PKG.list` (every path a package owns, directories included) and `info/PKG.md5sums`
//! (`HASH  path` with the leading slash dropped). Both are read as bytes: paths need not be
//! UTF-8.
//!
//! Damage to these files is reported line by line as [`Issue`]s and the rest of the file is
//! still used: one bad line must not hide the other ten thousand paths of libc6.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{Issue, Severity};
use crate::applets::escape_bytes;
use crate::Error;

/// The paths of one `.list` file, in file order, without duplicates.
#[derive(Debug, Default)]
pub struct FileList {
    pub paths: Vec<PathBuf>,
}

/// Splits into lines, numbering from 1, reporting CRLF once per file (the CR is dropped: a
/// file edited on the wrong machine still names the right paths).
fn lines<'a>(
    file: &'a Path,
    bytes: &'a [u8],
    issues: &'a mut Vec<Issue>,
) -> impl Iterator<Item = (usize, &'a [u8])> + 'a {
    let mut warned_crlf = false;
    let ends_with_newline = bytes.last().is_none_or(|&b| b == b'\n');
    let count = bytes.split(|&b| b == b'\n').count();
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(move |(index, line)| {
            if index + 1 == count && ends_with_newline {
                return None;
            }
            let line = match line.strip_suffix(b"\r") {
                Some(stripped) => {
                    if !warned_crlf {
                        warned_crlf = true;
                        issues.push(Issue {
                            severity: Severity::Warning,
                            error: Error::parse(
                                file,
                                Some(index + 1),
                                "CRLF line ending (carriage return ignored)",
                            ),
                        });
                    }
                    stripped
                }
                None => line,
            };
            Some((index + 1, line))
        })
}

/// Parses a `.list` file. Relative or NUL-holding lines are errors (skipped); a path named
/// twice is a warning (checked once).
pub fn parse_list(file: &Path, bytes: &[u8], issues: &mut Vec<Issue>) -> FileList {
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    let mut paths = Vec::new();
    let mut local = Vec::new();
    for (number, line) in lines(file, bytes, &mut local) {
        if line.is_empty() {
            continue;
        }
        if line[0] != b'/' || line.contains(&0) {
            issues.push(Issue {
                severity: Severity::Error,
                error: Error::parse(
                    file,
                    Some(number),
                    format!("not an absolute path: '{}'", escape_bytes(line)),
                ),
            });
            continue;
        }
        if let Some(first) = seen.get(line) {
            issues.push(Issue {
                severity: Severity::Warning,
                error: Error::parse(
                    file,
                    Some(number),
                    format!("'{}' already listed on line {first}", escape_bytes(line)),
                ),
            });
            continue;
        }
        seen.insert(line, number);
        paths.push(PathBuf::from(OsStr::from_bytes(line)));
    }
    issues.append(&mut local);
    FileList { paths }
}

/// Parses a `.md5sums` file into absolute path -> digest.
pub fn parse_md5sums(
    file: &Path,
    bytes: &[u8],
    issues: &mut Vec<Issue>,
) -> HashMap<PathBuf, [u8; 16]> {
    let mut out = HashMap::new();
    let mut local = Vec::new();
    for (number, line) in lines(file, bytes, &mut local) {
        if line.is_empty() {
            continue;
        }
        let bad = |what: String| Issue {
            severity: Severity::Error,
            error: Error::parse(file, Some(number), what),
        };
        let Some(sep) = line.windows(2).position(|pair| pair == b"  ") else {
            issues.push(bad(format!(
                "expected 'MD5  path' (two spaces): '{}'",
                escape_bytes(&line[..line.len().min(80)])
            )));
            continue;
        };
        let Some(digest) = super::status::parse_md5(&line[..sep]) else {
            issues.push(bad(format!(
                "'{}' is not an MD5 digest",
                escape_bytes(&line[..sep.min(80)])
            )));
            continue;
        };
        let name = &line[sep + 2..];
        if name.is_empty() || name.contains(&0) {
            issues.push(bad("empty path".to_string()));
            continue;
        }
        let mut path = Vec::with_capacity(name.len() + 1);
        if name[0] != b'/' {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        out.insert(PathBuf::from(OsStr::from_bytes(&path)), digest);
    }
    issues.append(&mut local);
    out
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
