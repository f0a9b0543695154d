//! `rescue restore` and `rescue undo` on a real dpkg root (see `common/debroot.rs`): damage it
//! the ways the bad day does, restore, and check the result with dpkg itself
//! (`dpkg --root=DIR --verify` prints nothing), with `rescue verify`, and with a full snapshot
//! of the tree (type, mode, owner, group, content, symlink target, file mtime) against the
//! pristine one. Then `rescue undo` must give back the damaged tree exactly.
//!
//! Snapshots leave out `var/backups/rescue` (the restore's own journal and backups) and
//! directory mtimes; everything else under DIR is compared, so a stray temp file, a directory
//! created with the wrong mode, or a lost setuid bit all fail.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::debroot::{self, restore, DebRoot, Kind, Snapshot, ARCHIVE_MTIME};
use common::{assert_exit, rescue_in, said, show};

/// The undamaged root must already satisfy both checkers, or the comparisons prove nothing.
fn assert_clean(fixture: &DebRoot, when: &str) {
    assert_eq!(fixture.dpkg_verify(), "", "dpkg --verify {when}");
    let verify = rescue_in(&fixture.root, "verify", &[]);
    assert_exit(&verify, 0, &format!("rescue verify {when}"));
}

/// Pristine snapshot, `damage`, restore with `args`, compare with pristine, undo, compare with
/// the damaged snapshot. Returns the fixture and both snapshots for further checks, or None
/// when the fixture cannot be built here (see `debroot::available`).
fn restore_and_undo(
    damage: impl FnOnce(&DebRoot),
    args: &[&str],
) -> Option<(DebRoot, Snapshot, Snapshot)> {
    if !debroot::available() {
        return None;
    }
    let fixture = DebRoot::new();
    let pristine = fixture.snapshot();
    assert_eq!(
        fixture.dpkg_verify(),
        "",
        "dpkg --verify on the pristine root"
    );
    damage(&fixture);
    let damaged = fixture.snapshot();
    assert_ne!(pristine, damaged, "the damage changed nothing");
    if !fixture.dpkg_verify().is_empty() {
        // Damage dpkg can see from its database alone; owner and mode damage needs the
        // archive columns of verify, which are tested with verify itself.
        let verify = rescue_in(&fixture.root, "verify", &[]);
        assert_exit(&verify, 1, "rescue verify on the damaged root");
    }

    let restored = restore(&fixture, args);
    assert_exit(&restored, 0, "rescue restore");
    pristine.assert_same(&fixture.snapshot(), "after restore (pristine => restored)");
    assert_clean(&fixture, "after restore");
    assert_eq!(fixture.runs().len(), 1, "one run recorded");
    let journal = fixture.runs()[0].join("journal");
    assert!(journal.is_file(), "{} missing", journal.display());

    let undone = rescue_in(&fixture.root, "undo", &[]);
    assert_exit(&undone, 0, "rescue undo");
    damaged.assert_same(&fixture.snapshot(), "after undo (damaged => undone)");
    Some((fixture, pristine, damaged))
}

fn rm(fixture: &DebRoot, path: &str) {
    let host = fixture.path(path);
    let meta = fs::symlink_metadata(&host).expect("damage: lstat");
    if meta.is_dir() {
        fs::remove_dir_all(&host).expect("damage: rm -r");
    } else {
        fs::remove_file(&host).expect("damage: rm");
    }
}

fn chmod(fixture: &DebRoot, path: &str, mode: u32) {
    fs::set_permissions(fixture.path(path), fs::Permissions::from_mode(mode)).expect("chmod");
}

fn chown(fixture: &DebRoot, path: &str, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(fixture.path(path), Some(uid), Some(gid)).expect("chown");
}

fn retarget(fixture: &DebRoot, path: &str, target: &str) {
    rm(fixture, path);
    symlink(target, fixture.path(path)).expect("symlink");
}

fn delete_files(f: &DebRoot) {
    rm(f, "usr/bin/demo-tool");
    rm(f, "usr/bin/demo-su");
    rm(f, "usr/lib/x86_64-linux-gnu/libdemo.so");
    rm(f, "usr/share/demo-data/words.txt");
    rm(f, "usr/share/doc/demo-doc/README");
}

fn delete_multiarch_dir(f: &DebRoot) {
    rm(f, "usr/lib/x86_64-linux-gnu");
}

/// `lib` replaced by a real directory holding a stray copy of one library.
fn stray_lib_directory(f: &DebRoot) {
    rm(f, "lib");
    fs::create_dir_all(f.path("lib/x86_64-linux-gnu")).expect("mkdir");
    fs::copy(
        f.path("usr/lib/x86_64-linux-gnu/libdemo.so.1"),
        f.path("lib/x86_64-linux-gnu/libdemo.so.1"),
    )
    .expect("stray copy");
}

fn overwrite(f: &DebRoot) {
    fs::write(
        f.path("usr/bin/demo-su"),
        b"#!/bin/sh\necho other root's su\n",
    )
    .expect("write");
    fs::write(f.path("usr/lib/x86_64-linux-gnu/libdemo.so.1"), b"other").expect("write");
    fs::write(f.path("usr/share/demo-data/words.txt"), b"delta\n").expect("write");
}

fn drop_setuid(f: &DebRoot) {
    chmod(f, "usr/bin/demo-su", 0o755);
    chmod(f, "usr/bin/demo-chage", 0o755);
    // demo-tool is 2755 only through the statoverride; the archive says 0755.
    chmod(f, "usr/bin/demo-tool", 0o755);
}

