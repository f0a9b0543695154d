//! usage: rescue cat [-AbeEnstTuv] [FILE|-]...
//!
//! Concatenate files to standard output, as GNU cat. `-` or no FILE reads standard input.
//! Without flags the bytes are copied as they are, through the kernel where it can
//! (`copy_file_range`/`sendfile`/`splice`, which `std::io::copy` picks).
//!
//!   -n  number all output lines        -b  number nonempty lines (overrides -n)
//!   -s  squeeze repeated empty lines   -E  `$` at the end of each line
//!   -T  TAB as `^I`                    -v  `^X` and `M-X` for nonprinting bytes
//!   -A  = -vET    -e  = -vE    -t  = -vT    -u  ignored
//!
//! Numbering and squeezing run on across files, as GNU's do. A file that cannot be read is
//! reported (`rescue cat: x: No such file or directory`) and the rest are still copied; the
//! exit code is then 1. A file that is also the output (`cat f >> f`) is refused.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use clap::Parser;

use super::{complain, strerror, Exit};
use crate::sys::quoting::shell_word;

#[derive(Parser)]
#[command(about = "Concatenate files to standard output")]
pub(super) struct Args {
    /// equivalent to -vET
    #[arg(short = 'A', long = "show-all")]
    show_all: bool,
    /// number nonempty output lines, overrides -n
    #[arg(short = 'b', long = "number-nonblank")]
    number_nonblank: bool,
    /// equivalent to -vE
    #[arg(short = 'e')]
    e: bool,
    /// display $ at end of each line
    #[arg(short = 'E', long = "show-ends")]
    show_ends: bool,
    /// number all output lines
    #[arg(short = 'n', long = "number")]
    number: bool,
    /// suppress repeated empty output lines
    #[arg(short = 's', long = "squeeze-blank")]
    squeeze_blank: bool,
    /// equivalent to -vT
    #[arg(short = 't')]
    t: bool,
    /// display TAB characters as ^I
    #[arg(short = 'T', long = "show-tabs")]
    show_tabs: bool,
    /// (ignored)
    #[arg(short = 'u')]
    unbuffered: bool,
    /// use ^ and M- notation, except for LFD and TAB
    #[arg(short = 'v', long = "show-nonprinting")]
    show_nonprinting: bool,
    files: Vec<OsString>,
}

const BUFFER: usize = 128 * 1024;

/// The line-oriented transformations, with the state that carries over between files.
struct Render {
    number: bool,
    number_nonblank: bool,
    squeeze: bool,
    ends: bool,
    tabs: bool,
    nonprinting: bool,
    line: u64,
    at_line_start: bool,
    /// Empty lines seen in a row, to squeeze all but the first.
    empty_run: u64,
    /// A CR held back under -E: GNU shows `^M$` for CRLF endings, a lone CR as it is.
    pending_cr: bool,
}

