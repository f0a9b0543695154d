//! `rescue ss` against iproute2's `ss` on sockets this test opens itself: listeners in this
//! process and in a child, a connection, a UDP socket. Only the test's own ports are compared
//! when other sockets may come and go; whole outputs are compared byte for byte, retried when
//! the host's sockets changed between the two runs.

mod common;

use std::io::Read;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};

use common::Unsupported;

/// The python3 program that refuses netlink sockets, shared with tests/ip.rs.
#[path = "net/without_netlink.rs"]
mod without_netlink;
use without_netlink::WITHOUT_NETLINK;

/// A child process listening on 127.0.0.1, killed when dropped (even when an assertion fails).
struct Listener {
    child: Child,
    port: u16,
}

impl Listener {
    fn start() -> Listener {
        let script = "import socket,sys,time\n\
                      s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(5)\n\
                      print(s.getsockname()[1], flush=True)\n\
                      time.sleep(120)";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("child's stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the child's port");
        let port = line.trim().parse().expect("a port number");
        Listener { child, port }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `program` is iproute2's, which the comparisons need; when not, the test is skipped
/// (see tests/common/skip.rs: CI installs iproute2).
fn iproute2_or_skip(program: &str) -> bool {
    let found = Command::new(program)
        .arg("-V")
        .output()
        .is_ok_and(|out| common::stdout(&out).contains("iproute2"));
    if !found {
        common::skip(&format!("no iproute2 {program} to compare with"));
    }
    found
}

fn ss(ours: bool, args: &[&str]) -> String {
    let output = if ours {
        common::rescue().arg("ss").args(args).output()
    } else {
        Command::new("ss").args(args).output()
    }
    .expect("run ss");
    assert!(
        output.status.success(),
        "ss {args:?}: {}",
        common::show(&output)
    );
    common::stdout(&output)
}

/// The lines of a listing whose local or peer address ends with one of `ports`.
fn lines_with_ports(listing: &str, ports: &[u16]) -> Vec<String> {
    let mut lines: Vec<String> = listing
        .lines()
        .filter(|line| {
            line.split_whitespace()
                .any(|word| ports.iter().any(|port| word.ends_with(&format!(":{port}"))))
        })
        .map(|line| line.to_string())
        .collect();
    lines.sort();
    lines
}

/// [`lines_with_ports`] without the padding, which depends on every other socket listed.
fn words_with_ports(listing: &str, ports: &[u16]) -> Vec<String> {
    let lines = lines_with_ports(listing, ports);
    lines
        .iter()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// (state, local, peer) of each line with one of `ports`: what must agree whatever the widths.
fn tuples(listing: &str, ports: &[u16]) -> Vec<(String, String, String)> {
    let mut tuples: Vec<(String, String, String)> = lines_with_ports(listing, ports)
        .iter()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (
                words[0].to_string(),
                words[3].to_string(),
                words[4].to_string(),
            )
        })
        .collect();
    tuples.sort();
    tuples
}

/// Ours and iproute2's output for `args`, byte for byte; the host's own sockets may change
/// between the two runs, so a difference is retried a few times before it counts.
fn assert_same_output(args: &[&str]) {
    let mut last = (String::new(), String::new());
    for _ in 0..5 {
        let (ours, theirs) = (ss(true, args), ss(false, args));
        if ours == theirs {
            return;
        }
        last = (ours, theirs);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        last.0, last.1,
        "ss {args:?} (left: rescue, right: iproute2)"
    );
}

/// The lines `select` picks from ours and iproute2's output for `args` are the same. Another
/// test's child holds this process's sockets between its fork and its exec, so a difference is
/// retried a few times before it counts.
fn assert_same_lines(args: &[&str], select: &dyn Fn(&str) -> Vec<String>) {
    let mut last = (Vec::new(), Vec::new());
    for _ in 0..5 {
        last = (select(&ss(true, args)), select(&ss(false, args)));
        if last.0 == last.1 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        last.0, last.1,
        "ss {args:?}, the test's sockets (left: rescue, right: iproute2)"
    );
}

fn ipv6_loopback_listener() -> Option<TcpListener> {
    match TcpListener::bind("[::1]:0") {
        Ok(listener) => Some(listener),
        Err(err) => {
            common::unsupported(Unsupported::Ipv6Loopback, &format!("bind [::1]:0: {err}"));
            None
        }
    }
}

#[test]
fn listeners_connections_and_udp_sockets_are_listed_as_iproute2_lists_them() {
    if !common::have_or_skip("python3") || !iproute2_or_skip("ss") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let listener6 = ipv6_loopback_listener();
    let port6 = listener6.as_ref().map(|l| l.local_addr().unwrap().port());
    let child = Listener::start();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_accepted, _) = listener.accept().unwrap();
    let client_port = client.local_addr().unwrap().port();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_port = udp.local_addr().unwrap().port();

