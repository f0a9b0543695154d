//! chmod compared with GNU chmod: the same spec on fresh files gives the same mode bits and exit
//! code, under umask 022 and 077.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

const SPECS: &[&str] = &[
    "755",
    "644",
    "0",
    "7777",
    "4755",
    "2755",
    "1777",
    "0755",
    "00755",
    "u+x",
    "u-x",
    "g+w",
    "o-r",
    "a+x",
    "a-w",
    "+x",
    "=r",
    "+w",
    "u=rwx,g=rx,o=",
    "u+s",
    "g+s",
    "+s",
    "u-s,g-s",
    "+t",
    "o+t",
    "a+t",
    "-t",
    "a+X",
    "+X",
    "a-x,a+X",
    "u=g",
    "g=u",
    "o=u",
    "u+g",
    "go-u",
    "g=o,o=g",
    "a=",
    "ug=rw,o-rwx",
    "u=rwx,g+X,o=",
    "=rwx",
    "-rwx",
    "a-rwx,u+r",
    "=755",
    "u+q",
    "8",
];

/// Starting modes: plain files with and without execute bits, directories with setgid.
const STARTS: &[(bool, u32)] = &[
    (false, 0o644),
    (false, 0o754),
    (false, 0o6755),
    (true, 0o755),
    (true, 0o2775),
    (true, 0o1700),
];

fn run_with_umask(umask: &str, program: &[&str], args: &[&str], dir: &Path) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$@\""))
        .arg("sh")
        .args(program)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run sh")
}

fn rescue_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rescue")
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn fresh(dir: &Path, is_dir: bool, mode: u32) {
    let path = dir.join("t");
    if is_dir {
        std::fs::create_dir(&path).unwrap();
    } else {
        std::fs::write(&path, b"x").unwrap();
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn spec_table_matches_gnu() {
    if !common::have_or_skip("chmod") {
        return;
    }
    let mut compared = 0;
    for umask in ["022", "077"] {
        for spec in SPECS {
            for &(is_dir, start) in STARTS {
                let gnu_dir = tempfile::tempdir().unwrap();
                let our_dir = tempfile::tempdir().unwrap();
                fresh(gnu_dir.path(), is_dir, start);
                fresh(our_dir.path(), is_dir, start);
                let gnu = run_with_umask(umask, &["chmod"], &[spec, "t"], gnu_dir.path());
                let ours = run_with_umask(
                    umask,
                    &[rescue_bin(), "chmod"],
                    &[spec, "t"],
                    our_dir.path(),
                );
                let case = format!("umask {umask} spec {spec} start {start:o} dir {is_dir}");
                assert_eq!(ours.status.code(), gnu.status.code(), "{case}");
                assert_eq!(
                    mode_of(&our_dir.path().join("t")),
                    mode_of(&gnu_dir.path().join("t")),
                    "{case}"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 2 * SPECS.len() * STARTS.len());
}

#[test]
fn modes_given_as_options_report_umask_surprises_like_gnu() {
    for spec in ["-w", "-x", "-rwx", "-s"] {
        let gnu_dir = tempfile::tempdir().unwrap();
        let our_dir = tempfile::tempdir().unwrap();
        fresh(gnu_dir.path(), false, 0o777);
        fresh(our_dir.path(), false, 0o777);
        let gnu = run_with_umask("022", &["chmod"], &[spec, "t"], gnu_dir.path());
        let ours = run_with_umask(
            "022",
            &[rescue_bin(), "chmod"],
            &[spec, "t"],
            our_dir.path(),
        );
        assert_eq!(ours.status.code(), gnu.status.code(), "{spec}");
        assert_eq!(
            mode_of(&our_dir.path().join("t")),
            mode_of(&gnu_dir.path().join("t")),
            "{spec}"
        );
        assert_eq!(
            common::stderr(&ours).trim_start_matches("rescue "),
            common::stderr(&gnu),
            "{spec}"
        );
    }
}

fn build_tree(root: &Path) {
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/plain"), b"x").unwrap();
    std::fs::write(root.join("a/b/script"), b"x").unwrap();
    std::fs::set_permissions(
        root.join("a/b/script"),
        std::fs::Permissions::from_mode(0o744),
    )
    .unwrap();
    std::fs::write(root.join("outside"), b"x").unwrap();
    std::fs::set_permissions(root.join("outside"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("../../outside", root.join("a/b/link")).unwrap();
    std::fs::set_permissions(root.join("a/b"), std::fs::Permissions::from_mode(0o2750)).unwrap();
}

fn modes_below(root: &Path) -> Vec<(String, u32)> {
    common::lstat_tree(root)
        .into_iter()
        .skip(1)
        .map(|(rel, meta)| (rel.to_string_lossy().into_owned(), meta.mode() & 0o7777))
        .collect()
}

#[test]
fn recursive_walk_matches_gnu_and_leaves_link_targets_alone() {
    for spec in ["a+X", "go-rwx", "u=rwX,g=rX,o=", "755", "g-s"] {
        let gnu_dir = tempfile::tempdir().unwrap();
        let our_dir = tempfile::tempdir().unwrap();
        build_tree(gnu_dir.path());
        build_tree(our_dir.path());
        let gnu = run_with_umask("022", &["chmod"], &["-R", spec, "a"], gnu_dir.path());
        let ours = run_with_umask(
            "022",
            &[rescue_bin(), "chmod"],
            &["-R", spec, "a"],
            our_dir.path(),
        );
        assert_eq!(ours.status.code(), gnu.status.code(), "{spec}");
        assert_eq!(
            modes_below(our_dir.path()),
            modes_below(gnu_dir.path()),
            "{spec}"
        );
        assert_eq!(mode_of(&our_dir.path().join("outside")), 0o600, "{spec}");
    }
}

#[test]
fn verbose_and_changes_output_match_gnu() {
    for flags in [&["-v", "u+x"][..], &["-c", "go-w"], &["-v", "644"]] {
        let gnu_dir = tempfile::tempdir().unwrap();
        let our_dir = tempfile::tempdir().unwrap();
        fresh(gnu_dir.path(), false, 0o664);
        fresh(our_dir.path(), false, 0o664);
        let mut args = flags.to_vec();
        args.push("t");
        let gnu = run_with_umask("022", &["chmod"], &args, gnu_dir.path());
        let ours = run_with_umask("022", &[rescue_bin(), "chmod"], &args, our_dir.path());
        assert_eq!(common::stdout(&ours), common::stdout(&gnu), "{flags:?}");
    }
}

#[test]
fn errors_name_the_file_and_continue() {
    let dir = tempfile::tempdir().unwrap();
    fresh(dir.path(), false, 0o600);
    std::os::unix::fs::symlink("nowhere", dir.path().join("dangling")).unwrap();
    let out = common::run_in(dir.path(), &["chmod", "644", "missing", "dangling", "t"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        common::stderr(&out),
        "rescue chmod: cannot access 'missing': No such file or directory\n\
         rescue chmod: cannot operate on dangling symlink 'dangling'\n"
    );
    assert_eq!(mode_of(&dir.path().join("t")), 0o644);
    let reference = common::run_in(dir.path(), &["chmod", "--reference=/", "t"]);
    assert_eq!(reference.status.code(), Some(0));
    assert_eq!(
        mode_of(&dir.path().join("t")),
        std::fs::metadata("/").unwrap().mode() & 0o7777
    );
}
