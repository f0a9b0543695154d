//! `var/lib/dpkg/statoverride`: `USER GROUP MODE PATH` lines.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: rescue_fuzz::init(), |data: &[u8]| {
    if let Err(err) = rescue::dpkg::StatOverrides::parse(Path::new("statoverride"), data) {
        let _ = err.to_string();
    }
});
