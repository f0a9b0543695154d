//! Canonical absolute paths, resolved by hand with `lstat` and `readlink` the way GNU
//! `readlink -f/-e/-m` (gnulib's `canonicalize_filename_mode`) does: every symlink followed,
//! `.` and `..` removed, at most 40 symlinks. `std::fs::canonicalize` (realpath) only covers
//! the case where everything exists; `-f` and `-m` accept missing components.
//!
//! This resolves against the host's `/`; root-confined resolution is `sys::root`'s job.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// How much of the path may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Every component must exist (`readlink -e`).
    Nothing,
    /// All but the last component must exist (`readlink -f`).
    LastComponent,
    /// Anything may be missing; missing parts are taken literally (`readlink -m`).
    Anything,
}

const MAX_SYMLINKS: usize = 40;

/// The names in `path`; a trailing slash becomes a final `.`, so the name before it must be a
/// directory.
fn components(path: &[u8]) -> Vec<Vec<u8>> {
    let mut parts: Vec<Vec<u8>> = path
        .split(|&b| b == b'/')
        .filter(|part| !part.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if path.len() > 1 && path.ends_with(b"/") && !parts.is_empty() {
        parts.push(b".".to_vec());
    }
    parts
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = dir.to_vec();
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

fn pop(resolved: &mut Vec<u8>) {
    if let Some(slash) = resolved.iter().rposition(|&b| b == b'/') {
        resolved.truncate(slash.max(1));
    }
}

/// The canonical absolute form of `path`, following every symlink.
pub fn canonicalize(path: &Path, missing: Missing) -> io::Result<PathBuf> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    let mut resolved = if bytes.starts_with(b"/") {
        b"/".to_vec()
    } else {
        std::env::current_dir()?.into_os_string().into_vec()
    };
    let mut pending: VecDeque<Vec<u8>> = components(bytes).into();
    let mut hops = 0;
    while let Some(name) = pending.pop_front() {
        if name == b"." {
            continue;
        }
        if name == b".." {
            pop(&mut resolved);
            continue;
        }
        let candidate = join(&resolved, &name);
        let candidate_path = PathBuf::from(OsString::from_vec(candidate.clone()));
        let more_follow = pending.iter().any(|part| part != b".");
        match std::fs::symlink_metadata(&candidate_path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    if missing == Missing::Anything {
                        resolved = candidate;
                        continue;
                    }
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = std::fs::read_link(&candidate_path)?
                    .into_os_string()
                    .into_vec();
                for part in components(&target).into_iter().rev() {
                    pending.push_front(part);
                }
                if target.starts_with(b"/") {
                    resolved = b"/".to_vec();
                }
            }
            Ok(meta) => {
                if !meta.is_dir() && !pending.is_empty() && missing != Missing::Anything {
                    return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
                }
                resolved = candidate;
            }
            Err(err) => {
                let tolerated = match missing {
                    Missing::Anything => true,
                    Missing::LastComponent => {
                        !more_follow && err.raw_os_error() == Some(libc::ENOENT)
                    }
                    Missing::Nothing => false,
                };
                if !tolerated {
                    return Err(err);
                }
                resolved = candidate;
            }
        }
    }
    Ok(PathBuf::from(OsString::from_vec(resolved)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_links_and_tolerates_what_the_mode_allows() {
        let temp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(temp.path()).unwrap();
        std::fs::create_dir(base.join("dir")).unwrap();
        std::fs::write(base.join("file"), b"").unwrap();
        std::os::unix::fs::symlink("dir", base.join("link")).unwrap();
        std::os::unix::fs::symlink("loop", base.join("loop")).unwrap();
        let resolve = |tail: &str, missing| canonicalize(&base.join(tail), missing);
        assert_eq!(
            resolve("link/.", Missing::Nothing).unwrap(),
            base.join("dir")
        );
        assert_eq!(
            resolve("link/new", Missing::LastComponent).unwrap(),
            base.join("dir/new")
        );
        assert!(resolve("link/new", Missing::Nothing).is_err());
        assert!(resolve("no/new", Missing::LastComponent).is_err());
        assert_eq!(
            resolve("no/x/../y", Missing::Anything).unwrap(),
            base.join("no/y")
        );
        assert_eq!(
            resolve("file/x", Missing::LastComponent)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOTDIR)
        );
        assert_eq!(
            resolve("loop", Missing::Nothing)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ELOOP)
        );
        assert_eq!(
            canonicalize(Path::new("//tmp//../tmp"), Missing::Anything).unwrap(),
            PathBuf::from("/tmp")
        );
    }
}
