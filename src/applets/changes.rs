//! usage: rescue changes --since TIME [--root DIR] [--mtime] [--format text|json] [-x] [PATH...]
//!
//! What else changed: the files under ROOT (default `/`), or under each PATH (a path inside
//! ROOT), whose change time (ctime) is at or after TIME. The ctime, not the mtime, because
//! `rsync -a`, `cp -a` and `tar x` put back the source's mtime but the kernel always sets
//! the ctime; `--mtime` compares modification times instead (find's `-newermt`).
//!
//!   --since TIME         `YYYY-MM-DD[ HH:MM[:SS]]` (local time), `@EPOCH`, `today`,
//!                        `yesterday`, or a time ago: `30s`, `90min`, `2h`, `1d`
//!   --mtime              compare modification times, not change times
//!   --format text|json   json: one document for scripts (below)
//!   -x, --one-file-system  stay on the file system of ROOT and of each PATH: the default,
//!                        accepted for du's and find's habit
//!
//! The walk never follows a symlink and never leaves ROOT (every directory is opened by
//! descriptor, relative to its parent). Other file systems mounted inside are skipped unless
//! named as PATH, and proc, sysfs, devtmpfs, devpts, cgroup and the like, and tmpfs under
//! /run and /dev, always are; one line on stderr says which mounts were skipped.
//!
//! Changed files (directories are only the lines that group them) are listed under their
//! directory, each with its time and its owner in ROOT's dpkg database: `PKG: verifies` or
//! `PKG: modified` (a regular file hashed against dpkg's md5sums; a file that is no longer a
//! regular file is modified), `PKG: owned` (no md5 to check), or `not owned`. A summary
//! follows (counts, the directories with the most changes), then the commands to run next:
//! `rescue verify` and `rescue restore PKG...` for modified package files, `rescue accounts`
//! when etc/passwd, group, shadow or gshadow changed. A removed file leaves no trace to list.
//!
//! JSON: `{"root", "since", "time": "ctime"|"mtime", "changed": [{"path", "type", "time",
//! "packages": [...], "state"}], "summary": {"changed", "owned", "modified", "not_owned",
//! "top_directories": [{"path", "count"}]}, "skipped_mounts": [{"path", "type"}], "next",
//! "errors"}`. A name that is not UTF-8 is given with U+FFFD for its bad bytes and, in
//! `path_bytes_hex`, as the hex of its bytes.
//!
//! Exit status: 0 nothing changed, 1 something did, 2 something could not be read (what
//! could be read is still listed).

use crate::sys::quoting::json_string;
use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use clap::{Parser, ValueEnum};

use super::{complain, Exit};
use crate::dpkg::owners::Owners;
use crate::dpkg::Database;
use crate::sys::at;
use crate::sys::mountinfo::MountTable;
use crate::sys::quoting::{escape, shell_word};
use crate::sys::root::{Last, Root};
use crate::sys::tree::{self, Entry, NotEntered, Step, Visitor};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Parser)]
#[command(about = "Files changed since a time, and which package owns them")]
pub(super) struct Args {
    /// changed at or after TIME
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// the root to look in, as if chrooted into it
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// compare modification times, not change times
    #[arg(long)]
    mtime: bool,
    /// output format
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// stay on one file system (the default)
    #[arg(short = 'x', long = "one-file-system")]
    one_file_system: bool,
    /// where to look, inside ROOT (default: all of ROOT)
    paths: Vec<PathBuf>,
}

/// What a changed file is to the package system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Verifies,
    Modified,
    /// Owned, with nothing to check it against.
    Owned,
    /// Owned and has an md5, but could not be read.
    Unreadable,
    NotOwned,
    /// ROOT's dpkg database could not be read.
    Unknown,
}

impl State {
    fn word(self) -> &'static str {
        match self {
            State::Verifies => "verifies",
            State::Modified => "modified",
            State::Owned => "owned",
            State::Unreadable => "unreadable",
            State::NotOwned => "not owned",
            State::Unknown => "owner unknown",
        }
    }
}

struct Changed {
    /// Inside ROOT, absolute.
    path: PathBuf,
    mode: u32,
    time: i64,
    packages: Vec<String>,
    state: State,
}

