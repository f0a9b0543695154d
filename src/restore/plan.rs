//! The plan: every change a restore would make, with its reason and its source, and what
//! cannot be restored with the command that would help. Planning changes nothing on disk.
//!
//! How it is built:
//! 1. `verify` (database checks, cached digests) finds missing, changed and mistyped paths and
//!    broken merged-/usr aliases;
//! 2. for every selected package whose installed version is found in the sources (and
//!    trusted), its archive is streamed once: each entry is compared with what stands on disk
//!    (type, content where verify found it wrong, mode, owner, group, symlink target, mtime,
//!    statoverride applied) and every difference becomes an action. That pass also proves the
//!    archive readable to its end and hashes the content of every file to be written against
//!    the md5 ROOT's database records, so a truncated or mismatched archive is refused here,
//!    before anything is touched;
//! 3. packages with findings but no usable archive are listed as unrestorable, with the
//!    `--from` command naming ROOT's apt mirrors.
//!
//! Paths under a broken alias are planned at their place under `/usr` (`/lib/x` is checked and
//! written as `/usr/lib/x`): the alias repair comes first, and nothing ever builds a second
//! `/lib` tree beside `/usr/lib`.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::apply::Metadata;
use crate::deb::{DataEntry, Deb, EntryKind};
use crate::dpkg::{digest_hex, ConffileHash, Database, Package, PackageFiles};
use crate::sources::{self, ArchiveTrust, Archives, Source, Wanted};
use crate::sys::root::{Last, Root};
use crate::verify::deep::owned_paths;
use crate::verify::deep::Deep;
use crate::verify::{self, AliasProblem, AliasState, Finding, Kind};
use crate::Result;

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--conffiles`: also put back conffiles the admin modified.
    pub conffiles: bool,
    /// Use verify's digest cache.
    pub use_cache: bool,
}

#[derive(Debug)]
pub struct Plan {
    pub aliases: Vec<AliasRepair>,
    pub packages: Vec<PackagePlan>,
    pub unrestorable: Vec<Unrestorable>,
    /// Things left alone on purpose (modified conffiles without `--conffiles`), or oddities.
    pub notes: Vec<String>,
    /// The `--from` command to try when archives are missing.
    pub suggestion: Option<String>,
    /// Findings that verify made before planning, for the summary.
    pub findings_before: usize,
}

impl Plan {
    pub fn action_count(&self) -> usize {
        self.aliases.len() + self.packages.iter().map(|p| p.actions.len()).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.action_count() == 0
    }
}

/// A merged-/usr alias to recreate: `/lib -> usr/lib`.
#[derive(Clone, Debug)]
pub struct AliasRepair {
    pub alias: PathBuf,
    /// Relative, as Debian makes it: `usr/lib`.
    pub target: PathBuf,
    pub state: AliasState,
}

#[derive(Debug)]
pub struct PackagePlan {
    pub package: String,
    pub version: String,
    pub deb: Deb,
    pub trust: ArchiveTrust,
    pub actions: Vec<Action>,
}

#[derive(Clone, Debug)]
pub struct Action {
    /// Where it goes inside ROOT (diversions applied, broken aliases bypassed).
    pub path: PathBuf,
    /// The archive's own name for it (`/lib/x86_64-linux-gnu/libc.so.6`).
    pub entry: PathBuf,
    pub kind: ActionKind,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionKind {
    MakeDirectory { meta: Metadata, replace: bool },
    WriteFile { meta: Metadata, md5: Option<String> },
    Symlink { target: PathBuf, meta: Metadata },
    HardLink { to: PathBuf },
    SetAttributes { meta: Metadata },
}

impl ActionKind {
    pub fn verb(&self) -> &'static str {
        match self {
            ActionKind::MakeDirectory { .. } => "mkdir",
            ActionKind::WriteFile { .. } => "write",
            ActionKind::Symlink { .. } => "symlink",
            ActionKind::HardLink { .. } => "link",
            ActionKind::SetAttributes { .. } => "attrs",
        }
    }
}

#[derive(Debug)]
pub struct Unrestorable {
    pub package: String,
    pub version: String,
    pub broken: Vec<PathBuf>,
    pub why: String,
}

/// Plans the restore of `names` (every installed package when empty).
pub fn plan(
    root: &Root,
    db: &Database,
    names: &[String],
    from: Vec<Source>,
    options: &Options,
) -> Result<Plan> {
    let (packages, unknown) = db.select(names);
    if let Some(name) = unknown.first() {
        return Err(crate::Error::refused(
            name,
            "no such package is installed in ROOT",
        ));
    }
    let verify_options = verify::Options {
        use_cache: options.use_cache,
        ..verify::Options::default()
    };
    let report = verify::verify(root, db, &packages, &verify_options, None)?;
    let aliases: Vec<AliasRepair> = report.aliases.iter().map(alias_repair).collect();

    let mut findings: HashMap<&str, Vec<&Finding>> = HashMap::new();
    for finding in &report.findings {
        findings
            .entry(finding.package.as_str())
            .or_default()
            .push(finding);
    }

    let mut archives = Archives::for_installed(root, from, &packages)?;

    let mut plan = Plan {
        aliases,
        packages: Vec::new(),
        unrestorable: Vec::new(),
        notes: Vec::new(),
        suggestion: None,
        findings_before: report.findings.len() + report.aliases.len(),
    };

    // Find archives one by one (directory scans are cached), then stream them on every core.
    let mut found = Vec::new();
    for package in &packages {
        let name = package.display_name();
        let package_findings = findings.remove(name.as_str()).unwrap_or_default();
        let files = db.files(package)?;
        let wanted = Wanted {
            package: &package.name,
            version: &package.version,
            architecture: &package.architecture,
            recorded_md5sums: files.md5sums.as_ref(),
            // Download for what is known broken, or for what the operator named.
            may_download: !package_findings.is_empty() || !names.is_empty(),
        };
        match archives.find(&wanted) {
            Ok(archive) => found.push((*package, archive, package_findings, files)),
            Err(unavailable) if !package_findings.is_empty() => {
                plan.unrestorable.push(Unrestorable {
                    package: name,
                    version: package.version.clone(),
                    broken: package_findings.iter().map(|f| f.path.clone()).collect(),
                    why: unavailable.to_string(),
                })
            }
            Err(_) => {}
        }
    }

    let context = Context {
        root,
        deep: Deep::new(root, db, &report.aliases),
        options,
    };
    let results =
        crate::sys::parallel::map(found, |(package, archive, package_findings, files)| {
            let outcome = context.plan_package(package, &archive.deb, &package_findings, &files);
            (package, archive, package_findings, outcome)
        });
    for (package, archive, package_findings, outcome) in results {
        match outcome {
            Ok((actions, notes)) => {
                plan.notes.extend(notes);
                if !actions.is_empty() {
                    plan.packages.push(PackagePlan {
                        package: package.display_name(),
                        version: package.version.clone(),
                        deb: archive.deb,
                        trust: archive.trust,
                        actions,
                    });
                }
            }
            Err(err) => plan.unrestorable.push(Unrestorable {
                package: package.display_name(),
                version: package.version.clone(),
                broken: package_findings.iter().map(|f| f.path.clone()).collect(),
                why: err.to_string(),
            }),
        }
    }
    drop_repeated_directories(root, &mut plan.packages);
    if !plan.unrestorable.is_empty() {
        plan.suggestion = suggestion(root, archives.sources());
    }
    Ok(plan)
}

/// Everything one package's planning reads.
struct Context<'a> {
    root: &'a Root,
    deep: Deep<'a>,
    options: &'a Options,
}

impl Context<'_> {
    fn plan_package(
        &self,
        package: &Package,
        deb: &Deb,
        findings: &[&Finding],
        files: &PackageFiles,
    ) -> Result<(Vec<Action>, Vec<String>)> {
        let empty = HashMap::new();
        let md5sums = files.md5sums.as_ref().unwrap_or(&empty);
        let owned = owned_paths(files);
        let mut actions = Vec::new();
        let mut notes = Vec::new();
        let by_listed: HashMap<&Path, &Finding> =
            findings.iter().map(|f| (f.listed.as_path(), *f)).collect();
        let conffiles: HashMap<&Path, &ConffileHash> = package
            .conffiles
            .iter()
            .filter(|c| !c.obsolete)
            .map(|c| (c.path.as_path(), &c.hash))
            .collect();
        let mut symlink_entries: HashSet<PathBuf> = HashSet::new();
        let mut seen: HashSet<PathBuf> = HashSet::new();
        let mut covered: HashSet<PathBuf> = HashSet::new();

        deb.for_each_entry(|entry, content| {
            refuse_hostile(deb, entry, &symlink_entries, &seen)?;
            seen.insert(entry.path.clone());
            if entry.kind == EntryKind::Symlink {
                symlink_entries.insert(entry.path.clone());
            }
            // dpkg's lists, not the archive, say what the package owns now: a path another
            // package took over (Replaces:) is not this package's to put back.
            if !owned.contains(entry.path.as_path()) {
                return Ok(());
            }
            covered.insert(entry.path.clone());
            if self.deep.is_broken_alias(&entry.path) {
                return Ok(());
            }
            let dest = self.deep.destination(&package.name, &entry.path);
            let meta = self.metadata_for(entry, &dest);
            let host = self.root.resolve(&dest, Last::NoFollow).ok();
            let disk = host.as_ref().and_then(|h| std::fs::symlink_metadata(h).ok());
            let finding = by_listed.get(entry.path.as_path()).copied();
            let mut push = |kind: ActionKind, reason: String| {
                actions.push(Action {
                    path: dest.clone(),
                    entry: entry.path.clone(),
                    kind,
                    reason,
                })
            };
            match entry.kind {
                EntryKind::Directory => match &disk {
                    None => push(ActionKind::MakeDirectory { meta, replace: false }, "missing".into()),
                    Some(d) if d.is_dir() => {
                        if let Some(why) = attribute_drift(d, &meta, false) {
                            push(ActionKind::SetAttributes { meta }, why);
                        }
                    }
                    // A symlink to a directory stands in for it (dpkg's rule: never replaced).
                    Some(d) if d.file_type().is_symlink() => {}
                    Some(d) => push(
                        ActionKind::MakeDirectory { meta, replace: true },
                        format!("a {} stands where a directory belongs", kind_name(d)),
                    ),
                },
                EntryKind::File | EntryKind::HardLink => {
                    let expected_md5 = md5sums
                        .get(&entry.path)
                        .map(|digest| digest_hex(digest))
                        .or_else(|| match conffiles.get(entry.path.as_path()) {
                            Some(ConffileHash::Md5(digest)) => Some(digest_hex(digest)),
                            _ => None,
                        });
                    let is_conffile = conffiles.contains_key(entry.path.as_path());
                    let content_problem = self.content_problem(finding, &dest, disk.as_ref(), expected_md5.as_deref(), entry);
                    match content_problem {
                        Some(why) => {
                            if is_conffile && disk.is_some() && !self.options.conffiles {
                                notes.push(format!(
                                    "{}: conffile {} was modified ({why}); kept (use --conffiles to restore it)",
                                    package.display_name(),
                                    dest.display()
                                ));
                                return Ok(());
                            }
                            if entry.kind == EntryKind::HardLink {
                                let to = entry.link_target.clone().unwrap_or_default();
                                push(ActionKind::HardLink { to: self.deep.destination(&package.name, &to) }, why);
                                return Ok(());
                            }
                            // Prove the archive's content is what the database recorded
                            // before planning to write it.
                            if let Some(expected) = &expected_md5 {
                                let actual = md5_of(content).map_err(|err| {
                                    crate::Error::parse(deb.path(), None, format!("{}: {err}", entry.path.display()))
                                })?;
                                if &actual != expected {
                                    notes.push(format!(
                                        "{}: {} refused: the archive's content has md5 {actual}, ROOT's database records {expected}",
                                        package.display_name(),
                                        dest.display()
                                    ));
                                    return Ok(());
                                }
                            }
                            push(ActionKind::WriteFile { meta, md5: expected_md5 }, why);
                        }
                        None => {
                            if entry.kind == EntryKind::File {
                                if let Some(d) = &disk {
                                    if let Some(why) = attribute_drift(d, &meta, true) {
                                        push(ActionKind::SetAttributes { meta }, why);
                                    }
                                }
                            }
                        }
                    }
                }
                EntryKind::Symlink => {
                    let target = entry.link_target.clone().unwrap_or_default();
                    match &disk {
                        Some(d) if d.file_type().is_symlink() => {
                            let current = host.as_ref().and_then(|h| std::fs::read_link(h).ok());
                            if current.as_deref() != Some(target.as_path()) {
                                let was = current.map(|c| c.display().to_string()).unwrap_or_default();
                                push(ActionKind::Symlink { target, meta }, format!("points to {was}"));
                            } else if d.uid() != meta.uid || d.gid() != meta.gid {
                                push(ActionKind::SetAttributes { meta }, format!("owner {}:{}", d.uid(), d.gid()));
                            }
                        }
                        Some(d) => push(ActionKind::Symlink { target, meta }, format!("a {} stands where a symlink belongs", kind_name(d))),
                        None => push(ActionKind::Symlink { target, meta }, "missing".into()),
                    }
                }
                // Refused by refuse_hostile before we get here.
                EntryKind::CharDevice | EntryKind::BlockDevice | EntryKind::Fifo => {}
            }
            Ok(())
        })?;

        for finding in findings {
            if !covered.contains(&finding.listed) && finding.kind != Kind::Attributes {
                notes.push(format!(
                    "{}: {} is listed by dpkg but not in the archive (created by a maintainer script?): not restored",
                    package.display_name(),
                    finding.path.display()
                ));
            }
        }
        Ok((actions, notes))
    }

    /// The metadata the entry must end with at `dest`, from the same rules verify checks.
    fn metadata_for(&self, entry: &DataEntry, dest: &Path) -> Metadata {
        let expected = self.deep.expected(entry, dest);
        Metadata {
            mode: expected.mode,
            uid: expected.uid.unwrap_or(entry.uid),
            gid: expected.gid.unwrap_or(entry.gid),
            mtime: entry.mtime,
        }
    }

    /// Why the content at `dest` must be written again, if it must.
    fn content_problem(
        &self,
        finding: Option<&Finding>,
        dest: &Path,
        disk: Option<&std::fs::Metadata>,
        expected_md5: Option<&str>,
        entry: &DataEntry,
    ) -> Option<String> {
        let Some(disk) = disk else {
            return Some("missing".into());
        };
        if !disk.is_file() {
            return Some(format!("a {} stands where a file belongs", kind_name(disk)));
        }
        match finding {
            // Verify checked this very path: trust its answer.
            Some(f) if f.cause.is_none() && f.path == dest => match &f.kind {
                Kind::Md5Mismatch { .. } => Some("content differs (md5)".into()),
                Kind::Unreadable { .. } => Some("unreadable".into()),
                Kind::Missing { .. } | Kind::WrongType { .. } => Some("missing".into()),
                Kind::Attributes => None,
            },
            // Hidden behind a broken alias, or not checked by verify: look at it here.
            _ => match expected_md5 {
                _ if disk.len() != entry.size && entry.kind == EntryKind::File => {
                    Some(format!("size {} instead of {}", disk.len(), entry.size))
                }
                Some(expected) if finding.is_some() => {
                    let host = self.root.resolve(dest, Last::NoFollow).ok()?;
                    let mut file = std::fs::File::open(host).ok()?;
                    let actual = md5_of(&mut file).ok()?;
                    (actual != expected).then(|| "content differs (md5)".into())
                }
                _ => None,
            },
        }
    }
}

/// Many packages ship the same directory (`/usr/lib/x86_64-linux-gnu`, or the same one as
/// `/lib/x86_64-linux-gnu`): the first package in the plan creates it, the others need not
/// say so. Compared by resolved path, so an alias and its target count as one.
fn drop_repeated_directories(root: &Root, packages: &mut [PackagePlan]) {
    let mut planned: HashSet<PathBuf> = HashSet::new();
    for package in packages.iter_mut() {
        package.actions.retain(|action| {
            if !matches!(action.kind, ActionKind::MakeDirectory { .. }) {
                return true;
            }
            let resolved = root
                .resolve_inside(&action.path, Last::Follow)
                .unwrap_or_else(|_| action.path.clone());
            planned.insert(resolved)
        });
    }
}

/// Refuses entries no honest archive has: a path under one of the archive's own symlinks (a
/// write through a link it just planted), a hard link to something it has not shipped.
fn refuse_hostile(
    deb: &Deb,
    entry: &DataEntry,
    symlinks: &HashSet<PathBuf>,
    seen: &HashSet<PathBuf>,
) -> Result<()> {
    if matches!(
        entry.kind,
        EntryKind::CharDevice | EntryKind::BlockDevice | EntryKind::Fifo
    ) {
        return Err(crate::Error::refused(
            deb.path(),
            format!(
                "{}: device and fifo entries are refused (no Debian package ships one)",
                entry.path.display()
            ),
        ));
    }
    let mut prefix = PathBuf::from("/");
    let components: Vec<Component> = entry.path.components().collect();
    for component in &components[..components.len().saturating_sub(1)] {
        prefix.push(component);
        if symlinks.contains(&prefix) {
            return Err(crate::Error::refused(
                deb.path(),
                format!(
                    "{} would be written through the archive's own symlink {}: refused",
                    entry.path.display(),
                    prefix.display()
                ),
            ));
        }
    }
    if entry.kind == EntryKind::HardLink {
        let target = entry.link_target.as_deref().unwrap_or(Path::new(""));
        if !seen.contains(target) {
            return Err(crate::Error::refused(
                deb.path(),
                format!(
                    "{} is a hard link to {}, which the archive does not ship before it: refused",
                    entry.path.display(),
                    target.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Mode, owner, group (and mtime for files) differences, described for the plan.
fn attribute_drift(disk: &std::fs::Metadata, meta: &Metadata, with_mtime: bool) -> Option<String> {
    let mut what = Vec::new();
    if disk.mode() & 0o7777 != meta.mode {
        what.push(format!(
            "mode {:04o} instead of {:04o}",
            disk.mode() & 0o7777,
            meta.mode
        ));
    }
    if disk.uid() != meta.uid || disk.gid() != meta.gid {
        what.push(format!(
            "owner {}:{} instead of {}:{}",
            disk.uid(),
            disk.gid(),
            meta.uid,
            meta.gid
        ));
    }
    if with_mtime && disk.mtime() != meta.mtime {
        what.push("mtime".to_string());
    }
    (!what.is_empty()).then(|| what.join(", "))
}

fn kind_name(meta: &std::fs::Metadata) -> &'static str {
    verify::FileKind::of(meta.file_type()).describe()
}

fn md5_of(reader: &mut dyn Read) -> std::io::Result<String> {
    let mut buffer = vec![0u8; 1 << 17];
    verify::md5_of(reader, &mut buffer, None).map(|digest| digest_hex(&digest))
}

fn alias_repair(problem: &AliasProblem) -> AliasRepair {
    AliasRepair {
        alias: problem.alias.clone(),
        target: problem
            .target
            .strip_prefix("/")
            .unwrap_or(&problem.target)
            .to_path_buf(),
        state: problem.state.clone(),
    }
}

/// The `--from` command for ROOT's apt mirrors (http only: https needs TLS we do not carry).
fn suggestion<'a>(root: &Root, tried: impl Iterator<Item = &'a Source>) -> Option<String> {
    let tried: Vec<String> = tried.map(|s| s.to_string()).collect();
    let mut uris: Vec<String> = sources::apt_sources::read(root.dir())
        .into_iter()
        .map(|s| s.uri.replacen("https://", "http://", 1))
        .filter(|uri| uri.starts_with("http://") && !tried.contains(uri))
        .collect();
    uris.dedup();
    if uris.is_empty() {
        return Some(
            "rescue restore --from DIR_OF_DEBS (a directory holding the installed versions' .debs)"
                .into(),
        );
    }
    let root_flag = if root.is_host_root() {
        String::new()
    } else {
        format!(" --root {}", root.dir().display())
    };
    let from: Vec<String> = uris.iter().map(|u| format!("--from {u}")).collect();
    Some(format!("rescue restore{root_flag} {}", from.join(" ")))
}

/// A path for messages: raw bytes escaped.
pub fn shown(path: &Path) -> String {
    crate::applets::escape_bytes(OsStr::as_bytes(path.as_os_str()))
}
