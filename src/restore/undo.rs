//! Reversing a run from its journal, newest step first. Each reversal is idempotent (it checks
//! what is there before acting), so undo also finishes the job after a run was killed, and can
//! itself be interrupted and run again.
//!
//! Runs are undone newest first: undoing an older run while a newer one still stands would
//! put back files the newer run relied on, so it is refused. An undone run keeps its directory
//! (backups included) with an `undone` marker: nothing is ever deleted.
//!
//! A journal is input, not orders. Every path in it is resolved inside ROOT with the last
//! component not followed, and must resolve to itself (the run recorded resolved paths): a
//! `..`, or a symlink that appeared in the path since the run, is refused, never followed.
//! A backup must be the one the run made inside its own directory, a temporary file must
//! carry the run's own `.rescue-RUN-N` name. A run directory or journal that is a symlink is
//! not read (see [`RunDir`]).
//!
//! Later edits win. Where the journal records what the run wrote (type, size and md5, mode,
//! owner), a path that no longer holds it was changed after the run: its later version is
//! linked (or moved) into the run's `undo-kept/` before the old one is put back, and a later
//! mode or owner is left as it is. Both are reported. A step that cannot be reversed (its
//! backup gone, its path refused, its journal line unreadable) is reported, and the run is
//! then not marked undone: undo never says done when it is not.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::apply::{restore_attributes, temp_prefix, BACKUP_ROOT};
use super::journal::{self, Attributes, Contents, RunDir, Step, Written};
use crate::sys::quoting::escape;
use crate::sys::root::{Last, Root};
use crate::{Error, Result};

/// Where undo keeps the later versions of paths changed since the run, inside the run's
/// directory.
pub const KEPT: &str = "undo-kept";

/// A run directory under `ROOT/var/backups/rescue`.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub id: String,
    /// Host path of the run's directory.
    pub dir: PathBuf,
    /// The run's directory inside ROOT.
    pub inside: PathBuf,
    pub finished: bool,
    pub undone: bool,
    pub journal: Contents,
    /// What is wrong with the journal or its markers, one line each: unreadable lines, a
    /// journal cut or changed after the run finished. The run is still listed and undone as
    /// far as it can be, but never marked undone while this is not empty.
    pub damage: Vec<String>,
}

impl RunInfo {
    pub fn steps(&self) -> usize {
        self.journal.steps.len()
    }
}

/// The runs under ROOT/var/backups/rescue.
#[derive(Debug, Default)]
pub struct Runs {
    /// Oldest first.
    pub runs: Vec<RunInfo>,
    /// Names there that cannot be read as runs (a symlink, a journal that is not a regular
    /// file), with why: never read through, never undone.
    pub refused: Vec<(String, Error)>,
}

/// Every run, oldest first. One damaged run never hides the others: a finished run's
/// journal is history, so its damage is recorded and reported, not fatal.
pub fn runs(root: &Root) -> Result<Runs> {
    let base = backup_root(root)?;
    let base_host = root.host_lexical(&base);
    let entries = match std::fs::read_dir(&base_host) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Runs::default()),
        Err(err) => return Err(Error::io("read directory", &base_host, err)),
    };
    let mut found = Runs::default();
    for entry in entries {
        let entry = entry.map_err(|err| Error::io("read directory", &base_host, err))?;
        let id = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        match read_run(&entry.path(), &base, &id) {
            Ok(Some(run)) => found.runs.push(run),
            // A directory without a journal: a run that died before its first line.
            Ok(None) => {}
            Err(err) => found.refused.push((id, err)),
        }
    }
    found.runs.sort_by(|a, b| a.id.cmp(&b.id));
    found.refused.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

fn backup_root(root: &Root) -> Result<PathBuf> {
    root.resolve_inside(Path::new(BACKUP_ROOT), Last::Follow)
        .map_err(|err| Error::io("resolve", BACKUP_ROOT, err))
}

fn read_run(host: &Path, base: &Path, id: &str) -> Result<Option<RunInfo>> {
    let dir = RunDir::open(host)?;
    let journal = match dir.read_journal() {
        Ok(journal) => journal,
        Err(err) if err.is_not_found() => return Ok(None),
        Err(err) => return Err(err),
    };
    let mut damage = Vec::new();
    let mut marker = |name: &str| match dir.marker(name) {
        Ok(found) => found,
        Err(err) => {
            damage.push(err.to_string());
            None
        }
    };
    let undone = marker(journal::UNDONE).is_some();
    let finished_at = marker(journal::FINISHED);
    damage.extend(journal_damage(&journal, finished_at.as_deref()));
    Ok(Some(RunInfo {
        id: id.to_string(),
        dir: host.to_path_buf(),
        inside: base.join(id),
        finished: finished_at.is_some() || journal.finished(),
        undone,
        journal,
        damage,
    }))
}

