//! usage: rescue restore [--root DIR] [--admindir DIR] [--from SRC]... [--conffiles]
//!                       [--dry-run] [-y|--yes] [--no-cache] [--ignore-lock] [--kit DIR] [PKG...]
//!
//! Put back exactly what is broken among the package-owned files under ROOT (default `/`), from
//! the installed versions' `.deb` archives: missing or changed files, symlinks, directories,
//! modes (setuid), owners, groups, mtimes and file capabilities, statoverride and the
//! maintainer scripts' settings applied, and missing merged-/usr aliases (`/lib -> usr/lib`,
//! recreated; a stray directory there is moved into the backup). Metadata a maintainer
//! script sets is changed only on a path written anew; a metadata-only difference there is
//! left alone with a note naming `dpkg-reconfigure PKG`.
//!
//! Archives come from ROOT/var/cache/apt/archives, or from each `--from`: a directory of
//! `.deb`s, a mirror tree (`dists/` + `pool/`), or an `http://` mirror; and from the seeded
//! kit's store (`KIT/debs`, after the apt cache; the plan says which). Only the installed
//! version is used, and only when its SHA256 matches a Packages index (ROOT's apt lists or the
//! mirror's own) or its md5sums equal the ones dpkg recorded; every file's md5 must equal
//! ROOT's record for that path. Missing conffiles are restored; modified ones only with
//! `--conffiles`.
//!
//! With a seeded kit (`--kit DIR`, else ROOT/srv/rescue when present), its baseline is the
//! last layer of expected metadata: each path goes back to the mode, owner, group and
//! capabilities the healthy host had, not only to the archive's; entries that disagree with
//! the dpkg database are ignored, and the plan says so.
//!
//! A run holds dpkg's locks (`lock-frontend`, `lock`, as dpkg and apt take them) and one of
//! its own (ROOT/var/backups/rescue/lock): while dpkg, apt, or another restore or undo runs,
//! it refuses (exit 2) and names the holder. `--ignore-lock` goes on past a dpkg lock whose
//! holder is no process this system can see, never past a live one.
//!
//! Without `--yes` the plan is printed and confirmed on a terminal; with no terminal nothing
//! is changed (exit 1). `--dry-run` prints the plan only. Everything replaced is kept under
//! ROOT/var/backups/rescue/RUN/ with the run's journal; `rescue undo` reverses a run.
//!
//! Exit status: 0 everything broken was restored (or nothing was), 1 something is left
//! unfixed, a result is not what was planned, or the plan was not applied, 2 could not plan or
//! apply (the reason is printed).

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Parser;

use super::{Exit, Yes};

use super::complain;
use crate::kit::Kit;
use crate::restore::execute;
use crate::restore::plan::{self, ActionKind, Plan};
use crate::sources::Source;
use crate::sys::quoting::{escape, shell_word};

