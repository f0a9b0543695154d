//! `rescue mv`, `ln`, `mkdir` and `rmdir` against their GNU peers: each scenario is set up twice,
//! run once with GNU and once with rescue, and the exit code, the messages and the resulting tree
//! must agree. Plus `mv` across file systems, which must keep what `cp -a` keeps.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

/// Builds the same small world in a fresh directory.
fn world(dir: &Path) {
    fs::write(dir.join("a"), b"a\n").expect("write");
    fs::write(dir.join("b"), b"b\n").expect("write");
    fs::create_dir_all(dir.join("d/inner")).expect("mkdir");
    fs::write(dir.join("d/inner/f"), b"f\n").expect("write");
    fs::create_dir(dir.join("e")).expect("mkdir");
    fs::write(dir.join("e/a"), b"old\n").expect("write");
    fs::create_dir_all(dir.join("empty/x/y")).expect("mkdir");
    std::os::unix::fs::symlink("d", dir.join("ld")).expect("symlink");
}

/// Names, types, modes, link targets and contents under `dir`.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (rel, meta) in common::lstat_tree(dir) {
        let path = dir.join(&rel);
        let what = if meta.file_type().is_symlink() {
            format!(
                "link -> {}",
                fs::read_link(&path).expect("readlink").display()
            )
        } else if meta.is_dir() {
            format!("dir {:o}", meta.mode() & 0o7777)
        } else {
            let body = fs::read(&path).expect("read");
            format!(
                "file {:o} {} links={}",
                meta.mode() & 0o7777,
                String::from_utf8_lossy(&body),
                meta.nlink()
            )
        };
        out.insert(rel.to_string_lossy().into_owned(), what);
    }
    out
}

