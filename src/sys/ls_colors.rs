//! `LS_COLORS`, as GNU `ls` reads it: two-letter indicators (`di=01;34`), `*.ext` suffixes
//! (matched without regard to case, the later definition first), backslash and caret escapes
//! in values, and `ln=target` (colour a symlink as what it points at). This module only
//! parses and answers "which sequence"; the listing decides when to print it.

/// The indicators GNU knows, in its order; `Indicator as usize` indexes [`Colors::codes`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Indicator {
    Left,
    Right,
    End,
    Reset,
    Normal,
    File,
    Dir,
    Link,
    Fifo,
    Sock,
    Block,
    Char,
    Missing,
    Orphan,
    Exec,
    Door,
    Setuid,
    Setgid,
    Sticky,
    OtherWritable,
    StickyOtherWritable,
    Capability,
    MultiHardlink,
    ClearToEol,
}

const NAMES: [&str; 24] = [
    "lc", "rc", "ec", "rs", "no", "fi", "di", "ln", "pi", "so", "bd", "cd", "mi", "or", "ex", "do",
    "su", "sg", "st", "ow", "tw", "ca", "mh", "cl",
];

const DEFAULTS: [Option<&str>; 24] = [
    Some("\x1b["),
    Some("m"),
    None,
    Some("0"),
    None,
    None,
    Some("01;34"),
    Some("01;36"),
    Some("33"),
    Some("01;35"),
    Some("01;33"),
    Some("01;33"),
    None,
    None,
    Some("01;32"),
    Some("01;35"),
    Some("37;41"),
    Some("30;43"),
    Some("37;44"),
    Some("34;42"),
    Some("30;42"),
    None,
    None,
    Some("\x1b[K"),
];

/// The terminals GNU's built-in colour database names (`dircolors -p`'s TERM lines): with no
/// `LS_COLORS` and no `COLORTERM`, colour is only for these.
const TERMS: [&str; 25] = [
    "Eterm",
    "ansi",
    "*color*",
    "con[0-9]*x[0-9]*",
    "cons25",
    "console",
    "cygwin",
    "*direct*",
    "dtterm",
    "gnome",
    "hurd",
    "jfbterm",
    "konsole",
    "kterm",
    "linux",
    "linux-c",
    "mlterm",
    "putty",
    "rxvt*",
    "screen*",
    "st",
    "terminator",
    "tmux*",
    "vt100",
    "xterm*",
];

/// The parsed colours.
#[derive(Clone, Debug)]
pub struct Colors {
    codes: Vec<Option<Vec<u8>>>,
    /// Suffix and sequence, the later definition first.
    extensions: Vec<(Vec<u8>, Vec<u8>)>,
    /// `ln=target`: a symlink takes the colour of what it points at.
    pub link_as_target: bool,
}

/// Why `LS_COLORS` was not used.
#[derive(Debug, PartialEq, Eq)]
pub enum ColorsError {
    /// An indicator GNU does not know (`xx=1`); the message names it.
    UnknownPrefix(String),
    Unparsable,
}

impl Colors {
    /// GNU's built-in colours.
    pub fn builtin() -> Colors {
        Colors {
            codes: DEFAULTS
                .iter()
                .map(|code| code.map(|c| c.as_bytes().to_vec()))
                .collect(),
            extensions: Vec::new(),
            link_as_target: false,
        }
    }

    /// Colours from an `LS_COLORS` value over the built-in ones. On an error GNU prints the
    /// unknown prefix (if any), then says the value is unparsable and uses no colour.
    pub fn parse(spec: &[u8]) -> (Colors, Vec<ColorsError>) {
        let mut colors = Colors::builtin();
        let mut errors = Vec::new();
        let mut at = 0;
        let ok = loop {
            match spec.get(at) {
                None => break true,
                Some(b':') => at += 1,
                Some(b'*') => {
                    let Some((ext, next)) = funky(spec, at + 1, true) else {
                        break false;
                    };
                    if spec.get(next) != Some(&b'=') {
                        break false;
                    }
                    let Some((seq, next)) = funky(spec, next + 1, false) else {
                        break false;
                    };
                    colors.extensions.insert(0, (ext, seq));
                    at = next;
                }
                Some(_) => {
                    let (Some(&a), Some(&b)) = (spec.get(at), spec.get(at + 1)) else {
                        break false;
                    };
                    if spec.get(at + 2) != Some(&b'=') {
                        break false;
                    }
                    let label = [a, b];
                    let Some(index) = NAMES.iter().position(|n| n.as_bytes() == label) else {
                        let text = String::from_utf8_lossy(&label).into_owned();
                        errors.push(ColorsError::UnknownPrefix(text));
                        break false;
                    };
                    let Some((seq, next)) = funky(spec, at + 3, false) else {
                        break false;
                    };
                    colors.codes[index] = Some(seq);
                    at = next;
                }
            }
        };
        if !ok {
            errors.push(ColorsError::Unparsable);
        }
        colors.link_as_target = colors.get(Indicator::Link) == Some(b"target".as_slice());
        (colors, errors)
    }

