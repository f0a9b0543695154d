//! `rescue readlink` against GNU `readlink` on the same tree.

mod common;

use std::path::Path;

fn assert_same(cwd: &Path, args: &[&str]) {
    let (gnu, ours) = common::gnu_and_ours("readlink", cwd, args, &[]);
    assert_eq!(
        common::stdout(&ours),
        common::stdout(&gnu),
        "readlink {args:?} (left: rescue, right: GNU)"
    );
    assert_eq!(
        ours.status.code(),
        gnu.status.code(),
        "exit status of readlink {args:?}"
    );
}

#[test]
fn resolution_matches_gnu() {
    if !common::gnu_or_skip("readlink") {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    std::fs::create_dir_all(dir.join("d/sub")).unwrap();
    std::fs::write(dir.join("file"), b"").unwrap();
    std::os::unix::fs::symlink("d", dir.join("to-dir")).unwrap();
    std::os::unix::fs::symlink("to-dir/sub/../../file", dir.join("chain")).unwrap();
    std::os::unix::fs::symlink("nowhere/else", dir.join("dangling")).unwrap();
    std::os::unix::fs::symlink(dir.join("d"), dir.join("absolute")).unwrap();
    std::os::unix::fs::symlink("loop-b", dir.join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", dir.join("loop-b")).unwrap();
    let names = [
        "file",
        "to-dir",
        "chain",
        "dangling",
        "absolute",
        "loop-a",
        "missing",
        "file/",
        "to-dir/",
        "d/sub/../..",
        "missing/x",
        "missing/x/../y",
        "file/x",
        "chain/",
        "absolute/sub/x",
        ".",
        "",
        "dangling/..",
    ];
    for name in names {
        for mode in [None, Some("-f"), Some("-e"), Some("-m")] {
            let mut args: Vec<&str> = mode.into_iter().collect();
            args.push(name);
            assert_same(dir, &args);
        }
    }
    assert_same(dir, &["-z", "-f", "chain", "to-dir"]);
    assert_same(dir, &["-n", "chain"]);
}
