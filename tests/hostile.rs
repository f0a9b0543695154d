//! Archives `rescue restore` must refuse: unsafe member names, links out of the root, device
//! nodes, a hash that does not match the index, another version, truncation, a compression it
//! does not know. Each must end with a non-zero exit naming the archive, DIR exactly as it was
//! (not one file restored from a half-read archive), and nothing written outside DIR (a
//! sentinel directory beside it, which the hostile members aim at, stays empty).
//!
//! The extraction-level cases are made to pass every trust check first: their control member
//! is the genuine one (md5sums equal dpkg's) and DIR's apt list is rewritten to carry their
//! SHA256, so what refuses them is the extractor, not the trust step.
//!
//! Archives are crafted with python3's tarfile (which writes any name it is given) and put
//! together with binutils `ar`, members in dpkg's order.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::debroot::{self, DebRoot, Snapshot};

/// Rewrites a data tar: the genuine members first, then `extra` (a JSON list), compressed as
/// `xz`, `gz`, `lzma` (the old .lzma "alone" format) or `none`.
const REWRITE_DATA: &str = r#"
import io, json, lzma, gzip, sys, tarfile
src, dst, comp, extra = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
members = []
with tarfile.open(src, "r:*") as tin:
    for m in tin.getmembers():
        members.append((m, tin.extractfile(m).read() if m.isfile() else None))
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tout:
    for m, data in members:
        tout.addfile(m, io.BytesIO(data) if data is not None else None)
    for e in extra:
        ti = tarfile.TarInfo(e["name"])
        ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 1700000000, 0, 0, "root", "root"
        kind = e["kind"]
        if kind == "file":
            data = e["content"].encode()
            ti.size, ti.mode = len(data), 0o644
            tout.addfile(ti, io.BytesIO(data))
        elif kind == "symlink":
            ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, e["target"], 0o777
            tout.addfile(ti)
        elif kind == "hardlink":
            ti.type, ti.linkname, ti.mode = tarfile.LNKTYPE, e["target"], 0o644
            tout.addfile(ti)
        elif kind in ("chr", "blk"):
            ti.type = tarfile.CHRTYPE if kind == "chr" else tarfile.BLKTYPE
            ti.devmajor, ti.devminor, ti.mode = e["major"], e["minor"], 0o600
            tout.addfile(ti)
        else:
            raise SystemExit("unknown kind " + kind)
raw = buf.getvalue()
if comp == "xz":
    raw = lzma.compress(raw, format=lzma.FORMAT_XZ)
elif comp == "lzma":
    raw = lzma.compress(raw, format=lzma.FORMAT_ALONE)
elif comp == "gz":
    raw = gzip.compress(raw)
open(dst, "wb").write(raw)
"#;

fn available() -> bool {
    debroot::available() && common::have_or_skip("python3")
}

fn run(command: &mut Command) {
    let what = format!("{command:?}");
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    debroot::assert_success(&what, &output);
}

/// A fixture with `demo` damaged (so restore wants its archive) and an empty sentinel
/// directory outside DIR.
struct Scene {
    fixture: DebRoot,
    sentinel: PathBuf,
    before: Snapshot,
}

impl Scene {
    fn new() -> Scene {
        let fixture = DebRoot::new();
        fs::remove_file(fixture.path("usr/bin/demo-tool")).expect("damage");
        fs::remove_file(fixture.path("usr/lib/x86_64-linux-gnu/libdemo.so.1")).expect("damage");
        let sentinel = fixture.base().join("sentinel");
        fs::create_dir(&sentinel).expect("mkdir sentinel");
        Scene {
            before: Snapshot::default(),
            fixture,
            sentinel,
        }
    }

    fn sentinel(&self) -> String {
        self.sentinel.to_string_lossy().into_owned()
    }

    /// The genuine demo archive's members, unpacked with `ar x` into a fresh directory.
    fn genuine_members(&self, name: &str) -> PathBuf {
        let work = self.fixture.base().join(format!("craft-{name}"));
        fs::create_dir(&work).expect("mkdir craft");
        run(Command::new("ar")
            .arg("x")
            .arg(&self.fixture.package("demo").deb)
            .current_dir(&work));
        work
    }

