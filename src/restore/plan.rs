//! The plan: every change a restore would make, with its reason and its source, and what
//! cannot be restored with the command that would help. Planning changes nothing on disk.
//!
//! How it is built:
//! 1. `verify` (database checks, cached digests) finds missing, changed and mistyped paths and
//!    broken merged-/usr aliases;
//! 2. for every selected package whose installed version is found in the sources (and
//!    trusted: [`sources::resolve()`], which downloads only for packages with findings or
//!    named by the operator), its archive's header index ([`crate::deb::ArchiveIndex`]: every
//!    entry's header and every file's md5) is compared with what stands on disk (type,
//!    content where verify found it wrong, mode, owner, group, symlink target, mtime,
//!    statoverride applied), and every difference becomes an action. The index comes from
//!    ROOT's cache, keyed by the archive's SHA256, or from one full read of the archive,
//!    which proves it readable to its end; that read keeps in memory (within a budget) the
//!    content of the files to be written, so applying does not decompress it again. The md5
//!    of every file to be written is checked against the one ROOT's database records, so a
//!    mismatched archive is refused here, before anything is touched;
//! 3. packages with findings but no usable archive are listed as unrestorable, with the
//!    `--from` command naming ROOT's apt mirrors.
//!
//! Paths under a broken alias are planned at their place under `/usr` (`/lib/x` is checked and
//! written as `/usr/lib/x`): the alias repair comes first, and nothing ever builds a second
//! `/lib` tree beside `/usr/lib`.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::apply::Metadata;
use crate::deb::{DataEntry, Deb, EntryKind, Kept};
use crate::dpkg::{digest_hex, ConffileHash, Database, Package, PackageFiles};
use crate::sources::{self, ArchiveTrust, Found, NoArchive, PackageArchive, Source};
use crate::sys::capability::{self, FileCaps};
use crate::sys::quoting::{escape, shell_word};
use crate::sys::root::{Last, Root};
use crate::sys::xattr;
use crate::verify::attrs::{capability_matches, OnDisk};
use crate::verify::deep::owned_paths;
use crate::verify::deep::Deep;
use crate::verify::expect::Expectation;
use crate::verify::{self, AliasProblem, AliasState, Attr, Expected, FileKind, Finding, Kind};
use crate::Result;

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--conffiles`: also put back conffiles the admin modified.
    pub conffiles: bool,
    /// Use verify's digest cache.
    pub use_cache: bool,
    /// The seeded kit in use (`--kit`, or ROOT/srv/rescue): its archive store is a source and
    /// its baseline is expected metadata.
    pub kit: Option<crate::kit::Kit>,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub aliases: Vec<AliasRepair>,
    pub packages: Vec<PackagePlan>,
    pub unrestorable: Vec<Unrestorable>,
    /// Things left alone on purpose (modified conffiles without `--conffiles`), or oddities.
    pub notes: Vec<String>,
    /// Metadata maintainer scripts set that restore left as it stands, or could not know,
    /// each with the command that has the script set it again.
    pub script_notes: Vec<String>,
    /// What the archives ask for that restore refuses to do (a symlink over a directory with
    /// contents): the run leaves it and exits 1.
    pub refused: Vec<String>,
    /// The `--from` command to try when archives are missing.
    pub suggestion: Option<String>,
    /// Findings that verify made before planning, for the summary.
    pub findings_before: usize,
    /// Where expected metadata came from when the kit's baseline is in use (said once), then
    /// the baseline entries ignored because they disagree with the database.
    pub baseline: Vec<String>,
    /// Whether verify's digest cache was used (`--no-cache` off): the check after the
    /// restore uses it the same way.
    pub use_cache: bool,
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
    /// The content of files to write, kept from planning's read of the archive when it had
    /// to read it (no cached index), so that applying does not decompress it again.
    pub kept: Kept,
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
    MakeDirectory {
        meta: Metadata,
        replace: bool,
    },
    WriteFile {
        meta: Metadata,
        md5: Option<String>,
    },
    Symlink {
        target: PathBuf,
        meta: Metadata,
    },
    HardLink {
        to: PathBuf,
    },
    SetAttributes {
        meta: Metadata,
    },
    /// A package's missing `.list`, its content made from the archive's entries.
    WriteList {
        content: Vec<u8>,
        meta: Metadata,
    },
}

impl ActionKind {
    pub fn verb(&self) -> &'static str {
        match self {
            ActionKind::MakeDirectory { .. } => "mkdir",
            ActionKind::WriteFile { .. } => "write",
            ActionKind::Symlink { .. } => "symlink",
            ActionKind::HardLink { .. } => "link",
            ActionKind::SetAttributes { .. } => "attrs",
            ActionKind::WriteList { .. } => "list",
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

impl Unrestorable {
    fn new(package: &Package, findings: &[&Finding], why: String) -> Unrestorable {
        Unrestorable {
            package: package.display_name(),
            version: package.version.clone(),
            broken: findings.iter().map(|f| f.path.clone()).collect(),
            why,
        }
    }
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
        kit: options.kit.clone(),
        ..verify::Options::default()
    };
    let report = verify::verify(root, db, &packages, &verify_options, None)?;
    let mut findings: HashMap<&str, Vec<&Finding>> = HashMap::new();
    for finding in &report.findings {
        findings
            .entry(finding.package.as_str())
            .or_default()
            .push(finding);
    }
    // Download for what is known broken, or for what the operator named.
    let may_download = |package: &Package| {
        !names.is_empty() || findings.contains_key(package.display_name().as_str())
    };
    let resolved = sources::resolve(root, db, from, &packages, may_download)?;

    let mut plan = Plan {
        aliases: report.aliases.iter().map(alias_repair).collect(),
        findings_before: report.findings.len() + report.aliases.len(),
        use_cache: options.use_cache,
        ..Plan::default()
    };
    // Packages with no archive and nothing verify's database checks see: the baseline may
    // still show metadata drift on them.
    let mut unseen = Vec::new();
    for (package, why) in resolved.missing {
        let package_findings = findings
            .remove(package.display_name().as_str())
            .unwrap_or_default();
        match why {
            NoArchive::Database(err) => return Err(err),
            NoArchive::Unavailable(unavailable) if package_findings.is_empty() => {
                unseen.push((package, unavailable.to_string()));
            }
            NoArchive::Unavailable(unavailable) => plan.unrestorable.push(Unrestorable::new(
                package,
                &package_findings,
                unavailable.to_string(),
            )),
        }
    }
    let jobs: Vec<_> = resolved
        .found
        .into_iter()
        .map(|found| {
            let name = found.package.display_name();
            (found, findings.remove(name.as_str()).unwrap_or_default())
        })
        .collect();

    plan.baseline = baseline_lines(&report);
    let mut deep = Deep::new(root, db, &report.aliases, report.recorded.clone())?;
    plan.notes.extend(
        deep.take_script_issues()
            .into_iter()
            .map(|issue| format!("{} (metadata it sets is taken as it stands)", issue.error)),
    );
    for (package, unavailable) in unseen {
        if let Some(unrestorable) = recorded_drift(&deep, package, unavailable) {
            plan.unrestorable.push(unrestorable);
        }
    }
    let context = Context {
        root,
        db,
        deep,
        options,
        keep_budget: Budget::new(),
    };
    context.plan_all(jobs, &mut plan);
    drop_repeated_directories(root, &mut plan.packages);
    if !plan.unrestorable.is_empty() {
        plan.suggestion = suggestion(root, resolved.sources.iter());
    }
    Ok(plan)
}

/// A package with no archive whose paths differ from the kit's baseline: restore sets
/// metadata only along with the archive's entries, so it is listed as unrestorable (verify
/// flagged it; the plan must not call it intact).
fn recorded_drift(deep: &Deep, package: &Package, unavailable: String) -> Option<Unrestorable> {
    let mut drift = Vec::new();
    deep.check_recorded(package, &mut drift).ok()?;
    if drift.is_empty() {
        return None;
    }
    let drift: Vec<&Finding> = drift.iter().collect();
    let why = format!("{unavailable} (its metadata differs from the kit's baseline)");
    Some(Unrestorable::new(package, &drift, why))
}

/// What the plan says about the kit's baseline: that it is used, and what of it is not.
fn baseline_lines(report: &verify::Report) -> Vec<String> {
    let Some(recorded) = &report.recorded else {
        return Vec::new();
    };
    let mut lines = vec![format!(
        "expected metadata from the archives, statoverride and maintainer scripts, then the kit's baseline {} ({} paths): each path goes back to the host's recorded mode, owner, group and capabilities",
        escape(&recorded.file),
        recorded.baseline.len()
    )];
    lines.extend(recorded.dropped.iter().cloned());
    lines
}

/// One package's part of the plan.
struct Planned {
    actions: Vec<Action>,
    kept: Kept,
    notes: Vec<String>,
    script_notes: Vec<String>,
    /// Changes the archive asks for that restore will not make (see [`Plan::refused`]).
    refused: Vec<String>,
}

fn directory_is_empty(host: Option<&Path>) -> bool {
    host.and_then(|h| std::fs::read_dir(h).ok())
        .is_some_and(|mut entries| entries.next().is_none())
}

/// Everything one package's planning reads.
struct Context<'a> {
    root: &'a Root,
    db: &'a Database,
    deep: Deep<'a>,
    options: &'a Options,
    keep_budget: Budget,
}

/// Bytes of archive content planning may keep in memory for applying, shared by the
/// threads: a quarter of the memory available, at most 512 MiB (64 MiB when /proc cannot
/// tell). Past it, applying reads the archive again.
struct Budget(AtomicU64);

impl Budget {
    fn new() -> Budget {
        let available = crate::sys::sysinfo::Memory::read()
            .map(|memory| memory.available() * 1024 / 4)
            .unwrap_or(64 << 20);
        Budget(AtomicU64::new(available.min(512 << 20)))
    }

    /// Takes `bytes` from the budget, if it has them.
    fn take(&self, bytes: u64) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(bytes)
            })
            .is_ok()
    }
}

impl Context<'_> {
    /// Streams every package's archive against the disk, on every core (restore has no
    /// `--threads`), and adds what each plans, or why it cannot, to `plan`.
    fn plan_all(&self, jobs: Vec<(PackageArchive, Vec<&Finding>)>, plan: &mut Plan) {
        let size = |(found, _): &(PackageArchive, Vec<&Finding>)| found.archive.deb.size();
        let results =
            crate::sys::parallel::map_largest_first(jobs, 0, size, |(found, package_findings)| {
                let PackageArchive {
                    package,
                    files,
                    archive,
                } = found;
                let outcome = self.plan_package(package, &archive, &package_findings, &files);
                (package, archive, package_findings, outcome)
            });
        for (package, archive, package_findings, outcome) in results {
            match outcome {
                Ok(Planned {
                    actions,
                    kept,
                    notes,
                    script_notes,
                    refused,
                }) => {
                    plan.notes.extend(notes);
                    plan.script_notes.extend(script_notes);
                    plan.refused.extend(refused);
                    if !actions.is_empty() {
                        plan.packages.push(PackagePlan {
                            package: package.display_name(),
                            version: package.version.clone(),
                            deb: archive.deb,
                            trust: archive.trust,
                            actions,
                            kept,
                        });
                    }
                }
                Err(err) => plan.unrestorable.push(Unrestorable::new(
                    package,
                    &package_findings,
                    err.to_string(),
                )),
            }
        }
    }

    /// One package's actions: each entry of its archive's header index compared with what
    /// stands at its destination.
    fn plan_package(
        &self,
        package: &Package,
        archive: &Found,
        findings: &[&Finding],
        files: &PackageFiles,
    ) -> Result<Planned> {
        // Broken content is what will be written: kept from this read, within the budget.
        let broken: HashSet<&Path> = findings
            .iter()
            .filter(|f| f.kind != Kind::Attributes)
            .map(|f| f.listed.as_path())
            .collect();
        let mut keep = |entry: &DataEntry| {
            broken.contains(entry.path.as_path()) && self.keep_budget.take(entry.size)
        };
        let (headers, kept) = archive.index_keeping(&self.deep.headers, &mut keep)?;
        let mut planning = Planning::new(self, package, &archive.deb, findings, files);
        for indexed in &headers.entries {
            planning.entry(&indexed.entry, indexed.md5)?;
        }
        let mut planned = planning.finish(findings);
        let written: HashSet<&Path> = planned
            .actions
            .iter()
            .filter(|a| matches!(a.kind, ActionKind::WriteFile { .. }))
            .map(|a| a.entry.as_path())
            .collect();
        planned.kept = kept
            .into_iter()
            .filter(|(path, _)| written.contains(path.as_path()))
            .collect();
        Ok(planned)
    }

    /// The action that writes a missing `.list` back, when ROOT's database is the one in use
    /// (under `--admindir` elsewhere there is nothing inside ROOT to write).
    fn list_action(&self, package: &Package, text: Vec<u8>) -> Option<Action> {
        let host = self.db.info_path(package, "list");
        let inside = Path::new("/").join(host.strip_prefix(self.root.dir()).ok()?);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Some(Action {
            path: inside.clone(),
            entry: inside,
            kind: ActionKind::WriteList {
                content: text,
                meta: Metadata {
                    mode: 0o644,
                    uid: 0,
                    gid: 0,
                    mtime: now,
                    capability: None,
                },
            },
            reason: "missing: written again from the archive's file list".into(),
        })
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

/// One package's planning, as its archive streams by: each entry against what stands at its
/// destination.
struct Planning<'p> {
    context: &'p Context<'p>,
    package: &'p Package,
    deb: &'p Deb,
    md5sums: Option<&'p HashMap<PathBuf, [u8; 16]>>,
    owned: HashSet<&'p Path>,
    /// No `.list`: the archive's entries are what the package owns, and the list is written
    /// again from them, the way dpkg writes it at unpack (`/.` first).
    list_missing: bool,
    list_text: Vec<u8>,
    by_listed: HashMap<&'p Path, &'p Finding>,
    conffiles: HashMap<&'p Path, &'p ConffileHash>,
    symlink_entries: HashSet<PathBuf>,
    seen: HashSet<PathBuf>,
    /// The listed paths the archive has an entry for.
    covered: HashSet<PathBuf>,
    planned: Planned,
}

impl<'p> Planning<'p> {
    fn new(
        context: &'p Context<'p>,
        package: &'p Package,
        deb: &'p Deb,
        findings: &'p [&'p Finding],
        files: &'p PackageFiles,
    ) -> Planning<'p> {
        let conffiles = package
            .conffiles
            .iter()
            .filter(|c| !c.obsolete)
            .map(|c| (c.path.as_path(), &c.hash))
            .collect();
        Planning {
            context,
            package,
            deb,
            md5sums: files.md5sums.as_ref(),
            owned: owned_paths(files),
            list_missing: files.list.is_none() && package.state.has_files(),
            list_text: b"/.\n".to_vec(),
            by_listed: findings.iter().map(|f| (f.listed.as_path(), *f)).collect(),
            conffiles,
            symlink_entries: HashSet::new(),
            seen: HashSet::new(),
            covered: HashSet::new(),
            planned: Planned {
                actions: Vec::new(),
                kept: Kept::new(),
                notes: Vec::new(),
                script_notes: Vec::new(),
                refused: Vec::new(),
            },
        }
    }

    /// One archive entry (`md5`: its content's, for a file): refused if hostile, recorded for
    /// the list, then compared.
    fn entry(&mut self, entry: &DataEntry, md5: Option<[u8; 16]>) -> Result<()> {
        refuse_hostile(self.deb, entry, &self.symlink_entries, &self.seen)?;
        self.seen.insert(entry.path.clone());
        if self.list_missing {
            let bytes = crate::dpkg::path_bytes(&entry.path);
            if bytes != b"/" {
                self.list_text.extend_from_slice(bytes);
                self.list_text.push(b'\n');
            }
        }
        if entry.kind == EntryKind::Symlink {
            self.symlink_entries.insert(entry.path.clone());
        }
        // dpkg's lists, not the archive, say what the package owns now: a path another
        // package took over (Replaces:) is not this package's to put back.
        if !self.list_missing && !self.owned.contains(entry.path.as_path()) {
            return Ok(());
        }
        self.covered.insert(entry.path.clone());
        let context = self.context;
        if context.deep.is_broken_alias(&entry.path) {
            return Ok(());
        }
        let dest = context.deep.destination(&self.package.name, &entry.path);
        let host = context.root.resolve(&dest, Last::NoFollow).ok();
        let disk = host
            .as_ref()
            .and_then(|h| std::fs::symlink_metadata(h).ok());
        let (host, disk) = (host.as_deref(), disk.as_ref());
        let wanted = Target::new(context, self.package, entry, &dest, host, disk);
        match entry.kind {
            EntryKind::Directory => self.directory(&wanted, disk),
            EntryKind::File | EntryKind::HardLink => self.file(&wanted, disk, md5),
            EntryKind::Symlink => self.symlink(&wanted, host, disk),
            // Refused by refuse_hostile before we get here.
            EntryKind::CharDevice | EntryKind::BlockDevice | EntryKind::Fifo => {}
        }
        Ok(())
    }

    fn push(&mut self, wanted: &Target, kind: ActionKind, reason: String) {
        self.planned.actions.push(Action {
            path: wanted.dest.to_path_buf(),
            entry: wanted.entry.path.clone(),
            kind,
            reason,
        });
    }

    fn directory(&mut self, wanted: &Target, disk: Option<&std::fs::Metadata>) {
        let script_notes = &mut self.planned.script_notes;
        match disk {
            None => {
                let meta = wanted.rewrite(script_notes);
                let kind = ActionKind::MakeDirectory {
                    meta,
                    replace: false,
                };
                self.push(wanted, kind, "missing".into());
            }
            Some(d) if d.is_dir() => {
                let meta = wanted.keep_script_values(script_notes);
                if let Some(why) = attribute_drift(d, None, &meta, false) {
                    self.push(wanted, ActionKind::SetAttributes { meta }, why);
                }
            }
            // A symlink to a directory stands in for it (dpkg's rule: never replaced).
            Some(d) if d.file_type().is_symlink() => {}
            Some(d) => {
                let meta = wanted.rewrite(script_notes);
                let kind = ActionKind::MakeDirectory {
                    meta,
                    replace: true,
                };
                let why = format!("a {} stands where a directory belongs", kind_name(d));
                self.push(wanted, kind, why);
            }
        }
    }

    /// A file or hard link entry: written again when its content is wrong (a modified
    /// conffile only with `--conffiles`), else its attributes set.
    fn file(
        &mut self,
        wanted: &Target,
        disk: Option<&std::fs::Metadata>,
        content_md5: Option<[u8; 16]>,
    ) {
        let (entry, dest) = (wanted.entry, wanted.dest);
        let expected_md5 = self.expected_md5(&entry.path);
        let finding = self.by_listed.get(entry.path.as_path()).copied();
        let context = self.context;
        let problem = context.content_problem(finding, dest, disk, expected_md5.as_deref(), entry);
        let Some(why) = problem else {
            if let (EntryKind::File, Some(d)) = (entry.kind, disk) {
                self.file_attributes(wanted, d);
            }
            return;
        };
        let is_conffile = self.conffiles.contains_key(entry.path.as_path());
        if is_conffile && disk.is_some() && !self.context.options.conffiles {
            self.planned.notes.push(format!(
                "{}: conffile {} was modified ({why}); kept (use --conffiles to restore it)",
                self.package.display_name(),
                escape(dest)
            ));
            return;
        }
        if entry.kind == EntryKind::HardLink {
            let to = entry.link_target.clone().unwrap_or_default();
            let to = self.context.deep.destination(&self.package.name, &to);
            self.push(wanted, ActionKind::HardLink { to }, why);
            return;
        }
        // Prove the archive's content is what the database recorded before planning to
        // write it (the index hashed it when the archive was read in full).
        if let Some(expected) = &expected_md5 {
            let actual = content_md5.map(|d| digest_hex(&d)).unwrap_or_default();
            if &actual != expected {
                self.planned.notes.push(format!(
                    "{}: {} refused: the archive's content has md5 {actual}, \
                     ROOT's database records {expected}",
                    self.package.display_name(),
                    escape(dest)
                ));
                return;
            }
        }
        let meta = wanted.rewrite(&mut self.planned.script_notes);
        let kind = ActionKind::WriteFile {
            meta,
            md5: expected_md5,
        };
        self.push(wanted, kind, why);
    }

    /// A file whose content stays: its mode, owner, group, mtime and capabilities.
    fn file_attributes(&mut self, wanted: &Target, disk: &std::fs::Metadata) {
        let meta = wanted.keep_script_values(&mut self.planned.script_notes);
        if let Some(why) = attribute_drift(disk, wanted.capability(), &meta, true) {
            self.push(wanted, ActionKind::SetAttributes { meta }, why);
        }
    }

    /// The md5 ROOT's database records for `path`: its md5sums, else its conffile hash.
    fn expected_md5(&self, path: &Path) -> Option<String> {
        self.md5sums
            .and_then(|md5sums| md5sums.get(path))
            .map(|digest| digest_hex(digest))
            .or_else(|| match self.conffiles.get(path) {
                Some(ConffileHash::Md5(digest)) => Some(digest_hex(digest)),
                _ => None,
            })
    }

    fn symlink(&mut self, wanted: &Target, host: Option<&Path>, disk: Option<&std::fs::Metadata>) {
        let (entry, dest) = (wanted.entry, wanted.dest);
        let meta = wanted.rewrite(&mut self.planned.script_notes);
        let target = entry.link_target.clone().unwrap_or_default();
        match disk {
            Some(d) if d.file_type().is_symlink() => {
                let current = host.and_then(|h| std::fs::read_link(h).ok());
                if current.as_deref() != Some(target.as_path()) {
                    let was = current.map(escape).unwrap_or_default();
                    let why = format!("points to {was}");
                    self.push(wanted, ActionKind::Symlink { target, meta }, why);
                } else if d.uid() != meta.uid || d.gid() != meta.gid {
                    let why = format!("owner {}:{}", d.uid(), d.gid());
                    self.push(wanted, ActionKind::SetAttributes { meta }, why);
                }
            }
            // dpkg never puts a symlink where a directory with contents stands (packages
            // move such a directory themselves, dir_to_symlink): the whole tree, other
            // packages' files too, would go.
            Some(d) if d.is_dir() && !directory_is_empty(host) => {
                self.planned.refused.push(format!(
                    "{}: {}: the archive has a symlink to {} where a directory with contents \
                     stands; refused (dpkg never replaces such a directory)",
                    self.package.display_name(),
                    escape(dest),
                    escape(&target)
                ));
            }
            Some(d) => {
                let why = format!("a {} stands where a symlink belongs", kind_name(d));
                self.push(wanted, ActionKind::Symlink { target, meta }, why);
            }
            None => self.push(
                wanted,
                ActionKind::Symlink { target, meta },
                "missing".into(),
            ),
        }
    }

    /// The package's part of the plan, with its `.list` written again when it was missing,
    /// and a note for each broken listed path the archive does not ship.
    fn finish(mut self, findings: &[&Finding]) -> Planned {
        if self.list_missing {
            let text = std::mem::take(&mut self.list_text);
            if let Some(action) = self.context.list_action(self.package, text) {
                self.covered.insert(action.path.clone());
                self.planned.actions.push(action);
            }
        }
        for finding in findings {
            if !self.covered.contains(&finding.listed) && finding.kind != Kind::Attributes {
                self.planned.notes.push(format!(
                    "{}: {} is listed by dpkg but not in the archive (created by a maintainer \
                     script?): not restored",
                    self.package.display_name(),
                    escape(&finding.path)
                ));
            }
        }
        self.planned
    }
}

/// The metadata one entry must end with at its destination, from the same rules verify
/// checks: the archive's header, statoverride, then the maintainer scripts. What a script set
/// is never changed without proof: a value it computes at run time is kept as it stands on
/// disk, and so is, on a file whose content is fine, whatever a script manages.
struct Target<'a> {
    package: &'a Package,
    entry: &'a DataEntry,
    dest: &'a Path,
    expectation: Expectation,
    disk: Option<&'a std::fs::Metadata>,
    /// The raw `security.capability` on disk (regular files).
    capability: Option<Vec<u8>>,
    host_root: bool,
    root_dir: &'a Path,
    /// Statoverride names ROOT's accounts lack (see [`Deep::unresolved`]).
    unresolved: Vec<(Attr, String)>,
}

impl<'a> Target<'a> {
    fn new(
        context: &Context<'a>,
        package: &'a Package,
        entry: &'a DataEntry,
        dest: &'a Path,
        host: Option<&Path>,
        disk: Option<&'a std::fs::Metadata>,
    ) -> Target<'a> {
        let expectation = context.deep.expectation(&package.name, entry, dest);
        let unresolved = context.deep.unresolved(entry, dest, &expectation);
        // The disk counts only when it holds the same kind of thing.
        let disk = disk.filter(|d| FileKind::of(d.file_type()) == expectation.archive.kind);
        let capability = match (disk, host) {
            (Some(d), Some(host)) if d.is_file() => {
                xattr::get(host, capability::XATTR_NAME).ok().flatten()
            }
            _ => None,
        };
        Target {
            package,
            entry,
            dest,
            expectation,
            disk,
            capability,
            host_root: context.root.is_host_root(),
            root_dir: context.root.dir(),
            unresolved,
        }
    }

    fn capability(&self) -> Option<&[u8]> {
        self.capability.as_deref()
    }

    fn on_disk(&self) -> Option<OnDisk<'_>> {
        self.disk.map(|meta| OnDisk {
            meta,
            link_target: None,
            capability: self.capability.as_deref(),
        })
    }

    /// For a path whose content stays: the outcome the disk matches, else the primary one
    /// with every attribute a script manages kept as it stands (and a note that says so).
    fn keep_script_values(&self, notes: &mut Vec<String>) -> Metadata {
        if !self.unresolved.is_empty() {
            if let Some(disk) = self.disk {
                // Nothing about this path's owner and special bits can be proven: as it is.
                notes.push(format!(
                    "{}: {}: left as it is: {}",
                    self.package.display_name(),
                    escape(self.dest),
                    self.unresolved_text()
                ));
                let mut meta = self.metadata(&self.expectation.primary().expected);
                meta.mode = disk.mode() & 0o7777;
                meta.uid = disk.uid();
                meta.gid = disk.gid();
                return meta;
            }
        }
        let matched = self.on_disk().and_then(|d| self.expectation.matching(&d));
        let outcome = matched.unwrap_or_else(|| self.expectation.primary());
        let mut meta = self.metadata(&outcome.expected);
        let keep = match matched {
            Some(outcome) => outcome.undetermined.clone(),
            None => self.expectation.script_attrs(),
        };
        let before = meta;
        for attr in &keep {
            self.take_from_disk(&mut meta, *attr);
        }
        if matched.is_none() && meta != before {
            let wanted = describe_metadata(&before, &keep);
            let kept = describe_metadata(&meta, &keep);
            notes.push(format!(
                "{}: {}: {kept} differs from what {} sets ({wanted}); left alone: a script's settings are not changed without proof ({} re-applies them)",
                self.package.display_name(),
                escape(self.dest),
                self.expectation.by(),
                self.reconfigure()
            ));
        }
        meta
    }

    /// For a path written anew: the outcome the old file matches, else the primary one; a
    /// value no script run can tell is taken from the file replaced, or the archive's when
    /// there is none (and the summary says how to have the script set it).
    fn rewrite(&self, notes: &mut Vec<String>) -> Metadata {
        let matched = self.on_disk().and_then(|d| self.expectation.matching(&d));
        let outcome = matched.unwrap_or_else(|| self.expectation.primary());
        let mut meta = self.metadata(&outcome.expected);
        if !self.unresolved.is_empty() {
            notes.push(format!(
                "{}: {}: written as {:04o} {}:{}, without setuid/setgid: {}",
                self.package.display_name(),
                escape(self.dest),
                meta.mode,
                meta.uid,
                meta.gid,
                self.unresolved_text()
            ));
        }
        if outcome.undetermined.is_empty() {
            return meta;
        }
        if self.disk.is_some() {
            for attr in &outcome.undetermined {
                self.take_from_disk(&mut meta, *attr);
            }
        } else {
            let names: Vec<&str> = outcome.undetermined.iter().map(|a| a.name()).collect();
            notes.push(format!(
                "{}: {}: its {} {} set by {} to a value not known here; written with the archive's ({} re-applies it)",
                self.package.display_name(),
                escape(self.dest),
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" },
                self.expectation.by(),
                self.reconfigure()
            ));
        }
        meta
    }

    /// `statoverride names group 'crontab', which ROOT's accounts do not have`.
    fn unresolved_text(&self) -> String {
        let each: Vec<String> = self
            .unresolved
            .iter()
            .map(|(attr, name)| {
                let what = if *attr == Attr::User { "user" } else { "group" };
                format!("{what} '{name}'")
            })
            .collect();
        format!(
            "its statoverride names {}, which ROOT's accounts do not have (put back /etc/passwd and /etc/group, then restore again)",
            each.join(" and ")
        )
    }

    fn metadata(&self, expected: &Expected) -> Metadata {
        Metadata {
            mode: expected.mode,
            uid: expected.uid.unwrap_or(self.entry.uid),
            gid: expected.gid.unwrap_or(self.entry.gid),
            mtime: self.entry.mtime,
            capability: expected.capability,
        }
    }

    fn take_from_disk(&self, meta: &mut Metadata, attr: Attr) {
        let Some(disk) = self.disk else { return };
        match attr {
            Attr::Mode => meta.mode = disk.mode() & 0o7777,
            Attr::User => meta.uid = disk.uid(),
            Attr::Group => meta.gid = disk.gid(),
            Attr::Caps => {
                meta.capability = self
                    .capability
                    .as_deref()
                    .and_then(|raw| FileCaps::from_xattr(raw).ok())
            }
            _ => {}
        }
    }

    /// The command that runs the managing packages' postinst again.
    fn reconfigure(&self) -> String {
        let mut packages: Vec<&str> = self
            .expectation
            .managed_by
            .iter()
            .map(|m| m.package.as_str())
            .collect();
        packages.dedup();
        let chroot = if self.host_root {
            String::new()
        } else {
            format!("chroot {} ", shell_word(self.root_dir))
        };
        let words: Vec<String> = packages.iter().map(shell_word).collect();
        format!("`{chroot}dpkg-reconfigure {}`", words.join(" "))
    }
}

