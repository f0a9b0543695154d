//! A `.deb`: ar members, control.tar and data.tar through every decompressor, tar headers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: rescue_fuzz::init(), |data: &[u8]| {
    let path = rescue_fuzz::scratch_file("deb", data);
    let Ok(deb) = rescue::deb::Deb::open(path) else {
        return;
    };
    let control = deb.control();
    let _ = (control.package(), control.version(), control.architecture());
    let mut buffer = [0u8; 4096];
    let _ = deb.for_each_entry(|entry, content| {
        let _ = &entry.path;
        // Read some of each file, as the restorer does, and leave the rest to the drain.
        let _ = content.read(&mut buffer);
        Ok(())
    });
});
