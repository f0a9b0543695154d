//! `rescue mv`: the moves GNU refuses because they would lose data (a symlink onto the file
//! it points to, two sources of one name into one directory), on one file system and across
//! two.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn mv_in(dir: &Path, args: &[&str]) -> Output {
    common::rescue()
        .current_dir(dir)
        .arg("mv")
        .args(args)
        .output()
        .expect("run rescue mv")
}

/// A directory on another file system than the temp dir, when the machine has one.
fn other_file_system(near: &Path) -> Option<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let dev = |p: &Path| fs::metadata(p).ok().map(|m| m.dev());
    if dev(shm).is_none() || dev(shm) == dev(near) {
        common::skip("no /dev/shm on another file system than the temp dir");
        return None;
    }
    Some(tempfile::tempdir_in(shm).expect("tempdir in /dev/shm"))
}

#[test]
fn a_symlink_is_not_moved_onto_the_file_it_points_to() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::write(d.join("f"), b"data\n").expect("write");
    std::os::unix::fs::symlink("f", d.join("s")).expect("symlink");
    let out = mv_in(d, &["s", "f"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        common::stderr(&out),
        "rescue mv: 's' and 'f' are the same file\n"
    );
    assert_eq!(fs::read(d.join("f")).expect("f kept"), b"data\n");
    assert!(fs::symlink_metadata(d.join("s"))
        .expect("s kept")
        .is_symlink());
}

#[test]
fn a_symlink_is_not_moved_onto_the_file_it_points_to_across_file_systems() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(other) = other_file_system(tmp.path()) else {
        return;
    };
    let f: PathBuf = other.path().join("f");
    fs::write(&f, b"data\n").expect("write");
    std::os::unix::fs::symlink(&f, tmp.path().join("s")).expect("symlink");
    let out = mv_in(tmp.path(), &["s", f.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("are the same file"));
    assert_eq!(fs::read(&f).expect("f kept"), b"data\n");
}

#[test]
fn two_sources_of_one_name_do_not_replace_each_other() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    for dir in ["a", "b", "c"] {
        fs::create_dir(d.join(dir)).expect("mkdir");
    }
    fs::write(d.join("a/f"), b"from a\n").expect("write");
    fs::write(d.join("b/f"), b"from b\n").expect("write");
    let out = mv_in(d, &["a/f", "b/f", "c"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        common::stderr(&out),
        "rescue mv: will not overwrite just-created 'c/f' with 'b/f'\n"
    );
    assert_eq!(fs::read(d.join("c/f")).expect("moved"), b"from a\n");
    assert_eq!(fs::read(d.join("b/f")).expect("kept"), b"from b\n");
}

#[test]
fn two_sources_of_one_name_across_file_systems() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(other) = other_file_system(tmp.path()) else {
        return;
    };
    let d = tmp.path();
    fs::create_dir(d.join("a")).expect("mkdir");
    fs::create_dir(d.join("b")).expect("mkdir");
    fs::write(d.join("a/f"), b"from a\n").expect("write");
    fs::write(d.join("b/f"), b"from b\n").expect("write");
    let c = other.path().to_str().expect("utf-8");
    let out = mv_in(d, &["a/f", "b/f", c]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("will not overwrite just-created"));
    assert_eq!(
        fs::read(other.path().join("f")).expect("moved"),
        b"from a\n"
    );
    assert_eq!(fs::read(d.join("b/f")).expect("kept"), b"from b\n");
}

#[test]
fn hard_links_stay_linked_across_file_systems() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(other) = other_file_system(tmp.path()) else {
        return;
    };
    let d = tmp.path();
    fs::write(d.join("f"), b"x").expect("write");
    fs::hard_link(d.join("f"), d.join("g")).expect("link");
    let out = mv_in(d, &["f", "g", other.path().to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let ino = |name: &str| fs::metadata(other.path().join(name)).expect("moved").ino();
    assert_eq!(ino("f"), ino("g"));
    // Between files inside two directory operands too (GNU's tests/mv/part-hardlink.sh).
    fs::create_dir(d.join("a")).expect("mkdir");
    fs::create_dir(d.join("b")).expect("mkdir");
    fs::write(d.join("a/1"), b"x").expect("write");
    fs::hard_link(d.join("a/1"), d.join("b/1")).expect("link");
    let out = mv_in(d, &["a", "b", other.path().to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(ino("a/1"), ino("b/1"));
}
