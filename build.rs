//! Each applet's `//!` block becomes its long help (`rescue APPLET --help`): the text a reader
//! of `src/applets/NAME.rs` meets first is the text a user gets, written once, in the source.
//! The blocks land in `$OUT_DIR/applets/NAME.txt`; the applet table includes them.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=src/applets");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("applets");
    std::fs::create_dir_all(&out).expect("create $OUT_DIR/applets");
    let sources = std::fs::read_dir("src/applets").expect("read src/applets");
    for entry in sources {
        let path = entry.expect("read src/applets").path();
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("read an applet's source");
        let name = Path::new(path.file_stem().expect("a file name")).with_extension("txt");
        std::fs::write(out.join(name), leading_doc(&source)).expect("write an applet's help");
    }
}

/// The `//!` lines a file starts with, without the marker and the one space after it.
fn leading_doc(source: &str) -> String {
    let mut doc = String::new();
    for line in source.lines() {
        let Some(text) = line.strip_prefix("//!") else {
            break;
        };
        doc.push_str(text.strip_prefix(' ').unwrap_or(text));
        doc.push('\n');
    }
    doc
}
