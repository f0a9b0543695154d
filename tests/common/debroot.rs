//! A small real dpkg root for the restore tests, built with the real tools: `.deb`s made by
//! `dpkg-deb --build` from staging trees, installed by `dpkg --root=DIR -i` into a merged-/usr
//! root, so every fact the restore reads (status, info lists, md5sums, conffiles,
//! statoverride, apt lists) is what dpkg itself wrote.
//!
//! The packages:
//! - `demo` 1.0-1 amd64 (data.tar.xz): `/usr/bin/demo-su` (4755), `/usr/bin/demo-chage` owned
//!   by group 42 (2755, kept in the archive: built as root without `--root-owner-group`),
//!   `/usr/bin/demo-tool` (0755 in the archive; the root's statoverride makes it root:shadow
//!   2755), `./lib/x86_64-linux-gnu/libdemo.so.1` and the symlink `libdemo.so -> libdemo.so.1`
//!   shipped under `./lib/` the way bookworm's libc6 does (they land in `usr/lib` through the
//!   root's `lib -> usr/lib`), and the conffile `/etc/demo.conf`.
//! - `demo-data` 1.0-1 all (data.tar.zst): a few files under `/usr/share/demo-data`, a relative
//!   symlink, a nested directory.
//! - `demo-doc` 1.0-1 all (data.tar.gz): one file, so the three compressions dpkg-deb writes
//!   are all read.
//!
//! Every staged file carries the mtime [`ARCHIVE_MTIME`], so a restored file's mtime says
//! whether it came from the archive.
//!
//! Also here: [`snapshot`] (a tree as data, for before/after comparisons), a Packages index
//! writer, a mirror tree builder, and root-confined path resolution for reading dpkg's lists.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output};

/// The mtime of every file in the fixture archives (2023-11-14).
pub const ARCHIVE_MTIME: i64 = 1_700_000_000;

/// Where restore keeps journals and backups, relative to DIR.
pub const BACKUPS: &str = "var/backups/rescue";

/// Where `rescue verify` caches digests, relative to DIR: not a change to the system.
pub const DIGEST_CACHE: &str = "var/cache/rescue";

/// The suite the fixture's apt list and mirror name.
pub const SUITE: &str = "bookworm";

/// The file name of the fixture's apt list inside `DIR/var/lib/apt/lists`.
pub const APT_LIST: &str = "deb.example.org_debian_dists_bookworm_main_binary-amd64_Packages";

/// How to build the fixture.
#[derive(Clone, Debug)]
pub struct Options {
    /// Lines of DIR/var/lib/dpkg/statoverride, written before installing so dpkg applies them
    /// at unpack (default: `root shadow 2755 /usr/bin/demo-tool`).
    pub statoverrides: Vec<String>,
    /// Write DIR/var/lib/apt/lists/[`APT_LIST`] with the SHA256 of every built archive.
    pub apt_list: bool,
    /// Copy the built archives into DIR/var/cache/apt/archives.
    pub cache_archives: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            statoverrides: vec!["root shadow 2755 /usr/bin/demo-tool".into()],
            apt_list: true,
            cache_archives: true,
        }
    }
}

/// One built package.
#[derive(Clone, Debug)]
pub struct Built {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// The archive under `DebRoot::debs`, named `PKG_VERSION_ARCH.deb`.
    pub deb: PathBuf,
    /// Its staging tree (`DEBIAN/` included), kept so tests can build variants of it.
    pub staging: PathBuf,
}

/// A temporary directory holding the built archives (`debs/`), their staging trees
/// (`staging/`), and the installed root (`root/`).
pub struct DebRoot {
    tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub debs: PathBuf,
    pub packages: Vec<Built>,
}

/// Whether this machine can build the fixture: root (owners in archives, dpkg --root) and the
/// dpkg tools. Tests return early, saying why, when it cannot.
#[track_caller]
pub fn available() -> bool {
    super::root_or_skip("the dpkg fixture needs root")
        && ["dpkg", "dpkg-deb", "ar", "xz"]
            .into_iter()
            .all(super::have_or_skip)
}

impl DebRoot {
    pub fn new() -> DebRoot {
        DebRoot::with(Options::default())
    }

