//! Carrying out a [`Plan`]: alias repairs first (every `/lib/...` path depends on them), then
//! the packages phase by phase — their directories, their files and symlinks (staged on
//! every core, each archive read at most once, committed together with one sync), their hard
//! links, lists and attribute fixes — and last a verify of what was restored. Each phase
//! journals all its steps with one flush. A package that fails part-way is reported and its
//! staged files discarded; the others go on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::apply::{Metadata, Node, Reserved, Run, Staged};
use super::plan::{Action, ActionKind, PackagePlan, Plan};
use super::undo;
use crate::dpkg::Database;
use crate::sys::quoting::escape;
use crate::sys::root::Root;
use crate::verify::{self, AliasState};
use crate::Result;

#[derive(Debug, Default)]
pub struct Outcome {
    pub run: String,
    /// The run's directory inside ROOT.
    pub run_dir: PathBuf,
    pub applied: usize,
    /// (package, why) for packages that could not be finished.
    pub failed: Vec<(String, String)>,
    pub leftovers_removed: usize,
    /// Earlier runs whose journals could not be read, or named paths that were not acted
    /// on, found by the start-up cleanup: reported, never fatal.
    pub warnings: Vec<String>,
    /// Findings that remain when the restored packages are verified again.
    pub still_broken: Vec<String>,
    /// Actions whose result on disk is not what the plan wanted (type, mode, owner,
    /// capabilities, link target, mtime): the re-check of what was written.
    pub mismatched: Vec<String>,
    pub packages_verified: usize,
}

pub fn execute(root: &Root, db: &Database, plan: &Plan, now_unix: i64) -> Result<Outcome> {
    let cleanup = undo::clean_leftovers(root)?;
    let mut outcome = Outcome {
        leftovers_removed: cleanup.removed,
        warnings: cleanup.warnings,
        ..Outcome::default()
    };
    let mut run = Run::begin(root, now_unix)?;
    outcome.run = run.id().to_string();
    outcome.run_dir = Path::new(super::apply::BACKUP_ROOT).join(run.id());

    for repair in &plan.aliases {
        let meta = Metadata {
            mode: 0o777,
            uid: 0,
            gid: 0,
            mtime: now_unix,
            capability: None,
        };
        if matches!(repair.state, AliasState::Directory | AliasState::Other(_)) {
            run.move_aside(&repair.alias)?;
        }
        let staged = run.stage(
            &repair.alias,
            Node::Symlink {
                target: &repair.target,
            },
            &meta,
        )?;
        run.commit(vec![staged])?;
        outcome.applied += 1;
    }

    let mut packages = Packages::new(&plan.packages);
    outcome.applied += packages.apply(&mut run)?;
    outcome.failed = packages.failed();
    run.finish()?;

    // Verify again what was touched: every package the plan restored.
    let names: Vec<String> = plan.packages.iter().map(|p| p.package.clone()).collect();
    if !names.is_empty() {
        let (packages, _) = db.select(&names);
        outcome.packages_verified = packages.len();
        // The digest cache is keyed by inode and ctime: every file written here is hashed
        // again, and only what stayed untouched is taken from it.
        let options = verify::Options {
            use_cache: plan.use_cache,
            ..verify::Options::default()
        };
        // Every action's result against what the plan wanted (type, mode, owner, link
        // target, mtime): the attributes verify's database checks cannot see, without
        // decompressing the archives a third time.
        let mut mismatched = Vec::new();
        for planned in &plan.packages {
            for action in &planned.actions {
                if let Some(why) = check_action(root, action) {
                    mismatched.push(format!(
                        "{}: {} ({why})",
                        planned.package,
                        escape(&action.path)
                    ));
                }
            }
        }
        outcome.mismatched = mismatched;
        let report = verify::verify(root, db, &packages, &options, None)?;
        outcome.still_broken = report
            .findings
            .iter()
            .map(|f| format!("{}: {} ({})", f.package, escape(&f.path), f.kind.name()))
            .chain(
                report
                    .aliases
                    .iter()
                    .map(|a| format!("alias {}", escape(&a.alias))),
            )
            .collect();
    }
    Ok(outcome)
}

/// Stages one package's picked actions at their reserved names ([`stage_content`],
/// [`stage_links`]).
type StageFn = fn(&Run, &PackagePlan, Vec<(&Action, Reserved)>) -> Result<Vec<Staged>>;

/// The plan's packages as they are applied, phase by phase across all of them, so that
/// each phase costs one journal flush and one sync however many packages there are. A
/// package that fails in one phase is reported and left out of the later ones; the others
/// go on.
struct Packages<'p> {
    plans: &'p [PackagePlan],
    failed: Vec<Option<String>>,
}

