//! cat compared with GNU cat: every flag on a file with tabs, runs of blank lines, control
//! characters, CRLF endings and non-UTF-8 bytes, several files at once and standard input.

mod common;

use std::process::{Command, Stdio};

const TRICKY: &[u8] = b"\n\n\nfirst\tline\x01\x7f\xff\xe9\x80\n\n\n\n  spaces  \r\n\x1b[31mred\r\n\ttab\n\n\nno newline at end";
const SECOND: &[u8] = b" continues\n\n\n\nlast\n";

fn output(program: &mut Command, dir: &std::path::Path, args: &[&str]) -> (Vec<u8>, Option<i32>) {
    let mut child = program
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(TRICKY).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.stdout, out.status.code())
}

#[test]
fn every_flag_matches_gnu() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tricky"), TRICKY).unwrap();
    std::fs::write(dir.path().join("second"), SECOND).unwrap();
    let flag_sets: &[&[&str]] = &[
        &[],
        &["-n"],
        &["-b"],
        &["-s"],
        &["-E"],
        &["-T"],
        &["-v"],
        &["-A"],
        &["-e"],
        &["-t"],
        &["-u"],
        &["-ns"],
        &["-bs"],
        &["-bE"],
        &["-nE"],
        &["-sA"],
        &["-n", "-b", "-s", "-E", "-T", "-v"],
        &["--number", "--squeeze-blank", "--show-ends"],
    ];
    for flags in flag_sets {
        let mut args = flags.to_vec();
        args.extend(["tricky", "second", "-", "tricky"]);
        let gnu = output(&mut Command::new("cat"), dir.path(), &args);
        let mut ours_cmd = common::rescue();
        ours_cmd.arg("cat");
        let ours = output(&mut ours_cmd, dir.path(), &args);
        assert_eq!(ours.1, gnu.1, "{flags:?}");
        assert!(
            ours.0 == gnu.0,
            "{flags:?}:\nours {:?}\ngnu  {:?}",
            String::from_utf8_lossy(&ours.0),
            String::from_utf8_lossy(&gnu.0)
        );
    }
}

#[test]
fn missing_file_is_reported_and_the_rest_copied() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("second"), SECOND).unwrap();
    let out = common::run_in(dir.path(), &["cat", "nope", "second", "."]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, SECOND);
    assert_eq!(
        common::stderr(&out),
        "rescue cat: nope: No such file or directory\nrescue cat: .: Is a directory\n"
    );
}

#[test]
fn large_file_copies_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.path().join("big"), &data).unwrap();
    let out = common::run_in(dir.path(), &["cat", "big", "big"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout.len(), data.len() * 2);
    assert!(out.stdout[..data.len()] == data[..] && out.stdout[data.len()..] == data[..]);
}

#[test]
fn refuses_to_append_a_file_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("self");
    std::fs::write(&path, b"abc\n").unwrap();
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    let out = common::rescue()
        .args(["cat", "self"])
        .current_dir(dir.path())
        .stdout(file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        common::stderr(&out),
        "rescue cat: self: input file is output file\n"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"abc\n");
}
