//! What the fuzz targets share: readers that take a path (`.deb`, the restore journal) get the
//! input through a scratch file.

use std::path::PathBuf;
use std::sync::OnceLock;

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

/// Writes `data` to this process's scratch file for `target` and returns its path.
///
/// The file lives in `RESCUE_FUZZ_SCRATCH` (xtask points it at a directory it removes
/// afterwards), else in the temporary directory; one per process, so targets can run side by
/// side. It is removed at a normal exit and kept after a crash, beside libFuzzer's artifact.
pub fn scratch_file(target: &str, data: &[u8]) -> &'static std::path::Path {
    let path = SCRATCH.get_or_init(|| {
        let dir = std::env::var_os("RESCUE_FUZZ_SCRATCH")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        // SAFETY: `remove_scratch` is an `extern "C" fn()` that never unwinds.
        unsafe { libc::atexit(remove_scratch) };
        dir.join(format!("rescue-fuzz-{target}-{}", std::process::id()))
    });
    // A fresh file each time: on ext4, rewriting a file through truncation makes every close
    // flush it to disk (auto_da_alloc), a thousand times slower than the reader under test.
    let _ = std::fs::remove_file(path);
    std::fs::write(path, data).expect("the scratch file must be writable");
    path
}

extern "C" fn remove_scratch() {
    if let Some(path) = SCRATCH.get() {
        let _ = std::fs::remove_file(path);
    }
}
