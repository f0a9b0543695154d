//! Reversing a run from its journal, newest step first. Each reversal is idempotent (it checks
//! what is there before acting), so undo also finishes the job after a run was killed, and can
//! itself be interrupted and run again.
//!
//! Runs are undone newest first: undoing an older run while a newer one still stands would
//! put back files the newer run relied on, so it is refused. An undone run keeps its directory
//! (backups included) with an `undone` marker: nothing is ever deleted.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::apply::{restore_attributes, BACKUP_ROOT};
use super::journal::{self, Step};
use crate::sys::root::{Last, Root};
use crate::{Error, Result};

/// A run directory under `ROOT/var/backups/rescue`.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub id: String,
    /// Host path of the run's directory.
    pub dir: PathBuf,
    pub finished: bool,
    pub undone: bool,
    pub steps: usize,
}

/// Every run, oldest first.
pub fn runs(root: &Root) -> Result<Vec<RunInfo>> {
    let base = root
        .resolve(Path::new(BACKUP_ROOT), Last::Follow)
        .map_err(|err| Error::io("resolve", BACKUP_ROOT, err))?;
    let entries = match std::fs::read_dir(&base) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(Error::io("read directory", &base, err)),
    };
    let mut runs = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let journal_path = dir.join("journal");
        if !journal_path.is_file() {
            continue;
        }
        let steps = journal::read(&journal_path)?;
        runs.push(RunInfo {
            id: entry.file_name().to_string_lossy().into_owned(),
            finished: steps.last() == Some(&Step::Finished),
            undone: dir.join("undone").exists(),
            steps: steps.len(),
            dir,
        });
    }
    runs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(runs)
}

/// What one undo did.
#[derive(Debug, Default)]
pub struct UndoReport {
    pub run: String,
    pub reversed: usize,
    /// Steps that could not be reversed, with why: the rest of the run is still undone.
    pub problems: Vec<String>,
}

/// Undoes `run` (or the newest run not yet undone).
pub fn undo(root: &Root, run: Option<&str>) -> Result<UndoReport> {
    let all = runs(root)?;
    let live: Vec<&RunInfo> = all.iter().filter(|r| !r.undone).collect();
    let chosen = match run {
        Some(id) => {
            let found = all
                .iter()
                .find(|r| r.id == id)
                .ok_or_else(|| Error::refused(id, "no such run under ROOT/var/backups/rescue"))?;
            if found.undone {
                return Err(Error::refused(id, "this run was already undone"));
            }
            if let Some(newer) = live.iter().find(|r| r.id > found.id) {
                return Err(Error::refused(
                    id,
                    format!(
                        "run {} came after it and still stands: undo that one first",
                        newer.id
                    ),
                ));
            }
            found
        }
        None => *live
            .last()
            .ok_or_else(|| Error::refused(BACKUP_ROOT, "no restore run to undo"))?,
    };
    let steps = journal::read(&chosen.dir.join("journal"))?;
    let mut report = UndoReport {
        run: chosen.id.clone(),
        ..UndoReport::default()
    };
    for step in steps.iter().rev() {
        match reverse(root, step) {
            Ok(true) => report.reversed += 1,
            Ok(false) => {}
            Err(err) => report.problems.push(err.to_string()),
        }
    }
    if report.problems.is_empty() {
        let marker = chosen.dir.join("undone");
        std::fs::write(&marker, b"").map_err(|err| Error::io("create", &marker, err))?;
    }
    Ok(report)
}

/// Removes temporary files that runs killed part-way left behind (restore calls this first).
pub fn clean_interrupted(root: &Root) -> Result<usize> {
    let mut removed = 0;
    for run in runs(root)?.iter().filter(|r| !r.finished && !r.undone) {
        for step in journal::read(&run.dir.join("journal"))? {
            if let Step::Stage { temp } = step {
                let host = root.host_lexical(&temp);
                if std::fs::symlink_metadata(&host).is_ok() && std::fs::remove_file(&host).is_ok() {
                    removed += 1;
                }
            }
        }
    }
    Ok(removed)
}

