//! The library's one error type: every variant says what was done, to which file, and why it
//! failed, so the applet can print one line an operator can act on.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::sys::quoting::{quote, shell_word};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum Error {
    /// A system call on a path failed: `op` is what we tried ("open", "read link", ...).
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A file does not have the format it must have; `line` is 1-based when known.
    Parse {
        path: PathBuf,
        line: Option<usize>,
        what: String,
    },
    /// Anything else that names a file and a reason (a hostile archive member, a path that would
    /// leave the root, an untrusted archive).
    Refused { path: PathBuf, why: String },
}

impl Error {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub fn parse(path: impl Into<PathBuf>, line: Option<usize>, what: impl Into<String>) -> Self {
        Error::Parse {
            path: path.into(),
            line,
            what: what.into(),
        }
    }

    pub fn refused(path: impl Into<PathBuf>, why: impl Into<String>) -> Self {
        Error::Refused {
            path: path.into(),
            why: why.into(),
        }
    }

    /// The OS error behind an `Io` error, for callers that treat ENOENT as an answer.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Paths are quoted the way GNU quotes them in messages, so a name holding `\e[2J` or a
/// newline is shown escaped and cannot rewrite the terminal or forge a second message:
/// `cannot open 'x'` ([`quote`]), and `x:3: ...` bare when plain ([`shell_word`], GNU's
/// `quotef`, as md5sum names a file before a colon).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, path, source } => write!(
                f,
                "cannot {op} {}: {}",
                quote(path),
                crate::sys::errno::describe(source)
            ),
            Error::Parse {
                path,
                line: Some(line),
                what,
            } => write!(f, "{}:{line}: {what}", shell_word(path)),
            Error::Parse {
                path,
                line: None,
                what,
            } => write!(f, "{}: {what}", shell_word(path)),
            Error::Refused { path, why } => write!(f, "{}: {why}", shell_word(path)),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
