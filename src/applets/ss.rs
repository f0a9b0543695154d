//! usage: rescue ss [-t] [-u] [-x] [-l|-a] [-n] [-p] [-4|-6] [-H] [--proc]
//!
//! List TCP, UDP and unix sockets as iproute2's `ss` does (6.1): is sshd listening, who holds
//! port 80, which connections are up.
//!   -t, --tcp         TCP sockets
//!   -u, --udp         UDP sockets (none of -t, -u, -x: both TCP and UDP)
//!   -x, --unix        unix sockets: stream, datagram and seqpacket, path or @abstract
//!                     name and inode (no peer names, as iproute2 over netlink)
//!   -l, --listening   only listening (and unconnected UDP) sockets
//!   -a, --all         listening and non-listening sockets; by default only connected ones,
//!                     without TIME-WAIT and SYN-RECV, as iproute2
//!   -n, --numeric     ports as numbers; without it a port is named from /etc/services when
//!                     that file is readable and the port is outside the ephemeral range.
//!                     Addresses are always numeric: no DNS, ever
//!   -p, --processes   the processes holding each socket: users:(("sshd",pid=1,fd=3))
//!   -4, --ipv4        IPv4 sockets only
//!   -6, --ipv6        IPv6 sockets only
//!   -H, --no-header   no header line
//!       --proc        read /proc/net/{tcp,udp}[6] and unix instead of asking the kernel over
//!                     netlink
//!
//! Columns and alignment are iproute2's: `Netid` only when more than one kind is shown, states
//! by its names (ESTAB, LISTEN, TIME-WAIT, UNCONN, ...), `[::1]:22`, `*:22` for a dual-stack
//! IPv6 wildcard, `[::]:22` for an IPv6-only one, column widths from the contents when the
//! output is not a terminal and spread over its width when it is.
//! The table comes from the kernel's `inet_diag` over netlink, as iproute2 reads it; when
//! netlink is unavailable it is read from /proc/net (said on standard error), where a listening
//! socket's Send-Q (its backlog) is not known and shows 0, and whether `::` is IPv6-only is
//! inferred; a unix socket's queues and peer are not there either. Unlike iproute2, no raw,
//! netlink or packet sockets, `ss` alone lists TCP and UDP (not every kind), and no filter
//! expressions.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::net::IpAddr;

use clap::Parser;

use super::{complain, Exit};
use crate::sys::netlink::ntop;
use crate::sys::sockets::{self, InetSocket, Protocol, Source};

#[derive(Parser)]
#[command(about = "List TCP and UDP sockets")]
pub(super) struct Args {
    /// TCP sockets
    #[arg(short = 't', long = "tcp")]
    tcp: bool,
    /// UDP sockets
    #[arg(short = 'u', long = "udp")]
    udp: bool,
    /// unix sockets
    #[arg(short = 'x', long = "unix")]
    unix: bool,
    /// only listening sockets
    #[arg(short = 'l', long = "listening")]
    listening: bool,
    /// listening and non-listening sockets
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// do not resolve service names
    #[arg(short = 'n', long = "numeric")]
    numeric: bool,
    /// show the processes using each socket
    #[arg(short = 'p', long = "processes")]
    processes: bool,
    /// IPv4 only
    #[arg(short = '4', long = "ipv4")]
    ipv4: bool,
    /// IPv6 only
    #[arg(short = '6', long = "ipv6")]
    ipv6: bool,
    /// no header line
    #[arg(short = 'H', long = "no-header")]
    no_header: bool,
    /// read /proc/net rather than netlink
    #[arg(long = "proc")]
    proc: bool,
}

