//! What the fuzz targets share: readers that take a path (`.deb`, the restore journal) get the
//! input through a scratch file, and a stack overflow is reported like any other crash, with
//! the input that caused it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The stack `std::thread::spawn` gives a thread, and so each of verify's workers
/// (`rescue::sys::parallel`): recursion that fits in the main thread's 8 MiB may not fit there.
pub const WORKER_STACK: usize = 2 << 20;

/// Room for libFuzzer's crash report when the thread's own stack is exhausted.
const SIGNAL_STACK: usize = 256 << 10;

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

/// Called once before fuzzing starts (`fuzz_target!(init: ...)`).
///
/// With libFuzzer's `main`, Rust's runtime never sets up its stack-overflow handler, and
/// libFuzzer's own SIGSEGV handler runs on the exhausted stack: the process dies of a second
/// fault and the input is lost. A handler registered here with `SA_ONSTACK` makes libFuzzer keep
/// that flag, and ours aborts, which libFuzzer reports as a crash with its input saved.
pub fn init() {
    // SAFETY: plain sigaction(2) with a handler that only writes and aborts.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_segv as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut());
    }
    // The main thread's signal stack lives as long as the process.
    std::mem::forget(SignalStack::install());
}

extern "C" fn on_segv(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let message = b"\nrescue-fuzz: SIGSEGV (a stack overflow, when the code is safe Rust)\n";
    // SAFETY: write(2) and abort(3) are async-signal-safe.
    unsafe {
        libc::write(2, message.as_ptr().cast(), message.len());
        libc::abort();
    }
}

/// An alternate signal stack for the current thread, removed when dropped.
struct SignalStack {
    _memory: Vec<u8>,
}

impl SignalStack {
    fn install() -> SignalStack {
        let mut memory = vec![0u8; SIGNAL_STACK];
        let stack = libc::stack_t {
            ss_sp: memory.as_mut_ptr().cast(),
            ss_flags: 0,
            ss_size: memory.len(),
        };
        // SAFETY: the memory outlives the registration (dropping disables it first).
        unsafe { libc::sigaltstack(&stack, std::ptr::null_mut()) };
        SignalStack { _memory: memory }
    }
}

impl Drop for SignalStack {
    fn drop(&mut self) {
        let stack = libc::stack_t {
            ss_sp: std::ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        // SAFETY: disabling the alternate stack before its memory is freed.
        unsafe { libc::sigaltstack(&stack, std::ptr::null_mut()) };
    }
}

/// Runs `work` on a thread with a worker's stack, as verify runs it.
pub fn on_worker_thread<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(WORKER_STACK)
            .spawn_scoped(scope, || {
                let _signal_stack = SignalStack::install();
                work()
            })
            .expect("a worker thread can be started")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Writes `data` to this process's scratch file for `target` and returns its path.
///
/// The file lives in `RESCUE_FUZZ_SCRATCH` (xtask points it at a directory it removes
/// afterwards), else in the temporary directory; one per process, so targets can run side by
/// side. It is removed at a normal exit and kept after a crash, beside libFuzzer's artifact.
pub fn scratch_file(target: &str, data: &[u8]) -> &'static Path {
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
