//! Root-confined path resolution: a path under ROOT is resolved the way the kernel resolves it
//! inside `chroot ROOT`. Intermediate symlinks are followed, an absolute target restarts at ROOT,
//! `..` stops at ROOT, and more than 40 hops is `ELOOP`. The last component is followed only
//! when asked: writes never follow it.
//!
//! This one mechanism gives merged-/usr correctness (dpkg lists `/lib/x86_64-linux-gnu/libc.so.6`;
//! it lives in `usr/lib` through `/lib -> usr/lib`) and safety (no symlink, planted or inside an
//! archive, can lead a read or a write outside ROOT).
//!
//! Once a component does not exist the rest is appended lexically (`..` still stops at ROOT):
//! the caller's `open` then fails with the kernel's own ENOENT or ENOTDIR, and a caller that
//! creates directories can walk the same answer. A race with someone planting a symlink after
//! we looked is not defended against: `rescue` is the only writer on the bad day.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The kernel's limit on symlinks followed in one resolution (`MAXSYMLINKS`).
pub const MAX_SYMLINK_HOPS: usize = 40;

/// Whether the last component of a path is followed when it is a symlink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Last {
    Follow,
    NoFollow,
}

/// A directory treated as `/` for every path the tool reads or writes.
#[derive(Clone, Debug)]
pub struct Root {
    dir: PathBuf,
    is_host_root: bool,
}

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Root {
        let dir = dir.into();
        let is_host_root =
            dir.as_os_str().as_bytes().iter().all(|&b| b == b'/') && !dir.as_os_str().is_empty();
        Root { dir, is_host_root }
    }

    /// The root as the host sees it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_host_root(&self) -> bool {
        self.is_host_root
    }

    /// The host path of an inside path, with no resolution at all (`ROOT` + `inside`).
    pub fn host_lexical(&self, inside: &Path) -> PathBuf {
        let relative = inside.as_os_str().as_bytes();
        let trimmed = &relative[relative.iter().take_while(|&&b| b == b'/').count()..];
        if trimmed.is_empty() {
            return self.dir.clone();
        }
        self.dir.join(OsStr::from_bytes(trimmed))
    }

    /// The host path to open for `inside`, resolved as inside `chroot ROOT`.
    pub fn resolve(&self, inside: &Path, last: Last) -> io::Result<PathBuf> {
        if self.is_host_root {
            // The kernel already resolves the host's own root exactly this way.
            return Ok(inside.to_path_buf());
        }
        Ok(self.host_lexical(&self.resolve_inside(inside, last)?))
    }

    /// Opens an input file named by its path inside ROOT, for reading: resolved inside ROOT
    /// (every symlink followed there, the last one too), then opened only if it is a regular
    /// file, never through a symlink ([`crate::sys::input::open_regular`]). ENOENT stays
    /// ENOENT; anything but a regular file is an error that says what stands there. Messages
    /// name the file as [`Root::host_lexical`] writes it.
    pub fn open_regular(&self, inside: &Path) -> io::Result<std::fs::File> {
        if self.is_host_root {
            return super::input::open_regular(inside, Last::Follow);
        }
        let host = self.resolve(inside, Last::Follow)?;
        super::input::open_regular(&host, Last::NoFollow)
    }

    /// `inside` resolved to the absolute path (within ROOT) it names: `/lib/x` becomes
    /// `/usr/lib/x` on merged-/usr. A path of `PATH_MAX` bytes or more is ENAMETOOLONG, as the
    /// kernel says: without that a hostile 100 MB path would cost a name per component.
    pub fn resolve_inside(&self, inside: &Path, last: Last) -> io::Result<PathBuf> {
        if inside.as_os_str().len() >= super::input::PATH_MAX {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        let mut pending = Vec::new();
        push_components(&mut pending, inside.as_os_str().as_bytes());
        let mut resolved: Vec<OsString> = Vec::new();
        let mut hops = 0;
        let mut exists = true;
        while let Some(name) = pending.pop() {
            match name.as_bytes() {
                b"." => continue,
                b".." => {
                    resolved.pop();
                    continue;
                }
                _ => {}
            }
            let is_last = pending.is_empty();
            resolved.push(name);
            if !exists || (is_last && last == Last::NoFollow) {
                continue;
            }
            let host = self.host_of(&resolved);
            let meta = match std::fs::symlink_metadata(&host) {
                Ok(meta) => meta,
                Err(err)
                    if matches!(err.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) =>
                {
                    exists = false;
                    continue;
                }
                Err(err) => return Err(err),
            };
            if !meta.file_type().is_symlink() {
                continue;
            }
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            let target = std::fs::read_link(&host)?;
            resolved.pop();
            let target = target.into_os_string().into_vec();
            if target.first() == Some(&b'/') {
                resolved.clear();
            }
            push_components(&mut pending, &target);
        }
        let mut out = PathBuf::from("/");
        out.extend(resolved);
        Ok(out)
    }

    fn host_of(&self, resolved: &[OsString]) -> PathBuf {
        let mut host = self.dir.clone();
        host.extend(resolved);
        host
    }
}

