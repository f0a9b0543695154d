//! What each process references: its working directory, root, executable, open descriptors and
//! memory-mapped files, each with the device and inode it points at, read from `/proc/PID`.
//! `fuser` and `holders` match these against a file or a mount. (`ss` finds the holders of
//! sockets with a lighter scan of its own, `sockets::holders`: descriptor links only.)
//!
//! Reading a process can block: `stat` of a working directory on a dead NFS server, or
//! `/proc/PID/maps`, which takes the target's mmap lock, held forever by a process stuck in
//! uninterruptible sleep. So each process is read whole in a worker thread, at most [`WORKERS`]
//! at a time, and one that has not answered within the limit is given up and reported as
//! [`Trouble::Stuck`] (the worker is left behind, as in [`procfs::with_timeout`]; it frees its
//! slot for the next process). A process that vanishes or cannot be read is reported as such,
//! never an error for the whole scan.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::sys::mountinfo::{Mount, MountTable};
use crate::sys::procfs;
use crate::Result;

/// How many processes are read at once. Enough that a few stuck ones do not hold the scan up
/// for long; few enough that a host with thousands of processes is not flooded with threads.
pub const WORKERS: usize = 32;

/// How a process references a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Cwd,
    Root,
    Exe,
    /// An open file descriptor, by number.
    Fd(u32),
    /// A memory-mapped file (a library, a data file mapped by `mmap`).
    Mmap,
}

/// A file as the kernel identifies it: `st_dev` as (major, minor), the form mountinfo uses, and
/// the inode number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub device: (u32, u32),
    pub inode: u64,
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            device: split_device(meta.dev()),
            inode: meta.ino(),
        }
    }
}

/// A `dev_t` as (major, minor).
pub fn split_device(dev: u64) -> (u32, u32) {
    (libc::major(dev), libc::minor(dev))
}

/// One reference of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: Kind,
    /// What it points at; `None` when it could not be stat'ed (the reference is still listed by
    /// name).
    pub file: Option<FileId>,
    /// The link text (`/var/log/syslog`, `socket:[12345]`, `pipe:[678]`, `anon_inode:[eventfd]`,
    /// `/tmp/x (deleted)`) or the path a mapping names.
    pub name: PathBuf,
    /// A descriptor open for writing (the mode of its `/proc/PID/fd/N` link says so).
    pub writing: bool,
}

impl Reference {
    /// Whether the name is of a file that was deleted while in use (` (deleted)` at its end).
    pub fn deleted(&self) -> bool {
        self.name.as_os_str().as_bytes().ends_with(b" (deleted)")
    }
}

/// Why a process could not be read, or not all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// It exited while being read.
    Vanished,
    /// The kernel refused (another user's process when not root, or one in a namespace out of
    /// reach); `what` names the part: `fd`, `maps`, `cwd`...
    Denied { what: String },
    /// It did not answer within the limit: stuck in uninterruptible sleep, or on a dead mount.
    Stuck,
}

/// One process and what it references.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    /// Owner of `/proc/PID` (the effective uid), as psmisc shows it.
    pub uid: Option<u32>,
    /// `comm`, the kernel's 15-byte name of the process.
    pub command: String,
    pub references: Vec<Reference>,
    pub trouble: Option<Trouble>,
}

impl Process {
    /// A process known only by its pid, owner and name, as read without blocking.
    fn bare(pid: u32) -> Process {
        let uid = std::fs::metadata(procfs::pid_path(pid, "")).ok();
        let command = std::fs::read(procfs::pid_path(pid, "comm")).unwrap_or_default();
        Process {
            pid,
            uid: uid.map(|meta| meta.uid()),
            command: String::from_utf8_lossy(command.strip_suffix(b"\n").unwrap_or(&command))
                .into_owned(),
            references: Vec::new(),
            trouble: None,
        }
    }

