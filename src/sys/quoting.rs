//! File names quoted for a shell, the way GNU's `shell-escape-always` style does (`stat -c %N`,
//! GNU's error messages): `'name'`, `"it's"`, and `'a'$'\n''b'` for bytes a terminal or a shell
//! would interpret. Bytes outside printable ASCII are escaped, as GNU does under `LC_ALL=C`.

fn is_plain(byte: u8) -> bool {
    (0x20..0x7f).contains(&byte)
}

/// `bytes` quoted so that pasting the result into a shell gives back the same bytes.
pub fn shell_escape_always(bytes: &[u8]) -> String {
    quote(bytes, false)
}

/// The same, as GNU quotes in a UTF-8 locale (its messages: `removed 'café'`): printable
/// UTF-8 characters stay as they are; invalid bytes and control characters are escaped
/// (`'bad'$'\377\376''name'`).
pub fn shell_escape_always_utf8(bytes: &[u8]) -> String {
    quote(bytes, true)
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

fn quote(bytes: &[u8], utf8: bool) -> String {
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

#[cfg(test)]
mod tests {
    use super::shell_escape_always as q;

    #[test]
    fn quotes_like_gnu() {
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
        use super::shell_escape_always_utf8 as u;
        assert_eq!(u("café".as_bytes()), "'café'");
        assert_eq!(u(b"bad\xff\xfename"), "'bad'$'\\377\\376''name'");
        assert_eq!(u(b"it's"), "\"it's\"");
        assert_eq!(u(b"a\tb"), "'a'$'\\t''b'");
    }
}