fn change_owner(f: &DebRoot) {
    chown(f, "usr/bin/demo-chage", 1, 1);
    chown(f, "usr/share/demo-data/words.txt", 1, 4);
    chown(f, "usr/share/demo-data/current", 1, 1);
    chown(f, "usr/share/demo-data/nested", 1, 50);
}

fn retarget_symlinks(f: &DebRoot) {
    retarget(
        f,
        "usr/lib/x86_64-linux-gnu/libdemo.so",
        "libdemo-extra.so.1",
    );
    retarget(f, "usr/share/demo-data/current", "/etc/passwd");
}

fn file_to_directory(f: &DebRoot) {
    rm(f, "usr/share/demo-data/words.txt");
    fs::create_dir_all(f.path("usr/share/demo-data/words.txt/sub")).expect("mkdir");
    fs::write(f.path("usr/share/demo-data/words.txt/sub/junk"), b"junk").expect("write");
}

fn delete_conffile(f: &DebRoot) {
    rm(f, "etc/demo.conf");
}

fn modify_conffile(f: &DebRoot) {
    fs::write(f.path("etc/demo.conf"), b"# admin's own\nverbose = yes\n").expect("write");
}

#[test]
fn pristine_fixture_passes_dpkg_verify() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    assert_clean(&fixture, "on the pristine root");
    let snap = fixture.snapshot();
    // The facts the other tests rely on: dpkg put ./lib/... behind the alias, kept the archive
    // owners and mtimes, and applied the statoverride.
    let node = |p: &str| {
        snap.get(p)
            .unwrap_or_else(|| panic!("{p} missing:\n{snap:?}"))
            .clone()
    };
    assert!(matches!(node("lib").kind, Kind::Symlink { .. }));
    assert!(matches!(
        node("usr/lib/x86_64-linux-gnu/libdemo.so.1").kind,
        Kind::File {
            mtime: (ARCHIVE_MTIME, 0),
            ..
        }
    ));
    assert_eq!(node("usr/bin/demo-su").mode, 0o4755);
    let chage = node("usr/bin/demo-chage");
    assert_eq!((chage.mode, chage.uid, chage.gid), (0o2755, 0, 42));
    let tool = node("usr/bin/demo-tool");
    assert_eq!(
        (tool.mode, tool.uid, tool.gid),
        (0o2755, 0, 42),
        "statoverride"
    );
    let owned = fixture.owned_paths();
    assert!(owned.contains(&PathBuf::from("/lib/x86_64-linux-gnu/libdemo.so.1")));
    assert!(owned.contains(&PathBuf::from("/etc/demo.conf")));
    for path in &owned {
        let host = debroot::resolve_in_root(&fixture.root, path);
        assert!(
            fs::symlink_metadata(&host).is_ok(),
            "{} -> {}",
            path.display(),
            host.display()
        );
    }
}

#[test]
fn deleted_files_are_restored() {
    let Some((_fixture, pristine, _)) = restore_and_undo(delete_files, &[]) else {
        return;
    };
    // Explicitly: the statoverride beat the archive's root:root 0755.
    let tool = pristine
        .get("usr/bin/demo-tool")
        .expect("pristine demo-tool");
    assert_eq!((tool.mode, tool.gid), (0o2755, 42));
}

#[test]
fn deleted_multiarch_directory_behind_lib_alias_is_restored() {
    restore_and_undo(delete_multiarch_dir, &[]);
}

#[test]
fn deleted_lib_alias_is_recreated_as_symlink() {
    restore_and_undo(|f| rm(f, "lib"), &[]);
}

#[test]
fn real_directory_in_place_of_lib_alias_goes_to_backup() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let stray = fs::read(fixture.path("usr/lib/x86_64-linux-gnu/libdemo.so.1")).expect("read");
    stray_lib_directory(&fixture);
    let damaged = fixture.snapshot();
    let restored = restore(&fixture, &[]);
    assert_exit(&restored, 0, "rescue restore");
    assert!(
        fs::symlink_metadata(fixture.path("lib"))
            .expect("lib")
            .file_type()
            .is_symlink(),
        "lib is a symlink again"
    );
    assert_eq!(
        fs::read_link(fixture.path("lib")).expect("readlink"),
        Path::new("usr/lib")
    );
    assert_eq!(fixture.dpkg_verify(), "");
    // The stray directory was moved into the run's backup, not deleted.
    let run = fixture.runs().pop().expect("a run");
    let backups = debroot::snapshot(&run, &[]);
    let stray_hash = common::sha256_hex(&stray);
    assert!(
        backups.0.iter().any(
            |(path, node)| path.ends_with("x86_64-linux-gnu/libdemo.so.1")
                && matches!(&node.kind, Kind::File { sha256, .. } if *sha256 == stray_hash)
        ),
        "the stray copy is not in {}:\n{backups:?}",
        run.display()
    );
    let undone = rescue_in(&fixture.root, "undo", &[]);
    assert_exit(&undone, 0, "rescue undo");
    damaged.assert_same(&fixture.snapshot(), "after undo");
}

#[test]
fn real_directory_in_place_of_lib_alias_round_trip() {
    restore_and_undo(stray_lib_directory, &[]);
}

