//! `rescue salvage`: real processes that map or hold open a file which is then deleted, the
//! file read back through `/proc` (map_files for a mapping of one page: the copy must be the
//! whole file), put back into a dpkg root through a journalled run that `rescue undo`
//! reverses, and compared with `lsof +L1` where it is installed.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::dpkgroot::{DpkgRoot, Pkg};
use common::{rescue_in, stdout};

const LIB: &str = "/usr/lib/x86_64-linux-gnu/libfake.so.1";

/// A process started by a test, killed and reaped however the test ends.
struct Held(Child);

impl Held {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Content larger than a page, different on every page, so a copy of only the mapped page
/// could never pass for it: a real library when there is one.
fn library_bytes() -> Vec<u8> {
    let real = fs::canonicalize("/usr/lib/x86_64-linux-gnu/libz.so.1")
        .ok()
        .and_then(|path| fs::read(path).ok());
    real.filter(|bytes| bytes.len() > 3 * 4096)
        .unwrap_or_else(|| (0..200_000u32).flat_map(|n| n.to_le_bytes()).collect())
}

/// A python process mapping the first page of `path` read-only, its descriptor closed: after
/// the file is deleted, only `map_files` leads to the whole of it.
fn map_one_page(path: &Path) -> Held {
    let script = "import ctypes, os, sys, time\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        libc.mmap.restype = ctypes.c_void_p\n\
        t = ctypes\n\
        libc.mmap.argtypes = [t.c_void_p, t.c_size_t, t.c_int, t.c_int, t.c_int, t.c_long]\n\
        fd = os.open(sys.argv[1], os.O_RDONLY)\n\
        addr = libc.mmap(None, 4096, 1, 2, fd, 0)\n\
        os.close(fd)\n\
        print('ready' if addr not in (None, ctypes.c_void_p(-1).value) else 'failed', flush=True)\n\
        time.sleep(600)\n";
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read python3");
    let held = Held(child);
    assert_eq!(line.trim(), "ready", "python3 could not map {path:?}");
    held
}

/// `sleep` with `path` open on its standard input.
fn hold_open(path: &Path) -> Held {
    let file = fs::File::open(path).expect("open held file");
    Held(
        Command::new("sleep")
            .arg("600")
            .stdin(file)
            .stdout(Stdio::null())
            .spawn()
            .expect("start sleep"),
    )
}

/// A root with an empty dpkg database: nothing in it is package-owned.
fn empty_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(dir.path().join("var/lib/dpkg/info")).unwrap();
    fs::write(dir.path().join("var/lib/dpkg/status"), "").unwrap();
    dir
}

fn host(root: &Path, inside: &str) -> PathBuf {
    root.join(inside.trim_start_matches('/'))
}

fn lines_naming<'a>(out: &'a str, what: &str) -> Vec<&'a str> {
    out.lines().filter(|line| line.contains(what)).collect()
}

