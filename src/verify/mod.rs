//! Verification of package-owned files against the dpkg database: the checks `dpkg --verify`
//! makes, made the way a rescue tool needs them.
//!
//! Same as dpkg: every package not `not-installed` is checked; a listed path is missing when
//! `lstat` fails (a dangling symlink is present); a path with a digest (from `md5sums`, else
//! from `Conffiles`, obsolete and `remove-on-upgrade` ones included) must be a regular file
//! (`M`) with that MD5 (`5`); conffiles are flagged `c`.
//!
//! Better than dpkg, on purpose:
//! - a `newconffile` placeholder is not a mismatch (dpkg compares the file with the word);
//! - a diverted file is hashed at its diverted path against the original's digest (dpkg only
//!   checks that it exists);
//! - a directory (or fifo, device) where a file with a digest belongs is a finding; dpkg aborts
//!   on the directory and hangs on the fifo;
//! - a file that cannot be read is a finding and the run goes on;
//! - every path is resolved inside ROOT ([`Root::resolve`]): an absolute symlink in the
//!   broken root never leads to the rescue system's files;
//! - a broken merged-/usr alias (`/lib` gone, or a real directory) is reported once, as the
//!   cause of every path it hides ([`AliasProblem`]).
//!
//! Hashing runs on every core (`std::thread::scope`, the largest files first), each thread
//! hashing 8 or 16 files at once in the lanes of SIMD registers ([`md5mb`]); digests are
//! remembered in [`cache`] under ROOT.
//!
//! The [`Finding`] carries the full rpm -V attribute set ([`Attrs`]); the database fills `M` and
//! `5`, the deep checks against a `.deb`'s tar headers fill the rest through [`attrs::compare`].

pub mod attrs;
pub mod cache;
pub mod deep;
pub mod expect;
pub mod md5mb;
pub mod recorded;
pub mod survey;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use md5::{Digest, Md5};

use crate::dpkg::{ConffileHash, Database, Issue, Package, Severity, State};
use crate::sys::root::{Last, Root};
use crate::Result;

pub use attrs::{Attr, Attrs, Check, Expected, FileKind};
pub use cache::{Cache, CacheDir};

/// What is wrong with one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `lstat` failed; `errno` says why (ENOENT, or ENOTDIR when a parent is not a directory).
    Missing { errno: i32 },
    /// The content differs from the recorded digest.
    Md5Mismatch {
        expected: [u8; 16],
        actual: [u8; 16],
    },
    /// A path with a digest is not a regular file (a directory stands there, a fifo, ...).
    WrongType {
        expected: FileKind,
        actual: FileKind,
    },
    /// It exists but could not be read.
    Unreadable { errno: i32 },
    /// Deep checks: attributes against the archive failed (see [`Finding::attrs`]).
    Attributes,
}

impl Kind {
    /// The word scripts match on (`--format json`).
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Missing { .. } => "missing",
            Kind::Md5Mismatch { .. } => "md5",
            Kind::WrongType { .. } => "type",
            Kind::Unreadable { .. } => "unreadable",
            Kind::Attributes => "attributes",
        }
    }
}

/// One broken package-owned path.
#[derive(Clone, Debug)]
pub struct Finding {
    /// `name`, or `name:arch` for `Multi-Arch: same` (dpkg's non-ambiguous name).
    pub package: String,
    pub version: String,
    /// The path checked: the listed path, or where a diversion moved it.
    pub path: PathBuf,
    /// The path as the package's `.list` names it.
    pub listed: PathBuf,
    pub conffile: bool,
    pub kind: Kind,
    pub attrs: Attrs,
    /// The merged-/usr alias whose breakage hides this path, if any.
    pub cause: Option<PathBuf>,
    /// For each failed attribute of the deep checks, what the archive says and what is there.
    pub differences: Vec<Difference>,
}

/// One failed rpm -V attribute, with values a person (or Ansible) can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub attr: Attr,
    pub expected: String,
    pub actual: String,
}

