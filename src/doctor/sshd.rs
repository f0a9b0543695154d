//! Will ssh come back: the daemon's binary, its host keys, `sshd -t`, and whether it listens.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::start::{native_machine, run_in_root, Refusal};
use super::{Context, Finding, Urgency, Verdict};
use crate::sys::ld_so::Loader;
use crate::sys::quoting::{escape, shell_word};
use crate::sys::root::Last;
use crate::sys::sockets::{inet_sockets, Protocol};

const SSHD: &str = "/usr/sbin/sshd";

pub fn check(cx: &mut Context, out: &mut Vec<Finding>) -> Verdict {
    let installed = cx.db.is_some_and(|db| {
        db.packages
            .iter()
            .any(|p| p.name == "openssh-server" && p.state.has_files())
    });
    if !installed {
        return Verdict::Skipped("openssh-server is not installed".into());
    }
    let sshd = Path::new(SSHD);
    if cx.root.open_regular(sshd).is_err() {
        out.push(Finding {
            urgency: Urgency::High,
            check: "sshd",
            summary: format!("{} is missing: ssh cannot come back", cx.shown(sshd)),
            details: Vec::new(),
            next: vec![cx.rescue("restore", &["openssh-server"])],
        });
        return Verdict::Ok;
    }
    host_keys(cx, out);
    if !starts(cx) {
        return Verdict::Skipped("sshd would not start: the loader check says why".into());
    }
    config_test(cx, out);
    if cx.live {
        listening(cx, out);
    }
    Verdict::Ok
}

/// Whether the loader's search finds everything sshd needs (the loader check says what not).
fn starts(cx: &Context) -> bool {
    let mut loader = Loader::new(cx.root.clone());
    let Ok(elf) = loader.read(Path::new(SSHD)) else {
        return false;
    };
    if elf
        .arch
        .is_some_and(|arch| arch.machine != native_machine())
    {
        return false;
    }
    let origin = loader.origin(Path::new(SSHD));
    loader.tree(Path::new(SSHD), elf, &origin).starts()
}

/// `ssh_host_*_key`: at least one, each a file of root's that only root can read (sshd
/// refuses a private key others can read).
fn host_keys(cx: &Context, out: &mut Vec<Finding>) {
    let dir = Path::new("/etc/ssh");
    let Ok(host_dir) = cx.root.resolve(dir, Last::Follow) else {
        return;
    };
    let mut keys: Vec<PathBuf> = std::fs::read_dir(&host_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| {
            let n = n.to_string_lossy();
            n.starts_with("ssh_host_") && n.ends_with("_key")
        })
        .map(|n| dir.join(n))
        .collect();
    keys.sort();
    let keygen = if cx.live {
        "ssh-keygen -A".to_string()
    } else {
        format!("chroot {} ssh-keygen -A", shell_word(cx.root.dir()))
    };
    if keys.is_empty() {
        out.push(Finding {
            urgency: Urgency::High,
            check: "sshd",
            summary: format!("no host keys in {}: sshd will not start", cx.shown(dir)),
            details: Vec::new(),
            next: vec![keygen],
        });
        return;
    }
    for key in keys {
        let Ok(host) = cx.root.resolve(&key, Last::NoFollow) else {
            continue;
        };
        let Ok(meta) = std::fs::symlink_metadata(&host) else {
            continue;
        };
        let mut wrong = Vec::new();
        let mut next = Vec::new();
        let word = shell_word(&host);
        if !meta.is_file() {
            wrong.push("is not a regular file".to_string());
            next.push(keygen.clone());
        } else {
            if meta.mode() & 0o077 != 0 {
                wrong.push(format!(
                    "mode {:04o}: sshd refuses a private key others can read",
                    meta.mode() & 0o7777
                ));
                next.push(format!("rescue chmod 0600 {word}"));
            }
            if meta.uid() != 0 {
                wrong.push(format!("owned by uid {}, not root", meta.uid()));
                next.push(format!("rescue chown 0:0 {word}"));
            }
        }
        if !wrong.is_empty() {
            out.push(Finding {
                urgency: Urgency::High,
                check: "sshd",
                summary: format!("host key {} {}", escape(&host), wrong.join("; ")),
                details: Vec::new(),
                next,
            });
        }
    }
}

/// `sshd -t`: the configuration and keys as the daemon itself reads them. Off the running root
/// the privilege separation directory (`/run/sshd`, made at boot) is absent: that alone is no
/// finding.
fn config_test(cx: &Context, out: &mut Vec<Finding>) {
    let ran = match run_in_root(cx, &[SSHD, "-t"]) {
        Ok(ran) => ran,
        Err(Refusal::Skip(_)) => return,
        Err(Refusal::Failed(why)) => {
            out.push(finding_for_test(cx, why));
            return;
        }
    };
    if ran.status.success() {
        return;
    }
    let text = String::from_utf8_lossy(&ran.stderr);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| cx.live || !l.contains("Missing privilege separation directory"))
        .filter(|l| !l.trim().is_empty())
        .collect();
    if lines.is_empty() {
        return;
    }
    out.push(finding_for_test(cx, lines.join(" / ")));
}

fn finding_for_test(cx: &Context, why: String) -> Finding {
    let command = if cx.live {
        format!("{SSHD} -t")
    } else {
        format!("chroot {} {SSHD} -t", shell_word(cx.root.dir()))
    };
    Finding {
        urgency: Urgency::High,
        check: "sshd",
        summary: format!("sshd -t fails: {why}"),
        details: Vec::new(),
        next: vec![command],
    }
}

/// The `Port` lines of sshd_config and its drop-ins (22 when none).
fn ports(cx: &Context) -> Vec<u16> {
    let mut files = vec![PathBuf::from("/etc/ssh/sshd_config")];
    if let Ok(dir) = cx
        .root
        .resolve(Path::new("/etc/ssh/sshd_config.d"), Last::Follow)
    {
        let mut more: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| Path::new("/etc/ssh/sshd_config.d").join(e.file_name()))
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .collect();
        more.sort();
        files.extend(more);
    }
    let mut ports = Vec::new();
    for file in files {
        let Ok(file) = cx.root.open_regular(&file) else {
            continue;
        };
        let Ok(bytes) = crate::sys::input::read_at_most(file, 1 << 20) else {
            continue;
        };
        for line in String::from_utf8_lossy(&bytes).lines() {
            let mut words = line.split_whitespace();
            if words.next().is_some_and(|w| w.eq_ignore_ascii_case("port")) {
                ports.extend(words.next().and_then(|p| p.parse::<u16>().ok()));
            }
        }
    }
    if ports.is_empty() {
        ports.push(22);
    }
    ports
}

fn listening(cx: &Context, out: &mut Vec<Finding>) {
    const LISTEN: u32 = 1 << 10;
    let families = [libc::AF_INET as u8, libc::AF_INET6 as u8];
    let Ok((sockets, _)) = inet_sockets(Protocol::Tcp, &families, LISTEN, false) else {
        return;
    };
    let ports = ports(cx);
    if sockets.iter().any(|s| ports.contains(&s.local.1)) {
        return;
    }
    let shown: Vec<String> = ports.iter().map(u16::to_string).collect();
    out.push(Finding {
        urgency: Urgency::High,
        check: "sshd",
        summary: format!("nothing listens on ssh's port {}", shown.join(", ")),
        details: Vec::new(),
        next: vec![
            "rescue ss -ltnp".to_string(),
            "systemctl restart ssh".to_string(),
        ],
    });
}
