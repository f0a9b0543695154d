//! The restore run directory, its journal and `undo`, tried as a hostile tester would
//! (issue 8, cases 1 and 13–16), on the real dpkg fixture of `common/debroot.rs`:
//!
//! - journal paths never lead outside ROOT: a crafted `stage` or `replace` line, a run
//!   directory that is a symlink, and a directory of ROOT swapped for a symlink after the run
//!   all leave a marker directory OUTSIDE ROOT as it was: nothing in it read (its atimes are
//!   checked where the file system keeps them), changed or removed;
//! - undo never says done when it is not: a deleted backup and a journal cut after the run
//!   finished both exit 1 with the run not marked undone, while a torn last line (what a kill
//!   leaves) is still undone cleanly;
//! - undo keeps later edits: an edited conffile survives in `undo-kept/`, named in the output;
//! - a damaged journal of an old, finished run is a warning, never exit 2;
//! - a backup copy failing on a full disk leaves no temporary file and no half backup, and the
//!   next restore removes temporaries that older runs left behind.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

use common::debroot::{self, restore, undo, DebRoot};
use common::{assert_exit, rescue_in, show, Unsupported};

fn assert_says(output: &Output, stream: &str, needle: &str, what: &str) {
    let text = match stream {
        "stdout" => common::stdout(output),
        _ => common::stderr(output),
    };
    assert!(
        text.contains(needle),
        "{what}: {stream} does not say {needle:?}: {}",
        show(output)
    );
}

/// The single real run directory (symlinks under the backup directory left out).
fn only_run(fixture: &DebRoot) -> PathBuf {
    let runs = real_runs(fixture);
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.into_iter().next().unwrap()
}

fn real_runs(fixture: &DebRoot) -> Vec<PathBuf> {
    fixture
        .runs()
        .into_iter()
        .filter(|run| fs::symlink_metadata(run).is_ok_and(|m| m.is_dir()))
        .collect()
}

fn run_id(run: &Path) -> String {
    run.file_name().unwrap().to_string_lossy().into_owned()
}

/// `/` + enough `..` to climb from any ROOT to the host's `/`, then `outside` (a host path):
/// what a crafted journal line uses to reach out of ROOT when joined to it unchecked.
fn climbing_to(outside: &Path) -> String {
    format!(
        "/{}{}",
        "../".repeat(32),
        outside.display().to_string().trim_start_matches('/')
    )
}

/// A directory outside ROOT with known files, each given an old atime so that any read of it
/// shows (on a file system that keeps atimes: probed, since `noatime` mounts do not).
struct Marker {
    dir: tempfile::TempDir,
    files: Vec<(String, Vec<u8>)>,
    before: BTreeMap<PathBuf, Stat>,
    atime_kept: bool,
}

#[derive(Debug, PartialEq, Eq)]
struct Stat {
    ino: u64,
    mode: u32,
    uid: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    /// `None` where the file system does not record reads.
    atime: Option<(i64, i64)>,
}

const OLD_ATIME: i64 = 1_000_000_000;