impl Finding {
    /// Human-readable expected and actual values.
    pub fn expected_actual(&self) -> (String, String) {
        match &self.kind {
            Kind::Missing { errno } => (
                "present".into(),
                crate::sys::errno::describe(&io::Error::from_raw_os_error(*errno)),
            ),
            Kind::Md5Mismatch { expected, actual } => (
                crate::dpkg::digest_hex(expected),
                crate::dpkg::digest_hex(actual),
            ),
            Kind::WrongType { expected, actual } => {
                (expected.describe().into(), actual.describe().into())
            }
            Kind::Unreadable { errno } => (
                "readable".into(),
                crate::sys::errno::describe(&io::Error::from_raw_os_error(*errno)),
            ),
            Kind::Attributes if !self.differences.is_empty() => {
                let side = |pick: fn(&Difference) -> &String| {
                    self.differences
                        .iter()
                        .map(|d| format!("{} {}", d.attr.name(), pick(d)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                (side(|d| &d.expected), side(|d| &d.actual))
            }
            Kind::Attributes => {
                let failed: Vec<&str> = self.attrs.failed().map(Attr::name).collect();
                ("archive attributes".into(), failed.join(","))
            }
        }
    }

    /// The line `dpkg --verify` prints for this finding, without the newline, as bytes (the
    /// path is printed raw, as dpkg does).
    pub fn dpkg_line(&self) -> Vec<u8> {
        let mut line = Vec::with_capacity(self.path.as_os_str().len() + 16);
        match &self.kind {
            Kind::Missing { .. } => line.extend_from_slice(b"missing  "),
            _ => line.extend_from_slice(&self.attrs.columns()),
        }
        line.push(b' ');
        line.push(if self.conffile { b'c' } else { b' ' });
        line.push(b' ');
        line.extend_from_slice(crate::dpkg::path_bytes(&self.path));
        if let Kind::Missing { errno } = self.kind {
            if errno != libc::ENOENT {
                let text = crate::sys::errno::describe(&io::Error::from_raw_os_error(errno));
                line.extend_from_slice(format!(" ({text})").as_bytes());
            }
        }
        line
    }
}

/// What stands where a merged-/usr alias should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AliasState {
    Missing,
    Directory,
    /// A symlink, but not to `usr/NAME`.
    WrongTarget(PathBuf),
    Other(FileKind),
}

/// A merged-/usr alias (`/lib -> usr/lib`) that is missing or replaced: reported once, as the
/// root cause of the `hidden` missing paths listed under it.
#[derive(Clone, Debug)]
pub struct AliasProblem {
    pub alias: PathBuf,
    pub target: PathBuf,
    pub state: AliasState,
    pub hidden: usize,
}

/// A database problem, with the package it belongs to (`None`: the run as a whole).
#[derive(Debug)]
pub struct Note {
    pub package: Option<String>,
    pub issue: Issue,
}

/// A path whose metadata differs from its archive where a maintainer script set a value not
/// known here (`chgrp $(stat -c %g /usr/local) ...`): shown, not counted as a problem.
#[derive(Clone, Debug)]
pub struct ScriptSet {
    pub package: String,
    pub path: PathBuf,
    /// The archive's value and the disk's.
    pub differences: Vec<Difference>,
    /// `ca-certificates's postinst`.
    pub by: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Information, not problems: see [`ScriptSet`].
    pub script_set: Vec<ScriptSet>,
    pub aliases: Vec<AliasProblem>,
    pub notes: Vec<Note>,
    pub packages_checked: usize,
    pub paths_checked: usize,
    pub files_hashed: usize,
    pub bytes_hashed: u64,
    pub cache_hits: usize,
    /// The kit's baseline, where it agrees with the database: the last layer of expected
    /// metadata for the archive checks ([`deep`]) and restore.
    pub recorded: Option<std::sync::Arc<recorded::Recorded>>,
}

impl Report {
    /// 0 clean, 1 problems found, 2 some check could not be made.
    pub fn exit_code(&self) -> i32 {
        if self
            .notes
            .iter()
            .any(|n| n.issue.severity == Severity::Error)
        {
            2
        } else if !self.findings.is_empty() || !self.aliases.is_empty() {
            1
        } else {
            0
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    /// `--missing-only`: existence alone, no hashing.
    pub missing_only: bool,
    /// Read and write the digest cache under ROOT (`--no-cache` turns it off).
    pub use_cache: bool,
    /// Threads of every pass (reading the lists, `lstat`, hashing, the archive checks); 0
    /// means one per core. [`crate::sys::parallel::threads`] decides.
    pub threads: usize,
    /// The seeded kit in use (`--kit`, or ROOT/srv/rescue): its baseline is expected metadata.
    pub kit: Option<crate::kit::Kit>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            missing_only: false,
            use_cache: true,
            threads: 0,
            kit: None,
        }
    }
}

/// Counters the caller may poll from another thread to draw a progress line.
#[derive(Debug, Default)]
pub struct Progress {
    pub files_total: AtomicU64,
    pub files_done: AtomicU64,
    pub bytes_total: AtomicU64,
    pub bytes_done: AtomicU64,
}

/// What a path must be, from the database.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Exists,
    Md5([u8; 16]),
}

/// One listed path to check. Memory per item is what the whole run costs per path, so it
/// holds one path, and a second only when a diversion moved the file.
struct Item {
    package: usize,
    listed: PathBuf,
    /// Where a diversion moved the file, when one did.
    diverted: Option<PathBuf>,
    expect: Expect,
    conffile: bool,
}

impl Item {
    /// The path checked: the listed path, or where a diversion moved it.
    fn path(&self) -> &Path {
        self.diverted.as_deref().unwrap_or(&self.listed)
    }
}

enum Outcome {
    Ok,
    Problem(Kind, Attrs),
}

/// Resolves listed paths inside ROOT, remembering each directory's answer: tens of thousands
/// of files share a few thousand parents.
struct Resolver<'a> {
    root: &'a Root,
    parents: HashMap<PathBuf, io::Result<PathBuf>>,
}

