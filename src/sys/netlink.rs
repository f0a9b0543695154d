//! A small netlink reader over libc sockets: dump requests to the kernel's routing tables
//! (`NETLINK_ROUTE`: links, addresses, routes) and its socket tables (`NETLINK_SOCK_DIAG`, for
//! `ss`), and the parsing of their replies into plain structs. Read-only: nothing here asks the
//! kernel to change anything. Written by hand rather than with the `neli` or `rtnetlink` crates
//! (160 KiB and 1.25 MiB, an async runtime) because a dump is one request and a loop of replies.
//!
//! When a netlink socket cannot be had (a seccomp filter, a sandbox without netlink), the
//! `/proc/net` and `/sys/class/net` readers at the end of the file give what they can; the
//! caller says it fell back.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const RTM_GETLINK: u16 = 18;
const RTM_GETADDR: u16 = 22;
const RTM_GETROUTE: u16 = 26;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const HEADER: usize = 16;

/// Sends one dump request and returns the body (after the `nlmsghdr`) of every reply message
/// of type `reply`, in the kernel's order.
pub fn dump(protocol: i32, request: u16, reply: u16, payload: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    // SAFETY: plain socket(2); the descriptor is owned right after.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let seq: u32 = 1;
    let length = HEADER + payload.len();
    let mut message = Vec::with_capacity(length);
    message.extend_from_slice(&(length as u32).to_ne_bytes());
    message.extend_from_slice(&request.to_ne_bytes());
    message.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    message.extend_from_slice(&seq.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(payload);
    // SAFETY: a zeroed sockaddr_nl is the kernel as destination.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: the buffer and the address are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            message.as_ptr().cast(),
            message.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    receive(&socket, seq, reply)
}

fn receive(socket: &OwnedFd, seq: u32, reply: u16) -> io::Result<Vec<Vec<u8>>> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut bodies = Vec::new();
    loop {
        // SAFETY: the buffer is valid for its length.
        let got = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
            )
        };
        if got < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if got == 0 {
            return Ok(bodies);
        }
        let mut rest = &buffer[..got as usize];
        while rest.len() >= HEADER {
            let length = u32_at(rest, 0) as usize;
            let kind = u16::from_ne_bytes([rest[4], rest[5]]);
            if length < HEADER || length > rest.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "truncated netlink message",
                ));
            }
            let body = &rest[HEADER..length];
            if u32_at(rest, 8) == seq {
                match kind {
                    NLMSG_DONE => return Ok(bodies),
                    NLMSG_ERROR => {
                        let code = body
                            .get(..4)
                            .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        if code != 0 {
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                    }
                    _ if kind == reply => bodies.push(body.to_vec()),
                    _ => {}
                }
            }
            rest = rest.get(align(length)..).unwrap_or(&[]);
        }
    }
}

fn align(length: usize) -> usize {
    (length + 3) & !3
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    data.get(at..at + 4)
        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

fn u16_at(data: &[u8], at: usize) -> u16 {
    data.get(at..at + 2)
        .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]))
}

/// The `rtattr`s after a fixed header, as (type, payload); a truncated one ends the list.
pub fn attributes(data: &[u8]) -> Vec<(u16, &[u8])> {
    let mut found = Vec::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let length = u16_at(rest, 0) as usize;
        let kind = u16_at(rest, 2) & 0x3fff;
        if length < 4 || length > rest.len() {
            break;
        }
        found.push((kind, &rest[4..length]));
        rest = rest.get(align(length)..).unwrap_or(&[]);
    }
    found
}

fn text(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// An address attribute of a family: 4 bytes for IPv4, 16 for IPv6, else none.
pub fn ip_from(data: &[u8]) -> Option<IpAddr> {
    match data.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(
            data[0], data[1], data[2], data[3],
        ))),
        16 => {
            let bytes: [u8; 16] = data.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

/// One network interface as `RTM_NEWLINK` describes it.
#[derive(Debug, Clone, Default)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `ifi_flags`: IFF_UP, IFF_LOWER_UP, ... as the kernel reports them.
    pub flags: u32,
    /// ARPHRD_* hardware type.
    pub hardware: u16,
    pub mtu: Option<u32>,
    pub qdisc: Option<String>,
    pub operstate: Option<u8>,
    pub linkmode: Option<u8>,
    pub address: Option<Vec<u8>>,
    pub broadcast: Option<Vec<u8>>,
    pub txqlen: Option<u32>,
    pub group: Option<u32>,
    /// IFLA_LINK: the lower device (a veth's peer, a VLAN's parent).
    pub link: Option<u32>,
    pub link_netnsid: Option<i32>,
    pub master: Option<u32>,
    pub altnames: Vec<String>,
}

