//! The tree walk of `chmod -R`, `chown -R` and `rm -rf` against trees that are hostile or
//! merely extreme:
//! - a subdirectory swapped back and forth with a symlink to an outside directory while the
//!   walk runs (nothing outside may change);
//! - a tree 10,000 levels deep, deeper than PATH_MAX and than the descriptor limit the walk is
//!   given (it must succeed, as GNU does).

mod common;

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const RACE_RUNS: usize = 100;
const DEPTH: usize = 10_000;
/// The soft descriptor limit the deep-tree commands run under: far below the depth, so a walk
/// that keeps one descriptor per level fails.
const FD_LIMIT: usize = 64;

fn rescue_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rescue")
}

/// (name, mode, uid, gid) of the outside directory and everything in it.
fn snapshot(dir: &Path) -> Vec<(String, u32, u32, u32)> {
    common::lstat_tree(dir)
        .into_iter()
        .map(|(rel, meta)| {
            let rel = rel.to_string_lossy().into_owned();
            (rel, meta.mode(), meta.uid(), meta.gid())
        })
        .collect()
}

/// `tree/` with a subdirectory `sub` (files and a nested directory) and `swap`, a symlink to
/// `outside/`, which holds marker files and a directory of more markers, all mode 0644, owner
/// 0:0.
fn build_race(base: &Path) -> (PathBuf, PathBuf) {
    let outside = base.join("outside");
    let tree = base.join("tree");
    std::fs::create_dir_all(outside.join("inner")).unwrap();
    for i in 0..40 {
        std::fs::write(outside.join(format!("marker{i}")), b"m").unwrap();
    }
    for i in 0..20 {
        std::fs::write(outside.join(format!("inner/marker{i}")), b"m").unwrap();
    }
    std::fs::create_dir_all(tree.join("sub/nested")).unwrap();
    for i in 0..20 {
        std::fs::write(tree.join(format!("sub/f{i}")), b"x").unwrap();
        std::fs::write(tree.join(format!("sub/nested/g{i}")), b"x").unwrap();
        std::fs::write(tree.join(format!("top{i}")), b"x").unwrap();
    }
    std::os::unix::fs::symlink(&outside, tree.join("swap")).unwrap();
    let mut stack = vec![outside.clone()];
    while let Some(at) = stack.pop() {
        let mode = if at.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&at, std::fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&at, Some(0), Some(0)).unwrap();
        if at.is_dir() {
            for entry in std::fs::read_dir(&at).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
    }
    (tree, outside)
}

