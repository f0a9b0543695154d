//! The rpm -V attribute set, `S M 5 D L U G T P` (size, mode, digest, device, link target, user,
//! group, mtime, capabilities), each unchecked (`?`), ok (`.`) or failed (its letter). The
//! database alone fills only `M` (a file with a digest must be a regular file) and `5`; the
//! rest needs the archive's tar header (and, for `P`, what the maintainer scripts set), given
//! as an [`Expected`] to [`compare`].

use std::fs::{FileType, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::dpkg::StatOverride;
use crate::sys::accounts::Accounts;
use crate::sys::capability::FileCaps;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attr {
    Size,
    Mode,
    Md5,
    Device,
    Link,
    User,
    Group,
    Mtime,
    /// File capabilities (`security.capability`): rpm's `P`, which `dpkg --verify` never
    /// fills.
    Caps,
}

impl Attr {
    pub const ALL: [Attr; 9] = [
        Attr::Size,
        Attr::Mode,
        Attr::Md5,
        Attr::Device,
        Attr::Link,
        Attr::User,
        Attr::Group,
        Attr::Mtime,
        Attr::Caps,
    ];

    /// The rpm -V letter, printed in the attribute's column when it failed.
    pub fn letter(self) -> u8 {
        b"SM5DLUGTP"[self as usize]
    }

    pub fn name(self) -> &'static str {
        [
            "size",
            "mode",
            "md5",
            "device",
            "link",
            "user",
            "group",
            "mtime",
            "capabilities",
        ][self as usize]
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Check {
    #[default]
    Unchecked,
    Ok,
    Failed,
}

/// One path's attribute results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attrs([Check; 9]);

impl Attrs {
    pub fn get(&self, attr: Attr) -> Check {
        self.0[attr as usize]
    }

    pub fn set(&mut self, attr: Attr, check: Check) {
        self.0[attr as usize] = check;
    }

    pub fn ok_or_failed(&mut self, attr: Attr, ok: bool) {
        self.set(attr, if ok { Check::Ok } else { Check::Failed });
    }

    pub fn any_failed(&self) -> bool {
        self.0.contains(&Check::Failed)
    }

    pub fn failed(&self) -> impl Iterator<Item = Attr> + '_ {
        Attr::ALL
            .into_iter()
            .filter(|&attr| self.get(attr) == Check::Failed)
    }

    /// The nine columns `dpkg --verify` prints (`??5??????`), rpm's `P` (capabilities) last.
    pub fn columns(&self) -> [u8; 9] {
        let mut out = [b'?'; 9];
        for attr in Attr::ALL {
            out[attr as usize] = match self.get(attr) {
                Check::Unchecked => b'?',
                Check::Ok => b'.',
                Check::Failed => attr.letter(),
            };
        }
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileKind {
    pub fn of(file_type: FileType) -> FileKind {
        if file_type.is_symlink() {
            FileKind::Symlink
        } else if file_type.is_dir() {
            FileKind::Directory
        } else if file_type.is_char_device() {
            FileKind::CharDevice
        } else if file_type.is_block_device() {
            FileKind::BlockDevice
        } else if file_type.is_fifo() {
            FileKind::Fifo
        } else if file_type.is_socket() {
            FileKind::Socket
        } else {
            FileKind::Regular
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Regular => "regular file",
            FileKind::Directory => "directory",
            FileKind::Symlink => "symbolic link",
            FileKind::CharDevice => "character device",
            FileKind::BlockDevice => "block device",
            FileKind::Fifo => "fifo",
            FileKind::Socket => "socket",
        }
    }
}

/// What an archive's tar header says a path should be (after [`Expected::apply_override`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub kind: FileKind,
    /// Permission bits, `07777`.
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Regular files only.
    pub size: Option<u64>,
    pub link_target: Option<PathBuf>,
    /// Devices only: the raw `rdev`.
    pub rdev: Option<u64>,
    pub mtime: Option<i64>,
    /// Regular files only: archives carry none, maintainer scripts `setcap` them.
    pub capability: Option<FileCaps>,
}

impl Expected {
    /// `dpkg-statoverride` wins over the archive: owner and group resolved from ROOT's accounts
    /// (an unknown name leaves the attribute unchecked rather than guessed).
    pub fn apply_override(&mut self, over: &StatOverride, accounts: &Accounts) {
        self.mode = over.mode;
        self.uid = over.uid(accounts);
        self.gid = over.gid(accounts);
    }
}

/// What stands at a path: its `lstat`, the link target of a symlink, and the raw
/// `security.capability` of a regular file.
#[derive(Clone, Copy, Debug)]
pub struct OnDisk<'a> {
    pub meta: &'a Metadata,
    pub link_target: Option<&'a Path>,
    pub capability: Option<&'a [u8]>,
}

impl<'a> OnDisk<'a> {
    pub fn new(meta: &'a Metadata) -> OnDisk<'a> {
        OnDisk {
            meta,
            link_target: None,
            capability: None,
        }
    }
}

/// Whether the raw capability on disk grants what `expected` says (the same sets and
/// effective bit, whatever the format revision); bytes that do not parse never match.
pub fn capability_matches(expected: Option<&FileCaps>, disk: Option<&[u8]>) -> bool {
    match (expected, disk) {
        (None, None) => true,
        (Some(want), Some(raw)) => FileCaps::from_xattr(raw).is_ok_and(|have| {
            (have.permitted, have.inheritable, have.effective)
                == (want.permitted, want.inheritable, want.effective)
        }),
        _ => false,
    }
}

/// Compares what stands on disk with what the archive (and the scripts) say. The digest is
/// not touched: it is filled by the hashing pass.
pub fn compare(expected: &Expected, disk: &OnDisk) -> Attrs {
    let actual = disk.meta;
    let link_target = disk.link_target;
    let mut attrs = Attrs::default();
    let kind = FileKind::of(actual.file_type());
    let same_kind = kind == expected.kind;
    // A symlink's own mode is always 0777 on Linux: only its type is meaningful.
    let mode_ok =
        same_kind && (kind == FileKind::Symlink || actual.mode() & 0o7777 == expected.mode);
    attrs.ok_or_failed(Attr::Mode, mode_ok);
    if let Some(size) = expected.size {
        attrs.ok_or_failed(Attr::Size, same_kind && actual.len() == size);
    }
    // Like rpm -V: a link target or device number that does not apply to the expected type
    // is `.` when the type is right, a failure when it is not.
    match &expected.link_target {
        Some(target) => attrs.ok_or_failed(Attr::Link, link_target == Some(target.as_path())),
        None => attrs.ok_or_failed(Attr::Link, link_target.is_none()),
    }
    match expected.rdev {
        Some(rdev) => attrs.ok_or_failed(Attr::Device, same_kind && actual.rdev() == rdev),
        None => attrs.ok_or_failed(
            Attr::Device,
            !matches!(kind, FileKind::CharDevice | FileKind::BlockDevice),
        ),
    }
    if let Some(uid) = expected.uid {
        attrs.ok_or_failed(Attr::User, actual.uid() == uid);
    }
    if let Some(gid) = expected.gid {
        attrs.ok_or_failed(Attr::Group, actual.gid() == gid);
    }
    if let (Some(mtime), FileKind::Regular) = (expected.mtime, expected.kind) {
        attrs.ok_or_failed(Attr::Mtime, actual.mtime() == mtime);
    }
    if expected.kind == FileKind::Regular && same_kind {
        attrs.ok_or_failed(
            Attr::Caps,
            capability_matches(expected.capability.as_ref(), disk.capability),
        );
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_follow_rpm_order() {
        let mut attrs = Attrs::default();
        attrs.set(Attr::Md5, Check::Failed);
        assert_eq!(&attrs.columns(), b"??5??????");
        attrs.set(Attr::Mode, Check::Ok);
        attrs.set(Attr::User, Check::Failed);
        assert_eq!(&attrs.columns(), b"?.5??U???");
    }

    #[test]
    fn dropped_setuid_is_a_mode_failure() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        let meta = std::fs::symlink_metadata(&file).unwrap();
        let expected = Expected {
            kind: FileKind::Regular,
            mode: 0o4755,
            uid: Some(meta.uid()),
            gid: None,
            size: Some(1),
            link_target: None,
            rdev: None,
            mtime: None,
            capability: None,
        };
        let attrs = compare(&expected, &OnDisk::new(&meta));
        assert_eq!(&attrs.columns(), b".M?...??.");

        let other_owner = Expected {
            mode: 0o755,
            uid: Some(meta.uid() + 1),
            ..expected.clone()
        };
        assert_eq!(
            &compare(&other_owner, &OnDisk::new(&meta)).columns(),
            b"..?..U??."
        );

        let dir_expected = Expected {
            kind: FileKind::Directory,
            mode: 0o755,
            size: None,
            ..expected.clone()
        };
        assert_eq!(
            compare(&dir_expected, &OnDisk::new(&meta)).get(Attr::Mode),
            Check::Failed
        );
    }

    #[test]
    fn retargeted_symlink_fails_l() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink("elsewhere", &link).unwrap();
        let meta = std::fs::symlink_metadata(&link).unwrap();
        let target = std::fs::read_link(&link).unwrap();
        let expected = Expected {
            kind: FileKind::Symlink,
            mode: 0o777,
            uid: None,
            gid: None,
            size: None,
            link_target: Some(PathBuf::from("libfoo.so.1")),
            rdev: None,
            mtime: None,
            capability: None,
        };
        let disk = OnDisk {
            link_target: Some(&target),
            ..OnDisk::new(&meta)
        };
        assert_eq!(&compare(&expected, &disk).columns(), b"?.?.L????");
    }
}
