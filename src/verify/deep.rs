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
use std::sync::Arc;

use super::attrs::{compare, Attr, Check, Expected, FileKind, OnDisk};
use super::expect::{Expectation, Outcome};
use super::recorded::Recorded;
use super::{AliasProblem, Difference, Finding, Kind, ScriptSet};
use crate::deb::{DataEntry, EntryKind};
use crate::dpkg::maintscript::{MaintainerScripts, RootWorld, ScriptKind};
use crate::dpkg::{Database, Issue, Package, PackageFiles, Severity};
use crate::sources::header_cache::HeaderCache;
use crate::sources::{Found, NoArchive, PackageArchive, Resolved};
use crate::sys::accounts::Accounts;
use crate::sys::capability;
use crate::sys::quoting::escape;
use crate::sys::root::{Last, Root};
use crate::Result;

pub struct Deep<'a> {
    root: &'a Root,
    db: &'a Database,
    accounts: Accounts,
    aliases: &'a [AliasProblem],
    scripts: MaintainerScripts,
    /// The kit's baseline, the last layer of expected metadata.
    recorded: Option<Arc<Recorded>>,
    /// Archive header indexes kept in ROOT's cache: archives already read once are not
    /// decompressed to be compared.
    pub headers: HeaderCache,
}

impl<'a> Deep<'a> {
    /// Reads ROOT's accounts and walks every installed package's maintainer scripts (a few
    /// tens of milliseconds for a full system). Account files that exist but cannot be read
    /// are an error: owners would be guessed.
    pub fn new(
        root: &'a Root,
        db: &'a Database,
        aliases: &'a [AliasProblem],
        recorded: Option<Arc<Recorded>>,
    ) -> Result<Deep<'a>> {
        let accounts = Accounts::read(root)?;
        let scripts = MaintainerScripts::load(db, &RootWorld::new(root, db));
        Ok(Deep {
            root,
            db,
            accounts,
            aliases,
            scripts,
            recorded,
            headers: HeaderCache::open(root),
        })
    }

    /// Scripts that could not be read or parsed (their effects are not known), handed over
    /// once to whoever reports them.
    pub fn take_script_issues(&mut self) -> Vec<crate::dpkg::Issue> {
        std::mem::take(&mut self.scripts.issues)
    }

    /// A merged-/usr alias verify found broken: restore recreates it, deep checks skip it.
    pub fn is_broken_alias(&self, path: &Path) -> bool {
        self.aliases.iter().any(|alias| alias.alias == path)
    }

    /// Where `package`'s entry lives: at the diverted path if another package diverted it, and
    /// under `/usr` when its first component is a broken merged-/usr alias.
    pub fn destination(&self, package: &str, entry: &Path) -> PathBuf {
        let path = self.checked_path(package, entry);
        for alias in self.aliases {
            if let Ok(rest) = path.strip_prefix(&alias.alias) {
                return Path::new("/").join(&alias.target).join(rest);
            }
        }
        path
    }

    /// The path verify checks for `package`'s entry, and the baseline records: at the diverted
    /// path if another package diverted it (no alias bypassed).
    fn checked_path(&self, package: &str, entry: &Path) -> PathBuf {
        match self.db.diversions.diverted(entry, package) {
            Some(diversion) => diversion.to.clone(),
            None => entry.to_path_buf(),
        }
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
            capability: None,
        };
        if let Some(over) = self.statoverride(entry, dest) {
            expected.mode = over.mode;
            // A name ROOT's accounts lack must never become root: the owner is left unchecked
            // and the setuid/setgid bit it would carry is not expected (see `unresolved`).
            expected.uid = over.uid(&self.accounts);
            expected.gid = over.gid(&self.accounts);
            if expected.uid.is_none() {
                expected.mode &= !0o4000;
            }
            if expected.gid.is_none() {
                expected.mode &= !0o2000;
            }
        }
        expected
    }

    fn statoverride(&self, entry: &DataEntry, dest: &Path) -> Option<&crate::dpkg::StatOverride> {
        self.db
            .statoverrides
            .get(dest)
            .or_else(|| self.db.statoverrides.get(&entry.path))
    }

    /// The owner and group names the path's statoverride gives that ROOT's accounts do not
    /// have (`/etc/group` overwritten, say): each is a finding, and restore writes the path
    /// without the setuid or setgid bit such a name would have carried.
    ///
    /// With the baseline deciding, nothing is unresolved: it recorded the numbers.
    pub fn unresolved(
        &self,
        entry: &DataEntry,
        dest: &Path,
        expectation: &Expectation,
    ) -> Vec<(Attr, String)> {
        let Some(over) = self
            .statoverride(entry, dest)
            .filter(|_| !expectation.recorded)
        else {
            return Vec::new();
        };
        let name = |owner: &crate::dpkg::Owner| match owner {
            crate::dpkg::Owner::Name(name) => name.clone(),
            crate::dpkg::Owner::Id(id) => format!("#{id}"),
        };
        let mut out = Vec::new();
        if over.uid(&self.accounts).is_none() {
            out.push((Attr::User, name(&over.user)));
        }
        if over.gid(&self.accounts).is_none() {
            out.push((Attr::Group, name(&over.group)));
        }
        out
    }

    /// What `package`'s entry must be at `dest` once unpacked and configured: the archive's
    /// header, statoverride, the maintainer scripts' effects, then the kit's baseline. A
    /// preinst's changes last only on directories (the unpack that follows sets every file's
    /// metadata again); symlinks are left to the archive.
    pub fn expectation(&self, package: &str, entry: &DataEntry, dest: &Path) -> Expectation {
        let archive = self.expected(entry, dest);
        if archive.kind == FileKind::Symlink {
            return Expectation::plain(archive);
        }
        let scripted = self.scripted(archive, entry, dest);
        let Some(recorded) = &self.recorded else {
            return scripted;
        };
        let key = self.checked_path(package, &entry.path);
        let found = recorded
            .baseline
            .get(&key)
            .or_else(|| recorded.baseline.get(dest));
        match found {
            Some(r) if r.kind == scripted.archive.kind => {
                scripted.with_baseline(r.mode, r.uid, r.gid, r.capability.as_deref())
            }
            _ => scripted,
        }
    }

    /// The archive's metadata and what the maintainer scripts do to it.
    fn scripted(&self, archive: Expected, entry: &DataEntry, dest: &Path) -> Expectation {
        if self.scripts.is_empty() {
            return Expectation::plain(archive);
        }
        let names: Vec<&Path> = if dest == entry.path {
            vec![dest]
        } else {
            vec![entry.path.as_path(), dest]
        };
        let effects: Vec<_> = self
            .scripts
            .effects_on(&names)
            .into_iter()
            .filter(|e| {
                e.script.kind == ScriptKind::Postinst || archive.kind == FileKind::Directory
            })
            .collect();
        Expectation::with_scripts(archive, &effects, &self.accounts)
    }

    /// The outcome that describes what stands on disk (or the primary one when none does),
    /// and the attribute results against it, its undetermined attributes unchecked.
    pub fn judge<'e>(
        &self,
        expectation: &'e Expectation,
        disk: &OnDisk,
    ) -> (&'e Outcome, super::Attrs) {
        let outcome = expectation
            .matching(disk)
            .unwrap_or_else(|| expectation.primary());
        let mut attrs = compare(&outcome.expected, disk);
        for attr in &outcome.undetermined {
            attrs.set(*attr, Check::Unchecked);
        }
        (outcome, attrs)
    }

    /// Compares the archive's header index (from ROOT's cache, else one read of the archive)
    /// and merges the attribute results into `findings`: a path verify already
    /// flagged gets its other columns filled; a path whose attributes alone are wrong becomes a
    /// [`Kind::Attributes`] finding. Missing paths are verify's to report (its database
    /// checks see them), so they are not repeated here.
    pub fn check_package(
        &self,
        package: &Package,
        files: &PackageFiles,
        archive: &Found,
        findings: &mut Vec<Finding>,
        script_set: &mut Vec<ScriptSet>,
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
        let headers = archive.index(&self.headers)?;
        for indexed in &headers.entries {
            let entry = &indexed.entry;
            if !owned.contains(entry.path.as_path()) || self.is_broken_alias(&entry.path) {
                continue;
            }
            let dest = self.destination(&package.name, &entry.path);
            let Some(disk) = Standing::read(self.root, &dest) else {
                continue;
            };
            if entry.kind == EntryKind::Directory && disk.is_symlink_to_directory() {
                continue;
            }
            let expectation = self.expectation(&package.name, entry, &dest);
            let on_disk = disk.on_disk();
            let unresolved = self.unresolved(entry, &dest, &expectation);
            let (outcome, attrs) = self.judge_entry(entry, &expectation, &on_disk, &unresolved);
            if let Some(set) = self.script_set(package, &dest, &expectation, outcome, &on_disk) {
                script_set.push(set);
            }
            let differences = |attrs: &super::Attrs| {
                let mut differences =
                    self.differences(&expectation, &outcome.expected, &on_disk, attrs);
                name_unresolved(&unresolved, &mut differences);
                differences
            };
            match index.get(&entry.path) {
                Some(&at) if entry.kind != EntryKind::Directory => {
                    merge_attributes(&mut findings[at], attrs, differences);
                }
                Some(_) => {}
                None => {
                    // A conffile's content is the admin's; its mtime moves with every edit.
                    let conffile = entry.kind != EntryKind::Directory
                        && conffiles.contains(&entry.path.as_path());
                    let mut attrs = attrs;
                    if conffile {
                        attrs.set(Attr::Mtime, Check::Unchecked);
                        attrs.set(Attr::Size, Check::Unchecked);
                    }
                    if attrs.any_failed() {
                        let differences = differences(&attrs);
                        let finding =
                            self.finding(package, entry, dest, attrs, differences, conffile);
                        findings.push(finding);
                        index.insert(entry.path.clone(), findings.len() - 1);
                    }
                }
            }
        }
        Ok(())
    }

    /// A package no archive was found for: each listed path the baseline recorded for it
    /// is checked against what the baseline says alone (type, mode, owner, group, link
    /// target, capabilities), merged into `findings` as [`Deep::check_package`] does. Size,
    /// mtime and content are left to verify's digests; nothing is expected that the host did
    /// not have. `false` when the baseline has nothing for the package.
    pub fn check_recorded(&self, package: &Package, findings: &mut Vec<Finding>) -> Result<bool> {
        let Some(recorded) = &self.recorded else {
            return Ok(false);
        };
        let display = package.display_name();
        let files = self.db.files(package)?;
        let mut index: HashMap<PathBuf, usize> = findings
            .iter()
            .enumerate()
            .filter(|(_, f)| f.package == display)
            .map(|(i, f)| (f.listed.clone(), i))
            .collect();
        let mut any = false;
        for listed in files.list.iter().flat_map(|list| list.paths.iter()) {
            let key = self.checked_path(&package.name, listed);
            // A directory many packages list is checked once, with the package recorded.
            let Some(entry) = recorded.baseline.get(&key).filter(|e| e.package == display) else {
                continue;
            };
            any = true;
            let dest = self.destination(&package.name, listed);
            let Some(disk) = Standing::read(self.root, &dest) else {
                continue;
            };
            if entry.kind == FileKind::Directory && disk.is_symlink_to_directory() {
                continue;
            }
            let expected = Expected {
                kind: entry.kind,
                mode: entry.mode,
                uid: Some(entry.uid),
                gid: Some(entry.gid),
                size: None,
                link_target: entry.link_target.clone(),
                rdev: None,
                mtime: None,
                capability: entry.file_caps(),
            };
            let on_disk = disk.on_disk();
            let mut attrs = compare(&expected, &on_disk);
            if entry.capability.is_some() && expected.capability.is_none() {
                attrs.set(Attr::Caps, Check::Unchecked);
            }
            let differences = |attrs: &super::Attrs| {
                let mut differences = self.describe(&expected, &on_disk, attrs);
                for difference in &mut differences {
                    difference.expected = format!("{} (baseline)", difference.expected);
                }
                differences
            };
            match index.get(listed) {
                Some(&at) => merge_attributes(&mut findings[at], attrs, differences),
                None if attrs.any_failed() => {
                    let conffile = package.conffiles.iter().any(|c| &c.path == listed);
                    findings.push(Finding {
                        package: display.clone(),
                        version: package.version.clone(),
                        path: dest,
                        listed: listed.clone(),
                        conffile,
                        kind: Kind::Attributes,
                        differences: differences(&attrs),
                        attrs,
                        cause: None,
                    });
                    index.insert(listed.clone(), findings.len() - 1);
                }
                None => {}
            }
        }
        Ok(any)
    }

    /// [`Deep::judge`] for one archive entry, with the statoverride names ROOT lacks
    /// (`unresolved`) and what a hard link cannot be compared on taken into account.
    fn judge_entry<'e>(
        &self,
        entry: &DataEntry,
        expectation: &'e Expectation,
        on_disk: &OnDisk,
        unresolved: &[(Attr, String)],
    ) -> (&'e Outcome, super::Attrs) {
        let (outcome, mut attrs) = self.judge(expectation, on_disk);
        if !unresolved.is_empty() {
            // Which special bits are right cannot be told without the account.
            attrs.set(Attr::Mode, Check::Unchecked);
            for (attr, _) in unresolved {
                attrs.set(*attr, Check::Failed);
            }
        }
        if entry.kind == EntryKind::HardLink {
            attrs.set(Attr::Size, Check::Unchecked);
            attrs.set(Attr::Mtime, Check::Unchecked);
        }
        (outcome, attrs)
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

    /// A script set an attribute to a value not known here, and the disk's differs from the
    /// archive's: worth showing, not a problem.
    fn script_set(
        &self,
        package: &Package,
        dest: &Path,
        expectation: &Expectation,
        outcome: &Outcome,
        disk: &OnDisk,
    ) -> Option<ScriptSet> {
        if outcome.undetermined.is_empty() {
            return None;
        }
        let against_archive = compare(&expectation.archive, disk);
        let mut shown = super::Attrs::default();
        for attr in &outcome.undetermined {
            shown.set(*attr, against_archive.get(*attr));
        }
        if !shown.any_failed() {
            return None;
        }
        Some(ScriptSet {
            package: package.display_name(),
            path: dest.to_path_buf(),
            differences: self.describe(&expectation.archive, disk, &shown),
            by: expectation.by(),
        })
    }

    /// The expected value and the disk's for every failed attribute; a value a maintainer
    /// script set says so.
    fn differences(
        &self,
        expectation: &Expectation,
        expected: &Expected,
        disk: &OnDisk,
        attrs: &super::Attrs,
    ) -> Vec<Difference> {
        let from_scripts = expectation.script_attrs();
        let mut differences = self.describe(expected, disk, attrs);
        for difference in &mut differences {
            let recorded = [Attr::Mode, Attr::User, Attr::Group, Attr::Caps];
            if expectation.recorded && recorded.contains(&difference.attr) {
                difference.expected = format!("{} (baseline)", difference.expected);
            } else if from_scripts.contains(&difference.attr) {
                difference.expected =
                    format!("{} (set by {})", difference.expected, expectation.by());
            }
        }
        differences
    }

    /// The expected value and the disk's for every failed attribute.
    fn describe(
        &self,
        expected: &Expected,
        on_disk: &OnDisk,
        attrs: &super::Attrs,
    ) -> Vec<Difference> {
        let disk = on_disk.meta;
        let link = on_disk.link_target;
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
                        optional(expected.link_target.as_ref().map(escape)),
                        optional(link.map(escape)),
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
                    Attr::Caps => (
                        caps_text(expected.capability.as_ref().map(|c| c.to_string())),
                        caps_text(on_disk.capability.map(|raw| {
                            match capability::FileCaps::from_xattr(raw) {
                                Ok(caps) => caps.to_string(),
                                Err(err) => format!("unreadable ({err})"),
                            }
                        })),
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

fn caps_text(text: Option<String>) -> String {
    text.unwrap_or_else(|| "none".into())
}

/// Says which expected owner or group is a statoverride name ROOT's accounts lack.
fn name_unresolved(unresolved: &[(Attr, String)], differences: &mut [Difference]) {
    for difference in differences.iter_mut() {
        if let Some((_, name)) = unresolved.iter().find(|(a, _)| *a == difference.attr) {
            difference.expected = format!("{name} (statoverride; not in ROOT's accounts)");
        }
    }
}

/// Fills the columns of a path verify already flagged with the archive's results (its `5`
/// stays verify's), and adds the differences; a missing path has nothing to compare.
fn merge_attributes(
    finding: &mut Finding,
    attrs: super::Attrs,
    differences: impl Fn(&super::Attrs) -> Vec<Difference>,
) {
    if matches!(finding.kind, Kind::Missing { .. }) {
        return;
    }
    for attr in Attr::ALL {
        if attr != Attr::Md5 && finding.attrs.get(attr) == Check::Unchecked {
            finding.attrs.set(attr, attrs.get(attr));
        }
    }
    let mut merged = attrs;
    merged.set(Attr::Md5, Check::Unchecked);
    finding.differences.extend(differences(&merged));
}

/// What stands at an entry's destination: its `lstat`, and the capability or link target
/// the comparison needs.
struct Standing {
    host: PathBuf,
    meta: std::fs::Metadata,
    capability: Option<Vec<u8>>,
    link: Option<PathBuf>,
}

impl Standing {
    /// `None` when nothing stands there (verify reports missing paths) or it cannot be told.
    fn read(root: &Root, dest: &Path) -> Option<Standing> {
        let host = root.resolve(dest, Last::NoFollow).ok()?;
        let meta = std::fs::symlink_metadata(&host).ok()?;
        let capability = meta
            .is_file()
            .then(|| {
                crate::sys::xattr::get(&host, capability::XATTR_NAME)
                    .ok()
                    .flatten()
            })
            .flatten();
        let link = meta
            .file_type()
            .is_symlink()
            .then(|| std::fs::read_link(&host).ok())
            .flatten();
        Some(Standing {
            host,
            meta,
            capability,
            link,
        })
    }

    fn on_disk(&self) -> OnDisk<'_> {
        OnDisk {
            meta: &self.meta,
            link_target: self.link.as_deref(),
            capability: self.capability.as_deref(),
        }
    }

    /// A symlink to a directory stands in for a directory entry (dpkg's rule).
    fn is_symlink_to_directory(&self) -> bool {
        self.meta.file_type().is_symlink()
            && std::fs::metadata(&self.host).is_ok_and(|m| m.is_dir())
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
    /// Packages with no usable archive in the sources: their `?` columns stay `?` (but see
    /// `recorded_only`).
    pub unavailable: usize,
    /// Of those, the packages checked against the kit's baseline alone.
    pub recorded_only: usize,
    /// (package, why) for archives that were found but could not be read to the end.
    pub failed: Vec<(String, String)>,
}

/// Compares every archive `resolved` found with the disk, on `threads` threads (0: one per
/// core), and merges the results into `report` (findings stay grouped by package, in
/// `packages` order). The archives come opened and trusted: nothing is looked up or fetched
/// here.
pub fn check_all(
    root: &Root,
    db: &Database,
    packages: &[&Package],
    resolved: Resolved,
    threads: usize,
    report: &mut super::Report,
) -> Coverage {
    let mut coverage = Coverage::default();
    let mut no_archive = Vec::new();
    for (package, why) in &resolved.missing {
        match why {
            NoArchive::Database(err) => coverage
                .failed
                .push((package.display_name(), err.to_string())),
            NoArchive::Unavailable(_) => {
                coverage.unavailable += 1;
                no_archive.push(*package);
            }
        }
    }
    // A copy: the report's findings change while the checks read the aliases.
    let aliases = report.aliases.clone();
    match Deep::new(root, db, &aliases, report.recorded.clone()) {
        Ok(mut deep) => {
            let script_issues = deep.take_script_issues();
            compare_all(
                &deep,
                packages,
                resolved.found,
                threads,
                report,
                &mut coverage,
            );
            if deep.recorded.is_some() {
                recorded_all(&deep, packages, no_archive, threads, report, &mut coverage);
            }
            report.notes.extend(script_issues.into_iter().map(note));
        }
        Err(error) => report.notes.push(note(error_issue(error))),
    }
    // An apt list or archive that could not be read at all: a check that could not be made.
    let problems = resolved.problems.into_iter().map(error_issue);
    report.notes.extend(problems.map(note));
    coverage
}

/// The archive pass proper: each package's archive index against the disk, on all cores;
/// counted in `coverage`.
fn compare_all(
    deep: &Deep,
    packages: &[&Package],
    found: Vec<PackageArchive>,
    threads: usize,
    report: &mut super::Report,
    coverage: &mut Coverage,
) {
    let mut by_package = findings_by_package(report);
    let jobs: Vec<_> = found
        .into_iter()
        .map(|found| {
            let name = found.package.display_name();
            let findings = by_package.remove(&name).unwrap_or_default();
            (found, findings)
        })
        .collect();
    let size = |(found, _): &(PackageArchive, Vec<Finding>)| found.archive.deb.size();
    let results =
        crate::sys::parallel::map_largest_first(jobs, threads, size, |(found, mut findings)| {
            let PackageArchive {
                package,
                files,
                archive,
            } = found;
            let mut script_set = Vec::new();
            let outcome =
                deep.check_package(package, &files, &archive, &mut findings, &mut script_set);
            (package, findings, script_set, outcome)
        });
    for (package, findings, mut script_set, outcome) in results {
        report.script_set.append(&mut script_set);
        match outcome {
            Ok(()) => coverage.checked += 1,
            Err(err) => coverage
                .failed
                .push((package.display_name(), err.to_string())),
        }
        by_package.insert(package.display_name(), findings);
    }
    findings_back(report, packages, by_package);
}

/// The baseline pass: every package without an archive checked against the kit's baseline
/// alone, on all cores; findings stay grouped by package, in `packages` order.
fn recorded_all(
    deep: &Deep,
    packages: &[&Package],
    no_archive: Vec<&Package>,
    threads: usize,
    report: &mut super::Report,
    coverage: &mut Coverage,
) {
    let mut by_package = findings_by_package(report);
    let jobs: Vec<_> = no_archive
        .into_iter()
        .map(|package| {
            let findings = by_package
                .remove(&package.display_name())
                .unwrap_or_default();
            (package, findings)
        })
        .collect();
    let results = crate::sys::parallel::map(jobs, threads, |(package, mut findings)| {
        let outcome = deep.check_recorded(package, &mut findings);
        (package, findings, outcome)
    });
    for (package, findings, outcome) in results {
        match outcome {
            Ok(true) => coverage.recorded_only += 1,
            Ok(false) => {}
            Err(err) => coverage
                .failed
                .push((package.display_name(), err.to_string())),
        }
        by_package.insert(package.display_name(), findings);
    }
    findings_back(report, packages, by_package);
}

/// The report's findings taken out, by package, for the passes that work per package.
fn findings_by_package(report: &mut super::Report) -> HashMap<String, Vec<Finding>> {
    let mut by_package: HashMap<String, Vec<Finding>> = HashMap::new();
    for finding in report.findings.drain(..) {
        by_package
            .entry(finding.package.clone())
            .or_default()
            .push(finding);
    }
    by_package
}

/// The findings put back, grouped by package in `packages` order; those of packages not in
/// `packages` (none expected) keep their place at the end.
fn findings_back(
    report: &mut super::Report,
    packages: &[&Package],
    mut by_package: HashMap<String, Vec<Finding>>,
) {
    for package in packages {
        if let Some(mut findings) = by_package.remove(&package.display_name()) {
            report.findings.append(&mut findings);
        }
    }
    for (_, mut rest) in by_package {
        report.findings.append(&mut rest);
    }
}

fn error_issue(error: crate::Error) -> Issue {
    Issue {
        severity: Severity::Error,
        error,
    }
}

/// A note about the run as a whole.
fn note(issue: Issue) -> super::Note {
    super::Note {
        package: None,
        issue,
    }
}