impl Marker {
    fn new(files: &[(&str, &[u8])]) -> Marker {
        let dir = tempfile::Builder::new()
            .prefix("rescue-marker-")
            .tempdir()
            .expect("marker tempdir");
        for (name, body) in files {
            fs::write(dir.path().join(name), body).expect("write marker file");
        }
        let mut marker = Marker {
            atime_kept: atime_is_kept(dir.path()),
            files: files
                .iter()
                .map(|(name, body)| (name.to_string(), body.to_vec()))
                .collect(),
            before: BTreeMap::new(),
            dir,
        };
        if !marker.atime_kept {
            common::unsupported(Unsupported::AccessTimes, "atimes are not checked");
        }
        for path in marker.paths() {
            set_atime(&path, OLD_ATIME);
        }
        marker.before = marker.stats();
        marker
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.path().to_path_buf()];
        paths.extend(self.files.iter().map(|(name, _)| self.path().join(name)));
        paths
    }

    /// Every known path by name, without listing the directory or reading a file.
    fn stats(&self) -> BTreeMap<PathBuf, Stat> {
        self.paths()
            .into_iter()
            .map(|path| {
                let m = fs::symlink_metadata(&path)
                    .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
                let stat = Stat {
                    ino: m.ino(),
                    mode: m.mode(),
                    uid: m.uid(),
                    size: m.size(),
                    mtime: (m.mtime(), m.mtime_nsec()),
                    ctime: (m.ctime(), m.ctime_nsec()),
                    atime: self.atime_kept.then(|| (m.atime(), m.atime_nsec())),
                };
                (path, stat)
            })
            .collect()
    }

    /// Nothing read, changed, added or removed. Stats first: the listing and the content
    /// checks after them are reads themselves, so the atimes are set old again afterwards
    /// (and the baseline taken anew) for the next check.
    fn assert_untouched(&mut self, what: &str) {
        let after = self.stats();
        for (path, before) in &self.before {
            assert_eq!(
                after.get(path),
                Some(before),
                "{what}: {} outside ROOT was read or changed",
                path.display()
            );
        }
        let mut names: Vec<String> = fs::read_dir(self.path())
            .expect("list marker")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut expected: Vec<String> = self.files.iter().map(|(n, _)| n.clone()).collect();
        expected.sort();
        assert_eq!(names, expected, "{what}: names in the marker directory");
        for (name, body) in &self.files {
            assert_eq!(
                &fs::read(self.path().join(name)).unwrap(),
                body,
                "{what}: content of {name}"
            );
        }
        for path in self.paths() {
            set_atime(&path, OLD_ATIME);
        }
        self.before = self.stats();
    }
}

fn set_atime(path: &Path, seconds: i64) {
    utimensat(
        None,
        path,
        &TimeSpec::new(seconds, 0),
        &TimeSpec::UTIME_OMIT,
        UtimensatFlags::NoFollowSymlink,
    )
    .expect("set atime");
}

/// Whether reading a file beside `dir` moves an old atime: false on `noatime` mounts.
fn atime_is_kept(dir: &Path) -> bool {
    let probe = dir.with_extension("atime-probe");
    fs::write(&probe, b"probe").unwrap();
    set_atime(&probe, OLD_ATIME);
    fs::read(&probe).unwrap();
    let kept = fs::metadata(&probe).unwrap().atime() != OLD_ATIME;
    let _ = fs::remove_file(&probe);
    kept
}

/// Every name under `dir` that a run or an undo uses for temporary files.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().contains(".rescue-") {
                found.push(path.clone());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
            }
        }
    }
    found
}

fn write_journal(run: &Path, text: &str) {
    fs::create_dir_all(run).expect("mkdir run");
    fs::write(run.join("journal"), text).expect("write journal");
}

fn line_count(path: &Path) -> usize {
    fs::read(path)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open journal")
        .write_all(text.as_bytes())
        .expect("append");
}

/// Case 1: `stage\t/../../../../MARKER/file` in an interrupted run's journal. The next
/// restore's start-up cleanup must not remove it, nor a file outside ROOT that even carries
/// the run's own temporary name, and must say why.
#[test]
fn crafted_stage_line_removes_nothing_outside_root() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let id = "20000101T000000Z";
    let mut marker = Marker::new(&[
        ("file", b"host file"),
        (&format!(".rescue-{id}-1"), b"host file with a run's name"),
    ]);
    let run = fixture.path(&format!("{}/{id}", debroot::BACKUPS));
    write_journal(
        &run,
        &format!(
            "stage\t{}\nstage\t{}\n",
            climbing_to(&marker.path().join("file")),
            climbing_to(&marker.path().join(format!(".rescue-{id}-1")))
        ),
    );
    fs::remove_file(fixture.path("usr/bin/demo-tool")).unwrap();

    let restored = restore(&fixture, &[]);
    marker.assert_untouched("restore after a crafted stage line");
    assert_exit(&restored, 0, "restore beside a crafted journal");
    assert_says(
        &restored,
        "stderr",
        &format!("warning: run {id}, journal line 1:"),
        "the crafted line is reported",
    );
    assert_says(
        &restored,
        "stderr",
        "not a temporary file of run",
        "a name not the run's own",
    );
    assert_says(
        &restored,
        "stderr",
        &format!("warning: run {id}, journal line 2:"),
        "the second crafted line is reported",
    );
    assert_says(
        &restored,
        "stderr",
        "not to itself",
        "a path climbing out of ROOT",
    );
    assert!(
        !common::stdout(&restored).contains("temporary files"),
        "nothing counted as removed: {}",
        show(&restored)
    );
    assert!(fixture.path("usr/bin/demo-tool").is_file(), "restored");
}

