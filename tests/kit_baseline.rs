//! The kit's baseline: recorded from a root, written, read back; what it records against
//! `stat` and `getcap`; and verify and restore taking it as the host's expected metadata.

mod common;

use std::path::Path;
use std::time::Instant;

use rescue::dpkg::Database;
use rescue::kit::baseline::Baseline;
use rescue::sys::root::Root;

/// Not a check: how long recording this machine's `/` takes, cold-ish then warm, and the
/// file's size (`cargo test --test kit_baseline -- --ignored --nocapture`).
#[test]
#[ignore]
fn record_this_host() {
    let root = Root::new("/");
    let db = Database::open_in(&root).expect("open /'s database");
    for round in ["first", "second", "third"] {
        let started = Instant::now();
        let baseline = Baseline::record(&root, &db).expect("record /");
        let took = started.elapsed();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("baseline");
        let started = Instant::now();
        baseline.write(&file).unwrap();
        let wrote = started.elapsed();
        let started = Instant::now();
        let back = Baseline::read(&file).unwrap();
        let read = started.elapsed();
        assert_eq!(back, baseline);
        let size = std::fs::metadata(&file).unwrap().len();
        eprintln!(
            "{round}: {} paths recorded in {took:?}, written in {wrote:?}, read in {read:?}, {size} bytes",
            baseline.len()
        );
    }
    let _ = Path::new("/");
}
