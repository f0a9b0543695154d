//! The digest cache: `ROOT/var/cache/rescue/verify-md5.cache`, so that a second `verify` with
//! nothing changed reads metadata only. An entry is trusted only while device, inode, size,
//! mtime and ctime (both with nanoseconds) all still match: ctime cannot be set back from user
//! space, so a file rewritten and `touch`ed to its old mtime is still rehashed.
//!
//! The file is binary, length-prefixed (paths may hold any byte but NUL), written to a
//! temporary name and renamed. A cache that cannot be parsed is ignored as a whole: it only
//! ever saves time, it never decides a result.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::sys::root::{Last, Root};
use crate::{Error, Result};

const MAGIC: &[u8] = b"rescue verify md5 cache 1\n";
/// Where the cache lives inside ROOT.
pub const CACHE_DIR: &str = "/var/cache/rescue";
pub const CACHE_FILE: &str = "verify-md5.cache";

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

    fn encode(&self, out: &mut Vec<u8>) {
        for value in [
            self.dev,
            self.ino,
            self.size,
            self.mtime.0 as u64,
            self.mtime.1 as u64,
            self.ctime.0 as u64,
            self.ctime.1 as u64,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
}

#[derive(Debug, Default)]
pub struct Cache {
    entries: HashMap<PathBuf, (Key, [u8; 16])>,
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

impl Cache {
    /// The cache file for a root, as the host sees it; `None` when ROOT has no `/var/cache`.
    pub fn path_for(root: &Root) -> Option<PathBuf> {
        let dir = root.resolve(Path::new("/var/cache"), Last::Follow).ok()?;
        dir.is_dir().then(|| dir.join("rescue").join(CACHE_FILE))
    }

    /// Loads the cache; a missing, unreadable or malformed file is an empty cache.
    pub fn load(path: &Path) -> Cache {
        let Ok(bytes) = std::fs::read(path) else {
            return Cache::default();
        };
        Self::decode(&bytes).unwrap_or_default()
    }

    fn decode(bytes: &[u8]) -> Option<Cache> {
        let mut reader = Reader(bytes.strip_prefix(MAGIC)?);
        let mut entries = HashMap::new();
        while !reader.0.is_empty() {
            let len = usize::try_from(reader.u64()?).ok()?;
            let path = crate::dpkg::path_from_bytes(reader.take(len)?);
            let mut fields = [0u64; 7];
            for field in &mut fields {
                *field = reader.u64()?;
            }
            let digest: [u8; 16] = reader.take(16)?.try_into().ok()?;
            let key = Key {
                dev: fields[0],
                ino: fields[1],
                size: fields[2],
                mtime: (fields[3] as i64, fields[4] as i64),
                ctime: (fields[5] as i64, fields[6] as i64),
            };
            entries.insert(path, (key, digest));
        }
        Some(Cache { entries })
    }

    /// The cached digest of `path`, if the file is provably the one that was hashed.
    pub fn get(&self, path: &Path, key: &Key) -> Option<[u8; 16]> {
        match self.entries.get(path) {
            Some((cached, digest)) if cached == key => Some(*digest),
            _ => None,
        }
    }

    pub fn insert(&mut self, path: PathBuf, key: Key, digest: [u8; 16]) {
        self.entries.insert(path, (key, digest));
    }

    /// Drops every entry `keep` says no to (paths no longer owned by any package).
    pub fn retain(&mut self, mut keep: impl FnMut(&Path) -> bool) {
        self.entries.retain(|path, _| keep(path));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the cache atomically (temporary file in the same directory, then rename),
    /// creating the `rescue` directory (mode 0700) when needed.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            match std::fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(Error::io("create directory", dir, err)),
            }
        }
        let mut bytes = Vec::with_capacity(MAGIC.len() + self.entries.len() * 120);
        bytes.extend_from_slice(MAGIC);
        for (entry_path, (key, digest)) in &self.entries {
            let raw = entry_path.as_os_str().as_bytes();
            bytes.extend_from_slice(&(raw.len() as u64).to_le_bytes());
            bytes.extend_from_slice(raw);
            key.encode(&mut bytes);
            bytes.extend_from_slice(digest);
        }
        let mut temp = path.as_os_str().to_os_string();
        temp.push(format!(".tmp.{}", std::process::id()));
        let temp = PathBuf::from(temp);
        // Digests of small conffiles say something about their content: owner-only.
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .and_then(|mut file| {
                file.write_all(&bytes)?;
                file.sync_all()
            });
        if let Err(err) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(Error::io("write", &temp, err));
        }
        std::fs::rename(&temp, path).map_err(|err| {
            let _ = std::fs::remove_file(&temp);
            Error::io("rename", path, err)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c");
        let mut cache = Cache::default();
        let key = Key {
            dev: 1,
            ino: 2,
            size: 3,
            mtime: (4, 5),
            ctime: (6, 7),
        };
        cache.insert(PathBuf::from("/a\nb"), key, [9; 16]);
        cache.save(&file).unwrap();
        let loaded = Cache::load(&file);
        assert_eq!(loaded.get(Path::new("/a\nb"), &key), Some([9; 16]));
        let moved = Key { ino: 3, ..key };
        assert_eq!(loaded.get(Path::new("/a\nb"), &moved), None);
        std::fs::write(&file, b"rescue verify md5 cache 1\n\xff\xff").unwrap();
        assert!(Cache::load(&file).is_empty());
    }
}
