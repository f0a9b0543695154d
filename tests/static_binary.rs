//! The static binary from `cargo xtask dist`, run where nothing else exists: an empty directory
//! as `/` (no loader, no libc, no /etc, no /proc). Every applet must work there.
//!
//! `cargo xtask ci` builds the binary first and sets RESCUE_REQUIRE_DIST, so in CI these tests
//! fail rather than skip when it is missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// By absolute path: the child runs with an empty environment (no PATH), as on the bad day.
const CHROOT: &str = "/usr/sbin/chroot";

/// An empty root with only `/rescue` in it, or None when this test cannot run here.
fn empty_root() -> Option<(tempfile::TempDir, PathBuf)> {
    let binary = common::dist_binary()?;
    if !common::root_or_skip("chroot needs root") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&binary, dir.path().join("rescue")).unwrap();
    let root = dir.path().to_path_buf();
    Some((dir, root))
}

fn in_chroot(root: &Path, args: &[&str]) -> Output {
    Command::new(CHROOT)
        .arg(root)
        .arg("/rescue")
        .args(args)
        .env_clear()
        .output()
        .expect("run chroot")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        common::stdout(output),
        common::stderr(output)
    );
    common::stdout(output)
}

#[test]
fn the_dist_binary_is_static_and_small() {
    let Some(binary) = common::dist_binary() else {
        return;
    };
    let data = std::fs::read(&binary).unwrap();
    // The hard limit; the aim is 3 MiB (see xtask dist).
    assert!(data.len() < 4 * 1024 * 1024, "{} bytes", data.len());
    // `cargo xtask ci` installs file(1); by hand it may be missing.
    match Command::new("file").arg(&binary).output() {
        Ok(file) => {
            let text = common::stdout(&file);
            assert!(text.contains("static"), "file(1) says: {text}");
        }
        Err(_) => assert!(
            std::env::var_os("RESCUE_REQUIRE_DIST").is_none(),
            "file(1) is missing"
        ),
    }
    let check = Command::new("cargo")
        .args(["xtask", "check-static"])
        .arg(&binary)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", common::stderr(&check));
    let dynamic = Command::new("cargo")
        .args(["xtask", "check-static", "/bin/ls"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        !dynamic.status.success(),
        "the ELF check must fail on a dynamic binary"
    );
    assert!(
        common::stderr(&dynamic).contains("PT_INTERP"),
        "{}",
        common::stderr(&dynamic)
    );
}

#[test]
fn every_file_applet_works_in_an_empty_chroot() {
    let Some((_dir, root)) = empty_root() else {
        return;
    };
    assert!(
        !root.join("proc/self").exists()
            && !root.join("lib").exists()
            && !root.join("etc").exists()
    );

    let listing = ok(&in_chroot(&root, &["ls", "-la", "/"]));
    assert!(listing.contains(" rescue\n"), "{listing}");
    assert!(listing.lines().any(|l| l.ends_with(" .")), "{listing}");

    ok(&in_chroot(&root, &["mkdir", "-p", "/a/b/c"]));
    ok(&in_chroot(
        &root,
        &["touch", "-d", "2001-02-03 04:05:06", "/a/b/c/file"],
    ));
    // chown before chmod: the kernel clears setuid on chown.
    ok(&in_chroot(&root, &["chown", "1234:5678", "/a/b/c/file"]));
    ok(&in_chroot(&root, &["chmod", "4755", "/a/b/c/file"]));
    ok(&in_chroot(&root, &["ln", "-s", "c/file", "/a/b/link"]));
    ok(&in_chroot(&root, &["cp", "-a", "/a", "/copy"]));
    let copied = ok(&in_chroot(&root, &["ls", "-ln", "/copy/b/c"]));
    // No /etc/passwd in the chroot: owners are numeric, and -a kept owner, setuid and mtime.
    assert!(
        copied.contains("-rwsr-xr-x 1 1234 5678 0 Feb  3  2001 file"),
        "{copied}"
    );
    let link = ok(&in_chroot(&root, &["readlink", "/copy/b/link"]));
    assert_eq!(link.trim(), "c/file");
    ok(&in_chroot(&root, &["mv", "/copy/b/c/file", "/moved"]));
    let stat = ok(&in_chroot(&root, &["stat", "-c", "%a %u %g %s", "/moved"]));
    assert_eq!(stat.trim(), "4755 1234 5678 0");

    std::fs::write(root.join("data"), b"hello\n").unwrap();
    assert_eq!(ok(&in_chroot(&root, &["cat", "/data"])), "hello\n");
    let sum = ok(&in_chroot(&root, &["md5sum", "/data"]));
    assert_eq!(sum, "b1946ac92492d2347c6235b4d2611184  /data\n");
    let sum = ok(&in_chroot(&root, &["sha256sum", "/data"]));
    assert!(
        sum.starts_with("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  /data")
    );

    ok(&in_chroot(&root, &["rm", "-r", "/copy"]));
    ok(&in_chroot(&root, &["mkdir", "-p", "/e/f/g"]));
    ok(&in_chroot(&root, &["rmdir", "-p", "/e/f/g"]));
    ok(&in_chroot(&root, &["sync"]));
    let listing = ok(&in_chroot(&root, &["ls", "/"]));
    assert_eq!(listing, "a\ndata\nmoved\nrescue\n");
}

#[test]
fn an_applet_runs_through_a_symlink_named_after_it() {
    let Some((_dir, root)) = empty_root() else {
        return;
    };
    std::os::unix::fs::symlink("rescue", root.join("ls")).unwrap();
    let output = Command::new(CHROOT)
        .arg(&root)
        .arg("/ls")
        .arg("/")
        .env_clear()
        .output()
        .unwrap();
    let listing = ok(&output);
    assert_eq!(listing, "ls\nrescue\n");

    // --install makes the links itself, without /proc (argv[0] is the fallback).
    ok(&in_chroot(&root, &["--install", "/bin"]));
    let output = Command::new(CHROOT)
        .arg(&root)
        .arg("/bin/cat")
        .arg("/bin/../rescue")
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(
        output.stdout.len() as u64,
        std::fs::metadata(root.join("rescue")).unwrap().len()
    );
}

#[test]
fn unknown_applets_and_help() {
    let Some((_dir, root)) = empty_root() else {
        return;
    };
    let output = in_chroot(&root, &["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(common::stderr(&output).contains("unknown applet 'frobnicate'"));
    let list = ok(&in_chroot(&root, &["--list"]));
    for applet in list.lines() {
        let help = in_chroot(&root, &[applet, "--help"]);
        assert!(
            help.status.success(),
            "{applet} --help: {}",
            common::stderr(&help)
        );
        assert!(
            common::stdout(&help).contains("Usage"),
            "{applet} --help says: {}",
            common::stdout(&help)
        );
    }
}

/// RESCUE.md's last-resort way in: the binary typed into the broken shell as `printf` lines
/// (bash builtins only), redirected into a spare executable whose mode the redirection keeps.
/// The pipeline here is the one the runbook prints.
#[test]
fn the_runbook_printf_transfer_rebuilds_the_binary() {
    let Some(binary) = common::dist_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spare = dir.path().join("yes");
    std::fs::copy("/usr/bin/yes", &spare).unwrap();
    let paste = dir.path().join("paste.sh");
    let make = format!(
        "od -An -v -tx1 {} | tr -d ' \\n' | fold -w 4000 | sed 's/../\\\\x&/g; s/.*/printf \"&\" >> {}/' > {}",
        binary.display(),
        spare.display().to_string().replace('/', "\\/"),
        paste.display()
    );
    let made = Command::new("sh").arg("-c").arg(&make).output().unwrap();
    assert!(made.status.success(), "{}", common::stderr(&made));
    // In the broken shell: truncate the spare executable, then paste.
    let typed = Command::new("/bin/bash")
        .args(["--norc", "-c"])
        .arg(format!(
            ": > {}; source {}",
            spare.display(),
            paste.display()
        ))
        .env_clear()
        .output()
        .unwrap();
    assert!(typed.status.success(), "{}", common::stderr(&typed));
    assert_eq!(
        std::fs::read(&spare).unwrap(),
        std::fs::read(&binary).unwrap()
    );
    let list = Command::new(&spare).arg("--list").output().unwrap();
    assert!(
        common::stdout(&list).lines().any(|l| l == "restore"),
        "{}",
        common::stdout(&list)
    );
}

/// `/proc` bind-mounted into the empty root for as long as it lives.
struct ProcMount(PathBuf);

impl ProcMount {
    fn mount(root: &Path) -> ProcMount {
        let target = root.join("proc");
        std::fs::create_dir_all(&target).unwrap();
        let status = Command::new("mount")
            .args(["--bind", "/proc"])
            .arg(&target)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount --bind /proc");
        ProcMount(target)
    }
}

impl Drop for ProcMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The look-around applets that read the kernel's process and mount views. In an empty chroot
/// each says plainly that `/proc` is missing and leaves with 2; with the host's `/proc`
/// bind-mounted each works. `(args, statuses with /proc)`: 1 is "found something" where the
/// applet has that meaning.
const NEEDS_PROC: &[(&[&str], &[i32])] = &[
    (&["ps", "-e"], &[0]),
    (&["ps", "-D"], &[0]),
    (&["top", "-b", "-n", "1"], &[0]),
    (&["kill", "-n", "no-such-process-name"], &[1]),
    (&["free"], &[0]),
    (&["uptime"], &[0]),
    (&["fuser", "-m", "/proc"], &[0, 1]),
    (&["holders", "/proc"], &[0, 1]),
    (&["mount"], &[0]),
    (&["mounts"], &[0, 1]),
    (&["df"], &[0, 1]),
    (&["ss", "-ltnp"], &[0]),
    (&["salvage", "--list"], &[0]),
];

#[test]
fn every_look_around_applet_says_proc_is_missing_then_works_with_it() {
    let Some((_dir, root)) = empty_root() else {
        return;
    };
    for (args, _) in NEEDS_PROC {
        let output = in_chroot(&root, args);
        let said = common::stderr(&output);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?} without /proc: {said}"
        );
        assert!(
            said.contains("/proc") && said.contains("missing"),
            "{args:?}: {said}"
        );
        assert!(
            output.stdout.is_empty(),
            "{args:?} printed {}",
            common::stdout(&output)
        );
    }
    let _proc = ProcMount::mount(&root);
    for (args, statuses) in NEEDS_PROC {
        let output = in_chroot(&root, args);
        let code = output.status.code().unwrap_or(-1);
        assert!(
            statuses.contains(&code),
            "{args:?} with /proc: exit {code}\n{}",
            common::show(&output)
        );
        assert!(
            !common::stderr(&output).contains("missing"),
            "{args:?}: {}",
            common::show(&output)
        );
    }
    let ps = ok(&in_chroot(&root, &["ps", "-e", "-o", "pid,comm"]));
    assert!(ps.lines().count() > 2, "{ps}");
}

/// What needs no `/proc`: the kernel's log through syslog(2), the network through netlink, and
/// the runbook's files.
#[test]
fn the_kernel_log_and_network_views_work_without_proc() {
    let Some((_dir, root)) = empty_root() else {
        return;
    };
    let dmesg = ok(&in_chroot(&root, &["dmesg"]));
    assert!(!dmesg.is_empty());
    let addresses = ok(&in_chroot(&root, &["ip", "addr"]));
    assert!(addresses.contains("lo"), "{addresses}");
    ok(&in_chroot(&root, &["ip", "route"]));
    let sockets = ok(&in_chroot(&root, &["ss", "-ltn"]));
    assert!(sockets.starts_with("State"), "{sockets}");
    let elf = ok(&in_chroot(&root, &["ldd", "/rescue"]));
    assert!(elf.contains("statically linked"), "{elf}");
}

/// A directory bind-mounted at `at` for as long as it lives.
struct BindMount(PathBuf);

impl BindMount {
    fn mount(from: &Path, at: &Path) -> BindMount {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .arg("--bind")
            .arg(from)
            .arg(at)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount --bind {}", from.display());
        BindMount(at.to_path_buf())
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn exit(output: &Output, code: i32, what: &str) -> String {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}\n{}",
        common::show(output)
    );
    common::stdout(output)
}

/// The triage applets from the static binary alone, pointed with `--root` at a bookworm root
/// mounted at /mnt of an empty root: a live system looking at the broken disk, with no loader,
/// no /etc and (at first) no /proc of its own.
#[test]
fn the_triage_applets_work_in_an_empty_chroot_under_root() {
    let Some((_dir, root)) = empty_root() else {
        return;
    };
    let Some(bookworm) = common::bookworm::BookwormRoot::extract() else {
        return;
    };
    let _mnt = BindMount::mount(&bookworm.root, &root.join("mnt"));
    let out = exit(
        &in_chroot(&root, &["doctor", "--root", "/mnt"]),
        0,
        "doctor",
    );
    assert!(out.contains("nothing wrong found"), "{out}");
    let out = exit(
        &in_chroot(&root, &["accounts", "--root", "/mnt"]),
        0,
        "accounts",
    );
    assert!(out.starts_with("no findings"), "{out}");
    let out = exit(
        &in_chroot(&root, &["ldd", "--root", "/mnt", "/usr/bin/bash"]),
        0,
        "ldd",
    );
    assert!(
        out.contains("libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6"),
        "{out}"
    );

    // What changed after a moment: exactly the file written then, and its owner.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(bookworm.path("etc/debian_version"), "13.0\n").unwrap();
    let since = format!("@{since}");
    let out = exit(
        &in_chroot(&root, &["changes", "--root", "/mnt", "--since", &since]),
        1,
        "changes",
    );
    assert!(out.contains("debian_version"), "{out}");
    assert!(out.contains("base-files"), "{out}");

    // The libdir disaster, seen from the empty root.
    std::fs::remove_dir_all(bookworm.path("usr/lib/x86_64-linux-gnu")).unwrap();
    let out = exit(
        &in_chroot(&root, &["doctor", "--root", "/mnt"]),
        1,
        "doctor",
    );
    assert!(out.contains("ld-linux-x86-64.so.2 is missing"), "{out}");
    assert!(out.contains("libc6:amd64"), "{out}");
    assert!(out.contains("next: rescue restore --root /mnt"), "{out}");
    let listing = in_chroot(&root, &["salvage", "--root", "/mnt", "--list"]);
    exit(&listing, 2, "salvage without /proc");
    let _proc = ProcMount::mount(&root);
    exit(
        &in_chroot(&root, &["salvage", "--root", "/mnt", "--list"]),
        0,
        "salvage with /proc",
    );
}
