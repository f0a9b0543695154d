//! Inputs read from ROOT are read inside ROOT, only when they are regular files, with bounded
//! memory (issue 8, cases 2, 3, 7 and 8).
//!
//! - Cases 2 and 3: a hostile root points its cache directory, its dpkg database, its group
//!   file, its apt lists and an archive of its apt cache at a *marker* directory beside it
//!   (outside ROOT) that holds recognisable decoys. Each test checks that the run used ROOT's
//!   own files (the outcome the genuine files give, never the one the decoy would), that no
//!   trace of the decoy appears in the output, and that nothing in the marker was read (its
//!   files' access times stay where they were set; checked where the filesystem keeps them),
//!   written or created.
//! - Case 7: a FIFO (a socket, a device) at each input. Every run has a deadline and is
//!   killed and failed when it passes it; it must exit with a message naming the file.
//! - Case 8: the worst `.list` files, in a fixture root. The child's peak RSS (from
//!   `wait4`'s rusage) must stay under [`budget`], and the long lines must be reported by
//!   number without being printed.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::debroot::{self, DebRoot};
use common::dpkgroot::{DpkgRoot, Pkg};
use common::Unsupported;

/// What `verify` may use for `paths` listed paths: a base for the binary, the threads and
/// their buffers, plus a share per path (its list entry, its check, its cached digest, and a
/// finding when every path is broken). Measured with the debug build (GNU time's peak RSS):
/// 6.2 MiB for an empty database; for this host's (715 packages, 118,858 paths, 30 MB of
/// lists) 72 MiB with `--db-only --no-cache` and 92 MiB with the digest cache; 932 MiB for
/// two million listed paths, all missing (489 bytes each). The budget keeps a fifth more.
/// README's verify section states the same.
fn budget(paths: u64) -> u64 {
    const BASE: u64 = 32 << 20;
    const PER_PATH: u64 = 768;
    BASE + PER_PATH * paths
}

/// How a bounded run ended.
struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    fn show(&self) -> String {
        let cut = |text: String| text.chars().take(4000).collect::<String>();
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            cut(self.stdout()),
            cut(self.stderr())
        )
    }
}