/// Case 1: `replace\t/../../..MARKER/file\t/evil` appended to a finished run. Undo must
/// neither copy ROOT's `/evil` over the host file nor touch `/evil`, must reverse the rest,
/// and must say that the run is not undone (the line is refused, and the journal changed
/// after the run finished).
#[test]
fn crafted_replace_line_overwrites_nothing_outside_root() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let mut marker = Marker::new(&[("file", b"host file")]);
    fs::write(fixture.path("usr/bin/demo-tool"), b"damaged tool").unwrap();
    let damaged = fixture.snapshot();
    assert_exit(&restore(&fixture, &[]), 0, "restore");
    let run = only_run(&fixture);
    fs::write(fixture.path("evil"), b"evil").unwrap();
    let line = format!(
        "replace\t{}\t/evil\n",
        climbing_to(&marker.path().join("file"))
    );
    append(&run.join("journal"), &line);
    let crafted_line = line_count(&run.join("journal"));
    // And the other way round: a genuine path, a "backup" outside ROOT to copy over it.
    let line = format!(
        "replace\t/etc/demo.conf\t{}\n",
        climbing_to(&marker.path().join("file"))
    );
    append(&run.join("journal"), &line);

    let undone = undo(&fixture, &[]);
    marker.assert_untouched("undo of a crafted replace line");
    assert_exit(&undone, 1, "undo with a crafted replace line");
    assert_says(
        &undone,
        "stderr",
        &format!(
            "could not reverse: journal line {}: {}: resolves to {} inside ROOT, not to itself",
            crafted_line,
            climbing_to(&marker.path().join("file")),
            marker.path().join("file").display()
        ),
        "the line, the path, where it leads",
    );
    assert_says(
        &undone,
        "stderr",
        &format!(
            "could not reverse: journal line {}: {}: not where this run backs /etc/demo.conf up",
            crafted_line + 1,
            climbing_to(&marker.path().join("file"))
        ),
        "a backup outside the run refused",
    );
    assert_says(
        &undone,
        "stderr",
        "when the run finished: cut or changed since",
        "tampering seen",
    );
    assert_says(&undone, "stdout", "is NOT marked undone", "not claimed");
    assert_eq!(fs::read(fixture.path("evil")).unwrap(), b"evil");
    assert_eq!(
        fs::read(fixture.path("etc/demo.conf")).unwrap(),
        b"# demo configuration\nverbose = no\n"
    );
    assert!(!run.join("undone").exists(), "the run is not marked undone");
    // Everything the run really did is reversed all the same.
    fs::remove_file(fixture.path("evil")).unwrap();
    damaged.assert_same(&fixture.snapshot(), "the genuine steps reversed");
}

