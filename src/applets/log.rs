//! usage: rescue log [--root DIR] [--since TIME] [--until TIME] [-i] [-u UNIT] [-b] [-p PRIORITY]
//!                   [-f] [-n N] [--syslog-only|--journal-only] [PATTERN] [FILE...]
//!
//! Search a root's logs without journalctl or libsystemd: the syslog files under
//! ROOT/var/log (syslog, messages, kern.log, auth.log, daemon.log, user.log and their
//! rotations `.N` and `.N.gz`, oldest first) and the systemd journal files
//! (ROOT/var/log/journal/*/*.journal and *.journal~, and /run/log/journal when ROOT is /).
//! Matching lines are printed in time order (each file's own order kept, as journalctl keeps
//! a journal's order across a clock step back); journal entries in journalctl's default short
//! format (`Dec 03 13:16:02 HOST IDENT[PID]: MESSAGE`, local time), syslog lines as written.
//! With FILE..., only those files are searched (text, gzip'ed text, or journal files).
//!
//!   PATTERN                a plain substring of the line (no regular expressions)
//!   -i, --ignore-case      match PATTERN ignoring ASCII case
//!   --since, --until TIME  `YYYY-MM-DD[ HH:MM[:SS]]`, `@EPOCH`, `today`, `yesterday`,
//!                          `now`, or a time ago: `30s`, `90min`, `2h`, `1d`, `2 hours ago`
//!   -u, --unit UNIT        journal entries of UNIT, as journalctl -u (`ssh` is ssh.service)
//!   -p, --priority P       journal entries of priority P or more urgent: 0-7, emerg..debug,
//!                          or a range `err..warning`
//!   -b, --boot             the current boot only (journal `_BOOT_ID`; syslog lines since the
//!                          boot time); with another ROOT or FILE..., the last boot recorded
//!                          in its journals, as journalctl -b with --root or --file
//!   -n, --lines N          only the last N matches (10 with -f)
//!   -f, --follow           keep printing new matches (live syslog files and journals are
//!                          polled every half second)
//!   --syslog-only, --journal-only  search one kind of log only
//!
//! `-u` and `-p` need journal fields: with either, syslog text files are not searched. A UNIT
//! is a name, not a glob (journalctl's `-u 'ssh*'` is not done).
//! Journal files in use, left by a crashed journald, or cut short are read as far as they
//! are valid and the rest is reported. Exit status: 0 when something matched, 1 when nothing
//! did, 2 when a log could not be read (as grep).

use std::ffi::OsString;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use super::{complain, Exit};
use crate::sys::input::{Line, LineReader};
use crate::sys::journal::{self, EntryFilter, JournalFile};
use crate::sys::root::{Last, Root};
use crate::sys::syslog::{self, LineClock};

#[derive(Parser)]
#[command(about = "Search syslog files and systemd journals")]
pub(super) struct Args {
    /// the root whose logs are read
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// entries at or after TIME
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// entries at or before TIME
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// ignore case in PATTERN
    #[arg(short = 'i', long = "ignore-case")]
    ignore_case: bool,
    /// journal entries of UNIT
    #[arg(short = 'u', long = "unit", value_name = "UNIT")]
    units: Vec<String>,
    /// the current boot only
    #[arg(short = 'b', long = "boot")]
    boot: bool,
    /// journal entries of this priority or more urgent
    #[arg(short = 'p', long = "priority", value_name = "PRIORITY")]
    priority: Option<String>,
    /// keep printing new matches
    #[arg(short = 'f', long = "follow")]
    follow: bool,
    /// only the last N matches
    #[arg(short = 'n', long = "lines", value_name = "N")]
    lines: Option<usize>,
    /// search syslog text files only
    #[arg(long = "syslog-only", conflicts_with = "journal_only")]
    syslog_only: bool,
    /// search journal files only
    #[arg(long = "journal-only")]
    journal_only: bool,
    pattern: Option<OsString>,
    files: Vec<PathBuf>,
}

