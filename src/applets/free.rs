//! usage: rescue free [-b|-k|-m|-g|--tera] [-h] [--si] [-w] [-t]
//!
//! Amount of free and used memory, from /proc/meminfo, as procps-ng 4 `free` prints it:
//!   -b, --bytes  -k, --kibi (the default)  -m, --mebi  -g, --gibi  --tera   units
//!   -h, --human  short sizes with units (B, Ki, Mi, Gi...)
//!   --si         powers of 1000 instead of 1024
//!   -w, --wide   buffers and cache in separate columns
//!   -t, --total  a line with the totals of memory and swap
//! "used" is total minus available, as procps 4 counts it; buff/cache is Buffers + Cached +
//! SReclaimable.

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

use super::Exit;
use crate::sys::procfs;
use crate::sys::sysinfo::Memory;

#[derive(Parser)]
#[command(
    about = "Display amount of free and used memory",
    disable_help_flag = true
)]
pub(super) struct Args {
    /// show output in bytes
    #[arg(short = 'b', long = "bytes")]
    bytes: bool,
    /// show output in kibibytes
    #[arg(short = 'k', long = "kibi")]
    kibi: bool,
    /// show output in mebibytes
    #[arg(short = 'm', long = "mebi")]
    mebi: bool,
    /// show output in gibibytes
    #[arg(short = 'g', long = "gibi")]
    gibi: bool,
    /// show output in tebibytes
    #[arg(long = "tera")]
    tera: bool,
    /// show human-readable output
    #[arg(short = 'h', long = "human")]
    human: bool,
    /// use powers of 1000 not 1024
    #[arg(long = "si")]
    si: bool,
    /// wide output
    #[arg(short = 'w', long = "wide")]
    wide: bool,
    /// show total for RAM + swap
    #[arg(short = 't', long = "total")]
    total: bool,
    /// display this help and exit
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

/// How a size in kB is written: procps' `scale_size`.
struct Scale {
    /// 0: kB as read; 1: bytes; 2: kibi; 3: mebi...
    exponent: i32,
    human: bool,
    si: bool,
}

impl Scale {
    fn show(&self, kib: u64) -> String {
        let base: f64 = if self.si { 1000.0 } else { 1024.0 };
        let bytes = kib * 1024;
        if !self.human {
            return match self.exponent {
                0 => kib.to_string(),
                1 => bytes.to_string(),
                n => ((bytes as f64 / base.powi(n - 1)) as u64).to_string(),
            };
        }
        let plain = format!("{bytes}B");
        if plain.len() <= 4 {
            return plain;
        }
        let (limit, suffix) = if self.si { (4, "") } else { (5, "i") };
        for (i, unit) in ['K', 'M', 'G', 'T', 'P'].iter().enumerate() {
            let value = bytes as f64 / base.powi(i as i32 + 1);
            let tenths = format!("{value:.1}{unit}{suffix}");
            if tenths.len() <= limit {
                return tenths;
            }
            let whole = format!("{}{unit}{suffix}", value as u64);
            if whole.len() <= limit {
                return whole;
            }
        }
        plain
    }
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    procfs::require_proc().map_err(|err| Exit::failed(2, err))?;
    let memory = Memory::read().map_err(|err| Exit::failed(1, err))?;
    let exponent = [
        (args.bytes, 1),
        (args.kibi, 2),
        (args.mebi, 3),
        (args.gibi, 4),
        (args.tera, 5),
    ]
    .iter()
    .rev()
    .find(|(set, _)| *set)
    .map_or(0, |(_, exponent)| *exponent);
    let scale = Scale {
        exponent,
        human: args.human,
        si: args.si,
    };
    let text = render(&memory, &scale, args.wide, args.total);
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| Exit::write_error(1, &err))?;
    Ok(0)
}

fn render(memory: &Memory, scale: &Scale, wide: bool, total: bool) -> String {
    let cell = |kib: u64| format!(" {:>11}", scale.show(kib));
    let mut text = format!("{:<8}", "");
    let headers: &[&str] = if wide {
        &[
            "total",
            "used",
            "free",
            "shared",
            "buffers",
            "cache",
            "available",
        ]
    } else {
        &["total", "used", "free", "shared", "buff/cache", "available"]
    };
    for header in headers {
        text.push_str(&format!(" {header:>11}"));
    }
    text.push('\n');
    text.push_str(&format!("{:<8}", "Mem:"));
    for kib in [
        memory.total(),
        memory.used(),
        memory.free(),
        memory.shared(),
    ] {
        text.push_str(&cell(kib));
    }
    if wide {
        text.push_str(&cell(memory.buffers()));
        text.push_str(&cell(memory.cache()));
    } else {
        text.push_str(&cell(memory.buffers() + memory.cache()));
    }
    text.push_str(&cell(memory.available()));
    text.push('\n');
    let swap = [memory.swap_total(), memory.swap_used(), memory.swap_free()];
    text.push_str(&format!("{:<8}", "Swap:"));
    for kib in swap {
        text.push_str(&cell(kib));
    }
    text.push('\n');
    if total {
        text.push_str(&format!("{:<8}", "Total:"));
        let sums = [
            memory.total() + swap[0],
            memory.used() + swap[1],
            memory.free() + swap[2],
        ];
        for kib in sums {
            text.push_str(&cell(kib));
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_as_procps() {
        let scale = Scale {
            exponent: 0,
            human: true,
            si: false,
        };
        assert_eq!(scale.show(0), "0B");
        assert_eq!(scale.show(9508), "9.3Mi");
        assert_eq!(scale.show(618780), "604Mi");
        assert_eq!(scale.show(24683568), "23Gi");
    }
}
