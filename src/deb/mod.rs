//! `.deb` archives read in one streaming pass, never unpacked to disk: the ar members
//! `debian-binary`, `control.tar[.gz|.xz|.zst]` and `data.tar[.gz|.xz|.zst|.bz2]`, the control
//! fields and the archive's own md5sums, and the data entries with their tar headers.
//!
//! Every error names the archive and the member. A truncated, corrupt or hostile archive is an
//! error, never a panic: entry names with `..` or a leading `/` are refused here, so no caller
//! can be led outside its root by a name. (Symlinks inside the archive are the restorer's
//! concern: it resolves every path inside ROOT.)

mod compression;
mod control;
mod index;

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use compression::Compression;
pub use control::Control;
pub use index::{ArchiveIndex, IndexedEntry, Kept};

use crate::sys::quoting::escape;
use crate::{Error, Result};

/// The largest control.tar we read into memory; real ones are a few KiB, a few MiB at most.
const CONTROL_LIMIT: u64 = 64 << 20;

/// An opened `.deb`: its control data read, its data member ready to stream. The file stays
/// open and is read by position, so what was checked (SHA256, control data) is what is
/// unpacked, however the name changes meanwhile, and threads may stream it at once.
#[derive(Debug)]
pub struct Deb {
    path: PathBuf,
    file: Arc<File>,
    control: Control,
    data_compression: Compression,
}

/// A reader of the whole archive from its start, by `pread`: no shared file offset.
pub struct ArchiveReader {
    file: Arc<File>,
    at: u64,
}

impl Read for ArchiveReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// What a data entry is, from its tar header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    HardLink,
    CharDevice,
    BlockDevice,
    Fifo,
}