    /// The genuine demo archive with `extra` members appended to its data tar, compressed as
    /// `compression` (member `data.tar.<ext>`).
    fn crafted(&self, name: &str, extra: &str, compression: &str) -> PathBuf {
        let work = self.genuine_members(name);
        let ext = match compression {
            "none" => "",
            "gz" => ".gz",
            "lzma" => ".lzma",
            _ => ".xz",
        };
        let data = format!("data.tar{ext}");
        run(Command::new("python3")
            .arg("-c")
            .arg(REWRITE_DATA)
            .arg(work.join("data.tar.xz"))
            .arg(work.join(format!("new-{data}")))
            .arg(compression)
            .arg(extra));
        fs::remove_file(work.join("data.tar.xz")).expect("rm");
        fs::rename(work.join(format!("new-{data}")), work.join(&data)).expect("rename");
        self.assemble(&work, &data)
    }

    /// `ar rc` in dpkg's member order.
    fn assemble(&self, work: &Path, data: &str) -> PathBuf {
        let out = work.join("demo_1.0-1_amd64.deb");
        run(Command::new("ar")
            .args([
                "rc",
                "demo_1.0-1_amd64.deb",
                "debian-binary",
                "control.tar.xz",
            ])
            .arg(data)
            .current_dir(work));
        out
    }

    /// Puts `deb` in DIR's apt cache in place of the genuine demo archive, under `cache_name`;
    /// with `bless`, DIR's apt list carries its SHA256 (so only the extractor can refuse it).
    fn plant(&mut self, deb: &Path, cache_name: &str, bless: bool) {
        let cache = self.fixture.cache();
        fs::remove_file(cache.join("demo_1.0-1_amd64.deb")).expect("rm genuine");
        fs::copy(deb, cache.join(cache_name)).expect("plant");
        if bless {
            let mut archives: Vec<PathBuf> = self
                .fixture
                .packages
                .iter()
                .filter(|p| p.package != "demo")
                .map(|p| p.deb.clone())
                .collect();
            archives.push(cache.join(cache_name));
            self.fixture.write_apt_list(&archives);
        }
        self.before = self.fixture.snapshot();
    }

    /// Runs the restore and checks the refusal: exit 1 or 2, the archive named, one of
    /// `reasons` said (case-insensitive; none asked for when empty), DIR unchanged, the
    /// sentinel empty. Returns everything the tool said.
    fn refused(&self, archive_name: &str, reasons: &[&str]) -> String {
        let output = common::rescue_in(&self.fixture.root, "restore", &["--yes"]);
        let said = common::said(&output);
        eprintln!("{said}");
        assert!(
            matches!(output.status.code(), Some(1 | 2)),
            "exit {:?}, want 1 or 2:\n{said}",
            output.status
        );
        assert!(
            said.contains(archive_name),
            "the message does not name {archive_name}:\n{said}"
        );
        let lower = said.to_lowercase();
        assert!(
            reasons.is_empty() || reasons.iter().any(|r| lower.contains(&r.to_lowercase())),
            "the message gives none of the reasons {reasons:?}:\n{said}"
        );
        self.before
            .assert_same(&self.fixture.snapshot(), "DIR after a refused archive");
        let outside: Vec<_> = fs::read_dir(&self.sentinel)
            .expect("read sentinel")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(outside.is_empty(), "written outside DIR: {outside:?}");
        said
    }
}

fn json_entries(entries: &[String]) -> String {
    format!("[{}]", entries.join(","))
}