/// Reverses one step; `Ok(false)` when there was nothing to reverse (the step never took
/// effect, or was reversed by an earlier undo that was interrupted).
fn reverse(root: &Root, step: &Step) -> Result<bool> {
    let host = |inside: &Path| root.host_lexical(inside);
    match step {
        Step::Finished => Ok(false),
        Step::Stage { temp } => remove_if_present(&host(temp)),
        Step::Create { path } => remove_if_present(&host(path)),
        Step::MakeDirectory { path } => match std::fs::remove_dir(host(path)) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(Error::io("remove directory", host(path), err)),
        },
        Step::Replace { path, backup } => {
            let (path_host, backup_host) = (host(path), host(backup));
            let Ok(backup_meta) = std::fs::symlink_metadata(&backup_host) else {
                return Ok(false);
            };
            // A kill before the rename: the backup is a hard link to the file still in place,
            // which is the old file already (and rename(2) of one inode onto itself would do
            // nothing, leaving the temporary name behind).
            if std::fs::symlink_metadata(&path_host)
                .is_ok_and(|m| (m.dev(), m.ino()) == (backup_meta.dev(), backup_meta.ino()))
            {
                return Ok(false);
            }
            // Put the old file back atomically: a second name for the backup (or a copy),
            // renamed over whatever the run wrote. The backup itself stays.
            let temp = path_host.with_file_name(format!(
                ".rescue-undo-{}",
                path_host
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
            let _ = std::fs::remove_file(&temp);
            if std::fs::hard_link(&backup_host, &temp).is_err() {
                super::apply::copy_preserving(&backup_host, &temp)?;
            }
            if let Ok(meta) = std::fs::symlink_metadata(&path_host) {
                if meta.is_dir() {
                    let _ = std::fs::remove_file(&temp);
                    return Err(Error::refused(
                        &path_host,
                        "a directory now stands here; the old file is kept at its backup",
                    ));
                }
            }
            std::fs::rename(&temp, &path_host)
                .map_err(|err| Error::io("put back", &path_host, err))?;
            Ok(true)
        }
        Step::MoveAside { path, backup } => {
            let (path_host, backup_host) = (host(path), host(backup));
            if std::fs::symlink_metadata(&backup_host).is_err() {
                return Ok(false);
            }
            if std::fs::symlink_metadata(&path_host).is_ok() {
                return Err(Error::refused(
                    &path_host,
                    format!(
                        "something stands here again; what was here is kept at {}",
                        backup.display()
                    ),
                ));
            }
            std::fs::rename(&backup_host, &path_host)
                .map_err(|err| Error::io("move back", &path_host, err))?;
            Ok(true)
        }
        Step::SetAttributes { path, old } => {
            let path_host = host(path);
            if std::fs::symlink_metadata(&path_host).is_err() {
                return Ok(false);
            }
            restore_attributes(&path_host, old)?;
            Ok(true)
        }
    }
}

fn remove_if_present(host: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(host) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir(host)
            .map(|()| true)
            .map_err(|err| Error::io("remove directory", host, err)),
        Ok(_) => std::fs::remove_file(host)
            .map(|()| true)
            .map_err(|err| Error::io("remove", host, err)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(Error::io("inspect", host, err)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::apply::{Metadata, Node, Run};
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// Replace a file, create one, make a directory, change attributes: undo puts every byte
    /// and attribute back.
    #[test]
    fn undo_reverses_a_run_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        std::fs::create_dir_all(dir.path().join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("usr/bin/tool"), b"damaged").unwrap();
        std::fs::write(dir.path().join("usr/bin/other"), b"x").unwrap();
        let before_tool = std::fs::symlink_metadata(dir.path().join("usr/bin/tool")).unwrap();
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let meta = Metadata {
            mode: 0o755,
            uid,
            gid,
            mtime: 1_000_000,
            capability: None,
        };

        let mut run = Run::begin(&root, 1_795_000_000).unwrap();
        let mut good: &[u8] = b"good";
        let staged = vec![
            run.stage(
                Path::new("/bin/tool"),
                Node::File {
                    content: &mut good,
                    md5: None,
                },
                &meta,
            )
            .unwrap(),
            run.stage(
                Path::new("/bin/link"),
                Node::Symlink {
                    target: Path::new("tool"),
                },
                &meta,
            )
            .unwrap(),
        ];
        run.commit(staged).unwrap();
        run.make_directory(Path::new("/usr/share"), &meta).unwrap();
        run.set_attributes(
            Path::new("/usr/bin/other"),
            &Metadata {
                mode: 0o700,
                ..meta
            },
        )
        .unwrap();
        let id = run.finish().unwrap();

        // Through the /bin symlink, into usr/bin; the alias itself untouched.
        assert_eq!(
            std::fs::read(dir.path().join("usr/bin/tool")).unwrap(),
            b"good"
        );
        assert!(std::fs::symlink_metadata(dir.path().join("bin"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read(
                dir.path()
                    .join(format!("var/backups/rescue/{id}/files/usr/bin/tool"))
            )
            .unwrap(),
            b"damaged"
        );

        let report = undo(&root, None).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(
            std::fs::read(dir.path().join("usr/bin/tool")).unwrap(),
            b"damaged"
        );
        let after_tool = std::fs::symlink_metadata(dir.path().join("usr/bin/tool")).unwrap();
        assert_eq!(
            (
                after_tool.mode(),
                after_tool.mtime(),
                after_tool.mtime_nsec()
            ),
            (
                before_tool.mode(),
                before_tool.mtime(),
                before_tool.mtime_nsec()
            )
        );
        assert!(std::fs::symlink_metadata(dir.path().join("usr/bin/link")).is_err());
        assert!(!dir.path().join("usr/share").exists());
        assert_eq!(
            std::fs::metadata(dir.path().join("usr/bin/other"))
                .unwrap()
                .mode()
                & 0o7777,
            0o644,
            "the mode the file had before the run"
        );
        assert!(undo(&root, None).is_err(), "nothing left to undo");
    }

    #[test]
    fn a_content_mismatch_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let meta = Metadata {
            mode: 0o644,
            uid,
            gid,
            mtime: 0,
            capability: None,
        };
        let mut run = Run::begin(&root, 0).unwrap();
        let mut content: &[u8] = b"evil";
        let err = run
            .stage(
                Path::new("/etc/x"),
                Node::File {
                    content: &mut content,
                    md5: Some("00000000000000000000000000000000"),
                },
                &meta,
            )
            .unwrap_err();
        assert!(err.to_string().contains("refused"), "{err}");
        assert_eq!(
            std::fs::read_dir(dir.path().join("etc")).unwrap().count(),
            0
        );
    }
}
