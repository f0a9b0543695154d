//! The dpkg database under ROOT as data: `status` (plus the `updates/` journal), the
//! `info/*.list` and `info/*.md5sums` of each package, `diversions`, `statoverride`. Read
//! without any dpkg binary, as bytes (paths need not be UTF-8).
//!
//! What this module owns: parsing, and the naming rules (multiarch `pkg:arch.list`, which
//! diversion applies to whom). What it does not: touching the files the database describes;
//! that is [`crate::verify`]'s job.
//!
//! Damage is reported, not swallowed: a `status` that is not deb822 is an [`Error`] (nothing can
//! be verified against half a database); a bad line in one package's list or md5sums is an
//! [`Issue`] and the rest is still used.

pub mod diversions;
pub mod lists;
pub mod maintscript;
pub mod statoverride;
pub mod status;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::sys::root::{Last, Root};
use crate::{Error, Result};

pub use diversions::{Diversion, Diversions};
pub use lists::FileList;
pub use statoverride::{Owner, StatOverride, StatOverrides};
pub use status::{digest_hex, Conffile, ConffileHash, Package, State};

/// Where dpkg keeps its database inside a root.
pub const ADMINDIR: &str = "/var/lib/dpkg";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Odd but harmless (a duplicate `.list` line, CRLF): every check still ran.
    Warning,
    /// Some check could not be made (an md5sums line that cannot be parsed).
    Error,
}

/// A problem with one database file, with the file and line in `error`.
#[derive(Debug)]
pub struct Issue {
    pub severity: Severity,
    pub error: Error,
}

/// What the database says one package owns.
#[derive(Debug, Default)]
pub struct PackageFiles {
    /// `None` when the `.list` file does not exist (dpkg assumes no files).
    pub list: Option<FileList>,
    /// `None` when the package has no `.md5sums` (old or hand-built packages).
    pub md5sums: Option<HashMap<PathBuf, [u8; 16]>>,
    pub issues: Vec<Issue>,
}

#[derive(Debug)]
pub struct Database {
    /// The admin directory as the host sees it.
    pub admindir: PathBuf,
    pub packages: Vec<Package>,
    pub diversions: Diversions,
    pub statoverrides: StatOverrides,
    /// `info/format` says `1`: `Multi-Arch: same` packages use `pkg:arch.*` info names.
    pub multiarch_info_names: bool,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|err| Error::io("read", path, err))
}

/// Reads a file that may legitimately be absent.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::io("read", path, err)),
    }
}

impl Database {
    /// `ROOT/var/lib/dpkg`, resolved inside the root (a `/var` symlink is followed within it).
    pub fn default_admindir(root: &Root) -> PathBuf {
        root.resolve(Path::new(ADMINDIR), Last::Follow)
            .unwrap_or_else(|_| root.host_lexical(Path::new(ADMINDIR)))
    }

    /// Reads `status`, replays `updates/` over it, and reads `diversions` and `statoverride`.
    pub fn open(admindir: &Path) -> Result<Database> {
        let status_path = admindir.join("status");
        let mut packages = status::parse_status(&status_path, &read(&status_path)?)?;
        Self::replay_updates(admindir, &mut packages)?;
        let diversions_path = admindir.join("diversions");
        let diversions = match read_optional(&diversions_path)? {
            Some(bytes) => Diversions::parse(&diversions_path, &bytes)?,
            None => Diversions::default(),
        };
        let overrides_path = admindir.join("statoverride");
        let statoverrides = match read_optional(&overrides_path)? {
            Some(bytes) => StatOverrides::parse(&overrides_path, &bytes)?,
            None => StatOverrides::default(),
        };
        let format = read_optional(&admindir.join("info/format"))?.unwrap_or_default();
        Ok(Database {
            admindir: admindir.to_path_buf(),
            packages,
            diversions,
            statoverrides,
            multiarch_info_names: format.trim_ascii() == b"1",
        })
    }

    /// dpkg writes each status change to `updates/NNNN` before folding it into `status`; after
    /// a crash those journal entries are the truth, and dpkg replays them on open. So do we.
    fn replay_updates(admindir: &Path, packages: &mut Vec<Package>) -> Result<()> {
        let dir = admindir.join("updates");
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(Error::io("read directory", &dir, err)),
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .is_some_and(|name| name.as_bytes().iter().all(u8::is_ascii_digit))
            })
            .collect();
        names.sort();
        for path in names {
            for update in status::parse_status(&path, &read(&path)?)? {
                let same = |p: &Package| {
                    p.name == update.name
                        && (p.architecture == update.architecture || !update.multi_arch_same)
                };
                match packages.iter_mut().find(|p| same(p)) {
                    Some(slot) => *slot = update,
                    None => packages.push(update),
                }
            }
        }
        Ok(())
    }

    /// `info/NAME.EXT`, choosing `name:arch` for `Multi-Arch: same` packages when the database
    /// uses multiarch names, and falling back to the other spelling when that file is absent
    /// (a database converted by hand, or a half-finished conversion).
    pub fn info_path(&self, package: &Package, ext: &str) -> PathBuf {
        let plain = format!("{}.{ext}", package.name);
        let qualified = format!("{}:{}.{ext}", package.name, package.architecture);
        let (first, second) = if self.multiarch_info_names && package.multi_arch_same {
            (qualified, plain)
        } else {
            (plain, qualified)
        };
        let info = self.admindir.join("info");
        let first = info.join(first);
        if first.symlink_metadata().is_ok() || package.architecture.is_empty() {
            return first;
        }
        let second = info.join(second);
        if second.symlink_metadata().is_ok() {
            second
        } else {
            first
        }
    }

    /// The `.list` and `.md5sums` of a package. An unreadable file is an error; a missing one
    /// is `None`.
    pub fn files(&self, package: &Package) -> Result<PackageFiles> {
        let mut out = PackageFiles::default();
        if !package.state.has_files() {
            return Ok(out);
        }
        let list_path = self.info_path(package, "list");
        if let Some(bytes) = read_optional(&list_path)? {
            out.list = Some(lists::parse_list(&list_path, &bytes, &mut out.issues));
        }
        let sums_path = self.info_path(package, "md5sums");
        if let Some(bytes) = read_optional(&sums_path)? {
            out.md5sums = Some(lists::parse_md5sums(&sums_path, &bytes, &mut out.issues));
        }
        Ok(out)
    }

    /// Packages named on the command line (`pkg` or `pkg:arch`); the names that match nothing
    /// installed come back in the second list.
    pub fn select<'a>(&'a self, wanted: &[String]) -> (Vec<&'a Package>, Vec<String>) {
        if wanted.is_empty() {
            return (
                self.packages
                    .iter()
                    .filter(|p| p.state.has_files())
                    .collect(),
                Vec::new(),
            );
        }
        let mut chosen: Vec<&Package> = Vec::new();
        let mut unknown = Vec::new();
        for name in wanted {
            let before = chosen.len();
            for package in &self.packages {
                if package.state.has_files()
                    && package.matches(name)
                    && !chosen.iter().any(|c| std::ptr::eq(*c, package))
                {
                    chosen.push(package);
                }
            }
            if chosen.len() == before {
                unknown.push(name.clone());
            }
        }
        (chosen, unknown)
    }
}

/// A path from the database as bytes, for callers that print it raw (`--format dpkg`).
pub fn path_bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// The inverse of [`path_bytes`].
pub fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}
