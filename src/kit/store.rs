//! The archive store, `KIT/debs/`: one `.deb` per package of the chosen set, of exactly the
//! installed version, named as apt names it (`NAME_VERSION_ARCH.deb`, `:` as `%3a`), found and
//! trusted as restore finds and trusts archives ([`crate::sources`]). It is hard-linked from
//! where it was found when that is the same file system (an `apt-get clean` then frees nothing
//! of it), else copied.
//!
//! `debs/index` remembers, per archive, what the next refresh needs to skip it without reading
//! it: `NAME VERSION ARCH SHA256 SIZE INODE MTIME FILE TRUST`, tab-separated, the trust rule
//! last; and the packages no source had (`!missing` lines), with what the sources looked like
//! then (`!sources`: directory mtimes), so that they are searched again only when a source
//! changed. An archive whose file still has that size, inode and mtime is kept as it is; one that
//! changed is hashed again and kept only when its SHA256 is still the recorded one. Anything
//! else in `debs/` (an archive of a version no longer installed, junk, a crashed run's temp
//! file) is pruned. The index is the store's memory, not its proof: restore trusts what it
//! finds in `debs/` by the same rules as any other source.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::files;
use crate::dpkg::{Database, Package};
use crate::sources::{self, Source};
use crate::sys::root::Root;
use crate::{Error, Result};

/// The store's index file, inside `debs/`.
pub const INDEX: &str = "index";

/// One archive in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub sha256: String,
    pub size: u64,
    inode: u64,
    mtime: i64,
    /// The file name inside `debs/`.
    pub file: String,
    /// Why it was trusted when it was added ([`crate::sources::ArchiveTrust`]'s words).
    pub trust: String,
}

/// What a refresh did.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// Archives added: the entry, where it came from, and whether it was hard-linked.
    pub added: Vec<(Entry, PathBuf, bool)>,
    /// Archives already there and unchanged.
    pub kept: Vec<Entry>,
    /// Names removed from `debs/`.
    pub pruned: Vec<String>,
    /// Packages of the set without a trusted archive, and why.
    pub missing: Vec<(String, String)>,
    /// Inputs that could not be read at all (see [`crate::sources::Resolved::problems`]).
    pub problems: Vec<Error>,
}

impl Refreshed {
    /// Every archive the store holds now.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.added.iter().map(|(e, _, _)| e).chain(&self.kept)
    }
}

/// apt's file name for a package's archive.
pub fn file_name(package: &Package) -> String {
    format!(
        "{}_{}_{}.deb",
        package.name,
        package.version.replace(':', "%3a"),
        package.architecture
    )
}

/// Brings `debs` (a host path, the kit's store, resolved inside ROOT by the caller) to hold
/// exactly the archives of `packages`, searched in `sources` (ROOT's apt cache and the
/// `--from` ones), then the store itself (an archive whose index line was lost).
pub fn refresh(
    root: &Root,
    db: &Database,
    debs: &Path,
    packages: &[&Package],
    sources: Vec<Source>,
) -> Result<Refreshed> {
    files::ensure_dir(debs)?;
    let index_path = debs.join(INDEX);
    let memory = read_index(&index_path);
    let stamp = stamp(root, &sources);
    let mut refreshed = Refreshed::default();
    let mut need = Vec::new();
    for &package in packages {
        if let Some(entry) = still_there(debs, &memory.entries, package) {
            refreshed.kept.push(entry);
        } else if let Some(why) = memory.missing_since(&stamp, package) {
            refreshed.missing.push((package.display_name(), why));
        } else {
            need.push(package);
        }
    }
    let mut missing_now = BTreeMap::new();
    if !need.is_empty() {
        let mut all_sources = sources;
        all_sources.push(Source::Directory(debs.to_path_buf()));
        let resolved = sources::resolve(root, db, all_sources, &need, |_| true)?;
        for found in resolved.found {
            let target = debs.join(file_name(found.package));
            let source = found.archive.deb.path().to_path_buf();
            match place(&found, &target) {
                Ok((entry, linked)) => refreshed.added.push((entry, source, linked)),
                Err(err) => refreshed
                    .missing
                    .push((found.package.display_name(), err.to_string())),
            }
        }
        for (package, why) in resolved.missing {
            missing_now.insert(key_of(package), why.to_string());
            refreshed
                .missing
                .push((package.display_name(), why.to_string()));
        }
        refreshed.problems = resolved.problems;
    }
    // What is still missing for the same sources is remembered as such, so that a hook run
    // while a locally built package has no archive anywhere does not search for it each time.
    for (key, why) in &memory.missing {
        if memory.stamp == stamp && packages.iter().any(|p| key_of(p) == *key) {
            missing_now
                .entry(key.clone())
                .or_insert_with(|| why.clone());
        }
    }
    let keep: BTreeSet<String> = refreshed.entries().map(|e| e.file.clone()).collect();
    refreshed.pruned = prune(debs, &keep)?;
    write_index(&index_path, &refreshed, &stamp, &missing_now)?;
    Ok(refreshed)
}

