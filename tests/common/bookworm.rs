//! One real Debian root shared by every test that needs one: a bookworm minbase debootstrap
//! with [`PACKAGES`], the packages whose maintainer scripts set metadata that neither their
//! archives nor dpkg-statoverride know (setgid ssh-agent, the crontabs spool, sudoers 0440,
//! ping's file capability, exim4's directories, ...).
//!
//! The debootstrap (about 80 s, network) is done once per machine and kept as
//! `/var/cache/rescue-tests/bookworm-managed-<key>.tar` ([`tarball_path`]), packed with
//! `--xattrs` so ping's `security.capability` survives; the archives debootstrap downloaded
//! stay in `/var/cache/rescue-tests/debs`. Several test binaries may ask for it at once: the
//! build is serialized with an flock, written under a `.partial` name and renamed, so a reader
//! never sees half a tarball. Each test extracts its own copy ([`BookwormRoot::extract`]).
//!
//! Also here: [`managed_paths`], the tests' own answer (independent of the tool) to "which
//! package paths carry metadata their archive does not say".

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::debroot::{self, Snapshot};

pub const SUITE: &str = "bookworm";
pub const VARIANT: &str = "minbase";
pub const MIRROR: &str = "http://deb.debian.org/debian";

/// Installed on top of minbase: every package issue 7 names.
pub const PACKAGES: &[&str] = &[
    "openssh-server",
    "cron",
    "at",
    "sudo",
    "dbus",
    "iputils-ping",
    "libcap2-bin",
    "man-db",
    "plocate",
    "exim4-daemon-light",
];

/// Where the tarballs, the lock and the downloaded archives live.
pub const CACHE: &str = "/var/cache/rescue-tests";
/// debootstrap's `--cache-dir`: every archive it downloaded.
pub const DEB_CACHE: &str = "/var/cache/rescue-tests/debs";

/// The tar flags both ways: numeric owners (ROOT's accounts are not this host's) and every
/// extended attribute (`security.capability`).
const TAR_FLAGS: &[&str] = &["--numeric-owner", "--xattrs", "--xattrs-include=*"];

/// What the tarball is a build of: changing the suite, the variant or the list names a new
/// tarball, so a stale one is never used.
pub fn key() -> String {
    format!("{SUITE} {VARIANT} {}", PACKAGES.join(","))
}

/// `/var/cache/rescue-tests/bookworm-managed-<first 12 hex digits of sha256(key())>.tar`.
pub fn tarball_path() -> PathBuf {
    let digest = super::sha256_hex(key().as_bytes());
    PathBuf::from(format!("{CACHE}/bookworm-managed-{}.tar", &digest[..12]))
}

/// The cached tarball, built first when missing; None (saying why) when it is missing and
/// cannot be built here.
pub fn tarball() -> Option<PathBuf> {
    let tarball = tarball_path();
    if tarball.is_file() {
        return Some(tarball);
    }
    if !super::root_or_skip(&format!(
        "no {} and building it needs root",
        tarball.display()
    )) || !super::have_or_skip("debootstrap")
    {
        return None;
    }
    fs::create_dir_all(DEB_CACHE).expect("mkdir deb cache");
    // One builder at a time, across test binaries: the others wait here, then find it built.
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(format!("{CACHE}/bookworm-managed.lock"))
        .expect("open lock file");
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .expect("flock");
    if tarball.is_file() {
        return Some(tarball);
    }
    let build = PathBuf::from(format!("{CACHE}/build-managed-{}", std::process::id()));
    debootstrap(&build);
    let partial = PathBuf::from(format!(
        "{}.{}.partial",
        tarball.display(),
        std::process::id()
    ));
    run(Command::new("tar")
        .args(TAR_FLAGS)
        .arg("-cpf")
        .arg(&partial)
        .arg("-C")
        .arg(&build)
        .arg("."));
    fs::rename(&partial, &tarball).expect("rename tarball");
    fs::remove_dir_all(&build).expect("rm build");
    Some(tarball)
}

