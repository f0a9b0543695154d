//! `info/PKG.md5sums`: `MD5  path` lines.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: rescue_fuzz::init(), |data: &[u8]| {
    let mut issues = Vec::new();
    rescue::dpkg::lists::parse_md5sums(Path::new("pkg.md5sums"), data, &mut issues);
    for issue in &issues {
        let _ = issue.error.to_string();
    }
});