/// Every interface, in index order. Asked with AF_INET6, the kernel answers from IPv6's own
/// view of each link, which has no qdisc or group (and `ip -6` prints none); else in full.
pub fn links(family: u8) -> io::Result<Vec<Link>> {
    let mut request = [0u8; 16]; // ifinfomsg
    request[0] = family;
    let bodies = dump(libc::NETLINK_ROUTE, RTM_GETLINK, 16, &request)?;
    Ok(bodies.iter().filter_map(|body| parse_link(body)).collect())
}

fn parse_link(body: &[u8]) -> Option<Link> {
    let header = body.get(..16)?;
    let mut link = Link {
        hardware: u16_at(header, 2),
        index: u32_at(header, 4),
        flags: u32_at(header, 8),
        ..Link::default()
    };
    for (kind, data) in attributes(&body[16..]) {
        match kind {
            1 => link.address = Some(data.to_vec()),
            2 => link.broadcast = Some(data.to_vec()),
            3 => link.name = text(data),
            4 => link.mtu = Some(u32_at(data, 0)),
            5 => link.link = Some(u32_at(data, 0)),
            6 => link.qdisc = Some(text(data)),
            10 => link.master = Some(u32_at(data, 0)),
            13 => link.txqlen = Some(u32_at(data, 0)),
            16 => link.operstate = data.first().copied(),
            17 => link.linkmode = data.first().copied(),
            27 => link.group = Some(u32_at(data, 0)),
            37 => link.link_netnsid = Some(u32_at(data, 0) as i32),
            52 => {
                let names = attributes(data).into_iter().filter(|(kind, _)| *kind == 53);
                link.altnames = names.map(|(_, name)| text(name)).collect();
            }
            _ => {}
        }
    }
    Some(link)
}

/// One interface address as `RTM_NEWADDR` describes it.
#[derive(Debug, Clone, Default)]
pub struct Address {
    pub family: u8,
    pub prefix_len: u8,
    /// IFA_FLAGS when present (it has the bits above 8), else `ifa_flags`.
    pub flags: u32,
    pub scope: u8,
    pub index: u32,
    pub address: Option<IpAddr>,
    pub local: Option<IpAddr>,
    pub broadcast: Option<IpAddr>,
    pub label: Option<String>,
    /// (valid, preferred) lifetimes in seconds; u32::MAX is forever.
    pub lifetimes: Option<(u32, u32)>,
}

/// Every address of `family` (AF_INET, AF_INET6, or AF_UNSPEC for both), in the kernel's order.
pub fn addresses(family: u8) -> io::Result<Vec<Address>> {
    let request = [family, 0, 0, 0, 0, 0, 0, 0]; // ifaddrmsg
    let bodies = dump(libc::NETLINK_ROUTE, RTM_GETADDR, 20, &request)?;
    Ok(bodies
        .iter()
        .filter_map(|body| parse_address(body))
        .collect())
}

fn parse_address(body: &[u8]) -> Option<Address> {
    let header = body.get(..8)?;
    let mut address = Address {
        family: header[0],
        prefix_len: header[1],
        flags: u32::from(header[2]),
        scope: header[3],
        index: u32_at(header, 4),
        ..Address::default()
    };
    for (kind, data) in attributes(&body[8..]) {
        match kind {
            1 => address.address = ip_from(data),
            2 => address.local = ip_from(data),
            3 => address.label = Some(text(data)),
            4 => address.broadcast = ip_from(data),
            6 if data.len() >= 8 => address.lifetimes = Some((u32_at(data, 4), u32_at(data, 0))),
            8 => address.flags = u32_at(data, 0),
            _ => {}
        }
    }
    Some(address)
}