/// Runs debootstrap into `build`, up to three attempts; panics with the log when all fail.
fn debootstrap(build: &Path) {
    let mut log = String::new();
    for attempt in 1..=3 {
        let _ = fs::remove_dir_all(build);
        let output = Command::new("debootstrap")
            .arg(format!("--variant={VARIANT}"))
            .arg(format!("--include={}", PACKAGES.join(",")))
            .arg(format!("--cache-dir={DEB_CACHE}"))
            .arg(SUITE)
            .arg(build)
            .arg(MIRROR)
            .output()
            .expect("run debootstrap");
        if output.status.success() {
            return;
        }
        let detail =
            fs::read_to_string(build.join("debootstrap/debootstrap.log")).unwrap_or_default();
        let tail: Vec<&str> = detail.lines().rev().take(60).collect();
        log = format!(
            "attempt {attempt}: {:?}\nstdout:\n{}\nstderr:\n{}\ndebootstrap.log (last lines):\n{}",
            output.status,
            super::stdout(&output),
            super::stderr(&output),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        eprintln!("debootstrap failed, {log}");
        std::thread::sleep(Duration::from_secs(5));
    }
    panic!("debootstrap failed three times; last:\n{log}");
}

fn run(command: &mut Command) -> std::process::Output {
    let what = format!("{command:?}");
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    debroot::assert_success(&what, &output);
    output
}

/// A private copy of the shared root, removed on drop.
pub struct BookwormRoot {
    dir: TempDir,
    pub root: PathBuf,
}

impl BookwormRoot {
    /// Extracts the cached tarball (building it first when missing) into a new temporary
    /// directory, and fills ROOT's apt cache with every archive debootstrap downloaded (what
    /// restore and the deep verify read). None, saying why, when not root or no tarball.
    pub fn extract() -> Option<BookwormRoot> {
        if !super::root_or_skip("a debootstrap root needs root (owners, chroot)") {
            return None;
        }
        let tarball = tarball()?;
        let dir = tempfile::Builder::new()
            .prefix("rescue-bookworm-")
            .tempdir()
            .expect("tempdir");
        let root = dir.path().join("root");
        fs::create_dir(&root).expect("mkdir root");
        run(Command::new("tar")
            .args(TAR_FLAGS)
            .arg("-xpf")
            .arg(&tarball)
            .arg("-C")
            .arg(&root));
        let archives = root.join("var/cache/apt/archives");
        fs::create_dir_all(&archives).expect("mkdir archives");
        for entry in fs::read_dir(DEB_CACHE).expect("read deb cache").flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "deb") {
                let target = archives.join(entry.file_name());
                if !target.exists() {
                    fs::copy(&path, &target).expect("copy deb into ROOT");
                }
            }
        }
        Some(BookwormRoot { dir, root })
    }

    /// The temporary directory ROOT lives in.
    pub fn base(&self) -> &Path {
        self.dir.path()
    }

    /// `ROOT/` + `path` (leading `/` ignored), not resolved.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// The whole tree under ROOT minus `exclude` (relative paths).
    pub fn snapshot(&self, exclude: &[&str]) -> Snapshot {
        debroot::snapshot(&self.root, exclude)
    }
}

/// A package path whose metadata its package's archive does not give, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Managed {
    /// Absolute inside ROOT, resolved the way the kernel would inside `chroot ROOT`
    /// (`/bin/ping` in the list is `/usr/bin/ping` here).
    pub path: PathBuf,
    /// The package that owns it (its archive's header, or dpkg's lists); empty when none does.
    pub package: String,
    pub why: String,
}

/// One installed package as `var/lib/dpkg/status` says.
struct Installed {
    package: String,
    version: String,
    architecture: String,
}