/// GNU quotes some messages with ‘’ in UTF-8 locales and prefixes them with the bare tool name.
fn normalize(text: &str, tool: &str) -> String {
    text.replace(['‘', '’'], "'")
        .lines()
        .map(|line| {
            line.strip_prefix("rescue ")
                .unwrap_or(line)
                .replace(&format!("rescue {tool}"), tool)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn run_both(
    tool: &str,
    args: &[&str],
) -> (
    Output,
    Output,
    BTreeMap<String, String>,
    BTreeMap<String, String>,
) {
    let gnu_dir = tempfile::tempdir().expect("tempdir");
    let our_dir = tempfile::tempdir().expect("tempdir");
    world(gnu_dir.path());
    world(our_dir.path());
    let gnu = Command::new(tool)
        .current_dir(gnu_dir.path())
        .env("LC_ALL", "C")
        .args(args)
        .output()
        .expect("run GNU tool");
    let ours = common::rescue()
        .current_dir(our_dir.path())
        .arg(tool)
        .args(args)
        .output()
        .expect("run rescue");
    let (gt, ot) = (tree(gnu_dir.path()), tree(our_dir.path()));
    (gnu, ours, gt, ot)
}

fn same_as_gnu(tool: &str, args: &[&str]) {
    if !common::have_or_skip(tool) {
        return;
    }
    let (gnu, ours, gnu_tree, our_tree) = run_both(tool, args);
    let what = format!("{tool} {}", args.join(" "));
    assert_eq!(
        ours.status.code(),
        gnu.status.code(),
        "exit code of {what}: {}",
        common::stderr(&ours)
    );
    assert_eq!(
        normalize(&common::stderr(&ours), tool),
        normalize(&common::stderr(&gnu), tool),
        "stderr of {what}"
    );
    assert_eq!(
        normalize(&common::stdout(&ours), tool),
        normalize(&common::stdout(&gnu), tool),
        "stdout of {what}"
    );
    assert_eq!(our_tree, gnu_tree, "tree after {what}");
}

#[test]
fn mv_matches_gnu() {
    same_as_gnu("mv", &["-v", "a", "c"]);
    same_as_gnu("mv", &["-v", "a", "b", "d"]);
    same_as_gnu("mv", &["a", "e"]);
    same_as_gnu("mv", &["-n", "a", "e"]);
    same_as_gnu("mv", &["-T", "d", "e"]);
    same_as_gnu("mv", &["-t", "e", "b"]);
    same_as_gnu("mv", &["a", "a"]);
    same_as_gnu("mv", &["missing", "x"]);
    same_as_gnu("mv", &["d", "d/inner"]);
    same_as_gnu("mv", &["d", "a"]);
    same_as_gnu("mv", &["a", "empty/x"]);
    same_as_gnu("mv", &["a"]);
    same_as_gnu("mv", &["a", "b", "c"]);
    same_as_gnu("mv", &["ld", "moved-link"]);
}

#[test]
fn ln_matches_gnu() {
    same_as_gnu("ln", &["-v", "a", "hard"]);
    same_as_gnu("ln", &["-sv", "a", "soft"]);
    same_as_gnu("ln", &["a", "b"]);
    same_as_gnu("ln", &["-s", "a", "b"]);
    same_as_gnu("ln", &["-f", "a", "b"]);
    same_as_gnu("ln", &["-sf", "a", "b"]);
    same_as_gnu("ln", &["missing", "x"]);
    same_as_gnu("ln", &["d", "dd"]);
    same_as_gnu("ln", &["-s", "a", "ld"]);
    same_as_gnu("ln", &["-sfn", "e", "ld"]);
    same_as_gnu("ln", &["-s", "/nowhere/at/all"]);
    same_as_gnu("ln", &["a", "b", "d"]);
    same_as_gnu("ln", &["a", "b", "c"]);
    same_as_gnu("ln", &["-f", "a", "a"]);
    same_as_gnu("ln", &["-t", "e", "-s", "../a", "../b"]);
}

#[test]
fn mkdir_matches_gnu() {
    same_as_gnu("mkdir", &["new"]);
    same_as_gnu("mkdir", &["d"]);
    same_as_gnu("mkdir", &["-p", "d"]);
    same_as_gnu("mkdir", &["-pv", "p/q//r/"]);
    same_as_gnu("mkdir", &["-m", "700", "m"]);
    same_as_gnu("mkdir", &["-p", "-m", "2750", "p2/q2"]);
    same_as_gnu("mkdir", &["-p", "a/x"]);
    same_as_gnu("mkdir", &["x/y"]);
    same_as_gnu("mkdir", &[]);
}

#[test]
fn rmdir_matches_gnu() {
    same_as_gnu("rmdir", &["-pv", "empty/x/y"]);
    same_as_gnu("rmdir", &["d"]);
    same_as_gnu("rmdir", &["-p", "d/inner"]);
    same_as_gnu("rmdir", &["--ignore-fail-on-non-empty", "d"]);
    same_as_gnu(
        "rmdir",
        &["-p", "--ignore-fail-on-non-empty", "empty/x/y", "d/inner"],
    );
    same_as_gnu("rmdir", &["a"]);
    same_as_gnu("rmdir", &["missing"]);
    same_as_gnu("rmdir", &["ld"]);
    same_as_gnu("rmdir", &[]);
}

#[test]
fn mv_across_file_systems_copies_like_cp_a_then_removes() {
    let shm = Path::new("/dev/shm");
    let tmp = tempfile::tempdir().expect("tempdir");
    let Ok(other) = tempfile::tempdir_in(shm) else {
        common::skip("no /dev/shm");
        return;
    };
    let same_device = fs::metadata(tmp.path()).expect("stat").dev()
        == fs::metadata(other.path()).expect("stat").dev();
    if same_device {
        common::skip("/dev/shm is on the same file system");
        return;
    }
    let src = tmp.path().join("tree");
    fs::create_dir_all(src.join("sub")).expect("mkdir");
    fs::write(src.join("one"), b"1").expect("write");
    fs::hard_link(src.join("one"), src.join("sub/two")).expect("link");
    std::os::unix::fs::symlink("one", src.join("link")).expect("symlink");
    fs::set_permissions(
        src.join("one"),
        std::os::unix::fs::PermissionsExt::from_mode(0o4750),
    )
    .expect("chmod");
    let dest = other.path().join("tree");
    let out = common::rescue()
        .arg("mv")
        .arg("-v")
        .arg(&src)
        .arg(&dest)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(!src.exists(), "the source goes once copied");
    let one = fs::metadata(dest.join("one")).expect("one");
    let two = fs::metadata(dest.join("sub/two")).expect("two");
    assert_eq!(one.ino(), two.ino(), "hard links stay linked");
    assert_eq!(one.mode() & 0o7777, 0o4750);
    assert_eq!(
        fs::read_link(dest.join("link")).expect("link"),
        Path::new("one")
    );
    let stdout = common::stdout(&out);
    assert!(stdout.contains("copied '"), "{stdout}");
    assert!(stdout.contains("removed directory '"), "{stdout}");
}
