//! `rescue --install DIR`: a symlink named after every applet in DIR, pointing at this binary
//! (like `busybox --install -s`). Existing files are left alone and counted: on a half-broken
//! host `DIR/ls` may be the real `ls`, and replacing a working tool is not ours to decide.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{complain, quote, strerror, APPLETS};

pub fn main(argv0: &OsString, args: &[OsString]) -> i32 {
    let [dir] = args else {
        complain("--install", "usage: rescue --install DIR");
        return 2;
    };
    let dir = Path::new(dir);
    let Some(binary) = own_path(argv0) else {
        complain(
            "--install",
            "cannot find this binary's own path (no /proc, and argv[0] is a bare name not on PATH)",
        );
        return 2;
    };
    if let Err(err) = std::fs::create_dir_all(dir) {
        complain(
            "--install",
            format!("cannot create directory {}: {}", quote(dir), strerror(&err)),
        );
        return 2;
    }
    let (mut made, mut kept) = (0, 0);
    for applet in APPLETS {
        let link = dir.join(applet.name);
        match std::os::unix::fs::symlink(&binary, &link) {
            Ok(()) => made += 1,
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => kept += 1,
            Err(err) => {
                complain(
                    "--install",
                    format!("cannot create symlink {}: {}", quote(&link), strerror(&err)),
                );
                return 1;
            }
        }
    }
    println!(
        "{made} links to {} in {}; {kept} existing files left alone",
        binary.display(),
        dir.display()
    );
    0
}

/// This binary's absolute path. `/proc/self/exe` is best; without /proc (a bare chroot) argv[0]
/// made absolute, or found on PATH, is the next best.
fn own_path(argv0: &OsString) -> Option<PathBuf> {
    if let Ok(exe) = std::fs::read_link("/proc/self/exe") {
        return Some(exe);
    }
    let argv0 = Path::new(argv0);
    if argv0.as_os_str().is_empty() {
        return None;
    }
    if argv0.components().count() > 1 {
        return Some(std::env::current_dir().ok()?.join(argv0));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(argv0))
        .find(|candidate| candidate.is_file())
}
