//! `rescue seed` on the shared bookworm root of [`common::bookworm`]:
//!
//! - Acceptance: seeded with `--packages all`, its apt cache emptied and
//!   `usr/lib/x86_64-linux-gnu` deleted, `chroot ROOT /srv/rescue/rescue restore --yes` with no
//!   network (`unshare -n`) brings back every package-owned path as it was (type, mode, owner,
//!   group, size, content, link target, capability), every archive from the kit's store.
//! - Acceptance: with `--hook`, a `dpkg -i` of a repacked newer version of one package leaves
//!   the new version in the store and the old one gone; the hook's cost is printed.
//! - A second seed changes nothing: the same files, the same inodes, "nothing changed".
//! - Hostile: a kit directory that is a symlink out of ROOT is refused; junk in `debs/` is
//!   pruned and never followed; an archive whose SHA256 differs from ROOT's index is refused.
//!
//! Needs root (skips without it, fails in CI). The chroot tests also need the static binary
//! from `cargo xtask dist` (likewise).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::bookworm::{self, BookwormRoot, Checks};
use common::debroot::{self, BACKUPS, DIGEST_CACHE};

/// The kit inside ROOT.
const KIT: &str = "srv/rescue";

/// What the tool itself writes under ROOT and the snapshot comparison leaves out.
const TOOL_OWN: &[&str] = &[BACKUPS, DIGEST_CACHE, KIT];

/// The package the hook test upgrades: small, no maintainer scripts to speak of.
const UPGRADED: &str = "hostname";

/// `chroot ROOT CMD ARGS` with a clean environment and no terminal.
fn chroot(root: &Path, args: &[&str]) -> Output {
    common::output_without_terminal(
        Command::new("chroot")
            .arg(root)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    )
}

/// `BINARY seed --root ROOT ARGS` (the static binary, or the debug one).
fn seed(binary: &Path, root: &Path, args: &[&str]) -> Output {
    common::output_without_terminal(
        Command::new(binary)
            .arg("seed")
            .arg("--root")
            .arg(root)
            .args(args),
    )
}

fn debug_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rescue"))
}

fn shown(what: &str, output: &Output) -> String {
    format!("{what}: {}", common::show(output))
}

/// Every path under `dir` with (inode, size, mtime, ctime) for files and the target for
/// symlinks: a rewrite changes the inode (rename) or the ctime.
fn inventory(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in fs::read_dir(&at).expect("read_dir").flatten() {
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let what = if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else if meta.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&path).expect("readlink").display())
            } else {
                format!(
                    "ino {} size {} mtime {} ctime {}.{}",
                    meta.ino(),
                    meta.len(),
                    meta.mtime(),
                    meta.ctime(),
                    meta.ctime_nsec()
                )
            };
            out.insert(path.strip_prefix(dir).expect("under").to_path_buf(), what);
        }
    }
    out
}

/// The `.deb` files in `dir`, by name.
fn debs_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".deb"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `dpkg-deb -R DEB STAGING`.
fn unpack(deb: &Path, staging: &Path) {
    let output = Command::new("dpkg-deb")
        .arg("-R")
        .arg(deb)
        .arg(staging)
        .output()
        .expect("dpkg-deb -R");
    debroot::assert_success("dpkg-deb -R", &output);
}

/// `dpkg-deb --root-owner-group -b STAGING DEB`.
fn pack(staging: &Path, deb: &Path) {
    let output = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-b"])
        .arg(staging)
        .arg(deb)
        .output()
        .expect("dpkg-deb -b");
    debroot::assert_success("dpkg-deb -b", &output);
}

fn empty_apt_cache(root: &BookwormRoot) {
    for name in debs_in(&root.path("var/cache/apt/archives")) {
        fs::remove_file(root.path("var/cache/apt/archives").join(name)).expect("rm deb");
    }
}

