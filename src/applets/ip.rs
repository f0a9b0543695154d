//! usage: rescue ip [-4|-6] [-br|--brief] [--proc] addr|link|route [show] [dev IFNAME]
//!
//! Show network interfaces, their addresses and the routing table, read-only, in iproute2's
//! format (6.1): `ip addr`, `ip -4 addr`, `ip addr show dev eth0`, `ip link`, `ip route`,
//! `ip -6 route`, `ip -br addr`. Objects and commands may be abbreviated as iproute2 allows
//! (`ip a`, `ip r`, `ip l s`); anything that would change the system (`add`, `del`, `set`,
//! `flush`) is refused.
//!   -4, -6            IPv4 or IPv6 only (`ip route` alone is IPv4, as iproute2)
//!   -br, --brief      one line per interface: name, state, addresses (or link address and
//!                     flags for `ip -br link`)
//!       --proc        read /proc/net and /sys/class/net instead of asking the kernel over
//!                     netlink
//!
//! The kernel is asked over rtnetlink (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE dumps), as
//! iproute2 does. When no netlink socket can be had (a sandbox, a seccomp filter), it falls back
//! to /proc/net/dev, /sys/class/net/IF/*, /proc/net/fib_trie, /proc/net/if_inet6,
//! /proc/net/route and /proc/net/ipv6_route, and says so on standard error. The fallback has
//! every interface and address, but no qdisc, address lifetimes (shown as forever), IPv6 route
//! preference (shown as medium), and a route's protocol only inferred (`kernel` for an
//! address's own subnet). Not done: `-d`, `-s`, `-j`, `table`, nexthop objects.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write;
use std::net::IpAddr;

use clap::Parser;

use super::{complain, strerror, Exit};
use crate::sys::netlink::{self, ntop, Address, Link, Route};

