//! `rescue dmesg` against util-linux `dmesg` on the same kernel buffer, a record written to
//! /dev/kmsg by the test, and the syslog(2) path used when there is no /dev.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use common::{stderr, stdout};

fn ours(args: &[&str]) -> Output {
    common::rescue()
        .arg("dmesg")
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .expect("run rescue dmesg")
}

fn theirs(args: &[&str]) -> Output {
    Command::new("dmesg")
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .expect("run dmesg")
}

/// Writes `<LEVEL>rescuetest-NONCE TEXT` to /dev/kmsg; returns the message as the log shows it.
fn write_kmsg(level: u8, text: &str) -> String {
    let nonce = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let message = format!("rescuetest-{}-{nonce} {text}", std::process::id());
    let mut kmsg = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/kmsg")
        .expect("open /dev/kmsg");
    kmsg.write_all(format!("<{level}>{message}\n").as_bytes())
        .expect("write /dev/kmsg");
    message
}

fn kmsg_or_skip() -> bool {
    common::root_or_skip("writes to /dev/kmsg")
        && std::path::Path::new("/dev/kmsg").exists()
        && common::have_or_skip("dmesg")
}

/// Records: a line and the indented lines that continue it.
fn records(output: &Output) -> Vec<String> {
    let mut records: Vec<String> = Vec::new();
    for line in stdout(output).lines() {
        match records.last_mut() {
            Some(last) if line.starts_with(' ') => {
                last.push('\n');
                last.push_str(line);
            }
            _ => records.push(line.to_string()),
        }
    }
    records
}

/// util-linux ran after us, so it may hold newer records and have lost older ones: its last
/// 20 records up to our last one must be ours, in order.
fn same_tail(ours: &Output, theirs: &Output) -> Result<(), String> {
    let (ours, theirs) = (records(ours), records(theirs));
    let last = ours.last().ok_or("we printed nothing")?;
    let end = theirs
        .iter()
        .rposition(|r| r == last)
        .ok_or_else(|| format!("our last record is not theirs: {last}"))?;
    let n = 20.min(end + 1).min(ours.len());
    let (a, b) = (&ours[ours.len() - n..], &theirs[end + 1 - n..=end]);
    if a == b {
        Ok(())
    } else {
        Err(format!(
            "ours:\n{}\ntheirs:\n{}",
            a.join("\n"),
            b.join("\n")
        ))
    }
}

#[test]
fn same_records_as_util_linux() {
    if !kmsg_or_skip() {
        return;
    }
    write_kmsg(4, "compare\twith a tab and \u{1} a control byte");
    let cases: &[&[&str]] = &[
        &[],
        &["-x"],
        // util-linux 2.38 prints `<facility | level>` from /dev/kmsg (its LOG_MAKEPRI wants
        // a shifted facility): the same as ours for the kernel's own records only.
        &["-r", "-k"],
        &["-S", "-r"],
        &["-t"],
        &["-x", "-t"],
        &["-T"],
        &["-x", "-T"],
        &["-l", "err,warn"],
        &["-k"],
        &["-u", "-x"],
        &["-f", "kern,user", "-l", "warn,info"],
        &["-S"],
        &["-S", "-x"],
    ];
    for args in cases {
        // `-T` adds the boot time, which both compute from the clocks at start: a run that
        // straddles a microsecond rounding may differ once.
        let result = (0..3)
            .map(|_| same_tail(&ours(args), &theirs(args)))
            .find(Result::is_ok)
            .unwrap_or_else(|| same_tail(&ours(args), &theirs(args)));
        if let Err(diff) = result {
            panic!("dmesg {args:?}: {diff}");
        }
    }
}

#[test]
fn a_written_record_shows_with_its_level() {
    if !kmsg_or_skip() {
        return;
    }
    let message = write_kmsg(4, "hello");
    let has = |out: &Output| stdout(out).lines().any(|l| l.ends_with(&message));
    let warn = ours(&["-l", "warn"]);
    assert!(has(&warn), "{}", stderr(&warn));
    assert!(!has(&ours(&["-l", "err"])));
    assert!(!has(&ours(&["-k"])), "written by a program: facility user");
    let decoded = stdout(&ours(&["-x"]));
    let line = decoded.lines().find(|l| l.ends_with(&message)).unwrap();
    assert!(line.starts_with("user  :warn  : ["), "{line}");
    let raw = stdout(&ours(&["-r"]));
    let line = raw.lines().find(|l| l.ends_with(&message)).unwrap();
    assert!(line.starts_with("<12>["), "{line}");
    let notime = stdout(&ours(&["-t"]));
    assert!(notime.lines().any(|l| l == message));
    assert!(has(&ours(&["-S", "-l", "4"])));
}

#[test]
fn without_dev_the_syslog_call_is_used() {
    if !kmsg_or_skip() || !common::have_or_skip("unshare") {
        return;
    }
    let message = write_kmsg(6, "no dev");
    let script = format!(
        "mount -t tmpfs none /dev && exec '{}' dmesg",
        env!("CARGO_BIN_EXE_rescue")
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).lines().any(|l| l.ends_with(&message)));
    let follow = Command::new("unshare")
        .args(["-m", "sh", "-c", &format!("{script} -w")])
        .output()
        .unwrap();
    assert_eq!(follow.status.code(), Some(1));
    assert!(stderr(&follow).contains("/dev/kmsg"), "{}", stderr(&follow));
}

/// The static binary in an empty chroot: no /dev, no /proc, nothing but itself.
#[test]
fn in_an_empty_chroot() {
    if !kmsg_or_skip() {
        return;
    }
    let Some(binary) = common::dist_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&binary, dir.path().join("rescue")).unwrap();
    let message = write_kmsg(6, "empty chroot");
    let out = Command::new("chroot")
        .arg(dir.path())
        .args(["/rescue", "dmesg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).lines().any(|l| l.ends_with(&message)));
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn follow_prints_new_records() {
    if !kmsg_or_skip() {
        return;
    }
    let mut child = Killed(
        common::rescue()
            .args(["dmesg", "-w", "-l", "notice"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if send.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let message = write_kmsg(5, "followed");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = receive.recv_timeout(left).expect("the record within 10 s");
        if line.ends_with(&message) {
            break;
        }
    }
}
