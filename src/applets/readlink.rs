//! usage: rescue readlink [-f|-e|-m] [-n] [-z] [-q|-s|-v] FILE...
//!
//! Print the target of each symbolic link FILE, or with a mode flag its canonical absolute path,
//! as GNU `readlink`:
//!   -f, --canonicalize           follow every symlink; all but the last component must exist
//!   -e, --canonicalize-existing  follow every symlink; every component must exist
//!   -m, --canonicalize-missing   follow every symlink; nothing needs to exist
//!   -n, --no-newline             no newline after the (single) result
//!   -z, --zero                   end each result with NUL, not newline
//!   -q, -s, --quiet, --silent    say nothing on errors (the default)
//!   -v, --verbose                report errors
//!
//! Resolution is done by hand with `lstat` and `readlink` against the host's `/` (at most 40
//! symlinks), so it works without `/proc` and for paths that do not exist yet. Exit status 1
//! when any FILE could not be resolved, with no message unless `-v`, as GNU.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use clap::Parser;

use super::{complain, strerror, Exit};
use crate::sys::canonical::{canonicalize, Missing};

#[derive(Parser)]
#[command(about = "Print resolved symbolic links or canonical file names")]
pub(super) struct Args {
    /// canonicalize by following every symlink; all but the last component must exist
    #[arg(short = 'f', long = "canonicalize", overrides_with_all = ["existing", "missing"])]
    canonicalize: bool,
    /// canonicalize by following every symlink; all components must exist
    #[arg(short = 'e', long = "canonicalize-existing", overrides_with_all = ["canonicalize", "missing"])]
    existing: bool,
    /// canonicalize by following every symlink; no component needs to exist
    #[arg(short = 'm', long = "canonicalize-missing", overrides_with_all = ["canonicalize", "existing"])]
    missing: bool,
    /// do not output the trailing delimiter
    #[arg(short = 'n', long = "no-newline")]
    no_newline: bool,
    /// suppress most error messages (the default)
    #[arg(
        short = 'q',
        long = "quiet",
        visible_short_alias = 's',
        visible_alias = "silent",
        overrides_with = "verbose"
    )]
    quiet: bool,
    /// report error messages
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// end each output line with NUL, not newline
    #[arg(short = 'z', long = "zero")]
    zero: bool,
    #[arg(value_name = "FILE")]
    files: Vec<OsString>,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    if args.files.is_empty() {
        return Err(Exit::usage("missing operand"));
    }
    let mode = if args.canonicalize {
        Some(Missing::LastComponent)
    } else if args.existing {
        Some(Missing::Nothing)
    } else if args.missing {
        Some(Missing::Anything)
    } else {
        None
    };
    let mut no_newline = args.no_newline;
    if no_newline && args.files.len() > 1 {
        complain(name, "ignoring --no-newline with multiple arguments");
        no_newline = false;
    }
    let verbose = args.verbose && !args.quiet;
    let delimiter: &[u8] = if no_newline {
        b""
    } else if args.zero {
        b"\0"
    } else {
        b"\n"
    };
    let mut out = std::io::stdout().lock();
    let mut status = 0;
    for path in &args.files {
        let path = std::path::Path::new(path);
        let result = match mode {
            Some(missing) => canonicalize(path, missing).map(PathBuf::into_os_string),
            None => std::fs::read_link(path).map(PathBuf::into_os_string),
        };
        match result {
            Ok(text) => {
                out.write_all(text.as_bytes())
                    .and_then(|()| out.write_all(delimiter))
                    .map_err(|err| Exit::write_error(1, &err))?;
            }
            Err(err) => {
                if verbose {
                    complain(
                        name,
                        format!(
                            "{}: {}",
                            crate::sys::quoting::shell_word(path),
                            strerror(&err)
                        ),
                    );
                }
                status = 1;
            }
        }
    }
    if out.flush().is_err() {
        return Ok(1);
    }
    Ok(status)
}