/// One member of `data.tar`, its name made absolute (`./usr/bin/ls` is `/usr/bin/ls`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataEntry {
    pub path: PathBuf,
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (`& 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub user: Option<String>,
    pub group: Option<String>,
    pub size: u64,
    pub mtime: i64,
    /// A symlink's target as stored, or a hard link's target made absolute like `path`.
    pub link_target: Option<PathBuf>,
    /// Major and minor numbers of a device node.
    pub device: Option<(u32, u32)>,
}

impl Deb {
    /// Opens `path` (a host path: symlinks are followed; only a regular file is read), checks
    /// the ar layout and `debian-binary`, and reads the control member.
    pub fn open(path: &Path) -> Result<Deb> {
        let file = crate::sys::input::open_regular(path, crate::sys::root::Last::Follow)
            .map_err(|err| Error::io("open", path, err))?;
        Self::from_file(path, file)
    }

    /// [`Deb::open`] of a file the caller opened (inside ROOT, say); `path` names it in
    /// messages.
    pub fn from_file(path: &Path, file: File) -> Result<Deb> {
        let file = Arc::new(file);
        let reader = ArchiveReader {
            file: Arc::clone(&file),
            at: 0,
        };
        let mut archive = ar::Archive::new(BufReader::new(reader));
        let mut seen_version = false;
        let mut control = None;
        while let Some(member) = archive.next_entry() {
            let mut member =
                member.map_err(|err| bad(path, format!("not a valid ar archive: {err}")))?;
            let name = String::from_utf8_lossy(member.header().identifier())
                .trim_end_matches('/')
                .to_string();
            if !seen_version {
                if name != "debian-binary" {
                    return Err(bad(
                        path,
                        format!("first member is '{name}', not 'debian-binary': not a .deb"),
                    ));
                }
                let mut version = String::new();
                member
                    .by_ref()
                    .take(64)
                    .read_to_string(&mut version)
                    .map_err(|err| bad(path, format!("debian-binary unreadable: {err}")))?;
                if !version.starts_with("2.") {
                    return Err(bad(
                        path,
                        format!("unsupported format version '{}'", version.trim()),
                    ));
                }
                seen_version = true;
            } else if let Some(suffix) = name.strip_prefix("control.tar") {
                let compression = Compression::from_suffix(suffix).ok_or_else(|| {
                    bad(
                        path,
                        format!("member '{name}' has a compression this tool does not know"),
                    )
                })?;
                if member.header().size() > CONTROL_LIMIT {
                    return Err(bad(path, format!("member '{name}' is implausibly large")));
                }
                let decoded = compression
                    .decoder(&mut member)
                    .map_err(|err| bad(path, format!("{name}: {err}")))?;
                control = Some(
                    Control::read(decoded).map_err(|why| bad(path, format!("{name}: {why}")))?,
                );
            } else if let Some(suffix) = name.strip_prefix("data.tar") {
                let data_compression = Compression::from_suffix(suffix).ok_or_else(|| {
                    bad(
                        path,
                        format!("member '{name}' has a compression this tool does not know"),
                    )
                })?;
                let control = control
                    .ok_or_else(|| bad(path, "data member comes before the control member"))?;
                return Ok(Deb {
                    path: path.to_path_buf(),
                    file,
                    control,
                    data_compression,
                });
            }
            // Other members (`_gpgorigin`, ...) carry nothing we use.
        }
        Err(bad(
            path,
            if seen_version {
                "no data.tar member: truncated?"
            } else {
                "empty archive"
            },
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole archive, from its first byte (to hash it).
    pub fn reader(&self) -> ArchiveReader {
        ArchiveReader {
            file: Arc::clone(&self.file),
            at: 0,
        }
    }

    /// The archive's size in bytes (0 when it cannot be told): big ones are started first.
    pub fn size(&self) -> u64 {
        self.file.metadata().map_or(0, |m| m.len())
    }

    pub fn control(&self) -> &Control {
        &self.control
    }

    pub fn data_compression(&self) -> Compression {
        self.data_compression
    }

    /// Streams the data member, calling `visit` with each entry and a reader of its content
    /// (empty for anything but regular files). Stops at the first error, `visit`'s or the
    /// archive's.
    pub fn for_each_entry(
        &self,
        mut visit: impl FnMut(&DataEntry, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        let mut archive = ar::Archive::new(BufReader::with_capacity(1 << 16, self.reader()));
        while let Some(member) = archive.next_entry() {
            let mut member =
                member.map_err(|err| bad(&self.path, format!("not a valid ar archive: {err}")))?;
            let name = String::from_utf8_lossy(member.header().identifier())
                .trim_end_matches('/')
                .to_string();
            if !name.starts_with("data.tar") {
                continue;
            }
            let decoded = self
                .data_compression
                .decoder(&mut member)
                .map_err(|err| bad(&self.path, format!("{name}: {err}")))?;
            let mut tar = tar::Archive::new(decoded);
            let entries = tar
                .entries()
                .map_err(|err| bad(&self.path, format!("{name}: {err}")))?;
            for entry in entries {
                let mut entry = entry.map_err(|err| bad(&self.path, format!("{name}: {err}")))?;
                let Some(data_entry) =
                    describe(&entry).map_err(|why| bad(&self.path, format!("{name}: {why}")))?
                else {
                    continue;
                };
                visit(&data_entry, &mut entry)?;
                // Drain what the visitor left unread so a read error (truncation, a corrupt
                // stream) surfaces here rather than as a confusing header error later.
                std::io::copy(&mut entry, &mut std::io::sink()).map_err(|err| {
                    bad(
                        &self.path,
                        format!("{name}: {}: {err}", escape(&data_entry.path)),
                    )
                })?;
            }
            return Ok(());
        }
        Err(bad(&self.path, "no data.tar member"))
    }

    /// Every data entry's header, in archive order.
    pub fn entries(&self) -> Result<Vec<DataEntry>> {
        let mut all = Vec::new();
        self.for_each_entry(|entry, _| {
            all.push(entry.clone());
            Ok(())
        })?;
        Ok(all)
    }
}

fn bad(path: &Path, what: impl Into<String>) -> Error {
    Error::parse(path, None, what)
}

/// The entry's header as a [`DataEntry`]; `None` for the archive's own root (`./`) and for
/// header-only records (PAX global headers) that name no file.
fn describe<R: Read>(entry: &tar::Entry<R>) -> std::result::Result<Option<DataEntry>, String> {
    let header = entry.header();
    let kind = match header.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
        tar::EntryType::Directory => EntryKind::Directory,
        tar::EntryType::Symlink => EntryKind::Symlink,
        tar::EntryType::Link => EntryKind::HardLink,
        tar::EntryType::Char => EntryKind::CharDevice,
        tar::EntryType::Block => EntryKind::BlockDevice,
        tar::EntryType::Fifo => EntryKind::Fifo,
        tar::EntryType::XGlobalHeader => return Ok(None),
        other => return Err(format!("entry type {other:?} is not allowed in a .deb")),
    };
    let raw_path = entry.path_bytes();
    let Some(path) = archive_path(&raw_path)? else {
        return Ok(None);
    };
    let link_bytes = entry.link_name_bytes();
    let link_target = match (kind, link_bytes) {
        (EntryKind::HardLink, Some(target)) => Some(
            archive_path(&target)?
                .ok_or_else(|| format!("{}: hard link to the archive root", escape(&path)))?,
        ),
        (EntryKind::Symlink, Some(target)) => Some(PathBuf::from(OsStr::from_bytes(&target))),
        (EntryKind::HardLink | EntryKind::Symlink, None) => {
            return Err(format!("{}: link without a target", escape(&path)))
        }
        _ => None,
    };
    let number = |value: std::io::Result<u64>, what: &str| {
        value.map_err(|err| format!("{}: bad {what} field: {err}", escape(&path)))
    };
    let device = match kind {
        EntryKind::CharDevice | EntryKind::BlockDevice => {
            let major = header.device_major().ok().flatten().unwrap_or(0);
            let minor = header.device_minor().ok().flatten().unwrap_or(0);
            Some((major, minor))
        }
        _ => None,
    };
    let text = |bytes: Option<&[u8]>| {
        bytes
            .filter(|b| !b.is_empty())
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    Ok(Some(DataEntry {
        kind,
        mode: (header
            .mode()
            .map_err(|err| format!("{}: bad mode field: {err}", escape(&path)))?)
            & 0o7777,
        uid: number(header.uid(), "uid")? as u32,
        gid: number(header.gid(), "gid")? as u32,
        user: text(header.username_bytes()),
        group: text(header.groupname_bytes()),
        size: if kind == EntryKind::File {
            entry.size()
        } else {
            0
        },
        mtime: number(header.mtime(), "mtime")? as i64,
        link_target,
        device,
        path,
    }))
}

/// An archive member's name as an absolute path inside the package (`./usr/bin/ls` ->
/// `/usr/bin/ls`); `None` for the root itself. Names that climb out with `..` or start at `/`
/// are refused: dpkg never builds them, so only a hostile archive has them.
pub fn archive_path(raw: &[u8]) -> std::result::Result<Option<PathBuf>, String> {
    if raw.first() == Some(&b'/') {
        return Err(format!(
            "absolute entry name '{}' refused",
            String::from_utf8_lossy(raw)
        ));
    }
    let mut path = PathBuf::from("/");
    let mut any = false;
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                return Err(format!(
                    "entry name '{}' climbs out with '..': refused",
                    String::from_utf8_lossy(raw)
                ))
            }
            name => {
                path.push(OsStr::from_bytes(name));
                any = true;
            }
        }
    }
    Ok(any.then_some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_become_absolute_and_hostile_ones_are_refused() {
        assert_eq!(
            archive_path(b"./usr/bin/ls").unwrap(),
            Some(PathBuf::from("/usr/bin/ls"))
        );
        assert_eq!(archive_path(b"./").unwrap(), None);
        assert_eq!(
            archive_path(b"usr//lib/./x").unwrap(),
            Some(PathBuf::from("/usr/lib/x"))
        );
        assert!(archive_path(b"./../etc/passwd").is_err());
        assert!(archive_path(b"/etc/passwd").is_err());
        assert!(archive_path(b"./usr/../../x").is_err());
    }
}
