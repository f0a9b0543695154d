//! The only code that changes ROOT. Every change goes through a [`Run`]:
//!
//! - every path is resolved inside ROOT with the last component not followed, so no symlink
//!   (planted, or in an archive) leads a write elsewhere, and directory symlinks such as
//!   `/lib -> usr/lib` are kept, never replaced by directories;
//! - a file is first *staged*: written to a temporary name in its target directory, its md5
//!   checked against what ROOT's database records for the path, its owner, mode and mtime set;
//! - then a batch of staged files is *committed*: the old files are preserved in
//!   `ROOT/var/backups/rescue/RUN/files/` (a hard link when on the same file system, else a
//!   copy with its metadata and extended attributes), the journal records the batch and is
//!   flushed, and each temporary file is renamed over its target. A kill leaves every path
//!   holding its old or its new version, never half of one. A commit that fails before its
//!   journal line (a full disk while copying a backup) takes its temporary files and the
//!   backups it made away again: nothing stays that no journal line names.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::journal::{self, Attributes, Content, Journal, RunDir, Step, Written};
use crate::sys::capability::{self, FileCaps};
use crate::sys::civil::Civil;
use crate::sys::root::{Last, Root};
use crate::sys::xattr;
use crate::{Error, Result};

/// Where runs keep their journal and backups, inside ROOT.
pub const BACKUP_ROOT: &str = "/var/backups/rescue";

/// Owner, group, mode, mtime and file capabilities a restored path must end with
/// (statoverride and maintainer scripts already applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    /// Regular files only (`security.capability`); `None` removes one that is there.
    pub capability: Option<FileCaps>,
}

/// What to put at a path.
pub enum Node<'a> {
    /// A regular file whose content must hash to `md5` (lowercase hex), when one is known.
    File {
        content: &'a mut dyn Read,
        md5: Option<&'a str>,
    },
    Symlink {
        target: &'a Path,
    },
    /// A second name for `to` (an inside path), as tar hard links are.
    HardLink {
        to: &'a Path,
    },
}

/// A temporary name journalled for a path, not yet written ([`Run::reserve`]).
#[derive(Debug)]
pub struct Reserved {
    /// The path as the caller named it (messages name it).
    path: PathBuf,
    /// The resolved inside path the temp file will be renamed to.
    target: PathBuf,
    temp: PathBuf,
}

/// A file written under a temporary name, waiting for its commit.
#[derive(Debug)]
pub struct Staged {
    /// The resolved inside path the temp file will be renamed to.
    pub target: PathBuf,
    temp: PathBuf,
    /// What the temp file is, for the journal: undo compares the path with it.
    wrote: Written,
}

/// One restore run: its directory under [`BACKUP_ROOT`] and its journal.
pub struct Run {
    root: Root,
    id: String,
    /// Inside path of the run's directory.
    dir: PathBuf,
    run_dir: RunDir,
    journal: Journal,
    next_temp: u64,
}

