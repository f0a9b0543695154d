//! How an applet speaks and how it ends: messages in GNU's shape (`rescue APPLET: MESSAGE`),
//! GNU's words for a failed system call, the one yes/no question, and [`Exit`], the error an
//! applet's `run` returns so that `?` works. The dispatcher says what an `Exit` has left to say
//! and turns it into the exit status; no applet repeats that.

use std::fmt::Display;
use std::io::{BufRead, Write};

use super::quote;
use crate::Error;

/// Why an applet stops early. Its `run` returns `Ok(status)` when it ran to the end (having
/// said everything itself) and an `Exit` when it stops: the dispatcher prints what the `Exit`
/// carries, in the applet's name, and leaves with its status.
#[derive(Debug)]
pub enum Exit {
    /// `rescue APPLET: MESSAGE`, then this status.
    Failed { status: i32, message: String },
    /// `rescue APPLET: MESSAGE` and GNU's `Try 'rescue APPLET --help'` line, then the applet's
    /// usage status.
    Usage(String),
    /// What clap says: `--help` (status 0), or a usage error (the applet's usage status).
    Clap(clap::Error),
}

impl Exit {
    pub fn failed(status: i32, message: impl Display) -> Exit {
        Exit::Failed {
            status,
            message: message.to_string(),
        }
    }

    pub fn usage(message: impl Display) -> Exit {
        Exit::Usage(message.to_string())
    }

    /// Standard output could not be written (a full disk, a closed descriptor); a closed pipe
    /// never gets here, SIGPIPE ends the process quietly first.
    pub fn write_error(status: i32, err: &std::io::Error) -> Exit {
        Exit::failed(status, format!("write error: {}", strerror(err)))
    }

    /// Prints what is left to say and returns the exit status. `usage_status` is the applet's
    /// status for a usage error: 1 where its GNU peer uses 1, else 2.
    pub fn finish(self, applet: &str, usage_status: i32) -> i32 {
        match self {
            Exit::Failed { status, message } => {
                complain(applet, message);
                status
            }
            Exit::Usage(message) => {
                complain(applet, message);
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "Try 'rescue {applet} --help' for more information."
                );
                usage_status
            }
            Exit::Clap(err) => {
                let _ = err.print();
                if err.use_stderr() {
                    usage_status
                } else {
                    0
                }
            }
        }
    }
}

impl From<clap::Error> for Exit {
    fn from(err: clap::Error) -> Exit {
        Exit::Clap(err)
    }
}

/// Prints `rescue APPLET: MESSAGE` on stderr, the shape GNU tools use.
pub fn complain(applet: &str, message: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "rescue {applet}: {message}");
}

/// The error text of an I/O error, without Rust's "(os error N)" suffix.
pub fn strerror(err: &std::io::Error) -> String {
    crate::sys::errno::describe(err)
}

/// The words GNU uses for a failed system call on a path, given the library's operation name
/// (cp, mv, rm).
pub fn describe_io(err: &Error) -> String {
    match err {
        Error::Io { op, path, source } => {
            let q = quote(path);
            let why = strerror(source);
            match *op {
                "open for reading" => format!("cannot open {q} for reading: {why}"),
                "open for writing" => format!("cannot open {q} for writing: {why}"),
                "read" => format!("error reading {q}: {why}"),
                "write" => format!("error writing {q}: {why}"),
                "preserve ownership for" => format!("failed to preserve ownership for {q}: {why}"),
                "preserve permissions for" => format!("preserving permissions for {q}: {why}"),
                "preserve times for" => format!("preserving times for {q}: {why}"),
                "preserve extended attributes for" => {
                    format!("failed to preserve extended attributes for {q}: {why}")
                }
                op => format!("cannot {op} {q}: {why}"),
            }
        }
        other => other.to_string(),
    }
}

/// Which answers to a question are yes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Yes {
    /// GNU's rule in the C locale (`cp -i`, `mv -i`, `rm -i`): the answer starts with `y` or
    /// `Y`.
    Initial,
    /// `y` or `yes` in any case and nothing else: for a question whose yes changes a root.
    Word,
}

impl Yes {
    fn accepts(self, answer: &str) -> bool {
        match self {
            Yes::Initial => matches!(answer.trim_start().as_bytes().first(), Some(b'y' | b'Y')),
            Yes::Word => matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"),
        }
    }
}

/// Prints `prompt` on stderr without a newline and reads one line of stdin; whether it is yes
/// is `yes`'s to say. End of input, or input that cannot be read, is no.
pub fn ask(prompt: &str, yes: Yes) -> bool {
    {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{prompt}");
        let _ = err.flush();
    }
    let mut answer = String::new();
    match std::io::stdin().lock().read_line(&mut answer) {
        Ok(n) if n > 0 => yes.accepts(&answer),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_rules() {
        for answer in ["y\n", "Y\n", "  yes please\n", "yep"] {
            assert!(Yes::Initial.accepts(answer), "{answer:?}");
        }
        for answer in ["n\n", "\n", "ok y\n"] {
            assert!(!Yes::Initial.accepts(answer), "{answer:?}");
        }
        for answer in ["y\n", "YES\n", " yes \n"] {
            assert!(Yes::Word.accepts(answer), "{answer:?}");
        }
        for answer in ["yep\n", "yes please\n", "\n", "n\n"] {
            assert!(!Yes::Word.accepts(answer), "{answer:?}");
        }
    }
}
