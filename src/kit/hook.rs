//! `seed --hook`: every package change refreshes the kit. apt runs `DPkg::Post-Invoke` after
//! each dpkg batch ([`APT_HOOK`]); a plain `dpkg -i` runs dpkg's own `post-invoke`
//! ([`DPKG_HOOK`]). Under apt both would fire, so dpkg's skips when apt's `DPKG_FRONTEND_LOCKED`
//! is in its environment: apt's hook follows anyway. Either hook runs the seeded binary only
//! when it is there and ends in `|| true`: a kit refresh never fails a package operation.

use std::ffi::OsString;
use std::path::Path;

use super::files;
use crate::sys::quoting::shell_word;
use crate::sys::root::{Last, Root};
use crate::{Error, Result};

/// apt's snippet, inside ROOT.
pub const APT_HOOK: &str = "/etc/apt/apt.conf.d/90-rescue-seed";
/// dpkg's snippet, inside ROOT.
pub const DPKG_HOOK: &str = "/etc/dpkg/dpkg.cfg.d/rescue-seed";

/// The shell command both hooks run: `KIT/rescue seed --quiet` plus `args` (the non-default
/// options the kit was seeded with), only when the binary is there, never failing.
pub fn command(kit_inside: &Path, args: &[OsString]) -> Result<String> {
    let binary = kit_inside.join("rescue");
    let mut line = format!("{} seed --quiet", shell_word(&binary));
    for arg in args {
        line.push(' ');
        line.push_str(&shell_word(arg));
    }
    // apt.conf strings end at a double quote and dpkg.cfg options at a newline; neither has
    // an escape for them.
    if line.contains(['"', '\n', '\r']) {
        return Err(Error::refused(
            &binary,
            "a hook cannot carry a double quote or a newline in its arguments",
        ));
    }
    Ok(format!(
        "if [ -x {0} ]; then {line} || true; fi",
        shell_word(&binary)
    ))
}

/// The two snippets' contents for `command`.
pub fn snippets(command: &str) -> [(&'static str, String); 2] {
    [
        (
            APT_HOOK,
            format!(
                "// Written by `rescue seed --hook`: each apt run refreshes the seeded kit.\n\
                 DPkg::Post-Invoke {{ \"{command}\"; }};\n"
            ),
        ),
        (
            DPKG_HOOK,
            format!(
                "# Written by `rescue seed --hook`: a plain dpkg run refreshes the seeded kit\n\
                 # (under apt, DPKG_FRONTEND_LOCKED is set and apt's own hook does it).\n\
                 post-invoke=if [ -z \"$DPKG_FRONTEND_LOCKED\" ]; then {command}; fi\n"
            ),
        ),
    ]
}

/// Writes both snippets into ROOT (root-confined, atomic); returns each host path with whether
/// it was written (else it already said exactly this).
pub fn install(root: &Root, command: &str) -> Result<Vec<(std::path::PathBuf, bool)>> {
    let mut written = Vec::new();
    for (inside, text) in snippets(command) {
        let inside = Path::new(inside);
        let (Some(dir), Some(name)) = (inside.parent(), inside.file_name()) else {
            continue;
        };
        let host_dir = root
            .resolve(dir, Last::Follow)
            .map_err(|err| Error::io("resolve", root.host_lexical(dir), err))?;
        std::fs::create_dir_all(&host_dir)
            .map_err(|err| Error::io("create directory", &host_dir, err))?;
        let path = host_dir.join(name);
        let wrote = files::write_atomic(&path, text.as_bytes(), 0o644)?;
        written.push((path, wrote));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_runs_the_kit_binary_only_when_there_and_never_fails() {
        let line = command(Path::new("/srv/rescue"), &[]).unwrap();
        assert_eq!(
            line,
            "if [ -x /srv/rescue/rescue ]; then /srv/rescue/rescue seed --quiet || true; fi"
        );
        let with = command(
            Path::new("/srv/my kit"),
            &["--packages".into(), "all".into()],
        );
        assert!(with
            .unwrap()
            .contains("'/srv/my kit/rescue' seed --quiet --packages all"));
        assert!(command(Path::new("/srv/rescue"), &["--from".into(), "a\"b".into()]).is_err());
        let [apt, dpkg] = snippets(&line);
        assert!(apt.1.contains("DPkg::Post-Invoke { \"if [ -x"));
        assert!(dpkg
            .1
            .contains("post-invoke=if [ -z \"$DPKG_FRONTEND_LOCKED\" ]; then if"));
    }
}