impl Run {
    /// Creates `ROOT/var/backups/rescue/RUN/` and its journal. The id is the UTC time, made
    /// unique with a counter if two runs start in the same second.
    pub fn begin(root: &Root, now_unix: i64) -> Result<Run> {
        let base = root
            .resolve_inside(Path::new(BACKUP_ROOT), Last::Follow)
            .map_err(|err| Error::io("resolve", BACKUP_ROOT, err))?;
        let base_host = root.host_lexical(&base);
        std::fs::create_dir_all(&base_host)
            .map_err(|err| Error::io("create directory", &base_host, err))?;
        let stamp = utc_stamp(now_unix);
        for attempt in 0..1000 {
            let id = if attempt == 0 {
                stamp.clone()
            } else {
                format!("{stamp}-{attempt}")
            };
            let dir = base.join(&id);
            match std::fs::create_dir(root.host_lexical(&dir)) {
                Ok(()) => {
                    let run_dir = RunDir::open(&root.host_lexical(&dir))?;
                    let journal = Journal::create(&run_dir)?;
                    return Ok(Run {
                        root: root.clone(),
                        id,
                        dir,
                        run_dir,
                        journal,
                        next_temp: 0,
                    });
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => {
                    return Err(Error::io("create directory", root.host_lexical(&dir), err))
                }
            }
        }
        Err(Error::refused(
            root.host_lexical(&base),
            "too many runs in one second",
        ))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The run's directory as the host sees it.
    pub fn dir_host(&self) -> PathBuf {
        self.root.host_lexical(&self.dir)
    }

    /// The inside path `path` names, parents resolved, last component not followed.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf> {
        self.root
            .resolve_inside(path, Last::NoFollow)
            .map_err(|err| Error::io("resolve", self.root.host_lexical(path), err))
    }

    fn host(&self, inside: &Path) -> PathBuf {
        self.root.host_lexical(inside)
    }

    /// Writes `node` under a temporary name beside `path`, with `meta` set on it.
    pub fn stage(&mut self, path: &Path, node: Node, meta: &Metadata) -> Result<Staged> {
        let mut groups = self.reserve(vec![vec![path]])?;
        let reserved = groups.pop().unwrap_or_else(|| Ok(Vec::new()))?;
        let reserved = reserved.into_iter().next().ok_or_else(|| {
            Error::refused(self.root.host_lexical(path), "no temporary name reserved")
        })?;
        self.stage_at(reserved, node, meta)
    }

    /// Resolves every path of every group and journals a temporary name beside each, all with
    /// one flush. A group holding a path that cannot be resolved (its directory could not be
    /// made) gets that error in its place and nothing journalled; the others go on.
    pub fn reserve(&mut self, groups: Vec<Vec<&Path>>) -> Result<Vec<Result<Vec<Reserved>>>> {
        let mut out = Vec::with_capacity(groups.len());
        let mut steps = Vec::new();
        for group in groups {
            let resolved: Result<Vec<PathBuf>> = group.iter().map(|p| self.resolve(p)).collect();
            out.push(resolved.map(|targets| {
                targets
                    .into_iter()
                    .zip(group)
                    .map(|(target, path)| {
                        let parent = target.parent().unwrap_or(Path::new("/")).to_path_buf();
                        self.next_temp += 1;
                        let temp = parent.join(temp_name(&self.id, self.next_temp));
                        steps.push(Step::Stage { temp: temp.clone() });
                        Reserved {
                            path: path.to_path_buf(),
                            target,
                            temp,
                        }
                    })
                    .collect()
            }));
        }
        if !steps.is_empty() {
            self.journal.record_batch(&steps)?;
        }
        Ok(out)
    }

    /// Writes `node` at a reserved temporary name, with `meta` set on it. It takes `&self`:
    /// packages are staged on every core at once, each thread streaming its own archive.
    pub fn stage_at(&self, reserved: Reserved, node: Node, meta: &Metadata) -> Result<Staged> {
        let Reserved { path, target, temp } = reserved;
        let temp_host = self.host(&temp);
        let result = match node {
            Node::File { content, md5 } => write_file(&temp_host, content, md5, &path, meta)
                .and_then(|md5| written_file(&temp_host, md5)),
            Node::Symlink {
                target: link_target,
            } => std::os::unix::fs::symlink(link_target, &temp_host)
                .map_err(|err| Error::io("create symlink", &temp_host, err))
                .and_then(|()| set_metadata(&temp_host, meta, true))
                .and_then(|()| describe(&temp_host)),
            Node::HardLink { to } => self.resolve(to).and_then(|to| {
                std::fs::hard_link(self.host(&to), &temp_host)
                    .map_err(|err| Error::io("link", &temp_host, err))
                    .and_then(|()| describe(&temp_host))
            }),
        };
        match result {
            Ok(wrote) => Ok(Staged {
                target,
                temp,
                wrote,
            }),
            Err(err) => {
                let _ = std::fs::remove_file(&temp_host);
                Err(err)
            }
        }
    }

    /// Drops reserved names that will not be written (their package failed before staging).
    pub fn unreserve(&self, reserved: Vec<Reserved>) {
        for item in reserved {
            let _ = std::fs::remove_file(self.host(&item.temp));
        }
    }

    /// Drops staged files that will not be committed (the package failed part-way).
    pub fn discard(&self, staged: Vec<Staged>) {
        for item in staged {
            let _ = std::fs::remove_file(self.host(&item.temp));
        }
    }

    /// Backs up what each target holds, journals the batch, and renames every staged file
    /// into place. On an error every temporary file of the batch is removed, and so is every
    /// backup the batch made while no journal line names it yet.
    pub fn commit(&mut self, staged: Vec<Staged>) -> Result<()> {
        self.commit_many(vec![staged])?.pop().unwrap_or(Ok(()))
    }

    /// [`Run::commit`] of several batches (one per package) with one sync and one journal
    /// flush for all. A batch whose backups cannot be made is discarded alone, its error in
    /// its place; an error of the sync or the journal discards every batch and is returned.
    pub fn commit_many(&mut self, batches: Vec<Vec<Staged>>) -> Result<Vec<Result<()>>> {
        let mut results = Vec::with_capacity(batches.len());
        let mut prepared = Vec::new();
        for staged in batches {
            if staged.is_empty() {
                results.push(Ok(()));
                continue;
            }
            let mut new_backups = Vec::new();
            match self.prepare(&staged, &mut new_backups) {
                Ok(steps) => {
                    prepared.push((results.len(), staged, steps, new_backups));
                    results.push(Ok(()));
                }
                Err(err) => {
                    self.forget(staged, new_backups);
                    results.push(Err(err));
                }
            }
        }
        if prepared.is_empty() {
            return Ok(results);
        }
        let steps: Vec<Step> = prepared
            .iter()
            .flat_map(|(_, _, steps, _)| steps.iter().cloned())
            .collect();
        // Temp files and backups reach the disk before the journal says they exist, and
        // the journal before any rename.
        let journalled = self.sync().and_then(|()| self.journal.record_batch(&steps));
        if let Err(err) = journalled {
            for (_, staged, _, new_backups) in prepared {
                self.forget(staged, new_backups);
            }
            return Err(err);
        }
        for (at, staged, _, _) in prepared {
            results[at] = self.rename_into_place(staged);
        }
        Ok(results)
    }

    /// Removes a batch's temporary files and the backups it made that no journal line names.
    fn forget(&mut self, staged: Vec<Staged>, new_backups: Vec<PathBuf>) {
        for backup in new_backups {
            let _ = std::fs::remove_file(backup);
        }
        self.discard(staged);
    }

    fn rename_into_place(&mut self, staged: Vec<Staged>) -> Result<()> {
        let mut items = staged.into_iter();
        while let Some(item) = items.next() {
            let (from, to) = (self.host(&item.temp), self.host(&item.target));
            if let Err(err) = std::fs::rename(&from, &to) {
                // The journal names these backups now, and undo finds each path still
                // holding its old version: only the temporary files go.
                let _ = std::fs::remove_file(&from);
                self.discard(items.collect());
                return Err(Error::io("rename into place", &to, err));
            }
        }
        Ok(())
    }

    /// The journal steps of a batch, with each replaced target backed up. `new_backups`
    /// collects the host paths of the backups made here, for the error path to remove.
    /// Directories standing where a file belongs are moved aside last, once every backup
    /// (what a full disk makes fail) is made.
    fn prepare(&mut self, staged: &[Staged], new_backups: &mut Vec<PathBuf>) -> Result<Vec<Step>> {
        let mut steps = Vec::with_capacity(staged.len());
        let mut directories = Vec::new();
        for item in staged {
            let target_host = self.host(&item.target);
            let wrote = Some(item.wrote.clone());
            match std::fs::symlink_metadata(&target_host) {
                Ok(meta) if meta.is_dir() => directories.push(item),
                Ok(_) => {
                    let backup = self.backup_of(&item.target, new_backups)?;
                    steps.push(Step::Replace {
                        path: item.target.clone(),
                        backup,
                        wrote,
                    });
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    steps.push(Step::Create {
                        path: item.target.clone(),
                        wrote,
                    })
                }
                Err(err) => return Err(Error::io("inspect", target_host, err)),
            }
        }
        for item in directories {
            self.move_aside(&item.target)?;
            steps.push(Step::Create {
                path: item.target.clone(),
                wrote: Some(item.wrote.clone()),
            });
        }
        Ok(steps)
    }

    /// Creates a directory with its metadata; its parent must exist. A directory already
    /// there (another package of the same run made it) is left as it is: `Ok(false)`.
    pub fn make_directory(&mut self, path: &Path, meta: &Metadata) -> Result<bool> {
        self.make_directories(&[(path, meta)]).map(|made| made > 0)
    }

    /// [`Run::make_directory`] of several paths, parents before children, with one journal
    /// flush for all: the number made. A path whose parent is made here is placed in it
    /// (that parent is a real directory of ours, no link to follow), since it cannot be
    /// resolved before it exists.
    pub fn make_directories(&mut self, items: &[(&Path, &Metadata)]) -> Result<usize> {
        // (the path as given, where it resolved, its metadata), for each directory to make.
        let mut made: Vec<(&Path, PathBuf, &Metadata)> = Vec::new();
        for &(path, meta) in items {
            let parent_made = path
                .parent()
                .zip(path.file_name())
                .and_then(|(parent, name)| {
                    made.iter()
                        .find(|(given, _, _)| *given == parent)
                        .map(|(_, target, _)| target.join(name))
                });
            let target = match parent_made {
                Some(target) => target,
                None => self.resolve(path)?,
            };
            let exists = std::fs::metadata(self.host(&target)).is_ok_and(|m| m.is_dir());
            if !exists && !made.iter().any(|(_, t, _)| *t == target) {
                made.push((path, target, meta));
            }
        }
        if made.is_empty() {
            return Ok(0);
        }
        let steps: Vec<Step> = made
            .iter()
            .map(|(_, target, _)| Step::MakeDirectory {
                path: target.clone(),
            })
            .collect();
        self.journal.record_batch(&steps)?;
        for (_, target, meta) in &made {
            let host = self.host(target);
            std::fs::create_dir(&host).map_err(|err| Error::io("create directory", &host, err))?;
            set_metadata(&host, meta, false)?;
        }
        Ok(made.len())
    }

    /// Moves whatever stands at `path` into the backup directory whole (a stray directory
    /// where a symlink or file belongs). Falls back to a sibling name when the backup
    /// directory is on another file system: a rename is the only move that cannot half-fail.
    pub fn move_aside(&mut self, path: &Path) -> Result<PathBuf> {
        let target = self.resolve(path)?;
        let mut backup = self.backup_path(&target);
        let backup_parent = backup.parent().unwrap_or(Path::new("/")).to_path_buf();
        std::fs::create_dir_all(self.host(&backup_parent))
            .map_err(|err| Error::io("create directory", self.host(&backup_parent), err))?;
        if same_filesystem(&self.host(&target), &self.host(&backup_parent)) != Some(true) {
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            backup = target.with_file_name(format!("{name}.rescue-{}", self.id));
        }
        self.journal.record(&Step::MoveAside {
            path: target.clone(),
            backup: backup.clone(),
        })?;
        std::fs::rename(self.host(&target), self.host(&backup))
            .map_err(|err| Error::io("move aside", self.host(&target), err))?;
        Ok(backup)
    }

    /// Sets owner, group, mode and mtime of an existing path, journalling the old ones.
    pub fn set_attributes(&mut self, path: &Path, meta: &Metadata) -> Result<()> {
        self.set_attributes_many(&[(path, meta)])
    }

    /// [`Run::set_attributes`] of several paths, with one journal flush for all.
    pub fn set_attributes_many(&mut self, items: &[(&Path, &Metadata)]) -> Result<()> {
        let mut changes = Vec::with_capacity(items.len());
        let mut steps = Vec::with_capacity(items.len());
        for &(path, meta) in items {
            let target = self.resolve(path)?;
            let host = self.host(&target);
            let old =
                std::fs::symlink_metadata(&host).map_err(|err| Error::io("inspect", &host, err))?;
            steps.push(Step::SetAttributes {
                path: target,
                old: attributes_of(&host, &old),
                new: Some(Written {
                    mode: meta.mode & 0o7777,
                    uid: meta.uid,
                    gid: meta.gid,
                    content: Content::Any,
                }),
            });
            changes.push((host, meta, old.file_type().is_symlink()));
        }
        if steps.is_empty() {
            return Ok(());
        }
        self.journal.record_batch(&steps)?;
        for (host, meta, is_symlink) in changes {
            set_metadata(&host, meta, is_symlink)?;
        }
        Ok(())
    }

    /// Marks the journal complete, then records its length beside it: a journal found
    /// shorter (or longer) later was cut or changed, not left short by a kill.
    pub fn finish(mut self) -> Result<String> {
        self.sync()?;
        self.journal.record(&Step::Finished)?;
        // Every change is made and journalled: a marker that cannot be written (a full disk)
        // must not turn that into a failure. The journal alone still says finished; only a
        // later cut of it would go unnoticed, as with runs of earlier versions.
        let _ = self.run_dir.set_marker(
            journal::FINISHED,
            format!("{}\n", self.journal.bytes()).as_bytes(),
        );
        Ok(self.id)
    }

    fn backup_path(&self, target: &Path) -> PathBuf {
        let relative = target.strip_prefix("/").unwrap_or(target);
        self.dir.join("files").join(relative)
    }

    /// Preserves what `target` holds at its backup path: a hard link (same inode, so every
    /// attribute is kept for free), or a copy when the backup lives on another file system.
    /// A backup this call makes is added to `made`.
    fn backup_of(&mut self, target: &Path, made: &mut Vec<PathBuf>) -> Result<PathBuf> {
        let backup = self.backup_path(target);
        let backup_host = self.host(&backup);
        if let Some(parent) = backup_host.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|err| Error::io("create directory", parent, err))?;
        }
        let target_host = self.host(target);
        match std::fs::hard_link(&target_host, &backup_host) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(libc::EXDEV) => {
                copy_preserving(&target_host, &backup_host)?;
            }
            // Made earlier in this run (a path replaced twice): the older backup is the one
            // undo needs.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => return Ok(backup),
            Err(err) => return Err(Error::io("back up", target_host, err)),
        }
        made.push(backup_host);
        Ok(backup)
    }

    fn sync(&self) -> Result<()> {
        let root =
            File::open(self.root.dir()).map_err(|err| Error::io("open", self.root.dir(), err))?;
        // SAFETY: the fd is owned by `root` for the duration of the call.
        if unsafe { libc::syncfs(root.as_raw_fd()) } != 0 {
            return Err(Error::io(
                "sync",
                self.root.dir(),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }
}

/// The name a run's `n`th temporary file gets in its target directory. Undo and the next
/// restore remove only names of this form.
pub fn temp_name(run: &str, n: u64) -> String {
    format!("{}{n}", temp_prefix(run))
}

pub fn temp_prefix(run: &str) -> String {
    format!(".rescue-{run}-")
}

/// Writes `content` to `temp` and returns its md5.
fn write_file(
    temp: &Path,
    content: &mut dyn Read,
    md5: Option<&str>,
    path: &Path,
    meta: &Metadata,
) -> Result<String> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(|err| Error::io("create", temp, err))?;
    let mut hasher = Md5::new();
    // 64 KiB: below musl's mmap threshold, so that a restore of thousands of files does not
    // map and unmap a buffer for each.
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = content
            .read(&mut buffer)
            .map_err(|err| Error::io("read archive member for", path, err))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n])
            .map_err(|err| Error::io("write", temp, err))?;
    }
    let actual = crate::dpkg::digest_hex(&hasher.finalize());
    if let Some(expected) = md5 {
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(Error::refused(
                path,
                format!("the archive's content has md5 {actual}, ROOT's database records {expected}: refused"),
            ));
        }
    }
    drop(file);
    set_metadata(temp, meta, false)?;
    Ok(actual)
}