impl Resolver<'_> {
    /// The host path to `lstat` for `inside`: parents followed, the last component not.
    fn host(&mut self, inside: &Path) -> io::Result<PathBuf> {
        if self.root.is_host_root() {
            return Ok(inside.to_path_buf());
        }
        let (Some(parent), Some(name)) = (inside.parent(), inside.file_name()) else {
            return Ok(self.root.dir().to_path_buf());
        };
        let root = self.root;
        let resolved = self
            .parents
            .entry(parent.to_path_buf())
            .or_insert_with(|| root.resolve(parent, Last::Follow));
        match resolved {
            Ok(dir) => Ok(dir.join(name)),
            Err(err) => Err(io::Error::from_raw_os_error(
                err.raw_os_error().unwrap_or(libc::EIO),
            )),
        }
    }
}

/// Opens a file for hashing without following a symlink, without blocking on a fifo, and
/// without touching its atime when we may (O_NOATIME needs ownership or CAP_FOWNER).
fn open_for_hash(path: &Path) -> io::Result<File> {
    let base = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    match OpenOptions::new()
        .read(true)
        .custom_flags(base | libc::O_NOATIME)
        .open(path)
    {
        Err(err) if err.raw_os_error() == Some(libc::EPERM) => {
            OpenOptions::new().read(true).custom_flags(base).open(path)
        }
        other => other,
    }
}

