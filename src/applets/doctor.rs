//! usage: rescue doctor [--root DIR] [--kit DIR]
//!
//! One triage of ROOT (default `/`), most urgent first, each finding with the commands to run
//! next. It checks whether the dynamic loader and the core programs' libraries are there (the
//! loader's own search, as `rescue ldd`) and whether a trivial program really runs (chrooted
//! into ROOT when ROOT is not `/`); the merged-/usr aliases and every missing package-owned
//! path (`verify --missing-only`); `ld.so.cache` against the libraries; whether the dpkg
//! database is still this root's (its packages and architecture against dpkg's daily
//! `var/backups/dpkg.status.*` or the kit's copy); the accounts packages need (`rescue
//! accounts`); sshd's binary, host keys, `sshd -t` and its listening socket; the file systems
//! holding ROOT (full in blocks or inodes, read-only, stale); and, when ROOT is the running
//! system's root, tasks stuck in D state, conntrack near its limit, and the kernel's I/O
//! errors, OOM kills and hung tasks. Missing files that running processes still hold open are
//! pointed to `rescue salvage`.
//!
//! Then every check with its verdict (ok, findings, or skipped and why). Exit status: 0 nothing
//! wrong, 1 findings, 2 ROOT could not be examined.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use super::Exit;
use crate::doctor::{self, Verdict};
use crate::kit::Kit;
use crate::sys::quoting::escape;
use crate::sys::root::Root;

#[derive(Parser)]
#[command(about = "Triage a root: what is wrong, most urgent first, and what to run next")]
pub(super) struct Args {
    /// the root to examine, as if chrooted into it
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// the seeded kit to compare with (default ROOT/srv/rescue when present)
    #[arg(long, value_name = "DIR")]
    kit: Option<PathBuf>,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    if !args.root.is_dir() {
        let shown = super::quote(&args.root);
        let message = format!("cannot use root {shown}: not a directory");
        return Err(Exit::failed(2, message));
    }
    let root = Root::new(&args.root);
    let kit = Kit::find(&root, args.kit.as_deref()).map_err(|err| Exit::failed(2, err))?;
    let db = crate::dpkg::Database::open_in(&root).map_err(|err| err.to_string());
    let report = doctor::examine(&root, db.as_ref().map_err(Clone::clone), kit);
    println!(
        "rescue doctor: {}{}",
        escape(&args.root),
        if report.live {
            " (the running system)"
        } else {
            ""
        }
    );
    if report.findings.is_empty() {
        println!("nothing wrong found");
    }
    for (number, finding) in report.findings.iter().enumerate() {
        println!();
        println!(
            "{}. [{}] {}: {}",
            number + 1,
            finding.urgency.word(),
            finding.check,
            finding.summary
        );
        for detail in &finding.details {
            println!("     {detail}");
        }
        for next in &finding.next {
            println!("   next: {next}");
        }
    }
    println!();
    println!("checks:");
    for (check, verdict) in &report.checks {
        let verdict = match verdict {
            Verdict::Ok => "ok".to_string(),
            Verdict::Found(n) => format!("{n} found"),
            Verdict::Skipped(why) => format!("skipped: {why}"),
        };
        println!("  {check:<18} {verdict}");
    }
    Ok(i32::from(!report.findings.is_empty()))
}