/// A staged file as the journal records it, its md5 already known from writing it.
fn written_file(temp: &Path, md5: String) -> Result<Written> {
    let meta = std::fs::symlink_metadata(temp).map_err(|err| Error::io("inspect", temp, err))?;
    Ok(Written {
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        content: Content::File {
            size: meta.len(),
            md5,
        },
    })
}

fn describe(host: &Path) -> Result<Written> {
    Written::of(host).map_err(|err| Error::io("inspect", host, err))
}

/// Owner first: chown clears setuid, setgid and file capabilities, so the mode and the
/// capability come after it; times last, since nothing after them may move them.
fn set_metadata(host: &Path, meta: &Metadata, is_symlink: bool) -> Result<()> {
    std::os::unix::fs::lchown(host, Some(meta.uid), Some(meta.gid))
        .map_err(|err| Error::io("change owner of", host, err))?;
    if !is_symlink {
        std::fs::set_permissions(host, std::fs::Permissions::from_mode(meta.mode & 0o7777))
            .map_err(|err| Error::io("change mode of", host, err))?;
        let is_file = std::fs::symlink_metadata(host).is_ok_and(|m| m.is_file());
        if is_file {
            capability::write(host, meta.capability.as_ref())
                .map_err(|err| Error::io("set the capabilities of", host, err))?;
        }
    }
    let time = TimeSpec::new(meta.mtime, 0);
    utimensat(None, host, &time, &time, UtimensatFlags::NoFollowSymlink)
        .map_err(|err| Error::io("set times of", host, err.into()))
}