/// What is searched for, whatever the source.
struct Query {
    pattern: Vec<u8>,
    ignore_case: bool,
    since: Option<i64>,
    until: Option<i64>,
    journal: EntryFilter,
    /// Microseconds since the epoch of the boot, for `-b` on syslog lines.
    boot_time: Option<i64>,
    /// `-b` on another root or on named files: the last boot their journals recorded, known
    /// only once they are read (journalctl's `-b` with `--root`, `--file`).
    last_boot: bool,
    syslog: bool,
    journal_files: bool,
}

impl Query {
    fn wants(&self, time: Option<i64>, line: &[u8]) -> bool {
        if let Some(time) = time {
            let early = self.since.is_some_and(|since| time < since)
                || self.boot_time.is_some_and(|boot| time < boot);
            if early || self.until.is_some_and(|until| time > until) {
                return false;
            }
        } else if self.since.is_some() || self.until.is_some() || self.boot_time.is_some() {
            return false;
        }
        contains(line, &self.pattern, self.ignore_case)
    }
}

fn contains(line: &[u8], pattern: &[u8], ignore_case: bool) -> bool {
    if pattern.is_empty() {
        return true;
    }
    if ignore_case {
        line.windows(pattern.len())
            .any(|w| w.eq_ignore_ascii_case(pattern))
    } else {
        line.windows(pattern.len()).any(|w| w == pattern)
    }
}

/// One line to print and when it was logged.
struct Found {
    time: i64,
    line: Vec<u8>,
    /// The boot of a journal entry.
    boot: Option<[u8; 16]>,
    /// Which file it came from (its place in the list of sources).
    source: usize,
}

/// The value kept for `key`, made from `new` the first time. A few files and boots are
/// followed: a list does, and costs less code than a map.
fn slot<K: PartialEq, V>(list: &mut Vec<(K, V)>, key: K, new: V) -> &mut V {
    let at = match list.iter().position(|(k, _)| *k == key) {
        Some(at) => at,
        None => {
            list.push((key, new));
            list.len() - 1
        }
    };
    &mut list[at].1
}

/// Where one source's matches go.
struct Sink<'a> {
    found: &'a mut Vec<Found>,
    source: usize,
}

impl Sink<'_> {
    fn push(&mut self, time: i64, line: Vec<u8>, boot: Option<[u8; 16]>) {
        let source = self.source;
        self.found.push(Found {
            time,
            line,
            boot,
            source,
        });
    }
}

/// A file's device and inode: a new number at the same name is a new file (rotation).
type DevIno = (u64, u64);

/// Where a followed source has been read up to.
#[derive(Default)]
struct Progress {
    /// Text files: (device, inode) and the offset read up to.
    text: Vec<(PathBuf, (DevIno, u64))>,
    /// Journal files by file id: the last entry offset seen.
    journals: Vec<([u8; 16], u64)>,
    /// Every boot seen in the journals: its first and last entry's time.
    boots: Vec<([u8; 16], (u64, u64))>,
    /// Journals whose damage was reported already (followed files are read again and again).
    warned: Vec<[u8; 16]>,
    /// Journal files by name: what their header said when last read. A followed journal that
    /// has not changed is not read again.
    stamps: Vec<(PathBuf, [u8; 24])>,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let mut query = query_of(&args)?;
    let mut progress = Progress::default();
    let mut errors = false;
    let mut found = Vec::new();
    let listed = sources(&args, &query, &mut errors);
    if listed.is_empty() && args.files.is_empty() && !errors {
        let dir = args.root.join("var/log");
        let what = format!("no syslog file or journal under {}", super::quote(&dir));
        return Err(Exit::failed(2, what));
    }
    for (source, (path, is_journal)) in listed.into_iter().enumerate() {
        let mut into = Sink {
            found: &mut found,
            source,
        };
        let result = if is_journal {
            search_journal(&path, &query, &mut progress, &mut into)
        } else {
            search_text(&path, &query, &mut progress, &mut into)
        };
        if let Err(err) = result {
            complain(name, err);
            errors = true;
        }
    }
    if query.last_boot {
        found = only_last_boot(found, &mut query, &progress)?;
    }
    let mut found = merge(found);
    let keep = args.lines.or(args.follow.then_some(10));
    if let Some(keep) = keep {
        let drop = found.len().saturating_sub(keep);
        found.drain(..drop);
    }
    let matched = !found.is_empty();
    print(&found)?;
    if args.follow {
        follow(&args, &query, &mut progress)?;
    }
    Ok(if errors {
        2
    } else if matched {
        0
    } else {
        1
    })
}

