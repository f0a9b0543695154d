//! `rescue ip` against iproute2's `ip`, byte for byte: on this host's own interfaces, and in a
//! network namespace the test builds (a veth pair, primary, secondary, labelled, peer and
//! dynamic addresses, static, dhcp, unreachable, host and IPv6 routes). The only normalization
//! is the countdown of dynamic lifetimes (`valid_lft 598sec`, `expires 597sec`), which moves
//! between the two runs. The `--proc` fallback is compared as sets: the same interfaces, the
//! same addresses, the same routes.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The python3 program that refuses netlink sockets, shared with tests/ss.rs.
#[path = "net/without_netlink.rs"]
mod without_netlink;
use without_netlink::WITHOUT_NETLINK;

/// The commands compared byte for byte.
const COMMANDS: [&str; 10] = [
    "addr",
    "-4 addr",
    "-6 addr",
    "link",
    "route",
    "-6 route",
    "-br addr",
    "-br link",
    "addr show dev lo",
    "a s lo",
];

/// Lifetimes that count down: every `NNNsec` becomes `Nsec`.
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

fn normalize(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_inclusive(' ') {
        let bare = word.trim_end_matches(['\n', ' ']);
        match bare.strip_suffix("sec") {
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                out.push_str("Nsec");
                out.push_str(&word[bare.len()..]);
            }
            _ => out.push_str(word),
        }
    }
    out
}

fn ip(ours: bool, args: &str) -> (String, String, Option<i32>) {
    let words: Vec<&str> = args.split_whitespace().collect();
    let output = if ours {
        common::rescue().arg("ip").args(&words).output()
    } else {
        Command::new("ip").args(&words).output()
    }
    .expect("run ip");
    (
        common::stdout(&output),
        common::stderr(&output),
        output.status.code(),
    )
}

#[test]
fn this_hosts_interfaces_and_routes_print_as_iproute2_prints_them() {
    if !iproute2_or_skip("ip") {
        return;
    }
    for args in COMMANDS {
        // An address or route may change between the runs (DHCP, SLAAC): retry before it counts.
        let mut last = (String::new(), String::new());
        for _ in 0..3 {
            let (ours, theirs) = (ip(true, args).0, ip(false, args).0);
            last = (normalize(&ours), normalize(&theirs));
            if last.0 == last.1 {
                break;
            }
        }
        assert_eq!(last.0, last.1, "ip {args} (left: rescue, right: iproute2)");
    }
    assert_same_sets(&|args| ip(false, args).0, &|args| {
        let (out, _, status) = ip(true, &format!("--proc {args}"));
        assert_eq!(status, Some(0), "ip --proc {args}");
        out
    });
}

