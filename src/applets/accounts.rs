//! usage: rescue accounts [--root DIR] [--repair] [-y|--yes]
//!
//! Check ROOT's (default `/`) passwd, group, shadow and gshadow, the way `pwck -r` and
//! `grpck -r` check their syntax (field count, numeric ids, empty and duplicate names, a
//! second uid 0, an empty home), each finding with FILE:LINE; then every entry present in one
//! file and missing from its partner (passwd and shadow, group and gshadow), and users whose
//! primary group is in no group entry (pwck's `no group`); then what the
//! packages need that is missing: the users and groups of dpkg's statoverride file, of the
//! maintainer scripts' `adduser`, `useradd`, `addgroup` and `groupadd` commands, and base-passwd's
//! fixed system accounts (`usr/share/base-passwd/*.master`), each with who needs it; then what
//! was removed or changed since the backups: `etc/passwd-` (shadow's tools), `var/backups/
//! passwd.bak` (older Debian releases' daily job) and the seeded kit's `srv/rescue/state/`,
//! each with its age. Password hashes are never printed, only that one changed.
//!
//! `--repair` plans the return of every missing system account (uid or gid below 1000, or
//! 65534) from the newest backup that has it (base-passwd's master file for the base
//! accounts, with their fixed ids), in both files of the pair: a restored shadow line keeps the
//! backup's locked password field (`*`, `!`), a hash in the backup becomes `*`. Entries only in
//! the current files (a container's own users) are kept, existing entries never changed (a
//! password hash that differs from the backup is named and left). An id the current file gives
//! another name is a clash: named, skipped, never renumbered. The plan is printed and applied
//! with `--yes` (or a yes on a terminal) as `rescue restore` writes: each file's old version
//! kept under ROOT/var/backups/rescue/RUN/, its mode and owner kept; `rescue undo` reverses it.
//!
//! Entries added since the newest backup and changed fields are notes, not findings: a host's
//! own users and password changes are not damage. Exit status: 0 no findings, 1 findings (or a
//! repair left some), 2 could not read or write (the reason is printed).

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{Exit, Yes};
use crate::restore::apply::{Metadata, Node, Run};
use crate::sys::account_check::{self, age, Finding, Report, HEADINGS};
use crate::sys::account_files::{Kind, Plan, Source, State};
use crate::sys::quoting::{escape, shell_word};
use crate::sys::root::Root;

#[derive(Parser)]
#[command(about = "Check and repair ROOT's passwd, group, shadow and gshadow")]
pub(super) struct Args {
    /// the root whose account files are checked
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// plan the return of missing system accounts from the backups
    #[arg(long)]
    repair: bool,
    /// apply the repair without asking
    #[arg(long, short = 'y')]
    yes: bool,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    if !args.root.is_dir() {
        let shown = super::quote(&args.root);
        return Err(Exit::failed(
            2,
            format!("cannot use root {shown}: not a directory"),
        ));
    }
    let root = Root::new(&args.root);
    let now = now_unix();
    let state = State::read(&root).map_err(|err| Exit::failed(2, err))?;
    let Report {
        findings,
        missing,
        notes,
    } = account_check::examine(&root, &state, now);
    print_report(&findings, &notes);
    print_backups(&root, &state, now);
    if !args.repair {
        if !findings.is_empty() {
            println!("next: rescue accounts{} --repair", root_flag(&args));
        }
        return Ok(i32::from(!findings.is_empty()));
    }
    repair(&root, &args, &state, (&missing, !findings.is_empty()), now)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn root_flag(args: &Args) -> String {
    if args.root == Path::new("/") {
        String::new()
    } else {
        format!(" --root {}", shell_word(&args.root))
    }
}

fn shown(root: &Root, inside: &Path) -> String {
    escape(root.host_lexical(inside))
}

fn print_report(findings: &[Finding], notes: &[String]) {
    if findings.is_empty() {
        println!("no findings");
    }
    for (urgency, heading) in HEADINGS.iter().enumerate() {
        let group: Vec<&Finding> = findings
            .iter()
            .filter(|f| usize::from(f.urgency) == urgency)
            .collect();
        if group.is_empty() {
            continue;
        }
        println!("{heading}:");
        for finding in group {
            println!("  {}", finding.text);
        }
    }
    if !notes.is_empty() {
        println!("notes (not findings: a host's own users and changes since the backup):");
        for note in notes {
            println!("  {note}");
        }
    }
}

fn print_backups(root: &Root, state: &State, now: i64) {
    let mut lines = Vec::new();
    for kind in Kind::ALL {
        for backup in state.backups(kind) {
            let age = age(now - backup.mtime());
            lines.push(format!("  {} ({age})", shown(root, &backup.file.inside)));
        }
    }
    if lines.is_empty() {
        println!("backups: none found");
    } else {
        println!("backups:");
        for line in lines {
            println!("{line}");
        }
    }
}

fn repair(
    root: &Root,
    args: &Args,
    state: &State,
    (missing, had_findings): (&[(Kind, String)], bool),
    now: i64,
) -> Result<i32, Exit> {
    let plan = crate::sys::account_files::plan(state, missing, now / 86400);
    print_plan(root, state, &plan);
    if plan.additions.is_empty() {
        println!("nothing to add back");
        return Ok(i32::from(had_findings));
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            println!("not applied: no terminal to ask; run with --yes");
            return Ok(1);
        }
        let prompt = format!("add back {} entries? [y/N] ", plan.additions.len());
        if !super::ask(&prompt, Yes::Word) {
            println!("not applied: declined");
            return Ok(1);
        }
    }
    let admindir = crate::dpkg::Database::default_admindir(root);
    let _locks = crate::restore::lock::acquire(root, &admindir, false)
        .map_err(|err| Exit::failed(2, format!("cannot lock: {err}")))?;
    let run = apply(root, state, &plan, now).map_err(|err| {
        Exit::failed(
            2,
            format!(
                "stopped: {err}; `rescue undo{}` reverses what was done",
                root_flag(args)
            ),
        )
    })?;
    println!(
        "applied: backups and journal in {}",
        shown(
            root,
            &Path::new(crate::restore::apply::BACKUP_ROOT).join(&run)
        )
    );
    println!(
        "to reverse this run: rescue undo{} {}",
        root_flag(args),
        shell_word(&run)
    );
    let after = State::read(root).map_err(|err| Exit::failed(2, err))?;
    let findings = account_check::examine(root, &after, now).findings;
    if findings.is_empty() {
        println!("checked again: no findings");
        return Ok(0);
    }
    println!("checked again: {} findings remain:", findings.len());
    for finding in &findings {
        println!("  {}", finding.text);
    }
    Ok(1)
}

