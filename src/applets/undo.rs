//! usage: rescue undo [--root DIR] [--list] [--ignore-lock] [RUN]
//!
//! Reverse a restore run from its journal, newest step first: every replaced file comes back
//! from ROOT/var/backups/rescue/RUN/files byte for byte (content, mode, owner, times), every
//! created path is removed, every attribute change set back. Without RUN, the newest run not
//! yet undone. Runs are undone newest first (an older one is refused while a newer stands).
//! Undo is itself safe to interrupt and run again. Backups are kept. Like restore it holds
//! dpkg's locks and the runs' lock while it works (see `rescue restore --help`).
//!
//! Exit status: 0 reversed, 1 some steps could not be reversed (listed), 2 nothing to undo or
//! an error.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use super::complain;
use crate::restore::undo;
use crate::sys::root::Root;

#[derive(Parser)]
#[command(about = "Reverse a restore run from its journal")]
struct Args {
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

pub fn main(name: &'static str, args: Vec<OsString>) -> i32 {
    let args: Args = match super::parse(name, args) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let root = Root::new(&args.root);
    if args.list {
        return match undo::runs(&root) {
            Ok(runs) => {
                for run in runs {
                    let state = if run.undone {
                        "undone"
                    } else if run.finished {
                        "finished"
                    } else {
                        "interrupted"
                    };
                    println!("{}  {:<11} {} steps", run.id, state, run.steps);
                }
                0
            }
            Err(err) => {
                complain(name, err);
                2
            }
        };
    }
    let admindir = crate::dpkg::Database::default_admindir(&root);
    let locks = match crate::restore::lock::acquire(&root, &admindir, args.ignore_lock) {
        Ok(locks) => locks,
        Err(err) => {
            complain(name, err);
            return 2;
        }
    };
    for ignored in &locks.ignored {
        complain(name, format!("warning: {ignored}"));
    }
    match undo::undo(&root, args.run.as_deref()) {
        Ok(report) => {
            println!(
                "undone run {}: {} steps reversed",
                report.run, report.reversed
            );
            for problem in &report.problems {
                println!("could not reverse: {problem}");
            }
            if report.problems.is_empty() {
                0
            } else {
                1
            }
        }
        Err(err) => {
            complain(name, err);
            2
        }
    }
}