/// iproute2's state names, by the kernel's TCP state numbers.
const STATE_NAMES: [&str; 13] = [
    "UNKNOWN",
    "ESTAB",
    "SYN-SENT",
    "SYN-RECV",
    "FIN-WAIT-1",
    "FIN-WAIT-2",
    "TIME-WAIT",
    "UNCONN",
    "CLOSE-WAIT",
    "LAST-ACK",
    "LISTEN",
    "CLOSING",
    "SYN-RECV",
];

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let protocols: Vec<Protocol> = match (args.tcp, args.udp, args.unix) {
        (true, false, _) => vec![Protocol::Tcp],
        (false, true, _) => vec![Protocol::Udp],
        (false, false, true) => Vec::new(),
        // UDP first, as iproute2 lists them.
        _ => vec![Protocol::Udp, Protocol::Tcp],
    };
    let families: Vec<u8> = match (args.ipv4, args.ipv6) {
        (true, false) => vec![libc::AF_INET as u8],
        (false, true) => vec![libc::AF_INET6 as u8],
        _ => vec![libc::AF_INET as u8, libc::AF_INET6 as u8],
    };
    let states = states(&args);
    let mut fell_back = None;
    let mut unix = Vec::new();
    if args.unix {
        let (found, source) =
            sockets::unix_sockets(states, args.proc).map_err(|err| Exit::failed(2, err))?;
        if let Source::Proc(Some(kind)) = source {
            fell_back = Some(kind);
        }
        unix = found;
    }
    let mut inet = Vec::new();
    for protocol in &protocols {
        let (found, source) = sockets::inet_sockets(*protocol, &families, states, args.proc)
            .map_err(|err| Exit::failed(2, err))?;
        if let Source::Proc(Some(kind)) = source {
            fell_back = Some(kind);
        }
        inet.extend(found);
    }
    if let Some(kind) = fell_back {
        let why = std::io::Error::from_raw_os_error(kind);
        let why = super::strerror(&why);
        complain(
            name,
            format!("netlink unavailable ({why}); read /proc/net instead"),
        );
    }
    let holders = if args.processes {
        // Who holds a socket is only in /proc.
        crate::sys::procfs::require_proc().map_err(|err| Exit::failed(2, err))?;
        let inodes = inet.iter().map(|s| s.inode);
        let inodes = inodes.chain(unix.iter().map(|s| u64::from(s.inode)));
        sockets::holders(&inodes.filter(|i| *i != 0).collect())
    } else {
        HashMap::new()
    };
    let services = if args.numeric {
        Services::default()
    } else {
        Services::read()
    };
    // iproute2 shows Netid when more than one table is listed; unix is three (stream,
    // datagram, seqpacket).
    let netid = protocols.len() > 1 || args.unix;
    let mut table = Table::new(netid, !args.no_header);
    if !args.no_header {
        let header = [
            "Netid",
            "State",
            "Recv-Q",
            "Send-Q",
            "Local Address:",
            "Port",
            "Peer Address:",
            "Port",
            "Process",
        ];
        table.rows.push(header.map(String::from).to_vec());
    }
    for socket in &unix {
        let holders = holders.get(&u64::from(socket.inode));
        table.rows.push(unix_row(socket, holders));
    }
    for socket in &inet {
        let holders = holders.get(&socket.inode);
        table.rows.push(row(socket, &services, holders));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(table.render(terminal_width()).as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| Exit::write_error(1, &err))?;
    Ok(0)
}

/// iproute2's state masks: every state it names (bits 0 to 11), only the listening ones, or
/// the connected ones (SS_CONN: all but LISTEN, CLOSE, TIME-WAIT and SYN-RECV).
fn states(args: &Args) -> u32 {
    const ALL: u32 = (1 << 12) - 1;
    if args.all {
        return ALL;
    }
    if args.listening {
        return 1 << sockets::LISTEN | 1 << sockets::CLOSE;
    }
    let not_connected = [
        sockets::LISTEN,
        sockets::CLOSE,
        sockets::TIME_WAIT,
        sockets::SYN_RECV,
    ];
    not_connected
        .iter()
        .fold(ALL, |mask, state| mask & !(1 << state))
}

/// ` users:(("sshd",pid=1,fd=3),...)`, or nothing.
fn users(holders: Option<&Vec<sockets::Holder>>) -> String {
    match holders {
        Some(holders) if !holders.is_empty() => {
            let each: Vec<String> = holders
                .iter()
                .map(|h| format!("(\"{}\",pid={},fd={})", h.command, h.pid, h.fd))
                .collect();
            format!(" users:({})", each.join(","))
        }
        _ => String::new(),
    }
}