/// The lines of all sources in time order. Each source's own order is kept (journalctl shows
/// a file's entries in the order they were written, a clock step back included): the sources'
/// runs are merged, the earliest head first.
fn merge(found: Vec<Found>) -> Vec<Found> {
    let mut runs: Vec<std::collections::VecDeque<Found>> = Vec::new();
    let mut last_source = None;
    for f in found {
        if last_source != Some(f.source) || runs.is_empty() {
            last_source = Some(f.source);
            runs.push(std::collections::VecDeque::new());
        }
        if let Some(run) = runs.last_mut() {
            run.push_back(f);
        }
    }
    let mut merged = Vec::new();
    loop {
        let next = runs
            .iter()
            .enumerate()
            .filter_map(|(i, run)| run.front().map(|f| (f.time, i)))
            .min();
        match next.and_then(|(_, i)| runs[i].pop_front()) {
            Some(f) => merged.push(f),
            None => return merged,
        }
    }
}

fn print(found: &[Found]) -> Result<(), Exit> {
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    for f in found {
        out.write_all(&f.line)
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|err| Exit::write_error(2, &err))?;
    }
    out.flush().map_err(|err| Exit::write_error(2, &err))
}

/// The files to search: FILE... as given, else ROOT's syslog files and journals. Each with
/// whether it is a journal file.
fn sources(args: &Args, query: &Query, errors: &mut bool) -> Vec<(PathBuf, bool)> {
    if !args.files.is_empty() {
        return args
            .files
            .iter()
            .map(|p| {
                (
                    p.clone(),
                    journal::is_journal_name(p) || journal::has_signature(p),
                )
            })
            .collect();
    }
    // Resolved inside ROOT: a broken root's absolute symlink must not lead to the host's logs.
    let root = Root::new(&args.root);
    let inside = |path: &str| root.resolve(Path::new(path), Last::Follow).ok();
    let mut list = Vec::new();
    if let (true, Some(dir)) = (query.syslog, inside("/var/log")) {
        let files = syslog::syslog_files(&dir);
        list.extend(files.into_iter().map(|p| (p, false)));
    }
    if query.journal_files {
        let mut dirs: Vec<PathBuf> = inside("/var/log/journal").into_iter().collect();
        if root.is_host_root() {
            dirs.push(PathBuf::from("/run/log/journal"));
        }
        let (files, problems) = journal::journal_files(&dirs);
        for problem in problems {
            complain(super::program(), problem);
            *errors = true;
        }
        list.extend(files.into_iter().map(|p| (p, true)));
    }
    list
}

fn search_journal(
    path: &Path,
    query: &Query,
    progress: &mut Progress,
    found: &mut Sink,
) -> crate::Result<()> {
    if let Some(now) = journal::change_stamp(path) {
        let stamp = slot(&mut progress.stamps, path.to_path_buf(), [0xff; 24]);
        if *stamp == now {
            return Ok(());
        }
        *stamp = now;
    }
    let mut file = JournalFile::open(path)?;
    let (offsets, mut problem) = file.entry_offsets();
    let seen = *slot(&mut progress.journals, file.file_id, 0);
    let mut last = seen;
    for offset in offsets.into_iter().filter(|&o| o > seen) {
        match file.entry(offset) {
            Ok((entry, field_problem)) => {
                if problem.is_none() {
                    problem = field_problem;
                }
                last = last.max(offset);
                let first = (entry.realtime, entry.realtime);
                let span = slot(&mut progress.boots, entry.boot_id, first);
                *span = (span.0.min(entry.realtime), span.1.max(entry.realtime));
                let time = i64::try_from(entry.realtime).unwrap_or(i64::MAX);
                if !query.journal.accepts(&entry) {
                    continue;
                }
                let line = journal::short_line(&entry);
                if query.wants(Some(time), &line) {
                    let boot = Some(entry.boot_id);
                    found.push(time, line, boot);
                }
            }
            Err(err) => {
                problem.get_or_insert(err);
            }
        }
    }
    *slot(&mut progress.journals, file.file_id, 0) = last;
    let warned = progress.warned.contains(&file.file_id);
    if let Some(problem) = problem.filter(|_| !warned) {
        progress.warned.push(file.file_id);
        // A damaged tail is the normal state of a journal after a crash: said, not fatal.
        complain(super::program(), format!("warning: {problem}"));
    }
    Ok(())
}