    let listening = ss(true, &["-ltn"]);
    let line = |port: u16| lines_with_ports(&listening, &[port]);
    assert!(
        line(port)
            .iter()
            .any(|l| l.starts_with("LISTEN") && l.contains(&format!(" 127.0.0.1:{port} "))),
        "{listening}"
    );
    assert!(
        line(child.port).iter().any(|l| l.starts_with("LISTEN")),
        "{listening}"
    );
    if let Some(port6) = port6 {
        assert!(
            line(port6)
                .iter()
                .any(|l| l.contains(&format!(" [::1]:{port6} "))),
            "{listening}"
        );
    }
    assert!(
        line(client_port).is_empty(),
        "a connection is not listening: {listening}"
    );

    let with_processes = ss(true, &["-ltnp"]);
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.child.id())).unwrap();
    let expected = format!("users:((\"{}\",pid={},fd=", comm.trim(), child.child.id());
    let child_line = lines_with_ports(&with_processes, &[child.port]);
    assert!(
        child_line.iter().any(|l| l.contains(&expected)),
        "{expected} in {with_processes}"
    );

    let connected = ss(true, &["-tn"]);
    let estab = tuples(&connected, &[port]);
    let client_side = (
        "ESTAB".to_string(),
        format!("127.0.0.1:{client_port}"),
        format!("127.0.0.1:{port}"),
    );
    assert!(estab.contains(&client_side), "{connected}");
    assert!(
        tuples(&connected, &[child.port]).is_empty(),
        "listening sockets are not shown by default"
    );

    let udp_listing = ss(true, &["-uan"]);
    let udp_tuples = tuples(&udp_listing, &[udp_port]);
    assert_eq!(
        udp_tuples,
        [(
            "UNCONN".to_string(),
            format!("127.0.0.1:{udp_port}"),
            "0.0.0.0:*".to_string()
        )]
    );

    let mut ports = vec![port, child.port, client_port, udp_port];
    ports.extend(port6);
    for args in [&["-tan"][..], &["-uan"], &["-tanp"], &["-ltn"], &["-ta6n"]] {
        assert_same_lines(args, &|listing| words_with_ports(listing, &ports));
    }
    for args in [
        &["-ltn"][..],
        &["-tn"],
        &["-uan"],
        &["-ltnp"],
        &["-ltn", "-H"],
        &["-ta"],
        &["-a"],
    ] {
        if args == ["-a"] {
            // iproute2's bare -a lists unix, netlink and packet sockets too; ours TCP and UDP.
            assert_same_output(&["-a", "-t", "-u"]);
            continue;
        }
        assert_same_output(args);
    }
}

