//! The kernel's mount table as data: `/proc/self/mountinfo` (`proc_pid_mountinfo(5)`), or,
//! where `/proc` is missing, `/etc/mtab` in fstab's format, which carries less (no ids, no
//! devices, no propagation) and is said to be a fallback by [`MountTable::source`].
//! `mount`, `mounts`, `df`, `fuser -m` and `holders` all read it from here.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::root::Root;
use super::statfs::Probe;
use crate::{Error, Result};

pub const MOUNTINFO: &str = "/proc/self/mountinfo";
pub const MTAB: &str = "/etc/mtab";

/// One line of mountinfo. Paths are unescaped (`\040` is a space again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Unique id of the mount; 0 when read from mtab.
    pub id: u32,
    /// Id of the parent mount (itself for the root of the namespace); 0 from mtab.
    pub parent: u32,
    /// `st_dev` of files on this mount: (major, minor); (0, 0) from mtab.
    pub device: (u32, u32),
    /// The directory of the file system that is mounted here (`/` unless a bind of a subtree).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Per-mount options: `rw`/`ro`, `nosuid`, `relatime`...
    pub options: String,
    /// Propagation tags: `shared:1`, `master:2`, `unbindable`.
    pub optional: Vec<String>,
    pub fs_type: String,
    /// What was mounted: a device, `tmpfs`, `server:/export`; `none` when the kernel says so.
    pub source: PathBuf,
    /// The file system's own options (the superblock's `ro`/`rw`, `errors=remount-ro`...).
    pub super_options: String,
}

impl Mount {
    /// Whether the mount itself is read-only.
    pub fn read_only(&self) -> bool {
        has_option(&self.options, "ro")
    }

    /// Whether the file system under it is read-only, as after the kernel remounted it
    /// (`errors=remount-ro`) while the mount still says `rw`.
    pub fn super_read_only(&self) -> bool {
        has_option(&self.super_options, "ro")
    }
}

/// Whether a comma-separated option list holds `option` exactly (`ro`, not `errors=remount-ro`).
pub fn has_option(options: &str, option: &str) -> bool {
    options.split(',').any(|one| one == option)
}

/// Where a table was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableSource {
    Mountinfo,
    /// `/proc` was missing and `/etc/mtab` was read: what the last `mount` wrote, which may
    /// not be the kernel's view.
    Mtab,
}

#[derive(Debug, Clone)]
pub struct MountTable {
    pub mounts: Vec<Mount>,
    pub source: TableSource,
}

impl MountTable {
    /// The kernel's table, or `/etc/mtab` when `/proc` is missing. An error when neither can be
    /// read (a regular file `/etc/mtab` of another host is read all the same: it is named).
    pub fn read() -> Result<MountTable> {
        match std::fs::read(MOUNTINFO) {
            Ok(data) => Ok(MountTable {
                mounts: parse_mountinfo(&data, Path::new(MOUNTINFO))?,
                source: TableSource::Mountinfo,
            }),
            Err(_) => {
                crate::sys::procfs::require_proc()
                    .or_else(|missing| std::fs::metadata(MTAB).map(|_| ()).map_err(|_| missing))?;
                let data = std::fs::read(MTAB).map_err(|err| Error::io("read", MTAB, err))?;
                Ok(MountTable {
                    mounts: parse_fstab(&data, Path::new(MTAB))?,
                    source: TableSource::Mtab,
                })
            }
        }
    }

    /// The mount `path` is on: the last mount whose mount point is `path` or one of its parent
    /// directories (`path` should be canonical). The last one wins because a later mount on the
    /// same point hides the earlier.
    pub fn containing(&self, path: &Path) -> Option<&Mount> {
        // max_by_key keeps the last of equals: in mount order, the mount on top.
        self.mounts
            .iter()
            .filter(|mount| path.starts_with(&mount.mount_point))
            .max_by_key(|mount| mount.mount_point.as_os_str().len())
    }

