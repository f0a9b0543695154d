//! `statfs(2)` and `stat(2)` of mount points that may never answer: a hard NFS mount whose
//! server is gone blocks both forever. Each call runs in a worker
//! ([`crate::sys::procfs::with_timeout`]) and is given up after a limit; many mount points are
//! asked at once, so ten dead servers cost one limit, not ten. `df` and `mounts` use it.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use super::fs_status::{fs_status, FsStatus};
use super::procfs::with_timeout;

/// What a mount point said.
#[derive(Debug)]
pub enum Probe {
    /// `st_dev` of the directory and its file system's status.
    Answered {
        device: u64,
        status: std::io::Result<FsStatus>,
    },
    /// `stat` itself failed (the directory is gone, or hidden).
    StatFailed(std::io::Error),
    /// No answer within the limit.
    Stuck,
}

/// Probes every path at once and waits at most about `limit` in all.
pub fn probe_all(paths: &[PathBuf], limit: Duration) -> Vec<Probe> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = paths
            .iter()
            .map(|path| {
                let path = path.clone();
                std::thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn_scoped(scope, move || probe(path, limit))
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| match worker {
                Ok(handle) => handle.join().unwrap_or(Probe::Stuck),
                Err(err) => Probe::StatFailed(err),
            })
            .collect()
    })
}

/// Fault injection for the tests, which cannot make an NFS server die on cue:
/// `RESCUE_FAULT_STUCK_STATFS=PATH` makes every probe of PATH block as one of a dead hard NFS
/// mount does.
const STUCK_FAULT: &str = "RESCUE_FAULT_STUCK_STATFS";

/// Probes one path, waiting at most `limit`.
pub fn probe(path: PathBuf, limit: Duration) -> Probe {
    let stuck = std::env::var_os(STUCK_FAULT).is_some_and(|fault| path.as_os_str() == fault);
    let answer = with_timeout(limit, move || {
        if stuck {
            loop {
                std::thread::park();
            }
        }
        match std::fs::metadata(&path) {
            Ok(meta) => Probe::Answered {
                device: meta.dev(),
                status: fs_status(&path),
            },
            Err(err) => Probe::StatFailed(err),
        }
    });
    answer.unwrap_or(Probe::Stuck)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_answers_and_a_missing_path_fails() {
        let probes = probe_all(
            &[PathBuf::from("/"), PathBuf::from("/nonexistent-rescue")],
            Duration::from_secs(5),
        );
        assert!(matches!(probes[0], Probe::Answered { status: Ok(_), .. }));
        assert!(matches!(probes[1], Probe::StatFailed(_)));
    }
}