    pub fn with(options: Options) -> DebRoot {
        let tmp = tempfile::Builder::new()
            .prefix("rescue-debroot-")
            .tempdir()
            .expect("tempdir");
        let base = tmp.path().to_path_buf();
        let root = base.join("root");
        let debs = base.join("debs");
        fs::create_dir_all(&debs).expect("mkdir debs");
        let packages = vec![
            build_demo(&base.join("staging/demo"), &debs),
            build_demo_data(&base.join("staging/demo-data"), &debs),
            build_demo_doc(&base.join("staging/demo-doc"), &debs),
        ];
        make_empty_root(&root);
        if !options.statoverrides.is_empty() {
            let text: String = options
                .statoverrides
                .iter()
                .map(|line| format!("{line}\n"))
                .collect();
            fs::write(root.join("var/lib/dpkg/statoverride"), text).expect("write statoverride");
        }
        let fixture = DebRoot {
            tmp,
            root,
            debs,
            packages,
        };
        let archives: Vec<PathBuf> = fixture.packages.iter().map(|p| p.deb.clone()).collect();
        let mut install = Command::new("dpkg");
        install
            .arg(format!("--root={}", fixture.root.display()))
            .arg("-i")
            .args(&archives);
        let output = install.output().expect("run dpkg -i");
        assert_success("dpkg -i", &output);
        if options.cache_archives {
            let cache = fixture.root.join("var/cache/apt/archives");
            for deb in &archives {
                fs::copy(deb, cache.join(deb.file_name().expect("name"))).expect("copy to cache");
            }
        }
        if options.apt_list {
            fixture.write_apt_list(&archives);
        }
        fixture
    }

    /// The temporary directory all of this lives in (a place for sentinels and copies).
    pub fn base(&self) -> &Path {
        self.tmp.path()
    }

    /// `DIR/` + `path` (leading `/` ignored), not resolved.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    pub fn cache(&self) -> PathBuf {
        self.path("var/cache/apt/archives")
    }

    pub fn package(&self, name: &str) -> &Built {
        self.packages
            .iter()
            .find(|p| p.package == name)
            .unwrap_or_else(|| panic!("no fixture package {name}"))
    }

    /// Replaces DIR's apt list with one naming exactly `archives` (their SHA256 and sizes).
    pub fn write_apt_list(&self, archives: &[PathBuf]) {
        let lists = self.path("var/lib/apt/lists");
        fs::create_dir_all(&lists).expect("mkdir lists");
        fs::write(lists.join(APT_LIST), packages_index(archives)).expect("write apt list");
    }

    /// Every path the dpkg database says a package owns, as dpkg lists them (`/lib/...`).
    pub fn owned_paths(&self) -> Vec<PathBuf> {
        owned_paths(&self.root)
    }

    /// The tree under DIR, minus the restore's own bookkeeping (`var/backups/rescue`) and
    /// verify's digest cache (`var/cache/rescue`).
    pub fn snapshot(&self) -> Snapshot {
        snapshot(&self.root, &[BACKUPS, DIGEST_CACHE])
    }

    /// `dpkg --root=DIR --verify`: what it printed (stdout and stderr together).
    pub fn dpkg_verify(&self) -> String {
        dpkg_verify(&self.root)
    }

    /// The restore runs recorded under DIR/var/backups/rescue, oldest first.
    pub fn runs(&self) -> Vec<PathBuf> {
        runs(&self.root)
    }
}

/// `dpkg --root=ROOT --verify`: what it printed (stdout and stderr together).
pub fn dpkg_verify(root: &Path) -> String {
    let output = Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .arg("--verify")
        .output()
        .expect("run dpkg --verify");
    format!("{}{}", super::stdout(&output), super::stderr(&output))
}