#[derive(Parser)]
#[command(about = "Show interfaces, addresses and routes")]
pub(super) struct Args {
    /// IPv4 only
    #[arg(short = '4')]
    ipv4: bool,
    /// IPv6 only
    #[arg(short = '6')]
    ipv6: bool,
    /// one line per interface
    #[arg(long = "brief")]
    brief: bool,
    /// read /proc/net and /sys/class/net rather than netlink
    #[arg(long = "proc")]
    proc: bool,
    #[arg(
        value_name = "OBJECT",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    words: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Object {
    Address,
    Link,
    Route,
}

/// iproute2's `matches`: a word names a keyword when it is a non-empty prefix of it.
fn matches(word: &str, keyword: &str) -> bool {
    !word.is_empty() && keyword.starts_with(word)
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    // iproute2 spells its options with one dash: `-br`, `-brief`, `-4`.
    let args: Vec<OsString> = args
        .into_iter()
        .map(|arg| match arg.to_str() {
            Some("-br" | "-bri" | "-brie" | "-brief") => OsString::from("--brief"),
            _ => arg,
        })
        .collect();
    let args: Args = super::parse(name, args)?;
    let mut words = args.words.iter().map(String::as_str);
    let object = match words.next() {
        None => return Err(Exit::usage("missing object: addr, link or route")),
        Some(word) if word.starts_with('-') => {
            let letter = word.trim_start_matches('-').chars().next().unwrap_or('-');
            return Err(Exit::usage(format!("invalid option -- '{letter}'")));
        }
        Some(word) if matches(word, "address") => Object::Address,
        Some(word) if matches(word, "link") => Object::Link,
        Some(word) if matches(word, "route") => Object::Route,
        Some(word) => {
            return Err(Exit::failed(
                2,
                format!("Object \"{word}\" is unknown (this ip shows addr, link and route)"),
            ))
        }
    };
    let mut device = None;
    let rest: Vec<&str> = words.collect();
    let mut at = 0;
    const CHANGES: [&str; 11] = [
        "add", "delete", "change", "replace", "set", "flush", "append", "prepend", "save",
        "restore", "get",
    ];
    if let Some(command) = rest.first() {
        if ["show", "list", "lst"]
            .iter()
            .any(|keyword| matches(command, keyword))
        {
            at = 1;
        } else if CHANGES.iter().any(|keyword| matches(command, keyword)) {
            return Err(Exit::failed(
                2,
                format!("\"{command}\": this ip only shows (it is read-only)"),
            ));
        }
    }
    while let Some(word) = rest.get(at) {
        let value = if *word == "dev" {
            rest.get(at + 1).copied()
        } else {
            Some(*word)
        };
        // A bare word after `ip route` would be a prefix to select, which is not done here.
        let Some(value) = value.filter(|_| object != Object::Route || *word == "dev") else {
            return Err(Exit::failed(2, format!("\"{word}\": not understood here")));
        };
        device = Some(value.to_string());
        at += if *word == "dev" { 2 } else { 1 };
    }
    let family = match (args.ipv4, args.ipv6) {
        (true, false) => libc::AF_INET as u8,
        (false, true) => libc::AF_INET6 as u8,
        _ => libc::AF_UNSPEC as u8,
    };
    let view = View::read(name, args.proc, object, family)?;
    let text = match object {
        Object::Route => {
            let family = if family == libc::AF_UNSPEC as u8 {
                libc::AF_INET as u8
            } else {
                family
            };
            view.routes(family, device.as_deref())?
        }
        _ => view.interfaces(object, family, args.brief, device.as_deref())?,
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| Exit::write_error(1, &err))?;
    Ok(0)
}

/// What the kernel said: links, addresses and routes, from netlink or the fallback.
struct View {
    links: Vec<Link>,
    addresses: Vec<Address>,
    routes: Vec<Route>,
}

impl View {
    fn read(name: &str, use_proc: bool, object: Object, family: u8) -> Result<View, Exit> {
        let from_netlink = || -> std::io::Result<View> {
            let mut links = netlink::links(family)?;
            // IPv6's view of a link has no queue length; iproute2 asks the ioctl for it.
            for link in links.iter_mut().filter(|link| link.txqlen.is_none()) {
                link.txqlen = netlink::queue_length(&link.name);
            }
            let addresses = match object {
                Object::Link => Vec::new(),
                _ => netlink::addresses(family)?,
            };
            let routes = match object {
                Object::Route if family == libc::AF_INET6 as u8 => netlink::routes(family)?,
                Object::Route => netlink::routes(libc::AF_INET as u8)?,
                _ => Vec::new(),
            };
            Ok(View {
                links,
                addresses,
                routes,
            })
        };
        if !use_proc {
            match from_netlink() {
                Ok(view) => return Ok(view),
                Err(err) => complain(
                    name,
                    format!(
                        "netlink unavailable ({}); read /proc/net and /sys/class/net instead",
                        strerror(&err)
                    ),
                ),
            }
        }
        crate::sys::procfs::require_proc().map_err(|err| Exit::failed(2, err))?;
        let mut links = netlink::links_from_proc().map_err(|err| Exit::failed(2, err))?;
        if family == libc::AF_INET6 as u8 {
            // As IPv6's own view of the links, which netlink gives for `-6`.
            links.iter_mut().for_each(|link| link.group = None);
        }
        let mut addresses = Vec::new();
        if family != libc::AF_INET6 as u8 {
            addresses.extend(
                netlink::ipv4_addresses_from_proc(&links).map_err(|err| Exit::failed(2, err))?,
            );
        }
        if family != libc::AF_INET as u8 || object == Object::Route {
            addresses
                .extend(netlink::ipv6_addresses_from_proc().map_err(|err| Exit::failed(2, err))?);
        }
        let route_family = if family == libc::AF_INET6 as u8 {
            family
        } else {
            libc::AF_INET as u8
        };
        let routes = match object {
            Object::Route => netlink::routes_from_proc(route_family, &links, &addresses),
            _ => Vec::new(),
        };
        Ok(View {
            links,
            addresses,
            routes,
        })
    }