#[test]
fn overwritten_files_get_archive_content_and_mtime() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    overwrite(&fixture);
    let restored = restore(&fixture, &[]);
    assert_exit(&restored, 0, "rescue restore");
    for path in ["usr/bin/demo-su", "usr/lib/x86_64-linux-gnu/libdemo.so.1"] {
        let node = debroot::node_at(&fixture.path(path)).expect(path);
        assert!(
            matches!(
                node.kind,
                Kind::File {
                    mtime: (ARCHIVE_MTIME, 0),
                    ..
                }
            ),
            "{path}: {node:?}"
        );
    }
    let su = debroot::node_at(&fixture.path("usr/bin/demo-su")).expect("demo-su");
    assert_eq!(su.mode, 0o4755, "setuid on the restored file");
    assert_eq!(fixture.dpkg_verify(), "");
}

#[test]
fn overwritten_files_round_trip() {
    restore_and_undo(overwrite, &[]);
}

#[test]
fn dropped_setuid_and_setgid_are_restored() {
    restore_and_undo(drop_setuid, &[]);
}

#[test]
fn changed_owners_are_restored() {
    restore_and_undo(change_owner, &[]);
}

#[test]
fn retargeted_symlinks_are_restored() {
    restore_and_undo(retarget_symlinks, &[]);
}

#[test]
fn directory_in_place_of_a_file_is_replaced() {
    restore_and_undo(file_to_directory, &[]);
}

#[test]
fn deleted_conffile_is_restored_by_default() {
    restore_and_undo(delete_conffile, &[]);
}

#[test]
fn modified_conffile_is_left_alone_without_conffiles_flag() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    modify_conffile(&fixture);
    rm(&fixture, "usr/bin/demo-tool");
    let damaged = fixture.snapshot();
    let restored = restore(&fixture, &[]);
    // Everything else is fixed; whether a deliberately kept conffile counts as "left unfixed"
    // is not what this test pins down.
    assert!(
        matches!(restored.status.code(), Some(0 | 1)),
        "{}",
        show(&restored)
    );
    let after = fixture.snapshot();
    assert_eq!(
        damaged.get("etc/demo.conf"),
        after.get("etc/demo.conf"),
        "the admin's conffile must be untouched"
    );
    assert!(
        after.get("usr/bin/demo-tool").is_some(),
        "demo-tool restored"
    );
    let run = fixture.runs().pop().expect("a run");
    assert!(
        !run.join("files/etc/demo.conf").exists(),
        "an untouched conffile has no backup"
    );
    // dpkg --verify reports exactly the conffile and nothing else.
    let verify = fixture.dpkg_verify();
    assert_eq!(verify.trim(), "??5?????? c /etc/demo.conf", "{verify}");
}

#[test]
fn modified_conffile_is_restored_with_conffiles_flag_and_backed_up() {
    let Some((fixture, _, damaged)) = restore_and_undo(modify_conffile, &["--conffiles"]) else {
        return;
    };
    let run = fixture.runs().pop().expect("a run");
    let backup = run.join("files/etc/demo.conf");
    let Some(Kind::File { sha256, .. }) = damaged.get("etc/demo.conf").map(|n| n.kind.clone())
    else {
        panic!("damaged conffile is not a file")
    };
    let body = fs::read(&backup).expect("backup of the modified conffile");
    assert_eq!(
        common::sha256_hex(&body),
        sha256,
        "backup holds the admin's version"
    );
}

#[test]
fn combined_damage_is_restored_and_undone() {
    restore_and_undo(
        |f| {
            overwrite(f);
            drop_setuid(f);
            change_owner(f);
            retarget_symlinks(f);
            // The story: the multiarch directory deleted through the alias, then a stray real
            // `lib` directory left where the alias was.
            delete_multiarch_dir(f);
            stray_lib_directory_without_source(f);
            file_to_directory(f);
            delete_conffile(f);
            rm(f, "usr/share/doc/demo-doc/README");
            rm(f, "usr/share/demo-data/nested");
        },
        &[],
    );
}

/// Like [`stray_lib_directory`] but for when usr/lib/x86_64-linux-gnu is already gone.
fn stray_lib_directory_without_source(f: &DebRoot) {
    rm(f, "lib");
    fs::create_dir_all(f.path("lib/x86_64-linux-gnu")).expect("mkdir");
    fs::write(f.path("lib/x86_64-linux-gnu/libdemo.so.1"), b"stray").expect("stray copy");
}

#[test]
fn dry_run_lists_actions_and_changes_nothing() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    rm(&fixture, "usr/bin/demo-tool");
    chmod(&fixture, "usr/bin/demo-su", 0o755);
    let before = debroot::snapshot(&fixture.root, &[debroot::DIGEST_CACHE]);
    let output = rescue_in(&fixture.root, "restore", &["--dry-run", "--yes"]);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        show(&output)
    );
    before.assert_same(
        &debroot::snapshot(&fixture.root, &[debroot::DIGEST_CACHE]),
        "after --dry-run",
    );
    let text = said(&output);
    assert!(text.contains("/usr/bin/demo-tool"), "{text}");
    assert!(text.contains("/usr/bin/demo-su"), "{text}");
}

#[test]
fn without_yes_and_without_terminal_prints_plan_and_exits_1() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    rm(&fixture, "usr/bin/demo-tool");
    let before = debroot::snapshot(&fixture.root, &[debroot::DIGEST_CACHE]);
    let output = rescue_in(&fixture.root, "restore", &[]);
    assert_exit(&output, 1, "restore without --yes, stdin not a terminal");
    before.assert_same(
        &debroot::snapshot(&fixture.root, &[debroot::DIGEST_CACHE]),
        "after restore without --yes",
    );
    assert!(
        said(&output).contains("/usr/bin/demo-tool"),
        "{}",
        show(&output)
    );
}

