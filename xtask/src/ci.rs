//! `cargo xtask ci`: the one test command. It installs what a fresh Debian machine lacks, then
//! runs the checks in the order that fails fastest: format, lints, the static build, function
//! length, tests, and last the fuzz targets for a minute each. The tests run with RESCUE_CI=1,
//! which turns every skip into a failure (tests/common/skip.rs): what a test needs is
//! installed here, so a test that would skip has stopped testing.

use std::process::Command;

use crate::shell::{self, workspace_root};

/// Debian packages the tests compare against or build fixtures with. The debootstrap tests
/// need `debootstrap` (the shared bookworm root), `libcap2-bin` (setcap/getcap: ping's
/// capability), `attr` (setfattr/getfattr), `mount` (a tmpfs for backups on another file
/// system), `time` (GNU time: the memory budget tests measure a child's peak RSS with it) and
/// `tzdata` (touch's local-time tests read /usr/share/zoneinfo). The look-around applets are
/// compared with their peers: `procps` (ps, free, uptime, top), `psmisc` (fuser), `util-linux`
/// and `mount` (df's peer is coreutils; findmnt, mountpoint, dmesg), `iproute2` (ss, ip), and
/// `systemd` (journalctl) with `systemd-journal-remote`, which writes the journal files `log`
/// is tested on without a running journald, and `e2fsprogs` (mkfs.ext4: the superblocks
/// `mount LABEL=` reads, and a swap file's file system for `holders`). A test that finds one missing
/// fails in CI rather than skipping (tests/common/skip.rs). `qemu-user-static` runs the arm64
/// binary (tests/aarch64.rs); its cross toolchain is installed by `dist --target` itself.
const TEST_PACKAGES: &[&str] = &[
    "musl-tools",
    "debootstrap",
    "libcap2-bin",
    "attr",
    "mount",
    "pax-utils",
    "psmisc",
    "xz-utils",
    "zstd",
    "file",
    "python3",
    "binutils",
    "time",
    "tzdata",
    "procps",
    "util-linux",
    "iproute2",
    "e2fsprogs",
    "systemd",
    "gzip",
    "systemd-journal-remote",
    "qemu-user-static",
    // tests/deb.rs: the package's man pages rendered, the package checked, its completions run.
    "man-db",
    "lintian",
    "zsh",
    "fish",
];

pub fn run() -> crate::Result {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if shell::is_root() {
        shell::ensure_debian_packages(TEST_PACKAGES)?;
    } else {
        eprintln!("xtask ci: not root: tests that need root will skip, and Debian packages are not installed");
    }
    shell::run(Command::new("rustup").args(["component", "add", "rustfmt", "clippy"]))?;
    shell::run(
        Command::new(&cargo)
            .current_dir(&root)
            .args(["fmt", "--all", "--", "--check"]),
    )?;
    // The fuzz crate is a workspace of its own, which `--all` does not reach.
    shell::run(
        Command::new(&cargo)
            .current_dir(root.join("fuzz"))
            .args(["fmt", "--all", "--", "--check"]),
    )?;
    shell::run(Command::new(&cargo).current_dir(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    let binary = crate::dist::run()?;
    // tests/aarch64.rs runs it under qemu.
    crate::cross::dist(&crate::cross::AARCH64)?;
    // The .deb made from it, which tests/deb.rs installs.
    crate::deb::package(&binary)?;
    crate::fn_length::run()?;
    // The static-binary tests must run, not skip, in CI: tell them the binary is required.
    shell::run(
        Command::new(&cargo)
            .current_dir(&root)
            .env("RESCUE_REQUIRE_DIST", &binary)
            .env("RESCUE_CI", "1")
            .args(["test", "--workspace"]),
    )?;
    // GNU's own suite for the file applets: a test rescue passed before must still pass.
    if shell::is_root() {
        crate::gnu_tests::run(&["--check".into()])?;
    }
    crate::fuzz::run(&["--seconds".into(), "60".into()])?;
    println!("xtask ci: all checks passed");
    Ok(())
}