/// What every part of the walk shares.
struct Scan<'a> {
    since: i64,
    mtime: bool,
    owners: Option<&'a Owners>,
    /// Mount points inside ROOT (inside paths) and their file system types.
    mounts: &'a HashMap<PathBuf, String>,
}

/// A directory left for the parallel part of the walk.
struct Job {
    path: PathBuf,
    stat: libc::stat,
}

/// What one part of the walk found.
#[derive(Default)]
struct Found {
    changed: Vec<Changed>,
    skipped: Vec<PathBuf>,
    errors: Vec<String>,
}

impl Found {
    fn extend(&mut self, other: Found) {
        self.changed.extend(other.changed);
        self.skipped.extend(other.skipped);
        self.errors.extend(other.errors);
    }
}

struct Collect<'s, 'a> {
    scan: &'s Scan<'a>,
    /// The file system of the start: anything else is skipped.
    dev: libc::dev_t,
    /// The walk's start, which is walked whatever it is.
    top: &'s Path,
    /// Directories this many components below `top` are left as jobs.
    split: Option<usize>,
    jobs: Vec<Job>,
    found: Found,
}

fn depth_below(top: &Path, path: &Path) -> usize {
    path.strip_prefix(top)
        .map_or(0, |rest| rest.components().count())
}

impl Visitor for Collect<'_, '_> {
    fn visit(&mut self, entry: &Entry) -> Step {
        let is_top = entry.path == self.top;
        // A mount point of the same file system (a bind mount) is a directory: only those
        // are looked up, the lookup costs more than the walk's own work per file.
        let other_fs = entry.stat.st_dev != self.dev
            || (entry.is_dir() && self.scan.mounts.contains_key(entry.path));
        if !is_top && other_fs {
            self.found.skipped.push(entry.path.to_path_buf());
            return Step::Done(true);
        }
        if entry.is_dir() {
            if !is_top && self.split == Some(depth_below(self.top, entry.path)) {
                let (path, stat) = (entry.path.to_path_buf(), *entry.stat);
                self.jobs.push(Job { path, stat });
                return Step::Done(true);
            }
            return Step::Enter;
        }
        let st = entry.stat;
        let time = if self.scan.mtime {
            st.st_mtime
        } else {
            st.st_ctime
        };
        if time >= self.scan.since {
            let changed = classify(self.scan, entry, time);
            self.found.changed.push(changed);
        }
        Step::Done(true)
    }

    fn not_entered(&mut self, entry: &Entry, why: NotEntered) -> bool {
        let err = match why {
            // Gone or replaced while walking a live system: nothing to say about it.
            NotEntered::Replaced => return true,
            NotEntered::Open(err) | NotEntered::Read(err) => err,
        };
        if err.raw_os_error() != Some(libc::ENOENT) {
            let what = format!(
                "cannot read {}: {}",
                escape(entry.path),
                super::strerror(&err)
            );
            self.found.errors.push(what);
        }
        false
    }

    fn unreadable(&mut self, path: &Path, err: io::Error) -> bool {
        if err.raw_os_error() != Some(libc::ENOENT) {
            let what = format!("cannot stat {}: {}", escape(path), super::strerror(&err));
            self.found.errors.push(what);
        }
        false
    }
}

/// Who owns a changed entry, and whether it still is what its package shipped.
fn classify(scan: &Scan, entry: &Entry, time: i64) -> Changed {
    let mode = entry.stat.st_mode;
    let (packages, state) = match scan.owners {
        None => (Vec::new(), State::Unknown),
        Some(owners) => {
            let found = owners.of(entry.path);
            let packages: Vec<String> = found.iter().map(|o| o.package.clone()).collect();
            let md5 = found.iter().find_map(|o| o.md5);
            let state = match md5 {
                _ if packages.is_empty() => State::NotOwned,
                None => State::Owned,
                Some(_) if mode & libc::S_IFMT != libc::S_IFREG => State::Modified,
                Some(md5) => match digest(entry) {
                    Ok(actual) if actual == md5 => State::Verifies,
                    Ok(_) => State::Modified,
                    Err(_) => State::Unreadable,
                },
            };
            (packages, state)
        }
    };
    Changed {
        path: entry.path.to_path_buf(),
        mode,
        time,
        packages,
        state,
    }
}