#[test]
fn missing_archive_names_package_and_suggests_from() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    fs::remove_file(fixture.cache().join("demo_1.0-1_amd64.deb")).expect("rm cached deb");
    rm(&fixture, "usr/bin/demo-tool");
    rm(&fixture, "usr/share/doc/demo-doc/README");
    let output = restore(&fixture, &[]);
    assert_exit(&output, 1, "restore with an archive missing");
    let text = said(&output);
    assert!(text.contains("demo"), "{text}");
    assert!(text.contains("--from"), "no --from suggestion: {text}");
    assert!(
        text.contains("http://deb.example.org/debian"),
        "the suggestion names the mirror from ROOT's apt sources: {text}"
    );
    // What could be fixed was fixed.
    assert!(fixture.path("usr/share/doc/demo-doc/README").is_file());
    assert!(!fixture.path("usr/bin/demo-tool").exists());
}

/// Empties DIR's apt cache so only `--from` can provide archives.
fn empty_cache(fixture: &DebRoot) {
    for entry in fs::read_dir(fixture.cache()).expect("read cache").flatten() {
        if entry.path().extension().is_some_and(|e| e == "deb") {
            fs::remove_file(entry.path()).expect("rm");
        }
    }
}

fn combined_light(f: &DebRoot) {
    delete_multiarch_dir(f);
    overwrite_binaries(f);
    rm(f, "usr/share/demo-data/words.txt");
    rm(f, "usr/share/doc/demo-doc/README");
}

fn overwrite_binaries(f: &DebRoot) {
    fs::write(f.path("usr/bin/demo-su"), b"other").expect("write");
    fs::write(f.path("usr/bin/demo-tool"), b"other").expect("write");
}

fn restore_from(fixture: &DebRoot, from: &str, exclude: &[&str]) {
    let pristine = debroot::snapshot(&fixture.root, exclude);
    combined_light(fixture);
    let output = restore(fixture, &["--from", from]);
    assert_exit(&output, 0, &format!("restore --from {from}"));
    pristine.assert_same(
        &debroot::snapshot(&fixture.root, exclude),
        &format!("after restore --from {from}"),
    );
    assert_eq!(fixture.dpkg_verify(), "");
}

#[test]
fn from_directory_of_debs_trusted_by_apt_list() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    empty_cache(&fixture);
    let from = fixture.debs.to_string_lossy().into_owned();
    restore_from(&fixture, &from, &[debroot::BACKUPS, debroot::DIGEST_CACHE]);
}

#[test]
fn from_directory_of_debs_trusted_by_md5sums_alone() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    empty_cache(&fixture);
    fs::remove_file(fixture.path("var/lib/apt/lists").join(debroot::APT_LIST)).expect("rm list");
    // Renamed archives must still be found by their control data.
    let odd = fixture.base().join("odd");
    fs::create_dir(&odd).expect("mkdir");
    for (i, built) in fixture.packages.iter().enumerate() {
        fs::copy(&built.deb, odd.join(format!("archive{i}.deb"))).expect("copy");
    }
    restore_from(
        &fixture,
        &odd.to_string_lossy(),
        &[debroot::BACKUPS, debroot::DIGEST_CACHE],
    );
}

#[test]
fn from_mirror_tree() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    empty_cache(&fixture);
    fs::remove_file(fixture.path("var/lib/apt/lists").join(debroot::APT_LIST)).expect("rm list");
    let mirror = fixture.base().join("mirror");
    let archives: Vec<PathBuf> = fixture.packages.iter().map(|p| p.deb.clone()).collect();
    debroot::make_mirror(&mirror, &archives);
    restore_from(
        &fixture,
        &mirror.to_string_lossy(),
        &[debroot::BACKUPS, debroot::DIGEST_CACHE],
    );
}

