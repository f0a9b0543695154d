//! Every way the tool shows a name it did not choose: a file name, a root directory, a line
//! of a damaged database, a package name or a URI read from ROOT. Any of them may hold bytes
//! that are not UTF-8, or control characters that would rewrite the operator's terminal
//! (`\e[2J`) or split a message in two (`\n`). Each function matches one GNU style, so a
//! message reads the way the same GNU tool prints it:
//!
//! - [`quote`]: GNU's `quoteaf` in a UTF-8 locale, for names inside messages
//!   (`cannot open 'x'`, `removed 'café'`).
//! - [`quote_c_locale`]: the same under `LC_ALL=C`, where every byte outside printable ASCII is
//!   escaped (`stat -c %N`, whose output the tests compare with GNU's under `LC_ALL=C`).
//! - [`shell_word`]: GNU's `quotef`, bare when nothing needs quoting (`md5sum: x: No such
//!   file or directory`), and every argument of a command we print for the operator to paste:
//!   bash reads each word back as exactly the bytes named.
//! - [`escape`]: `ls -b`'s `\ooo` escapes with no quotes, for listings where each line names
//!   one path (verify's findings, restore's plan) and for JSON, which cannot carry raw bytes.
//! - [`hide_control`]: `ls -q`, a `?` for each byte a terminal would interpret.
//!
//! Every function takes what names usually come as (`&Path`, `&OsStr`, `&str`); a raw byte
//! slice goes through `OsStr::from_bytes`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// A name for a message, as GNU's `quoteaf` prints it in a UTF-8 locale: `'name'`, `"it's"`,
/// and control characters and bytes that are not UTF-8 as `$'\ooo'` pieces outside the
/// quotes (`'bad'$'\377''name'`, `'a'$'\n''b'`). The text is also one shell word that bash
/// reads back as the same bytes.
pub fn quote(name: impl AsRef<OsStr>) -> String {
    quote_bytes(name.as_ref().as_bytes(), true)
}

/// A name as GNU's `quoteaf` prints it under `LC_ALL=C`: as [`quote`], except that every byte
/// outside printable ASCII is escaped (`'caf'$'\303\251'`).
pub fn quote_c_locale(name: impl AsRef<OsStr>) -> String {
    quote_bytes(name.as_ref().as_bytes(), false)
}

/// A name as one shell word: bare when every byte is one a shell leaves alone (letters,
/// digits, `%+,-./:=@_^`, printable UTF-8), else [`quote`]'s form, which bash reads back as
/// exactly the same bytes (`/mnt/root`, `'/mnt/my root'`, `''$'\377'`). This is GNU's
/// `quotef` (the `shell-escape` style), which md5sum, cat, ln and readlink use for the names
/// in their messages; every argument of a command we print for pasting goes through it.
pub fn shell_word(name: impl AsRef<OsStr>) -> String {
    let bytes = name.as_ref().as_bytes();
    let bare = !bytes.is_empty()
        && std::str::from_utf8(bytes).is_ok_and(|text| {
            text.chars().all(|c| {
                if c.is_ascii() {
                    c.is_ascii_alphanumeric() || "%+,-./:=@_^".contains(c)
                } else {
                    !c.is_control()
                }
            })
        });
    if bare {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        quote_bytes(bytes, true)
    }
}

/// A name with no quotes, as `ls -b` shows it: printable UTF-8 as it is, a backslash as
/// `\\`, and control characters and bytes that are not UTF-8 as `\ooo` octal escapes, so the
/// text is plain printable characters and still says which bytes the name holds. Unlike
/// `ls -b`, spaces stay as they are: the lines this is for name one path each.
pub fn escape(name: impl AsRef<OsStr>) -> String {
    let bytes = name.as_ref().as_bytes();
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch == '\\' {
                out.push_str("\\\\");
            } else if ch.is_control() {
                let mut buf = [0u8; 4];
                for byte in ch.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{byte:03o}"));
                }
            } else {
                out.push(ch);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\{byte:03o}"));
        }
    }
    out
}

/// A name as `ls -q` (`--hide-control-chars`) shows it: printable UTF-8 as it is, a `?` for
/// each control character and each byte that is not UTF-8.
pub fn hide_control(name: impl AsRef<OsStr>) -> Vec<u8> {
    let bytes = name.as_ref().as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch.is_control() {
                out.push(b'?');
            } else {
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
        }
        out.extend(chunk.invalid().iter().map(|_| b'?'));
    }
    out
}

fn is_plain(byte: u8) -> bool {
    (0x20..0x7f).contains(&byte)
}

/// Lengths of the runs that stay literal: one byte for printable ASCII, a whole character
/// for printable UTF-8 when `utf8`; 0 for a byte that must be escaped.
fn plain_len(bytes: &[u8], utf8: bool) -> usize {
    let first = bytes[0];
    if is_plain(first) {
        return 1;
    }
    if !utf8 || first < 0x80 {
        return 0;
    }
    let len = match first {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return 0,
    };
    match bytes.get(..len).and_then(|c| std::str::from_utf8(c).ok()) {
        Some(text) if text.chars().all(|c| !c.is_control()) => len,
        _ => 0,
    }
}