/// What the journal and the `finished` marker say is wrong. A torn last line alone is the
/// crash case, not damage.
fn journal_damage(journal: &Contents, finished_at: Option<&[u8]>) -> Vec<String> {
    let mut damage = Vec::new();
    if !journal.unreadable.is_empty() {
        let lines: Vec<String> = journal.unreadable.iter().map(usize::to_string).collect();
        damage.push(format!(
            "journal line{} {} unreadable: the change{} named there cannot be reversed",
            if lines.len() == 1 { "" } else { "s" },
            lines.join(", "),
            if lines.len() == 1 { "" } else { "s" },
        ));
    }
    if let Some(text) = finished_at {
        let recorded = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok());
        match recorded {
            Some(bytes) if bytes == journal.bytes => {}
            Some(bytes) => damage.push(format!(
                "the journal is {} bytes, it was {bytes} when the run finished: cut or changed since{}",
                journal.bytes,
                if journal.torn { " (its last line is cut short)" } else { "" }
            )),
            None => damage.push("the finished marker is unreadable".into()),
        }
    } else if let Some(at) = journal
        .steps
        .iter()
        .position(|(_, step)| *step == Step::Finished)
    {
        if at + 1 < journal.steps.len() || journal.torn {
            damage.push("the journal goes on after its finished line".into());
        }
    }
    damage
}

/// A path changed after the run, kept rather than overwritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    /// The path the run wrote (inside ROOT).
    pub path: PathBuf,
    /// Where the later version is now (inside ROOT): under the run's `undo-kept/`, or `path`
    /// itself when it was left in place.
    pub at: PathBuf,
    pub why: String,
}

/// What one undo did.
#[derive(Debug, Default)]
pub struct UndoReport {
    pub run: String,
    pub reversed: usize,
    /// Later changes kept (those paths' steps count as reversed).
    pub kept: Vec<Kept>,
    /// Steps that could not be reversed, with why. The rest of the run is still undone, but
    /// the run is not marked undone.
    pub problems: Vec<String>,
    /// What is wrong with the journal itself (unreadable lines, cut or changed after the run
    /// finished): steps may be missing, so the run is not marked undone either.
    pub damage: Vec<String>,
    pub marked_undone: bool,
    /// Names under ROOT/var/backups/rescue that are no readable run: left alone.
    pub ignored: Vec<String>,
}

