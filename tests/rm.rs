//! `rescue rm`: the refusals that protect a system (a symlink with a trailing slash, `/`, `.`
//! and `..`), a tree walk that never leaves the tree through a symlink, and GNU's messages and
//! exit codes for the ordinary cases.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

fn rm_in(dir: &Path, args: &[&str]) -> Output {
    common::rescue()
        .current_dir(dir)
        .arg("rm")
        .args(args)
        .output()
        .expect("run rescue rm")
}

#[test]
fn symlink_to_directory_with_trailing_slash_is_refused_and_nothing_is_removed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::create_dir_all(d.join("target/sub")).expect("mkdir");
    fs::write(d.join("target/precious"), b"keep").expect("write");
    fs::write(d.join("target/sub/also"), b"keep").expect("write");
    std::os::unix::fs::symlink("target", d.join("link")).expect("symlink");
    for args in [
        &["-r", "link/"][..],
        &["-rf", "link/"],
        &["-rf", "link//"],
        &["link/"],
    ] {
        let out = rm_in(d, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let shown = args.last().expect("operand");
        let expected = format!(
            "rescue rm: refusing to remove '{shown}': it is a symlink to a directory; the trailing \
             slash would delete the target's contents. To remove the link itself: rm link\n"
        );
        assert_eq!(common::stderr(&out), expected);
        assert_eq!(
            fs::read(d.join("target/precious")).expect("untouched"),
            b"keep"
        );
        assert_eq!(
            fs::read(d.join("target/sub/also")).expect("untouched"),
            b"keep"
        );
        assert!(fs::symlink_metadata(d.join("link"))
            .expect("link")
            .is_symlink());
    }
    // What the message suggests works and removes only the link.
    let out = rm_in(d, &["link"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(fs::symlink_metadata(d.join("link")).is_err());
    assert!(d.join("target/precious").is_file());
}

#[test]
fn root_dot_and_dotdot_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::create_dir(d.join("sub")).expect("mkdir");
    fs::write(d.join("sub/file"), b"x").expect("write");

    for args in [
        &["-rf", "/"][..],
        &["-rf", "--no-preserve-root", "/"],
        &["-r", "///"],
    ] {
        let out = rm_in(d, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = common::stderr(&out);
        assert!(
            err.contains("it is dangerous to operate recursively on '/"),
            "{err}"
        );
    }
    let out = rm_in(d, &["-rf", "--no-preserve-root", "/"]);
    assert!(common::stderr(&out).contains("--no-preserve-root"));

    let out = rm_in(&d.join("sub"), &["-rf", "."]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        common::stderr(&out),
        "rescue rm: refusing to remove '.' or '..' directory: skipping '.'\n"
    );
    let out = rm_in(d, &["-rf", "sub/.."]);
    assert_eq!(
        common::stderr(&out),
        "rescue rm: refusing to remove '.' or '..' directory: skipping 'sub/..'\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(d.join("sub/file").is_file());

    if common::have_or_skip("rm") {
        let gnu = std::process::Command::new("rm")
            .current_dir(d.join("sub"))
            .args(["-rf", "."])
            .output()
            .expect("GNU rm");
        assert_eq!(gnu.status.code(), Some(1));
        assert!(d.join("sub/file").is_file());
    }
}

#[test]
fn recursive_removal_removes_a_symlink_but_never_what_it_points_to() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::create_dir_all(d.join("outside/deeper")).expect("mkdir");
    fs::write(d.join("outside/deeper/file"), b"mine").expect("write");
    fs::create_dir_all(d.join("tree/a/b")).expect("mkdir");
    fs::write(d.join("tree/a/b/f"), b"x").expect("write");
    std::os::unix::fs::symlink(d.join("outside"), d.join("tree/a/abs")).expect("symlink");
    std::os::unix::fs::symlink("../../outside", d.join("tree/a/rel")).expect("symlink");
    std::os::unix::fs::symlink("../outside/deeper/file", d.join("tree/filelink")).expect("symlink");
    let out = rm_in(d, &["-rfv", "tree"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(!d.join("tree").exists());
    assert_eq!(
        fs::read(d.join("outside/deeper/file")).expect("kept"),
        b"mine"
    );
    let stdout = common::stdout(&out);
    assert!(stdout.contains("removed 'tree/a/abs'\n"), "{stdout}");
    assert!(stdout.contains("removed directory 'tree'\n"), "{stdout}");
}

#[test]
fn missing_files_and_directories_without_r_as_gnu() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let out = rm_in(d, &["-f", "missing"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());

    let out = rm_in(d, &["missing"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        common::stderr(&out),
        "rescue rm: cannot remove 'missing': No such file or directory\n"
    );
    if common::have_or_skip("rm") {
        let gnu = std::process::Command::new("rm")
            .current_dir(d)
            .arg("missing")
            .output()
            .expect("GNU rm");
        assert_eq!(gnu.status.code(), out.status.code());
        assert_eq!(
            common::stderr(&gnu).trim_start_matches("rm: "),
            common::stderr(&out).trim_start_matches("rescue rm: ")
        );
    }

    fs::create_dir(d.join("dir")).expect("mkdir");
    let out = rm_in(d, &["dir"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        common::stderr(&out),
        "rescue rm: cannot remove 'dir': Is a directory\n"
    );
    let out = rm_in(d, &["-d", "dir"]);
    assert!(out.status.success());
    assert!(!d.join("dir").exists());

    let out = rm_in(d, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).contains("missing operand"));
    assert_eq!(rm_in(d, &["-f"]).status.code(), Some(0));
}

#[test]
fn interactive_no_keeps_the_file_and_exits_zero_like_gnu() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::write(d.join("f"), b"x").expect("write");
    let out = common::rescue()
        .current_dir(d)
        .args(["rm", "-i", "f"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(common::stderr(&out), "rescue rm: remove regular file 'f'? ");
    assert!(d.join("f").exists());
}

/// GNU's tests/rm/no-give-up.sh: `rm -rf d` by d's owner, in a directory the owner may search
/// but not read or write. The file inside goes; only `d` itself stays, with one message.
#[test]
fn recursive_removal_removes_what_it_can_before_failing() {
    use std::os::unix::fs::{chown, PermissionsExt};
    use std::os::unix::process::CommandExt;
    if !common::root_or_skip("runs rm as another user") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let binary = d.join("rescue");
    fs::copy(env!("CARGO_BIN_EXE_rescue"), &binary).expect("copy the binary");
    fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::create_dir(d.join("d")).expect("mkdir");
    fs::write(d.join("d/f"), b"x").expect("write");
    let nobody = 65534;
    chown(d.join("d"), Some(nobody), Some(nobody)).expect("chown");
    chown(d.join("d/f"), Some(nobody), Some(nobody)).expect("chown");
    fs::set_permissions(d, fs::Permissions::from_mode(0o711)).expect("chmod");
    // The copy's write descriptor may live on for a moment in a child another test thread
    // forked meanwhile: exec then fails with ETXTBSY until that child has exec'd.
    let run = || {
        std::process::Command::new(&binary)
            .current_dir(d)
            .args(["rm", "-rf", "d"])
            .uid(nobody)
            .gid(nobody)
            .output()
    };
    let mut result = run();
    for _ in 0..50 {
        match &result {
            Err(err) if err.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                result = run();
            }
            _ => break,
        }
    }
    let out = result.expect("run rescue rm as nobody");
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    assert_eq!(
        common::stderr(&out),
        "rescue rm: cannot remove 'd': Permission denied\n"
    );
    assert!(d.join("d").is_dir());
    assert!(!d.join("d/f").exists(), "the file inside must be removed");
}

/// `rm -rf '' x`: the empty operand is an error for itself alone, and never names `/`.
#[test]
fn an_empty_operand_is_an_error_for_itself_only() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::create_dir(d.join("x")).expect("mkdir");
    fs::write(d.join("keep"), b"keep").expect("write");
    let out = rm_in(d, &["-r", "", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        common::stderr(&out),
        "rescue rm: cannot remove '': No such file or directory\n"
    );
    assert!(!d.join("x").exists());
    assert!(d.join("keep").is_file());
    let out = rm_in(d, &["-f", ""]);
    assert!(out.status.success(), "{}", common::stderr(&out));
}