/// The MD5 of everything `input` yields, read through `buf`; `progress` counts the bytes.
pub(crate) fn md5_of(
    input: &mut dyn Read,
    buf: &mut [u8],
    progress: Option<&Progress>,
) -> io::Result<[u8; 16]> {
    let mut hasher = Md5::new();
    loop {
        let n = match input.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buf[..n]);
        if let Some(progress) = progress {
            progress.bytes_done.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
    Ok(hasher.finalize().into())
}

/// The merged-/usr aliases dpkg-era Debian knows.
const ALIASES: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"];

/// Verifies `packages` of `db` against the files under `root`.
pub fn verify(
    root: &Root,
    db: &Database,
    packages: &[&Package],
    options: &Options,
    progress: Option<&Progress>,
) -> Result<Report> {
    let mut report = Report {
        packages_checked: packages.len(),
        ..Report::default()
    };
    let items = collect_all(root, db, packages, options.threads, &mut report)?;
    report.paths_checked = items.len();
    if let (Some(kit), false) = (&options.kit, options.missing_only) {
        report.recorded =
            recorded::load(kit, db, packages, &items, &mut report.notes).map(std::sync::Arc::new);
    }
    if let Some(progress) = progress {
        progress
            .files_total
            .store(items.len() as u64, Ordering::Relaxed);
    }
    let cache_dir = if options.use_cache && !options.missing_only {
        CacheDir::open(root).unwrap_or_else(|error| {
            report.notes.push(warning(error));
            None
        })
    } else {
        None
    };

    let (mut outcomes, all_jobs, cache) = examine_all(root, &items, options, cache_dir.as_ref());
    // A cache we cannot use is started afresh; the save below replaces the file.
    let cache = cache.unwrap_or_else(|error| {
        report.notes.push(warning(error));
        Cache::fresh()
    });

    // What the cache already knows is settled before any thread starts.
    let whole = packages.len() == db.packages.iter().filter(|p| p.state.has_files()).count();
    let mut new_cache = cache;
    let (mut jobs, mut results, mut to_hash) =
        settle_cached(all_jobs, &items, &mut new_cache, whole);

    // Pass 2: hash, largest first so no core is left with one big file at the end.
    to_hash.sort_by_key(|job| std::cmp::Reverse(job.key.size));
    if let Some(progress) = progress {
        let cached: u64 = jobs.iter().map(|job| job.key.size).sum();
        let total: u64 = to_hash.iter().map(|job| job.key.size).sum();
        progress
            .bytes_total
            .store(cached + total, Ordering::Relaxed);
        progress.bytes_done.store(cached, Ordering::Relaxed);
        let done = (items.len() - to_hash.len()) as u64;
        progress.files_done.store(done, Ordering::Relaxed);
    }
    let keyed = cache_dir.is_some();
    let nothing_cached = Cache::default();
    let hashed = hash_all(
        &to_hash,
        &items,
        &nothing_cached,
        keyed,
        options.threads,
        progress,
    );
    jobs.append(&mut to_hash);
    results.extend(hashed);
    for (job, result) in jobs.iter().zip(results) {
        let item = &items[job.item];
        let Expect::Md5(expected) = item.expect else {
            continue;
        };
        if let Hashed::Digest {
            digest,
            key: Some(key),
            from_cache: false,
        } = &result
        {
            let rank = whole.then(|| u32::try_from(job.item).ok()).flatten();
            new_cache.insert(item.path(), *key, *digest, rank);
        }
        outcomes[job.item] = Some(judge_hashed(job, expected, result, &mut report));
    }
    // Checking a few packages keeps the others' entries; checking all of them drops the
    // entries of paths nobody owns any more.
    if whole {
        new_cache.keep_only(items.iter().map(Item::path));
    }
    if let Some(dir) = cache_dir {
        save_cache(&dir, &new_cache, &mut report);
    }
    add_findings(packages, items, outcomes, &mut report);
    find_alias_problems(root, db, &mut report);
    Ok(report)
}

/// Splits the jobs into those the cache answers (with their digests) and those to hash. The
/// jobs come in walk order, as the cache was written, so this is a walk through it; a cache
/// whose order no longer follows the walk is marked to be written again, in order.
fn settle_cached(
    all_jobs: Vec<Job>,
    items: &[Item],
    cache: &mut Cache,
    whole: bool,
) -> (Vec<Job>, Vec<Hashed>, Vec<Job>) {
    let (mut jobs, mut results, mut to_hash) = (Vec::new(), Vec::new(), Vec::new());
    let (mut hint, mut far) = (0, 0);
    for job in all_jobs {
        let found = cache.find_near(items[job.item].path(), &mut hint);
        let cached = found.and_then(|(id, near)| {
            far += usize::from(!near);
            cache.digest(id, &job.key)
        });
        match cached {
            Some(digest) => {
                results.push(Hashed::Digest {
                    digest,
                    key: Some(job.key),
                    from_cache: true,
                });
                jobs.push(job);
            }
            None => to_hash.push(job),
        }
    }
    if whole && far * 8 > jobs.len() {
        cache.reorder();
    }
    (jobs, results, to_hash)
}

/// Every listed path of `packages`, in package order, with the notes their database files
/// gave. Reading ~1400 info files is worth every core too.
fn collect_all(
    root: &Root,
    db: &Database,
    packages: &[&Package],
    threads: usize,
    report: &mut Report,
) -> Result<Vec<Item>> {
    let indexed = packages.iter().enumerate().collect();
    let collected = crate::sys::parallel::map(indexed, threads, |(index, package)| {
        let mut items = Vec::new();
        let mut notes = Vec::new();
        collect(root, db, package, index, &mut items, &mut notes).map(|()| (items, notes))
    });
    let mut items = Vec::new();
    for result in collected {
        let (mut package_items, mut notes) = result?;
        items.append(&mut package_items);
        report.notes.append(&mut notes);
    }
    Ok(items)
}

/// Pass 1: resolve and `lstat` every path: each thread takes a contiguous share (neighbours
/// share parents, which is what each thread's resolver memo is for), while the digest cache
/// is read. An outcome for every item that one settles (`None` for the rest), the files to
/// hash, and the cache.
fn examine_all(
    root: &Root,
    items: &[Item],
    options: &Options,
    cache_dir: Option<&CacheDir>,
) -> (Vec<Option<Outcome>>, Vec<Job>, Result<Cache>) {
    let cache_limit = cache::max_size(items.len());
    let threads = crate::sys::parallel::threads(options.threads, items.len());
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
            .map(|(chunk, slice)| {
                scope.spawn(move || examine_share(root, slice, chunk * share, options))
            })
            .collect();
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(items.len());
        let mut to_hash: Vec<Job> = Vec::new();
        for worker in workers {
            let (mut done, mut jobs) = worker.join().unwrap_or_default();
            outcomes.append(&mut done);
            to_hash.append(&mut jobs);
        }
        let cache = cache.join().unwrap_or_else(|_| Ok(Cache::default()));
        (outcomes, to_hash, cache)
    })
}

