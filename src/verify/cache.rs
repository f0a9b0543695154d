//! The digest cache: `ROOT/var/cache/rescue/verify-md5.cache`, so that a second `verify` with
//! nothing changed reads metadata only. An entry is trusted only while device, inode, size,
//! mtime and ctime (both with nanoseconds) all still match: ctime cannot be set back from user
//! space, so a file rewritten and `touch`ed to its old mtime is still rehashed.
//!
//! The file is binary, length-prefixed (paths may hold any byte but NUL), written to a
//! temporary name and renamed. A cache that cannot be parsed is ignored as a whole: it only
//! ever saves time, it never decides a result.
//!
//! It is never read or written outside ROOT ([`CacheDir`]): `var/cache` is resolved inside
//! ROOT (a `/var` symlink is followed there), and `rescue` beneath it must be a real directory,
//! created by us when missing and held open with `O_NOFOLLOW`. A `rescue` that is a symlink
//! (to a host directory, or anywhere: we never make one) or anything else but a directory
//! means no cache for this run, with a warning; it is left as it is. The file is opened only
//! when it is a regular file and read up to a size that entries for the checked paths can
//! take ([`max_size`]); the new one is created with `O_EXCL|O_NOFOLLOW` in that directory and
//! renamed there, so neither step can be led elsewhere by a link.

use std::ffi::OsStr;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::{mkdirat, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::sys::input::{self, PATH_MAX};
use crate::sys::root::{Last, Root};
use crate::{Error, Result};

const MAGIC: &[u8] = b"rescue verify md5 cache 1\n";
/// Where the cache lives inside ROOT.
pub const CACHE_DIR: &str = "/var/cache/rescue";
pub const CACHE_FILE: &str = "verify-md5.cache";

/// The largest cache file read for `paths` checked paths: an entry is at most a length, a
/// path, the key and the digest; room for a few hundred thousand more (a cache keeps the
/// entries of packages not checked this time). Larger is not a cache of ours.
pub fn max_size(paths: usize) -> u64 {
    let entry = (8 + PATH_MAX + 7 * 8 + 16) as u64;
    (256 << 20) + entry * paths as u64
}

/// Everything about a file that must be unchanged for its cached digest to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl Key {
    pub fn of(meta: &std::fs::Metadata) -> Key {
        Key {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    fn fields(&self) -> [u64; 7] {
        [
            self.dev,
            self.ino,
            self.size,
            self.mtime.0 as u64,
            self.mtime.1 as u64,
            self.ctime.0 as u64,
            self.ctime.1 as u64,
        ]
    }

    fn from_fields(fields: [u64; 7]) -> Key {
        Key {
            dev: fields[0],
            ino: fields[1],
            size: fields[2],
            mtime: (fields[3] as i64, fields[4] as i64),
            ctime: (fields[5] as i64, fields[6] as i64),
        }
    }
}

/// The entries, with the paths' bytes end to end in one buffer (the file as it was read, then
/// paths added by this run) and a table of their positions: a cache of a whole host is some
/// 100,000 paths, looked up, kept and written in a fraction of the time a map of `PathBuf`s
/// took to hash them component by component and to allocate them one by one.
#[derive(Debug, Default)]
pub struct Cache {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    /// Open addressing, linear probing: 0 is empty, else an index into `entries` plus one.
    /// Never more than half full.
    slots: Vec<u32>,
    hasher: std::hash::RandomState,
    /// Something differs from the file it was loaded from: only then is it written back.
    changed: bool,
}

/// An entry of a [`Cache`], as [`Cache::find_near`] found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryId(usize);

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The path: `bytes[start..start + len]`.
    start: usize,
    len: usize,
    hash: u64,
    key: Key,
    digest: [u8; 16],
    /// `false` once dropped ([`Cache::drop_unmarked`]): it is neither found nor written.
    live: bool,
    /// Where its path came in this run's walk ([`Cache::mark`]), `UNRANKED` when it did not:
    /// the file is written in that order, so that the next run finds entry after entry where
    /// it looks ([`Cache::find_near`]) instead of one cache miss after another in the table.
    rank: u32,
}

const UNRANKED: u32 = u32::MAX;

/// `a == b`, a word at a time: musl's `memcmp` goes byte by byte, and paths of one package
/// share most of their bytes.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |chunk: &[u8]| <[u8; 8]>::try_from(chunk).map_or(0, u64::from_ne_bytes);
    let (mut left, mut right) = (a.chunks_exact(8), b.chunks_exact(8));
    if (&mut left).zip(&mut right).any(|(x, y)| word(x) != word(y)) {
        return false;
    }
    left.remainder()
        .iter()
        .zip(right.remainder())
        .all(|(x, y)| x == y)
}