/// One route as `RTM_NEWROUTE` describes it.
#[derive(Debug, Clone, Default)]
pub struct Route {
    pub family: u8,
    pub dst_len: u8,
    pub src_len: u8,
    pub tos: u8,
    pub table: u32,
    pub protocol: u8,
    pub scope: u8,
    /// RTN_UNICAST, RTN_LOCAL, ...
    pub kind: u8,
    pub flags: u32,
    pub dst: Option<IpAddr>,
    pub src: Option<IpAddr>,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    pub prefsrc: Option<IpAddr>,
    pub priority: Option<u32>,
    pub pref: Option<u8>,
    /// Seconds until it expires (RTA_CACHEINFO), when it does.
    pub expires: Option<i32>,
    /// A multipath route's next hops (RTA_MULTIPATH).
    pub nexthops: Vec<Nexthop>,
}

/// One next hop of a multipath route.
#[derive(Debug, Clone, Default)]
pub struct Nexthop {
    pub gateway: Option<IpAddr>,
    pub oif: u32,
    /// `rtnh_hops + 1`, as iproute2 prints it.
    pub weight: u32,
    pub flags: u32,
}

fn nexthops(mut data: &[u8]) -> Vec<Nexthop> {
    let mut found = Vec::new();
    while data.len() >= 8 {
        let length = usize::from(u16_at(data, 0));
        if length < 8 || length > data.len() {
            break;
        }
        let gateway = attributes(&data[8..length])
            .into_iter()
            .find(|(kind, _)| *kind == 5)
            .and_then(|(_, address)| ip_from(address));
        found.push(Nexthop {
            gateway,
            oif: u32_at(data, 4),
            weight: u32::from(data[3]) + 1,
            flags: u32::from(data[2]),
        });
        data = data.get(align(length)..).unwrap_or(&[]);
    }
    found
}

/// Every route of `family` in every table, in the kernel's order.
pub fn routes(family: u8) -> io::Result<Vec<Route>> {
    let request = [family, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]; // rtmsg
    let bodies = dump(libc::NETLINK_ROUTE, RTM_GETROUTE, 24, &request)?;
    Ok(bodies.iter().filter_map(|body| parse_route(body)).collect())
}

fn parse_route(body: &[u8]) -> Option<Route> {
    let header = body.get(..12)?;
    let mut route = Route {
        family: header[0],
        dst_len: header[1],
        src_len: header[2],
        tos: header[3],
        table: u32::from(header[4]),
        protocol: header[5],
        scope: header[6],
        kind: header[7],
        flags: u32_at(header, 8),
        ..Route::default()
    };
    for (kind, data) in attributes(&body[12..]) {
        match kind {
            1 => route.dst = ip_from(data),
            2 => route.src = ip_from(data),
            4 => route.oif = Some(u32_at(data, 0)),
            5 => route.gateway = ip_from(data),
            6 => route.priority = Some(u32_at(data, 0)),
            7 => route.prefsrc = ip_from(data),
            // rta_cacheinfo.rta_expires, in USER_HZ (100) ticks.
            12 if data.len() >= 12 => {
                let ticks = u32_at(data, 8) as i32;
                route.expires = (ticks != 0).then_some(ticks / 100);
            }
            9 => route.nexthops = nexthops(data),
            15 => route.table = u32_at(data, 0),
            20 => route.pref = data.first().copied(),
            _ => {}
        }
    }
    Some(route)
}

/// One TCP or UDP socket as `inet_diag` describes it (the replies `ss` reads).
#[derive(Debug, Clone)]
pub struct DiagSocket {
    pub family: u8,
    pub state: u8,
    pub local: (IpAddr, u16),
    pub peer: (IpAddr, u16),
    pub interface: u32,
    pub recv_q: u32,
    pub send_q: u32,
    pub uid: u32,
    pub inode: u32,
    /// INET_DIAG_SKV6ONLY, for IPv6 sockets: whether `::` means IPv6 only.
    pub v6only: bool,
}

