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
//! - [`quote_style`]: every `ls --quoting-style` (gnulib's `quotearg_buffer` under `LC_ALL=C`),
//!   with the extra characters `ls` asks to quote (`:` in directory headers, `-F` indicators).
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
    shell_escape_always(name.as_ref().as_bytes(), true)
}

/// A name as GNU's `quoteaf` prints it under `LC_ALL=C`: as [`quote`], except that every byte
/// outside printable ASCII is escaped (`'caf'$'\303\251'`).
pub fn quote_c_locale(name: impl AsRef<OsStr>) -> String {
    shell_escape_always(name.as_ref().as_bytes(), false)
}

/// GNU's `shell-escape-always` style, which `quoteaf` is; the bytes of a name that is not
/// UTF-8 are escaped, so the result is always text.
fn shell_escape_always(bytes: &[u8], utf8: bool) -> String {
    let quoted = quote_style_in(bytes, QuotingStyle::ShellEscapeAlways, b"", utf8);
    String::from_utf8_lossy(&quoted).into_owned()
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
        shell_escape_always(bytes, true)
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

/// GNU's quoting styles (`ls --quoting-style`), under `LC_ALL=C`: every byte outside
/// printable ASCII counts as unprintable.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum QuotingStyle {
    Literal,
    Shell,
    ShellAlways,
    ShellEscape,
    ShellEscapeAlways,
    C,
    CMaybe,
    Escape,
    Locale,
    Clocale,
}

impl QuotingStyle {
    /// The style a `--quoting-style` word (or `QUOTING_STYLE`) names.
    pub fn from_name(name: &str) -> Option<QuotingStyle> {
        Some(match name {
            "literal" => QuotingStyle::Literal,
            "shell" => QuotingStyle::Shell,
            "shell-always" => QuotingStyle::ShellAlways,
            "shell-escape" => QuotingStyle::ShellEscape,
            "shell-escape-always" => QuotingStyle::ShellEscapeAlways,
            "c" => QuotingStyle::C,
            "c-maybe" => QuotingStyle::CMaybe,
            "escape" => QuotingStyle::Escape,
            "locale" => QuotingStyle::Locale,
            "clocale" => QuotingStyle::Clocale,
            _ => return None,
        })
    }

    pub const NAMES: [&'static str; 10] = [
        "literal",
        "shell",
        "shell-always",
        "shell-escape",
        "shell-escape-always",
        "c",
        "c-maybe",
        "escape",
        "locale",
        "clocale",
    ];
}

/// The state of one pass of [`quote_style`]; `Err(())` from a pass means "start again with
/// outer quotes", as gnulib's `force_outer_quoting_style`.
struct Quoter<'a> {
    out: Vec<u8>,
    /// gnulib's shell_always after the shell styles were folded into it.
    shell: bool,
    backslash_escapes: bool,
    elide_outer: bool,
    quote: &'a [u8],
    extra: &'a [u8],
    pending_shell_end: bool,
    single_quote_seen: bool,
    all_compat: bool,
}

/// A name quoted in `style` as gnulib's `quotearg_buffer` does in the C locale; `extra` are
/// more bytes to quote (ls adds ` ` for `escape`, `:` for directory headers, the `-F`
/// indicator characters).
pub fn quote_style(name: &[u8], style: QuotingStyle, extra: &[u8]) -> Vec<u8> {
    quote_style_in(name, style, extra, false)
}

/// As [`quote_style`]; with `utf8`, as in a UTF-8 locale: printable UTF-8 characters stay as
/// they are, and only the bytes of other characters are escaped.
pub fn quote_style_in(name: &[u8], style: QuotingStyle, extra: &[u8], utf8: bool) -> Vec<u8> {
    quote_pass(name, style, extra, utf8).unwrap_or_else(|()| {
        // Outer quotes it is; they quote the extra characters well enough.
        let forced = match style {
            QuotingStyle::ShellEscape => QuotingStyle::ShellEscapeAlways,
            QuotingStyle::Shell => QuotingStyle::ShellAlways,
            QuotingStyle::CMaybe => QuotingStyle::C,
            other => other,
        };
        quote_pass(name, forced, b"", utf8).unwrap_or_default()
    })
}