/// Pass 1 for one thread's share of the items, the first of which is item `first`.
fn examine_share(
    root: &Root,
    slice: &[Item],
    first: usize,
    options: &Options,
) -> (Vec<Option<Outcome>>, Vec<Job>) {
    let mut resolver = Resolver {
        root,
        parents: HashMap::new(),
    };
    // Outcomes for every path, jobs only for the files to hash: a job is four times an
    // outcome's size.
    let mut outcomes = Vec::with_capacity(slice.len());
    let mut jobs = Vec::new();
    for (offset, item) in slice.iter().enumerate() {
        match examine(root, &mut resolver, item, first + offset, options) {
            Examined::Settled(outcome) => outcomes.push(Some(outcome)),
            Examined::Hash(job) => {
                outcomes.push(None);
                jobs.push(job);
            }
        }
    }
    (outcomes, jobs)
}

/// What a hashed file's digest (or the failure to read it) means, counted in `report`.
fn judge_hashed(job: &Job, expected: [u8; 16], result: Hashed, report: &mut Report) -> Outcome {
    let mut attrs = Attrs::default();
    if job.followed {
        attrs.set(Attr::Mode, Check::Failed);
    }
    let (digest, from_cache) = match result {
        Hashed::Digest {
            digest, from_cache, ..
        } => (digest, from_cache),
        Hashed::Failed(errno) => return Outcome::Problem(Kind::Unreadable { errno }, attrs),
    };
    if from_cache {
        report.cache_hits += 1;
    } else {
        report.files_hashed += 1;
        report.bytes_hashed += job.key.size;
    }
    attrs.ok_or_failed(Attr::Md5, digest == expected);
    if digest != expected {
        let kind = Kind::Md5Mismatch {
            expected,
            actual: digest,
        };
        Outcome::Problem(kind, attrs)
    } else if attrs.any_failed() {
        let kind = Kind::WrongType {
            expected: FileKind::Regular,
            actual: FileKind::Symlink,
        };
        Outcome::Problem(kind, attrs)
    } else {
        Outcome::Ok
    }
}

/// Writes the digest cache back; a read-only root, or a run without root's rights, simply
/// goes without one.
fn save_cache(dir: &CacheDir, cache: &Cache, report: &mut Report) {
    // Nothing changed, nothing to write: a re-verify of an intact host writes no 14 MB file
    // (and waits for no fsync).
    if !cache.changed() {
        return;
    }
    let saved = dir.save(cache);
    let quiet = matches!(
        saved.as_ref().err().and_then(crate::Error::raw_os_error),
        Some(libc::EROFS | libc::EACCES | libc::EPERM)
    );
    if let (Err(error), false) = (saved, quiet) {
        report.notes.push(warning(error));
    }
}