#[test]
fn proc_fallback_lists_the_same_sockets() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let client_port = client.local_addr().unwrap().port();
    let listener6 = ipv6_loopback_listener();
    let mut ports = vec![port, client_port];
    ports.extend(listener6.as_ref().map(|l| l.local_addr().unwrap().port()));
    let netlink = ss(true, &["-tan"]);
    let output = common::rescue()
        .args(["ss", "--proc", "-tan"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", common::show(&output));
    let from_proc = common::stdout(&output);
    assert_eq!(tuples(&from_proc, &ports), tuples(&netlink, &ports));
    assert_eq!(tuples(&netlink, &ports).len(), ports.len() + 1, "{netlink}");
}

#[test]
fn without_proc_the_fallback_and_processes_say_so() {
    if !common::root_or_skip("unmounts /proc in a private mount namespace")
        || !common::have_or_skip("unshare")
    {
        return;
    }
    let rescue = env!("CARGO_BIN_EXE_rescue");
    for args in ["--proc -tn", "-tnp"] {
        let script = format!("umount -l /proc && exec {rescue} ss {args}");
        let output = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .output()
            .unwrap();
        common::assert_exit(&output, 2, &format!("ss {args} without /proc"));
        assert!(
            common::stderr(&output).contains("ss: /proc: missing:"),
            "{}",
            common::show(&output)
        );
    }
}

/// What `program ARGS` writes to a terminal `columns` wide.
fn on_terminal(program: &str, args: &[&str], columns: u16) -> Vec<u8> {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors into the integers given; the size is read only.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are fresh and owned here from now on.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut command = if program == "rescue" {
        let mut command = common::rescue();
        command.arg("ss");
        command
    } else {
        Command::new(program)
    };
    let mut child = command
        .args(args)
        .stdout(Stdio::from(slave))
        .spawn()
        .expect("run ss");
    drop(command);
    let mut output = Vec::new();
    // The terminal says EIO once the child has closed its side.
    let _ = std::fs::File::from(master).read_to_end(&mut output);
    child.wait().expect("wait for ss");
    output
}

#[test]
fn on_a_terminal_columns_are_spread_over_its_width_as_iproute2_spreads_them() {
    if !iproute2_or_skip("ss") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    for columns in [60, 80, 133, 200] {
        for args in [&["-ltn"][..], &["-tan"], &["-a", "-t", "-u"]] {
            let mut last = (Vec::new(), Vec::new());
            for _ in 0..5 {
                last = (
                    on_terminal("rescue", args, columns),
                    on_terminal("ss", args, columns),
                );
                if last.0 == last.1 {
                    break;
                }
            }
            assert_eq!(
                String::from_utf8_lossy(&last.0),
                String::from_utf8_lossy(&last.1),
                "ss {args:?} on a terminal {columns} wide (left: rescue, right: iproute2)"
            );
        }
    }
}

#[test]
fn unix_sockets_are_listed_as_iproute2_lists_them() {
    if !iproute2_or_skip("ss") {
        return;
    }
    use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("listening.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let _client = UnixStream::connect(&path).unwrap();
    let (_accepted, _) = listener.accept().unwrap();
    let datagram_path = temp.path().join("datagram.sock");
    let _datagram = UnixDatagram::bind(&datagram_path).unwrap();
    let shown = path.to_str().unwrap();
    let ours_of = |listing: &str, needle: &str| -> Vec<String> {
        let mut lines: Vec<String> = listing
            .lines()
            .filter(|line| line.contains(needle))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        lines.sort();
        lines
    };
    let listening = ss(true, &["-xlp"]);
    let line = ours_of(&listening, shown);
    assert_eq!(line.len(), 1, "{listening}");
    assert!(line[0].starts_with("u_str LISTEN 0 "), "{}", line[0]);
    assert!(
        line[0].contains(&format!("pid={},", std::process::id())),
        "{}",
        line[0]
    );
    let temp_dir = temp.path().to_str().unwrap();
    for args in [&["-xa"][..], &["-xlp"], &["-x"]] {
        assert_same_lines(args, &|listing| ours_of(listing, temp_dir));
    }
    assert_same_output(&["-xl"]);
    let from_proc = common::rescue()
        .args(["ss", "--proc", "-xa"])
        .output()
        .unwrap();
    let from_proc = common::stdout(&from_proc);
    let line = ours_of(&from_proc, shown);
    assert!(
        line.len() == 2 && line.iter().any(|l| l.starts_with("u_str LISTEN")),
        "{from_proc}"
    );
    assert!(
        ours_of(&from_proc, datagram_path.to_str().unwrap())[0].starts_with("u_dgr UNCONN"),
        "{from_proc}"
    );
}

#[test]
fn without_netlink_the_fallback_is_taken_and_said() {
    if !cfg!(target_arch = "x86_64") || !common::have_or_skip("python3") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let output = Command::new("python3")
        .args([
            "-c",
            WITHOUT_NETLINK,
            env!("CARGO_BIN_EXE_rescue"),
            "ss",
            "-ltn",
        ])
        .output()
        .unwrap();
    common::assert_exit(&output, 0, "ss -ltn without netlink");
    let said = common::stderr(&output);
    assert!(said.contains("ss: netlink unavailable (Address family not supported by protocol); read /proc/net instead"), "{said}");
    let listed = tuples(&common::stdout(&output), &[port]);
    assert_eq!(
        listed,
        [(
            "LISTEN".to_string(),
            format!("127.0.0.1:{port}"),
            "0.0.0.0:*".to_string()
        )]
    );
}
