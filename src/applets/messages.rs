//! How an applet speaks and how it ends: messages in GNU's shape (`PROGRAM: MESSAGE`, where
//! PROGRAM is the applet as it was called: `ls` through a link, `rescue ls` otherwise),
//! GNU's words for a failed system call, the one yes/no question, and [`Exit`], the error an
//! applet's `run` returns so that `?` works. The dispatcher says what an `Exit` has left to say
//! and turns it into the exit status; no applet repeats that.

use std::fmt::Display;
use std::io::{BufRead, Write};
use std::sync::OnceLock;

use super::quote;
use crate::Error;

/// Why an applet stops early. Its `run` returns `Ok(status)` when it ran to the end (having
/// said everything itself) and an `Exit` when it stops: the dispatcher prints what the `Exit`
/// carries, in the applet's name, and leaves with its status.
#[derive(Debug)]
pub enum Exit {
    /// `PROGRAM: MESSAGE`, then this status.
    Failed { status: i32, message: String },
    /// `PROGRAM: MESSAGE` and GNU's `Try 'PROGRAM --help'` line, then the applet's usage
    /// status.
    Usage(String),
    /// What clap says: `--help` and `--version` (status 0), or a usage error, put in GNU's
    /// words (the applet's usage status).
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
                try_help();
                usage_status
            }
            Exit::Clap(err) if err.use_stderr() => {
                complain(applet, gnu_usage_error(&err, |_| None));
                try_help();
                usage_status
            }
            Exit::Clap(err) => {
                let _ = err.print();
                0
            }
        }
    }
}

fn try_help() {
    let _ = writeln!(
        std::io::stderr().lock(),
        "Try '{} --help' for more information.",
        program()
    );
}

/// A clap error from parsing: `--help` and `--version` as they are, a usage error in GNU's
/// words. `typed_short` gives the short option the user typed for a long name, if any.
pub fn usage_error(err: clap::Error, typed_short: impl Fn(&str) -> Option<char>) -> Exit {
    if err.use_stderr() {
        Exit::Usage(gnu_usage_error(&err, typed_short))
    } else {
        Exit::Clap(err)
    }
}

/// A clap usage error in the words of GNU's getopt, which scripts and GNU's own tests match.
fn gnu_usage_error(err: &clap::Error, typed_short: impl Fn(&str) -> Option<char>) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(text)) => Some(text.clone()),
        Some(ContextValue::Strings(texts)) => texts.first().cloned(),
        _ => None,
    };
    let arg = context(ContextKind::InvalidArg).map(|arg| {
        // clap names an option with its value placeholder: `--sort <WORD>`, `-w <COLS>`.
        let name = arg.split([' ', '=']).next().unwrap_or(&arg).to_string();
        name.trim_end_matches("...").to_string()
    });
    match (err.kind(), arg) {
        (ErrorKind::UnknownArgument, Some(arg)) => match arg.strip_prefix("--") {
            Some(long) => {
                let long = long.split('=').next().unwrap_or(long);
                format!("unrecognized option '--{long}'")
            }
            None => {
                let letter = arg.trim_start_matches('-').chars().next().unwrap_or('?');
                format!("invalid option -- '{letter}'")
            }
        },
        (ErrorKind::InvalidValue | ErrorKind::ValueValidation, Some(arg))
            if context(ContextKind::InvalidValue).is_some_and(|value| !value.is_empty()) =>
        {
            let value = context(ContextKind::InvalidValue).unwrap_or_default();
            format!(
                "invalid argument {} for {}",
                quote_text(&value),
                quote_text(&arg)
            )
        }
        (
            ErrorKind::InvalidValue | ErrorKind::NoEquals | ErrorKind::WrongNumberOfValues,
            Some(arg),
        ) => match arg.strip_prefix("--") {
            Some(long) => match typed_short(long) {
                Some(short) => format!("option requires an argument -- '{short}'"),
                None => format!("option {} requires an argument", quote_text(&arg)),
            },
            None => format!(
                "option requires an argument -- '{}'",
                arg.trim_start_matches('-')
            ),
        },
        (ErrorKind::TooManyValues, Some(arg)) if arg.starts_with("--") => {
            format!("option {} doesn't allow an argument", quote_text(&arg))
        }
        _ => {
            let rendered = err.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid usage");
            first.trim_start_matches("error: ").to_string()
        }
    }
}

fn quote_text(text: &str) -> String {
    super::quote(std::path::Path::new(text))
}

static PROGRAM: OnceLock<String> = OnceLock::new();

/// Records how the applet was called, once, before it runs: `ls` through a link named `ls`,
/// `rescue ls` when named as an argument. Messages and usage lines use it.
pub fn set_program(program: String) {
    let _ = PROGRAM.set(program);
}

/// The applet as it was called (see [`set_program`]); `rescue` before dispatch.
pub fn program() -> &'static str {
    PROGRAM.get().map(String::as_str).unwrap_or("rescue")
}

impl From<clap::Error> for Exit {
    fn from(err: clap::Error) -> Exit {
        Exit::Clap(err)
    }
}

/// Prints `PROGRAM: MESSAGE` on stderr, the shape GNU tools use. PROGRAM is the applet as
/// it was called ([`program`]); `applet` names it when nothing was recorded (unit tests).
pub fn complain(applet: &str, message: impl Display) {
    let program = match PROGRAM.get() {
        Some(program) => program.clone(),
        None => format!("rescue {applet}"),
    };
    let _ = writeln!(std::io::stderr().lock(), "{program}: {message}");
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
    ask_until_end(prompt, yes).unwrap_or(false)
}

/// [`ask`], telling end of input (`None`) from an answer, for a caller with many questions
/// that should stop asking when nobody is there to answer.
pub fn ask_until_end(prompt: &str, yes: Yes) -> Option<bool> {
    {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{prompt}");
        let _ = err.flush();
    }
    let mut answer = String::new();
    match std::io::stdin().lock().read_line(&mut answer) {
        Ok(n) if n > 0 => Some(yes.accepts(&answer)),
        _ => None,
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
