//! chown compared with GNU chown (root only): names from /etc/passwd and /etc/group, numeric
//! ids, `:group`, `user:` (login group), `user.group`, `--from`, `-h` on a symlink, `-R` (which
//! changes symlinks themselves and never their targets; -H and -L follow them), and GNU's
//! messages.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

fn build(dir: &Path) {
    std::fs::create_dir_all(dir.join("tree/sub")).unwrap();
    std::fs::write(dir.join("tree/file"), b"x").unwrap();
    std::fs::write(dir.join("tree/sub/deep"), b"x").unwrap();
    std::fs::write(dir.join("target"), b"x").unwrap();
    std::os::unix::fs::symlink("../target", dir.join("tree/link")).unwrap();
    std::os::unix::fs::symlink("target", dir.join("link")).unwrap();
    std::os::unix::fs::symlink("tree", dir.join("dirlink")).unwrap();
    std::os::unix::fs::symlink("nowhere", dir.join("dangling")).unwrap();
}

/// (path, uid, gid) of everything under `dir`, symlinks themselves included.
fn owners(dir: &Path) -> Vec<(String, u32, u32)> {
    common::lstat_tree(dir)
        .into_iter()
        .skip(1)
        .map(|(rel, meta)| (rel.to_string_lossy().into_owned(), meta.uid(), meta.gid()))
        .collect()
}

fn run(program: &[&str], args: &[&str], dir: &Path) -> Output {
    Command::new(program[0])
        .args(&program[1..])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn compare(args: &[&str]) {
    let gnu_dir = tempfile::tempdir().unwrap();
    let our_dir = tempfile::tempdir().unwrap();
    build(gnu_dir.path());
    build(our_dir.path());
    let gnu = run(&["chown"], args, gnu_dir.path());
    let ours = run(
        &[env!("CARGO_BIN_EXE_rescue"), "chown"],
        args,
        our_dir.path(),
    );
    assert_eq!(ours.status.code(), gnu.status.code(), "{args:?}");
    assert_eq!(owners(our_dir.path()), owners(gnu_dir.path()), "{args:?}");
    assert_eq!(common::stdout(&ours), common::stdout(&gnu), "{args:?}");
    // GNU quotes the spec with the locale's quotes; ours are always ASCII.
    let gnu_err = common::stderr(&gnu).replace(['\u{2018}', '\u{2019}'], "'");
    let our_err = common::stderr(&ours).replace("rescue chown", "chown");
    assert_eq!(our_err, gnu_err, "{args:?}");
}

#[test]
fn owners_match_gnu() {
    if !common::root_or_skip("chown to other owners needs root") {
        return;
    }
    let cases: &[&[&str]] = &[
        &["daemon", "tree/file"],
        &["daemon:bin", "tree/file"],
        &["daemon.bin", "tree/file"],
        &[":bin", "tree/file"],
        &["bin:", "tree/file"],
        &["1:2", "tree/file"],
        &["+2:+1", "tree/file"],
        &["4242:4343", "tree/file"],
        &["daemon", "link"],
        &["-h", "daemon", "link"],
        &["-h", "daemon:bin", "dangling"],
        &["daemon", "dangling"],
        &["-R", "daemon:bin", "tree"],
        &["-R", "daemon", "dirlink"],
        &["-R", ":bin", "tree", "link"],
        &["--from=root", "daemon", "tree/file"],
        &["--from=bin", "daemon", "tree/file"],
        &["--from=:root", "-R", ":bin", "tree"],
        &["-v", "daemon:bin", "tree/file", "tree/sub"],
        &["-c", "root", "tree/file"],
        &["-v", ":", "tree/file"],
        &["--reference=/", "tree/file"],
        &["no-such-user", "tree/file"],
        &["root:no-such-group", "tree/file"],
        &["4242:", "tree/file"],
        &["daemon", "missing", "tree/file"],
        &["-f", "daemon", "missing"],
        // A directory is changed after its contents; -H and -L follow symlinks.
        &["-R", "-v", "daemon:bin", "tree"],
        &["-RH", "-v", "daemon", "dirlink"],
        &["-RL", "-c", "daemon", "tree"],
        &["-RP", "-c", "daemon", "dirlink"],
        &["-RLh", "daemon", "tree"],
        &["-RHh", "daemon", "dirlink"],
        &["-R", "--dereference", "daemon", "tree"],
        &["-v", "daemon", "missing"],
        &["-R", "--preserve-root", "-v", "daemon", "tree"],
    ];
    for args in cases {
        compare(args);
    }
}

#[test]
fn invalid_user_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run_in(dir.path(), &["chown", "x-no-such-user", "."]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        common::stderr(&out),
        "rescue chown: invalid user: 'x-no-such-user'\n"
    );
}
