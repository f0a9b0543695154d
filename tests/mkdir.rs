//! mkdir compared with GNU mkdir: the modes `-m` gives (octal and symbolic, with and without
//! `-p`) under several umasks, the modes of the parents `-p` makes, and what is printed.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Every path below `dir` with its mode, sorted.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            let name = entry
                .path()
                .strip_prefix(dir)
                .unwrap()
                .display()
                .to_string();
            out.push((name, meta.mode() & 0o7777));
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

fn run(program: &[&str], umask: u32, args: &[&str], dir: &Path) -> std::process::Output {
    let mut command = Command::new(program[0]);
    command
        .args(&program[1..])
        .args(args)
        .env("LC_ALL", "C")
        .current_dir(dir);
    // SAFETY: umask only sets the child's mask between fork and exec.
    unsafe {
        command.pre_exec(move || {
            libc::umask(umask);
            Ok(())
        });
    }
    command.output().unwrap()
}

fn compare(umask: u32, args: &[&str]) {
    let gnu_dir = tempfile::tempdir().unwrap();
    let our_dir = tempfile::tempdir().unwrap();
    for dir in [gnu_dir.path(), our_dir.path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let gnu = run(&["mkdir"], umask, args, gnu_dir.path());
    let ours = run(
        &[env!("CARGO_BIN_EXE_rescue"), "mkdir"],
        umask,
        args,
        our_dir.path(),
    );
    let case = format!("umask {umask:03o} mkdir {args:?}");
    assert_eq!(ours.status.code(), gnu.status.code(), "{case}");
    assert_eq!(common::stdout(&ours), common::stdout(&gnu), "{case}");
    assert_eq!(
        common::stderr(&ours).replace("rescue ", ""),
        common::stderr(&gnu),
        "{case}"
    );
    assert_eq!(modes(our_dir.path()), modes(gnu_dir.path()), "{case}");
}

#[test]
fn modes_match_gnu() {
    for umask in [0o022, 0o077, 0o000, 0o160, 0o027] {
        for args in [
            &["a"][..],
            &["-p", "a/b/c"],
            &["-v", "-p", "a/b"],
            &["-m", "700", "a"],
            &["-m", "016", "a"],
            &["-p", "-m", "312", "a/b"],
            &["-m", "u=rwx,g=rx", "a"],
            &["-m", "o-w", "a"],
            &["-m", "=+x", "a"],
            &["-m", "=+X", "-p", "a/b"],
            &["-m", "-w", "a"],
            &["-m", "+t", "a"],
            &["-m", "g+s", "a"],
            &["-m", "u=rwx,g=rx,o=w,-s,+t", "a"],
            &["-m", "=,u=rwx,g=rx,o=wx", "a"],
            &["-m", "bad", "a"],
            &["a", "a"],
            &["-p", "a", "a"],
        ] {
            compare(umask, args);
        }
    }
}