    /// The sequence of an indicator; `None` when unset (an empty value is set but empty).
    pub fn get(&self, which: Indicator) -> Option<&[u8]> {
        self.codes[which as usize].as_deref()
    }

    /// GNU's `is_colored`: set, and not empty, `0` or `00`.
    pub fn is_colored(&self, which: Indicator) -> bool {
        !matches!(self.get(which), None | Some(b"" | b"0" | b"00"))
    }

    /// The sequence of the first suffix rule `name` ends with, ignoring ASCII case.
    pub fn extension(&self, name: &[u8]) -> Option<&[u8]> {
        self.extensions
            .iter()
            .find(|(ext, _)| {
                ext.len() <= name.len() && name[name.len() - ext.len()..].eq_ignore_ascii_case(ext)
            })
            .map(|(_, seq)| seq.as_slice())
    }
}

/// Whether `TERM` names a terminal of GNU's colour database.
pub fn known_term(term: &[u8]) -> bool {
    !term.is_empty() && TERMS.iter().any(|pattern| glob(pattern.as_bytes(), term))
}

/// The shell glob subset the TERM patterns use: `*`, `?` and `[a-z]` classes.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.first() {
        None => text.is_empty(),
        Some(b'*') => (0..=text.len()).any(|skip| glob(&pattern[1..], &text[skip..])),
        Some(b'?') => !text.is_empty() && glob(&pattern[1..], &text[1..]),
        Some(b'[') => {
            let Some(close) = pattern.iter().position(|&b| b == b']') else {
                return false;
            };
            let Some(&c) = text.first() else {
                return false;
            };
            let class = &pattern[1..close];
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= (class[i]..=class[i + 2]).contains(&c);
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit && glob(&pattern[close + 1..], &text[1..])
        }
        Some(&p) => text.first() == Some(&p) && glob(&pattern[1..], &text[1..]),
    }
}

/// One value of `LS_COLORS` from `at`, with GNU's escapes (`\e`, `\033`, `\x1b`, `^[`);
/// ends at `:` or the end (and at `=` for a suffix). Returns the bytes and where it stopped.
fn funky(spec: &[u8], mut at: usize, equals_ends: bool) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    loop {
        let Some(&c) = spec.get(at) else {
            return Some((out, at));
        };
        match c {
            b':' => return Some((out, at)),
            b'=' if equals_ends => return Some((out, at)),
            b'\\' => {
                at += 1;
                let (byte, next) = backslash(spec, at)?;
                out.push(byte);
                at = next;
            }
            b'^' => {
                let c = *spec.get(at + 1)?;
                match c {
                    b'@'..=b'~' => out.push(c & 0o37),
                    b'?' => out.push(127),
                    _ => return None,
                }
                at += 2;
            }
            _ => {
                out.push(c);
                at += 1;
            }
        }
    }
}

/// A backslash escape starting at `at` (just past the backslash).
fn backslash(spec: &[u8], at: usize) -> Option<(u8, usize)> {
    let c = *spec.get(at)?;
    let simple = match c {
        b'0'..=b'7' => {
            let mut num: u8 = 0;
            let mut at = at;
            while let Some(&d @ b'0'..=b'7') = spec.get(at) {
                num = num.wrapping_shl(3).wrapping_add(d - b'0');
                at += 1;
            }
            return Some((num, at));
        }
        b'x' | b'X' => {
            let mut num: u8 = 0;
            let mut at = at + 1;
            while let Some(d) = spec.get(at).and_then(|&d| (d as char).to_digit(16)) {
                num = num.wrapping_shl(4).wrapping_add(d as u8);
                at += 1;
            }
            return Some((num, at));
        }
        b'a' => 7,
        b'b' => 8,
        b'e' => 27,
        b'f' => 12,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'v' => 11,
        b'?' => 127,
        b'_' => b' ',
        other => other,
    };
    Some((simple, at + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_indicators_suffixes_and_escapes() {
        let (colors, errors) = Colors::parse(b"di=01;34:*.jpg=01;35:*.JPG=1:ln=target:lc=\\e[");
        assert!(errors.is_empty());
        assert_eq!(colors.extension(b"a.Jpg"), Some(b"1".as_slice()));
        assert!(colors.link_as_target);
        assert_eq!(colors.get(Indicator::Left), Some(b"\x1b[".as_slice()));
        let (_, errors) = Colors::parse(b"xx=1");
        assert_eq!(errors.len(), 2);
        assert!(!Colors::parse(b"ow=:")
            .0
            .is_colored(Indicator::OtherWritable));
    }

    #[test]
    fn knows_gnus_terminals() {
        assert!(known_term(b"xterm-256color"));
        assert!(known_term(b"con80x25"));
        assert!(!known_term(b"dumb"));
        assert!(!known_term(b""));
    }
}
