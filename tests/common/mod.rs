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
            eprintln!("skipped: cannot mount a tmpfs here");
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