/// Builds a network namespace (with its own /sys, for the fallback), runs `COMMANDS` with both
/// tools in it, and returns (args, ours, theirs) for each, and the `--proc` outputs.
fn in_namespace(dir: &Path) -> Option<Vec<(String, String, String)>> {
    let setup = r#"
set -e
mount -t sysfs sysfs /sys
ip link set lo up
if ip link add rt0 type veth peer name rt1 2>/dev/null; then
  DEV=rt0
  ip link set rt0 up; ip link set rt1 up
  ip link add rt2 type veth peer name rt3; ip link set rt2 up
  ip link add rt4 type veth peer name rt5; ip link set rt4 up
  ip link property add dev rt4 altname rtalt4 || true
  # A peer in another (unnamed) namespace: `rt4@if2 ... link-netnsid 0`.
  unshare -n sleep 60 & PEER=$!
  trap 'kill $PEER' EXIT
  sleep 0.3
  ip link set rt5 netns $PEER
else
  DEV=lo
fi
ip addr add 10.99.0.1/24 brd + dev $DEV
ip addr add 10.99.0.9/24 dev $DEV label $DEV:x
ip addr add 10.98.0.1 peer 10.98.0.2/32 dev $DEV
ip -6 addr add fd99::1/64 dev $DEV nodad
ip -6 addr add fd98::1/64 dev $DEV nodad preferred_lft 300 valid_lft 600
ip route add 10.97.0.0/16 via 10.99.0.2 dev $DEV metric 5 proto static
ip route add unreachable 10.96.0.0/16
ip route add 10.95.0.5 dev $DEV scope link
ip route add default via 10.99.0.254 dev $DEV proto dhcp src 10.99.0.1 metric 100
ip -6 route add fd97::/64 via fd99::2 dev $DEV metric 1024
ip route add 10.94.0.0/16 nexthop via 10.99.0.2 dev $DEV weight 1 nexthop via 10.99.0.3 dev $DEV weight 2
ip -6 route add fd77::/64 nexthop via fd99::2 dev $DEV nexthop via fd99::3 dev $DEV
"#;
    let rescue = env!("CARGO_BIN_EXE_rescue");
    let mut script = setup.to_string();
    let mut all: Vec<String> = COMMANDS.iter().map(|c| c.to_string()).collect();
    all.extend(
        [
            "addr show dev rt2",
            "-br addr show rt0",
            "route show dev rt0",
            "-6 r s dev rt0",
        ]
        .map(String::from),
    );
    for (at, args) in all.iter().enumerate() {
        let d = dir.display();
        script.push_str(&format!(
            "ip {args} > {d}/theirs.{at} 2>&1 || true\n{rescue} ip {args} > {d}/ours.{at} 2>&1 || true\n\
             {rescue} ip --proc {args} > {d}/proc.{at} 2>&1 || true\n\
             ip {args} > {d}/again.{at} 2>&1 || true\n"
        ));
    }
    let output = Command::new("unshare")
        .args([
            "-n",
            "-m",
            "--propagation",
            "private",
            "bash",
            "-c",
            &script,
        ])
        .output()
        .expect("run unshare");
    assert!(
        output.status.success(),
        "namespace setup: {}",
        common::show(&output)
    );
    let read =
        |kind: &str, at: usize| std::fs::read_to_string(dir.join(format!("{kind}.{at}"))).unwrap();
    let mut results = Vec::new();
    for (at, args) in all.iter().enumerate() {
        results.push((args.clone(), read("ours", at), read("theirs", at)));
        results.push((
            format!("--proc {args}"),
            read("proc", at),
            read("again", at),
        ));
    }
    Some(results)
}

