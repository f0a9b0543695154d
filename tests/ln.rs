//! `rescue ln`: a link never replaces the file it would point to (`ln -sf t t` would leave
//! `t -> t` and the data gone), as GNU refuses it.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

fn ln_in(dir: &Path, args: &[&str]) -> Output {
    common::rescue()
        .current_dir(dir)
        .arg("ln")
        .args(args)
        .output()
        .expect("run rescue ln")
}

#[test]
fn a_forced_symlink_does_not_replace_its_own_target() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::write(d.join("t"), b"x\n").expect("write");
    let out = ln_in(d, &["-sf", "t", "t"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        common::stderr(&out),
        "rescue ln: 't' and 't' are the same file\n"
    );
    assert_eq!(fs::read(d.join("t")).expect("t kept"), b"x\n");
}

#[test]
fn a_forced_symlink_through_a_directory_link_does_not_replace_its_target() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::write(d.join("a"), b"foo\n").expect("write");
    std::os::unix::fs::symlink(".", d.join("b")).expect("symlink");
    let out = ln_in(d, &["-sf", "a", "b"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).ends_with("are the same file\n"));
    assert_eq!(fs::read(d.join("a")).expect("a kept"), b"foo\n");
}

#[test]
fn a_forced_hard_link_onto_itself_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::write(d.join("f"), b"x\n").expect("write");
    let out = ln_in(d, &["-f", "f", "f"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        common::stderr(&out),
        "rescue ln: 'f' and 'f' are the same file\n"
    );
    assert_eq!(fs::read(d.join("f")).expect("f kept"), b"x\n");
}
