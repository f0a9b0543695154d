//! `cargo xtask deb`: target/dist/rescue_VERSION_ARCH.deb, the dist binary as /usr/bin/rescue
//! with its man pages, completions and runbook. No Depends: the binary is static. Everything
//! in it is root:root, 0755 or 0644, and dated from SOURCE_DATE_EPOCH (or the last commit),
//! so two builds of one commit give the same bytes. When lintian is installed it checks the
//! package, and an error from it fails the task.

use std::path::{Path, PathBuf};
use std::process::Command;

use md5::{Digest, Md5};

use crate::docs::{self, source_date_epoch};
use crate::shell::{self, workspace_root};

const MAINTAINER: &str = "rescue developers <rescue@invalid.invalid>";
const SYNOPSIS: &str = "static multi-call binary to verify and restore a broken Debian root";

/// Builds the dist binary, then the package; returns the package's path.
pub fn run() -> crate::Result<PathBuf> {
    package(&crate::dist::run()?)
}

/// The package of `binary`, which `cargo xtask dist` built (with the pages and completions).
pub fn package(binary: &Path) -> crate::Result<PathBuf> {
    // Beside the binary: its pages and completions, and the package.
    let dist = binary.parent().unwrap_or(Path::new("."));
    let version = docs::version();
    let arch = debian_arch(binary)?;
    let epoch = source_date_epoch();
    let stage = shell::cargo_target_dir().join("deb").join(arch);
    if stage.exists() {
        std::fs::remove_dir_all(&stage)
            .map_err(|err| format!("cannot remove {}: {err}", stage.display()))?;
    }
    stage_files(&stage, dist, binary, epoch)?;
    stage_control(&stage, version, arch)?;
    fix_modes_and_times(&stage, epoch)?;

    let deb = dist.join(format!("rescue_{version}_{arch}.deb"));
    shell::run(
        Command::new("dpkg-deb")
            .env("SOURCE_DATE_EPOCH", epoch.to_string())
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&stage)
            .arg(&deb),
    )?;
    let size = std::fs::metadata(&deb)
        .map_err(|err| format!("cannot stat {}: {err}", deb.display()))?
        .len();
    println!("{}: {size} bytes", deb.display());
    if shell::have("lintian") {
        // As root it only warns that it should not run so. Errors fail the task; warnings are
        // printed, and the ones that are so on purpose are overridden (LINTIAN_OVERRIDES).
        shell::run(
            Command::new("lintian")
                .args(["--fail-on", "error", "--info"])
                .arg(&deb),
        )?;
    } else {
        eprintln!("xtask deb: lintian is not installed: the package was not checked");
    }
    Ok(deb)
}

/// Debian's name for the binary's architecture, from its ELF header's machine field.
fn debian_arch(binary: &Path) -> crate::Result<&'static str> {
    let data =
        std::fs::read(binary).map_err(|err| format!("cannot read {}: {err}", binary.display()))?;
    match data.get(18..20).map(|m| u16::from_le_bytes([m[0], m[1]])) {
        Some(62) => Ok("amd64"),
        Some(183) => Ok("arm64"),
        machine => Err(format!(
            "{}: no Debian architecture for ELF machine {machine:?}",
            binary.display()
        )),
    }
}

/// Everything under usr/, where Debian puts each kind of file.
fn stage_files(stage: &Path, dist: &Path, binary: &Path, epoch: u64) -> crate::Result {
    copy(binary, &stage.join("usr/bin/rescue"))?;
    let man1 = stage.join("usr/share/man/man1");
    for entry in read_dir(&dist.join("man"))? {
        copy(&entry, &man1.join(entry.file_name().unwrap_or_default()))?;
    }
    let completions = dist.join("completions");
    for (from, to) in [
        (
            "rescue.bash",
            "usr/share/bash-completion/completions/rescue",
        ),
        ("_rescue", "usr/share/zsh/vendor-completions/_rescue"),
        (
            "rescue.fish",
            "usr/share/fish/vendor_completions.d/rescue.fish",
        ),
    ] {
        copy(&completions.join(from), &stage.join(to))?;
    }
    let doc = stage.join("usr/share/doc/rescue");
    let root = workspace_root();
    copy(&root.join("RESCUE.md"), &doc.join("RESCUE.md"))?;
    copy(&root.join("README.md"), &doc.join("README.md"))?;
    write(&doc.join("copyright"), COPYRIGHT.as_bytes())?;
    write(
        &doc.join("changelog.gz"),
        &docs::gzip(changelog(docs::version(), epoch).as_bytes())?,
    )?;
    write(
        &stage.join("usr/share/lintian/overrides/rescue"),
        LINTIAN_OVERRIDES.as_bytes(),
    )
}

/// DEBIAN/: control, the postinst that says how to seed, and md5sums of every file.
fn stage_control(stage: &Path, version: &str, arch: &str) -> crate::Result {
    let mut files = Vec::new();
    walk(stage, &mut files)?;
    files.sort();
    let mut md5sums = String::new();
    let mut installed_kib = 0;
    for file in &files {
        let data =
            std::fs::read(file).map_err(|err| format!("cannot read {}: {err}", file.display()))?;
        installed_kib += (data.len() as u64).div_ceil(1024);
        let relative = file.strip_prefix(stage).unwrap_or(file);
        let digest: String = Md5::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        md5sums.push_str(&format!("{digest}  {}\n", relative.display()));
    }
    let control = format!(
        "Package: rescue\n\
         Version: {version}\n\
         Architecture: {arch}\n\
         Maintainer: {MAINTAINER}\n\
         Installed-Size: {installed_kib}\n\
         Section: admin\n\
         Priority: optional\n\
         Description: {SYNOPSIS}\n{DESCRIPTION}"
    );
    let debian = stage.join("DEBIAN");
    write(&debian.join("control"), control.as_bytes())?;
    write(&debian.join("md5sums"), md5sums.as_bytes())?;
    write(&debian.join("postinst"), POSTINST.as_bytes())
}