    /// The mounts at `path` exactly, in mount order (the last is the visible one).
    pub fn at<'a>(&'a self, path: &'a Path) -> impl Iterator<Item = &'a Mount> + 'a {
        self.mounts
            .iter()
            .filter(move |mount| mount.mount_point == path)
    }

    /// The mounts strictly below `path` (stacked inside it), in mount order.
    pub fn below<'a>(&'a self, path: &'a Path) -> impl Iterator<Item = &'a Mount> + 'a {
        self.mounts
            .iter()
            .filter(move |mount| mount.mount_point != path && mount.mount_point.starts_with(path))
    }
}

/// Parses mountinfo text; `path` names it in errors.
pub fn parse_mountinfo(data: &[u8], path: &Path) -> Result<Vec<Mount>> {
    let mut mounts = Vec::new();
    for (index, line) in data.split(|&byte| byte == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = |what: &str| Error::parse(path, Some(index + 1), what.to_string());
        let fields: Vec<&[u8]> = line.split(|&byte| byte == b' ').collect();
        let separator = fields
            .iter()
            .position(|field| *field == b"-")
            .filter(|&at| at >= 6 && fields.len() >= at + 3)
            .ok_or_else(|| bad("not a mountinfo line (no ` - ` separator after six fields)"))?;
        let number = |field: &[u8], what: &str| -> Result<u32> {
            std::str::from_utf8(field)
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| bad(&format!("bad {what}")))
        };
        let (major, minor) = fields[2]
            .iter()
            .position(|&byte| byte == b':')
            .map(|colon| (&fields[2][..colon], &fields[2][colon + 1..]))
            .ok_or_else(|| bad("bad device (not MAJOR:MINOR)"))?;
        mounts.push(Mount {
            id: number(fields[0], "mount id")?,
            parent: number(fields[1], "parent id")?,
            device: (number(major, "major")?, number(minor, "minor")?),
            root: unescape_path(fields[3]),
            mount_point: unescape_path(fields[4]),
            options: text(fields[5]),
            optional: fields[6..separator].iter().map(|tag| text(tag)).collect(),
            fs_type: text(fields[separator + 1]),
            source: unescape_path(fields[separator + 2]),
            super_options: fields
                .get(separator + 3)
                .map_or_else(String::new, |f| text(f)),
        });
    }
    Ok(mounts)
}

/// Parses `/etc/mtab` (fstab(5)'s format: SOURCE DIR TYPE OPTIONS FREQ PASS). Comments and
/// blank lines are skipped.
pub fn parse_fstab(data: &[u8], path: &Path) -> Result<Vec<Mount>> {
    let mut mounts = Vec::new();
    for (index, line) in data.split(|&byte| byte == b'\n').enumerate() {
        let fields: Vec<&[u8]> = line
            .split(|&byte| byte == b' ' || byte == b'\t')
            .filter(|field| !field.is_empty())
            .collect();
        if fields.is_empty() || fields[0].starts_with(b"#") {
            continue;
        }
        if fields.len() < 4 {
            return Err(Error::parse(
                path,
                Some(index + 1),
                "not an fstab line (fewer than four fields)",
            ));
        }
        mounts.push(Mount {
            id: 0,
            parent: 0,
            device: (0, 0),
            root: PathBuf::from("/"),
            mount_point: unescape_path(fields[1]),
            options: text(fields[3]),
            optional: Vec::new(),
            fs_type: text(fields[2]),
            source: unescape_path(fields[0]),
            super_options: String::new(),
        });
    }
    Ok(mounts)
}

fn text(field: &[u8]) -> String {
    String::from_utf8_lossy(&unescape(field)).into_owned()
}

fn unescape_path(field: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(&unescape(field)))
}

/// The kernel writes space, tab, newline and backslash in mountinfo as `\ooo` (`\040`).
pub fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut index = 0;
    while index < field.len() {
        let octal = field.get(index + 1..index + 4).filter(|digits| {
            field[index] == b'\\' && digits.iter().all(|digit| (b'0'..=b'7').contains(digit))
        });
        match octal {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |value, digit| value * 8 + u32::from(digit - b'0'));
                out.push(value as u8);
                index += 4;
            }
            None => {
                out.push(field[index]);
                index += 1;
            }
        }
    }
    out
}

/// Whether a later mount sits on the same directory (hidden is no fault: systemd and
/// containers stack mounts on healthy hosts all the time).
pub fn overmounted(table: &MountTable, mount: &Mount) -> bool {
    let Some(last) = table.at(&mount.mount_point).last() else {
        return false;
    };
    !std::ptr::eq(last, mount)
}