    fn name_of(&self, index: u32) -> String {
        self.links
            .iter()
            .find(|link| link.index == index)
            .map_or_else(|| format!("if{index}"), |link| link.name.clone())
    }

    /// `ip addr` and `ip link`, full or brief. With a family, interfaces without an address of
    /// it are left out, as iproute2 does.
    fn interfaces(
        &self,
        object: Object,
        family: u8,
        brief: bool,
        device: Option<&str>,
    ) -> Result<String, Exit> {
        if let Some(device) = device {
            if !self.links.iter().any(|link| link.name == device) {
                return Err(Exit::failed(
                    1,
                    format!("Device \"{device}\" does not exist."),
                ));
            }
        }
        let mut text = String::new();
        for link in &self.links {
            if device.is_some_and(|device| device != link.name) {
                continue;
            }
            let mine: Vec<&Address> = self
                .addresses
                .iter()
                .filter(|a| a.index == link.index)
                .filter(|a| family == libc::AF_UNSPEC as u8 || a.family == family)
                .collect();
            if object == Object::Address && family != libc::AF_UNSPEC as u8 && mine.is_empty() {
                continue;
            }
            if brief {
                self.brief(&mut text, link, object, &mine);
                continue;
            }
            self.link_lines(
                &mut text,
                link,
                object == Object::Link,
                family == libc::AF_UNSPEC as u8,
            );
            if object == Object::Address {
                for address in mine {
                    address_lines(&mut text, address);
                }
            }
        }
        Ok(text)
    }

    /// Whether the device under a link (in this namespace) is down or unknown: iproute2's
    /// `M-DOWN`.
    fn lower_down(&self, link: &Link) -> bool {
        match (link.link, link.link_netnsid) {
            (Some(lower), None) if lower != 0 => !self
                .links
                .iter()
                .any(|other| other.index == lower && other.flags & libc::IFF_UP as u32 != 0),
            _ => false,
        }
    }

    /// `rt1@rt0`: a link's name and, when it has one, the device under it.
    fn full_name(&self, link: &Link) -> String {
        match (link.link, link.link_netnsid) {
            (Some(0), _) => format!("{}@NONE", link.name),
            (Some(lower), Some(_)) => format!("{}@if{lower}", link.name),
            (Some(lower), None) => format!("{}@{}", link.name, self.name_of(lower)),
            (None, _) => link.name.clone(),
        }
    }

    fn brief(&self, text: &mut String, link: &Link, object: Object, addresses: &[&Address]) {
        let state = link.operstate.map_or("UNKNOWN", operstate_name);
        let _ = write!(text, "{:<16} {:<14} ", self.full_name(link), state);
        if object == Object::Link {
            if let Some(address) = &link.address {
                let _ = write!(text, "{} ", hardware_address(link.hardware, address));
            }
            let _ = write!(text, "<{}> ", link_flags(link.flags, self.lower_down(link)));
        } else {
            for address in addresses {
                if let Some(local) = address.local.or(address.address) {
                    text.push_str(&address_with_prefix(address, local));
                }
            }
        }
        text.push('\n');
    }