/// GNU's `shell-escape-always` style: single quotes, `"..."` when the only special byte is a
/// single quote, and runs of escaped bytes as `$'\ooo'` between the quoted pieces.
fn quote_bytes(bytes: &[u8], utf8: bool) -> String {
    let all_plain = {
        let mut at = 0;
        let mut plain = true;
        while at < bytes.len() {
            let len = plain_len(&bytes[at..], utf8);
            if len == 0 {
                plain = false;
                break;
            }
            at += len;
        }
        plain
    };
    if all_plain {
        if !bytes.contains(&b'\'') {
            return format!("'{}'", String::from_utf8_lossy(bytes));
        }
        // A single quote reads best inside double quotes, when nothing in there is special.
        if !bytes.iter().any(|b| b"\"$`\\!".contains(b)) {
            return format!("\"{}\"", String::from_utf8_lossy(bytes));
        }
    }
    let mut out = String::from("'");
    let mut quoted = true;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let len = plain_len(&bytes[index..], utf8);
        if len > 0 {
            if !quoted {
                out.push('\'');
                quoted = true;
            }
            if byte == b'\'' {
                out.push_str("'\\''");
            } else {
                out.push_str(&String::from_utf8_lossy(&bytes[index..index + len]));
            }
            index += len;
            continue;
        }
        if quoted {
            out.push('\'');
            quoted = false;
        }
        out.push_str("$'");
        while index < bytes.len() && plain_len(&bytes[index..], utf8) == 0 {
            match bytes[index] {
                0x07 => out.push_str("\\a"),
                0x08 => out.push_str("\\b"),
                0x0c => out.push_str("\\f"),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                0x0b => out.push_str("\\v"),
                other => out.push_str(&format!("\\{other:03o}")),
            }
            index += 1;
        }
        out.push('\'');
    }
    if quoted {
        out.push('\'');
    }
    out
}

/// A name in gnulib's C-like quoting styles under `LC_ALL=C`, which `stat` takes from
/// `QUOTING_STYLE`: `\n`-style escapes for control characters, `\ooo` for every other byte
/// outside printable ASCII, a backslash doubled, and `quote` (when given) around the name and
/// escaped inside it. `"x"` is the `c` style, `'x'` the `locale` style, none `escape`.
pub fn c_escaped(name: impl AsRef<OsStr>, quote: Option<u8>) -> String {
    let mut out = String::new();
    if let Some(q) = quote {
        out.push(char::from(q));
    }
    for &byte in name.as_ref().as_bytes() {
        match byte {
            b'\x07' => out.push_str("\\a"),
            b'\x08' => out.push_str("\\b"),
            b'\x0c' => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b'\x0b' => out.push_str("\\v"),
            b'\\' => out.push_str("\\\\"),
            _ if Some(byte) == quote => {
                out.push('\\');
                out.push(char::from(byte));
            }
            b' '..=b'~' => out.push(char::from(byte)),
            _ => out.push_str(&format!("\\{byte:03o}")),
        }
    }
    if let Some(q) = quote {
        out.push(char::from(q));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(bytes: &[u8]) -> &OsStr {
        OsStr::from_bytes(bytes)
    }

    #[test]
    fn quotes_like_gnu_in_the_c_locale() {
        let q = |bytes: &[u8]| quote_c_locale(b(bytes));
        assert_eq!(q(b"a"), "'a'");
        assert_eq!(q(b"sp ace"), "'sp ace'");
        assert_eq!(q(b"it's"), "\"it's\"");
        assert_eq!(q(b"a\"b"), "'a\"b'");
        assert_eq!(q(b"x\ny"), "'x'$'\\n''y'");
        assert_eq!(q(b"\xff"), "''$'\\377'");
        assert_eq!(q("café".as_bytes()), "'caf'$'\\303\\251'");
    }

    #[test]
    fn utf8_names_stay_readable_and_bad_bytes_are_escaped() {
        let u = |bytes: &[u8]| quote(b(bytes));
        assert_eq!(u("café".as_bytes()), "'café'");
        assert_eq!(u(b"bad\xff\xfename"), "'bad'$'\\377\\376''name'");
        assert_eq!(u(b"it's"), "\"it's\"");
        assert_eq!(u(b"a\tb"), "'a'$'\\t''b'");
        assert_eq!(u(b"\x1b[2J"), "''$'\\033''[2J'");
    }

    #[test]
    fn shell_words_are_bare_only_when_nothing_needs_quoting() {
        assert_eq!(
            shell_word("/mnt/root-1.2_x+y:z=w@v"),
            "/mnt/root-1.2_x+y:z=w@v"
        );
        assert_eq!(shell_word("café"), "café");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("my root"), "'my root'");
        assert_eq!(shell_word("$(reboot)"), "'$(reboot)'");
        assert_eq!(shell_word("a;b"), "'a;b'");
        assert_eq!(shell_word("~x"), "'~x'");
        assert_eq!(shell_word("it's"), "\"it's\"");
        // Once `'\377'`: four characters to a shell, not the byte.
        assert_eq!(shell_word(b(b"\xff")), "''$'\\377'");
        assert_eq!(shell_word(b(b"a\nb")), "'a'$'\\n''b'");
    }

    #[test]
    fn escapes_like_ls_b() {
        assert_eq!(escape("plain name"), "plain name");
        assert_eq!(escape("café"), "café");
        assert_eq!(escape(b(b"a\nb\xff")), "a\\012b\\377");
        assert_eq!(escape(b(b"\x1b[2J")), "\\033[2J");
        // A backslash of the name is doubled, so `\012` always means one byte.
        assert_eq!(escape("a\\012"), "a\\\\012");
        assert_eq!(escape("\u{85}"), "\\302\\205");
    }

    #[test]
    fn hides_control_characters_like_ls_q() {
        assert_eq!(hide_control(b(b"a\nb\xff\xfe")), b"a?b??");
        assert_eq!(hide_control("café"), "café".as_bytes());
    }
}
