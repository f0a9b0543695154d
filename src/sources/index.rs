//! Packages indexes (`dists/SUITE/COMP/binary-ARCH/Packages{,.gz,.xz,.lz4}` and apt's copies
//! in `var/lib/apt/lists`): which file holds each (package, version, architecture) and the
//! SHA256 it must have. apt verified ROOT's copies against the signed Release file when it
//! fetched them; that is what makes their hashes worth trusting.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::sys::input::{Line, LineReader};
use crate::{Error, Result};

/// One paragraph of a Packages index, reduced to what finding and trusting an archive needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// Relative to the mirror's root (`pool/main/c/coreutils/coreutils_9.1-1_amd64.deb`).
    pub filename: String,
    pub sha256: String,
    pub size: u64,
}

/// (package, version, architecture)
pub type Key = (String, String, String);

#[derive(Debug, Default)]
pub struct Index {
    entries: HashMap<Key, IndexEntry>,
    /// Where each entry came from, for the plan's "trusted because" line.
    origin: HashMap<Key, String>,
}

impl Index {
    pub fn get(
        &self,
        package: &str,
        version: &str,
        architecture: &str,
    ) -> Option<(&IndexEntry, &str)> {
        let key = (
            package.to_string(),
            version.to_string(),
            architecture.to_string(),
        );
        let entry = self.entries.get(&key)?;
        Some((
            entry,
            self.origin.get(&key).map(String::as_str).unwrap_or(""),
        ))
    }

