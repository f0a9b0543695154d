//! Deep checks: what a package's `.deb` says each path must be (type, mode, owner, group, size,
//! symlink target, device numbers, mtime — the rpm -V attribute set `dpkg --verify` never
//! fills), against what stands on disk. The same rules serve `restore`'s planner, so what
//! verify flags is exactly what restore fixes:
//!
//! - a path diverted away from the package (`diversions`) is checked at its diverted place;
//! - a path under a broken merged-/usr alias is checked at its place under `/usr`;
//! - owner and group come from the tar header's names resolved in ROOT's own accounts, the
//!   header's numbers when a name is unknown there (what dpkg does when it unpacks), and
//!   `statoverride` wins over both;
//! - a directory entry where a symlink to a directory stands is fine (dpkg's rule), and
//!   directories are checked for mode and owner only.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::attrs::{compare, Attr, Check, Expected, FileKind};
use super::{AliasProblem, Difference, Finding, Kind};
use crate::deb::{DataEntry, Deb, EntryKind};
use crate::dpkg::{Database, Package, PackageFiles};
use crate::sys::accounts::Accounts;
use crate::sys::root::{Last, Root};
use crate::Result;

pub struct Deep<'a> {
    root: &'a Root,
    db: &'a Database,
    accounts: Accounts,
    aliases: &'a [AliasProblem],
}

