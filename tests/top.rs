//! `rescue top -b`: the summary lines procps prints, every frame asked for, processes this test
//! starts listed, sorting by memory, and D-state processes first whatever the sort.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The frames of `rescue top ARGS` (each starts with its `top - ` line).
fn frames(args: &[&str]) -> Vec<Vec<String>> {
    let out = common::rescue()
        .arg("top")
        .args(args)
        .output()
        .expect("run");
    common::assert_exit(&out, 0, &format!("top {args:?}"));
    let mut frames: Vec<Vec<String>> = Vec::new();
    for line in common::stdout(&out).lines() {
        if line.starts_with("top - ") {
            frames.push(Vec::new());
        }
        if let Some(frame) = frames.last_mut() {
            frame.push(line.to_string());
        }
    }
    frames
}

/// The pids of a frame's process rows, in order.
fn pids(frame: &[String]) -> Vec<u32> {
    let header = frame
        .iter()
        .position(|line| line.contains("PID USER"))
        .expect("header");
    frame[header + 1..]
        .iter()
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn batch_frames_have_procps_summary_lines_and_list_our_process() {
    let sleeper = Reaped(Command::new("sleep").arg("300").spawn().unwrap());
    let frames = frames(&["-b", "-n", "2", "-d", "0.2"]);
    assert_eq!(frames.len(), 2);
    for frame in &frames {
        let starts = ["top - ", "Tasks:", "%Cpu(s):", "MiB Mem :", "MiB Swap:", ""];
        for (line, start) in frame.iter().zip(starts) {
            assert!(
                line.starts_with(start),
                "{line:?} should start with {start:?}"
            );
        }
        assert!(frame[0].contains(" up ") && frame[0].contains("load average: "));
        assert!(frame[1].contains(" in D state"), "{}", frame[1]);
        assert!(
            frame[6].ends_with("%CPU  %MEM     TIME+ COMMAND"),
            "{}",
            frame[6]
        );
        assert!(pids(frame).contains(&sleeper.0.id()), "sleep not listed");
    }
    if common::have("top") {
        let theirs = Command::new("top")
            .args(["-b", "-n", "1"])
            .output()
            .unwrap();
        let theirs = common::stdout(&theirs);
        // Numbers as one `9` and no spaces: values change width (`100.0 id`) between runs.
        let shape = |line: &str| {
            let mut shaped = String::new();
            for c in line.chars().filter(|c| !c.is_whitespace()) {
                let c = if c.is_ascii_digit() || c == '.' {
                    '9'
                } else {
                    c
                };
                if !(c == '9' && shaped.ends_with('9')) {
                    shaped.push(c);
                }
            }
            shaped
        };
        for n in [2, 3, 4, 6] {
            let line = theirs.lines().nth(n).unwrap_or_default();
            assert_eq!(shape(&frames[0][n]), shape(line), "line {n}");
        }
    }
}

/// A python holding 200 MiB it has written to (so it is resident), when python3 is here.
fn memory_hog() -> Option<Reaped> {
    if !common::have("python3") {
        return None;
    }
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys,time\nb = b'x' * (200 << 20)\nprint('ready', flush=True)\ntime.sleep(300)",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    (line.trim() == "ready").then_some(Reaped(child))
}

/// A forked child blocked in vfork (D state) while its vfork child pauses; both killed on drop.
struct VforkParent(i32);

impl VforkParent {
    fn start() -> VforkParent {
        // SAFETY: the child only calls vfork, pause and _exit (async-signal-safe).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: as above; the vfork child never returns.
            #[allow(deprecated)]
            unsafe {
                if libc::vfork() == 0 {
                    loop {
                        libc::pause();
                    }
                }
                libc::_exit(0);
            }
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            let stat = std::fs::read(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .iter()
                .rposition(|&b| b == b')')
                .and_then(|at| stat.get(at + 2));
            if state == Some(&b'D') {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        VforkParent(pid)
    }
}

impl Drop for VforkParent {
    fn drop(&mut self) {
        let path = format!("/proc/{0}/task/{0}/children", self.0);
        let children = std::fs::read_to_string(path).unwrap_or_default();
        // SAFETY: signalling and reaping this test's own processes.
        unsafe {
            for child in children
                .split_whitespace()
                .filter_map(|w| w.parse::<i32>().ok())
            {
                libc::kill(child, libc::SIGKILL);
            }
            libc::kill(self.0, libc::SIGKILL);
            libc::waitpid(self.0, std::ptr::null_mut(), 0);
        }
    }
}

#[test]
fn memory_sort_puts_the_big_one_first_and_d_state_before_all() {
    let Some(hog) = memory_hog() else {
        common::skip("no python3 to hold memory");
        return;
    };
    let small = Reaped(Command::new("sleep").arg("300").spawn().unwrap());
    let (hog_pid, small_pid) = (hog.0.id(), small.0.id());
    let list = format!("{small_pid},{hog_pid}");
    for sort in ["%MEM", "RES"] {
        let shown = frames(&["-b", "-n", "1", "-o", sort, "-p", &list]);
        assert_eq!(pids(&shown[0]), [hog_pid, small_pid], "-o {sort}");
    }
    let shown = frames(&["-b", "-n", "1", "-o", "-%MEM", "-p", &list]);
    assert_eq!(pids(&shown[0]), [small_pid, hog_pid], "ascending");
    let stuck = VforkParent::start();
    let list = format!("{small_pid},{hog_pid},{}", stuck.0);
    let frames = frames(&["-b", "-n", "1", "-o", "%MEM", "-p", &list]);
    assert_eq!(pids(&frames[0]), [stuck.0 as u32, hog_pid, small_pid]);
    assert!(frames[0][1].contains("   1 in D state"), "{}", frames[0][1]);
}

#[test]
fn an_unknown_sort_field_is_refused() {
    let out = common::run(&["top", "-b", "-n", "1", "-o", "NOSUCH"]);
    common::assert_exit(&out, 1, "bad field");
}

/// Drives interactive top on a pseudo-terminal: it redraws, takes keys in raw mode, quits on
/// `q` with status 0 and leaves the terminal as it found it.
const DRIVE_ON_A_PTY: &str = r#"
import os, pty, select, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "top", "-d", "0.2"])
out = b""
def drain(seconds):
    global out
    end = time.time() + seconds
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                return
during = None
drain(0.8)
during = termios.tcgetattr(fd)[3]
os.write(fd, b"M")
drain(0.5)
os.write(fd, b"q")
drain(0.5)
_, status = os.waitpid(pid, 0)
after = termios.tcgetattr(fd)[3]
print("exit", os.waitstatus_to_exitcode(status))
print("raw-while-running", int(not (during & termios.ICANON) and not (during & termios.ECHO)))
print("restored", int(bool(after & termios.ICANON) and bool(after & termios.ECHO)))
print("frames", out.count(b"\x1b[H\x1b[2J"))
print("header", int(b"PID USER" in out))
"#;

#[test]
fn interactive_mode_quits_on_q_and_restores_the_terminal() {
    if !common::have_or_skip("python3") {
        return;
    }
    let out = Command::new("python3")
        .args(["-c", DRIVE_ON_A_PTY, env!("CARGO_BIN_EXE_rescue")])
        .output()
        .expect("run python3");
    let said = common::stdout(&out);
    for expected in ["exit 0", "raw-while-running 1", "restored 1", "header 1"] {
        assert!(
            said.lines().any(|line| line == expected),
            "{expected}: {}",
            common::show(&out)
        );
    }
    let frames: u32 = said
        .lines()
        .find_map(|line| line.strip_prefix("frames ")?.parse().ok())
        .unwrap_or(0);
    assert!(frames >= 2, "redrawn every 0.2 s: {said}");
}