    fn link_lines(&self, text: &mut String, link: &Link, with_mode: bool, with_hardware: bool) {
        let _ = write!(
            text,
            "{}: {}: <{}> ",
            link.index,
            self.full_name(link),
            link_flags(link.flags, self.lower_down(link))
        );
        if let Some(mtu) = link.mtu {
            let _ = write!(text, "mtu {mtu} ");
        }
        if let Some(qdisc) = &link.qdisc {
            let _ = write!(text, "qdisc {qdisc} ");
        }
        if let Some(master) = link.master {
            let _ = write!(text, "master {} ", self.name_of(master));
        }
        if let Some(state) = link.operstate {
            let _ = write!(text, "state {} ", operstate_name(state));
        }
        if let (true, Some(mode)) = (with_mode, link.linkmode) {
            let names = ["DEFAULT", "DORMANT", "TESTING"];
            let _ = write!(
                text,
                "mode {} ",
                names
                    .get(usize::from(mode))
                    .map_or_else(|| mode.to_string(), |n| n.to_string())
            );
        }
        if let Some(group) = link.group {
            let group = if group == 0 {
                "default".to_string()
            } else {
                group.to_string()
            };
            let _ = write!(text, "group {group} ");
        }
        if let Some(qlen) = link.txqlen.filter(|qlen| *qlen != 0) {
            let _ = write!(text, "qlen {qlen}");
        }
        if with_hardware {
            let _ = write!(text, "\n    link/{} ", hardware_type(link.hardware));
            if let Some(address) = &link.address {
                text.push_str(&hardware_address(link.hardware, address));
            }
            if let Some(broadcast) = &link.broadcast {
                let word = if link.flags & libc::IFF_POINTOPOINT as u32 != 0 {
                    "peer"
                } else {
                    "brd"
                };
                let _ = write!(
                    text,
                    " {word} {}",
                    hardware_address(link.hardware, broadcast)
                );
            }
            if let Some(id) = link.link_netnsid {
                if id >= 0 {
                    let _ = write!(text, " link-netnsid {id}");
                } else {
                    text.push_str(" link-netnsid unknown");
                }
            }
        }
        for name in &link.altnames {
            let _ = write!(text, "\n    altname {name}");
        }
        text.push('\n');
    }

    /// `ip route`: the main table's routes of one family, iproute2's words in its order.
    /// With a device, only its routes, without the `dev NAME` every line would repeat.
    fn routes(&self, family: u8, device: Option<&str>) -> Result<String, Exit> {
        let oif = match device {
            None => None,
            Some(device) => match self.links.iter().find(|link| link.name == device) {
                Some(link) => Some(link.index),
                None => return Err(Exit::failed(1, format!("Cannot find device \"{device}\""))),
            },
        };
        let mut text = String::new();
        for route in &self.routes {
            // Cached clones (RTM_F_CLONED) are `ip route show cache`'s.
            if route.family != family || route.table != 254 || route.flags & 0x200 != 0 {
                continue;
            }
            if oif.is_some() && route.oif != oif {
                continue;
            }
            self.route_line(&mut text, route, oif.is_none());
        }
        Ok(text)
    }