impl<'a> Deep<'a> {
    pub fn new(root: &'a Root, db: &'a Database, aliases: &'a [AliasProblem]) -> Deep<'a> {
        Deep {
            root,
            db,
            accounts: Accounts::load(root.dir()),
            aliases,
        }
    }

    /// A merged-/usr alias verify found broken: restore recreates it, deep checks skip it.
    pub fn is_broken_alias(&self, path: &Path) -> bool {
        self.aliases.iter().any(|alias| alias.alias == path)
    }

    /// Where `package`'s entry lives: at the diverted path if another package diverted it, and
    /// under `/usr` when its first component is a broken merged-/usr alias.
    pub fn destination(&self, package: &str, entry: &Path) -> PathBuf {
        let path = match self.db.diversions.diverted(entry, package) {
            Some(diversion) => diversion.to.clone(),
            None => entry.to_path_buf(),
        };
        for alias in self.aliases {
            if let Ok(rest) = path.strip_prefix(&alias.alias) {
                return Path::new("/").join(&alias.target).join(rest);
            }
        }
        path
    }

    /// What the entry must be once unpacked at `dest`.
    pub fn expected(&self, entry: &DataEntry, dest: &Path) -> Expected {
        let mut expected = Expected {
            kind: match entry.kind {
                EntryKind::File | EntryKind::HardLink => FileKind::Regular,
                EntryKind::Directory => FileKind::Directory,
                EntryKind::Symlink => FileKind::Symlink,
                EntryKind::CharDevice => FileKind::CharDevice,
                EntryKind::BlockDevice => FileKind::BlockDevice,
                EntryKind::Fifo => FileKind::Fifo,
            },
            mode: entry.mode,
            uid: Some(
                entry
                    .user
                    .as_deref()
                    .and_then(|u| self.accounts.uid(u))
                    .unwrap_or(entry.uid),
            ),
            gid: Some(
                entry
                    .group
                    .as_deref()
                    .and_then(|g| self.accounts.gid(g))
                    .unwrap_or(entry.gid),
            ),
            size: (entry.kind == EntryKind::File).then_some(entry.size),
            link_target: entry
                .link_target
                .clone()
                .filter(|_| entry.kind == EntryKind::Symlink),
            rdev: entry
                .device
                .map(|(major, minor)| libc::makedev(major, minor)),
            mtime: (entry.kind == EntryKind::File).then_some(entry.mtime),
        };
        if let Some(over) = self
            .db
            .statoverrides
            .get(dest)
            .or_else(|| self.db.statoverrides.get(&entry.path))
        {
            expected.mode = over.mode;
            expected.uid = over.uid(&self.accounts).or(expected.uid);
            expected.gid = over.gid(&self.accounts).or(expected.gid);
        }
        expected
    }

    /// Streams `deb` and merges the attribute results into `findings`: a path verify already
    /// flagged gets its other columns filled; a path whose attributes alone are wrong becomes a
    /// [`Kind::Attributes`] finding. Missing paths are verify's to report (its database
    /// checks see them), so they are not repeated here.
    pub fn check_package(
        &self,
        package: &Package,
        files: &PackageFiles,
        deb: &Deb,
        findings: &mut Vec<Finding>,
    ) -> Result<()> {
        let display = package.display_name();
        let mut index: HashMap<PathBuf, usize> = findings
            .iter()
            .enumerate()
            .filter(|(_, f)| f.package == display)
            .map(|(i, f)| (f.listed.clone(), i))
            .collect();
        let conffiles: Vec<&Path> = package.conffiles.iter().map(|c| c.path.as_path()).collect();
        let owned = owned_paths(files);
        deb.for_each_entry(|entry, _| {
            if !owned.contains(entry.path.as_path()) || self.is_broken_alias(&entry.path) {
                return Ok(());
            }
            let dest = self.destination(&package.name, &entry.path);
            let Ok(host) = self.root.resolve(&dest, Last::NoFollow) else {
                return Ok(());
            };
            let Ok(disk) = std::fs::symlink_metadata(&host) else {
                return Ok(());
            };
            let expected = self.expected(entry, &dest);
            if entry.kind == EntryKind::Directory {
                if disk.file_type().is_symlink()
                    && std::fs::metadata(&host).is_ok_and(|m| m.is_dir())
                {
                    return Ok(());
                }
                let attrs = compare(&expected, &disk, None);
                if attrs.any_failed() && !index.contains_key(&entry.path) {
                    let differences = self.differences(&expected, &disk, None, &attrs);
                    findings.push(self.finding(package, entry, dest, attrs, differences, false));
                    index.insert(entry.path.clone(), findings.len() - 1);
                }
                return Ok(());
            }
            let link = disk
                .file_type()
                .is_symlink()
                .then(|| std::fs::read_link(&host).ok())
                .flatten();
            let mut attrs = compare(&expected, &disk, link.as_deref());
            if entry.kind == EntryKind::HardLink {
                attrs.set(Attr::Size, Check::Unchecked);
                attrs.set(Attr::Mtime, Check::Unchecked);
            }
            match index.get(&entry.path) {
                Some(&at) => {
                    let finding = &mut findings[at];
                    if matches!(finding.kind, Kind::Missing { .. }) {
                        return Ok(());
                    }
                    for attr in Attr::ALL {
                        if attr != Attr::Md5 && finding.attrs.get(attr) == Check::Unchecked {
                            finding.attrs.set(attr, attrs.get(attr));
                        }
                    }
                    let mut merged = attrs;
                    merged.set(Attr::Md5, Check::Unchecked);
                    let differences = self.differences(&expected, &disk, link.as_deref(), &merged);
                    finding.differences.extend(differences);
                }
                None if attrs.any_failed() => {
                    // A conffile's content is the admin's; its mtime moves with every edit.
                    let conffile = conffiles.contains(&entry.path.as_path());
                    if conffile {
                        attrs.set(Attr::Mtime, Check::Unchecked);
                        attrs.set(Attr::Size, Check::Unchecked);
                        if !attrs.any_failed() {
                            return Ok(());
                        }
                    }
                    let differences = self.differences(&expected, &disk, link.as_deref(), &attrs);
                    findings.push(self.finding(package, entry, dest, attrs, differences, conffile));
                    index.insert(entry.path.clone(), findings.len() - 1);
                }
                None => {}
            }
            Ok(())
        })
    }

    fn finding(
        &self,
        package: &Package,
        entry: &DataEntry,
        dest: PathBuf,
        attrs: super::Attrs,
        differences: Vec<Difference>,
        conffile: bool,
    ) -> Finding {
        Finding {
            package: package.display_name(),
            version: package.version.clone(),
            path: dest,
            listed: entry.path.clone(),
            conffile,
            kind: Kind::Attributes,
            attrs,
            cause: None,
            differences,
        }
    }

    /// The archive's value and the disk's for every failed attribute.
    fn differences(
        &self,
        expected: &Expected,
        disk: &std::fs::Metadata,
        link: Option<&Path>,
        attrs: &super::Attrs,
    ) -> Vec<Difference> {
        let owner = |id: u32, name: Option<&str>| match name {
            Some(name) => format!("{id} ({name})"),
            None => id.to_string(),
        };
        let optional = |value: Option<String>| value.unwrap_or_else(|| "?".into());
        let kind = FileKind::of(disk.file_type());
        attrs
            .failed()
            .map(|attr| {
                let (want, have) = match attr {
                    Attr::Size => (
                        optional(expected.size.map(|s| s.to_string())),
                        disk.len().to_string(),
                    ),
                    Attr::Mode if kind != expected.kind => (
                        expected.kind.describe().to_string(),
                        kind.describe().to_string(),
                    ),
                    Attr::Mode => (
                        format!("{:04o}", expected.mode),
                        format!("{:04o}", disk.mode() & 0o7777),
                    ),
                    Attr::Md5 => ("the recorded md5".into(), "another".into()),
                    Attr::Device => (
                        optional(
                            expected
                                .rdev
                                .map(|r| format!("{},{}", libc::major(r), libc::minor(r))),
                        ),
                        format!("{},{}", libc::major(disk.rdev()), libc::minor(disk.rdev())),
                    ),
                    Attr::Link => (
                        optional(
                            expected
                                .link_target
                                .as_ref()
                                .map(|t| t.display().to_string()),
                        ),
                        optional(link.map(|t| t.display().to_string())),
                    ),
                    Attr::User => (
                        optional(
                            expected
                                .uid
                                .map(|id| owner(id, self.accounts.user_name(id))),
                        ),
                        owner(disk.uid(), self.accounts.user_name(disk.uid())),
                    ),
                    Attr::Group => (
                        optional(
                            expected
                                .gid
                                .map(|id| owner(id, self.accounts.group_name(id))),
                        ),
                        owner(disk.gid(), self.accounts.group_name(disk.gid())),
                    ),
                    Attr::Mtime => (
                        optional(expected.mtime.map(|t| t.to_string())),
                        disk.mtime().to_string(),
                    ),
                };
                Difference {
                    attr,
                    expected: want,
                    actual: have,
                }
            })
            .collect()
    }
}

/// The paths dpkg's list says the package owns now (an archive may ship more: paths another
/// package has since taken over).
pub fn owned_paths(files: &crate::dpkg::PackageFiles) -> std::collections::HashSet<&Path> {
    files
        .list
        .iter()
        .flat_map(|list| list.paths.iter().map(PathBuf::as_path))
        .collect()
}

/// What the archive pass of `verify` covered.
#[derive(Debug, Default)]
pub struct Coverage {
    /// Packages whose archive was found, trusted and compared.
    pub checked: usize,
    /// Packages with no usable archive in the sources: their `?` columns stay `?`.
    pub unavailable: usize,
    /// (package, why) for archives that were found but could not be read to the end.
    pub failed: Vec<(String, String)>,
}

/// Runs the deep checks of every package whose installed version is found in `archives`,
/// on all cores, and merges the results into `report` (findings stay grouped by package, in
/// `packages` order).
pub fn check_all(
    root: &Root,
    db: &Database,
    packages: &[&Package],
    archives: &mut crate::sources::Archives,
    report: &mut super::Report,
) -> Coverage {
    let mut coverage = Coverage::default();
    let mut jobs = Vec::new();
    for package in packages {
        // Read once: the md5sums decide trust, the list decides what the package owns.
        let files = match db.files(package) {
            Ok(files) => files,
            Err(err) => {
                coverage
                    .failed
                    .push((package.display_name(), err.to_string()));
                continue;
            }
        };
        let wanted = crate::sources::Wanted {
            package: &package.name,
            version: &package.version,
            architecture: &package.architecture,
            recorded_md5sums: files.md5sums.as_ref(),
            // `verify --from http://...` asks for the archive checks of every package.
            may_download: true,
        };
        match archives.find(&wanted) {
            Ok(found) => jobs.push((*package, files, found.deb)),
            Err(_) => coverage.unavailable += 1,
        }
    }
    let mut by_package: HashMap<String, Vec<Finding>> = HashMap::new();
    for finding in report.findings.drain(..) {
        by_package
            .entry(finding.package.clone())
            .or_default()
            .push(finding);
    }
    let deep = Deep::new(root, db, &report.aliases);
    let jobs: Vec<_> = jobs
        .into_iter()
        .map(|(package, files, deb)| {
            let findings = by_package
                .remove(&package.display_name())
                .unwrap_or_default();
            (package, files, deb, findings)
        })
        .collect();
    let results = crate::sys::parallel::map(jobs, |(package, files, deb, mut findings)| {
        let outcome = deep.check_package(package, &files, &deb, &mut findings);
        (package, findings, outcome)
    });
    for (package, findings, outcome) in results {
        match outcome {
            Ok(()) => coverage.checked += 1,
            Err(err) => coverage
                .failed
                .push((package.display_name(), err.to_string())),
        }
        by_package.insert(package.display_name(), findings);
    }
    for package in packages {
        if let Some(mut findings) = by_package.remove(&package.display_name()) {
            report.findings.append(&mut findings);
        }
    }
    // Findings of packages not in `packages` (none expected) keep their place at the end.
    for (_, mut rest) in by_package {
        report.findings.append(&mut rest);
    }
    coverage
}