fn search_text(
    path: &Path,
    query: &Query,
    progress: &mut Progress,
    found: &mut Sink,
) -> crate::Result<()> {
    let meta = std::fs::metadata(path).map_err(|err| crate::Error::io("stat", path, err))?;
    let clock = LineClock::new(meta.mtime());
    let counted = Counted::new(syslog::open_text(path)?);
    let read = counted.count.clone();
    let mut reader = LineReader::new(counted, 64 << 10);
    let mut time = None;
    let mut total = 0u64;
    while let Some((_, line)) = reader
        .next_line()
        .map_err(|err| crate::Error::io("read", path, err))?
    {
        let Line::Text(text) = line else {
            continue;
        };
        total += text.len() as u64 + 1;
        time = clock.stamp(text).or(time);
        if query.wants(time, text) {
            let time = time.unwrap_or(0);
            found.push(time, text.to_vec(), None);
        }
    }
    let offset = total.min(read.get());
    let id = (meta.dev(), meta.ino());
    *slot(&mut progress.text, path.to_path_buf(), (id, 0)) = (id, offset);
    Ok(())
}

/// A reader that counts the bytes it gave, so a followed file is read on from where the
/// first pass ended.
struct Counted<R> {
    inner: R,
    count: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R> Counted<R> {
    fn new(inner: R) -> Counted<R> {
        Counted {
            inner,
            count: std::rc::Rc::default(),
        }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Polls every half second: new complete lines of the live text files (a file replaced by
/// rotation is read from its start), new entries of the journals (new files included).
fn follow(args: &Args, query: &Query, progress: &mut Progress) -> Result<(), Exit> {
    let mut ignored = false;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let mut found = Vec::new();
        for (source, (path, is_journal)) in
            sources(args, query, &mut ignored).into_iter().enumerate()
        {
            let mut into = Sink {
                found: &mut found,
                source,
            };
            if is_journal {
                let _ = search_journal(&path, query, progress, &mut into);
            } else if !is_rotated(&path) || !args.files.is_empty() {
                let _ = follow_text(&path, query, progress, &mut into);
            }
        }
        print(&merge(found))?;
    }
}

/// `NAME.N` or `NAME.N.gz`: no longer written to.
fn is_rotated(path: &Path) -> bool {
    let name = path.to_string_lossy();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.rsplit_once('.')
        .is_some_and(|(_, n)| n.bytes().all(|b| b.is_ascii_digit()))
}

fn follow_text(
    path: &Path,
    query: &Query,
    progress: &mut Progress,
    found: &mut Sink,
) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    let id = (meta.dev(), meta.ino());
    let offset = match slot(&mut progress.text, path.to_path_buf(), (id, 0)) {
        (known, offset) if *known == id && *offset <= meta.len() => *offset,
        _ => 0,
    };
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut new = Vec::new();
    file.take(64 << 20).read_to_end(&mut new)?;
    // A line still being written is read at the next poll.
    let complete = new.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
    let clock = LineClock::new(meta.mtime());
    let mut time = None;
    for text in new[..complete]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
    {
        time = clock.stamp(text).or(time);
        if query.wants(time.or(Some(i64::MAX)), text) {
            found.push(time.unwrap_or(i64::MAX), text.to_vec(), None);
        }
    }
    *slot(&mut progress.text, path.to_path_buf(), (id, 0)) = (id, offset + complete as u64);
    Ok(())
}

fn query_of(args: &Args) -> Result<Query, Exit> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let time = |text: &Option<String>, what: &str| -> Result<Option<i64>, Exit> {
        text.as_deref()
            .map(|t| {
                crate::sys::since::parse_time(t, now)
                    .ok_or_else(|| Exit::failed(2, format!("invalid {what} time '{t}'")))
            })
            .transpose()
    };
    let priorities = args.priority.as_deref().map(parse_priorities).transpose()?;
    let this_system = args.root == Path::new("/") && args.files.is_empty();
    let boot_id = if args.boot && this_system {
        Some(current_boot_id()?)
    } else {
        None
    };
    let units = args
        .units
        .iter()
        .map(|u| {
            if u.contains('.') {
                u.clone()
            } else {
                format!("{u}.service")
            }
        })
        .collect::<Vec<_>>();
    let journal_fields = !units.is_empty() || priorities.is_some();
    Ok(Query {
        pattern: args
            .pattern
            .as_deref()
            .map(|p| p.as_encoded_bytes().to_vec())
            .unwrap_or_default(),
        ignore_case: args.ignore_case,
        since: time(&args.since, "--since")?.map(|s| s * 1_000_000),
        until: time(&args.until, "--until")?.map(|s| s * 1_000_000),
        boot_time: if args.boot && this_system {
            boot_time()
        } else {
            None
        },
        last_boot: args.boot && !this_system,
        journal: EntryFilter {
            units,
            priorities,
            boot_id,
        },
        syslog: !args.journal_only && !journal_fields,
        journal_files: !args.syslog_only,
    })
}

/// Keeps what was logged during the last boot the journals recorded (the boot of their newest
/// entry): its journal entries, and syslog lines from its first entry on. From now on the
/// query asks for that boot.
fn only_last_boot(
    found: Vec<Found>,
    query: &mut Query,
    progress: &Progress,
) -> Result<Vec<Found>, Exit> {
    let (boot, (first, _)) = progress
        .boots
        .iter()
        .max_by_key(|(_, (_, last))| *last)
        .ok_or_else(|| Exit::failed(2, "-b: no boot is recorded in the journals read"))?;
    query.journal.boot_id = Some(journal::hex(boot));
    query.boot_time = i64::try_from(*first).ok();
    query.last_boot = false;
    Ok(found
        .into_iter()
        .filter(|f| match f.boot {
            Some(b) => b == *boot,
            None => query.boot_time.is_some_and(|start| f.time >= start),
        })
        .collect())
}

const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

fn parse_priorities(text: &str) -> Result<(u8, u8), Exit> {
    let level = |word: &str| -> Result<u8, Exit> {
        let word = word.trim();
        if let Ok(n) = word.parse::<u8>() {
            if n < 8 {
                return Ok(n);
            }
        }
        let word = match word {
            "error" => "err",
            "warn" => "warning",
            other => other,
        };
        LEVELS
            .iter()
            .position(|l| *l == word)
            .map(|n| n as u8)
            .ok_or_else(|| Exit::failed(2, format!("unknown priority '{text}'")))
    };
    match text.split_once("..") {
        Some((from, to)) => {
            let (a, b) = (level(from)?, level(to)?);
            Ok((a.min(b), a.max(b)))
        }
        None => Ok((0, level(text)?)),
    }
}

/// The running kernel's boot id, as the journal writes it (32 hex digits).
fn current_boot_id() -> Result<String, Exit> {
    crate::sys::procfs::require_proc().map_err(|err| Exit::failed(2, err))?;
    let path = "/proc/sys/kernel/random/boot_id";
    let text = std::fs::read_to_string(path)
        .map_err(|err| Exit::failed(2, crate::Error::io("read", path, err)))?;
    Ok(text.trim().replace('-', ""))
}

/// The boot time from /proc/stat's `btime`, in microseconds.
fn boot_time() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find_map(|l| l.strip_prefix("btime "))?;
    line.trim().parse::<i64>().ok().map(|s| s * 1_000_000)
}
