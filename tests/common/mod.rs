//! Helpers shared by the integration tests: where the binaries are, and whether we are root.
#![allow(dead_code)]

pub mod bookworm;
pub mod debroot;
pub mod dpkgroot;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The debug build of `rescue` that cargo built for these tests.
pub fn rescue() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rescue"))
}

/// Runs `rescue ARGS` and returns its output.
pub fn run(args: &[&str]) -> Output {
    rescue().args(args).output().expect("run rescue")
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The static binary from `cargo xtask dist`, if it has been built.
pub fn dist_binary() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dist/rescue");
    path.is_file().then_some(path)
}

/// Whether a program is on PATH (GNU peers, dpkg), so comparisons can say why they skipped.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null"))
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