/// ROOT's /etc/fstab: each mount point and whether it is to be read-write.
pub fn fstab_read_write(root: &Root) -> std::collections::HashMap<PathBuf, bool> {
    let inside = Path::new("/etc/fstab");
    let Ok(file) = root.open_regular(inside) else {
        return Default::default();
    };
    let Ok(data) = super::input::read_at_most(file, 1 << 20) else {
        return Default::default();
    };
    parse_fstab(&data, inside)
        .unwrap_or_default()
        .into_iter()
        .map(|entry| {
            let rw = !has_option(&entry.options, "ro");
            (entry.mount_point, rw)
        })
        .collect()
}

/// What is wrong with a visible mount: stale (its statfs `probe` did not answer) or remounted
/// read-only (by the kernel after an error, or against fstab's word).
pub fn faults(mount: &Mount, probe: Option<&Probe>, fstab_says_rw: bool) -> Vec<String> {
    let mut faults = Vec::new();
    if matches!(probe, Some(Probe::Stuck)) {
        faults.push(format!(
            "stale: statfs did not answer in {} s",
            super::procfs::STUCK_AFTER.as_secs()
        ));
    }
    if (mount.super_read_only() && !mount.read_only()) || (mount.read_only() && fstab_says_rw) {
        faults.push("remounted read-only".to_string());
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] =
        b"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n\
        40 22 0:35 / /mnt/with\\040space rw,nosuid - tmpfs tmpfs rw,size=1024k\n\
        41 22 8:1 /srv /mnt/bind ro master:3 unbindable - ext4 /dev/sda1 ro\n";

    #[test]
    fn mountinfo_lines_are_read_with_escapes_and_tags() {
        let mounts = parse_mountinfo(SAMPLE, Path::new("m")).unwrap();
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].device, (8, 1));
        assert_eq!(mounts[0].super_options, "rw,errors=remount-ro");
        assert!(!mounts[0].read_only() && !mounts[0].super_read_only());
        assert_eq!(mounts[1].mount_point, Path::new("/mnt/with space"));
        assert_eq!(mounts[2].root, Path::new("/srv"));
        assert_eq!(mounts[2].optional, ["master:3", "unbindable"]);
        assert!(mounts[2].read_only() && mounts[2].super_read_only());
    }

    #[test]
    fn the_deepest_mount_contains_a_path_and_stacked_mounts_are_below() {
        let table = MountTable {
            mounts: parse_mountinfo(SAMPLE, Path::new("m")).unwrap(),
            source: TableSource::Mountinfo,
        };
        let inside = table.containing(Path::new("/mnt/bind/x")).unwrap();
        assert_eq!(inside.id, 41);
        assert_eq!(table.containing(Path::new("/etc")).unwrap().id, 22);
        assert_eq!(table.below(Path::new("/mnt")).count(), 2);
    }

    #[test]
    fn the_mount_on_top_contains_a_path() {
        let stacked = b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
            40 22 0:35 / /mnt rw - tmpfs lower rw\n\
            41 40 0:36 / /mnt rw - tmpfs upper rw\n";
        let table = MountTable {
            mounts: parse_mountinfo(stacked, Path::new("m")).unwrap(),
            source: TableSource::Mountinfo,
        };
        assert_eq!(table.containing(Path::new("/mnt/x")).unwrap().id, 41);
        assert_eq!(table.containing(Path::new("/mnt")).unwrap().id, 41);
    }

    #[test]
    fn a_broken_line_is_named() {
        let err = parse_mountinfo(b"22 1 8:1 / /\n", Path::new("m")).unwrap_err();
        assert!(
            err.to_string().starts_with("m:1: not a mountinfo line"),
            "{err}"
        );
    }

    #[test]
    fn mtab_is_read_as_fstab() {
        let mounts =
            parse_fstab(b"# c\n/dev/sda1 / ext4 rw,relatime 0 0\n", Path::new("t")).unwrap();
        assert_eq!(mounts[0].mount_point, Path::new("/"));
        assert_eq!(mounts[0].fs_type, "ext4");
    }
}