impl<'p> Packages<'p> {
    fn new(plans: &'p [PackagePlan]) -> Packages<'p> {
        Packages {
            plans,
            failed: vec![None; plans.len()],
        }
    }

    fn failed(&self) -> Vec<(String, String)> {
        self.plans
            .iter()
            .zip(&self.failed)
            .filter_map(|(plan, why)| why.clone().map(|why| (plan.package.clone(), why)))
            .collect()
    }

    /// Directories, then files and symlinks, hard links, lists and attributes: the number of
    /// actions applied.
    fn apply(&mut self, run: &mut Run) -> Result<usize> {
        let mut applied = 0;
        for (at, plan) in self.plans.iter().enumerate() {
            match make_directories(run, plan) {
                Ok(made) => applied += made,
                Err(err) => self.failed[at] = Some(err.to_string()),
            }
        }
        applied += self.write(run, is_content, stage_content)?;
        // Hard links need their targets in place.
        applied += self.write(run, is_hard_link, stage_links)?;
        for (at, plan) in self.plans.iter().enumerate() {
            if self.failed[at].is_some() {
                continue;
            }
            match finish_package(run, plan) {
                Ok(count) => applied += count,
                Err(err) => self.failed[at] = Some(err.to_string()),
            }
        }
        Ok(applied)
    }

    /// The actions `wanted` picks, of every package still going: their temporary names
    /// journalled at once, staged by `stage` on every core (the largest archives first),
    /// committed with one sync.
    fn write(
        &mut self,
        run: &mut Run,
        wanted: fn(&ActionKind) -> bool,
        stage: StageFn,
    ) -> Result<usize> {
        let mut going: Vec<(usize, Vec<&Action>)> = Vec::new();
        for (at, plan) in self.plans.iter().enumerate() {
            let actions: Vec<&Action> = plan.actions.iter().filter(|a| wanted(&a.kind)).collect();
            if self.failed[at].is_none() && !actions.is_empty() {
                going.push((at, actions));
            }
        }
        let groups = going
            .iter()
            .map(|(_, actions)| actions.iter().map(|a| a.path.as_path()).collect())
            .collect();
        let reserved = run.reserve(groups)?;
        let jobs: Vec<_> = going.into_iter().zip(reserved).collect();
        let size = |((at, _), _): &((usize, _), _)| self.plans[*at].deb.size();
        let shared: &Run = run;
        let staged =
            crate::sys::parallel::map_largest_first(jobs, 0, size, |((at, actions), reserved)| {
                let plan = &self.plans[at];
                let staged = reserved.and_then(|reserved| {
                    let pairs = actions.into_iter().zip(reserved).collect();
                    stage(shared, plan, pairs)
                });
                (at, staged)
            });
        let mut batches = Vec::new();
        let mut committing = Vec::new();
        for (at, staged) in staged {
            match staged {
                Ok(staged) => {
                    committing.push(at);
                    batches.push(staged);
                }
                Err(err) => self.failed[at] = Some(err.to_string()),
            }
        }
        let count: Vec<usize> = batches.iter().map(Vec::len).collect();
        let mut applied = 0;
        for ((at, result), count) in committing
            .into_iter()
            .zip(run.commit_many(batches)?)
            .zip(count)
        {
            match result {
                Ok(()) => applied += count,
                Err(err) => self.failed[at] = Some(err.to_string()),
            }
        }
        Ok(applied)
    }
}

fn is_content(kind: &ActionKind) -> bool {
    matches!(
        kind,
        ActionKind::WriteFile { .. } | ActionKind::Symlink { .. }
    )
}

fn is_hard_link(kind: &ActionKind) -> bool {
    matches!(kind, ActionKind::HardLink { .. })
}

/// One package's directories, parents before children (archive order), one journal flush;
/// a directory standing in the way is moved aside first.
fn make_directories(run: &mut Run, package: &PackagePlan) -> Result<usize> {
    let mut directories = Vec::new();
    for action in &package.actions {
        if let ActionKind::MakeDirectory { meta, replace } = &action.kind {
            if *replace {
                run.move_aside(&action.path)?;
            }
            directories.push((action.path.as_path(), meta));
        }
    }
    run.make_directories(&directories)
}

/// One package's files and symlinks at their reserved names: symlinks from the plan alone,
/// files from one pass over the archive, each checked against ROOT's md5 as it is written.
/// On an error nothing of the package stays staged.
fn stage_content(
    run: &Run,
    package: &PackagePlan,
    actions: Vec<(&Action, Reserved)>,
) -> Result<Vec<Staged>> {
    let mut staged = Vec::new();
    let mut files: HashMap<&Path, (&Action, Reserved)> = HashMap::new();
    for (action, reserved) in actions {
        match &action.kind {
            ActionKind::Symlink { target, meta } => {
                match run.stage_at(reserved, Node::Symlink { target }, meta) {
                    Ok(item) => staged.push(item),
                    Err(err) => return Err(give_up(run, staged, files.into_values(), err)),
                }
            }
            _ => {
                files.insert(action.entry.as_path(), (action, reserved));
            }
        }
    }
    // Content planning kept from its read of the archive first: the archive is read again
    // only for what it did not keep.
    let from_memory: Vec<&Path> = files
        .keys()
        .copied()
        .filter(|path| package.kept.contains_key(*path))
        .collect();
    for path in from_memory {
        let (Some((action, reserved)), Some(content)) =
            (files.remove(path), package.kept.get(path))
        else {
            continue;
        };
        if let ActionKind::WriteFile { meta, md5 } = &action.kind {
            let node = Node::File {
                content: &mut content.as_slice(),
                md5: md5.as_deref(),
            };
            match run.stage_at(reserved, node, meta) {
                Ok(item) => staged.push(item),
                Err(err) => return Err(give_up(run, staged, files.into_values(), err)),
            }
        }
    }
    if files.is_empty() {
        return Ok(staged);
    }
    let streamed = package.deb.for_each_entry(|entry, content| {
        let Some((action, reserved)) = files.remove(entry.path.as_path()) else {
            return Ok(());
        };
        if let ActionKind::WriteFile { meta, md5 } = &action.kind {
            let node = Node::File {
                content,
                md5: md5.as_deref(),
            };
            staged.push(run.stage_at(reserved, node, meta)?);
        }
        Ok(())
    });
    let missing = files.keys().next().map(|path| {
        crate::Error::refused(
            package.deb.path(),
            format!("{} is not in the archive", escape(path)),
        )
    });
    match streamed.err().or(missing) {
        Some(err) => Err(give_up(run, staged, files.into_values(), err)),
        None => Ok(staged),
    }
}

/// One package's hard links, to targets already in place.
fn stage_links(
    run: &Run,
    _package: &PackagePlan,
    actions: Vec<(&Action, Reserved)>,
) -> Result<Vec<Staged>> {
    let meta = Metadata {
        mode: 0,
        uid: 0,
        gid: 0,
        mtime: 0,
        capability: None,
    };
    let mut staged = Vec::new();
    let mut actions = actions.into_iter();
    while let Some((action, reserved)) = actions.next() {
        let ActionKind::HardLink { to } = &action.kind else {
            continue;
        };
        match run.stage_at(reserved, Node::HardLink { to }, &meta) {
            Ok(item) => staged.push(item),
            Err(err) => return Err(give_up(run, staged, actions, err)),
        }
    }
    Ok(staged)
}

/// Removes what a failing package staged and the names it reserved but did not write.
fn give_up<'a>(
    run: &Run,
    staged: Vec<Staged>,
    unwritten: impl Iterator<Item = (&'a Action, Reserved)>,
    err: crate::Error,
) -> crate::Error {
    run.discard(staged);
    run.unreserve(unwritten.map(|(_, reserved)| reserved).collect());
    err
}

/// The package's list, when missing (it names what is now in place), then its attribute
/// fixes with one journal flush.
fn finish_package(run: &mut Run, package: &PackagePlan) -> Result<usize> {
    let mut applied = 0;
    for action in &package.actions {
        if let ActionKind::WriteList { content, meta } = &action.kind {
            let staged = run.stage(
                &action.path,
                Node::File {
                    content: &mut content.as_slice(),
                    md5: None,
                },
                meta,
            )?;
            run.commit(vec![staged])?;
            applied += 1;
        }
    }
    let attributes: Vec<(&Path, &Metadata)> = package
        .actions
        .iter()
        .filter_map(|action| match &action.kind {
            ActionKind::SetAttributes { meta } => Some((action.path.as_path(), meta)),
            _ => None,
        })
        .collect();
    run.set_attributes_many(&attributes)?;
    Ok(applied + attributes.len())
}

/// What differs between `action`'s intended result and what stands at its path now.
fn check_action(root: &Root, action: &super::plan::Action) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let host = root
        .resolve(&action.path, crate::sys::root::Last::NoFollow)
        .ok()?;
    let Ok(disk) = std::fs::symlink_metadata(&host) else {
        return Some("missing".into());
    };
    let (meta, want_kind) = match &action.kind {
        ActionKind::MakeDirectory { meta, .. } => (meta, "directory"),
        ActionKind::WriteFile { meta, .. }
        | ActionKind::SetAttributes { meta }
        | ActionKind::WriteList { meta, .. } => (meta, ""),
        ActionKind::Symlink { target, meta } => {
            if std::fs::read_link(&host).ok().as_deref() != Some(target.as_path()) {
                return Some("symlink target".into());
            }
            (meta, "symlink")
        }
        ActionKind::HardLink { .. } => return None,
    };
    if want_kind == "directory" && !disk.is_dir()
        || want_kind == "symlink" && !disk.file_type().is_symlink()
    {
        return Some(format!("not a {want_kind}"));
    }
    if disk.uid() != meta.uid || disk.gid() != meta.gid {
        return Some("owner".into());
    }
    if !disk.file_type().is_symlink() && disk.mode() & 0o7777 != meta.mode {
        return Some("mode".into());
    }
    if disk.is_file() && disk.mtime() != meta.mtime {
        return Some("mtime".into());
    }
    if disk.is_file() {
        let raw = crate::sys::xattr::get(&host, crate::sys::capability::XATTR_NAME)
            .ok()
            .flatten();
        if !crate::verify::attrs::capability_matches(meta.capability.as_ref(), raw.as_deref()) {
            return Some("capabilities".into());
        }
    }
    None
}