/// Case 1: a run directory that is a symlink to a directory outside ROOT (holding a journal
/// that would delete a file of ROOT), and a run whose journal is such a symlink. Neither is
/// read, listed as a run, written to, or undone; every applet says so and goes on.
#[test]
fn symlinked_run_directory_and_journal_are_not_followed() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let mut marker = Marker::new(&[("journal", b"create\t/etc/demo.conf\nfinished\n")]);
    fs::remove_file(fixture.path("usr/bin/demo-tool")).unwrap();
    assert_exit(&restore(&fixture, &[]), 0, "first restore");
    let real = run_id(&only_run(&fixture));
    let backups = fixture.path(debroot::BACKUPS);
    let linked = "29991231T235959Z";
    symlink(marker.path(), backups.join(linked)).unwrap();
    let linked_journal = "29991231T235958Z";
    fs::create_dir(backups.join(linked_journal)).unwrap();
    symlink(
        marker.path().join("journal"),
        backups.join(linked_journal).join("journal"),
    )
    .unwrap();

    let list = undo(&fixture, &["--list"]);
    marker.assert_untouched("undo --list beside a symlinked run");
    assert_exit(&list, 0, "undo --list");
    assert_says(
        &list,
        "stdout",
        &format!("{real}  finished"),
        "the real run",
    );
    assert!(
        !common::stdout(&list).contains(linked),
        "a symlink is no run: {}",
        show(&list)
    );
    assert_says(
        &list,
        "stderr",
        &format!("warning: {linked} ignored:"),
        "the symlink named",
    );
    assert_says(&list, "stderr", "a symlink, not a run directory", "why");
    assert_says(
        &list,
        "stderr",
        &format!("warning: {linked_journal} ignored:"),
        "the symlinked journal named",
    );

    let explicit = undo(&fixture, &[linked]);
    assert_exit(&explicit, 2, "undo of the symlinked run");
    assert_says(
        &explicit,
        "stderr",
        "a symlink, not a run directory",
        "refused",
    );
    let explicit = undo(&fixture, &[linked_journal]);
    assert_exit(&explicit, 2, "undo of the run with a symlinked journal");
    assert_says(
        &explicit,
        "stderr",
        "/journal: a symlink: not followed",
        "refused",
    );

    fs::remove_file(fixture.path("usr/share/doc/demo-doc/README")).unwrap();
    let again = restore(&fixture, &[]);
    assert_exit(&again, 0, "restore beside them");
    assert_says(
        &again,
        "stderr",
        &format!("warning: run {linked} ignored"),
        "",
    );

    // Plain undo takes the newest real run and names what it passed over.
    let newest = undo(&fixture, &[]);
    assert_exit(&newest, 0, "undo of the newest real run");
    assert_says(&newest, "stderr", "warning: ignored: ", "");
    assert!(
        !fixture.path("usr/share/doc/demo-doc/README").exists(),
        "the second run undone"
    );
    assert!(
        fixture.path("etc/demo.conf").is_file(),
        "the marker's journal was not acted on"
    );
    marker.assert_untouched("undo --list, undo, restore beside a symlinked run");
}

/// Case 1, no crafted journal: restore recreates `/usr/bin/demo-tool`; then `usr/bin` is
/// swapped for a symlink to a directory outside ROOT that has its own `demo-tool`. Undo must
/// not remove that file: the path no longer resolves to what the run wrote. Once `usr/bin`
/// is back, the same undo completes.
#[test]
fn directory_swapped_for_a_symlink_after_the_run_leads_nowhere() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let mut marker = Marker::new(&[("demo-tool", b"the host's own tool")]);
    fs::remove_file(fixture.path("usr/bin/demo-tool")).unwrap();
    let damaged = fixture.snapshot();
    assert_exit(&restore(&fixture, &[]), 0, "restore");
    let usr_bin = fixture.path("usr/bin");
    let moved = fixture.path("usr/bin.moved");
    fs::rename(&usr_bin, &moved).unwrap();
    symlink(marker.path(), &usr_bin).unwrap();

    let undone = undo(&fixture, &[]);
    marker.assert_untouched("undo through a usr/bin swapped for a symlink");
    assert_exit(&undone, 1, "undo through a swapped usr/bin");
    assert_says(
        &undone,
        "stderr",
        "/usr/bin/demo-tool: resolves to",
        "the path named",
    );
    assert_says(&undone, "stderr", "not touched", "left alone");
    assert_says(&undone, "stdout", "is NOT marked undone", "not claimed");
    assert!(
        moved.join("demo-tool").is_file(),
        "ROOT's copy untouched too"
    );

    fs::remove_file(&usr_bin).unwrap();
    fs::rename(&moved, &usr_bin).unwrap();
    let undone = undo(&fixture, &[]);
    assert_exit(&undone, 0, "undo with usr/bin back");
    damaged.assert_same(&fixture.snapshot(), "after undo");
}