    fn trouble(&mut self, what: &str, err: &io::Error) {
        if self.trouble.is_some() {
            return;
        }
        self.trouble = Some(match err.raw_os_error() {
            Some(libc::ENOENT | libc::ESRCH) => Trouble::Vanished,
            _ => Trouble::Denied {
                what: what.to_string(),
            },
        });
    }
}

/// Every process but this one, each with its references, ascending by pid. Each process is
/// given `limit` to answer (see the module's words on stuck processes).
pub fn scan(limit: Duration) -> Result<Vec<Process>> {
    let me = std::process::id();
    let pids: Vec<u32> = procfs::pids()?
        .into_iter()
        .filter(|&pid| pid != me)
        .collect();
    Ok(read_all(pids, limit, read_process))
}

/// [`scan`]'s pool: `read` for each pid in a worker, at most [`WORKERS`] at once, each given
/// `limit`; one that has not answered by then is [`Trouble::Stuck`].
fn read_all(pids: Vec<u32>, limit: Duration, read: fn(u32) -> Process) -> Vec<Process> {
    let (sender, receiver) = mpsc::channel::<Process>();
    let mut queue = pids.into_iter();
    let mut waiting: BTreeMap<u32, Instant> = BTreeMap::new();
    let mut done: BTreeMap<u32, Process> = BTreeMap::new();
    loop {
        while waiting.len() < WORKERS {
            let Some(pid) = queue.next() else { break };
            let sender = sender.clone();
            let spawned = std::thread::Builder::new()
                .name("read-process".into())
                .stack_size(128 * 1024)
                .spawn(move || {
                    let _ = sender.send(read(pid));
                });
            match spawned {
                Ok(_) => {
                    waiting.insert(pid, Instant::now());
                }
                // Out of threads: read it here, unguarded, rather than not at all.
                Err(_) => {
                    done.insert(pid, read(pid));
                }
            }
        }
        let Some(oldest) = waiting.values().min().copied() else {
            break;
        };
        let wait = (oldest + limit).saturating_duration_since(Instant::now());
        match receiver.recv_timeout(wait) {
            Ok(process) => {
                if waiting.remove(&process.pid).is_some() {
                    done.insert(process.pid, process);
                }
            }
            Err(_) => {
                let now = Instant::now();
                waiting.retain(|&pid, started| {
                    let stuck = now.duration_since(*started) >= limit;
                    if stuck {
                        let mut process = Process::bare(pid);
                        process.trouble = Some(Trouble::Stuck);
                        done.insert(pid, process);
                    }
                    !stuck
                });
            }
        }
    }
    done.into_values().collect()
}

/// Everything `pid` references, read without a time limit (call it where blocking is fine, or
/// through [`scan`]).
pub fn read_process(pid: u32) -> Process {
    let mut process = Process::bare(pid);
    if process.uid.is_none() {
        process.trouble = Some(Trouble::Vanished);
        return process;
    }
    for (kind, file) in [(Kind::Cwd, "cwd"), (Kind::Root, "root"), (Kind::Exe, "exe")] {
        match link(&procfs::pid_path(pid, file), kind) {
            Ok(Some(reference)) => process.references.push(reference),
            Ok(None) => {}
            Err(err) => process.trouble(file, &err),
        }
    }
    match descriptors(pid) {
        Ok(references) => process.references.extend(references),
        Err(err) => process.trouble("fd", &err),
    }
    match std::fs::read(procfs::pid_path(pid, "maps")) {
        Ok(maps) => process.references.extend(parse_maps(&maps)),
        Err(err) => process.trouble("maps", &err),
    }
    process
}

/// A `/proc/PID/{cwd,root,exe}` or `fd/N` link: its text, what it points at, and (for a
/// descriptor) whether it is open for writing. `None` when there is no such link (a kernel
/// thread has no executable; a descriptor closed meanwhile).
fn link(path: &Path, kind: Kind) -> io::Result<Option<Reference>> {
    let name = match std::fs::read_link(path) {
        Ok(name) => name,
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) && kind != Kind::Cwd => {
            return Ok(None)
        }
        Err(err) => return Err(err),
    };
    let writing = matches!(kind, Kind::Fd(_))
        && std::fs::symlink_metadata(path).is_ok_and(|meta| meta.mode() & 0o200 != 0);
    Ok(Some(Reference {
        kind,
        file: std::fs::metadata(path).ok().map(|meta| FileId::of(&meta)),
        name,
        writing,
    }))
}