/// (name, version, architecture)
type Key = (String, String, String);

fn key_of(package: &Package) -> Key {
    (
        package.name.clone(),
        package.version.clone(),
        package.architecture.clone(),
    )
}

/// What the sources looked like: each directory's mtime (a file added or removed changes
/// it), ROOT's apt lists' (an `apt update`), the names of the others. When it is unchanged,
/// a package missing last time is missing still.
fn stamp(root: &Root, sources: &[Source]) -> String {
    let mtime = |dir: &Path| {
        fs::metadata(dir)
            .map(|m| format!("{}.{}", m.mtime(), m.mtime_nsec()))
            .unwrap_or_else(|_| "-".into())
    };
    let lists = root
        .resolve(
            Path::new("/var/lib/apt/lists"),
            crate::sys::root::Last::Follow,
        )
        .map(|dir| mtime(&dir))
        .unwrap_or_else(|_| "-".into());
    let mut words = vec![lists];
    for source in sources {
        words.push(match source {
            Source::Directory(dir) => mtime(dir),
            Source::Mirror(dir) => mtime(&dir.join("dists")),
            Source::Http(url) => url.clone(),
        });
    }
    words.join(" ")
}

fn write_index(
    path: &Path,
    refreshed: &Refreshed,
    stamp: &str,
    missing: &BTreeMap<Key, String>,
) -> Result<()> {
    let mut text = String::from(
        "# rescue seed: the archive store's index (name version arch sha256 size inode mtime \
         file trust)\n",
    );
    let mut entries: Vec<&Entry> = refreshed.entries().collect();
    entries.sort_by(|a, b| a.file.cmp(&b.file));
    for e in entries {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            e.package,
            e.version,
            e.architecture,
            e.sha256,
            e.size,
            e.inode,
            e.mtime,
            e.file,
            e.trust
        ));
    }
    text.push_str(&format!("!sources\t{stamp}\n"));
    for ((name, version, architecture), why) in missing {
        let why = why.replace(['\n', '\t'], " ");
        text.push_str(&format!(
            "!missing\t{name}\t{version}\t{architecture}\t{why}\n"
        ));
    }
    files::write_atomic(path, text.as_bytes(), 0o644)?;
    Ok(())
}

/// The recorded entry of `package` when its file is still the one recorded: same size, inode
/// and mtime, or else the same SHA256 (then with the new inode and mtime).
fn still_there(debs: &Path, old: &BTreeMap<String, Entry>, package: &Package) -> Option<Entry> {
    let name = file_name(package);
    let entry = old.get(&name)?;
    if (
        entry.package.as_str(),
        entry.version.as_str(),
        entry.architecture.as_str(),
    ) != (
        package.name.as_str(),
        package.version.as_str(),
        package.architecture.as_str(),
    ) {
        return None;
    }
    let path = debs.join(&name);
    let meta = fs::symlink_metadata(&path).ok()?;
    if !meta.file_type().is_file() || meta.len() != entry.size {
        return None;
    }
    if meta.ino() == entry.inode && meta.mtime() == entry.mtime {
        return Some(entry.clone());
    }
    (files::sha256_file(&path).ok()? == entry.sha256).then(|| Entry {
        inode: meta.ino(),
        mtime: meta.mtime(),
        ..entry.clone()
    })
}