/// Case 13: a backup deleted after the run. Undo must fail that step naming the backup, not
/// mark the run undone, and leave the restored file as it is.
#[test]
fn undo_with_a_deleted_backup_is_not_a_success() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    fs::write(fixture.path("usr/bin/demo-tool"), b"damaged tool").unwrap();
    fs::remove_file(fixture.path("usr/share/doc/demo-doc/README")).unwrap();
    assert_exit(&restore(&fixture, &[]), 0, "restore");
    let restored_tool = fs::read(fixture.path("usr/bin/demo-tool")).unwrap();
    let run = only_run(&fixture);
    let id = run_id(&run);
    fs::remove_file(run.join("files/usr/bin/demo-tool")).expect("the run made this backup");

    let undone = undo(&fixture, &[]);
    assert_exit(&undone, 1, "undo without a backup");
    assert_says(
        &undone,
        "stderr",
        &format!(
            "/var/backups/rescue/{id}/files/usr/bin/demo-tool: the backup of /usr/bin/demo-tool is gone"
        ),
        "the backup named",
    );
    assert_says(
        &undone,
        "stdout",
        &format!("run {id} is NOT marked undone: 1 steps reversed, 1 problem"),
        "the rest reversed, no success claimed",
    );
    assert_eq!(
        fs::read(fixture.path("usr/bin/demo-tool")).unwrap(),
        restored_tool,
        "the restored file stays"
    );
    assert!(!fixture.path("usr/share/doc/demo-doc/README").exists());
    assert!(!run.join("undone").exists());
    let list = undo(&fixture, &["--list"]);
    assert_exit(&list, 0, "undo --list");
    assert_says(
        &list,
        "stdout",
        &format!("{id}  finished"),
        "still standing",
    );
    // Asked again, it says the same: nothing turns a failure into a success by repetition.
    assert_exit(&undo(&fixture, &[]), 1, "undo again");
}

/// Case 13: the journal of a finished run cut inside a line. The steps after the cut are
/// lost, so undo must say the journal was cut and not mark the run undone. The same torn
/// last line on a run a kill interrupted is the crash case: ignored, undo succeeds.
#[test]
fn a_cut_journal_is_told_from_a_torn_last_line() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    fs::remove_file(fixture.path("usr/bin/demo-tool")).unwrap();
    fs::write(fixture.path("usr/share/demo-data/words.txt"), b"delta\n").unwrap();
    let damaged = fixture.snapshot();
    let killed_root = fixture.base().join("killed");
    debroot::copy_tree(&fixture.root, &killed_root);

    assert_exit(&restore(&fixture, &[]), 0, "restore");
    let run = only_run(&fixture);
    let journal = run.join("journal");
    let body = fs::read(&journal).unwrap();
    let second_line = body.iter().position(|&b| b == b'\n').unwrap() + 1;
    fs::write(&journal, &body[..second_line + 5]).unwrap();
    let undone = undo(&fixture, &[]);
    assert_exit(&undone, 1, "undo of a cut journal");
    assert_says(&undone, "stderr", "cut or changed since", "the cut named");
    assert_says(&undone, "stderr", "its last line is cut short", "");
    assert_says(
        &undone,
        "stdout",
        "is NOT marked undone",
        "no success claimed",
    );
    assert!(!run.join("undone").exists());

    // The crash case: killed after 3 durable steps, then a line torn as a crash tears it.
    let mut command = common::rescue_at(&killed_root, "restore", &["--yes"]);
    command.env("RESCUE_FAULT_KILL_AFTER", "3");
    let killed = common::output_without_terminal(&mut command);
    assert_eq!(killed.status.code(), None, "killed: {}", show(&killed));
    let killed_run = debroot::runs(&killed_root).pop().unwrap();
    append(&killed_run.join("journal"), "replace\t/usr/share/demo-d");
    let undone = rescue_in(&killed_root, "undo", &[]);
    assert_exit(&undone, 0, "undo after a kill with a torn last line");
    assert_says(&undone, "stdout", "undone run", "");
    damaged.assert_same(
        &debroot::snapshot(&killed_root, &[debroot::BACKUPS, debroot::DIGEST_CACHE]),
        "the killed run undone",
    );
}