/// A unix socket's row: its name (or `*`) and inode, the peer's inode; iproute2 names no peer.
fn unix_row(socket: &sockets::UnixSocket, holders: Option<&Vec<sockets::Holder>>) -> Vec<String> {
    let netid = match i32::from(socket.kind) {
        libc::SOCK_STREAM => "u_str",
        libc::SOCK_DGRAM => "u_dgr",
        libc::SOCK_SEQPACKET => "u_seq",
        _ => "???",
    };
    let state = STATE_NAMES
        .get(usize::from(socket.state))
        .unwrap_or(&"UNKNOWN");
    vec![
        netid.to_string(),
        state.to_string(),
        format!("{:<6}", socket.recv_q),
        format!("{:<6}", socket.send_q),
        format!("{} ", socket.name.as_deref().unwrap_or("*")),
        socket.inode.to_string(),
        "* ".to_string(),
        socket.peer.to_string(),
        users(holders),
    ]
}

fn row(
    socket: &InetSocket,
    services: &Services,
    holders: Option<&Vec<sockets::Holder>>,
) -> Vec<String> {
    let state = STATE_NAMES
        .get(usize::from(socket.state))
        .unwrap_or(&"UNKNOWN");
    let host = |address: IpAddr| match address {
        IpAddr::V4(_) => ntop(address),
        IpAddr::V6(v6) if v6.is_unspecified() && !socket.v6only => "*".to_string(),
        IpAddr::V6(_) => format!("[{}]", ntop(address)),
    };
    let mut local = host(socket.local.0);
    if socket.interface != 0 {
        local = format!("{local}%{}", interface_name(socket.interface));
    }
    let process = users(holders);
    vec![
        socket.protocol.name().to_string(),
        state.to_string(),
        format!("{:<6}", socket.recv_q),
        format!("{:<6}", socket.send_q),
        format!("{local}:"),
        services.port(socket.local.1, socket.protocol),
        format!("{}:", host(socket.peer.0)),
        services.port(socket.peer.1, socket.protocol),
        process,
    ]
}

fn interface_name(index: u32) -> String {
    let links = crate::sys::netlink::links(0)
        .or_else(|_| crate::sys::netlink::links_from_proc().map_err(|_| ()));
    links
        .ok()
        .and_then(|links| links.into_iter().find(|l| l.index == index))
        .map_or_else(|| format!("if{index}"), |link| link.name)
}

/// Port names from /etc/services, as getservbyport finds them (the first line naming a port
/// and protocol wins), except in the ephemeral range, which iproute2 leaves numeric.
#[derive(Default)]
struct Services {
    names: HashMap<(u16, &'static str), String>,
    ephemeral: (u16, u16),
}

impl Services {
    fn read() -> Services {
        let mut names = HashMap::new();
        let text = std::fs::read("/etc/services").unwrap_or_default();
        for line in String::from_utf8_lossy(&text).lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(port)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, protocol)) = port.split_once('/') else {
                continue;
            };
            let protocol = match protocol {
                "tcp" => "tcp",
                "udp" => "udp",
                _ => continue,
            };
            if let Ok(port) = port.parse() {
                names
                    .entry((port, protocol))
                    .or_insert_with(|| name.to_string());
            }
        }
        let range =
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
        let mut bounds = range
            .split_whitespace()
            .filter_map(|word| word.parse().ok());
        let ephemeral = match (bounds.next(), bounds.next()) {
            (Some(low), Some(high)) => (low, high),
            _ => (1024, 4999),
        };
        Services { names, ephemeral }
    }

    fn port(&self, port: u16, protocol: Protocol) -> String {
        if port == 0 {
            return "*".to_string();
        }
        let ephemeral = port >= self.ephemeral.0 && port <= self.ephemeral.1;
        match self.names.get(&(port, protocol.name())) {
            Some(name) if !ephemeral => name.clone(),
            _ => port.to_string(),
        }
    }
}

