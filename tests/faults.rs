//! Kill tests: `RESCUE_FAULT_KILL_AFTER=N` makes `rescue restore` SIGKILL itself once N
//! journal steps are durable. For every N a full run reaches, on a fresh copy of the same
//! damaged root:
//! - every path is either its damaged or its pristine self (never half a file, never a file
//!   with new content and old mode), and the only extra names are temporaries the journal's
//!   `stage` lines (or moved-aside `aside` lines) account for;
//! - running `rescue restore --yes` again finishes the job: the pristine tree;
//! - `rescue undo` on a second copy of the killed root gives back the damaged tree exactly.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::debroot::{self, DebRoot, Snapshot};
use common::show;

fn rescue_in(root: &Path, args: &[&str], kill_after: Option<usize>) -> Output {
    let mut command = common::rescue_at(root, args[0], &args[1..]);
    if let Some(n) = kill_after {
        command.env("RESCUE_FAULT_KILL_AFTER", n.to_string());
    }
    common::output_without_terminal(&mut command)
}

fn snap(root: &Path) -> Snapshot {
    debroot::snapshot(root, &[debroot::BACKUPS, debroot::DIGEST_CACHE])
}

/// The only run under ROOT and its journal's steps.
fn journal_of(root: &Path) -> Vec<Vec<Vec<u8>>> {
    let runs = debroot::runs(root);
    assert_eq!(runs.len(), 1, "runs under {}: {runs:?}", root.display());
    debroot::journal_steps(&runs[0].join("journal"))
}

/// Paths (relative to ROOT) that the journal says may hold a temporary or a moved-aside node.
fn journalled_leftovers(steps: &[Vec<Vec<u8>>]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for step in steps {
        let kind = step.first().map(Vec::as_slice);
        let candidates: &[Vec<u8>] = match kind {
            Some(b"stage") => &step[1..],
            Some(b"aside") => &step[2..],
            _ => &[],
        };
        for path in candidates {
            let rel = Path::new(OsStr::from_bytes(path))
                .strip_prefix("/")
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| PathBuf::from(OsStr::from_bytes(path)));
            out.insert(rel);
        }
    }
    out
}

fn damage(fixture: &DebRoot) {
    fs::remove_dir_all(fixture.path("usr/lib/x86_64-linux-gnu")).expect("rm -r");
    fs::write(fixture.path("usr/bin/demo-su"), b"other root's su").expect("write");
    fs::write(fixture.path("usr/bin/demo-tool"), b"other root's tool").expect("write");
}

/// Every node of `killed` is its pristine or its damaged self; nodes in neither are allowed
/// only at journalled temporary or moved-aside paths (and everything below those).
fn assert_old_or_new(
    killed: &Snapshot,
    pristine: &Snapshot,
    damaged: &Snapshot,
    leftovers: &BTreeSet<PathBuf>,
    n: usize,
) {
    let mut paths: BTreeSet<&PathBuf> = killed.0.keys().collect();
    paths.extend(pristine.0.keys());
    paths.extend(damaged.0.keys());
    let mut bad = Vec::new();
    for path in paths {
        let now = killed.0.get(path);
        if now == pristine.0.get(path) || now == damaged.0.get(path) {
            continue;
        }
        if now.is_some() && leftovers.iter().any(|l| path.starts_with(l)) {
            continue;
        }
        bad.push(format!(
            "{}: now {:?}, pristine {:?}, damaged {:?}",
            path.display(),
            now,
            pristine.0.get(path),
            damaged.0.get(path)
        ));
    }
    assert!(
        bad.is_empty(),
        "killed after {n} steps, neither old nor new:\n{}",
        bad.join("\n")
    );
    for path in killed.0.keys() {
        let name = path.file_name().map(OsStr::as_bytes).unwrap_or_default();
        let is_temp = name.windows(8).any(|w| w == b".rescue-");
        if is_temp {
            assert!(
                leftovers.contains(path),
                "killed after {n} steps: {} is not in the journal",
                path.display()
            );
        }
    }
}

#[test]
fn every_kill_point_leaves_old_or_new_and_both_ways_out_work() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let pristine = snap(&fixture.root);
    damage(&fixture);
    let damaged = snap(&fixture.root);
    let base = fixture.base().to_path_buf();

    // An undisturbed run on a copy: how many steps a full run journals.
    let counting = base.join("count");
    debroot::copy_tree(&fixture.root, &counting);
    let full = rescue_in(&counting, &["restore", "--yes"], None);
    assert_eq!(full.status.code(), Some(0), "{}", show(&full));
    pristine.assert_same(&snap(&counting), "undisturbed restore");
    let steps = journal_of(&counting).len();
    assert!(
        steps >= 3,
        "a run that fixes 8 paths journals {steps} steps"
    );
    fs::remove_dir_all(&counting).expect("rm copy");

    // Every kill point is tried even when one fails, so a report names all of them.
    let mut failures = Vec::new();
    for n in 1..=steps {
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let killed_root = base.join(format!("kill-{n}"));
            let undo_root = base.join(format!("undo-{n}"));
            debroot::copy_tree(&fixture.root, &killed_root);
            let killed = rescue_in(&killed_root, &["restore", "--yes"], Some(n));
            assert_eq!(
                killed.status.signal(),
                Some(libc::SIGKILL),
                "RESCUE_FAULT_KILL_AFTER={n}: {}",
                show(&killed)
            );
            let journal = journal_of(&killed_root);
            assert!(
                journal.len() >= n,
                "killed after {n} durable steps, the journal holds {}",
                journal.len()
            );
            let leftovers = journalled_leftovers(&journal);
            assert_old_or_new(&snap(&killed_root), &pristine, &damaged, &leftovers, n);
            debroot::copy_tree(&killed_root, &undo_root);

            // (a) Finishing the job.
            let again = rescue_in(&killed_root, &["restore", "--yes"], None);
            assert_eq!(
                again.status.code(),
                Some(0),
                "restore after kill {n}: {}",
                show(&again)
            );
            pristine.assert_same(&snap(&killed_root), &format!("restore after kill {n}"));
            assert_eq!(debroot::dpkg_verify(&killed_root), "", "after kill {n}");

            // (b) Going back.
            let undone = rescue_in(&undo_root, &["undo"], None);
            assert_eq!(
                undone.status.code(),
                Some(0),
                "undo after kill {n}: {}",
                show(&undone)
            );
            damaged.assert_same(&snap(&undo_root), &format!("undo after kill {n}"));

            fs::remove_dir_all(&killed_root).expect("rm copy");
            fs::remove_dir_all(&undo_root).expect("rm copy");
        }));
        if let Err(panic) = attempt {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("kill point {n}: {message}"));
        }
    }
    // Past the last step the hook never fires.
    let past = base.join("past");
    debroot::copy_tree(&fixture.root, &past);
    let output = rescue_in(&past, &["restore", "--yes"], Some(steps + 1));
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    pristine.assert_same(&snap(&past), "restore with the hook past the last step");

    assert!(
        failures.is_empty(),
        "{} of {steps} kill points failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