fn file_entry(name: &str) -> String {
    format!(r#"{{"kind":"file","name":{name:?},"content":"pwned\n"}}"#)
}

#[test]
fn dotdot_member_names_are_refused() {
    if !available() {
        return;
    }
    let mut scene = Scene::new();
    let s = scene.sentinel();
    let extra = json_entries(&[
        file_entry(&format!("./../../../../../../../../../../..{s}/pwned")),
        file_entry(&format!("./usr/../../../../../../../../../..{s}/pwned2")),
    ]);
    let deb = scene.crafted("dotdot", &extra, "xz");
    scene.plant(&deb, "demo_1.0-1_amd64.deb", true);
    scene.refused("demo_1.0-1_amd64.deb", &[".."]);
}

#[test]
fn absolute_member_names_are_refused() {
    if !available() {
        return;
    }
    let mut scene = Scene::new();
    let s = scene.sentinel();
    let extra = json_entries(&[file_entry(&format!("{s}/pwned"))]);
    let deb = scene.crafted("absolute", &extra, "xz");
    scene.plant(&deb, "demo_1.0-1_amd64.deb", true);
    scene.refused("demo_1.0-1_amd64.deb", &["absolute"]);
}

#[test]
fn symlink_then_file_through_it_is_refused() {
    if !available() {
        return;
    }
    let mut scene = Scene::new();
    let s = scene.sentinel();
    let extra = json_entries(&[
        format!(r#"{{"kind":"symlink","name":"./usr/share/evil","target":{s:?}}}"#),
        file_entry("./usr/share/evil/pwned"),
        format!(
            r#"{{"kind":"symlink","name":"./usr/share/evil2","target":"../../../../../../../..{s}"}}"#
        ),
        file_entry("./usr/share/evil2/pwned2"),
    ]);
    let deb = scene.crafted("symlink", &extra, "xz");
    scene.plant(&deb, "demo_1.0-1_amd64.deb", true);
    scene.refused("demo_1.0-1_amd64.deb", &["symlink"]);
    assert!(!Path::new("/tmp/outside/pwned").exists());
}

#[test]
fn hard_link_out_of_the_archive_is_refused() {
    if !available() {
        return;
    }
    let mut scene = Scene::new();
    let s = scene.sentinel();
    fs::write(scene.sentinel.join("..").join("secret"), b"secret").expect("write secret");
    let extra = json_entries(&[
        r#"{"kind":"hardlink","name":"./usr/share/doc/demo/shadow","target":"../../etc/shadow"}"#
            .to_string(),
        r#"{"kind":"hardlink","name":"./usr/share/doc/demo/shadow2","target":"../../../../../../../../../etc/shadow"}"#
            .to_string(),
        format!(
            r#"{{"kind":"hardlink","name":"./usr/share/doc/demo/secret","target":"{s}/../secret"}}"#
        ),
    ]);
    let deb = scene.crafted("hardlink", &extra, "xz");
    scene.plant(&deb, "demo_1.0-1_amd64.deb", true);
    let shadow_links = fs::metadata("/etc/shadow").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.nlink()
    });
    scene.refused("demo_1.0-1_amd64.deb", &["..", "link"]);
    let after = fs::metadata("/etc/shadow").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.nlink()
    });
    assert_eq!(
        shadow_links.ok(),
        after.ok(),
        "the host's /etc/shadow gained a link"
    );
}

#[test]
fn device_nodes_are_refused() {
    if !available() {
        return;
    }
    let mut scene = Scene::new();
    let extra = json_entries(&[
        r#"{"kind":"blk","name":"./usr/share/doc/demo/sda","major":8,"minor":0}"#.to_string(),
        r#"{"kind":"chr","name":"./usr/share/doc/demo/mem","major":1,"minor":1}"#.to_string(),
    ]);
    let deb = scene.crafted("device", &extra, "xz");
    scene.plant(&deb, "demo_1.0-1_amd64.deb", true);
    scene.refused("demo_1.0-1_amd64.deb", &["device"]);
}