fn terminal_width() -> Option<usize> {
    // SAFETY: TIOCGWINSZ writes one winsize into `size`, which lives for the call.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let tty = unsafe { libc::isatty(libc::STDOUT_FILENO) } == 1;
    // SAFETY: as above.
    let ok = tty && unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// iproute2's column layout: Netid, State, Recv-Q, Send-Q, local address (right-aligned) and
/// port, peer address (right-aligned) and port, process.
struct Table {
    rows: Vec<Vec<String>>,
    netid: bool,
    /// Whether the first row is the header.
    header: bool,
}

const RIGHT: [bool; 9] = [false, false, false, false, true, false, true, false, false];
const DELIMITER: [&str; 9] = ["", " ", " ", " ", " ", "", " ", "", ""];

impl Table {
    fn new(netid: bool, header: bool) -> Table {
        Table {
            rows: Vec::new(),
            netid,
            header,
        }
    }

    fn shown(&self) -> impl Iterator<Item = usize> + '_ {
        (0..9).filter(move |column| *column != 0 || self.netid)
    }

    /// Each column as wide as its widest cell plus its delimiter (not the first); on a terminal
    /// the spare width is spread over the columns as iproute2 spreads it.
    fn widths(&self, screen: Option<usize>) -> [usize; 9] {
        let mut widths = [0; 9];
        let mut first = true;
        for column in self.shown() {
            // iproute2 measures a cell when it moves past it; it never moves past the last
            // socket's process cell, so that one does not widen its column.
            let measured = match self.rows.len() {
                rows if column == 8 && rows > usize::from(self.header) => rows - 1,
                rows => rows,
            };
            let longest = self.rows[..measured]
                .iter()
                .map(|row| row[column].len())
                .max()
                .unwrap_or(0);
            widths[column] = if !first && longest > 0 {
                longest + DELIMITER[column].len()
            } else {
                longest
            };
            if let Some(screen) = screen {
                widths[column] = widths[column].min(screen);
            }
            first &= widths[column] == 0;
        }
        if let Some(screen) = screen {
            spread(&mut widths, screen);
        }
        widths
    }

    fn render(&self, screen: Option<usize>) -> String {
        let widths = self.widths(screen);
        let mut text = String::new();
        for row in &self.rows {
            let mut started = false;
            for column in self.shown() {
                let cell = &row[column];
                let mut printed = 0;
                if started {
                    text.push_str(DELIMITER[column]);
                    printed = DELIMITER[column].len();
                }
                started = true;
                let width = widths[column];
                if width > 0 && RIGHT[column] {
                    let pad = width.saturating_sub(cell.len() + printed);
                    text.extend(std::iter::repeat_n(' ', pad));
                    printed += pad;
                }
                text.push_str(cell);
                printed += cell.len();
                if width > 0 && !RIGHT[column] {
                    text.extend(std::iter::repeat_n(' ', width.saturating_sub(printed)));
                }
            }
            text.push('\n');
        }
        text
    }
}

/// iproute2's second pass: columns are put on lines of at most `screen` characters and each
/// line's spare width is shared out among its columns, the remainder going to the last ones.
fn spread(widths: &mut [usize; 9], screen: usize) {
    let mut line_start = 0;
    let mut len = 0;
    let mut count = 0;
    let mut column = 0;
    while column < widths.len() {
        if widths[column] == 0 {
            column += 1;
            continue;
        }
        count += 1;
        len += widths[column];
        let last = widths[column + 1..].iter().all(|w| *w == 0);
        if !last && len < screen {
            column += 1;
            continue;
        }
        let mut end = column;
        if len > screen && count > 1 {
            len -= widths[column];
            count -= 1;
            end = column - 1;
        }
        if len < screen {
            let pad = screen - len;
            let (spacing, mut rem) = (pad / count, pad % count);
            for width in widths[line_start..=end]
                .iter_mut()
                .rev()
                .filter(|w| **w > 0)
            {
                *width += spacing;
                if rem > 0 {
                    *width += 1;
                    rem -= 1;
                }
            }
        }
        line_start = end + 1;
        len = 0;
        count = 0;
        column = end + 1;
    }
}