/// The run directories under ROOT/var/backups/rescue, oldest first (run ids sort by time).
pub fn runs(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(root.join("var/backups/rescue"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// Every path ROOT's dpkg database says a package owns (`/.` excluded).
pub fn owned_paths(root: &Path) -> Vec<PathBuf> {
    let info = root.join("var/lib/dpkg/info");
    let mut out = Vec::new();
    let mut lists: Vec<PathBuf> = fs::read_dir(&info)
        .expect("read info")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension() == Some(OsStr::new("list")))
        .collect();
    lists.sort();
    for list in lists {
        let body = fs::read(&list).expect("read list");
        for line in body.split(|&b| b == b'\n') {
            if line.is_empty() || line == b"/." {
                continue;
            }
            out.push(PathBuf::from(OsStr::from_bytes(line)));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What `path` names inside `root` the way the kernel would inside `chroot root`: intermediate
/// symlinks followed (absolute targets restart at root), `..` stopping at root, the last
/// component not followed. Returns the host path.
pub fn resolve_in_root(root: &Path, path: &Path) -> PathBuf {
    let mut pending: Vec<PathBuf> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect();
    let mut done = PathBuf::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part.as_os_str() == ".." {
            done.pop();
            continue;
        }
        let candidate = done.join(&part);
        let host = root.join(&candidate);
        let is_last = pending.is_empty();
        match fs::symlink_metadata(&host) {
            Ok(meta) if meta.file_type().is_symlink() && !is_last => {
                hops += 1;
                assert!(hops <= 40, "too many symlinks resolving {}", path.display());
                let target = fs::read_link(&host).expect("readlink");
                if target.is_absolute() {
                    done = PathBuf::new();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => pending.push(PathBuf::from(n)),
                        Component::ParentDir => pending.push(PathBuf::from("..")),
                        _ => {}
                    }
                }
            }
            _ => done = candidate,
        }
    }
    root.join(done)
}

/// Runs a fixture-building command and fails loudly with its output.
pub fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        super::show(output)
    );
}

fn run(command: &mut Command) {
    let what = format!("{command:?}");
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_success(&what, &output);
}

/// An empty dpkg root with the merged-/usr aliases and the accounts the packages use.
fn make_empty_root(root: &Path) {
    for dir in [
        "usr/bin",
        "usr/sbin",
        "usr/lib",
        "usr/lib64",
        "etc/apt",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/info",
        "var/lib/dpkg/triggers",
        "var/lib/dpkg/alternatives",
        "var/lib/apt/lists",
        "var/cache/apt/archives/partial",
        "var/backups",
        "tmp",
    ] {
        fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    for alias in ["bin", "lib", "sbin", "lib64"] {
        std::os::unix::fs::symlink(format!("usr/{alias}"), root.join(alias)).expect("symlink");
    }
    fs::write(root.join("var/lib/dpkg/status"), "").expect("status");
    fs::write(root.join("var/lib/dpkg/available"), "").expect("available");
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
    )
    .expect("passwd");
    fs::write(
        root.join("etc/group"),
        "root:x:0:\ndaemon:x:1:\nadm:x:4:\nshadow:x:42:\nstaff:x:50:\n",
    )
    .expect("group");
    fs::write(
        root.join("etc/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
    )
    .expect("os-release");
    fs::write(
        root.join("etc/apt/sources.list"),
        "deb http://deb.example.org/debian bookworm main\n",
    )
    .expect("sources.list");
}

/// A staging tree under construction: files are written with their mode, owner and the
/// archive mtime; `finish` writes DEBIAN/control, conffiles and md5sums.
struct Staging {
    dir: PathBuf,
    md5sums: Vec<(String, String)>,
}

impl Staging {
    fn new(dir: &Path) -> Staging {
        fs::create_dir_all(dir.join("DEBIAN")).expect("mkdir DEBIAN");
        Staging {
            dir: dir.to_path_buf(),
            md5sums: Vec::new(),
        }
    }

    fn file(&mut self, path: &str, content: &[u8], mode: u32, owner: (u32, u32)) {
        let host = self.dir.join(path);
        fs::create_dir_all(host.parent().expect("parent")).expect("mkdir");
        fs::write(&host, content).expect("write staged file");
        std::os::unix::fs::chown(&host, Some(owner.0), Some(owner.1)).expect("chown");
        // chown clears setuid/setgid, so the mode comes last.
        fs::set_permissions(&host, fs::Permissions::from_mode(mode)).expect("chmod");
        self.md5sums
            .push((path.to_string(), super::md5_hex(content)));
    }

    fn symlink(&mut self, path: &str, target: &str) {
        let host = self.dir.join(path);
        fs::create_dir_all(host.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, &host).expect("symlink");
    }

    fn finish(self, control: &str, conffiles: &[&str]) -> PathBuf {
        let debian = self.dir.join("DEBIAN");
        fs::write(debian.join("control"), control).expect("control");
        if !conffiles.is_empty() {
            let text: String = conffiles.iter().map(|c| format!("{c}\n")).collect();
            fs::write(debian.join("conffiles"), text).expect("conffiles");
        }
        let text: String = self
            .md5sums
            .iter()
            .map(|(path, md5)| format!("{md5}  {path}\n"))
            .collect();
        fs::write(debian.join("md5sums"), text).expect("md5sums");
        // Every node, directories included, gets the archive mtime (symlinks too: touch -h).
        run(Command::new("find")
            .arg(&self.dir)
            .args(["-exec", "touch", "-h", "-d"])
            .arg(format!("@{ARCHIVE_MTIME}"))
            .args(["{}", "+"]));
        self.dir
    }
}

fn control(package: &str, architecture: &str, description: &str) -> String {
    format!(
        "Package: {package}\nVersion: 1.0-1\nArchitecture: {architecture}\nMaintainer: Rescue Tests <tests@example.org>\nInstalled-Size: 1\nSection: misc\nPriority: optional\nDescription: {description}\n rescue test fixture.\n"
    )
}

/// `dpkg-deb --build` with compression `-Z<compression>`; `keep_owners` builds without
/// `--root-owner-group` so the staging tree's owners (group 42) reach the archive.
pub fn build_deb(staging: &Path, out: &Path, compression: &str, keep_owners: bool) {
    let mut command = Command::new("dpkg-deb");
    command
        .env("SOURCE_DATE_EPOCH", ARCHIVE_MTIME.to_string())
        .arg(format!("-Z{compression}"));
    if !keep_owners {
        command.arg("--root-owner-group");
    }
    command.arg("--build").arg(staging).arg(out);
    run(&mut command);
}

fn finish_package(
    staging: Staging,
    package: &str,
    architecture: &str,
    conffiles: &[&str],
    compression: &str,
    keep_owners: bool,
    debs: &Path,
) -> Built {
    let staging = staging.finish(&control(package, architecture, package), conffiles);
    let deb = debs.join(format!("{package}_1.0-1_{architecture}.deb"));
    build_deb(&staging, &deb, compression, keep_owners);
    Built {
        package: package.into(),
        version: "1.0-1".into(),
        architecture: architecture.into(),
        deb,
        staging,
    }
}

fn build_demo(dir: &Path, debs: &Path) -> Built {
    let mut s = Staging::new(dir);
    let elfish = |name: &str| {
        let mut body = b"\x7fELF\x02\x01\x01\0fake binary ".to_vec();
        body.extend_from_slice(name.as_bytes());
        body.extend((0u32..600).map(|i| (i * 7 % 251) as u8));
        body
    };
    s.file("usr/bin/demo-tool", &elfish("demo-tool"), 0o755, (0, 0));
    s.file("usr/bin/demo-su", &elfish("demo-su"), 0o4755, (0, 0));
    s.file("usr/bin/demo-chage", &elfish("demo-chage"), 0o2755, (0, 42));
    s.file(
        "lib/x86_64-linux-gnu/libdemo.so.1",
        &elfish("libdemo.so.1"),
        0o644,
        (0, 0),
    );
    s.file(
        "lib/x86_64-linux-gnu/libdemo-extra.so.1",
        &elfish("libdemo-extra.so.1"),
        0o644,
        (0, 0),
    );
    s.symlink("lib/x86_64-linux-gnu/libdemo.so", "libdemo.so.1");
    s.file(
        "etc/demo.conf",
        b"# demo configuration\nverbose = no\n",
        0o644,
        (0, 0),
    );
    s.file(
        "usr/share/doc/demo/copyright",
        b"demo: public domain\n",
        0o644,
        (0, 0),
    );
    finish_package(s, "demo", "amd64", &["/etc/demo.conf"], "xz", true, debs)
}

fn build_demo_data(dir: &Path, debs: &Path) -> Built {
    let mut s = Staging::new(dir);
    s.file(
        "usr/share/demo-data/words.txt",
        b"alpha\nbeta\ngamma\n",
        0o644,
        (0, 0),
    );
    s.file(
        "usr/share/demo-data/nested/deep/table.csv",
        b"a,b\n1,2\n",
        0o644,
        (0, 0),
    );
    s.file(
        "usr/share/demo-data/run.sh",
        b"#!/bin/sh\necho demo\n",
        0o755,
        (0, 0),
    );
    s.symlink("usr/share/demo-data/current", "words.txt");
    s.symlink("usr/share/demo-data/table.csv", "nested/deep/table.csv");
    finish_package(s, "demo-data", "all", &[], "zstd", false, debs)
}

fn build_demo_doc(dir: &Path, debs: &Path) -> Built {
    let mut s = Staging::new(dir);
    s.file(
        "usr/share/doc/demo-doc/README",
        b"Read me: gzip-compressed data member.\n",
        0o644,
        (0, 0),
    );
    finish_package(s, "demo-doc", "all", &[], "gzip", false, debs)
}

/// A Packages index (deb822) for `archives`, each under `pool/main/<initial>/<pkg>/<file>`.
pub fn packages_index(archives: &[PathBuf]) -> String {
    let mut out = String::new();
    for deb in archives {
        let output = Command::new("dpkg-deb")
            .arg("--field")
            .arg(deb)
            .output()
            .expect("dpkg-deb --field");
        assert_success("dpkg-deb --field", &output);
        let fields = super::stdout(&output);
        let package = fields
            .lines()
            .find_map(|l| l.strip_prefix("Package: "))
            .expect("Package field")
            .trim()
            .to_string();
        let body = fs::read(deb).expect("read deb");
        let file_name = deb
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let mut paragraph = fields.trim_end().to_string();
        paragraph.push_str(&format!(
            "\nFilename: {}\nSize: {}\nMD5sum: {}\nSHA256: {}\n\n",
            pool_path(&package, &file_name),
            body.len(),
            super::md5_hex(&body),
            super::sha256_hex(&body)
        ));
        out.push_str(&paragraph);
    }
    out
}

pub fn pool_path(package: &str, file_name: &str) -> String {
    let initial = &package[..1];
    format!("pool/main/{initial}/{package}/{file_name}")
}

/// A mirror tree at `dir`: `pool/main/...` holding `archives`, and
/// `dists/bookworm/main/binary-amd64/Packages{,.xz}` naming them.
pub fn make_mirror(dir: &Path, archives: &[PathBuf]) {
    for deb in archives {
        let output = Command::new("dpkg-deb")
            .args(["--field"])
            .arg(deb)
            .arg("Package")
            .output()
            .expect("dpkg-deb");
        let package = super::stdout(&output).trim().to_string();
        let name = deb
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let target = dir.join(pool_path(&package, &name));
        fs::create_dir_all(target.parent().expect("parent")).expect("mkdir pool");
        fs::copy(deb, &target).expect("copy to pool");
    }
    let binary = dir.join(format!("dists/{SUITE}/main/binary-amd64"));
    fs::create_dir_all(&binary).expect("mkdir dists");
    let index = packages_index(archives);
    fs::write(binary.join("Packages"), &index).expect("write Packages");
    run(Command::new("xz").arg("-k").arg(binary.join("Packages")));
    fs::write(
        dir.join(format!("dists/{SUITE}/Release")),
        format!("Suite: {SUITE}\nCodename: {SUITE}\nArchitectures: amd64\nComponents: main\n"),
    )
    .expect("write Release");
}

/// `cp -a FROM TO`: a copy keeping owners, modes, links and times.
pub fn copy_tree(from: &Path, to: &Path) {
    run(Command::new("cp").arg("-a").arg(from).arg(to));
}

/// One node of a [`Snapshot`].
#[derive(Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The raw `security.capability` extended attribute (read without following a symlink),
    /// None when there is none.
    pub capability: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Kind {
    /// Size, SHA256 of the content, mtime (seconds, nanoseconds).
    File {
        size: u64,
        sha256: String,
        mtime: (i64, i64),
    },
    /// Directory mtimes are left out: creating or removing a child changes them.
    Directory,
    Symlink {
        target: PathBuf,
    },
    /// Devices, fifos, sockets: the raw `st_rdev`.
    Special {
        rdev: u64,
    },
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut owner = format!("{:o} {}:{}", self.mode, self.uid, self.gid);
        if let Some(capability) = &self.capability {
            owner.push_str(&format!(" capability={}", super::hex(capability)));
        }
        match &self.kind {
            Kind::File {
                size,
                sha256,
                mtime,
            } => write!(
                f,
                "file {owner} size={size} sha256={}.. mtime={}.{:09}",
                &sha256[..12],
                mtime.0,
                mtime.1
            ),
            Kind::Directory => write!(f, "dir {owner}"),
            Kind::Symlink { target } => write!(f, "symlink {owner} -> {}", target.display()),
            Kind::Special { rdev } => write!(f, "special {owner} rdev={rdev}"),
        }
    }
}

/// A tree as data: every path under a directory (relative, lexical: symlinks not followed)
/// with its type, mode (setuid bits included), owner, group, and for files size, content hash
/// and mtime, for symlinks the target.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Snapshot(pub BTreeMap<PathBuf, Node>);

impl Snapshot {
    /// A readable list of differences, empty when equal.
    pub fn diff(&self, other: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for (path, node) in &self.0 {
            match other.0.get(path) {
                None => out.push(format!("- {}: {node:?}", path.display())),
                Some(theirs) if theirs != node => {
                    out.push(format!("~ {}: {node:?}  =>  {theirs:?}", path.display()))
                }
                _ => {}
            }
        }
        for (path, node) in &other.0 {
            if !self.0.contains_key(path) {
                out.push(format!("+ {}: {node:?}", path.display()));
            }
        }
        out
    }

    /// Panics with the differences when `other` differs from `self`.
    pub fn assert_same(&self, other: &Snapshot, what: &str) {
        let diff = self.diff(other);
        assert!(
            diff.is_empty(),
            "{what}: {} difference(s):\n{}",
            diff.len(),
            diff.join("\n")
        );
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.0.get(Path::new(path.trim_start_matches('/')))
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (path, node) in &self.0 {
            writeln!(f, "{}: {node:?}", path.display())?;
        }
        Ok(())
    }
}

/// The node at `host`, or None when nothing is there.
pub fn node_at(host: &Path) -> Option<Node> {
    let meta = fs::symlink_metadata(host).ok()?;
    let file_type = meta.file_type();
    let kind = if file_type.is_symlink() {
        Kind::Symlink {
            target: fs::read_link(host).expect("readlink"),
        }
    } else if file_type.is_dir() {
        Kind::Directory
    } else if file_type.is_file() {
        let body = fs::read(host).expect("read file");
        Kind::File {
            size: meta.len(),
            sha256: super::sha256_hex(&body),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    } else {
        Kind::Special { rdev: meta.rdev() }
    };
    Some(Node {
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        capability: capability_of(host),
    })
}

/// The raw `security.capability` attribute of `host` itself (a symlink is not followed), or
/// None when it has none (or the file system keeps no extended attributes).
pub fn capability_of(host: &Path) -> Option<Vec<u8>> {
    let path = std::ffi::CString::new(host.as_os_str().as_bytes()).expect("path without NUL");
    let name = c"security.capability";
    // SAFETY: both strings are NUL-terminated; a null buffer of length 0 asks for the size.
    let size = unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
    if size < 0 {
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOTSUP) | Some(libc::ENOENT) => return None,
            _ => panic!("lgetxattr {}: {err}", host.display()),
        }
    }
    let mut buf = vec![0u8; size as usize];
    // SAFETY: buf has room for `size` bytes.
    let read = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert!(
        read >= 0,
        "lgetxattr {}: {}",
        host.display(),
        std::io::Error::last_os_error()
    );
    buf.truncate(read as usize);
    Some(buf)
}

