//! The status of a mounted file system (`statfs(2)`), for `stat -f`, and GNU's names for the
//! file system types the kernel reports as magic numbers.

use std::io;
use std::path::Path;

/// What `statfs` says of the file system holding a file.
#[derive(Clone, Copy, Debug)]
pub struct FsStatus {
    /// The kernel's magic number for the type.
    pub kind: u64,
    /// The optimal transfer block size.
    pub block_size: u64,
    /// The fundamental block size, the unit of the block counts.
    pub fragment_size: u64,
    pub blocks: u64,
    pub blocks_free: u64,
    /// Free blocks an unprivileged user may use.
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
    /// The file system id, as GNU prints it: the two words of `f_fsid`, the first high.
    pub id: u64,
    pub name_max: u64,
}

/// `statfs(2)` on `path` (symlinks are followed, as the call always does).
pub fn fs_status(path: &Path) -> io::Result<FsStatus> {
    let name = super::c_path(path)?;
    // SAFETY: statfs only writes the struct we hand it.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: NUL-terminated name, a valid out-pointer.
    super::check(unsafe { libc::statfs(name.as_ptr(), &mut fs) })?;
    // f_fsid is two ints with no public accessor in the libc crate: read them as bytes.
    // SAFETY: fsid_t is plain data of two c_ints.
    let words: [libc::c_int; 2] = unsafe { std::mem::transmute(fs.f_fsid) };
    let id = (u64::from(words[0] as u32) << 32) | u64::from(words[1] as u32);
    let fragment_size = if fs.f_frsize > 0 {
        fs.f_frsize
    } else {
        fs.f_bsize
    };
    Ok(FsStatus {
        kind: fs.f_type as u64,
        block_size: fs.f_bsize as u64,
        fragment_size: fragment_size as u64,
        blocks: fs.f_blocks,
        blocks_free: fs.f_bfree,
        blocks_available: fs.f_bavail,
        files: fs.f_files,
        files_free: fs.f_ffree,
        id,
        name_max: fs.f_namelen as u64,
    })
}

/// GNU stat's name for a file system type, or `UNKNOWN (0x...)`.
pub fn type_name(kind: u64) -> String {
    let known = match kind {
        0xEF53 => "ext2/ext3",
        0x9123_683E => "btrfs",
        0x5846_5342 => "xfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x9FA0 => "proc",
        0x6265_6572 => "sysfs",
        0x1CD1 => "devpts",
        0x0027_E0EB => "cgroupfs",
        0x6367_7270 => "cgroup2fs",
        0x6969 => "nfs",
        0x4D44 => "msdos",
        0x2011_BAB0 => "exfat",
        0x8584_58F6 => "ramfs",
        0x7371_7368 => "squashfs",
        0x9660 => "isofs",
        0x5346_544E => "ntfs",
        0x6573_5546 => "fuseblk",
        0x6573_5543 => "fusectl",
        0x6462_6720 => "debugfs",
        0x7363_6673 => "securityfs",
        0x4249_4E4D => "binfmt_misc",
        0x2FC1_2FC1 => "zfs",
        0xCAFE_4A11 => "bpf_fs",
        0x6E73_6673 => "nsfs",
        0x0102_1997 => "v9fs",
        0x7472_6163 => "tracefs",
        0x1980_0202 => "mqueue",
        0x9584_58F6 => "hugetlbfs",
        0xF2F5_2010 => "f2fs",
        0x3153_464A => "jfs",
        0x5265_4973 => "reiserfs",
        0xFF53_4D42 => "cifs",
        0xFE53_4D42 => "smb2",
        0x6165_676C => "pstorefs",
        0xDE5E_81E4 => "efivarfs",
        0x0BAD_1DEA => "futexfs",
        0x6E66_7364 => "nfsd",
        0x1373 => "devfs",
        0x5346_4846 => "wslfs",
        _ => return format!("UNKNOWN (0x{kind:x})"),
    };
    known.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_unknown() {
        assert_eq!(type_name(0xEF53), "ext2/ext3");
        assert_eq!(type_name(0x1234), "UNKNOWN (0x1234)");
    }

    #[test]
    fn root_has_a_status() {
        let status = fs_status(Path::new("/")).unwrap();
        assert!(status.block_size > 0 && status.name_max > 0);
    }
}
