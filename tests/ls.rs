//! `rescue ls` against GNU `ls` on the same tree, byte for byte, both under `LC_ALL=C TZ=UTC`.

mod common;

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn touch(path: &Path, when: &str) {
    let status = Command::new("touch")
        .arg("-h")
        .arg("-d")
        .arg(when)
        .arg(path)
        .status()
        .expect("run touch");
    assert!(status.success(), "touch -d {when} {}", path.display());
}

/// A tree with one of everything `ls -l` formats differently.
fn build_tree(root: &Path) {
    let dir = root.join("tree");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("empty"), b"").unwrap();
    std::fs::write(dir.join("small"), b"hello\n").unwrap();
    std::fs::write(dir.join("medium"), vec![b'x'; 5000]).unwrap();
    std::fs::write(dir.join("large"), vec![b'y'; 3 * 1024 * 1024 + 17]).unwrap();
    std::fs::write(dir.join(".hidden"), b"h").unwrap();
    let sparse = std::fs::File::create(dir.join("sparse")).unwrap();
    sparse.set_len(10 * 1024 * 1024 * 1024).unwrap();
    drop(sparse);
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/inner"), b"inner\n").unwrap();
    std::fs::create_dir(dir.join("sub/deeper")).unwrap();
    std::fs::write(dir.join("sub/deeper/leaf"), b"leaf").unwrap();
    std::os::unix::fs::symlink("small", dir.join("link-to-file")).unwrap();
    std::os::unix::fs::symlink("sub", dir.join("link-to-dir")).unwrap();
    std::os::unix::fs::symlink("nowhere", dir.join("dangling")).unwrap();
    std::fs::hard_link(dir.join("small"), dir.join("hardlink")).unwrap();
    std::fs::write(dir.join("setuid"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(dir.join("setuid"), PermissionsExt::from_mode(0o4755)).unwrap();
    std::fs::write(dir.join("setgid"), b"").unwrap();
    std::fs::set_permissions(dir.join("setgid"), PermissionsExt::from_mode(0o2644)).unwrap();
    std::fs::write(dir.join("script"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(dir.join("script"), PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::create_dir(dir.join("sticky")).unwrap();
    std::fs::set_permissions(dir.join("sticky"), PermissionsExt::from_mode(0o1777)).unwrap();
    nix::unistd::mkfifo(
        &dir.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    std::fs::write(dir.join(OsStr::from_bytes(b"bad\xffname")), b"").unwrap();
    std::fs::write(dir.join(OsStr::from_bytes(b"new\nline")), b"").unwrap();
    if common::root_or_skip("device nodes and other owners need root") {
        use nix::sys::stat::{makedev, mknod, Mode, SFlag};
        let mode = Mode::from_bits_truncate(0o660);
        mknod(&dir.join("chardev"), SFlag::S_IFCHR, mode, makedev(1, 3)).unwrap();
        mknod(
            &dir.join("blockdev"),
            SFlag::S_IFBLK,
            mode,
            makedev(259, 12),
        )
        .unwrap();
        std::fs::write(dir.join("orphan-owner"), b"").unwrap();
        std::os::unix::fs::chown(dir.join("orphan-owner"), Some(4242), Some(4242)).unwrap();
    }
    touch(&dir.join("empty"), "2001-02-03 04:05:06");
    touch(&dir.join("medium"), "2 days ago");
    touch(&dir.join("large"), "2019-12-31 23:59:59");
    touch(&dir.join("small"), "3 hours ago");
    touch(&dir.join("script"), "1 year");
    touch(&dir.join("dangling"), "2010-06-01 12:00");
    touch(&dir.join("sub/inner"), "2020-01-01");
}

fn run_both(cwd: &Path, args: &[&str]) -> (Output, Output) {
    common::gnu_and_ours("ls", cwd, args, &["LS_COLORS", "COLUMNS"])
}

/// A line diff good enough to see which column went wrong.
fn diff(expected: &[u8], actual: &[u8]) -> String {
    let expected: Vec<_> = expected.split(|&b| b == b'\n').collect();
    let actual: Vec<_> = actual.split(|&b| b == b'\n').collect();
    let mut out = String::new();
    for index in 0..expected.len().max(actual.len()) {
        let (e, a) = (expected.get(index), actual.get(index));
        if e != a {
            let show = |line: Option<&&[u8]>| {
                line.map_or("<none>".to_string(), |l| {
                    format!("{:?}", String::from_utf8_lossy(l))
                })
            };
            out.push_str(&format!(
                "line {}:\n  gnu:    {}\n  rescue: {}\n",
                index + 1,
                show(e),
                show(a)
            ));
        }
    }
    out
}

fn assert_same(cwd: &Path, args: &[&str]) {
    let (gnu, ours) = run_both(cwd, args);
    assert!(
        gnu.stdout == ours.stdout,
        "ls {args:?} differs from GNU:\n{}",
        diff(&gnu.stdout, &ours.stdout)
    );
    assert_eq!(
        gnu.status.code(),
        ours.status.code(),
        "exit status of ls {args:?}; rescue said {}",
        common::stderr(&ours)
    );
}

#[test]
fn matches_gnu_on_every_kind_of_file() {
    if !common::gnu_or_skip("ls") {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    build_tree(temp.path());
    let flag_sets: &[&[&str]] = &[
        &["tree"],
        &["-l", "tree"],
        &["-la", "tree"],
        &["-lA", "tree"],
        &["-ln", "tree"],
        &["-lh", "tree"],
        &["-li", "tree"],
        &["-lR", "tree"],
        &["-lrt", "tree"],
        &["-lu", "tree"],
        &["-ltu", "tree"],
        &["-lc", "tree"],
        &["-ltc", "tree"],
        &["-u", "tree"],
        &["-1c", "tree"],
        &["-s", "tree"],
        &["-ls", "tree"],
        &["-sh", "tree"],
        &["-1si", "tree"],
        &["-lsR", "tree"],
        &["-lS", "tree"],
        &["-lSr", "tree"],
        &["-lU", "tree/sub/deeper"],
        &["-1", "tree"],
        &["-F", "tree"],
        &["-lF", "tree"],
        &["-p", "tree"],
        &["-i", "tree"],
        &["-d", "tree"],
        &["-ld", "tree", "tree/sub", "tree/link-to-dir"],
        &["-R", "tree"],
        &["-aR", "tree/sub"],
        &["-la", "--color=never", "tree"],
        &["-la", "--color=always", "tree"],
        &["--color=always", "-F", "tree"],
        &["-l", "--full-time", "tree"],
        &["-go", "tree"],
        &["-C", "tree"],
        &["-C", "-w", "40", "tree"],
        &["-Ci", "-w", "60", "tree"],
        &["-CF", "--color=always", "-w", "70", "tree"],
        &["-l", "tree/small", "tree/sub"],
        &["tree/small", "tree/sub", "tree/sticky"],
        &["tree/link-to-dir"],
        &["-l", "tree/link-to-dir", "tree/link-to-dir/"],
        &["-lt", "tree/large", "tree/empty", "tree/medium"],
        &["-lL", "tree"],
        &["-LF", "tree"],
        &["-x", "-w", "50", "tree"],
        &["-m", "tree"],
        &["-lG", "--time-style=long-iso", "tree"],
        &["-l", "--time-style=+%Y%m%d", "tree"],
        &["-sk", "tree"],
        &["-l", "--block-size=K", "tree"],
        &["-ls", "--si", "tree"],
        &["-Q", "tree"],
        &["-b", "tree"],
        &["--quoting-style=shell-escape", "-C", "tree"],
        &["--quoting-style=c", "-l", "tree"],
        &["--indicator-style=file-type", "tree"],
        &["--classify=never", "tree"],
        &["--sort=width", "tree"],
        &["-X", "-r", "tree"],
        &["-v", "-a", "tree"],
        &["-lu", "--time=ctime", "-t", "tree"],
        &["--group-directories-first", "-l", "tree"],
        &["--zero", "tree"],
        &["-l", "--dired", "-R", "tree/sub"],
        &["-I", "s*", "--hide=l*", "tree"],
        &["-f", "-l", "tree/sub"],
    ];
    for args in flag_sets {
        assert_same(temp.path(), args);
    }
    // The defaults on ".": no operand at all.
    assert_same(&temp.path().join("tree"), &["-l"]);
    assert_same(&temp.path().join("tree"), &["-R"]);
}

#[test]
fn a_missing_operand_is_serious_trouble() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join("here"), b"").unwrap();
    let missing = temp.path().join("not-there");
    let out = common::rescue()
        .arg("ls")
        .arg(&missing)
        .arg(temp.path().join("here"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        common::stderr(&out),
        format!(
            "rescue ls: cannot access '{}': No such file or directory\n",
            missing.display()
        )
    );
    assert!(common::stdout(&out).ends_with("here\n"));
    if common::gnu_or_skip("ls") {
        assert_same(temp.path(), &["not-there", "here"]);
        assert_same(temp.path(), &["-l", "not-there", "."]);
    }
}

#[test]
fn owners_without_a_passwd_entry_print_as_numbers() {
    if !common::root_or_skip("chown needs root") {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("orphan");
    std::fs::write(&file, b"x").unwrap();
    std::os::unix::fs::chown(&file, Some(4242), Some(4243)).unwrap();
    let out = common::rescue()
        .arg("ls")
        .arg("-l")
        .arg(&file)
        .output()
        .unwrap();
    let text = common::stdout(&out);
    assert!(text.contains(" 4242 4243 "), "{text}");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let temp = tempfile::tempdir().unwrap();
    for index in 0..3000 {
        std::fs::write(
            temp.path()
                .join(format!("file-with-a-long-name-{index:05}")),
            b"",
        )
        .unwrap();
    }
    let mut child = common::rescue()
        .arg("ls")
        .arg("-l")
        .arg(temp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(first.starts_with(b"total "));
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.success() || status.signal() == Some(libc::SIGPIPE),
        "{status:?} {stderr}"
    );
}

#[test]
fn non_utf8_names_are_printed_raw_when_piped() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join(OsStr::from_bytes(b"a\xffb")), b"").unwrap();
    let out = common::rescue()
        .arg("ls")
        .arg(temp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"a\xffb\n");
    let hidden = common::rescue()
        .args(["ls", "-q"])
        .arg(temp.path())
        .output()
        .unwrap();
    assert_eq!(hidden.stdout, b"a?b\n");
}

/// `ls -RL` through a symlink back to an ancestor must say so and stop, as GNU does (exit 2),
/// not descend until the path is too long.
#[test]
fn a_symlink_loop_under_recursive_dereference_is_listed_once() {
    let temp = tempfile::tempdir().unwrap();
    let top = temp.path().join("loop");
    std::fs::create_dir(&top).unwrap();
    std::os::unix::fs::symlink("../loop", top.join("sub")).unwrap();
    let out = common::run_in(temp.path(), &["ls", "-RL", "loop"]);
    assert_eq!(
        common::stdout(&out),
        "loop:\nsub\n",
        "{}",
        common::show(&out)
    );
    assert_eq!(
        common::stderr(&out),
        "rescue ls: loop/sub: not listing already-listed directory\n"
    );
    assert_eq!(out.status.code(), Some(2));
}
