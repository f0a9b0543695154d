//! A user's login group (the fourth field of ROOT's passwd), which `chown USER:` needs and
//! [`crate::sys::accounts::Accounts`] does not keep. Read from the same files in the same order:
//! `ROOT/etc/passwd`, then `ROOT/usr/share/base-passwd/passwd.master`; first entry wins.

use std::path::Path;

/// The login group id of `user`, or `None` if no file names the user (or its gid is garbage).
pub fn login_gid(root: &Path, user: &str) -> Option<u32> {
    ["etc/passwd", "usr/share/base-passwd/passwd.master"]
        .iter()
        .find_map(|file| find_in(&root.join(file), user))
}

fn find_in(file: &Path, user: &str) -> Option<u32> {
    let bytes = std::fs::read(file).ok()?;
    bytes.split(|&b| b == b'\n').find_map(|line| {
        let mut fields = line.split(|&b| b == b':');
        if fields.next()? != user.as_bytes() {
            return None;
        }
        let gid = fields.nth(2)?;
        std::str::from_utf8(gid).ok()?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fourth_field_first_entry_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nman:x:6:12::/:/bin/false\nman:x:6:99::/:/bin/false\n",
        )
        .unwrap();
        assert_eq!(login_gid(dir.path(), "man"), Some(12));
        assert_eq!(login_gid(dir.path(), "nobody"), None);
    }
}
