//! The story end to end on a real Debian root: a bookworm minbase (debootstrap), its whole
//! `/usr/lib/x86_64-linux-gnu` deleted (behind `lib -> usr/lib`: the loader and libc are gone,
//! nothing dynamic runs), and the static `rescue` from `cargo xtask dist` run *inside* it with
//! `chroot ROOT /srv/rescue/rescue restore --yes`. Afterwards `chroot ROOT /bin/ls /` must run
//! and `dpkg --root=ROOT --verify` must print nothing.
//!
//! The debootstrap (about a minute, network) is done once and kept as
//! /var/cache/rescue-tests/bookworm-minbase.tar; its .debs stay in
//! /var/cache/rescue-tests/debs. Needs root and the dist binary (skips without them, unless
//! RESCUE_REQUIRE_DIST is set, which makes a missing binary a failure).
//!
//! Also printed (not asserted): the restore's wall time against `dpkg-deb --fsys-tarfile` over
//! the same archives, the floor any restore that reads them has to pay.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::debroot;

const CACHE: &str = "/var/cache/rescue-tests";
const TARBALL: &str = "/var/cache/rescue-tests/bookworm-minbase.tar";
const DEB_CACHE: &str = "/var/cache/rescue-tests/debs";
const MIRROR: &str = "http://deb.debian.org/debian";

fn dist() -> Option<PathBuf> {
    let binary = common::dist_binary();
    if binary.is_none() {
        if std::env::var_os("RESCUE_REQUIRE_DIST").is_some() {
            panic!("RESCUE_REQUIRE_DIST is set but target/dist/rescue is missing");
        }
        eprintln!("skipped: no target/dist/rescue (run cargo xtask dist)");
    }
    binary
}

fn run(command: &mut Command) -> std::process::Output {
    let what = format!("{command:?}");
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    debroot::assert_success(&what, &output);
    output
}

/// Runs debootstrap into `build`, up to three attempts; panics with the log when all fail.
fn debootstrap(build: &Path) {
    let mut log = String::new();
    for attempt in 1..=3 {
        let _ = fs::remove_dir_all(build);
        let output = Command::new("debootstrap")
            .arg("--variant=minbase")
            .arg(format!("--cache-dir={DEB_CACHE}"))
            .arg("bookworm")
            .arg(build)
            .arg(MIRROR)
            .output()
            .expect("run debootstrap");
        if output.status.success() {
            return;
        }
        let detail =
            fs::read_to_string(build.join("debootstrap/debootstrap.log")).unwrap_or_default();
        let tail: Vec<&str> = detail.lines().rev().take(60).collect();
        log = format!(
            "attempt {attempt}: {:?}\nstdout:\n{}\nstderr:\n{}\ndebootstrap.log (last lines):\n{}",
            output.status,
            common::stdout(&output),
            common::stderr(&output),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        eprintln!("debootstrap failed, {log}");
        std::thread::sleep(Duration::from_secs(5));
    }
    panic!("debootstrap failed three times; last:\n{log}");
}

/// The cached tarball, built first when missing (written under a temporary name and renamed,
/// so a killed build never leaves a half tarball behind).
fn tarball() -> Option<PathBuf> {
    let tarball = PathBuf::from(TARBALL);
    if tarball.is_file() {
        return Some(tarball);
    }
    if !common::have("debootstrap") {
        eprintln!("skipped: no {TARBALL} and debootstrap is not installed");
        return None;
    }
    fs::create_dir_all(DEB_CACHE).expect("mkdir deb cache");
    let build = PathBuf::from(format!("{CACHE}/build-{}", std::process::id()));
    debootstrap(&build);
    let partial = PathBuf::from(format!("{TARBALL}.{}.partial", std::process::id()));
    run(Command::new("tar")
        .arg("--numeric-owner")
        .arg("-cpf")
        .arg(&partial)
        .arg("-C")
        .arg(&build)
        .arg("."));
    fs::rename(&partial, &tarball).expect("rename tarball");
    fs::remove_dir_all(&build).expect("rm build");
    Some(tarball)
}

/// Every installed package's archive in ROOT's apt cache: what debootstrap left there, else
/// copied from the debootstrap cache.
fn ensure_archives(root: &Path) {
    let archives = root.join("var/cache/apt/archives");
    fs::create_dir_all(&archives).expect("mkdir archives");
    for entry in fs::read_dir(DEB_CACHE).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "deb") {
            let target = archives.join(entry.file_name());
            if !target.exists() {
                fs::copy(&path, &target).expect("copy deb into ROOT");
            }
        }
    }
}

