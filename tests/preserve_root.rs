//! `chmod -R` and `chown -R` with `--preserve-root` refuse `/`, and any operand that resolves to
//! it (`/.`, a symlink to `/`), before changing anything, as GNU does.
//!
//! The commands are chosen so that even a walk that failed to refuse changes nothing: chown
//! with `--from` an owner no file has, chmod with `a+` (no bits). As root they also run as
//! nobody, who can change next to nothing. A walk that does not refuse is killed after a while.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

/// Runs `rescue ARGS` in `dir`; returns its exit code (None when it had to be killed) and its
/// standard error.
fn run_bounded(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut command = common::rescue();
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if common::is_root() {
        command.uid(NOBODY).gid(NOBODY);
    }
    let mut child = command.spawn().expect("run rescue");
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().expect("kill");
            child.wait().expect("wait");
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = Vec::new();
    use std::io::Read;
    let pipe = child.stderr.take().expect("piped");
    // A walk that went on says a lot: the start is enough.
    pipe.take(2000)
        .read_to_end(&mut stderr)
        .expect("read stderr");
    (code, String::from_utf8_lossy(&stderr).into_owned())
}

fn refused(applet: &str, shown: &str) -> String {
    let same = if shown == "/" { "" } else { " (same as '/')" };
    format!(
        "{applet}: it is dangerous to operate recursively on '{shown}'{same}\n\
         {applet}: use --no-preserve-root to override this failsafe\n"
    )
}

fn temp_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink("/", dir.path().join("to-root")).expect("symlink");
    // Reachable by nobody when the test runs as root.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    dir
}

#[test]
fn chmod_refuses_root() {
    let dir = temp_dir();
    for operand in ["/", "/.", "to-root", "to-root/"] {
        let args = ["chmod", "-R", "--preserve-root", "a+", operand];
        let (code, stderr) = run_bounded(dir.path(), &args);
        assert_eq!(code, Some(1), "chmod -R {operand}: {stderr}");
        assert_eq!(
            stderr,
            refused("rescue chmod", operand),
            "chmod -R {operand}"
        );
    }
}

#[test]
fn chown_refuses_root() {
    let dir = temp_dir();
    let from = "--from=4294967294:4294967294";
    for (args, shown) in [
        (vec!["-R", "--preserve-root", from, "0", "/"], "/"),
        (vec!["-R", "--preserve-root", from, "0", "/."], "/."),
        (
            vec!["-RH", "--preserve-root", from, "0", "to-root"],
            "to-root",
        ),
        (
            vec!["-R", "--preserve-root", from, "0", "to-root/"],
            "to-root/",
        ),
        (vec!["-RL", "--preserve-root", from, "0", "."], "./to-root"),
    ] {
        let mut all = vec!["chown"];
        all.extend(&args);
        let (code, stderr) = run_bounded(dir.path(), &all);
        assert_eq!(code, Some(1), "chown {args:?}: {stderr}");
        assert_eq!(stderr, refused("rescue chown", shown), "chown {args:?}");
    }
}

/// Without --preserve-root (GNU's default for chmod and chown) nothing is refused: shown on a
/// symlink to `/` that `-R` does not follow.
#[test]
fn chown_without_preserve_root_does_not_refuse() {
    let dir = temp_dir();
    let from = "--from=4294967294:4294967294";
    let args = ["chown", "-R", "--preserve-root", "--no-preserve-root", from];
    let (code, stderr) = run_bounded(dir.path(), &[&args[..], &["0", "to-root"]].concat());
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
}
