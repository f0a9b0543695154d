//! File names in messages the way GNU's `quotef` prints them: bare when the name is plain
//! (`md5sum: x: No such file or directory`), quoted when a shell would need quotes.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The name bare if every byte is one a shell leaves alone, else `quote`d.
pub fn quote_if_needed(path: &Path) -> String {
    let bytes = path.as_os_str().as_bytes();
    // In a UTF-8 locale GNU leaves printable non-ASCII characters bare (`café`).
    let plain = !bytes.is_empty()
        && std::str::from_utf8(bytes).is_ok_and(|text| {
            text.chars().all(|c| {
                if c.is_ascii() {
                    c.is_ascii_alphanumeric() || "%+,-./:=@_^".contains(c)
                } else {
                    !c.is_control()
                }
            })
        });
    if plain {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        super::quote(path)
    }
}
