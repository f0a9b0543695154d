//! `df` against GNU coreutils 9.1's on a tmpfs this test mounts and fills: byte for byte for
//! each format, the same set of file systems for the whole table, GNU's message and status for
//! a missing operand.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{gnu_and_ours, gnu_or_skip, root_or_skip, show, stdout};

/// The tmpfs, unmounted on drop.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn filled_tmpfs(dir: &Path) -> Option<Mounted> {
    if !root_or_skip("mounting a tmpfs needs root") || !gnu_or_skip("df") {
        return None;
    }
    let target = dir.join("fs");
    std::fs::create_dir(&target).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m,nr_inodes=5000", "rescue-df"])
        .arg(&target)
        .status()
        .expect("run mount");
    assert!(status.success(), "mount tmpfs");
    let guard = Mounted(target.clone());
    std::fs::write(target.join("big"), vec![7u8; 5_000_000]).unwrap();
    std::fs::create_dir(target.join("d")).unwrap();
    for index in 0..40 {
        std::fs::write(target.join(format!("d/{index}")), vec![1u8; 3000 * index]).unwrap();
    }
    Some(guard)
}

#[test]
fn a_tmpfs_is_reported_byte_for_byte_as_gnu_does() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mounted) = filled_tmpfs(tmp.path()) else {
        return;
    };
    let dir = mounted.0.to_str().unwrap().to_string();
    let inner = format!("{dir}/d");
    for args in [
        vec![dir.as_str()],
        vec!["-h", &dir],
        vec!["-H", &dir],
        vec!["-i", &dir],
        vec!["-ih", &dir],
        vec!["-T", &dir],
        vec!["-P", &dir],
        vec!["-hT", &dir, &inner],
        vec!["--total", &dir, &inner],
        vec!["-h", "--total", "-T", &dir],
        vec!["-k", "-P", "-T", &dir],
        vec!["-t", "tmpfs", &dir],
        vec!["--output", &dir],
        vec![
            "--output=source,target,file",
            "--output=ipcent",
            &dir,
            &inner,
        ],
        vec!["-h", "--output=size,avail,pcent", "--total", &dir],
        vec!["-B1M", &dir],
        vec!["-B512", "-T", &dir],
        vec!["-hB1MB", &dir],
        vec!["-B1M", "-h", &dir],
    ] {
        let (gnu, ours) = gnu_and_ours("df", tmp.path(), &args, &[]);
        assert_eq!(stdout(&ours), stdout(&gnu), "df {args:?}");
        assert_eq!(ours.status.code(), gnu.status.code(), "df {args:?}");
        assert!(
            stdout(&ours).lines().count() >= 2,
            "df {args:?}: {}",
            show(&ours)
        );
    }
}

/// The mount points of a table (the last column), or None when the table holds a
/// mount point with a space (not worth splitting here).
fn mount_points(output: &str) -> BTreeSet<String> {
    output
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().last().map(str::to_string))
        .collect()
}

#[test]
fn the_whole_table_shows_what_gnu_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mounted) = filled_tmpfs(tmp.path()) else {
        return;
    };
    let ours_dir = mounted.0.to_str().unwrap().to_string();
    for args in [
        vec![],
        vec!["-a"],
        vec!["-t", "tmpfs"],
        vec!["-x", "tmpfs"],
        vec!["-T", "-i"],
    ] {
        // Other tests may mount and unmount meanwhile: the same answer in one of three
        // tries is an answer.
        let mut last = (BTreeSet::new(), BTreeSet::new());
        for _ in 0..3 {
            let (gnu, ours) = gnu_and_ours("df", tmp.path(), &args, &[]);
            last = (mount_points(&stdout(&gnu)), mount_points(&stdout(&ours)));
            if last.0 == last.1 {
                break;
            }
        }
        assert_eq!(last.1, last.0, "df {args:?}");
        let shown = last.1.contains(&ours_dir);
        assert_eq!(shown, !args.contains(&"-x"), "df {args:?}");
    }
}

#[test]
fn nothing_to_show_and_bad_options_are_said_as_gnu_says_them() {
    if !gnu_or_skip("df") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        vec!["-t", "rescue-no-such-type"],
        vec!["-t", "rescue-no-such-type", "--total", "/"],
        vec!["-Bx", "/"],
        vec!["--output=target,source,target", "/"],
        vec!["-i", "--output", "/"],
    ] {
        let (gnu, ours) = gnu_and_ours("df", tmp.path(), &args, &[]);
        assert_eq!(ours.status.code(), gnu.status.code(), "df {args:?}");
        assert_eq!(stdout(&ours), stdout(&gnu), "df {args:?}");
        let first = |text: String| {
            text.lines()
                .next()
                .unwrap_or("")
                .replace("rescue df:", "df:")
        };
        assert_eq!(
            first(common::stderr(&ours)),
            first(common::stderr(&gnu)),
            "df {args:?}"
        );
    }
}

#[test]
fn a_missing_operand_is_said_and_the_rest_is_shown() {
    if !gnu_or_skip("df") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let args = ["/nonexistent-rescue-df", "/"];
    let (gnu, ours) = gnu_and_ours("df", tmp.path(), &args, &[]);
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(ours.status.code(), gnu.status.code());
    assert_eq!(
        common::stderr(&ours).replace("rescue df:", "df:"),
        common::stderr(&gnu)
    );
    assert_eq!(mount_points(&stdout(&ours)), mount_points(&stdout(&gnu)));
}

#[test]
fn a_statfs_that_never_answers_is_given_up_and_said() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mounted) = filled_tmpfs(tmp.path()) else {
        return;
    };
    let dir = mounted.0.to_str().unwrap();
    for args in [vec![dir], vec![]] {
        let started = std::time::Instant::now();
        let out = common::rescue()
            .arg("df")
            .args(&args)
            .env("RESCUE_FAULT_STUCK_STATFS", dir)
            .output()
            .expect("run rescue df");
        assert!(started.elapsed().as_secs() < 10, "df {args:?} waited");
        assert_eq!(out.status.code(), Some(1), "df {args:?}: {}", show(&out));
        assert_eq!(
            common::stderr(&out),
            format!("rescue df: {dir}: statfs did not answer within 1 s (stale NFS?)\n")
        );
        assert!(!stdout(&out).contains("rescue-df"), "{}", show(&out));
        if args.is_empty() {
            assert!(mount_points(&stdout(&out)).contains("/"), "{}", show(&out));
        }
    }
}

#[test]
fn with_all_an_overmounted_entry_shows_no_numbers_as_gnu_does() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mounted) = filled_tmpfs(tmp.path()) else {
        return;
    };
    let dir = mounted.0.to_str().unwrap().to_string();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "rescue-df-upper", &dir])
        .status()
        .expect("run mount");
    assert!(status.success());
    let _upper = Mounted(mounted.0.clone());
    let ours_lines = |output: &std::process::Output| -> Vec<String> {
        stdout(output)
            .lines()
            .filter(|line| line.ends_with(&dir))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    for args in [vec!["-a"], vec!["-a", "-T", "-i"]] {
        let (gnu, ours) = gnu_and_ours("df", tmp.path(), &args, &[]);
        let lines = ours_lines(&ours);
        assert_eq!(lines, ours_lines(&gnu), "df {args:?}");
        assert_eq!(lines.len(), 2, "df {args:?}: {}", show(&ours));
        assert!(lines[0].starts_with("rescue-df -"), "{lines:?}");
    }
}
