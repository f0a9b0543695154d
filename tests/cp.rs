//! `rescue cp` against GNU `cp` on one tree holding everything a root file system has: hard-link
//! groups, setuid files, setgid and sticky directories, FIFOs and devices, a sparse file, a
//! non-UTF-8 name, owners without a passwd entry, xattrs and file capabilities, and nanosecond
//! mtimes. Both copies are compared attribute by attribute.

mod common;

use common::Unsupported;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CString, OsStr};
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

const SPARSE_SIZE: u64 = 1 << 30;
const SPARSE_DATA_AT: u64 = 500_000_000;

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Sets mtime and atime with nanoseconds, not following a symlink.
fn set_mtime(path: &Path, sec: i64, nsec: i64) {
    let c = CString::new(path.as_os_str().as_bytes()).expect("path");
    let t = libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    };
    let times = [t, t];
    // SAFETY: valid path and two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(rc, 0, "utimensat {}", path.display());
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    let c = CString::new(path.as_os_str().as_bytes()).expect("path");
    let n = CString::new(name).expect("name");
    // SAFETY: valid strings and one slice.
    unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        ) == 0
    }
}

fn xattrs(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let c = CString::new(path.as_os_str().as_bytes()).expect("path");
    let mut list = vec![0u8; 65536];
    // SAFETY: buffer and its length.
    let n = unsafe { libc::llistxattr(c.as_ptr(), list.as_mut_ptr().cast(), list.len()) };
    let mut out = BTreeMap::new();
    if n <= 0 {
        return out;
    }
    list.truncate(n as usize);
    for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).expect("name");
        let mut value = vec![0u8; 65536];
        // SAFETY: as above.
        let len = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if len >= 0 {
            value.truncate(len as usize);
            out.insert(name.to_vec(), value);
        }
    }
    out
}

struct Fixture {
    xattr: bool,
    capability: bool,
}