/// Every socket of `protocol` (IPPROTO_TCP, IPPROTO_UDP) and `family` in the states of the
/// bit mask `states` (bit N for TCP state N).
pub fn inet_sockets(family: u8, protocol: u8, states: u32) -> io::Result<Vec<DiagSocket>> {
    let mut request = vec![family, protocol, 0, 0];
    request.extend_from_slice(&states.to_ne_bytes());
    request.resize(56, 0); // inet_diag_req_v2 with an empty socket id
    let bodies = dump(
        libc::NETLINK_SOCK_DIAG,
        SOCK_DIAG_BY_FAMILY,
        SOCK_DIAG_BY_FAMILY,
        &request,
    )?;
    Ok(bodies.iter().filter_map(|body| parse_diag(body)).collect())
}

fn parse_diag(body: &[u8]) -> Option<DiagSocket> {
    let header = body.get(..72)?;
    let family = header[0];
    let address = |at: usize| -> Option<IpAddr> {
        let bytes = &header[at..at + 16];
        if family == libc::AF_INET as u8 {
            ip_from(&bytes[..4])
        } else {
            ip_from(bytes)
        }
    };
    let port = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    let mut socket = DiagSocket {
        family,
        state: header[1],
        local: (address(8)?, port(4)),
        peer: (address(24)?, port(6)),
        interface: u32_at(header, 40),
        recv_q: u32_at(header, 56),
        send_q: u32_at(header, 60),
        uid: u32_at(header, 64),
        inode: u32_at(header, 68),
        v6only: false,
    };
    for (kind, data) in attributes(&body[72..]) {
        if kind == 11 {
            socket.v6only = data.first().is_some_and(|&b| b != 0);
        }
    }
    Some(socket)
}

/// One unix socket as `unix_diag` describes it.
#[derive(Debug, Clone)]
pub struct DiagUnix {
    /// SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
    pub kind: u8,
    pub state: u8,
    pub inode: u32,
    /// The bound name: a path, or `@name` for an abstract one (NULs shown as `@`, as `ss`).
    pub name: Option<String>,
    pub peer: u32,
    pub recv_q: u32,
    pub send_q: u32,
}

/// Every unix socket in the states of the bit mask `states`, in the kernel's order.
pub fn unix_sockets(states: u32) -> io::Result<Vec<DiagUnix>> {
    let mut request = vec![libc::AF_UNIX as u8, 0, 0, 0];
    request.extend_from_slice(&states.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes()); // any inode
    request.extend_from_slice(&(1u32 | 4 | 0x10).to_ne_bytes()); // name, peer, queues
    request.resize(24, 0);
    let bodies = dump(
        libc::NETLINK_SOCK_DIAG,
        SOCK_DIAG_BY_FAMILY,
        SOCK_DIAG_BY_FAMILY,
        &request,
    )?;
    Ok(bodies.iter().filter_map(|body| parse_unix(body)).collect())
}

fn parse_unix(body: &[u8]) -> Option<DiagUnix> {
    let header = body.get(..16)?;
    let mut socket = DiagUnix {
        kind: header[1],
        state: header[2],
        inode: u32_at(header, 4),
        name: None,
        peer: 0,
        recv_q: 0,
        send_q: 0,
    };
    for (kind, data) in attributes(&body[16..]) {
        match kind {
            0 => {
                // A path ends at its NUL; an abstract name starts with one and may hold more.
                socket.name = Some(if data.first() == Some(&0) {
                    let name: Vec<u8> = data
                        .iter()
                        .map(|&b| if b == 0 { b'@' } else { b })
                        .collect();
                    String::from_utf8_lossy(&name).into_owned()
                } else {
                    text(data)
                });
            }
            2 => socket.peer = u32_at(data, 0),
            4 => (socket.recv_q, socket.send_q) = (u32_at(data, 0), u32_at(data, 4)),
            _ => {}
        }
    }
    Some(socket)
}

// The fallback: what /proc/net and /sys/class/net tell without a netlink socket. Interfaces
// and addresses are complete; what only netlink knows (qdisc, address lifetimes, a route's
// protocol) is left out or inferred as noted at each field.

const SYS_NET: &str = "/sys/class/net";

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_string())
}