#[test]
fn restore_in_chroot_without_network_or_apt_cache_takes_everything_from_the_kit() {
    if !common::root_or_skip("debootstrap, chroot and unshare need root")
        || !common::have_or_skip("unshare")
    {
        return;
    }
    let Some(binary) = common::dist_binary() else {
        return;
    };
    let Some(root) = BookwormRoot::extract() else {
        return;
    };
    let seeded = seed(&binary, &root.root, &["--packages", "all"]);
    assert_eq!(seeded.status.code(), Some(0), "{}", shown("seed", &seeded));
    empty_apt_cache(&root);
    let pristine = root.snapshot(TOOL_OWN);
    let owned = bookworm::owned_host_paths(&root.root);

    // The bad day: the loader, libc and every library behind `lib -> usr/lib`, gone.
    let libdir = root.path("usr/lib/x86_64-linux-gnu");
    let mut expected = pristine.clone();
    expected.0.retain(|path, _| {
        let host = root.root.join(path);
        !host.starts_with(&libdir) || owned.contains(&host)
    });
    fs::remove_dir_all(&libdir).expect("rm -r usr/lib/x86_64-linux-gnu");
    assert!(
        !chroot(&root.root, &["/bin/ls", "/"]).status.success(),
        "ls still runs without its libraries"
    );
    // The kit's own loader and libc start a dynamic tool meanwhile.
    let echo = chroot(
        &root.root,
        &[
            "/srv/rescue/lib/ld-linux-x86-64.so.2",
            "--library-path",
            "/srv/rescue/lib",
            "/bin/echo",
            "still here",
        ],
    );
    assert_eq!(
        common::stdout(&echo),
        "still here\n",
        "{}",
        shown("kit loader", &echo)
    );

    let started = Instant::now();
    let restore = common::output_without_terminal(
        Command::new("unshare")
            .args(["-n", "chroot"])
            .arg(&root.root)
            .args(["/srv/rescue/rescue", "restore", "--yes"])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    );
    eprintln!(
        "restore from the kit: {:.2}s",
        started.elapsed().as_secs_f64()
    );
    let mut checks = Checks::default();
    checks.check(restore.status.code() == Some(0), || {
        shown(
            "unshare -n chroot ROOT /srv/rescue/rescue restore --yes",
            &restore,
        )
    });
    let said = common::stdout(&restore);
    checks.check(
        said.contains("from the kit's store: /srv/rescue/debs/libc6_"),
        || format!("the plan does not say libc6 came from the kit:\n{said}"),
    );
    let ls = chroot(&root.root, &["/bin/ls", "/"]);
    checks.check(ls.status.success(), || shown("chroot ROOT /bin/ls /", &ls));
    let diff = expected.diff(&root.snapshot(TOOL_OWN));
    checks.check(diff.is_empty(), || {
        format!(
            "the restored root differs from the pristine one in {} path(s):\n{}",
            diff.len(),
            diff.join("\n")
        )
    });
    checks.finish();
}

/// Repacks ROOT's archive of `package` with `+rescue1` added to its version into ROOT's apt
/// cache; returns (the old version, the new version, the new archive inside ROOT).
fn repack_newer(root: &BookwormRoot, package: &str) -> (String, String, String) {
    let cache = root.path("var/cache/apt/archives");
    let old_name = debs_in(&cache)
        .into_iter()
        .find(|n| n.starts_with(&format!("{package}_")))
        .unwrap_or_else(|| panic!("no {package} archive in the apt cache"));
    let staging = root.base().join("repack");
    let _ = fs::remove_dir_all(&staging);
    unpack(&cache.join(&old_name), &staging);
    let control_path = staging.join("DEBIAN/control");
    let control = fs::read_to_string(&control_path).expect("read control");
    let old = control
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .expect("Version")
        .to_string();
    let new = format!("{old}+rescue1");
    fs::write(
        &control_path,
        control.replace(&format!("Version: {old}"), &format!("Version: {new}")),
    )
    .expect("write control");
    let file = format!("{package}_{}_amd64.deb", new.replace(':', "%3a"));
    pack(&staging, &cache.join(&file));
    (old, new, format!("/var/cache/apt/archives/{file}"))
}

