//! Who may change ROOT while a run does: nobody. A restore or an undo holds dpkg's own locks
//! (`lock-frontend`, then `lock`, write-locked with `fcntl` over the whole file exactly as
//! dpkg and apt take them, so either of them waits for us and we refuse while they run) and
//! one lock of our own, `ROOT/var/backups/rescue/lock`, so two runs never meet (one would
//! remove the other's staged files, or mark a run in flight as undone).
//!
//! A lock whose holder is alive is always refused. `--ignore-lock` exists for the one case
//! where waiting cannot help: the holder's pid is not a process we can see (it died on a
//! network file system that kept the lock, or it lives in another pid namespace), which is
//! said when found. Locks are released when the [`Locks`] is dropped (the files close).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::sys::quoting::escape;
use crate::sys::root::{Last, Root};
use crate::{Error, Result};

/// Held locks; dropping them releases them.
#[derive(Debug)]
pub struct Locks {
    _files: Vec<File>,
    /// What was ignored under `--ignore-lock`, for the run's output.
    pub ignored: Vec<String>,
}

/// Who holds a lock, as `fcntl(F_GETLK)` tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    /// Its command line, when `/proc` shows it.
    pub command: Option<String>,
}

impl Holder {
    /// A holder we cannot see in `/proc` (another namespace, or dead with the lock kept).
    pub fn is_visible(&self) -> bool {
        self.pid > 0 && Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    fn describe(&self) -> String {
        match (&self.command, self.is_visible()) {
            (Some(command), true) => format!("process {} ({command})", self.pid),
            (None, true) => format!("process {}", self.pid),
            _ if self.pid > 0 => format!(
                "process {}, which does not exist here (another pid namespace, or a dead process whose lock a network file system kept)",
                self.pid
            ),
            _ => "a process in another pid namespace".into(),
        }
    }
}

/// Takes dpkg's locks in `admindir` and the runs' lock under ROOT. `ignore_dpkg_lock` goes on
/// past a dpkg lock whose holder cannot be seen; a visible holder is always refused, and so
/// is another run of ours.
pub fn acquire(root: &Root, admindir: &Path, ignore_dpkg_lock: bool) -> Result<Locks> {
    let mut files = Vec::new();
    let mut ignored = Vec::new();
    for name in ["lock-frontend", "lock"] {
        let path = admindir.join(name);
        let file = open_lock_file(&path)?;
        match try_lock(&file) {
            Ok(None) => files.push(file),
            Ok(Some(holder)) if ignore_dpkg_lock && !holder.is_visible() => {
                ignored.push(format!(
                    "{}: held by {}; ignored (--ignore-lock)",
                    escape(&path),
                    holder.describe()
                ));
            }
            Ok(Some(holder)) => {
                let hint = if holder.is_visible() {
                    "wait for it to finish (dpkg and apt refuse too while it runs)"
                } else {
                    "if nothing is installing packages, run again with --ignore-lock"
                };
                return Err(Error::refused(
                    &path,
                    format!("dpkg's lock is held by {}: {hint}", holder.describe()),
                ));
            }
            Err(err) => return Err(Error::io("lock", &path, err)),
        }
    }
    let ours = runs_lock_path(root)?;
    let file = open_lock_file(&ours)?;
    match try_lock(&file) {
        Ok(None) => files.push(file),
        Ok(Some(holder)) => {
            return Err(Error::refused(
                &ours,
                format!(
                    "another restore or undo is running on this root ({}): wait for it to finish",
                    holder.describe()
                ),
            ))
        }
        Err(err) => return Err(Error::io("lock", &ours, err)),
    }
    Ok(Locks {
        _files: files,
        ignored,
    })
}

/// `ROOT/var/backups/rescue/lock`, its directory made inside ROOT when missing.
fn runs_lock_path(root: &Root) -> Result<PathBuf> {
    let dir = Path::new(super::apply::BACKUP_ROOT);
    let mut made = PathBuf::from("/");
    for component in dir.components().skip(1) {
        made.push(component);
        let host = root
            .resolve(&made, Last::NoFollow)
            .map_err(|err| Error::io("resolve", &made, err))?;
        match std::fs::symlink_metadata(&host) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Error::refused(
                    &host,
                    "not a directory where the runs' directory belongs",
                ))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&host)
                    .map_err(|err| Error::io("create directory", &host, err))?;
            }
            Err(err) => return Err(Error::io("inspect", &host, err)),
        }
    }
    root.resolve(&dir.join("lock"), Last::NoFollow)
        .map_err(|err| Error::io("resolve", dir.join("lock"), err))
}

/// Opens (creating, mode 0640 as dpkg does) a lock file, never through a symlink and never
/// anything but a regular file: a FIFO planted there must not hang us.
fn open_lock_file(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|err| Error::io("open lock file", path, err))?;
    let meta = file
        .metadata()
        .map_err(|err| Error::io("inspect", path, err))?;
    if !meta.is_file() {
        return Err(Error::refused(path, "a lock file must be a regular file"));
    }
    Ok(file)
}

/// Write-locks the whole file without waiting; `Some(holder)` when someone else has it.
fn try_lock(file: &File) -> std::io::Result<Option<Holder>> {
    let mut lock = whole_file_write_lock();
    // SAFETY: the fd is open for the call; `lock` is a valid flock struct.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) } == 0 {
        return Ok(None);
    }
    let err = std::io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) {
        return Err(err);
    }
    // SAFETY: as above; F_GETLK fills `lock` with the conflicting lock.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let pid = lock.l_pid;
    let command = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .filter(|bytes| !bytes.is_empty())
        .map(|bytes| {
            let words: Vec<String> = bytes
                .split(|&b| b == 0)
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            words.join(" ")
        });
    Ok(Some(Holder { pid, command }))
}

fn whole_file_write_lock() -> libc::flock {
    // SAFETY: flock is plain data; all-zero is a valid value before the fields are set.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = 0;
    lock.l_len = 0;
    lock
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_named_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let admindir = dir.path().join("var/lib/dpkg");
        std::fs::create_dir_all(&admindir).unwrap();
        let root = Root::new(dir.path());
        let first = acquire(&root, &admindir, false).unwrap();
        // fcntl locks belong to the process: a second process must be the one to ask.
        let output = std::process::Command::new("python3")
            .arg("-c")
            .arg(
                "import fcntl,sys\nf=open(sys.argv[1],'r+')\ntry:\n fcntl.lockf(f,fcntl.LOCK_EX|fcntl.LOCK_NB)\n print('got')\nexcept OSError:\n print('held')",
            )
            .arg(admindir.join("lock"))
            .output();
        if let Ok(output) = output {
            assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "held");
        }
        drop(first);
        assert!(acquire(&root, &admindir, false).is_ok());
    }

    #[test]
    fn a_fifo_as_lock_file_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let admindir = dir.path().join("var/lib/dpkg");
        std::fs::create_dir_all(&admindir).unwrap();
        nix::unistd::mkfifo(&admindir.join("lock"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = acquire(&Root::new(dir.path()), &admindir, false).unwrap_err();
        assert!(err.to_string().contains("regular file"), "{err}");
    }
}