/// Runs `command` with a deadline: past it the child's process group is killed and the test
/// fails.
fn run_bounded(mut command: Command, deadline: Duration) -> Run {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let what = format!("{command:?}");
    let mut child = command.spawn().expect("spawn");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            out
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > deadline {
            // SAFETY: signalling the process group we made for the child.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.wait();
            panic!("{what} still running after {deadline:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// `rescue APPLET --root ROOT ARGS`, bounded.
fn rescue(root: &Path, applet: &str, args: &[&str], deadline: Duration) -> Run {
    let mut command = common::rescue();
    command.arg(applet).arg("--root").arg(root).args(args);
    run_bounded(command, deadline)
}

/// GNU time, which measures what we need: the peak RSS of a child it forks itself. A child
/// of this test process cannot be measured by our own `wait4`: Linux carries the parent's
/// high-water mark into a vforked child's `ru_maxrss` at exec, and this process holds the
/// fixtures (and runs other tests) meanwhile.
const GNU_TIME: &str = "/usr/bin/time";

/// [`rescue`] under GNU time: the run and the child's peak RSS in bytes; `None` (said why)
/// when GNU time is not installed.
fn rescue_measured(
    root: &Path,
    applet: &str,
    args: &[&str],
    deadline: Duration,
) -> Option<(Run, u64)> {
    if !Path::new(GNU_TIME).is_file() {
        common::skip(&format!(
            "{GNU_TIME} (Debian package time) is not installed"
        ));
        return None;
    }
    let report = tempfile::NamedTempFile::new().expect("time report");
    let mut command = Command::new(GNU_TIME);
    command
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(env!("CARGO_BIN_EXE_rescue"))
        .arg(applet)
        .arg("--root")
        .arg(root)
        .args(args);
    let run = run_bounded(command, deadline);
    // "Command exited with non-zero status N" may come first; the figure is the last line.
    let text = fs::read_to_string(report.path()).expect("read time report");
    let kib: u64 = text
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {text:?}"));
    Some((run, kib * 1024))
}

const SHORT: Duration = Duration::from_secs(60);

/// A directory beside ROOT, outside it, holding the decoys a hostile root points at. Files
/// written here get an access time in 2001, so reading one (under `relatime` too) shows.
struct Marker {
    dir: tempfile::TempDir,
    atime_observable: bool,
}

const OLD: SystemTime = SystemTime::UNIX_EPOCH;

fn set_old_atime(path: &Path) {
    let old = OLD + Duration::from_secs(978_307_200);
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_times(fs::FileTimes::new().set_accessed(old)))
        .expect("set atime");
}

impl Marker {
    /// Beside `root` (same parent), so a relative `../..` link can reach it.
    fn beside(root: &Path) -> Marker {
        let dir = tempfile::Builder::new()
            .prefix("rescue-marker-")
            .tempdir_in(root.parent().expect("root has a parent"))
            .expect("marker dir");
        let probe = dir.path().join(".probe");
        fs::write(&probe, b"probe").expect("probe");
        set_old_atime(&probe);
        let before = fs::metadata(&probe).expect("probe").atime();
        fs::read(&probe).expect("read probe");
        let atime_observable = fs::metadata(&probe).expect("probe").atime() != before;
        fs::remove_file(&probe).expect("remove probe");
        if !atime_observable {
            common::unsupported(
                Unsupported::AccessTimes,
                "'not read' is checked by outcome only",
            );
        }
        Marker {
            dir,
            atime_observable,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a decoy at `name` (directories made as needed).
    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir marker");
        fs::write(&path, content).expect("write decoy");
        set_old_atime(&path);
        path
    }

    /// Every file under the marker with its content and access time.
    fn state(&self) -> Vec<(PathBuf, Vec<u8>, i64)> {
        let mut out = Vec::new();
        let mut pending = vec![self.path().to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in fs::read_dir(&dir).expect("read marker") {
                let path = entry.expect("entry").path();
                let meta = fs::symlink_metadata(&path).expect("lstat");
                if meta.is_dir() {
                    pending.push(path);
                } else {
                    // Reading the content here sets the access time: put it back.
                    let atime = meta.atime();
                    let content = fs::read(&path).unwrap_or_default();
                    let accessed = OLD + Duration::from_secs(atime as u64);
                    fs::File::options()
                        .write(true)
                        .open(&path)
                        .and_then(|file| {
                            file.set_times(fs::FileTimes::new().set_accessed(accessed))
                        })
                        .expect("restore atime");
                    out.push((path, content, atime));
                }
            }
        }
        out.sort();
        out
    }

    /// Nothing created, changed or (where access times are kept) read since `before`.
    fn assert_untouched(&self, before: &[(PathBuf, Vec<u8>, i64)], what: &str) {
        let after = self.state();
        let names = |state: &[(PathBuf, Vec<u8>, i64)]| -> Vec<PathBuf> {
            state.iter().map(|(path, _, _)| path.clone()).collect()
        };
        assert_eq!(names(&after), names(before), "{what}: files in the marker");
        for ((path, content, atime), (_, old_content, old_atime)) in after.iter().zip(before) {
            assert_eq!(content, old_content, "{what}: {} changed", path.display());
            if self.atime_observable {
                assert_eq!(atime, old_atime, "{what}: {} was read", path.display());
            }
        }
    }
}

/// The host path `ROOT/<abs>`: where an absolute link to `abs` lands inside ROOT.
fn inside_at(root: &Path, abs: &Path) -> PathBuf {
    root.join(abs.strip_prefix("/").expect("absolute"))
}

/// Moves `ROOT/rel` to where an absolute link to `marker/name` lands inside ROOT, and puts
/// that link at `ROOT/rel`: the genuine file is then reachable only through the link
/// resolved inside ROOT, and the same link followed on the host meets the decoy.
fn behind_absolute_link(root: &Path, rel: &str, marker: &Marker, name: &str) {
    let target = marker.path().join(name);
    let inside = inside_at(root, &target);
    fs::create_dir_all(inside.parent().expect("parent")).expect("mkdir inside");
    fs::rename(root.join(rel), &inside).expect("move genuine file");
    symlink(&target, root.join(rel)).expect("plant link");
}

/// A small root (no root rights needed) with one package whose files are all in place.
fn small_root() -> DpkgRoot {
    let mut root = DpkgRoot::new();
    root.add(
        Pkg::new("demo")
            .dir("/usr/share/demo")
            .file("/usr/bin/demo", "#!/bin/sh\necho demo\n")
            .file("/usr/share/demo/README", "genuine\n")
            .conffile("/etc/demo.conf", "key=value\n", ""),
    );
    root
}

// ---- case 2: the digest cache ----

#[test]
fn cache_directory_linked_out_of_root_is_not_used() {
    let root = small_root();
    let marker = Marker::beside(root.path());
    let marker_name = marker.path().file_name().expect("name").to_owned();
    // From ROOT/var/cache, three levels up is ROOT's parent on the host; inside ROOT `..`
    // stops at ROOT.
    let relative = Path::new("../../..").join(&marker_name);
    for target in [marker.path().to_path_buf(), relative] {
        let link = root.path().join("var/cache/rescue");
        let _ = fs::remove_file(&link);
        symlink(&target, &link).expect("plant cache link");
        let before = marker.state();
        for run in 1..=2 {
            let out = rescue(root.path(), "verify", &[], SHORT);
            assert_eq!(
                out.code,
                Some(0),
                "run {run}, link to {target:?}: {}",
                out.show()
            );
            let stderr = out.stderr();
            assert!(
                stderr.contains("var/cache/rescue") && stderr.contains("symbolic link"),
                "the cache is skipped with a warning naming it: {}",
                out.show()
            );
        }
        marker.assert_untouched(&before, &format!("cache linked to {target:?}"));
        assert_eq!(
            fs::read_link(&link).expect("link"),
            target,
            "link left as it was"
        );
        let inside = root.path().join(&marker_name);
        assert!(
            !inside.exists(),
            "nothing made where the link leads inside ROOT"
        );
    }
}

#[test]
fn var_cache_linked_absolute_is_followed_inside_root() {
    let root = small_root();
    let marker = Marker::beside(root.path());
    fs::remove_dir(root.path().join("var/cache")).expect("rmdir var/cache");
    symlink(marker.path(), root.path().join("var/cache")).expect("plant var/cache link");
    let before = marker.state();

    // Inside ROOT the link leads to a directory that does not exist: no cache, no noise.
    let out = rescue(root.path(), "verify", &[], SHORT);
    assert_eq!(out.code, Some(0), "{}", out.show());
    assert_eq!(out.stderr(), "", "{}", out.show());
    marker.assert_untouched(&before, "verify with var/cache linked out");

    // Once it exists inside ROOT, the cache is written there.
    let inside = inside_at(root.path(), marker.path());
    fs::create_dir_all(&inside).expect("mkdir inside");
    let out = rescue(root.path(), "verify", &[], SHORT);
    assert_eq!(out.code, Some(0), "{}", out.show());
    assert!(
        inside.join("rescue/verify-md5.cache").is_file(),
        "cache written inside ROOT"
    );
    marker.assert_untouched(&before, "verify with var/cache inside ROOT");
}

#[test]
fn cache_file_that_is_a_fifo_does_not_hang_and_is_replaced() {
    let root = small_root();
    let dir = root.path().join("var/cache/rescue");
    fs::create_dir_all(&dir).expect("mkdir cache");
    let file = dir.join("verify-md5.cache");
    nix::unistd::mkfifo(&file, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let out = rescue(root.path(), "verify", &[], SHORT);
    // The cache never decides a result: a warning naming it, and the verdict stands.
    assert_eq!(out.code, Some(0), "{}", out.show());
    assert!(
        out.stderr().contains("verify-md5.cache") && out.stderr().contains("FIFO"),
        "{}",
        out.show()
    );
    assert!(file.is_file(), "the FIFO was replaced by a cache file");
}

// ---- case 3: the database and the accounts ----

#[test]
fn database_files_linked_absolute_are_read_inside_root() {
    // Each decoy, if it were read, would make `verify` name something that appears nowhere
    // in ROOT: a missing `/marker-only/...`, or the package `marker-only-package`.
    let decoys: [(&str, &str, String); 3] = [
        (
            "var/lib/dpkg/info",
            "info/demo.list",
            "/.\n/marker-only/from-list\n".into(),
        ),
        (
            "var/lib/dpkg/status",
            "status",
            "Package: marker-only-package\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\n".into(),
        ),
        (
            "var/lib/dpkg/diversions",
            "diversions",
            "/usr/bin/demo\n/marker-only/from-diversions\n:\n".into(),
        ),
    ];
    for (rel, decoy, content) in decoys {
        let root = small_root();
        if rel.ends_with("diversions") {
            // The genuine diversions file diverts nothing that exists.
            fs::write(
                root.path().join(rel),
                "/usr/bin/nothing\n/usr/bin/nothing.real\n:\n",
            )
            .expect("diversions");
        }
        let marker = Marker::beside(root.path());
        marker.write(decoy, &content);
        let name = Path::new(decoy)
            .iter()
            .next()
            .expect("first component")
            .to_str()
            .expect("utf-8");
        behind_absolute_link(root.path(), rel, &marker, name);
        let before = marker.state();
        let out = rescue(root.path(), "verify", &["--db-only"], SHORT);
        assert_eq!(out.code, Some(0), "{rel} linked out: {}", out.show());
        assert!(
            !out.stdout().contains("marker-only") && !out.stderr().contains("marker-only"),
            "{rel}: the decoy was read: {}",
            out.show()
        );
        marker.assert_untouched(&before, rel);
    }
}

#[test]
fn group_file_linked_absolute_gives_root_owners_not_the_hosts() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let marker = Marker::beside(fixture.base());
    // The genuine group file has shadow = 42 (what dpkg gave demo-tool through the
    // statoverride); the decoy says 4242.
    marker.write("group", "root:x:0:\nshadow:x:4242:\n");
    behind_absolute_link(&fixture.root, "etc/group", &marker, "group");
    let before = marker.state();

    let out = rescue(&fixture.root, "verify", &[], SHORT);
    assert_eq!(
        out.code,
        Some(0),
        "pristine root verifies clean: {}",
        out.show()
    );

    fs::remove_file(fixture.path("usr/bin/demo-tool")).expect("rm demo-tool");
    let out = rescue(&fixture.root, "restore", &["--yes"], SHORT);
    assert_eq!(out.code, Some(0), "{}", out.show());
    assert!(!out.stdout().contains("4242"), "{}", out.show());
    let meta = fs::symlink_metadata(fixture.path("usr/bin/demo-tool")).expect("restored");
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o2755, 0, 42),
        "owner from ROOT's group file"
    );
    marker.assert_untouched(&before, "etc/group linked out");
}

#[test]
fn apt_lists_and_cached_archives_linked_absolute_are_read_inside_root() {
    if !debroot::available() {
        return;
    }
    // apt lists: the decoy index gives every archive a wrong SHA256, which would refuse them.
    let fixture = DebRoot::new();
    let marker = Marker::beside(fixture.base());
    let genuine =
        fs::read(fixture.path("var/lib/apt/lists").join(debroot::APT_LIST)).expect("apt list");
    let wrong = String::from_utf8(genuine)
        .expect("utf-8")
        .lines()
        .map(|line| match line.strip_prefix("SHA256: ") {
            Some(_) => format!("SHA256: {}\n", "0".repeat(64)),
            None => format!("{line}\n"),
        })
        .collect::<String>();
    marker.write(&format!("lists/{}", debroot::APT_LIST), wrong);
    behind_absolute_link(&fixture.root, "var/lib/apt/lists", &marker, "lists");
    let before = marker.state();
    fs::remove_file(fixture.path("usr/bin/demo-tool")).expect("rm demo-tool");
    let out = rescue(&fixture.root, "restore", &["--yes"], SHORT);
    assert_eq!(out.code, Some(0), "{}", out.show());
    assert!(!out.stdout().contains("does not match"), "{}", out.show());
    assert!(fixture.path("usr/bin/demo-tool").is_file());
    marker.assert_untouched(&before, "apt lists linked out");

    // An archive of the apt cache: the host's copy is a good archive, so using it would
    // succeed; inside ROOT the link leads nowhere, so the package cannot be restored.
    let fixture = DebRoot::new();
    let marker = Marker::beside(fixture.base());
    let deb = fixture.package("demo").deb.clone();
    let name = deb.file_name().expect("name").to_str().expect("utf-8");
    marker.write(name, fs::read(&deb).expect("read deb"));
    let cached = fixture.cache().join(name);
    fs::remove_file(&cached).expect("rm cached deb");
    symlink(marker.path().join(name), &cached).expect("plant deb link");
    let before = marker.state();
    fs::remove_file(fixture.path("usr/bin/demo-tool")).expect("rm demo-tool");
    let out = rescue(&fixture.root, "restore", &["--yes"], SHORT);
    assert_eq!(out.code, Some(1), "left unfixed: {}", out.show());
    assert!(
        !fixture.path("usr/bin/demo-tool").exists(),
        "not restored from the host's archive"
    );
    marker.assert_untouched(&before, "cached archive linked out");
}

// ---- case 7: FIFOs, sockets, devices ----

const STATUS: &str = "var/lib/dpkg/status";

fn mkfifo(path: &Path) {
    let _ = fs::remove_file(path);
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
}

/// `verify ARGS` must end within the deadline with exit 2 and a message naming `rel` and
/// what stands there (`kind`: "a FIFO", "a socket", ...).
fn assert_refused(root: &Path, rel: &str, args: &[&str], kind: &str) {
    let out = rescue(root, "verify", args, Duration::from_secs(30));
    assert_eq!(out.code, Some(2), "{kind} at {rel}: {}", out.show());
    let stderr = out.stderr();
    assert!(
        stderr.contains(rel) && stderr.contains(&format!("not a regular file ({kind})")),
        "{kind} at {rel}: the message names the file: {}",
        out.show()
    );
}

/// [`assert_refused`] with a FIFO at `rel` (replacing what is there).
fn assert_fifo_refused(root: &Path, rel: &str, args: &[&str]) {
    mkfifo(&root.join(rel));
    assert_refused(root, rel, args, "a FIFO");
}

#[test]
fn a_fifo_at_any_database_input_is_refused_without_hanging() {
    for (rel, args) in [
        ("var/lib/dpkg/status", &["--db-only"][..]),
        ("var/lib/dpkg/updates/0005", &["--db-only"]),
        ("var/lib/dpkg/info/demo.list", &["--db-only"]),
        ("var/lib/dpkg/info/demo.md5sums", &["--db-only"]),
        ("var/lib/dpkg/diversions", &["--db-only"]),
        ("var/lib/dpkg/statoverride", &["--db-only"]),
        ("var/lib/dpkg/info/format", &["--db-only"]),
        // Accounts are read for the archive checks.
        ("etc/group", &[]),
        ("etc/passwd", &[]),
    ] {
        assert_fifo_refused(small_root().path(), rel, args);
    }
}

#[test]
fn a_fifo_at_admindir_files_is_refused_without_hanging() {
    let root = small_root();
    let admindir = root.path().join("var/lib/dpkg");
    mkfifo(&admindir.join("status"));
    let mut command = common::rescue();
    command
        .args(["verify", "--db-only", "--admindir"])
        .arg(&admindir);
    let out = run_bounded(command, Duration::from_secs(30));
    assert_eq!(out.code, Some(2), "{}", out.show());
    assert!(
        out.stderr()
            .contains("status': not a regular file (a FIFO)"),
        "{}",
        out.show()
    );
}

#[test]
fn a_socket_at_status_is_refused() {
    let root = small_root();
    let status = root.path().join(STATUS);
    fs::remove_file(&status).expect("rm status");
    let _listener = std::os::unix::net::UnixListener::bind(&status).expect("bind socket");
    assert_refused(root.path(), STATUS, &["--db-only"], "a socket");
}

#[test]
fn a_device_at_status_is_refused_without_opening_it() {
    if !common::root_or_skip("mknod needs root") {
        return;
    }
    let root = small_root();
    let status = root.path().join(STATUS);
    fs::remove_file(&status).expect("rm status");
    // /dev/zero's numbers: reading it would never end.
    nix::sys::stat::mknod(
        &status,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::S_IRUSR,
        nix::sys::stat::makedev(1, 5),
    )
    .expect("mknod");
    assert!(fs::symlink_metadata(&status)
        .unwrap()
        .file_type()
        .is_char_device());
    assert_refused(root.path(), STATUS, &["--db-only"], "a character device");
}

#[test]
fn a_fifo_as_a_maintainer_script_is_a_warning_and_no_hang() {
    // An unreadable script leaves its effects unknown, which verify has always reported as a
    // warning: the verdict comes from the files.
    let root = small_root();
    mkfifo(&root.path().join("var/lib/dpkg/info/demo.postinst"));
    let out = rescue(root.path(), "verify", &[], Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{}", out.show());
    assert!(
        out.stderr().contains("demo.postinst") && out.stderr().contains("FIFO"),
        "{}",
        out.show()
    );
}

#[test]
fn a_fifo_as_apt_list_or_cached_archive_is_refused_without_hanging() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let list = format!("var/lib/apt/lists/{}", debroot::APT_LIST);
    assert_fifo_refused(&fixture.root, &list, &[]);

    let fixture = DebRoot::new();
    let deb = fixture.package("demo").deb.clone();
    let name = deb.file_name().expect("name").to_str().expect("utf-8");
    assert_fifo_refused(
        &fixture.root,
        &format!("var/cache/apt/archives/{name}"),
        &[],
    );
    // restore names it too, and leaves the package unrestored rather than waiting.
    fs::remove_file(fixture.path("usr/bin/demo-tool")).expect("rm demo-tool");
    let out = rescue(
        &fixture.root,
        "restore",
        &["--yes"],
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(1), "{}", out.show());
    assert!(
        out.stdout().contains(name) || out.stderr().contains(name),
        "{}",
        out.show()
    );
}

// ---- case 8: memory ----

/// A root whose one package `bulk` has `list` as its `.list` (and no md5sums).
fn bulk_root(list: impl FnOnce(&mut fs::File)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let dpkg = dir.path().join("var/lib/dpkg");
    fs::create_dir_all(dpkg.join("info")).expect("mkdir");
    fs::create_dir_all(dir.path().join("usr/share")).expect("mkdir");
    fs::write(
        dpkg.join("status"),
        "Package: bulk\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\n",
    )
    .expect("status");
    let mut file = fs::File::create(dpkg.join("info/bulk.list")).expect("list");
    list(&mut file);
    dir
}

/// `verify --db-only --no-cache` of a bulk root, and its peak RSS; `None` without GNU time.
fn verify_bulk(root: &Path) -> Option<(Run, u64)> {
    rescue_measured(
        root,
        "verify",
        &["--db-only", "--no-cache"],
        Duration::from_secs(600),
    )
}

fn assert_within_budget(max_rss: u64, paths: u64, what: &str) {
    eprintln!(
        "{what}: peak RSS {:.1} MiB, budget {:.1} MiB",
        max_rss as f64 / (1 << 20) as f64,
        budget(paths) as f64 / (1 << 20) as f64
    );
    assert!(
        max_rss <= budget(paths),
        "{what}: peak RSS {max_rss} bytes over the budget of {} for {paths} paths",
        budget(paths)
    );
}

/// One hostile line between two good ones: reported by number and length, not printed, and
/// the good path after it still checked.
fn assert_long_line_refused(line: &[u8], what: &str) {
    use std::io::Write;
    let root = bulk_root(|file| {
        file.write_all(b"/.\n/usr\n").unwrap();
        file.write_all(line).unwrap();
        file.write_all(b"\n/usr/share/after-the-long-line\n")
            .unwrap();
    });
    let Some((run, max_rss)) = verify_bulk(root.path()) else {
        return;
    };
    assert_eq!(run.code, Some(2), "{what}: {}", run.show());
    let expected = format!("bulk.list:3: line of {} bytes", line.len());
    assert!(run.stderr().contains(&expected), "{what}: {}", run.show());
    assert!(
        run.stdout()
            .contains("/usr/share/after-the-long-line  missing"),
        "{what}: the rest of the list is checked: {}",
        run.show()
    );
    assert!(
        run.stdout.len() + run.stderr.len() < 4096,
        "{what}: the line is never printed ({} bytes of output)",
        run.stdout.len() + run.stderr.len()
    );
    assert_within_budget(max_rss, 3, what);
}

#[test]
fn one_100_mb_line_is_an_error_in_bounded_memory() {
    let mut line = vec![b'/'];
    line.resize(100 << 20, b'x');
    assert_long_line_refused(&line, "one 100 MB line");
}

#[test]
fn fifty_million_components_are_an_error_in_bounded_memory() {
    let mut line = vec![b'/'];
    line.extend(std::iter::repeat_n(b"a/", 50_000_000).flatten());
    assert_long_line_refused(&line, "'/' + 50 million 'a/'");
}

#[test]
fn two_million_paths_stay_within_the_budget() {
    use std::io::Write;
    const PATHS: u64 = 2_000_000;
    let root = bulk_root(|file| {
        let mut out = std::io::BufWriter::new(file);
        out.write_all(b"/.\n/usr\n/usr/share\n").unwrap();
        for i in 0..PATHS {
            writeln!(out, "/usr/share/bulk/file{i:07}").unwrap();
        }
        out.flush().unwrap();
    });
    let Some((run, max_rss)) = verify_bulk(root.path()) else {
        return;
    };
    assert_eq!(run.code, Some(1), "{}", run.show());
    let missing = run
        .stdout
        .split(|&b| b == b'\n')
        .filter(|line| line.ends_with(b"  missing"))
        .count();
    assert_eq!(missing as u64, PATHS, "every listed path checked");
    assert_within_budget(max_rss, PATHS + 3, "two million listed paths");
}

#[test]
fn this_hosts_database_stays_within_the_budget() {
    let info = Path::new("/var/lib/dpkg/info");
    if !Path::new("/var/lib/dpkg/status").is_file() {
        common::skip("this host has no dpkg database");
        return;
    }
    let paths: u64 = fs::read_dir(info)
        .expect("read info")
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|e| e == "list"))
        .map(|entry| {
            let list = fs::read(entry.path()).unwrap_or_default();
            list.iter().filter(|&&b| b == b'\n').count() as u64
        })
        .sum();
    let Some((run, max_rss)) = rescue_measured(
        Path::new("/"),
        "verify",
        &["--db-only", "--no-cache"],
        Duration::from_secs(600),
    ) else {
        return;
    };
    assert!(matches!(run.code, Some(0 | 1)), "{}", run.show());
    assert_within_budget(max_rss, paths, &format!("this host ({paths} paths)"));
}