/// `mode 2755, group 101`: the attributes named, as `meta` has them.
fn describe_metadata(meta: &Metadata, attrs: &[Attr]) -> String {
    let each: Vec<String> = attrs
        .iter()
        .filter_map(|attr| match attr {
            Attr::Mode => Some(format!("mode {:04o}", meta.mode)),
            Attr::User => Some(format!("owner {}", meta.uid)),
            Attr::Group => Some(format!("group {}", meta.gid)),
            Attr::Caps => Some(format!(
                "capabilities {}",
                meta.capability
                    .map_or_else(|| "none".to_string(), |c| c.to_string())
            )),
            _ => None,
        })
        .collect();
    each.join(", ")
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
                escape(&entry.path)
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
                    escape(&entry.path),
                    escape(&prefix)
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
                    escape(&entry.path),
                    escape(target)
                ),
            ));
        }
    }
    Ok(())
}

/// Mode, owner, group (and mtime and capabilities for files) differences, described for the
/// plan.
fn attribute_drift(
    disk: &std::fs::Metadata,
    capability: Option<&[u8]>,
    meta: &Metadata,
    is_file: bool,
) -> Option<String> {
    let with_mtime = is_file;
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
    if is_file && !capability_matches(meta.capability.as_ref(), capability) {
        what.push(format!(
            "capabilities {} instead of {}",
            capability
                .map(|raw| FileCaps::from_xattr(raw)
                    .map_or_else(|err| format!("unreadable ({err})"), |c| c.to_string()))
                .unwrap_or_else(|| "none".into()),
            meta.capability
                .map_or_else(|| "none".to_string(), |c| c.to_string())
        ));
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
    let mut uris: Vec<String> = sources::apt_sources::read(root)
        .into_iter()
        .map(|s| s.uri.replacen("https://", "http://", 1))
        .filter(|uri| uri.starts_with("http://") && !tried.contains(uri))
        .collect();
    uris.dedup();
    let root_flag = if root.is_host_root() {
        String::new()
    } else {
        format!(" --root {}", shell_word(root.dir()))
    };
    if uris.is_empty() {
        return Some(format!(
            "rescue restore{root_flag} --from DIR_OF_DEBS (a directory holding the installed versions' .debs)"
        ));
    }
    // The URIs come from ROOT's apt sources: quoted, they stay one argument each.
    let from: Vec<String> = uris
        .iter()
        .map(|u| format!("--from {}", shell_word(u)))
        .collect();
    Some(format!("rescue restore{root_flag} {}", from.join(" ")))
}