/// Pushes the components of `path` onto `stack` so that popping yields them in order. A
/// trailing slash becomes a trailing "." so the last name is followed, as the kernel does.
fn push_components(stack: &mut Vec<OsString>, path: &[u8]) {
    if path.last() == Some(&b'/') && path.iter().any(|&b| b != b'/') {
        stack.push(OsString::from("."));
    }
    for part in path.split(|&b| b == b'/').rev() {
        if !part.is_empty() {
            stack.push(OsStr::from_bytes(part).to_os_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn merged_usr_root() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/lib/x86_64-linux-gnu")).unwrap();
        std::fs::write(
            dir.path().join("usr/lib/x86_64-linux-gnu/libc.so.6"),
            b"libc",
        )
        .unwrap();
        symlink("usr/lib", dir.path().join("lib")).unwrap();
        let root = Root::new(dir.path());
        (dir, root)
    }

    #[test]
    fn merged_usr_alias_is_followed() {
        let (_dir, root) = merged_usr_root();
        let inside = root
            .resolve_inside(Path::new("/lib/x86_64-linux-gnu/libc.so.6"), Last::Follow)
            .unwrap();
        assert_eq!(inside, Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6"));
    }

    #[test]
    fn absolute_symlink_restarts_at_root_not_host() {
        let (dir, root) = merged_usr_root();
        symlink("/etc", dir.path().join("usr/escape")).unwrap();
        let host = root
            .resolve(Path::new("/usr/escape/passwd"), Last::Follow)
            .unwrap();
        assert_eq!(host, dir.path().join("etc/passwd"));
    }

    #[test]
    fn dotdot_stops_at_root() {
        let (dir, root) = merged_usr_root();
        symlink("../../../../../..", dir.path().join("usr/up")).unwrap();
        let host = root
            .resolve(Path::new("/usr/up/../../etc/shadow"), Last::Follow)
            .unwrap();
        assert_eq!(host, dir.path().join("etc/shadow"));
    }

    #[test]
    fn last_component_is_not_followed_for_writes() {
        let (dir, root) = merged_usr_root();
        assert_eq!(
            root.resolve(Path::new("/lib"), Last::NoFollow).unwrap(),
            dir.path().join("lib")
        );
        assert_eq!(
            root.resolve(Path::new("/lib/"), Last::NoFollow).unwrap(),
            dir.path().join("usr/lib")
        );
    }

    #[test]
    fn symlink_loop_is_eloop() {
        let (dir, root) = merged_usr_root();
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        let err = root.resolve(Path::new("/a/x"), Last::Follow).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn open_regular_reads_inside_root_only() {
        let (dir, root) = merged_usr_root();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("group"), b"host").unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/group.real"), b"inside").unwrap();
        // An absolute link to the host's file lands on ROOT's file of that name.
        symlink(outside.path().join("group"), dir.path().join("etc/group")).unwrap();
        let err = root.open_regular(Path::new("/etc/group")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let inside = dir.path().join(outside.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::write(inside.join("group"), b"inside").unwrap();
        let mut text = String::new();
        use std::io::Read;
        root.open_regular(Path::new("/etc/group"))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "inside");
    }

    #[test]
    fn overlong_path_is_enametoolong() {
        let (_dir, root) = merged_usr_root();
        let long = format!("/{}", "a/".repeat(5000));
        let err = root
            .resolve_inside(Path::new(&long), Last::Follow)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG));
    }

    #[test]
    fn missing_component_continues_lexically() {
        let (dir, root) = merged_usr_root();
        let host = root
            .resolve(Path::new("/lib/gone/../x"), Last::Follow)
            .unwrap();
        assert_eq!(host, dir.path().join("usr/lib/x"));
    }
}
