//! Users and groups read from ROOT's own files, never through NSS: on the bad day the host's
//! libnss is gone, or `/etc/passwd` belongs to whatever root was rsync'ed over ours.
//!
//! `ROOT/etc/passwd` and `ROOT/etc/group` come first; names they lack fall back to
//! `ROOT/usr/share/base-passwd/{passwd,group}.master`, which hold Debian's fixed system accounts
//! and survive an overwritten `/etc`. A name found in neither is `None`: callers report it and
//! never guess.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use super::input::{Line, LineReader};
use super::root::Root;
use crate::{Error, Result};

/// The longest account line read; longer ones name nobody we could use (no tool writes them)
/// and are skipped without being held in memory.
const MAX_LINE: usize = 64 << 10;

#[derive(Debug, Default, Clone)]
pub struct Accounts {
    users: Table,
    groups: Table,
}

#[derive(Debug, Default, Clone)]
struct Table {
    name_of: HashMap<u32, String>,
    id_of: HashMap<String, u32>,
}

impl Table {
    /// Adds the entries of `ROOT/inside`, opened inside ROOT and only if it is a regular file.
    /// An absent file adds nothing; any other failure is an error naming the file.
    fn load(&mut self, root: &Root, inside: &str) -> Result<()> {
        let inside = Path::new(inside);
        let shown = root.host_lexical(inside);
        let file = match root.open_regular(inside) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(Error::io("read", shown, err)),
        };
        self.read(file).map_err(|err| Error::io("read", shown, err))
    }

    fn read(&mut self, input: impl Read) -> std::io::Result<()> {
        let mut lines = LineReader::new(input, MAX_LINE);
        while let Some((_, line)) = lines.next_line()? {
            let Line::Text(line) = line else {
                continue;
            };
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            // NIS compat lines (+name, -name) and comments name nobody.
            if line.starts_with(['#', '+', '-']) {
                continue;
            }
            let mut fields = line.split(':');
            let (Some(name), Some(_password), Some(id)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Ok(id) = id.trim().parse::<u32>() else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            // First entry wins, like getpwnam/getpwuid walking the file.
            self.name_of.entry(id).or_insert_with(|| name.to_string());
            self.id_of.entry(name.to_string()).or_insert(id);
        }
        Ok(())
    }
}

impl Accounts {
    /// Reads ROOT's account files, each resolved inside ROOT (an absolute symlink at
    /// `etc/group` leads to ROOT's file of that name, never the host's). A missing file adds
    /// nothing; one that cannot be read (a FIFO, a directory, EIO) is an error naming it:
    /// owners decided from half the accounts would be guesses.
    pub fn read(root: &Root) -> Result<Accounts> {
        let mut accounts = Accounts::default();
        accounts.users.load(root, "/etc/passwd")?;
        accounts
            .users
            .load(root, "/usr/share/base-passwd/passwd.master")?;
        accounts.groups.load(root, "/etc/group")?;
        accounts
            .groups
            .load(root, "/usr/share/base-passwd/group.master")?;
        Ok(accounts)
    }

    /// [`Accounts::read`] for the applets that only show names (`ls -l`, `stat`, `chown -v`):
    /// what cannot be read leaves numbers, as GNU's tools do when NSS fails.
    pub fn load(root: &Root) -> Accounts {
        Self::read(root).unwrap_or_default()
    }

    pub fn user_name(&self, uid: u32) -> Option<&str> {
        self.users.name_of.get(&uid).map(String::as_str)
    }

    pub fn group_name(&self, gid: u32) -> Option<&str> {
        self.groups.name_of.get(&gid).map(String::as_str)
    }

    pub fn uid(&self, name: &str) -> Option<u32> {
        self.users.id_of.get(name).copied()
    }

    pub fn gid(&self, name: &str) -> Option<u32> {
        self.groups.id_of.get(name).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etc_wins_and_master_fills_gaps() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::create_dir_all(dir.path().join("usr/share/base-passwd")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\n+nis\nbad line\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("usr/share/base-passwd/passwd.master"),
            "root:*:0:0:root:/root:/bin/sh\nman:*:6:12:man:/var/cache/man:/usr/sbin/nologin\n",
        )
        .unwrap();
        let accounts = Accounts::read(&Root::new(dir.path())).unwrap();
        assert_eq!(accounts.user_name(0), Some("root"));
        assert_eq!(accounts.user_name(6), Some("man"));
        assert_eq!(accounts.uid("man"), Some(6));
        assert_eq!(accounts.user_name(1234), None);
        assert_eq!(accounts.gid("root"), None);
    }

    #[test]
    fn a_fifo_is_an_error_and_a_huge_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        let mut passwd = format!("{}\n", "x".repeat(1 << 20)).into_bytes();
        passwd.extend_from_slice(b"man:x:6:12::/:/bin/sh\n");
        std::fs::write(dir.path().join("etc/passwd"), passwd).unwrap();
        let root = Root::new(dir.path());
        assert_eq!(Accounts::read(&root).unwrap().uid("man"), Some(6));
        nix::unistd::mkfifo(&dir.path().join("etc/group"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = Accounts::read(&root).unwrap_err().to_string();
        assert!(err.contains("etc/group") && err.contains("FIFO"), "{err}");
        assert_eq!(Accounts::load(&root).uid("man"), None);
    }
}