const DESCRIPTION: &str =
    " rescue is one statically linked binary, with no loader, libc or other file
 needed, for a Debian-family host whose own tools are broken. It looks around
 (ls, ps, df, mount, log, ss ...), finds what is wrong with the installed
 packages' files without dpkg (verify), and puts them back from the .deb
 archives (restore), reversibly (undo). Every applet can work on another root
 with --root DIR.
 .
 Seeded in /srv/rescue with its archives and a baseline (rescue seed), it is
 ready on every host before the day it is needed.
";

/// Only on configure: an upgrade or a reconfigure prints it again, a remove never.
const POSTINST: &str = r#"#!/bin/sh
set -e

if [ "$1" = configure ]; then
	cat <<'EOF'
rescue is installed. Seed the kit in /srv/rescue, so that it is already there
when this host breaks (the binary, the archives and a baseline of every
package-owned file):
  rescue seed           make or refresh /srv/rescue
  rescue seed --hook    and refresh it after every apt or dpkg run
See /usr/share/doc/rescue/RESCUE.md.
EOF
fi

exit 0
"#;

const COPYRIGHT: &str = "\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: rescue

Files: *
Copyright: 2026 the rescue developers
License: Expat or Apache-2.0
Comment: The static binary also contains the Rust crates named in the sources'
 Cargo.lock (mostly Expat or Apache-2.0), musl libc (Expat), liblzma (0BSD)
 and zstd (BSD-3-Clause), linked in at build time.

License: Expat
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the \"Software\"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 SOFTWARE.

License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in /usr/share/common-licenses/Apache-2.0.
";

/// What lintian flags on purpose here: a rescue tool must run where no library does, and
/// must read dpkg's database when dpkg cannot.
const LINTIAN_OVERRIDES: &str = "\
# A static-pie executable: ELF type DYN with no DT_NEEDED, on purpose (no loader, no libc).
rescue: shared-library-lacks-prerequisites [usr/bin/rescue]
# verify and restore read /var/lib/dpkg themselves, for the day dpkg itself is broken.
rescue: uses-dpkg-database-directly [usr/bin/rescue]
";

/// A native package's changelog: one entry for the version, dated at the build's epoch.
fn changelog(version: &str, epoch: u64) -> String {
    format!(
        "rescue ({version}) unstable; urgency=medium\n\n  \
         * Built from the rescue sources at this version; README.md says what it\n    \
         does and RESCUE.md how to use it.\n\n -- {MAINTAINER}  {}\n",
        rfc2822(epoch)
    )
}

/// `Thu, 03 Dec 2026 16:26:00 +0000`, as Debian changelogs date their entries.
fn rfc2822(epoch: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day) = docs::civil(epoch);
    let seconds = epoch % 86400;
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[(epoch / 86400 % 7) as usize],
        MONTHS[(month - 1) as usize],
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Directories 0755; the binary and the maintainer script 0755, every other file 0644; every
/// time stamp the build's epoch (children first, since writing them moves a directory's).
fn fix_modes_and_times(dir: &Path, epoch: u64) -> crate::Result {
    use std::os::unix::fs::PermissionsExt;
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    for entry in read_dir(dir)? {
        let executable = entry.ends_with("usr/bin/rescue") || entry.ends_with("DEBIAN/postinst");
        let mode = if entry.is_dir() {
            fix_modes_and_times(&entry, epoch)?;
            0o755
        } else if executable {
            0o755
        } else {
            0o644
        };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode))
            .map_err(|err| format!("cannot chmod {}: {err}", entry.display()))?;
        set_time(&entry, time)?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|err| format!("cannot chmod {}: {err}", dir.display()))?;
    set_time(dir, time)
}

fn set_time(path: &Path, time: std::time::SystemTime) -> crate::Result {
    std::fs::File::open(path)
        .and_then(|file| {
            file.set_times(
                std::fs::FileTimes::new()
                    .set_accessed(time)
                    .set_modified(time),
            )
        })
        .map_err(|err| format!("cannot set the time of {}: {err}", path.display()))
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> crate::Result {
    for entry in read_dir(dir)? {
        if entry.is_dir() {
            if !entry.ends_with("DEBIAN") {
                walk(&entry, files)?;
            }
        } else {
            files.push(entry);
        }
    }
    Ok(())
}

fn read_dir(dir: &Path) -> crate::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect())
        .map_err(|err| format!("cannot read {}: {err}", dir.display()))?;
    entries.sort();
    Ok(entries)
}

fn copy(from: &Path, to: &Path) -> crate::Result {
    let data =
        std::fs::read(from).map_err(|err| format!("cannot read {}: {err}", from.display()))?;
    write(to, &data)
}

fn write(path: &Path, data: &[u8]) -> crate::Result {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|err| format!("cannot create {}: {err}", parent.display()))?;
    }
    std::fs::write(path, data).map_err(|err| format!("cannot write {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changelog_dates() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc2822(1_796_315_160), "Thu, 03 Dec 2026 16:26:00 +0000");
    }
}
