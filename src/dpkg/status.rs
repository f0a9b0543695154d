//! `status` (and the `updates/` journal dpkg replays over it) as data: one [`Package`] per
//! stanza, with its state, version, architecture and `Conffiles`.
//!
//! The file is read as bytes: conffile paths need not be UTF-8. A file that is not deb822 (a
//! NUL byte, a line that is neither `Field: value` nor a continuation, a stanza without
//! `Package` or `Status`, which is what a truncated write leaves) is an error naming the line,
//! never a guess: verifying against half a database would report nonsense.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::sys::quoting::quote;
use crate::{Error, Result};

/// dpkg's package states (`Status:` third word).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    NotInstalled,
    ConfigFiles,
    HalfInstalled,
    Unpacked,
    HalfConfigured,
    TriggersAwaited,
    TriggersPending,
    Installed,
}

impl State {
    fn parse(word: &str) -> Option<State> {
        Some(match word {
            "not-installed" => State::NotInstalled,
            "config-files" => State::ConfigFiles,
            "half-installed" => State::HalfInstalled,
            "unpacked" => State::Unpacked,
            "half-configured" => State::HalfConfigured,
            "triggers-awaited" => State::TriggersAwaited,
            "triggers-pending" => State::TriggersPending,
            "installed" => State::Installed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::NotInstalled => "not-installed",
            State::ConfigFiles => "config-files",
            State::HalfInstalled => "half-installed",
            State::Unpacked => "unpacked",
            State::HalfConfigured => "half-configured",
            State::TriggersAwaited => "triggers-awaited",
            State::TriggersPending => "triggers-pending",
            State::Installed => "installed",
        }
    }

    /// Whether dpkg keeps a file list for the package: every state but `not-installed`
    /// (`dpkg --verify` checks half-installed and config-files packages too).
    pub fn has_files(self) -> bool {
        self != State::NotInstalled
    }
}

/// The recorded digest of a conffile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConffileHash {
    Md5([u8; 16]),
    /// `newconffile`: dpkg unpacked the file but has not configured it yet, so no digest was
    /// recorded. `dpkg --verify` compares the file against the word and reports a false
    /// mismatch; it is not a finding here.
    NewConffile,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conffile {
    pub path: PathBuf,
    pub hash: ConffileHash,
    /// No longer shipped by the package but kept on disk: still checked, as dpkg does.
    pub obsolete: bool,
    /// `remove-on-upgrade`: will go at the next upgrade; still checked, as dpkg does.
    pub remove_on_upgrade: bool,
}

#[derive(Clone, Debug)]
pub struct Package {
    pub name: String,
    pub architecture: String,
    pub version: String,
    pub multi_arch_same: bool,
    pub state: State,
    pub conffiles: Vec<Conffile>,
    /// Line of the `Package:` field, for messages.
    pub line: usize,
}

impl Package {
    /// The name dpkg prints: `name:arch` for `Multi-Arch: same`, else `name`.
    pub fn display_name(&self) -> String {
        if self.multi_arch_same && !self.architecture.is_empty() {
            format!("{}:{}", self.name, self.architecture)
        } else {
            self.name.clone()
        }
    }

    /// Whether a command-line name (`pkg` or `pkg:arch`) selects this package.
    pub fn matches(&self, wanted: &str) -> bool {
        match wanted.split_once(':') {
            Some((name, arch)) => name == self.name && arch == self.architecture,
            None => wanted == self.name,
        }
    }
}

/// One deb822 stanza: fields in order, values with continuation lines joined by `\n`.
#[derive(Debug, Default)]
pub struct Stanza {
    pub line: usize,
    pub fields: Vec<(String, Vec<u8>, usize)>,
}

impl Stanza {
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(field, _, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value, _)| value.as_slice())
    }

    fn line_of(&self, name: &str) -> usize {
        self.fields
            .iter()
            .find(|(field, _, _)| field.eq_ignore_ascii_case(name))
            .map_or(self.line, |(_, _, line)| *line)
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end.max(start)]
}

