//! An archive's header index: every data entry's header, and the md5 of every regular file's
//! content, as one full decompression gives them. An archive never changes, so its index is
//! kept in ROOT's rescue cache under the archive's SHA256 (`var/cache/rescue/archives/SHA256`):
//! planning a restore and the deep checks compare from it and decompress nothing, and only the
//! archives whose files are written are decompressed again.
//!
//! The cache is a speed-up, never a source of truth for content: every byte restore writes
//! comes from the archive itself and is checked against ROOT's database as it is written. A
//! damaged, cut or foreign index file is ignored and made again.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use md5::{Digest, Md5};
use sha2::Sha256;

use super::{DataEntry, Deb, EntryKind};
use crate::Result;

/// One data entry and, for a regular file, the md5 of its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedEntry {
    pub entry: DataEntry,
    pub md5: Option<[u8; 16]>,
}

/// Every data entry of one archive, in archive order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArchiveIndex {
    pub entries: Vec<IndexedEntry>,
}

const MAGIC: &[u8] = b"rescue-archive-index 1\n";
/// Marks a string field that is absent (a link target of a file), as opposed to empty.
const ABSENT: u32 = u32::MAX;
/// No index of a real archive comes near this; a larger length field is damage.
const MAX_FIELD: usize = 1 << 20;

/// File contents kept in memory from the read that made an index, by entry path: what a
/// restore writes next, so that the archive is not decompressed a second time.
pub type Kept = HashMap<PathBuf, Vec<u8>>;

impl Deb {
    /// The index, by streaming the whole data member once and hashing every file.
    pub fn index(&self) -> Result<ArchiveIndex> {
        self.index_keeping(&mut |_| false).map(|(index, _)| index)
    }

    /// [`Deb::index`], keeping the content of every file `keep` accepts (it sees each file
    /// entry once, and may refuse for lack of memory).
    pub fn index_keeping(
        &self,
        keep: &mut dyn FnMut(&DataEntry) -> bool,
    ) -> Result<(ArchiveIndex, Kept)> {
        let mut entries = Vec::new();
        let mut kept = Kept::new();
        let mut buffer = vec![0u8; 1 << 16];
        self.for_each_entry(|entry, content| {
            let md5 = if entry.kind == EntryKind::File {
                let mut copy = keep(entry).then(|| Vec::with_capacity(entry.size as usize));
                let md5 = md5_of(content, &mut buffer, copy.as_mut()).map_err(|err| {
                    super::bad(
                        &self.path,
                        format!("{}: {err}", crate::sys::quoting::escape(&entry.path)),
                    )
                })?;
                if let Some(copy) = copy {
                    kept.insert(entry.path.clone(), copy);
                }
                Some(md5)
            } else {
                None
            };
            entries.push(IndexedEntry {
                entry: entry.clone(),
                md5,
            });
            Ok(())
        })?;
        Ok((ArchiveIndex { entries }, kept))
    }
}

