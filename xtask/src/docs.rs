//! The man pages and shell completions `cargo xtask dist` writes next to the binary, made here
//! from the applets' own clap definitions and `//!` help (the applet table), with
//! `clap_mangen` and `clap_complete`. They are build-time crates: the binary never links them.
//!
//!   target/dist/man/rescue.1.gz, rescue-APPLET.1.gz   gzip -9n, as Debian installs them
//!   target/dist/completions/rescue.bash, _rescue, rescue.fish

use std::io::Write;
use std::path::Path;

use clap::{Arg, ArgAction, Command};
use clap_complete::Shell;
use clap_mangen::roff::{bold, roman, Inline, Roff};
use clap_mangen::Man;

use rescue::applets::{Applet, APPLETS};

/// The version in rescue's Cargo.toml (`[package]`'s `version = "..."` line).
pub fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let manifest = crate::shell::workspace_root().join("Cargo.toml");
        let text = std::fs::read_to_string(manifest).unwrap_or_default();
        text.split("\n[")
            .next()
            .into_iter()
            .flat_map(str::lines)
            .find_map(|line| {
                let value = line
                    .strip_prefix("version")?
                    .trim_start()
                    .strip_prefix('=')?;
                Some(value.trim().trim_matches('"').to_string())
            })
            .unwrap_or_else(|| "0".into())
    })
}

const ABOUT: &str =
    "one static binary to look around, verify and restore a broken Debian-family root";

/// Writes `dist/man/` and `dist/completions/`, each made anew.
pub fn run(dist: &Path) -> crate::Result {
    let date = man_date(source_date_epoch());
    let man = dist.join("man");
    recreate(&man)?;
    write(&man.join("rescue.1.gz"), &gzip(&rescue_page(&date)?)?)?;
    for applet in APPLETS {
        let page = applet_page(applet, &date)?;
        write(
            &man.join(format!("rescue-{}.1.gz", applet.name)),
            &gzip(&page)?,
        )?;
    }
    let completions = dist.join("completions");
    recreate(&completions)?;
    for (shell, file) in COMPLETIONS {
        let mut script = Vec::new();
        clap_complete::generate(*shell, &mut multi_call(), "rescue", &mut script);
        write(&completions.join(file), &script)?;
    }
    println!(
        "target/dist/man: {} pages; target/dist/completions: bash, zsh, fish",
        APPLETS.len() + 1
    );
    Ok(())
}

/// Each shell's script, under the name its vendor directory expects (see deb.rs).
pub const COMPLETIONS: &[(Shell, &str)] = &[
    (Shell::Bash, "rescue.bash"),
    (Shell::Zsh, "_rescue"),
    (Shell::Fish, "rescue.fish"),
];

/// `rescue APPLET ...` as one clap command with the applets as subcommands: what the shells
/// complete. The top-level options are the dispatcher's own (src/applets/mod.rs).
fn multi_call() -> Command {
    Command::new("rescue")
        .about(ABOUT)
        .version(version())
        .disable_help_subcommand(true)
        .arg(
            Arg::new("list")
                .long("list")
                .action(ArgAction::SetTrue)
                .help("print the applet names"),
        )
        .arg(
            Arg::new("install")
                .long("install")
                .value_name("DIR")
                .value_hint(clap::ValueHint::DirPath)
                .help("make a symlink named after every applet in DIR"),
        )
        .subcommands(
            APPLETS
                .iter()
                .map(|applet| applet_command(applet, applet.name)),
        )
}

/// An applet's clap definition as `parse` presents it (src/applets/mod.rs): its name, its
/// summary, and the `--version` every applet answers.
fn applet_command(applet: &Applet, name: &str) -> Command {
    (applet.command)()
        .name(name.to_string())
        .about(applet.summary)
        .version(version())
        .disable_version_flag(true)
        .arg(
            Arg::new("rescue-version")
                .long("version")
                .help("output version information and exit")
                .action(ArgAction::Version),
        )
}

