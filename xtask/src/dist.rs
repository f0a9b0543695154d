//! `cargo xtask dist`: the static binary operators run, proven static, with its checksum.

use std::path::PathBuf;
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::shell::{self, workspace_root};

pub const TARGET: &str = "x86_64-unknown-linux-musl";
/// The binary must fit where operators carry it (a mirror's /srv/rescue, a USB stick's spare
/// corner) and start instantly. The aim is 3 MiB; the debugging applets (ps, mount, ldd,
/// salvage, the journal reader ...) took it just past that, and 4 MiB is the hard limit.
pub const SIZE_LIMIT: u64 = 4 * 1024 * 1024;

/// Builds target/dist/rescue and returns its path.
pub fn run() -> crate::Result<PathBuf> {
    ensure_toolchain()?;
    let root = workspace_root();
    shell::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .args([
                "build",
                "--release",
                "--package",
                "rescue",
                "--config",
                "musl-target.toml",
            ]),
    )?;
    let built = shell::cargo_target_dir()
        .join(TARGET)
        .join("release/rescue");
    crate::elf::check_static(&built)?;

    let dist = root.join("target/dist");
    std::fs::create_dir_all(&dist)
        .map_err(|err| format!("cannot create {}: {err}", dist.display()))?;
    let binary = dist.join("rescue");
    // Copy to a temp name and rename, so a running `rescue` from an earlier dist is never
    // overwritten in place (ETXTBSY) and a half-copied binary is never left behind.
    let partial = dist.join(".rescue.partial");
    std::fs::copy(&built, &partial)
        .map_err(|err| format!("cannot copy to {}: {err}", partial.display()))?;
    std::fs::rename(&partial, &binary)
        .map_err(|err| format!("cannot rename to {}: {err}", binary.display()))?;

    let bytes =
        std::fs::read(&binary).map_err(|err| format!("cannot read {}: {err}", binary.display()))?;
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(dist.join("SHA256SUMS"), format!("{hex}  rescue\n"))
        .map_err(|err| format!("cannot write SHA256SUMS: {err}"))?;

    let size = bytes.len() as u64;
    println!(
        "target/dist/rescue: {size} bytes ({:.2} MiB), static, sha256 {hex}",
        size as f64 / 1048576.0
    );
    if size > SIZE_LIMIT {
        return Err(format!(
            "the binary is {size} bytes, over the {SIZE_LIMIT}-byte limit"
        ));
    }
    // Man pages and completions, made from the same clap definitions (xtask/src/docs.rs).
    crate::docs::run(&dist)?;
    Ok(binary)
}

/// The musl target from rustup and a musl C compiler for the -sys crates (liblzma, zstd).
fn ensure_toolchain() -> crate::Result {
    let installed = shell::output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !installed.lines().any(|line| line.trim() == TARGET) {
        shell::run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    if !shell::have("musl-gcc") {
        if !shell::is_root() {
            return Err("musl-gcc is missing; run: sudo apt-get install musl-tools".into());
        }
        shell::ensure_debian_packages(&["musl-tools"])?;
    }
    Ok(())
}
