//! A Packages index, plain or compressed the way apt and mirrors keep them.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: rescue_fuzz::init(), |data: &[u8]| {
    // The name picks the decompressor; choose it by the input's magic so every one is reached.
    let name = match data {
        [0x1f, 0x8b, ..] => "Packages.gz",
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => "Packages.xz",
        [0x04, 0x22, 0x4d, 0x18, ..] => "Packages.lz4",
        [b'B', b'Z', b'h', ..] => "Packages.bz2",
        [0x28, 0xb5, 0x2f, 0xfd, ..] => "Packages.zst",
        _ => "Packages",
    };
    let name = Path::new(name);
    let Ok(input) = rescue::sources::index::decoder_for(name, data) else {
        return;
    };
    let mut index = rescue::sources::Index::default();
    if index.add_reader(name, input, &|_| true).is_ok() {
        let _ = index.get("a", "1", "amd64");
    }
});
