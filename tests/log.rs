//! `rescue log`: syslog files and their rotations (gzip'ed too) searched in time order, and
//! journal files written by systemd's own writer (systemd-journal-remote) read as journalctl
//! reads them, byte for byte in the short format.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use common::{stderr, stdout};

const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

fn log(args: &[&str]) -> Output {
    common::rescue()
        .arg("log")
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run rescue log")
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// 2026-12-01T00:00:00Z.
const DEC_1: u64 = 1_796_083_200;

fn write_file(path: &Path, text: &str, mtime: SystemTime) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    (&file).write_all(text.as_bytes()).unwrap();
    file.set_modified(mtime).unwrap();
}

fn write_gz(path: &Path, text: &str, mtime: SystemTime) {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    (&file).write_all(&encoder.finish().unwrap()).unwrap();
    file.set_modified(mtime).unwrap();
}

/// A root with a live syslog (RFC 3339 stamps), `.1` (both kinds) and `.2.gz` (traditional).
fn syslog_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("var/log");
    std::fs::create_dir_all(&dir).unwrap();
    write_gz(
        &dir.join("syslog.2.gz"),
        "Nov 30 10:00:00 host app[1]: marker only-in-gz\nNov 30 11:00:00 host app[1]: other\n",
        at(DEC_1),
    );
    write_file(
        &dir.join("syslog.1"),
        "Nov 29 09:00:00 host app[2]: marker late-written but early\n\
         2026-12-01T09:00:00.250000+00:00 host app[3]: marker in-dot-1\n\
         \tcontinued without a stamp\n",
        at(DEC_1 + 86_400),
    );
    write_file(
        &dir.join("syslog"),
        "2026-12-02T08:00:00+01:00 host app[4]: MARKER live\n",
        at(DEC_1 + 2 * 86_400),
    );
    root
}

fn lines(output: &Output) -> Vec<String> {
    stdout(output).lines().map(str::to_string).collect()
}

