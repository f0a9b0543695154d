//! md5sum and sha256sum compared with GNU's: digests and escaped names, `--tag`, and `-c` on
//! lists with a match, a mismatch, a missing file and a malformed line, with every reporting
//! option. Messages are compared without our `rescue ` prefix.

mod common;

use std::path::Path;
use std::process::{Command, Output};

const NAMES: &[&str] = &[
    "plain",
    "with space",
    "back\\slash",
    "new\nline",
    "car\rriage",
    "empty",
];

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in NAMES.iter().enumerate() {
        let body: Vec<u8> = if *name == "empty" {
            Vec::new()
        } else {
            (0..(i * 10_000 + 3)).map(|n| (n % 253) as u8).collect()
        };
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    dir
}

fn gnu(tool: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn ours(tool: &str, dir: &Path, args: &[&str]) -> Output {
    common::rescue()
        .arg(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn assert_same(tool: &str, dir: &Path, args: &[&str]) {
    let expected = gnu(tool, dir, args);
    let actual = ours(tool, dir, args);
    let case = format!("{tool} {args:?}");
    assert_eq!(actual.status.code(), expected.status.code(), "{case}");
    assert_eq!(common::stdout(&actual), common::stdout(&expected), "{case}");
    let our_err = common::stderr(&actual).replace("rescue ", "");
    assert_eq!(our_err, common::stderr(&expected), "{case}");
}

#[test]
fn digests_and_escaped_names_match_gnu() {
    let dir = fixture();
    for tool in ["md5sum", "sha256sum"] {
        let mut args: Vec<&str> = NAMES.to_vec();
        assert_same(tool, dir.path(), &args);
        args.push("missing");
        assert_same(tool, dir.path(), &args);
        args.insert(0, "--tag");
        assert_same(tool, dir.path(), &args);
        assert_same(tool, dir.path(), &["-b", "plain", "back\\slash"]);
    }
}

#[test]
fn check_lists_match_gnu() {
    let dir = fixture();
    for tool in ["md5sum", "sha256sum"] {
        let listing = gnu(tool, dir.path(), NAMES);
        assert!(listing.status.success());
        let mut list = listing.stdout.clone();
        let zeros = if tool == "md5sum" { 32 } else { 64 };
        list.extend(format!("{}  plain\n", "0".repeat(zeros)).as_bytes());
        list.extend(format!("{}  missing\n", "a".repeat(zeros)).as_bytes());
        list.extend(b"this line is not a checksum\n");
        std::fs::write(dir.path().join("list"), &list).unwrap();
        std::fs::write(dir.path().join("good"), &listing.stdout).unwrap();
        let tagged = gnu(tool, dir.path(), &["--tag", "plain", "back\\slash"]);
        std::fs::write(dir.path().join("tagged"), &tagged.stdout).unwrap();
        for options in [
            &["-c"][..],
            &["-c", "--quiet"],
            &["-c", "--status"],
            &["-c", "--strict"],
            &["-c", "-w"],
            &["-c", "--ignore-missing"],
        ] {
            let mut args = options.to_vec();
            args.push("list");
            assert_same(tool, dir.path(), &args);
        }
        assert_same(tool, dir.path(), &["-c", "good", "tagged"]);
        assert_same(tool, dir.path(), &["-c", "--strict", "good"]);
        assert_same(tool, dir.path(), &["-c", "no-such-list"]);
        assert_same(tool, dir.path(), &["-c", "plain"]);
        assert_same(tool, dir.path(), &["-c", "-b", "good"]);
        assert_same(tool, dir.path(), &["--quiet", "plain"]);
    }
}

/// BSD's reversed `DIGEST NAME` lines (one space): the first line decides which form the
/// list is in, so a name starting with a space or `*` is read as GNU reads it.
#[test]
fn reversed_lists_and_zero_match_gnu() {
    let dir = fixture();
    for name in [" b", "*c", " "] {
        std::fs::write(dir.path().join(name), name).unwrap();
    }
    let listed = gnu("md5sum", dir.path(), &["plain", " b", "*c", " "]);
    let reversed: String = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|line| line.replacen("  ", " ", 1) + "\n")
        .collect();
    std::fs::write(dir.path().join("reversed"), &reversed).unwrap();
    let tail: String = reversed.lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.path().join("tail"), tail).unwrap();
    assert_same("md5sum", dir.path(), &["-c", "--strict", "reversed"]);
    assert_same("md5sum", dir.path(), &["-c", "--strict", "tail"]);
    assert_same("md5sum", dir.path(), &["--zero", "plain", "back\\slash"]);
    assert_same("md5sum", dir.path(), &["--tag", "-z", "plain"]);
    assert_same("md5sum", dir.path(), &["-c", "-z", "reversed"]);
    assert_same("md5sum", dir.path(), &["--tag", "--text", "plain"]);
    assert_same("md5sum", dir.path(), &["--text", "--tag", "plain"]);
}

#[test]
fn check_exit_codes() {
    let dir = fixture();
    let listing = ours("md5sum", dir.path(), &["plain", "missing"]);
    assert_eq!(listing.status.code(), Some(1));
    std::fs::write(dir.path().join("list"), &listing.stdout).unwrap();
    let ok = ours("md5sum", dir.path(), &["-c", "list"]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(common::stdout(&ok), "plain: OK\n");
    std::fs::write(dir.path().join("plain"), b"changed").unwrap();
    let bad = ours("md5sum", dir.path(), &["-c", "list"]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(common::stdout(&bad), "plain: FAILED\n");
    assert_eq!(
        common::stderr(&bad),
        "rescue md5sum: WARNING: 1 computed checksum did NOT match\n"
    );
}