fn md5_of(
    content: &mut dyn Read,
    buffer: &mut [u8],
    mut copy: Option<&mut Vec<u8>>,
) -> std::io::Result<[u8; 16]> {
    let mut hasher = Md5::new();
    loop {
        match content.read(buffer) {
            Ok(0) => return Ok(hasher.finalize().into()),
            Ok(n) => {
                hasher.update(&buffer[..n]);
                if let Some(copy) = copy.as_mut() {
                    copy.extend_from_slice(&buffer[..n]);
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

impl ArchiveIndex {
    /// The cache file's bytes: a magic line, the entries, then their count and the SHA256 of
    /// everything before it, so that a cut or damaged file is told from a whole one.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for indexed in &self.entries {
            encode_entry(indexed, &mut out);
        }
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    /// The index `bytes` hold, or `None` when they are not a whole index of this format.
    pub fn decode(bytes: &[u8]) -> Option<ArchiveIndex> {
        let (body, digest) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
        if Sha256::digest(body).as_slice() != digest {
            return None;
        }
        let (body, count) = body.split_at_checked(body.len().checked_sub(8)?)?;
        let count = u64::from_le_bytes(count.try_into().ok()?);
        let mut input = Input {
            bytes: body.strip_prefix(MAGIC)?,
        };
        let mut entries = Vec::new();
        while !input.bytes.is_empty() {
            entries.push(decode_entry(&mut input)?);
        }
        (entries.len() as u64 == count).then_some(ArchiveIndex { entries })
    }
}

fn kind_byte(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::File => b'f',
        EntryKind::Directory => b'd',
        EntryKind::Symlink => b'l',
        EntryKind::HardLink => b'h',
        EntryKind::CharDevice => b'c',
        EntryKind::BlockDevice => b'b',
        EntryKind::Fifo => b'p',
    }
}

fn kind_of(byte: u8) -> Option<EntryKind> {
    Some(match byte {
        b'f' => EntryKind::File,
        b'd' => EntryKind::Directory,
        b'l' => EntryKind::Symlink,
        b'h' => EntryKind::HardLink,
        b'c' => EntryKind::CharDevice,
        b'b' => EntryKind::BlockDevice,
        b'p' => EntryKind::Fifo,
        _ => return None,
    })
}

fn encode_entry(indexed: &IndexedEntry, out: &mut Vec<u8>) {
    let entry = &indexed.entry;
    out.push(kind_byte(entry.kind));
    for number in [entry.mode, entry.uid, entry.gid] {
        out.extend_from_slice(&number.to_le_bytes());
    }
    out.extend_from_slice(&entry.size.to_le_bytes());
    out.extend_from_slice(&entry.mtime.to_le_bytes());
    match &indexed.md5 {
        Some(md5) => {
            out.push(1);
            out.extend_from_slice(md5);
        }
        None => out.push(0),
    }
    let (major, minor) = entry.device.unwrap_or((ABSENT, ABSENT));
    out.extend_from_slice(&major.to_le_bytes());
    out.extend_from_slice(&minor.to_le_bytes());
    let link = entry.link_target.as_ref().map(|l| l.as_os_str().as_bytes());
    for field in [
        Some(entry.path.as_os_str().as_bytes()),
        link,
        entry.user.as_ref().map(|u| u.as_bytes()),
        entry.group.as_ref().map(|g| g.as_bytes()),
    ] {
        match field {
            Some(bytes) => {
                out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                out.extend_from_slice(bytes);
            }
            None => out.extend_from_slice(&ABSENT.to_le_bytes()),
        }
    }
}

struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn field(&mut self) -> Option<Option<&'a [u8]>> {
        match self.u32()? {
            ABSENT => Some(None),
            n if n as usize > MAX_FIELD => None,
            n => Some(Some(self.take(n as usize)?)),
        }
    }
}

fn decode_entry(input: &mut Input) -> Option<IndexedEntry> {
    let kind = kind_of(input.take(1)?[0])?;
    let (mode, uid, gid) = (input.u32()?, input.u32()?, input.u32()?);
    let size = input.u64()?;
    let mtime = input.u64()? as i64;
    let md5 = match input.take(1)?[0] {
        0 => None,
        1 => Some(input.take(16)?.try_into().ok()?),
        _ => return None,
    };
    let (major, minor) = (input.u32()?, input.u32()?);
    let device = (major != ABSENT).then_some((major, minor));
    let path = PathBuf::from(OsStr::from_bytes(input.field()??));
    // The names a fresh read of the archive would have refused are refused here too.
    if !path.is_absolute() || path.components().any(|c| c.as_os_str() == "..") {
        return None;
    }
    let link_target = input.field()?.map(|l| PathBuf::from(OsStr::from_bytes(l)));
    let text = |bytes: Option<&[u8]>| bytes.map(|b| String::from_utf8_lossy(b).into_owned());
    let user = text(input.field()?);
    let group = text(input.field()?);
    Some(IndexedEntry {
        entry: DataEntry {
            path,
            kind,
            mode,
            uid,
            gid,
            user,
            group,
            size,
            mtime,
            link_target,
            device,
        },
        md5,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ArchiveIndex {
        let file = DataEntry {
            path: PathBuf::from("/usr/lib/x86_64-linux-gnu/libc.so.6"),
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            user: Some("root".into()),
            group: Some("root".into()),
            size: 1922136,
            mtime: 1_700_000_000,
            link_target: None,
            device: None,
        };
        let link = DataEntry {
            path: PathBuf::from(OsStr::from_bytes(b"/usr/share/a \xff b")),
            kind: EntryKind::Symlink,
            mode: 0o777,
            link_target: Some(PathBuf::from("")),
            user: None,
            size: 0,
            ..file.clone()
        };
        ArchiveIndex {
            entries: vec![
                IndexedEntry {
                    entry: file,
                    md5: Some([7; 16]),
                },
                IndexedEntry {
                    entry: link,
                    md5: None,
                },
            ],
        }
    }

    #[test]
    fn an_index_reads_back_as_it_was_written() {
        let index = sample();
        assert_eq!(ArchiveIndex::decode(&index.encode()), Some(index));
        let empty = ArchiveIndex::default();
        assert_eq!(ArchiveIndex::decode(&empty.encode()), Some(empty));
    }

    #[test]
    fn a_cut_or_changed_index_is_not_read() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert_eq!(ArchiveIndex::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        for at in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[at] ^= 0x20;
            assert_eq!(ArchiveIndex::decode(&changed), None, "byte {at} changed");
        }
    }
}
