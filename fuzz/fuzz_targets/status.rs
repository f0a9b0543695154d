//! `var/lib/dpkg/status` (and each `updates/NNNN`): deb822 stanzas, then packages.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: rescue_fuzz::init(), |data: &[u8]| {
    let path = Path::new("status");
    if let Ok(stanzas) = rescue::dpkg::status::parse_stanzas(path, data) {
        for stanza in &stanzas {
            let _ = stanza.get("Package");
            let _ = rescue::dpkg::status::package_of(path, stanza);
        }
    }
    if let Ok(packages) = rescue::dpkg::status::parse_status(path, data) {
        for package in &packages {
            let _ = package.display_name();
            let _ = package.matches("a:amd64");
        }
    }
});