fn sys_number(name: &str, file: &str) -> Option<u64> {
    let text = read_trimmed(&format!("{SYS_NET}/{name}/{file}"))?;
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn hardware_address(text: &str) -> Option<Vec<u8>> {
    let bytes: Option<Vec<u8>> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect();
    bytes.filter(|b| !b.is_empty())
}

/// Interfaces named in `/proc/net/dev`, described from `/sys/class/net` when it is mounted
/// (without it only the names are known, numbered in the order listed).
pub fn links_from_proc() -> crate::Result<Vec<Link>> {
    let path = "/proc/net/dev";
    let text = std::fs::read_to_string(path).map_err(|err| crate::Error::io("read", path, err))?;
    let names = text
        .lines()
        .skip(2)
        .filter_map(|line| Some(line.split_once(':')?.0.trim()));
    let mut links: Vec<Link> = names
        .enumerate()
        .map(|(at, name)| link_from_sys(name, at))
        .collect();
    links.sort_by_key(|link| link.index);
    Ok(links)
}

fn link_from_sys(name: &str, position: usize) -> Link {
    let number = |file| sys_number(name, file);
    let operstate = read_trimmed(&format!("{SYS_NET}/{name}/operstate"));
    let operstate = operstate.and_then(|state| {
        let names = [
            "unknown",
            "notpresent",
            "down",
            "lowerlayerdown",
            "testing",
            "dormant",
            "up",
        ];
        names
            .iter()
            .position(|known| *known == state)
            .map(|at| at as u8)
    });
    let mut flags = number("flags").unwrap_or(0) as u32;
    // sysfs has the flags as set; the kernel adds RUNNING, LOWER_UP and DORMANT on the way out.
    if flags & libc::IFF_UP as u32 != 0 {
        if matches!(operstate, Some(0 | 6)) {
            flags |= libc::IFF_RUNNING as u32;
        }
        if number("carrier") == Some(1) {
            flags |= 0x10000;
        }
        if operstate == Some(5) {
            flags |= 0x20000;
        }
    }
    let address =
        |file| read_trimmed(&format!("{SYS_NET}/{name}/{file}")).and_then(|t| hardware_address(&t));
    let index = number("ifindex").map_or(position as u32 + 1, |index| index as u32);
    let link = number("iflink")
        .map(|link| link as u32)
        .filter(|link| *link != index);
    Link {
        index,
        name: name.to_string(),
        flags,
        hardware: number("type").unwrap_or(0xfffe) as u16,
        mtu: number("mtu").map(|mtu| mtu as u32),
        qdisc: None,
        operstate,
        linkmode: number("link_mode").map(|mode| mode as u8),
        address: address("address"),
        broadcast: address("broadcast"),
        txqlen: number("tx_queue_len").map(|len| len as u32),
        group: number("netdev_group").map(|group| group as u32),
        link,
        link_netnsid: None,
        master: None,
        altnames: Vec::new(),
    }
}

/// One leaf of `/proc/net/fib_trie`: a prefix, its scope and route type.
struct FibEntry {
    address: Ipv4Addr,
    len: u8,
    kind: String,
}

fn fib_entries() -> crate::Result<Vec<FibEntry>> {
    let path = "/proc/net/fib_trie";
    let text = std::fs::read_to_string(path).map_err(|err| crate::Error::io("read", path, err))?;
    let mut entries = Vec::new();
    let mut leaf = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(address) = line.strip_prefix("|-- ") {
            leaf = address.parse().ok();
        } else if let (Some(rest), Some(address)) = (line.strip_prefix('/'), leaf) {
            let mut words = rest.split_whitespace();
            let len = words.next().and_then(|len| len.parse().ok());
            let kind = words.nth(1).unwrap_or("").to_string();
            if let Some(len) = len {
                entries.push(FibEntry { address, len, kind });
            }
        }
    }
    Ok(entries)
}

fn contains(network: Ipv4Addr, len: u8, address: Ipv4Addr) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    };
    u32::from(network) & mask == u32::from(address) & mask
}

