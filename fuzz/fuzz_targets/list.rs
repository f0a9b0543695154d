//! `info/PKG.list`: one absolute path a line.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: rescue_fuzz::init(), |data: &[u8]| {
    let mut issues = Vec::new();
    rescue::dpkg::lists::parse_list(Path::new("pkg.list"), data, &mut issues);
    for issue in &issues {
        let _ = issue.error.to_string();
    }
});
