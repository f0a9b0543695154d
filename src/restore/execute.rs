//! Carrying out a [`Plan`]: alias repairs first (every `/lib/...` path depends on them), then
//! each package in turn — its directories, its files staged from one pass over the archive and
//! committed together, its hard links, its attribute fixes — and last a verify of what was
//! restored. A package that fails part-way is reported and its staged files discarded; the
//! others go on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::apply::{Metadata, Node, Run, Staged};
use super::plan::{ActionKind, Plan};
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

    for package in &plan.packages {
        match apply_package(&mut run, package) {
            Ok(count) => outcome.applied += count,
            Err(err) => outcome
                .failed
                .push((package.package.clone(), err.to_string())),
        }
    }
    run.finish()?;

    // Verify again what was touched: every package the plan restored.
    let names: Vec<String> = plan.packages.iter().map(|p| p.package.clone()).collect();
    if !names.is_empty() {
        let (packages, _) = db.select(&names);
        outcome.packages_verified = packages.len();
        let options = verify::Options {
            use_cache: false,
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

fn apply_package(run: &mut Run, package: &super::plan::PackagePlan) -> Result<usize> {
    let mut applied = 0;
    // Directories first, parents before children (archive order).
    for action in &package.actions {
        if let ActionKind::MakeDirectory { meta, replace } = &action.kind {
            if *replace {
                run.move_aside(&action.path)?;
            }
            if run.make_directory(&action.path, meta)? {
                applied += 1;
            }
        }
    }
    // Files and symlinks: staged in one pass over the archive, committed together.
    let wanted: HashMap<&Path, &super::plan::Action> = package
        .actions
        .iter()
        .filter(|a| {
            matches!(
                a.kind,
                ActionKind::WriteFile { .. } | ActionKind::Symlink { .. }
            )
        })
        .map(|a| (a.entry.as_path(), a))
        .collect();
    if !wanted.is_empty() {
        let mut staged: Vec<Staged> = Vec::new();
        let result = package.deb.for_each_entry(|entry, content| {
            let Some(action) = wanted.get(entry.path.as_path()) else {
                return Ok(());
            };
            let item = match &action.kind {
                ActionKind::WriteFile { meta, md5 } => run.stage(
                    &action.path,
                    Node::File {
                        content,
                        md5: md5.as_deref(),
                    },
                    meta,
                )?,
                ActionKind::Symlink { target, meta } => {
                    run.stage(&action.path, Node::Symlink { target }, meta)?
                }
                _ => return Ok(()),
            };
            staged.push(item);
            Ok(())
        });
        if let Err(err) = result {
            run.discard(staged);
            return Err(err);
        }
        applied += staged.len();
        run.commit(staged)?;
    }
    // Hard links need their targets in place.
    let mut links = Vec::new();
    for action in &package.actions {
        if let ActionKind::HardLink { to } = &action.kind {
            let meta = Metadata {
                mode: 0,
                uid: 0,
                gid: 0,
                mtime: 0,
                capability: None,
            };
            match run.stage(&action.path, Node::HardLink { to }, &meta) {
                Ok(staged) => links.push(staged),
                Err(err) => {
                    run.discard(links);
                    return Err(err);
                }
            }
        }
    }
    applied += links.len();
    run.commit(links)?;
    // The package's list last: it names what is now in place.
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
    for action in &package.actions {
        if let ActionKind::SetAttributes { meta } = &action.kind {
            run.set_attributes(&action.path, meta)?;
            applied += 1;
        }
    }
    Ok(applied)
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