impl Cache {
    /// An empty cache that replaces whatever file stood there (one that could not be read).
    pub fn fresh() -> Cache {
        Cache {
            changed: true,
            ..Cache::default()
        }
    }

    /// Parses a whole cache file. A path length no path can have is damage; the end of the
    /// file may only fall between entries.
    fn decode(bytes: Vec<u8>) -> Option<Cache> {
        if !bytes.starts_with(MAGIC) {
            return None;
        }
        let mut at = MAGIC.len();
        let take = |at: &mut usize, n: usize| -> Option<usize> {
            let start = *at;
            *at = start.checked_add(n).filter(|&end| end <= bytes.len())?;
            Some(start)
        };
        let word = |start: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[start..start + 8]);
            u64::from_le_bytes(word)
        };
        let mut found = Vec::new();
        while at < bytes.len() {
            let len = usize::try_from(word(take(&mut at, 8)?)).ok()?;
            if len >= PATH_MAX {
                return None;
            }
            let start = take(&mut at, len)?;
            let fields_at = take(&mut at, 7 * 8)?;
            let mut fields = [0u64; 7];
            for (n, field) in fields.iter_mut().enumerate() {
                *field = word(fields_at + 8 * n);
            }
            let digest_at = take(&mut at, 16)?;
            let mut digest = [0u8; 16];
            digest.copy_from_slice(&bytes[digest_at..digest_at + 16]);
            found.push((start, len, Key::from_fields(fields), digest));
        }
        let mut cache = Cache {
            bytes,
            ..Cache::default()
        };
        cache.grow_for(found.len());
        for (start, len, key, digest) in found {
            cache.put(start, len, key, digest);
        }
        cache.changed = false;
        Some(cache)
    }

    fn path_of(&self, entry: &Entry) -> &[u8] {
        &self.bytes[entry.start..entry.start + entry.len]
    }

    /// The slot holding `path`, or the empty slot where it goes.
    fn slot(&self, path: &[u8], hash: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            match self.slots[at] {
                0 => return at,
                taken => {
                    let entry = &self.entries[taken as usize - 1];
                    if entry.hash == hash && same_bytes(self.path_of(entry), path) {
                        return at;
                    }
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// The index of the live entry of `path`.
    fn find(&self, path: &[u8]) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        let hash = self.hasher.hash_one(path);
        match self.slots[self.slot(path, hash)] {
            0 => None,
            taken => Some(taken as usize - 1).filter(|&at| self.entries[at].live),
        }
    }

    /// The entry of `path`, looked for first at `*hint` (the entry after the one found last:
    /// a cache written in walk order is read in walk order) and then in the table; `*hint`
    /// moves past what is found. The entry's index, and whether it was where the hint said.
    pub fn find_near(&self, path: &Path, hint: &mut usize) -> Option<(EntryId, bool)> {
        let raw = path.as_os_str().as_bytes();
        if let Some(entry) = self.entries.get(*hint) {
            if entry.live && same_bytes(self.path_of(entry), raw) {
                let id = EntryId(*hint);
                *hint += 1;
                return Some((id, true));
            }
        }
        let at = self.find(raw)?;
        *hint = at + 1;
        Some((EntryId(at), false))
    }

    /// The digest of entry `id` if the file is provably the one that was hashed.
    pub fn digest(&self, id: EntryId, key: &Key) -> Option<[u8; 16]> {
        let entry = self.entries.get(id.0)?;
        (entry.key == *key).then_some(entry.digest)
    }

    /// Notes that entry `id` belongs to a path of this run, the `rank`th of its walk (the
    /// smallest rank stays).
    pub fn mark(&mut self, id: EntryId, rank: u32) {
        if let Some(entry) = self.entries.get_mut(id.0) {
            entry.rank = entry.rank.min(rank);
        }
    }

    /// Drops every entry no path of this run was marked for (paths no longer owned by any
    /// package). Marks are cleared.
    pub fn drop_unmarked(&mut self) {
        for entry in &mut self.entries {
            if entry.live && entry.rank == UNRANKED {
                entry.live = false;
                self.changed = true;
            }
        }
    }

    /// Has the file written again even if no entry changed: its order no longer follows the
    /// walk, and every lookup misses the hint.
    pub fn reorder(&mut self) {
        self.changed = true;
    }

    /// Room for `more` entries with the table at most half full.
    fn grow_for(&mut self, more: usize) {
        let wanted = (self.entries.len() + more).saturating_mul(2).max(16);
        if wanted <= self.slots.len() {
            return;
        }
        let size = wanted.next_power_of_two();
        self.slots = vec![0; size];
        let mask = size - 1;
        for (index, entry) in self.entries.iter().enumerate() {
            let mut at = entry.hash as usize & mask;
            while self.slots[at] != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = index as u32 + 1;
        }
    }

    /// Sets the entry of the path at `bytes[start..start + len]`, a later one replacing an
    /// earlier (as a map's insert does); `false` when the path had an entry.
    fn put(&mut self, start: usize, len: usize, key: Key, digest: [u8; 16]) -> bool {
        self.grow_for(1);
        let hash = self.hasher.hash_one(&self.bytes[start..start + len]);
        let at = self.slot(&self.bytes[start..start + len], hash);
        match self.slots[at] {
            0 => {
                self.entries.push(Entry {
                    start,
                    len,
                    hash,
                    key,
                    digest,
                    live: true,
                    rank: UNRANKED,
                });
                self.slots[at] = self.entries.len() as u32;
                self.changed = true;
                true
            }
            taken => {
                let entry = &mut self.entries[taken as usize - 1];
                entry.key = key;
                entry.digest = digest;
                entry.live = true;
                self.changed = true;
                false
            }
        }
    }

    /// The cached digest of `path`, if the file is provably the one that was hashed.
    pub fn get(&self, path: &Path, key: &Key) -> Option<[u8; 16]> {
        let at = self.find(path.as_os_str().as_bytes())?;
        self.digest(EntryId(at), key)
    }

    /// Remembers `digest` for `path` as `key` found it, the `rank`th path of this run's walk
    /// ([`Cache::mark`]); a cache that already says so is left unchanged (and is not written
    /// back for it).
    pub fn insert(&mut self, path: &Path, key: Key, digest: [u8; 16], rank: Option<u32>) {
        let raw = path.as_os_str().as_bytes();
        if let Some(at) = self.find(raw) {
            let entry = &self.entries[at];
            if entry.key == key && entry.digest == digest {
                if let Some(rank) = rank {
                    self.mark(EntryId(at), rank);
                }
                return;
            }
        }
        if self.entries.len() >= u32::MAX as usize / 2 {
            return;
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(raw);
        let added = self.put(start, raw.len(), key, digest);
        if !added {
            // The path had an entry: these bytes are not needed.
            self.bytes.truncate(start);
        }
        if let (Some(rank), Some(at)) = (rank, self.find(raw)) {
            self.mark(EntryId(at), rank);
        }
    }

    /// Drops every entry whose path is not among `paths` (paths no longer owned by any
    /// package), and orders the rest as `paths` come.
    pub fn keep_only<'a>(&mut self, paths: impl IntoIterator<Item = &'a Path>) {
        let mut hint = 0;
        for (rank, path) in paths.into_iter().enumerate() {
            if let Some((id, _)) = self.find_near(path, &mut hint) {
                self.mark(id, u32::try_from(rank).unwrap_or(UNRANKED - 1));
            }
        }
        self.drop_unmarked();
    }

    /// Whether it differs from the file it was loaded from.
    pub fn changed(&self) -> bool {
        self.changed
    }

    pub fn len(&self) -> usize {
        self.entries.iter().filter(|entry| entry.live).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn encode(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(MAGIC)?;
        let mut order: Vec<&Entry> = self.entries.iter().filter(|entry| entry.live).collect();
        // Stable: unranked entries keep their order, after the walk's.
        order.sort_by_key(|entry| entry.rank);
        for entry in order {
            let raw = self.path_of(entry);
            out.write_all(&(raw.len() as u64).to_le_bytes())?;
            out.write_all(raw)?;
            for field in entry.key.fields() {
                out.write_all(&field.to_le_bytes())?;
            }
            out.write_all(&entry.digest)?;
        }
        Ok(())
    }
}

/// `ROOT/var/cache/rescue`, open, checked to be a directory inside ROOT.
#[derive(Debug)]
pub struct CacheDir {
    dir: File,
    /// `ROOT/var/cache/rescue` as messages name it.
    shown: PathBuf,
}

fn errno_error(errno: Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(errno as i32)
}

impl CacheDir {
    /// Opens (creating it, mode 0700, when missing) ROOT's cache directory. `Ok(None)` when
    /// there can be no cache and that is nobody's fault: ROOT has no `/var/cache`, or it is
    /// read-only or not ours to write. An error when `rescue` is there but is not a directory
    /// (a symlink above all): the caller warns and goes without.
    pub fn open(root: &Root) -> Result<Option<CacheDir>> {
        let shown = root.host_lexical(Path::new(CACHE_DIR));
        let Ok(parent) = root.resolve(Path::new("/var/cache"), Last::Follow) else {
            return Ok(None);
        };
        let directory = OFlag::O_RDONLY
            | OFlag::O_DIRECTORY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC;
        // Resolved inside ROOT, `var/cache` is no symlink; on the host's own root the kernel
        // resolves it, as `chroot /` would.
        let parent_flags = if root.is_host_root() {
            directory - OFlag::O_NOFOLLOW
        } else {
            directory
        };
        let parent = match openat(None, &parent, parent_flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES | Errno::ELOOP) => return Ok(None),
            Err(errno) => return Err(Error::io("open", &parent, errno_error(errno))),
        };
        // SAFETY: `openat` just returned this descriptor and nothing else owns it.
        let parent = unsafe { File::from_raw_fd(parent) };
        let name = OsStr::new("rescue");
        match mkdirat(Some(parent.as_raw_fd()), name, Mode::S_IRWXU) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(Errno::EROFS | Errno::EACCES | Errno::EPERM) => {}
            Err(errno) => return Err(Error::io("create directory", &shown, errno_error(errno))),
        }
        match openat(Some(parent.as_raw_fd()), name, directory, Mode::empty()) {
            Ok(fd) => Ok(Some(CacheDir {
                // SAFETY: as above.
                dir: unsafe { File::from_raw_fd(fd) },
                shown,
            })),
            Err(Errno::ENOENT | Errno::EACCES) => Ok(None),
            // O_DIRECTORY|O_NOFOLLOW says ENOTDIR for a symlink to a directory: ask lstat.
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                let is_link = nix::sys::stat::fstatat(
                    Some(parent.as_raw_fd()),
                    name,
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK);
                Err(Error::refused(
                    shown,
                    if is_link {
                        "is a symbolic link, which rescue never makes: the digest cache is not used (nothing is read or written through it)"
                    } else {
                        "is not a directory: the digest cache is not used"
                    },
                ))
            }
            Err(errno) => Err(Error::io("open", &shown, errno_error(errno))),
        }
    }

    /// The open directory, for the other caches kept in it (the archive indexes).
    pub fn handle(&self) -> &File {
        &self.dir
    }

    /// The cache file as messages name it.
    pub fn file(&self) -> PathBuf {
        self.shown.join(CACHE_FILE)
    }

    /// Loads the cache: a missing or malformed file is an empty cache; one that is not a
    /// regular file or is larger than `max_bytes` is an error (the caller warns and starts
    /// empty; the next save replaces it).
    pub fn load(&self, max_bytes: u64) -> Result<Cache> {
        let file =
            match input::open_regular_at(Some(&self.dir), Path::new(CACHE_FILE), Last::NoFollow) {
                Ok(file) => file,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(Cache::default())
                }
                Err(err) => return Err(Error::io("read", self.file(), err)),
            };
        let size = file
            .metadata()
            .map_err(|err| Error::io("read", self.file(), err))?
            .len();
        if size > max_bytes {
            let why = format!("larger than {max_bytes} bytes: ignored (it will be rewritten)");
            return Err(Error::refused(self.file(), why));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(max_bytes)
            .read_to_end(&mut bytes)
            .map_err(|err| Error::io("read", self.file(), err))?;
        Ok(Cache::decode(bytes).unwrap_or_else(Cache::fresh))
    }

    /// Writes the cache atomically: a new file (`O_EXCL|O_NOFOLLOW`, owner-only: digests of
    /// small conffiles say something about their content) in this directory, then `renameat`
    /// over the old one, which replaces whatever stood there without following it.
    pub fn save(&self, cache: &Cache) -> Result<()> {
        let temp = format!("{CACHE_FILE}.tmp.{}", std::process::id());
        let at = Some(self.dir.as_raw_fd());
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let shown_temp = self.shown.join(&temp);
        let fd = openat(at, temp.as_str(), flags, Mode::S_IRUSR | Mode::S_IWUSR)
            .map_err(|errno| Error::io("create", &shown_temp, errno_error(errno)))?;
        // SAFETY: `openat` just returned this descriptor and nothing else owns it.
        let file = unsafe { File::from_raw_fd(fd) };
        let mut out = std::io::BufWriter::with_capacity(64 << 10, file);
        let written = cache
            .encode(&mut out)
            .and_then(|()| out.into_inner().map_err(|err| err.into_error()))
            .and_then(|file| file.sync_all());
        let renamed = written
            .map_err(|err| Error::io("write", &shown_temp, err))
            .and_then(|()| {
                renameat(at, temp.as_str(), at, CACHE_FILE)
                    .map_err(|errno| Error::io("rename", self.file(), errno_error(errno)))
            });
        if renamed.is_err() {
            let _ = unlinkat(at, temp.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        renamed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/cache")).unwrap();
        let root = Root::new(dir.path());
        let cache_dir = CacheDir::open(&root).unwrap().unwrap();
        let mut cache = Cache::default();
        let key = Key {
            dev: 1,
            ino: 2,
            size: 3,
            mtime: (4, 5),
            ctime: (6, 7),
        };
        cache.insert(Path::new("/a\nb"), key, [9; 16], None);
        cache_dir.save(&cache).unwrap();
        let file = dir.path().join("var/cache/rescue").join(CACHE_FILE);
        assert_eq!(
            std::fs::metadata(&file).unwrap().mode() & 0o777,
            0o600,
            "owner-only"
        );
        let loaded = cache_dir.load(max_size(1)).unwrap();
        assert_eq!(loaded.get(Path::new("/a\nb"), &key), Some([9; 16]));
        let moved = Key { ino: 3, ..key };
        assert_eq!(loaded.get(Path::new("/a\nb"), &moved), None);
        assert!(cache_dir.load(10).is_err(), "larger than the limit");
        std::fs::write(&file, b"rescue verify md5 cache 1\n\xff\xff").unwrap();
        assert!(cache_dir.load(max_size(1)).unwrap().is_empty());
        // A length no path has is damage, not an allocation of 2^64 bytes.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&file, huge).unwrap();
        assert!(cache_dir.load(max_size(1)).unwrap().is_empty());
    }

    #[test]
    fn unchanged_is_not_rewritten_and_the_walk_orders_the_file() {
        let key = |ino| Key {
            dev: 1,
            ino,
            size: 3,
            mtime: (4, 5),
            ctime: (6, 7),
        };
        let mut cache = Cache::default();
        for (ino, name) in [(1, "/c"), (2, "/a"), (3, "/b")] {
            cache.insert(Path::new(name), key(ino), [ino as u8; 16], None);
        }
        let mut bytes = Vec::new();
        cache.encode(&mut bytes).unwrap();
        let mut loaded = Cache::decode(bytes).unwrap();
        assert!(!loaded.changed());
        loaded.insert(Path::new("/a"), key(2), [2; 16], None);
        assert!(!loaded.changed(), "the same digest again changes nothing");
        // The walk goes /a, /b; /c is no one's any more.
        loaded.keep_only([Path::new("/a"), Path::new("/b")]);
        assert!(loaded.changed());
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded.get(Path::new("/c"), &key(1)), None);
        let mut bytes = Vec::new();
        loaded.encode(&mut bytes).unwrap();
        let mut again = Cache::decode(bytes).unwrap();
        let mut hint = 0;
        let (a, near_a) = again.find_near(Path::new("/a"), &mut hint).unwrap();
        let (b, near_b) = again.find_near(Path::new("/b"), &mut hint).unwrap();
        assert!(near_a && near_b, "written in walk order");
        assert_eq!(again.digest(a, &key(2)), Some([2; 16]));
        assert_eq!(again.digest(b, &key(4)), None, "another file at the path");
        again.insert(Path::new("/b"), key(4), [4; 16], Some(1));
        assert!(again.changed());
        assert_eq!(again.get(Path::new("/b"), &key(4)), Some([4; 16]));
    }

    #[test]
    fn a_symlinked_cache_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/cache")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("var/cache/rescue")).unwrap();
        let err = CacheDir::open(&Root::new(dir.path())).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn no_var_cache_is_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        assert!(CacheDir::open(&Root::new(dir.path())).unwrap().is_none());
        assert!(!dir.path().join("var").exists());
    }
}