fn descriptors(pid: u32) -> io::Result<Vec<Reference>> {
    let dir = procfs::pid_path(pid, "fd");
    let mut numbers: Vec<u32> = std::fs::read_dir(&dir)?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    numbers.sort_unstable();
    let mut references = Vec::with_capacity(numbers.len());
    for fd in numbers {
        match link(&dir.join(fd.to_string()), Kind::Fd(fd)) {
            Ok(Some(reference)) => references.push(reference),
            Ok(None) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(references)
}

/// The file-backed mappings of a `/proc/PID/maps` text, one per file (a library is mapped in
/// several pieces). Anonymous mappings (inode 0: heap, stack, `[vdso]`) are left out; a line
/// that does not parse is skipped, as the kernel's format is all that is trusted here.
pub fn parse_maps(maps: &[u8]) -> Vec<Reference> {
    let mut seen = std::collections::HashSet::new();
    let mut references = Vec::new();
    for line in maps.split(|&byte| byte == b'\n') {
        let Some((file, name)) = parse_maps_line(line) else {
            continue;
        };
        if seen.insert((file, name.clone())) {
            references.push(Reference {
                kind: Kind::Mmap,
                file: Some(file),
                name,
                writing: false,
            });
        }
    }
    references
}

/// `START-END PERMS OFFSET MAJOR:MINOR INODE   PATH`: the device is in hex.
fn parse_maps_line(line: &[u8]) -> Option<(FileId, PathBuf)> {
    let mut rest = line;
    let mut fields = [&b""[..]; 5];
    for field in &mut fields {
        let start = rest.iter().position(|&byte| byte != b' ')?;
        rest = &rest[start..];
        let end = rest
            .iter()
            .position(|&byte| byte == b' ')
            .unwrap_or(rest.len());
        *field = &rest[..end];
        rest = &rest[end..];
    }
    let inode: u64 = std::str::from_utf8(fields[4]).ok()?.parse().ok()?;
    let device = std::str::from_utf8(fields[3]).ok()?;
    let (major, minor) = device.split_once(':')?;
    let device = (
        u32::from_str_radix(major, 16).ok()?,
        u32::from_str_radix(minor, 16).ok()?,
    );
    let start = rest.iter().position(|&byte| byte != b' ')?;
    let path = &rest[start..];
    if inode == 0 || !path.starts_with(b"/") {
        return None;
    }
    // The kernel escapes a newline in a mapped file's name as `\012`.
    let path = crate::sys::mountinfo::unescape(path);
    Some((
        FileId { device, inode },
        PathBuf::from(OsStr::from_bytes(&path)),
    ))
}

/// Whether a reference is to a file on one mount: on its device, and, where the same file
/// system is also mounted elsewhere (a bind mount shares the device), not by a path through one
/// of those other mount points. A reference that could not be stat'ed is judged by its path.
#[derive(Debug, Clone)]
pub struct OnMount {
    pub device: (u32, u32),
    pub mount_point: PathBuf,
    /// Other mount points of the same device that are not inside this one.
    pub elsewhere: Vec<PathBuf>,
    /// Mount points stacked inside this one: a path below them is on another file system.
    pub stacked: Vec<PathBuf>,
}

impl OnMount {
    pub fn new(table: &MountTable, mount: &Mount) -> OnMount {
        let point = &mount.mount_point;
        OnMount {
            device: mount.device,
            mount_point: point.clone(),
            elsewhere: table
                .mounts
                .iter()
                .filter(|m| m.device == mount.device && !m.mount_point.starts_with(point))
                .map(|m| m.mount_point.clone())
                .collect(),
            stacked: table.below(point).map(|m| m.mount_point.clone()).collect(),
        }
    }

    /// Whether `name` (a path as `/proc` shows it) is under this mount point and not under a
    /// mount stacked in it.
    pub fn path_inside(&self, name: &Path) -> bool {
        let name = strip_deleted(name);
        name.starts_with(&self.mount_point) && !self.stacked.iter().any(|s| name.starts_with(s))
    }

    pub fn holds(&self, file: Option<FileId>, name: &Path) -> bool {
        match file {
            Some(file) if file.device == self.device => {
                let plain = strip_deleted(name);
                let through_other = self.elsewhere.iter().any(|other| plain.starts_with(other));
                !through_other || self.path_inside(name)
            }
            Some(_) => false,
            None => self.path_inside(name),
        }
    }
}

/// A name without the ` (deleted)` the kernel appends to a deleted file's.
pub fn strip_deleted(name: &Path) -> &Path {
    let bytes = name.as_os_str().as_bytes();
    Path::new(OsStr::from_bytes(
        bytes.strip_suffix(b" (deleted)").unwrap_or(bytes),
    ))
}

/// A loop device and the file behind it, as `/sys/block/loopN/loop/backing_file` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopDevice {
    /// `/dev/loopN`.
    pub device: PathBuf,
    /// The backing file (ending in ` (deleted)` when it was deleted).
    pub backing_file: PathBuf,
    /// The backing file's identity, when it can still be stat'ed by its name.
    pub file: Option<FileId>,
}

/// The attached loop devices (a detached one has no `loop/` directory in sysfs); `None` when
/// `/sys` is not mounted, so they cannot be known.
pub fn loop_devices() -> Option<Vec<LoopDevice>> {
    let entries = std::fs::read_dir("/sys/block").ok()?;
    let mut loops: Vec<LoopDevice> = entries
        .flatten()
        .filter(|entry| entry.file_name().as_bytes().starts_with(b"loop"))
        .filter_map(|entry| {
            let text = std::fs::read(entry.path().join("loop/backing_file")).ok()?;
            let text = text.strip_suffix(b"\n").unwrap_or(&text);
            let backing_file = PathBuf::from(OsStr::from_bytes(text));
            let file = std::fs::metadata(&backing_file)
                .ok()
                .filter(|_| !text.ends_with(b" (deleted)"))
                .map(|meta| FileId::of(&meta));
            Some(LoopDevice {
                device: Path::new("/dev").join(entry.file_name()),
                backing_file,
                file,
            })
        })
        .collect();
    loops.sort_by(|a, b| a.device.cmp(&b.device));
    Some(loops)
}

/// One line of `/proc/swaps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub path: PathBuf,
    /// `file` or `partition`.
    pub kind: String,
}