#[test]
fn syslog_rotations_are_searched_in_time_order() {
    let root = syslog_root();
    let r = root.path().to_str().unwrap();
    let found = log(&["--root", r, "marker"]);
    assert_eq!(found.status.code(), Some(0), "{}", stderr(&found));
    assert_eq!(
        lines(&found),
        [
            "Nov 29 09:00:00 host app[2]: marker late-written but early",
            "Nov 30 10:00:00 host app[1]: marker only-in-gz",
            "2026-12-01T09:00:00.250000+00:00 host app[3]: marker in-dot-1",
        ]
    );
    let gz = log(&["--root", r, "only-in-gz"]);
    assert_eq!(
        lines(&gz),
        ["Nov 30 10:00:00 host app[1]: marker only-in-gz"]
    );
    let any_case = log(&["--root", r, "-i", "MARKER"]);
    assert_eq!(lines(&any_case).len(), 4);
    assert_eq!(
        lines(&any_case)[3],
        "2026-12-02T08:00:00+01:00 host app[4]: MARKER live"
    );
    // A line without a stamp carries the one before it.
    let since = log(&["--root", r, "--since", "2026-12-01 09:00", "-i", "mark"]);
    assert_eq!(lines(&since).len(), 2, "{}", stdout(&since));
    let cont = log(&["--root", r, "--since", "2026-12-01", "continued"]);
    assert_eq!(lines(&cont), ["\tcontinued without a stamp"]);
    let until = log(&["--root", r, "--until", "2026-11-30 10:00:00", "marker"]);
    assert_eq!(lines(&until).len(), 2);
    let none = log(&["--root", r, "no such text"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(stdout(&none).is_empty());
}

#[test]
fn named_files_only_and_unreadable_ones_are_named() {
    let root = syslog_root();
    let dir = root.path().join("var/log");
    let gz = dir.join("syslog.2.gz");
    let missing = dir.join("nope");
    let out = log(&["marker", gz.to_str().unwrap(), missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        lines(&out),
        ["Nov 30 10:00:00 host app[1]: marker only-in-gz"]
    );
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
}

#[test]
fn a_traditional_stamp_after_the_files_month_is_last_year() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("syslog");
    // Written on 2027-01-02: its December lines are from 2026.
    write_file(
        &file,
        "Dec 31 23:00:00 h a: old year\nJan  1 01:00:00 h a: new year\n",
        at(DEC_1 + 32 * 86_400),
    );
    let f = file.to_str().unwrap();
    let out = log(&["--since", "2026-12-31", "year", f]);
    assert_eq!(lines(&out).len(), 2);
    let out = log(&["--since", "2027-01-01", "year", f]);
    assert_eq!(lines(&out), ["Jan  1 01:00:00 h a: new year"]);
}

/// One record of journald's export format.
fn export_record(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(name.as_bytes());
        if value.contains(&b'\n') {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        } else {
            out.push(b'=');
        }
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

const BOOTS: [&str; 2] = [
    "0123456789abcdef0123456789abcdef",
    "fedcba9876543210fedcba9876543210",
];

/// The export stream: sshd and cron entries one minute apart from 2026-12-01, priorities 0-7,
/// a long repetitive message (stored compressed), a multi-line one, a clock step back, and a
/// second boot from entry 16 on.
fn export_stream() -> Vec<u8> {
    let long = format!("long {}", "repetitive text ".repeat(500));
    let mut out = Vec::new();
    for i in 0..24u64 {
        let (unit, ident) = if i % 3 == 0 {
            ("cron.service", "CRON")
        } else {
            ("ssh.service", "sshd")
        };
        let message = match i {
            5 => long.clone(),
            7 => "first line\nsecond line\n\tthird".to_string(),
            _ => format!("event {i} hello"),
        };
        // Entry 20 was logged after the clock was set back two minutes.
        let minute = if i == 20 { 18 } else { i };
        let realtime = (DEC_1 + minute * 60) * 1_000_000 + i;
        let boot = BOOTS[usize::from(i >= 16)];
        out.extend(export_record(&[
            ("__REALTIME_TIMESTAMP", realtime.to_string().as_bytes()),
            ("__MONOTONIC_TIMESTAMP", (1000 + i).to_string().as_bytes()),
            ("_BOOT_ID", boot.as_bytes()),
            ("_HOSTNAME", b"host1"),
            ("_SYSTEMD_UNIT", unit.as_bytes()),
            ("SYSLOG_IDENTIFIER", ident.as_bytes()),
            ("_PID", (100 + i % 3).to_string().as_bytes()),
            ("PRIORITY", (i % 8).to_string().as_bytes()),
            ("MESSAGE", message.as_bytes()),
        ]));
    }
    out
}

/// A journal written by systemd-journal-remote from [`export_stream`] under
/// ROOT/var/log/journal/MACHINE/, in COMPACT or regular layout.
fn journal_root(compact: bool) -> Option<(tempfile::TempDir, PathBuf)> {
    if !common::have_or_skip(JOURNAL_REMOTE) || !common::have_or_skip("journalctl") {
        return None;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root
        .path()
        .join("var/log/journal/3d1219c7c4c5404aaa1f6d2a48adfda4");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("system.journal");
    let mut child = Command::new(JOURNAL_REMOTE)
        .arg("-o")
        .arg(&file)
        .arg("-")
        .env("SYSTEMD_JOURNAL_COMPACT", if compact { "1" } else { "0" })
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run systemd-journal-remote");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&export_stream())
        .unwrap();
    assert!(child.wait().unwrap().success());
    Some((root, file))
}

fn journalctl(file: &Path, args: &[&str]) -> Output {
    Command::new("journalctl")
        .arg("-q")
        .arg("--file")
        .arg(file)
        .args(args)
        .env("TZ", "UTC")
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "")
        .output()
        .expect("run journalctl")
}

#[test]
fn journal_entries_print_as_journalctl_prints_them() {
    for compact in [true, false] {
        let Some((root, file)) = journal_root(compact) else {
            return;
        };
        let header = stdout(&journalctl(&file, &["--header"]));
        assert!(header.contains("COMPRESSED-ZSTD"), "{header}");
        assert_eq!(header.contains("COMPACT"), compact, "{header}");
        let r = root.path().to_str().unwrap();
        let cases: &[&[&str]] = &[
            &[],
            &["-u", "ssh"],
            &["-u", "cron.service", "-p", "4"],
            &["-p", "err"],
            &["-p", "2..5"],
            &["--since", "2026-12-01 00:10:00"],
            &[
                "--since",
                "2026-12-01 00:05",
                "--until",
                "2026-12-01 00:12:00",
            ],
            &["-u", "ssh", "--since", "@1796083800"],
            &["-n", "3"],
        ];
        for args in cases {
            let theirs = journalctl(&file, args);
            let mut ours_args = vec!["--root", r];
            ours_args.extend_from_slice(args);
            let ours = log(&ours_args);
            assert!(!stdout(&theirs).is_empty(), "{args:?}");
            assert_same(&ours, &theirs, &format!("compact {compact}, {args:?}"));
            assert_eq!(ours.status.code(), Some(0));
            assert!(stderr(&ours).is_empty(), "{}", stderr(&ours));
        }
        // PATTERN keeps journalctl's lines that hold it.
        let theirs = stdout(&journalctl(&file, &["-u", "ssh"]));
        let expected: String = theirs
            .lines()
            .filter(|l| l.contains("hello"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(stdout(&log(&["--root", r, "-u", "ssh", "hello"])), expected);
        assert_eq!(log(&["--root", r, "-u", "nothing"]).status.code(), Some(1));
    }
}

/// Line by line, so that a difference shows the line, not two pages.
fn assert_same(ours: &Output, theirs: &Output, what: &str) {
    let (ours, theirs) = (stdout(ours), stdout(theirs));
    for (n, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
        let cut = |l: &str| l.chars().take(160).collect::<String>();
        assert_eq!(cut(a), cut(b), "{what}: line {}", n + 1);
        assert_eq!(a, b, "{what}: line {}", n + 1);
    }
    assert_eq!(ours.lines().count(), theirs.lines().count(), "{what}");
}

/// `-b` on another root is the last boot its journals recorded, as journalctl's `-b` with
/// `--file`; its syslog lines count from that boot's first entry.
#[test]
fn last_boot_of_another_root() {
    let Some((root, file)) = journal_root(true) else {
        return;
    };
    let r = root.path().to_str().unwrap();
    let out = log(&["--root", r, "-b", "--journal-only"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_same(&out, &journalctl(&file, &["-b"]), "-b");
    assert_eq!(stdout(&out).lines().count(), 8);
    write_file(
        &root.path().join("var/log/syslog"),
        "2026-12-01T00:15:00+00:00 h a: before the boot\n\
         2026-12-01T00:16:30+00:00 h a: at the boot\n",
        at(DEC_1 + 3600),
    );
    let out = log(&["--root", r, "-b", "the boot"]);
    assert_eq!(lines(&out), ["2026-12-01T00:16:30+00:00 h a: at the boot"]);
}

/// Cut short and randomly damaged copies: read as far as they are valid, never a crash.
#[test]
fn damaged_journals_never_crash_the_reader() {
    let Some((root, file)) = journal_root(true) else {
        return;
    };
    let good = std::fs::read(&file).unwrap();
    let bad = root.path().join("bad.journal");
    // Cut right after entry 12's message (short messages are stored as they are): the entries
    // before it are still there, whatever became of the entry arrays.
    let used = good.iter().rposition(|&b| b != 0).unwrap_or(good.len());
    let needle = b"MESSAGE=event 12 hello";
    let cut = good
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("entry 12's message in the file");
    std::fs::write(&bad, &good[..cut + needle.len()]).unwrap();
    let out = log(&["event", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("event 11 hello"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("event 13 hello"));
    assert!(stderr(&out).contains("bad.journal"), "{}", stderr(&out));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..60 {
        let mut damaged = good[..used.next_multiple_of(8)].to_vec();
        for _ in 0..1 + round % 5 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed % damaged.len() as u64) as usize;
            damaged[at] = (seed >> 32) as u8;
        }
        std::fs::write(&bad, &damaged).unwrap();
        let out = log(&["", bad.to_str().unwrap()]);
        assert!(
            matches!(out.status.code(), Some(0..=2)),
            "round {round}: {out:?}"
        );
    }
}

/// A running `rescue log -f`, killed when dropped; its lines arrive through a channel.
struct Follower {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Follower {
    fn start(args: &[&str]) -> Follower {
        let mut child = common::rescue()
            .arg("log")
            .args(args)
            .env("TZ", "UTC")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run rescue log -f");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                if send.send(line.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    /// The next line, within 10 seconds.
    fn next(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a line within 10 s")
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn follow_sees_appended_lines_rotation_and_new_journal_entries() {
    let root = tempfile::tempdir().unwrap();
    let syslog = root.path().join("var/log/syslog");
    write_file(
        &syslog,
        "2026-12-01T00:00:00+00:00 h a: marker old\n",
        at(DEC_1),
    );
    let follower = Follower::start(&["--root", root.path().to_str().unwrap(), "-f", "marker"]);
    assert_eq!(follower.next(), "2026-12-01T00:00:00+00:00 h a: marker old");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&syslog)
        .unwrap();
    // Half a line is not printed until it is finished.
    file.write_all(b"2026-12-01T00:01:00+00:00 h a: marker ")
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    file.write_all(b"appended\nnot this one\n").unwrap();
    assert_eq!(
        follower.next(),
        "2026-12-01T00:01:00+00:00 h a: marker appended"
    );
    std::fs::rename(&syslog, syslog.with_extension("1")).unwrap();
    write_file(
        &syslog,
        "2026-12-01T00:02:00+00:00 h a: marker rotated\n",
        at(DEC_1),
    );
    assert_eq!(
        follower.next(),
        "2026-12-01T00:02:00+00:00 h a: marker rotated"
    );
    drop(follower);

    let Some((root, file)) = journal_root(true) else {
        return;
    };
    let r = root.path().to_str().unwrap();
    let follower = Follower::start(&["--root", r, "-f", "-n", "1", "-u", "cron"]);
    assert!(follower.next().ends_with("CRON[100]: event 21 hello"));
    // systemd-journal-remote appends to the file it is given.
    let mut child = Command::new(JOURNAL_REMOTE)
        .arg("-o")
        .arg(&file)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let record = export_record(&[
        ("__REALTIME_TIMESTAMP", b"1796090400000000"),
        ("__MONOTONIC_TIMESTAMP", b"99999"),
        ("_BOOT_ID", BOOTS[1].as_bytes()),
        ("_HOSTNAME", b"host1"),
        ("_SYSTEMD_UNIT", b"cron.service"),
        ("SYSLOG_IDENTIFIER", b"CRON"),
        ("_PID", b"7"),
        ("MESSAGE", b"fresh entry"),
    ]);
    child.stdin.take().unwrap().write_all(&record).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        follower.next(),
        "Dec 01 02:00:00 host1 CRON[7]: fresh entry"
    );
}

/// ROOT/var/log as an absolute symlink is followed inside ROOT, never to the host's logs; a
/// FIFO named as a FILE is refused, not waited on.
#[test]
fn paths_stay_inside_root_and_a_fifo_never_hangs() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("var")).unwrap();
    std::os::unix::fs::symlink("/elsewhere/log", root.path().join("var/log")).unwrap();
    write_file(
        &root.path().join("elsewhere/log/syslog"),
        "2026-12-01T00:00:00+00:00 h a: inside the root\n",
        at(DEC_1),
    );
    let out = log(&["--root", root.path().to_str().unwrap(), "inside"]);
    assert_eq!(
        lines(&out),
        ["2026-12-01T00:00:00+00:00 h a: inside the root"]
    );
    let fifo = root.path().join("fifo.journal");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let out = log(&["x", fifo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("fifo.journal"), "{}", stderr(&out));
}

/// `--since` in the forms journalctl takes: a time ago, `today`, `@EPOCH`.
#[test]
fn relative_and_named_times() {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stamp = |secs: u64| {
        let out = Command::new("date")
            .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%S+00:00"])
            .output()
            .unwrap();
        stdout(&out).trim().to_string()
    };
    let root = tempfile::tempdir().unwrap();
    let text = format!(
        "{} h a: two days ago\n{} h a: two hours ago\n{} h a: a minute ago\n",
        stamp(now - 2 * 86_400),
        stamp(now - 2 * 3600),
        stamp(now - 60)
    );
    write_file(
        &root.path().join("var/log/syslog"),
        &text,
        SystemTime::now(),
    );
    let r = root.path().to_str().unwrap();
    let count = |since: &str| lines(&log(&["--root", r, "--since", since, "ago"])).len();
    assert_eq!(count("1d"), 2);
    assert_eq!(count("90min"), 1);
    assert_eq!(count("3h"), 2);
    assert_eq!(count("30s"), 0);
    assert_eq!(count("3 days ago"), 3);
    assert_eq!(count(&format!("@{}", now - 3 * 3600)), 2);
    let yesterday = count("yesterday");
    assert!((1..=2).contains(&yesterday), "{yesterday}");
    assert_eq!(
        log(&["--root", r, "--since", "soon"]).status.code(),
        Some(2)
    );
    let last = lines(&log(&["--root", r, "-n", "1", "ago"]));
    assert_eq!(last.len(), 1);
    assert!(last[0].ends_with("a minute ago"));
}

/// Messages journalctl shows in its own ways: colour stripped, tabs as eight spaces, control
/// bytes and invalid UTF-8 as `[SIZE blob data]`, later lines indented, no identifier.
#[test]
fn odd_messages_print_as_journalctl_prints_them() {
    if !common::have_or_skip(JOURNAL_REMOTE) || !common::have_or_skip("journalctl") {
        return;
    }
    let messages: [&[u8]; 9] = [
        b"a\x1b[31mred\x1b[0m b",
        b"tab\there",
        b"ctl\x01x",
        b"bad \xff utf",
        b"trail\n",
        b"esc\x1b[2Jclear",
        &[b'x'; 5000],
        b"multi\n\nempty",
        "caf\u{e9} \u{2603}".as_bytes(),
    ];
    let mut stream = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let realtime = ((DEC_1 + i as u64) * 1_000_000).to_string();
        let mut fields: Vec<(&str, &[u8])> = vec![
            ("__REALTIME_TIMESTAMP", realtime.as_bytes()),
            ("__MONOTONIC_TIMESTAMP", b"1"),
            ("_BOOT_ID", BOOTS[0].as_bytes()),
            ("_HOSTNAME", b"h"),
            ("MESSAGE", message),
        ];
        if i % 2 == 1 {
            fields.push(("_COMM", b"comm"));
        }
        if i == 4 {
            fields.push(("SYSLOG_PID", b"77"));
        }
        stream.extend(export_record(&fields));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("odd.journal");
    let mut child = Command::new(JOURNAL_REMOTE)
        .arg("-o")
        .arg(&file)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(child.wait().unwrap().success());
    let ours = log(&["", file.to_str().unwrap()]);
    assert_same(&ours, &journalctl(&file, &[]), "odd messages");
    assert!(stdout(&ours).contains("[5B blob data]"));
}

/// `-b` on the running system needs the boot id from /proc: without it, the rule every applet
/// follows (`/proc: missing: ...`, status 2); the other options do not need /proc.
#[test]
fn current_boot_without_proc_says_so() {
    if !common::root_or_skip("mounts over /proc in a private namespace")
        || !common::have_or_skip("unshare")
    {
        return;
    }
    let root = syslog_root();
    let script = format!(
        "mount -t tmpfs none /proc && '{bin}' log -b marker; echo status $?; \
         '{bin}' log --root '{root}' marker >/dev/null; echo status $?",
        bin = env!("CARGO_BIN_EXE_rescue"),
        root = root.path().display()
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("log: /proc: missing: "),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "status 2\nstatus 0\n");
}