#[test]
fn a_deleted_mapped_library_is_listed_and_copied_whole_through_map_files() {
    if !common::root_or_skip("map_files needs CAP_SYS_ADMIN") || !common::have_or_skip("python3") {
        return;
    }
    let root = empty_root();
    let bytes = library_bytes();
    let file = host(root.path(), LIB);
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, &bytes).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    let mapper = map_one_page(&file);
    fs::remove_file(&file).unwrap();

    let list = rescue_in(root.path(), "salvage", &["--list"]);
    let out = stdout(&list);
    assert_eq!(list.status.code(), Some(0), "{}", common::show(&list));
    let line = lines_naming(&out, LIB);
    assert_eq!(line.len(), 1, "{out}");
    assert!(line[0].contains(&format!("{} bytes", bytes.len())), "{out}");
    assert!(line[0].contains("not owned"), "{out}");
    assert!(
        line[0].contains(&format!("{} python3 (mmap)", mapper.pid())),
        "{out}"
    );
    // Named as inside the root, never by the host's path.
    assert!(
        !line[0].contains(&root.path().display().to_string()),
        "{out}"
    );

    // The peer sees the same deleted file held by the same process.
    if common::have("lsof") {
        let lsof = Command::new("lsof")
            .args(["-nP", "+L1", "-p", &mapper.pid().to_string()])
            .output()
            .expect("run lsof");
        assert!(
            String::from_utf8_lossy(&lsof.stdout).contains("libfake.so.1"),
            "lsof +L1: {}",
            String::from_utf8_lossy(&lsof.stdout)
        );
    }

    let out_dir = tempfile::tempdir().unwrap();
    let to = out_dir.path().join("salvaged");
    let copy = rescue_in(
        root.path(),
        "salvage",
        &["--to", to.to_str().unwrap(), "--yes"],
    );
    assert_eq!(copy.status.code(), Some(0), "{}", common::show(&copy));
    let copied = host(&to, LIB);
    // Only one page is mapped and no descriptor is open: the whole file came from map_files.
    assert!(fs::read(&copied).unwrap() == bytes, "copy differs");
    assert_eq!(fs::metadata(&copied).unwrap().mode() & 0o7777, 0o640);
    // Never into the root's own paths.
    assert!(!file.exists());

    // A second run finds the copy already there and leaves it.
    let again = rescue_in(
        root.path(),
        "salvage",
        &["--to", to.to_str().unwrap(), "--yes"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", common::show(&again));
    assert!(
        stdout(&again).contains("already copied"),
        "{}",
        stdout(&again)
    );
}

/// A dpkg root with one package owning LIB; `wrong_md5` records another digest for it.
fn package_root(bytes: &[u8], wrong_md5: bool) -> DpkgRoot {
    let mut root = DpkgRoot::new();
    root.add(
        Pkg::new("libfake1")
            .dir("/usr")
            .dir("/usr/lib")
            .dir("/usr/lib/x86_64-linux-gnu")
            .file(LIB, bytes),
    );
    if wrong_md5 {
        let sums = format!("{}  {}\n", "0".repeat(32), &LIB[1..]);
        fs::write(root.info("libfake1.md5sums"), sums).unwrap();
    }
    root
}

#[test]
fn a_package_file_held_open_goes_back_with_its_metadata_and_undo_removes_it() {
    if !common::root_or_skip("owners and the journal's backups need root") {
        return;
    }
    let bytes = library_bytes();
    let root = package_root(&bytes, false);
    let file = root.host(LIB);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(&file, Some(0), Some(4242)).unwrap();
    let holder = hold_open(&file);
    fs::remove_file(&file).unwrap();

    let list = rescue_in(root.path(), "salvage", &[]);
    let out = stdout(&list);
    assert_eq!(list.status.code(), Some(0), "{}", common::show(&list));
    let line = lines_naming(&out, LIB);
    assert_eq!(line.len(), 1, "{out}");
    assert!(line[0].contains("libfake1 md5 ok, missing now"), "{out}");
    assert!(
        line[0].contains(&format!("{} sleep (fd 0)", holder.pid())),
        "{out}"
    );
    assert!(out.contains("--yes"), "the command to run: {out}");
    assert!(!file.exists(), "a listing changed the root");

    let put = rescue_in(root.path(), "salvage", &["--yes"]);
    assert_eq!(put.status.code(), Some(0), "{}", common::show(&put));
    assert!(
        fs::read(&file).unwrap() == bytes,
        "restored content differs"
    );
    let meta = fs::symlink_metadata(&file).unwrap();
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o750, 0, 4242)
    );
    let runs = common::debroot::runs(root.path());
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].join("journal").is_file());

    // Already in place: a second run changes nothing and starts no run.
    let again = rescue_in(root.path(), "salvage", &["--yes"]);
    assert_eq!(again.status.code(), Some(0), "{}", common::show(&again));
    assert!(stdout(&again).contains("in place"), "{}", stdout(&again));
    assert_eq!(common::debroot::runs(root.path()).len(), 1);

    let undo = rescue_in(root.path(), "undo", &[]);
    assert_eq!(undo.status.code(), Some(0), "{}", common::show(&undo));
    assert!(!file.exists(), "undo left the salvaged file");
}

#[test]
fn a_package_file_whose_md5_differs_only_goes_to_the_copy_directory() {
    if !common::root_or_skip("reading another process's descriptor needs root") {
        return;
    }
    let bytes = library_bytes();
    let root = package_root(&bytes, true);
    let file = root.host(LIB);
    let _holder = hold_open(&file);
    fs::remove_file(&file).unwrap();

    let put = rescue_in(root.path(), "salvage", &["--yes"]);
    assert_eq!(put.status.code(), Some(1), "{}", common::show(&put));
    assert!(stdout(&put).contains("md5 differs"), "{}", stdout(&put));
    assert!(stdout(&put).contains("--to"), "{}", stdout(&put));
    assert!(
        !file.exists(),
        "a file dpkg does not vouch for went into ROOT"
    );
    assert!(common::debroot::runs(root.path()).is_empty());

    let out_dir = tempfile::tempdir().unwrap();
    let to = out_dir.path().to_str().unwrap();
    let copy = rescue_in(root.path(), "salvage", &["--to", to, "--yes"]);
    assert_eq!(copy.status.code(), Some(0), "{}", common::show(&copy));
    assert!(fs::read(host(out_dir.path(), LIB)).unwrap() == bytes);
    assert!(!file.exists());

    // --to inside ROOT's package paths is refused.
    let usr = root.host("/usr").display().to_string();
    let refused = rescue_in(root.path(), "salvage", &["--to", &usr, "--yes"]);
    assert_eq!(refused.status.code(), Some(2), "{}", common::show(&refused));
}

