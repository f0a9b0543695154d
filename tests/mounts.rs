//! `mounts` on mounts this test makes: a healthy one is `ok` (exit 0), a hidden one is
//! `overmounted`, a read-only one that ROOT's fstab wants read-write is `remounted read-only`
//! (exit 1), and without /proc (a chroot holding only the binary) it falls back to /etc/mtab
//! or says /proc is missing (exit 2).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{assert_exit, have_or_skip, rescue, root_or_skip, show, stdout};

/// The ramfs tests take turns: each reads the whole ramfs table.
static RAMFS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A mount point unmounted (everything on it, lazily) on drop.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        for _ in 0..4 {
            let status = Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .stderr(std::process::Stdio::null())
                .status();
            if !status.is_ok_and(|s| s.success()) {
                break;
            }
        }
    }
}

fn mount(args: &[&str], target: &Path) {
    let status = Command::new("mount")
        .args(args)
        .arg(target)
        .status()
        .expect("run mount");
    assert!(status.success(), "mount {args:?} {}", target.display());
}

fn mounts(args: &[&str]) -> Output {
    rescue()
        .arg("mounts")
        .args(args)
        .output()
        .expect("run rescue")
}

/// The row of `dir` (each, when it is mounted more than once).
fn rows<'a>(output: &'a str, dir: &Path) -> Vec<&'a str> {
    let dir = dir.to_str().unwrap();
    output
        .lines()
        .filter(|line| line.split_whitespace().next() == Some(dir))
        .collect()
}

#[test]
fn healthy_hidden_and_read_only_mounts_are_told_apart() {
    if !root_or_skip("mounting needs root") {
        return;
    }
    let _turn = RAMFS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let healthy = tmp.path().join("healthy");
    let stacked = tmp.path().join("stacked");
    let readonly = tmp.path().join("readonly");
    for dir in [&healthy, &stacked, &readonly] {
        std::fs::create_dir(dir).unwrap();
    }
    let _guards = [
        Mounted(healthy.clone()),
        Mounted(stacked.clone()),
        Mounted(readonly.clone()),
    ];
    // ramfs: a type nothing else on a test host mounts, so `-t ramfs` shows only ours.
    mount(&["-t", "ramfs", "rescue-healthy"], &healthy);
    let out = mounts(&["-t", "ramfs"]);
    assert_exit(&out, 0, "mounts -t ramfs");
    let text = stdout(&out);
    assert!(text.starts_with("MOUNT POINT"), "{text}");
    let row = rows(&text, &healthy);
    assert_eq!(row.len(), 1, "{text}");
    assert!(
        row[0].contains(" ramfs ") && row[0].ends_with("ok"),
        "{text}"
    );

    mount(&["-t", "ramfs", "rescue-lower"], &stacked);
    mount(&["-t", "ramfs", "rescue-upper"], &stacked);
    let out = mounts(&["-t", "ramfs"]);
    assert_exit(&out, 0, "an overmounted mount is shown, not a fault");
    let text = stdout(&out);
    let row = rows(&text, &stacked);
    assert_eq!(row.len(), 2, "{text}");
    assert!(row[0].contains("rescue-lower") && row[0].ends_with("overmounted"));
    assert!(row[1].contains("rescue-upper") && row[1].ends_with("ok"));

    // ROOT's fstab mounts it read-write; it is read-only now.
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/fstab"),
        format!("rescue-ro {} ramfs defaults 0 0\n", readonly.display()),
    )
    .unwrap();
    mount(&["-t", "ramfs", "-o", "ro", "rescue-ro"], &readonly);
    let out = mounts(&["-t", "ramfs", "--root", root.to_str().unwrap()]);
    assert_exit(&out, 1, "a read-only mount fstab wants read-write");
    let text = stdout(&out);
    let row = rows(&text, &readonly);
    assert!(row[0].ends_with("remounted read-only"), "{text}");
    // Without that fstab, read-only is what was asked for.
    let out = mounts(&["-t", "ramfs"]);
    assert!(
        rows(&stdout(&out), &readonly)[0].ends_with("ok"),
        "{}",
        show(&out)
    );
}