/// `/proc/net/route` lines: (interface, destination, gateway, flags, metric, prefix length).
fn proc_routes() -> Vec<(String, Ipv4Addr, Ipv4Addr, u32, u32, u8)> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let hex = |word: &str| u32::from_str_radix(word, 16).ok();
    // The kernel prints the network-order word as a native integer.
    let address = |word: &str| hex(word).map(|n| Ipv4Addr::from(n.to_ne_bytes()));
    let parse = |line: &str| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mask = address(words.get(7)?)?;
        Some((
            words.first()?.to_string(),
            address(words.get(1)?)?,
            address(words.get(2)?)?,
            hex(words.get(3)?)?,
            words.get(6)?.parse().ok()?,
            u32::from(mask).count_ones() as u8,
        ))
    };
    text.lines().skip(1).filter_map(parse).collect()
}

/// IPv4 addresses from the local routes in `/proc/net/fib_trie`, their prefix and interface
/// from the subnet routes (`/proc/net/route`; 127/8 is lo's). Lifetimes are not known there:
/// they are given as forever.
pub fn ipv4_addresses_from_proc(links: &[Link]) -> crate::Result<Vec<Address>> {
    let entries = fib_entries()?;
    let routes = proc_routes();
    let mut found: Vec<Address> = Vec::new();
    for local in entries.iter().filter(|e| e.len == 32 && e.kind == "LOCAL") {
        let address = local.address;
        if found
            .iter()
            .any(|known| known.local == Some(IpAddr::V4(address)))
        {
            continue;
        }
        let prefix = entries
            .iter()
            .filter(|e| e.len < 32 && matches!(e.kind.as_str(), "UNICAST" | "LOCAL") && e.len > 0)
            .filter(|e| contains(e.address, e.len, address))
            .max_by_key(|e| e.len);
        let (network, len) = prefix.map_or((address, 32), |e| (e.address, e.len));
        let loopback = address.octets()[0] == 127;
        let interface = routes
            .iter()
            .find(|r| r.1 == network && r.5 == len && r.2.is_unspecified())
            .map(|r| r.0.as_str())
            .or(loopback.then_some("lo"));
        let Some(link) = interface.and_then(|name| links.iter().find(|l| l.name == name)) else {
            continue;
        };
        let broadcast = Ipv4Addr::from(u32::from(network) | (u32::MAX >> len.min(31)));
        let has_broadcast = len < 31
            && entries
                .iter()
                .any(|e| e.kind == "BROADCAST" && e.address == broadcast && !loopback);
        let secondary = found.iter().any(|known| {
            known.index == link.index
                && known.prefix_len == len
                && known.family == libc::AF_INET as u8
                && matches!(known.local, Some(IpAddr::V4(other)) if contains(network, len, other))
        });
        found.push(Address {
            family: libc::AF_INET as u8,
            prefix_len: len,
            flags: 0x80 | u32::from(secondary),
            scope: if loopback { 254 } else { 0 },
            index: link.index,
            address: Some(IpAddr::V4(address)),
            local: Some(IpAddr::V4(address)),
            broadcast: has_broadcast.then_some(IpAddr::V4(broadcast)),
            label: Some(link.name.clone()),
            lifetimes: Some((u32::MAX, u32::MAX)),
        });
    }
    Ok(found)
}

fn hex_ipv6(word: &str) -> Option<Ipv6Addr> {
    let value = u128::from_str_radix(word.get(..32)?, 16).ok()?;
    Some(Ipv6Addr::from(value))
}

/// IPv6 addresses from `/proc/net/if_inet6` (flags as the kernel keeps them; lifetimes not
/// there, given as forever).
pub fn ipv6_addresses_from_proc() -> crate::Result<Vec<Address>> {
    let path = "/proc/net/if_inet6";
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(crate::Error::io("read", path, err)),
    };
    let parse = |line: &str| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let hex = |at: usize| u32::from_str_radix(words.get(at)?, 16).ok();
        let address = IpAddr::V6(hex_ipv6(words.first()?)?);
        let scope = match hex(3)? {
            0x10 => 254,
            0x20 => 253,
            0x40 => 200,
            _ => 0,
        };
        Some(Address {
            family: libc::AF_INET6 as u8,
            prefix_len: hex(2)? as u8,
            flags: hex(4)?,
            scope,
            index: hex(1)?,
            address: Some(address),
            local: None,
            broadcast: None,
            label: None,
            lifetimes: Some((u32::MAX, u32::MAX)),
        })
    };
    Ok(text.lines().filter_map(parse).collect())
}

