//! Maintainer scripts are shell text from the root under repair: parsed, then walked.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use rescue::dpkg::maintscript::{eval, parse, World};

/// Answers without looking at any file: the walker's own logic is what is under test.
struct Nothing;

impl World for Nothing {
    fn has_statoverride(&self, path: &Path) -> bool {
        path.as_os_str().len().is_multiple_of(2)
    }
    fn truename(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
    fn command_exists(&self, name: &str) -> Option<bool> {
        (!name.is_empty()).then_some(name.len().is_multiple_of(2))
    }
    fn debconf(&self, question: &str) -> Option<String> {
        question.contains('/').then(|| "true".to_string())
    }
    fn file_test(&self, _op: &str, _path: &Path) -> Option<bool> {
        None
    }
}

fuzz_target!(init: rescue_fuzz::init(), |data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // verify reads scripts on its worker threads: their stack is the one that must suffice.
    rescue_fuzz::on_worker_thread(|| {
        let Ok(list) = parse::parse(&text) else {
            return;
        };
        let env = [
            ("DPKG_ROOT", ""),
            ("DPKG_MAINTSCRIPT_PACKAGE", "pkg"),
            ("DPKG_MAINTSCRIPT_NAME", "postinst"),
        ];
        let _ = eval::evaluate(&list, &[Some("configure"), None], &env, &Nothing);
    });
});
