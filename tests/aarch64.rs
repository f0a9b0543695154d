//! The arm64 binary from `cargo xtask dist --target aarch64-unknown-linux-musl`, run on this
//! amd64 machine under qemu-user. `qemu-aarch64-static` is called by name, so binfmt_misc need
//! not be registered (it is not, in containers). Each applet's output is compared with the
//! x86_64 build's on the same input, or with the GNU peer's.
//!
//! Without the binary or qemu the tests skip, saying which is missing; in CI (`cargo xtask ci`
//! builds the binary and installs qemu-user-static) they fail instead (tests/common/skip.rs).

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::debroot::{self, DebRoot};
use common::dpkgroot::{DpkgRoot, Pkg};
use common::{assert_exit, show, stdout};

const QEMU: &str = "qemu-aarch64-static";
const EM_AARCH64: u16 = 183;

/// target/dist/aarch64/rescue, or None (skipped, or failed in CI) without it or qemu.
fn arm_binary() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dist/aarch64/rescue");
    if !path.is_file() {
        common::skip(
            "no target/dist/aarch64/rescue (run cargo xtask dist --target aarch64-unknown-linux-musl)",
        );
        return None;
    }
    common::have_or_skip(QEMU).then_some(path)
}

/// `rescue ARGS` as arm64 code under qemu, in the C locale and UTC like the x86_64 run.
fn arm(binary: &Path, args: &[&OsStr]) -> Command {
    let mut command = Command::new(QEMU);
    command
        .arg(binary)
        .args(args)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .stdin(Stdio::null());
    command
}

/// The same `rescue ARGS` from the x86_64 build cargo made for the tests.
fn host(args: &[&OsStr]) -> Command {
    let mut command = common::rescue();
    command
        .args(args)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .stdin(Stdio::null());
    command
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

fn output(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|err| panic!("run {command:?}: {err}"))
}

fn os<'a>(args: &[&'a str]) -> Vec<&'a OsStr> {
    args.iter().map(|arg| OsStr::new(*arg)).collect()
}