/// Builds the source tree under `src`.
fn build_tree(src: &Path) -> Fixture {
    fs::create_dir_all(src.join("sub/deep")).expect("mkdir");
    fs::write(src.join("file"), b"hello\n").expect("write");
    fs::write(src.join("sub/nested"), b"nested\n").expect("write");
    // Hard links: two names in one directory, three names across directories.
    fs::write(src.join("pair1"), b"pair\n").expect("write");
    fs::hard_link(src.join("pair1"), src.join("pair2")).expect("link");
    fs::write(src.join("triple"), b"triple\n").expect("write");
    fs::hard_link(src.join("triple"), src.join("sub/triple2")).expect("link");
    fs::hard_link(src.join("triple"), src.join("sub/deep/triple3")).expect("link");
    std::os::unix::fs::symlink("file", src.join("rel-link")).expect("symlink");
    std::os::unix::fs::symlink("/etc/hostname", src.join("abs-link")).expect("symlink");
    std::os::unix::fs::symlink("does-not-exist", src.join("dangling")).expect("symlink");
    std::os::unix::fs::symlink("sub", src.join("dir-link")).expect("symlink");
    fs::write(src.join("setuid"), b"#!/bin/sh\n").expect("write");
    set_mode(&src.join("setuid"), 0o4755);
    fs::create_dir(src.join("setgid-dir")).expect("mkdir");
    set_mode(&src.join("setgid-dir"), 0o2775);
    fs::write(src.join("setgid-dir/inside"), b"x").expect("write");
    fs::create_dir(src.join("sticky")).expect("mkdir");
    set_mode(&src.join("sticky"), 0o1777);
    nix::unistd::mkfifo(
        &src.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .expect("mkfifo");
    {
        let mut sparse = fs::File::create(src.join("sparse")).expect("create");
        sparse.set_len(SPARSE_SIZE).expect("truncate");
        sparse.seek(SeekFrom::Start(SPARSE_DATA_AT)).expect("seek");
        sparse.write_all(&[0xabu8; 4096]).expect("write");
    }
    fs::write(src.join(OsStr::from_bytes(b"name-\xff")), b"latin1\n").expect("write");
    if common::is_root() {
        nix::sys::stat::mknod(
            &src.join("null"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .expect("mknod");
        fs::write(src.join("orphan"), b"nobody owns me\n").expect("write");
        std::os::unix::fs::lchown(src.join("orphan"), Some(4242), Some(4343)).expect("chown");
        std::os::unix::fs::lchown(src.join("sub"), Some(4242), Some(4343)).expect("chown");
        std::os::unix::fs::lchown(src.join("rel-link"), Some(4242), Some(4343)).expect("chown");
    }
    let xattr = set_xattr(&src.join("file"), "user.test", b"value");
    let mut capability = false;
    if common::is_root() && common::have("setcap") {
        fs::write(src.join("ping"), b"\x7fELF pretend").expect("write");
        set_mode(&src.join("ping"), 0o755);
        capability = Command::new("setcap")
            .arg("cap_net_raw+ep")
            .arg(src.join("ping"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    }
    // Old times with nanoseconds, directories last so nothing above changes them again.
    set_mtime(&src.join("file"), 981_173_106, 123_456_789);
    set_mtime(&src.join("rel-link"), 981_173_107, 987_654_321);
    set_mtime(&src.join("setuid"), 1_000_000_000, 1);
    set_mtime(&src.join("sub/deep"), 1_100_000_000, 500_000_001);
    set_mtime(&src.join("sub"), 1_200_000_000, 999_999_999);
    Fixture { xattr, capability }
}

#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    rdev: u64,
    content: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    mtime: Option<(i64, i64)>,
    nlink: u64,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    entries: BTreeMap<Vec<u8>, Entry>,
    /// Names that share an inode, as sets of relative paths.
    link_groups: BTreeSet<Vec<Vec<u8>>>,
}

fn snapshot(root: &Path, with_mtimes: bool) -> Snapshot {
    let mut entries = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<Vec<u8>>> = BTreeMap::new();
    for (rel, meta) in common::lstat_tree(root) {
        let path = root.join(&rel);
        let rel = rel.into_os_string().into_vec();
        let kind = meta.mode() & libc::S_IFMT;
        let content = if meta.is_file() && meta.size() < (16 << 20) {
            Some(fs::read(&path).expect("read"))
        } else {
            None
        };
        let link = meta.file_type().is_symlink().then(|| {
            fs::read_link(&path)
                .expect("readlink")
                .as_os_str()
                .as_bytes()
                .to_vec()
        });
        if !meta.is_dir() {
            inodes
                .entry((meta.dev(), meta.ino()))
                .or_default()
                .push(rel.clone());
        }
        let mode = if meta.file_type().is_symlink() {
            0
        } else {
            meta.mode() & 0o7777
        };
        entries.insert(
            rel,
            Entry {
                kind,
                mode,
                uid: meta.uid(),
                gid: meta.gid(),
                size: meta.size(),
                rdev: meta.rdev(),
                content,
                link,
                mtime: with_mtimes.then(|| (meta.mtime(), meta.mtime_nsec())),
                nlink: if meta.is_dir() { 0 } else { meta.nlink() },
                xattrs: xattrs(&path),
            },
        );
    }
    let link_groups = inodes
        .into_values()
        .filter(|names| names.len() > 1)
        .map(|mut names| {
            names.sort();
            names
        })
        .collect();
    Snapshot {
        entries,
        link_groups,
    }
}

/// Compares entry by entry first, so a failure names the file instead of dumping two trees.
fn assert_same_tree(expected: &Snapshot, actual: &Snapshot) {
    for (name, entry) in &expected.entries {
        assert_eq!(
            actual.entries.get(name),
            Some(entry),
            "entry {:?} differs",
            String::from_utf8_lossy(name)
        );
    }
    let extra: Vec<String> = actual
        .entries
        .keys()
        .filter(|name| !expected.entries.contains_key(*name))
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect();
    assert!(extra.is_empty(), "unexpected entries {extra:?}");
    assert_eq!(
        expected.link_groups, actual.link_groups,
        "hard-link groups differ"
    );
}

fn gnu_cp(args: &[&OsStr]) -> std::process::Output {
    Command::new("cp").args(args).output().expect("run GNU cp")
}

fn rescue_cp(args: &[&OsStr]) -> std::process::Output {
    common::rescue()
        .arg("cp")
        .args(args)
        .output()
        .expect("run rescue cp")
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn read_sparse_data(path: &Path) -> Vec<u8> {
    let mut f = fs::File::open(path).expect("open");
    f.seek(SeekFrom::Start(SPARSE_DATA_AT)).expect("seek");
    let mut buf = vec![0u8; 4096];
    f.read_exact(&mut buf).expect("read");
    buf
}

#[test]
fn archive_copy_matches_gnu_attribute_for_attribute() {
    if !common::have_or_skip("cp") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    let fixture = build_tree(&src);
    let a = tmp.path().join("A");
    let b = tmp.path().join("B");
    let gnu = gnu_cp(&[os("-a"), src.as_os_str(), a.as_os_str()]);
    assert!(gnu.status.success(), "GNU cp: {}", common::stderr(&gnu));
    let ours = rescue_cp(&[os("-a"), src.as_os_str(), b.as_os_str()]);
    assert!(
        ours.status.success(),
        "rescue cp: {}",
        common::stderr(&ours)
    );
    assert!(ours.stderr.is_empty(), "{}", common::stderr(&ours));

    let gnu_tree = snapshot(&a, true);
    let our_tree = snapshot(&b, true);
    assert_same_tree(&gnu_tree, &our_tree);

    // The properties the comparison relies on, asserted directly so a GNU quirk cannot hide a bug.
    let groups: Vec<usize> = our_tree.link_groups.iter().map(Vec::len).collect();
    assert!(groups.contains(&3) && groups.contains(&2), "{groups:?}");
    assert_eq!(
        fs::symlink_metadata(b.join("setuid")).expect("stat").mode() & 0o7777,
        0o4755
    );
    assert_eq!(
        fs::metadata(b.join("sticky")).expect("stat").mode() & 0o7777,
        0o1777
    );
    let sub = fs::metadata(b.join("sub")).expect("stat");
    assert_eq!(
        (sub.mtime(), sub.mtime_nsec()),
        (1_200_000_000, 999_999_999)
    );
    assert_eq!(
        fs::read_link(b.join("dangling")).expect("readlink"),
        Path::new("does-not-exist")
    );
    let sparse = fs::metadata(b.join("sparse")).expect("stat");
    assert_eq!(sparse.len(), SPARSE_SIZE);
    assert!(
        sparse.blocks() * 512 < 1 << 20,
        "copy is not sparse: {} blocks",
        sparse.blocks()
    );
    assert_eq!(read_sparse_data(&b.join("sparse")), vec![0xab; 4096]);
    if fixture.xattr {
        assert_eq!(
            xattrs(&b.join("file"))
                .get(&b"user.test"[..])
                .map(Vec::as_slice),
            Some(&b"value"[..])
        );
    } else {
        common::unsupported(Unsupported::UserXattrs, "the user xattr part");
    }
    if fixture.capability {
        assert!(xattrs(&b.join("ping")).contains_key(&b"security.capability"[..]));
    } else if common::root_or_skip("the capability part needs root")
        && common::have_or_skip("setcap")
    {
        common::unsupported(Unsupported::FileCapabilities, "the capability part");
    }
    if common::root_or_skip("the owner and device part needs root") {
        let orphan = fs::metadata(b.join("orphan")).expect("stat");
        assert_eq!((orphan.uid(), orphan.gid()), (4242, 4343));
        let null = fs::symlink_metadata(b.join("null")).expect("stat");
        assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    }
}

#[test]
fn recursive_copy_without_preserve_matches_gnu() {
    if !common::have_or_skip("cp") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    build_tree(&src);
    let a = tmp.path().join("A");
    let b = tmp.path().join("B");
    let gnu = gnu_cp(&[os("-r"), src.as_os_str(), a.as_os_str()]);
    assert!(gnu.status.success(), "GNU cp: {}", common::stderr(&gnu));
    let ours = rescue_cp(&[os("-r"), src.as_os_str(), b.as_os_str()]);
    assert!(
        ours.status.success(),
        "rescue cp: {}",
        common::stderr(&ours)
    );
    let gnu_tree = snapshot(&a, false);
    let our_tree = snapshot(&b, false);
    // Without --preserve=xattr GNU copies none; capabilities must not leak either.
    assert_same_tree(&gnu_tree, &our_tree);
    assert!(
        our_tree.link_groups.is_empty(),
        "-r must not keep hard links"
    );
    // Set-id bits are dropped without -p, the sticky bit of a directory is not (as GNU).
    assert_eq!(
        fs::metadata(b.join("setuid")).expect("stat").mode() & 0o7777,
        0o755
    );
    assert_eq!(
        fs::metadata(b.join("sticky")).expect("stat").mode() & 0o1000,
        0o1000
    );
}

#[test]
fn preserve_p_keeps_mode_times_and_owner_like_gnu() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    fs::write(&src, b"data").expect("write");
    if common::root_or_skip("the owner part needs root") {
        std::os::unix::fs::chown(&src, Some(4242), Some(4343)).expect("chown");
    }
    // After chown, which clears set-id bits.
    set_mode(&src, 0o4711);
    set_mtime(&src, 1_234_567_890, 42);
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    assert!(gnu_cp(&[os("-p"), src.as_os_str(), a.as_os_str()])
        .status
        .success());
    let out = rescue_cp(&[os("-p"), src.as_os_str(), b.as_os_str()]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let (ma, mb) = (fs::metadata(&a).expect("a"), fs::metadata(&b).expect("b"));
    assert_eq!(mb.mode(), ma.mode());
    assert_eq!((mb.mtime(), mb.mtime_nsec()), (1_234_567_890, 42));
    assert_eq!((mb.uid(), mb.gid()), (ma.uid(), ma.gid()));
    assert_eq!(mb.mode() & 0o7777, 0o4711);
}

#[test]
fn dereference_flags_on_a_symlink() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::write(d.join("target"), b"content").expect("write");
    std::os::unix::fs::symlink("target", d.join("link")).expect("symlink");
    let out = rescue_cp(&[
        os("-P"),
        d.join("link").as_os_str(),
        d.join("p").as_os_str(),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(
        fs::read_link(d.join("p")).expect("-P copies the link"),
        Path::new("target")
    );
    let out = rescue_cp(&[
        os("-L"),
        d.join("link").as_os_str(),
        d.join("l").as_os_str(),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(fs::symlink_metadata(d.join("l")).expect("l").is_file());
    assert_eq!(fs::read(d.join("l")).expect("read"), b"content");
    // No flag and no -r: GNU follows.
    let out = rescue_cp(&[d.join("link").as_os_str(), d.join("n").as_os_str()]);
    assert!(out.status.success());
    assert!(fs::symlink_metadata(d.join("n")).expect("n").is_file());
}

#[test]
fn file_into_directory_and_verbose_output_match_gnu() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::write(d.join("f"), b"x").expect("write");
    fs::create_dir(d.join("dir")).expect("mkdir");
    let out = common::run_in(d, &["cp", "-v", "f", "dir/"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(common::stdout(&out), "'f' -> 'dir/f'\n");
    assert_eq!(fs::read(d.join("dir/f")).expect("read"), b"x");
    // Directory semantics: a new name is the copy, an existing directory receives it.
    fs::create_dir_all(d.join("tree/x")).expect("mkdir");
    for _ in 0..2 {
        let out = common::run_in(d, &["cp", "-r", "tree", "copy"]);
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    assert!(d.join("copy/x").is_dir());
    assert!(d.join("copy/tree/x").is_dir());
}

#[test]
fn no_clobber_leaves_the_destination_and_interactive_asks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::write(d.join("new"), b"new").expect("write");
    fs::write(d.join("old"), b"old").expect("write");
    let out = rescue_cp(&[
        os("-n"),
        d.join("new").as_os_str(),
        d.join("old").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fs::read(d.join("old")).expect("read"), b"old");

    let ask = |answer: &str| {
        let mut child = common::rescue()
            .args([
                os("cp"),
                os("-i"),
                d.join("new").as_os_str(),
                d.join("old").as_os_str(),
            ])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(answer.as_bytes())
            .expect("answer");
        child.wait_with_output().expect("wait")
    };
    let out = ask("n\n");
    assert!(
        common::stderr(&out).contains("overwrite '"),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(fs::read(d.join("old")).expect("read"), b"old");
    let out = ask("y\n");
    assert!(out.status.success());
    assert_eq!(fs::read(d.join("old")).expect("read"), b"new");
}

#[test]
fn errors_read_like_gnu_and_other_operands_still_copy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::create_dir(d.join("dir")).expect("mkdir");
    fs::create_dir(d.join("dest")).expect("mkdir");
    fs::write(d.join("f"), b"x").expect("write");
    let run = |args: &[&str]| {
        common::rescue()
            .current_dir(d)
            .arg("cp")
            .args(args)
            .output()
            .expect("run")
    };
    let out = run(&["missing", "dir", "f", "dest"]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(
        err.contains("rescue cp: cannot stat 'missing': No such file or directory"),
        "{err}"
    );
    assert!(
        err.contains("rescue cp: -r not specified; omitting directory 'dir'"),
        "{err}"
    );
    assert!(
        d.join("dest/f").is_file(),
        "the good operand must still be copied"
    );

    let out = run(&["-r", "dir", "dir/inner"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("cannot copy a directory, 'dir', into itself, 'dir/inner'")
    );
    assert!(!d.join("dir/inner").exists());

    let out = run(&["f", "f"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).contains("'f' and 'f' are the same file"));

    let out = run(&["f"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).contains("missing destination file operand after 'f'"));
}

/// Names, kinds, modes, link targets and contents under `dir`, for comparing two trees.
fn describe_tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (name, meta) in common::lstat_tree(dir) {
        let path = dir.join(&name);
        let name = name.display().to_string();
        let what = if meta.file_type().is_symlink() {
            format!("-> {}", fs::read_link(&path).expect("readlink").display())
        } else if meta.is_dir() {
            "dir".to_string()
        } else {
            String::from_utf8_lossy(
                &fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
            )
            .into_owned()
        };
        out.push(format!("{name} {:o} {what}", meta.mode() & 0o7777));
    }
    out
}

/// The same `cp` commands, one after the other, by GNU in one directory and by us in another
/// built alike: what each says, its status, and the trees left must be the same.
#[test]
fn backups_parents_links_and_update_match_gnu() {
    if !common::gnu_or_skip("cp") {
        return;
    }
    let steps: &[&[&str]] = &[
        &["-v", "-b", "a", "b"],
        &["-v", "--backup=numbered", "a", "b"],
        &["-v", "--backup=t", "-S", ".bak", "a", "b"],
        &["-v", "--suffix=.old", "a", "c"],
        &["--backup=bogus", "a", "b"],
        &["-v", "--parents", "x/y/f", "d"],
        &["-v", "-a", "--parents", "x/y", "e"],
        &["-v", "--remove-destination", "a", "c"],
        &["-v", "-u", "a", "c"],
        &["-l", "a", "hard"],
        &["-s", "a", "soft"],
        &["-sf", "a", "soft"],
        &["a", "x/y/f", "d"],
        &["-d", "soft", "a"],
        &["--sparse=bogus", "a", "b"],
        &["--attributes-only", "a", "attrs"],
        &["-n", "a", "c"],
        &["-T", "x", "d/x"],
    ];
    let tmp = tempfile::tempdir().expect("tempdir");
    let dirs = [tmp.path().join("gnu"), tmp.path().join("ours")];
    for dir in &dirs {
        fs::create_dir_all(dir.join("x/y")).expect("mkdir");
        fs::create_dir_all(dir.join("d")).expect("mkdir");
        fs::create_dir_all(dir.join("e")).expect("mkdir");
        fs::write(dir.join("a"), "a\n").expect("write");
        fs::write(dir.join("b"), "b\n").expect("write");
        fs::write(dir.join("x/y/f"), "f\n").expect("write");
        set_mtime(&dir.join("a"), 1_000_000_000, 0);
    }
    for step in steps {
        let gnu = Command::new("cp")
            .args(*step)
            .current_dir(&dirs[0])
            .env("LC_ALL", "C")
            .env_remove("VERSION_CONTROL")
            .env_remove("SIMPLE_BACKUP_SUFFIX")
            .stdin(Stdio::null())
            .output()
            .expect("run cp");
        let ours = common::rescue()
            .arg("cp")
            .args(*step)
            .current_dir(&dirs[1])
            .env_remove("VERSION_CONTROL")
            .env_remove("SIMPLE_BACKUP_SUFFIX")
            .stdin(Stdio::null())
            .output()
            .expect("run rescue cp");
        let ours_err = common::stderr(&ours).replace("rescue cp", "cp");
        assert_eq!(
            gnu.status.code(),
            ours.status.code(),
            "cp {step:?}: {}",
            common::show(&ours)
        );
        assert_eq!(common::stdout(&gnu), common::stdout(&ours), "cp {step:?}");
        assert_eq!(common::stderr(&gnu), ours_err, "cp {step:?}");
        assert_eq!(
            describe_tree(&dirs[0]),
            describe_tree(&dirs[1]),
            "cp {step:?}"
        );
    }
}

/// `cp -rL src dst/` where src holds a symlink to dst: the copy would contain itself. GNU
/// recurses until names grow too long; we stop at the first directory we made ourselves.
#[test]
fn a_followed_symlink_never_leads_the_copy_into_itself() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    fs::create_dir_all(d.join("src")).expect("mkdir");
    fs::create_dir_all(d.join("dst")).expect("mkdir");
    std::os::unix::fs::symlink("../dst", d.join("src/link")).expect("symlink");
    let out = common::run_in(d, &["cp", "-rL", "src", "dst/"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    assert!(
        common::stderr(&out).contains("into itself"),
        "{}",
        common::show(&out)
    );
    assert!(d.join("dst/src/link").is_dir());
    assert!(!d.join("dst/src/link/src/link").exists());
}