#[test]
fn files_not_deleted_or_outside_the_root_are_not_listed() {
    if !common::root_or_skip("reading other processes needs root") {
        return;
    }
    let root = empty_root();
    let kept = host(root.path(), "/etc/kept");
    fs::create_dir_all(kept.parent().unwrap()).unwrap();
    fs::write(&kept, "still here").unwrap();
    let innocent = hold_open(&kept);

    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join("gone-outside");
    fs::write(&outside, "deleted outside the root").unwrap();
    let outsider = hold_open(&outside);
    fs::remove_file(&outside).unwrap();

    let list = rescue_in(root.path(), "salvage", &["--list"]);
    let out = stdout(&list);
    assert_eq!(list.status.code(), Some(0), "{}", common::show(&list));
    assert!(!out.contains(&format!("{} sleep", innocent.pid())), "{out}");
    assert!(!out.contains("gone-outside"), "{out}");
    assert!(out.starts_with("0 deleted files held"), "{out}");

    // Seen from the host's root, the outsider is there, by its host path.
    let all = common::run(&["salvage", "--list"]);
    let all_out = stdout(&all);
    let line = lines_naming(&all_out, &outside.display().to_string());
    assert_eq!(line.len(), 1, "{all_out}");
    assert!(line[0].contains(&format!("{} sleep (fd 0)", outsider.pid())));

    // A PATH held by nobody is said, exit 1.
    let none = rescue_in(root.path(), "salvage", &["--list", "/etc/kept"]);
    assert_eq!(none.status.code(), Some(1), "{}", common::show(&none));
}

#[test]
fn without_proc_it_says_so_and_exits_2() {
    if !common::root_or_skip("mount namespaces need root") || !common::have_or_skip("unshare") {
        return;
    }
    let output = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg("mount --make-rprivate / && mount -t tmpfs none /proc && \"$RESCUE\" salvage --list")
        .env("RESCUE", env!("CARGO_BIN_EXE_rescue"))
        .output()
        .expect("run unshare");
    assert_eq!(output.status.code(), Some(2), "{}", common::show(&output));
    assert!(
        common::stderr(&output).contains("rescue salvage: /proc: missing: "),
        "{}",
        common::show(&output)
    );
}

/// After an rsync: another file was renamed over the package's, and old processes hold the
/// old one. And after `rm -rf` of its directory. The held version goes back (the newer file
/// into the backup), missing directories are made, a directory standing at a path is left
/// alone; undo takes it all back.
#[test]
fn replaced_and_removed_package_files_come_back_and_a_directory_is_left_alone() {
    if !common::root_or_skip("owners and the journal's backups need root") {
        return;
    }
    let bytes = library_bytes();
    let mut root = package_root(&bytes, false);
    root.add(
        Pkg::new("tool")
            .dir("/usr/bin")
            .file("/usr/bin/tool", "#!/bin/sh\necho old tool\n")
            .file("/usr/bin/blocked", "blocked"),
    );
    let (lib, tool, blocked) = (
        root.host(LIB),
        root.host("/usr/bin/tool"),
        root.host("/usr/bin/blocked"),
    );
    let _holders = [hold_open(&lib), hold_open(&tool), hold_open(&blocked)];
    let newer = root.host("/usr/bin/.tool.rsync");
    fs::write(&newer, "#!/bin/sh\necho new tool\n").unwrap();
    fs::rename(&newer, &tool).unwrap();
    fs::remove_dir_all(lib.parent().unwrap()).unwrap();
    fs::remove_file(&blocked).unwrap();
    fs::create_dir(&blocked).unwrap();

    let list = rescue_in(root.path(), "salvage", &["--list"]);
    let out = stdout(&list);
    assert!(out.contains("/usr/bin/tool  "), "{out}");
    assert!(out.contains("tool md5 ok, differs now"), "{out}");
    assert!(out.contains("md5 ok, a directory stands there"), "{out}");

    let put = rescue_in(root.path(), "salvage", &["--yes"]);
    assert_eq!(
        put.status.code(),
        Some(1),
        "the directory is left: {}",
        common::show(&put)
    );
    assert!(fs::read(&lib).unwrap() == bytes);
    assert_eq!(fs::read(&tool).unwrap(), b"#!/bin/sh\necho old tool\n");
    assert!(blocked.is_dir());

    let undo = rescue_in(root.path(), "undo", &[]);
    assert_eq!(undo.status.code(), Some(0), "{}", common::show(&undo));
    assert_eq!(fs::read(&tool).unwrap(), b"#!/bin/sh\necho new tool\n");
    assert!(
        !lib.parent().unwrap().exists(),
        "undo left the directory it made"
    );
}