#[test]
fn sha256_mismatch_with_apt_list_is_refused() {
    if !available() {
        return;
    }
    let mut scene = Scene::new();
    // Same control member (md5sums equal dpkg's), other data: only the index hash and the
    // per-file md5 can tell. DIR's apt list keeps the genuine SHA256.
    let work = scene.genuine_members("tampered");
    let staging = scene.fixture.package("demo").staging.clone();
    let tampered_root = scene.fixture.base().join("tampered-staging");
    debroot::copy_tree(&staging, &tampered_root);
    fs::write(tampered_root.join("usr/bin/demo-tool"), b"trojan").expect("write");
    let rebuilt = scene.fixture.base().join("tampered.deb");
    debroot::build_deb(&tampered_root, &rebuilt, "xz", true);
    let rebuilt_members = scene.fixture.base().join("tampered-members");
    fs::create_dir(&rebuilt_members).expect("mkdir");
    run(Command::new("ar")
        .arg("x")
        .arg(&rebuilt)
        .current_dir(&rebuilt_members));
    fs::copy(
        rebuilt_members.join("data.tar.xz"),
        work.join("data.tar.xz"),
    )
    .expect("copy data");
    let deb = scene.assemble(&work, "data.tar.xz");
    scene.plant(&deb, "demo_1.0-1_amd64.deb", false);
    // Refused by the index hash, or failing that by the per-file md5 check.
    scene.refused("demo_1.0-1_amd64.deb", &["SHA256", "md5"]);
}

/// demo 1.0-2, built from the same staging tree with another version.
fn other_version(scene: &Scene) -> PathBuf {
    let staging = scene.fixture.package("demo").staging.clone();
    let copy = scene.fixture.base().join("staging-1.0-2");
    debroot::copy_tree(&staging, &copy);
    let control = fs::read_to_string(copy.join("DEBIAN/control")).expect("control");
    fs::write(
        copy.join("DEBIAN/control"),
        control.replace("Version: 1.0-1", "Version: 1.0-2"),
    )
    .expect("control");
    let deb = scene.fixture.base().join("demo_1.0-2_amd64.deb");
    debroot::build_deb(&copy, &deb, "xz", true);
    deb
}

#[test]
fn another_version_is_refused() {
    if !available() {
        return;
    }
    let mut scene = Scene::new();
    let deb = other_version(&scene);
    scene.plant(&deb, "demo_1.0-2_amd64.deb", true);
    let said = scene.refused("demo_1.0-2_amd64.deb", &["1.0-2"]);
    assert!(
        said.contains("1.0-1"),
        "names the installed version:\n{said}"
    );
}

#[test]
fn another_version_under_the_installed_versions_name_is_refused() {
    if !available() {
        return;
    }
    let mut scene = Scene::new();
    let deb = other_version(&scene);
    scene.plant(&deb, "demo_1.0-1_amd64.deb", true);
    scene.refused("demo_1.0-1_amd64.deb", &["1.0-2"]);
}

#[test]
fn archive_cut_in_half_is_refused() {
    if !available() {
        return;
    }
    let mut scene = Scene::new();
    let genuine = fs::read(&scene.fixture.package("demo").deb).expect("read deb");
    let cut = scene.fixture.base().join("demo_1.0-1_amd64.deb");
    fs::write(&cut, &genuine[..genuine.len() / 2]).expect("write");
    scene.plant(&cut, "demo_1.0-1_amd64.deb", true);
    scene.refused("demo_1.0-1_amd64.deb", &[]);
}

#[test]
fn truncated_xz_data_member_is_refused() {
    if !available() {
        return;
    }
    let mut scene = Scene::new();
    // A well-formed ar archive whose data.tar.xz stream ends early: only decompression sees it.
    let work = scene.genuine_members("truncated");
    let data = fs::read(work.join("data.tar.xz")).expect("read");
    fs::write(work.join("data.tar.xz"), &data[..data.len() * 2 / 3]).expect("write");
    let deb = scene.assemble(&work, "data.tar.xz");
    scene.plant(&deb, "demo_1.0-1_amd64.deb", true);
    scene.refused(
        "demo_1.0-1_amd64.deb",
        &["eof", "truncated", "unexpected end", "corrupt"],
    );
}

#[test]
fn unknown_data_compression_is_an_error_naming_it() {
    if !available() {
        return;
    }
    let mut scene = Scene::new();
    let deb = scene.crafted("lzma", "[]", "lzma");
    scene.plant(&deb, "demo_1.0-1_amd64.deb", true);
    scene.refused("demo_1.0-1_amd64.deb", &["data.tar.lzma"]);
}
