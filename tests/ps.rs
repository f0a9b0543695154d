//! `rescue ps`: the columns procps prints for processes this test starts, `--forest` art, and
//! `-D` with a process really stuck in D state: a `stat` waiting on a FUSE mount whose
//! server (this test, through raw /dev/fuse) answers INIT and then nothing, stopped so the
//! kernel waits for it killably; and a parent blocked in `vfork` while its child pauses.

mod common;

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The state letter of a process, from the field after the last `)` of its stat line.
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).map(|&b| b as char)
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("gave up waiting for {what}");
    false
}

/// Whitespace runs made one space, each line trimmed: procps and we may pad differently
/// where a value overflows its column.
fn normalized(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// A child process killed and reaped when the value goes, whatever happened.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sleeper(args: &[&str]) -> Reaped {
    Reaped(
        Command::new("sleep")
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("start sleep"),
    )
}

/// A FUSE mount served by nobody after INIT, and a `stat` stuck on it in D state. Drop aborts
/// the connection (closing the device), kills the `stat` and detaches the mount.
struct StalledFuse {
    device: Option<OwnedFd>,
    mountpoint: PathBuf,
    stuck: Option<Reaped>,
    server: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for StalledFuse {
    fn drop(&mut self) {
        let path = CString::new(self.mountpoint.as_os_str().as_encoded_bytes()).ok();
        if let Some(path) = &path {
            // MNT_FORCE aborts the connection first: every request waiting on it finishes
            // with an error, so the processes stuck on it can be killed and the server's
            // read returns. (Closing the device alone would not while the server reads it.)
            // SAFETY: a valid C string.
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_FORCE) };
        }
        self.stuck.take();
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
        self.device.take();
        if let Some(path) = &path {
            // SAFETY: a valid C string; MNT_DETACH never blocks on the dead server.
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

const FUSE_INIT: u32 = 26;

impl StalledFuse {
    /// `None` (said on stderr) where /dev/fuse or the mount is not available.
    fn start() -> Option<StalledFuse> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).expect("mkdir");
        // SAFETY: a constant C string; the descriptor is owned right away.
        let raw = unsafe { libc::open(c"/dev/fuse".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if raw < 0 {
            eprintln!("no /dev/fuse: {}", std::io::Error::last_os_error());
            return None;
        }
        // SAFETY: `raw` was just opened and is owned by nothing else.
        let device = unsafe { OwnedFd::from_raw_fd(raw) };
        let fuse = StalledFuse {
            device: Some(device),
            mountpoint,
            stuck: None,
            server: None,
            _dir: dir,
        };
        if !fuse.mount() || !fuse.answer_init() {
            return None;
        }
        Some(fuse)
    }

    fn fd(&self) -> i32 {
        self.device.as_ref().expect("open").as_raw_fd()
    }

    fn mount(&self) -> bool {
        let options = CString::new(format!(
            "fd={},rootmode=40000,user_id=0,group_id=0",
            self.fd()
        ))
        .unwrap();
        let target = CString::new(self.mountpoint.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid C strings for the call's duration.
        let rc = unsafe {
            libc::mount(
                c"rescue-test-fuse".as_ptr(),
                target.as_ptr(),
                c"fuse".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                options.as_ptr().cast(),
            )
        };
        if rc != 0 {
            eprintln!("cannot mount fuse: {}", std::io::Error::last_os_error());
        }
        rc == 0
    }

    /// Reads the kernel's INIT and answers it with protocol 7.x and no features.
    fn answer_init(&self) -> bool {
        let mut buffer = vec![0u8; 1 << 20];
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { libc::read(self.fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
        let word = |at: usize| u32::from_ne_bytes(buffer[at..at + 4].try_into().unwrap());
        if n < 56 || word(4) != FUSE_INIT {
            eprintln!("no FUSE_INIT from the kernel (read {n})");
            return false;
        }
        let unique = &buffer[8..16];
        let (minor, max_readahead) = (word(44), word(48));
        let mut reply = Vec::with_capacity(80);
        reply.extend_from_slice(&80u32.to_ne_bytes());
        reply.extend_from_slice(&0i32.to_ne_bytes());
        reply.extend_from_slice(unique);
        for value in [7, minor, max_readahead, 0] {
            reply.extend_from_slice(&u32::to_ne_bytes(value));
        }
        reply.extend_from_slice(&0u16.to_ne_bytes()); // max_background
        reply.extend_from_slice(&0u16.to_ne_bytes()); // congestion_threshold
        reply.extend_from_slice(&4096u32.to_ne_bytes()); // max_write
        reply.extend_from_slice(&1u32.to_ne_bytes()); // time_gran
        reply.resize(80, 0);
        // SAFETY: the reply is valid for its length.
        let written = unsafe { libc::write(self.fd(), reply.as_ptr().cast(), reply.len()) };
        if written != 80 {
            eprintln!("FUSE_INIT reply: {}", std::io::Error::last_os_error());
        }
        written == 80
    }

    /// Starts `stat MNT/file`, waits until it sleeps on the unanswered LOOKUP, then stops it:
    /// with a signal pending the kernel waits killably, in D state. Returns its pid.
    fn stick(&mut self) -> Option<u32> {
        let child = Command::new("stat")
            .arg(self.mountpoint.join("file"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start stat");
        let pid = child.id();
        self.stuck = Some(Reaped(child));
        let waiting = || {
            std::fs::read_to_string(format!("/proc/{pid}/wchan"))
                .is_ok_and(|wchan| wchan.contains("request_wait_answer"))
                || std::fs::read_to_string(format!("/proc/{pid}/stack"))
                    .is_ok_and(|stack| stack.contains("request_wait_answer"))
        };
        if !wait_for("stat to wait on FUSE", Duration::from_secs(10), waiting) {
            return None;
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        wait_for("stat in D state", Duration::from_secs(10), || {
            state_of(pid) == Some('D')
        })
        .then_some(pid)
    }
}

/// A forked child blocked in `vfork` (the kernel waits in D state for the vfork child to exec
/// or exit), and its vfork child pausing. Drop kills both.
struct VforkParent {
    parent: i32,
    child: Option<i32>,
}

impl VforkParent {
    fn start() -> VforkParent {
        // SAFETY: between fork and _exit the child calls only vfork, pause and _exit, all
        // async-signal-safe; nothing of this process's threads is touched.
        let parent = unsafe { libc::fork() };
        assert!(parent >= 0, "fork: {}", std::io::Error::last_os_error());
        if parent == 0 {
            // SAFETY: as above; the vfork child only pauses, then exits without returning.
            // (libc deprecates vfork for Rust callers that return from it; this one never does.)
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
        let mut stuck = VforkParent {
            parent,
            child: None,
        };
        let pid = parent as u32;
        wait_for(
            "the vfork parent in D state",
            Duration::from_secs(10),
            || state_of(pid) == Some('D'),
        );
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"));
        stuck.child = children
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse().ok());
        stuck
    }
}

impl Drop for VforkParent {
    fn drop(&mut self) {
        // SAFETY: signalling and reaping our own child; the grandchild is killed by pid.
        unsafe {
            if let Some(child) = self.child {
                libc::kill(child, libc::SIGKILL);
            }
            libc::kill(self.parent, libc::SIGKILL);
            libc::waitpid(self.parent, std::ptr::null_mut(), 0);
        }
    }
}

/// `rescue ps ARGS`, which must finish within `limit` (it must never hang on a stuck process;
/// the limit is generous because a loaded CI host runs a debug build slowly).
/// Its output goes to files, so that what it said so far is shown if it hangs.
fn ps_within(limit: Duration, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = common::rescue()
        .arg("ps")
        .args(args)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("run rescue ps");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let stack =
                std::fs::read_to_string(format!("/proc/{}/task", child.id())).unwrap_or_default();
            let tasks: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", child.id()))
                .map(|dir| {
                    dir.filter_map(|entry| {
                        let tid = entry.ok()?.file_name().into_string().ok()?;
                        let path = format!("/proc/{}/task/{tid}/stack", child.id());
                        Some(format!("{tid}: {}", std::fs::read_to_string(path).ok()?))
                    })
                    .collect()
                })
                .unwrap_or_default();
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "rescue ps {args:?} did not finish within {limit:?}{stack}\nstdout:\n{}\nstderr:\n{}\ntasks:\n{}",
                std::fs::read_to_string(&out).unwrap_or_default(),
                std::fs::read_to_string(&err).unwrap_or_default(),
                tasks.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: std::fs::read(&out).unwrap_or_default(),
        stderr: std::fs::read(&err).unwrap_or_default(),
    }
}

/// The `-D` listing of `pid`: its line and the stack lines below it.
fn d_entry(listing: &str, pid: u32) -> Option<Vec<String>> {
    let mut lines = listing.lines();
    let first = lines.find(|line| line.split_whitespace().next() == Some(&pid.to_string()))?;
    let mut entry = vec![first.to_string()];
    entry.extend(
        lines
            .take_while(|line| line.starts_with("  ") && line.trim_start().starts_with('['))
            .map(str::to_string),
    );
    Some(entry)
}

fn assert_listed_in_d(pid: u32, frame: &str) {
    let output = ps_within(Duration::from_secs(60), &["-D"]);
    common::assert_exit(&output, 0, "ps -D");
    let listing = common::stdout(&output);
    eprintln!("{listing}");
    let entry = d_entry(&listing, pid)
        .unwrap_or_else(|| panic!("pid {pid} not in ps -D:\n{}", common::show(&output)));
    let words: Vec<&str> = entry[0].split_whitespace().collect();
    assert_eq!(
        words.get(1),
        Some(&pid.to_string().as_str()),
        "main thread: {entry:?}"
    );
    assert_eq!(words.get(2), Some(&"D"), "{entry:?}");
    assert!(
        entry[1..].iter().any(|line| line.contains(frame)),
        "no {frame} on the stack of {pid}: {entry:?}"
    );
    // Every process is listed, the stuck one with its state, and in reasonable time.
    let output = ps_within(Duration::from_secs(60), &["-e", "-o", "pid,state,args"]);
    common::assert_exit(&output, 0, "ps -e");
    let line = normalized(&common::stdout(&output))
        .into_iter()
        .find(|line| line.starts_with(&format!("{pid} ")))
        .expect("the stuck process is listed");
    assert!(line.starts_with(&format!("{pid} D ")), "{line}");
}

#[test]
fn a_stat_stuck_on_a_dead_fuse_server_is_shown_in_d_with_its_stack() {
    if !common::root_or_skip("mounting FUSE and reading kernel stacks need root") {
        return;
    }
    let Some(mut fuse) = StalledFuse::start() else {
        common::skip("no FUSE here (the vfork test still covers -D)");
        return;
    };
    let pid = fuse
        .stick()
        .expect("a stat stuck in D state on the stalled mount");
    assert_listed_in_d(pid, "request_wait_answer");
    compare_with_procps(&[pid]);
}

#[test]
fn a_parent_blocked_in_vfork_is_shown_in_d_with_its_stack() {
    if !common::root_or_skip("reading kernel stacks needs root") {
        return;
    }
    let stuck = VforkParent::start();
    let pid = stuck.parent as u32;
    assert_eq!(state_of(pid), Some('D'), "vfork parent not in D state");
    assert_listed_in_d(pid, "vfork");
    compare_with_procps(&[pid]);
}

/// `ps -o pid,ppid,state,tty,args -p PIDS` as procps prints it, for these and a sleep.
fn compare_with_procps(pids: &[u32]) {
    if !common::have_or_skip("ps") {
        return;
    }
    let sleeping = sleeper(&["300"]);
    let mut list: Vec<String> = pids.iter().map(u32::to_string).collect();
    list.push(sleeping.0.id().to_string());
    list.push(std::process::id().to_string());
    let list = list.join(",");
    let args = ["-o", "pid,ppid,state,tty,args", "-p", &list];
    let theirs = Command::new("ps").args(args).output().expect("run ps");
    let ours = ps_within(Duration::from_secs(60), &args);
    assert_eq!(
        normalized(&common::stdout(&ours)),
        normalized(&common::stdout(&theirs)),
        "ours:\n{}\nprocps:\n{}",
        common::stdout(&ours),
        common::stdout(&theirs)
    );
}

#[test]
fn columns_match_procps_for_processes_started_here() {
    if !common::have_or_skip("ps") {
        return;
    }
    let a = sleeper(&["301"]);
    let b = sleeper(&["302", "0.5"]);
    let list = format!("{},{},{}", a.0.id(), b.0.id(), std::process::id());
    // The test process runs other tests in its threads: its resident size may move between
    // the two samples, so memory columns are compared on the sleepers alone.
    let sleepers = format!("{},{}", a.0.id(), b.0.id());
    for format in [
        "pid,ppid,state,tty,args",
        "pid,user,uid,group,stat,nlwp,comm",
        "pid=PROC,ppid=,args",
        "pid,rss,vsz,nlwp,pri,ni,pgid,sid",
        "pid,start,stime,lstart,tname,wchan",
        "pid,etimes,time,vsz",
    ] {
        let pids = if format.contains("rss") {
            &sleepers
        } else {
            &list
        };
        let args = ["-o", format, "-p", pids];
        let theirs = Command::new("ps").args(args).output().expect("run ps");
        let ours = ps_within(Duration::from_secs(60), &args);
        let (ours, theirs) = (common::stdout(&ours), common::stdout(&theirs));
        let (ours, theirs) = (normalized(&ours), normalized(&theirs));
        if format.contains("etimes") {
            // Elapsed seconds may tick between the two runs.
            assert_eq!(ours.len(), theirs.len(), "{ours:?} {theirs:?}");
            continue;
        }
        assert_eq!(ours, theirs, "-o {format}");
    }
    // The test process itself uses CPU while this runs: its C and TIME may move.
    let sleeps = format!("{},{}", a.0.id(), b.0.id());
    for full in [&["-f", "-p", &sleeps][..], &["-p", &sleeps][..]] {
        let theirs = Command::new("ps").args(full).output().expect("run ps");
        let ours = ps_within(Duration::from_secs(60), full);
        assert_eq!(
            common::stdout(&ours),
            common::stdout(&theirs),
            "ps {full:?} byte for byte"
        );
    }
}

#[test]
fn forest_art_matches_procps() {
    if !common::have_or_skip("ps") {
        return;
    }
    let shell = Reaped(
        Command::new("sh")
            .args(["-c", "sleep 303 & sleep 304 & (sleep 305 & wait) & wait"])
            .spawn()
            .expect("start sh"),
    );
    let root = shell.0.id();
    let mut pids = vec![root];
    let found = wait_for("the shell's children", Duration::from_secs(5), || {
        pids = descendants(root);
        pids.len() >= 5
    });
    assert!(found, "descendants: {pids:?}");
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    let args = ["--forest", "-o", "pid,args", "-p", &list.join(",")];
    let theirs = Command::new("ps").args(args).output().expect("run ps");
    let ours = ps_within(Duration::from_secs(60), &args);
    assert_eq!(common::stdout(&ours), common::stdout(&theirs));
    assert!(common::stdout(&ours).contains("\\_ "));
    for pid in &pids[1..] {
        // SAFETY: killing the sleeps and subshell this test started.
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
}

/// `pid` and everything below it, parents first.
fn descendants(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut at = 0;
    while at < all.len() {
        let parent = all[at];
        let path = format!("/proc/{parent}/task/{parent}/children");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        all.extend(
            text.split_whitespace()
                .filter_map(|word| word.parse::<u32>().ok()),
        );
        at += 1;
    }
    all
}

#[test]
fn nothing_selected_is_status_1_and_a_bad_field_is_a_usage_error() {
    let output = common::run(&["ps", "-p", "2147483646"]);
    common::assert_exit(&output, 1, "no such pid");
    assert_eq!(common::stdout(&output).lines().count(), 1, "header only");
    let output = common::run(&["ps", "-o", "pid,nosuchfield"]);
    common::assert_exit(&output, 1, "unknown field");
    assert!(common::stderr(&output).contains("nosuchfield"));
    let output = common::run(&["ps", "--no-headers", "-o", "pid", "-p", "1"]);
    assert_eq!(common::stdout(&output).trim(), "1");
    let output = common::run(&["ps", "-u", "no-such-user-here"]);
    common::assert_exit(&output, 1, "unknown user");
    assert!(common::stderr(&output).contains("no-such-user-here"));
}

#[test]
fn users_select_by_name_and_number() {
    let sleeping = sleeper(&["309"]);
    let pid = sleeping.0.id().to_string();
    let uid = nix::unistd::geteuid().as_raw().to_string();
    let by_number = common::run(&["ps", "-u", &uid, "-o", "pid="]);
    assert!(common::stdout(&by_number)
        .lines()
        .any(|line| line.trim() == pid));
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.get(2) == Some(&uid.as_str())).then(|| fields[0].to_string())
    });
    if let Some(name) = name {
        let by_name = common::run(&["ps", "-u", &name, "-o", "pid="]);
        assert!(common::stdout(&by_name)
            .lines()
            .any(|line| line.trim() == pid));
    }
    let other = common::run(&["ps", "-u", "4000000000", "-o", "pid="]);
    common::assert_exit(&other, 1, "a uid nobody runs as");
}

#[test]
fn a_name_with_spaces_and_parentheses_is_read_whole() {
    if !common::have_or_skip("ps") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("a) b (c");
    std::os::unix::fs::symlink(which("sleep"), &odd).unwrap();
    let child = Reaped(Command::new(&odd).arg("306").spawn().expect("start"));
    let pid = child.0.id().to_string();
    let ours = ps_within(Duration::from_secs(60), &["-o", "comm=,state=", "-p", &pid]);
    assert_eq!(normalized(&common::stdout(&ours)), ["a) b (c S"]);
}

fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| Path::new("/bin").join(program))
}

const FUSE_LOOKUP: u32 = 1;
const FUSE_FORGET: u32 = 2;
const FUSE_GETATTR: u32 = 3;
const FUSE_OPEN: u32 = 14;
const FUSE_READ: u32 = 15;
const FUSE_RELEASE: u32 = 18;
const FUSE_INTERRUPT: u32 = 36;
const FUSE_BATCH_FORGET: u32 = 42;

/// `struct fuse_attr`: a directory for node 1, a 4 KiB regular file for any other.
fn fuse_attr(node: u64) -> Vec<u8> {
    let (mode, size, nlink) = if node == 1 {
        (0o040755u32, 0u64, 2u32)
    } else {
        (0o100644, 4096, 1)
    };
    let mut attr = Vec::with_capacity(88);
    for value in [node, size, size / 512, 0, 0, 0] {
        attr.extend_from_slice(&value.to_ne_bytes());
    }
    for value in [0u32, 0, 0, mode, nlink, 0, 0, 0, 4096, 0] {
        attr.extend_from_slice(&value.to_ne_bytes());
    }
    attr
}

/// The answer to one request, `None` for those never answered: READ (so page faults on
/// the file wait forever), FORGET and INTERRUPT (which take no answer).
fn fuse_answer(opcode: u32, node: u64) -> Option<(i32, Vec<u8>)> {
    let valid = 3600u64.to_ne_bytes();
    match opcode {
        FUSE_READ | FUSE_FORGET | FUSE_BATCH_FORGET | FUSE_INTERRUPT => None,
        FUSE_LOOKUP => {
            let mut entry = Vec::new();
            for value in [2u64, 0] {
                entry.extend_from_slice(&value.to_ne_bytes());
            }
            entry.extend_from_slice(&valid);
            entry.extend_from_slice(&valid);
            entry.extend_from_slice(&[0; 8]);
            entry.extend(fuse_attr(2));
            Some((0, entry))
        }
        FUSE_GETATTR => {
            let mut out = valid.to_vec();
            out.extend_from_slice(&[0; 8]);
            out.extend(fuse_attr(node));
            Some((0, out))
        }
        FUSE_OPEN => Some((0, vec![0; 16])),
        FUSE_RELEASE => Some((0, Vec::new())),
        _ => Some((-libc::ENOSYS, Vec::new())),
    }
}

impl StalledFuse {
    /// Answers every request but READ in a thread, until the connection is aborted.
    fn serve_all_but_read(&mut self) {
        let fd = self.fd();
        self.server = Some(std::thread::spawn(move || {
            let mut buffer = vec![0u8; 1 << 20];
            loop {
                // SAFETY: the buffer is valid for its length; the fd outlives this thread
                // (Drop joins it before closing).
                let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
                if n < 40 {
                    if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
                    {
                        continue;
                    }
                    return;
                }
                let opcode = u32::from_ne_bytes(buffer[4..8].try_into().unwrap());
                let node = u64::from_ne_bytes(buffer[16..24].try_into().unwrap());
                let Some((error, body)) = fuse_answer(opcode, node) else {
                    continue;
                };
                let mut reply = Vec::with_capacity(16 + body.len());
                reply.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
                reply.extend_from_slice(&error.to_ne_bytes());
                reply.extend_from_slice(&buffer[8..16]);
                reply.extend(body);
                // SAFETY: the reply is valid for its length.
                unsafe { libc::write(fd, reply.as_ptr().cast(), reply.len()) };
            }
        }));
    }
}

/// A python whose memory lock is wedged: one thread reads /proc/self/mem at a page of a file
/// on the stalled mount (it faults holding the mmap lock for reading and waits for the READ
/// that never comes), then the main thread asks for the lock for writing (mmap) and waits in
/// D state. Anyone reading its cmdline now queues behind that writer: the read blocks.
const WEDGE: &str = r#"
import ctypes, os, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
f = os.open(sys.argv[1], os.O_RDONLY)
page = libc.mmap(None, 4096, 1, 1, f, 0)
def fault():
    mem = os.open("/proc/self/mem", os.O_RDONLY)
    os.pread(mem, 1, page)
threading.Thread(target=fault, daemon=True).start()
time.sleep(0.5)
print("wedging", flush=True)
libc.mmap(None, 4096, 3, 0x22, -1, 0)
"#;

#[test]
fn a_process_whose_cmdline_read_blocks_does_not_hang_ps() {
    if !common::root_or_skip("mounting FUSE needs root") || !common::have_or_skip("python3") {
        return;
    }
    let Some(mut fuse) = StalledFuse::start() else {
        common::skip("no FUSE here");
        return;
    };
    fuse.serve_all_but_read();
    let mut python = Command::new("python3")
        .args(["-c", WEDGE])
        .arg(fuse.mountpoint.join("file"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3");
    let pid = python.id();
    let mut line = String::new();
    let stdout = python.stdout.take().unwrap();
    fuse.stuck = Some(Reaped(python));
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    assert_eq!(line.trim(), "wedging");
    assert!(
        wait_for(
            "the wedged python in D state",
            Duration::from_secs(10),
            || { state_of(pid) == Some('D') }
        ),
        "python never blocked on its memory lock"
    );
    // Our ps: to files, since a reader still blocked in the kernel keeps the process (and
    // its pipes) alive until the mount is aborted; the leader's exit is what shows it done.
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    let child = common::rescue()
        .args(["ps", "-o", "pid,state,args", "-p", &pid.to_string()])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("run rescue ps");
    let ps = Reaped(child);
    let ps_pid = ps.0.id();
    let finished = wait_for("rescue ps to finish", Duration::from_secs(45), || {
        matches!(state_of(ps_pid), Some('Z') | None)
    });
    let out = std::fs::read_to_string(&out_path).unwrap();
    let err = std::fs::read_to_string(&err_path).unwrap();
    assert!(
        finished,
        "rescue ps hung on the wedged process:\n{out}\n{err}"
    );
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(
        normalized(&out),
        [
            "PID S COMMAND".to_string(),
            format!("{pid} D [{}]", comm.trim())
        ],
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "pid {pid}: command line not read (reading its cmdline took more than"
        )),
        "stderr: {err}"
    );
    // -D names the thread waiting for the memory lock, with the stack that shows why.
    let listing = ps_within(Duration::from_secs(60), &["-D"]);
    eprintln!("{}", common::stdout(&listing));
    let entry = d_entry(&common::stdout(&listing), pid).expect("the wedged python in ps -D");
    assert!(
        entry[0].contains(&format!("[{}]", comm.trim())),
        "{entry:?}"
    );
    assert!(
        entry
            .iter()
            .any(|line| line.contains("rwsem_down_write") || line.contains("mmap")),
        "{entry:?}"
    );
    drop(ps);
    drop(fuse);
}

/// Runs `script` with `sh -c` in a private mount namespace (`unshare -m`), where it may hide
/// /proc or /etc under an empty tmpfs without touching the host's view.
fn in_private_mounts(script: &str) -> Option<std::process::Output> {
    if !common::root_or_skip("mount namespaces need root") || !common::have_or_skip("unshare") {
        return None;
    }
    let output = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!("mount --make-rprivate / && {script}"))
        .env("RESCUE", env!("CARGO_BIN_EXE_rescue"))
        .output()
        .expect("run unshare");
    Some(output)
}

#[test]
fn without_proc_every_process_applet_says_so_and_exits_2() {
    let script = "mount -t tmpfs none /proc && for args in ps 'ps -D' 'top -b -n 1' free \
                  uptime 'kill -n sleep'; do \"$RESCUE\" $args; echo \"status $?\"; done";
    let Some(output) = in_private_mounts(script) else {
        return;
    };
    let stdout = common::stdout(&output);
    let statuses: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("status"))
        .collect();
    assert_eq!(statuses, ["status 2"; 6], "{}", common::show(&output));
    let stderr = common::stderr(&output);
    for applet in ["ps", "top", "free", "uptime", "kill"] {
        assert!(
            stderr.contains(&format!("rescue {applet}: /proc: missing: ")),
            "{applet}: {stderr}"
        );
    }
}

#[test]
fn without_etc_users_are_numbers() {
    let sleeping = sleeper(&["307"]);
    let pid = sleeping.0.id();
    let script = format!(
        "mount -t tmpfs none /etc && mount -t tmpfs none /usr/share && \
         \"$RESCUE\" ps -o user=,group=,uid= -p {pid}"
    );
    let Some(output) = in_private_mounts(&script) else {
        return;
    };
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    assert_eq!(
        normalized(&common::stdout(&output)),
        [format!("{uid} {gid} {uid}")],
        "{}",
        common::show(&output)
    );
}

#[test]
fn long_user_names_are_cut_as_procps_cuts_them() {
    if !common::root_or_skip("running a process as another user needs root")
        || !common::have_or_skip("setpriv")
        || !common::have_or_skip("ps")
    {
        return;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let Some(uid) = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let uid = fields.nth(1)?;
        (name.len() > 8).then(|| uid.to_string())
    }) else {
        common::skip("no user with a name longer than 8 characters");
        return;
    };
    let other = Reaped(
        Command::new("setpriv")
            .args([
                "--reuid",
                &uid,
                "--regid",
                &uid,
                "--clear-groups",
                "sleep",
                "308",
            ])
            .spawn()
            .expect("start setpriv"),
    );
    let pid = other.0.id().to_string();
    wait_for(
        "the sleep to run as the other user",
        Duration::from_secs(5),
        || std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep"),
    );
    for args in [
        &["-o", "user,pid,args", "-p", &pid][..],
        &["-f", "-p", &pid],
    ] {
        let theirs = Command::new("ps").args(args).output().unwrap();
        let ours = ps_within(Duration::from_secs(60), args);
        assert_eq!(
            common::stdout(&ours),
            common::stdout(&theirs),
            "ps {args:?}"
        );
        assert!(common::stdout(&ours).contains('+'));
    }
}

