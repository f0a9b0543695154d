//! Who a block device is, read from its own superblock: the file system type, UUID and label,
//! for `mount LABEL=x` / `UUID=x` when udev is dead (no `/dev/disk/by-*` links) and for the
//! type `mount` uses when `-t` is missing. Only ext2/3/4 and xfs are known: what a Debian root
//! is on. Everything else is `None`, never a guess.
//!
//! What it does not do: swap, LUKS, btrfs, vfat (blkid knows them; the rescue case is a root
//! or /boot partition whose links vanished with udev).
//!
//! Also here, because `mount IMAGE DIR` needs a block device to read: [`attach_loop`], which
//! makes a regular file one (a loop device that goes away when it is unmounted).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// What a superblock says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `ext2`, `ext3`, `ext4` or `xfs`: the name `mount -t` takes.
    pub fs_type: &'static str,
    /// Lowercase, dashed (`8-4-4-4-12`), as blkid prints it.
    pub uuid: String,
    /// Empty when the file system has none.
    pub label: String,
}

/// How a device is named on the command line (`LABEL=x`, `UUID=x`, `PARTUUID=x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Label,
    Uuid,
    PartUuid,
}

impl Tag {
    /// `LABEL=root` as (Tag::Label, "root"); None for a plain path.
    pub fn split(spec: &str) -> Option<(Tag, &str)> {
        let (name, value) = spec.split_once('=')?;
        let tag = match name {
            "LABEL" => Tag::Label,
            "UUID" => Tag::Uuid,
            "PARTUUID" => Tag::PartUuid,
            _ => return None,
        };
        Some((tag, value.trim_matches('"')))
    }

    fn by_dir(self) -> &'static str {
        match self {
            Tag::Label => "/dev/disk/by-label",
            Tag::Uuid => "/dev/disk/by-uuid",
            Tag::PartUuid => "/dev/disk/by-partuuid",
        }
    }
}

/// Bytes read from the start of a device: both superblocks lie in the first 2 KiB.
const HEAD: usize = 4096;
const EXT_BASE: usize = 1024;

/// The identity of the file system at the start of `data` (at least the first 2 KiB of a
/// device or image), or None when it is not ext2/3/4 or xfs.
pub fn identify(data: &[u8]) -> Option<Identity> {
    identify_ext(data).or_else(|| identify_xfs(data))
}

fn identify_ext(data: &[u8]) -> Option<Identity> {
    let sb = data.get(EXT_BASE..EXT_BASE + 1024)?;
    if u16::from_le_bytes([sb[0x38], sb[0x39]]) != 0xEF53 {
        return None;
    }
    let word = |at: usize| u32::from_le_bytes([sb[at], sb[at + 1], sb[at + 2], sb[at + 3]]);
    let (compat, incompat, ro_compat) = (word(0x5C), word(0x60), word(0x64));
    // blkid's rule: a feature ext3 does not know makes it ext4 (extents, 64bit, flex_bg,
    // huge_file, metadata_csum...); else a journal makes it ext3.
    const EXT3_INCOMPAT: u32 = 0x0002 | 0x0004 | 0x0010; // filetype, recover, meta_bg
    const EXT3_RO_COMPAT: u32 = 0x0001 | 0x0002 | 0x0004; // sparse_super, large_file, btree_dir
    const HAS_JOURNAL: u32 = 0x0004;
    let fs_type = if incompat & !EXT3_INCOMPAT != 0 || ro_compat & !EXT3_RO_COMPAT != 0 {
        "ext4"
    } else if compat & HAS_JOURNAL != 0 {
        "ext3"
    } else {
        "ext2"
    };
    Some(Identity {
        fs_type,
        uuid: uuid_text(&sb[0x68..0x78]),
        label: label_text(&sb[0x78..0x88]),
    })
}

fn identify_xfs(data: &[u8]) -> Option<Identity> {
    if data.get(..4)? != b"XFSB" {
        return None;
    }
    Some(Identity {
        fs_type: "xfs",
        uuid: uuid_text(data.get(32..48)?),
        label: label_text(data.get(108..120)?),
    })
}