#[derive(Parser)]
#[command(about = "Put back broken package files from the installed versions' .deb archives")]
pub(super) struct Args {
    /// the root to restore, as if chrooted into it
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// dpkg's database directory (default ROOT/var/lib/dpkg), a path on this host
    #[arg(long)]
    admindir: Option<PathBuf>,
    /// where .deb archives are found (directory, mirror tree, http:// mirror); repeatable
    #[arg(long, value_name = "SRC")]
    from: Vec<String>,
    /// also restore conffiles that were modified (missing ones always are)
    #[arg(long)]
    conffiles: bool,
    /// print the plan and change nothing
    #[arg(long)]
    dry_run: bool,
    /// apply without asking
    #[arg(long, short = 'y')]
    yes: bool,
    /// neither read nor write verify's digest cache
    #[arg(long)]
    no_cache: bool,
    /// go on past a dpkg lock whose holder does not exist here (never past a live one)
    #[arg(long)]
    ignore_lock: bool,
    /// the seeded kit to use (default ROOT/srv/rescue when present), a path on this host
    #[arg(long, value_name = "DIR")]
    kit: Option<PathBuf>,
    /// packages to restore (default: every installed package)
    packages: Vec<String>,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let (root, db) = super::open_root_database(&args.root, args.admindir.as_deref())?;
    let mut sources = Vec::new();
    for from in &args.from {
        match Source::parse(from) {
            Ok(source) => sources.push(source),
            Err(err) => return Err(Exit::failed(2, format!("--from {err}"))),
        }
    }
    // Held from the plan to the end of the run: what was planned is what is changed. A run
    // that cannot apply (a dry run, or no --yes and no terminal to ask) changes nothing, not
    // even a lock file, and takes none.
    let will_not_apply = args.dry_run || !args.yes && !std::io::stdin().is_terminal();
    let locks = if will_not_apply {
        None
    } else {
        match crate::restore::lock::acquire(&root, &db.admindir, args.ignore_lock) {
            Ok(locks) => Some(locks),
            Err(err) => return Err(Exit::failed(2, format!("cannot lock: {err}"))),
        }
    };
    for ignored in locks.iter().flat_map(|l| &l.ignored) {
        complain(name, format!("warning: {ignored}"));
    }
    let kit = Kit::find(&root, args.kit.as_deref()).map_err(|err| Exit::failed(2, err))?;
    if let Some(kit) = &kit {
        sources = kit.with_store(&root, sources);
    }
    let options = plan::Options {
        conffiles: args.conffiles,
        use_cache: !args.no_cache,
        kit,
    };
    let plan = match plan::plan(&root, &db, &args.packages, sources, &options) {
        Ok(plan) => plan,
        Err(err) => return Err(Exit::failed(2, format!("cannot plan: {err}"))),
    };
    print_plan(&plan, options.kit.as_ref());
    if plan.is_empty() {
        let why = if !plan.refused.is_empty() {
            "what the archives ask for was refused (see above)"
        } else if !plan.unrestorable.is_empty() {
            "no usable archive for what is broken"
        } else if !plan.notes.is_empty() || !plan.script_notes.is_empty() {
            "what differs was left alone on purpose (see the notes above)"
        } else {
            "every package-owned path is intact"
        };
        println!("nothing to restore: {why}");
        return Ok(i32::from(
            !plan.unrestorable.is_empty() || !plan.refused.is_empty(),
        ));
    }
    if args.dry_run {
        println!("--dry-run: nothing changed");
        return Ok(1);
    }
    if !args.yes && !confirm(plan.action_count()) {
        println!(
            "not applied: {}",
            if std::io::stdin().is_terminal() {
                "declined"
            } else {
                "no terminal to ask; run with --yes"
            }
        );
        return Ok(1);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let outcome = match execute::execute(&root, &db, &plan, now) {
        Ok(outcome) => outcome,
        Err(err) => {
            complain(name, format!("stopped: {err}"));
            return Err(Exit::failed(
                2,
                format!(
                    "every change so far is in the journal: run restore again to finish, or \
                     `rescue undo{}` to reverse it",
                    root_flag(&root, &args)
                ),
            ));
        }
    };
    Ok(report_outcome(name, &root, &args, &plan, &outcome))
}

/// ` --root DIR` as a shell word for the commands we print, or nothing for the host's root.
fn root_flag(root: &crate::sys::root::Root, args: &Args) -> String {
    if root.is_host_root() {
        String::new()
    } else {
        format!(" --root {}", shell_word(&args.root))
    }
}

/// What the run did, what is still broken, and how to reverse it; the exit status.
fn report_outcome(
    name: &str,
    root: &crate::sys::root::Root,
    args: &Args,
    plan: &Plan,
    outcome: &execute::Outcome,
) -> i32 {
    let root_flag = root_flag(root, args);
    println!(
        "restored: {} actions; backups and journal in {}{}",
        outcome.applied,
        if root.is_host_root() { "" } else { "ROOT" },
        escape(&outcome.run_dir)
    );
    for warning in &outcome.warnings {
        complain(name, format!("warning: {warning}"));
    }
    if outcome.leftovers_removed > 0 {
        println!(
            "removed {} temporary files earlier runs left behind",
            outcome.leftovers_removed
        );
    }
    for (package, why) in &outcome.failed {
        println!("FAILED {package}: {why}");
    }
    println!(
        "verified again: {} packages, {}",
        outcome.packages_verified,
        if outcome.still_broken.is_empty() {
            "all clean".to_string()
        } else {
            format!("{} problems remain", outcome.still_broken.len())
        }
    );
    for line in outcome.still_broken.iter().take(20) {
        println!("  still broken: {line}");
    }
    if !outcome.mismatched.is_empty() {
        println!(
            "checked again: {} restored path{} not as planned",
            outcome.mismatched.len(),
            if outcome.mismatched.len() == 1 {
                " is"
            } else {
                "s are"
            }
        );
        for line in outcome.mismatched.iter().take(20) {
            println!("  not as planned: {line}");
        }
    }
    for note in &plan.script_notes {
        println!("  set by maintainer scripts: {note}");
    }
    println!(
        "to reverse this run: rescue undo{root_flag} {}",
        shell_word(&outcome.run)
    );
    if outcome.failed.is_empty()
        && outcome.still_broken.is_empty()
        && outcome.mismatched.is_empty()
        && plan.unrestorable.is_empty()
        && plan.refused.is_empty()
    {
        0
    } else {
        1
    }
}

fn print_plan(plan: &Plan, kit: Option<&Kit>) {
    let mut out = std::io::stdout().lock();
    for line in &plan.baseline {
        let _ = writeln!(out, "baseline: {line}");
    }
    if !plan.aliases.is_empty() {
        let _ = writeln!(out, "merged-/usr aliases:");
        for alias in &plan.aliases {
            let _ = writeln!(
                out,
                "  symlink   {} -> {}   ({:?}; anything standing there goes to the backup)",
                escape(&alias.alias),
                escape(&alias.target),
                alias.state
            );
        }
    }
    for package in &plan.packages {
        let from_kit = kit.is_some_and(|kit| kit.holds(package.deb.path()));
        let _ = writeln!(
            out,
            "{} {} from {}{} ({})",
            package.package,
            package.version,
            if from_kit { "the kit's store: " } else { "" },
            escape(package.deb.path()),
            package.trust
        );
        for action in &package.actions {
            let detail = match &action.kind {
                ActionKind::Symlink { target, .. } => format!(" -> {}", escape(target)),
                ActionKind::HardLink { to } => format!(" = {}", escape(to)),
                ActionKind::SetAttributes { meta }
                | ActionKind::WriteFile { meta, .. }
                | ActionKind::WriteList { meta, .. }
                | ActionKind::MakeDirectory { meta, .. } => match &meta.capability {
                    Some(caps) => format!("  [{:04o} {}:{} {caps}]", meta.mode, meta.uid, meta.gid),
                    None => format!("  [{:04o} {}:{}]", meta.mode, meta.uid, meta.gid),
                },
            };
            let _ = writeln!(
                out,
                "  {:<9} {}{}   ({})",
                action.kind.verb(),
                escape(&action.path),
                detail,
                action.reason
            );
        }
    }
    for missing in &plan.unrestorable {
        let _ = writeln!(
            out,
            "cannot restore {} {} ({} broken paths, e.g. {}): {}",
            missing.package,
            missing.version,
            missing.broken.len(),
            missing.broken.first().map(escape).unwrap_or_default(),
            missing.why
        );
    }
    for note in plan.notes.iter().chain(&plan.script_notes) {
        let _ = writeln!(out, "note: {note}");
    }
    for refused in &plan.refused {
        let _ = writeln!(out, "refused: {refused}");
    }
    if let Some(suggestion) = &plan.suggestion {
        let _ = writeln!(out, "to find the missing archives, try: {suggestion}");
    }
    let _ = writeln!(
        out,
        "plan: {} actions in {} packages{}; {} packages cannot be restored",
        plan.action_count(),
        plan.packages.len(),
        if plan.aliases.is_empty() {
            String::new()
        } else {
            format!(
                " and {} alias{}",
                plan.aliases.len(),
                if plan.aliases.len() == 1 { "" } else { "es" }
            )
        },
        plan.unrestorable.len()
    );
}

/// Asks on the terminal; anything but y/yes is no.
fn confirm(actions: usize) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    super::ask(&format!("apply these {actions} actions? [y/N] "), Yes::Word)
}