#[test]
fn a_thread_in_d_is_shown_while_its_main_thread_is_not() {
    if !common::root_or_skip("mounting FUSE needs root") || !common::have_or_skip("python3") {
        return;
    }
    let Some(mut fuse) = StalledFuse::start() else {
        common::skip("no FUSE here");
        return;
    };
    let script = "import os, sys, threading, time\n\
                  threading.Thread(target=os.stat, args=(sys.argv[1],), daemon=True).start()\n\
                  time.sleep(300)\n";
    let python = Command::new("python3")
        .args(["-c", script])
        .arg(fuse.mountpoint.join("file"))
        .spawn()
        .expect("start python3");
    let pid = python.id();
    fuse.stuck = Some(Reaped(python));
    let waiting_thread = || {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        tasks
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|&tid| {
                std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan"))
                    .is_ok_and(|wchan| wchan.contains("request_wait_answer"))
            })
    };
    let mut tid = None;
    wait_for(
        "a python thread waiting on FUSE",
        Duration::from_secs(10),
        || {
            tid = waiting_thread();
            tid.is_some()
        },
    );
    let tid = tid.expect("a thread stuck in the lookup");
    assert_ne!(tid, pid);
    // SAFETY: stopping our own child: the waiting thread now waits killably (D).
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    let thread_state = || {
        let stat = std::fs::read(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
        let close = stat.iter().rposition(|&b| b == b')')?;
        stat.get(close + 2).map(|&b| b as char)
    };
    assert!(wait_for("the thread in D", Duration::from_secs(10), || {
        thread_state() == Some('D')
    }));
    assert_ne!(
        state_of(pid),
        Some('D'),
        "the main thread is stopped, not in D"
    );
    let listing = common::stdout(&ps_within(Duration::from_secs(60), &["-D"]));
    let line = listing
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|words| words.first() == Some(&pid.to_string().as_str()))
        .unwrap_or_else(|| panic!("python {pid} not in ps -D:\n{listing}"));
    assert_eq!(line[1..3], [tid.to_string().as_str(), "D"], "{listing}");
    assert!(listing.contains("request_wait_answer"), "{listing}");
}