/// Turns every problem outcome into a finding. Items are consumed: each finding takes its
/// item's paths instead of a copy.
fn add_findings(
    packages: &[&Package],
    items: Vec<Item>,
    outcomes: Vec<Option<Outcome>>,
    report: &mut Report,
) {
    for (item, outcome) in items.into_iter().zip(outcomes) {
        if let Some(Outcome::Problem(kind, attrs)) = outcome {
            let package = packages[item.package];
            let path = item.path().to_path_buf();
            report.findings.push(Finding {
                package: package.display_name(),
                version: package.version.clone(),
                path,
                listed: item.listed,
                conffile: item.conffile,
                kind,
                attrs,
                cause: None,
                differences: Vec::new(),
            });
        }
    }
}

/// A note about the run as a whole that changes no result (the digest cache).
fn warning(error: crate::Error) -> Note {
    Note {
        package: None,
        issue: Issue {
            severity: Severity::Warning,
            error,
        },
    }
}

/// Turns one package's list into items, with its digests, conffile marks and diversions.
fn collect(
    root: &Root,
    db: &Database,
    package: &Package,
    index: usize,
    items: &mut Vec<Item>,
    notes: &mut Vec<Note>,
) -> Result<()> {
    let files = db.listed_files(package)?;
    let name = package.display_name();
    for issue in files.issues {
        notes.push(Note {
            package: Some(name.clone()),
            issue,
        });
    }
    let Some(list) = files.list else {
        if package.state == State::Installed || !package.conffiles.is_empty() {
            let list_path = db.info_path(package, "list");
            notes.push(Note {
                package: Some(name.clone()),
                issue: Issue {
                    severity: Severity::Warning,
                    error: crate::Error::refused(
                        &list_path,
                        format!("files list of '{name}' missing: its files cannot be checked; restore puts it back from the archive"),
                    ),
                },
            });
            // dpkg shrugs (no list, no files); for a rescue it is the first thing broken. The
            // list itself becomes a missing path of the package, so the run fails and restore
            // sees it. Under `--admindir` outside ROOT there is no inside path to name.
            if let Ok(inside) = list_path.strip_prefix(root.dir()) {
                let inside = Path::new("/").join(inside);
                items.push(Item {
                    package: index,
                    listed: inside,
                    diverted: None,
                    expect: Expect::Exists,
                    conffile: false,
                });
            }
        }
        return Ok(());
    };
    items.reserve(list.paths.len());
    let known = files.digests.into_iter().zip(files.conffiles);
    for (listed, (digest, conffile)) in list.paths.into_iter().zip(known) {
        let expect = match (digest, conffile) {
            (Some(digest), _) => Expect::Md5(digest),
            (None, Some(ConffileHash::Md5(digest))) => Expect::Md5(*digest),
            _ => Expect::Exists,
        };
        let diverted = db
            .diversions
            .diverted(&listed, &package.name)
            .map(|diversion| diversion.to.clone());
        items.push(Item {
            package: index,
            listed,
            diverted,
            expect,
            conffile: conffile.is_some(),
        });
    }
    Ok(())
}

enum Hashed {
    Digest {
        digest: [u8; 16],
        /// `None` when the file changed while it was read: not cached.
        key: Option<cache::Key>,
        from_cache: bool,
    },
    Failed(i32),
}

/// What pass 1 made of one path.
enum Examined {
    /// `lstat` settled it.
    Settled(Outcome),
    /// Its content must be hashed.
    Hash(Job),
}