/// Snapshots `dir`, leaving out the relative paths in `exclude` and everything below them.
pub fn snapshot(dir: &Path, exclude: &[&str]) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        if exclude.iter().any(|e| rel == Path::new(e)) {
            continue;
        }
        let host = dir.join(&rel);
        let Some(node) = node_at(&host) else { continue };
        if matches!(node.kind, Kind::Directory) {
            let mut children: Vec<PathBuf> = fs::read_dir(&host)
                .expect("read_dir")
                .flatten()
                .map(|e| rel.join(e.file_name()))
                .collect();
            children.sort();
            stack.extend(children);
        }
        out.insert(rel, node);
    }
    Snapshot(out)
}

/// `rescue restore --yes ARGS` on the fixture's root.
pub fn restore(fixture: &DebRoot, args: &[&str]) -> Output {
    let mut all = vec!["--yes"];
    all.extend_from_slice(args);
    super::rescue_in(&fixture.root, "restore", &all)
}

/// `rescue undo ARGS` on the fixture's root.
pub fn undo(fixture: &DebRoot, args: &[&str]) -> Output {
    super::rescue_in(&fixture.root, "undo", args)
}

/// The steps of a journal as fields: `stage PATH`, `replace PATH BACKUP`, ... with `%XX`
/// escapes decoded. A last line without its newline was cut by a kill and is left out.
pub fn journal_steps(journal: &Path) -> Vec<Vec<Vec<u8>>> {
    let body = fs::read(journal).expect("read journal");
    let complete = match body.iter().rposition(|&b| b == b'\n') {
        Some(end) => &body[..end],
        None => return Vec::new(),
    };
    complete
        .split(|&b| b == b'\n')
        .map(|line| line.split(|&b| b == b'\t').map(unescape).collect())
        .collect()
}

fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'%' && i + 2 < field.len() {
            let hex = std::str::from_utf8(&field[i + 1..i + 3]).ok();
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}
