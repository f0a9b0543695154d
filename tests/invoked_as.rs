//! The applets speak as they were called, in GNU's words: `ls: …` through a link named `ls`,
//! `rescue ls: …` as an argument; GNU getopt's usage errors and `Try 'ls --help'`; long
//! options abbreviated as getopt allows; `--version` on every applet. Scripts and GNU's own
//! test suite match these bytes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A directory holding links named after `applets`, pointing at the test build of rescue.
fn links(applets: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for applet in applets {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_rescue"), dir.path().join(applet))
            .expect("link an applet");
    }
    let path = dir.path().to_path_buf();
    (dir, path)
}

fn run_link(dir: &Path, applet: &str, args: &[&str]) -> Output {
    Command::new(dir.join(applet))
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .expect("run a link")
}

#[test]
fn messages_name_the_applet_as_it_was_called() {
    let (_keep, dir) = links(&["ls", "cp"]);
    let missing = dir.join("no-such-file");
    let through_link = run_link(&dir, "ls", &[missing.to_str().unwrap()]);
    assert_eq!(through_link.status.code(), Some(2));
    assert_eq!(
        common::stderr(&through_link),
        format!(
            "ls: cannot access '{}': No such file or directory\n",
            missing.display()
        )
    );
    let as_argument = common::run(&["ls", missing.to_str().unwrap()]);
    assert!(
        common::stderr(&as_argument).starts_with("rescue ls: cannot access"),
        "{}",
        common::stderr(&as_argument)
    );
}

#[test]
fn usage_errors_are_gnu_getopts_words() {
    let (_keep, dir) = links(&["ls", "cp", "touch"]);
    let cases: &[(&str, &[&str], &str)] = &[
        ("ls", &["-j"], "ls: invalid option -- 'j'\n"),
        (
            "ls",
            &["--frobnicate"],
            "ls: unrecognized option '--frobnicate'\n",
        ),
        (
            "cp",
            &["--no-such=1", "a", "b"],
            "cp: unrecognized option '--no-such'\n",
        ),
        (
            "touch",
            &["-r"],
            "touch: option requires an argument -- 'r'\n",
        ),
    ];
    for (applet, args, first_line) in cases {
        let output = run_link(&dir, applet, args);
        let expected = format!("{first_line}Try '{applet} --help' for more information.\n");
        assert_eq!(common::stderr(&output), expected, "{applet} {args:?}");
        assert_ne!(output.status.code(), Some(0), "{applet} {args:?}");
    }
    let as_argument = common::run(&["ls", "-j"]);
    assert_eq!(
        common::stderr(&as_argument),
        "rescue ls: invalid option -- 'j'\nTry 'rescue ls --help' for more information.\n"
    );
}

#[test]
fn long_options_may_be_abbreviated_where_unambiguous() {
    let (_keep, dir) = links(&["ls"]);
    let full = run_link(&dir, "ls", &["--almost-all", dir.to_str().unwrap()]);
    let short = run_link(&dir, "ls", &["--almost", dir.to_str().unwrap()]);
    assert!(full.status.success(), "{full:?}");
    assert_eq!(full.stdout, short.stdout);
    assert_eq!(common::stdout(&short), "ls\n");
}

#[test]
fn every_applet_answers_version() {
    let list = common::stdout(&common::run(&["--list"]));
    for applet in list.lines() {
        let output = common::run(&[applet, "--version"]);
        assert!(output.status.success(), "{applet} --version: {output:?}");
        let first = common::stdout(&output);
        let first = first.lines().next().unwrap_or("");
        assert!(
            first.starts_with(&format!("{applet} (rescue")),
            "{applet} --version: {first}"
        );
    }
    // GNU's tests read the last word of a coreutils applet's version line.
    let rm = common::stdout(&common::run(&["rm", "--version"]));
    assert!(rm.trim_end().ends_with(" 9.1"), "{rm}");
}