fn print_plan(root: &Root, state: &State, plan: &Plan) {
    println!("repair plan:");
    for addition in &plan.additions {
        let from = match addition.source {
            Source::Backup(family) => shown(
                root,
                &state
                    .backup(addition.kind, family)
                    .map_or_else(|| family.path(addition.kind), |b| b.file.inside.clone()),
            ),
            Source::Master => "base-passwd's master file".to_string(),
        };
        let secret = match addition.secret {
            Some(_) => format!(" and {}", addition.kind.partner().name()),
            None => String::new(),
        };
        println!(
            "  add {} {} (id {}) to {}{secret}, from {from}{}",
            addition.kind.account(),
            addition.name,
            addition.id,
            addition.kind.name(),
            addition
                .note
                .as_ref()
                .map_or(String::new(), |n| format!(" ({n})"))
        );
    }
    for (kind, name, why) in &plan.skipped {
        println!("  skip {} {name}: {why}", kind.account());
    }
    for kept in &plan.kept {
        println!("  keep {kept}");
    }
    println!("  keep every other entry as it is");
}

/// Writes each changed file through a restore run: temp file, backup, journal, rename.
fn apply(root: &Root, state: &State, plan: &Plan, now: i64) -> crate::Result<String> {
    let contents = plan.contents(state);
    let shadow_gid = state
        .file(Kind::Group)
        .entry("shadow")
        .and_then(|l| l.id())
        .or_else(|| {
            plan.additions
                .iter()
                .find(|a| a.name == "shadow" && a.kind == Kind::Group)
                .map(|a| a.id)
        })
        .unwrap_or(42);
    let mut run = Run::begin(root, now)?;
    let mut staged = Vec::new();
    for (kind, bytes) in &contents {
        let file = state.file(*kind);
        let meta = match file.stat {
            Some(stat) => Metadata {
                mode: stat.mode,
                uid: stat.uid,
                gid: stat.gid,
                mtime: now,
                capability: None,
            },
            None => Metadata {
                mode: kind.debian_mode(),
                uid: 0,
                gid: if kind.is_secret() { shadow_gid } else { 0 },
                mtime: now,
                capability: None,
            },
        };
        let mut content = bytes.as_slice();
        let node = Node::File {
            content: &mut content,
            md5: None,
        };
        match run.stage(&file.inside, node, &meta) {
            Ok(item) => staged.push(item),
            Err(err) => {
                run.discard(staged);
                return Err(err);
            }
        }
    }
    run.commit(staged)?;
    run.finish()
}