/// What undo needs to set `host` back: `meta` is its `lstat`, the capability is read here.
pub fn attributes_of(host: &Path, meta: &std::fs::Metadata) -> Attributes {
    Attributes {
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec(),
        capability: if meta.is_file() {
            xattr::get(host, capability::XATTR_NAME).ok().flatten()
        } else {
            None
        },
    }
}

/// Sets attributes recorded in the journal back (undo).
pub fn restore_attributes(host: &Path, old: &Attributes) -> Result<()> {
    let meta = std::fs::symlink_metadata(host).map_err(|err| Error::io("inspect", host, err))?;
    std::os::unix::fs::lchown(host, Some(old.uid), Some(old.gid))
        .map_err(|err| Error::io("change owner of", host, err))?;
    if !meta.file_type().is_symlink() {
        std::fs::set_permissions(host, std::fs::Permissions::from_mode(old.mode))
            .map_err(|err| Error::io("change mode of", host, err))?;
    }
    // The raw bytes, as they were: chown above has just cleared them.
    if meta.is_file() {
        let result = match &old.capability {
            Some(raw) => xattr::set(host, capability::XATTR_NAME, raw),
            None => xattr::remove(host, capability::XATTR_NAME),
        };
        result.map_err(|err| Error::io("set the capabilities of", host, err))?;
    }
    let mtime = TimeSpec::new(old.mtime, old.mtime_nsec);
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    utimensat(None, host, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
        .map_err(|err| Error::io("set times of", host, err.into()))
}

/// A full copy of a file or symlink with owner, mode, times and every extended attribute
/// (backups across file systems, and undo putting them back), as `cp -a` makes it. A copy
/// that fails part-way (a full disk) is removed: half a backup must never look like one.
pub fn copy_preserving(from: &Path, to: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(from).map_err(|err| Error::io("inspect", from, err))?;
    if !meta.file_type().is_symlink() && !meta.is_file() {
        return Err(Error::refused(
            from,
            "only files and symlinks are copied as backups",
        ));
    }
    let created = if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from).map_err(|err| Error::io("read link", from, err))?;
        std::os::unix::fs::symlink(target, to)
            .map_err(|err| Error::io("create symlink", to, err))?;
        None
    } else {
        let source = File::open(from).map_err(|err| Error::io("open", from, err))?;
        let out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(to)
            .map_err(|err| Error::io("create", to, err))?;
        Some((source, out))
    };
    // `to` is ours from here on: on any error it goes.
    let result = fill_copy(from, to, &meta, created);
    if result.is_err() {
        let _ = std::fs::remove_file(to);
    }
    result
}

