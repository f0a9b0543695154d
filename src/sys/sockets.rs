//! The kernel's TCP, UDP and unix sockets, as `ss` lists them, and which processes hold them.
//! The tables come from `inet_diag` and `unix_diag` over netlink (what iproute2's `ss` reads: it
//! has a listening socket's backlog and whether `::` means IPv6 only), or, when netlink cannot be
//! had, from `/proc/net/{tcp,tcp6,udp,udp6,unix}`. The holders come from `/proc/PID/fd/*` links
//! `socket:[INODE]`. Nothing here prints.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::sys::netlink;
use crate::sys::procfs::{self, PROC};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// TCP's states by the kernel's numbers (UDP uses 1, established, and 7, close), as the bit
/// masks `ss` filters with.
pub const ESTABLISHED: u8 = 1;
pub const TIME_WAIT: u8 = 6;
pub const SYN_RECV: u8 = 3;
pub const CLOSE: u8 = 7;
pub const LISTEN: u8 = 10;

#[derive(Debug, Clone)]
pub struct InetSocket {
    pub protocol: Protocol,
    pub state: u8,
    pub local: (IpAddr, u16),
    pub peer: (IpAddr, u16),
    /// The interface a socket is bound to (SO_BINDTODEVICE), 0 for none.
    pub interface: u32,
    pub recv_q: u32,
    pub send_q: u32,
    pub uid: u32,
    pub inode: u64,
    /// For an IPv6 socket: whether it takes IPv6 only (`[::]` rather than `*`).
    pub v6only: bool,
}

/// Where the socket table was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Netlink,
    /// `/proc/net`, because netlink failed (with its errno) or was not asked.
    Proc(Option<i32>),
}

/// The sockets of `protocol` in `families` (AF_INET, AF_INET6) whose state bit is in `states`,
/// IPv4 first, each in the kernel's order.
pub fn inet_sockets(
    protocol: Protocol,
    families: &[u8],
    states: u32,
    use_proc: bool,
) -> Result<(Vec<InetSocket>, Source)> {
    let number = match protocol {
        Protocol::Tcp => libc::IPPROTO_TCP as u8,
        Protocol::Udp => libc::IPPROTO_UDP as u8,
    };
    let mut netlink_error = None;
    if !use_proc {
        let mut found = Vec::new();
        for family in families {
            match netlink::inet_sockets(*family, number, states) {
                Ok(sockets) => found.extend(sockets.into_iter().map(|s| from_diag(protocol, s))),
                Err(err) => {
                    netlink_error = Some(err.raw_os_error().unwrap_or(libc::EIO));
                    break;
                }
            }
        }
        if netlink_error.is_none() {
            return Ok((found, Source::Netlink));
        }
    }
    procfs::require_proc()?;
    let mut found = from_proc(protocol)?;
    let wanted = |s: &InetSocket| {
        let family = if s.local.0.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        } as u8;
        families.contains(&family) && states & (1 << s.state) != 0
    };
    found.retain(wanted);
    Ok((found, Source::Proc(netlink_error)))
}

fn from_diag(protocol: Protocol, socket: netlink::DiagSocket) -> InetSocket {
    InetSocket {
        protocol,
        state: socket.state,
        local: socket.local,
        peer: socket.peer,
        interface: socket.interface,
        recv_q: socket.recv_q,
        send_q: socket.send_q,
        uid: socket.uid,
        inode: u64::from(socket.inode),
        v6only: socket.v6only,
    }
}

/// A unix socket: its type (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET), state, name and peer.
pub use crate::sys::netlink::DiagUnix as UnixSocket;

/// The unix sockets whose state bit is in `states`, from `unix_diag`, or from
/// `/proc/net/unix` (without queue lengths or peers, which it does not have).
pub fn unix_sockets(states: u32, use_proc: bool) -> Result<(Vec<UnixSocket>, Source)> {
    let mut netlink_error = None;
    if !use_proc {
        match netlink::unix_sockets(states) {
            Ok(found) => return Ok((found, Source::Netlink)),
            Err(err) => netlink_error = Some(err.raw_os_error().unwrap_or(libc::EIO)),
        }
    }
    procfs::require_proc()?;
    let path = format!("{PROC}/net/unix");
    let text = read_in_one_pass(&path).map_err(|err| Error::io("read", path, err))?;
    let parse = |line: &str| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let flags = u32::from_str_radix(words.get(3)?, 16).ok()?;
        // __SO_ACCEPTCON marks a listening socket; SS_CONNECTED (3) a connected one.
        let state = match (flags & 0x10000 != 0, words.get(5)?) {
            (true, _) => LISTEN,
            (false, &"03") => ESTABLISHED,
            _ => CLOSE,
        };
        Some(UnixSocket {
            kind: u8::from_str_radix(words.get(4)?, 16).ok()?,
            state,
            inode: words.get(6)?.parse().ok()?,
            name: words.get(7).map(|name| name.to_string()),
            peer: 0,
            recv_q: 0,
            send_q: 0,
        })
    };
    let mut found: Vec<UnixSocket> = text.lines().skip(1).filter_map(parse).collect();
    found.retain(|socket| states & (1 << socket.state) != 0);
    Ok((found, Source::Proc(netlink_error)))
}

/// `0100007F:1F90` or 32 hex digits and a port: the kernel prints each 32-bit word of the
/// address in network order as a native integer.
fn proc_address(word: &str) -> Option<(IpAddr, u16)> {
    let (address, port) = word.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Option<Vec<[u8; 4]>> = (0..address.len() / 8)
        .map(|at| {
            let chunk = address.get(at * 8..at * 8 + 8)?;
            Some(u32::from_str_radix(chunk, 16).ok()?.to_ne_bytes())
        })
        .collect();
    let bytes: Vec<u8> = words?.concat();
    let address = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes.as_slice()).ok()?)),
        _ => return None,
    };
    Some((address, port))
}

