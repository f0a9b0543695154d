//! Where the kernel's process and system views are read from, and the two rules every reader of
//! them follows. `/proc` may be missing (an empty chroot, a rescue shell before anything is
//! mounted): [`require_proc`] says so in one sentence the applets print as they are, with the
//! command that fixes it. And a process stuck in uninterruptible sleep can make a read of its
//! `cmdline`, `environ` or `maps` block (they take the target's mmap lock), as can `statfs` of a
//! dead NFS server: such reads go through [`with_timeout`], which gives up on them instead of
//! hanging the tool.
//!
//! The per-process parsers live with their readers (`process`, `mountinfo`, ...); this module
//! only knows where `/proc` is and how to read from it safely.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::{Error, Result};

/// The kernel's process view, where the tool looks for it. It is never taken from `--root`:
/// the processes are the running kernel's, whichever root is being examined.
pub const PROC: &str = "/proc";

/// How long a read of a possibly stuck process or file system may take before it is given up.
/// A healthy read takes microseconds; a second is long enough never to give up on a loaded host
/// and short enough that a listing of 1,000 processes with a few stuck ones stays usable.
pub const STUCK_AFTER: Duration = Duration::from_secs(1);

/// `/proc/PID/...` for a process.
pub fn pid_path(pid: u32, file: &str) -> PathBuf {
    Path::new(PROC).join(pid.to_string()).join(file)
}

/// Ok when `/proc` is mounted; otherwise the error an applet prints before leaving with 2:
/// `/proc: not mounted (missing) here; mount it first: rescue mount -t proc proc /proc`.
pub fn require_proc() -> Result<()> {
    match std::fs::metadata(Path::new(PROC).join("self/stat")) {
        Ok(_) => Ok(()),
        Err(_) => Err(Error::refused(
            PROC,
            "missing: /proc is not mounted here (an empty chroot?); mount it first with \
             `rescue mount -t proc proc /proc`, or bind-mount the host's",
        )),
    }
}

/// The pids of every process, ascending. Tasks that vanish while being listed are simply not
/// there; that is the nature of `/proc`.
pub fn pids() -> Result<Vec<u32>> {
    require_proc()?;
    let entries = std::fs::read_dir(PROC).map_err(|err| Error::io("read directory", PROC, err))?;
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Runs `work` in a worker thread and waits at most `limit` for it. `None` means it did not
/// finish in time: the worker is left behind, still blocked in the kernel, and the caller says
/// which process or mount could not be read. A blocked worker cannot be cancelled; the reads
/// this guards (cmdline, environ, maps, statfs) sleep killably, so the process still exits.
pub fn with_timeout<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (sender, receiver) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("stuck-read".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let _ = sender.send(work());
        });
    if spawned.is_err() {
        return None;
    }
    receiver.recv_timeout(limit).ok()
}

/// Reads a whole `/proc` file (or any file that may block) with [`with_timeout`]. `Ok(None)`
/// means the read did not finish in time.
pub fn read_with_timeout(path: PathBuf, limit: Duration) -> Result<Option<Vec<u8>>> {
    let shown = path.clone();
    match with_timeout(limit, move || std::fs::read(&path)) {
        None => Ok(None),
        Some(Ok(data)) => Ok(Some(data)),
        Some(Err(err)) => Err(Error::io("read", shown, err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_read_is_given_up_and_a_fast_one_answers() {
        let slow = with_timeout(Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_secs(5));
            1
        });
        assert_eq!(slow, None);
        assert_eq!(with_timeout(Duration::from_secs(5), || 2), Some(2));
    }

    #[test]
    fn this_process_is_listed_when_proc_is_mounted() {
        if require_proc().is_err() {
            return;
        }
        assert!(pids().unwrap().contains(&std::process::id()));
    }
}
