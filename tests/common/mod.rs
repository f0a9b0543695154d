//! Helpers shared by the integration tests: where the binaries are, running them, showing
//! what they said, digests for fixtures, and when a test may skip (`skip.rs`).
#![allow(dead_code, unused_imports)]

pub mod bookworm;
pub mod debroot;
pub mod dpkgroot;
mod skip;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use skip::{have, have_or_skip, in_ci, is_root, root_or_skip, skip, unsupported, Unsupported};

/// The debug build of `rescue` that cargo built for these tests.
pub fn rescue() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rescue"))
}

/// Runs `rescue ARGS` and returns its output.
pub fn run(args: &[&str]) -> Output {
    rescue().args(args).output().expect("run rescue")
}

/// Runs `rescue ARGS...` in the directory `dir` and returns its output.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    rescue()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run rescue")
}

/// `rescue APPLET --root ROOT ARGS...`, never killed by a fault point left in the environment.
pub fn rescue_at(root: &Path, applet: &str, args: &[&str]) -> Command {
    let mut command = rescue();
    command
        .arg(applet)
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("RESCUE_FAULT_KILL_AFTER");
    command
}

/// Runs `rescue APPLET --root ROOT ARGS...` without a terminal and returns its output.
pub fn rescue_in(root: &Path, applet: &str, args: &[&str]) -> Output {
    output_without_terminal(&mut rescue_at(root, applet, args))
}

/// Runs `command` with stdin from /dev/null (never a terminal) and returns its output.
pub fn output_without_terminal(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("run command")
}

/// The static binary from `cargo xtask dist`. Missing, the test is skipped (see [`skip`]),
/// and fails when RESCUE_REQUIRE_DIST says the binary must be there.
pub fn dist_binary() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dist/rescue");
    if path.is_file() {
        return Some(path);
    }
    if std::env::var_os("RESCUE_REQUIRE_DIST").is_some() {
        panic!("RESCUE_REQUIRE_DIST is set but target/dist/rescue is missing");
    }
    skip("no target/dist/rescue (run cargo xtask dist)");
    None
}

/// GNU `tool` and `rescue tool` run on the same `args` in `cwd`, both in the C locale and UTC
/// and with the variables `unset` removed, whatever the caller's environment says.
pub fn gnu_and_ours<S: AsRef<std::ffi::OsStr>>(
    tool: &str,
    cwd: &Path,
    args: &[S],
    unset: &[&str],
) -> (Output, Output) {
    let run = |mut command: Command| {
        command
            .args(args)
            .current_dir(cwd)
            .env("LC_ALL", "C")
            .env("TZ", "UTC");
        for name in unset {
            command.env_remove(name);
        }
        command
            .output()
            .unwrap_or_else(|err| panic!("run {command:?}: {err}"))
    };
    let mut ours = rescue();
    ours.arg(tool);
    (run(Command::new(tool)), run(ours))
}

/// Whether `program` on PATH is GNU coreutils' own, which comparisons byte for byte need; when
/// not, the test is skipped (see [`skip`]).
#[track_caller]
pub fn gnu_or_skip(program: &str) -> bool {
    let gnu = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|out| stdout(&out).contains("GNU coreutils"));
    if !gnu {
        skip(&format!("no GNU {program} to compare with"));
    }
    gnu
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Both streams, stdout first: for "it says X somewhere".
pub fn said(output: &Output) -> String {
    format!("{}{}", stdout(output), stderr(output))
}

/// The exit status and both streams, for an assertion's message.
pub fn show(output: &Output) -> String {
    format!(
        "{:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    )
}

#[track_caller]
pub fn assert_exit(output: &Output, code: i32, what: &str) {
    assert_eq!(output.status.code(), Some(code), "{what}: {}", show(output));
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex(&Md5::digest(data))
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(data))
}

/// Lowercase hex, as md5sums files and Packages indexes write digests.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `dir` and everything below it, symlinks not followed: each path relative to `dir` (empty
/// for `dir` itself) with its lstat, sorted by path.
pub fn lstat_tree(dir: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)
            .unwrap_or_else(|err| panic!("lstat {}: {err}", path.display()));
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)
                .unwrap_or_else(|err| panic!("read {}: {err}", path.display()))
            {
                stack.push(entry.expect("directory entry").path());
            }
        }
        let rel = path.strip_prefix(dir).expect("below dir").to_path_buf();
        out.push((rel, meta));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A tmpfs mounted on `dir` (created if missing) for the life of the value: backups on
/// another file system, or a file system that fills up. `None`, said on stderr, where
/// mounting is not allowed.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, options: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mkdir mount point");
        let mut command = Command::new("mount");
        command.args(["-t", "tmpfs"]);
        if !options.is_empty() {
            command.args(["-o", options]);
        }
        let mounted = command
            .arg("rescue-test")
            .arg(dir)
            .status()
            .map(|status| status.success())
            .unwrap_or(false);
        if !mounted {
            skip("cannot mount a tmpfs here");
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