fn proc_line(protocol: Protocol, line: &str) -> Option<InetSocket> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (send_q, recv_q) = words.get(4)?.split_once(':')?;
    Some(InetSocket {
        protocol,
        state: u8::from_str_radix(words.get(3)?, 16).ok()?,
        local: proc_address(words.get(1)?)?,
        peer: proc_address(words.get(2)?)?,
        interface: 0,
        recv_q: u32::from_str_radix(recv_q, 16).ok()?,
        send_q: u32::from_str_radix(send_q, 16).ok()?,
        uid: words.get(7)?.parse().ok()?,
        inode: words.get(9)?.parse().ok()?,
        v6only: false,
    })
}

/// Both families from `/proc/net`. Whether an IPv6 socket is IPv6-only is not there: a socket
/// bound to one IPv6 address is (the kernel sets it on bind); one bound to `::` is taken to be
/// when an IPv4 wildcard socket holds the same port (both could not be bound otherwise), or when
/// `net.ipv6.bindv6only` makes it the default.
fn from_proc(protocol: Protocol) -> Result<Vec<InetSocket>> {
    let mut found = Vec::new();
    for suffix in ["", "6"] {
        let path = format!("{PROC}/net/{}{suffix}", protocol.name());
        let text = match read_in_one_pass(&path) {
            Ok(text) => text,
            // No IPv6 in this kernel: no tcp6 table.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && suffix == "6" => continue,
            Err(err) => return Err(Error::io("read", path, err)),
        };
        for socket in text
            .lines()
            .skip(1)
            .filter_map(|line| proc_line(protocol, line))
        {
            // A table that changed between two reads can repeat a line.
            let seen = found.iter().any(|known: &InetSocket| {
                (known.state, known.local, known.peer, known.inode)
                    == (socket.state, socket.local, socket.peer, socket.inode)
            });
            if !seen {
                found.push(socket);
            }
        }
    }
    let default_v6only = std::fs::read_to_string(format!("{PROC}/sys/net/ipv6/bindv6only"))
        .is_ok_and(|text| text.trim() == "1");
    let v4_wildcards: HashSet<u16> = found
        .iter()
        .filter(|s| s.local.0 == IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        .map(|s| s.local.1)
        .collect();
    for socket in &mut found {
        if let IpAddr::V6(address) = socket.local.0 {
            socket.v6only = if address.is_unspecified() {
                default_v6only || v4_wildcards.contains(&socket.local.1)
            } else {
                address.to_ipv4_mapped().is_none()
            };
        }
    }
    Ok(found)
}

/// A `/proc/net` table read with large reads: the kernel walks its hash table again from the
/// line it stopped at for each read, so sockets that come and go between small reads can be
/// skipped or repeated.
fn read_in_one_pass(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut data = Vec::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(got) => data.extend_from_slice(&chunk[..got]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// A process holding a socket: its command (as in `/proc/PID/stat`), pid and descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub command: String,
    pub pid: u32,
    pub fd: u32,
}

/// The holders of each of `inodes`, by scanning every process's descriptors. A process that
/// vanishes or whose descriptors cannot be read (another user's, without root) is skipped. The
/// holders of a socket are listed last found first, as `ss` lists them.
pub fn holders(inodes: &HashSet<u64>) -> HashMap<u64, Vec<Holder>> {
    let mut found: HashMap<u64, Vec<Holder>> = HashMap::new();
    let Ok(pids) = procfs::pids() else {
        return found;
    };
    for pid in pids {
        let Ok(entries) = std::fs::read_dir(procfs::pid_path(pid, "fd")) else {
            continue;
        };
        let mut command = None;
        let mut descriptors: Vec<(u32, u64)> = entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let fd: u32 = entry.file_name().to_str()?.parse().ok()?;
                let target = std::fs::read_link(entry.path()).ok()?;
                let target = target.to_str()?;
                let inode = target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse()
                    .ok()?;
                inodes.contains(&inode).then_some((fd, inode))
            })
            .collect();
        descriptors.sort_unstable();
        for (fd, inode) in descriptors {
            let command = command.get_or_insert_with(|| command_of(pid)).clone();
            found
                .entry(inode)
                .or_default()
                .insert(0, Holder { command, pid, fd });
        }
    }
    found
}

/// The command name between the parentheses of `/proc/PID/stat`, up to the first `)` as `ss`
/// reads it.
fn command_of(pid: u32) -> String {
    let stat = std::fs::read(procfs::pid_path(pid, "stat")).unwrap_or_default();
    let stat = String::from_utf8_lossy(&stat);
    stat.split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map_or_else(String::new, |(command, _)| command.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_lines_are_read_in_the_kernels_byte_order() {
        let v4 = "   0: 0100007F:0016 00000000:0000 0A 00000001:00000002 00:00000000 00000000     0        0 582 1 0000 100 0 0 10 0";
        let socket = proc_line(Protocol::Tcp, v4).unwrap();
        assert_eq!(socket.local, ("127.0.0.1".parse().unwrap(), 22));
        assert_eq!(
            (socket.state, socket.send_q, socket.recv_q, socket.inode),
            (LISTEN, 1, 2, 582)
        );
        let v6 = "   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9 1";
        assert_eq!(
            proc_line(Protocol::Tcp, v6).unwrap().local.0,
            "::1".parse::<IpAddr>().unwrap()
        );
        assert!(proc_line(Protocol::Tcp, "garbage 1 2").is_none());
    }
}
