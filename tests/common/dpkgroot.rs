//! A dpkg root built on disk for verify/restore tests: `var/lib/dpkg/status`, `info/*.list`,
//! `info/*.md5sums`, `diversions`, `statoverride`, the real files with matching digests, and a
//! merged-/usr layout (`bin -> usr/bin`, `sbin -> usr/sbin`, `lib -> usr/lib`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use super::md5_hex;

/// One package to write into the root.
pub struct Pkg {
    pub name: String,
    pub arch: String,
    pub version: String,
    pub status: String,
    pub multi_arch_same: bool,
    /// Directories the package lists (no digest, existence only).
    pub dirs: Vec<Vec<u8>>,
    /// Regular files with content, listed in `.list` and (if `md5sums`) `.md5sums`.
    pub files: Vec<(Vec<u8>, Vec<u8>)>,
    /// Symlinks: (path, target).
    pub links: Vec<(Vec<u8>, Vec<u8>)>,
    /// Conffiles: (path, content, extra flag such as "obsolete", or "newconffile").
    pub conffiles: Vec<(Vec<u8>, Vec<u8>, &'static str)>,
    pub md5sums: bool,
}

impl Pkg {
    pub fn new(name: &str) -> Pkg {
        Pkg {
            name: name.into(),
            arch: "amd64".into(),
            version: "1.0-1".into(),
            status: "install ok installed".into(),
            multi_arch_same: false,
            dirs: Vec::new(),
            files: Vec::new(),
            links: Vec::new(),
            conffiles: Vec::new(),
            md5sums: true,
        }
    }

    pub fn dir(mut self, path: impl AsRef<[u8]>) -> Pkg {
        self.dirs.push(path.as_ref().to_vec());
        self
    }

    pub fn file(mut self, path: impl AsRef<[u8]>, content: impl AsRef<[u8]>) -> Pkg {
        self.files
            .push((path.as_ref().to_vec(), content.as_ref().to_vec()));
        self
    }

    pub fn link(mut self, path: &str, target: &str) -> Pkg {
        self.links.push((path.into(), target.into()));
        self
    }

    pub fn conffile(mut self, path: &str, content: &str, flag: &'static str) -> Pkg {
        self.conffiles.push((path.into(), content.into(), flag));
        self
    }

    pub fn status(mut self, status: &str) -> Pkg {
        self.status = status.into();
        self
    }

    pub fn multi_arch_same(mut self) -> Pkg {
        self.multi_arch_same = true;
        self
    }