    /// Every version of `package` for `architecture` (or `all`) this index knows.
    pub fn versions_of(&self, package: &str, architecture: &str) -> Vec<&IndexEntry> {
        self.entries
            .values()
            .filter(|e| {
                e.package == package && (e.architecture == architecture || e.architecture == "all")
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds the entries of one index file (a host path: a mirror's) whose package `wanted`
    /// accepts. Only a regular file is read.
    pub fn add_file(&mut self, path: &Path, wanted: &dyn Fn(&str) -> bool) -> Result<()> {
        let file = crate::sys::input::open_regular(path, crate::sys::root::Last::Follow)
            .map_err(|err| Error::io("open", path, err))?;
        self.add_opened(path, file, wanted)
    }

    /// [`Index::add_file`] of a file the caller opened (inside ROOT); `path` names it.
    pub fn add_opened(
        &mut self,
        path: &Path,
        file: std::fs::File,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<()> {
        self.add_reader(path, decoder_for(path, file)?, wanted)
    }

    /// Adds entries from an index already opened (an HTTP body, say); `name` is for messages
    /// and tells the compression by its extension.
    pub fn add_reader(
        &mut self,
        name: &Path,
        input: Box<dyn Read + '_>,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<()> {
        let origin = crate::sys::quoting::escape(name);
        for entry in parse(name, input, wanted)? {
            let key = (
                entry.package.clone(),
                entry.version.clone(),
                entry.architecture.clone(),
            );
            self.origin
                .entry(key.clone())
                .or_insert_with(|| origin.clone());
            self.entries.entry(key).or_insert(entry);
        }
        Ok(())
    }
}

/// The decompressing reader an index file's extension calls for.
pub fn decoder_for<'a>(name: &Path, input: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let extension = name.extension().and_then(|e| e.to_str()).unwrap_or("");
    Ok(match extension {
        "gz" => Box::new(flate2::read::MultiGzDecoder::new(input)),
        "xz" => Box::new(xz2::read::XzDecoder::new_multi_decoder(input)),
        "lz4" => Box::new(lz4_flex::frame::FrameDecoder::new(input)),
        "bz2" => Box::new(bzip2::read::MultiBzDecoder::new(input)),
        "zst" => Box::new(
            zstd::stream::read::Decoder::new(input)
                .map_err(|err| Error::io("decompress", name, err))?,
        ),
        _ => Box::new(input),
    })
}

/// The longest index line kept. Real ones reach a few hundred KiB only in fields this reader
/// skips (`Provides` of Rust library packages); every field it keeps is far shorter.
const MAX_LINE: usize = 64 << 10;

/// Reads the stanzas of an index, keeping the wanted packages' entries. A Debian main index
/// is about 50 MB and 60,000 stanzas, of which a restore wants a few hundred: lines are looked
/// at as bytes, only the six fields an entry is made of are decoded, and a stanza whose
/// package is not wanted is skipped to its end.
fn parse(
    name: &Path,
    input: Box<dyn Read + '_>,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<IndexEntry>> {
    let mut reader = LineReader::new(input, MAX_LINE);
    let mut entries = Vec::new();
    let mut stanza = Stanza::default();
    let mut line_number = 0;
    loop {
        let next = reader.next_line().map_err(|err| {
            Error::parse(name, Some(line_number + 1), format!("cannot read: {err}"))
        })?;
        let line = match next {
            None => None,
            Some((number, Line::Text(text))) => {
                line_number = number;
                Some(text.strip_suffix(b"\r").unwrap_or(text))
            }
            Some((number, Line::TooLong { length, start })) => {
                line_number = number;
                let field = start.split(|&b| b == b':').next().unwrap_or_default();
                if known_field(field).is_some() {
                    let field = String::from_utf8_lossy(field);
                    return Err(Error::parse(
                        name,
                        Some(number),
                        format!("'{field}' line of {length} bytes: not an index this tool trusts"),
                    ));
                }
                continue;
            }
        };
        let Some(line) = line.filter(|l| !l.is_empty()) else {
            if let Some(entry) = std::mem::take(&mut stanza).finish(wanted) {
                entries.push(entry);
            }
            if line.is_none() {
                return Ok(entries);
            }
            continue;
        };
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(Error::parse(name, Some(line_number), "not 'Field: value'"));
        };
        if stanza.unwanted {
            continue;
        }
        let Some(known) = known_field(&line[..colon]) else {
            continue;
        };
        let value = String::from_utf8_lossy(&line[colon + 1..])
            .trim()
            .to_string();
        if known == Field::Package && !wanted(&value) {
            stanza.unwanted = true;
            continue;
        }
        stanza.fields[known as usize] = Some(value);
    }
}

/// The fields an entry is made of, as indexes into [`Stanza::fields`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Package,
    Version,
    Architecture,
    Filename,
    Sha256,
    Size,
}

fn known_field(field: &[u8]) -> Option<Field> {
    Some(match field {
        b"Package" => Field::Package,
        b"Version" => Field::Version,
        b"Architecture" => Field::Architecture,
        b"Filename" => Field::Filename,
        b"SHA256" => Field::Sha256,
        b"Size" => Field::Size,
        _ => return None,
    })
}

/// One stanza's kept fields; `unwanted` once its package is known not to be.
#[derive(Default)]
struct Stanza {
    fields: [Option<String>; 6],
    unwanted: bool,
}

impl Stanza {
    fn finish(self, wanted: &dyn Fn(&str) -> bool) -> Option<IndexEntry> {
        if self.unwanted {
            return None;
        }
        let [package, version, architecture, filename, sha256, size] = self.fields;
        let package = package?;
        if !wanted(&package) {
            return None;
        }
        Some(IndexEntry {
            package,
            version: version?,
            architecture: architecture?,
            filename: filename?,
            sha256: sha256?.to_ascii_lowercase(),
            size: size.and_then(|s| s.parse().ok()).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_are_read_and_filtered() {
        let text = "Package: a\nVersion: 1:2.0-1\nArchitecture: amd64\nDescription: x\n more\nFilename: pool/a.deb\nSize: 10\nSHA256: ABCD\n\nPackage: b\nVersion: 1\nArchitecture: all\nFilename: pool/b.deb\nSHA256: ef\n";
        let mut index = Index::default();
        index
            .add_reader(Path::new("Packages"), Box::new(text.as_bytes()), &|name| {
                name == "a"
            })
            .unwrap();
        assert_eq!(index.len(), 1);
        let (entry, origin) = index.get("a", "1:2.0-1", "amd64").unwrap();
        assert_eq!(entry.sha256, "abcd");
        assert_eq!(entry.size, 10);
        assert_eq!(origin, "Packages");
    }

    #[test]
    fn a_huge_line_is_skipped_unless_it_is_a_field_we_keep() {
        let huge = "x".repeat(1 << 20);
        let text = format!("Package: a\nProvides: {huge}\nVersion: 1\nArchitecture: all\nFilename: a.deb\nSHA256: ab\n");
        let mut index = Index::default();
        index
            .add_reader(Path::new("P"), Box::new(text.as_bytes()), &|_| true)
            .unwrap();
        assert_eq!(index.len(), 1);
        let text = format!("Package: a\nFilename: {huge}\n");
        let err = Index::default()
            .add_reader(Path::new("P"), Box::new(text.as_bytes()), &|_| true)
            .unwrap_err();
        assert!(
            err.to_string().starts_with("P:2: 'Filename' line of"),
            "{err}"
        );
    }
}