/// Case 14: restore a modified conffile (`--conffiles`), edit it, undo. The edit must survive
/// at the path the output names, the admin's version from before the run must be back, and
/// the exit code must say that something was kept (1), with the run undone.
#[test]
fn undo_keeps_an_edit_made_after_the_run() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    fs::write(
        fixture.path("etc/demo.conf"),
        b"# admin's own\nverbose = yes\n",
    )
    .unwrap();
    fs::set_permissions(
        fixture.path("usr/bin/demo-su"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    assert_exit(&restore(&fixture, &["--conffiles"]), 0, "restore");
    assert_eq!(
        fs::metadata(fixture.path("usr/bin/demo-su"))
            .unwrap()
            .mode()
            & 0o7777,
        0o4755
    );
    let edit = b"# edited after the restore\nverbose = maybe\n";
    fs::write(fixture.path("etc/demo.conf"), edit).unwrap();
    fs::set_permissions(
        fixture.path("usr/bin/demo-su"),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let id = run_id(&only_run(&fixture));

    let undone = undo(&fixture, &[]);
    assert_exit(&undone, 1, "undo over later edits");
    let kept_at = fixture.path(&format!(
        "{}/{id}/undo-kept/etc/demo.conf",
        debroot::BACKUPS
    ));
    assert_says(
        &undone,
        "stdout",
        &format!(
            "kept: /etc/demo.conf: changed after the run; that version is now at {}",
            kept_at.display()
        ),
        "where the edit is",
    );
    assert_eq!(fs::read(&kept_at).unwrap(), edit, "the edit survives");
    assert_eq!(
        fs::read(fixture.path("etc/demo.conf")).unwrap(),
        b"# admin's own\nverbose = yes\n",
        "the version from before the run is back"
    );
    assert_says(
        &undone,
        "stdout",
        "kept: /usr/bin/demo-su: mode and owner changed after the run (now 0700 0:0, the run set 4755 0:0): left as it is",
        "a later chmod is not undone",
    );
    assert_eq!(
        fs::metadata(fixture.path("usr/bin/demo-su"))
            .unwrap()
            .mode()
            & 0o7777,
        0o700
    );
    assert_says(
        &undone,
        "stdout",
        &format!("undone run {id}: 2 steps reversed; 2 paths changed after the run kept"),
        "",
    );
    let list = undo(&fixture, &["--list"]);
    assert_says(
        &list,
        "stdout",
        &format!("{id}  undone"),
        "the run is undone",
    );
}

/// Case 14: a conffile the run created (it was missing) and that was edited since is not
/// deleted by undo: it moves to `undo-kept/`.
#[test]
fn undo_does_not_delete_a_created_file_edited_since() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    fs::remove_file(fixture.path("etc/demo.conf")).unwrap();
    let damaged = fixture.snapshot();
    assert_exit(&restore(&fixture, &[]), 0, "restore");
    fs::write(fixture.path("etc/demo.conf"), b"verbose = always\n").unwrap();
    let id = run_id(&only_run(&fixture));
    let undone = undo(&fixture, &[]);
    assert_exit(&undone, 1, "undo");
    let kept_at = fixture.path(&format!(
        "{}/{id}/undo-kept/etc/demo.conf",
        debroot::BACKUPS
    ));
    assert_says(&undone, "stdout", &kept_at.display().to_string(), "named");
    assert_eq!(fs::read(&kept_at).unwrap(), b"verbose = always\n");
    damaged.assert_same(&fixture.snapshot(), "the run undone");
}

/// Case 15: one unreadable line in an old, finished run's journal. A later restore warns
/// and succeeds (exit 0, not 2); `undo --list` warns and lists; the newer run undoes cleanly;
/// the damaged run itself cannot be marked undone.
#[test]
fn a_damaged_journal_of_a_finished_run_is_a_warning() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    fs::remove_file(fixture.path("usr/bin/demo-tool")).unwrap();
    fs::remove_file(fixture.path("usr/share/doc/demo-doc/README")).unwrap();
    assert_exit(&restore(&fixture, &[]), 0, "first restore");
    let old = only_run(&fixture);
    let old_id = run_id(&old);
    let journal = old.join("journal");
    let text = fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 3, "{text}");
    lines[1] = "garbage\twith\tfields";
    fs::write(&journal, format!("{}\n", lines.join("\n"))).unwrap();

    fs::write(fixture.path("usr/share/demo-data/words.txt"), b"delta\n").unwrap();
    let again = restore(&fixture, &[]);
    assert_exit(&again, 0, "restore with a damaged old journal");
    assert_says(
        &again,
        "stderr",
        &format!("warning: run {old_id}: journal line 2 unreadable"),
        "the damage reported",
    );
    let list = undo(&fixture, &["--list"]);
    assert_exit(&list, 0, "undo --list");
    assert_says(&list, "stdout", &format!("{old_id}  finished"), "listed");
    assert_says(
        &list,
        "stderr",
        &format!("warning: run {old_id}: journal line 2 unreadable"),
        "",
    );
    assert_eq!(real_runs(&fixture).len(), 2);
    assert_exit(&undo(&fixture, &[]), 0, "undo of the newer run");
    let old_undo = undo(&fixture, &[]);
    assert_exit(&old_undo, 1, "undo of the damaged run");
    assert_says(&old_undo, "stderr", "journal line 2 unreadable", "");
    assert_says(&old_undo, "stdout", "is NOT marked undone", "");
}

