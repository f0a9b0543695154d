//! `cargo xtask dist --target aarch64-unknown-linux-musl`: the same static binary for arm64
//! machines, built on an amd64 one, into target/dist/aarch64/{rescue,SHA256SUMS}.
//!
//! The toolchain is Debian's own, installed here when missing: the cross gcc
//! `gcc-aarch64-linux-gnu` compiles the C parts (liblzma for xz2, zstd) against musl's arm64
//! headers from `musl-dev:arm64` (dpkg's multiarch: `dpkg --add-architecture arm64`), through
//! the musl-gcc specs file that package ships, exactly as `musl-gcc` does for x86_64. The same
//! gcc then drives the link, with rustc's self-contained musl CRT and libc for the target (the
//! x86_64 build links the same way). Not `cargo-zigbuild`: zig is in neither Debian bookworm
//! nor crates.io, the only registries our machines and CI reach. Not glibc's cross headers
//! (`libc6-dev-arm64-cross`) with musl's libc: the C objects would ask for glibc-only symbols
//! (fortify's `__*_chk`, `__isoc99_*`).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::shell::{self, workspace_root};

/// A target `cargo xtask dist --target` knows how to build from an amd64 Debian host.
pub struct Cross {
    /// Rust's target triple.
    pub triple: &'static str,
    /// The directory under target/dist, and the word operators know the machine by.
    pub dist_dir: &'static str,
    /// Debian's architecture, for the multiarch musl package.
    debian_arch: &'static str,
    /// The GNU triplet of Debian's cross binutils and gcc (`aarch64-linux-gnu-gcc`).
    gnu_triplet: &'static str,
    /// Where musl-dev puts its headers, libraries and specs file for that architecture.
    musl_triplet: &'static str,
    /// The ELF e_machine its binaries carry.
    pub elf_machine: u16,
}

pub const AARCH64: Cross = Cross {
    triple: "aarch64-unknown-linux-musl",
    dist_dir: "aarch64",
    debian_arch: "arm64",
    gnu_triplet: "aarch64-linux-gnu",
    musl_triplet: "aarch64-linux-musl",
    elf_machine: crate::elf::EM_AARCH64,
};

const TARGETS: &[Cross] = &[AARCH64];

/// The cross target named `triple`, or an error naming those there are.
pub fn find(triple: &str) -> crate::Result<&'static Cross> {
    TARGETS
        .iter()
        .find(|cross| cross.triple == triple)
        .ok_or_else(|| {
            let known: Vec<&str> = TARGETS.iter().map(|cross| cross.triple).collect();
            format!(
                "cannot build for {triple}: the targets are {} and {}",
                crate::dist::TARGET,
                known.join(", ")
            )
        })
}

impl Cross {
    fn gcc(&self) -> String {
        format!("{}-gcc", self.gnu_triplet)
    }

    fn specs(&self) -> PathBuf {
        Path::new("/usr/lib")
            .join(self.musl_triplet)
            .join("musl-gcc.specs")
    }

    /// The Debian packages: the cross gcc (binutils come with it) and musl for the target.
    fn debian_packages(&self) -> [String; 2] {
        [
            format!("gcc-{}", self.gnu_triplet),
            format!("musl-dev:{}", self.debian_arch),
        ]
    }

    /// What cargo and the cc crate read for this target, set on cargo's command only: the
    /// user's shell stays as it was.
    fn env(&self) -> Vec<(String, String)> {
        let under = self.triple.replace('-', "_");
        let upper = under.to_uppercase();
        vec![
            (format!("CC_{under}"), self.gcc()),
            (
                format!("CFLAGS_{under}"),
                format!("-specs={}", self.specs().display()),
            ),
            (format!("AR_{under}"), format!("{}-ar", self.gnu_triplet)),
            (format!("CARGO_TARGET_{upper}_LINKER"), self.gcc()),
            // musl's targets are static by default; saying so keeps it that way if the
            // default ever moves (musl-target.toml says the same for x86_64).
            (
                format!("CARGO_TARGET_{upper}_RUSTFLAGS"),
                "-C target-feature=+crt-static".into(),
            ),
        ]
    }

    /// The rustup target, the cross gcc and the target's musl, installed when missing.
    fn ensure_toolchain(&self) -> crate::Result {
        let installed =
            shell::output(Command::new("rustup").args(["target", "list", "--installed"]))?;
        if !installed.lines().any(|line| line.trim() == self.triple) {
            shell::run(Command::new("rustup").args(["target", "add", self.triple]))?;
        }
        if shell::have(&self.gcc()) && self.specs().is_file() {
            return Ok(());
        }
        let packages = self.debian_packages();
        if !shell::is_root() {
            return Err(format!(
                "the {} cross toolchain is missing; run: sudo dpkg --add-architecture {} \
                 && sudo apt-get update && sudo apt-get install {}",
                self.dist_dir,
                self.debian_arch,
                packages.join(" ")
            ));
        }
        let foreign = shell::output(Command::new("dpkg").arg("--print-foreign-architectures"))?;
        if !foreign.lines().any(|arch| arch.trim() == self.debian_arch) {
            shell::run(Command::new("dpkg").args(["--add-architecture", self.debian_arch]))?;
        }
        let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
        shell::ensure_debian_packages(&packages)
    }
}

/// Builds target/dist/DIR/rescue for `cross` and returns its path.
pub fn dist(cross: &Cross) -> crate::Result<PathBuf> {
    cross.ensure_toolchain()?;
    let root = workspace_root();
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.current_dir(&root).args([
        "build",
        "--release",
        "--package",
        "rescue",
        // The release profile (size, LTO, panic=abort) lives there; --target overrides its
        // x86_64 default.
        "--config",
        "musl-target.toml",
        "--target",
        cross.triple,
    ]);
    for (name, value) in cross.env() {
        cargo.env(name, value);
    }
    shell::run(&mut cargo)?;
    let built = shell::cargo_target_dir()
        .join(cross.triple)
        .join("release/rescue");
    crate::elf::check_static(&built)?;
    crate::elf::check_machine(&built, cross.elf_machine)?;
    publish(&built, &root.join("target/dist").join(cross.dist_dir))
}

/// Copies `built` to DIR/rescue beside DIR/SHA256SUMS, and holds it to the size limit.
fn publish(built: &Path, dir: &Path) -> crate::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let binary = dir.join("rescue");
    // Temp name then rename, as for x86_64: never a half-copied binary, never ETXTBSY.
    let partial = dir.join(".rescue.partial");
    std::fs::copy(built, &partial)
        .map_err(|err| format!("cannot copy to {}: {err}", partial.display()))?;
    std::fs::rename(&partial, &binary)
        .map_err(|err| format!("cannot rename to {}: {err}", binary.display()))?;
    let bytes =
        std::fs::read(&binary).map_err(|err| format!("cannot read {}: {err}", binary.display()))?;
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sums = dir.join("SHA256SUMS");
    std::fs::write(&sums, format!("{hex}  rescue\n"))
        .map_err(|err| format!("cannot write {}: {err}", sums.display()))?;
    let size = bytes.len() as u64;
    let shown = binary.strip_prefix(workspace_root()).unwrap_or(&binary);
    println!(
        "{}: {size} bytes ({:.2} MiB), static, sha256 {hex}",
        shown.display(),
        size as f64 / 1048576.0
    );
    if size > crate::dist::SIZE_LIMIT {
        return Err(format!(
            "the binary is {size} bytes, over the {}-byte limit",
            crate::dist::SIZE_LIMIT
        ));
    }
    Ok(binary)
}