/// The archives in ROOT's cache of the packages that own something under the multiarch
/// library directory: the ones the restore has to read.
fn archives_for_libdir(root: &Path) -> Vec<PathBuf> {
    let info = root.join("var/lib/dpkg/info");
    let mut packages = Vec::new();
    for entry in fs::read_dir(&info).expect("read info").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".list") else {
            continue;
        };
        let list = fs::read_to_string(entry.path()).unwrap_or_default();
        if list.lines().any(|l| {
            l.starts_with("/lib/x86_64-linux-gnu/") || l.starts_with("/usr/lib/x86_64-linux-gnu/")
        }) {
            packages.push(stem.split(':').next().unwrap_or(stem).to_string());
        }
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(root.join("var/cache/apt/archives"))
        .expect("read archives")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((package, _)) = name.split_once('_') {
            if name.ends_with(".deb") && packages.iter().any(|p| p == package) {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn static_rescue_restores_deleted_multiarch_libdir_in_debootstrap_root() {
    if !common::is_root() {
        eprintln!("skipped: debootstrap and chroot need root");
        return;
    }
    let Some(binary) = dist() else { return };
    let Some(tarball) = tarball() else { return };
    let dir = tempfile::Builder::new()
        .prefix("rescue-debootstrap-")
        .tempdir()
        .expect("tempdir");
    let root = dir.path().join("root");
    fs::create_dir(&root).expect("mkdir root");
    run(Command::new("tar")
        .arg("--numeric-owner")
        .arg("-xpf")
        .arg(&tarball)
        .arg("-C")
        .arg(&root));
    ensure_archives(&root);
    assert_eq!(
        debroot::dpkg_verify(&root),
        "",
        "dpkg --verify on the fresh debootstrap root"
    );

    // The bad day: the multiarch library directory deleted through the alias.
    fs::remove_dir_all(root.join("usr/lib/x86_64-linux-gnu")).expect("rm -r libdir");
    let broken = Command::new("chroot")
        .arg(&root)
        .args(["/bin/ls", "/"])
        .output()
        .expect("run chroot");
    assert!(
        !broken.status.success(),
        "ls still runs without its libraries"
    );
    assert_ne!(
        debroot::dpkg_verify(&root),
        "",
        "dpkg --verify sees the damage"
    );

    let rescue_dir = root.join("srv/rescue");
    fs::create_dir_all(&rescue_dir).expect("mkdir srv/rescue");
    fs::copy(&binary, rescue_dir.join("rescue")).expect("copy rescue");

    let started = Instant::now();
    let restore = Command::new("chroot")
        .arg(&root)
        .args(["/srv/rescue/rescue", "restore", "--yes"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .output()
        .expect("run chroot rescue");
    let restore_time = started.elapsed();
    assert_eq!(
        restore.status.code(),
        Some(0),
        "chroot rescue restore --yes: {:?}\nstdout:\n{}\nstderr:\n{}",
        restore.status,
        common::stdout(&restore),
        common::stderr(&restore)
    );

    let ls = Command::new("chroot")
        .arg(&root)
        .args(["/bin/ls", "/"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .expect("run chroot ls");
    assert!(
        ls.status.success(),
        "chroot ROOT /bin/ls / after restore: {:?}\n{}",
        ls.status,
        common::stderr(&ls)
    );
    assert!(
        common::stdout(&ls).contains("usr"),
        "{}",
        common::stdout(&ls)
    );
    assert_eq!(
        debroot::dpkg_verify(&root),
        "",
        "dpkg --verify after restore"
    );
    // And our own verify, from inside the chroot, with the archive checks (type, mode, owner,
    // link targets against every .deb in the apt cache): clean too.
    let verify = Command::new("chroot")
        .arg(&root)
        .args(["/srv/rescue/rescue", "verify"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .expect("run chroot rescue verify");
    assert_eq!(
        verify.status.code(),
        Some(0),
        "chroot rescue verify after restore:\n{}\n{}",
        common::stdout(&verify),
        common::stderr(&verify)
    );
    assert!(
        common::stdout(&verify).contains("also checked against their archives, 0 without"),
        "{}",
        common::stdout(&verify)
    );

    // The floor: decompressing the same archives and nothing else.
    let archives = archives_for_libdir(&root);
    assert!(!archives.is_empty(), "no archive owns the libdir?");
    let started = Instant::now();
    for deb in &archives {
        let status = Command::new("dpkg-deb")
            .arg("--fsys-tarfile")
            .arg(deb)
            .stdout(Stdio::null())
            .status()
            .expect("dpkg-deb --fsys-tarfile");
        assert!(
            status.success(),
            "dpkg-deb --fsys-tarfile {}",
            deb.display()
        );
    }
    let decompress_time = started.elapsed();
    eprintln!(
        "restore of {} archives: {:.2}s; dpkg-deb --fsys-tarfile over them: {:.2}s; ratio {:.2}",
        archives.len(),
        restore_time.as_secs_f64(),
        decompress_time.as_secs_f64(),
        restore_time.as_secs_f64() / decompress_time.as_secs_f64().max(1e-6)
    );
}