/// The md5 of the regular file `entry` names, opened without following and checked to be
/// the inode the walk saw (a fifo put there since is not opened for reading: O_NONBLOCK).
fn digest(entry: &Entry) -> io::Result<[u8; 16]> {
    use md5::Digest;
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    // SAFETY: `name` is NUL-terminated.
    let fd = unsafe { libc::openat(entry.dir, entry.name.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor the kernel just returned, owned by no one else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if !at::same_file(&at::fstat(&fd)?, entry.stat) {
        return Err(io::Error::from_raw_os_error(libc::ESTALE));
    }
    let mut file = std::fs::File::from(fd);
    let mut hasher = md5::Md5::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(hasher.finalize().into())
}

/// Opens the directory `dir` (inside ROOT, symlink-free) one component at a time from ROOT's
/// descriptor, never following a symlink.
fn open_inside(root: &OwnedFd, dir: &Path) -> io::Result<OwnedFd> {
    let mut fd = root.try_clone()?;
    for component in dir.components() {
        if let Component::Normal(name) = component {
            fd = at::open_dir(fd.as_raw_fd(), &c_name(name)?, false)?;
        }
    }
    Ok(fd)
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Walks the directory (or file) at `path` inside ROOT. `split`: see [`Collect::split`].
fn walk_from(
    scan: &Scan,
    root: &OwnedFd,
    path: &Path,
    expected: Option<&libc::stat>,
    split: Option<usize>,
) -> (Found, Vec<Job>) {
    let mut found = Found::default();
    let failed = |found: &mut Found, err: &io::Error| {
        // A directory found by the first part of the walk may be gone by now, on a live system.
        let vanished = matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR));
        if expected.is_none() || !vanished {
            let what = format!("cannot read {}: {}", escape(path), super::strerror(err));
            found.errors.push(what);
        }
    };
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => (open_inside(root, parent), c_name(name)),
        _ => (root.try_clone(), Ok(CString::from(c"."))),
    };
    let (parent, name) = match (parent, name) {
        (Ok(parent), Ok(name)) => (parent, name),
        (Err(err), _) | (_, Err(err)) => {
            failed(&mut found, &err);
            return (found, Vec::new());
        }
    };
    let stat = match at::stat(parent.as_raw_fd(), &name, false) {
        Ok(stat) if expected.is_none_or(|e| at::same_file(e, &stat)) => stat,
        Ok(_) => return (found, Vec::new()),
        Err(err) => {
            failed(&mut found, &err);
            return (found, Vec::new());
        }
    };
    let top = Entry {
        dir: parent.as_raw_fd(),
        name: &name,
        path,
        stat: &stat,
        follow: false,
    };
    let mut collect = Collect {
        scan,
        dev: stat.st_dev,
        top: path,
        split,
        jobs: Vec::new(),
        found,
    };
    if let Err(err) = tree::walk(&top, tree::Options::default(), &mut collect) {
        collect.found.errors.push(err.to_string());
    }
    (collect.found, collect.jobs)
}

/// Walks every start: the first two levels one at a time, then the directories found there
/// in parallel (metadata reads of a cached tree scale with the cores).
fn walk_all(scan: &Scan, root: &OwnedFd, starts: &[PathBuf]) -> Found {
    let mut found = Found::default();
    let mut jobs = Vec::new();
    for start in starts {
        let (part, more) = walk_from(scan, root, start, None, Some(2));
        found.extend(part);
        jobs.extend(more);
    }
    let parts = crate::sys::parallel::map(jobs, 0, |job| {
        walk_from(scan, root, &job.path, Some(&job.stat), None).0
    });
    for part in parts {
        found.extend(part);
    }
    found
}

