//! Copies of the host's own state, `KIT/state/`, for the day an rsync of another root
//! overwrote `/etc` and `/var/lib/dpkg` together: `accounts` and `doctor` read them.
//!
//! Layout: `state/YYYYmmddTHHMMSSZ/` (UTC, the time of the refresh that made it) holds the
//! files at their paths inside ROOT (`etc/passwd`, `etc/shadow`, `var/lib/dpkg/status`,
//! `var/lib/apt/lists/..._InRelease`, ...); `state/latest` is a symlink to the newest. A new
//! version is made only when some file differs from `latest`'s copy (or appeared, or went);
//! the newest [`KEEP`] are kept. `state/` and each version are 0700, `shadow` and `gshadow`
//! 0600, the rest 0644. A file ROOT does not have is simply absent from the version.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::files;
use crate::sys::civil::Civil;
use crate::sys::root::{Last, Root};
use crate::{Error, Result};

/// How many versions are kept.
pub const KEEP: usize = 5;

/// The symlink to the newest version.
pub const LATEST: &str = "latest";

/// The files copied, inside ROOT, with their modes (the apt lists' Release files are added).
const FILES: &[(&str, u32)] = &[
    ("/etc/passwd", 0o644),
    ("/etc/group", 0o644),
    ("/etc/shadow", 0o600),
    ("/etc/gshadow", 0o600),
    ("/var/lib/dpkg/status", 0o644),
    ("/var/lib/dpkg/diversions", 0o644),
    ("/var/lib/dpkg/statoverride", 0o644),
];

/// The largest state file read (a dpkg status of many thousand packages is a few MiB).
const MAX_FILE: u64 = 256 << 20;

/// What a refresh did.
#[derive(Debug)]
pub struct Saved {
    /// The version `latest` names now.
    pub version: String,
    /// Whether it was made by this run (else nothing had changed).
    pub new: bool,
    /// How many files it holds.
    pub files: usize,
    /// Versions removed (beyond [`KEEP`]).
    pub removed: Vec<String>,
}

/// Copies ROOT's state into `dir` (the kit's `state/`, a host path) when it changed since the
/// latest copy. `now` is seconds since the epoch.
pub fn refresh(root: &Root, dir: &Path, now: i64) -> Result<Saved> {
    files::ensure_dir(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|err| Error::io("chmod", dir, err))?;
    let current = read_current(root)?;
    let latest = fs::read_link(dir.join(LATEST))
        .ok()
        .and_then(|target| target.to_str().map(str::to_string))
        .filter(|name| is_version(name) && dir.join(name).is_dir());
    if let Some(latest) = &latest {
        if same_as(&dir.join(latest), &current) {
            return Ok(Saved {
                version: latest.clone(),
                new: false,
                files: current.len(),
                removed: prune(dir)?,
            });
        }
    }
    let version = version_name(dir, now);
    let partial = dir.join(format!(".{version}.partial"));
    files::remove_any(&partial)?;
    fs::create_dir(&partial).map_err(|err| Error::io("create directory", &partial, err))?;
    fs::set_permissions(&partial, fs::Permissions::from_mode(0o700))
        .map_err(|err| Error::io("chmod", &partial, err))?;
    for (inside, bytes, mode) in &current {
        let target = partial.join(inside.strip_prefix("/").unwrap_or(inside));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|err| Error::io("create directory", parent, err))?;
        }
        files::write_atomic(&target, bytes, *mode)?;
    }
    let final_dir = dir.join(&version);
    fs::rename(&partial, &final_dir).map_err(|err| Error::io("rename", &final_dir, err))?;
    files::symlink_atomic(Path::new(&version), &dir.join(LATEST))?;
    Ok(Saved {
        version,
        new: true,
        files: current.len(),
        removed: prune(dir)?,
    })
}

/// ROOT's state files, each (path inside ROOT, content, mode of the copy).
fn read_current(root: &Root) -> Result<Vec<(PathBuf, Vec<u8>, u32)>> {
    let mut wanted: Vec<(PathBuf, u32)> = FILES
        .iter()
        .map(|(path, mode)| (PathBuf::from(path), *mode))
        .collect();
    let lists = Path::new("/var/lib/apt/lists");
    let mut releases: Vec<PathBuf> = root
        .resolve(lists, Last::Follow)
        .and_then(fs::read_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("_Release") || n.ends_with("_InRelease"))
        .map(|n| lists.join(n))
        .collect();
    releases.sort();
    wanted.extend(releases.into_iter().map(|p| (p, 0o644)));
    let mut out = Vec::new();
    for (inside, mode) in wanted {
        let shown = root.host_lexical(&inside);
        let file = match root.open_regular(&inside) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(Error::io("open", shown, err)),
        };
        let bytes = crate::sys::input::read_at_most(file, MAX_FILE)
            .map_err(|err| Error::io("read", &shown, err))?;
        out.push((inside, bytes, mode));
    }
    Ok(out)
}

