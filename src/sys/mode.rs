//! File modes as people read them: the `-rwsr-xr-x` string of `ls -l` and `stat -c %A`, the type
//! letter, and the type names `stat -c %F` prints. Pure functions of `st_mode`; nothing here
//! touches the file system.

const S_IFMT: u32 = libc::S_IFMT;

/// The broad kind of a file, from the type bits of `st_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl FileType {
    pub fn of(mode: u32) -> FileType {
        match mode & S_IFMT {
            libc::S_IFREG => FileType::Regular,
            libc::S_IFDIR => FileType::Directory,
            libc::S_IFLNK => FileType::Symlink,
            libc::S_IFIFO => FileType::Fifo,
            libc::S_IFSOCK => FileType::Socket,
            libc::S_IFCHR => FileType::CharDevice,
            libc::S_IFBLK => FileType::BlockDevice,
            _ => FileType::Unknown,
        }
    }

    /// The first character of `ls -l`'s mode column.
    pub fn letter(self) -> u8 {
        match self {
            FileType::Regular => b'-',
            FileType::Directory => b'd',
            FileType::Symlink => b'l',
            FileType::Fifo => b'p',
            FileType::Socket => b's',
            FileType::CharDevice => b'c',
            FileType::BlockDevice => b'b',
            FileType::Unknown => b'?',
        }
    }

    /// What GNU `stat -c %F` says. `size` matters only for regular files, which GNU calls
    /// "regular empty file" when they hold nothing.
    pub fn describe(self, size: u64) -> &'static str {
        match self {
            FileType::Regular if size == 0 => "regular empty file",
            FileType::Regular => "regular file",
            FileType::Directory => "directory",
            FileType::Symlink => "symbolic link",
            FileType::Fifo => "fifo",
            FileType::Socket => "socket",
            FileType::CharDevice => "character special file",
            FileType::BlockDevice => "block special file",
            FileType::Unknown => "weird file",
        }
    }

    pub fn is_device(self) -> bool {
        matches!(self, FileType::CharDevice | FileType::BlockDevice)
    }
}

/// The ten-character mode string, e.g. `drwxr-xr-t` or `-rwsr-sr-x`: setuid and setgid show as
/// `s` over an execute bit and `S` without one, the sticky bit as `t` or `T`.
pub fn mode_string(mode: u32) -> String {
    mode_chars(mode).iter().map(|&b| b as char).collect()
}

/// [`mode_string`] as bytes, for listings that write them straight into their output.
pub fn mode_chars(mode: u32) -> [u8; 10] {
    let mut out = [b'-'; 10];
    out[0] = FileType::of(mode).letter();
    let bit = |mask: u32, ch: u8| if mode & mask != 0 { ch } else { b'-' };
    let special = |exec: bool, set: bool, lower: u8, upper: u8| match (exec, set) {
        (true, true) => lower,
        (false, true) => upper,
        (true, false) => b'x',
        (false, false) => b'-',
    };
    out[1] = bit(0o400, b'r');
    out[2] = bit(0o200, b'w');
    out[3] = special(mode & 0o100 != 0, mode & 0o4000 != 0, b's', b'S');
    out[4] = bit(0o040, b'r');
    out[5] = bit(0o020, b'w');
    out[6] = special(mode & 0o010 != 0, mode & 0o2000 != 0, b's', b'S');
    out[7] = bit(0o004, b'r');
    out[8] = bit(0o002, b'w');
    out[9] = special(mode & 0o001 != 0, mode & 0o1000 != 0, b't', b'T');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_bits_show_over_execute() {
        assert_eq!(mode_string(libc::S_IFREG | 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(libc::S_IFREG | 0o2644), "-rw-r-Sr--");
        assert_eq!(mode_string(libc::S_IFDIR | 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(libc::S_IFDIR | 0o1776), "drwxrwxrwT");
        assert_eq!(mode_string(libc::S_IFLNK | 0o777), "lrwxrwxrwx");
        assert_eq!(mode_string(libc::S_IFCHR | 0o600), "crw-------");
    }

    #[test]
    fn empty_regular_files_are_named_as_gnu_does() {
        assert_eq!(
            FileType::of(libc::S_IFREG).describe(0),
            "regular empty file"
        );
        assert_eq!(FileType::of(libc::S_IFIFO).describe(0), "fifo");
    }
}