/// Runs `rescue ARGS` `RACE_RUNS` times while another thread exchanges `tree/sub` and
/// `tree/swap` as fast as it can; returns the number of exchanges done.
fn race(tree: &Path, args: &[&str]) -> usize {
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicUsize::new(0));
    let swapper = {
        let (stop, swaps) = (Arc::clone(&stop), Arc::clone(&swaps));
        let sub = CString::new(tree.join("sub").into_os_string().into_encoded_bytes()).unwrap();
        let swap = CString::new(tree.join("swap").into_os_string().into_encoded_bytes()).unwrap();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: NUL-terminated paths. The raw call: musl's libc has no wrapper.
                let rc = unsafe {
                    libc::syscall(
                        libc::SYS_renameat2,
                        libc::AT_FDCWD,
                        sub.as_ptr(),
                        libc::AT_FDCWD,
                        swap.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(rc, 0, "renameat2: {}", std::io::Error::last_os_error());
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    for _ in 0..RACE_RUNS {
        // Errors are expected (an entry vanishes, a directory is refused as changed); the
        // outcome that matters is checked by the caller.
        Command::new(rescue_bin())
            .args(args)
            .arg(tree)
            .output()
            .expect("run rescue");
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().expect("swapper");
    swaps.load(Ordering::Relaxed)
}

/// Names of what differs between two snapshots.
fn changed(before: &[(String, u32, u32, u32)], now: &[(String, u32, u32, u32)]) -> Vec<String> {
    assert_eq!(before.len(), now.len());
    now.iter()
        .zip(before)
        .filter(|(now, then)| now != then)
        .map(|(now, _)| now.0.clone())
        .collect()
}

#[test]
fn chmod_recursive_never_follows_a_directory_swapped_for_a_symlink() {
    if !common::root_or_skip("the outside markers are owned by root") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (tree, outside) = build_race(tmp.path());
    let before = snapshot(&outside);
    assert_eq!(before.len(), 62, "outside dir, inner dir and 60 markers");
    let swaps = race(&tree, &["chmod", "-R", "700"]);
    assert!(swaps >= RACE_RUNS, "only {swaps} exchanges");
    let changed = changed(&before, &snapshot(&outside));
    assert!(
        changed.is_empty(),
        "chmod -R changed {} files outside the tree: {changed:?}",
        changed.len()
    );
    // The walk did run: a file that never moves was changed.
    let top = std::fs::metadata(tree.join("top0")).unwrap();
    assert_eq!(top.mode() & 0o7777, 0o700);
}

#[test]
fn chown_recursive_never_follows_a_directory_swapped_for_a_symlink() {
    if !common::root_or_skip("chown to other owners needs root") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (tree, outside) = build_race(tmp.path());
    let before = snapshot(&outside);
    let swaps = race(&tree, &["chown", "-R", "1234:1234"]);
    assert!(swaps >= RACE_RUNS, "only {swaps} exchanges");
    let changed = changed(&before, &snapshot(&outside));
    assert!(
        changed.is_empty(),
        "chown -R changed {} files outside the tree: {changed:?}",
        changed.len()
    );
    let top = std::fs::metadata(tree.join("top0")).unwrap();
    assert_eq!((top.uid(), top.gid()), (1234, 1234));
}

fn open_dir_at(dir: i32, name: &str) -> OwnedFd {
    let name = CString::new(name).unwrap();
    // SAFETY: NUL-terminated name; the descriptor is owned by the OwnedFd.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    assert!(
        fd >= 0,
        "open {name:?}: {}",
        std::io::Error::last_os_error()
    );
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `base/deep/d/d/.../d/bottom`: `DEPTH` directories named `d` below `deep`, made by
/// descriptor since their paths exceed PATH_MAX, and a file at the bottom.
fn build_deep(base: &Path) {
    std::fs::create_dir(base.join("deep")).unwrap();
    let mut fd = open_dir_at(libc::AT_FDCWD, base.join("deep").to_str().unwrap());
    for _ in 0..DEPTH {
        // SAFETY: the literal is NUL-terminated.
        let rc = unsafe { libc::mkdirat(fd.as_raw_fd(), c"d".as_ptr(), 0o755) };
        assert_eq!(rc, 0, "mkdirat: {}", std::io::Error::last_os_error());
        fd = open_dir_at(fd.as_raw_fd(), "d");
    }
    // SAFETY: as above.
    let file = unsafe {
        libc::openat(
            fd.as_raw_fd(),
            c"bottom".as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o644,
        )
    };
    assert!(
        file >= 0,
        "create bottom: {}",
        std::io::Error::last_os_error()
    );
    drop(unsafe { OwnedFd::from_raw_fd(file) });
}

/// (mode, uid, gid) of `deep`, each `d` below it and `bottom`, read by descriptor.
fn deep_metadata(base: &Path) -> Vec<(u32, u32, u32)> {
    let stat = |fd: i32, name: &std::ffi::CStr| {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: NUL-terminated name; `st` is ours.
        let rc = unsafe { libc::fstatat(fd, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        assert_eq!(rc, 0, "fstatat: {}", std::io::Error::last_os_error());
        (st.st_mode, st.st_uid, st.st_gid)
    };
    let base_fd = open_dir_at(libc::AT_FDCWD, base.to_str().unwrap());
    let mut out = vec![stat(base_fd.as_raw_fd(), c"deep")];
    let mut fd = open_dir_at(base_fd.as_raw_fd(), "deep");
    for _ in 0..DEPTH {
        out.push(stat(fd.as_raw_fd(), c"d"));
        fd = open_dir_at(fd.as_raw_fd(), "d");
    }
    out.push(stat(fd.as_raw_fd(), c"bottom"));
    out
}

/// Removes what a deep test leaves behind: `remove_dir_all` recurses once per level.
struct Cleanup(tempfile::TempDir);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let deep = self.0.path().join("deep");
        if deep.exists() {
            let _ = Command::new(rescue_bin())
                .args(["rm", "-rf"])
                .arg(&deep)
                .status();
        }
        if deep.exists() && common::have("rm") {
            let _ = Command::new("rm").arg("-rf").arg(&deep).status();
        }
    }
}

fn deep_tree() -> Cleanup {
    // In memory where there is a tmpfs: 10,000 mkdirs and rmdirs take half a minute on a
    // journaled disk, for each tree.
    let tmp = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    build_deep(tmp.path());
    Cleanup(tmp)
}

/// Runs PROGRAM ARGS deep in `dir` under the low descriptor limit.
fn run_limited(dir: &Path, program: &[&str], args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {FD_LIMIT} && exec \"$@\""))
        .arg("sh")
        .args(program)
        .args(args)
        .arg("deep")
        .current_dir(dir)
        .output()
        .expect("run sh")
}

fn assert_succeeds(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}",
        out.status,
        common::stderr(out)
            .lines()
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(common::stderr(out), "", "{what}");
}

