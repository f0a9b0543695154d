//! The dpkg database under ROOT as data: `status` (plus the `updates/` journal), the
//! `info/*.list` and `info/*.md5sums` of each package, `diversions`, `statoverride`. Read
//! without any dpkg binary, as bytes (paths need not be UTF-8).
//!
//! What this module owns: parsing, and the naming rules (multiarch `pkg:arch.list`, which
//! diversion applies to whom). What it does not: touching the files the database describes;
//! that is [`crate::verify`]'s job.
//!
//! Every file is read inside ROOT ([`Database::open_in`]: resolved there, so an absolute
//! symlink at `info` or `status` leads to ROOT's file, never the host's) or in the host
//! directory `--admindir` names ([`Database::open`]), and only when it is a regular file
//! ([`crate::sys::input`]): a FIFO planted at `status` is an error, not a hang. Lists,
//! md5sums, diversions and statoverride are read line by line, no line longer than a path can
//! be: memory follows the number of paths, never the length of a line.
//!
//! Damage is reported, not swallowed: a `status` that is not deb822 is an [`Error`] (nothing can
//! be verified against half a database); a bad line in one package's list or md5sums is an
//! [`Issue`] and the rest is still used.

pub mod diversions;
pub mod lists;
pub mod maintscript;
pub mod owners;
pub mod statoverride;
pub mod status;

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::sys::input;
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

/// What [`Database::listed_files`] reads of one package: its list, and for each listed path
/// the digest and conffile entry the database gives it, matched the way `Path`'s `==` matches
/// (`usr//a` in `.md5sums` is `/usr/a` of the list).
#[derive(Debug, Default)]
pub struct ListedFiles<'p> {
    /// `None` when the `.list` file does not exist (dpkg assumes no files).
    pub list: Option<FileList>,
    /// For each path of `list`, in order: its `.md5sums` digest (the last line naming it).
    pub digests: Vec<Option<[u8; 16]>>,
    /// For each path of `list`, in order: the package's `Conffiles` entry for it (the last).
    pub conffiles: Vec<Option<&'p ConffileHash>>,
    pub issues: Vec<Issue>,
}

#[derive(Debug)]
pub struct Database {
    /// The admin directory as the host sees it, for messages (`ROOT/var/lib/dpkg`, unresolved).
    pub admindir: PathBuf,
    place: Place,
    pub packages: Vec<Package>,
    pub diversions: Diversions,
    pub statoverrides: StatOverrides,
    /// `info/format` says `1`: `Multi-Arch: same` packages use `pkg:arch.*` info names.
    pub multiarch_info_names: bool,
}

/// Where the database's files are opened: inside ROOT, each one resolved there (an absolute
/// symlink at `info` leads to ROOT's directory of that name, never the host's), or in an
/// `--admindir` the operator named on the host, which the kernel resolves. Either way only
/// regular files are opened ([`crate::sys::input`]).
#[derive(Clone, Debug)]
enum Place {
    InRoot { root: Root, dir: PathBuf },
    Host(PathBuf),
}

impl Place {
    /// The file as messages name it.
    fn shown(&self, relative: &Path) -> PathBuf {
        match self {
            Place::InRoot { root, dir } => root.host_lexical(&dir.join(relative)),
            Place::Host(dir) => dir.join(relative),
        }
    }

    fn open(&self, relative: &Path) -> std::io::Result<File> {
        match self {
            Place::InRoot { root, dir } => root.open_regular(&dir.join(relative)),
            // dpkg never puts a symlink in its database: one there is refused, not followed.
            Place::Host(dir) => input::open_regular(&dir.join(relative), Last::NoFollow),
        }
    }

    /// The host path of a directory (or file) of the database, resolved when inside ROOT.
    fn host(&self, relative: &Path) -> std::io::Result<PathBuf> {
        match self {
            Place::InRoot { root, dir } => root.resolve(&dir.join(relative), Last::Follow),
            Place::Host(dir) => Ok(dir.join(relative)),
        }
    }

    fn exists(&self, relative: &Path) -> bool {
        self.host(relative)
            .and_then(|host| host.symlink_metadata())
            .is_ok()
    }

    /// A file that must be there, whole (`status`, `updates/*`). These grow with the number
    /// of packages, not with any one path, so they are read at once.
    fn read(&self, relative: &Path) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open(relative)
            .and_then(|mut file| file.read_to_end(&mut bytes))
            .map_err(|err| Error::io("read", self.shown(relative), err))?;
        Ok(bytes)
    }

    /// A file that may legitimately be absent, opened for a streaming reader.
    fn open_optional(&self, relative: &Path) -> Result<Option<File>> {
        match self.open(relative) {
            Ok(file) => Ok(Some(file)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(Error::io("read", self.shown(relative), err)),
        }
    }
}

impl Database {
    /// `ROOT/var/lib/dpkg` as the host sees it, resolved inside the root (a `/var` symlink is
    /// followed within it). For messages: to read ROOT's database use [`Database::open_in`],
    /// which resolves every file inside ROOT (this directory's own entries included).
    pub fn default_admindir(root: &Root) -> PathBuf {
        root.resolve(Path::new(ADMINDIR), Last::Follow)
            .unwrap_or_else(|_| root.host_lexical(Path::new(ADMINDIR)))
    }