fn quote_pass(name: &[u8], style: QuotingStyle, extra: &[u8], utf8: bool) -> Result<Vec<u8>, ()> {
    let mut q = Quoter {
        out: Vec::with_capacity(name.len() + 2),
        shell: false,
        backslash_escapes: false,
        elide_outer: false,
        quote: b"",
        extra,
        pending_shell_end: false,
        single_quote_seen: false,
        all_compat: true,
    };
    match style {
        QuotingStyle::CMaybe | QuotingStyle::C => {
            q.elide_outer = style == QuotingStyle::CMaybe;
            if !q.elide_outer {
                q.out.push(b'"');
            }
            q.backslash_escapes = true;
            q.quote = b"\"";
        }
        QuotingStyle::Escape => {
            q.backslash_escapes = true;
            q.elide_outer = false;
        }
        QuotingStyle::Locale | QuotingStyle::Clocale => {
            let mark: &[u8] = if style == QuotingStyle::Locale {
                b"'"
            } else {
                b"\""
            };
            if !q.elide_outer {
                q.out.extend_from_slice(mark);
            }
            q.backslash_escapes = true;
            q.quote = mark;
        }
        QuotingStyle::ShellEscape
        | QuotingStyle::Shell
        | QuotingStyle::ShellEscapeAlways
        | QuotingStyle::ShellAlways => {
            if style == QuotingStyle::ShellEscape {
                q.backslash_escapes = true;
            }
            if matches!(style, QuotingStyle::ShellEscape | QuotingStyle::Shell) {
                q.elide_outer = true;
            }
            if style == QuotingStyle::ShellEscapeAlways && !q.elide_outer {
                q.backslash_escapes = true;
            }
            q.shell = true;
            if !q.elide_outer {
                q.out.push(b'\'');
            }
            q.quote = b"'";
        }
        QuotingStyle::Literal => q.elide_outer = false,
    }
    let mut i = 0;
    while i < name.len() {
        let len = if utf8 && name[i] >= 0x80 {
            plain_len(&name[i..], true)
        } else {
            0
        };
        if len > 0 {
            q.end_escape();
            q.out.extend_from_slice(&name[i..i + len]);
            i += len;
            continue;
        }
        q.byte(name, i, name[i])?;
        i += 1;
    }
    if q.out.is_empty() && q.shell && q.elide_outer {
        return Err(());
    }
    if q.shell && !q.elide_outer && q.single_quote_seen && q.all_compat {
        return quote_pass(name, QuotingStyle::C, extra, utf8);
    }
    if !q.elide_outer {
        q.out.extend_from_slice(q.quote);
    }
    Ok(q.out)
}