/// File systems whose times say nothing about what was changed on disk.
fn is_pseudo(fs_type: &str, mount_point: &Path) -> bool {
    const PSEUDO: &[&str] = &[
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "securityfs",
        "debugfs",
        "tracefs",
        "bpf",
        "pstore",
        "mqueue",
        "hugetlbfs",
        "configfs",
        "fusectl",
        "efivarfs",
        "binfmt_misc",
        "autofs",
    ];
    PSEUDO.contains(&fs_type)
        || fs_type.starts_with("cgroup")
        || (fs_type == "tmpfs"
            && (mount_point.starts_with("/run") || mount_point.starts_with("/dev")))
}

/// The mounts inside ROOT, by inside path, with their types. Empty (said once) when the mount
/// table cannot be read: the st_dev rule still keeps the walk on one file system.
fn mounts_inside(root: &Root) -> HashMap<PathBuf, String> {
    let Ok(table) = MountTable::read() else {
        return HashMap::new();
    };
    let Ok(host) = std::fs::canonicalize(root.dir()) else {
        return HashMap::new();
    };
    let mut inside = HashMap::new();
    for mount in table.mounts {
        if let Ok(rest) = mount.mount_point.strip_prefix(&host) {
            inside.insert(Path::new("/").join(rest), mount.fs_type);
        }
    }
    inside
}

/// The starts inside ROOT: PATH... resolved inside ROOT (symlinks followed there), or `/`.
/// Those on a pseudo file system are dropped, into `skipped`.
fn starts_of(
    root: &Root,
    paths: &[PathBuf],
    mounts: &HashMap<PathBuf, String>,
    skipped: &mut Vec<PathBuf>,
) -> Result<Vec<PathBuf>, Exit> {
    let mut starts = Vec::new();
    for path in paths {
        let inside = Path::new("/").join(path);
        let resolved = root
            .resolve_inside(&inside, Last::Follow)
            .map_err(|err| Exit::failed(2, crate::Error::io("resolve", path, err)))?;
        let on = resolved
            .ancestors()
            .find_map(|at| mounts.get(at).map(|fs| (at, fs)));
        match on {
            Some((at, fs)) if is_pseudo(fs, at) => skipped.push(resolved),
            _ => starts.push(resolved),
        }
    }
    if paths.is_empty() {
        starts.push(PathBuf::from("/"));
    }
    Ok(starts)
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // Required, but said in getopt's words rather than clap's.
    let text = args
        .since
        .as_deref()
        .ok_or_else(|| Exit::usage("missing --since TIME"))?;
    let since = crate::sys::since::parse_time(text, now)
        .ok_or_else(|| Exit::failed(2, format!("invalid --since time '{text}'")))?;
    if !args.root.is_dir() {
        let what = format!(
            "cannot use root {}: not a directory",
            super::quote(&args.root)
        );
        return Err(Exit::failed(2, what));
    }
    let root = Root::new(&args.root);
    let root_fd = crate::sys::c_path(&args.root)
        .and_then(|c| at::open_dir(libc::AT_FDCWD, &c, true))
        .map_err(|err| Exit::failed(2, crate::Error::io("open", &args.root, err)))?;
    let owners = match Database::open_in(&root).and_then(|db| Owners::read(&db)) {
        Ok(owners) => Some(owners),
        Err(err) => {
            complain(name, format!("warning: owners not known: {err}"));
            None
        }
    };
    let mounts = mounts_inside(&root);
    let mut skipped = Vec::new();
    let starts = starts_of(&root, &args.paths, &mounts, &mut skipped)?;
    let scan = Scan {
        since,
        mtime: args.mtime,
        owners: owners.as_ref(),
        mounts: &mounts,
    };
    let mut found = walk_all(&scan, &root_fd, &starts);
    found.skipped.extend(skipped);
    found.changed.sort_by(|a, b| {
        let key = |c: &Changed| (c.path.parent().map(Path::to_path_buf), c.path.clone());
        key(a).cmp(&key(b))
    });
    found.skipped.sort();
    found.skipped.dedup();
    if let Some(line) = skipped_line(&found.skipped, &mounts) {
        complain(name, line);
    }
    for error in &found.errors {
        complain(name, error);
    }
    let report = Report::of(&found.changed, &args);
    let written = match args.format {
        Format::Text => write_text(&found, &report),
        Format::Json => write_json(&found, &report, &args, since, &mounts),
    };
    written.map_err(|err| Exit::write_error(2, &err))?;
    Ok(if !found.errors.is_empty() {
        2
    } else if found.changed.is_empty() {
        0
    } else {
        1
    })
}