/// rescue(1): how the multi-call binary is called, its own options, and every applet.
fn rescue_page(date: &str) -> crate::Result<Vec<u8>> {
    let mut page = Roff::new();
    page.control("TH", ["RESCUE", "1", date, &source(), "User Commands"]);
    page.control("SH", ["NAME"]);
    page.text([roman(format!("rescue - {ABOUT}"))]);
    page.control("SH", ["SYNOPSIS"]);
    for (args, last) in [
        ("APPLET [ARGS]...", false),
        ("--list", false),
        ("--install DIR", false),
        ("--help | --version", true),
    ] {
        page.text([bold("rescue"), roman(format!(" {args}"))]);
        if !last {
            page.control("br", []);
        }
    }
    page.control("PP", []);
    page.text([
        bold("APPLET"),
        roman(" [ARGS]...   (a link named after the applet)"),
    ]);
    page.control("SH", ["DESCRIPTION"]);
    paragraphs(&mut page, DESCRIPTION);
    page.control("SH", ["OPTIONS"]);
    for (option, what) in [
        ("--list", "print the applet names, one a line"),
        (
            "--install DIR",
            "make a symlink named after every applet in DIR, pointing at this binary",
        ),
        (
            "--help",
            "print the usage and the applets with their summaries",
        ),
        ("--version", "print the version"),
    ] {
        page.control("TP", []);
        page.text([bold(option)]);
        page.text([roman(what)]);
    }
    page.control("SH", ["APPLETS"]);
    for applet in APPLETS {
        page.control("TP", []);
        page.text([bold(applet.name)]);
        page.text([roman(format!(
            "{}; see rescue-{}(1)",
            applet.summary, applet.name
        ))]);
    }
    page.control("SH", ["EXIT STATUS"]);
    paragraphs(&mut page, EXIT_STATUS);
    page.control("SH", ["SEE ALSO"]);
    page.text([roman(format!("{}, dpkg(1)", see_also_applets()))]);
    Ok(ascii(&page.render()).into_bytes())
}

const DESCRIPTION: &str = "\
rescue is one static binary (no loader, no libc, no other file needed) for a Debian-family \
host whose own tools are broken: it looks around (ls, ps, df, mount, log ...), finds what \
is wrong with the packages' files (verify), and puts them back from the archives (restore), \
reversibly (undo). Applets that read a system take --root DIR and work on another root as \
if chrooted into it.

It is called as `rescue APPLET [ARGS]`, or through a link named after the applet \
(`rescue --install DIR` makes them). Each applet prints its usage with --help, and has its \
own page: rescue-APPLET(1).

The runbook, what to do on the bad day, step by step, is RESCUE.md, installed as \
/usr/share/doc/rescue/RESCUE.md.";

const EXIT_STATUS: &str = "\
0 when all went well; 1 when problems were found (verify) or where the peer tool (GNU \
coreutils, util-linux, procps) exits 1; 2 when something could not be done. Each applet's \
page says which.";

fn see_also_applets() -> String {
    APPLETS
        .iter()
        .map(|applet| format!("rescue-{}(1)", applet.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// rescue-APPLET(1): NAME and OPTIONS from its clap definition, the usage lines of its help as
/// SYNOPSIS, the rest of its help as DESCRIPTION.
fn applet_page(applet: &Applet, date: &str) -> crate::Result<Vec<u8>> {
    let page_name = format!("rescue-{}", applet.name);
    let command = applet_command(applet, &page_name).bin_name(format!("rescue {}", applet.name));
    let man = Man::new(command)
        .title(page_name.to_uppercase())
        .section("1")
        .date(date)
        .source(source())
        .manual("User Commands");
    let (usage, rest) = split_usage(applet.help);
    let mut out = Vec::new();
    let mut section = |render: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        render(&mut out).map_err(|err| format!("cannot render {page_name}(1): {err}"))
    };
    section(&|w| man.render_title(w))?;
    section(&|w| man.render_name_section(w))?;
    if usage.is_empty() {
        section(&|w| man.render_synopsis_section(w))?;
    } else {
        let mut synopsis = Roff::new();
        synopsis.control("SH", ["SYNOPSIS"]);
        verbatim(&mut synopsis, &usage);
        section(&|w| w.write_all(synopsis.to_roff().as_bytes()))?;
    }
    let mut description = Roff::new();
    description.control("SH", ["DESCRIPTION"]);
    paragraphs(&mut description, rest);
    section(&|w| w.write_all(description.to_roff().as_bytes()))?;
    section(&|w| man.render_options_section(w))?;
    let mut see_also = Roff::new();
    see_also.control("SH", ["SEE ALSO"]);
    see_also.text([roman(
        "rescue(1); /usr/share/doc/rescue/RESCUE.md, the runbook",
    )]);
    section(&|w| w.write_all(see_also.to_roff().as_bytes()))?;
    Ok(without_repeated_preamble(&out))
}

/// The help's first paragraph when it is the usage (`usage: rescue APPLET ...` and its
/// continuation lines, without the word `usage:`), and the rest.
fn split_usage(help: &str) -> (Vec<String>, &str) {
    let (first, rest) = help.split_once("\n\n").unwrap_or((help, ""));
    match first.strip_prefix("usage: ") {
        Some(usage) => {
            let lines = usage
                .lines()
                .map(|line| line.strip_prefix("       ").unwrap_or(line).to_string())
                .collect();
            (lines, rest)
        }
        None => (Vec::new(), help),
    }
}

/// Help text into roff: a blank line starts a paragraph; a paragraph with indented lines (a
/// table, an example) keeps its lines as written, any other is filled; `code` is bold.
fn paragraphs(page: &mut Roff, text: &str) {
    for paragraph in text.split("\n\n") {
        let lines: Vec<&str> = paragraph.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.is_empty() {
            continue;
        }
        page.control("PP", []);
        if lines.iter().any(|line| line.starts_with(' ')) {
            let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            verbatim(page, &lines);
        } else {
            for line in lines {
                page.text(inline_code(line));
            }
        }
    }
}

fn verbatim(page: &mut Roff, lines: &[String]) {
    page.control("nf", []);
    for line in lines {
        page.text(inline_code(line));
    }
    page.control("fi", []);
}

/// A line with its `code` spans in bold; a line whose backticks do not pair stays as it is.
fn inline_code(line: &str) -> Vec<Inline> {
    let parts: Vec<&str> = line.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return vec![roman(line)];
    }
    parts
        .iter()
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| {
            if i % 2 == 1 {
                bold(*part)
            } else {
                roman(*part)
            }
        })
        .collect()
}