#[test]
fn a_zombie_is_shown_as_procps_shows_it() {
    if !common::have_or_skip("ps") {
        return;
    }
    // The shell's child outlives nothing: `exec sleep` never reaps it, so it stays a zombie.
    let parent = Reaped(
        Command::new("sh")
            .args(["-c", "sleep 0 & exec sleep 300"])
            .spawn()
            .expect("start sh"),
    );
    let mut zombie = None;
    wait_for("a zombie child", Duration::from_secs(5), || {
        zombie = descendants(parent.0.id())
            .into_iter()
            .find(|&pid| state_of(pid) == Some('Z'));
        zombie.is_some()
    });
    let zombie = zombie.expect("a zombie").to_string();
    let args = ["-o", "pid,stat,comm,args,cmd", "-p", &zombie];
    let theirs = Command::new("ps").args(args).output().expect("run ps");
    let ours = ps_within(Duration::from_secs(60), &args);
    assert_eq!(common::stdout(&ours), common::stdout(&theirs));
    assert!(common::stdout(&ours).contains("<defunct>"));
}

/// A process may call itself anything, terminal escapes included: ps and top must not pass
/// them to the operator's terminal. procps shows a newline as a space and other control bytes
/// as `?`; so do we.
#[test]
fn a_name_holding_terminal_escapes_is_shown_harmless() {
    use std::os::unix::process::CommandExt;
    if !common::have_or_skip("ps") {
        return;
    }
    let child = Reaped(
        Command::new(which("sleep"))
            .arg0("evil\u{1b}[2J\nname\tx")
            .arg("307")
            .stdin(Stdio::null())
            .spawn()
            .expect("start"),
    );
    let pid = child.0.id().to_string();
    let ours = ps_within(Duration::from_secs(60), &["-o", "args=", "-p", &pid]);
    let peer = Command::new("ps")
        .args(["-o", "args=", "-p", &pid])
        .output()
        .unwrap();
    assert_eq!(common::stdout(&ours), "evil?[2J name?x 307\n");
    assert_eq!(common::stdout(&ours), common::stdout(&peer));
    let top = common::run(&["top", "-b", "-n", "1", "-c", "-p", &pid]);
    assert!(!top.stdout.contains(&0x1b), "{}", common::show(&top));
    // top cuts the command at the screen's width.
    assert!(
        common::stdout(&top).contains(" evil?[2J"),
        "{}",
        common::show(&top)
    );
}