fn skipped_line(skipped: &[PathBuf], mounts: &HashMap<PathBuf, String>) -> Option<String> {
    if skipped.is_empty() {
        return None;
    }
    let named: Vec<String> = skipped
        .iter()
        .map(|path| match mounts.get(path) {
            Some(fs) => format!("{} ({fs})", escape(path)),
            None => escape(path),
        })
        .collect();
    Some(format!(
        "skipped {} mount{} (other file systems are searched when named as PATH, pseudo ones never): {}",
        skipped.len(),
        if skipped.len() == 1 { "" } else { "s" },
        named.join(", ")
    ))
}

/// The summary and the next steps, the same in both formats.
struct Report {
    owned: usize,
    modified: usize,
    not_owned: usize,
    top: Vec<(PathBuf, usize)>,
    next: Vec<String>,
}

impl Report {
    fn of(changed: &[Changed], args: &Args) -> Report {
        let owned = changed.iter().filter(|c| !c.packages.is_empty()).count();
        let is_modified = |c: &&Changed| c.state == State::Modified;
        let modified = changed.iter().filter(is_modified).count();
        let not_owned = changed
            .iter()
            .filter(|c| c.state == State::NotOwned)
            .count();
        let mut by_dir: HashMap<&Path, usize> = HashMap::new();
        for c in changed {
            *by_dir
                .entry(c.path.parent().unwrap_or(&c.path))
                .or_default() += 1;
        }
        let mut top: Vec<(PathBuf, usize)> = by_dir
            .into_iter()
            .map(|(d, n)| (d.to_path_buf(), n))
            .collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(5);
        let root_arg = if Root::new(&args.root).is_host_root() {
            String::new()
        } else {
            format!(" --root {}", shell_word(&args.root))
        };
        let mut packages: Vec<&str> = changed
            .iter()
            .filter(is_modified)
            .flat_map(|c| c.packages.iter().map(String::as_str))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        packages.sort();
        let mut next = Vec::new();
        if !packages.is_empty() {
            let words: Vec<String> = packages.iter().map(shell_word).collect();
            next.push(format!("rescue verify{root_arg} {}", words.join(" ")));
            next.push(format!("rescue restore{root_arg} {}", words.join(" ")));
        }
        const ACCOUNTS: &[&str] = &["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"];
        if changed
            .iter()
            .any(|c| ACCOUNTS.iter().any(|a| c.path == Path::new(a)))
        {
            next.push(format!("rescue accounts{root_arg}"));
        }
        Report {
            owned,
            modified,
            not_owned,
            top,
            next,
        }
    }
}

fn local_time(secs: i64) -> String {
    match crate::sys::localtime::LocalTime::of(secs) {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year,
            t.month + 1,
            t.day,
            t.hour,
            t.minute,
            t.second
        ),
        None => format!("@{secs}"),
    }
}

fn owner_text(c: &Changed) -> String {
    if c.packages.is_empty() {
        c.state.word().to_string()
    } else {
        format!("{}: {}", c.packages.join(", "), c.state.word())
    }
}

fn write_text(found: &Found, report: &Report) -> io::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut last_dir: Option<&Path> = None;
    for c in &found.changed {
        let dir = c.path.parent().unwrap_or(&c.path);
        if last_dir != Some(dir) {
            writeln!(out, "{}:", escape(dir))?;
            last_dir = Some(dir);
        }
        let name = c.path.file_name().unwrap_or(c.path.as_os_str());
        writeln!(
            out,
            "  {}  {}  [{}]",
            local_time(c.time),
            escape(name),
            owner_text(c)
        )?;
    }
    let n = found.changed.len();
    if n > 0 {
        writeln!(out)?;
    }
    writeln!(
        out,
        "{n} changed file{}: {} owned by packages ({} modified), {} not owned",
        if n == 1 { "" } else { "s" },
        report.owned,
        report.modified,
        report.not_owned
    )?;
    if !report.top.is_empty() {
        let top: Vec<String> = report
            .top
            .iter()
            .map(|(d, n)| format!("{} ({n})", escape(d)))
            .collect();
        writeln!(out, "most changes in: {}", top.join(", "))?;
    }
    for next in &report.next {
        writeln!(out, "next: {next}")?;
    }
    out.flush()
}