/// Whether the version at `dir` holds exactly `current` (the same files, the same bytes).
fn same_as(dir: &Path, current: &[(PathBuf, Vec<u8>, u32)]) -> bool {
    let count = count_files(dir);
    count == current.len()
        && current.iter().all(|(inside, bytes, _)| {
            let copy = dir.join(inside.strip_prefix("/").unwrap_or(inside));
            crate::sys::input::open_regular(&copy, Last::NoFollow)
                .and_then(|file| crate::sys::input::read_at_most(file, MAX_FILE))
                .is_ok_and(|old| old == *bytes)
        })
}

fn count_files(dir: &Path) -> usize {
    let mut count = 0;
    files::walk(dir, |_| count += 1);
    count
}

/// `YYYYmmddTHHMMSSZ`, with `-N` added when a version of that second exists already.
fn version_name(dir: &Path, now: i64) -> String {
    let c = Civil::from_secs(now);
    let base = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    let mut name = base.clone();
    let mut n = 1;
    while fs::symlink_metadata(dir.join(&name)).is_ok() {
        n += 1;
        name = format!("{base}-{n}");
    }
    name
}

/// A version directory's name: `YYYYmmddTHHMMSSZ`, maybe with `-N`.
fn is_version(name: &str) -> bool {
    let stamp = name.split('-').next().unwrap_or("");
    stamp.len() == 16
        && stamp.as_bytes()[8] == b'T'
        && stamp.ends_with('Z')
        && stamp[..8].bytes().all(|b| b.is_ascii_digit())
        && stamp[9..15].bytes().all(|b| b.is_ascii_digit())
}

/// Removes all but the newest [`KEEP`] versions, and leftovers of interrupted runs.
fn prune(dir: &Path) -> Result<Vec<String>> {
    let mut versions = Vec::new();
    for entry in fs::read_dir(dir)
        .map_err(|err| Error::io("read directory", dir, err))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".partial") && name.starts_with('.') {
            files::remove_any(&entry.path())?;
        } else if is_version(&name) {
            versions.push(name);
        }
    }
    // The names sort by time (`-N` after its base second; `-10` is not expected in one second).
    versions.sort();
    let excess = versions.len().saturating_sub(KEEP);
    let removed: Vec<String> = versions.drain(..excess).collect();
    for name in &removed {
        files::remove_any(&dir.join(name))?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_named_by_utc_second() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(version_name(dir.path(), 0), "19700101T000000Z");
        fs::create_dir(dir.path().join("19700101T000000Z")).unwrap();
        assert_eq!(version_name(dir.path(), 0), "19700101T000000Z-2");
        assert!(is_version("19700101T000000Z-2"));
        assert!(!is_version("latest"));
        assert!(!is_version(".19700101T000000Z.partial"));
    }

    #[test]
    fn a_new_version_only_when_something_changed_and_five_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root_dir = dir.path().join("root");
        fs::create_dir_all(root_dir.join("etc")).unwrap();
        fs::write(root_dir.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        fs::write(root_dir.join("etc/shadow"), "root:*:1::::::\n").unwrap();
        let root = Root::new(&root_dir);
        let state = dir.path().join("state");
        let first = refresh(&root, &state, 0).unwrap();
        assert!(first.new);
        assert_eq!(first.files, 2);
        let again = refresh(&root, &state, 1).unwrap();
        assert!(!again.new);
        assert_eq!(again.version, first.version);
        let shadow = state.join("latest/etc/shadow");
        assert_eq!(
            fs::metadata(&shadow).unwrap().permissions().mode() & 0o777,
            0o600
        );
        for i in 2..10 {
            fs::write(
                root_dir.join("etc/passwd"),
                format!("root:x:0:0::/root:/bin/sh{i}\n"),
            )
            .unwrap();
            assert!(refresh(&root, &state, i).unwrap().new);
        }
        let versions: Vec<String> = fs::read_dir(&state)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_version(n))
            .collect();
        assert_eq!(versions.len(), KEEP);
        assert_eq!(
            fs::read_link(state.join(LATEST)).unwrap(),
            Path::new("19700101T000009Z")
        );
    }
}
