//! Files deleted while processes still hold them, as `lsof +L1` finds them: a descriptor, a
//! memory mapping or the executable whose name ends in ` (deleted)` and whose link count is
//! zero. The scan is [`open_files::scan`]'s (time limits and all); this module only picks the
//! deleted regular files out of it, one entry per file however many processes hold it (by
//! device and inode), and opens them again through `/proc`.
//!
//! A mapped file is opened through `/proc/PID/map_files/START-END`, which gives the whole
//! file even when only a page of it is mapped (the kernel wants CAP_SYS_ADMIN for it); a
//! descriptor through `/proc/PID/fd/N`, the executable through `/proc/PID/exe`. Kernel-made
//! files that only look deleted (`memfd:`, SYSV shared memory, a shared `/dev/zero` mapping)
//! are not files anyone could restore and are left out.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};

use crate::sys::capability::{self, FileCaps};
use crate::sys::open_files::{self, FileId, Kind, Process, Reference};
use crate::sys::procfs;
use crate::sys::root::{Last, Root};
use crate::{Error, Result};

/// One process holding a deleted file, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub command: String,
    /// `Exe`, `Fd(N)` or `Mmap`.
    pub kind: Kind,
}

/// A deleted file some processes still hold.
#[derive(Debug, Clone)]
pub struct DeletedFile {
    pub file: FileId,
    /// The name it had, as the kernel shows it to us, without ` (deleted)`.
    pub path: PathBuf,
    pub holders: Vec<Holder>,
    /// The `/proc` paths it can be opened by, in the order they are tried.
    pub sources: Vec<PathBuf>,
}

/// A deleted file opened again, with what `fstat` says of it.
pub struct Opened {
    pub file: File,
    pub meta: std::fs::Metadata,
    /// The `/proc` path it was opened by.
    pub via: PathBuf,
}

/// Every deleted regular file held by a process other than this one, by name. Processes that
/// could not be read are returned beside them (they may hold more).
pub fn find(limit: Duration) -> Result<(Vec<DeletedFile>, Vec<Process>)> {
    let processes = open_files::scan(limit)?;
    let files = collect(&processes, limit);
    let troubled = processes
        .into_iter()
        .filter(|process| {
            process
                .trouble
                .as_ref()
                .is_some_and(|trouble| *trouble != open_files::Trouble::Vanished)
        })
        .collect();
    Ok((files, troubled))
}