#[test]
fn the_hook_keeps_the_store_at_the_installed_version_through_dpkg_i() {
    if !common::root_or_skip("debootstrap and chroot need root")
        || !common::have_or_skip("dpkg-deb")
    {
        return;
    }
    let Some(binary) = common::dist_binary() else {
        return;
    };
    let Some(root) = BookwormRoot::extract() else {
        return;
    };
    let seeded = seed(&binary, &root.root, &["--hook"]);
    assert_eq!(
        seeded.status.code(),
        Some(0),
        "{}",
        shown("seed --hook", &seeded)
    );
    let debs = root.path(KIT).join("debs");
    let (old, new, archive) = repack_newer(&root, UPGRADED);
    let old_file = format!("{UPGRADED}_{old}_amd64.deb");
    let new_file = format!("{UPGRADED}_{new}_amd64.deb");
    assert!(debs.join(&old_file).is_file(), "{old_file} not seeded");

    let started = Instant::now();
    let install = chroot(&root.root, &["dpkg", "-i", &archive]);
    let with_hook = started.elapsed();
    let mut checks = Checks::default();
    checks.check(install.status.success(), || {
        shown("chroot ROOT dpkg -i", &install)
    });
    let held = debs_in(&debs);
    checks.check(held.contains(&new_file), || {
        format!("the store does not hold {new_file}: {held:?}")
    });
    checks.check(!held.contains(&old_file), || {
        format!("the store still holds {old_file}")
    });
    let index = fs::read_to_string(debs.join("index")).unwrap_or_default();
    checks.check(index.contains(&format!("{UPGRADED}\t{new}\t")), || {
        format!("the store's index does not name {UPGRADED} {new}:\n{index}")
    });
    // The baseline follows the upgrade: the package's entries name the new version, and
    // verify (which ignores an entry dpkg contradicts) finds nothing to say.
    let baseline = fs::read_to_string(root.path(KIT).join("baseline")).unwrap_or_default();
    let entries: Vec<&str> = baseline
        .lines()
        .filter(|l| l.contains(&format!(" {UPGRADED} ")))
        .collect();
    checks.check(
        !entries.is_empty()
            && entries
                .iter()
                .all(|l| l.contains(&format!(" {UPGRADED} {new} "))),
        || format!("the baseline does not follow {UPGRADED} {new}: {entries:?}"),
    );
    let verify = chroot(&root.root, &["/srv/rescue/rescue", "verify", UPGRADED]);
    checks.check(verify.status.code() == Some(0), || {
        shown(
            "the baseline disagrees with the upgraded package: verify",
            &verify,
        )
    });

    // The figures: a refresh with nothing changed, and the one that follows one upgrade.
    let nothing = timed(|| chroot(&root.root, &["/srv/rescue/rescue", "seed", "--quiet"]));
    fs::remove_file(root.path("etc/dpkg/dpkg.cfg.d/rescue-seed")).expect("rm dpkg hook");
    let started = Instant::now();
    let back = chroot(
        &root.root,
        &["dpkg", "-i", &format!("/var/cache/apt/archives/{old_file}")],
    );
    let without_hook = started.elapsed();
    checks.check(back.status.success(), || {
        shown("dpkg -i the old version", &back)
    });
    let one = timed(|| chroot(&root.root, &["/srv/rescue/rescue", "seed", "--quiet"]));
    checks.check(debs_in(&debs).contains(&old_file), || {
        format!("the downgrade's refresh did not bring back {old_file}")
    });
    eprintln!(
        "dpkg -i with the hook: {:.2}s, without: {:.2}s; seed refresh, nothing changed: {:.3}s, \
         after one package changed: {:.3}s",
        with_hook.as_secs_f64(),
        without_hook.as_secs_f64(),
        nothing.as_secs_f64(),
        one.as_secs_f64()
    );
    checks.finish();
}

/// How long `run` took; panics when it failed.
fn timed(run: impl FnOnce() -> Output) -> Duration {
    let started = Instant::now();
    let output = run();
    let took = started.elapsed();
    debroot::assert_success("timed run", &output);
    took
}

#[test]
fn a_second_seed_changes_nothing() {
    let Some(root) = BookwormRoot::extract() else {
        return;
    };
    let binary = debug_binary();
    let first = seed(&binary, &root.root, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", shown("seed", &first));
    let kit = root.path(KIT);
    let before = inventory(&kit);
    // Every archive of the store has its header index in ROOT's cache, equal to a fresh read.
    let store_index = fs::read_to_string(kit.join("debs/index")).expect("debs/index");
    let mut indexed = 0;
    for line in store_index.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split('\t').collect();
        // Archive lines; the others remember what no source had.
        let [_, _, _, sha256, _, _, _, file, _] = fields[..] else {
            continue;
        };
        let kept = fs::read(root.path("var/cache/rescue/archives").join(sha256))
            .unwrap_or_else(|err| panic!("no header index for {file}: {err}"));
        let fresh = rescue::deb::Deb::open(&kit.join("debs").join(file))
            .and_then(|deb| deb.index())
            .expect("index");
        assert_eq!(
            rescue::deb::ArchiveIndex::decode(&kept),
            Some(fresh),
            "{file}"
        );
        indexed += 1;
    }
    assert!(indexed > 50, "{indexed} archives indexed");
    assert!(
        common::stdout(&first).contains(&format!("archive indexes: {indexed} made")),
        "{}",
        common::stdout(&first)
    );
    let second = seed(&binary, &root.root, &[]);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        shown("seed again", &second)
    );
    let said = common::stdout(&second);
    assert!(said.contains("nothing changed"), "{said}");
    assert!(
        said.contains(" 0 added, ") && said.contains(" 0 pruned"),
        "{said}"
    );
    assert_eq!(before, inventory(&kit), "the second seed rewrote something");

    // The store's archives are the apt cache's own files, hard-linked.
    let cache = root.path("var/cache/apt/archives");
    let held = debs_in(&kit.join("debs"));
    assert!(held.iter().any(|n| n.starts_with("libc6_")), "{held:?}");
    for name in &held {
        let ours = fs::metadata(kit.join("debs").join(name)).expect("stat");
        let theirs = fs::metadata(cache.join(name)).expect("stat cache");
        assert_eq!(ours.ino(), theirs.ino(), "{name} is not a hard link");
    }
    // And the sums check out.
    let sums = Command::new("sha256sum")
        .args(["--quiet", "-c", "SHA256SUMS"])
        .current_dir(&kit)
        .output()
        .expect("sha256sum -c");
    debroot::assert_success("sha256sum -c SHA256SUMS", &sums);
    let shadow = fs::metadata(kit.join("state/latest/etc/shadow")).expect("state shadow");
    assert_eq!(shadow.mode() & 0o777, 0o600);
    assert_eq!(
        fs::read_link(kit.join("bin/ls")).expect("bin/ls"),
        Path::new("../rescue")
    );
}