/// A `python3 -m http.server` serving a directory on 127.0.0.1, killed when dropped.
struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    fn start(dir: &Path) -> Option<HttpServer> {
        // The interpreter itself, not a version-manager shim, so the pid we kill is the server.
        let python = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .ok()?;
        let python = common::stdout(&python).trim().to_string();
        if python.is_empty() {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        let child = Command::new(&python)
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = HttpServer { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("http.server did not start on port {port}");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn from_http_mirror() {
    if !debroot::available() || !common::have_or_skip("python3") {
        return;
    }
    let fixture = DebRoot::new();
    empty_cache(&fixture);
    fs::remove_file(fixture.path("var/lib/apt/lists").join(debroot::APT_LIST)).expect("rm list");
    let mirror = fixture.base().join("mirror");
    let archives: Vec<PathBuf> = fixture.packages.iter().map(|p| p.deb.clone()).collect();
    debroot::make_mirror(&mirror, &archives);
    let Some(server) = HttpServer::start(&mirror) else {
        common::skip("could not start python3 -m http.server");
        return;
    };
    let url = server.url();
    fs::write(
        fixture.path("etc/apt/sources.list"),
        format!("deb {url} {} main\n", debroot::SUITE),
    )
    .expect("sources.list");
    // Downloads land in the apt cache: not part of the comparison.
    restore_from(
        &fixture,
        &url,
        &[
            debroot::BACKUPS,
            debroot::DIGEST_CACHE,
            "var/cache/apt/archives",
        ],
    );
    drop(server);
}

/// Over HTTP, restore fetches the archives of broken packages only: checking the metadata of
/// every intact package is not worth downloading the whole distribution.
#[test]
fn http_downloads_only_what_is_broken() {
    if !debroot::available() || !common::have_or_skip("python3") {
        return;
    }
    let fixture = DebRoot::new();
    empty_cache(&fixture);
    let mirror = fixture.base().join("mirror");
    let archives: Vec<PathBuf> = fixture.packages.iter().map(|p| p.deb.clone()).collect();
    debroot::make_mirror(&mirror, &archives);
    let Some(server) = HttpServer::start(&mirror) else {
        common::skip("could not start python3 -m http.server");
        return;
    };
    rm(&fixture, "usr/bin/demo-tool");
    let output = restore(&fixture, &["--from", &server.url()]);
    assert_exit(&output, 0, "restore --from http with one package broken");
    drop(server);
    let cached: Vec<String> = fs::read_dir(fixture.cache())
        .expect("apt cache")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".deb"))
        .collect();
    assert!(cached.iter().any(|n| n.starts_with("demo_")), "{cached:?}");
    assert!(
        !cached.iter().any(|n| n.starts_with("demo-data_")),
        "{cached:?}"
    );
    assert_eq!(fixture.dpkg_verify(), "");
}

/// What dpkg cannot see, verify's archive checks must: a dropped setuid bit, a changed owner,
/// a retargeted symlink, a directory where a file belongs — each in its rpm -V column, with
/// `dpkg --verify` on the same root as the witness that the database alone misses them.
#[test]
fn deep_checks_see_what_dpkg_cannot() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    assert_clean(&fixture, "before the damage");
    drop_setuid(&fixture);
    change_owner(&fixture);
    retarget_symlinks(&fixture);
    let dpkg = fixture.dpkg_verify();
    assert_eq!(dpkg, "", "dpkg --verify sees none of this metadata damage");

    let verify = rescue_in(&fixture.root, "verify", &["--format", "dpkg"]);
    assert_exit(&verify, 1, "rescue verify on metadata damage");
    let lines: Vec<String> = common::stdout(&verify)
        .lines()
        .map(str::to_string)
        .collect();
    let columns = |path: &str| -> String {
        lines
            .iter()
            .find(|line| line.ends_with(&format!(" {path}")))
            .unwrap_or_else(|| panic!("no line for {path} in:\n{}", lines.join("\n")))[..9]
            .to_string()
    };
    // Column order: S M 5 D L U G T, then rpm's P (never checked).
    assert_eq!(&columns("/usr/bin/demo-su")[1..2], "M");
    assert_eq!(
        &columns("/usr/bin/demo-tool")[1..2],
        "M",
        "statoverride's 2755 is what counts"
    );
    let chage = columns("/usr/bin/demo-chage");
    assert_eq!(
        (&chage[1..2], &chage[5..6], &chage[6..7]),
        ("M", "U", "G"),
        "{chage}"
    );
    assert_eq!(&columns("/usr/share/demo-data/words.txt")[5..7], "UG");
    assert_eq!(&columns("/lib/x86_64-linux-gnu/libdemo.so")[4..5], "L");
    assert_eq!(&columns("/usr/share/demo-data/current")[4..5], "L");

    // The same findings for scripts, with values to act on.
    let json = rescue_in(&fixture.root, "verify", &["--format", "json"]);
    let text = common::stdout(&json);
    assert!(
        text.contains("\"kind\": \"attributes\"") || text.contains("\"kind\":\"attributes\""),
        "{text}"
    );
    assert!(
        text.contains("mode 4755") && text.contains("mode 0755"),
        "{text}"
    );

    // A directory where a file belongs: a finding in the M column, not an abort.
    let fixture = DebRoot::new();
    file_to_directory(&fixture);
    let verify = rescue_in(&fixture.root, "verify", &["--format", "dpkg"]);
    assert_exit(
        &verify,
        1,
        "rescue verify with a directory where a file belongs",
    );
    let line = common::stdout(&verify)
        .lines()
        .find(|l| l.ends_with(" /usr/share/demo-data/words.txt"))
        .map(str::to_string)
        .unwrap_or_default();
    assert_eq!(&line[1..2], "M", "{line}");
}

/// The re-check after a run compares every action's result with what the plan wanted: a
/// directory that appeared between the plan and the run with another mode (another process,
/// an admin's mkdir) is left as it is, and the run says so and exits 1, never "all clean".
#[test]
fn a_result_other_than_planned_is_reported_by_the_recheck() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    fs::remove_dir_all(fixture.path("usr/share/demo-data/nested/deep")).expect("rm deep");
    let root = rescue::sys::root::Root::new(&fixture.root);
    let db = rescue::dpkg::Database::open_in(&root).expect("open database");
    let plan = rescue::restore::plan::plan(
        &root,
        &db,
        &[],
        Vec::new(),
        &rescue::restore::plan::Options::default(),
    )
    .expect("plan");
    assert!(!plan.is_empty(), "nothing planned for a deleted directory");
    // Between the plan and the run, someone makes the directory with another mode.
    fs::create_dir(fixture.path("usr/share/demo-data/nested/deep")).expect("mkdir");
    chmod(&fixture, "usr/share/demo-data/nested/deep", 0o700);
    let outcome =
        rescue::restore::execute::execute(&root, &db, &plan, 1_700_000_000).expect("execute");
    assert!(
        outcome
            .mismatched
            .iter()
            .any(|m| m.contains("/usr/share/demo-data/nested/deep") && m.contains("mode")),
        "{:?}",
        outcome.mismatched
    );

    // The same through the command: its summary names the path and the exit code is 1.
    let fixture = DebRoot::new();
    fs::remove_dir_all(fixture.path("usr/share/demo-data/nested/deep")).expect("rm deep");
    let clean = restore(&fixture, &[]);
    assert_exit(&clean, 0, "restore without interference");
    assert!(!said(&clean).contains("not as planned"), "{}", show(&clean));
}