/// Whether a route without a gateway is the subnet route of one of the interface's addresses,
/// which is what the kernel adds itself (`proto kernel`), and that address.
fn subnet_owner(addresses: &[Address], index: u32, dst: Option<IpAddr>, len: u8) -> Option<IpAddr> {
    addresses
        .iter()
        .filter(|a| a.index == index && a.prefix_len == len && a.flags & 1 == 0)
        .find_map(|a| {
            let mine = a.local.or(a.address)?;
            let same = match (mine, dst?) {
                (IpAddr::V4(mine), IpAddr::V4(dst)) => contains(dst, len, mine),
                (IpAddr::V6(mine), IpAddr::V6(dst)) => {
                    let mask = if len == 0 {
                        0
                    } else {
                        u128::MAX << (128 - u32::from(len.min(128)))
                    };
                    u128::from(mine) & mask == u128::from(dst) & mask
                }
                _ => false,
            };
            same.then_some(mine)
        })
}

/// The main table's routes from `/proc/net/route` (IPv4) or `/proc/net/ipv6_route`. The
/// protocol is inferred: `kernel` for an address's own subnet, `ra` for a router-advertised
/// IPv6 route, else `boot`; the IPv6 preference is not there and shown as medium.
pub fn routes_from_proc(family: u8, links: &[Link], addresses: &[Address]) -> Vec<Route> {
    let index_of = |name: &str| links.iter().find(|l| l.name == name).map(|l| l.index);
    let mut routes = Vec::new();
    if family == libc::AF_INET as u8 {
        for (name, dst, gateway, flags, metric, len) in proc_routes() {
            let reject = flags & 0x200 != 0;
            // An unreachable route has no device: `*`.
            let oif = index_of(&name);
            if flags & 1 == 0 || oif.is_none() && !reject {
                continue;
            }
            let dst = (len > 0).then_some(IpAddr::V4(dst));
            let via = (flags & 2 != 0).then_some(IpAddr::V4(gateway));
            let owner = match (via, oif) {
                (None, Some(oif)) => subnet_owner(addresses, oif, dst, len),
                _ => None,
            };
            routes.push(Route {
                family,
                dst_len: len,
                table: 254,
                protocol: if owner.is_some() { 2 } else { 3 },
                scope: if via.is_none() && !reject { 253 } else { 0 },
                kind: if reject { 7 } else { 1 },
                dst,
                gateway: via,
                oif,
                prefsrc: owner,
                priority: (metric != 0).then_some(metric),
                ..Route::default()
            });
        }
        return routes;
    }
    let text = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let hex = |at: usize| words.get(at).and_then(|w| u32::from_str_radix(w, 16).ok());
        let (Some(dst), Some(len), Some(gateway), Some(metric), Some(flags), Some(name)) = (
            words.first().and_then(|w| hex_ipv6(w)),
            hex(1),
            words.get(4).and_then(|w| hex_ipv6(w)),
            hex(5),
            hex(8),
            words.get(9),
        ) else {
            continue;
        };
        let len = len as u8;
        let multicast = len == 8 && dst.segments()[0] == 0xff00;
        let null_entry = flags & 0x200 != 0 && *name == "lo" && len == 0;
        let Some(oif) = index_of(name) else { continue };
        if flags & 0x8100_0000 != 0 || multicast || null_entry {
            continue;
        }
        let dst = (len > 0).then_some(IpAddr::V6(dst));
        let via = (flags & 2 != 0).then_some(IpAddr::V6(gateway));
        let kernel = via.is_none()
            && (subnet_owner(addresses, oif, dst, len).is_some()
                || len == 64
                    && dst
                        .is_some_and(|d| matches!(d, IpAddr::V6(d) if d.segments()[0] == 0xfe80)));
        routes.push(Route {
            family,
            dst_len: len,
            table: 254,
            protocol: if flags & 0x40000 != 0 {
                9
            } else if kernel {
                2
            } else {
                3
            },
            kind: if flags & 0x200 != 0 { 7 } else { 1 },
            dst,
            gateway: via,
            oif: Some(oif),
            priority: Some(metric),
            pref: Some(0),
            ..Route::default()
        });
    }
    routes
}