    pub fn without_md5sums(mut self) -> Pkg {
        self.md5sums = false;
        self
    }
}

pub struct DpkgRoot {
    pub dir: tempfile::TempDir,
    status: String,
}

impl DpkgRoot {
    /// An empty merged-/usr root with an empty multiarch-format dpkg database.
    pub fn new() -> DpkgRoot {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for sub in [
            "usr/bin",
            "usr/sbin",
            "usr/lib",
            "etc",
            "var/lib/dpkg/info",
            "var/cache",
        ] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        for alias in ["bin", "sbin", "lib"] {
            std::os::unix::fs::symlink(format!("usr/{alias}"), root.join(alias)).expect("symlink");
        }
        std::fs::write(root.join("var/lib/dpkg/info/format"), "1\n").expect("format");
        // dpkg --root refuses to read a database it cannot lock for nothing; these are the
        // files and directories a real one has.
        std::fs::create_dir_all(root.join("var/lib/dpkg/updates")).expect("updates");
        std::fs::write(root.join("var/lib/dpkg/available"), "").expect("available");
        DpkgRoot {
            dir,
            status: String::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The host path of an inside path, written lexically (symlinks in ROOT are followed by the
    /// kernel: `lib/x` lands in `usr/lib/x`, as dpkg would have put it).
    pub fn host(&self, inside: impl AsRef<[u8]>) -> PathBuf {
        let inside = inside.as_ref();
        let inside = inside.strip_prefix(b"/").unwrap_or(inside);
        self.path().join(OsStr::from_bytes(inside))
    }

    pub fn info(&self, name: &str) -> PathBuf {
        self.path().join("var/lib/dpkg/info").join(name)
    }

    pub fn add(&mut self, pkg: Pkg) -> &mut Self {
        let info_name = if pkg.multi_arch_same {
            format!("{}:{}", pkg.name, pkg.arch)
        } else {
            pkg.name.clone()
        };
        let mut list: Vec<u8> = b"/.\n".to_vec();
        let mut sums = Vec::new();
        for dir in &pkg.dirs {
            std::fs::create_dir_all(self.host(dir)).expect("mkdir");
            list.extend_from_slice(dir);
            list.push(b'\n');
        }
        for (path, content) in &pkg.files {
            let host = self.host(path);
            std::fs::create_dir_all(host.parent().expect("parent")).expect("mkdir");
            std::fs::write(&host, content).expect("write");
            list.extend_from_slice(path);
            list.push(b'\n');
            sums.extend_from_slice(md5_hex(content).as_bytes());
            sums.extend_from_slice(b"  ");
            sums.extend_from_slice(&path[1..]);
            sums.push(b'\n');
        }
        for (path, target) in &pkg.links {
            std::os::unix::fs::symlink(OsStr::from_bytes(target), self.host(path))
                .expect("symlink");
            list.extend_from_slice(path);
            list.push(b'\n');
        }
        let mut stanza = format!(
            "Package: {}\nStatus: {}\nPriority: optional\nSection: misc\nMaintainer: Test <t@example.org>\nArchitecture: {}\n",
            pkg.name, pkg.status, pkg.arch
        );
        if pkg.multi_arch_same {
            stanza.push_str("Multi-Arch: same\n");
        }
        stanza.push_str(&format!("Version: {}\n", pkg.version));
        if !pkg.conffiles.is_empty() {
            stanza.push_str("Conffiles:\n");
        }
        for (path, content, flag) in &pkg.conffiles {
            let host = self.host(path);
            std::fs::create_dir_all(host.parent().expect("parent")).expect("mkdir");
            std::fs::write(&host, content).expect("write");
            list.extend_from_slice(path);
            list.push(b'\n');
            let path = String::from_utf8_lossy(path);
            match *flag {
                "newconffile" => stanza.push_str(&format!(" {path} newconffile\n")),
                "" => stanza.push_str(&format!(" {path} {}\n", md5_hex(content))),
                flag => stanza.push_str(&format!(" {path} {} {flag}\n", md5_hex(content))),
            }
        }
        stanza.push_str("Description: test package\n a package built by the test suite\n\n");
        self.status.push_str(&stanza);
        std::fs::write(self.path().join("var/lib/dpkg/status"), &self.status).expect("status");
        std::fs::write(self.info(&format!("{info_name}.list")), &list).expect("list");
        if pkg.md5sums {
            std::fs::write(self.info(&format!("{info_name}.md5sums")), &sums).expect("md5sums");
        }
        self
    }

    pub fn diversion(&mut self, from: &str, to: &str, by: &str) -> &mut Self {
        let file = self.path().join("var/lib/dpkg/diversions");
        let mut text = std::fs::read_to_string(&file).unwrap_or_default();
        text.push_str(&format!("{from}\n{to}\n{by}\n"));
        std::fs::write(file, text).expect("diversions");
        self
    }

    pub fn statoverride(&mut self, line: &str) -> &mut Self {
        let file = self.path().join("var/lib/dpkg/statoverride");
        let mut text = std::fs::read_to_string(&file).unwrap_or_default();
        text.push_str(line);
        text.push('\n');
        std::fs::write(file, text).expect("statoverride");
        self
    }

    /// `rescue verify --root ROOT ARGS`.
    pub fn verify(&self, args: &[&str]) -> Output {
        super::rescue()
            .arg("verify")
            .arg("--root")
            .arg(self.path())
            .args(args)
            .output()
            .expect("run rescue verify")
    }

    /// `dpkg --root=ROOT --verify`, or `None` when dpkg is not installed.
    pub fn dpkg_verify(&self) -> Option<Output> {
        if !super::have_or_skip("dpkg") {
            return None;
        }
        let mut root = OsStr::new("--root=").to_os_string();
        root.push(self.path());
        Some(
            std::process::Command::new("dpkg")
                .arg(root)
                .arg("--verify")
                .output()
                .expect("run dpkg"),
        )
    }
}

/// Output lines as a sorted set of byte strings.
pub fn line_set(bytes: &[u8]) -> std::collections::BTreeSet<Vec<u8>> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| line.to_vec())
        .collect()
}