impl Render {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if b == b'\n' {
                if self.pending_cr {
                    self.pending_cr = false;
                    out.extend_from_slice(b"^M");
                }
                if self.at_line_start {
                    self.empty_run += 1;
                    if self.squeeze && self.empty_run > 1 {
                        continue;
                    }
                    if self.number && !self.number_nonblank {
                        self.push_number(out);
                    }
                }
                if self.ends {
                    out.push(b'$');
                }
                out.push(b'\n');
                self.at_line_start = true;
                continue;
            }
            if self.at_line_start {
                self.at_line_start = false;
                self.empty_run = 0;
                if self.number || self.number_nonblank {
                    self.push_number(out);
                }
            }
            if self.pending_cr {
                self.pending_cr = false;
                out.push(b'\r');
            }
            if b == b'\r' && self.ends && !self.nonprinting {
                self.pending_cr = true;
            } else {
                self.push_byte(b, out);
            }
        }
    }

    /// What is still held back when the input ends.
    fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }

    fn push_number(&mut self, out: &mut Vec<u8>) {
        self.line += 1;
        let _ = write!(out, "{:>6}\t", self.line);
    }

    fn push_byte(&self, b: u8, out: &mut Vec<u8>) {
        if b == b'\t' {
            if self.tabs {
                out.extend_from_slice(b"^I");
            } else {
                out.push(b);
            }
            return;
        }
        if !self.nonprinting {
            out.push(b);
            return;
        }
        let low = if b >= 128 {
            out.extend_from_slice(b"M-");
            b - 128
        } else {
            b
        };
        match low {
            0..=31 => out.extend_from_slice(&[b'^', low + 64]),
            127 => out.extend_from_slice(b"^?"),
            _ => out.push(low),
        }
    }
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let _ = args.unbuffered;
    let nonprinting = args.show_nonprinting || args.show_all || args.e || args.t;
    let mut render = Render {
        number: args.number || args.number_nonblank,
        number_nonblank: args.number_nonblank,
        squeeze: args.squeeze_blank,
        ends: args.show_ends || args.show_all || args.e,
        tabs: args.show_tabs || args.show_all || args.t,
        nonprinting,
        line: 0,
        at_line_start: true,
        empty_run: 0,
        pending_cr: false,
    };
    let plain = !(render.number || render.squeeze || render.ends || render.tabs || nonprinting);
    let files = if args.files.is_empty() {
        vec![OsString::from("-")]
    } else {
        args.files
    };
    // Written through the descriptor itself: Rust's stdout is line-buffered, which would cut
    // large copies into small writes.
    // SAFETY: fd 1 stays open for the whole run; ManuallyDrop keeps us from closing it.
    let mut out = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let output_id = out
        .metadata()
        .ok()
        .filter(|meta| meta.file_type().is_file())
        .map(|meta| (meta.dev(), meta.ino()));
    let mut status = 0;
    for file in &files {
        let path = Path::new(file);
        let result = if file == "-" {
            copy(&mut io::stdin().lock(), &mut out, plain, &mut render)
        } else {
            match File::open(path) {
                Ok(mut input) => {
                    if is_output(&input, output_id) {
                        complain(
                            name,
                            format!("{}: input file is output file", shell_word(path)),
                        );
                        status = 1;
                        continue;
                    }
                    copy(&mut input, &mut out, plain, &mut render)
                }
                Err(err) => Err(Failure::Read(err)),
            }
        };
        match result {
            Ok(()) => {}
            Err(Failure::Read(err)) => {
                complain(name, format!("{}: {}", shell_word(path), strerror(&err)));
                status = 1;
            }
            Err(Failure::Write(err)) => return Err(Exit::write_error(1, &err)),
        }
    }
    let mut tail = Vec::new();
    render.finish(&mut tail);
    out.write_all(&tail)
        .map_err(|err| Exit::write_error(1, &err))?;
    Ok(status)
}

/// Whether the input is the very file standard output appends to, with data still to read:
/// copying it would never end.
fn is_output(input: &File, output_id: Option<(u64, u64)>) -> bool {
    let Some((dev, ino)) = output_id else {
        return false;
    };
    let Ok(meta) = input.metadata() else {
        return false;
    };
    meta.dev() == dev && meta.ino() == ino && meta.len() > 0
}

enum Failure {
    Read(io::Error),
    Write(io::Error),
}

fn copy(
    input: &mut dyn Read,
    out: &mut File,
    plain: bool,
    render: &mut Render,
) -> Result<(), Failure> {
    let mut buf = vec![0u8; BUFFER];
    let mut rendered = Vec::with_capacity(if plain { 0 } else { BUFFER * 2 });
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Failure::Read(err)),
        };
        if plain {
            out.write_all(&buf[..n]).map_err(Failure::Write)?;
        } else {
            rendered.clear();
            render.feed(&buf[..n], &mut rendered);
            out.write_all(&rendered).map_err(Failure::Write)?;
        }
    }
}