    /// ROOT's own database, every file of it resolved inside ROOT.
    pub fn open_in(root: &Root) -> Result<Database> {
        Self::open_at(Place::InRoot {
            root: root.clone(),
            dir: PathBuf::from(ADMINDIR),
        })
    }

    /// The database in `admindir`, a path on this host (`--admindir`).
    pub fn open(admindir: &Path) -> Result<Database> {
        Self::open_at(Place::Host(admindir.to_path_buf()))
    }

    /// Reads `status`, replays `updates/` over it, and reads `diversions` and `statoverride`.
    fn open_at(place: Place) -> Result<Database> {
        let status = Path::new("status");
        let mut packages = status::parse_status(&place.shown(status), &place.read(status)?)?;
        Self::replay_updates(&place, &mut packages)?;
        let diversions_path = Path::new("diversions");
        let diversions = match place.open_optional(diversions_path)? {
            Some(file) => Diversions::read(&place.shown(diversions_path), file)?,
            None => Diversions::default(),
        };
        let overrides_path = Path::new("statoverride");
        let statoverrides = match place.open_optional(overrides_path)? {
            Some(file) => StatOverrides::read(&place.shown(overrides_path), file)?,
            None => StatOverrides::default(),
        };
        let format_path = Path::new("info/format");
        let format = match place.open_optional(format_path)? {
            Some(file) => input::read_at_most(file, 64)
                .map_err(|err| Error::io("read", place.shown(format_path), err))?,
            None => Vec::new(),
        };
        Ok(Database {
            admindir: place.shown(Path::new("")),
            place,
            packages,
            diversions,
            statoverrides,
            multiarch_info_names: format.trim_ascii() == b"1",
        })
    }

