//! `statoverride`: `USER GROUP MODE PATH` per line, set by `dpkg-statoverride`. The owner,
//! group and mode replace what the archive says. Users and groups are names, or `#ID`; names
//! are resolved from ROOT's own account files by the caller (see [`crate::sys::accounts`]).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::lists::{bounded_lines, fitting};
use crate::sys::accounts::Accounts;
use crate::sys::input::PATH_MAX;
use crate::{Error, Result};

/// The longest line: two account names (at most 32 bytes each, as `useradd` allows, or
/// `#ID`), a mode, a path, a CR; rounded up.
const MAX_LINE: usize = PATH_MAX + 128;

/// A user or group as written in the file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    Name(String),
    Id(u32),
}

impl Owner {
    fn parse(word: &str) -> Option<Owner> {
        match word.strip_prefix('#') {
            Some(id) => id.parse().ok().map(Owner::Id),
            None if !word.is_empty() => Some(Owner::Name(word.to_string())),
            None => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatOverride {
    pub user: Owner,
    pub group: Owner,
    /// Permission bits including setuid/setgid/sticky (`07777`).
    pub mode: u32,
    pub path: PathBuf,
    pub line: usize,
}

impl StatOverride {
    /// The numeric owner, from ROOT's accounts; `None` when the name is unknown there.
    pub fn uid(&self, accounts: &Accounts) -> Option<u32> {
        match &self.user {
            Owner::Id(id) => Some(*id),
            Owner::Name(name) => accounts.uid(name),
        }
    }

    pub fn gid(&self, accounts: &Accounts) -> Option<u32> {
        match &self.group {
            Owner::Id(id) => Some(*id),
            Owner::Name(name) => accounts.gid(name),
        }
    }
}

#[derive(Debug, Default)]
pub struct StatOverrides {
    by_path: HashMap<PathBuf, StatOverride>,
}

impl StatOverrides {
    /// Reads the file line by line; a line that is not `USER GROUP MODE PATH`, or is longer
    /// than such a line can be, is an error naming the line.
    pub fn read(file: &Path, input: impl Read) -> Result<StatOverrides> {
        let mut by_path = HashMap::new();
        bounded_lines(file, input, MAX_LINE, |number, line| {
            let line = fitting(file, number, line, MAX_LINE)?;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                return Ok(());
            }
            let bad = |what: &str| Error::parse(file, Some(number), what.to_string());
            let mut parts = line.splitn(4, |&b| b == b' ');
            let (Some(user), Some(group), Some(mode), Some(path)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad("expected 'USER GROUP MODE PATH'"));
            };
            let word = |bytes: &[u8]| std::str::from_utf8(bytes).ok().map(str::to_string);
            let user = word(user)
                .and_then(|w| Owner::parse(&w))
                .ok_or_else(|| bad("invalid user"))?;
            let group = word(group)
                .and_then(|w| Owner::parse(&w))
                .ok_or_else(|| bad("invalid group"))?;
            let mode = word(mode)
                .and_then(|w| u32::from_str_radix(&w, 8).ok())
                .filter(|&m| m <= 0o7777)
                .ok_or_else(|| bad("invalid octal mode"))?;
            if path.first() != Some(&b'/') || path.contains(&0) {
                return Err(bad("not an absolute path"));
            }
            let path = PathBuf::from(OsStr::from_bytes(path));
            by_path.insert(
                path.clone(),
                StatOverride {
                    user,
                    group,
                    mode,
                    path,
                    line: number,
                },
            );
            Ok(())
        })?;
        Ok(StatOverrides { by_path })
    }

    /// [`StatOverrides::read`] of bytes already in memory.
    pub fn parse(file: &Path, bytes: &[u8]) -> Result<StatOverrides> {
        Self::read(file, bytes)
    }

    pub fn get(&self, path: &Path) -> Option<&StatOverride> {
        self.by_path.get(path)
    }

    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_modes() {
        let o = StatOverrides::parse(
            Path::new("statoverride"),
            b"root ssl-cert 710 /etc/ssl/private\n#0 #102 4754 /usr/lib/with space\n",
        )
        .unwrap();
        let a = o.get(Path::new("/etc/ssl/private")).unwrap();
        assert_eq!(a.mode, 0o710);
        assert_eq!(a.group, Owner::Name("ssl-cert".into()));
        let b = o.get(Path::new("/usr/lib/with space")).unwrap();
        assert_eq!(b.user, Owner::Id(0));
        assert_eq!(b.mode, 0o4754);
        let err = StatOverrides::parse(Path::new("s"), b"root root 9x /a\n").unwrap_err();
        assert_eq!(err.to_string(), "s:1: invalid octal mode");
        let long = format!("root root 755 /{}\n", "a/".repeat(1 << 20));
        let err = StatOverrides::parse(Path::new("s"), long.as_bytes()).unwrap_err();
        assert!(
            err.to_string().starts_with("s:1: line of 2097167 bytes"),
            "{err}"
        );
    }
}