/// The deleted files among the processes' references, merged by file.
fn collect(processes: &[Process], limit: Duration) -> Vec<DeletedFile> {
    let mut by_file: BTreeMap<FileId, DeletedFile> = BTreeMap::new();
    for process in processes {
        let mut ranges: Option<Vec<(String, FileId)>> = None;
        for reference in &process.references {
            let Some(file) = candidate(reference) else {
                continue;
            };
            let entry = by_file.entry(file).or_insert_with(|| DeletedFile {
                file,
                path: open_files::strip_deleted(&reference.name).to_path_buf(),
                holders: Vec::new(),
                sources: Vec::new(),
            });
            entry.holders.push(Holder {
                pid: process.pid,
                command: process.command.clone(),
                kind: reference.kind,
            });
            match reference.kind {
                Kind::Fd(fd) => entry
                    .sources
                    .push(procfs::pid_path(process.pid, &format!("fd/{fd}"))),
                Kind::Exe => entry.sources.push(procfs::pid_path(process.pid, "exe")),
                _ => {
                    let ranges = ranges.get_or_insert_with(|| mapped_ranges(process.pid, limit));
                    let range = ranges.iter().find(|(_, id)| *id == file);
                    if let Some((range, _)) = range {
                        let source = format!("map_files/{range}");
                        entry.sources.push(procfs::pid_path(process.pid, &source));
                    }
                }
            }
        }
    }
    let mut files: Vec<DeletedFile> = by_file
        .into_values()
        .filter(|deleted| is_unlinked_regular(&deleted.sources))
        .collect();
    for deleted in &mut files {
        // Descriptors and executables open without privilege; map_files last.
        deleted.sources.sort_by_key(|source| {
            source
                .parent()
                .is_some_and(|parent| parent.ends_with("map_files"))
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path).then(a.file.cmp(&b.file)));
    files
}

/// The file a reference names, when it is a deleted file worth salvaging by its name.
fn candidate(reference: &Reference) -> Option<FileId> {
    if !matches!(reference.kind, Kind::Exe | Kind::Fd(_) | Kind::Mmap) || !reference.deleted() {
        return None;
    }
    let name = reference.name.as_os_str().as_bytes();
    let kernel_made = [&b"/memfd:"[..], b"/SYSV", b"/dev/zero", b"/["];
    if !name.starts_with(b"/") || kernel_made.iter().any(|prefix| name.starts_with(prefix)) {
        return None;
    }
    reference.file
}

/// Whether the file behind the first source that can be stat'ed is a regular file with no
/// name left (`lsof +L1`); a file none of whose sources answers is kept, to be reported.
fn is_unlinked_regular(sources: &[PathBuf]) -> bool {
    match sources
        .iter()
        .find_map(|source| std::fs::metadata(source).ok())
    {
        Some(meta) => meta.is_file() && meta.nlink() == 0,
        None => !sources.is_empty(),
    }
}

/// `START-END` of each file-backed mapping of a process, as `map_files/` names its entries,
/// with the file it maps. Read with a time limit: `maps` waits for the target's mmap lock.
fn mapped_ranges(pid: u32, limit: Duration) -> Vec<(String, FileId)> {
    let Ok(Some(maps)) = procfs::read_with_timeout(procfs::pid_path(pid, "maps"), limit) else {
        return Vec::new();
    };
    maps.split(|&byte| byte == b'\n')
        .filter_map(|line| {
            let reference = open_files::parse_maps(line).into_iter().next()?;
            let range = line.split(|&byte| byte == b' ').next()?;
            Some((String::from_utf8(range.to_vec()).ok()?, reference.file?))
        })
        .collect()
}

impl DeletedFile {
    /// Opens the file through the first source that still leads to it.
    pub fn open(&self) -> Result<Opened> {
        let mut last = None;
        for source in &self.sources {
            match File::open(source).and_then(|file| Ok((file.metadata()?, file))) {
                Ok((meta, file)) if FileId::of(&meta) == self.file && meta.is_file() => {
                    return Ok(Opened {
                        file,
                        meta,
                        via: source.clone(),
                    })
                }
                Ok(_) => last = Some(std::io::Error::from_raw_os_error(libc::ESTALE)),
                Err(err) => last = Some(err),
            }
        }
        let err = last.unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::ENOENT));
        if err.raw_os_error() == Some(libc::EPERM) {
            return Err(Error::refused(
                &self.path,
                "only mapped, and the kernel lets only root (CAP_SYS_ADMIN) open a mapping's file",
            ));
        }
        Err(Error::io("open", &self.path, err))
    }
}

impl Opened {
    /// The md5 of the whole content, as lowercase hex.
    pub fn md5(&mut self) -> Result<String> {
        let mut hasher = Md5::new();
        self.rewind()?;
        let mut buffer = vec![0u8; 1 << 17];
        loop {
            let n = self
                .file
                .read(&mut buffer)
                .map_err(|err| Error::io("read", &self.via, err))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        self.rewind()?;
        Ok(crate::dpkg::digest_hex(&hasher.finalize()))
    }

    pub fn rewind(&mut self) -> Result<()> {
        self.file
            .seek(SeekFrom::Start(0))
            .map(|_| ())
            .map_err(|err| Error::io("seek", &self.via, err))
    }

    /// Its file capabilities (`security.capability`), read from the open file: the deleted
    /// file has no path to read them by.
    pub fn capability(&self) -> Option<FileCaps> {
        let fd = self.file.as_raw_fd();
        let name = c"security.capability";
        // SAFETY: the fd is open for the call; buffer and size come from `sized_read`.
        let bytes = crate::sys::xattr::sized_read(|buf, len| unsafe {
            libc::fgetxattr(fd, name.as_ptr(), buf.cast(), len)
        })
        .ok()?;
        FileCaps::from_xattr(&bytes).ok()
    }
}

/// What [`save_copy`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Written,
    /// The same content was already there.
    AlreadyThere,
}