fn uuid_text(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn label_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The identity of the device or image at `path`; None when its superblock is not one we know.
pub fn read_identity(path: &Path) -> Result<Option<Identity>> {
    let mut file = std::fs::File::open(path).map_err(|err| Error::io("open", path, err))?;
    let mut head = Vec::with_capacity(HEAD);
    file.by_ref()
        .take(HEAD as u64)
        .read_to_end(&mut head)
        .map_err(|err| Error::io("read", path, err))?;
    Ok(identify(&head))
}

/// The device a tag names: udev's `/dev/disk/by-*` link first, and when there is none (udev
/// dead, or never run), every block device the kernel lists in `/proc/partitions` (or
/// `/sys/class/block`) read for its superblock. PARTUUID needs the links (it lives in the
/// partition table, which is not read here). None when nothing matches.
pub fn find_device(tag: Tag, value: &str) -> Option<PathBuf> {
    if !value.contains('/') {
        let link = Path::new(tag.by_dir()).join(value);
        if let Ok(target) = std::fs::canonicalize(&link) {
            return Some(target);
        }
    }
    if tag == Tag::PartUuid {
        return None;
    }
    block_devices().into_iter().find(|device| {
        let Ok(Some(identity)) = read_identity(device) else {
            return false;
        };
        match tag {
            Tag::Label => identity.label == value,
            _ => identity.uuid.eq_ignore_ascii_case(value),
        }
    })
}

/// `/dev/NAME` of every block device the kernel knows, in its order.
pub fn block_devices() -> Vec<PathBuf> {
    let mut names: Vec<String> = match std::fs::read_to_string("/proc/partitions") {
        // major minor #blocks name, after a header line and a blank one.
        Ok(text) => text
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                (fields.len() == 4 && fields[0].parse::<u32>().is_ok())
                    .then(|| fields[3].to_string())
            })
            .collect(),
        Err(_) => std::fs::read_dir("/sys/class/block")
            .map(|dir| {
                dir.flatten()
                    .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    };
    names.retain(|name| !name.starts_with("ram"));
    names
        .into_iter()
        .map(|name| Path::new("/dev").join(name))
        .collect()
}

/// The kernel's `struct loop_info64`.
#[repr(C)]
struct LoopInfo64 {
    device: u64,
    inode: u64,
    rdevice: u64,
    offset: u64,
    size_limit: u64,
    number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    flags: u32,
    file_name: [u8; 64],
    crypt_name: [u8; 64],
    encrypt_key: [u8; 32],
    init: [u64; 2],
}

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_SET_FD: libc::c_ulong = 0x4C00;
const LOOP_SET_STATUS64: libc::c_ulong = 0x4C04;
const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// Attaches `file` to a free loop device (read-only when asked, or when the file cannot be
/// written) with auto-clear, as util-linux's mount does for a regular file: the device is
/// released when its last user goes. Returns the device's path and an open descriptor of it,
/// to be held until the mount is made (closing it first would release the device).
pub fn attach_loop(file: &Path, read_only: bool) -> Result<(PathBuf, std::fs::File)> {
    use std::os::fd::AsRawFd;
    let control = std::fs::File::open("/dev/loop-control")
        .map_err(|err| Error::io("open", "/dev/loop-control", err))?;
    let backing = std::fs::OpenOptions::new()
        .read(true)
        .write(!read_only)
        .open(file)
        .or_else(|_| std::fs::File::open(file))
        .map_err(|err| Error::io("open", file, err))?;
    let writable = !read_only && std::fs::OpenOptions::new().write(true).open(file).is_ok();
    // SAFETY: an ioctl without arguments on an open loop-control descriptor.
    let number = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE as _) };
    if number < 0 {
        let err = std::io::Error::last_os_error();
        return Err(Error::io(
            "find a free loop device with",
            "/dev/loop-control",
            err,
        ));
    }
    let device = PathBuf::from(format!("/dev/loop{number}"));
    let loop_file = std::fs::OpenOptions::new()
        .read(true)
        .write(writable)
        .open(&device)
        .map_err(|err| Error::io("open", &device, err))?;
    // SAFETY: LOOP_SET_FD takes the backing descriptor as its argument.
    let rc = unsafe {
        libc::ioctl(
            loop_file.as_raw_fd(),
            LOOP_SET_FD as _,
            backing.as_raw_fd() as libc::c_ulong,
        )
    };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        return Err(Error::io("attach a file to", &device, err));
    }
    // SAFETY: plain data; zero is a valid value for every field.
    let mut info: LoopInfo64 = unsafe { std::mem::zeroed() };
    info.flags = LO_FLAGS_AUTOCLEAR | if writable { 0 } else { LO_FLAGS_READ_ONLY };
    let name = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let name = std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str());
    let length = name.len().min(63);
    info.file_name[..length].copy_from_slice(&name[..length]);
    // SAFETY: a pointer to a live loop_info64 for the call.
    let rc = unsafe { libc::ioctl(loop_file.as_raw_fd(), LOOP_SET_STATUS64 as _, &info) };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        // SAFETY: undoes the LOOP_SET_FD above on the same descriptor.
        unsafe { libc::ioctl(loop_file.as_raw_fd(), LOOP_CLR_FD as _, 0) };
        return Err(Error::io("set up", &device, err));
    }
    Ok((device, loop_file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext4_and_xfs_superblocks_are_read() {
        let mut ext = vec![0u8; 2048];
        ext[EXT_BASE + 0x38..EXT_BASE + 0x3A].copy_from_slice(&0xEF53u16.to_le_bytes());
        ext[EXT_BASE + 0x60] = 0x40; // extents
        ext[EXT_BASE + 0x68..EXT_BASE + 0x78].copy_from_slice(&[0x12; 16]);
        ext[EXT_BASE + 0x78..EXT_BASE + 0x7C].copy_from_slice(b"root");
        let id = identify(&ext).unwrap();
        assert_eq!(id.fs_type, "ext4");
        assert_eq!(id.label, "root");
        assert_eq!(id.uuid, "12121212-1212-1212-1212-121212121212");
        ext[EXT_BASE + 0x60] = 0x02;
        assert_eq!(identify(&ext).unwrap().fs_type, "ext2");
        ext[EXT_BASE + 0x5C] = 0x04;
        assert_eq!(identify(&ext).unwrap().fs_type, "ext3");

        let mut xfs = vec![0u8; 512];
        xfs[..4].copy_from_slice(b"XFSB");
        xfs[108..112].copy_from_slice(b"data");
        let id = identify(&xfs).unwrap();
        assert_eq!((id.fs_type, id.label.as_str()), ("xfs", "data"));
        assert_eq!(identify(&[0u8; 100]), None);
    }

    #[test]
    fn tags_are_split() {
        assert_eq!(Tag::split("LABEL=r"), Some((Tag::Label, "r")));
        assert_eq!(Tag::split("UUID=\"ab\""), Some((Tag::Uuid, "ab")));
        assert_eq!(Tag::split("/dev/sda1"), None);
    }
}