/// Puts a found archive at `target`: already there, hard-linked, or copied from the opened
/// (trusted) file. Returns its entry and whether it was linked.
fn place(found: &sources::PackageArchive, target: &Path) -> Result<(Entry, bool)> {
    let deb = &found.archive.deb;
    let same = fs::symlink_metadata(deb.path())
        .ok()
        .zip(fs::symlink_metadata(target).ok())
        .is_some_and(|(a, b)| (a.dev(), a.ino()) == (b.dev(), b.ino()) && a.is_file());
    let linked = if same {
        false
    } else {
        match files::link_atomic(deb.path(), target) {
            Ok(()) => true,
            Err(_) => {
                files::copy_atomic(target, deb.reader(), 0o644)?;
                false
            }
        }
    };
    let meta = fs::symlink_metadata(target).map_err(|err| Error::io("stat", target, err))?;
    let package = found.package;
    Ok((
        Entry {
            package: package.name.clone(),
            version: package.version.clone(),
            architecture: package.architecture.clone(),
            sha256: files::sha256_file(target)?,
            size: meta.len(),
            inode: meta.ino(),
            mtime: meta.mtime(),
            file: file_name(package),
            trust: found.archive.trust.to_string(),
        },
        linked,
    ))
}

/// Removes everything in `debs` but the index and the files in `keep`; returns the names.
fn prune(debs: &Path, keep: &BTreeSet<String>) -> Result<Vec<String>> {
    let mut pruned = Vec::new();
    let listing = fs::read_dir(debs).map_err(|err| Error::io("read directory", debs, err))?;
    for entry in listing.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == INDEX || keep.contains(&name) {
            continue;
        }
        files::remove_any(&entry.path())?;
        pruned.push(name);
    }
    pruned.sort();
    Ok(pruned)
}

/// The index as read back: the archives by file name, and the packages missing last time
/// with the sources' stamp then.
#[derive(Default)]
pub struct Memory {
    pub entries: BTreeMap<String, Entry>,
    stamp: String,
    missing: BTreeMap<Key, String>,
}

impl Memory {
    /// Why `package` was missing, when the sources have not changed since.
    fn missing_since(&self, stamp: &str, package: &Package) -> Option<String> {
        if self.stamp != stamp {
            return None;
        }
        let why = self.missing.get(&key_of(package))?;
        Some(format!(
            "{why} (as the last look found; the sources have not changed)"
        ))
    }
}

/// The index; unreadable or malformed lines are forgotten (their archives are then hashed
/// again, which is all an index saves).
pub fn read_index(path: &Path) -> Memory {
    let mut memory = Memory::default();
    let Ok(file) = crate::sys::input::open_regular(path, crate::sys::root::Last::NoFollow) else {
        return memory;
    };
    let Ok(bytes) = crate::sys::input::read_at_most(file, 64 << 20) else {
        return memory;
    };
    for line in String::from_utf8_lossy(&bytes).lines() {
        if let Some(stamp) = line.strip_prefix("!sources\t") {
            memory.stamp = stamp.to_string();
        } else if let Some(rest) = line.strip_prefix("!missing\t") {
            let fields: Vec<&str> = rest.splitn(4, '\t').collect();
            if let [name, version, architecture, why] = fields[..] {
                let key = (name.into(), version.into(), architecture.into());
                memory.missing.insert(key, why.to_string());
            }
        } else if let Some(entry) = parse_line(line) {
            memory.entries.insert(entry.file.clone(), entry);
        }
    }
    memory
}

fn parse_line(line: &str) -> Option<Entry> {
    let fields: Vec<&str> = line.splitn(9, '\t').collect();
    let [package, version, architecture, sha256, size, inode, mtime, file, trust] = fields[..]
    else {
        return None;
    };
    let plain = |name: &str| !name.is_empty() && !name.contains('/') && name != "." && name != "..";
    if !plain(file) || sha256.len() != 64 {
        return None;
    }
    Some(Entry {
        package: package.to_string(),
        version: version.to_string(),
        architecture: architecture.to_string(),
        sha256: sha256.to_string(),
        size: size.parse().ok()?,
        inode: inode.parse().ok()?,
        mtime: mtime.parse().ok()?,
        file: file.to_string(),
        trust: trust.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_lines_round_trip_and_bad_ones_are_forgotten() {
        let sha = "a".repeat(64);
        let line =
            format!("bash\t5.2-1\tamd64\t{sha}\t10\t7\t9\tbash_5.2-1_amd64.deb\tSHA256 matches x");
        let entry = parse_line(&line).unwrap();
        assert_eq!(entry.trust, "SHA256 matches x");
        assert_eq!((entry.size, entry.inode, entry.mtime), (10, 7, 9));
        assert!(parse_line(&line.replace("bash_5.2-1_amd64.deb", "../x.deb")).is_none());
        assert!(parse_line("bash\t5.2").is_none());
        assert!(parse_line(&line.replace(&sha, "abc")).is_none());
    }
}
