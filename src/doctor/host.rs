//! The running system: stuck tasks, full or failing file systems, conntrack, the kernel log.
//! Only the file systems are checked off the running root (those holding ROOT).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{count, some_of, Context, Finding, Urgency, Verdict};
use crate::sys::mountinfo::{faults, fstab_read_write, overmounted, Mount, MountTable};
use crate::sys::process;
use crate::sys::procfs::{self, STUCK_AFTER};
use crate::sys::quoting::{escape, shell_word};
use crate::sys::statfs::{probe_all, Probe};
use crate::sys::syslog::{read_klogctl, read_kmsg, KernelRecord};

/// A file system this full (blocks or inodes, as `df` counts) is a finding.
const FULL_PERCENT: u64 = 95;
/// conntrack this close to its limit drops new connections soon.
const CONNTRACK_PERCENT: u64 = 90;
/// How long a task must stay in D to count as stuck (a disk read passes through D briefly).
const STILL_STUCK_AFTER: Duration = Duration::from_millis(700);

fn not_live(cx: &Context) -> Option<Verdict> {
    if cx.live {
        return procfs::require_proc()
            .err()
            .map(|_| Verdict::Skipped("/proc is missing".into()));
    }
    Some(Verdict::Skipped(
        "ROOT is not the running system's root".into(),
    ))
}

pub fn stuck_processes(cx: &mut Context, out: &mut Vec<Finding>) -> Verdict {
    if let Some(skip) = not_live(cx) {
        return skip;
    }
    let first = tasks_in_d();
    if first.is_empty() {
        return Verdict::Ok;
    }
    std::thread::sleep(STILL_STUCK_AFTER);
    let still: Vec<(u32, u32, String)> = tasks_in_d()
        .into_iter()
        .filter(|task| first.iter().any(|t| t.0 == task.0 && t.1 == task.1))
        .collect();
    if still.is_empty() {
        return Verdict::Ok;
    }
    let shown: Vec<String> = still
        .iter()
        .map(|(pid, tid, what)| {
            let tid = if pid == tid {
                String::new()
            } else {
                format!(" thread {tid}")
            };
            format!("{pid}{tid} {what}")
        })
        .collect();
    out.push(Finding {
        urgency: Urgency::High,
        check: "stuck processes",
        summary: format!(
            "{} in uninterruptible sleep (D): a dead disk or NFS server, or a FUSE daemon",
            count(still.len(), "task is", "tasks are")
        ),
        details: vec![some_of(&shown, 8)],
        next: vec!["rescue ps -D".to_string()],
    });
    Verdict::Ok
}

/// (pid, tid, "comm (wchan)") of every task in D now.
fn tasks_in_d() -> Vec<(u32, u32, String)> {
    let mut out = Vec::new();
    for pid in procfs::pids().unwrap_or_default() {
        let tasks = process::tasks_in_d(pid);
        if tasks.is_empty() {
            continue;
        }
        let comm = std::fs::read(procfs::pid_path(pid, "comm"))
            .map(|c| process::shown(String::from_utf8_lossy(&c).trim_end()))
            .unwrap_or_else(|_| "?".into());
        for task in tasks {
            let wchan = task.wchan.map(|w| format!(" ({w})")).unwrap_or_default();
            out.push((pid, task.tid, format!("{comm}{wchan}")));
        }
    }
    out
}

/// The mounts that matter: every visible one on the running root; the ones holding or under
/// ROOT otherwise.
fn relevant<'t>(cx: &Context, table: &'t MountTable) -> Vec<&'t Mount> {
    let dir = std::fs::canonicalize(cx.root.dir()).unwrap_or_else(|_| cx.root.dir().into());
    let holding = table.containing(&dir).map(|m| m.mount_point.clone());
    table
        .mounts
        .iter()
        .filter(|m| !overmounted(table, m))
        .filter(|m| {
            cx.live || m.mount_point.starts_with(&dir) || Some(&m.mount_point) == holding.as_ref()
        })
        .collect()
}

pub fn file_systems(cx: &mut Context, out: &mut Vec<Finding>) -> Verdict {
    let table = match MountTable::read() {
        Ok(table) => table,
        Err(err) => return Verdict::Skipped(err.to_string()),
    };
    let mounts = relevant(cx, &table);
    let points: Vec<PathBuf> = mounts.iter().map(|m| m.mount_point.clone()).collect();
    let probes = probe_all(&points, STUCK_AFTER);
    let fstab = fstab_read_write(cx.root);
    for (mount, probe) in mounts.iter().zip(&probes) {
        let fstab_says_rw = fstab.get(&mount.mount_point).copied().unwrap_or(false);
        let point = escape(&mount.mount_point);
        for fault in faults(mount, Some(probe), fstab_says_rw) {
            out.push(Finding {
                urgency: Urgency::High,
                check: "file systems",
                summary: format!("{point} ({}): {fault}", mount.fs_type),
                details: Vec::new(),
                next: vec!["rescue mounts".to_string(), "rescue dmesg -T".to_string()],
            });
        }
        if let Some(full) = fullness(probe).filter(|_| !mount.read_only()) {
            out.push(Finding {
                urgency: Urgency::High,
                check: "file systems",
                summary: format!("{point} ({}) is {full}", mount.fs_type),
                details: Vec::new(),
                next: vec![format!("rescue df -hi {}", shell_word(&mount.mount_point))],
            });
        }
    }
    Verdict::Ok
}

