//! ROOT's cache of archive header indexes ([`ArchiveIndex`]), one file per archive named by
//! its SHA256 in `var/cache/rescue/archives/`, beside verify's digest cache and confined to
//! ROOT the same way ([`CacheDir`]): the directory is created owner-only and held open with
//! `O_NOFOLLOW`, files are opened only when regular and written under a temporary name, then
//! renamed.
//!
//! No cache (a read-only ROOT, no `/var/cache`, a `rescue` that is a symlink) only costs
//! time: every archive is then read in full, as without one.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::{mkdirat, Mode};

use super::Found;
use crate::deb::{ArchiveIndex, DataEntry, Kept};
use crate::sys::input;
use crate::sys::root::{Last, Root};
use crate::verify::CacheDir;
use crate::Result;

const SUBDIRECTORY: &str = "archives";
/// An index of Debian's largest archives is a few MiB; more is not an index of ours.
const MAX_INDEX: u64 = 256 << 20;

/// The open `archives/` directory of ROOT's cache, when ROOT can have one.
#[derive(Debug, Default)]
pub struct HeaderCache {
    dir: Option<File>,
}

impl HeaderCache {
    /// Opens (creating when missing) `ROOT/var/cache/rescue/archives`; no cache when that
    /// cannot be done safely.
    pub fn open(root: &Root) -> HeaderCache {
        let Ok(Some(cache)) = CacheDir::open(root) else {
            return HeaderCache::default();
        };
        let parent = cache.handle().as_raw_fd();
        let name = OsStr::new(SUBDIRECTORY);
        match mkdirat(Some(parent), name, Mode::S_IRWXU) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(_) => return HeaderCache::default(),
        }
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let dir = openat(Some(parent), name, flags, Mode::empty())
            .ok()
            // SAFETY: `openat` just returned this descriptor and nothing else owns it.
            .map(|fd| unsafe { File::from_raw_fd(fd) });
        HeaderCache { dir }
    }

    /// The index kept for the archive whose SHA256 is `sha256`, when a whole one is there.
    pub fn get(&self, sha256: &str) -> Option<ArchiveIndex> {
        let dir = self.dir.as_ref()?;
        let name = file_name(sha256)?;
        let file = input::open_regular_at(Some(dir), Path::new(name), Last::NoFollow).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_INDEX).read_to_end(&mut bytes).ok()?;
        ArchiveIndex::decode(&bytes)
    }

    /// Whether an index file for `sha256` is there (not whether it is whole: [`get`] says).
    ///
    /// [`get`]: HeaderCache::get
    pub fn has(&self, sha256: &str) -> bool {
        let (Some(dir), Some(name)) = (self.dir.as_ref(), file_name(sha256)) else {
            return false;
        };
        nix::sys::stat::fstatat(
            Some(dir.as_raw_fd()),
            name,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
    }

    /// Keeps `index` for the archive `sha256`. Best effort: a cache that cannot be written
    /// costs the next run time, nothing else.
    pub fn put(&self, sha256: &str, index: &ArchiveIndex) {
        let (Some(dir), Some(name)) = (self.dir.as_ref(), file_name(sha256)) else {
            return;
        };
        let at = Some(dir.as_raw_fd());
        let temp = format!("{name}.tmp.{}", std::process::id());
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let Ok(fd) = openat(at, temp.as_str(), flags, Mode::S_IRUSR | Mode::S_IWUSR) else {
            return;
        };
        // SAFETY: `openat` just returned this descriptor and nothing else owns it.
        let mut file = unsafe { File::from_raw_fd(fd) };
        // No fsync: a file a crash cuts fails its checksum and is made again.
        if file.write_all(&index.encode()).is_err()
            || renameat(at, temp.as_str(), at, name).is_err()
        {
            let _ =
                nix::unistd::unlinkat(at, temp.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// Only a SHA256 in lowercase hex names a file here: nothing else can reach another name.
fn file_name(sha256: &str) -> Option<&str> {
    let hex = sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    hex.then_some(sha256)
}

impl Found {
    /// The archive's header index: from `cache` when it holds one for this archive's SHA256,
    /// else read from the archive in full and kept there for the next run.
    pub fn index(&self, cache: &HeaderCache) -> Result<ArchiveIndex> {
        self.index_keeping(cache, &mut |_| false)
            .map(|(index, _)| index)
    }

    /// [`Found::index`], keeping the content of the files `keep` accepts when the archive is
    /// read (nothing is kept when the cache had the index: the archive was not read).
    pub fn index_keeping(
        &self,
        cache: &HeaderCache,
        keep: &mut dyn FnMut(&DataEntry) -> bool,
    ) -> Result<(ArchiveIndex, Kept)> {
        let sha256 = match &self.sha256 {
            Some(sha256) => sha256.clone(),
            None => super::sha256_of(self.deb.path(), self.deb.reader())?,
        };
        if let Some(index) = cache.get(&sha256) {
            return Ok((index, Kept::new()));
        }
        let (index, kept) = self.deb.index_keeping(keep)?;
        cache.put(&sha256, &index);
        Ok((index, kept))
    }
}
