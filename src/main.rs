//! Multi-call dispatch: `rescue APPLET ARGS`, or a link named after the applet.

use std::ffi::OsString;

fn main() {
    // C tools die quietly on a closed pipe (`rescue ls | head`); Rust's default turns that into
    // an error on every write instead.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    std::process::exit(rescue::applets::dispatch(args));
}
