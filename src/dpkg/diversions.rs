//! `diversions`: three lines per entry — the path a package ships, the path it is moved to, and
//! the diverting package (`:` for a local `dpkg-divert --local`). A file of another package
//! listed at the first path lives at the second; the diverting package's own file stays put.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::lists::{bounded_lines, fitting, MAX_LIST_LINE};
use crate::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diversion {
    pub from: PathBuf,
    pub to: PathBuf,
    /// `None` for a local diversion, which applies to every package.
    pub package: Option<String>,
}

#[derive(Debug, Default)]
pub struct Diversions {
    /// By [`super::path_key`] of `from`: every listed path of every package is looked up here.
    by_from: HashMap<Vec<u8>, Diversion>,
}

impl Diversions {
    /// Reads the file line by line; an entry cut short (line count not a multiple of three),
    /// a relative path or a line longer than a path can be is an error naming the line.
    pub fn read(file: &Path, input: impl Read) -> Result<Diversions> {
        let mut by_from = HashMap::new();
        let mut entry: Vec<Vec<u8>> = Vec::with_capacity(3);
        let mut first = 1;
        bounded_lines(file, input, MAX_LIST_LINE, |number, line| {
            let line = fitting(file, number, line, MAX_LIST_LINE)?;
            if entry.is_empty() {
                first = number;
            }
            entry.push(line.to_vec());
            if entry.len() == 3 {
                let diversion = Self::entry(file, first, &entry)?;
                by_from.insert(super::path_key(&diversion.from).into_owned(), diversion);
                entry.clear();
            }
            Ok(())
        })?;
        // One empty line is an empty file written with its newline.
        let lone_newline = first == 1 && entry.len() == 1 && entry[0].is_empty();
        if !entry.is_empty() && !lone_newline {
            return Err(Error::parse(
                file,
                Some(first),
                "entry cut short: diversions come in three lines (from, to, package)",
            ));
        }
        Ok(Diversions { by_from })
    }

    fn entry(file: &Path, first: usize, lines: &[Vec<u8>]) -> Result<Diversion> {
        let [from, to, package] = lines else {
            unreachable!("entries are three lines");
        };
        for (offset, path) in [from, to].iter().enumerate() {
            if path.first() != Some(&b'/') || path.contains(&0) {
                return Err(Error::parse(
                    file,
                    Some(first + offset),
                    "not an absolute path",
                ));
            }
        }
        let package =
            match package.as_slice() {
                b":" => None,
                name => Some(String::from_utf8(name.to_vec()).map_err(|_| {
                    Error::parse(file, Some(first + 2), "package name is not UTF-8")
                })?),
            };
        Ok(Diversion {
            from: PathBuf::from(OsStr::from_bytes(from)),
            to: PathBuf::from(OsStr::from_bytes(to)),
            package,
        })
    }

    /// [`Diversions::read`] of bytes already in memory.
    pub fn parse(file: &Path, bytes: &[u8]) -> Result<Diversions> {
        Self::read(file, bytes)
    }

    /// Where `package`'s file listed at `path` really lives, if it is diverted away.
    pub fn diverted(&self, path: &Path, package: &str) -> Option<&Diversion> {
        if self.by_from.is_empty() {
            return None;
        }
        let diversion = self.by_from.get(super::path_key(path).as_ref())?;
        match &diversion.package {
            Some(owner) if owner == package => None,
            _ => Some(diversion),
        }
    }

    /// The diversion of `path`, whoever made it (what `dpkg-divert --truename` looks at).
    pub fn get(&self, path: &Path) -> Option<&Diversion> {
        self.by_from.get(super::path_key(path).as_ref())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diversion> {
        self.by_from.values()
    }

    pub fn len(&self) -> usize {
        self.by_from.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_from.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_keeps_its_file_others_are_diverted() {
        let d = Diversions::parse(
            Path::new("diversions"),
            b"/usr/bin/a\n/usr/bin/a.real\nowner\n/etc/b\n/etc/b.local\n:\n",
        )
        .unwrap();
        assert!(d.diverted(Path::new("/usr/bin/a"), "owner").is_none());
        assert_eq!(
            d.diverted(Path::new("/usr/bin/a"), "other").unwrap().to,
            Path::new("/usr/bin/a.real")
        );
        assert!(d.diverted(Path::new("/etc/b"), "any").is_some());
    }

    #[test]
    fn cut_short_names_the_line() {
        let err = Diversions::parse(Path::new("d"), b"/a\n/b\nx\n/c\n").unwrap_err();
        assert!(err.to_string().starts_with("d:4: entry cut short"), "{err}");
        assert!(Diversions::parse(Path::new("d"), b"\n").unwrap().is_empty());
        assert!(Diversions::parse(Path::new("d"), b"").unwrap().is_empty());
        assert!(Diversions::parse(Path::new("d"), b"\n\n").is_err());
    }

    #[test]
    fn a_line_longer_than_a_path_names_its_line_not_its_content() {
        let mut bytes = b"/a\n/a.real\n:\n/".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 1 << 20));
        bytes.extend_from_slice(b"\n/b\n:\n");
        let err = Diversions::parse(Path::new("d"), &bytes).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("d:4: line of 1048577 bytes is longer than any path"),
            "{text}"
        );
        assert!(text.len() < 200, "{text}");
    }
}