pub const SWAPS: &str = "/proc/swaps";

/// The active swap areas; none when `/proc/swaps` cannot be read.
pub fn swaps() -> Vec<Swap> {
    std::fs::read(SWAPS)
        .map(|data| parse_swaps(&data))
        .unwrap_or_default()
}

/// `/proc/swaps`: a header, then `FILENAME TYPE SIZE USED PRIORITY`, the name with space, tab,
/// newline and backslash written as `\ooo`.
pub fn parse_swaps(data: &[u8]) -> Vec<Swap> {
    data.split(|&byte| byte == b'\n')
        .skip(1)
        .filter_map(|line| {
            let mut fields = line
                .split(|&byte| byte == b' ' || byte == b'\t')
                .filter(|field| !field.is_empty());
            let path = crate::sys::mountinfo::unescape(fields.next()?);
            let kind = String::from_utf8_lossy(fields.next()?).into_owned();
            Some(Swap {
                path: PathBuf::from(OsStr::from_bytes(&path)),
                kind,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_give_files_once_and_skip_anonymous_ones() {
        let maps = b"55d0-55d1 r--p 00000000 08:01 1234    /usr/bin/sleep\n\
            55d1-55d2 r-xp 00001000 08:01 1234    /usr/bin/sleep\n\
            55d3-55d4 rw-p 00000000 00:00 0          [heap]\n\
            7f00-7f01 r--s 00000000 00:2a 99   /mnt/a file (deleted)\n\
            7f02-7f03 r--p 00000000 103:0f 7   /x\\012y\n\
            garbage\n\
            7f04-7f05 r--p 00000000 zz:01 7   /bad\n";
        let refs = parse_maps(maps);
        let names: Vec<_> = refs.iter().map(|r| r.name.clone()).collect();
        assert_eq!(
            names,
            [
                PathBuf::from("/usr/bin/sleep"),
                PathBuf::from("/mnt/a file (deleted)"),
                PathBuf::from("/x\ny"),
            ]
        );
        assert_eq!(refs[0].file.unwrap().device, (8, 1));
        assert_eq!(refs[1].file.unwrap().device, (0, 0x2a));
        assert!(refs[1].deleted());
        assert_eq!(refs[2].file.unwrap().device, (0x103, 0xf));
    }

    /// A reader where every third pid never answers, as a process stuck in D state.
    fn stuck_every_third(pid: u32) -> Process {
        if pid.is_multiple_of(3) {
            std::thread::sleep(Duration::from_secs(30));
        }
        Process {
            pid,
            uid: Some(0),
            command: "ok".into(),
            references: Vec::new(),
            trouble: None,
        }
    }

    #[test]
    fn stuck_processes_are_given_up_within_the_limit_and_the_rest_read() {
        let pids: Vec<u32> = (1..=200).collect();
        let start = Instant::now();
        let read = read_all(pids, Duration::from_millis(200), stuck_every_third);
        // 66 stuck ones, 32 at a time: three or so rounds of the limit, not 66.
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(read.len(), 200);
        for process in &read {
            let stuck = process.trouble == Some(Trouble::Stuck);
            assert_eq!(stuck, process.pid.is_multiple_of(3), "{process:?}");
        }
    }

    #[test]
    fn this_processs_cwd_is_read() {
        if procfs::require_proc().is_err() {
            return;
        }
        let me = read_process(std::process::id());
        let cwd = std::fs::metadata(".").unwrap();
        assert!(me
            .references
            .iter()
            .any(|r| r.kind == Kind::Cwd && r.file == Some(FileId::of(&cwd))));
    }

    #[test]
    fn swaps_are_read_with_escaped_names() {
        let data = b"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
            /dev/vda2                               partition\t1048572\t\t0\t\t-2\n\
            /mnt/my\\040swap\\040(deleted)        file\t\t65532\t\t0\t\t-3\n";
        let swaps = parse_swaps(data);
        assert_eq!(swaps.len(), 2);
        assert_eq!(swaps[0].kind, "partition");
        assert_eq!(swaps[1].path, Path::new("/mnt/my swap (deleted)"));
        assert_eq!(swaps[1].kind, "file");
        assert_eq!(strip_deleted(&swaps[1].path), Path::new("/mnt/my swap"));
    }

    #[test]
    fn a_bind_mount_elsewhere_does_not_hold_this_one() {
        let on = OnMount {
            device: (0, 40),
            mount_point: PathBuf::from("/mnt/a"),
            elsewhere: vec![PathBuf::from("/srv/b")],
            stacked: vec![PathBuf::from("/mnt/a/proc")],
        };
        let id = |minor| {
            Some(FileId {
                device: (0, minor),
                inode: 5,
            })
        };
        assert!(on.holds(id(40), Path::new("/mnt/a/x")));
        assert!(!on.holds(id(40), Path::new("/srv/b/x")));
        // Outside every mount point we know of (another namespace's view): the device decides.
        assert!(on.holds(id(40), Path::new("/x")));
        assert!(!on.holds(id(41), Path::new("/mnt/a/x")));
        assert!(on.holds(None, Path::new("/mnt/a/gone (deleted)")));
        assert!(!on.holds(None, Path::new("/mnt/a/proc/1")));
    }
}