/// Undoes `run` (or the newest run not yet undone).
pub fn undo(root: &Root, run: Option<&str>) -> Result<UndoReport> {
    let Runs {
        runs: all,
        mut refused,
    } = runs(root)?;
    let live: Vec<&RunInfo> = all.iter().filter(|r| !r.undone).collect();
    let chosen = match run {
        Some(id) => {
            if let Some(at) = refused.iter().position(|(name, _)| name == id) {
                return Err(refused.swap_remove(at).1);
            }
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
    let dir = RunDir::open(&chosen.dir)?;
    // Read again through the descriptor that will carry the `undone` marker.
    let journal = dir.read_journal()?;
    let mut report = UndoReport {
        run: chosen.id.clone(),
        damage: journal_damage(&journal, dir.marker(journal::FINISHED)?.as_deref()),
        ignored: if run.is_none() {
            refused.iter().map(|(_, err)| err.to_string()).collect()
        } else {
            Vec::new()
        },
        ..UndoReport::default()
    };
    let undo = Undo { root, run: chosen };
    for (line, step) in journal.steps.iter().rev() {
        match undo.reverse(step) {
            Ok(Reversed::Nothing) => {}
            Ok(Reversed::Done) => report.reversed += 1,
            Ok(Reversed::Kept(kept)) => {
                report.reversed += 1;
                report.kept.push(kept);
            }
            Err(err) => report.problems.push(format!("journal line {line}: {err}")),
        }
    }
    if report.problems.is_empty() && report.damage.is_empty() {
        dir.set_marker(journal::UNDONE, b"")?;
        report.marked_undone = true;
    }
    Ok(report)
}

/// What restore's start-up cleanup did.
#[derive(Debug, Default)]
pub struct Cleanup {
    pub removed: usize,
    /// Runs and journal lines it could not read or would not act on.
    pub warnings: Vec<String>,
}

/// Removes temporary files that earlier runs left behind (restore calls this first): a run
/// killed part-way, or one made by a version that left them on a failed commit. Damage in
/// old journals is reported and skipped: it never stops the restore.
pub fn clean_leftovers(root: &Root) -> Result<Cleanup> {
    let Runs { runs, refused } = runs(root)?;
    let mut cleanup = Cleanup::default();
    for (id, err) in refused {
        cleanup.warnings.push(format!("run {id} ignored: {err}"));
    }
    for run in runs.iter().filter(|r| !r.undone) {
        for damage in &run.damage {
            cleanup.warnings.push(format!("run {}: {damage}", run.id));
        }
        let undo = Undo { root, run };
        for (line, step) in &run.journal.steps {
            let Step::Stage { temp } = step else {
                continue;
            };
            match undo.remove_temp(temp) {
                Ok(Reversed::Nothing) => {}
                Ok(_) => cleanup.removed += 1,
                Err(err) => cleanup
                    .warnings
                    .push(format!("run {}, journal line {line}: {err}", run.id)),
            }
        }
    }
    Ok(cleanup)
}

enum Reversed {
    /// There was nothing to reverse: the step never took effect, or an earlier undo that
    /// was interrupted reversed it already.
    Nothing,
    Done,
    Kept(Kept),
}

/// Reversing the steps of one run.
struct Undo<'a> {
    root: &'a Root,
    run: &'a RunInfo,
}

impl Undo<'_> {
    fn reverse(&self, step: &Step) -> Result<Reversed> {
        match step {
            Step::Finished => Ok(Reversed::Nothing),
            Step::Stage { temp } => self.remove_temp(temp),
            Step::Create { path, wrote } => self.remove_created(path, wrote.as_ref()),
            Step::MakeDirectory { path } => self.remove_directory(path),
            Step::Replace {
                path,
                backup,
                wrote,
            } => self.put_back(path, backup, wrote.as_ref()),
            Step::MoveAside { path, backup } => self.move_back(path, backup),
            Step::SetAttributes { path, old, new } => self.set_back(path, old, new.as_ref()),
        }
    }

    /// The host path of a journal path, which must resolve inside ROOT to itself.
    fn here(&self, recorded: &Path) -> Result<PathBuf> {
        let now = self
            .root
            .resolve_inside(recorded, Last::NoFollow)
            .map_err(|err| Error::io("resolve", recorded, err))?;
        if now != recorded {
            return Err(Error::refused(
                recorded,
                format!(
                    "resolves to {} inside ROOT, not to itself (a `..`, or a symlink in the \
                     path that the run did not write through): not touched",
                    escape(&now)
                ),
            ));
        }
        Ok(self.root.host_lexical(&now))
    }

    /// Where the run backed `path` up: its own directory's `files/` + `path`, nowhere else.
    fn files_backup(&self, path: &Path) -> PathBuf {
        let relative = path.strip_prefix("/").unwrap_or(path);
        self.run.inside.join("files").join(relative)
    }

    fn backup_here(&self, path: &Path, backup: &Path, also: Option<&Path>) -> Result<PathBuf> {
        let expected = self.files_backup(path);
        if backup != expected && Some(backup) != also {
            return Err(Error::refused(
                backup,
                format!(
                    "not where this run backs {} up ({}): not used",
                    escape(path),
                    escape(&expected)
                ),
            ));
        }
        self.here(backup)
    }

    fn remove_temp(&self, temp: &Path) -> Result<Reversed> {
        let name = temp.file_name().map(|n| n.as_bytes()).unwrap_or_default();
        let prefix = temp_prefix(&self.run.id);
        let is_ours = name
            .strip_prefix(prefix.as_bytes())
            .is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit));
        if !is_ours {
            return Err(Error::refused(
                temp,
                format!(
                    "not a temporary file of run {} (.rescue-{}-N): not removed",
                    self.run.id, self.run.id
                ),
            ));
        }
        let host = self.here(temp)?;
        match std::fs::symlink_metadata(&host) {
            Ok(meta) if meta.is_dir() => Err(Error::refused(
                temp,
                "a directory, not a temporary file: not removed",
            )),
            Ok(_) => std::fs::remove_file(&host)
                .map(|()| Reversed::Done)
                .map_err(|err| Error::io("remove", &host, err)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Reversed::Nothing),
            Err(err) => Err(Error::io("inspect", &host, err)),
        }
    }

    fn remove_created(&self, path: &Path, wrote: Option<&Written>) -> Result<Reversed> {
        let host = self.here(path)?;
        if !exists(&host)? {
            return Ok(Reversed::Nothing);
        }
        if let Some(wrote) = wrote {
            if !matches(wrote, &host)? {
                let kept = self.keep(path, &host)?;
                remove_if_present(&host)?;
                return Ok(Reversed::Kept(kept));
            }
        }
        remove_if_present(&host).map(|_| Reversed::Done)
    }

    fn remove_directory(&self, path: &Path) -> Result<Reversed> {
        let host = self.here(path)?;
        match std::fs::remove_dir(&host) {
            Ok(()) => Ok(Reversed::Done),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Reversed::Nothing),
            Err(err) if err.raw_os_error() == Some(libc::ENOTEMPTY) => Ok(Reversed::Kept(Kept {
                path: path.to_path_buf(),
                at: path.to_path_buf(),
                why: "the directory the run made holds what was put there after it".into(),
            })),
            Err(err) if err.raw_os_error() == Some(libc::ENOTDIR) => Ok(Reversed::Kept(Kept {
                path: path.to_path_buf(),
                at: path.to_path_buf(),
                why: "no longer the directory the run made".into(),
            })),
            Err(err) => Err(Error::io("remove directory", &host, err)),
        }
    }

    fn put_back(&self, path: &Path, backup: &Path, wrote: Option<&Written>) -> Result<Reversed> {
        let path_host = self.here(path)?;
        let backup_host = self.backup_here(path, backup, None)?;
        let Some(backup_meta) = lstat(&backup_host)? else {
            // The backup was durable before this line was: it was removed since.
            return Err(Error::refused(
                backup,
                format!(
                    "the backup of {} is gone: it keeps what the run put there",
                    escape(path)
                ),
            ));
        };
        let Some(now) = lstat(&path_host)? else {
            return self.swap_in(path, &path_host, &backup_host, false);
        };
        // A kill before the rename: the backup is a hard link to the file still in place,
        // which is the old file already (and rename(2) of one inode onto itself would do
        // nothing, leaving the temporary name behind).
        if (now.dev(), now.ino()) == (backup_meta.dev(), backup_meta.ino()) {
            return Ok(Reversed::Nothing);
        }
        let keep_later = match wrote {
            Some(wrote) if matches(wrote, &path_host)? => false,
            Some(_) if same_node(&backup_host, &path_host)? => return Ok(Reversed::Nothing),
            Some(_) => true,
            // A journal of an earlier version: nothing to compare with.
            None if now.is_dir() => {
                return Err(Error::refused(
                    path,
                    format!(
                        "a directory now stands here; the old file is kept at {}",
                        escape(backup)
                    ),
                ))
            }
            None => false,
        };
        self.swap_in(path, &path_host, &backup_host, keep_later)
    }

    /// Puts the backup back atomically: a second name for it (or a copy) beside the path,
    /// renamed over whatever stands there, once that is kept when `keep_later` asks. The
    /// backup itself stays.
    fn swap_in(
        &self,
        path: &Path,
        path_host: &Path,
        backup_host: &Path,
        keep_later: bool,
    ) -> Result<Reversed> {
        let mut name = std::ffi::OsString::from(".rescue-undo-");
        name.push(path_host.file_name().unwrap_or_default());
        let temp = path_host.with_file_name(name);
        let _ = std::fs::remove_file(&temp);
        if std::fs::hard_link(backup_host, &temp).is_err() {
            super::apply::copy_preserving(backup_host, &temp)?;
        }
        let kept = if keep_later {
            match self.keep(path, path_host) {
                Ok(kept) => Some(kept),
                Err(err) => {
                    let _ = std::fs::remove_file(&temp);
                    return Err(err);
                }
            }
        } else {
            None
        };
        std::fs::rename(&temp, path_host).map_err(|err| {
            let _ = std::fs::remove_file(&temp);
            Error::io("put back", path_host, err)
        })?;
        Ok(kept.map_or(Reversed::Done, Reversed::Kept))
    }

    fn move_back(&self, path: &Path, backup: &Path) -> Result<Reversed> {
        let path_host = self.here(path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Beside the path when the backup directory is on another file system.
        let sibling = path.with_file_name(format!("{name}.rescue-{}", self.run.id));
        let backup_host = self.backup_here(path, backup, Some(&sibling))?;
        let path_taken = exists(&path_host)?;
        if !exists(&backup_host)? {
            if path_taken {
                // The move never happened (a kill after its line).
                return Ok(Reversed::Nothing);
            }
            return Err(Error::refused(
                backup,
                format!(
                    "what stood at {} was moved here, and it is gone",
                    escape(path)
                ),
            ));
        }
        if path_taken {
            return Err(Error::refused(
                path,
                format!(
                    "something stands here again; what was here is kept at {}",
                    escape(backup)
                ),
            ));
        }
        std::fs::rename(&backup_host, &path_host)
            .map_err(|err| Error::io("move back", &path_host, err))?;
        Ok(Reversed::Done)
    }

    fn set_back(&self, path: &Path, old: &Attributes, new: Option<&Written>) -> Result<Reversed> {
        let host = self.here(path)?;
        let Some(meta) = lstat(&host)? else {
            return Ok(Reversed::Nothing);
        };
        if let Some(new) = new {
            if !matches(new, &host)? {
                let is_symlink = meta.file_type().is_symlink();
                let as_before = (meta.uid(), meta.gid()) == (old.uid, old.gid)
                    && (is_symlink || meta.mode() & 0o7777 == old.mode & 0o7777);
                if as_before {
                    return Ok(Reversed::Nothing);
                }
                return Ok(Reversed::Kept(Kept {
                    path: path.to_path_buf(),
                    at: path.to_path_buf(),
                    why: format!(
                        "mode and owner changed after the run (now {:04o} {}:{}, the run set \
                         {:04o} {}:{})",
                        meta.mode() & 0o7777,
                        meta.uid(),
                        meta.gid(),
                        new.mode,
                        new.uid,
                        new.gid
                    ),
                }));
            }
        }
        restore_attributes(&host, old)?;
        Ok(Reversed::Done)
    }

    /// Preserves the later version standing at `host` under the run's `undo-kept/`: a hard
    /// link (or a copy across file systems), so the path itself is replaced atomically
    /// afterwards; a directory cannot be linked and is moved there instead.
    fn keep(&self, path: &Path, host: &Path) -> Result<Kept> {
        let relative = path.strip_prefix("/").unwrap_or(path);
        let base = self.run.inside.join(KEPT).join(relative);
        let mut at = base.clone();
        let mut n = 0;
        while exists(&self.here(&at)?)? {
            n += 1;
            let mut name = base.file_name().unwrap_or_default().to_os_string();
            name.push(format!(".{n}"));
            at = base.with_file_name(name);
        }
        let at_host = self.here(&at)?;
        if let Some(parent) = at_host.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|err| Error::io("create directory", parent, err))?;
        }
        let is_dir = std::fs::symlink_metadata(host).is_ok_and(|m| m.is_dir());
        let result = if is_dir {
            std::fs::rename(host, &at_host).map_err(|err| Error::io("move", host, err))
        } else {
            match std::fs::hard_link(host, &at_host) {
                Ok(()) => Ok(()),
                Err(err) if err.raw_os_error() == Some(libc::EXDEV) => {
                    super::apply::copy_preserving(host, &at_host)
                }
                Err(err) => Err(Error::io("keep", host, err)),
            }
        };
        result.map_err(|err| {
            Error::refused(
                path,
                format!("changed after the run, and could not be kept ({err}): left as it is"),
            )
        })?;
        Ok(Kept {
            path: path.to_path_buf(),
            at,
            why: "changed after the run".into(),
        })
    }
}

/// `lstat`, with a missing path as `None`.
fn lstat(host: &Path) -> Result<Option<std::fs::Metadata>> {
    match std::fs::symlink_metadata(host) {
        Ok(meta) => Ok(Some(meta)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::io("inspect", host, err)),
    }
}

fn exists(host: &Path) -> Result<bool> {
    lstat(host).map(|meta| meta.is_some())
}

fn matches(wrote: &Written, host: &Path) -> Result<bool> {
    wrote
        .matches(host)
        .map_err(|err| Error::io("inspect", host, err))
}

/// Whether `host` holds what the backup holds (type, owner, mode, content): the step was
/// reversed already, by an earlier undo or by hand.
fn same_node(backup: &Path, host: &Path) -> Result<bool> {
    let before = Written::of(backup).map_err(|err| Error::io("inspect", backup, err))?;
    matches(&before, host)
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
