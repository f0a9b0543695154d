//! The kit's baseline: recorded from a bookworm root, written, read back; what it records
//! against `stat`, `getcap`, `md5sum` and `dpkg-query` run in the root; and verify and restore
//! taking it as the host's own expected metadata (an admin's `chmod`, `chown`, `setcap`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use common::bookworm::BookwormRoot;
use common::debroot::{self, Node};
use rescue::dpkg::Database;
use rescue::kit::baseline::{Baseline, Entry};
use rescue::sys::capability::FileCaps;
use rescue::sys::root::Root;
use rescue::verify::FileKind;

fn run(command: &mut Command) -> Output {
    let what = format!("{command:?}");
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    debroot::assert_success(&what, &output);
    output
}

/// `chroot ROOT CMD ARGS`'s standard output, the command required to succeed.
fn in_root(root: &Path, args: &[&str]) -> String {
    let output = run(Command::new("chroot")
        .arg(root)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Records ROOT's baseline and writes it where verify and restore look by default.
fn record(root: &Path) -> (Baseline, PathBuf) {
    let inside = Root::new(root);
    let db = Database::open_in(&inside).expect("open ROOT's database");
    let baseline = Baseline::record(&inside, &db).expect("record");
    let kit = root.join("srv/rescue");
    std::fs::create_dir_all(&kit).unwrap();
    let file = kit.join("baseline");
    baseline.write(&file).expect("write baseline");
    (baseline, file)
}

/// The entry of the first of `paths` the baseline has (bookworm lists some binaries under
/// `/bin`, others under `/usr/bin`).
fn entry<'b>(baseline: &'b Baseline, paths: &[&str]) -> (&'b Entry, String) {
    paths
        .iter()
        .find_map(|p| baseline.get(Path::new(p)).map(|e| (e, p.to_string())))
        .unwrap_or_else(|| panic!("none of {paths:?} in the baseline"))
}

fn verify(root: &Path, args: &[&str]) -> (i32, String, String) {
    let output = common::rescue_in(root, "verify", args);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_recorded_root_reads_back_equal_and_agrees_with_stat_and_getcap() {
    let Some(root) = BookwormRoot::extract() else {
        return;
    };
    let started = Instant::now();
    let (baseline, file) = record(&root.root);
    let took = started.elapsed();
    let size = std::fs::metadata(&file).unwrap().len();
    eprintln!(
        "bookworm root: {} paths recorded in {took:?}, baseline {size} bytes",
        baseline.len()
    );
    assert!(baseline.len() > 5_000, "{} paths", baseline.len());
    assert_eq!(Baseline::read(&file).expect("read back"), baseline);

    let samples: &[&[&str]] = &[
        &["/usr/bin/ssh-agent", "/bin/ssh-agent"],
        &["/usr/bin/ping", "/bin/ping"],
        &["/etc/sudoers"],
        &["/usr/bin/sudo"],
        &["/var/spool/cron/crontabs"],
        &["/usr/bin/crontab"],
        &["/bin"],
    ];
    let mut checked_caps = false;
    for paths in samples {
        let Some((e, path)) = paths
            .iter()
            .find_map(|p| baseline.get(Path::new(p)).map(|e| (e, p.to_string())))
        else {
            panic!("none of {paths:?} recorded");
        };
        let stat = in_root(&root.root, &["stat", "-c", "%a %u %U %g %G %s %F", &path]);
        let user = e.user.as_deref().unwrap_or("UNKNOWN");
        let group = e.group.as_deref().unwrap_or("UNKNOWN");
        let kind = match e.kind {
            FileKind::Regular if e.size == 0 => "regular empty file",
            FileKind::Regular => "regular file",
            FileKind::Directory => "directory",
            FileKind::Symlink => "symbolic link",
            _ => "other",
        };
        let ours = format!(
            "{:o} {} {user} {} {group} {} {kind}",
            e.mode, e.uid, e.gid, e.size
        );
        assert_eq!(ours, stat, "{path}: baseline vs stat");
        if e.kind == FileKind::Regular {
            let md5 = in_root(&root.root, &["md5sum", &path]);
            let hex: String = e
                .md5
                .expect("md5")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert!(md5.starts_with(&hex), "{path}: md5 {hex} vs {md5}");
            let getcap = in_root(&root.root, &["getcap", &path]);
            let ours = e
                .file_caps()
                .map(|c| format!("{path} {c}"))
                .unwrap_or_default();
            assert_eq!(ours, getcap, "{path}: baseline vs getcap");
            checked_caps |= !getcap.is_empty();
        }
        if e.kind == FileKind::Symlink {
            let target = in_root(&root.root, &["readlink", &path]);
            assert_eq!(e.link_target.as_deref(), Some(Path::new(&target)), "{path}");
        }
        let owner = in_root(&root.root, &["dpkg-query", "-S", &path]);
        let owners = owner.rsplit_once(": ").map_or("", |(o, _)| o);
        assert!(
            owners.split(", ").any(|o| o == e.package),
            "{path}: baseline says {}, dpkg-query -S says {owner}",
            e.package
        );
        let name = e.package.split(':').next().unwrap();
        let version = in_root(&root.root, &["dpkg-query", "-W", "-f", "${Version}", name]);
        assert_eq!(e.version, version, "{path}: version of {}", e.package);
    }
    assert!(checked_caps, "no sample carried a capability (ping should)");
    // No package lists /etc/shadow (the shadow package's postinst makes it): not the
    // baseline's, the kit's state/ copies keep it.
    assert!(baseline.get(Path::new("/etc/shadow")).is_none());
    let dpkg_s = Command::new("chroot")
        .arg(&root.root)
        .args(["dpkg-query", "-S", "/etc/shadow"])
        .output()
        .unwrap();
    assert!(
        !dpkg_s.status.success(),
        "dpkg-query -S /etc/shadow found an owner"
    );
    let (agent, _) = entry(&baseline, &["/usr/bin/ssh-agent", "/bin/ssh-agent"]);
    assert_eq!((agent.mode, agent.group.as_deref()), (0o2755, Some("_ssh")));
    let (ping, _) = entry(&baseline, &["/usr/bin/ping", "/bin/ping"]);
    assert_eq!(
        ping.file_caps(),
        Some(FileCaps::parse_text("cap_net_raw=ep").unwrap())
    );
}

/// The recorded state of `paths` (relative to ROOT), read the way the snapshots of the other
/// tests read it.
fn nodes(root: &BookwormRoot, paths: &[&str]) -> Vec<Option<Node>> {
    paths
        .iter()
        .map(|p| debroot::node_at(&root.path(p)))
        .collect()
}

fn findings(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  /"))
        .map(|l| format!("/{}", l.split("  ").next().unwrap_or(l)))
        .collect()
}

fn flagged(stdout: &str, name: &str) -> bool {
    findings(stdout)
        .iter()
        .any(|p| p.ends_with(&format!("/bin/{name}")))
}

#[test]
fn verify_and_restore_take_the_host_s_recorded_metadata() {
    let Some(root) = BookwormRoot::extract() else {
        return;
    };
    let r = &root.root;
    let no_baseline = tempfile::tempdir().unwrap();
    let without = ["--kit", no_baseline.path().to_str().unwrap()];
    // What an admin did before the baseline was recorded: the host's own state.
    run(Command::new("chmod")
        .arg("0700")
        .arg(root.path("usr/bin/sort")));
    run(Command::new("chown")
        .arg("0:100")
        .arg(root.path("usr/bin/tac")));
    run(Command::new("setcap")
        .arg("cap_net_bind_service=ep")
        .arg(root.path("usr/bin/env")));
    let (baseline, _) = record(r);
    let (sort, sort_path) = entry(&baseline, &["/usr/bin/sort", "/bin/sort"]);
    assert_eq!(sort.mode, 0o700);
    let samples = ["usr/bin/sort", "usr/bin/tac", "usr/bin/env", "usr/bin/tr"];
    let recorded = nodes(&root, &samples);

    let (code, out, err) = verify(r, &[]);
    assert_eq!(
        code, 0,
        "with the baseline, the admin's changes are the host's: {out}{err}"
    );
    assert!(
        out.contains("expected metadata from the kit's baseline")
            && out.contains("srv/rescue/baseline"),
        "{out}"
    );
    let (code, out, err) = verify(r, &without);
    assert_eq!(
        code, 1,
        "without it, they differ from the archives: {out}{err}"
    );
    for name in ["sort", "tac", "env"] {
        assert!(
            flagged(&out, name),
            "{name} not flagged without the baseline: {out}"
        );
    }
    assert!(
        !out.contains("expected metadata from the kit's baseline"),
        "{out}"
    );

    // The same kind of change after the recording is a finding.
    run(Command::new("chmod")
        .arg("0755")
        .arg(root.path("usr/bin/sort")));
    run(Command::new("chmod")
        .arg("0700")
        .arg(root.path("usr/bin/tr")));
    run(Command::new("chown")
        .arg("0:0")
        .arg(root.path("usr/bin/tac")));
    run(Command::new("setcap")
        .arg("-r")
        .arg(root.path("usr/bin/env")));
    let (code, out, err) = verify(r, &[]);
    assert_eq!(code, 1, "{out}{err}");
    for name in ["sort", "tac", "env", "tr"] {
        assert!(
            flagged(&out, name),
            "{name} not flagged with the baseline: {out}"
        );
    }
    assert!(
        out.contains("mode 0755 instead of 0700 (baseline)"),
        "{out}"
    );
    let (_, out, _) = verify(r, &without);
    assert_eq!(
        findings(&out).len(),
        1,
        "only tr differs from its archive: {out}"
    );

    let restore = common::rescue_in(r, "restore", &["--yes"]);
    let shown = common::show(&restore);
    assert!(shown.contains("baseline: expected metadata"), "{shown}");
    assert_eq!(
        nodes(&root, &samples),
        recorded,
        "restore did not put back the recorded state of {samples:?}: {shown}"
    );
    let (code, out, err) = verify(r, &[]);
    assert_eq!(code, 0, "after restore: {out}{err}");

    // Written anew, a file gets the host's recorded metadata too, not the archive's.
    std::fs::remove_file(root.path("usr/bin/env")).unwrap();
    std::fs::remove_file(root.path("usr/bin/tac")).unwrap();
    let restore = common::rescue_in(r, "restore", &["--yes"]);
    assert_eq!(
        nodes(&root, &samples),
        recorded,
        "deleted files not written back as recorded: {}",
        common::show(&restore)
    );

    // With no archive for coreutils, the baseline alone still tells the host's mode.
    for deb in std::fs::read_dir(root.path("var/cache/apt/archives")).unwrap() {
        let deb = deb.unwrap().path();
        let name = deb.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("coreutils_") {
            std::fs::remove_file(&deb).unwrap();
        }
    }
    run(Command::new("chmod")
        .arg("0755")
        .arg(root.path("usr/bin/sort")));
    let (code, out, err) = verify(r, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(findings(&out), vec![sort_path], "{out}");
    assert!(
        out.contains("mode 0755 instead of 0700 (baseline)"),
        "{out}"
    );
    assert!(out.contains("1 packages checked against it alone"), "{out}");
    let (code, out, err) = verify(r, &without);
    assert_eq!(
        code, 0,
        "without archive nor baseline nothing tells: {out}{err}"
    );
    // Restore cannot set it without the archive, and says so rather than "intact".
    let plan = common::rescue_in(r, "restore", &["--dry-run"]);
    let shown = common::show(&plan);
    assert_eq!(plan.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("cannot restore coreutils")
            && shown.contains("differs from the kit's baseline"),
        "{shown}"
    );
}

/// Rewrites field `field` (0-based) of the baseline line of `path`.
fn edit_field(file: &Path, path: &str, field: usize, value: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let suffix = format!(" {path}");
    let mut found = false;
    let edited: Vec<String> = text
        .lines()
        .map(|line| {
            if !line.ends_with(&suffix) {
                return line.to_string();
            }
            found = true;
            let mut fields: Vec<&str> = line.split(' ').collect();
            fields[field] = value;
            fields.join(" ")
        })
        .collect();
    assert!(found, "{path} not in {}", file.display());
    std::fs::write(file, edited.join("\n") + "\n").unwrap();
}

#[test]
fn an_entry_older_than_the_installed_package_is_ignored_with_a_note() {
    let Some(root) = BookwormRoot::extract() else {
        return;
    };
    let r = &root.root;
    run(Command::new("chmod")
        .arg("0700")
        .arg(root.path("usr/bin/sort")));
    run(Command::new("chmod")
        .arg("0700")
        .arg(root.path("usr/bin/tr")));
    let (baseline, file) = record(r);
    let (_, sort) = entry(&baseline, &["/usr/bin/sort", "/bin/sort"]);
    let (tr_entry, tr) = entry(&baseline, &["/usr/bin/tr", "/bin/tr"]);
    let package = tr_entry.package.clone();
    let (code, _, _) = verify(r, &[]);
    assert_eq!(code, 0);

    // Recorded from an older coreutils, and from a file whose content dpkg no longer knows.
    edit_field(&file, &sort, 10, "0.1-stale");
    edit_field(&file, &tr, 7, &"0".repeat(32));
    let (code, out, err) = verify(r, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(flagged(&out, "sort") && flagged(&out, "tr"), "{out}");
    assert!(
        err.contains(&format!("entries of {package} 0.1-stale ignored ({sort})"))
            && err.contains(&format!("is now {}", tr_entry.version)),
        "{err}"
    );
    assert!(
        err.contains(&format!("entries of {package} ignored ({tr})"))
            && err.contains("md5 recorded is not the one dpkg records"),
        "{err}"
    );
    assert!(
        err.contains("srv/rescue/baseline"),
        "the note names the file: {err}"
    );
    let plan = common::rescue_in(r, "restore", &["--dry-run"]);
    let shown = common::show(&plan);
    assert!(shown.contains("0.1-stale ignored"), "{shown}");

    // A damaged baseline is named and set aside; the run goes on with the archives alone.
    let text = std::fs::read(&file).unwrap();
    std::fs::write(&file, &text[..text.len() / 2]).unwrap();
    let (code, out, err) = verify(r, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(flagged(&out, "sort") && flagged(&out, "tr"), "{out}");
    assert!(
        err.contains("srv/rescue/baseline") && err.contains("from the archives alone"),
        "{err}"
    );
    assert!(
        !out.contains("expected metadata from the kit's baseline"),
        "{out}"
    );
}

/// Not a check: how long recording this machine's `/` takes, how large the file is, and
/// what the baseline costs verify (`cargo test --release --test kit_baseline -- --ignored
/// --nocapture`).
#[test]
#[ignore]
fn record_this_host() {
    let root = Root::new("/");
    let db = Database::open_in(&root).expect("open /'s database");
    let kit = tempfile::tempdir().unwrap();
    let file = kit.path().join("baseline");
    for round in ["first", "second", "third"] {
        let started = Instant::now();
        let baseline = Baseline::record(&root, &db).expect("record /");
        let took = started.elapsed();
        let started = Instant::now();
        baseline.write(&file).unwrap();
        let wrote = started.elapsed();
        let started = Instant::now();
        let back = Baseline::read(&file).unwrap();
        let read = started.elapsed();
        assert_eq!(back, baseline);
        let size = std::fs::metadata(&file).unwrap().len();
        eprintln!(
            "{round}: {} paths recorded in {took:?}, written in {wrote:?}, read in {read:?}, {size} bytes",
            baseline.len()
        );
    }
    let empty = tempfile::tempdir().unwrap();
    for (what, dir) in [("with the baseline", kit.path()), ("without", empty.path())] {
        let started = Instant::now();
        let output = common::rescue()
            .args(["verify", "--kit"])
            .arg(dir)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().last().unwrap_or("").to_string();
        eprintln!(
            "verify / {what}: {:?} in {:?}: {last}",
            output.status.code(),
            started.elapsed()
        );
    }
}