/// Splits deb822 text into stanzas. `path` names the file in errors.
pub fn parse_stanzas(path: &Path, bytes: &[u8]) -> Result<Vec<Stanza>> {
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(Error::parse(
            path,
            Some(line),
            "binary data (NUL byte): not a dpkg database file",
        ));
    }
    let mut stanzas = Vec::new();
    let mut current = Stanza::default();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if trim(line).is_empty() {
            if !current.fields.is_empty() {
                stanzas.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            let Some((_, value, _)) = current.fields.last_mut() else {
                return Err(Error::parse(
                    path,
                    Some(number),
                    "continuation line outside a field",
                ));
            };
            value.push(b'\n');
            value.extend_from_slice(trim(line));
            continue;
        }
        if line[0] == b'#' {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(Error::parse(
                path,
                Some(number),
                format!(
                    "not a 'Field: value' line: {}",
                    quote(OsStr::from_bytes(&line[..line.len().min(60)]))
                ),
            ));
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
            return Err(Error::parse(
                path,
                Some(number),
                format!(
                    "invalid field name {}",
                    quote(OsStr::from_bytes(&name[..name.len().min(60)]))
                ),
            ));
        }
        if current.fields.is_empty() {
            current.line = number;
        }
        // Field names are ASCII graphic, checked above.
        let name = String::from_utf8_lossy(name).into_owned();
        current
            .fields
            .push((name, trim(&line[colon + 1..]).to_vec(), number));
    }
    if !current.fields.is_empty() {
        stanzas.push(current);
    }
    Ok(stanzas)
}

fn text(path: &Path, stanza: &Stanza, field: &str) -> Result<String> {
    let value = stanza.get(field).unwrap_or_default();
    String::from_utf8(value.to_vec()).map_err(|_| {
        Error::parse(
            path,
            Some(stanza.line_of(field)),
            format!("field '{field}' is not UTF-8"),
        )
    })
}

/// A digest as dpkg's md5sums and apt's indexes write it: lowercase hex. The inverse of
/// [`parse_md5`] for MD5, and the form SHA256 sums are compared in.
pub fn digest_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a 32-digit hex MD5.
pub fn parse_md5(hex: &[u8]) -> Option<[u8; 16]> {
    if hex.len() != 32 {
        return None;
    }
    // Every line of every `.md5sums` comes through here: a table-free nibble, no chars.
    let nibble = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 16];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

fn parse_conffiles(path: &Path, stanza: &Stanza) -> Result<Vec<Conffile>> {
    let Some(value) = stanza.get("Conffiles") else {
        return Ok(Vec::new());
    };
    let first_line = stanza.line_of("Conffiles");
    let mut out = Vec::new();
    for (offset, line) in value.split(|&b| b == b'\n').enumerate() {
        let line = trim(line);
        if line.is_empty() {
            continue;
        }
        let number = first_line + offset;
        // `PATH HASH [obsolete] [remove-on-upgrade]`; the path may hold spaces, so words are
        // taken from the right.
        let mut words: Vec<&[u8]> = Vec::new();
        let mut rest = line;
        let mut obsolete = false;
        let mut remove_on_upgrade = false;
        loop {
            let Some(space) = rest.iter().rposition(|&b| b == b' ') else {
                return Err(Error::parse(
                    path,
                    Some(number),
                    "conffile line without a hash",
                ));
            };
            let word = &rest[space + 1..];
            rest = trim(&rest[..space]);
            match word {
                b"obsolete" if words.is_empty() => obsolete = true,
                b"remove-on-upgrade" if words.is_empty() => remove_on_upgrade = true,
                _ => {
                    words.push(word);
                    break;
                }
            }
        }
        let hash = match words[0] {
            b"newconffile" => ConffileHash::NewConffile,
            hex => ConffileHash::Md5(parse_md5(hex).ok_or_else(|| {
                Error::parse(
                    path,
                    Some(number),
                    format!(
                        "conffile hash {} is not an MD5",
                        quote(OsStr::from_bytes(hex))
                    ),
                )
            })?),
        };
        if rest.first() != Some(&b'/') {
            return Err(Error::parse(
                path,
                Some(number),
                "conffile path is not absolute",
            ));
        }
        if rest.len() >= crate::sys::input::PATH_MAX {
            return Err(Error::parse(
                path,
                Some(number),
                format!(
                    "conffile path of {} bytes is longer than any path can be",
                    rest.len()
                ),
            ));
        }
        out.push(Conffile {
            path: bytes_to_path(rest),
            hash,
            obsolete,
            remove_on_upgrade,
        });
    }
    Ok(out)
}

