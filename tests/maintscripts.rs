//! The maintainer-script reader on real scripts: every `preinst` and `postinst` this machine's
//! dpkg database holds (hundreds of packages, written by hundreds of hands) parses, and the
//! effects it finds on the best-known cases are the ones the scripts apply.

mod common;

use std::fs;
use std::path::Path;

use rescue::dpkg::maintscript::{parse, MaintainerScripts, RootWorld};
use rescue::dpkg::Database;
use rescue::sys::root::Root;

#[test]
fn every_installed_preinst_and_postinst_parses() {
    let info = Path::new("/var/lib/dpkg/info");
    let Ok(entries) = fs::read_dir(info) else {
        common::skip(&format!("no {}", info.display()));
        return;
    };
    let mut parsed = 0;
    let mut failures = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".preinst") || name.ends_with(".postinst")) {
            continue;
        }
        let bytes = fs::read(entry.path()).expect("read script");
        let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        if String::from_utf8_lossy(first_line).contains("perl") {
            continue; // not shell: dpkg runs it, we do not read it
        }
        match parse::parse(&String::from_utf8_lossy(&bytes)) {
            Ok(_) => parsed += 1,
            Err(err) => failures.push(format!("{name}:{}: {}", err.line, err.what)),
        }
    }
    eprintln!("{parsed} scripts parsed");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn loading_this_machines_scripts_reports_no_issues() {
    let root = Root::new("/");
    let Ok(db) = Database::open_in(&root) else {
        common::skip("no dpkg database");
        return;
    };
    let world = RootWorld::new(&root, &db);
    let scripts = MaintainerScripts::load(&db, &world);
    let issues: Vec<String> = scripts.issues.iter().map(|i| i.error.to_string()).collect();
    assert!(issues.is_empty(), "{}", issues.join("\n"));
}
