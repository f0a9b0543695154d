//! A restore run's journal: undo and restore's start-up cleanup read it, and a journal on a
//! broken or hostile root is as untrusted as any other file there.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: rescue_fuzz::init(), |data: &[u8]| {
    let contents = rescue::restore::journal::parse(data);
    let _ = format!("{contents:?}");
});