/// `"KEY": "path"`, plus `"KEY_bytes_hex"` when the path is not UTF-8.
fn json_path(out: &mut String, key: &str, path: &Path) {
    let bytes = path.as_os_str().as_bytes();
    out.push_str(&format!("\"{key}\": "));
    json_string(out, &String::from_utf8_lossy(bytes));
    if std::str::from_utf8(bytes).is_err() {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&format!(", \"{key}_bytes_hex\": \"{hex}\""));
    }
}

fn type_word(mode: u32) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "file",
        libc::S_IFLNK => "symlink",
        libc::S_IFDIR => "directory",
        libc::S_IFCHR => "character device",
        libc::S_IFBLK => "block device",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        _ => "unknown",
    }
}

fn json_list<T>(out: &mut String, items: &[T], mut one: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n  ");
        }
        one(out, item);
    }
    out.push(']');
}

fn write_json(
    found: &Found,
    report: &Report,
    args: &Args,
    since: i64,
    mounts: &HashMap<PathBuf, String>,
) -> io::Result<()> {
    let mut out = String::from("{");
    json_path(&mut out, "root", &args.root);
    let time = if args.mtime { "mtime" } else { "ctime" };
    out.push_str(&format!(
        ", \"since\": {since}, \"time\": \"{time}\",\n\"changed\": "
    ));
    json_list(&mut out, &found.changed, |out, c| {
        out.push('{');
        json_path(out, "path", &c.path);
        let kind = type_word(c.mode);
        out.push_str(&format!(
            ", \"type\": \"{kind}\", \"time\": {}, \"packages\": ",
            c.time
        ));
        json_list(out, &c.packages, |out, p| json_string(out, p));
        out.push_str(&format!(", \"state\": \"{}\"}}", c.state.word()));
    });
    out.push_str(&format!(
        ",\n\"summary\": {{\"changed\": {}, \"owned\": {}, \"modified\": {}, \"not_owned\": {}, \
         \"top_directories\": ",
        found.changed.len(),
        report.owned,
        report.modified,
        report.not_owned
    ));
    json_list(&mut out, &report.top, |out, (dir, n)| {
        out.push('{');
        json_path(out, "path", dir);
        out.push_str(&format!(", \"count\": {n}}}"));
    });
    out.push_str("},\n\"skipped_mounts\": ");
    json_list(&mut out, &found.skipped, |out, path| {
        out.push('{');
        json_path(out, "path", path);
        out.push_str(", \"type\": ");
        json_string(out, mounts.get(path).map_or("", String::as_str));
        out.push('}');
    });
    out.push_str(",\n\"next\": ");
    json_list(&mut out, &report.next, |out, n| json_string(out, n));
    out.push_str(",\n\"errors\": ");
    json_list(&mut out, &found.errors, |out, e| json_string(out, e));
    out.push_str("}\n");
    let mut stdout = io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        let mut out = String::new();
        json_string(&mut out, "a\"b\\c\nd\u{1}e\u{7f}é");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001e\u{7f}é\"");
    }

    #[test]
    fn a_name_that_is_not_utf8_gets_its_bytes_in_hex() {
        let mut out = String::new();
        json_path(&mut out, "path", Path::new(OsStr::from_bytes(b"/a\xffb")));
        assert_eq!(
            out,
            "\"path\": \"/a\u{fffd}b\", \"path_bytes_hex\": \"2f61ff62\""
        );
    }

    #[test]
    fn pseudo_file_systems() {
        assert!(is_pseudo("proc", Path::new("/proc")));
        assert!(is_pseudo("cgroup2", Path::new("/sys/fs/cgroup")));
        assert!(is_pseudo("tmpfs", Path::new("/run/lock")));
        assert!(!is_pseudo("tmpfs", Path::new("/mnt")));
        assert!(!is_pseudo("ext4", Path::new("/home")));
    }
}