/// Writes the file to `inside` under `dest` (a directory the operator named, treated as a root
/// so no symlink in it leads the write elsewhere), with its mode, owner and mtime. Missing
/// directories are made; a different file already there is refused, never replaced.
pub fn save_copy(opened: &mut Opened, dest: &Root, inside: &Path) -> Result<Saved> {
    let resolved = dest
        .resolve_inside(inside, Last::NoFollow)
        .map_err(|err| Error::io("resolve", dest.host_lexical(inside), err))?;
    let target = dest.host_lexical(&resolved);
    let parent = target.parent().unwrap_or(dest.dir()).to_path_buf();
    std::fs::create_dir_all(&parent).map_err(|err| Error::io("create directory", &parent, err))?;
    if std::fs::symlink_metadata(&target).is_ok() {
        return already_there(opened, &target);
    }
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned());
    let temp = parent.join(format!(
        ".rescue-salvage-{}-{}",
        std::process::id(),
        name.unwrap_or_default()
    ));
    let result = write_temp(opened, &temp).and_then(|()| {
        std::fs::hard_link(&temp, &target).map_err(|err| Error::io("link", &target, err))
    });
    let _ = std::fs::remove_file(&temp);
    result.map(|()| Saved::Written)
}

fn already_there(opened: &mut Opened, target: &Path) -> Result<Saved> {
    let there = crate::sys::input::open_regular(target, Last::NoFollow)
        .map_err(|err| Error::io("open", target, err))?;
    let mut there = Opened {
        meta: there
            .metadata()
            .map_err(|err| Error::io("inspect", target, err))?,
        file: there,
        via: target.to_path_buf(),
    };
    if there.md5()? == opened.md5()? {
        Ok(Saved::AlreadyThere)
    } else {
        Err(Error::refused(target, "a different file is already there"))
    }
}

fn write_temp(opened: &mut Opened, temp: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(|err| Error::io("create", temp, err))?;
    opened.rewind()?;
    std::io::copy(&mut opened.file, &mut out).map_err(|err| Error::io("copy to", temp, err))?;
    let meta = &opened.meta;
    std::os::unix::fs::fchown(&out, Some(meta.uid()), Some(meta.gid()))
        .map_err(|err| Error::io("change owner of", temp, err))?;
    out.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(|err| Error::io("change mode of", temp, err))?;
    let time = std::time::UNIX_EPOCH + Duration::from_secs(meta.mtime().max(0) as u64);
    out.set_modified(time)
        .map_err(|err| Error::io("set times of", temp, err))?;
    if let Some(caps) = opened.capability() {
        capability::write(temp, Some(&caps))
            .map_err(|err| Error::io("set the capabilities of", temp, err))?;
    }
    out.sync_all().map_err(|err| Error::io("sync", temp, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(kind: Kind, name: &str) -> Reference {
        Reference {
            kind,
            file: Some(FileId {
                device: (8, 1),
                inode: 7,
            }),
            name: PathBuf::from(name),
            writing: false,
        }
    }

    #[test]
    fn only_deleted_named_files_are_candidates() {
        assert!(candidate(&reference(Kind::Mmap, "/usr/lib/libc.so.6 (deleted)")).is_some());
        assert!(candidate(&reference(Kind::Fd(3), "/var/log/x (deleted)")).is_some());
        assert!(candidate(&reference(Kind::Exe, "/usr/bin/x (deleted)")).is_some());
        for name in [
            "/usr/lib/libc.so.6",
            "/memfd:wayland (deleted)",
            "/SYSV00000000 (deleted)",
            "/dev/zero (deleted)",
            "anon_inode:[eventfd]",
        ] {
            assert!(candidate(&reference(Kind::Mmap, name)).is_none(), "{name}");
        }
        assert!(candidate(&reference(Kind::Cwd, "/tmp/gone (deleted)")).is_none());
    }

    #[test]
    fn a_file_held_by_two_processes_is_listed_once_with_both() {
        let process = |pid, kind| Process {
            pid,
            uid: Some(0),
            command: format!("p{pid}"),
            references: vec![reference(kind, "/no/such/file (deleted)")],
            trouble: None,
        };
        let files = collect(
            // pids above the kernel's limit: their /proc paths never exist.
            &[
                process(4_194_305, Kind::Fd(4)),
                process(4_194_306, Kind::Exe),
            ],
            Duration::from_millis(100),
        );
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, Path::new("/no/such/file"));
        assert_eq!(files[0].holders.len(), 2);
        assert_eq!(files[0].sources.len(), 2);
    }
}