#[test]
fn two_million_repeats_of_one_path_give_few_messages() {
    use std::io::Write;
    const LINES: u64 = 2_000_000;
    let root = bulk_root(|file| {
        let mut out = std::io::BufWriter::new(file);
        for _ in 0..LINES {
            out.write_all(b"/usr\n").unwrap();
        }
        out.flush().unwrap();
    });
    let Some((run, max_rss)) = verify_bulk(root.path()) else {
        return;
    };
    assert_eq!(run.code, Some(0), "warnings only: {}", run.show());
    let stderr = run.stderr();
    assert!(
        stderr.contains(&format!(
            "{} more problems in this file not shown",
            LINES - 21
        )),
        "{}",
        run.show()
    );
    assert!(stderr.lines().count() < 30, "{}", run.show());
    assert_within_budget(max_rss, LINES, "two million repeated lines");
}

#[test]
fn the_rss_probe_sees_memory_and_only_the_childs() {
    // The budget checks above are only as good as the measurement: a child that fills
    // 64 MiB must be seen using at least that, and a small one (this process holding
    // 256 MiB meanwhile) must not be charged for ours.
    let held = vec![1u8; 256 << 20];
    let root = small_root();
    let Some((run, small)) = rescue_measured(root.path(), "verify", &["--db-only"], SHORT) else {
        return;
    };
    assert_eq!(run.code, Some(0), "{}", run.show());
    assert!(small < 64 << 20, "a small run measured at {small} bytes");
    assert_eq!(held.iter().map(|&b| b as usize).sum::<usize>(), 256 << 20);
    if !common::have_or_skip("python3") {
        return;
    }
    let report = tempfile::NamedTempFile::new().expect("time report");
    let mut command = Command::new(GNU_TIME);
    command.args(["-f", "%M", "-o"]).arg(report.path()).args([
        "python3",
        "-c",
        "x = b'x' * (64 << 20)",
    ]);
    let run = run_bounded(command, SHORT);
    assert_eq!(run.code, Some(0), "{}", run.show());
    let kib: u64 = fs::read_to_string(report.path())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(kib * 1024 >= 64 << 20, "peak RSS {kib} KiB");
}