pub(crate) fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// Turns one stanza into a package.
pub fn package_of(path: &Path, stanza: &Stanza) -> Result<Package> {
    let name = text(path, stanza, "Package")?;
    if name.is_empty() {
        return Err(Error::parse(
            path,
            Some(stanza.line),
            "stanza without a 'Package' field (truncated file?)",
        ));
    }
    let status = text(path, stanza, "Status")?;
    let words: Vec<&str> = status.split_ascii_whitespace().collect();
    let state = match words.as_slice() {
        [_, _, state] => State::parse(state),
        _ => None,
    };
    let Some(state) = state else {
        let what = if status.is_empty() {
            format!("package '{name}' has no 'Status' field (truncated file?)")
        } else {
            format!("package '{name}': invalid Status '{status}'")
        };
        return Err(Error::parse(path, Some(stanza.line_of("Status")), what));
    };
    let version = text(path, stanza, "Version")?;
    // dpkg refuses an installed package without a version; here it is the mark of a file cut
    // inside the stanza, right after its Status line.
    if version.is_empty() && !matches!(state, State::NotInstalled | State::ConfigFiles) {
        return Err(Error::parse(
            path,
            Some(stanza.line),
            format!(
                "package '{name}' ({}) has no 'Version' field (truncated file?)",
                state.as_str()
            ),
        ));
    }
    Ok(Package {
        architecture: text(path, stanza, "Architecture")?,
        version,
        multi_arch_same: stanza
            .get("Multi-Arch")
            .is_some_and(|value| value == b"same"),
        state,
        conffiles: parse_conffiles(path, stanza)?,
        line: stanza.line,
        name,
    })
}

/// Parses a whole `status` file. dpkg writes it whole and ends it with a newline: a file that
/// does not end so was cut short, and one package (name and architecture) twice is a database
/// dpkg itself refuses; both are errors, never a partial answer.
pub fn parse_status(path: &Path, bytes: &[u8]) -> Result<Vec<Package>> {
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        let line = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(Error::parse(
            path,
            Some(line),
            "the file ends inside a line (truncated file?)",
        ));
    }
    let packages = parse_stanzas(path, bytes)?
        .iter()
        .map(|stanza| package_of(path, stanza))
        .collect::<Result<Vec<Package>>>()?;
    let mut seen: std::collections::HashMap<(&str, &str), &Package> =
        std::collections::HashMap::new();
    for package in &packages {
        let key = (package.name.as_str(), package.architecture.as_str());
        if let Some(first) = seen.insert(key, package) {
            return Err(Error::parse(
                path,
                Some(package.line),
                format!(
                    "package '{}' appears twice (versions {} at line {} and {}): dpkg refuses such a database",
                    package.display_name(),
                    first.version,
                    first.line,
                    package.version
                ),
            ));
        }
    }
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conffiles_with_flags_and_newconffile() {
        let text = b"Package: a\nStatus: install ok installed\nVersion: 1\nConffiles:\n /etc/a b9a771b420047cfaa3543e66c78f44f6\n /etc/with space 29ac1e87a626d4388affab3f6a9ae926 obsolete\n /etc/n newconffile\n /etc/r d41d8cd98f00b204e9800998ecf8427e remove-on-upgrade\nDescription: x\n more\n";
        let pkgs = parse_status(Path::new("status"), text).unwrap();
        let c = &pkgs[0].conffiles;
        assert_eq!(c.len(), 4);
        assert_eq!(c[1].path, Path::new("/etc/with space"));
        assert!(c[1].obsolete);
        assert_eq!(c[2].hash, ConffileHash::NewConffile);
        assert!(c[3].remove_on_upgrade);
    }

    #[test]
    fn truncated_stanza_names_the_line() {
        let text = b"Package: a\nStatus: install ok installed\n\nPackage: b\nVers";
        let err = parse_status(Path::new("status"), text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "status:5: the file ends inside a line (truncated file?)"
        );
        let err = parse_status(Path::new("status"), b"Package: b\nVersion: 1\n").unwrap_err();
        assert!(err.to_string().contains("no 'Status' field"), "{err}");
        // Cut right after the Status line of the last stanza, at a line end.
        let cut = b"Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStatus: install ok installed\n";
        let err = parse_status(Path::new("status"), cut).unwrap_err();
        assert!(err.to_string().contains("no 'Version' field"), "{err}");
        // Cut inside a line of a stanza that would otherwise parse.
        let err = parse_status(
            Path::new("status"),
            b"Package: a\nStatus: install ok installed\nVersion: 1",
        )
        .unwrap_err();
        assert!(err.to_string().contains("ends inside a line"), "{err}");
    }

    #[test]
    fn one_package_twice_is_refused() {
        let text = b"Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\nPackage: a\nStatus: install ok installed\nVersion: 2\nArchitecture: amd64\n";
        let err = parse_status(Path::new("status"), text).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
        let text = b"Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\nPackage: a\nStatus: install ok installed\nVersion: 1\nArchitecture: i386\n";
        assert_eq!(parse_status(Path::new("status"), text).unwrap().len(), 2);
    }
}