/// Case 16: the backup copy fails for want of space (a 64 KiB tmpfs holds the runs, the
/// damaged file is bigger). No `.rescue-` temporary may stay in ROOT and no partial backup in
/// the run directory; the damaged file is untouched. Then a finished run of an older version
/// with a leftover temporary: the next successful restore removes it.
#[test]
fn a_failed_backup_copy_leaves_nothing_behind() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let big: Vec<u8> = (0u32..256 * 1024).map(|i| (i % 251) as u8).collect();
    fs::write(fixture.path("usr/bin/demo-tool"), &big).unwrap();
    let backups = fixture.path(debroot::BACKUPS);
    let Some(full) = common::Tmpfs::mount(&backups, "size=64k") else {
        return;
    };

    let failed = restore(&fixture, &[]);
    assert_exit(&failed, 1, "restore with no room for the backup");
    assert_says(&failed, "stdout", "FAILED demo:", "the package named");
    assert_says(
        &failed,
        "stdout",
        &format!(
            "cannot copy to '{}/files/usr/bin/demo-tool': No space left on device",
            only_run(&fixture).display()
        ),
        "the backup copy and why",
    );
    assert_eq!(
        temporaries(&fixture.root),
        Vec::<PathBuf>::new(),
        "temporaries"
    );
    let run = only_run(&fixture);
    assert!(
        !run.join("files/usr/bin/demo-tool").exists(),
        "a partial backup stayed"
    );
    assert_eq!(fs::read(fixture.path("usr/bin/demo-tool")).unwrap(), big);
    drop(full);

    // An older version's finished run that left a temporary next to its target.
    let old = "20200101T000000Z";
    let leftover = fixture.path(&format!("usr/bin/.rescue-{old}-1"));
    fs::write(&leftover, b"half a file").unwrap();
    write_journal(
        &backups.join(old),
        &format!("stage\t/usr/bin/.rescue-{old}-1\nfinished\n"),
    );
    let fixed = restore(&fixture, &[]);
    assert_exit(&fixed, 0, "restore with room");
    assert_says(
        &fixed,
        "stdout",
        "removed 1 temporary files earlier runs left behind",
        "",
    );
    assert_eq!(
        temporaries(&fixture.root),
        Vec::<PathBuf>::new(),
        "temporaries"
    );
    assert_eq!(fixture.dpkg_verify(), "", "restored");
}