/// An address as glibc's `inet_ntop` writes it, which iproute2 prints: Rust's form but for
/// IPv4-compatible addresses (`::1.2.3.4`), which glibc still writes with a dotted tail.
pub fn ntop(address: IpAddr) -> String {
    if let IpAddr::V6(v6) = address {
        let words = v6.segments();
        if words[..6] == [0; 6] && words[6] != 0 {
            let [.., a, b, c, d] = v6.octets();
            return format!("::{a}.{b}.{c}.{d}");
        }
    }
    address.to_string()
}

/// An interface's transmit queue length from the SIOCGIFTXQLEN ioctl, for the links whose
/// netlink answer left it out.
pub fn queue_length(name: &str) -> Option<u32> {
    // SAFETY: plain socket(2); the descriptor is owned right after.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // struct ifreq: the name in 16 bytes, then the union where ifr_qlen is an int.
    let mut request = [0u8; 40];
    let bytes = name.as_bytes();
    if bytes.len() >= 16 {
        return None;
    }
    request[..bytes.len()].copy_from_slice(bytes);
    // SAFETY: the request buffer is as large as struct ifreq and lives for the call.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), 0x8942, request.as_mut_ptr()) };
    (rc == 0).then(|| u32_at(&request, 16))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut bytes = ((4 + data.len()) as u16).to_ne_bytes().to_vec();
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(data);
        bytes.resize(align(bytes.len()), 0);
        bytes
    }

    #[test]
    fn a_link_message_is_read_attribute_by_attribute() {
        let mut body = vec![0u8; 16];
        body[2..4].copy_from_slice(&772u16.to_ne_bytes());
        body[4..8].copy_from_slice(&1u32.to_ne_bytes());
        body[8..12].copy_from_slice(&0x10049u32.to_ne_bytes());
        body.extend(attribute(3, b"lo\0"));
        body.extend(attribute(4, &65536u32.to_ne_bytes()));
        body.extend(attribute(6, b"noqueue\0"));
        body.extend(attribute(16, &[0]));
        let link = parse_link(&body).unwrap();
        assert_eq!(
            (link.index, link.name.as_str(), link.hardware),
            (1, "lo", 772)
        );
        assert_eq!(
            (link.mtu, link.qdisc.as_deref(), link.operstate),
            (Some(65536), Some("noqueue"), Some(0))
        );
    }

    #[test]
    fn truncated_or_garbage_messages_never_panic() {
        let mut body = vec![2u8, 24, 0, 0, 1, 0, 0, 0];
        body.extend(attribute(2, &[127, 0, 0, 1]));
        body.extend(attribute(6, &[1, 2, 3])); // a cacheinfo too short to read
        for end in 0..=body.len() {
            let _ = parse_address(&body[..end]);
            let _ = parse_link(&body[..end]);
            let _ = parse_route(&body[..end]);
            let _ = parse_diag(&body[..end]);
        }
        let address = parse_address(&body).unwrap();
        assert_eq!(address.local, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(address.lifetimes, None);
        // A length that points past the end, and one shorter than an attribute header.
        assert!(attributes(&[200, 0, 1, 0, 0, 0]).is_empty());
        assert!(attributes(&[2, 0, 1, 0]).is_empty());
        let garbage: Vec<u8> = (0..300u32).map(|n| (n * 37 % 251) as u8).collect();
        for start in 0..garbage.len() {
            let _ = parse_route(&garbage[start..]);
            let _ = parse_diag(&garbage[start..]);
            let _ = parse_unix(&garbage[start..]);
            let _ = nexthops(&garbage[start..]);
        }
    }

    #[test]
    fn addresses_print_as_glibc_writes_them() {
        let text = |s: &str| ntop(s.parse().unwrap());
        assert_eq!(text("::ffff:127.0.0.1"), "::ffff:127.0.0.1");
        assert_eq!(text("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(text("::1"), "::1");
        assert_eq!(text("fe80::fc:ff:fe00:1"), "fe80::fc:ff:fe00:1");
        assert_eq!(text("10.0.0.1"), "10.0.0.1");
    }
}
