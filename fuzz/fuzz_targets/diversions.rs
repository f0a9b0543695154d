//! `var/lib/dpkg/diversions`: records of three lines (from, to, package).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: rescue_fuzz::init(), |data: &[u8]| {
    match rescue::dpkg::Diversions::parse(Path::new("diversions"), data) {
        Ok(diversions) => {
            for diversion in diversions.iter() {
                let _ = diversions.diverted(&diversion.from, "pkg");
            }
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