/// Pass 1 for one path: `lstat` it inside ROOT and decide.
fn examine(
    root: &Root,
    resolver: &mut Resolver,
    item: &Item,
    index: usize,
    options: &Options,
) -> Examined {
    let meta = resolver
        .host(item.path())
        .and_then(|host| std::fs::symlink_metadata(&host).map(|meta| (host, meta)));
    let (host, meta) = match meta {
        Ok(found) => found,
        Err(err) => {
            let errno = err.raw_os_error().unwrap_or(libc::EIO);
            return Examined::Settled(Outcome::Problem(Kind::Missing { errno }, Attrs::default()));
        }
    };
    let Expect::Md5(_) = item.expect else {
        return Examined::Settled(Outcome::Ok);
    };
    let kind = FileKind::of(meta.file_type());
    let mut attrs = Attrs::default();
    if kind == FileKind::Regular {
        // dpkg never marks `M` as passed: a regular file only proves the type, not the
        // mode bits. Deep checks fill it.
        if options.missing_only {
            return Examined::Settled(Outcome::Ok);
        }
        return Examined::Hash(Job {
            item: index,
            host,
            key: cache::Key::of(&meta),
            followed: false,
        });
    }
    attrs.set(Attr::Mode, Check::Failed);
    // dpkg opens a symlink that stands where a file belongs and hashes its target; so do
    // we, with the target resolved inside ROOT.
    if kind == FileKind::Symlink && !options.missing_only {
        if let Ok(target) = root.resolve(item.path(), Last::Follow) {
            if let Ok(meta) = std::fs::symlink_metadata(&target) {
                if meta.file_type().is_file() {
                    return Examined::Hash(Job {
                        item: index,
                        host: target,
                        key: cache::Key::of(&meta),
                        followed: true,
                    });
                }
            }
        }
    }
    Examined::Settled(Outcome::Problem(
        Kind::WrongType {
            expected: FileKind::Regular,
            actual: kind,
        },
        attrs,
    ))
}

/// A regular file to hash: `host` is where it is read, `key` its `lstat` (size and cache
/// key), `followed` when the listed path is a symlink and this is its target.
struct Job {
    item: usize,
    host: PathBuf,
    key: cache::Key,
    followed: bool,
}

/// Pass 2: the digests of `jobs`, in order. Each thread runs one multi-buffer hasher
/// ([`md5mb`]) whose lanes take the next job from the shared queue as they free up.
fn hash_all(
    jobs: &[Job],
    items: &[Item],
    cache: &Cache,
    keyed: bool,
    threads: usize,
    progress: Option<&Progress>,
) -> Vec<Hashed> {
    let threads = crate::sys::parallel::threads(threads, jobs.len());
    let kernel = md5mb::Kernel::chosen();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Hashed>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut feed = HashFeed {
                    jobs,
                    items,
                    cache,
                    keyed,
                    progress,
                    next: &next,
                    results: &results,
                    local: Vec::new(),
                };
                md5mb::MultiMd5::new(kernel).run(&mut feed);
                flush(&results, &mut feed.local);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or(Hashed::Failed(libc::EIO)))
        .collect()
}

/// One thread's share of pass 2: it opens the jobs it takes from the queue for the hasher's
/// lanes (cache hits and files that do not open are settled on the spot) and collects the
/// results, handed over to `results` 256 at a time.
struct HashFeed<'a> {
    jobs: &'a [Job],
    items: &'a [Item],
    cache: &'a Cache,
    keyed: bool,
    progress: Option<&'a Progress>,
    next: &'a AtomicUsize,
    results: &'a Mutex<Vec<Option<Hashed>>>,
    local: Vec<(usize, Hashed)>,
}

impl HashFeed<'_> {
    fn settle(&mut self, at: usize, result: Hashed) {
        if let Some(progress) = self.progress {
            progress.files_done.fetch_add(1, Ordering::Relaxed);
        }
        self.local.push((at, result));
        if self.local.len() >= 256 {
            flush(self.results, &mut self.local);
        }
    }
}

impl md5mb::Feed for HashFeed<'_> {
    /// The job's index and, when keyed, the file's key when it was opened.
    type Tag = (usize, Option<cache::Key>);
    type Input = File;

    fn next(&mut self) -> Option<(Self::Tag, File)> {
        loop {
            let at = self.next.fetch_add(1, Ordering::Relaxed);
            let job = self.jobs.get(at)?;
            let inside = self.items[job.item].path();
            match hash_one(job, inside, self.cache, self.keyed, self.progress) {
                Ok((file, before)) => return Some(((at, before), file)),
                Err(result) => self.settle(at, result),
            }
        }
    }

    fn done(&mut self, (at, before): Self::Tag, file: File, digest: io::Result<[u8; 16]>) {
        let result = match digest {
            Ok(digest) => {
                // The key is what makes a digest cacheable: taken before and after reading,
                // so a file that changed meanwhile is never cached.
                let after = self
                    .keyed
                    .then(|| file.metadata().ok().map(|m| cache::Key::of(&m)))
                    .flatten();
                let stable = before.is_some() && before == after;
                Hashed::Digest {
                    digest,
                    key: if stable { before } else { None },
                    from_cache: false,
                }
            }
            Err(err) => Hashed::Failed(err.raw_os_error().unwrap_or(libc::EIO)),
        };
        drop(file);
        self.settle(at, result);
    }

    fn read(&mut self, bytes: usize) {
        if let Some(progress) = self.progress {
            progress
                .bytes_done
                .fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }
}