fn fill_copy(
    from: &Path,
    to: &Path,
    meta: &std::fs::Metadata,
    files: Option<(File, File)>,
) -> Result<()> {
    if let Some((mut source, mut out)) = files {
        std::io::copy(&mut source, &mut out).map_err(|err| Error::io("copy to", to, err))?;
        out.sync_all().map_err(|err| Error::io("sync", to, err))?;
    }
    restore_attributes(to, &attributes_of(from, meta))?;
    // After the chown, which drops `security.capability`; setting an attribute leaves the
    // mtime just set alone.
    xattr::copy_all(from, to).map_err(|err| Error::io("copy extended attributes to", to, err))
}

fn same_filesystem(a: &Path, b: &Path) -> Option<bool> {
    let device = |path: &Path| std::fs::symlink_metadata(path).ok().map(|m| m.dev());
    let a_dev = device(a).or_else(|| a.parent().and_then(device))?;
    Some(a_dev == device(b)?)
}

/// `20261124T213005Z`, the run id: sortable, and readable in `ls /var/backups/rescue`.
pub fn utc_stamp(unix: i64) -> String {
    let t = Civil::from_secs(unix);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Unsupported;

    #[test]
    fn stamps_are_utc_civil_time() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(1_795_000_000), "20261118T110640Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
    }

    /// A backup of `ping` across file systems must still carry its capability, or undo puts
    /// back a `ping` that cannot open a raw socket.
    #[test]
    fn copies_keep_capabilities_and_extended_attributes() {
        use crate::sys::capability::{self, FileCaps};

        if !crate::testing::root_or_skip("owners and file capabilities need root") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("ping"), dir.path().join("backup"));
        std::fs::write(&from, b"\x7fELF pretend").unwrap();
        std::os::unix::fs::lchown(&from, Some(4242), Some(4343)).unwrap();
        std::fs::set_permissions(&from, std::fs::Permissions::from_mode(0o750)).unwrap();
        let caps = FileCaps::parse_text("cap_net_raw+ep").unwrap();
        if let Err(err) = capability::write(&from, Some(&caps)) {
            let detail = format!("{}: {err}", dir.path().display());
            crate::testing::unsupported(Unsupported::FileCapabilities, &detail);
            return;
        }
        xattr::set(&from, "user.test", b"kept \0 byte for byte").unwrap();
        let time = TimeSpec::new(981_173_106, 123_456_789);
        utimensat(None, &from, &time, &time, UtimensatFlags::NoFollowSymlink).unwrap();

        copy_preserving(&from, &to).unwrap();

        for name in [capability::XATTR_NAME, "user.test"] {
            assert_eq!(
                xattr::get(&to, name).unwrap(),
                xattr::get(&from, name).unwrap(),
                "{name}"
            );
        }
        assert_eq!(capability::read(&to).unwrap(), Some(caps));
        let (a, b) = (
            std::fs::symlink_metadata(&from).unwrap(),
            std::fs::symlink_metadata(&to).unwrap(),
        );
        assert_eq!(
            (b.mode(), b.uid(), b.gid(), b.mtime(), b.mtime_nsec()),
            (a.mode(), a.uid(), a.gid(), a.mtime(), a.mtime_nsec())
        );
        assert_eq!((b.mode() & 0o7777, b.uid()), (0o750, 4242));
    }
}
