//! What every listed path of some packages is, as it stands: the walk of [`super::verify`]
//! (the same lists, diversions and in-ROOT resolution, the same parallel hashing and digest
//! cache) made to record instead of judge. The kit's baseline is written from it.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::cache::{self, Cache, CacheDir};
use super::{collect_all, hash_all, save_cache, Hashed, Item, Job, Note, Report, Resolver};
use crate::dpkg::{Database, Package};
use crate::sys::capability::XATTR_NAME;
use crate::sys::root::Root;
use crate::Result;

use super::attrs::FileKind;

/// One listed path as it stands.
#[derive(Clone, Debug)]
pub struct Surveyed {
    /// Index into the packages surveyed.
    pub package: usize,
    /// The path checked: the listed one, or where a diversion moved it.
    pub path: PathBuf,
    /// `None`: nothing stands there (or it cannot be reached).
    pub stat: Option<Stat>,
    /// Symlinks only.
    pub link_target: Option<PathBuf>,
    /// Regular files only: the raw `security.capability`.
    pub capability: Option<Vec<u8>>,
    /// Regular files that could be read.
    pub md5: Option<[u8; 16]>,
}

/// The part of an `lstat` a record keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub kind: FileKind,
    /// Permission bits, `07777`.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
}

/// Every listed path of `packages`, in package order (a path two packages list comes twice),
/// and the notes the database and the digest cache gave.
pub fn survey(
    root: &Root,
    db: &Database,
    packages: &[&Package],
    use_cache: bool,
    threads: usize,
) -> Result<(Vec<Surveyed>, Vec<Note>)> {
    let mut report = Report::default();
    let items = collect_all(root, db, packages, threads, &mut report)?;
    let cache_dir = if use_cache {
        CacheDir::open(root).unwrap_or_else(|error| {
            report.notes.push(super::warning(error));
            None
        })
    } else {
        None
    };
    let (mut surveyed, mut jobs, cache) = stat_all(root, &items, threads, cache_dir.as_ref());
    let cache = cache.unwrap_or_else(|error| {
        report.notes.push(super::warning(error));
        Cache::fresh()
    });
    jobs.sort_by_key(|job| std::cmp::Reverse(job.key.size));
    let keyed = cache_dir.is_some();
    let hashed = hash_all(&jobs, &items, &cache, keyed, threads, None);
    let mut new_cache = cache;
    for (job, result) in jobs.iter().zip(hashed) {
        if let Hashed::Digest { digest, key, .. } = result {
            if let Some(key) = key {
                new_cache.insert(items[job.item].path(), key, digest, None);
            }
            surveyed[job.item].md5 = Some(digest);
        }
    }
    // As verify does: a survey of every package drops the entries of paths nobody owns now
    // (and orders the rest as the walk goes).
    if packages.len() == db.packages.iter().filter(|p| p.state.has_files()).count() {
        new_cache.keep_only(items.iter().map(Item::path));
    }
    if let Some(dir) = cache_dir {
        save_cache(&dir, &new_cache, &mut report);
    }
    Ok((surveyed, report.notes))
}

/// `lstat`, link targets and capabilities of every item, each thread a contiguous share (as
/// verify's pass 1), while the digest cache is read; the regular files to hash.
fn stat_all(
    root: &Root,
    items: &[Item],
    threads: usize,
    cache_dir: Option<&CacheDir>,
) -> (Vec<Surveyed>, Vec<Job>, Result<Cache>) {
    let cache_limit = cache::max_size(items.len());
    let threads = crate::sys::parallel::threads(threads, items.len());
    let share = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let cache = scope.spawn(|| {
            cache_dir
                .map(|dir| dir.load(cache_limit))
                .unwrap_or_else(|| Ok(Cache::default()))
        });
        let workers: Vec<_> = items
            .chunks(share)
            .enumerate()
            .map(|(chunk, slice)| scope.spawn(move || stat_share(root, slice, chunk * share)))
            .collect();
        let mut surveyed = Vec::with_capacity(items.len());
        let mut jobs = Vec::new();
        for worker in workers {
            let (mut done, mut more) = worker.join().unwrap_or_default();
            surveyed.append(&mut done);
            jobs.append(&mut more);
        }
        let cache = cache.join().unwrap_or_else(|_| Ok(Cache::default()));
        (surveyed, jobs, cache)
    })
}

fn stat_share(root: &Root, slice: &[Item], first: usize) -> (Vec<Surveyed>, Vec<Job>) {
    let mut resolver = Resolver {
        root,
        parents: std::collections::HashMap::new(),
    };
    let mut surveyed = Vec::with_capacity(slice.len());
    let mut jobs = Vec::new();
    for (offset, item) in slice.iter().enumerate() {
        let (one, job) = stat_one(&mut resolver, item, first + offset);
        surveyed.push(one);
        jobs.extend(job);
    }
    (surveyed, jobs)
}

fn stat_one(resolver: &mut Resolver, item: &Item, index: usize) -> (Surveyed, Option<Job>) {
    let mut one = Surveyed {
        package: item.package,
        path: item.path().to_path_buf(),
        stat: None,
        link_target: None,
        capability: None,
        md5: None,
    };
    let Ok(host) = resolver.host(item.path()) else {
        return (one, None);
    };
    let Ok(meta) = std::fs::symlink_metadata(&host) else {
        return (one, None);
    };
    let kind = FileKind::of(meta.file_type());
    one.stat = Some(Stat {
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        size: meta.len(),
    });
    match kind {
        FileKind::Symlink => one.link_target = std::fs::read_link(&host).ok(),
        FileKind::Regular => {
            one.capability = crate::sys::xattr::get(&host, XATTR_NAME).ok().flatten();
            let job = Job {
                item: index,
                host,
                key: cache::Key::of(&meta),
                followed: false,
            };
            return (one, Some(job));
        }
        _ => {}
    }
    (one, None)
}
