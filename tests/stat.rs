//! `rescue stat` against GNU `stat` on the same files, both under `LC_ALL=C TZ=UTC`.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

fn run_both(cwd: &Path, args: &[&OsStr]) -> (Output, Output) {
    common::gnu_and_ours("stat", cwd, args, &["QUOTING_STYLE"])
}

fn assert_same(cwd: &Path, args: &[&str]) {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    assert_same_os(cwd, &args);
}

fn assert_same_os(cwd: &Path, args: &[&OsStr]) {
    let (gnu, ours) = run_both(cwd, args);
    assert_eq!(
        common::stdout(&ours),
        common::stdout(&gnu),
        "stat {args:?} differs from GNU (left: rescue, right: GNU)"
    );
    assert_eq!(
        gnu.status.code(),
        ours.status.code(),
        "exit status of stat {args:?}"
    );
}

fn build(dir: &Path) {
    std::fs::write(dir.join("empty"), b"").unwrap();
    std::fs::write(dir.join("data"), vec![7u8; 12345]).unwrap();
    std::fs::write(dir.join("setuid"), b"x").unwrap();
    std::fs::set_permissions(dir.join("setuid"), PermissionsExt::from_mode(0o4755)).unwrap();
    std::fs::create_dir(dir.join("sticky")).unwrap();
    std::fs::set_permissions(dir.join("sticky"), PermissionsExt::from_mode(0o1777)).unwrap();
    std::os::unix::fs::symlink("data", dir.join("link")).unwrap();
    std::os::unix::fs::symlink("it's gone", dir.join("dangling")).unwrap();
    std::fs::write(dir.join(OsStr::from_bytes(b"odd\xff\nname")), b"").unwrap();
    std::fs::write(dir.join("it's"), b"").unwrap();
    nix::unistd::mkfifo(
        &dir.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    if common::root_or_skip("other owners need root") {
        std::os::unix::fs::chown(dir.join("empty"), Some(4242), Some(4242)).unwrap();
    }
}

#[test]
fn formats_match_gnu() {
    if !common::gnu_or_skip("stat") {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    build(temp.path());
    let files = [
        "empty",
        "data",
        "setuid",
        "sticky",
        "link",
        "dangling",
        "fifo",
        "it's",
        ".",
        "/dev/null",
    ];
    let formats = [
        "%n %s %b %B %o %F",
        "%a %A %f %h %i %u %U %g %G",
        "%N",
        "%d %D %Hd %Ld %t %T %Hr %Lr",
        "%x|%y|%z|%X|%Y|%Z|%.3Y|%.9Z",
        "[%-10s] [%10s] [%010s] [%04a] [%#o] [%#x] [%10.4A] %%",
    ];
    for format in formats {
        for file in files {
            assert_same(temp.path(), &["-c", format, file]);
        }
    }
    for file in files {
        assert_same(temp.path(), &[file]);
        assert_same(temp.path(), &["-t", file]);
        assert_same(temp.path(), &["-L", "-c", "%n %F %s", file]);
    }
    assert_same(
        temp.path(),
        &["--printf", "%n\\t%s\\n\\101\\x42", "data", "empty"],
    );
    assert_same_os(
        temp.path(),
        &[
            OsStr::new("-c"),
            OsStr::new("%n|%N"),
            OsStr::from_bytes(b"odd\xff\nname"),
        ],
    );
}

/// `stat -f` with the default, terse and custom formats; the counts of free blocks may
/// move between the two runs, so those formats leave them out.
#[test]
fn file_systems_match_gnu() {
    if !common::gnu_or_skip("stat") {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    for file in [".", "/", "/proc", "/dev"] {
        assert_same(
            temp.path(),
            &["-f", "-c", "%n %i %l %t %T %s %S %b %c", file],
        );
        assert_same(temp.path(), &["-f", "--printf", "[%-10T] %#x\\n", file]);
    }
    assert_same(temp.path(), &["-f", "no-such-file"]);
    assert_same(temp.path(), &["-f", "-"]);
    assert_same(temp.path(), &["-c", "%r %R", "/dev/null", "."]);
    assert_same(temp.path(), &["--format", "%", "."]);
}

/// `stat -` is standard input, whatever it is.
#[test]
fn standard_input_is_stated() {
    let data = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(data.path(), b"12345").unwrap();
    let out = common::rescue()
        .args(["stat", "-c", "%n %s %F", "-"])
        .stdin(std::fs::File::open(data.path()).unwrap())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "- 5 regular file\n");
}

#[test]
fn a_missing_file_is_reported_and_exits_1() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join("here"), b"").unwrap();
    let out = common::run_in(temp.path(), &["stat", "-c", "%n", "missing", "here"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(common::stdout(&out), "here\n");
    assert_eq!(
        common::stderr(&out),
        "rescue stat: cannot statx 'missing': No such file or directory\n"
    );
}

#[test]
fn unknown_owners_say_unknown() {
    if !common::root_or_skip("chown needs root") {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("f");
    std::fs::write(&file, b"").unwrap();
    std::os::unix::fs::chown(&file, Some(4242), Some(4243)).unwrap();
    let out = common::rescue()
        .args(["stat", "-c", "%u:%U %g:%G"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(common::stdout(&out), "4242:UNKNOWN 4243:UNKNOWN\n");
}
