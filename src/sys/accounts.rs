//! Users and groups read from ROOT's own files, never through NSS: on the bad day the host's
//! libnss is gone, or `/etc/passwd` belongs to whatever root was rsync'ed over ours.
//!
//! `ROOT/etc/passwd` and `ROOT/etc/group` come first; names they lack fall back to
//! `ROOT/usr/share/base-passwd/{passwd,group}.master`, which hold Debian's fixed system accounts
//! and survive an overwritten `/etc`. A name found in neither is `None`: callers report it and
//! never guess.

use std::collections::HashMap;
use std::path::Path;

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
    fn load(&mut self, file: &Path) {
        let Ok(bytes) = std::fs::read(file) else {
            return;
        };
        for line in bytes.split(|&b| b == b'\n') {
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
    }
}

impl Accounts {
    /// Reads ROOT's account files. Missing or unreadable files give an empty table, so every
    /// lookup answers `None` and callers fall back to numbers.
    pub fn load(root: &Path) -> Accounts {
        let mut accounts = Accounts::default();
        accounts.users.load(&root.join("etc/passwd"));
        accounts
            .users
            .load(&root.join("usr/share/base-passwd/passwd.master"));
        accounts.groups.load(&root.join("etc/group"));
        accounts
            .groups
            .load(&root.join("usr/share/base-passwd/group.master"));
        accounts
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
        let accounts = Accounts::load(dir.path());
        assert_eq!(accounts.user_name(0), Some("root"));
        assert_eq!(accounts.user_name(6), Some("man"));
        assert_eq!(accounts.uid("man"), Some(6));
        assert_eq!(accounts.user_name(1234), None);
        assert_eq!(accounts.gid("root"), None);
    }
}