fn installed(root: &Path) -> Vec<Installed> {
    let status = fs::read_to_string(root.join("var/lib/dpkg/status")).expect("read status");
    let mut out = Vec::new();
    for paragraph in status.split("\n\n") {
        let field = |name: &str| {
            paragraph
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        if field("Status").as_deref() != Some("install ok installed") {
            continue;
        }
        out.push(Installed {
            package: field("Package").expect("Package"),
            version: field("Version").expect("Version"),
            architecture: field("Architecture").expect("Architecture"),
        });
    }
    out
}

/// `name:x:id:...` lines of ROOT's passwd or group.
fn ids(file: &Path) -> BTreeMap<String, u32> {
    fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("read {}: {e}", file.display()))
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?.parse().ok()?;
            Some((name.to_string(), id))
        })
        .collect()
}

/// `/` + the path of `host` relative to `root`.
fn inside(root: &Path, host: &Path) -> PathBuf {
    Path::new("/").join(host.strip_prefix(root).expect("path under root"))
}

/// Each package (without `:arch`) with the paths its `.list` names, `/.` left out.
pub fn package_lists(root: &Path) -> Vec<(String, Vec<PathBuf>)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(root.join("var/lib/dpkg/info"))
        .expect("read info")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".list") else {
            continue;
        };
        let package = stem.split(':').next().unwrap_or(stem).to_string();
        let body = fs::read(entry.path()).expect("read list");
        let listed = body
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty() && *line != b"/.")
            .map(|line| PathBuf::from(std::ffi::OsStr::from_bytes(line)))
            .collect();
        out.push((package, listed));
    }
    out
}

/// Every package path whose metadata does not come from its archive, found without the tool:
/// - a path whose pristine lstat differs in mode, owner or group from every tar header that
///   ships it (`dpkg-deb --fsys-tarfile` of the installed version in ROOT's apt cache, header
///   names resolved in ROOT's passwd and group the way dpkg does, numbers when unknown; a
///   directory in the archive that is a symlink in ROOT, the merged-/usr aliases, is dpkg's
///   rule at work, not a difference);
/// - every regular file carrying `security.capability` (no archive can carry one);
/// - every path in ROOT's `var/lib/dpkg/statoverride`.
///
/// Sorted by path, one entry per path (reasons joined).
pub fn managed_paths(root: &Path) -> Vec<Managed> {
    let users = ids(&root.join("etc/passwd"));
    let groups = ids(&root.join("etc/group"));
    // Who owns what, by resolved host path.
    let mut owner_of: BTreeMap<PathBuf, String> = BTreeMap::new();
    for (package, listed) in package_lists(root) {
        for listed in listed {
            owner_of
                .entry(debroot::resolve_in_root(root, &listed))
                .or_insert_with(|| package.clone());
        }
    }
    let diversions = diversions(root);

    // Every header that ships a path, by resolved host path: (package, mode, uid, gid).
    type Header = (String, u32, u32, u32);
    let mut headers: BTreeMap<PathBuf, Vec<Header>> = BTreeMap::new();
    let archives = root.join("var/cache/apt/archives");
    for package in installed(root) {
        let file = format!(
            "{}_{}_{}.deb",
            package.package,
            package.version.replace(':', "%3a"),
            package.architecture
        );
        let deb = [archives.join(&file), Path::new(DEB_CACHE).join(&file)]
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("no archive {file} for installed {}", package.package));
        let mut child = Command::new("dpkg-deb")
            .arg("--fsys-tarfile")
            .arg(&deb)
            .stdout(Stdio::piped())
            .spawn()
            .expect("run dpkg-deb --fsys-tarfile");
        let mut archive = tar::Archive::new(child.stdout.take().expect("stdout"));
        for entry in archive.entries().expect("tar entries") {
            let entry = entry.expect("tar entry");
            let header = entry.header();
            let path = entry.path().expect("entry path").into_owned();
            let listed = Path::new("/").join(path.strip_prefix(".").unwrap_or(&path));
            if listed == Path::new("/") {
                continue;
            }
            let listed = match diversions.get(&listed) {
                Some((to, by)) if *by != package.package => to.clone(),
                _ => listed,
            };
            let host = debroot::resolve_in_root(root, &listed);
            let Some(meta) = fs::symlink_metadata(&host).ok() else {
                continue; // not there on the pristine root: not a metadata question
            };
            if header.entry_type().is_dir() && meta.file_type().is_symlink() {
                continue; // ./bin/ in the archive, bin -> usr/bin in ROOT: dpkg's rule
            }
            let uid = match header.username().ok().flatten() {
                Some(name) if users.contains_key(name) => users[name],
                _ => header.uid().expect("uid") as u32,
            };
            let gid = match header.groupname().ok().flatten() {
                Some(name) if groups.contains_key(name) => groups[name],
                _ => header.gid().expect("gid") as u32,
            };
            headers.entry(host).or_default().push((
                package.package.clone(),
                header.mode().expect("mode") & 0o7777,
                uid,
                gid,
            ));
        }
        let status = child.wait().expect("wait dpkg-deb");
        assert!(
            status.success(),
            "dpkg-deb --fsys-tarfile {}: {status}",
            deb.display()
        );
    }

    let mut found: BTreeMap<PathBuf, Managed> = BTreeMap::new();
    let mut add = |host: &Path, package: &str, why: String| {
        let path = inside(root, host);
        let package = if package.is_empty() {
            owner_of.get(host).cloned().unwrap_or_default()
        } else {
            package.to_string()
        };
        found
            .entry(path.clone())
            .and_modify(|m| {
                m.why.push_str("; ");
                m.why.push_str(&why);
            })
            .or_insert(Managed { path, package, why });
    };

    for (host, shipped) in &headers {
        let meta = fs::symlink_metadata(host).expect("lstat");
        let symlink = meta.file_type().is_symlink();
        let mode = meta.mode() & 0o7777;
        let matches = |(_, h_mode, h_uid, h_gid): &Header| {
            (symlink || *h_mode == mode) && *h_uid == meta.uid() && *h_gid == meta.gid()
        };
        if shipped.iter().any(matches) {
            continue;
        }
        let (package, h_mode, h_uid, h_gid) = &shipped[0];
        add(
            host,
            package,
            format!(
                "archive {h_mode:04o} {h_uid}:{h_gid}, pristine {mode:04o} {}:{}",
                meta.uid(),
                meta.gid()
            ),
        );
    }

    for host in files_with_capability(root) {
        let capability = debroot::capability_of(&host).expect("capability");
        add(
            &host,
            "",
            format!("security.capability {}", super::hex(&capability)),
        );
    }

    let statoverride =
        fs::read_to_string(root.join("var/lib/dpkg/statoverride")).unwrap_or_default();
    for line in statoverride.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [owner, group, mode, path] = fields[..] else {
            panic!("statoverride line {line:?}");
        };
        let host = debroot::resolve_in_root(root, Path::new(path));
        add(&host, "", format!("statoverride {owner} {group} {mode}"));
    }

    found.into_values().collect()
}

