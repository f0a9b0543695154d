//! File names quoted for a shell, the way GNU's `shell-escape-always` style does (`stat -c %N`,
//! GNU's error messages): `'name'`, `"it's"`, and `'a'$'\n''b'` for bytes a terminal or a shell
//! would interpret. Bytes outside printable ASCII are escaped, as GNU does under `LC_ALL=C`.

fn is_plain(byte: u8) -> bool {
    (0x20..0x7f).contains(&byte)
}

/// `bytes` quoted so that pasting the result into a shell gives back the same bytes.
pub fn shell_escape_always(bytes: &[u8]) -> String {
    if bytes.iter().all(|&b| is_plain(b)) {
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
        if is_plain(byte) {
            if !quoted {
                out.push('\'');
                quoted = true;
            }
            if byte == b'\'' {
                out.push_str("'\\''");
            } else {
                out.push(byte as char);
            }
            index += 1;
            continue;
        }
        if quoted {
            out.push('\'');
            quoted = false;
        }
        out.push_str("$'");
        while index < bytes.len() && !is_plain(bytes[index]) {
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
    }
}