/// A package whose postinst sets metadata the archive does not carry, the way Debian's do:
/// a mode, a capability, and a group computed at run time. The script is put into the
/// fixture's database by hand (the tool reads it from there, as it reads a real one) and its
/// effects applied as dpkg would have run it.
fn fixture_with_postinst() -> Option<DebRoot> {
    if !debroot::available() || !common::have_or_skip("setcap") {
        return None;
    }
    let fixture = DebRoot::new();
    fs::write(
        fixture.path("var/lib/dpkg/info/demo-data.postinst"),
        r#"#!/bin/sh
set -e
DATA=/usr/share/demo-data
if [ "$1" = configure ]; then
    if ! dpkg-statoverride --list $DATA/run.sh >/dev/null 2>&1; then
        chmod 0750 "$DATA/run.sh"
        setcap cap_net_raw+ep $DATA/run.sh || chmod u+s $DATA/run.sh
    fi
    chgrp "$(stat -c %g /usr/local)" $DATA/words.txt
fi
"#,
    )
    .expect("write postinst");
    chmod(&fixture, "usr/share/demo-data/run.sh", 0o750);
    let status = Command::new("setcap")
        .arg("cap_net_raw+ep")
        .arg(fixture.path("usr/share/demo-data/run.sh"))
        .status()
        .expect("setcap");
    assert!(status.success());
    chown(&fixture, "usr/share/demo-data/words.txt", 0, 50);
    Some(fixture)
}

#[test]
fn metadata_set_by_a_postinst_verifies_clean_and_is_restored_with_the_file() {
    let Some(fixture) = fixture_with_postinst() else {
        return;
    };
    let pristine = fixture.snapshot();
    let run_sh = fixture.path("usr/share/demo-data/run.sh");
    let capability = debroot::capability_of(&run_sh).expect("setcap wrote a capability");

    // Pristine: no problem; the group the script computes is information, not a problem.
    let verify = rescue_in(&fixture.root, "verify", &[]);
    assert_exit(&verify, 0, "verify with the postinst's settings in place");
    let text = common::stdout(&verify);
    assert!(
        text.contains("set by maintainer scripts") && text.contains("words.txt"),
        "{text}"
    );
    assert!(!text.contains("run.sh"), "{text}");
    let json = rescue_in(&fixture.root, "verify", &["--format", "json"]);
    assert_exit(&json, 0, "verify --format json");
    assert!(
        common::stdout(&json).contains("\"kind\":\"set-by-script\",\"severity\":\"info\""),
        "{}",
        common::stdout(&json)
    );
    let dry = rescue_in(&fixture.root, "restore", &["--dry-run"]);
    assert_exit(&dry, 0, "restore --dry-run on the pristine root");
    assert!(said(&dry).contains("plan: 0 actions"), "{}", show(&dry));

    // Both files deleted: run.sh comes back with the script's mode and capability; the
    // group no reading of the script can tell comes from the archive, and the summary says
    // which command sets it again.
    rm(&fixture, "usr/share/demo-data/run.sh");
    rm(&fixture, "usr/share/demo-data/words.txt");
    let restored = restore(&fixture, &[]);
    assert_exit(&restored, 0, "restore");
    assert_eq!(
        pristine.get("usr/share/demo-data/run.sh"),
        fixture.snapshot().get("usr/share/demo-data/run.sh"),
        "run.sh after restore"
    );
    assert_eq!(debroot::capability_of(&run_sh), Some(capability.clone()));
    let words = fs::symlink_metadata(fixture.path("usr/share/demo-data/words.txt")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        words.gid(),
        0,
        "the archive's group when nothing else is known"
    );
    assert!(
        said(&restored).contains("dpkg-reconfigure demo-data"),
        "{}",
        show(&restored)
    );

    // A metadata-only change to what the script sets: verify reports it, restore leaves it
    // (no proof the admin did not mean it) and names the command that re-applies it.
    chmod(&fixture, "usr/share/demo-data/run.sh", 0o755);
    assert_eq!(
        debroot::capability_of(&run_sh),
        Some(capability.clone()),
        "chmod keeps it"
    );
    let verify = rescue_in(&fixture.root, "verify", &[]);
    assert_exit(&verify, 1, "verify after chmod 755 run.sh");
    assert!(
        common::stdout(&verify).contains("run.sh"),
        "{}",
        show(&verify)
    );
    let left = restore(&fixture, &[]);
    assert_exit(&left, 0, "restore leaves it");
    assert!(said(&left).contains("left alone"), "{}", show(&left));
    let mode = fs::symlink_metadata(&run_sh).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755);

    // A capability where no script sets one is drift like any other, and goes.
    let other = fixture.path("usr/share/demo-data/nested/deep/table.csv");
    let status = Command::new("setcap")
        .arg("cap_sys_admin+ep")
        .arg(&other)
        .status()
        .expect("setcap");
    assert!(status.success());
    let verify = rescue_in(&fixture.root, "verify", &[]);
    assert_exit(&verify, 1, "verify sees an unexpected capability");
    assert!(
        common::stdout(&verify).contains("table.csv"),
        "{}",
        show(&verify)
    );
    let fixed = restore(&fixture, &[]);
    assert_exit(&fixed, 0, "restore removes it");
    assert_eq!(debroot::capability_of(&other), None);
}