#[test]
fn a_read_only_superblock_under_a_read_write_mount_and_a_stuck_statfs_are_flagged() {
    if !root_or_skip("mounting needs root") {
        return;
    }
    let _turn = RAMFS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first");
    let bound = tmp.path().join("bound");
    for dir in [&first, &bound] {
        std::fs::create_dir(dir).unwrap();
    }
    let _guards = [Mounted(bound.clone()), Mounted(first.clone())];
    mount(&["-t", "ramfs", "rescue-sb"], &first);
    mount(&["--bind", first.to_str().unwrap()], &bound);
    // A plain remount makes the file system read-only; the bind stays a read-write mount.
    mount(&["-o", "remount,ro"], &first);
    let out = mounts(&["-t", "ramfs"]);
    assert_exit(&out, 1, "a read-only superblock under a read-write mount");
    let text = stdout(&out);
    assert!(
        rows(&text, &bound)[0].ends_with("remounted read-only"),
        "{text}"
    );
    assert!(rows(&text, &first)[0].ends_with("ok"), "{text}");

    let out = rescue()
        .args(["mounts", "-t", "ramfs"])
        .env("RESCUE_FAULT_STUCK_STATFS", &first)
        .output()
        .expect("run rescue mounts");
    assert_exit(&out, 1, "a stuck statfs");
    let text = stdout(&out);
    assert!(
        rows(&text, &first)[0].ends_with("stale: statfs did not answer in 1 s"),
        "{text}"
    );
}

#[test]
fn pseudo_file_systems_are_hidden_unless_all() {
    let out = mounts(&[]);
    if !Path::new("/proc/self/mountinfo").exists() {
        return;
    }
    assert!(
        !stdout(&out).lines().any(|l| l.starts_with("/proc ")),
        "{}",
        show(&out)
    );
    let all = mounts(&["--all"]);
    assert!(
        stdout(&all).lines().any(|l| l.starts_with("/proc ")),
        "{}",
        show(&all)
    );
}

/// A root with the rescue binary (linked or copied) and the libraries it needs, no /proc.
fn root_without_proc(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_rescue"));
    let ldd = Command::new("ldd").arg(&binary).output().expect("ldd");
    let libraries = stdout(&ldd)
        .split_whitespace()
        .filter(|word| word.starts_with('/'))
        .map(PathBuf::from)
        .collect::<Vec<_>>();
    for library in libraries {
        let real = std::fs::canonicalize(&library).unwrap_or(library.clone());
        let target = root.join(library.strip_prefix("/").unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&real, &target).unwrap();
    }
    let target = root.join("rescue");
    std::fs::create_dir_all(&root).unwrap();
    if std::fs::hard_link(&binary, &target).is_err() {
        std::fs::copy(&binary, &target).unwrap();
    }
    root
}

#[test]
fn without_proc_mtab_is_read_and_without_either_proc_is_named() {
    if !root_or_skip("chroot needs root") || !have_or_skip("ldd") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = root_without_proc(tmp.path());
    let run = || {
        Command::new("chroot")
            .arg(&root)
            .args(["/rescue", "mounts", "--all"])
            .output()
            .expect("run chroot")
    };
    let out = run();
    assert_exit(&out, 2, "no /proc and no /etc/mtab");
    assert!(
        common::stderr(&out).contains("/proc: missing"),
        "{}",
        show(&out)
    );

    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/mtab"),
        "/dev/sda1 / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n",
    )
    .unwrap();
    let out = run();
    assert!(
        common::stderr(&out).contains("reading /etc/mtab"),
        "{}",
        show(&out)
    );
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("/ ") && l.contains("/dev/sda1")),
        "{text}"
    );
}

#[test]
fn the_static_binary_reads_mounts_in_an_empty_chroot_with_proc_bound() {
    if !root_or_skip("chroot and bind mounts need root") {
        return;
    }
    let Some(binary) = common::dist_binary() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::copy(&binary, root.join("rescue")).unwrap();
    let _proc = Mounted(root.join("proc"));
    mount(&["--bind", "/proc"], &root.join("proc"));
    let inside = |args: &[&str]| {
        Command::new("chroot")
            .arg(&root)
            .arg("/rescue")
            .args(args)
            .output()
            .expect("run chroot")
    };
    let out = inside(&["mounts", "--all"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", show(&out));
    assert!(
        stdout(&out).lines().any(|l| l.starts_with("/proc ")),
        "{}",
        show(&out)
    );
    let listed = inside(&["mount", "-t", "proc"]);
    assert!(
        stdout(&listed).contains(" on /proc type proc ("),
        "{}",
        show(&listed)
    );
    assert_exit(&inside(&["mountpoint", "/proc"]), 0, "mountpoint /proc");
    let df = inside(&["df", "-a", "/proc"]);
    assert_exit(&df, 0, "df -a /proc");
    assert!(
        stdout(&df)
            .lines()
            .nth(1)
            .is_some_and(|l| l.ends_with(" /proc")),
        "{}",
        show(&df)
    );
}