impl Quoter<'_> {
    fn start_escape(&mut self) -> Result<(), ()> {
        if self.elide_outer {
            return Err(());
        }
        if self.shell && !self.pending_shell_end {
            self.out.extend_from_slice(b"'$'");
            self.pending_shell_end = true;
        }
        self.out.push(b'\\');
        Ok(())
    }

    fn end_escape(&mut self) {
        if self.pending_shell_end {
            self.out.extend_from_slice(b"''");
            self.pending_shell_end = false;
        }
    }

    /// One byte of the name, as gnulib's big switch.
    fn byte(&mut self, name: &[u8], i: usize, c: u8) -> Result<(), ()> {
        let mut c = c;
        let mut is_right_quote = false;
        let mut compat = false;
        if self.backslash_escapes
            && !self.shell
            && !self.quote.is_empty()
            && name[i..].starts_with(self.quote)
        {
            if self.elide_outer {
                return Err(());
            }
            is_right_quote = true;
        }
        let escape = match c {
            0 if self.backslash_escapes => {
                self.start_escape()?;
                if !self.shell && name.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    self.out.extend_from_slice(b"00");
                }
                self.out.push(b'0');
                self.all_compat = false;
                return Ok(());
            }
            b'?' if self.shell && self.elide_outer => return Err(()),
            0x07 => Some(b'a'),
            0x08 => Some(b'b'),
            0x0c => Some(b'f'),
            0x0b => Some(b'v'),
            b'\n' | b'\r' | b'\t' => {
                if self.shell && self.elide_outer {
                    return Err(());
                }
                Some(match c {
                    b'\n' => b'n',
                    b'\r' => b'r',
                    _ => b't',
                })
            }
            b'\\' => {
                if self.shell {
                    if self.elide_outer {
                        return Err(());
                    }
                    None
                } else if self.backslash_escapes && self.elide_outer && !self.quote.is_empty() {
                    None
                } else {
                    Some(b'\\')
                }
            }
            _ => {
                compat = self.special(name, i, c)?;
                None
            }
        };
        if let Some(esc) = escape {
            if self.backslash_escapes {
                self.start_escape()?;
                self.out.push(esc);
                self.all_compat = false;
                return Ok(());
            }
        }
        if c == b'\'' {
            self.single_quote_seen = true;
            compat = true;
            if self.shell {
                self.out.extend_from_slice(b"'\\'");
                self.pending_shell_end = false;
            }
        }
        let printable = (0x20..0x7f).contains(&c);
        if c >= 0x7f || (c < 0x20 && escape.is_none() && c != 0) {
            compat = printable;
            if self.backslash_escapes && !printable {
                self.start_escape()?;
                self.out.push(b'0' + (c >> 6));
                self.out.push(b'0' + ((c >> 3) & 7));
                c = b'0' + (c & 7);
                self.out.push(c);
                self.all_compat = false;
                return Ok(());
            }
        }
        if ((self.backslash_escapes && !self.shell) || self.elide_outer) && self.extra.contains(&c)
            || is_right_quote
        {
            if self.elide_outer {
                return Err(());
            }
            self.out.push(b'\\');
        }
        self.end_escape();
        self.out.push(c);
        if !compat {
            self.all_compat = false;
        }
        Ok(())
    }

    /// Shell-special bytes; returns whether the byte is harmless to both C and shell quoting.
    fn special(&mut self, name: &[u8], i: usize, c: u8) -> Result<bool, ()> {
        let shell_special = match c {
            b'{' | b'}' if name.len() != 1 => return Ok(false),
            b'#' | b'~' if i != 0 => return Ok(false),
            b'{' | b'}' | b'#' | b'~' | b' ' => {
                self.force_if_shell()?;
                return Ok(true);
            }
            b'!' | b'"' | b'$' | b'&' | b'(' | b')' | b'*' | b';' | b'<' | b'=' | b'>' | b'['
            | b'^' | b'`' | b'|' => true,
            b'\'' => {
                if self.shell && self.elide_outer {
                    return Err(());
                }
                return Ok(true);
            }
            b'%' | b'+' | b',' | b'-' | b'.' | b'/' | b':' | b']' | b'_' => return Ok(true),
            c if c.is_ascii_alphanumeric() => return Ok(true),
            _ => return Ok(c != b'?' && (0x20..0x7f).contains(&c)),
        };
        if shell_special {
            self.force_if_shell()?;
        }
        Ok(false)
    }

    fn force_if_shell(&self) -> Result<(), ()> {
        if self.shell && self.elide_outer {
            Err(())
        } else {
            Ok(())
        }
    }
}

/// A JSON string (RFC 8259): `"`, `\` and control characters escaped; the rest as it is.
pub fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
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
        // A quote right after an escaped run stands outside any quotes, as `rm` 9.1 prints it.
        assert_eq!(q(b"\x01'"), "''$'\\001'\\'''");
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
    fn quoting_styles_match_gnu_ls() {
        let q = |name: &[u8], style: &str| {
            let style = QuotingStyle::from_name(style).unwrap();
            String::from_utf8(quote_style(name, style, b"")).unwrap()
        };
        assert_eq!(q(b"q\x07", "literal"), "q\x07");
        assert_eq!(q(b"q\x07", "shell"), "q\x07");
        assert_eq!(q(b"q\x07", "shell-always"), "'q\x07'");
        assert_eq!(q(b"q\x07", "shell-escape"), "'q'$'\\a'");
        assert_eq!(q(b"q\x07", "c"), "\"q\\a\"");
        assert_eq!(q(b"q\x07", "escape"), "q\\a");
        assert_eq!(q(b"q\x07", "locale"), "'q\\a'");
        assert_eq!(q(b"q\x07", "clocale"), "\"q\\a\"");
        assert_eq!(q(b"t\x04", "c"), "\"t\\004\"");
        assert_eq!(q(b"a b", "shell"), "'a b'");
        assert_eq!(q(b"it's", "shell-escape"), "\"it's\"");
        assert_eq!(q(b"plain", "shell-escape"), "plain");
        let dir = QuotingStyle::ShellEscape;
        assert_eq!(quote_style(b"dir:name", dir, b":"), b"'dir:name'");
        assert_eq!(quote_style(b"a b", QuotingStyle::Escape, b" "), b"a\\ b");
    }

    #[test]
    fn hides_control_characters_like_ls_q() {
        assert_eq!(hide_control(b(b"a\nb\xff\xfe")), b"a?b??");
        assert_eq!(hide_control("café"), "café".as_bytes());
    }
}