fn flush(results: &Mutex<Vec<Option<Hashed>>>, local: &mut Vec<(usize, Hashed)>) {
    let mut guard = results
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (at, result) in local.drain(..) {
        guard[at] = Some(result);
    }
}

/// Starts hashing one job: the file opened and, when keyed, its key before reading (without a
/// cache, the fstat(2) is saved); or its result when the cache has it or it does not open.
fn hash_one(
    job: &Job,
    inside: &Path,
    cache: &Cache,
    keyed: bool,
    progress: Option<&Progress>,
) -> std::result::Result<(File, Option<cache::Key>), Hashed> {
    if let Some(digest) = cache.get(inside, &job.key) {
        if let Some(progress) = progress {
            progress
                .bytes_done
                .fetch_add(job.key.size, Ordering::Relaxed);
        }
        return Err(Hashed::Digest {
            digest,
            key: Some(job.key),
            from_cache: true,
        });
    }
    let file = open_for_hash(&job.host)
        .map_err(|err| Hashed::Failed(err.raw_os_error().unwrap_or(libc::EIO)))?;
    let before = keyed
        .then(|| file.metadata().ok().map(|m| cache::Key::of(&m)))
        .flatten();
    Ok((file, before))
}

/// Finds merged-/usr aliases that are missing or replaced, and marks the missing paths they
/// hide. An alias is expected when the root is merged (any alias is a symlink into `usr/`, or
/// `usr-is-merged` is installed) or when a missing `/NAME/x` exists as `/usr/NAME/x`.
fn find_alias_problems(root: &Root, db: &Database, report: &mut Report) {
    let merged_package = db
        .packages
        .iter()
        .any(|p| p.name == "usr-is-merged" && p.state == State::Installed);
    let mut states = Vec::new();
    let mut any_symlink = false;
    for name in ALIASES {
        let usr = root.host_lexical(Path::new("/usr")).join(name);
        if !std::fs::symlink_metadata(&usr).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let alias = root.host_lexical(Path::new("/")).join(name);
        let state = match std::fs::symlink_metadata(&alias) {
            Err(_) => Some(AliasState::Missing),
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&alias).unwrap_or_default();
                let good = [format!("usr/{name}"), format!("/usr/{name}")]
                    .iter()
                    .any(|t| target.as_os_str() == t.as_str())
                    || target.as_os_str() == format!("usr/{name}/").as_str();
                any_symlink |= good;
                (!good).then_some(AliasState::WrongTarget(target))
            }
            Ok(meta) if meta.is_dir() => Some(AliasState::Directory),
            Ok(meta) => Some(AliasState::Other(FileKind::of(meta.file_type()))),
        };
        states.push((*name, state));
    }
    for (name, state) in states {
        let Some(state) = state else { continue };
        let prefix = PathBuf::from("/").join(name);
        let usr = PathBuf::from("/usr").join(name);
        let mut hidden = 0;
        let mut evidence = false;
        for finding in &mut report.findings {
            if !matches!(finding.kind, Kind::Missing { .. }) {
                continue;
            }
            let Ok(rest) = finding.path.strip_prefix(&prefix) else {
                continue;
            };
            let moved = usr.join(rest);
            if !evidence {
                evidence = root
                    .resolve(&moved, Last::NoFollow)
                    .and_then(std::fs::symlink_metadata)
                    .is_ok();
            }
            finding.cause = Some(prefix.clone());
            hidden += 1;
        }
        if any_symlink || merged_package || evidence {
            report.aliases.push(AliasProblem {
                alias: prefix,
                target: PathBuf::from(format!("usr/{name}")),
                state,
                hidden,
            });
        } else {
            for finding in &mut report.findings {
                if finding.cause.as_deref() == Some(prefix.as_path()) {
                    finding.cause = None;
                }
            }
        }
    }
}
