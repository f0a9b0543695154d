//! usage: rescue undo [--root DIR] [--list] [--ignore-lock] [RUN]
//!
//! Reverse a restore run from its journal, newest step first: every replaced file comes back
//! from ROOT/var/backups/rescue/RUN/files byte for byte (content, mode, owner, times), every
//! created path is removed, every attribute change set back. Without RUN, the newest run not
//! yet undone. Runs are undone newest first (an older one is refused while a newer stands).
//! Undo is itself safe to interrupt and run again. Backups are kept. Like restore it holds
//! dpkg's locks and the runs' lock while it works (see `rescue restore --help`).
//!
//! Every path in the journal is resolved inside ROOT and must still name what the run wrote
//! there; a run directory or journal that is a symlink is not read. A path changed after the
//! run is not overwritten: its later version goes to ROOT/var/backups/rescue/RUN/undo-kept/
//! (a later mode or owner is left as it is), and each one is named. A step that cannot be
//! reversed (a backup gone, a journal line unreadable or cut) is named too, and the run is
//! then not marked undone. A torn last journal line is what a kill leaves; it is ignored.
//!
//! Exit status: 0 every step reversed, 1 some steps could not be reversed or later changes
//! were kept (listed), 2 nothing to undo or an error. `--list` exits 0 and warns about
//! damaged journals and names that are no run.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use super::Exit;

use super::complain;
use crate::restore::undo;
use crate::sys::quoting::{escape, shell_word};
use crate::sys::root::Root;

#[derive(Parser)]
#[command(about = "Reverse a restore run from its journal")]
pub(super) struct Args {
    /// the root the run changed
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// list the runs instead
    #[arg(long)]
    list: bool,
    /// go on past a dpkg lock whose holder does not exist here (never past a live one)
    #[arg(long)]
    ignore_lock: bool,
    /// the run to reverse (a directory name under ROOT/var/backups/rescue)
    run: Option<String>,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let root = Root::new(&args.root);
    if args.list {
        return list(name, &root);
    }
    let admindir = crate::dpkg::Database::default_admindir(&root);
    let locks = crate::restore::lock::acquire(&root, &admindir, args.ignore_lock)
        .map_err(|err| Exit::failed(2, err))?;
    for ignored in &locks.ignored {
        complain(name, format!("warning: {ignored}"));
    }
    let report = undo::undo(&root, args.run.as_deref()).map_err(|err| Exit::failed(2, err))?;
    for ignored in &report.ignored {
        complain(name, format!("warning: ignored: {ignored}"));
    }
    for kept in &report.kept {
        if kept.at == kept.path {
            println!("kept: {}: {}: left as it is", escape(&kept.path), kept.why);
        } else {
            println!(
                "kept: {}: {}; that version is now at {}",
                escape(&kept.path),
                kept.why,
                escape(root.host_lexical(&kept.at))
            );
        }
    }
    for damage in &report.damage {
        complain(name, format!("run {}: {damage}", report.run));
    }
    for problem in &report.problems {
        complain(name, format!("could not reverse: {problem}"));
    }
    if !report.marked_undone {
        let root_flag = if root.is_host_root() {
            String::new()
        } else {
            format!(" --root {}", shell_word(&args.root))
        };
        let problems = report.problems.len() + report.damage.len();
        println!(
            "run {} is NOT marked undone: {} steps reversed, {} problem{} (listed); \
             deal with them and run `rescue undo{root_flag} {}` again",
            report.run,
            report.reversed,
            problems,
            if problems == 1 { "" } else { "s" },
            shell_word(&report.run)
        );
        return Ok(1);
    }
    if report.kept.is_empty() {
        println!(
            "undone run {}: {} steps reversed",
            report.run, report.reversed
        );
        Ok(0)
    } else {
        println!(
            "undone run {}: {} steps reversed; {} path{} changed after the run kept (listed)",
            report.run,
            report.reversed,
            report.kept.len(),
            if report.kept.len() == 1 { "" } else { "s" }
        );
        Ok(1)
    }
}

/// One line per run; damaged journals and names that are no run are warnings, not failures:
/// the listing is how the operator finds out about them.
fn list(name: &str, root: &Root) -> Result<i32, Exit> {
    let found = undo::runs(root).map_err(|err| Exit::failed(2, err))?;
    for run in &found.runs {
        let state = if run.undone {
            "undone"
        } else if run.finished {
            "finished"
        } else {
            "interrupted"
        };
        println!("{}  {:<11} {} steps", run.id, state, run.steps());
        for damage in &run.damage {
            complain(name, format!("warning: run {}: {damage}", run.id));
        }
    }
    for (id, err) in &found.refused {
        complain(name, format!("warning: {id} ignored: {err}"));
    }
    Ok(0)
}