#[test]
fn the_binary_is_a_static_aarch64_elf_under_the_size_limit() {
    let Some(binary) = arm_binary() else {
        return;
    };
    let data = std::fs::read(&binary).unwrap();
    assert!(data.len() < 4 * 1024 * 1024, "{} bytes", data.len());
    assert_eq!(&data[..4], b"\x7fELF");
    assert_eq!((data[4], data[5]), (2, 1), "64-bit little-endian");
    assert_eq!(u16::from_le_bytes([data[0x12], data[0x13]]), EM_AARCH64);

    let file = output(Command::new("file").arg(&binary));
    let said = stdout(&file);
    assert!(said.contains("ARM aarch64"), "file(1) says: {said}");
    assert!(said.contains("statically linked"), "file(1) says: {said}");

    // The xtask's own proof: no PT_INTERP, no DT_NEEDED.
    let check = output(
        Command::new("cargo")
            .args(["xtask", "check-static"])
            .arg(&binary)
            .current_dir(env!("CARGO_MANIFEST_DIR")),
    );
    assert!(check.status.success(), "{}", show(&check));

    let sums = std::fs::read_to_string(binary.with_file_name("SHA256SUMS")).unwrap();
    assert_eq!(sums, format!("{}  rescue\n", common::sha256_hex(&data)));

    let version = output(&mut arm(&binary, &os(&["--version"])));
    assert_exit(&version, 0, "rescue --version under qemu");
    assert_eq!(
        stdout(&version),
        format!("rescue {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Mode, owner, group and name of each entry of `ls -la`: link counts and times of `/tmp` and
/// friends move while other tests run.
fn entries(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter(|line| !line.starts_with("total "))
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert!(fields.len() >= 9, "not an ls -l line: {line}");
            let name = fields[8..].join(" ");
            format!("{} {} {} {name}", fields[0], fields[2], fields[3])
        })
        .collect()
}

#[test]
fn ls_la_root_names_what_the_x86_64_binary_names() {
    let Some(binary) = arm_binary() else {
        return;
    };
    let ours = output(&mut arm(&binary, &os(&["ls", "-la", "/"])));
    assert_exit(&ours, 0, "rescue ls -la / under qemu");
    let theirs = output(&mut host(&os(&["ls", "-la", "/"])));
    assert_exit(&theirs, 0, "rescue ls -la / (x86_64)");
    let (ours, theirs) = (entries(&stdout(&ours)), entries(&stdout(&theirs)));
    assert!(ours.iter().any(|e| e.ends_with(" etc")), "{ours:#?}");
    assert!(ours.iter().any(|e| e.ends_with(" ..")), "{ours:#?}");
    assert_eq!(ours, theirs);
}

#[test]
fn md5sum_matches_gnu_md5sum() {
    let Some(binary) = arm_binary() else {
        return;
    };
    if !common::gnu_or_skip("md5sum") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Three MiB of varied bytes runs the block loop many times; the odd sizes end mid-block.
    let big: Vec<u8> = (0u32..3 * 1024 * 1024 + 17)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let files: Vec<(&[u8], Vec<u8>)> = vec![
        (b"empty", Vec::new()),
        (b"hello", b"hello\n".to_vec()),
        (b"with space", vec![b'x'; 55]),
        (b"block-64", vec![0xa5; 64]),
        (b"caf\xe9", b"not UTF-8 name".to_vec()),
        (b"big", big),
    ];
    let mut names: Vec<&OsStr> = Vec::new();
    for (name, content) in &files {
        let name = OsStr::from_bytes(name);
        std::fs::write(dir.path().join(name), content).unwrap();
        names.push(name);
    }
    let ours =
        output(arm(&binary, &[&[OsStr::new("md5sum")], &names[..]].concat()).current_dir(&dir));
    assert_exit(&ours, 0, "rescue md5sum under qemu");
    let gnu = output(
        Command::new("md5sum")
            .args(&names)
            .current_dir(&dir)
            .env("LC_ALL", "C"),
    );
    assert_exit(&gnu, 0, "GNU md5sum");
    assert_eq!(stdout(&ours), stdout(&gnu));
    assert_eq!(stdout(&ours).lines().count(), files.len());

    // A missing file: both go on and exit 1.
    let args = os(&["md5sum", "hello", "absent", "big"]);
    let ours = output(arm(&binary, &args).current_dir(&dir));
    let gnu = output(Command::new("md5sum").args(&args[1..]).current_dir(&dir));
    assert_eq!(ours.status.code(), Some(1), "{}", show(&ours));
    assert_eq!(gnu.status.code(), Some(1), "{}", show(&gnu));
    assert_eq!(stdout(&ours), stdout(&gnu));
}

/// An arm64 root: a Multi-Arch: same library (`libc6:arm64.list`) under the `/lib` alias, a
/// program with a conffile and a symlink, and an `all` package.
fn arm64_root() -> DpkgRoot {
    let arm64 = |pkg: Pkg| Pkg {
        arch: "arm64".into(),
        ..pkg
    };
    let mut root = DpkgRoot::new();
    root.add(arm64(
        Pkg::new("libc6")
            .multi_arch_same()
            .dir("/lib")
            .dir("/lib/aarch64-linux-gnu")
            .file("/lib/ld-linux-aarch64.so.1", "loader")
            .file("/lib/aarch64-linux-gnu/libc.so.6", "libc")
            .file("/usr/share/doc/libc6/copyright", "GPL"),
    ))
    .add(arm64(
        Pkg::new("hello")
            .dir("/usr/share/doc/hello")
            .file("/usr/bin/hello", "\x7fELF arm64 hello")
            .file("/usr/share/man/man1/hello.1.gz", "man")
            .link("/usr/bin/hi", "hello")
            .conffile("/etc/hello.conf", "greeting=hi\n", ""),
    ))
    .add(Pkg {
        arch: "all".into(),
        ..Pkg::new("hello-data").file("/usr/share/hello/words", "one\ntwo\n")
    });
    root
}

#[test]
fn verify_an_arm64_dpkg_root() {
    let Some(binary) = arm_binary() else {
        return;
    };
    let root = arm64_root();
    assert!(root.info("libc6:arm64.list").is_file());
    let verify = |binary: Option<&Path>| {
        let args = [
            OsStr::new("verify"),
            OsStr::new("--root"),
            root.path().as_os_str(),
        ];
        match binary {
            Some(binary) => output(&mut arm(binary, &args)),
            None => output(&mut host(&args)),
        }
    };

    let clean = verify(Some(&binary));
    assert_exit(&clean, 0, "verify of the pristine arm64 root under qemu");

    std::fs::write(root.host("/usr/bin/hello"), "\x7fELF tampered").unwrap();
    std::fs::write(root.host("/lib/aarch64-linux-gnu/libc.so.6"), "LIBC").unwrap();
    let broken = verify(Some(&binary));
    assert_exit(&broken, 1, "verify of the damaged arm64 root under qemu");
    let said = common::said(&broken);
    assert!(said.contains("/usr/bin/hello"), "{said}");
    assert!(said.contains("/lib/aarch64-linux-gnu/libc.so.6"), "{said}");
    assert!(!said.contains("/usr/share/hello/words"), "{said}");
    // Word for word what the x86_64 build says about the same root, but for the summary's
    // counts: the x86_64 run reads the digests the arm64 run cached instead of hashing.
    let x86 = verify(None);
    assert_exit(&x86, 1, "verify of the damaged arm64 root (x86_64)");
    let report = |output: &Output| -> Vec<String> {
        stdout(output)
            .lines()
            .filter(|line| !line.contains(" hashed ("))
            .map(String::from)
            .collect()
    };
    assert_eq!(report(&broken), report(&x86));
    assert!(report(&x86).len() >= 5, "{}", show(&x86));
}

/// The C parts at work: restore unpacks `demo` (data.tar.xz: liblzma) and `demo-data`
/// (data.tar.zst: zstd) from the fixture's apt cache.
#[test]
fn restore_unpacks_xz_and_zstd_archives() {
    let Some(binary) = arm_binary() else {
        return;
    };
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let pristine = fixture.snapshot();
    for path in ["usr/bin/demo-tool", "usr/share/demo-data/words.txt"] {
        std::fs::remove_file(fixture.path(path)).unwrap();
    }
    let args = [
        OsStr::new("restore"),
        OsStr::new("--root"),
        fixture.root.as_os_str(),
        OsStr::new("--yes"),
    ];
    let restored = output(&mut arm(&binary, &args));
    assert_exit(&restored, 0, "rescue restore under qemu");
    pristine.assert_same(&fixture.snapshot(), "after the arm64 restore");
    assert_eq!(fixture.dpkg_verify(), "");
}

/// An empty directory as `/` with only the binary and qemu (static itself) in it: no loader,
/// no libc, no /etc, no /proc, as on the bad day.
#[test]
fn works_in_an_empty_chroot() {
    let Some(binary) = arm_binary() else {
        return;
    };
    if !common::root_or_skip("chroot needs root") {
        return;
    }
    let Some(qemu) = on_path(QEMU) else {
        return common::skip("qemu-aarch64-static is not on PATH");
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&binary, dir.path().join("rescue")).unwrap();
    std::fs::copy(qemu, dir.path().join("qemu")).unwrap();
    let run = |args: &[&str]| {
        output(
            Command::new("/usr/sbin/chroot")
                .arg(dir.path())
                .args(["/qemu", "/rescue"])
                .args(args)
                .env_clear(),
        )
    };
    let ok = |args: &[&str]| {
        let out = run(args);
        assert_exit(&out, 0, &format!("rescue {}", args.join(" ")));
        stdout(&out)
    };
    let listing = ok(&["ls", "-la", "/"]);
    assert!(
        listing.contains(" rescue\n") && listing.contains(" qemu\n"),
        "{listing}"
    );
    ok(&["mkdir", "-p", "/a/b"]);
    ok(&["touch", "-d", "2001-02-03 04:05:06", "/a/b/file"]);
    ok(&["chown", "1234:5678", "/a/b/file"]);
    ok(&["chmod", "4755", "/a/b/file"]);
    ok(&["cp", "-a", "/a", "/copy"]);
    let copied = ok(&["ls", "-ln", "/copy/b"]);
    assert!(
        copied.contains("-rwsr-xr-x 1 1234 5678 0 Feb  3  2001 file"),
        "{copied}"
    );
    std::fs::write(dir.path().join("data"), b"hello\n").unwrap();
    assert_eq!(
        ok(&["md5sum", "/data"]),
        "b1946ac92492d2347c6235b4d2611184  /data\n"
    );
    let ps = run(&["ps"]);
    assert_exit(&ps, 2, "rescue ps without /proc");
    assert!(
        common::stderr(&ps).contains("/proc: missing"),
        "{}",
        show(&ps)
    );
}

/// Each applet's clap definition is built at its first use: `--help` builds them all.
#[test]
fn every_applet_answers_help() {
    let Some(binary) = arm_binary() else {
        return;
    };
    let list = output(&mut arm(&binary, &os(&["--list"])));
    assert_exit(&list, 0, "rescue --list under qemu");
    let applets = stdout(&list);
    let x86 = stdout(&output(&mut host(&os(&["--list"]))));
    assert_eq!(
        applets, x86,
        "a stale arm64 binary? cargo xtask dist --target aarch64-unknown-linux-musl"
    );
    for applet in applets.lines() {
        let help = output(&mut arm(&binary, &os(&[applet, "--help"])));
        assert_exit(&help, 0, &format!("rescue {applet} --help under qemu"));
        assert!(stdout(&help).contains("Usage"), "{}", show(&help));
    }
}