    fn route_line(&self, text: &mut String, route: &Route, with_device: bool) {
        let host_len = if family_is_v4(route.family) { 32 } else { 128 };
        if route.kind != 1 {
            let _ = write!(text, "{} ", route_type_name(route.kind));
        }
        match route.dst {
            Some(dst) if route.dst_len != host_len => {
                let _ = write!(text, "{}/{} ", ntop(dst), route.dst_len);
            }
            Some(dst) => {
                let _ = write!(text, "{} ", ntop(dst));
            }
            None if route.dst_len != 0 => {
                let _ = write!(text, "0/{} ", route.dst_len);
            }
            None => text.push_str("default "),
        }
        if let Some(src) = route.src {
            let _ = write!(text, "from {}/{} ", ntop(src), route.src_len);
        }
        if let Some(gateway) = route.gateway {
            let _ = write!(text, "via {} ", ntop(gateway));
        }
        if let Some(oif) = route.oif.filter(|_| with_device) {
            let _ = write!(text, "dev {} ", self.name_of(oif));
        }
        // `proto boot` and `scope global` are the defaults iproute2 leaves unsaid.
        if route.protocol != 3 {
            let _ = write!(text, "proto {} ", protocol_name(route.protocol));
        }
        if route.scope != 0 {
            let _ = write!(text, "scope {} ", scope_name(route.scope));
        }
        if let Some(prefsrc) = route.prefsrc {
            let _ = write!(text, "src {} ", ntop(prefsrc));
        }
        if let Some(metric) = route.priority {
            let _ = write!(text, "metric {metric} ");
        }
        route_flags(text, route.flags);
        if let Some(expires) = route.expires {
            let _ = write!(text, "expires {expires}sec ");
        }
        if let Some(pref) = route.pref {
            let name = match pref {
                0 => "medium".to_string(),
                1 => "high".to_string(),
                3 => "low".to_string(),
                other => other.to_string(),
            };
            let _ = write!(text, "pref {name}");
        }
        for hop in &route.nexthops {
            text.push_str("\n\tnexthop ");
            if let Some(gateway) = hop.gateway {
                let _ = write!(text, "via {} ", ntop(gateway));
            }
            let _ = write!(text, "dev {} weight {} ", self.name_of(hop.oif), hop.weight);
            route_flags(text, hop.flags);
        }
        text.push('\n');
    }
}

fn family_is_v4(family: u8) -> bool {
    family == libc::AF_INET as u8
}

fn route_flags(text: &mut String, flags: u32) {
    let names: [(u32, &str); 10] = [
        (1, "dead"),
        (4, "onlink"),
        (2, "pervasive"),
        (8, "offload"),
        (0x100, "notify"),
        (16, "linkdown"),
        (32, "unresolved"),
        (0x4000, "rt_offload"),
        (0x8000, "rt_trap"),
        (0x2000_0000, "rt_offload_failed"),
    ];
    for (bit, name) in names {
        if flags & bit != 0 {
            let _ = write!(text, "{name} ");
        }
    }
}

/// `    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0` and its lifetimes line.
/// `10.0.0.1/24`, or `10.0.0.1 peer 10.0.0.2/32` for a point-to-point address, and a space.
fn address_with_prefix(address: &Address, local: IpAddr) -> String {
    let mut text = ntop(local);
    if let Some(peer) = address
        .address
        .filter(|peer| address.local.is_some() && *peer != local)
    {
        let _ = write!(text, " peer {}", ntop(peer));
    }
    let _ = write!(text, "/{} ", address.prefix_len);
    text
}

fn address_lines(text: &mut String, address: &Address) {
    let Some(local) = address.local.or(address.address) else {
        return;
    };
    let family = if family_is_v4(address.family) {
        "inet"
    } else {
        "inet6"
    };
    let _ = write!(text, "    {family} {}", address_with_prefix(address, local));
    if let Some(broadcast) = address.broadcast {
        let _ = write!(text, "brd {} ", ntop(broadcast));
    }
    let _ = write!(text, "scope {} ", scope_name(address.scope));
    address_flags(text, address.family, address.flags);
    if let Some(label) = &address.label {
        text.push_str(label);
    }
    if let Some((valid, preferred)) = address.lifetimes {
        let lifetime = |seconds: u32| {
            if seconds == u32::MAX {
                "forever".to_string()
            } else {
                format!("{seconds}sec")
            }
        };
        let _ = write!(
            text,
            "\n       valid_lft {} preferred_lft {}",
            lifetime(valid),
            lifetime(preferred)
        );
    }
    text.push('\n');
}

fn address_flags(text: &mut String, family: u8, flags: u32) {
    let names: [(u32, &str); 12] = [
        (0x01, "secondary"),
        (0x02, "nodad"),
        (0x04, "optimistic"),
        (0x08, "dadfailed"),
        (0x10, "home"),
        (0x20, "deprecated"),
        (0x40, "tentative"),
        (0x80, "permanent"),
        (0x100, "mngtmpaddr"),
        (0x200, "noprefixroute"),
        (0x400, "autojoin"),
        (0x800, "stable-privacy"),
    ];
    let mut rest = flags;
    for (bit, name) in names {
        if bit == 0x80 {
            // iproute2 says what is unusual: an address that is not permanent.
            if flags & bit == 0 {
                text.push_str("dynamic ");
            }
        } else if flags & bit != 0 {
            let name = if bit == 1 && !family_is_v4(family) {
                "temporary"
            } else {
                name
            };
            let _ = write!(text, "{name} ");
        }
        rest &= !bit;
    }
    if rest != 0 {
        let _ = write!(text, "flags {rest:02x} ");
    }
}

fn link_flags(flags: u32, lower_down: bool) -> String {
    const NAMES: [(u32, &str); 18] = [
        (0x8, "LOOPBACK"),
        (0x2, "BROADCAST"),
        (0x10, "POINTOPOINT"),
        (0x1000, "MULTICAST"),
        (0x80, "NOARP"),
        (0x200, "ALLMULTI"),
        (0x100, "PROMISC"),
        (0x400, "MASTER"),
        (0x800, "SLAVE"),
        (0x4, "DEBUG"),
        (0x8000, "DYNAMIC"),
        (0x4000, "AUTOMEDIA"),
        (0x2000, "PORTSEL"),
        (0x20, "NOTRAILERS"),
        (0x1, "UP"),
        (0x10000, "LOWER_UP"),
        (0x20000, "DORMANT"),
        (0x40000, "ECHO"),
    ];
    let mut words = Vec::new();
    let running = libc::IFF_RUNNING as u32;
    if flags & 1 != 0 && flags & running == 0 {
        words.push("NO-CARRIER".to_string());
    }
    let mut rest = flags & !running;
    for (bit, name) in NAMES {
        if rest & bit != 0 {
            words.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        words.push(format!("{rest:x}"));
    }
    if lower_down {
        words.push("M-DOWN".to_string());
    }
    words.join(",")
}

fn operstate_name(state: u8) -> &'static str {
    const NAMES: [&str; 7] = [
        "UNKNOWN",
        "NOTPRESENT",
        "DOWN",
        "LOWERLAYERDOWN",
        "TESTING",
        "DORMANT",
        "UP",
    ];
    NAMES.get(usize::from(state)).copied().unwrap_or("UNKNOWN")
}

fn scope_name(scope: u8) -> String {
    match scope {
        0 => "global".to_string(),
        200 => "site".to_string(),
        253 => "link".to_string(),
        254 => "host".to_string(),
        255 => "nowhere".to_string(),
        other => other.to_string(),
    }
}

/// iproute2's names for route protocols (its rt_protos table).
fn protocol_name(protocol: u8) -> String {
    let name = match protocol {
        0 => "unspec",
        1 => "redirect",
        2 => "kernel",
        3 => "boot",
        4 => "static",
        8 => "gated",
        9 => "ra",
        10 => "mrt",
        11 => "zebra",
        12 => "bird",
        13 => "dnrouted",
        14 => "xorp",
        15 => "ntk",
        16 => "dhcp",
        18 => "keepalived",
        42 => "babel",
        99 => "openr",
        186 => "bgp",
        187 => "isis",
        188 => "ospf",
        189 => "rip",
        192 => "eigrp",
        other => return other.to_string(),
    };
    name.to_string()
}

fn route_type_name(kind: u8) -> String {
    const NAMES: [&str; 12] = [
        "none",
        "unicast",
        "local",
        "broadcast",
        "anycast",
        "multicast",
        "blackhole",
        "unreachable",
        "prohibit",
        "throw",
        "nat",
        "xresolve",
    ];
    NAMES
        .get(usize::from(kind))
        .map_or_else(|| kind.to_string(), |name| name.to_string())
}

fn hardware_type(kind: u16) -> String {
    let name = match kind {
        1 => "ether",
        24 => "ieee1394",
        32 => "infiniband",
        512 => "ppp",
        768 => "ipip",
        769 => "tunnel6",
        772 => "loopback",
        776 => "sit",
        778 => "gre",
        801 => "ieee802.11",
        803 => "ieee802.11/radiotap",
        823 => "gre6",
        824 => "netlink",
        65534 => "none",
        65535 => "void",
        other => return format!("[{other}]"),
    };
    name.to_string()
}

/// A hardware address as iproute2 writes it: tunnels' as IP addresses, the rest in hex pairs.
fn hardware_address(kind: u16, bytes: &[u8]) -> String {
    let tunnel = matches!(kind, 768 | 769 | 776 | 778 | 823);
    match netlink::ip_from(bytes) {
        Some(address) if tunnel => ntop(address),
        _ => bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    }
}