/// "98% full" / "99% of inodes used", as `df` rounds (up), when past the limit.
fn fullness(probe: &Probe) -> Option<String> {
    let Probe::Answered { status: Ok(fs), .. } = probe else {
        return None;
    };
    let percent = |used: u64, total: u64| (used * 100).div_ceil(total.max(1));
    let used = fs.blocks.saturating_sub(fs.blocks_free);
    let blocks = percent(used, used + fs.blocks_available);
    let inodes_used = fs.files.saturating_sub(fs.files_free);
    let inodes = percent(inodes_used, fs.files);
    let mut what = Vec::new();
    if fs.blocks > 0 && blocks >= FULL_PERCENT {
        what.push(format!("{blocks}% full"));
    }
    if fs.files > 0 && inodes >= FULL_PERCENT {
        what.push(format!("{inodes}% of inodes used"));
    }
    (!what.is_empty()).then(|| what.join(", "))
}

pub fn conntrack(cx: &mut Context, out: &mut Vec<Finding>) -> Verdict {
    if let Some(skip) = not_live(cx) {
        return skip;
    }
    let dir = Path::new("/proc/sys/net/netfilter");
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let (Some(used), Some(max)) = (read("nf_conntrack_count"), read("nf_conntrack_max")) else {
        return Verdict::Skipped("nf_conntrack is not loaded".into());
    };
    if max == 0 || used * 100 < max * CONNTRACK_PERCENT {
        return Verdict::Ok;
    }
    out.push(Finding {
        urgency: Urgency::High,
        check: "conntrack",
        summary: format!(
            "the connection tracking table holds {used} of {max} entries: new connections \
             (ssh too) are dropped when it is full"
        ),
        details: Vec::new(),
        next: vec![format!(
            "echo {} > /proc/sys/net/netfilter/nf_conntrack_max",
            max * 2
        )],
    });
    Verdict::Ok
}

/// Kernel messages that explain a bad day, by kind.
const TROUBLE: [(&str, &[&str]); 3] = [
    (
        "I/O errors",
        &[
            "I/O error",
            "EXT4-fs error",
            "BTRFS error",
            "XFS (",
            "critical medium error",
            "blk_update_request",
            "Remounting filesystem read-only",
        ],
    ),
    (
        "OOM kills",
        &["Out of memory", "oom-kill", "Killed process", "oom_reaper"],
    ),
    ("hung tasks", &["blocked for more than"]),
];

pub fn kernel_log(cx: &mut Context, out: &mut Vec<Finding>) -> Verdict {
    if let Some(skip) = not_live(cx) {
        return skip;
    }
    let mut records = Vec::new();
    let read = read_kmsg(false, |record| {
        records.push(record);
        true
    });
    if read.is_err() {
        records = match read_klogctl() {
            Ok(records) => records,
            Err(err) => return Verdict::Skipped(err.to_string()),
        };
    }
    for (kind, patterns) in TROUBLE {
        let matching: Vec<&KernelRecord> = records
            .iter()
            .filter(|r| r.level <= 4)
            .filter(|r| {
                let text = String::from_utf8_lossy(&r.message);
                patterns.iter().any(|p| text.contains(p))
            })
            .collect();
        if matching.is_empty() {
            continue;
        }
        let last: Vec<String> = matching
            .iter()
            .rev()
            .take(5)
            .rev()
            .map(|r| {
                let text = String::from_utf8_lossy(&r.message);
                let line = text.lines().next().unwrap_or_default();
                format!(
                    "[{:>5}.{:06}] {}",
                    r.usec / 1_000_000,
                    r.usec % 1_000_000,
                    process::shown(line)
                )
            })
            .collect();
        out.push(Finding {
            urgency: if kind == "I/O errors" {
                Urgency::High
            } else {
                Urgency::Medium
            },
            check: "kernel log",
            summary: format!(
                "the kernel logged {} since boot",
                count(matching.len(), &singular(kind), kind)
            ),
            details: last,
            next: vec!["rescue dmesg -T".to_string()],
        });
    }
    Verdict::Ok
}

fn singular(kind: &str) -> String {
    match kind {
        "I/O errors" => "I/O error".into(),
        "OOM kills" => "OOM kill".into(),
        _ => "hung task".into(),
    }
}
