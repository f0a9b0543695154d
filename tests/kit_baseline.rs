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
        &["/etc/shadow"],
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
            assert_ne!(paths[0], "/usr/bin/ssh-agent", "ssh-agent not recorded");
            continue; // /etc/shadow is no package's in some releases
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
            let hex: String = e.md5.expect("md5").iter().map(|b| format!("{b:02x}")).collect();
            assert!(md5.starts_with(&hex), "{path}: md5 {hex} vs {md5}");
            let getcap = in_root(&root.root, &["getcap", &path]);
            let ours = e.file_caps().map(|c| format!("{path} {c}")).unwrap_or_default();
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
    let (agent, _) = entry(&baseline, &["/usr/bin/ssh-agent", "/bin/ssh-agent"]);
    assert_eq!(
        (agent.mode, agent.group.as_deref()),
        (0o2755, Some("_ssh"))
    );
    let (ping, _) = entry(&baseline, &["/usr/bin/ping", "/bin/ping"]);
    assert_eq!(
        ping.file_caps(),
        Some(FileCaps::parse_text("cap_net_raw=ep").unwrap())
    );
}
