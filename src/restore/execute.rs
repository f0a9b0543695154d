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
    /// Findings that remain when the restored packages are verified again.
    pub still_broken: Vec<String>,
    pub packages_verified: usize,
}

pub fn execute(root: &Root, db: &Database, plan: &Plan, now_unix: i64) -> Result<Outcome> {
    let mut outcome = Outcome {
        leftovers_removed: undo::clean_interrupted(root)?,
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
        let mut report = verify::verify(root, db, &packages, &options, None)?;
        // And against the archives, as the plan was made: attributes too, not just content.
        let deep = verify::deep::Deep::new(root, db, &report.aliases);
        for planned in &plan.packages {
            if let Some(package) = packages
                .iter()
                .find(|p| p.display_name() == planned.package)
            {
                deep.check_package(package, &planned.deb, &mut report.findings)?;
            }
        }
        outcome.still_broken = report
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{}: {} ({})",
                    f.package,
                    super::plan::shown(&f.path),
                    f.kind.name()
                )
            })
            .chain(
                report
                    .aliases
                    .iter()
                    .map(|a| format!("alias {}", a.alias.display())),
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
            };
            links.push(run.stage(&action.path, Node::HardLink { to }, &meta)?);
        }
    }
    applied += links.len();
    run.commit(links)?;
    for action in &package.actions {
        if let ActionKind::SetAttributes { meta } = &action.kind {
            run.set_attributes(&action.path, meta)?;
            applied += 1;
        }
    }
    Ok(applied)
}
