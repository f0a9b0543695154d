//! The archive header index cache (`ROOT/var/cache/rescue/archives/SHA256`): kept after a
//! first read of each archive, equal to a fresh read, really used instead of the archive on
//! the next run, ignored and made again when damaged, and never reached through a symlink.
//! Restores with a warm index give the pristine tree, as cold ones do.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::debroot::{self, restore, DebRoot};
use common::{assert_exit, rescue_in, said, sha256_hex};
use rescue::deb::{ArchiveIndex, Deb};

const INDEXES: &str = "var/cache/rescue/archives";

fn index_file(fixture: &DebRoot, deb: &Path) -> PathBuf {
    let sha256 = sha256_hex(&fs::read(deb).expect("read archive"));
    fixture.path(INDEXES).join(sha256)
}

fn cached_index(fixture: &DebRoot, deb: &Path) -> Option<ArchiveIndex> {
    ArchiveIndex::decode(&fs::read(index_file(fixture, deb)).ok()?)
}

#[test]
fn indexes_are_kept_used_and_made_again_when_damaged() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let clean = rescue_in(&fixture.root, "verify", &[]);
    assert_exit(&clean, 0, "verify on the pristine root");
    let demo = fixture.package("demo").deb.clone();
    for package in ["demo", "demo-data", "demo-doc"] {
        let deb = &fixture.package(package).deb;
        let fresh = Deb::open(deb).expect("open").index().expect("index");
        assert!(
            fresh.entries.iter().any(|e| e.md5.is_some()),
            "{package}: the index holds file digests"
        );
        assert_eq!(
            cached_index(&fixture, deb).as_ref(),
            Some(&fresh),
            "{package}: the kept index is what a fresh read gives"
        );
    }

    // An index that says demo-su is 0755: the deep check believes it, which shows the
    // archive itself was not read again.
    let mut planted = cached_index(&fixture, &demo).expect("demo's index");
    let su = planted
        .entries
        .iter_mut()
        .find(|e| e.entry.path == Path::new("/usr/bin/demo-su"))
        .expect("demo-su in the index");
    su.entry.mode = 0o755;
    fs::write(index_file(&fixture, &demo), planted.encode()).expect("plant");
    let fooled = rescue_in(&fixture.root, "verify", &[]);
    assert_exit(&fooled, 1, "verify with the planted index");
    assert!(
        said(&fooled).contains("/usr/bin/demo-su"),
        "{}",
        said(&fooled)
    );

    // A damaged index is not read: the archive is, and the index is written again.
    let mut damaged = fs::read(index_file(&fixture, &demo)).expect("read index");
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    fs::write(index_file(&fixture, &demo), &damaged).expect("damage");
    let again = rescue_in(&fixture.root, "verify", &[]);
    assert_exit(&again, 0, "verify with a damaged index");
    let fresh = Deb::open(&demo).expect("open").index().expect("index");
    assert_eq!(cached_index(&fixture, &demo), Some(fresh), "made again");
}

#[test]
fn the_index_directory_is_never_followed_as_a_symlink() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let outside = fixture.base().join("outside");
    fs::create_dir_all(&outside).expect("mkdir outside");
    fs::create_dir_all(fixture.path("var/cache/rescue")).expect("mkdir cache");
    std::os::unix::fs::symlink(&outside, fixture.path(INDEXES)).expect("plant symlink");
    let verified = rescue_in(&fixture.root, "verify", &[]);
    assert_exit(&verified, 0, "verify with archives/ a symlink");
    assert_eq!(
        fs::read_dir(&outside).expect("read outside").count(),
        0,
        "nothing was written through the symlink"
    );
}

#[test]
fn restores_with_a_warm_index_give_the_pristine_tree() {
    if !debroot::available() {
        return;
    }
    let fixture = DebRoot::new();
    let pristine = fixture.snapshot();
    for round in ["cold", "warm"] {
        for path in [
            "/usr/lib/x86_64-linux-gnu/libdemo.so.1",
            "/usr/bin/demo-su",
            "/usr/share/demo-data",
        ] {
            let host = fixture.path(path);
            if host.is_dir() {
                fs::remove_dir_all(&host).expect("damage: rm -r");
            } else {
                fs::remove_file(&host).expect("damage: rm");
            }
        }
        let restored = restore(&fixture, &[]);
        assert_exit(&restored, 0, &format!("restore with a {round} index"));
        pristine.assert_same(&fixture.snapshot(), &format!("after the {round} restore"));
        assert_eq!(
            fixture.dpkg_verify(),
            "",
            "dpkg --verify after the {round} restore"
        );
        let demo = &fixture.package("demo").deb;
        assert!(
            cached_index(&fixture, demo).is_some(),
            "{round}: index kept"
        );
    }
}
