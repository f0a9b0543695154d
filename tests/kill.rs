//! `rescue kill`: signals reach processes this test starts, `-n NAME` lists without sending
//! and sends only with `--yes`, and `-l`/`-L` print what procps' `kill` prints. Every process
//! signalled here has a name made for this test, so nothing else on the host is touched.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sleep_as(program: &Path) -> Reaped {
    let mut command = Command::new(program);
    command.arg("300").stdin(Stdio::null());
    // A shell starts background jobs with SIGINT and SIGQUIT ignored, nohup ignores SIGHUP,
    // and exec keeps that: the signals under test get their default action whoever started
    // the tests.
    // SAFETY: only signal(2), async-signal-safe, between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            for signal in [libc::SIGINT, libc::SIGQUIT, libc::SIGHUP, libc::SIGUSR1] {
                libc::signal(signal, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    Reaped(command.spawn().expect("start sleep"))
}

/// The signal that ended `child`, waiting at most five seconds for it to end.
fn ended_by(child: &mut Reaped) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if let Some(status) = child.0.try_wait().expect("wait") {
            return status.signal();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn sleep_binary() -> PathBuf {
    ["/usr/bin/sleep", "/bin/sleep"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .expect("a sleep binary")
}

/// A link to sleep under a name no other process has (comm is the link's name).
fn unique_sleep(dir: &Path, tag: &str) -> (PathBuf, String) {
    let name = format!("rk{tag}{}", std::process::id() % 100_000);
    let link = dir.join(&name);
    std::os::unix::fs::symlink(sleep_binary(), &link).expect("symlink");
    (link, name)
}

#[test]
fn signals_reach_the_processes_named() {
    let mut plain = sleep_as(&sleep_binary());
    let out = common::run(&["kill", &plain.0.id().to_string()]);
    common::assert_exit(&out, 0, "kill PID");
    assert_eq!(ended_by(&mut plain), Some(libc::SIGTERM));
    for (args, signal) in [
        (&["-9"][..], libc::SIGKILL),
        (&["-s", "INT"][..], libc::SIGINT),
        (&["-SIGUSR1"][..], libc::SIGUSR1),
        (&["--signal", "hup"][..], libc::SIGHUP),
    ] {
        let mut child = sleep_as(&sleep_binary());
        let pid = child.0.id().to_string();
        let mut all: Vec<&str> = vec!["kill"];
        all.extend(args);
        all.push(&pid);
        common::assert_exit(&common::run(&all), 0, &format!("{all:?}"));
        assert_eq!(ended_by(&mut child), Some(signal), "{all:?}");
    }
}

#[test]
fn a_missing_pid_is_said_as_procps_says_it() {
    let out = common::run(&["kill", "2147483646"]);
    common::assert_exit(&out, 1, "no such process");
    assert!(common::stderr(&out).ends_with(": (2147483646): No such process\n"));
    if common::have("/usr/bin/kill") {
        let theirs = Command::new("/usr/bin/kill")
            .arg("2147483646")
            .output()
            .unwrap();
        assert_eq!(theirs.status.code(), Some(1));
        let tail = |text: String| text.split_once(": ").map(|(_, t)| t.to_string());
        assert_eq!(tail(common::stderr(&out)), tail(common::stderr(&theirs)));
    }
    let out = common::run(&["kill", "-s", "NOSUCH", "1"]);
    common::assert_exit(&out, 1, "unknown signal");
}

#[test]
fn by_name_lists_without_yes_and_signals_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (link, name) = unique_sleep(dir.path(), "n");
    let mut first = sleep_as(&link);
    let mut second = sleep_as(&link);
    let out = common::run(&["kill", "-n", &name]);
    common::assert_exit(&out, 0, "kill -n lists");
    let listed: Vec<String> = common::stdout(&out)
        .lines()
        .map(|line| line.split_whitespace().next().unwrap().to_string())
        .collect();
    let mut expected = vec![first.0.id().to_string(), second.0.id().to_string()];
    expected.sort_by_key(|pid| pid.parse::<u32>().unwrap());
    assert_eq!(listed, expected, "{}", common::show(&out));
    assert!(common::stderr(&out).contains("--yes"));
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        first.0.try_wait().unwrap().is_none(),
        "listing must not kill"
    );
    let out = common::run(&["kill", "-KILL", "-n", &name, "--yes"]);
    common::assert_exit(&out, 0, "kill -n --yes");
    assert_eq!(ended_by(&mut first), Some(libc::SIGKILL));
    assert_eq!(ended_by(&mut second), Some(libc::SIGKILL));
    let out = common::run(&["kill", "-n", &name]);
    common::assert_exit(&out, 1, "none left to match");
}

#[test]
fn signal_lists_match_procps() {
    if !common::have_or_skip("/usr/bin/kill") {
        return;
    }
    let procps = |args: &[&str]| {
        let out = Command::new("/usr/bin/kill").args(args).output().unwrap();
        common::stdout(&out)
    };
    if !procps(&["-V"]).contains("procps") {
        common::skip("/usr/bin/kill is not procps'");
        return;
    }
    for args in [
        &["-l"][..],
        &["-L"],
        &["-l", "9"],
        &["-l", "KILL"],
        &["-l", "15"],
        &["-l", "SIGHUP"],
        &["-l", "29"],
    ] {
        let mut ours: Vec<&str> = vec!["kill"];
        ours.extend(args);
        let out = common::run(&ours);
        common::assert_exit(&out, 0, &format!("{ours:?}"));
        assert_eq!(common::stdout(&out), procps(args), "kill {args:?}");
    }
}