    /// dpkg writes each status change to `updates/NNNN` before folding it into `status`; after
    /// a crash those journal entries are the truth, and dpkg replays them on open. So do we.
    fn replay_updates(place: &Place, packages: &mut Vec<Package>) -> Result<()> {
        let updates = Path::new("updates");
        let entries = match place.host(updates).and_then(std::fs::read_dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(Error::io("read directory", place.shown(updates), err)),
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok())
            .map(|entry| updates.join(entry.file_name()))
            .filter(|path| {
                path.file_name()
                    .is_some_and(|name| name.as_bytes().iter().all(u8::is_ascii_digit))
            })
            .collect();
        names.sort();
        for path in names {
            for update in status::parse_status(&place.shown(&path), &place.read(&path)?)? {
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
    /// (a database converted by hand, or a half-finished conversion). Relative to the admin
    /// directory.
    fn info_name(&self, package: &Package, ext: &str) -> PathBuf {
        let plain = format!("{}.{ext}", package.name);
        let qualified = format!("{}:{}.{ext}", package.name, package.architecture);
        let (first, second) = if self.multiarch_info_names && package.multi_arch_same {
            (qualified, plain)
        } else {
            (plain, qualified)
        };
        let info = Path::new("info");
        let first = info.join(first);
        if package.architecture.is_empty() || self.place.exists(&first) {
            return first;
        }
        let second = info.join(second);
        if self.place.exists(&second) {
            second
        } else {
            first
        }
    }

    /// `info/NAME.EXT` as messages name it.
    pub fn info_path(&self, package: &Package, ext: &str) -> PathBuf {
        self.place.shown(&self.info_name(package, ext))
    }

    /// `info/NAME.EXT` opened for reading (only if it is a regular file), with the path
    /// messages name it by; `None` when it does not exist.
    pub fn open_info(&self, package: &Package, ext: &str) -> Result<Option<(PathBuf, File)>> {
        let name = self.info_name(package, ext);
        Ok(self
            .place
            .open_optional(&name)?
            .map(|file| (self.place.shown(&name), file)))
    }

    /// The `.list` and `.md5sums` of a package. An unreadable file is an error; a missing one
    /// is `None`. Both are read line by line, no line longer than a path can be: memory
    /// follows the number of paths, never the length of one line.
    pub fn files(&self, package: &Package) -> Result<PackageFiles> {
        let mut out = PackageFiles::default();
        if !package.state.has_files() {
            return Ok(out);
        }
        if let Some((path, file)) = self.open_info(package, "list")? {
            out.list = Some(lists::read_list(&path, file, &mut out.issues)?);
        }
        if let Some((path, file)) = self.open_info(package, "md5sums")? {
            out.md5sums = Some(lists::read_md5sums(&path, file, &mut out.issues)?);
        }
        Ok(out)
    }

    /// Whether [`Database::files`] could read the package's `.list` and `.md5sums`: each is
    /// opened and its first byte read, nothing parsed. For the packages no source has an
    /// archive of: their paths are not needed, but a file that cannot be read is still named.
    pub fn files_readable(&self, package: &Package) -> Result<()> {
        if !package.state.has_files() {
            return Ok(());
        }
        for ext in ["list", "md5sums"] {
            if let Some((path, mut file)) = self.open_info(package, ext)? {
                file.read(&mut [0u8; 1])
                    .map_err(|err| Error::io("read", &path, err))?;
            }
        }
        Ok(())
    }

    /// [`Database::files`] made for checking every path: the `.md5sums` is streamed against an
    /// index of the list instead of becoming a map of its own, and paths are matched by bytes
    /// hashed at once ([`path_key`]) where `Path`'s hash walks them component by component.
    /// Same files read, same issues, same matches.
    pub fn listed_files<'p>(&self, package: &'p Package) -> Result<ListedFiles<'p>> {
        let mut out = ListedFiles::default();
        if !package.state.has_files() {
            return Ok(out);
        }
        if let Some((path, file)) = self.open_info(package, "list")? {
            out.list = Some(lists::read_list(&path, file, &mut out.issues)?);
        }
        let paths = out.list.as_ref().map_or(&[][..], |list| &list.paths[..]);
        let index = PathIndex::new(paths);
        let mut digests = vec![None; paths.len()];
        if let Some((path, file)) = self.open_info(package, "md5sums")? {
            lists::for_each_md5sum(&path, file, &mut out.issues, |path, digest| {
                index.each(&key_of_bytes(path), |at| digests[at] = Some(digest));
            })?;
        }
        let mut conffiles = vec![None; paths.len()];
        for conffile in &package.conffiles {
            index.each(&path_key(&conffile.path), |at| {
                conffiles[at] = Some(&conffile.hash)
            });
        }
        drop(index);
        out.digests = digests;
        out.conffiles = conffiles;
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

/// A path as bytes that are equal exactly when the paths are (`Path`'s `==` compares
/// components: `/a//b/` is `/a/b`), for maps that hash bytes at once: `Path`'s own hash walks
/// it component by component, which was the largest cost of reading the database. Borrowed
/// when the path is already in its one spelling, as database paths are.
pub fn path_key(path: &Path) -> Cow<'_, [u8]> {
    let bytes = path.as_os_str().as_bytes();
    if is_canonical(bytes) {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    for component in path.components() {
        if !out.is_empty() && out.last() != Some(&b'/') {
            out.push(b'/');
        }
        match component {
            std::path::Component::RootDir => out.push(b'/'),
            other => out.extend_from_slice(other.as_os_str().as_bytes()),
        }
    }
    Cow::Owned(out)
}

fn key_of_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    path_key(Path::new(OsStr::from_bytes(bytes)))
}

/// Whether `bytes` are the spelling [`path_key`] rebuilds from the components: no empty or
/// `.` component past the first, no trailing slash.
fn is_canonical(bytes: &[u8]) -> bool {
    if bytes.len() <= 1 {
        return true;
    }
    if bytes.ends_with(b"/") || bytes.ends_with(b"/.") {
        return false;
    }
    // One pass: after each slash, neither another slash nor a `.` component.
    let mut at = 0;
    while let Some(slash) = bytes[at..].iter().position(|&b| b == b'/') {
        let next = at + slash + 1;
        match bytes.get(next..next + 2) {
            Some([b'/', _]) | Some([b'.', b'/']) => return false,
            _ => {}
        }
        at = next;
    }
    true
}

/// The positions of paths by [`path_key`]; a path spelt twice (the list drops only repeats
/// of the same bytes) keeps every position.
struct PathIndex<'a> {
    first: HashMap<Cow<'a, [u8]>, usize>,
    /// Further positions of a key, by its first: rare, and empty when the list is sound.
    more: HashMap<usize, Vec<usize>>,
}

impl<'a> PathIndex<'a> {
    fn new(paths: &'a [PathBuf]) -> PathIndex<'a> {
        let mut first = HashMap::with_capacity(paths.len());
        let mut more: HashMap<usize, Vec<usize>> = HashMap::new();
        for (at, path) in paths.iter().enumerate() {
            match first.entry(path_key(path)) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(at);
                }
                std::collections::hash_map::Entry::Occupied(slot) => {
                    more.entry(*slot.get()).or_default().push(at);
                }
            }
        }
        PathIndex { first, more }
    }

    fn each(&self, key: &[u8], mut found: impl FnMut(usize)) {
        let Some(&at) = self.first.get(key) else {
            return;
        };
        found(at);
        for &other in self.more.get(&at).into_iter().flatten() {
            found(other);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_keys_are_equal_exactly_when_paths_are() {
        let spellings = ["/a/b", "/a//b", "/a/./b", "/a/b/", "/a/b/.", "//a/b"];
        for spelling in spellings {
            assert_eq!(
                path_key(Path::new(spelling)).as_ref(),
                b"/a/b",
                "{spelling}"
            );
        }
        for other in ["/a/b/..", "/a/.b", "/a/b.", "/", "/.a/b"] {
            let key = path_key(Path::new(other));
            assert_eq!(key.as_ref(), other.as_bytes(), "{other}");
            assert!(matches!(key, Cow::Borrowed(_)), "{other}");
        }
    }
}