/// ROOT's `var/lib/dpkg/diversions`: diverted path -> (where it lives, diverting package).
fn diversions(root: &Path) -> BTreeMap<PathBuf, (PathBuf, String)> {
    let text = fs::read_to_string(root.join("var/lib/dpkg/diversions")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(3)
        .filter(|c| c.len() == 3)
        .map(|c| (PathBuf::from(c[0]), (PathBuf::from(c[1]), c[2].to_string())))
        .collect()
}

/// Every regular file under `root` with a `security.capability` attribute (symlinks not
/// followed), sorted.
pub fn files_with_capability(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && debroot::capability_of(&path).is_some() {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Every path dpkg's lists name, resolved in ROOT (host paths).
pub fn owned_host_paths(root: &Path) -> BTreeSet<PathBuf> {
    debroot::owned_paths(root)
        .iter()
        .map(|p| debroot::resolve_in_root(root, p))
        .collect()
}

/// Several independent checks in one test: each failure is kept, and all of them are reported
/// together at the end, so one broken expectation does not hide the next.
#[derive(Default)]
pub struct Checks(Vec<String>);

impl Checks {
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    /// Panics with every failed check.
    pub fn finish(self) {
        assert!(
            self.0.is_empty(),
            "{} check(s) failed:\n\n{}",
            self.0.len(),
            self.0.join("\n\n")
        );
    }
}