#[test]
fn a_namespace_with_every_kind_of_address_and_route_prints_as_iproute2_prints_it() {
    if !common::root_or_skip("builds a network namespace")
        || !common::have_or_skip("unshare")
        || !iproute2_or_skip("ip")
    {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let Some(results) = in_namespace(temp.path()) else {
        return;
    };
    let mut proc_outputs = std::collections::HashMap::new();
    for (args, ours, theirs) in &results {
        if let Some(args) = args.strip_prefix("--proc ") {
            proc_outputs.insert(args.to_string(), (ours.clone(), theirs.clone()));
            continue;
        }
        assert_eq!(
            normalize(ours),
            normalize(theirs),
            "ip {args} (left: rescue, right: iproute2)"
        );
    }
    let (_, _, full) = results.iter().find(|(args, _, _)| args == "addr").unwrap();
    assert!(full.contains("10.98.0.1 peer 10.98.0.2/32"), "{full}");
    let (_, _, routes) = results.iter().find(|(args, _, _)| args == "route").unwrap();
    assert!(routes.contains("\tnexthop via 10.99.0.3 dev "), "{routes}");
    if full.contains("rt0@rt1") {
        assert!(
            full.contains("link-netnsid 0") && full.contains("M-DOWN"),
            "{full}"
        );
    }
    let proc = |args: &str| {
        proc_outputs
            .get(args)
            .map(|p| p.0.clone())
            .unwrap_or_default()
    };
    let netlink = |args: &str| {
        proc_outputs
            .get(args)
            .map(|p| p.1.clone())
            .unwrap_or_default()
    };
    assert_same_sets(&netlink, &proc);
}

/// `ip NAME: ...` link lines as (index, name), for comparing listings.
fn links(listing: &str) -> BTreeSet<(String, String)> {
    listing
        .lines()
        .filter(|line| !line.starts_with(' '))
        .filter_map(|line| {
            let mut words = line.split(": ");
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect()
}

/// (interface, address/prefix, scope) of each address in an `ip addr` listing. Point-to-point
/// addresses are left out: the fallback cannot tell their interface from /proc/net.
fn addresses(listing: &str) -> BTreeSet<(String, String, String)> {
    let mut found = BTreeSet::new();
    let mut interface = String::new();
    for line in listing.lines() {
        if !line.starts_with(' ') {
            interface = line.split(": ").nth(1).unwrap_or("").to_string();
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if !matches!(words.first(), Some(&"inet" | &"inet6")) || words.contains(&"peer") {
            continue;
        }
        let scope = words
            .iter()
            .skip_while(|w| **w != "scope")
            .nth(1)
            .unwrap_or(&"");
        found.insert((interface.clone(), words[1].to_string(), scope.to_string()));
    }
    found
}

/// (destination, gateway, device) of each route. Multipath routes (those followed by
/// `nexthop` lines in `multipath`) are left out: /proc/net/route has only their first hop.
fn routes(listing: &str, multipath: &str) -> BTreeSet<(String, String, String)> {
    let lines: Vec<&str> = multipath.lines().collect();
    let spread: Vec<&str> = lines
        .windows(2)
        .filter(|pair| pair[1].starts_with("\tnexthop"))
        .filter_map(|pair| pair[0].split_whitespace().next())
        .collect();
    let after = |words: &[&str], key: &str| {
        words
            .iter()
            .skip_while(|w| **w != key)
            .nth(1)
            .map(|w| w.to_string())
            .unwrap_or_default()
    };
    listing
        .lines()
        .filter(|line| !line.starts_with('\t'))
        .filter(|line| !spread.contains(&line.split_whitespace().next().unwrap_or("")))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let dst = words
                .iter()
                .find(|w| !matches!(**w, "unreachable"))
                .unwrap_or(&"");
            (dst.to_string(), after(&words, "via"), after(&words, "dev"))
        })
        .collect()
}

/// The fallback lists the same interfaces, addresses and routes as netlink.
fn assert_same_sets(netlink: &dyn Fn(&str) -> String, proc: &dyn Fn(&str) -> String) {
    let (full, fallback) = (netlink("addr"), proc("addr"));
    assert_eq!(
        links(&fallback),
        links(&full),
        "interfaces (left: --proc, right: netlink)"
    );
    assert!(!links(&full).is_empty());
    assert_eq!(
        addresses(&fallback),
        addresses(&full),
        "addresses (left: --proc, right: netlink)"
    );
    assert!(
        addresses(&full).iter().any(|a| a.1 == "127.0.0.1/8"),
        "{full}"
    );
    for args in ["route", "-6 route"] {
        let full = netlink(args);
        assert_eq!(
            routes(&proc(args), &full),
            routes(&full, &full),
            "ip {args} (left: --proc, right: netlink)"
        );
    }
}

#[test]
fn a_missing_device_and_a_change_are_refused() {
    let (out, err, status) = ip(true, "addr show dev nosuch0");
    assert_eq!((out.as_str(), status), ("", Some(1)), "{err}");
    assert!(err.contains("Device \"nosuch0\" does not exist."), "{err}");
    if common::have("ip") {
        assert_eq!(
            ip(false, "addr show dev nosuch0").2,
            Some(1),
            "iproute2's status"
        );
    }
    for args in [
        "addr add 10.1.2.3/32 dev lo",
        "route del default",
        "link set lo down",
    ] {
        let (out, err, status) = ip(true, args);
        assert_eq!((out.as_str(), status), ("", Some(2)), "ip {args}: {err}");
        assert!(err.contains("read-only"), "ip {args}: {err}");
    }
    assert_eq!(ip(true, "").2, Some(2), "no object");
}

#[test]
fn without_netlink_the_fallback_is_taken_and_said() {
    if !cfg!(target_arch = "x86_64") || !common::have_or_skip("python3") {
        return;
    }
    let output = Command::new("python3")
        .args([
            "-c",
            WITHOUT_NETLINK,
            env!("CARGO_BIN_EXE_rescue"),
            "ip",
            "addr",
        ])
        .output()
        .unwrap();
    common::assert_exit(&output, 0, "ip addr without netlink");
    let said = common::stderr(&output);
    assert!(said.contains("ip: netlink unavailable (Address family not supported by protocol); read /proc/net and /sys/class/net instead"), "{said}");
    let forced = ip(true, "--proc addr").0;
    assert_eq!(normalize(&common::stdout(&output)), normalize(&forced));
    assert_eq!(links(&forced), links(&ip(true, "addr").0));
}