/// The ping case on the fixture: a file whose postinst gave it a capability is damaged,
/// restored, and the run undone with its backups on another file system (a tmpfs): the
/// damaged file comes back byte and attribute exact, capability included.
#[test]
fn undo_across_file_systems_keeps_the_capability() {
    let Some(fixture) = fixture_with_postinst() else {
        return;
    };
    let backups = fixture.path("var/backups/rescue");
    let Some(_tmpfs) = common::Tmpfs::mount(&backups, "") else {
        return;
    };

    let run_sh = fixture.path("usr/share/demo-data/run.sh");
    // Damaged content (the write drops the capability, as the kernel does), the
    // capability then set again: the state undo must give back.
    let mut body = fs::read(&run_sh).unwrap();
    body.extend_from_slice(b"# tampered\n");
    fs::write(&run_sh, body).unwrap();
    assert_eq!(
        debroot::capability_of(&run_sh),
        None,
        "a write drops file capabilities"
    );
    let status = Command::new("setcap")
        .args(["cap_net_raw,cap_net_admin+ep"])
        .arg(&run_sh)
        .status()
        .expect("setcap");
    assert!(status.success());
    let damaged = debroot::node_at(&run_sh);
    let damaged_caps = debroot::capability_of(&run_sh);

    let restored = restore(&fixture, &[]);
    assert_exit(&restored, 0, "restore");
    assert_ne!(
        debroot::capability_of(&run_sh),
        damaged_caps,
        "restore wrote the script's"
    );
    let undone = rescue_in(&fixture.root, "undo", &[]);
    assert_exit(&undone, 0, "undo");
    assert_eq!(
        debroot::node_at(&run_sh),
        damaged,
        "content, mode, owner, mtime"
    );
    assert_eq!(
        debroot::capability_of(&run_sh),
        damaged_caps,
        "capability bytes"
    );
}

/// A package whose `.list` is gone: dpkg assumes it has no files and `--verify` says nothing;
/// rescue reports the list missing (exit 1) and restore writes it again from the archive's
/// entries, after which both checkers are clean and the list is dpkg's.
#[test]
fn a_missing_files_list_is_a_finding_and_restore_writes_it_back() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let list = fixture.path("var/lib/dpkg/info/demo-data.list");
    let original = fs::read_to_string(&list).expect("read list");
    fs::remove_file(&list).expect("rm list");
    fs::remove_file(fixture.path("usr/share/demo-data/words.txt")).expect("rm words");

    let verify = rescue_in(&fixture.root, "verify", &[]);
    assert_exit(&verify, 1, "verify without the list");
    assert!(
        common::stdout(&verify).contains("/var/lib/dpkg/info/demo-data.list  missing"),
        "{}",
        show(&verify)
    );

    let restored = restore(&fixture, &[]);
    assert_exit(&restored, 0, "restore");
    let written = fs::read_to_string(&list).expect("the list is back");
    let mut want: Vec<&str> = original.lines().collect();
    let mut got: Vec<&str> = written.lines().collect();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want, "the list names what dpkg's did");
    assert!(fixture.path("usr/share/demo-data/words.txt").is_file());
    assert_clean(&fixture, "after the list and the file were restored");
}