#[test]
fn chmod_recursive_handles_a_tree_deeper_than_path_max_like_gnu() {
    let ours = deep_tree();
    let out = run_limited(
        ours.0.path(),
        &[rescue_bin(), "chmod"],
        &["-R", "u=rwx,go="],
    );
    assert_succeeds(&out, "rescue chmod -R");
    let modes = deep_metadata(ours.0.path());
    assert_eq!(modes.len(), DEPTH + 2);
    assert!(modes[..=DEPTH]
        .iter()
        .all(|&(mode, _, _)| mode == libc::S_IFDIR | 0o700));
    assert_eq!(modes[DEPTH + 1].0, libc::S_IFREG | 0o700);

    if !common::have_or_skip("chmod") {
        return;
    }
    let gnu = deep_tree();
    let out = run_limited(gnu.0.path(), &["chmod"], &["-R", "u=rwx,go="]);
    assert_succeeds(&out, "GNU chmod -R");
    assert_eq!(deep_metadata(gnu.0.path()), modes);
}

#[test]
fn chown_recursive_handles_a_tree_deeper_than_path_max_like_gnu() {
    if !common::root_or_skip("chown to other owners needs root") {
        return;
    }
    let ours = deep_tree();
    let out = run_limited(
        ours.0.path(),
        &[rescue_bin(), "chown"],
        &["-R", "1234:4321"],
    );
    assert_succeeds(&out, "rescue chown -R");
    let owners = deep_metadata(ours.0.path());
    assert!(owners
        .iter()
        .all(|&(_, uid, gid)| (uid, gid) == (1234, 4321)));

    if !common::have_or_skip("chown") {
        return;
    }
    let gnu = deep_tree();
    let out = run_limited(gnu.0.path(), &["chown"], &["-R", "1234:4321"]);
    assert_succeeds(&out, "GNU chown -R");
    assert_eq!(deep_metadata(gnu.0.path()), owners);
}

#[test]
fn rm_recursive_removes_a_tree_deeper_than_path_max_like_gnu() {
    let ours = deep_tree();
    let out = run_limited(ours.0.path(), &[rescue_bin(), "rm"], &["-rf"]);
    assert_succeeds(&out, "rescue rm -rf");
    assert!(std::fs::symlink_metadata(ours.0.path().join("deep")).is_err());

    if !common::have_or_skip("rm") {
        return;
    }
    let gnu = deep_tree();
    let out = run_limited(gnu.0.path(), &["rm"], &["-rf"]);
    assert_succeeds(&out, "GNU rm -rf");
    assert!(std::fs::symlink_metadata(gnu.0.path().join("deep")).is_err());
}
