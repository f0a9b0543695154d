//! `diversions`: three lines per entry — the path a package ships, the path it is moved to, and
//! the diverting package (`:` for a local `dpkg-divert --local`). A file of another package
//! listed at the first path lives at the second; the diverting package's own file stays put.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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
    by_from: HashMap<PathBuf, Diversion>,
}

impl Diversions {
    /// Parses the file; an entry cut short (line count not a multiple of three) or a relative
    /// path is an error naming the line.
    pub fn parse(file: &Path, bytes: &[u8]) -> Result<Diversions> {
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let mut by_from = HashMap::new();
        if body.is_empty() {
            return Ok(Diversions { by_from });
        }
        let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
        for (entry, chunk) in lines.chunks(3).enumerate() {
            let first = entry * 3 + 1;
            let [from, to, package] = chunk else {
                return Err(Error::parse(
                    file,
                    Some(first),
                    "entry cut short: diversions come in three lines (from, to, package)",
                ));
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
            let package = match *package {
                b":" => None,
                name => Some(String::from_utf8(name.to_vec()).map_err(|_| {
                    Error::parse(file, Some(first + 2), "package name is not UTF-8")
                })?),
            };
            let from = PathBuf::from(OsStr::from_bytes(from));
            by_from.insert(
                from.clone(),
                Diversion {
                    from,
                    to: PathBuf::from(OsStr::from_bytes(to)),
                    package,
                },
            );
        }
        Ok(Diversions { by_from })
    }

    /// Where `package`'s file listed at `path` really lives, if it is diverted away.
    pub fn diverted(&self, path: &Path, package: &str) -> Option<&Diversion> {
        let diversion = self.by_from.get(path)?;
        match &diversion.package {
            Some(owner) if owner == package => None,
            _ => Some(diversion),
        }
    }

    /// The diversion of `path`, whoever made it (what `dpkg-divert --truename` looks at).
    pub fn get(&self, path: &Path) -> Option<&Diversion> {
        self.by_from.get(path)
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
    }
}
