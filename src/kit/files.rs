//! How the kit's own files are written: every name inside the kit directory is ours, so what
//! stands at a name that should be a directory and is not (a symlink planted there, a file) is
//! removed, never followed; every file is written to a temp name beside it and renamed over
//! the old one, so a reader (the hook's next run, restore on the bad day) sees the old file or
//! the new one, never half of one. The kit directory itself is resolved inside ROOT by the
//! caller; nothing here resolves a symlink.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::dpkg::digest_hex;
use crate::sys::root::Last;
use crate::{Error, Result};

/// `path` as a real directory: made when missing, and whatever else stands there (a
/// symlink, a file) removed first.
pub fn ensure_dir(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => remove_any(path)?,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(Error::io("inspect", path, err)),
    }
    fs::create_dir(path).map_err(|err| Error::io("create directory", path, err))
}

/// Removes what stands at `path` without following it: a file, a symlink, or a whole tree.
pub fn remove_any(path: &Path) -> Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    };
    result.map_err(|err| Error::io("remove", path, err))
}

/// The temp name beside `path` that [`write_atomic`] and friends write first.
fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.rescue-seed-{}", std::process::id()))
}

/// A new file at a temp name (never through a symlink), filled by `fill`, synced, given
/// `mode`, then renamed to `path`. Returns what `fill` returned.
fn write_with<T>(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<T>,
) -> Result<T> {
    let temp = temp_beside(path);
    let _ = fs::remove_file(&temp);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        let value = fill(&mut file)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        Ok(value)
    })();
    result.map_err(|err: io::Error| {
        let _ = fs::remove_file(&temp);
        Error::io("write", path, err)
    })
}

/// Writes `bytes` to `path` atomically, unless it already holds exactly them with `mode`.
/// Returns whether it wrote.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<bool> {
    if let Ok(file) = crate::sys::input::open_regular(path, Last::NoFollow) {
        let meta = file
            .metadata()
            .map_err(|err| Error::io("stat", path, err))?;
        if meta.len() == bytes.len() as u64 && meta.mode() & 0o7777 == mode {
            let old = crate::sys::input::read_at_most(file, bytes.len() as u64)
                .map_err(|err| Error::io("read", path, err))?;
            if old == bytes {
                return Ok(false);
            }
        }
    }
    write_with(path, mode, |file| file.write_all(bytes))?;
    Ok(true)
}

/// Copies all of `input` to `path` atomically with `mode`; returns the SHA256 of what was
/// written and its size.
pub fn copy_atomic(path: &Path, mut input: impl Read, mode: u32) -> Result<(String, u64)> {
    write_with(path, mode, |file| {
        let mut hashing = HashingWriter {
            out: file,
            hasher: Sha256::new(),
            size: 0,
        };
        io::copy(&mut input, &mut hashing)?;
        Ok((digest_hex(&hashing.hasher.finalize()), hashing.size))
    })
}

struct HashingWriter<'a> {
    out: &'a mut File,
    hasher: Sha256,
    size: u64,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A hard link to `source` at `path`, made at a temp name and renamed over whatever stood
/// there. `source` itself must be a regular file, not a symlink: `link(2)` would link the
/// symlink. EXDEV (another file system) comes back as such for the caller to copy instead.
pub fn link_atomic(source: &Path, path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(source)?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let temp = temp_beside(path);
    let _ = fs::remove_file(&temp);
    fs::hard_link(source, &temp)?;
    fs::rename(&temp, path).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

/// A symlink `path -> target`, unless one with that target is there already; whatever else
/// stands at `path` is replaced (a symlink at a temp name, renamed over it). Returns whether
/// it wrote.
pub fn symlink_atomic(target: &Path, path: &Path) -> Result<bool> {
    if fs::read_link(path).is_ok_and(|old| old == target) {
        return Ok(false);
    }
    if fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir()) {
        remove_any(path)?;
    }
    let temp = temp_beside(path);
    let _ = fs::remove_file(&temp);
    std::os::unix::fs::symlink(target, &temp)
        .and_then(|()| fs::rename(&temp, path))
        .map_err(|err| {
            let _ = fs::remove_file(&temp);
            Error::io("make symlink", path, err)
        })?;
    Ok(true)
}

/// The SHA256 of the regular file at `path` (a symlink there is refused).
pub fn sha256_file(path: &Path) -> Result<String> {
    let file = crate::sys::input::open_regular(path, Last::NoFollow)
        .map_err(|err| Error::io("open", path, err))?;
    crate::sources::sha256_of(path, file)
}

/// Calls `visit` with the metadata (not followed) of everything under `dir` that is not a
/// directory; what cannot be read is skipped.
pub fn walk(dir: &Path, mut visit: impl FnMut(&fs::Metadata)) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => stack.push(entry.path()),
                Ok(meta) => visit(&meta),
                Err(_) => {}
            }
        }
    }
}