#[test]
fn a_kit_dir_that_is_a_symlink_out_of_root_is_refused() {
    let Some(root) = BookwormRoot::extract() else {
        return;
    };
    let outside = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(root.path("srv")).expect("mkdir srv");
    std::os::unix::fs::symlink(outside.path(), root.path(KIT)).expect("plant symlink");
    let output = seed(&debug_binary(), &root.root, &["--packages", "bash"]);
    assert_eq!(output.status.code(), Some(2), "{}", shown("seed", &output));
    assert!(
        common::stderr(&output).contains("symlink"),
        "{}",
        shown("seed", &output)
    );
    assert_eq!(
        fs::read_dir(outside.path()).expect("read outside").count(),
        0,
        "seed wrote outside ROOT"
    );
    // A relative one that climbs out is refused the same way.
    fs::remove_file(root.path(KIT)).expect("rm symlink");
    std::os::unix::fs::symlink("../../../../../../tmp", root.path(KIT)).expect("plant");
    let output = seed(&debug_binary(), &root.root, &["--packages", "bash"]);
    assert_eq!(output.status.code(), Some(2), "{}", shown("seed", &output));
}

#[test]
fn junk_in_the_store_is_pruned_and_never_followed() {
    let Some(root) = BookwormRoot::extract() else {
        return;
    };
    let debs = root.path(KIT).join("debs");
    fs::create_dir_all(&debs).expect("mkdir debs");
    let bash = debs_in(&root.path("var/cache/apt/archives"))
        .into_iter()
        .find(|n| n.starts_with("bash_"))
        .expect("bash archive");
    // Junk under the real archive's name, junk under other names, a symlink to a host file,
    // a FIFO and a directory.
    fs::write(debs.join(&bash), b"!<arch>\nnot really").expect("write junk");
    fs::write(debs.join("junk.deb"), vec![0u8; 4096]).expect("write junk");
    fs::write(debs.join("index"), "garbage\tline\n").expect("write index");
    let victim = tempfile::NamedTempFile::new().expect("victim");
    fs::write(victim.path(), b"host file").expect("write victim");
    std::os::unix::fs::symlink(victim.path(), debs.join("evil.deb")).expect("symlink");
    nix::unistd::mkfifo(
        &debs.join("fifo.deb"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .expect("mkfifo");
    fs::create_dir(debs.join("dir.deb")).expect("mkdir");
    let output = seed(&debug_binary(), &root.root, &["--packages", "bash"]);
    assert_eq!(output.status.code(), Some(0), "{}", shown("seed", &output));
    assert_eq!(
        debs_in(&debs),
        vec![bash.clone()],
        "{}",
        shown("seed", &output)
    );
    let ours = fs::read(debs.join(&bash)).expect("read");
    let cache = fs::read(root.path("var/cache/apt/archives").join(&bash)).expect("read cache");
    assert!(
        ours == cache,
        "the store's bash archive is not the trusted one"
    );
    assert_eq!(fs::read(victim.path()).expect("victim"), b"host file");
    let said = common::stdout(&output);
    for name in ["junk.deb", "evil.deb", "fifo.deb", "dir.deb"] {
        assert!(said.contains(&format!("pruned  {name}")), "{name}: {said}");
    }
}

#[test]
fn an_archive_whose_sha256_differs_from_the_index_is_refused() {
    let Some(root) = BookwormRoot::extract() else {
        return;
    };
    // The same version, one file's content changed: its md5sums still agree with dpkg's if
    // the md5sums were left alone, but ROOT's apt list says what SHA256 it must have.
    let cache = root.path("var/cache/apt/archives");
    let name = debs_in(&cache)
        .into_iter()
        .find(|n| n.starts_with(&format!("{UPGRADED}_")))
        .expect("archive");
    let staging = root.base().join("tamper");
    unpack(&cache.join(&name), &staging);
    fs::write(staging.join("usr/share/doc/hostname/evil"), b"evil").expect("add a file");
    let from = root.base().join("from");
    fs::create_dir(&from).expect("mkdir from");
    pack(&staging, &from.join(&name));
    fs::rename(cache.join(&name), root.base().join("genuine.deb")).expect("move away");
    let from_arg = from.to_string_lossy().into_owned();
    let output = seed(
        &debug_binary(),
        &root.root,
        &["--packages", UPGRADED, "--from", &from_arg],
    );
    assert_eq!(output.status.code(), Some(1), "{}", shown("seed", &output));
    let said = common::stdout(&output);
    assert!(
        said.contains(&format!("missing {UPGRADED}")) && said.contains("does not match"),
        "{said}"
    );
    assert!(debs_in(&root.path(KIT).join("debs")).is_empty());
    // Nothing changed in the sources: the next run remembers instead of searching again.
    let again = seed(
        &debug_binary(),
        &root.root,
        &["--packages", UPGRADED, "--from", &from_arg],
    );
    assert_eq!(
        again.status.code(),
        Some(1),
        "{}",
        shown("seed again", &again)
    );
    assert!(
        common::stdout(&again).contains("as the last look found"),
        "{}",
        shown("seed again", &again)
    );
    // A source that changed is searched again: the genuine archive back in the apt cache.
    fs::rename(root.base().join("genuine.deb"), cache.join(&name)).expect("move back");
    let repaired = seed(
        &debug_binary(),
        &root.root,
        &["--packages", UPGRADED, "--from", &from_arg],
    );
    assert_eq!(
        repaired.status.code(),
        Some(0),
        "{}",
        shown("seed", &repaired)
    );
    assert_eq!(debs_in(&root.path(KIT).join("debs")), vec![name]);
}

#[test]
fn bash_static_comes_from_an_archive_a_packages_index_vouches_for() {
    let Some(root) = BookwormRoot::extract() else {
        return;
    };
    // A bash-static newer than the one ROOT's apt list knows, in a mirror whose own index
    // gives its SHA256.
    let staging = root.base().join("bash-static");
    fs::create_dir_all(staging.join("DEBIAN")).expect("mkdir DEBIAN");
    fs::create_dir_all(staging.join("bin")).expect("mkdir bin");
    fs::write(
        staging.join("DEBIAN/control"),
        "Package: bash-static\nVersion: 5.2.15-2+b99\nArchitecture: amd64\n\
         Maintainer: Rescue Tests <tests@example.org>\nDescription: fake\n fake.\n",
    )
    .expect("write control");
    let shell = b"#!/bin/sh\necho not really bash\n";
    fs::write(staging.join("bin/bash-static"), shell).expect("write shell");
    let debs = root.base().join("debs");
    fs::create_dir(&debs).expect("mkdir debs");
    let deb = debs.join("bash-static_5.2.15-2+b99_amd64.deb");
    debroot::build_deb(&staging, &deb, "xz", false);
    let mirror = root.base().join("mirror");
    debroot::make_mirror(&mirror, &[deb]);
    let mirror_arg = mirror.to_string_lossy().into_owned();
    let args = ["--packages", "bash", "--from", &mirror_arg];
    let output = seed(&debug_binary(), &root.root, &args);
    assert_eq!(output.status.code(), Some(0), "{}", shown("seed", &output));
    let said = common::stdout(&output);
    assert!(
        said.contains("shell: bin/bash and bin/sh from bash-static 5.2.15-2+b99 (SHA256 matches"),
        "{said}"
    );
    let bin = root.path(KIT).join("bin");
    assert_eq!(fs::read(bin.join("bash")).expect("read bin/bash"), shell);
    assert_eq!(
        fs::metadata(bin.join("bash")).expect("stat").mode() & 0o777,
        0o755
    );
    assert_eq!(
        fs::read_link(bin.join("sh")).expect("bin/sh"),
        Path::new("bash")
    );
    let again = seed(&debug_binary(), &root.root, &args);
    let said = common::stdout(&again);
    assert!(
        said.contains("shell: bin/bash unchanged (bash-static 5.2.15-2+b99)"),
        "{said}"
    );
    assert!(said.contains("nothing changed"), "{said}");
}