/// Each section rendered on its own starts with roff's apostrophe preamble; one is enough.
fn without_repeated_preamble(page: &[u8]) -> Vec<u8> {
    let preamble = Roff::new().render();
    let text = String::from_utf8_lossy(page);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_ref();
    if let Some(after) = rest.strip_prefix(preamble.as_str()) {
        out.push_str(&preamble);
        rest = after;
    }
    out.push_str(&rest.replace(preamble.as_str(), ""));
    ascii(&out).into_bytes()
}

/// The page with every non-ASCII character as groff's `\[uXXXX]`, so that it reads the same
/// whether or not the formatter is told the input's encoding (man-db runs preconv; groff alone
/// does not).
fn ascii(page: &str) -> String {
    page.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\[u{:04X}]", u32::from(c))
            }
        })
        .collect()
}

fn source() -> String {
    format!("rescue {}", version())
}

/// The time the build stands for: SOURCE_DATE_EPOCH when set, else the last commit's time, so
/// that the pages' dates and the package's timestamps are the same on every rebuild.
pub fn source_date_epoch() -> u64 {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return epoch;
    }
    let commit = std::process::Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(crate::shell::workspace_root())
        .output();
    commit
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// `YYYY-MM-DD` of a Unix time, UTC.
fn man_date(epoch: u64) -> String {
    let (year, month, day) = civil(epoch);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The UTC calendar date of a Unix time (Howard Hinnant's days-to-civil).
pub fn civil(epoch: u64) -> (i64, u32, u32) {
    let z = (epoch / 86400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `gzip -9n`: best compression, no name, no time stamp, Unix as the system byte.
pub fn gzip(data: &[u8]) -> crate::Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .operating_system(3)
        .write(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .map_err(|err| format!("cannot compress: {err}"))
}

fn recreate(dir: &Path) -> crate::Result {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|err| format!("cannot remove {}: {err}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))
}

fn write(path: &Path, data: &[u8]) -> crate::Result {
    std::fs::write(path, data).map_err(|err| format!("cannot write {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(951_782_400), (2000, 2, 29));
        assert_eq!(civil(1_796_256_000), (2026, 12, 3));
    }

    #[test]
    fn non_ascii_becomes_a_groff_escape() {
        assert_eq!(ascii("a \u{2014} b"), "a \\[u2014] b");
    }

    #[test]
    fn usage_paragraph_becomes_the_synopsis() {
        let (usage, rest) = split_usage("usage: rescue x [-a]\n              [-b]\n\nDoes x.\n");
        assert_eq!(usage, ["rescue x [-a]", "       [-b]"]);
        assert_eq!(rest, "Does x.\n");
    }
}