/// Every regular file under ROOT that is setuid or setgid and owned by root (user or group):
/// what a statoverride with a lost account must never produce.
fn privileged_files(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file()
                && (meta.mode() & 0o4000 != 0 && meta.uid() == 0
                    || meta.mode() & 0o2000 != 0 && meta.gid() == 0)
            {
                out.push(entry.path().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// A statoverride whose group or user ROOT's accounts lack (an overwritten /etc/group, a
/// hostile line) never becomes root: verify names the missing account, restore writes the
/// file without the special bit and says why.
#[test]
fn a_statoverride_name_that_does_not_resolve_never_becomes_root() {
    if !debroot::available() {
        return;
    }
    // The fixture's `root shadow 2755 /usr/bin/demo-tool`, with `shadow` gone from etc/group.
    let fixture = DebRoot::new();
    let group = fs::read_to_string(fixture.path("etc/group")).unwrap();
    fs::write(
        fixture.path("etc/group"),
        group.replace("shadow:x:42:\n", ""),
    )
    .unwrap();
    let verify = rescue_in(&fixture.root, "verify", &[]);
    assert_exit(&verify, 1, "verify with the statoverride's group gone");
    assert!(
        common::stdout(&verify).contains("shadow (statoverride; not in ROOT's accounts)"),
        "{}",
        show(&verify)
    );
    let before = privileged_files(&fixture.root);
    rm(&fixture, "usr/bin/demo-tool");
    let restored = restore(&fixture, &[]);
    assert!(
        said(&restored).contains("group 'shadow'"),
        "{}",
        show(&restored)
    );
    let tool = fs::symlink_metadata(fixture.path("usr/bin/demo-tool")).expect("restored");
    assert_eq!(tool.permissions().mode() & 0o7777, 0o755, "no setgid");
    assert_eq!(
        privileged_files(&fixture.root),
        before,
        "no new setgid-root file"
    );

    // A statoverride line naming a user nobody has, asking for setuid (written after the
    // install: dpkg itself refuses to unpack with it).
    let fixture = DebRoot::new();
    fs::write(
        fixture.path("var/lib/dpkg/statoverride"),
        "nosuchuser root 4755 /usr/bin/demo-tool\n",
    )
    .unwrap();
    let before = privileged_files(&fixture.root);
    rm(&fixture, "usr/bin/demo-tool");
    let restored = restore(&fixture, &[]);
    assert!(
        said(&restored).contains("user 'nosuchuser'"),
        "{}",
        show(&restored)
    );
    let tool = fs::symlink_metadata(fixture.path("usr/bin/demo-tool")).expect("restored");
    assert_eq!(tool.permissions().mode() & 0o7777, 0o755, "no setuid");
    assert_eq!(
        privileged_files(&fixture.root),
        before,
        "no new setuid-root file"
    );
}

/// An archive trusted by its index that ships a symlink where a directory with contents
/// stands: dpkg never swaps such a directory away, neither does restore. The directory and
/// everything in it stay; the refusal is printed and the exit status is 1.
#[test]
fn a_symlink_in_the_archive_never_replaces_a_directory_with_contents() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let original = fixture.package("demo-data");
    let staging = fixture.base().join("hostile-staging");
    debroot::copy_tree(&original.staging, &staging);
    fs::remove_dir_all(staging.join("usr/share/demo-data/nested")).unwrap();
    symlink("/usr/lib", staging.join("usr/share/demo-data/nested")).unwrap();
    let hostile = fixture.cache().join(original.deb.file_name().unwrap());
    fs::remove_file(&hostile).unwrap();
    debroot::build_deb(&staging, &hostile, "zstd", false);
    fixture.write_apt_list(std::slice::from_ref(&hostile));

    let before = fixture.snapshot();
    let output = restore(&fixture, &["demo-data"]);
    assert_exit(&output, 1, "restore refuses");
    assert!(said(&output).contains("refused:"), "{}", show(&output));
    let nested = fs::symlink_metadata(fixture.path("usr/share/demo-data/nested")).unwrap();
    assert!(nested.is_dir(), "the directory is still a directory");
    assert!(fixture
        .path("usr/share/demo-data/nested/deep/table.csv")
        .is_file());
    before.assert_same(&fixture.snapshot(), "nothing changed");
}

/// Holds an fcntl write lock on `path` (as dpkg and apt take theirs) in a child process until
/// the returned child is killed.
fn hold_lock(path: &Path) -> Child {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg("import fcntl,sys,time\nf=open(sys.argv[1],'a+')\nfcntl.lockf(f,fcntl.LOCK_EX)\nprint('locked',flush=True)\ntime.sleep(120)")
        .arg(path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

/// With dpkg's lock held (dpkg or apt at work), restore and undo refuse and name the holder,
/// as `dpkg --root` does; with another run's lock held, so do they; once released, they go on.
#[test]
fn restore_and_undo_refuse_while_dpkg_or_another_run_holds_the_root() {
    if !debroot::available() || !common::have_or_skip("python3") {
        return;
    }
    let fixture = DebRoot::new();
    rm(&fixture, "usr/bin/demo-tool");

    let mut holder = hold_lock(&fixture.path("var/lib/dpkg/lock"));
    let dpkg = Command::new("dpkg")
        .arg(format!("--root={}", fixture.root.display()))
        .args(["--configure", "-a"])
        .output()
        .unwrap();
    assert!(
        !dpkg.status.success(),
        "dpkg itself refuses: the lock is real"
    );
    let pristine_damaged = fixture.snapshot();
    let refused = restore(&fixture, &[]);
    assert_exit(&refused, 2, "restore while dpkg's lock is held");
    assert!(
        said(&refused).contains(&format!("held by process {}", holder.id())),
        "{}",
        show(&refused)
    );
    // --ignore-lock is no way past a live holder.
    let refused = restore(&fixture, &["--ignore-lock"]);
    assert_exit(&refused, 2, "restore --ignore-lock with a live holder");
    pristine_damaged.assert_same(&fixture.snapshot(), "nothing changed while refused");
    holder.kill().unwrap();
    holder.wait().unwrap();

    fs::create_dir_all(fixture.path("var/backups/rescue")).unwrap();
    let mut holder = hold_lock(&fixture.path("var/backups/rescue/lock"));
    let refused = restore(&fixture, &[]);
    assert_exit(&refused, 2, "restore while another run holds the root");
    assert!(
        said(&refused).contains("another restore or undo is running"),
        "{}",
        show(&refused)
    );
    holder.kill().unwrap();
    holder.wait().unwrap();

    let restored = restore(&fixture, &[]);
    assert_exit(&restored, 0, "restore once the locks are free");
    let mut holder = hold_lock(&fixture.path("var/backups/rescue/lock"));
    let undo = rescue_in(&fixture.root, "undo", &[]);
    assert_exit(&undo, 2, "undo while another run holds the root");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let undo = rescue_in(&fixture.root, "undo", &[]);
    assert_exit(&undo, 0, "undo once free");
}
